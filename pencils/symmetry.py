"""Symmetries of a pencil: permutations of its blocks that leave its law unchanged.

A permutation ``pi`` of the blocks, together with a renaming of the random
matrices among matrices of the same declaration (i.i.d., so the law is
unchanged), is a symmetry when it maps the pencil to itself: the term
``c X`` at ``(i, j)`` becomes ``c X'`` at ``(pi(i), pi(j))``. The physical
solution of the Dyson system is unique, hence invariant: ``g_{pi(i) pi(j)} =
g_{ij}``. The unknowns in one orbit of the symmetry group are one unknown
(:class:`pencils.reduction.Reduction` solves the quotient system).

The symmetries are the automorphisms of a labelled directed graph — blocks
(labelled by size), terms (by coefficient and transposition) and matrices (by
declaration) — found with networkx's VF2 matcher. A strong generating set is
built along a stabiliser chain: for blocks ``b_0, b_1, ...`` in turn, one
automorphism for each image of ``b_l`` that fixes ``b_0, ..., b_{l-1}``
(at most ``k^2`` isomorphism tests; never the whole group, which can have
``m!`` elements).

Examples
--------
Two copies of one Wishart factor, exchangeable:

>>> import sympy as sp
>>> from pencils import Pencil, GaussianMatrix, ratio
>>> z, psi = sp.Symbol("z"), ratio("psi")
>>> X1, X2 = GaussianMatrix("X1", 1, psi), GaussianMatrix("X2", 1, psi)
>>> L = Pencil([[z, X1, X2], [X1.T, 1, 0], [X2.T, 0, 1]], [1, psi, psi], [z])
>>> block_symmetries(L)
[(0, 2, 1)]
>>> entry_orbits([(0, 0), (1, 1), (2, 2), (1, 2)], block_symmetries(L))
{(0, 0): (0, 0), (1, 1): (1, 1), (2, 2): (1, 1), (1, 2): (1, 2)}
"""

import sympy as sp

from . import graphs

__all__ = ["block_symmetries", "entry_orbits"]


class _Graph:
    """A directed graph with labelled nodes and edges: ``labels[node]``, ``edges[(u, v)] = label``."""

    def __init__(self):
        self.labels, self.edges = {}, {}

    def add_node(self, node, label):
        self.labels[node] = label

    def add_edge(self, u, v, label):
        self.edges[(u, v)] = label

    def copy(self):
        other = _Graph()
        other.labels, other.edges = dict(self.labels), dict(self.edges)
        return other

    def networkx(self, colour):
        """The networkx form with node attribute ``colour`` and edge attribute ``label`` (for VF2)."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from((v, {"colour": colour[v]}) for v in self.labels)
        graph.add_edges_from((u, v, {"label": label}) for (u, v), label in self.edges.items())
        return graph


def _graph(pencil):
    graph = _Graph()
    C = pencil.identity_part()
    for i in range(pencil.k):
        graph.add_node(("b", i), ("block", str(pencil.sizes[i]), str(sp.expand(C[i, i]))))
    for name, m in pencil.matrices.items():
        graph.add_node(("m", name), ("matrix",) + tuple(str(v) for v in m.declaration().values()))
    for (i, j), terms in pencil.terms.items():
        for n, term in enumerate(terms):
            if term.matrix is None and i == j:
                continue  # in the block's label
            node = ("t", i, j, n)
            transposed = None if term.matrix is None else term.matrix.transposed
            graph.add_node(node, ("term", str(sp.expand(term.coefficient)), str(transposed)))
            graph.add_edge(("b", i), node, "row")
            graph.add_edge(node, ("b", j), "col")
            if term.matrix is not None:
                graph.add_edge(node, ("m", term.matrix.base.name), "of")
    return graph


def _refine(graph):
    """Colour refinement (1-dimensional Weisfeiler–Leman) of a labelled graph: ``{node: colour}``.

    A node's colour becomes its old colour and the multiset of (edge label, direction, colour)
    of its neighbours, until no class splits. Automorphisms that fix the marked nodes keep the
    colours, so the colours prune the matcher.
    """
    incoming, outgoing = {v: [] for v in graph.labels}, {v: [] for v in graph.labels}
    for (u, v), label in graph.edges.items():
        outgoing[u].append((v, label))
        incoming[v].append((u, label))
    colour = dict(graph.labels)
    count = None
    while True:
        palette = {}
        refined = {}
        for v in graph.labels:
            signature = (
                colour[v],
                tuple(sorted((label, 1, _sortable(colour[u])) for u, label in incoming[v])),
                tuple(sorted((label, 0, _sortable(colour[w])) for w, label in outgoing[v])),
            )
            refined[v] = palette.setdefault(signature, len(palette))
        colour = refined
        if len(palette) == count:
            return colour
        count = len(palette)


def _sortable(colour):
    """A sortable key of a colour (a label tuple at first, an integer after one round)."""
    return (0, colour) if isinstance(colour, int) else (1, str(colour))


def _matcher(graph, colour, b, j):
    """A VF2 matcher for automorphisms of ``graph`` that keep ``colour`` and map block ``b`` to ``j``."""
    from networkx.algorithms.isomorphism import DiGraphMatcher

    first, second = graph.networkx(colour), graph.networkx(colour)
    first.nodes[("b", b)]["colour"] = second.nodes[("b", j)]["colour"] = -1
    return DiGraphMatcher(first, second, node_match=lambda x, y: x["colour"] == y["colour"],
                          edge_match=lambda x, y: x["label"] == y["label"])


def block_symmetries(pencil):
    """Generators of the group of block permutations that leave the pencil's law unchanged.

    Returns
    -------
    list of tuple of int
        Each generator as the images of blocks ``0, ..., k-1`` (0-based);
        the identity is left out. An empty list: no symmetry.
    """
    graph = _graph(pencil)
    k = pencil.k
    generators = []
    fixed = []
    for b in range(k):
        # the blocks that refinement cannot tell from b once b_0 .. b_{l-1} are fixed: the candidates
        marked = graph.copy()
        for n, f in enumerate(fixed):
            marked.labels[("b", f)] = marked.labels[("b", f)] + (("mark", n),)
        colour = _refine(marked)
        if len({colour[("b", i)] for i in range(k)}) == k:
            break  # every block is told apart: only the identity fixes b_0 .. b_{l-1}
        candidates = [j for j in range(k) if j != b and colour[("b", j)] == colour[("b", b)]]
        orbit = {b}
        level = []
        for j in candidates:
            if j in orbit:
                continue
            matcher = _matcher(graph, colour, b, j)
            if matcher.is_isomorphic():
                mapping = matcher.mapping
                permutation = tuple(mapping[("b", i)][1] for i in range(k))
                level.append(permutation)
                orbit = _orbit(b, level)
        generators += level
        fixed.append(b)
    return generators


def _orbit(point, generators):
    orbit, frontier = {point}, [point]
    while frontier:
        x = frontier.pop()
        for g in generators:
            if g[x] not in orbit:
                orbit.add(g[x])
                frontier.append(g[x])
    return orbit


def entry_orbits(entries, generators):
    """``{entry: representative}``: entries ``(i, j)`` in one orbit of the group get its smallest member.

    ``entries`` must be closed under the group (e.g. the sparsity pattern of ``G``).
    """
    edges = [((i, j), (g[i], g[j])) for g in generators for i, j in entries]
    representative = {}
    for component in graphs.components(list(entries), edges):
        first = min(component)
        for entry in component:
            representative[entry] = first
    return {e: representative[e] for e in entries}
