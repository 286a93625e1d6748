"""Certificates: a proof, in ball arithmetic, that the reported numbers are right.

Given the polished solution ``u~`` of ``F(u) = u - P[(C - eta(u))^{-1}] = 0``,
the **Krawczyk test** proves that ``F`` has exactly one root in a box ``U``
around ``u~``: with ``Y`` an approximate inverse of the Jacobian at ``u~``,

    K(U) = u~ - Y F(u~) + (I - Y J(U)) (U - u~),

evaluated in ball arithmetic (python-flint's acb) with the coefficients of the
system enclosed in balls at the exact parameter values (or at the balls the
user gave, e.g. certified constants). If ``K(U)`` lies in the interior of
``U`` the root exists, is unique in ``U`` and lies in ``K(U)`` (Krawczyk 1969,
Moore 1977; ``F`` is holomorphic, so the test holds in complex boxes). Every
reported quantity is then enclosed from ``K(U)``:

* targets, as entries of ``(C - eta(K))^{-1}`` (an exact 0 for a structural zero);
* Taylor coefficients in a parameter, by the implicit-differentiation recursion
  with ball linear solves ``J(K) u_k = r_k`` (enclosing every ``J`` in the ball);
* for a symmetric pencil, the Stieltjes sign conditions: ``Im G`` definite of the
  sign opposite to ``Im C`` on the whole ball at a complex point (leading
  principal minors), and ``Im dG/de`` negative definite for ``C -> C + i e I``
  at a real point.

What is *not* proven: that the unique root in ``U`` is the physical branch
when the pencil is not symmetric (no Stieltjes condition characterises it).
That rests on the continuation from a point where the answer is known; as
evidence, a second, different path is followed to the same point and must
land in the box (``checks`` then says ``"two paths agree"``).

A test that does not close is not an error: the certificate says
``certified=False`` with the reason, and the numbers are reported as
uncertified.

A system with a law given by a density (:class:`~pencils.deterministic.DensityLaw`)
is solved with a Gauss rule; the root proven is that of the *integral* system:
the quadrature error of the readouts and of their derivatives, bounded on the
box (:class:`~pencils.quadrature.QuadratureError`), widens ``F(u~)``, ``J(U)`` and
the targets. Where no bound is found the certificate says
``"uncertified: quadrature error not bounded (...)"``. The Stieltjes statements,
checked at the nodes only, are not made for such systems, nor are Taylor
coefficients certified.
"""

from dataclasses import dataclass, field

import flint
from flint import acb, acb_mat, arb

from ..balls import bits_for, certified_digits, precision, to_ball
from ..exceptions import CertificationError

__all__ = ["Certificate", "certify", "certify_taylor", "INFLATIONS"]

INFLATIONS = (10, 1e4, 1e8)  # box radii tried, in multiples of |Y F(u~)|
EXTRA_DIGITS = 20  # the balls carry dps + GUARD + EXTRA_DIGITS digits: an ill-conditioned Jacobian
#                    (condition 1e7 at DSM points) costs digits of every ball linear solve
REFINEMENTS = 2  # at most this many Newton steps in ball arithmetic tighten the midpoint before the test


@dataclass
class Certificate:
    """The outcome of a certification.

    Attributes
    ----------
    certified : bool
        Whether the Krawczyk test closed.
    reason : str
        Why not, when it did not (empty otherwise).
    unknowns : list of acb
        Enclosures of the unknowns (the box ``K(U)``).
    targets : dict
        ``{(i, j): acb}``, enclosures of the targets (exact 0 for structural zeros).
    radius : float
        Largest radius of the box ``U`` in which the root is unique (one radius per unknown).
    proven : tuple of str
        What the certificate proves.
    bits : int
        Binary precision of the ball arithmetic.
    coefficients : list of acb
        The coefficients of the system in balls at the point (for the Taylor series).
    inverses : list
        Enclosures of ``(C - eta(G))^{-1}`` on the box ``K(U)``, space by space.
    """

    certified: bool
    reason: str = ""
    unknowns: list = field(default_factory=list)
    targets: dict = field(default_factory=dict)
    radius: float = 0.0
    proven: tuple = ()
    bits: int = 0
    coefficients: list = field(default=None, repr=False)
    inverses: list = field(default=None, repr=False)

    def digits(self, entry, cap=None):
        """Certified significant digits of a target (``cap`` for an exact value, 0 if uncertified)."""
        if not self.certified:
            return 0
        return certified_digits(self.targets[tuple(entry)], cap)


def _box(u, radii):
    return [acb(arb(x.real.mid(), r), arb(x.imag.mid(), r)) for x, r in zip(u, radii)]


def _newton_step(compiled, values, u_mid, point, Y=None):
    """``(inverses at u~, Y, Y F(u~))`` with ``Y`` the midpoint inverse of the Jacobian at ``u~``
    (unless given), or a reason."""
    try:
        inv_mid = compiled.inverses(compiled.matrices(values, u_mid), point, None)
    except Exception:  # a ball matrix that may be singular
        return "C - eta(G) is not provably invertible at the solution"
    F = acb_mat([[f] for f in compiled.residual(values, u_mid, inv_mid)])
    if Y is None:
        Y = _approximate_inverse(compiled.jacobian(values, inv_mid))
        if Y is None:
            return "the Jacobian is singular at the solution (the root is not simple)"
    return inv_mid, Y, Y * F


def _approximate_inverse(J):
    """The inverse of the midpoint of ``J`` (a list of lists or an acb_mat), as exact balls; None if singular.

    By flint's floating-point LU (no error bounds: any Y is valid in the test, and bounds cost twice).
    """
    J = acb_mat(J).mid()
    n = J.nrows()
    try:
        return J.solve(acb_mat([[1 if i == j else 0 for j in range(n)] for i in range(n)]), algorithm="approx").mid()
    except ZeroDivisionError:
        return None


def _refine(compiled, values, u_mid, point, Y=None):
    """Up to ``REFINEMENTS`` Newton steps from ``u_mid`` (with ``Y`` when given, else the Jacobian's
    inverse at each midpoint), until the correction is lost in its own rounding error (its ball
    contains 0: another step moves nothing). Returns ``(u_mid, step, converged)``."""
    n = len(u_mid)
    step = _newton_step(compiled, values, u_mid, point, Y)
    for refinement in range(REFINEMENTS + 1):
        if isinstance(step, str):
            return u_mid, step, False
        if all(step[2][i, 0].contains(0) for i in range(n)):
            return u_mid, step, True
        if refinement == REFINEMENTS:
            return u_mid, step, False
        u_mid = [(u_mid[i] - step[2][i, 0]).mid() for i in range(n)]
        step = _newton_step(compiled, values, u_mid, point, Y)


def _krawczyk(compiled, values, u_mid, point, inflations, quadrature=None, jacobian=None):
    """The Krawczyk test around ``u_mid`` (exact balls); returns ``(K, radius)`` or ``(None, reason)``.

    ``Y`` in the test may be any matrix; a good approximate inverse of the Jacobian at the root
    makes it close. With ``jacobian`` (an approximation of the Jacobian at ``u_mid``, e.g. the last
    one of the polish) ``Y`` is its midpoint inverse, kept through the refinements as long as they
    converge; otherwise, or if they do not, ``Y`` is the midpoint inverse of the Jacobian at each
    refined midpoint.

    The box has one radius per unknown, a multiple of the Newton correction ``|Y F(u~)|_i`` or of
    the rounding level ``eps |u~_i|``, whichever is larger: unknowns of very different sizes
    (``|G| ~ 1/lam`` beside ``O(lam)`` entries at a small ridge) each get a box of their own scale.
    ``quadrature``: ``(residual, jacobian, box)``, bounds of the quadrature error of ``F`` and of
    ``J`` valid on ``box``; they widen ``F(u~)`` and ``J(U)``, and ``U`` must lie in ``box``.
    """
    n = len(u_mid)
    if n == 0:
        return [], 0.0
    eps = arb(2) ** (20 - flint.ctx.prec)
    # Newton steps at the precision of the balls: a tighter midpoint, a smaller box
    Y = None if jacobian is None else _approximate_inverse(jacobian)
    converged = False
    if Y is not None:
        u_mid, step, converged = _refine(compiled, values, u_mid, point, Y)
    if not converged:
        u_mid, step, _ = _refine(compiled, values, u_mid, point)
    if isinstance(step, str):
        return None, step
    _, Y, YF = step
    if quadrature is not None:
        residual, jacobian, wide = quadrature
        YF = YF + Y * acb_mat([[acb(arb(0, e), arb(0, e))] for e in residual])
    sizes = [abs(x).upper() for x in u_mid]
    smallest = min((x for x in sizes if x > 0), default=arb(1))
    base = [max(abs(YF[i, 0]).upper(), (sizes[i] if sizes[i] > 0 else smallest) * eps) for i in range(n)]
    identity = acb_mat([[1 if i == j else 0 for j in range(n)] for i in range(n)])
    u_col = acb_mat([[x] for x in u_mid])
    reason = "the Krawczyk test did not close"
    for factor in inflations:
        radii = [arb((b * factor).upper()) for b in base]
        U = _box(u_mid, radii)
        if quadrature is not None and not all(w.contains(x) for w, x in zip(wide, U)):
            reason = "uncertified: the quadrature error is too large for the working precision (more nodes needed)"
            break
        try:
            inv_U = compiled.inverses(compiled.matrices(values, U), point, None)
        except Exception:
            reason = ("C - eta(G) is not provably invertible on the box: the solution is too ill-conditioned "
                      "or the parameters given as balls are too wide")
            break
        JU = acb_mat(compiled.jacobian(values, inv_U))
        if quadrature is not None:
            JU = JU + acb_mat([[acb(arb(0, e), arb(0, e)) for e in row] for row in jacobian])
        K = u_col - YF + (identity - Y * JU) * (acb_mat([[x] for x in U]) - u_col)
        K = [K[i, 0] for i in range(n)]
        if all(b.contains_interior(k) for b, k in zip(U, K)):
            return K, float(max(radii))
        reason = (f"the Krawczyk test did not close (box radii up to {float(max(radii)):.2e}): the system is "
                  "ill-conditioned at this point or the coefficients are not known precisely enough")
    return None, reason


def certify(compiled, exact_point, u, point, dps, bits=None, jacobian=None):
    """Certify the solution ``u`` (mpmath numbers) of a compiled system at ``exact_point``.

    Parameters
    ----------
    compiled : CompiledSystem
    exact_point : dict
        Parameter values as exact numbers or balls (what the user gave).
    u : list
        The polished solution.
    point : dict
        The same point in mpmath numbers (for messages).
    dps : int
        The working precision; the ball arithmetic runs at ``dps + GUARD + EXTRA_DIGITS`` digits,
        after ``REFINEMENTS`` Newton steps that bring the midpoint to that precision.
    jacobian : acb_mat, optional
        An approximation of the Jacobian at ``u`` (the polish's last): its midpoint inverse is the
        ``Y`` of the test, which saves evaluating the Jacobian at the midpoints (see :func:`_krawczyk`).

    Returns
    -------
    Certificate
    """
    from .newton import GUARD

    bits = bits or bits_for(dps + GUARD + EXTRA_DIGITS)
    with precision(bits=bits):
        try:
            arguments = [to_ball(v) for v in exact_point.values()]
            values = compiled.ball_coefficients()(*arguments)
        except CertificationError as exc:
            return Certificate(False, str(exc), bits=bits)
        if not all(v.is_finite() for v in values):
            return Certificate(False, "a coefficient is not finite in ball arithmetic", bits=bits)
        u_mid = [to_ball(x).mid() for x in u]
        quadrature = _quadrature(compiled, arguments, u_mid, dps)
        if isinstance(quadrature, str):
            return Certificate(False, quadrature, bits=bits)
        K, info = _krawczyk(compiled, values, u_mid, point, INFLATIONS, quadrature and quadrature[:3], jacobian)
        if K is None:
            return Certificate(False, info, bits=bits)
        try:
            inverses = compiled.inverses(compiled.matrices(values, K), point, None)
        except Exception:
            return Certificate(False, "C - eta(G) is not provably invertible on the certified box", bits=bits)
        targets = compiled.targets_of(values, inverses, zero=acb(0))
        if quadrature is None:
            proven = ["unique root of the reduced system in the box (Krawczyk)"]
            proven += _stieltjes(compiled, values, K, inverses, point)
        else:
            targets = [t + acb(arb(0, e), arb(0, e)) if e else t for t, e in zip(targets, quadrature[3])]
            proven = ["unique root of the integral system in the box (Krawczyk, quadrature error bounded on a "
                      "Bernstein ellipse)"]
        targets = dict(zip(compiled.system.targets, targets))
        return Certificate(True, "", K, targets, info, tuple(proven), bits, values, inverses)


def _quadrature(compiled, arguments, u_mid, dps):
    """Quadrature error bounds ``(residual, jacobian, box, targets)`` on a box around ``u_mid``, ``None``
    without density laws, or the reason why none was found (:class:`~pencils.quadrature.QuadratureError`).

    The box has radii ``10^(-dps/2) max(1, |u~_i|)``: far wider than the Krawczyk boxes, which must lie in it.
    """
    if compiled.quadrature_error is None:
        return None
    radius = arb(10) ** (-(dps // 2))
    wide = _box(u_mid, [(radius * max(arb(1), abs(x))).upper() for x in u_mid])
    bound = compiled.quadrature_error(arguments, wide)
    if isinstance(bound, str):
        return bound
    residual, jacobian, targets = bound
    return residual, jacobian, wide, targets


def _positive_definite(H):
    """Whether a Hermitian ball matrix is provably positive definite (leading principal minors)."""
    n = len(H)
    for k in range(1, n + 1):
        minor = acb_mat([row[:k] for row in H[:k]]).det() if k > 1 else H[0][0]
        if not minor.real > 0:
            return False
    return True


def _imaginary_part(A):
    n = len(A)
    return [[(A[r][c] - A[c][r].conjugate()) / acb(0, 2) for c in range(n)] for r in range(n)]


def _stieltjes(compiled, values, K, inverses, point):
    """The Stieltjes sign conditions proven on the ball (symmetric pencils), as statements."""
    if not compiled.symmetric:
        return []
    nc = len(compiled.constants)
    if any(not v.imag == 0 for v in values[nc:]):
        return []
    if all(v.imag == 0 for v in values):  # a real point (real balls: Im C is exactly 0)
        direction = compiled.shifted([acb(0)] * len(values), acb(0, 1))
        try:
            ((_, series_inverses),) = compiled.series(values, [[direction]], K, point)
        except Exception:
            return []
        if all(_positive_definite([[-x for x in row] for row in _imaginary_part(inv)]) for inv in series_inverses[1]):
            return ["Stieltjes response Im dG/de < 0 for C -> C + i e I (real point)"]
        return []
    imaginary_C = [_imaginary_part(C) for C in compiled.constant(values)]
    signs = set()
    for H in imaginary_C:
        mids = [x.real.mid() for row in H for x in row]
        signs |= {1 for x in mids if x > 0} | {-1 for x in mids if x < 0}
    if len(signs) != 1:
        return []
    sign = signs.pop()
    if all(_positive_definite([[-sign * x for x in row] for row in _imaginary_part(inv)]) for inv in inverses):
        return ["Stieltjes sign: Im G definite, opposite to Im C, on the whole box"]
    return []


def certify_taylor(compiled, exact_point, certificate, names, order, point):
    """Ball enclosures of the Taylor coefficients of unknowns and targets in parameters ``names``.

    The recursion starts from the certificate's box ``K``, with its coefficients and inverses.
    Returns ``{name: {(i, j): [c_0, ..., c_order]}}`` of acb balls. For a system with a law given by
    a density the quadrature error of derivatives is not bounded: the coefficients of order 1 and
    more are returned as unbounded balls (no digit certified), those of order 0 from the certificate.
    """
    if compiled.quadrature_error is not None:
        unbounded = acb(arb(0, float("inf")), arb(0, float("inf")))
        zeroth = dict(zip(compiled.system.unknowns, certificate.unknowns)) | certificate.targets
        return {name: {entry: [value] + [unbounded] * order for entry, value in zeroth.items()} for name in names}
    with precision(bits=certificate.bits):
        arguments = [to_ball(v) for v in exact_point.values()]
        values = certificate.coefficients
        directions = [[compiled.ball_coefficients((name, k))(*arguments) for k in range(1, order + 1)]
                      for name in names]
        results = {}
        series = compiled.series(values, directions, certificate.unknowns, point, inverses=certificate.inverses)
        for name, (us, invs) in zip(names, series):
            result = {entry: [us[k][n] for k in range(order + 1)]
                      for n, entry in enumerate(compiled.system.unknowns)}
            by_order = [compiled.targets_of(values, invs[k], zero=acb(0)) for k in range(order + 1)]
            for n, entry in enumerate(compiled.system.targets):
                result[entry] = [by_order[k][n] for k in range(order + 1)]
            results[name] = result
        return results
