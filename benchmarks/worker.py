"""One fit, measured, in a fresh child process.

``run.py`` starts a ``forkserver`` that has imported this module (and with it
torch, scikit-learn, statsmodels and xrfm) once; every fit then runs in its
own process forked from that server, so that

- allocator state and caches of earlier fits cannot leak into a measurement;
- the peak memory of the fit is the growth of the process's resident set:
  Linux ``VmHWM`` (peak RSS) is reset through ``/proc/self/clear_refs`` after
  the data are generated, and ``VmHWM - VmRSS(before fit)`` is reported. This
  counts every allocation (NumPy, torch, BLAS workspaces), unlike tracemalloc,
  which does not see torch tensors. Where the reset is refused the fallback is
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` minus the RSS before the fit
  (then an upper bound, because data generation is included); the row says
  which in ``mem_method``.
"""

import gc
import resource
import time
import traceback

import numpy as np
import torch  # noqa: F401  (imported here so that the forkserver preloads it)
from threadpoolctl import threadpool_limits

import skmim
from skmim.metrics import subspace_distance

import methods

for _mod in ("statsmodels.regression.dimred", "xrfm", "sklearn.neural_network",
             "sklearn.kernel_ridge", "sklearn.model_selection",
             "sklearn.kernel_approximation"):
    try:  # preload, so forked children do not pay the import
        __import__(_mod)
    except Exception:
        pass

PREDICT_CHUNK = 4096


def _warm_up():
    """Run the lazy initializations (torch kernels, LAPACK, sklearn) once, on one thread."""
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        X, y = skmim.GaussianMultiIndex(8, "h2+h2", random_state=0).sample(256, random_state=0)
        skmim.MultiIndexNetRegressor(n_components=2, width=16, random_state=0,
                                     device="cpu").fit(X, y).predict(X)
        np.linalg.eigh(X.T @ X)
        np.linalg.svd(X, full_matrices=False)


_warm_up()
# Everything imported so far is shared by every forked child: take it out of the
# collector's view, so that the collection before each measurement is cheap.
gc.collect()
gc.freeze()


def _status_kib(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def make_data(link, d, n, seed, n_test):
    """Training and test data of one problem instance (deterministic in ``seed``)."""
    problem = skmim.GaussianMultiIndex(d, link, noise=0.1, random_state=seed)
    X, y = problem.sample(n, random_state=10_000 + seed)
    Xt, yt = problem.sample(n_test, random_state=20_000 + seed)
    return problem, X, y, Xt, yt


def _r2(predict, Xt, yt):
    pred = np.concatenate([np.asarray(predict(Xt[i:i + PREDICT_CHUNK]), dtype=float).reshape(-1)
                           for i in range(0, Xt.shape[0], PREDICT_CHUNK)])
    if not np.all(np.isfinite(pred)):
        return float("nan")
    return float(1.0 - np.sum((yt - pred) ** 2) / np.sum((yt - yt.mean()) ** 2))


def run_task(task):
    """Fit ``task["method"]`` on one problem; return a result row (dict)."""
    row = dict(task)
    threads = int(task["threads"])
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            problem, X, y, Xt, yt = make_data(task["link"], task["d"], task["n"], task["seed"],
                                              task["n_test"])
            r = problem.n_directions
            gc.collect()
            exact = _reset_peak()
            rss0 = _status_kib("VmRSS")
            t0 = time.perf_counter()
            fitted = methods.FIT[task["method"]](X, y, r, task["seed"], threads)
            fit_time = time.perf_counter() - t0
            if exact:
                peak = _status_kib("VmHWM") - rss0
                row["mem_method"] = "VmHWM-reset"
            else:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
                row["mem_method"] = "ru_maxrss"
            row["fit_time"] = fit_time
            row["subspace_time"] = fitted.subspace_time if fitted.subspace_time is not None \
                else (fit_time if fitted.subspace is not None else float("nan"))
            row["peak_mem_mib"] = peak / 1024.0
            row["distance"] = (subspace_distance(fitted.subspace, problem.subspace)
                               if fitted.subspace is not None else float("nan"))
            row["r2"] = _r2(fitted.predict, Xt, yt)
            row["info"] = fitted.info
            row["error"] = ""
    except Exception as exc:  # a failing method is recorded, not fatal
        row.update(fit_time=float("nan"), subspace_time=float("nan"), peak_mem_mib=float("nan"),
                   distance=float("nan"), r2=float("nan"), info="",
                   error=f"{exc.__class__.__name__}: {exc}".replace("\n", " ")[:300])
        row["traceback"] = traceback.format_exc()
    return row


def child_main(task, conn):
    try:
        conn.send(run_task(task))
    finally:
        conn.close()
