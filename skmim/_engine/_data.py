"""Weighted samples served to a device in row chunks.

Every statistic of the engine (stage-1 gradients, second-moment products,
stage-2 Gram matrices) is a weighted sum over samples, so it can be
accumulated chunk by chunk: memory on the device is bounded by
``batch_size`` rows, not by the number of samples.

Every pass over ``X`` goes through :meth:`Samples.map` (a per-chunk result
per chunk, e.g. the projections ``X_c V``) or :meth:`Samples.reduce` (the
sum of per-chunk results, e.g. ``X_c^T D_c X_c``). :class:`DaskSamples`
implements the two on a ``dask.array.Array``: each chunk's function runs as
a task of the Dask scheduler in use, next to the chunk (threads, or the
workers of a ``dask.distributed`` cluster), and only the small per-chunk
results reach the client, which never holds ``X``.
"""

import functools
import platform

import numpy as np
import torch
from scipy.linalg import blas

from ._stats import (
    add,
    block_rows,
    chunk_tasks,
    compute_sum,
    is_lazy,
    lazy_rows,
    row_chunks,
)

# Resident samples are served in row blocks (see ``_stats.BLOCK_VALUES``) of
# at least this many rows, sized for rows of at least this many values: a
# chunk's temporaries include its features of width m (256 by default).
RESIDENT_MIN_ROWS = 1024
RESIDENT_MIN_COLUMNS = 256


class Samples:
    """Rows ``(X, y, w)`` held on the host and served to ``device`` in chunks.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    w : ndarray of shape (n_samples,)
        Non-negative frequency weights.
    device : torch.device
    dtype : torch.dtype
    batch_size : int or None
        Rows per chunk. ``None`` or a value >= n_samples moves the whole
        block to the device once and keeps it there.
    """

    def __init__(self, X, y, w, device, dtype, batch_size=None):
        self.n_samples, self.n_features = X.shape
        self.device = device
        self.dtype = dtype
        self.targets = np.asarray(y, dtype=np.float64)
        self.weights = np.asarray(w, dtype=np.float64)
        self.weight_sum = float(np.sum(self.weights))
        if batch_size is None or batch_size >= self.n_samples:
            self.batch_size = max(self.n_samples, 1)
            self._resident = tuple(self._to_device(a) for a in (X, y, w))
            self._host = None
            # resident rows are still served in blocks (views, no copy), so that
            # per-chunk temporaries (features, Gram products) stay small; a
            # batch_size given (an SGD mini-batch) is served as it is
            self._block = (block_rows(max(self.n_features, RESIDENT_MIN_COLUMNS),
                                      RESIDENT_MIN_ROWS)
                           if batch_size is None else self.batch_size)
        else:
            self.batch_size = int(batch_size)
            self._resident = None
            # zero-copy views; chunks are copied to the device on demand
            self._host = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (X, y, w))

    def _to_device(self, a):
        return torch.as_tensor(np.ascontiguousarray(a)).to(self.device, self.dtype)

    def map(self, fn, *rows):
        """``[fn(X_c, y_c, w_c, *rows_c)]`` over the row chunks, in order.

        Each of ``rows`` is per-row data cut like the rows (an ndarray or
        tensor of ``n_samples`` rows; floating NumPy arrays are moved to the
        device in the samples' dtype) or a list with one entry per chunk (an
        earlier :meth:`map`'s result).
        """
        return list(self._results(fn, rows))

    def reduce(self, fn, *rows):
        """The sum over chunks of ``fn(X_c, y_c, w_c, *rows_c)`` (see :meth:`map`).

        ``fn`` returns a tensor, a float or a tuple of them (summed entry by
        entry); the partial sums are added as they come, so only one is held.
        """
        total = None
        for part in self._results(fn, rows):
            total = add(total, part)
        return total

    # The passes the refinement and stage 1 repeat, named so that DaskSamples
    # can fold the standardization into their small matrices.
    def project(self, V):
        """``[X_c V]`` over the chunks."""
        return self.map(lambda Xc, yc, wc: project(Xc, V))

    def back_project(self, M):
        """``sum_c X_c^T M_c`` for per-row (or per-chunk) ``M`` of shape (n, k)."""
        return self.reduce(lambda Xc, yc, wc, Mc: back_project(Xc, Mc), M)

    def gram(self):
        """``sum_i w_i y_i x_i x_i^T`` (the targets as per-sample scores).

        On the CPU in float64 every chunk's rows are added into one
        accumulator by BLAS (:func:`weighted_gram`'s ``total``), symmetrized
        once at the end.
        """
        if self.device.type != "cpu" or self.dtype != torch.float64:
            return self.reduce(lambda Xc, sc, wc: weighted_gram(Xc, wc * sc))
        total = _zero_upper(self.n_features)
        for Xc, sc, wc in self:
            weighted_gram(Xc, wc * sc, total=total, finish=False)
        return torch.from_numpy(symmetrize_(total, from_upper=True))

    def gram_product(self, V):
        """``sum_i w_i y_i x_i x_i^T V``, without the ``d x d`` matrix."""
        return self.reduce(
            lambda Xc, sc, wc: back_project(Xc, (wc * sc)[:, None] * project(Xc, V)))

    def chunk_targets(self):
        """``[(y_c, w_c)]`` tensors on the device, cut like the chunks (no pass over ``X``)."""
        if self._resident is not None:
            _, y, w = self._resident
            step = min(self._block, self.n_samples)
            return [(y[a:a + step], w[a:a + step]) for a in range(0, self.n_samples, step)]
        _, y, w = self._host
        step = self.batch_size
        return [(y[a:a + step].to(self.device, self.dtype), w[a:a + step].to(self.device, self.dtype))
                for a in range(0, self.n_samples, step)]

    def _results(self, fn, rows):
        start = 0
        for index, (Xc, yc, wc) in enumerate(self):
            stop = start + Xc.shape[0]
            yield fn(Xc, yc, wc, *(_cut(a, start, stop, index, self.device, self.dtype)
                                   for a in rows))
            start = stop


    def __iter__(self):
        """Yield ``(X_chunk, y_chunk, w_chunk)`` tensors on the device."""
        if self._resident is not None:
            if self._block >= self.n_samples:
                yield self._resident
                return
            X, y, w = self._resident
            for start in range(0, self.n_samples, self._block):
                stop = start + self._block
                yield X[start:stop], y[start:stop], w[start:stop]
            return
        X, y, w = self._host
        for start in range(0, self.n_samples, self.batch_size):
            stop = start + self.batch_size
            yield tuple(
                a[start:stop].to(self.device, self.dtype, non_blocking=True)
                for a in (X, y, w)
            )

    def with_targets(self, y):
        """Same rows and weights, other targets (shares the stored X)."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.targets = np.asarray(y, dtype=np.float64)
        if self._resident is not None:
            X, _, w = self._resident
            other._resident = (X, self._to_device(y), w)
        elif self._host is not None:
            X, _, w = self._host
            other._host = (X, torch.from_numpy(np.ascontiguousarray(y)), w)
        return other


def _cut(a, start, stop, index, device, dtype):
    """Rows ``start:stop`` of the per-row ``a`` (chunk ``index`` of a per-chunk list)."""
    if isinstance(a, list):
        return a[index]
    if isinstance(a, np.ndarray):
        part = torch.as_tensor(np.ascontiguousarray(a[start:stop]))
        return part.to(device, dtype) if part.is_floating_point() else part.to(device)
    return a[start:stop]


def _to_host(value):
    """A task's result with its tensors on the CPU (what travels back to the client)."""
    if isinstance(value, tuple):
        return tuple(_to_host(v) for v in value)
    if isinstance(value, list):
        return [_to_host(v) for v in value]
    return value.cpu() if isinstance(value, torch.Tensor) else value


def _to_device(value, device):
    if isinstance(value, tuple):
        return tuple(_to_device(v, device) for v in value)
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _tensor(a, dtype):
    t = torch.as_tensor(np.ascontiguousarray(a))
    return t.to(dtype) if t.is_floating_point() else t


def _chunk_task(fn, dtype, standardize, X, local, y, w, *rows):
    """One chunk's ``fn`` where the chunk is (a Dask task): NumPy block in, CPU tensors out."""
    X = np.asarray(X) if local is None else np.asarray(X)[local]
    return _to_host(fn(_tensor(standardize(X), dtype), _tensor(y, dtype), _tensor(w, dtype),
                       *(_tensor(a, dtype) if isinstance(a, np.ndarray) else a for a in rows)))


# The folded passes multiply the raw rows and subtract the offset's share
# afterwards (X V - 1 m^T V), which loses about |m| / s ulps to cancellation;
# columns whose mean is more than this many standard deviations from zero are
# centred explicitly first (a copy of the chunk).
FOLD_MAX_OFFSET = 1e3


def _raw(X, offset, center, dtype):
    """The chunk as a tensor: centred (``center``) or raw."""
    X = np.asarray(X, dtype=np.float64)
    return _tensor(X - offset if center else X, dtype)


def _at_rows(M, local, n_rows):
    """Per-row values of a part's rows spread over all ``n_rows`` rows of the block (zeros)."""
    if local is None:
        return M
    full = torch.zeros((n_rows,) + tuple(M.shape[1:]), dtype=M.dtype)
    full[torch.as_tensor(local)] = M
    return full


def _project_task(P, mP, dtype, center, offset, X, local):
    Y = project(_raw(X, offset, center, dtype), P)
    if not center:
        Y = Y - mP
    return Y if local is None else Y[torch.as_tensor(local)]


def _back_project_task(dtype, center, offset, X, local, M):
    Xt = _raw(X, offset, center, dtype)
    M = _at_rows(M, local, Xt.shape[0])
    out = back_project(Xt, M)
    if not center:
        out = out - _tensor(offset, dtype)[:, None] * M.sum(dim=0)[None, :]
    return out


def _gram_task(dtype, factor, offset, X, local, s, w):
    # the chunk centred and scaled (a copy, n d beside the product's n d^2): the
    # squares of raw columns in units beyond about 1e154 (or below 1e-154)
    # overflow (or lose their digits to subnormals) before the scaling
    Xt = _tensor((np.asarray(X, dtype=np.float64) - offset) * factor, dtype)
    v = _at_rows(_tensor(w * s, dtype), local, Xt.shape[0])
    return weighted_gram(Xt, v)


def _gram_product_task(P, mP, dtype, center, offset, X, local, s, w):
    Xt = _raw(X, offset, center, dtype)
    v = _at_rows(_tensor(w * s, dtype), local, Xt.shape[0])
    N = project(Xt, P)
    if not center:
        N = N - mP
    N = v[:, None] * N
    out = back_project(Xt, N)
    if not center:
        out = out - _tensor(offset, dtype)[:, None] * N.sum(dim=0)[None, :]
    return out


class DaskSamples(Samples):
    """Rows ``(X, y, w)`` with ``X`` a ``dask.array.Array``: every pass a Dask computation.

    ``X`` (rows of the part, any row chunks, one column chunk) is never
    computed as a whole: :meth:`map` and :meth:`reduce` run the function on
    each chunk as a task of the Dask scheduler in use (a ``dask.distributed``
    client when one is active), on the CPU of wherever the chunk is, and
    return the per-chunk results (:meth:`reduce`: summed in a tree of tasks,
    :func:`._stats.compute_sum`) to ``device``. ``y`` and ``w`` are NumPy
    (``n_samples`` values on the client, cut with the chunks).
    """

    def __init__(self, X, y, w, device, dtype):
        X = lazy_rows(X)
        self.n_samples, self.n_features = X.shape
        self.device = device
        self.dtype = dtype
        self.targets = np.asarray(y, dtype=np.float64)
        self.weights = np.asarray(w, dtype=np.float64)
        self.weight_sum = float(np.sum(self.weights))
        self._rows = X
        # the blocks' graph is built (and optimized) once, not in every pass
        self._chunks = row_chunks(X)
        self.batch_size = int(max(np.diff(self._chunks[1]), default=1))
        self._resident = self._host = None
        self._offset = np.asarray(X.offset, dtype=np.float64)
        self._center = bool(np.max(np.abs(self._offset * X.factor), initial=0.0)
                            > FOLD_MAX_OFFSET)
        self._scale = np.asarray(X.factor, dtype=np.float64)
        self._factor = torch.as_tensor(self._scale).to(device, dtype)
        self._matrix = (None if X.matrix is None else
                        torch.as_tensor(X.matrix, dtype=torch.float64).to(device, dtype))

    def __iter__(self):
        raise TypeError(
            "the samples are a dask array: passes over them run blockwise through "
            "Samples.map / Samples.reduce, not by iterating over the rows on the client")

    def _delayed(self, *values):
        import dask

        # one node of the graph each, shipped once to every worker that needs it
        return tuple(dask.delayed(v, traverse=False) for v in values)

    def _tasks(self, fn, rows):
        # a per-chunk list (of tensors) is cut again from its concatenation
        rows = [a if isinstance(a, np.ndarray) else
                (torch.cat(a) if isinstance(a, list) else a).cpu() for a in rows]
        fn, standardize = self._delayed(fn, self._rows.transform)
        return chunk_tasks(self._chunks, _chunk_task, [self.targets, self.weights, *rows],
                           lead=(fn, self.dtype, standardize))

    def map(self, fn, *rows):
        return self._gather(self._tasks(fn, rows))

    def reduce(self, fn, *rows):
        return _to_device(compute_sum(self._tasks(fn, rows)), self.device)

    def _gather(self, tasks):
        import dask

        return [_to_device(r, self.device) for r in dask.compute(*tasks, optimize_graph=False)]

    # Z = ((X - offset) * factor) @ matrix: Z V = (X - offset) (F M V) and
    # Z^T N = M^T F (X - offset)^T N, so a pass costs n d k, not the n d^2 of
    # standardizing (whitening) every row again
    def _right(self, V):
        P = V if self._matrix is None else self._matrix @ V
        return self._factor[:, None] * P

    def _left(self, G):
        G = self._factor[:, None] * G
        return G if self._matrix is None else self._matrix.T @ G

    def _folded(self, task, rows=(), V=None):
        """``task`` on every chunk with the folded standardization; ``V``: right factor."""
        lead = (self.dtype, self._center, self._offset)
        if V is not None:
            P = self._right(V).cpu()
            mP = (torch.as_tensor(self._offset).to(P) @ P)[None, :]
            lead = self._delayed(P, mP) + lead
        return chunk_tasks(self._chunks, task, rows, lead=lead)

    def project(self, V):
        return self._gather(self._folded(_project_task, V=V))

    def back_project(self, M):
        M = (torch.cat(M) if isinstance(M, list) else M).cpu()
        total = compute_sum(self._folded(_back_project_task, [M]))
        return self._left(total.to(self.device))

    def gram(self):
        tasks = chunk_tasks(self._chunks, _gram_task, [self.targets, self.weights],
                            lead=(self.dtype, self._scale, self._offset))
        total = compute_sum(tasks).to(self.device)
        if self._matrix is None:
            return total
        return self._matrix.T @ (self._matrix.T @ total).T

    def gram_product(self, V):
        total = compute_sum(self._folded(_gram_product_task, [self.targets, self.weights], V=V))
        return self._left(total.to(self.device))

    def chunk_targets(self):
        bounds = self._chunks[1]
        return [(self._to_device(self.targets[a:b]), self._to_device(self.weights[a:b]))
                for a, b in zip(bounds[:-1], bounds[1:])]


def samples_of(X, y, w, device, dtype, batch_size=None):
    """:class:`DaskSamples` for a dask array ``X`` (or its :class:`StandardizedRows`), else
    :class:`Samples`."""
    if is_lazy(X):
        return DaskSamples(X, y, w, device, dtype)
    return Samples(X, y, w, device, dtype, batch_size)


# Thin products on the CPU: up to this many columns through torch's transposed
# layout, beyond it through NumPy's BLAS (see project and back_project), except
# where torch's MKL runs on an Intel processor (_intel_mkl)
TORCH_PROJECT_MAX_COLUMNS = 3
TORCH_BACK_PROJECT_MAX_COLUMNS = 3


@functools.lru_cache(maxsize=None)
def _intel_mkl():
    """Whether torch's CPU BLAS is Intel's MKL on an Intel processor (read once per process).

    The fastest layout of a thin product depends on the BLAS and the
    processor it runs on, and the two libraries at hand disagree from one
    processor to the other. On an AMD EPYC host, where MKL does not take its
    fastest code paths, the product with a row-major ``d x k`` ``V`` was 3-4
    times slower than with ``V`` laid out as the transpose of a contiguous
    ``k x d`` matrix for ``k <= 3``, and NumPy's OpenBLAS was the fastest
    beyond (the figures in :func:`project` and :func:`back_project`). On an
    Intel Xeon with AVX-512 (torch's CPU capability ``AVX512``), NumPy's
    product was the slowest at every ``k`` and torch's plain ``X @ V`` the
    fastest beyond ``k = 3``; up to ``k = 3``, the transpose of ``V^T X^T``
    (d = 1024, 16,384 rows in chunks of 2048, one thread, k = 2: 8.3 ms,
    against 11.2 for ``X @ V``, 14.8 with the transposed ``V`` and 20.1
    through NumPy; k = 11: ``X @ V`` 13.5 ms, NumPy 31.9). The product is
    the same up to rounding either way; the choice is fixed per machine, so
    fits on one machine are reproducible.
    """
    if not torch.backends.mkl.is_available():
        return False
    try:
        with open("/proc/cpuinfo") as info:
            vendor = next((line for line in info if line.startswith("vendor_id")), "")
    except OSError:
        vendor = platform.processor()  # Windows: "... GenuineIntel"
    return "GenuineIntel" in vendor


def _numpy_operands(*tensors):
    """Whether ``tensors`` can be multiplied as NumPy arrays (CPU, float, no autograd)."""
    return all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)
               and not t.requires_grad for t in tensors) and tensors[0].dtype == tensors[1].dtype


def project(X, V):
    """``X @ V`` for a tall ``X`` and a thin ``V`` (``d x k``).

    Where torch's MKL runs on an Intel processor, through the layout it runs
    fastest there (:func:`_intel_mkl`). Elsewhere (measured on an AMD EPYC host),
    multiplying by a ``V`` laid out as the transpose of a contiguous
    ``k x d`` matrix takes BLAS's fast path: on one CPU thread it was 3-4
    times faster than the product with a row-major ``d x k`` ``V`` for
    ``k <= 3``. For more columns that path slows down about in proportion
    to ``k`` while NumPy's product stays close to the cost of reading ``X``
    (d = 1024, 13,107 rows, one thread: 8 columns 10.9 ms against 19.4 ms,
    128 columns 68 ms against 89 ms; 2 columns 9.4 ms against 6.6 ms), so
    wider ``V`` go through NumPy.
    """
    if X.device.type == "cpu" and _intel_mkl():
        if V.shape[1] <= TORCH_PROJECT_MAX_COLUMNS:
            # the product written as the transpose of a k x n one: MKL's
            # fastest for so few columns (k = 2: 8.3 ms against 11.2 ms)
            return (V.T.contiguous() @ X.T).T
        return X @ V
    if V.shape[1] > TORCH_PROJECT_MAX_COLUMNS and _numpy_operands(X, V):
        return torch.from_numpy(X.numpy() @ V.numpy())
    return X @ V.T.contiguous().T


def self_gram(B):
    """``B^T B``: on the CPU through NumPy's symmetric rank-k product (see :func:`weighted_gram`)."""
    if B.device.type != "cpu" or B.dtype not in (torch.float32, torch.float64) or B.requires_grad:
        return B.T @ B
    A = B.numpy()
    return torch.from_numpy(A.T @ A)


def _host_float64(X, v):
    """Whether :func:`weighted_gram` takes its BLAS path (CPU, float64, no autograd)."""
    return (X.device.type == "cpu" and X.dtype == torch.float64 and not X.requires_grad
            and not v.requires_grad)


def _zero_upper(d):
    """A zero ``d x d`` accumulator for :func:`_syrk` (Fortran order: BLAS updates it in place)."""
    return np.zeros((d, d), order="F")


def _syrk(A, alpha, total):
    """``total += alpha A^T A`` on the upper triangle by BLAS ``syrk``, ``A`` not copied.

    ``total`` is a :func:`_zero_upper` accumulator (or one already added
    to); syrk references its upper triangle only, so the lower one stays
    zero. Returns ``total``.
    """
    if A.shape[0] == 0:
        return total
    # A^T is laid out by columns when A is by rows: no copy for the BLAS call
    a, trans = (A, 1) if A.flags.f_contiguous else (np.ascontiguousarray(A).T, 0)
    return blas.dsyrk(alpha, a, beta=1.0, c=total, trans=trans, overwrite_c=1)


def symmetrize_(A, from_upper=False):
    """Make the square NumPy ``A`` symmetric in place: ``(A + A^T) / 2``, or with
    ``from_upper`` its upper triangle mirrored (the lower one ignored).

    A band of ``SYMMETRIC_BAND`` columns at a time: no second ``d x d``
    array (32 MB at d = 2048). Returns ``A``.
    """
    d = A.shape[0]
    for start in range(0, d, SYMMETRIC_BAND):
        stop = min(start + SYMMETRIC_BAND, d)
        D = A[start:stop, start:stop]
        if from_upper:
            D[...] = np.triu(D) + np.triu(D, 1).T
            A[stop:, start:stop] = A[start:stop, stop:].T
        else:
            D[...] = 0.5 * (D + D.T)
            below = 0.5 * (A[stop:, start:stop] + A[start:stop, stop:].T)
            A[stop:, start:stop] = below
            A[start:stop, stop:] = below.T
    return A


# columns per band of symmetrize_
SYMMETRIC_BAND = 256


def weighted_gram(X, v, total=None, finish=True):
    """``X^T diag(v) X`` (symmetric) for a tall ``X`` and per-row weights ``v`` of any sign.

    On the CPU in float64, as ``A^T A - B^T B`` with ``A`` (``B``) the rows
    of positive (negative) ``v`` scaled by ``sqrt(|v|)``, each by BLAS's
    symmetric rank-k update (``syrk``), which does half the work of the
    general product torch uses for ``X^T (v X)`` (d = 1024, 8192 rows, one
    thread: 0.17 s against 0.34 s), added into one upper triangle:
    ``total`` (a :func:`_zero_upper` accumulator, or one from an earlier
    call with ``finish=False``: the chunks of a pass accumulate in place) or
    a new one. ``finish=False`` returns that
    triangle (NumPy, Fortran order), otherwise the symmetric tensor. (NumPy's
    ``A.T @ A`` takes the same ``syrk`` but then mirrors the triangle and
    allocates a result per call: d = 1024, 2048 rows, one thread, 55 ms per
    chunk against 39 ms.) Elsewhere (a GPU) the general product, and in
    float32 too: there the two sums of one sign each, subtracted, lose
    digits the mixed sum keeps (uncentred columns of a dask chunk: relative
    error 5e-2 against 8e-3); ``total`` and ``finish`` apply to the BLAS
    path only. Rows of zero weight are skipped on both paths (a product over
    the others).
    """
    if not _host_float64(X, v):
        rows = v != 0
        if not bool(rows.all()):  # rows of zero weight add nothing
            X, v = X[rows], v[rows]
        return X.T @ (v[:, None] * X)
    Xn, vn = X.numpy(), v.to(X.dtype).numpy()
    if total is None:
        total = _zero_upper(Xn.shape[1])
    for rows, sign in ((vn > 0, 1.0), (vn < 0, -1.0)):
        if rows.all():
            A = Xn * np.sqrt(np.abs(vn))[:, None]
        elif rows.any():
            # the selection is a copy: scaled in place (one temporary fewer)
            A = Xn[rows]
            A *= np.sqrt(np.abs(vn[rows]))[:, None]
        else:
            continue
        _syrk(A, sign, total)
    return torch.from_numpy(symmetrize_(total, from_upper=True)) if finish else total


def back_project(X, M):
    """``X^T @ M`` for a tall ``X`` and thin ``M`` (``n x k``), as ``(M^T X)^T``.

    The same product through the transposed layout was up to 8 times faster
    on one CPU thread than ``X.T @ M``. Where torch's MKL does not run on an
    Intel processor (:func:`_intel_mkl`; measured on an AMD EPYC host),
    beyond ``k = 3`` columns NumPy's ``X^T M`` was faster still (d = 1024,
    13,107 rows: 8 columns 10.7 ms against 13.1 ms), as in :func:`project`;
    on an Intel Xeon it was the slowest (d = 1024, 16,384 rows in chunks of
    2048, one thread, k = 11: 41.9 ms against 25.4 ms).
    """
    if (M.shape[1] > TORCH_BACK_PROJECT_MAX_COLUMNS and _numpy_operands(X, M)
            and not _intel_mkl()):
        return torch.from_numpy(X.numpy().T @ M.numpy())
    return (M.T @ X).T
