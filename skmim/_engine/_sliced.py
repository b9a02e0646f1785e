"""First-order start: sliced inverse regression (Li, 1991).

Stage 1 sees the link through a second moment ``E[T(y) x x^T]``. For an odd
link such as ``h3(z1) + h3(z2)`` that moment is zero in population for every
odd ``T`` (the squared and Huber losses) and weak for the even
``|y - median|``, while first-order statistics ``E[T(y) x]`` with an odd
``T`` are not zero. The inverse regression curve ``E[x | y]`` collects them
all: the slice means ``m_h`` of ``x`` over slices of sorted ``y`` span (part
of) the hidden subspace, and ``u^T M u`` for ``M = sum_h p_h m_h m_h^T`` is
the largest ``E[T(y) u.x]^2`` over the standardized step functions ``T`` on
those slices.
"""
import math

import numpy as np
import torch

from ._data import back_project

# Slices of SAMPLES_PER_SLICE samples (statsmodels' SlicedInverseReg
# default), at most MAX_SLICES: on h3+h3 at d = 256 (a one-off check of
# sliced_directions on the benchmark's data, seeds 0, 1 and 100) the top
# eigenvalue stood furthest above its noise edge with 20 to 50 slices
# (1.3-1.4 edges at n = 4 d against 1.15-1.2 with 5 or 10 slices), and more
# slices than that only raise the edge.
SAMPLES_PER_SLICE = 20
MAX_SLICES = 50


def n_slices_for(total_weight):
    """Number of slices for ``total_weight`` samples (at least 2)."""
    return int(min(MAX_SLICES, max(2, total_weight // SAMPLES_PER_SLICE)))


def _labels(samples, n_slices=None):
    """:func:`slice_labels` of ``samples`` (``n_slices`` by default from their weight)."""
    if n_slices is None:
        n_slices = n_slices_for(samples.weight_sum)
    return slice_labels(samples.targets, samples.weights, n_slices)


def slice_labels(y, w, n_slices):
    """Equal-weight slices of ``y``; equal values share a slice.

    A value's slice is decided by the middle of its weight in the cumulative
    weight of the sorted values, so a row with weight 2 and two copies of it
    land in the same slice.
    """
    values, inverse = np.unique(y, return_inverse=True)
    mass = np.bincount(inverse, weights=w, minlength=values.size)
    total = mass.sum()
    middle = np.cumsum(mass) - 0.5 * mass
    labels = np.minimum((n_slices * middle / total).astype(np.int64), n_slices - 1)
    return labels[inverse]


def sliced_moment(samples, n_slices=None):
    """Scaled centred slice means ``B`` (``H x d``) with ``B^T B = M``, and the noise edge.

    Row ``h`` of ``B`` is ``sqrt(p_h) (m_h - m)``, with ``p_h`` the slice's
    share of the weight, ``m_h`` its weighted mean of ``x`` and ``m`` the
    overall mean. When ``y`` is independent of ``x``, ``B`` has independent
    ``N(0, 1 / n)`` entries (``n`` the total frequency weight) in ``H - 1``
    dimensions, so the top eigenvalue of ``M`` sits near the Marchenko-Pastur
    edge ``(sqrt(d) + sqrt(H - 1))^2 / n``, returned as the second value.
    """
    labels = _labels(samples, n_slices)
    H = int(labels.max()) + 1
    d = samples.n_features

    def slice_sums(X, y, w, idx):
        # the weighted one-hot slice memberships times X: one thin product
        # (at d = 1024 about 30 times faster than index_add_ of the weighted rows)
        share = torch.zeros(X.shape[0], H, device=X.device, dtype=X.dtype)
        share[torch.arange(X.shape[0], device=X.device), idx] = w
        return back_project(X, share).T

    sums = samples.reduce(slice_sums, np.asarray(labels, dtype=np.int64))
    mass = torch.as_tensor(np.bincount(labels, weights=samples.weights, minlength=H),
                           device=samples.device, dtype=samples.dtype)
    B = _scaled_slice_means(sums, mass, samples.weight_sum)
    edge = (math.sqrt(d) + math.sqrt(max(B.shape[0] - 1, 1))) ** 2 / samples.weight_sum
    return B, edge


def _scaled_slice_means(sums, mass, total):
    """Rows ``sqrt(p_h) (m_h - m)`` from the slices' weighted sums of ``x`` and weights."""
    mean = sums.sum(dim=0) / total
    keep = mass > 0
    return (sums[keep] / mass[keep, None] - mean) * torch.sqrt(mass[keep, None] / total)


def slice_membership(samples, n_slices=None):
    """One-hot slice memberships (``n x H`` NumPy) of :func:`sliced_moment`'s slices."""
    labels = _labels(samples, n_slices)
    return np.eye(int(labels.max()) + 1)[labels]


def membership_top_eigenvalue(samples, membership):
    """Top eigenvalue of ``M = B^T B`` for fractional slice memberships.

    Row ``i`` puts the share ``membership[i, h]`` of its weight in slice
    ``h``; one-hot memberships give :func:`sliced_moment`'s ``B``. The
    statistic is linear in the memberships row by row, as the shift null of
    :mod:`._null` requires.
    """
    share = torch.as_tensor(membership * samples.weights[:, None], device=samples.device,
                            dtype=samples.dtype)
    sums = samples.reduce(lambda X, y, w, sc: sc.T @ X, share)
    B = _scaled_slice_means(sums, share.sum(dim=0), samples.weight_sum)
    return float(torch.linalg.matrix_norm(B, ord=2)) ** 2


def sliced_directions(samples, n_directions, n_slices=None):
    """Top eigenvectors of the sliced-inverse-regression matrix.

    Returns ``(V, eigenvalues, edge)``: ``V`` (``d x n_directions``,
    orthonormal columns), the eigenvalues of ``M`` in decreasing order (as
    many as ``B`` has rows) and the noise edge of :func:`sliced_moment`.
    """
    B, edge = sliced_moment(samples, n_slices)
    _, s, Vh = torch.linalg.svd(B, full_matrices=False)
    k = min(n_directions, Vh.shape[0])
    V = Vh[:k].T
    if k < n_directions:
        # fewer slices than directions: complete with the orthogonal complement
        extra = torch.randn(samples.n_features, n_directions - k, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(0)).to(V)
        V, _ = torch.linalg.qr(torch.cat([V, extra - V @ (V.T @ extra)], dim=1))
    return V, (s * s).to("cpu", torch.float64).numpy(), edge
