"""Deterministic matrices given by a spectral law.

A :class:`SpectralLaw` is the joint spectral law of a family of mutually
commuting symmetric deterministic matrices on one space: finitely many atoms,
each a weight and one value per matrix (symbolic values and weights allowed),
or an empirical list of eigenvalues (equal weights). A
:class:`DeterministicMatrix` of the family is a non-commutative symbol (it does
not commute with the random matrices); functions of the family (``Sigma**(1/2)``,
``(Sigma + c)**-1``, ``Sigma * T``) are deterministic coefficients.

In a pencil, a deterministic matrix may appear only in the identity part
``C`` (``sqrt(Sigma)`` between two blocks of its space, ``z - Sigma`` on a
diagonal); a product with a random matrix is not linear (give the deterministic
factor its own block: :func:`pencils.linearize` does). Since the Gaussian
matrices are invariant under rotations, the Dyson equation of a space that
holds the family becomes an average over its spectral law,

    ``G = sum_k w_k (C(sigma_k) - eta(G))^{-1}``,

with ``sigma`` the *spectral variable* (a commutative symbol of the same name)
standing for the eigenvalue of each matrix in the coefficients; the cost is
linear in the number of atoms.

Examples
--------
Two eigenvalues, 4 with weight 0.3 and 1 with weight 0.7:

>>> from pencils import SpectralLaw
>>> H = SpectralLaw.atoms([("0.3", 4), ("0.7", 1)])
>>> H
SpectralLaw(2 atoms: Sigma; weights [3/10, 7/10])
>>> Sigma = H.matrix("Sigma", 1)
>>> Sigma.shape, Sigma.kind, Sigma.spectral
((1, 1), 'deterministic', Sigma)
>>> H.mean(Sigma.spectral ** 2)       # 0.3 * 16 + 0.7 * 1
11/2
"""

import sympy as sp

from .exceptions import PencilValidationError
from .matrices import MatrixSymbol
from .parsing import as_sympy

__all__ = ["SpectralLaw", "DensityLaw", "DeterministicMatrix", "spectral_variables", "EXPLICIT_ATOMS", "draw_family",
           "joint_eigenvectors", "apply"]

EXPLICIT_ATOMS = 8  # laws with more atoms are shown as an indexed sum in equations


class SpectralLaw:
    """The joint spectral law of commuting symmetric deterministic matrices: weighted atoms.

    Parameters
    ----------
    weights : sequence
        ``K`` non-negative weights summing to 1 (exact numbers or symbols).
    values : dict
        ``{matrix name: K eigenvalues}``: atom ``k`` gives each matrix of the
        family the eigenvalue ``values[name][k]`` on a ``weights[k]`` fraction of
        the space.

    Raises
    ------
    PencilValidationError
        No atom, lengths that differ, a negative weight, weights whose sum is
        not 1, a complex eigenvalue.
    """

    def __init__(self, weights, values):
        self.weights = tuple(as_sympy(w, where="weight of a spectral law") for w in weights)
        if not self.weights:
            raise PencilValidationError("a spectral law needs at least one atom")
        if not values:
            raise PencilValidationError("a spectral law needs the eigenvalues of at least one matrix")
        self.values = {}
        for name, column in values.items():
            column = tuple(as_sympy(v, where=f"eigenvalue of {name}") for v in column)
            if len(column) != len(self.weights):
                raise PencilValidationError(
                    f"{name} has {len(column)} eigenvalues for {len(self.weights)} weights")
            for v in column:
                if v.is_real is False:
                    raise PencilValidationError(f"{name} is symmetric: its eigenvalue {v} must be real")
            self.values[str(name)] = column
        for w in self.weights:
            if w.is_negative:
                raise PencilValidationError(f"a spectral law has the negative weight {w}")
        total = sp.nsimplify(sum(self.weights)) if all(w.is_number for w in self.weights) else sum(self.weights)
        if sp.simplify(total - 1) != 0:
            raise PencilValidationError(f"the weights of a spectral law sum to {total}, not 1")
        self._matrices = {}

    @classmethod
    def atoms(cls, pairs, name="Sigma"):
        """A law of one matrix from ``(weight, eigenvalue)`` pairs.

        >>> SpectralLaw.atoms([(1, 2)]).values
        {'Sigma': (2,)}
        """
        pairs = list(pairs)
        return cls([w for w, _ in pairs], {name: [v for _, v in pairs]})

    @classmethod
    def density(cls, density, interval, name="Sigma", dps=30, nodes=None, rule=None):
        """A law of one matrix with a density on an interval (see :class:`DensityLaw`).

        >>> H = SpectralLaw.density("1/2", (1, 3), dps=20)     # uniform on [1, 3]
        >>> H
        SpectralLaw(density 1/2 of Sigma on [1, 3]; 50 Gauss-Legendre nodes)
        >>> float(sum(H.weights))
        1.0
        """
        return DensityLaw(density, interval, name=name, dps=dps, nodes=nodes, rule=rule)

    @classmethod
    def eigenvalues(cls, values, name="Sigma"):
        """The empirical law of a list of eigenvalues (each of weight ``1/len(values)``).

        >>> SpectralLaw.eigenvalues([1, 2, "2.5"]).weights
        (1/3, 1/3, 1/3)
        """
        values = list(values)
        if not values:
            raise PencilValidationError("an empirical spectral law needs at least one eigenvalue")
        return cls([sp.Rational(1, len(values))] * len(values), {name: values})

    def __len__(self):
        return len(self.weights)

    def matrix(self, name, size):
        """The deterministic matrix ``name`` of the family, of size ``size * N`` (created once)."""
        if name not in self.values:
            raise PencilValidationError(f"the spectral law has no matrix {name} (it has {', '.join(self.values)})")
        if name not in self._matrices:
            self._matrices[name] = DeterministicMatrix(name, size, self)
        matrix = self._matrices[name]
        if sp.simplify(matrix.rows - as_sympy(size, where=f"size of {name}")) != 0:
            raise PencilValidationError(f"{name} was created with size {matrix.rows}, not {size}")
        return matrix

    def substitutions(self):
        """Per atom, ``{spectral variable: eigenvalue}`` for every matrix of the family."""
        variables = {name: sp.Symbol(name, real=True) for name in self.values}
        return [{variables[name]: column[k] for name, column in self.values.items()} for k in range(len(self))]

    def mean(self, expr):
        """``sum_k w_k expr(sigma_k)`` for an expression in the spectral variables."""
        expr = sp.sympify(expr)
        return sp.expand(sum((w * expr.subs(s) for w, s in zip(self.weights, self.substitutions())), sp.Integer(0)))

    def average(self, expr):
        """The average of ``expr`` over the law, as shown in equations.

        An explicit sum over the atoms for at most :data:`EXPLICIT_ATOMS` atoms;
        beyond, ``Sum(w[k] * expr(Sigma[k]), (k, 1, K))`` (the atoms as indexed symbols).

        >>> import sympy as sp
        >>> H = SpectralLaw.atoms([("0.3", 4), ("0.7", 1)])
        >>> H.average(1 / (sp.Symbol("z") - sp.Symbol("Sigma", real=True)))
        7/(10*(z - 1)) + 3/(10*(z - 4))
        """
        expr = sp.sympify(expr)
        if len(self) <= EXPLICIT_ATOMS:
            return sum((w * expr.subs(s) for w, s in zip(self.weights, self.substitutions())), sp.Integer(0))
        k = sp.Symbol("k", integer=True, positive=True)
        indexed = {sp.Symbol(name, real=True): sp.IndexedBase(name)[k] for name in self.values}
        return sp.Sum(sp.IndexedBase("w")[k] * expr.xreplace(indexed), (k, 1, len(self)))

    def key(self):
        """A hashable description (equal laws have equal keys)."""
        return (self.weights, tuple(sorted(self.values.items())))

    def __eq__(self, other):
        return isinstance(other, SpectralLaw) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):
        weights = ", ".join(map(str, self.weights[:4])) + (", ..." if len(self) > 4 else "")
        return f"SpectralLaw({len(self)} atoms: {', '.join(self.values)}; weights [{weights}])"


class DensityLaw(SpectralLaw):
    """The spectral law of one matrix with a density ``h`` on ``[a, b]``, as Gauss quadrature atoms.

    Numerically the law is a Gauss rule (:mod:`pencils.quadrature`): its nodes
    are atoms, so the Dyson system, the solver and the derivatives work as for
    finitely many atoms. In equations the average is an integral,
    ``Integral(f(Sigma) h(Sigma), (Sigma, a, b))``. The certificate of a solve
    bounds the quadrature error rigorously where the integrand is analytic near
    ``[a, b]`` and adds it to the Krawczyk test; where it cannot, the solution is
    reported uncertified (``"uncertified: quadrature error not bounded"``).

    Parameters
    ----------
    density : str, sympy.Expr or number
        ``h`` as an expression in the spectral variable, which is named after
        the matrix (``name``). Text is read by the whitelist parser of
        :mod:`pencils.parsing` (never evaluated), with ``name`` declared:
        ``"sqrt((3 - Sigma)*(Sigma - 1))*2/pi"``. A SymPy expression uses
        ``sympy.Symbol(name, real=True)``. No other symbol is allowed: the
        nodes are numbers.
    interval : (a, b)
        Real numbers ``a < b`` (exact: ``"0.5"`` is one half).
    name : str, optional
        The matrix (and spectral variable), default ``"Sigma"``.
    dps : int, optional
        The precision the rule is built for (default 30): the number of nodes
        when ``nodes`` is not given (:func:`pencils.quadrature.node_count`: 67
        at 30 digits, 100 at 50), and the rounding of the Gauss nodes and
        weights (``dps + 20`` digits). Solving at a higher precision than
        ``dps`` gives fewer certified digits than asked.
    nodes : int, optional
        The number of nodes (default: automatic from ``dps``).
    rule : {"legendre", "chebyshev"}, optional
        Gauss–Legendre, or Gauss–Jacobi with weight ``sqrt((b - x)(x - a))``
        (Chebyshev of the second kind) for a density with square-root edges,
        ``h = g sqrt((b - x)(x - a))`` with ``g`` finite and non-zero at both
        ends. Default: ``"chebyshev"`` when such a ``g`` is found (symbolically,
        checked numerically), else ``"legendre"``.

    Raises
    ------
    PencilValidationError
        A bad interval, another symbol in the density, a density that is
        complex, negative or not finite inside the interval (a pole: not
        integrable), whose integral is not 1 (checked by tanh-sinh quadrature
        at ``dps + 10`` digits, to ``dps`` digits; the density is not
        normalised for you: the message gives its integral), or a
        ``"chebyshev"`` rule for a density without square-root edges.

    Examples
    --------
    The semicircle law on ``[-2, 2]`` has square-root edges:

    >>> H = SpectralLaw.density("sqrt(4 - D**2)/(2*pi)", ("-2", 2), name="D", nodes=10)
    >>> H.rule, H.analytic_part
    ('chebyshev', 1/(2*pi))
    >>> import sympy as sp
    >>> H.average(1 / (sp.Symbol("z") - sp.Symbol("D", real=True)))
    Integral(sqrt(4 - D**2)/(2*pi*(-D + z)), (D, -2, 2))
    >>> print(f"{float(H.mean(sp.Symbol('D', real=True) ** 2)):.6f}")     # the variance
    1.000000
    """

    def __init__(self, density, interval, name="Sigma", dps=30, nodes=None, rule=None):
        from .quadrature import RULE_DIGITS, RULES, gauss_rule, node_count

        self.name = str(name)
        variable = sp.Symbol(self.name, real=True)
        where = f"density of {self.name}"
        if isinstance(density, str):
            from .parsing import CONSTANTS, parse_expression

            density = parse_expression(density, {**CONSTANTS, self.name: variable}, where=where)
        self.expression = h = as_sympy(density, where=where)
        other = h.free_symbols - {variable}
        if other:
            raise PencilValidationError(
                f"the {where} may depend on {self.name} only, not on {', '.join(sorted(map(str, other)))} "
                "(its quadrature nodes are numbers)")
        try:
            a, b = interval
        except (TypeError, ValueError):
            raise PencilValidationError(f"the interval of the {where} must be a pair (a, b), got {interval!r}") from None
        a, b = (as_sympy(x, where=f"interval of the {where}") for x in (a, b))
        if not all(x.is_number and x.is_real and x.is_finite for x in (a, b)) or not a < b:
            raise PencilValidationError(f"the interval of the {where} must be [a, b] with real numbers a < b, "
                                        f"got [{a}, {b}]")
        self.interval = (a, b)
        self.dps = int(dps)
        self.center, self.half_length = (a + b) / 2, (b - a) / 2
        self._check(h, variable)
        self.rule, self.analytic_part = _rule(h, variable, a, b, rule, where)
        count = node_count(self.dps) if nodes is None else int(nodes)
        if count < 1 or count != nodes and nodes is not None:
            raise PencilValidationError(f"the number of nodes must be a positive integer, got {nodes!r}")
        self.nodes, self.rule_weights = gauss_rule(self.rule, count, self.dps + RULE_DIGITS)
        scale = self.half_length ** RULES[self.rule]
        atoms = [self.center + self.half_length * t for t in self.nodes]
        self.weights = tuple(scale * nu * self.analytic_part.subs(variable, x) for nu, x in zip(self.rule_weights, atoms))
        self.values = {self.name: tuple(atoms)}
        self._matrices = {}

    def _check(self, h, variable):
        """Real, finite, non-negative inside the interval, and of integral 1."""
        import mpmath

        a, b = self.interval
        f = sp.lambdify(variable, h, modules="mpmath")
        denominator = sp.denom(sp.together(h))
        roots = sp.Poly(denominator, variable).sqf_part().nroots(n=30, maxsteps=200) \
            if denominator.is_polynomial(variable) else []
        poles = [r for r in roots if abs(sp.im(r)) < 1e-20 and a < sp.re(r) < b]
        if poles:
            raise PencilValidationError(f"the density of {self.name} has a pole at {sp.re(poles[0]):.15g} inside "
                                        "its interval: not integrable")
        with mpmath.workdps(self.dps + 10):
            lo, hi = mpmath.mpf(sp.Float(a, self.dps + 10)), mpmath.mpf(sp.Float(b, self.dps + 10))
            for k in range(1, 256):
                x = lo + (hi - lo) * k / 256
                try:
                    y = mpmath.mpmathify(f(x))
                except (ZeroDivisionError, ValueError):
                    y = mpmath.inf
                if not mpmath.isfinite(y):
                    raise PencilValidationError(f"the density of {self.name} is not finite at {mpmath.nstr(x, 10)} "
                                                "inside its interval: not integrable")
                if mpmath.im(y) != 0:
                    raise PencilValidationError(f"the density of {self.name} is not real at {mpmath.nstr(x, 10)}")
                if y < 0:
                    raise PencilValidationError(f"the density of {self.name} is negative at {mpmath.nstr(x, 10)}")
            total, error = mpmath.quad(lambda x: mpmath.re(f(x)), [lo, hi], error=True)
            if not mpmath.isfinite(total) or error > mpmath.mpf(10) ** (-self.dps):
                raise PencilValidationError(f"the density of {self.name} is not integrable on [{a}, {b}] "
                                            f"(quadrature error estimate {mpmath.nstr(error, 3)})")
            if abs(total - 1) > mpmath.mpf(10) ** (-self.dps):
                raise PencilValidationError(f"the density of {self.name} integrates to {mpmath.nstr(total, 15)} "
                                            f"on [{a}, {b}], not 1: divide it by its integral")

    def mean(self, expr):
        """``int expr(sigma) h(sigma) d sigma`` (SymPy's ``integrate``; unevaluated if it finds no closed form)."""
        variable = sp.Symbol(self.name, real=True)
        return sp.integrate(sp.sympify(expr) * self.expression, (variable, *self.interval))

    def average(self, expr):
        """The average of ``expr`` over the law as shown in equations: ``Integral(expr h, (sigma, a, b))``."""
        variable = sp.Symbol(self.name, real=True)
        return sp.Integral(sp.sympify(expr) * self.expression, (variable, *self.interval))

    def quantiles(self, n):
        """``n`` eigenvalues at the quantiles ``(i - 1/2)/n`` of the law (float64, increasing).

        The distribution function is the cumulative trapezoid rule of the density on
        ``2^14 + 1`` points clustered at the edges (``x = c - l cos theta``), inverted
        by linear interpolation: accurate to about ``1e-7``, far below Monte Carlo noise.

        >>> [round(float(x), 6) for x in SpectralLaw.density("1/2", (1, 3), nodes=4).quantiles(4)]
        [1.25, 1.75, 2.25, 2.75]
        """
        import numpy as np

        theta = np.linspace(np.pi, 0, 2 ** 14 + 1)
        x = float(self.center) + float(self.half_length) * np.cos(theta)
        f = sp.lambdify(sp.Symbol(self.name, real=True), self.expression, modules="numpy")
        y = np.broadcast_to(np.real(np.asarray(f(x[1:-1]), dtype=complex)), (len(x) - 2,))
        y = np.concatenate([[0.0], np.nan_to_num(y), [0.0]])   # the edges: endpoint values do not matter here
        cdf = np.concatenate([[0.0], np.cumsum((y[1:] + y[:-1]) / 2 * np.diff(x))])
        return np.interp((np.arange(n) + 0.5) / n * cdf[-1], cdf, x)

    def key(self):
        """A hashable description (equal laws have equal keys)."""
        return ("density", self.name, self.expression, self.interval, self.rule, len(self.nodes), self.dps)

    def __repr__(self):
        rule = {"legendre": "Gauss-Legendre", "chebyshev": "Gauss-Chebyshev (second kind)"}[self.rule]
        a, b = self.interval
        return f"SpectralLaw(density {self.expression} of {self.name} on [{a}, {b}]; {len(self.nodes)} {rule} nodes)"


def _rule(h, variable, a, b, rule, where):
    """``(rule, g)``: ``"chebyshev"`` with ``g = h / sqrt((b - x)(x - a))`` where that is analytic, else ``h``."""
    import mpmath

    if rule not in (None, "legendre", "chebyshev"):
        raise PencilValidationError(f"rule must be 'legendre' or 'chebyshev', got {rule!r}")
    if rule == "legendre":
        return rule, h
    omega = sp.sqrt((b - variable) * (variable - a))
    square = sp.factor(sp.cancel(sp.expand(h ** 2) / sp.expand((b - variable) * (variable - a))))
    sign = {"positive": True} if a >= 0 else {"negative": True} if b <= 0 else {}
    dummy = sp.Dummy("x", **sign)
    g = sp.powdenest(sp.sqrt(square.subs(variable, dummy)), force=bool(sign)).subs(dummy, variable)
    found = not g.has(sp.Abs) and all(
        (e := g.subs(variable, x)).is_finite and e.is_nonzero and e.is_positive is not False for x in (a, b))
    if found:
        with mpmath.workdps(30):
            gf, hf, wf = (sp.lambdify(variable, e, modules="mpmath") for e in (g, h, omega))
            for k in range(1, 8):
                x = mpmath.mpf(sp.Float(a, 30)) + (mpmath.mpf(sp.Float(b, 30)) - mpmath.mpf(sp.Float(a, 30))) * k / 8
                if not abs(gf(x) * wf(x) - hf(x)) <= mpmath.mpf(10) ** -20 * (1 + abs(hf(x))):
                    found = False
    if found:
        return "chebyshev", g
    if rule == "chebyshev":
        raise PencilValidationError(f"the {where} is not sqrt(({b} - x)*(x - {a})) times a function finite and "
                                    "non-zero at both ends: use rule='legendre'")
    return "legendre", h


class DeterministicMatrix(MatrixSymbol):
    """A symmetric deterministic matrix of a :class:`SpectralLaw` (create it with :meth:`SpectralLaw.matrix`)."""

    kind = "deterministic"

    def __new__(cls, name, size, law):
        obj = sp.Symbol.__xnew__(cls, name, commutative=False)
        obj.rows = obj.cols = as_sympy(size, where=f"size of {name}")
        if obj.rows.is_positive is not True:
            raise PencilValidationError(f"size of {name} must be a positive ratio, got {obj.rows}")
        obj.law = law
        obj.variance = sp.Integer(0)
        return obj

    def __getnewargs_ex__(self):
        return ((self.name, self.rows, self.law), {})

    def _hashable_content(self):
        return super()._hashable_content() + (self.kind, self.rows, self.law.key())

    @property
    def T(self):
        """A symmetric matrix is its own transpose."""
        return self

    @property
    def spectral(self):
        """The commutative symbol standing for its eigenvalue in the coefficients of a pencil."""
        return sp.Symbol(self.name, real=True)

    def declaration(self):
        """A dictionary describing the matrix, as written in pencil files."""
        return {"kind": self.kind, "size": str(self.rows)}


def spectral_variables(expr):
    """``(coefficient, matrices)``: ``expr`` with its deterministic matrices replaced by spectral variables.

    ``coefficient`` is ``None`` when ``expr`` holds anything non-commutative
    besides deterministic matrices (a random matrix).

    >>> H = SpectralLaw.atoms([(1, 2)])
    >>> S = H.matrix("Sigma", 1)
    >>> spectral_variables(3 * S ** sp.Rational(1, 2))
    (3*sqrt(Sigma), (Sigma,))
    """
    expr = sp.sympify(expr)
    matrices = tuple(sorted(expr.atoms(DeterministicMatrix), key=str))
    replaced = expr.xreplace({m: m.spectral for m in matrices})
    if not replaced.is_commutative:
        return None, matrices
    return replaced, matrices


def draw_family(law, n, values, rng=None):
    """Matrices of a law's family at dimension ``n``: ``{name: n x n array}``.

    Atom ``k`` gets ``round(w_k n)`` eigenvalues (the rounding corrected on the
    largest atoms so that they add up to ``n``); a law with a density gets its
    ``n`` quantiles ``(i - 1/2)/n`` (:meth:`DensityLaw.quantiles`). ``values``
    gives numbers for the symbols of the law. With ``rng`` the family is
    diagonal in a Haar-random orthogonal basis, else diagonal.
    """
    import numpy as np

    def number(x):
        return float(sp.sympify(x).subs({sp.Symbol(k, **_assumptions(x, k)): v for k, v in values.items()}))

    if isinstance(law, DensityLaw):
        diagonals = {law.name: law.quantiles(n)}
    else:
        weights = np.array([number(w) for w in law.weights])
        counts = np.floor(weights * n + 0.5).astype(int)
        order = np.argsort(-weights)
        i = 0
        while counts.sum() != n:
            counts[order[i % len(order)]] += 1 if counts.sum() < n else -1 if counts[order[i % len(order)]] > 0 else 0
            i += 1
        diagonals = {name: np.repeat([number(v) for v in column], counts) for name, column in law.values.items()}
    basis = None
    if rng is not None:
        q, r = np.linalg.qr(rng.standard_normal((n, n)))
        basis = q * np.sign(np.diag(r))
    return {name: np.diag(d) if basis is None else (basis * d) @ basis.T for name, d in diagonals.items()}


def _assumptions(expr, name):
    found = [s for s in sp.sympify(expr).free_symbols if s.name == name]
    return found[0].assumptions0 if found else {}


def joint_eigenvectors(matrices):
    """An orthogonal basis diagonalising commuting symmetric matrices, and their eigenvalues in it.

    Eigenvectors of a generic combination separate the joint eigenspaces
    (a single matrix with repeated eigenvalues would not diagonalise the others).
    """
    import numpy as np

    rng = np.random.default_rng(12345)
    combination = sum(rng.uniform(1, 2) * m for m in matrices.values())
    _, vectors = np.linalg.eigh(combination)
    return vectors, {name: np.einsum("ij,ik,kj->j", vectors, m, vectors) for name, m in matrices.items()}


def apply(coefficient, eigen, values):
    """The matrix ``f(D_1, ...)`` of a coefficient in spectral variables.

    ``eigen`` is :func:`joint_eigenvectors` of the family (computed once for all
    the coefficients of a draw); ``values`` gives the other symbols (parameters) numbers.
    """
    import numpy as np

    vectors, eigenvalues = eigen
    names = sorted(eigenvalues)
    symbols = [sp.Symbol(name, real=True) for name in names]
    other = {s: values[s.name] for s in coefficient.free_symbols if s.name in values and s.name not in eigenvalues}
    f = sp.lambdify(symbols, sp.sympify(coefficient).subs(other), modules="numpy")
    diagonal = np.broadcast_to(np.asarray(f(*(eigenvalues[name] for name in names)), dtype=complex),
                               (len(vectors),))
    if np.all(diagonal.imag == 0):
        diagonal = diagonal.real
    return (vectors * diagonal) @ vectors.T
