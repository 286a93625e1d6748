"""Activations of the DSM model: evaluations, centring, registry, Gaussian integrals."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpmath import mp

from derivations.dsm.activations import (
    Activation,
    ActivationError,
    QuadratureError,
    erf,
    exact_fraction,
    gaussian_expectation,
    get_activation,
    odd_polynomial,
    relu_centred,
    tanh,
)


def test_numpy_erf_matches_math_erf_to_rounding():
    x = np.concatenate([np.linspace(-7, 7, 100001), np.random.default_rng(0).normal(0, 3, 50000)])
    reference = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(erf.numpy(x) - reference)) <= 3e-16


def test_numpy_erf_special_values_and_shapes():
    values = erf.numpy(np.array([np.nan, np.inf, -np.inf, 0.0, 1e-300, 6.5, -6.5]))
    assert np.isnan(values[0])
    assert list(values[1:3]) == [1.0, -1.0]
    assert values[3] == 0.0 and values[4] == pytest.approx(2 / math.sqrt(math.pi) * 1e-300)
    assert list(values[5:]) == [1.0, -1.0]
    assert erf.numpy(np.zeros((2, 3))).shape == (2, 3)
    assert erf.numpy(0.5).shape == ()


@pytest.mark.parametrize("spec", ["tanh", "erf", "relu", "poly:1,0.5,-0.25"])
def test_numpy_and_mpmath_evaluations_agree(spec):
    act = get_activation(spec).centred(1)
    x = np.random.default_rng(1).normal(0, 2, 200)
    with mp.workdps(30):
        reference = np.array([float(act.mpmath(mp.mpf(v))) for v in x])
    np.testing.assert_allclose(act.numpy(x), reference, rtol=1e-14, atol=1e-15)


def test_odd_polynomial_keeps_exact_coefficients():
    act = odd_polynomial(["0.1", Fraction(1, 3), 0.25])
    assert act.name == "poly:1/10,1/3,1/4"
    with mp.workdps(50):
        x = mp.mpf(3)
        exact = mp.mpf(3) / 10 + mp.mpf(27) / 3 + mp.mpf(243) / 4
        assert abs(act.mpmath(x) - exact) < mp.mpf(10) ** -48
    assert act.odd and act.mean(2) == 0


def test_exact_fraction_reads_decimals():
    assert exact_fraction(0.1) == Fraction(1, 10)
    assert exact_fraction("1e-3") == Fraction(1, 1000)
    assert exact_fraction(mp.mpf(-0.375)) == Fraction(-3, 8)
    for bad in ("abc", float("nan"), "inf", True, None):
        with pytest.raises(ValueError):
            exact_fraction(bad)


def test_registry_names_and_errors():
    assert get_activation("tanh") is tanh
    assert get_activation(" ERF ") is erf
    assert get_activation("relu") is relu_centred
    assert get_activation(tanh) is tanh
    assert get_activation("poly:1,0.5").name == "poly:1,1/2"
    with pytest.raises(ActivationError, match="unknown activation 'softplus'"):
        get_activation("softplus")
    for bad in ("poly:", "poly:1,x", "poly:0,0"):
        with pytest.raises(ActivationError):
            get_activation(bad)
    with pytest.raises(ActivationError):
        get_activation(3)
    assert issubclass(ActivationError, ValueError)


def test_user_callable_is_wrapped_with_a_numpy_version():
    act = get_activation(lambda x: mp.sin(x))
    np.testing.assert_allclose(act.numpy(np.array([0.5, -1.0])), np.sin([0.5, -1.0]), rtol=1e-15)
    with mp.workdps(30):
        assert abs(act.mpmath(mp.mpf(1)) - mp.sin(1)) < mp.mpf(10) ** -29
        assert abs(act.centred(1).mean(1)) < mp.mpf(10) ** -25


@pytest.mark.parametrize("gamma", ["1", "0.3"])
def test_relu_is_centred_for_the_gamma_in_use(gamma):
    with mp.workdps(40):
        g = mp.mpf(gamma)
        act = relu_centred.centred(g)
        assert abs(act.shift - mp.sqrt(g / (2 * mp.pi))) < mp.mpf(10) ** -38
        assert act.gamma == g
        quadrature = gaussian_expectation(lambda x: act.mpmath(mp.sqrt(g) * x), kinks=[0])
        assert abs(quadrature) < mp.mpf(10) ** -35
    assert act.numpy(np.array([0.0]))[0] == -float(act.shift)
    assert act.centred(2).shift != act.shift  # re-centred from the raw function


def test_non_centred_activation_reports_the_mean():
    raw = Activation.from_callable(lambda x: mp.exp(-x * x), name="bump")
    with pytest.raises(ActivationError, match=r"E ϱ\(g\) = 0\.57735026918962"):
        raw.centred(1)  # E exp(-g²) = 1/sqrt(3)
    shifted = Activation.from_callable(lambda x: mp.exp(-x * x), subtract_mean=True)
    with mp.workdps(30):
        assert abs(shifted.centred(1).shift - 1 / mp.sqrt(3)) < mp.mpf(10) ** -28
    with pytest.raises(ActivationError, match="variance"):
        tanh.centred(0)


def test_gaussian_expectation_moments_and_kinks():
    with mp.workdps(45):
        assert abs(gaussian_expectation(lambda x: x**6) - 15) < mp.mpf(10) ** -40
        assert abs(gaussian_expectation(lambda x: x**4, even=True) - 3) < mp.mpf(10) ** -40
        assert abs(gaussian_expectation(mp.cos) - mp.exp(-0.5)) < mp.mpf(10) ** -40
        e_abs = gaussian_expectation(abs, kinks=[0])
        assert abs(e_abs - mp.sqrt(2 / mp.pi)) < mp.mpf(10) ** -40


def test_gaussian_expectation_refuses_a_non_decaying_integrand():
    with pytest.raises(QuadratureError, match="decay"):
        gaussian_expectation(lambda x: mp.exp(x * x / 2))


@pytest.mark.parametrize(
    "act, func",
    [(relu_centred, lambda x: max(x, 0)), (erf, mp.erf)],
    ids=["relu", "erf"],
)
@pytest.mark.parametrize("m, sigma", [("0.3", "0.8"), ("-1.2", "0.05"), ("2", "1")])
def test_closed_form_smoothing_matches_quadrature(act, func, m, sigma):
    with mp.workdps(35):
        m, sigma = mp.mpf(m), mp.mpf(sigma)
        closed = act.smoothed(m, sigma)
        kinks = [(-m / sigma)] if act.kinks else []
        numeric = gaussian_expectation(lambda v: func(m + sigma * v), kinks)
        assert abs(closed - numeric) < mp.mpf(10) ** -30


@settings(max_examples=15, deadline=None)
@given(
    coeffs=st.lists(st.integers(-5, 5), min_size=1, max_size=3).filter(any),
    m=st.floats(-2, 2),
    sigma=st.floats(0.05, 1.5),
)
def test_polynomial_smoothing_closed_form(coeffs, m, sigma):
    act = odd_polynomial(coeffs)
    with mp.workdps(30):
        closed = act.smoothed(m, sigma)
        numeric = gaussian_expectation(lambda v: act.mp_func(m + sigma * v))
        assert abs(closed - numeric) <= mp.mpf(10) ** -24 * (1 + abs(numeric))


def test_shipped_activations_declare_their_family():
    # the family selects the proven route in gaussian_equivalence; user functions have none
    assert [get_activation(n).family for n in ("tanh", "erf", "relu")] == ["tanh", "erf", "relu"]
    poly = get_activation("poly:1,0.5,-0.1")
    assert poly.family == "poly"
    assert poly.coefficients == (Fraction(1), Fraction(1, 2), Fraction(-1, 10))
    assert Activation.from_callable(lambda x: x, name="lin").family is None
    assert get_activation("relu").centred(1).family == "relu"


def test_exact_fraction_keeps_every_bit_of_an_mpf_at_low_global_precision():
    with mp.workdps(50):
        third = mp.mpf(1) / 3
    saved = mp.dps
    try:
        mp.dps = 5
        value = exact_fraction(third)
    finally:
        mp.dps = saved
    assert abs(value - Fraction(1, 3)) < Fraction(1, 10**49)
