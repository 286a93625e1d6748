"""The compiled (numerical) form of a Dyson system.

The reduced system ``g = P[K(g)^{-1}]`` (:mod:`pencils.reduction`: reduced
blocks ``K_n`` affine in the unknowns, readouts ``P``) is compiled once: the
scalar coefficients (constant parts, covariance coefficients and readout
weights) are lambdified into mpmath with exact rationals kept, into float64
for path tracking, and into ball arithmetic (:mod:`pencils.balls`) for
certificates. The inverses are taken numerically, block by block. Every method works with any
number type: Python floats, mpmath numbers or python-flint balls.

Entries of ``E[L^{-1}]`` that are zero by structure (across spaces, or outside
the sparsity pattern) are exact zeros: they are never computed.
"""

import weakref
from functools import cached_property

import mpmath
import numpy as np
import sympy as sp

from .. import linalg
from ..balls import ball_function
from ..exceptions import DomainError, SingularPointError

__all__ = ["compile_system", "CompiledSystem", "as_float"]

_compiled_cache = weakref.WeakKeyDictionary()


def compile_system(system):
    """The compiled form of a :class:`~pencils.DysonSystem`, cached on it."""
    compiled = _compiled_cache.get(system)
    if compiled is None:
        compiled = _compiled_cache[system] = CompiledSystem(system)
    return compiled


class CompiledSystem:
    """Numerical form of a Dyson system (internal; built by :func:`compile_system`).

    Matrices are lists of lists, one per space; numbers are Python floats or
    complexes in the float64 pass and mpmath numbers at the working precision.
    """

    def __init__(self, system):
        self.system = system
        self.symbols = system.parameters
        reduction = system.reduction.on_atoms()   # a spectral law: one block per atom
        self.sizes = reduction.sizes
        self.constants = [(n, r, c) for n, r, c, _ in reduction.constants]
        expressions = [v for *_, v in reduction.constants]
        self.terms = [(n, r, c, u) for n, r, c, u, _ in reduction.terms]
        self._terms_of_block = {n: [] for n in range(len(reduction.sizes))}
        for index, (n, r, c, u) in enumerate(self.terms):
            self._terms_of_block[n].append((r, c, u, index))
        expressions += [v for *_, v in reduction.terms]
        weights = {}  # weight expression -> index in the coefficient values (weights other than 1)

        def compiled_readout(entry):
            readout = []
            for w, n, r, c in reduction.readouts[entry]:
                if w == 1:
                    readout.append((None, n, r, c))
                else:
                    if w not in weights:
                        weights[w] = len(expressions)
                        expressions.append(w)
                    readout.append((weights[w], n, r, c))
            return tuple(readout)

        # a readout is ((weight index or None for 1, block, row, column), ...); () is a structural zero
        self.unknowns = [compiled_readout(u) for u in reduction.unknowns]
        self.targets = [compiled_readout(tuple(t)) for t in reduction.targets]
        self.weights = sorted(weights.values())
        # the unknowns that are diagonal entries of G (Im g has the sign of a Stieltjes transform)
        self.diagonal_unknowns = [n for n, u in enumerate(reduction.unknowns) if u[0] == u[1] and len(u) == 2]
        self.expressions = expressions
        self.diagonal = [n for n, (_, r, c) in enumerate(self.constants) if r == c]
        self.symmetric = _is_symmetric(system.pencil)
        self._functions = {}
        self.evaluate = self._function(())
        self._float_functions = {}
        from ..deterministic import DensityLaw
        from ..quadrature import QuadratureError

        densities = any(isinstance(law, DensityLaw) for law in system.reduction.laws.values())
        # bounds of the quadrature error of density laws, for the certificate (None without them)
        self.quadrature_error = QuadratureError(self) if densities else None

    def evaluate_float(self, *point):
        """Coefficient values in float64 (``math`` for a real point, ``cmath`` for a complex one)."""
        module = "cmath" if any(isinstance(x, complex) for x in point) else "math"
        if module not in self._float_functions:
            self._float_functions[module] = sp.lambdify(self.symbols, self.expressions, modules=module)
        return [as_float(v) for v in self._float_functions[module](*point)]

    def _function(self, derivative):
        """Lambdified values of all coefficients, or of their Taylor coefficients in a parameter."""
        if derivative not in self._functions:
            self._functions[derivative] = sp.lambdify(self.symbols, self._expressions_of(derivative), modules="mpmath")
        return self._functions[derivative]

    def _expressions_of(self, derivative):
        """The coefficient expressions, or their ``k``-th Taylor coefficients in a parameter."""
        if not derivative:
            return self.expressions
        name, k = derivative
        symbol = next(s for s in self.symbols if str(s) == name)
        return [sp.diff(e, symbol, k) / sp.factorial(k) for e in self.expressions]

    # -- the block-diagonal matrix M = C - scale * eta(G), space by space ----------------------
    def constant(self, values):
        """``C`` space by space, at coefficient values ``values``."""
        Cs = [linalg.zeros(n) for n in self.sizes]
        for (s, r, c), v in zip(self.constants, values):
            Cs[s][r][c] += v
        return Cs

    def eta(self, values, u):
        """``eta(G)`` space by space, at coefficient values ``values`` and unknowns ``u``."""
        etas = [linalg.zeros(n) for n in self.sizes]
        for (s, r, c, k), v in zip(self.terms, values[len(self.constants):]):
            etas[s][r][c] += v * u[k]
        return etas

    def shifted(self, values, shift):
        """Coefficient values with ``shift`` added to every diagonal entry of ``C``."""
        values = list(values)
        for n in self.diagonal:
            values[n] = values[n] + shift
        return values

    def matrices(self, values, u, scale=1):
        """``M = C - scale * eta(G)`` space by space (each term subtracted where it sits)."""
        Ms = self.constant(values)
        unit = _is_one(scale)
        for (s, r, c, k), v in zip(self.terms, values[len(self.constants):]):
            Ms[s][r][c] -= v * u[k] if unit else scale * v * u[k]
        return Ms

    def inverses(self, Ms, point, u):
        try:
            return linalg.inverses(Ms)
        except ZeroDivisionError:
            raise SingularPointError("C - eta(G) is singular", point=point, iterate=u) from None

    @staticmethod
    def read(values, inverses, readout, zero=0):
        """An entry of ``G`` from the inverses of the reduced blocks: ``sum weight * K_n^{-1}[r, c]``."""
        total = zero
        for w, n, r, c in readout:
            x = inverses[n][r][c]
            total = total + (x if w is None else values[w] * x)
        return total

    def residual(self, values, u, inverses):
        """``F(u) = u - P[M(u)^{-1}]``, ``P`` the readouts of the unknowns."""
        return [x - self.read(values, inverses, readout) for x, readout in zip(u, self.unknowns)]

    def start(self, values, inverses):
        """The unknowns read off the inverses (the start of the coupling homotopy)."""
        return [self.read(values, inverses, readout) for readout in self.unknowns]

    def jacobian(self, values, inverses, scale=1):
        """``dF/du`` with ``F(u) = u - P[M(u)^{-1}]``."""
        J = linalg.identity(len(self.unknowns))
        nc = len(self.constants)
        for row, readout in enumerate(self.unknowns):
            out = J[row]
            for w, s, a, b in readout:
                inv = inverses[s]
                left, right = inv[a], [line[b] for line in inv]
                weight = scale if w is None else scale * values[w]
                if _is_one(weight):  # no product
                    for r, c, k, n in self._terms_of_block[s]:
                        out[k] -= values[nc + n] * left[r] * right[c]
                else:  # the weight once per unknown, not once per term
                    sums = {}
                    for r, c, k, n in self._terms_of_block[s]:
                        sums[k] = sums.get(k, 0) + values[nc + n] * left[r] * right[c]
                    for k, x in sums.items():
                        out[k] -= weight * x
        return J

    def series(self, values, directions, u, point, inverses=None):
        """Taylor series of the solution along paths of coefficient values, sharing one Jacobian.

        ``values`` are the coefficient values where ``u`` solves the system; each
        direction is a list ``[c_1, ..., c_K]`` of the Taylor coefficients of all
        scalar coefficients along a path. Returns, per direction, ``(us, inverses)``:
        the Taylor coefficients of the unknowns and of ``(C - eta(G))^{-1}`` space
        by space, from ``M_k = K_k - eta(values, u_k)`` with ``K_k`` known from lower
        orders, so that ``J u_k = r_k`` with the Newton Jacobian ``J``. ``inverses``, when
        known, are those of ``C - eta(u)`` at ``values`` (else computed here).
        """
        inv0 = self.inverses(self.matrices(values, u), point, u) if inverses is None else inverses
        J = self.jacobian(values, inv0)
        order = max((len(d) for d in directions), default=0)
        if any(not linalg.exactly_zero(d[k][w]) for d in directions for k in range(len(d)) for w in self.weights):
            raise DomainError(
                "the readouts of this system (replicated blocks) depend on that parameter, the replica "
                "count: derivatives in it are not available"
            )
        states = [([list(u)], [None], [inv0]) for _ in directions]
        for k in range(1, order + 1):
            pending = []
            for coefficients, (us, Ms, invs) in zip(directions, states):
                K = self.constant(coefficients[k - 1])
                for j in range(1, k + 1):
                    K = [linalg.sub(a, b) for a, b in zip(K, self.eta(coefficients[j - 1], us[k - j]))]
                lower = [linalg.zeros(n) for n in self.sizes]
                for j in range(1, k):
                    lower = [linalg.add(lo, linalg.matmul(Ms[j][s], invs[k - j][s])) for s, lo in enumerate(lower)]
                rhs = [linalg.matmul(inv0[s], linalg.add(linalg.matmul(K[s], inv0[s]), lower[s]))
                       for s in range(len(K))]
                pending.append((K, lower, [-self.read(values, rhs, readout) for readout in self.unknowns]))
            try:
                solutions = linalg.solve_columns(J, [p[2] for p in pending]) if u else [[] for _ in pending]
            except ZeroDivisionError:
                raise SingularPointError(
                    "the Jacobian is singular: the solution is not differentiable here", point=point
                ) from None
            for (K, lower, _), uk, (us, Ms, invs) in zip(pending, solutions, states):
                Mk = [linalg.sub(a, b) for a, b in zip(K, self.eta(values, uk))]
                us.append(uk)
                Ms.append(Mk)
                invs.append([linalg.scaled(-1, linalg.matmul(inv0[s], linalg.add(linalg.matmul(Mk[s], inv0[s]), lower[s])))
                             for s in range(len(K))])
        return [(us, invs) for us, _, invs in states]

    @cached_property
    def floats(self):
        """The float64 form (:class:`FloatForm`): one Newton iteration as a few NumPy calls."""
        return FloatForm(self)

    def targets_of(self, values, inverses, zero=0):
        """The targets read from the inverses (``zero`` for a structural zero)."""
        return [self.read(values, inverses, t, zero) for t in self.targets]

    def ball_coefficients(self, derivative=()):
        """Ball-arithmetic values of the coefficients (or of their Taylor coefficients in a parameter)."""
        key = ("ball",) + tuple(derivative)
        if key not in self._functions:
            self._functions[key] = ball_function(self.symbols, self._expressions_of(derivative))
        return self._functions[key]


class FloatForm:
    """The residual and Jacobian of a compiled system on NumPy arrays of float64 numbers.

    The same formulas as :meth:`CompiledSystem.residual` and :meth:`CompiledSystem.jacobian`,
    with every block, readout and Jacobian entry at once: ``M = C - scale * eta(G)`` is
    scattered into one flat array (blocks one after the other, row-major), the blocks of
    one size are inverted in one batched call (1 x 1 and 2 x 2 blocks in closed form), and the
    readouts and the Jacobian entries ``weight * coefficient * inv[a, r] * inv[c, b]`` are
    gathered from the flat inverse by precomputed indices. The float64 continuation runs
    Newton on it (:func:`pencils.solver.newton.newton`).
    """

    def __init__(self, compiled):
        offsets, total = [], 0
        for n in compiled.sizes:
            offsets.append(total)
            total += n * n
        self.total = total
        self.n = len(compiled.unknowns)
        self.constant_count = len(compiled.constants)
        self.term_count = len(compiled.terms)

        def position(s, r, c):
            return offsets[s] + r * compiled.sizes[s] + c

        self.constant_positions = np.array([position(*e) for e in compiled.constants], dtype=np.intp)
        self.term_positions = np.array([position(s, r, c) for s, r, c, _ in compiled.terms], dtype=np.intp)
        self.term_unknowns = np.array([k for *_, k in compiled.terms], dtype=np.intp)
        self.groups = {}  # block size -> flat positions of all blocks of that size, block after block
        for s, n in enumerate(compiled.sizes):
            self.groups.setdefault(n, []).extend(range(offsets[s], offsets[s] + n * n))
        self.groups = {n: np.array(p, dtype=np.intp) for n, p in self.groups.items()}
        # readouts: one row per (unknown, readout term); weight index -1 for a weight 1
        rows, weights, places = [], [], []
        pair_entries, pair_weights, pair_terms, pair_left, pair_right = [], [], [], [], []
        for row, readout in enumerate(compiled.unknowns):
            for w, s, a, b in readout:
                rows.append(row)
                weights.append(-1 if w is None else w)
                places.append(position(s, a, b))
                for r, c, k, n in compiled._terms_of_block[s]:
                    pair_entries.append(row * self.n + k)
                    pair_weights.append(-1 if w is None else w)
                    pair_terms.append(n)
                    pair_left.append(position(s, a, r))
                    pair_right.append(position(s, c, b))
        self.read_rows = np.array(rows, dtype=np.intp)
        self.read_weights = np.array(weights, dtype=np.intp)
        self.read_places = np.array(places, dtype=np.intp)
        self.pair_entries = np.array(pair_entries, dtype=np.intp)
        self.pair_weights = np.array(pair_weights, dtype=np.intp)
        self.pair_terms = np.array(pair_terms, dtype=np.intp)
        self.pair_left = np.array(pair_left, dtype=np.intp)
        self.pair_right = np.array(pair_right, dtype=np.intp)

    def prepare(self, values, scale=1, complex_entries=False):
        """What stays fixed while Newton runs at coefficient values ``values`` (floats)."""
        dtype = complex if complex_entries or isinstance(scale, complex) or any(type(v) is complex for v in values) \
            else float
        values = np.array(values, dtype=dtype)
        ones = np.append(values, 1)  # index -1: the weight 1
        nc = self.constant_count
        terms = values[nc:nc + self.term_count]
        return dict(
            dtype=dtype,
            constant=_accumulate(self.constant_positions, values[:nc], self.total),
            terms=scale * terms,
            read_weights=ones[self.read_weights],
            pair_factors=scale * ones[self.pair_weights] * terms[self.pair_terms],
        )

    def inverse(self, prepared, u):
        """The blocks of ``(C - scale eta(u))^{-1}``, flat; ``None`` where a block is singular."""
        flat = prepared["constant"] - _accumulate(self.term_positions, prepared["terms"] * u[self.term_unknowns],
                                                  self.total)
        inverse = np.empty_like(flat)
        for n, places in self.groups.items():
            blocks = flat[places]
            if n == 1:
                if not blocks.all():
                    return None
                inverse[places] = 1 / blocks
                continue
            if n == 2:  # the closed form, without LAPACK's call overhead
                a, b, c, d = blocks.reshape(-1, 4).T
                determinant = a * d - b * c
                if not determinant.all():
                    return None
                inverse[places] = (np.stack([d, -b, -c, a], axis=1) / determinant[:, None]).ravel()
                continue
            try:
                inverse[places] = np.linalg.inv(blocks.reshape(-1, n, n)).ravel()
            except np.linalg.LinAlgError:
                return None
        return inverse

    def residual(self, prepared, u, inverse):
        """``F(u) = u - P[M^{-1}]``."""
        return u - _accumulate(self.read_rows, prepared["read_weights"] * inverse[self.read_places], self.n)

    def jacobian(self, prepared, inverse):
        """``dF/du`` (as :meth:`CompiledSystem.jacobian`)."""
        products = prepared["pair_factors"] * inverse[self.pair_left] * inverse[self.pair_right]
        return np.eye(self.n, dtype=prepared["dtype"]) - _accumulate(self.pair_entries, products,
                                                                     self.n * self.n).reshape(self.n, self.n)


def _accumulate(indices, weights, size):
    """``out[i] = sum of weights[j] over indices[j] == i`` (length ``size``), real or complex."""
    if weights.dtype.kind == "c":
        return (np.bincount(indices, weights.real, size) + 1j * np.bincount(indices, weights.imag, size))
    return np.bincount(indices, weights, size)


def _is_one(x):
    """Whether ``x`` is the exact integer 1 (a factor that needs no product)."""
    return type(x) is int and x == 1


def _is_symmetric(pencil):
    """Whether block (j, i) is the transpose of block (i, j) for all i, j."""
    for i in range(pencil.k):
        for j in range(pencil.k):
            mirrored = {
                (t.matrix.T if t.matrix is not None else None): t.coefficient
                for t in pencil.terms.get((j, i), ())
            }
            here = {t.matrix: t.coefficient for t in pencil.terms.get((i, j), ())}
            if set(here) != set(mirrored) or any(sp.expand(here[m] - mirrored[m]) != 0 for m in here):
                return False
    return True




def as_float(x):
    """An mpmath (or Python) number as a Python float, or complex when its imaginary part is non-zero.

    >>> as_float(mpmath.mpc(2, 0)), as_float(mpmath.mpf(1) / 4), as_float(1 + 2j), as_float(3)
    (2.0, 0.25, (1+2j), 3.0)
    """
    kind = type(x)
    if kind is float:
        return x
    if kind is mpmath.mpf or kind is int:
        return float(x)
    if kind is complex:
        return x if x.imag else x.real
    if kind is mpmath.mpc:  # the hot path of every float64 continuation step
        return complex(x) if x.imag else float(x.real)
    return float(mpmath.re(x)) if mpmath.im(x) == 0 else complex(x)
