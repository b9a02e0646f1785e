"""Onset of recovery: skmim and pHd against the optimal spectral method and Bayes-optimal
GAMP, around the information-theoretic weak-recovery threshold ``alpha_c``.

    PYTHONPATH=. python benchmarks/onset.py            # d = 256, 5 seeds (6.5 minutes, one thread)
    PYTHONPATH=. python benchmarks/onset.py --quick    # d = 128, 2 seeds, fewer ratios (40 s)
    PYTHONPATH=. python benchmarks/onset.py --links h2+h2 --ratios 2 4 --seeds 0

For each link (``h2+h2``, ``z1*z2``, ``h2*h2``, ``h4+h4``), ratio ``n / d`` and seed:
``GaussianMultiIndex(d, link, noise=0.1, random_state=seed).sample(n,
random_state=seed + 100)`` with ``n = round(ratio * d)``, and the subspace distance
(``skmim.metrics.subspace_distance``) to the true subspace of

- ``skmim``: ``MultiIndexNetRegressor(n_components=r, random_state=seed)``, the default;
- ``phd``: statsmodels' pHd, exactly as in ``benchmarks/methods.py`` (imported from there);
- ``spectral-opt``: the optimal spectral method with the link and the noise known
  (``onset_references.optimal_spectral``, Defilippis et al. 2025);
- ``gamp``: Bayes-optimal GAMP from a random start, link and noise known
  (``onset_references.gamp``; only for the quadratic links ``h2+h2`` and ``z1*z2``).

``alpha_c`` (``onset_references.alpha_c``, Troiani et al. 2025) is printed and drawn as a
vertical line. The two references know what skmim does not (the link and the noise level):
they mark what is possible, not a fair competitor.

Outputs (under ``--out``, default ``docs/_static/benchmarks``): ``onset.csv`` (one row per
fit: link, d, ratio, seed, method, distance, fit_time, alpha_c, info) and ``onset.png``
(median distance against ``n / d``, one panel per link); ``--quick`` writes
``onset_quick.{csv,png}`` instead. ``python benchmarks/run.py --report-only`` puts
``onset.csv`` in ``docs/benchmarks.md``. Everything runs on one thread.
"""

import argparse
import csv
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
for _path in (ROOT, HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402

import methods  # noqa: E402
import onset_references as ref  # noqa: E402
import skmim  # noqa: E402
from skmim._links import LINKS  # noqa: E402
from skmim.metrics import subspace_distance  # noqa: E402

DEFAULT_OUT = os.path.join(ROOT, "docs", "_static", "benchmarks")
NOISE = 0.1
RATIOS = {
    "h2+h2": (1, 1.5, 2, 3, 4, 6, 8),
    "z1*z2": (1, 1.5, 2, 3, 4, 6, 8),
    "h2*h2": (2, 4, 8, 12, 16, 20),
    "h4+h4": (2, 4, 8, 12, 16, 20),
}
QUICK_RATIOS = {"h2+h2": (1, 2, 4, 8), "z1*z2": (1, 2, 4), "h2*h2": (4, 12), "h4+h4": (4, 12)}
GAMP_LINKS = ("h2+h2", "z1*z2")
METHODS = ("skmim", "phd", "spectral-opt", "gamp")
LABELS = {
    "skmim": "skmim default",
    "phd": "statsmodels pHd",
    "spectral-opt": "optimal spectral (link known)",
    "gamp": "Bayes-optimal GAMP (link known)",
}
FIELDS = ("link", "d", "ratio", "seed", "method", "distance", "fit_time", "alpha_c", "info")


def _fit_skmim(X, y, r, seed, link, moments):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = skmim.MultiIndexNetRegressor(n_components=r, random_state=seed).fit(X, y)
    names = sorted({w.category.__name__ for w in caught})
    return model.subspace_, ("warnings=" + "+".join(names) if names else "")


def _fit_phd(X, y, r, seed, link, moments):
    Q, _ = methods._statsmodels("phd")(X, y, r)
    return Q, ""


def _fit_spectral(X, y, r, seed, link, moments):
    return ref.optimal_spectral(X, y, link, NOISE, r, moments=moments), ""


def _fit_gamp(X, y, r, seed, link, moments):
    Q, info = ref.gamp(X, y, link, NOISE, r, random_state=seed, return_info=True)
    return Q, f"n_iter={info['n_iter']};converged={info['converged']}"


FIT = {"skmim": _fit_skmim, "phd": _fit_phd, "spectral-opt": _fit_spectral, "gamp": _fit_gamp}


def run(links, ratios, seeds, d, methods_run, csv_path):
    """Fit every (link, ratio, seed, method); write and return the rows."""
    rows = []
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for link in links:
            r = LINKS[link][0]
            moments = ref.conditional_second_moment(link, NOISE)
            a_c = ref.alpha_c(link, NOISE, moments=moments)
            for ratio in ratios[link]:
                n = int(round(ratio * d))
                for seed in seeds:
                    problem = skmim.GaussianMultiIndex(d, link, noise=NOISE, random_state=seed)
                    X, y = problem.sample(n, random_state=seed + 100)
                    for method in methods_run:
                        if method == "gamp" and link not in GAMP_LINKS:
                            continue
                        t0 = time.perf_counter()
                        Q, info = FIT[method](X, y, r, seed, link, moments)
                        row = dict(link=link, d=d, ratio=ratio, seed=seed, method=method,
                                   distance=subspace_distance(Q, problem.subspace),
                                   fit_time=time.perf_counter() - t0, alpha_c=a_c, info=info)
                        writer.writerow(row)
                        fh.flush()
                        rows.append(row)
                    print(f"{link:6s} n/d={ratio:<4g} seed={seed}: " + "  ".join(
                        f"{x['method']} {x['distance']:.3f}" for x in rows
                        if (x["link"], x["ratio"], x["seed"]) == (link, ratio, seed)),
                        flush=True)
    return rows


def summarize(rows, seeds):
    """Print the alpha_c table, the per-seed distances and the medians."""
    links = list(dict.fromkeys(x["link"] for x in rows))
    methods_run = [m for m in METHODS if any(x["method"] == m for x in rows)]
    print("\nalpha_c = n/d of weak recovery (1/alpha_c = top eigenvalue of "
          "M -> E_y[G M G], G = E[zz^T|y] - I), noise 0.1:")
    for link in links:
        print(f"  {link:6s} {next(x['alpha_c'] for x in rows if x['link'] == link):.3f}")
    print("\nper seed (seeds " + " ".join(str(s) for s in seeds) + "):")
    for link in links:
        for ratio in dict.fromkeys(x["ratio"] for x in rows if x["link"] == link):
            for m in methods_run:
                vals = [x["distance"] for x in rows if (x["link"], x["ratio"], x["method"])
                        == (link, ratio, m)]
                if vals:
                    print(f"  {link:6s} n/d={ratio:<4g} {m:13s} "
                          + " ".join(f"{v:.3f}" for v in vals))
    print("\nmedian distance over seeds:")
    print(f"  {'link':6s} {'n/d':>5s} " + " ".join(f"{m:>13s}" for m in methods_run))
    for link in links:
        for ratio in dict.fromkeys(x["ratio"] for x in rows if x["link"] == link):
            cells = []
            for m in methods_run:
                vals = [x["distance"] for x in rows if (x["link"], x["ratio"], x["method"])
                        == (link, ratio, m)]
                cells.append(f"{np.median(vals):13.3f}" if vals else f"{'':13s}")
            print(f"  {link:6s} {ratio:5g} " + " ".join(cells))


def plot(rows, path):
    """One panel per link: median distance against n/d, a dashed line at alpha_c."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    links = list(dict.fromkeys(x["link"] for x in rows))
    ncol = min(2, len(links))
    nrow = int(np.ceil(len(links) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.6 * nrow), squeeze=False)
    markers = {"skmim": "o", "phd": "v", "spectral-opt": "^", "gamp": "s"}
    for ax, link in zip(axes.ravel(), links):
        part = [x for x in rows if x["link"] == link]
        for m in METHODS:
            ratios = sorted({x["ratio"] for x in part if x["method"] == m})
            if not ratios:
                continue
            med = [np.median([x["distance"] for x in part
                              if x["method"] == m and x["ratio"] == q]) for q in ratios]
            ax.plot(ratios, med, marker=markers[m], ms=4, lw=2.0 if m == "skmim" else 1.2,
                    label=LABELS[m])
        a_c = part[0]["alpha_c"]
        ax.axvline(a_c, color="k", ls="--", lw=1, label=r"$\alpha_c$")
        ax.set_xscale("log", base=2)
        ticks = sorted({x["ratio"] for x in part})
        ax.set_xticks(ticks, [f"{q:g}" for q in ticks])
        ax.minorticks_off()
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{link}, d={part[0]['d']}, noise {NOISE}, " + rf"$\alpha_c$={a_c:.2f}")
        ax.set_xlabel("n / d")
        ax.set_ylabel("subspace distance (median)")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(links):]:
        ax.axis("off")
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="d = 128, seeds 0 1, fewer ratios; writes onset_quick.*")
    parser.add_argument("--d", type=int, default=None, help="dimension (default 256)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds (default 0 1 2 3 4)")
    parser.add_argument("--ratios", type=float, nargs="+", default=None,
                        help="n/d for every link (default: per link, see RATIOS)")
    parser.add_argument("--links", nargs="+", default=list(RATIOS), choices=list(RATIOS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    d = args.d or (128 if args.quick else 256)
    seeds = args.seeds if args.seeds is not None else ([0, 1] if args.quick else [0, 1, 2, 3, 4])
    table = QUICK_RATIOS if args.quick else RATIOS
    ratios = {link: tuple(args.ratios) if args.ratios else table[link] for link in args.links}
    stem = "onset_quick" if args.quick else "onset"
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, f"{stem}.csv")
    t0 = time.perf_counter()
    rows = run(args.links, ratios, seeds, d, args.methods, csv_path)
    wall = time.perf_counter() - t0
    summarize(rows, seeds)
    plot(rows, os.path.join(args.out, f"{stem}.png"))
    print(f"\nwrote {csv_path} and {stem}.png; {len(rows)} fits in {wall:.0f} s "
          f"(one thread, d = {d})")


if __name__ == "__main__":
    main()
