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


def subspace_features(V, width, generator, bias_scale, activation):
    """Random neurons spread uniformly in ``span(V)``, and their feature map.

    The directions are ``D = C V^T`` with unit-norm rows (``C`` is width x k),
    so the features ``sigma(X D^T + b)`` are computed as ``sigma((X V) C^T +
    b)``: ``O(n d k)`` instead of ``O(n d width)``. The projections ``X V``
    themselves are the last ``k`` features, so a link linear along some
    direction is fitted exactly instead of through kinks. Returns ``(D, b,
    features)``; ``features(X)`` has ``width + k`` columns.
    """
    from ._data import project

    dev, dt = V.device, V.dtype
    C = torch.randn(width, V.shape[1], generator=generator, dtype=torch.float64).to(dev, dt)
    D = C @ V.T
    norms = D.norm(dim=1, keepdim=True)
    D, C = D / norms, C / norms
    b = (bias_scale * torch.randn(width, generator=generator, dtype=torch.float64)).to(dev, dt)
    act = ACTIVATIONS[activation]

    def features(X):
        Z = project(X, V)
        return torch.cat([act(Z @ C.T + b), Z], dim=1)

    return D, b, features
