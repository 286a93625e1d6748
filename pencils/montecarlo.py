"""Finite-N Monte Carlo of a pencil, and the linearisation check.

:func:`monte_carlo` draws the Gaussian matrices of a pencil at a finite
reference dimension ``N`` (block ``i`` has ``round(alpha_i N)`` rows), builds
``L`` in float64, and averages the normalised block traces
``(1/N_i) tr[(L^{-1})_ij]`` over seeds. :func:`linearisation_check`
substitutes random small matrices and compares a block of ``L^{-1}`` with the
matrix expression the pencil stands for.

Examples
--------
>>> from pencils import load
>>> from pencils.examples import path
>>> result = monte_carlo(load(path("ridge")), {"lam": 1, "psi": 2}, N=200, seeds=4)
>>> result.N, result.seeds, result.sizes
(200, 4, (200, 400))
>>> abs(result.mean[(1, 1)] - (2 ** 0.5 - 1)) < 4 * result.stderr[(1, 1)] + 1 / 200  # theory: sqrt(2) - 1
True
"""

from dataclasses import dataclass

import numbers

import mpmath
import numpy as np
import sympy as sp

from .deterministic import apply, draw_family, joint_eigenvectors
from .exceptions import MonteCarloError
from .values import parse_point

__all__ = [
    "explicit",
    "monte_carlo", "linearisation_check", "draw", "sample_matrices", "assemble", "block_sizes",
    "MonteCarloResult", "LinearisationResult",
]


def _numeric_point(pencil, at):
    point = parse_point(at, pencil.symbols)
    return {name: complex(v) if mpmath.im(v) else float(v) for name, v in point.items()}


def block_sizes(pencil, point, N):
    """Integer block sizes ``round(alpha_i N)`` at a numeric point."""
    sizes = []
    for i, s in enumerate(pencil.sizes):
        value = float(s.subs(_ratio_values(pencil, point)))
        n = int(round(value * N))
        if n < 1:
            raise MonteCarloError(f"block {i + 1} has no rows at N={N} (ratio {value})")
        sizes.append(n)
    return tuple(sizes)


class _Numeric:
    """A pencil at a numeric point and reference dimension: sizes, shapes, coefficient values."""

    def __init__(self, pencil, at, N, basis="haar"):
        point = _numeric_point(pencil, at)
        ratios = _ratio_values(pencil, point)
        symbols = list(pencil.symbols)
        values = [point[str(s)] for s in symbols]

        def evaluate(expr):
            return complex(sp.lambdify(symbols, expr, modules="numpy")(*values))

        self.pencil, self.N = pencil, N
        self.point = point
        self.sizes = block_sizes(pencil, point, N)
        self.offsets = tuple(int(x) for x in np.concatenate([[0], np.cumsum(self.sizes)]))
        self.shapes, self.scales = {}, {}
        for name, m in pencil.matrices.items():
            variance = evaluate(m.variance)
            if variance.imag != 0 or variance.real <= 0:
                raise MonteCarloError(f"variance of {name} is {variance} at this point, not positive")
            self.scales[name] = np.sqrt(variance.real / N)
            self.shapes[name] = (int(round(float(m.rows.subs(ratios)) * N)), int(round(float(m.cols.subs(ratios)) * N)))
        spectral = {m.spectral for m in pencil.deterministic.values()}
        self.terms = [(i, j, term, None if term.coefficient.free_symbols & spectral else evaluate(term.coefficient))
                      for (i, j), terms in pencil.terms.items() for term in terms]
        self.ratios, self.basis = ratios, basis
        self.families = {}         # law -> the names of its deterministic matrices in the pencil
        for name, m in sorted(pencil.deterministic.items()):
            self.families.setdefault(m.law, []).append(name)

    def sample(self, rng):
        matrices = {}
        for law, names in self.families.items():
            n = int(round(float(self.pencil.deterministic[names[0]].rows.subs(self.ratios)) * self.N))
            family = draw_family(law, n, self.point, rng=rng if self.basis == "haar" else None)
            matrices.update({name: family[name] for name in names})
        for name, m in self.pencil.matrices.items():
            rows, cols = self.shapes[name]
            if m.kind == "wigner":
                A = rng.standard_normal((rows, rows))
                matrices[name] = (A + A.T) / np.sqrt(2) * self.scales[name]
            else:
                matrices[name] = rng.standard_normal((rows, cols)) * self.scales[name]
        return matrices

    def assemble(self, matrices):
        o = self.offsets
        L = np.zeros((o[-1], o[-1]), dtype=complex)
        eigen = {}                 # per law: one joint eigendecomposition for all its coefficients
        for i, j, term, c in self.terms:
            block = L[o[i]:o[i + 1], o[j]:o[j + 1]]
            if c is None:          # a function of deterministic matrices (of one law: one space)
                law = next(m.law for m in self.pencil.deterministic.values()
                           if m.spectral in term.coefficient.free_symbols)
                if law not in eigen:
                    eigen[law] = joint_eigenvectors({name: matrices[name] for name in self.families[law]})
                block += apply(term.coefficient, eigen[law], self.point)
            elif term.matrix is None:
                block += c * np.eye(self.sizes[i])
            else:
                M = matrices[term.matrix.base.name]
                block += c * (M.T if term.matrix.transposed else M)
        return L.real if np.all(L.imag == 0) else L


def sample_matrices(pencil, at, N, rng):
    """Draw every random matrix of ``pencil`` at reference dimension ``N``: ``{name: array}``."""
    return _Numeric(pencil, at, N).sample(rng)


def assemble(pencil, at, N, matrices):
    """The dense matrix ``L`` for given matrices, and the block offsets (with the total last)."""
    numeric = _Numeric(pencil, at, N)
    return numeric.assemble(matrices), numeric.offsets


def draw(pencil, at, N, rng):
    """One draw of the pencil as a dense numpy matrix.

    Returns ``(L, offsets, matrices)``: ``offsets[i]`` is the first row of
    block ``i`` (0-based) with the total size last, ``matrices`` the drawn
    random matrices by name (entries of variance ``sigma^2 / N``).
    """
    numeric = _Numeric(pencil, at, N)
    matrices = numeric.sample(rng)
    return numeric.assemble(matrices), numeric.offsets, matrices


def _ratio_values(pencil, point):
    return {r: point[str(r)] for r in pencil.ratios}


@dataclass
class MonteCarloResult:
    """Means and standard errors of normalised block traces over seeds.

    ``mean[(i, j)]`` and ``stderr[(i, j)]`` for each target (numbered from 1);
    ``samples[(i, j)]`` holds the per-seed values.
    """

    N: int
    seeds: int
    sizes: tuple
    mean: dict
    stderr: dict
    samples: dict


def explicit(pencil, at, targets):
    """For a pencil with replicated blocks: the explicit pencil at the count in ``at``, and the targets in it.

    Returns ``(pencil, at, targets)`` unchanged for a pencil without replicas. The
    count must be a positive integer (given in ``at`` when it is a symbol); a
    target between two replicated blocks is taken in the first copy.
    """
    replicas = pencil.replicas
    if replicas is None:
        return pencil, at, targets
    from .replicas import copy_index

    count = replicas.count
    if count.is_Symbol:
        value = _numeric_point(pencil, at)[str(count)]
        if isinstance(value, complex) or value != int(value) or value < 1:
            raise MonteCarloError(f"the replica count {count} must be a positive integer to draw matrices, got {value}")
        copies = int(value)
        at = {k: v for k, v in (at.items() if isinstance(at, dict) else at) if str(k) != str(count)}
    else:
        copies = int(count)
    index = copy_index(pencil, copies)
    replicated = replicas.zero_based

    def place(b):
        return index[(b - 1, 0 if b - 1 in replicated else None)] + 1

    return pencil.expand(copies), at, [(place(i), place(j)) for i, j in targets]


def monte_carlo(pencil, at, N=400, seeds=20, targets=((1, 1),), seed=0, basis="haar"):
    """Average ``(1/N_i) tr[(L^{-1})_ij]`` over independent draws.

    A pencil with replicated blocks is drawn as its explicit pencil, with the
    count given in ``at`` (see :func:`explicit`).

    Parameters
    ----------
    pencil : Pencil
    at : dict
        Numeric values of every parameter and ratio.
    N : int
        Reference dimension.
    seeds : int
        Number of independent draws (at least 2, for a standard error).
    targets : (int, int) or sequence of them
        Entries (numbered from 1).
    seed : int
        Seed of the first draw; draw ``s`` uses ``seed + s``.
    basis : {"haar", "diagonal"}, optional
        Deterministic matrices (:mod:`pencils.deterministic`) are drawn with
        their law's eigenvalues (``round(w_k N_i)`` each), diagonal in a
        Haar-random orthogonal basis drawn afresh per draw (default) or
        diagonal.

    Returns
    -------
    MonteCarloResult
    """
    if basis not in ("haar", "diagonal"):
        raise MonteCarloError(f"basis must be 'haar' or 'diagonal', got {basis!r}")
    if not isinstance(seeds, numbers.Integral) or seeds < 2:
        raise MonteCarloError(f"seeds must be an integer of at least 2 (for a standard error), got {seeds!r}")
    if not isinstance(N, numbers.Integral) or N < 1:
        raise MonteCarloError(f"N must be a positive integer, got {N!r}")
    if len(targets) == 2 and all(isinstance(x, numbers.Integral) for x in targets):
        targets = [targets]  # a single pair
    targets = [tuple(t) for t in targets]
    for i, j in targets:
        if not (1 <= i <= pencil.k and 1 <= j <= pencil.k):
            raise MonteCarloError(f"target ({i}, {j}) is outside the {pencil.k} x {pencil.k} pencil")
    asked = targets
    pencil, at, targets = explicit(pencil, at, targets)
    numeric = _Numeric(pencil, at, N, basis=basis)
    sizes, o = numeric.sizes, numeric.offsets
    columns = sorted({j for _, j in targets})
    # one factorisation per draw: the right-hand side holds the columns of every target block
    start = {}
    width = 0
    for j in columns:
        start[j] = width
        width += sizes[j - 1]
    samples = {t: [] for t in targets}
    for s in range(seeds):
        L = numeric.assemble(numeric.sample(np.random.default_rng(seed + s)))
        rhs = np.zeros((L.shape[0], width), dtype=L.dtype)
        for j in columns:
            rhs[o[j - 1]:o[j], start[j]:start[j] + sizes[j - 1]] = np.eye(sizes[j - 1])
        try:
            Y = np.linalg.solve(L, rhs)
        except np.linalg.LinAlgError:
            raise MonteCarloError(f"the draw with seed {seed + s} is singular") from None
        for i, j in targets:
            if sizes[i - 1] != sizes[j - 1]:
                samples[(i, j)].append(0.0)
                continue
            block = Y[o[i - 1]:o[i], start[j]:start[j] + sizes[j - 1]]
            samples[(i, j)].append(np.trace(block) / sizes[i - 1])
    samples = {a: samples[t] for a, t in zip(asked, targets)}
    mean = {t: complex(np.mean(v)) for t, v in samples.items()}
    stderr = {t: float(np.std(v, ddof=1) / np.sqrt(len(v))) for t, v in samples.items()}
    if all(abs(m.imag) == 0 for m in mean.values()):
        mean = {t: m.real for t, m in mean.items()}
    return MonteCarloResult(N, seeds, sizes, mean, stderr, {t: np.array(v) for t, v in samples.items()})


@dataclass
class LinearisationResult:
    """Outcome of :func:`linearisation_check`: the largest relative entrywise difference."""

    block: tuple
    relative_error: float
    tolerance: float

    @property
    def passed(self):
        return self.relative_error <= self.tolerance


def linearisation_check(pencil, expression, at, block=(1, 1), N=6, seed=0, tolerance=1e-9):
    """Check that a block of ``L^{-1}`` equals the matrix expression it stands for.

    Random matrices are drawn at a small ``N``; ``expression(matrices, point)``
    must return the expected block as a numpy array, given the drawn
    matrices by name (``X.T`` is ``matrices["X"].T``) and the numeric point.
    A pencil with replicated blocks is checked as its explicit pencil at the
    count given in ``at`` (per-copy matrix ``Z`` of copy ``c`` is ``Z_c``).

    Returns
    -------
    LinearisationResult
        Check ``.passed``; the relative error is
        ``max|block - expected| / max|expected|``.

    Examples
    --------
    >>> import numpy as np
    >>> from pencils import load
    >>> from pencils.examples import path
    >>> def resolvent(m, p):
    ...     X = m["X"]
    ...     return np.linalg.inv(p["z"] * np.eye(len(X)) - X @ X.T)
    >>> linearisation_check(load(path("marchenko_pastur")), resolvent, {"z": 0.3 + 1j, "psi": 1.5}).passed
    True
    """
    point = _numeric_point(pencil, at)
    pencil, at, (block,) = explicit(pencil, at, [tuple(block)])
    L, offsets, matrices = draw(pencil, at, N, np.random.default_rng(seed))
    i, j = block
    inverse = np.linalg.inv(L)
    got = inverse[offsets[i - 1]:offsets[i], offsets[j - 1]:offsets[j]]
    expected = np.asarray(expression(matrices, point))
    if expected.shape != got.shape:
        raise MonteCarloError(f"the expression has shape {expected.shape}, block {block} has {got.shape}")
    error = float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-300))
    return LinearisationResult(tuple(block), error, tolerance)
