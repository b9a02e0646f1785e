"""NumPy-in, NumPy-out entry points of the torch engine.

The estimators call these functions with arrays, a device and a dtype; the
tensors never leave this package. Results are returned as float64 NumPy
arrays on the host, so a model trained on a GPU pickles and loads anywhere.
"""

import itertools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ._channel import LEARNED_ROUNDS, LEARNED_SETTLED, positive_directions
from ._data import Samples, back_project, samples_of
from ._device import resolve_device, resolve_dtype, torch_threads
from ._grassmann import GrassmannDescent, huber_gains, link_heldout_losses, ordered_by_link
from ._layerwise import (
    DENSE_MAX_FEATURES,
    STAGE1_RECORDS,
    SecondMoment,
    _projection_distance,
    distinct_neurons,
    noise_level,
    power_first_layer,
    ritz_values,
    second_moment_matrix,
    top_right_singular,
    train_first_layer,
)
from ._losses import Stage1Loss, robust_scale
from ._network import subspace_features
from ._ridge import features as neuron_features
from ._ridge import fit_ridge, ridge_from_moments, ridge_gcv
from ._stream import OuterStream, reservoir_keys
from ._sgd import gap_components, init_sgd_network, sgd_pass
from ._null import null_z
from ._sliced import membership_top_eigenvalue, slice_membership, sliced_directions
from ._stats import CONFIRM_Z, NOISE_MARGIN, SOLVERS, count_above_noise, paired_z, sign_flip


def _numpy(t):
    return t.detach().to("cpu", torch.float64).numpy()


def device_info(device, dtype):
    """Resolve ``device`` and ``dtype`` (raises ``ValueError`` if unavailable)."""
    dev = resolve_device(device)
    return dev, resolve_dtype(dtype, dev)


@dataclass
class SubspaceFit:
    loss: str
    subspace: np.ndarray
    n_components: int
    spectrum: np.ndarray
    noise_level: float
    degenerate: bool
    first_layer: np.ndarray = None
    history: dict = field(default_factory=dict)
    directions: np.ndarray = None
    biases: np.ndarray = None
    coef: np.ndarray = None
    intercept: float = 0.0
    alpha: float = None
    gcv: float = None
    selection: dict = field(default_factory=dict)
    refine_history: dict = None
    refine_iter: int = 0
    # steps of the refinement continued on all samples (_polish), and the
    # subspace before them (the training part's estimate: a warm start
    # continues from it, since the held-out part did not shape it)
    polish_iter: int = 0
    unpolished: np.ndarray = None
    refined: bool = False
    # (best held-out loss, held-out loss of the training mean, paired z-score of
    # the difference, see confirmation_z): "refined", "grassmann"
    heldout: tuple = None
    # held-out loss per candidate dimension of that search
    dimension_scores: dict = None
    # linear term of the outer layer (a d-vector acting on x), or None
    linear: np.ndarray = None
    # the kept refinement stopped on max_iter before any stopping rule fired
    hit_max_iter: bool = False
    # the classifier's logistic outer layer met its tolerance (L-BFGS)
    outer_converged: bool = True
    # "sgd": the state of the outer layer's stream (_stream.OuterStream)
    outer_stream: dict = None


def _dimension(spectrum, level, n_components):
    """``n_components``, or for None (``"auto"``) the count above the noise edge (at least 1)."""
    if n_components is None:
        return max(1, count_above_noise(spectrum, level))
    return n_components


def _read_off(W, sigma, loss, n_components, max_components, rows=None):
    """Subspace read-off after stage 1: top singular vectors of ``W``.

    ``sigma`` is the loss's :class:`SecondMoment`; its Ritz values on the
    probe give the spectrum reported and the ``"auto"`` dimension. ``rows``
    (default all) are rows of ``W`` with the same right singular vectors,
    e.g. one neuron of each exactly opposite pair.
    """
    d = W.shape[1]
    scores_samples = sigma.samples
    n = scores_samples.n_samples
    K = max(1, min(max_components, W.shape[0], d, n))
    probe, _ = top_right_singular(W if rows is None else W[:rows], K)
    vals, _ = ritz_values(sigma, probe)
    spectrum = _numpy(vals)
    level = noise_level(loss.sample_scores(), scores_samples.weights, d)
    k = _dimension(spectrum, level, n_components)
    return sign_flip(_numpy(probe[:, :k])), k, spectrum, level


def _stage1(s1, name, cfg, seed, callback, limit=False):
    """Stage 1 with one loss; None when its targets are constant.

    ``limit=True`` runs it in its small-initialization limit
    (:func:`power_first_layer`, the refined solver's start); otherwise the
    network's gradient steps (:func:`train_first_layer`, the published solver).
    """
    loss = Stage1Loss(name, s1.targets, s1.weights, cfg["huber_delta"])
    if loss.is_degenerate:
        return None, None
    gen = torch.Generator().manual_seed(int(seed))
    if callback is not None:
        callback("stage1_start", {"loss": name, "limit": limit})
    lr = cfg["learning_rate"]
    wd = 1.0 / lr if cfg["weight_decay"] is None else cfg["weight_decay"]
    step_callback = None if callback is None else (
        lambda t, rec: callback("stage1_step", rec | {"step": t}))
    scores = s1.with_targets(loss.sample_scores())
    d = s1.n_features
    track = cfg["n_components"] or cfg["max_components"]
    if limit:
        # with paired neurons W = [W_h; +-W_h]: W_h has W's singular vectors
        neurons = distinct_neurons(cfg["width"], lr, wd)
        # the d x d matrix costs n d^2 once; streaming costs 2 n d neurons per step
        dense = d <= min(DENSE_MAX_FEATURES, 2 * cfg["n_steps"] * neurons)
        sigma = SecondMoment(scores, dense=dense)
        r = torch.as_tensor(loss.centered_targets)
        value = float(torch.as_tensor(s1.weights) @ loss(torch.zeros_like(r), r)) / s1.weight_sum
        W, history = power_first_layer(
            sigma, value, width=cfg["width"], n_features=d, n_steps=cfg["n_steps"],
            learning_rate=lr, weight_decay=wd, generator=gen, device=s1.device,
            dtype=s1.dtype, track_components=track, callback=step_callback)
    else:
        W, history = train_first_layer(
            s1.with_targets(loss.centered_targets),
            loss,
            width=cfg["width"],
            n_steps=cfg["n_steps"],
            learning_rate=lr,
            weight_decay=wd,
            init_scale=cfg["init_scale"],
            generator=gen,
            track_components=track,
            callback=step_callback,
        )
        sigma = SecondMoment(scores)
        neurons = None
    subspace, k, spectrum, level = _read_off(W, sigma, loss, cfg["n_components"],
                                             cfg["max_components"], rows=neurons)
    fit = SubspaceFit(loss=name, subspace=subspace, n_components=k, spectrum=spectrum,
                      noise_level=level, degenerate=False, first_layer=_numpy(W), history=history)
    return fit, (W, gen)


def _learned_start(s1, fits, callback):
    """The spectral estimate of the label transform learned through the Huber start.

    ``fits`` maps the candidate losses to their stage-1 fits; the rounds
    (:func:`positive_directions`, ``LEARNED_ROUNDS`` of them) start from
    Huber's (bounded scores), else the first, each estimating the transform
    through the current subspace, until a round moves it by less than
    ``LEARNED_SETTLED`` (at most ``LEARNED_ROUNDS``). Skipped when that
    start's weakest kept Ritz value stands at least ``LEARNED_GATE`` times
    above its noise edge (the losses' own starts see the signal then: at
    d = 256 the Huber start's ratios were 0.9-1.1 at the onset points of
    issue 14 and 1.3-1.6 at ``h2+h2``, n = 16 d and ``h4+h4``, n = 32 d).
    With ``n_components=None`` the Huber start keeps the directions above
    ``NOISE_MARGIN`` (1.25) times the edge, so the learned start runs only
    when none is (its one direction is then the strongest); with a given
    ``n_components`` above what the start sees, it always runs. Returns a
    :class:`SubspaceFit` named ``LEARNED``, or None.
    """
    seed_fit = fits.get("huber", next(iter(fits.values()), None))
    if seed_fit is None or seed_fit.n_components < 1:
        return None
    k = seed_fit.n_components
    ritz = np.abs(np.asarray(seed_fit.spectrum[:k], dtype=float))
    if ritz.size and ritz.min() >= LEARNED_GATE * seed_fit.noise_level > 0:
        return None
    V = torch.as_tensor(seed_fit.subspace).to(s1.device, s1.dtype)
    found, rounds = None, 0
    while rounds < LEARNED_ROUNDS:
        trial = positive_directions(s1, V)
        if trial is None:
            break  # a constant transform: the last round's estimate stands
        found, rounds = trial, rounds + 1
        moved = _projection_distance(V, found[0])
        V = found[0]
        if moved < LEARNED_SETTLED:
            break
    if found is None:
        return None
    _, vals, level = found
    if callback is not None:
        callback("learned_start", {"rounds": rounds, "from": seed_fit.loss})
    return SubspaceFit(loss=LEARNED, subspace=sign_flip(_numpy(V)), n_components=k,
                       spectrum=_numpy(vals), noise_level=level, degenerate=False,
                       history={key: [] for key in STAGE1_RECORDS})


def _descent(train, valid, V0, cfg, callback, tag=None):
    """A :class:`GrassmannDescent` from ``V0`` reporting ``refine_step`` events.

    ``tag`` (a dict) is added to every reported record.
    """
    step_callback = None if callback is None else (
        lambda t, rec: callback("refine_step", rec | {"step": t} | (tag or {})))
    return GrassmannDescent(train, valid, V0, degree=cfg["degree"], max_iter=cfg["max_iter"],
                            patience=cfg["patience"], loss=cfg.get("refine_loss"),
                            callback=step_callback)


def _store_refinement(fit, descent):
    """Put a finished descent's subspace and records in ``fit``."""
    V, _ = descent.result()
    fit.subspace = sign_flip(_numpy(V))
    fit.refine_history = descent.history
    fit.refine_iter = descent.n_iter
    fit.hit_max_iter = descent.hit_max_iter


def _refine(fit, V0, train, valid, cfg, callback, tag=None):
    """Run one descent to its stopping rule; returns its smallest held-out loss and itself.

    ``tag`` (a dict) is added to every step record reported.
    """
    descent = _descent(train, valid, V0, cfg, callback, tag)
    while not descent.step():
        pass
    _store_refinement(fit, descent)
    val = descent.history["val_loss"]
    return (min(val) if val else np.inf), descent


def fit_network(parts, **kwargs):
    """Train a multi-index network with one of the solvers (see :func:`_fit_network`).

    Numerical failures of torch (an eigendecomposition that does not
    converge) and non-finite results become a ``ValueError`` that names
    them; no torch warning reaches the caller. ``n_threads`` (see
    :func:`._device.torch_threads`) sets the torch CPU threads for the fit.
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
        try:
            with torch_threads(kwargs.pop("n_threads", None), n, d):
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
        refinement predicts ``valid`` better than the mean, or None).
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
        return _fit_refined(s1, samples("train"), samples("valid"), samples("final"),
                            samples("all"), losses, cfg, seed, callback, row_keys)
    name, scores = _choose_loss(s1, losses, cfg, seed)
    fit, state = _stage1(s1, name, cfg, seed, callback) if name else (None, None)
    if fit is None:
        return _degenerate_fit(s1, samples("stage2"), seed, dev, dt, cfg, losses[0])
    W, gen = state
    fit.selection = scores
    if parts.get("stage2") is not None:
        _stage2(fit, W, samples("stage2"), gen, cfg["stage2_directions"], cfg["activation"],
                cfg["bias_scale"], cfg["alpha"], cfg.get("outer_loss", "squared"))
        if callback is not None:
            callback("stage2_done", {"loss": name, "gcv": fit.gcv, "alpha": fit.alpha})
    return fit


# Name of the first-order start (sliced inverse regression) among the candidates.
SLICED = "sliced"
# Name of the start from the learned label transform (_learned_start).
LEARNED = "learned"
# the learned start is skipped when the Huber start's Ritz values stand this
# far above their noise edge
LEARNED_GATE = 1.25
# loss of a fit whose model is the ridge regression on all columns
LINEAR = "linear"
# With n_components="auto", a direction of the second-order start completes
# the first-order ones when it is more than 45 degrees from their span.
FILL_SINE = np.sqrt(0.5)

# Two refinements whose subspaces come this close (projection distance) are
# at the same point of the same objective: only the better one goes on.
MERGE_DISTANCE = 0.05
# Two refinements whose held-out predictions differ (half mean squared
# difference) by less than this fraction of the better one's held-out loss,
# and of what it explains (the mean's held-out loss minus its own), fit the
# same function: the directions they differ in are ones the link barely uses
# (a subspace larger than the data's, whose spare directions wander), and
# only the better goes on. (Relative to the loss alone, two runs near the
# mean would merge at a saddle; relative to what is explained alone, two runs
# half-way would merge before either had converged.)
MERGE_FUNCTION = 0.01


def _same_function(a, b, baseline, weights):
    """Whether descents ``a`` and ``b`` predict the held-out samples alike (``MERGE_FUNCTION``)."""
    fa, fb = a.heldout_predictions, b.heldout_predictions
    if fa is None or fb is None:
        return False
    best = min(a.best_val, b.best_val)
    scale = min(baseline - best, best)
    diff = ((fa - fb) ** 2).reshape(len(weights), -1).sum(dim=1)
    return scale > 0 and 0.5 * float(weights @ diff) / float(weights.sum()) < MERGE_FUNCTION * scale


def confirmation_z(descent, train, huber_delta=1.0):
    """:func:`paired_z` of ``descent``'s best state against the training mean, on ``valid``.

    Both are scored by the Huber loss with threshold ``huber_delta`` times
    the robust scale of the training targets (light-tailed residuals of a
    good model fall inside it: the squared loss; heavy-tailed noise cannot
    swamp the standard error).
    """
    return paired_z(*descent.heldout_gain(*_heldout_reference(train, huber_delta)))


def _heldout_reference(train, huber_delta):
    """The constant a held-out model is compared with, and the Huber threshold of both.

    ``(training mean, huber_delta * robust scale of the training targets)``;
    an infinite threshold (the squared loss) for targets of zero robust scale.
    """
    delta = huber_delta * robust_scale(train.targets, train.weights)
    center = np.average(train.targets, weights=train.weights)
    return center, (delta if delta > 0 else np.inf)


def mean_loss(train, valid):
    """Held-out loss of the constant predictor: ``valid``'s squared loss around ``train``'s mean.

    On the scale of :class:`GrassmannDescent`'s held-out loss (half the
    weighted mean of squared residuals).
    """
    m = np.average(train.targets, weights=train.weights)
    return 0.5 * float(np.average((valid.targets - m) ** 2, weights=valid.weights))


def _fit_refined(s1, train, valid, final, everything, losses, cfg, seed, callback,
                 row_keys=None):
    """Stage 1 with each candidate loss, each refined; the best on ``valid`` kept.

    The held-out loss after refinement tells a start that converged from one
    stuck at a saddle far more reliably than any spectral score (at d = 64,
    ``h2+h2``, n = 4 d it was 0.03 for the start that reached distance 0.10
    and 0.38 for the one that stayed at 0.50), so every loss is tried. The
    refinements run in turns, one step each; all of them minimize the same
    function of the subspace, so when two reach the same subspace (projection
    distance below ``MERGE_DISTANCE``) the one with the larger held-out loss
    stops there (``SubspaceFit.selection`` keeps its score). With
    ``cfg["first_order"]`` the sliced-inverse-regression start joins the
    candidates (:func:`_sliced_start`), with ``cfg["learned"]`` the start of
    the learned label transform (:func:`_learned_start`). A kept, confirmed
    refinement is continued on ``everything`` (:func:`_polish`).

    When no refinement predicts ``valid`` better than its mean
    (:func:`mean_loss`), none has found anything the held-out samples confirm,
    and which loss "wins" is noise. The refinement is then dropped
    (``SubspaceFit.refined`` False) and the subspace is the spectral estimate
    (:func:`_spectral_estimate`: what stage 1's power iteration converges to)
    on ``everything`` (all samples, 25 % more than the training part at the
    default split) with the Huber loss, whose bounded scores make it the
    candidate with a reliable noise edge (with a single given loss: that one);
    with the first-order start among the candidates, the first-order estimate
    on ``everything`` instead when its top eigenvalue stands further above
    its null than the spectral estimate's (:func:`_unrefined_start`).
    ``row_keys`` order ``everything``'s rows for that null.
    """
    runs = []

    def add_run(name, fit, gen, tag):
        if cfg["n_components"] is None and fit.n_components > RACE_MAX_COMPONENTS:
            # the held-out search after the race grows the dimension where needed
            fit.subspace = fit.subspace[:, :RACE_MAX_COMPONENTS]
            fit.n_components = RACE_MAX_COMPONENTS
        V0 = torch.as_tensor(fit.subspace).to(s1.device, s1.dtype)
        runs.append((name, fit, gen, _descent(train, valid, V0, cfg, callback, tag)))

    for name in losses:
        fit, state = _stage1(s1, name, cfg, seed, callback, limit=True)
        if fit is not None:
            # with several candidates the progress lines name the loss
            add_run(name, fit, state[1], {"loss": name} if len(losses) > 1 else None)
    if cfg.get("learned", False):
        fit = _learned_start(s1, {name: fit for name, fit, _, _ in runs}, callback)
        if fit is not None:
            add_run(LEARNED, fit, torch.Generator().manual_seed(int(seed)), {"loss": LEARNED})
    if cfg.get("first_order", False):
        # the second-order start that completes the first-order directions:
        # Huber's, whose bounded scores have no single-sample spikes
        fillers = {name: fit.subspace for name, fit, _, _ in runs}
        fit = _sliced_start(s1, cfg, callback, fillers.get("huber", next(iter(fillers.values()), None)))
        if fit is not None:
            add_run(SLICED, fit, torch.Generator().manual_seed(int(seed)), {"loss": SLICED})
    if not runs:
        return _degenerate_fit(s1, final, seed, s1.device, s1.dtype, cfg, losses[0])
    active = list(runs)
    baseline = mean_loss(train, valid)
    heldout_weights = torch.as_tensor(valid.weights, dtype=valid.dtype, device=valid.device)
    while active:
        for run in active:
            run[3].step()
        active = [run for run in active if not run[3].done]
        for a, b in itertools.combinations(list(active), 2):
            if a in active and b in active and (
                    _projection_distance(a[3].V, b[3].V) < MERGE_DISTANCE
                    or _same_function(a[3], b[3], baseline, heldout_weights)):
                worse = b if b[3].best_val >= a[3].best_val * (1 - 1e-9) else a
                active.remove(worse)
                if callback is not None:
                    callback("refine_merged", {"loss": worse[0], "into": (a if worse is b else b)[0],
                                               "step": worse[3].n_iter})
    scores, best = {}, None
    for name, fit, gen, descent in runs:
        _store_refinement(fit, descent)
        scores[name] = descent.best_val
        if best is None or scores[name] < best[0] - 1e-9 * abs(best[0]):
            best = (scores[name], fit, gen, descent)
    best_val, fit, gen, descent = best
    if cfg["n_components"] is None:
        # forward: a dimension found larger is refined and searched again from there
        while True:
            k = fit.n_components
            fit, descent = _choose_dimension(fit, descent, train, valid, cfg, callback)
            if fit.n_components <= k:
                break
        best_val = descent.best_val
    fit.selection = scores
    fit.refined = True
    z = confirmation_z(descent, train, cfg["huber_delta"])
    if cfg["n_components"] is None:
        z = _linear_if_as_good(fit, descent, train, valid, cfg, callback, z)
    fit.heldout = (best_val, baseline, z)
    if everything is not None:
        if not z < -CONFIRM_Z:
            name = "huber" if len(losses) > 1 and "huber" in losses else fit.loss
            kept, info = _unrefined_start(everything, name, cfg, row_keys)
            if callback is not None:
                callback("refine_dropped", {"val_loss": best_val, "mean_loss": baseline,
                                            "z": z, "loss": name} | info)
            if kept is not None:
                kept.selection, kept.refined, kept.heldout = scores, False, fit.heldout
                fit = kept
    if fit.refined and fit.loss != LINEAR:
        _polish(fit, descent, everything, cfg, callback)
    if final is not None:
        _final_stage2(fit, final, gen, cfg)
    return fit


def _polish(fit, descent, everything, cfg, callback):
    """Continue the chosen refinement on every sample, for as long as it helped held out.

    The refinement descends on the training part and stops on the
    validation part's loss; its subspace is the training part's estimate.
    Near the onset of recovery the estimate's error falls steeply with the
    number of samples (at d = 256, ``h2+h2``, n = 4 d the training part's
    80 % gave distance 0.12, continuing on all of them 0.064, the
    Bayes-optimal AMP's 0.063). The validation part has done its work (the
    start, the dimension and the confirmation are chosen), so the descent
    continues from the chosen subspace on ``everything`` for at most the
    number of steps after which the training run's held-out loss was
    smallest (the number of boosting rounds refitted on all the data, in the
    same way), stopping earlier on the descent's own rules without
    held-out samples (movement, stalled training loss).
    ``fit.polish_iter`` records the steps taken.
    """
    val = descent.history["val_loss"]
    budget = int(np.argmin(val)) if val else 0
    fit.polish_iter = 0
    if everything is None or budget < 1:
        return
    V0 = torch.as_tensor(fit.subspace).to(everything.device, everything.dtype)
    polish = GrassmannDescent(everything, None, V0, degree=cfg["degree"], max_iter=budget,
                              loss=cfg.get("refine_loss"))
    while not polish.step():
        pass
    fit.unpolished = fit.subspace
    fit.subspace = sign_flip(_numpy(polish.result()[0]))
    fit.polish_iter = polish.n_iter
    if callback is not None:
        callback("refine_polished", {"steps": polish.n_iter, "budget": budget})


def _linear_if_as_good(fit, descent, train, valid, cfg, callback, z):
    """``n_components="auto"``: the linear model instead, when it predicts as well.

    A ridge regression on all columns (penalty by GCV) is the one-index model
    with a linear link. When its held-out Huber loss is within one standard
    error of the best refinement's (paired per-sample differences), the
    simpler model is kept: ``fit`` becomes that direction with a linear outer
    layer (``loss == "linear"``, ``refined`` False). Returns the confirmation
    z-score of the model kept (:func:`confirmation_z`).
    """
    center, delta = _heldout_reference(train, cfg["huber_delta"])
    model_gain, w = descent.heldout_gain(center, delta)
    res = ridge_gcv(train, lambda X: X, train.n_features)
    coef, intercept = res["coef"].to(train.dtype), res["intercept"]
    linear_gain, _ = huber_gains(valid.map(lambda Xc, yc, wc: (Xc @ coef + intercept, yc, wc)),
                                 center, delta)
    better = paired_z(linear_gain - model_gain, w)
    if callback is not None:
        callback("linear_compared", {"z": better})
    if not better < 1.0 or not float(coef.norm()) > 0:
        return z
    fit.subspace = sign_flip(_numpy(coef / coef.norm())[:, None])
    fit.n_components, fit.loss, fit.refined = 1, LINEAR, False
    fit.refine_history, fit.refine_iter, fit.first_layer = None, 0, None
    fit.hit_max_iter = False
    return paired_z(linear_gain, w)


# With n_components="auto", the race refines each start with at most this
# many of its directions (its leading ones); the held-out dimension search
# after it adds directions where the data ask for them. Heavy-tailed labels
# put spurious directions above the noise edge: on ISLR Wage a start of nine
# directions (a link basis of 715 functions) took 19 s of a 44 s fit (one
# fold, a one-off measurement).
RACE_MAX_COMPONENTS = 4

# A smaller dimension whose held-out loss is within this fraction of the best
# counts as equal even when the standard error is smaller still: directions
# that improve the fit by less are not worth their link basis. (On h3+h3 at
# d = 256, n = 16 d the loss was 0.002536 at r = 2 and 0.002494 at r = 4,
# 1.7 % apart but 1.3 standard errors, and r = 4 was kept.)
DIMENSION_RTOL = 0.02

# One dimension less than the choice, when its unrefined held-out loss is
# within this fraction of the best, is refined and scored again.
SMALLER_RTOL = 0.25

# The dimension search goes up to the dimension whose full tensor Hermite
# basis has at most this many functions (r = 8 at degree 4); the basis it
# fits is bounded by MAX_LINK_BASIS (_grassmann.py) below that.
MAX_SEARCH_BASIS = 500


def residual_directions(train, residuals, V, cfg, count, n_iter=8, extra=4):
    """Directions outside ``span(V)`` along which the residuals still depend on ``x``.

    Stage 1 on the ``residuals`` of a fit on ``train``: the Huber scores
    ``s`` of the residuals give the first-order direction ``E[s x]`` and the
    second-moment matrix ``E[s x x^T]``, both restricted to the orthogonal
    complement of ``V`` (randomized block power iteration, ``count + extra``
    vectors). Returns ``(directions, ratios)``: unit columns and their
    signal over the noise expected for scores independent of ``x`` (the
    squared norm of ``E[s x]`` over its null mean, the Ritz values over the
    noise edge), by decreasing ratio.
    """
    d = train.n_features
    loss = Stage1Loss("huber", residuals, train.weights, cfg["huber_delta"])
    if loss.is_degenerate or count < 1:
        return V[:, :0], np.zeros(0)
    scores = loss.sample_scores()
    samples = train.with_targets(scores)
    w = train.weights
    n = float(w.sum())
    rms2 = float(w @ scores ** 2) / n

    def outside(M):
        return M - V @ (V.T @ M)

    g = outside(samples.reduce(lambda Xc, sc, wc: back_project(Xc, (wc * sc)[:, None])) / n)
    first_ratio = float((g * g).sum()) / (rms2 * d / n) if rms2 > 0 else 0.0
    sigma = SecondMoment(samples)
    p = max(1, min(count + extra, d - V.shape[1]))
    gen = torch.Generator().manual_seed(0)
    B = outside(torch.randn(d, p, generator=gen, dtype=torch.float64).to(V))
    for _ in range(n_iter):
        B, _ = torch.linalg.qr(outside(sigma @ B))
    vals, vecs = ritz_values(sigma, B)
    level = noise_level(scores, w, d)
    dirs = [g[:, 0] / g.norm()] if float(g.norm()) > 0 else []
    ratios = [first_ratio] if dirs else []
    for j in range(min(count, vecs.shape[1])):
        dirs.append(vecs[:, j])
        ratios.append(abs(float(vals[j])) / level if level > 0 else 0.0)
    order = np.argsort(ratios)[::-1]
    return torch.stack([dirs[j] for j in order], dim=1), np.asarray(ratios)[order]


def _candidate_basis(V, directions, max_components):
    """Nested candidate directions: ``V`` first, then ``directions`` outside its span.

    ``directions`` are taken in order, each kept (its orthogonalized part)
    when more than 45 degrees from the span so far.
    """
    B = V
    for j in range(directions.shape[1]):
        if B.shape[1] >= max_components:
            break
        p = directions[:, j]
        r = p - B @ (B.T @ p)
        norm = float(r.norm())
        if norm > FILL_SINE:
            B = torch.cat([B, (r / norm)[:, None]], dim=1)
    return B


def _choose_dimension(fit, descent, train, valid, cfg, callback):
    """``n_components="auto"``: the dimension chosen by held-out loss.

    Candidates are nested: the ``j`` most important directions of the best
    refinement (:func:`ordered_by_link`) for ``j`` up to its dimension, then
    that subspace completed by the directions stage 1 finds in its residuals
    (:func:`residual_directions`). For each, the link alone is fitted on the
    training part and scored on the held-out part; the smallest dimension
    whose held-out (Huber) loss is within one standard error (of the paired
    per-sample difference) of the best is kept, and refined when it is not
    the best refinement's own (a larger one is searched again from there).
    A dimension within ``DIMENSION_RTOL`` of the best loss counts as within
    it too. Returns the fit and its descent.
    """
    V, _ = descent.result()
    k = V.shape[1]
    fit.n_components = k
    degree = cfg["degree"]
    ordered = ordered_by_link(train, V, degree)
    top = min(cfg["max_components"], train.n_features)
    while top > 1 and math.comb(top + degree, degree) > MAX_SEARCH_BASIS:
        top -= 1
    residuals = descent.train_residuals()
    extra, _ = residual_directions(train, residuals, V, cfg, max(top - k, 0))
    B = _candidate_basis(ordered, extra, max(top, k))
    # scored by the Huber loss (threshold from the robust scale of the
    # training residuals): its per-sample values have a finite variance, so
    # the standard errors mean something under heavy-tailed noise too
    delta = cfg["huber_delta"] * robust_scale(residuals, train.weights)
    losses, means, best = {}, {}, None
    for j in range(1, B.shape[1] + 1):
        if j > k and math.comb(j + degree, degree) > MAX_SEARCH_BASIS:
            break
        loss, w = link_heldout_losses(train, valid, B[:, :j], degree, delta or None)
        losses[j], means[j] = loss, float(w @ loss / w.sum())
        if best is None or means[j] < best[1]:
            best = (j, means[j])
        elif j > max(best[0], k) + 1:
            break  # two dimensions past the best without improvement

    def as_good(loss, mean):
        return (paired_z(loss - losses[best[0]], w) < 1.0
                or mean <= best[1] * (1.0 + DIMENSION_RTOL))

    chosen = next(j for j in sorted(losses) if j == best[0] or as_good(losses[j], means[j]))
    fit.dimension_scores = means
    if callback is not None:
        callback("dimension_chosen", {"n_components": chosen, "refined": k,
                                      "scores": fit.dimension_scores})

    def refined(j):
        run = _descent(train, valid, B[:, :j], cfg, callback, {"loss": f"r={j}"})
        while not run.step():
            pass
        return run

    # the candidates below the best refinement's dimension are its directions
    # without a refinement of their own, which handicaps them: one dimension
    # less, if close, is refined and scored again
    smaller = chosen - 1
    if 1 <= smaller < k and means[smaller] <= best[1] * (1.0 + SMALLER_RTOL):
        trial = refined(smaller)
        V_trial, _ = trial.result()
        loss, _ = link_heldout_losses(train, valid, V_trial, degree, delta or None)
        if as_good(loss, float(w @ loss / w.sum())):
            fit.n_components = smaller
            _store_refinement(fit, trial)
            return fit, trial
    if chosen == k:
        return fit, descent
    new = refined(chosen)
    fit.n_components = chosen
    _store_refinement(fit, new)
    return fit, new


def _unrefined_start(everything, name, cfg, row_keys=None):
    """The spectral estimate with loss ``name`` on ``everything``, or None if degenerate.

    With the first-order start among the candidates, the first-order
    (sliced-inverse-regression) estimate instead when its top eigenvalue
    stands more null standard deviations above its null mean than the
    spectral estimate's does (:func:`_null_scores`); then completed by the
    spectral estimate's directions as in the race, with at least one sliced
    direction even under the noise edge. Returns ``(fit, info)``; ``info``
    names the estimate (``"start"``) and holds the two null scores.
    """
    spectral = _spectral_fit(everything, name, cfg)
    if not cfg.get("first_order", False):
        return spectral, {"start": name}
    z_sliced, z_spectral = _null_scores(everything, name, cfg, row_keys)
    info = {"z_sliced": z_sliced, "z_spectral": z_spectral}
    if spectral is not None and not z_sliced > z_spectral:
        return spectral, info | {"start": name}
    sliced = _sliced_start(everything, cfg, None, None if spectral is None else spectral.subspace,
                           min_count=1)
    return sliced, info | {"start": SLICED}


def _null_scores(samples, name, cfg, row_keys=None):
    """Null z-scores of the top eigenvalues of the sliced and the ``name`` spectral matrices.

    Each is ``(value - null mean) / null standard deviation`` over the
    circular shifts of :func:`._null.null_z`, along the rows sorted by
    ``row_keys`` (random keys, equal for copies of a row; None: the rows'
    order in ``samples``). Both estimates' noise
    edges are approximations of different quality (the spectral one is
    conservative for heavy-tailed scores, the sliced one is close), so their
    ratios to the edges do not compare; distances to the same kind of null do.
    """
    # stable: copies of a row (equal keys) stay adjacent, in a fixed order
    order = (np.arange(samples.n_samples) if row_keys is None
             else np.argsort(row_keys, kind="stable"))
    w = samples.weights
    z_sliced, _, _ = null_z(lambda m: membership_top_eigenvalue(samples, m),
                            slice_membership(samples), w, order)
    loss = Stage1Loss(name, samples.targets, w, cfg["huber_delta"])
    if loss.is_degenerate:
        return z_sliced, -np.inf

    def top(scores):
        S = second_moment_matrix(samples.with_targets(scores))
        return float(torch.linalg.eigvalsh(S).abs().max())

    z_spectral, _, _ = null_z(top, loss.sample_scores(), w, order)
    return z_sliced, z_spectral


def _sliced_start(s1, cfg, callback, filler=None, min_count=0):
    """The first-order start as a :class:`SubspaceFit`, or None.

    The sliced-inverse-regression directions whose eigenvalues exceed
    ``NOISE_MARGIN`` times the noise edge (None when there is none: links
    without first-order information, every even link, do not pay for a
    refinement from noise), completed by the directions of ``filler`` (a
    second-order start, ``d x k`` NumPy) orthogonal to them: up to
    ``n_components``, or with ``"auto"`` those more than 45 degrees from the
    first-order span. ``min_count`` sliced directions are kept even under
    the noise edge. A link with both kinds of directions (``mixed3``:
    ``z1 z2`` second order, ``tanh(z3)`` first order) gets a start near its
    whole subspace. Its spectrum and edge take the place of stage 1's.
    """
    k_given = cfg["n_components"]
    V_all, vals, edge = sliced_directions(s1, k_given or cfg["max_components"])
    spectrum = vals[:cfg["max_components"]]
    count = max(count_above_noise(spectrum, edge), min_count)
    if count == 0:
        if callback is not None:
            callback("sliced_start", {"signal": 0})
        return None
    k = k_given or count
    V = V_all[:, :min(count, k)]
    if filler is not None and (k_given is None or k > count):
        F = torch.as_tensor(filler).to(V)
        U, sv, _ = torch.linalg.svd(F - V @ (V.T @ F), full_matrices=False)
        # span(F) has k dimensions: at least k - count of them lie outside span(V)
        if k_given:
            extra = k - count
        else:
            extra = min(int((sv > FILL_SINE).sum()), cfg["max_components"] - count)
        V = torch.cat([V, U[:, :extra]], dim=1)
    elif k > count:
        V = V_all[:, :k]
    if callback is not None:
        callback("sliced_start", {"signal": count, "completed": V.shape[1] - count})
    return SubspaceFit(loss=SLICED, subspace=sign_flip(_numpy(V)), n_components=V.shape[1],
                       spectrum=spectrum, noise_level=edge, degenerate=False,
                       history={key: [] for key in STAGE1_RECORDS})


def _choose_loss(s1, losses, cfg, seed):
    """The stage-1 loss to train with, and the probe scores of the candidates.

    With one candidate, that one (None if its targets are constant). With
    several, the first whose :func:`select_loss` score is within a relative
    1e-9 of the best (ties, e.g. labels with three values, must not hinge on
    rounding); None when every candidate is degenerate.
    """
    if len(losses) == 1:
        loss = Stage1Loss(losses[0], s1.targets, s1.weights, cfg["huber_delta"])
        return (None if loss.is_degenerate else losses[0]), {}
    scores = select_loss(s1, losses, cfg, seed)
    if not scores:
        return None, {}
    top = max(scores.values())
    name = next(name for name, (count, ratio) in scores.items()
                if count == top[0] and ratio >= top[1] * (1 - 1e-9))
    return name, {key: float(ratio) for key, (_, ratio) in scores.items()}


def random_starts(n_features, cfg, gen):
    """``n_init`` random ``(d, n_components)`` starts of the "grassmann" solver (float64)."""
    return [torch.randn(n_features, cfg["n_components"], generator=gen, dtype=torch.float64)
            for _ in range(cfg["n_init"])]


def best_of_starts(starts, train, valid, cfg, callback, loss):
    """A refinement from each start; the one with the smallest held-out loss kept.

    Returns ``(fit, its held-out loss, its descent)``; ``fit`` is a
    :class:`SubspaceFit` named ``loss`` holding the refined subspace.
    """
    fit, best, kept = None, np.inf, None
    for start, V0 in enumerate(starts):
        trial = SubspaceFit(loss=loss, subspace=None, n_components=V0.shape[1],
                            spectrum=np.zeros(0), noise_level=0.0, degenerate=False)
        score, descent = _refine(trial, V0.to(train.device, train.dtype), train, valid, cfg,
                                 callback)
        if callback is not None and len(starts) > 1:
            callback("restart_done", {"start": start + 1, "val_loss": score})
        if fit is None or score < best - 1e-9 * abs(best):
            fit, best, kept = trial, score, descent
    return fit, best, kept


def _fit_grassmann(train, valid, final, cfg, seed, callback, starts=None, loss="squared",
                   everything=None):
    """Two-timescale descent from each start; the best on ``valid`` kept.

    ``starts`` (torch tensors of shape (d, k)) default to ``n_init`` random
    subspaces (the "grassmann" solver); a warm start passes the previous
    fit's training-part subspace and its ``loss`` name. The kept descent is
    continued on ``everything`` (:func:`_polish`).
    """
    gen = torch.Generator().manual_seed(int(seed))
    if starts is None:
        starts = random_starts(train.n_features, cfg, gen)
    fit, best, kept = best_of_starts(starts, train, valid, cfg, callback, loss)
    fit.selection = {loss: best}
    fit.refined = True
    fit.heldout = (best, mean_loss(train, valid), confirmation_z(kept, train, cfg["huber_delta"]))
    _polish(fit, kept, everything, cfg, callback)
    if final is not None:
        _final_stage2(fit, final, gen, cfg)
    return fit


def _fit_sgd(parts, cfg, dev, dt, seed, callback, row_keys=None):
    """Online SGD with weight decay on the first layer, then the ridge outer layer.

    ``cfg["state"]`` (``(W, b, history, stream)`` as NumPy, or None)
    continues an earlier pass: this is what ``partial_fit`` uses. The outer
    layer is fitted on the moments of every stage-2 row of the stream
    (:class:`._stream.OuterStream`, whose state ``stream`` is; ``row_keys``:
    the content hash of the rows of ``parts["all"]``, stage 1's then stage
    2's, which picks its reservoir).
    """
    X1, y1, w1 = parts["stage1"]
    d = X1.shape[1]
    width = cfg["width"]
    gen = torch.Generator().manual_seed(int(seed))
    W, b, a = init_sgd_network(width, d, gen, dev, dt)
    history, offset = None, 0
    outer_state = None
    if cfg.get("state") is not None:
        W0, b0, history, outer_state = cfg["state"]
        W = torch.as_tensor(W0).to(dev, dt)
        b = torch.as_tensor(b0).to(dev, dt)
        history = {key: list(val) for key, val in history.items()}
        offset = history["step"][-1] if history["step"] else 0
    lr = cfg["sgd_learning_rate"]
    if lr == "auto":
        lr = 0.5 / d  # per sample; the mini-batch gradient is a mean
    batch = int(cfg["sgd_batch_size"])
    stream = Samples(X1, y1, w1, dev, dt, batch)
    track = cfg["n_components"] or cfg["max_components"]
    if X1.shape[0]:  # a block of a stream (never the first) may bring no stage-1 row
        W, history = sgd_pass(
            stream, W, b, a,
            learning_rate=lr * batch,
            weight_decay=cfg["sgd_weight_decay"],
            track_components=track,
            history=history,
            step_offset=offset,
            callback=None if callback is None else (lambda rec: callback("sgd_record", rec)),
        )
    V, s = top_right_singular(W, min(cfg["max_components"], d, width))
    s = _numpy(s)
    k = cfg["n_components"] or gap_components(s, cfg["max_components"])
    fit = SubspaceFit(loss="squared", subspace=sign_flip(_numpy(V[:, :k])), n_components=k,
                      spectrum=s[: cfg["max_components"]], noise_level=0.0, degenerate=False,
                      first_layer=_numpy(W), history=history)
    if parts.get("stage2") is not None:
        X2, y2, w2 = parts["stage2"]
        D = W
        if cfg["compress"]:
            Vk = V[:, :k]
            D = (W @ Vk) @ Vk.T
        s2 = samples_of(X2, y2, w2, dev, dt, cfg["batch_size"])
        if cfg.get("outer_loss", "squared") == "huber":
            # reweighted passes over these rows (a stream does not keep them)
            res = fit_ridge(s2, D, b, cfg["activation"], cfg["alpha"], "huber")
        else:
            # the moments of every stage-2 row of the stream, under this first layer
            keys = np.arange(X2.shape[0]) / X2.shape[0] if row_keys is None else \
                reservoir_keys(row_keys[len(row_keys) - X2.shape[0]:])
            outer = OuterStream(outer_state)
            M, total = outer.add(s2, X2, keys,
                                 lambda X: neuron_features(X, D, b, cfg["activation"]))
            res = ridge_from_moments(M, width, total, cfg["alpha"])
            fit.outer_stream = outer.state
        fit.directions, fit.biases = _numpy(D), _numpy(b)
        fit.coef, fit.intercept = res["coef"].cpu().numpy(), float(res["intercept"])
        fit.alpha, fit.gcv = res["alpha"], res["gcv"]
    else:
        fit.biases = _numpy(b)
    return fit


def select_loss(s1, losses, cfg, seed, n_iter=8, extra=8):
    """Score each candidate stage-1 loss by its spectral signal-to-noise ratio.

    A cheap randomized block power iteration (``max_components + extra``
    vectors, ``n_iter`` steps) on each loss's ``Sigma_hat`` gives its leading
    Ritz values; a loss scores ``(number of directions above the noise edge,
    ratio of the weakest kept one to the edge)`` with ``k = n_components`` (or,
    for "auto", the count above the edge). Costs ``O(n d (k + extra))`` per
    step, far below one stage-1 step (``O(n d width)``). Returns a dict of
    ``(count, ratio)`` per non-degenerate loss.
    """
    scores = {}
    d = s1.n_features
    p = max(1, min(cfg["max_components"] + extra, d, s1.n_samples))
    for name in losses:
        loss = Stage1Loss(name, s1.targets, s1.weights, cfg["huber_delta"])
        if loss.is_degenerate:
            continue
        sigma = SecondMoment(s1.with_targets(loss.sample_scores()))
        gen = torch.Generator().manual_seed(int(seed))
        V = torch.randn(d, p, generator=gen, dtype=torch.float64).to(s1.device, s1.dtype)
        for _ in range(n_iter):
            V, _ = torch.linalg.qr(sigma @ V)
        vals, _ = ritz_values(sigma, V)
        vals = _numpy(vals)[: cfg["max_components"]]
        level = noise_level(loss.sample_scores(), s1.weights, d)
        count = count_above_noise(vals, level)
        k = cfg["n_components"] or max(count, 1)
        ratio = abs(vals[min(k, vals.size) - 1]) / level if level > 0 else 0.0
        scores[name] = (min(count, k), float(ratio))
    return scores


def _final_stage2(fit, final, gen, cfg):
    """Outer layer on random directions spread uniformly in the learned subspace.

    The features are :func:`._network.subspace_features`: ReLU neurons in the
    subspace and the projections ``X V`` themselves (``fit.linear``, a
    direction in ``x``), so a link linear along some direction, common in
    tables, is fitted exactly instead of through ReLU kinks.
    """
    dev, dt = final.device, final.dtype
    V = torch.as_tensor(fit.subspace).to(dev, dt)
    D, b, features = subspace_features(V, cfg["width"], gen, cfg["bias_scale"],
                                       cfg["activation"])
    width = cfg["width"]
    if fit.loss == LINEAR:
        # the linear model: ridge on all columns, its direction the subspace
        res = ridge_gcv(final, lambda X: X, final.n_features, cfg["alpha"],
                        loss=cfg.get("outer_loss", "squared"))
        beta = res["coef"].to(V)
        if float(beta.norm()) > 0:
            fit.subspace = sign_flip(_numpy(beta / beta.norm())[:, None])
        _store_outer(fit, D, b, dict(res, coef=torch.zeros(width, dtype=torch.float64)))
        fit.linear = _numpy(beta)
        return
    res = ridge_gcv(final, features, width + V.shape[1], cfg["alpha"],
                    loss=cfg.get("outer_loss", "squared"))
    coef = res["coef"]
    _store_outer(fit, D, b, dict(res, coef=coef[:width]))
    fit.linear = _numpy(V @ coef[width:].to(V))


def _store_outer(fit, D, b, res):
    fit.directions = _numpy(D)
    fit.biases = _numpy(b)
    fit.coef = res["coef"].cpu().numpy()
    fit.intercept = float(res["intercept"])
    fit.alpha = res["alpha"]
    fit.gcv = res["gcv"]


def _stage2(fit, W, s2, gen, directions, activation, bias_scale, alpha, outer_loss="squared"):
    dev, dt = s2.device, s2.dtype
    if directions == "subspace":
        V = torch.as_tensor(fit.subspace).to(dev, dt)
        D = (W @ V) @ V.T
        norms = D.norm(dim=1, keepdim=True)
        D = torch.where(norms > 0, D / norms.clamp_min(1e-300), W)
    else:
        D = W
    b = (bias_scale * torch.randn(W.shape[0], generator=gen, dtype=torch.float64)).to(dev, dt)
    _store_outer(fit, D, b, fit_ridge(s2, D, b, activation, alpha, outer_loss))


def _degenerate_fit(s1, s2, seed, dev, dt, cfg, loss_name):
    """Stage-1 targets are constant: keep the random initialization, fit stage 2."""
    gen = torch.Generator().manual_seed(int(seed))
    d = s1.n_features
    W = torch.randn(cfg["width"] // 2, d, generator=gen, dtype=torch.float64)
    W = torch.cat([W, W]).to(dev, dt)
    W = W / W.norm(dim=1, keepdim=True)
    k = cfg["n_components"] or 1
    fit = SubspaceFit(
        loss=loss_name,
        subspace=sign_flip(_numpy(top_right_singular(W, k)[0])),
        n_components=k,
        spectrum=np.zeros(0),
        noise_level=0.0,
        degenerate=True,
        first_layer=_numpy(W),
        history={key: [] for key in STAGE1_RECORDS},
    )
    if s2 is not None:
        _stage2(fit, W, s2, gen, "neurons", cfg["activation"], cfg["bias_scale"], cfg["alpha"],
                cfg.get("outer_loss", "squared"))
    return fit


def _spectral_estimate(samples, loss, n_components, max_components):
    """Top-|eigenvalue| eigenvectors of ``loss``'s second-moment matrix on ``samples``.

    Returns ``(subspace, k, eigenvalues, noise_level)``; ``k`` is
    ``n_components``, or for None the count above the noise edge (at least 1).
    """
    d = samples.n_features
    level = noise_level(loss.sample_scores(), samples.weights, d)
    S = second_moment_matrix(samples.with_targets(loss.sample_scores()))
    vals, vecs = torch.linalg.eigh(S)
    order = torch.argsort(vals.abs(), descending=True)
    vals, vecs = _numpy(vals[order]), _numpy(vecs[:, order])
    k = _dimension(vals[:max_components], level, n_components)
    return sign_flip(vecs[:, :k]), k, vals[:max(k, min(max_components, d))], level


def _spectral_fit(samples, name, cfg):
    """:func:`_spectral_estimate` as an unrefined :class:`SubspaceFit` (None if degenerate)."""
    loss = Stage1Loss(name, samples.targets, samples.weights, cfg["huber_delta"])
    if loss.is_degenerate:
        return None
    V, k, vals, level = _spectral_estimate(samples, loss, cfg["n_components"],
                                           cfg["max_components"])
    return SubspaceFit(loss=name, subspace=V, n_components=k, spectrum=vals, noise_level=level,
                       degenerate=False, history={key: [] for key in STAGE1_RECORDS})


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
