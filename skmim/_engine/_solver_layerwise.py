"""The "layerwise" solver, the published algorithm: one stage-1 loss, then the outer layer."""

import torch

from ._common import _degenerate_fit, _numpy, _stage1, _stage2
from ._layerwise import SecondMoment, noise_level, ritz_values
from ._losses import Stage1Loss
from ._stats import count_above_noise


def _choose_loss(s1, losses, cfg, seed):
    """The stage-1 loss to train with, and the probe scores of the candidates.

    With one candidate, that one (None if its targets are constant). With
    several, the first whose :func:`select_loss` score is within a relative
    1e-9 of the best (ties, e.g. labels with three values, must not hinge on
    rounding); None when every candidate is degenerate.
    """
    if len(losses) == 1:
        loss = Stage1Loss(losses[0], s1.targets, s1.weights, cfg["huber_delta"])
        return (None if loss.is_degenerate else losses[0]), {}
    scores = select_loss(s1, losses, cfg, seed)
    if not scores:
        return None, {}
    top = max(scores.values())
    name = next(name for name, (count, ratio) in scores.items()
                if count == top[0] and ratio >= top[1] * (1 - 1e-9))
    return name, {key: float(ratio) for key, (_, ratio) in scores.items()}


def select_loss(s1, losses, cfg, seed, n_iter=8, extra=8):
    """Score each candidate stage-1 loss by its spectral signal-to-noise ratio.

    A cheap randomized block power iteration (``max_components + extra``
    vectors, ``n_iter`` steps) on each loss's ``Sigma_hat`` gives its leading
    Ritz values; a loss scores ``(number of directions above the noise edge,
    ratio of the weakest kept one to the edge)`` with ``k = n_components`` (or,
    for "auto", the count above the edge). Costs ``O(n d (k + extra))`` per
    step, far below one stage-1 step (``O(n d width)``). Returns a dict of
    ``(count, ratio)`` per non-degenerate loss.
    """
    scores = {}
    d = s1.n_features
    p = max(1, min(cfg["max_components"] + extra, d, s1.n_samples))
    for name in losses:
        loss = Stage1Loss(name, s1.targets, s1.weights, cfg["huber_delta"])
        if loss.is_degenerate:
            continue
        sigma = SecondMoment(s1.with_targets(loss.sample_scores()))
        gen = torch.Generator().manual_seed(int(seed))
        V = torch.randn(d, p, generator=gen, dtype=torch.float64).to(s1.device, s1.dtype)
        for _ in range(n_iter):
            V, _ = torch.linalg.qr(sigma @ V)
        vals, _ = ritz_values(sigma, V)
        vals = _numpy(vals)[: cfg["max_components"]]
        level = noise_level(loss.sample_scores(), s1.weights, d)
        count = count_above_noise(vals, level)
        k = cfg["n_components"] or max(count, 1)
        ratio = abs(vals[min(k, vals.size) - 1]) / level if level > 0 else 0.0
        scores[name] = (min(count, k), float(ratio))
    return scores


def _fit_layerwise(s1, s2, losses, cfg, seed, callback, dev, dt):
    """The published algorithm: stage 1 with the chosen loss, then the outer layer on ``s2``.

    The loss is the candidate whose weakest direction stands furthest above
    its noise edge (:func:`_choose_loss`); ``s2`` None fits no outer layer.
    """
    name, scores = _choose_loss(s1, losses, cfg, seed)
    fit, state = _stage1(s1, name, cfg, seed, callback) if name else (None, None)
    if fit is None:
        return _degenerate_fit(s1, s2, seed, dev, dt, cfg, losses[0])
    W, gen = state
    fit.selection = scores
    if s2 is not None:
        _stage2(fit, W, s2, gen, cfg["stage2_directions"], cfg["activation"],
                cfg["bias_scale"], cfg["alpha"], cfg.get("outer_loss", "squared"))
        if callback is not None:
            callback("stage2_done", {"loss": name, "gcv": fit.gcv, "alpha": fit.alpha})
    return fit
