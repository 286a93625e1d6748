"""Gaussian-equivalence constants against closed forms, Monte Carlo and limits."""

import dataclasses
import math
import time
from fractions import Fraction

import numpy as np
import pytest
from flint import arb, ctx
from mpmath import mp

from derivations.dsm import cache, equivalence
from derivations.dsm.activations import Activation, ActivationError
from derivations.dsm.equivalence import (
    EquivalenceError,
    QuadratureError,
    gaussian_equivalence,
)


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """Every test computes its constants: an empty cache, on disk in ``tmp_path`` (see test_dsm_cache.py)."""
    monkeypatch.setenv(cache.ENVIRONMENT, str(tmp_path / "cache"))
    monkeypatch.setattr(equivalence, "_MEMORY", {})


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


def _ball(x):
    """Exact ball of an mpmath number."""
    return equivalence._arb_from_mpf(mp.mpf(x))


def assert_digits(result, reference, digits):
    """Midpoints right to ``digits`` digits; proven balls contain the reference.

    The reference is computed at the caller's mpmath precision (>= 60
    digits), whose own error is covered by a relative 1e-55.
    """
    mu1, mu_star_sq, kappa = reference
    tol = mp.mpf(10) ** -digits
    pairs = [
        ("mu1", mu1),
        ("mu_star_sq", mu_star_sq),
        ("kappa", kappa),
        ("one_minus_kappa", 1 - kappa),
    ]
    for name, value in pairs:
        mid = result.to_mpmath(name)
        assert abs(mid - value) <= tol * abs(value), name
        if result.certified:
            with ctx.workprec(600):
                wide = _ball(value) + arb(0, abs(_ball(value)) * arb(10) ** -55)
                assert getattr(result, name).overlaps(wide), name


@pytest.mark.parametrize("t", ["0.1", "1"])
def test_erf_50_digits(t):
    result = gaussian_equivalence("erf", t, dps=50)
    with mp.workdps(80):
        assert_digits(result, erf_closed_form(mp.mpf(t), 1), 45)
    assert result.error < 1e-53
    assert result.gamma == 1 and not result.degenerate and result.certified


@pytest.mark.parametrize("t", ["0.1", "2"])
def test_relu_50_digits(t):
    result = gaussian_equivalence("relu", t, dps=50)
    with mp.workdps(80):
        assert_digits(result, relu_closed_form(mp.mpf(t), 1), 45)
        assert abs(result.to_mpmath("shift") - 1 / mp.sqrt(2 * mp.pi)) < mp.mpf(10) ** -48


def test_odd_polynomial_50_digits():
    coeffs = [Fraction(1), Fraction(1, 2), Fraction(-1, 10)]
    result = gaussian_equivalence("poly:1,0.5,-0.1", "0.3", dps=50)
    with mp.workdps(80):
        assert_digits(result, polynomial_closed_form(coeffs, mp.mpf("0.3"), 1), 45)


def test_cubic_kappa_is_rho_cubed():
    result = gaussian_equivalence("poly:1,0.5", "0.1", dps=30)
    assert result.mu1 == arb("2.5")  # exact
    assert result.mu_star_sq == arb("1.5")
    with ctx.workprec(200):
        assert result.kappa.overlaps((-arb("0.6")).exp())
        assert result.kappa.rad() < arb(10) ** -33


@pytest.mark.parametrize(
    "spec, closed_form",
    [("erf", erf_closed_form), ("relu", relu_closed_form)],
)
def test_structured_data(spec, closed_form):
    result = gaussian_equivalence(spec, "0.5", "0.3", dps=30)
    with mp.workdps(60):
        t, psi = mp.mpf("0.5"), mp.mpf("0.3")
        gamma = mp.exp(-2 * t) * psi + 1 - mp.exp(-2 * t)
        assert abs(result.to_mpmath("gamma") - gamma) < mp.mpf(10) ** -40
        assert_digits(result, closed_form(t, psi), 30)
        if spec == "relu":
            assert abs(result.to_mpmath("shift") - mp.sqrt(gamma / (2 * mp.pi))) < mp.mpf(10) ** -32


@pytest.mark.slow
def test_generic_nested_quadrature_path():
    # erf given as a plain function: no closed-form inner expectation
    user = Activation.from_callable(lambda x: mp.erf(x), name="my_erf", odd=True)
    result = gaussian_equivalence(user, "0.5", dps=15)
    assert result.activation == "my_erf"
    assert not result.certified and result.error_kind == "estimate"
    assert "estimate" in result.note and "my_erf" in result.note
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
        assert result.kappa < arb(10) ** -30
        assert_digits(result, reference, 32)


def test_kappa_limits_and_monotonicity():
    kappas = [gaussian_equivalence("tanh", t, dps=15).kappa for t in ("0.001", "0.1", "1", "4")]
    assert kappas[0] > 0.99
    assert all(x > y for x, y in zip(kappas, kappas[1:]))
    # odd activation: κ ~ (E[ϱ He3]² / 6 μ*²) e^{-6t} as t → ∞
    assert 0 < kappas[-1] < math.exp(-24)
    assert all(0 < k < 1 for k in kappas)


def _within(samples, value, sigmas=5):
    """The Monte Carlo mean of ``samples`` is within ``sigmas`` standard errors of ``value``."""
    error = np.std(samples) / math.sqrt(samples.size)
    return abs(np.mean(samples) - value) < sigmas * error


@pytest.mark.parametrize("psi_d", [1.0, 0.4])
def test_tanh_against_monte_carlo(psi_d):
    t = 0.3
    result = gaussian_equivalence("tanh", t, psi_d, dps=20)
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
    assert result.one_minus_kappa == 0 and result.mu1 == 2  # exact balls
    assert result.certified


def test_float_times_are_read_as_decimals():
    a = gaussian_equivalence("erf", 0.1, dps=20, cache=False)
    b = gaussian_equivalence("erf", "0.1", dps=20, cache=False)
    c = gaussian_equivalence("erf", Fraction(1, 10), dps=20, cache=False)
    assert a.t == b.t == c.t == Fraction(1, 10)
    assert a.kappa.mid().man_exp() == b.kappa.mid().man_exp() == c.kappa.mid().man_exp()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"t": 0},
        {"t": -1},
        {"t": "abc"},
        {"t": float("inf")},
        {"t": 1, "data": 0},
        {"t": 1, "data": "-1.5"},
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
        gaussian_equivalence(_user_erf(), 1, dps=20)


def _user_erf():
    """erf as a user activation (estimate path), with its closed-form smoothing for speed."""
    return Activation.from_callable(
        lambda x: mp.erf(x),
        name="user_erf",
        odd=True,
        gaussian_mean=lambda m, sigma: mp.erf(m / mp.sqrt(1 + 2 * sigma * sigma)),
    )


def test_user_activation_is_an_estimate():
    result = gaussian_equivalence(_user_erf(), "0.5", "0.5", dps=20)
    assert (result.certified, result.error_kind) == (False, "estimate")
    assert "estimate" in result.note and "no bound" in result.note
    with mp.workdps(60):
        assert_digits(result, erf_closed_form(mp.mpf("0.5"), mp.mpf("0.5")), 19)
    # the radius is the difference of the two runs: small, but not a bound
    assert 0 < result.error < 1e-15


# ---------------------------------------------------------------------------
# Proven enclosures (issue 7, item 2) and independence of global precision
# ---------------------------------------------------------------------------

#: tanh constants from an independent route (not the code under test): nested
#: flint ``acb.integral`` on [-L, L] (outer integrand evaluated with complex
#: balls u, inner integral over v for each u; tails bounded with |tanh| <= 1
#: on |Im| <= pi/4), at about 50 digits; see ``_nested_tanh`` below, which
#: reproduces one entry in a slow test. Keys (t, psi_d); values
#: (mu1, mu_star_sq, kappa, 1 - kappa).
TANH_REFERENCE = {
    ("1/100", "1"): (
        "[0.60570550960215882558354022755588043942620925057769 +/- 4.91e-51]",
        "[0.027415326035430257156023610108550364691116893632254 +/- 2.30e-52]",
        "[0.93166050301046620784574576576098558090657795476468 +/- 3.79e-51]",
        "[0.068339496989533792154254234239014419093422045235316 +/- 2.17e-52]",
    ),
    ("1/100", "1/2"): (
        "[0.72313262140588404538050057603547805442439657364372 +/- 4.49e-51]",
        "[0.010229721843105249178161183735435417310860730732395 +/- 4.66e-52]",
        "[0.87861024027242546578239393290512045796244665695496 +/- 4.01e-52]",
        "[0.12138975972757453421760606709487954203755334304504 +/- 4.01e-52]",
    ),
    ("1/10", "1"): (
        "[0.60570550960215882558354022755588043942620925057769 +/- 4.91e-51]",
        "[0.027415326035430257156023610108550364691116893632254 +/- 2.30e-52]",
        "[0.50488014333047319772017411671947020253867967522710 +/- 2.03e-52]",
        "[0.49511985666952680227982588328052979746132032477290 +/- 2.03e-52]",
    ),
    ("1/10", "1/2"): (
        "[0.69870332384475588106319455426263665904171660169784 +/- 3.01e-51]",
        "[0.012956924150357866931675040655545154090685849836585 +/- 7.25e-53]",
        "[0.30788826177689872944601711158164914751762866279350 +/- 3.11e-51]",
        "[0.69211173822310127055398288841835085248237133720650 +/- 3.11e-51]",
    ),
    ("1", "1"): (
        "[0.60570550960215882558354022755588043942620925057769 +/- 4.91e-51]",
        "[0.027415326035430257156023610108550364691116893632254 +/- 2.30e-52]",
        "[0.0019986730441690908943843139914958443528086335755582 +/- 4.83e-54]",
        "[0.99800132695583090910561568600850415564719136642444 +/- 1.81e-51]",
    ),
    ("1", "1/2"): (
        "[0.61841450745546111591224596577541787160700760099102 +/- 3.45e-51]",
        "[0.025027565742044101005663739076240365851852718819592 +/- 2.63e-52]",
        "[0.00031110642237612225936535392066067990187859311515383 +/- 7.10e-55]",
        "[0.99968889357762387774063464607933932009812140688485 +/- 3.83e-51]",
    ),
}

SHIPPED = ["tanh", "erf", "relu", "poly:1,0.5", "poly:1,0.5,-0.1"]
NAMES = ("mu1", "mu_star_sq", "kappa", "one_minus_kappa")


def _references(spec, t, psi_d):
    """Reference balls (mu1, mu_star_sq, kappa, 1 - kappa) at 600 bits."""
    if spec == "tanh":
        return [arb(x) for x in TANH_REFERENCE[(t, psi_d)]]
    with mp.workdps(110):
        tt, psi = (mp.mpf(Fraction(x).numerator) / Fraction(x).denominator for x in (t, psi_d))
        if spec == "erf":
            mu1, mss, kappa = erf_closed_form(tt, psi)
        elif spec == "relu":
            mu1, mss, kappa = relu_closed_form(tt, psi)
        else:
            coeffs = [Fraction(c) for c in spec[5:].split(",")]
            coeffs += [Fraction(0)] * (3 - len(coeffs))
            mu1, mss, kappa = polynomial_closed_form(coeffs, tt, psi)
        values = [mu1, mss, kappa, 1 - kappa]
        return [_ball(v) + arb(0, abs(_ball(v)) * arb(10) ** -100) for v in values]


@pytest.mark.parametrize("psi_d", ["1", "1/2"])
@pytest.mark.parametrize("t", ["1/100", "1/10", "1"])
@pytest.mark.parametrize("spec", SHIPPED)
def test_proven_balls_contain_independent_values(spec, t, psi_d):
    with ctx.workprec(600):
        references = _references(spec, t, psi_d)
    for dps in (30, 60):
        result = gaussian_equivalence(spec, t, psi_d, dps=dps)
        assert (result.certified, result.error_kind) == (True, "proven")
        with ctx.workprec(600):
            for name, reference in zip(NAMES, references):
                ball = getattr(result, name)
                assert ball.overlaps(reference), (name, ball, reference)
                assert ball.rad() <= abs(ball.mid()) * arb(10) ** -(dps + 3), name
            assert (result.mu_star * result.mu_star).overlaps(result.mu_star_sq)
            assert result.mu_star.rad() <= result.mu_star.mid() * arb(10) ** -(dps + 3)
            for name in ("a_t", "h_t", "gamma", "shift"):
                ball = getattr(result, name)
                assert ball.rad() <= abs(ball.mid()) * arb(10) ** -(dps + 3), name
        assert result.error <= 10.0 ** -(dps + 3)


def test_a_ball_that_misses_is_detected():
    """The containment check above can fail: a perturbed κ (1e-31) leaves the reference."""
    result = gaussian_equivalence("erf", "1/10", "1/2", dps=30)
    with ctx.workprec(600):
        reference = _references("erf", "1/10", "1/2")[2]
        assert result.kappa.overlaps(reference)
        assert not (result.kappa * (1 + arb(10) ** -31)).overlaps(reference)


def _snapshot(result):
    return [
        (getattr(result, n).mid().man_exp(), getattr(result, n).rad().man_exp())
        for n in result.FIELDS
    ]


@pytest.mark.parametrize("spec", SHIPPED + ["user"])
def test_balls_do_not_depend_on_global_precision(spec):
    activation = _user_erf() if spec == "user" else spec
    snapshots = []
    saved_dps, saved_prec = mp.dps, ctx.prec
    try:
        for digits, bits in ((5, 20), (80, 300), (5, 300), (80, 20)):
            mp.dps, ctx.prec = digits, bits
            dps = 20 if spec == "user" else 30
            result = gaussian_equivalence(activation, "1/10", "1/2", dps=dps, cache=False)
            assert (mp.dps, ctx.prec) == (digits, bits)  # restored
            snapshots.append(_snapshot(result))
    finally:
        mp.dps, ctx.prec = saved_dps, saved_prec
    assert all(s == snapshots[0] for s in snapshots[1:])


def test_one_minus_kappa_keeps_relative_accuracy_at_small_t():
    t = "1/10000"  # 1 - κ ~ 1e-2 (ReLU, tanh): no digits lost to the cancellation
    with ctx.workprec(600):
        reference = _references("relu", t, "1")[3]
    for spec in ("relu", "tanh", "erf", "poly:1,0.5"):
        result = gaussian_equivalence(spec, t, dps=30)
        omk = result.one_minus_kappa
        assert omk.rad() <= omk.mid() * arb(10) ** -33, spec
        with ctx.workprec(600):
            assert (omk + result.kappa).overlaps(arb(1))
            if spec == "relu":
                assert omk.overlaps(reference)


def test_mu_star_is_a_stored_ball():
    names = {f.name for f in dataclasses.fields(equivalence.GaussianEquivalence)}
    assert {"mu_star", "one_minus_kappa", "certified", "error_kind", "note"} <= names
    result = gaussian_equivalence("relu", 1, dps=30)
    with ctx.workprec(300):
        exact = (arb(1) / 4 - 1 / (2 * arb.pi())).sqrt()
        assert result.mu_star.overlaps(exact)
    assert isinstance(result.mu_star, arb) and result.mu_star.rad() < 1e-33


def test_errors_are_pencils_errors():
    from pencils import PencilsError

    assert issubclass(EquivalenceError, PencilsError) and issubclass(EquivalenceError, ValueError)
    assert issubclass(ActivationError, PencilsError)
    assert issubclass(QuadratureError, PencilsError)


def test_tanh_call_is_fast():
    start = time.perf_counter()
    for t in ("0.01", "0.1", "1"):
        gaussian_equivalence("tanh", t, dps=30)
    assert time.perf_counter() - start < 6


def _nested_tanh(dps, t, psi_d):
    """tanh's κ by nested acb.integral: the independent route of TANH_REFERENCE."""
    from flint import acb, fmpq

    bits = int(dps * 3.33) + 40
    with ctx.workprec(bits):
        tt = arb(fmpq(Fraction(t).numerator, Fraction(t).denominator))
        psi = arb(fmpq(Fraction(psi_d).numerator, Fraction(psi_d).denominator))
        a, h = (-tt).exp(), 1 - (-2 * tt).exp()
        gamma, c, rh = a * a * psi + h, a * psi.sqrt(), h.sqrt()
        rg, big_l = gamma.sqrt(), arb(int(((bits + 10) * 0.6931 * 2) ** 0.5) + 2)
        norm, quarter = (2 * arb.pi()).sqrt(), arb.pi() / 4
        tail = (big_l / arb(2).sqrt()).erfc()

        def integral(f):
            return acb.integral(lambda x, _: f(x) * (-x * x / 2).exp(), 0, big_l).real * 2 / norm

        mu1 = (integral(lambda x: x * (rg * x).tanh()) + arb(0, 1e-40)) / rg
        mss = integral(lambda x: (rg * x).tanh() ** 2) + arb(0, tail.abs_upper()) - gamma * mu1 * mu1

        def inner(u):
            if u.rad() > arb(2) ** (-bits // 2):
                return acb(arb(0, 1), arb(0, 1))  # |E_v tanh| <= 1 on |Im cu| < pi/4
            value = acb.integral(lambda v, _: (c * u + rh * v).tanh() * (-v * v / 2).exp(), -big_l, big_l)
            return value / norm + acb(arb(0, tail.abs_upper()), arb(0, tail.abs_upper()))

        def outer(u, _):
            if not abs((c * u).imag) < quarter:
                return acb(arb("nan"))
            w = inner(u) - mu1 * c * u
            return w * w * (-u * u / 2).exp()

        b = (mu1 * c).abs_upper()
        outer_tail = (1 + b * b) * tail + 2 * (2 * b + b * b * big_l) * (-big_l * big_l / 2).exp() / norm
        numerator = acb.integral(outer, 0, big_l).real * 2 / norm + arb(0, outer_tail.abs_upper())
        return numerator / mss


@pytest.mark.slow
def test_tanh_reference_table_is_reproducible():
    kappa = _nested_tanh(30, "1", "1")
    with ctx.workprec(300):
        assert kappa.overlaps(arb(TANH_REFERENCE[("1", "1")][2]))
        assert kappa.rad() < 1e-30
