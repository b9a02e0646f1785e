"""The figures behind issue 12's checks that are not in another benchmark.

Prints, one thread:

1. confirmation on pure noise (y independent of X, n = 400, d = 20, 12 data
   sets): how often the best refinement's held-out loss is below the mean's
   (a bare comparison) and how often it is by two standard errors (the rule);
2. ``n_components="auto"`` on ``make_friedman1(n_samples=4000,
   n_features=100)``: the dimension found and the test R^2;
3. heavy-tailed noise, ``y = tanh(2 u.x) + t_2`` (Student-t, 2 degrees of
   freedom), d = 200, n = 16 d, seeds 0-4: medians of the subspace distance and
   of the R^2 against the noiseless signal, squared and Huber outer layer; and
   the Cramer-Rao distance of an estimator that knows link and noise law,
   and the distance of the best first-order preprocessing ``E[z | y]``;
4. the spectral start of each stage-1 loss on ``(u.x)^2 + t_2`` (same sizes,
   seeds 0-2);
5. the fit-time cost of the ``"rank"`` candidate at d = 256, n = 16 d.

About two minutes on 2 cores::

    PYTHONPATH=. python benchmarks/sweeps/real_table_checks.py
"""

import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, HERE)
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import make_friedman1  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import skmim._base as base  # noqa: E402
from skmim import GaussianMultiIndex, MultiIndexNetRegressor, MultiIndexProjector  # noqa: E402
from skmim.metrics import subspace_distance  # noqa: E402

torch.set_num_threads(1)


def heldout_records():
    """Fit a default regressor and return its engine's ``heldout`` triple."""
    seen = {}
    original = base.BaseMultiIndex._warn_model

    def record(self, fit, *args):
        seen["heldout"] = fit.heldout
        return original(self, fit, *args)

    return seen, original, record


def confirmation():
    seen, original, record = heldout_records()
    base.BaseMultiIndex._warn_model = record
    bare = rule = 0
    try:
        for seed in range(12):
            rng = np.random.RandomState(seed)
            X, y = rng.randn(400, 20), rng.randn(400)
            MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y)
            best, mean, z = seen["heldout"]
            bare += best < mean
            rule += z < -base.CONFIRM_Z
    finally:
        base.BaseMultiIndex._warn_model = original
    print(f"1. pure noise, 12 data sets: best refinement below the mean's held-out loss "
          f"on {bare}, by {base.CONFIRM_Z:g} standard errors on {rule}")


def friedman1():
    X, y = make_friedman1(n_samples=8000, n_features=100, noise=1.0, random_state=0)
    model = MultiIndexNetRegressor(random_state=0).fit(X[:4000], y[:4000])
    print(f"2. friedman1 (n = 4000, d = 100): n_components_ = {model.n_components_}, "
          f"test R^2 {model.score(X[4000:], y[4000:]):.3f}")


def heavy_tails(d=200, n=3200):
    rows = {"squared": [], "huber": []}
    for seed in range(5):
        rng = np.random.RandomState(seed)
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        X, Xt = rng.standard_normal((n, d)), rng.standard_normal((5000, d))
        y = np.tanh(2 * X @ u) + rng.standard_t(2, size=n)
        ft = np.tanh(2 * Xt @ u)
        for outer in rows:
            model = MultiIndexNetRegressor(outer_loss=outer, random_state=0).fit(X, y)
            r2 = 1 - np.mean((model.predict(Xt) - ft) ** 2) / np.var(ft)
            rows[outer].append((subspace_distance(model.subspace_, u[:, None]), r2))
    for outer, vals in rows.items():
        dist, r2 = np.median(np.array(vals), axis=0)
        print(f"3. tanh(2 u.x) + t_2, d = {d}, n = {n}, outer_loss={outer!r}: median distance "
              f"{dist:.3f}, median R^2 vs the noiseless signal {r2:.3f}")
    z = np.random.RandomState(0).standard_normal(4_000_000)
    info = np.mean((2 / np.cosh(2 * z) ** 2) ** 2) * 3 / 5  # E[g'^2] x Fisher info of t_2
    tan = np.sqrt((d - 1) / (n * info))
    print(f"   Cramer-Rao distance knowing link and noise law: {tan / np.sqrt(1 + tan * tan):.3f}")
    # the best first-order preprocessing E[z | y] (400 quantile bins of y):
    # its correlation rho with z gives tan^2 = (d / n) (1 - rho^2) / rho^2
    y = np.tanh(2 * z[:2_000_000]) + np.random.RandomState(1).standard_t(2, size=2_000_000)
    m = np.empty_like(y)
    for part in np.array_split(np.argsort(y), 400):
        m[part] = z[part].mean()
    rho2 = m.var()
    tan = np.sqrt(d / n * (1 - rho2) / rho2)
    print(f"   best first-order preprocessing E[z|y]: rho^2 {rho2:.3f}, distance "
          f"{tan / np.sqrt(1 + tan * tan):.3f}")


def rank_start(d=200, n=3200):
    for seed in range(3):
        rng = np.random.RandomState(seed)
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        X = rng.standard_normal((n, d))
        y = (X @ u) ** 2 + rng.standard_t(2, size=n)
        dist = {loss: subspace_distance(
            MultiIndexProjector(n_components=1, loss=loss, solver="layerwise",
                                random_state=0).fit(X, y).subspace_, u[:, None])
            for loss in ("squared", "huber", "abs", "rank")}
        print(f"4. (u.x)^2 + t_2, seed {seed}, layerwise start: "
              + ", ".join(f"{k} {v:.3f}" for k, v in dist.items()))


def rank_cost():
    for link, r in (("h2+h2", 2), ("mixed3", 3)):
        problem = GaussianMultiIndex(256, link, noise=0.1, random_state=0)
        X, y = problem.sample(16 * 256, random_state=1)
        times = {}
        for label, losses in (("without rank", ("squared", "huber", "abs")),
                              ("with rank", ("squared", "huber", "abs", "rank"))):
            saved, base.STAGE1_LOSSES = base.STAGE1_LOSSES, losses
            try:
                best = np.inf
                for _ in range(2):
                    t = time.process_time()
                    model = MultiIndexNetRegressor(n_components=r, random_state=0).fit(X, y)
                    best = min(best, time.process_time() - t)
            finally:
                base.STAGE1_LOSSES = saved
            times[label] = (best, subspace_distance(model.subspace_, problem.subspace))
        (t0, d0), (t1, d1) = times["without rank"], times["with rank"]
        print(f"5. {link}, d = 256, n = 16 d: CPU {t0:.2f} s -> {t1:.2f} s with 'rank' "
              f"({100 * (t1 / t0 - 1):+.0f} %), distance {d0:.4f} -> {d1:.4f}")


if __name__ == "__main__":
    with threadpool_limits(1):
        confirmation()
        friedman1()
        heavy_tails()
        rank_start()
        rank_cost()
