"""Warnings raised by skmim estimators."""


class SubspaceWarning(UserWarning):
    """The learned subspace carries no usable signal.

    Raised when the targets are constant, or when stage 1 finds no direction
    whose spectral signal stands above the noise level expected at this
    number of samples and features (the subspace is then essentially random).
    """
