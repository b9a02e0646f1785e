"""skmim: two-layer networks that learn Gaussian multi-index models.

Public API
----------
MultiIndexNetRegressor
    The layer-wise trained network (regressor and transformer).
MultiIndexNetClassifier
    The same feature learning for class labels (classifier and transformer).
MultiIndexProjector
    Its feature-learning stage, as a transformer.
SpectralProjector
    The explicit spectral baseline.
GaussianMultiIndex
    Synthetic multi-index data.
link_names
    Catalogue of named links.
metrics
    Subspace distances and neuron alignment.
inspection
    Display objects (spectrum, sufficient summary plot, training curves,
    alignment); ``import skmim.inspection``, which needs matplotlib to plot.
"""

from . import metrics
from ._datasets import GaussianMultiIndex
from ._classifier import MultiIndexNetClassifier
from ._links import link_names
from ._projector import MultiIndexProjector
from ._regressor import MultiIndexNetRegressor
from ._spectral import SpectralProjector
from ._version import __version__
from ._warnings import SubspaceWarning

__all__ = [
    "GaussianMultiIndex",
    "MultiIndexNetClassifier",
    "MultiIndexNetRegressor",
    "MultiIndexProjector",
    "SpectralProjector",
    "SubspaceWarning",
    "link_names",
    "metrics",
]
