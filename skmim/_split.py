"""Deterministic, content-based split of the samples into the two stages.

Each row is sent to stage 1 or stage 2 by a seeded hash of its values, so
duplicated rows never straddle the two stages, and the same data in other
units (the estimators hash the standardized rows on a grid) get the same
split. For distinct rows the assignment is an ordinary random split with the
requested proportions (of the total weight).
"""

import numpy as np

from ._engine._stats import block_map, weighted_quantile

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


# The hash works in blocks of this many values (512 KB of float64): its dozen
# elementwise passes then stay in the processor's L2 cache instead of
# streaming 16 MB blocks (BLOCK_VALUES) through memory. One thread, fastest
# of five: 4096 x 256 rows 9.1 -> 5.6 ms, 16384 x 1024 145 -> 85 ms,
# 200,000 x 16 34 -> 24 ms, 32768 x 2048 467 -> 340 ms; the same hashes
# (each row's is its own).
HASH_BLOCK_VALUES = 2**16


def _mix(h):
    """The splitmix64 finalizer of ``h`` (uint64, wrapping modulo 2**64), in place."""
    shifted = np.empty_like(h)
    np.right_shift(h, np.uint64(30), out=shifted)
    h ^= shifted
    h *= _M1
    np.right_shift(h, np.uint64(27), out=shifted)
    h ^= shifted
    h *= _M2
    np.right_shift(h, np.uint64(31), out=shifted)
    h ^= shifted
    return h


def row_uniforms(X, y, seed, grid=None, transform=None):
    """A number in [0, 1) per row of ``(X, y)``, a seeded hash of its values.

    With ``grid``, the hash is of ``floor(grid * value)`` instead of the value
    (for standardized data: rows equal up to rounding hash alike). With
    ``transform``, of ``transform(rows)`` (e.g. the standardization), applied
    block by block: the hash works in row blocks (``_stats.block_map``; the
    chunks of a dask ``X``, as tasks), so its temporaries stay small
    whatever the size of ``X``, and a row's hash does not depend on the
    blocks.
    """

    n, d = X.shape
    rng = np.random.RandomState(seed)
    mult = rng.randint(1, 2**62, size=d + 1, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    y = np.asarray(y, dtype=np.float64)
    return block_map(X, lambda rows, yb: _hash_rows(rows, yb, mult, grid, transform), y,
                     block_values=HASH_BLOCK_VALUES)


def _hash_rows(rows, y, mult, grid, transform):
    """:func:`row_uniforms` of one block of rows and their targets."""

    def cells(a):
        a = np.ascontiguousarray(a, dtype=np.float64)
        return a if grid is None else np.floor(a * grid)

    if transform is not None:
        rows = transform(rows)
    d = rows.shape[1]
    with np.errstate(over="ignore"):
        Xb = cells(rows) + 0.0  # a new array; -0.0 -> 0.0
        Xb = Xb.view(np.uint64)
        Xb *= mult[:d]
        h = _mix(Xb).sum(axis=1, dtype=np.uint64)
        h = _mix(h + _mix((cells(y) + 0.0).view(np.uint64) * mult[d]))
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


# validation_fraction="auto": VALID_MAX of the samples, down to VALID_MIN
# while VALID_ROWS rows remain held out
VALID_MAX, VALID_MIN, VALID_ROWS = 0.2, 0.1, 100


def validation_fraction(fraction, u):
    """The held-out fraction: ``fraction``, or for ``"auto"`` one that shrinks with the data.

    ``"auto"``: 20 % up to 500 distinct rows, ``100 / n`` up to 1000, 10 %
    beyond (``n`` the number of distinct rows, counted by their hash ``u``,
    so that repeated rows and weights give the same split). Near the onset
    of recovery the refinements on the training part limit the estimate:
    at d = 256, noise 0.1, 10 % instead of 20 % took ``h2(z1) h2(z2)`` at
    n = 8 d from 0.864 to 0.072 and ``z1 z2`` at n = 3 d from 0.483 to 0.286
    (medians of five seeds), with the same R^2 on the real-data benchmark
    and the same dimension choices (64 of 72 exact against 63); small
    tables keep a held-out part large enough to judge.
    """
    if fraction != "auto":
        return fraction
    n = np.unique(u).size
    return max(VALID_MIN, min(VALID_MAX, VALID_ROWS / max(n, 1)))


def upper_fraction(u, weights, fraction):
    """Rows whose hash ``u`` is above the weighted ``1 - fraction`` quantile.

    The selected rows carry about ``fraction`` of the total weight, exactly the
    same rows whether a sample is repeated or weighted. Identical rows share
    their hash, so with heavily duplicated data the part can hold more than
    ``fraction``: when no row lies strictly above the quantile, the rows of the
    largest hash value are taken.
    """
    upper = u > weighted_quantile(u, weights, 1.0 - fraction)
    if not upper.any():
        upper = u == u.max()
    return upper
