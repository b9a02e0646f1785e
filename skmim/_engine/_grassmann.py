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
"""

import itertools
import math

import numpy as np
import torch

from ._ridge import ridge_gcv

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

    def _univariate(self, Z):
        # H[..., p] = h_p(z), h_{p+1} = (z h_p - sqrt(p) h_{p-1}) / sqrt(p + 1)
        H = [torch.ones_like(Z), Z]
        for p in range(1, self.degree):
            H.append((Z * H[p] - math.sqrt(p) * H[p - 1]) / math.sqrt(p + 1))
        return torch.stack(H[: self.degree + 1], dim=-1)  # (n, k, P+1)

    def _gather(self, H, alpha):
        # (n, k, P+1) -> (n, B, k): h_{alpha_bj}(z_j)
        n = H.shape[0]
        idx = alpha.T.unsqueeze(0).expand(n, -1, -1)  # (n, k, B)
        return torch.gather(H, 2, idx).transpose(1, 2)

    def values(self, Z):
        return self._gather(self._univariate(Z), self.alpha).prod(dim=2)

    def values_and_gradients(self, Z):
        """``Phi`` (n, B) and ``dPhi / dz`` (n, B, k)."""
        H = self._univariate(Z)
        factors = self._gather(H, self.alpha)  # (n, B, k)
        Phi = factors.prod(dim=2)
        # h_p' = sqrt(p) h_{p-1}
        lower = self._gather(H, (self.alpha - 1).clamp_min(0))
        dfac = torch.sqrt(self.alpha.to(Z.dtype)).unsqueeze(0) * lower
        grads = []
        for j in range(self.k):
            others = torch.cat([factors[:, :, :j], factors[:, :, j + 1:]], dim=2).prod(dim=2)
            grads.append(dfac[:, :, j] * others)
        return Phi, torch.stack(grads, dim=2)


def fit_link(samples, V, basis, alpha=None):
    """Ridge fit of the link on ``Phi(V^T x)``, penalty by GCV (constant unpenalized).

    Returns ``(coef, alpha, gcv)`` with ``coef`` of shape (B,); the intercept
    is folded into the coefficient of the constant basis function ``h_0 = 1``.
    """
    res = ridge_gcv(samples, lambda X: basis.values(X @ V), basis.size, alpha,
                    grid=LINK_ALPHA_GRID, n_varying=basis.size - 1)
    coef = res["coef"].to(V.dtype).clone()
    coef[0] += res["intercept"]
    return coef, res["alpha"], res["gcv"]


def link_loss(samples, V, basis, coef):
    """``sum_i w_i (g(V^T x_i) - y_i)^2 / (2 sum_i w_i)``."""
    total = 0.0
    for Xc, yc, wc in samples:
        r = basis.values(Xc @ V) @ coef - yc
        total += float((wc * r * r).sum())
    return 0.5 * total / samples.weight_sum


def _loss_and_gradient(samples, V, basis, coef):
    G = torch.zeros_like(V)
    total = 0.0
    for Xc, yc, wc in samples:
        Phi, dPhi = basis.values_and_gradients(Xc @ V)
        r = Phi @ coef - yc
        grad_z = torch.einsum("nbk,b->nk", dPhi, coef)
        G += Xc.T @ ((wc * r)[:, None] * grad_z)
        total += float((wc * r * r).sum())
    sw = samples.weight_sum
    return 0.5 * total / sw, G / sw


def retract(M):
    """QR retraction onto the Stiefel manifold, with a deterministic sign."""
    Q, R = torch.linalg.qr(M)
    signs = torch.sign(torch.diagonal(R))
    signs[signs == 0] = 1.0
    return Q * signs


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
    for it in range(1, max_iter + 1):
        coef, link_alpha, _ = fit_link(train, V, basis)
        loss, G = _loss_and_gradient(train, V, basis, coef)
        val = link_loss(valid, V, basis, coef) if valid is not None else loss
        # decisions use a relative tolerance far above rounding, so that sums
        # taken in another order (weights vs repeated rows) decide the same way
        if val < best[0] - _RTOL * abs(best[0]) or not np.isfinite(best[0]):
            best, since_best = (val, V, coef), 0
        else:
            since_best += 1
        G = G - V @ (V.T @ G)
        gnorm2 = float((G * G).sum())
        # Armijo backtracking along the retraction, link held fixed
        eta = min(eta * 2.0, 1e6)
        V_new = V
        for _ in range(30):
            cand = retract(V - eta * G)
            if link_loss(train, cand, basis, coef) <= loss - 1e-4 * eta * gnorm2 - _RTOL * abs(loss):
                V_new = cand
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
        converged = V_new is V
        stalled = converged or (prev_loss - loss) <= tol * max(abs(loss), 1e-300)
        V, prev_loss = V_new, loss
        if converged or (valid is not None and since_best >= patience) or (
            valid is None and stalled
        ):
            break
    if best[2] is None or valid is None:
        coef, _, _ = fit_link(train, V, basis)
        return V, coef, basis, history, it
    return best[1], best[2], basis, history, it
