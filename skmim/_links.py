"""Catalogue of link functions ``g: R^r -> R`` for Gaussian multi-index data.

``h_k`` is the normalized probabilists' Hermite polynomial
``He_k / sqrt(k!)``, so that ``E[h_j(z) h_k(z)] = delta_jk`` for
``z ~ N(0, 1)``. The catalogue covers every link of the specification's
section-6 table, plus a few used by the examples.
"""

import math

import numpy as np
from numpy.polynomial import hermite_e


def hermite(k, z):
    """Normalized probabilists' Hermite polynomial ``h_k(z) = He_k(z) / sqrt(k!)``."""
    coef = np.zeros(k + 1)
    coef[k] = 1.0
    return hermite_e.hermeval(z, coef) / math.sqrt(math.factorial(k))


def _h(k, j):
    return lambda Z: hermite(k, Z[:, j])


LINKS = {
    # name: (number of directions r, g(Z), description)
    "h2": (1, lambda Z: hermite(2, Z[:, 0]), "h2(z1)"),
    "tanh": (1, lambda Z: np.tanh(Z[:, 0]), "tanh(z1)"),
    "relu": (1, lambda Z: np.maximum(Z[:, 0], 0.0), "max(z1, 0)"),
    "h2+h2": (2, lambda Z: hermite(2, Z[:, 0]) + hermite(2, Z[:, 1]), "h2(z1) + h2(z2)"),
    "h4+h4": (2, lambda Z: hermite(4, Z[:, 0]) + hermite(4, Z[:, 1]), "h4(z1) + h4(z2)"),
    "z1*z2": (2, lambda Z: Z[:, 0] * Z[:, 1], "z1 * z2"),
    "h2*h2": (2, lambda Z: hermite(2, Z[:, 0]) * hermite(2, Z[:, 1]), "h2(z1) * h2(z2)"),
    "h2+h3": (2, lambda Z: hermite(2, Z[:, 0]) + hermite(3, Z[:, 1]), "h2(z1) + h3(z2)"),
    "h3+h3": (2, lambda Z: hermite(3, Z[:, 0]) + hermite(3, Z[:, 1]), "h3(z1) + h3(z2)"),
    "tanh+tanh": (2, lambda Z: np.tanh(Z[:, 0]) + np.tanh(Z[:, 1]), "tanh(z1) + tanh(z2)"),
    "h1+h2": (2, lambda Z: Z[:, 0] + hermite(2, Z[:, 1]), "z1 + h2(z2)"),
    "z1+z1*z2": (2, lambda Z: Z[:, 0] + Z[:, 0] * Z[:, 1], "z1 + z1 * z2"),
    "h4+sign3": (
        3,
        lambda Z: hermite(4, Z[:, 0]) + np.sign(Z[:, 0] * Z[:, 1] * Z[:, 2]),
        "h4(z1) + sign(z1 z2 z3)",
    ),
    "sign3": (3, lambda Z: np.sign(Z[:, 0] * Z[:, 1] * Z[:, 2]), "sign(z1 z2 z3)"),
    "mixed3": (
        3,
        lambda Z: Z[:, 0] * Z[:, 1] + np.tanh(Z[:, 2]) + 0.5 * Z[:, 0] ** 2,
        "z1 * z2 + tanh(z3) + 0.5 z1^2",
    ),
}


def link_names():
    """Names of the catalogued links accepted by :class:`skmim.GaussianMultiIndex`.

    Every link of the specification's section-6 table is there (``"h2+h2"``,
    ``"h4+h4"``, ``"z1*z2"``, ``"h2*h2"``, ``"h2+h3"``, ``"h3+h3"``,
    ``"tanh+tanh"``, ``"h4+sign3"``, ``"sign3"``), with ``"mixed3"``
    (``z1 z2 + tanh(z3) + 0.5 z1^2``) and the single-index and staircase links
    of the examples. ``h_k = He_k / sqrt(k!)`` are the normalized
    probabilists' Hermite polynomials.

    Returns
    -------
    names : tuple of str

    See Also
    --------
    skmim.GaussianMultiIndex : draws data from a named link.

    References
    ----------
    .. [1] Zhang, Wang, Fu, Lee. Neural Networks Learn Generic Multi-Index
       Models Near Information-Theoretic Limit. arXiv:2511.15120 (ICLR 2026).

    Examples
    --------
    >>> from skmim import link_names
    >>> "h2+h2" in link_names() and "sign3" in link_names()
    True
    """
    return tuple(LINKS)
