"""Tests of :mod:`pencils.deterministic`: deterministic matrices with a spectral law.

Expected values come from equations written and solved here independently
(``mpmath.findroot`` at 60-80 digits, never pencils): the Silverstein equation
of a sample covariance with a general population spectrum and the Pastur
equation of a deformed Wigner matrix; and from Monte Carlo with stated
tolerances (``|mean - theory| <= 4 se + BIAS/N``, see tests/test_montecarlo.py).
"""

import mpmath
import pytest
import sympy as sp

from pencils import (
    DysonSystem, EliminationError, GaussianMatrix, PencilValidationError, SpectralLaw, WignerMatrix, dumps, linearize, loads, ratio,
    solve,
)
from pencils.montecarlo import monte_carlo
from reference import complex_value, exact

z, psi = sp.Symbol("z"), ratio("psi")
BIAS = 1.0

LAWS = {
    "two atoms": ([("0.3", 4), ("0.7", 1)]),
    "three atoms": ([("0.2", "0.5"), ("0.5", 1), ("0.3", 3)]),
    "empirical, 40 eigenvalues in [1, 3]": [(sp.Rational(1, 40), 1 + sp.Rational(2 * k + 1, 40)) for k in range(40)],
}


def silverstein(z_value, psi_value, law, dps=80):
    """``(1/d) E tr (z - S^{1/2} X X^T S^{1/2})^{-1}`` from the Silverstein equation, independently.

    With ``X: d x n`` of variance ``1/d`` entries and ``n = psi d``, ``X X^T = psi S'`` where
    ``S'`` is the sample covariance ``(1/n) Z Z^T`` of ratio ``gamma = d/n = 1/psi``; its
    Stieltjes transform ``m(zeta) = (1/d) tr (S' - zeta)^{-1}`` solves (Silverstein 1995)
    ``m = sum_k w_k / (t_k (1 - gamma - gamma zeta m) - zeta)``, and
    ``g(z) = -(1/psi) m(z/psi)``.
    """
    with mpmath.workdps(dps):
        weights = [exact(w) for w, _ in law]
        atoms = [exact(v) for _, v in law]
        psi_m = exact(psi_value)
        zeta = complex_value(z_value) / psi_m
        gamma = 1 / psi_m

        def F(m):
            return m - sum(w / (t * (1 - gamma - gamma * zeta * m) - zeta) for w, t in zip(weights, atoms))

        # the Stieltjes branch: m ~ -1/zeta at infinity; continue from far away along zeta * s
        m = -1 / (zeta * 64)
        for s in [64, 32, 16, 8, 4, 2, 1.5, 1.25, 1]:
            point = zeta * s
            m = mpmath.findroot(lambda x: x - sum(w / (t * (1 - gamma - gamma * point * x) - point)
                                                 for w, t in zip(weights, atoms)), m)
        m = mpmath.findroot(F, m)
        if mpmath.im(zeta) > 0:
            assert mpmath.im(m) > 0
        return -m / psi_m


def pastur(z_value, s_value, law, dps=80):
    """``(1/N) E tr (z - W - D)^{-1}``, W Wigner of variance ``s^2/N``: ``g = sum_k w_k / (z - d_k - s^2 g)``."""
    with mpmath.workdps(dps):
        weights = [exact(w) for w, _ in law]
        atoms = [exact(v) for _, v in law]
        s2 = exact(s_value) ** 2
        zc = complex_value(z_value)
        g = 1 / (zc * 64)
        for scale in [64, 32, 16, 8, 4, 2, 1.5, 1.25, 1]:
            point = zc * scale
            g = mpmath.findroot(lambda x: x - sum(w / (point - d - s2 * x) for w, d in zip(weights, atoms)), g)
        return g


def anisotropic(law):
    H = SpectralLaw.atoms(law)
    S = H.matrix("Sigma", 1)
    X = GaussianMatrix("X", 1, psi)
    return linearize((z - sp.sqrt(S) * X * X.T * sp.sqrt(S)) ** -1)


@pytest.mark.parametrize("name", list(LAWS))
@pytest.mark.parametrize("z_value, psi_value", [(-1, "0.5"), ("0.5+1j", "0.5"), (-1, 2), ("2+0.5j", 2)])
def test_anisotropic_marchenko_pastur_against_silverstein(name, z_value, psi_value):
    law = LAWS[name]
    lin = anisotropic(law)
    system = DysonSystem(lin.pencil, target=lin.block)
    solution = solve(system, {"z": z_value, "psi": psi_value}, dps=50)
    expected = silverstein(z_value, psi_value, law)
    with mpmath.workdps(60):
        assert abs(solution.value - expected) <= mpmath.mpf(10) ** -40 * max(1, abs(expected))
    assert solution.certified_digits() >= 40


def test_the_equations_are_an_average_over_the_law():
    lin = anisotropic(LAWS["two atoms"])
    equations = DysonSystem(lin.pencil, target=lin.block).equations
    text = " ".join(map(str, equations))
    assert "7/(10*" in text and "6/(5*" in text      # weights 7/10 (eigenvalue 1) and 3/10 * 4 (eigenvalue 4)
    many = anisotropic(LAWS["empirical, 40 eigenvalues in [1, 3]"])
    equations = DysonSystem(many.pencil, target=many.block).equations
    assert any(eq.rhs.has(sp.Sum) for eq in equations)
    with pytest.raises(EliminationError, match="indexed sum"):
        DysonSystem(many.pencil, target=many.block).eliminate()


@pytest.mark.parametrize("z_value", ["0.3+0.8j", -4, 5])
def test_deformed_semicircle_against_pastur(z_value):
    s = sp.Symbol("s", positive=True)
    law = [("0.25", -1), ("0.5", "0.5"), ("0.25", 2)]
    D = SpectralLaw.atoms(law, name="D").matrix("D", 1)
    W = WignerMatrix("W", 1, variance=s**2)
    lin = linearize((z - W - D) ** -1)
    assert lin.blocks == 1
    solution = solve(DysonSystem(lin.pencil, target=lin.block), {"z": z_value, "s": "0.7"}, dps=50)
    expected = pastur(z_value, "0.7", law)
    with mpmath.workdps(60):
        assert abs(solution.value - expected) <= mpmath.mpf(10) ** -40 * max(1, abs(expected))
    assert solution.certified_digits() >= 40


@pytest.mark.parametrize("basis", ["haar", "diagonal"])
def test_monte_carlo_agrees(basis):
    lin = anisotropic(LAWS["two atoms"])
    at = {"z": "0.5+1j", "psi": "0.5"}
    theory = complex(solve(DysonSystem(lin.pencil, target=lin.block), at).value)
    N = 300
    result = monte_carlo(lin.pencil, at, N=N, seeds=8, targets=[lin.block], basis=basis)
    mean, se = result.mean[lin.block], result.stderr[lin.block]
    assert abs(mean - theory) <= 4 * se + BIAS / N


def test_a_pencil_file_round_trip_keeps_the_law():
    lin = anisotropic(LAWS["three atoms"])
    text = dumps(lin.pencil)
    assert 'kind = "deterministic"' in text and "[laws.Sigma]" in text
    again = loads(text)
    assert again == lin.pencil and list(again.laws.values())[0] == SpectralLaw.atoms(LAWS["three atoms"])


@pytest.mark.parametrize("weights, values, message", [
    (["0.5", "0.6"], {"S": [1, 2]}, "sum to 11/10"),
    (["-0.5", "1.5"], {"S": [1, 2]}, "negative weight"),
    (["0.5", "0.5"], {"S": [1]}, "1 eigenvalues for 2 weights"),
    (["1"], {"S": ["1+1j"]}, "must be real"),
    ([], {"S": []}, "at least one atom"),
])
def test_bad_laws_are_refused(weights, values, message):
    with pytest.raises(PencilValidationError, match=message):
        SpectralLaw(weights, values)


def test_non_linear_and_non_commuting_uses_are_refused():
    from pencils import Pencil

    S = SpectralLaw.atoms([(1, 2)]).matrix("Sigma", 1)
    T = SpectralLaw.atoms([(1, 3)], name="T").matrix("T", 1)
    X = GaussianMatrix("X", 1, psi)
    with pytest.raises(PencilValidationError, match="not linear"):
        Pencil([[z, S * X], [X.T, 1]], [1, psi], [z])
    with pytest.raises(PencilValidationError, match="two different spectral laws"):
        Pencil([[z - S - T, X], [X.T, 1]], [1, psi], [z])
    with pytest.raises(PencilValidationError, match="Sigma is 1 x 1 but the block is psi x psi"):
        Pencil([[z, X], [X.T, 1 + S]], [1, psi], [z])


def test_a_joint_family_commutes():
    H = SpectralLaw([sp.Rational(1, 2), sp.Rational(1, 2)], {"A": [1, 2], "B": [3, 5]})
    A, B = H.matrix("A", 1), H.matrix("B", 1)
    lin = linearize((z - A * B) ** -1)
    # A B has the eigenvalues 1 * 3 and 2 * 5, each on half the space
    value = solve(DysonSystem(lin.pencil, target=lin.block), {"z": 11}).value
    with mpmath.workdps(40):
        assert abs(value - (mpmath.mpf(1) / 16 + mpmath.mpf(1) / 2)) < mpmath.mpf(10) ** -28


@pytest.mark.parametrize("psi_value", ["3/2", "1/2"])
def test_anisotropic_ridge_bias_and_variance_against_the_deterministic_equivalent(psi_value):
    """``B/r^2 = lam^2 tau(R Sigma R)``, ``V/sigma^2 = tau(R Sigma R S_hat)/psi`` against the equivalent
    ``kappa - lam = kappa (1/n) tr Sigma (Sigma + kappa)^{-1}``, ``B/r^2 = kappa^2 (1/p) tr Sigma (Sigma + kappa)^{-2}
    / (1 - df2/n)``, ``V/sigma^2 = (df2/n) / (1 - df2/n)``, ``df2 = tr Sigma^2 (Sigma + kappa)^{-2}``."""
    from pencils import trace

    lam = sp.Symbol("lam", positive=True)
    law = [("0.3", 4), ("0.7", 1)]
    Sigma = SpectralLaw.atoms(law).matrix("Sigma", 1)
    X = GaussianMatrix("X", 1, psi, variance=1 / psi)
    S_hat = sp.sqrt(Sigma) * X * X.T * sp.sqrt(Sigma)
    R = (S_hat + lam) ** -1
    at = {"lam": "1/2", "psi": psi_value}
    bias = trace(lam**2 * R * Sigma * R, at, dps=50)
    variance = trace(R * Sigma * R * S_hat, at, dps=50)
    with mpmath.workdps(80):
        w, s = [exact(a) for a, _ in law], [exact(b) for _, b in law]
        lv, p = exact("1/2"), exact(psi_value)
        kappa = mpmath.findroot(lambda k: k - lv - k * sum(a * b / (b + k) for a, b in zip(w, s)) / p, 1)
        df2 = sum(a * b**2 / (b + kappa) ** 2 for a, b in zip(w, s)) / p
        expected_bias = kappa**2 * sum(a * b / (b + kappa) ** 2 for a, b in zip(w, s)) / (1 - df2)
        expected_variance = df2 / (1 - df2)
        assert abs(bias.value - expected_bias) < mpmath.mpf(10) ** -40
        assert abs(variance.value / p - expected_variance) < mpmath.mpf(10) ** -40
    assert bias.certified_digits >= 40 and variance.certified_digits >= 40
