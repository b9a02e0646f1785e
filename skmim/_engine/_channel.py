"""A label transform learned from the projections of a current estimate.

The spectral start of stage 1 weighs sample ``i`` by a transform ``T(y_i)``
of its label (the stage-1 loss's derivative at zero). The transform that
makes the spectral method recover the index space from the fewest samples
is ``T(y) = 1 - 1 / E[|z|^2 / k | y]`` for links whose conditional second
moment is isotropic (Mondelli and Montanari, 2018, for one direction; its
matrix form ``I - E[z z^T | y]^{-1}`` for several, Defilippis et al., 2025),
with ``z = U^T x`` the true projections: it needs the link. Here ``E[|z|^2 /
k | y]`` is estimated instead from the projections ``z_hat = V^T x`` of a
current estimate ``V``, by a ridge regression of ``|z_hat|^2 / k - 1`` on
Hermite functions of the normal scores of ``y``: a linearized
message-passing step with the channel estimated from the data. The start is
the top eigenvectors of ``E[T(y) x x^T]``, what stage 1's power iteration
would converge to on the transformed label. Where ``V`` is partly right (one direction of two, or
every direction at a large angle), the estimated transform sees the link
through it, and the next spectral estimate is closer: at d = 256, noise 0.1,
on all samples, rounds from the Huber spectral estimate took the distance of
``h4(z1) + h4(z2)`` at n = 12 d from 0.66 to 0.33-0.41 and ``h2(z1)
h2(z2)`` from 0.79 to 0.41-0.46 (a prototype, 5 seeds), enough for the
refinement to reach 0.03-0.06. From a random ``V`` the rounds only fit the
noise (the estimate and the transform feed each other), so they start from
a stage-1 estimate. The rounds repeat until one moves the subspace by less
than ``LEARNED_SETTLED``, at most ``LEARNED_ROUNDS`` times: on the training
part at n = 8 d the later rounds still gained (``h2*h2``: 0.93 -> 0.87 ->
0.77 in the first two).
"""

import numpy as np
import torch

from ._grassmann import hermite_basis
from ._layerwise import noise_level, second_moment_matrix
from ._losses import normal_scores

# Hermite functions h_1..h_K of the normal scores of y in the regression
LEARNED_BASIS = 6
# ridge penalty of that regression (the functions have unit variance)
LEARNED_RIDGE = 1e-3
# at most this many rounds of (estimate the transform, recompute the
# spectral estimate); they stop earlier once a round moves the subspace by
# less than LEARNED_SETTLED (projection distance)
LEARNED_ROUNDS = 4
LEARNED_SETTLED = 0.05
# E[|z|^2 / k | y] - 1 is at least -1; the estimate is floored above it so
# that 1 / E[...] stays finite where the regression undershoots
LEARNED_FLOOR = -0.9
# each round forms the d x d matrix (n d^2) and its eigendecomposition (d^3):
# beyond this many features the learned start is skipped (at d = 2048,
# n = 4 d one round took 2.3 s, a few times a stage-1 pass that streams)
LEARNED_MAX_FEATURES = 1024


def learned_targets(samples, V, n_basis=LEARNED_BASIS, ridge=LEARNED_RIDGE):
    """Per-sample label transform ``T_i = G_i / (1 + G_i)`` learned through ``V``.

    ``G`` is the weighted ridge regression of ``|V^T x_i|^2 / k - 1`` (``k``
    the columns of ``V``, ``x`` standardized) on ``h_1 .. h_K`` of the
    normal scores of ``y`` (their ranks, so the transform does not depend
    on the units or the tails of ``y``), floored at ``LEARNED_FLOOR``.
    Returns a NumPy vector with unit weighted root mean square, or None
    when ``V`` has no column or the transform is constant.
    """
    k = V.shape[1]
    if k < 1:
        return None
    y = np.asarray(samples.targets, dtype=np.float64)
    w = np.asarray(samples.weights, dtype=np.float64)
    w = w / w.sum()
    # h_1 .. h_K of the scores: the link basis of the refinement in one coordinate,
    # without its constant h_0
    u = torch.as_tensor(normal_scores(y, w)[:, None])
    Phi = hermite_basis(1, n_basis, u.device, u.dtype).values(u)[:, 1:].numpy()
    Z = torch.cat(samples.project(V)).double().cpu().numpy()
    q = (Z * Z).sum(axis=1) / k - 1.0
    mean_phi, mean_q = w @ Phi, float(w @ q)
    Phi = Phi - mean_phi
    gram = Phi.T @ (w[:, None] * Phi) + ridge * np.eye(n_basis)
    coef = np.linalg.solve(gram, Phi.T @ (w * (q - mean_q)))
    G = np.maximum(mean_q + Phi @ coef, LEARNED_FLOOR)
    T = G / (1.0 + G)
    # not centred: the spectral method of the optimal transform is the top
    # of E[T(y) x x^T]; centring T would subtract its mean times the sample
    # covariance, whose fluctuations then enter the matrix (at d = 256,
    # h4+h4, n = 6.4 d three rounds reached 0.69-0.78 centred, 0.56-0.65 not,
    # on four seeds of five; the fifth stayed above 0.94 either way)
    if np.ptp(T) == 0.0:
        return None
    return T / float(np.sqrt(w @ (T * T)))


def positive_directions(samples, V, n_basis=LEARNED_BASIS, ridge=LEARNED_RIDGE):
    """The top eigenvectors of ``E[T(y) x x^T]``, ``T`` learned through ``V``.

    The ``k = V.shape[1]`` eigenvectors of the largest eigenvalues, not of
    the largest magnitude: the signal of the learned transform is
    ``E[T(y) G(y)]``, positive where ``T`` follows ``G``, while its strongly
    negative values (samples whose projections the regression expects near
    zero) carry noise. Returns ``(directions, eigenvalues, noise_level)``
    with the eigenvalues those of ``E[T(y) (x x^T - I)]`` and the edge
    expected for a ``T`` independent of ``x``
    (:func:`._layerwise.noise_level`), or None when the transform is
    constant or ``d`` exceeds ``LEARNED_MAX_FEATURES`` (the matrix is
    formed, ``n d^2``).
    """
    if samples.n_features > LEARNED_MAX_FEATURES:
        return None
    T = learned_targets(samples, V, n_basis, ridge)
    if T is None:
        return None
    S = second_moment_matrix(samples.with_targets(T))
    vals, vecs = torch.linalg.eigh(S)
    k = V.shape[1]
    w = np.asarray(samples.weights, dtype=np.float64)
    mean = float(w @ T / w.sum())
    level = noise_level(T - mean, w, samples.n_features)
    return vecs[:, -k:].flip(1), vals[-k:].flip(0) - mean, level
