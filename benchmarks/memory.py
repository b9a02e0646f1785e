"""Peak host memory added by ``fit``, in copies of ``X`` (issue 13, item 2).

Each configuration runs in a fresh subprocess: the data are drawn, then a
sampler thread reads the process's resident set size (``/proc/self/statm``)
every 2 ms during ``fit``; the table shows the peak minus the resident size
just before ``fit``, divided by ``X.nbytes``. One torch thread.

    PYTHONPATH=. python benchmarks/memory.py            # the issue's two sizes
    PYTHONPATH=. python benchmarks/memory.py --quick    # n = 50,000, d = 256

Linux only (``/proc``).
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, sys, threading, time
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import torch
torch.set_num_threads(1)
from skmim import GaussianMultiIndex, MultiIndexNetRegressor
from skmim.metrics import subspace_distance

n, d, kwargs = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
page = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page

problem = GaussianMultiIndex(d, "h2+h2", noise=0.1, random_state=0)
X, y = problem.sample(n, random_state=1)
# warm up torch's allocator and kernels on a small fit, outside the measurement
MultiIndexNetRegressor(n_components=2, random_state=0, **kwargs).fit(X[:2048], y[:2048])
peak, running = [0], [True]

def sample():
    while running[0]:
        peak[0] = max(peak[0], rss())
        time.sleep(0.002)

base = rss()
thread = threading.Thread(target=sample, daemon=True)
thread.start()
t0 = time.perf_counter()
model = MultiIndexNetRegressor(n_components=2, random_state=0, **kwargs).fit(X, y)
elapsed = time.perf_counter() - t0
running[0] = False
thread.join()
print(json.dumps({"added": (max(peak[0], rss()) - base) / X.nbytes, "seconds": elapsed,
                  "distance": subspace_distance(model.subspace_, problem.subspace),
                  "X_MB": X.nbytes / 2**20}))
"""


def measure(n, d, kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(d), json.dumps(kwargs)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 50,000, d = 256 only")
    args = parser.parse_args(argv)
    sizes = [(50_000, 256)] if args.quick else [(200_000, 256), (32_768, 2048)]
    variants = [("default", {}), ("batch_size=8192", {"batch_size": 8192})]
    print(f"{'n':>8s} {'d':>5s} {'variant':>16s} {'X (MB)':>8s} {'added (X)':>10s} "
          f"{'fit (s)':>8s} {'distance':>9s}")
    for n, d in sizes:
        for name, kwargs in variants:
            r = measure(n, d, kwargs)
            print(f"{n:8d} {d:5d} {name:>16s} {r['X_MB']:8.0f} {r['added']:10.2f} "
                  f"{r['seconds']:8.1f} {r['distance']:9.4f}", flush=True)


if __name__ == "__main__":
    main()
