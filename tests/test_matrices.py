import pytest
import sympy as sp

from pencils import GaussianMatrix, PencilValidationError, WignerMatrix, ratio


def test_ratio_is_positive_symbol():
    psi = ratio("psi")
    assert psi.is_positive and psi == sp.Symbol("psi", positive=True)


def test_gaussian_shape_and_transpose():
    psi = ratio("psi")
    X = GaussianMatrix("X", 1, psi, variance=2)
    assert X.shape == (1, psi)
    assert X.T.shape == (psi, 1)
    assert X.T.T is X
    assert X.T.transposed and not X.transposed
    assert X.T.variance == 2
    assert not X.is_commutative


def test_wigner_is_symmetric():
    W = WignerMatrix("W", 2)
    assert W.T is W and W.shape == (2, 2)


def test_same_name_different_shape_are_different_symbols():
    assert GaussianMatrix("X", 1, 2) != GaussianMatrix("X", 1, 3)
    assert GaussianMatrix("X", 1, 2) == GaussianMatrix("X", 1, 2)


@pytest.mark.parametrize("rows", [0, -1, sp.Symbol("a"), sp.Symbol("a", real=True)])
def test_shape_must_be_positive_ratio(rows):
    with pytest.raises(PencilValidationError, match="rows of X must be a positive ratio"):
        GaussianMatrix("X", rows, 1)


@pytest.mark.parametrize("variance", [0, -2])
def test_variance_must_be_positive(variance):
    with pytest.raises(PencilValidationError, match="variance of X must be positive"):
        GaussianMatrix("X", 1, 1, variance=variance)


def test_variance_cannot_hold_a_matrix():
    Y = GaussianMatrix("Y", 1, 1)
    with pytest.raises(PencilValidationError, match="variance of X contains a random matrix"):
        GaussianMatrix("X", 1, 1, variance=Y)
