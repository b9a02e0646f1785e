"""References for the onset of recovery: the weak-recovery threshold, the optimal spectral
method and Bayes-optimal GAMP, for a Gaussian multi-index model with a known link.

Setting: ``x ~ N(0, I_d)``, ``U`` (``d x r``) orthonormal, ``z = U^T x`` and
``y = g(z) + noise * eps`` with ``eps ~ N(0, 1)``. Everything here knows ``g`` and
``noise``: these are benchmark references, not estimators a user could run.

- :func:`conditional_second_moment` tabulates ``E[z z^T | y]`` on a grid of ``y``;
- :func:`alpha_c` is the weak-recovery threshold ``n / d`` of Troiani et al. [1]_:
  ``1 / alpha_c`` is the largest eigenvalue of ``M -> E_y[G(y) M G(y)]`` on symmetric
  ``r x r`` matrices, ``G(y) = E[z z^T | y] - I``;
- :func:`optimal_spectral` is the symmetric spectral method of Defilippis et al. [2]_
  (the multi-index form of the preprocessing ``T(y) = 1 - 1 / E[z^2 | y]`` of the
  single-index case [3]_, [4]_), which weakly recovers the subspace from ``alpha_c`` on;
- :func:`gamp` is Bayes-optimal generalized approximate message passing for the
  multi-index (committee-machine) model, Aubin et al. [5]_, started at random.

Plain NumPy and SciPy. Used by ``benchmarks/onset.py`` and
``tests/test_onset_references.py``.

References
----------
.. [1] Troiani, Dandi, Defilippis, Zdeborova, Loureiro, Krzakala. Fundamental limits of
   weak learnability in high-dimensional multi-index models. AISTATS 2025
   (arXiv:2405.15480).
.. [2] Defilippis, Dandi, Mergny, Krzakala, Loureiro. Optimal spectral transitions in
   high-dimensional multi-index models. NeurIPS 2025 (arXiv:2502.02545).
.. [3] Mondelli, Montanari. Fundamental limits of weak recovery with applications to
   phase retrieval. Foundations of Computational Mathematics 19 (2019); COLT 2018.
.. [4] Maillard, Krzakala, Lu, Zdeborova. Construction of optimal spectral methods in
   phase retrieval. MSML 2022 (arXiv:2012.04524).
.. [5] Aubin, Maillard, Barbier, Krzakala, Macris, Zdeborova. The committee machine:
   computational to statistical gaps in learning a two-layers neural network.
   NeurIPS 2018 (arXiv:1806.05451).
"""

import numpy as np
from scipy.signal import fftconvolve

from skmim._links import LINKS


def _link(link):
    """``(r, g)`` for a catalogue name or a ``(r, callable)`` pair."""
    if isinstance(link, str):
        r, g, _ = LINKS[link]
        return r, g
    r, g = link
    return int(r), g


def _tensor_grid(r, step, half_width):
    """Nodes (``K x r``) and log standard-normal weights (``K``) of a uniform grid on the
    ball of radius ``half_width`` (the corners of the cube carry no weight)."""
    t = np.arange(-half_width, half_width + step / 2, step)
    nodes = np.stack(np.meshgrid(*([t] * r), indexing="ij"), axis=-1).reshape(-1, r)
    nodes = nodes[np.sum(nodes**2, axis=1) <= half_width**2 + 1e-12]
    logw = -0.5 * np.sum(nodes**2, axis=1) + r * np.log(step / np.sqrt(2 * np.pi))
    return nodes, logw


class ConditionalMoments:
    """``E[z z^T | y]`` on a uniform grid of ``y``, as made by
    :func:`conditional_second_moment`.

    Attributes
    ----------
    y : ndarray of shape (m,)
        Grid of ``y`` (spacing ``dy``).
    density : ndarray of shape (m,)
        Density of ``y`` at the grid points (integrates to about 1 with ``dy``).
    second_moment : ndarray of shape (m, r, r)
        ``E[z z^T | y]`` at the grid points (the identity where the density is 0).
    dy : float
    """

    def __init__(self, y, density, second_moment, dy):
        self.y, self.density, self.second_moment, self.dy = y, density, second_moment, dy

    def expectation(self, values):
        """``E_y[f(y)]`` from ``values[k] = f(y[k])`` (first axis = grid of ``y``)."""
        w = self.density * self.dy
        return np.tensordot(w, values, axes=(0, 0)) / w.sum()

    def at(self, y):
        """``E[z z^T | y]`` at arbitrary ``y`` (linear interpolation, clamped at the ends).

        Parameters
        ----------
        y : array-like of shape (n,)

        Returns
        -------
        S : ndarray of shape (n, r, r)
        """
        y = np.asarray(y, dtype=float)
        r = self.second_moment.shape[1]
        out = np.empty((y.shape[0], r, r))
        for a in range(r):
            for b in range(a, r):
                out[:, a, b] = out[:, b, a] = np.interp(y, self.y, self.second_moment[:, a, b])
        return out


def conditional_second_moment(link, noise, *, step=None, half_width=7.0, dy=None):
    """Tabulate ``E[z z^T | y]`` for ``z ~ N(0, I_r)`` and ``y = g(z) + noise * eps``.

    The law of ``z`` is a uniform grid of step ``step`` on the ball of radius
    ``half_width`` with Gaussian weights. The weights ``phi(z)`` and ``phi(z) z z^T``
    are spread onto a grid of ``y`` of spacing ``dy`` at ``g(z)`` (linear, cloud-in-cell
    assignment), then convolved with the ``N(0, noise^2)`` density: the density of ``y``
    and ``E[z z^T 1{y}]``, whose ratio is ``E[z z^T | y]``. For ``noise = 0`` there is
    no convolution: the grid cells of ``y`` are bins.

    Parameters
    ----------
    link : str or (int, callable)
        A name in ``skmim._links.LINKS`` or ``(r, g)`` with ``g`` mapping ``(K, r)``
        arrays to ``(K,)``.
    noise : float
        Standard deviation of the Gaussian label noise (0 allowed).
    step : float, default=None
        Step of the grid of ``z``: 0.002 for ``r = 1`` and 0.01 for ``r = 2``. The
        defaults give ``alpha_c`` of the catalogued links to about 1e-3.
    half_width : float, default=7.0
    dy : float, default=None
        Spacing of the grid of ``y``: ``noise / 10``, or 0.005 without noise.

    Returns
    -------
    moments : ConditionalMoments
    """
    r, g = _link(link)
    if step is None:
        step = {1: 0.002, 2: 0.01}.get(r, 0.1)
    if dy is None:
        dy = noise / 10 if noise > 0 else 0.005
    nodes, logw = _tensor_grid(r, step, half_width)
    w = np.exp(logw)
    gz = np.asarray(g(nodes), dtype=float)
    pad = 8 * noise + 2 * dy
    lo = gz.min() - pad
    pos = (gz - lo) / dy
    m = int(np.ceil(pos.max() + pad / dy)) + 2
    left = np.floor(pos).astype(np.int64)
    frac = pos - left
    pairs = [(a, b) for a in range(r) for b in range(a, r)]
    hist = np.empty((1 + len(pairs), m))
    for k, f in enumerate([np.ones_like(w)] + [nodes[:, a] * nodes[:, b] for a, b in pairs]):
        wf = w * f
        hist[k] = (np.bincount(left, wf * (1 - frac), minlength=m)[:m]
                   + np.bincount(left + 1, wf * frac, minlength=m)[:m])
    if noise > 0:
        half = int(np.ceil(8 * noise / dy))
        u = np.arange(-half, half + 1) * dy
        kernel = np.exp(-0.5 * (u / noise) ** 2) / (np.sqrt(2 * np.pi) * noise)
        hist = fftconvolve(hist, kernel[None, :], mode="same", axes=1)
        hist[0] = np.clip(hist[0], 0, None)
    else:
        hist = hist / dy
    y = lo + dy * np.arange(m)
    density = hist[0]
    keep = density > 1e-12 * density.max()
    S = np.broadcast_to(np.eye(r), (m, r, r)).copy()
    for k, (a, b) in enumerate(pairs, start=1):
        S[keep, a, b] = S[keep, b, a] = hist[k, keep] / density[keep]
    density = np.where(keep, density, 0.0)
    return ConditionalMoments(y, density, S, dy)


def _symmetric_basis(r):
    """Orthonormal basis (Frobenius) of the symmetric ``r x r`` matrices."""
    basis = []
    for a in range(r):
        for b in range(a, r):
            B = np.zeros((r, r))
            B[a, b] = B[b, a] = 1.0 if a == b else 1 / np.sqrt(2)
            basis.append(B)
    return np.array(basis)


def alpha_c(link, noise, *, moments=None, return_operator=False, **grid):
    """Weak-recovery threshold ``alpha_c = n / d`` of a multi-index model [1]_.

    ``1 / alpha_c`` is the largest eigenvalue of the linear map
    ``M -> E_y[G(y) M G(y)]`` on symmetric ``r x r`` matrices, with
    ``G(y) = E[z z^T | y] - I`` (Troiani et al. 2025, the stability of the
    uninformative fixed point of the Bayes-optimal state evolution; it is also the
    threshold of the optimal spectral method [2]_). For a single index it is Mondelli
    and Montanari's ``1 / E_y[(E[z^2 | y] - 1)^2]`` [3]_: ``1/2`` for ``h2`` without noise.
    Valid for links with ``E[z | y] = 0`` (no linear part), as all those used here.

    Parameters
    ----------
    link : str or (int, callable)
    noise : float
    moments : ConditionalMoments, default=None
        Precomputed :func:`conditional_second_moment`.
    return_operator : bool, default=False
        Also return the map as a matrix in an orthonormal basis of symmetric matrices.
    **grid
        Passed to :func:`conditional_second_moment`.

    Returns
    -------
    alpha : float
        ``inf`` when the map has no positive eigenvalue.
    operator : ndarray of shape (r (r + 1) / 2, r (r + 1) / 2)
        Only with ``return_operator=True``.

    References
    ----------
    .. [1] Troiani et al., AISTATS 2025 (arXiv:2405.15480), eq. for ``alpha_c``.
    .. [2] Defilippis et al., NeurIPS 2025 (arXiv:2502.02545).
    .. [3] Mondelli, Montanari, COLT 2018.
    """
    if moments is None:
        moments = conditional_second_moment(link, noise, **grid)
    r = moments.second_moment.shape[1]
    G = moments.second_moment - np.eye(r)
    B = _symmetric_basis(r)
    # K[s, t] = E_y <B_s, G B_t G>
    GBG = np.einsum("yab,tbc,ycd->ytad", G, B, G)
    K = np.einsum("sad,ytad->yst", B, GBG)
    K = moments.expectation(K)
    K = 0.5 * (K + K.T)
    top = np.linalg.eigvalsh(K)[-1]
    alpha = 1.0 / top if top > 0 else np.inf
    return (alpha, K) if return_operator else alpha


def _top_subspace(W_list, weights, r):
    """Top-``r`` eigenvectors of ``sum_j weights[j] W_j W_j^T`` (``d x r`` orthonormal)."""
    P = sum(w * (Wj @ Wj.T) for w, Wj in zip(weights, W_list))
    _, V = np.linalg.eigh(0.5 * (P + P.T))
    return V[:, ::-1][:, :r]


def preprocessing(y, link, noise, *, moments=None, floor=1e-2):
    """The optimal spectral preprocessing ``T(y) = I - E[z z^T | y]^{-1}`` [1]_.

    The eigenvalues of ``E[z z^T | y]`` are floored at ``floor`` before the inverse,
    so ``T`` is bounded above by 1 (as always) and below by ``1 - 1 / floor``. With
    ``noise = 0.1`` the floor is inactive but for a mass of ``y`` below 1e-12: the
    smallest eigenvalue of ``E[z z^T | y]`` where the density of ``y`` exceeds 1e-6 is
    0.013 for ``h2``, 0.014 for ``h2+h2`` (``y`` near its minimum, ``z`` near 0),
    0.30 for ``z1*z2``, 0.26 for ``h2*h2`` and 0.15 for ``h4+h4``.

    Parameters
    ----------
    y : array-like of shape (n,)
    link : str or (int, callable)
    noise : float
    moments : ConditionalMoments, default=None
    floor : float, default=1e-2

    Returns
    -------
    T : ndarray of shape (n, r, r)

    References
    ----------
    .. [1] Defilippis et al., NeurIPS 2025 (arXiv:2502.02545), the symmetric method;
       Maillard et al. 2022 (arXiv:2012.04524) for ``r = 1``.
    """
    if moments is None:
        moments = conditional_second_moment(link, noise)
    ev, Q = np.linalg.eigh(moments.at(y))
    t = 1.0 - 1.0 / np.maximum(ev, floor)
    return np.einsum("nab,nb,ncb->nac", Q, t, Q)


def optimal_spectral(X, y, link, noise, r=None, *, moments=None, floor=1e-2,
                     return_eigenvalues=False):
    """Optimal spectral estimate of the subspace with the link known [1]_.

    The symmetric matrix of size ``r d x r d``

        ``M = (1/n) sum_i T(y_i) kron (x_i x_i^T - I_d)``,

    with ``T(y) = I - E[z z^T | y]^{-1}`` (:func:`preprocessing`; for one index,
    Mondelli and Montanari's and Maillard et al.'s ``1 - 1 / E[z^2 | y]``), whose top
    eigenvectors correlate with ``R^r kron span(U)`` from ``n / d = alpha_c`` on. Each of
    its top ``r^2`` eigenvectors ``v_j`` (the signal space has dimension ``r^2``) is
    reshaped into a ``d x r`` matrix ``W_j``; the estimate is the span of the top ``r``
    eigenvectors of ``sum_j max(lambda_j, 0)^2 W_j W_j^T``. This handles links whose
    ``T`` is a multiple of the identity (``h2 + h2``: ``M = I_r kron S`` and every
    ``W_j`` has rank one, so the span of one eigenvector would miss directions) as well
    as links whose top eigenvectors each carry the whole subspace. For ``r = 1`` it is
    the top eigenvector of ``(1/n) sum_i T(y_i) (x_i x_i^T - I)``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Rows ``x_i ~ N(0, I_d)`` (not centred or scaled here).
    y : ndarray of shape (n,)
    link : str or (int, callable)
    noise : float
    r : int, default=None
        Number of directions (the link's by default).
    moments : ConditionalMoments, default=None
    floor : float, default=1e-2
        See :func:`preprocessing`.
    return_eigenvalues : bool, default=False
        Also return the top ``r^2`` eigenvalues of ``M``.

    Returns
    -------
    subspace : ndarray of shape (d, r)
        Orthonormal columns.
    eigenvalues : ndarray of shape (r^2,)
        Only with ``return_eigenvalues=True``.

    References
    ----------
    .. [1] Defilippis, Dandi, Mergny, Krzakala, Loureiro. Optimal spectral transitions
       in high-dimensional multi-index models. NeurIPS 2025 (arXiv:2502.02545).
    """
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    r_link, _ = _link(link)
    r = r_link if r is None else int(r)
    T = preprocessing(y, link, noise, moments=moments, floor=floor)
    M = np.empty((r_link * d, r_link * d))
    for k in range(r_link):
        for m in range(k, r_link):
            tk = T[:, k, m]
            block = (X.T * tk) @ X / n - tk.mean() * np.eye(d)
            M[k * d:(k + 1) * d, m * d:(m + 1) * d] = block
            M[m * d:(m + 1) * d, k * d:(k + 1) * d] = block.T
    n_top = min(r_link**2, r_link * d)
    lam, V = np.linalg.eigh(M)
    lam, V = lam[::-1][:n_top], V[:, ::-1][:, :n_top]
    W = [V[:, j].reshape(r_link, d).T for j in range(n_top)]
    Q = _top_subspace(W, np.maximum(lam, 0.0) ** 2, r)
    return (Q, lam) if return_eigenvalues else Q


def _quadratic_form(g, r, rng=None):
    """``(c, b, Q)`` with ``g(z) = c + b.z + z^T Q z`` exactly, or None if ``g`` is not a
    polynomial of degree at most 2 (checked at random points)."""
    rng = np.random.default_rng(0) if rng is None else rng
    pairs = [(a, b) for a in range(r) for b in range(a, r)]

    def design(Z):
        return np.column_stack([np.ones(len(Z)), Z] + [Z[:, a] * Z[:, b] for a, b in pairs])

    Z = 2 * rng.standard_normal((64, r))
    coef = np.linalg.lstsq(design(Z), np.asarray(g(Z), dtype=float), rcond=None)[0]
    Zt = 3 * rng.standard_normal((64, r))
    gt = np.asarray(g(Zt), dtype=float)
    if np.max(np.abs(design(Zt) @ coef - gt)) > 1e-8 * (1 + np.max(np.abs(gt))):
        return None
    Q = np.zeros((r, r))
    for k, (a, b) in enumerate(pairs):
        Q[a, b] += coef[1 + r + k] / (1 if a == b else 2)
        Q[b, a] = Q[a, b]
    return coef[0], coef[1:1 + r], Q


def _posterior_moments(omega, V, y, g, noise, nodes, logprior, quad=None,
                       max_block=2_000_000):
    """Output step of GAMP: ``g_out`` per sample and the mean over samples of ``dg_out``.

    The posterior of ``z`` is ``N(y; g(z), noise^2) N(z; omega, V)``. In the whitened
    coordinates ``z = omega + L xi`` (``L L^T = V``) the prior is ``N(0, I)`` and the
    integral is the trapezoid rule on the grid ``nodes`` (accurate for such smooth,
    rapidly decaying integrands), with log-sum-exp weights, in blocks of at most
    ``max_block`` grid evaluations. For a quadratic link (``quad = (c, b, Q)``, see
    :func:`_quadratic_form`), ``g(omega + L xi) = c' + b'.xi + xi^T L^T Q L xi``, so the
    residuals of a block are one matrix product.
    """
    n, r = omega.shape
    L = np.linalg.cholesky(V)
    Linv = np.linalg.inv(L)
    pairs = [(a, b) for a in range(r) for b in range(a, r)]
    F = np.column_stack([np.ones(len(nodes)), nodes]
                        + [nodes[:, a] * nodes[:, b] for a, b in pairs])
    if quad is not None:
        c, b, Q = quad
        # residual / noise = [a_mu, -beta_mu, -1] @ [1; xi^T; q(xi)^T] / noise
        basis = np.vstack([np.ones(len(nodes)), nodes.T,
                           np.einsum("ka,ab,kb->k", nodes, L.T @ Q @ L, nodes)])
        const = c + omega @ b + np.einsum("na,ab,nb->n", omega, Q, omega)
        coef = np.column_stack([y - const, -(b + 2 * omega @ Q) @ L, -np.ones(n)]) / noise
    else:
        shifts = nodes @ L.T
    mom = np.empty((n, F.shape[1]))
    block = max(1, max_block // nodes.shape[0])
    for s in range(0, n, block):
        sl = slice(s, min(n, s + block))
        if quad is not None:
            t = coef[sl] @ basis
        else:
            Z = (omega[sl, None, :] + shifts[None, :, :]).reshape(-1, r)
            t = (y[sl, None] - np.asarray(g(Z), dtype=float).reshape(-1, len(nodes))) / noise
        np.square(t, out=t)
        t -= 2 * logprior
        t -= t.min(axis=1, keepdims=True)
        t *= -0.5
        w = np.exp(t, out=t)
        m = w @ F
        mom[sl] = m / m[:, :1]
    mean = mom[:, 1:1 + r]
    second = np.empty((r, r))
    for k, (a, b) in enumerate(pairs, start=1 + r):
        second[a, b] = second[b, a] = mom[:, k].mean()
    cov = second - mean.T @ mean / n  # mean over samples of the posterior covariance
    g_out = mean @ Linv  # rows of L^{-T} E[xi]
    dg_out = Linv.T @ (cov - np.eye(r)) @ Linv
    return g_out, 0.5 * (dg_out + dg_out.T)


def gamp(X, y, link, noise, r=None, *, random_state=None, max_iter=60, tol=1e-4,
         init_scale=0.01, variance_damping=0.5, cycle_damping=0.5, nishimori=True,
         step=None, half_width=5.0, return_info=False):
    """Bayes-optimal GAMP for the multi-index model, from a random start [1]_, [2]_.

    Generalized approximate message passing for ``y_mu = g(W^T x_mu / sqrt(d)) + noise``
    with the rows of ``W = sqrt(d) U`` given the prior ``N(0, I_r)`` (the algorithm of
    the committee machine of Aubin et al. with a Gaussian output channel), variances
    averaged over rows and samples. With ``Xs = X / sqrt(d)`` and ``alpha = n / d``,
    each iteration is

    - ``V = C``, ``omega = Xs W_hat - g_out_prev V`` (the Onsager term);
    - ``g_out = V^{-1} (E[z | omega, V, y] - omega)`` per sample, the posterior of
      ``z`` being ``N(y; g(z), noise^2) N(z; omega, V)``, integrated on a grid (the
      trapezoid rule in whitened coordinates, :func:`_posterior_moments`; the step
      of the grid is ``step / sqrt(|V|)``, between ``step`` and 0.25);
    - ``A = alpha mean(g_out g_out^T)`` (see ``nishimori``), ``B = Xs^T g_out + W_hat A``;
    - the denoiser of the Gaussian prior: ``W_hat = B (I + A)^{-1}``,
      ``C = (I + A)^{-1}`` (``C`` damped by ``variance_damping``).

    The start is uninformative: ``W_hat`` has i.i.d. ``N(0, init_scale^2)`` entries
    drawn from ``random_state``, independent of the data, and ``C = I``. For links with
    ``E[z | y] = 0``, ``W_hat = 0`` is a fixed point; AMP leaves it only above
    ``alpha_c``, after about ``log(d) / log(alpha / alpha_c)`` iterations, so just
    above ``alpha_c`` it is still escaping at ``max_iter``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
    link : str or (int, callable)
    noise : float
        Standard deviation of the label noise; must be positive.
    r : int, default=None
        Number of directions returned (the link's by default).
    random_state : int, Generator or None, default=None
        Seeds the start.
    max_iter : int, default=60
    tol : float, default=1e-4
        Stops when ``|W_hat_new - W_hat|_F <= tol |W_hat_new|_F``.
    init_scale : float, default=0.01
        Small enough that the overlap with the truth grows (by ``alpha / alpha_c`` per
        iteration, as the norm does) before the norm of ``W_hat`` reaches order one.
    variance_damping : float in [0, 1), default=0.5
        ``C <- variance_damping C_old + (1 - variance_damping) C_new``. Undamped, the
        variances of ``z1*z2`` near ``alpha = 2`` flip between two values and AMP ends
        in states that are confident in a direction they have not learned.
    cycle_damping : float in [0, 1), default=0.5
        Once ``W_hat`` alternates between two values (a two-cycle, common at the
        informative fixed point), ``W_hat`` and ``C`` are both damped by this much.
    nishimori : bool, default=True
        ``A = alpha mean(g_out g_out^T)``, which equals the textbook
        ``-alpha mean(dg_out)``, ``dg_out = V^{-1} Cov[z | omega, V, y] V^{-1} - V^{-1}``,
        in expectation for the Bayes-optimal channel (the Nishimori identity), and is
        positive semi-definite. ``False`` uses the derivative: then near the
        uninformative point, where ``y`` fixes ``Cov[z | ...]`` whatever ``V``, the
        recursion of ``V`` has slope ``-alpha`` and diverges for ``alpha > 1`` from the
        finite-``n`` fluctuation of ``mean(dg_out)``, unless strongly damped.
    step : float, default=None
        Base step of the grid of whitened ``z``: ``0.6 * noise`` (the trapezoid rule is
        then accurate to about 1 % at ``V = I`` for the links here).
    half_width : float, default=5.0
        The grid covers the ball of this radius.
    return_info : bool, default=False
        Also return ``{"n_iter", "converged", "W_hat", "C"}``.

    Returns
    -------
    subspace : ndarray of shape (d, r)
        Orthonormal basis of the span of ``W_hat`` (its top ``r`` left singular vectors).
    info : dict
        Only with ``return_info=True``.

    References
    ----------
    .. [1] Aubin, Maillard, Barbier, Krzakala, Macris, Zdeborova. The committee
       machine: computational to statistical gaps in learning a two-layers neural
       network. NeurIPS 2018 (arXiv:1806.05451).
    .. [2] Troiani et al. Fundamental limits of weak learnability in high-dimensional
       multi-index models. AISTATS 2025 (arXiv:2405.15480).
    """
    if not noise > 0:
        raise ValueError("gamp needs noise > 0 (the output channel is Gaussian).")
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, d = X.shape
    r_link, g = _link(link)
    r = r_link if r is None else int(r)
    step = 0.6 * noise if step is None else step
    quad = _quadratic_form(g, r_link)
    Xs = X / np.sqrt(d)
    scale = float(np.mean(Xs**2)) * d  # about 1
    alpha = n / d
    rng = np.random.default_rng(random_state)
    W_hat = init_scale * rng.standard_normal((d, r_link))
    C = np.eye(r_link)
    g_prev = np.zeros((n, r_link))
    damping, W_older, converged, it = 0.0, None, False, 0
    for it in range(1, max_iter + 1):
        V = scale * C
        omega = Xs @ W_hat - g_prev @ V
        h = float(np.clip(step / np.sqrt(np.linalg.eigvalsh(V)[-1]), step, 0.25))
        nodes, logprior = _tensor_grid(r_link, h, half_width)
        g_out, dg = _posterior_moments(omega, V, y, g, noise, nodes, logprior, quad)
        A = alpha * scale * (g_out.T @ g_out / n if nishimori else -dg)
        B = Xs.T @ g_out + W_hat @ A
        C_new = np.linalg.inv(np.eye(r_link) + A)
        W_new = B @ C_new
        if W_older is not None and (np.linalg.norm(W_new - W_older)
                                    < 0.5 * np.linalg.norm(W_new - W_hat)):
            damping = cycle_damping
        W_new = damping * W_hat + (1 - damping) * W_new
        c = max(damping, variance_damping)
        C_new = c * C + (1 - c) * 0.5 * (C_new + C_new.T)
        change = np.linalg.norm(W_new - W_hat)
        W_older, W_hat, C, g_prev = W_hat, W_new, C_new, g_out
        if change <= tol * np.linalg.norm(W_hat):
            converged = True
            break
    Q = np.linalg.svd(W_hat, full_matrices=False)[0][:, :r]
    if return_info:
        return Q, {"n_iter": it, "converged": converged, "W_hat": W_hat, "C": C}
    return Q
