"""The "refined" solver (the default): stage-1 starts raced by Grassmannian refinement.

Stage 1 runs with each candidate loss (and, with ``loss="auto"``, the
sliced-inverse-regression and learned-transform starts); each start is
refined on the training part, the refinements stepping in turn and merging
when they meet; near the onset the best of them is continued by message
passing with a learned channel (:mod:`._amp`) and refined again; the best
held-out loss wins, the dimension is chosen by
held-out loss when ``n_components="auto"``, an unconfirmed refinement falls
back to the spectral estimate on all samples, and a confirmed one is
continued on all samples before the outer layer is fitted.
"""

import itertools
import math

import numpy as np
import torch

from ._amp import AMP_PATIENCE_UNCONFIRMED, AMP_ROUNDS_UNCONFIRMED, amp_applicable, amp_rounds
from ._channel import LEARNED_ROUNDS, LEARNED_SETTLED, positive_directions
from ._common import (
    LINEAR,
    SubspaceFit,
    _degenerate_fit,
    _descent,
    _final_stage2,
    _heldout_reference,
    _numpy,
    _polish,
    _run,
    _spectral_fit,
    _stage1,
    _store_refinement,
    confirmation_z,
    mean_loss,
)
from ._data import back_project, symmetrize_
from ._grassmann import huber_gains, link_heldout_losses, ordered_by_link, step_together
from ._layerwise import (
    STAGE1_RECORDS,
    SecondMoment,
    SharedSecondMoments,
    _projection_distance,
    krylov_ritz,
    noise_level,
    second_moment_matrix,
)
from ._losses import Stage1Loss, robust_scale
from ._null import null_z
from ._ridge import (
    column_moments,
    gram_without,
    moments_from_gram,
    ridge_from_moments,
    ridge_gcv,
)
from ._sliced import membership_top_eigenvalue, slice_membership, sliced_directions
from ._stats import CONFIRM_Z, count_above_noise, paired_z, sign_flip


def _learned_start(s1, seed_fit, callback):
    """The spectral estimate of the label transform learned through ``seed_fit``.

    ``seed_fit`` is a candidate loss's stage-1 fit (see
    :data:`LEARNED_SEEDS`); the rounds
    (:func:`positive_directions`, ``LEARNED_ROUNDS`` of them) start from
    its subspace, each estimating the transform
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


def _amp_refinement(train, valid, fit, V0, confirmed, cfg, callback):
    """Message passing with a learned channel from the race's best refinement ``V0``.

    Runs where the learned start did (near the onset, where the
    refinement overfits: see :mod:`._amp`), for at most
    ``AMP_MAX_COMPONENTS`` directions and ``AMP_MAX_RATIO`` samples per
    feature (:func:`amp_applicable`): :func:`amp_rounds` from ``V0``, then a
    refinement from the round kept. When ``V0``'s refinement is not
    ``confirmed`` against the held-out mean, the rounds get more chances
    (``AMP_ROUNDS_UNCONFIRMED``, ``AMP_PATIENCE_UNCONFIRMED``). (From the learned start instead,
    ``z1*z2`` at d = 256, n = 3 d stayed at 0.38-0.49 on seeds 0 and 2: its
    link explained little of ``y``.) Returns ``(fit, descent)``, ``fit`` a
    :class:`SubspaceFit` named ``AMP`` with the refinement stored, or None.
    """
    k = V0.shape[1]
    if valid is None or not amp_applicable(train, k, cfg["degree"]):
        return None
    rounds = patience = None
    if not confirmed:
        rounds, patience = AMP_ROUNDS_UNCONFIRMED, AMP_PATIENCE_UNCONFIRMED
    V, _ = amp_rounds(train, valid, V0, cfg["degree"], rounds=rounds, patience=patience,
                      callback=callback)
    if V is None:
        if callback is not None:
            callback("amp_result", {"gained": False})
        return None
    run = _descent(train, valid, V, cfg, callback, {"loss": AMP})
    while not run.step():
        pass
    found = SubspaceFit(loss=AMP, subspace=sign_flip(_numpy(V)), n_components=k,
                        spectrum=fit.spectrum, noise_level=fit.noise_level, degenerate=False,
                        history=fit.history)
    _store_refinement(found, run)
    return found, run


# Name of the refinement by message passing with a learned channel (_amp_refinement).
AMP = "amp"


# Message passing replaces the race's best refinement only when its held-out
# loss is smaller by more than this fraction. At d = 256 (5 seeds each of
# h2+h2 at 3 d and 8 d, z1*z2 at 3, 4 and 6 d, h2*h2 and h4+h4 at 8 d) the
# ratios where it gained were 0.07-0.91 (distance 0.43-0.62 -> 0.10-0.16 at
# 3 d); at 0.96-0.995 it had found the same subspace (0.040 against 0.040)
# and, kept, ended 0.004-0.015 worse after the continuation on all samples.
AMP_MARGIN = 0.05


# Name of the first-order start (sliced inverse regression) among the candidates.
SLICED = "sliced"


# Name of the start from the learned label transform (_learned_start).
LEARNED = "learned"


# The stage-1 starts the learned transform is estimated through, each a
# candidate of its own (with a single loss given: that loss's). Bounded
# scores, no single-sample spikes. From one start the rounds can lock onto
# what that start got wrong: h2(z1) h2(z2) at d = 256, n = 8 d, seed 4
# reached 0.95 from the Huber start and 0.62 from the rank start, whose
# refinement and message passing then reached 0.06.
LEARNED_SEEDS = ("huber", "rank")


# the learned start is skipped when its seed start's Ritz values stand this
# far above their noise edge
LEARNED_GATE = 1.25


# With n_components="auto", a direction of the second-order start completes
# the first-order ones when it is more than 45 degrees from their span.
FILL_SINE = np.sqrt(0.5)


# Two refinements whose subspaces come this close (projection distance) are
# at the same point of the same objective: only the better one goes on. Of
# two refinements of different dimensions (n_components="auto"), the smaller
# subspace's distance to the larger counts (zero when the larger contains
# it): the larger one's spare directions are either unused by the link, when
# the smaller run is the better, or what it gains, when the larger is; the
# dimension search after the race (_choose_dimension) scores the winner's
# directions one by one and the directions its residuals ask for, so the
# other run is not needed for either. (h2+h2, d = 1024, n = 16 d: runs of 3
# and 4 directions containing the 2-direction leader to 0.0014 at step 4 had
# run on, flat, to step 15; the auto-dimension sweep's 72 fits: the same
# dimensions, one other winner, distance 0.012 -> 0.013.)
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


# A refinement that has run PRUNE_MIN_STEPS steps stops when its held-out
# loss has not fallen (by more than PRUNE_FLAT, relative) over its last
# PRUNE_WINDOW steps and stands more than PRUNE_GAP (relative) above the
# race's best: a patience of PRUNE_WINDOW steps instead of the refinement's
# own (15) for runs far behind. A run whose held-out loss still falls by
# more than that goes on however far behind it is (a plateau that flat for
# five steps stops even if it would escape later): near the onset the winner
# can be one that crawls out of a saddle for 200 steps (d = 64, h2*h2, n = 8 d, seed 1: from 0.29, 12 % behind, at step 13
# to 0.017; a forecast of its pace over 25 steps had stopped it). (d = 32,
# n = 4000, sum_{j<=6} tanh(z_j), n_components = 8: the seven runs took 378
# steps, 254 of them by runs that ended more than 35 % above the best.)
#
# A run behind the race's best (by more than PRUNE_TIE, relative) whose own
# best held-out loss has not improved for PRUNE_STALLED steps stops too, from
# its first steps on: the refinement's patience (n_iter_no_change) is for the
# leader, which may sit at a saddle; a run behind that has stopped improving
# cannot take the lead without a new best of its own. (On the real-data
# benchmark most runs past the first few steps were such runs: starts whose
# first step was their best, waiting out the patience of 15; ISLR Wage,
# fold 0: 165 steps in all, 122 with this rule, the same model.)
PRUNE_MIN_STEPS = 10
PRUNE_WINDOW = 5
PRUNE_FLAT = 1e-3
PRUNE_GAP = 0.02
PRUNE_TIE = 1e-9
PRUNE_STALLED = 5
#
# And a run still more than PRUNE_FAR_GAP (relative) above the race's best
# after PRUNE_FAR_STEPS steps stops, however steadily it falls: such a run
# started far off and crawls towards a subspace the leader has (ISLR
# Carseats, fold 0: a one-direction run from the mean's loss, 46 % behind at
# step 20 and 23 % behind when it stopped at step 59, 59 of the fit's 97
# steps). The saddle crawl above was 12 % behind at step 13. Measured with
# the rule: the onset benchmark's 130 skmim fits moved by at most 3e-4 in
# distance, the auto-dimension sweep's 72 by at most 1e-3 (two other
# winners, the same dimensions). After 10 steps instead of 20: the 24 fixed
# fits of the engine A/B (ten real-data sets at two folds, cost_in_r's r = 2
# and 8, h2+h2 and mixed3 at d = 64) took 1618 steps instead of 1780 with
# the same predictions, the onset benchmark's 130 fits moved by at most
# 9e-5, the auto-dimension sweep's 72 not at all; after 6 steps a run 25 %
# behind that would have won stopped (ISLR Hitters, fold 1: test R^2 0.81
# -> 0.68).
PRUNE_FAR_STEPS = 10
PRUNE_FAR_GAP = 0.25


def stalled_behind(descent, leader):
    """Whether ``descent`` stands behind the held-out loss ``leader`` with no better one of its
    own for ``PRUNE_STALLED`` steps."""
    return (descent.steps_since_best >= PRUNE_STALLED
            and descent.best_val > leader + PRUNE_TIE * abs(leader))


def _cannot_catch_up(descent, leader):
    """Whether ``descent`` stops, behind the race's best held-out loss ``leader`` (``PRUNE_*``)."""
    val = descent.history["val_loss"]
    if not math.isfinite(leader):
        return False
    if stalled_behind(descent, leader):
        return True  # behind, and no better held-out loss for PRUNE_STALLED steps
    if len(val) >= PRUNE_FAR_STEPS and descent.best_val > (1 + PRUNE_FAR_GAP) * leader:
        return True  # still far behind after PRUNE_FAR_STEPS steps
    if len(val) < max(PRUNE_MIN_STEPS, PRUNE_WINDOW + 1):
        return False
    now, before = min(val), min(val[:-PRUNE_WINDOW])
    return now - leader > PRUNE_GAP * abs(leader) and before - now <= PRUNE_FLAT * abs(now)


def _mergeable(descents, baseline, weights):
    """Which pairs of ``descents`` stand at one point or fit one function (R x R, NumPy bool).

    ``[a, b]`` is True when their subspaces are closer than
    ``MERGE_DISTANCE`` (projection distance, as
    :func:`._layerwise._projection_distance`; for different dimensions the
    smaller subspace's distance to the larger, ``sqrt(1 - |V_a^T V_b|_F^2 /
    min(k_a, k_b))``, zero when one contains the other) or their held-out predictions
    differ (half the weighted mean squared difference) by less than
    ``MERGE_FUNCTION`` times ``min(baseline - best, best)``, ``best`` the
    smaller of their best held-out losses and ``baseline`` the mean's. All
    pairs from one product of the stacked bases and one of the stacked
    predictions: a race checks every pair after every step.
    """
    R = len(descents)
    if R < 2:
        return np.zeros((R, R), dtype=bool)
    widths = [descent.V.shape[1] for descent in descents]
    S = torch.cat([descent.V for descent in descents], dim=1)
    cuts = np.cumsum([0] + widths[:-1])
    overlaps = (S.T @ S).square().cpu().numpy()
    overlaps = np.add.reduceat(np.add.reduceat(overlaps, cuts, axis=0), cuts, axis=1)
    k = np.asarray(widths, dtype=float)
    # the smaller subspace's distance to the larger (the projection distance
    # when the dimensions are equal): zero when one contains the other
    distance = np.sqrt(np.maximum(1.0 - overlaps / np.minimum(k[:, None], k[None, :]), 0.0))
    same = distance < MERGE_DISTANCE
    known = [i for i, descent in enumerate(descents) if descent.heldout_predictions is not None]
    if len(known) > 1:
        P = torch.stack([descents[i].heldout_predictions.reshape(len(weights), -1)
                         for i in known])
        diff = torch.stack([((P - P[a]) ** 2).sum(dim=2) @ weights for a in range(len(known))])
        diff = 0.5 * diff.cpu().numpy() / float(weights.sum())
        best = np.array([descents[i].best_val for i in known])
        best = np.minimum(best[:, None], best[None, :])
        scale = np.minimum(baseline - best, best)
        close = (scale > 0) & (diff < MERGE_FUNCTION * scale)
        same[np.ix_(known, known)] |= close
    np.fill_diagonal(same, False)
    return same


def _fit_refined(s1, train, valid, final, everything, losses, cfg, seed, callback,
                 row_keys=None, all_gram=None):
    """Stage 1 with each candidate loss, each refined; the best on ``valid`` kept.

    The held-out loss after refinement tells a start that converged from one
    stuck at a saddle far more reliably than any spectral score (at d = 64,
    ``h2+h2``, n = 4 d it was 0.03 for the start that reached distance 0.10
    and 0.38 for the one that stayed at 0.50), so every loss is tried. The
    refinements run in lockstep, one step each, sharing their passes over
    the rows (:func:`._grassmann.step_together`); all of them minimize the same
    function of the subspace, so when two reach the same subspace (projection
    distance below ``MERGE_DISTANCE``), or one's subspace contains the
    other's (:func:`_mergeable`), the one with the larger held-out loss
    stops there (``SubspaceFit.selection`` keeps its score), and so does a
    run far behind the best whose held-out loss stopped falling
    (:func:`_cannot_catch_up`). With
    ``cfg["first_order"]`` the sliced-inverse-regression start joins the
    candidates (:func:`_sliced_start`), with ``cfg["learned"]`` the start of
    the learned label transform (:func:`_learned_start`, from each start of
    ``LEARNED_SEEDS``). Where a learned start ran, the race's best
    refinement is followed by message passing with a learned channel and a
    refinement from its estimate (:func:`_amp_refinement`), kept when its
    held-out loss is smaller by more than ``AMP_MARGIN``. A kept, confirmed refinement is continued on
    ``everything`` (:func:`_polish`).

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
    ``row_keys`` order ``everything``'s rows for that null. ``all_gram``
    (``(G, T)``, see :func:`._api._fit_network`) is the Gram matrix of
    ``everything``'s rows, ``train``'s and ``valid``'s together, for
    :func:`_linear_model` and for the training rows' plain second moment,
    from which stage 1 derives the Huber and absolute losses' matrices
    (:class:`._layerwise.SharedSecondMoments`).
    """
    runs = []
    known = None if all_gram is None or valid is None else _KnownGram(all_gram, train, valid)
    moments = SharedSecondMoments(s1, None if known is None or s1 is not train
                                  else known.train_second_moment)

    def add_run(name, fit, gen, tag):
        if cfg["n_components"] is None and fit.n_components > RACE_MAX_COMPONENTS:
            # the held-out search after the race grows the dimension where needed
            fit.subspace = fit.subspace[:, :RACE_MAX_COMPONENTS]
            fit.n_components = RACE_MAX_COMPONENTS
        V0 = torch.as_tensor(fit.subspace).to(s1.device, s1.dtype)
        runs.append((name, fit, gen, _descent(train, valid, V0, cfg, callback, tag)))

    starts = {}  # the losses' common initial draws (_stage1)
    for name in losses:
        fit, state = _stage1(s1, name, cfg, seed, callback, limit=True, moments=moments,
                             starts=starts, defer_records=True)
        if fit is not None:
            # with several candidates the progress lines name the loss
            add_run(name, fit, state[1], {"loss": name} if len(losses) > 1 else None)
    moments.release()
    if cfg.get("learned", False):
        fits = {name: fit for name, fit, _, _ in runs}
        for name in [name for name in LEARNED_SEEDS if name in fits] or list(fits)[:1]:
            fit = _learned_start(s1, fits[name], callback)
            if fit is not None:
                add_run(LEARNED, fit, torch.Generator().manual_seed(int(seed)),
                        {"loss": f"{LEARNED} from {name}"})
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
        step_together([run[3] for run in active])
        active = [run for run in active if not run[3].done]
        same = _mergeable([run[3] for run in active], baseline, heldout_weights)
        for (i, a), (j, b) in itertools.combinations(list(enumerate(active)), 2):
            # by identity: two learned starts share a name
            if same[i, j] and any(r is a for r in active) and any(r is b for r in active):
                worse = b if b[3].best_val >= a[3].best_val * (1 - 1e-9) else a
                active = [r for r in active if r is not worse]
                worse[3].release()
                if callback is not None:
                    callback("refine_merged", {"loss": worse[0], "into": (a if worse is b else b)[0],
                                               "step": worse[3].n_iter})
        leader = min(run[3].best_val for run in runs)
        for run in list(active):
            if _cannot_catch_up(run[3], leader):
                active = [r for r in active if r is not run]
                run[3].release()
                if callback is not None:
                    callback("refine_pruned", {"loss": run[0], "step": run[3].n_iter,
                                               "val_loss": run[3].best_val, "best": leader})
    scores, best = {}, None
    for name, fit, gen, descent in runs:
        _store_refinement(fit, descent)
        # the learned starts share a name: the better score stands for them
        scores[name] = min(scores.get(name, math.inf), descent.best_val)
        if best is None or descent.best_val < best[0] - 1e-9 * abs(best[0]):
            best = (descent.best_val, fit, gen, descent)
    best_val, fit, gen, descent = best
    if any(name == LEARNED for name, _, _, _ in runs):
        confirmed = confirmation_z(descent, train, cfg["huber_delta"]) < -CONFIRM_Z
        found = _amp_refinement(train, valid, fit, descent.result()[0], confirmed, cfg,
                                callback)
        if found is not None:
            scores[AMP] = found[1].best_val
            kept = found[1].best_val < (1.0 - AMP_MARGIN) * best_val
            if callback is not None:
                callback("amp_result", {"gained": True, "val_loss": found[1].best_val,
                                        "race_val_loss": best_val, "kept": kept})
            if kept:
                fit, descent = found
                best_val = descent.best_val
    linear = None
    if cfg["n_components"] is None:
        linear = _linear_model(train, valid, cfg, known)
        # forward: a dimension found larger is refined and searched again from there
        while True:
            k = fit.n_components
            fit, descent = _choose_dimension(fit, descent, train, valid, cfg, callback, linear)
            if fit.n_components <= k:
                break
        best_val = descent.best_val
    fit.selection = scores
    fit.refined = True
    z = confirmation_z(descent, train, cfg["huber_delta"])
    if linear is not None:
        z = _linear_if_as_good(fit, descent, linear, callback, z)
    fit.heldout = (best_val, baseline, z)
    if everything is not None:
        if not z < -CONFIRM_Z:
            # the given loss (fit.loss may be "linear", which has no spectrum)
            name = "huber" if len(losses) > 1 and "huber" in losses else losses[0]
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


class _KnownGram:
    """What follows from ``all_gram`` (``(G, T)``, ``T^T G T`` the weighted Gram matrix of
    ``train``'s and ``valid``'s rows together), each piece computed once.

    :meth:`total` is ``T^T G T``; :meth:`heldout` the held-out rows'
    :func:`._ridge.column_moments`;
    :meth:`train_second_moment` the training rows' ``sum_i w_i x_i x_i^T /
    sum_i w_i``, the first minus the second's block: stage 1
    (:class:`._layerwise.SharedSecondMoments`) and the linear model
    (:func:`_linear_model`) share the pass.
    """

    def __init__(self, all_gram, train, valid):
        self._all_gram, self.train, self.valid = all_gram, train, valid
        self._total = self._heldout = None

    def total(self):
        if self._total is None:
            G, T = self._all_gram
            self._total = T.T @ G @ T
        return self._total

    def heldout(self):
        if self._heldout is None:
            self._heldout = column_moments(self.valid)
        return self._heldout

    def train_second_moment(self):
        P = gram_without(self.total(), self.heldout())
        P /= self.train.weight_sum
        return torch.from_numpy(symmetrize_(P))


def _linear_model(train, valid, cfg, known=None):
    """The ridge regression on all columns (penalty by GCV) and its held-out Huber gains.

    With ``known`` (a :class:`_KnownGram` of ``train`` and ``valid``) the
    training Gram matrix is the Gram matrix of all rows minus ``valid``'s
    (:func:`moments_from_gram`): a pass over the
    held-out rows and a thin one over the training rows instead of a
    ``n d^2`` pass over them (h2+h2, d = 1024, n = 16 d, one thread: 0.72-0.75
    -> 0.48-0.58 CPU s; the rest is the ``d x d`` eigendecomposition and
    ``T^T G T``).

    Returns a dict: ``coef`` (d,), ``gain`` (per held-out sample: its Huber
    loss minus that of predicting the training centre, float64 NumPy), the
    held-out ``weights`` and the ``center`` and ``delta`` of that loss (:func:`_heldout_reference`),
    for :func:`_linear_z`.
    """
    center, delta = _heldout_reference(train, cfg["huber_delta"])
    if known is None:
        res = ridge_gcv(train, lambda X: X, train.n_features)
    else:
        res = ridge_from_moments(moments_from_gram(train, valid, known.total(), known.heldout()),
                                 train.n_features, train.weight_sum)
    coef, intercept = res["coef"].to(train.dtype), res["intercept"]
    gain, weights = huber_gains(valid.map(lambda Xc, yc, wc: (Xc @ coef + intercept, yc, wc)),
                                center, delta)
    return {"coef": coef, "gain": gain, "weights": weights, "center": center, "delta": delta,
            "compared": None}


def _linear_z(linear, descent):
    """Paired z-score of the linear model's held-out Huber loss minus ``descent``'s best state's.

    Below 1: the linear model (:func:`_linear_model`) predicts the held-out
    samples within one standard error as well as the refinement, and
    :func:`_linear_if_as_good` keeps it. The last comparison is kept in
    ``linear`` (with the finished descent it was made with): the dimension
    search and the comparison after it ask about the same descent when the
    search refines nothing.
    """
    if linear["compared"] is None or linear["compared"][0] is not descent:
        model_gain, w = descent.heldout_gain(linear["center"], linear["delta"])
        linear["compared"] = (descent, paired_z(linear["gain"] - model_gain, w))
    return linear["compared"][1]


def _keeps_linear(linear, z):
    """Whether a comparison of z-score ``z`` (:func:`_linear_z`) keeps the linear model."""
    return z < 1.0 and float(linear["coef"].norm()) > 0


def _linear_as_good(linear, descent):
    return _keeps_linear(linear, _linear_z(linear, descent))


def _linear_if_as_good(fit, descent, linear, callback, z):
    """``n_components="auto"``: the linear model instead, when it predicts as well.

    A ridge regression on all columns (penalty by GCV, :func:`_linear_model`)
    is the one-index model with a linear link. When its held-out Huber loss
    is within one standard error of the best refinement's (paired per-sample
    differences, :func:`_linear_z`), the simpler model is kept: ``fit``
    becomes that direction with a linear outer layer (``loss == "linear"``,
    ``refined`` False). Returns the confirmation z-score of the model kept
    (:func:`confirmation_z`).
    """
    better = _linear_z(linear, descent)
    if callback is not None:
        callback("linear_compared", {"z": better})
    if not _keeps_linear(linear, better):
        return z
    coef = linear["coef"]
    fit.subspace = sign_flip(_numpy(coef / coef.norm())[:, None])
    fit.n_components, fit.loss, fit.refined = 1, LINEAR, False
    # the linear model is fitted in closed form; the steps counted are those
    # of the refinement it was compared with
    fit.refine_history, fit.refine_iter, fit.first_layer = None, descent.n_iter, None
    fit.hit_max_iter = False
    return paired_z(linear["gain"], linear["weights"])


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
# and one whose held-out loss is within this much of the best (on the scale of
# the standardized targets, whose mean's loss is about 0.5): the rounding of a
# noise-free fit (h2 of one direction: 1.9e-13 at r = 2 against 1.8e-13 at
# r = 1, and r = 2 was kept)
DIMENSION_ATOL = 1e-9


# One dimension less than the choice, when its unrefined held-out loss is
# within this fraction of the best, is refined and scored again.
SMALLER_RTOL = 0.25


# The dimension search goes up to the dimension whose full tensor Hermite
# basis has at most this many functions (r = 8 at degree 4); the basis it
# fits is bounded by MAX_LINK_BASIS (_grassmann.py) below that.
MAX_SEARCH_BASIS = 500


def residual_directions(train, residuals, V, cfg, count, n_iter=4, extra=4):
    """Directions outside ``span(V)`` along which the residuals still depend on ``x``.

    Stage 1 on the ``residuals`` of a fit on ``train``: the Huber scores
    ``s`` of the residuals give the first-order direction ``E[s x]`` and the
    second-moment matrix ``E[s x x^T]``, both restricted to the orthogonal
    complement of ``V`` (Ritz vectors of the block Krylov space of
    ``count + extra`` random vectors, ``n_iter + 1`` products,
    :func:`._layerwise.krylov_ritz`). Returns ``(directions, ratios)``: unit columns and their
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
    p = max(1, min(count + extra, d - V.shape[1]))
    gen = torch.Generator().manual_seed(0)
    B = outside(torch.randn(d, p, generator=gen, dtype=torch.float64).to(V))
    vals, vecs = krylov_ritz(SecondMoment(samples), B, n_iter, outside, max_dim=d - V.shape[1])
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


def _choose_dimension(fit, descent, train, valid, cfg, callback, linear=None):
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
    it too. With ``linear`` (:func:`_linear_model`), a dimension not larger
    than the best refinement's is not refined when the linear model is as
    good as that refinement (:func:`_linear_as_good`): the linear model is
    kept then. Returns the fit and its descent.
    """
    V, _ = descent.result()
    k = V.shape[1]
    fit.n_components = k
    degree = cfg["degree"]
    leader = descent.best_val
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
                or mean <= best[1] * (1.0 + DIMENSION_RTOL) + DIMENSION_ATOL)

    chosen = next(j for j in sorted(losses) if j == best[0] or as_good(losses[j], means[j]))
    fit.dimension_scores = means
    if callback is not None:
        callback("dimension_chosen", {"n_components": chosen, "refined": k,
                                      "scores": fit.dimension_scores})

    if chosen <= k and linear is not None and _linear_as_good(linear, descent):
        # the linear model predicts as well as the best refinement (by the
        # comparison _linear_if_as_good makes after the search) and will be
        # kept over it: a smaller dimension is not refined. (AER
        # CollegeDistance, fold 0: a refinement of more than 60 steps, a
        # third of the fit, before the linear model was kept.)
        return fit, descent

    def refined(j):
        # as a start behind in the race (PRUNE_STALLED): behind the best
        # refinement's held-out loss and no better one of its own for
        # PRUNE_STALLED steps, it stops (its best state stands). (Auto MPG,
        # folds 1 and 3: runs whose first step was their best, which waited
        # out the patience of 15.)
        return _run(_descent(train, valid, B[:, :j], cfg, callback, {"loss": f"r={j}"}),
                    lambda run: stalled_behind(run, leader))

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


def in_order_of(S, F):
    """An orthonormal basis of ``span(S)`` that follows the columns of ``F`` in their order.

    Gram-Schmidt of the columns' projections onto ``span(S)`` (the QR
    factorization of ``S^T F``): a start's directions, strongest first.
    ``S`` (orthonormal columns) comes from an SVD, whose singular vectors
    are arbitrary within tied singular values; the sliced start's
    completion (the part of the Huber start's ``F`` outside the first-order
    ``span(V)``) ties exactly when ``F`` is orthonormal with more columns
    than ``V``: all its singular values are 1 but ``V``'s count. The
    refinement's link basis beyond ``MAX_LINK_BASIS`` functions limits
    interactions and is not invariant to rotations within the subspace, so
    that arbitrary basis chose the trajectory (``cost_in_r``'s
    ``n_components=6``: a rounding-level change elsewhere gave the same
    projector to 10 digits in another basis, and test R^2 0.9839 instead of
    0.9887). The result depends on ``span(S)`` and ``F`` only, up to the
    signs of its columns (which ``sign_flip`` fixes).
    """
    if S.shape[1] == 0:
        return S
    Q, _ = torch.linalg.qr(S.T @ F)
    return S @ Q[:, :S.shape[1]]


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
        V = torch.cat([V, in_order_of(U[:, :extra], F)], dim=1)
    elif k > count:
        V = V_all[:, :k]
    if callback is not None:
        callback("sliced_start", {"signal": count, "completed": V.shape[1] - count})
    return SubspaceFit(loss=SLICED, subspace=sign_flip(_numpy(V)), n_components=V.shape[1],
                       spectrum=spectrum, noise_level=edge, degenerate=False,
                       history={key: [] for key in STAGE1_RECORDS})
