"""The reduced form of a Dyson system: the small matrices that are inverted, and how ``G`` is read off.

The Dyson equation ``G = (C - eta(G))^{-1}`` is never solved on the full
``k x k`` matrix. :class:`Reduction` holds what is actually inverted — a list
of small *reduced blocks* ``K_1, K_2, ...`` whose entries are affine in the
unknowns — and, for every entry class of ``G``, a *readout*: a linear
combination of entries of the ``K_n^{-1}``. The unknowns solve
``g = readout(K(g)^{-1})``.

* A plain pencil: one reduced block per space of the pencil (the spaces the
  targets need), readouts single entries. When the pencil is invariant under
  permutations of its blocks (:mod:`pencils.symmetry`), the unknowns in one
  orbit are one unknown, its smallest entry.
* A pencil with :class:`~pencils.replicas.Replicas` (``m`` exchangeable
  copies of a group of blocks): the physical solution is invariant under
  permuting the copies, so an entry of ``G`` depends only on its *class* —
  ``(a, b)`` for shared blocks or one copy, ``(a, b, "o")`` for block ``a``
  of one copy and block ``b`` of another. On invariant ``G`` the matrix
  ``M = C - eta(G)`` of a space with shared blocks ``S`` and replicated
  blocks ``R`` is ``[[A, 1^T (x) B], [1 (x) B', I_m (x) D + (J_m - I_m) (x) E]]``;
  it is block-diagonal in the orthonormal basis of the symmetric subspace
  and its complement:

  - ``N = [[A, sqrt(m) B], [sqrt(m) B', D + (m - 1) E]]`` on ``S`` and the symmetric part,
  - ``Delta = D - E`` on each of the ``m - 1`` complementary directions,

  so that ``g_SS = [N^{-1}]_SS``, ``g_SR = [N^{-1}]_SR / sqrt(m)`` (likewise
  ``g_RS``), ``g_{rr'} = [N^{-1}]_{rr'} / m + (1 - 1/m) [Delta^{-1}]_{rr'}`` and
  ``g_{rr', o} = ([N^{-1}]_{rr'} - [Delta^{-1}]_{rr'}) / m``. The covariance
  map on classes is a count of copy assignments, a polynomial in ``m``. The
  size of the system does not depend on ``m``; ``m`` enters as a parameter.
  Both reduced blocks are compressions of ``M`` to orthogonal invariant
  subspaces, so the Stieltjes sign conditions hold for them as for ``M``.

Entry classes are 0-based inside this module.

Examples
--------
``m`` copies of a block that all see the same ``X`` (shared, not drawn per
copy): ``sum_j X X^T / m = X X^T``, so block (1, 1) is the Marchenko–Pastur
resolvent for every ``m``. The copies of block 2 form one space, split into
its symmetric part ``2+`` and the orthogonal directions ``2-``:

>>> import sympy as sp
>>> from pencils import Pencil, GaussianMatrix, Replicas, ratio
>>> z, m, psi = sp.Symbol("z"), sp.Symbol("m", positive=True), ratio("psi")
>>> X = GaussianMatrix("X", 1, psi)
>>> L = Pencil([[z, X], [X.T / m, 1]], sizes=[1, psi], parameters=[z, m],
...            replicas=Replicas(m, blocks=[2]))
>>> r = Reduction(L, [(0, 0)])
>>> r.unknowns
((0, 0), (1, 1), (1, 1, 'o'))
>>> r.labels
(('1',), ('2+',), ('2-',))
>>> r.readouts[(1, 1)]
((1/m, 1, 0, 0), (1 - 1/m, 2, 0, 0))
>>> r.full_unknown_count()
m**2 + 1
"""

import itertools

import sympy as sp

from .replicas import copy_index, expand
from .structure import Structure

__all__ = ["Reduction", "STRUCTURE_COPIES"]

STRUCTURE_COPIES = 4  # copies in the explicit instance whose structure stands for every m (see Reduction)


class Reduction:
    """The reduced blocks of a Dyson system and the readouts of ``G`` (see the module docstring).

    Parameters
    ----------
    pencil : Pencil
    targets : sequence of (int, int)
        Entries of ``G`` wanted, 0-based (template blocks for replicated
        pencils: two replicated blocks mean one copy).
    symmetry : bool, optional
        Reduce by the block permutations that leave the pencil's law
        unchanged (:mod:`pencils.symmetry`): the unknowns in one orbit are one
        unknown (default True).

    Attributes
    ----------
    unknowns : tuple
        Entry classes solved for, ``(a, b)`` or ``(a, b, "o")``.
    labels : tuple of tuples of str
        Per reduced block, its rows: ``"3"`` a block of the pencil (numbered
        from 1), ``"3+"`` the symmetric combination of the copies of block 3,
        ``"3-"`` a direction orthogonal to it.
    constants : tuple of (int, int, int, sympy.Expr)
        ``(n, r, c, value)``: the constant part of ``K_n[r, c]``.
    terms : tuple of (int, int, int, int, sympy.Expr)
        ``(n, r, c, u, coefficient)``: ``K_n[r, c] -= coefficient * unknowns[u]``.
    readouts : dict
        Entry class -> tuple of ``(weight, n, r, c)``: the entry is
        ``sum weight * K_n^{-1}[r, c]``; empty for a structural zero.
    orbit_sizes : dict
        Entry class -> how many entries of the full ``G`` it stands for.
    orbits : dict
        Unknown -> the unknowns of the unreduced system it stands for (its
        orbit under the symmetries; itself for replicated pencils, whose
        classes are described by ``orbit_sizes``).
    symmetries : list of tuple
        Generators of the block symmetries used (0-based images of the blocks).
    structure : Structure
        The structure of the pencil (of an explicit instance with
        ``STRUCTURE_COPIES`` copies for a replicated pencil).
    """

    def __init__(self, pencil, targets, symmetry=True):
        self.pencil = pencil
        self.targets = tuple(tuple(t) for t in targets)
        self.symmetries = []
        if pencil.replicas is None:
            self._plain(symmetry)
        else:
            self._replicated()

    # -- plain pencils ---------------------------------------------------------------------------
    def _plain(self, symmetry):
        structure = self.structure = Structure(self.pencil)
        pattern = self.pattern = structure._pattern
        needed = set(structure.needed(self.targets))
        representative = {e: e for e in pattern}
        if symmetry:
            from .symmetry import block_symmetries, entry_orbits

            self.symmetries = block_symmetries(self.pencil)
            if self.symmetries:
                representative = entry_orbits(sorted(pattern), self.symmetries)
                # the orbits of what the targets need are needed (the dependencies of an image are images)
                classes = {representative[u] for u in needed}
                needed = {u for u in structure._unknowns if representative[u] in classes}
        self.unknowns = tuple(sorted({representative[u] for u in needed}))
        self.orbits = {r: tuple(sorted(u for u in needed if representative[u] == r)) for r in self.unknowns}
        spaces = sorted({structure.space_of[a] for a, _ in self.unknowns + tuple(t for t in self.targets if t in pattern)})
        blocks = [structure._spaces[s] for s in spaces]
        where = {b: (n, blocks_.index(b)) for n, blocks_ in enumerate(blocks) for b in blocks_}
        self.labels = tuple(tuple(str(b + 1) for b in blocks_) for blocks_ in blocks)
        C = self.pencil.identity_part()
        self.constants = tuple(
            (where[i][0], where[i][1], where[j][1], C[i, j])
            for i in where for j in where
            if where[i][0] == where[j][0] and (C[i, j] != 0 or i == j)
        )
        index = {u: n for n, u in enumerate(self.unknowns)}
        self.terms = tuple(
            (where[t.out[0]][0], where[t.out[0]][1], where[t.out[1]][1], index[representative[t.read]], t.coefficient)
            for t in structure.covariance if t.read in needed and t.out[0] in where
        )
        self.readouts = {
            e: ((sp.Integer(1), where[e[0]][0], where[e[0]][1], where[e[1]][1]),) if e in pattern else ()
            for e in self.unknowns + self.targets
        }
        self.orbit_sizes = {e: sp.Integer(len(self.orbits.get(e, (e,)))) for e in self.readouts}
        self.laws = {n: self.pencil.laws[s] for n, s in enumerate(spaces) if s in self.pencil.laws}

    # -- deterministic matrices ------------------------------------------------------------------
    def on_atoms(self):
        """The reduction with every block of a space with a spectral law repeated once per atom.

        Block ``n`` with law ``sum_k w_k delta_{sigma_k}`` becomes blocks
        ``n_1, ..., n_K`` with ``sigma = sigma_k`` in their constants and the
        same terms; a readout ``w K_n^{-1}[r, c]`` becomes
        ``sum_k w w_k K_{n_k}^{-1}[r, c]``. Without laws, the reduction itself.
        """
        if not self.laws:
            return self
        if getattr(self, "_on_atoms", None) is not None:    # computed once: the compiled form and the
            return self._on_atoms                             # parameters of the system both read it
        import copy

        result = copy.copy(self)
        copies, labels = {}, []
        for n, block_labels in enumerate(self.labels):
            law = self.laws.get(n)
            if law is None:
                copies[n] = [(len(labels), sp.Integer(1), {})]
                labels.append(block_labels)
            else:
                copies[n] = []
                for k, (w, values) in enumerate(zip(law.weights, law.substitutions())):
                    copies[n].append((len(labels), w, values))
                    labels.append(tuple(f"{b}@{k + 1}" for b in block_labels))
        result.labels = tuple(labels)
        result.constants = tuple((m, r, c, sp.sympify(v).xreplace(values))
                                 for n, r, c, v in self.constants for m, _, values in copies[n])
        result.terms = tuple((m, r, c, u, v) for n, r, c, u, v in self.terms for m, _, _ in copies[n])
        result.readouts = {e: tuple((w * wk, m, r, c) for w, n, r, c in readout for m, wk, _ in copies[n])
                           for e, readout in self.readouts.items()}
        result.laws = {}
        self._on_atoms = result
        return result

    # -- replicated pencils ----------------------------------------------------------------------
    def _replicated(self):
        pencil = self.pencil
        replicas = pencil.replicas
        replicated = replicas.zero_based
        m = replicas.count
        # the structure of an explicit instance with symbolic count stands for every m (a count
        # given as an integer is replaced by a symbol here: its reduced blocks use the integer)
        source = pencil if m.is_Symbol else _with_count(pencil, sp.Dummy("m", positive=True))
        instance = expand(source, STRUCTURE_COPIES, keep_count=True)
        position = copy_index(pencil, STRUCTURE_COPIES)
        structure = self.structure = Structure(instance)

        def explicit(entry):
            a, b = entry[0], entry[1]
            ca = 0 if a in replicated else None
            cb = (1 if len(entry) == 3 else 0) if b in replicated else None
            return position[(a, ca)], position[(b, cb)]

        def class_of(i, j):
            (a, ca), (b, cb) = template[i], template[j]
            return (a, b, "o") if ca is not None and cb is not None and ca != cb else (a, b)

        template = {i: key for key, i in position.items()}
        self.pattern = frozenset(class_of(i, j) for i, j in structure._pattern)
        needed = structure.needed([explicit(t) for t in self.targets])
        self.unknowns = tuple(sorted({class_of(i, j) for i, j in needed}, key=_order))

        # the spaces of the instance, up to permutations of the copies
        joined, single = [], []
        for blocks in structure._spaces:
            members = [template[i] for i in blocks]
            copies_here = {c for _, c in members if c is not None}
            shared = sorted(t for t, c in members if c is None)
            if shared or len(copies_here) > 1:
                joined.append((shared, sorted({t for t, c in members if c is not None})))
            elif copies_here == {0}:
                single.append(sorted(t for t, _ in members))
        wanted = {e[0] for e in self.unknowns} | {t[0] for t in self.targets if t in self.pattern}
        eta = _ClassCovariance(pencil, self.pattern, set(self.unknowns))
        C = pencil.identity_part()

        def entry(a, b, other=False):
            """``(constant, {unknown: coefficient})`` of ``M = C - eta(G)`` at an entry class."""
            key = (a, b, "o") if other else (a, b)
            constant = sp.Integer(0) if other else C[a, b]
            return constant, {u: -c for u, c in eta.of(key).items()}

        blocks, labels, readouts = [], [], {}
        root_m = sp.sqrt(m)
        for shared, rep in joined:
            if not (set(shared) | set(rep)) & wanted:
                continue
            n = len(blocks)
            size = len(shared) + len(rep)
            N = {}
            for x, a in enumerate(shared):
                for y, b in enumerate(shared):
                    N[(x, y)] = entry(a, b)
                for y, b in enumerate(rep, len(shared)):
                    N[(x, y)] = _scale(entry(a, b), root_m)
                    N[(y, x)] = _scale(entry(b, a), root_m)
            Delta = {}
            for x, a in enumerate(rep):
                for y, b in enumerate(rep):
                    same, other = entry(a, b), entry(a, b, other=True)
                    N[(len(shared) + x, len(shared) + y)] = _combine(same, other, m - 1)
                    Delta[(x, y)] = _combine(same, other, -1)
            blocks.append((size, N))
            labels.append(tuple(str(a + 1) for a in shared) + tuple(f"{a + 1}+" for a in rep))
            if rep:
                blocks.append((len(rep), Delta))
                labels.append(tuple(f"{a + 1}-" for a in rep))
            where = {a: x for x, a in enumerate(shared + rep)}
            for a, b in itertools.product(shared + rep, repeat=2):
                x, y = where[a], where[b]
                if a in replicated and b in replicated:
                    rx, ry = x - len(shared), y - len(shared)
                    readouts[(a, b)] = ((1 / m, n, x, y), (1 - 1 / m, n + 1, rx, ry))
                    readouts[(a, b, "o")] = ((1 / m, n, x, y), (-1 / m, n + 1, rx, ry))
                elif a in replicated or b in replicated:
                    readouts[(a, b)] = ((1 / root_m, n, x, y),)
                else:
                    readouts[(a, b)] = ((sp.Integer(1), n, x, y),)
        for rep in single:
            if not set(rep) & wanted:
                continue
            n = len(blocks)
            blocks.append((len(rep), {(x, y): entry(a, b) for x, a in enumerate(rep) for y, b in enumerate(rep)}))
            labels.append(tuple(str(a + 1) for a in rep))
            for x, a in enumerate(rep):
                for y, b in enumerate(rep):
                    readouts[(a, b)] = ((sp.Integer(1), n, x, y),)

        index = {u: i for i, u in enumerate(self.unknowns)}
        constants, terms = [], []
        for n, (size, K) in enumerate(blocks):
            for (r, c), (constant, linear) in sorted(K.items()):
                constant = sp.expand(constant)
                if constant != 0 or r == c:
                    constants.append((n, r, c, constant))
                for u, coefficient in linear.items():
                    coefficient = sp.expand(coefficient)
                    if coefficient != 0:
                        terms.append((n, r, c, index[u], -coefficient))
        self.labels = tuple(labels)
        self.constants = tuple(constants)
        self.terms = tuple(terms)
        self.readouts = {e: (readouts[e] if e in self.pattern else ()) for e in self.unknowns + self.targets}
        self.orbit_sizes = {e: replicas.orbit_size(e) for e in self.readouts}
        self.orbits = {u: (u,) for u in self.unknowns}
        self.laws = {}

    def subs(self, values):
        """A copy with parameters replaced in every coefficient and weight (terms that vanish dropped)."""
        import copy

        result = copy.copy(self)
        result._on_atoms = None
        result.constants = tuple((n, r, c, sp.sympify(v).subs(values)) for n, r, c, v in self.constants)
        terms = ((n, r, c, u, sp.sympify(v).subs(values)) for n, r, c, u, v in self.terms)
        result.terms = tuple(t for t in terms if t[-1] != 0)
        result.readouts = {
            e: tuple((sp.sympify(w).subs(values), n, r, c) for w, n, r, c in readout)
            for e, readout in self.readouts.items()
        }
        return result

    # -- descriptions --------------------------------------------------------------------------
    @property
    def sizes(self):
        """The sizes of the reduced blocks."""
        return tuple(len(labels) for labels in self.labels)

    def full_unknown_count(self):
        """How many unknowns the full system has (a polynomial in the count for replicated pencils)."""
        return sp.expand(sum((self.orbit_sizes[u] for u in self.unknowns), sp.Integer(0)))


def _order(entry):
    return (entry[0], entry[1], len(entry))


def _scale(entry, factor):
    constant, linear = entry
    return constant * factor, {u: c * factor for u, c in linear.items()}


def _combine(same, other, factor):
    """``same + factor * other`` for two affine entries."""
    constant = same[0] + factor * other[0]
    linear = dict(same[1])
    for u, c in other[1].items():
        linear[u] = linear.get(u, 0) + factor * c
    return constant, linear


def _with_count(pencil, symbol):
    """The pencil with its integer replica count replaced by ``symbol`` (for the generic structure)."""
    from .pencil import Pencil
    from .replicas import Replicas

    r = pencil.replicas
    return Pencil(pencil.blocks, pencil.sizes, parameters=list(pencil.parameters) + [symbol],
                  spaces=pencil.space_labels, replicas=Replicas(symbol, r.blocks, r.matrices))


class _ClassCovariance:
    """The covariance map ``eta`` on entry classes of a replicated pencil, with symbolic counts.

    ``X`` at ``(i, j)`` paired with ``X.T`` at ``(j', i')`` adds ``c c' sigma^2 alpha g_{jj'}``
    to ``eta_{ii'}`` (:mod:`pencils.structure`). For an entry class of ``eta`` the copies of
    ``i`` and ``i'`` are fixed; a term between a shared and a replicated block exists in every
    copy, so its copy is free. Each assignment of the free copies — equal to a fixed one or to
    a new one — is counted: ``m - u`` ways for a first new copy when ``u`` copies are in use,
    ``m - u - 1`` for a second. A per-copy matrix pairs only with itself in the same copy.
    """

    def __init__(self, pencil, pattern, unknowns):
        self.pencil = pencil
        self.replicated = pencil.replicas.zero_based
        self.per_copy = set(pencil.replicas.matrices)
        self.count = pencil.replicas.count
        self.pattern = pattern
        self.unknowns = unknowns
        self.occurrences = [
            (i, j, t) for (i, j), terms in pencil.terms.items() for t in terms if t.matrix is not None
        ]
        self._cache = {}

    def of(self, out):
        """``{read class: coefficient}`` of ``eta`` at the entry class ``out``, reads among the unknowns."""
        if out not in self._cache:
            self._cache[out] = self._compute(out)
        return self._cache[out]

    def _compute(self, out):
        rep = self.replicated
        a, b = out[0], out[1]
        ca = 0 if a in rep else None
        cb = (1 if len(out) == 3 else 0) if b in rep else None
        fixed = sorted({c for c in (ca, cb) if c is not None})
        collected = {}
        for i, j, t1 in self.occurrences:
            if i != a:
                continue
            for j2, i2, t2 in self.occurrences:
                if i2 != b or t1.matrix.base.name != t2.matrix.base.name:
                    continue
                base = t1.matrix.base
                if base.kind == "wigner":
                    alpha = base.rows
                elif t1.matrix.transposed == t2.matrix.transposed:
                    continue
                else:
                    alpha = base.rows if t1.matrix.transposed else base.cols
                weight = t1.coefficient * t2.coefficient * base.variance * alpha
                first = ca if a in rep else ("x" if j in rep else None)
                second = cb if b in rep else ("y" if j2 in rep else None)
                free = [v for v in (first, second) if isinstance(v, str)]
                for values, count in _assignments(free, fixed, self.count):
                    c1 = values.get(first, first)
                    c2 = values.get(second, second)
                    if base.name in self.per_copy and c1 != c2:
                        continue
                    cj = c1 if j in rep else None
                    cj2 = c2 if j2 in rep else None
                    read = (j, j2, "o") if cj is not None and cj2 is not None and cj != cj2 else (j, j2)
                    if read in self.pattern and read in self.unknowns:
                        collected[read] = collected.get(read, 0) + weight * count
        return {r: c for r, c in collected.items() if sp.expand(c) != 0}


def _assignments(free, fixed, m):
    """Assignments of the free copy variables, up to renaming new copies, with their multiplicities."""
    if not free:
        yield {}, sp.Integer(1)
        return
    results = [({}, sp.Integer(1), list(fixed))]
    for name in free:
        extended = []
        for values, count, used in results:
            for label in used:
                extended.append(({**values, name: label}, count, used))
            new = ("new", len(used))
            extended.append(({**values, name: new}, count * (m - len(used)), used + [new]))
        results = extended
    for values, count, _ in results:
        yield values, count
