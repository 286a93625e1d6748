"""The :class:`Pencil`: a square block matrix linear in Gaussian random matrices.

A pencil ``L`` has ``k x k`` blocks. Block ``i`` has ``sizes[i] * N`` rows;
every block is a sum of terms ``c * I`` (only between blocks of one size),
``c * X`` and ``c * X.T``, with ``c`` a SymPy expression in the declared
parameters and the ratios. Blocks are numbered from 1, as in the mathematics
(``g_11`` is the normalised trace of block (1, 1) of ``E[L^{-1}]``).

Examples
--------
The Marchenko–Pastur pencil, whose block (1, 1) of the inverse is the
resolvent ``(z - X X^T)^{-1}``:

>>> import sympy as sp
>>> from pencils import Pencil, GaussianMatrix, ratio
>>> z, psi = sp.Symbol("z"), ratio("psi")
>>> X = GaussianMatrix("X", 1, psi)
>>> L = Pencil([[z, X], [X.T, 1]], sizes=[1, psi], parameters=[z])
>>> L
Pencil(2 x 2 blocks, sizes [1, psi], matrices [X], parameters [z])
>>> L.block(1, 2)
X
"""

import hashlib
from dataclasses import dataclass

import sympy as sp

from .exceptions import PencilValidationError
from .deterministic import DeterministicMatrix, spectral_variables
from .matrices import RandomMatrix
from .parsing import as_sympy, substitutions

__all__ = ["Pencil", "Term"]


@dataclass(frozen=True)
class Term:
    """One term of a block: ``coefficient * matrix`` (``matrix`` None for the identity)."""

    matrix: RandomMatrix | None
    coefficient: sp.Expr


def _name(i, j):
    return f"block ({i + 1}, {j + 1})"


class Pencil:
    """A linear pencil.

    Parameters
    ----------
    blocks : sequence of sequences
        ``k`` rows of ``k`` SymPy expressions (numbers, parameters, random
        matrices and their transposes), or a square :class:`sympy.Matrix`.
    sizes : sequence
        ``k`` positive ratios: block ``i`` has ``sizes[i] * N`` rows.
    parameters : sequence of sympy.Symbol, optional
        The scalar parameters the coefficients may use (besides the ratios).
    spaces : sequence of str, optional
        A label per block naming the space it acts on (``"d"``, ``"p"``...).
        When given, a term that forces two differently labelled blocks into
        one space is an error.
    name, description : str, optional
        Shown in files, LaTeX and the command line.
    replicas : Replicas, optional
        Blocks repeated a (symbolic) number of times, with the random
        matrices drawn afresh for every copy (see :mod:`pencils.replicas`).
        The pencil then holds the blocks of one copy.

    Raises
    ------
    PencilValidationError
        Naming the block and the rule broken: non-square pencil, a term not
        linear in the random matrices, a shape mismatch, an identity between
        blocks of different sizes or declared spaces, an undeclared symbol.
    """

    def __init__(self, blocks, sizes, parameters=(), spaces=None, name="", description="", replicas=None):
        rows = [list(row) for row in (blocks.tolist() if isinstance(blocks, sp.MatrixBase) else blocks)]
        k = len(rows)
        if k == 0:
            raise PencilValidationError("a pencil needs at least one block")
        for i, row in enumerate(rows):
            if len(row) != k:
                raise PencilValidationError(
                    f"the pencil must be square (k x k blocks): row {i + 1} has {len(row)} blocks, "
                    f"expected {k}"
                )
        if len(sizes) != k:
            raise PencilValidationError(f"{len(sizes)} sizes given for {k} blocks per row")
        self.blocks = tuple(tuple(as_sympy(b, where=f"block ({i + 1}, {j + 1})") for j, b in enumerate(row))
                            for i, row in enumerate(rows))
        self.sizes = tuple(as_sympy(s, where=f"size of block {i + 1}") for i, s in enumerate(sizes))
        for i, s in enumerate(self.sizes):
            if s.is_positive is not True:
                raise PencilValidationError(
                    f"size of block {i + 1} must be a positive ratio, got {s} "
                    "(declare ratios with pencils.ratio)"
                )
        self.parameters = tuple(as_sympy(p, where="parameters") for p in parameters)
        for p in self.parameters:
            if not isinstance(p, sp.Symbol) or isinstance(p, RandomMatrix):
                raise PencilValidationError(f"parameter {p} is not a scalar symbol")
        if spaces is not None and len(spaces) != k:
            raise PencilValidationError(f"{len(spaces)} space labels given for {k} blocks")
        self.space_labels = None if spaces is None else tuple(str(s) for s in spaces)
        self.name = name
        self.description = description
        self.matrices = {}
        self.deterministic = {}
        self.terms = {}
        for i in range(k):
            for j in range(k):
                terms = self._decompose(i, j)
                if terms:
                    self.terms[(i, j)] = terms
        self.ratios = tuple(
            sorted(
                set().union(*(s.free_symbols for s in self.sizes))
                | set().union(*(set(m.rows.free_symbols | m.cols.free_symbols) for m in self.matrices.values()))
                | set().union(*(m.rows.free_symbols for m in self.deterministic.values())),
                key=str,
            )
        )
        self._check_symbols()
        self.replicas = replicas
        if replicas is not None:
            replicas.validate(self)
        from .structure import spaces as _spaces

        self.spaces = _spaces(self)
        self.laws = self._laws()

    def _laws(self):
        """``{space index: SpectralLaw}`` for the spaces that hold deterministic matrices."""
        if not self.deterministic:
            return {}
        if self.replicas is not None:
            raise PencilValidationError("deterministic matrices in a pencil with replicated blocks are not "
                                        "supported yet")
        space_of = {b: n for n, blocks in enumerate(self.spaces) for b in blocks}
        by_variable = {m.spectral: m for m in self.deterministic.values()}
        laws = {}
        for (i, j), terms in self.terms.items():
            for term in terms:
                for variable in term.coefficient.free_symbols & set(by_variable):
                    m = by_variable[variable]
                    where = _name(i, j)
                    if term.matrix is not None:
                        raise PencilValidationError(
                            f"{where}: the deterministic matrix {m} appears in the coefficient of {term.matrix}, "
                            "which is not linear; give it its own block")
                    if sp.simplify(self.sizes[i] - m.rows) != 0:
                        raise PencilValidationError(
                            f"{where}: {m} is {m.rows} x {m.rows} but the block is {self.sizes[i]} x {self.sizes[j]}")
                    space = space_of[i]
                    known = laws.setdefault(space, m.law)
                    if known != m.law:
                        raise PencilValidationError(
                            f"{where}: deterministic matrices of two different spectral laws act on one space "
                            "(they need not commute); give them one joint SpectralLaw")
        return laws

    # -- construction ------------------------------------------------------------------------
    def _declare(self, matrix, where):
        base = matrix.base
        known = self.matrices.get(base.name)
        if known is None:
            self.matrices[base.name] = base
        elif not known.same_declaration(base):
            raise PencilValidationError(
                f"{where}: matrix {base.name} is declared twice with different kind, shape or variance"
            )

    def _declare_deterministic(self, matrix, where):
        known = self.deterministic.get(matrix.name)
        if known is None:
            if matrix.name in self.matrices:
                raise PencilValidationError(f"{where}: {matrix.name} names a random and a deterministic matrix")
            self.deterministic[matrix.name] = matrix
        elif known.law != matrix.law or sp.simplify(known.rows - matrix.rows) != 0:
            raise PencilValidationError(f"{where}: the deterministic matrix {matrix.name} is declared twice "
                                        "with different laws or sizes")

    def _decompose(self, i, j):
        where = _name(i, j)
        collected = {}
        for term in sp.Add.make_args(sp.expand(self.blocks[i][j])):
            if term == 0:
                continue
            c, nc = term.args_cnc()
            coefficient = sp.Mul(*c)
            deterministic = [f for f in nc if f.atoms(DeterministicMatrix)]
            if deterministic:
                replaced, used = spectral_variables(term)
                if replaced is None:
                    raise PencilValidationError(
                        f"{where}: {sp.Mul(*nc)} multiplies the deterministic matrix {used[0]} by a random "
                        "matrix, which is not linear; give the deterministic factor its own block "
                        "(pencils.linearize does)")
                for m in used:
                    self._declare_deterministic(m, where)
                coefficient, nc = replaced, []
            if not nc:
                key = None
            elif len(nc) == 1 and isinstance(nc[0], RandomMatrix):
                key = nc[0]
            elif len(nc) > 1:
                raise PencilValidationError(
                    f"{where}: {sp.Mul(*nc)} is not linear in the random matrices "
                    f"(a product of {', '.join(map(str, nc))}); linearise it with more blocks"
                )
            elif isinstance(nc[0], sp.Pow):
                raise PencilValidationError(
                    f"{where}: {nc[0]} is not linear in the random matrices (a power of "
                    f"{nc[0].base}); linearise it with more blocks"
                )
            else:
                raise PencilValidationError(
                    f"{where}: {nc[0]} is not linear in the random matrices (a random matrix inside "
                    "a function or coefficient)"
                )
            if coefficient.atoms(RandomMatrix):
                raise PencilValidationError(f"{where}: a random matrix appears inside a coefficient")
            collected[key] = collected.get(key, 0) + coefficient
        terms = []
        for key, coefficient in collected.items():
            coefficient = as_sympy(coefficient)
            if coefficient == 0:
                continue
            if key is None:
                if sp.simplify(self.sizes[i] - self.sizes[j]) != 0:
                    raise PencilValidationError(
                        f"{where}: identity term {coefficient} between blocks of different sizes "
                        f"{self.sizes[i]} and {self.sizes[j]}"
                    )
            else:
                self._declare(key, where)
                if (
                    sp.simplify(key.rows - self.sizes[i]) != 0
                    or sp.simplify(key.cols - self.sizes[j]) != 0
                ):
                    raise PencilValidationError(
                        f"{where}: {key} has shape {key.rows} x {key.cols} but the block is "
                        f"{self.sizes[i]} x {self.sizes[j]}"
                    )
            terms.append(Term(key, coefficient))
        return tuple(terms)

    def _check_symbols(self):
        allowed = set(self.parameters) | set(self.ratios) | {m.spectral for m in self.deterministic.values()}
        for (i, j), terms in self.terms.items():
            for term in terms:
                unknown = term.coefficient.free_symbols - allowed
                if unknown:
                    names = ", ".join(sorted(map(str, unknown)))
                    raise PencilValidationError(
                        f"{_name(i, j)}: symbol(s) {names} neither a declared parameter nor a ratio"
                    )
        for m in self.deterministic.values():
            law = m.law
            unknown = set().union(*(sp.sympify(v).free_symbols for v in law.weights + sum(law.values.values(), ())))
            unknown -= allowed
            if unknown:
                raise PencilValidationError(
                    f"spectral law of {m.name}: symbol(s) {', '.join(sorted(map(str, unknown)))} neither a declared "
                    "parameter nor a ratio")
        for m in self.matrices.values():
            unknown = m.variance.free_symbols - allowed
            if unknown:
                names = ", ".join(sorted(map(str, unknown)))
                raise PencilValidationError(
                    f"variance of {m.name}: symbol(s) {names} neither a declared parameter nor a ratio"
                )

    # -- access ------------------------------------------------------------------------------
    @property
    def k(self):
        """The number of blocks per row."""
        return len(self.blocks)

    def block(self, i, j):
        """The block in row ``i``, column ``j`` (numbered from 1)."""
        return self.blocks[i - 1][j - 1]

    @property
    def symbols(self):
        """All scalar symbols: the parameters, then the ratios not among them."""
        return tuple(self.parameters) + tuple(r for r in self.ratios if r not in self.parameters)

    def identity_part(self):
        """The ``k x k`` SymPy matrix ``C`` of the identity coefficients."""
        C = sp.zeros(self.k, self.k)
        for (i, j), terms in self.terms.items():
            for term in terms:
                if term.matrix is None:
                    C[i, j] = term.coefficient
        return C

    def _repr_latex_(self):
        """The pencil in a notebook: ``L = (blocks)`` (:func:`pencils.latex.pencil_latex`)."""
        from .latex import pencil_latex

        return f"$$L = {pencil_latex(self)}$$"

    def as_matrix(self):
        """The pencil as a SymPy matrix of (non-commutative) block expressions."""
        return sp.Matrix(self.blocks)

    def subs(self, values):
        """A new pencil with some parameters replaced by values or expressions.

        Ratios may be substituted only by positive values or positive symbols.

        >>> import sympy as sp
        >>> from pencils import Pencil, WignerMatrix
        >>> z, s = sp.symbols("z s")
        >>> L = Pencil([[z - s * WignerMatrix("W", 1)]], sizes=[1], parameters=[z, s])
        >>> L.subs({s: 2}).block(1, 1)
        z - 2*W
        """
        values = substitutions(values, self.symbols)
        replacements = {}
        for m in self.matrices.values():
            declaration = [x.subs(values) for x in (m.rows, m.cols, m.variance)]
            new = (
                type(m)(m.name, declaration[0], declaration[2])
                if m.kind == "wigner"
                else type(m)(m.name, *declaration)
            )
            replacements[m], replacements[m.T] = new, new.T
        blocks = [[b.xreplace(replacements).subs(values) for b in row] for row in self.blocks]
        sizes = [s.subs(values) for s in self.sizes]
        remaining = [p for p in self.parameters if p not in values]
        extra = set().union(*(v.free_symbols for v in values.values())) - set(self.symbols)
        return Pencil(
            blocks, sizes, parameters=remaining + sorted(extra, key=str), spaces=self.space_labels,
            name=self.name, description=self.description, replicas=self._replicas_after(values),
        )

    def _replicas_after(self, values):
        """The replica declaration once ``values`` are substituted (a count given a value stays a count)."""
        from .replicas import Replicas

        r = self.replicas
        if r is None or r.count not in values:
            return r
        return Replicas(values[r.count], r.blocks, r.matrices)

    def expand(self, copies):
        """The explicit pencil with ``copies`` copies of the replicated blocks (:func:`pencils.replicas.expand`)."""
        from .replicas import expand

        return expand(self, copies)

    def text(self):
        """The pencil in the text format of :mod:`pencils.io`."""
        from .io import dumps

        return dumps(self)

    def fingerprint(self):
        """A short SHA-256 hash of the pencil's text, used as provenance."""
        return hashlib.sha256(self.text().encode()).hexdigest()[:16]

    def __eq__(self, other):
        if not isinstance(other, Pencil) or other.k != self.k:
            return False
        return (
            all(sp.simplify(a - b) == 0 for a, b in zip(self.sizes, other.sizes))
            and set(self.parameters) == set(other.parameters)
            and self.matrices.keys() == other.matrices.keys()
            and all(m.same_declaration(other.matrices[n]) for n, m in self.matrices.items())
            and all(
                sp.expand(self.blocks[i][j] - other.blocks[i][j]) == 0
                for i in range(self.k)
                for j in range(self.k)
            )
            and self.space_labels == other.space_labels
            and self.replicas == other.replicas
        )

    __hash__ = None

    def __repr__(self):
        return (
            f"Pencil({self.k} x {self.k} blocks, sizes [{', '.join(map(str, self.sizes))}], "
            f"matrices [{', '.join(self.matrices)}], parameters [{', '.join(map(str, self.parameters))}]"
            + (f", {self.replicas!r}" if self.replicas is not None else "") + ")"
        )
