import re
from pathlib import Path

import pytest
import sympy as sp

from pencils.examples import NAMES, path
from pencils import (
    GaussianMatrix, ParseError, Pencil, PencilFormatError, PencilValidationError, WignerMatrix, dumps, load, loads,
    ratio, save,
)

DSM_PENCILS = sorted((Path(__file__).parents[1] / "derivations" / "dsm").glob("*.pencil"))


@pytest.mark.parametrize("name", NAMES)
def test_textbook_round_trip(name):
    text = path(name).read_text()
    pencil = loads(text)
    assert dumps(pencil) == text  # the file is exactly what the writer produces
    assert loads(dumps(pencil)) == pencil


def test_save_and_load(tmp_path):
    z, lam = sp.Symbol("z"), sp.Symbol("lam", positive=True)
    t = sp.Symbol("t", real=True)
    psi = ratio("psi")
    X = GaussianMatrix("X", 1, psi, variance=sp.Rational(1, 3))
    L = Pencil([[z + lam, sp.sqrt(psi) * X], [X.T, -t]], [1, psi], [z, lam, t], spaces=["d", "n"],
               name="demo", description='quotes " and \\ backslashes')
    save(L, tmp_path / "demo.pencil")
    back = load(tmp_path / "demo.pencil")
    assert back == L
    assert [p.is_positive for p in back.parameters] == [None, True, None]
    assert back.parameters[2].is_real
    assert back.description == L.description and back.space_labels == ("d", "n")


@pytest.mark.parametrize(
    "text, message",
    [
        ("sizes = [", "not valid TOML"),
        ('sizes = ["1"]\n[blocks]\nrows = [["1"]]\nextra = 1\n', "[blocks]: unknown key(s) extra"),
        ('sizes = ["1"]\nfoo = 1\n[blocks]\nrows = [["z"]]\n', "unknown key(s) foo"),
        ('[blocks]\nrows = [["1"]]\n', "missing 'sizes'"),
        ('sizes = ["1"]\n[parameters]\nz = "imaginary"\n[blocks]\nrows = [["z"]]\n', "parameter z: domain 'imaginary'"),
        ('sizes = ["1"]\n[blocks]\nrows = [["z +* 2"]]\n', "block (1, 1): cannot parse"),
        ('sizes = ["1"]\n[matrices.W]\nkind = "band"\n[blocks]\nrows = [["W"]]\n', "matrix W: kind 'band'"),
        ('sizes = ["1"]\n[matrices.X]\nkind = "gaussian"\n[blocks]\nrows = [["X"]]\n', "needs shape = [rows, cols]"),
        ('sizes = ["1"]\n[blocks]\ncols = 1\n', "[blocks]: unknown key(s) cols"),
        ('sizes = ["1"]\n[blocks]\n', "[blocks] needs rows"),
        ('sizes = ["1"]\nblocks = 1\n', "[blocks] must be a table"),
    ],
)
def test_format_errors(text, message):
    with pytest.raises(PencilFormatError, match=re.escape(message)):
        loads(text)


def test_undeclared_name_is_an_error_that_lists_the_declared_names():
    text = 'sizes = ["1"]\n[parameters]\nz = "complex"\n[blocks]\nrows = [["z - w"]]\n'
    with pytest.raises(ParseError, match=r"block \(1, 1\): cannot parse 'z - w': unknown name 'w'; the declared names are: E, pi, z"):
        loads(text)


def _pencil(variance='"1"', block='"z"', sizes='["1", "psi"]', shape='["1", "psi"]', parameters='z = "complex"',
            extra=""):
    """A Marchenko-Pastur pencil file with one entry replaced (TOML values, written as they stand in the file)."""
    return (
        f"sizes = {sizes}\n[parameters]\n{parameters}\n[matrices.X]\nkind = \"gaussian\"\nshape = {shape}\n"
        f"variance = {variance}\n{extra}[blocks]\nrows = [[{block}, \"X\"], [\"X.T\", \"1\"]]\n"
    )


def test_the_pencil_template_reads():
    pencil = loads(_pencil(variance='"s**2/2"', parameters='z = "complex"\ns = "positive"'))
    assert pencil.matrices["X"].variance == sp.Symbol("s", positive=True) ** 2 / 2
    assert pencil.block(1, 1) == sp.Symbol("z")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"variance": '"1+2j"'}, PencilFormatError, "matrix X: variance 1 + 2*I is not real"),
        ({"variance": '"I"'}, PencilFormatError, "matrix X: variance I is not real"),
        ({"variance": '"z"'}, PencilFormatError, "matrix X: variance z is not real; a variance is real and positive"),
        ({"variance": '"s"'}, ParseError, "matrix X: variance: cannot parse 's': unknown name 's'; the declared names are: E, pi, psi, z"),
        ({"variance": '"X"'}, ParseError, "matrix X: variance: cannot parse 'X': unknown name 'X'"),
        ({"variance": '"-1"'}, PencilValidationError, "variance of X must be positive"),
        ({"variance": "1"}, PencilFormatError, "matrix X: variance: expected a string, got 1 (int)"),
        ({"variance": "0.5"}, PencilFormatError, "matrix X: variance: expected a string, got 0.5 (float)"),
        ({"block": "1"}, PencilFormatError, "block (1, 1): expected a string, got 1 (int)"),
        ({"block": "true"}, PencilFormatError, "block (1, 1): expected a string, got True (bool)"),
        ({"block": '["z"]'}, PencilFormatError, "block (1, 1): expected a string, got ['z']"),
        ({"sizes": '[1, "psi"]'}, PencilFormatError, "sizes (1): expected a string, got 1 (int)"),
        ({"sizes": '"1"'}, PencilFormatError, "sizes: expected a list of strings, got '1'"),
        ({"shape": '["1", 2]'}, PencilFormatError, "matrix X: shape (2): expected a string, got 2 (int)"),
        ({"shape": '["1", "psi", "1"]'}, PencilFormatError, "needs shape = [rows, cols]"),
        ({"parameters": 'z = ["complex"]'}, PencilFormatError, "parameter z: domain ['complex'] is not one of"),
        ({"parameters": 'z = 1'}, PencilFormatError, "parameter z: domain 1 is not one of"),
        ({"parameters": '"a b" = "real"\nz = "complex"'}, PencilFormatError, "parameter 'a b': a name is an ASCII identifier"),
        ({"parameters": 'sqrt = "real"\nz = "complex"'}, PencilFormatError, "parameter 'sqrt': a name is"),
        ({"parameters": 'z = "complex"\nX = "real"'}, PencilFormatError, "matrix X: the name is already a parameter"),
        ({"sizes": '["1", "X"]'}, PencilFormatError, "size 2: X is a matrix, not a ratio"),
        ({"sizes": '["1", "sqrt"]'}, ParseError, "size 2: cannot parse 'sqrt': sqrt is a function: call it"),
        ({"sizes": '["1", "psi[0]"]'}, ParseError, "size 2: cannot parse 'psi[0]': subscripts and lists are refused"),
        ({"sizes": '["1", "psi"]', "shape": '["1", "psi**"]'}, ParseError, "matrix X: shape: cannot parse 'psi**'"),
        ({"extra": 'varience = "2"\n'}, PencilFormatError, "matrix X: unknown key(s) varience; expected kind, shape, variance"),
        ({"extra": 'size = "1"\n'}, PencilFormatError, "matrix X: unknown key(s) size"),
        ({"block": '"z + " + "+".join(1)'}, PencilFormatError, "not valid TOML"),
        ({"block": '"' + "z" + "+1" * 200_000 + '"'}, ParseError, "block (1, 1): cannot parse 'z+1+1+1"),
        ({"block": '"' + "(" * 5000 + "z" + ")" * 5000 + '"'}, ParseError, "block (1, 1): cannot parse"),
        ({"block": '"z.T"'}, ParseError, "block (1, 1): cannot parse 'z.T': z is a scalar: it has no transpose"),
    ],
)
def test_bad_entries_name_the_place(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        loads(_pencil(**kwargs))


def test_a_huge_coefficient_is_refused_by_its_length():
    with pytest.raises(ParseError, match=r"block \(1, 1\): cannot parse .* longer than 20000 characters \(400001\)"):
        loads(_pencil(block='"' + "z" + "+1" * 200_000 + '"'))


def test_loads_wants_text():
    with pytest.raises(PencilFormatError, match=r"loads reads the text \(str\) of a pencil file, got bytes"):
        loads(path("semicircle").read_bytes())


def test_a_non_utf8_file_names_the_file_and_the_byte(tmp_path):
    data = path("semicircle").read_bytes().replace(b"Resolvent", b"R\xe9solvent")
    bad = tmp_path / "latin1.pencil"
    bad.write_bytes(data)
    offset = data.index(b"\xe9")
    with pytest.raises(PencilFormatError, match=re.escape(f"latin1.pencil: not UTF-8 text: byte {offset} (line 2) is b'\\xe9'")):
        load(bad)
    bad.write_bytes(data.replace(b"R\xe9solvent", "Résolvent".encode()))
    assert load(bad) == load(path("semicircle"))


def test_load_names_the_file_of_a_parse_error(tmp_path):
    bad = tmp_path / "bad.pencil"
    bad.write_text(_pencil(block='"z + __import__(1)"'))
    with pytest.raises(ParseError, match=r"bad.pencil: block \(1, 1\): cannot parse 'z \+ __import__\(1\)': a name with a double underscore"):
        load(bad)


@pytest.mark.parametrize("file", DSM_PENCILS, ids=lambda p: p.stem)
def test_dsm_round_trip(file):
    pencil = load(file)
    back = loads(dumps(pencil))
    assert back == pencil
    assert back.blocks == pencil.blocks
    assert dumps(back) == dumps(pencil)


def test_dsm_pencils_exist():
    assert len(DSM_PENCILS) == 8  # m = 1, m = inf, replicated m and its fresh-noise form; isotropic and structured


def test_round_trip_of_printed_coefficients():
    z, t = sp.Symbol("z"), sp.Symbol("t", real=True)
    psi, phi = ratio("psi"), ratio("phi")
    X = GaussianMatrix("X", 1, psi, variance=sp.sqrt(2) / 3)
    W = WignerMatrix("W", phi, variance=sp.exp(-t) + sp.pi * t**2)
    L = Pencil(
        [
            [2 * sp.I * z + sp.Rational(1, 2) * t**3, -sp.sqrt(psi) * X, 0],
            [-sp.sqrt(psi) * X.T / 3, sp.E - 5 * sp.I / 7 + sp.Abs(t), 0],
            [0, 0, (z - 1) ** -2 * W + sp.erf(t) - sp.tanh(t) * sp.log(psi) + sp.Rational(-3, 4)],
        ],
        [1, psi, phi],
        [z, t],
    )
    text = dumps(L)
    for printed in ("-sqrt(psi)*X.T/3", "2*I*z", "t**3/2", "sqrt(2)/3", "exp(-t)", "Abs(t)", "E", "pi", " - 3/4"):
        assert printed in text
    back = loads(text)
    assert back == L
    assert back.blocks == L.blocks
    assert [m.variance for m in back.matrices.values()] == [m.variance for m in L.matrices.values()]


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "bad.pencil"
    bad.write_text("sizes = [")
    with pytest.raises(PencilFormatError, match="bad.pencil: not valid TOML"):
        load(bad)


def test_the_format_specification_shows_a_file_that_loads():
    """docs/file_format.md quotes an example file verbatim: it must be that file and load."""
    from pathlib import Path

    from pencils import loads

    docs = (Path(__file__).resolve().parents[1] / "docs" / "file_format.md").read_text()
    quoted = docs.split("`pencils/examples/wishart_average.pencil`:\n\n```toml\n")[1].split("```")[0]
    assert quoted == path("wishart_average").read_text()
    assert loads(quoted).replicas is not None
