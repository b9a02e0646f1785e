"""Fitting on dask arrays: every pass blockwise, the same model as in memory.

The stage split is the content hash of each row and every statistic is a
sum over rows, so a fit on ``da.from_array(X)`` must equal the fit on ``X``
up to the order of the sums (float64: 1e-8), whatever the chunks, on the
threaded scheduler and on a ``dask.distributed`` cluster; and it must never
pull ``X`` to the client.
"""

import numpy as np
import pytest

from skmim import (
    GaussianMultiIndex,
    MultiIndexNetClassifier,
    MultiIndexNetRegressor,
    MultiIndexProjector,
    SpectralProjector,
)

da = pytest.importorskip("dask.array")

TOL = 1e-8


@pytest.fixture(scope="module")
def data():
    X, y = GaussianMultiIndex(16, "h2+h2", noise=0.1, random_state=0).sample(1500,
                                                                             random_state=1)
    return X, y


@pytest.fixture
def no_materialize(monkeypatch):
    """Fail if anything computes a dask array as a whole (X itself, or np.asarray of it).

    ``.undo()`` lifts the guard (to compute a fitted model's outputs on purpose).
    """

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"a dask array of shape {self.shape} was computed on the client")

    monkeypatch.setattr(da.Array, "__array__", refuse)
    monkeypatch.setattr(da.Array, "compute", refuse)
    return monkeypatch


def _outputs(model, X):
    out = model.predict(X) if hasattr(model, "predict") else model.transform(X)
    return out


@pytest.mark.parametrize("make", [
    lambda: MultiIndexNetRegressor(random_state=0),
    lambda: MultiIndexNetRegressor(solver="layerwise", random_state=0),
    lambda: MultiIndexNetRegressor(solver="grassmann", n_components=2, random_state=0),
    lambda: MultiIndexProjector(n_components=2, random_state=0),
    lambda: SpectralProjector(),
], ids=["refined-auto", "layerwise", "grassmann", "projector", "spectral"])
def test_blockwise_fit_equals_in_memory(data, make, no_materialize):
    X, y = data
    Xd = da.from_array(X, chunks=(400, 7))  # uneven row chunks, split columns
    ref = make().fit(X, y)
    out_ref = _outputs(ref, X)
    model = make().fit(Xd, y)
    assert model.n_components_ == ref.n_components_
    np.testing.assert_allclose(model.subspace_, ref.subspace_, rtol=0, atol=TOL)
    lazy = _outputs(model, Xd)
    assert isinstance(lazy, da.Array)
    no_materialize.undo()  # the fitted model's outputs are computed here, on purpose
    out = lazy.compute()
    np.testing.assert_allclose(out, out_ref, rtol=0, atol=TOL * max(1.0, np.abs(out_ref).max()))


def test_weights_and_dask_targets(data):
    X, y = data
    rng = np.random.default_rng(0)
    sw = rng.exponential(size=y.size)
    sw[::7] = 0.0  # zero weights drop rows, lazily too
    ref = MultiIndexNetRegressor(solver="layerwise", random_state=0).fit(X, y, sample_weight=sw)
    model = MultiIndexNetRegressor(solver="layerwise", random_state=0).fit(
        da.from_array(X, chunks=300), da.from_array(y, chunks=300),
        sample_weight=da.from_array(sw, chunks=300))
    np.testing.assert_allclose(model.subspace_, ref.subspace_, atol=TOL)
    np.testing.assert_allclose(model.predict(X), ref.predict(X), atol=TOL)
    assert model.split_sizes_ == ref.split_sizes_


def test_classifier_blockwise(data, no_materialize):
    X, y = data
    labels = np.array(["low", "mid", "high"])[np.digitize(y, np.quantile(y, [0.33, 0.66]))]
    Xd = da.from_array(X, chunks=500)
    ref = MultiIndexNetClassifier(random_state=0).fit(X, labels)
    model = MultiIndexNetClassifier(random_state=0).fit(Xd, labels)
    np.testing.assert_allclose(model.subspace_, ref.subspace_, atol=TOL)
    proba = model.predict_proba(Xd)
    pred = model.predict(Xd)
    assert isinstance(proba, da.Array) and isinstance(pred, da.Array)
    no_materialize.undo()  # the outputs are computed here, on purpose
    # the subspace agrees to 1e-8 and the labels exactly; the logistic outer
    # layer is an iterative fit (L-BFGS) stopped at its tolerance, where the
    # rounding of other sums leaves differences of ~1e-4 in the probabilities
    np.testing.assert_allclose(proba.compute(), ref.predict_proba(X), atol=2e-3)
    np.testing.assert_array_equal(pred.compute(), ref.predict(X))
    assert model.decision_function(Xd).shape == (X.shape[0], 3)


def test_zarr_store(tmp_path, data):
    pytest.importorskip("zarr")
    X, y = data
    path = str(tmp_path / "features.zarr")
    da.from_array(X, chunks=(250, 16)).to_zarr(path)
    Xz = da.from_zarr(path)
    ref = MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y)
    model = MultiIndexNetRegressor(n_components=2, random_state=0).fit(Xz, y)
    np.testing.assert_allclose(model.subspace_, ref.subspace_, atol=TOL)
    np.testing.assert_allclose(model.predict(Xz).compute(), ref.predict(X), atol=TOL)


def test_distributed_cluster(data):
    distributed = pytest.importorskip("distributed")
    X, y = data
    X, y = X[:800], y[:800]
    ref = MultiIndexNetRegressor(solver="layerwise", random_state=0).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  env={"OMP_NUM_THREADS": "1"}) as cluster, \
            distributed.Client(cluster):
        Xd = da.from_array(X, chunks=300)
        model = MultiIndexNetRegressor(solver="layerwise", random_state=0).fit(Xd, y)
        pred = model.predict(Xd).compute()
    np.testing.assert_allclose(model.subspace_, ref.subspace_, atol=TOL)
    np.testing.assert_allclose(pred, ref.predict(X), atol=TOL)


def test_clear_errors(data):
    X, y = data
    Xd = da.from_array(X, chunks=500)
    with pytest.raises(ValueError, match="solver='sgd'"):
        MultiIndexNetRegressor(solver="sgd").fit(Xd, y)
    with pytest.raises(ValueError, match="device='cuda'"):
        MultiIndexNetRegressor(device="cuda").fit(Xd, y)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        MultiIndexNetRegressor().fit(da.from_array(bad, chunks=500), y)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        MultiIndexNetRegressor().fit(Xd[da.from_array(y > 0, chunks=500)], y[y > 0])
    with pytest.raises(ValueError, match="one value per row"):
        MultiIndexNetRegressor().fit(Xd, y[:-1])
    for empty in (MultiIndexNetRegressor(), SpectralProjector(), MultiIndexNetClassifier()):
        with pytest.raises(ValueError, match="0 feature"):
            empty.fit(Xd[:, :0], y > 0)
    model = MultiIndexNetRegressor(solver="layerwise", random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="expecting 16 features"):
        model.predict(Xd[:, :5])
    assert not hasattr(MultiIndexNetRegressor(), "n_features_in_")


def test_outputs_on_chunks_of_no_rows(data):
    # boolean filtering leaves chunks of no rows: their outputs are empty
    # (before: validate_data's "0 sample(s)" error at compute time)
    X, y = data
    Xd = da.from_array(X, chunks=300)
    keep = X[:, 0] > 1.8
    Xf = Xd[Xd[:, 0] > 1.8]
    model = MultiIndexNetRegressor(solver="layerwise", random_state=0).fit(X, y)
    np.testing.assert_allclose(model.predict(Xf).compute(), model.predict(X[keep]), rtol=1e-12)
    assert model.transform(Xf).compute().shape == (keep.sum(), model.n_components_)
    clf = MultiIndexNetClassifier(random_state=0).fit(X, y > 0)
    np.testing.assert_array_equal(clf.predict(Xf).compute(), clf.predict(X[keep]))
    assert clf.predict_proba(Xf).compute().shape == (keep.sum(), 2)


def test_failed_dask_fit_leaves_nothing(data):
    X, y = data
    model = MultiIndexNetRegressor(solver="sgd")
    with pytest.raises(ValueError):
        model.fit(da.from_array(X, chunks=500), y)
    assert not hasattr(model, "n_features_in_")


@pytest.mark.parametrize("shift", [50.0, 1e6], ids=["folded", "centred"])
def test_units_fold_or_centre(data, shift):
    # column means within 1e3 standard deviations are folded into the passes'
    # matrices; further out the chunks are centred first: both give the
    # in-memory model
    X, y = data
    rng = np.random.default_rng(3)
    Xu = X * rng.uniform(0.01, 100.0, X.shape[1]) + shift * rng.uniform(-1, 1, X.shape[1])
    ref = MultiIndexProjector(n_components=2, random_state=0).fit(Xu, y)
    model = MultiIndexProjector(n_components=2, random_state=0).fit(
        da.from_array(Xu, chunks=(350, 16)), y)
    np.testing.assert_allclose(model.subspace_, ref.subspace_, atol=TOL)
    np.testing.assert_allclose(model.transform(Xu), ref.transform(Xu),
                               atol=TOL * np.abs(ref.transform(Xu)).max())


@pytest.mark.parametrize("factor", [1e-160, 1e160])
@pytest.mark.parametrize("make", [
    lambda: MultiIndexNetRegressor(n_components=2, random_state=0),
    lambda: SpectralProjector(),
], ids=["refined", "spectral"])
def test_columns_in_extreme_units(data, make, factor):
    # a column whose squares over- or underflow float64: the blockwise second
    # moments scale each chunk before its products, as the in-memory fit's
    # standardized copy does (before: a LinAlgError at 1e160, distance 9e-3 at
    # 1e-160)
    X, y = data
    Xu = X.copy()
    Xu[:, 3] *= factor
    ref = make().fit(Xu, y)
    model = make().fit(da.from_array(Xu, chunks=500), y)
    np.testing.assert_allclose(model.subspace_ * np.where(np.arange(16) == 3, factor, 1.0)[:, None],
                               ref.subspace_ * np.where(np.arange(16) == 3, factor, 1.0)[:, None],
                               rtol=0, atol=TOL)
