"""Parameter values: read exactly once, then evaluated at an explicit precision.

Every number a user gives (a string, an int, a float, a Fraction, a SymPy or
mpmath number) is first made exact by :func:`pencils.parsing.exact_number`:
``"0.1"`` and the Python float ``0.1`` are both exactly one tenth (a float
counts as the decimal of its ``repr``). python-flint balls pass through, so
that certified inputs (e.g. constants computed with rigorous error bounds)
keep their radius. Only then are values evaluated, at a precision the caller
names: nothing here reads mpmath's global precision unless the caller runs
inside ``mpmath.workdps``.

>>> third = to_mpmath("1/3", dps=30)
>>> full_string(third, 30), full_string(to_mpmath("2+0.5j", dps=30), 5)
('0.333333333333333333333333333333', '2.0000 + 0.50000j')
"""

import functools

import mpmath
import sympy as sp

from .balls import is_ball, mid_mpmath
from .exceptions import DomainError, ParseError
from .parsing import exact_number

__all__ = ["exact", "to_mpmath", "parse_point", "full_string"]


def exact(value, where=None):
    """The exact form of a value (a SymPy number) or the ball it is.

    Raises :class:`~pencils.exceptions.DomainError` (naming ``where``) for
    anything that is not a finite number.
    """
    try:
        return exact_number(value, where=where)
    except ParseError as exc:
        raise DomainError(str(exc)) from None


def to_mpmath(value, dps=None):
    """A value as an mpmath number at ``dps`` digits.

    ``dps=None`` means the precision of the enclosing ``mpmath.workdps`` block
    (the caller sets it). Balls give their midpoint.
    """
    if dps is not None:
        with mpmath.workdps(dps):
            return to_mpmath(value)
    if isinstance(value, mpmath.mpf | mpmath.mpc):
        return +value
    if is_ball(value):
        return mid_mpmath(value)
    value = exact(value)
    if is_ball(value):
        return mid_mpmath(value)
    if isinstance(value, sp.Rational):  # the common case, without SymPy's as_real_imag (50 us)
        return _real(value)
    re, im = value.as_real_imag()
    parts = [_real(re), _real(im)]
    return parts[0] if parts[1] == 0 else mpmath.mpc(*parts)


def _real(x):
    if x.is_Rational:
        return mpmath.mpf(int(x.p)) / int(x.q)
    return mpmath.mpf(sp.N(x, mpmath.mp.dps + 10)._mpf_)


def parse_point(at, symbols, unused=()):
    """Check a parameter point ``{name: value}`` for the given symbols; values made exact.

    Every symbol needs a value; ratios (positive symbols) must be real and
    positive; real symbols real. Names in ``unused`` (e.g. parameters of the
    pencil that the requested entries do not depend on) are read and checked
    the same way, then dropped; any other name is refused. Returns
    ``{name: exact value or ball}`` in the order of ``symbols``.
    """
    given = {_name(k): v for k, v in dict(at).items()}
    names = [_name(s) for s in symbols]
    extra = [s for s in unused if _name(s) not in names and _name(s) in given]
    if extra:
        parse_point({_name(s): given.pop(_name(s)) for s in extra}, extra)
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise DomainError(
            f"unknown parameter(s) {', '.join(unknown)}; the system has {', '.join(names) or 'none'}"
        )
    missing = [n for n in names if n not in given]
    if missing:
        raise DomainError(f"no value given for {', '.join(missing)}")
    point = {}
    with mpmath.workdps(30):
        for s, name in zip(symbols, names):
            value = exact(given[name], where=name)
            approx = to_mpmath(value)
            real = _is_real(value, approx)
            if s.is_positive and (not real or mpmath.re(approx) <= 0):
                raise DomainError(f"{s} is a positive ratio, got {s} = {_show(given[name])}")
            if s.is_real and not real:
                raise DomainError(f"{s} is real, got {s} = {_show(given[name])}")
            point[name] = value
    return point


def _name(key):
    """``str(key)``; for a SymPy symbol remembered (SymPy prints it through its printer, 50 us a call)."""
    return key if isinstance(key, str) else _printed(key)


@functools.lru_cache(maxsize=4096)
def _printed(symbol):
    return str(symbol)


def _is_real(value, approx):
    if is_ball(value):
        return not hasattr(value, "imag") or value.imag == 0
    return mpmath.im(approx) == 0


def _show(value):
    return value if isinstance(value, str) else repr(value)


def full_string(value, dps):
    """All the digits of an mpmath number (at ``dps`` significant digits), as a string.

    >>> with mpmath.workdps(25):
    ...     third = mpmath.mpf(1) / 3
    >>> full_string(third, 20)
    '0.33333333333333333333'
    """
    with mpmath.workdps(dps + 5):
        if isinstance(value, mpmath.mpc):
            if value.imag == 0:
                return mpmath.nstr(value.real, dps, strip_zeros=False)
            re = mpmath.nstr(value.real, dps, strip_zeros=False)
            im = mpmath.nstr(abs(value.imag), dps, strip_zeros=False)
            return f"{re} {'-' if value.imag < 0 else '+'} {im}j"
        return mpmath.nstr(value, dps, strip_zeros=False)
