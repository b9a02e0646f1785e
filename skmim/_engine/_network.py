"""The two-layer network ``f(x) = sum_j a_j sigma(w_j . x + b_j)``."""

import math

import torch

_LOG2 = math.log(2.0)


def logcosh(z):
    """``log cosh z``, stable for large ``|z|``: sigma'(0)=0, sigma''(0)=1."""
    a = z.abs()
    return a + torch.log1p(torch.exp(-2.0 * a)) - _LOG2


ACTIVATIONS = {
    "logcosh": logcosh,
    "relu": torch.relu,
    "tanh": torch.tanh,
}


def forward(X, W, b, a, activation):
    """Network output on the rows of ``X``: ``sigma(X W^T + b) a``."""
    pre = X @ W.T
    if b is not None:
        pre = pre + b
    return ACTIVATIONS[activation](pre) @ a


def symmetric_init(width, n_features, init_scale, generator, device, dtype):
    """Symmetric initialization of the spec (section 2).

    Neurons ``j`` and ``j + width/2`` share their first-layer weights and have
    opposite outer weights ``+1`` / ``-1``, so the network is identically zero.
    First-layer rows are ``init_scale * v_j`` with ``v_j ~ N(0, I_d / d)``.
    """
    half = width // 2
    V = torch.randn(half, n_features, generator=generator, dtype=torch.float64)
    V = V * (init_scale / math.sqrt(n_features))
    W = torch.cat([V, V], dim=0).to(device, dtype)
    a = torch.cat([torch.ones(half), -torch.ones(half)]).to(device, dtype)
    return W, a
