"""The default fit on an accelerator: time, peak device memory, achieved memory bandwidth (issue 13, item 9).

Draws ``n`` samples of h2+h2 at dimension ``d``, fits
``MultiIndexNetRegressor(device=..., dtype=...)`` (the samples resident on
the device) and reports the fit's wall time, the peak device memory
(``torch.cuda.max_memory_allocated``; on the CPU the growth of the resident
set), the number of passes over ``X`` (calls of the engine's
``Samples.map`` / ``Samples.reduce``, through which every pass goes) and
the memory bandwidth those passes achieve: ``passes x X bytes / fit time``,
a lower bound (it counts each pass reading ``X`` once, nothing else), also
as a fraction of ``--peak-bandwidth`` (GB/s; default: the H200's 4,800).

    PYTHONPATH=. python benchmarks/gpu.py                          # CUDA, d = 4096, n = 10^6, float32
    PYTHONPATH=. python benchmarks/gpu.py --device cpu --n 20000 --d 256

The first fit of a process pays for CUDA's start: a small fit runs first,
outside the measurement.
"""

import argparse
import os
import time

PEAK_BANDWIDTH_GBS = 4800.0  # NVIDIA H200 (HBM3e)


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(n, d, device, dtype, seed=0):
    """One measured fit; returns a dict of the figures."""
    import numpy as np
    import torch

    from skmim import GaussianMultiIndex, MultiIndexNetRegressor
    from skmim._engine import _data
    from skmim.metrics import subspace_distance

    problem = GaussianMultiIndex(d, "h2+h2", noise=0.1, random_state=seed)
    X, y = problem.sample(n, random_state=seed + 1)
    X = X.astype(np.float32 if dtype == "float32" else np.float64)
    MultiIndexNetRegressor(solver="layerwise", device=device, dtype=dtype,
                           random_state=0).fit(X[:2048], y[:2048])
    passes = [0]
    results = _data.Samples._results

    def counted(self, fn, rows):
        passes[0] += 1
        return results(self, fn, rows)

    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss()
    _data.Samples._results = counted
    try:
        t0 = time.perf_counter()
        model = MultiIndexNetRegressor(device=device, dtype=dtype, random_state=0).fit(X, y)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    finally:
        _data.Samples._results = results
    peak = (torch.cuda.max_memory_allocated() - base) if cuda else (_rss() - base)
    x_bytes = n * d * (4 if dtype == "float32" else 8)
    bandwidth = passes[0] * x_bytes / seconds / 1e9
    return {"n": n, "d": d, "device": str(model.device_), "dtype": dtype, "seconds": seconds,
            "peak_GB": peak / 1e9, "X_GB": x_bytes / 1e9, "passes": passes[0],
            "bandwidth_GBs": bandwidth,
            "distance": subspace_distance(model.subspace_, problem.subspace)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=4096)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--peak-bandwidth", type=float, default=PEAK_BANDWIDTH_GBS,
                        help="the device's peak memory bandwidth in GB/s")
    args = parser.parse_args(argv)
    r = measure(args.n, args.d, args.device, args.dtype)
    r["fraction"] = r["bandwidth_GBs"] / args.peak_bandwidth
    print(f"{'n':>9s} {'d':>5s} {'device':>8s} {'dtype':>8s} {'X (GB)':>7s} {'fit (s)':>8s} "
          f"{'peak (GB)':>9s} {'passes':>6s} {'GB/s':>8s} {'of peak':>7s} {'distance':>8s}")
    print(f"{r['n']:9d} {r['d']:5d} {r['device']:>8s} {r['dtype']:>8s} {r['X_GB']:7.2f} "
          f"{r['seconds']:8.2f} {r['peak_GB']:9.2f} {r['passes']:6d} {r['bandwidth_GBs']:8.1f} "
          f"{r['fraction']:7.1%} {r['distance']:8.4f}")
    return r


if __name__ == "__main__":
    main()
