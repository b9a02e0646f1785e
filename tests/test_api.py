"""Behaviour a scikit-learn user relies on: pipelines, search, pickling, errors."""

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmim import (
    GaussianMultiIndex,
    MultiIndexNetRegressor,
    MultiIndexProjector,
    SpectralProjector,
    SubspaceWarning,
)


@pytest.fixture(scope="module")
def data():
    problem = GaussianMultiIndex(16, "h2+h2", noise=0.1, random_state=0)
    X, y = problem.sample(1200, random_state=1)
    return problem, X, y


def small(**kw):
    return MultiIndexNetRegressor(**{"width": 64, "random_state": 0, **kw})


def test_fit_attributes(data):
    _, X, y = data
    model = small(n_components=2).fit(X, y)
    assert model.subspace_.shape == (16, 2)
    np.testing.assert_allclose(model.subspace_.T @ model.subspace_, np.eye(2), atol=1e-10)
    assert model.transform(X).shape == (1200, 2)
    assert model.predict(X).shape == (1200,)
    assert model.hidden_weights_.shape == (64, 16)
    assert model.output_weights_.shape == (64,)
    assert model.n_iter_ > len(model.history_["rayleigh"]) > 0
    assert set(model.history_) == {"loss", "rayleigh", "concentration", "subspace_change"}
    # n_iter_: stage-1 steps, refinement steps, and the steps the refinement
    # was continued on all samples (at most those to its best held-out loss)
    val_loss = model.refine_history_["val_loss"]
    continued = model.n_iter_ - len(model.history_["loss"]) - len(val_loss)
    assert 0 <= continued <= int(np.argmin(val_loss))
    assert list(model.get_feature_names_out()) == ["multiindexnetregressor0",
                                                   "multiindexnetregressor1"]
    # power iteration raises the per-neuron Rayleigh quotient
    assert model.history_["rayleigh"][-1] > model.history_["rayleigh"][0]


def test_auto_components_finds_two_directions(data):
    _, X, y = data
    assert small().fit(X, y).n_components_ == 2
    assert SpectralProjector().fit(X, y).n_components_ == 2


def test_reproducible_with_random_state(data):
    _, X, y = data
    a, b = small(n_components=2).fit(X, y), small(n_components=2).fit(X, y)
    np.testing.assert_array_equal(a.subspace_, b.subspace_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    c = MultiIndexNetRegressor(width=64, n_components=2, random_state=1).fit(X, y)
    assert not np.array_equal(a.predict(X), c.predict(X))


def test_clone_and_pickle_round_trip(data):
    _, X, y = data
    model = small(n_components=2).fit(X, y)
    assert clone(model).get_params() == model.get_params()
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_fitted_state_is_plain_numpy(data):
    # what makes a model trained on a GPU load on a machine without one
    _, X, y = data
    model = small(n_components=2).fit(X, y)
    for name, value in vars(model).items():
        assert "torch" not in type(value).__module__, name


def _pickled(data, tmp_path):
    """A fitted model, and the paths of its pickle and of 50 rows of ``X``."""
    _, X, y = data
    model = small(n_components=2).fit(X, y)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    np.save(tmp_path / "X.npy", X[:50])
    return model, X, str(path), str(tmp_path / "X.npy")


def test_pickle_loads_in_process_without_cuda(data, tmp_path):
    model, X, path, rows = _pickled(data, tmp_path)
    code = (
        "import pickle, numpy as np, sys;"
        f"m = pickle.load(open({path!r}, 'rb'));"
        f"print(repr(m.predict(np.load({rows!r})).tolist()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"}, check=True)
    np.testing.assert_allclose(eval(out.stdout), model.predict(X[:50]), rtol=0, atol=0)


def test_import_predict_transform_never_import_torch(data, tmp_path):
    """``import skmim``, unpickling, predict and transform are NumPy: torch is blocked."""
    model, X, path, rows = _pickled(data, tmp_path)
    code = (
        # any `import torch` raises
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch': raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import pickle, numpy as np, skmim, skmim.metrics\n"
        f"m = pickle.load(open({path!r}, 'rb'))\n"
        f"X = np.load({rows!r})\n"
        "p, z = m.predict(X), m.transform(X)\n"
        "skmim.GaussianMultiIndex(8, 'h2+h2', random_state=0).sample(10, random_state=0)\n"
        "assert 'torch' not in sys.modules\n"
        "print(repr(p.tolist())); print(repr(z.tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    pred, proj = out.stdout.splitlines()
    np.testing.assert_array_equal(eval(pred), model.predict(X[:50]))
    np.testing.assert_array_equal(eval(proj), model.transform(X[:50]))


def test_pipeline_with_scaler(data):
    _, X, y = data
    pipe = make_pipeline(StandardScaler(), small(n_components=2)).fit(X, y)
    assert pipe.score(X, y) > 0.8


def test_projector_in_pipeline_feeds_any_regressor(data):
    from sklearn.neighbors import KNeighborsRegressor

    problem, X, y = data
    Xt, yt = problem.sample(1000, random_state=5)
    pipe = make_pipeline(MultiIndexProjector(n_components=2, width=64, random_state=0),
                         KNeighborsRegressor(20)).fit(X, y)
    assert pipe.score(Xt, yt) > 0.7


def test_grid_search_over_components_and_width(data):
    _, X, y = data
    search = GridSearchCV(small(), {"n_components": [1, 2], "width": [32, 64]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["n_components"] == 2
    assert search.best_score_ > 0.8


def test_cross_val_score(data):
    _, X, y = data
    scores = cross_val_score(small(n_components=2), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.8)


def test_verbose_bars_records_and_logger(data, capsys, caplog):
    import logging

    _, X, y = data
    small(n_components=2, verbose=1, loss="huber").fit(X, y)
    out = capsys.readouterr()
    # verbose=1: one progress bar per phase (stderr), no printed records
    assert "stage 1 (huber)" in out.err and "refinement" in out.err and "step" in out.err
    assert out.out == ""
    small(n_components=2, verbose=2, loss="huber").fit(X, y)
    out = capsys.readouterr().out
    assert "stage 1 step 1/" in out and "refine step 1" in out
    # verbose=0: nothing printed, the records still reach the "skmim" logger
    with caplog.at_level(logging.DEBUG, logger="skmim"):
        small(n_components=2, loss="huber").fit(X, y)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    levels = {r.getMessage().split("] ")[1].split(" ")[0]: r.levelno for r in caplog.records
              if r.name == "skmim"}
    assert levels["refine"] == logging.DEBUG and levels["stage"] in (logging.INFO, logging.DEBUG)
    assert any("stage 1 with loss='huber'" in r.getMessage() and r.levelno == logging.INFO
               for r in caplog.records)
    assert any("stage 1 step 1/" in r.getMessage() and r.levelno == logging.DEBUG
               for r in caplog.records)


def test_stage1_records_the_same_whether_reported_or_not(data, caplog):
    """Unreported, the stage-1 records of the losses not kept are never computed and
    those of the kept one are computed at the end; the fit and its records are those
    of a fit that reports every step (the "skmim" logger at DEBUG)."""
    import logging

    _, X, y = data
    quiet = small().fit(X, y)
    with caplog.at_level(logging.DEBUG, logger="skmim"):
        loud = small().fit(X, y)
    assert any("stage 1 step" in r.getMessage() for r in caplog.records)
    assert quiet.history_ == loud.history_ and len(quiet.history_["concentration"]) > 0
    np.testing.assert_array_equal(quiet.subspace_, loud.subspace_)
    np.testing.assert_array_equal(quiet.predict(X), loud.predict(X))


def test_fit_from_sliced_start_attributes(caplog, monkeypatch):
    import logging

    from skmim._engine import _solver_refined
    from skmim.metrics import subspace_distance

    # h3 + h3 at d = 256, n = 8 d: the sliced-inverse-regression start wins
    # the race of the losses' starts (tests/test_statistics.py::
    # test_first_order_start_on_odd_link), and the learned start from the
    # rank start beats it (distance 0.034 against 0.790)
    problem = GaussianMultiIndex(256, "h3+h3", noise=0.1, random_state=3)
    X, y = problem.sample(2048, random_state=4)
    default = MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y)
    assert default.loss_ == "learned" and default.refined_
    assert subspace_distance(default.subspace_, problem.subspace) < 0.1
    # with the learned start from Huber's alone and no message passing
    # (earlier defaults) the sliced start wins: its attributes
    monkeypatch.setattr(_solver_refined, "LEARNED_SEEDS", ("huber",))
    monkeypatch.setattr(_solver_refined, "amp_applicable", lambda *args: False)
    with caplog.at_level(logging.INFO, logger="skmim"):
        model = MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y)
    assert "sliced inverse regression start: 1 direction(s) above" in caplog.text
    assert model.loss_ == "sliced" and model.refined_
    assert set(model.loss_scores_) == {"squared", "huber", "abs", "rank", "learned", "sliced"}
    assert model.loss_scores_["sliced"] == min(model.loss_scores_.values())
    assert model.stage1_weights_ is None
    assert model.history_ == {"loss": [], "rayleigh": [], "concentration": [], "subspace_change": []}
    # no stage-1 steps: the refinement's, and those it was continued on all samples
    val_loss = model.refine_history_["val_loss"]
    assert 0 <= model.n_iter_ - len(val_loss) <= int(np.argmin(val_loss)) and val_loss
    assert model.spectrum_[0] > 1.25 * model.noise_level_ > 1.25 * model.spectrum_[1]
    # a loss given explicitly runs that loss only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SubspaceWarning)  # nothing above noise at this n
        abs_only = small(n_components=2, loss="abs").fit(X, y)
    assert abs_only.loss_ == "abs" and set(abs_only.loss_scores_) == {"abs"}


def test_race_stops_refinements_that_stopped_falling_far_behind(caplog, monkeypatch):
    # y = sum_{j<=3} tanh(x_j), d = 16, n = 1000, n_components = 4: runs
    # whose held-out loss stood still for PRUNE_WINDOW steps, more than
    # PRUNE_GAP above the best, or that found no better held-out loss for
    # PRUNE_STALLED steps while behind the best, stop there (measured: 0.28 s
    # against 0.40 s for the fit without the first rule), and the fit is the
    # same as without them
    import logging

    from skmim._engine import _solver_refined

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 16))
    y = np.tanh(X[:, :3]).sum(axis=1) + 0.1 * rng.normal(size=1000)
    with caplog.at_level(logging.INFO, logger="skmim"):
        model = MultiIndexNetRegressor(n_components=4, random_state=0, verbose=1).fit(X, y)
    stopped = [r.getMessage() for r in caplog.records if "did not fall over its last" in r.getMessage()]
    assert stopped
    best = min(model.loss_scores_.values())
    for name, score in model.loss_scores_.items():
        if f"loss={name!r} stopped" in " ".join(stopped):
            assert score > best
    monkeypatch.setattr(_solver_refined, "PRUNE_MIN_STEPS", 10**9)
    monkeypatch.setattr(_solver_refined, "PRUNE_STALLED", 10**9)
    unpruned = MultiIndexNetRegressor(n_components=4, random_state=0).fit(X, y)
    assert unpruned.loss_ == model.loss_
    np.testing.assert_allclose(unpruned.subspace_, model.subspace_, atol=1e-6)
    np.testing.assert_allclose(unpruned.predict(X[:50]), model.predict(X[:50]), atol=1e-6)


def test_race_merges_subspaces_that_contain_one_another():
    # the smaller subspace's distance to the larger decides (the projection
    # distance when the dimensions are equal): a run whose subspace contains
    # another's, or lies in it, to MERGE_DISTANCE merges with it; a larger
    # one that shares only part of the smaller does not
    from types import SimpleNamespace

    import torch

    from skmim._engine._solver_refined import MERGE_DISTANCE, _mergeable

    rng = np.random.default_rng(0)
    Q = torch.as_tensor(np.linalg.qr(rng.normal(size=(30, 6)))[0])
    near = 0.5 * MERGE_DISTANCE
    tilted = torch.cat([Q[:, :1], np.cos(near) * Q[:, 1:2] + np.sin(near) * Q[:, 5:6]], dim=1)
    far = torch.cat([Q[:, :1], Q[:, 3:4]], dim=1)  # one direction in span(Q[:, :3]), one out
    runs = [SimpleNamespace(V=V, heldout_predictions=None, best_val=1.0)
            for V in (Q[:, :2], Q[:, :3], Q[:, :4], tilted, far)]
    same = _mergeable(runs, 2.0, torch.ones(5))
    assert same[0, 1] and same[1, 0] and same[0, 2] and same[1, 2]
    assert same[3, 1] and same[3, 2] and same[3, 0]  # within MERGE_DISTANCE
    assert not same[4, 0] and not same[4, 1] and same[4, 2]  # span(Q[:, :4]) holds it
    assert not same.diagonal().any()


def test_race_pruning_rule():
    from types import SimpleNamespace

    from skmim._engine._solver_refined import (
        PRUNE_FAR_GAP, PRUNE_FAR_STEPS, PRUNE_GAP, PRUNE_MIN_STEPS, PRUNE_STALLED, PRUNE_WINDOW,
        _cannot_catch_up)

    def run(val):
        # as GrassmannDescent counts them: steps since the first smallest value
        val = list(val)
        return SimpleNamespace(history={"val_loss": val}, best_val=min(val),
                               steps_since_best=len(val) - 1 - int(np.argmin(val)))

    flat = [1.0 - 0.075 * t for t in range(4)] + [0.7] * (PRUNE_MIN_STEPS - 2)
    leader = 0.7 / (1 + 2 * PRUNE_GAP)
    assert _cannot_catch_up(run(flat), leader)
    # far behind but too few steps, or no best yet: goes on
    assert not _cannot_catch_up(run(flat[:PRUNE_MIN_STEPS - 1]), leader)
    # close behind: goes on while it finds better held-out losses, stops
    # after PRUNE_STALLED steps without one (from the first steps on); the
    # leader itself goes on
    close = 0.7 / (1 + 0.5 * PRUNE_GAP)
    falling = [1.0 - 0.03 * t for t in range(PRUNE_STALLED + 3)]
    assert not _cannot_catch_up(run(falling), min(falling) * 0.99)
    stalled = [0.8] + [0.9] * PRUNE_STALLED
    assert _cannot_catch_up(run(stalled), 0.79)
    assert not _cannot_catch_up(run(stalled[:-1]), 0.79)
    assert not _cannot_catch_up(run(stalled), 0.8)
    assert _cannot_catch_up(run(flat), close)
    assert not _cannot_catch_up(run(flat), float("inf"))
    # still falling, however slowly (0.2 % over the window): goes on
    slow = flat[:-PRUNE_WINDOW] + [0.7 * (1 - 0.0004 * t) for t in range(1, PRUNE_WINDOW + 1)]
    assert not _cannot_catch_up(run(slow), leader)
    # a held-out loss that rises is not a fall
    assert _cannot_catch_up(run(flat[:-1] + [0.8]), leader)
    # falling steadily (1 % per step), but still far behind after
    # PRUNE_FAR_STEPS steps: stops; less far behind, or fewer steps: goes on
    crawl = [1.0 - 0.01 * t for t in range(PRUNE_FAR_STEPS)]
    assert _cannot_catch_up(run(crawl), min(crawl) / (1 + 2 * PRUNE_FAR_GAP))
    assert not _cannot_catch_up(run(crawl[:-1]), min(crawl) / (1 + 2 * PRUNE_FAR_GAP))
    assert not _cannot_catch_up(run(crawl), min(crawl) / (1 + 0.5 * PRUNE_FAR_GAP))


def test_refinement_dropped_when_nothing_beats_the_mean(capsys):
    # y independent of X: no refinement predicts the held-out samples better
    # than their mean (here the best is 1.67 standard errors worse), so the
    # spectral estimate on all samples is returned
    rng = np.random.RandomState(8)
    X, y = rng.randn(400, 20), rng.randn(400)
    with pytest.warns(SubspaceWarning, match="better than their mean"):
        model = MultiIndexNetRegressor(n_components=2, random_state=0, verbose=2).fit(X, y)
    # the Huber estimate's top eigenvalue stands further above its shift null
    # than the sliced one's, so it is returned
    out = capsys.readouterr().out
    assert "refinement dropped, spectral estimate with loss='huber'" in out
    assert "null z-scores: sliced" in out
    assert model.refined_ is False and model.loss_ == "huber"
    assert set(model.loss_scores_) == {"squared", "huber", "abs", "rank", "learned"}
    assert model.stage1_weights_ is None and model.refine_history_ is None
    assert model.n_iter_ == 0
    with pytest.warns(SubspaceWarning, match="noise level"):
        spectral = SpectralProjector(n_components=2, loss="huber").fit(X, y)
    np.testing.assert_allclose(model.subspace_ @ model.subspace_.T,
                               spectral.subspace_ @ spectral.subspace_.T, atol=1e-10)
    np.testing.assert_allclose(model.spectrum_, spectral.eigenvalues_[:model.spectrum_.size])
    assert np.all(np.isfinite(model.predict(X)))
    # with one given loss, that loss's estimate; the projector does the same
    with pytest.warns(SubspaceWarning, match="better than their mean"):
        projector = MultiIndexProjector(n_components=2, loss="abs", random_state=0).fit(X, y)
    assert projector.refined_ is False and projector.loss_ == "abs"
    with pytest.warns(SubspaceWarning, match="noise level"):
        spectral = SpectralProjector(n_components=2, loss="abs").fit(X, y)
    np.testing.assert_allclose(projector.subspace_ @ projector.subspace_.T,
                               spectral.subspace_ @ spectral.subspace_.T, atol=1e-8)


def test_one_held_out_row_confirms_nothing():
    # one held-out row has no standard error (before: the zero spread of one
    # sample gave z = -inf, and pure noise counted as confirmed in 10 of 10 fits)
    from skmim._engine._stats import paired_z

    assert paired_z(np.array([-1e-3]), np.array([1.0])) == 0.0
    assert paired_z(np.array([-1e-3, 5.0]), np.array([1.0, 1e-12])) == 0.0
    assert paired_z(np.array([-1.0, -1.1, -0.9]), np.ones(3)) < -5.0
    for seed in range(3):
        rng = np.random.RandomState(seed)
        X, y = rng.randn(6, 3), rng.randn(6)
        with pytest.warns(SubspaceWarning, match="better than their mean"):
            model = MultiIndexNetRegressor(n_components=1, random_state=seed).fit(X, y)
        assert model.split_sizes_["validation"] == 1


def test_dropped_refinement_relative_weights():
    # pure noise: the refinement is dropped in both fits (the best is 0.34
    # standard errors better than the mean, short of 2), and the fallback
    # (here the sliced estimate) sees only relative weights
    rng = np.random.RandomState(0)
    X, y = rng.randn(400, 20), rng.randn(400)
    w = rng.uniform(0.5, 2.0, size=400)
    with pytest.warns(SubspaceWarning, match="better than their mean"):
        a = MultiIndexProjector(n_components=2, random_state=0).fit(X, y, sample_weight=w)
    with pytest.warns(SubspaceWarning, match="better than their mean"):
        b = MultiIndexProjector(n_components=2, random_state=0).fit(X, y,
                                                                    sample_weight=w * 1e-6)
    assert a.refined_ is False and b.refined_ is False and a.loss_ == b.loss_
    np.testing.assert_allclose(a.subspace_ @ a.subspace_.T, b.subspace_ @ b.subspace_.T,
                               atol=1e-10)


def test_zero_weight_equals_dropping_the_row(data):
    # weights are relative (only their ratios matter), and a zero weight
    # removes the row
    _, X, y = data
    X, y = X[:300], y[:300]
    w = np.random.RandomState(0).randint(0, 3, size=300)
    a = small(n_components=2).fit(X, y, sample_weight=w)
    keep = w > 0
    b = small(n_components=2).fit(X[keep], y[keep], sample_weight=w[keep] * 7.5)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-6, atol=1e-8)


def test_batch_size_chunking_gives_same_model(data):
    _, X, y = data
    a = small(n_components=2).fit(X, y)
    b = small(n_components=2, batch_size=100).fit(X, y)
    np.testing.assert_allclose(a.subspace_, b.subspace_, atol=1e-8)
    np.testing.assert_allclose(a.predict(X), b.predict(X), atol=1e-6)


def test_float32_training(data):
    _, X, y = data
    a = small(n_components=2, dtype="float32").fit(X, y)
    b = small(n_components=2).fit(X, y)
    assert a.score(X, y) > 0.8
    from skmim.metrics import subspace_distance
    assert subspace_distance(a.subspace_, b.subspace_) < 0.05


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_raises(data, bad):
    _, X, y = data
    Xb = X.copy()
    Xb[3, 2] = bad
    model = small()
    with pytest.raises(ValueError, match="NaN|infinity"):
        model.fit(Xb, y)
    assert not hasattr(model, "subspace_")
    yb = y.copy()
    yb[0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        small().fit(X, yb)


def test_wrong_number_of_features_at_predict(data):
    _, X, y = data
    model = small(n_components=2).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :5])
    with pytest.raises(ValueError, match="features"):
        model.transform(X[:, :5])


def test_n_components_too_large(data):
    _, X, y = data
    with pytest.raises(ValueError, match="n_components=17 must be <= n_features=16"):
        small(n_components=17).fit(X, y)
    with pytest.raises(ValueError, match="exceeds the .* samples"):
        MultiIndexNetRegressor(n_components=10, width=32, solver="layerwise").fit(X[:12], y[:12])
    with pytest.raises(ValueError, match="width"):
        MultiIndexNetRegressor(n_components=10, width=8).fit(X, y)
    with pytest.raises(ValueError, match="width / 2 = 8"):
        MultiIndexNetRegressor(n_components=10, width=16).fit(X, y)


@pytest.mark.parametrize("solver", ["refined", "layerwise"])
def test_more_than_ten_components(data, solver):
    # the default spectrum tracks ten directions; a larger n_components is honoured
    # (link_degree=2: the degree-4 basis has C(16, 4) = 1820 functions at r = 12)
    _, X, y = data
    model = small(n_components=12, solver=solver, link_degree=2, max_iter=5).fit(X, y)
    assert model.subspace_.shape == (16, 12) and model.n_components_ == 12
    np.testing.assert_allclose(model.subspace_.T @ model.subspace_, np.eye(12), atol=1e-10)


def test_too_few_samples_for_split(data):
    _, X, y = data
    with pytest.raises(ValueError, match="too few samples"):
        small(solver="layerwise").fit(X[:3], y[:3])
    with pytest.raises(ValueError, match="1 sample"):
        small().fit(X[:1], y[:1])


def test_bad_parameters(data):
    _, X, y = data
    from skmim._sklearn_private import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="loss"):
        small(loss="cubic").fit(X, y)
    with pytest.raises(ValueError, match="even"):
        small(width=33).fit(X, y)
    with pytest.raises(ValueError, match="grassmann.*integer n_components"):
        small(solver="grassmann").fit(X, y)


def test_unknown_link_name():
    with pytest.raises(ValueError, match="Unknown link 'h9'"):
        GaussianMultiIndex(8, "h9")


def test_cuda_requested_without_cuda(data):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    _, X, y = data
    model = small(device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        model.fit(X, y)
    assert not hasattr(model, "subspace_")


def test_bad_sample_weight(data):
    _, X, y = data
    w = np.ones(len(y))
    w[0] = -1
    with pytest.raises(ValueError, match="[Nn]egative"):
        small().fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match="weight"):
        small().fit(X, y, sample_weight=np.zeros(len(y)))


def test_constant_target_warns(data):
    _, X, _ = data
    with pytest.warns(SubspaceWarning, match="constant"):
        model = small(n_components=2).fit(X, np.full(len(X), 3.0))
    np.testing.assert_allclose(model.predict(X), 3.0)


@pytest.mark.parametrize("solver", ["layerwise", "sgd"])
def test_stage2_of_alike_rows_predicts_its_mean_and_warns(solver):
    # a categorical feature of 3 levels, y one value per level: the split
    # keeps copies of a row together, so stage 2 may hold one distinct row;
    # its outer layer then has nothing to fit (before: predictions 1e7 times
    # y's range through a penalty scaled to rounding)
    X = np.repeat([[0.0], [1.0], [2.0]], 200, axis=0)
    y = np.repeat([0.0, 1.0, 4.0], 200)
    for seed in range(3):
        model = MultiIndexNetRegressor(solver=solver, random_state=seed)
        with pytest.warns(SubspaceWarning, match="predicts a constant"):
            model.fit(X, y)
        pred = model.predict(X)
        assert np.all((pred >= 0.0 - 1e-9) & (pred <= 4.0 + 1e-9))


def test_constant_scores_warn_for_what_they_are():
    # y of two values, each on half the rows: the losses' scores are constant
    # (zero median absolute deviation) though y is not, and the predictions
    # are not constant; the sgd projector on a constant y warns too
    X = np.r_[np.zeros((500, 2)), np.ones((500, 2))]
    with pytest.warns(SubspaceWarning, match="scores are constant although y is not"):
        model = MultiIndexNetRegressor(random_state=0).fit(X, 3.0 * X[:, 0])
    np.testing.assert_allclose(model.predict([[0.0, 0.0], [1.0, 1.0]]), [0.0, 3.0], atol=1e-6)
    rng = np.random.RandomState(0)
    with pytest.warns(SubspaceWarning, match="y is constant"):
        MultiIndexProjector(solver="sgd", random_state=0).fit(rng.randn(200, 4),
                                                              np.full(200, 2.5))


def test_too_few_samples_for_the_two_stages_names_them():
    rng = np.random.RandomState(0)
    with pytest.raises(ValueError, match="stage 1; each part needs at least 2 samples"):
        MultiIndexNetRegressor(solver="layerwise").fit(rng.randn(3, 2), rng.randn(3))


@pytest.mark.parametrize("loss", ["squared", "huber", "abs", "rank"])
def test_a_given_loss_on_noise_falls_back_to_its_spectral_estimate(loss):
    # with one given loss and n_components="auto", an unconfirmed fit whose
    # best model was the linear one fell back to a stage-1 loss named
    # "linear" (before: ValueError "Unknown stage-1 loss 'linear'" on 23 of 24
    # seeds x losses)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(400, 10)), rng.normal(size=400)
    with pytest.warns(SubspaceWarning, match="no better than their mean"):
        model = MultiIndexNetRegressor(loss=loss, random_state=0).fit(X, y)
    assert model.refined_ is False and model.loss_ == loss


def test_pure_noise_warns():
    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((400, 40)), rng.standard_normal(400)
    with pytest.warns(SubspaceWarning, match="no direction stands above the noise level"):
        MultiIndexProjector(solver="layerwise", loss="huber", width=64, random_state=0).fit(X, y)
    # the regressors judge the model they return, on held-out samples
    with pytest.warns(SubspaceWarning, match="predicts no better than the mean of y"):
        small(solver="layerwise", loss="huber").fit(X, y)


def test_partial_fit_continues_sgd_pass():
    problem = GaussianMultiIndex(32, "tanh", noise=0.1, random_state=0)
    model = MultiIndexNetRegressor(solver="sgd", n_components=1, width=64, random_state=0)
    for i in range(3):
        X, y = problem.sample(512, random_state=10 + i)
        model.partial_fit(X, y)
    assert model.n_iter_ == model.history_["step"][-1] > 512
    from skmim.metrics import subspace_distance

    assert subspace_distance(model.subspace_, problem.subspace) < 0.3
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[:, :5], y)


def test_partial_fit_only_for_sgd():
    assert not hasattr(MultiIndexNetRegressor(), "partial_fit")
    assert hasattr(MultiIndexNetRegressor(solver="sgd"), "partial_fit")


def test_loss_curve_like_mlp(data):
    _, X, y = data
    refined = small(n_components=2).fit(X, y)
    assert refined.loss_curve_ == refined.refine_history_["train_loss"]
    assert refined.loss_curve_[-1] < refined.loss_curve_[0]
    paper = small(n_components=2, solver="layerwise").fit(X, y)
    assert len(paper.loss_curve_) == paper.n_iter_


def test_max_iter_reached_is_a_convergence_warning(data):
    from sklearn.exceptions import ConvergenceWarning

    _, X, y = data
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        small(n_components=2, max_iter=2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        small(n_components=2).fit(X, y)  # stops on its held-out patience


def test_warm_start_continues_the_refinement(data):
    from sklearn.exceptions import ConvergenceWarning

    from skmim.metrics import subspace_distance

    problem, X, y = data
    with pytest.warns(ConvergenceWarning):
        model = small(n_components=2, max_iter=2, warm_start=True).fit(X, y)
    short = subspace_distance(model.subspace_, problem.subspace)
    spectrum, n_iter = model.spectrum_.copy(), model.n_iter_
    model.set_params(max_iter=200).fit(X, y)
    cold = small(n_components=2).fit(X, y)
    resumed = subspace_distance(model.subspace_, problem.subspace)
    assert resumed < 0.5 * short
    assert resumed < subspace_distance(cold.subspace_, problem.subspace) + 0.05
    # stage 1 did not run again: its records are those of the first fit
    np.testing.assert_array_equal(model.spectrum_, spectrum)
    val_loss = model.refine_history_["val_loss"]
    assert 0 <= model.n_iter_ - n_iter - len(val_loss) <= int(np.argmin(val_loss))
    with pytest.raises(ValueError, match="n_components=3"):
        model.set_params(n_components=3).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.set_params(n_components=2).fit(X[:, :8], y)
    assert model.subspace_.shape == (16, 2)  # the failed fits changed nothing


def test_warm_start_continues_from_the_training_part_estimate(monkeypatch):
    # the kept refinement is continued on all samples, the validation part
    # included; a warm start continues from the subspace before that, which
    # the validation part did not shape, so its held-out stopping can still
    # see progress. Message passing after the race is switched off: it
    # would do most of the work itself (0.21 with max_iter=1).
    # Measured (d = 64, h2+h2, n = 4 d): 0.419 after 5 steps, 0.079 continued
    from sklearn.exceptions import ConvergenceWarning

    from skmim._engine import _solver_refined
    from skmim.metrics import subspace_distance

    monkeypatch.setattr(_solver_refined, "amp_applicable", lambda *args: False)
    problem = GaussianMultiIndex(64, "h2+h2", noise=0.1, random_state=0)
    X, y = problem.sample(256, random_state=100)
    with pytest.warns(ConvergenceWarning):
        model = MultiIndexNetRegressor(n_components=2, random_state=0, max_iter=5).fit(X, y)
    short = subspace_distance(model.subspace_, problem.subspace)
    model.set_params(warm_start=True, max_iter=200).fit(X, y)
    assert subspace_distance(model.subspace_, problem.subspace) < short - 0.2


def test_warm_start_sgd_continues_the_pass_and_layerwise_starts_anew(data):
    _, X, y = data
    warm = small(n_components=2, solver="sgd", warm_start=True).fit(X[:600], y[:600])
    warm.fit(X[600:], y[600:])
    streamed = small(n_components=2, solver="sgd").partial_fit(X[:600], y[:600])
    streamed.partial_fit(X[600:], y[600:])
    np.testing.assert_allclose(warm.predict(X), streamed.predict(X), rtol=1e-10, atol=1e-10)
    assert warm.n_iter_ > 300
    layer = small(n_components=2, solver="layerwise", warm_start=True).fit(X[:600], y[:600])
    layer.fit(X, y)
    fresh = small(n_components=2, solver="layerwise").fit(X, y)
    np.testing.assert_array_equal(layer.subspace_, fresh.subspace_)


def test_html_repr_links_to_the_api_page():
    from skmim._version import DOCS_URL

    for cls in (MultiIndexNetRegressor, MultiIndexProjector, SpectralProjector):
        link = f"{DOCS_URL}/generated/skmim.{cls.__name__}.html"
        assert cls()._get_doc_link() == link
        assert link in cls()._repr_html_()


def test_torch_tensors_in_fit_predict_transform(data):
    torch = pytest.importorskip("torch")
    _, X, y = data
    Xt = torch.tensor(X, requires_grad=True)
    model = small(n_components=2).fit(Xt, torch.tensor(y))
    reference = small(n_components=2).fit(X, y)
    np.testing.assert_array_equal(model.subspace_, reference.subspace_)
    pred, Z = model.predict(Xt), model.transform(Xt)
    assert isinstance(pred, torch.Tensor) and isinstance(Z, torch.Tensor)
    assert pred.shape == (len(X),) and Z.shape == (len(X), 2) and not pred.requires_grad
    np.testing.assert_allclose(pred.numpy(), reference.predict(X), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(Z.numpy(), reference.transform(X), rtol=1e-10, atol=1e-10)
    # the tensor's floating dtype is kept; integer tensors are evaluated in float64
    Z32 = model.transform(Xt.float())
    assert Z32.dtype == torch.float32
    np.testing.assert_allclose(Z32.numpy(), Z.numpy(), rtol=1e-4, atol=1e-4)
    assert model.predict(torch.ones(3, 16, dtype=torch.int64)).dtype == torch.float64
    for projector in (MultiIndexProjector(n_components=2, width=32, random_state=0),
                      SpectralProjector(n_components=2)):
        assert isinstance(projector.fit(Xt, torch.tensor(y)).transform(Xt), torch.Tensor)
    with pytest.raises(ValueError, match="expecting 16 features"):
        model.predict(Xt[:, :4])
    with pytest.raises(ValueError, match="2D tensor"):
        model.transform(Xt[0])
    bad = Xt.detach().clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.predict(bad)
    with pytest.raises(ValueError, match="Complex data not supported"):
        model.predict(Xt.detach().to(torch.complex128))  # (before: cast to real)
    # bfloat16, which NumPy lacks, is read as float32 where the host needs it
    Xb, yb = Xt.detach().bfloat16(), torch.tensor(y).bfloat16()
    half = small(n_components=2).fit(Xb, yb)
    assert half.predict(Xb).dtype == torch.bfloat16
    assert half.score(X, y) > 0.5


def test_n_threads_sets_torch_threads_during_fit_and_restores(data, monkeypatch):
    torch = pytest.importorskip("torch")
    import skmim._engine._api as api

    _, X, y = data
    seen = []
    real = api._fit_network

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "_fit_network", spy)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        small(n_components=2, n_threads=1).fit(X, y)
        small(n_components=2).fit(X, y)  # "auto": a small pass takes one thread
        small(n_components=2, n_threads=None).fit(X, y)
        assert seen == [1, 1, 2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_n_threads_limits_numpy_blas_in_the_engine(data, monkeypatch):
    # the CPU Gram products run in NumPy's BLAS, whose thread pool ignores
    # torch's setting: n_threads limits it too, during the engine's part
    from threadpoolctl import threadpool_info, threadpool_limits

    import skmim._engine._data as engine_data

    _, X, y = data
    seen = []
    real = engine_data.weighted_gram

    def spy(*args, **kwargs):
        seen.append({lib["num_threads"] for lib in threadpool_info()
                     if lib["user_api"] == "blas"})
        return real(*args, **kwargs)

    def counts():
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    monkeypatch.setattr(engine_data, "weighted_gram", spy)
    with threadpool_limits(2, user_api="blas"):
        before = counts()
        small(n_components=2, n_threads=1).fit(X, y)
        assert seen and all(c <= {1} for c in seen)
        assert counts() == before  # restored after the fit


@pytest.mark.parametrize("solver", ["refined", "sgd"])
def test_n_threads_go_to_one_pool_only(data, monkeypatch, solver):
    # two pools of n_threads each oversubscribe the cores (torch's idle
    # OpenMP threads spin on the cores BLAS needs): the solver's pool gets
    # them, the other one thread; both settings are restored after the fit
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_info, threadpool_limits

    import skmim._engine._api as api

    _, X, y = data
    seen = []
    real = api._fit_network

    def spy(*args, **kwargs):
        seen.append((torch.get_num_threads(),
                     {lib["num_threads"] for lib in threadpool_info()
                      if lib["user_api"] == "blas"}))
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "_fit_network", spy)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with threadpool_limits(1, user_api="blas"):
            small(n_components=2, n_threads=2, solver=solver).fit(X, y)
            after = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
        (torch_count, blas), = seen
        if solver == "sgd":
            assert torch_count == 2 and blas <= {1}
        else:
            # (OpenBLAS caps its pool at the number of cores)
            assert torch_count == 1 and blas == ({2} if (os.cpu_count() or 1) >= 2 else {1})
        assert torch.get_num_threads() == 1 and after <= {1}
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("whiten", ["ledoit_wolf", False])
def test_integer_weights_split_as_their_copies(monkeypatch, whiten):
    # the split hashes the standardized rows before the whitening, whose
    # shrinkage depends on the number of rows (before: with ledoit_wolf, 31 %
    # of the weighted rows went to the other part than their copies)
    import skmim._base as base

    seen = []
    original = base.upper_fraction
    monkeypatch.setattr(base, "upper_fraction",
                        lambda u, w, f: seen.append(original(u, w, f)) or seen[-1])
    X, y = GaussianMultiIndex(10, "h2+h2", noise=0.1, random_state=0).sample(300, random_state=1)
    k = np.random.RandomState(3).randint(1, 4, size=len(y))
    MultiIndexNetRegressor(whiten=whiten, max_iter=3, random_state=0).fit(
        X, y, sample_weight=k.astype(float))
    MultiIndexNetRegressor(whiten=whiten, max_iter=3, random_state=0).fit(
        np.repeat(X, k, axis=0), np.repeat(y, k))
    weighted, repeated = seen[0], seen[1]
    np.testing.assert_array_equal(weighted, repeated[np.r_[0, np.cumsum(k)[:-1]]])


@pytest.mark.parametrize("solver", ["layerwise", "sgd"])
def test_no_penalty_leaks_no_runtime_warning(data, solver):
    # alpha=0 with features of zero variance along some direction: those add
    # no degree of freedom (before: 0 / 0 in the GCV's terms, two RuntimeWarnings)
    _, X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = MultiIndexNetRegressor(solver=solver, alpha=0.0, n_components=2, width=32,
                                       random_state=0).fit(X, y)
    assert model.alpha_ == 0.0 and np.all(np.isfinite(model.predict(X)))


def test_predictions_do_not_extrapolate_beyond_the_training_rows():
    import torch

    # each neuron's pre-activation is clipped to its range over the training
    # rows: far out along the learned direction the network is constant
    # instead of following its ReLU slopes (ISLR Hitters, one fold: a test
    # row twice the training range out was predicted at -0.85 for y in
    # [4.2, 7.8], test R^2 -0.66; clipped 0.61)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(800, 5))
    y = np.tanh(2.0 * X[:, 0]) + 0.05 * rng.normal(size=800)
    model = MultiIndexNetRegressor(n_components=1, solver="layerwise", random_state=0).fit(X, y)
    pre = (X - model.x_mean_) @ model.hidden_weights_.T + model.hidden_biases_
    width = pre.max(axis=0) - pre.min(axis=0)
    np.testing.assert_allclose(model.hidden_range_, [pre.min(axis=0) - 0.1 * width,
                                                     pre.max(axis=0) + 0.1 * width])
    far = np.zeros((2, 5))
    far[:, 0] = [-40.0, 40.0]
    pred = model.predict(far)
    assert np.all(np.abs(pred) < 1.5), pred  # y lies in [-1.2, 1.2]
    unclipped = (np.maximum((far - model.x_mean_) @ model.hidden_weights_.T
                            + model.hidden_biases_, 0.0) @ model.output_weights_
                 + model.intercept_)
    assert np.max(np.abs(unclipped)) > 3.0  # what the slopes alone extrapolate to
    np.testing.assert_allclose(model.predict(torch.as_tensor(far)).numpy(), pred, rtol=1e-12)
