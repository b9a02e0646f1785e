"""The engine's NumPy half: constants and statistics the estimator layer shares.

Nothing here imports torch, so the estimator layer can import it at module
load (``import skmim`` stays free of torch; torch is imported by the first
``fit``). The torch modules of the engine import these same definitions.
"""

import numpy as np

SOLVERS = ("refined", "layerwise", "grassmann", "sgd")

STAGE1_LOSSES = ("squared", "huber", "abs", "rank")

# Ritz values above NOISE_MARGIN times the predicted noise edge count as signal.
NOISE_MARGIN = 1.25

# A refinement is confirmed when its held-out (Huber) loss is below the
# training mean's by more than CONFIRM_Z standard errors of the paired
# per-sample difference. The best of several early-stopped runs is chosen on the same
# held-out samples, so a bare comparison is optimistic: on pure noise (n = 400,
# d = 20) 7 of 12 data sets had a "better" refinement, none by two standard
# errors (benchmarks/sweeps/real_table_checks.py).
CONFIRM_Z = 2.0

# Passes over the rows of X (the estimators' statistics, standardization and
# split hash; the engine's sums over resident samples) work in row blocks of
# about this many values (16 MB of float64), so that their temporaries stay a
# small fraction of X whatever its shape. Memory: benchmarks/memory.py.
BLOCK_VALUES = 2**21


def block_rows(n_columns, minimum=1):
    """Rows per block of :data:`BLOCK_VALUES` values for ``n_columns`` columns."""
    return max(minimum, BLOCK_VALUES // max(int(n_columns), 1))


def sign_flip(basis):
    """Make the largest-magnitude entry of every column positive (deterministic sign)."""
    idx = np.argmax(np.abs(basis), axis=0)
    signs = np.sign(basis[idx, np.arange(basis.shape[1])])
    signs[signs == 0] = 1.0
    return basis * signs


def count_above_noise(spectrum, level):
    """Number of values whose magnitude exceeds ``NOISE_MARGIN`` times the noise edge."""
    return int(np.sum(np.abs(spectrum) > NOISE_MARGIN * level))


def paired_z(gains, w):
    """Weighted mean of the per-sample ``gains`` over its standard error (NumPy).

    ``gains`` are a model's per-sample losses minus a reference's: negative
    means the model is better. The standard error uses the effective sample
    size of the weights, so it depends on relative weights only.
    """
    total = w.sum()
    mean = float(w @ gains / total)
    var = float(w @ (gains - mean) ** 2 / total)
    n_eff = total ** 2 / float(w @ w)
    se = np.sqrt(var / max(n_eff - 1.0, 1.0))
    if se == 0.0:
        return 0.0 if mean == 0.0 else float(np.copysign(np.inf, mean))
    return mean / se


def weighted_quantile(values, weights, q):
    """Inverted-CDF quantile: the smallest value whose cumulative weight >= q.

    With unit weights this is a sample quantile without interpolation, so
    integer weights and repeated samples give exactly the same answer.
    """
    order = np.argsort(values, kind="stable")
    v = values[order]
    cw = np.cumsum(weights[order])
    idx = int(np.searchsorted(cw, q * cw[-1], side="left"))
    return float(v[min(idx, v.size - 1)])
