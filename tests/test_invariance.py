"""Units and weight scale do not matter; fits are all-or-nothing.

The estimators standardize internally (``skmim._preprocess``), so rescaling
or shifting a column of ``X``, rescaling ``y`` affinely or rescaling
``sample_weight`` changes the model only by rounding. Checked with
hypothesis (derandomized: the same examples on every run) over every solver
and the projectors, at factors from 1e-6 to 1e6.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import skmim._engine
from skmim import GaussianMultiIndex, MultiIndexNetRegressor, MultiIndexProjector, SpectralProjector
from skmim.metrics import subspace_distance

pytestmark = pytest.mark.filterwarnings("ignore::skmim.SubspaceWarning")

D = 6
RTOL = 1e-6

ESTIMATORS = {
    "refined": lambda: MultiIndexNetRegressor(n_components=2, width=32, max_iter=30,
                                              random_state=0),
    "layerwise": lambda: MultiIndexNetRegressor(solver="layerwise", n_components=2, width=32,
                                                random_state=0),
    "grassmann": lambda: MultiIndexNetRegressor(solver="grassmann", n_components=2, width=32,
                                                max_iter=30, n_init=2, random_state=0),
    "sgd": lambda: MultiIndexNetRegressor(solver="sgd", n_components=2, width=32,
                                          random_state=0),
    "auto": lambda: MultiIndexNetRegressor(width=32, max_iter=30, random_state=0),
    "projector": lambda: MultiIndexProjector(n_components=2, width=32, max_iter=30,
                                             random_state=0),
    "spectral": lambda: SpectralProjector(),
}


@pytest.fixture(scope="module")
def data():
    problem = GaussianMultiIndex(D, "h2+h2", noise=0.1, random_state=0)
    X, y = problem.sample(300, random_state=1)
    w = np.random.RandomState(2).uniform(0.2, 3.0, size=300)
    return X, y, w


_REFERENCE = {}


def reference(name, data):
    """The fit on the given data, computed once per estimator."""
    if name not in _REFERENCE:
        X, y, w = data
        _REFERENCE[name] = ESTIMATORS[name]().fit(X, y, sample_weight=w)
    return _REFERENCE[name]


log_factor = st.floats(min_value=-6.0, max_value=6.0)
transform = st.fixed_dictionaries({
    "x_log_scale": st.lists(log_factor, min_size=D, max_size=D),
    # shifts in units of the rescaled column's spread, up to 1e4 of them
    "x_shift": st.lists(st.floats(min_value=-1e4, max_value=1e4), min_size=D, max_size=D),
    "y_log_scale": log_factor,
    "y_shift": st.floats(min_value=-1e4, max_value=1e4),
    "w_log_scale": log_factor,
})


def assert_close(actual, desired, what):
    scale = max(np.max(np.abs(desired)), 1e-300)
    err = np.max(np.abs(actual - desired)) / scale
    assert err < RTOL, f"{what}: relative difference {err:.3g}"


@pytest.mark.parametrize("name", list(ESTIMATORS))
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=transform)
def test_units_and_weight_scale_do_not_matter(name, data, change):
    X, y, w = data
    ref = reference(name, data)
    c = 10.0 ** np.asarray(change["x_log_scale"])
    shift = c * np.asarray(change["x_shift"])
    a, b = 10.0 ** change["y_log_scale"], change["y_shift"]
    X2, y2 = X * c + shift, a * y + b
    model = ESTIMATORS[name]().fit(X2, y2, sample_weight=w * 10.0 ** change["w_log_scale"])
    V = model.subspace_
    assert np.all(np.isfinite(V))
    np.testing.assert_allclose(V.T @ V, np.eye(V.shape[1]), atol=1e-10)
    assert model.n_components_ == ref.n_components_
    # the learned directions in the new coordinates are diag(1 / c) times the
    # old ones, entry by entry; subspace_ is an orthonormal basis of their span
    # (compared in one coordinate system: mapping a basis through diag(c)
    # multiplies its rounding by the condition number of diag(c), up to 1e12)
    assert_close(model.projection_ * c[:, None], ref.projection_, "projection_")
    assert subspace_distance(V, model.projection_) < 1e-8
    assert_close(model.transform(X2), ref.transform(X), "transform")
    if hasattr(model, "predict"):
        pred = model.predict(X2)
        assert np.all(np.isfinite(pred))
        assert_close((pred - b) / a, ref.predict(X), "predictions")


@pytest.mark.parametrize("solver", ["refined", "layerwise", "sgd"])
@pytest.mark.parametrize("factor", [1e-8, 1e8])
def test_extreme_units_float32(data, solver, factor):
    # the raw inputs that used to raise torch's LinAlgError or return NaN
    X, y, _ = data
    model = MultiIndexNetRegressor(solver=solver, n_components=2, width=32, max_iter=30,
                                   dtype="float32", random_state=0).fit(X * factor, y * factor)
    V = model.subspace_
    np.testing.assert_allclose(V.T @ V, np.eye(2), atol=1e-8)
    assert np.all(np.isfinite(model.predict(X * factor)))
    assert model.score(X * factor, y * factor) > 0.5


@pytest.mark.parametrize("name", ["refined", "layerwise", "sgd", "spectral"])
@pytest.mark.parametrize("x_factor, y_factor", [(1e160, 1.0), (1e-170, 1.0), (1e-300, 1e-150),
                                                (1.0, 1e-170), (1e200, 1e200)])
def test_units_across_the_float64_range(data, name, x_factor, y_factor):
    # beyond 1e154 (or below 1e-154) a column's squares over- or underflow
    # float64: the statistics and the equilibration of subspace_ scale them
    # first, so the model is the same and no RuntimeWarning reaches the user
    # (as long as the model's weights in these units, y's unit over x's, are
    # themselves floats: not for x in 1e-300 and y in 1e300)
    X, y, w = data
    ref = reference(name, data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = ESTIMATORS[name]().fit(X * x_factor, y * y_factor, sample_weight=w)
        assert_close(model.projection_ * x_factor, ref.projection_, "projection_")
        assert subspace_distance(model.subspace_, ref.subspace_) < 1e-8
        assert_close(model.transform(X * x_factor), ref.transform(X), "transform")
        if hasattr(model, "predict"):
            assert_close(model.predict(X * x_factor) / y_factor, ref.predict(X), "predictions")


def test_failed_fit_leaves_a_fresh_estimator_unfitted():
    model = MultiIndexNetRegressor(width=32, random_state=0)
    with pytest.raises(ValueError, match="too few samples"):
        model.fit(np.random.RandomState(0).randn(2, 4), [0.0, 1.0])
    assert not hasattr(model, "n_features_in_")
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


def test_failed_refit_leaves_the_model_as_it_was(data):
    X, y, _ = data
    model = MultiIndexNetRegressor(n_components=2, width=32, max_iter=10, random_state=0)
    model.fit(X, y)
    before = dict(model.__dict__)
    with pytest.raises(ValueError, match="too few samples"):
        model.fit(np.random.RandomState(0).randn(2, 9), [0.0, 1.0])
    assert model.__dict__.keys() == before.keys()
    assert all(model.__dict__[key] is before[key] for key in before)
    assert model.predict(X[:5]).shape == (5,)


def test_interrupted_fit_leaves_the_model_as_it_was(data, monkeypatch):
    X, y, _ = data

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    fresh = MultiIndexProjector(n_components=2, width=32, random_state=0)
    fitted = MultiIndexProjector(n_components=2, width=32, max_iter=10, random_state=0).fit(X, y)
    before = dict(fitted.__dict__)
    monkeypatch.setattr(skmim._engine, "fit_network", interrupted)
    for model in (fresh, fitted):
        with pytest.raises(KeyboardInterrupt):
            model.fit(X[:, :4], y)
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)
    assert fitted.__dict__ == before


def test_partial_fit_after_another_solver_is_a_clear_error(data):
    X, y, _ = data
    model = MultiIndexNetRegressor(n_components=2, width=32, max_iter=10, random_state=0)
    model.fit(X, y).set_params(solver="sgd")
    with pytest.raises(ValueError, match="another solver"):
        model.partial_fit(X, y)


def test_string_y_is_a_clear_error(data):
    X, _, _ = data
    y = np.array(["a", "b", "c"] * 100)
    for model in (MultiIndexNetRegressor(width=32), SpectralProjector()):
        with pytest.raises(ValueError, match="y must be numeric"):
            model.fit(X, y)
    # numeric strings are numbers
    y_num = np.array([str(v) for v in np.arange(300.0)], dtype=object)
    SpectralProjector(n_components=1).fit(X, y_num)


def test_read_only_inputs_raise_no_torch_warning(data):
    X, y, w = data
    X, y, w = X.copy(), y.copy(), w.copy()
    for a in (X, y, w):
        a.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MultiIndexNetRegressor(n_components=2, width=32, random_state=0).fit(
            X, y, sample_weight=w)


def test_blockwise_statistics_match_scikit_learn_and_one_pass():
    """The row-block statistics equal the in-memory ones: scikit-learn's shrinkage
    estimators on the whole array, and one standardization of all rows."""
    from sklearn.covariance import ledoit_wolf, oas

    import skmim._engine._stats as stats_module
    import skmim._preprocess as pre

    rng = np.random.RandomState(0)
    X = rng.randn(3000, 12) @ rng.randn(12, 12) * rng.uniform(0.1, 10, 12) + 5.0
    y, w = rng.randn(3000), rng.uniform(0.5, 2.0, 3000)
    for method, reference in (("ledoit_wolf", ledoit_wolf), ("oas", oas)):
        stats = pre.fit_statistics(X, y, w, method)
        ws = w / w.sum()
        Z = (X - stats.x_mean) / stats.x_scale * np.sqrt(w / w.mean())[:, None]
        C, _ = reference(Z, assume_centered=True)
        np.testing.assert_allclose(stats.whitening @ C @ stats.whitening, np.eye(12),
                                   atol=1e-9)
        np.testing.assert_allclose(stats.x_mean, ws @ X, rtol=1e-12)
        # blocks of a few rows give the same standardized copy and statistics
        old = stats_module.BLOCK_VALUES
        try:
            stats_module.BLOCK_VALUES = 50
            small = pre.fit_statistics(X, y, w, method)
            copy = pre.standardized_copy(X, small)
        finally:
            stats_module.BLOCK_VALUES = old
        np.testing.assert_allclose(small.whitening, stats.whitening, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(copy, pre.standardize_rows(X, stats), rtol=1e-9, atol=1e-9)


def test_group_rows_in_place_equals_fancy_indexing():
    # the standardized copy's rows grouped by part in place (the smaller part
    # set aside) equal the copy A[order], for either part the smaller
    from skmim._preprocess import group_rows

    rng = np.random.RandomState(0)
    for n, fraction in [(1, 0.0), (2, 0.5), (9, 0.2), (2500, 0.1), (2500, 0.5), (2500, 0.9),
                        (40000, 0.15)]:
        A = rng.randn(n, 60)  # blocks of 2 ** 21 / 60 rows: several at the largest n
        second = rng.rand(n) < fraction
        first, second = np.flatnonzero(~second), np.flatnonzero(second)
        expected = A[np.concatenate([first, second])]
        out = group_rows(A, first, second)
        assert out is A
        np.testing.assert_array_equal(A, expected)
    with pytest.raises(ValueError, match="partition"):
        group_rows(np.zeros((3, 2)), np.array([0]), np.array([1]))
