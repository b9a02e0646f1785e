"""
Online SGD with weight decay finds the hidden direction
=======================================================

Mousavi-Hosseini, Park, Girotti, Mitliagkas and Erdogdu (ICLR 2023) train the
first layer of a two-layer ReLU network by online SGD with weight decay.
Weight decay contracts the part of every neuron orthogonal to the hidden
subspace, so the first layer becomes approximately rank ``r`` with row space
``span(U)``.

This example reproduces their published experiment (d = 2, m = 1000 neurons,
ReLU, ``y = tanh(<u, x>)``): the neurons before and after training, converging
to the direction ``u``. It then measures, at d = 100 and for r = 1
(``tanh``) and r = 2 (``z1 + h2(z2)``), the first-layer mass outside the
learned subspace and the test error against the number of samples, with and
without the rank-r compression of the first layer.

Run ``python examples/plot_sgd_weight_decay.py`` (about a minute on 2 CPU
cores); ``--full`` uses more sample sizes and seeds.
"""

# sphinx_gallery_thumbnail_number = 2

# %%
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from skmim import GaussianMultiIndex, MultiIndexNetRegressor  # noqa: E402
from skmim.metrics import subspace_distance  # noqa: E402

torch.set_num_threads(1)
parser = argparse.ArgumentParser()
parser.add_argument("--full", action="store_true")
parser.add_argument("--out", default=None, help="where to save the figures "
                    "(default: examples/figures/sgd_weight_decay.png; the figures are "
                    "saved as <stem>_<name>.png beside it)")
args, _ = parser.parse_known_args(sys.argv[1:] if __name__ == "__main__" else [])
quick = os.environ.get("SKMIM_DOCS_QUICK") == "1"

# %%
# The published experiment: d = 2, m = 1000, y = tanh(<u, x>)
# -----------------------------------------------------------
problem = GaussianMultiIndex(2, "tanh", random_state=0)
X, y = problem.sample(4000, random_state=1)
model = MultiIndexNetRegressor(solver="sgd", n_components=1, width=1000,
                               sgd_learning_rate=0.05, sgd_weight_decay=0.03,
                               random_state=0)
initial = MultiIndexNetRegressor(solver="sgd", n_components=1, width=1000,
                                 sgd_learning_rate=1e-12, sgd_weight_decay=0.0,
                                 random_state=0).fit(X[:20], y[:20]).stage1_weights_
model.fit(X, y)
trained = model.stage1_weights_
u = problem.subspace[:, 0]
print(f"d=2: subspace distance {subspace_distance(model.subspace_, problem.subspace):.3f}, "
      f"first-layer mass outside span(u): {model.history_['mass_outside'][-1]:.3f}")

# %%
# d = 100: mass outside the subspace and test error against n
# ------------------------------------------------------------
d = 100
ratios = [4, 8, 16, 32, 64] if args.full else ([4, 16] if quick else [4, 16, 64])
seeds = [0, 1, 2] if args.full else [0]
curves = {}
for link in ("tanh", "h1+h2"):
    prob = GaussianMultiIndex(d, link, noise=0.1, random_state=0)
    Xt, yt = prob.sample(5000, random_state=99)
    rows = []
    for ratio in ratios:
        stats = []
        for seed in seeds:
            Xn, yn = prob.sample(ratio * d, random_state=seed + 1)
            kw = dict(solver="sgd", n_components=prob.n_directions, random_state=seed)
            full = MultiIndexNetRegressor(**kw).fit(Xn, yn)
            low = MultiIndexNetRegressor(compress_first_layer=True, **kw).fit(Xn, yn)
            stats.append((full.history_["mass_outside"][-1],
                          1 - full.score(Xt, yt), 1 - low.score(Xt, yt),
                          subspace_distance(full.subspace_, prob.subspace)))
        rows.append(np.median(np.array(stats), axis=0))
        print(f"d={d} {link:6s} n={ratio:3d}d: mass outside {rows[-1][0]:.3f}, "
              f"test error/var {rows[-1][1]:.3f} (rank-{prob.n_directions} compressed "
              f"{rows[-1][2]:.3f}), subspace distance {rows[-1][3]:.3f}")
    curves[link] = np.array(rows)

# %%
# Figure
# One figure per panel; the second (the trained neurons) is the gallery thumbnail.
panels = ("before", "after", "mass_outside", "test_error")
figs, axes = zip(*(plt.subplots(figsize=(6, 4.2)) for _ in panels))
ax = axes[0]
ax.scatter(initial[:, 0], initial[:, 1], s=4, alpha=0.5)
ax.set_title("neurons before training (d = 2)")
lim = max(np.abs(initial).max(), np.abs(trained).max()) * 1.05
ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
ax = axes[1]
ax.scatter(trained[:, 0], trained[:, 1], s=4, alpha=0.5, color="C1")
ax.plot([-lim * u[0], lim * u[0]], [-lim * u[1], lim * u[1]], "k--", lw=1, label="u")
ax.set_title("after one SGD pass with weight decay (d = 2)")
ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
ax.legend()
for link, rows in curves.items():
    n = np.array(ratios)
    axes[2].plot(n, rows[:, 0], "o-", label=link)
    axes[3].plot(n, rows[:, 1], "o-", label=f"{link}, full W")
    axes[3].plot(n, rows[:, 2], "s--", label=f"{link}, rank-r W")
axes[2].set(xscale="log", xlabel="n / d", ylabel="mass of W outside learned subspace",
            title=f"d = {d}")
axes[3].set(xscale="log", yscale="log", xlabel="n / d", ylabel="test MSE / Var(y)",
            title=f"d = {d}")
for ax in axes[2:]:
    ax.set_xticks(ratios)
    ax.set_xticklabels([str(r) for r in ratios])
    ax.minorticks_off()
axes[2].legend()
axes[3].legend(fontsize=8)
for fig in figs:
    fig.tight_layout()
# under sphinx-gallery the figures are captured by the gallery; saved otherwise
if args.out or "sphinx_gallery" not in sys.modules:
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures",
                                   "sgd_weight_decay.png")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    root, ext = os.path.splitext(out)
    for name, fig in zip(panels, figs):
        path = f"{root}_{name}{ext or '.png'}"
        fig.savefig(path, dpi=110)
        print("saved", path)
