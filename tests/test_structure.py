import pytest
import sympy as sp

from pencils import GaussianMatrix, Pencil, StructureError, Structure, ratio

z = sp.Symbol("z")
psi, phi = ratio("psi"), ratio("phi")


def test_marchenko_pastur(textbook):
    s = Structure(textbook["marchenko_pastur"])
    assert s.spaces == ((1,), (2,))
    assert s.pattern == {(1, 1), (2, 2)}
    assert s.unknowns == ((1, 1), (2, 2))


def test_wishart_product_structure(textbook):
    s = Structure(textbook["wishart_product"])
    # W's columns are blocks 2 and 4; X's rows block 2 and columns block 3
    assert s.spaces == ((1,), (2, 4), (3,))
    assert s.pattern == {(1, 1), (2, 2), (2, 4), (4, 2), (4, 4), (3, 3)}
    assert s.unknowns == ((1, 1), (2, 4), (3, 3), (4, 2))
    # eta_11 reads g_24 (W at (1,2) with W.T at (4,1)), with coefficient phi
    terms = {(t.out, t.read): t.coefficient for t in s.covariance}
    assert terms[((0, 0), (1, 3))] == phi


def test_pattern_excludes_structural_zeros():
    # L = [[z, X, 0], [X.T, 1, 0], [0, 0, z]]: block 3 is decoupled; blocks 1 and 3 share a space
    X = GaussianMatrix("X", 1, psi)
    L = Pencil([[z, X, 0], [X.T, 1, 0], [0, 0, z]], [1, psi, 1], [z])
    s = Structure(L)
    assert (1, 3) not in s.pattern and (3, 3) in s.pattern


def test_pruning_independent_subpencil():
    X = GaussianMatrix("X", 1, psi)
    Y = GaussianMatrix("Y", 1, phi)
    L = Pencil(
        [[z, X, 0, 0], [X.T, 1, 0, 0], [0, 0, z, Y], [0, 0, Y.T, 1]], [1, psi, 1, phi], [z]
    )
    s = Structure(L)
    assert set(s.unknowns) == {(1, 1), (2, 2), (3, 3), (4, 4)}
    assert s.needed([(0, 0)]) == ((0, 0), (1, 1))
    assert s.needed([(2, 2)]) == ((2, 2), (3, 3))


def test_structurally_singular():
    X = GaussianMatrix("X", 1, psi)
    L = Pencil([[0, 0], [0, 1]], [1, 1], [])
    with pytest.raises(StructureError, match="blocks 1 of one space are structurally singular"):
        Structure(L)
    assert X  # keeps the matrix alive for sympy's cache


def test_target_validation(textbook):
    from pencils import PencilValidationError

    s = Structure(textbook["marchenko_pastur"])
    with pytest.raises(PencilValidationError, match="outside the 2 x 2 pencil"):
        s.check_target((3, 1))


# -- the structural inverse against its definition by bipartite matchings -------------------------------------------

def matching_inverse(entries, blocks):
    """(M^{-1})_ab is generically non-zero iff M without row b and column a has a perfect matching."""
    import networkx as nx

    def perfect(skip_row=None, skip_col=None):
        rows = [("r", i) for i in blocks if i != skip_row]
        graph = nx.Graph()
        graph.add_nodes_from(rows)
        graph.add_nodes_from(("c", j) for j in blocks if j != skip_col)
        graph.add_edges_from((("r", i), ("c", j)) for i, j in entries if i != skip_row and j != skip_col)
        return len(nx.bipartite.hopcroft_karp_matching(graph, top_nodes=rows)) // 2 == len(rows)

    if not perfect():
        return None
    return frozenset((a, b) for a in blocks for b in blocks if perfect(skip_row=b, skip_col=a))


@pytest.mark.parametrize("seed", range(40))
def test_structural_inverse_equals_the_matching_definition(seed):
    import random

    from pencils.structure import _structural_inverse

    rng = random.Random(seed)
    n = rng.randrange(1, 9)
    density = rng.choice([0.15, 0.3, 0.5])
    blocks = tuple(sorted(rng.sample(range(12), n)))
    entries = {(i, j) for i in blocks for j in blocks if rng.random() < density}
    if seed % 3 == 0:
        entries |= {(i, i) for i in blocks}
    assert _structural_inverse(entries, blocks) == matching_inverse(entries, blocks)


@pytest.mark.parametrize("seed", range(5))
def test_structure_of_random_pencils_is_the_matching_one(seed, monkeypatch):
    import pencils.structure as structure
    from pencils.testing import random_pencil

    L = random_pencil(9, 4, seed=seed, off_diagonal_identity=seed % 2 == 0)
    fast = Structure(L)
    monkeypatch.setattr(structure, "_structural_inverse", matching_inverse)
    assert Structure(L).pattern == fast.pattern
