"""Two-timescale learning on the Grassmannian (Bietti, Bruna, Pillaud-Vivien).

The subspace is an orthonormal ``d x k`` matrix ``V``. The link is learned
"infinitely faster": at every step it is refitted to optimality on the
projected inputs ``z = V^T x`` (ridge regression on the tensor Hermite basis
of total degree ``degree``, penalty by generalized cross-validation). Then
``V`` takes a Riemannian gradient step of the squared loss with the link held
fixed, ``(I - V V^T) G``, with an Armijo line search, followed by a QR
retraction. Training stops when the loss on held-out samples has not improved
for ``patience`` steps, or when no step along the Riemannian gradient lowers
the training loss (converged); the best subspace seen on the held-out samples
is returned.

Used both to refine the stage-1 subspace of the layer-wise network and, from
a random start, as a solver of its own.

Cost per step: the projections ``Z = X V`` of the training and held-out rows
are kept (``n x k``), so a step reads ``X`` twice (the gradient ``X^T M`` and
the projections ``X G`` of the search direction); every trial of the line
search is then ``O(n k^2)``, because the retraction ``qr(V - eta G) = Q R``
gives ``X Q = (Z - eta X G) R^{-1}``.
"""

import itertools
import math

import numpy as np
import torch

from ._data import back_project, project
from ._ridge import ridge_from_chunks

LINK_ALPHA_GRID = np.logspace(-6.0, 2.0, 17)
_RTOL = 1e-9


def multi_indices(k, degree):
    """Exponent tuples of the tensor Hermite basis of total degree <= ``degree``."""
    return [a for a in itertools.product(range(degree + 1), repeat=k) if sum(a) <= degree]


class HermiteBasis:
    """``phi_alpha(z) = prod_j h_{alpha_j}(z_j)`` and its gradient in ``z``."""

    def __init__(self, k, degree, device, dtype):
        self.k, self.degree = k, degree
        self.alpha = torch.tensor(multi_indices(k, degree), device=device, dtype=torch.long)
        self.size = self.alpha.shape[0]
        self._lower = (self.alpha - 1).clamp_min(0)
        self._root = torch.sqrt(self.alpha.to(dtype))

    def _univariate(self, Z):
        # H[p, j, i] = h_p(Z[i, j]), h_{p+1} = (z h_p - sqrt(p) h_{p-1}) / sqrt(p + 1);
        # samples last, so that gathering rows of H copies contiguous memory
        Zt = Z.T.contiguous()
        H = [torch.ones_like(Zt), Zt]
        for p in range(1, self.degree):
            H.append((Zt * H[p] - math.sqrt(p) * H[p - 1]) / math.sqrt(p + 1))
        return torch.stack(H[: self.degree + 1])  # (P+1, k, n)

    def _factors(self, H, alpha):
        # [h_{alpha_bj}(z_j)]_b for each j: k tensors of shape (B, n)
        return [H[:, j, :].index_select(0, alpha[:, j]) for j in range(self.k)]

    @staticmethod
    def _product(factors):
        out = factors[0]
        for f in factors[1:]:
            out = out * f
        return out

    def values(self, Z):
        """``Phi`` of shape (n, B)."""
        return self._product(self._factors(self._univariate(Z), self.alpha)).T

    def _partials(self, H, factors):
        # dPhi / dz_j as k tensors (B, n); h_p' = sqrt(p) h_{p-1}
        lower = self._factors(H, self._lower)
        out = []
        for j in range(self.k):
            d = self._root[:, j, None] * lower[j]
            for i, f in enumerate(factors):
                if i != j:
                    d = d * f
            out.append(d)
        return out

    def values_and_gradients(self, Z):
        """``Phi`` (n, B) and ``dPhi / dz`` (n, B, k)."""
        H = self._univariate(Z)
        factors = self._factors(H, self.alpha)
        return self._product(factors).T, torch.stack(self._partials(H, factors), dim=2).transpose(0, 1)

    def values_and_link_gradient(self, Z, coef):
        """``Phi`` (n, B) and the gradient of ``g(z) = Phi(z) coef``, (n, k)."""
        H = self._univariate(Z)
        factors = self._factors(H, self.alpha)
        grad = torch.stack([coef @ d for d in self._partials(H, factors)], dim=1)
        return self._product(factors).T, grad


def _fit_link_projected(proj, basis, weight_sum, alpha=None):
    chunks = ((basis.values(Z), y, w) for Z, y, w in proj)
    res = ridge_from_chunks(chunks, basis.size, weight_sum, basis.alpha.device, alpha,
                            grid=LINK_ALPHA_GRID, n_varying=basis.size - 1)
    coef = res["coef"].to(basis._root.dtype).clone()
    coef[0] += res["intercept"]
    return coef, res["alpha"], res["gcv"]


def _projected(samples, V):
    """``[(X_c V, y_c, w_c)]`` over the row chunks of ``samples``."""
    return [(project(Xc, V), yc, wc) for Xc, yc, wc in samples]


def _projected_loss(proj, basis, coef, weight_sum):
    total = 0.0
    for Z, y, w in proj:
        r = basis.values(Z) @ coef - y
        total += float((w * r * r).sum())
    return 0.5 * total / weight_sum


def fit_link(samples, V, basis, alpha=None):
    """Ridge fit of the link on ``Phi(V^T x)``, penalty by GCV (constant unpenalized).

    Returns ``(coef, alpha, gcv)`` with ``coef`` of shape (B,); the intercept
    is folded into the coefficient of the constant basis function ``h_0 = 1``.
    """
    return _fit_link_projected(_projected(samples, V), basis, samples.weight_sum, alpha)


def link_loss(samples, V, basis, coef):
    """``sum_i w_i (g(V^T x_i) - y_i)^2 / (2 sum_i w_i)``."""
    return _projected_loss(_projected(samples, V), basis, coef, samples.weight_sum)


def _loss_and_gradient(samples, proj, basis, coef):
    """Training loss and its Euclidean gradient in ``V`` (one pass over ``X``)."""
    G, total = None, 0.0
    for (Xc, _, _), (Z, y, w) in zip(samples, proj):
        Phi, grad_z = basis.values_and_link_gradient(Z, coef)
        r = Phi @ coef - y
        part = back_project(Xc, (w * r)[:, None] * grad_z)
        G = part if G is None else G + part
        total += float((w * r * r).sum())
    sw = samples.weight_sum
    return 0.5 * total / sw, G / sw


def _retraction(M):
    """QR retraction with a deterministic sign: ``(Q, T)`` with ``Q = M T``."""
    Q, R = torch.linalg.qr(M)
    signs = torch.sign(torch.diagonal(R))
    signs[signs == 0] = 1.0
    eye = torch.eye(R.shape[0], dtype=R.dtype, device=R.device)
    T = torch.linalg.solve_triangular(R, eye, upper=True) * signs
    return Q * signs, T


def retract(M):
    """QR retraction onto the Stiefel manifold, with a deterministic sign."""
    return _retraction(M)[0]


def _moved(proj, XG, eta, T):
    """Projections onto ``Q = (V - eta G) T`` from those onto ``V`` and ``G``."""
    return [((Z - eta * P) @ T, y, w) for (Z, y, w), P in zip(proj, XG)]


def overlap_singular_values(A, B):
    return torch.linalg.svdvals(A.T @ B)


def grassmann_descent(
    train,
    valid,
    V0,
    *,
    degree=4,
    max_iter=200,
    patience=15,
    step_size=1.0,
    tol=1e-7,
    callback=None,
):
    """Two-timescale Riemannian descent from ``V0``.

    Parameters
    ----------
    train, valid : Samples
        Rows for the gradient and link fits, and held-out rows for stopping.
        ``valid`` may be None: then the run stops on ``max_iter`` or when the
        training loss stalls (relative decrease below ``tol``).
    V0 : torch.Tensor of shape (d, k)
        Orthonormal start.

    Returns
    -------
    V : torch.Tensor (d, k), the best subspace on ``valid`` (or the last).
    coef : torch.Tensor (B,), link coefficients fitted on ``train`` at ``V``.
    basis : HermiteBasis
    history : dict of lists ``train_loss``, ``val_loss``, ``step_size``,
        ``overlap`` (singular values of ``V_{t-1}^T V_t``) and ``link_alpha``.
    n_iter : int
    """
    V = retract(V0)
    k = V.shape[1]
    basis = HermiteBasis(k, degree, V.device, V.dtype)
    history = {"train_loss": [], "val_loss": [], "step_size": [], "overlap": [], "link_alpha": []}
    best = (np.inf, V, None)
    since_best = 0
    eta = step_size
    it = 0
    prev_loss = np.inf
    sw = train.weight_sum
    zt = _projected(train, V)
    zv = _projected(valid, V) if valid is not None else None
    for it in range(1, max_iter + 1):
        coef, link_alpha, _ = _fit_link_projected(zt, basis, sw)
        loss, G = _loss_and_gradient(train, zt, basis, coef)
        val = _projected_loss(zv, basis, coef, valid.weight_sum) if valid is not None else loss
        # decisions use a relative tolerance far above rounding, so that sums
        # taken in another order (weights vs repeated rows) decide the same way
        if val < best[0] - _RTOL * abs(best[0]) or not np.isfinite(best[0]):
            best, since_best = (val, V, coef), 0
        else:
            since_best += 1
        G = G - V @ (V.T @ G)
        gnorm2 = float((G * G).sum())
        xg = [project(Xc, G) for Xc, _, _ in train]
        # Armijo backtracking along the retraction, link held fixed
        eta = min(eta * 2.0, 1e6)
        V_new, accepted = V, None
        for _ in range(30):
            cand, T = _retraction(V - eta * G)
            zc = _moved(zt, xg, eta, T)
            if _projected_loss(zc, basis, coef, sw) <= loss - 1e-4 * eta * gnorm2 - _RTOL * abs(loss):
                V_new, accepted = cand, (zc, T)
                break
            eta *= 0.5
        overlap = overlap_singular_values(V, V_new)
        record = {"train_loss": loss, "val_loss": val, "step_size": eta,
                  "overlap": overlap.cpu().numpy(), "link_alpha": link_alpha}
        for key, value in record.items():
            history[key].append(value)
        if callback is not None:
            callback(it, record)
        # no step decreases the training loss beyond rounding: converged
        converged = accepted is None
        stalled = converged or (prev_loss - loss) <= tol * max(abs(loss), 1e-300)
        if not converged:
            zt, T = accepted
            if valid is not None:
                zv = _moved(zv, [project(Xc, G) for Xc, _, _ in valid], eta, T)
        V, prev_loss = V_new, loss
        if converged or (valid is not None and since_best >= patience) or (
            valid is None and stalled
        ):
            break
    if best[2] is None or valid is None:
        coef, _, _ = _fit_link_projected(zt, basis, sw)
        return V, coef, basis, history, it
    return best[1], best[2], basis, history, it
