"""Block structure of a pencil: spaces, covariance map, sparsity, unknowns.

These are graph computations (:mod:`pencils.graphs`) and one exact
elimination over a finite field on the pencil's terms; no numbers are involved.

* **Spaces.** Blocks live in one space when an identity term or a shared
  random matrix forces them to rotate together. ``E[L^{-1}]`` is a scalar
  multiple of the identity inside a space and zero across spaces.
* **Covariance map.** With ``g_ij = (1/N_i) E tr[(L^{-1})_ij]`` and
  ``L = C + (Gaussian part)``, the Dyson equation is ``G = (C - eta(G))^{-1}``
  where ``eta`` pairs each occurrence of ``X`` at ``(i, j)`` (coefficient
  ``c``) with each occurrence of ``X.T`` at ``(j', i')`` (coefficient ``c'``)
  and adds ``c c' sigma^2 alpha_cols g_{jj'}`` to ``eta_{ii'}``; ``X.T`` at
  ``(i, j)`` with ``X`` at ``(j', i')`` adds ``c c' sigma^2 alpha_rows g_{jj'}``;
  a Wigner matrix pairs with itself with its size ratio.
* **Pattern.** The entries of ``G`` that can be non-zero: the greatest
  fixed point of ``P -> struct((C - eta(P))^{-1})``, where the structural
  inverse is one exact inverse of a random evaluation over a large prime
  field (generic rank; see ``_structural_inverse``).
* **Unknowns.** The entries of ``G`` that ``eta`` reads; those a requested
  target does not depend on are pruned.

Examples
--------
>>> import sympy as sp
>>> from pencils import Pencil, GaussianMatrix, ratio
>>> z, psi = sp.Symbol("z"), ratio("psi")
>>> X = GaussianMatrix("X", 1, psi)
>>> L = Pencil([[z, X], [X.T, 1]], sizes=[1, psi], parameters=[z])
>>> s = Structure(L)
>>> s.spaces
((1,), (2,))
>>> s.unknowns
((1, 1), (2, 2))
>>> [str(t) for t in s.covariance]
['eta_11 += psi*g_22', 'eta_22 += g_11']
"""

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from . import graphs
from .exceptions import PencilValidationError, StructureError

__all__ = ["Structure", "CovarianceTerm", "spaces", "check_target"]


@dataclass(frozen=True)
class CovarianceTerm:
    """``eta[out] += coefficient * g[read]`` (0-based block indices)."""

    out: tuple
    read: tuple
    coefficient: sp.Expr

    def __str__(self):
        (i, i2), (j, j2) = self.out, self.read
        factor = "" if self.coefficient == 1 else f"{self.coefficient}*"
        return f"eta_{i + 1}{i2 + 1} += {factor}g_{j + 1}{j2 + 1}"


def check_target(target, k):
    """Validate a 1-based target ``(i, j)`` of a pencil of ``k`` blocks per row; return it 0-based.

    >>> check_target((1, 2), 3)
    (0, 1)
    """
    try:
        i, j = (int(x) for x in target)
    except (TypeError, ValueError):
        raise PencilValidationError(f"a target is a pair of block indices (i, j), got {target!r}") from None
    if not (1 <= i <= k and 1 <= j <= k):
        raise PencilValidationError(f"target ({i}, {j}) is outside the {k} x {k} pencil")
    return (i - 1, j - 1)


def spaces(pencil):
    """Partition the blocks of ``pencil`` into spaces (0-based block indices).

    Returns a tuple of sorted tuples, ordered by their first block. Raises
    :class:`PencilValidationError` when a term joins blocks with different
    declared space labels.
    """
    nodes = [("block", i) for i in range(pencil.k)]
    edges, adjacency = [], {}
    why = {}
    for (i, j), terms in pencil.terms.items():
        for term in terms:
            m = term.matrix
            if m is None:
                joined = [(("block", i), ("block", j))]
            else:
                base = m.base
                row_space = ("rows", base.name)
                col_space = row_space if base.kind == "wigner" else ("cols", base.name)
                if m.transposed:
                    row_space, col_space = col_space, row_space
                joined = [(("block", i), row_space), (("block", j), col_space)]
            for a, b in joined:
                edges.append((a, b))
                adjacency.setdefault(a, []).append(b)
                adjacency.setdefault(b, []).append(a)
                why.setdefault((a, b), (i, j, term))
    components = []
    for component in graphs.components(nodes, edges):
        blocks = tuple(sorted(n[1] for n in component if n[0] == "block"))
        if blocks:
            components.append(blocks)
    components.sort()
    labels = pencil.space_labels
    if labels is not None:
        for blocks in components:
            named = {labels[b] for b in blocks}
            if len(named) > 1:
                a = blocks[0]
                b = next(x for x in blocks if labels[x] != labels[a])
                path = graphs.shortest_path(adjacency, ("block", a), ("block", b))
                culprits = []
                for u, v in zip(path, path[1:]):
                    i, j, term = why.get((u, v)) or why[(v, u)]
                    rule = "an identity term" if term.matrix is None else f"{term.matrix}"
                    culprit = f"{rule} at ({i + 1}, {j + 1})"
                    if culprit not in culprits:
                        culprits.append(culprit)
                raise PencilValidationError(
                    f"block {a + 1} (space '{labels[a]}') and block {b + 1} (space '{labels[b]}') are "
                    f"forced into one space by {', '.join(culprits)}"
                )
    return tuple(components)


PRIME = 2**61 - 1  # the field of the generic-rank evaluation of a structural inverse
DRAWS = 2  # independent random evaluations whose non-zero entries are united


def _structural_inverse(entries, blocks, seed=0):
    """Entries (a, b) of the inverse of a matrix with pattern ``entries``, generically non-zero.

    An entry is structurally non-zero iff it is a non-zero rational function of the free
    entries; by Schwartz–Zippel, a random evaluation over the field of ``PRIME`` elements then
    makes it non-zero except with probability at most ``n / PRIME`` (``n`` the block count),
    while a structural zero is zero in every evaluation. One exact inverse mod ``PRIME`` per
    draw, ``DRAWS`` draws from a fixed seed (reproducible), their non-zero entries united: a
    missed entry has probability below ``(n / 2^61)^2``. Returns None when the matrix is
    singular in every draw (structurally singular, with the same probability of error).
    One ``O(n^3)`` elimination replaces the ``n^2`` bipartite matchings of the definition.
    """
    import random

    rng = random.Random(seed)
    n = len(blocks)
    where = {b: i for i, b in enumerate(blocks)}
    found, invertible = set(), False
    for _ in range(DRAWS):
        M = [[0] * n for _ in range(n)]
        for i, j in entries:
            if i in where and j in where:
                M[where[i]][where[j]] = rng.randrange(1, PRIME)
        inverse = _inverse_mod(M, PRIME)
        if inverse is None:
            continue
        invertible = True
        found |= {(blocks[r], blocks[c]) for r in range(n) for c in range(n) if inverse[r][c]}
    return frozenset(found) if invertible else None


def _inverse_mod(M, p):
    """The inverse of ``M`` over the integers mod the prime ``p`` (Gauss–Jordan), or None if singular."""
    n = len(M)
    A = [row[:] + [int(r == c) for c in range(n)] for r, row in enumerate(M)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if A[r][col]), None)
        if pivot is None:
            return None
        A[col], A[pivot] = A[pivot], A[col]
        inv = pow(A[col][col], p - 2, p)
        A[col] = [x * inv % p for x in A[col]]
        for r in range(n):
            if r != col and A[r][col]:
                f = A[r][col]
                A[r] = [(x - f * y) % p for x, y in zip(A[r], A[col])]
    return [row[n:] for row in A]


class Structure:
    """The block structure of a pencil (see the module docstring).

    Block indices in the public attributes are numbered from 1.

    Parameters
    ----------
    pencil : Pencil

    Attributes
    ----------
    spaces : tuple of tuples
        The blocks of each space.
    covariance : tuple of CovarianceTerm
        The terms of the covariance map ``eta`` (0-based indices inside).
    pattern : frozenset of (int, int)
        Entries of ``G`` that can be non-zero.
    unknowns : tuple of (int, int)
        Entries of ``G`` read by ``eta`` (before pruning for a target).
    """

    def __init__(self, pencil):
        self.pencil = pencil
        self._spaces = pencil.spaces
        self.space_of = {b: s for s, blocks in enumerate(self._spaces) for b in blocks}
        self.covariance = tuple(self._covariance_terms())
        self._pattern = self._compute_pattern()
        reads = {t.read for t in self.covariance if t.read in self._pattern}
        self._unknowns = tuple(sorted(reads))

    @property
    def spaces(self):
        return tuple(tuple(b + 1 for b in blocks) for blocks in self._spaces)

    @property
    def pattern(self):
        return frozenset((a + 1, b + 1) for a, b in self._pattern)

    @property
    def unknowns(self):
        return tuple((a + 1, b + 1) for a, b in self._unknowns)

    def _covariance_terms(self):
        occurrences = [
            (i, j, term) for (i, j), terms in self.pencil.terms.items() for term in terms
            if term.matrix is not None
        ]
        collected = {}
        for i, j, t1 in occurrences:
            for jj, ii, t2 in occurrences:
                m1, m2 = t1.matrix, t2.matrix
                if m1.base.name != m2.base.name:
                    continue
                base = m1.base
                if base.kind == "wigner":
                    alpha = base.rows
                elif m1.transposed == m2.transposed:
                    continue
                else:
                    alpha = base.rows if m1.transposed else base.cols
                key = ((i, ii), (j, jj))
                collected[key] = collected.get(key, 0) + t1.coefficient * t2.coefficient * base.variance * alpha
        return [
            CovarianceTerm(out, read, sp.sympify(c)) for (out, read), c in sorted(collected.items())
            if sp.sympify(c) != 0
        ]

    def _compute_pattern(self):
        C = self.pencil.identity_part()
        constant = {(i, j) for i in range(self.pencil.k) for j in range(self.pencil.k) if C[i, j] != 0}
        pattern = frozenset(
            (a, b) for blocks in self._spaces for a in blocks for b in blocks
        )
        while True:  # the map is monotone and starts at the top: it decreases to a fixed point
            entries = constant | {t.out for t in self.covariance if t.read in pattern}
            new = set()
            for blocks in self._spaces:
                inside = {(i, j) for (i, j) in entries if i in blocks}
                inverse = _structural_inverse(inside, blocks)
                if inverse is None:
                    raise StructureError(
                        f"the blocks {', '.join(str(b + 1) for b in blocks)} of one space are "
                        "structurally singular: C - eta(G) has no inverse for any parameters"
                    )
                new |= inverse
            if new == pattern:
                break
            pattern = frozenset(new)
        return pattern

    @cached_property
    def dependency_graph(self):
        """``{entry: unknowns its formula reads}`` (0-based): the edges of the dependency graph."""
        graph = {}
        reads_by_out = {}
        for t in self.covariance:
            if t.read in self._pattern:
                reads_by_out.setdefault(t.out, set()).add(t.read)
        for a, b in self._pattern:
            reads = graph.setdefault((a, b), set())
            blocks = self._spaces[self.space_of[a]]
            for i in blocks:
                if (a, i) not in self._pattern:
                    continue
                for ii in blocks:
                    if (ii, b) in self._pattern:
                        reads.update(reads_by_out.get((i, ii), ()))
        return graph

    def needed(self, targets):
        """The unknowns (0-based) that the given targets (0-based entries) depend on."""
        graph = self.dependency_graph
        needed = set()
        for target in targets:
            if target not in self._pattern:
                continue
            needed |= graphs.reachable(graph, target)
            if target in self._unknowns:
                needed.add(target)
        return tuple(sorted(u for u in needed if u in set(self._unknowns)))

    def check_target(self, target):
        """Validate a 1-based target ``(i, j)``; return it 0-based (see :func:`check_target`)."""
        return check_target(target, self.pencil.k)
