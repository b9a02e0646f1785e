import numpy as np
import pytest

from skmim import GaussianMultiIndex, link_names
from skmim._links import hermite
from skmim.metrics import neuron_alignment, principal_angles, subspace_distance


@pytest.mark.parametrize("link", link_names())
def test_every_named_link_samples(link):
    problem = GaussianMultiIndex(12, link, noise=0.1, random_state=0)
    X, y = problem.sample(50, random_state=1)
    assert X.shape == (50, 12) and y.shape == (50,) and np.all(np.isfinite(y))
    U = problem.subspace
    np.testing.assert_allclose(U.T @ U, np.eye(problem.n_directions), atol=1e-12)


def test_hermite_normalization():
    z = np.random.RandomState(0).standard_normal(400_000)
    for k in (1, 2, 3, 4):
        assert abs(np.mean(hermite(k, z) ** 2) - 1) < 0.05


def test_sampling_is_reproducible_and_noise_is_added():
    p = GaussianMultiIndex(8, "h2+h2", noise=0.5, random_state=0)
    X1, y1 = p.sample(100, random_state=3)
    X2, y2 = p.sample(100, random_state=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    resid = y1 - p.link_values(X1)
    assert 0.3 < resid.std() < 0.7


def test_callable_link_and_strengths():
    p = GaussianMultiIndex(10, lambda Z: Z[:, 0] * Z[:, 1] * Z[:, 2], n_directions=3,
                           strengths=[1.0, 2.0, 3.0], random_state=0)
    X, y = p.sample(20, random_state=0)
    Z = X @ p.subspace * np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(y, Z.prod(axis=1))
    with pytest.raises(ValueError, match="n_directions"):
        GaussianMultiIndex(10, lambda Z: Z[:, 0])
    with pytest.raises(ValueError, match="strengths"):
        GaussianMultiIndex(10, "h2+h2", strengths=[1.0, -1.0])
    for bad in (None, "0.1", True):  # not numbers: a ValueError naming the parameter
        with pytest.raises(ValueError, match="noise must be"):
            GaussianMultiIndex(10, "h2+h2", noise=bad)
        with pytest.raises(ValueError, match="threshold must be"):
            GaussianMultiIndex(10, "h2+h2", labels="sign", threshold=bad)


def test_subspace_distance_and_angles():
    E = np.eye(5)
    assert subspace_distance(E[:, :2], E[:, :2]) == 0.0
    assert subspace_distance(E[:, :2], E[:, 2:4]) == pytest.approx(1.0)
    # invariant to the basis chosen for a subspace
    R = np.array([[np.cos(1), -np.sin(1)], [np.sin(1), np.cos(1)]])
    assert subspace_distance(E[:, :2] @ R * 3, E[:, :2]) == pytest.approx(0.0, abs=1e-12)
    # one of two directions right: sqrt(1/2)
    assert subspace_distance(E[:, [0, 2]], E[:, :2]) == pytest.approx(np.sqrt(0.5))
    np.testing.assert_allclose(principal_angles(E[:, [0, 2]], E[:, :2]), [np.pi / 2, 0], atol=1e-12)
    with pytest.raises(ValueError, match="different dimensions"):
        subspace_distance(np.eye(3)[:, :1], E[:, :1])
    with pytest.raises(ValueError, match="NaN"):
        subspace_distance(np.full((3, 1), np.nan), np.eye(3)[:, :1])


def test_neuron_alignment():
    U = np.eye(4)[:, :2]
    W = np.array([[1.0, 1.0, 0, 0], [0, 0, 1.0, 0], [1.0, 0, 0, 1.0]])
    assert neuron_alignment(W, U) == pytest.approx((1 + 0 + 0.5) / 3)


def test_metrics_are_scale_free_and_reject_what_they_cannot_compare():
    import warnings

    E = np.eye(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, underflow or ComplexWarning
        # a span does not depend on the scale of its basis
        assert subspace_distance(1e-20 * E[:, :2], E[:, :2]) == 0.0
        assert subspace_distance(1e200 * E[:, :2], E[:, 1:3]) == pytest.approx(np.sqrt(0.5))
        for scale in (1e200, 1e-200):
            assert neuron_alignment([[scale, scale, 0, 0]], E[:, :1]) == pytest.approx(0.5)
        with pytest.raises(ValueError, match="NaN or inf"):
            neuron_alignment([[np.inf, 0, 0, 0]], E[:, :1])
        with pytest.raises(ValueError, match="complex"):
            subspace_distance(1j * E[:, :2], E[:, :2])
    with pytest.raises(ValueError, match="full column rank"):
        subspace_distance(np.c_[E[:, 0], 3 * E[:, 0]], E[:, :2])


def test_generator_copies_its_strengths_and_checks_its_inputs():
    strengths = np.array([1.0, 2.0])
    problem = GaussianMultiIndex(4, "h2+h2", strengths=strengths, random_state=0)
    before = problem.link_values(np.ones((1, 4)))
    strengths[1] = 100.0  # the caller's array: the problem stays as it was built
    np.testing.assert_array_equal(problem.link_values(np.ones((1, 4))), before)
    assert "strengths=[1.0, 2.0]" in repr(problem)
    assert "threshold=5.0" in repr(GaussianMultiIndex(4, "h2+h2", labels="sign", threshold=5.0))
    with pytest.raises(ValueError, match=r"shape \(n_samples, 4\)"):
        problem.link_values(np.ones((3, 5)))
    with pytest.raises(ValueError, match="n_features must be a positive integer"):
        GaussianMultiIndex(True, "h2")
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        problem.sample(True)
