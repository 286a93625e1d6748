"""``solve``: continuation to the physical branch, polish, verification, certificate."""

import math

import mpmath

from ..exceptions import AdmissibilityError, ConvergenceError, DomainError, SingularPointError
from ..values import parse_point, to_mpmath
from .certificate import certify as certify_solution
from .compiled import as_float, compile_system
from .continuation import Steps, coupling_path, parameter_path, regularised_path
from .newton import GUARD, float_condition, newton, newton_iteration_count, polish
from .solution import Solution
from .verification import verify

__all__ = ["solve"]

DETOUR = 0.1j  # the second coupling path bends into the complex s-plane by this much
AGREEMENT = 1e-8  # two float64 paths agree when they land this close (relative)
SECOND_GOAL = 1e-7  # relative residual of the float64 steps of the second path (its end is then polished)
REGULARISED = "coupling homotopy at C + i delta, then delta -> 0"
SMALL = 1e-3  # a real parameter below this in size is approached from +-1 when the direct path fails


METHODS = ("auto", "coupling", "regularised")


def solve(system, at, dps=30, tol=None, max_iter=None, start=None, previous=None, predictor=None, method="auto",
          min_step=1e-6, step_iterations=8, step_jump=0.1, certify=True, second_path=True):
    """Solve a Dyson system at a point, on the physical branch, verified and certified.

    Parameters
    ----------
    system : DysonSystem
    at : dict
        ``{name or symbol: value}`` for every parameter and ratio of the
        system. Every value is read exactly (``"1e-3"``, ``"0.5+1j"``, ``0.1``
        is one tenth, see :mod:`pencils.values`); python-flint balls are
        accepted and certified as balls.
    dps : int, optional
        Decimal digits wanted (default 30; 10 to several hundred).
    tol : float, optional
        Residual accepted, relative to ``max(1, |G|)``; default ``10^-(dps-5)``.
    max_iter : int, optional
        Newton iterations of the final polish; default from ``dps``.
    start : dict, optional
        A point to start from, where the coupling homotopy works; the path
        then runs from ``start`` to ``at`` (a parameter whose two ends are
        reals of one sign on a log scale). Missing names are taken from
        ``at``: ``start={"lam": 1}`` continues in the ridge alone, from 1
        down to the value asked. Default: none; but where the direct path
        fails, the solve is retried from the point with every real parameter
        (not ratio) of size below ``1e-3`` raised to ``+-1``, so that a small
        ridge (down to ``1e-15`` and below) is reached on a log scale.
    previous : Solution, optional
        A solution of the same system at a nearby point (a warm start): the
        path runs on the segment from its point to ``at``, with the step
        control of the continuation; if that fails, the solve starts afresh.
    predictor : sequence, optional
        With ``previous``: a guess of the unknowns at ``at`` (e.g. extrapolated
        from earlier points of a sweep), tried as the first predictor.
    method : {"auto", "coupling", "regularised"}, optional
        The continuation from scratch (:mod:`pencils.solver.continuation`).
        ``"coupling"``: the coupling homotopy, Gaussian terms scaled from 0
        to 1 at the point. ``"regularised"`` (symmetric pencils with real
        Gaussian coefficients only): the coupling homotopy at ``C + i delta``,
        then ``delta -> 0`` inside the Stieltjes domain. ``"auto"`` (default):
        ``"regularised"`` where it applies, else ``"coupling"``. A warm start
        (``previous``) or a ``start`` point comes first either way.
    min_step : float, optional
        The smallest continuation step, as a fraction of a path, before
        giving up (default 1e-6).
    step_iterations : int, optional
        Newton iterations allowed per continuation step before the step is
        retried shorter (default 8).
    step_jump : float, optional
        The largest corrector move per step relative to ``1 + |g|``, entry by
        entry (default 0.1); smaller values follow a path more cautiously
        past nearby branches.
    certify : bool, optional
        Compute the certificate (default True): ball enclosures of every
        target, proven by the Krawczyk test (:mod:`pencils.solver.certificate`).
    second_path : bool, optional
        For a pencil that is not symmetric (no Stieltjes condition proves the
        branch): also follow a second, different float64 path to the point and
        require that it lands on the same root (default True). The check is
        recorded as ``"two paths agree"`` in ``checks``.

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
        Newton or the continuation failed (the message says where, and what it
        most likely means on that path).
    AdmissibilityError
        The solution found fails the Stieltjes-transform conditions, or a
        second path lands on another root.

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
    >>> sol.residual < 1e-25, sol.checks
    (True, ('residual', 'finite', 'real', 'stieltjes', 'certified'))
    >>> sol.certified_digits() >= 30
    True
    >>> print(mpmath.nstr(sol.derivative("z"), 30))    # d/dz, by implicit differentiation
    -0.674437343813582703658086308703
    """
    dps = int(dps)
    if dps < 10:
        raise DomainError(f"dps must be at least 10, got {dps}")
    if method not in METHODS:
        raise DomainError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    steps = Steps(iterations=step_iterations, jump=step_jump, min_step=min_step)
    compiled = compile_system(system)
    max_iter = newton_iteration_count(dps) if max_iter is None else int(max_iter)
    exact_point = parse_point(at, compiled.symbols, unused=system.pencil.symbols)
    with mpmath.workdps(dps + GUARD):
        point = _mpmath_point(exact_point)
        tol = mpmath.mpf(10) ** (-(dps - 5)) if tol is None else mpmath.mpf(tol)
        values = compiled.evaluate(*point.values())
        u = path = None
        if previous is not None:
            if previous.system is not system:
                raise DomainError("the previous solution belongs to another system")
            if predictor is not None and len(predictor) != len(compiled.unknowns):
                raise DomainError(f"predictor has {len(predictor)} values for {len(compiled.unknowns)} unknowns")
            try:
                first_guess = None if predictor is None else [to_mpmath(x) for x in predictor]
                u, total = parameter_path(compiled, previous.point, point, previous._u, steps,
                                          first_step=1, first_guess=first_guess)
                u, residual, checks, iterations, work, known = _polish(compiled, exact_point, point, values, u,
                                                                        dps, max_iter, tol)
                path = "warm start"
            except (ConvergenceError, SingularPointError, AdmissibilityError):
                u = None  # start afresh
        if u is None:
            u, total, path, start = _cold_or_from_small(compiled, values, point, at, start, steps, method)
            try:
                u, residual, checks, iterations, work, known = _polish(compiled, exact_point, point, values, u,
                                                                        dps, max_iter, tol)
            except AdmissibilityError:
                if path != REGULARISED:
                    raise
                # beside a nearly double root float64 may end between the two roots: again at 20 digits
                u, total = regularised_path(compiled, values, point, steps, float64=False)
                u, residual, checks, iterations, work, known = _polish(compiled, exact_point, point, values, u,
                                                                        dps, max_iter, tol)
        if second_path and not compiled.symmetric and compiled.unknowns:
            checks = checks + (_second_path(compiled, values, point, u, path, at, start, steps, method, previous),)
    targets, jacobian = known
    certificate = certify_solution(compiled, exact_point, u, point, work, jacobian=jacobian) if certify else None
    return Solution(compiled, point, exact_point, dps, u, residual, total + iterations, checks, path, certificate,
                    targets)


def _mpmath_point(exact_point):
    """The point in mpmath numbers at the current precision (reals as mpf)."""
    point = {name: to_mpmath(v) for name, v in exact_point.items()}
    return {name: mpmath.re(v) if mpmath.im(v) == 0 else v for name, v in point.items()}


def _scale_digits(compiled, values, u):
    """Extra working digits for an ill-conditioned Jacobian at ``u``.

    With unknowns of very different sizes (``|G| ~ 1/lam`` beside ``O(lam)`` entries at a tiny
    ridge) the Jacobian's condition ``kappa`` is about the square of their ratio (1e46 at
    ``lam = 1e-12`` in the DSM pencils): Newton at the requested precision alone would wander to
    another root. Where the sizes differ by ``1e6`` or more, ``kappa`` is measured in float64:
    below ``1e12`` (where float64 measures it) the digits it costs beyond the guard digits,
    ``log10(kappa) - GUARD``; above, ``2 log10(max|u| / min|u|)``. (The ratio alone overstates:
    an unknown that vanishes at the point is left at its rounding noise, ``1e-24`` after a float64
    path, ``1e-90`` after a polish at 80 digits, which then asked for 180 digits at the next point
    of a sweep.)
    """
    sizes = [abs(x) for x in u if x != 0]
    if not sizes:
        return 0
    ratio = float(max(sizes) / min(sizes))
    if ratio < 1e6:
        return 0
    kappa = float_condition(compiled, values, u)
    if kappa < 1e12:
        return max(0, math.ceil(math.log10(max(kappa, 1))) - GUARD)
    return 2 * int(mpmath.ceil(mpmath.log10(ratio)))


def _polish(compiled, exact_point, point, values, u, dps, max_iter, tol):
    """Polish and verify at ``dps`` plus :func:`_scale_digits` digits (plus guard digits).

    ``point`` and ``values`` are the point and the coefficients at ``dps`` digits, evaluated
    again only when more digits are needed. Returns ``(u, residual, checks, iterations, work,
    (targets, jacobian))``, ``work`` the digits used, ``targets`` read at ``u`` by the polish and
    its last Jacobian (``None`` when the verification changed ``u``).
    """
    work = dps + _scale_digits(compiled, values, u)
    with mpmath.workdps(work + GUARD):
        if work > dps:
            point = _mpmath_point(exact_point)
            values = compiled.evaluate(*point.values())
        polished, residual, iterations, targets, jacobian = polish(compiled, values, u, point, work,
                                                                   max_iter + (work - dps) // 10)
        u, residual, checks = verify(compiled, values, polished, point, dps, tol, residual)
    return u, residual, checks, iterations, work, (targets, jacobian) if u is polished else (None, None)


def _cold_or_from_small(compiled, values, point, at, start, steps, method):
    """``_cold``; where it fails, again from the point with every small parameter raised to +-1.

    Returns ``(u, iterations, path, start)`` with the start actually used.
    """
    try:
        return (*_cold(compiled, values, point, at, start, steps, method), start)
    except (ConvergenceError, SingularPointError) as exc:
        raised = _small_parameters_raised(compiled, point) if start is None else {}
        if not raised:
            raise
        try:
            return (*_cold(compiled, values, point, at, raised, steps, method), raised)
        except (ConvergenceError, SingularPointError) as again:
            names = ", ".join(f"{k} = {v}" for k, v in raised.items())
            raise type(again)(
                f"from {names}: {again.message}; the direct path failed too: {exc.message}",
                point=again.point, residual=again.residual, iterate=again.iterate,
            ) from None


def _small_parameters_raised(compiled, point):
    """``{name: +-1}`` for the real parameters (not ratios) with ``0 < |value| < SMALL``: a small
    ridge or spectral parameter, to be approached from 1 on a log scale."""
    parameters = {str(p) for p in compiled.system.pencil.parameters}
    return {name: 1 if v > 0 else -1 for name, v in point.items()
            if name in parameters and mpmath.im(v) == 0 and 0 < abs(v) < SMALL}


def _start_point(compiled, at, start):
    full = {**{str(k): v for k, v in dict(at).items()}, **{str(k): v for k, v in dict(start).items()}}
    return _mpmath_point(parse_point(full, compiled.symbols, unused=compiled.system.pencil.symbols))


def _cold(compiled, values, point, at, start, steps, method, detour=0, goal=1e-12):
    """A solution from scratch: from a start point, by the regularised path, or by the coupling homotopy."""
    regularisable = compiled.symmetric and all(mpmath.im(v) == 0 for v in values[len(compiled.constants):])
    if method == "regularised" and not regularisable:
        raise DomainError(
            "method='regularised' needs a symmetric pencil with real Gaussian coefficients (Im C then decides "
            "the branch); use method='coupling' or 'auto'"
        )
    if start is not None:
        start_point = _start_point(compiled, at, start)
        start_values = compiled.evaluate(*start_point.values())
        u, total = coupling_path(compiled, start_values, start_point, steps, detour=detour, goal=goal)
        u, more = parameter_path(compiled, start_point, point, u, steps, detour=detour, goal=goal)
        return u, total + more, "coupling homotopy at the start point, then the path to the point"
    if regularisable and method != "coupling" and detour == 0:
        u, total = regularised_path(compiled, values, point, steps)
        return u, total, REGULARISED
    u, total = coupling_path(compiled, values, point, steps, detour=detour, goal=goal)
    return u, total, "coupling homotopy s: 0 -> 1"


def _second_path(compiled, values, point, u, path, at, start, steps, method, previous=None):
    """Follow other float64 paths to the point; one of them must land on the root ``u``.

    The other path is the first one bent into the complex plane, first on one side, then on
    the other: after a warm start, the parameter path from the previous point with a complex
    detour; otherwise the coupling homotopy with a complex ``s``. Bending may move the
    effective spectral parameter across the real axis on one of the two sides, so one side
    agreeing is the evidence asked for: evidence, not proof (two paths may also agree around a
    branch point of even order, or after both jumped).
    """
    distance, reached = None, False
    floats = compiled.evaluate_float(*[as_float(v) for v in point.values()])
    for detour in (-DETOUR, DETOUR):
        try:  # followed to SECOND_GOAL, then Newton in float64 at the point to 1e-12
            if path == "warm start":
                other, _ = parameter_path(compiled, previous.point, point, previous._u, steps, detour=detour,
                                          goal=SECOND_GOAL)
            else:
                other, _, _ = _cold(compiled, values, point, at, start, steps, "coupling", detour=detour, goal=SECOND_GOAL)
            other, _, _ = newton(compiled, floats, [as_float(x) for x in other], point, steps.iterations, 1e-12)
        except (ConvergenceError, SingularPointError, ArithmeticError, ValueError):
            continue
        reached = True
        size = 1 + max(abs(x) for x in u)
        distance = max(abs(as_float(a) - as_float(b)) for a, b in zip(other, u))
        if distance <= AGREEMENT * size:
            return "two paths agree"
    if not reached:
        return "second path failed"
    raise AdmissibilityError(
        f"two continuation paths reach different roots (distance {distance:.3g}): the branch is "
        "ambiguous here; the pencil is not symmetric, so no Stieltjes condition decides",
        point, None, u,
    )
