"""Tests of :mod:`pencils.linearization`.

Expected values never come from pencils itself: the block of ``L^{-1}`` (a
dense numpy inverse of the assembled pencil) is compared with the expression
evaluated by the independent numpy evaluation of :mod:`tests.expression_trees`
or written out by hand here; block counts are compared with the hand-written
pencils of ``pencils/examples``.
"""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from pencils.examples import path
from pencils import GaussianMatrix, LinearizationError, ParseError, WignerMatrix, linearize, load, ratio, trace
from pencils.linearization import _Reducer, shape_of
from pencils.matrices import transpose
from pencils.montecarlo import assemble

from expression_trees import POINT, Trees, dimension

z, lam = sp.Symbol("z"), sp.Symbol("lam", positive=True)
psi, phi = ratio("psi"), ratio("phi")
X = GaussianMatrix("X", 1, psi)


def block_of_inverse(linearization, matrices, at, N):
    names = {str(s) for s in linearization.pencil.symbols}
    L, offsets = assemble(linearization.pencil, {k: v for k, v in at.items() if k in names}, N, matrices)
    i, j = linearization.block
    return np.linalg.inv(L)[offsets[i - 1]:offsets[i], offsets[j - 1]:offsets[j]]


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 10**6), depth=st.integers(1, 4), square=st.booleans())
def test_random_expressions_are_the_block_of_the_inverse(seed, depth, square):
    trees = Trees(seed)
    node = trees.expression(depth, square=square)
    if node.expr.is_commutative:          # SymPy cancelled every matrix (e.g. A - A)
        return
    linearization = linearize(node.expr)
    assert linearization.check.passed
    for N, draw in ((5, 1), (9, 2)):
        matrices = trees.draw(N, np.random.default_rng(seed + draw))
        expected = node.value(matrices, N)
        got = block_of_inverse(linearization, matrices, POINT, N)
        assert np.max(np.abs(got - expected)) <= 1e-12 * np.max(np.abs(expected))


@pytest.mark.parametrize("name, expression, blocks", [
    ("marchenko_pastur", (z - X * X.T) ** -1, 2),
    ("ridge", (X * X.T + lam) ** -1, 2),
])
def test_textbook_resolvents_give_the_hand_written_pencil(name, expression, blocks):
    lin = linearize(expression)
    hand = load(path(name))
    assert lin.blocks == hand.k == blocks and lin.block == (1, 1)
    assert lin.pencil.blocks == tuple(tuple(sp.sympify(str(b), locals=_names(hand)) for b in row)
                                      for row in hand.blocks)


def _names(pencil):
    return {str(s): s for s in pencil.symbols} | {m.name: m for m in pencil.matrices.values()}


def test_wishart_product_and_sum_no_more_blocks_than_by_hand():
    W, Y = GaussianMatrix("W", 1, phi), GaussianMatrix("X", phi, psi)
    assert linearize((z - W * Y * Y.T * W.T) ** -1).blocks <= load(path("wishart_product")).k == 4
    X1, X2 = GaussianMatrix("X1", 1, psi), GaussianMatrix("X2", 1, psi)
    assert linearize((z - X1 * X1.T - X2 * X2.T) ** -1).blocks <= load(path("wishart_sum")).k == 3
    s = sp.Symbol("s", positive=True)
    V = WignerMatrix("W", 1, variance=s**2)
    assert linearize((z - V) ** -1).pencil.blocks == ((z - V,),)


def test_a_symmetric_expression_gives_a_symmetric_pencil():
    L, _ = linearize((X * X.T + lam) ** -1)
    assert all(sp.expand(transpose(L.blocks[j][i]) - L.blocks[i][j]) == 0 for i in range(2) for j in range(2))


def test_products_with_a_resolvent_reuse_its_blocks():
    R = (X * X.T + lam) ** -1
    # R X X^T is -block (1, 2) of [[lam, X], [X^T, -1]]^{-1} times X^T: three blocks, not six
    assert linearize(R * X * X.T).blocks == 3
    assert linearize(X.T * R * X).blocks == 3


def test_integer_powers_and_scalars():
    M = GaussianMatrix("M", 1, 1)
    rng = np.random.default_rng(3)
    m = rng.standard_normal((6, 6)) / np.sqrt(6)
    for expression, value in [
        (M**3, m @ m @ m),
        (2 * (3 + M) ** -2, 2 * np.linalg.matrix_power(np.linalg.inv(3 * np.eye(6) + m), 2)),
        ((1 + M) ** 0 * M, m),
        (M - M.T + 5, m - m.T + 5 * np.eye(6)),
    ]:
        lin = linearize(expression)
        got = block_of_inverse(lin, {"M": m}, {}, 6)
        assert np.allclose(got, value, rtol=0, atol=1e-12), expression


def test_a_string_is_parsed_not_evaluated():
    lin = linearize("(X*X.T + lam)**-1 * (X*X.T).T", matrices=[X], parameters=[lam])
    assert lin.blocks == 3 and lin.check.passed
    with pytest.raises(ParseError, match="double underscore"):
        linearize("X*__import__('os')", matrices=[X])
    with pytest.raises(ParseError, match="not declared|unknown|undeclared"):
        linearize("Y*Y.T", matrices=[X])


def test_transpose_of_compound_expressions():
    Y = GaussianMatrix("Y", psi, phi)
    expression = 3 * X * Y + X * (1 + Y * Y.T) ** -1 * Y
    assert transpose(expression) == 3 * Y.T * X.T + Y.T * (1 + Y * Y.T) ** -1 * X.T
    assert transpose(transpose(expression)) == expression


@pytest.mark.parametrize("expression, message", [
    (X + 1, "scalar is added to a 1 x psi matrix"),
    (X + X.T, "a sum of a 1 x psi and a psi x 1 matrix"),
    (X * GaussianMatrix("V", 1, 1), "multiplies a 1 x psi by a 1 x 1 matrix"),
    (X * X, "a power of a 1 x psi matrix, which is not square"),
    (X ** -1, "inverse of a 1 x psi matrix, which is not square"),
    (sp.sqrt(X * X.T), "only integer powers"),
    (sp.Integer(3), "is a scalar"),
])
def test_bad_expressions_are_refused_with_the_reason(expression, message):
    with pytest.raises(LinearizationError, match=message):
        linearize(expression)


def test_a_function_of_a_matrix_is_refused():
    with pytest.raises(LinearizationError, match="cannot be linearised"):
        shape_of(sp.exp(X * X.T) * X)


def test_a_wrong_pencil_is_refused_by_the_check(monkeypatch):
    original = _Reducer.signs

    def corrupt(self):
        original(self)
        key = next(key for key in self.entries if key[0] != key[1])
        self.entries[key] = 2 * self.entries[key]

    monkeypatch.setattr(_Reducer, "signs", corrupt)
    with pytest.raises(LinearizationError, match="fails the check"):
        linearize((z - X * X.T) ** -1)


def test_the_check_can_be_skipped_and_is_reported():
    lin = linearize(X * X.T, check=False)
    assert lin.check is None and lin.shape == (1, 1)
    pencil, block = lin
    assert pencil is lin.pencil and block == lin.block
    assert "3 x 3 pencil" in repr(lin)


BIAS = 1.0  # allowance BIAS / N for the O(1/N) finite-N bias of normalised traces (see tests/test_montecarlo.py)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 10**6), depth=st.integers(1, 4))
def test_random_traces_agree_with_monte_carlo(seed, depth):
    """The Dyson value of (1/N) tr expr against the expression itself, sampled: |diff| <= 4 se + BIAS/N."""
    trees = Trees(seed)
    node = trees.expression(depth, square=True)
    if node.expr.is_commutative:
        return
    used = {str(s) for s in node.expr.free_symbols} | {
        str(s) for m in node.expr.atoms(GaussianMatrix) for s in m.rows.free_symbols | m.cols.free_symbols}
    theory = complex(trace(node.expr, {k: v for k, v in POINT.items() if k in used}, dps=20).value)
    N, draws = 120, 10
    samples = []
    for draw in range(draws):
        value = node.value(trees.draw(N, np.random.default_rng(seed + 1000 + draw)), N)
        samples.append(np.trace(value) / value.shape[0])
    mean, se = np.mean(samples), np.std(samples, ddof=1) / np.sqrt(draws)
    assert value.shape[0] == dimension(node.rows, N)
    assert abs(theory - mean) <= 4 * se + BIAS / N, (node.expr, theory, mean, se)
