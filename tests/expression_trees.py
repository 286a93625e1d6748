"""Random rational expressions in Gaussian matrices, with their own numpy evaluation.

The generator builds each expression twice, independently: as a SymPy
expression (what :func:`pencils.linearize` reads) and as a numpy function of
the drawn matrices (the expected value). It never calls pencils to evaluate.

Three Gaussian matrices link the three dimensions ``1, psi, phi`` pairwise
(every pair of dimensions has a matrix or its transpose), so that any shape can
be produced. Every inverse is of ``shift + E`` with ``|shift|`` above twice a
bound of the norm of ``E`` (asymptotic norms ``sqrt(a) + sqrt(b)`` of the
Gaussian factors), so that the expression is well posed at any ``N`` and its
large-``N`` trace is the analytic continuation from a large shift (the
branch the coupling homotopy follows).
"""

import math
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp

from pencils import GaussianMatrix, ratio

PSI, PHI = ratio("psi"), ratio("phi")
DIMS = (sp.Integer(1), PSI, PHI)
VALUES = {"psi": 0.5, "phi": 1.5}
A = sp.Symbol("a", positive=True)          # a symbolic coefficient, value below
POINT = {"psi": "0.5", "phi": "1.5", "a": "0.75"}
NUMERIC = {"psi": 0.5, "phi": 1.5, "a": 0.75}


@dataclass
class Node:
    expr: sp.Expr
    rows: int                 # index into DIMS
    cols: int
    value: Callable            # value(matrices, N) -> ndarray
    bound: float               # an upper bound of the asymptotic operator norm


def dimension(index, N):
    return int(round(float(DIMS[index].subs({PSI: VALUES["psi"], PHI: VALUES["phi"]})) * N))


def _dim_value(index):
    return float(DIMS[index].subs({PSI: VALUES["psi"], PHI: VALUES["phi"]}))


class Trees:
    """Random expression trees; ``Trees(seed).expression(depth, square)`` gives a :class:`Node`."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        pairs = [(0, 1), (1, 2), (2, 0)]
        self.matrices = {}
        for n, (i, j) in enumerate(pairs):
            if self.rng.random() < 0.5:
                i, j = j, i
            name = "XYZ"[n]
            variance = self.rng.choice([1, 2])
            self.matrices[name] = (GaussianMatrix(name, DIMS[i], DIMS[j], variance=variance), i, j, variance)

    def draw(self, N, rng):
        """Gaussian matrices with entries of variance ``variance / N``."""
        return {name: rng.standard_normal((dimension(i, N), dimension(j, N))) * math.sqrt(v / N)
                for name, (_, i, j, v) in self.matrices.items()}

    def leaf(self, r, c):
        for name, (M, i, j, v) in self.matrices.items():
            norm = math.sqrt(v) * (math.sqrt(_dim_value(i)) + math.sqrt(_dim_value(j)))
            if (i, j) == (r, c):
                return Node(M, r, c, lambda m, N, name=name: m[name], norm)
            if (j, i) == (r, c):
                return Node(M.T, r, c, lambda m, N, name=name: m[name].T, norm)
        # r == c: a Gram matrix M M^T of a matrix leaving r
        other = self.rng.choice([k for k in range(3) if k != r])
        half = self.leaf(r, other)
        back = self.leaf(other, r)
        return self.product(half, back)

    def coefficient(self):
        choice = self.rng.choice([sp.Rational(1, 2), sp.Integer(2), sp.Integer(-1), sp.Rational(3, 4), A])
        return choice, float(choice.subs(A, NUMERIC["a"]))

    def product(self, left, right):
        return Node(left.expr * right.expr, left.rows, right.cols,
                    lambda m, N: left.value(m, N) @ right.value(m, N), left.bound * right.bound)

    def expression(self, depth, square=False, rows=None, cols=None):
        r = self.rng.randrange(3) if rows is None else rows
        c = (r if square else self.rng.randrange(3)) if cols is None else cols
        kinds = ["leaf"] if depth == 0 else ["sum", "product", "scaled"] + (["inverse"] * 2 if r == c else [])
        kind = self.rng.choice(kinds)
        if kind == "leaf":
            return self.leaf(r, c)
        if kind == "sum":
            x, y = self.expression(depth - 1, rows=r, cols=c), self.expression(depth - 1, rows=r, cols=c)
            return Node(x.expr + y.expr, r, c, lambda m, N: x.value(m, N) + y.value(m, N), x.bound + y.bound)
        if kind == "product":
            k = self.rng.randrange(3)
            return self.product(self.expression(depth - 1, rows=r, cols=k), self.expression(depth - 1, rows=k, cols=c))
        if kind == "scaled":
            x = self.expression(depth - 1, rows=r, cols=c)
            symbolic, number = self.coefficient()
            return Node(symbolic * x.expr, r, c, lambda m, N: number * x.value(m, N), abs(number) * x.bound)
        inner = self.expression(depth - 1, rows=r, cols=r)
        shift = sp.Rational(round(4 * (2 * inner.bound + 1)), 4)
        size = float(shift)
        return Node((shift + inner.expr) ** -1, r, r,
                    lambda m, N: np.linalg.inv(size * np.eye(dimension(r, N)) + inner.value(m, N)),
                    1 / (size - inner.bound))
