"""The torch engine: stage 1 and stage 2 of the layer-wise algorithm.

It knows nothing of scikit-learn. Its entry points take NumPy arrays, a
device and a dtype, and return NumPy arrays.
"""

from ._api import (
    CONFIRM_Z,
    SOLVERS,
    SubspaceFit,
    count_above_noise,
    device_info,
    fit_network,
    paired_z,
    sign_flip,
    spectral_subspace,
)
from ._losses import STAGE1_LOSSES

__all__ = ["CONFIRM_Z", "SOLVERS", "STAGE1_LOSSES", "SubspaceFit", "count_above_noise",
           "device_info", "fit_network", "paired_z", "sign_flip", "spectral_subspace"]
