"""Tests of :func:`pencils.testing.random_pencil`."""

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from pencils import DysonSystem, Pencil, dumps, loads, solve
from pencils.montecarlo import draw
from pencils.solver import compile_system
from pencils.testing import RATIOS, random_pencil

arguments = st.fixed_dictionaries(
    {
        "k": st.integers(2, 8),
        "n_matrices": st.integers(1, 4),
        "seed": st.integers(0, 10**9),
        "off_diagonal_identity": st.booleans(),
    }
)


def gaussian_terms(pencil):
    """``[(i, j, matrix, coefficient)]`` for every Gaussian term (0-based blocks)."""
    return [
        (i, j, t.matrix, t.coefficient)
        for (i, j), terms in pencil.terms.items()
        for t in terms
        if t.matrix is not None
    ]


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(arguments)
def test_random_pencil_is_symmetric_and_well_formed(args):
    L = random_pencil(**args)
    k = args["k"]
    assert isinstance(L, Pencil)
    assert L.k == k and len(L.sizes) == k
    assert sorted(L.matrices) == [f"X{m}" for m in range(1, args["n_matrices"] + 1)]
    z = sp.Symbol("z")
    assert L.parameters == (z,) and L.ratios == ()
    assert all(s in RATIOS for s in L.sizes)
    # block (j, i) is the transpose of block (i, j)
    for i in range(k):
        for j in range(k):
            here = {t.matrix: t.coefficient for t in L.terms.get((i, j), ())}
            mirrored = {
                t.matrix.T if t.matrix is not None else None: t.coefficient for t in L.terms.get((j, i), ())
            }
            assert here == mirrored, (i + 1, j + 1, L.blocks[i][j], L.blocks[j][i])
    assert compile_system(DysonSystem(L)).symmetric
    # each matrix occupies `occurrences` places, with its transpose mirrored and a non-zero coefficient
    terms = gaussian_terms(L)
    for name, X in L.matrices.items():
        places = [(i, j, c) for i, j, m, c in terms if m == X]
        assert len(places) == 2
        for i, j, c in places:
            assert c != 0 and (j, i, X.T, c) in terms
            assert (L.sizes[i], L.sizes[j]) == X.shape
    # C: a_i z + b_i on the diagonal with a_i > 0 and b_i real; real symmetric couplings of equal sizes
    C = L.identity_part()
    for i in range(k):
        a, b = sp.Poly(C[i, i], z).all_coeffs()
        assert a.is_Rational and a > 0 and b.is_Rational
        for j in range(k):
            if i != j:
                assert C[i, j].is_Rational and C[i, j] == C[j, i]
                assert C[i, j] == 0 or L.sizes[i] == L.sizes[j]
                assert C[i, j] == 0 or args["off_diagonal_identity"]
    # the text format reads it back
    assert loads(dumps(L)) == L


def test_random_pencil_is_deterministic_per_seed():
    assert random_pencil(6, 3, seed=7) == random_pencil(6, 3, seed=7)
    assert random_pencil(6, 3, seed=np.int64(7)) == random_pencil(6, 3, seed=7)
    assert dumps(random_pencil(6, 3, seed=7)) == dumps(random_pencil(6, 3, seed=7))
    others = [random_pencil(6, 3, seed=s) for s in range(8, 12)]
    assert all(p != random_pencil(6, 3, seed=7) for p in others)


@pytest.mark.parametrize("k, n_matrices, n_classes, occurrences", [(12, 4, None, 2), (6, 2, 6, 1), (3, 5, 1, 3), (4, 1, 2, 1)])
def test_random_pencil_counts(k, n_matrices, n_classes, occurrences):
    L = random_pencil(k, n_matrices, seed=1, n_classes=n_classes, occurrences=occurrences)
    assert L.k == k and len(L.matrices) == n_matrices
    expected_classes = min(4, (k + 1) // 2) if n_classes is None else n_classes
    assert len(set(L.sizes)) <= expected_classes
    if expected_classes <= len(RATIOS):
        assert len(set(L.sizes)) == expected_classes
    for X in L.matrices.values():
        assert sum(1 for _, _, m, _ in gaussian_terms(L) if m == X) == occurrences


def test_random_pencil_without_couplings_has_diagonal_identity_part():
    C = random_pencil(8, 2, seed=3, off_diagonal_identity=False).identity_part()
    assert C == sp.diag(*[C[i, i] for i in range(8)])


def test_random_pencil_draw_is_complex_symmetric_with_positive_imaginary_part():
    L = random_pencil(5, 3, seed=2)
    M, _, _ = draw(L, {"z": "0.3+0.7j"}, 20, np.random.default_rng(0))
    np.testing.assert_allclose(M, M.T, rtol=0, atol=1e-14)
    assert np.linalg.eigvalsh(M.imag).min() >= 0.7 * 0.5 - 1e-12  # Im L = Im(z) diag(a_i), a_i >= 1/2


@pytest.mark.parametrize("seed", range(4))
def test_random_pencil_dyson_system_solves_on_the_physical_branch(seed):
    L = random_pencil(5, 2, seed=seed)
    targets = [(i, i) for i in range(1, 6)]
    solution = solve(DysonSystem(L, target=targets), {"z": "-0.4+1j"}, dps=20)
    assert "stieltjes" in solution.checks
    assert all(mpmath.im(solution[t]) < 0 for t in targets)


@pytest.mark.parametrize(
    "args, match",
    [
        ({"k": 0, "n_matrices": 1}, "at least one block"),
        ({"k": 3, "n_matrices": 0}, "at least one Gaussian matrix"),
        ({"k": 3, "n_matrices": 1, "occurrences": 0}, "at least one place"),
        ({"k": 3, "n_matrices": 1, "n_classes": 4}, "n_classes must be between 1 and k=3"),
        ({"k": 3, "n_matrices": 1, "n_classes": 0}, "n_classes must be between"),
        ({"k": 1, "n_matrices": 1}, "no pair of size classes has 2 distinct places"),
    ],
)
def test_random_pencil_refuses_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        random_pencil(**args)
