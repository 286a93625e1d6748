"""Gaussian-equivalence constants of the DSM random-features model.

For the pre-activation law ``g ~ N(0, Γ)``, ``Γ = a_t² ψ_D + h_t``
(``a_t = e^{-t}``, ``h_t = 1 - e^{-2t}``; ``Γ = 1`` when ``ψ_D = 1``),
MODEL.md §5 defines

* ``μ_1 = E[g ϱ(g)] / Γ``,
* ``μ_*² = E[ϱ(g)²] - Γ μ_1² = E[(ϱ(g) - μ_1 g)²]``,
* ``κ_t = E_u[(E_v ϱ(a_t s u + sqrt(h_t) v) - μ_1 a_t s u)²] / μ_*²``,
  ``u, v ~ N(0, 1)``, ``s² = ψ_D``.

All three are computed with mpmath at ``dps`` significant digits plus guard
digits. Integrals of smooth functions use a trapezoidal rule on the real line
(exponentially convergent with a Gaussian weight); integrals across a kink
(ReLU) are split there; the inner expectation of ``κ_t`` uses the
activation's closed form ``E ϱ(m + σ v)`` when it has one (ReLU, erf, odd
polynomials) and a nested quadrature otherwise (tanh, user functions).

Accuracy
--------
Guard digits grow with the cancellations of the problem: ``3 t / ln 10``
digits for large ``t`` (the inner mean is ``O(a_t)`` while the residual is
``O(a_t³)``), ``log10(1/h_t)`` for small ``t`` (so that ``1 - κ_t`` keeps
``dps`` digits too), and ``1.5 log10(1/ψ_D)``. The whole computation is run
twice, the second time with 10 more digits (hence finer quadrature); the
relative difference is the reported ``error``, and :class:`QuadratureError`
is raised when it exceeds ``10^-(dps-5)``. The returned numbers are those of
the more precise run, not rounded: they carry more than ``dps`` digits.

Degenerate activations
----------------------
For a linear activation ``μ_*² = 0`` and ``κ_t`` is 0/0. The equivalent
features are then exactly ``μ_1 W Y / sqrt(d)`` and ``κ_t`` enters the
model only through ``μ_*² κ_t`` and ``μ_*² (1 - κ_t)``, both 0 whatever its
value. The result reports ``degenerate=True``, ``mu_star_sq = 0`` and the
convention ``kappa = 1``. "Zero" means ``μ_*² <= 10^-dps E[ϱ²]``.

Examples
--------
>>> from mpmath import mp
>>> ge = gaussian_equivalence("erf", t=1, dps=20)
>>> print(mp.nstr(ge.mu1, 15), mp.nstr(ge.kappa, 15))
0.65147001587056 0.00194824240602556
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from mpmath import mp

from .activations import (
    Activation,
    ActivationError,
    QuadratureError,
    exact_fraction,
    gaussian_expectation,
    get_activation,
)

__all__ = [
    "EquivalenceError",
    "GaussianEquivalence",
    "QuadratureError",
    "gaussian_equivalence",
]

MIN_DPS = 15
_BASE_GUARD = 10
_CHECK_DIGITS = 10


class EquivalenceError(ValueError):
    """Invalid input to :func:`gaussian_equivalence`."""


@dataclass(frozen=True)
class GaussianEquivalence:
    """Constants of the Gaussian equivalence at one diffusion time.

    Attributes
    ----------
    activation : str
        Name of the activation.
    t, psi_d : mpf
        Diffusion time and subspace fraction ``ψ_D``.
    dps : int
        Requested significant digits.
    guard : int
        Guard digits used on top of ``dps`` (the check run used 10 more).
    a_t, h_t, gamma : mpf
        ``e^{-t}``, ``1 - e^{-2t}`` and the pre-activation variance ``Γ``.
    shift : mpf
        Constant subtracted from the activation to centre it for ``N(0, Γ)``
        (0 for odd activations).
    mu1, mu_star_sq, kappa : mpf
        ``μ_1``, ``μ_*²`` and ``κ_t``.
    error : mpf
        Estimated relative error: the largest relative difference of
        ``μ_1``, ``μ_*²``, ``κ_t`` and ``1 - κ_t`` between the two runs.
    degenerate : bool
        ``μ_*² = 0`` (linear activation); then ``kappa = 1`` by convention.
    """

    activation: str
    t: Any
    psi_d: Any
    dps: int
    guard: int
    a_t: Any
    h_t: Any
    gamma: Any
    shift: Any
    mu1: Any
    mu_star_sq: Any
    kappa: Any
    error: Any
    degenerate: bool

    @property
    def mu_star(self) -> Any:
        """``μ_* = sqrt(μ_*²)``."""
        return mp.sqrt(self.mu_star_sq)


def _parameter(value, what: str) -> Fraction:
    """A parameter as an exact Fraction, or :class:`EquivalenceError`."""
    try:
        return exact_fraction(value)
    except ValueError as exc:
        raise EquivalenceError("%s: %s" % (what, exc)) from exc


def _guard_digits(t: Fraction, psi_d: Fraction) -> int:
    """Guard digits for the cancellations at large and small ``t``."""
    tf, psi = float(t), float(psi_d)
    h = -math.expm1(-2 * tf)
    large_t = 3 * tf / math.log(10) + 1.5 * math.log10(1 / psi)
    small_t = math.log10(1 / h) if h > 0 else 0.0
    return _BASE_GUARD + math.ceil(large_t) + math.ceil(max(small_t, 0.0))


def _constants(
    activation: Activation, t: Fraction, psi_d: Fraction, dps: int, digits: int, target: int
) -> dict:
    """μ_1, μ_*², κ_t and E ϱ² computed with ``digits`` working digits.

    ``dps`` (the requested digits) sets when ``μ_*²`` counts as zero;
    ``target`` is the relative accuracy (in digits) asked of the κ_t
    integral, whose integrand is known only to ``digits`` minus the
    large-``t`` guard.
    """
    with mp.workdps(digits):
        t_mp = mp.mpf(t.numerator) / t.denominator
        psi = mp.mpf(psi_d.numerator) / psi_d.denominator
        a = mp.exp(-t_mp)
        h = -mp.expm1(-2 * t_mp)
        gamma = 1 - a * a * (1 - psi)  # = a² ψ_D + h_t, exactly 1 when ψ_D = 1
        act = activation.centred(gamma)
        root_gamma = mp.sqrt(gamma)
        kinks = [k / root_gamma for k in act.kinks]

        def rho(x):
            return act.mpmath(root_gamma * x)

        second = gaussian_expectation(lambda x: rho(x) ** 2, kinks, act.odd)
        if second == 0:
            raise ActivationError("activation %r vanishes almost everywhere" % act.name)
        mu1 = gaussian_expectation(lambda x: x * rho(x), kinks, act.odd) / root_gamma
        zero = mp.mpf(10) ** (-dps) * second
        mu_star_sq = gaussian_expectation(
            lambda x: (rho(x) - mu1 * root_gamma * x) ** 2,
            kinks,
            act.odd,
            atol=zero * mp.eps,
        )
        values = {
            "a_t": a,
            "h_t": h,
            "gamma": gamma,
            "shift": mp.mpf(act.shift),
            "mu1": mu1,
            "second_moment": second,
        }
        if mu_star_sq <= zero:
            values.update(mu_star_sq=mp.zero, kappa=mp.one, degenerate=True)
            return values
        slope = a * mp.sqrt(psi)
        root_h = mp.sqrt(h)
        numerator = gaussian_expectation(
            lambda u: (act.smoothed(slope * u, root_h) - mu1 * slope * u) ** 2,
            (),
            act.odd,
            rtol=mp.mpf(10) ** (-target),
        )
        values.update(mu_star_sq=mu_star_sq, kappa=numerator / mu_star_sq, degenerate=False)
        return values


def gaussian_equivalence(activation, t, psi_d=1, dps: int = 30) -> GaussianEquivalence:
    """Constants ``μ_1``, ``μ_*²``, ``κ_t`` of MODEL.md §5 to ``dps`` digits.

    Parameters
    ----------
    activation : str, Activation or callable
        Anything :func:`~derivations.dsm.activations.get_activation`
        accepts. It is centred for ``N(0, Γ)`` (centred ReLU) or checked.
    t : number or str
        Diffusion time, ``t > 0``. Floats are read as their shortest decimal
        repr (``0.1`` is ``1/10``); strings and rationals are exact.
    psi_d : number or str, optional
        ``ψ_D = D/d`` in ``(0, 1]``; 1 is the isotropic case.
    dps : int, optional
        Significant decimal digits wanted, at least 15.

    Returns
    -------
    GaussianEquivalence

    Raises
    ------
    EquivalenceError
        For ``t <= 0``, ``ψ_D`` outside ``(0, 1]`` or ``dps < 15``.
    ActivationError
        For an unknown or non-centred activation.
    QuadratureError
        If the estimated relative error exceeds ``10^-(dps-5)``.

    Examples
    --------
    >>> from mpmath import mp
    >>> ge = gaussian_equivalence("relu", t="0.5", dps=20)
    >>> print(mp.nstr(ge.mu1, 20), ge.degenerate)
    0.5 False
    >>> with mp.workdps(30):
    ...     abs(ge.mu_star_sq - (mp.mpf(1) / 4 - 1 / (2 * mp.pi))) < 1e-20
    True
    >>> gaussian_equivalence("poly:1", t=1, dps=15).degenerate
    True
    """
    act = get_activation(activation)
    t_exact = _parameter(t, "t")
    psi_exact = _parameter(psi_d, "psi_d")
    if t_exact <= 0:
        raise EquivalenceError("diffusion time t must be > 0, got %s" % t_exact)
    if not 0 < psi_exact <= 1:
        raise EquivalenceError("psi_d must be in (0, 1], got %s" % psi_exact)
    if isinstance(dps, bool) or not isinstance(dps, int) or dps < MIN_DPS:
        raise EquivalenceError("dps must be an integer >= %d, got %r" % (MIN_DPS, dps))

    guard = _guard_digits(t_exact, psi_exact)
    coarse = _constants(act, t_exact, psi_exact, dps, dps + guard, dps + 5)
    fine = _constants(
        act, t_exact, psi_exact, dps, dps + guard + _CHECK_DIGITS, dps + 5 + _CHECK_DIGITS
    )
    if coarse["degenerate"] != fine["degenerate"]:
        raise QuadratureError(
            "mu_star_sq of %r is zero at one precision and not at the other" % act.name
        )
    with mp.workdps(dps + guard + _CHECK_DIGITS):
        error = _relative_error(coarse, fine, mp.mpf(10) ** (-dps - guard))
        if error > mp.mpf(10) ** (5 - dps):
            raise QuadratureError(
                "Gaussian-equivalence constants of %r at t=%s reached relative "
                "error %s, above 1e-%d" % (act.name, t_exact, mp.nstr(error, 3), dps - 5)
            )
        return GaussianEquivalence(
            activation=act.name,
            t=mp.mpf(t_exact.numerator) / t_exact.denominator,
            psi_d=mp.mpf(psi_exact.numerator) / psi_exact.denominator,
            dps=dps,
            guard=guard,
            a_t=fine["a_t"],
            h_t=fine["h_t"],
            gamma=fine["gamma"],
            shift=fine["shift"],
            mu1=fine["mu1"],
            mu_star_sq=fine["mu_star_sq"],
            kappa=fine["kappa"],
            error=error,
            degenerate=fine["degenerate"],
        )


def _relative_error(coarse: dict, fine: dict, floor) -> Any:
    """Largest relative difference of μ_1, μ_*², κ and 1 - κ between two runs.

    ``μ_1`` is compared relative to ``sqrt(E ϱ² / Γ)`` when it vanishes (even
    activations); ``floor`` keeps the divisions finite.
    """
    scale_mu1 = mp.sqrt(fine["second_moment"] / fine["gamma"])
    errors = [abs(coarse["mu1"] - fine["mu1"]) / max(abs(fine["mu1"]), floor * scale_mu1)]
    if not fine["degenerate"]:
        kappa = fine["kappa"]
        errors.append(abs(coarse["mu_star_sq"] - fine["mu_star_sq"]) / fine["mu_star_sq"])
        errors.append(abs(coarse["kappa"] - kappa) / max(min(kappa, 1 - kappa), floor))
    return max(errors)
