"""The DSM pencils: files current, linearisation exact, two independent routes agree to 25+ digits."""

import math

import mpmath
import pytest

from derivations.dsm.pencils import dsm_pencil, expression, pencil_path, product_pencil, targets
from pencils import DysonSystem, dumps, load, solve
from pencils.montecarlo import linearisation_check, monte_carlo

CASES = [(1, False), (1, True), (math.inf, False), (math.inf, True), ("m", False), ("m", True)]
POINT = dict(lam=0.5, zeta=0.3, a=0.8, h=0.36, mu1=0.6, mus=0.5, kappa=0.7, psi_n=1.5, psi_p=0.75,
             psi_d=0.5, psi_perp=0.5, m=3)


def at(pencil, **changes):
    values = {**POINT, **changes}
    return {str(s): values[str(s)] for s in pencil.symbols}


FRESH = [("m", False, True), ("m", True, True)]  # with the source -xi U^inf of the fresh-noise loss


@pytest.mark.parametrize("m, structured, fresh", [(m, s, False) for m, s in CASES] + FRESH)
def test_text_files_are_current(m, structured, fresh):
    assert pencil_path(m, structured, fresh).read_text() == dumps(dsm_pencil(m, structured, fresh))
    assert load(pencil_path(m, structured, fresh)) == dsm_pencil(m, structured, fresh)


@pytest.mark.parametrize("m, structured, fresh", [(m, s, False) for m, s in CASES] + FRESH)
def test_linearisation(m, structured, fresh):
    L = dsm_pencil(m, structured, fresh)
    point = at(L, xi=-0.4)  # the numpy expression subtracts xi U^inf when the point has xi
    for (kind, s), block in targets(m, structured, fresh).items():
        result = linearisation_check(L, lambda M, P: expression(m, structured, kind, s, M, P), point, block=block,
                                     N=7)
        assert result.passed, (kind, s, result)
        wrong = linearisation_check(L, lambda M, P: 1.01 * expression(m, structured, kind, s, M, P), point,
                                    block=block, N=7)
        assert not wrong.passed


def test_fresh_source_needs_the_replicated_pencil():
    with pytest.raises(ValueError, match="replicated"):
        dsm_pencil(1, fresh=True)


@pytest.mark.parametrize("m", [1, math.inf])
def test_monte_carlo_agrees(m):
    # at N = 150 the traces have finite-N bias O(1/N); allowance 3/N on top of 4 standard errors
    L = dsm_pencil(m, False)
    point = at(L, zeta=0)
    blocks = list(targets(m, False).values())
    theory = solve(DysonSystem(L, target=blocks), point, dps=20)
    mc = monte_carlo(L, point, N=150, seeds=6, targets=blocks)
    for block in blocks:
        assert abs(float(theory[block]) - mc.mean[block]) < 4 * mc.stderr[block] + 3 / 150, block


def routes(m, middle, derivative, dps=40):
    main = DysonSystem(dsm_pencil(m, False), target=[targets(m, False)[("f", "iso")]])
    point = {k: str(v) for k, v in at(main.pencil, zeta=0).items()}
    first = solve(main, point, dps=dps).derivative(derivative)
    product = product_pencil(m, middle)
    index = {n: i + 1 for i, n in enumerate(product.block_names)}
    second = solve(DysonSystem(product, target=(index["e"], index["f"])),
                   {k: v for k, v in point.items() if k in {str(s) for s in product.symbols}}, dps=dps)
    return first, second.value


@pytest.mark.parametrize("m", [1, math.inf])
def test_zeta_derivative_equals_product_of_resolvents(m):
    # d/dzeta of the (e, f) trace with source -zeta W W^T  ==  the (e, f) block of the chained pencil
    # holding R W W^T R (signs and factors: derivations/dsm/pencils.py)
    first, second = routes(m, "WWt", "zeta")
    assert abs(first - second) <= mpmath.mpf(10) ** -25 * abs(second)


@pytest.mark.parametrize("m", [1, math.inf])
def test_lambda_derivative_equals_product_of_resolvents(m):
    # d/dlam of the (e, f) trace  ==  minus the (e, f) block of the chained pencil holding R R
    first, second = routes(m, "identity", "lam")
    assert abs(first + second) <= mpmath.mpf(10) ** -25 * abs(second)


@pytest.mark.parametrize("m", [0, 2.5, -1])
def test_rejects_bad_m(m):
    with pytest.raises(ValueError, match="m is a positive integer"):
        dsm_pencil(m)


@pytest.mark.parametrize("m, structured", [(2, False), (3, False), (2, True)])
def test_finite_m_linearisation(m, structured):
    L = dsm_pencil(m, structured)
    assert {"Omega_0", "Omega_1", "Z_iso_1" if not structured else "Z_par_1"} <= set(L.matrices)
    for (kind, s), block in targets(m, structured).items():
        result = linearisation_check(L, lambda M, P: expression(m, structured, kind, s, M, P), at(L), block=block, N=5)
        assert result.passed, (kind, s, result)


def test_finite_m_monte_carlo():
    L = dsm_pencil(2, False)
    point = at(L, zeta=0)
    blocks = list(targets(2, False).values())
    theory = solve(DysonSystem(L, target=blocks), point, dps=20)
    mc = monte_carlo(L, point, N=150, seeds=6, targets=blocks)
    for block in blocks:
        assert abs(float(theory[block]) - mc.mean[block]) < 4 * mc.stderr[block] + 3 / 150, block


@pytest.mark.parametrize("m, structured", [(2, False), (3, False), (2, True)])
def test_replicated_pencil_equals_the_explicit_pencil(m, structured):
    # one pencil for every m (m a parameter, reduced by the permutation symmetry of the noise
    # samples) against the (3m + 5)-block explicit pencil solved without any reduction
    replicated = DysonSystem(dsm_pencil("m", structured), target=list(targets("m", structured).values()))
    explicit = DysonSystem(dsm_pencil(m, structured), target=list(targets(m, structured).values()))
    point = at(replicated.pencil, m=m)
    first = solve(replicated, point, dps=40)
    second = solve(explicit, {k: v for k, v in point.items() if k != "m"}, dps=40)
    for a, b in zip(replicated.targets, explicit.targets):
        assert abs(first[a] - second[b]) < mpmath.mpf(10) ** -37 * max(1, abs(second[b]))


def test_replicated_pencil_at_m_1_equals_the_one_sample_pencil():
    # at m = 1 the split Omega = sqrt(kappa) Omega_0 + sqrt(1 - kappa) Omega_1 has the law of one Omega
    replicated = DysonSystem(dsm_pencil("m"), target=list(targets("m").values()))
    single = DysonSystem(dsm_pencil(1), target=list(targets(1).values()))
    first = solve(replicated, at(replicated.pencil, m=1), dps=40)
    second = solve(single, at(single.pencil), dps=40)
    for a, b in zip(replicated.targets, single.targets):
        assert abs(first[a] - second[b]) < mpmath.mpf(10) ** -37 * max(1, abs(second[b]))


def test_replicated_monte_carlo():
    L = dsm_pencil("m")
    point = at(L, zeta=0, m=3)
    blocks = list(targets("m").values())
    theory = solve(DysonSystem(L, target=blocks), point, dps=20)
    mc = monte_carlo(L, point, N=120, seeds=6, targets=blocks)
    for block in blocks:
        assert abs(float(theory[block]) - mc.mean[block]) < 4 * mc.stderr[block] + 3 / 120, block


@pytest.mark.slow
def test_replicated_pencil_equals_the_explicit_pencil_at_m_16():
    # the 53-block explicit pencil is solvable since its symmetry is found automatically (35 generators
    # of S_16 acting on the samples; 10 unknowns instead of 802)
    replicated = DysonSystem(dsm_pencil("m"), target=list(targets("m").values()))
    explicit = DysonSystem(dsm_pencil(16), target=list(targets(16).values()))
    assert len(explicit.unknowns) == 10
    point = at(replicated.pencil, m=16)
    first = solve(replicated, point, dps=30)
    second = solve(explicit, {k: v for k, v in point.items() if k != "m"}, dps=30)
    for a, b in zip(replicated.targets, explicit.targets):
        assert abs(first[a] - second[b]) < mpmath.mpf(10) ** -27 * max(1, abs(second[b]))
