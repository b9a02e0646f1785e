"""MultiIndexNetClassifier: the multi-index network for class labels."""

import numbers
import warnings

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _engine
from ._base import (
    STAGE1_CONSTRAINTS,
    BaseMultiIndex,
    atomic,
    hidden_range,
)
from ._engine import CONFIRM_Z
from ._engine._stats import is_dask_array
from ._preprocess import input_weights, stats_from
from ._sklearn_private import Interval, StrOptions, _fit_context
from ._warnings import SubspaceWarning, user_stacklevel

_SHARED = ("n_components", "width", "validation_fraction", "link_degree", "max_iter",
           "n_iter_no_change", "n_init", "device", "dtype", "batch_size", "whiten",
           "n_threads", "random_state", "verbose")


class MultiIndexNetClassifier(ClassifierMixin, BaseMultiIndex):
    """Two-layer network for labels that depend on a few hidden directions.

    The classifier counterpart of :class:`MultiIndexNetRegressor`, for
    labels whose class probabilities depend on ``x`` through ``U^T x`` only
    (``P(y = k | x) = p_k(U^T x)``; for example ``y = sign(g(U^T x) +
    noise)``). The subspace is learned from the class indicators
    ``1{y = k}`` (one for two classes), whose conditional means are the class
    probabilities, so ``U`` is the subspace in which a link of ``U^T x``
    predicts the labels best (the smallest log loss):

    - *start* (``solver="refined"``): from ``sum_k M_k M_k / p_k`` (SAVE)
      and ``sum_k p_k mu_k mu_k^T`` (SIR) on the standardized inputs, with
      ``M_k = E[(1{y = k} - p_k) x x^T]`` (the power-iteration matrix that
      stage 1 of a network with one output per class follows from its tiny
      symmetric initialization under the squared loss) and ``mu_k = E[x | y
      = k]`` (the class means: first-order signal, as in sliced inverse
      regression with the classes as slices): the SIR directions above
      their noise edge first, then the top eigenvectors of the sum
      orthogonal to them (the SAVE part is unbounded in heavy-tailed columns,
      such as pixels that are rarely non-zero);
    - *refinement*: the two-timescale Grassmannian descent of the regressor
      under the log loss: the link is a logistic (two classes) or softmax
      regression on a tensor Hermite basis of degree ``link_degree`` of the
      projections, tracked by one Newton step per step (ten L-BFGS-B
      iterations for links of more than 256 parameters), and the subspace
      follows the gradient of the log loss; stopped on the half Brier score
      of the link's probabilities on ``validation_fraction`` held-out
      samples (a proper score like the log loss, but bounded, so a few
      confident mistakes do not decide);
    - *outer layer*: ``width`` ReLU neurons with random directions spread
      uniformly in the subspace, and the projections themselves, feed an
      L2-penalized logistic regression (two classes) or softmax regression
      (more), a convex problem solved by L-BFGS. Its penalty (``alpha=None``)
      is chosen by held-out log loss on a grid, then the layer is refitted on
      all samples.

    Inputs are standardized (and by default whitened) internally, so
    rescaling or shifting a column of ``X``, or rescaling ``sample_weight``,
    changes the model only by rounding.

    Solvers: ``"refined"`` (default) and ``"grassmann"`` (the same descent
    from ``n_init`` random subspaces; needs an integer ``n_components``).
    The regressor's ``"layerwise"`` and ``"sgd"`` solvers are not offered:
    both train the first layer of a single-output network on a scalar
    label preprocessing, and their outer layer is a ridge regression; a
    class label has no such scalar (its codes are unordered), and their
    multi-output versions are not built. Likewise the stage-1 losses of the
    regressor (``loss``) do not apply: labels have the log loss.

    Parameters
    ----------
    n_components : int or "auto", default="auto"
        Number ``r`` of hidden directions. ``"auto"``: nested candidates
        ``r = r0, r0 + 1, ...`` (at most 6; ``r0`` the number of first-order
        start directions above their noise edge, at least 1), each refined
        from the previous one and the next start direction, until one does
        not lower the held-out Brier score by a standard error; the smallest
        within one standard error of the best is kept (``dimension_scores_``).
    solver : {"refined", "grassmann"}, default="refined"
        How the subspace is learned (see above).
    width : int, default=256
        Number of random ReLU neurons of the outer layer (even, as in the
        regressor).
    activation : {"relu", "tanh", "logcosh"}, default="relu"
        Activation of the outer layer's neurons.
    alpha : float or None, default=None
        L2 penalty of the logistic outer layer per unit weight (the objective
        is the weighted mean log loss plus ``alpha |a|^2 / 2``); None chooses
        it by held-out log loss among ``1, 0.1, ..., 1e-6`` times the mean
        variance of the features, tried from the strongest down (each fit
        warm-starting the next) and stopped at the first value without a
        better held-out loss; the strongest penalty within one standard error
        of the best is kept (the one-standard-error rule: on small tables the
        weakest penalties give overconfident probabilities). A penalty at
        which L-BFGS does not converge ends the path, and where the final fit
        on all samples does not converge at the kept penalty, the next
        stronger one of the path at which it does is used (separable classes
        drive the weights up without bound as the penalty falls); only when
        none does is a ``ConvergenceWarning`` raised.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``
        (``"balanced"``: ``n_samples / (n_classes * counts)``, as in
        scikit-learn); they weight the subspace fit and the outer layer alike.
    validation_fraction : float in (0, 1), default=0.2
        Fraction of the samples held out to stop the refinement, choose the
        dimension and the logistic penalty.
    link_degree : int, default=4
        Total degree of the tensor Hermite basis of the links refitted during
        refinement.
    max_iter : int, default=200
        Maximum number of refinement steps.
    n_iter_no_change : int, default=15
        Refinement stops after this many steps without a better held-out
        Brier score (of the link's class probabilities), or earlier when
        the subspace has stopped moving (by less than 1e-3 over the last five
        steps); the best subspace seen is kept.
    n_init : int, default=4
        Random starts of ``solver="grassmann"``.
    whiten : bool or {"ledoit_wolf", "oas"}, default="ledoit_wolf"
        Decorrelate the standardized columns before training (see
        :class:`MultiIndexNetRegressor`).
    device : {"auto", "cpu", "cuda", "mps"} or torch.device, default="auto"
        Where training runs; fitted attributes are NumPy arrays and
        prediction runs on the host.
    dtype : {"auto", "float32", "float64"}, default="auto"
        Floating type of training: float64 on the CPU, float32 on accelerators.
    batch_size : int or None, default=None
        Rows moved to the device at a time (None: all at once).
    n_threads : int, "auto" or None, default="auto"
        CPU threads of the engine's part of ``fit``, in NumPy's BLAS or
        torch's thread pool (see :class:`MultiIndexNetRegressor`).
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the starts and the outer layer's random neurons.
    verbose : int, default=0
        1: a progress bar per phase; 2: also every record (the logger
        ``"skmim"`` receives them at any level).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    subspace_ : ndarray of shape (n_features, `n_components_`)
        Orthonormal basis of the learned subspace in the coordinates of the
        ``X`` given, its columns ordered by how much the fitted links vary
        along them.
    projection_ : ndarray of shape (n_features, `n_components_`)
        ``transform(X) = (X - x_mean_) @ projection_``.
    n_components_ : int
        Number of learned directions.
    hidden_weights_ : ndarray of shape (width, n_features)
        Directions of the outer layer's neurons, acting on ``X - x_mean_``.
    hidden_biases_ : ndarray of shape (width,)
    hidden_range_ : ndarray of shape (2, width)
        The interval of each neuron's pre-activation over the training rows,
        widened by a tenth of its width on each side, to which the logits'
        hidden pre-activations are clipped (as :class:`MultiIndexNetRegressor`'s).
    hidden_activation_ : str
    output_weights_ : ndarray of shape (width, n_outputs)
        Logistic weights of the neurons; ``n_outputs`` is 1 for two classes
        (the logit of ``classes_[1]``), else ``n_classes``.
    linear_weights_ : ndarray of shape (n_features, n_outputs)
        Logistic weights of the projections, acting on ``X - x_mean_``:
        ``decision_function(X) = relu((X - x_mean_) @ hidden_weights_.T +
        hidden_biases_) @ output_weights_ + (X - x_mean_) @ linear_weights_ +
        intercept_``.
    intercept_ : ndarray of shape (n_outputs,)
    alpha_ : float
        Logistic penalty used.
    loss_ : str
        ``"log_loss"``: the subspace was fitted under the log loss.
    loss_scores_ : dict
        With ``alpha=None``: ``{"log_loss": {alpha: held-out log loss}}`` along
        the penalty path (from the strongest penalty down, stopped at the
        first that is not better); the kept penalty is the strongest within
        one standard error of the best.
    spectrum_ : ndarray
        The start matrix's Rayleigh quotients along the start directions:
        the first-order (SIR) directions above their noise edge, then the top
        eigenvectors of the rest (``solver="refined"``).
    dimension_scores_ : dict or None
        With ``n_components="auto"``: held-out half Brier score per candidate
        dimension tried.
    heldout_scores_ : dict
        Held-out half Brier score of the link's probabilities (``"model"``),
        of the training class frequencies (``"prior"``), and the paired
        z-score of the difference (``"z"``; a confirmed model is below
        ``-2``, otherwise a :class:`SubspaceWarning` is raised).
    refined_ : bool
        True (the subspace comes from a Grassmannian refinement).
    refine_history_ : dict of lists
        Per refinement step of the kept run: ``train_loss``, ``val_loss``,
        ``step_size``, ``overlap``, ``link_alpha``.
    n_iter_ : int
        Refinement steps of the kept run.
    loss_curve_ : list of float
        Training log loss per refinement step.
    split_sizes_ : dict
        Samples in the training and validation parts.
    x_mean_, x_scale_ : ndarray of shape (n_features,)
        Weighted mean and standard deviation of the columns of ``X``.
    device_ : str
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        When ``X`` has string column names.

    See Also
    --------
    MultiIndexNetRegressor : the same network for a numeric target.
    sklearn.neural_network.MLPClassifier : end-to-end trained network.

    References
    ----------
    .. [1] Zhang, Wang, Fu, Lee. Neural Networks Learn Generic Multi-Index
       Models Near Information-Theoretic Limit. arXiv:2511.15120.
    .. [2] Bietti, Bruna, Pillaud-Vivien. On Learning Gaussian Multi-index
       Models with Gradient Flow. arXiv:2310.19793.
    .. [3] Li. Sliced Inverse Regression for Dimension Reduction. JASA 1991;
       Cook, Weisberg. Comment (SAVE). JASA 1991.

    Examples
    --------
    >>> from skmim import GaussianMultiIndex, MultiIndexNetClassifier
    >>> from skmim.metrics import subspace_distance
    >>> problem = GaussianMultiIndex(32, "h2+h2", labels="sign", random_state=0)
    >>> X, y = problem.sample(4096, random_state=1)
    >>> clf = MultiIndexNetClassifier(n_components=2, random_state=0).fit(X, y)
    >>> clf.classes_
    array([0, 1])
    >>> bool(subspace_distance(clf.subspace_, problem.subspace) < 0.2)
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    # no stage 1 of paired neurons: its start is the spectral estimate of the
    # class indicators, and width counts the outer layer's features (beside a
    # linear part on the whole subspace): n_components is not bounded by width
    _paired_stage1 = False

    _parameter_constraints = {
        **{name: STAGE1_CONSTRAINTS[name] for name in _SHARED},
        "solver": [StrOptions({"refined", "grassmann"})],
        "activation": [StrOptions({"relu", "tanh", "logcosh"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left"), None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        n_components="auto",
        *,
        solver="refined",
        width=256,
        activation="relu",
        alpha=None,
        class_weight=None,
        validation_fraction=0.2,
        link_degree=4,
        max_iter=200,
        n_iter_no_change=15,
        n_init=4,
        whiten="ledoit_wolf",
        device="auto",
        dtype="auto",
        batch_size=None,
        n_threads="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.solver = solver
        self.width = width
        self.activation = activation
        self.alpha = alpha
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.link_degree = link_degree
        self.max_iter = max_iter
        self.n_iter_no_change = n_iter_no_change
        self.n_init = n_init
        self.whiten = whiten
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic
    def fit(self, X, y, sample_weight=None):
        """Learn the subspace and the logistic outer layer on ``(X, y)``.

        Parameters
        ----------
        X : array-like, torch.Tensor or dask.array.Array of shape (n_samples, n_features)
            A torch tensor is copied to the host. A dask array is fitted
            blockwise, one task per row chunk, and never computed as a whole
            (the user guide's "Large data" page).
        y : array-like of shape (n_samples,)
            Class labels (integers, strings, ...); at least two classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative relative weights (only their ratios matter),
            multiplied by ``class_weight``'s.

        Returns
        -------
        self : MultiIndexNetClassifier
        """
        X, codes, sw = self._validate_fit_input(X, y, sample_weight)
        fit, counts = self._fit_engine(X, codes, sw, outer=True)
        stats = stats_from(self)
        self.hidden_weights_ = input_weights(fit.directions, stats)
        self.hidden_biases_ = fit.biases
        self.hidden_activation_ = self.activation
        self.output_weights_ = fit.coef
        self.linear_weights_ = input_weights(fit.linear.T, stats).T
        self.intercept_ = np.asarray(fit.intercept, dtype=np.float64).reshape(-1)
        self.hidden_range_ = hidden_range(X, self.x_mean_, self.hidden_weights_,
                                          self.hidden_biases_)
        self.alpha_ = fit.alpha
        self.split_sizes_ = counts
        best, prior, z = fit.heldout
        self.heldout_scores_ = {"model": best, "prior": prior, "z": z}
        if not fit.outer_converged:
            warnings.warn(
                f"the logistic outer layer did not converge in its L-BFGS iterations "
                f"(alpha={fit.alpha:.3g}): the classes may be separable along the learned "
                "directions; set a larger alpha.", ConvergenceWarning,
                stacklevel=user_stacklevel())
        return self

    def _validate_fit_input(self, X, y, sample_weight, reset=True):
        """Validated float64 ``X``, class codes and positive weights (class weights applied)."""
        X, y, sample_weight = self._on_host(X, y, sample_weight)
        X, y = self._check_X_y(X, y, reset)
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"MultiIndexNetClassifier needs samples of at least 2 classes; got 1 class "
                f"({classes[0]!r}).")
        sw = self._check_weights(sample_weight, X, y)
        if self.class_weight is not None:
            factors = compute_sample_weight(self.class_weight, y)
            if not np.all(np.isfinite(factors) & (factors >= 0)):
                raise ValueError(
                    "class_weight must give every class a finite, non-negative weight; got "
                    f"{self.class_weight!r}.")
            sw = sw * factors
        weighted = np.unique(codes[sw > 0])
        if weighted.size < 2:
            raise ValueError(
                "MultiIndexNetClassifier needs samples of at least 2 classes with a positive "
                f"weight; only class {classes[weighted[0]].tolist()!r} has any (every other "
                "class's sample weights, times its class_weight, are zero)." if weighted.size else
                "MultiIndexNetClassifier needs samples of at least 2 classes with a positive "
                "weight; every weight is zero.")
        self.classes_ = classes
        X, codes, sw = self._weighted_rows(X, codes, sw)
        return X, codes.astype(np.float64), sw

    def _engine_targets(self, y, stats):
        # class codes, not standardized: the engine builds the indicators
        return np.asarray(y, dtype=np.float64)

    def _set_standardization(self, stats):
        self.x_mean_ = stats.x_mean
        self.x_scale_ = stats.x_scale
        self.whitening_ = stats.whitening

    def _run_engine(self, parts, progress, solver, device, dtype, seed, u, n_steps, k, state,
                    start, previous):
        # the targets are the class codes (as floats: see _engine_targets)
        return _engine.fit_classifier(
            {key: parts[key] for key in ("train", "valid", "all")}, n_classes=self.classes_.size, solver=solver, device=device, dtype=dtype,
            batch_size=self.batch_size, seed=seed, callback=progress, n_threads=self.n_threads,
            n_components=k, degree=self.link_degree, max_iter=self.max_iter,
            patience=self.n_iter_no_change, n_init=self.n_init, width=self.width,
            bias_scale=1.0, activation=self.activation, alpha=self.alpha)

    def _warn_model(self, fit, n, stage1, stage2, y_constant=False):
        best, prior, z = fit.heldout
        if not z < -CONFIRM_Z:
            warnings.warn(
                f"the model predicts the held-out classes no better than their frequencies "
                f"(held-out Brier score {best:.4g}, the frequencies' {prior:.4g}; the paired "
                f"difference is {z:+.2f} standard errors, and a confirmed model is at least "
                f"{CONFIRM_Z:g} below): subspace_ may be close to a random subspace. More "
                "samples help.", SubspaceWarning, stacklevel=user_stacklevel())

    def decision_function(self, X):
        """Logits of the fitted network.

        Parameters
        ----------
        X : array-like, torch.Tensor or dask.array.Array of shape (n_samples, n_features)
            A torch tensor is copied to the host. For a dask array this and
            the other prediction methods return lazy dask arrays (one task
            per row chunk).

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes the logit of ``classes_[1]``; otherwise one score
            per class (the softmax of which is :meth:`predict_proba`).
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return self._blockwise(self.decision_function, X, self._n_scores())
        (X,) = self._on_host(X)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        out = self._network_output(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        if is_dask_array(X):
            return self._blockwise(self.predict_proba, X, self.classes_.size)
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([expit(-scores), expit(scores)])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        if is_dask_array(X):
            return self._blockwise(self.predict_log_proba, X, self.classes_.size)
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        return log_softmax(scores, axis=1)

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        if is_dask_array(X):
            return self._blockwise(self.predict, X, dtype=self.classes_.dtype)
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.int64)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _n_scores(self):
        """Columns of :meth:`decision_function`: None (one score) for two classes."""
        return None if self.classes_.size == 2 else self.classes_.size

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags
