"""Certificates against rigorous closed forms, what is proven, and certificates that must fail.

The expected values are roots of the textbook polynomials (Marchenko-Pastur, semicircle, product of
two Wishart factors, ridge) isolated by python-flint's ``acb_poly.roots`` from the exact coefficients:
rigorous balls computed without pencils. The physical root is chosen by the Stieltjes rule, not by
looking at the solution.
"""

from fractions import Fraction

import flint
import mpmath
import pytest
from flint import acb, acb_poly, arb, fmpq

from pencils import DysonSystem, Pencil, GaussianMatrix, ratio, solve
from pencils.solver.certificate import certify
from pencils.solver.compiled import compile_system

DPS = 50


def exact(text):
    """An exact complex ball from a decimal text such as "0.8+0.5j" (real and imaginary parts)."""
    text = text.replace(" ", "")
    if text.endswith("j"):
        split = max(text.rfind("+"), text.rfind("-"))
        re, im = (text[:split] or "0"), text[split:-1]
    else:
        re, im = text, "0"
    parts = [Fraction(x) for x in (re, im)]
    return acb(arb(fmpq(parts[0].numerator, parts[0].denominator)), arb(fmpq(parts[1].numerator, parts[1].denominator)))


def marchenko_pastur(p):
    return [p["z"], -(p["z"] + 1 - p["psi"]), 1]


def semicircle(p):
    return [p["s"] ** 2, -p["z"], 1]


def wishart_product(p):
    z, phi, psi = p["z"], p["phi"], p["psi"]
    return [z ** 2, z * (phi + psi - 2), phi * psi - phi - psi + 1 - z, 1]


def ridge(p):
    return [p["lam"], p["lam"] + p["psi"] - 1, -1]


CASES = [
    ("marchenko_pastur", {"z": "0.3+0.7j", "psi": "0.5"}, marchenko_pastur),
    ("marchenko_pastur", {"z": "-0.25", "psi": "3"}, marchenko_pastur),
    ("marchenko_pastur", {"z": "-1", "psi": "0.5"}, marchenko_pastur),
    ("semicircle", {"z": "1.5+0.01j", "s": "1"}, semicircle),
    ("semicircle", {"z": "-2.5", "s": "1.2"}, semicircle),
    ("wishart_product", {"z": "0.8+0.5j", "phi": "0.5", "psi": "2"}, wishart_product),
    ("wishart_product", {"z": "-0.5", "phi": "1.5", "psi": "0.75"}, wishart_product),
    ("ridge", {"lam": "0.001", "psi": "0.75"}, ridge),
    ("ridge", {"lam": "0.5", "psi": "3"}, ridge),
]


def physical(roots, spectral):
    """The Stieltjes root: Im g < 0 for Im z > 0; for real z the real root of z's sign nearest 0.

    ``spectral`` is the spectral parameter z (for ridge, -lam with g -> -g, handled by the caller).
    """
    if spectral.imag > 0:
        chosen = [r for r in roots if r.imag < 0]
    else:
        real = [r for r in roots if abs(r.imag).upper() < 1e-40]
        chosen = [r for r in real if (r.real > 0) == (spectral.real > 0) and not r.real.contains(0)]
        chosen = [min(chosen, key=lambda r: abs(r.real.mid()))] if chosen else []
    assert len(chosen) == 1, roots
    return chosen[0]


@pytest.mark.parametrize("name, at, polynomial", CASES, ids=[f"{c[0]}-{list(c[1].values())[0]}" for c in CASES])
def test_closed_form_lies_in_a_ball_of_radius_below_1e_45(textbook, name, at, polynomial):
    solution = solve(DysonSystem(textbook[name]), at, dps=DPS)
    assert solution.certified, solution.certificate.reason
    with flint.ctx.workprec(400):
        point = {k: exact(v) for k, v in at.items()}
        roots = acb_poly(list(reversed(polynomial(point)))).roots(tol=1e-110, maxprec=4000)
        if name == "ridge":  # r = -g_MP(-lam) > 0: the positive root
            expected = next(r for r in roots if r.real > 0)
        else:
            expected = physical(roots, complex(point["z"].real.mid(), point["z"].imag.mid()))
        assert expected.rad() < 1e-100
        ball = solution.enclosure()
        assert ball.overlaps(expected), (ball, expected)
        assert ball.rad() < 1e-45 and solution.certified_digits() >= 45
        # the printed number (the polished mpmath value) lies in the ball too
        value = mpmath.mpmathify(solution.value)
        printed = acb(arb(mpmath.nstr(mpmath.re(value), DPS + 10)), arb(mpmath.nstr(mpmath.im(value), DPS + 10)))
        assert abs(printed - expected).upper() < 1e-47


def test_symmetric_pencils_prove_the_stieltjes_sign(textbook):
    complex_point = solve(DysonSystem(textbook["marchenko_pastur"]), {"z": "0.3+0.7j", "psi": "0.5"}, dps=30)
    real_point = solve(DysonSystem(textbook["ridge"]), {"lam": "0.1", "psi": "2"}, dps=30)
    assert any("Stieltjes sign" in p for p in complex_point.certificate.proven)
    assert any("Stieltjes response" in p for p in real_point.certificate.proven)


def test_non_symmetric_pencils_say_what_is_not_proven(textbook):
    solution = solve(DysonSystem(textbook["wishart_product"]), {"z": "-0.5", "phi": "1.5", "psi": "0.75"}, dps=30)
    assert solution.certified and "two paths agree" in solution.checks
    assert not any("Stieltjes" in p for p in solution.certificate.proven)


def test_a_wrong_point_is_not_certified(textbook):
    """Krawczyk must refuse a point that is not a root (no silent certificate)."""
    system = DysonSystem(textbook["marchenko_pastur"])
    solution = solve(system, {"z": "-1", "psi": "0.5"}, dps=30)
    compiled = compile_system(system)
    with mpmath.workdps(40):
        wrong = [u * (1 + mpmath.mpf(10) ** -12) for u in solution.unknowns.values()]
    certificate = certify(compiled, solution.exact_point, wrong, solution.point, 30)
    assert certificate.certified  # a root lies near; the ball must not contain the wrong point
    assert not any(ball.contains(acb(str(w))) for ball, w in zip(certificate.unknowns, wrong))
    far = [u + 1 for u in solution.unknowns.values()]
    assert not certify(compiled, solution.exact_point, far, solution.point, 30).certified


def test_uncertain_coefficients_shrink_the_certified_digits():
    """A parameter given as a wide ball (e.g. a constant known to 1e-10) is carried into the enclosure."""
    z, psi = mpmath.mpf(-1), ratio("psi")
    X = GaussianMatrix("X", 1, psi)
    import sympy as sp

    zs = sp.Symbol("z")
    system = DysonSystem(Pencil([[zs, X], [X.T, 1]], [1, psi], [zs]))
    with flint.ctx.workprec(200):
        psi_ball = arb(Fraction(1, 2).numerator) / 2 + arb(0, 1e-10)
    solution = solve(system, {"z": z, "psi": psi_ball}, dps=30)
    assert solution.certified and 8 <= solution.certified_digits() <= 11


@pytest.mark.parametrize("lam, psi", [("1e-15", "0.5"), ("1e-15", "1"), ("1e-15", "1.0001"), ("1e-12", "0.99"),
                                      ("1e-15", "2")])
def test_small_ridge_is_reached_and_certified(textbook, lam, psi):
    """A ridge down to 1e-15, where |g| ~ 1/lam (psi < 1) or 1/sqrt(lam) (psi = 1): continued in lam on a
    log scale, certified to DPS significant digits, the closed form inside the ball."""
    solution = solve(DysonSystem(textbook["ridge"]), {"lam": lam, "psi": psi}, dps=DPS)
    assert solution.certified, solution.certificate.reason
    with flint.ctx.workprec(2000):  # arb tracks the cancellation for psi > 1 rigorously
        lam_, psi_ = exact(lam), exact(psi)
        b = lam_ + psi_ - 1
        expected = (-b + (b * b + 4 * lam_).sqrt()) / (2 * lam_)  # the positive root of lam r^2 + b r - 1
        assert expected.rad() < 1e-100 * abs(expected).lower()
        ball = solution.enclosure()
        assert ball.overlaps(expected), (ball, expected)
        assert (ball.rad() / abs(expected).lower()) < 1e-45 and solution.certified_digits() >= 45
