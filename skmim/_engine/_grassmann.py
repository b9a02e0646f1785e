"""Two-timescale learning on the Grassmannian (Bietti, Bruna, Pillaud-Vivien).

The subspace is an orthonormal ``d x k`` matrix ``V``. The link is learned
"infinitely faster": at every step it is refitted on the projected inputs
``z = V^T x``, on the tensor Hermite basis of total degree ``degree``. Under
the squared loss (:class:`SquaredLoss`, the regressor) that is ridge
regression to optimality, penalty by generalized cross-validation; under the
log loss (:class:`LogLoss`, the classifier) a logistic or softmax regression
tracked by one Newton step per step. Then ``V`` takes a Riemannian gradient
step of the loss with the link held fixed, ``(I - V V^T) G``, preconditioned
by the damped Gauss-Newton matrix (:func:`_gauss_newton`) and, with enough
rows (``CONJUGATE_MIN_ROWS``), made conjugate to the last step
(:meth:`GrassmannDescent._conjugate`), with an Armijo line search, followed by
a QR retraction. Training stops when the score on
held-out samples has not improved for ``patience`` steps, when the subspace
has stopped moving (``MOVE_TOL``), or when no step along the Riemannian
gradient lowers the training loss (converged); the best subspace seen on the
held-out samples is returned.

Used both to refine the stage-1 subspace of the layer-wise network and, from
a random start, as a solver of its own.

Cost per step: the projections ``Z = X V`` of the training and held-out rows
are kept (``n x k``), so a step reads ``X`` twice (the gradient ``X^T M`` and
the projections ``X G`` of the search direction); every trial of the line
search is then ``O(n k^2)``, because the retraction ``qr(V - eta G) = Q R``
gives ``X Q = (Z - eta X G) R^{-1}``.
"""

import functools
import math

import numpy as np
import torch

from ._logistic import (NEWTON_MAX_PARAMETERS, LogisticProblem, log_losses, newton_logistic,
                        probabilities)
from ._ridge import ridge_from_chunks

LINK_ALPHA_GRID = np.logspace(-6.0, 2.0, 17)
# penalty of LogLoss's link (the mean log loss plus alpha |coef|^2 / 2 over the
# non-constant basis functions)
LOGISTIC_LINK_ALPHA = 2e-3
# its L-BFGS-B gradient tolerance (the link is refitted, warm-started, every step)
LOGISTIC_LINK_TOLERANCE = 1e-4
# L-BFGS-B iterations per Newton iteration of LogLoss.tracking_iter, for links
# too large for Newton's method
LBFGS_TRACKING_ITER = 10
_RTOL = 1e-9


# The most functions in the link's Hermite basis: the full tensor basis of
# total degree 4 up to k = 5 directions (126 functions); beyond, interactions
# are limited (:func:`multi_indices`), so that a step of the refinement costs
# about as much at k = 12 as at k = 5 instead of 15x more (1820 functions:
# the Gram matrix and its eigendecomposition grow as the square and the cube
# of the basis size).
MAX_LINK_BASIS = 126


def _full_indices(k, degree):
    """Exponent tuples of total degree <= ``degree``, in lexicographic order."""
    if k == 0:
        return [()]
    return [(p,) + rest for p in range(degree + 1) for rest in _full_indices(k - 1, degree - p)]


def _pair_indices(k, degree, pair_degree):
    """Tuples with one nonzero exponent (up to ``degree``) or two (summing to ``pair_degree``)."""
    out = [(0,) * k]
    for i in range(k):
        out += [(0,) * i + (p,) + (0,) * (k - i - 1) for p in range(1, degree + 1)]
        for j in range(i + 1, k):
            for a in range(1, pair_degree):
                for b in range(1, pair_degree - a + 1):
                    t = [0] * k
                    t[i], t[j] = a, b
                    out.append(tuple(t))
    return sorted(out)


def pair_basis_size(k, degree, pair_degree):
    """Size of :func:`_pair_indices`'s basis."""
    return 1 + k * degree + math.comb(k, 2) * (pair_degree - 1) * pair_degree // 2


def multi_indices(k, degree, max_size=None):
    """Exponent tuples of the link's tensor Hermite basis, in lexicographic order.

    All tuples of total degree <= ``degree`` when there are at most
    ``max_size`` of them (``None``: no limit). Otherwise the largest of
    these with at most ``max_size`` functions: every function of one
    coordinate up to ``degree`` and products of two coordinates up to a
    total degree ``pair_degree`` (from ``degree`` down to 2); when even the
    products ``z_i z_j`` exceed ``max_size``, the additive basis (functions
    of one coordinate, ``1 + k degree`` of them). Each set contains, with a
    tuple, every tuple below it, so derivatives stay in the basis.
    """
    if max_size is None or math.comb(k + degree, degree) <= max_size:
        return _full_indices(k, degree)
    pair_degree = next((t for t in range(degree, 1, -1)
                        if pair_basis_size(k, degree, t) <= max_size), 1)
    return _pair_indices(k, degree, pair_degree)


# the last level of a basis by broadcasting only with at least this many
# functions per product (one per degree of the left half): below, the
# operations' fixed costs outweigh the two gathers saved (one thread,
# degree 4: k = 2, 15 functions in 5 products, 600 rows: 54 us against 31
# gathered; k = 4, 70 in 5, 2400 rows: 289 against 500)
BROADCAST_MIN_ROWS = 8

def _split_plan(indices, device):
    """How to build the values of the functions ``indices`` from the univariate table.

    The coordinates are split in two halves; the tuples restricted to each
    half (a downward-closed set again) are built the same way, recursively,
    down to single coordinates (their rows of the table, ``h_0 .. h_P``),
    and listed by total degree. Within a half, each tuple is the product of
    its two restrictions, gathered (two row gathers and one product). The
    whole set, the last level, is built without gathers where it can: for
    a full total-degree set, the functions with a left part of degree ``t``
    pair each left row of degree ``t`` with the right rows of degree at
    most ``P - t``, a prefix of the right half's list, so one broadcast
    product per left degree writes them, where building the set one
    coordinate at a time gathered twice and multiplied at every level (one
    thread, degree 4, 2400 rows: k = 4, 70 functions, 0.49-0.50 -> 0.29-0.30
    ms per evaluation; k = 5, 126 functions, 1.8 -> 0.5 ms). Where the right
    rows of some left row are not a prefix (limited interactions), or the
    products would be too many for their size (``BROADCAST_MIN_ROWS``), the
    last level is gathered too.

    Returns ``(order, plan)``: the tuples in the order of the built rows
    (the constant first) and the plan :func:`_evaluate_plan` follows.
    """
    full = sorted(indices, key=_by_degree)
    if len(full[0]) == 1:
        return full, _rows_plan(full, device)
    cut = len(full[0]) // 2
    left = sorted({t[:cut] for t in full}, key=_by_degree)
    right = sorted({t[cut:] for t in full}, key=_by_degree)
    members = set(indices)
    # the last level by broadcasting: consecutive left rows whose right rows
    # are the same prefix of the right list form one block
    blocks, order = [], []
    for i, a in enumerate(left):
        allowed = [b for b in right if a + b in members]
        c = len(allowed)
        if allowed != right[:c]:
            return full, _rows_plan(full, device)
        if blocks and blocks[-1][2] == c:
            blocks[-1][1] = i + 1
        else:
            blocks.append([i, i + 1, c])
        order += [a + b for b in allowed]
    if len(order) < BROADCAST_MIN_ROWS * len(blocks):
        return full, _rows_plan(full, device)
    return order, ("broadcast", _rows_plan(left, device), _rows_plan(right, device, cut),
                   [tuple(b) for b in blocks], len(order))


def _by_degree(a):
    return (sum(a), a)


def _rows_plan(tuples, device, first=0):
    """A plan whose rows are the functions ``tuples`` (of coordinates ``first`` on), in that order.

    One coordinate: its rows of the univariate table. More: the product of
    the plans of the two halves of the coordinates (the tuples restricted to
    each, listed by total degree), gathered row by row.
    """
    k = len(tuples[0])
    if k == 1:
        powers = [t[0] for t in tuples]
        if powers == list(range(len(powers))):
            return ("row", first, len(powers))
        return ("take", first, torch.tensor(powers, device=device, dtype=torch.long))
    cut = k // 2
    left = sorted({t[:cut] for t in tuples}, key=_by_degree)
    right = sorted({t[cut:] for t in tuples}, key=_by_degree)
    li = {a: i for i, a in enumerate(left)}
    ri = {b: i for i, b in enumerate(right)}
    return ("gather", _rows_plan(left, device, first), _rows_plan(right, device, first + cut),
            torch.tensor([li[t[:cut]] for t in tuples], device=device, dtype=torch.long),
            torch.tensor([ri[t[cut:]] for t in tuples], device=device, dtype=torch.long))


def _evaluate_plan(plan, table):
    """The rows of :func:`_split_plan`'s ``plan`` from the univariate ``table`` (k, P + 1, n)."""
    kind = plan[0]
    if kind == "row":
        return table[plan[1], :plan[2]]
    if kind == "take":
        return table[plan[1]].index_select(0, plan[2])
    left, right = _evaluate_plan(plan[1], table), _evaluate_plan(plan[2], table)
    if kind == "gather":
        return left.index_select(0, plan[3]).mul_(right.index_select(0, plan[4]))
    n = table.shape[-1]
    if torch.is_grad_enabled() and (left.requires_grad or right.requires_grad):
        return torch.cat([(left[a:b, None, :] * right[None, :c, :]).reshape(-1, n)
                          for a, b, c in plan[3]])
    out = torch.empty(plan[4], n, dtype=table.dtype, device=table.device)
    start = 0
    for a, b, c in plan[3]:
        stop = start + (b - a) * c
        torch.mul(left[a:b, None, :], right[None, :c, :], out=out[start:stop].view(b - a, c, n))
        start = stop
    return out


class HermiteBasis:
    """``phi_alpha(z) = prod_j h_{alpha_j}(z_j)`` and its gradient in ``z``.

    Since ``h_p' = sqrt(p) h_{p-1}``, the derivative of ``phi_alpha`` in
    ``z_j`` is ``sqrt(alpha_j) phi_{alpha - e_j}``, another element of the
    basis; the gradient of a link ``g = Phi coef`` is therefore ``Phi C``
    with a ``B x k`` matrix ``C`` built from ``coef`` (:meth:`link_gradient`).
    """

    def __init__(self, k, degree, device, dtype, max_size=MAX_LINK_BASIS):
        self.k, self.degree = k, degree
        indices = multi_indices(k, degree, max_size)
        self.size = len(indices)
        # how the table of values is built: for few interacting coordinates,
        # each function as the product of its factors h_{alpha_j}(z_j),
        # alpha_j > 0, gathered from the table of univariate values (the bases
        # beyond MAX_LINK_BASIS have at most two factors); otherwise from the
        # values on two halves of the coordinates (:func:`_split_plan`); the
        # former where it multiplies fewer rows than building the set one
        # coordinate at a time would
        order = max(sum(p > 0 for p in a) for a in indices)
        self._plan, self._factors = None, None
        if order * self.size < sum(len({a[:j + 1] for a in indices}) for j in range(k)):
            # functions listed by their number of factors (lexicographic within),
            # so that those with an m-th factor are the last rows: a factor is
            # gathered and multiplied only where there is one (k = 8, n = 3200,
            # one thread, with the table of _univariate: 0.90 -> 0.68 ms per
            # evaluation of the 117 functions)
            indices = sorted(indices, key=lambda a: sum(p > 0 for p in a))
            rows = [[j * (degree + 1) + p for j, p in enumerate(a) if p > 0] for a in indices]
            # the first factor of every function (0, the row of h_0 = 1, for the
            # constant), then the m-th of those with m factors or more: the rows
            # from ``first`` on
            self._factors = [(0, torch.tensor([r[0] if r else 0 for r in rows], device=device,
                                              dtype=torch.long))]
            for m in range(1, order):
                first = next(i for i, r in enumerate(rows) if len(r) > m)
                self._factors.append((first, torch.tensor([r[m] for r in rows[first:]],
                                                          device=device, dtype=torch.long)))
        else:
            indices, self._plan = _split_plan(indices, device)
        self.alpha = torch.tensor(indices, device=device, dtype=torch.long)
        # derivative map: D[j, index(alpha - e_j), b] = sqrt(alpha_bj)
        position = {a: i for i, a in enumerate(indices)}
        D = torch.zeros(k, self.size, self.size, dtype=dtype)
        for b, a in enumerate(indices):
            for j in range(k):
                if a[j] > 0:
                    lower = a[:j] + (a[j] - 1,) + a[j + 1:]
                    D[j, position[lower], b] = math.sqrt(a[j])
        self._derivative = D.to(device)

    def _univariate(self, Z):
        # T[j (P+1) + p, i] = h_p(Z[i, j]), h_{p+1} = (z h_p - sqrt(p) h_{p-1}) / sqrt(p + 1);
        # samples last, so that gathering rows copies contiguous memory. Two
        # operations per degree, written in place into the table through views
        # of its degrees (assembling it from separate rows, as autograd needs,
        # took up to twice as long: n = 3200, k = 8, one thread, 270 -> 127 us;
        # k = 1: 36 -> 35 us)
        n, k = Z.shape
        P = self.degree
        if torch.is_grad_enabled() and Z.requires_grad:
            Zt = Z.T
            H = [torch.ones_like(Zt), Zt]
            for p in range(1, P):
                H.append(torch.addcmul(H[p - 1] * (-math.sqrt(p / (p + 1))), Zt, H[p],
                                       value=1.0 / math.sqrt(p + 1)))
            return torch.stack(H[: P + 1], dim=1).reshape(k * (P + 1), n)
        T = torch.empty(k, P + 1, n, dtype=Z.dtype, device=Z.device)
        H = T.unbind(1)
        H[0].fill_(1.0)
        if P >= 1:
            H[1].copy_(Z.T)
        for p in range(1, P):
            torch.mul(H[p - 1], -math.sqrt(p / (p + 1)), out=H[p + 1])
            H[p + 1].addcmul_(H[1], H[p], value=1.0 / math.sqrt(p + 1))
        return T.view(k * (P + 1), n)

    def values(self, Z):
        """``Phi`` of shape (n, B)."""
        if self._factors is not None:
            table = self._univariate(Z)
            # the constant (no factor) first, then one factor each, then two...
            # (row 0 of the table, h_0 = 1, stands for the constant's missing factor)
            T = table.index_select(0, self._factors[0][1])
            for first, rows in self._factors[1:]:
                T[first:].mul_(table.index_select(0, rows))  # in place: one n x B buffer fewer
            return T.T
        table = self._univariate(Z).view(self.k, self.degree + 1, -1)
        return _evaluate_plan(self._plan, table).T

    def link_gradient(self, coef):
        """``C`` (B, k) with ``grad_z (Phi(z) coef) = Phi(z) C``.

        For ``coef`` of shape (B, K) (``K`` links, one per target), ``C`` has
        shape (K, B, k): one such matrix per link.
        """
        C = self._derivative @ coef
        return C.T if C.ndim == 2 else C.permute(2, 1, 0)

    @staticmethod
    def gradients(Phi, C):
        """``Phi @ C``: the links' gradients in ``z`` from the values ``Phi`` (n, B), (n, k) or (K, n, k).

        Computed as ``(C^T Phi^T)^T``: :meth:`values` returns ``Phi`` as the
        transpose of a contiguous ``B x n`` table and :meth:`link_gradient`
        ``C`` as the transpose of a contiguous matrix, and torch's CPU
        product of the two transposed layouts took a slow path (one thread,
        n = 3200, B = 117, k = 8: 3.7 ms against 0.24 ms for the same
        product of the contiguous factors; with three links 2.4 against
        0.8 ms).
        """
        return (C.mT @ Phi.mT).mT

    def values_and_gradients(self, Z):
        """``Phi`` (n, B) and ``dPhi / dz`` (n, B, k)."""
        Phi = self.values(Z)
        return Phi, torch.einsum("nc,jcb->nbj", Phi, self._derivative)


@functools.lru_cache(maxsize=32)
def hermite_basis(k, degree, device, dtype, max_size=MAX_LINK_BASIS):
    """The :class:`HermiteBasis` of these arguments, built once per process.

    A basis holds only index tables and its derivative map, never changed
    after construction, so every refinement of a fit (a race runs seven or
    more, the dimension search one per candidate) shares one: building it
    took 0.4 ms, a tenth of a small table's fit in all.
    """
    return HermiteBasis(k, degree, device, dtype, max_size)


def _fit_link_projected(proj, basis, weight_sum, alpha=None):
    return _fit_link_from_values(((basis.values(Z), y, w) for Z, y, w in proj), basis,
                                 weight_sum, alpha)


def _fit_link_from_values(chunks, basis, weight_sum, alpha=None):
    res = ridge_from_chunks(chunks, basis.size, weight_sum, basis.alpha.device, alpha,
                            grid=LINK_ALPHA_GRID, n_varying=basis.size - 1)
    coef = res["coef"].to(basis._derivative.dtype).clone()
    coef[0] += res["intercept"]
    return coef, res["alpha"], res["gcv"]


def per_sample(values):
    """Per-sample values: summed over the targets when there are several (columns)."""
    return values if values.ndim == 1 else values.sum(dim=1)


def _weighted_squares(w, r):
    """``sum_i w_i |r_i|^2`` for residuals of one target (n,) or several (n, K)."""
    return float((w * per_sample(r * r)).sum())


def _link_gradients(grads, r):
    """``sum_K r_K grad g_K(z)`` per sample, (n, k): the gradient of the residual-weighted links.

    ``grads`` are the links' gradients ``Phi C`` (``C``:
    :meth:`HermiteBasis.link_gradient`'s matrix, one link, (n, k); or
    stack, several, (K, n, k)); ``r`` the residuals, (n,) or (n, K).
    """
    if r.ndim == 1:
        return r[:, None] * grads
    return (r.T[:, :, None] * grads).sum(dim=0)


def _gram(grads, w):
    """``sum_i w_i sum_K grad g_K grad g_K^T`` (k x k) from gradients (n, k) or (K, n, k)."""
    if grads.ndim == 2:  # one link: one product (an einsum costs several operations)
        return (grads * w[:, None]).T @ grads
    return torch.einsum("kni,kn,knj->ij", grads, w.expand(grads.shape[:2]), grads)


def _projected(samples, V):
    """``[(X_c V, y_c, w_c)]`` over the row chunks of ``samples``."""
    return [(Z, yc, wc) for Z, (yc, wc) in zip(samples.project(V), samples.chunk_targets())]


class SquaredLoss:
    """Half squared error of the link's values; the link by ridge regression (GCV).

    The refinement's loss for real-valued targets (one column, or several
    sharing the subspace). A loss object gives :class:`GrassmannDescent`
    the link fit, the residuals ``dloss / dpred`` that weight the link's
    gradient, and the summed and per-sample losses.
    """

    def fit_link(self, chunks, basis, weight_sum, previous=None):
        """``(coef, alpha)`` from ``(Phi, y, w)`` chunks (``previous``: unused)."""
        coef, alpha, _ = _fit_link_from_values(chunks, basis, weight_sum)
        return coef, alpha

    def residuals(self, pred, y):
        return pred - y

    def curvature(self, grads, pred, y, w):
        """``sum_i w_i J_i^T J_i``: the half squared error has unit curvature in each value."""
        return _gram(grads, w)

    def total(self, w, pred, y):
        """``sum_i w_i loss_i``, times 2 (halved by :meth:`mean`)."""
        return _weighted_squares(w, pred - y)

    def mean(self, total, weight_sum):
        return 0.5 * total / weight_sum

    def per_sample(self, pred, y):
        r = pred - y
        return per_sample(0.5 * r * r)

    # the held-out score is the loss itself
    heldout_total = total
    score = per_sample


class LogLoss:
    """Log loss of the link's values read as logits; the link by penalized logistic regression.

    Targets are class indicators: one column of 0 / 1 (the link is the
    log-odds, the sigmoid gives the probability) or one-hot rows (n, K)
    (softmax over ``K`` links). The link is the L2-penalized logistic or
    softmax regression on the Hermite basis (penalty ``alpha`` on the
    non-constant functions, whose population covariance is the identity),
    warm-started from the previous step's link. The residuals
    ``p_hat - y`` are the gradient of the log loss in the logits, so the
    subspace gradient has the form of the squared loss's.
    """

    def __init__(self, alpha=None, tracking_iter=1):
        self.alpha = LOGISTIC_LINK_ALPHA if alpha is None else alpha
        self.tracking_iter = tracking_iter

    def fit_link(self, chunks, basis, weight_sum, previous=None):
        chunks = list(chunks)
        Phi = torch.cat([c[0] for c in chunks])
        y = torch.cat([c[1] for c in chunks])
        w = torch.cat([c[2] for c in chunks])
        n_out = 1 if y.ndim == 1 else y.shape[1]
        if Phi.shape[1] * n_out <= NEWTON_MAX_PARAMETERS:
            coef, _ = newton_logistic(Phi, y, w, self.alpha, previous,
                                      None if previous is None else self.tracking_iter)
        else:
            init = None
            if previous is not None:
                prev = previous[:, None] if previous.ndim == 1 else previous
                init = (prev[1:], prev[0])
            A, c, _ = LogisticProblem(Phi[:, 1:], y, w).fit(
                self.alpha, init, LOGISTIC_LINK_TOLERANCE,
                None if previous is None else LBFGS_TRACKING_ITER * self.tracking_iter)
            coef = torch.cat([c[None, :], A])  # the constant h_0 = 1 carries the intercept
        return (coef[:, 0] if y.ndim == 1 else coef), self.alpha

    def residuals(self, pred, y):
        return probabilities(pred, y) - y

    def curvature(self, grads, pred, y, w):
        """``sum_i w_i J_i^T (diag(p_i) - p_i p_i^T) J_i``, the log loss's Hessian in the logits.

        Two classes (one logit): ``p (1 - p)`` weights ``grad g grad g^T``.
        """
        p = probabilities(pred, y)
        if y.ndim == 1:
            return _gram(grads, w * p * (1 - p))
        mixed = torch.einsum("nk,kni->ni", p, grads)  # sum_K p_K grad g_K
        return _gram(grads, w * p.T) - mixed.T @ (w[:, None] * mixed)

    def total(self, w, pred, y):
        return float((w * self.per_sample(pred, y)).sum())

    def mean(self, total, weight_sum):
        return total / weight_sum

    def per_sample(self, pred, y):
        return log_losses(pred[:, None] if y.ndim == 1 else pred, y)

    def score(self, pred, y):
        """Per-sample held-out score: half the Brier score of the link's probabilities.

        A proper score like the log loss, but bounded: the paired tests of
        the dimension search and the stopping rule are not swayed by a few
        confident mistakes, whose log losses are unbounded.
        """
        r = self.residuals(pred, y)
        return per_sample(0.5 * r * r)

    def heldout_total(self, w, pred, y):
        return float((w * self.score(pred, y)).sum())


SQUARED = SquaredLoss()


def _cold_link(proj, basis, weight_sum, loss):
    """``loss``'s link fitted from scratch on projected chunks ``(Z, y, w)``."""
    coef, _ = loss.fit_link(((basis.values(Z), y, w) for Z, y, w in proj), basis, weight_sum)
    return coef


def _loss_of(preds, proj, weight_sum, loss=SQUARED, heldout=False):
    """Mean ``loss`` of the predictions ``preds`` (one per chunk of ``proj``, ``(Z, y, w)``)."""
    total = 0.0
    for pred, (_, y, w) in zip(preds, proj):
        total += loss.heldout_total(w, pred, y) if heldout else loss.total(w, pred, y)
    return loss.mean(total, weight_sum)


def _projected_loss(proj, basis, coef, weight_sum, loss=SQUARED, heldout=False):
    """Mean ``loss`` of the link on projected chunks (``heldout``: its held-out score)."""
    return _loss_of((basis.values(Z) @ coef for Z, _, _ in proj), proj, weight_sum, loss, heldout)


def _huber(r, delta):
    """Per-sample Huber loss of residuals ``r`` (``r^2 / 2`` inside ``delta``)."""
    return torch.nn.functional.huber_loss(r, torch.zeros_like(r), reduction="none", delta=delta)


def huber_gains(chunks, center, delta):
    """Per sample: Huber loss of a prediction minus that of predicting ``center``.

    ``chunks`` yields ``(prediction, y, w)`` tensors; both losses use the
    threshold ``delta``. Returns ``(gains, weights)`` as float64 NumPy arrays
    (a negative weighted mean: the predictions beat the constant).
    """
    gains, weights = [], []
    for pred, y, w in chunks:
        gains.append((_huber(pred - y, delta) - _huber(y - center, delta)).double().cpu())
        weights.append(w.double().cpu())
    return torch.cat(gains).numpy(), torch.cat(weights).numpy()


def link_heldout_losses(train, valid, V, degree, delta=None, loss=SQUARED, link=None):
    """Per-sample held-out losses of the link fitted on ``train``'s projections on ``V``.

    The link is the ridge fit (penalty by GCV) on the tensor Hermite basis of
    total degree ``degree`` of ``V^T x``. Returns ``(losses, weights)`` on
    ``valid`` as float64 NumPy arrays: half squared residuals (the scale of
    :class:`GrassmannDescent`'s held-out loss), or with ``delta`` the Huber
    loss of threshold ``delta``, whose per-sample values have a finite
    variance even for heavy-tailed noise. With ``loss`` a :class:`LogLoss`
    the link is its logistic fit and the values are its held-out scores
    (half Brier scores of the link's probabilities, :meth:`LogLoss.score`).
    ``link``, a ``(basis, coef)`` pair already fitted that way, skips the fit.
    """
    if link is None:
        basis = hermite_basis(V.shape[1], degree, V.device, V.dtype)
        coef = _cold_link(_projected(train, V), basis, train.weight_sum, loss)
    else:
        basis, coef = link
    losses, weights = [], []
    for Z, y, w in _projected(valid, V):
        pred = basis.values(Z) @ coef
        losses.append((loss.score(pred, y) if delta is None else
                       per_sample(_huber(pred - y, delta))).double().cpu())
        weights.append(w.double().cpu())
    return torch.cat(losses).numpy(), torch.cat(weights).numpy()


def ordered_by_link(train, V, degree):
    """``V`` rotated within its span so the fitted link varies most along the first columns.

    The rotation diagonalizes the average outer product of the link's
    gradient, ``E[grad g(V^T x) grad g(V^T x)^T]`` on ``train`` (decreasing
    eigenvalues): the first ``j`` columns span the ``j`` most important
    directions of the link.
    """
    basis = hermite_basis(V.shape[1], degree, V.device, V.dtype)
    proj = _projected(train, V)
    coef, _, _ = _fit_link_projected(proj, basis, train.weight_sum)
    C = basis.link_gradient(coef)
    M = 0.0
    for Z, _, w in proj:
        G = basis.gradients(basis.values(Z), C)
        G = G if G.ndim == 3 else G[None]  # one slice per link
        M = M + (G.transpose(1, 2) @ (w[None, :, None] * G)).sum(dim=0)
    vals, vecs = torch.linalg.eigh(0.5 * (M + M.T))
    return V @ vecs[:, torch.argsort(vals, descending=True)]


def fit_link(samples, V, basis, alpha=None):
    """Ridge fit of the link on ``Phi(V^T x)``, penalty by GCV (constant unpenalized).

    Returns ``(coef, alpha, gcv)`` with ``coef`` of shape (B,); the intercept
    is folded into the coefficient of the constant basis function ``h_0 = 1``.
    """
    return _fit_link_projected(_projected(samples, V), basis, samples.weight_sum, alpha)


def _loss_and_gradient(samples, proj, basis, coef, values=None, loss=SQUARED):
    """Training ``loss``, its Euclidean gradient in ``V`` and its Gauss-Newton matrix.

    One pass over ``X``. The Gauss-Newton matrix ``H`` (k x k) is the
    weighted mean over the samples of ``J^T L J``, ``J`` the links'
    gradients in ``z = V^T x`` (one row per link) and ``L`` the loss's
    curvature in the links' values (:meth:`SquaredLoss.curvature`).
    ``values`` are the chunks' basis values ``Phi``, if known.
    """
    value, moments, H = _loss_and_moments(samples, proj, basis, coef, values, loss)
    return value, samples.back_project(moments) / samples.weight_sum, H


def _loss_and_moments(samples, proj, basis, coef, values=None, loss=SQUARED):
    """:func:`_loss_and_gradient` before its pass over ``X``: the per-chunk ``M`` of ``G = X^T M / sum w``.

    Returns ``(loss, moments, H)``; no pass over ``X`` (the projections
    ``proj`` are known).
    """
    total = 0.0
    if values is None:
        values = [basis.values(Z) for Z, _, _ in proj]
    C = basis.link_gradient(coef)
    # the link's part of the gradient per sample (n x k) on the projections, then
    # one pass over X: G = sum_i x_i m_i^T
    moments, H = [], 0.0
    for (Z, y, w), Phi in zip(proj, values):
        pred = Phi @ coef
        r = loss.residuals(pred, y)
        grads = basis.gradients(Phi, C)  # the links' gradients in z, (n, k) or (K, n, k)
        moments.append(w[:, None] * _link_gradients(grads, r))
        H = H + loss.curvature(grads, pred, y, w)
        total += loss.total(w, pred, y)
    sw = samples.weight_sum
    return loss.mean(total, sw), moments, H / sw


# Levenberg-Marquardt damping of the Gauss-Newton step, relative to the mean
# eigenvalue of the Gauss-Newton matrix
GAUSS_NEWTON_DAMPING = 1e-2


def _gauss_newton(G, H):
    """The Riemannian gradient ``G`` (d x k, orthogonal to ``V``) times ``(H + lambda I)^-1``.

    With ``x`` standardized, the part of ``x`` outside ``span(V)`` is (for
    Gaussian inputs exactly, otherwise approximately) uncorrelated with
    ``z = V^T x`` and has unit covariance there, so the Gauss-Newton model
    of the loss along a tangent step ``Delta`` is ``<G, Delta> + tr(Delta^T
    Delta H) / 2`` and its minimizer is ``-G H^-1``. The step then scales
    each direction of the subspace by how strongly the link depends on it:
    plain gradient descent crawls along directions the link uses weakly
    (on ``sum_{j <= 6} tanh(z_j)`` with k = 8 it took about 180 steps to
    the held-out loss Gauss-Newton reaches in 5). ``lambda`` is
    ``GAUSS_NEWTON_DAMPING`` times the mean eigenvalue of ``H``; a link
    that depends on nothing (``H = 0``) leaves ``G`` as it is.
    """
    k = H.shape[0]
    lam = GAUSS_NEWTON_DAMPING * float(torch.trace(H)) / k
    if not lam > 0:
        return G
    A = H + H.T
    A.mul_(0.5).diagonal().add_(lam)
    return torch.linalg.solve(A, G, left=False)  # G A^-1


def _retraction(M):
    """QR retraction with a deterministic sign: ``(Q, T)`` with ``Q = M T``."""
    Q, R = torch.linalg.qr(M)
    diagonal = torch.diagonal(R)
    signs = torch.ones_like(diagonal).copysign_(diagonal)  # +-1, never 0
    # R^-1 diag(signs) by one triangular solve
    T = torch.linalg.solve_triangular(R, torch.diag(signs), upper=True)
    return Q * signs, T


def retract(M):
    """QR retraction onto the Stiefel manifold, with a deterministic sign."""
    return _retraction(M)[0]


def _moved(proj, XG, eta, T):
    """Projections onto ``Q = (V - eta G) T`` from those onto ``V`` and ``G``."""
    return [((Z - eta * P) @ T, y, w) for (Z, y, w), P in zip(proj, XG)]


def overlap_singular_values(A, B):
    return torch.linalg.svdvals(A.T @ B)


def _advance(steps, product):
    """The next pass a step generator asks for (None when the step is over)."""
    try:
        return steps.send(product)
    except StopIteration:
        return None


def _shared_pass(kind, samples, matrices):
    """``kind`` (``"project"`` or ``"back_project"``) of ``samples`` for each of ``matrices``.

    Several matrices are multiplied side by side in one pass over the rows
    and the product is cut into their columns again.
    """
    if len(matrices) == 1:
        return [getattr(samples, kind)(matrices[0])]
    if kind == "project":
        widths = [M.shape[1] for M in matrices]
        chunks = samples.project(torch.cat(matrices, dim=1))
        cuts = np.cumsum([0] + widths)
        return [[Z[:, a:b] for Z in chunks] for a, b in zip(cuts[:-1], cuts[1:])]
    # back_project: per-chunk lists (or tensors) of per-row matrices
    widths = [(M[0] if isinstance(M, list) else M).shape[1] for M in matrices]
    if all(isinstance(M, list) for M in matrices):
        side = [torch.cat(parts, dim=1) for parts in zip(*matrices)]
    else:
        side = torch.cat([torch.cat(M) if isinstance(M, list) else M for M in matrices], dim=1)
    G = samples.back_project(side)
    cuts = np.cumsum([0] + widths)
    return [G[:, a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def step_together(descents):
    """One :meth:`GrassmannDescent.step` of each of ``descents``, sharing their passes over the rows.

    A step reads the rows three times, each time for a product with a thin
    matrix (``k`` columns): ``X^T M`` on the training rows, ``X G`` there
    and on the held-out rows. Such a product costs about as much for a few
    columns as for one (the rows are read once; at d = 1024 a product with
    8 columns took 1.3-1.7 times as long as with 2), so the steps of several
    descents on the same rows (a race of starts) advance in lockstep and
    each pass multiplies their matrices side by side. A descent's step
    computes what it computes alone; only the grouping of the products
    changes (and with it their rounding). Steps resume, and report, in the
    order of ``descents``.
    """
    steps = [descent._step() for descent in descents]
    wanted = [_advance(s, None) for s in steps]
    while any(w is not None for w in wanted):
        products = [None] * len(steps)
        groups = {}
        for i, w in enumerate(wanted):
            if w is not None:
                groups.setdefault((w[0], id(w[1])), []).append(i)
        for (kind, _), members in groups.items():
            shared = _shared_pass(kind, wanted[members[0]][1], [wanted[i][2] for i in members])
            for i, product in zip(members, shared):
                products[i] = product
        wanted = [None if w is None else _advance(s, p)
                  for s, w, p in zip(steps, wanted, products)]


# The refinement's steps are conjugate (GrassmannDescent._conjugate) only with
# at least this many training rows per coordinate of the subspace (n >= 8 d k).
# Measured (steps of all refinements of a default fit; n the training rows):
# - n / (d k) = 1.2-2: the conjugate direction also sped the fit of the noise
#   (d = 64, h2+h2, n = 4 d, a start from 5 steps: held-out loss 0.39 -> 0.70
#   where the plain step crawled on to 0.03; d = 256, h2+h2, n = 3 d, seed 2:
#   distance 0.10 -> 0.18);
# - 6.4 (GaussianMultiIndex h2+h2 at n = 16 d, d = 128 and 256, five fits):
#   36-53 steps plain, 39-59 conjugate, the same distances: the Gauss-Newton
#   step is nearly exact for Gaussian inputs;
# - 8.8 (ISLR Hitters, one direction): 282 -> 108 and 115 -> 89 on two folds,
#   test R^2 0.72 -> 0.81 and 0.57 -> 0.65; 12.5 (d = 32, k = 8, n = 3200):
#   196 -> 153; 12.8 (h4+h4, d = 256, n = 32 d): 139 -> 103, 172 -> 99.
CONJUGATE_MIN_ROWS = 8

# A run stopped by max_iter counts as converged when its best held-out loss
# fell by at most this relative amount per step over the last `patience`
# steps (the role of scikit-learn's MLP `tol`): at the d = 256 benchmark
# points mixed3 (16 d) and h4+h4 (32 d) the default refinement reaches
# max_iter gaining 1e-6 to 1.3e-5 per step.
CONVERGED_RTOL = 1e-4
# the subspace has stopped moving when the sines of the largest principal
# angle between consecutive iterates, summed over the last MOVE_WINDOW steps
# (a bound on the net movement over those steps), fall below MOVE_TOL
MOVE_WINDOW = 5
MOVE_TOL = 1e-3


class GrassmannDescent:
    """Two-timescale Riemannian descent from ``V0``, one step at a time.

    Parameters
    ----------
    train, valid : Samples
        Rows for the gradient and link fits, and held-out rows for stopping.
        ``valid`` may be None: then the run stops on ``max_iter`` or when the
        training loss stalls (relative decrease below ``tol``).
    V0 : torch.Tensor of shape (d, k)
        Start (orthonormalized here).
    degree, max_iter, patience, step_size, tol, callback
        Hermite degree of the link, step budget, held-out patience, initial
        step size, stall tolerance (without ``valid``), and
        ``callback(step, record)`` after every step.
    move_tol : float, optional
        The run stops when the subspace has moved by less than this over the
        last ``MOVE_WINDOW`` steps (default ``MOVE_TOL``).
    loss : SquaredLoss or LogLoss, optional
        The loss of the link's values (default: half squared error, the link
        by ridge regression; the classifier: :class:`LogLoss`), on ``train``
        and, as the stopping score, on ``valid``.

    Attributes
    ----------
    V : torch.Tensor (d, k), the current subspace.
    best_val : float, the smallest held-out loss seen (inf before the first step).
    done : bool, whether a stopping rule has fired.
    hit_max_iter : bool, whether it stopped on ``max_iter`` alone (no
        convergence, movement, patience or stall rule fired) while the held-out loss
        still fell by more than ``CONVERGED_RTOL`` over the last
        ``patience`` steps: not converged.
    n_iter : int, steps taken.
    heldout_predictions : torch.Tensor or None, the link's values on ``valid``
        at the last step (None before the first step, or without ``valid``).
    history : dict of lists ``train_loss``, ``val_loss``, ``step_size``,
        ``overlap`` (singular values of ``V_{t-1}^T V_t``) and ``link_alpha``.
    """

    def __init__(self, train, valid, V0, *, degree=4, max_iter=200, patience=15, step_size=1.0,
                 tol=1e-7, move_tol=None, loss=None, callback=None):
        self.train, self.valid = train, valid
        self.V = retract(V0)
        self.basis = hermite_basis(self.V.shape[1], degree, self.V.device, self.V.dtype)
        self.max_iter, self.patience, self.tol, self.callback = max_iter, patience, tol, callback
        self.move_tol = MOVE_TOL if move_tol is None else move_tol
        self.loss = SQUARED if loss is None else loss
        self._coef = None  # the last step's link (warm start of an iterative link fit)
        self._moves = []
        self.history = {"train_loss": [], "val_loss": [], "step_size": [], "overlap": [],
                        "link_alpha": []}
        self._best = (np.inf, self.V, None)
        self._since_best = 0
        self._eta = step_size
        self._grow = False
        self._previous = None  # (G, preconditioned G, direction) of the last step
        self._conjugate_on = (train.n_samples
                              >= CONJUGATE_MIN_ROWS * self.V.shape[0] * self.V.shape[1])
        self._prev_loss = np.inf
        self.n_iter = 0
        self.done = max_iter < 1
        self.hit_max_iter = self.done
        self._zt = _projected(train, self.V)
        self._values = None  # basis values on self._zt, when known
        self.heldout_predictions = None
        self._zv = _projected(valid, self.V) if valid is not None else None

    @property
    def best_val(self):
        return self._best[0]

    @property
    def steps_since_best(self):
        """Steps taken since the one with the smallest held-out loss (0 at a new best)."""
        return self._since_best

    def step(self):
        """One link refit and one line-searched Riemannian step; returns ``done``."""
        step_together([self])
        return self.done

    def _step(self):
        """:meth:`step` as a generator of its three passes over the rows.

        It yields ``(kind, samples, matrix)`` for each product with the rows
        (``"back_project"``: ``X^T M``, the gradient; ``"project"``: ``X G``
        on the training rows, then on the held-out rows) and is sent the
        product back (:func:`step_together`); everything else is small.
        """
        if self.done:
            return
        train, valid, basis, V = self.train, self.valid, self.basis, self.V
        self.n_iter += 1
        sw = train.weight_sum
        # the basis values on the training projections: those of the last
        # accepted trial, if any
        values = self._values or [basis.values(Z) for Z, _, _ in self._zt]
        self._values = None
        coef, link_alpha = self.loss.fit_link(
            [(Phi, y, w) for Phi, (_, y, w) in zip(values, self._zt)], basis, sw, self._coef)
        self._coef = coef
        loss, moments, H = _loss_and_moments(train, self._zt, basis, coef, values, self.loss)
        del values  # the trials' values take their place
        G = (yield ("back_project", train, moments)) / sw
        del moments
        val = loss
        if valid is not None:
            preds = [basis.values(Z) @ coef for Z, _, _ in self._zv]
            self.heldout_predictions = torch.cat(preds)
            val = _loss_of(preds, self._zv, valid.weight_sum, self.loss, heldout=True)
        # decisions use a relative tolerance far above rounding, so that sums
        # taken in another order (weights vs repeated rows) decide the same way
        best = self._best[0]
        if val < best - _RTOL * abs(best) or not np.isfinite(best):
            self._best, self._since_best = (val, V, coef), 0
        else:
            self._since_best += 1
        G = G - V @ (V.T @ G)
        # the descent direction: the Riemannian gradient preconditioned by the
        # damped Gauss-Newton matrix; <gradient, direction> for Armijo's test
        direction = self._conjugate(G, _gauss_newton(G, H))
        gnorm2 = float((G * direction).sum())
        G = direction
        xg = yield ("project", train, G)
        # Armijo backtracking along the retraction, link held fixed
        # the first trial doubles the last accepted step only if that one was
        # accepted at its first trial, so most steps take one trial
        eta = min(self._eta * 2.0, 1e6) if self._grow else self._eta
        V_new, accepted = V, None
        for trial in range(30):
            cand, T = _retraction(V - eta * G)
            zc = _moved(self._zt, xg, eta, T)
            trial_values = [basis.values(Z) for Z, _, _ in zc]
            trial_loss = _loss_of((Phi @ coef for Phi in trial_values), zc, sw, self.loss)
            if trial_loss <= loss - 1e-4 * eta * gnorm2 - _RTOL * abs(loss):
                V_new, accepted = cand, (zc, T)
                self._values = trial_values
                break
            eta *= 0.5
        self._eta, self._grow = eta, trial == 0
        overlap = overlap_singular_values(V, V_new)
        record = {"train_loss": loss, "val_loss": val, "step_size": eta,
                  "overlap": overlap.cpu().numpy(), "link_alpha": link_alpha}
        for key, value in record.items():
            self.history[key].append(value)
        if self.callback is not None:
            self.callback(self.n_iter, record)
        # no step decreases the training loss beyond rounding: converged
        converged = accepted is None
        stalled = converged or (self._prev_loss - loss) <= self.tol * max(abs(loss), 1e-300)
        if not converged:
            self._zt, T = accepted
            if valid is not None:
                self._zv = _moved(self._zv, (yield ("project", valid, G)), eta, T)
        self.V, self._prev_loss = V_new, loss
        # sine of the largest principal angle between V and V_new, as the norm of
        # V_new's part outside span(V): accurate to rounding (sqrt(1 - s_min^2)
        # is only accurate to sqrt(eps), 3e-4 in float32, above MOVE_TOL / 5)
        self._moves.append(float(torch.linalg.matrix_norm(V_new - V @ (V.T @ V_new), ord=2)))
        settled = (len(self._moves) >= MOVE_WINDOW
                   and sum(self._moves[-MOVE_WINDOW:]) < self.move_tol)
        stopped = (converged or settled
                   or (valid is not None and self._since_best >= self.patience)
                   or (valid is None and stalled))
        self.done = stopped or self.n_iter >= self.max_iter
        self.hit_max_iter = self.done and not stopped and self._still_improving()
        if self.done:
            self.release()

    def _conjugate(self, G, Z):
        """The search direction: ``Z`` (``G`` preconditioned) plus ``beta`` times the last one.

        Preconditioned nonlinear conjugate gradients on the Grassmannian
        (Polak-Ribiere+, the last gradient and direction carried to the
        current tangent space by projection; Absil, Mahony and Sepulchre,
        2008, 8.3): ``beta = <Z, G - G_prev> / <G_prev, Z_prev>``, at least
        0, which restarts from ``Z`` whenever the gradients stop being
        conjugate. The direction is kept only if it still descends
        (``<G, D> > 0`` for the step ``V - eta D``). With the link refitted
        at every step the preconditioned gradient alone zig-zags where the
        link and the subspace are coupled (the accepted step alternating
        between 1 and 2 over hundreds of steps); the conjugate direction
        cuts such crawls (ISLR Hitters, fold 1: 282 steps in all to 108,
        d = 32 with n_components = 8: 196 to 153, h4+h4 at d = 256, n = 32
        d: 139 to 103). Only with ``CONJUGATE_MIN_ROWS`` training rows per
        coordinate of ``V``; otherwise ``Z`` itself.
        """
        if not self._conjugate_on:
            return Z
        previous, self._previous = self._previous, (G, Z, Z)
        if previous is None:
            return Z
        G_old, Z_old, D_old = previous
        scale = float((G_old * Z_old).sum())
        if not scale > 0:
            return Z
        V = self.V
        G_old = G_old - V @ (V.T @ G_old)
        beta = float((Z * (G - G_old)).sum()) / scale
        if not beta > 0:
            return Z
        D = Z + beta * (D_old - V @ (V.T @ D_old))
        if not float((G * D).sum()) > 0:
            return Z
        self._previous = (G, Z, D)
        return D

    def release(self):
        """Drop the cached basis values of the training rows (``n x B``), for a run that stops.

        A later :meth:`step` recomputes them; a race that stops a run early
        (merged, or far behind) releases it so that its cache does not stay
        in memory beside the runs still going.
        """
        self._values = None

    def _still_improving(self):
        """Whether the held-out loss fell by more than ``CONVERGED_RTOL`` (relative)
        per step over the last ``patience`` steps: a run stopped by ``max_iter``
        then had not converged (as scikit-learn's MLP ``tol``: smaller gains
        are not progress).
        """
        val = self.history["val_loss"]
        if self.valid is None or len(val) <= self.patience:
            return True
        earlier = min(val[:-self.patience])
        return earlier - self.best_val > self.patience * CONVERGED_RTOL * abs(self.best_val)

    def heldout_gain(self, center, delta):
        """Per held-out sample: Huber loss of the best state minus that of predicting ``center``.

        ``delta`` is the Huber threshold (the same for both, so the two are
        compared under one loss; bounded per-sample values keep a standard
        error meaningful under heavy-tailed noise). Returns ``(gains,
        weights)`` as float64 NumPy arrays; a negative weighted mean means
        the model predicts ``valid`` better than the constant ``center``.
        """
        V, coef = self.result()
        return huber_gains(((self.basis.values(Z) @ coef, y, w)
                            for Z, y, w in _projected(self.valid, V)), center, delta)

    def train_residuals(self):
        """Residuals ``y - g(V^T x)`` of the best state on ``train`` (float64 NumPy)."""
        V, coef = self.result()
        return torch.cat([(y - self.basis.values(Z) @ coef).double().cpu()
                          for Z, y, _ in _projected(self.train, V)]).numpy()

    def result(self):
        """``(V, coef)``: the best subspace on ``valid`` (or the last) and its link."""
        if self._best[2] is None or self.valid is None:
            return self.V, _cold_link(self._zt, self.basis, self.train.weight_sum, self.loss)
        return self._best[1], self._best[2]
