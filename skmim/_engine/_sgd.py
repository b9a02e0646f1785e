"""Online SGD with weight decay on the first layer (Mousavi-Hosseini et al.).

The network is ``f(x) = (1/m) sum_j a_j relu(w_j . x + b_j)`` with outer
weights ``a_j = +-1`` and biases ``b_j ~ N(0, 1)`` frozen (mean-field scaling).
One pass of SGD over the samples, a fresh mini-batch each step, updates

    w_j <- w_j - eta * (m * grad_{w_j} l(f(x), y) + lambda * w_j),

the per-neuron step of Mousavi-Hosseini, Park, Girotti, Mitliagkas, Erdogdu
(ICLR 2023). Weight decay contracts the part of ``W`` orthogonal to the hidden
subspace (the population gradient has none there, by Stein's lemma), so ``W``
becomes approximately rank ``r`` with row space ``span(U)``.
"""

import math

import numpy as np
import torch

from ._layerwise import top_right_singular
from ._network import forward


def init_sgd_network(width, n_features, generator, device, dtype):
    """``W`` rows ``~ N(0, I/d)``, ``b ~ N(0, 1)``, ``a = +-1`` (half each)."""
    W = torch.randn(width, n_features, generator=generator, dtype=torch.float64)
    W = W / math.sqrt(n_features)
    b = torch.randn(width, generator=generator, dtype=torch.float64)
    a = torch.ones(width, dtype=torch.float64)
    a[width // 2:] = -1.0
    return W.to(device, dtype), b.to(device, dtype), a.to(device, dtype)


def mass_outside(W, k):
    """``1 - |W V_k|_F^2 / |W|_F^2``: first-layer mass outside its top-k subspace."""
    V, s = top_right_singular(W, k)
    total = float((s**2).sum())
    return 1.0 - float((s[:k] ** 2).sum()) / total if total > 0 else 0.0, V, s


def sgd_pass(samples, W, b, a, *, learning_rate, weight_decay, track_components,
             n_records=50, history=None, step_offset=0, callback=None):
    """One pass of online SGD over ``samples`` (its ``batch_size`` is the mini-batch).

    Returns the updated ``W`` and the history (appended to ``history`` when
    given, and thinned to at most ``2 n_records`` records): ``step``,
    ``loss`` (mean mini-batch loss since the last record), ``mass_outside`` (fraction of ``|W|_F^2`` outside its top
    ``track_components`` right singular directions) and ``singular_values``
    (top ten of ``W``).
    """
    if history is None:
        history = {"step": [], "loss": [], "mass_outside": [], "singular_values": []}
    m = W.shape[0]
    n_steps = math.ceil(samples.n_samples / samples.batch_size)
    every = max(1, n_steps // n_records)
    running, count = 0.0, 0
    step = 0
    for step, (Xc, yc, wc) in enumerate(samples, start=1):
        W.requires_grad_(True)
        r = forward(Xc, W, b, a, "relu") / m - yc
        objective = 0.5 * (wc * r * r).sum() / Xc.shape[0]
        (grad,) = torch.autograd.grad(objective, W)
        with torch.no_grad():
            W = W.detach() - learning_rate * (m * grad + weight_decay * W.detach())
        running += float(objective.detach())
        count += 1
        if step % every == 0 or step == n_steps:
            outside, _, s = mass_outside(W, track_components)
            record = {"step": step_offset + step, "loss": running / count,
                      "mass_outside": outside, "singular_values": s[:10].cpu().numpy()}
            for key, value in record.items():
                history[key].append(value)
            if callback is not None:
                callback(record)
            running, count = 0.0, 0
    if len(history["step"]) > 2 * n_records:
        # a stream of short passes records at every step: keep every other
        # record (the last included), so a long stream keeps at most
        # 2 n_records of them, still spread over the whole pass
        for key in history:
            history[key] = history[key][::-1][::2][::-1]
    return W.detach(), history


def gap_components(singular_values, max_components):
    """Number of leading singular values before the largest relative gap."""
    s = np.asarray(singular_values, dtype=float)[: max_components + 1]
    if s.size < 2:
        return 1
    with np.errstate(over="ignore"):  # a gap beyond the float range: infinite, the largest
        ratios = s[:-1] / np.maximum(s[1:], 1e-300)
    return int(np.argmax(ratios)) + 1
