"""Dense linear algebra on lists of lists, for any number type.

The Dyson systems invert many small matrices (one per space, a few blocks
each) and solve small Newton systems. Lists of lists serve every precision
with one interface; each call picks its arithmetic from the entries:

* Python ``float``/``complex`` (the float64 continuation): NumPy's LAPACK
  routines, except 1 x 1 systems, where the elimination below is faster;
* mpmath numbers (the polish at the working precision): python-flint's
  ``arb_mat``/``acb_mat`` midpoint solver (``algorithm="approx"``) at
  ``mpmath.mp.prec`` plus :data:`GUARD_BITS` bits, the entries converted
  exactly both ways; results are ``mpf`` (real input) or ``mpc`` (complex
  input) rounded to ``mpmath.mp.prec``;
* python-flint balls (``arb``/``acb``): flint's rigorous ball routines, so
  that every result encloses the exact one (a ball matrix that may be
  singular raises ``ZeroDivisionError``);
* anything else (or mpmath numbers without python-flint): Gauss–Jordan
  elimination in Python, :func:`_eliminate`.

A singular matrix raises ``ZeroDivisionError``. Where NumPy or flint find no
usable pivot, the Python elimination is run instead, so that singular and
non-finite inputs behave as they always did (it raises for an exactly singular
matrix and propagates ``nan``/``inf`` otherwise).

>>> inverse([[2.0, 1.0], [1.0, 1.0]])
[[1.0, -1.0], [-1.0, 2.0]]
>>> solve([[2.0, 1.0], [1.0, 1.0]], [3.0, 2.0])
[1.0, 1.0]
"""

import mpmath
import numpy as np
from mpmath.libmp import from_man_exp, round_nearest

try:
    import flint
    from flint import acb, acb_mat, arb, arb_mat
except ImportError:  # mpmath numbers then use the Python elimination; no balls can occur
    flint = None
    _BALLS = frozenset()
else:
    _BALLS = frozenset({arb, acb})

__all__ = ["GUARD_BITS", "zeros", "identity", "inverse", "inverses", "solve", "solve_columns", "matmul", "add", "sub", "scaled",
           "exactly_zero"]

GUARD_BITS = 16
"""Bits beyond ``mpmath.mp.prec`` carried by flint for mpmath inputs."""

_MACHINE = frozenset({int, float, complex})
_MPMATH = frozenset({mpmath.mpf, mpmath.mpc})
_COMPLEX = frozenset({complex, mpmath.mpc})


def _entry_types(*matrices):
    return {type(x) for M in matrices for row in M for x in row}


def _on_flint(types):
    """Whether entries of these types are mpmath numbers that flint can take exactly."""
    return flint is not None and bool(types & _MPMATH) and types <= _MACHINE | _MPMATH


def zeros(n):
    """An ``n x n`` matrix of zeros."""
    return [[0] * n for _ in range(n)]


def identity(n):
    """The ``n x n`` identity."""
    return [[1 if i == j else 0 for j in range(n)] for i in range(n)]


def _eliminate(A, B):
    """Gauss–Jordan with partial pivoting on ``A`` (square), applied to the columns of ``B``.

    Works with any number type that has ``abs``, ``==``, ``+``, ``*`` and ``1 / x``.

    Parameters
    ----------
    A : list of lists
        The square matrix.
    B : list of lists
        The right-hand sides, one column each.

    Returns
    -------
    list of lists
        ``A^{-1} B``.

    Raises
    ------
    ZeroDivisionError
        For an exactly singular ``A`` (a zero pivot).

    Examples
    --------
    >>> from fractions import Fraction
    >>> _eliminate([[Fraction(2), Fraction(1)], [Fraction(1), Fraction(1)]], [[3], [2]])
    [[Fraction(1, 1)], [Fraction(1, 1)]]
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


def _to_mpmath(X, prec, complex_entries):
    """The exact midpoints of a flint matrix as mpmath numbers rounded to ``prec`` bits (list of lists)."""
    X = X.mid()
    make_mpf, make_mpc = mpmath.mp.make_mpf, mpmath.mp.make_mpc

    def value(x):
        man, exp = x.man_exp()
        return from_man_exp(int(man), int(exp), prec, round_nearest)

    if complex_entries:
        entries = [make_mpc((value(re), value(im))) for re, im in zip(X.real.entries(), X.imag.entries())]
    else:
        entries = [make_mpf(value(x)) for x in X.entries()]
    width = X.ncols()
    return [entries[i:i + width] for i in range(0, len(entries), width)]


def _flint_solve(A, B, complex_entries):
    """``A^{-1} B`` for mpmath entries by flint's floating-point LU at the working precision plus guard bits."""
    prec = mpmath.mp.prec
    matrix = acb_mat if complex_entries else arb_mat
    try:
        with flint.ctx.workprec(prec + GUARD_BITS):
            X = matrix(A).solve(matrix(B), algorithm="approx")
    except ZeroDivisionError:  # no nonzero pivot, or a non-finite entry
        return _eliminate(A, B)
    return _to_mpmath(X, prec, complex_entries)


def inverses(matrices):
    """The inverses of several square matrices (as :func:`inverse`, each).

    Float64 matrices of one size are inverted in one batched NumPy call (a
    spectral law of 1000 atoms is 1000 small blocks); a singular one falls back
    to :func:`inverse`, which raises ``ZeroDivisionError``.

    >>> inverses([[[2.0]], [[1.0, 0.0], [0.0, 4.0]], [[4.0]]])
    [[[0.5]], [[1.0, 0.0], [0.0, 0.25]], [[0.25]]]
    """
    matrices = list(matrices)
    result = [None] * len(matrices)
    batches = {}
    for n, A in enumerate(matrices):
        if len(A) > 1 and _entry_types(A) <= _MACHINE:
            batches.setdefault(len(A), []).append(n)
        else:
            result[n] = inverse(A)
    for indices in batches.values():
        if len(indices) == 1:
            result[indices[0]] = inverse(matrices[indices[0]])
            continue
        try:
            inverted = np.linalg.inv(np.array([matrices[n] for n in indices]))
        except np.linalg.LinAlgError:
            inverted = None
        if inverted is None or not np.all(np.isfinite(inverted)):   # one by one: singular ones raise
            inverted = [inverse(matrices[n]) for n in indices]
        else:
            inverted = inverted.tolist()
        for n, M in zip(indices, inverted):
            result[n] = M
    return result


def _solve(A, B, types):
    """``A^{-1} B`` for entries of ``types`` (not balls), by the fastest route for them."""
    if len(A) > 1:
        if types <= _MACHINE:
            try:
                return np.linalg.solve(np.array(A), np.array(B)).tolist()
            except np.linalg.LinAlgError:
                pass  # singular or non-finite: the elimination decides
        elif _on_flint(types):
            return _flint_solve(A, B, bool(types & _COMPLEX))
    return _eliminate(A, B)


def inverse(A):
    """The inverse of a square matrix.

    Parameters
    ----------
    A : list of lists
        A square matrix of Python, mpmath or python-flint numbers.

    Returns
    -------
    list of lists
        ``A^{-1}``: floats for float input; ``mpf``/``mpc`` at ``mpmath.mp.prec``
        for mpmath input; balls enclosing the exact inverse for ball input.

    Raises
    ------
    ZeroDivisionError
        If ``A`` is singular (for balls: if it may be singular).

    Examples
    --------
    >>> import mpmath
    >>> with mpmath.workdps(30):
    ...     print(inverse([[mpmath.mpf(3), 1], [1, 1]]))
    [[mpf('0.5'), mpf('-0.5')], [mpf('-0.5'), mpf('1.5')]]
    """
    types = _entry_types(A)
    if types & _BALLS:
        if len(A) == 1:  # a reciprocal (no matrix to build)
            x = acb(A[0][0])
            if x.contains(0):
                raise ZeroDivisionError("singular matrix")
            return [[1 / x]]
        return acb_mat(A).inv().tolist()
    if len(A) > 1 and types <= _MACHINE:
        try:
            return np.linalg.inv(np.array(A)).tolist()
        except np.linalg.LinAlgError:
            return _eliminate(A, identity(len(A)))
    return _solve(A, identity(len(A)), types)


def solve(A, b):
    """The solution ``x`` of ``A x = b`` for a vector ``b`` (see :func:`solve_columns`).

    Examples
    --------
    >>> import mpmath
    >>> with mpmath.workdps(30):
    ...     print(solve([[mpmath.mpc(0, 2), 0], [0, 4]], [1, 2]))
    [mpc(real='0.0', imag='-0.5'), mpc(real='0.5', imag='0.0')]
    """
    return solve_columns(A, [b])[0]


def solve_columns(A, vectors):
    """The solutions of ``A x = b`` for several vectors ``b`` (one factorization).

    Parameters
    ----------
    A : list of lists
        A square matrix of Python, mpmath or python-flint numbers.
    vectors : list of lists
        The right-hand sides ``b``.

    Returns
    -------
    list of lists
        One solution per vector, in the number type of the inputs (as for
        :func:`inverse`).

    Raises
    ------
    ZeroDivisionError
        If ``A`` is singular (for balls: if it may be singular).

    Examples
    --------
    >>> solve_columns([[2.0, 0.0], [0.0, 4.0]], [[2.0, 4.0], [1.0, 1.0]])
    [[1.0, 1.0], [0.5, 0.25]]
    """
    if not vectors:
        return []
    B = [list(row) for row in zip(*vectors)]
    types = _entry_types(A, B)
    if types & _BALLS:
        X = acb_mat(A).solve(acb_mat(B), algorithm="precond").tolist()
    else:
        X = _solve(A, B, types)
    return [list(col) for col in zip(*X)]


def exactly_zero(x):
    """Whether ``x`` is exactly 0; for a ball, not merely possibly 0.

    (For python-flint balls ``x != 0`` is False as soon as the ball contains 0:
    skipping such an entry would drop its radius from the product.)
    """
    return x.is_zero() if type(x) in _BALLS else x == 0


def _product(A, B):
    """``A B`` by the schoolbook loop, skipping exactly zero entries (any number type)."""
    width = len(B[0]) if B else 0
    product = []
    for row in A:
        out = [0] * width
        for k, a in enumerate(row):
            if not exactly_zero(a):
                for j, b in enumerate(B[k]):
                    if not exactly_zero(b):
                        out[j] += a * b
        product.append(out)
    return product


def matmul(A, B):
    """The product ``A B``.

    With an inner dimension of at least 2, mpmath entries are multiplied by
    flint at the working precision plus :data:`GUARD_BITS` (one rounding per
    entry, to ``mpmath.mp.prec``) and balls by flint's ball product (an
    enclosure of the exact product); otherwise a Python loop skips exactly
    zero entries (the matrices here are sparse).

    Examples
    --------
    >>> matmul([[1, 2], [0, 1]], [[1.5], [2.0]])
    [[5.5], [2.0]]
    """
    if A and len(B) > 1 and B[0]:
        types = _entry_types(A, B)
        if types & _BALLS and types <= _BALLS | {int}:  # flint's ball product: an enclosure, in C
            return (acb_mat(A) * acb_mat(B)).tolist()
        if _on_flint(types):
            matrix = acb_mat if types & _COMPLEX else arb_mat
            prec = mpmath.mp.prec
            with flint.ctx.workprec(prec + GUARD_BITS):
                product = matrix(A) * matrix(B)
            return _to_mpmath(product, prec, bool(types & _COMPLEX))
    return _product(A, B)


def add(A, B):
    """``A + B``."""
    return [[x + y for x, y in zip(ra, rb)] for ra, rb in zip(A, B)]


def sub(A, B):
    """``A - B``."""
    return [[x - y for x, y in zip(ra, rb)] for ra, rb in zip(A, B)]


def scaled(c, A):
    """``c A``."""
    return [[c * x for x in row] for row in A]
