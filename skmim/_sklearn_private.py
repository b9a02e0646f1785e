"""Every private scikit-learn name skmim uses, in one place, with the reason.

scikit-learn has no public equivalent of these (checked against 1.9); each
is what scikit-learn's own estimators use, so third-party estimators that
want the same behaviour import them too. Should one move or change, this
module is the only place to adapt. Everything else skmim takes from
scikit-learn is public (``sklearn.utils.validation.validate_data``,
``sklearn.utils.metaestimators.available_if``, ...).

- ``Interval``, ``StrOptions`` (``sklearn.utils._param_validation``): the
  declarative ``_parameter_constraints`` that ``check_estimator``'s
  ``check_param_validation`` exercises, with scikit-learn's error messages.
- ``InvalidParameterError`` (same module): the error those constraints
  raise (a ``ValueError`` and ``TypeError``); the tests match it.
- ``_fit_context`` (``sklearn.base``): validates the parameters once per
  ``fit`` and skips nested validation, as every scikit-learn estimator does.
- ``_check_sample_weight`` (``sklearn.utils.validation``): the standard
  validation of ``sample_weight`` (shape, dtype, non-negativity, ``None`` as
  ones), whose messages the common checks expect.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import _check_sample_weight

__all__ = ["Interval", "InvalidParameterError", "StrOptions", "_check_sample_weight",
           "_fit_context"]
