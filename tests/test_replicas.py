"""Declaring replicated blocks: validation, expansion, the text format."""

import pytest
import sympy as sp

from pencils import GaussianMatrix, Pencil, PencilFormatError, PencilValidationError, Replicas, dumps, loads, ratio
from pencils.replicas import copy_index, expand

z, m, psi = sp.Symbol("z"), sp.Symbol("m", positive=True), ratio("psi")
X, Y = GaussianMatrix("X", 1, psi), GaussianMatrix("Y", 1, 1)


def pencil(replicas, parameters=(z, m)):
    return Pencil([[z, X, Y], [X.T, 1, 0], [Y.T, 0, z]], [1, psi, 1], parameters, replicas=replicas)


def test_expand_copies_blocks_and_renames_per_copy_matrices():
    L = pencil(Replicas(m, blocks=[2], matrices=["X"]))
    E = expand(L, 3)
    assert E.k == 5 and sorted(E.matrices) == ["X_1", "X_2", "X_3", "Y"]
    index = copy_index(L, 3)
    assert E.block(index[(0, None)] + 1, index[(1, 2)] + 1) == E.matrices["X_3"]
    assert E.block(index[(1, 0)] + 1, index[(1, 1)] + 1) == 0  # no term between copies
    assert m not in E.symbols


def test_count_may_be_an_integer():
    L = pencil(Replicas(3, blocks=[2], matrices=["X"]), parameters=(z,))
    assert L.expand(3).k == 5
    with pytest.raises(PencilValidationError, match="has 3 copies, not 2"):
        L.expand(2)


@pytest.mark.parametrize("replicas, parameters, message", [
    (Replicas(m, blocks=[4]), (z, m), "outside the 3 x 3 pencil"),
    (Replicas(m, blocks=[2]), (z,), "must be declared among the pencil's parameters"),
    (Replicas(m, blocks=[2], matrices=["W"]), (z, m), "W does not appear"),
    (Replicas(m, blocks=[2], matrices=["Y"]), (z, m), "sits between two shared blocks"),
])
def test_bad_declarations_are_refused(replicas, parameters, message):
    with pytest.raises(PencilValidationError, match=message):
        pencil(replicas, parameters)


@pytest.mark.parametrize("count", [0, -2, sp.Rational(1, 2), sp.Symbol("q")])
def test_count_must_be_a_positive_symbol_or_integer(count):
    with pytest.raises(PencilValidationError, match="positive symbol or a positive integer"):
        Replicas(count, blocks=[1])


def test_count_cannot_be_a_size():
    with pytest.raises(PencilValidationError, match="not in sizes"):
        Pencil([[z, 0], [0, m]], [1, m], [z, m], replicas=Replicas(m, blocks=[2]))


def test_copy_names_must_be_free():
    X1 = GaussianMatrix("X_1", 1, psi)
    L = Pencil([[z, X, X1], [X.T, 1, 0], [X1.T, 0, 1]], [1, psi, psi], [z, m],
               replicas=Replicas(m, blocks=[2], matrices=["X"]))
    with pytest.raises(PencilValidationError, match="already uses"):
        L.expand(2)


def test_text_round_trip_and_subs():
    L = pencil(Replicas(m, blocks=[2], matrices=["X"]))
    text = dumps(L)
    assert '[replicas]\ncount = "m"\nblocks = [2]\nmatrices = ["X"]' in text
    assert loads(text) == L
    assert L.subs({m: 4}).replicas == Replicas(4, [2], ["X"])
    assert loads(text) != pencil(Replicas(m, blocks=[2]))


@pytest.mark.parametrize("table, message", [
    ('count = "k"\nblocks = [2]', "neither a positive integer nor a declared parameter"),
    ('count = "m"\nblocks = ["2"]', "list of block numbers"),
    ('count = "m"', "needs 'blocks'"),
    ('count = "m"\nblocks = [2]\nmatrices = ["Q"]', "Q is not a declared matrix"),
    ('count = "m"\nblocks = [2]\nevery = 1', "unknown key"),
    ('count = "__import__(\'os\')"\nblocks = [2]', "neither a positive integer"),
])
def test_bad_replica_tables_are_refused(table, message):
    text = dumps(pencil(Replicas(m, blocks=[2], matrices=["X"])))
    text = text[: text.index("[replicas]")] + "[replicas]\n" + table + "\n"
    with pytest.raises(PencilFormatError, match=message):
        loads(text)
