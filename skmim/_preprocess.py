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

from dataclasses import dataclass, replace

import numpy as np
from sklearn.covariance import shrunk_covariance

from ._engine._stats import block_map, block_sum, is_lazy, lazy_rows, row_blocks, sign_flip

# Shrinkage covariance estimators for ``whiten``: scikit-learn's Ledoit-Wolf
# and OAS, whose intensities fit_statistics computes from blockwise moments.
SHRINKAGE = ("ledoit_wolf", "oas")

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
    # columns constant up to rounding (set to zero), and whether y is constant;
    # not stored on a fitted estimator (stats_from: None / False), so rows that
    # partial_fit standardizes keep such a column as (x - mean), as before
    constant: np.ndarray = None
    y_constant: bool = False
    # with the whitening: the weighted Gram matrix sum_i w_i z_i z_i^T of the
    # standardized rows before whitening (relative weights, mean 1), from the
    # pass that estimated it (fit_statistics); the engine's rows z_i^T W then
    # have the Gram W^T G W without another pass. Only during a fit
    gram: np.ndarray = None


def relative_weights(sw):
    """``sw`` divided by its mean (positive entries assumed): only ratios remain.

    Divides by the largest weight first, so neither ``1e-300`` nor ``1e300``
    weights under- or overflow.
    """
    sw = np.asarray(sw, dtype=np.float64)
    sw = sw / sw.max()
    return sw / sw.mean()


def _safe_scale(mean, std):
    """``std``, with 1 where it is zero or below rounding of ``mean``; and that mask."""
    constant = ~(std > CONSTANT_RTOL * np.abs(mean))
    return np.where(constant, 1.0, std), constant


def _shrunk_from_moments(gram, n_samples, sum_sq_norms2, method):
    """The shrinkage covariance of rows ``Z`` from their moments (no copy of ``Z``).

    ``gram`` is ``Z^T Z``, ``sum_sq_norms2`` the sum over rows of
    ``|z_i|^4``. The shrinkage intensities are scikit-learn's (Ledoit-Wolf:
    ``ledoit_wolf_shrinkage``; OAS: ``oas``, both with ``assume_centered``)
    written with these sums, which a pass over row blocks accumulates:
    ``sum(X2.T @ X2)`` is ``sum_i |z_i|^4``. Checked against scikit-learn in
    the tests. The shrunk matrix is scikit-learn's ``shrunk_covariance``.
    """
    p = gram.shape[0]
    emp_cov = gram / n_samples
    if method == "ledoit_wolf":
        trace = np.trace(emp_cov)
        mu = trace / p
        delta_ = float(np.sum(gram ** 2)) / n_samples ** 2
        beta = (sum_sq_norms2 / n_samples - delta_) / (p * n_samples)
        delta = (delta_ - 2.0 * mu * trace + p * mu ** 2) / p
        beta = min(beta, delta)
        shrinkage = 0.0 if beta == 0 else beta / delta
    else:  # "oas"
        alpha = float(np.mean(emp_cov ** 2))
        mu = np.trace(emp_cov) / p
        num = alpha + mu ** 2
        den = (n_samples + 1) * (alpha - mu ** 2 / p)
        shrinkage = 1.0 if den == 0 else min(num / den, 1.0)
    return shrunk_covariance(emp_cov, shrinkage)


def _inverse_sqrt(C):
    vals, vecs = np.linalg.eigh(C)
    floor = vals.max() * 1e-12
    kept = vals > floor  # none when C is zero (all columns constant)
    inv_sqrt = np.where(kept, 1.0 / np.sqrt(np.where(kept, vals, 1.0)), 0.0)
    return (vecs * inv_sqrt) @ vecs.T


# Columns whose plain weighted variance is below this (or not finite) get it
# from their deviations scaled first (_scaled_std): their squares may have
# under- or overflowed float64
MIN_PLAIN_VARIANCE = 1e-280


def _scaled_std(X, w, cols, center):
    """Weighted standard deviations of the columns ``cols`` of ``X`` about ``center``, scaled.

    ``s sqrt(sum_i w_i ((x_i - c) / s)^2)`` with ``s`` the weighted mean
    absolute deviation: no square under- or overflows for any finite
    column (``w`` sums to 1). Two passes over those columns.
    """
    cols = np.asarray(cols)

    def deviations(Xb):
        return np.abs(np.asarray(Xb[:, cols], dtype=np.float64) - center)

    mad = block_sum(X, lambda Xb, wb: wb @ deviations(Xb), w)
    s = np.where(mad > 0, mad, 1.0)
    scaled = block_sum(X, lambda Xb, wb: wb @ np.square(deviations(Xb) / s), w)
    return np.where(mad > 0, mad * np.sqrt(scaled), 0.0)


def _squared_deviations(Xb, center):
    """``(Xb - center) ** 2`` in one temporary."""
    D = np.asarray(Xb, dtype=np.float64) - center
    return np.square(D, out=D)


def fit_statistics(X, y, sw, whiten=None):
    """The :class:`Standardization` of ``(X, y)`` under weights ``sw``, in row blocks.

    Column means and standard deviations are weighted; with ``whiten``
    (``"ledoit_wolf"`` or ``"oas"``) the whitening is ``C^{-1/2}`` for the
    shrinkage estimate ``C`` (Ledoit-Wolf or OAS, :func:`_shrunk_from_moments`) of the weighted
    correlation matrix: the estimator sees the standardized rows scaled by
    ``sqrt(w)`` (``w`` summing to ``n``), whose second moment is the
    weighted correlation; their Gram matrix is kept (``Standardization.gram``).
    Constant columns keep a zero row and column. Two passes over ``X`` (three
    with ``whiten``); the temporaries are blocks of :func:`block_rows` rows.
    """
    n, d = X.shape
    # relative weights first (the statistics depend on nothing else): weights
    # near the float64 maximum overflowed their sum (1e307: a zero mean, a
    # false "y is constant"), and their squares from 1e155 on
    sw = relative_weights(sw)
    w = sw / sw.sum()
    x_mean = block_sum(X, lambda Xb, wb: wb @ Xb, w)
    if is_lazy(X) and not np.all(np.isfinite(x_mean)):
        # NumPy input was checked by validate_data; a dask array is checked in this pass
        raise ValueError("Input X contains NaN or infinity.")
    with np.errstate(over="ignore", under="ignore"):
        x_var = block_sum(X, lambda Xb, wb: wb @ _squared_deviations(Xb, x_mean), w)
    x_std = np.sqrt(np.maximum(x_var, 0.0))
    wide = ~(x_var > MIN_PLAIN_VARIANCE) | ~np.isfinite(x_var)
    if wide.any():
        # squares that overflow (values beyond 1e154) or underflow (below
        # 1e-154), and constant columns: the deviations scaled by their mean
        # absolute value first, so that any finite column gets its standard
        # deviation (zero for a constant one)
        x_std[wide] = _scaled_std(X, w, np.flatnonzero(wide), x_mean[wide])
    y = np.asarray(y, dtype=np.float64)
    y_mean = float(w @ y)
    (y_std,) = _scaled_std(y[:, None], w, [0], np.array([y_mean]))
    x_scale, constant = _safe_scale(x_mean, x_std)
    y_scale, y_constant = _safe_scale(np.float64(y_mean), np.float64(y_std))
    stats = Standardization(x_mean=x_mean, x_scale=x_scale, y_mean=y_mean,
                            y_scale=float(y_scale), whitening=None,
                            constant=constant, y_constant=bool(y_constant))
    if whiten is None or d <= 1:
        return stats
    root_w = np.sqrt(sw / sw.mean())

    def moments(Xb, rb):
        Z = standardize_rows(Xb, stats)
        Z *= rb[:, None]
        return Z.T @ Z, float(np.sum(np.einsum("ij,ij->i", Z, Z) ** 2))

    gram, norms4 = block_sum(X, moments, root_w)
    whitening = _inverse_sqrt(_shrunk_from_moments(gram, n, norms4, whiten))
    whitening[constant] = 0.0
    whitening[:, constant] = 0.0
    return replace(stats, whitening=whitening, gram=gram)


def standardize_rows(Xb, stats, out=None):
    """Rows of ``X`` standardized (and whitened) with ``stats``: a new array (or ``out``).

    One temporary of the block's size (the centred rows, scaled in place);
    the whitening product is written to ``out`` when given.
    """
    Z = np.asarray(Xb, dtype=np.float64) - stats.x_mean
    Z /= stats.x_scale
    if stats.constant is not None:
        Z[:, stats.constant] = 0.0
    if stats.whitening is not None:
        return np.matmul(Z, stats.whitening, out=out)
    if out is None:
        return Z
    out[...] = Z
    return out


def standardize_y(y, stats):
    """``y`` centred and scaled with ``stats`` (zeros for a constant ``y``)."""
    y = np.asarray(y, dtype=np.float64)
    if stats.y_constant:
        return np.zeros_like(y)
    return (y - stats.y_mean) / stats.y_scale


def standardized_copy(X, stats, rows=None):
    """``standardize_rows(X[rows])`` built block by block into one new array.

    ``rows`` (an index array, default all rows in order) orders the copy:
    the only full-size array a fit allocates on the host. A dask array
    gives its :class:`._engine._stats.StandardizedRows` instead (no copy:
    the engine standardizes its chunks in every pass).
    """
    if is_lazy(X):
        # lazy: the raw rows and the standardization, which the engine applies
        # (or folds into its matrices) chunk by chunk in every pass
        factor = 1.0 / stats.x_scale
        if stats.constant is not None:
            factor = np.where(stats.constant, 0.0, factor)
        Z = replace(lazy_rows(X), offset=stats.x_mean, factor=factor, matrix=stats.whitening)
        return Z if rows is None else Z.take(rows)
    n = X.shape[0] if rows is None else len(rows)
    out = np.empty((n, X.shape[1]))
    for b in row_blocks(n, X.shape[1]):
        standardize_rows(X[b] if rows is None else X[rows[b]], stats, out=out[b])
    return out


def group_rows(A, first, second):
    """Reorder the rows of ``A`` in place: rows ``first``, then rows ``second`` (ascending each).

    ``first`` and ``second`` partition ``range(len(A))``. The smaller group
    is copied aside, the larger moved in blocks to its place (each of its
    rows moves toward its end of ``A``, so no block overwrites a row still
    to be read) and the copy written after (or before) it: the extra memory
    is the smaller group, instead of a second ``A`` for ``A[order]``.
    Returns ``A``.
    """
    n = len(A)
    if len(first) + len(second) != n:
        raise ValueError("first and second must partition the rows of A.")
    if len(first) <= len(second):
        aside, moved, forward = A[first], second, False
    else:
        aside, moved, forward = A[second], first, True
    step = row_blocks(n, A.shape[1])[0].stop if n else 1
    if forward:
        # rows of ``first`` to the front: destination i <= source first[i]
        for start in range(0, len(moved), step):
            stop = min(start + step, len(moved))
            A[start:stop] = A[moved[start:stop]]
        A[len(moved):] = aside
    else:
        # rows of ``second`` to the back: destination >= source, from the end
        offset = n - len(moved)
        for stop in range(len(moved), 0, -step):
            start = max(stop - step, 0)
            A[offset + start:offset + stop] = A[moved[start:stop]]
        A[:offset] = aside
    return A


def fit_standardize(X, y, sw, whiten=None):
    """Standardize ``X`` and ``y`` with their weighted moments.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,), float64
    sw : ndarray of shape (n_samples,), positive
    whiten : {None, "ledoit_wolf", "oas"}
        Also decorrelate the columns with a shrinkage estimate of their
        correlation matrix (:func:`fit_statistics`).

    Returns
    -------
    Xs, ys : new (writable) float64 arrays
    stats : Standardization
    """
    stats = fit_statistics(X, y, sw, whiten)
    return standardized_copy(X, stats), standardize_y(y, stats), stats


def stats_from(estimator):
    """The :class:`Standardization` stored on a fitted estimator (a classifier has no ``y``'s)."""
    return Standardization(x_mean=estimator.x_mean_, x_scale=estimator.x_scale_,
                           y_mean=float(getattr(estimator, "y_mean_", 0.0)),
                           y_scale=float(getattr(estimator, "y_scale_", 1.0)),
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
    # equilibrate the columns before QR: scales may span many orders of
    # magnitude (by the largest entry first, so that no square under- or
    # overflows: X in units of 1e-170 gives entries of 1e170)
    top = np.abs(P).max(axis=0)
    E = P / np.where(top > 0, top, 1.0)
    Q, _ = np.linalg.qr(E / np.linalg.norm(E, axis=0).clip(min=1e-300))
    return P, sign_flip(Q)


# A stream (partial_fit) standardizes with the moments of every row seen so
# far: merged block by block (Chan, Golub and LeVeque's pairwise update of
# centred sums, stable for columns of any offset), the standardization is
# recomputed after each block and the fitted network re-expressed in it.


# The stream's sums of squares (and fourth powers, for the whitening) are taken
# in units of a power of two near each column's largest deviation from its
# mean, for columns (and y) beyond this magnitude or below its inverse: their
# squares over- or underflow float64 otherwise (1e160 units: NaN predictions,
# "Input contains NaN" from the shrinkage). Columns in between keep unit 1.
STREAM_UNIT_RANGE = 1e60


def _stream_unit(deviation):
    """1, or the power of two nearest ``deviation`` (elementwise) when it is beyond the range."""
    deviation = np.asarray(deviation, dtype=np.float64)
    out = np.ones_like(deviation)
    far = (deviation > 0) & np.isfinite(deviation) & (
        (deviation > STREAM_UNIT_RANGE) | (deviation < 1.0 / STREAM_UNIT_RANGE))
    out[far] = np.exp2(np.round(np.log2(deviation[far])))
    return out


def stream_moments(X, y, sw, whiten=None, units=None):
    """The mergeable moments of one block of a stream, under the weights ``sw``.

    ``sw`` are the block's weights in the stream's unit (the first block's
    mean weight). Centred sums about the block's own weighted means: total
    weight, row count, column means and centred squares (the full scatter
    matrix with ``whiten``), the same for ``y``. With ``whiten``, also the
    sums the shrinkage intensity needs (its ``sum_i w_i^2 |z_i|^4`` for the
    final standardization ``z``): with ``c`` the centred rows, the ``w^2``
    weighted sums of ``c_j^2 c_k^2``, ``c_j^2 c_k``, ``c_j c_k``, ``c_j`` and
    ``1``, which a shift of the centre maps into each other
    (:func:`_shift_fourth`), so the intensity is that of all rows exactly.
    The sums are in ``units`` (``m["units"]``: per column and of ``y``,
    :func:`_stream_unit`; default: from this block), which every later
    block of the stream takes over.
    """
    total = float(sw.sum())
    w = sw / total
    x_mean = block_sum(X, lambda Xb, wb: wb @ Xb, w)
    y_mean = float(w @ y)
    if units is None:
        deviation = block_map(X, lambda Xb: np.max(np.abs(Xb - x_mean), axis=0, initial=0.0,
                                                    keepdims=True))
        units = (_stream_unit(np.max(deviation, axis=0, initial=0.0)),
                 float(_stream_unit(np.max(np.abs(y - y_mean), initial=0.0))))
    xu, yu = units
    m = {"weight": total, "n_rows": int(X.shape[0]), "x_mean": x_mean, "units": units,
         "y_mean": y_mean, "y_scatter": float(sw @ ((y - y_mean) / yu) ** 2)}
    if whiten is None:
        m["x_scatter"] = block_sum(X, lambda Xb, wb: wb @ (((Xb - x_mean) / xu) ** 2), sw)
        return m

    def sums(Xb, wb):
        C = (Xb - x_mean) / xu
        C2, w2 = C * C, wb * wb
        return (C.T @ (C * wb[:, None]), (C2 * w2[:, None]).T @ C2, (C2 * w2[:, None]).T @ C,
                C.T @ (C * w2[:, None]), w2 @ C, float(w2.sum()))

    m["x_scatter"], *fourth = block_sum(X, sums, sw)
    m["fourth"] = tuple(fourth)
    return m


def _shift_fourth(fourth, delta):
    """The sums of :func:`stream_moments` about a centre moved by ``-delta`` (``c + delta``)."""
    P4, P3, P2, P1, P0 = fourth
    dj, dk = delta[:, None], delta[None, :]
    d2 = np.diag(P2)
    Q1 = P1 + delta * P0
    Q2 = P2 + dj * P1[None, :] + P1[:, None] * dk + np.outer(delta, delta) * P0
    Q3 = (P3 + dk * d2[:, None] + 2 * dj * P2 + 2 * dj * dk * P1[:, None]
          + dj ** 2 * P1[None, :] + dj ** 2 * dk * P0)
    Q4 = (P4 + 2 * dk * P3 + 2 * dj * P3.T + dk ** 2 * d2[:, None] + dj ** 2 * d2[None, :]
          + 4 * dj * dk * P2 + 2 * dj * dk ** 2 * P1[:, None] + 2 * dj ** 2 * dk * P1[None, :]
          + dj ** 2 * dk ** 2 * P0)
    return Q4, Q3, Q2, Q1, P0


def stream_units(m):
    """The units of the sums of moments ``m`` (:func:`stream_moments`; ones for moments kept
    before the units)."""
    return m.get("units") or (np.ones(np.shape(m["x_mean"])), 1.0)


def merge_moments(a, b):
    """The moments of two sets of rows from theirs (:func:`stream_moments`)."""
    total = a["weight"] + b["weight"]
    fa, fb = a["weight"] / total, b["weight"] / total
    xu, yu = units = stream_units(a)
    dx = b["x_mean"] - a["x_mean"]
    du = dx / xu
    cross = np.outer(du, du) if np.ndim(a["x_scatter"]) == 2 else du * du
    dy = b["y_mean"] - a["y_mean"]
    x_mean = a["x_mean"] + fb * dx
    merged = {
        "weight": total, "n_rows": a["n_rows"] + b["n_rows"],
        "x_mean": x_mean, "units": units,
        "x_scatter": a["x_scatter"] + b["x_scatter"] + (fa * b["weight"]) * cross,
        "y_mean": a["y_mean"] + fb * dy,
        "y_scatter": a["y_scatter"] + b["y_scatter"] + fa * b["weight"] * (dy / yu) ** 2,
    }
    if "fourth" in a:
        # both about the merged mean: c + (own mean - merged mean)
        sa = _shift_fourth(a["fourth"], (a["x_mean"] - x_mean) / xu)
        sb = _shift_fourth(b["fourth"], (b["x_mean"] - x_mean) / xu)
        merged["fourth"] = tuple(p + q for p, q in zip(sa, sb))
    return merged


def stats_from_moments(m, whiten=None):
    """The :class:`Standardization` of the rows whose moments are ``m`` (as :func:`fit_statistics`)."""
    scatter = m["x_scatter"]
    xu, yu = stream_units(m)
    var = (np.diag(scatter) if np.ndim(scatter) == 2 else scatter) / m["weight"]
    x_scale, constant = _safe_scale(m["x_mean"], np.sqrt(np.maximum(var, 0.0)) * xu)
    y_std = np.sqrt(max(m["y_scatter"] / m["weight"], 0.0)) * yu
    y_scale, y_constant = _safe_scale(np.float64(m["y_mean"]), np.float64(y_std))
    stats = Standardization(x_mean=m["x_mean"], x_scale=x_scale, y_mean=float(m["y_mean"]),
                            y_scale=float(y_scale), whitening=None, constant=constant,
                            y_constant=bool(y_constant))
    if whiten is None or len(x_scale) <= 1:
        return stats
    n = m["n_rows"]
    # Z^T Z of the standardized rows scaled by sqrt(w) with w summing to n, and
    # the sum of |z_i|^4 of these rows (the fourth sums are about the mean)
    scale = np.where(constant, 0.0, xu / x_scale)  # the sums are in units xu
    gram = (scatter * np.outer(scale, scale)) * (n / m["weight"])
    a = scale * scale
    norms4 = float(a @ m["fourth"][0] @ a) * (n / m["weight"]) ** 2
    whitening = _inverse_sqrt(_shrunk_from_moments(gram, n, norms4, whiten))
    whitening[constant] = 0.0
    whitening[:, constant] = 0.0
    return replace(stats, whitening=whitening)


def unstandardize_rows(Z, stats):
    """Inverse of :func:`standardize_rows` (constant columns come back as their mean)."""
    Z = np.asarray(Z, dtype=np.float64)
    if stats.whitening is not None:
        Z = np.linalg.lstsq(stats.whitening, Z.T, rcond=None)[0].T
    return Z * stats.x_scale + stats.x_mean
