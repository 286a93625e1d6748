import pytest
import sympy as sp

from derivations.textbook import NAMES, path
from pencils import GaussianMatrix, Pencil, PencilFormatError, PencilValidationError, dumps, load, loads, ratio, save


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
        ('sizes = ["1"]\n[blocks]\nrows = [["z"]]\nextra = 1\n', None),
        ('sizes = ["1"]\nfoo = 1\n[blocks]\nrows = [["z"]]\n', "unknown key(s) foo"),
        ('[blocks]\nrows = [["1"]]\n', "missing 'sizes'"),
        ('sizes = ["1"]\n[parameters]\nz = "imaginary"\n[blocks]\nrows = [["z"]]\n', "parameter z: domain 'imaginary'"),
        ('sizes = ["1"]\n[blocks]\nrows = [["z +* 2"]]\n', "block (1, 1): cannot parse"),
        ('sizes = ["1"]\n[matrices.W]\nkind = "band"\n[blocks]\nrows = [["W"]]\n', "matrix W: kind 'band'"),
        ('sizes = ["1"]\n[matrices.X]\nkind = "gaussian"\n[blocks]\nrows = [["X"]]\n', "needs shape = [rows, cols]"),
        ('sizes = ["1"]\n[blocks]\ncols = 1\n', "[blocks] needs rows"),
    ],
)
def test_format_errors(text, message):
    if message is None:  # a stray key inside [blocks] is not an error of the format: rows is read
        with pytest.raises(PencilValidationError, match="symbol"):
            loads(text)
        return
    with pytest.raises(PencilFormatError, match=pytest.importorskip("re").escape(message)):
        loads(text)


def test_undeclared_name_is_a_validation_error():
    text = 'sizes = ["1"]\n[parameters]\nz = "complex"\n[blocks]\nrows = [["z - w"]]\n'
    with pytest.raises(PencilValidationError, match="block \\(1, 1\\): symbol\\(s\\) w neither"):
        loads(text)


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "bad.pencil"
    bad.write_text("sizes = [")
    with pytest.raises(PencilFormatError, match="bad.pencil: not valid TOML"):
        load(bad)
