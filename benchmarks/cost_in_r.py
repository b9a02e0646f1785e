"""Fit cost against the number of directions ``n_components`` (issue 13, item 4).

``y = sum_{j <= 6} tanh(x_j) + 0.1 noise``, ``x ~ N(0, I_32)``, ``n = 4000``
(the issue's problem), test R^2 on 4000 fresh rows. For each ``r`` the
default ``MultiIndexNetRegressor(n_components=r)`` (and the variants given
with ``--variant``), CPU seconds with one thread, the refinement's steps,
``recall`` (the fraction of ``span(U)``, ``U`` the 6 true directions, inside
the learned space: ``|P^T U|_F^2 / 6``) and ``precision`` (the fraction of the
learned space inside ``span(U)``: ``|P^T U|_F^2 / r``). MLPRegressor(256) for
comparison.

    PYTHONPATH=. python benchmarks/cost_in_r.py                      # r = 2, 4, 6, 8 (~1 min)
    PYTHONPATH=. python benchmarks/cost_in_r.py --r 2 4 8 12 --repeat 3   # ratios to quote
    PYTHONPATH=. python benchmarks/cost_in_r.py --r 2 4 8 12 \\
        --variant "link_degree=3" --variant "solver='layerwise'"   # r = 12 takes minutes
"""

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402

from skmim import MultiIndexNetRegressor  # noqa: E402

D, N, K = 32, 4000, 6


def data(seed=0):
    rng = np.random.default_rng(seed)
    X, X_test = rng.normal(size=(N, D)), rng.normal(size=(4000, D))
    link = lambda Z: np.tanh(Z[:, :K]).sum(axis=1)  # noqa: E731
    return X, link(X) + 0.1 * rng.normal(size=N), X_test, link(X_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--r", type=int, nargs="+", default=[2, 4, 6, 8],
                        help="n_components to fit (default 2 4 6 8)")
    parser.add_argument("--variant", action="append", default=[],
                        help="extra keyword arguments of a variant, e.g. \"link_degree=3\"")
    parser.add_argument("--repeat", type=int, default=1,
                        help="fits per point; the smallest CPU time is printed (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y, X_test, y_test = data()
    U = np.eye(D)[:, :K]
    print(f"{'variant':>24} {'r':>3} {'cpu s':>7} {'steps':>5} {'test R2':>8} "
          f"{'recall':>7} {'precision':>9}", flush=True)
    for variant in [""] + args.variant:
        kwargs = eval(f"dict({variant})")  # the command line's own keyword arguments
        for r in args.r:
            seconds = float("inf")
            for _ in range(args.repeat):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    start = time.process_time()
                    model = MultiIndexNetRegressor(n_components=r, random_state=0, **kwargs)
                    model.fit(X, y)
                    seconds = min(seconds, time.process_time() - start)
            inside = np.linalg.norm(model.subspace_.T @ U) ** 2
            print(f"{variant or 'default':>24} {r:>3} {seconds:7.2f} {model.n_iter_:>5} "
                  f"{model.score(X_test, y_test):8.4f} {inside / K:7.3f} {inside / r:9.3f}",
                  flush=True)
    seconds = float("inf")
    for _ in range(args.repeat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.process_time()
            mlp = MLPRegressor(hidden_layer_sizes=(256,), max_iter=500, random_state=0).fit(X, y)
            seconds = min(seconds, time.process_time() - start)
    print(f"{'MLPRegressor(256)':>24} {'-':>3} {seconds:7.2f} "
          f"{mlp.n_iter_:>5} {mlp.score(X_test, y_test):8.4f}")


if __name__ == "__main__":
    main()
