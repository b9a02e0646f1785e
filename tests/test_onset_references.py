"""The references of benchmarks/onset_references.py (issue 14, item 3) on known cases.

The weak-recovery threshold of single-index ``h2`` without noise is ``alpha_c = 1/2``
(Mondelli and Montanari) and that of ``h2 + h2`` is 1 (``E[z z^T | y]`` is
``(1 + y / sqrt(2)) I``, so ``1 / alpha_c = Var(|z|^2) / 4 = 1``). The optimal spectral
method and GAMP must recover a single-index ``h2`` direction well above ``alpha_c`` and
not below it. Measured (d = 300, noise 0.1, seeds 0-5): overlaps at n/d = 3 of
0.88-0.90 (spectral) and 0.997-0.998 (GAMP); at n/d = 0.25 at most 0.29 and 0.25.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from skmim import GaussianMultiIndex
from skmim.metrics import subspace_distance

MODULE = Path(__file__).parent.parent / "benchmarks" / "onset_references.py"
pytestmark = pytest.mark.skipif(not MODULE.exists(),
                                reason="benchmarks/ is not shipped with the tests")


@pytest.fixture(scope="module")
def ref():
    spec = importlib.util.spec_from_file_location("onset_references", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sample(link, d, ratio, seed=0, noise=0.1):
    problem = GaussianMultiIndex(d, link, noise=noise, random_state=seed)
    X, y = problem.sample(int(ratio * d), random_state=seed + 100)
    return problem.subspace, X, y


def test_alpha_c_known_cases(ref):
    assert ref.alpha_c("h2", 0.0) == pytest.approx(0.5, abs=0.02)
    assert ref.alpha_c("h2+h2", 0.0) == pytest.approx(1.0, abs=0.02)
    assert ref.alpha_c("h2+h2", 0.1) == pytest.approx(1.0, abs=0.03)  # 1.005 measured


def test_conditional_second_moment_of_h2(ref):
    # without noise, E[z^2 | y] = 1 + sqrt(2) y exactly on the support y >= -1/sqrt(2)
    m = ref.conditional_second_moment("h2", 0.0)
    inside = (m.y > -0.6) & (m.y < 5) & (m.density > 0)
    np.testing.assert_allclose(m.second_moment[inside, 0, 0], 1 + np.sqrt(2) * m.y[inside],
                               atol=0.02)
    assert m.expectation(m.second_moment[:, 0, 0]) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("ratio, above", [(3.0, True), (0.25, False)])
def test_optimal_spectral_single_index(ref, ratio, above):
    U, X, y = _sample("h2", 300, ratio)
    overlap = abs(float(ref.optimal_spectral(X, y, "h2", 0.1)[:, 0] @ U[:, 0]))
    if above:
        assert overlap > 0.7  # 0.886 measured
    else:
        assert overlap < 0.45  # 0.135 measured


@pytest.mark.parametrize("ratio, above", [(3.0, True), (0.25, False)])
def test_gamp_single_index(ref, ratio, above):
    U, X, y = _sample("h2", 300, ratio)
    overlap = abs(float(ref.gamp(X, y, "h2", 0.1, random_state=0)[:, 0] @ U[:, 0]))
    if above:
        assert overlap > 0.9  # 0.997 measured
    else:
        assert overlap < 0.45  # 0.081 measured


def test_two_index_references(ref):
    # h2 + h2 at n = 8 d, d = 96: spectral 0.25-0.30 and GAMP 0.032-0.038 (seeds 0-4)
    U, X, y = _sample("h2+h2", 96, 8.0)
    assert subspace_distance(ref.optimal_spectral(X, y, "h2+h2", 0.1), U) < 0.55
    assert subspace_distance(ref.gamp(X, y, "h2+h2", 0.1, random_state=0), U) < 0.2


def test_quadratic_channel_matches_direct_evaluation(ref):
    from skmim._links import LINKS

    rng = np.random.default_rng(0)
    V = np.array([[0.6, 0.1], [0.1, 0.4]])
    omega = 0.5 * rng.standard_normal((20, 2))
    nodes, logprior = ref._tensor_grid(2, 0.1, 5.0)
    for link in ("h2+h2", "z1*z2"):
        g = LINKS[link][1]
        y = g(rng.standard_normal((20, 2))) + 0.1 * rng.standard_normal(20)
        quad = ref._quadratic_form(g, 2)
        assert quad is not None
        fast = ref._posterior_moments(omega, V, y, g, 0.1, nodes, logprior, quad)
        slow = ref._posterior_moments(omega, V, y, g, 0.1, nodes, logprior, None)
        np.testing.assert_allclose(fast[0], slow[0], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fast[1], slow[1], rtol=1e-8, atol=1e-10)
    assert ref._quadratic_form(LINKS["h4+h4"][1], 2) is None
