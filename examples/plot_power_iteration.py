"""
Stage 1 is power iteration
==========================

With the symmetric initialization the network is identically zero and its
first-layer rows are tiny, so the stage-1 gradient of neuron ``j`` is
``-a_j Sigma_hat w_j`` up to second-order terms, with
``Sigma_hat = E_n[T(y) x x^T]`` and ``T(y) = -l'(0, y)``. With weight decay
``1 / learning_rate`` (the default) a step maps ``w_j`` to
``learning_rate * a_j * Sigma_hat w_j``: one step of power iteration for
every neuron. The estimator records, per step, in ``history_``:

* ``rayleigh``: the mean over neurons of ``|w^T Sigma_hat w| / |w|^2``,
  which power iteration drives up towards the largest ``|eigenvalues|``
  (measured on the weights each step starts from, so entry ``t`` is the
  value after ``t`` steps, counting from 0);
* ``concentration``: the fraction of ``|W|_F^2`` in the top ``r`` singular
  values of the first layer (1 means the layer has rank ``r``);
* ``subspace_change``: the distance between consecutive read-offs.

This example fits :class:`skmim.MultiIndexProjector` with
``solver="layerwise"`` (stage 1 on all the samples) on
``y = h2(z1) + h2(z2) + noise`` and compares the trajectory with what the
explicit spectral estimator :class:`skmim.SpectralProjector` computes from
the same samples and the same preprocessing: its top ``|eigenvalues|``
(the limit of the Rayleigh quotient), the alignment of its eigenvectors
(the limit of the per-neuron alignment) and its subspace distance (the
limit of the read-off). Fits with ``n_steps = 1, 2, ...`` and the same
``random_state`` stop the same trajectory at every step, which gives the
per-step alignment.

Run ``python examples/plot_power_iteration.py`` (well under a minute on 2
CPU cores); ``--full`` uses ``d = 400``; ``--out PATH`` chooses where the
figures are saved (default ``examples/figures/power_iteration.png``; the
figures are saved as ``power_iteration_<name>.png`` beside it). With
``SKMIM_DOCS_QUICK=1`` (set by the documentation build) the sizes shrink.
"""

# sphinx_gallery_thumbnail_number = 1

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

from skmim import GaussianMultiIndex, MultiIndexProjector, SpectralProjector  # noqa: E402
from skmim.metrics import neuron_alignment, subspace_distance  # noqa: E402

torch.set_num_threads(1)

parser = argparse.ArgumentParser(description="Stage 1 as power iteration.")
parser.add_argument("--full", action="store_true", help="larger settings (minutes)")
parser.add_argument("--out", default=None, help="where to save the figures")
args, _ = parser.parse_known_args()
QUICK = os.environ.get("SKMIM_DOCS_QUICK", "0") not in ("", "0")

if args.full:
    d, ratio, n_steps = 400, 32, 15
elif QUICK:
    d, ratio, n_steps = 64, 32, 10
else:
    d, ratio, n_steps = 128, 32, 12
loss = "squared"
t_start = time.perf_counter()

problem = GaussianMultiIndex(d, "h2+h2", noise=0.1, random_state=0)
X, y = problem.sample(ratio * d, random_state=1)
U = problem.subspace

# %%
# The network: one trajectory of stage 1
# --------------------------------------
steps = np.arange(1, n_steps + 1)
alignment, readoff = [], []
for t in steps:
    proj = MultiIndexProjector(n_components=2, solver="layerwise", loss=loss, n_steps=int(t),
                               random_state=0).fit(X, y)
    alignment.append(neuron_alignment(proj.stage1_weights_, U))
    readoff.append(subspace_distance(proj.subspace_, U))
history = proj.history_  # the last fit holds the records of all n_steps steps
noise_edge = proj.noise_level_

# %%
# The explicit spectral estimator on the same samples
# ---------------------------------------------------
spec = SpectralProjector(n_components=2, loss=loss).fit(X, y)
top = np.abs(spec.eigenvalues_)
spec_dist = subspace_distance(spec.subspace_, U)
spec_align = neuron_alignment(spec.subspace_.T, U)  # mean cos^2 of the principal angles
print(f"d={d}, n={ratio * d}, loss={loss!r}")
print(f"top |eigenvalues| of Sigma_hat: {np.round(top[:4], 3)}, noise edge {noise_edge:.3f}")
print("Rayleigh quotient per step:   ", np.round(history["rayleigh"], 3))
print("concentration per step:       ", np.round(history["concentration"], 3))
print("neuron alignment per step:    ", np.round(alignment, 3),
      f"(spectral eigenvectors: {spec_align:.3f})")
print("read-off distance per step:   ", np.round(readoff, 3),
      f"(SpectralProjector: {spec_dist:.3f})")

# %%
# Plot
# ----
# One figure per panel; the first (the Rayleigh quotient) is the gallery thumbnail.
panels = ("rayleigh", "concentration", "alignment", "subspace")
figs, axes = zip(*(plt.subplots(figsize=(6, 4.2)) for _ in panels))
ax = axes[0]
# ``rayleigh`` (like ``loss``) is measured on the weights a step starts from,
# ``concentration`` and ``subspace_change`` on the weights it ends at.
ax.plot(steps - 1, history["rayleigh"], "o-", label="network (mean over neurons)")
for k in range(2):
    ax.axhline(top[k], color="k", ls="--", lw=1,
               label="top |eigenvalues| of Sigma_hat" if k == 0 else None)
ax.axhline(noise_edge, color="gray", ls=":", lw=1, label="noise edge")
ax.set(xlabel="steps taken", ylabel="|w' Sigma_hat w| / |w|^2", title="Rayleigh quotient")
ax.legend(fontsize=8)
ax = axes[1]
ax.plot(steps, history["concentration"], "o-")
ax.set(xlabel="steps taken", ylabel="fraction of |W|_F^2", ylim=(0, 1.02),
       title="mass in the top-2 singular values")
ax = axes[2]
ax.plot(steps, alignment, "o-", label="network neurons")
ax.axhline(spec_align, color="k", ls="--", lw=1, label="SpectralProjector eigenvectors")
ax.axhline(2 / d, color="gray", ls=":", lw=1, label="random direction (r/d)")
ax.set(xlabel="steps taken", ylabel="mean |U'w|^2 / |w|^2", ylim=(0, 1.02),
       title="per-neuron alignment")
ax.legend(fontsize=8)
ax = axes[3]
ax.plot(steps, readoff, "o-", label="network read-off (top-2 SVD)")
ax.plot(steps, history["subspace_change"], "s:", label="change from previous step")
ax.axhline(spec_dist, color="k", ls="--", lw=1, label="SpectralProjector")
ax.set(xlabel="steps taken", ylabel="subspace distance", ylim=(0, 1.02), title="learned subspace")
ax.legend(fontsize=8)
for ax in axes:
    ax.set_xticks(np.arange(0, n_steps + 1, max(1, n_steps // 6)))
for fig in figs:
    fig.suptitle(f"stage 1 on h2(z1) + h2(z2): d = {d}, n = {ratio} d, loss = {loss!r}",
                 fontsize=10)
    fig.tight_layout()

if args.out or "sphinx_gallery" not in sys.modules:
    out = Path(args.out) if args.out else (
        Path(sys.argv[0]).resolve().parent / "figures" / "power_iteration.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, fig in zip(panels, figs):
        path = out.with_name(f"{out.stem}_{name}{out.suffix or '.png'}")
        fig.savefig(path, dpi=110)
        print(f"saved {path}")
print(f"total time {time.perf_counter() - t_start:.0f} s")
