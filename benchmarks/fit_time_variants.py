"""Fit time of the default and of cheaper variants, against MLPRegressor, in one run.

d = 256, n = 16 d, h2+h2, one thread (torch and BLAS). Ratios are what to
quote: the machine is shared and absolute times are noisy.

    PYTHONPATH=. python benchmarks/fit_time_variants.py
"""

import time
import warnings

import torch
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_limits

from skmim import GaussianMultiIndex, MultiIndexNetRegressor, SpectralProjector

warnings.simplefilter("ignore")
torch.set_num_threads(1)
problem = GaussianMultiIndex(256, "h2+h2", noise=0.1, random_state=0)
X, y = problem.sample(4096, random_state=10000)
variants = [
    ("default (refined, loss='auto')", MultiIndexNetRegressor(n_components=2, random_state=0)),
    ("refined, loss='huber'", MultiIndexNetRegressor(n_components=2, loss="huber",
                                                     random_state=0)),
    ("layerwise (paper)", MultiIndexNetRegressor(n_components=2, solver="layerwise",
                                                 random_state=0)),
    ("SpectralProjector", SpectralProjector(n_components=2)),
    ("MLPRegressor()", MLPRegressor(random_state=0)),
]
with threadpool_limits(1):
    times = {}
    for name, est in variants:
        start = time.perf_counter()
        est.fit(X, y)
        times[name] = time.perf_counter() - start
mlp = times["MLPRegressor()"]
print(f"{'variant':34s} {'seconds':>8s} {'/ MLPRegressor':>15s}")
for name, t in times.items():
    print(f"{name:34s} {t:8.3f} {t / mlp:15.2f}")
