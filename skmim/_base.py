"""Shared scikit-learn machinery of the skmim estimators.

Nothing here touches torch: the estimators hand NumPy arrays to
``skmim._engine`` and store what it returns as NumPy arrays.
"""

import functools
import math
import numbers
import sys
import warnings

from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _engine  # torch loads on the first fit (_engine.fit_network)
from ._engine import CONFIRM_Z, SOLVERS, STAGE1_LOSSES, count_above_noise, paired_z
from ._engine._stats import block_map, is_dask_array, is_lazy, lazy_rows, one_column_chunk
from ._preprocess import (
    HASH_GRID,
    SHRINKAGE,
    fit_statistics,
    group_rows,
    input_weights,
    merge_moments,
    relative_weights,
    standardize_rows,
    standardize_y,
    standardized_copy,
    stats_from,
    stats_from_moments,
    stream_moments,
    stream_units,
    to_input_coordinates,
    unstandardize_rows,
)
from ._sklearn_private import Interval, StrOptions, _check_sample_weight
from ._split import row_uniforms, upper_fraction, validation_fraction
from ._verbose import Progress
from ._version import DOCS_URL
from ._warnings import SubspaceWarning, user_stacklevel

# Stage-1 steps for n_steps="auto": round(AUTO_STEPS_CONSTANT * sqrt(log d)).
# Measured (solver="layerwise", loss="huber", h2+h2, n = 32 d, 2 seeds): the
# stage-2 R^2 peaks at T = 2-3 for d = 64 and T = 3-5 for d = 256, while the
# per-neuron alignment saturates near 0.87 by T = 6; more steps collapse the
# neurons and lower R^2 (0.73 at T = 10, d = 64). 1.5 gives T = 3 and 4.
# Reproduce: PYTHONPATH=. python benchmarks/sweeps/n_steps.py
AUTO_STEPS_CONSTANT = 1.5


STAGE1_CONSTRAINTS = {
    "solver": [StrOptions(set(SOLVERS))],
    "n_components": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "width": [Interval(numbers.Integral, 2, None, closed="left")],
    "loss": [StrOptions({"auto", *STAGE1_LOSSES})],
    "huber_delta": [Interval(numbers.Real, 0, None, closed="neither")],
    "n_steps": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
    "weight_decay": [Interval(numbers.Real, 0, None, closed="left"), None],
    "init_scale": [Interval(numbers.Real, 0, None, closed="neither")],
    # a string or a torch.device; checked (availability included) by the engine in fit
    "device": "no_validation",
    "dtype": [StrOptions({"auto", "float32", "float64"})],
    "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither"), StrOptions({"auto"})],
    "link_degree": [Interval(numbers.Integral, 1, None, closed="left")],
    "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
    "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
    "sgd_learning_rate": [Interval(numbers.Real, 0, None, closed="neither"), StrOptions({"auto"})],
    "sgd_weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
    "sgd_batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    "whiten": ["boolean", StrOptions(set(SHRINKAGE))],
    "n_threads": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
    "warm_start": ["boolean"],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def auto_steps(n_features):
    """``T_1`` for ``n_steps="auto"``: ``round(1.5 sqrt(log d))``, at least 1."""
    return max(1, round(AUTO_STEPS_CONSTANT * math.sqrt(math.log(max(n_features, 2)))))


ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "logcosh": lambda z: np.logaddexp(z, -z) - np.log(2.0),
}


# rows per chunk of a prediction: bounds its temporaries (chunk x width)
PREDICT_CHUNK = 65536


def network_output(Xc, W, b, a, c, act, hidden_range=None):
    """``act(Xc W^T + b) a + c``: the two-layer network on centred rows ``Xc``.

    With ``hidden_range`` (``(2, width)``: the smallest and largest
    pre-activation of each neuron over the training rows), the
    pre-activations are clipped to it first (:func:`hidden_range`).
    """
    pre = Xc @ W.T + b
    if hidden_range is not None:
        np.clip(pre, hidden_range[0], hidden_range[1], out=pre)
    return act(pre) @ a + c


# How far (a fraction of the training range's width, on each side) a hidden
# neuron's pre-activation may go beyond its training range before predict
# clips it. Measured (5-fold R^2 over random_state 0-4 on ISLR Hitters and
# Auto MPG; test R^2 at d = 256 on h2+h2 at 16 d and 8 d and h4+h4 at 32 d,
# 10,000 test rows), margin 0 / 0.1 / 0.25 / 0.5 / no clipping: Hitters
# 0.548 / 0.544 / 0.536 / 0.513 / 0.485, Auto 0.855 throughout; h2+h2
# 0.9921 / 0.9935 / 0.9936 / 0.9936 / 0.9936, 0.9878 / 0.9911 / 0.9916 /
# 0.9916 / 0.9916; h4+h4 0.8905 / 0.8957 / 0.8959 / 0.8959 / 0.8959. The
# Gaussian test rows beyond the training rows are just beyond (a larger test
# sample's tails), where a growing link is still close to its slopes;
# Hitters' far row was 0.7 ranges out.
EXTRAPOLATION_MARGIN = 0.1


def hidden_range(X, mean, W, b, previous=None):
    """Per neuron, the interval predict clips the pre-activation ``(x - mean) W^T + b`` to.

    The range of the pre-activation over the training rows ``X``, widened
    by ``EXTRAPOLATION_MARGIN`` of its width on each side. Beyond it each
    neuron is constant, so the network does not extrapolate its ReLU slopes
    along directions no training row reached (ISLR Hitters, one fold: a test
    row 0.7 training ranges out along the learned direction was predicted at
    -0.85 for log salaries of 4.2 to 7.8, the fold's test R^2 -0.66; clipped
    0.61). ``X`` is NumPy or a dask array of the training rows (blockwise);
    ``previous`` an interval to take the union with (the blocks of a stream
    so far). Returns an array of shape ``(2, width)``.
    """
    width = W.shape[0]
    # the neurons of a refined network lie in the learned subspace (rank k):
    # through a basis Q of their span the pass costs n d k + n k width instead
    # of n d width, a spectral pass at d = 1024 with 512 neurons
    _, sv, Vt = np.linalg.svd(W, full_matrices=False)
    rank = int(np.sum(sv > sv[:1].max(initial=0.0) * max(W.shape) * np.finfo(float).eps))
    if rank <= W.shape[1] // 4:
        Q = Vt[:rank].T
        B = (W @ Q).T
    else:
        Q, B = None, W.T

    def block(Xb):
        if Xb.shape[0] == 0:
            return np.stack([np.full(width, np.inf), np.full(width, -np.inf)])
        Xc = np.asarray(Xb, dtype=np.float64) - mean
        pre = (Xc if Q is None else Xc @ Q) @ B + b
        return np.stack([pre.min(axis=0), pre.max(axis=0)])

    parts = block_map(X, block).reshape(-1, 2, width)
    lo, hi = parts[:, 0].min(axis=0), parts[:, 1].max(axis=0)
    margin = EXTRAPOLATION_MARGIN * (hi - lo)
    out = np.stack([lo - margin, hi + margin])
    if previous is not None:
        out = np.stack([np.minimum(out[0], previous[0]), np.maximum(out[1], previous[1])])
    return out


def check_numeric_y(y):
    """``y`` as a NumPy array, or a ValueError naming why it is not numeric."""
    arr = np.asarray(y)
    if arr.dtype.kind in "OUSV":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"y must be numeric (a regression target): got dtype {arr.dtype} with values "
                f"that do not convert to float ({exc}). For class labels use a classifier."
            ) from None
    return arr


def is_tensor(X):
    """Whether ``X`` is a torch tensor (without importing torch: a tensor implies it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(X, torch.Tensor)


def tensor_module():
    """:mod:`skmim._engine._tensor` (imports torch: call it for tensor input only)."""
    from ._engine import _tensor

    return _tensor


def check_finite_y(y):
    if not np.all(np.isfinite(y)):
        raise ValueError("Input y contains NaN or infinity.")


def atomic(method):
    """Make a fitting method all-or-nothing.

    Whatever the method sets on the estimator appears only if it returns: on
    any exception, ``KeyboardInterrupt`` included, the estimator's state is
    restored as it was before the call (a fresh estimator stays unfitted, a
    fitted one keeps its model).
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return wrapper


def _api_page(estimator):
    """Parameters of the HTML repr's documentation link: the class's API page."""
    return {"estimator_name": type(estimator).__name__}


class BaseMultiIndex(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Validation, projection and bookkeeping shared by the skmim estimators.

    Fitted state common to all: ``subspace_`` (n_features, n_components),
    ``projection_``, ``n_components_``, the standardization (``x_mean_``,
    ``x_scale_``, ``y_mean_``, ``y_scale_``) and the scikit-learn
    ``n_features_in_``.
    """

    # stage 1 starts from the symmetric initialization, whose neurons come in
    # pairs: an explicit n_components is at most width / 2 with the solvers
    # that read it off stage 1, and at most width (the classifier has no such
    # stage 1, and its outer layer has a linear part on the whole subspace)
    _paired_stage1 = True

    # the "?" of the HTML repr (Jupyter) links to the estimator's API page
    _doc_link_module = "skmim"
    _doc_link_template = DOCS_URL + "/generated/skmim.{estimator_name}.html"
    _doc_link_url_param_generator = _api_page

    def _validate_fit_input(self, X, y, sample_weight, reset=True):
        """Validated float64 ``X``, ``y`` and positive weights (zero-weight rows dropped).

        Torch tensors (any device, ``requires_grad`` or not) are taken as
        NumPy arrays: the standardization and the split run on the host.
        """
        X, y, sample_weight = self._on_host(X, y, sample_weight)
        if y is not None:
            y = check_numeric_y(y.compute() if is_dask_array(y) else y)
        X, y = self._check_X_y(X, y, reset, y_numeric=True)
        check_finite_y(y)
        sw = self._check_weights(sample_weight, X, y)
        X, y, sw = self._weighted_rows(X, y, sw)
        return X, np.asarray(y, dtype=np.float64), sw

    def _check_X_y(self, X, y, reset, y_numeric=False):
        """scikit-learn's ``validate_data`` of ``(X, y)``; a dask ``X`` stays lazy.

        A ``dask.array.Array`` ``X`` is checked for its shape and dtype only
        (``n_features_in_`` set; non-finite values are caught in the
        statistics' first pass, :func:`._preprocess.fit_statistics`) and
        returned as a lazy float64 array with one column chunk; a dask ``y``
        is computed (``n_samples`` values on the client).
        """
        if not is_dask_array(X):
            return validate_data(self, X, y, dtype=[np.float64, np.float32],
                                 y_numeric=y_numeric, ensure_min_samples=2 if reset else 1,
                                 reset=reset)
        if is_dask_array(y):
            y = y.compute()
        if X.ndim != 2:
            raise ValueError(f"Expected a 2D dask array for X, got {X.ndim} dimension(s).")
        if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)
                or X.dtype == np.bool_):
            raise ValueError(f"X must hold real numbers; the dask array has dtype {X.dtype}.")
        if any(math.isnan(c) for c in X.chunks[0]):
            raise ValueError(
                "the dask array X has unknown chunk sizes (e.g. after boolean indexing with "
                "a dask mask): call X.compute_chunk_sizes() first.")
        validate_data(self, X, skip_check_array=True, reset=reset)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(
                f"y must be one value per row of X: got shape {y.shape} for "
                f"{X.shape[0]} rows.")
        if X.shape[0] < 2:
            raise ValueError(f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) "
                             "while a minimum of 2 is required.")
        if X.shape[1] < 1:
            raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a "
                             "minimum of 1 is required.")
        if y_numeric and y.dtype.kind == "O":
            y = y.astype(np.float64)
        return one_column_chunk(X).astype(np.float64), y

    @staticmethod
    def _check_weights(sample_weight, X, y):
        """Validated non-negative float64 weights (a dask ``sample_weight`` computed)."""
        if is_dask_array(sample_weight):
            sample_weight = sample_weight.compute()
        return _check_sample_weight(sample_weight, y, dtype=np.float64, ensure_non_negative=True)

    def _blockwise(self, method, X, n_columns=None, dtype=np.float64):
        """``method`` (predict, transform, ...) on every row chunk of the dask array ``X``.

        Returns the lazy dask array of the results: ``(n,)`` or, with
        ``n_columns``, ``(n, n_columns)``. The fitted estimator (NumPy state)
        travels with the tasks; nothing is computed here.
        """
        check_is_fitted(self)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has shape {X.shape}, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input.")
        X = one_column_chunk(X)
        empty = (0,) if n_columns is None else (0, n_columns)

        def on_chunk(block):
            # a chunk of no rows (boolean filtering makes them) has no rows to
            # validate: its empty result (validate_data wants one row at least)
            return np.empty(empty, dtype=dtype) if block.shape[0] == 0 else method(block)

        if n_columns is None:
            return X.map_blocks(on_chunk, drop_axis=1, dtype=dtype)
        return X.map_blocks(on_chunk, chunks=(X.chunks[0], (n_columns,)), dtype=dtype)

    @staticmethod
    def _on_host(*arrays):
        """The arrays with torch tensors (any device, with gradient or not) as NumPy."""
        if any(is_tensor(a) for a in arrays):
            to_numpy = tensor_module().to_numpy
            return tuple(to_numpy(a) for a in arrays)
        return arrays

    @staticmethod
    def _weighted_rows(X, y, sw):
        """The rows of positive weight (an error when none is), ``X`` as float64."""
        if not np.any(sw > 0):
            raise ValueError("sample_weight has no positive entry: there is nothing to fit.")
        keep = sw > 0
        if is_lazy(X):
            # a dask array keeps its chunks: the rows are selected inside each task
            return lazy_rows(X, None if np.all(keep) else np.flatnonzero(keep)), y[keep], sw[keep]
        if not np.all(keep):
            X, y, sw = X[keep], y[keep], sw[keep]
        return np.asarray(X, dtype=np.float64), y, sw

    def _engine_targets(self, y, stats):
        """The targets the engine sees: ``y`` standardized (the classifier: class codes)."""
        return standardize_y(y, stats)

    def _check_n_components(self, n_features, n_samples, what="stage 1"):
        if self.n_components == "auto":
            return None
        k = int(self.n_components)
        if k > n_features:
            raise ValueError(
                f"n_components={k} must be <= n_features={n_features}."
            )
        if k > n_samples:
            raise ValueError(
                f"n_components={k} exceeds the {n_samples} samples available to {what}: "
                "a second-moment estimate from so few samples cannot have that rank."
            )
        if hasattr(self, "width") and self._paired_stage1:
            if self.solver in ("refined", "layerwise") and k > self.width // 2:
                raise ValueError(
                    f"n_components={k} must be <= width / 2 = {self.width // 2}: the "
                    "symmetric initialization of stage 1 pairs the neurons, so the first "
                    "layer has at most width / 2 distinct directions.")
            if k > self.width:
                raise ValueError(f"n_components={k} must be <= width={self.width}.")
        return k

    def _fit_engine(self, X, y, sw, outer, state=None):
        """Standardize, split the samples, run the engine, set the common fitted attributes.

        ``outer`` asks for the outer layer (the regressor); the projector only
        learns the subspace. ``state`` continues an SGD pass (``partial_fit``):
        the standardization of the first call is kept. The engine sees the
        standardized data and relative weights (:mod:`skmim._preprocess`);
        the attributes set here are in the coordinates of the ``X`` given.
        Returns the engine's ``SubspaceFit`` and the sizes of the split.
        """
        if self.width % 2:
            raise ValueError(
                f"width={self.width} must be even: the symmetric initialization pairs neurons."
            )
        n, d = X.shape
        solver = self.solver
        if solver == "grassmann" and self.n_components == "auto":
            raise ValueError(
                "solver='grassmann' starts from a random subspace and needs an integer "
                "n_components (n_components='auto' reads the dimension off stage 1)."
            )
        lazy = is_lazy(X)
        if lazy and solver == "sgd":
            raise ValueError(
                "solver='sgd' streams mini-batches through one network in order, which a "
                "blockwise pass over a dask array cannot do: use another solver, or give "
                "partial_fit the blocks as NumPy arrays, one call per block (dask-ml's "
                "dask_ml.wrappers.Incremental does this for a dask array).")
        device, dtype = self._device_for(X)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        previous = self._warm_previous(d) if state is None else None
        if previous is not None and solver == "sgd":
            # warm start of "sgd": the pass continues on these samples, as partial_fit
            state = self._sgd_state()
        if state is not None and outer:
            self._check_streamable()
        moments = None  # the stream's standardization moments ("sgd")
        if state is None and solver == "sgd":
            # the standardization from the moments a stream continues from; its
            # weight unit: this block's mean weight
            unit = float(sw.max() * np.mean(sw / sw.max()))
            sw = relative_weights(sw)
            moments = (stream_moments(X, y, sw, self._whiten_method()), unit)
            stats = stats_from_moments(moments[0], self._whiten_method())
        elif state is None:
            stats = fit_statistics(X, y, sw, self._whiten_method())
            sw = relative_weights(sw)
        else:
            stats, state, sw, moments = self._continue_stream(X, y, sw, state)
        ys = self._engine_targets(y, stats)
        # the split hashes the standardized rows before the whitening: the
        # shrinkage of the whitening depends on the number of rows, so a row of
        # integer weight k and its k copies were whitened differently and
        # split apart (ledoit_wolf: 31 % of the rows in the other part)
        if not lazy:
            # the one standardized copy of X, in the rows' order
            Xs = standardized_copy(X, stats)
        if lazy or stats.whitening is not None:
            unwhitened = replace(stats, whitening=None, gram=None)
            u = row_uniforms(X, ys, seed, grid=HASH_GRID,
                             transform=lambda rows: standardize_rows(rows, unwhitened))
        else:
            # the hash reads the standardized rows from the copy (block by
            # block, as it would standardize them): the standardization runs once
            u = row_uniforms(Xs, ys, seed, grid=HASH_GRID)
        staged = solver in ("layerwise", "sgd")
        if staged:
            if outer:
                if state is None:
                    masks = {"stage 2": upper_fraction(u, sw, 1.0 - self.stage1_fraction)}
                else:
                    # a block of a stream, perhaps of one row: the hash's fixed
                    # threshold (its quantile in the block would put a lone row
                    # in stage 2 every time)
                    masks = {"stage 2": u >= self.stage1_fraction}
                masks["stage 1"] = ~masks["stage 2"]
                roles = ("stage 1", "stage 2")
                what = f"the two-stage split (stage1_fraction={self.stage1_fraction})"
            else:
                masks = {"stage 1": np.ones(n, dtype=bool)}
                roles = ("stage 1",)
                what = "stage 1"
        else:
            valid = upper_fraction(u, sw, validation_fraction(self.validation_fraction, u))
            masks = {"training": ~valid, "validation": valid}
            roles = ("training", "validation")
            what = f"the validation split (validation_fraction={self.validation_fraction})"
        counts = {name: int(mask.sum()) for name, mask in masks.items()}
        # a stream that continues takes a block of any size: its rows (possibly
        # all in one part) join the rows the model has seen
        if state is None and (min(counts.values()) < 1 or any(
            c < 2 for name, c in counts.items() if name != "validation"
        )):
            got = ", ".join(f"{c} to {name}" for name, c in counts.items())
            need = ("the training part needs at least 2 samples and the validation part at "
                    "least 1" if "validation" in counts else "each part needs at least 2 "
                    "samples")
            raise ValueError(f"too few samples for {what}: n_samples={n} gives {got}; {need}.")
        k = self._check_n_components(d, counts[roles[0]] if state is None else math.inf)
        start = None
        if previous is not None and solver != "sgd":
            # the previous directions in the standardized coordinates of these data
            start = self._standardized_rows(previous["projection_"].T, stats).T
            k = start.shape[1]
        # the standardized copy's rows grouped by part (in their order within
        # each part), in place, so that every part is a view of it; for a
        # dask X, lazy parts standardized chunk by chunk in every pass
        rows = {role: np.flatnonzero(masks[role]) for role in roles}
        order = None if len(roles) == 1 else np.concatenate([rows[role] for role in roles])
        if lazy:
            # every part selects its rows inside the tasks; "all" in the rows' order
            Xs = {role: standardized_copy(X, stats, None if order is None else rows[role])
                  for role in roles}
            everything = (standardized_copy(X, stats), ys, sw)
        elif order is not None:
            group_rows(Xs, *(rows[role] for role in roles))
        if order is not None:
            ys, sw = ys[order], sw[order]
            if not lazy:
                u = u[order]  # the row keys of parts["all"], in its order
        bounds = np.cumsum([0] + [counts[role] for role in roles])
        view = {role: slice(bounds[i], bounds[i + 1]) for i, role in enumerate(roles)}

        def part(role):
            return (Xs[role] if lazy else Xs[view[role]]), ys[view[role]], sw[view[role]]

        parts = {"final": None, "stage2": None}
        if staged:
            parts["stage1"] = part("stage 1")
            if outer:
                parts["stage2"] = part("stage 2")
        else:
            parts["stage1"] = parts["train"] = part("training")
            parts["valid"] = part("validation")
            parts["all"] = everything if lazy else (Xs, ys, sw)
            if stats.gram is not None:
                # the whitening's Gram: that of parts["all"]'s rows is T^T G T
                parts["all_gram"] = (stats.gram, stats.whitening)
            if outer:
                parts["final"] = parts["all"]
        n_steps = getattr(self, "n_steps", "auto")
        n_steps = auto_steps(d) if n_steps == "auto" else int(n_steps)
        progress = Progress(self.verbose, type(self).__name__, n_steps, self.max_iter)
        try:
            fit = self._run_engine(parts, progress, solver, device, dtype, seed, u, n_steps, k,
                                   state, start, previous)
        finally:
            progress.close()
        if state is None:
            # a block of a stream is no sample to judge the model on (it may
            # hold a few rows): the stream is judged on its first block only
            self._warn_model(fit, n, parts["stage1"], parts["stage2"], stats.y_constant)
        self._set_standardization(stats)
        self.projection_, self.subspace_ = to_input_coordinates(fit.subspace, stats)
        # what warm_start continues from: the refinement's subspace before it
        # was continued on all samples (the validation part did not shape it)
        self._warm_projection = (None if fit.unpolished is None
                                 else to_input_coordinates(fit.unpolished, stats)[0])
        self.n_components_ = fit.n_components
        self.stage1_weights_ = (None if fit.first_layer is None
                                else input_weights(fit.first_layer, stats))
        self.loss_ = fit.loss
        self.loss_scores_ = fit.selection
        self.spectrum_ = fit.spectrum
        self.noise_level_ = fit.noise_level
        self.history_ = fit.history
        # the outer layer's stream (its moments and reservoir, in standardized
        # coordinates), which partial_fit adds the next block to; "sgd" only
        self._outer_stream = fit.outer_stream
        self._stream_moments = moments
        # the first layer's biases, which a continued SGD pass starts from (the
        # regressor's hidden_biases_; the projector keeps no outer layer)
        self._sgd_biases = fit.biases if solver == "sgd" else None
        if solver == "sgd":
            self.n_iter_ = int(fit.history["step"][-1]) if fit.history["step"] else 0
        elif start is not None:
            # a continued refinement: stage 1's records are those of the fit it continues
            for name in ("stage1_weights_", "loss_scores_", "spectrum_", "noise_level_",
                         "history_"):
                setattr(self, name, previous[name])
            self.n_iter_ = previous["n_iter_"] + fit.refine_iter + fit.polish_iter
        else:
            stage1_steps = 0 if (fit.degenerate or fit.first_layer is None) else n_steps
            self.n_iter_ = stage1_steps + fit.refine_iter + fit.polish_iter
        self.refined_ = fit.refined
        self.dimension_scores_ = fit.dimension_scores
        self.refine_history_ = fit.refine_history
        if fit.refine_history is not None:
            self.loss_curve_ = list(fit.refine_history["train_loss"])
        else:
            self.loss_curve_ = list(fit.history.get("loss", []))
        self.device_ = str(device)
        if fit.hit_max_iter:
            warnings.warn(
                f"the refinement stopped at max_iter={self.max_iter} steps while its held-out "
                f"loss was still improving (n_iter_no_change={self.n_iter_no_change} steps "
                "without improvement stop it): the subspace may not have converged. Raise "
                "max_iter" + (", or continue from this model with warm_start=True."
                              if "warm_start" in self.get_params() else "."),
                ConvergenceWarning, stacklevel=user_stacklevel())
        return fit, counts

    def _check_streamable(self):
        if getattr(self, "outer_loss", "squared") == "huber":
            raise ValueError(
                "a continued SGD pass (partial_fit, or warm_start=True) accumulates the "
                "outer layer's sufficient statistics block by block, which needs "
                "outer_loss='squared': outer_loss='huber' reweights every stage-2 sample "
                "at every step, and a stream does not keep them.")

    def _continue_stream(self, X, y, sw, state):
        """Standardization, engine state and weights of the next block of an SGD stream.

        The standardization becomes that of every row so far (the merged
        :func:`stream_moments`; the first block alone may be small), and the
        network is re-expressed in it as the same function: the first layer
        through the input coordinates, its biases shifted with the mean, the
        outer stream's rows, targets and moments mapped (``y`` affinely).
        The weights are relative to the mean weight of every row so far (as
        ``fit``'s are to theirs: a block of heavier samples counts more, and
        the SGD steps keep their size), the outer stream's weighted sums
        rescaled with that mean. A model fitted before the stream kept its
        moments keeps its standardization.
        """
        W, b, history, outer = state
        old = stats_from(self)
        kept = getattr(self, "_stream_moments", None)
        if kept is None:
            return old, (self._standardized_rows(W, old), b, history, outer), \
                relative_weights(sw), None
        merged, unit = kept
        whiten = self._whiten_method()
        if (np.ndim(merged["x_scatter"]) == 2) != (whiten is not None):
            raise ValueError(
                f"whiten={self.whiten!r} differs from the whiten of the blocks this SGD "
                "stream has seen: the stream keeps the moments its standardization "
                "needs, and these cannot change on the way; set it back, or fit anew.")
        sw = np.asarray(sw, dtype=np.float64) / unit  # in the first block's mean weight
        before = merged["weight"] / merged["n_rows"]  # the mean weight so far, in that unit
        block = stream_moments(X, y, sw, whiten, units=stream_units(merged))
        merged = merge_moments(merged, block)
        new = stats_from_moments(merged, whiten)
        mean = merged["weight"] / merged["n_rows"]
        b = np.asarray(b, dtype=np.float64) + np.asarray(W) @ (new.x_mean - old.x_mean)
        if outer is not None:
            outer = dict(outer)
            c = old.y_scale / new.y_scale
            e = (old.y_mean - new.y_mean) / new.y_scale
            T = np.eye(outer["sum"].shape[0])
            T[0, -1], T[-1, -1] = e, c
            g = before / mean  # weights relative to the new mean weight
            for key in ("sum", "arrival_sum"):
                outer[key] = g * (T.T @ outer[key] @ T)
            outer["weights"] = g * outer["weights"]
            outer["weight_sum"] = g * outer["weight_sum"]
            outer["targets"] = c * outer["targets"] + e
            outer["rows"] = standardize_rows(unstandardize_rows(outer["rows"], old), new)
        return new, (self._standardized_rows(W, new), b, history, outer), sw / mean, \
            (merged, unit)

    def _sgd_biases_kept(self):
        """The first layer's biases a continued SGD pass starts from, or None.

        ``_sgd_biases`` (any estimator fitted by "sgd"); a regressor pickled
        before it was kept has them as ``hidden_biases_``.
        """
        biases = getattr(self, "_sgd_biases", None)
        return getattr(self, "hidden_biases_", None) if biases is None else biases

    def _sgd_state(self):
        """What a continued SGD pass starts from: first layer, biases, records, outer moments."""
        return (self.stage1_weights_, self._sgd_biases_kept(), self.history_,
                getattr(self, "_outer_stream", None))

    def _device_for(self, X):
        """The engine's device and dtype; for a dask ``X`` the CPU (where the chunks are).

        Every pass over a dask array runs as tasks next to its chunks, on
        their CPUs: ``device="auto"`` means the CPU there, and another
        device is an error (no silent fallback).
        """
        if not is_lazy(X):
            return _engine.device_info(self.device, self.dtype)
        if str(self.device) not in ("auto", "cpu"):
            raise ValueError(
                f"device={self.device!r} with a dask array X: the passes over a dask array "
                "run as tasks on the CPUs that hold its chunks; use device='cpu' (or "
                "'auto'), or pass a NumPy array or a torch tensor to fit on the device.")
        return _engine.device_info("cpu", self.dtype)

    def _run_engine(self, parts, progress, solver, device, dtype, seed, u, n_steps, k, state,
                    start, previous):
        """The engine's fit of the prepared ``parts`` with this estimator's parameters."""
        return _engine.fit_network(
            parts,
            solver=solver,
            losses=STAGE1_LOSSES if self.loss == "auto" else (self.loss,),
            first_order=self.loss == "auto",
            learned=self.loss == "auto",
            device=device,
            dtype=dtype,
            batch_size=self.batch_size,
            seed=seed,
            callback=progress,
            # the content hash orders the rows for the fallback's null
            row_keys=u,
            width=self.width,
            n_steps=n_steps,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            init_scale=self.init_scale,
            huber_delta=self.huber_delta,
            n_components=k,
            max_components=max(10, k or 0),
            stage2_directions=getattr(self, "stage2_directions", "neurons"),
            activation=getattr(self, "activation", "relu"),
            bias_scale=1.0,
            alpha=getattr(self, "alpha", None),
            outer_loss=getattr(self, "outer_loss", "squared"),
            degree=self.link_degree,
            max_iter=self.max_iter,
            patience=self.n_iter_no_change,
            n_init=self.n_init,
            sgd_learning_rate=self.sgd_learning_rate,
            sgd_weight_decay=self.sgd_weight_decay,
            sgd_batch_size=self.sgd_batch_size,
            compress=getattr(self, "compress_first_layer", False),
            state=state,
            start=start,
            start_loss=None if previous is None else previous["loss_"],
            n_threads=self.n_threads,
        )

    def _warm_previous(self, n_features):
        """With ``warm_start``, the fitted state the new fit continues from (None: cold).

        "refined" and "grassmann" continue the refinement from ``subspace_``
        (stage 1 is not run again); "sgd" continues the pass. A fresh model,
        ``solver="layerwise"`` (stage 1 is a fixed number of steps from a
        tiny initialization: more steps collapse the neurons, see
        ``n_steps``) and a linear model (``loss_ == "linear"``, nothing to
        refine) fit from scratch.
        """
        if not (getattr(self, "warm_start", False) and hasattr(self, "subspace_")):
            return None
        if self.solver == "layerwise" or self.loss_ == "linear":
            return None
        if self.subspace_.shape[0] != n_features:
            raise ValueError(
                f"warm_start=True continues the previous model, fitted on "
                f"{self.subspace_.shape[0]} features, but X has {n_features} features: set "
                "warm_start=False to fit a new model.")
        if self.solver == "sgd":
            if "step" not in self.history_ or self._sgd_biases_kept() is None:
                raise ValueError(
                    "warm_start=True with solver='sgd' continues an online SGD pass, but "
                    "this model was not fitted by the 'sgd' solver: set warm_start=False to "
                    "fit a new model.")
        elif self.n_components != "auto" and int(self.n_components) != self.n_components_:
            raise ValueError(
                f"warm_start=True continues the refinement of the previous "
                f"{self.n_components_}-dimensional subspace, but n_components="
                f"{self.n_components}: set n_components={self.n_components_} (or 'auto'), or "
                "warm_start=False to fit a new model.")
        previous = {name: getattr(self, name) for name in (
            "projection_", "loss_", "loss_scores_", "spectrum_", "noise_level_",
            "stage1_weights_", "history_", "n_iter_")}
        if getattr(self, "_warm_projection", None) is not None:
            previous["projection_"] = self._warm_projection
        return previous

    def _whiten_method(self):
        if self.whiten is True:
            return "ledoit_wolf"
        return self.whiten or None

    @staticmethod
    def _standardized_rows(W, stats):
        """Inverse of :func:`input_weights` (rows acting on ``x - mean`` -> on standardized rows)."""
        W = W * stats.x_scale
        if stats.whitening is not None:
            W = np.linalg.lstsq(stats.whitening, W.T, rcond=None)[0].T
        return W

    def _set_standardization(self, stats):
        self.x_mean_ = stats.x_mean
        self.x_scale_ = stats.x_scale
        self.y_mean_ = stats.y_mean
        self.y_scale_ = stats.y_scale
        self.whitening_ = stats.whitening

    def _warn_model(self, fit, n, stage1, stage2, y_constant=False):
        """A :class:`SubspaceWarning` when the model returned predicts no better than the mean.

        Judged on held-out samples, by the paired z-score of :func:`paired_z`:
        the validation part ("refined", "grassmann"; the engine's
        ``fit.heldout``), or for "layerwise" and "sgd" the squared error of
        the network on the stage-1 samples (which its outer layer did not
        see) against that of the stage-2 mean. Without an outer layer or
        held-out samples (the "layerwise" projector) the spectrum of stage 1
        against its noise edge.
        """
        if fit.degenerate or y_constant:
            # (the "sgd" solver trains on a constant target without a degenerate stage 1)
            self._warn_constant(y_constant)
        elif fit.heldout is not None:
            best, mean, z = fit.heldout
            if fit.refined is False and self.solver == "refined" and fit.loss != "linear":
                self._warn_dropped(fit, n)
            elif not z < -CONFIRM_Z:
                warnings.warn(
                    f"the model predicts the held-out samples no better than their mean "
                    f"(held-out loss {best:.4g}, the mean's {mean:.4g}; the paired "
                    f"difference is {z:+.2f} standard errors, and a confirmed model is at "
                    f"least {CONFIRM_Z:g} below): subspace_ may be close to a random "
                    "subspace. More samples, or n_init, help.",
                    SubspaceWarning, stacklevel=user_stacklevel())
        elif stage2 is not None and fit.coef is not None and not np.any(fit.coef):
            # a constant network: its squared error against the stage-2 mean's
            # is rounding, which the z-score could read either way
            warnings.warn(
                "the fitted network predicts a constant, the mean of y on the stage-2 "
                "samples: no feature of its outer layer varies over them (they are all "
                "alike, e.g. copies of a few distinct rows, which the split keeps "
                "together), so subspace_ is not confirmed. More distinct samples help.",
                SubspaceWarning, stacklevel=user_stacklevel())
        elif stage2 is not None and fit.coef is not None:
            # the outer layer never saw the stage-1 samples: they judge the network
            X1, y1, w1 = stage1
            act = ACTIVATIONS[self.activation]
            pred = block_map(X1, lambda Xb: network_output(Xb, fit.directions, fit.biases,
                                                           fit.coef, fit.intercept, act))
            center = np.average(stage2[1], weights=stage2[2])
            z = paired_z(0.5 * ((pred - y1) ** 2 - (y1 - center) ** 2), w1)
            if not z < -CONFIRM_Z:
                warnings.warn(
                    f"the fitted network predicts no better than the mean of y: on the "
                    f"stage-1 samples, which its outer layer did not see, its squared error "
                    f"minus the stage-2 mean's is {z:+.2f} standard errors (a confirmed "
                    f"model is at least {CONFIRM_Z:g} below). subspace_ may be close to a "
                    "random subspace; more samples or another loss (e.g. loss='abs' for odd "
                    "links) help.",
                    SubspaceWarning, stacklevel=user_stacklevel())
        elif self.solver == "layerwise" and count_above_noise(fit.spectrum, fit.noise_level) == 0:
            self._warn_noise_edge(stage1[0].shape[0])

    def _warn_dropped(self, fit, n):
        best = min(fit.selection.values())
        what = ("the sliced-inverse-regression estimate (its top eigenvalue stands further "
                "above its null than the Huber spectral estimate's)" if fit.loss == "sliced" else
                f"the spectral estimate with loss={fit.loss!r} (the limit of stage 1's power "
                "iteration)")
        warnings.warn(
            f"the model predicts the held-out samples no better than their mean: no "
            f"refinement did (best held-out loss {best:.4g} among {sorted(fit.selection)}, "
            f"the mean's {fit.heldout[1]:.4g}; the paired difference is "
            f"{fit.heldout[2]:+.2f} standard errors, and a confirmed model is at least "
            f"{CONFIRM_Z:g} below), so subspace_ is {what} on all "
            f"n_samples={n}, without refinement (refined_ is False). At this sample size "
            "it may be close to a random subspace; more samples help.",
            SubspaceWarning,
            stacklevel=user_stacklevel(),
        )

    def _warn_constant(self, y_constant):
        what = ("y is constant: no direction can be learned, subspace_ is the random "
                "initialization and predictions are constant." if y_constant else
                "every stage-1 loss's scores are constant although y is not (y takes few "
                "distinct values, and its median absolute deviation is zero): no direction "
                "was learned, subspace_ is the random initialization.")
        warnings.warn(what, SubspaceWarning, stacklevel=user_stacklevel())

    def _warn_noise_edge(self, n_stage1):
        warnings.warn(
            "no direction stands above the noise level expected at "
            f"n_samples={n_stage1} and n_features={self.n_features_in_}: "
            "subspace_ is not distinguishable from a random subspace. Try more "
            "samples or another loss (e.g. loss='abs' for odd links).",
            SubspaceWarning,
            stacklevel=user_stacklevel(),
        )

    def _network_output(self, X):
        """The fitted network on validated rows ``X``, in row chunks (NumPy).

        ``(n,)`` for a scalar ``intercept_`` (the regressor), ``(n, K)`` for
        ``K`` outputs (the classifier's logits).
        """
        act = ACTIVATIONS[self.hidden_activation_]
        out = np.empty((X.shape[0],) + np.shape(self.intercept_))
        for start in range(0, X.shape[0], PREDICT_CHUNK):
            Xc = np.asarray(X[start:start + PREDICT_CHUNK], dtype=np.float64) - self.x_mean_
            out[start:start + PREDICT_CHUNK] = network_output(
                Xc, self.hidden_weights_, self.hidden_biases_, self.output_weights_,
                self.intercept_, act, getattr(self, "hidden_range_", None)
            ) + Xc @ self.linear_weights_
        return out

    @property
    def _n_features_out(self):
        return self.n_components_

    def transform(self, X):
        """Project ``X`` on the learned subspace.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            A torch tensor is projected on its own device and in its
            floating dtype (integer tensors in float64), without a copy to
            the host.

        Returns
        -------
        Z : ndarray, torch.Tensor or dask.array.Array of shape (n_samples, `n_components_`)
            A tensor on the input's device (without gradient) for a tensor
            input; a lazy dask array (one task per row chunk) for a dask
            array. ``(X - x_mean_) @ projection_``: the learned directions applied to
            the standardized input ``(X - x_mean_) / x_scale_``, so ``Z`` does
            not change when a column of ``X`` is rescaled or shifted before
            ``fit`` and ``transform``. Its columns span the projections on
            ``subspace_``.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return self._blockwise(self.transform, X, self.n_components_)
        if is_tensor(X):
            return tensor_module().project(X, self.n_features_in_, type(self).__name__,
                                           self.x_mean_, self.projection_)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return (np.asarray(X, dtype=np.float64) - self.x_mean_) @ self.projection_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
