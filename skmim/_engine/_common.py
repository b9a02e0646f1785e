"""What the solvers share: the fit record, stage 1, the refinement's runs, stage 2.

:class:`SubspaceFit` is what every solver returns; the functions here are
the pieces several solvers use (stage 1 with one loss, one refinement run to
its stopping rule and its continuation on all samples, the random starts,
the outer layer). Each solver lives in its own module (``_solver_*``);
:mod:`._api` only chooses and runs one.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from ._device import resolve_device, resolve_dtype
from ._grassmann import GrassmannDescent
from ._layerwise import (
    DENSE_MAX_FEATURES,
    STAGE1_RECORDS,
    SecondMoment,
    distinct_neurons,
    limit_start,
    noise_level,
    power_first_layer,
    ritz_values,
    second_moment_matrix,
    top_right_singular,
    train_first_layer,
)
from ._losses import Stage1Loss, robust_scale
from ._network import subspace_features
from ._ridge import fit_ridge, ridge_gcv
from ._stats import count_above_noise, paired_z, sign_flip


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


def _read_off(W, sigma, loss, n_components, max_components, rows=None, basis=None):
    """Subspace read-off after stage 1: top singular vectors of ``W``.

    ``sigma`` is the loss's :class:`SecondMoment`; its Ritz values on the
    probe give the spectrum reported and the ``"auto"`` dimension. ``rows``
    (default all) are rows of ``W`` with the same right singular vectors,
    e.g. one neuron of each exactly opposite pair. ``basis``: those
    vectors, when known (e.g. from stage 1's last record), used when there
    are as many as the probe needs.
    """
    d = W.shape[1]
    scores_samples = sigma.samples
    n = scores_samples.n_samples
    K = max(1, min(max_components, W.shape[0], d, n))
    if basis is not None and basis.shape[1] == K:
        probe = basis
    else:
        probe, _ = top_right_singular(W if rows is None else W[:rows], K)
    vals, _ = ritz_values(sigma, probe)
    spectrum = _numpy(vals)
    level = noise_level(loss.sample_scores(), scores_samples.weights, d)
    k = _dimension(spectrum, level, n_components)
    return sign_flip(_numpy(probe[:, :k])), k, spectrum, level


def _stage1(s1, name, cfg, seed, callback, limit=False, moments=None, starts=None,
            defer_records=False):
    """Stage 1 with one loss; None when its targets are constant.

    ``limit=True`` runs it in its small-initialization limit
    (:func:`power_first_layer`, the refined solver's start); otherwise the
    network's gradient steps (:func:`train_first_layer`, the published solver).
    ``moments`` (a :class:`._layerwise.SharedSecondMoments` of ``s1``) forms the dense
    matrix of the limit, sharing work between the losses; ``starts`` (a dict,
    filled here) keeps the limit's initial draws (:func:`._layerwise.limit_start`)
    and the generator's state after them, per seed, for the next loss.
    ``defer_records`` leaves the limit's per-step records to be computed when
    read (``fit.history`` a :class:`._layerwise.PendingRecords`, see
    :func:`._layerwise.finished_records`), unless ``callback`` reports them.
    """
    loss = Stage1Loss(name, s1.targets, s1.weights, cfg["huber_delta"])
    if loss.is_degenerate:
        return None, None
    gen = torch.Generator().manual_seed(int(seed))
    if callback is not None:
        callback("stage1_start", {"loss": name, "limit": limit})
    lr = cfg["learning_rate"]
    wd = 1.0 / lr if cfg["weight_decay"] is None else cfg["weight_decay"]
    # a callback declares with ``step_records = False`` that it ignores per-step records
    step_callback = None if callback is None or not getattr(callback, "step_records", True) else (
        lambda t, rec: callback("stage1_step", rec | {"step": t}))
    scores = s1.with_targets(loss.sample_scores())
    d = s1.n_features
    track = cfg["n_components"] or cfg["max_components"]
    if limit:
        # with paired neurons W = [W_h; +-W_h]: W_h has W's singular vectors
        neurons = distinct_neurons(cfg["width"], lr, wd)
        # the d x d matrix costs n d^2 / 2 once (a symmetric rank-k update,
        # _data.weighted_gram); streaming costs 2 n d neurons per step
        dense = d <= min(DENSE_MAX_FEATURES, 4 * cfg["n_steps"] * neurons)
        sigma = SecondMoment(scores, dense=dense,
                             matrix=moments.matrix(loss) if dense and moments is not None else None)
        r = torch.as_tensor(loss.centered_targets)
        value = float(torch.as_tensor(s1.weights) @ loss(torch.zeros_like(r), r)) / s1.weight_sum
        start = None
        if starts is not None:
            key = (int(seed), cfg["width"], d, lr, wd, track, s1.device, s1.dtype)
            if key not in starts:
                starts[key] = (limit_start(cfg["width"], d, lr, wd, gen, s1.device, s1.dtype,
                                           track), gen.get_state())
            start, state = starts[key]
            gen.set_state(state)  # as if this loss had drawn its start itself
        W, history, basis = power_first_layer(
            sigma, value, width=cfg["width"], n_features=d, n_steps=cfg["n_steps"],
            learning_rate=lr, weight_decay=wd, generator=gen, device=s1.device,
            dtype=s1.dtype, track_components=track, callback=step_callback, start=start,
            return_basis=True, defer_records=defer_records and step_callback is None)
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
        neurons = basis = None
    subspace, k, spectrum, level = _read_off(W, sigma, loss, cfg["n_components"],
                                             cfg["max_components"], rows=neurons, basis=basis)
    fit = SubspaceFit(loss=name, subspace=subspace, n_components=k, spectrum=spectrum,
                      noise_level=level, degenerate=False, first_layer=_numpy(W), history=history)
    return fit, (W, gen)


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


def _run(descent, stop=None):
    """Step ``descent`` to its stopping rule; returns it.

    ``stop``, a predicate of the descent checked after every step, ends it
    earlier (it is released; its best state stands).
    """
    while not descent.step():
        if stop is not None and stop(descent):
            descent.release()
            break
    return descent


def _refine(fit, V0, train, valid, cfg, callback, tag=None, stop=None):
    """Run one descent to its stopping rule; returns its smallest held-out loss and itself.

    ``tag`` (a dict) is added to every step record reported; ``stop`` as in
    :func:`_run`.
    """
    descent = _run(_descent(train, valid, V0, cfg, callback, tag), stop)
    _store_refinement(fit, descent)
    val = descent.history["val_loss"]
    return (min(val) if val else np.inf), descent


# loss of a fit whose model is the ridge regression on all columns
LINEAR = "linear"


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
