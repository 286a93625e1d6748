"""Gauss quadrature of spectral densities, and a rigorous bound on its error.

A spectral law with a density ``h`` on ``[a, b]`` (:meth:`pencils.SpectralLaw.density`)
enters the Dyson system as a Gauss rule: its nodes are atoms, so every numerical
step works unchanged. With ``c = (a + b)/2``, ``l = (b - a)/2`` and
``sigma = c + l t``, the density is written ``h = g * omega`` with ``g``
analytic on ``[a, b]`` and ``omega`` the weight of the rule:

* ``"legendre"``: ``omega = 1``, Gauss–Legendre nodes and weights;
* ``"chebyshev"``: ``omega = sqrt((b - sigma)(sigma - a)) = l sqrt(1 - t^2)``
  (square-root edges, as for the semicircle and Marchenko–Pastur laws),
  Gauss–Jacobi with ``alpha = beta = 1/2`` (Chebyshev of the second kind:
  ``t_k = cos(k pi/(n+1))``, ``lambda_k = pi/(n+1) sin^2(k pi/(n+1))``).

The rule's nodes ``t_k`` and weights ``nu_k`` are exact rationals (the Gauss
values rounded at ``dps +`` :data:`RULE_DIGITS` digits), and the atoms of the law
are ``sigma_k = c + l t_k`` with weights ``l^p nu_k g(sigma_k)`` (``p = 1`` for
Legendre, 2 for Chebyshev), exact SymPy numbers. So ``sum_k w_k f(sigma_k) =
sum_k nu_k F(t_k)`` exactly, with ``F = l^p g f`` and ``int f dH = int F omega dt``.

**The error bound.** If ``F`` is analytic in the open Bernstein ellipse
``E_rho`` (foci ``-1, 1``, semi-axes summing to ``rho``) and ``|F| <= M`` there,
its Chebyshev coefficients satisfy ``|a_0| <= M``, ``|a_k| <= 2 M rho^-k``
(Trefethen, *Approximation Theory and Approximation Practice*, Thm 8.1), so the
Chebyshev truncation ``p`` of degree ``2n - 1`` is within
``2 M rho^(-2n) / (rho - 1)`` of ``F`` on ``[-1, 1]`` (Thm 8.2). Then::

    |int F omega - sum nu_k F(t_k)|
        <= |int (F - p) omega| + |sum nu_k (F - p)(t_k)| + |int p omega - sum nu_k p(t_k)|
        <= (mu_0 + sum |nu_k|) 2 M rho^(-2n) / (rho - 1) + M (rho + 1)/(rho - 1) epsilon,

with ``mu_0 = int omega`` and ``epsilon = max_{j < 2n} |int T_j omega - sum nu_k T_j(t_k)|``,
the *defect* of the rounded rule (zero for the exact Gauss rule, which
integrates degree ``2n - 1`` exactly), computed in ball arithmetic. This is the
argument of Trefethen's Thm 19.3 for a rule with positive weights, extended to
the rounded rule.

For the Dyson map, ``f`` is an entry of ``K(sigma, u)^{-1}`` (a reduced block)
or its derivative in an unknown; :class:`QuadratureError` covers ``E_rho`` (in
``t``) with complex boxes, evaluates ``F`` on each box and every ``u`` of a box
``U`` in ball arithmetic — the coefficients with flint's *analytic* flag, the
inverse proven to exist — so that finite results prove ``F`` analytic on the
ellipse and bound ``M``. The best bound over a list of ``rho`` is kept entry by
entry. The certificate (:mod:`pencils.solver.certificate`) adds these bounds to
the residual and the Jacobian of the Krawczyk test and to the targets.
"""

import math

import flint
from flint import acb, acb_mat, arb, fmpq
import sympy as sp

from .balls import ball_function, to_ball
from .exceptions import CertificationError

__all__ = ["RULES", "node_count", "gauss_rule", "rule_defect", "QuadratureError"]

RULES = {"legendre": 1, "chebyshev": 2}  # rule -> the power of the half-length l in the weights
ASSUMED_RHO = 2      # node_count assumes an integrand analytic in the Bernstein ellipse of this rho
RULE_DIGITS = 20     # nodes and weights are rounded at dps + RULE_DIGITS digits
RHOS = (1.02, 1.05, 1.1, 1.2, 1.35, 1.5, 1.75, 2, 2.5, 3, 4, 6, 8, 12, 16)  # ellipses tried, growing
COVER = 12           # boxes across the major axis of an ellipse
BISECTIONS = 3       # between the largest ellipse found analytic and the first that is not
SPLITS = 2           # a box on which F cannot be bounded is split in four, at most this many times


def node_count(dps):
    """The number of Gauss nodes for ``dps`` digits: ``ceil((dps + 10) ln 10 / (2 ln 2))``.

    Enough when the integrand is analytic in the Bernstein ellipse ``rho = 2``
    (the error decays like ``rho^(-2n)``); the certificate bounds the actual error.

    >>> node_count(30), node_count(50)
    (67, 100)
    """
    return math.ceil((int(dps) + 10) * math.log(10) / (2 * math.log(ASSUMED_RHO)))


def gauss_rule(rule, n, digits):
    """``(nodes, weights)`` of an ``n``-point Gauss rule on ``[-1, 1]``, exact rationals rounded at ``digits``.

    ``rule`` is ``"legendre"`` (weight 1) or ``"chebyshev"`` (weight ``sqrt(1 - t^2)``).

    >>> nodes, weights = gauss_rule("legendre", 2, 30)
    >>> [float(t) for t in nodes], [float(w) for w in weights]
    ([0.5773502691896257, -0.5773502691896257], [1.0, 1.0])
    >>> sum(gauss_rule("chebyshev", 5, 30)[1]).evalf(20)          # int sqrt(1 - t^2) = pi/2
    1.5707963267948966192
    """
    nodes, weights = [], []
    with flint.ctx.workprec(int(digits * 3.33) + 16):
        for k in range(n):
            if rule == "legendre":
                t, w = arb.legendre_p_root(n, k, weight=True)
            else:
                theta = arb.pi() * (k + 1) / (n + 1)
                t, w = theta.cos(), arb.pi() / (n + 1) * theta.sin() ** 2
            nodes.append(_rational(t))
            weights.append(_rational(w))
    return nodes, weights


def _rational(x):
    """The midpoint of a ball as an exact SymPy rational."""
    man, exp = x.mid().man_exp()
    return sp.Integer(int(man)) * sp.Integer(2) ** int(exp)


def _moment(rule, j):
    """``int_{-1}^{1} T_j(t) omega(t) dt`` as a ball."""
    if rule == "legendre":
        return arb(0) if j % 2 else arb(2) / (1 - j * j)
    return arb.pi() / 2 if j == 0 else -arb.pi() / 4 if j == 2 else arb(0)


def rule_defect(rule, nodes, weights):
    """``(mu_0 + sum |nu_k|, epsilon)`` of a rounded rule, as upper bounds (see the module docstring).

    >>> import flint
    >>> with flint.ctx.workprec(200):
    ...     total, defect = rule_defect("legendre", *gauss_rule("legendre", 10, 40))
    >>> float(total), float(defect) < 1e-40
    (4.0, True)
    """
    with flint.ctx.workprec(flint.ctx.prec + 2 * len(nodes) + 64):   # the recurrence doubles radii per degree
        t = [arb(fmpq(int(x.p), int(x.q))) for x in nodes]
        nu = [arb(fmpq(int(w.p), int(w.q))) for w in weights]
        total = _moment(rule, 0) + sum((abs(w) for w in nu), arb(0))
        previous, current = [arb(1)] * len(t), list(t)      # T_0, T_1 at the nodes
        defect = abs(_moment(rule, 0) - sum(nu, arb(0))).upper()
        for j in range(1, 2 * len(t)):
            defect = max(defect, abs(_moment(rule, j) - sum((w * x for w, x in zip(nu, current)), arb(0))).upper())
            previous, current = current, [2 * x * c - p for x, c, p in zip(t, current, previous)]
        return total.upper(), defect


class QuadratureError:
    """Bounds on the quadrature error of a compiled Dyson system with density laws.

    Built from the reduction before the atoms are expanded (its blocks with a
    density law, their constants as functions of the spectral variable). Call
    it with the parameter values (balls) and a box ``U`` of unknowns: it returns
    ``(residual, jacobian, targets)``, upper bounds (arb) of the error of every
    unknown's readout, of its derivative in every unknown, and of every target's
    readout, for all ``u`` in ``U``; or a string saying why no bound was found.
    """

    def __init__(self, compiled):
        from .deterministic import DensityLaw

        reduction = compiled.system.reduction
        self.symbols = list(compiled.symbols)
        self.blocks = {}
        for n, law in reduction.laws.items():
            if not isinstance(law, DensityLaw):
                continue
            variable = sp.Symbol(law.name, real=True)
            constants = [(r, c, v) for m, r, c, v in reduction.constants if m == n]
            terms = [(r, c, u, v) for m, r, c, u, v in reduction.terms if m == n]
            try:
                functions = (ball_function(self.symbols + [variable], [v for *_, v in constants], analytic=True),
                             ball_function(self.symbols, [v for *_, v in terms]),
                             ball_function([variable], [law.analytic_part], analytic=True))
            except CertificationError as exc:
                functions = str(exc)
            self.blocks[n] = (law, constants, terms, functions)
        self.count = len(compiled.unknowns)
        self.readouts = [[(w, n, r, c) for w, n, r, c in reduction.readouts[e] if n in self.blocks]
                         for e in reduction.unknowns + tuple(tuple(t) for t in reduction.targets)]
        self.weights = ball_function(self.symbols, [w for readout in self.readouts for w, *_ in readout])

    def __call__(self, arguments, U):
        entries = {}   # (n, r, c) -> error bound, (n, r, c, k) -> bound of the error of d/du_k
        for n, (law, constants, terms, functions) in self.blocks.items():
            if isinstance(functions, str):
                return f"uncertified: quadrature error not bounded ({functions})"
            wanted = {(r, c) for readout in self.readouts for _, m, r, c in readout if m == n}
            bound = _block_bound(law, constants, terms, functions, arguments, U, wanted, self.count)
            if isinstance(bound, str):
                return bound
            entries.update({(n,) + key: value for key, value in bound.items()})
        weights = iter(abs(w).upper() for w in self.weights(*arguments))
        errors = []
        for readout in self.readouts:
            value, derivative = arb(0), [arb(0)] * self.count
            for _, n, r, c in readout:
                w = next(weights)
                value += w * entries[(n, r, c)]
                derivative = [d + w * entries[(n, r, c, k)] for k, d in enumerate(derivative)]
            errors.append((value.upper(), [d.upper() for d in derivative]))
        unknowns, targets = errors[:self.count], errors[self.count:]
        return [e for e, _ in unknowns], [d for _, d in unknowns], [e for e, _ in targets]


def _block_bound(law, constants, terms, functions, arguments, U, wanted, count):
    """``{(r, c): bound, (r, c, k): bound}`` for one block with a density law, the best over :data:`RHOS`."""
    constant_function, term_function, g_function = functions
    coefficients = term_function(*arguments)
    total, defect = rule_defect(law.rule, law.nodes, law.rule_weights)
    center, half = to_ball(law.center), to_ball(law.half_length)
    scale = half ** RULES[law.rule]
    size = 1 + max(max(r, c) for r, c, _ in constants)
    n = len(law.nodes)
    eta = [[acb(0)] * size for _ in range(size)]
    for (r, c, u, _), v in zip(terms, coefficients):
        eta[r][c] += v * U[u]

    def evaluate(box):
        """``{key: |F| on the box}`` (upper bounds), or None when F is not provably analytic there."""
        sigma = center + half * box
        values = constant_function(*arguments, sigma)
        (g,) = g_function(sigma)
        K = [[-x for x in row] for row in eta]
        for (r, c, _), v in zip(constants, values):
            K[r][c] += v
        if not (g.is_finite() and all(v.is_finite() for v in values)):
            return None
        try:
            inverse = acb_mat(K).inv().tolist()
        except ZeroDivisionError:
            return None
        factor = scale * g
        result = {}
        for r, c in wanted:
            result[(r, c)] = factor * inverse[r][c]
            for k in range(count):
                result[(r, c, k)] = factor * sum(
                    (inverse[r][rr] * v * inverse[cc][c] for (rr, cc, u, _), v in zip(terms, coefficients) if u == k),
                    acb(0))
        if not all(x.is_finite() for x in result.values()):
            return None
        return {key: abs(x).upper() for key, x in result.items()}

    best, reason = None, "uncertified: quadrature error not bounded (the integrand is not analytic near the interval)"
    target = arb(2) ** (-flint.ctx.prec)

    def improve(rho):
        """Whether ``F`` is bounded on ``E_rho``; if so the bounds of that ellipse improve ``best``."""
        nonlocal best
        M = _cover(evaluate, rho)
        if M is None:
            return False
        r = arb(rho)
        factor = (2 * total * r ** (-2 * n) + (r + 1) * defect) / (r - 1)
        bound = {key: (m * factor).upper() for key, m in M.items()}
        best = bound if best is None else {key: min(best[key], bound[key]) for key in best}
        return True

    below = None
    for rho in RHOS:
        if not improve(rho):     # the ellipses are nested: a larger one holds the same singularity;
            if below is not None:    # bisect (in log rho) between the last ellipse that worked and this one
                for _ in range(BISECTIONS):
                    middle = math.sqrt(below * rho)
                    below, rho = (middle, rho) if improve(middle) else (below, middle)
            break
        below = rho
        if all(x < target for x in best.values()):
            break
    return reason if best is None else best


def _cover(evaluate, rho):
    """``max |F|`` over boxes covering the filled Bernstein ellipse ``E_rho``, or None.

    The geometry is in floats with a relative margin of ``1e-9`` (the boxes are
    exact balls with float midpoints and radii): the union of the boxes kept
    contains the ellipse.
    """
    A, B = (rho + 1 / rho) / 2 * (1 + 1e-9), (rho - 1 / rho) / 2 * (1 + 1e-9)
    nx = COVER
    ny = max(2, math.ceil(COVER * B / A))
    hx, hy = A / nx, B / ny
    result = {}
    for i in range(nx):
        for j in range(ny):
            found = _evaluate_box(evaluate, (-A + (2 * i + 1) * hx, -B + (2 * j + 1) * hy, hx, hy), A, B, SPLITS)
            if found is None:
                return None
            for key, value in found.items():
                result[key] = max(result.get(key, value), value)
    return result


def _evaluate_box(evaluate, box, A, B, splits):
    """``evaluate`` on a box meeting the ellipse (``{}`` if it does not), splitting it where it fails."""
    x, y, hx, hy = box
    nearest_x, nearest_y = max(0.0, abs(x) - hx), max(0.0, abs(y) - hy)
    if (nearest_x / A) ** 2 + (nearest_y / B) ** 2 > 1 + 1e-9:
        return {}
    found = evaluate(acb(arb(x, hx * (1 + 1e-12)), arb(y, hy * (1 + 1e-12))))
    if found is not None or splits == 0:
        return found
    result = {}
    for dx in (-1, 1):
        for dy in (-1, 1):
            part = _evaluate_box(evaluate, (x + dx * hx / 2, y + dy * hy / 2, hx / 2, hy / 2), A, B, splits - 1)
            if part is None:
                return None
            for key, value in part.items():
                result[key] = max(result.get(key, value), value)
    return result
