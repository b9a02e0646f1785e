"""The four displays of :mod:`skmim.inspection`.

The values are computed with NumPy (and the estimator's own ``transform`` and
``predict``); matplotlib is imported inside ``plot`` only.
"""

import numbers
import warnings

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._engine._stats import NOISE_MARGIN
from ..metrics import principal_angles, subspace_distance

__all__ = ["AlignmentDisplay", "SpectrumDisplay", "SummaryPlotDisplay", "TrainingCurveDisplay"]


# ----------------------------------------------------------------------------- helpers
def _pyplot():
    """``matplotlib.pyplot``, or an ImportError that names the ``plot`` extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a test dependency
        raise ImportError(
            'plotting needs matplotlib, which is not installed: pip install "skmim[plot]" '
            '(or pip install matplotlib).'
        ) from exc
    return plt


def _axes(ax, n_panels, figsize):
    """A figure and a list of ``n_panels`` axes: new ones for ``ax=None``, else those given.

    ``ax`` is one Axes (for one panel) or a sequence of ``n_panels`` Axes.
    """
    plt = _pyplot()
    if ax is None:
        fig, axes = plt.subplots(1, n_panels, figsize=figsize, squeeze=False,
                                 layout="constrained")
        return fig, list(axes[0])
    if isinstance(ax, (list, tuple, np.ndarray)):
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
    else:
        axes = [ax]
    if len(axes) != n_panels:
        raise ValueError(
            f"this plot has {n_panels} panel{'s' if n_panels > 1 else ''}, but ax holds "
            f"{len(axes)} Axes: pass {'one Axes' if n_panels == 1 else f'{n_panels} Axes'} "
            "or ax=None (a new figure)."
        )
    return axes[0].figure, axes


def _name(estimator):
    return type(estimator).__name__


# ----------------------------------------------------------------------------- spectrum
class SpectrumDisplay:
    """Spectrum of the learned first layer against the noise edge.

    Draws the magnitudes of the spectral values by rank (largest first), a
    horizontal line at the noise edge ``noise_level`` (the largest magnitude
    expected from noise alone at this ``n`` and ``d``) and one at the
    threshold of ``n_components="auto"`` in its spectral form,
    ``1.25 * noise_level``, and marks the ``n_components`` directions kept.
    When held-out losses per candidate dimension are given
    (``dimension_scores``, as ``n_components="auto"`` with
    ``solver="refined"`` computes them), a second panel shows them.

    Build it with :meth:`from_estimator`; the constructor takes the values.

    Parameters
    ----------
    spectrum : array-like of shape (n_values,)
        Spectral values by decreasing magnitude (signed: Ritz values may be
        negative). Magnitudes are drawn.
    noise_level : float or None
        Noise edge of the matrix whose spectrum this is; None (or 0) draws no
        noise lines (the "sgd" solver's spectrum, singular values of the
        first layer, has no noise edge).
    n_components : int
        Number of directions kept (``n_components_``).
    dimension_scores : dict of {int: float} or None, default=None
        Held-out loss per candidate dimension (``dimension_scores_``).
    value_label : str or None, default=None
        Label of the values' axis; None is ``"|Ritz value|"``.
    scores_label : str or None, default=None
        Label of the dimension scores' axis; None is ``"held-out Huber loss"``
        (a classifier's ``from_estimator``: ``"held-out Brier score"``).
    estimator_name : str or None, default=None
        Name of the estimator, used in the title.

    Attributes
    ----------
    spectrum : ndarray of shape (n_values,)
        The signed values.
    magnitudes : ndarray of shape (n_values,)
        ``abs(spectrum)``: what is drawn.
    ranks : ndarray of shape (n_values,)
        ``1, ..., n_values``.
    noise_level : float or None
        The noise edge (None when there is none).
    threshold : float or None
        ``NOISE_MARGIN * noise_level`` (``NOISE_MARGIN = 1.25``): values
        above it count as signal for the spectral ``"auto"`` dimension.
    n_components : int
        Number of directions kept.
    dimension_scores : dict or None
        Held-out loss per candidate dimension.
    value_label, scores_label : str
        Labels of the values' and the dimension scores' axes.
    estimator_name : str or None
        Name of the estimator.
    ax_ : matplotlib Axes
        Axes of the spectrum.
    scores_ax_ : matplotlib Axes or None
        Axes of the dimension scores (None when they are not drawn).
    axes_ : list of matplotlib Axes
        All axes drawn on (``[ax_]`` or ``[ax_, scores_ax_]``).
    figure_ : matplotlib Figure
        Figure of the axes.
    line_ : matplotlib Line2D
        The magnitudes against their rank.
    kept_ : matplotlib Line2D
        Rings around the ``n_components`` kept values.
    n_components_line_ : matplotlib Line2D
        Vertical line between the kept values and the others.
    noise_line_, threshold_line_ : matplotlib Line2D or None
        Horizontal lines at ``noise_level`` and ``threshold``.
    scores_line_ : matplotlib Line2D or None
        Held-out loss against the candidate dimension.

    See Also
    --------
    SummaryPlotDisplay : the data along the learned directions.
    TrainingCurveDisplay : the records of the training steps.
    skmim.MultiIndexNetRegressor : whose ``spectrum_`` and ``noise_level_`` this draws.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skmim import GaussianMultiIndex, MultiIndexNetRegressor
    >>> from skmim.inspection import SpectrumDisplay
    >>> problem = GaussianMultiIndex(16, "h2+h2", noise=0.1, random_state=0)
    >>> X, y = problem.sample(1000, random_state=1)
    >>> model = MultiIndexNetRegressor(n_components=2, width=32, random_state=0).fit(X, y)
    >>> disp = SpectrumDisplay.from_estimator(model)
    >>> disp.n_components, int((disp.magnitudes > disp.threshold).sum())
    (2, 2)
    >>> plt.close(disp.figure_)
    """

    def __init__(self, spectrum, noise_level, n_components, *, dimension_scores=None,
                 value_label=None, scores_label=None, estimator_name=None):
        self.spectrum = np.asarray(spectrum, dtype=float).ravel()
        self.magnitudes = np.abs(self.spectrum)
        self.ranks = np.arange(1, self.spectrum.size + 1)
        if noise_level is not None and not float(noise_level) > 0:
            noise_level = None
        self.noise_level = None if noise_level is None else float(noise_level)
        self.threshold = None if noise_level is None else NOISE_MARGIN * self.noise_level
        self.n_components = int(n_components)
        self.dimension_scores = None if dimension_scores is None else dict(dimension_scores)
        self.value_label = "|Ritz value|" if value_label is None else value_label
        self.scores_label = "held-out Huber loss" if scores_label is None else scores_label
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, log_scale=True, plot_scores=True, ax=None, **kwargs):
        """Plot the spectrum of a fitted skmim estimator.

        Reads ``spectrum_`` (``eigenvalues_`` for
        :class:`~skmim.SpectralProjector`), ``noise_level_``,
        ``n_components_`` and ``dimension_scores_``. The values are the Ritz
        values of the stage-1 second-moment matrix ``E[l'(0, y) x x^T]`` on
        the top singular directions of the first layer, or for
        ``loss_ == "sliced"`` the eigenvalues of the sliced-inverse-regression
        matrix, or for ``solver="sgd"`` the singular values of the trained
        first layer (no noise edge); all in units of the standardized ``y``.

        Parameters
        ----------
        estimator : fitted MultiIndexNetRegressor, MultiIndexProjector or SpectralProjector
            The estimator.
        log_scale : bool, default=True
            Logarithmic axis for the magnitudes (when they are all positive).
        plot_scores : bool, default=True
            Draw ``dimension_scores_`` in a second panel when the estimator
            has them (with ``ax=None``, or ``ax`` a pair of Axes).
        ax : matplotlib Axes, sequence of two Axes or None, default=None
            Where to draw; None makes a new figure (with one or two axes).
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for the spectrum.

        Returns
        -------
        display : SpectrumDisplay

        Raises
        ------
        ValueError
            When the estimator has no spectrum: an empty ``spectrum_`` (the
            "grassmann" solver's random start, a constant ``y``) or a linear
            model (``loss_ == "linear"``).
        """
        check_is_fitted(estimator)
        name = _name(estimator)
        if getattr(estimator, "loss_", None) == "linear":
            raise ValueError(
                f"this {name} kept a linear model (loss_='linear': ridge regression on all "
                "columns predicted as well as the refined subspace), so no spectrum chose its "
                "direction: there is no spectrum to show."
            )
        if hasattr(estimator, "spectrum_"):
            spectrum = estimator.spectrum_
        elif hasattr(estimator, "eigenvalues_"):
            spectrum = estimator.eigenvalues_
        else:
            raise ValueError(f"{name} has no spectrum_ (nor eigenvalues_) to show.")
        spectrum = np.asarray(spectrum, dtype=float)
        if spectrum.size == 0:
            raise ValueError(
                f"this {name} has an empty spectrum_: no spectral stage ran (solver='grassmann' "
                "starts from a random subspace; a constant y has no signal), so there is no "
                "spectrum to show."
            )
        loss = getattr(estimator, "loss_", None)
        noise_level = getattr(estimator, "noise_level_", None)
        if getattr(estimator, "solver", None) == "sgd":
            label = "singular value of the first layer"
        elif loss == "sliced":
            label = "|SIR eigenvalue|"
        elif hasattr(estimator, "eigenvalues_") and not hasattr(estimator, "spectrum_"):
            label = "|eigenvalue|"
        else:
            label = "|Ritz value|"
        disp = cls(spectrum, noise_level, estimator.n_components_,
                   dimension_scores=getattr(estimator, "dimension_scores_", None),
                   value_label=label, estimator_name=name,
                   scores_label=("held-out Brier score" if hasattr(estimator, "classes_")
                                 else None))
        return disp.plot(ax=ax, log_scale=log_scale, plot_scores=plot_scores, **kwargs)

    def plot(self, ax=None, *, log_scale=True, plot_scores=True, **kwargs):
        """Draw the spectrum (and the dimension scores).

        Parameters
        ----------
        ax : matplotlib Axes, sequence of two Axes or None, default=None
            Where to draw. One Axes: the spectrum only. Two Axes: the
            spectrum and the dimension scores. None: a new figure with one
            axes, or two when ``dimension_scores`` is not None and
            ``plot_scores`` is True.
        log_scale : bool, default=True
            Logarithmic axis for the magnitudes (when they are all positive).
        plot_scores : bool, default=True
            Draw the dimension scores when there are some and ``ax`` allows.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for the spectrum.

        Returns
        -------
        display : SpectrumDisplay
            ``self``, with the artists as attributes.
        """
        has_scores = bool(plot_scores) and self.dimension_scores is not None
        if ax is None:
            n_panels = 2 if has_scores else 1
        else:
            n_panels = len(np.ravel(np.asarray(ax, dtype=object))) if isinstance(
                ax, (list, tuple, np.ndarray)) else 1
            if n_panels not in (1, 2):
                raise ValueError(f"ax must be one Axes or a sequence of two, got {n_panels}.")
            if n_panels == 2 and not has_scores:
                raise ValueError("two Axes given, but there are no dimension scores to draw"
                                 + (" (plot_scores=False)." if plot_scores is False else "."))
        fig, axes = _axes(ax, n_panels, (5.2 * n_panels, 3.8))
        ax0 = axes[0]
        k = self.n_components
        kw = {"marker": "o", "color": "C0", "label": self.value_label, **kwargs}
        (self.line_,) = ax0.plot(self.ranks, self.magnitudes, **kw)
        kept = slice(0, min(k, self.magnitudes.size))
        (self.kept_,) = ax0.plot(self.ranks[kept], self.magnitudes[kept], linestyle="none",
                                 marker="o", markersize=12, markerfacecolor="none",
                                 markeredgecolor="C3", label=f"kept: n_components_ = {k}")
        self.n_components_line_ = ax0.axvline(k + 0.5, color="C3", linewidth=0.8, alpha=0.7)
        self.noise_line_ = self.threshold_line_ = None
        if self.noise_level is not None:
            self.noise_line_ = ax0.axhline(self.noise_level, color="gray", linestyle="--",
                                           label="noise edge")
            self.threshold_line_ = ax0.axhline(
                self.threshold, color="black", linestyle=":",
                label=f"{NOISE_MARGIN:g} x noise edge (auto threshold)")
        if log_scale and np.all(self.magnitudes > 0):
            ax0.set_yscale("log")
        ax0.set_xticks(self.ranks)
        ax0.set(xlabel="rank", ylabel=self.value_label,
                title=f"{self.estimator_name}: spectrum" if self.estimator_name else "spectrum")
        ax0.legend(fontsize="small")
        self.scores_ax_ = self.scores_line_ = None
        if n_panels == 2:
            ax1 = axes[1]
            dims = np.array(sorted(self.dimension_scores))
            scores = np.array([self.dimension_scores[dim] for dim in dims], dtype=float)
            (self.scores_line_,) = ax1.plot(dims, scores, marker="o", color="C0")
            if k in self.dimension_scores:
                ax1.plot([k], [self.dimension_scores[k]], linestyle="none", marker="o",
                         markersize=12, markerfacecolor="none", markeredgecolor="C3",
                         label=f"chosen: {k}")
                ax1.legend(fontsize="small")
            ax1.set_xticks(dims)
            if np.all(scores > 0):
                ax1.set_yscale("log")
            ax1.set(xlabel="candidate dimension", ylabel=self.scores_label,
                    title="dimension search")
            self.scores_ax_ = ax1
        self.ax_ = ax0
        self.axes_ = list(axes)
        self.figure_ = fig
        return self


# ----------------------------------------------------------------------------- summary plot
# A keyword the caller gives replaces the defaults it conflicts with in the
# matplotlib call (one color and a color array, a color and a colormap)
_REPLACES = {
    "c": ("color", "cmap", "norm"), "color": ("c", "cmap", "norm"),
    "facecolor": ("c", "color", "cmap", "norm"), "facecolors": ("c", "color", "cmap", "norm"),
    "fc": ("c", "color", "cmap", "norm"), "colors": ("cmap", "norm"),
}


def _merged(defaults, given):
    """``defaults`` updated with ``given``, less the defaults that a given keyword replaces."""
    out = dict(defaults)
    for key in given:
        for replaced in _REPLACES.get(key, ()):
            if replaced not in given:
                out.pop(replaced, None)
    out.update(given)
    return out


class SummaryPlotDisplay:
    """Sufficient summary plot: ``y`` against the learned projections, with the fitted link.

    With one direction: a scatter of ``y`` against the first learned
    projection ``z1 = transform(X)[:, 0]``, and the fitted link as a curve:
    the model's prediction along the first direction with the other
    projections held at 0. With two directions: a scatter of
    ``(z1, z2)`` coloured by ``y``, and the fitted link as contour lines (in
    the same colours).

    For the default ``solver="refined"`` regressor the model depends on
    ``x`` only through its projections on ``subspace_``, so the curve is the
    learned link exactly (its slice at ``z2 = ... = 0``). For the "layerwise"
    and "sgd" solvers the network's neurons also see directions outside
    ``subspace_``: the curve is the prediction on a line through the mean,
    a slice of the model rather than a link.

    Build it with :meth:`from_estimator`; the constructor takes the values.

    Parameters
    ----------
    projections : array-like of shape (n_points,) or (n_points, 2)
        The learned projections of the points drawn (one or two directions).
    y : array-like of shape (n_points,)
        Their targets.
    grid : ndarray of shape (n_grid,), tuple of two such arrays, or None, default=None
        Projection values at which the link is evaluated: one array for one
        direction, ``(t1, t2)`` for two.
    link : ndarray of shape (n_grid,) or (n_grid2, n_grid1), or None, default=None
        Predictions on the grid (for two directions ``link[j, i]`` is at
        ``(t1[i], t2[j])``, as :func:`numpy.meshgrid` orders them); None
        draws the scatter only.
    grid_points : ndarray of shape (n_grid_points, n_features) or None, default=None
        The inputs ``x`` at which the link was predicted (rows in the order
        of ``link.ravel()``).
    sample_indices : ndarray of shape (n_points,) or None, default=None
        Rows of the data set that are drawn.
    estimator_name : str or None, default=None
        Name of the estimator, used in the title.

    Attributes
    ----------
    projections : ndarray of shape (n_points,) or (n_points, 2)
        Projections of the points drawn.
    y : ndarray of shape (n_points,)
        Their targets.
    n_directions : int
        1 or 2.
    grid : ndarray or tuple of ndarray or None
        Grid of projection values.
    link : ndarray or None
        Predictions on the grid.
    grid_points : ndarray or None
        Inputs of the grid: ``x_mean_ + t * pinv(projection_)[0]`` (one
        direction) or ``x_mean_ + t1 * pinv(projection_)[0] + t2 *
        pinv(projection_)[1]`` (two), whose projections are ``(t, 0, ...)``
        and ``(t1, t2, 0, ...)``.
    sample_indices : ndarray or None
        Rows of the data set drawn.
    estimator_name : str or None
        Name of the estimator.
    ax_ : matplotlib Axes
        The axes.
    figure_ : matplotlib Figure
        Its figure.
    scatter_ : matplotlib PathCollection
        The points.
    line_ : matplotlib Line2D or None
        The link curve (one direction with a link).
    contour_ : matplotlib QuadContourSet or None
        The link's contour lines (two directions with a link).
    colorbar_ : matplotlib Colorbar or None
        Colour scale of ``y`` (two directions).

    See Also
    --------
    SpectrumDisplay : how many directions stand above the noise.
    skmim.MultiIndexNetRegressor.transform : the projections drawn.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from skmim import GaussianMultiIndex, MultiIndexNetRegressor
    >>> from skmim.inspection import SummaryPlotDisplay
    >>> problem = GaussianMultiIndex(16, "h2+h2", noise=0.1, random_state=0)
    >>> X, y = problem.sample(1000, random_state=1)
    >>> model = MultiIndexNetRegressor(n_components=2, width=32, random_state=0).fit(X, y)
    >>> disp = SummaryPlotDisplay.from_estimator(model, X, y)
    >>> disp.projections.shape, disp.link.shape
    ((1000,), (100,))
    >>> bool(np.allclose(disp.link, model.predict(disp.grid_points)))
    True
    >>> disp2 = SummaryPlotDisplay.from_estimator(model, X, y, n_directions=2)
    >>> disp2.link.shape
    (50, 50)
    >>> plt.close("all")
    """

    def __init__(self, projections, y, *, grid=None, link=None, grid_points=None,
                 sample_indices=None, estimator_name=None):
        projections = np.asarray(projections, dtype=float)
        if projections.ndim == 2 and projections.shape[1] == 1:
            projections = projections[:, 0]
        if projections.ndim not in (1, 2) or (projections.ndim == 2 and projections.shape[1] != 2):
            raise ValueError(
                "projections must have shape (n_points,) or (n_points, 2), got "
                f"{projections.shape}.")
        self.projections = projections
        self.y = np.asarray(y, dtype=float).ravel()
        if self.y.shape[0] != projections.shape[0]:
            raise ValueError(
                f"projections has {projections.shape[0]} points but y has {self.y.shape[0]}.")
        self.n_directions = 1 if projections.ndim == 1 else 2
        self.grid = grid
        self.link = None if link is None else np.asarray(link, dtype=float)
        self.grid_points = grid_points
        self.sample_indices = sample_indices
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, X, y, *, n_directions=1, max_points=2000,
                       grid_resolution=None, random_state=0, ax=None, line_kwargs=None,
                       **kwargs):
        """Draw the sufficient summary plot of a fitted skmim estimator on ``(X, y)``.

        The projections are ``estimator.transform(X)``; the link is drawn
        for estimators with ``predict`` (:class:`~skmim.MultiIndexNetRegressor`;
        a :class:`~skmim.MultiIndexNetClassifier` of two classes: ``y`` drawn
        as the indicator of ``classes_[1]`` and the link as its probability,
        ``predict_proba(x)[:, 1]``),
        from ``estimator.predict`` at ``x = x_mean_ + t * pinv(projection_)[0]``
        (two directions: ``+ t1 * pinv(projection_)[0] + t2 * pinv(projection_)[1]``)
        for ``t`` on a grid from the smallest to the largest projection of
        ``X``. The feature-learning transformers
        (:class:`~skmim.MultiIndexProjector`, :class:`~skmim.SpectralProjector`)
        get the scatter alone.

        Parameters
        ----------
        estimator : fitted skmim estimator
            One with ``transform``, ``projection_`` and ``x_mean_``.
        X : array-like of shape (n_samples, n_features)
            Inputs, as ``transform`` accepts them (a DataFrame with the column
            names seen in ``fit`` included).
        y : array-like of shape (n_samples,)
            Targets.
        n_directions : {1, 2}, default=1
            Number of learned directions drawn (2 needs ``n_components_ >= 2``).
        max_points : int or None, default=2000
            At most this many points are drawn, chosen at random without
            replacement (seeded by ``random_state``); None draws all.
        grid_resolution : int or None, default=None
            Number of grid values per direction; None is 100 for one
            direction and 50 for two.
        random_state : int, RandomState instance or None, default=0
            Seeds the choice of the points drawn.
        ax : matplotlib Axes or None, default=None
            Where to draw; None makes a new figure.
        line_kwargs : dict or None, default=None
            Passed to :meth:`matplotlib.axes.Axes.plot` for the link curve,
            or to :meth:`matplotlib.axes.Axes.contour` for its contours.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : SummaryPlotDisplay
        """
        check_is_fitted(estimator)
        name = _name(estimator)
        if not (hasattr(estimator, "projection_") and hasattr(estimator, "x_mean_")):
            raise ValueError(
                f"{name} has no projection_ and x_mean_: pass a fitted skmim estimator "
                "(for a Pipeline, its last step and the data transformed by the steps before).")
        if n_directions not in (1, 2):
            raise ValueError(f"n_directions must be 1 or 2, got {n_directions!r}.")
        k = int(estimator.n_components_)
        if n_directions > k:
            raise ValueError(
                f"n_directions={n_directions} but this {name} learned n_components_={k} "
                "direction: use n_directions=1.")
        if max_points is not None and not (isinstance(max_points, numbers.Integral)
                                           and max_points >= 1):
            raise ValueError(f"max_points must be a positive integer or None, got {max_points!r}.")
        resolution = (100 if n_directions == 1 else 50) if grid_resolution is None else int(
            grid_resolution)
        if resolution < 2:
            raise ValueError(f"grid_resolution must be at least 2, got {grid_resolution!r}.")
        classes = getattr(estimator, "classes_", None)
        if classes is not None and len(classes) != 2:
            raise ValueError(
                f"{name} has {len(classes)} classes: the summary plot draws one link, the "
                "probability of classes_[1], so it takes a classifier of two classes.")
        Z = np.asarray(estimator.transform(X), dtype=float)[:, :n_directions]
        if classes is not None:
            y = (np.asarray(y).ravel() == classes[1]).astype(float)
        else:
            y = np.asarray(y, dtype=float).ravel()
        if y.shape[0] != Z.shape[0]:
            raise ValueError(f"X has {Z.shape[0]} samples but y has {y.shape[0]}.")
        n = Z.shape[0]
        if max_points is None or n <= max_points:
            rows = np.arange(n)
        else:
            rows = np.sort(check_random_state(random_state).choice(n, max_points, replace=False))
        grid = link = points = None
        if hasattr(estimator, "predict"):
            # rows of pinv(projection_): projection_.T @ v_j = e_j, so the input
            # x_mean_ + sum_j t_j v_j has projections (t_1, ..., 0, ...)
            V = np.linalg.pinv(np.asarray(estimator.projection_, dtype=float))[:n_directions]
            axes_t = [np.linspace(Z[:, j].min(), Z[:, j].max(), resolution)
                      for j in range(n_directions)]
            if n_directions == 1:
                grid = axes_t[0]
                T = grid[:, None]
            else:
                grid = (axes_t[0], axes_t[1])
                T1, T2 = np.meshgrid(*axes_t)
                T = np.column_stack([T1.ravel(), T2.ravel()])
            points = np.asarray(estimator.x_mean_, dtype=float) + T @ V
            link = _predict(estimator, points)
            if n_directions == 2:
                link = link.reshape(resolution, resolution)
        disp = cls(Z[rows, 0] if n_directions == 1 else Z[rows], y[rows], grid=grid, link=link,
                   grid_points=points, sample_indices=rows, estimator_name=name)
        return disp.plot(ax=ax, line_kwargs=line_kwargs, **kwargs)

    def plot(self, ax=None, *, line_kwargs=None, **kwargs):
        """Draw the summary plot.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Where to draw; None makes a new figure.
        line_kwargs : dict or None, default=None
            Passed to :meth:`matplotlib.axes.Axes.plot` for the link curve,
            or to :meth:`matplotlib.axes.Axes.contour` for its contours.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : SummaryPlotDisplay
            ``self``, with the artists as attributes.
        """
        fig, (ax,) = _axes(ax, 1, (6.0, 4.5) if self.n_directions == 1 else (6.0, 5.0))
        line_kwargs = {} if line_kwargs is None else dict(line_kwargs)
        title = "sufficient summary plot"
        if self.estimator_name:
            title = f"{self.estimator_name}: {title}"
        self.line_ = self.contour_ = self.colorbar_ = None
        if self.n_directions == 1:
            kw = _merged({"s": 8, "alpha": 0.4, "color": "C0", "label": "samples"}, kwargs)
            self.scatter_ = ax.scatter(self.projections, self.y, **kw)
            if self.link is not None:
                lk = _merged({"color": "C3", "linewidth": 2.0, "label": "fitted link"},
                             line_kwargs)
                (self.line_,) = ax.plot(self.grid, self.link, **lk)
            ax.set(xlabel="first learned projection z1 = transform(X)[:, 0]", ylabel="y",
                   title=title)
            ax.legend(fontsize="small")
        else:
            kw = _merged({"s": 8, "alpha": 0.6, "c": self.y, "cmap": "viridis"}, kwargs)
            self.scatter_ = ax.scatter(self.projections[:, 0], self.projections[:, 1], **kw)
            if self.scatter_.get_array() is not None:  # colored by values, not one color
                self.colorbar_ = fig.colorbar(self.scatter_, ax=ax, label="y")
            if self.link is not None:
                ck = _merged({"levels": 10, "cmap": kw.get("cmap", "viridis"),
                              "norm": self.scatter_.norm, "linewidths": 1.5}, line_kwargs)
                t1, t2 = self.grid
                self.contour_ = ax.contour(t1, t2, self.link, **ck)
                title += "\ncontour lines: fitted link"
            ax.set(xlabel="z1 = transform(X)[:, 0]", ylabel="z2 = transform(X)[:, 1]",
                   title=title)
            ax.set_aspect("equal", adjustable="datalim")
        self.ax_ = ax
        self.figure_ = fig
        return self


def _predict(estimator, points):
    """The link at ``points``: ``estimator.predict`` (a classifier: the probability of ``classes_[1]``).

    In a DataFrame when the estimator saw column names.
    """
    method = (estimator.predict if not hasattr(estimator, "classes_")
              else lambda P: estimator.predict_proba(P)[:, 1])
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - names come from a DataFrame
            pd = None
        if pd is not None:
            return np.asarray(method(pd.DataFrame(points, columns=names)), dtype=float)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return np.asarray(method(points), dtype=float)


# ----------------------------------------------------------------------------- training curves
_REFINE_KEYS = ("train_loss", "val_loss")


def _scalar_records(history, skip=()):
    """The records of ``history`` that hold one number per step, as float arrays."""
    curves = {}
    for key, values in (history or {}).items():
        if key in skip:
            continue
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            continue
        if arr.ndim == 1 and arr.size > 0:
            curves[key] = arr
    return curves


class TrainingCurveDisplay:
    """Training curves: the stage-1 records and the refinement's losses.

    One panel per training phase that left records: stage 1 (every record
    with one number per step: ``loss``, ``rayleigh``, ``concentration``,
    ``subspace_change``; for ``solver="sgd"`` ``loss`` and ``mass_outside``
    against the SGD step) and the refinement (training and held-out loss per
    step, the best held-out step marked).

    Build it with :meth:`from_estimator`; the constructor takes the records.

    Parameters
    ----------
    history : dict of lists or None
        Stage-1 records (``history_``).
    refine_history : dict of lists or None, default=None
        Refinement records (``refine_history_``).
    loss_label : str or None, default=None
        Label of the refinement's axis; None is ``"loss (standardized y)"``
        (a classifier's ``from_estimator``: its log loss and half Brier score).
    estimator_name : str or None, default=None
        Name of the estimator, used in the titles.

    Attributes
    ----------
    history : dict or None
        The stage-1 records given.
    refine_history : dict or None
        The refinement records given.
    stage1_curves : dict of {str: ndarray}
        The stage-1 records drawn (those with one number per step, without
        ``step``); empty when there are none.
    stage1_steps : ndarray or None
        Their x values: ``history["step"]`` when present ("sgd"), else
        ``1, ..., T``.
    refine_curves : dict of {str: ndarray}
        ``train_loss`` and ``val_loss`` of the refinement (empty without one).
    refine_steps : ndarray or None
        ``1, ..., n_steps`` of the refinement.
    best_step : int or None
        Refinement step with the smallest held-out loss.
    estimator_name : str or None
        Name of the estimator.
    ax_ : matplotlib Axes
        The first axes drawn.
    axes_ : list of matplotlib Axes
        All axes drawn (one or two).
    stage1_ax_, refine_ax_ : matplotlib Axes or None
        The axes of each phase (None when not drawn).
    figure_ : matplotlib Figure
        The figure.
    stage1_lines_, refine_lines_ : dict of {str: matplotlib Line2D}
        One line per curve drawn.
    best_line_ : matplotlib Line2D or None
        Vertical line at ``best_step``.

    See Also
    --------
    SpectrumDisplay : where stage 1's power iteration ends.
    skmim.MultiIndexNetRegressor : whose ``history_`` and ``refine_history_`` this draws.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skmim import GaussianMultiIndex, MultiIndexNetRegressor
    >>> from skmim.inspection import TrainingCurveDisplay
    >>> problem = GaussianMultiIndex(16, "h2+h2", noise=0.1, random_state=0)
    >>> X, y = problem.sample(1000, random_state=1)
    >>> model = MultiIndexNetRegressor(n_components=2, width=32, random_state=0).fit(X, y)
    >>> disp = TrainingCurveDisplay.from_estimator(model)
    >>> sorted(disp.stage1_curves), sorted(disp.refine_curves), len(disp.axes_)
    (['concentration', 'loss', 'rayleigh', 'subspace_change'], ['train_loss', 'val_loss'], 2)
    >>> plt.close(disp.figure_)
    """

    def __init__(self, history, refine_history=None, *, loss_label=None, estimator_name=None):
        self.history = history
        self.loss_label = "loss (standardized y)" if loss_label is None else loss_label
        self.refine_history = refine_history
        self.stage1_curves = _scalar_records(history, skip=("step",))
        self.stage1_steps = None
        if self.stage1_curves:
            length = len(next(iter(self.stage1_curves.values())))
            steps = (history or {}).get("step")
            self.stage1_steps = (np.asarray(steps, dtype=float) if steps is not None
                                 and len(steps) == length else np.arange(1, length + 1))
        records = _scalar_records(refine_history)
        self.refine_curves = {key: records[key] for key in _REFINE_KEYS if key in records}
        self.refine_steps = self.best_step = None
        if self.refine_curves:
            length = len(next(iter(self.refine_curves.values())))
            self.refine_steps = np.arange(1, length + 1)
            if "val_loss" in self.refine_curves:
                self.best_step = int(np.argmin(self.refine_curves["val_loss"])) + 1
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, which="auto", ax=None, **kwargs):
        """Plot the training records of a fitted skmim estimator.

        Parameters
        ----------
        estimator : fitted MultiIndexNetRegressor or MultiIndexProjector
            The estimator (its ``history_`` and ``refine_history_``).
        which : {"auto", "stage1", "refinement"}, default="auto"
            The phases drawn: ``"auto"`` draws every phase with records.
        ax : matplotlib Axes, sequence of Axes or None, default=None
            Where to draw: one Axes per phase drawn; None makes a new figure.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for every curve.

        Returns
        -------
        display : TrainingCurveDisplay

        Raises
        ------
        ValueError
            When there is nothing to draw (no stage-1 records and no
            refinement), or not for ``which``.
        """
        check_is_fitted(estimator)
        name = _name(estimator)
        if not (hasattr(estimator, "history_") or hasattr(estimator, "refine_history_")):
            raise ValueError(
                f"{name} has no history_ or refine_history_: pass a fitted skmim estimator "
                "(for a Pipeline, its last step).")
        disp = cls(getattr(estimator, "history_", None),
                   getattr(estimator, "refine_history_", None), estimator_name=name,
                   loss_label=("train: log loss, val: half Brier score"
                               if hasattr(estimator, "classes_") else None))
        return disp.plot(ax=ax, which=which, **kwargs)

    def plot(self, ax=None, *, which="auto", **kwargs):
        """Draw the training curves.

        Parameters
        ----------
        ax : matplotlib Axes, sequence of Axes or None, default=None
            Where to draw: one Axes per phase drawn; None makes a new figure.
        which : {"auto", "stage1", "refinement"}, default="auto"
            The phases drawn: ``"auto"`` draws every phase with records.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for every curve.

        Returns
        -------
        display : TrainingCurveDisplay
            ``self``, with the artists as attributes.
        """
        if which not in ("auto", "stage1", "refinement"):
            raise ValueError(f"which must be 'auto', 'stage1' or 'refinement', got {which!r}.")
        phases = [phase for phase, curves in (("stage1", self.stage1_curves),
                                              ("refinement", self.refine_curves))
                  if curves and which in ("auto", phase)]
        if not phases:
            what = {"auto": "no stage-1 records and no refinement",
                    "stage1": "no stage-1 records (solver='grassmann', loss_='sliced' or a "
                              "warm start ran no stage 1)",
                    "refinement": "no refinement records (solver 'layerwise' or 'sgd', or the "
                                  "refinement was dropped: refined_ is False)"}[which]
            raise ValueError(f"nothing to plot: {what}.")
        fig, axes = _axes(ax, len(phases), (5.2 * len(phases), 3.8))
        prefix = f"{self.estimator_name}: " if self.estimator_name else ""
        self.stage1_ax_ = self.refine_ax_ = self.best_line_ = None
        self.stage1_lines_, self.refine_lines_ = {}, {}
        for phase, axis in zip(phases, axes):
            if phase == "stage1":
                for key, values in self.stage1_curves.items():
                    (self.stage1_lines_[key],) = axis.plot(
                        self.stage1_steps, values, **{"marker": "o", "label": key, **kwargs})
                sgd = "step" in (self.history or {})
                if not sgd and self.stage1_steps.size <= 20:
                    axis.set_xticks(self.stage1_steps)
                axis.set(xlabel="SGD step" if sgd else "stage-1 step", ylabel="record",
                         title=prefix + ("online SGD" if sgd else "stage 1"))
                self.stage1_ax_ = axis
            else:
                for key, values in self.refine_curves.items():
                    (self.refine_lines_[key],) = axis.plot(
                        self.refine_steps, values, **{"label": key, **kwargs})
                if self.best_step is not None:
                    self.best_line_ = axis.axvline(self.best_step, color="gray", linestyle=":",
                                                   label=f"best held-out step ({self.best_step})")
                if all(np.all(v > 0) for v in self.refine_curves.values()):
                    axis.set_yscale("log")
                axis.set(xlabel="refinement step", ylabel=self.loss_label,
                         title=prefix + "refinement")
                self.refine_ax_ = axis
            axis.legend(fontsize="small")
        self.ax_ = axes[0]
        self.axes_ = list(axes)
        self.figure_ = fig
        return self


# ----------------------------------------------------------------------------- alignment
class AlignmentDisplay:
    """Principal angles between a learned subspace and a reference, as bars in degrees.

    The bars are the principal angles of
    :func:`skmim.metrics.principal_angles` in degrees, largest first (the
    order in which it returns them): 0 for a direction of the reference that
    the learned subspace contains, 90 for one orthogonal to it. The title
    gives :func:`skmim.metrics.subspace_distance`.

    Build it with :meth:`from_estimator` or :meth:`from_subspaces`; the
    constructor takes the values.

    Parameters
    ----------
    angles : array-like of shape (n_angles,)
        Principal angles in radians.
    distance : float
        Subspace distance of the two subspaces.
    estimator_name : str or None, default=None
        Name of the learned subspace (an estimator's class), used in the title.

    Attributes
    ----------
    angles : ndarray of shape (n_angles,)
        Principal angles in radians, as given.
    angles_degrees : ndarray of shape (n_angles,)
        The same in degrees: the bar heights.
    cosines : ndarray of shape (n_angles,)
        Their cosines (the canonical correlations of the two bases).
    distance : float
        Subspace distance (0: equal, 1: orthogonal).
    estimator_name : str or None
        Name of the learned subspace.
    ax_ : matplotlib Axes
        The axes.
    figure_ : matplotlib Figure
        Its figure.
    bars_ : matplotlib BarContainer
        The bars.

    See Also
    --------
    skmim.metrics.principal_angles : the angles drawn.
    skmim.metrics.subspace_distance : the distance in the title.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skmim import GaussianMultiIndex, MultiIndexNetRegressor
    >>> from skmim.inspection import AlignmentDisplay
    >>> problem = GaussianMultiIndex(16, "h2+h2", noise=0.1, random_state=0)
    >>> X, y = problem.sample(1000, random_state=1)
    >>> model = MultiIndexNetRegressor(n_components=2, width=32, random_state=0).fit(X, y)
    >>> disp = AlignmentDisplay.from_estimator(model, problem.subspace)
    >>> disp.angles_degrees.shape, bool(disp.angles_degrees.max() < 10)
    ((2,), True)
    >>> plt.close(disp.figure_)
    """

    def __init__(self, angles, distance, *, estimator_name=None):
        self.angles = np.asarray(angles, dtype=float).ravel()
        self.angles_degrees = np.degrees(self.angles)
        self.cosines = np.cos(self.angles)
        self.distance = float(distance)
        self.estimator_name = estimator_name

    @classmethod
    def from_subspaces(cls, estimated, reference, *, estimator_name=None, ax=None, **kwargs):
        """Plot the principal angles between two subspaces.

        Parameters
        ----------
        estimated : array-like of shape (n_features, k_estimated)
            Basis of the learned subspace (need not be orthonormal).
        reference : array-like of shape (n_features, k_reference)
            Basis of the reference subspace, e.g. ``GaussianMultiIndex.subspace``.
        estimator_name : str or None, default=None
            Name of the learned subspace, used in the title.
        ax : matplotlib Axes or None, default=None
            Where to draw; None makes a new figure.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.bar`.

        Returns
        -------
        display : AlignmentDisplay
        """
        angles = principal_angles(estimated, reference)
        distance = subspace_distance(estimated, reference)
        return cls(angles, distance, estimator_name=estimator_name).plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, reference, *, ax=None, **kwargs):
        """Plot the principal angles between ``estimator.subspace_`` and a reference.

        Parameters
        ----------
        estimator : fitted skmim estimator
            One with ``subspace_``.
        reference : array-like of shape (n_features, k_reference)
            Basis of the reference subspace, e.g. ``GaussianMultiIndex.subspace``.
        ax : matplotlib Axes or None, default=None
            Where to draw; None makes a new figure.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.bar`.

        Returns
        -------
        display : AlignmentDisplay
        """
        check_is_fitted(estimator)
        if not hasattr(estimator, "subspace_"):
            raise ValueError(f"{_name(estimator)} has no subspace_ to compare.")
        return cls.from_subspaces(estimator.subspace_, reference,
                                  estimator_name=_name(estimator), ax=ax, **kwargs)

    def plot(self, ax=None, **kwargs):
        """Draw the angles.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Where to draw; None makes a new figure.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.bar`.

        Returns
        -------
        display : AlignmentDisplay
            ``self``, with the artists as attributes.
        """
        fig, (ax,) = _axes(ax, 1, (max(3.5, 1.0 + 0.8 * self.angles.size), 3.8))
        positions = np.arange(1, self.angles.size + 1)
        self.bars_ = ax.bar(positions, self.angles_degrees, **{"color": "C0", **kwargs})
        ax.bar_label(self.bars_, fmt="%.1f", fontsize="small")
        ax.set_xticks(positions)
        ax.set_ylim(0, 95)
        ax.set_yticks([0, 15, 30, 45, 60, 75, 90])
        title = f"subspace distance {self.distance:.3f}"
        if self.estimator_name:
            title = f"{self.estimator_name} vs reference\n{title}"
        ax.set(xlabel="principal angle (largest first)", ylabel="angle (degrees)", title=title)
        self.ax_ = ax
        self.figure_ = fig
        return self
