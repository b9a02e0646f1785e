"""MultiIndexProjector: the feature-learning stage alone, as a transformer."""


from ._base import STAGE1_CONSTRAINTS, BaseMultiIndex, atomic
from ._sklearn_private import _fit_context


class MultiIndexProjector(BaseMultiIndex):
    """Learn the hidden subspace with stage 1 of the layer-wise network.

    Runs the feature-learning part of :class:`MultiIndexNetRegressor` (gradient
    descent on the first layer from a tiny symmetric initialization, which acts
    as power iteration, then by default the Grassmannian refinement) and
    exposes the learned projection (invariant to the units of the columns of
    ``X``, which are standardized internally), so that any scikit-learn regressor can be fitted on the learned directions
    in a :class:`~sklearn.pipeline.Pipeline`.

    Parameters
    ----------
    n_components : int or "auto", default="auto"
        Number of directions; ``"auto"``: by held-out loss among nested
        candidate dimensions with the "refined" solver, otherwise the count of
        directions whose spectral signal exceeds 1.25 times the noise edge
        (see :class:`MultiIndexNetRegressor`).
    solver : {"refined", "layerwise", "grassmann", "sgd"}, default="refined"
        ``"layerwise"``: stage 1 of the published algorithm on all samples;
        ``"refined"``: stage 1 then two-timescale Grassmannian descent, stopped
        on held-out samples; ``"grassmann"``: that descent from a random start.
    width : int, default=256
        Number of hidden neurons (even); see :class:`MultiIndexNetRegressor`.
    loss : {"auto", "huber", "squared", "abs", "rank"}, default="auto"
        Stage-1 loss (label preprocessing). ``"auto"`` chooses as
        :class:`MultiIndexNetRegressor` does: by held-out loss after refinement
        ("refined"), or by spectral signal-to-noise ("layerwise").
    huber_delta : float, default=1.0
        Huber threshold in units of the robust scale of ``y``.
    n_steps : int or "auto", default="auto"
        Stage-1 gradient steps; ``"auto"`` is ``round(1.5 sqrt(log d))``.
    learning_rate : float, default=1.0
        Stage-1 step size.
    weight_decay : float or None, default=None
        Stage-1 weight decay; ``None`` is ``1 / learning_rate`` (power iteration).
    init_scale : float, default=1e-3
        Norm of the first-layer rows during stage 1.
    validation_fraction : float in (0, 1) or "auto", default="auto"
        Held-out fraction that stops the refinement (``"auto"``: see
        :class:`MultiIndexNetRegressor`).
    link_degree : int, default=4
        Degree of the Hermite basis of the link refitted during refinement.
    max_iter : int, default=200
        Maximum number of refinement steps. A refinement that reaches it before
        its stopping rule fires, while its held-out loss still falls by more
        than 1e-4 (relative) per step, raises a
        :class:`~sklearn.exceptions.ConvergenceWarning` (``warm_start=True``
        continues it).
    n_iter_no_change : int, default=15
        Patience of the refinement's stopping rule (it also stops when the
        subspace has moved by less than 1e-3 over the last five steps).
    n_init : int, default=4
        Random starts of ``solver="grassmann"`` (the one with the smallest
        held-out loss is kept). From a random start the descent can stall at a
        saddle with only some of the directions found: at d=64, n=32d,
        ``h2+h2``, 2 of 8 single starts stalled (distance 0.7) and none of 8
        runs with 4 starts (``benchmarks/sweeps/grassmann_starts.py``).
        Unused by the other solvers.
    sgd_learning_rate : float or "auto", default="auto"
        ``solver="sgd"``: step size per sample of the per-neuron update
        ``w_j <- w_j - eta (m grad_j + lambda w_j)`` (the mini-batch gradient is
        a mean, so the step applied is ``sgd_learning_rate * sgd_batch_size``).
        ``"auto"`` is ``0.5 / d``: the noise SGD injects in the ``d - r``
        directions outside the subspace grows like ``eta d``, so a step
        ``~ 1 / d`` keeps it bounded while one pass over ``n = c d`` samples
        travels the same distance for every ``d`` (the same constant gave
        subspace distance 0.065 at d = 64 and 0.073 at d = 256 on ``tanh``,
        n = 64 d, batch 32: ``benchmarks/sweeps/sgd.py``).
    sgd_weight_decay : float, default=0.03
        ``solver="sgd"``: weight decay ``lambda``. It contracts the first-layer
        mass outside the hidden subspace: larger values leave less mass outside
        (0.28 at 0.01, 0.14 at 0.03, 0.04 at 0.1 on ``tanh``, d = 256) but shrink
        the useful part too (distance 0.064, 0.073, 0.115;
        ``benchmarks/sweeps/sgd.py``); 0.03 balances the two.
    sgd_batch_size : int, default=1
        ``solver="sgd"``: samples per SGD step (1 is the paper's online SGD).
    device : {"auto", "cpu", "cuda", "mps"} or torch.device, default="auto"
        Where the training runs.
    dtype : {"auto", "float32", "float64"}, default="auto"
        Floating type of training.
    batch_size : int or None, default=None
        Rows moved to the device at a time (``None``: all).
    whiten : bool or {"ledoit_wolf", "oas"}, default="ledoit_wolf"
        Decorrelate the standardized columns of ``X`` with a shrinkage
        estimate of their correlation matrix before training (see
        :class:`MultiIndexNetRegressor`; ``False`` only standardizes).
    n_threads : int, "auto" or None, default="auto"
        CPU threads of the engine's part of ``fit``, in NumPy's BLAS or
        torch's thread pool (see :class:`MultiIndexNetRegressor`).
    warm_start : bool, default=False
        When True, ``fit`` continues from the fitted model instead of
        starting anew, as in :class:`~sklearn.neural_network.MLPRegressor`:
        with ``solver="refined"`` or ``"grassmann"`` the refinement resumes
        from ``subspace_`` (stage 1 and the choice of loss and dimension are
        not run again; ``n_components`` must be ``"auto"`` or equal
        ``n_components_``; the stage-1 records ``spectrum_``, ``history_``,
        ``loss_``, ``loss_scores_`` stay those of the fit that started it, and
        ``n_iter_`` adds up); with ``solver="sgd"`` the SGD pass continues on
        the new samples. No effect with ``solver="layerwise"`` (stage 1 is a
        fixed number ``n_steps`` of steps from a tiny initialization, and
        more steps collapse the neurons rather than refine them) nor after a
        fit whose model is linear (``loss_ == "linear"``). Use it after a
        :class:`~sklearn.exceptions.ConvergenceWarning` (the refinement
        stopped at ``max_iter``).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization.
    verbose : int, default=0
        1: a progress bar per phase; 2: also every record (see
        :class:`MultiIndexNetRegressor`).

    Attributes
    ----------
    subspace_ : ndarray of shape (n_features, `n_components_`)
        Orthonormal basis of the learned subspace, in the coordinates of the
        ``X`` given (see :class:`MultiIndexNetRegressor` on the internal
        standardization).
    projection_ : ndarray of shape (n_features, `n_components_`)
        ``transform(X) = (X - x_mean_) @ projection_``; its columns span
        ``subspace_``.
    n_components_ : int
    stage1_weights_ : ndarray of shape (width, n_features) or None
        First-layer directions after stage 1, acting on ``X - x_mean_``
        (None when the kept refinement
        did not start from stage 1, or was dropped: ``refined_`` False).
    loss_ : str
        Stage-1 loss used, or ``"sliced"`` or ``"learned"`` (see
        :class:`MultiIndexNetRegressor`).
    loss_scores_ : dict
        With ``loss="auto"``: the score of each candidate start (see
        :class:`MultiIndexNetRegressor`).
    spectrum_ : ndarray
        Ritz values on the top singular directions of the first layer (for
        ``loss_ == "sliced"``, eigenvalues of the sliced-inverse-regression
        matrix; for ``loss_ == "learned"``, the top eigenvalues of
        ``E[T(y) (x x^T - I)]``).
    noise_level_ : float
        Spectrum edge expected from noise.
    n_iter_ : int
        Stage-1 plus refinement gradient steps (of the kept run, when
        ``loss="auto"`` or ``n_init`` made several, with the steps it was
        continued on all samples, see :class:`MultiIndexNetRegressor`), or
        SGD steps.
    history_ : dict of lists
        Per-step stage-1 records (see :class:`MultiIndexNetRegressor`).
    loss_curve_ : list of float
        Training loss per step, as in MLPRegressor: the refinement's training
        loss ("refined", "grassmann"), the stage-1 objective ("layerwise") or
        the running mini-batch loss at each record ("sgd").
    dimension_scores_ : dict or None
        Held-out loss per candidate dimension of the ``"auto"`` search (see
        :class:`MultiIndexNetRegressor`).
    refined_ : bool
        Whether ``subspace_`` comes from a refinement; False for
        ``solver="layerwise"``, and for "refined" when no refinement predicted
        the held-out samples better than their mean (``subspace_`` is then the
        spectral estimate on all samples; see :class:`MultiIndexNetRegressor`).
    refine_history_ : dict of lists or None
        Per refinement step records.
    x_mean_, x_scale_ : ndarray of shape (n_features,)
        Weighted mean and standard deviation of the columns of ``X``.
    y_mean_, y_scale_ : float
        Weighted mean and standard deviation of ``y``.
    device_ : str
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    See Also
    --------
    MultiIndexNetRegressor : stage 1 followed by the stage-2 fit of the link.
    SpectralProjector : the explicit spectral estimator.

    References
    ----------
    .. [1] Zhang, Wang, Fu, Lee. Neural Networks Learn Generic Multi-Index
       Models Near Information-Theoretic Limit. arXiv:2511.15120 (ICLR 2026).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.kernel_ridge import KernelRidge
    >>> from skmim import GaussianMultiIndex, MultiIndexProjector
    >>> X, y = GaussianMultiIndex(16, "z1*z2", random_state=0).sample(2000, random_state=1)
    >>> pipe = make_pipeline(MultiIndexProjector(n_components=2, random_state=0),
    ...                      KernelRidge(kernel="rbf", alpha=0.1))
    >>> bool(pipe.fit(X, y).score(X, y) > 0.8)
    True
    """

    _parameter_constraints = dict(STAGE1_CONSTRAINTS)

    def __init__(
        self,
        n_components="auto",
        *,
        solver="refined",
        width=256,
        loss="auto",
        huber_delta=1.0,
        n_steps="auto",
        learning_rate=1.0,
        weight_decay=None,
        init_scale=1e-3,
        validation_fraction="auto",
        link_degree=4,
        max_iter=200,
        n_iter_no_change=15,
        n_init=4,
        sgd_learning_rate="auto",
        sgd_weight_decay=0.03,
        sgd_batch_size=1,
        device="auto",
        dtype="auto",
        batch_size=None,
        whiten="ledoit_wolf",
        n_threads="auto",
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.solver = solver
        self.width = width
        self.loss = loss
        self.huber_delta = huber_delta
        self.n_steps = n_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.init_scale = init_scale
        self.validation_fraction = validation_fraction
        self.link_degree = link_degree
        self.max_iter = max_iter
        self.n_iter_no_change = n_iter_no_change
        self.n_init = n_init
        self.sgd_learning_rate = sgd_learning_rate
        self.sgd_weight_decay = sgd_weight_decay
        self.sgd_batch_size = sgd_batch_size
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.whiten = whiten
        self.n_threads = n_threads
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic
    def fit(self, X, y, sample_weight=None):
        """Learn the subspace from ``(X, y)``.

        Parameters
        ----------
        X : array-like, torch.Tensor or dask.array.Array of shape (n_samples, n_features)
            A torch tensor (any device, with or without gradient) is copied
            to the host: the standardization and the split run in NumPy. A
            dask array is fitted blockwise, one task per row chunk, and never
            computed as a whole (the user guide's "Large data" page).
        y : array-like or torch.Tensor of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative relative weights (only their ratios matter).

        Returns
        -------
        self : MultiIndexProjector
        """
        X, y, sw = self._validate_fit_input(X, y, sample_weight)
        self._fit_engine(X, y, sw, outer=False)
        return self
