"""Newton's method on the reduced system, with the analytic Jacobian.

``F(u) = u - P[M(u)^{-1}]`` with ``M = C - eta(G)`` space by space; the
Jacobian is ``J = I - P[M^{-1} (d eta / d g) M^{-1}]``.
"""

import mpmath

from .. import linalg
from ..exceptions import ConvergenceError, SingularPointError

__all__ = ["GUARD", "newton", "polish", "newton_iteration_count"]

GUARD = 10  # extra decimal digits carried internally


def newton_iteration_count(dps):
    """The iteration cap that Newton is allowed at a precision (quadratic convergence plus slack)."""
    return 12 + int(mpmath.log(dps + GUARD, 2))


def newton(compiled, values, u, point, max_iter, goal, scale=1):
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


def polish(compiled, values, u, point, dps, max_iter):
    """Newton at the working precision from an approximate solution."""
    goal = mpmath.mpf(10) ** (-(dps + GUARD // 2))
    return newton(compiled, values, [mpmath.mpmathify(x) for x in u], point, max_iter, goal)


