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

import numpy as np
import torch

from ._stats import (
    add,
    block_rows,
    chunk_tasks,
    compute_sum,
    is_dask_array,
    one_column_chunk,
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


def _chunk_task(fn, dtype, X, y, w, *rows):
    """One chunk's ``fn`` where the chunk is (a Dask task): NumPy block in, CPU tensors out."""
    def tensor(a):
        t = torch.as_tensor(np.ascontiguousarray(a))
        return t.to(dtype) if t.is_floating_point() else t

    return _to_host(fn(tensor(X), tensor(y), tensor(w), *(
        tensor(a) if isinstance(a, np.ndarray) else a for a in rows)))


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
        self.n_samples, self.n_features = X.shape
        self.device = device
        self.dtype = dtype
        self.targets = np.asarray(y, dtype=np.float64)
        self.weights = np.asarray(w, dtype=np.float64)
        self.weight_sum = float(np.sum(self.weights))
        X = one_column_chunk(X)
        # the blocks' graph is built (and optimized) once, not in every pass
        self._chunks = row_chunks(X)
        self.batch_size = int(max(X.chunks[0])) if X.chunks[0] else 1
        self._resident = self._host = None

    def __iter__(self):
        raise TypeError(
            "the samples are a dask array: passes over them run blockwise through "
            "Samples.map / Samples.reduce, not by iterating over the rows on the client")

    def _tasks(self, fn, rows):
        import dask

        # a per-chunk list (of tensors) is cut again from its concatenation
        rows = [a if isinstance(a, np.ndarray) else
                (torch.cat(a) if isinstance(a, list) else a).cpu() for a in rows]
        # fn is one node of the graph, shipped once to each worker that needs it
        return chunk_tasks(self._chunks, _chunk_task, [self.targets, self.weights, *rows],
                           lead=(dask.delayed(fn, traverse=False), self.dtype))

    def map(self, fn, *rows):
        import dask

        return [_to_device(r, self.device)
                for r in dask.compute(*self._tasks(fn, rows), optimize_graph=False)]

    def reduce(self, fn, *rows):
        return _to_device(compute_sum(self._tasks(fn, rows)), self.device)


def samples_of(X, y, w, device, dtype, batch_size=None):
    """:class:`DaskSamples` for a dask array ``X``, else :class:`Samples`."""
    if is_dask_array(X):
        return DaskSamples(X, y, w, device, dtype)
    return Samples(X, y, w, device, dtype, batch_size)


def project(X, V):
    """``X @ V`` for a tall ``X`` and a thin ``V`` (``d x k``).

    Multiplying by a ``V`` laid out as the transpose of a contiguous
    ``k x d`` matrix takes BLAS's fast path: on one CPU thread it was 3-4
    times faster than the product with a row-major ``d x k`` ``V``.
    """
    return X @ V.T.contiguous().T


def back_project(X, M):
    """``X^T @ M`` for a tall ``X`` and thin ``M`` (``n x k``), as ``(M^T X)^T``.

    The same product through the transposed layout was up to 8 times faster
    on one CPU thread than ``X.T @ M``.
    """
    return (M.T @ X).T
