"""Newton's method on the reduced system, with the analytic Jacobian.

``F(u) = u - P[M(u)^{-1}]`` with ``M = C - eta(G)`` space by space; the
Jacobian is ``J = I - P[M^{-1} (d eta / d g) M^{-1}]``.
"""

import flint
import mpmath
import numpy as np
from flint import acb, acb_mat, arb

from .. import linalg
from ..balls import mid_mpmath, to_ball
from ..exceptions import ConvergenceError, SingularPointError
from .compiled import as_float

__all__ = ["GUARD", "newton", "polish", "newton_iteration_count", "float_condition"]

GUARD = 10  # extra decimal digits carried internally


def newton_iteration_count(dps):
    """The iteration cap that Newton is allowed at a precision (quadratic convergence plus slack)."""
    return 12 + int(mpmath.log(dps + GUARD, 2))


_FLOATS = frozenset({float, complex, int})


def newton(compiled, values, u, point, max_iter, goal, scale=1):
    """Newton's method to residuals ``|F_i| <= goal * max(1, |u_i|)``; returns (u, residual, iterations).

    With Python floats (the float64 continuation) the iterations run on NumPy arrays
    (:class:`~pencils.solver.compiled.FloatForm`); otherwise on lists of the numbers given.
    """
    if {type(x) for x in values} | {type(x) for x in u} <= _FLOATS and type(scale) in _FLOATS:
        return _newton_float(compiled, values, u, point, max_iter, goal, scale)
    best = None
    norm = None
    u = list(u)
    for iteration in range(max_iter + 1):
        inverses = compiled.inverses(compiled.matrices(values, u, scale), point, u)
        F = compiled.residual(values, u, inverses)
        norm = max((abs(f) for f in F), default=0)
        if not mpmath.isfinite(norm):
            break
        # componentwise: with |G| ~ 1e15 beside O(1) entries (a tiny ridge) a norm-wise test would
        # leave the small entries, and so the branch, undetermined
        if all(abs(f) <= goal * max(1, abs(x)) for f, x in zip(F, u)):
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


def _newton_float(compiled, values, u, point, max_iter, goal, scale):
    """:func:`newton` in float64 on NumPy arrays, with the same tests; ``u`` is returned as a list."""
    form = compiled.floats
    prepared = form.prepare(values, scale, complex_entries=any(type(x) is complex for x in u))
    u = np.array(u, dtype=prepared["dtype"])
    best = norm = None
    with np.errstate(all="ignore"):
        for iteration in range(max_iter + 1):
            inverse = form.inverse(prepared, u)
            if inverse is None:
                raise SingularPointError("C - eta(G) is singular", point=point, iterate=u.tolist())
            F = form.residual(prepared, u, inverse)
            size = np.abs(F)
            norm = float(size.max(initial=0))
            if not np.isfinite(norm):
                break
            if np.all(size <= goal * np.maximum(1, np.abs(u))):
                return u.tolist(), norm, iteration
            if best is not None and norm > 1e3 * best and iteration > 3:
                break
            best = norm if best is None else min(best, norm)
            try:
                du = np.linalg.solve(form.jacobian(prepared, inverse), F)
            except np.linalg.LinAlgError:
                raise SingularPointError("singular Jacobian in Newton's method", point=point, residual=norm,
                                         iterate=u.tolist()) from None
            u = u - du
    raise ConvergenceError(
        f"Newton's method did not converge in {max_iter} iterations", point=point,
        residual=norm if norm is not None and np.isfinite(norm) else None, iterate=u.tolist(),
    )


def polish(compiled, values, u, point, dps, max_iter):
    """Newton at the working precision from an approximate solution (:func:`_newton_midpoints`).

    Returns ``(u, residual, iterations, targets, jacobian)`` (see :func:`_newton_midpoints`).

    Where Newton gets close (residual below ``1e-12``) but no further and the Jacobian there is
    nearly singular (condition number above ``1e6``), the root is (nearly) double: the error says
    so, and what that is at real parameters (a spectral edge).
    """
    goal = mpmath.mpf(10) ** (-(dps + GUARD // 2))
    try:
        return _newton_midpoints(compiled, values, [mpmath.mpmathify(x) for x in u], point, max_iter, goal)
    except ConvergenceError as exc:
        if exc.residual is None or not exc.residual < 1e-12 or _condition(compiled, values, exc.iterate, point) < 1e6:
            raise
        raise ConvergenceError(
            f"Newton's method converges only slowly here ({max_iter} iterations reach a residual of "
            f"{mpmath.nstr(exc.residual, 3)}, not {mpmath.nstr(goal, 3)}): the Jacobian is singular at the "
            "root, a double root of the equations. At real parameters this is a spectral edge (a "
            "square-root branch point, where G is finite but not analytic); move the point slightly "
            "outside the spectrum, or give it a small imaginary part",
            point=point, residual=exc.residual, iterate=exc.iterate,
        ) from None




def float_condition(compiled, values, u):
    """The condition number of the Jacobian at ``u`` in float64 (``inf`` where it cannot be evaluated)."""
    form = compiled.floats
    prepared = form.prepare([as_float(v) for v in values], 1,
                            complex_entries=any(mpmath.im(x) != 0 for x in u))
    with np.errstate(all="ignore"):
        x = np.array([as_float(v) for v in u], dtype=prepared["dtype"])
        inverse = form.inverse(prepared, x)
        if inverse is None:
            return np.inf
        try:
            condition = np.linalg.cond(form.jacobian(prepared, inverse))
        except np.linalg.LinAlgError:  # no SVD (non-finite entries)
            return np.inf
    return float(condition) if np.isfinite(condition) else np.inf


def _newton_midpoints(compiled, values, u, point, max_iter, goal):
    """:func:`newton` for mpmath numbers, computed with python-flint's arithmetic at ``mpmath.mp.prec`` bits.

    The coefficient values and the iterates are exact balls (radius 0: the mpmath numbers
    converted exactly); every iteration evaluates ``F`` and ``J`` in ball arithmetic (C code
    instead of mpmath's Python arithmetic, four times faster on the DSM systems), solves
    ``J du = F`` by flint's floating-point LU and keeps the midpoint of ``u - du``. The tests
    are those of :func:`newton`, on midpoints. Returns ``(u, residual, iterations, targets,
    jacobian)`` with ``u`` the mpmath numbers of the last iterate (exactly: its midpoints have at
    most ``mpmath.mp.prec`` bits), ``targets`` read from the inverses there (midpoints; nothing
    is inverted again for them) and the last Jacobian (at the iterate before; ``None`` if no step
    was taken), an approximate Jacobian at the root for the certificate.
    """
    with flint.ctx.workprec(mpmath.mp.prec):
        values = [to_ball(v) for v in values]
        u = [to_ball(x) for x in u]
        goal = to_ball(goal).real
        best = norm = jacobian = None
        for iteration in range(max_iter + 1):
            inverses = compiled.inverses(compiled.matrices(values, u), point, None)
            F = compiled.residual(values, u, inverses)
            sizes = [abs(f).mid() for f in F]
            norm = max(sizes, default=arb(0))
            if not norm.is_finite():
                break
            if all(size <= goal * max(1, abs(x).mid()) for size, x in zip(sizes, u)):
                targets = [mid_mpmath(t) for t in compiled.targets_of(values, inverses, zero=acb(0))]
                return [mid_mpmath(x) for x in u], mid_mpmath(norm), iteration, targets, jacobian
            if best is not None and norm > 1e3 * best and iteration > 3:
                break
            best = norm if best is None else min(best, norm)
            jacobian = acb_mat(compiled.jacobian(values, inverses))
            try:
                du = jacobian.solve(acb_mat([[f] for f in F]), algorithm="approx")
            except ZeroDivisionError:
                raise SingularPointError("singular Jacobian in Newton's method", point=point, residual=mid_mpmath(norm),
                                         iterate=[mid_mpmath(x) for x in u]) from None
            u = [(x - du[i, 0]).mid() for i, x in enumerate(u)]
    raise ConvergenceError(
        f"Newton's method did not converge in {max_iter} iterations", point=point,
        residual=mid_mpmath(norm) if norm is not None and norm.is_finite() else None,
        iterate=[mid_mpmath(x) for x in u],
    )


def _condition(compiled, values, u, point):
    """``max(1, |J|) / sigma_min(J)`` for the Jacobian ``J = I - ...`` at ``u`` (inf where singular)."""
    try:
        inverses = compiled.inverses(compiled.matrices(values, u), point, u)
        singular = mpmath.svd(mpmath.matrix(compiled.jacobian(values, inverses)), compute_uv=False)
    except (ZeroDivisionError, SingularPointError):
        return mpmath.inf
    smallest = min(singular)
    return mpmath.inf if smallest == 0 else max(1, max(singular)) / smallest
