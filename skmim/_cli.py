"""Command line: ``skmim demo`` (also ``python -m skmim demo``)."""

import argparse
import sys
import time
import warnings

import numpy as np

from ._links import link_names


def _demo(args):
    import torch
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import RidgeCV
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline

    from . import GaussianMultiIndex, MultiIndexNetRegressor, SpectralProjector
    from .metrics import subspace_distance

    if args.threads:
        torch.set_num_threads(args.threads)
    d = args.n_features
    n = args.n_samples or 16 * d
    problem = GaussianMultiIndex(d, args.link, noise=args.noise, random_state=args.seed)
    r = problem.n_directions
    X, y = problem.sample(n, random_state=args.seed + 1)
    Xt, yt = problem.sample(args.n_test, random_state=args.seed + 2)
    print(f"skmim demo: y = {args.link}(U^T x) + {args.noise} N(0,1), x ~ N(0, I_{d}), "
          f"r = {r} hidden directions, n = {n} training samples ({n / d:g} d), "
          f"{args.n_test} test samples, device={args.device}")
    rows = []

    def run(name, fit, subspace, predict):
        t0 = time.perf_counter()
        fitted = fit()
        elapsed = time.perf_counter() - t0
        dist = subspace_distance(subspace(fitted), problem.subspace)
        r2 = 1.0 - np.mean((predict(fitted, Xt) - yt) ** 2) / np.var(yt)
        rows.append((name, dist, r2, elapsed))
        print(f"  done: {name}: subspace distance {dist:.3f}, test R^2 {r2:.3f}, {elapsed:.1f} s",
              flush=True)

    net = MultiIndexNetRegressor(n_components=r, device=args.device, random_state=args.seed,
                                 verbose=args.verbose)
    print(f"training {net!r}:", flush=True)
    run("skmim MultiIndexNetRegressor (refined)", lambda: net.fit(X, y),
        lambda m: m.subspace_, lambda m, A: m.predict(A))
    paper = MultiIndexNetRegressor(n_components=r, solver="layerwise", device=args.device,
                                   random_state=args.seed)
    run("skmim solver='layerwise' (paper)", lambda: paper.fit(X, y),
        lambda m: m.subspace_, lambda m, A: m.predict(A))
    spectral = make_pipeline(
        SpectralProjector(n_components=r, device=args.device),
        Nystroem(n_components=300, gamma=0.5, random_state=args.seed),
        RidgeCV(alphas=np.logspace(-4, 2, 13)),
    )
    run("spectral baseline (pHd, Huber) + kernel ridge", lambda: spectral.fit(X, y),
        lambda m: m[0].subspace_, lambda m, A: m.predict(A))
    mlp = MLPRegressor(hidden_layer_sizes=(256,), early_stopping=True, max_iter=200,
                       random_state=args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        run("scikit-learn MLPRegressor(256)", lambda: mlp.fit(X, y),
            lambda m: np.linalg.svd(m.coefs_[0].T, full_matrices=False)[2][:r].T,
            lambda m, A: m.predict(A))
    print()
    print(f"{'method':48s} {'subspace dist':>13s} {'test R^2':>9s} {'fit time':>9s}")
    for name, dist, r2, elapsed in rows:
        print(f"{name:48s} {dist:13.3f} {r2:9.3f} {elapsed:8.1f}s")
    print("\nsubspace distance: |P_U - P_hat|_F / sqrt(2r), 0 = exact, 1 = orthogonal.")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="skmim", description="skmim command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit skmim and baselines on synthetic multi-index data")
    demo.add_argument("--n-features", type=int, default=256)
    demo.add_argument("--n-samples", type=int, default=None, help="default: 16 * n_features")
    demo.add_argument("--n-test", type=int, default=10000)
    demo.add_argument("--link", default="h2+h2", choices=link_names())
    demo.add_argument("--noise", type=float, default=0.1)
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--threads", type=int, default=None, help="torch threads")
    demo.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
