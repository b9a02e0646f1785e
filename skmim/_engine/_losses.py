"""Stage-1 losses, seen as label preprocessing.

Around the symmetric, tiny initialization the network output is zero, so the
first-layer gradient weighs sample ``i`` by ``l'(0, y_i)``: the loss *is* a
label transform. Each loss here is centred (stage 0 of the algorithm): the
constant ``c* = argmin_c sum_i w_i l(c, y_i)`` is removed from the labels so
that the second-moment matrix ``E[l'(0, y) x x^T]`` has no identity component.
"""

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import ndtri

from ._stats import STAGE1_LOSSES, weighted_quantile


# 1 / Phi^{-1}(3/4): turns a median absolute deviation into a Gaussian scale.
_MAD_TO_SIGMA = 1.482602218505602


def weighted_mean(values, weights):
    return float(np.dot(weights, values) / np.sum(weights))


def normal_scores(y, w):
    """``Phi^{-1}`` of the weighted mid-rank of each label: Gaussian scores of the ranks.

    Ties share the mid-rank of their group, so repeated labels get equal
    scores. Bounded (the mid-ranks lie strictly between 0 and 1) and free of
    the labels' scale and tails: a monotone transform, so the labels' hidden
    subspace is unchanged.
    """
    values, inverse = np.unique(y, return_inverse=True)
    group = np.bincount(inverse, weights=w, minlength=values.size)
    mid = (np.cumsum(group) - 0.5 * group) / group.sum()
    return ndtri(mid)[inverse]


def robust_scale(y, w):
    """Gaussian-consistent weighted MAD, falling back to the weighted std."""
    med = weighted_quantile(y, w, 0.5)
    scale = _MAD_TO_SIGMA * weighted_quantile(np.abs(y - med), w, 0.5)
    if scale <= 0.0:
        mu = weighted_mean(y, w)
        scale = float(np.sqrt(weighted_mean((y - mu) ** 2, w)))
    return scale


def huber_location(y, w, delta, max_iter=100):
    """Weighted minimiser of ``sum_i w_i huber_delta(y_i - c)``.

    Newton steps on the piecewise-linear estimating equation: for a fixed
    split of the samples into inliers and clipped ones the root is explicit,
    so the iteration stops exactly when the split no longer changes.
    """
    c = weighted_quantile(y, w, 0.5)
    state = None
    for _ in range(max_iter):
        r = y - c
        inlier = np.abs(r) <= delta
        new_state = (inlier, r > delta)
        if state is not None and all(np.array_equal(a, b) for a, b in zip(state, new_state)):
            break
        state = new_state
        w_in = np.sum(w[inlier])
        if w_in <= 0:
            break  # every residual is clipped: the weighted median is a minimiser
        c = (np.dot(w[inlier], y[inlier])
             + delta * (np.sum(w[r > delta]) - np.sum(w[r < -delta]))) / w_in
    return float(c)


class Stage1Loss:
    """A centred stage-1 loss ``l(f, y)`` on preprocessed targets.

    Attributes
    ----------
    name : str
    targets : ndarray
        The labels stage 1 sees (``y`` itself, ``|y - median|`` for "abs", or
        the normal scores of the ranks of ``y`` for "rank", a transform
        that heavy tails and outliers cannot dominate).
    center : float
        ``c*``, subtracted from ``targets``.
    delta : float or None
        Huber threshold in label units.
    median : float or None
        The weighted median of ``y`` ("abs": ``targets = |y - median|``).
    """

    def __init__(self, name, y, w, huber_delta=1.0):
        if name not in STAGE1_LOSSES:
            raise ValueError(f"Unknown stage-1 loss {name!r}; expected one of {STAGE1_LOSSES}.")
        self.name = name
        self.delta = None
        self.median = None
        if name == "abs":
            self.median = weighted_quantile(y, w, 0.5)
            t = np.abs(y - self.median)
        elif name == "rank":
            t = normal_scores(np.asarray(y, dtype=np.float64), np.asarray(w, dtype=np.float64))
        else:
            t = np.asarray(y, dtype=np.float64)
        self.targets = t
        if name == "huber":
            scale = robust_scale(t, w)
            self.delta = float(huber_delta * scale) if scale > 0 else 1.0
        if t.size and not np.any(t != t[0]):
            # constant targets: their centre exactly (a weighted mean of equal
            # values can be off by an ulp, and scores of 1e-16 passed for a
            # signal: stage 1 then read a direction off rounding)
            self.center = float(t[0])
        elif name == "huber":
            self.center = huber_location(t, w, self.delta)
        else:
            self.center = weighted_mean(t, w)
        self.centered_targets = t - self.center

    @property
    def is_degenerate(self):
        """True when every centred target is zero: stage 1 has no signal."""
        return not np.any(self.centered_targets != 0.0)

    def sample_scores(self):
        """``-l'(0, y_i)``: the weight of sample ``i`` in the spectral matrix."""
        r = self.centered_targets
        if self.name == "huber":
            return np.clip(r, -self.delta, self.delta)
        return r

    def derivative(self, f, r):
        """``dl/df`` at outputs ``f`` against centred targets ``r``."""
        if self.name == "huber":
            return torch.clamp(f - r, -self.delta, self.delta)
        return f - r

    def __call__(self, f, r):
        """Per-sample loss of outputs ``f`` against centred targets ``r``."""
        if self.name == "huber":
            return F.huber_loss(f, r, reduction="none", delta=self.delta)
        return 0.5 * (f - r) ** 2

