"""Replicated blocks: a group of blocks repeated ``m`` times, ``m`` a symbol.

Many pencils hold ``m`` exchangeable copies of one sub-structure: ``m``
noise samples per data point, replicas, repeated layers. A pencil then
declares the blocks of *one* copy (the template) and :class:`Replicas` says
which blocks are repeated, how often (``count``, a positive symbol or
integer) and which random matrices are drawn afresh for every copy
(``matrices``; the others are shared by all copies). The pencil stands for
the explicit pencil with ``count`` copies of the replicated blocks:

* a term between two replicated blocks acts inside each copy;
* a term between a shared and a replicated block is repeated for every copy;
* a per-copy matrix ``Z`` becomes ``Z_1, ..., Z_m``, independent and
  identically distributed.

The explicit pencil is invariant in law under permuting the copies, so its
Dyson system reduces to one whose size does not depend on ``m`` (see
:mod:`pencils.reduction`); :func:`expand` builds the explicit pencil for a
given number of copies (for Monte Carlo and for checks).

Examples
--------
``m`` independent Wishart factors of one shared matrix: block ``(1, 1)`` is
``(z - sum_j X_j X_j^T / m)^{-1}``, a Marchenko–Pastur law of ratio ``psi m``.

>>> import sympy as sp
>>> from pencils import Pencil, GaussianMatrix, Replicas, ratio
>>> z, m, psi = sp.Symbol("z"), sp.Symbol("m", positive=True), ratio("psi")
>>> X = GaussianMatrix("X", 1, psi)
>>> L = Pencil([[z, X], [X.T / m, 1]], sizes=[1, psi], parameters=[z, m],
...            replicas=Replicas(m, blocks=[2], matrices=["X"]))
>>> L.replicas
Replicas(m copies of blocks [2], per copy: X)
>>> E = expand(L, 3)
>>> E.k, sorted(E.matrices)
(4, ['X_1', 'X_2', 'X_3'])
"""

import sympy as sp

from .exceptions import PencilValidationError
from .parsing import as_sympy

__all__ = ["Replicas", "expand", "copy_index"]


class Replicas:
    """A group of blocks repeated ``count`` times.

    Parameters
    ----------
    count : sympy.Symbol or int
        The number of copies: a positive symbol declared among the pencil's
        parameters, or a positive integer.
    blocks : sequence of int
        The replicated blocks of the template, numbered from 1.
    matrices : sequence of str, optional
        Names of the random matrices drawn independently for every copy.
        They may appear only in terms that touch a replicated block.
    """

    def __init__(self, count, blocks, matrices=()):
        self.count = as_sympy(count, where="replica count")
        if self.count.is_positive is not True or not (self.count.is_Symbol or self.count.is_Integer):
            raise PencilValidationError(
                f"the replica count must be a positive symbol or a positive integer, got {count}"
            )
        try:
            self.blocks = tuple(sorted({int(b) for b in blocks}))
        except (TypeError, ValueError):
            raise PencilValidationError(f"replicated blocks are block numbers, got {blocks!r}") from None
        if not self.blocks:
            raise PencilValidationError("at least one block must be replicated")
        self.matrices = tuple(sorted({str(name) for name in matrices}))

    def validate(self, pencil):
        """Check the declaration against a pencil (raises :class:`PencilValidationError`)."""
        k = pencil.k
        for b in self.blocks:
            if not 1 <= b <= k:
                raise PencilValidationError(f"replicated block {b} is outside the {k} x {k} pencil")
        if self.count.is_Symbol and self.count not in pencil.parameters:
            raise PencilValidationError(
                f"the replica count {self.count} must be declared among the pencil's parameters"
            )
        if self.count.is_Symbol:
            declared = [*pencil.sizes] + [x for m in pencil.matrices.values() for x in (m.rows, m.cols, m.variance)]
            if any(self.count in x.free_symbols for x in declared):
                raise PencilValidationError(
                    f"the replica count {self.count} may appear in coefficients, not in sizes, shapes or variances"
                )
        for name in self.matrices:
            if name not in pencil.matrices:
                raise PencilValidationError(f"per-copy matrix {name} does not appear in the pencil")
        replicated = self.zero_based
        for (i, j), terms in pencil.terms.items():
            for term in terms:
                if term.matrix is not None and term.matrix.base.name in self.matrices:
                    if i not in replicated and j not in replicated:
                        raise PencilValidationError(
                            f"block ({i + 1}, {j + 1}): the per-copy matrix {term.matrix.base.name} sits between "
                            "two shared blocks; it must touch a replicated block (which copy would it be?)"
                        )

    @property
    def zero_based(self):
        """The replicated blocks, numbered from 0."""
        return frozenset(b - 1 for b in self.blocks)

    def orbit_size(self, entry):
        """How many entries of the explicit ``G`` one entry class stands for (a polynomial in ``count``).

        ``entry`` is ``(a, b)`` or ``(a, b, "o")`` (0-based; ``"o"``: block ``b`` of another copy).
        """
        m = self.count
        a, b = entry[0], entry[1]
        if len(entry) == 3:
            return m * (m - 1)
        replicated = self.zero_based
        return m if (a in replicated or b in replicated) else sp.Integer(1)

    def __eq__(self, other):
        return (
            isinstance(other, Replicas) and self.count == other.count and self.blocks == other.blocks
            and self.matrices == other.matrices
        )

    __hash__ = None

    def __repr__(self):
        each = f", per copy: {', '.join(self.matrices)}" if self.matrices else ""
        return f"Replicas({self.count} copies of blocks [{', '.join(map(str, self.blocks))}]{each})"


def copy_index(pencil, copies):
    """``{(template block, copy): explicit block}`` (all 0-based) of :func:`expand`.

    Shared blocks keep their order and come first; then copy 0's replicated
    blocks, copy 1's, and so on. A shared block has copy ``None``.
    """
    replicated = pencil.replicas.zero_based
    index = {}
    for t in range(pencil.k):
        if t not in replicated:
            index[(t, None)] = len(index)
    for c in range(copies):
        for t in sorted(replicated):
            index[(t, c)] = len(index)
    return index


def expand(pencil, copies, keep_count=False):
    """The explicit pencil with ``copies`` copies of the replicated blocks.

    Parameters
    ----------
    pencil : Pencil
        A pencil with :class:`Replicas`.
    copies : int
        The number of copies (at least 1).
    keep_count : bool, optional
        Keep the count symbol in the coefficients (and among the parameters)
        instead of substituting ``copies`` for it (default False). Used for
        the structure of the generic case.

    Returns
    -------
    Pencil
        Blocks ordered as in :func:`copy_index`; per-copy matrix ``Z`` of
        copy ``c`` (from 1) is named ``Z_c``.
    """
    from .pencil import Pencil

    replicas = pencil.replicas
    if replicas is None:
        raise PencilValidationError("this pencil has no replicated blocks to expand")
    copies = int(copies)
    if copies < 1:
        raise PencilValidationError(f"at least one copy is needed, got {copies}")
    if replicas.count.is_Integer and copies != int(replicas.count):
        raise PencilValidationError(f"the pencil has {replicas.count} copies, not {copies}")
    count = replicas.count
    values = {} if keep_count or not count.is_Symbol else {count: sp.Integer(copies)}
    renamed = {}
    for c in range(copies):
        table = {}
        for name in replicas.matrices:
            m = pencil.matrices[name]
            new_name = f"{name}_{c + 1}"
            if new_name in pencil.matrices:
                raise PencilValidationError(
                    f"the copies of {name} would be named {new_name}, which the pencil already uses"
                )
            new = type(m)(new_name, m.rows, m.variance) if m.kind == "wigner" else type(m)(new_name, m.rows, m.cols, m.variance)
            table[m], table[m.T] = new, new.T
        renamed[c] = table
    index = copy_index(pencil, copies)
    k = len(index)
    blocks = [[sp.Integer(0)] * k for _ in range(k)]
    sizes = [None] * k
    for (t, c), i in index.items():
        sizes[i] = pencil.sizes[t]
    replicated = replicas.zero_based
    for i in range(pencil.k):
        for j in range(pencil.k):
            entry = pencil.blocks[i][j]
            if entry == 0:
                continue
            if i in replicated or j in replicated:
                for c in range(copies):
                    row = index[(i, c if i in replicated else None)]
                    col = index[(j, c if j in replicated else None)]
                    blocks[row][col] = entry.xreplace(renamed[c]).subs(values)
            else:
                blocks[index[(i, None)]][index[(j, None)]] = entry.subs(values)
    parameters = [p for p in pencil.parameters if p not in values]
    labels = None
    if pencil.space_labels is not None:
        labels = [pencil.space_labels[t] for (t, _), _ in sorted(index.items(), key=lambda item: item[1])]
    return Pencil(blocks, [s.subs(values) for s in sizes], parameters=parameters, spaces=labels,
                  name=f"{pencil.name}-{copies}-copies" if pencil.name else "",
                  description=pencil.description)
