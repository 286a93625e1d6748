import re

import pytest
import sympy as sp

from injections import INJECTIONS
from pencils import GaussianMatrix, Pencil, PencilValidationError, PencilsError, WignerMatrix, ratio

z = sp.Symbol("z")
psi, phi = ratio("psi"), ratio("phi")
X = GaussianMatrix("X", 1, psi)
Y = GaussianMatrix("Y", 1, psi)


def test_terms_and_identity_part():
    L = Pencil([[z, 2 * X + z * X], [X.T, 1]], [1, psi], [z])
    (term,) = L.terms[(0, 1)]
    # == not is: SymPy's cache may hand back an equal X created by another test (same declaration, same matrix)
    assert term.matrix == X and term.matrix.same_declaration(X) and sp.simplify(term.coefficient - (2 + z)) == 0
    assert L.identity_part() == sp.Matrix([[z, 0], [0, 1]])
    assert L.k == 2 and L.block(2, 1) == X.T
    assert L.ratios == (psi,)


@pytest.mark.parametrize(
    "blocks, sizes, parameters, kwargs, message",
    [
        ([[z, X], [X.T]], [1, psi], [z], {}, "the pencil must be square (k x k blocks): row 2 has 1 blocks, expected 2"),
        ([[z, X], [X.T, 1]], [1], [z], {}, "1 sizes given for 2 blocks per row"),
        ([[z, X * Y.T], [X.T, 1]], [1, psi], [z], {}, "block (1, 2): X*Y.T is not linear in the random matrices (a product of X, Y.T)"),
        ([[z - WignerMatrix("W", 1) ** 2]], [1], [z], {}, "block (1, 1): W**2 is not linear in the random matrices (a power of W)"),
        ([[sp.exp(WignerMatrix("W", 1))]], [1], [z], {}, "block (1, 1): exp(W) is not linear in the random matrices (a random matrix inside a function or coefficient)"),
        ([[z, X.T], [X, 1]], [1, psi], [z], {}, "block (1, 2): X.T has shape psi x 1 but the block is 1 x psi"),
        ([[z, 1], [X.T, 1]], [1, psi], [z], {}, "block (1, 2): identity term 1 between blocks of different sizes 1 and psi"),
        ([[z, X], [X.T, sp.Symbol("w")]], [1, psi], [z], {}, "block (2, 2): symbol(s) w neither a declared parameter nor a ratio"),
        ([[z, X], [X.T, 1]], [1, -psi], [z], {}, "size of block 2 must be a positive ratio"),
        ([[z, X], [GaussianMatrix("X", psi, 2).T * 0 + X.T, 1]], [1, psi], [z], {"spaces": ["a"]}, "1 space labels given for 2 blocks"),
    ],
)
def test_validation_rules(blocks, sizes, parameters, kwargs, message):
    with pytest.raises(PencilValidationError, match=re.escape(message)):
        Pencil(blocks, sizes, parameters, **kwargs)


def test_identity_between_declared_spaces():
    with pytest.raises(
        PencilValidationError,
        match=re.escape("block 1 (space 'd') and block 2 (space 'p') are forced into one space by an identity term at (1, 2)"),
    ):
        Pencil([[z, 1], [1, 1]], [1, 1], [z], spaces=["d", "p"])


def test_matrix_joining_declared_spaces():
    W = GaussianMatrix("W", 1, 1)
    with pytest.raises(PencilValidationError, match=re.escape("block 1 (space 'p') and block 2 (space 'd') are forced into one space by W at (1, 2), W at (3, 3)")):
        Pencil([[z, W, 0], [W.T, 1, 0], [0, 0, W]], [1, 1, 1], [z], spaces=["p", "d", "q"])


def test_matrix_declared_twice():
    X2 = GaussianMatrix("X", 1, psi, variance=2)
    with pytest.raises(PencilValidationError, match="matrix X is declared twice"):
        Pencil([[z, X], [X2.T, 1]], [1, psi], [z])


def test_variance_symbols_must_be_declared():
    s = sp.Symbol("s", positive=True)
    W = WignerMatrix("W", 1, s**2)
    with pytest.raises(PencilValidationError, match="variance of W: symbol"):
        Pencil([[z - W]], [1], [z])
    assert Pencil([[z - W]], [1], [z, s]).parameters == (z, s)


def test_parameter_must_be_scalar_symbol():
    with pytest.raises(PencilValidationError, match="parameter X is not a scalar symbol"):
        Pencil([[z]], [1], [z, X])


def test_subs_and_equality():
    s = sp.Symbol("s", positive=True)
    W = WignerMatrix("W", 1, s**2)
    L = Pencil([[z - W]], [1], [z, s])
    assert L.subs({s: 1}) == Pencil([[z - WignerMatrix("W", 1, 1)]], [1], [z])
    assert L != Pencil([[z + W]], [1], [z, s])


@pytest.mark.parametrize("text", INJECTIONS[:10])
def test_injections_through_the_python_api_are_refused(text, tmp_path, monkeypatch):
    """Strings given to the Python API go through the whitelist parser, never through sympify."""
    from pencils import DysonSystem, solve

    monkeypatch.chdir(tmp_path)
    with pytest.raises(PencilsError):
        Pencil([[text, X], [X.T, 1]], [1, psi], [z])
    with pytest.raises(PencilsError):
        Pencil([[z, X], [X.T, 1]], [1, text], [z])
    with pytest.raises(PencilsError):
        GaussianMatrix("V", text, psi)
    L = Pencil([[z, X], [X.T, 1]], [1, psi], [z])
    with pytest.raises(PencilsError):
        L.subs({"psi": text})
    system = DysonSystem(L)
    with pytest.raises(PencilsError):
        system.subs({"psi": text})
    with pytest.raises(PencilsError):
        solve(system, {"z": text, "psi": "0.5"})
    assert list(tmp_path.iterdir()) == []  # no side effect: nothing was evaluated
