"""Internal standardization: what makes every fit independent of units and weight scale.

The estimators never hand the engine the raw table. Before training,

- ``sample_weight`` is divided by its mean, so only relative weights matter
  (weights ``c w`` give the model of ``w`` for any ``c > 0``);
- every column of ``X`` is centred by its weighted mean and divided by its
  weighted standard deviation (constant columns by 1, and set to exactly 0);
- ``y`` is centred and divided by its weighted standard deviation.

The engine then works in these standardized coordinates, where every
statistic it computes (noise edges, Huber thresholds, ridge penalties, step
sizes) is dimensionless. The fitted attributes are mapped back to the
coordinates of the ``X`` and ``y`` given, so predictions carry the units of
``y`` and ``subspace_`` is an orthonormal basis of the learned index space in
the input coordinates.

Rescaling or shifting a column of ``X`` (or ``y`` affinely) changes the
standardized data only by rounding, so the model changes only by rounding.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.covariance import ledoit_wolf, oas

from ._engine._stats import sign_flip

# Shrinkage covariance estimators for ``whiten``.
SHRINKAGE = {"ledoit_wolf": ledoit_wolf, "oas": oas}

# A column whose weighted standard deviation is below this fraction of its
# mean's magnitude is constant up to rounding (a few ulps of its values).
CONSTANT_RTOL = 1e3 * np.finfo(np.float64).eps

# The stage split hashes the standardized rows on a grid of this many cells
# per standard deviation: rescaled or shifted inputs land in the same cells,
# so they get the same split. The rounding of the standardization (about
# 1e-15 standard deviations, 1e-10 for a shift by 1e6 standard deviations)
# crosses a cell boundary with probability 256 times that per value; cells
# this fine keep distinct rows of even a one-column table apart.
HASH_GRID = 256.0


@dataclass(frozen=True)
class Standardization:
    """Weighted location and scale of the columns of ``X`` and of ``y``."""

    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float
    y_scale: float
    # the symmetric inverse square root of a shrinkage estimate of the
    # correlation matrix (``whiten``), applied after the scaling; or None
    whitening: np.ndarray = None


def relative_weights(sw):
    """``sw`` divided by its mean (positive entries assumed): only ratios remain.

    Divides by the largest weight first, so neither ``1e-300`` nor ``1e300``
    weights under- or overflow.
    """
    sw = np.asarray(sw, dtype=np.float64)
    sw = sw / sw.max()
    return sw / sw.mean()


def _location_scale(values, w):
    """Weighted mean and standard deviation of ``values`` along axis 0 (``w`` sums to 1)."""
    mean = w @ values
    centred = values - mean
    if values.ndim == 1:
        var = float(w @ (centred * centred))
    else:
        var = np.einsum("i,ij,ij->j", w, centred, centred)
    return mean, np.sqrt(np.maximum(var, 0.0)), centred


def _safe_scale(mean, std):
    """``std``, with 1 where it is zero or below rounding of ``mean``; and that mask."""
    constant = ~(std > CONSTANT_RTOL * np.abs(mean))
    return np.where(constant, 1.0, std), constant


def shrinkage_whitening(Xs, w, method):
    """``C^{-1/2}`` for a shrinkage estimate ``C`` of the weighted covariance of ``Xs``.

    ``Xs`` is centred (weighted) and ``w`` sums to ``n``. The estimator
    (``method`` in :data:`SHRINKAGE`, scikit-learn's Ledoit-Wolf or OAS)
    sees the rows scaled by ``sqrt(w)``, whose second moment is the weighted
    covariance. Constant columns (all zero) keep a zero row and column.
    """
    C, _ = SHRINKAGE[method](Xs * np.sqrt(w)[:, None], assume_centered=True)
    vals, vecs = np.linalg.eigh(C)
    floor = vals.max() * 1e-12
    inv_sqrt = np.where(vals > floor, 1.0 / np.sqrt(np.maximum(vals, floor)), 0.0)
    return (vecs * inv_sqrt) @ vecs.T


def fit_standardize(X, y, sw, whiten=None):
    """Standardize ``X`` and ``y`` with their weighted moments.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,), float64
    sw : ndarray of shape (n_samples,), positive
    whiten : {None, "ledoit_wolf", "oas"}
        Also decorrelate the columns with a shrinkage estimate of their
        correlation matrix (:func:`shrinkage_whitening`).

    Returns
    -------
    Xs, ys : new (writable) float64 arrays
    stats : Standardization
    """
    w = sw / sw.sum()
    x_mean, x_std, Xs = _location_scale(X, w)
    x_scale, constant = _safe_scale(x_mean, x_std)
    Xs /= x_scale
    Xs[:, constant] = 0.0
    y_mean, y_std, ys = _location_scale(y, w)
    y_scale, y_constant = _safe_scale(np.float64(y_mean), np.float64(y_std))
    y_scale = float(y_scale)
    ys = np.zeros_like(ys) if y_constant else ys / y_scale
    whitening = None
    if whiten is not None and X.shape[1] > 1:
        whitening = shrinkage_whitening(Xs, sw / sw.mean(), whiten)
        whitening[constant] = 0.0
        whitening[:, constant] = 0.0
        Xs = Xs @ whitening
    stats = Standardization(x_mean=x_mean, x_scale=x_scale, y_mean=float(y_mean),
                            y_scale=y_scale, whitening=whitening)
    return Xs, np.ascontiguousarray(ys), stats


def apply_standardize(X, y, stats):
    """Standardize new ``(X, y)`` with fixed statistics (``partial_fit``)."""
    Xs = (X - stats.x_mean) / stats.x_scale
    if stats.whitening is not None:
        Xs = Xs @ stats.whitening
    ys = (np.asarray(y, dtype=np.float64) - stats.y_mean) / stats.y_scale
    return Xs, ys


def stats_from(estimator):
    """The :class:`Standardization` stored on a fitted estimator."""
    return Standardization(x_mean=estimator.x_mean_, x_scale=estimator.x_scale_,
                           y_mean=float(estimator.y_mean_), y_scale=float(estimator.y_scale_),
                           whitening=estimator.whitening_)


def input_weights(W, stats):
    """Rows ``W`` acting on standardized (and whitened) rows, as rows acting on ``x - mean``."""
    W = np.asarray(W, dtype=np.float64)
    if stats.whitening is not None:
        W = W @ stats.whitening  # the whitening matrix is symmetric
    return W / stats.x_scale


def to_input_coordinates(V, stats):
    """Map standardized directions ``V`` (d x k, orthonormal) to the input coordinates.

    A projection ``((x - mean) / scale) @ M @ V`` (``M`` the whitening, or
    the identity) equals ``(x - mean) @ P`` with ``P = (M V) / scale[:, None]``.
    Returns ``P`` and an orthonormal basis of its column space (Householder
    QR, deterministic signs): the learned index space in the coordinates of
    the ``X`` given.
    """
    P = input_weights(np.asarray(V, dtype=np.float64).T, stats).T
    if P.shape[1] == 0:
        return P, P.copy()
    # equilibrate the columns before QR: scales may span many orders of magnitude
    Q, _ = np.linalg.qr(P / np.linalg.norm(P, axis=0).clip(min=1e-300))
    return P, sign_flip(Q)
