"""Solutions against closed forms (40+ digits at dps = 50), derivatives against finite differences,
and the errors of bad inputs."""

import flint
import mpmath
import pytest
import sympy as sp

from reference import dense_fixed_point

from pencils import (
    AdmissibilityError, ConvergenceError, DomainError, DysonSystem, GaussianMatrix, Pencil,
    SingularPointError, ratio, solve,
)

DPS = 50
DIGITS = 40


def physical_root(coefficients, z, stieltjes=True):
    """The root of a polynomial (highest degree first) that is the physical Stieltjes transform.

    Complex z (Im z > 0): the unique root with Im g < 0. Real z outside the spectrum: the
    unique real root with g ~ 1/z behaviour, i.e. the same sign as z and |g| <= 1/dist; we take
    the real root of smallest modulus among those with the sign of z.
    """
    roots = mpmath.polyroots(coefficients, maxsteps=200, extraprec=200)
    if mpmath.im(z) > 0:
        candidates = [r for r in roots if mpmath.im(r) < 0]
    else:
        candidates = [mpmath.re(r) for r in roots if abs(mpmath.im(r)) < mpmath.mpf(10) ** -40
                      and mpmath.sign(mpmath.re(r)) == mpmath.sign(mpmath.re(z))]
        candidates = [min(candidates, key=abs)] if candidates else []
    assert len(candidates) == 1, (roots, z)
    return candidates[0]


def agree(a, b, digits=DIGITS):
    return abs(a - b) <= mpmath.mpf(10) ** (-digits) * max(1, abs(b))


CASES = [
    # name, point, polynomial coefficients in g (highest first) as functions of the point
    ("marchenko_pastur", {"z": "0.3+0.7j", "psi": "0.5"},
     lambda p: [p["z"], -(p["z"] + 1 - p["psi"]), 1]),
    ("marchenko_pastur", {"z": "-0.25", "psi": "3"},
     lambda p: [p["z"], -(p["z"] + 1 - p["psi"]), 1]),
    ("semicircle", {"z": "1.5+0.01j", "s": "1"}, lambda p: [p["s"] ** 2, -p["z"], 1]),
    ("semicircle", {"z": "-2.5", "s": "1.2"}, lambda p: [p["s"] ** 2, -p["z"], 1]),
    ("wishart_product", {"z": "0.8+0.5j", "phi": "0.5", "psi": "2"},
     lambda p: [p["z"] ** 2, p["z"] * (p["phi"] + p["psi"] - 2), p["phi"] * p["psi"] - p["phi"] - p["psi"] + 1 - p["z"], 1]),
    ("wishart_product", {"z": "-0.5", "phi": "1.5", "psi": "0.75"},
     lambda p: [p["z"] ** 2, p["z"] * (p["phi"] + p["psi"] - 2), p["phi"] * p["psi"] - p["phi"] - p["psi"] + 1 - p["z"], 1]),
]


@pytest.mark.parametrize("name, at, polynomial", CASES, ids=[f"{c[0]}-{c[1]['z']}" for c in CASES])
def test_closed_forms(textbook, name, at, polynomial):
    solution = solve(DysonSystem(textbook[name]), at, dps=DPS)
    with mpmath.workdps(DPS + 20):
        point = {k: mpmath.mpmathify(v) for k, v in at.items()}
        expected = physical_root(polynomial(point), point["z"])
    assert agree(solution.value, expected)
    assert solution.residual < mpmath.mpf(10) ** -(DPS - 5)
    assert solution.dps == DPS and "residual" in solution.checks


def test_ridge_at_minus_lambda(textbook):
    # r = (XX^T + lam)^{-1} trace: lam r^2 + (lam + psi - 1) r - 1 = 0, the positive root
    solution = solve(DysonSystem(textbook["ridge"]), {"lam": "1e-3", "psi": "0.75"}, dps=DPS)
    with mpmath.workdps(DPS + 20):
        lam, psi = mpmath.mpf("1e-3"), mpmath.mpf("0.75")
        b = lam + psi - 1
        expected = (-b + mpmath.sqrt(b * b + 4 * lam)) / (2 * lam)
    assert agree(solution.value, expected)
    assert solution.checks == ("residual", "finite", "real", "stieltjes", "certified")
    with flint.ctx.workprec(300):  # the closed form, in rigorous ball arithmetic
        lam, psi = flint.arb(1) / 1000, flint.arb(3) / 4
        b = lam + psi - 1
        proven = (-b + (b * b + 4 * lam).sqrt()) / (2 * lam)
    ball = solution.enclosure()
    assert ball.real.overlaps(proven) and ball.real.rad() < 1e-25 and abs(ball.imag).upper() < 1e-25


def test_high_precision_100_digits(textbook):
    solution = solve(DysonSystem(textbook["semicircle"]), {"z": "3", "s": "1"}, dps=100)
    with mpmath.workdps(120):
        expected = (3 - mpmath.sqrt(5)) / 2
    assert agree(solution.value, expected, digits=95)


def finite_difference(system, at, name, dps, h, order, previous):
    """Fourth-order central differences at ``dps`` digits."""
    def f(x):
        return solve(system, {**at, name: x}, dps=dps, previous=previous).value

    with mpmath.workdps(dps + 10):
        x = mpmath.mpmathify(at[name])
        fs = {k: f(x + k * h) for k in (-2, -1, 0, 1, 2)}
        if order == 1:
            return (-fs[2] + 8 * fs[1] - 8 * fs[-1] + fs[-2]) / (12 * h)
        return (-fs[2] + 16 * fs[1] - 30 * fs[0] + 16 * fs[-1] - fs[-2]) / (12 * h**2)


@pytest.mark.parametrize(
    "name, at, wrt",
    [
        ("marchenko_pastur", {"z": "-0.7", "psi": "0.5"}, "z"),
        ("marchenko_pastur", {"z": "-0.7", "psi": "0.5"}, "psi"),
        ("wishart_product", {"z": "0.4+0.3j", "phi": "0.5", "psi": "2"}, "z"),
        ("ridge", {"lam": "0.01", "psi": "2"}, "lam"),
    ],
)
def test_derivatives_against_finite_differences(textbook, name, at, wrt):
    system = DysonSystem(textbook[name])
    solution = solve(system, at, dps=DPS)
    base = solve(system, at, dps=2 * DPS)
    # at doubled precision (100 digits), h = 1e-20: truncation O(h^4) = 1e-80, rounding 1e-80
    first = finite_difference(system, at, wrt, 2 * DPS, mpmath.mpf("1e-20"), 1, base)
    second = finite_difference(system, at, wrt, 2 * DPS, mpmath.mpf("1e-12"), 2, base)
    assert agree(solution.derivative(wrt), first)
    assert agree(solution.derivative(wrt, order=2), second, digits=DIGITS - 4)


def test_derivative_closed_form(textbook):
    # MP: differentiating z g^2 - (z + 1 - psi) g + 1 = 0 gives g' = (g - g^2) / (2 z g - (z + 1 - psi))
    solution = solve(DysonSystem(textbook["marchenko_pastur"]), {"z": "-1", "psi": "0.5"}, dps=DPS)
    with mpmath.workdps(DPS + 10):
        g, z, psi = solution.value, mpmath.mpf(-1), mpmath.mpf("0.5")
        assert agree(solution.derivative("z"), (g - g**2) / (2 * z * g - (z + 1 - psi)))
    series = solution.taylor("z", 3)
    assert len(series[(1, 1)]) == 4 and agree(series[(1, 1)][0], g)


def test_stieltjes_sign_at_complex_points(textbook):
    solution = solve(DysonSystem(textbook["marchenko_pastur"]), {"z": "1+0.1j", "psi": "2"})
    assert "stieltjes" in solution.checks and mpmath.im(solution.value) < 0
    # lower half plane: Im g > 0
    solution = solve(DysonSystem(textbook["marchenko_pastur"]), {"z": "1-0.1j", "psi": "2"})
    assert "stieltjes" in solution.checks and mpmath.im(solution.value) > 0


def test_warm_start_stays_on_the_branch(textbook):
    system = DysonSystem(textbook["semicircle"])
    near = solve(system, {"z": "2.9", "s": 1})
    # (3 + sqrt 5)/2 also solves the real equation at z = 3, but is not the Stieltjes transform:
    # as a predictor it is rejected by the step control and the path stays on the physical branch
    solution = solve(system, {"z": 3, "s": 1}, previous=near, predictor=["2.6"])
    with mpmath.workdps(40):
        assert agree(solution.value, (3 - mpmath.sqrt(5)) / 2, digits=25)
    assert solve(system, {"z": 3, "s": 1}, previous=near).path == "warm start"
    with pytest.raises(DomainError, match="another system"):
        solve(DysonSystem(textbook["marchenko_pastur"]), {"z": 3, "psi": 1}, previous=near)


def test_start_point_path(textbook):
    system = DysonSystem(textbook["wishart_product"])
    direct = solve(system, {"z": "-0.5", "phi": "0.5", "psi": "2"})
    via = solve(system, {"z": "-0.5", "phi": "0.5", "psi": "2"}, start={"z": "-3", "phi": "0.5", "psi": "2"})
    assert agree(direct.value, via.value, digits=25) and via.path.startswith("coupling homotopy at the start")


# -- bad inputs -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "at, message",
    [
        ({"z": -1, "psi": -2}, "psi is a positive ratio, got psi = -2"),
        ({"z": -1, "psi": "1+1j"}, "psi is a positive ratio"),
        ({"z": -1}, "no value given for psi"),
        ({"z": -1, "psi": 1, "phi": 2}, "unknown parameter(s) phi"),
        ({"z": "abc", "psi": 1}, "z: cannot parse 'abc': unknown name 'abc'"),
        ({"z": mpmath.inf, "psi": 1}, "as a number: not finite"),
    ],
)
def test_domain_errors(textbook, at, message):
    with pytest.raises(DomainError, match=pytest.importorskip("re").escape(message)):
        solve(DysonSystem(textbook["marchenko_pastur"]), at)


def test_domain_error_for_precision_and_derivative(textbook):
    system = DysonSystem(textbook["marchenko_pastur"])
    with pytest.raises(DomainError, match="dps must be at least 10"):
        solve(system, {"z": -1, "psi": 1}, dps=5)
    solution = solve(system, {"z": -1, "psi": 1})
    with pytest.raises(DomainError, match="lam is not a parameter"):
        solution.derivative("lam")


def test_singular_starting_point():
    # a non-symmetric pencil whose Gaussian-free part C = diag(0, 1) is singular
    z, psi = sp.Symbol("z"), ratio("psi")
    X = GaussianMatrix("X", 1, psi)
    system = DysonSystem(Pencil([[z, X], [-X.T, 1]], [1, psi], [z]))
    with pytest.raises(SingularPointError, match="C .* is singular here, so the coupling homotopy cannot start"):
        solve(system, {"z": 0, "psi": 2})
    # it works from a start point where C is invertible (here the answer is (X X^T)^{-1} at z = 0,
    # the MP resolvent at -1 ... of the matrix -X X^T: g(0) = 1/(psi - 1) for psi > 1)
    solution = solve(system, {"z": 0, "psi": 2}, start={"z": 1, "psi": 2})
    assert agree(solution.value, mpmath.mpf(1) / (2 - 1), digits=25)


def test_no_admissible_solution_inside_the_spectrum(textbook):
    with pytest.raises(AdmissibilityError, match="all parameters are real but the solution is not") as info:
        solve(DysonSystem(textbook["semicircle"]), {"z": "0.5", "s": 1})
    assert info.value.point["z"] == mpmath.mpf("0.5") and info.value.iterate is not None


def test_non_convergent_run(textbook):
    with pytest.raises(ConvergenceError, match="did not converge|stalled") as info:
        solve(DysonSystem(textbook["wishart_product"]), {"z": "-0.5", "phi": "0.5", "psi": "2"}, max_iter=1)
    assert "z=-0.5" in str(info.value)


def test_pole_at_zero_is_named_an_atom(textbook):
    # MP with psi < 1 has an atom of mass 1 - psi at 0: g(z) has a pole at z = 0
    with pytest.raises(ConvergenceError, match="grows like 1/delta .* an atom of the spectrum"):
        solve(DysonSystem(textbook["marchenko_pastur"]), {"z": 0, "psi": "0.5"})


@pytest.mark.parametrize("name, at", [
    ("marchenko_pastur", {"z": "0.25", "psi": "0.25"}),   # (1 - sqrt(psi))^2, the lower edge
    ("marchenko_pastur", {"z": "2.25", "psi": "0.25"}),   # (1 + sqrt(psi))^2, the upper edge
    ("semicircle", {"z": "2", "s": "1"}),                  # 2 s
])
def test_a_point_exactly_at_a_spectral_edge_is_named_an_edge(textbook, name, at):
    with pytest.raises(ConvergenceError, match="a double root of the equations.*a spectral edge"):
        solve(DysonSystem(textbook[name]), at)
    # just outside the edge the value is finite and certified
    outside = {**at, "z": str(mpmath.mpf(at["z"]) + (mpmath.mpf("1e-12") if at["z"] != "0.25" else -mpmath.mpf("1e-12")))}
    assert solve(DysonSystem(textbook[name]), outside).certified_digits() >= 25


# -- every entry of E[L^{-1}], alone and in subsets, against an independent dense fixed point ----------------

@pytest.mark.parametrize("seed", range(5))
def test_every_entry_alone_and_in_subsets_matches_a_dense_reference(seed):
    import random

    from pencils.testing import random_pencil

    rng = random.Random(seed)
    k = rng.randint(3, 5)
    # several size classes without identity couplings: several spaces, so that some entries are zero by structure
    pencil = random_pencil(k, rng.randint(1, 3), seed=seed, n_classes=2, off_diagonal_identity=seed % 2 == 0)
    z = "0.5+2j"
    G = dense_fixed_point(pencil, complex(0.5, 2))
    entries = [(i, j) for i in range(1, k + 1) for j in range(1, k + 1)]
    subsets = [[e] for e in entries] + [rng.sample(entries, rng.randint(2, len(entries))) for _ in range(3)]
    assert seed % 2 == 0 or DysonSystem(pencil, target=entries).structural_zeros
    for subset in subsets:
        system = DysonSystem(pencil, target=subset)
        solution = solve(system, {"z": z}, dps=30)
        assert solution.certified
        for i, j in subset:
            value, expected = solution.targets[(i, j)], G[i - 1, j - 1]
            if (i, j) in system.structural_zeros:
                assert value == 0 and solution.certified_digits((i, j)) == 30
                assert abs(expected) < 1e-25, (pencil, (i, j), expected)
            else:
                assert abs(value - expected) < 1e-25 * max(1, abs(expected)), (pencil, (i, j), value, expected)
                ball = solution.enclosure((i, j))
                assert abs(ball.mid() - flint.acb(complex(expected))) < 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_every_entry_against_monte_carlo(seed):
    """Theory (including the exact zeros) within 4 standard errors + 1/N of a finite-N simulation."""
    from pencils.montecarlo import monte_carlo
    from pencils.testing import random_pencil

    pencil = random_pencil(4, 2, seed=seed, n_classes=2, off_diagonal_identity=False)
    entries = [(i, j) for i in range(1, 5) for j in range(1, 5)]
    solution = solve(DysonSystem(pencil, target=entries), {"z": "0.5+2j"}, dps=20)
    result = monte_carlo(pencil, {"z": complex(0.5, 2)}, N=300, seeds=8, targets=entries, seed=seed)
    for entry in entries:
        difference = abs(complex(solution.targets[entry]) - complex(result.mean[entry]))
        assert difference <= 4 * result.stderr[entry] + 1 / 300, (entry, difference, result.stderr[entry])


def test_a_ridge_too_small_for_the_limit_names_the_cause(textbook):
    """At psi = 1 the ridge resolvent grows like lam^(-1/2): at lam = 1e-40 the float64 path gives up, and
    the message says that the solution grows without bound, not that a point is inside the spectrum."""
    with pytest.raises(ConvergenceError, match="from lam = 1: .*grows without bound") as info:
        solve(DysonSystem(textbook["ridge"]), {"lam": "1e-40", "psi": 1})
    assert "the direct path failed too" in str(info.value)


# -- continuation methods and step controls ---------------------------------------------------------------------

def test_methods_reach_the_same_marchenko_pastur_value(textbook):
    system = DysonSystem(textbook["marchenko_pastur"])
    point = {"z": "-0.5", "psi": "0.5"}
    with mpmath.workdps(50):  # z g^2 - (z - psi + 1) g + 1 = 0, the root with g ~ 1/z
        z, psi = mpmath.mpf("-0.5"), mpmath.mpf("0.5")
        b = z + 1 - psi
        expected = (b + mpmath.sqrt(b * b - 4 * z)) / (2 * z)
    for method in ("auto", "coupling", "regularised"):
        solution = solve(system, point, dps=40, method=method)
        assert abs(solution.value - expected) < mpmath.mpf(10) ** -38, method
    assert solve(system, point, dps=20, method="auto").path == solve(system, point, dps=20, method="regularised").path
    assert solve(system, point, dps=20, method="coupling").path == "coupling homotopy s: 0 -> 1"


def test_step_controls_are_options(textbook):
    system = DysonSystem(textbook["marchenko_pastur"])
    cautious = solve(system, {"z": "0.5+0.1j", "psi": "0.5"}, dps=30, step_jump=0.01, step_iterations=4, min_step=1e-9)
    default = solve(system, {"z": "0.5+0.1j", "psi": "0.5"}, dps=30)
    assert abs(cautious.value - default.value) < 1e-28


@pytest.mark.parametrize("options, message", [
    ({"method": "newton"}, "method must be one of"),
    ({"step_iterations": 0}, "step_iterations must be a positive integer"),
    ({"step_jump": -1}, "step_jump must be positive"),
    ({"min_step": 2}, "min_step must be in"),
])
def test_bad_continuation_options(textbook, options, message):
    with pytest.raises(DomainError, match=message):
        solve(DysonSystem(textbook["marchenko_pastur"]), {"z": "-1", "psi": "0.5"}, **options)


def test_regularised_method_needs_a_symmetric_pencil():
    z, psi = sp.Symbol("z"), ratio("psi")
    X = GaussianMatrix("X", 1, psi)
    system = DysonSystem(Pencil([[z, X], [2 * X.T, 1]], [1, psi], [z]))
    with pytest.raises(DomainError, match="needs a symmetric pencil"):
        solve(system, {"z": "-1", "psi": "0.5"}, method="regularised")
    assert solve(system, {"z": "-1", "psi": "0.5"}, method="auto").certified


@pytest.mark.parametrize("structured", [False, True])
def test_float64_form_matches_the_list_formulas(structured):
    """The NumPy residual and Jacobian of the float64 continuation equal the list formulas, on the
    replicated DSM pencil (readouts weighted by coefficients) at complex values and a complex scale."""
    import random

    import numpy as np

    from derivations.dsm.pencils import REPLICATED, pencil_path
    from pencils import load
    from pencils.solver.compiled import compile_system

    compiled = compile_system(DysonSystem(load(pencil_path(REPLICATED, structured))))
    rng = random.Random(3)
    values = [complex(rng.uniform(-1, 1), rng.uniform(-1, 1)) for _ in compiled.expressions]
    u = [complex(rng.uniform(-1, 1), rng.uniform(-1, 1)) for _ in compiled.unknowns]
    scale = 0.7 + 0.2j
    inverses = compiled.inverses(compiled.matrices(values, u, scale), None, u)
    form = compiled.floats
    prepared = form.prepare(values, scale)
    inverse = form.inverse(prepared, np.array(u))
    assert np.allclose(form.residual(prepared, np.array(u), inverse), compiled.residual(values, u, inverses),
                       rtol=1e-12, atol=1e-12)
    assert np.allclose(form.jacobian(prepared, inverse), compiled.jacobian(values, inverses, scale),
                       rtol=1e-12, atol=1e-12)


def test_a_vanishing_unknown_does_not_raise_the_precision_along_a_sweep():
    """The replicated DSM pencil has an unknown that vanishes at zeta = 0; its rounding noise (1e-24
    after a float64 path, 1e-90 after a polish at 80 digits) made the ratio max|u| / min|u| ask for
    up to 200 extra digits, point after point. The extra digits now follow the Jacobian's condition."""
    from derivations.dsm.theory import Theory
    from pencils.balls import bits_for
    from pencils.solver.certificate import EXTRA_DIGITS
    from pencils.solver.newton import GUARD
    from pencils.sweep import points, sweep

    theory = Theory(m=2, dps=20)
    bits = []
    sweep(theory.system, "psi_p", points("0.5", "8", 12, log=True, dps=20),
          {**theory.fixed, "psi_n": 2, "lam": "1e-3"}, dps=20, on_solution=lambda s, row: bits.append(s.certificate.bits))
    assert max(bits) <= bits_for(20 + GUARD + EXTRA_DIGITS + 5), bits


def test_a_first_path_on_another_root_is_caught_by_the_second_path(textbook, monkeypatch):
    """A warm start whose path jumped to the other root of the anisotropic Marchenko-Pastur equations
    (a genuine root: the polish keeps it) is refused: the bent second path lands on the physical root."""
    import pencils.solver.driver as driver

    system = DysonSystem(textbook["anisotropic_marchenko_pastur"])
    previous = solve(system, {"z": "-1.1", "psi": "0.5"}, dps=30)
    other = [-0.6691886721262161, 2.4943468735397083]  # the non-physical root at z = -1, psi = 1/2
    followed = driver.parameter_path

    def jumped(compiled, start, point, u0, steps, detour=0, **options):
        if detour:  # the second path, bent into the complex plane: as it is
            return followed(compiled, start, point, u0, steps, detour=detour, **options)
        return list(other), 1

    monkeypatch.setattr(driver, "parameter_path", jumped)
    with pytest.raises(AdmissibilityError, match="two continuation paths reach different roots"):
        solve(system, {"z": "-1", "psi": "0.5"}, dps=30, previous=previous)
    monkeypatch.undo()
    assert "two paths agree" in solve(system, {"z": "-1", "psi": "0.5"}, dps=30, previous=previous).checks
