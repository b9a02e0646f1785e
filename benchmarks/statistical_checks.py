"""Print the figures behind tests/test_statistics.py (same data, seeds, settings).

The tests assert thresholds; this script prints the measured values quoted in
their comments and in the issue notes. Run from the repository root:

    PYTHONPATH=. python benchmarks/statistical_checks.py
"""

import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
warnings.simplefilter("ignore")
torch.set_num_threads(1)

from test_statistics import problem_data  # noqa: E402

from skmim import MultiIndexNetRegressor, MultiIndexProjector, SpectralProjector  # noqa: E402
from skmim.metrics import subspace_distance as dist  # noqa: E402


def report(label, model, problem, Xt=None, yt=None):
    line = f"{label:58s} distance {dist(model.subspace_, problem.subspace):.3f}"
    if Xt is not None:
        line += f"  R^2 {model.score(Xt, yt):.3f}"
    print(line, flush=True)


P, X, y, Xt, yt = problem_data("h2+h2", 128, 32)
report("h2+h2 d=128 n=32d default (n_components=2)",
       MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y), P, Xt, yt)
m = MultiIndexNetRegressor(random_state=0).fit(X, y)
report(f"h2+h2 d=128 n=32d default (auto -> {m.n_components_} components)", m, P, Xt, yt)
report("h2+h2 d=128 n=32d solver=layerwise loss=huber",
       MultiIndexNetRegressor(solver="layerwise", loss="huber", n_components=2,
                              random_state=0).fit(X, y), P, Xt, yt)
net = MultiIndexProjector(solver="layerwise", loss="huber", n_components=2, random_state=0)
spec = SpectralProjector(loss="huber", n_components=2)
net.fit(X, y)
spec.fit(X, y)
report("h2+h2 d=128 n=32d projector layerwise huber", net, P)
report("h2+h2 d=128 n=32d SpectralProjector huber", spec, P)
print(f"{'  network vs spectral subspace':58s} distance {dist(net.subspace_, spec.subspace_):.3f}")

P, X, y, Xt, yt = problem_data("h4+h4", 128, 64)
for loss in ("huber", "squared"):
    report(f"h4+h4 d=128 n=64d solver=layerwise loss={loss}",
           MultiIndexNetRegressor(solver="layerwise", loss=loss, n_components=2,
                                  random_state=0).fit(X, y), P)
report("h4+h4 d=128 n=64d default",
       MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y), P, Xt, yt)

P, X, y, Xt, yt = problem_data("z1*z2", 128, 64)
report("z1*z2 d=128 n=64d solver=layerwise loss=squared",
       MultiIndexNetRegressor(solver="layerwise", loss="squared", n_components=2,
                              random_state=0).fit(X, y), P)
report("z1*z2 d=128 n=64d default",
       MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y), P, Xt, yt)

P, X, y, _, _ = problem_data("h2+h2", 64, 16)
for solver in ("layerwise", "refined"):
    report(f"h2+h2 d=64 n=16d projector {solver} huber",
           MultiIndexProjector(solver=solver, loss="huber", n_components=2,
                               random_state=0).fit(X, y), P)

P, X, y, _, _ = problem_data("h2+h2", 64, 32)
report("h2+h2 d=64 n=32d projector grassmann (random starts)",
       MultiIndexProjector(solver="grassmann", n_components=2, random_state=0).fit(X, y), P)

P, X, y, _, _ = problem_data("h3+h3", 64, 32)
for loss in ("squared", "huber", "abs"):
    report(f"h3+h3 d=64 n=32d projector layerwise {loss}",
           MultiIndexProjector(solver="layerwise", loss=loss, n_components=2,
                               random_state=0).fit(X, y), P)
report("h3+h3 d=64 n=32d default",
       MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y), P)

for link, k in (("tanh", 1), ("h1+h2", 2)):
    P, X, y, Xt, yt = problem_data(link, 64, 64)
    report(f"{link} d=64 n=64d solver=sgd",
           MultiIndexNetRegressor(solver="sgd", n_components=k, random_state=0).fit(X, y),
           P, Xt, yt)
