"""How often ``n_components="auto"`` finds the true number of directions.

The default estimator without ``n_components`` on the benchmark links, d in
{64, 256}, n/d in {8, 16, 32}, seeds 0 and 1 (data from ``worker.make_data``,
one thread). Prints ``n_components_`` against the true r and the subspace
distance per fit, then the counts of exact, over- and under-estimates.
About 2 minutes on 2 cores.

    PYTHONPATH=. python benchmarks/sweeps/auto_components.py
"""

import os
import sys
import warnings

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import worker  # noqa: E402
from skmim import MultiIndexNetRegressor  # noqa: E402
from skmim.metrics import subspace_distance  # noqa: E402

torch.set_num_threads(1)
LINKS = ("h2+h2", "z1*z2", "h4+h4", "h2*h2", "h3+h3", "mixed3")
rows = []
with threadpool_limits(1):
    for d in (64, 256):
        for link in LINKS:
            for ratio in (8, 16, 32):
                for seed in (0, 1):
                    problem, X, y, _, _ = worker.make_data(link, d, ratio * d, seed, 10)
                    model = MultiIndexNetRegressor(random_state=seed).fit(X, y)
                    r, k = problem.n_directions, model.n_components_
                    dist = subspace_distance(model.subspace_, problem.subspace)
                    rows.append((r, k, dist))
                    print(f"d={d:3d} {link:7s} n={ratio:2d}d seed={seed} r={r} "
                          f"n_components_={k} loss_={model.loss_:8s} distance={dist:.3f}",
                          flush=True)
r, k, dist = np.array(rows).T
print(f"exact {int((k == r).sum())}, over {int((k > r).sum())}, under {int((k < r).sum())} "
      f"of {len(r)} fits; median distance {np.median(dist):.3f}")
