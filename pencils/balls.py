"""Ball arithmetic (python-flint's arb/acb) for certified enclosures.

A *ball* is a midpoint and a radius that rigorously contains the true value:
every operation of arb/acb rounds outward. This module converts exact inputs
and mpmath numbers to balls, evaluates SymPy expressions in ball arithmetic,
and reads certified digits off a ball.

Precision is never taken from python-flint's global context as the caller
left it: :func:`precision` sets it for a block and restores it.

Examples
--------
>>> import sympy as sp
>>> x = sp.Symbol("x")
>>> with precision(dps=30):
...     f = ball_function([x], [sp.sqrt(x) + sp.Rational(1, 3)])
...     (value,) = f(to_ball(2))
...     print(value.real.str(25, radius=False), certified_digits(value) >= 30)
1.747546895706428382135022 True
"""

import contextlib
import math
from fractions import Fraction

import flint
import mpmath
from mpmath.libmp import from_man_exp
import sympy as sp
from flint import acb, arb, fmpq

from .exceptions import CertificationError

__all__ = ["precision", "bits_for", "to_ball", "ball_function", "certified_digits", "radius", "midpoint",
           "mid_mpmath", "is_ball"]


def bits_for(dps):
    """Binary precision for ``dps`` decimal digits (with a few guard bits)."""
    return int(math.ceil(dps * math.log2(10))) + 16


@contextlib.contextmanager
def precision(dps=None, bits=None):
    """Run a block with python-flint at ``dps`` digits (or ``bits``), restoring the caller's context."""
    with flint.ctx.workprec(bits if bits is not None else bits_for(dps)):
        yield


def is_ball(value):
    """Whether ``value`` is an arb or acb ball."""
    return isinstance(value, arb | acb)


def to_ball(value):
    """An acb enclosing ``value`` at the current flint precision.

    Exact numbers (int, Fraction, SymPy Rationals, mpmath numbers, floats) are
    enclosed exactly or to the last bit; SymPy constants such as ``sqrt(2)``
    are evaluated in ball arithmetic; balls pass through.
    """
    if isinstance(value, acb):
        return value
    if isinstance(value, arb):
        return acb(value)
    if isinstance(value, mpmath.mpc):
        return acb(_mpf_ball(value.real), _mpf_ball(value.imag))
    if isinstance(value, mpmath.mpf):
        return acb(_mpf_ball(value))
    if isinstance(value, bool):
        raise CertificationError(f"cannot read {value!r} as a number")
    if isinstance(value, int):
        return acb(value)
    if isinstance(value, Fraction):
        return acb(arb(fmpq(value.numerator, value.denominator)))
    if isinstance(value, float | complex):
        return acb(arb(value.real), arb(value.imag))
    if isinstance(value, sp.Rational):  # exactly, without compiling a ball function (50 us)
        return acb(arb(fmpq(int(value.p), int(value.q))))
    expr = sp.sympify(value) if isinstance(value, sp.Basic) else None
    if expr is None or expr.free_symbols:
        raise CertificationError(f"cannot enclose {value!r} in a ball")
    (result,) = ball_function([], [expr])()
    return result


def _mpf_ball(x):
    sign, man, exp, _ = x._mpf_
    if not man:
        if exp:  # inf or nan
            raise CertificationError(f"{x} is not finite")
        return arb(0)
    return arb((-man if sign else man, exp))


_FUNCTIONS = {
    sp.exp: lambda x, analytic: x.exp(),
    sp.log: lambda x, analytic: x.log(analytic=analytic),
    sp.sin: lambda x, analytic: x.sin(),
    sp.cos: lambda x, analytic: x.cos(),
    sp.tan: lambda x, analytic: x.tan(),
    sp.tanh: lambda x, analytic: x.tanh(),
    sp.erf: lambda x, analytic: x.erf(),
}


def ball_function(symbols, expressions, analytic=False):
    """Compile SymPy expressions into a function of balls returning a list of acb.

    Supported: numbers, ``I``, ``pi``, ``E``, symbols, sums, products, powers
    (integer, half-integer and general complex), and ``exp, log, sin, cos,
    tan, tanh, erf, Abs``. Anything else raises
    :class:`~pencils.exceptions.CertificationError`.

    With ``analytic=True`` the result is finite only where every function is
    provably analytic on the input balls: square roots, logarithms and general
    powers give a non-finite ball when a ball touches their branch cut (flint's
    ``analytic`` flag; poles give non-finite balls anyway), and ``Abs`` is refused.
    A finite result on a region therefore proves the expressions analytic there
    (used for quadrature error bounds, :mod:`pencils.quadrature`).

    The result is evaluated at the flint precision in force when it is
    *called* (constants are recomputed each call, not frozen).
    """
    index = {s: n for n, s in enumerate(symbols)}
    cache = {}

    def build(e):
        if e in cache:
            return cache[e]
        if e in index:
            n = index[e]
            f = lambda args, n=n: args[n]  # noqa: E731
        elif e.is_Integer:
            v = int(e)
            f = lambda args, v=v: acb(v)  # noqa: E731
        elif e.is_Rational:
            p, q = int(e.p), int(e.q)
            f = lambda args, p=p, q=q: acb(arb(fmpq(p, q)))  # noqa: E731
        elif e.is_Float:
            x = mpmath.mpf(e._mpf_)
            f = lambda args, x=x: acb(_mpf_ball(x))  # noqa: E731
        elif e is sp.I:
            f = lambda args: acb(0, 1)  # noqa: E731
        elif e is sp.pi:
            f = lambda args: acb(arb.pi())  # noqa: E731
        elif e is sp.E:
            f = lambda args: acb(1).exp()  # noqa: E731
        elif e.is_Add or e.is_Mul:
            parts = [build(a) for a in e.args]
            if e.is_Add:
                def f(args, parts=parts):
                    total = parts[0](args)
                    for p in parts[1:]:
                        total = total + p(args)
                    return total
            else:
                def f(args, parts=parts):
                    total = parts[0](args)
                    for p in parts[1:]:
                        total = total * p(args)
                    return total
        elif e.is_Pow:
            base, exponent = build(e.base), e.exp
            if exponent.is_Integer:
                k = int(exponent)
                f = lambda args, b=base, k=k: b(args) ** k  # noqa: E731
            elif exponent == sp.Rational(1, 2):
                f = lambda args, b=base: b(args).sqrt(analytic=analytic)  # noqa: E731
            elif exponent == -sp.Rational(1, 2):
                f = lambda args, b=base: b(args).rsqrt(analytic=analytic)  # noqa: E731
            else:
                power = build(exponent)
                f = lambda args, b=base, p=power: b(args).pow(p(args), analytic=analytic)  # noqa: E731
        elif isinstance(e, sp.Abs):
            if analytic:
                raise CertificationError(f"{e} is not analytic")
            inner = build(e.args[0])
            f = lambda args, g=inner: acb(abs(g(args)))  # noqa: E731
        elif e.func in _FUNCTIONS and len(e.args) == 1:
            inner, op = build(e.args[0]), _FUNCTIONS[e.func]
            f = lambda args, g=inner, op=op: op(g(args), analytic)  # noqa: E731
        else:
            raise CertificationError(f"cannot evaluate {e} in ball arithmetic")
        cache[e] = f
        return f

    compiled = [build(sp.sympify(e)) for e in expressions]

    def evaluate(*args):
        args = [to_ball(a) for a in args]
        return [f(args) for f in compiled]

    return evaluate


def radius(value):
    """The radius of a ball as a float upper bound (0 for an exact number).

    For a complex ball, the larger of the two radii.
    """
    if isinstance(value, acb):
        return max(radius(value.real), radius(value.imag))
    if isinstance(value, arb):
        return float(value.rad())
    return 0.0


def midpoint(value):
    """The midpoint of a ball (exact), as an acb or arb with radius 0."""
    return value.mid()


def mid_mpmath(value):
    """The midpoint of a ball as an mpmath number (exact: the binary midpoint).

    A complex ball whose imaginary part is exactly 0 gives an ``mpf``.
    """
    if isinstance(value, acb):
        re, im = _arb_mpf(value.real), _arb_mpf(value.imag)
        return re if im == 0 else mpmath.mpc(re, im)
    return _arb_mpf(value)


def _arb_mpf(x):
    """The midpoint as an mpf carrying every bit (no rounding to the context's precision)."""
    man, exp = x.mid().man_exp()
    return mpmath.mp.make_mpf(from_man_exp(int(man), int(exp)))


def certified_digits(value, cap=None):
    """Correct significant decimal digits that a ball proves (``cap`` if exact).

    ``floor(log10(|mid| / rad))`` for a ball away from 0; 0 when the ball
    contains 0 (then only the absolute :func:`radius` says something).
    For a complex ball the worst of the modulus-relative errors of its parts.

    >>> with precision(bits=200):
    ...     certified_digits(arb(1) / 3), certified_digits(arb(1, 0.01)), certified_digits(arb(0, 1e-9))
    (60, 1, 0)
    """
    if not is_ball(value):
        return cap
    rad = _arb_radius(value)
    if rad == 0:
        return cap
    size = abs(value).lower()
    if not size > 0:
        return 0
    with flint.ctx.workprec(64):
        digits = ((arb(size) / rad).log() / arb(10).log()).lower()
        digits = max(int(math.floor(float(digits))), 0)
    return digits if cap is None else min(digits, cap)


def _arb_radius(value):
    if isinstance(value, acb):
        return max(_arb_radius(value.real), _arb_radius(value.imag))
    return arb(value.rad())
