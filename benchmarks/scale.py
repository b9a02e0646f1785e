"""Fits past one process's memory: Zarr on disk, a ``dask.distributed`` cluster (issue 13, item 5).

For each ``n`` (d = 256, h2+h2, noise 0.1) the data are written block by
block to a Zarr store (float64, uncompressed, chunks of ``--chunk-rows``
rows; the labels beside them), then ``MultiIndexNetRegressor()`` (the
default) is fitted on ``dask.array.from_zarr`` through a ``LocalCluster``
of 2 single-threaded workers with a memory limit of 3 GB each. The table
reports the fit's wall time, the peak resident memory of each worker and of
the client (growth during the fit), the subspace distance, and beside it
the in-memory NumPy fit (one torch thread) where ``X`` fits in memory
(``n <= --numpy-max``). The log-log slope of the Dask fit time against
``n`` closes the table.

    PYTHONPATH=. python benchmarks/scale.py                       # 10^5 ... 4 x 10^6
    PYTHONPATH=. python benchmarks/scale.py --sizes 100000 200000 --numpy-max 200000

Writes ``benchmarks/results/scale.csv`` and, with matplotlib,
``docs/_static/scale.png``. The stores go to ``--store`` (default a
temporary folder, removed afterwards); the largest is 8 GB. Linux only
(``/proc`` for the client's memory).
"""

import argparse
import csv
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

D = 256
SIZES = [100_000, 200_000, 500_000, 1_000_000, 2_000_000, 4_000_000]
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    """Resident set size of the calling process (bytes)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def write_store(path, problem, n, chunk_rows):
    """``X`` (n x D) and ``y`` into Zarr arrays at ``path``, one chunk of rows at a time."""
    import zarr

    root = zarr.open_group(path, mode="w")
    X = root.create_array("X", shape=(n, D), chunks=(chunk_rows, D), dtype="float64",
                          compressors=None)
    y = root.create_array("y", shape=(n,), chunks=(chunk_rows,), dtype="float64",
                          compressors=None)
    for i, start in enumerate(range(0, n, chunk_rows)):
        stop = min(start + chunk_rows, n)
        Xb, yb = problem.sample(stop - start, random_state=1000 + i)
        X[start:stop] = Xb
        y[start:stop] = yb


class Peaks:
    """Peak RSS of the client and of every worker, sampled every ``interval`` seconds."""

    def __init__(self, client, interval=0.5):
        self.client, self.interval = client, interval
        self.client_base = rss()
        self.client_peak = self.client_base
        self.workers = {}
        self._running = False

    def _sample(self):
        while self._running:
            self.client_peak = max(self.client_peak, rss())
            try:
                for worker, value in self.client.run(rss).items():
                    self.workers[worker] = max(self.workers.get(worker, 0), value)
            except Exception:  # a worker restarting: the next sample sees it
                pass
            time.sleep(self.interval)

    def __enter__(self):
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()


def fit_dask(path, problem, chunk_rows):
    import dask.array as da
    import zarr
    from distributed import Client, LocalCluster

    from skmim import MultiIndexNetRegressor
    from skmim.metrics import subspace_distance

    y = zarr.open_group(path, mode="r")["y"][:]
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="3GB", processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      env={"OMP_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        X = da.from_zarr(path, component="X")
        # warm the workers (torch import) outside the measurement
        MultiIndexNetRegressor(solver="layerwise", random_state=0).fit(X[:4096], y[:4096])
        with Peaks(client) as peaks:
            t0 = time.perf_counter()
            model = MultiIndexNetRegressor(random_state=0).fit(X, y)
            seconds = time.perf_counter() - t0
        workers = sorted(peaks.workers.values())
    return {"dask_s": seconds, "dask_distance": subspace_distance(model.subspace_,
                                                                  problem.subspace),
            "worker_peak_GB": [w / 1e9 for w in workers],
            "client_added_GB": (peaks.client_peak - peaks.client_base) / 1e9}


def fit_numpy(path, problem):
    import torch
    import zarr

    from skmim import MultiIndexNetRegressor
    from skmim.metrics import subspace_distance

    torch.set_num_threads(1)
    group = zarr.open_group(path, mode="r")
    X, y = group["X"][:], group["y"][:]
    t0 = time.perf_counter()
    model = MultiIndexNetRegressor(random_state=0).fit(X, y)
    seconds = time.perf_counter() - t0
    return {"numpy_s": seconds,
            "numpy_distance": subspace_distance(model.subspace_, problem.subspace)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--numpy-max", type=int, default=2_000_000,
                        help="largest n also fitted in memory (NumPy)")
    parser.add_argument("--store", default=None, help="folder for the Zarr stores")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "scale.csv"))
    parser.add_argument("--figure", default=str(Path(__file__).parent.parent / "docs" /
                                                "_static" / "scale.png"))
    args = parser.parse_args(argv)

    from skmim import GaussianMultiIndex

    problem = GaussianMultiIndex(D, "h2+h2", noise=0.1, random_state=0)
    base = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="skmim-scale-"))
    rows = []
    print(f"{'n':>9s} {'X (GB)':>7s} {'dask fit (s)':>12s} {'worker peak (GB)':>17s} "
          f"{'client +GB':>10s} {'distance':>9s} {'numpy fit (s)':>13s} {'distance':>9s}",
          flush=True)
    try:
        for n in args.sizes:
            path = str(base / f"n{n}.zarr")
            write_store(path, problem, n, min(args.chunk_rows, n))
            row = {"n": n, "X_GB": n * D * 8 / 1e9}
            row.update(fit_dask(path, problem, args.chunk_rows))
            if n <= args.numpy_max:
                row.update(fit_numpy(path, problem))
            shutil.rmtree(path)
            rows.append(row)
            peak = "/".join(f"{w:.2f}" for w in row["worker_peak_GB"])
            numpy_part = (f"{row['numpy_s']:13.1f} {row['numpy_distance']:9.4f}"
                          if "numpy_s" in row else f"{'-':>13s} {'-':>9s}")
            print(f"{n:9d} {row['X_GB']:7.2f} {row['dask_s']:12.1f} {peak:>17s} "
                  f"{row['client_added_GB']:10.2f} {row['dask_distance']:9.4f} {numpy_part}",
                  flush=True)
    finally:
        if not args.store:
            shutil.rmtree(base, ignore_errors=True)
    if len(rows) >= 2:
        ln, lt = np.log([r["n"] for r in rows]), np.log([r["dask_s"] for r in rows])
        print(f"log-log slope of the dask fit time in n: {np.polyfit(ln, lt, 1)[0]:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["n", "X_GB", "dask_s", "worker_peak_GB", "client_added_GB",
                         "dask_distance", "numpy_s", "numpy_distance"])
        for r in rows:
            writer.writerow([r["n"], f"{r['X_GB']:.3f}", f"{r['dask_s']:.2f}",
                             "/".join(f"{w:.3f}" for w in r["worker_peak_GB"]),
                             f"{r['client_added_GB']:.3f}", f"{r['dask_distance']:.5f}",
                             f"{r['numpy_s']:.2f}" if "numpy_s" in r else "",
                             f"{r['numpy_distance']:.5f}" if "numpy_s" in r else ""])
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return rows
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ns = np.array([r["n"] for r in rows])
    ax.loglog(ns, [r["dask_s"] for r in rows], "o-", label="Dask (Zarr, 2 workers x 3 GB)")
    numpy_rows = [r for r in rows if "numpy_s" in r]
    if numpy_rows:
        ax.loglog([r["n"] for r in numpy_rows], [r["numpy_s"] for r in numpy_rows], "s--",
                  label="NumPy in memory (1 thread)")
    ax.loglog(ns, rows[0]["dask_s"] * ns / ns[0], ":", color="gray", label="slope 1")
    ax.set_xlabel("n (d = 256)")
    ax.set_ylabel("fit time (s)")
    ax.set_title("MultiIndexNetRegressor() on h2+h2")
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=120)
    return rows


if __name__ == "__main__":
    main()
