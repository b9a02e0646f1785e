"""Stage 2: the convex fit of the outer layer, ridge regression with GCV.

With the first layer frozen the objective
``sum_i w_i (f(x_i) - y_i)^2 / (2 sum_i w_i) + alpha |a|^2 / 2`` is ridge
regression on the features ``sigma(W x + b)``. Everything it needs, including
generalized cross-validation for every ``alpha`` of a grid, follows from the
weighted Gram matrix of the features and their products with ``y``, which are
sums over row chunks. The intercept is fitted and not penalised.
"""

import numpy as np
import torch
from scipy.linalg import lapack

from ._data import back_project, self_gram
from ._network import ACTIVATIONS

# alpha grid for GCV, relative to the mean feature variance
ALPHA_GRID = np.logspace(-6.0, 1.0, 29)


def features(X, directions, biases, activation):
    return ACTIVATIONS[activation](X @ directions.T + biases)


def _chunk_moments(Fc, yc, wc):
    """``[1 F Y]^T diag(w) [1 F Y]`` of one chunk (float64): every sum the ridge fit needs."""
    Yc = yc[:, None] if yc.ndim == 1 else yc
    p = Fc.shape[1]
    # B = sqrt(w) [1 F Y], B^T B (the weights are non-negative): the scaling
    # written into one buffer, and a product of one matrix with itself. In
    # float64 whatever F's dtype: the ridge centres these sums, and centred
    # float32 sums of collinear features left the Gram matrix with negative
    # eigenvalues of rounding, a GCV error of 0 at the smallest penalty and
    # that penalty chosen (dtype="float32", d = 16, n = 750: alpha_ 4e-4 ->
    # 4e-7, test R^2 0.993 -> 0.806)
    root = wc.to(torch.float64).sqrt()[:, None]
    width = p + 1 + Yc.shape[1]
    if Fc.ndim == 2 and Fc.shape[0] > 1 and Fc.stride(0) == 1:
        # F laid out by columns (a link's basis values, the transpose of a
        # contiguous table): B too, so that writing it copies contiguous
        # memory (n = 3200, 117 columns, one thread: 2.0 -> 1.55 ms in all);
        # the product is the same symmetric rank-k update
        B = torch.empty(width, Fc.shape[0], dtype=torch.float64, device=Fc.device).T
    else:
        B = torch.empty(Fc.shape[0], width, dtype=torch.float64, device=Fc.device)
    B[:, :1] = root
    torch.mul(Fc, root, out=B[:, 1:p + 1])
    torch.mul(Yc, root, out=B[:, p + 1:])
    return self_gram(B)


# Rows per block of the features in the outer layer's passes: a quarter of a
# chunk of X, so that the few temporaries the features need (the products
# with the neurons, their activations, the scaled copy) stay small beside X
# (n = 200,000, d = 256: 0.05 X instead of 0.2 X at the end of the fit)
FEATURE_BLOCK_DIVISOR = 4


def _feature_moments(feature_fn, Xc, yc, wc):
    """:func:`_chunk_moments` of ``feature_fn(X_c)``, in blocks of a quarter of the chunk's rows."""
    step = max(1, -(-Xc.shape[0] // FEATURE_BLOCK_DIVISOR))
    M = None
    for a in range(0, max(Xc.shape[0], 1), step):  # an empty chunk: its zero moments
        part = _chunk_moments(feature_fn(Xc[a:a + step]), yc[a:a + step], wc[a:a + step])
        M = part if M is None else M + part
    return M


def _summed_moments(chunks):
    """``[1 F Y]^T diag(w) [1 F Y]`` summed over ``(F, y, w)`` chunks (None: no chunks).

    One product per chunk gives every weighted sum the ridge fit needs (of
    ``F``, ``F^T F``, ``F^T Y``, ``Y`` and ``Y^T Y``); ``y`` is a vector or a
    matrix of ``K`` targets (columns of ``Y``).
    """
    M = None
    for Fc, yc, wc in chunks:
        part = _chunk_moments(Fc, yc, wc)
        M = part if M is None else M + part
    return M


# Huber outer layer: threshold in robust standard deviations of the residuals
# (95 % efficiency at Gaussian noise) and iteratively reweighted ridge steps.
HUBER_OUTER_C = 1.345
HUBER_OUTER_ITER = 10


def ridge_gcv(samples, feature_fn, n_features, alpha=None, grid=ALPHA_GRID, n_varying=None,
              loss="squared"):
    """Weighted ridge regression of the targets on ``feature_fn(X)``, with intercept.

    ``alpha`` is the penalty per unit weight (the objective is
    ``sum_i w_i (f_i - y_i)^2 / (2 sum_i w_i) + alpha |coef|^2 / 2``); ``None``
    picks it on ``grid`` (relative to the mean variance of the ``n_varying``
    non-constant features, default all) by generalized cross-validation, all
    from one eigendecomposition of the centred Gram matrix.

    Returns
    -------
    dict with ``coef`` (n_features,), ``intercept``, ``alpha``, ``gcv`` (GCV
    mean squared error at the chosen alpha), ``alphas`` and ``gcv_path``.

    ``loss="huber"`` fits the Huber loss instead (robust to heavy-tailed
    noise) by iteratively reweighted ridge regression: each sample's weight
    is multiplied by ``min(1, delta / |residual|)``, with ``delta`` =
    ``HUBER_OUTER_C`` robust standard deviations of the current residuals,
    for at most ``HUBER_OUTER_ITER`` steps; the penalty is chosen by GCV on
    the reweighted problem at every step.
    """
    if loss == "huber":
        return _huber_ridge(samples, feature_fn, n_features, alpha, grid, n_varying)
    return ridge_from_moments(outer_moments(samples, feature_fn), n_features, samples.weight_sum,
                              alpha, grid, n_varying)


def outer_moments(samples, feature_fn):
    """``[1 F Y]^T diag(w) [1 F Y]`` summed over the chunks of ``samples`` (``F = feature_fn(X)``).

    A sum over samples: the moments of two sets of rows add (a stream of
    blocks accumulates them, see :func:`ridge_from_moments`).
    """
    return samples.reduce(lambda Xc, yc, wc: _feature_moments(feature_fn, Xc, yc, wc))


def gram_without(gram, other_moments):
    """``gram`` (d x d, NumPy) minus the ``X^T diag(w) X`` block of ``other_moments``.

    ``other_moments`` is :func:`outer_moments` of some rows on their columns
    (``[1 X Y]^T diag(w) [1 X Y]``): the Gram matrix of the rows of
    ``gram`` that are not among them.
    """
    p = gram.shape[0]
    return gram - other_moments[1:p + 1, 1:p + 1].cpu().numpy()


def moments_from_gram(samples, other, gram, other_moments=None):
    """:func:`outer_moments` of ``samples`` on their columns (``F = X``), from a known Gram matrix.

    ``gram`` (d x d, NumPy) is ``sum_i w_i x_i x_i^T`` over the rows of
    ``samples`` and ``other`` together; the block ``X^T diag(w) X`` of the
    result is ``gram`` minus ``other``'s (from a full pass over ``other``),
    the rest from a thin pass over ``samples`` (:func:`moments_with_gram`).
    The result equals :func:`outer_moments` up to rounding: the training
    rows' ``n d^2`` product is replaced by the held-out rows'.
    ``other_moments``: :func:`column_moments` of ``other``, when known.
    """
    other_M = column_moments(other) if other_moments is None else other_moments
    return moments_with_gram(samples, gram_without(gram, other_M)).to(other_M.device)


def column_moments(samples):
    """:func:`outer_moments` of ``samples`` on their columns (``F = X``), in ``d x d`` memory.

    The ``X^T diag(w) X`` block by :meth:`._data.Samples.gram` (the chunks
    accumulated in place, on the CPU by BLAS), the rest by
    :func:`moments_with_gram`'s thin pass: no per-chunk copy of ``[1 X y]``
    or per-chunk ``(d + 2)^2`` product to sum (at d = 2048 those had taken
    a fit's peak memory from 1.44 to 1.56 X). Equal to ``outer_moments(samples,
    lambda X: X)`` up to rounding.
    """
    G = samples.with_targets(np.ones(samples.n_samples)).gram()
    return moments_with_gram(samples, G.cpu().numpy())


def moments_with_gram(samples, gram):
    """:func:`outer_moments` of ``samples`` on their columns, its ``X^T diag(w) X`` block ``gram``.

    ``gram`` (d x d, NumPy) is that block, known or formed apart (e.g. by
    :meth:`._data.Samples.gram`, which accumulates the chunks in place);
    the sums of ``w``, ``w x``, ``w y``, ``w x y^T`` and ``w y y^T`` come
    from a thin pass over ``samples`` (``X^T`` times ``1 + K`` columns).
    """
    p = samples.n_features

    def thin(Xc, yc, wc):
        Yc = (yc[:, None] if yc.ndim == 1 else yc).to(Xc.dtype)
        L = torch.cat([torch.ones_like(Yc[:, :1]), Yc], dim=1)  # [1 Y]
        R = L * wc.to(Xc.dtype)[:, None]
        return torch.cat([(L.T @ R).double(), back_project(Xc, R).double()])

    S = samples.reduce(thin).cpu().numpy()  # rows: [1 Y] then X; columns: [1 Y]
    q = S.shape[1]
    head = np.r_[0, np.arange(p + 1, p + q)]  # the positions of 1 and Y in [1 X Y]
    M = np.empty((p + q, p + q))
    M[np.ix_(head, head)] = S[:q]
    M[1:p + 1][:, head] = S[q:]
    M[np.ix_(head, np.arange(1, p + 1))] = S[q:].T
    M[1:p + 1, 1:p + 1] = gram
    return torch.from_numpy(M).to(samples.device)


# GCV needs, for every penalty lam of its grid, the ridge fit's residual sum
# of squares (through c^T (G + lam)^-1 c and |(G + lam)^-1 c|^2, c = F^T y
# centred) and its degrees of freedom (through the eigenvalues of G). From
# this many features on, G is reduced to a tridiagonal T = Q^T G Q (LAPACK
# sytrd) instead of diagonalized: the eigenvalues of T (sterf) and the
# tridiagonal systems of all penalties, solved as one (pttrf, pttrs;
# _TridiagonalSolve.explained), give the same quantities, without the
# eigenvectors, which cost most of an eigendecomposition. One thread, GCV
# over 17 penalties, one target, the whole ridge_from_moments (us): p = 10:
# 69 with eigh against 66; 15: 80 / 75; 21: 104 / 87; 35: 162 / 117; 48: 239
# / 158; 70: 405 / 247 (with a solve per penalty, the reduction only paid
# from about 48 on: p = 35 143 / 150, 64 356 / 251, 117 1084 / 594).
TRIDIAGONAL_MIN_FEATURES = 16


# The centred Gram matrix G of features that do not vary over the rows is
# the rounding of ``sum w f f^T - sw m m^T``: its trace at most this fraction
# of the uncentred one's (one distinct row: -1.5e-12 against 5.1e4)
CONSTANT_FEATURES_RTOL = 1e-10


class _NotPositiveDefinite(Exception):
    """``T + lam I`` is not positive definite (a penalty below rounding negative eigenvalues)."""


class _EigenSolve:
    """GCV's quantities from the eigendecomposition of the centred Gram matrix ``G``."""

    def __init__(self, G, Fy):
        s, self.Q = np.linalg.eigh(G)
        self.s = np.maximum(s, 0.0)
        self.c = self.Q.T @ Fy
        self.c2 = np.einsum("ij,ij->i", self.c, self.c)

    def explained(self, lam):
        """``sum_K c_K^T x_K + lam |x_K|^2``, ``x = (G + lam)^-1 Fy``, for each penalty in ``lam``:
        the total sum of squares minus the residual one."""
        denom = self.s + lam[:, None]
        # a direction of zero variance adds nothing, also without a penalty (0 / 0)
        terms = np.divide(self.c2 * (self.s + 2.0 * lam[:, None]), denom * denom,
                          out=np.zeros(denom.shape), where=denom > 0)
        return terms.sum(1)

    def solve(self, lam):
        """``(G + lam)^-1 Fy``."""
        return self.Q @ (self.c / (self.s + lam)[:, None])


class _TridiagonalSolve:
    """:class:`_EigenSolve`'s quantities from the tridiagonal reduction ``G = Q T Q^T``.

    ``Q = diag(1, H)``, ``H`` the product of the reflectors sytrd stores
    below the subdiagonal (applied by ormqr, never formed).
    """

    def __init__(self, G, Fy):
        reflectors, self.d, self.e, self.tau, info = lapack.dsytrd(G, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"dsytrd failed (info={info})")
        self.reflectors = reflectors[1:, :-1]
        self.c = self._apply(np.asarray(Fy, dtype=np.float64), "T")
        self.s = np.maximum(lapack.dsterf(self.d, self.e)[0], 0.0)

    def _apply(self, B, trans):
        """``Q^T B`` (``trans="T"``) or ``Q B`` (``"N"``)."""
        out = np.array(B, dtype=np.float64, order="F")
        if out.shape[0] > 1:
            lwork = max(1, out.shape[1]) * 64
            out[1:], _, info = lapack.dormqr("L", trans, self.reflectors, self.tau, out[1:],
                                             lwork)
            if info != 0:
                raise np.linalg.LinAlgError(f"dormqr failed (info={info})")
        return out

    def _solve_tridiagonal(self, lam):
        dd, ee, info = lapack.dpttrf(self.d + lam, self.e)
        if info != 0:
            raise _NotPositiveDefinite
        x, info = lapack.dpttrs(dd, ee, self.c)
        return x

    def explained(self, lam):
        """:meth:`_EigenSolve.explained`: all penalties' tridiagonal systems solved as one.

        The systems ``(T + lam_i) x_i = c`` are the diagonal blocks of one
        tridiagonal system, uncoupled (zero off-diagonal entries between
        blocks), which pttrf and pttrs factor and solve in one call each:
        the same arithmetic per block as a solve per penalty (a zero
        coupling leaves the next block's pivots and right-hand side as
        they are), without a call and two reductions per penalty (p = 70,
        17 penalties, one thread: 133 -> 18 us).
        """
        p, L = self.d.size, lam.size
        d = (self.d[None, :] + lam[:, None]).ravel()
        e = np.zeros((L, p))
        e[:, :p - 1] = self.e
        dd, ee, info = lapack.dpttrf(d, e.ravel()[:-1])
        if info != 0:
            raise _NotPositiveDefinite
        # the right-hand sides (p L x K, Fortran order): c once per block
        c = np.empty((p, L, self.c.shape[1]), order="F")
        c[...] = self.c[:, None, :]
        x, info = lapack.dpttrs(dd, ee, c.reshape(p * L, -1, order="F"))
        x = x.reshape(c.shape, order="F")
        return (c * x).sum(axis=(0, 2)) + lam * (x * x).sum(axis=(0, 2))

    def solve(self, lam):
        return self._apply(self._solve_tridiagonal(lam), "N")


def ridge_from_moments(M, n_features, weight_sum, alpha=None, grid=ALPHA_GRID, n_varying=None,
                       device=None):
    """:func:`ridge_gcv` from summed moments ``M`` (:func:`outer_moments`) of total weight ``weight_sum``.

    ``M`` is ``[1 F Y]^T diag(w) [1 F Y]``, of shape ``(n_features + 1 + K)``
    squared (None: no rows, one target; the coefficients go to ``device``).

    The matrix is small, so the solve runs on the host in NumPy whatever
    the device of the rows (one transfer of ``M``, one of the coefficients
    back): at the sizes of a link fit, which a refinement repeats at every
    step, torch's per-operation overhead was most of the cost (one thread,
    GCV over the link's 17 penalties, one run: 464 / 279 us per solve in
    torch / NumPy at p = 15, 1072 / 733 us at p = 70; the
    eigendecomposition itself costs the same in both). The coefficients are
    returned as float64 tensors on the device of ``M``.
    """
    p = n_features
    if M is None:
        A = np.zeros((p + 2, p + 2))
    else:
        device = M.device
        A = M.detach().cpu().double().numpy()
    sw = float(weight_sum)
    sF, sy = A[0, 1:p + 1], A[0, p + 1:]
    mF, my = sF / sw, sy / sw
    # centred sums (the intercept is not penalised)
    smF = sw * mF[:, None]
    G = A[1:p + 1, 1:p + 1] - smF * mF
    Fy = A[1:p + 1, p + 1:] - smF * my
    # total (over targets) centred sum of squares: GCV adds the targets' criteria
    yy = max(float(A[p + 1:, p + 1:].trace() - sw * (my @ my)), 0.0)
    G = 0.5 * (G + G.T)
    if not np.trace(G) > CONSTANT_FEATURES_RTOL * np.trace(A[1:p + 1, 1:p + 1]):
        # the features do not vary over these rows (all rows alike, as a
        # stage-2 part of one distinct row): G and Fy are the rounding of the
        # centring, and a penalty scaled to them gave coefficients of 1e5 or
        # more, predictions 1e7 times y's range. No feature explains anything:
        # the intercept alone
        G, Fy = np.zeros_like(G), np.zeros_like(Fy)
    solve = (_TridiagonalSolve if p >= TRIDIAGONAL_MIN_FEATURES else _EigenSolve)(G, Fy)
    s = solve.s
    n_varying = p if n_varying is None else n_varying
    total = float(s.sum())
    scale = total / (max(n_varying, 1) * sw) if total > 0 else 1.0
    alphas = np.array([alpha], dtype=float) if alpha is not None else scale * grid
    # the GCV criterion for every alpha at once
    lam = alphas * sw
    try:
        explained = solve.explained(lam)
    except _NotPositiveDefinite:
        solve = _EigenSolve(G, Fy)
        explained = solve.explained(lam)
    rss = yy - explained
    denom = s + lam[:, None]  # a direction of zero variance: no degree of freedom
    df = np.divide(s, denom, out=np.zeros(denom.shape), where=denom > 0).sum(1) + 1.0
    gcv = np.full(alphas.size, np.inf)
    fits = df < sw  # fewer effective parameters than the total weight
    gcv[fits] = (np.maximum(rss[fits], 0.0) / sw) / (1.0 - df[fits] / sw) ** 2
    finite = np.isfinite(gcv)
    if finite.any():
        # first alpha within a relative 1e-9 of the minimum: robust to rounding
        best = int(np.argmax(gcv <= gcv[finite].min() * (1 + 1e-9) + 1e-300))
    else:
        best = alphas.size - 1
    lam = alphas[best] * sw
    if lam > 0:
        coef = solve.solve(lam)
    else:
        coef = np.linalg.lstsq(G, Fy, rcond=None)[0]
    intercept = my - mF @ coef
    coef = torch.as_tensor(coef, dtype=torch.float64).to(device)
    if Fy.shape[1] > 1:
        intercept = torch.as_tensor(intercept, dtype=torch.float64).to(device)
    else:
        coef, intercept = coef[:, 0], float(intercept[0])
    return {
        "coef": coef,
        "intercept": intercept,
        "alpha": float(alphas[best]),
        "gcv": float(gcv[best]),
        "alphas": alphas,
        "gcv_path": gcv,
    }


def _huber_ridge(samples, feature_fn, n_features, alpha, grid, n_varying):
    """:func:`ridge_gcv` with the Huber loss, by iteratively reweighted ridge steps."""
    from ._losses import robust_scale

    factors = None  # per-chunk IRLS factors; None: all ones
    res = None
    for _ in range(HUBER_OUTER_ITER + 1):
        if factors is None:
            M = outer_moments(samples, feature_fn)
            total = samples.weight_sum
        else:
            M, total = samples.reduce(
                lambda Xc, yc, wc, fc: (_feature_moments(feature_fn, Xc, yc, wc * fc),
                                        float((wc * fc).sum())), factors)
        res = ridge_from_moments(M, n_features, total, alpha, grid, n_varying)
        coef, intercept = res["coef"], res["intercept"]
        resid = samples.map(
            lambda Xc, yc, wc: yc - (feature_fn(Xc) @ coef.to(Xc.dtype) + intercept))
        r = torch.cat(resid).double().cpu().numpy()
        scale = robust_scale(r, samples.weights)
        if not scale > 0:
            break
        delta = HUBER_OUTER_C * scale
        new = [torch.clamp(delta / rc.abs().clamp_min(1e-300), max=1.0) for rc in resid]
        if factors is not None and max(float((a - b).abs().max())
                                       for a, b in zip(new, factors)) < 1e-6:
            factors = new
            break
        factors = new
    return res


def ridge_from_chunks(chunks, n_features, weight_sum, device, alpha=None, grid=ALPHA_GRID,
                      n_varying=None):
    """:func:`ridge_gcv` on precomputed ``(features, targets, weights)`` chunks.

    Targets of shape (n, K), ``K >= 2`` (``K`` outputs sharing the features, as the
    class indicators of a classifier) give ``coef`` of shape
    (n_features, K) and an intercept tensor of shape (K,), the penalty
    chosen by the GCV criterion summed over the outputs.
    """
    return ridge_from_moments(_summed_moments(chunks), n_features, weight_sum, alpha, grid,
                              n_varying, device)


def fit_ridge(samples, directions, biases, activation, alpha=None, loss="squared"):
    """Fit the outer layer on ``activation(X directions^T + biases)`` (see ``ridge_gcv``)."""
    return ridge_gcv(samples, lambda X: features(X, directions, biases, activation),
                     directions.shape[0], alpha, loss=loss)
