"""Ball arithmetic helpers: exact enclosures, SymPy expressions in balls, digits, no global state."""

from fractions import Fraction

import flint
import mpmath
import pytest
import sympy as sp
from flint import acb, arb

from pencils import CertificationError
from pencils.balls import ball_function, certified_digits, mid_mpmath, precision, radius, to_ball


def test_precision_restores_the_callers_context():
    before = flint.ctx.prec
    with precision(dps=100):
        assert flint.ctx.prec >= 332
    assert flint.ctx.prec == before


@pytest.mark.parametrize("value", [3, Fraction(1, 4), mpmath.mpf("0.5"), 0.25, -2.5])
def test_exact_binary_numbers_are_exact_balls(value):
    with precision(dps=30):
        ball = to_ball(value)
    assert radius(ball) == 0 and float(ball.real.mid()) == float(value)


def test_one_third_is_enclosed_not_rounded():
    with precision(dps=30):
        ball = to_ball(Fraction(1, 3))
        assert (3 * ball - 1).contains(0) and radius(ball) < 1e-30


def test_sympy_constants_are_evaluated_in_ball_arithmetic():
    x = sp.Symbol("x")
    with precision(dps=50):
        (f,) = [ball_function([x], [sp.sqrt(x) * sp.exp(-x) + sp.Rational(1, 3)])]
        (value,) = f(acb(2))
        expected = arb(2).sqrt() * arb(-2).exp() + arb(1) / 3  # the same formula, written with flint directly
        assert value.real.overlaps(expected) and radius(value) < 1e-48
        assert to_ball(sp.sqrt(2)).real.overlaps(arb(2).sqrt())


def test_symbols_and_non_finite_values_are_refused():
    with precision(dps=30):
        with pytest.raises(CertificationError):
            to_ball(sp.Symbol("y"))
        with pytest.raises(CertificationError):
            to_ball(mpmath.inf)


def test_midpoint_is_exact_whatever_the_global_precision():
    with precision(bits=300):
        ball = arb(1) / 7
    old = mpmath.mp.dps
    try:
        mpmath.mp.dps = 5
        low = mid_mpmath(ball)
        mpmath.mp.dps = 100
        high = mid_mpmath(ball)
    finally:
        mpmath.mp.dps = old
    assert low == high and abs(high * 7 - 1) < mpmath.mpf(2) ** -290


def test_certified_digits():
    with precision(bits=200):
        assert certified_digits(arb(1) / 3) == 60
        assert certified_digits(arb(2, 1e-20)) == 20
        assert certified_digits(arb(0, 1e-9)) == 0  # contains 0: no relative digits
        assert certified_digits(acb(1, 1)) is None and certified_digits(acb(1, 1), cap=30) == 30  # exact
        assert certified_digits(arb(1) / 3, cap=25) == 25
