"""Warnings raised by skmim estimators."""


class SubspaceWarning(UserWarning):
    """The model returned carries no usable signal.

    Raised when the targets are constant, or when the model returned predicts
    held-out samples no better than their mean (by fewer than two standard
    errors of the paired difference: the validation part for the "refined"
    and "grassmann" solvers, the samples the outer layer did not see for
    "layerwise" and "sgd"). Estimators without held-out samples (the
    "layerwise" projector, :class:`SpectralProjector`) raise it when no
    direction's spectral signal stands above the noise level expected at this
    number of samples and features (the subspace is then essentially random).

    See Also
    --------
    skmim.MultiIndexNetRegressor : documents the noise level it compares with.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from skmim import MultiIndexProjector, SubspaceWarning
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.standard_normal((400, 40)), rng.standard_normal(400)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = MultiIndexProjector(solver="layerwise", loss="huber", width=64,
    ...                             random_state=0).fit(X, y)
    >>> any(issubclass(w.category, SubspaceWarning) for w in caught)
    True
    """


def user_stacklevel():
    """``stacklevel`` for ``warnings.warn`` that points at the caller's code.

    Counts the frames from the caller of this function up to the first one
    outside skmim and scikit-learn (whose ``fit`` wrappers sit between the
    estimator and the user), so a warning names the user's line however many
    wrappers a public method has.
    """
    import os
    import sys

    import sklearn

    inside = (os.path.dirname(__file__), os.path.dirname(sklearn.__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level
