"""Shared scikit-learn machinery of the skmim estimators.

Nothing here touches torch: the estimators hand NumPy arrays to
``skmim._engine`` and store what it returns as NumPy arrays.
"""

import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._engine import STAGE1_LOSSES, device_info
from ._warnings import SubspaceWarning

# Stage-1 steps for n_steps="auto": ceil(AUTO_STEPS_CONSTANT * sqrt(log d)).
AUTO_STEPS_CONSTANT = 2.0


STAGE1_CONSTRAINTS = {
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
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def auto_steps(n_features):
    """``T_1`` for ``n_steps="auto"``: ``ceil(2 sqrt(log d))``, at least 1."""
    return max(1, math.ceil(AUTO_STEPS_CONSTANT * math.sqrt(math.log(max(n_features, 2)))))


def check_finite_y(y):
    if not np.all(np.isfinite(y)):
        raise ValueError("Input y contains NaN or infinity.")


class BaseMultiIndex(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Validation, projection and bookkeeping shared by the skmim estimators.

    Subclasses implement ``_fit_subspace`` and may add more fitted state.
    Fitted state common to all: ``subspace_`` (n_features, n_components_),
    ``n_components_``, ``x_mean_`` and the scikit-learn ``n_features_in_``.
    """

    def _validate_fit_input(self, X, y, sample_weight):
        """Validated float64 ``X``, ``y`` and positive weights (zero-weight rows dropped)."""
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], y_numeric=True, ensure_min_samples=2
        )
        check_finite_y(y)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if not np.any(sw > 0):
            raise ValueError("sample_weight has no positive entry: there is nothing to fit.")
        keep = sw > 0
        if not np.all(keep):
            X, y, sw = X[keep], y[keep], sw[keep]
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        return X, y, sw

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
        if hasattr(self, "width") and k > self.width:
            raise ValueError(f"n_components={k} must be <= width={self.width}.")
        return k

    def _resolve_device(self):
        return device_info(self.device, self.dtype)

    def _seed(self):
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _warn_signal(self, degenerate, n_above, n_stage1):
        if degenerate:
            warnings.warn(
                "y is constant (or constant after the stage-1 preprocessing): no "
                "direction can be learned, subspace_ is the random initialization "
                "and predictions are constant.",
                SubspaceWarning,
                stacklevel=3,
            )
        elif n_above == 0:
            warnings.warn(
                "stage 1 found no direction above the noise level expected at "
                f"n_samples={n_stage1} and n_features={self.n_features_in_}: "
                "subspace_ is not distinguishable from a random subspace. Try more "
                "samples or another loss (e.g. loss='abs' for odd links).",
                SubspaceWarning,
                stacklevel=3,
            )

    @property
    def _n_features_out(self):
        return self.n_components_

    def transform(self, X):
        """Project ``X`` on the learned subspace.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components_)
            ``(X - x_mean_) @ subspace_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return (np.asarray(X, dtype=np.float64) - self.x_mean_) @ self.subspace_

    def fit_transform(self, X, y=None, **fit_params):
        """Fit to ``(X, y)``, then project ``X`` on the learned subspace."""
        return self.fit(X, y, **fit_params).transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
