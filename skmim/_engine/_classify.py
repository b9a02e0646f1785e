"""Classification: the subspace of a multi-index classifier and its logistic outer layer.

Labels arrive as class codes ``0 .. K-1``. The subspace is learned from the
class indicators ``Y_ik = 1{y_i = k}`` (one column for two classes): their
conditional means ``P(y = k | x)`` are functions of ``U^T x``, so ``U`` is the
subspace in which a link of ``U^T x`` predicts the labels best, and the
refinement of the regressor applies under the log loss
(:class:`._grassmann.GrassmannDescent` with :class:`._grassmann.LogLoss`:
a logistic or softmax link on the Hermite basis, the targets an indicator
column or one-hot rows); its held-out score is the half Brier score of the
link's probabilities.

- *Start* (solver "refined"): from ``S = sum_k M_k M_k / p_k`` plus
  ``sum_k p_k mu_k mu_k^T``, ``M_k = E[(Y_k - p_k) x x^T]`` (the stage-1
  matrix of the squared loss for output ``k``, which the first layer of a
  ``K``-output network follows from its tiny symmetric initialization) and
  ``mu_k = E[x | y = k]`` (the first-order part, as in sliced inverse
  regression with the classes as slices). On standardized inputs these are
  the SAVE and SIR matrices of Cook and Weisberg (1991) and Li (1991), so
  both first- and second-order signal of the classes is seen. The SIR
  directions above their noise edge come first, then the top eigenvectors
  of ``S`` orthogonal to them (the SAVE part is unbounded in heavy-tailed
  columns and would otherwise crowd them out).
- *Dimension* (``n_components=None``): nested candidates from the start's
  directions, from as many as there are first-order directions above their
  noise edge (at least one), each refined from the previous one plus the
  next direction, until one fails to lower the held-out Brier score; the
  smallest within one standard error of the best is kept.
- *Outer layer*: random ReLU neurons spread uniformly in the subspace and
  the projections (:func:`._network.subspace_features`), then an
  L2-penalized logistic (two classes) or softmax regression, a convex
  problem solved by L-BFGS; its penalty is chosen by held-out log loss on a
  grid, then refitted on all samples.
"""

import numpy as np
import torch

from ._common import SubspaceFit, _numpy, _refine, best_of_starts, device_info, random_starts
from ._data import back_project, samples_of
from ._device import cpu_threads, without_autograd
from ._grassmann import LogLoss, link_heldout_losses, ordered_by_link
from ._layerwise import DENSE_MAX_FEATURES, SecondMoment
from ._logistic import LogisticProblem, fit_logistic, log_losses
from ._network import subspace_features
from ._solver_refined import stalled_behind
from ._stats import paired_z, sign_flip

# the largest dimension tried by n_components="auto" (C(6 + 4, 4) = 210 Hermite
# functions per link at the default degree 4)
MAX_AUTO_COMPONENTS = 6
# subspace iteration of the start operator when d exceeds DENSE_MAX_FEATURES
START_ITERATIONS = 40
# logistic penalty grid, relative to the mean variance of the features
LOGISTIC_ALPHA_GRID = np.logspace(-6.0, 0.0, 7)
# the fits along the penalty path only rank penalties by held-out log loss:
# a looser tolerance (the final fit on all samples uses _logistic.LBFGS_TOLERANCE)
PATH_TOLERANCE = 1e-4
# the penalty path stops after this many values without a better held-out loss
# (the held-out log loss is unimodal in alpha in practice; the weak-penalty
# fits, near separation, are the slow ones)
PATH_PATIENCE = 1
# the penalty kept: the strongest whose held-out log loss is within this many
# standard errors of the best one
PENALTY_SE = 1.0
# first-order start directions: SIR eigenvalues above this many noise edges
FIRST_ORDER_MARGIN = 1.5
# the refinement's loss: the log loss of links read as logits
CLASS_LOSS = LogLoss()


def indicators(codes, n_classes):
    """Class-indicator targets: ``1{y = 1}`` (n,) for two classes, else one-hot (n, K)."""
    codes = np.asarray(codes).astype(np.int64)
    if n_classes == 2:
        return (codes == 1).astype(np.float64)
    return np.eye(n_classes)[codes]


def class_moment_operator(samples):
    """The start matrix ``S`` as a map ``V -> S V`` (see the module docstring).

    ``samples`` serves standardized rows with indicator targets. Returns the
    map and the ``d x d`` matrix when ``d <= DENSE_MAX_FEATURES`` (else None:
    each product streams the rows, ``O(n d k K)``).
    """
    d = samples.n_features
    Y = samples.targets if samples.targets.ndim == 2 else samples.targets[:, None]
    p = samples.weights @ Y / samples.weight_sum
    dense = d <= DENSE_MAX_FEATURES
    # mu_k p_k = E[x Y_k]: one pass over the rows
    first = samples.reduce(
        lambda Xc, yc, wc: back_project(Xc, wc[:, None] * (yc[:, None] if yc.ndim == 1 else yc)))
    first = first / samples.weight_sum  # (d, K): columns p_k mu_k
    dt, dev = first.dtype, first.device
    moments = [SecondMoment(samples.with_targets(Y[:, k] - p[k]), dense=dense)
               for k in range(Y.shape[1])]
    # with one indicator column (two classes) M_0 = -M_1, and the two SAVE terms add
    # up to M_1^2 (1/p_1 + 1/(1 - p_1)); the first-order terms to |p_1 mu_1|^2 / (p_1 (1 - p_1))
    # a class absent from these rows (p_k = 0) adds nothing
    with np.errstate(divide="ignore"):
        inverse = 1.0 / (p * (1.0 - p)) if Y.shape[1] == 1 else 1.0 / p
    weights = torch.as_tensor(np.where(np.isfinite(inverse), inverse, 0.0), dtype=dt, device=dev)

    def apply(V):
        out = first @ (weights[:, None] * (first.T @ V))
        for k, M in enumerate(moments):
            out = out + weights[k] * (M @ (M @ V))
        return out

    matrix = None
    if dense:
        eye = torch.eye(d, dtype=dt, device=dev)
        matrix = apply(eye)
        matrix = 0.5 * (matrix + matrix.T)
    return apply, matrix, first * weights.sqrt()


def first_order_directions(sir, samples, count):
    """The eigenvectors of the SIR matrix ``sir sir^T`` above its noise edge, at most ``count``.

    ``sir`` is (d, K): columns ``p_k mu_k / sqrt(p_k)`` (``/ sqrt(p(1 - p))``
    for two classes). With labels independent of ``x`` these are ``K - 1``
    independent Gaussian vectors of variance ``1 / n`` per coordinate (the
    columns sum to zero on centred rows), so ``sir sir^T`` is ``1 / n`` times
    a Wishart matrix, whose largest eigenvalue is close to
    ``(sqrt(d) + sqrt(K - 1))^2 / n``; ``n`` is the effective sample size
    ``(sum w)^2 / sum w^2``. Directions above ``FIRST_ORDER_MARGIN`` times
    that edge are kept, by decreasing eigenvalue.
    """
    d, K = sir.shape
    w = samples.weights
    n_eff = float(w.sum()) ** 2 / float((w * w).sum())
    edge = (np.sqrt(d) + np.sqrt(max(K - 1, 1))) ** 2 / n_eff
    U, sv, _ = torch.linalg.svd(sir, full_matrices=False)
    keep = int((sv * sv > FIRST_ORDER_MARGIN * edge).sum())
    return U[:, :min(keep, count)]


def class_moment_start(samples, count, generator):
    """``count`` start directions, the start matrix's Rayleigh quotients along them,
    and the number of first-order directions among them (the first ones).

    The first-order (SIR) directions above their noise edge come first
    (:func:`first_order_directions`), then the top eigenvectors of ``S``
    restricted to their orthogonal complement. ``S``'s second-order (SAVE)
    part is unbounded in heavy-tailed columns (a pixel that is non-zero in a
    handful of rows: the top eigenvectors of ``S`` on scikit-learn's digits
    were such columns, and the dimension search stopped at the class
    frequencies' score), while ``u^T (sir sir^T) u`` is at most the variance
    of ``u^T x`` (the between-class part of it).
    """
    apply, matrix, sir = class_moment_operator(samples)
    d = samples.n_features
    first = first_order_directions(sir, samples, count)
    rest = count - first.shape[1]

    def deflate(V):
        return V - first @ (first.T @ V)

    if rest > 0 and matrix is not None:
        P = deflate(torch.eye(d, dtype=matrix.dtype, device=matrix.device))
        vals, vecs = torch.linalg.eigh(P @ matrix @ P)
        order = torch.argsort(vals, descending=True)[:rest]
        second = vecs[:, order]
    elif rest > 0:
        # S is positive semi-definite: subspace iteration with a few extra columns
        q = min(d, rest + 8)
        V = torch.randn(d, q, generator=generator, dtype=torch.float64).to(samples.device,
                                                                           samples.dtype)
        for _ in range(START_ITERATIONS):
            V, _ = torch.linalg.qr(deflate(apply(deflate(V))))
        H = V.T @ deflate(apply(V))
        vals, vecs = torch.linalg.eigh(0.5 * (H + H.T))
        order = torch.argsort(vals, descending=True)[:rest]
        second = V @ vecs[:, order]
    else:
        second = first[:, :0]
    vecs = torch.cat([first, second], dim=1)
    return vecs, (vecs * apply(vecs)).sum(dim=0), first.shape[1]


def brier_reference(train, valid):
    """Held-out half Brier score of predicting ``train``'s class frequencies, per sample."""
    center = train.weights @ train.targets / train.weight_sum
    r = valid.targets - center
    return 0.5 * (r * r if r.ndim == 1 else (r * r).sum(axis=1))


def _heldout(train, valid, fit, degree):
    """Per held-out sample: half the Brier score of the logistic links on ``fit``'s subspace."""
    V = torch.as_tensor(fit.subspace).to(train.device, train.dtype)
    losses, _ = link_heldout_losses(train, valid, V, degree, loss=CLASS_LOSS)
    return losses


def _refined(V0, train, valid, cfg, callback, tag, leader=None):
    """One refinement to its stopping rule: ``(SubspaceFit, held-out losses, descent)``.

    With ``leader`` (the best held-out loss of another dimension's
    refinement) it stops earlier when behind it with no better held-out loss
    of its own for ``PRUNE_STALLED`` steps (:func:`stalled_behind`).
    """
    fit = SubspaceFit(loss="log_loss", subspace=None, n_components=V0.shape[1],
                      spectrum=np.zeros(0), noise_level=0.0, degenerate=False)
    stop = None if leader is None else (lambda descent: stalled_behind(descent, leader))
    _, descent = _refine(fit, V0, train, valid, cfg, callback, tag, stop)
    return fit, _heldout(train, valid, fit, cfg["degree"]), descent


def _orthogonal_next(V, v):
    """``v`` orthogonalized against ``V``'s columns and appended (twice, for rounding)."""
    for _ in range(2):
        v = v - V @ (V.T @ v)
    return torch.cat([V, v / v.norm().clamp_min(1e-300)], dim=1)


def _fit_refined_classes(train, valid, cfg, gen, callback):
    """The "refined" solver: class-moment start, refinement, dimension by held-out Brier score."""
    k = cfg["n_components"]
    limit = min(train.n_features, max(train.n_samples - 1, 1))
    count = min(k if k is not None else MAX_AUTO_COMPONENTS, limit)
    vecs, vals, n_first = class_moment_start(train, count, gen)
    spectrum = _numpy(vals)
    if k is not None:
        fit, losses, _ = _refined(vecs[:, :k], train, valid, cfg, callback, None)
        fit.spectrum = spectrum
        return fit, losses
    w = valid.weights
    best_fit, best_losses, scores, tried = None, None, {}, []
    V, leader = None, None
    # each first-order direction above its noise edge is evidence of one
    # dimension of the subspace: the search starts at their number
    for j in range(max(1, n_first), count + 1):
        V0 = vecs[:, :j] if V is None else _orthogonal_next(V, vecs[:, j - 1:j])
        fit, losses, descent = _refined(V0, train, valid, cfg, callback, {"loss": f"r={j}"},
                                        leader)
        leader = descent.best_val if leader is None else min(leader, descent.best_val)
        scores[j] = float(w @ losses / w.sum())
        tried.append((j, fit, losses))
        V, _ = descent.result()
        if best_losses is not None and not paired_z(losses - best_losses, w) < -1.0:
            break  # this dimension did not lower the held-out loss: stop growing
        if best_losses is None or scores[j] < scores[best_fit.n_components]:
            best_fit, best_losses = fit, losses
    # the smallest dimension within one standard error of the best
    for j, fit, losses in tried:
        if paired_z(losses - best_losses, w) < 1.0:
            chosen, chosen_losses = fit, losses
            break
    chosen.spectrum = spectrum
    chosen.dimension_scores = scores
    if callback is not None:
        callback("dimension_chosen", {"n_components": chosen.n_components, "scores": scores,
                                      "refined": best_fit.n_components})
    return chosen, chosen_losses


def _fit_random_starts(train, valid, cfg, gen, callback):
    """The "grassmann" solver: ``n_init`` random starts, the best on ``valid`` kept."""
    starts = random_starts(train.n_features, cfg, gen)
    fit, _, _ = best_of_starts(starts, train, valid, cfg, callback, "log_loss")
    return fit, _heldout(train, valid, fit, cfg["degree"])


def _outer_logistic(fit, train, valid, final, cfg, gen, callback):
    """Logistic outer layer on neurons in the subspace; penalty by held-out log loss."""
    V = torch.as_tensor(fit.subspace).to(final.device, final.dtype)
    width = cfg["width"]
    D, b, features = subspace_features(V, width, gen, cfg["bias_scale"], cfg["activation"])

    def table(samples):
        F = torch.cat(samples.map(lambda Xc, yc, wc: features(Xc)))
        Y = torch.as_tensor(samples.targets).to(samples.device, samples.dtype)
        w = torch.as_tensor(samples.weights).to(samples.device, samples.dtype)
        return F, Y, w

    scores = {}
    if cfg["alpha"] is None:
        problem = LogisticProblem(*table(train))
        Fv, Yv, _ = table(valid)
        scale = problem.mean_variance()
        alphas = (scale if scale > 0 else 1.0) * LOGISTIC_ALPHA_GRID
        state, best, since, path = None, None, 0, []
        # from the strongest penalty down, each fit warm-starting the next
        for alpha in alphas[::-1]:
            if since >= PATH_PATIENCE:
                break
            A, c, converged = problem.fit(float(alpha), state, PATH_TOLERANCE)
            if not converged and path:
                # too weak a penalty for L-BFGS to fit in its iterations (separable
                # classes: the weights grow without bound as alpha falls); the
                # final fit would not converge there either
                break
            state = (A, c)
            losses = log_losses(Fv @ A + c, Yv).double().cpu().numpy()
            score = float(valid.weights @ losses / valid.weight_sum)
            scores[float(alpha)] = score
            path.append((float(alpha), losses, state))
            if best is None or score < best[1] - 1e-9 * abs(best[1]):
                best, since = (float(alpha), score, losses), 0
            else:
                since += 1
        # the strongest penalty within one standard error of the best (the
        # one-standard-error rule): on a few dozen held-out rows the best
        # penalty's margin is noise, and the weaker penalty's fits are the
        # overconfident ones
        chosen = next(i for i, (a, loss, st) in enumerate(path)
                      if paired_z(loss - best[2], valid.weights) < PENALTY_SE)
        del problem, Fv
        # the final fit at the chosen penalty, or, where L-BFGS does not converge
        # there (separable classes, the weights growing as alpha falls: on
        # x_0 > 0 in d = 5 with 300 rows the chosen 3.6e-7 did not), at the
        # next stronger penalty of the path that converges
        # (none converging: the chosen penalty's fit, and the warning)
        rows = table(final)
        first = None
        for alpha, _, state in path[chosen::-1]:
            A, c, converged = fit_logistic(*rows, alpha, state)
            first = first or (alpha, A, c, converged)
            if converged:
                break
        else:
            alpha, A, c, converged = first
    else:
        alpha, state = float(cfg["alpha"]), None
        A, c, converged = fit_logistic(*table(final), alpha, state)
    fit.directions = _numpy(D)
    fit.biases = _numpy(b)
    A64 = A.double()
    fit.coef = _numpy(A64[:width])
    fit.linear = _numpy(V.double() @ A64[width:])
    fit.intercept = _numpy(c)
    fit.alpha = alpha
    fit.gcv = None
    fit.selection = {"log_loss": scores} if scores else {}
    fit.outer_converged = converged
    if callback is not None:
        callback("logistic_done", {"alpha": alpha, "scores": scores})
    return fit


def fit_classifier(parts, *, n_classes, solver="refined", device="cpu", dtype="auto",
                   batch_size=None, seed=0, callback=None, n_threads=None, **cfg):
    """Learn the subspace of a multi-index classifier and its logistic outer layer.

    Parameters
    ----------
    parts : dict
        NumPy triples ``(X, codes, w)`` keyed ``"train"``, ``"valid"`` and
        ``"all"`` (standardized rows, class codes ``0 .. n_classes - 1`` as
        integers or integral floats, relative weights).
    n_classes : int
        ``K >= 2``.
    solver : {"refined", "grassmann"}
        Start from the class moments (and choose the dimension when
        ``cfg["n_components"]`` is None) or from ``n_init`` random
        subspaces.
    **cfg
        ``n_components``, ``degree``, ``max_iter``, ``patience``,
        ``n_init``, ``width``, ``bias_scale``, ``activation``, ``alpha``
        (logistic penalty, None: by held-out log loss).

    Returns
    -------
    SubspaceFit
        ``coef`` (width, n_out), ``linear`` (d, n_out) and ``intercept``
        (n_out,), ``n_out = 1`` for two classes and ``K`` otherwise;
        ``heldout`` is (best held-out half Brier score, that of the class
        frequencies, paired z-score of the difference).
    """
    dev, dt = device_info(device, dtype)
    n, d = parts["all"][0].shape
    with cpu_threads(n_threads, n, d, solver), without_autograd(solver):
        cache = {}

        def samples(key):
            X, codes, w = parts[key]
            if id(parts[key]) not in cache:
                cache[id(parts[key])] = samples_of(X, indicators(codes, n_classes), w, dev,
                                                   dt, batch_size)
            return cache[id(parts[key])]

        train, valid, final = samples("train"), samples("valid"), samples("all")
        gen = torch.Generator().manual_seed(int(seed))
        cfg = dict(cfg, refine_loss=CLASS_LOSS)
        run = _fit_refined_classes if solver == "refined" else _fit_random_starts
        fit, losses = run(train, valid, cfg, gen, callback)
        fit.refined = True  # both solvers end in a refinement
        reference = brier_reference(train, valid)
        w = valid.weights
        fit.heldout = (float(w @ losses / w.sum()), float(w @ reference / w.sum()),
                       paired_z(losses - reference, w))
        # the subspace ordered by how much the fitted links vary along each direction
        V = torch.as_tensor(fit.subspace).to(dev, dt)
        fit.subspace = sign_flip(_numpy(ordered_by_link(train, V, cfg["degree"])))
        _outer_logistic(fit, train, valid, final, cfg, gen, callback)
    arrays = [fit.subspace, fit.directions, fit.biases, fit.coef, fit.linear, fit.intercept]
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise ValueError("training diverged: the fitted weights are not finite; use "
                         "dtype='float64'.")
    return fit

