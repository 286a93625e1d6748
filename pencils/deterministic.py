"""Deterministic matrices given by a spectral law.

A :class:`SpectralLaw` is the joint spectral law of a family of mutually
commuting symmetric deterministic matrices on one space: finitely many atoms,
each a weight and one value per matrix (symbolic values and weights allowed),
or an empirical list of eigenvalues (equal weights). A
:class:`DeterministicMatrix` of the family is a non-commutative symbol (it does
not commute with the random matrices); functions of the family (``Sigma**(1/2)``,
``(Sigma + c)**-1``, ``Sigma * T``) are deterministic coefficients.

In a pencil, a deterministic matrix may appear only in the identity part
``C`` (``sqrt(Sigma)`` between two blocks of its space, ``z - Sigma`` on a
diagonal); a product with a random matrix is not linear (give the deterministic
factor its own block: :func:`pencils.linearize` does). Since the Gaussian
matrices are invariant under rotations, the Dyson equation of a space that
holds the family becomes an average over its spectral law,

    ``G = sum_k w_k (C(sigma_k) - eta(G))^{-1}``,

with ``sigma`` the *spectral variable* (a commutative symbol of the same name)
standing for the eigenvalue of each matrix in the coefficients; the cost is
linear in the number of atoms.

Examples
--------
Two eigenvalues, 4 with weight 0.3 and 1 with weight 0.7:

>>> from pencils import SpectralLaw
>>> H = SpectralLaw.atoms([("0.3", 4), ("0.7", 1)])
>>> H
SpectralLaw(2 atoms: Sigma; weights [3/10, 7/10])
>>> Sigma = H.matrix("Sigma", 1)
>>> Sigma.shape, Sigma.kind, Sigma.spectral
((1, 1), 'deterministic', Sigma)
>>> H.mean(Sigma.spectral ** 2)       # 0.3 * 16 + 0.7 * 1
11/2
"""

import sympy as sp

from .exceptions import PencilValidationError
from .matrices import MatrixSymbol
from .parsing import as_sympy

__all__ = ["SpectralLaw", "DeterministicMatrix", "spectral_variables", "EXPLICIT_ATOMS", "draw_family",
           "joint_eigenvectors", "apply"]

EXPLICIT_ATOMS = 8  # laws with more atoms are shown as an indexed sum in equations


class SpectralLaw:
    """The joint spectral law of commuting symmetric deterministic matrices: weighted atoms.

    Parameters
    ----------
    weights : sequence
        ``K`` non-negative weights summing to 1 (exact numbers or symbols).
    values : dict
        ``{matrix name: K eigenvalues}``: atom ``k`` gives each matrix of the
        family the eigenvalue ``values[name][k]`` on a ``weights[k]`` fraction of
        the space.

    Raises
    ------
    PencilValidationError
        No atom, lengths that differ, a negative weight, weights whose sum is
        not 1, a complex eigenvalue.
    """

    def __init__(self, weights, values):
        self.weights = tuple(as_sympy(w, where="weight of a spectral law") for w in weights)
        if not self.weights:
            raise PencilValidationError("a spectral law needs at least one atom")
        if not values:
            raise PencilValidationError("a spectral law needs the eigenvalues of at least one matrix")
        self.values = {}
        for name, column in values.items():
            column = tuple(as_sympy(v, where=f"eigenvalue of {name}") for v in column)
            if len(column) != len(self.weights):
                raise PencilValidationError(
                    f"{name} has {len(column)} eigenvalues for {len(self.weights)} weights")
            for v in column:
                if v.is_real is False:
                    raise PencilValidationError(f"{name} is symmetric: its eigenvalue {v} must be real")
            self.values[str(name)] = column
        for w in self.weights:
            if w.is_negative:
                raise PencilValidationError(f"a spectral law has the negative weight {w}")
        total = sp.nsimplify(sum(self.weights)) if all(w.is_number for w in self.weights) else sum(self.weights)
        if sp.simplify(total - 1) != 0:
            raise PencilValidationError(f"the weights of a spectral law sum to {total}, not 1")
        self._matrices = {}

    @classmethod
    def atoms(cls, pairs, name="Sigma"):
        """A law of one matrix from ``(weight, eigenvalue)`` pairs.

        >>> SpectralLaw.atoms([(1, 2)]).values
        {'Sigma': (2,)}
        """
        pairs = list(pairs)
        return cls([w for w, _ in pairs], {name: [v for _, v in pairs]})

    @classmethod
    def eigenvalues(cls, values, name="Sigma"):
        """The empirical law of a list of eigenvalues (each of weight ``1/len(values)``).

        >>> SpectralLaw.eigenvalues([1, 2, "2.5"]).weights
        (1/3, 1/3, 1/3)
        """
        values = list(values)
        if not values:
            raise PencilValidationError("an empirical spectral law needs at least one eigenvalue")
        return cls([sp.Rational(1, len(values))] * len(values), {name: values})

    def __len__(self):
        return len(self.weights)

    def matrix(self, name, size):
        """The deterministic matrix ``name`` of the family, of size ``size * N`` (created once)."""
        if name not in self.values:
            raise PencilValidationError(f"the spectral law has no matrix {name} (it has {', '.join(self.values)})")
        if name not in self._matrices:
            self._matrices[name] = DeterministicMatrix(name, size, self)
        matrix = self._matrices[name]
        if sp.simplify(matrix.rows - as_sympy(size, where=f"size of {name}")) != 0:
            raise PencilValidationError(f"{name} was created with size {matrix.rows}, not {size}")
        return matrix

    def substitutions(self):
        """Per atom, ``{spectral variable: eigenvalue}`` for every matrix of the family."""
        variables = {name: sp.Symbol(name, real=True) for name in self.values}
        return [{variables[name]: column[k] for name, column in self.values.items()} for k in range(len(self))]

    def mean(self, expr):
        """``sum_k w_k expr(sigma_k)`` for an expression in the spectral variables."""
        expr = sp.sympify(expr)
        return sp.expand(sum((w * expr.subs(s) for w, s in zip(self.weights, self.substitutions())), sp.Integer(0)))

    def average(self, expr):
        """The average of ``expr`` over the law, as shown in equations.

        An explicit sum over the atoms for at most :data:`EXPLICIT_ATOMS` atoms;
        beyond, ``Sum(w[k] * expr(Sigma[k]), (k, 1, K))`` (the atoms as indexed symbols).

        >>> import sympy as sp
        >>> H = SpectralLaw.atoms([("0.3", 4), ("0.7", 1)])
        >>> H.average(1 / (sp.Symbol("z") - sp.Symbol("Sigma", real=True)))
        7/(10*(z - 1)) + 3/(10*(z - 4))
        """
        expr = sp.sympify(expr)
        if len(self) <= EXPLICIT_ATOMS:
            return sum((w * expr.subs(s) for w, s in zip(self.weights, self.substitutions())), sp.Integer(0))
        k = sp.Symbol("k", integer=True, positive=True)
        indexed = {sp.Symbol(name, real=True): sp.IndexedBase(name)[k] for name in self.values}
        return sp.Sum(sp.IndexedBase("w")[k] * expr.xreplace(indexed), (k, 1, len(self)))

    def key(self):
        """A hashable description (equal laws have equal keys)."""
        return (self.weights, tuple(sorted(self.values.items())))

    def __eq__(self, other):
        return isinstance(other, SpectralLaw) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):
        weights = ", ".join(map(str, self.weights[:4])) + (", ..." if len(self) > 4 else "")
        return f"SpectralLaw({len(self)} atoms: {', '.join(self.values)}; weights [{weights}])"


class DeterministicMatrix(MatrixSymbol):
    """A symmetric deterministic matrix of a :class:`SpectralLaw` (create it with :meth:`SpectralLaw.matrix`)."""

    kind = "deterministic"

    def __new__(cls, name, size, law):
        obj = sp.Symbol.__xnew__(cls, name, commutative=False)
        obj.rows = obj.cols = as_sympy(size, where=f"size of {name}")
        if obj.rows.is_positive is not True:
            raise PencilValidationError(f"size of {name} must be a positive ratio, got {obj.rows}")
        obj.law = law
        obj.variance = sp.Integer(0)
        return obj

    def __getnewargs_ex__(self):
        return ((self.name, self.rows, self.law), {})

    def _hashable_content(self):
        return super()._hashable_content() + (self.kind, self.rows, self.law.key())

    @property
    def T(self):
        """A symmetric matrix is its own transpose."""
        return self

    @property
    def spectral(self):
        """The commutative symbol standing for its eigenvalue in the coefficients of a pencil."""
        return sp.Symbol(self.name, real=True)

    def declaration(self):
        """A dictionary describing the matrix, as written in pencil files."""
        return {"kind": self.kind, "size": str(self.rows)}


def spectral_variables(expr):
    """``(coefficient, matrices)``: ``expr`` with its deterministic matrices replaced by spectral variables.

    ``coefficient`` is ``None`` when ``expr`` holds anything non-commutative
    besides deterministic matrices (a random matrix).

    >>> H = SpectralLaw.atoms([(1, 2)])
    >>> S = H.matrix("Sigma", 1)
    >>> spectral_variables(3 * S ** sp.Rational(1, 2))
    (3*sqrt(Sigma), (Sigma,))
    """
    expr = sp.sympify(expr)
    matrices = tuple(sorted(expr.atoms(DeterministicMatrix), key=str))
    replaced = expr.xreplace({m: m.spectral for m in matrices})
    if not replaced.is_commutative:
        return None, matrices
    return replaced, matrices


def draw_family(law, n, values, rng=None):
    """Matrices of a law's family at dimension ``n``: ``{name: n x n array}``.

    Atom ``k`` gets ``round(w_k n)`` eigenvalues (the rounding corrected on the
    largest atoms so that they add up to ``n``); ``values`` gives numbers for
    the symbols of the law. With ``rng`` the family is diagonal in a Haar-random
    orthogonal basis, else diagonal.
    """
    import numpy as np

    def number(x):
        return float(sp.sympify(x).subs({sp.Symbol(k, **_assumptions(x, k)): v for k, v in values.items()}))

    weights = np.array([number(w) for w in law.weights])
    counts = np.floor(weights * n + 0.5).astype(int)
    order = np.argsort(-weights)
    i = 0
    while counts.sum() != n:
        counts[order[i % len(order)]] += 1 if counts.sum() < n else -1 if counts[order[i % len(order)]] > 0 else 0
        i += 1
    basis = None
    if rng is not None:
        q, r = np.linalg.qr(rng.standard_normal((n, n)))
        basis = q * np.sign(np.diag(r))
    family = {}
    for name, column in law.values.items():
        diagonal = np.repeat([number(v) for v in column], counts)
        family[name] = np.diag(diagonal) if basis is None else (basis * diagonal) @ basis.T
    return family


def _assumptions(expr, name):
    found = [s for s in sp.sympify(expr).free_symbols if s.name == name]
    return found[0].assumptions0 if found else {}


def joint_eigenvectors(matrices):
    """An orthogonal basis diagonalising commuting symmetric matrices, and their eigenvalues in it.

    Eigenvectors of a generic combination separate the joint eigenspaces
    (a single matrix with repeated eigenvalues would not diagonalise the others).
    """
    import numpy as np

    rng = np.random.default_rng(12345)
    combination = sum(rng.uniform(1, 2) * m for m in matrices.values())
    _, vectors = np.linalg.eigh(combination)
    return vectors, {name: np.einsum("ij,ik,kj->j", vectors, m, vectors) for name, m in matrices.items()}


def apply(coefficient, eigen, values):
    """The matrix ``f(D_1, ...)`` of a coefficient in spectral variables.

    ``eigen`` is :func:`joint_eigenvectors` of the family (computed once for all
    the coefficients of a draw); ``values`` gives the other symbols (parameters) numbers.
    """
    import numpy as np

    vectors, eigenvalues = eigen
    names = sorted(eigenvalues)
    symbols = [sp.Symbol(name, real=True) for name in names]
    other = {s: values[s.name] for s in coefficient.free_symbols if s.name in values and s.name not in eigenvalues}
    f = sp.lambdify(symbols, sp.sympify(coefficient).subs(other), modules="numpy")
    diagonal = np.broadcast_to(np.asarray(f(*(eigenvalues[name] for name in names)), dtype=complex),
                               (len(vectors),))
    if np.all(diagonal.imag == 0):
        diagonal = diagonal.real
    return (vectors * diagonal) @ vectors.T
