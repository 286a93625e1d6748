"""The :class:`Solution` of a Dyson system at one point: values, certificate, derivatives."""

import mpmath
from ..balls import certified_digits
from ..exceptions import DomainError
from .certificate import certify_taylor
from .newton import GUARD

__all__ = ["Solution"]


class Solution:
    """A verified, and where possible certified, solution of a Dyson system at one point.

    Attributes
    ----------
    system : DysonSystem
    point : dict
        ``{name: mpmath number}``, the parameter values at the working precision.
    exact_point : dict
        ``{name: exact SymPy number or ball}``, the values as given (what is certified).
    dps : int
        The working precision (decimal digits).
    unknowns : dict
        ``{(i, j): value}`` for the unknowns.
    targets : dict
        ``{(i, j): value}`` for the targets; an entry that is zero by structure
        (its blocks lie in different spaces, or outside the sparsity pattern) is
        an exact ``mpf(0)``.
    residual : mpmath.mpf
        Max-norm of ``g - [(C - eta(G))^{-1}]`` over the unknowns at the solution.
    iterations : int
        Newton iterations spent, over the whole path.
    checks : tuple of str
        The verifications passed (floating point), then ``"certified"`` when the
        certificate closed and ``"two paths agree"`` when a second path was followed.
    path : str
        How the solution was reached.
    certificate : Certificate or None
        The proof (see :mod:`pencils.solver.certificate`); ``None`` if not asked.
    """

    def __init__(self, compiled, point, exact_point, dps, u, residual, iterations, checks, path, certificate=None,
                 targets=None):
        self._compiled = compiled
        self.system = compiled.system
        self.point = point
        self.exact_point = exact_point
        self.dps = dps
        self._u = u
        self.unknowns = dict(zip(self.system.unknowns, u))
        with mpmath.workdps(dps + GUARD):
            if targets is None:  # else read at u by the polish
                values = compiled.evaluate(*point.values())
                inverses = compiled.inverses(compiled.matrices(values, u), point, u)
                targets = compiled.targets_of(values, inverses, zero=mpmath.mpf(0))
            self.targets = dict(zip(self.system.targets, [+t for t in targets]))
        self.residual = residual
        self.iterations = iterations
        self.certificate = certificate
        self.checks = tuple(checks) + (("certified",) if certificate is not None and certificate.certified else ())
        self.path = path

    @property
    def value(self):
        """The value of the first target."""
        return self.targets[self.system.targets[0]]

    @property
    def certified(self):
        """Whether the certificate closed (every target then has a proven enclosure)."""
        return self.certificate is not None and self.certificate.certified

    @property
    def uncertified_reason(self):
        """Why the numbers are not certified (empty when they are)."""
        if self.certified:
            return ""
        return self.certificate.reason if self.certificate is not None else "no certificate asked (certify=False)"

    def __getitem__(self, entry):
        entry = tuple(entry)
        if entry in self.targets:
            return self.targets[entry]
        if entry in self.unknowns:
            return self.unknowns[entry]
        raise KeyError(f"{entry} is neither a target nor an unknown of the system")

    def enclosure(self, entry=None):
        """A ball (python-flint ``acb``) proven to contain the target, or ``None`` if uncertified."""
        entry = self.system.targets[0] if entry is None else tuple(entry)
        if not self.certified:
            return None
        if entry in self.certificate.targets:
            return self.certificate.targets[entry]
        return self.certificate.unknowns[self.system.unknowns.index(entry)]

    def certified_digits(self, entry=None):
        """Significant digits of a target that the certificate proves (0 if uncertified).

        An exact value (a structural zero) counts as ``dps`` digits.
        """
        ball = self.enclosure(entry)
        return 0 if ball is None else certified_digits(ball, self.dps)

    def taylor(self, wrt, order=2, balls=False):
        """Taylor coefficients in one parameter (or several), from implicit differentiation.

        Parameters
        ----------
        wrt : str, sympy.Symbol, or a list of them
            The parameter(s) (ratios included).
        order : int
            The highest order.
        balls : bool
            Return python-flint balls proven to contain the coefficients (the
            ball version of the same recursion, on the certified box) instead of
            mpmath numbers. Needs a certified solution.

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
        if balls:
            if not self.certified:
                raise DomainError("no certified enclosure: the solution is not certified"
                                  + (f" ({self.certificate.reason})" if self.certificate else ""))
            results = certify_taylor(self._compiled, self.exact_point, self.certificate, names, order, self.point)
            return results if isinstance(wrt, list | tuple) else results[names[0]]
        c = self._compiled
        values = list(self.point.values())
        results = {}
        with mpmath.workdps(self.dps + GUARD):
            coefficients = c.evaluate(*values)
            directions = [[c._function((name, k))(*values) for k in range(1, order + 1)] for name in names]
            for name, (us, invs) in zip(names, c.series(coefficients, directions, self._u, self.point)):
                result = {entry: [+us[k][n] for k in range(order + 1)] for n, entry in enumerate(self.system.unknowns)}
                by_order = [c.targets_of(coefficients, invs[k], zero=mpmath.mpf(0)) for k in range(order + 1)]
                for n, entry in enumerate(self.system.targets):
                    result[entry] = [+by_order[k][n] for k in range(order + 1)]
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

    def _repr_latex_(self):
        """The targets with their certified digits, in a notebook (:func:`pencils.latex.solution_latex`)."""
        from ..latex import solution_latex

        return f"$${solution_latex(self)}$$"

    def __repr__(self):
        values = ", ".join(
            f"{self.system.symbols[e]}={mpmath.nstr(v, 12)}" for e, v in self.targets.items()
        )
        status = (f"certified to {min(self.certified_digits(t) for t in self.system.targets)} digits"
                  if self.certified else f"uncertified: {self.uncertified_reason}")
        return (
            f"Solution({values}; dps={self.dps}, residual={mpmath.nstr(self.residual, 3)}, "
            f"iterations={self.iterations}, checks={list(self.checks)}, {status})"
        )

