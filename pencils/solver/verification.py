"""Verification of a polished solution: residual, finiteness, reality, Stieltjes conditions.

These checks run in floating point at the working precision; the proof that a
root exists, is unique near the reported values and has the reported digits is
the certificate (:mod:`pencils.solver.certificate`).
"""

import mpmath

from ..exceptions import AdmissibilityError, ConvergenceError

__all__ = ["verify", "stieltjes_sign", "imaginary_part_eigenvalues"]


def verify(compiled, values, u, point, dps, tol, residual=None):
    """Check a polished solution ``u``; return ``(u, residual, checks)`` or raise.

    ``residual``, when known, is ``max |F(u)|`` (computed here otherwise). At a real point the
    ``u`` returned drops the imaginary parts (a new list only where one is not 0). Raises
    :class:`~pencils.exceptions.ConvergenceError` for a residual above ``tol max(1, |u|)`` or a
    non-finite value and :class:`~pencils.exceptions.AdmissibilityError` for a solution that
    cannot be a Stieltjes transform (complex at a real point; wrong sign of ``Im G``).
    """
    inverses = None
    if residual is None:
        inverses = compiled.inverses(compiled.matrices(values, u), point, u)
        residual = max((abs(f) for f in compiled.residual(values, u, inverses)), default=mpmath.mpf(0))
    checks = []
    size = max([mpmath.mpf(1)] + [abs(x) for x in u])
    if not residual <= tol * size:
        scaled = "" if size == 1 else f" x max|G| = {mpmath.nstr(size, 3)}"
        raise ConvergenceError(f"residual above the tolerance {mpmath.nstr(tol, 3)}{scaled}", point, residual, u)
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
        if any(mpmath.im(x) != 0 for x in u):
            u = [mpmath.re(x) for x in u]
        if compiled.symmetric and _stieltjes_response(compiled, values, u, point, small):
            checks.append("stieltjes")
    elif compiled.symmetric and (sign := stieltjes_sign(compiled, values)):
        if inverses is None:
            inverses = compiled.inverses(compiled.matrices(values, u), point, u)
        for inv in inverses:
            if any(sign * e > small for e in imaginary_part_eigenvalues(inv)):
                raise AdmissibilityError(
                    "Im G has the wrong sign for a Stieltjes transform (Im C and Im G must be "
                    "semidefinite of opposite signs): not the physical branch",
                    point, residual, u,
                )
        checks.append("stieltjes")
    return u, residual, tuple(checks)


def imaginary_part_eigenvalues(A):
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
        if any(e > small for e in imaginary_part_eigenvalues(inv)):
            raise AdmissibilityError(
                "the solution does not respond to C -> C + i e I as a Stieltjes transform "
                "(Im dG/de must be <= 0): a non-physical branch of the real equations",
                point, None, u,
            )
    return True


def stieltjes_sign(compiled, values):
    """+1 if Im C >= 0 (then Im G <= 0), -1 if Im C <= 0, 0 if neither or Gaussian terms are complex."""
    nc = len(compiled.constants)
    if any(mpmath.im(v) != 0 for v in values[nc:]):
        return 0
    signs = set()
    for C in compiled.constant(values):
        eigenvalues = imaginary_part_eigenvalues(C)
        if any(e > 0 for e in eigenvalues):
            signs.add(1)
        if any(e < 0 for e in eigenvalues):
            signs.add(-1)
    return signs.pop() if len(signs) == 1 else 0
