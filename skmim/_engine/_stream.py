"""The outer layer of an SGD stream: moments of every stage-2 row, kept current.

The outer layer is a ridge fit on the features ``sigma(W x + b)`` of the
stage-2 rows, and everything the fit needs is a sum over rows (the moments
of :func:`._ridge.outer_moments`). A stream (``partial_fit``) adds each
block's moments to the sum, so every stage-2 row counts however small the
blocks; but a row's moments are those of the features at its arrival, and
the first layer keeps moving. Summed as they are, rows of different first
layers give a ridge fit for none of them (fitting h2+h2 at d = 16 in blocks
of 50 gave test R^2 0.85 against 0.95 for one fit on the same rows;
discounting old blocks at the first layer's weight-decay rate, 0.87).

:class:`OuterStream` keeps, beside the arrival sum ``S`` over all ``N``
stage-2 rows so far, a reservoir ``R``: the ``capacity`` rows of smallest
key (a uniform sample, whatever the order of the blocks) with their arrival
features. The moments under the current first layer are estimated by the
control variate

    M = S + (N / |R|) (sum_R m(x, now) - sum_R m(x, arrival)),

which is exact (every row's moments recomputed) while ``N <= capacity``, and
beyond it an unbiased estimate in which every row counts through ``S`` and
only the drift since arrival is sampled: once the first layer settles, that
drift, and the estimate's extra variance, vanish.
"""

import numpy as np
import torch

from ._ridge import _chunk_moments, outer_moments

# Rows in the reservoir: the outer layer's moments are exact for streams of up
# to this many stage-2 rows. The reservoir holds each row and its arrival
# features (n_features + width + 3 floats per row, with the target, weight
# and key): 9 MB at d = 16 and width = 256, 17 MB at d = 256.
RESERVOIR_ROWS = 4096

# Golden-ratio multiplier of :func:`reservoir_keys`.
_PHI = 0.6180339887498949


def reservoir_keys(row_keys):
    """Reservoir keys from the content hash of the stage-2 rows.

    The stage split takes the rows of largest hash, so their hashes are not
    uniform over [0, 1); the fractional part of ``2^20 phi`` times the hash
    spreads them uniformly again, still a function of the row's content.
    """
    return np.modf(np.asarray(row_keys, dtype=np.float64) * (2.0**20 * (1.0 + _PHI)))[0]


class OuterStream:
    """Arrival sum and reservoir of the stage-2 rows of an SGD stream (see module doc).

    ``state`` is the NumPy dict of a previous :meth:`add` (None: an empty
    stream); ``capacity`` the reservoir's size.
    """

    def __init__(self, state=None, capacity=RESERVOIR_ROWS):
        self.capacity = int(capacity)
        self.state = state

    def add(self, samples, X, keys, feature_fn):
        """Add the rows of ``samples`` (``X``: their NumPy rows) with their ``keys``.

        ``feature_fn`` maps a tensor of rows to the current first layer's
        features. Returns the estimated moments of every row so far under
        ``feature_fn`` (a float64 tensor) and their total weight.
        """
        device, dtype = samples.device, samples.dtype
        S = outer_moments(samples, feature_fn)  # chunk by chunk
        n_rows, total = samples.n_samples, samples.weight_sum
        keys = np.asarray(keys, dtype=np.float64)
        if keys.size > self.capacity:
            new = np.sort(np.argpartition(keys, self.capacity - 1)[: self.capacity])
        else:
            new = np.arange(keys.size)
        rows = np.asarray(X[new], dtype=np.float64)
        targets, weights, keys = samples.targets[new], samples.weights[new], keys[new]
        arrival = None  # features at arrival of the reservoir's earlier rows
        if self.state is not None:
            old = self.state
            S = S + torch.as_tensor(old["sum"], device=device)
            n_rows += int(old["n_rows"])
            total += float(old["weight_sum"])
            rows = np.concatenate([old["rows"], rows])
            targets = np.concatenate([old["targets"], targets])
            weights = np.concatenate([old["weights"], weights])
            keys = np.concatenate([old["keys"], keys])
            arrival = old["features"]
        keep = None
        if keys.size > self.capacity:
            keep = np.sort(np.argsort(keys, kind="stable")[: self.capacity])
            rows, targets, weights, keys = rows[keep], targets[keep], weights[keep], keys[keep]
        R = torch.as_tensor(rows).to(device, dtype)
        yR = torch.as_tensor(targets, dtype=torch.float64, device=device)
        wR = torch.as_tensor(weights, dtype=torch.float64, device=device)
        now = feature_fn(R).double()
        # arrival features: the earlier rows' as stored, the new rows' are the current
        # ones; their moments updated by the rows that enter and leave the reservoir
        features = now.cpu().numpy()
        n_old = 0 if arrival is None else arrival.shape[0]
        kept_old = np.arange(n_old) if keep is None else keep[keep < n_old]
        entered = slice(kept_old.size, None)
        then = _chunk_moments(now[entered], yR[entered], wR[entered])
        if arrival is not None:
            features = np.concatenate([arrival[kept_old], features[kept_old.size:]])
            then = then + torch.as_tensor(self.state["arrival_sum"], device=device)
            left = np.setdiff1d(np.arange(n_old), kept_old, assume_unique=True)
            if left.size:
                then = then - _chunk_moments(
                    torch.as_tensor(arrival[left], device=device),
                    torch.as_tensor(self.state["targets"][left], device=device),
                    torch.as_tensor(self.state["weights"][left], device=device))
        M = S + (n_rows / keys.size) * (_chunk_moments(now, yR, wR) - then)
        self.state = {"sum": S.cpu().numpy(), "n_rows": n_rows, "weight_sum": total,
                      "rows": rows, "features": features, "targets": targets,
                      "weights": weights, "keys": keys, "arrival_sum": then.cpu().numpy()}
        return M, total
