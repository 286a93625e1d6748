"""The whitelist parser: grammar, exact numbers, limits, and injection attempts through every entry point."""

import decimal
import fractions
import json
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from injections import INJECTIONS

from pencils import GaussianMatrix, ParseError, PencilFormatError, PencilsError, loads, ratio
from pencils.parsing import MAX_DEPTH, MAX_LENGTH, exact_number, names_in, parse_expression, parse_number

z, w = sp.Symbol("z"), sp.Symbol("w")
psi = ratio("psi")
A = GaussianMatrix("A", 1, psi)  # not X: SymPy caches products, and other tests compare their X by identity
NAMES = {"z": z, "w": w, "psi": psi, "A": A}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 + 2*3", sp.Integer(7)),
        ("(1 + 2)*3", sp.Integer(9)),
        ("7 - 2 - 1", sp.Integer(4)),  # left-associative
        ("12/3/2", sp.Integer(2)),
        ("1/3", sp.Rational(1, 3)),
        ("2**3**2", sp.Integer(512)),  # right-associative
        ("(2**3)**2", sp.Integer(64)),
        ("-2**2", sp.Integer(-4)),  # ** binds tighter than the sign
        ("(-2)**2", sp.Integer(4)),
        ("2**-1", sp.Rational(1, 2)),
        ("2**-1**2", sp.Rational(1, 2)),  # 2**(-(1**2))
        ("--3", sp.Integer(3)),
        ("-+-3", sp.Integer(3)),
        ("3 * 10**-2", sp.Rational(3, 100)),
        ("-z**2", sp.Mul(-1, sp.Pow(z, 2))),
        ("z - w - 1", sp.Add(z, sp.Mul(-1, w), -1)),
        ("z / w / 2", sp.Mul(sp.Rational(1, 2), z, sp.Pow(w, -1))),
        ("2*z + 3*z", sp.Mul(5, z)),
        ("z**w**2", sp.Pow(z, sp.Pow(w, 2))),
        ("A.T", A.T),
        ("(A).T", A.T),
        ("A.T.T", A),
        ("A .T", A.T),
        ("-sqrt(psi)*A.T", sp.Mul(-1, sp.Pow(psi, sp.Rational(1, 2)), A.T)),
        ("z*A*w", sp.Mul(z, w, A)),
        ("sqrt(4)", sp.Integer(2)),
        ("sqrt(8)", sp.Mul(2, sp.Pow(2, sp.Rational(1, 2)))),
        ("exp(0) + log(1)", sp.Integer(1)),
        ("log(8, 2)", sp.Integer(3)),
        ("Abs(-3) + abs(-1/2)", sp.Rational(7, 2)),
        ("abs(z)", sp.Abs(z)),
        ("tanh(z) + erf(w)", sp.Add(sp.tanh(z), sp.erf(w))),
        ("sin(z)**2 + cos(z)**2", sp.Add(sp.Pow(sp.sin(z), 2), sp.Pow(sp.cos(z), 2))),
        ("tan(0)", sp.Integer(0)),
        ("I**2", sp.Integer(-1)),
        ("2j*z", sp.Mul(2, sp.I, z)),
        ("0.5J", sp.Mul(sp.Rational(1, 2), sp.I)),
        ("2+0.5j", sp.Add(2, sp.Mul(sp.Rational(1, 2), sp.I))),
        ("0.1", sp.Rational(1, 10)),
        ("1e-3", sp.Rational(1, 1000)),
        ("2.5E+4", sp.Integer(25000)),
        (".5", sp.Rational(1, 2)),
        ("1.", sp.Integer(1)),
        ("007", sp.Integer(7)),
        ("0.1 + 0.2 - 0.3", sp.Integer(0)),  # exact decimals: no binary rounding
        ("1.25e-1j", sp.Mul(sp.Rational(1, 8), sp.I)),
        (" \t( z\n+ 1 ) ", sp.Add(z, 1)),
        ("(2*A*A.T*A).T", 2 * A.T * A * A.T),  # the transpose of a matrix expression (pencils.transpose)
    ],
)
def test_grammar(text, expected):
    value = parse_expression(text, NAMES)
    assert value == expected
    assert not value.atoms(sp.Float)


def test_products_of_matrices_keep_their_order():
    B = GaussianMatrix("B", psi, 1)
    names = {"A": A, "B": B}
    assert parse_expression("A*B", names) == sp.Mul(A, B)
    assert parse_expression("B*A", names) == sp.Mul(B, A)
    assert parse_expression("A*B", names) != parse_expression("B*A", names)
    assert parse_expression("(A).T.T*A.T", names) == sp.Mul(A, A.T)


def test_declared_names_come_first():
    i = sp.Symbol("I")
    assert parse_expression("I", {"I": i}) is i
    assert parse_expression("I", {}) is sp.I
    assert parse_expression("lambda_ + 1", {"lambda_": z}) == z + 1


def test_functions_can_be_replaced():
    f = sp.Function("f")
    assert parse_expression("f(z, 2)", {"z": z}, functions={"f": f}) == f(z, 2)
    with pytest.raises(ParseError, match="'sqrt' is not a function that may be called; the functions are: f"):
        parse_expression("sqrt(z)", {"z": z}, functions={"f": f})


def test_names_in():
    assert names_in("sqrt(psi_n)*A.T + psi_p/psi_n - 2j") == ["psi_n", "A", "psi_p"]
    with pytest.raises(ParseError, match="shape: cannot parse"):
        names_in("psi[0]", where="shape")


@pytest.mark.parametrize(
    "text, message",
    [
        ("z + v", "unknown name 'v'; the declared names are: A, psi, w, z"),
        ("z.T", "z is a scalar: it has no transpose"),
        ("(z + w).T", "has no transpose"),
        (".T", "'.T' needs a matrix before it"),
        ("A.Tx", "attribute access is refused"),
        ("z.real", "attribute access is refused (only '.T', the transpose)"),
        ("2z", "no implicit multiplication"),
        ("2 z", "expected an operator (no implicit multiplication"),
        ("z (w)", "expected an operator"),
        ("1.2.3", "malformed number"),
        ("1e", "malformed number"),
        ("z^2", "write '**' for a power"),
        ("z // 2", "expected a number, a name or '(' before '/'"),
        ("z % 2", "'%' is refused"),
        ("z @ A", "'@' is refused"),
        ("z == w", "'=' is refused"),
        ("z < w", "comparisons are refused"),
        ("z, w", "a comma only separates the arguments of a function call"),
        ("(z, w)", "no tuples"),
        ("sqrt", "sqrt is a function: call it"),
        ("sqrt()", "sqrt() cannot be formed"),
        ("sqrt(1, 2)", "sqrt(1, 2) cannot be formed"),
        ("z(1)", "expected an operator"),
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("()", "empty parentheses"),
        ("(z + 1", "'(' at column 1 is not closed"),
        ("sqrt(z", "'(' at column 5 is not closed"),
        ("z + 1)", "unbalanced ')'"),
        ("z +", "the expression ends too early"),
        ("z * * w", "expected a number, a name or '(' before '*'"),
        ("z/0", "division by zero"),
        ("z/(w - w)", "division by zero"),
        ("0**-1", "division by zero (0 to a negative power)"),
        ("log(0)", "log(0) is not finite"),
        ("1e999999999", "the exponent of the number is larger than"),
        ("1e4001", "a number would have more than 4000 digits"),
        ("1e-4001", "a number would have more than 4000 digits"),
        ("10**10**10", "the power would have more than 4000 digits"),
        ("(2*z)**100000", "the power would have more than 4000 digits"),
        ("10**3000*10**3000", "the product would have more than 4000 digits"),
        ("sqrt(10**1000 + 1)", "a root or a function of a number of more than 300 digits"),
        ("(10**1000 + 1)**(1/2)", "a root or a function of a number of more than 300 digits"),
        ("lambda", "the Python keyword 'lambda' is refused"),
        ("z if w else 1", "expected an operator"),
        ("\u00e9", "unexpected character"),
        ("z\x00", "unexpected character '\\x00'"),
        ("\u0661", "unexpected character"),  # an Arabic-Indic digit is not a digit here
    ],
)
def test_errors(text, message):
    with pytest.raises(ParseError) as info:
        parse_expression(text, NAMES)
    assert message in str(info.value)
    assert isinstance(info.value, PencilFormatError) and isinstance(info.value, ValueError)


def test_error_names_the_place_quotes_the_text_and_shows_the_position():
    with pytest.raises(ParseError) as info:
        parse_expression("z + 2*v", NAMES, where="block (1, 2)")
    first, shown, caret = str(info.value).split("\n")
    assert first.startswith("block (1, 2): cannot parse 'z + 2*v': unknown name 'v'")
    assert first.endswith("(column 7)")
    assert shown == "    z + 2*v"
    assert caret == "          ^"
    assert info.value.position == 6


def test_a_long_text_is_shown_around_the_position():
    text = "z + " * 1000 + "v"
    with pytest.raises(ParseError) as info:
        parse_expression(text, NAMES)
    first, shown, caret = str(info.value).split("\n")
    assert "(4001 characters)" in first and len(first) < 400
    assert shown[caret.index("^")] == "v"


def test_nesting_and_length_limits_are_parse_errors_not_recursion_or_memory_errors():
    assert parse_expression("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH, {}) == 1
    assert parse_expression("-" * MAX_DEPTH + "1", {}) == 1
    for text in [
        "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
        "(" * 5000 + "1" + ")" * 5000,
        "-" * 5000 + "1",
        "2**" * 3000 + "1",
        "sqrt(" * 3000 + "1" + ")" * 3000,
        "-(" * 3000 + "1" + ")" * 3000,
    ]:
        with pytest.raises(ParseError, match=f"nested deeper than {MAX_DEPTH} levels"):
            parse_expression(text, {})
    huge = "1+" * 200_000 + "1"  # 400 kB
    with pytest.raises(ParseError, match=f"longer than {MAX_LENGTH} characters"):
        parse_expression(huge, {})
    long_sum = "+".join(["z"] * 5000)  # below the limit: read in one pass, without recursion
    assert parse_expression(long_sum, NAMES) == 5000 * z


def test_names_with_double_underscores_are_refused_even_when_declared():
    with pytest.raises(ParseError, match="double underscore"):
        parse_expression("__x", {"__x": z})


def test_non_strings_are_refused():
    for value in (1, 0.5, None, b"z", ["z"]):
        with pytest.raises(ParseError, match="expected a string"):
            parse_expression(value, NAMES, where="block (1, 1)")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.1", sp.Rational(1, 10)),
        ("-1/3", sp.Rational(-1, 3)),
        ("1e-3", sp.Rational(1, 1000)),
        ("2+0.5j", 2 + sp.I / 2),
        ("-2.5e-3j", -sp.I / 400),
        ("1 + 2*I", 1 + 2 * sp.I),
        ("sqrt(2)", sp.sqrt(2)),
        ("exp(-1)", sp.exp(-1)),
        ("pi/4", sp.pi / 4),
        ("E", sp.E),
        ("sqrt(-4)", 2 * sp.I),
    ],
)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("z", "unknown name 'z'; the declared names are: E, pi"),
        ("nan", "not a finite number"),
        ("inf", "not a finite number"),
        ("-inf", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("oo", "not a finite number"),
        ("zoo", "not a finite number"),
        ("1/0", "division by zero"),
        ("0.1.", "malformed number"),
    ],
)
def test_parse_number_refuses(text, message):
    with pytest.raises(ParseError, match=message.replace("(", r"\(")):
        parse_number(text, where="--at z")


def test_exact_number_reads_every_type_by_one_rule():
    assert exact_number(0.1) == sp.Rational(1, 10)  # the decimal of the float's repr
    assert exact_number(1 / 3) == sp.Rational(3333333333333333, 10**16)
    assert exact_number(1e-3) == sp.Rational(1, 1000)
    assert exact_number(2.5e300) == 25 * sp.Integer(10) ** 299
    assert exact_number(-0.0) == 0
    assert exact_number(2 - 0.25j) == 2 - sp.I / 4
    assert exact_number(7) == 7 and isinstance(exact_number(7), sp.Integer)
    assert exact_number(np.int64(7)) == 7
    assert exact_number(np.float64(0.1)) == sp.Rational(1, 10)
    assert exact_number(np.complex128(0.1 + 0.2j)) == sp.Rational(1, 10) + sp.I / 5
    assert exact_number(fractions.Fraction(1, 3)) == sp.Rational(1, 3)
    assert exact_number(decimal.Decimal("0.10")) == sp.Rational(1, 10)
    assert exact_number(decimal.Decimal("-1.5e-7")) == sp.Rational(-15, 10**8)
    assert exact_number("0.1") == sp.Rational(1, 10)
    assert exact_number(sp.Rational(2, 3)) == sp.Rational(2, 3)
    assert exact_number(sp.sqrt(2) + sp.I) == sp.sqrt(2) + sp.I
    assert exact_number(sp.Float(0.5)) == sp.Rational(1, 2)
    assert exact_number(sp.Float(0.1)) == sp.Rational(3602879701896397, 2**55)  # its exact binary value
    assert exact_number(mpmath.mpf(0.1)) == sp.Rational(3602879701896397, 2**55)
    assert exact_number(mpmath.mpc(0.5, -2)) == sp.Rational(1, 2) - 2 * sp.I
    for value in (0.1, 1e-3, 2.5e300, 5e-324):  # one rule: the float and its text agree
        assert exact_number(value) == exact_number(repr(value)) == parse_number(repr(value))
    assert all(not exact_number(v).atoms(sp.Float) for v in (0.1, sp.Float(0.1), mpmath.mpf(0.1)))


@pytest.mark.parametrize(
    "value, message",
    [
        (True, "a bool is not a number"),
        (False, "a bool is not a number"),
        (math.nan, "not finite"),
        (math.inf, "not finite"),
        (-math.inf, "not finite"),
        (complex(1, math.nan), "not finite"),
        (np.float64("nan"), "not finite"),
        (decimal.Decimal("NaN"), "not finite"),
        (decimal.Decimal("-Infinity"), "not finite"),
        (decimal.Decimal("1e999999999"), "larger than"),
        (sp.oo, "not finite"),
        (sp.zoo, "not finite"),
        (sp.nan, "not finite"),
        (1 + sp.oo * sp.I, "not finite"),
        (z, "it is not a constant"),
        (sp.Eq(z, 1), "it is not a constant"),
        (mpmath.inf, "not finite"),
        (mpmath.mpf("1e100000"), "digits"),
        (None, "cannot read None"),
        ([1], "cannot read [1]"),
        ("abc", "unknown name 'abc'"),
    ],
)
def test_exact_number_refuses(value, message):
    with pytest.raises(ParseError, match=message.replace("[", r"\[")):
        exact_number(value)


def test_flint_balls_pass_through_unchanged():
    flint = pytest.importorskip("flint")
    ball, complex_ball = flint.arb(1, 0.25), flint.acb(1, 2)
    assert exact_number(ball) is ball
    assert exact_number(complex_ball) is complex_ball


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert list(tmp_path.iterdir()) == []  # no side effect


def test_the_injections_are_live(sandbox):
    """The injection strings do run under an evaluating parser: this is the hole pencils closes."""
    from sympy.parsing.sympy_parser import parse_expr

    with pytest.raises(Exception):
        parse_expr("z + open('F', 'w').close() - 1")
    assert (sandbox / "F").exists()
    (sandbox / "F").unlink()


def _pencil(block="z", variance="1", size="psi"):
    return "\n".join([
        'sizes = ["1", ' + json.dumps(size) + "]",
        "[parameters]",
        'z = "complex"',
        "[matrices.X]",
        'kind = "gaussian"',
        'shape = ["1", "psi"]',
        "variance = " + json.dumps(variance),
        "[blocks]",
        "rows = [[" + json.dumps(block) + ', "X"], ["X.T", "1"]]',
    ])


def test_the_pencil_template_reads():
    pencil = loads(_pencil(block="z - 1/2", variance="2", size="psi"))
    assert pencil.block(1, 1) == z - sp.Rational(1, 2)
    assert pencil.matrices["X"].variance == 2


@pytest.mark.parametrize("text", INJECTIONS)
def test_injections_are_refused_everywhere(text, sandbox):
    with pytest.raises(ParseError):
        parse_expression(text, NAMES)
    with pytest.raises(ParseError):
        parse_number(text)
    with pytest.raises(ParseError):
        exact_number(text)
    with pytest.raises(ParseError, match=r"block \(1, 1\): cannot parse"):
        loads(_pencil(block=text))
    with pytest.raises(ParseError, match="matrix X: variance: cannot parse"):
        loads(_pencil(variance=text))
    with pytest.raises(PencilsError, match="size 2: "):
        loads(_pencil(size=text))
