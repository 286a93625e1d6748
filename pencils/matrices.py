"""Dimension ratios and the Gaussian random matrices of a pencil.

Conventions (see ``docs/concepts.md``): the reference dimension is ``N``; a
block of ratio ``alpha`` has ``alpha * N`` rows. A Gaussian matrix of shape
``a x b`` (two ratios) has i.i.d. centred real entries of variance
``variance / N``. A Wigner matrix is square and symmetric, with the same
variance off the diagonal.

Random matrices are non-commutative SymPy symbols, so that pencils are written
with ordinary SymPy arithmetic: ``z - 2*X``, ``X.T``, ``sqrt(psi)*W``.

Examples
--------
>>> from pencils import ratio, GaussianMatrix
>>> psi = ratio("psi")
>>> X = GaussianMatrix("X", 1, psi)
>>> X.shape
(1, psi)
>>> X.T, X.T.shape, X.T.T is X
(X.T, (psi, 1), True)
"""

import sympy as sp

from .exceptions import PencilValidationError
from .parsing import as_sympy

__all__ = ["ratio", "ratios", "MatrixSymbol", "RandomMatrix", "GaussianMatrix", "WignerMatrix", "TransposedMatrix", "transpose"]


def ratio(name):
    """Return a positive symbolic dimension ratio.

    Parameters
    ----------
    name : str
        The name of the ratio, e.g. ``"psi"``.

    Examples
    --------
    >>> ratio("psi").is_positive
    True
    """
    return sp.Symbol(name, positive=True)


def ratios(names):
    """Return several positive ratios, as :func:`sympy.symbols` does.

    >>> ratios("psi_n psi_p")
    (psi_n, psi_p)
    """
    return sp.symbols(names, positive=True)


def _positive_ratio(value, what):
    value = as_sympy(value, where=what)
    if value.is_positive is not True:
        raise PencilValidationError(
            f"{what} must be a positive ratio (a positive number or a symbol declared "
            f"positive, e.g. pencils.ratio('psi')), got {value}"
        )
    return value


class MatrixSymbol(sp.Symbol):
    """A non-commutative symbol standing for a matrix of ``rows * N`` by ``cols * N`` (ratios)."""

    is_commutative = False

    @property
    def shape(self):
        """The shape as a pair of ratios ``(rows, cols)``."""
        return (self.rows, self.cols)

    @property
    def base(self):
        """The matrix itself (for a transpose, the matrix transposed)."""
        return self

    @property
    def transposed(self):
        """Whether this symbol stands for a transpose."""
        return False


class RandomMatrix(MatrixSymbol):
    """Base class of the random matrices held by a pencil (a non-commutative symbol).

    Two random matrices with the same name are the same matrix for SymPy; a
    pencil refuses two different declarations under one name.
    """

    def __new__(cls, name, rows, cols, variance=1):
        obj = sp.Symbol.__xnew__(cls, name, commutative=False)
        obj.rows = _positive_ratio(rows, f"rows of {name}")
        obj.cols = _positive_ratio(cols, f"columns of {name}")
        obj.variance = as_sympy(variance, where=f"variance of {name}")
        if obj.variance.atoms(RandomMatrix):
            raise PencilValidationError(f"variance of {name} contains a random matrix")
        if obj.variance.is_nonnegative is False or obj.variance.is_zero:
            raise PencilValidationError(f"variance of {name} must be positive, got {obj.variance}")
        return obj

    def __getnewargs_ex__(self):
        return ((self.name, self.rows, self.cols, self.variance), {})

    def _hashable_content(self):
        # matrices with one name but different declarations are different symbols
        return super()._hashable_content() + (self.kind, self.rows, self.cols, self.variance)

    def declaration(self):
        """A dictionary describing the matrix, as written in pencil files."""
        return {
            "kind": self.kind,
            "shape": [str(self.rows), str(self.cols)],
            "variance": str(self.variance),
        }

    def same_declaration(self, other):
        """Whether ``other`` declares the same matrix (name, kind, shape, variance)."""
        return (
            type(self) is type(other)
            and self.name == other.name
            and sp.simplify(self.rows - other.rows) == 0
            and sp.simplify(self.cols - other.cols) == 0
            and sp.simplify(self.variance - other.variance) == 0
        )


class GaussianMatrix(RandomMatrix):
    """A rectangular matrix with i.i.d. real centred Gaussian entries.

    Parameters
    ----------
    name : str
        Name of the matrix (a valid Python identifier).
    rows, cols : ratio
        Its shape, ``rows * N`` by ``cols * N``.
    variance : sympy expression, optional
        ``sigma**2``: the entries have variance ``sigma**2 / N``. Default 1.

    Examples
    --------
    >>> import sympy as sp
    >>> from pencils import ratio
    >>> s = sp.Symbol("s", positive=True)
    >>> W = GaussianMatrix("W", ratio("psi"), 1, variance=s**2)
    >>> W.variance, W.kind
    (s**2, 'gaussian')
    """

    kind = "gaussian"

    @property
    def T(self):
        """The transpose, a symbol printed ``X.T``."""
        return TransposedMatrix(self)


class WignerMatrix(RandomMatrix):
    """A real symmetric Gaussian (GOE-type) matrix.

    Entries above the diagonal are i.i.d. with variance ``variance / N``; the
    matrix equals its transpose, so ``W.T is W``.

    Examples
    --------
    >>> W = WignerMatrix("W", 1)
    >>> W.T is W, W.shape
    (True, (1, 1))
    """

    kind = "wigner"

    def __new__(cls, name, size, variance=1):
        return super().__new__(cls, name, size, size, variance)

    def __getnewargs_ex__(self):
        return ((self.name, self.rows, self.variance), {})

    @property
    def T(self):
        """A Wigner matrix is symmetric: its transpose is itself."""
        return self

    def declaration(self):
        """A dictionary describing the matrix, as written in pencil files."""
        return {"kind": self.kind, "size": str(self.rows), "variance": str(self.variance)}


class TransposedMatrix(RandomMatrix):
    """The transpose ``X.T`` of a :class:`GaussianMatrix` (use ``X.T`` to create it)."""

    kind = "transpose"

    def __new__(cls, matrix):
        obj = sp.Symbol.__xnew__(cls, matrix.name + ".T", commutative=False)
        obj._base = matrix
        obj.rows, obj.cols, obj.variance = matrix.cols, matrix.rows, matrix.variance
        return obj

    def __getnewargs_ex__(self):
        return ((self._base,), {})

    @property
    def base(self):
        return self._base

    @property
    def transposed(self):
        return True

    @property
    def T(self):
        return self._base

    def _latex(self, printer):
        return printer._print(self._base) + "^{\\top}"


def transpose(expr):
    """The transpose of a matrix expression in random matrices.

    Sums transpose termwise, products in reverse order, powers and inverses
    factor by factor; scalars are unchanged.

    Examples
    --------
    >>> import sympy as sp
    >>> X, Y = GaussianMatrix("X", 1, 2), GaussianMatrix("Y", 2, 1)
    >>> transpose(3 * X * Y + 1)
    1 + 3*Y.T*X.T
    >>> transpose((1 + X * X.T) ** -1)
    (1 + X*X.T)**(-1)
    """
    expr = sp.sympify(expr)
    if expr.is_commutative:
        return expr
    if isinstance(expr, RandomMatrix):
        return expr.T
    if isinstance(expr, sp.Add):
        return sp.Add(*(transpose(t) for t in expr.args))
    if isinstance(expr, sp.Mul):
        c, factors = expr.args_cnc()
        return sp.Mul(*c) * sp.Mul(*(transpose(f) for f in reversed(factors)))
    if isinstance(expr, sp.Pow):
        return sp.Pow(transpose(expr.base), expr.exp)
    raise PencilValidationError(f"cannot transpose {expr}: not a sum, product or power of random matrices")
