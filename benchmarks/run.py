"""Benchmark suite of skmim (issue 3): one entry point.

    PYTHONPATH=. python benchmarks/run.py --quick     # < 10 min on 2 cores
    PYTHONPATH=. python benchmarks/run.py --targets   # issue-3 target points, d = 256
    PYTHONPATH=. python benchmarks/run.py --full      # everything (hours)
    PYTHONPATH=. python benchmarks/run.py --report-only

Each mode writes ``docs/_static/benchmarks/{results,timing,threads}_<mode>.csv``
and ``meta_<mode>.json``, then rebuilds ``docs/benchmarks.md`` and the PNG
plots from every CSV present (so the report shows the latest run of each
mode). Every fit runs in its own process forked from a preloaded forkserver,
on one thread (torch.set_num_threads(1) and threadpoolctl) unless stated.
"""

import argparse
import csv
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# benchmark the checkout this script lives in
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
# The forkserver is a fresh interpreter that imports the preloaded modules
# before applying the parent's sys.path (CPython 3.11), so pass it by env too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [HERE, ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

import methods  # noqa: E402

ALL_LINKS = ("h2+h2", "z1*z2", "h4+h4", "h2*h2", "h3+h3", "mixed3")
N_TEST = 10_000
# timed in the sweeps: the default, and the paper's layer-wise solver (fixed step count)
SWEEP_METHODS = ("skmim-refined", "skmim-layerwise")

# ----------------------------------------------------------------------------- modes
MODES = {
    "quick": {
        "grid": {
            "d": [64],
            "links": list(ALL_LINKS),
            "ratios": [2, 4, 8, 16, 32],
            "seeds": [0, 1],
            "methods": list(methods.ALL_METHODS),
        },
        # fit time of the default vs n (fixed d) and vs d (fixed n/d)
        "sweep": {
            "link": "h2+h2",
            "seeds": [0],
            "n_at_d": 256,
            "ratios": [4, 8, 16, 32, 64],
            "d_at_ratio": 16,
            "ds": [64, 128, 256, 512],
        },
        # one thread vs all threads
        "threads": {
            "link": "h2+h2", "d": 256, "ratio": 16, "seed": 0,
            "methods": ["skmim-refined", "spectral", "mlp", "xrfm"],
        },
    },
    "targets": {
        "points": [("h2+h2", 8), ("h2+h2", 16), ("mixed3", 16), ("h4+h4", 32)],
        "d": 256,
        "seeds": [0, 1, 2],
        "methods": ["skmim-refined", "skmim-layerwise", "skmim-grassmann", "spectral",
                    "phd", "sir", "save", "mlp", "xrfm"],
    },
    "full": {
        "grid": {
            "d": [64, 256],
            "links": list(ALL_LINKS),
            "ratios": [2, 4, 8, 16, 32, 64],
            "seeds": [0, 1, 2],
            "methods": list(methods.ALL_METHODS),
        },
        "sweep": {
            "link": "h2+h2",
            "seeds": [0, 1, 2],
            "n_at_d": 256,
            "ratios": [2, 4, 8, 16, 32, 64],
            "d_at_ratio": 16,
            "ds": [32, 64, 128, 256, 512, 1024],
        },
        "threads": {
            "link": "h2+h2", "d": 256, "ratio": 16, "seed": 0,
            "methods": ["skmim-refined", "skmim-layerwise", "skmim-grassmann", "spectral",
                        "phd", "sir", "save", "mlp", "xrfm", "krr"],
        },
    },
}


# ----------------------------------------------------------------------------- environment
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(mod):
    try:
        return __import__(mod).__version__
    except Exception:
        return "not installed"


def environment(argv):
    import torch
    from threadpoolctl import threadpool_info

    try:
        rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        rev = "unknown"
    mem_gib = None
    try:
        with open("/proc/meminfo") as fh:
            mem_gib = round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    import skmim

    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": "PYTHONPATH=. python benchmarks/run.py " + " ".join(argv),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": _version("sklearn"),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "statsmodels": _version("statsmodels"),
        "xrfm": _version("xrfm"),
        "skmim": skmim.__version__,
        "skmim_path": os.path.dirname(skmim.__file__),
        "git": rev,
        "blas": sorted({f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info()}),
    }


# ----------------------------------------------------------------------------- tasks
def grid_tasks(cfg, args, avail):
    tasks = []
    g = cfg["grid"]
    for d in g["d"]:
        for link in g["links"]:
            for ratio in g["ratios"]:
                for seed in g["seeds"]:
                    for m in g["methods"]:
                        tasks.append(_task("grid", m, link, d, ratio, seed, 1))
    return tasks


def _task(kind, method, link, d, ratio, seed, threads):
    return {"kind": kind, "method": method, "link": link, "d": int(d), "ratio": ratio,
            "n": int(ratio * d), "seed": int(seed), "threads": int(threads), "n_test": N_TEST}


def target_tasks(cfg):
    return [_task("targets", m, link, cfg["d"], ratio, seed, 1)
            for (link, ratio) in cfg["points"] for seed in cfg["seeds"] for m in cfg["methods"]]


def sweep_tasks(cfg):
    s = cfg["sweep"]
    tasks = []
    for seed in s["seeds"]:
        for m in SWEEP_METHODS:
            for ratio in s["ratios"]:
                tasks.append(_task("sweep_n", m, s["link"], s["n_at_d"], ratio, seed, 1))
            for d in s["ds"]:
                tasks.append(_task("sweep_d", m, s["link"], d, s["d_at_ratio"], seed, 1))
    return tasks


def thread_tasks(cfg):
    t = cfg["threads"]
    out = []
    for threads in (1, os.cpu_count() or 1):
        for m in t["methods"]:
            out.append(_task(f"threads{threads}", m, t["link"], t["d"], t["ratio"], t["seed"],
                             threads))
    return out


def skip_reason(task, args, avail):
    m = task["method"]
    if avail.get(m):
        return avail[m]
    if m == "krr" and task["n"] > args.krr_max_n:
        return f"KernelRidge skipped above n={args.krr_max_n} (dense n x n kernel, 27 O(n^3) fits)"
    if m == "xrfm" and task["n"] > args.xrfm_max_n:
        return f"xRFM skipped above n={args.xrfm_max_n}"
    return None


# ----------------------------------------------------------------------------- execution
FIELDS = ["kind", "method", "link", "d", "ratio", "n", "seed", "threads", "n_test", "fit_time",
          "subspace_time", "peak_mem_mib", "mem_method", "distance", "r2", "info", "error"]


def run_one(ctx, task, timeout):
    import worker

    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=worker.child_main, args=(task, send))
    proc.start()
    send.close()
    row = None
    try:
        if recv.poll(timeout):
            row = recv.recv()
    except EOFError:
        row = None
    if row is None:
        proc.kill()
        proc.join()
        why = "timeout" if proc.exitcode in (None, -9) else f"child died (exit {proc.exitcode})"
        row = dict(task, fit_time=float("nan"), subspace_time=float("nan"),
                   peak_mem_mib=float("nan"), mem_method="", distance=float("nan"),
                   r2=float("nan"), info="", error=f"{why} after {timeout:.0f} s"
                   if why == "timeout" else why)
    else:
        proc.join()
    return row


def execute(ctx, tasks, path, args, avail, label):
    rows = []
    skipped = {}
    todo = []
    for t in tasks:
        why = skip_reason(t, args, avail)
        if why:
            skipped.setdefault(why, 0)
            skipped[why] += 1
        else:
            todo.append(t)
    for why, count in skipped.items():
        print(f"[{label}] skipping {count} fits: {why}", flush=True)
    start = time.perf_counter()
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        for i, t in enumerate(todo, 1):
            row = run_one(ctx, t, args.timeout)
            if row.get("traceback"):
                print(row["traceback"], file=sys.stderr, flush=True)
            writer.writerow(row)
            fh.flush()
            rows.append(row)
            el = time.perf_counter() - start
            print(f"[{label} {i}/{len(todo)} {el:6.0f}s] {t['method']:16s} {t['link']:7s} "
                  f"d={t['d']:<4d} n={t['n']:<6d} seed={t['seed']} thr={t['threads']} "
                  f"fit={row['fit_time']:.2f}s dist={row['distance']:.3f} r2={row['r2']:.3f} "
                  f"mem={row['peak_mem_mib']:.0f}MiB {row['info']} {row['error']}", flush=True)
    return rows, skipped


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="d=64 grid subset, timing sweep, "
                      "threads table (< 10 min on 2 cores)")
    mode.add_argument("--targets", action="store_true", help="issue-3 target points at d=256, "
                      "3 seeds")
    mode.add_argument("--full", action="store_true", help="everything")
    mode.add_argument("--report-only", action="store_true",
                      help="rebuild docs/benchmarks.md and the plots from the CSVs present")
    p.add_argument("--out-dir", default=os.path.join(ROOT, "docs", "_static", "benchmarks"))
    p.add_argument("--report", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per fit (default 600)")
    p.add_argument("--krr-max-n", type=int, default=4096,
                   help="largest n for KernelRidge (default 4096)")
    p.add_argument("--xrfm-max-n", type=int, default=10**9,
                   help="largest n for xRFM (default: no limit)")
    args = p.parse_args(argv)

    import report

    os.makedirs(args.out_dir, exist_ok=True)
    if args.report_only:
        report.build(args.out_dir, args.report)
        return 0
    name = "quick" if args.quick else "targets" if args.targets else "full"
    cfg = MODES[name]
    avail = methods.availability()
    for m, why in avail.items():
        if why:
            print(f"skipping {m}: {why}", flush=True)

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["worker"])
    meta = {"mode": name, "env": environment(argv), "config": cfg,
            "options": {"timeout": args.timeout, "krr_max_n": args.krr_max_n,
                        "xrfm_max_n": args.xrfm_max_n},
            "unavailable": {m: w for m, w in avail.items() if w}, "sections": {}}
    load_before = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    t_all = time.perf_counter()
    sections = []
    if name == "targets":
        sections.append(("results", target_tasks(cfg)))
    else:
        sections.append(("results", grid_tasks(cfg, args, avail)))
        sections.append(("timing", sweep_tasks(cfg)))
        sections.append(("threads", thread_tasks(cfg)))
    for section, tasks in sections:
        t0 = time.perf_counter()
        path = os.path.join(args.out_dir, f"{section}_{name}.csv")
        _, skipped = execute(ctx, tasks, path, args, avail, f"{name}:{section}")
        meta["sections"][section] = {"seconds": round(time.perf_counter() - t0, 1),
                                     "csv": os.path.basename(path), "skipped": skipped}
    meta["seconds"] = round(time.perf_counter() - t_all, 1)
    meta["load_average"] = (f"{load_before} -> "
                            + " / ".join(f"{x:.1f}" for x in os.getloadavg()))
    with open(os.path.join(args.out_dir, f"meta_{name}.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    print(f"{name}: {meta['seconds']:.0f} s", flush=True)
    report.build(args.out_dir, args.report)
    print(f"wrote {args.report}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
