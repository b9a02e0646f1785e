"""Streaming ``partial_fit`` against one ``fit`` on the same rows (issue 13, item 6).

``MultiIndexNetRegressor(solver="sgd")`` on ``n`` rows of a GaussianMultiIndex
problem, fitted once, and streamed through ``partial_fit`` in blocks of 50,
200 and 1000 rows (in the rows' order), one torch thread. Prints the test R^2
(4000 fresh rows), the subspace distance and the fit time per seed, and the
gap (one fit's R^2 minus the stream's).

    PYTHONPATH=. python benchmarks/stream.py            # 4 seeds, 3 problems (~3 min)
    PYTHONPATH=. python benchmarks/stream.py --quick    # seed 0, h2+h2 at d = 16
"""

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")


from skmim import GaussianMultiIndex, MultiIndexNetRegressor  # noqa: E402
from skmim.metrics import subspace_distance  # noqa: E402

PROBLEMS = [(16, "h2+h2", 2), (16, "tanh", 1), (32, "h2+h2", 2)]
BLOCKS = (50, 200, 1000)


def run(d, link, r, seed, n):
    problem = GaussianMultiIndex(d, link, noise=0.1, random_state=seed)
    X, y = problem.sample(n, random_state=seed + 10)
    X_test, y_test = problem.sample(4000, random_state=seed + 20)

    def model():
        return MultiIndexNetRegressor(solver="sgd", n_components=r, random_state=seed)

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.process_time()
        one = model().fit(X, y)
        rows.append(("fit", one, time.process_time() - start))
        for size in BLOCKS:
            start = time.process_time()
            streamed = model()
            for i in range(0, n, size):
                streamed.partial_fit(X[i:i + size], y[i:i + size])
            rows.append((f"blocks of {size}", streamed, time.process_time() - start))
    base = one.score(X_test, y_test)
    for name, est, seconds in rows:
        score = est.score(X_test, y_test)
        print(f"{d:>4} {link:>6} {seed:>4} {name:>15} {score:8.4f} {base - score:+8.4f} "
              f"{subspace_distance(est.subspace_, problem.subspace):8.3f} {seconds:7.1f}",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seed 0, h2+h2 at d = 16 only")
    parser.add_argument("--n", type=int, default=6000, help="rows fitted (default 6000)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    problems = PROBLEMS[:1] if args.quick else PROBLEMS
    seeds = (0,) if args.quick else (0, 1, 2, 3)
    print(f"{'d':>4} {'link':>6} {'seed':>4} {'how':>15} {'test R2':>8} {'gap':>8} "
          f"{'dist':>8} {'cpu s':>7}")
    for d, link, r in problems:
        for seed in seeds:
            run(d, link, r, seed, args.n)


if __name__ == "__main__":
    main()
