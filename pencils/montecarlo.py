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
>>> from derivations.textbook import path
>>> result = monte_carlo(load(path("ridge")), {"lam": 1, "psi": 2}, N=200, seeds=4)
>>> result.N, result.seeds, result.sizes
(200, 4, (200, 400))
>>> abs(result.mean[(1, 1)] - (2 ** 0.5 - 1)) < 4 * result.stderr[(1, 1)] + 1 / 200  # theory: sqrt(2) - 1
True
"""

from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from .exceptions import MonteCarloError
from .values import parse_point

__all__ = [
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


def sample_matrices(pencil, at, N, rng):
    """Draw every random matrix of ``pencil`` at reference dimension ``N``: ``{name: array}``."""
    point = _numeric_point(pencil, at)
    ratios = _ratio_values(pencil, point)
    symbols = list(pencil.symbols)
    values = [point[str(s)] for s in symbols]
    matrices = {}
    for name, m in pencil.matrices.items():
        variance = complex(sp.lambdify(symbols, m.variance, modules="numpy")(*values))
        if variance.imag != 0 or variance.real <= 0:
            raise MonteCarloError(f"variance of {name} is {variance} at this point, not positive")
        scale = np.sqrt(variance.real / N)
        rows = int(round(float(m.rows.subs(ratios)) * N))
        if m.kind == "wigner":
            A = rng.standard_normal((rows, rows))
            matrices[name] = (A + A.T) / np.sqrt(2) * scale
        else:
            cols = int(round(float(m.cols.subs(ratios)) * N))
            matrices[name] = rng.standard_normal((rows, cols)) * scale
    return matrices


def assemble(pencil, at, N, matrices):
    """The dense matrix ``L`` for given matrices, and the block offsets (with the total last)."""
    point = _numeric_point(pencil, at)
    symbols = list(pencil.symbols)
    values = [point[str(s)] for s in symbols]
    sizes = block_sizes(pencil, point, N)
    offsets = tuple(int(x) for x in np.concatenate([[0], np.cumsum(sizes)]))
    L = np.zeros((offsets[-1], offsets[-1]), dtype=complex)
    for (i, j), terms in pencil.terms.items():
        block = L[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]]
        for term in terms:
            c = complex(sp.lambdify(symbols, term.coefficient, modules="numpy")(*values))
            if term.matrix is None:
                block += c * np.eye(sizes[i])
            else:
                M = matrices[term.matrix.base.name]
                block += c * (M.T if term.matrix.transposed else M)
    if np.all(L.imag == 0):
        L = L.real
    return L, offsets


def draw(pencil, at, N, rng):
    """One draw of the pencil as a dense numpy matrix.

    Returns ``(L, offsets, matrices)``: ``offsets[i]`` is the first row of
    block ``i`` (0-based) with the total size last, ``matrices`` the drawn
    random matrices by name (entries of variance ``sigma^2 / N``).
    """
    matrices = sample_matrices(pencil, at, N, rng)
    L, offsets = assemble(pencil, at, N, matrices)
    return L, offsets, matrices


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


def monte_carlo(pencil, at, N=400, seeds=20, targets=((1, 1),), seed=0):
    """Average ``(1/N_i) tr[(L^{-1})_ij]`` over independent draws.

    Parameters
    ----------
    pencil : Pencil
    at : dict
        Numeric values of every parameter and ratio.
    N : int
        Reference dimension.
    seeds : int
        Number of independent draws (at least 2, for a standard error).
    targets : sequence of (int, int)
        Entries (numbered from 1).
    seed : int
        Seed of the first draw; draw ``s`` uses ``seed + s``.

    Returns
    -------
    MonteCarloResult
    """
    if seeds < 2:
        raise MonteCarloError("at least 2 seeds are needed for a standard error")
    if N < 1:
        raise MonteCarloError(f"N must be a positive integer, got {N}")
    targets = [tuple(t) for t in targets]
    for i, j in targets:
        if not (1 <= i <= pencil.k and 1 <= j <= pencil.k):
            raise MonteCarloError(f"target ({i}, {j}) is outside the {pencil.k} x {pencil.k} pencil")
    samples = {t: [] for t in targets}
    sizes = None
    for s in range(seeds):
        rng = np.random.default_rng(seed + s)
        L, offsets, _ = draw(pencil, at, N, rng)
        sizes = tuple(int(n) for n in np.diff(offsets))
        columns = sorted({j for _, j in targets})
        for j in columns:
            rhs = np.zeros((L.shape[0], sizes[j - 1]), dtype=L.dtype)
            rhs[offsets[j - 1]:offsets[j], :] = np.eye(sizes[j - 1])
            try:
                Y = np.linalg.solve(L, rhs)
            except np.linalg.LinAlgError:
                raise MonteCarloError(f"the draw with seed {seed + s} is singular") from None
            for i, jj in targets:
                if jj == j:
                    value = np.trace(Y[offsets[i - 1]:offsets[i], :]) / sizes[i - 1] if sizes[i - 1] == sizes[j - 1] else 0.0
                    samples[(i, jj)].append(value)
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

    Returns
    -------
    LinearisationResult
        Check ``.passed``; the relative error is
        ``max|block - expected| / max|expected|``.

    Examples
    --------
    >>> import numpy as np
    >>> from pencils import load
    >>> from derivations.textbook import path
    >>> def resolvent(m, p):
    ...     X = m["X"]
    ...     return np.linalg.inv(p["z"] * np.eye(len(X)) - X @ X.T)
    >>> linearisation_check(load(path("marchenko_pastur")), resolvent, {"z": 0.3 + 1j, "psi": 1.5}).passed
    True
    """
    L, offsets, matrices = draw(pencil, at, N, np.random.default_rng(seed))
    i, j = block
    inverse = np.linalg.inv(L)
    got = inverse[offsets[i - 1]:offsets[i], offsets[j - 1]:offsets[j]]
    expected = np.asarray(expression(matrices, _numeric_point(pencil, at)))
    if expected.shape != got.shape:
        raise MonteCarloError(f"the expression has shape {expected.shape}, block {block} has {got.shape}")
    error = float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-300))
    return LinearisationResult(tuple(block), error, tolerance)
