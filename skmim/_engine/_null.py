"""A deterministic null for spectral statistics: circular shifts in a random order.

How far a statistic of ``(X, y)`` (the top eigenvalue of a spectral
estimator's matrix) stands above what it would be if ``y`` were independent of
``x`` is measured against the values it takes with the labels moved to other
rows, as in a permutation test. Two requirements shape how they are moved:

- the result must be reproducible without a random generator of its own, and
- a row of frequency weight ``k`` must count as ``k`` copies of that row.

The rows are laid on a circle of circumference ``W = sum w`` in a random
order (the estimator's content hash of each row, so copies of a row are
adjacent), each row an arc as long as its weight. Shifting the labels by
``delta`` along the circle gives row ``i`` the average, over the arc
``[a_i + delta, a_i + delta + w_i)``, of the per-unit-weight quantities the
statistic is built from (the stage-1 scores, or slice memberships). For a
statistic linear in those quantities row by row (a weighted second moment, a
weighted slice mean), a weighted row and its copies then contribute the same.
``n_shifts`` shifts by about ``p W / (n_shifts + 1)`` (whole units of
weight, :func:`shifts`) pair every ``x`` with the labels of rows far from it
in the random order: draws from the null.
"""

import numpy as np

# Shifts per null: enough for a mean and a spread of the null statistic to a
# few per cent, at n_shifts times the cost of the statistic.
N_SHIFTS = 20


def shifted(values, weights, order, shift):
    """Arc averages of the per-row ``values`` after a circular shift by ``shift``.

    ``values`` is (n,) or (n, m); ``order`` lists the rows in their order
    along the circle; ``shift`` is in units of weight, in ``[0, sum w)``.
    Rows of zero weight (no arc) get their own value.
    """
    values = np.asarray(values, dtype=np.float64)
    v = values[order]
    w = np.asarray(weights, dtype=np.float64)[order]
    edges = np.concatenate([[0.0], np.cumsum(w)])
    total = edges[-1]

    def column(a):
        # a per-row vector, broadcast against ``v``
        return np.asarray(a, dtype=np.float64).reshape((-1,) + (1,) * (v.ndim - 1))

    cumulative = np.concatenate([np.zeros((1,) + v.shape[1:]), np.cumsum(v * column(w), axis=0)])

    def integral(t):
        # integral of the piecewise-constant values from 0 to t (t < 2 W)
        laps = t >= total
        r = np.where(laps, t - total, t)
        i = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, len(w) - 1)
        return cumulative[i] + column(r - edges[i]) * v[i] + column(laps) * cumulative[-1]

    start = edges[:-1] + shift
    mass = integral(start + w) - integral(start)
    positive = w > 0
    out_sorted = v.copy()
    out_sorted[positive] = mass[positive] / column(w[positive])
    out = np.empty_like(out_sorted)
    out[order] = out_sorted
    return out


def shifts(total, n_shifts=N_SHIFTS):
    """Whole-unit shifts near ``p total / (n_shifts + 1)``, ``p = 1 .. n_shifts``.

    Whole units keep the labels whole: with integer weights every unit of an
    arc takes one row's value, as every copy of a repeated row would. (An arc
    that straddles two rows averages them, which shrinks the null's spread:
    with unit weights and shifts by fractions of a row, pure-noise labels
    gave sliced z-scores near 3 instead of near 0. With non-integer weights
    some arcs straddle rows all the same.) Shifts that round to the same
    unit, or to no shift at all, are dropped.
    """
    grid = np.round(np.arange(1, n_shifts + 1) * total / (n_shifts + 1))
    return np.unique(grid[(grid >= 1) & (grid <= total - 1)])


def null_z(statistic, values, weights, order, n_shifts=N_SHIFTS):
    """How many null standard deviations ``statistic(values)`` lies above the null mean.

    The null values are ``statistic`` of the circular shifts of ``values``
    (:func:`shifted`) by :func:`shifts`. Returns ``(z, value, null_values)``;
    ``z`` is 0 when there are fewer than two shifts, or when the null has no
    spread and the value equals its mean.
    """
    value = float(statistic(values))
    total = float(np.sum(weights))
    null = np.array([statistic(shifted(values, weights, order, delta))
                     for delta in shifts(total, n_shifts)], dtype=np.float64)
    if null.size < 2:
        return 0.0, value, null
    spread = float(null.std())
    excess = value - float(null.mean())
    tiny = 1e-12 * max(abs(value), 1e-300)
    if spread <= tiny:
        return (0.0 if abs(excess) <= tiny else float(np.copysign(np.inf, excess))), value, null
    return excess / spread, value, null
