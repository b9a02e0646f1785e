"""The torch engine: stage 1 and stage 2 of the layer-wise algorithm.

It knows nothing of scikit-learn. Its entry points take NumPy arrays, a
device and a dtype, and return NumPy arrays.

Importing this package does not import torch: the NumPy constants and
statistics the estimator layer shares live in :mod:`skmim._engine._stats`,
and the torch entry points (``fit_network``, ``spectral_subspace``,
``device_info``, ``SubspaceFit``; ``fit_classifier``) load
:mod:`skmim._engine._api` (:mod:`skmim._engine._classify`), and torch with
it, on first access. ``_api`` chooses and runs a solver; each solver is a
module of its own (``_solver_refined``, ``_solver_grassmann``,
``_solver_sgd``, ``_solver_layerwise``) built from the pieces in
``_common`` (stage 1, one refinement run, the outer layer) and the
numerical modules (``_layerwise``, ``_grassmann``, ``_ridge``, ...).
"""

from ._stats import CONFIRM_Z, SOLVERS, STAGE1_LOSSES, count_above_noise, paired_z, sign_flip

_TORCH_ENTRY_POINTS = ("SubspaceFit", "device_info", "fit_network", "spectral_subspace")
_CLASSIFY_ENTRY_POINTS = ("fit_classifier",)

__all__ = ["CONFIRM_Z", "SOLVERS", "STAGE1_LOSSES", "count_above_noise", "paired_z",
           "sign_flip", *_TORCH_ENTRY_POINTS, *_CLASSIFY_ENTRY_POINTS]


def __getattr__(name):
    if name in _TORCH_ENTRY_POINTS:
        from . import _api

        return getattr(_api, name)
    if name in _CLASSIFY_ENTRY_POINTS:
        from . import _classify

        return getattr(_classify, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
