"""NumPy-in, NumPy-out entry points of the torch engine.

The estimators call these functions with arrays, a device and a dtype; the
tensors never leave this package. Results are returned as float64 NumPy
arrays on the host, so a model trained on a GPU pickles and loads anywhere.
The solvers are separate modules (``_solver_refined``, ``_solver_grassmann``,
``_solver_sgd``, ``_solver_layerwise``, sharing :mod:`._common`); this one
chooses and runs them.
"""

import warnings

import numpy as np
import torch

from ._common import SubspaceFit, _spectral_estimate, device_info
from ._data import samples_of
from ._device import cpu_threads, without_autograd
from ._layerwise import finished_records
from ._losses import Stage1Loss
from ._solver_grassmann import _fit_grassmann
from ._solver_layerwise import _fit_layerwise
from ._solver_refined import _fit_refined
from ._solver_sgd import _fit_sgd

# the engine's torch entry points (skmim._engine.__getattr__) and the classifier
__all__ = ["SubspaceFit", "device_info", "fit_network", "spectral_subspace"]


def fit_network(parts, **kwargs):
    """Train a multi-index network with one of the solvers (see :func:`_fit_network`).

    Numerical failures of torch (an eigendecomposition that does not
    converge) and non-finite results become a ``ValueError`` that names
    them; no torch warning reaches the caller. ``n_threads`` (see
    :func:`._device.cpu_threads`) sets the CPU threads for the fit.
    """
    with warnings.catch_warnings():
        # read-only NumPy inputs (a pandas 3 Series) are copied on their way to the device
        warnings.filterwarnings("ignore", message=".*non-writable.*", category=UserWarning)
        if parts.get("all") is not None:
            n, d = parts["all"][0].shape
        else:
            d = parts["stage1"][0].shape[1]
            n = sum(parts[key][0].shape[0] for key in ("stage1", "stage2")
                    if parts.get(key) is not None)
        solver = kwargs.get("solver", "refined")
        try:
            with cpu_threads(kwargs.pop("n_threads", None), n, d, solver), \
                    without_autograd(solver):
                fit = _fit_network(parts, **kwargs)
        except torch.linalg.LinAlgError as exc:
            raise ValueError(
                f"training failed numerically ({exc}). The data are standardized before "
                "training, so this points at an ill-posed problem: check X for "
                "near-duplicate columns, or use dtype='float64'."
            ) from exc
    arrays = [fit.subspace, fit.directions, fit.biases, fit.coef]
    if not all(a is None or np.all(np.isfinite(a)) for a in arrays) or not np.isfinite(
            fit.intercept):
        raise ValueError(
            f"training diverged (solver={kwargs.get('solver', 'refined')!r}): the fitted "
            "weights are not finite. With solver='sgd' lower sgd_learning_rate; otherwise "
            "use dtype='float64'."
        )
    return fit


def _fit_network(parts, *, solver="refined", losses=("huber",), device="cpu", dtype="auto",
                 batch_size=None, seed=0, callback=None, row_keys=None, **cfg):
    """Train a multi-index network with one of the solvers.

    Parameters
    ----------
    parts : dict
        NumPy triples ``(X, y, w)`` keyed by role: ``"stage1"`` (first-layer
        training), ``"stage2"`` (outer layer of the layer-wise solver, or None),
        ``"train"`` / ``"valid"`` (refinement and its stopping rule),
        ``"final"`` (outer layer after a refinement, or None) and ``"all"``
        (every sample: the "refined" solver's stage-1 estimate when no
        refinement predicts ``valid`` better than the mean, or None); and
        optionally ``"all_gram"``, a pair ``(G, T)`` of NumPy arrays with
        ``T^T G T`` the weighted Gram matrix ``sum_i w_i x_i x_i^T`` of
        ``"all"``'s rows (the estimator's whitening pass computed it), which
        spares the linear model of ``n_components="auto"`` its pass over the
        training rows.
    solver : {"refined", "layerwise", "grassmann", "sgd"}
        ``"layerwise"`` is the published algorithm (stage 1 on ``stage1``,
        stage 2 on ``stage2``); ``"refined"`` follows stage 1 by two-timescale
        Grassmannian descent; ``"grassmann"`` starts that descent at random;
        ``"sgd"`` is one pass of online SGD with weight decay on ``stage1``,
        then the ridge outer layer on ``stage2``.
    losses : tuple of str
        Candidate stage-1 losses. With several: "refined" runs stage 1 and the
        refinement from each and keeps the smallest held-out loss; "layerwise"
        keeps the one with the strongest spectral signal relative to its noise
        edge (:func:`select_loss`) and runs stage 1 with that one only.
        ``SubspaceFit.selection`` holds the scores.
    row_keys : ndarray of float, optional
        A random key per row of ``parts["all"]``, equal for copies of a row
        (the estimator's content hash): sorted, they order the rows for the
        null of the "refined" solver's fallback (:func:`_null_scores`). None:
        the given order.
    **cfg
        Hyper-parameters (``width``, ``n_steps``, ``learning_rate``,
        ``weight_decay``, ``init_scale``, ``huber_delta``, ``n_components``,
        ``max_components``, ``stage2_directions``, ``activation``,
        ``bias_scale``, ``alpha``, ``degree``, ``max_iter``, ``patience``,
        ``n_init``: random starts of the "grassmann" solver, the best on the
        held-out samples kept), ``first_order`` and ``learned`` (the
        "refined" solver's sliced-inverse-regression and learned-transform
        starts, :func:`_fit_refined`), ``start`` (warm start of "refined" and
        "grassmann": a (d, k) subspace the refinement continues from, stage 1
        skipped; ``start_loss`` names it).

    Returns
    -------
    SubspaceFit
    """
    dev, dt = device_info(device, dtype)

    cache = {}

    def samples(key):
        """The part ``key`` on the device (parts given twice are moved once)."""
        if parts.get(key) is None:
            return None
        if id(parts[key]) not in cache:
            cache[id(parts[key])] = samples_of(*parts[key], dev, dt, batch_size)
        return cache[id(parts[key])]

    if solver == "sgd":
        return _fit_sgd(parts, dict(cfg, batch_size=batch_size), dev, dt, seed, callback, row_keys)
    start = cfg.get("start")
    if solver == "grassmann" or start is not None:
        # random starts, or a warm start: the refinement continues from the previous subspace
        starts = None if start is None else [torch.as_tensor(np.asarray(start, np.float64))]
        return _fit_grassmann(samples("train"), samples("valid"), samples("final"), cfg, seed,
                              callback, starts=starts, loss=cfg.get("start_loss") or "squared",
                              everything=samples("all"))
    s1 = samples("stage1")
    if solver == "refined":
        fit = _fit_refined(s1, samples("train"), samples("valid"), samples("final"),
                           samples("all"), losses, cfg, seed, callback, row_keys,
                           all_gram=parts.get("all_gram"))
        # the stage-1 records of the candidate kept (those of the others are never computed)
        fit.history = finished_records(fit.history)
        return fit
    return _fit_layerwise(s1, samples("stage2"), losses, cfg, seed, callback, dev, dt)


def spectral_subspace(X, y, w, *, loss="huber", huber_delta=1.0, n_components=None,
                      max_components=10, device="cpu", dtype="auto", batch_size=None):
    """Top-|eigenvalue| eigenvectors of the preprocessed second-moment matrix.

    Returns ``(subspace, n_components, eigenvalues, noise_level, degenerate)``.
    """
    dev, dt = device_info(device, dtype)
    w = np.asarray(w, dtype=np.float64)
    lossobj = Stage1Loss(loss, np.asarray(y, dtype=np.float64), w, huber_delta)
    samples = samples_of(X, np.asarray(y, dtype=np.float64), w, dev, dt, batch_size)
    # constant labels: every score is zero, and so is the noise edge
    V, k, vals, level = _spectral_estimate(samples, lossobj, n_components, max_components)
    return V, k, vals, level, lossobj.is_degenerate
