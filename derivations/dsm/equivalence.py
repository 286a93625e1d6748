"""Gaussian-equivalence constants of the DSM random-features model, as balls.

For the pre-activation law ``g ~ N(0, Γ)``, ``Γ = a_t² s² + h_t`` with
``s² = tr(C)/d`` the mean eigenvalue of the data covariance (``ψ_D`` for data on
a subspace, 1 for isotropic data; ``a_t = e^{-t}``, ``h_t = 1 - e^{-2t}``;
``Γ = 1`` when ``s² = 1``), MODEL.md §5 defines

* ``μ_1 = E[g ϱ(g)] / Γ``,
* ``μ_*² = E[ϱ(g)²] - Γ μ_1² = E[(ϱ(g) - μ_1 g)²]``,
* ``κ_t = E_u[(E_v ϱ(c u + sqrt(h_t) v) - μ_1 c u)²] / μ_*²``,
  ``u, v ~ N(0, 1)``, ``c = a_t s``.

They depend on the data only through ``s²`` (the pre-activations ``w·y/√d``
of the rows of ``W`` have variance ``wᵀ(a_t² C + h_t)w/d → Γ``, two noisy copies of
one clean point covariance ``a_t² wᵀCw/d → c²``), so they are computed and kept
per ``s²``: a :class:`~derivations.dsm.data.DataModel` passes its ``trace``.

With ``g_{1,2} = c u + sqrt(h_t) v_{1,2}`` (variance ``Γ``, covariance
``c²``, correlation ``ρ = c²/Γ``) and Stein's lemma the numerator of ``κ_t``
is ``E[ϱ(g_1) ϱ(g_2)] - μ_1² c²``.

Every constant is a python-flint ``arb`` ball computed at a binary precision
fixed by ``dps`` and the parameters only (``flint.ctx.workprec`` inside, the
caller's ``flint.ctx`` and ``mpmath.mp`` are neither read nor changed), so the
same call gives the same balls whatever the global state.

Proven enclosures (``certified=True``, ``error_kind="proven"``)
-----------------------------------------------------------------
For the shipped activations the balls contain the exact values:

* centred ReLU: closed forms (``μ_1 = 1/2``, ``μ_*² = Γ(1/4 - 1/(2π))``,
  arc-cosine kernel ``E[relu g_1 relu g_2] = Γ/(2π)(sin θ + (π - θ) cos θ)``,
  ``θ = acos ρ = 2 asin sqrt(h_t/(2Γ))``); ``1 - κ_t`` from its own closed
  form ``[(1 - ρ)/4 + (θρ - sin θ)/(2π)] / (1/4 - 1/(2π))``;
* erf: closed forms (``μ_1 = 2/sqrt(π(1 + 2Γ))``,
  ``E[erf g_1 erf g_2] = (2/π) asin(2 Cov/(1 + 2Γ))``);
* odd polynomials: exact Gaussian moments (rational coefficients times
  powers of ``Γ``, ``c`` and ``h_t``); a linear one is detected exactly;
* tanh: ``μ_1`` and ``E tanh²`` by ``flint.acb.integral`` (rigorous
  Gauss-Legendre; the integrands are meromorphic) on ``[0, L]`` plus the
  tail bounds ``2∫_L^∞ x φ = 2φ(L)`` and ``2∫_L^∞ φ = erfc(L/√2)``
  (``|tanh| <= 1``, ``φ`` the standard normal density); the nested
  numerator of ``κ_t`` by trapezoidal rules on the real line with the
  Trefethen-Weideman bound ``2M/(e^{2πτ/η} - 1)`` (integrand analytic in the
  strip ``|Im| < τ``, ``∫|f(x + iy)| dx <= M`` there) and explicit tail
  bounds, both added as radii; on the strip ``|tanh(x + iy)| <=
  max(1, tan|y|)`` for ``|y| < π/2``.

The binary precision starts at ``dps log2(10)`` plus guard bits for the
cancellations (``log2(1/h_t)`` for ``1 - κ_t`` at small ``t``; ``6 t log2 e``
and ``3 log2(1/s²)`` (when ``s² < 1``) for ``κ_t ~ c⁶`` at large ``t``) and is raised until
every ball has relative radius at most ``10^-(dps+3)``
(:class:`QuadratureError` otherwise).

Estimates (``certified=False``, ``error_kind="estimate"``)
----------------------------------------------------------
For a user's activation there is no ball version of the function, hence no
bound: the constants are computed by mpmath quadrature at ``dps`` plus guard
digits, twice (the second run with 10 more digits); the balls are centred on
the finer run and their radius is the difference between the two runs, an
*estimate* of the error, not a bound. :class:`QuadratureError` is raised
when it exceeds ``10^-(dps-5)`` relative.

Degenerate activations
----------------------
For a linear activation ``μ_*² = 0`` and ``κ_t`` is 0/0; the features are
exactly ``μ_1 W Y/sqrt(d)`` and ``κ_t`` enters only through ``μ_*² κ_t`` and
``μ_*²(1 - κ_t)``. The result has ``degenerate=True``, exact zero balls for
``μ_*², μ_*, 1 - κ`` and the convention ``κ = 1``.

Cache
-----
:func:`gaussian_equivalence` keeps its results in the process and, for the
shipped activations, on disk (:mod:`derivations.dsm.cache`; see its Notes).
Every radius is rounded up to 29 significant bits
(:func:`derivations.dsm.cache.storable`, at most ``2^-29`` of itself wider),
so that a ball read back from disk is the ball computed, bit for bit.

Examples
--------
>>> ge = gaussian_equivalence("erf", t=1, dps=20)
>>> ge.mu1.str(15, radius=False), ge.kappa.str(15, radius=False), ge.error_kind
('0.651470015870560', '0.00194824240602556', 'proven')
>>> ge.kappa.rad() < 1e-23
True
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import flint
from flint import acb, arb, fmpq, fmpz
from mpmath import mp
from mpmath.libmp import from_man_exp


from . import activations
from .errors import DSMError
from . import cache as disk
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
    "ActivationError",
    "gaussian_equivalence",
]

MIN_DPS = 15
_BASE_GUARD_BITS = 24
_EXTRA_DIGITS = 3  # relative radius asked of every ball: 10^-(dps + 3)
_RETRIES = 4
# estimate path (user callables): the mpmath double run
_BASE_GUARD = 10
_CHECK_DIGITS = 10

_LOG2_10 = math.log2(10)


class EquivalenceError(DSMError):
    """Invalid input to :func:`gaussian_equivalence`."""


@dataclass(frozen=True)
class GaussianEquivalence:
    """Constants of the Gaussian equivalence at one diffusion time.

    Attributes
    ----------
    activation : str
        Name of the activation.
    t, trace : Fraction
        Diffusion time and ``s² = tr(C)/d`` (``ψ_D`` for data on a subspace), exact.
    dps : int
        Requested significant digits.
    prec : int
        Binary precision of the balls (the working precision).
    a_t, h_t, gamma : flint.arb
        ``e^{-t}``, ``1 - e^{-2t}`` and the pre-activation variance ``Γ``
        (exactly 1 when ``s² = 1``).
    shift : flint.arb
        Constant subtracted from the activation to centre it for ``N(0, Γ)``
        (``sqrt(Γ/(2π))`` for the centred ReLU, 0 for odd activations).
    mu1, mu_star_sq, mu_star : flint.arb
        ``μ_1``, ``μ_*²`` and ``μ_* = sqrt(μ_*²)`` (a stored ball).
    kappa, one_minus_kappa : flint.arb
        ``κ_t`` and ``1 - κ_t`` (the latter with its own relative accuracy,
        it is the implicit ridge ``μ_*²(1 - κ_t)`` at small ``t``).
    degenerate : bool
        ``μ_*² = 0`` (linear activation); then ``kappa = 1`` by convention.
    certified : bool
        The balls are proven enclosures of the exact constants.
    error_kind : str
        ``"proven"`` or ``"estimate"``.
    note : str
        How the constants were obtained; for an estimate, why it is one.
    error : float
        Largest relative radius of ``mu1, mu_star_sq, kappa, one_minus_kappa``
        (a bound when ``certified``, an estimate otherwise).
    """

    activation: str
    t: Fraction
    trace: Fraction
    dps: int
    prec: int
    a_t: arb
    h_t: arb
    gamma: arb
    shift: arb
    mu1: arb
    mu_star_sq: arb
    mu_star: arb
    kappa: arb
    one_minus_kappa: arb
    degenerate: bool
    certified: bool
    error_kind: str
    note: str
    error: float

    FIELDS = ("a_t", "h_t", "gamma", "shift", "mu1", "mu_star_sq", "mu_star", "kappa", "one_minus_kappa")

    def to_mpmath(self, name: str) -> Any:
        """The midpoint of the ball ``name`` as an exact mpmath number.

        The conversion does not round (the mpf carries every bit of the
        midpoint, whatever ``mp.dps`` is); the midpoint is within the radius
        of the true value (proven or estimated, see ``error_kind``).
        """
        return arb_to_mpf(getattr(self, name))

    def certified_digits(self) -> dict:
        """Decimal digits guaranteed (or estimated) per constant.

        ``floor(-log10(relative radius))``, capped at 10**6 for exact balls.
        """
        return {name: _digits(getattr(self, name)) for name in self.FIELDS}


def arb_to_mpf(x: arb) -> Any:
    """Exact mpmath number equal to the midpoint of the ball ``x``."""
    man, exp = x.mid().man_exp()
    return mp.make_mpf(from_man_exp(int(man), int(exp)))


def _arb_from_mpf(x) -> arb:
    """Exact ball of an mpmath number (no rounding)."""
    sign, man, exp, _ = x._mpf_
    if not man:
        return arb(0)
    return arb((fmpz(-man if sign else man), fmpz(exp)))


def _relative_radius(x: arb) -> float:
    rad = float(x.rad())
    if rad == 0:
        return 0.0
    mid = abs(float(x.mid()))
    return math.inf if mid == 0 else rad / mid


def _digits(x: arb) -> int:
    rel = _relative_radius(x)
    if rel == 0:
        return 10**6
    if not math.isfinite(rel):
        return 0
    return max(0, math.floor(-math.log10(rel)))


def _pm(bound: arb) -> arb:
    """The ball ``[0 ± bound]`` for a non-negative ball ``bound``."""
    return arb(0, bound.abs_upper())


def _parameter(value, what: str) -> Fraction:
    """A parameter as an exact Fraction, or :class:`EquivalenceError`."""
    try:
        return exact_fraction(value)
    except ValueError as exc:
        raise EquivalenceError("%s: %s" % (what, exc)) from exc


def _q(value: Fraction) -> arb:
    return arb(fmpq(value.numerator, value.denominator))


# ---------------------------------------------------------------------------
# Certified constants, one function per family; all run inside workprec
# ---------------------------------------------------------------------------


def _basics(t: Fraction, trace: Fraction) -> dict:
    tt, psi = _q(t), _q(trace)
    a = (-tt).exp()
    h = -((-2 * tt).expm1())
    gamma = arb(1) if trace == 1 else 1 - a * a * (1 - psi)
    c = a * psi.sqrt()
    return {"a_t": a, "h_t": h, "gamma": gamma, "c": c, "c2": a * a * psi}


def _relu(b: dict, prec: int) -> dict:
    gamma, h, c2 = b["gamma"], b["h_t"], b["c2"]
    pi = arb.pi()
    rho = c2 / gamma
    one_minus_rho = h / gamma  # exact identity 1 - ρ = h/Γ, no cancellation
    theta = 2 * (one_minus_rho / 2).sqrt().asin()  # = acos ρ
    sin_theta = (one_minus_rho * (1 + rho)).sqrt()
    base = arb(1) / 4 - 1 / (2 * pi)
    mu_star_sq = gamma * base
    # κ μ_*²/Γ = (sin θ + (π - θ)ρ - 1)/(2π) - ρ/4
    kappa = ((sin_theta + (pi - theta) * rho - 1) / (2 * pi) - rho / 4) / base
    one_minus = (one_minus_rho / 4 + (theta * rho - sin_theta) / (2 * pi)) / base
    return {
        "shift": (gamma / (2 * pi)).sqrt(),
        "mu1": arb(1) / 2,
        "mu_star_sq": mu_star_sq,
        "kappa": kappa,
        "one_minus_kappa": one_minus,
        "degenerate": False,
        "note": "centred ReLU: closed forms (arc-cosine kernel)",
    }


def _odd(mu1: arb, mu_star_sq: arb, numerator: arb, note: str) -> dict:
    """Result of an odd (hence centred, ``shift = 0``) non-linear activation."""
    kappa = numerator / mu_star_sq
    return {
        "shift": arb(0),
        "mu1": mu1,
        "mu_star_sq": mu_star_sq,
        "kappa": kappa,
        "one_minus_kappa": 1 - kappa,
        "degenerate": False,
        "note": note,
    }


def _erf(b: dict, prec: int) -> dict:
    gamma, c2 = b["gamma"], b["c2"]
    pi = arb.pi()
    denominator = 1 + 2 * gamma
    mu1 = 2 / (pi * denominator).sqrt()
    mu_star_sq = 2 / pi * (2 * gamma / denominator).asin() - gamma * mu1 * mu1
    numerator = 2 / pi * (2 * c2 / denominator).asin() - mu1 * mu1 * c2
    note = "erf: closed forms (E erf(g1) erf(g2) = (2/pi) asin(2 Cov/(1 + 2 Gamma)))"
    return _odd(mu1, mu_star_sq, numerator, note)


def _double_factorial(n: int) -> int:
    return math.prod(range(n, 0, -2)) if n > 0 else 1


def _poly(b: dict, coefficients: tuple) -> dict:
    gamma, h, c = b["gamma"], b["h_t"], b["c"]
    coeffs = [Fraction(x) for x in coefficients]
    n = len(coeffs)
    # μ1 = Σ c_i (2i+1)!! Γ^i ; μ*² = Σ_{i,j>=1} c_i c_j [(2i+2j+1)!! - (2i+1)!!(2j+1)!!] Γ^{i+j+1}
    mu1 = sum(
        (_q(ci * _double_factorial(2 * i + 1)) * gamma**i for i, ci in enumerate(coeffs)), arb(0)
    )
    quad = {}
    for i in range(1, n):
        for j in range(1, n):
            both = _double_factorial(2 * i + 1) * _double_factorial(2 * j + 1)
            d = _double_factorial(2 * i + 2 * j + 1) - both
            quad[i + j + 1] = quad.get(i + j + 1, Fraction(0)) + coeffs[i] * coeffs[j] * d
    if all(v == 0 for v in quad.values()):  # only x is present: linear, exactly
        return {
            "shift": arb(0),
            "mu1": mu1,
            "mu_star_sq": arb(0),
            "kappa": arb(1),
            "one_minus_kappa": arb(0),
            "degenerate": True,
            "note": "odd polynomial: exact Gaussian moments; linear, mu_*^2 = 0 exactly",
        }
    mu_star_sq = sum((_q(v) * gamma**k for k, v in quad.items()), arb(0))
    # E_v ϱ(c u + √h v) = Σ_m e_m u^m (m odd), then subtract μ1 c u
    e = {}
    for i, ci in enumerate(coeffs):
        k = 2 * i + 1
        for j in range(0, k + 1, 2):
            m = k - j
            term = _q(ci * math.comb(k, j) * _double_factorial(j - 1)) * c**m * h ** (j // 2)
            e[m] = e.get(m, arb(0)) + term
    # linear coefficient: c Σ c_i (2i+1)!! (h^i - Γ^i), the i = 0 term is exactly 0
    e[1] = c * sum(
        (_q(ci * _double_factorial(2 * i + 1)) * (h**i - gamma**i) for i, ci in enumerate(coeffs) if i),
        arb(0),
    )
    numerator = arb(0)
    for m1, v1 in e.items():
        for m2, v2 in e.items():
            numerator += v1 * v2 * _double_factorial(m1 + m2 - 1)
    return _odd(mu1, mu_star_sq, numerator, "odd polynomial: exact Gaussian moments")


# -- tanh -------------------------------------------------------------------


def _strip_plan(scale: float, target: float, growth, limit: float):
    """Trapezoid step for ``∫ f`` with ``|error| <= e^{-target}``.

    The integrand is analytic in ``|Im x| < τ`` with ``τ = y/scale``,
    ``y < π/2`` the imaginary part seen by tanh; ``growth(τ, y)`` is the log
    of the strip bound ``M``. Returns ``(τ, η)`` maximising ``η`` (floats:
    a plan, the bound itself is re-evaluated in ball arithmetic).
    """
    best = None
    for k in range(1, 64):
        y = k * (math.pi / 2) / 64
        tau = min(y / scale if scale > 0 else limit, limit)
        y = tau * scale
        eta = 2 * math.pi * tau / (target + growth(tau, y) + math.log(4))
        if best is None or eta > best[1]:
            best = (tau, eta)
    return best


def _dyadic(x: float, bits: int = 24) -> Fraction:
    """A float rounded down to a dyadic rational (exact in balls)."""
    return Fraction(math.floor(x * 2**bits), 2**bits)


def _tan_bound(y: arb) -> arb:
    """``max(1, tan y)``: bound of ``|tanh|`` on ``|Im| <= y < π/2``."""
    if not y < arb.pi() / 2:
        raise QuadratureError("internal: strip reaches a pole of tanh")
    t = y.tan()
    return arb(1) if t < 1 else t.abs_upper().max(arb(1))


def _erfc_half(x: arb) -> arb:
    """``2 ∫_x^∞ φ = erfc(x/√2)``."""
    return (x / arb(2).sqrt()).erfc()


def _tanh(b: dict, prec: int) -> dict:
    gamma, h, c = b["gamma"], b["h_t"], b["c"]
    pi = arb.pi()
    inv_norm = 1 / (2 * pi).sqrt()  # 1/√(2π)
    root_gamma = gamma.sqrt()
    target = (prec + 10) * math.log(2)
    # 1-D integrals: acb.integral on [0, L] (even integrands), tails bounded with |tanh| <= 1
    length = _dyadic(math.sqrt(2 * (target + math.log(8))) + 1, 8)
    big_l = _q(length)

    def f_first(x, analytic):  # x tanh(√Γ x) e^{-x²/2}: meromorphic
        return x * (root_gamma * x).tanh() * (-(x * x) / 2).exp()

    def f_second(x, analytic):
        th = (root_gamma * x).tanh()
        return th * th * (-(x * x) / 2).exp()

    first = acb.integral(f_first, 0, big_l)
    second = acb.integral(f_second, 0, big_l)
    tail_first = 2 * inv_norm * (-(big_l * big_l) / 2).exp()  # 2 ∫_L^∞ x φ(x) dx
    tail_second = _erfc_half(big_l)  # 2 ∫_L^∞ φ
    e_xrho = 2 * inv_norm * first.real + _pm(tail_first)
    e_rho2 = 2 * inv_norm * second.real + _pm(tail_second)
    mu1 = e_xrho / root_gamma
    mu_star_sq = e_rho2 - gamma * mu1 * mu1
    numerator = _tanh_kappa_numerator(c, h, mu1, prec)
    note = (
        "tanh: acb.integral with Gaussian tail bounds (mu1, mu_*^2); trapezoidal rules "
        "with the Trefethen-Weideman strip bound and tail bounds (kappa)"
    )
    return _odd(mu1, mu_star_sq, numerator, note)


def _tanh_kappa_numerator(c: arb, h: arb, mu1: arb, prec: int) -> arb:
    """``E_u[(E_v tanh(c u + √h v) - μ1 c u)²]`` with a proven radius.

    Outer and inner integrals are trapezoidal sums on the real line; the
    discretisation error is bounded by ``2M/(e^{2πτ/η} - 1)`` for an
    integrand analytic in the strip ``|Im| < τ`` with ``∫|f(x + iy)|dx <= M``
    (Trefethen & Weideman, SIAM Rev. 2014, Thm 5.1), the truncation by
    Gaussian tails. Inner: ``tanh(m + √h v) φ(v)``, ``m`` real, strip
    ``|Im v| < τ``, ``|tanh| <= max(1, tan(√h τ))``, ``M = B e^{τ²/2}``.
    Outer: ``F(c u) = E_v tanh(c u + √h v)`` obeys ``|F| <= max(1, tan(c τ))``
    on ``|Im u| <= τ``; with ``|μ1 c u| <= b(|x| + τ)``, ``M = e^{τ²/2}(A² +
    2 A b √(2/π) + b²)``, ``A = B + b τ``.
    """
    pi = arb.pi()
    inv_norm = 1 / (2 * pi).sqrt()
    sigma = h.sqrt()
    cf, sf = float(c.mid()), float(sigma.mid())
    # the numerator is O(c^6) for large t: outer tolerance e^{-target_o} relative to c^6; inner e^{-target_i}
    target_o = (prec + 10) * math.log(2) + 6 * math.log(1 / min(1.0, cf))
    target_i = target_o - 3 * math.log(1 / min(1.0, cf)) + math.log(8)

    # ---- inner plan
    limit_i = math.sqrt(2 * target_i)
    tau_i_f, eta_i_f = _strip_plan(
        sf, target_i, lambda tau, y: tau * tau / 2 + math.log(max(1.0, math.tan(y))), limit_i
    )
    x_i = math.sqrt(2 * (target_i + math.log(4)))
    eta_i = _dyadic(eta_i_f)
    tau_i = _dyadic(tau_i_f)
    count_i = math.ceil(x_i / eta_i)
    eta_i_b, tau_i_b = _q(eta_i), _q(tau_i)
    bound_i = _tan_bound(sigma * tau_i_b)
    disc_i = 2 * bound_i * (tau_i_b * tau_i_b / 2).exp() / ((2 * pi * tau_i_b / eta_i_b).exp() - 1)
    trunc_i = _erfc_half(count_i * eta_i_b)
    error_i = _pm(disc_i + trunc_i)
    weights = []
    tanh_s = []
    for j in range(1, count_i + 1):
        v = j * eta_i_b
        weights.append(eta_i_b * inv_norm * (-(v * v) / 2).exp())
        tanh_s.append((sigma * v).tanh())
    w0 = eta_i_b * inv_norm
    squares = [s * s for s in tanh_s]

    def inner(m: arb) -> arb:
        # Σ_j w_j tanh(m + σ v_j), pairs ±j via tanh(m+s) + tanh(m-s) = 2T(1-S²)/(1-T²S²)
        big_t = m.tanh()
        t2 = big_t * big_t
        total = w0 * big_t
        for w, s2 in zip(weights, squares):
            total += w * (2 * big_t * (1 - s2) / (1 - t2 * s2))
        return total + error_i

    # ---- outer plan
    bf = 1.0 * cf  # |μ1| <= 1 for tanh (μ1 = E tanh'(g))
    limit_o = math.sqrt(2 * target_o)

    def growth_o(tau, y):
        big_a = max(1.0, math.tan(y)) + bf * tau
        return tau * tau / 2 + math.log(big_a * big_a + 2 * big_a * bf * 0.8 + bf * bf)

    tau_o_f, eta_o_f = _strip_plan(cf, target_o, growth_o, limit_o)
    x_o = max(2.0, math.sqrt(2 * (target_o + math.log(16))))
    eta_o = _dyadic(eta_o_f)
    tau_o = _dyadic(tau_o_f)
    count_o = math.ceil(x_o / eta_o)
    eta_o_b, tau_o_b = _q(eta_o), _q(tau_o)
    b = (mu1 * c).abs_upper()
    big_a = _tan_bound(c * tau_o_b) + b * tau_o_b
    strip_m = (tau_o_b * tau_o_b / 2).exp() * (
        big_a * big_a + 2 * big_a * b * (2 / pi).sqrt() + b * b
    )
    disc_o = 2 * strip_m / ((2 * pi * tau_o_b / eta_o_b).exp() - 1)
    x_end = count_o * eta_o_b
    if not x_end >= 2:
        raise QuadratureError("internal: outer truncation point below 2")
    phi_end = inv_norm * (-(x_end * x_end) / 2).exp()
    q_end = _erfc_half(x_end) / 2
    trunc_o = 2 * ((1 + b * b) * q_end + (2 * b + b * b * x_end) * phi_end)
    total = arb(0)
    mu1c = mu1 * c
    for k in range(1, count_o + 1):
        u = k * eta_o_b
        residual = inner(c * u) - mu1c * u
        total += residual * residual * (-(u * u) / 2).exp()
    return 2 * eta_o_b * inv_norm * total + _pm(disc_o + trunc_o)


_FAMILIES = {"relu": _relu, "erf": _erf, "tanh": _tanh}


def _certified(act: Activation, t: Fraction, trace: Fraction, prec: int) -> dict:
    with flint.ctx.workprec(prec):
        b = _basics(t, trace)
        if act.family == "poly":
            values = _poly(b, act.coefficients)
        else:
            values = _FAMILIES[act.family](b, prec)
        values.update(a_t=b["a_t"], h_t=b["h_t"], gamma=b["gamma"])
        values["mu_star"] = values["mu_star_sq"].sqrt() if not values["degenerate"] else arb(0)
        return values


def _guard_bits(t: Fraction, trace: Fraction) -> int:
    """Guard bits for the cancellations at small and large ``t``."""
    tf, psi = float(t), float(trace)
    h = -math.expm1(-2 * tf)
    small_t = math.log2(1 / h) if h > 0 else 0.0
    large_t = 6 * tf / math.log(2) + 3 * max(0.0, math.log2(1 / psi))
    return _BASE_GUARD_BITS + math.ceil(max(small_t, 0.0)) + math.ceil(large_t)


def _worst(values: dict) -> float:
    names = ["mu1", "mu_star_sq", "kappa", "one_minus_kappa"] if not values["degenerate"] else ["mu1"]
    return max(_relative_radius(values[n]) for n in names)


# ---------------------------------------------------------------------------
# Estimate path: user callables, mpmath double run
# ---------------------------------------------------------------------------


def _guard_digits(t: Fraction, trace: Fraction) -> int:
    """Guard digits (mpmath path) for the cancellations at large and small ``t``."""
    tf, psi = float(t), float(trace)
    h = -math.expm1(-2 * tf)
    large_t = 3 * tf / math.log(10) + 1.5 * max(0.0, math.log10(1 / psi))
    small_t = math.log10(1 / h) if h > 0 else 0.0
    return _BASE_GUARD + math.ceil(large_t) + math.ceil(max(small_t, 0.0))


def _constants(
    activation: Activation, t: Fraction, trace: Fraction, dps: int, digits: int, target: int
) -> dict:
    """μ_1, μ_*², κ_t and E ϱ² by mpmath quadrature with ``digits`` working digits.

    ``dps`` (the requested digits) sets when ``μ_*²`` counts as zero;
    ``target`` is the relative accuracy (in digits) asked of the κ_t
    integral.
    """
    with mp.workdps(digits):
        t_mp = mp.mpf(t.numerator) / t.denominator
        psi = mp.mpf(trace.numerator) / trace.denominator
        a = mp.exp(-t_mp)
        h = -mp.expm1(-2 * t_mp)
        gamma = 1 - a * a * (1 - psi)
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
        values = {"shift": mp.mpf(act.shift), "mu1": mu1, "second_moment": second, "gamma": gamma}
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


def _estimate_precision(t: Fraction, trace: Fraction, dps: int) -> int:
    """Binary precision of the balls of an estimate (that of its finer mpmath run)."""
    return math.ceil((dps + _guard_digits(t, trace) + _CHECK_DIGITS) * _LOG2_10) + 16


def _estimated(act: Activation, t: Fraction, trace: Fraction, dps: int) -> tuple[dict, int]:
    guard = _guard_digits(t, trace)
    coarse = _constants(act, t, trace, dps, dps + guard, dps + 5)
    fine_digits = dps + guard + _CHECK_DIGITS
    fine = _constants(act, t, trace, dps, fine_digits, dps + 5 + _CHECK_DIGITS)
    if coarse["degenerate"] != fine["degenerate"]:
        raise QuadratureError(
            "mu_star_sq of %r is zero at one precision and not at the other" % act.name
        )
    prec = _estimate_precision(t, trace, dps)
    with flint.ctx.workprec(prec):
        b = _basics(t, trace)

        def ball(name, mid=None, other=None):
            value = fine[name] if mid is None else mid
            other = coarse[name] if other is None else other
            return _arb_from_mpf(value) + _pm(abs(_arb_from_mpf(other) - _arb_from_mpf(value)))

        values = {"a_t": b["a_t"], "h_t": b["h_t"], "gamma": b["gamma"], "degenerate": fine["degenerate"]}
        values["shift"] = ball("shift")
        values["mu1"] = ball("mu1")
        if fine["degenerate"]:
            values.update(mu_star_sq=arb(0), mu_star=arb(0), kappa=arb(1), one_minus_kappa=arb(0))
        else:
            values["mu_star_sq"] = ball("mu_star_sq")
            values["kappa"] = ball("kappa")
            values["one_minus_kappa"] = 1 - values["kappa"]
            values["mu_star"] = values["mu_star_sq"].sqrt()
        values["note"] = (
            "estimate: %r is a user function without a ball version, so no bound is available; "
            "mpmath quadrature at %d and %d digits, radius = difference of the two runs"
            % (act.name, dps + guard, fine_digits)
        )
    return values, prec


# ---------------------------------------------------------------------------
# Computation
# ---------------------------------------------------------------------------


_PROVEN = ("tanh", "erf", "relu", "poly")


def _goal(dps: int, certified: bool) -> float:
    """Largest relative radius accepted: ``10^-(dps+3)`` for a proven result, ``10^-(dps-5)`` for an estimate."""
    return 10.0 ** -(dps + _EXTRA_DIGITS) if certified else 10.0 ** (5 - dps)


def _start_precision(t: Fraction, trace: Fraction, dps: int) -> int:
    """Binary precision a proven computation starts at (raised if a radius is too wide)."""
    return math.ceil(dps * _LOG2_10) + _guard_bits(t, trace)


def _storable(values: dict) -> dict:
    """``values`` with every ball's radius rounded up to what the disk cache reproduces exactly.

    Done to every result, computed or cached, so that a result read back
    from disk is bit for bit the one computed (see :func:`derivations.dsm.cache.storable`).
    """
    return {**values, **{name: disk.storable(values[name]) for name in GaussianEquivalence.FIELDS}}


def _compute(act: Activation, t: Fraction, trace: Fraction, dps: int) -> GaussianEquivalence:
    """The constants, computed (no cache); arguments already checked."""
    if act.family in _PROVEN:
        goal = _goal(dps, True)
        prec = _start_precision(t, trace, dps)
        for _ in range(_RETRIES):
            values = _storable(_certified(act, t, trace, prec))
            worst = _worst(values)
            if worst <= goal:
                break
            missing = math.log2(worst / goal) if math.isfinite(worst) else prec
            prec += max(32, math.ceil(missing) + 16)
        else:
            raise QuadratureError(
                "Gaussian-equivalence constants of %r at t=%s, trace=%s: relative radius %.3g "
                "above 1e-%d at %d bits" % (act.name, t, trace, worst, dps + 3, prec)
            )
        certified, kind = True, "proven"
    else:
        values, prec = _estimated(act, t, trace, dps)
        values = _storable(values)
        worst = _worst(values)
        if worst > _goal(dps, False):
            raise QuadratureError(
                "Gaussian-equivalence constants of %r at t=%s reached relative "
                "error %.3g, above 1e-%d" % (act.name, t, worst, dps - 5)
            )
        certified, kind = False, "estimate"
    return GaussianEquivalence(
        activation=act.name,
        t=t,
        trace=trace,
        dps=dps,
        prec=prec,
        **{name: values[name] for name in GaussianEquivalence.FIELDS},
        degenerate=values["degenerate"],
        certified=certified,
        error_kind=kind,
        note=values["note"],
        error=worst,
    )


# ---------------------------------------------------------------------------
# Cache: in this process and on disk (derivations.dsm.cache)
# ---------------------------------------------------------------------------

#: What a disk entry depends on besides the arguments: this module and the
#: activations (any edit invalidates every entry) and python-flint's version.
#: None (no source file to read): no disk cache.
try:
    _CODE = hashlib.sha256(
        Path(__file__).read_bytes() + Path(activations.__file__).read_bytes()
    ).hexdigest()
except (OSError, TypeError):
    _CODE = None

#: ``{key: {dps: GaussianEquivalence}}``: every result returned by this process.
_MEMORY: dict = {}


def _keys(spec, act: Activation, t: Fraction, trace: Fraction):
    """The in-process key and the disk key (None: not on disk) of a call.

    A shipped activation is defined by its name, family and exact
    coefficients (the family selects the code, hashed in ``_CODE``). A user
    function has no canonical text: it is kept in this process only, keyed by
    the function object itself (assumed pure), or not at all if unhashable.
    """
    if act.family in _PROVEN:
        definition = {"name": act.name, "family": act.family, "coefficients": [str(c) for c in act.coefficients]}
        disk = {
            "constants": "gaussian_equivalence",
            "activation": definition,
            "t": str(t),
            "trace": str(trace),
            "code": _CODE,
            "python-flint": flint.__version__,
        }
        memory = ("shipped", act.name, act.family, act.coefficients, t, trace)
        return memory, (disk if _CODE is not None else None)
    memory = ("user", act if isinstance(spec, Activation) else spec, t, trace)
    try:
        hash(memory)
    except TypeError:
        return None, None
    return memory, None


def _record(ge: GaussianEquivalence) -> dict:
    """A result as a :mod:`~derivations.dsm.cache` record."""
    return {
        "balls": {name: getattr(ge, name) for name in GaussianEquivalence.FIELDS},
        "fields": {
            "prec": ge.prec,
            "degenerate": ge.degenerate,
            "certified": ge.certified,
            "error_kind": ge.error_kind,
            "note": ge.note,
        },
    }


def _from_record(record: dict, act: Activation, t: Fraction, trace: Fraction, dps: int):
    """The result a record holds, or None if it is malformed or its radii miss the contract."""
    balls, fields = record["balls"], record["fields"]
    prec, degenerate, certified = fields.get("prec"), fields.get("degenerate"), fields.get("certified")
    kind, note = fields.get("error_kind"), fields.get("note")
    if (
        set(balls) != set(GaussianEquivalence.FIELDS)
        or not (isinstance(prec, int) and not isinstance(prec, bool) and prec > 0)
        or not (isinstance(degenerate, bool) and isinstance(certified, bool) and isinstance(note, str))
        or kind != ("proven" if certified else "estimate")
        or dps < MIN_DPS
    ):
        return None
    worst = _worst({**balls, "degenerate": degenerate})
    if not worst <= _goal(dps, certified):
        return None
    return GaussianEquivalence(
        activation=act.name, t=t, trace=trace, dps=dps, prec=prec, **balls,
        degenerate=degenerate, certified=certified, error_kind=kind, note=note, error=worst,
    )


def _cached(spec, act: Activation, t: Fraction, trace: Fraction, dps: int) -> GaussianEquivalence:
    """The constants at ``dps`` from the caches, else computed and added to them.

    Each precision is kept: a precision already returned (in this process or
    stored) gives the same balls again, bit for bit; a precision not yet seen
    is computed. Only the precision asked serves a request (never a lower one,
    and not a higher one rounded: a result must not depend on what the cache
    happened to hold).
    """
    memory_key, disk_key = _keys(spec, act, t, trace)
    if memory_key is None:
        return _compute(act, t, trace, dps)
    levels = _MEMORY.setdefault(memory_key, {})
    if dps in levels:
        return levels[dps]
    root = disk.directory() if disk_key is not None else None
    for level, record in disk.load(disk_key, root).items():
        if level not in levels:
            stored = _from_record(record, act, t, trace, level)
            if stored is not None:
                levels[level] = stored
    if dps in levels:
        return levels[dps]
    result = levels[dps] = _compute(act, t, trace, dps)
    disk.store(disk_key, dps, _record(result), root)
    return result


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def gaussian_equivalence(activation, t, data=1, dps: int = 30, cache: bool = True) -> GaussianEquivalence:
    """Constants ``μ_1``, ``μ_*²``, ``κ_t`` of MODEL.md §5 as balls to ``dps`` digits.

    Computed once per process and kept on disk (see Notes).

    Parameters
    ----------
    activation : str, Activation or callable
        Anything :func:`~derivations.dsm.activations.get_activation`
        accepts. The shipped ones (tanh, erf, relu, poly:...) get proven
        enclosures; any other gets an error estimate (``certified=False``).
    t : number or str
        Diffusion time, ``t > 0``. Floats are read as their shortest decimal
        repr (``0.1`` is ``1/10``); strings and rationals are exact.
    data : DataModel, number or str, optional
        The data model (:class:`~derivations.dsm.data.DataModel`), or
        ``s² = tr(C)/d > 0`` itself (``ψ_D`` for data on a subspace); 1 is
        isotropic data. The constants depend on the data only through ``s²``.
    dps : int, optional
        Significant decimal digits wanted, at least 15. The balls have
        relative radius at most ``10^-(dps+3)`` (shipped activations).
    cache : bool, optional
        False: compute afresh, neither reading nor writing a cache.

    Returns
    -------
    GaussianEquivalence

    Raises
    ------
    EquivalenceError
        For ``t <= 0``, ``s² <= 0``, ``dps < 15`` or a
        ``cache`` that is not a bool.
    ActivationError
        For an unknown or non-centred activation.
    QuadratureError
        If the accuracy is not reached (estimate above ``10^-(dps-5)`` for
        a user function; radius above ``10^-(dps+3)`` after raising the
        precision for a shipped one).

    Notes
    -----
    Results are kept per activation, ``t``, ``s²`` and ``dps``: in this
    process (a user function keyed by the function object, assumed pure)
    and, for the shipped activations, on disk (:mod:`derivations.dsm.cache`;
    folder ``PENCILS_CACHE_DIR``, default ``~/.cache/pencils``, ``off`` for
    none). A disk entry is keyed by the activation's name, family and exact
    coefficients, ``t`` and ``s²`` exactly (together they fix ``Γ``), a digest of the source of this
    module and of :mod:`~derivations.dsm.activations`, python-flint's
    version and the file format, and its balls are stored exactly. So a
    precision already computed gives the same balls, bit for bit, from a
    warm cache or a cold one; a precision not yet seen is computed (another
    precision never serves it, so that no result depends on what the cache
    held).

    Examples
    --------
    >>> ge = gaussian_equivalence("relu", t="0.5", dps=20)
    >>> ge.mu1.str(20, radius=False), ge.degenerate, ge.error_kind
    ('0.50000000000000000000', False, 'proven')
    >>> from flint import arb, ctx
    >>> with ctx.workprec(100):
    ...     (ge.mu_star_sq - (arb(1) / 4 - 1 / (2 * arb.pi()))).contains(0)
    True
    >>> gaussian_equivalence("poly:1", t=1, dps=15).degenerate
    True
    >>> again = gaussian_equivalence("relu", t="1/2", dps=20, cache=False)
    >>> again.kappa.mid().man_exp() == ge.kappa.mid().man_exp()
    True
    """
    act = get_activation(activation)
    t_exact = _parameter(t, "t")
    from .data import DataModel

    trace = _parameter(data.trace if isinstance(data, DataModel) else data, "tr(C)/d")
    if t_exact <= 0:
        raise EquivalenceError("diffusion time t must be > 0, got %s" % t_exact)
    if not trace > 0:
        raise EquivalenceError("tr(C)/d must be > 0, got %s" % trace)
    if isinstance(dps, bool) or not isinstance(dps, int) or dps < MIN_DPS:
        raise EquivalenceError("dps must be an integer >= %d, got %r" % (MIN_DPS, dps))
    if not isinstance(cache, bool):
        raise EquivalenceError("cache must be True or False, got %r" % (cache,))
    if not cache:
        return _compute(act, t_exact, trace, dps)
    return _cached(activation, act, t_exact, trace, dps)
