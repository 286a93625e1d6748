import pytest
import sympy as sp
from reference import dense_fixed_point

from pencils import DysonSystem, GaussianMatrix, Pencil, PencilValidationError, ratio


def same_polynomial(p, q, g):
    """p and q define the same equation in g: equal degree and zero remainder."""
    P, Q = sp.Poly(p, g), sp.Poly(q, g)
    return P.degree() == Q.degree() and sp.simplify(sp.rem(P.as_expr(), Q.as_expr(), g)) == 0


def test_marchenko_pastur_quadratic(textbook, symbols):
    z, psi = symbols["z"], symbols["psi"]
    system = DysonSystem(textbook["marchenko_pastur"])
    g = system.symbols[(1, 1)]
    # textbook: z g^2 - (z + 1 - psi) g + 1 = 0 for g = (1/N) tr (z - X X^T)^{-1}
    assert same_polynomial(system.eliminate().lhs, z * g**2 - (z + 1 - psi) * g + 1, g)
    # and the unreduced equations are the MP fixed point g = 1/(z - psi/(1 - g))
    rhs = system.equations[0].rhs.subs(system.symbols[(2, 2)], system.equations[1].rhs)
    assert sp.simplify(rhs - 1 / (z - psi / (1 - g))) == 0


def test_semicircle_quadratic(textbook, symbols):
    z, s = symbols["z"], symbols["s"]
    system = DysonSystem(textbook["semicircle"])
    g = system.symbols[(1, 1)]
    assert same_polynomial(system.eliminate().lhs, s**2 * g**2 - z * g + 1, g)


def test_wishart_product_cubic(textbook, symbols):
    # (W X)(W X)^T, W: N x phi N, X: phi N x psi N. From S-transforms (free multiplicative
    # convolution of two Marchenko-Pastur laws), with y = z g - 1:
    #   z y = (phi + y)(1 + y)(psi + y)    <=>    g (z g + phi - 1)(z g + psi - 1) - z g + 1 = 0
    z, phi, psi = symbols["z"], symbols["phi"], symbols["psi"]
    system = DysonSystem(textbook["wishart_product"])
    g = system.symbols[(1, 1)]
    cubic = g * (z * g + phi - 1) * (z * g + psi - 1) - z * g + 1
    assert same_polynomial(system.eliminate().lhs, cubic, g)
    y = z * g - 1
    assert sp.expand(z * y - (phi + y) * (1 + y) * (psi + y) + z * cubic) == 0


def test_elimination_of_a_target_that_is_not_an_unknown(textbook, symbols):
    """g22 of the Wishart product is a formula in the unknowns: its formula joins the ideal, and the
    polynomial vanishes at the value of an independent dense fixed point (tests/reference.py)."""
    z, phi, psi = symbols["z"], symbols["phi"], symbols["psi"]
    system = DysonSystem(textbook["wishart_product"], target=(2, 2))
    assert (2, 2) not in system.unknowns
    g = system.symbols[(2, 2)]
    polynomial = system.eliminate().lhs
    assert sp.Poly(polynomial, g).degree() == 3
    at = {"phi": "1/2", "psi": "2"}
    G = dense_fixed_point(textbook["wishart_product"], complex(0.3, 1), at)
    g22 = sp.Float(G[1, 1].real, 40) + sp.I * sp.Float(G[1, 1].imag, 40)
    value = polynomial.subs({phi: sp.Rational(1, 2), psi: 2, z: sp.Rational(3, 10) + sp.I, g: g22})
    assert abs(complex(sp.N(value, 30))) < 1e-25


def test_ridge_is_marchenko_pastur_at_minus_lambda(textbook, symbols):
    lam, psi, z = symbols["lam"], symbols["psi"], symbols["z"]
    system = DysonSystem(textbook["ridge"])
    r = system.symbols[(1, 1)]
    mp = (z * r**2 - (z + 1 - psi) * r + 1).subs({z: -lam, r: -r})
    assert same_polynomial(system.eliminate().lhs, mp, r)


def test_target_not_an_unknown():
    z, psi = sp.Symbol("z"), ratio("psi")
    X = GaussianMatrix("X", 1, psi)
    system = DysonSystem(Pencil([[z, X], [X.T, 1]], [1, psi], [z]), target=(2, 2))
    assert system.targets == ((2, 2),)
    system = DysonSystem(Pencil([[z, X, 0], [X.T, 1, 0], [0, 0, 1]], [1, psi, psi], [z]), target=[(1, 1), (3, 3)])
    assert system.target_formulas[(3, 3)] == 1


def test_names_and_errors(textbook):
    system = DysonSystem(textbook["marchenko_pastur"], names={(1, 1): "q", "g22": "r"})
    assert [str(eq.lhs) for eq in system.equations] == ["q", "r"]
    with pytest.raises(PencilValidationError, match="same name"):
        DysonSystem(textbook["marchenko_pastur"], names={"g11": "q", "g22": "q"})
    with pytest.raises(PencilValidationError, match="clash"):
        DysonSystem(textbook["marchenko_pastur"], names={"g11": "psi"})
    with pytest.raises(PencilValidationError, match="no unknown or target named g33"):
        DysonSystem(textbook["marchenko_pastur"], names={"g33": "q"})


def test_subs(textbook, symbols):
    system = DysonSystem(textbook["marchenko_pastur"]).subs({symbols["psi"]: sp.Rational(1, 2)})
    g = system.symbols[(1, 1)]
    z = symbols["z"]
    assert same_polynomial(system.eliminate().lhs, z * g**2 - (z + sp.Rational(1, 2)) * g + 1, g)
    assert set(system.parameters) == {z}
