import mpmath
import numpy as np
import pytest

from pencils import linalg


def random_matrix(n, seed, complex_entries=False):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if complex_entries else 0)
    return A


@pytest.mark.parametrize("complex_entries", [False, True])
def test_inverse_and_solve_against_numpy(complex_entries):
    A = random_matrix(6, 1, complex_entries)
    b = A[:, 0] * 0.5 + 1
    inverse = np.array(linalg.inverse(A.tolist()))
    assert np.allclose(inverse, np.linalg.inv(A), atol=1e-12)
    assert np.allclose(linalg.solve(A.tolist(), b.tolist()), np.linalg.solve(A, b), atol=1e-12)
    columns = linalg.solve_columns(A.tolist(), [b.tolist(), (2 * b).tolist()])
    assert np.allclose(columns[1], 2 * np.linalg.solve(A, b), atol=1e-12)


def test_products_against_numpy():
    A, B = random_matrix(4, 2), random_matrix(4, 3)
    A[1, :] = 0  # zero rows and entries are skipped
    assert np.allclose(linalg.matmul(A.tolist(), B.tolist()), A @ B)
    assert np.allclose(linalg.add(A.tolist(), B.tolist()), A + B)
    assert np.allclose(linalg.sub(A.tolist(), B.tolist()), A - B)
    assert np.allclose(linalg.scaled(3, A.tolist()), 3 * A)


def test_high_precision_inverse():
    with mpmath.workdps(60):
        H = [[mpmath.mpf(1) / (i + j + 1) for j in range(5)] for i in range(5)]  # Hilbert matrix
        product = linalg.matmul(linalg.inverse(H), H)
        assert max(abs(product[i][j] - (i == j)) for i in range(5) for j in range(5)) < mpmath.mpf(10) ** -50


def test_singular():
    with pytest.raises(ZeroDivisionError):
        linalg.inverse([[1, 2], [2, 4]])
    assert linalg.identity(2) == [[1, 0], [0, 1]] and linalg.zeros(1) == [[0]]


def test_a_ball_that_contains_zero_is_not_skipped_in_a_product():
    """flint's ``ball != 0`` is False for any ball containing 0; the product must keep its radius.

    (Skipping such entries once gave certified but wrong DSM derivatives: a wide ball of an
    unknown's Taylor coefficient was dropped, and the target's ball came out narrow and wrong.)
    """
    from flint import acb, arb

    wide = acb(arb(0, 1))  # [+/- 1]
    (row,) = linalg.matmul([[wide, acb(1)]], [[acb(2)], [acb(3)]])
    assert row[0].real.contains(arb(3 + 2)) and row[0].real.contains(arb(3 - 2))
    (row,) = linalg.matmul([[acb(2)]], [[wide]])
    assert row[0].real.contains(arb(2)) and row[0].real.contains(arb(-2))
