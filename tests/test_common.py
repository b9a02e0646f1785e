"""scikit-learn conformance of every public estimator and solver.

In the manner of imbalanced-learn's ``imblearn/tests/test_common.py``: every
expected failure is listed in ``EXPECTED_FAILED_CHECKS`` with its reason. The
full-batch solvers pass every check but the one that equates a weight ``k``
with ``k`` repetitions: skmim's weights are relative (see ``RELATIVE_WEIGHTS``).
"""

import pytest
from sklearn.utils.estimator_checks import (
    check_global_output_transform_pandas,
    check_param_validation,
    check_set_output_transform,
    check_transformer_get_feature_names_out,
    parametrize_with_checks,
)

from skmim import (
    MultiIndexNetClassifier,
    MultiIndexNetRegressor,
    MultiIndexProjector,
    SpectralProjector,
)

pytestmark = pytest.mark.filterwarnings("ignore::skmim.SubspaceWarning")

# Small widths keep the checks fast; every solver is exercised.
ESTIMATORS = [
    MultiIndexNetRegressor(width=32, random_state=0),
    MultiIndexNetRegressor(solver="layerwise", width=32, random_state=0),
    MultiIndexNetRegressor(solver="grassmann", n_components=1, width=32, max_iter=20,
                           random_state=0),
    MultiIndexNetRegressor(solver="sgd", width=32, random_state=0),
    MultiIndexProjector(width=32, random_state=0),
    MultiIndexProjector(solver="sgd", width=32, random_state=0),
    MultiIndexProjector(solver="layerwise", width=32, random_state=0),
    SpectralProjector(),
    MultiIndexNetClassifier(width=32, random_state=0),
    MultiIndexNetClassifier(solver="grassmann", n_components=2, width=32, max_iter=20,
                            n_init=2, random_state=0),
]

RELATIVE_WEIGHTS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "sample_weight is relative: it is divided by its mean, so weights c * w give "
        "the model of w for every c > 0 (a documented, tested invariance). Weights 2 on "
        "every row then give the model of weights 1, while repeating every row doubles "
        "the sample size that the noise edges, the held-out tests and GCV see, so a "
        "weight k cannot equal k repetitions."
    ),
}

# solver (None: SpectralProjector) -> {check name: reason}
EXPECTED_FAILED_CHECKS = {
    None: RELATIVE_WEIGHTS,
    "refined": RELATIVE_WEIGHTS,
    "layerwise": RELATIVE_WEIGHTS,
    "grassmann": RELATIVE_WEIGHTS,
    "sgd": {
        "check_sample_weight_equivalence_on_dense_data": (
            RELATIVE_WEIGHTS["check_sample_weight_equivalence_on_dense_data"]
            + " Also, online SGD takes one step per mini-batch: a sample of weight k "
            "scales one gradient step by k, while k repetitions take k successive steps."
        ),
    },
}


def _expected_failed_checks(estimator):
    if isinstance(estimator, MultiIndexNetClassifier):
        return RELATIVE_WEIGHTS
    return EXPECTED_FAILED_CHECKS[getattr(estimator, "solver", None)]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: repr(e))
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: repr(e))
def test_transformer_output(estimator):
    name = type(estimator).__name__
    check_set_output_transform(name, estimator)
    check_global_output_transform_pandas(name, estimator)
    check_transformer_get_feature_names_out(name, estimator)
