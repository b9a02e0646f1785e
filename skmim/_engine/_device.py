"""Device and dtype resolution for the torch engine."""

import contextlib
import functools
import sys

import torch
from threadpoolctl import ThreadpoolController

_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
}


def _mps_available():
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def resolve_device(device):
    """Return a ``torch.device`` for ``device``.

    ``"auto"`` picks CUDA, then MPS, then the CPU. An explicit accelerator that
    is not available raises ``ValueError`` naming it (no silent fallback).
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device.") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on "
                "this machine; use device='cpu' or device='auto'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) are visible."
            )
    elif dev.type == "mps":
        if not _mps_available():
            raise ValueError(
                f"device={device!r} was requested but MPS is not available on "
                "this machine; use device='cpu' or device='auto'."
            )
    elif dev.type != "cpu":
        raise ValueError(
            f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda' or 'mps'."
        )
    return dev


def resolve_dtype(dtype, device):
    """Return the torch floating dtype for ``dtype`` on ``device``.

    ``"auto"`` is float64 on the CPU (exact, and the default for conformance)
    and float32 on accelerators (their fast path; MPS has no float64).
    """
    if dtype is None or dtype == "auto":
        return torch.float64 if device.type == "cpu" else torch.float32
    if isinstance(dtype, torch.dtype):
        key = str(dtype).replace("torch.", "")
    else:
        key = getattr(dtype, "__name__", None) or str(dtype)
    if key not in _DTYPES:
        raise ValueError(
            f"dtype={dtype!r} is not supported; use 'auto', 'float32' or 'float64'."
        )
    out = _DTYPES[key]
    if device.type == "mps" and out == torch.float64:
        raise ValueError("dtype='float64' is not supported on MPS; use 'float32'.")
    return out


# n_threads="auto": one thread below this much work per pass (n d^2
# multiply-adds), the process's torch setting above. Measured on a 2-core
# machine (idle, default fit of h2+h2, n = 16 d): at d = 256 (n d^2 = 2.7e8)
# one thread took 0.23 s and two 0.29 s (idle threads spin between the small
# kernels); at d = 1024 (1.7e10) one took 4.6 s and two 3.3 s on an AMD EPYC
# host. The threads go to one of torch's and NumPy's pools (cpu_threads).
AUTO_THREADS_WORK = 2e9

# Solvers whose largest kernels are torch's (the network's forward and
# backward passes): cpu_threads gives them the threads, NumPy's BLAS one.
# (solver="sgd", d = 512, n = 16 d, 2-core Intel Xeon: 2.5 s with two torch
# threads and one BLAS thread, 3.9-4.1 s the other way round; the default
# solver's Gram products run in BLAS, see cpu_threads.)
TORCH_BOUND_SOLVERS = ("sgd",)


def _blas_controller():
    """A ``threadpoolctl.ThreadpoolController`` of the process's thread pools, kept between fits.

    Finding the pools scans every loaded shared library (3.6 ms here with
    torch loaded, 4 % of a fit on a 400-row table); a library is loaded by
    importing an extension module, so the controller is rebuilt only when
    the number of imported modules has changed since it was made.
    """
    return _controller_for(len(sys.modules))


@functools.lru_cache(maxsize=1)
def _controller_for(n_modules):
    return ThreadpoolController()


@contextlib.contextmanager
def cpu_threads(setting, n_samples, n_features, solver=None):
    """Run the block with the CPU threads that ``setting`` asks for, then restore.

    ``setting`` is an int, ``"auto"`` (one thread for fits below
    ``AUTO_THREADS_WORK``, else the process's current torch setting, which
    ``OMP_NUM_THREADS`` and joblib's workers already limit) or None (the
    process's settings, untouched). With an int or ``"auto"`` that many
    threads go to the pool that runs ``solver``'s largest kernels
    (``TORCH_BOUND_SOLVERS``: torch's; the others: NumPy's BLAS through
    ``threadpoolctl``, the symmetric Gram products on the CPU,
    :func:`._data.weighted_gram`) and the other pool runs on one. Two pools
    of that many threads each oversubscribe the cores: torch's OpenMP
    threads spin-wait after every operation, on the cores BLAS's threads
    then need. Measured on an idle 2-core Intel Xeon, h2+h2, n = 16 d, wall
    clock: the default solver at d = 1024, 3.6-4.4 s with one thread in
    both, 5.4-5.5 s with two in both, 3.6-3.7 s with two in either one
    alone; at d = 2048, 25.1 s one in both, 23.5 s two in both, 23.6 s two
    in torch alone and 18.0 s two in BLAS alone. The counts are
    process-wide: fits running concurrently in threads of one process share
    them. Yields the thread count of the pool that gets them.
    """
    before = torch.get_num_threads()
    if setting is None:
        yield before
        return
    if setting == "auto":
        wanted = 1 if n_samples * n_features ** 2 < AUTO_THREADS_WORK else before
    else:
        wanted = int(setting)
    on_torch = solver in TORCH_BOUND_SOLVERS
    torch_count = wanted if on_torch else 1
    with _blas_controller().limit(limits=1 if on_torch else wanted, user_api="blas"):
        if torch_count == before:
            yield wanted
            return
        torch.set_num_threads(torch_count)
        try:
            yield wanted
        finally:
            torch.set_num_threads(before)


def without_autograd(solver):
    """``torch.inference_mode()`` for a fit by ``solver``, or a null context for ``"sgd"``.

    Every solver but ``"sgd"`` (whose step takes the network's gradient by
    autograd) computes its gradients by hand, so nothing needs autograd's
    bookkeeping; without it each torch operation costs less, which counts
    on small tables, where a step is many small operations (CPU time of the
    real-data benchmark's fold-0 fits, one thread, the smallest of five
    alternating runs: diabetes 0.084 -> 0.072 s, ISLR Carseats 0.175 ->
    0.149 s, ISLR Hitters 0.323 -> 0.280 s, ISLR Wage 0.501 -> 0.460 s,
    AER CollegeDistance 0.368 -> 0.351 s). Tensors made inside cannot be
    updated in place outside it; a fit returns NumPy arrays.
    """
    return contextlib.nullcontext() if solver == "sgd" else torch.inference_mode()
