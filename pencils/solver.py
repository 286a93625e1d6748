"""High-precision verified solution of a Dyson system, with exact derivatives.

The reduced system ``g_u = [(C - eta(G))^{-1}]_u`` is compiled once: the
scalar coefficients (identity part ``C`` and covariance coefficients) are
lambdified into mpmath with exact rationals kept; the inverse is taken
numerically, space by space. Newton's method uses the analytic Jacobian
``J = I - P[M^{-1} (d eta / d g) M^{-1}]``.

**Branch.** The physical solution is reached by continuation from a point
where it is known: the *coupling homotopy* multiplies every Gaussian term by
``s`` and follows ``s = 0`` (``G = C^{-1}`` exactly) to ``s = 1`` with
adaptive steps and a Newton corrector at each step; for a symmetric pencil it
runs at ``C + i delta`` (inside the Stieltjes domain), then ``delta -> 0``.
Optionally the path runs in parameter space from a ``start`` point or from a
``previous`` solution. Paths are followed in float64 (falling back to 20
digits where float64 loses the branch); the result is then polished by Newton
at the working precision and verified:

* residual below ``10^-(dps-5)``;
* a real solution when every parameter is real;
* for a symmetric pencil with real Gaussian coefficients and ``Im C``
  semidefinite, ``Im G`` semidefinite of the opposite sign, space by space
  (the Stieltjes condition).

A failure raises a :class:`~pencils.exceptions.SolverError` subclass that
gives the point, the residual and the last iterate.

**Derivatives** of any order in one parameter come from Taylor-mode implicit
differentiation of the fixed point at the working precision: the ``k``-th
Taylor coefficient solves ``J u_k = r_k`` with the same Jacobian.

Examples
--------
>>> import mpmath, sympy as sp
>>> from pencils import Pencil, GaussianMatrix, ratio, DysonSystem, solve
>>> z, psi = sp.Symbol("z"), ratio("psi")
>>> X = GaussianMatrix("X", 1, psi)
>>> system = DysonSystem(Pencil([[z, X], [X.T, 1]], [1, psi], [z]))
>>> sol = solve(system, {"z": -1, "psi": "0.5"}, dps=30)
>>> print(mpmath.nstr(sol.value, 30))    # (1/N) E tr (z - X X^T)^{-1} at z = -1
-0.780776406404415137455352463994
>>> sol.residual < 1e-25, sol.dps, sol.checks
(True, 30, ('residual', 'finite', 'real', 'stieltjes'))
>>> print(mpmath.nstr(sol.derivative("z"), 30))    # d/dz, by implicit differentiation
-0.674437343813582703658086308703
"""

import weakref

import mpmath
import sympy as sp

from . import linalg
from .exceptions import AdmissibilityError, ConvergenceError, DomainError, SingularPointError
from .values import parse_point, to_mpmath

__all__ = ["solve", "Solution", "compile_system", "newton_iteration_count"]

GUARD = 10  # extra decimal digits carried internally

_compiled_cache = weakref.WeakKeyDictionary()


def compile_system(system):
    """The compiled (lambdified) form of a :class:`~pencils.DysonSystem`, cached on it."""
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
        structure = system.structure
        unknowns = [(a - 1, b - 1) for a, b in system.unknowns]
        targets = [(a - 1, b - 1) for a, b in system.targets]
        space_ids = sorted({structure.space_of[a] for a, _ in unknowns + targets})
        self.spaces = [structure._spaces[s] for s in space_ids]
        self.where = {b: (n, blocks.index(b)) for n, blocks in enumerate(self.spaces) for b in blocks}
        self.unknowns = [(self.where[a], self.where[b][1]) for a, b in unknowns]
        self.targets = [(self.where[a], self.where[b][1]) for a, b in targets]
        index = {u: n for n, u in enumerate(unknowns)}
        self.constants = []
        expressions = []
        for i, j in ((i, j) for i in self.where for j in self.where):
            entry = system.C[i, j]
            if (entry != 0 or i == j) and self.where[i][0] == self.where[j][0]:
                self.constants.append((self.where[i][0], self.where[i][1], self.where[j][1]))
                expressions.append(entry)
        self.terms = []
        for t in system.covariance:
            (s, r), c = self.where[t.out[0]], self.where[t.out[1]][1]
            self.terms.append((s, r, c, index[t.read]))
            expressions.append(t.coefficient)
        self.expressions = expressions
        self.diagonal = [n for n, (_, r, c) in enumerate(self.constants) if r == c]
        self.symmetric = _is_symmetric(system.pencil)
        self._functions = {}
        self.evaluate = self._function(())
        self._float_functions = {}

    def evaluate_float(self, *point):
        """Coefficient values in float64 (``math`` for a real point, ``cmath`` for a complex one)."""
        module = "cmath" if any(isinstance(x, complex) for x in point) else "math"
        if module not in self._float_functions:
            self._float_functions[module] = sp.lambdify(self.symbols, self.expressions, modules=module)
        return [_as_float(v) for v in self._float_functions[module](*point)]

    def _function(self, derivative):
        """Lambdified values of all coefficients, or of their Taylor coefficients in a parameter."""
        if derivative not in self._functions:
            if derivative:
                name, k = derivative
                symbol = next(s for s in self.symbols if str(s) == name)
                exprs = [sp.diff(e, symbol, k) / sp.factorial(k) for e in self.expressions]
            else:
                exprs = self.expressions
            self._functions[derivative] = sp.lambdify(self.symbols, exprs, modules="mpmath")
        return self._functions[derivative]

    # -- the block-diagonal matrix M = C - scale * eta(G), space by space ----------------------
    def constant(self, values):
        """``C`` space by space, at coefficient values ``values``."""
        Cs = [linalg.zeros(len(blocks)) for blocks in self.spaces]
        for (s, r, c), v in zip(self.constants, values):
            Cs[s][r][c] += v
        return Cs

    def eta(self, values, u):
        """``eta(G)`` space by space, at coefficient values ``values`` and unknowns ``u``."""
        etas = [linalg.zeros(len(blocks)) for blocks in self.spaces]
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
        """``M = C - scale * eta(G)`` space by space."""
        return [linalg.sub(C, linalg.scaled(scale, E)) for C, E in zip(self.constant(values), self.eta(values, u))]

    def inverses(self, Ms, point, u):
        try:
            return [linalg.inverse(M) for M in Ms]
        except ZeroDivisionError:
            raise SingularPointError("C - eta(G) is singular", point=point, iterate=u) from None

    def residual(self, u, inverses):
        return [u[n] - inverses[s][r][c] for n, ((s, r), c) in enumerate(self.unknowns)]

    def jacobian(self, values, inverses, scale=1):
        """``dF/du`` with ``F(u) = u - P[M(u)^{-1}]``."""
        J = linalg.identity(len(self.unknowns))
        nc = len(self.constants)
        for row, ((s, a), b) in enumerate(self.unknowns):
            inv = inverses[s]
            for (ts, r, c, k), v in zip(self.terms, values[nc:]):
                if ts == s:
                    J[row][k] -= scale * v * inv[a][r] * inv[c][b]
        return J

    def series(self, values, directions, u, point):
        """Taylor series of the solution along paths of coefficient values, sharing one Jacobian.

        ``values`` are the coefficient values where ``u`` solves the system; each
        direction is a list ``[c_1, ..., c_K]`` of the Taylor coefficients of all
        scalar coefficients along a path. Returns, per direction, ``(us, inverses)``:
        the Taylor coefficients of the unknowns and of ``(C - eta(G))^{-1}`` space
        by space, from ``M_k = K_k - eta(values, u_k)`` with ``K_k`` known from lower
        orders, so that ``J u_k = r_k`` with the Newton Jacobian ``J``.
        """
        inv0 = self.inverses(self.matrices(values, u), point, u)
        J = self.jacobian(values, inv0)
        order = max((len(d) for d in directions), default=0)
        states = [([list(u)], [None], [inv0]) for _ in directions]
        for k in range(1, order + 1):
            pending = []
            for coefficients, (us, Ms, invs) in zip(directions, states):
                K = self.constant(coefficients[k - 1])
                for j in range(1, k + 1):
                    K = [linalg.sub(a, b) for a, b in zip(K, self.eta(coefficients[j - 1], us[k - j]))]
                lower = [linalg.zeros(len(b)) for b in self.spaces]
                for j in range(1, k):
                    lower = [linalg.add(lo, linalg.matmul(Ms[j][s], invs[k - j][s])) for s, lo in enumerate(lower)]
                rhs = [linalg.matmul(inv0[s], linalg.add(linalg.matmul(K[s], inv0[s]), lower[s]))
                       for s in range(len(K))]
                pending.append((K, lower, [-rhs[s][r][c] for (s, r), c in self.unknowns]))
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

    def targets_of(self, inverses):
        return [inverses[s][r][c] for (s, r), c in self.targets]


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


def newton_iteration_count(dps):
    """The iteration cap that Newton is allowed at a precision (quadratic convergence plus slack)."""
    return 12 + int(mpmath.log(dps + GUARD, 2))


class Solution:
    """A verified solution of a Dyson system at one point.

    Attributes
    ----------
    system : DysonSystem
    point : dict
        ``{name: mpmath number}``, the parameter values.
    dps : int
        The precision (decimal digits) the values are correct to.
    unknowns : dict
        ``{(i, j): value}`` for the unknowns.
    targets : dict
        ``{(i, j): value}`` for the targets.
    residual : mpmath.mpf
        Max-norm of ``g - [(C - eta(G))^{-1}]`` over the unknowns at the solution.
    iterations : int
        Newton iterations spent, over the whole path.
    checks : tuple of str
        The verifications passed.
    path : str
        How the solution was reached.
    """

    def __init__(self, compiled, point, dps, u, residual, iterations, checks, path):
        self._compiled = compiled
        self.system = compiled.system
        self.point = point
        self.dps = dps
        self._u = u
        self.unknowns = dict(zip(self.system.unknowns, u))
        with mpmath.workdps(dps + GUARD):
            inverses = compiled.inverses(compiled.matrices(compiled.evaluate(*point.values()), u), point, u)
            self.targets = dict(zip(self.system.targets, compiled.targets_of(inverses)))
        self.residual = residual
        self.iterations = iterations
        self.checks = checks
        self.path = path

    @property
    def value(self):
        """The value of the first target."""
        return self.targets[self.system.targets[0]]

    def __getitem__(self, entry):
        entry = tuple(entry)
        if entry in self.targets:
            return self.targets[entry]
        if entry in self.unknowns:
            return self.unknowns[entry]
        raise KeyError(f"{entry} is neither a target nor an unknown of the system")

    def taylor(self, wrt, order=2):
        """Taylor coefficients in one parameter (or several), from implicit differentiation.

        Parameters
        ----------
        wrt : str, sympy.Symbol, or a list of them
            The parameter(s) (ratios included).
        order : int
            The highest order.

        Returns
        -------
        dict
            ``{(i, j): [c_0, c_1, ..., c_order]}`` for targets and unknowns,
            with ``g(x + e) = sum c_k e^k``; for a list ``wrt``, one such
            dictionary per parameter name (computed with one Jacobian).
        """
        names = [str(w) for w in wrt] if isinstance(wrt, list | tuple) else [str(wrt)]
        for name in names:
            if name not in self.point:
                raise DomainError(f"{name} is not a parameter of the system ({', '.join(self.point)})")
        if int(order) != order or order < 0:
            raise DomainError(f"order must be a non-negative integer, got {order}")
        c = self._compiled
        values = list(self.point.values())
        results = {}
        with mpmath.workdps(self.dps + GUARD):
            coefficients = c.evaluate(*values)
            directions = [[c._function((name, k))(*values) for k in range(1, order + 1)] for name in names]
            for name, (us, invs) in zip(names, c.series(coefficients, directions, self._u, self.point)):
                result = {entry: [+us[k][n] for k in range(order + 1)] for n, entry in enumerate(self.system.unknowns)}
                for entry, ((s, r), col) in zip(self.system.targets, c.targets):
                    result[entry] = [+invs[k][s][r][col] for k in range(order + 1)]
                results[name] = result
        return results if isinstance(wrt, list | tuple) else results[names[0]]

    def derivative(self, wrt, order=1, target=None):
        """The ``order``-th derivative of a target (default: the first) in a parameter."""
        entry = self.system.targets[0] if target is None else tuple(target)
        series = self.taylor(wrt, order)
        if entry not in series:
            raise KeyError(f"{entry} is neither a target nor an unknown of the system")
        with mpmath.workdps(self.dps + GUARD):
            return series[entry][order] * mpmath.factorial(order)

    def __repr__(self):
        values = ", ".join(
            f"{self.system.symbols[e]}={mpmath.nstr(v, 12)}" for e, v in self.targets.items()
        )
        return (
            f"Solution({values}; dps={self.dps}, residual={mpmath.nstr(self.residual, 3)}, "
            f"iterations={self.iterations}, checks={list(self.checks)})"
        )


def solve(system, at, dps=30, tol=None, max_iter=None, start=None, previous=None, predictor=None, min_step=1e-6):
    """Solve a Dyson system at a point, on the physical branch, verified.

    Parameters
    ----------
    system : DysonSystem
    at : dict
        ``{name or symbol: value}`` for every parameter and ratio of the
        system. Strings are read at full precision (``"1e-3"``, ``"0.5+1j"``).
    dps : int, optional
        Decimal digits wanted (default 30; 15 to several hundred).
    tol : float, optional
        Residual accepted; default ``10^-(dps-5)``.
    max_iter : int, optional
        Newton iterations per continuation step; default from ``dps``.
    start : dict, optional
        A point to start from (where the coupling homotopy works); the path
        then runs on the straight segment from ``start`` to ``at``.
    previous : Solution, optional
        A solution of the same system at a nearby point (a warm start): the
        path runs on the segment from its point to ``at``, with the step
        control of the continuation; if that fails, the solve starts afresh.
    predictor : sequence, optional
        With ``previous``: a guess of the unknowns at ``at`` (e.g. extrapolated
        from earlier points of a sweep), tried as the first predictor.
    min_step : float, optional
        The smallest continuation step before giving up.

    Returns
    -------
    Solution

    Raises
    ------
    DomainError
        A missing, unknown or out-of-domain parameter.
    SingularPointError
        ``C`` or ``C - eta(G)`` singular where the path needs it inverted.
    ConvergenceError
        Newton or the continuation failed.
    AdmissibilityError
        The solution found fails the Stieltjes-transform conditions.
    """
    dps = int(dps)
    if dps < 10:
        raise DomainError(f"dps must be at least 10, got {dps}")
    compiled = compile_system(system)
    max_iter = newton_iteration_count(dps) if max_iter is None else int(max_iter)
    with mpmath.workdps(dps + GUARD):
        point = parse_point(at, compiled.symbols)
        tol = mpmath.mpf(10) ** (-(dps - 5)) if tol is None else mpmath.mpf(tol)
        values = compiled.evaluate(*point.values())
        if previous is not None:
            if previous.system is not system:
                raise DomainError("the previous solution belongs to another system")
            if predictor is not None and len(predictor) != len(compiled.unknowns):
                raise DomainError(f"predictor has {len(predictor)} values for {len(compiled.unknowns)} unknowns")
            try:
                first_guess = None if predictor is None else [to_mpmath(x) for x in predictor]
                u, total = _parameter_path(compiled, previous.point, point, previous._u, min_step,
                                           first_step=1, first_guess=first_guess)
                u, _, iterations = _polish(compiled, values, u, point, dps, max_iter)
                u, residual, checks = _verify(compiled, values, u, point, dps, tol)
                return Solution(compiled, point, dps, u, residual, total + iterations, checks, "warm start")
            except (ConvergenceError, SingularPointError, AdmissibilityError):
                pass  # start afresh
        if start is not None:
            start_point = parse_point(start, compiled.symbols)
            start_values = compiled.evaluate(*start_point.values())
            u, total = _coupling_path(compiled, start_values, start_point, min_step)
            u, steps = _parameter_path(compiled, start_point, point, u, min_step)
            total += steps
            path = "coupling homotopy at the start point, then the segment to the point"
        elif compiled.symmetric and all(mpmath.im(v) == 0 for v in values[len(compiled.constants):]):
            u, total = _regularised_path(compiled, values, point, min_step)
            path = "coupling homotopy at C + i delta, then delta -> 0"
        else:
            u, total = _coupling_path(compiled, values, point, min_step)
            path = "coupling homotopy s: 0 -> 1"
        u, _, iterations = _polish(compiled, values, u, point, dps, max_iter)
        u, residual, checks = _verify(compiled, values, u, point, dps, tol)
        return Solution(compiled, point, dps, u, residual, total + iterations, checks, path)


def _newton(compiled, values, u, point, max_iter, goal, scale=1):
    """Newton's method to a residual ``goal * max(1, |u|)``; returns (u, residual, iterations)."""
    best = None
    norm = None
    u = list(u)
    for iteration in range(max_iter + 1):
        inverses = compiled.inverses(compiled.matrices(values, u, scale), point, u)
        F = compiled.residual(u, inverses)
        norm = max((abs(f) for f in F), default=0)
        if not mpmath.isfinite(norm):
            break
        if norm <= goal * max(1, max((abs(x) for x in u), default=1)):
            return u, norm, iteration
        if best is not None and norm > 1e3 * best and iteration > 3:
            break
        best = norm if best is None else min(best, norm)
        try:
            du = linalg.solve(compiled.jacobian(values, inverses, scale), F)
        except ZeroDivisionError:
            raise SingularPointError("singular Jacobian in Newton's method", point=point, residual=norm, iterate=u) from None
        u = [x - d for x, d in zip(u, du)]
    raise ConvergenceError(
        f"Newton's method did not converge in {max_iter} iterations", point=point,
        residual=norm if norm is not None and mpmath.isfinite(norm) else None, iterate=u,
    )


def _polish(compiled, values, u, point, dps, max_iter):
    """Newton at the working precision from an approximate solution."""
    goal = mpmath.mpf(10) ** (-(dps + GUARD // 2))
    return _newton(compiled, values, [mpmath.mpmathify(x) for x in u], point, max_iter, goal)


STEP_ITERATIONS = 8  # Newton iterations allowed per continuation step
STEP_JUMP = 0.1  # largest corrector move per step, relative to 1 + |u|


def _continue(step_solver, u0, min_step, what, first_step=0.25, first_guess=None):
    """Follow ``t`` from 0 to 1 with adaptive steps; ``step_solver(t, guess)`` -> (u, its).

    A step is accepted only if Newton converges in at most ``STEP_ITERATIONS`` iterations and
    the corrector moves the predictor by at most ``STEP_JUMP (1 + |u|)``: a jump to another
    branch of the equations shows as a large correction, and the step is retried shorter.
    """
    t, h, u_prev, u, total = 0.0, float(first_step), None, u0, 0
    t_prev = None
    while t < 1:
        h = min(h, 1 - t)
        t_new = t + h
        if u_prev is not None:  # secant predictor
            ratio = h / (t - t_prev)
            guess = [a + ratio * (a - b) for a, b in zip(u, u_prev)]
        elif first_guess is not None and t_new == 1:
            guess = first_guess
        else:
            guess = u
        try:
            u_new, its = step_solver(t_new, guess)
            scale = 1 + max((abs(x) for x in u), default=0)
            if its > STEP_ITERATIONS or max((abs(a - b) for a, b in zip(u_new, guess)), default=0) > STEP_JUMP * scale:
                raise ConvergenceError("step rejected: the corrector moved too far")
        except (ConvergenceError, SingularPointError) as exc:
            h /= 4
            if h < min_step:
                raise ConvergenceError(
                    f"the {what} stalled at {t:.8g} (Newton fails even with steps "
                    f"below {min_step}): the path meets a singularity or a branch point. With real "
                    "parameters this typically means a spectral parameter inside the spectrum, where "
                    "no real solution exists: give it a small imaginary part",
                    point=exc.point, residual=exc.residual, iterate=u,
                ) from None
            continue
        total += its
        t_prev, u_prev, t, u = t, u, t_new, u_new
        if its <= 4:
            h *= 2
    return u, total


def _as_float(x):
    return float(mpmath.re(x)) if mpmath.im(x) == 0 else complex(x)


def _follow(compiled, family, u0, point, min_step, what, **options):
    """Continuation along ``t -> family(t, exact) = (values, scale)`` from the solution ``u0`` at ``t = 0``.

    Followed in float64 (``exact=False``) first; where float64 cannot hold the branch, at 20
    digits with mpmath values (``exact=True``).
    """
    def step(t, guess, exact, convert, goal):
        values, scale = family(t, exact)
        u, _, its = _newton(compiled, values, [convert(x) for x in guess], point, STEP_ITERATIONS + 4, goal,
                            scale=scale)
        return u, its

    try:
        return _continue(lambda t, g: step(t, g, False, _as_float, 1e-12), [_as_float(x) for x in u0], min_step,
                         what, **_converted(options, _as_float))
    except (ConvergenceError, SingularPointError, ArithmeticError, ValueError):
        with mpmath.workdps(20):
            goal = mpmath.mpf(10) ** -14
            return _continue(lambda t, g: step(t, g, True, mpmath.mpmathify, goal), u0, min_step, what,
                             **_converted(options, mpmath.mpmathify))


def _converted(options, convert):
    if options.get("first_guess") is None:
        return options
    return {**options, "first_guess": [convert(x) for x in options["first_guess"]]}


def _coupling_path(compiled, values, point, min_step):
    """From ``G = C^{-1}`` (no Gaussian terms) to the full system, at coefficient values ``values``."""
    zero = [0] * len(compiled.unknowns)
    try:
        inverses = compiled.inverses(compiled.matrices(values, zero, 0), point, None)
    except SingularPointError:
        raise SingularPointError(
            "C (the pencil without its Gaussian terms) is singular here, so the coupling homotopy "
            "cannot start; pass start={...} with a point where C is invertible",
            point=point,
        ) from None
    u0 = [inverses[s][r][c] for (s, r), c in compiled.unknowns]
    floats = [_as_float(v) for v in values]
    return _follow(compiled, lambda s, exact: (values if exact else floats, s * s), u0, point, min_step,
                   "coupling homotopy s: 0 -> 1")


def _regularised_path(compiled, values, point, min_step):
    """For a symmetric pencil: solve at ``C + i delta`` (Im part definite), then let ``delta -> 0``.

    With ``Im C`` semidefinite, adding ``i delta I`` (same sign) keeps the pencil in the Stieltjes
    domain along the whole path, where the physical solution is analytic and unique.
    """
    sign = _stieltjes_sign(compiled, values) or 1
    delta = sign * 1j * (1 + max((abs(v) for v in values[: len(compiled.constants)]), default=0))
    u, total = _coupling_path(compiled, compiled.shifted(values, delta), point, min_step)
    floats = [_as_float(v) for v in values]
    u, steps = _follow(compiled, lambda t, exact: (compiled.shifted(values if exact else floats, delta * (1 - t)), 1),
                       u, point, min_step, "regularisation delta -> 0")
    return u, total + steps


def _parameter_path(compiled, start, point, u0, min_step, **options):
    a, b = list(start.values()), list(point.values())
    af, bf = [_as_float(x) for x in a], [_as_float(x) for x in b]

    def family(t, exact):
        if exact:
            return compiled.evaluate(*[x + t * (y - x) for x, y in zip(a, b)]), 1
        return compiled.evaluate_float(*[x + t * (y - x) for x, y in zip(af, bf)]), 1

    return _follow(compiled, family, u0, point, min_step, "path from the start point", **options)


def _verify(compiled, values, u, point, dps, tol):
    inverses = compiled.inverses(compiled.matrices(values, u), point, u)
    residual = max((abs(f) for f in compiled.residual(u, inverses)), default=mpmath.mpf(0))
    checks = []
    if not residual <= tol:
        raise ConvergenceError(f"residual above the tolerance {mpmath.nstr(tol, 3)}", point, residual, u)
    checks.append("residual")
    if not all(mpmath.isfinite(x) for x in u):
        raise ConvergenceError("non-finite solution", point, residual, u)
    checks.append("finite")
    small = mpmath.mpf(10) ** (-(dps - 5))
    real_point = all(mpmath.im(v) == 0 for v in point.values())
    if real_point:
        worst = max((abs(mpmath.im(x)) for x in u), default=mpmath.mpf(0))
        if worst > small:
            raise AdmissibilityError(
                "all parameters are real but the solution is not (imaginary part "
                f"{mpmath.nstr(worst, 3)}): the point is on a cut, e.g. a spectral parameter inside "
                "the spectrum; give it a small imaginary part",
                point, residual, u,
            )
        checks.append("real")
        u = [mpmath.re(x) for x in u]
        if compiled.symmetric and _stieltjes_response(compiled, values, u, point, small):
            checks.append("stieltjes")
    elif compiled.symmetric and (sign := _stieltjes_sign(compiled, values)):
        for inv in inverses:
            if any(sign * e > small for e in _imaginary_part_eigenvalues(inv)):
                raise AdmissibilityError(
                    "Im G has the wrong sign for a Stieltjes transform (Im C and Im G must be "
                    "semidefinite of opposite signs): not the physical branch",
                    point, residual, u,
                )
        checks.append("stieltjes")
    return u, residual, tuple(checks)


def _imaginary_part_eigenvalues(A):
    """Eigenvalues of the Hermitian matrix ``(A - A^H) / 2i`` (``A`` a list of lists)."""
    n = len(A)
    imag = mpmath.matrix(n)
    for r in range(n):
        for c in range(n):
            imag[r, c] = (A[r][c] - mpmath.conj(A[c][r])) / 2j
    return mpmath.eighe(imag, eigvals_only=True) if n > 1 else [mpmath.re(imag[0, 0])]


def _stieltjes_response(compiled, values, u, point, small):
    """At a real point of a symmetric pencil: the response of G to ``C -> C + i e I`` (e > 0).

    The physical solution stays in the Stieltjes domain for e > 0, so its first-order
    response has ``Im dG/de <= 0``; the other branches of the same real equations violate it.
    Returns True if the check applies and passes; raises AdmissibilityError if it fails.
    """
    if any(mpmath.im(v) != 0 for v in values):
        return False
    direction = compiled.shifted([0] * len(values), 1j)
    ((_, inverses),) = compiled.series(values, [[direction]], u, point)
    for inv in inverses[1]:
        if any(e > small for e in _imaginary_part_eigenvalues(inv)):
            raise AdmissibilityError(
                "the solution does not respond to C -> C + i e I as a Stieltjes transform "
                "(Im dG/de must be <= 0): a non-physical branch of the real equations",
                point, None, u,
            )
    return True


def _stieltjes_sign(compiled, values):
    """+1 if Im C >= 0 (then Im G <= 0), -1 if Im C <= 0, 0 if neither or Gaussian terms are complex."""
    nc = len(compiled.constants)
    if any(mpmath.im(v) != 0 for v in values[nc:]):
        return 0
    signs = set()
    for C in compiled.constant(values):
        eigenvalues = _imaginary_part_eigenvalues(C)
        if any(e > 0 for e in eigenvalues):
            signs.add(1)
        if any(e < 0 for e in eigenvalues):
            signs.add(-1)
    return signs.pop() if len(signs) == 1 else 0
