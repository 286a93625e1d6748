"""Finite-d simulator of the DSM random-features model: exact checks and errors."""

import math

import numpy as np
import pytest
from mpmath import mp

from derivations.dsm.activations import ActivationError
from derivations.dsm.simulation import METRICS, SimulationError, simulate


def close(value, reference, stderr, sigmas=4.0, slack=0.0):
    return abs(value - reference) <= sigmas * stderr + slack


def test_linear_activation_with_huge_ridge_learns_nothing():
    # λ → ∞: B → 0, so E_test → E||y||²/d = 1 and E_train → ||Z||²/(n m d) ≈ 1
    r = simulate("poly:1", 0.5, 2, 1.5, 1e6, m=3, d=60, seeds=3, n_test=20000)
    assert abs(r.test_error.mean - 1) < 0.01
    assert abs(r.train_error.mean - 1) < 0.01
    assert abs(r.dsm_test_loss.mean - 1) < 0.01
    assert r.test_error_orthogonal.mean == 0


def test_linear_ordinary_least_squares_exact_expectations():
    # ϱ(x) = x, p = d, λ = 0, m = 1: the score is OLS of z on y, so
    # E[E_test] = a² d / (h (N - d - 1)) and E[E_train] = a² (N - d) / N exactly.
    d, n, t = 60, 600, 0.5
    a2, h = math.exp(-2 * t), -math.expm1(-2 * t)
    r = simulate("poly:1", t, n / d, 1, 0, m=1, d=d, seeds=6, n_test=4000)
    assert close(r.test_error.mean, a2 * d / (h * (n - d - 1)), r.test_error.stderr)
    assert close(r.train_error.mean, a2 * (n - d) / n, r.train_error.stderr)


def test_linear_noise_averaged_model_against_wishart_average():
    # m = ∞, ϱ(x) = x, p = d: s(y) = -(a² S + h)^{-1} y with S = X Xᵀ/n, so
    # E_test = tr[((a²S + h)^{-1} - 1)²]/d and
    # E_train = tr[(1 - hM)² + a² h M² S]/d with M = (a²S + h)^{-1}.
    d, n, t, m_proxy = 40, 80, 0.5, 256
    a2, h = math.exp(-2 * t), -math.expm1(-2 * t)
    rng = np.random.default_rng(3)
    tests, trains = [], []
    for _ in range(2000):
        x = rng.standard_normal((d, n))
        s = np.linalg.eigvalsh(x @ x.T / n)
        inverse = 1 / (a2 * s + h)
        tests.append(np.mean((inverse - 1) ** 2))
        trains.append(np.mean((1 - h * inverse) ** 2 + a2 * h * inverse**2 * s))
    r = simulate("poly:1", t, n / d, 1, 1e-9, m="inf", d=d, seeds=6, n_test=4000, m_proxy=m_proxy)
    assert r.m == math.inf and r.m_proxy == m_proxy
    proxy_bias = a2 * d / (h * n * m_proxy)  # order of the finite-m_proxy OLS excess error

    def stderr(samples, estimate):
        return math.hypot(np.std(samples) / math.sqrt(len(samples)), estimate.stderr)

    for estimate, samples in ((r.test_error, tests), (r.train_error, trains)):
        error = stderr(samples, estimate)
        assert close(estimate.mean, np.mean(samples), error, slack=proxy_bias)


@pytest.mark.parametrize("m", [1, 4, "inf"])
def test_train_error_identity_matches_direct_sum(m):
    kwargs = dict(t=0.3, psi_n=1.5, psi_p=2, lam=0.05, m=m, d=30, psi_d=0.5, seeds=2, n_test=100,
                  m_proxy=6, chunk_entries=500)  # several chunks per seed
    identity = simulate("relu", train_error="identity", **kwargs)
    direct = simulate("relu", train_error="direct", **kwargs)
    np.testing.assert_allclose(identity.train_error.values, direct.train_error.values, rtol=1e-10)
    np.testing.assert_array_equal(identity.test_error.values, direct.test_error.values)


@pytest.mark.parametrize(
    "spec, m, psi_d",
    [("tanh", 1, 1.0), ("tanh", "inf", 1.0), ("relu", 2, 0.4), ("erf", "inf", 0.6)],
)
def test_dsm_test_loss_is_c_plus_h_times_test_error(spec, m, psi_d):
    r = simulate(
        spec, 0.4, 1.5, 2.5, 1e-2, m=m, d=40, psi_d=psi_d, seeds=2, n_test=20000, m_proxy=8
    )
    gap = r.dsm_test_loss.values - (r.c_t + r.h_t * r.test_error.values)
    bound = 4 * (r.dsm_test_loss_mc_se + r.h_t * r.test_error_mc_se)
    assert np.all(np.abs(gap) <= bound)
    a2 = r.a_t**2
    expected_c = 1 - r.h_t * (r.D / (a2 + r.h_t) + (r.d - r.D) / r.h_t) / r.d
    assert r.c_t == pytest.approx(expected_c, rel=1e-14)
    if psi_d == 1:
        assert r.c_t == pytest.approx(math.exp(-2 * 0.4), rel=1e-14)


def test_test_error_splits_along_the_data_subspace():
    r = simulate("tanh", 0.5, 2, 1, 1e-2, m=1, d=50, psi_d=0.3, seeds=2, n_test=2000)
    assert r.D == 15
    parts = r.test_error_parallel.values + r.test_error_orthogonal.values
    np.testing.assert_allclose(parts, r.test_error.values, rtol=1e-13)
    assert np.all(r.test_error_orthogonal.values > 0) and np.all(r.test_error_parallel.values > 0)
    iso = simulate("tanh", 0.5, 2, 1, 1e-2, m=1, d=50, seeds=2, n_test=2000)
    assert np.all(iso.test_error_orthogonal.values == 0)
    assert iso.gamma == 1


def test_relu_is_centred_for_the_pre_activation_variance():
    r = simulate("relu", 0.5, 1, 1, 0.1, m=1, d=20, psi_d=0.5, seeds=1, n_test=10)
    gamma = math.exp(-1) * 0.5 + 1 - math.exp(-1)
    assert r.gamma == pytest.approx(gamma, rel=1e-15)
    assert r.shift == pytest.approx(math.sqrt(gamma / (2 * math.pi)), rel=1e-15)


def test_results_are_reproducible_and_seed_dependent():
    kwargs = dict(t=0.5, psi_n=1, psi_p=1, lam=0.1, m=2, d=20, seeds=2, n_test=100)
    a, b = simulate("tanh", seed=5, **kwargs), simulate("tanh", seed=5, **kwargs)
    c = simulate("tanh", seed=6, **kwargs)
    for key in METRICS:
        np.testing.assert_array_equal(getattr(a, key).values, getattr(b, key).values)
    assert not np.array_equal(a.test_error.values, c.test_error.values)
    assert a.mean["test_error"] == a.test_error.mean
    assert a.stderr["train_error"] == a.train_error.stderr
    one = simulate("tanh", seeds=1, **{k: v for k, v in kwargs.items() if k != "seeds"})
    assert math.isnan(one.test_error.stderr)


def test_sizes_and_proxy_are_recorded():
    r = simulate("erf", 1, 0.5, 1.25, 0.1, m=math.inf, d=40, seeds=1, n_test=10, m_proxy=4)
    assert (r.n, r.p, r.D, r.d) == (20, 50, 40, 40)
    assert r.m == math.inf and r.m_proxy == 4
    finite = simulate("erf", 1, 0.5, 1.25, 0.1, m=2, d=40, seeds=1, n_test=10)
    assert finite.m == 2 and finite.m_proxy is None


def test_user_activation_must_be_centred():
    with pytest.raises(ActivationError, match="not centred"):
        simulate(lambda x: mp.exp(-x * x), 1, 1, 1, 0.1, m=1, d=10, seeds=1, n_test=10)


def test_lam_zero_needs_an_invertible_u():
    with pytest.raises(SimulationError, match="n\\*m = 20 training inputs < p = 40"):
        simulate("tanh", 1, 1, 2, 0, m=1, d=20, seeds=1, n_test=10)
    # linear features span only d directions: U is singular when p > d
    with pytest.raises(SimulationError, match="singular"):
        simulate("poly:1", 1, 4, 2, 0, m=1, d=20, seeds=1, n_test=10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"t": 0},
        {"t": -1},
        {"t": float("nan")},
        {"psi_n": 0},
        {"psi_p": -1},
        {"psi_d": 0},
        {"psi_d": 1.2},
        {"lam": -0.1},
        {"lam": float("inf")},
        {"m": 0},
        {"m": 1.5},
        {"m": "many"},
        {"m": True},
        {"m": -math.inf},
        {"d": 1},
        {"d": 10.0},
        {"psi_n": 0.01},
        {"seeds": 0},
        {"n_test": 1},
        {"m": "inf", "m_proxy": 5},
        {"m": "inf", "m_proxy": 0},
        {"train_error": "exact"},
        {"chunk_entries": 0},
    ],
)
def test_invalid_inputs(kwargs):
    base = dict(t=1, psi_n=1, psi_p=1, lam=0.1, m=1, d=10, seeds=1, n_test=10)
    base.update(kwargs)
    with pytest.raises(SimulationError):
        simulate("tanh", **base)
    assert issubclass(SimulationError, ValueError)


@pytest.mark.slow
def test_memorisation_grows_with_m_for_wide_models():
    # MODEL.md §6: tanh, t = 0.1, λ = 1e-3, ψ_n = 2: at ψ_p = 8 ψ_n the test error is higher at
    # m = ∞ than at m = 1, and at ψ_p = ψ_n / 8 it is lower.
    common = dict(t=0.1, psi_n=2, lam=1e-3, d=100, seeds=2, n_test=5000)
    wide = [simulate("tanh", psi_p=16, m=m, **common).test_error for m in (1, "inf")]
    narrow = [simulate("tanh", psi_p=0.25, m=m, **common).test_error for m in (1, "inf")]
    assert wide[1].mean - wide[0].mean > 4 * math.hypot(wide[0].stderr, wide[1].stderr)
    assert narrow[0].mean - narrow[1].mean > 4 * math.hypot(narrow[0].stderr, narrow[1].stderr)
