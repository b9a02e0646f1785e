"""
Inspecting a fitted model: spectrum, summary plot, training curves, alignment
=============================================================================

:mod:`skmim.inspection` holds four displays in the scikit-learn style (like
:class:`sklearn.metrics.PredictionErrorDisplay`): each is built from a fitted
estimator with ``from_estimator``, keeps the values it draws as attributes
and returns its axes and artists (``ax_``, ``figure_``, ...):

* :class:`~skmim.inspection.SpectrumDisplay`: the spectrum of the learned
  first layer (Ritz values of the stage-1 matrix ``E[l'(0, y) x x^T]``)
  against the edge that noise alone reaches at this ``n`` and ``d``;
* :class:`~skmim.inspection.SummaryPlotDisplay`: the sufficient summary plot,
  ``y`` against the learned projections, with the fitted link;
* :class:`~skmim.inspection.TrainingCurveDisplay`: the records of stage 1 and
  of the Grassmannian refinement;
* :class:`~skmim.inspection.AlignmentDisplay`: the principal angles between
  the learned subspace and the true one.

They are shown here on the demo problem ``y = h2(z1) + h2(z2) + 0.1 eps``
(``z = U^T x``, two hidden directions in ``d`` dimensions), fitted by the
default :class:`~skmim.MultiIndexNetRegressor` (``n_components="auto"``).

Run ``python examples/plot_displays.py`` (a few seconds on 2 CPU cores);
``--full`` uses ``d = 256``; ``--out PATH`` chooses where the figures are
saved (default ``examples/figures/displays.png``; the figures are saved as
``displays_<name>.png`` beside it). With ``SKMIM_DOCS_QUICK=1`` (set by the
documentation build) the sizes shrink.
"""

# sphinx_gallery_thumbnail_number = 2

# %%
# Settings and fit
# ----------------
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

from skmim import GaussianMultiIndex, MultiIndexNetRegressor  # noqa: E402
from skmim.inspection import (  # noqa: E402
    AlignmentDisplay,
    SpectrumDisplay,
    SummaryPlotDisplay,
    TrainingCurveDisplay,
)
from skmim.metrics import principal_angles  # noqa: E402

torch.set_num_threads(1)

parser = argparse.ArgumentParser(description="The displays of skmim.inspection.")
parser.add_argument("--full", action="store_true", help="larger settings")
parser.add_argument("--out", default=None, help="where to save the figures")
args, _ = parser.parse_known_args()
QUICK = os.environ.get("SKMIM_DOCS_QUICK", "0") not in ("", "0")

if args.full:
    d, ratio = 256, 16
elif QUICK:
    d, ratio = 64, 8
else:
    d, ratio = 128, 8
t_start = time.perf_counter()

problem = GaussianMultiIndex(d, "h2+h2", noise=0.1, random_state=0)
X, y = problem.sample(ratio * d, random_state=1)
model = MultiIndexNetRegressor(random_state=0).fit(X, y)
print(f"d = {d}, n = {ratio} d: n_components_ = {model.n_components_}, loss_ = "
      f"{model.loss_!r}, {model.n_iter_} steps")
figures = {}

# %%
# The spectrum of the first layer
# -------------------------------
# Stage 1 is power iteration on ``E_n[l'(0, y) x x^T]``: its Ritz values on
# the directions of the learned first layer are the spectrum (in units of the
# standardized ``y``). The two largest stand above ``1.25`` times the noise
# edge (dotted: the threshold of the spectral ``"auto"`` dimension); the
# others are noise, around the edge that noise alone reaches (dashed). At
# ``n = 8 d`` the margin is thin: the third value comes close to the edge.
# With ``solver="refined"`` the dimension is then chosen by held-out loss
# (``dimension_scores_``: the loss drops tenfold from one direction to two
# and no further; with ``ax=None`` the display draws these scores in a
# second panel, here they are printed).
fig, ax = plt.subplots(figsize=(6, 4))
spectrum = SpectrumDisplay.from_estimator(model, ax=ax)
fig.tight_layout()
figures["spectrum"] = fig
print("top values / noise edge:",
      ", ".join(f"{v:.2f}" for v in spectrum.magnitudes[:4] / spectrum.noise_level))
print("held-out loss per candidate dimension:",
      {k: round(v, 4) for k, v in spectrum.dimension_scores.items()})

# %%
# The sufficient summary plot
# ---------------------------
# ``y`` against the first learned projection ``z1 = transform(X)[:, 0]``. For
# the default solver the network depends on ``x`` only through its
# projections, so the curve (the prediction along the first direction, the
# other projection held at 0) is the learned link, here ``h2(z1) + h2(0)``;
# the spread of the points around it is the ``h2(z2)`` part that this slice
# does not see.
fig, ax = plt.subplots(figsize=(6, 4.5))
summary = SummaryPlotDisplay.from_estimator(model, X, y, ax=ax)
fig.tight_layout()
figures["summary"] = fig

# %%
# With ``n_directions=2`` the points are placed by both projections and
# coloured by ``y``; the fitted link is drawn as contour lines in the same
# colours. ``h2(z1) + h2(z2)`` depends on ``z1^2 + z2^2`` only: the contours
# are circles, whatever rotation of the plane the two learned directions are.
fig, ax = plt.subplots(figsize=(6, 5))
SummaryPlotDisplay.from_estimator(model, X, y, n_directions=2, ax=ax)
fig.tight_layout()
figures["summary_2d"] = fig

# %%
# Training curves
# ---------------
# Stage 1 takes a few steps: the mean Rayleigh quotient of the neurons grows,
# the first layer's mass concentrates in its top singular values and the
# subspace changes less at every step.
fig, ax = plt.subplots(figsize=(6, 4))
TrainingCurveDisplay.from_estimator(model, which="stage1", ax=ax)
fig.tight_layout()
figures["stage1"] = fig

# %%
# The refinement then runs until the held-out loss stops improving
# (``n_iter_no_change`` steps); the best step is kept.
fig, ax = plt.subplots(figsize=(6, 4))
curves = TrainingCurveDisplay.from_estimator(model, which="refinement", ax=ax)
fig.tight_layout()
figures["refinement"] = fig
print(f"refinement: {curves.refine_steps.size} steps, best held-out loss at step "
      f"{curves.best_step}")

# %%
# Alignment with the true subspace
# --------------------------------
# The principal angles between ``subspace_`` and the true ``U``, in degrees:
# both are a few degrees (stage 1 alone, ``solver="layerwise"``, leaves tens
# of degrees at this sample size); the title gives the subspace distance.
fig, ax = plt.subplots(figsize=(4.5, 4))
alignment = AlignmentDisplay.from_estimator(model, problem.subspace, ax=ax)
fig.tight_layout()
figures["alignment"] = fig
print("principal angles (degrees):", ", ".join(f"{a:.2f}" for a in alignment.angles_degrees),
      f"| subspace distance {alignment.distance:.4f}")
stage1 = MultiIndexNetRegressor(n_components=2, solver="layerwise", random_state=0).fit(X, y)
print("stage 1 alone (solver='layerwise'):", ", ".join(
    f"{a:.1f}" for a in np.degrees(principal_angles(stage1.subspace_, problem.subspace))))

if args.out or "sphinx_gallery" not in sys.modules:
    out = Path(args.out) if args.out else (
        Path(sys.argv[0]).resolve().parent / "figures" / "displays.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        path = out.with_name(f"{out.stem}_{name}{out.suffix or '.png'}")
        fig.savefig(path, dpi=110)
        print(f"saved {path}")
print(f"total time {time.perf_counter() - t_start:.0f} s")
