"""L2-penalized logistic and softmax regression on fixed features.

Products on torch tensors (any device); :class:`LogisticProblem` steps with
SciPy's L-BFGS-B, :func:`newton_logistic` with Newton's method in torch.

The classifier's outer layer, and the link of its refinement, are such fits:
:class:`LogisticProblem` holds the centred features and their covariance so
that a path of penalties reuses them.
"""

import numpy as np
import torch
from scipy.optimize import minimize

from ._data import back_project, project

LBFGS_MAX_ITER = 500
# max |gradient| in the preconditioned coordinates: the log loss is then within
# about 1e-6 of its minimum, far below its statistical error
LBFGS_TOLERANCE = 1e-5


def probabilities(logits, Y):
    """Probabilities of ``logits``: sigmoid for (n,) 0 / 1 targets ``Y``, else softmax."""
    return torch.sigmoid(logits) if Y.ndim == 1 else torch.softmax(logits, dim=1)


def log_losses(logits, Y):
    """Per-sample log loss of ``logits`` ((n, 1): two classes, targets 0 / 1; else (n, K))."""
    if Y.ndim == 1:
        return torch.nn.functional.softplus(logits[:, 0]) - Y * logits[:, 0]
    return torch.logsumexp(logits, dim=1) - (Y * logits).sum(dim=1)


class LogisticProblem:
    """L2-penalized logistic (two classes) or softmax regression on fixed features.

    The objective is the weighted mean log loss of ``F A + c`` plus
    ``alpha |A|^2 / 2`` (intercept ``c`` unpenalized), a convex problem
    solved by SciPy's L-BFGS-B (the solver of scikit-learn's
    ``LogisticRegression``; the products stay on the device, only the
    ``p K`` parameters travel to the host per iteration). It is run in
    preconditioned coordinates: with ``Q diag(s) Q^T`` the weighted
    covariance of the features, ``A = Q diag((s / 4 + alpha)^(-1/2)) B``
    makes the Hessian in ``B`` close to the identity (``1/4`` bounds the
    curvature of the log loss), so the ill-conditioned small-``alpha`` fits
    take tens of iterations instead of hundreds.
    """

    def __init__(self, F, Y, w):
        self.Y, self.w = Y, w
        self.weight_sum = float(w.sum())
        self.mean = (w @ F) / self.weight_sum
        self.F = F - self.mean
        cov = self.F.T @ (w[:, None] * self.F) / self.weight_sum
        s, self.Q = torch.linalg.eigh(0.5 * (cov + cov.T))
        self.s = s.clamp_min(0.0)
        self.n_out = 1 if Y.ndim == 1 else Y.shape[1]

    def mean_variance(self):
        return float(self.s.sum()) / self.s.numel()

    def fit(self, alpha, init=None, tol=None, max_iter=None):
        """``(A, c, converged)`` at penalty ``alpha``; ``init`` a previous ``(A, c)``.

        ``tol``: L-BFGS-B's gradient tolerance (default ``LBFGS_TOLERANCE``),
        ``max_iter`` its iteration limit (default ``LBFGS_MAX_ITER``).
        """
        gtol = LBFGS_TOLERANCE if tol is None else tol
        root = torch.sqrt(self.s / 4.0 + alpha)
        # without a penalty, directions the features do not vary along (to
        # rounding) carry no coefficient, as in a minimum-norm least-squares
        # fit (before: 0 / 0 there, and alpha=0 "diverged" on every fit with a
        # constant feature direction)
        keep = root > 0.0 if alpha > 0 else self.s > (self.s.max() * self.s.numel()
                                                      * torch.finfo(self.s.dtype).eps)
        root = torch.where(keep, root, torch.ones_like(root))
        T = self.Q * (keep / root)  # A = T B
        G = self.F @ T
        dt, dev = self.F.dtype, self.F.device
        if init is None:
            B = torch.zeros(T.shape[1], self.n_out, dtype=dt, device=dev)
            c = torch.zeros(self.n_out, dtype=dt, device=dev)
        else:
            A0, c0 = init
            B = root[:, None] * (self.Q.T @ A0)
            c = c0 + self.mean @ A0  # the intercept of the centred features
        w = (self.w / self.weight_sum)[:, None]
        Y = self.Y[:, None] if self.Y.ndim == 1 else self.Y
        # |A|^2 = sum_j |B_j|^2 / root_j^2, since Q is orthogonal
        penalty = (alpha * keep / (root * root))[:, None]
        shape = B.shape

        def objective(x):
            # the gradient by hand: autograd's bookkeeping cost more than the products
            theta = torch.from_numpy(x).to(dev, dt)
            B, c = theta[:-self.n_out].reshape(shape), theta[-self.n_out:]
            logits = project(G, B) + c
            if self.n_out == 1:
                per = torch.nn.functional.softplus(logits) - Y * logits
                r = torch.sigmoid(logits) - Y
            else:
                logp = torch.log_softmax(logits, dim=1)
                per = -(Y * logp)
                r = torch.exp(logp) - Y
            wr = w * r
            grad = torch.cat([(back_project(G, wr) + penalty * B).reshape(-1), wr.sum(dim=0)])
            value = (w * per).sum() + 0.5 * (penalty * B * B).sum()
            return float(value), grad.double().cpu().numpy()

        x0 = torch.cat([B.reshape(-1), c]).double().cpu().numpy()
        result = minimize(objective, x0, jac=True, method="L-BFGS-B",
                          options={"maxiter": LBFGS_MAX_ITER if max_iter is None else max_iter,
                                   "maxcor": 20,
                                   "gtol": gtol})
        theta = torch.from_numpy(result.x).to(dev, dt)
        B, c = theta[:-self.n_out].reshape(shape), theta[-self.n_out:]
        A = T @ B
        # status 0: converged; 1: the iteration limit; 2: the line search found no
        # decrease, which counts as converged only when the gradient is near
        # the tolerance (at the minimum to rounding), not far from it
        converged = result.status == 0 or (
            result.status == 2 and float(np.abs(result.jac).max()) <= 10.0 * gtol)
        return A, (c - self.mean @ A), converged


def fit_logistic(F, Y, w, alpha, init=None):
    """L2-penalized logistic or softmax regression (see :class:`LogisticProblem`).

    ``F`` (n, p) features, ``Y`` indicator targets ((n,) for two classes,
    else one-hot (n, K)), ``w`` weights. Returns ``(A, c, converged)``.
    """
    return LogisticProblem(F, Y, w).fit(alpha, init)


# Newton's method is used for fits with at most this many parameters (the
# Hessian costs n p^2 per iteration; the refinement's links, 15 Hermite
# functions times a few classes, converge in two or three iterations from the
# previous step's link)
NEWTON_MAX_PARAMETERS = 256
NEWTON_MAX_ITER = 50
NEWTON_TOLERANCE = 1e-6
# rows per block of the Hessian's accumulation
NEWTON_BLOCK = 8192


def _penalized_log_loss(Phi, Y, w, coef, alpha):
    """Mean log loss of ``Phi coef`` plus ``alpha / 2 |coef[1:]|^2`` (``w`` sums to 1)."""
    logits = Phi @ coef
    return float((w * log_losses(logits, Y)).sum() + 0.5 * alpha * (coef[1:] ** 2).sum())


def newton_logistic(Phi, Y, w, alpha, init=None, max_iter=None):
    """L2-penalized logistic or softmax regression by Newton's method (small problems).

    ``Phi`` (n, p) features whose first column is the constant (its
    coefficient, the intercept, unpenalized), ``Y`` targets ((n,) of 0 / 1,
    else one-hot (n, K)), ``w`` weights, ``alpha`` the penalty on the mean
    log loss, ``init`` a previous coefficient matrix (p, 1) or (p, K),
    ``max_iter`` the iteration limit (default ``NEWTON_MAX_ITER``).
    Returns ``(coef, converged)`` with ``coef`` of shape (p, 1) or (p, K).
    Each step solves the Newton system exactly and halves until the
    objective decreases (it is convex); it stops when the largest gradient
    entry is below ``NEWTON_TOLERANCE`` (converged) or when no halving
    decreases it (not converged: at the minimum to rounding, or a bad step).
    The softmax's intercepts are kept centred: adding one constant to every
    class changes nothing, and in float32 the Newton solve would otherwise
    drift along that direction to huge logits. The Hessian is accumulated
    over blocks of ``NEWTON_BLOCK`` rows (memory ``O(block K^2 p)``).
    """
    n, p = Phi.shape
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    m = Y2.shape[1]
    w = w / w.sum()
    coef = (torch.zeros(p, m, dtype=Phi.dtype, device=Phi.device) if init is None
            else init.reshape(p, m).clone())
    dt, dev = Phi.dtype, Phi.device
    ridge = torch.full((p,), float(alpha), dtype=dt, device=dev)
    ridge[0] = 0.0  # the intercept is not penalized
    penalty = torch.kron(torch.eye(m, dtype=dt, device=dev), torch.diag(ridge))
    multiclass = Y.ndim == 2
    if multiclass:
        # unit curvature along the softmax's null direction (one constant added to
        # every intercept), where the gradient is zero: it only makes H invertible
        e0 = torch.zeros(p, p, dtype=dt, device=dev)
        e0[0, 0] = 1.0
        penalty = penalty + torch.kron(torch.full((m, m), 1.0 / m, dtype=dt, device=dev), e0)
        coef[0] -= coef[0].mean()
    value = _penalized_log_loss(Phi, Y, w, coef, alpha)
    for _ in range(NEWTON_MAX_ITER if max_iter is None else max_iter):
        logits = Phi @ coef
        P = probabilities(logits, Y)
        grad = back_project(Phi, w[:, None] * (P - Y2)) + ridge[:, None] * coef
        if float(grad.abs().max()) < NEWTON_TOLERANCE:
            return coef, True
        if multiclass:
            S = (w[:, None, None] * (torch.diag_embed(P) - P[:, :, None] * P[:, None, :])
                 ).reshape(n, m * m)
        else:
            S = (w * P[:, 0] * (1.0 - P[:, 0]))[:, None]
        # H[(k, a), (l, b)] = sum_i S_ikl Phi_ia Phi_ib (class-major like grad.T), as
        # products (rows, K K p)^T (rows, p) over blocks of rows
        H = 0.0
        for i in range(0, n, NEWTON_BLOCK):
            Pb, Sb = Phi[i:i + NEWTON_BLOCK], S[i:i + NEWTON_BLOCK]
            H = H + back_project((Sb[:, :, None] * Pb[:, None, :]).reshape(len(Pb), -1), Pb)
        H = H.reshape(m, m, p, p).permute(0, 2, 1, 3).reshape(m * p, m * p) + penalty
        step = torch.linalg.solve(H, grad.T.reshape(-1)).reshape(m, p).T
        if not bool(torch.isfinite(step).all()):
            return coef, False
        t = 1.0
        for _ in range(30):
            trial = coef - t * step
            if multiclass:
                trial[0] -= trial[0].mean()
            trial_value = _penalized_log_loss(Phi, Y, w, trial, alpha)
            if trial_value < value:
                break
            t *= 0.5
        else:
            return coef, False  # no halving decreases the objective
        coef, value = trial, trial_value
    return coef, False
