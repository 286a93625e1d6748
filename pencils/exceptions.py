"""Exception classes of pencils.

Every failure of the library raises a subclass of :class:`PencilsError`, so
that a caller can catch the library's errors without catching bugs.
"""

__all__ = [
    "PencilsError",
    "PencilValidationError",
    "PencilFormatError",
    "ParseError",
    "StructureError",
    "EliminationError",
    "DomainError",
    "SolverError",
    "SingularPointError",
    "ConvergenceError",
    "AdmissibilityError",
    "MonteCarloError",
    "CertificationError",
    "LinearizationError",
]


class PencilsError(Exception):
    """Base class of all errors raised by pencils."""


class PencilValidationError(PencilsError, ValueError):
    """A pencil breaks one of the rules of a linear pencil.

    The message names the block (numbered from 1) and the rule broken.
    """


class PencilFormatError(PencilsError, ValueError):
    """A pencil text file cannot be read."""


class ParseError(PencilFormatError):
    """A text (pencil file entry, parameter value, expression) breaks the expression syntax.

    Raised by :mod:`pencils.parsing`, the one parser of user text: the message
    names the place (e.g. ``block (1, 2)``), quotes the text and marks the
    position with a caret. Nothing of the text is ever evaluated as Python.
    """


class StructureError(PencilsError):
    """The block structure admits no Dyson solution (structurally singular)."""


class EliminationError(PencilsError):
    """Symbolic elimination could not reduce the system as asked."""


class DomainError(PencilsError, ValueError):
    """A parameter value lies outside the domain of the pencil."""


class SolverError(PencilsError, ArithmeticError):
    """A numerical solve failed; no number is returned.

    Attributes
    ----------
    message : str
        What failed, without the details (point, residual, iterate).
    point : dict
        The parameter values where the solve failed.
    residual : mpmath number or None
        The residual of the last iterate, when there was one.
    iterate : list or None
        The last iterate (values of the unknowns), when there was one.
    """

    def __init__(self, message, point=None, residual=None, iterate=None):
        details = []
        if point:
            details.append("at " + ", ".join(f"{k}={v}" for k, v in point.items()))
        if residual is not None:
            details.append(f"residual {_short(residual)}")
        if iterate is not None:
            details.append("last iterate [" + ", ".join(_short(v) for v in iterate) + "]")
        super().__init__(message + ("" if not details else " (" + "; ".join(details) + ")"))
        self.message = message
        self.point = point
        self.residual = residual
        self.iterate = iterate


def _short(value):
    import mpmath

    return mpmath.nstr(value, 8)


class SingularPointError(SolverError):
    """The system is singular at the point (no inverse, or a singular Jacobian)."""


class ConvergenceError(SolverError):
    """Newton's method or the continuation did not converge."""


class AdmissibilityError(SolverError):
    """A converged solution fails the conditions of a Stieltjes transform.

    For instance a real spectral parameter inside the spectrum, where the
    physical solution is complex, or an imaginary part of the wrong sign.
    """


class MonteCarloError(PencilsError, ValueError):
    """A Monte Carlo run cannot be set up (non-numeric ratio, singular draw...)."""


class CertificationError(PencilsError, ArithmeticError):
    """A certificate could not be computed (e.g. a coefficient has no ball-arithmetic form).

    A certificate that merely *fails* (the interval test does not close) is not an
    error: the result is then reported as uncertified, with the reason.
    """


class LinearizationError(PencilsError, ValueError):
    """An expression cannot be linearised (not rational in the random matrices, mismatched shapes)."""
