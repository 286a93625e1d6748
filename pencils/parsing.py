"""The one parser of user text: a whitelist expression syntax, read without evaluating Python.

Pencil files (sizes, shapes, variances, blocks), parameter values on the
command line and in Python, and grids are all read by this module. Nothing of
the text is handed to ``eval``, ``exec``, ``sympify`` or ``parse_expr``: a
hand-written tokenizer and a recursive-descent (precedence-climbing) parser
build the SymPy expression by arithmetic on SymPy objects, so text can only
ever name what the caller declared.

Specification
-------------
**Numbers** are read *exactly*: every number is the exact decimal written.
``0.1`` is the rational 1/10, ``1e-3`` is 1/1000, ``2.5E+4`` is 25000; never a
binary float. A number with the suffix ``j`` (or ``J``) is imaginary: ``0.5j``
is ``I/2``. The name ``I`` is the imaginary unit (unless the caller declares a
name ``I``). A Python ``float`` given as a value counts as the decimal of its
``repr`` (``0.1`` is exactly 1/10), a ``complex`` likewise per part; see
:func:`exact_number` for the other types.

**Names** are ASCII identifiers (``[A-Za-z_][A-Za-z0-9_]*``) declared by the
caller: the parameters, ratios and matrices of a pencil file, plus the
constants ``pi`` and ``E`` (Euler's number) where numbers are read. Any other
name is an error that lists the declared ones. Names containing a double
underscore are refused.

**Operators**, from the loosest to the tightest binding:

=================  ===========================================================
``a + b, a - b``   sum, difference (left-associative)
``a * b, a / b``   product, quotient (left-associative; the order of factors
                   is kept: random matrices do not commute)
``+a, -a``         unary sign
``a ** b``         power, right-associative and tighter than the unary sign:
                   ``-x**2`` is ``-(x**2)``, ``2**-1`` is ``1/2``,
                   ``2**3**2`` is ``2**9``
``a.T``            transpose, on a name or a parenthesised expression: a
                   random matrix's own ``.T``, or of a matrix expression
                   (:func:`pencils.matrices.transpose`); a scalar has none
``f(a, ...)``      call of a whitelisted function
``( ... )``        grouping
=================  ===========================================================

There is no implicit multiplication: write ``2*x``, not ``2x``.

**Functions**: ``sqrt, exp, log, sin, cos, tan, tanh, erf`` and ``Abs``
(also spelled ``abs``), the SymPy functions of these names; a caller may
replace the set. Their arguments are separated by commas; a comma anywhere
else is an error.

**Everything else is refused** with a :class:`~pencils.exceptions.ParseError`
that names the place, quotes the text and marks the position with a caret:
attribute access other than ``.T``, subscripts and lists (``[ ]``, ``{ }``),
strings, ``;``, ``:``, ``=``, comparisons, ``%``, ``//``, ``@``, ``^`` (write
``**``), keywords such as ``lambda`` or ``import``, undeclared names, calls of
anything but a whitelisted function.

**Limits**, so that no text can exhaust the stack, the memory or the time:
at most :data:`MAX_LENGTH` characters, :data:`MAX_DEPTH` levels of nesting
(parentheses, signs, powers, calls), and exact rational numbers of at most
:data:`MAX_DIGITS` digits in numerator and denominator -- whether written as a
literal (``1e999999999`` is refused) or produced by arithmetic (``10**10**10``
is refused at once instead of being computed); a number under a root or in a
function argument has at most :data:`MAX_ROOT_DIGITS` digits. Division by an exact zero and
non-finite results (``log(0)``) are refused too.

Examples
--------
>>> import sympy as sp
>>> z = sp.Symbol("z")
>>> parse_expression("-z**2 + 0.1*z - 2.5e-1j", {"z": z})
-z**2 + z/10 - I/4
>>> parse_number("1/3 + sqrt(2)")
1/3 + sqrt(2)
>>> parse_expression("z + __import__('os')", {"z": z}, where="block (1, 2)")
Traceback (most recent call last):
...
pencils.exceptions.ParseError: block (1, 2): cannot parse "z + __import__('os')": a name with a double underscore is refused (column 5)
    z + __import__('os')
        ^
"""

import decimal
import fractions
import functools
import keyword
import math
import numbers
import re
from types import MappingProxyType

import sympy as sp

from .exceptions import ParseError

__all__ = [
    "MAX_LENGTH", "MAX_DEPTH", "MAX_DIGITS", "MAX_ROOT_DIGITS", "FUNCTIONS", "CONSTANTS",
    "parse_expression", "parse_number", "exact_number", "names_in", "as_sympy", "substitutions",
]

#: The longest text read, in characters.
MAX_LENGTH = 20_000
#: The deepest nesting of parentheses, signs, powers and calls.
MAX_DEPTH = 100
#: The most decimal digits of an exact rational number (numerator or denominator); below
#: Python's limit of 4300 digits for converting integers to text, so every number prints.
MAX_DIGITS = 4_000
#: The most digits of a number under a root (a fractional power) or in a function argument:
#: SymPy looks for factors of a number under a root, which takes seconds beyond a few hundred digits.
MAX_ROOT_DIGITS = 300

#: The functions a text may call (name -> SymPy function), unless the caller gives others.
FUNCTIONS = MappingProxyType({
    "sqrt": lambda x: sp.sqrt(x), "exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos, "tan": sp.tan,
    "tanh": sp.tanh, "erf": sp.erf, "Abs": sp.Abs, "abs": sp.Abs,
})
#: Named constants where numbers are read (pencil files, :func:`parse_number`).
CONSTANTS = MappingProxyType({"pi": sp.pi, "E": sp.E})

_LOG10_2 = math.log10(2)
_NOT_FINITE = (sp.nan, sp.zoo, sp.oo, -sp.oo)
_TOKEN = re.compile(
    r"(?P<space>[ \t\r\n]+)"
    r"|(?P<number>(?=\.?[0-9])(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:[eE](?P<exp>[+-]?[0-9]+))?(?P<imag>[jJ])?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/(),])",
    re.ASCII,
)
_REFUSED = {
    "'": "a string is refused", '"': "a string is refused",
    "[": "subscripts and lists are refused", "]": "subscripts and lists are refused",
    "{": "sets and dictionaries are refused", "}": "sets and dictionaries are refused",
    ";": "';' is refused: one expression only", ":": "':' is refused (no lambda, slice or annotation)",
    "=": "'=' is refused: an expression, not an assignment or a comparison",
    "<": "comparisons are refused", ">": "comparisons are refused", "!": "comparisons are refused",
    "^": "'^' is refused: write '**' for a power", "%": "'%' is refused", "@": "'@' is refused",
    "&": "'&' is refused", "|": "'|' is refused", "~": "'~' is refused", "#": "comments are refused",
    "\\": "'\\' is refused", "`": "'`' is refused", "$": "'$' is refused", "?": "'?' is refused",
}


def _fail(text, position, reason, where):
    """A ParseError naming ``where``, quoting ``text`` and marking ``position`` with a caret."""
    prefix = f"{where}: " if where else ""
    if position is None:
        return ParseError(f"{prefix}cannot parse {_quote(text)}: {reason}")
    start = max(0, position - 40)
    line = text[start:position + 40]
    shown = "".join(c if c.isprintable() else " " for c in line)
    caret = " " * (position - start) + "^"
    error = ParseError(
        f"{prefix}cannot parse {_quote(text)}: {reason} (column {position + 1})\n    {shown}\n    {caret}"
    )
    error.position = position
    return error


def _quote(text):
    return repr(text) if len(text) <= 80 else repr(text[:60]) + f"... ({len(text)} characters)"


def _digits(number):
    """The decimal logarithm of the larger of numerator and denominator of a SymPy Rational."""
    return math.log10(max(abs(number.p), number.q))


def _size(expr):
    """An upper bound on the digits of the numbers that arithmetic with ``expr`` can combine."""
    return sum(_digits(r) for r in expr.atoms(sp.Rational))


class _Token:
    __slots__ = ("kind", "text", "start", "match")

    def __init__(self, kind, text, start, match=None):
        self.kind, self.text, self.start, self.match = kind, text, start, match


def _tokens(text, where):
    """The tokens of ``text``: number, name, op (``** + - * / ( ) ,``), transpose, end."""
    tokens, position = [], 0
    while position < len(text):
        char = text[position]
        if char == "." and not text[position + 1:position + 2].isdigit():
            if text[position + 1:position + 2] == "T" and not _ident(text[position + 2:position + 3]):
                tokens.append(_Token("transpose", ".T", position))
                position += 2
                continue
            raise _fail(text, position, "attribute access is refused (only '.T', the transpose)", where)
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            reason = _REFUSED.get(char, f"unexpected character {char!r}")
            raise _fail(text, position, reason, where)
        kind = match.lastgroup if match.lastgroup in ("space", "name", "op") else "number"
        if kind == "number":
            following = text[match.end():match.end() + 1]
            if _ident(following) or following == ".":
                raise _fail(text, match.end(), "malformed number (no implicit multiplication: write 2*x)", where)
        if kind == "name" and "__" in match.group():
            raise _fail(text, position, "a name with a double underscore is refused", where)
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position, match))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _ident(char):
    return bool(char) and (char.isalnum() or char == "_")


def _check_text(text, where):
    if not isinstance(text, str):
        raise ParseError(f"{where + ': ' if where else ''}expected a string, got {text!r} ({type(text).__name__})")
    if len(text) > MAX_LENGTH:
        raise _fail(text, None, f"longer than {MAX_LENGTH} characters ({len(text)})", where)


def names_in(text, *, where=None):
    """The names a text uses, in order of first use, without the functions it calls.

    Only tokenizes: nothing is declared or checked but the characters.

    Parameters
    ----------
    text : str
        An expression in the syntax of this module.
    where : str, optional
        The place of the text, for error messages.

    Examples
    --------
    >>> names_in("sqrt(psi_n)*X.T + psi_p/psi_n")
    ['psi_n', 'X', 'psi_p']
    """
    _check_text(text, where)
    tokens = _tokens(text, where)
    found = []
    for token, following in zip(tokens, tokens[1:]):
        if token.kind == "name" and following.text != "(" and token.text not in found:
            found.append(token.text)
    return found


class _Parser:
    def __init__(self, text, names, functions, where):
        self.text, self.names, self.functions, self.where = text, names, functions, where
        self.tokens = _tokens(text, where)
        self.index = 0
        self.depth = 0

    # -- helpers -------------------------------------------------------------------------
    @property
    def token(self):
        return self.tokens[self.index]

    def fail(self, reason, position=None):
        return _fail(self.text, self.token.start if position is None else position, reason, self.where)

    def advance(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def enter(self, token):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels", token.start)

    def check_digits(self, digits, position, what="a number"):
        if digits > MAX_DIGITS:
            raise self.fail(f"{what} would have more than {MAX_DIGITS} digits", position)

    def check_root(self, value, position):
        if max((_digits(r) for r in value.atoms(sp.Rational)), default=0) > MAX_ROOT_DIGITS:
            raise self.fail(f"a root or a function of a number of more than {MAX_ROOT_DIGITS} digits", position)

    # -- grammar -------------------------------------------------------------------------
    def parse(self):
        if self.token.kind == "end":
            raise self.fail("empty expression")
        value = self.sum()
        if self.token.kind != "end":
            raise self.fail(self.unexpected())
        return value

    def unexpected(self):
        token = self.token
        if token.text == ")":
            return "unbalanced ')'"
        if token.text == ",":
            return "a comma only separates the arguments of a function call"
        if token.kind in ("name", "number") or token.text == "(":
            return "expected an operator (no implicit multiplication: write 2*x)"
        return f"unexpected {token.text!r}"

    def sum(self):
        terms = [self.product()]
        while self.token.text in ("+", "-"):
            sign = self.advance().text
            term = self.product()
            terms.append(-term if sign == "-" else term)
        return terms[0] if len(terms) == 1 else sp.Add(*terms)

    def product(self):
        first = self.token.start
        factors = [self.unary()]
        size = _size(factors[0])
        while self.token.text in ("*", "/"):
            operator = self.advance()
            factor = self.unary()
            if operator.text == "/":
                if factor == 0:
                    raise self.fail("division by zero", operator.start)
                factor = sp.Pow(factor, -1)
            size += _size(factor)
            self.check_digits(size, first, "the product")
            factors.append(factor)
        return factors[0] if len(factors) == 1 else sp.Mul(*factors)

    def unary(self):
        signs = []
        while self.token.text in ("+", "-"):
            signs.append(self.advance())
            self.enter(signs[-1])
        value = self.power()
        self.depth -= len(signs)
        return -value if sum(s.text == "-" for s in signs) % 2 else value

    def power(self):
        base = self.postfix()
        if self.token.text != "**":
            return base
        operator = self.advance()
        self.enter(operator)
        exponent = self.unary()
        self.depth -= 1
        if exponent.is_Rational:
            size = _size(base)
            if size and abs(exponent.p) > MAX_DIGITS / size:
                raise self.fail(f"the power would have more than {MAX_DIGITS} digits", operator.start)
            if not exponent.is_Integer:
                self.check_root(base, operator.start)
        if base == 0 and exponent.is_number and exponent.is_extended_negative:
            raise self.fail("division by zero (0 to a negative power)", operator.start)
        value = sp.Pow(base, exponent)
        if value in _NOT_FINITE:
            raise self.fail("the power is not finite", operator.start)
        return value

    def postfix(self):
        start = self.token.start
        value = self.atom()
        while self.token.kind == "transpose":
            token = self.advance()
            if getattr(value, "is_commutative", False):
                raise self.fail(f"{self.text[start:token.start].strip()} is a scalar: it has no transpose", token.start)
            transpose = getattr(value, "T", None)
            if transpose is None and getattr(value, "is_commutative", True) is False:
                from .matrices import transpose as transpose_expression

                transpose = transpose_expression(value)
            if transpose is None:
                raise self.fail(
                    f"{self.text[start:token.start].strip()} has no transpose ('.T' applies to a random matrix)",
                    token.start,
                )
            value = transpose
        return value

    def atom(self):
        token = self.token
        if token.kind == "number":
            self.advance()
            return self.number(token)
        if token.kind == "name":
            self.advance()
            if self.token.text == "(" and token.text not in self.names:
                return self.call(token)
            return self.name(token)
        if token.text == "(":
            self.advance()
            self.enter(token)
            if self.token.text == ")":
                raise self.fail("empty parentheses")
            value = self.sum()
            if self.token.text == ",":
                raise self.fail("a comma only separates the arguments of a function call (no tuples)")
            if self.token.text != ")":
                raise self.fail(
                    f"'(' at column {token.start + 1} is not closed" if self.token.kind == "end" else self.unexpected()
                )
            self.advance()
            self.depth -= 1
            return value
        if token.kind == "end":
            raise self.fail("the expression ends too early")
        if token.kind == "transpose":
            raise self.fail("'.T' needs a matrix before it")
        raise self.fail(f"expected a number, a name or '(' before {token.text!r}")

    def number(self, token):
        match = token.match
        digits = (match.group("int") or "") + (match.group("frac") or "")
        exponent_text = match.group("exp") or "0"
        if len(exponent_text.lstrip("+-").lstrip("0")) > 6:
            raise self.fail(f"the exponent of the number is larger than {MAX_DIGITS}", token.start)
        exponent = int(exponent_text) - len(match.group("frac") or "")
        significant = digits.lstrip("0")
        self.check_digits(len(significant) + max(exponent, 0), token.start)
        self.check_digits(max(-exponent, 0), token.start)
        mantissa = sp.Integer(int(significant or "0"))
        value = mantissa * sp.Integer(10) ** exponent
        return value * sp.I if match.group("imag") else value

    def name(self, token):
        name = token.text
        if name in self.names:
            return self.names[name]
        if name == "I":
            return sp.I
        if name in self.functions:
            raise self.fail(f"{name} is a function: call it, as in {name}(x)", token.start)
        if keyword.iskeyword(name) or keyword.issoftkeyword(name):
            raise self.fail(f"the Python keyword {name!r} is refused", token.start)
        declared = ", ".join(sorted(self.names)) or "none"
        raise self.fail(f"unknown name {name!r}; the declared names are: {declared}", token.start)

    def call(self, token):
        name = token.text
        if name not in self.functions:
            known = ", ".join(sorted(self.functions)) or "none"
            raise self.fail(f"{name!r} is not a function that may be called; the functions are: {known}", token.start)
        opening = self.advance()
        self.enter(opening)
        arguments = []
        if self.token.text != ")":
            arguments.append(self.sum())
            while self.token.text == ",":
                self.advance()
                arguments.append(self.sum())
        if self.token.text != ")":
            raise self.fail(
                f"'(' at column {opening.start + 1} is not closed" if self.token.kind == "end" else self.unexpected()
            )
        self.advance()
        self.depth -= 1
        for argument in arguments:
            self.check_root(argument, token.start)
        try:
            value = self.functions[name](*arguments)
        except (TypeError, ValueError) as exc:
            raise self.fail(f"{name}({', '.join(map(str, arguments))}) cannot be formed: {exc}", token.start) from None
        if isinstance(value, sp.Basic) and value.has(*_NOT_FINITE):
            raise self.fail(f"{name}({', '.join(map(str, arguments))}) is not finite", token.start)
        return value


def parse_expression(text, names, *, functions=None, where=None):
    """Read an expression of the syntax of :mod:`pencils.parsing` into a SymPy expression.

    Parameters
    ----------
    text : str
        The expression, at most :data:`MAX_LENGTH` characters.
    names : mapping of str to SymPy object
        The names the text may use (symbols, random matrices, constants). A
        declared name takes precedence over ``I`` and over a function of the same name.
    functions : mapping of str to callable, optional
        The functions the text may call; default :data:`FUNCTIONS`.
    where : str, optional
        The place of the text (e.g. ``"block (1, 2)"``), named by error messages.

    Returns
    -------
    sympy.Basic
        Built by SymPy arithmetic on the declared objects and exact numbers.

    Raises
    ------
    ParseError
        For any text outside the syntax, with the place, the text and a caret.

    Examples
    --------
    >>> import sympy as sp
    >>> from pencils import GaussianMatrix, ratio
    >>> z, psi = sp.Symbol("z"), ratio("psi")
    >>> X = GaussianMatrix("X", 1, psi)
    >>> parse_expression("-sqrt(psi)*X.T/2 + 2j*z", {"z": z, "psi": psi, "X": X})
    -sqrt(psi)*X.T/2 + 2*I*z
    >>> parse_expression("-2**2, 3", {})
    Traceback (most recent call last):
    ...
    pencils.exceptions.ParseError: cannot parse '-2**2, 3': a comma only separates the arguments of a function call (column 6)
        -2**2, 3
             ^
    """
    _check_text(text, where)
    functions = FUNCTIONS if functions is None else functions
    value = _Parser(text, dict(names), dict(functions), where).parse()
    if isinstance(value, sp.Basic):
        if value.has(*_NOT_FINITE):
            raise _fail(text, None, f"the value {value} is not finite", where)
        if max((_digits(r) for r in value.atoms(sp.Rational)), default=0) > MAX_DIGITS:
            raise _fail(text, None, f"a number would have more than {MAX_DIGITS} digits", where)
    return value


_NOT_A_NUMBER = {"nan", "inf", "infinity", "oo", "zoo"}


def parse_number(text, *, where=None):
    """Read a text as an exact SymPy number (no free symbols, finite).

    Parameters
    ----------
    text : str
        A number or a constant expression: ``"0.1"``, ``"1/3"``, ``"2-0.5j"``,
        ``"sqrt(2)"``, ``"exp(-1)"``, ``"pi/4"``, ``"1e-3*I"``. The constants
        are ``pi``, ``E`` and ``I``.
    where : str, optional
        The place of the text, for error messages.

    Returns
    -------
    sympy.Expr
        A Rational, an exact complex ``a + b*I``, or an exact constant expression.

    Raises
    ------
    ParseError
        For a text outside the syntax, a name other than the constants, or a
        value that is not finite (``nan``, ``inf``): callers for which
        infinity means something read it themselves.

    Examples
    --------
    >>> parse_number("0.1"), parse_number("2+0.5j"), parse_number("1e-3"), parse_number("exp(-1)")
    (1/10, 2 + I/2, 1/1000, exp(-1))
    >>> parse_number("inf")
    Traceback (most recent call last):
    ...
    pencils.exceptions.ParseError: cannot parse 'inf': not a finite number
    """
    _check_text(text, where)
    if text.strip().lstrip("+-").strip().lower() in _NOT_A_NUMBER:
        raise _fail(text, None, "not a finite number", where)
    try:
        value = parse_expression(text, CONSTANTS, where=where)
    except ParseError as exc:
        if len(text) > 40:
            raise
        raise ParseError(str(exc).split("\n")[0]) from None  # a short value needs no caret line
    if not isinstance(value, sp.Expr) or value.free_symbols or not value.is_number:
        raise _fail(text, None, "not a number", where)
    return value


def _flint_ball():
    try:
        import flint
    except ImportError:
        return ()
    return (flint.arb, flint.acb)


@functools.lru_cache(maxsize=4096)
def _parsed(text):
    """:func:`parse_number` of a text, remembered (a sweep reads the same fixed values at every point)."""
    return parse_number(text)


def _binary(mpf, prefix, value):
    """The exact value of an mpmath ``mpf`` as a SymPy Rational (``prefix + repr(value)`` in errors)."""
    import mpmath

    if not mpmath.isfinite(mpf):
        raise ParseError(f"cannot read {prefix}{value!r} as a number: not finite")
    sign, mantissa, exponent, _ = mpf._mpf_
    if mantissa and abs(exponent) + mantissa.bit_length() > MAX_DIGITS / _LOG10_2:
        raise ParseError(f"cannot read {prefix}{value!r} as a number: more than {MAX_DIGITS} digits")
    mantissa = -mantissa if sign else mantissa
    return sp.Rational(mantissa << exponent) if exponent >= 0 else sp.Rational(mantissa, 1 << -exponent)


def exact_number(value, *, where=None):
    """The exact SymPy number of a value of any numeric type (the one rule of pencils for numbers).

    ====================================  ==========================================================
    ``str``                               :func:`parse_number`: the exact decimal written
    ``int`` (also numpy integers)         the Integer
    ``float`` (also numpy floats)         the decimal of its shortest ``repr``: ``0.1`` is 1/10
    ``complex``                           likewise, per part
    ``fractions.Fraction``                the Rational
    ``decimal.Decimal``                   the exact decimal
    SymPy number                          kept exact; a SymPy ``Float`` is its exact binary value
    mpmath ``mpf`` / ``mpc``              the exact binary value (per part)
    python-flint ``arb`` / ``acb``        returned unchanged (a ball is already rigorous)
    ``bool``, anything else               refused
    ====================================  ==========================================================

    Non-finite values (``nan``, ``inf``, SymPy ``oo``, ``zoo``) and expressions
    with free symbols are refused with a :class:`~pencils.exceptions.ParseError`.

    Examples
    --------
    >>> from fractions import Fraction
    >>> from decimal import Decimal
    >>> exact_number(0.1), exact_number(2 - 0.25j), exact_number(Fraction(1, 3)), exact_number(Decimal("1e-2"))
    (1/10, 2 - I/4, 1/3, 1/100)
    >>> exact_number(True)
    Traceback (most recent call last):
    ...
    pencils.exceptions.ParseError: cannot read True as a number: a bool is not a number
    """
    prefix = f"{where}: " if where else ""
    if isinstance(value, str):
        try:
            return _parsed(value)
        except ParseError:
            return parse_number(value, where=where)  # raises again, naming where
    if isinstance(value, bool):
        raise ParseError(f"{prefix}cannot read {value!r} as a number: a bool is not a number")
    balls = _flint_ball()
    if balls and isinstance(value, balls):
        return value
    if isinstance(value, sp.Basic):
        return _sympy_number(value, prefix)
    if isinstance(value, numbers.Integral):
        return sp.Integer(int(value))
    if isinstance(value, fractions.Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ParseError(f"{prefix}cannot read {value!r} as a number: not finite")
        return parse_number(format(value, "e"), where=where)
    if isinstance(value, float):
        return _float(value, prefix, where)
    if isinstance(value, complex):
        return _float(value.real, prefix, where) + sp.I * _float(value.imag, prefix, where)
    import mpmath

    if isinstance(value, mpmath.mpf):
        return _binary(value, prefix, value)
    if isinstance(value, mpmath.mpc):
        return _binary(value.real, prefix, value) + sp.I * _binary(value.imag, prefix, value)
    if isinstance(value, numbers.Real):  # numpy float32, longdouble...: the decimal they print
        return parse_number(str(value), where=where)
    if isinstance(value, numbers.Complex):
        return exact_number(value.real, where=where) + sp.I * exact_number(value.imag, where=where)
    raise ParseError(f"{prefix}cannot read {value!r} ({type(value).__name__}) as a number")


def _float(value, prefix, where):
    if not math.isfinite(value):
        raise ParseError(f"{prefix}cannot read {value!r} as a number: not finite")
    return parse_number(float.__repr__(value), where=where)


def _sympy_number(value, prefix):
    if isinstance(value, sp.Rational):  # exact and finite already (the common case, 10x faster)
        return value
    if not isinstance(value, sp.Expr) or value.free_symbols or not value.is_number:
        raise ParseError(f"{prefix}cannot read {value} as a number: it is not a constant")
    if value.has(*_NOT_FINITE):
        raise ParseError(f"{prefix}cannot read {value} as a number: not finite")
    floats = value.atoms(sp.Float)
    return value.xreplace({f: sp.Rational(f) for f in floats}) if floats else value


def as_sympy(value, *, where=None):
    """A value given to the Python API as a SymPy object, without evaluating text.

    SymPy objects and Python numbers are converted by ``sympy.sympify(...,
    strict=True)`` (which never parses text); a ``str`` is read by
    :func:`parse_number` and so may only be a number or a constant expression:
    symbols are SymPy objects in Python, and names in text are read only by the
    pencil format (:mod:`pencils.io`), where they are declared.

    >>> as_sympy("1/3"), as_sympy(2)
    (1/3, 2)
    >>> as_sympy("psi", where="size of block 2")
    Traceback (most recent call last):
    ...
    pencils.exceptions.ParseError: size of block 2: cannot parse 'psi': unknown name 'psi'; the declared names are: E, pi (column 1) -- in Python, give SymPy symbols (e.g. pencils.ratio('psi')), not text
    """
    if isinstance(value, str):
        try:
            return parse_number(value, where=where)
        except ParseError as exc:
            raise ParseError(f"{exc} -- in Python, give SymPy symbols (e.g. pencils.ratio('psi')), not text") from None
    try:
        return sp.sympify(value, strict=True)
    except (sp.SympifyError, TypeError) as exc:
        prefix = f"{where}: " if where else ""
        raise ParseError(f"{prefix}cannot use {value!r} as a SymPy expression ({exc})") from None


def substitutions(values, symbols):
    """``{symbol: SymPy value}`` from ``{name or symbol: value}`` (for ``subs`` in the Python API).

    A name given as text must be one of ``symbols``; values go through :func:`as_sympy`.
    """
    by_name = {str(s): s for s in symbols}
    result = {}
    for key, value in dict(values).items():
        if isinstance(key, str):
            if key not in by_name:
                raise ParseError(f"unknown name {key!r}; the symbols are: {', '.join(sorted(by_name)) or 'none'}")
            key = by_name[key]
        else:
            key = as_sympy(key)
        result[key] = as_sympy(value, where=str(key))
    return result
