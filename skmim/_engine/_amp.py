"""Approximate message passing with a learned channel, for the onset of recovery.

Near the weak-recovery threshold the refinement (least squares on the
Grassmannian) overfits: at d = 256 and n = 3 d, ``h2(z1) + h2(z2)`` has
512 directional parameters for about 670 training samples, and the
refinement's training loss falls to the noise level while the subspace
stays at distance 0.45-0.57 (seeds 0, 1, 3). Bayes-optimal generalized
approximate message passing (GAMP, the committee-machine algorithm of Aubin
et al., 2018, with a Gaussian output channel) averages over the posterior
instead of maximizing the fit, and with the link known reaches 0.09 there.

GAMP needs the channel ``p(y | z)``, ``z = U^T x``. Here it is learned: the
link ``g`` is the refinement's Hermite ridge fit on the projections of the
current estimate ``V`` (:func:`learned_channel`), the noise starts at the
root mean square of its residuals and is learned along the iterations (EM),
floored at ``AMP_NOISE_FLOOR`` times the standard deviation of ``y`` (the
in-sample residuals underestimate it, and a posterior sharper than the truth
makes AMP confident in directions it has not learned). The rounds alternate
(learn the channel through ``V``, run GAMP from ``V``) while the held-out
loss of the link falls (:func:`amp_rounds`). The refined solver runs them
from the race's best refinement near the onset and refines their estimate
(``_solver_refined._amp_refinement``): at d = 256, 5 seeds, the median
distance of ``h2+h2`` at n = 3 d went from 0.56 to 0.10 and of ``z1*z2`` from
0.38 to 0.15 (``benchmarks/onset.py``).

The posterior of ``z`` given ``(omega, V, y)`` is integrated on a grid of
whitened coordinates ``z = omega + L xi`` (``L L^T = V``), as in the benchmark
reference (``benchmarks/onset_references.py``); for a polynomial link,
``g(omega + L xi)`` is a polynomial of the same degree in ``xi``, whose
coefficients per sample come from its values at a few fixed points (one
small matrix product), so that the residuals on the whole grid are one
product of ``n x B`` by ``B x K``; the likelihood is averaged over each grid
cell (:func:`_posterior_outputs`). The grid grows as ``K^r``: the solver runs
this only for ``r <= AMP_MAX_COMPONENTS``. GAMP's derivation assumes rows of
``x`` with independent standardized entries; on other designs its estimate is
only one more candidate, judged by the held-out loss like the others.
"""

import math

import torch

from ._grassmann import (
    MAX_LINK_BASIS,
    hermite_basis,
    _fit_link_projected,
    _projected,
    link_heldout_losses,
)

# rounds of (learn the channel through V, run GAMP from V)
AMP_ROUNDS = 3
# GAMP iterations per round, at most (from an informed start it settles in 10-20)
AMP_ITER = 20
# the rounds stop after this many in a row without a held-out gain
AMP_PATIENCE = 1
# ... and when the refinement they start from is not confirmed against the
# held-out mean (the fit would fall back to a spectral estimate: nothing
# found), at most this many rounds with this patience. At d = 256, h2+h2,
# n = 3 d, seed 2 the held-out loss of the link fell only from the third
# round (0.264 -> 0.214, 0.118 at the sixth; distance 0.87 -> 0.38)
AMP_ROUNDS_UNCONFIRMED = 6
AMP_PATIENCE_UNCONFIRMED = 3
# a round gains when it lowers the held-out loss by more than this fraction
# (above the onset the rounds found the subspace they started from, within
# a few per cent, and the refinement after them cost 0.6-1.3 s at h2+h2,
# d = 256, n = 8 d, without a gain the solver would keep)
AMP_ROUND_GAIN = 0.05
# GAMP stops once an iteration changes W by less than this fraction of its norm
AMP_TOL = 1e-3
# the channel's noise is at least this fraction of the standard deviation of y
AMP_NOISE_FLOOR = 0.1
# at most this many directions (the grid has K^r nodes)
AMP_MAX_COMPONENTS = 2
# at most this many samples per feature: well above the onset the
# refinement is near the Bayes-optimal distance (h2+h2 at n = 4 d: 0.065
# against GAMP's 0.063 with the link known), and the grid costs n K B per
# iteration; h2*h2 and h4+h4 still gained at n = 8 d (d = 256)
AMP_MAX_RATIO = 16
# grid: whitened coordinates (the prior N(0, I)) in the ball of this radius,
# this step (the likelihood is averaged over each cell, _posterior_outputs)
AMP_HALF_WIDTH = 4.0
AMP_GRID_STEP = 0.35
# the start: W = AMP_START_OVERLAP sqrt(d) V (the prior of each row of W is N(0, I))
AMP_START_OVERLAP = 0.5
# damping of the variances, and of both once the estimate alternates between two values
AMP_DAMPING = 0.5
# grid evaluations per block of samples
AMP_BLOCK = 2_000_000


def amp_applicable(samples, k, degree):
    """Whether :func:`amp_rounds` runs for ``k`` directions on ``samples``."""
    return (1 <= k <= AMP_MAX_COMPONENTS and samples.n_features >= 2
            and samples.n_samples <= AMP_MAX_RATIO * samples.n_features
            and math.comb(k + degree, degree) <= MAX_LINK_BASIS)


def learned_channel(samples, V, degree):
    """The link fitted on ``V^T x`` and the channel's noise.

    Returns ``(basis, coef, noise, floor)``: the link is ``basis.values(z) @
    coef`` (the refinement's Hermite ridge fit, penalty by GCV), ``noise``
    the weighted root mean square of its residuals floored at ``floor``,
    ``AMP_NOISE_FLOOR`` times the weighted standard deviation of ``y``.
    """
    basis = hermite_basis(V.shape[1], degree, V.device, V.dtype)
    proj = _projected(samples, V)
    coef, _, _ = _fit_link_projected(proj, basis, samples.weight_sum)
    res2 = 0.0
    for Z, y, w in proj:
        res2 += float(w @ (basis.values(Z) @ coef - y) ** 2)
    wsum = samples.weight_sum
    y, w = samples.targets, samples.weights
    spread = math.sqrt(max(float(w @ (y - w @ y / wsum) ** 2) / wsum, 0.0))
    floor = AMP_NOISE_FLOOR * spread
    return basis, coef, max(math.sqrt(res2 / wsum), floor), floor


def _grid(r, step, half_width, device, dtype):
    """Nodes (K x r) and log N(0, I) weights of a uniform grid on the ball."""
    t = torch.arange(-half_width, half_width + step / 2, step, dtype=dtype, device=device)
    nodes = torch.stack(torch.meshgrid(*([t] * r), indexing="ij"), dim=-1).reshape(-1, r)
    nodes = nodes[(nodes ** 2).sum(dim=1) <= half_width ** 2 + 1e-12]
    return nodes, -0.5 * (nodes ** 2).sum(dim=1)


def _posterior_grid(r, basis, device, dtype):
    """What :func:`_posterior_outputs` needs that depends on neither ``omega`` nor ``V``.

    The fixed points of the per-sample fit and its pseudo-inverse, the grid's
    nodes with the basis and its gradients there, and the log prior: built
    once per :func:`gamp` run, not at every iteration.
    """
    nodes, logprior = _grid(r, AMP_GRID_STEP, AMP_HALF_WIDTH, device, dtype)
    gen = torch.Generator().manual_seed(0)
    points = torch.randn(2 * basis.size, r, generator=gen, dtype=torch.float64).to(device, dtype)
    solve = torch.linalg.pinv(basis.values(points))  # B x 2B
    Phi, dPhi = basis.values_and_gradients(nodes)  # K x B, K x B x r
    grid_basis = Phi.T.float()
    grid_gradients = [dPhi[:, :, j].T.float() for j in range(r)]
    F = torch.cat([torch.ones_like(nodes[:, :1]), nodes], dim=1).float()  # K x (1 + r)
    return points, solve, nodes, grid_basis, grid_gradients, F, (2.0 * logprior).float()


def _posterior_outputs(omega, Vm, y, w, basis, coef, noise, grid):
    """``g_out = V^{-1} (E[z | omega, V, y] - omega)`` per sample (n x r).

    Also returns the weighted mean over samples (weights ``w``) of the
    posterior mean of the squared noise ``(y - g(z))^2`` (within a cell:
    the node's residual shrunk by ``noise^2 / var`` plus ``noise^2 (1 -
    noise^2 / var)``, ``var`` the cell's likelihood variance below), the EM
    update of the noise variance. Raises ``torch.linalg.LinAlgError`` when
    ``V`` is not positive definite.

    The posterior is ``N(y; g(z), noise^2) N(z; omega, V)``; in whitened
    coordinates ``xi`` it is integrated on the grid (:func:`_grid`, step
    ``AMP_GRID_STEP``) with log-sum-exp weights. ``g(omega + L xi)`` is the
    polynomial ``Phi(xi) c_i``, ``c_i`` from its values at ``2 B`` fixed
    points (least squares, exact for a polynomial of the basis' degree). The
    likelihood at a node is its average over the node's cell, to first
    order: the noise variance plus ``step^2 |grad_xi g|^2 / 12`` (the
    variance of a uniform cell). Where the link is steep its likelihood is
    a ridge narrower than the grid step (``h4`` at ``|z| = 3``: 0.007 for
    noise 0.1), and point values would alias (GAMP then ran from the true
    subspace to distance 0.89 at ``h4+h4``, n = 12 d, with the link known).
    ``grid`` is :func:`_posterior_grid`'s tuple for ``basis``, built once
    per :func:`gamp` run.
    """
    n, r = omega.shape
    L = torch.linalg.cholesky(Vm)
    Linv = torch.linalg.inv(L)
    step = AMP_GRID_STEP
    points, solve, nodes, grid_basis, grid_gradients, F, logprior = grid
    shifts = points @ L.T
    noise2 = noise * noise
    tiny = torch.finfo(torch.float32).tiny
    block = max(1, AMP_BLOCK // max(nodes.shape[0], 2 * basis.size))
    means, sq = [], 0.0
    for s in range(0, n, block):
        om, yb = omega[s:s + block], y[s:s + block]
        values = basis.values((om[:, None, :] + shifts[None]).reshape(-1, r)) @ coef
        c = values.reshape(om.shape[0], -1) @ solve.T  # per-sample coefficients in xi
        # the m x K temporaries in single precision (weights relative to the
        # largest of each row, moments accumulated in the working dtype)
        c32 = c.float()
        res2 = (yb.float()[:, None] - c32 @ grid_basis) ** 2
        var = sum((c32 @ G) ** 2 for G in grid_gradients)
        var.mul_(step * step / 12.0).add_(noise2).clamp_(min=tiny)
        t = res2 / var
        t += torch.log(var)
        t -= logprior
        t = torch.exp(t.sub_(t.min(dim=1, keepdim=True).values).mul_(-0.5))
        m = (t @ F).to(omega.dtype)
        means.append(m[:, 1:] / m[:, :1])
        # the posterior mean of the squared noise within a cell (a Gaussian
        # cell model): the residual shrunk by noise^2 / var, plus what the
        # cell leaves undetermined
        shrink = noise2 / var
        e2 = res2 * shrink * shrink + noise2 * (1.0 - shrink)
        sq += float(w[s:s + block] @ ((t * e2).sum(dim=1).to(omega.dtype) / m[:, 0]))
    return torch.cat(means) @ Linv, sq / float(w.sum())


def gamp(samples, V0, basis, coef, noise, floor, n_iter=None):
    """GAMP for ``y = g(U^T x) + noise`` with the link given, from ``V0``.

    With ``x`` scaled by ``1 / sqrt(d)``, ``alpha = n / d`` (weights as
    multiplicities, relative to their mean) and ``W`` of rows ``N(0, I)``
    a priori, each iteration forms ``omega = x^T W / sqrt(d) - g_prev V``
    (the Onsager term), the output step :func:`_posterior_outputs`,
    ``A = alpha E[g_out g_out^T]`` (the Nishimori form, positive
    semi-definite), ``B = X^T g_out / sqrt(d) + W A`` and the Gaussian
    prior's denoiser ``W = B (I + A)^{-1}``, ``C = (I + A)^{-1}`` (damped by
    ``AMP_DAMPING``; once ``W`` alternates between two values, ``W`` too).
    The noise is learned along (EM-GAMP, Vila and Schniter, 2013): each
    iteration sets it to the root of the posterior mean of the squared
    noise, at least ``floor``. ``n_iter`` defaults to ``AMP_ITER``; the
    iterations stop earlier once one changes ``W`` by less than ``AMP_TOL``
    of its norm. Returns ``W`` (d x r), or None when it or the noise is not
    finite or the variances stop being positive definite.
    """
    n_iter = AMP_ITER if n_iter is None else n_iter
    n, d = samples.n_samples, samples.n_features
    r = V0.shape[1]
    dev, dt = V0.device, V0.dtype
    w = torch.as_tensor(samples.weights, dtype=dt, device=dev)
    w = w / w.mean()
    y = torch.as_tensor(samples.targets, dtype=dt, device=dev)
    root = math.sqrt(d)
    scale = float(samples.reduce(lambda Xc, yc, wc: (wc * (Xc * Xc).sum(dim=1)).sum())
                  / (samples.weight_sum * d))
    alpha = n / d
    eye = torch.eye(r, dtype=dt, device=dev)
    W = AMP_START_OVERLAP * root * V0
    C = eye.clone()
    g_prev = torch.zeros(n, r, dtype=dt, device=dev)
    damping, W_older = 0.0, None
    grid = _posterior_grid(r, basis, dev, dt)
    for _ in range(n_iter):
        Vm = scale * C
        omega = torch.cat(samples.project(W)) / root - g_prev @ Vm
        try:
            g_out, em = _posterior_outputs(omega, Vm, y, w, basis, coef, noise, grid)
        except torch.linalg.LinAlgError:
            return None
        if not math.isfinite(em):
            return None
        noise = max(floor, math.sqrt(em))
        A = alpha * scale * (g_out.T @ (w[:, None] * g_out)) / n
        B = samples.back_project(w[:, None] * g_out) / root + W @ A
        C_new = torch.linalg.inv(eye + A)
        W_new = B @ C_new
        if W_older is not None and (torch.linalg.norm(W_new - W_older)
                                    < 0.5 * torch.linalg.norm(W_new - W)):
            damping = AMP_DAMPING
        W_new = damping * W + (1 - damping) * W_new
        c = max(damping, AMP_DAMPING)
        C = c * C + (1 - c) * 0.5 * (C_new + C_new.T)
        change = float(torch.linalg.norm(W_new - W))
        W_older, W, g_prev = W, W_new, g_out
        if not bool(torch.isfinite(W).all()):
            return None
        if change <= AMP_TOL * float(torch.linalg.norm(W)):
            break
    return W


def _heldout_loss(train, valid, V, degree, channel):
    """Mean held-out loss on ``valid`` of the link of ``channel`` (fitted through ``V``)."""
    losses, w = link_heldout_losses(train, valid, V, degree, link=channel[:2])
    return float(w @ losses / w.sum())


def amp_rounds(train, valid, V0, degree, rounds=None, patience=None, callback=None):
    """Rounds of (learn the channel through ``V``, GAMP from ``V``); the best kept.

    Each round learns the channel on ``train`` through the current ``V``
    (:func:`learned_channel`) and runs :func:`gamp` from it, at most
    ``rounds`` times (``AMP_ROUNDS``); they stop after ``patience``
    (``AMP_PATIENCE``) rounds in a row whose subspace does not give the link
    fitted on ``train`` a held-out loss on ``valid``
    (:func:`link_heldout_losses`) smaller by more than ``AMP_ROUND_GAIN``
    than the best so far (``V0``'s first).
    Above the onset, where the refinement is already close to the
    Bayes-optimal distance, the first round does not gain and they stop
    there (a patience of 2 changed no distance at d = 256 on the onset
    points of ``h2+h2``, ``z1*z2`` at 3 d, ``h2*h2``, ``h4+h4`` at 8 d, 5
    seeds, and took up to 1.9x the time). Returns ``(V, loss)`` of the best
    round, or ``(None, loss of V0)`` when none gained.
    """
    rounds = AMP_ROUNDS if rounds is None else rounds
    patience = AMP_PATIENCE if patience is None else patience
    # the channel learned through a subspace serves both its held-out loss
    # and the next round's GAMP
    V, best, misses = V0, None, 0
    channel = learned_channel(train, V0, degree)
    best_loss = _heldout_loss(train, valid, V0, degree, channel)
    for j in range(rounds):
        W = gamp(train, V, *channel)
        if W is None or not float(torch.linalg.norm(W)) > 0:
            break
        noise = channel[2]
        V = torch.linalg.svd(W, full_matrices=False)[0]
        channel = learned_channel(train, V, degree)
        loss = _heldout_loss(train, valid, V, degree, channel)
        if callback is not None:
            callback("amp_round", {"round": j + 1, "noise": noise, "val_loss": loss})
        if loss < (1.0 - AMP_ROUND_GAIN) * best_loss:
            best, best_loss, misses = V, loss, 0
        else:
            misses += 1
            if misses >= patience:
                break
    return best, best_loss
