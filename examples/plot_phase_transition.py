"""
How many samples? Subspace recovery against n / d
=================================================

Learning a multi-index model needs ``n`` proportional to ``d`` samples:
below a threshold no method can tell the hidden subspace from noise, above it
the error decreases like ``sqrt(d / n)``. Spectral methods reach the
threshold for links of generative exponent 2 such as ``h2(z1) + h2(z2)``,
and so, by the result of Zhang, Wang, Fu and Lee, does the layer-wise
network.

This example draws ``y = h2(z1) + h2(z2) + noise`` at ``d = 64`` for several
``n / d`` and two seeds, and compares the subspace distance of

* ``MultiIndexNetRegressor(solver="layerwise")``, the published algorithm
  (stage 1 on half of the samples, stage 2 on the other half);
* ``MultiIndexNetRegressor(solver="refined")``, the default: stage 1 on
  the training part, then two-timescale Grassmannian descent (Bietti, Bruna
  and Pillaud-Vivien) that refits the link at every step, stopped on held-out
  samples;
* :class:`skmim.SpectralProjector`, the explicit top eigenvectors of
  ``E_n[T(y) x x^T]`` on all the samples.

All three use the Huber preprocessing. The second figure shows the test error
of the two regressors. Where the spectral start is better than random, the
refinement drives the subspace error far below it: once the link is
estimated, the samples are used by a likelihood-like fit instead of a
second moment.

Run ``python examples/plot_phase_transition.py`` (well under a minute on 2
CPU cores); ``--full`` uses ``d = 128``, more ratios and five seeds;
``--out PATH`` chooses where the figures are saved (default
``examples/figures/phase_transition.png``; the figures are saved as
``phase_transition_<name>.png`` beside it). With ``SKMIM_DOCS_QUICK=1`` (set
by the documentation build) the sizes shrink.
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

parser = argparse.ArgumentParser(description="Subspace distance against n / d.")
parser.add_argument("--full", action="store_true", help="larger settings (minutes)")
parser.add_argument("--out", default=None, help="where to save the figures")
args, _ = parser.parse_known_args()
QUICK = os.environ.get("SKMIM_DOCS_QUICK", "0") not in ("", "0")

if args.full:
    d, ratios, seeds = 128, (1, 2, 4, 8, 16, 32, 64, 128), range(5)
elif QUICK:
    d, ratios, seeds = 64, (2, 4, 8, 16, 32), range(2)
else:
    d, ratios, seeds = 64, (1, 2, 4, 8, 16, 32, 64), range(2)
n_test = 4000
t_start = time.perf_counter()

# %%
# Fit the three methods
# ---------------------
# Below the threshold the estimators warn that no direction stands above the
# noise (:class:`skmim.SubspaceWarning`); the warnings are silenced here.
problem = GaussianMultiIndex(d, "h2+h2", noise=0.1, random_state=0)
X_test, y_test = problem.sample(n_test, random_state=12345)
methods = ("layerwise", "refined", "spectral")
dist = np.zeros((len(methods), len(ratios), len(seeds)))
error = np.zeros((2, len(ratios), len(seeds)))
for i, ratio in enumerate(ratios):
    for s, seed in enumerate(seeds):
        X, y = problem.sample(ratio * d, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SubspaceWarning)
            for m, solver in enumerate(methods[:2]):
                model = MultiIndexNetRegressor(n_components=2, solver=solver, loss="huber",
                                               random_state=seed).fit(X, y)
                dist[m, i, s] = subspace_distance(model.subspace_, problem.subspace)
                error[m, i, s] = np.mean((model.predict(X_test) - y_test) ** 2) / np.var(y_test)
            spec = SpectralProjector(n_components=2, loss="huber").fit(X, y)
        dist[2, i, s] = subspace_distance(spec.subspace_, problem.subspace)
    print(f"n = {ratio:3d} d: subspace distance " + ", ".join(
        f"{name} {dist[m, i].mean():.3f}" for m, name in enumerate(methods))
        + "; test error " + ", ".join(
        f"{name} {error[m, i].mean():.3f}" for m, name in enumerate(methods[:2])))

# %%
# Plot
# ----
labels = {"layerwise": 'solver="layerwise"', "refined": 'solver="refined"',
          "spectral": "SpectralProjector"}
# One figure per panel; the first (the subspace distance) is the gallery thumbnail.
panels = ("subspace", "prediction")
figs, axes = zip(*(plt.subplots(figsize=(6, 4.2)) for _ in panels))
for m, name in enumerate(methods):
    mean = dist[m].mean(axis=1)
    axes[0].plot(ratios, mean, "o-", color=f"C{m}", label=labels[name])
    axes[0].fill_between(ratios, dist[m].min(axis=1), dist[m].max(axis=1),
                         color=f"C{m}", alpha=0.2)
for m, name in enumerate(methods[:2]):
    axes[1].plot(ratios, error[m].mean(axis=1), "o-", color=f"C{m}", label=labels[name])
axes[0].axhline(np.sqrt(1 - 2 / d), color="gray", ls="--", lw=1, label="random subspace")
axes[1].axhline(problem.noise**2 / np.var(y_test), color="gray", ls="--", lw=1,
                label="noise floor")
axes[0].set(xscale="log", xlabel="n / d", ylabel="subspace distance", ylim=(0, 1.05),
            title=f"hidden subspace (d = {d}, {len(seeds)} seeds: mean and range)")
axes[1].set(xscale="log", yscale="log", xlabel="n / d", ylabel="test MSE / Var(y)",
            title="prediction")
for ax in axes:
    ax.set_xticks(ratios)
    ax.set_xticklabels([str(r) for r in ratios])
    ax.minorticks_off()
    ax.legend(fontsize=8)
for fig in figs:
    fig.suptitle("y = h2(z1) + h2(z2) + noise, Huber preprocessing", fontsize=10)
    fig.tight_layout()

if args.out or "sphinx_gallery" not in sys.modules:
    out = Path(args.out) if args.out else (
        Path(sys.argv[0]).resolve().parent / "figures" / "phase_transition.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, fig in zip(panels, figs):
        path = out.with_name(f"{out.stem}_{name}{out.suffix or '.png'}")
        fig.savefig(path, dpi=110)
        print(f"saved {path}")
print(f"total time {time.perf_counter() - t_start:.0f} s")
