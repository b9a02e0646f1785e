"""Random starts of solver="grassmann": one start vs n_init=4, h2+h2, d = 64, n = 32 d.

    PYTHONPATH=. python benchmarks/sweeps/grassmann_starts.py
"""
import warnings

import torch

from skmim import GaussianMultiIndex, MultiIndexProjector
from skmim.metrics import subspace_distance

warnings.simplefilter("ignore")
torch.set_num_threads(1)
P = GaussianMultiIndex(64, "h2+h2", noise=0.1, random_state=0)
X, y = P.sample(64 * 32, random_state=1)
for n_init in (1, 4):
    dists = []
    for seed in range(8):
        m = MultiIndexProjector(solver="grassmann", n_components=2, n_init=n_init,
                                random_state=seed).fit(X, y)
        dists.append(subspace_distance(m.subspace_, P.subspace))
    print(f"n_init={n_init}: distances " + " ".join(f"{v:.3f}" for v in dists)
          + f"; stalled (> 0.3): {sum(v > 0.3 for v in dists)} of {len(dists)}", flush=True)
