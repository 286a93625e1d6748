"""Conversion of user-given parameter values to mpmath numbers at a precision.

Strings are read at the working precision (``"0.1"`` is one tenth to every
digit asked for); Python floats are taken as the binary numbers they are.

>>> import mpmath
>>> with mpmath.workdps(30):
...     print(to_mpmath("0.1"), to_mpmath("1/3"), to_mpmath("2+0.5j"))
0.1 0.333333333333333333333333333333 (2.0 + 0.5j)
"""

import mpmath
import sympy as sp

from .exceptions import DomainError

__all__ = ["to_mpmath", "parse_point", "full_string"]


def to_mpmath(value):
    """Convert a number, a numeric string or a SymPy number to mpmath at the current precision."""
    if isinstance(value, mpmath.mpf | mpmath.mpc):
        return +value
    given = value
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        try:
            return mpmath.mpmathify(text)
        except (ValueError, TypeError):
            pass
        try:
            value = sp.sympify(text.replace("j", "*I") if "j" in text else text)
        except (sp.SympifyError, SyntaxError, TypeError) as exc:
            raise DomainError(f"cannot read {given!r} as a number") from exc
    if isinstance(value, sp.Basic):
        if value.free_symbols:
            raise DomainError(f"cannot read {str(given)!r} as a number")
        number = sp.N(value, mpmath.mp.dps + 5)
        re, im = (sp.Float(part, mpmath.mp.dps + 5) for part in number.as_real_imag())
        return mpmath.mpf(re._mpf_) if im == 0 else mpmath.mpc(re._mpf_, im._mpf_)
    try:
        return mpmath.mpmathify(value)
    except (ValueError, TypeError) as exc:
        raise DomainError(f"cannot read {value!r} as a number") from exc


def parse_point(at, symbols):
    """Check and convert a parameter point ``{name: value}`` for the given symbols.

    Every symbol needs a value; ratios (positive symbols) must be real and
    positive; names that are not symbols of the system are refused.

    Returns a dictionary ``{name: mpmath number}`` in the order of ``symbols``.
    """
    given = {str(k): v for k, v in dict(at).items()}
    names = [str(s) for s in symbols]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise DomainError(
            f"unknown parameter(s) {', '.join(unknown)}; the system has {', '.join(names) or 'none'}"
        )
    missing = [n for n in names if n not in given]
    if missing:
        raise DomainError(f"no value given for {', '.join(missing)}")
    point = {}
    for s in symbols:
        value = to_mpmath(given[str(s)])
        if not mpmath.isfinite(value):
            raise DomainError(f"{s} = {value} is not finite")
        if s.is_positive and (mpmath.im(value) != 0 or mpmath.re(value) <= 0):
            raise DomainError(f"{s} is a positive ratio, got {s} = {value}")
        if s.is_real and mpmath.im(value) != 0:
            raise DomainError(f"{s} is real, got {s} = {value}")
        point[str(s)] = mpmath.re(value) if mpmath.im(value) == 0 else value
    return point


def full_string(value, dps=None):
    """All the digits of an mpmath number (at ``dps`` significant digits), as a string.

    >>> import mpmath
    >>> with mpmath.workdps(25):
    ...     full_string(mpmath.mpf(1) / 3, 20)
    '0.33333333333333333333'
    """
    dps = mpmath.mp.dps if dps is None else dps
    if isinstance(value, mpmath.mpc):
        if value.imag == 0:
            return mpmath.nstr(value.real, dps, strip_zeros=False)
        return mpmath.nstr(value, dps, strip_zeros=False).strip("()")
    return mpmath.nstr(value, dps, strip_zeros=False)
