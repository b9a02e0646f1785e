"""The displays of skmim.inspection: stored values, artists, ``ax=``, errors, lazy imports."""

import copy
import importlib.util
import inspect
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import skmim.inspection  # noqa: E402
from skmim import (  # noqa: E402
    GaussianMultiIndex,
    MultiIndexNetClassifier,
    MultiIndexNetRegressor,
    MultiIndexProjector,
    SpectralProjector,
    SubspaceWarning,
)
from skmim.inspection import (  # noqa: E402
    AlignmentDisplay,
    SpectrumDisplay,
    SummaryPlotDisplay,
    TrainingCurveDisplay,
)
from skmim.metrics import principal_angles, subspace_distance  # noqa: E402

D, N, WIDTH = 16, 1000, 32
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def problem():
    return GaussianMultiIndex(D, "h2+h2", noise=0.1, random_state=0)


@pytest.fixture(scope="module")
def data(problem):
    return problem.sample(N, random_state=1)


@pytest.fixture(scope="module")
def fitted(data):
    """The fitted estimators the tests share (small: d=16, n=1000, width=32)."""
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SubspaceWarning)
        models = {
            "refined": MultiIndexNetRegressor(n_components=2, width=WIDTH, random_state=0),
            "auto": MultiIndexNetRegressor(width=WIDTH, random_state=0),
            "layerwise": MultiIndexNetRegressor(n_components=2, solver="layerwise",
                                                width=WIDTH, random_state=0),
            "grassmann": MultiIndexNetRegressor(n_components=2, solver="grassmann",
                                                width=WIDTH, random_state=0, n_init=1),
            "sgd": MultiIndexNetRegressor(n_components=2, solver="sgd", width=WIDTH,
                                          random_state=0),
            "projector": MultiIndexProjector(n_components=2, width=WIDTH, random_state=0),
            "spectral": SpectralProjector(n_components=2),
        }
        return {name: model.fit(X, y) for name, model in models.items()}


def test_import_does_not_load_matplotlib_or_torch():
    code = ("import sys, skmim, skmim.inspection; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib'; "
            "assert 'torch' not in sys.modules, 'torch'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": ""})


# ----------------------------------------------------------------------------- spectrum
def test_spectrum_values_and_artists(fitted):
    model = fitted["refined"]
    disp = SpectrumDisplay.from_estimator(model)
    np.testing.assert_array_equal(disp.magnitudes, np.abs(model.spectrum_))
    np.testing.assert_array_equal(disp.spectrum, model.spectrum_)
    assert disp.noise_level == model.noise_level_
    assert disp.threshold == pytest.approx(1.25 * model.noise_level_)
    assert disp.n_components == model.n_components_ == 2
    assert disp.dimension_scores is None and disp.scores_ax_ is None
    assert len(disp.axes_) == 1 and disp.figure_ is disp.ax_.figure
    np.testing.assert_array_equal(disp.line_.get_xdata(), np.arange(1, model.spectrum_.size + 1))
    np.testing.assert_array_equal(disp.line_.get_ydata(), np.abs(model.spectrum_))
    np.testing.assert_array_equal(disp.kept_.get_ydata(), np.abs(model.spectrum_[:2]))
    assert disp.noise_line_.get_ydata()[0] == pytest.approx(model.noise_level_)
    assert disp.threshold_line_.get_ydata()[0] == pytest.approx(1.25 * model.noise_level_)
    assert disp.n_components_line_.get_xdata()[0] == pytest.approx(2.5)
    assert disp.ax_.get_yscale() == "log"
    # on h2+h2 the two signal values stand above the threshold, the rest below
    assert np.sum(disp.magnitudes > disp.threshold) == 2


def test_spectrum_dimension_scores(fitted):
    model = fitted["auto"]
    assert model.dimension_scores_ is not None
    disp = SpectrumDisplay.from_estimator(model)
    assert disp.dimension_scores == model.dimension_scores_
    assert len(disp.axes_) == 2 and disp.scores_ax_ is disp.axes_[1]
    dims = sorted(model.dimension_scores_)
    np.testing.assert_array_equal(disp.scores_line_.get_xdata(), dims)
    np.testing.assert_allclose(disp.scores_line_.get_ydata(),
                               [model.dimension_scores_[k] for k in dims])
    # one Axes given: the spectrum only, on that Axes
    fig, ax = plt.subplots()
    disp = SpectrumDisplay.from_estimator(model, ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig and disp.scores_ax_ is None
    # two Axes given: both panels there
    fig, axes = plt.subplots(1, 2)
    disp = SpectrumDisplay.from_estimator(model, ax=axes, log_scale=False)
    assert disp.ax_ is axes[0] and disp.scores_ax_ is axes[1]
    assert disp.ax_.get_yscale() == "linear"
    # plot_scores=False: one panel
    assert len(SpectrumDisplay.from_estimator(model, plot_scores=False).axes_) == 1


def test_spectrum_other_estimators(fitted):
    sgd = SpectrumDisplay.from_estimator(fitted["sgd"])  # singular values, no noise edge
    np.testing.assert_array_equal(sgd.magnitudes, np.abs(fitted["sgd"].spectrum_))
    assert sgd.noise_level is None and sgd.threshold is None and sgd.noise_line_ is None
    assert "singular value" in sgd.value_label
    spectral = SpectrumDisplay.from_estimator(fitted["spectral"])
    np.testing.assert_array_equal(spectral.magnitudes, np.abs(fitted["spectral"].eigenvalues_))
    proj = SpectrumDisplay.from_estimator(fitted["projector"])
    np.testing.assert_array_equal(proj.magnitudes, np.abs(fitted["projector"].spectrum_))


def test_spectrum_errors(fitted):
    with pytest.raises(ValueError, match="empty spectrum_"):
        SpectrumDisplay.from_estimator(fitted["grassmann"])
    linear = copy.copy(fitted["refined"])
    linear.loss_ = "linear"
    with pytest.raises(ValueError, match="linear"):
        SpectrumDisplay.from_estimator(linear)
    with pytest.raises(ValueError, match="not fitted|NotFitted|fit"):
        SpectrumDisplay.from_estimator(MultiIndexNetRegressor())
    fig, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="no dimension scores"):
        SpectrumDisplay.from_estimator(fitted["refined"], ax=axes)
    with pytest.raises(ValueError, match="plot_scores=False"):
        SpectrumDisplay.from_estimator(fitted["auto"], ax=axes, plot_scores=False)
    fig, three = plt.subplots(1, 3)
    with pytest.raises(ValueError, match="one Axes or a sequence of two"):
        SpectrumDisplay.from_estimator(fitted["auto"], ax=three)


def test_displays_of_a_binary_classifier(data):
    # y drawn as the indicator of classes_[1] and the link as its probability;
    # the axes say what the classifier's scores are
    X, y = data
    labels = np.array(["lo", "hi"])[(y > np.median(y)).astype(int)]
    clf = MultiIndexNetClassifier(width=WIDTH, random_state=0).fit(X, labels)
    disp = SummaryPlotDisplay.from_estimator(clf, X, labels)
    np.testing.assert_array_equal(disp.y, (labels == clf.classes_[1])[disp.sample_indices])
    np.testing.assert_allclose(disp.link, clf.predict_proba(disp.grid_points)[:, 1])
    spectrum = SpectrumDisplay.from_estimator(clf)
    if spectrum.scores_ax_ is not None:
        assert spectrum.scores_ax_.get_ylabel() == "held-out Brier score"
    curves = TrainingCurveDisplay.from_estimator(clf, which="refinement")
    assert "Brier" in curves.refine_ax_.get_ylabel()
    three = MultiIndexNetClassifier(width=WIDTH, random_state=0).fit(
        X, np.digitize(y, np.quantile(y, [1 / 3, 2 / 3])))
    with pytest.raises(ValueError, match="3 classes"):
        SummaryPlotDisplay.from_estimator(three, X, y)


# ----------------------------------------------------------------------------- summary plot
def test_summary_plot_link_and_projections(fitted, data):
    X, y = data
    model = fitted["refined"]
    disp = SummaryPlotDisplay.from_estimator(model, X, y, max_points=300, random_state=3)
    rows = disp.sample_indices
    assert rows.shape == (300,) and np.all(np.diff(rows) > 0)
    Z = model.transform(X)
    np.testing.assert_array_equal(disp.projections, Z[rows, 0])
    np.testing.assert_array_equal(disp.y, y[rows])
    np.testing.assert_allclose(disp.scatter_.get_offsets(), np.column_stack([Z[rows, 0], y[rows]]))
    # the grid covers the projections of all rows and its points project on (t, 0)
    assert disp.grid[0] == pytest.approx(Z[:, 0].min()) and disp.grid[-1] == pytest.approx(
        Z[:, 0].max())
    np.testing.assert_allclose(model.transform(disp.grid_points),
                               np.column_stack([disp.grid, np.zeros_like(disp.grid)]), atol=1e-10)
    np.testing.assert_allclose(disp.link, model.predict(disp.grid_points))
    np.testing.assert_allclose(disp.line_.get_xdata(), disp.grid)
    np.testing.assert_allclose(disp.line_.get_ydata(), disp.link)
    assert disp.contour_ is None and disp.colorbar_ is None
    # the choice of rows is seeded
    again = SummaryPlotDisplay.from_estimator(model, X, y, max_points=300, random_state=3)
    np.testing.assert_array_equal(again.sample_indices, rows)
    # at most max_points=2000 by default: all 1000 rows here
    np.testing.assert_array_equal(
        SummaryPlotDisplay.from_estimator(model, X, y).sample_indices, np.arange(N))


def test_summary_plot_two_directions(fitted, data):
    X, y = data
    model = fitted["refined"]
    fig, ax = plt.subplots()
    disp = SummaryPlotDisplay.from_estimator(model, X, y, n_directions=2, grid_resolution=20,
                                             ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig and disp.n_directions == 2
    np.testing.assert_array_equal(disp.projections, model.transform(X)[:, :2])
    assert disp.link.shape == (20, 20) and disp.grid_points.shape == (400, D)
    np.testing.assert_allclose(disp.link.ravel(), model.predict(disp.grid_points))
    t1, t2 = disp.grid
    T1, T2 = np.meshgrid(t1, t2)
    np.testing.assert_allclose(model.transform(disp.grid_points),
                               np.column_stack([T1.ravel(), T2.ravel()]), atol=1e-10)
    assert disp.contour_ is not None and disp.colorbar_ is not None and disp.line_ is None


def test_summary_plot_keywords_replace_conflicting_defaults(fitted, data):
    # matplotlib's own keywords replace the defaults they conflict with
    # (before: "Either colors or cmap must be None", "Supply a 'c' argument
    # or a 'color' kwarg but not both")
    X, y = data
    model = fitted["refined"]
    disp = SummaryPlotDisplay.from_estimator(model, X, y, n_directions=2, grid_resolution=10,
                                             line_kwargs={"colors": "k"})
    assert disp.contour_ is not None
    disp = SummaryPlotDisplay.from_estimator(model, X, y, n_directions=2, grid_resolution=10,
                                             color="k")
    assert disp.colorbar_ is None  # one color: no color scale
    disp = SummaryPlotDisplay.from_estimator(model, X, y, c=y, cmap="magma",
                                             line_kwargs={"c": "k"})
    np.testing.assert_array_equal(disp.scatter_.get_array(), y)
    assert disp.line_.get_color() == "k"


def test_summary_plot_transformer_has_no_link(fitted, data):
    X, y = data
    for name in ("projector", "spectral"):
        disp = SummaryPlotDisplay.from_estimator(fitted[name], X, y)
        assert disp.link is None and disp.grid is None and disp.line_ is None
        np.testing.assert_array_equal(disp.projections, fitted[name].transform(X)[:, 0])


def test_summary_plot_dataframe(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    columns = [f"feature_{i}" for i in range(D)]
    df = pd.DataFrame(X, columns=columns)
    model = MultiIndexNetRegressor(n_components=2, width=WIDTH, random_state=0).fit(
        df, pd.Series(y, name="target"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-name warning from the grid
        disp = SummaryPlotDisplay.from_estimator(model, df, pd.Series(y), max_points=500)
        disp2 = SummaryPlotDisplay.from_estimator(model, df, y, n_directions=2,
                                                  grid_resolution=10)
    np.testing.assert_allclose(disp.link,
                               model.predict(pd.DataFrame(disp.grid_points, columns=columns)))
    np.testing.assert_allclose(disp.projections, model.transform(df)[disp.sample_indices, 0])
    assert disp2.link.shape == (10, 10)


def test_summary_plot_errors(fitted, data):
    X, y = data
    with pytest.raises(ValueError, match="n_directions"):
        SummaryPlotDisplay.from_estimator(fitted["refined"], X, y, n_directions=3)
    one = MultiIndexNetRegressor(n_components=1, width=WIDTH, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="n_components_=1"):
        SummaryPlotDisplay.from_estimator(one, X, y, n_directions=2)
    with pytest.raises(ValueError, match="samples but y has"):
        SummaryPlotDisplay.from_estimator(fitted["refined"], X, y[:-1])
    with pytest.raises(ValueError, match="max_points"):
        SummaryPlotDisplay.from_estimator(fitted["refined"], X, y, max_points=0)


# ----------------------------------------------------------------------------- training curves
def test_training_curves_refined(fitted):
    model = fitted["refined"]
    disp = TrainingCurveDisplay.from_estimator(model)
    assert set(disp.stage1_curves) == {"loss", "rayleigh", "concentration", "subspace_change"}
    for key, curve in disp.stage1_curves.items():
        np.testing.assert_array_equal(curve, model.history_[key])
        np.testing.assert_array_equal(disp.stage1_lines_[key].get_ydata(), model.history_[key])
    np.testing.assert_array_equal(disp.stage1_steps, np.arange(1, len(model.history_["loss"]) + 1))
    for key in ("train_loss", "val_loss"):
        np.testing.assert_array_equal(disp.refine_curves[key], model.refine_history_[key])
        np.testing.assert_array_equal(disp.refine_lines_[key].get_ydata(),
                                      model.refine_history_[key])
    assert disp.best_step == int(np.argmin(model.refine_history_["val_loss"])) + 1
    assert disp.best_line_.get_xdata()[0] == disp.best_step
    assert len(disp.axes_) == 2
    assert disp.stage1_ax_ is disp.axes_[0] is disp.ax_ and disp.refine_ax_ is disp.axes_[1]
    # Axes given: one per phase
    fig, axes = plt.subplots(1, 2)
    disp = TrainingCurveDisplay.from_estimator(model, ax=axes)
    assert disp.stage1_ax_ is axes[0] and disp.refine_ax_ is axes[1] and disp.figure_ is fig
    fig, ax = plt.subplots()
    disp = TrainingCurveDisplay.from_estimator(model, which="refinement", ax=ax)
    assert disp.ax_ is ax and disp.stage1_ax_ is None and disp.stage1_lines_ == {}
    with pytest.raises(ValueError, match="2 panels"):
        TrainingCurveDisplay.from_estimator(model, ax=ax)


def test_training_curves_other_solvers(fitted):
    layerwise = TrainingCurveDisplay.from_estimator(fitted["layerwise"])
    assert len(layerwise.axes_) == 1 and layerwise.refine_ax_ is None
    assert fitted["layerwise"].refine_history_ is None and layerwise.refine_curves == {}
    grassmann = TrainingCurveDisplay.from_estimator(fitted["grassmann"])
    assert len(grassmann.axes_) == 1 and grassmann.stage1_ax_ is None
    sgd_model = fitted["sgd"]
    sgd = TrainingCurveDisplay.from_estimator(sgd_model)
    assert set(sgd.stage1_curves) == {"loss", "mass_outside"}
    np.testing.assert_array_equal(sgd.stage1_steps, sgd_model.history_["step"])
    np.testing.assert_array_equal(sgd.stage1_lines_["mass_outside"].get_xdata(),
                                  sgd_model.history_["step"])
    np.testing.assert_array_equal(sgd.stage1_curves["loss"], sgd_model.history_["loss"])


def test_training_curves_errors(fitted):
    with pytest.raises(ValueError, match="nothing to plot"):
        TrainingCurveDisplay.from_estimator(fitted["layerwise"], which="refinement")
    with pytest.raises(ValueError, match="nothing to plot"):
        TrainingCurveDisplay.from_estimator(fitted["grassmann"], which="stage1")
    with pytest.raises(ValueError, match="nothing to plot"):
        TrainingCurveDisplay({"loss": []}, None).plot()
    with pytest.raises(ValueError, match="which"):
        TrainingCurveDisplay.from_estimator(fitted["refined"], which="both")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), SpectralProjector(n_components=2)).fit(*_data_xy())
    with pytest.raises(ValueError, match="Pipeline has no history_"):
        TrainingCurveDisplay.from_estimator(pipe)


def _data_xy():
    return GaussianMultiIndex(D, "h2+h2", noise=0.1, random_state=0).sample(300, random_state=1)


# ----------------------------------------------------------------------------- alignment
def test_alignment(fitted, problem):
    model = fitted["refined"]
    disp = AlignmentDisplay.from_estimator(model, problem.subspace)
    angles = principal_angles(model.subspace_, problem.subspace)
    np.testing.assert_array_equal(disp.angles, angles)
    np.testing.assert_allclose(disp.angles_degrees, np.degrees(angles))
    np.testing.assert_allclose(disp.cosines, np.cos(angles))
    assert disp.distance == subspace_distance(model.subspace_, problem.subspace)
    heights = [bar.get_height() for bar in disp.bars_]
    np.testing.assert_allclose(heights, np.degrees(angles))
    assert f"{disp.distance:.3f}" in disp.ax_.get_title()
    fig, ax = plt.subplots()
    disp = AlignmentDisplay.from_subspaces(model.subspace_[:, :1], problem.subspace, ax=ax)
    assert disp.ax_ is ax and disp.figure_ is fig and disp.angles.shape == (1,)
    assert disp.distance == subspace_distance(model.subspace_[:, :1], problem.subspace)
    with pytest.raises(ValueError, match="different dimensions"):
        AlignmentDisplay.from_estimator(model, np.eye(D + 1)[:, :2])


# ----------------------------------------------------------------------------- docstrings
def _docstring_checks():
    """The parameter parser of tests/test_docstrings.py (dependency free)."""
    spec = importlib.util.spec_from_file_location(
        "_skmim_test_docstrings", Path(__file__).with_name("test_docstrings.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inspection_objects():
    objects = []
    for name in skmim.inspection.__all__:
        klass = getattr(skmim.inspection, name)
        objects.append((f"skmim.inspection.{name}", klass))
        for member in ("from_estimator", "from_subspaces", "plot"):
            if member in vars(klass):
                objects.append((f"skmim.inspection.{name}.{member}", getattr(klass, member)))
    return objects


INSPECTION_OBJECTS = _inspection_objects()


@pytest.mark.parametrize("path, obj", INSPECTION_OBJECTS, ids=[p for p, _ in INSPECTION_OBJECTS])
def test_docstring_parameters(path, obj):
    checks = _docstring_checks()
    target = obj.__init__ if inspect.isclass(obj) else obj
    signature = [checks._normalize(n) for n in inspect.signature(target).parameters]
    signature = [n for n in signature if n not in ("self", "cls")]
    documented = [checks._normalize(n) for n in checks._documented_parameters(obj.__doc__)]
    assert sorted(signature) == sorted(documented), path
    validate = pytest.importorskip("numpydoc.validate")
    errors = [code for code, _ in validate.validate(path)["errors"] if code in ("PR01", "PR02")]
    assert not errors, path
