"""Statistical correctness, with fixed seeds, against the true subspace.

Margins were set from measured values (in the comments) so that a correct
implementation passes with room; they compare with the truth or with a
baseline run on the same data.
"""

import numpy as np
import pytest

from skmim import GaussianMultiIndex, MultiIndexNetRegressor, MultiIndexProjector, SpectralProjector
from skmim.metrics import subspace_distance


def problem_data(link, d, n_over_d, noise=0.1, seed=0):
    problem = GaussianMultiIndex(d, link, noise=noise, random_state=seed)
    X, y = problem.sample(n_over_d * d, random_state=seed + 1)
    Xt, yt = problem.sample(10000, random_state=seed + 2)
    return problem, X, y, Xt, yt


@pytest.fixture(scope="module")
def h2h2():
    return problem_data("h2+h2", 128, 32)


def test_default_recovers_h2_plus_h2(h2h2):
    # measured: distance 0.016, R^2 0.994
    problem, X, y, Xt, yt = h2h2
    model = MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y)
    assert subspace_distance(model.subspace_, problem.subspace) < 0.3
    assert model.score(Xt, yt) > 0.7


def test_default_auto_components_h2_plus_h2(h2h2):
    problem, X, y, Xt, yt = h2h2
    model = MultiIndexNetRegressor(random_state=0).fit(X, y)
    assert model.n_components_ == 2
    assert subspace_distance(model.subspace_, problem.subspace) < 0.3


def test_paper_layerwise_h2_plus_h2(h2h2):
    # the published algorithm alone; stage 1 sees half of the samples (16 d):
    # measured distance 0.38, R^2 0.79. Its distance matches the explicit
    # spectral estimator's on the same samples (test below).
    problem, X, y, Xt, yt = h2h2
    model = MultiIndexNetRegressor(solver="layerwise", loss="huber", n_components=2,
                                   random_state=0).fit(X, y)
    assert subspace_distance(model.subspace_, problem.subspace) < 0.45
    assert model.score(Xt, yt) > 0.7


def test_network_agrees_with_spectral_baseline(h2h2):
    # same data, same preprocessing: power iteration by gradient descent and
    # the explicit eigendecomposition find the same subspace (measured 0.018
    # apart, both 0.238 from the truth).
    problem, X, y, _, _ = h2h2
    net = MultiIndexProjector(solver="layerwise", loss="huber", n_components=2,
                              random_state=0).fit(X, y)
    spec = SpectralProjector(loss="huber", n_components=2).fit(X, y)
    assert subspace_distance(net.subspace_, spec.subspace_) < 0.1
    d_net = subspace_distance(net.subspace_, problem.subspace)
    d_spec = subspace_distance(spec.subspace_, problem.subspace)
    assert abs(d_net - d_spec) < 0.05


@pytest.fixture(scope="module")
def h4h4():
    return problem_data("h4+h4", 128, 64)


def test_h4_plus_h4_huber_recovers(h4h4):
    # E[y (z z^T - I)] = 0 for h4: the clipped Huber weight still sees it.
    # measured: layerwise distance 0.42 (random: about 0.99)
    problem, X, y, _, _ = h4h4
    model = MultiIndexNetRegressor(solver="layerwise", loss="huber", n_components=2,
                                   random_state=0).fit(X, y)
    assert subspace_distance(model.subspace_, problem.subspace) < 0.5


def test_h4_plus_h4_squared_fails(h4h4):
    # the documented failure mode of squared loss: no second-order signal.
    # measured: distance 0.945 (random: about 0.99)
    problem, X, y, _, _ = h4h4
    model = MultiIndexNetRegressor(solver="layerwise", loss="squared", n_components=2,
                                   random_state=0).fit(X, y)
    assert subspace_distance(model.subspace_, problem.subspace) > 0.85


def test_z1_times_z2_recovered():
    # eigenvalues +1 and -1: both signs must be found. measured: layerwise
    # 0.28 at n = 64 d (stage 1 on half); default 0.015, R^2 0.989.
    problem, X, y, Xt, yt = problem_data("z1*z2", 128, 64)
    paper = MultiIndexNetRegressor(solver="layerwise", loss="squared", n_components=2,
                                   random_state=0).fit(X, y)
    assert subspace_distance(paper.subspace_, problem.subspace) < 0.45
    default = MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y)
    assert subspace_distance(default.subspace_, problem.subspace) < 0.15
    assert default.score(Xt, yt) > 0.9


def test_refinement_halves_stage1_error():
    # d = 64, n = 16 d, h2 + h2: the refinement from the stage-1 subspace on the
    # same data. measured: stage 1 0.345, refined 0.023.
    problem, X, y, _, _ = problem_data("h2+h2", 64, 16)
    kw = dict(loss="huber", n_components=2, random_state=0)
    stage1 = MultiIndexProjector(solver="layerwise", **kw).fit(X, y)
    refined = MultiIndexProjector(solver="refined", **kw).fit(X, y)
    d1 = subspace_distance(stage1.subspace_, problem.subspace)
    d2 = subspace_distance(refined.subspace_, problem.subspace)
    assert d2 < 0.5 * d1


def test_grassmann_from_random_start():
    # measured: 0.015 (0.014 to 0.017 over random_state 0..7 with n_init=4)
    problem, X, y, _, _ = problem_data("h2+h2", 64, 32)
    model = MultiIndexProjector(solver="grassmann", n_components=2, random_state=0).fit(X, y)
    assert subspace_distance(model.subspace_, problem.subspace) < 0.15


def test_odd_link_needs_even_preprocessing():
    # h3 + h3: no second-order signal in population for squared or Huber loss
    # (at finite n the heavier noise on the hidden block still leaks a little:
    # measured squared 0.775, Huber 0.951); |y - median| sees it (0.463).
    problem, X, y, _, _ = problem_data("h3+h3", 64, 32)
    kw = dict(solver="layerwise", n_components=2, random_state=0)
    dist = {
        loss: subspace_distance(MultiIndexProjector(loss=loss, **kw).fit(X, y).subspace_,
                                problem.subspace)
        for loss in ("squared", "huber", "abs")
    }
    assert dist["abs"] < 0.6
    assert dist["huber"] > 0.85
    assert dist["squared"] > dist["abs"] + 0.2
    # the default (loss="auto": every loss refined, the best held-out loss kept)
    # recovers it: measured 0.013
    auto = MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y)
    assert subspace_distance(auto.subspace_, problem.subspace) < 0.15


def test_sgd_recovers_tanh_single_index():
    # one online pass (batch 1) over the stage-1 half of n = 64 d samples.
    # measured: distance 0.07, R^2 0.97
    problem, X, y, Xt, yt = problem_data("tanh", 64, 64)
    model = MultiIndexNetRegressor(solver="sgd", n_components=1, random_state=0).fit(X, y)
    assert subspace_distance(model.subspace_, problem.subspace) < 0.3
    assert model.score(Xt, yt) > 0.8
    # weight decay leaves one outlying singular value in W
    s = model.history_["singular_values"][-1]
    assert s[0] > 4 * s[1]


def test_sgd_recovers_two_index_staircase():
    # z1 + h2(z2): the first-order term gives u1 (E[y x]) and the second-order
    # term u2 (E[y (x x^T - I)]), the low-order Hermite terms through which the
    # population gradient of Mousavi-Hosseini et al.'s network sees the target.
    # measured: distance 0.22, R^2 0.95
    problem, X, y, Xt, yt = problem_data("h1+h2", 64, 64)
    model = MultiIndexNetRegressor(solver="sgd", n_components=2, random_state=0).fit(X, y)
    assert subspace_distance(model.subspace_, problem.subspace) < 0.3
    assert model.score(Xt, yt) > 0.8
    outside = model.history_["mass_outside"]
    assert outside[-1] < outside[0]


def auto_against_single_losses(link, n_components, seeds=(3, 4, 5), medians=True):
    """Medians over problems of the distance of loss="auto" and of the best
    single stage-1 loss, all fitted on the same data (d = 256, n = 8 d); with
    ``medians=False`` the per-problem distances."""
    default, single = [], []
    for seed in seeds:
        problem, X, y, _, _ = problem_data(link, 256, 8, seed=seed)
        dist = {loss: subspace_distance(
            MultiIndexProjector(n_components=n_components, loss=loss,
                                random_state=0).fit(X, y).subspace_,
            problem.subspace) for loss in ("auto", "squared", "huber", "abs")}
        default.append(dist.pop("auto"))
        single.append(min(dist.values()))
    if not medians:
        return np.array(default), np.array(single)
    return np.median(default), np.median(single)


def test_first_order_start_on_odd_link():
    # h3 + h3 at d = 256, n = 8 d: E[x | y] is along u1 + u2, which no stage-1
    # loss sees at this n; loss="auto" also refines from the sliced-inverse-
    # regression start. Same data for every fit; medians over three problems.
    # measured: default 0.794 / 0.801 / 0.791 (all three from the sliced start),
    # best single loss 0.938 / 0.959 / 0.936 (some single losses fall back to
    # their spectral estimate on all samples: nothing beats the held-out mean).
    default, single = auto_against_single_losses("h3+h3", 2)
    assert default < 0.9
    assert default < single - 0.07


def test_first_order_start_completed_on_mixed_link():
    # mixed3 = z1 z2 + tanh(z3) + 0.5 z1^2 at d = 256, n = 8 d: sliced inverse
    # regression sees z3 (first order), the Huber start z1 and z2; the sliced
    # candidate starts from both. Same data for every fit; three problems.
    # measured: default 0.091 / 0.100 / 0.103, best single loss 0.091 / 0.100
    # / 0.100. Before the Gauss-Newton step of the refinement: default 0.094
    # / 0.224 / 0.102 (the first from the sliced start), best single loss
    # 0.646 / 0.224 / 0.104: the single losses' refinements now leave the
    # starts plain gradient descent stayed near, so the sliced start's part
    # here is no longer measurable (test_first_order_start_on_odd_link
    # still measures it).
    default, single = auto_against_single_losses("mixed3", 3, medians=False)
    assert np.all(default < 0.2)
    assert np.all(default <= single + 0.02)


def test_nothing_confirmed_gives_spectral_estimate_on_all_samples():
    # h4 + h4 at d = 256, n = 8 d is at the detection threshold: on two of the
    # three problems no refinement predicts the held-out samples better than
    # their mean, so the default returns the Huber spectral estimate computed
    # on all samples instead of a refinement from the 80 % training part.
    # measured: default 0.767 / 0.933 / 0.731, all three dropped, equal to
    # SpectralProjector(loss="huber") on the same data; before the rule the
    # default was 0.974 / 0.979 / 0.870, and with a bare comparison with the
    # mean (no standard error) 0.767 / 0.983 / 0.945 after the internal
    # standardization changed the split.
    default, spectral = [], []
    for seed in (3, 4, 5):
        problem, X, y, _, _ = problem_data("h4+h4", 256, 8, seed=seed)
        model = MultiIndexProjector(n_components=2, random_state=0).fit(X, y)
        base = SpectralProjector(n_components=2, loss="huber").fit(X, y)
        default.append(subspace_distance(model.subspace_, problem.subspace))
        spectral.append(subspace_distance(base.subspace_, problem.subspace))
    assert np.median(default) < 0.9
    assert np.median(default) <= np.median(spectral) + 0.05


def test_nothing_confirmed_under_the_noise_edge_compares_nulls():
    # h3 + h3 at d = 256, n = 2 d: no refinement beats the held-out mean and
    # sliced inverse regression is under its noise edge on all samples. Its
    # top eigenvalue still stands further above its shift null than the
    # Huber spectral estimate's (null z-scores 4.1 / 1.3 / 4.9 against
    # 0.2 / 0.8 / 0.9), so the sliced estimate is returned. Measured: 0.920 /
    # 0.928 / 0.909, Huber spectral estimate on the same data 0.997 / 0.992 /
    # 1.000 (the rule before, which kept the spectral estimate under the
    # edge, returned that).
    default, spectral = [], []
    for seed in (3, 5, 8):
        problem, X, y, _, _ = problem_data("h3+h3", 256, 2, seed=seed)
        model = MultiIndexProjector(n_components=2, random_state=0).fit(X, y)
        assert model.refined_ is False
        default.append(subspace_distance(model.subspace_, problem.subspace))
        base = SpectralProjector(n_components=2, loss="huber").fit(X, y)
        spectral.append(subspace_distance(base.subspace_, problem.subspace))
    assert np.median(default) < 0.95
    assert np.median(default) < np.median(spectral) - 0.03


def test_nothing_confirmed_on_odd_link_gives_sliced_start_on_all_samples():
    # h3 + h3 at d = 256, n = 4 d: sliced inverse regression clears its edge
    # on all samples but not always on the training part; when no refinement
    # beats the held-out mean the sliced start on all samples is returned.
    # measured: 0.840 / 0.808 / 0.850, all three the sliced start on all
    # samples (the refinements' held-out gains are under two standard errors);
    # before this rule 0.968 / 0.992 / 0.811.
    dist = []
    for seed in (3, 4, 5):
        problem, X, y, _, _ = problem_data("h3+h3", 256, 4, seed=seed)
        model = MultiIndexProjector(n_components=2, random_state=0).fit(X, y)
        dist.append(subspace_distance(model.subspace_, problem.subspace))
    assert np.median(dist) < 0.92


def test_whitening_recovers_the_index_space_of_correlated_inputs():
    # x = Sigma^{1/2} xi (condition number 100), y = mixed3 of the standard
    # normal xi: the index space in x is Sigma^{-1/2} U. Measured (seed 0,
    # d = 64, n = 16 d): whitened 0.038 (32 steps), not whitened 0.038 (254
    # steps, stopped by max_iter: unwhitened, the refinement crawls along the
    # ill-conditioned directions; before the race stopped the runs behind
    # that had stopped improving, 0.060 in 349 steps; before it was
    # continued on all samples, 0.563 in 184 steps), isotropic 0.046.
    # Whitening reaches the same distance in an eighth of the steps.
    d = 64
    problem = GaussianMultiIndex(d, "mixed3", noise=0.1, random_state=0)
    xi, y = problem.sample(16 * d, random_state=1)
    rng = np.random.RandomState(7)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.logspace(0.0, 2.0, d)
    X = xi @ ((Q * np.sqrt(lam)) @ Q.T)
    U = ((Q / np.sqrt(lam)) @ Q.T) @ problem.subspace
    white = MultiIndexProjector(n_components=3, random_state=0).fit(X, y)
    plain = MultiIndexProjector(n_components=3, whiten=False, random_state=0).fit(X, y)
    iso = MultiIndexProjector(n_components=3, random_state=0).fit(xi, y)
    d_white = subspace_distance(white.subspace_, U)
    assert d_white < 0.3
    assert d_white < subspace_distance(plain.subspace_, U) + 0.02
    assert white.n_iter_ < plain.n_iter_ / 3
    assert abs(d_white - subspace_distance(iso.subspace_, problem.subspace)) < 0.1


def test_auto_dimension_by_heldout_loss_on_friedman1():
    # friedman1: y depends on x1..x5 through four directions (x1 and x2 in
    # sin(pi x1 x2), x3 quadratic, 10 x4 + 5 x5 linear). The noise-edge count
    # found one; the held-out search finds four. Measured: r = 4, R^2 0.954
    # (held-out loss 0.075 / 0.063 / 0.034 / 0.0188 / 0.0190 / 0.0196 for r = 1..6).
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=6000, n_features=20, noise=1.0, random_state=0)
    model = MultiIndexNetRegressor(random_state=0).fit(X[:4000], y[:4000])
    assert model.n_components_ in (4, 5)
    assert model.score(X[4000:], y[4000:]) > 0.9
    assert set(model.dimension_scores_) >= {1, 2, 3, 4}


def test_linear_link_matches_ridge():
    # a linear y is a one-index model; the outer layer has the projections
    # as features, and with n_components="auto" the ridge regression on all
    # columns is kept when it predicts the held-out part as well as the best
    # refinement. Measured: loss_ "linear", distance 0.035, R^2 0.9978
    # against RidgeCV's 0.9977 (0.9946 with the refined nonlinear model).
    from sklearn.linear_model import RidgeCV

    rng = np.random.RandomState(0)
    X = rng.standard_normal((600, 12)) * rng.uniform(0.1, 10.0, size=12)
    beta = rng.standard_normal(12) / X.std(axis=0)
    y = X @ beta + 0.4 * rng.standard_normal(600) * np.std(X @ beta)
    Xt = rng.standard_normal((4000, 12)) * X.std(axis=0)
    yt = Xt @ beta
    model = MultiIndexNetRegressor(random_state=0).fit(X, y)
    ridge = RidgeCV().fit(X, y)
    assert model.n_components_ == 1
    assert subspace_distance(model.subspace_, beta[:, None]) < 0.1
    assert model.score(Xt, yt) > ridge.score(Xt, yt) - 0.005
    assert model.loss_ == "linear" and not model.refined_
    assert np.all(model.output_weights_ == 0)
    # with a given n_components the nonlinear model is kept (measured 0.963)
    nonlinear = MultiIndexNetRegressor(n_components=1, random_state=0).fit(X, y)
    assert nonlinear.loss_ != "linear" and nonlinear.score(Xt, yt) > 0.9


def heavy_tailed_single_index(seed, d=200, n=3200):
    rng = np.random.RandomState(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    X, Xt = rng.standard_normal((n, d)), rng.standard_normal((4000, d))
    y = np.tanh(2 * X @ u) + rng.standard_t(2, size=n)
    return u, X, y, Xt, np.tanh(2 * Xt @ u)


def test_heavy_tailed_noise_huber_outer_layer():
    # y = tanh(2 u.x) + Student-t(2) noise (infinite variance), d = 200,
    # n = 16 d. Measured, seeds 0-2: distance 0.462 / 0.484 / 0.488 (the
    # Cramer-Rao bound knowing link and noise law is about 0.30); R^2 against
    # the noiseless signal 0.654 / 0.674 / 0.664 with outer_loss="huber"
    # (seed 0 keeps the linear model), 0.57 / 0.66 / 0.59 with the squared
    # outer layer.
    dist, r2 = [], []
    for seed in range(3):
        u, X, y, Xt, ft = heavy_tailed_single_index(seed)
        model = MultiIndexNetRegressor(outer_loss="huber", random_state=0).fit(X, y)
        dist.append(subspace_distance(model.subspace_, u[:, None]))
        r2.append(1 - np.mean((model.predict(Xt) - ft) ** 2) / np.var(ft))
    assert np.median(dist) < 0.65
    assert np.median(r2) > 0.55


def test_rank_loss_resists_heavy_tails():
    # (u.x)^2 + Student-t(2) noise: the squared loss's start is random
    # (measured 1.000 / 0.975 / 1.000), the rank scores' is not (0.407 /
    # 0.428 / 0.394)
    d, n = 200, 3200
    for seed in range(3):
        rng = np.random.RandomState(seed)
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        X = rng.standard_normal((n, d))
        y = (X @ u) ** 2 + rng.standard_t(2, size=n)
        fit = {loss: subspace_distance(
            SpectralProjector(n_components=1, loss=loss).fit(X, y).subspace_, u[:, None])
            for loss in ("squared", "rank")}
        assert fit["rank"] < 0.6 and fit["squared"] > 0.9


@pytest.mark.parametrize("seed", [2, 3])
def test_refinement_continued_on_all_samples_near_the_onset(seed, monkeypatch):
    # issue 14: at n = 4 d (h2+h2, d = 128) the training part's estimate
    # still improves steeply with the sample count. Continuing the kept
    # refinement on all samples (validation part included), for at most the
    # steps after which its held-out loss was smallest, measured 0.079 / 0.071
    # (seeds 2 / 3) against 0.115 / 0.106 without.
    from skmim._engine import _solver_refined

    problem = GaussianMultiIndex(128, "h2+h2", noise=0.1, random_state=seed)
    X, y = problem.sample(4 * 128, random_state=seed + 100)
    model = MultiIndexNetRegressor(n_components=2, random_state=seed).fit(X, y)
    monkeypatch.setattr(_solver_refined, "_polish", lambda *args, **kwargs: None)
    unpolished = MultiIndexNetRegressor(n_components=2, random_state=seed).fit(X, y)
    # the same training run; the continued steps are counted in n_iter_
    assert model.refine_history_["val_loss"] == unpolished.refine_history_["val_loss"]
    steps = model.n_iter_ - unpolished.n_iter_
    assert model.refined_ and 0 < steps <= int(np.argmin(model.refine_history_["val_loss"]))
    polished = subspace_distance(model.subspace_, problem.subspace)
    assert polished < 0.09
    assert polished < subspace_distance(unpolished.subspace_, problem.subspace) - 0.02


@pytest.mark.parametrize("seed", [0, 3])
def test_message_passing_with_a_learned_channel_at_the_onset(seed, monkeypatch):
    # issue 14: z1 z2 at d = 128, n = 3 d (alpha_c = 0.6). The refinements
    # overfit the training part; message passing with the learned channel,
    # from the best of them, reached 0.153 / 0.181 (seeds 0 / 3), where
    # the fit without it stayed at 0.786 / 0.518
    from skmim._engine import _solver_refined

    problem = GaussianMultiIndex(128, "z1*z2", noise=0.1, random_state=seed)
    X, y = problem.sample(3 * 128, random_state=seed + 100)
    model = MultiIndexNetRegressor(n_components=2, random_state=seed).fit(X, y)
    assert model.loss_ == "amp" and model.refined_
    assert subspace_distance(model.subspace_, problem.subspace) < 0.3
    monkeypatch.setattr(_solver_refined, "amp_applicable", lambda *args: False)
    without = MultiIndexNetRegressor(n_components=2, random_state=seed).fit(X, y)
    assert "amp" not in without.loss_scores_
    assert subspace_distance(without.subspace_, problem.subspace) > 0.45


def test_race_keeps_a_refinement_that_crawls_out_of_a_saddle(monkeypatch):
    # h2 * h2 at d = 64, n = 8 d (the benchmark's --quick point, seed 1):
    # the learned start from the rank start stands 12 % behind the best at
    # step 13 but still falls, and crawls out of its saddle over 200 steps
    # (0.29 -> 0.017 held out); message passing from it reaches distance
    # 0.055. The race stops only runs whose held-out loss stopped falling; a
    # rule that forecast each run's pace over 25 steps stopped this one and
    # returned the unconfirmed spectral estimate (0.928)
    from skmim._engine import _solver_refined

    problem = GaussianMultiIndex(64, "h2*h2", noise=0.1, random_state=1)
    X, y = problem.sample(512, random_state=10_001)
    model = MultiIndexNetRegressor(n_components=2, random_state=1).fit(X, y)
    assert model.refined_ and model.loss_ in ("learned", "amp")
    assert model.loss_scores_["learned"] < 0.2 * model.loss_scores_["abs"]  # 0.017 vs 0.261
    assert subspace_distance(model.subspace_, problem.subspace) < 0.2
    # the runs that did stop were flat: without the rule the same fit
    monkeypatch.setattr(_solver_refined, "PRUNE_MIN_STEPS", 10**9)
    unpruned = MultiIndexNetRegressor(n_components=2, random_state=1).fit(X, y)
    assert unpruned.loss_scores_ == pytest.approx(model.loss_scores_, rel=1e-6)
    np.testing.assert_allclose(unpruned.subspace_, model.subspace_, atol=1e-6)


@pytest.mark.parametrize("seed", [1, 2])
def test_learned_label_transform_finds_the_second_direction(seed):
    # issue 14: h4(z1) + h4(z2) at d = 128, n = 12 d. The losses' starts see
    # one direction (the refinement from them stays at 0.69 / 0.69, seeds
    # 1 / 2); the label transform learned through the Huber start sees both
    # and its refinement reaches 0.025 / 0.025 (on seed 2 message passing
    # from that refinement then scores a little better on the held-out part,
    # at 0.026)
    problem = GaussianMultiIndex(128, "h4+h4", noise=0.1, random_state=seed)
    X, y = problem.sample(12 * 128, random_state=seed + 100)
    model = MultiIndexNetRegressor(n_components=2, random_state=seed).fit(X, y)
    assert model.loss_ in ("learned", "amp") and model.refined_
    assert model.loss_scores_["learned"] < 0.1 * min(
        model.loss_scores_[name] for name in ("squared", "huber", "abs", "rank"))
    assert subspace_distance(model.subspace_, problem.subspace) < 0.1
