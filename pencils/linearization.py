"""Linearisation: the pencil of a rational expression in random matrices.

:func:`linearize` takes a matrix expression built from Gaussian and Wigner
matrices, their transposes, identities (a scalar in a sum is a multiple of the
identity), scalar coefficients (SymPy expressions in parameters), sums,
products and inverses (``A**-1``, integer powers), and returns a
:class:`Pencil` ``L`` and a block ``(i, j)`` with

    ``[L^{-1}]_ij = expression``

exactly, for every value of the matrices where both sides exist.

Construction
------------
Every sub-expression ``r`` is *realised* as a block matrix ``Q``, linear in the
random matrices, and two of its blocks ``a != b`` with ``r = [Q^{-1}]_ab``, in
a normal form where column ``a`` and row ``b`` of ``Q`` hold only the identity
on the diagonal (then ``r = -sigma + rho A^{-1} c`` is linear in the entries of
row ``a``):

* a matrix or scalar ``l``: ``Q = [[1, -l], [0, 1]]``;
* ``c r``: row ``a`` times ``c``;
* ``r1 + r2``: block-diagonal, blocks ``a1, a2`` merged and ``b1, b2`` merged;
* ``r1 r2``: block-triangular, block ``b1`` merged with ``a2`` (the chain
  ``[[1, -X, 0], [0, 1, -Y], [0, 0, 1]]`` realises ``X Y``);
* ``r^{-1}``: bordered, ``M = [[Q, -E_b], [E_a^T, 0]]`` has
  ``[M^{-1}]_nn = r^{-1}`` at the new block ``n`` (a Schur complement),
  wrapped by two identity blocks back into normal form.

Reduction
---------
The realisation is then reduced, every step an exact identity for the target
block of the inverse:

* *moving the target*: where the target row (column) is the identity plus one
  scalar link to another block, the target moves there;
* *pruning*: blocks that the target blocks do not reach, or that do not reach
  them, in the graph of ``L`` (a block-triangular split);
* *Schur complements*: a block whose diagonal is a non-zero number and whose
  elimination keeps ``L`` linear (every fill-in product has a scalar factor)
  is eliminated, the one with least fill-in first;
* block signs are chosen to make ``L`` symmetric where they can, then to
  minimise minus signs;
* a scalar factor ``c`` of the whole expression divides the target row
  (``[(D L)^{-1}]_ab = c [L^{-1}]_ab`` with ``D = 1/c`` on block ``b``): no
  block for it, and the pencil is singular where ``c = 0``.

For ``(z - X X^T)^{-1}`` this gives the Marchenko–Pastur pencil
``[[z, X], [X^T, 1]]``; the sizes for the textbook expressions are listed in
``docs/linearization.md`` next to the hand-written pencils.

Check
-----
The result is verified before it is returned: random matrices are drawn at a
small ``N`` and random parameter values, the block of ``L^{-1}`` is compared
with the expression evaluated directly, and a pencil that fails is refused
(:class:`~pencils.exceptions.LinearizationError`).

Examples
--------
>>> import sympy as sp
>>> from pencils import GaussianMatrix, ratio, linearize
>>> z, psi = sp.Symbol("z"), ratio("psi")
>>> X = GaussianMatrix("X", 1, psi)
>>> lin = linearize((z - X * X.T) ** -1)
>>> lin.pencil.blocks
((z, X), (X.T, 1))
>>> lin.block, lin.check.passed
((1, 1), True)
>>> L, block = lin          # unpacks as (pencil, block)
"""

import functools

import numpy as np
import sympy as sp

from .exceptions import LinearizationError, PencilsError
from .deterministic import DeterministicMatrix, apply, joint_eigenvectors, spectral_variables
from .matrices import RandomMatrix, transpose
from .parsing import parse_expression
from .pencil import Pencil

__all__ = ["linearize", "Linearization", "shape_of", "evaluate", "expression_of"]


# -- shapes -------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _same(a, b):
    """Whether two ratios are equal (cached: sizes are compared many times)."""
    return a == b or sp.expand(a - b) == 0 or sp.simplify(a - b) == 0


def shape_of(expr):
    """The shape ``(rows, cols)`` of a matrix expression (ratios), ``None`` for a scalar.

    Raises
    ------
    LinearizationError
        For a sum or product of mismatched shapes, a non-square power or
        inverse, a non-integer power, or a function of a random matrix.

    Examples
    --------
    >>> from pencils import GaussianMatrix, ratio
    >>> X = GaussianMatrix("X", 1, ratio("psi"))
    >>> shape_of(X.T * X), shape_of(2 + X * X.T)
    ((psi, psi), (1, 1))
    >>> shape_of(X + 1)
    Traceback (most recent call last):
    ...
    pencils.exceptions.LinearizationError: 1 + X: a scalar is added to a 1 x psi matrix (a multiple of the identity needs a square matrix)
    """
    return _Shapes()(sp.sympify(expr))


class _Shapes:
    def __init__(self):
        self.memo = {}

    def __call__(self, expr):
        if expr not in self.memo:
            self.memo[expr] = self._shape(expr)
        return self.memo[expr]

    def _shape(self, expr):
        if expr.is_commutative:
            return None
        if isinstance(expr, (RandomMatrix, DeterministicMatrix)):
            return expr.shape
        if _deterministic(expr):          # a function of one deterministic family: a coefficient
            matrices = expr.atoms(DeterministicMatrix)
            laws = {m.law for m in matrices}
            if len(laws) > 1:
                raise LinearizationError(f"{expr}: deterministic matrices of different spectral laws do not "
                                         "commute; give them one joint SpectralLaw")
            sizes = {m.rows for m in matrices}
            first = next(iter(matrices))
            if any(not _same(size, first.rows) for size in sizes):
                raise LinearizationError(f"{expr}: deterministic matrices of different sizes")
            return first.shape
        if isinstance(expr, sp.Add):
            shapes = [self(t) for t in expr.args]
            matrix = [s for s in shapes if s is not None]
            first = matrix[0]
            for s in matrix[1:]:
                if not (_same(s[0], first[0]) and _same(s[1], first[1])):
                    raise LinearizationError(
                        f"{expr}: a sum of a {first[0]} x {first[1]} and a {s[0]} x {s[1]} matrix")
            if len(matrix) < len(shapes) and not _same(*first):
                raise LinearizationError(
                    f"{expr}: a scalar is added to a {first[0]} x {first[1]} matrix (a multiple of the "
                    "identity needs a square matrix)")
            return first
        if isinstance(expr, sp.Mul):
            _, factors = expr.args_cnc()
            shapes = [self(f) for f in factors]
            for (f, s), (g, t) in zip(zip(factors, shapes), zip(factors[1:], shapes[1:])):
                if not _same(s[1], t[0]):
                    raise LinearizationError(
                        f"{expr}: the product {f} * {g} multiplies a {s[0]} x {s[1]} by a {t[0]} x {t[1]} matrix")
            return (shapes[0][0], shapes[-1][1])
        if isinstance(expr, sp.Pow):
            base = self(expr.base)
            if not (expr.exp.is_Integer):
                raise LinearizationError(
                    f"{expr}: only integer powers of a matrix can be linearised (exponent {expr.exp})")
            if base is None:
                return None
            if expr.exp != 1 and not _same(*base):
                what = "an inverse" if expr.exp < 0 else "a power"
                raise LinearizationError(f"{expr}: {what} of a {base[0]} x {base[1]} matrix, which is not square")
            return base
        raise LinearizationError(
            f"{expr}: a {type(expr).__name__} of random matrices cannot be linearised (only sums, products, "
            "integer powers and inverses of random matrices, with scalar coefficients)")


def _deterministic(expr):
    """Whether a non-commutative expression holds deterministic matrices and nothing else non-commutative."""
    return bool(expr.atoms(DeterministicMatrix)) and spectral_variables(expr)[0] is not None


# -- realisation --------------------------------------------------------------------------------

class _Realisation:
    """A sparse block matrix under construction: entries ``{(i, j): expr}`` over integer block ids."""

    def __init__(self):
        self.entries = {}
        self.sizes = {}
        self.shapes = _Shapes()
        self.created = 0

    def block(self, size):
        n = self.created
        self.created += 1
        self.sizes[n] = size
        return n

    def add(self, i, j, value):
        value = sp.expand(self.entries.get((i, j), 0) + value)
        if value == 0:
            self.entries.pop((i, j), None)
        else:
            self.entries[(i, j)] = value

    def merge(self, old, new):
        """Identify block ``old`` with block ``new``: off-diagonal entries add up, both diagonals are 1."""
        del self.entries[(old, old)]
        for (i, j) in [key for key in self.entries if old in key]:
            value = self.entries.pop((i, j))
            self.add(new if i == old else i, new if j == old else j, value)
        del self.sizes[old]

    # normal-form realisations (a, b): r = [Q^{-1}]_ab, column a and row b are the identity only
    def atom(self, value, shape):
        a, b = self.block(shape[0]), self.block(shape[1])
        self.add(a, a, 1)
        self.add(b, b, 1)
        self.add(a, b, -value)
        return a, b

    def scale(self, realised, c):
        a, _ = realised
        for key in [key for key in self.entries if key[0] == a and key[1] != a]:
            value = self.entries.pop(key)
            self.add(*key, c * value)
        return realised

    def sum(self, first, second):
        (a1, b1), (a2, b2) = first, second
        self.merge(a2, a1)
        self.merge(b2, b1)
        return a1, b1

    def product(self, first, second):
        (a1, b1), (a2, b2) = first, second
        self.merge(a2, b1)
        return a1, b2

    def inverse(self, realised):
        a, b = realised
        n = self.block(self.sizes[a])
        self.add(b, n, -1)
        self.add(n, a, 1)
        o, i = self.block(self.sizes[a]), self.block(self.sizes[a])
        self.add(o, o, 1)
        self.add(i, i, 1)
        self.add(o, n, -1)
        self.add(n, i, -1)
        return o, i

    def realise(self, expr, shape=None):
        shape = self.shapes(expr) if shape is None else shape
        if expr.is_commutative or isinstance(expr, RandomMatrix) or _deterministic(expr):
            return self.atom(expr, shape)
        if isinstance(expr, sp.Add):
            scalars = [t for t in expr.args if t.is_commutative]
            matrices = [t for t in expr.args if not t.is_commutative]
            result = self.realise(matrices[0], shape)
            for term in matrices[1:]:
                result = self.sum(result, self.realise(term, shape))
            if scalars:
                result = self.sum(result, self.atom(sp.Add(*scalars), shape))
            return result
        if isinstance(expr, sp.Mul):
            c, factors = expr.args_cnc()
            result = self.realise(factors[0])
            for factor in factors[1:]:
                result = self.product(result, self.realise(factor))
            c = sp.Mul(*c)
            return result if c == 1 else self.scale(result, c)
        # an integer power (shapes were checked)
        n = int(expr.exp)
        if n == 0:
            return self.atom(sp.Integer(1), shape)
        result = None
        for _ in range(abs(n)):
            one = self.realise(expr.base, shape)
            if n < 0:
                one = self.inverse(one)
            result = one if result is None else self.product(result, one)
        return result


# -- reduction ----------------------------------------------------------------------------------

class _Reducer:
    """Exact reductions of a realisation that keep ``[Q^{-1}]_ab``."""

    def __init__(self, realisation, a, b):
        self.r = realisation
        self.entries = realisation.entries
        self.a, self.b = a, b

    def row(self, k):
        return {j: v for (i, j), v in self.entries.items() if i == k and j != k}

    def column(self, k):
        return {i: v for (i, j), v in self.entries.items() if j == k and i != k}

    def drop(self, k):
        for key in [key for key in self.entries if k in key]:
            del self.entries[key]
        del self.r.sizes[k]

    def reduce(self):
        while self.move_target() or self.prune() or self.merge() or self.eliminate():
            pass
        self.symmetrise()
        self.signs()

    def move_target(self):
        """Move the target along a scalar link out of an identity row (column)."""
        return self.a != self.b and (self._move(row_side=True) or self._move(row_side=False))

    def _move(self, row_side):
        """Row side: target row ``a`` is ``e_a - v e_n`` with column ``a`` the identity only, so row ``a``
        of ``Q^{-1}`` is ``-v`` times row ``n``: scale column ``n`` by ``-1/v`` and move there. The
        column side is the transpose (target column ``b``, row ``n`` scaled)."""
        k = self.a if row_side else self.b
        links, other = (self.row(k), self.column(k)) if row_side else (self.column(k), self.row(k))
        if self.entries.get((k, k)) != 1 or other or len(links) != 1:
            return False
        (n, v), = links.items()
        if not v.is_number:
            return False
        if v != -1:
            for key in [key for key in self.entries if key[1 if row_side else 0] == n]:
                self.entries[key] = sp.expand(self.entries[key] * (-1 / v))
        if row_side:
            self.a = n
        else:
            self.b = n
        self.drop(k)
        return True

    def prune(self):
        """Drop blocks not reached from the targets, or not reaching them (block-triangular splits)."""
        forward, backward = {}, {}
        for i, j in self.entries:
            if i != j:
                forward.setdefault(i, set()).add(j)
                backward.setdefault(j, set()).add(i)
        dropped = False
        for graph in (forward, backward):
            seen, stack = {self.a, self.b}, [self.a, self.b]
            while stack:
                for n in graph.get(stack.pop(), ()):
                    if n not in seen:
                        seen.add(n)
                        stack.append(n)
            for k in list(self.r.sizes):
                if k not in seen:
                    self.drop(k)
                    dropped = True
            if dropped:
                return True
        return False

    def merge(self):
        """Merge two blocks with equal columns (rows) off their own rows (columns).

        With columns ``k, l`` equal outside rows ``k, l`` up to a sign ``c``,
        equal diagonals and no link between them, ``x_k + c x_l`` solves the
        system whose row is row ``k`` plus ``c`` times row ``l``: the other
        unknowns of ``L x = e_b`` are unchanged, so the target stays if row
        ``a`` is not one of them (and ``b`` is not ``l`` when ``c = -1``).
        Rows likewise, by transposition.
        """
        for transposed in (False, True):
            lines = {}
            for (i, j), value in self.entries.items():
                if transposed:
                    i, j = j, i
                lines.setdefault(j, {})[i] = value
            kept = self.b if transposed else self.a
            for k in list(lines):
                for l in lines:
                    if l <= k or kept in (k, l):
                        continue
                    u, v = dict(lines[k]), dict(lines[l])
                    if k in v or l in u or u.pop(k, None) != v.pop(l, None) or not u or u.keys() != v.keys():
                        continue
                    sign = 1 if u == v else -1 if u == {i: -w for i, w in v.items()} else 0
                    if (sign == 0 or (sign == -1 and l == (self.a if transposed else self.b))
                            or not _same(self.r.sizes[k], self.r.sizes[l])):
                        continue
                    for key in [key for key in self.entries if (key[1] if transposed else key[0]) == l]:
                        value = sign * self.entries.pop(key)
                        other = key[0] if transposed else key[1]
                        if other != l:
                            self.r.add(*((other, k) if transposed else (k, other)), value)
                    self.drop(l)
                    if transposed and self.a == l:
                        self.a = k
                    if not transposed and self.b == l:
                        self.b = k
                    return True
        return False

    def eliminable(self, k):
        pivot = self.entries.get((k, k), sp.Integer(0))
        if k in (self.a, self.b) or not (pivot.is_number and pivot != 0):
            return None
        row, column = self.row(k), self.column(k)
        if any(not (u.is_commutative or v.is_commutative or (_deterministic(u) and _deterministic(v)))
               for u in column.values() for v in row.values()):
            return None
        return pivot, row, column

    def eliminate(self):
        """One Schur complement of an identity block, the one of least fill-in."""
        best = None
        for k in self.r.sizes:
            found = self.eliminable(k)
            if found is not None:
                cost = len(found[1]) * len(found[2])
                if best is None or cost < best[0]:
                    best = (cost, k, found)
        if best is None:
            return False
        _, k, (pivot, row, column) = best
        self.drop(k)
        for i, u in column.items():
            for j, v in row.items():
                self.r.add(i, j, -u * v / pivot)
        return True

    def symmetrise(self):
        """Make ``L`` symmetric where signs of rows and columns can.

        Scaling row ``k`` by ``s_k`` and column ``k`` by ``t_k`` keeps the
        target ``[L^{-1}]_ab`` unless ``k = b`` (row) or ``k = a`` (column);
        ``L_ij`` and ``L_ji`` become transposes when ``u_i u_j = +-1``
        with ``u_k = s_k t_k``: a parity 2-colouring, component by component.
        """
        fixed = {self.a: 1} if self.a == self.b else {}
        parity = {}
        for (i, j), value in self.entries.items():
            if i < j and (j, i) in self.entries:
                other = transpose(self.entries[(j, i)])
                if sp.expand(other - value) == 0:
                    parity.setdefault(i, []).append((j, 1))
                    parity.setdefault(j, []).append((i, 1))
                elif sp.expand(other + value) == 0:
                    parity.setdefault(i, []).append((j, -1))
                    parity.setdefault(j, []).append((i, -1))
                else:
                    return
            elif i != j and (j, i) not in self.entries:
                return
        u = {}
        for start in self.r.sizes:
            if start in u:
                continue
            component, stack, consistent = {start: 1}, [start], True
            while stack:
                k = stack.pop()
                for n, sign in parity.get(k, ()):
                    if n not in component:
                        component[n] = component[k] * sign
                        stack.append(n)
                    elif component[n] != component[k] * sign:
                        consistent = False
            if not consistent:
                return
            flip = next((fixed[k] * component[k] for k in component if k in fixed), 1)
            u.update({k: flip * v for k, v in component.items()})
        for k, sign in u.items():
            if sign == -1:       # scale the row (or, for the target row a, the column)
                keys = [key for key in self.entries if (key[1] if k == self.b and k != self.a else key[0]) == k]
                for key in keys:
                    self.entries[key] = -self.entries[key]

    def signs(self):
        """Flip the sign of non-target blocks (row and column) where that removes minus signs.

        Each flip lowers the count of terms with a minus sign, so the loop ends.
        """
        def minus(value):
            return sum(1 for t in sp.Add.make_args(sp.expand(value)) if t.could_extract_minus_sign())

        for k in self.r.sizes:
            if k in (self.a, self.b):
                continue
            keys = [key for key in self.entries if k in key and key != (k, k)]
            before = sum(minus(self.entries[key]) for key in keys)
            flipped = {key: sp.expand(-self.entries[key]) for key in keys}
            if sum(minus(v) for v in flipped.values()) < before:
                self.entries.update(flipped)


# -- the public function ------------------------------------------------------------------------

class Linearization:
    """A pencil and the block of its inverse that equals an expression.

    Unpacks as ``(pencil, block)``.

    Attributes
    ----------
    expression : sympy.Expr
        The expression linearised.
    pencil : Pencil
    block : (int, int)
        ``[L^{-1}]_block = expression`` (numbered from 1).
    shape : (sympy.Expr, sympy.Expr)
        The shape of the expression (ratios); its normalised trace divides by
        ``shape[0] * N``.
    raw_blocks : int
        Blocks of the realisation before reduction.
    check : LinearisationResult or None
        The numeric check on random matrices (``None`` if not asked).
    """

    def __init__(self, expression, pencil, block, shape, raw_blocks, check):
        self.expression, self.pencil, self.block = expression, pencil, block
        self.shape, self.raw_blocks, self.check = shape, raw_blocks, check

    @property
    def blocks(self):
        """The number of blocks per row of the pencil."""
        return self.pencil.k

    def __iter__(self):
        return iter((self.pencil, self.block))

    def __repr__(self):
        return (f"Linearization({self.expression} = block {self.block} of the inverse of a {self.pencil.k} x "
                f"{self.pencil.k} pencil; {self.raw_blocks} blocks before reduction)")


def expression_of(expr, matrices=(), parameters=()):
    """A SymPy expression: ``expr`` itself, or a string parsed with the names declared."""
    if isinstance(expr, str):
        names = {m.name: m for m in matrices}
        for m in matrices:
            for s in (m.rows.free_symbols | m.cols.free_symbols | m.variance.free_symbols):
                names.setdefault(str(s), s)
        for p in parameters:
            names.setdefault(str(p), p)
        return parse_expression(expr, names, where="the expression")
    try:
        return sp.sympify(expr, strict=True)
    except sp.SympifyError:
        raise LinearizationError(f"cannot linearise {expr!r}: not a SymPy expression") from None


def linearize(expr, *, matrices=(), parameters=(), check=True, check_at=None, N=8, seed=0, tolerance=1e-8,
              name="", description=""):
    """The pencil ``L`` and block ``(i, j)`` with ``[L^{-1}]_ij = expr``.

    Parameters
    ----------
    expr : sympy.Expr or str
        A matrix expression in :class:`~pencils.GaussianMatrix` and
        :class:`~pencils.WignerMatrix` symbols (see the module docstring). A
        string is read by the whitelist parser (:mod:`pencils.parsing`; ``.T``
        transposes, ``A**-1`` inverts) with the names of ``matrices``,
        ``parameters`` and the ratios of the matrices' shapes.
    matrices, parameters : sequences, optional
        Declarations of the names a string may use (default none).
    check : bool, optional
        Verify the pencil on random matrices and refuse it if it fails
        (default True).
    check_at : dict, optional
        The parameter and ratio values of the check; default random values
        (ratios in ``{1/2, 1, 3/2, 2}``, parameters complex with real parts in
        ``[1, 2]``, variances' parameters real in ``[1, 2]``).
    N : int, optional
        Reference dimension of the check (default 8).
    seed : int, optional
        Seed of the check's random values (default 0).
    tolerance : float, optional
        Largest relative difference accepted by the check (default 1e-8).
    name, description : str, optional
        Stored in the pencil.

    Returns
    -------
    Linearization
        ``.pencil``, ``.block``, ``.blocks``, ``.check``; unpacks as ``(pencil, block)``.

    Raises
    ------
    LinearizationError
        An expression that is not a rational expression in random matrices,
        has mismatched shapes, or (never expected) a pencil that fails the check.

    Examples
    --------
    A product of two Wishart factors and a ridge resolvent:

    >>> import sympy as sp
    >>> from pencils import GaussianMatrix, ratio, linearize
    >>> z, phi, psi = sp.Symbol("z"), ratio("phi"), ratio("psi")
    >>> W, X = GaussianMatrix("W", 1, phi), GaussianMatrix("X", phi, psi)
    >>> linearize((z - W * X * X.T * W.T) ** -1).blocks
    4
    >>> lam = sp.Symbol("lam", positive=True)
    >>> linearize("(X*X.T + lam)**-1 * X*X.T", matrices=[X], parameters=[lam]).blocks
    3
    """
    expression = expression_of(expr, matrices, parameters)
    shape = shape_of(expression)
    if shape is None:
        raise LinearizationError(f"{expression} is a scalar: there is no random matrix to linearise")
    realisation = _Realisation()
    # a scalar factor of the whole expression is folded into the pencil at the end: row b divided by it
    factor, rest = sp.Integer(1), expression
    if isinstance(expression, sp.Mul):
        c, nc = expression.args_cnc()
        if c and nc:
            factor, rest = sp.Mul(*c), sp.Mul(*nc)
    a, b = realisation.realise(rest, shape)
    raw = realisation.created
    reducer = _Reducer(realisation, a, b)
    reducer.reduce()
    if factor != 1:       # L' = D L with D = 1/factor on block b: [L'^{-1}]_ab = factor [L^{-1}]_ab
        for key in [key for key in realisation.entries if key[0] == reducer.b]:
            realisation.entries[key] = sp.expand(realisation.entries[key] / factor)
    order = [reducer.a] + ([reducer.b] if reducer.b != reducer.a else [])
    order += [k for k in realisation.sizes if k not in order]
    index = {k: n for n, k in enumerate(order)}
    blocks = [[sp.Integer(0)] * len(order) for _ in order]
    for (i, j), value in realisation.entries.items():
        blocks[index[i]][index[j]] = value
    ratios = set().union(*(s.free_symbols for s in realisation.sizes.values()))
    symbols = expression.free_symbols | set().union(
        *(m.variance.free_symbols | m.rows.free_symbols | m.cols.free_symbols for m in expression.atoms(RandomMatrix)),
        *(set().union(*(sp.sympify(v).free_symbols for v in m.law.weights + sum(m.law.values.values(), ())))
          for m in expression.atoms(DeterministicMatrix)))
    declared = sorted((s for s in symbols if not isinstance(s, (RandomMatrix, DeterministicMatrix)) and s not in ratios),
                      key=str)
    try:
        pencil = Pencil(blocks, [realisation.sizes[k] for k in order], parameters=declared, name=name,
                        description=description or f"linearisation of {expression}")
    except PencilsError as exc:
        raise LinearizationError(f"the linearisation of {expression} is not a valid pencil: {exc}") from exc
    block = (1, 1 if reducer.b == reducer.a else 2)
    result = None
    if check:
        result = _check(pencil, expression, block, check_at, N, seed, tolerance)
    return Linearization(expression, pencil, block, shape, raw, result)


# -- numeric check ------------------------------------------------------------------------------

def evaluate(expr, matrices, values, N):
    """The value of a matrix expression for given matrices, as a numpy array.

    Parameters
    ----------
    expr : sympy.Expr
    matrices : dict
        ``{name: array}`` for every random matrix (not its transpose).
    values : dict
        ``{symbol name: number}`` for every parameter and ratio.
    N : int
        The reference dimension: a ``alpha`` block has ``round(alpha N)`` rows.

    Examples
    --------
    >>> import numpy as np, sympy as sp
    >>> from pencils import GaussianMatrix
    >>> X = GaussianMatrix("X", 1, 1)
    >>> evaluate(2 + X * X.T, {"X": np.eye(3)}, {}, 3)
    array([[3., 0., 0.],
           [0., 3., 0.],
           [0., 0., 3.]])
    """
    shapes = _Shapes()

    def substituted(e):
        return sp.sympify(e).subs({s: values[str(s)] for s in e.free_symbols if str(s) in values})

    def scalar(e):
        value = complex(sp.N(substituted(e), 20))
        return value.real if value.imag == 0 else value

    def size(ratio):
        return int(round(float(substituted(ratio)) * N))

    def value(e):
        if e.is_commutative:
            return scalar(e)
        if _deterministic(e):             # f(D): the function applied to the eigenvalues of D
            coefficient, used = spectral_variables(e)
            return apply(coefficient, joint_eigenvectors({m.name: matrices[m.name] for m in used}), values)
        if isinstance(e, RandomMatrix):
            m = matrices[e.base.name]
            return m.T if e.transposed else m
        if isinstance(e, sp.Add):
            n = size(shapes(e)[0])
            return sum(value(t) * (np.eye(n) if t.is_commutative else 1) for t in e.args)
        if isinstance(e, sp.Mul):
            c, factors = e.args_cnc()
            result = value(factors[0])
            for f in factors[1:]:
                result = result @ value(f)
            return scalar(sp.Mul(*c)) * result
        base = value(e.base)
        power = int(e.exp)
        return np.linalg.matrix_power(np.linalg.inv(base) if power < 0 else base, abs(power))

    return value(sp.sympify(expr))


def _check_point(pencil, rng):
    point = {str(r): float(rng.choice([0.5, 1.0, 1.5, 2.0])) for r in pencil.ratios}
    in_variances = set().union(*(m.variance.free_symbols for m in pencil.matrices.values()))
    for p in pencil.parameters:
        real = float(rng.uniform(1, 2))
        point[str(p)] = real if p in in_variances or p.is_real else complex(real, rng.uniform(0.5, 1.5))
    return point


def _check(pencil, expression, block, at, N, seed, tolerance):
    from .exceptions import MonteCarloError
    from .montecarlo import linearisation_check

    rng = np.random.default_rng(seed)
    worst = None
    for attempt in range(2):          # a second point where the first is badly conditioned
        point = dict(at) if at is not None else _check_point(pencil, rng)
        try:
            result = linearisation_check(
                pencil, lambda m, p: evaluate(expression, m, p, N), point, block=block, N=N,
                seed=seed + attempt, tolerance=tolerance)
        except (MonteCarloError, np.linalg.LinAlgError) as exc:
            raise LinearizationError(f"the check of the linearisation of {expression} could not run: {exc}") from exc
        if result.passed:
            return result
        worst = result
    raise LinearizationError(
        f"the pencil built for {expression} fails the check on random matrices (relative error "
        f"{worst.relative_error:.2e} > {tolerance:.0e}); please report this expression")
