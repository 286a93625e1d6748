"""Activations of the DSM random-features model.

An :class:`Activation` carries two evaluations of the same function ``ϱ``:
a NumPy one, vectorised over float64 arrays, for finite-``d`` simulation, and
an mpmath one, for the high-precision Gaussian integrals of the Gaussian
equivalence (``derivations.dsm.equivalence``).

Centring
--------
The model needs ``E ϱ(g) = 0`` for the pre-activation law ``g ~ N(0, Γ)``
(``Γ = 1`` for isotropic data, ``Γ = a_t² ψ_D + h_t`` otherwise).  Since the
mean of a non-odd function depends on ``Γ``, centring is done at the point of
use: :meth:`Activation.centred` takes ``Γ`` and returns the activation to use
for that law.

* An activation built with ``subtract_mean=True`` (the built-in centred ReLU)
  is returned shifted, ``ϱ(x) - E ϱ(g)``, with the constant computed at the
  current mpmath precision (closed form when the activation provides one).
* Any other activation is checked: if ``|E ϱ(g)|`` exceeds the tolerance,
  :class:`ActivationError` is raised and its message gives the mean found.

Every mpmath computation here runs at the caller's precision (``mp.dps``);
wrap calls in ``mp.workdps(...)`` to choose it.

Examples
--------
>>> import numpy as np
>>> from mpmath import mp
>>> relu = get_activation("relu")
>>> centred = relu.centred(1)
>>> with mp.workdps(20):
...     print(mp.nstr(centred.shift, 15))
0.398942280401433
>>> float(centred.numpy(np.array([0.0]))[0])
-0.3989422804014327
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Callable, Sequence

import numpy as np
from mpmath import mp

from .errors import DSMError

__all__ = [
    "Activation",
    "ActivationError",
    "QuadratureError",
    "CENTRING_TOLERANCE",
    "exact_fraction",
    "gaussian_expectation",
    "get_activation",
    "odd_polynomial",
    "relu_centred",
    "tanh",
    "erf",
]

#: Largest ``|E ϱ(g)|`` accepted for an activation that is not centred on use.
CENTRING_TOLERANCE = 1e-12


class ActivationError(DSMError):
    """An activation is unknown, malformed, or not centred for the law in use."""


class QuadratureError(DSMError, ArithmeticError):
    """A Gaussian integral did not reach the requested accuracy."""


# ---------------------------------------------------------------------------
# Gaussian expectations at the working precision
# ---------------------------------------------------------------------------

_H0 = Fraction(1, 2)  # step of the coarsest trapezoidal grid
_MIN_LEVEL = 2  # at least two halvings before convergence is accepted
_MAX_LEVEL = 14
_MIN_CUTOFF = 8  # never truncate the real line inside [-8, 8]
_MAX_CUTOFF = 80
_WEIGHTS: dict[tuple[int, int], list] = {}


def _weights(level: int, count: int) -> list:
    """Weights ``exp(-x_k²/2)`` of the new nodes of one trapezoidal level.

    Level 0 has the nodes ``x_k = k H0``, level ``l >= 1`` the nodes
    ``x_k = (2k+1) H0 / 2^l``. Cached per binary precision.
    """
    cache = _WEIGHTS.setdefault((mp.prec, level), [])
    if len(cache) < count:
        step = mp.mpf(_H0.numerator) / (_H0.denominator * 2**level)
        for k in range(len(cache), count):
            x = (k if level == 0 else 2 * k + 1) * step
            cache.append(mp.exp(-x * x / 2))
    return cache


def _trapezoid(func: Callable, even: bool, atol, rtol):
    """``E func(x)``, ``x ~ N(0, 1)``, for a smooth ``func``.

    The trapezoidal rule on the whole line converges exponentially fast for
    analytic integrands with a Gaussian weight; the step is halved (reusing
    the nodes) until two successive values agree to ``rtol`` relative to
    ``E|func|``, or to ``atol``.
    """
    norm = mp.sqrt(2 * mp.pi)
    tiny = mp.mpf(2) ** (-mp.prec)
    tolerance = mp.mpf(2) ** (12 - mp.prec) if rtol is None else rtol

    def pair(x):
        """``f(x) + f(-x)`` and ``|f(x)| + |f(-x)|``."""
        if even:
            value = func(x)
            return 2 * value, 2 * abs(value)
        right, left = func(x), func(-x)
        return right + left, abs(right) + abs(left)

    step = mp.mpf(_H0.numerator) / _H0.denominator
    total = func(mp.zero)
    size = abs(total)
    count = 1
    while True:
        x = count * step
        if x > _MAX_CUTOFF:
            raise QuadratureError(
                "Gaussian integrand does not decay before |x| = %d" % _MAX_CUTOFF
            )
        weight = _weights(0, count + 1)[count]
        value, magnitude = pair(x)
        total += value * weight
        size += magnitude * weight
        count += 1
        if x >= _MIN_CUTOFF and magnitude * weight <= tiny * size:
            break
    cutoff = count * step
    result = total * step
    for level in range(1, _MAX_LEVEL + 1):
        step /= 2
        nodes = int(cutoff / (2 * step)) + 1
        weights = _weights(level, nodes)
        for k in range(nodes):
            value, magnitude = pair((2 * k + 1) * step)
            total += value * weights[k]
            size += magnitude * weights[k]
        previous, result = result, total * step
        change = abs(result - previous)
        if level >= _MIN_LEVEL and (change <= tolerance * size * step or change <= atol * norm):
            return result / norm
    raise QuadratureError(
        "Gaussian integral not converged after %d step halvings "
        "(declare the kinks of a non-smooth activation)" % _MAX_LEVEL
    )


def gaussian_expectation(
    func: Callable, kinks: Sequence = (), even: bool = False, atol=0, rtol=None
) -> Any:
    """Expectation ``E func(x)`` for ``x ~ N(0, 1)`` at the current precision.

    Parameters
    ----------
    func : callable
        Function of one mpmath number, of at most polynomial growth.
    kinks : sequence of numbers, optional
        Points where ``func`` is not analytic. Without kinks the integral is a
        trapezoidal rule on the real line with step halving (exponentially
        convergent for analytic integrands); with kinks it is ``mp.quad``
        (tanh-sinh) on the pieces between them and 0.
    even : bool, optional
        Promise that ``func`` is even (only ``x >= 0`` is evaluated). Only
        used without kinks.
    atol : number, optional
        Absolute accuracy that is enough, for integrands that may vanish to
        rounding level. Only used without kinks.
    rtol : number, optional
        Accuracy that is enough relative to ``E|func(x)|``; default
        ``2^(12 - prec)``, the working precision less about 4 digits. Only
        used without kinks.

    Returns
    -------
    mpf
        The expectation.

    Raises
    ------
    QuadratureError
        If the smooth rule does not converge or the integrand does not decay.

    Examples
    --------
    >>> from mpmath import mp
    >>> with mp.workdps(30):
    ...     print(mp.nstr(gaussian_expectation(lambda x: x**4), 25))
    3.0
    >>> with mp.workdps(30):
    ...     v = gaussian_expectation(lambda x: max(x, 0), kinks=[0])
    ...     print(mp.nstr(v - 1 / mp.sqrt(2 * mp.pi), 5))
    0.0
    """
    if not kinks:
        return _trapezoid(func, even, atol, rtol)
    points = [-mp.inf] + sorted({mp.mpf(k) for k in kinks} | {mp.zero}) + [mp.inf]
    value = mp.quad(lambda x: func(x) * mp.exp(-x * x / 2), points)
    return value / mp.sqrt(2 * mp.pi)


# ---------------------------------------------------------------------------
# The Activation class
# ---------------------------------------------------------------------------


def _to_mpf(value: Fraction) -> Any:
    """An exact Fraction as an mpf at the current precision."""
    return mp.mpf(value.numerator) / value.denominator


@dataclass(frozen=True)
class Activation:
    """An activation ``ϱ`` with a float64 and an arbitrary-precision evaluation.

    Parameters
    ----------
    name : str
        Name used in reports.
    mp_func : callable
        ``ϱ`` on one mpmath number (also called with Python floats).
    np_func : callable
        ``ϱ`` on a float64 ndarray, elementwise.
    kinks : tuple, optional
        Points where ``ϱ`` is not analytic (e.g. ``(0,)`` for ReLU); the
        quadratures split there.
    odd : bool, optional
        ``ϱ`` is odd, so ``E ϱ(g) = 0`` for every centred Gaussian ``g`` and
        the symmetric integrals are halved.
    subtract_mean : bool, optional
        Centre on use: :meth:`centred` subtracts ``E ϱ(g)`` for the law given.
    gaussian_mean : callable, optional
        Closed form of ``(m, σ) -> E ϱ(m + σ v)``, ``v ~ N(0, 1)``, for the
        raw function (without ``shift``), in mpmath numbers.
    shift : number, optional
        Constant subtracted from the raw function; set by :meth:`centred`.
    gamma : number or None, optional
        Pre-activation variance the shift was computed for (None: unshifted).
    family : str or None, optional
        ``"tanh"``, ``"erf"``, ``"relu"`` (centred ReLU) or ``"poly"``: the
        function is that shipped activation, for which
        :func:`~derivations.dsm.equivalence.gaussian_equivalence` computes
        proven enclosures (closed forms or certified quadrature). ``None``
        (every user callable): the constants come with an error *estimate*.
        Set only by the built-in constructors; a wrong family gives wrong
        constants.
    coefficients : tuple of Fraction, optional
        For ``family="poly"``: the exact coefficients of ``x, x³, x⁵, ...``.

    Examples
    --------
    >>> import numpy as np
    >>> act = odd_polynomial([1, "0.5"])
    >>> act.name
    'poly:1,1/2'
    >>> act.numpy(np.array([2.0]))
    array([6.])
    >>> act.mpmath(2)
    mpf('6.0')
    """

    name: str
    mp_func: Callable
    np_func: Callable
    kinks: tuple = ()
    odd: bool = False
    subtract_mean: bool = False
    gaussian_mean: Callable | None = None
    shift: Any = 0
    gamma: Any = None
    family: str | None = None
    coefficients: tuple = ()

    @classmethod
    def from_callable(
        cls,
        func: Callable,
        *,
        numpy_func: Callable | None = None,
        name: str | None = None,
        kinks: Sequence = (),
        odd: bool = False,
        subtract_mean: bool = False,
        gaussian_mean: Callable | None = None,
    ) -> "Activation":
        """Wrap a user function of one mpmath number.

        Without ``numpy_func`` the float64 evaluation is ``np.vectorize`` of
        ``func`` (correct but slow: pass a vectorised version for simulation).

        Examples
        --------
        >>> import numpy as np
        >>> from mpmath import mp
        >>> act = Activation.from_callable(lambda x: mp.sin(x), name="sin", odd=True)
        >>> round(float(act.numpy(np.array([1.0]))[0]), 6)
        0.841471
        """
        if not callable(func):
            raise ActivationError("activation must be callable, got %r" % (func,))
        if numpy_func is None:
            numpy_func = np.vectorize(lambda x: float(func(x)), otypes=[np.float64])
        return cls(
            name=name or getattr(func, "__name__", "user"),
            mp_func=func,
            np_func=numpy_func,
            kinks=tuple(kinks),
            odd=odd,
            subtract_mean=subtract_mean,
            gaussian_mean=gaussian_mean,
        )

    def mpmath(self, x) -> Any:
        """``ϱ(x)`` at the current mpmath precision."""
        return self.mp_func(x) - self.shift

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """``ϱ(x)`` elementwise on a float64 array."""
        values = self.np_func(np.asarray(x, dtype=np.float64))
        if self.shift:
            values = values - float(self.shift)
        return values

    def smoothed(self, m, sigma) -> Any:
        """``E ϱ(m + σ v)`` for ``v ~ N(0, 1)`` at the current precision.

        Uses the closed form ``gaussian_mean`` when there is one, otherwise a
        Gaussian quadrature split at the kinks.

        Examples
        --------
        >>> from mpmath import mp
        >>> with mp.workdps(20):
        ...     print(mp.nstr(tanh.smoothed(0, 1), 10))
        0.0
        """
        m, sigma = mp.mpf(m), mp.mpf(sigma)
        if self.gaussian_mean is not None:
            return self.gaussian_mean(m, sigma) - self.shift
        kinks = [(k - m) / sigma for k in self.kinks]
        return gaussian_expectation(lambda v: self.mp_func(m + sigma * v), kinks) - self.shift

    def mean(self, gamma) -> Any:
        """``E ϱ(g)`` for ``g ~ N(0, Γ)`` at the current precision."""
        if self.odd and not self.shift:
            return mp.zero
        return self.smoothed(0, mp.sqrt(mp.mpf(gamma)))

    def centred(self, gamma, tol: float = CENTRING_TOLERANCE) -> "Activation":
        """The activation to use for the pre-activation law ``N(0, Γ)``.

        With ``subtract_mean`` the returned activation is ``ϱ - E ϱ(g)``
        (shift computed at the current precision); otherwise ``self`` is
        returned after checking ``|E ϱ(g)| <= tol``.

        Raises
        ------
        ActivationError
            If ``Γ <= 0`` or the activation is not centred; the message gives
            the mean found.

        Examples
        --------
        >>> from mpmath import mp
        >>> raw = Activation.from_callable(lambda x: max(x, 0), name="relu", kinks=[0])
        >>> raw.centred(1)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        derivations.dsm.activations.ActivationError: activation 'relu' is not centred ... = 0.398942280401433 ...
        """
        gamma = mp.mpf(gamma)
        if not gamma > 0:
            raise ActivationError("pre-activation variance must be > 0, got %s" % gamma)
        if self.subtract_mean:
            raw = replace(self, shift=0, gamma=None)
            return replace(self, shift=raw.mean(gamma), gamma=gamma)
        found = self.mean(gamma)
        if abs(found) > tol:
            raise ActivationError(
                "activation %r is not centred for g ~ N(0, %s): E ϱ(g) = %s "
                "(tolerance %g); centre it or build it with subtract_mean=True"
                % (self.name, mp.nstr(gamma, 15), mp.nstr(found, 15), tol)
            )
        return self


# ---------------------------------------------------------------------------
# Built-in activations
# ---------------------------------------------------------------------------

_ERF_STEP = 32  # grid k / 32 on [0, 6]; erf(x) rounds to 1 for x >= 6
_ERF_ORDER = 8


def _erf_taylor_table() -> np.ndarray:
    """Taylor coefficients ``erf^(j)(x0)/j!`` at ``x0 = k/32``, ``0 <= x0 <= 6``.

    ``erf^(j)(x) = (2/√π) (-1)^(j-1) H_{j-1}(x) e^{-x²}`` for ``j >= 1`` with
    the physicists' Hermite polynomials; with ``|x - x0| <= 1/64`` the
    order-8 remainder is below 1e-18.
    """
    x0 = np.arange(6 * _ERF_STEP + 1) / _ERF_STEP
    table = np.empty((_ERF_ORDER + 1, x0.size))
    table[0] = [math.erf(x) for x in x0]
    gauss = 2 / math.sqrt(math.pi) * np.exp(-x0 * x0)
    h_prev, h = np.zeros_like(x0), np.ones_like(x0)
    for j in range(1, _ERF_ORDER + 1):
        table[j] = (-1) ** (j - 1) * h * gauss / math.factorial(j)
        h_prev, h = h, 2 * x0 * h - 2 * (j - 1) * h_prev
    return table


_ERF_TABLE = _erf_taylor_table()


def _erf_numpy(x: np.ndarray) -> np.ndarray:
    """The error function on a float64 array (absolute error below 3e-16).

    Piecewise Taylor expansion of order 8 around the nearest grid point
    ``k/32`` (NumPy has no ``erf``, and the project does not depend on SciPy).
    """
    shape = np.shape(x)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    ax = np.abs(x)
    scaled = np.fmin(ax, 6.0)
    scaled *= _ERF_STEP
    scaled += 0.5
    index = scaled.astype(np.intp)
    np.minimum(ax, 6.0, out=ax)  # NaN propagates through delta
    delta = np.multiply(index, -1.0 / _ERF_STEP, out=scaled)
    delta += ax
    result = np.take(_ERF_TABLE[_ERF_ORDER], index)
    coefficient = ax
    for j in range(_ERF_ORDER - 1, -1, -1):
        result *= delta
        result += np.take(_ERF_TABLE[j], index, out=coefficient)
    return np.copysign(result, x, out=result).reshape(shape)


def _relu_mp(x):
    return x if x > 0 else mp.zero


def _relu_gaussian_mean(m, sigma):
    """``E relu(m + σ v) = m Φ(m/σ) + σ φ(m/σ)``."""
    r = m / sigma
    return m * mp.ncdf(r) + sigma * mp.npdf(r)


def _erf_gaussian_mean(m, sigma):
    """``E erf(m + σ v) = erf(m / sqrt(1 + 2σ²))``."""
    return mp.erf(m / mp.sqrt(1 + 2 * sigma * sigma))


tanh = Activation(name="tanh", mp_func=mp.tanh, np_func=np.tanh, odd=True, family="tanh")
"""``tanh`` (odd, hence centred for every Γ)."""

erf = Activation(
    name="erf",
    mp_func=mp.erf,
    np_func=_erf_numpy,
    odd=True,
    gaussian_mean=_erf_gaussian_mean,
    family="erf",
)
"""The error function ``erf(x)`` (odd, hence centred for every Γ)."""

relu_centred = Activation(
    name="relu",
    mp_func=_relu_mp,
    np_func=lambda x: np.maximum(x, 0.0),
    kinks=(0,),
    subtract_mean=True,
    gaussian_mean=_relu_gaussian_mean,
    family="relu",
)
"""Centred ReLU ``relu(x) - E relu(g)``; ``E relu(g) = sqrt(Γ/(2π))`` is
subtracted by :meth:`Activation.centred` for the Γ in use."""


def exact_fraction(value) -> Fraction:
    """A real number as an exact Fraction.

    Floats are read as their shortest decimal repr (``0.1`` means ``1/10``),
    decimal strings exactly, rationals (int, Fraction, SymPy Rational)
    exactly, mpmath numbers by their binary value.

    Raises
    ------
    ValueError
        For a non-number, a bool, or a non-finite value.

    Examples
    --------
    >>> exact_fraction(0.1), exact_fraction("2.5e-1"), exact_fraction(3)
    (Fraction(1, 10), Fraction(1, 4), Fraction(3, 1))
    """
    if isinstance(value, bool):
        raise ValueError("expected a real number, got %r" % (value,))
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, numbers.Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError("expected a finite real number, got %r" % (value,)) from exc
    if isinstance(value, mp.mpf):
        x = value  # kept as is: mp.mpf(value) would round it to the global precision
    else:
        try:
            x = mp.mpf(value)
        except (TypeError, ValueError) as exc:
            raise ValueError("expected a real number, got %r" % (value,)) from exc
    if not mp.isfinite(x):
        raise ValueError("expected a finite real number, got %r" % (value,))
    magnitude = Fraction(int(x.man)) * Fraction(2) ** int(x.exp)
    return -magnitude if x < 0 else magnitude


def odd_polynomial(coeffs: Sequence) -> Activation:
    """The odd polynomial ``c1 x + c3 x³ + c5 x⁵ + ...``.

    Parameters
    ----------
    coeffs : sequence
        Coefficients of ``x, x³, x⁵, ...``: ints, Fractions, decimal strings
        or floats (a float is read as its shortest decimal repr). They are
        kept exact, so high-precision integrals see e.g. exactly ``1/2``.

    Examples
    --------
    >>> act = odd_polynomial([1, 0.5])
    >>> act.name, float(act.mpmath(1))
    ('poly:1,1/2', 1.5)
    """
    try:
        exact = [exact_fraction(c) for c in coeffs]
    except ValueError as exc:
        raise ActivationError("bad polynomial coefficient: %s" % exc) from exc
    if not exact or all(c == 0 for c in exact):
        raise ActivationError("odd polynomial needs a non-zero coefficient")
    floats = [float(c) for c in exact]

    def mp_func(x):
        x = mp.mpf(x)
        x2, value = x * x, mp.zero
        for c in reversed(exact):
            value = value * x2 + _to_mpf(c)
        return value * x

    def np_func(x):
        x2, value = x * x, np.zeros_like(x)
        for c in reversed(floats):
            value = value * x2 + c
        return value * x

    def gaussian_mean(m, sigma):
        # E (m + σv)^k = Σ_{j even} C(k, j) m^(k-j) σ^j (j-1)!!
        total = mp.zero
        for i, c in enumerate(exact):
            k = 2 * i + 1
            moment = sum(
                math.comb(k, j) * m ** (k - j) * sigma**j * _double_factorial(j - 1)
                for j in range(0, k + 1, 2)
            )
            total += _to_mpf(c) * moment
        return total

    return Activation(
        name="poly:" + ",".join(str(c) for c in exact),
        mp_func=mp_func,
        np_func=np_func,
        odd=True,
        gaussian_mean=gaussian_mean,
        family="poly",
        coefficients=tuple(exact),
    )


def _double_factorial(n: int) -> int:
    """``n!!`` with ``(-1)!! = 1``."""
    return math.prod(range(n, 0, -2)) if n > 0 else 1


_REGISTRY = {"tanh": tanh, "erf": erf, "relu": relu_centred, "relu_centred": relu_centred}


def get_activation(spec) -> Activation:
    """The activation named or given by ``spec``.

    Parameters
    ----------
    spec : str, Activation or callable
        ``"tanh"``, ``"erf"``, ``"relu"`` (centred ReLU, also
        ``"relu_centred"``), ``"poly:c1,c3,..."`` (odd polynomial with the
        coefficients of ``x, x³, ...``), an :class:`Activation` (returned
        as is), or a function of one mpmath number (wrapped with
        :meth:`Activation.from_callable`, which must then be centred).

    Raises
    ------
    ActivationError
        For an unknown name or a malformed polynomial.

    Examples
    --------
    >>> get_activation("poly:1,0.5").name
    'poly:1,1/2'
    >>> get_activation("softplus")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    derivations.dsm.activations.ActivationError: unknown activation 'softplus'; known: tanh, ...
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in _REGISTRY:
            return _REGISTRY[key]
        if key.startswith("poly:"):
            return odd_polynomial([c for c in key[5:].split(",")])
        raise ActivationError(
            "unknown activation %r; known: %s, poly:c1,c3,..." % (spec, ", ".join(_REGISTRY))
        )
    if callable(spec):
        return Activation.from_callable(spec)
    raise ActivationError("an activation is a name, an Activation or a callable, got %r" % (spec,))
