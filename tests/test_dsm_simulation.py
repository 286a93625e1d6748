"""Finite-d simulator of the DSM random-features model: exact checks and errors."""

import math

import numpy as np
import pytest
from mpmath import mp

from derivations.dsm import simulation
from derivations.dsm.activations import Activation, ActivationError, get_activation
from derivations.dsm.simulation import MEHLER_TOLERANCE, METRICS, SimulationError, simulate


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


@pytest.mark.parametrize("m_average", ["exact", "proxy"])
def test_linear_noise_averaged_model_against_wishart_average(m_average):
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
    r = simulate("poly:1", t, n / d, 1, 1e-9, m="inf", d=d, seeds=6, n_test=4000,
                 m_average=m_average, m_proxy=m_proxy)
    assert r.m == math.inf and r.m_average == m_average
    # order of the finite-m_proxy OLS excess error; none for the exact average
    proxy_bias = a2 * d / (h * n * m_proxy) if m_average == "proxy" else 0.0

    def stderr(samples, estimate):
        return math.hypot(np.std(samples) / math.sqrt(len(samples)), estimate.stderr)

    for estimate, samples in ((r.test_error, tests), (r.train_error, trains)):
        error = stderr(samples, estimate)
        assert close(estimate.mean, np.mean(samples), error, slack=proxy_bias)


@pytest.mark.parametrize("m, m_average", [(1, "exact"), (4, "exact"), ("inf", "exact"),
                                         ("inf", "proxy")])
def test_train_error_identity_matches_direct_sum(m, m_average):
    kwargs = dict(t=0.3, psi_n=1.5, psi_p=2, lam=0.05, m=m, d=30, psi_d=0.5, seeds=2, n_test=100,
                  m_average=m_average, m_proxy=6, chunk_entries=500)  # several chunks per seed
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


def test_sizes_and_noise_averages_are_recorded():
    args = ("erf", 1, 0.5, 1.25, 0.1)
    r = simulate(*args, m=math.inf, d=40, seeds=2, n_test=10, m_proxy=4)
    assert (r.n, r.p, r.D, r.d) == (20, 50, 40, 40)
    assert r.m == math.inf and r.m_average == "exact" and r.m_proxy is None
    assert r.mehler_order.shape == (2,) and np.all(r.mehler_order >= 1)
    assert np.all(r.mehler_bound <= MEHLER_TOLERANCE)
    proxy = simulate(*args, m="inf", d=40, seeds=1, n_test=10, m_average="proxy", m_proxy=4)
    assert proxy.m_average == "proxy" and proxy.m_proxy == 4 and proxy.mehler_order is None
    finite = simulate(*args, m=2, d=40, seeds=1, n_test=10, m_average="proxy")
    assert finite.m == 2 and finite.m_proxy is None and finite.m_average is None
    assert finite.mehler_bound is None


def test_user_activation_must_be_centred():
    with pytest.raises(ActivationError, match="not centred"):
        simulate(lambda x: mp.exp(-x * x), 1, 1, 1, 0.1, m=1, d=10, seeds=1, n_test=10)


def test_lam_zero_needs_an_invertible_u():
    with pytest.raises(SimulationError, match="n\\*m = 20 training inputs < p = 40"):
        simulate("tanh", 1, 1, 2, 0, m=1, d=20, seeds=1, n_test=10)
    with pytest.raises(SimulationError, match="n\\*m = 40 training inputs < p = 80"):
        simulate("tanh", 1, 1, 4, 0, m="inf", d=20, seeds=1, n_test=10, m_average="proxy",
                 m_proxy=2)
    # linear features span only d directions: U is singular when p > d, even noise-averaged
    with pytest.raises(SimulationError, match="singular"):
        simulate("poly:1", 1, 4, 2, 0, m=1, d=20, seeds=1, n_test=10)
    with pytest.raises(SimulationError, match="singular"):
        simulate("poly:1", 1, 1, 2, 0, m="inf", d=20, seeds=1, n_test=10)
    # the exact noise average of non-linear features has an implicit ridge: p > n is fine
    r = simulate("tanh", 1, 1, 2, 0, m="inf", d=20, seeds=1, n_test=100)
    assert math.isfinite(r.test_error.mean) and 0 < r.train_error.mean < 1


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
        {"m": "inf", "m_average": "proxy", "m_proxy": 5},
        {"m": "inf", "m_average": "proxy", "m_proxy": 0},
        {"m": "inf", "m_average": "mean"},
        {"m_average": None},
        {"mehler_tolerance": 0},
        {"mehler_tolerance": float("nan")},
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


# ---------------------------------------------------------------------------
# The exact noise average (m = ∞)
# ---------------------------------------------------------------------------


def noise_averaged(spec, t, x, w_scaled, big_d=None, tolerance=MEHLER_TOLERANCE):
    """``(U^∞, V^∞, order, bound, act, a, h)`` as the simulator computes them."""
    d = x.shape[1]
    big_d = d if big_d is None else big_d
    a, h = math.exp(-t), -math.expm1(-2 * t)
    act = get_activation(spec).centred(a * a * big_d / d + h)
    u, v, order, bound = simulation._averaged_moments(act, a, h, x, w_scaled, tolerance, 2**20)
    return u, v, order, bound, act, a, h


def draw(d, n, p, big_d=None, seed=0):
    """``Wᵀ/√d`` and data supported on the first ``big_d`` coordinates."""
    rng = np.random.default_rng(seed)
    w_scaled = rng.standard_normal((d, p)) / math.sqrt(d)
    x = np.zeros((n, d))
    big_d = d if big_d is None else big_d
    x[:, :big_d] = rng.standard_normal((n, big_d))
    return w_scaled, x


def test_exact_average_of_linear_features_is_the_closed_form():
    # ϱ(x) = x: U^∞ = W (a² XᵀX/n + h I) Wᵀ/d and V^∞ = W/√d exactly
    d, n, p, t = 30, 20, 50, 0.5
    w_scaled, x = draw(d, n, p)
    u, v, order, bound, _, a, h = noise_averaged("poly:1", t, x, w_scaled)
    expected = w_scaled.T @ (a * a * x.T @ x / n + h * np.eye(d)) @ w_scaled
    np.testing.assert_allclose(u, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(v, w_scaled.T, rtol=0, atol=1e-10)
    assert order == 1 and bound < 1e-14


@pytest.mark.parametrize("spec, t, big_d", [("tanh", 0.3, 12), ("relu", 0.5, 6), ("erf", 1.0, 12)])
def test_exact_average_matches_monte_carlo_over_the_noise(spec, t, big_d):
    # Averages over many noises per point estimate U^∞ and V^∞ without bias: an independent
    # check of the Hermite coefficients, Mehler's formula, the diagonal and Stein's lemma.
    d, n, p, draws = 12, 3, 5, 100_000
    w_scaled, x = draw(d, n, p, big_d, seed=1)
    u, v, _, _, act, a, h = noise_averaged(spec, t, x, w_scaled, big_d)
    rng = np.random.default_rng(2)
    sums = {"u": [np.zeros((p, p)), np.zeros((p, p))], "v": [np.zeros((p, d)), np.zeros((p, d))]}
    for point in x:
        z = rng.standard_normal((draws, d))
        f = act.numpy((a * point + math.sqrt(h) * z) @ w_scaled)
        for key, samples in (("u", f[:, :, None] * f[:, None, :]),
                             ("v", f[:, :, None] * z[:, None, :] / math.sqrt(h))):
            sums[key][0] += samples.mean(axis=0) / n
            sums[key][1] += samples.var(axis=0) / (draws * n * n)
    for exact, (estimate, variance) in ((u, sums["u"]), (v, sums["v"])):
        assert np.all(np.abs(exact - estimate) <= 5 * np.sqrt(variance))


@pytest.mark.parametrize("spec", ["tanh", "relu"])
def test_exact_average_is_the_limit_of_the_proxy(spec):
    # The proxy is the model at finite m = M, biased by O(1/M). With the same W, data and test
    # samples (same seed), the Richardson extrapolation 2 E(2M) - E(M) must agree with the exact
    # average within the noise of the proxies plus 1e-3 for the O(1/M²) left over, while the
    # proxy itself is visibly off.
    kwargs = dict(t=0.3, psi_n=1, psi_p=2, lam=0.01, m="inf", d=40, seeds=6, n_test=5000, seed=11)
    exact = simulate(spec, **kwargs)
    proxies = [simulate(spec, m_average="proxy", m_proxy=draws, **kwargs) for draws in (64, 128)]
    for key in ("train_error", "test_error"):
        reference = getattr(exact, key).values
        coarse, fine = (getattr(r, key).values for r in proxies)
        for gap, tolerance in ((2 * fine - coarse - reference, 1e-3), (coarse - reference, None)):
            stderr = gap.std(ddof=1) / math.sqrt(gap.size)
            if tolerance is None:
                assert abs(gap.mean()) > 4 * stderr
            else:
                assert abs(gap.mean()) <= 4 * stderr + tolerance


def probabilists_hermite(j, v):
    """``He_j(v)`` from the physicists' polynomial, in mpmath."""
    return mp.hermite(j, v / mp.sqrt(2)) / mp.sqrt(2) ** j


def probabilists_hermites(order, v):
    """``[He_0(v), ..., He_order(v)]`` by ``He_{j+1} = v He_j - j He_{j-1}``, in mpmath (unnormalised)."""
    values = [mp.one, v]
    for j in range(1, order):
        values.append(v * values[j] - j * values[j - 1])
    return values[: order + 1]


def test_the_hermite_recurrence_is_the_physicists_polynomial():
    with mp.workdps(30):
        for v in (mp.mpf("-3.7"), mp.mpf("0.25"), mp.mpf(2)):
            values = probabilists_hermites(16, v)
            for j in range(17):
                assert abs(values[j] - probabilists_hermite(j, v)) <= mp.mpf(10) ** -25 * max(1, abs(values[j]))


def test_erf_hermite_coefficients_against_closed_forms():
    # E erf(m + σξ) = erf(m/s) with s = sqrt(1 + 2σ²), so c_j = σ^j ∂_m^j erf(m/s)/sqrt(j!)
    # = (σ/s)^j erf^(j)(m/s)/sqrt(j!), erf^(j)(y) = (2/√π) (-1)^(j-1) H_{j-1}(y) e^{-y²}.
    mean = np.array([[-2.5, -0.3, 0.0, 0.7, 1.9]])
    sigma = np.array([0.1, 0.5, 0.8, 1.0, 1.3])
    order = 20
    act = get_activation("erf")
    coef, second = simulation._hermite_coefficients(act, mean, sigma, order, 2**20)
    with mp.workdps(30):
        for k, (m_k, sigma_k) in enumerate(zip(mean[0], sigma)):
            m_k, sigma_k = mp.mpf(float(m_k)), mp.mpf(float(sigma_k))
            s = mp.sqrt(1 + 2 * sigma_k**2)
            y = m_k / s
            assert coef[0, 0, k] == pytest.approx(float(mp.erf(y)), abs=1e-13)
            first = sigma_k * 2 / mp.sqrt(mp.pi) * mp.exp(-y * y) / s
            assert coef[1, 0, k] == pytest.approx(float(first), abs=1e-13)
            expected = [
                (sigma_k / s) ** j * 2 / mp.sqrt(mp.pi) * (-1) ** (j - 1) * mp.hermite(j - 1, y)
                * mp.exp(-y * y) / mp.sqrt(mp.factorial(j))
                for j in range(2, order + 1)
            ]
            np.testing.assert_allclose(coef[2:, 0, k], [float(e) for e in expected], atol=1e-12)
            moment = mp.quad(lambda v: mp.erf(m_k + sigma_k * v) ** 2 * mp.npdf(v),
                             [-mp.inf, mp.inf])
            assert second[0, k] == pytest.approx(float(moment), abs=1e-12)


def test_relu_hermite_coefficients_against_quadrature():
    # the closed forms of the centred ReLU against mpmath quadrature split at the kink
    act = get_activation("relu").centred(0.8)
    mean = np.array([[-3.0, -0.4, 0.9]])
    sigma = np.array([0.3, 1.2, 0.5])
    order = 16
    coef, second = simulation._hermite_coefficients(act, mean, sigma, order, 2**20)
    with mp.workdps(20):
        for k, (m_k, sigma_k) in enumerate(zip(mean[0], sigma)):
            m_k, sigma_k = mp.mpf(float(m_k)), mp.mpf(float(sigma_k))
            pieces = [-mp.inf, -m_k / sigma_k, mp.inf]

            norm = 1 / mp.sqrt(2 * mp.pi)

            def average(func):
                return mp.quad(lambda v: func(v) * mp.exp(-v * v / 2) * norm, pieces)

            def centred(v):
                return max(m_k + sigma_k * v, 0) - act.shift

            expected = [
                average(lambda v: centred(v) * probabilists_hermites(j, v)[j])
                / mp.sqrt(mp.factorial(j))
                for j in range(order + 1)
            ]
            np.testing.assert_allclose(coef[:, 0, k], [float(e) for e in expected], atol=1e-13)
            moment = average(lambda v: centred(v) ** 2)
            assert second[0, k] == pytest.approx(float(moment), abs=1e-13)


def test_mehler_series_against_two_dimensional_quadrature():
    # E_z[ϱ(u_ik) ϱ(u_il)] with ξ_l = ρ ξ_k + sqrt(1 - ρ²) η: a tensor Gauss–Hermite rule
    # in (ξ_k, η). At d = 6 the correlations are large and the Mehler order high.
    d, n, p, t = 6, 3, 4, 0.2
    w_scaled, x = draw(d, n, p, seed=3)
    u, _, order, _, act, a, h = noise_averaged("tanh", t, x, w_scaled, tolerance=1e-13)
    nodes, weights = np.polynomial.hermite_e.hermegauss(160)
    weights /= math.sqrt(2 * math.pi)
    norms = np.linalg.norm(w_scaled, axis=0)
    sigma = math.sqrt(h) * norms
    rho = w_scaled.T @ w_scaled / np.outer(norms, norms)
    mean = a * x @ w_scaled
    assert order > 20 and np.abs(rho - np.eye(p)).max() > 0.5
    for k in range(p):
        second = np.mean(act.numpy(mean[:, k, None] + sigma[k] * nodes) ** 2 @ weights)
        assert u[k, k] == pytest.approx(second, abs=1e-12)
        for l in range(k + 1, p):
            xi_l = rho[k, l] * nodes[:, None] + math.sqrt(1 - rho[k, l] ** 2) * nodes
            expected = np.mean([
                weights @ (act.numpy(mean[i, k] + sigma[k] * nodes)[:, None]
                           * act.numpy(mean[i, l] + sigma[l] * xi_l)) @ weights
                for i in range(n)
            ])
            assert u[k, l] == pytest.approx(expected, abs=1e-11)
            assert u[l, k] == u[k, l]
    # the default tolerance stops earlier, within its bound on the operator norm
    coarse, _, coarse_order, bound, *_ = noise_averaged("tanh", t, x, w_scaled)
    assert coarse_order < order and bound <= MEHLER_TOLERANCE
    assert np.linalg.norm(coarse - u, 2) <= bound + 1e-13


def test_exact_average_needs_a_smooth_activation_or_relu():
    relu = Activation.from_callable(lambda x: max(x, 0), numpy_func=lambda x: np.maximum(x, 0.0),
                                    name="my_relu", kinks=[0], subtract_mean=True)
    args = (1, 1, 1, 0.1)
    with pytest.raises(SimulationError, match="kinks"):
        simulate(relu, *args, m="inf", d=20, seeds=1, n_test=10)
    proxy = simulate(relu, *args, m="inf", d=20, seeds=1, n_test=10, m_average="proxy", m_proxy=4)
    assert math.isfinite(proxy.test_error.mean)
    # an undeclared kink (of ϱ'') stalls the trapezoidal rule, which refuses to answer
    signed_square = Activation.from_callable(
        lambda x: x * abs(x), numpy_func=lambda x: x * np.abs(x), name="x|x|", odd=True
    )
    with pytest.raises(SimulationError, match="not converged"):
        simulate(signed_square, *args, m="inf", d=20, seeds=1, n_test=10)


def test_mehler_series_out_of_reach_raises():
    # d = 2: features nearly parallel (|ρ| -> 1) and slowly decaying ReLU coefficients
    with pytest.raises(SimulationError, match="Mehler series"):
        simulate("relu", 1, 4, 20, 0.1, m="inf", d=2, seeds=1, n_test=10)
    r = simulate("relu", 1, 4, 20, 0.1, m="inf", d=2, seeds=1, n_test=10, mehler_tolerance=0.5)
    assert r.mehler_bound[0] <= 0.5


@pytest.mark.slow
def test_memorisation_grows_with_m_for_wide_models():
    # MODEL.md §6: tanh, t = 0.1, λ = 1e-3, ψ_n = 2: at ψ_p = 8 ψ_n the test error is higher at
    # m = ∞ than at m = 1, and at ψ_p = ψ_n / 8 it is lower.
    common = dict(t=0.1, psi_n=2, lam=1e-3, d=100, seeds=2, n_test=5000)
    wide = [simulate("tanh", psi_p=16, m=m, **common).test_error for m in (1, "inf")]
    narrow = [simulate("tanh", psi_p=0.25, m=m, **common).test_error for m in (1, "inf")]
    assert wide[1].mean - wide[0].mean > 4 * math.hypot(wide[0].stderr, wide[1].stderr)
    assert narrow[0].mean - narrow[1].mean > 4 * math.hypot(narrow[0].stderr, narrow[1].stderr)


def test_fresh_noise_loss():
    # a huge ridge learns nothing: s = 0 and the loss is E|z|^2/d = 1 (up to the draws' error, d = 30, n = 60);
    # with the exact noise average the fresh-noise loss is the train error itself
    r = simulate("tanh", t=0.5, psi_n=2, psi_p=1, lam=1e8, m=2, d=30, seeds=2, n_test=200)
    assert abs(r.fresh_train_error.mean - 1) < 0.02
    r = simulate("tanh", t=0.5, psi_n=2, psi_p=1, lam=0.1, m=math.inf, d=30, seeds=2, n_test=200)
    assert np.array_equal(r.fresh_train_error.values, r.train_error.values)
