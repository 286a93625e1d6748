"""Helpers for tests and experiments, in the spirit of :mod:`numpy.testing`.

:func:`random_pencil` builds reproducible, well-posed symmetric pencils of any
size, for property-based tests (theory against Monte Carlo), benchmarks and
stress tests of the structure and solver code; :func:`random_replicated_pencil`
declares some of their blocks replicated a symbolic number of times.

Examples
--------
>>> import mpmath
>>> from pencils import DysonSystem, solve
>>> from pencils.testing import random_pencil
>>> L = random_pencil(4, 2, seed=1)
>>> L
Pencil(4 x 4 blocks, sizes [2, 2, 1, 1], matrices [X2, X1], parameters [z])
>>> system = DysonSystem(L, target=[(i, i) for i in range(1, 5)])
>>> solution = solve(system, {"z": "0.5+1j"}, dps=20)
>>> all(mpmath.im(solution[(i, i)]) < 0 for i in range(1, 5))  # Stieltjes transforms
True
"""

import operator
import random

import sympy as sp

from .matrices import GaussianMatrix
from .pencil import Pencil

__all__ = ["random_pencil", "random_replicated_pencil"]

#: The dimension ratios a size class can have.
RATIOS = (sp.Rational(1, 2), sp.Integer(1), sp.Rational(3, 2), sp.Integer(2))
#: Coefficients of the Gaussian terms and of the identity couplings (small, non-zero).
COEFFICIENTS = tuple(
    sign * sp.Rational(p, q) for sign in (1, -1) for p, q in ((1, 2), (1, 1), (3, 2), (2, 1), (1, 3))
)
#: Coefficients ``a_i > 0`` of ``z`` on the diagonal of ``C``.
SLOPES = (sp.Rational(1, 2), sp.Integer(1), sp.Rational(3, 2), sp.Integer(2))
#: Real shifts ``b_i`` on the diagonal of ``C``.
SHIFTS = (sp.Integer(-1), sp.Rational(-1, 2), sp.Integer(0), sp.Rational(1, 2), sp.Integer(1))


def _positions(rows, cols, same):
    """The distinct places a matrix of one row class and one column class can occupy.

    For a square matrix of a single class, ``(i, j)`` and ``(j, i)`` are one
    place (the term and its mirrored transpose fill both).
    """
    return [(i, j) for i in rows for j in cols if not same or i <= j]


def random_pencil(k, n_matrices, seed=0, n_classes=None, occurrences=2, off_diagonal_identity=True):
    """A reproducible, well-posed, symmetric random pencil in one complex parameter ``z``.

    The ``k`` blocks are split into ``n_classes`` size classes, each with one
    ratio from ``1/2, 1, 3/2, 2``. Each Gaussian matrix ``X1, X2, ...`` gets a
    row class and a column class and appears at ``occurrences`` distinct
    random places ``(i, j)`` (``i`` in the row class, ``j`` in the column
    class) with a small non-zero rational coefficient ``c``, and ``c X.T`` is
    put at the mirrored place ``(j, i)``; on the diagonal the block gets
    ``c (X + X.T)``. The identity part ``C`` has ``a_i z + b_i`` on its
    diagonal (``a_i > 0``, ``b_i`` real rationals) and, optionally, real
    symmetric identity couplings between blocks of one class.

    So ``L`` is complex symmetric and ``Im L = Im(z) diag(a_i)``: for
    ``Im z > 0`` it is positive definite, ``L`` is invertible for every draw
    and the Dyson system has a unique solution with ``Im G`` negative
    definite (the physical branch that :func:`pencils.solve` verifies).

    Parameters
    ----------
    k : int
        Number of blocks per row (at least 1).
    n_matrices : int
        Number of Gaussian matrices (at least 1), named ``X1``, ``X2``...
    seed : int, optional
        The same seed and arguments give the same pencil (on every platform:
        the draws use :class:`random.Random`).
    n_classes : int, optional
        Number of size classes, between 1 and ``k``; default
        ``min(4, (k + 1) // 2)``. Classes beyond four repeat ratios.
    occurrences : int, optional
        Places each matrix occupies (each with its mirrored transpose).
    off_diagonal_identity : bool, optional
        Whether to add identity couplings between blocks of one class (each
        pair with probability 1/2).

    Returns
    -------
    Pencil
        With ``parameters == (z,)``, numeric sizes and no ratio symbols.

    Raises
    ------
    ValueError
        For arguments out of range, or when no pair of classes has
        ``occurrences`` distinct places for a matrix.

    Examples
    --------
    >>> from pencils.testing import random_pencil
    >>> L = random_pencil(3, 1, seed=0)
    >>> L.k, sorted(L.matrices), L.parameters
    (3, ['X1'], (z,))
    >>> L == random_pencil(3, 1, seed=0)
    True
    >>> print(random_pencil(2, 1, seed=3).as_matrix())
    Matrix([[z/2 + 1, 2 + 3*X1.T/2], [2 + 3*X1/2, z/2 + 1/2 - 2*X1 - 2*X1.T]])
    """
    k, n_matrices, occurrences = int(k), int(n_matrices), int(occurrences)
    if k < 1:
        raise ValueError(f"a pencil needs at least one block, got k={k}")
    if n_matrices < 1:
        raise ValueError(f"at least one Gaussian matrix is needed, got n_matrices={n_matrices}")
    if occurrences < 1:
        raise ValueError(f"each matrix needs at least one place, got occurrences={occurrences}")
    n_classes = min(4, (k + 1) // 2) if n_classes is None else int(n_classes)
    if not 1 <= n_classes <= k:
        raise ValueError(f"n_classes must be between 1 and k={k}, got {n_classes}")
    rng = random.Random(operator.index(seed))

    # size classes: every class gets one block, the others are spread at random
    order = rng.sample(range(k), k)
    class_of = [0] * k
    for n, block in enumerate(order):
        class_of[block] = n if n < n_classes else rng.randrange(n_classes)
    members = [[b for b in range(k) if class_of[b] == c] for c in range(n_classes)]
    if n_classes <= len(RATIOS):
        class_ratio = rng.sample(RATIOS, n_classes)
    else:
        class_ratio = [rng.choice(RATIOS) for _ in range(n_classes)]

    z = sp.Symbol("z")
    blocks = [[sp.Integer(0)] * k for _ in range(k)]
    for i in range(k):
        blocks[i][i] = rng.choice(SLOPES) * z + rng.choice(SHIFTS)
    if off_diagonal_identity:
        for group in members:
            for n, i in enumerate(group):
                for j in group[n + 1:]:
                    if rng.random() < 0.5:
                        c = rng.choice(COEFFICIENTS)
                        blocks[i][j] += c
                        blocks[j][i] += c

    pairs = [(a, b) for a in range(n_classes) for b in range(n_classes)]
    for m in range(1, n_matrices + 1):
        fitting = [
            (a, b) for a, b in pairs if len(_positions(members[a], members[b], a == b)) >= occurrences
        ]
        if not fitting:
            raise ValueError(
                f"no pair of size classes has {occurrences} distinct places for a matrix "
                f"(k={k}, n_classes={n_classes}): lower occurrences or n_classes"
            )
        a, b = rng.choice(fitting)
        X = GaussianMatrix(f"X{m}", class_ratio[a], class_ratio[b])
        for i, j in rng.sample(_positions(members[a], members[b], a == b), occurrences):
            if a == b and rng.random() < 0.5:
                i, j = j, i
            c = rng.choice(COEFFICIENTS)
            blocks[i][j] += c * X
            blocks[j][i] += c * X.T

    return Pencil(
        blocks,
        sizes=[class_ratio[class_of[i]] for i in range(k)],
        parameters=[z],
        name=f"random-{k}x{k}-{n_matrices}m-seed{seed}",
        description=(
            f"random symmetric pencil (pencils.testing.random_pencil(k={k}, n_matrices={n_matrices}, "
            f"seed={seed}, n_classes={n_classes}, occurrences={occurrences}, "
            f"off_diagonal_identity={off_diagonal_identity}))"
        ),
    )


def random_replicated_pencil(k, n_matrices, n_replicated, seed=0, **options):
    """A :func:`random_pencil` with ``n_replicated`` of its blocks repeated ``m`` times (``m`` a symbol).

    Each matrix whose every occurrence touches a replicated block is drawn
    afresh for every copy with probability 1/2 (the others are shared). The
    explicit pencil for any number of copies is complex symmetric with
    ``Im L = Im(z) diag(a_i)``, so it is well posed for ``Im z > 0``.

    Parameters
    ----------
    k, n_matrices, seed, **options
        As for :func:`random_pencil`.
    n_replicated : int
        Number of replicated blocks, between 1 and ``k - 1``.

    Returns
    -------
    Pencil
        With ``parameters == (z, m)`` and :class:`~pencils.replicas.Replicas`.

    Examples
    --------
    >>> from pencils.testing import random_replicated_pencil
    >>> L = random_replicated_pencil(4, 2, 2, seed=1)
    >>> L.replicas
    Replicas(m copies of blocks [1, 2], per copy: X2)
    >>> L.expand(3).k
    8
    """
    from .replicas import Replicas

    k, n_replicated = int(k), int(n_replicated)
    if not 1 <= n_replicated < k:
        raise ValueError(f"n_replicated must be between 1 and k - 1 = {k - 1}, got {n_replicated}")
    base = random_pencil(k, n_matrices, seed=seed, **options)
    rng = random.Random(operator.index(seed) + 7919)
    replicated = set(rng.sample(range(k), n_replicated))
    places = {}
    for (i, j), terms in base.terms.items():
        for term in terms:
            if term.matrix is not None:
                places.setdefault(term.matrix.base.name, []).append((i, j))
    per_copy = [name for name, where in sorted(places.items())
                if all(i in replicated or j in replicated for i, j in where) and rng.random() < 0.5]
    m = sp.Symbol("m", positive=True)
    return Pencil(
        base.blocks, base.sizes, parameters=[*base.parameters, m],
        name=f"{base.name}-replicated{n_replicated}",
        description=f"{base.description} with blocks {sorted(b + 1 for b in replicated)} replicated m times",
        replicas=Replicas(m, [b + 1 for b in replicated], per_copy),
    )
