"""Tests of spectral laws given by a density (:meth:`pencils.SpectralLaw.density`, :mod:`pencils.quadrature`).

Expected values are computed here, independently of pencils' quadrature:

* anisotropic Marchenko–Pastur with a population spectrum uniform on ``[1, 3]``:
  the Silverstein equation with the integral over the uniform law in closed
  form (a logarithm), solved with ``mpmath.findroot`` at 80 digits;
* a Wigner matrix plus a deterministic matrix with the semicircle law: the free
  convolution of two semicircles is a semicircle of variance ``1 + s^2``, whose
  Stieltjes transform is explicit;
* Monte Carlo with a stated tolerance (``|mean - theory| <= 4 se + BIAS/N``, as in
  tests/test_deterministic.py).
"""

import mpmath
import pytest
import sympy as sp

from pencils import (
    DysonSystem, EliminationError, GaussianMatrix, ParseError, PencilFormatError,
    PencilValidationError, SpectralLaw, WignerMatrix, dumps, linearize, loads, ratio, solve,
)
from pencils.latex import system_latex
from pencils.montecarlo import monte_carlo
from reference import complex_value, exact

z, psi = sp.Symbol("z"), ratio("psi")
BIAS = 1.0
LOW, HIGH = 1, 3          # the population spectrum: uniform on [LOW, HIGH]


def silverstein_uniform(z_value, psi_value, dps=80):
    """``(1/d) E tr (z - S^{1/2} X X^T S^{1/2})^{-1}`` for ``S`` with eigenvalues uniform on ``[LOW, HIGH]``.

    As in tests/test_deterministic.py: ``g(z) = -(1/psi) m(z/psi)`` where the Stieltjes transform
    ``m`` of the sample covariance of ratio ``gamma = 1/psi`` solves ``m = int dH(t) / (t A - zeta)``,
    ``A = 1 - gamma - gamma zeta m``. For ``H`` uniform the integral is elementary:
    ``int_LOW^HIGH dt / ((HIGH - LOW)(t A - zeta)) = log((HIGH A - zeta)/(LOW A - zeta)) / ((HIGH - LOW) A)``
    (principal logarithm: ``t A - zeta`` runs on a segment that avoids 0, which turns by less than pi).
    """
    with mpmath.workdps(dps):
        psi_m = exact(psi_value)
        zeta = complex_value(z_value) / psi_m
        gamma = 1 / psi_m

        def average(m, point):
            A = 1 - gamma - gamma * point * m
            return mpmath.log((HIGH * A - point) / (LOW * A - point)) / ((HIGH - LOW) * A)

        m = -1 / (zeta * 64)
        for s in [64, 32, 16, 8, 4, 2, 1.5, 1.25, 1]:   # from far away (m ~ -1/zeta) to the point
            point = zeta * s
            m = mpmath.findroot(lambda x: x - average(x, point), m)
        if mpmath.im(zeta) > 0:
            assert mpmath.im(m) > 0
        return -m / psi_m


def semicircle(z_value, variance, dps=80):
    """The Stieltjes transform ``(z - sqrt(z - 2 r) sqrt(z + 2 r)) / (2 v)``, ``r = sqrt(v)``, of the semicircle law."""
    with mpmath.workdps(dps):
        zc, v = complex_value(z_value), variance
        r = mpmath.sqrt(v)
        return (zc - mpmath.sqrt(zc - 2 * r) * mpmath.sqrt(zc + 2 * r)) / (2 * v)


def anisotropic(law):
    S = law.matrix("Sigma", 1)
    X = GaussianMatrix("X", 1, psi)
    lin = linearize((z - sp.sqrt(S) * X * X.T * sp.sqrt(S)) ** -1)
    return lin, DysonSystem(lin.pencil, target=lin.block)


UNIFORM = SpectralLaw.density("1/2", (LOW, HIGH), dps=50)
POINTS = [(-1, "0.5"), ("0.5+1j", "0.5"), (-1, 2), ("2+0.5j", 2)]


@pytest.mark.parametrize("z_value, psi_value", POINTS)
def test_uniform_population_against_silverstein(z_value, psi_value):
    _, system = anisotropic(UNIFORM)
    solution = solve(system, {"z": z_value, "psi": psi_value}, dps=50)
    expected = silverstein_uniform(z_value, psi_value)
    with mpmath.workdps(60):
        assert abs(solution.value - expected) <= mpmath.mpf(10) ** -40 * max(1, abs(expected))
    assert solution.certified_digits() >= 40
    assert "integral system" in solution.certificate.proven[0]


@pytest.mark.parametrize("z_value", ["0.3+2j", -4, "3+0.1j"])
def test_semicircle_plus_semicircle_density_square_root_edges(z_value):
    s = sp.Symbol("s", positive=True)
    law = SpectralLaw.density("sqrt(4 - D**2)/(2*pi)", (-2, 2), name="D", dps=50)
    assert law.rule == "chebyshev"
    D = law.matrix("D", 1)
    W = WignerMatrix("W", 1, variance=s**2)
    lin = linearize((z - W - D) ** -1)
    solution = solve(DysonSystem(lin.pencil, target=lin.block), {"z": z_value, "s": "0.7"}, dps=50)
    with mpmath.workdps(60):
        expected = semicircle(z_value, 1 + exact("0.7") ** 2)
        assert abs(solution.value - expected) <= mpmath.mpf(10) ** -40 * max(1, abs(expected))
    assert solution.certified_digits() >= 40


def test_the_certificate_contains_the_independent_value():
    _, system = anisotropic(UNIFORM)
    solution = solve(system, {"z": "0.5+1j", "psi": "0.5"}, dps=50)
    ball = solution.enclosure()
    with mpmath.workdps(80):
        expected = silverstein_uniform("0.5+1j", "0.5")
        middle = mpmath.mpc(mpmath.mpf(ball.real.mid().str(75, radius=False)),
                            mpmath.mpf(ball.imag.mid().str(75, radius=False)))
        assert abs(middle - expected) <= 2 * mpmath.mpf(float(ball.rad())) + mpmath.mpf(10) ** -70


def test_results_do_not_depend_on_the_global_precision():
    values = []
    for global_dps in (5, 80):
        with mpmath.workdps(global_dps):
            law = SpectralLaw.density("sqrt((3 - Sigma)*(Sigma - 1))*2/pi", (LOW, HIGH), dps=20)
            _, system = anisotropic(law)
            solution = solve(system, {"z": "0.5+1j", "psi": 2}, dps=20)
            values.append((law.weights, law.values, solution.value._mpc_, str(solution.enclosure())))  # exact binary
    assert values[0] == values[1]


def test_a_density_with_a_branch_point_inside_the_ellipse_is_not_certified():
    law = SpectralLaw.density("3*sqrt(Sigma - 1)/2", (1, 2), dps=20)   # sqrt edge at one end only: Legendre
    assert law.rule == "legendre"
    _, system = anisotropic(law)
    solution = solve(system, {"z": -1, "psi": 2}, dps=20)
    assert not solution.certified and solution.certified_digits() == 0
    assert solution.uncertified_reason.startswith("uncertified: quadrature error not bounded")


def test_too_few_nodes_are_not_certified_to_the_precision_asked():
    _, system = anisotropic(SpectralLaw.density("1/2", (LOW, HIGH), nodes=8))
    solution = solve(system, {"z": -1, "psi": "0.5"}, dps=30)
    assert not solution.certified
    assert "quadrature error" in solution.uncertified_reason


def test_derivatives_are_computed_but_not_certified_for_a_density_law():
    _, system = anisotropic(SpectralLaw.density("1/2", (LOW, HIGH), dps=20))
    solution = solve(system, {"z": -1, "psi": 2}, dps=20)
    target = system.targets[0]
    balls = solution.taylor("z", balls=True)[target]
    assert balls[0] is solution.enclosure() and not balls[1].is_finite()
    with mpmath.workdps(40):       # d/dz of the closed-form reference, by a central difference
        h = mpmath.mpf(10) ** -12
        expected = (silverstein_uniform(-1 + h, 2, dps=40) - silverstein_uniform(-1 - h, 2, dps=40)) / (2 * h)
        assert abs(solution.derivative("z") - expected) < mpmath.mpf(10) ** -15


def test_equations_show_an_integral_and_do_not_eliminate():
    lin, system = anisotropic(SpectralLaw.density("1/2", (LOW, HIGH), dps=20))
    assert any(eq.rhs.has(sp.Integral) for eq in system.equations)
    assert r"\int" in system_latex(system)
    with pytest.raises(EliminationError, match="density"):
        system.eliminate()


def test_a_pencil_file_round_trip_keeps_the_density():
    lin, _ = anisotropic(SpectralLaw.density("sqrt((3 - Sigma)*(Sigma - 1))*2/pi", (LOW, HIGH), dps=20))
    text = dumps(lin.pencil)
    assert 'density = "' in text and 'rule = "chebyshev"' in text
    assert loads(text) == lin.pencil


@pytest.mark.parametrize("text, message", [
    ('density = "__import__(1)"\ninterval = ["1", "3"]', "cannot parse"),
    ('density = "1/2"\ninterval = ["3", "1"]', "a < b"),
    ('density = "1/2"', "interval"),
    ('density = "1/2"\ninterval = ["1", "3"]\nnodes = "many"', "integer"),
])
def test_bad_density_tables_are_refused(text, message):
    pencil = f'''sizes = ["1", "1", "psi", "1"]
[parameters]
z = "complex"
[matrices.Sigma]
kind = "deterministic"
size = "1"
law = "H"
[laws.H]
{text}
[matrices.X]
kind = "gaussian"
shape = ["1", "psi"]
[blocks]
rows = [["z", "sqrt(Sigma)", "0", "0"], ["0", "1", "X", "0"], ["0", "0", "1", "X.T"], ["sqrt(Sigma)", "0", "0", "1"]]
'''
    with pytest.raises(PencilFormatError, match=message):
        loads(pencil)


@pytest.mark.parametrize("density, interval, options, error, message", [
    ("1/2 - Sigma/4", (1, 3), {}, PencilValidationError, "negative"),
    ("1/2", (3, 1), {}, PencilValidationError, "a < b"),
    ("1/2", ("1", "oo"), {}, ParseError, "not a finite number"),
    ("1/2", (1, sp.oo), {}, PencilValidationError, "real numbers a < b"),
    ("1/(Sigma - 2)**2", (1, 3), {}, PencilValidationError, "pole at 2.0000"),
    ("1/(Sigma - sqrt(2))**2", (1, 3), {}, PencilValidationError, "pole at 1.414213562373"),
    ("1/(Sigma - 1)", (1, 3), {}, PencilValidationError, "not integrable"),
    ("1/4", (1, 3), {}, PencilValidationError, "integrates to 0.5"),
    ("sqrt(Sigma - 5)", (1, 3), {}, PencilValidationError, "not real"),
    ("1/2", (1, 3), {"rule": "chebyshev"}, PencilValidationError, "square|sqrt"),
    ("1/2", (1, 3), {"nodes": 0}, PencilValidationError, "positive integer"),
    ("psi/2", (1, 3), {}, ParseError, "unknown name 'psi'"),
    ("exec('1')", (1, 3), {}, ParseError, "cannot parse"),
])
def test_bad_densities_are_refused(density, interval, options, error, message):
    with pytest.raises(error, match=message):
        SpectralLaw.density(density, interval, **options)


def test_a_symbolic_density_is_refused():
    a = sp.Symbol("a", positive=True)
    with pytest.raises(PencilValidationError, match="may depend on Sigma only"):
        SpectralLaw.density(a * sp.Symbol("Sigma", real=True), (0, 1))


def test_quantiles_follow_the_density():
    law = SpectralLaw.density("3*Sigma**2/7", (1, 2))     # CDF (x^3 - 1)/7
    q = law.quantiles(5)
    expected = [(1 + 7 * (k + 0.5) / 5) ** (1 / 3) for k in range(5)]
    assert max(abs(a - b) for a, b in zip(q, expected)) < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("basis", ["haar", "diagonal"])
def test_monte_carlo_draws_the_density(basis):
    lin, system = anisotropic(SpectralLaw.density("1/2", (LOW, HIGH), dps=20))
    at = {"z": "0.5+1j", "psi": "0.5"}
    theory = complex(silverstein_uniform("0.5+1j", "0.5"))
    N = 300
    result = monte_carlo(lin.pencil, at, N=N, seeds=8, targets=[lin.block], basis=basis)
    mean, se = result.mean[lin.block], result.stderr[lin.block]
    assert abs(mean - theory) <= 4 * se + BIAS / N
