"""Visual inspection of fitted skmim estimators, in the scikit-learn display style.

Every display holds the values it draws as attributes, is built from a fitted
estimator with ``from_estimator`` (which computes the values with NumPy and
calls ``plot``), and ``plot(ax=None, ...)`` returns the display with the axes
(``ax_``), the figure (``figure_``) and the drawn artists as attributes.
matplotlib is imported by ``plot`` only (``pip install "skmim[plot]"``):
importing this module imports neither matplotlib nor torch.

Public API
----------
SpectrumDisplay
    The spectrum of the learned first layer against its noise edge.
SummaryPlotDisplay
    The sufficient summary plot: ``y`` against the learned projections, with
    the fitted link.
TrainingCurveDisplay
    The stage-1 and refinement records.
AlignmentDisplay
    Principal angles between the learned subspace and a reference.
"""

from ._displays import (
    AlignmentDisplay,
    SpectrumDisplay,
    SummaryPlotDisplay,
    TrainingCurveDisplay,
)

__all__ = [
    "AlignmentDisplay",
    "SpectrumDisplay",
    "SummaryPlotDisplay",
    "TrainingCurveDisplay",
]
