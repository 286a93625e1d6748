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


# -- mpmath numbers: python-flint's midpoint solver at the working precision ------------------

def mp_matrix(n, seed, complex_entries):
    """A well-conditioned matrix (random entries plus ``n`` on the diagonal) of mpmath numbers."""
    rng = np.random.default_rng(seed)
    entries = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if complex_entries else 0)
    entries += n * np.eye(n)
    convert = mpmath.mpc if complex_entries else mpmath.mpf
    return [[convert(x) / 3 for x in row] for row in entries.tolist()]  # / 3: not exact in binary


def max_error(X, reference):
    return max(abs(x - reference[i, j]) for i, row in enumerate(X) for j, x in enumerate(row))


@pytest.mark.parametrize("dps", [15, 30, 100])
@pytest.mark.parametrize("complex_entries", [False, True])
@pytest.mark.parametrize("n", [2, 5, 12])
def test_mpmath_inverse_and_solve_against_mpmath_at_higher_precision(dps, complex_entries, n):
    with mpmath.workdps(dps):
        A = mp_matrix(n, n, complex_entries)
        b = [mpmath.mpf(k + 1) / 7 for k in range(n)]
        c = [mpmath.mpc(1, k) / 7 for k in range(n)]
        X = linalg.inverse(A)
        x = linalg.solve(A, b)
        columns = linalg.solve_columns(A, [b, c])
        prec = mpmath.mp.prec
    with mpmath.workdps(dps + 30):
        M = mpmath.matrix(A)
        reference = mpmath.inverse(M)
        xb, xc = mpmath.lu_solve(M, mpmath.matrix(b)), mpmath.lu_solve(M, mpmath.matrix(c))
        tolerance = mpmath.mpf(10) ** (1 - dps) * mpmath.mnorm(reference, 1)
        assert max_error(X, reference) < tolerance
        assert max_error([x], xb.T) < tolerance
        assert max_error(columns, mpmath.matrix([list(xb), list(xc)])) < tolerance
    kind = mpmath.mpc if complex_entries else mpmath.mpf
    assert all(type(v) is kind for row in X for v in row) and all(type(v) is kind for v in x)
    assert all(type(v) is mpmath.mpc for v in columns[1])
    parts = [v.real for row in X for v in row] + [v.imag for row in X for v in row if complex_entries]
    assert all(v._mpf_[3] <= prec for v in parts)  # rounded to the working precision


def hilbert_inverse(n):
    """The exact inverse of the ``n x n`` Hilbert matrix (integers; a closed form)."""
    from math import comb

    return [[(-1) ** (i + j) * (i + j - 1) * comb(n + i - 1, n - j) * comb(n + j - 1, n - i) * comb(i + j - 2, i - 1) ** 2
             for j in range(1, n + 1)] for i in range(1, n + 1)]


@pytest.mark.parametrize("dps", [30, 100])
def test_ill_conditioned_hilbert_inverse_against_its_closed_form(dps):
    """Condition number about 3.4e10 at n = 8: the error is at most that times the working precision."""
    n = 8
    exact = hilbert_inverse(n)
    with mpmath.workdps(dps):
        H = [[mpmath.mpf(1) / (i + j + 1) for j in range(n)] for i in range(n)]
        X = linalg.inverse(H)
        x = linalg.solve(H, [1] * n)
    largest = max(abs(v) for row in exact for v in row)
    with mpmath.workdps(dps + 30):
        assert max(abs(X[i][j] - exact[i][j]) for i in range(n) for j in range(n)) < 10 ** (12 - dps) * largest
        assert max(abs(x[i] - sum(exact[i])) for i in range(n)) < 10 ** (12 - dps) * largest


@pytest.mark.parametrize("complex_entries", [False, True])
def test_mpmath_product_against_mpmath_at_higher_precision(complex_entries):
    with mpmath.workdps(40):
        A, B = mp_matrix(4, 1, complex_entries), mp_matrix(4, 2, complex_entries)
        A[1] = [0] * 4  # exact zeros mixed in
        rectangular = [row[:3] for row in B]
        products = [linalg.matmul(A, B), linalg.matmul(A, rectangular), linalg.matmul([[A[0][0]]], [B[0][:2]])]
        prec = mpmath.mp.prec
    with mpmath.workdps(70):
        tolerance = mpmath.mpf(10) ** -39
        assert max_error(products[0], mpmath.matrix(A) * mpmath.matrix(B)) < tolerance
        assert max_error(products[1], mpmath.matrix(A) * mpmath.matrix(rectangular)) < tolerance
        assert max_error(products[2], mpmath.matrix([[A[0][0] * B[0][0], A[0][0] * B[0][1]]])) < tolerance
    assert all(v.real._mpf_[3] <= prec for row in products[0] for v in row)


def test_mpmath_results_depend_only_on_the_precision_asked():
    """Inside ``workdps(d)`` the result is the same whatever the precision outside, mpmath's or flint's."""
    import flint

    def inverse_at_30_digits():
        with mpmath.workdps(30):
            return linalg.inverse(mp_matrix(5, 3, True))

    results = []
    for outside in (15, 80):
        with mpmath.workdps(outside):
            results.append(inverse_at_30_digits())
    with flint.ctx.workprec(20):
        results.append(inverse_at_30_digits())
        assert flint.ctx.prec == 20  # restored after the call
    assert results[0] == results[1] == results[2]
    with mpmath.workdps(30):
        A = mp_matrix(5, 3, True)
    with mpmath.workdps(60):
        assert max_error(results[0], mpmath.inverse(mpmath.matrix(A))) < mpmath.mpf(10) ** -29


@pytest.mark.parametrize("convert", [float, complex, mpmath.mpf, mpmath.mpc])
def test_singular_matrices_raise(convert):
    singular = [[convert(1), convert(2)], [convert(2), convert(4)]]
    with mpmath.workdps(30):
        for call in (lambda: linalg.inverse(singular), lambda: linalg.solve(singular, [1, 1]),
                     lambda: linalg.solve_columns(singular, [[1, 1], [0, 1]]),
                     lambda: linalg.inverse([[convert(0)]]),
                     lambda: linalg.inverse([[convert(1), 0, 0], [0, 0, 0], [0, 0, convert(1)]])):
            with pytest.raises(ZeroDivisionError):
                call()


@pytest.mark.parametrize("nan", [float("nan"), mpmath.mpf("nan")])
def test_a_non_finite_entry_propagates_as_in_the_elimination(nan):
    """NumPy and flint find no pivot in a matrix with nan; the result is then the elimination's (all nan)."""
    with mpmath.workdps(30):
        X = linalg.inverse([[nan, 1], [1, 1]])
    assert all(v != v for row in X for v in row)


def test_float_results_are_python_floats():
    X = linalg.inverse([[2.0, 1.0], [1.0, 1.0]])
    assert all(type(v) is float for row in X for v in row)
    assert linalg.inverse([[4.0]]) == [[0.25]]
    assert linalg.solve_columns([[1j, 0], [0, 2]], [[1, 2]]) == [[-1j, 1]]


def _reference_inverse_30(A):
    with mpmath.workdps(60):
        return mpmath.inverse(mpmath.matrix(A))


def test_without_flint_mpmath_numbers_use_the_elimination(monkeypatch):
    def unavailable(*args, **kwargs):
        raise AssertionError("flint used")

    monkeypatch.setattr(linalg, "flint", None)
    monkeypatch.setattr(linalg, "arb_mat", unavailable)
    monkeypatch.setattr(linalg, "acb_mat", unavailable)
    with mpmath.workdps(30):
        A = mp_matrix(4, 5, True)
        X = linalg.inverse(A)
        product = linalg.matmul(A, X)
        x = linalg.solve(A, [1, 2, 3, 4])
    with mpmath.workdps(60):
        assert max_error(X, _reference_inverse_30(A)) < mpmath.mpf(10) ** -29
        assert max_error(product, mpmath.eye(4)) < mpmath.mpf(10) ** -28
        assert max_error([x], (_reference_inverse_30(A) * mpmath.matrix([1, 2, 3, 4])).T) < mpmath.mpf(10) ** -29


def test_the_module_imports_without_flint(monkeypatch):
    """A fresh copy of the module, loaded where ``import flint`` fails, works on mpmath and float numbers."""
    import importlib.util
    import sys

    monkeypatch.setitem(sys.modules, "flint", None)  # import flint raises ImportError
    spec = importlib.util.spec_from_file_location("linalg_without_flint", linalg.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.flint is None
    with mpmath.workdps(30):
        A = mp_matrix(3, 6, False)
        X = module.inverse(A)
        with pytest.raises(ZeroDivisionError):
            module.inverse([[mpmath.mpf(1), 2], [2, 4]])
    with mpmath.workdps(60):
        assert max_error(X, _reference_inverse_30(A)) < mpmath.mpf(10) ** -29
    assert np.allclose(module.inverse([[2.0, 1.0], [1.0, 1.0]]), [[1, -1], [-1, 2]])
