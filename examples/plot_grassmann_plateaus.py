"""
Saddle-to-saddle plateaus of Grassmannian descent, and the planted problem
==========================================================================

Bietti, Bruna and Pillaud-Vivien (arXiv 2310.19793) learn the subspace
``V`` (``d x r``, orthonormal) by Riemannian gradient descent on the
Grassmannian while the link is refitted to optimality at every step (the
"two-timescale" algorithm, ``solver="grassmann"`` in skmim, which refits a
Hermite expansion of the link by ridge regression and takes line-searched
steps). From a random start the loss goes down in plateaus: each plateau is a
saddle where only some of the directions are found, and its length grows with
``d``, faster when the directions still missing have a higher (relative)
information exponent.

**Part 1.** ``y = z1 + h2(z2)``: the linear direction ``z1`` (information
exponent 1) is found quickly; the loss then sits on a plateau at about half
the variance until the quadratic direction ``z2`` (exponent 2) is found. We
run ``solver="grassmann"`` from a single random start (``n_init=1``, large
``max_iter`` and ``n_iter_no_change``) for ``d = 32, 64, 128`` with
``n = 64 d``, and plot the training loss (``refine_history_["train_loss"]``),
the rotation of the subspace at each step (``1 - min`` of the
``refine_history_["overlap"]`` singular values of ``V_{t-1}^T V_t``: it
spikes when a plateau is left) and the time at which the plateau ends.
The solver's Armijo line search lengthens the steps while the loss is flat,
which hides most of the plateau in a count of steps; the time of gradient
flow, the sum of the step sizes (``refine_history_["step_size"]``), shows it.
The median escape time grows with ``d`` (the population theory predicts
about ``d^(s-1)`` for exponent ``s``). With finite samples the escape is also
a matter of luck: some random starts stay on the plateau until the stopping
rule ends the run (triangles), which is why the solver defaults to
``n_init=4`` random starts.

**Part 2: the planted problem.** If the link is known and held fixed, the
landscape in ``V`` is rough for ``r > 1`` and gradient descent can get
trapped. We show it with a small NumPy implementation of both methods that
differ in one line (the link is the true one, or refitted by least squares on
Hermite polynomials of degree 3 at every step), run from the same random
starts on the same samples, with the same Armijo line search. The link is our
construction, chosen so that the trap is easy to see:
``g(z) = 2 h2(z1) + h3(z1) + z2``. The even part ``2 h2(z1)`` is learned first
and fixes the axis of ``v1`` with a random sign; when the sign is wrong,
flipping ``v1`` would have to go through ``v1 . u1 = 0``, where the ``h2`` part
is lost, so ``v1 = -u1`` is a spurious local minimum of the planted loss
(the ``h3`` part, odd, then has the wrong sign). The two-timescale method
refits the link, for which the sign of ``v1`` does not matter.
The planted descent takes Riemannian steps on the Stiefel manifold (it may
rotate ``V`` inside its span, since the link tells the columns apart); the
two-timescale one on the Grassmannian. (This particular trap only needs the
mixed parity of the link along ``z1``; the paper analyses the planted
problem in general.)

Run ``python examples/plot_grassmann_plateaus.py`` (one to three minutes on 2
CPU cores); ``--full`` uses ``d`` up to 256, more seeds and more starts (tens of
minutes); ``--out PATH`` chooses where the figures are saved (default
``examples/figures/grassmann_plateaus.png``; the figures are saved as
``grassmann_plateaus_<name>.png`` beside it). With ``SKMIM_DOCS_QUICK=1`` (set
by the documentation build) the sizes shrink.
"""

# sphinx_gallery_thumbnail_number = 1

# %%
# Settings
# --------
import argparse
import itertools
import math
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from skmim import GaussianMultiIndex, MultiIndexProjector  # noqa: E402
from skmim.metrics import subspace_distance  # noqa: E402

torch.set_num_threads(1)

parser = argparse.ArgumentParser(description="Grassmannian plateaus and the planted problem.")
parser.add_argument("--full", action="store_true", help="larger settings (several minutes)")
parser.add_argument("--out", default=None, help="where to save the figures")
args, _ = parser.parse_known_args()
QUICK = os.environ.get("SKMIM_DOCS_QUICK", "0") not in ("", "0")

if args.full:
    dims, seeds, max_iter = (32, 64, 128, 256), range(10), 400
    planted_d, planted_n, n_starts, planted_steps = 64, 6400, 40, 200
elif QUICK:
    dims, seeds, max_iter = (32, 64, 128), range(4), 120
    planted_d, planted_n, n_starts, planted_steps = 24, 2000, 8, 100
else:
    dims, seeds, max_iter = (32, 64, 128), range(6), 200
    planted_d, planted_n, n_starts, planted_steps = 32, 3000, 12, 150
ratio = 64  # n = ratio * d
patience = 60  # n_iter_no_change: a run stops 60 steps after its best held-out loss
t_start = time.perf_counter()

# %%
# Part 1: plateaus of ``solver="grassmann"`` on ``z1 + h2(z2)``
# -------------------------------------------------------------
# The solver takes line-searched steps, whose size grows while the loss is
# flat, so we measure time as gradient flow does: the sum of the step sizes
# (``refine_history_["step_size"]``). A run has left the second plateau when
# the training loss falls below 10% of ``Var(y)`` (with only ``z1`` found it
# sits near 50%). Runs stop ``patience`` steps after their best held-out
# loss, so a run that stays on the plateau may stop before ``max_iter``.
runs = {}
for d in dims:
    problem = GaussianMultiIndex(d, "h1+h2", noise=0.1, random_state=0)
    runs[d] = []
    for seed in seeds:
        X, y = problem.sample(ratio * d, random_state=seed)
        proj = MultiIndexProjector(n_components=2, solver="grassmann", n_init=1,
                                   max_iter=max_iter, n_iter_no_change=patience,
                                   random_state=seed).fit(X, y)
        hist = proj.refine_history_
        loss = 2 * np.asarray(hist["train_loss"]) / np.var(y)  # MSE / Var(y)
        flow_time = np.cumsum(hist["step_size"])
        rotation = 1 - np.array([np.min(s) for s in hist["overlap"]])
        below = np.flatnonzero(loss < 0.1)
        escape = float(flow_time[below[0]]) if below.size else None
        runs[d].append((flow_time, loss, rotation, escape, float(flow_time[-1]),
                        subspace_distance(proj.subspace_, problem.subspace)))
    escapes = [r[3] for r in runs[d] if r[3] is not None]
    n_stuck = sum(r[3] is None for r in runs[d])
    print(f"d={d:4d}: plateau left at flow time {np.round(escapes, 1)}; "
          f"{n_stuck} of {len(runs[d])} runs stopped on the plateau; final subspace "
          f"distance {np.round([r[5] for r in runs[d]], 3)}")

# %%
# Part 2: the planted problem against the two-timescale method
# ------------------------------------------------------------
# Everything here is plain NumPy: ``herm`` evaluates the tensor Hermite basis
# of total degree 3 in two variables (and its gradient), the true link is a
# fixed coefficient vector in that basis, and ``descend`` runs Riemannian
# gradient descent with an Armijo line search and a QR retraction.
def hermite_table(z, degree):
    """Normalized Hermite polynomials h_0..h_degree of z (list of arrays)."""
    H = [np.ones_like(z), z]
    for p in range(1, degree):
        H.append((z * H[p] - math.sqrt(p) * H[p - 1]) / math.sqrt(p + 1))
    return H[: degree + 1]


EXPONENTS = [a for a in itertools.product(range(4), repeat=2) if sum(a) <= 3]


def herm(Z):
    """Basis values (n, B) and their gradients in z (n, B, 2)."""
    H1, H2 = hermite_table(Z[:, 0], 3), hermite_table(Z[:, 1], 3)
    zero = np.zeros_like(Z[:, 0])
    phi = np.stack([H1[a] * H2[b] for a, b in EXPONENTS], 1)
    d1 = np.stack([(math.sqrt(a) * H1[a - 1] if a else zero) * H2[b] for a, b in EXPONENTS], 1)
    d2 = np.stack([H1[a] * (math.sqrt(b) * H2[b - 1] if b else zero) for a, b in EXPONENTS], 1)
    return phi, np.stack([d1, d2], 2)


true_link = np.zeros(len(EXPONENTS))
true_link[EXPONENTS.index((2, 0))] = 2.0  # 2 h2(z1)
true_link[EXPONENTS.index((3, 0))] = 1.0  # h3(z1)
true_link[EXPONENTS.index((0, 1))] = 1.0  # z2

rng = np.random.default_rng(0)
U = np.linalg.qr(rng.standard_normal((planted_d, 2)))[0]
Xp = rng.standard_normal((planted_n, planted_d))
yp = herm(Xp @ U)[0] @ true_link


def retract(M):
    Q, R = np.linalg.qr(M)
    return Q * np.sign(np.diag(R))


def descend(V, planted, n_steps):
    """Riemannian descent from V; returns the relative loss after every step."""
    eta, losses = 1.0, []
    for _ in range(n_steps):
        phi, dphi = herm(Xp @ V)
        coef = true_link if planted else np.linalg.lstsq(phi, yp, rcond=None)[0]
        r = phi @ coef - yp
        G = Xp.T @ (r[:, None] * np.einsum("nbk,b->nk", dphi, coef)) / len(yp)
        if planted:  # Stiefel: the fixed link tells the two columns apart
            S = V.T @ G
            G = G - V @ (0.5 * (S + S.T))
        else:  # Grassmann: rotations inside span(V) are absorbed by the link refit
            G = G - V @ (V.T @ G)
        loss = 0.5 * np.mean(r**2)
        losses.append(2 * loss / np.var(yp))
        eta, gnorm2 = min(2 * eta, 10.0), np.sum(G * G)
        for _ in range(30):  # Armijo backtracking, link held fixed
            cand = retract(V - eta * G)
            if 0.5 * np.mean((herm(Xp @ cand)[0] @ coef - yp) ** 2) <= loss - 1e-4 * eta * gnorm2:
                V = cand
                break
            eta /= 2
    return np.array(losses), V


planted_curves, refit_curves, signs = [], [], []
for start in range(n_starts):
    V0 = retract(np.random.default_rng(1000 + start).standard_normal((planted_d, 2)))
    lp, Vp = descend(V0, True, planted_steps)
    lt, _ = descend(V0, False, planted_steps)
    planted_curves.append(lp)
    refit_curves.append(lt)
    signs.append(float(Vp[:, 0] @ U[:, 0]))
planted_curves, refit_curves = np.array(planted_curves), np.array(refit_curves)
stuck_planted = int(np.sum(planted_curves[:, -1] > 0.05))
stuck_refit = int(np.sum(refit_curves[:, -1] > 0.05))
print(f"planted problem (d={planted_d}, n={planted_n}, {n_starts} random starts, "
      f"{planted_steps} steps): {stuck_planted} stuck with the true link held fixed, "
      f"{stuck_refit} stuck with the link refitted (stuck: final MSE / Var(y) > 0.05)")
print("v1 . u1 at the end of the planted runs:", np.round(signs, 2))

# %%
# Plot
# ----
# One figure per panel; the first (the plateaus) is the gallery thumbnail.
fig_loss, ax_loss = plt.subplots(figsize=(6, 4.2))
fig_rot, ax_rot = plt.subplots(figsize=(6, 4.2))
fig_esc, ax_esc = plt.subplots(figsize=(6, 4.2))
for k, d in enumerate(dims):
    color = f"C{k}"
    shown = next((i for i, r in enumerate(runs[d]) if r[3] is not None), 0)
    for i, (flow_time, loss, rotation, escape, end, _) in enumerate(runs[d]):
        label = f"d = {d}" if i == 0 else None
        ax_loss.plot(flow_time, loss, color=color, lw=1, alpha=0.8, label=label)
        if i == shown:
            ax_rot.plot(flow_time, np.maximum(rotation, 1e-12), color=color, lw=1,
                        label=f"d = {d}")
        if escape is None:
            ax_esc.plot(d, end, "^", color=color, ms=9, mfc="none")
        else:
            ax_esc.plot(d, escape, "o", color=color, ms=6, alpha=0.7)
# a run stopped on the plateau counts with its stopping time: a lower bound
medians = [np.median([r[4] if r[3] is None else r[3] for r in runs[d]]) for d in dims]
ax_esc.plot(dims, medians, "k-", lw=1.5, label="median")
ax_esc.plot(dims, medians[0] * np.asarray(dims) / dims[0], "k:", lw=1, label="slope 1")
ax_loss.set(xscale="log", yscale="log", xlabel="flow time (sum of step sizes)",
            ylabel="training MSE / Var(y)", title='solver="grassmann", y = z1 + h2(z2)')
ax_loss.legend(fontsize=8)
ax_rot.set(xscale="log", yscale="log", xlabel="flow time (sum of step sizes)",
           ylabel="1 - min overlap singular value", title="rotation per step (one run per d)")
ax_rot.legend(fontsize=8)
for ax in (ax_loss, ax_rot):
    ax.xaxis.set_minor_formatter(NullFormatter())
ax_esc.set(xscale="log", yscale="log", xlabel="d", ylabel="flow time leaving the plateau",
           title="escape time (triangles: stopped on the plateau)")
ax_esc.set_xticks(list(dims))
ax_esc.set_xticklabels([str(d) for d in dims])
ax_esc.minorticks_off()
ax_esc.legend(fontsize=8)

fig_planted, ax = plt.subplots(figsize=(6, 4.2))
steps = np.arange(1, planted_steps + 1)
for i in range(n_starts):
    ax.plot(steps, planted_curves[i], color="C3", lw=1, alpha=0.7,
            label=f"true link fixed ({stuck_planted}/{n_starts} stuck)" if i == 0 else None)
    ax.plot(steps, refit_curves[i], color="C0", lw=1, alpha=0.7,
            label=f"link refitted ({stuck_refit}/{n_starts} stuck)" if i == 0 else None)
ax.set(yscale="log", xlabel="step", ylabel="training MSE / Var(y)",
       title=f"planted: 2 h2(z1) + h3(z1) + z2, d = {planted_d}")
ax.legend(fontsize=8)
figures = {"loss": fig_loss, "rotation": fig_rot, "escape": fig_esc, "planted": fig_planted}
for fig in figures.values():
    fig.tight_layout()

if args.out or "sphinx_gallery" not in sys.modules:
    out = Path(args.out) if args.out else (
        Path(sys.argv[0]).resolve().parent / "figures" / "grassmann_plateaus.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        path = out.with_name(f"{out.stem}_{name}{out.suffix or '.png'}")
        fig.savefig(path, dpi=110)
        print(f"saved {path}")
print(f"total time {time.perf_counter() - t_start:.0f} s")
