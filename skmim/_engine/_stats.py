"""The engine's NumPy half: constants and statistics the estimator layer shares.

Nothing here imports torch, so the estimator layer can import it at module
load (``import skmim`` stays free of torch; torch is imported by the first
``fit``). The torch modules of the engine import these same definitions.
"""

import functools
import sys
from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class StandardizedRows:
    """The rows ``((X[rows] - offset) * factor) @ matrix`` of a dask array ``X``, never formed.

    The estimators' standardization (``factor``: inverse scales, zero for
    constant columns; ``matrix``: the whitening, or None) and the selection
    of a part's rows (``rows``: sorted indices into ``X``, None for all) kept
    apart from the raw rows, so that the engine can fold them into the small
    matrices of a pass (``Z V = (X - offset) (factor * (matrix V))``, taken
    at the part's rows of each chunk) instead of copying, selecting and
    whitening every row in every pass (:class:`._data.DaskSamples`).
    """

    raw: object
    offset: np.ndarray
    factor: np.ndarray
    matrix: np.ndarray = None
    rows: np.ndarray = None

    @property
    def shape(self):
        n = self.raw.shape[0] if self.rows is None else len(self.rows)
        return (n, self.raw.shape[1])

    def take(self, index):
        """The rows ``index`` (sorted indices into these rows) of these rows."""
        index = np.asarray(index, dtype=np.int64)
        return replace(self, rows=index if self.rows is None else self.rows[index])

    @property
    def transform(self):
        """``Xb -> standardized Xb`` (NumPy, float64), without the raw rows (light to ship)."""
        return functools.partial(standardize_block, offset=self.offset, factor=self.factor,
                                 matrix=self.matrix)


def standardize_block(Xb, offset, factor, matrix):
    """``((Xb - offset) * factor) @ matrix`` (no matrix: without it), float64."""
    Z = (np.asarray(Xb, dtype=np.float64) - offset) * factor
    return Z if matrix is None else Z @ matrix


def lazy_rows(X, rows=None):
    """The dask array ``X`` (or its rows ``rows``) as identity :class:`StandardizedRows`."""
    if isinstance(X, StandardizedRows):
        return X if rows is None else X.take(rows)
    d = X.shape[1]
    return StandardizedRows(one_column_chunk(X), np.zeros(d), np.ones(d),
                            rows=None if rows is None else np.asarray(rows, dtype=np.int64))


def is_lazy(X):
    """A dask array, or :class:`StandardizedRows` of one."""
    return isinstance(X, StandardizedRows) or is_dask_array(X)


def row_chunks(X):
    """The chunks of the dask array (or :class:`StandardizedRows`) ``X`` as delayed blocks.

    Returns ``(blocks, bounds, local)``: the raw blocks holding rows of
    ``X`` in row order, the offsets of their rows among the rows of ``X``
    (``bounds[i]:bounds[i + 1]`` are block ``i``'s) and, per block, the
    positions of those rows in the block (None: all of its rows). Blocks
    without a row of ``X`` are left out.
    """
    X = lazy_rows(X)
    raw = one_column_chunk(X.raw)
    blocks = list(raw.to_delayed().ravel())
    edges = np.cumsum((0,) + tuple(raw.chunks[0]))
    if X.rows is None:
        return blocks, edges, [None] * len(blocks)
    cut = np.searchsorted(X.rows, edges)
    kept, bounds, local = [], [0], []
    for i, block in enumerate(blocks):
        a, b = int(cut[i]), int(cut[i + 1])
        if b == a:
            continue
        kept.append(block)
        bounds.append(b)
        whole = b - a == edges[i + 1] - edges[i]
        local.append(None if whole else X.rows[a:b] - edges[i])
    return kept, np.asarray(bounds), local


def chunk_tasks(chunks, func, rows=(), lead=()):
    """``func(*lead, X_c, local_c, *rows_c)`` for every chunk of :func:`row_chunks`, as tasks.

    ``X_c`` is the raw block and ``local_c`` the positions of its rows
    (None: all). ``rows`` are per-row NumPy arrays (or torch tensors on the
    CPU), cut with the chunks on the client and embedded in the tasks (scattered to
    the workers of a ``dask.distributed`` client in use);
    ``lead`` are passed as they are (a ``dask.delayed`` object: computed
    once, shared by every task). Returns a list of ``dask.delayed`` objects,
    one per chunk, in row order.
    """
    import dask

    blocks, bounds, local = chunks
    # per chunk: the positions of its rows and the per-row data cut for them
    cuts = [(local[i],) + tuple(a[int(bounds[i]):int(bounds[i + 1])] for a in rows)
            for i in range(len(blocks))]
    client = _distributed_client()
    if client is not None and (rows or any(c[0] is not None for c in cuts)):
        # scattered to the workers, not embedded in the graph (whose size would
        # grow with n: distributed warns above 10 MB)
        cuts = client.scatter(cuts, hash=False)
    tasks = Tasks(dask.delayed(_apply)(func, lead, block, cut)
                  for block, cut in zip(blocks, cuts))
    tasks.keep = cuts  # the scattered futures live as long as the tasks
    return tasks


class Tasks(list):
    """A list of ``dask.delayed`` tasks that keeps the data they were given alive."""

    keep = None


def _apply(func, lead, block, cut):
    return func(*lead, block, *cut)


def _distributed_client():
    """The ``dask.distributed`` client that ``dask.compute`` uses now, or None."""
    if "distributed" not in sys.modules:
        return None
    import dask
    from distributed import default_client

    try:
        client = default_client()
    except ValueError:
        return None
    return client if dask.base.get_scheduler() == client.get else None


def compute_sum(tasks):
    """The sum of the results of ``tasks`` (``dask.delayed``), added in a tree of tasks.

    Only ``TREE_WIDTH`` partial results meet in one task, and one sum comes
    back to the client. None for no task.
    """
    import dask

    level = list(tasks)  # ``tasks`` (and the futures it keeps) stay referenced until the end
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


def block_rows(n_columns, minimum=1, values=None):
    """Rows per block of ``values`` (default :data:`BLOCK_VALUES`) values for ``n_columns`` columns."""
    return max(minimum, (BLOCK_VALUES if values is None else values) // max(int(n_columns), 1))


def row_blocks(n, n_columns, values=None):
    """Slices of about ``values`` values (default :data:`BLOCK_VALUES`) each over ``n`` rows."""
    step = block_rows(n_columns, values=values)
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


class _on_rows:
    """``fn(standardize(X_c[local]), *rows)``: a chunk task of :func:`block_sum` / :func:`block_map`."""

    def __init__(self, fn, standardize):
        self.fn, self.standardize = fn, standardize

    def __call__(self, Xb, local, *rows):
        Xb = np.asarray(Xb) if local is None else np.asarray(Xb)[local]
        return self.fn(Xb if self.standardize is None else self.standardize(Xb), *rows)


def _lazy_task(X, fn):
    X = lazy_rows(X)
    identity = X.matrix is None and not X.offset.any() and np.all(X.factor == 1.0)
    return row_chunks(X), _on_rows(fn, None if identity else X.transform)


def block_sum(X, fn, *rows):
    """``sum over row blocks b of fn(X[b], *(a[b] for a in rows))`` (arrays, floats, tuples).

    NumPy ``X``: blocks of :func:`block_rows` rows, in order. A dask array:
    its row chunks, each ``fn`` a task of the Dask scheduler in use, the
    results added in a tree of tasks (``X`` is never computed as a whole).
    """
    if is_lazy(X):
        chunks, task = _lazy_task(X, fn)
        return compute_sum(chunk_tasks(chunks, task, rows))
    total = None
    for b in row_blocks(*X.shape):
        total = add(total, fn(X[b], *(a[b] for a in rows)))
    return total


def block_map(X, fn, *rows, block_values=None):
    """``fn(X[b], *(a[b] for a in rows))`` over row blocks, concatenated (per-row results).

    As :func:`block_sum`: NumPy blocks on the spot (of about ``block_values``
    values, default :data:`BLOCK_VALUES`), a dask array's chunks as tasks
    whose results (one NumPy array per chunk) come back to the client.
    """
    if is_lazy(X):
        import dask

        chunks, task = _lazy_task(X, fn)
        parts = dask.compute(*chunk_tasks(chunks, task, rows))
    else:
        parts = [fn(X[b], *(a[b] for a in rows))
                 for b in row_blocks(*X.shape, values=block_values)]
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


# paired_z's fewest effective samples (Kish's (sum w)^2 / sum w^2): one row, or
# one row holding nearly all of the weight, has no spread to estimate
MIN_EFFECTIVE_SAMPLES = 1.5


def paired_z(gains, w):
    """Weighted mean of the per-sample ``gains`` over its standard error (NumPy).

    ``gains`` are a model's per-sample losses minus a reference's: negative
    means the model is better. The standard error uses the effective sample
    size of the weights, so it depends on relative weights only. Fewer than
    two effective samples (one held-out row, or one row holding nearly all
    the weight) have no standard error: 0, no evidence either way (before:
    the zero spread of one sample gave +-inf, and a model of pure noise on
    a held-out part of one row counted as confirmed).
    """
    top = float(w.max()) if w.size else 0.0
    if top > 0:
        w = w / top  # relative weights: their squares neither under- nor overflow
    total = w.sum()
    mean = float(w @ gains / total)
    var = float(w @ (gains - mean) ** 2 / total)
    n_eff = total ** 2 / float(w @ w)
    if not n_eff >= MIN_EFFECTIVE_SAMPLES:
        return 0.0
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
