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

    from tqdm.auto import tqdm

    from ._engine import device_info

    if args.threads:
        torch.set_num_threads(args.threads)
    device, _ = device_info(args.device, "auto")
    d = args.n_features
    n = args.n_samples or 16 * d
    problem = GaussianMultiIndex(d, args.link, noise=args.noise, random_state=args.seed)
    r = problem.n_directions
    X, y = problem.sample(n, random_state=args.seed + 1)
    Xt, yt = problem.sample(args.n_test, random_state=args.seed + 2)
    print(f"skmim demo: y = {args.link}(U^T x) + {args.noise} N(0,1), x ~ N(0, I_{d}), "
          f"r = {r} hidden directions, n = {n} training samples ({n / d:g} d), "
          f"{args.n_test} test samples")
    print(f"device: {device} (--device {args.device}), torch threads: "
          f"{torch.get_num_threads()}, torch {torch.__version__}")
    rows = []
    bar = tqdm(total=4, desc="fitting", unit="model", disable=args.verbose > 0 or args.quiet)

    def run(name, fit, subspace, predict):
        t0 = time.perf_counter()
        fitted = fit()
        elapsed = time.perf_counter() - t0
        dist = subspace_distance(subspace(fitted), problem.subspace)
        r2 = 1.0 - np.mean((predict(fitted, Xt) - yt) ** 2) / np.var(yt)
        rows.append((name, dist, r2, elapsed))
        bar.update(1)
        if args.verbose:
            print(f"  done: {name}: subspace distance {dist:.3f}, test R^2 {r2:.3f}, "
                  f"{elapsed:.1f} s", flush=True)

    net = MultiIndexNetRegressor(n_components=r, device=args.device, random_state=args.seed,
                                 verbose=args.verbose)
    if args.verbose:
        print(f"training {net!r}:", flush=True)
    run("skmim MultiIndexNetRegressor (refined)", lambda: net.fit(X, y),
        lambda m: m.subspace_, lambda m, A: m.predict(A))
    paper = MultiIndexNetRegressor(n_components=r, solver="layerwise", device=args.device,
                                   random_state=args.seed, verbose=args.verbose)
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
    bar.close()
    print()
    print(f"{'method':48s} {'subspace dist':>13s} {'test R^2':>9s} {'fit time':>9s}")
    for name, dist, r2, elapsed in rows:
        print(f"{name:48s} {dist:13.3f} {r2:9.3f} {elapsed:8.1f}s")
    print("\nsubspace distance: |P_U - P_hat|_F / sqrt(2r), 0 = exact, 1 = orthogonal.")
    return 0


def _count(minimum, maximum=None):
    """An argparse type: an integer of at least ``minimum`` (and at most ``maximum``)."""
    def parse(text):
        value = int(text)
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text}")
        return value
    parse.__name__ = "integer"  # argparse names the type in its errors
    return parse


def _nonnegative(text):
    value = float(text)
    if not (np.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


_nonnegative.__name__ = "number"


def main(argv=None):
    from ._version import __version__

    parser = argparse.ArgumentParser(prog="skmim", description="skmim command line")
    parser.add_argument("--version", action="version", version=f"skmim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="fit skmim and baselines on synthetic multi-index data",
        description="Fit MultiIndexNetRegressor (default solver and the paper's layer-wise "
                    "one), a spectral baseline and scikit-learn's MLPRegressor on synthetic "
                    "data y = g(U^T x) + noise, x ~ N(0, I), and print a table of subspace "
                    "distance (0 = exact, 1 = orthogonal), test R^2 and fit time.")
    demo.add_argument("--n-features", type=_count(1), default=256, help="input dimension d")
    demo.add_argument("--n-samples", type=_count(2), default=None,
                      help="training samples (default: 16 * n_features)%(default).0s")
    demo.add_argument("--n-test", type=_count(2), default=10000, help="test samples")
    demo.add_argument("--link", default="h2+h2", choices=link_names(), metavar="LINK",
                      help="link g from skmim.link_names(): " + ", ".join(link_names()))
    demo.add_argument("--noise", type=_nonnegative, default=0.1,
                      help="standard deviation of the Gaussian label noise")
    demo.add_argument("--device", default="auto",
                      help="torch device: auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    demo.add_argument("--seed", type=_count(0, 2**32 - 3), default=0,
                      help="seed of the data and the models")
    demo.add_argument("--threads", type=_count(0), default=1,
                      help="torch CPU threads (0: torch's default). One thread is the "
                           "fastest on a loaded machine: torch's default spins idle threads")
    demo.add_argument("--verbose", type=int, default=0, choices=(0, 1, 2),
                      help="0: a progress bar and the table; 1: a progress bar per phase of "
                           "each fit; 2: every training step")
    demo.add_argument("--quiet", action="store_true", help="no progress bar, only the table")
    args = parser.parse_args(argv)
    if args.command == "demo":
        try:
            return _demo(args)
        except ValueError as error:
            # options valid one by one but not together (a link of more
            # directions than --n-features, too few --n-samples to split, an
            # unknown --device): a usage error naming the problem, no traceback
            demo.error(str(error))
    return 2


if __name__ == "__main__":
    sys.exit(main())
