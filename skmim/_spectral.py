"""SpectralProjector: the explicit spectral estimator the network mimics."""

import numbers

import numpy as np

from ._base import STAGE1_CONSTRAINTS, BaseMultiIndex, atomic
from ._sklearn_private import Interval, StrOptions, _fit_context
from . import _engine  # torch loads on the first fit
from ._engine import STAGE1_LOSSES, count_above_noise
from ._preprocess import fit_standardize, relative_weights, to_input_coordinates


class SpectralProjector(BaseMultiIndex):
    """Top eigenvectors of the preprocessed second-moment matrix (pHd).

    Computes ``Sigma_hat = sum_i w_i s_i x_i x_i^T / sum_i w_i`` with the label
    scores ``s_i = -l'(0, y_i)`` of the chosen stage-1 loss and keeps the
    eigenvectors of largest ``|eigenvalue|``. With ``loss="squared"`` this is
    principal Hessian directions (Li, 1992). It is what stage 1 of
    :class:`MultiIndexNetRegressor` computes implicitly by power iteration,
    here by an explicit eigendecomposition: a baseline to compare the network
    with (``O(n d^2 + d^3)`` time and ``O(d^2)`` memory).

    ``X`` and ``y`` are standardized first (weighted mean and standard
    deviation of each column; weights divided by their mean), so the
    estimate does not depend on units or weight scale; ``subspace_`` is in
    the coordinates of the ``X`` given.

    Parameters
    ----------
    n_components : int or "auto", default="auto"
        Number of eigenvectors; ``"auto"`` keeps those whose eigenvalue exceeds
        1.25 times the noise edge ``s (2 sqrt(d/n) + d/n)``.
    loss : {"auto", "huber", "squared", "abs", "rank"}, default="huber"
        Label preprocessing, as in :class:`MultiIndexNetRegressor`. ``"auto"``
        keeps the one whose weakest kept eigenvalue stands furthest above its
        noise edge.
    huber_delta : float, default=1.0
        Huber threshold in units of the robust scale of ``y``.
    device : {"auto", "cpu", "cuda", "mps"} or torch.device, default="auto"
    dtype : {"auto", "float32", "float64"}, default="auto"
    batch_size : int or None, default=None
        Rows moved to the device at a time.
    whiten : bool or {"ledoit_wolf", "oas"}, default="ledoit_wolf"
        Decorrelate the standardized columns of ``X`` with a shrinkage
        estimate of their correlation matrix before training (see
        :class:`MultiIndexNetRegressor`; ``False`` only standardizes).

    Attributes
    ----------
    subspace_ : ndarray of shape (n_features, `n_components_`)
        Orthonormal basis of the estimated subspace (input coordinates).
    projection_ : ndarray of shape (n_features, `n_components_`)
        ``transform(X) = (X - x_mean_) @ projection_``: the eigenvectors on the
        standardized input, divided row-wise by ``x_scale_``.
    n_components_ : int
    eigenvalues_ : ndarray
        Leading eigenvalues of ``Sigma_hat`` by decreasing magnitude.
    noise_level_ : float
    loss_ : str
    x_mean_, x_scale_ : ndarray of shape (n_features,)
        Weighted mean and standard deviation of the columns of ``X``.
    y_mean_, y_scale_ : float
        Weighted mean and standard deviation of ``y``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    See Also
    --------
    MultiIndexProjector : the same subspace learned by gradient descent.

    References
    ----------
    .. [1] Li. On Principal Hessian Directions for Data Visualization and
       Dimension Reduction. JASA 87 (1992).
    .. [2] Zhang, Wang, Fu, Lee. arXiv:2511.15120 (ICLR 2026).

    Examples
    --------
    >>> from skmim import GaussianMultiIndex, SpectralProjector
    >>> X, y = GaussianMultiIndex(16, "h2+h2", random_state=0).sample(2000, random_state=1)
    >>> SpectralProjector(n_components=2).fit(X, y).transform(X).shape
    (2000, 2)
    """

    _parameter_constraints = {
        "n_components": STAGE1_CONSTRAINTS["n_components"],
        "loss": STAGE1_CONSTRAINTS["loss"],
        "huber_delta": [Interval(numbers.Real, 0, None, closed="neither")],
        "device": STAGE1_CONSTRAINTS["device"],
        "dtype": [StrOptions({"auto", "float32", "float64"})],
        "batch_size": STAGE1_CONSTRAINTS["batch_size"],
        "whiten": STAGE1_CONSTRAINTS["whiten"],
    }

    def __init__(self, n_components="auto", *, loss="huber", huber_delta=1.0, device="auto",
                 dtype="auto", batch_size=None, whiten="ledoit_wolf"):
        self.n_components = n_components
        self.loss = loss
        self.huber_delta = huber_delta
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.whiten = whiten

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic
    def fit(self, X, y, sample_weight=None):
        """Eigendecompose the preprocessed second-moment matrix of ``(X, y)``.

        Parameters
        ----------
        X : array-like, torch.Tensor or dask.array.Array of shape (n_samples, n_features)
            A torch tensor (any device, with or without gradient) is copied
            to the host: the standardization and the split run in NumPy. A
            dask array is fitted blockwise, one task per row chunk, and never
            computed as a whole (the user guide's "Large data" page).
        y : array-like or torch.Tensor of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : SpectralProjector
        """
        X, y, sw = self._validate_fit_input(X, y, sample_weight)
        n, d = X.shape
        k = self._check_n_components(d, n)
        device, dtype = self._device_for(X)
        Xs, ys, stats = fit_standardize(X, y, sw, self._whiten_method())
        sw = relative_weights(sw)
        best = None
        for loss in STAGE1_LOSSES if self.loss == "auto" else (self.loss,):
            res = _engine.spectral_subspace(Xs, ys, sw, loss=loss, huber_delta=self.huber_delta,
                                    n_components=k, device=device, dtype=dtype,
                                    batch_size=self.batch_size)
            basis, kk, vals, level, degenerate = res
            score = abs(vals[kk - 1]) / level if level > 0 else -np.inf
            if best is None or score > best[0] * (1 + 1e-9):  # ties keep the first
                best = (score, loss, res)
        _, loss, (basis, kk, vals, level, degenerate) = best
        if degenerate:
            self._warn_constant(stats.y_constant)
        elif count_above_noise(vals, level) == 0:
            self._warn_noise_edge(n)
        self._set_standardization(stats)
        self.projection_, self.subspace_ = to_input_coordinates(basis, stats)
        self.n_components_ = kk
        self.eigenvalues_ = vals
        self.noise_level_ = level
        self.loss_ = loss
        return self
