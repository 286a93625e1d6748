"""Dense linear algebra on lists of lists, for any number type.

The Dyson systems invert many small matrices (one per space, a few blocks
each) and solve small Newton systems. For such sizes plain Python lists are
faster than ``mpmath.matrix`` and serve both precisions with one code path:
Python ``float``/``complex`` for the float64 continuation and mpmath numbers
for the polish at the working precision. Matrices of python-flint balls
(``acb``) are inverted and solved by flint's rigorous ball routines, so that
every result encloses the exact one (a ball matrix that may be singular raises
``ZeroDivisionError``).

>>> inverse([[2.0, 1.0], [1.0, 1.0]])
[[1.0, -1.0], [-1.0, 2.0]]
>>> solve([[2.0, 1.0], [1.0, 1.0]], [3.0, 2.0])
[1.0, 1.0]
"""

from flint import acb, acb_mat, arb

__all__ = ["zeros", "identity", "inverse", "solve", "solve_columns", "matmul", "add", "sub", "scaled"]


def _has_balls(A):
    return any(isinstance(x, acb | arb) for row in A for x in row)


def zeros(n):
    """An ``n x n`` matrix of zeros."""
    return [[0] * n for _ in range(n)]


def identity(n):
    """The ``n x n`` identity."""
    return [[1 if i == j else 0 for j in range(n)] for i in range(n)]


def _eliminate(A, B):
    """Gauss–Jordan with partial pivoting on ``A`` (square), applied to the columns of ``B``.

    Returns ``A^{-1} B``; raises ZeroDivisionError for an exactly singular ``A``.
    """
    n = len(A)
    A = [list(row) for row in A]
    B = [list(row) for row in B]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(A[r][col]))
        if A[pivot][col] == 0:
            raise ZeroDivisionError("singular matrix")
        A[col], A[pivot] = A[pivot], A[col]
        B[col], B[pivot] = B[pivot], B[col]
        inv = 1 / A[col][col]
        rowA, rowB = [x * inv for x in A[col]], [x * inv for x in B[col]]
        A[col], B[col] = rowA, rowB
        for r in range(n):
            if r != col:
                f = A[r][col]
                if f != 0:
                    A[r] = [x - f * y for x, y in zip(A[r], rowA)]
                    B[r] = [x - f * y for x, y in zip(B[r], rowB)]
    return B


def inverse(A):
    """The inverse of a square matrix (ZeroDivisionError if singular)."""
    if _has_balls(A):
        return acb_mat(A).inv().tolist()
    return _eliminate(A, identity(len(A)))


def solve(A, b):
    """The solution ``x`` of ``A x = b`` for a vector ``b``."""
    return solve_columns(A, [b])[0]


def solve_columns(A, vectors):
    """The solutions of ``A x = b`` for several vectors ``b`` (one elimination)."""
    if not vectors:
        return []
    B = [list(row) for row in zip(*vectors)]
    if _has_balls(A) or _has_balls(B):
        X = acb_mat(A).solve(acb_mat(B), algorithm="precond").tolist()
    else:
        X = _eliminate(A, B)
    return [list(col) for col in zip(*X)]


def _exactly_zero(x):
    """Whether ``x`` is exactly 0; for a ball, not merely possibly 0.

    (For python-flint balls ``x != 0`` is False as soon as the ball contains 0:
    skipping such an entry would drop its radius from the product.)
    """
    return x.is_zero() if isinstance(x, acb | arb) else x == 0


def matmul(A, B):
    """The product ``A B`` (exactly zero entries are skipped: the matrices here are sparse)."""
    width = len(B[0]) if B else 0
    product = []
    for row in A:
        out = [0] * width
        for k, a in enumerate(row):
            if not _exactly_zero(a):
                for j, b in enumerate(B[k]):
                    if not _exactly_zero(b):
                        out[j] += a * b
        product.append(out)
    return product


def add(A, B):
    """``A + B``."""
    return [[x + y for x, y in zip(ra, rb)] for ra, rb in zip(A, B)]


def sub(A, B):
    """``A - B``."""
    return [[x - y for x, y in zip(ra, rb)] for ra, rb in zip(A, B)]


def scaled(c, A):
    """``c A``."""
    return [[c * x for x in row] for row in A]
