"""Weighted samples served to a device in row chunks.

Every statistic of the engine (stage-1 gradients, second-moment products,
stage-2 Gram matrices) is a weighted sum over samples, so it can be
accumulated chunk by chunk: memory on the device is bounded by
``batch_size`` rows, not by the number of samples.
"""

import numpy as np
import torch

from ._stats import block_rows

# Resident samples are served in row blocks (see ``_stats.BLOCK_VALUES``) of
# at least this many rows, sized for rows of at least this many values: a
# chunk's temporaries include its features of width m (256 by default).
RESIDENT_MIN_ROWS = 1024
RESIDENT_MIN_COLUMNS = 256


class Samples:
    """Rows ``(X, y, w)`` held on the host and served to ``device`` in chunks.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    w : ndarray of shape (n_samples,)
        Non-negative frequency weights.
    device : torch.device
    dtype : torch.dtype
    batch_size : int or None
        Rows per chunk. ``None`` or a value >= n_samples moves the whole
        block to the device once and keeps it there.
    """

    def __init__(self, X, y, w, device, dtype, batch_size=None):
        self.n_samples, self.n_features = X.shape
        self.device = device
        self.dtype = dtype
        self.targets = np.asarray(y, dtype=np.float64)
        self.weights = np.asarray(w, dtype=np.float64)
        self.weight_sum = float(np.sum(self.weights))
        if batch_size is None or batch_size >= self.n_samples:
            self.batch_size = max(self.n_samples, 1)
            self._resident = tuple(self._to_device(a) for a in (X, y, w))
            self._host = None
            # resident rows are still served in blocks (views, no copy), so that
            # per-chunk temporaries (features, Gram products) stay small; a
            # batch_size given (an SGD mini-batch) is served as it is
            self._block = (block_rows(max(self.n_features, RESIDENT_MIN_COLUMNS),
                                      RESIDENT_MIN_ROWS)
                           if batch_size is None else self.batch_size)
        else:
            self.batch_size = int(batch_size)
            self._resident = None
            # zero-copy views; chunks are copied to the device on demand
            self._host = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (X, y, w))

    def _to_device(self, a):
        return torch.as_tensor(np.ascontiguousarray(a)).to(self.device, self.dtype)

    def __iter__(self):
        """Yield ``(X_chunk, y_chunk, w_chunk)`` tensors on the device."""
        if self._resident is not None:
            if self._block >= self.n_samples:
                yield self._resident
                return
            X, y, w = self._resident
            for start in range(0, self.n_samples, self._block):
                stop = start + self._block
                yield X[start:stop], y[start:stop], w[start:stop]
            return
        X, y, w = self._host
        for start in range(0, self.n_samples, self.batch_size):
            stop = start + self.batch_size
            yield tuple(
                a[start:stop].to(self.device, self.dtype, non_blocking=True)
                for a in (X, y, w)
            )

    def with_targets(self, y):
        """Same rows and weights, other targets (shares the stored X)."""
        other = object.__new__(Samples)
        other.__dict__.update(self.__dict__)
        other.targets = np.asarray(y, dtype=np.float64)
        if self._resident is not None:
            X, _, w = self._resident
            other._resident = (X, self._to_device(y), w)
        else:
            X, _, w = self._host
            other._host = (X, torch.from_numpy(np.ascontiguousarray(y)), w)
        return other


def project(X, V):
    """``X @ V`` for a tall ``X`` and a thin ``V`` (``d x k``).

    Multiplying by a ``V`` laid out as the transpose of a contiguous
    ``k x d`` matrix takes BLAS's fast path: on one CPU thread it was 3-4
    times faster than the product with a row-major ``d x k`` ``V``.
    """
    return X @ V.T.contiguous().T


def back_project(X, M):
    """``X^T @ M`` for a tall ``X`` and thin ``M`` (``n x k``), as ``(M^T X)^T``.

    The same product through the transposed layout was up to 8 times faster
    on one CPU thread than ``X.T @ M``.
    """
    return (M.T @ X).T
