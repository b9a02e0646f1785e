"""
The stage-1 loss is a label preprocessing
=========================================

Around the tiny symmetric initialization the network output is zero, so the
stage-1 gradient weighs sample ``i`` by ``l'(0, y_i)``: the loss only enters
through the label transform ``T(y) = -l'(0, y)``, and stage 1 is power
iteration on ``E_n[T(y) x x^T]``. On the hidden subspace the signal is the
matrix ``E[T(y) (z z^T - I)]``, which depends on the link and on ``T``
(section 6 of the specification, reproduced in the user guide):

============== ================ ================= ===============
link           squared          Huber             ``abs``
============== ================ ================= ===============
h2(z1)+h2(z2)  full rank        full rank         full rank
h3(z1)+h3(z2)  zero: fails      zero: fails       full rank
h4(z1)+h4(z2)  zero: fails      full rank         full rank
============== ================ ================= ===============

* ``loss="squared"`` uses ``T(y) = y - mean(y)``. For ``h4`` the
  correlation ``E[h4(z) (z^2 - 1)]`` is zero, so there is no signal at all;
* ``loss="huber"`` clips the labels. Clipping is a non-linear transform of
  ``y``, which gives ``h4`` a second-order component, but it is still odd in
  ``y``: an odd link such as ``h3`` keeps a zero signal;
* ``loss="abs"`` uses ``|y - median(y)|``, an even transform that also sees
  odd links.

This example fits ``MultiIndexNetRegressor(solver="layerwise")`` with each
loss on the three links and draws the subspace distance of the learned
``subspace_`` to the truth (bars), next to the explicit spectral estimator
:class:`skmim.SpectralProjector` with the same preprocessing (dots). A
distance near ``sqrt(1 - r/d)`` (dashed line) is what a random subspace gets.

Two finite-sample effects are visible: a "zero" signal is not exactly at the
random level, because the noise of ``E_n[T(y) x x^T]`` is larger on the
hidden subspace (the labels are heavy-tailed along it); and the layer-wise
solver, which spends half of the samples on stage 2, stays behind the
spectral estimator that uses them all for the subspace. ``loss="auto"``
(the default) runs every loss and keeps the one with the best stage-2
validation error.

Run ``python examples/plot_loss_preprocessing.py`` (well under a minute on 2
CPU cores); ``--full`` uses ``d = 128`` and five seeds; ``--out PATH`` chooses
where the figure is saved (default ``examples/figures/loss_preprocessing.png``).
With ``SKMIM_DOCS_QUICK=1`` (set by the documentation build) the sizes shrink.
"""

# sphinx_gallery_thumbnail_number = 1

# %%
# Settings
# --------
import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from skmim import (  # noqa: E402
    GaussianMultiIndex,
    MultiIndexNetRegressor,
    SpectralProjector,
    SubspaceWarning,
)
from skmim.metrics import subspace_distance  # noqa: E402

torch.set_num_threads(1)

parser = argparse.ArgumentParser(description="Stage-1 loss as label preprocessing.")
parser.add_argument("--full", action="store_true", help="larger settings (minutes)")
parser.add_argument("--out", default=None, help="where to save the figure")
args, _ = parser.parse_known_args()
QUICK = os.environ.get("SKMIM_DOCS_QUICK", "0") not in ("", "0")

if args.full:
    d, ratio, seeds = 128, 64, range(5)
elif QUICK:
    d, ratio, seeds = 32, 128, range(2)
else:
    d, ratio, seeds = 64, 64, range(3)
links = ("h2+h2", "h3+h3", "h4+h4")
losses = ("squared", "huber", "abs")
t_start = time.perf_counter()

# %%
# Fit every (link, loss) pair
# ---------------------------
# A failing pair makes the estimators warn (:class:`skmim.SubspaceWarning`)
# that no direction stands above the noise: that is the point here, so the
# warnings are counted instead of printed.
dist = np.zeros((2, len(links), len(losses), len(seeds)))
n_warned = 0
for a, link in enumerate(links):
    problem = GaussianMultiIndex(d, link, noise=0.1, random_state=0)
    for s, seed in enumerate(seeds):
        X, y = problem.sample(ratio * d, random_state=seed)
        for b, loss in enumerate(losses):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", SubspaceWarning)
                net = MultiIndexNetRegressor(n_components=2, solver="layerwise", loss=loss,
                                             random_state=seed).fit(X, y)
                spec = SpectralProjector(n_components=2, loss=loss).fit(X, y)
            n_warned += sum(issubclass(w.category, SubspaceWarning) for w in caught)
            dist[0, a, b, s] = subspace_distance(net.subspace_, problem.subspace)
            dist[1, a, b, s] = subspace_distance(spec.subspace_, problem.subspace)
    print(f"{link:6s} layer-wise: " + ", ".join(
        f"{loss} {dist[0, a, b].mean():.2f}" for b, loss in enumerate(losses))
        + " | spectral: " + ", ".join(
        f"{loss} {dist[1, a, b].mean():.2f}" for b, loss in enumerate(losses)))
print(f"d={d}, n={ratio * d}: {n_warned} fits warned that no direction is above the noise; "
      f"random subspace distance sqrt(1 - r/d) = {np.sqrt(1 - 2 / d):.2f}")

# %%
# Plot
# ----
fig, ax = plt.subplots(figsize=(6.4, 4.2))
width = 0.26
x = np.arange(len(links))
for b, loss in enumerate(losses):
    pos = x + (b - 1) * width
    ax.bar(pos, dist[0, :, b].mean(axis=1), width * 0.95, color=f"C{b}",
           label=f'loss="{loss}" (layer-wise)')
    if len(seeds) > 1:
        ax.errorbar(pos, dist[0, :, b].mean(axis=1), yerr=dist[0, :, b].std(axis=1),
                    fmt="none", ecolor="k", lw=1, capsize=3)
    ax.plot(pos, dist[1, :, b].mean(axis=1), "D", color="k", ms=5,
            label="SpectralProjector, same loss" if b == 0 else None)
ax.axhline(np.sqrt(1 - 2 / d), color="gray", ls="--", lw=1, label="random subspace")
ax.set_xticks(x)
ax.set_xticklabels([f"{link}" for link in links])
ax.set(ylabel="subspace distance to the truth", ylim=(0, 1.05),
       title=f"stage-1 loss as preprocessing (d = {d}, n = {ratio} d)")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
fig.tight_layout()

if args.out or "sphinx_gallery" not in sys.modules:
    out = Path(args.out) if args.out else (
        Path(sys.argv[0]).resolve().parent / "figures" / "loss_preprocessing.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"saved {out}")
print(f"total time {time.perf_counter() - t_start:.0f} s")
