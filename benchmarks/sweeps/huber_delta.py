"""Huber threshold sweep behind huber_delta=1.0: the spectral estimator's subspace
distance (and its 2nd eigenvalue over the noise edge) at d = 128.

    PYTHONPATH=. python benchmarks/sweeps/huber_delta.py
"""
import numpy as np

from skmim._datasets import GaussianMultiIndex
from skmim._engine import spectral_subspace
from skmim.metrics import subspace_distance

for link, nd in [("h2+h2", 16), ("h4+h4", 32), ("z1*z2", 16), ("h2+h2", 8)]:
    d = 128
    P = GaussianMultiIndex(d, link, noise=0.1, random_state=0)
    X, y = P.sample(nd * d, random_state=1)
    out = []
    for delta in [0.25, 0.5, 1.0, 1.5, 2.0, 3.0]:
        sp = spectral_subspace(X, y, np.ones(len(y)), loss="huber", huber_delta=delta,
                               n_components=2)
        out.append("%.2f:%.3f(%.2f)" % (delta, subspace_distance(sp[0], P.subspace),
                                        abs(sp[2][1]) / sp[3]))
    print(link, nd, " ".join(out), flush=True)
