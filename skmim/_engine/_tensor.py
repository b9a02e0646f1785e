"""Torch tensors handed to the estimators.

``fit`` takes them as NumPy (:func:`to_numpy`: the standardization and the
content-hash split run on the host); ``predict`` and ``transform`` run the
fitted model where the tensor lives (:func:`project`, :func:`network`), in
its floating dtype, and return a tensor there: no host round trip.
"""

import functools

import numpy as np
import torch

from ._network import ACTIVATIONS


def to_numpy(a):
    """A tensor as a NumPy array (detached, on the host); anything else unchanged."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        if a.is_floating_point() and not _numpy_has(a.dtype):
            # NumPy has no bfloat16 (nor torch's float8 types): the values as float32
            a = a.float()
        return a.numpy()
    return a


@functools.lru_cache(maxsize=None)
def _numpy_has(dtype):
    """Whether NumPy has torch's ``dtype``."""
    try:
        torch.empty(0, dtype=dtype).numpy()
    except TypeError:
        return False
    return True


def _checked(X, n_features, name):
    """``X`` detached, floating, 2-D with ``n_features`` columns and finite values."""
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D tensor, got a {X.ndim}D tensor of shape "
                         f"{tuple(X.shape)}: reshape it to (n_samples, n_features).")
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but {name} is expecting "
                         f"{n_features} features as input.")
    X = X.detach()
    if X.is_complex():
        # as NumPy input and fit: not cast to real (torch drops the imaginary part)
        raise ValueError("Complex data not supported; X is a complex tensor.")
    if not X.is_floating_point():
        X = X.to(torch.float64)
    if not bool(torch.isfinite(X).all()):
        raise ValueError("Input X contains NaN or infinity.")
    return X


def _on(X, array):
    return torch.as_tensor(np.asarray(array), dtype=X.dtype, device=X.device)


@torch.no_grad()
def project(X, n_features, name, mean, projection):
    """``(X - mean) @ projection`` on ``X``'s device and dtype."""
    X = _checked(X, n_features, name)
    return (X - _on(X, mean)) @ _on(X, projection)


@torch.no_grad()
def network(X, n_features, name, mean, W, b, a, c, linear, activation, hidden_range=None):
    """``act((X - mean) W^T + b) a + c + (X - mean) linear`` on ``X``'s device and dtype.

    The pre-activations clipped to ``hidden_range`` (2 x width), when given.
    """
    X = _checked(X, n_features, name)
    Xc = X - _on(X, mean)
    pre = Xc @ _on(X, W).T + _on(X, b)
    if hidden_range is not None:
        pre = torch.clamp(pre, min=_on(X, hidden_range[0]), max=_on(X, hidden_range[1]))
    hidden = ACTIVATIONS[activation](pre)
    return hidden @ _on(X, a) + float(c) + Xc @ _on(X, linear)
