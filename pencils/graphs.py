"""Small graph algorithms on plain adjacency dictionaries.

Spaces (connected components), the unknowns a target reads (reachability)
and the culprit path of a space clash are computed here without networkx, so
that importing pencils does not import it: networkx is 0.17 s of a
1.6 s cold start of ``pencils curve dsm``. networkx's VF2 matcher is still
what finds block symmetries (:mod:`pencils.symmetry`), imported when a
search needs it.

Examples
--------
>>> components([1, 2, 3, 4], [(1, 2), (3, 3)])
[{1, 2}, {3}, {4}]
>>> sorted(reachable({1: [2], 2: [3, 1]}, 1))
[2, 3]
>>> shortest_path({1: [2], 2: [1, 3], 3: [2]}, 1, 3)
[1, 2, 3]
"""

from collections import deque

__all__ = ["components", "reachable", "shortest_path"]


def components(nodes, edges):
    """Connected components of an undirected graph, in order of their first node (union-find)."""
    parent = {n: n for n in nodes}

    def root(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in edges:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
    found = {}
    for n in parent:
        found.setdefault(root(n), set()).add(n)
    return list(found.values())


def reachable(adjacency, source):
    """The nodes reachable from ``source`` along the edges ``adjacency[u]``, ``source`` itself excluded."""
    seen, stack = {source}, [source]
    found = set()
    while stack:
        for n in adjacency.get(stack.pop(), ()):
            if n not in seen:
                seen.add(n)
                found.add(n)
                stack.append(n)
    return found


def shortest_path(adjacency, source, target):
    """A shortest path from ``source`` to ``target`` (breadth first), or ``None``."""
    previous, queue = {source: None}, deque([source])
    while queue:
        u = queue.popleft()
        if u == target:
            path = []
            while u is not None:
                path.append(u)
                u = previous[u]
            return path[::-1]
        for n in adjacency.get(u, ()):
            if n not in previous:
                previous[n] = u
                queue.append(n)
    return None
