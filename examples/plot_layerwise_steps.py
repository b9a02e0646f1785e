"""
How many stage-1 steps? The effect of T_1
=========================================

Stage 1 of the layer-wise algorithm (Zhang, Wang, Fu and Lee, arXiv
2511.15120) takes ``T_1`` full-batch gradient steps on the first layer from a
tiny symmetric initialization. Each step is one step of power iteration on
``Sigma_hat = E_n[l'(0, y) x x^T]`` for every neuron, so ``T_1`` trades two
errors:

* too few steps leave each neuron with much of its random initialization and
  of the finite-sample noise of ``Sigma_hat`` (``T_1 = 1`` with the squared
  loss is the one-step method of Damian, Lee and Soltanolkotabi, COLT 2022);
* too many steps collapse every neuron onto the top eigenvector, so the
  neurons stop covering the whole hidden subspace and the stage-2 ridge
  regression on their features loses the weaker directions.

This example fits ``MultiIndexNetRegressor(solver="layerwise")`` on
``y = h2(z1) + h2(z2) + noise`` at two dimensions ``d`` with ``n = 32 d``
samples, for ``n_steps = 1, ..., 8``, and plots against ``T_1``:

* the per-neuron alignment ``mean_j |U^T w_j|^2 / |w_j|^2``
  (:func:`skmim.metrics.neuron_alignment` of ``stage1_weights_``), which the
  theory says drives the stage-2 error;
* the subspace distance of the SVD read-off ``subspace_``;
* the stage-2 test error (mean squared error divided by ``Var(y)``).

The vertical marks are the value ``n_steps="auto"`` picks at each ``d``.

Run ``python examples/plot_layerwise_steps.py`` (under a minute on 2 CPU
cores); ``--full`` uses four dimensions, five seeds and up to 12 steps
(several minutes); ``--out PATH`` chooses where the figures are saved (default
``examples/figures/layerwise_steps.png``; the figures are saved as
``layerwise_steps_<name>.png`` beside it). With ``SKMIM_DOCS_QUICK=1`` (set by
the documentation build) the sizes shrink.
"""

# sphinx_gallery_thumbnail_number = 3

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

from skmim import GaussianMultiIndex, MultiIndexNetRegressor  # noqa: E402
from skmim.metrics import neuron_alignment, subspace_distance  # noqa: E402

torch.set_num_threads(1)  # small problems: one thread is fastest on a 2-core machine

parser = argparse.ArgumentParser(description="Effect of the number of stage-1 steps.")
parser.add_argument("--full", action="store_true", help="larger settings (several minutes)")
parser.add_argument("--out", default=None, help="where to save the figures")
args, _ = parser.parse_known_args()
QUICK = os.environ.get("SKMIM_DOCS_QUICK", "0") not in ("", "0")

if args.full:
    dims, seeds, steps = (50, 100, 200, 400), range(5), range(1, 13)
elif QUICK:
    dims, seeds, steps = (32, 100), range(2), range(1, 9)
else:
    dims, seeds, steps = (50, 200), range(2), range(1, 9)
ratio = 32  # n = ratio * d samples, half for stage 1 and half for stage 2
n_test = 4000
steps = list(steps)
t_start = time.perf_counter()

# %%
# Fit the layer-wise network for every ``T_1``
# --------------------------------------------
# The same ``random_state`` gives the same initialization, so the fits with
# ``n_steps = T`` follow one power-iteration trajectory, stopped at ``T``.
results = {}
for d in dims:
    problem = GaussianMultiIndex(d, "h2+h2", noise=0.1, random_state=0)
    X_test, y_test = problem.sample(n_test, random_state=12345)
    rec = np.zeros((3, len(seeds), len(steps)))
    for i, seed in enumerate(seeds):
        X, y = problem.sample(ratio * d, random_state=seed)
        for j, t in enumerate(steps):
            model = MultiIndexNetRegressor(
                n_components=2, solver="layerwise", loss="squared", n_steps=t,
                random_state=seed,
            ).fit(X, y)
            rec[0, i, j] = neuron_alignment(model.stage1_weights_, problem.subspace)
            rec[1, i, j] = subspace_distance(model.subspace_, problem.subspace)
            rec[2, i, j] = np.mean((model.predict(X_test) - y_test) ** 2) / np.var(y_test)
    # the layer-wise solver takes exactly n_steps stage-1 steps: n_iter_ is T_1
    auto = MultiIndexNetRegressor(n_components=2, solver="layerwise", loss="squared",
                                  random_state=0).fit(X, y).n_iter_
    results[d] = (rec.mean(axis=1), auto)
    best = steps[int(np.argmin(rec[2].mean(axis=0)))]
    print(f"d={d:4d}: alignment {np.round(rec[0].mean(axis=0), 2)}")
    print(f"        test error {np.round(rec[2].mean(axis=0), 2)}")
    print(f"        lowest test error at T_1={best}; n_steps='auto' gives T_1={auto}; "
          f"random alignment r/d={2 / d:.3f}")

# %%
# Plot
# ----
# One figure per panel; the last (the stage-2 test error) is the gallery thumbnail.
panels = ("alignment", "readoff", "test_error")
figs, axes = zip(*(plt.subplots(figsize=(6, 4.2)) for _ in panels))
for k, d in enumerate(dims):
    mean, auto = results[d]
    color = f"C{k}"
    axes[0].plot(steps, mean[0], "o-", color=color, label=f"d = {d}")
    axes[0].axhline(2 / d, color=color, ls=":", lw=1)
    axes[1].plot(steps, mean[1], "o-", color=color, label=f"d = {d}")
    axes[2].plot(steps, mean[2], "o-", color=color, label=f"d = {d}")
    for ax in axes:
        ax.axvline(auto, color=color, ls="--", lw=1, alpha=0.6)
axes[0].set(xlabel="stage-1 steps $T_1$", ylabel="mean neuron alignment",
            title="per-neuron alignment (dotted: random, r/d)")
axes[1].set(xlabel="stage-1 steps $T_1$", ylabel="subspace distance",
            title="SVD read-off of the first layer", ylim=(0, 1.02))
axes[2].set(xlabel="stage-1 steps $T_1$",
            ylabel="test MSE / Var(y)", title="stage-2 test error")
for ax in axes:
    ax.set_xticks(steps)
    ax.legend()
for fig in figs:
    fig.suptitle(f"layer-wise network on h2(z1) + h2(z2), n = {ratio} d "
                 "(dashed: n_steps='auto')", fontsize=10)
    fig.tight_layout()

if args.out or "sphinx_gallery" not in sys.modules:
    out = Path(args.out) if args.out else (
        Path(sys.argv[0]).resolve().parent / "figures" / "layerwise_steps.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, fig in zip(panels, figs):
        path = out.with_name(f"{out.stem}_{name}{out.suffix or '.png'}")
        fig.savefig(path, dpi=110)
        print(f"saved {path}")
print(f"total time {time.perf_counter() - t_start:.0f} s")
