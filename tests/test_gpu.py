"""CUDA paths: run where CUDA is available, skip cleanly elsewhere.

``fixtures/gpu_model.pkl`` is a small model fitted on a CUDA device (made by
``fixtures/make_gpu_fixture.py`` on a machine with a GPU). Loading it must work
on a machine without one, as skorch tests its GPU-made pickles. Until such a
fixture is committed, the CPU path of the same loader is tested in
``test_api.py::test_pickle_loads_in_process_without_cuda``.
"""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from skmim import GaussianMultiIndex, MultiIndexNetRegressor
from skmim.metrics import subspace_distance

FIXTURE = Path(__file__).parent / "fixtures" / "gpu_model.pkl"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


@pytest.fixture(scope="module")
def data():
    problem = GaussianMultiIndex(64, "h2+h2", noise=0.1, random_state=0)
    X, y = problem.sample(64 * 16, random_state=1)
    return problem, X, y


@needs_cuda
@pytest.mark.parametrize("solver", ["refined", "layerwise", "grassmann", "sgd"])
def test_cuda_fit_matches_cpu(data, solver):
    problem, X, y = data
    kw = dict(solver=solver, n_components=2, random_state=0, dtype="float64")
    gpu = MultiIndexNetRegressor(device="cuda", **kw).fit(X, y)
    cpu = MultiIndexNetRegressor(device="cpu", **kw).fit(X, y)
    assert gpu.device_.startswith("cuda")
    assert subspace_distance(gpu.subspace_, cpu.subspace_) < 1e-4
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-5, atol=1e-6)


@needs_cuda
def test_cuda_float32_and_chunking(data):
    problem, X, y = data
    model = MultiIndexNetRegressor(device="cuda", dtype="float32", batch_size=256,
                                   n_components=2, random_state=0).fit(X, y)
    assert subspace_distance(model.subspace_, problem.subspace) < 0.2
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_gpu_made_pickle_loads_here():
    if not FIXTURE.exists():
        pytest.skip("no GPU-made fixture yet (see fixtures/make_gpu_fixture.py)")
    model = pickle.loads(FIXTURE.read_bytes())
    assert model.device_.startswith("cuda")
    problem = GaussianMultiIndex(16, "h2+h2", noise=0.1, random_state=0)
    X, _ = problem.sample(100, random_state=3)
    expected = np.load(FIXTURE.with_suffix(".npy"))
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12)


@needs_cuda
def test_cuda_tensors_stay_on_the_device(data):
    problem, X, y = data
    Xg, yg = torch.tensor(X, device="cuda"), torch.tensor(y, device="cuda")
    model = MultiIndexNetRegressor(n_components=2, device="cuda", random_state=0).fit(Xg, yg)
    pred, Z = model.predict(Xg), model.transform(Xg.float())
    assert pred.device.type == "cuda" and Z.device.type == "cuda" and Z.dtype == torch.float32
    np.testing.assert_allclose(pred.cpu().numpy(), model.predict(X), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(Z.cpu().numpy(), model.transform(X), rtol=1e-4, atol=1e-4)


BENCHMARK = Path(__file__).parent.parent / "benchmarks" / "gpu.py"


@pytest.mark.skipif(not BENCHMARK.exists(), reason="benchmarks/ is not shipped with the tests")
def test_gpu_benchmark_runs_on_cpu():
    # the script the GPU machine runs (issue 13, item 9), exercised on the CPU
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    r = module.main(["--device", "cpu", "--n", "3000", "--d", "24", "--dtype", "float64"])
    assert r["device"] == "cpu" and r["passes"] > 10
    assert r["seconds"] > 0 and r["bandwidth_GBs"] > 0
    assert r["distance"] < 0.2  # h2+h2 at n = 125 d is well recovered
    # the counting hook is removed after the fit
    from skmim._engine import _data

    assert _data.Samples._results.__name__ == "_results"
