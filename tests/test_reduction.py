"""The reduced blocks of Dyson systems: replicated pencils against independent computations.

Expected numbers come from an independent dense fixed point of the *explicit* pencil
(tests/reference.py) and from closed forms; never from the reduced system itself.
"""

import mpmath
import pytest
import sympy as sp

from pencils import DysonSystem, GaussianMatrix, Pencil, Reduction, Replicas, ratio, solve
from pencils.replicas import copy_index
from pencils.testing import random_pencil, random_replicated_pencil
from reference import dense_fixed_point

z, m, psi = sp.Symbol("z"), sp.Symbol("m", positive=True), ratio("psi")


def compare_with_explicit(L, copies, z_value="0.3+1.1j", dps=30):
    """The largest difference between the reduced solution and the dense fixed point of the explicit pencil."""
    targets = [(i, j) for i in range(1, L.k + 1) for j in range(1, L.k + 1)]
    solution = solve(DysonSystem(L, target=targets), {"z": z_value, "m": copies}, dps=dps)
    G = dense_fixed_point(L.expand(copies), z_value, dps=dps + 5, tol=mpmath.mpf(10) ** -(dps + 2))
    index, replicated = copy_index(L, copies), L.replicas.zero_based

    def place(b, copy=0):
        return index[(b - 1, copy if b - 1 in replicated else None)]

    worst = max(abs(solution[(a, b)] - G[place(a), place(b)]) for a, b in targets)
    for entry, value in solution.unknowns.items():
        if len(entry) == 3 and copies > 1:  # block a of copy 0 with block b of copy 1
            worst = max(worst, abs(value - G[place(entry[0]), place(entry[1], 1)]))
    return worst, solution


@pytest.mark.parametrize("seed", [1, 5])
@pytest.mark.parametrize("copies", [2, 3])
def test_random_replicated_pencils_match_the_explicit_pencil(seed, copies):
    L = random_replicated_pencil(5, 3, 2, seed=seed)
    worst, solution = compare_with_explicit(L, copies)
    assert worst < 1e-27
    assert solution.certified


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_random_replicated_pencils_many(seed):
    L = random_replicated_pencil(6, 4, 1 + seed % 3, seed=100 + seed)
    for copies in (1, 2, 4):
        worst, _ = compare_with_explicit(L, copies)
        assert worst < 1e-27, (seed, copies)


def test_shared_matrix_in_every_copy_is_marchenko_pastur_for_every_m():
    # sum_j X X^T / m = X X^T: block (1, 1) is (z - X X^T)^{-1} whatever m is
    X = GaussianMatrix("X", 1, psi)
    L = Pencil([[z, X], [X.T / m, 1]], [1, psi], [z, m], replicas=Replicas(m, blocks=[2]))
    system = DysonSystem(L)
    with mpmath.workdps(60):  # g = ((z + 1 - psi) - sqrt((z + 1 - psi)^2 - 4 z)) / (2 z), the branch g ~ 1/z
        zv, pv = mpmath.mpc("-0.7", "0.4"), mpmath.mpf("0.6")
        b = zv + 1 - pv
        roots = [(b + s * mpmath.sqrt(b * b - 4 * zv)) / (2 * zv) for s in (1, -1)]
        expected = min(roots, key=lambda g: abs(g - 1 / zv) if mpmath.im(g) < 0 else mpmath.inf)
    for copies in (1, 2, 7, 10**6):
        value = solve(system, {"z": "-0.7+0.4j", "m": copies, "psi": "0.6"}, dps=50)[(1, 1)]
        assert abs(value - expected) < mpmath.mpf(10) ** -45, copies


def test_per_copy_matrices_give_marchenko_pastur_of_ratio_m_psi():
    # sum_j X_j X_j^T / m with independent X_j: z g^2 - (z m - psi m + 1) g + m = 0 (derived by hand
    # from the law of Y Y^T, Y with m psi N columns of variance 1/(m N))
    X = GaussianMatrix("X", 1, psi)
    L = Pencil([[z, X], [X.T / m, 1]], [1, psi], [z, m], replicas=Replicas(m, blocks=[2], matrices=["X"]))
    system = DysonSystem(L)
    for copies in (1, 3, 1000):
        value = solve(system, {"z": "-0.7+0.4j", "m": copies, "psi": "0.6"}, dps=40)[(1, 1)]
        with mpmath.workdps(50):
            zv, c = mpmath.mpc("-0.7", "0.4"), copies
            residual = zv * value**2 - (zv * c - mpmath.mpf("0.6") * c + 1) * value + c
        assert abs(residual) < mpmath.mpf(10) ** -35, copies


def test_reduced_size_does_not_depend_on_m():
    L = random_replicated_pencil(5, 3, 2, seed=1)
    sizes = DysonSystem(L, target=[(1, 1)]).reduction.sizes
    counted = DysonSystem(L.subs({m: 40}), target=[(1, 1)]).reduction.sizes
    assert sizes == counted
    assert sum(sizes) <= 2 * L.k


def test_full_unknown_count_is_the_explicit_count():
    L = random_replicated_pencil(5, 3, 2, seed=5)
    system = DysonSystem(L, target=[(i, i) for i in range(1, 6)])
    full = system.reduction.full_unknown_count()
    for copies in (2, 3):
        E = L.expand(copies)
        explicit = DysonSystem(E, target=[(i, i) for i in range(1, E.k + 1)], symmetry=False)
        assert full.subs(m, copies) == len(explicit.unknowns)
        # the symmetries found automatically in the explicit pencil include the permutations of the copies
        found = DysonSystem(E, target=[(i, i) for i in range(1, E.k + 1)])
        assert len(found.unknowns) <= len(system.unknowns)


def test_integer_count_equals_symbolic_count_at_that_value():
    L = random_replicated_pencil(5, 3, 2, seed=5)
    symbolic = solve(DysonSystem(L), {"z": "0.2+1j", "m": 3}, dps=30)[(1, 1)]
    fixed = solve(DysonSystem(L.subs({m: 3})), {"z": "0.2+1j"}, dps=30)[(1, 1)]
    assert abs(symbolic - fixed) < 1e-28


def test_plain_pencil_has_one_block_per_space():
    L = random_pencil(4, 2, seed=1)
    r = Reduction(L, [(0, 0)])
    assert all(all(label.isdigit() for label in labels) for labels in r.labels)
    assert all(len(readout) == 1 and readout[0][0] == 1 for readout in r.readouts.values() if readout)


def test_derivative_in_the_count_is_refused():
    from pencils import DomainError

    L = random_replicated_pencil(5, 3, 2, seed=1)
    solution = solve(DysonSystem(L), {"z": "0.3+1j", "m": 2}, dps=20)
    with pytest.raises(DomainError, match="replica count"):
        solution.taylor("m", 1)
    assert solution.taylor("z", 1)[(1, 1)][1] != 0


def test_replicated_latex_names_the_reduction():
    from pencils.latex import latex_document

    X = GaussianMatrix("X", 1, psi)
    L = Pencil([[z, X], [X.T / m, 1]], [1, psi], [z, m], replicas=Replicas(m, blocks=[2]))
    text = latex_document(L)
    assert "repeated $m$ times" in text and "instead of $m^{2} + 1$" in text
    assert r"g_{2\bar{2}}" in text
