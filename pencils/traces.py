"""Limits of normalised traces of rational expressions in random matrices.

:func:`trace` linearises an expression (:mod:`pencils.linearization`),
generates the Dyson system of the block that equals it, solves it on the
physical branch and certifies it:

    ``tau = lim (1/N_r) E tr expr``,  ``N_r`` the number of rows of ``expr``.

A product that holds one inverse twice, ``U A^{-1} B A^{-1} V``, is also
``d/d eps [U (A - eps B)^{-1} V]`` at ``eps = 0``: a smaller pencil and one
implicit derivative (certified as a ball by the Taylor recursion of
:meth:`~pencils.solver.Solution.taylor`). ``method="auto"`` linearises both
forms and solves the one with fewer blocks; the result says which was used.

Examples
--------
The ridge identity ``tr R X X^T = N - lam tr R`` with ``R = (X X^T + lam)^{-1}``;
at ``lam = 1, psi = 2``, ``(1/N) tr R -> sqrt(2) - 1``:

>>> import mpmath, sympy as sp
>>> from pencils import GaussianMatrix, ratio, trace
>>> lam, psi = sp.Symbol("lam", positive=True), ratio("psi")
>>> X = GaussianMatrix("X", 1, psi)
>>> R = (X * X.T + lam) ** -1
>>> t = trace(R * X * X.T, {"lam": 1, "psi": 2}, dps=40)
>>> print(mpmath.nstr(t.value, 35))
0.58578643762690495119831127579030192
>>> with mpmath.workdps(40):
...     print(mpmath.nstr(2 - mpmath.sqrt(2), 35))
0.58578643762690495119831127579030192
>>> t.certified_digits >= 40, t.method
(True, 'pencil')

``tr R^2 = -d/dlam tr R`` is solved as a derivative of the 2-block ridge pencil:

>>> t = trace(R * R, {"lam": 1, "psi": 2})
>>> t.method, t.linearization.blocks
('derivative', 2)
>>> print(mpmath.nstr(t.value, 25))        # (sqrt(2) - 1) / 2
0.2071067811865475244008444
"""

import mpmath
import sympy as sp

from .dyson import DysonSystem
from .exceptions import DomainError, LinearizationError
from .linearization import _same, expression_of, linearize, shape_of
from .matrices import RandomMatrix
from .balls import certified_digits
from .solver import GUARD, solve

__all__ = ["trace", "Trace", "derivative_form"]

METHODS = ("auto", "pencil", "derivative")


def derivative_form(expr, epsilon):
    """``(c, F)`` with ``expr = c * dF/d epsilon`` at ``epsilon = 0`` and ``F`` free of a repeated inverse.

    For ``expr = c U A^{-1} B A^{-1} V`` (the first inverse that occurs twice
    among the factors of a product, ``A^{-2}`` counting twice) ``F`` is
    ``U (A - epsilon B)^{-1} V``; ``None`` when no inverse repeats.

    Examples
    --------
    >>> import sympy as sp
    >>> from pencils import GaussianMatrix
    >>> X, e = GaussianMatrix("X", 1, 1), sp.Symbol("e")
    >>> derivative_form(2 * (1 + X * X.T) ** -2, e)
    (2, (-e + 1 + X*X.T)**(-1))
    """
    expr = sp.sympify(expr)
    if isinstance(expr, sp.Mul):
        coefficient, factors = expr.args_cnc()
    else:
        coefficient, factors = [], [expr]
    flat = []
    for f in factors:
        if isinstance(f, sp.Pow) and f.exp.is_Integer and f.exp < -1:
            flat += [sp.Pow(f.base, -1)] * int(-f.exp)
        else:
            flat.append(f)
    for i, f in enumerate(flat):
        if isinstance(f, sp.Pow) and f.exp == -1 and not f.is_commutative and f in flat[i + 1:]:
            j = flat.index(f, i + 1)
            middle = sp.Mul(*flat[i + 1:j]) if j > i + 1 else sp.Integer(1)
            inner = sp.Pow(f.base - epsilon * middle, -1)
            return sp.Mul(*coefficient), sp.Mul(*flat[:i]) * inner * sp.Mul(*flat[j + 1:])
    return None


class Trace:
    """The limit of a normalised trace, how it was computed, and its certificate.

    Attributes
    ----------
    expression : sympy.Expr
    value : mpmath.mpf or mpmath.mpc
        ``lim (1/N_r) E tr expression``.
    enclosure : flint.acb or None
        A ball proven to contain it (``None`` if not certified).
    method : {"pencil", "derivative"}
    linearization : Linearization
        The pencil solved (for ``"derivative"``, the pencil of ``F(eps)``).
    solution : Solution
    description : str
        One sentence: which pencil, which block, which derivative.
    dps : int
    """

    def __init__(self, expression, value, enclosure, method, linearization, solution, description, dps, at, options):
        self.expression, self.value, self.enclosure = expression, value, enclosure
        self.method, self.linearization, self.solution = method, linearization, solution
        self.description, self.dps = description, dps
        self._at, self._options, self._pencil_solution = at, options, None

    @property
    def certified(self):
        """Whether the value has a proven enclosure."""
        return self.enclosure is not None

    @property
    def certified_digits(self):
        """Significant digits the enclosure proves (0 if uncertified)."""
        return 0 if self.enclosure is None else certified_digits(self.enclosure, self.dps)

    def derivative(self, wrt, order=1):
        """The ``order``-th derivative of the trace in a parameter (implicit differentiation).

        A trace computed as a derivative in ``eps`` is solved once more in its
        pencil form for this (mixed derivatives are not formed).
        """
        solution = self.solution
        if self.method == "derivative":
            if self._pencil_solution is None:
                linearization = linearize(self.expression)
                system = DysonSystem(linearization.pencil, target=linearization.block)
                self._pencil_solution = solve(system, self._at, dps=self.dps, **self._options)
            solution = self._pencil_solution
        return solution.derivative(wrt, order)

    def _repr_latex_(self):
        """``tau = value`` with its certified digits and the method, in a notebook."""
        digits = self.certified_digits
        value = mpmath.nstr(self.value, max(digits, 1) if self.certified else 15)
        value = value.replace("j", "\\mathrm{i}").replace("(", "").replace(")", "")
        status = f"{digits} digits certified" if self.certified else "uncertified"
        return (f"$$\\lim_{{N\\to\\infty}} \\tfrac{{1}}{{N_r}}\\operatorname{{E}}\\operatorname{{tr}}"
                f"\\Big({sp.latex(self.expression)}\\Big) = {value}\\quad\\text{{({status}; {self.method})}}$$")

    def __repr__(self):
        status = (f"certified to {self.certified_digits} digits" if self.certified
                  else f"uncertified: {self.solution.uncertified_reason}")
        return f"Trace({mpmath.nstr(self.value, 15)}; {status}; {self.description})"


def _epsilon(expr):
    names = {str(s) for s in expr.free_symbols} | {
        str(s) for m in expr.atoms(RandomMatrix) for s in (m.rows.free_symbols | m.cols.free_symbols |
                                                         m.variance.free_symbols)}
    name = "epsilon"
    while name in names:
        name += "_"
    return sp.Symbol(name)


def trace(expr, at, *, dps=30, method="auto", matrices=(), parameters=(), certify=True, **options):
    """``lim (1/N_r) E tr expr`` of a rational expression, solved and certified.

    Parameters
    ----------
    expr : sympy.Expr or str
        A square matrix expression (see :func:`~pencils.linearize`); a string
        is parsed with the names of ``matrices`` and ``parameters``.
    at : dict
        Values of the parameters and ratios (read exactly, see :func:`~pencils.solve`).
    dps : int, optional
        Decimal digits (default 30).
    method : {"auto", "pencil", "derivative"}, optional
        ``"pencil"``: the block of one pencil; ``"derivative"``: a repeated
        inverse as a derivative of a smaller pencil (see the module
        docstring); ``"auto"`` (default): the smaller of the two.
    matrices, parameters : sequences, optional
        Declarations for a string ``expr``.
    certify : bool, optional
        Prove an enclosure (default True).
    **options
        Passed to :func:`~pencils.solve` (``tol``, ``max_iter``, ``method`` is
        not among them: use ``solve_method``).

    Returns
    -------
    Trace

    Raises
    ------
    LinearizationError
        A non-square or non-rational expression.
    DomainError
        ``method="derivative"`` for an expression without a repeated inverse,
        or a bad parameter value.
    SolverError
        As :func:`~pencils.solve`.
    """
    if method not in METHODS:
        raise DomainError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if "solve_method" in options:
        options["method"] = options.pop("solve_method")
    expression = expression_of(expr, matrices, parameters)
    shape = shape_of(expression)
    if shape is None or not _same(*shape):
        what = "a scalar" if shape is None else f"a {shape[0]} x {shape[1]} matrix"
        raise LinearizationError(f"{expression} is {what}: a trace needs a square matrix expression")
    direct = linearize(expression) if method in ("auto", "pencil") else None
    choice = None
    if method in ("auto", "derivative"):
        epsilon = _epsilon(expression)
        form = derivative_form(expression, epsilon)
        if form is None and method == "derivative":
            raise DomainError(f"{expression} holds no inverse twice: there is no derivative form")
        if form is not None:
            smaller = linearize(form[0] * form[1])
            if direct is None or smaller.blocks < direct.blocks:
                choice = (smaller, epsilon)
    if choice is None:
        system = DysonSystem(direct.pencil, target=direct.block)
        solution = solve(system, at, dps=dps, certify=certify, **options)
        value = solution.value
        enclosure = solution.enclosure() if solution.certified else None
        description = (f"block {direct.block} of the inverse of a {direct.blocks}-block pencil "
                       f"({direct.raw_blocks} before reduction)")
        return Trace(expression, value, enclosure, "pencil", direct, solution, description, dps, at, options)
    smaller, epsilon = choice
    system = DysonSystem(smaller.pencil, target=smaller.block)
    point = dict(at)
    point[str(epsilon)] = 0
    solution = solve(system, point, dps=dps, certify=certify, **options)
    enclosure = None
    if solution.certified:
        enclosure = solution.taylor(str(epsilon), order=1, balls=True)[system.targets[0]][1]
    with mpmath.workdps(dps + GUARD):
        value = solution.taylor(str(epsilon), order=1)[system.targets[0]][1]
    description = (f"d/d{epsilon} at {epsilon} = 0 of block {smaller.block} of the inverse of a "
                   f"{smaller.blocks}-block pencil"
                   + (f" (the direct pencil has {direct.blocks} blocks)" if direct is not None else ""))
    return Trace(expression, value, enclosure, "derivative", smaller, solution, description, dps, at, options)
