"""Parallel model selection: a grid search over joblib backends.

What docs/user_guide/parallel.rst promises: the estimators need nothing but
picklability and determinism to run in other processes, so a
``GridSearchCV`` gives the same result serially, over loky worker processes
and over a dask.distributed cluster. Small problems keep this under 30 s on
2 cores (most of it is starting the worker processes, which import torch).
"""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skmim import GaussianMultiIndex, MultiIndexNetRegressor

GRID = {"n_steps": [1, 3], "loss": ["huber", "abs"]}


@pytest.fixture(scope="module")
def data():
    problem = GaussianMultiIndex(8, "h2+h2", noise=0.1, random_state=0)
    return problem.sample(400, random_state=1)


def _search():
    estimator = MultiIndexNetRegressor(
        n_components=2, solver="layerwise", width=32, device="auto", random_state=0
    )
    return GridSearchCV(estimator, GRID, cv=2)


@pytest.fixture(scope="module")
def serial(data):
    return _search().fit(*data)


def _assert_same_search(parallel, serial):
    assert parallel.best_params_ == serial.best_params_
    # same seed, same data, same device: same models (up to the rounding of a
    # different thread count in the workers)
    np.testing.assert_allclose(
        parallel.cv_results_["mean_test_score"],
        serial.cv_results_["mean_test_score"],
        rtol=1e-8,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        parallel.best_estimator_.subspace_, serial.best_estimator_.subspace_, atol=1e-8
    )


def test_grid_search_loky(data, serial):
    with joblib.parallel_config(backend="loky", n_jobs=2):
        parallel = _search().fit(*data)
    _assert_same_search(parallel, serial)


def test_grid_search_dask_local_cluster(data, serial):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env={"OMP_NUM_THREADS": "1"},
    ) as cluster, distributed.Client(cluster):
        with joblib.parallel_config(backend="dask"):
            parallel = _search().fit(*data)
    _assert_same_search(parallel, serial)
