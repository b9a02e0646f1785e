"""
The learned neurons, seen in the hidden plane
=============================================

For a link of two directions the hidden subspace is a plane. Projecting every
first-layer direction ``w_j / |w_j|`` on the true plane, ``(u1 . w, u2 . w)``,
shows what stage 1 does to the neurons:

* at initialization the directions are random: their projections are short
  (about ``sqrt(2 / d)``), scattered around the origin;
* every stage-1 step is a step of power iteration on
  ``Sigma_hat = E_n[T(y) x x^T]``, so the projections grow towards the unit
  circle (the neuron lies in the plane) and their angle in the plane is
  multiplied by the eigenvalues of ``Sigma_hat`` on the plane.

The top row uses ``y = h2(z1) + h2(z2)``: both eigenvalues are equal and the
neurons spread over the whole circle. The bottom row uses the same link on
an anisotropic projection (``strengths=(1, 0.75)``: the link sees
``0.75 u2 . x``), where the second eigenvalue is about ``0.75^2`` of the
first. Power iteration then turns every neuron towards ``+-u1`` a little more
at each step: after many steps the neurons have collapsed onto the top
eigenvector, and a stage-2 fit on them can no longer represent the ``z2``
part of the link. This is why ``T_1`` must stay small (see
:ref:`sphx_glr_auto_examples_plot_layerwise_steps.py`).

Run ``python examples/plot_neurons_2d.py`` (a few seconds on 2 CPU cores);
``--full`` uses ``d = 256``; ``--out PATH`` chooses where the figure is saved
(default ``examples/figures/neurons_2d.png``). With ``SKMIM_DOCS_QUICK=1``
(set by the documentation build) the sizes shrink.
"""

# sphinx_gallery_thumbnail_number = 2

# %%
# Settings
# --------
import argparse
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from skmim import GaussianMultiIndex, MultiIndexProjector  # noqa: E402

torch.set_num_threads(1)

parser = argparse.ArgumentParser(description="Stage-1 neurons projected on the hidden plane.")
parser.add_argument("--full", action="store_true", help="larger settings")
parser.add_argument("--out", default=None, help="where to save the figure")
args, _ = parser.parse_known_args()
QUICK = os.environ.get("SKMIM_DOCS_QUICK", "0") not in ("", "0")

if args.full:
    d, ratio = 256, 64
elif QUICK:
    d, ratio = 32, 64
else:
    d, ratio = 64, 64
width = 512
step_counts = (1, 3, 12)
t_start = time.perf_counter()


def in_plane(W, U):
    """Coordinates of the unit directions of the rows of W in the basis U."""
    W = W / np.linalg.norm(W, axis=1, keepdims=True)
    return W @ U


# %%
# Stage 1 for several numbers of steps
# ------------------------------------
# The initialization draws ``w_j ~ N(0, I_d / d)`` (only the direction
# matters); we draw directions from the same distribution to show it.
rows = {}
for name, strengths in (("isotropic", (1.0, 1.0)), ("anisotropic", (1.0, 0.75))):
    problem = GaussianMultiIndex(d, "h2+h2", noise=0.1, strengths=strengths, random_state=0)
    X, y = problem.sample(ratio * d, random_state=1)
    U = problem.subspace
    init = np.random.default_rng(0).standard_normal((width // 2, d))
    panels = [("initialization", in_plane(init, U))]
    for t in step_counts:
        proj = MultiIndexProjector(n_components=2, solver="layerwise", loss="squared",
                                   n_steps=t, width=width, random_state=0).fit(X, y)
        # rows j and j + width/2 share their direction (symmetric initialization)
        panels.append((f"after {t} step{'s' if t > 1 else ''}",
                       in_plane(proj.stage1_weights_[: width // 2], U)))
    rows[name] = (strengths, panels)
    for title, P in panels:
        radius = np.linalg.norm(P, axis=1)
        share2 = np.mean(P[:, 1] ** 2 / np.maximum(radius**2, 1e-300))
        print(f"{name:11s} {title:15s}: mean |P_U w| = {radius.mean():.3f}, "
              f"share of the in-plane part along u2 = {share2:.3f}")

# %%
# Plot
# ----
circle = np.linspace(0, 2 * np.pi, 200)


def draw_neurons(ax, P, color, title):
    """Scatter the in-plane coordinates P of the neurons, with the unit circle."""
    ax.plot(np.cos(circle), np.sin(circle), color="gray", lw=0.8)
    ax.scatter(P[:, 0], P[:, 1], s=6, alpha=0.6, color=color)
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.set(xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), aspect="equal", xlabel="u1 . w", title=title)


fig, axes = plt.subplots(2, 1 + len(step_counts), figsize=(4 * (1 + len(step_counts)), 8.4))
for r, (strengths, panels) in enumerate(rows.values()):
    for c, (title, P) in enumerate(panels):
        draw_neurons(axes[r, c], P, f"C{r}", title)
    axes[r, 0].set_ylabel(f"strengths={strengths}\nu2 . w")
fig.suptitle(f"stage-1 neurons projected on the hidden plane: y = h2(z1) + h2(z2), "
             f"d = {d}, n = {ratio} d, width = {width}")
fig.tight_layout()

# %%
# The anisotropic problem after 3 steps on its own: the neurons are close to
# the unit circle and gather towards ``+-u1``.
strengths, panels = rows["anisotropic"]
title, P = panels[1 + step_counts.index(3)]
fig_single, ax = plt.subplots(figsize=(6, 4.2))
draw_neurons(ax, P, "C1", f"stage-1 neurons, strengths={strengths}\n{title}, d = {d}")
ax.set_ylabel("u2 . w")
fig_single.tight_layout()

if args.out or "sphinx_gallery" not in sys.modules:
    out = Path(args.out) if args.out else (
        Path(sys.argv[0]).resolve().parent / "figures" / "neurons_2d.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"saved {out}")
print(f"total time {time.perf_counter() - t_start:.0f} s")
