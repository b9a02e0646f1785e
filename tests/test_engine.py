"""The torch engine against independent computations of the same quantities."""

import numpy as np
import pytest
import torch

from skmim._engine._data import Samples
from skmim._engine._device import resolve_device, resolve_dtype
from skmim._engine._grassmann import HermiteBasis, fit_link, multi_indices
from skmim._engine._layerwise import SecondMoment, power_first_layer, train_first_layer
from skmim._engine._losses import Stage1Loss, huber_location
from skmim._engine._stats import weighted_quantile
from skmim._engine._network import symmetric_init
from skmim._engine._null import N_SHIFTS, null_z, shifted
from skmim._engine._sliced import (
    membership_top_eigenvalue,
    slice_labels,
    slice_membership,
    sliced_directions,
    sliced_moment,
)
from skmim._engine._ridge import fit_ridge
from skmim._links import hermite

CPU = torch.device("cpu")
F64 = torch.float64


def test_stage1_gradient_descent_is_power_iteration():
    # With weight decay 1/lr and tiny weights, each GD step on the network maps
    # every neuron w to +-Sigma_l w (spec section 3): compare with explicit
    # normalized power iteration on Sigma_l = E[l'(0, y) x x^T].
    rng = np.random.RandomState(0)
    n, d, m, T = 500, 12, 8, 3
    X = rng.standard_normal((n, d))
    y = X[:, 0] ** 2 - X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    w = np.ones(n)
    loss = Stage1Loss("squared", y, w)
    samples = Samples(X, loss.centered_targets, w, CPU, F64)
    W, _ = train_first_layer(samples, loss, width=m, n_steps=T, learning_rate=0.7,
                             weight_decay=1 / 0.7, init_scale=1e-5,
                             generator=torch.Generator().manual_seed(3), track_components=2)
    W0, _ = symmetric_init(m, d, 1e-5, torch.Generator().manual_seed(3), CPU, F64)
    Sigma = -(X.T * loss.centered_targets) @ X / n  # l'(0, y) = -(y - mean)
    V = W0.numpy().copy()
    for _ in range(T):
        V = V @ Sigma
        V /= np.linalg.norm(V, axis=1, keepdims=True)
    cos = np.abs(np.sum(V * W.numpy(), axis=1))
    np.testing.assert_allclose(cos, 1.0, atol=1e-6)


@pytest.mark.parametrize("decay_factor", [1.0, 0.5])
@pytest.mark.parametrize("dense", [True, False])
def test_stage1_limit_equals_network_gradient_steps(decay_factor, dense):
    # The refined solver's stage 1 computes the init_scale -> 0 limit of the
    # network's GD steps directly; with a tiny init_scale both give the same
    # rows (signs included), for beta = 1/eta (paired neurons) and otherwise.
    rng = np.random.RandomState(5)
    n, d, m, T, lr = 400, 10, 8, 3, 0.7
    X = rng.standard_normal((n, d))
    y = X[:, 0] ** 2 - X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    w = rng.randint(1, 3, size=n).astype(float)
    loss = Stage1Loss("huber", y, w)
    wd = decay_factor / lr
    W_net, h_net = train_first_layer(Samples(X, loss.centered_targets, w, CPU, F64), loss,
                                     width=m, n_steps=T, learning_rate=lr, weight_decay=wd,
                                     init_scale=1e-6, generator=torch.Generator().manual_seed(3),
                                     track_components=2)
    sigma = SecondMoment(Samples(X, loss.sample_scores(), w, CPU, F64), dense=dense)
    W_lim, h_lim = power_first_layer(sigma, h_net["loss"][0], width=m, n_features=d, n_steps=T,
                                     learning_rate=lr, weight_decay=wd,
                                     generator=torch.Generator().manual_seed(3), device=CPU,
                                     dtype=F64, track_components=2)
    np.testing.assert_allclose(W_lim.numpy(), W_net.numpy(), atol=1e-6)
    for key in ("rayleigh", "concentration", "subspace_change", "loss"):
        np.testing.assert_allclose(h_lim[key], h_net[key], rtol=1e-5, atol=1e-8)


def test_stage1_deferred_records_equal_the_recorded_ones():
    """Records left to be computed when read (``defer_records``) are the ones the
    steps record, and the iterates and the returned basis do not change."""
    from skmim._engine._layerwise import finished_records

    rng = np.random.RandomState(2)
    n, d, m = 500, 160, 256  # d > m / 2: the basis from the neurons' Gram matrix
    X = rng.standard_normal((n, d))
    y = X[:, 0] ** 2 - X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    loss = Stage1Loss("squared", y, np.ones(n))
    sigma = SecondMoment(Samples(X, loss.sample_scores(), np.ones(n), CPU, F64), dense=True)
    runs = {}
    for defer in (False, True):
        runs[defer] = power_first_layer(
            sigma, 0.5, width=m, n_features=d, n_steps=4, learning_rate=1.0, weight_decay=1.0,
            generator=torch.Generator().manual_seed(0), device=CPU, dtype=F64,
            track_components=10, return_basis=True, defer_records=defer)
    (W, history, basis), (W_d, pending, basis_d) = runs[False], runs[True]
    assert torch.equal(W, W_d) and torch.equal(basis, basis_d)
    assert not isinstance(pending, dict)
    assert finished_records(pending) == history
    assert finished_records(history) is history
    with pytest.raises(ValueError, match="callback"):
        power_first_layer(sigma, 0.5, width=m, n_features=d, n_steps=2, learning_rate=1.0,
                          weight_decay=1.0, generator=torch.Generator().manual_seed(0),
                          device=CPU, dtype=F64, track_components=10,
                          callback=lambda t, rec: None, defer_records=True)


def test_stage1_losses_share_one_initial_draw():
    """The losses of the refined solver's stage 1 start from one draw (``starts``).

    Each gets the fit it gets alone (same subspace, spectrum and records, the
    read-off basis taken from the last record instead of recomputed) and its
    generator is left where its own draw would have left it.
    """
    from skmim._engine._common import _stage1

    rng = np.random.RandomState(0)
    n, d = 600, 12
    X = rng.standard_normal((n, d))
    y = np.tanh(X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(n)
    s1 = Samples(X, y, np.ones(n), CPU, F64)
    cfg = {"huber_delta": 1.0, "learning_rate": 1.0, "weight_decay": None,
           "n_components": None, "max_components": 10, "width": 64, "n_steps": 3}
    starts = {}
    for name in ("squared", "huber", "abs"):
        shared, (W_s, gen_s) = _stage1(s1, name, cfg, 7, None, limit=True, starts=starts)
        alone, (W_a, gen_a) = _stage1(s1, name, cfg, 7, None, limit=True)
        np.testing.assert_array_equal(W_s.numpy(), W_a.numpy())
        assert torch.equal(gen_s.get_state(), gen_a.get_state())
        assert shared.n_components == alone.n_components
        np.testing.assert_allclose(np.abs(shared.subspace.T @ alone.subspace),
                                   np.eye(shared.n_components), atol=1e-10)
        np.testing.assert_allclose(shared.spectrum, alone.spectrum, rtol=1e-10)
        for key, values in alone.history.items():
            np.testing.assert_array_equal(shared.history[key], values)
    assert len(starts) == 1  # one draw for the three losses


@pytest.mark.parametrize("k, degree, max_size", [(8, 4, 126), (6, 3, 30)])
def test_hermite_basis_of_limited_interactions(k, degree, max_size):
    """The bases built factor by factor (functions ordered by their number of
    factors): each column is its product of Hermite polynomials, the constant
    first, and the link's gradient map matches autograd."""
    basis = HermiteBasis(k, degree, CPU, F64, max_size)
    assert basis._factors is not None and basis.size <= max_size
    _check_basis_columns(basis, k, degree, max_size)


@pytest.mark.parametrize("k, degree, max_size, last", [
    (1, 4, None, "row"), (2, 4, None, "gather"), (3, 3, None, "gather"),
    (4, 4, 126, "broadcast"), (5, 4, 126, "broadcast"), (3, 6, None, "broadcast"),
    (3, 4, 30, "gather"), (4, 6, 126, "gather")])
def test_hermite_basis_built_from_halves(k, degree, max_size, last):
    """The bases built from the values on two halves of the coordinates
    (_split_plan), with the last level broadcast (full total-degree sets) or
    gathered (a limited set, or too few functions per product): each column
    is its product, the constant first, and the gradients match autograd."""
    basis = HermiteBasis(k, degree, CPU, F64, max_size)
    assert basis._factors is None and basis._plan[0] == last
    _check_basis_columns(basis, k, degree, max_size)


def _check_basis_columns(basis, k, degree, max_size):
    alpha = basis.alpha.tolist()
    assert sorted(map(tuple, alpha)) == sorted(multi_indices(k, degree, max_size))
    assert alpha[0] == [0] * k
    Z = torch.randn(40, k, dtype=F64, generator=torch.Generator().manual_seed(0))
    expected = np.stack([np.prod([hermite(p, Z[:, j].numpy()) for j, p in enumerate(a)], axis=0)
                         for a in alpha], axis=1)
    np.testing.assert_allclose(basis.values(Z).numpy(), expected, atol=1e-12)
    coef = torch.randn(basis.size, dtype=F64, generator=torch.Generator().manual_seed(1))
    Zg = Z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((basis.values(Zg) @ coef).sum(), Zg)
    mapped = basis.gradients(basis.values(Z), basis.link_gradient(coef))
    np.testing.assert_allclose(mapped.numpy(), grad.numpy(), atol=1e-10)


def test_krylov_ritz_finds_the_extreme_eigenpairs_in_a_subspace():
    # the block Krylov space of a few vectors holds the eigenvalues at both
    # ends of the spectrum of Sigma restricted to the complement of V: an
    # outlier on either side to high accuracy after 4 products; a space
    # that would outgrow the complement stops there and is then exact
    from skmim._engine._layerwise import krylov_ritz

    rng = np.random.RandomState(0)
    n, d = 4000, 40
    X = rng.standard_normal((n, d))
    scores = X[:, 0] ** 2 - X[:, 1] ** 2 + 0.5 * (X[:, 2] ** 2 - 1) + rng.standard_normal(n)
    sigma = SecondMoment(Samples(X, scores, np.ones(n), CPU, F64), dense=True)
    V = torch.eye(d, dtype=F64)[:, :1]  # x_0 known: -x_1 (eigenvalue -1.8) and x_2 (1.2) remain

    def outside(M):
        return M - V @ (V.T @ M)

    S = outside(outside(sigma.matrix).T)
    exact_vals, exact_vecs = torch.linalg.eigh(S)
    order = torch.argsort(exact_vals.abs(), descending=True)
    exact_vals, exact_vecs = exact_vals[order], exact_vecs[:, order]
    start = outside(torch.as_tensor(rng.standard_normal((d, 3))))
    vals, vecs = krylov_ritz(sigma, start, 4, outside, max_dim=d - 1)
    assert vecs.shape[1] <= 15 and float((vecs.T @ V).abs().max()) < 1e-12
    np.testing.assert_allclose(vals[:2].numpy(), exact_vals[:2].numpy(), rtol=1e-3)
    for j in range(2):
        assert float((vecs[:, j] @ exact_vecs[:, j]) ** 2) > 1 - 1e-3
    vals, vecs = krylov_ritz(sigma, start, 30, outside, max_dim=d - 1)
    assert vecs.shape[1] == d - 1
    np.testing.assert_allclose(vals.numpy(), exact_vals[:d - 1].numpy(), atol=1e-10)


@pytest.mark.parametrize("m", [10, 80])  # GCV by eigendecomposition / tridiagonal reduction
def test_ridge_matches_sklearn_and_gcv_matches_brute_force(m):
    from sklearn.linear_model import Ridge

    from skmim._engine._ridge import TRIDIAGONAL_MIN_FEATURES

    assert (m >= TRIDIAGONAL_MIN_FEATURES) == (m == 80)
    rng = np.random.RandomState(1)
    n, d = 200, 5
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(n)
    w = rng.randint(1, 4, size=n).astype(float)
    D = torch.as_tensor(rng.standard_normal((m, d)))
    b = torch.as_tensor(rng.standard_normal(m))
    res = fit_ridge(Samples(X, y, w, CPU, F64), D, b, "relu")
    F = np.maximum(X @ D.numpy().T + b.numpy(), 0)
    ref = Ridge(alpha=res["alpha"] * w.sum()).fit(F, y, sample_weight=w)
    np.testing.assert_allclose(res["coef"].numpy(), ref.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res["intercept"], ref.intercept_, rtol=1e-8)
    # GCV by its definition, on the equivalent repeated data
    Fr, yr = np.repeat(F, w.astype(int), axis=0), np.repeat(y, w.astype(int))
    Fc, yc = Fr - Fr.mean(0), yr - yr.mean()
    N = len(yr)
    H = Fc @ np.linalg.solve(Fc.T @ Fc + res["alpha"] * N * np.eye(m), Fc.T)
    rss = np.sum((yc - H @ yc) ** 2)
    df = np.trace(H) + 1
    np.testing.assert_allclose(res["gcv"], rss / N / (1 - df / N) ** 2, rtol=1e-6)


@pytest.mark.parametrize("targets", [1, 3])
def test_ridge_gcv_tridiagonal_reduction_equals_eigendecomposition(monkeypatch, targets):
    """Both routes to GCV give the same penalty path and fit, also for a singular Gram
    matrix (duplicated columns) and several targets; a Gram matrix that is not
    positive semi-definite beyond the penalties falls back to the eigendecomposition."""
    from skmim._engine import _ridge

    rng = np.random.RandomState(3)
    n, p = 500, 70
    F = rng.standard_normal((n, p))
    F[:, 1] = F[:, 0]
    Y = F[:, :4] @ rng.standard_normal((4, targets)) + rng.standard_normal((n, targets))
    w = rng.uniform(0.5, 2.0, n)
    B = np.c_[np.ones(n), F, Y] * np.sqrt(w)[:, None]
    M = torch.as_tensor(B.T @ B)
    # the same moments with one feature's variance made negative: not a Gram matrix
    bad = M.clone()
    bad[5, 5] = -bad[5, 5]
    for moments in (M, bad):
        fits = []
        for threshold in (10**9, 1):
            monkeypatch.setattr(_ridge, "TRIDIAGONAL_MIN_FEATURES", threshold)
            fits.append(_ridge.ridge_from_moments(moments, p, w.sum(),
                                                  grid=np.logspace(-6, 2, 17)))
        eigen, tridiagonal = fits
        np.testing.assert_allclose(tridiagonal["alphas"], eigen["alphas"], rtol=1e-12)
        assert np.argmin(eigen["gcv_path"]) == np.argmin(tridiagonal["gcv_path"])
        np.testing.assert_allclose(tridiagonal["gcv_path"], eigen["gcv_path"], rtol=1e-9)
        np.testing.assert_allclose(tridiagonal["coef"].numpy(), eigen["coef"].numpy(),
                                   rtol=1e-9, atol=1e-12)
    # all penalties' systems solved as one block-diagonal system: each block as alone
    G = M.numpy()[1:p + 1, 1:p + 1]
    solve = _ridge._TridiagonalSolve(G, M.numpy()[1:p + 1, p + 1:])
    lam = np.logspace(-3, 3, 7) * np.trace(G) / p
    alone = [float((solve.c * x).sum() + value * (x * x).sum())
             for value, x in ((value, solve._solve_tridiagonal(value)) for value in lam)]
    np.testing.assert_allclose(solve.explained(lam), alone, rtol=1e-13)
    with pytest.raises(_ridge._NotPositiveDefinite):
        G = bad.numpy()[1:p + 1, 1:p + 1]
        _ridge._TridiagonalSolve(G, np.ones((p, 1))).explained(np.array([1e-3]))


@pytest.mark.parametrize("p", [5, 70])
def test_ridge_of_features_constant_over_the_rows_is_the_intercept(p):
    """Features that do not vary over the rows (one distinct row, weighted)
    leave only the rounding of the centring in the centred Gram matrix: no
    coefficient, the intercept the weighted mean of y (a penalty scaled to
    that rounding gave coefficients of 1e5 and more)."""
    from skmim._engine import _ridge

    rng = np.random.RandomState(0)
    n = 200
    F = np.tile(np.abs(rng.standard_normal(p)) * 3.0 + 0.7, (n, 1))
    y = rng.choice([0.0, 1.0, 4.0], n)
    w = rng.uniform(0.5, 2.0, n)
    B = np.c_[np.ones(n), F, y] * np.sqrt(w)[:, None]
    res = _ridge.ridge_from_moments(torch.as_tensor(B.T @ B), p, w.sum())
    assert np.all(res["coef"].numpy() == 0.0)
    np.testing.assert_allclose(res["intercept"], np.average(y, weights=w), rtol=1e-12)


def test_hermite_basis_orthonormal_and_gradients():
    basis = HermiteBasis(2, 3, CPU, F64)
    assert basis.size == len(multi_indices(2, 3)) == 10
    # Gauss-Hermite quadrature (probabilists') for E over N(0, I_2)
    x, wq = np.polynomial.hermite_e.hermegauss(12)
    wq = wq / wq.sum()
    Z = torch.as_tensor(np.array([[a, c] for a in x for c in x]))
    weights = torch.as_tensor(np.array([p * q for p in wq for q in wq]))
    Phi = basis.values(Z)
    gram = (Phi * weights[:, None]).T @ Phi
    np.testing.assert_allclose(gram.numpy(), np.eye(10), atol=1e-10)
    np.testing.assert_allclose(Phi[:, basis.alpha.tolist().index([3, 0])].numpy(),
                               hermite(3, Z[:, 0].numpy()), atol=1e-12)
    Zg = torch.randn(7, 2, dtype=F64, requires_grad=True)
    Phi, dPhi = basis.values_and_gradients(Zg.detach())
    for j in range(basis.size):
        (g,) = torch.autograd.grad(basis.values(Zg)[:, j].sum(), Zg)
        np.testing.assert_allclose(dPhi[:, j, :].numpy(), g.numpy(), atol=1e-10)


def test_link_gradients_and_moments_in_the_basis_layout():
    # HermiteBasis.gradients is Phi @ C, for one link and for several, on the
    # full tensor basis and on the limited one (products of two factors);
    # the link's moments are the same for Phi laid out by columns (as
    # values() returns it) and by rows
    from skmim._engine._ridge import _chunk_moments

    gen = torch.Generator().manual_seed(0)
    for k, max_size in ((3, None), (8, 126)):
        basis = HermiteBasis(k, 4, CPU, F64, max_size=max_size)
        Z = torch.randn(50, k, generator=gen, dtype=F64)
        Phi = basis.values(Z)
        assert Phi.stride(0) == 1  # the transpose of a contiguous B x n table
        for coef in (torch.randn(basis.size, generator=gen, dtype=F64),
                     torch.randn(basis.size, 3, generator=gen, dtype=F64)):
            C = basis.link_gradient(coef)
            expected = Phi.contiguous() @ C.contiguous()
            np.testing.assert_allclose(basis.gradients(Phi, C).numpy(), expected.numpy(),
                                       rtol=1e-12, atol=1e-12)
        y, w = torch.randn(50, generator=gen, dtype=F64), torch.rand(50, generator=gen, dtype=F64)
        np.testing.assert_allclose(_chunk_moments(Phi, y, w).numpy(),
                                   _chunk_moments(Phi.contiguous(), y, w).numpy(),
                                   rtol=1e-12, atol=1e-12)


def test_shared_second_moments_equal_the_direct_matrices():
    # the Huber and absolute losses' stage-1 matrices derived from the squared
    # loss's and the plain second moment equal the ones formed directly, with
    # weights and a heavy-tailed label; a loss on other labels, or without
    # the plain second moment, is formed directly
    from skmim._engine._layerwise import SharedSecondMoments, second_moment_matrix

    rng = np.random.RandomState(4)
    n, d = 400, 6
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 3.0, d) + 1.0
    y = X[:, 0] ** 2 + rng.standard_t(2, n)
    w = rng.uniform(0.2, 3.0, n)
    s = Samples(X, y, w, CPU, F64, batch_size=97)  # several chunks
    plain = lambda: torch.as_tensor((X * w[:, None]).T @ X / w.sum())  # noqa: E731
    shared = SharedSecondMoments(s, plain)
    losses = {name: Stage1Loss(name, y, w) for name in ("squared", "huber", "abs", "rank")}
    assert shared._derived(losses["huber"]) is None  # the squared loss's matrix not yet known
    for name, loss in losses.items():
        direct = second_moment_matrix(s.with_targets(loss.sample_scores()))
        np.testing.assert_allclose(shared.matrix(loss).numpy(), direct.numpy(),
                                   rtol=1e-10, atol=1e-12)
    assert shared._derived(losses["huber"]) is not None
    assert shared._derived(losses["abs"]) is not None
    assert shared._derived(losses["rank"]) is None
    assert shared._derived(Stage1Loss("huber", y + 1.0, w)) is None  # other labels
    alone = SharedSecondMoments(s)
    alone.matrix(losses["squared"])
    assert alone._derived(losses["huber"]) is None


def test_link_fit_recovers_polynomial():
    rng = np.random.RandomState(2)
    X = rng.standard_normal((2000, 4))
    V = torch.eye(4, dtype=F64)[:, :2]
    y = hermite(2, X[:, 0]) - 0.5 * X[:, 0] * X[:, 1] + 0.3
    basis = HermiteBasis(2, 2, CPU, F64)
    coef, _, gcv = fit_link(Samples(X, y, np.ones(2000), CPU, F64), V, basis)
    pred = basis.values(torch.as_tensor(X) @ V) @ coef
    np.testing.assert_allclose(pred.numpy(), y, atol=1e-3)
    assert gcv < 1e-5


def test_huber_location_minimises_huber_loss():
    from scipy.optimize import minimize_scalar

    rng = np.random.RandomState(3)
    y = np.concatenate([rng.standard_normal(200), 8 + rng.standard_normal(20)])
    w = rng.rand(220)
    delta = 0.7
    c = huber_location(y, w, delta)

    def obj(t):
        r = np.abs(y - t)
        return np.sum(w * np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta)))

    ref = minimize_scalar(obj, bounds=(-5, 10), method="bounded", options={"xatol": 1e-12})
    assert abs(c - ref.x) < 1e-6


def test_weighted_quantile_equals_repetition():
    rng = np.random.RandomState(4)
    v = rng.standard_normal(30)
    w = rng.randint(1, 5, size=30)
    rep = np.repeat(v, w)
    for q in (0.1, 0.5, 0.9):
        assert weighted_quantile(v, w.astype(float), q) == weighted_quantile(rep, np.ones(rep.size), q)


def test_device_and_dtype_resolution():
    assert resolve_device("cpu") == CPU
    assert resolve_dtype("auto", CPU) == F64
    assert resolve_dtype("float32", CPU) == torch.float32
    with pytest.raises(ValueError, match="not supported"):
        resolve_dtype("float16", CPU)
    with pytest.raises(ValueError, match="not a valid torch device|not supported"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.parametrize("name", ["squared", "huber", "abs"])
@pytest.mark.parametrize("decay_factor, n_steps", [(0.0, 1), (1.0, 3)])
def test_stage1_step_is_autograd_gradient_step(name, decay_factor, n_steps):
    # stage-1 steps (a large init scale so the loss is far from its quadratic
    # regime) equal steps along the full network's autograd gradient, each
    # followed by the row rescaling; with weight decay 1 / learning_rate the
    # engine computes one neuron per symmetric pair and mirrors the other
    from skmim._engine._network import forward

    rng = np.random.RandomState(5)
    n, d, m, lr, eps = 60, 7, 6, 0.3, 0.8
    wd = decay_factor / lr
    X = rng.standard_normal((n, d))
    y = X[:, 0] ** 2 + X[:, 1] + 0.1 * rng.standard_normal(n)
    w = rng.rand(n)
    loss = Stage1Loss(name, y, w)
    samples = Samples(X, loss.centered_targets, w, CPU, F64, batch_size=25)
    W1, hist = train_first_layer(samples, loss, width=m, n_steps=n_steps, learning_rate=lr,
                                 weight_decay=wd, init_scale=eps,
                                 generator=torch.Generator().manual_seed(0), track_components=2)
    W, a = symmetric_init(m, d, eps, torch.Generator().manual_seed(0), CPU, F64)
    Xt, rt, wt = (torch.as_tensor(v) for v in (X, loss.centered_targets, w))
    values = []
    for _ in range(n_steps):
        W = W.clone().requires_grad_(True)
        objective = (wt * loss(forward(Xt, W, None, a, "logcosh"), rt)).sum() / wt.sum()
        (grad,) = torch.autograd.grad(objective, W)
        values.append(float(objective.detach()))
        W = (W - lr * (grad + wd * W)).detach()
        W = W * (eps / W.norm(dim=1, keepdim=True))
    expected = W / W.norm(dim=1, keepdim=True)
    np.testing.assert_allclose(W1.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hist["loss"], values, rtol=1e-12, atol=1e-15)


def _sliced(X, y, w=None):
    w = np.ones(len(y)) if w is None else w
    return Samples(X - w @ X / w.sum(), y, w, CPU, F64)


def test_sliced_moment_weights_equal_repeated_rows():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 12)
    y = np.round(X[:, 0] ** 3, 1)  # ties across slice boundaries
    w = rng.randint(0, 4, size=300).astype(float)
    rep = np.repeat(np.arange(300), w.astype(int))
    Xw, yw = X[rep], y[rep]
    B1, e1 = sliced_moment(Samples(X, y, w, CPU, F64))
    B2, e2 = sliced_moment(Samples(Xw, yw, np.ones(len(yw)), CPU, F64))
    assert e1 == pytest.approx(e2, rel=1e-12)
    torch.testing.assert_close(B1.T @ B1, B2.T @ B2, rtol=1e-10, atol=1e-12)
    assert slice_labels(y, w, 7).max() == 6
    # chunked samples give the same matrix
    B3, _ = sliced_moment(Samples(X, y, w, CPU, F64, batch_size=64))
    torch.testing.assert_close(B1, B3)


def test_sliced_noise_edge_and_first_order_signal():
    rng = np.random.RandomState(1)
    d, n = 200, 4000
    # y independent of x: the top eigenvalue sits at the Marchenko-Pastur edge
    ratios = []
    for _ in range(5):
        X = rng.randn(n, d)
        _, vals, edge = sliced_directions(_sliced(X, rng.randn(n)), 2)
        ratios.append(vals[0] / edge)
    assert 0.85 < min(ratios) and max(ratios) < 1.1  # measured 0.92-0.98
    # h3(z1) + h3(z2): E[x | y] lies along u1 + u2, far above the edge
    X = rng.randn(n, d)
    z = X[:, :2]
    y = hermite(3, z[:, 0]) + hermite(3, z[:, 1])
    V, vals, edge = sliced_directions(_sliced(X, y), 1)
    s = np.zeros(d)
    s[:2] = 1 / np.sqrt(2)
    assert vals[0] > 2 * edge  # measured 3.9
    assert abs(V[:, 0].numpy() @ s) > 0.85  # measured 0.94


def test_shift_by_whole_rows_is_a_cyclic_permutation():
    rng = np.random.RandomState(0)
    values, order = rng.randn(9, 3), rng.permutation(9)
    moved = shifted(values, np.ones(9), order, 4.0)
    np.testing.assert_allclose(moved[order], np.roll(values[order], -4, axis=0))
    # half a row: the average of the two rows the arc covers
    half = shifted(values[:, 0], np.ones(9), order, 0.5)
    np.testing.assert_allclose(half[order], 0.5 * (values[order, 0] + np.roll(values[order, 0], -1)))


def test_shifted_weights_equal_repeated_rows():
    # a row of weight k and its k adjacent copies receive the same total
    rng = np.random.RandomState(1)
    w = rng.randint(0, 4, size=40).astype(float)
    values = rng.randn(40, 5)
    order = rng.permutation(40)
    rep = np.repeat(np.arange(40), w.astype(int))
    rep_order = np.concatenate([np.flatnonzero(rep == i) for i in order])
    for shift in (0.3, 7.0, w.sum() - 0.5):
        a = shifted(values, w, order, shift) * w[:, None]
        b = shifted(values[rep], np.ones(rep.size), rep_order, shift)
        np.testing.assert_allclose(a, [b[rep == i].sum(axis=0) for i in range(40)], atol=1e-12)
    # a row of zero weight keeps its value
    zero = np.flatnonzero(w == 0)[0]
    np.testing.assert_array_equal(shifted(values, w, order, 2.5)[zero], values[zero])


def test_null_z_of_sliced_statistic():
    # the statistic of the shift null is the one of sliced_moment; y
    # independent of x gives z-scores of a few units at most, h3 + h3 far more
    rng = np.random.RandomState(2)
    d, n = 40, 1000
    X = rng.randn(n, d)
    samples = _sliced(X, hermite(3, X[:, 0]) + hermite(3, X[:, 1]))
    member = slice_membership(samples)
    B, _ = sliced_moment(samples)
    assert membership_top_eigenvalue(samples, member) == pytest.approx(
        float(torch.linalg.matrix_norm(B, ord=2)) ** 2, rel=1e-10)
    order = rng.permutation(n)
    z, value, null = null_z(lambda m: membership_top_eigenvalue(samples, m), member,
                            samples.weights, order)
    assert null.shape == (N_SHIFTS,) and value > null.max()
    assert z > 10  # measured 36
    noise = []
    for _ in range(5):
        s = _sliced(X, rng.randn(n))
        noise.append(null_z(lambda m: membership_top_eigenvalue(s, m), slice_membership(s),
                            s.weights, order)[0])
    assert np.max(np.abs(noise)) < 4  # measured


def test_descent_stops_when_the_subspace_stops_moving():
    # noiseless single-index data started at the truth: the subspace does not
    # move, so the run ends after MOVE_WINDOW steps instead of waiting for
    # the held-out patience (and reports no max_iter stop)
    from skmim._engine._grassmann import MOVE_WINDOW, GrassmannDescent

    rng = np.random.RandomState(3)
    X = rng.standard_normal((3000, 8))
    y = hermite(2, X[:, 0])
    train = Samples(X[:2000], y[:2000], np.ones(2000), CPU, F64)
    valid = Samples(X[2000:], y[2000:], np.ones(1000), CPU, F64)
    V0 = torch.eye(8, dtype=F64)[:, :1]
    descent = GrassmannDescent(train, valid, V0, degree=2, max_iter=200, patience=50)
    while not descent.step():
        pass
    assert descent.n_iter == MOVE_WINDOW
    assert not descent.hit_max_iter
    assert abs(float(descent.V[0, 0])) > 1 - 1e-8
    # with the rule off, the same run takes more steps (until no step lowers the loss)
    slow = GrassmannDescent(train, valid, V0, degree=2, max_iter=200, patience=50, move_tol=0.0)
    while not slow.step():
        pass
    assert slow.n_iter > MOVE_WINDOW


@pytest.mark.parametrize("n_targets", [1, 2])
def test_squared_loss_gauss_newton_matrix(n_targets):
    # the refinement's Gauss-Newton matrix for the half squared error: the
    # weighted mean of J^T J, J the links' Jacobian in z = V^T x
    from skmim._engine._grassmann import _loss_and_gradient, _projected

    rng = np.random.RandomState(4)
    n, d = 300, 5
    X = rng.standard_normal((n, d))
    y = np.column_stack([np.tanh(X[:, 0]) * X[:, 1], X[:, 1] ** 2])[:, :n_targets]
    w = rng.uniform(0.5, 2.0, size=n)
    samples = Samples(X, y[:, 0] if n_targets == 1 else y, w, CPU, F64)
    V = torch.linalg.qr(torch.as_tensor(rng.standard_normal((d, 2))))[0]
    basis = HermiteBasis(2, 3, CPU, F64)
    coef = torch.as_tensor(rng.standard_normal((basis.size, n_targets)))
    coef = coef[:, 0] if n_targets == 1 else coef
    _, _, H = _loss_and_gradient(samples, _projected(samples, V), basis, coef)
    Z = torch.as_tensor(X) @ V
    J = torch.autograd.functional.jacobian(lambda Z: (basis.values(Z) @ coef).sum(dim=0), Z)
    J = J if J.ndim == 3 else J[None]  # (K, n, k)
    expected = torch.einsum("kni,n,knj->ij", J, torch.as_tensor(w), J) / w.sum()
    np.testing.assert_allclose(H.numpy(), expected.numpy(), atol=1e-12)


def _tanh_sum_problem(seed, d, n, n_true, n_train):
    """``y = sum_{j < n_true} tanh(x_j) + 0.1 noise``, Gaussian ``x``: (rng, train, valid) Samples."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d))
    y = np.tanh(X[:, :n_true]).sum(axis=1) + 0.1 * rng.standard_normal(n)
    train = Samples(X[:n_train], y[:n_train], np.ones(n_train), CPU, F64)
    valid = Samples(X[n_train:], y[n_train:], np.ones(n - n_train), CPU, F64)
    return rng, train, valid


def test_gauss_newton_steps_along_weakly_used_directions():
    # y = sum_{j <= 4} tanh(x_j), started at two true and two random
    # directions: the Gauss-Newton step scales each direction by the link's
    # dependence on it, so the run reaches the truth in a few steps (measured
    # 0.049 after 5); the plain Riemannian gradient took 115 steps (0.52
    # after 5)
    from skmim._engine._grassmann import GrassmannDescent

    d = 16
    rng, train, valid = _tanh_sum_problem(0, d, 4000, 4, 3000)
    V0 = torch.as_tensor(np.column_stack([np.eye(d)[:, :2], rng.standard_normal((d, 2))]))
    descent = GrassmannDescent(train, valid, V0, degree=3, max_iter=200, patience=15)
    for _ in range(5):
        descent.step()
    U = np.eye(d)[:, :4]
    V = descent.V.numpy()
    assert np.linalg.norm(V @ V.T - U @ U.T) / np.sqrt(8) < 0.15


def test_conjugate_directions_reach_a_smaller_heldout_loss(monkeypatch):
    # y = sum_{j <= 6} tanh(x_j), d = 32, k = 8 (two spare directions), from
    # three perturbed true and five random directions: with n >= 8 d k rows
    # the steps are conjugate (Polak-Ribiere+) and the run ends at a smaller
    # held-out loss than the preconditioned gradient alone (measured 0.0416
    # against 0.0450; seeds 1 and 2: 0.0360 / 0.0370, 0.0482 / 0.0510); every
    # direction taken descends
    from skmim._engine import _grassmann

    d = 32
    rng, train, valid = _tanh_sum_problem(0, d, 4000, 6, 3000)
    V0 = torch.as_tensor(np.column_stack([np.eye(d)[:, :3] + 0.3 * rng.standard_normal((d, 3)),
                                          rng.standard_normal((d, 5))]))
    conjugate = _grassmann.GrassmannDescent(train, valid, V0, degree=4)
    assert conjugate._conjugate_on  # 3000 >= 8 * 32 * 8
    taken = []
    original = conjugate._conjugate

    def recorded(G, Z):
        D = original(G, Z)
        taken.append((float((G * D).sum()), D is Z))
        return D

    conjugate._conjugate = recorded
    while not conjugate.done:
        conjugate.step()
    monkeypatch.setattr(_grassmann, "CONJUGATE_MIN_ROWS", 10**9)
    plain = _grassmann.GrassmannDescent(train, valid, V0, degree=4)
    assert not plain._conjugate_on
    while not plain.done:
        plain.step()
    assert conjugate.best_val < 0.98 * plain.best_val
    assert all(inner > 0 for inner, _ in taken)
    assert sum(not same for _, same in taken) >= len(taken) // 2  # mostly conjugate steps


def test_conjugate_directions_off_below_eight_rows_per_coordinate():
    # 500 rows for d k = 256 coordinates: the preconditioned gradient alone,
    # whose run is reproduced exactly with the rule switched off by hand
    from skmim._engine import _grassmann

    d = 32
    rng, train, valid = _tanh_sum_problem(1, d, 700, 6, 500)
    V0 = torch.as_tensor(rng.standard_normal((d, 8)))
    below = _grassmann.GrassmannDescent(train, valid, V0, degree=3, max_iter=30)
    assert not below._conjugate_on
    reference = _grassmann.GrassmannDescent(train, valid, V0, degree=3, max_iter=30)
    reference._conjugate = lambda G, Z: Z
    for run in (below, reference):
        while not run.done:
            run.step()
    assert below.history["val_loss"] == reference.history["val_loss"]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_link_fits_match_sklearn(n_classes):
    # Newton's method (small links) and L-BFGS-B (LogisticProblem) minimize the
    # same penalized mean log loss as scikit-learn's LogisticRegression with
    # C = 1 / (n alpha)
    from sklearn.linear_model import LogisticRegression

    from skmim._engine._classify import indicators
    from skmim._engine._logistic import LogisticProblem, newton_logistic

    rng = np.random.RandomState(5)
    n, p, alpha = 1500, 6, 1e-2
    F = rng.standard_normal((n, p))
    logits = F[:, :n_classes] @ rng.standard_normal((n_classes, n_classes))
    codes = np.array([rng.choice(n_classes, p=np.exp(r) / np.exp(r).sum()) for r in logits])
    Y = torch.as_tensor(indicators(codes, n_classes))
    w = torch.ones(n, dtype=F64)
    ref = LogisticRegression(C=1.0 / (n * alpha), tol=1e-12, max_iter=10000).fit(F, codes)
    Phi = torch.as_tensor(np.column_stack([np.ones(n), F]))
    coef, converged = newton_logistic(Phi, Y, w, alpha)
    assert converged
    A, c, ok = LogisticProblem(torch.as_tensor(F), Y, w).fit(alpha, tol=1e-9)
    assert ok
    if n_classes == 2:
        expected = np.concatenate([ref.intercept_, ref.coef_[0]])
        np.testing.assert_allclose(coef[:, 0].numpy(), expected, atol=1e-6)
        # L-BFGS-B stops on its relative-decrease tolerance: coefficients to 1e-4
        np.testing.assert_allclose(A[:, 0].numpy(), ref.coef_[0], atol=1e-4)
    else:
        # softmax coefficients are defined up to a constant per feature row
        # (scikit-learn's penalty centres them); compare centred differences
        got = coef.numpy() - coef.numpy().mean(axis=1, keepdims=True)
        expected = np.column_stack([ref.intercept_, ref.coef_]).T
        expected = expected - expected.mean(axis=1, keepdims=True)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        np.testing.assert_allclose(A.numpy() - A.numpy().mean(axis=1, keepdims=True),
                                   expected[1:], atol=1e-4)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_log_loss_subspace_gradient_is_autograd(n_classes):
    # the refinement's gradient in V with the logistic link held fixed
    from skmim._engine._classify import indicators
    from skmim._engine._grassmann import LogLoss, _loss_and_gradient, _projected

    rng = np.random.RandomState(6)
    n, d = 400, 5
    X = rng.standard_normal((n, d))
    codes = rng.randint(0, n_classes, size=n)
    samples = Samples(X, indicators(codes, n_classes), np.ones(n), CPU, F64)
    V = torch.linalg.qr(torch.as_tensor(rng.standard_normal((d, 2))))[0]
    basis = HermiteBasis(2, 3, CPU, F64)
    loss = LogLoss()
    proj = _projected(samples, V)
    coef, _ = loss.fit_link(((basis.values(Z), y, w) for Z, y, w in proj), basis, n)
    value, G, H = _loss_and_gradient(samples, proj, basis, coef, loss=loss)
    Vg = V.clone().requires_grad_(True)
    logits = basis.values(torch.as_tensor(X) @ Vg) @ coef
    Y = torch.as_tensor(indicators(codes, n_classes))

    def losses(logits):
        return (torch.nn.functional.softplus(logits) - Y * logits if n_classes == 2 else
                torch.logsumexp(logits, dim=1) - (Y * logits).sum(dim=1))

    per = losses(logits)
    per.mean().backward()
    assert abs(value - float(per.mean().detach())) < 1e-12
    np.testing.assert_allclose(G.numpy(), Vg.grad.numpy(), atol=1e-10)
    # the Gauss-Newton matrix: mean of J_i^T L_i J_i, J_i the logits' Jacobian
    # in z_i = V^T x_i and L_i the per-sample loss's Hessian in the logits
    Z = torch.as_tensor(X) @ V
    J = torch.autograd.functional.jacobian(lambda Z: (basis.values(Z) @ coef).sum(dim=0), Z)
    J = J if J.ndim == 3 else J[None]  # (K, n, k)
    L = torch.autograd.functional.hessian(lambda t: losses(t).sum(), basis.values(Z) @ coef)
    L = L.reshape(n, n) if n_classes == 2 else L.reshape(n * n_classes, n * n_classes)
    K = J.shape[0]
    expected = sum(J[:, i].T @ L[i * K:(i + 1) * K, i * K:(i + 1) * K] @ J[:, i]
                   for i in range(n)) / n
    np.testing.assert_allclose(H.numpy(), expected.numpy(), atol=1e-10)


def test_newton_softmax_float32_stays_centred():
    # the softmax is unchanged by adding one constant to every intercept; in
    # float32 an unanchored Newton solve drifted along that direction to
    # intercepts of about 2e6 (logits then lose all precision)
    from skmim._engine._classify import indicators
    from skmim._engine._logistic import newton_logistic

    rng = np.random.RandomState(7)
    n, p = 3000, 5
    F = rng.standard_normal((n, p))
    codes = np.argmax(F[:, :3] + 0.5 * rng.standard_normal((n, 3)), axis=1)
    Phi = np.column_stack([np.ones(n), F])
    fits = {}
    for dtype in (torch.float64, torch.float32):
        coef, _ = newton_logistic(torch.as_tensor(Phi, dtype=dtype),
                                  torch.as_tensor(indicators(codes, 3), dtype=dtype),
                                  torch.ones(n, dtype=dtype), 2e-3)
        fits[dtype] = coef.double().numpy()
    assert np.abs(fits[torch.float32][0]).max() < 10
    np.testing.assert_allclose(fits[torch.float32], fits[torch.float64], atol=1e-3)


def _single_h2(d, n, seed, noise=0.1):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    X = rng.standard_normal((n, d))
    y = hermite(2, X @ u) + noise * rng.standard_normal(n)
    return X, y, u


def test_learned_targets_follow_the_conditional_second_moment():
    # through the true direction, E[z^2 | y] - 1 = sqrt(2) y for y = h2(z)
    # (noise 0.1): the learned transform G / (1 + G) increases with y
    from scipy.stats import spearmanr

    from skmim._engine._channel import learned_targets

    X, y, u = _single_h2(50, 4000, 0)
    samples = Samples(X, y, np.ones(len(y)), torch.device("cpu"), torch.float64)
    T = learned_targets(samples, torch.as_tensor(u[:, None]))
    assert T.shape == y.shape and abs(float(np.mean(T * T)) - 1.0) < 1e-9
    assert spearmanr(T, y).statistic > 0.95
    # a transform of the labels alone: free of their units and offset
    scaled = Samples(X, 1e6 * y - 3.0, np.ones(len(y)), torch.device("cpu"), torch.float64)
    np.testing.assert_allclose(learned_targets(scaled, torch.as_tensor(u[:, None])), T)


def test_learned_transform_recovers_the_direction_from_a_partial_start():
    # single-index h2 at d = 100, n = 20 d: one round takes a start at cos
    # 0.45 from u to |cos| > 0.9 with an eigenvalue clear of the noise edge
    # (measured, seeds 0 / 1: cos 0.943 / 0.956, eigenvalue 1.83 / 2.13
    # times the edge)
    from skmim._engine._channel import positive_directions

    for seed in (0, 1):
        X, y, u = _single_h2(100, 2000, seed)
        rng = np.random.default_rng(seed + 10)
        g = rng.standard_normal(100)
        g -= (g @ u) * u
        v0 = 0.45 * u + np.sqrt(1 - 0.45 ** 2) * g / np.linalg.norm(g)
        samples = Samples(X, y, np.ones(len(y)), torch.device("cpu"), torch.float64)
        V, vals, level = positive_directions(samples, torch.as_tensor(v0[:, None]))
        assert abs(float(V[:, 0].numpy() @ u)) > 0.9
        assert float(vals[0]) > 1.4 * level


def _amp_problem(link, d, ratio, seed, n_valid=0):
    from skmim import GaussianMultiIndex

    problem = GaussianMultiIndex(d, link, noise=0.1, random_state=seed)
    X, y = problem.sample(int(ratio * d) + n_valid, random_state=seed + 100)
    n = int(ratio * d)
    parts = [Samples(X[a:b], y[a:b], np.ones(b - a), CPU, F64)
             for a, b in ((0, n), (n, n + n_valid)) if b > a]
    return (problem.subspace, *parts)


def _partly_right(U, overlap, seed):
    # a subspace at cosine ``overlap`` from span(U) in every direction
    rng = np.random.RandomState(seed)
    E = rng.standard_normal(U.shape)
    E -= U @ (U.T @ E)
    E, _ = np.linalg.qr(E)
    return torch.as_tensor(overlap * U + np.sqrt(1 - overlap ** 2) * E)


def test_gamp_with_the_link_through_the_truth_stays_there():
    # h4(z1) + h4(z2): the likelihood is a ridge far narrower than the grid
    # where h4 is steep; averaged over each cell it does not alias (point
    # values took GAMP from the truth to distance 0.89 at n = 12 d)
    from skmim._engine._amp import gamp, learned_channel
    from skmim.metrics import subspace_distance

    U, samples = _amp_problem("h4+h4", 128, 12, 0)
    V = torch.as_tensor(U)
    basis, coef, noise, floor = learned_channel(samples, V, 4)
    W = gamp(samples, V, basis, coef, noise, floor)
    assert subspace_distance(W.numpy(), U) < 0.1


def test_gamp_with_a_learned_channel_improves_a_partial_estimate():
    # z1 z2 at d = 128, n = 4 d, from a subspace at cosine 0.8 (distance 0.6)
    from skmim._engine._amp import amp_rounds, gamp, learned_channel
    from skmim.metrics import subspace_distance

    U, samples, valid = _amp_problem("z1*z2", 128, 4, 1, n_valid=128)
    V0 = _partly_right(U, 0.8, 0)
    start = subspace_distance(V0.numpy(), U)
    basis, coef, noise, floor = learned_channel(samples, V0, 4)
    assert floor < noise  # the link through a partial estimate explains part of y
    W = gamp(samples, V0, basis, coef, noise, floor)
    assert subspace_distance(W.numpy(), U) < start - 0.2
    # the rounds, judged on held-out samples
    V, loss = amp_rounds(samples, valid, V0, 4)
    assert V is not None and np.isfinite(loss)
    assert subspace_distance(V.numpy(), U) < start - 0.2



@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_weighted_gram_equals_the_general_product(dtype):
    # X^T diag(v) X through NumPy's symmetric rank-k products (the rows of
    # positive and of negative weights apart, float64; exactly symmetric)
    # equals torch's general product (which float32 keeps)
    from skmim._engine._data import weighted_gram

    rng = np.random.RandomState(0)
    X = torch.as_tensor(rng.randn(500, 40), dtype=dtype)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for v in (rng.randn(500), np.abs(rng.randn(500)), -np.abs(rng.randn(500)),
              np.where(rng.rand(500) < 0.5, 0.0, rng.randn(500)), np.zeros(500)):
        v = torch.as_tensor(v, dtype=dtype)
        G = weighted_gram(X, v)
        ref = X.double().T @ (v.double()[:, None] * X.double())
        assert G.dtype == dtype and G.shape == (40, 40)
        if dtype == torch.float64:
            assert torch.equal(G, G.T)
        assert float((G.double() - ref).abs().max()) <= tol * max(float(ref.abs().max()), 1.0)


@pytest.mark.parametrize("batch_size", [None, 64, 1000])
def test_gram_of_chunks_accumulates_the_weighted_products(batch_size):
    # Samples.gram adds every chunk's rows into one BLAS accumulator (float64
    # on the CPU) and symmetrizes once: the same matrix as the plain product,
    # exactly symmetric, with chunks of one sign, of zero weight, or ragged
    from skmim._engine._data import Samples

    rng = np.random.RandomState(1)
    n, d = 300, 17
    X = rng.randn(n, d) * np.exp(rng.randn(d))
    scores = rng.randn(n)
    scores[:80] = np.abs(scores[:80])  # the first chunk of 64: one sign
    w = rng.rand(n) + 0.1
    w[100:170] = 0.0  # a chunk of 64 with no weight
    samples = Samples(X, scores, w, CPU, F64, batch_size=batch_size)
    G = samples.gram()
    ref = X.T @ ((w * scores)[:, None] * X)
    assert G.dtype == F64 and G.shape == (d, d) and torch.equal(G, G.T)
    assert np.abs(G.numpy() - ref).max() <= 1e-12 * np.abs(ref).max()


@pytest.mark.parametrize("intel_mkl", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_thin_products_equal_the_plain_products(dtype, intel_mkl, monkeypatch):
    # project / back_project take torch's transposed layout for few columns
    # and NumPy's product for more (or, with MKL on an Intel processor, the
    # layouts MKL runs fastest there): the same X V and X^T M either way
    from skmim._engine import _data
    from skmim._engine._data import back_project, project

    monkeypatch.setattr(_data, "_intel_mkl", lambda: intel_mkl)

    rng = np.random.RandomState(0)
    X = torch.as_tensor(rng.randn(300, 50), dtype=dtype)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for k in (1, 2, 3, 4, 9, 40):
        V = torch.as_tensor(rng.randn(50, k), dtype=dtype)
        M = torch.as_tensor(rng.randn(300, k), dtype=dtype)
        for got, ref in ((project(X, V), X.double() @ V.double()),
                         (back_project(X, M), X.double().T @ M.double()),
                         # a column slice of a wider matrix (not contiguous)
                         (project(X, torch.cat([V, V], 1)[:, k:]), X.double() @ V.double())):
            assert got.dtype == dtype and got.shape == ref.shape
            assert float((got.double() - ref).abs().max()) <= tol * float(ref.abs().max())


def test_descents_stepped_together_equal_descents_stepped_alone():
    # step_together multiplies the rows by the descents' matrices side by
    # side (one pass for all); each descent takes the steps it takes alone
    from skmim._engine._grassmann import GrassmannDescent, step_together

    rng = np.random.RandomState(0)
    d, n = 12, 1200
    X = rng.randn(n, d)
    y = np.tanh(X[:, 0]) + X[:, 1] ** 2 - 1 + 0.1 * rng.randn(n)
    w = np.ones(n)
    train = Samples(X[:900], y[:900], w[:900], torch.device("cpu"), torch.float64)
    valid = Samples(X[900:], y[900:], w[900:], torch.device("cpu"), torch.float64)
    starts = [torch.as_tensor(rng.randn(d, k)) for k in (1, 2, 3, 2)]

    def descents():
        return [GrassmannDescent(train, valid, V0, degree=3, max_iter=12 + 3 * i)
                for i, V0 in enumerate(starts)]

    alone = descents()
    for descent in alone:
        while not descent.step():
            pass
    together = descents()
    while not all(descent.done for descent in together):
        step_together([descent for descent in together if not descent.done])
    for a, b in zip(alone, together):
        assert a.n_iter == b.n_iter and a.n_iter > 0
        np.testing.assert_allclose(b.history["train_loss"], a.history["train_loss"], rtol=1e-10)
        np.testing.assert_allclose(b.history["val_loss"], a.history["val_loss"], rtol=1e-10)
        np.testing.assert_allclose(b.V.numpy(), a.V.numpy(), atol=1e-9)
    # the stopped ones drop out of the race: a done descent takes no step
    done = together[0]
    n_iter = done.n_iter
    step_together([done])
    assert done.n_iter == n_iter


@pytest.mark.parametrize("targets", [1, 3])
def test_moments_from_gram_match_a_pass_over_the_rows(targets):
    # the training rows' moments from the Gram matrix of all rows minus the
    # held-out rows' (the linear model of n_components="auto")
    from skmim._engine._ridge import moments_from_gram, outer_moments

    rng = np.random.RandomState(3)
    n, d = 300, 7
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 2.0
    y = rng.standard_normal((n, targets))[:, 0] if targets == 1 else rng.standard_normal(
        (n, targets))
    w = rng.uniform(0.1, 3.0, n)
    held = rng.uniform(size=n) < 0.2
    train = Samples(X[~held], y[~held], w[~held], CPU, F64, batch_size=64)
    valid = Samples(X[held], y[held], w[held], CPU, F64)
    gram = (X * w[:, None]).T @ X
    got = moments_from_gram(train, valid, gram).numpy()
    want = outer_moments(train, lambda Z: Z).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_passes_the_gram_of_the_engine_rows(monkeypatch):
    # parts["all_gram"] = (G, T): T^T G T is the weighted Gram matrix of the
    # rows the engine sees (standardized, whitened), whatever the units and weights
    from skmim import MultiIndexNetRegressor, _engine

    seen = {}
    real = _engine.fit_network

    def spy(parts, **kwargs):
        seen.update(parts)
        return real(parts, **kwargs)

    monkeypatch.setattr(_engine, "fit_network", spy)
    rng = np.random.RandomState(1)
    n, d = 400, 6
    X = (rng.standard_normal((n, d)) @ rng.standard_normal((d, d))) * np.logspace(-3, 3, d)
    y = X[:, 0] / X[:, 0].std() + 0.1 * rng.standard_normal(n)
    w = rng.uniform(0.5, 2.0, n) * 1e-4
    MultiIndexNetRegressor(max_iter=3, random_state=0).fit(X, y, sample_weight=w)
    G, T = seen["all_gram"]
    Xs, _, sw = seen["all"]
    want = (Xs * sw[:, None]).T @ Xs
    np.testing.assert_allclose(T.T @ G @ T, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())


def test_sliced_completion_basis_does_not_depend_on_the_svd_basis():
    # the completion of the sliced start: the part of the Huber start F
    # outside span(V) ties (F orthonormal, V one direction: five singular
    # values 1), so its singular vectors are any basis of that span; the
    # basis kept follows F's columns in order, whatever basis the SVD gave
    from skmim._engine._solver_refined import in_order_of
    from skmim._engine._stats import sign_flip

    rng = np.random.RandomState(3)
    d = 40
    F, _ = np.linalg.qr(rng.randn(d, 6))
    v = F[:, 2] + 0.3 * rng.randn(d)
    V = torch.as_tensor(v / np.linalg.norm(v))[:, None]
    F = torch.as_tensor(F)
    U, sv, _ = torch.linalg.svd(F - V @ (V.T @ F), full_matrices=False)
    assert torch.allclose(sv[:5], torch.ones(5, dtype=F64), atol=1e-12)
    S = U[:, :5]
    got = in_order_of(S, F)
    assert torch.allclose(got.T @ got, torch.eye(5, dtype=F64), atol=1e-12)
    assert torch.allclose(got @ got.T, S @ S.T, atol=1e-12)  # the same span
    # its first direction is F's first column projected onto that span
    first = S @ (S.T @ F[:, 0])
    assert abs(float(got[:, 0] @ first)) == pytest.approx(float(first.norm()), rel=1e-12)
    for seed in range(3):
        R, _ = np.linalg.qr(np.random.RandomState(seed).randn(5, 5))
        other = in_order_of(S @ torch.as_tensor(R), F)
        assert np.allclose(sign_flip(other.numpy()), sign_flip(got.numpy()), atol=1e-12)
        # the SVD's basis itself moved
        assert not np.allclose(sign_flip((S @ torch.as_tensor(R)).numpy()),
                               sign_flip(S.numpy()), atol=1e-3)


def test_row_hash_does_not_depend_on_the_blocks(monkeypatch):
    # each row's hash is its own: blocks of one row, of a few rows (ragged)
    # and the whole table in one block give the same numbers
    from skmim import _split

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((1000, 7)), rng.standard_normal(1000)
    X[500] = X[3]  # a repeated row hashes alike
    y[500] = y[3]
    results = []
    for values in (7, 7 * 33, 2**21):
        monkeypatch.setattr(_split, "HASH_BLOCK_VALUES", values)
        results.append(_split.row_uniforms(X, y, 5, grid=256.0))
    assert all(np.array_equal(results[0], u) for u in results[1:])
    u = results[0]
    assert u[500] == u[3]
    assert np.unique(u).size == 999
    assert np.all((u >= 0) & (u < 1))


def test_ridge_moments_accumulate_in_float64():
    # the ridge centres these sums: float32 features are summed in float64
    # (before: float32 sums of collinear features left negative eigenvalues of
    # rounding in the centred Gram matrix, and GCV chose the smallest penalty)
    from skmim._engine._ridge import _chunk_moments

    rng = np.random.default_rng(0)
    F = torch.as_tensor(rng.normal(size=(3000, 6)) + 100.0, dtype=torch.float32)
    y = torch.as_tensor(rng.normal(size=3000), dtype=torch.float32)
    w = torch.as_tensor(rng.uniform(0.5, 2.0, 3000), dtype=torch.float32)
    M = _chunk_moments(F, y, w)
    assert M.dtype == torch.float64
    ref = _chunk_moments(F.double(), y.double(), w.double())
    np.testing.assert_allclose(M.numpy(), ref.numpy(), rtol=1e-13)
