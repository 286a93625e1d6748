"""Continuation: follow the solution along a path of coefficient values.

Paths are followed in float64 first (falling back to 20 digits where float64
loses the branch), with adaptive steps and a step control (:class:`Steps`)
that rejects a step whose corrector moves too far or takes too many
iterations, so that the path stays on one branch. Three paths start where
the answer is known:

* the *coupling homotopy* multiplies every Gaussian term by ``s^2`` and
  follows ``s = 0`` (``G = C^{-1}`` exactly) to ``s = 1``;
* for a symmetric pencil with real coefficients it runs at ``C + i delta``
  (inside the Stieltjes domain), then lets ``delta -> 0``;
* a *parameter path* from a point where the solution is known; a parameter
  whose two ends are reals of one sign moves on a log scale (a ridge from 1 to
  1e-15 takes as many steps per decade), the others linearly.
"""

from dataclasses import dataclass

import mpmath

from ..exceptions import ConvergenceError, DomainError, SingularPointError
from .compiled import as_float
from .newton import newton

__all__ = ["Steps", "coupling_path", "regularised_path", "parameter_path"]


@dataclass(frozen=True)
class Steps:
    """The step control of the continuation (keyword options of :func:`pencils.solve`).

    Parameters
    ----------
    iterations : int
        Newton iterations allowed per step (default 8); a step that needs
        more is retried shorter.
    jump : float
        The largest corrector move per step, relative to ``1 + |u_i|``,
        entry by entry (default 0.1): a jump to another branch of the
        equations shows as a large correction.
    min_step : float
        The smallest step, as a fraction of the path, before giving up
        (default 1e-6).
    decades : int
        The imaginary shift of the regularised path falls through this many
        decades to 0 (default 20).

    Examples
    --------
    >>> Steps(jump=0.05)
    Steps(iterations=8, jump=0.05, min_step=1e-06, decades=20)
    """

    iterations: int = 8
    jump: float = 0.1
    min_step: float = 1e-6
    decades: int = 20

    def __post_init__(self):
        if not (isinstance(self.iterations, int) and self.iterations >= 1):
            raise DomainError(f"step_iterations must be a positive integer, got {self.iterations!r}")
        if not 0 < self.jump:
            raise DomainError(f"step_jump must be positive, got {self.jump!r}")
        if not 0 < self.min_step < 1:
            raise DomainError(f"min_step must be in (0, 1), got {self.min_step!r}")
        if not (isinstance(self.decades, int) and self.decades >= 1):
            raise DomainError(f"decades must be a positive integer, got {self.decades!r}")


def _continue(step_solver, u0, steps, what, hint, first_step=0.25, first_guess=None, admissible=None):
    """Follow ``t`` from 0 to 1 with adaptive steps; ``step_solver(t, guess)`` -> (u, its).

    A step is accepted only if Newton converges in at most ``steps.iterations`` iterations and
    the corrector moves each entry of the predictor by at most ``steps.jump (1 + |u_i|)``: a jump to another
    branch of the equations shows as a large correction, and the step is retried shorter.
    ``admissible(t, u)``, when given, must hold at every accepted point (e.g. the sign of
    ``Im G`` in the Stieltjes domain, which tells two nearby roots apart).
    ``hint(t, u, t_prev, u_prev)`` says, in the error raised when steps fall below ``steps.min_step``,
    what the stall most likely means on this path (given the last two accepted points).
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
            # componentwise: a jump of an O(1) entry must show beside entries of size 1e15
            if its > steps.iterations or any(abs(a - b) > steps.jump * (1 + abs(x)) for a, b, x in zip(u_new, guess, u)):
                raise ConvergenceError("step rejected: the corrector moved too far")
            if admissible is not None and not admissible(t_new, u_new):
                raise ConvergenceError("step rejected: the solution left the admissible domain")
        except (ConvergenceError, SingularPointError) as exc:
            h /= 4
            if h < steps.min_step:
                raise ConvergenceError(
                    f"the {what} stalled at t = {t:.8g} of [0, 1] (Newton fails even with steps below "
                    f"{steps.min_step}): {hint(t, u, t_prev, u_prev)}",
                    point=exc.point, residual=exc.residual, iterate=u,
                ) from None
            continue
        total += its
        t_prev, u_prev, t, u = t, u, t_new, u_new
        if its <= 4:
            h *= 2
    return u, total


def _follow(compiled, family, u0, point, steps, what, hint, float64=True, goal=1e-12, **options):
    """Continuation along ``t -> family(t, exact) = (values, scale)`` from the solution ``u0`` at ``t = 0``.

    Followed in float64 (``exact=False``, Newton to relative residuals ``goal``) first; where
    float64 cannot hold the branch, or with ``float64=False``, at 20 digits with mpmath values
    (``exact=True``).
    """
    def step(t, guess, exact, convert, goal):
        values, scale = family(t, exact)
        u, _, its = newton(compiled, values, [convert(x) for x in guess], point, steps.iterations + 4, goal,
                           scale=scale)
        return u, its

    if float64:
        try:
            return _continue(lambda t, g: step(t, g, False, as_float, goal), [as_float(x) for x in u0], steps,
                             what, hint, **_converted(options, as_float))
        except (ConvergenceError, SingularPointError, ArithmeticError, ValueError):
            pass  # float64 cannot hold the branch: again at 20 digits
    with mpmath.workdps(20):
        precise_goal = mpmath.mpf(10) ** -14
        return _continue(lambda t, g: step(t, g, True, mpmath.mpmathify, precise_goal), u0, steps, what, hint,
                         **_converted(options, mpmath.mpmathify))


def _bend(t, detour):
    """``t + detour t (1 - t)``: the same ends, and a complex ``detour`` bends the path between them."""
    return t + detour * t * (1 - t)


def _converted(options, convert):
    if options.get("first_guess") is None:
        return options
    return {**options, "first_guess": [convert(x) for x in options["first_guess"]]}


def _size(u):
    return max((abs(x) for x in u), default=0)


def coupling_path(compiled, values, point, steps, detour=0, goal=1e-12):
    """From ``G = C^{-1}`` (no Gaussian terms) to the full system, at coefficient values ``values``.

    The Gaussian terms are scaled by ``s^2`` with ``s = _bend(t, detour)``: ``detour = 0``
    is the straight path; a complex ``detour`` gives a second, different path to the same end
    point (used as evidence that the end point does not depend on the path). ``goal`` is the
    relative residual of the float64 Newton steps along the way.
    """
    zero = [0] * len(compiled.unknowns)
    try:
        inverses = compiled.inverses(compiled.matrices(values, zero, 0), point, None)
    except SingularPointError:
        raise SingularPointError(
            "C (the pencil without its Gaussian terms) is singular here, so the coupling homotopy "
            "cannot start; pass start={...} with a point where C is invertible (e.g. a larger "
            "ridge or spectral parameter)",
            point=point,
        ) from None
    u0 = compiled.start(values, inverses)
    floats = [as_float(v) for v in values]

    def family(t, exact):
        s = _bend(t, detour)
        return (values if exact else floats), s * s

    def hint(t, u, *previous):
        return ("the coupled system is singular on the way (a branch point of the equations); "
                "pass start={...} to reach the point along a parameter path instead")

    return _follow(compiled, family, u0, point, steps, "coupling homotopy s: 0 -> 1", hint, goal=goal)


def regularised_path(compiled, values, point, steps, float64=True):
    """For a symmetric pencil: solve at ``C + i delta`` (Im part definite), then let ``delta -> 0``.

    With ``Im C`` semidefinite, adding ``i delta I`` (same sign) keeps the pencil in the Stieltjes
    domain along the whole path, where the physical solution is analytic and unique. At a real
    point the shift goes to 0 geometrically, ``delta(t) = delta_0 (1 - t) 10^(-D t)`` (``D = steps.decades``), so
    that a point at a distance far below 1 from the spectrum is resolved (``float64=False``
    follows it at 20 digits: beside a nearly double root, e.g. 1e-12 from an edge, float64
    residuals cannot tell the two roots apart). Where the path stalls, the last two accepted
    shifts tell what the point is: ``|G| ~ 1/delta`` at an atom (a pole of ``G``),
    ``Im G ~ delta^(1/2)`` at a spectral edge.
    """
    from .verification import stieltjes_sign

    sign = stieltjes_sign(compiled, values) or 1
    delta = sign * 1j * (1 + max((abs(v) for v in values[: len(compiled.constants)]), default=0))
    u0, total = coupling_path(compiled, compiled.shifted(values, delta), point, steps)
    floats = [as_float(v) for v in values]

    # at a complex point the solution at delta = 0 is analytic and away from the real axis: linear
    decades = steps.decades if all(mpmath.im(v) == 0 for v in values) else 0

    def shift(t):
        return (1 - t) * 10.0 ** (-decades * t)

    def hint(t, u, t_prev, u_prev):
        return _spectral_hint(shift(t), u, None if t_prev is None else shift(t_prev), u_prev, u0)

    diagonal = compiled.diagonal_unknowns

    def admissible(t, u):  # Im C = delta I >= 0 (sign +1) makes Im G <= 0, so Im g_ii <= 0, while t < 1
        # beside a double root a residual r holds G only to about sqrt(r): 1e-6 in float64, 1e-7 at 20 digits
        tolerance = (1e-5 if isinstance(u[0], complex | float) else 1e-6) * (1 + _size(u)) if u else 0
        return t >= 1 or all(sign * mpmath.im(u[n]) <= tolerance for n in diagonal)

    u, steps = _follow(compiled, lambda t, exact: (compiled.shifted(values if exact else floats, delta * shift(t)), 1),
                       u0, point, steps, "regularisation delta -> 0", hint, float64=float64,
                       admissible=admissible)
    return u, total + steps


def _exponent(small, large, d_small, d_large):
    """``a`` in ``small / large = (d_small / d_large)^a`` (None when undefined)."""
    if not (small > 0 and large > 0 and d_small > 0 and d_large > d_small):
        return None
    return float(mpmath.log(small / large) / mpmath.log(d_small / d_large))


def _spectral_hint(d, u, d_prev, u_prev, u0):
    """What a stall of ``delta -> 0`` at real parameters means, from the last two accepted shifts."""
    size = _size(u)
    imag = max((abs(mpmath.im(x)) for x in u), default=0)
    growth = twist = None
    if u_prev is not None:
        growth = _exponent(_size(u_prev), size, d, d_prev)  # |G| ~ delta^-growth
        twist = _exponent(imag, max((abs(mpmath.im(x)) for x in u_prev), default=0), d, d_prev)  # Im G ~ delta^twist
    where = f"(last shift {float(d):.2g} of the initial one, |G| = {float(size):.3g}, |Im G| = {float(imag):.3g})"
    if (growth is not None and growth > 0.6) or size > 1e6 * (1 + _size(u0)):
        return (f"the solution grows like 1/delta as the imaginary shift goes to 0 {where}: the point is an "
                "atom of the spectrum, a pole of G (e.g. z = 0 for a rank-deficient matrix, or a ridge so "
                "small that the ridgeless limit does not exist there); there is no finite value at this point")
    if twist is not None and 0.3 < twist < 0.7:
        return (f"the solution stays finite but its imaginary part vanishes like delta^(1/2) {where}: the point "
                "is a spectral edge (a square-root branch point), where G is finite but not analytic; the "
                "value there is the limit from outside the spectrum, reached by moving the point slightly out")
    return (f"as the imaginary shift goes to 0 the solution stops being analytic {where}. At real parameters "
            "this means the point is on the spectrum: inside it (no real solution; give the spectral "
            "parameter a small imaginary part), at a spectral edge (a square-root branch point), or at an "
            "atom of the spectrum (a pole, e.g. z = 0 for a rank-deficient matrix)")


def _interpolation(a, b):
    """``x(t)`` from ``a`` to ``b``: geometric between two reals of one sign, else linear.

    A ridge from 1 to 1e-15 then takes as many steps per decade, whether the
    parameter is declared positive or only real.
    """
    if a.imag == 0 and b.imag == 0 and a * b > 0 and a != b:  # .imag: Python and mpmath numbers alike
        ratio = b / a
        return lambda t: a * ratio ** t
    return lambda t: a + t * (b - a)


def parameter_path(compiled, start, point, u0, steps, detour=0, **options):
    """From the solution ``u0`` at ``start`` to ``point`` (dicts of parameter values, same keys).

    A parameter whose two ends are reals of one sign moves on a log scale, others linearly. A
    complex ``detour`` bends the path: the interpolation runs at ``_bend(t, detour)`` instead of
    ``t`` (a second, different path between the same two points).
    """
    a, b = list(start.values()), list(point.values())

    def bent(x):
        return (lambda t: x(_bend(t, detour))) if detour else x

    floats = [bent(_interpolation(as_float(x), as_float(y))) for x, y in zip(a, b)]
    moving = [name for name, x, y in zip(point, a, b) if x != y]
    exact = []  # the same in mpmath numbers, made when first needed (the 20-digit fallback, a hint)

    def exact_at(t):
        if not exact:
            exact.extend(bent(_interpolation(x, y)) for x, y in zip(a, b))
        return [x(t) for x in exact]

    def family(t, use_exact):
        if use_exact:
            return compiled.evaluate(*exact_at(t)), 1
        return compiled.evaluate_float(*[x(t) for x in floats]), 1

    def hint(t, u, *previous):
        where = ", ".join(f"{name} = {mpmath.nstr(x, 6)}" for name, x in zip(point, exact_at(t)) if name in moving)
        size = _size(u)
        if size > 1e6 * (1 + _size(u0)):
            return (f"the solution grows without bound along the path (|G| = {float(size):.3g} at {where}): the limit "
                    "does not exist at the end point (e.g. a ridgeless limit where it diverges)")
        return (f"the equations become singular at {where} (a branch point or a singular parameter value "
                "between the start and the point)")

    return _follow(compiled, family, u0, point, steps,
                   f"path in {', '.join(moving) or 'no parameter'} from the start point", hint, **options)
