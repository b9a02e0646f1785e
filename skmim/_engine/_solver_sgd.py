"""The "sgd" solver: one pass of online SGD with weight decay, then the ridge outer layer."""

import numpy as np
import torch

from ._common import SubspaceFit, _numpy
from ._data import Samples, samples_of
from ._layerwise import top_right_singular
from ._ridge import features as neuron_features
from ._ridge import fit_ridge, ridge_from_moments
from ._sgd import gap_components, init_sgd_network, sgd_pass
from ._stats import sign_flip
from ._stream import OuterStream, reservoir_keys


def _fit_sgd(parts, cfg, dev, dt, seed, callback, row_keys=None):
    """Online SGD with weight decay on the first layer, then the ridge outer layer.

    ``cfg["state"]`` (``(W, b, history, stream)`` as NumPy, or None)
    continues an earlier pass: this is what ``partial_fit`` uses. The outer
    layer is fitted on the moments of every stage-2 row of the stream
    (:class:`._stream.OuterStream`, whose state ``stream`` is; ``row_keys``:
    the content hash of the rows of ``parts["all"]``, stage 1's then stage
    2's, which picks its reservoir).
    """
    X1, y1, w1 = parts["stage1"]
    d = X1.shape[1]
    width = cfg["width"]
    gen = torch.Generator().manual_seed(int(seed))
    W, b, a = init_sgd_network(width, d, gen, dev, dt)
    history, offset = None, 0
    outer_state = None
    if cfg.get("state") is not None:
        W0, b0, history, outer_state = cfg["state"]
        W = torch.as_tensor(W0).to(dev, dt)
        b = torch.as_tensor(b0).to(dev, dt)
        history = {key: list(val) for key, val in history.items()}
        offset = history["step"][-1] if history["step"] else 0
    lr = cfg["sgd_learning_rate"]
    if lr == "auto":
        lr = 0.5 / d  # per sample; the mini-batch gradient is a mean
    batch = int(cfg["sgd_batch_size"])
    stream = Samples(X1, y1, w1, dev, dt, batch)
    track = cfg["n_components"] or cfg["max_components"]
    if X1.shape[0]:  # a block of a stream (never the first) may bring no stage-1 row
        W, history = sgd_pass(
            stream, W, b, a,
            learning_rate=lr * batch,
            weight_decay=cfg["sgd_weight_decay"],
            track_components=track,
            history=history,
            step_offset=offset,
            callback=None if callback is None else (lambda rec: callback("sgd_record", rec)),
        )
    V, s = top_right_singular(W, min(cfg["max_components"], d, width))
    s = _numpy(s)
    k = cfg["n_components"] or gap_components(s, cfg["max_components"])
    fit = SubspaceFit(loss="squared", subspace=sign_flip(_numpy(V[:, :k])), n_components=k,
                      spectrum=s[: cfg["max_components"]], noise_level=0.0, degenerate=False,
                      first_layer=_numpy(W), history=history)
    if parts.get("stage2") is not None:
        X2, y2, w2 = parts["stage2"]
        D = W
        if cfg["compress"]:
            Vk = V[:, :k]
            D = (W @ Vk) @ Vk.T
        s2 = samples_of(X2, y2, w2, dev, dt, cfg["batch_size"])
        if cfg.get("outer_loss", "squared") == "huber":
            # reweighted passes over these rows (a stream does not keep them)
            res = fit_ridge(s2, D, b, cfg["activation"], cfg["alpha"], "huber")
        else:
            # the moments of every stage-2 row of the stream, under this first layer
            keys = np.arange(X2.shape[0]) / X2.shape[0] if row_keys is None else \
                reservoir_keys(row_keys[len(row_keys) - X2.shape[0]:])
            outer = OuterStream(outer_state)
            M, total = outer.add(s2, X2, keys,
                                 lambda X: neuron_features(X, D, b, cfg["activation"]))
            res = ridge_from_moments(M, width, total, cfg["alpha"])
            fit.outer_stream = outer.state
        fit.directions, fit.biases = _numpy(D), _numpy(b)
        fit.coef, fit.intercept = res["coef"].cpu().numpy(), float(res["intercept"])
        fit.alpha, fit.gcv = res["alpha"], res["gcv"]
    else:
        fit.biases = _numpy(b)
    return fit
