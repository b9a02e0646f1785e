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


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array`` (checked without importing dask)."""
    return (type(X).__module__.split(".")[0] == "dask" and hasattr(X, "to_delayed")
            and hasattr(X, "chunks"))


# Dask reductions add the chunks' results in groups of this many, as tasks.
TREE_WIDTH = 8


def add(total, part):
    """``total + part`` for arrays, floats and tuples of them (``total`` None: ``part``)."""
    if total is None:
        return part
    if isinstance(part, tuple):
        return tuple(add(a, b) for a, b in zip(total, part))
    return total + part


def _tree_sum(*parts):
    total = None
    for part in parts:
        total = add(total, part)
    return total


def row_chunks(X):
    """The row chunks of the dask array ``X`` (one column chunk) as ``dask.delayed`` blocks.

    Returns ``(blocks, bounds)``: the blocks in row order and their row
    offsets (``bounds[i]:bounds[i + 1]`` are block ``i``'s rows).
    """
    X = one_column_chunk(X)
    return list(X.to_delayed().ravel()), np.cumsum((0,) + tuple(X.chunks[0]))


def chunk_tasks(chunks, func, rows=(), lead=()):
    """``func(*lead, X_c, *rows_c)`` for every row chunk ``X_c`` of :func:`row_chunks`, as tasks.

    ``rows`` are per-row NumPy arrays (or torch tensors on the CPU), cut with
    the chunks on the client and embedded in the tasks; ``lead`` are passed
    as they are (a ``dask.delayed`` object: computed once, shared by every
    task). Returns a list of ``dask.delayed`` objects, one per chunk, in row
    order.
    """
    import dask

    blocks, bounds = chunks
    tasks = []
    for index, block in enumerate(blocks):
        start, stop = int(bounds[index]), int(bounds[index + 1])
        tasks.append(dask.delayed(func)(*lead, block, *(a[start:stop] for a in rows)))
    return tasks


def compute_sum(tasks):
    """The sum of the results of ``tasks`` (``dask.delayed``), added in a tree of tasks.

    Only ``TREE_WIDTH`` partial results meet in one task, and one sum comes
    back to the client. None for no task.
    """
    import dask

    level = list(tasks)
    if not level:
        return None
    while len(level) > 1:
        level = [dask.delayed(_tree_sum)(*level[i:i + TREE_WIDTH])
                 for i in range(0, len(level), TREE_WIDTH)]
    (total,) = dask.compute(level[0], optimize_graph=False)
    return total


def one_column_chunk(X):
    """The dask array ``X`` with its columns in one chunk (its rows chunked as they are)."""
    return X if len(X.chunks[1]) == 1 else X.rechunk({1: -1})


def block_rows(n_columns, minimum=1):
    """Rows per block of :data:`BLOCK_VALUES` values for ``n_columns`` columns."""
    return max(minimum, BLOCK_VALUES // max(int(n_columns), 1))


def row_blocks(n, n_columns):
    step = block_rows(n_columns)
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def block_sum(X, fn, *rows):
    """``sum over row blocks b of fn(X[b], *(a[b] for a in rows))`` (arrays, floats, tuples).

    NumPy ``X``: blocks of :func:`block_rows` rows, in order. A dask array:
    its row chunks, each ``fn`` a task of the Dask scheduler in use, the
    results added in a tree of tasks (``X`` is never computed as a whole).
    """
    if is_dask_array(X):
        return compute_sum(chunk_tasks(row_chunks(X), fn, rows))
    total = None
    for b in row_blocks(*X.shape):
        total = add(total, fn(X[b], *(a[b] for a in rows)))
    return total


def block_map(X, fn, *rows):
    """``fn(X[b], *(a[b] for a in rows))`` over row blocks, concatenated (per-row results).

    As :func:`block_sum`: NumPy blocks on the spot, a dask array's chunks as
    tasks whose results (one NumPy array per chunk) come back to the client.
    """
    if is_dask_array(X):
        import dask

        parts = dask.compute(*chunk_tasks(row_chunks(X), fn, rows))
    else:
        parts = [fn(X[b], *(a[b] for a in rows)) for b in row_blocks(*X.shape)]
    return np.concatenate(parts) if parts else np.empty(0)


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
