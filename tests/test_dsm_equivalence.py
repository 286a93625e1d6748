"""Gaussian-equivalence constants against closed forms, Monte Carlo and limits."""

import math
from fractions import Fraction

import numpy as np
import pytest
from mpmath import mp

from derivations.dsm import equivalence
from derivations.dsm.activations import Activation, ActivationError
from derivations.dsm.equivalence import (
    EquivalenceError,
    QuadratureError,
    gaussian_equivalence,
)


def _a_h_gamma(t, psi_d):
    a = mp.exp(-t)
    h = 1 - mp.exp(-2 * t)
    return a, h, a * a * psi_d + h


def erf_closed_form(t, psi_d):
    """μ1, μ*², κ of erf: E[erf(g1) erf(g2)] = (2/π) asin(2c/(1+2Γ)) for Var = Γ, Cov = c."""
    a, h, gamma = _a_h_gamma(t, psi_d)
    c = a * a * psi_d
    mu1 = 2 / mp.sqrt(mp.pi * (1 + 2 * gamma))
    mu_star_sq = 2 / mp.pi * mp.asin(2 * gamma / (1 + 2 * gamma)) - gamma * mu1**2
    kappa = (2 / mp.pi * mp.asin(2 * c / (1 + 2 * gamma)) - mu1**2 * c) / mu_star_sq
    return mu1, mu_star_sq, kappa


def relu_closed_form(t, psi_d):
    """Arc-cosine kernel: E[relu(g1) relu(g2)] = Γ/(2π) (sqrt(1-ρ²) + (π - acos ρ) ρ)."""
    a, h, gamma = _a_h_gamma(t, psi_d)
    rho = a * a * psi_d / gamma
    mu1 = mp.mpf(1) / 2
    mu_star_sq = gamma * (mp.mpf(1) / 4 - 1 / (2 * mp.pi))
    cross = gamma / (2 * mp.pi) * (mp.sqrt(1 - rho**2) + (mp.pi - mp.acos(rho)) * rho - 1)
    return mu1, mu_star_sq, (cross - rho * gamma / 4) / mu_star_sq


def polynomial_closed_form(coeffs, t, psi_d):
    """c1 x + c3 x³ + c5 x⁵ through its Hermite components He1, He3, He5.

    With ``A_k = k! b_k²`` (``b_k`` the He_k coefficient): ``μ*² = A3 + A5`` and
    ``κ = (ρ³ A3 + ρ⁵ A5) / (A3 + A5)``.
    """
    c1, c3, c5 = (mp.mpf(c.numerator) / c.denominator for c in coeffs)
    a, h, gamma = _a_h_gamma(t, psi_d)
    rho = a * a * psi_d / gamma
    s = mp.sqrt(gamma)
    b1 = c1 * s + 3 * c3 * s**3 + 15 * c5 * s**5  # x³ = He3 + 3 He1, x⁵ = He5 + 10 He3 + 15 He1
    b3 = c3 * s**3 + 10 * c5 * s**5
    b5 = c5 * s**5
    a3, a5 = 6 * b3**2, 120 * b5**2
    return b1 / s, a3 + a5, (rho**3 * a3 + rho**5 * a5) / (a3 + a5)


def assert_digits(result, reference, digits):
    mu1, mu_star_sq, kappa = reference
    tol = mp.mpf(10) ** -digits
    assert abs(result.mu1 - mu1) <= tol * abs(mu1)
    assert abs(result.mu_star_sq - mu_star_sq) <= tol * mu_star_sq
    assert abs(result.kappa - kappa) <= tol * kappa
    assert abs((1 - result.kappa) - (1 - kappa)) <= tol * (1 - kappa)


@pytest.mark.parametrize("t", ["0.1", "1"])
def test_erf_50_digits(t):
    result = gaussian_equivalence("erf", t, dps=50)
    with mp.workdps(80):
        assert_digits(result, erf_closed_form(mp.mpf(t), 1), 45)
    assert result.error < mp.mpf(10) ** -45
    assert result.gamma == 1 and not result.degenerate


@pytest.mark.parametrize("t", ["0.1", "2"])
def test_relu_50_digits(t):
    result = gaussian_equivalence("relu", t, dps=50)
    with mp.workdps(80):
        assert_digits(result, relu_closed_form(mp.mpf(t), 1), 45)
        assert abs(result.shift - 1 / mp.sqrt(2 * mp.pi)) < mp.mpf(10) ** -48


def test_odd_polynomial_50_digits():
    coeffs = [Fraction(1), Fraction(1, 2), Fraction(-1, 10)]
    result = gaussian_equivalence("poly:1,0.5,-0.1", "0.3", dps=50)
    with mp.workdps(80):
        assert_digits(result, polynomial_closed_form(coeffs, mp.mpf("0.3"), 1), 45)


def test_cubic_kappa_is_rho_cubed():
    result = gaussian_equivalence("poly:1,0.5", "0.1", dps=30)
    with mp.workdps(40):
        assert abs(result.mu1 - mp.mpf("2.5")) < mp.mpf(10) ** -29
        assert abs(result.mu_star_sq - mp.mpf("1.5")) < mp.mpf(10) ** -29
        assert abs(result.kappa - mp.exp(-mp.mpf("0.6"))) < mp.mpf(10) ** -29


@pytest.mark.parametrize(
    "spec, closed_form",
    [("erf", erf_closed_form), ("relu", relu_closed_form)],
)
def test_structured_data(spec, closed_form):
    result = gaussian_equivalence(spec, "0.5", psi_d="0.3", dps=30)
    with mp.workdps(60):
        t, psi = mp.mpf("0.5"), mp.mpf("0.3")
        assert abs(result.gamma - (mp.exp(-2 * t) * psi + 1 - mp.exp(-2 * t))) < mp.mpf(10) ** -40
        assert_digits(result, closed_form(t, psi), 27)
    if spec == "relu":
        with mp.workdps(40):
            assert abs(result.shift - mp.sqrt(result.gamma / (2 * mp.pi))) < mp.mpf(10) ** -29


def test_generic_nested_quadrature_path():
    # erf given as a plain function: no closed-form inner expectation
    user = Activation.from_callable(lambda x: mp.erf(x), name="my_erf", odd=True)
    result = gaussian_equivalence(user, "0.5", dps=15)
    assert result.activation == "my_erf"
    with mp.workdps(40):
        assert_digits(result, erf_closed_form(mp.mpf("0.5"), 1), 14)


@pytest.mark.slow
def test_generic_path_across_a_kink():
    user = Activation.from_callable(lambda x: max(x, 0), kinks=[0], subtract_mean=True)
    result = gaussian_equivalence(user, "0.1", dps=15)
    with mp.workdps(40):
        assert_digits(result, relu_closed_form(mp.mpf("0.1"), 1), 14)


def test_large_t_keeps_relative_precision():
    # κ ~ e^{-80}: the guard digits must absorb the cancellation
    result = gaussian_equivalence("erf", 20, dps=30)
    with mp.workdps(150):
        reference = erf_closed_form(mp.mpf(20), 1)
    assert result.kappa < mp.mpf(10) ** -30
    with mp.workdps(60):
        assert_digits(result, reference, 28)


def test_kappa_limits_and_monotonicity():
    kappas = [gaussian_equivalence("tanh", t, dps=15).kappa for t in ("0.001", "0.1", "1", "4")]
    assert kappas[0] > 0.99
    assert all(x > y for x, y in zip(kappas, kappas[1:]))
    # odd activation: κ ~ (E[ϱ He3]² / 6 μ*²) e^{-6t} as t → ∞
    assert 0 < kappas[-1] < mp.exp(-24)
    assert all(0 < k < 1 for k in kappas)


def _within(samples, value, sigmas=5):
    """The Monte Carlo mean of ``samples`` is within ``sigmas`` standard errors of ``value``."""
    error = np.std(samples) / math.sqrt(samples.size)
    return abs(np.mean(samples) - value) < sigmas * error


@pytest.mark.parametrize("psi_d", [1.0, 0.4])
def test_tanh_against_monte_carlo(psi_d):
    t = 0.3
    result = gaussian_equivalence("tanh", t, psi_d=psi_d, dps=20)
    mu1, gamma = float(result.mu1), float(result.gamma)
    a, h = math.exp(-t), -math.expm1(-2 * t)
    u, v1, v2 = np.random.default_rng(7).standard_normal((3, 2_000_000))
    g1 = a * math.sqrt(psi_d) * u + math.sqrt(h) * v1
    g2 = a * math.sqrt(psi_d) * u + math.sqrt(h) * v2
    residual1, residual2 = np.tanh(g1) - mu1 * g1, np.tanh(g2) - mu1 * g2
    assert _within(g1 * np.tanh(g1) / gamma, mu1)
    assert _within(residual1**2, float(result.mu_star_sq))
    assert _within(residual1 * residual2, float(result.kappa * result.mu_star_sq))


def test_linear_activation_is_degenerate():
    result = gaussian_equivalence("poly:2", 1, dps=20)
    assert result.degenerate
    assert result.mu_star_sq == 0 and result.kappa == 1 and result.mu_star == 0
    assert abs(result.mu1 - 2) < mp.mpf(10) ** -25


def test_float_times_are_read_as_decimals():
    a = gaussian_equivalence("erf", 0.1, dps=20)
    b = gaussian_equivalence("erf", "0.1", dps=20)
    c = gaussian_equivalence("erf", Fraction(1, 10), dps=20)
    assert a.t == b.t == c.t and a.kappa == b.kappa == c.kappa


@pytest.mark.parametrize(
    "kwargs",
    [
        {"t": 0},
        {"t": -1},
        {"t": "abc"},
        {"t": float("inf")},
        {"t": 1, "psi_d": 0},
        {"t": 1, "psi_d": "1.5"},
        {"t": 1, "dps": 14},
        {"t": 1, "dps": 20.0},
        {"t": 1, "dps": True},
    ],
)
def test_invalid_inputs(kwargs):
    with pytest.raises(EquivalenceError):
        gaussian_equivalence("erf", **kwargs)
    assert issubclass(EquivalenceError, ValueError)


def test_non_centred_activation_is_refused():
    with pytest.raises(ActivationError, match="E ϱ"):
        gaussian_equivalence(lambda x: mp.exp(-x * x), 1, dps=15)


def test_disagreeing_runs_raise(monkeypatch):
    original = equivalence._constants

    def perturbed(activation, t, psi_d, dps, digits, target):
        values = original(activation, t, psi_d, dps, digits, target)
        if digits == dps + equivalence._guard_digits(t, psi_d):
            values["kappa"] *= 1 + mp.mpf(10) ** -12
        return values

    monkeypatch.setattr(equivalence, "_constants", perturbed)
    with pytest.raises(QuadratureError, match="relative error"):
        gaussian_equivalence("erf", 1, dps=20)
