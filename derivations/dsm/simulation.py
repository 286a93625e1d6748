"""Finite-``d`` simulation of the DSM random-features model (MODEL.md §1-3).

This is the real model, with the true non-linear features: for each seed,

* ``W ∈ R^{p×d}`` i.i.d. ``N(0, 1)``; data ``x_i ~ N(0, C)``, ``i = 1..n``,
  with ``C`` diagonal (without loss of generality: ``W`` is rotation
  invariant) with the eigenvalues of the data model
  (:class:`~derivations.dsm.data.DataModel`): each group ``j`` of the law
  (eigenvalue ``c_j``, weight ``w_j``) gets ``round(w_j d)`` coordinates, the
  counts corrected on the largest groups to add up to ``d``
  (:meth:`~derivations.dsm.data.DataModel.eigenvalues`); ``C = I``, or the
  projector on the first ``D = round(ψ_D d)`` coordinates;
* ``m`` noises per point, ``y_ij = a_t x_i + sqrt(h_t) z_ij``, features
  ``F = ϱ(W Y / sqrt(d))`` with ``ϱ`` centred for ``N(0, Γ)``,
  ``Γ = a_t² tr(C)/d + h_t`` (the realised ``C``);
* ``U = F Fᵀ/(n m)``, ``V = F Zᵀ/(sqrt(h_t) n m)``,
  ``B = Â/sqrt(p) = -Vᵀ (U + λ I)^{-1}``;
* train error, test error (split along and across the support of ``C``, and
  per group of eigen-directions) and DSM test loss, the test quantities on
  ``n_test`` fresh samples.

``U`` and ``V`` are accumulated over chunks of training inputs, so memory
stays bounded (at most ``chunk_entries`` feature entries at once) whatever
``n m``.

``m = ∞``
---------
By default (``m_average="exact"``) ``U^∞``, ``V^∞`` and the train error are
the exact averages over the noise. For a training point ``x_i`` and
``z ~ N(0, I_d)`` the pre-activations are ``u_ik = m_ik + σ_k ξ_k`` with
``m_ik = a_t w_k·x_i/√d``, ``σ_k = sqrt(h_t) |w_k|/√d`` and ``ξ`` standard
normals with correlations ``ρ_kl = w_k·w_l/(|w_k| |w_l|)``. With the
normalised Hermite coefficients
``c_j(i, k) = E[ϱ(m_ik + σ_k ξ) He_j(ξ)]/sqrt(j!)`` (``He_j`` the
probabilists' Hermite polynomials), Mehler's formula gives, for ``k ≠ l``,

    U^∞_kl = (1/n) Σ_i Σ_{j≥0} ρ_kl^j c_j(i, k) c_j(i, l),

summed up to an order ``J`` chosen per seed so that a rigorous bound on the
operator norm of the neglected part is below ``mehler_tolerance`` (see
:func:`_mehler_order`); the diagonal ``U^∞_kk = (1/n) Σ_i E ϱ(u_ik)²`` is
exact. Stein's lemma, ``E[ϱ(u_ik) z] = σ_k E[ϱ'(u_ik)] w_k/|w_k|`` and
``σ_k E ϱ'(u_ik) = c_1(i, k)``, gives ``V^∞`` row by row,
``V^∞_k = ((1/n) Σ_i c_1(i, k)/σ_k) w_k/√d``, and the noise-averaged loss at
the minimiser is ``E_train = 1 - (h_t/d)[tr(VᵀRV) + λ tr(VᵀR²V)]`` (as
``E|z|²/d = 1``).

The coefficients are in closed form for the built-in centred ReLU; for a
smooth activation (no declared kinks) they come from a trapezoidal rule in
``ξ``, whose step is refined until it agrees with half of it to ``1e-12`` (see
:func:`_hermite_coefficients`). Another activation with kinks needs
``m_average="proxy"``.

``m_average="proxy"`` replaces the averages by ``m_proxy`` noise draws per
point, in antithetic pairs ``(z, -z)``: this is the model at finite
``m = m_proxy``, which memorises the noise (a bias of relative size about
``p/(n m_proxy)`` on the train error). The result records the method,
``m_proxy`` and the Mehler orders and bounds.

Examples
--------
>>> r = simulate("tanh", t=0.5, psi_n=2, psi_p=1, lam=0.1, m=1, d=20, seeds=2, n_test=500)
>>> r.n, r.p, r.train_error.values.shape
(40, 20, (2,))
>>> sorted(r.mean) == sorted(METRICS)
True
>>> bool(0 < r.train_error.mean < r.test_error.mean * r.h_t + r.c_t)
True
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from mpmath import mp

from .activations import Activation, erf, get_activation, relu_centred
from .errors import DSMError

__all__ = [
    "MEHLER_TOLERANCE",
    "METRICS",
    "Estimate",
    "SimulationError",
    "SimulationResult",
    "simulate",
]

#: Names of the per-seed metrics of a :class:`SimulationResult`.
METRICS = (
    "train_error",
    "fresh_train_error",
    "test_error",
    "test_error_parallel",
    "test_error_orthogonal",
    "dsm_test_loss",
)
MIN_D = 2
#: Default bound accepted on the operator norm of the neglected tail of the
#: Mehler series of ``U^∞`` (exact noise average).
MEHLER_TOLERANCE = 1e-9
#: New noise draws per training input for ``fresh_train_error`` (finite m).
FRESH_DRAWS = 4
_CENTRING_DPS = 30
_FIRST_ORDER = 16  # first Mehler order tried; doubled while the bound is too large
_MAX_ORDER = 128
_QUADRATURE_TOLERANCE = 1e-12  # trapezoidal Hermite coefficients, per unit of RMS ϱ
_CUTOFF = 13.0  # trapezoidal nodes |ξ| <= 13: the neglected tail is below 1e-19 (Cramér)
_MIN_STEP = 1 / 64  # smallest trapezoidal step tried
_STEP_SAMPLE = 16  # points and features (largest σ) on which the step is chosen


class SimulationError(DSMError):
    """Invalid input to :func:`simulate`, or a singular system at ``λ = 0``."""


@dataclass(frozen=True)
class Estimate:
    """A metric over the seeds.

    Attributes
    ----------
    values : ndarray
        One value per seed.
    mean : float
        Mean over the seeds.
    stderr : float
        Standard error of the mean, ``std(ddof=1)/sqrt(seeds)``; ``nan``
        with a single seed.
    """

    values: np.ndarray
    mean: float
    stderr: float

    @classmethod
    def of(cls, values) -> "Estimate":
        """Mean and standard error of per-seed values.

        Examples
        --------
        >>> e = Estimate.of([1.0, 2.0, 3.0])
        >>> e.mean, round(e.stderr, 6)
        (2.0, 0.57735)
        """
        values = np.asarray(values, dtype=np.float64)
        stderr = values.std(ddof=1) / math.sqrt(values.size) if values.size > 1 else math.nan
        return cls(values=values, mean=float(values.mean()), stderr=float(stderr))


@dataclass(frozen=True)
class SimulationResult:
    """Metrics of :func:`simulate` and the parameters that produced them.

    Attributes
    ----------
    activation : str
        Name of the activation.
    t, psi_n, psi_p, psi_d, lam : float
        Parameters as given (``psi_d``: ``D/d`` of the isotropic and subspace
        models, ``nan`` for another data model).
    data : str
        The data model's text (:attr:`DataModel.text`).
    m : int or float
        Noises per point; ``math.inf`` for the noise-averaged model.
    m_average : str or None
        For ``m = ∞``, ``"exact"`` or ``"proxy"`` (see :func:`simulate`);
        None for finite ``m``.
    m_proxy : int or None
        With ``m_average="proxy"``, the number of antithetic noise draws per
        point used as the proxy of the noise average; None otherwise.
    mehler_order, mehler_bound : ndarray or None
        With ``m_average="exact"``, per seed, the order ``J`` at which the
        Mehler series of ``U^∞`` is truncated and the bound on the operator
        norm of the neglected part; None otherwise.
    d, n, p, D, seeds, n_test : int
        Realised sizes (``n = round(ψ_n d)``, ...; ``D`` the directions with
        a positive eigenvalue of ``C``), seeds, fresh samples.
    a_t, h_t : float
        ``e^{-t}`` and ``1 - e^{-2t}``.
    gamma : float
        Pre-activation variance ``a_t² tr(C)/d + h_t`` the activation is
        centred for; ``shift`` is the constant subtracted to centre it.
    c_t : float
        ``1 - (h_t/d) E||∇ log P_t||²``, so that
        ``L_test = c_t + h_t E_test`` in expectation.
    train_error, test_error, test_error_parallel, test_error_orthogonal,
    dsm_test_loss : Estimate
        ``E_train``, ``E_test`` and its parts along / across the support of
        ``C`` (the data subspace; each normalised by ``d``; they add up),
        ``L_test``.
    groups : dict
        ``{name: Estimate}``: the part of ``E_test`` on each group of
        eigen-directions of ``C`` (``par``, ``perp`` for a subspace, ``g1,
        g2, ...`` for another data model, ``iso``); they add up to ``E_test``.
    fresh_train_error : Estimate
        The loss of the trained score on the training inputs with new noise
        (``FRESH_DRAWS`` draws per input; for the exact noise average, the
        train error itself).
    test_error_mc_se, dsm_test_loss_mc_se : ndarray
        Per seed, the Monte Carlo standard error of ``E_test`` and
        ``L_test`` from the ``n_test`` fresh samples.
    train_error_method : str
        ``"identity"`` or ``"direct"`` (see :func:`simulate`).

    The properties :attr:`mean` and :attr:`stderr` give the means and
    standard errors of the metrics as dicts keyed by ``METRICS``.
    """

    activation: str
    t: float
    psi_n: float
    psi_p: float
    psi_d: float
    data: str
    lam: float
    m: int | float
    m_average: str | None
    m_proxy: int | None
    mehler_order: np.ndarray | None
    mehler_bound: np.ndarray | None
    d: int
    n: int
    p: int
    D: int
    seeds: int
    n_test: int
    a_t: float
    h_t: float
    gamma: float
    shift: float
    c_t: float
    train_error: Estimate
    fresh_train_error: Estimate
    test_error: Estimate
    test_error_parallel: Estimate
    test_error_orthogonal: Estimate
    dsm_test_loss: Estimate
    groups: dict
    test_error_mc_se: np.ndarray
    dsm_test_loss_mc_se: np.ndarray
    train_error_method: str

    def _estimates(self) -> dict:
        groups = {} if self.data in ("iso",) or self.data.startswith("subspace:") else self.groups
        return {**{key: getattr(self, key) for key in METRICS},
                **{f"test_error_{name}": e for name, e in groups.items()}}

    @property
    def mean(self) -> dict[str, float]:
        """``{metric: mean over the seeds}`` for the names in ``METRICS`` (and ``test_error_g1``, ... for a data
        model other than isotropic or subspace)."""
        return {key: e.mean for key, e in self._estimates().items()}

    @property
    def stderr(self) -> dict[str, float]:
        """``{metric: standard error of the mean}``, keyed as :attr:`mean`."""
        return {key: e.stderr for key, e in self._estimates().items()}


def _positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` checked to be an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SimulationError("%s must be an integer >= %d, got %r" % (name, minimum, value))
    return int(value)


def _real(value, name: str) -> float:
    """``value`` checked to be a finite real number, as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SimulationError("%s must be a real number, got %r" % (name, value))
    value = float(value)
    if not math.isfinite(value):
        raise SimulationError("%s must be finite, got %r" % (name, value))
    return value


def _noises_per_point(m) -> int | float:
    """``m`` as a positive int or ``math.inf``."""
    if isinstance(m, str):
        if m.strip().lower() in ("inf", "infinity"):
            return math.inf
        raise SimulationError("m must be a positive integer or 'inf', got %r" % m)
    if isinstance(m, float) and math.isinf(m) and m > 0:
        return math.inf
    return _positive_int(m, "m")


def _size(psi: float, d: int, name: str) -> int:
    """``round(psi d)``, refused when it is 0."""
    size = int(round(psi * d))
    if size < 1:
        raise SimulationError("%s * d = %g rounds to 0; increase d or %s" % (name, psi * d, name))
    return size


@dataclass(frozen=True)
class _Setup:
    """Everything a seed needs, fixed by the parameters."""

    act: Activation
    d: int
    n: int
    p: int
    scale: np.ndarray  # sqrt of the eigenvalues of C (diagonal), length d
    bounds: tuple  # the coordinates of group j are bounds[j]:bounds[j + 1]
    a: float
    h: float
    lam: float
    draws: int | None  # noises per point actually drawn; None: exact noise average
    antithetic: bool
    rows: int  # training or test inputs per chunk
    n_test: int
    chunk_entries: int
    mehler_tolerance: float


def _chunking(setup: _Setup) -> tuple[int, int]:
    """Number of training units and units per chunk.

    A unit is one training input, or an antithetic pair of inputs.
    """
    if setup.antithetic:
        return setup.n * (setup.draws // 2), max(1, setup.rows // 2)
    return setup.n * setup.draws, setup.rows


def _training_chunks(setup: _Setup, x: np.ndarray, w_scaled: np.ndarray, seeds) -> Iterator:
    """``(F, Z)`` per chunk: features (rows × p) and noises (rows × d).

    Units are indexed draw-major (``j n + i``); with antithetic pairs, unit
    ``j n + i`` stands for the two inputs ``a x_i ± sqrt(h) z``. ``seeds``
    holds one SeedSequence per chunk, so a second pass sees the same noises.
    """
    units, per_chunk = _chunking(setup)
    for k, start in enumerate(range(0, units, per_chunk)):
        stop = min(units, start + per_chunk)
        z = np.random.default_rng(seeds[k]).standard_normal((stop - start, setup.d))
        y = setup.a * x[np.arange(start, stop) % setup.n]
        if setup.antithetic:
            z = np.concatenate([z, -z])
            y = np.concatenate([y, y])
        y += math.sqrt(setup.h) * z
        yield setup.act.numpy(y @ w_scaled), z


def _normalised_hermite(x: np.ndarray, order: int) -> np.ndarray:
    """``He_j(x)/sqrt(j!)`` for ``j = 0..order``, stacked along a new first axis.

    The three-term recurrence of the normalised polynomials,
    ``h_{j+1} = (x h_j - sqrt(j) h_{j-1})/sqrt(j+1)``, is stable.

    Examples
    --------
    >>> _normalised_hermite(np.array([2.0]), 3)[:, 0]  # 1, x, (x²-1)/√2, (x³-3x)/√6
    array([1.        , 2.        , 2.12132034, 0.81649658])
    """
    out = np.empty((order + 1,) + np.shape(x))
    out[0] = 1.0
    if order:
        out[1] = x
    for j in range(1, order):
        out[j + 1] = (x * out[j] - math.sqrt(j) * out[j - 1]) / math.sqrt(j + 1)
    return out


def _relu_coefficients(mean: np.ndarray, sigma: np.ndarray, order: int, shift: float):
    """Closed forms of :func:`_hermite_coefficients` for ``ϱ = relu - shift``.

    With ``r = m/σ``, ``φ``, ``Φ`` the normal pdf and cdf, and
    ``E[f(m + σξ) He_j(ξ)] = σ^j E f^(j)(m + σξ)`` (Gaussian integration by
    parts, ``relu'' = δ``):
    ``c_0 = m Φ(r) + σ φ(r) - shift``, ``c_1 = σ Φ(r)``,
    ``c_j = σ φ(r) (-1)^j He_{j-2}(r)/sqrt(j!)`` for ``j >= 2``, and
    ``E ϱ² = (m² + σ²) Φ(r) + m σ φ(r) - 2 shift (c_0 + shift) + shift²``.
    """
    r = mean / sigma
    gauss = sigma * np.exp(-r * r / 2) / math.sqrt(2 * math.pi)  # σ φ(r)
    cdf = 0.5 * (1 + erf.numpy(r / math.sqrt(2)))
    coef = np.empty((order + 1,) + mean.shape)
    relu_mean = mean * cdf + gauss
    coef[0] = relu_mean - shift
    if order:
        coef[1] = sigma * cdf
    previous, current = np.zeros_like(r), np.ones_like(r)  # He_{k-1}, He_k at r, normalised
    for j in range(2, order + 1):
        k = j - 2
        coef[j] = (-1) ** j / math.sqrt(j * (j - 1)) * gauss * current
        previous, current = current, (r * current - math.sqrt(k) * previous) / math.sqrt(k + 1)
    second = (mean * mean + sigma * sigma) * cdf + mean * gauss - 2 * shift * relu_mean + shift**2
    return coef, second


def _trapezoid_rule(step: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``q step`` with ``|q step| <= 13`` and weights ``step φ(q step)``."""
    count = int(_CUTOFF / step)
    nodes = step * np.arange(-count, count + 1)
    return nodes, step / math.sqrt(2 * math.pi) * np.exp(-nodes * nodes / 2)


def _smooth_coefficients(act: Activation, mean, sigma, order: int, step: float):
    """:func:`_hermite_coefficients` by the trapezoidal rule of step ``step``."""
    nodes, weights = _trapezoid_rule(step)
    basis = _normalised_hermite(nodes, order) * weights
    values = act.numpy(mean[..., None] + sigma[:, None] * nodes).reshape(-1, nodes.size)
    coef = (basis @ values.T).reshape((order + 1,) + mean.shape)
    values *= values
    return coef, (values @ weights).reshape(mean.shape)


def _trapezoid_step(act: Activation, mean, sigma, order: int, decay: float) -> float:
    """Largest step ``2^(-k/2)`` that agrees with half of it to the tolerance.

    The trapezoidal rule converges exponentially for an analytic integrand,
    so the difference between steps ``s`` and ``s/2`` is the error of ``s``.
    The changes of the ``c_j`` are summed with the weights ``decay^j``.
    """
    weights = decay ** np.arange(order + 1)
    for k in range(2 * round(math.log2(1 / _MIN_STEP)) + 1):
        step = 2 ** (-k / 2)
        coarse = _smooth_coefficients(act, mean, sigma, order, step)
        fine = _smooth_coefficients(act, mean, sigma, order, step / 2)
        change = max(
            float(np.max(weights @ np.abs(coarse[0] - fine[0]).reshape(order + 1, -1))),
            float(np.max(np.abs(coarse[1] - fine[1]))),
        )
        if change <= _QUADRATURE_TOLERANCE * max(1.0, math.sqrt(float(fine[1].max()))):
            return step
    raise SimulationError(
        "Hermite coefficients of %r not converged at trapezoidal step %g; if the "
        "activation has kinks, declare them and use m_average='proxy'" % (act.name, step)
    )


def _hermite_coefficients(
    act: Activation, mean, sigma, order: int, chunk_entries: int, decay: float = 1.0
):
    """Hermite coefficients of ``ϱ`` smoothed by the noise, and its second moment.

    Parameters
    ----------
    act : Activation
        The (centred) activation ``ϱ``: the built-in centred ReLU (closed
        forms) or an activation without kinks (trapezoidal rule).
    mean : ndarray, shape (n, p)
        Means ``m_ik`` of the pre-activations.
    sigma : ndarray, shape (p,)
        Their noise standard deviations ``σ_k > 0``.
    order : int
        Largest Hermite index ``J``.
    chunk_entries : int
        Largest number of activation values (points × p × nodes) at once.
    decay : float, optional
        The largest factor ``|ρ|`` by which the coefficients are multiplied
        (``c_j`` meets ``ρ^j`` in ``U^∞``): the accuracy asked of ``c_j`` is
        relaxed by ``decay^-j``.

    Returns
    -------
    coef : ndarray, shape (order + 1, n, p)
        ``c_j(i, k) = E[ϱ(m_ik + σ_k ξ) He_j(ξ)]/sqrt(j!)``, ``ξ ~ N(0, 1)``.
    second : ndarray, shape (n, p)
        ``E ϱ(m_ik + σ_k ξ)²``.

    Raises
    ------
    SimulationError
        For an activation with kinks other than the built-in ReLU, or a
        trapezoidal rule that does not converge.

    Notes
    -----
    The trapezoidal rule has nodes ``ξ = q s``, ``|ξ| <= 13``. By Cramér's
    inequality ``|He_j(ξ)|/sqrt(j!) <= 1.09 e^{ξ²/4}``, so for a bounded ``ϱ``
    the neglected tails are below ``1e-19`` for every ``j``. The step ``s``
    is the largest ``2^(-k/2)`` at which the second moment and
    ``Σ_j decay^j |c_j|`` change by at most ``1e-12`` (relative to the RMS of
    ``ϱ`` when above 1) from step ``s/2``, on 16 points and the 16 features
    with the largest ``σ_k`` (a larger ``σ`` brings the singularities of
    ``ϱ`` nearer the real ``ξ`` axis).
    """
    if act.mp_func is relu_centred.mp_func:
        return _relu_coefficients(mean, sigma, order, float(act.shift))
    if act.kinks:
        raise SimulationError(
            "the exact noise average needs a smooth activation or the built-in ReLU; "
            "%r has kinks %s: use m_average='proxy'" % (act.name, act.kinks)
        )
    widest = np.argsort(sigma)[-_STEP_SAMPLE:]
    step = _trapezoid_step(act, mean[:_STEP_SAMPLE, widest], sigma[widest], order, decay)
    points = max(1, chunk_entries // (mean.shape[1] * _trapezoid_rule(step)[0].size))
    coef = np.empty((order + 1,) + mean.shape)
    second = np.empty(mean.shape)
    for start in range(0, mean.shape[0], points):
        block = slice(start, start + points)
        coef[:, block], second[block] = _smooth_coefficients(
            act, mean[block], sigma, order, step
        )
    return coef, second


def _mehler_order(rho: np.ndarray, residual: np.ndarray, tolerance: float):
    """Smallest order whose Mehler tail has operator norm provably below ``tolerance``.

    Parameters
    ----------
    rho : ndarray, shape (p, p)
        Correlations ``ρ_kl`` with a zero diagonal.
    residual : ndarray, shape (J + 1, p)
        Parseval residuals ``r_j(k) = (1/n) Σ_i Σ_{l > j} c_l(i, k)²``.
    tolerance : float

    Returns
    -------
    order : int or None
        The smallest ``j <= J`` with ``bound(j) <= tolerance``; None if none.
    bound : float
        ``bound(order)``, or ``bound(J)`` when ``order`` is None.

    Notes
    -----
    By Cauchy–Schwarz over ``i`` and then over ``l``, the neglected part of
    entry ``(k, k')`` is at most
    ``Σ_{l > j} |ρ|^l sqrt(s_l(k) s_l(k')) <= |ρ|^(j+1) sqrt(r_j(k) r_j(k'))``
    with ``s_l(k) = (1/n) Σ_i c_l(i, k)²``. The neglected part is symmetric,
    so its operator norm (and every entry) is at most its largest absolute
    row sum,
    ``bound(j) = max_k sqrt(r_j(k)) Σ_{k'≠k} |ρ_kk'|^(j+1) sqrt(r_j(k'))``.
    """
    magnitude = np.abs(rho)
    power = magnitude.copy()
    for order, tail in enumerate(residual):
        root = np.sqrt(tail)
        bound = float(np.max(root * (power @ root)))
        if bound <= tolerance:
            return order, bound
        power *= magnitude
    return None, bound


def _averaged_moments(
    act: Activation, a: float, h: float, x, w_scaled, tolerance: float, chunk_entries: int
):
    """Exact noise averages ``U^∞`` and ``V^∞`` for one draw of ``W`` and the data.

    Parameters
    ----------
    act : Activation
        The centred activation.
    a, h : float
        ``a_t`` and ``h_t``.
    x : ndarray, shape (n, d)
        Training points.
    w_scaled : ndarray, shape (d, p)
        ``Wᵀ/√d``.
    tolerance : float
        Bound accepted on the operator norm of the neglected Mehler tail.
    chunk_entries : int
        As for :func:`_hermite_coefficients`.

    Returns
    -------
    u : ndarray, shape (p, p)
        ``U^∞``.
    v : ndarray, shape (p, d)
        ``V^∞``.
    order : int
        Mehler order ``J``.
    bound : float
        Bound on the operator norm of the neglected tail of the series.
    """
    n, p = x.shape[0], w_scaled.shape[1]
    norms = np.linalg.norm(w_scaled, axis=0)  # |w_k|/√d
    sigma = math.sqrt(h) * norms
    rho = w_scaled.T @ w_scaled
    rho /= np.outer(norms, norms)
    np.fill_diagonal(rho, 0.0)
    largest = float(np.abs(rho).max())
    mean = x @ w_scaled
    mean *= a
    order = _FIRST_ORDER
    while True:
        coef, second = _hermite_coefficients(act, mean, sigma, order, chunk_entries, largest)
        diagonal = second.mean(axis=0)
        residual = diagonal - np.cumsum(np.einsum("jik,jik->jk", coef, coef), axis=0) / n
        np.maximum(residual, 0.0, out=residual)
        used, bound = _mehler_order(rho, residual, tolerance)
        if used is not None:
            break
        if order >= _MAX_ORDER:
            raise SimulationError(
                "Mehler series of U^inf not within %g at order %d (bound %.3g, largest "
                "|rho| %.3f): increase d or mehler_tolerance, or use m_average='proxy'"
                % (tolerance, order, bound, largest)
            )
        order *= 2
    u = np.dot(coef[used].T, coef[used])  # np.dot uses the symmetric rank-k update
    for j in range(used - 1, -1, -1):
        u *= rho
        u += np.dot(coef[j].T, coef[j])
    u += u.T  # exactly symmetric whatever the rounding of ρ and of the products
    u /= 2 * n
    u[np.diag_indices(p)] = diagonal
    v = w_scaled.T * (coef[1].mean(axis=0) / sigma)[:, None]
    return u, v, used, bound


def _ridge_solve(u: np.ndarray, v: np.ndarray, lam: float) -> np.ndarray:
    """``R V`` with ``R = (U + λ)^{-1}``; ``λ`` is added to ``u`` in place.

    Raises
    ------
    SimulationError
        If ``λ = 0`` and ``U`` is numerically singular.
    """
    p = u.shape[0]
    if lam == 0:
        eigenvalues = np.linalg.eigvalsh(u)
        if eigenvalues[0] <= p * np.finfo(float).eps * eigenvalues[-1]:
            raise SimulationError(
                "lam = 0 but U is singular (smallest eigenvalue %.3g, largest %.3g); "
                "use lam > 0" % (eigenvalues[0], eigenvalues[-1])
            )
    u[np.diag_indices(p)] += lam
    return np.linalg.solve(u, v)


def _train(setup: _Setup, x: np.ndarray, w_scaled: np.ndarray, noise_seq, direct: bool):
    """``(Bᵀ, E_train, extra)``: the ridge minimiser, its train error, Mehler data.

    ``extra`` holds ``mehler_order`` and ``mehler_bound`` for the exact noise
    average and is empty otherwise.
    """
    d, h, lam = setup.d, setup.h, setup.lam
    if setup.draws is None:
        u, v, order, bound = _averaged_moments(
            setup.act, setup.a, h, x, w_scaled, setup.mehler_tolerance, setup.chunk_entries
        )
        rv = _ridge_solve(u, v, lam)  # R V; Bᵀ = -R V; u now holds U + λ
        extra = {"mehler_order": order, "mehler_bound": bound}
        if direct:  # E_z ||sqrt(h) B ϱ + z||²/d = 1 + (h/d)[tr(B U Bᵀ) + 2 tr(B V)]
            u_rv = u @ rv
            u_rv -= lam * rv
            loss = float(np.einsum("ij,ij->", rv, u_rv)) - 2 * float(np.einsum("ij,ij->", v, rv))
            return -rv, 1 + h / d * loss, extra
        trace = float(np.einsum("ij,ij->", v, rv)) + lam * float(np.einsum("ij,ij->", rv, rv))
        return -rv, 1 - h / d * trace, extra
    units, per_chunk = _chunking(setup)
    chunk_seeds = noise_seq.spawn(-(-units // per_chunk))
    u = np.zeros((setup.p, setup.p))
    v = np.zeros((setup.p, d))
    noise_sq = 0.0
    for f, z in _training_chunks(setup, x, w_scaled, chunk_seeds):
        u += f.T @ f
        v += f.T @ z
        noise_sq += float(np.einsum("ij,ij->", z, z))
    columns = setup.n * setup.draws
    u /= columns
    v /= math.sqrt(h) * columns
    rv = _ridge_solve(u, v, lam)
    if not direct:
        trace = float(np.einsum("ij,ij->", v, rv)) + lam * float(np.einsum("ij,ij->", rv, rv))
        return -rv, noise_sq / (columns * d) - h / d * trace, {}
    residual_sq = 0.0
    for f, z in _training_chunks(setup, x, w_scaled, chunk_seeds):
        r = f @ rv
        r *= -math.sqrt(h)
        r += z
        residual_sq += float(np.einsum("ij,ij->", r, r))
    return -rv, residual_sq / (columns * d), {}


def _evaluate(setup: _Setup, w_scaled: np.ndarray, b_t: np.ndarray, rng) -> dict:
    """Test error (along and across the support of ``C``, and per group), DSM test loss, Monte Carlo errors."""
    d, a, h = setup.d, setup.a, setup.h
    support = setup.scale > 0
    inverse_cov = 1 / (a * a * setup.scale**2 + h)  # ∇ log P_t(y) = -inverse_cov * y
    groups = len(setup.bounds) - 1
    sums = np.zeros(groups + 5)  # groups, parallel, orthogonal, loss, test², loss²
    for start in range(0, setup.n_test, setup.rows):
        rows = min(setup.rows, setup.n_test - start)
        z = rng.standard_normal((rows, d))
        y = math.sqrt(h) * z
        y[:, support] += a * setup.scale[support] * rng.standard_normal((rows, int(support.sum())))
        score = setup.act.numpy(y @ w_scaled) @ b_t
        error = score + y * inverse_cov
        error *= error
        parallel = error[:, support].sum(axis=1) / d
        orthogonal = error[:, ~support].sum(axis=1) / d
        per_group = [error[:, lo:hi].sum() / d for lo, hi in zip(setup.bounds, setup.bounds[1:])]
        score *= math.sqrt(h)
        score += z
        loss = np.einsum("ij,ij->i", score, score) / d
        test = parallel + orthogonal
        sums += [*per_group, parallel.sum(), orthogonal.sum(), loss.sum(), test @ test, loss @ loss]
    k = setup.n_test
    parallel, orthogonal, loss = sums[groups:groups + 3] / k
    test = parallel + orthogonal
    return {
        "test_error": test,
        "test_error_parallel": parallel,
        "test_error_orthogonal": orthogonal,
        "groups": sums[:groups] / k,
        "dsm_test_loss": loss,
        "test_error_mc_se": math.sqrt(max(sums[3] / k - test * test, 0.0) / (k - 1)),
        "dsm_test_loss_mc_se": math.sqrt(max(sums[4] / k - loss * loss, 0.0) / (k - 1)),
    }


def _fresh_noise_loss(setup: _Setup, x: np.ndarray, w_scaled: np.ndarray, b_t: np.ndarray, rng) -> float:
    """The DSM loss of the trained score on the training inputs with new noise, ``FRESH_DRAWS`` per input:
    ``(1/(n d)) sum_i |sqrt(h) s(a x_i + sqrt(h) z) + z|^2`` averaged over the draws."""
    total = 0.0
    for _ in range(FRESH_DRAWS):
        for start in range(0, setup.n, setup.rows):
            z = rng.standard_normal((min(setup.rows, setup.n - start), setup.d))
            y = setup.a * x[start:start + len(z)] + math.sqrt(setup.h) * z
            r = setup.act.numpy(y @ w_scaled) @ b_t
            r *= math.sqrt(setup.h)
            r += z
            total += float(np.einsum("ij,ij->", r, r))
    return total / (FRESH_DRAWS * setup.n * setup.d)


def _one_seed(setup: _Setup, sequence: np.random.SeedSequence, direct: bool) -> dict:
    """Train on one draw of ``W``, the data and the noises; test on fresh samples; the loss on the training
    inputs with fresh noise (for the exact noise average: the train error itself)."""
    w_seq, x_seq, noise_seq, test_seq, fresh_seq = sequence.spawn(5)
    w_scaled = np.random.default_rng(w_seq).standard_normal((setup.p, setup.d)).T
    w_scaled /= math.sqrt(setup.d)
    x = np.zeros((setup.n, setup.d))
    support = setup.scale > 0
    x[:, support] = np.random.default_rng(x_seq).standard_normal((setup.n, int(support.sum())))
    x[:, support] *= setup.scale[support]
    b_t, train, extra = _train(setup, x, w_scaled, noise_seq, direct)
    test = _evaluate(setup, w_scaled, b_t, np.random.default_rng(test_seq))
    fresh = train if setup.draws is None else _fresh_noise_loss(setup, x, w_scaled, b_t,
                                                                 np.random.default_rng(fresh_seq))
    return {"train_error": train, "fresh_train_error": fresh, **test, **extra}


def simulate(
    activation,
    t,
    psi_n,
    psi_p,
    lam,
    m,
    d: int = 200,
    psi_d=None,
    seeds: int = 3,
    n_test: int = 20000,
    seed=0,
    m_average: str = "exact",
    m_proxy: int = 64,
    mehler_tolerance: float = MEHLER_TOLERANCE,
    train_error: str = "identity",
    chunk_entries: int = 2**23,
    data=None,
) -> SimulationResult:
    """Simulate training and testing of the random-features score at finite ``d``.

    Parameters
    ----------
    activation : str, Activation or callable
        As for :func:`~derivations.dsm.activations.get_activation`; centred
        for ``N(0, Γ)`` at 30 digits (or checked, see there).
    t : float
        Diffusion time, ``t > 0``.
    psi_n, psi_p : float
        ``n/d`` and ``p/d`` (``n = round(ψ_n d)``, ``p = round(ψ_p d)``).
    lam : float
        Ridge ``λ >= 0``; ``λ = 0`` needs ``U`` invertible (for finite
        ``m`` or the proxy at least ``n m >= p`` training inputs; checked
        again on ``U``).
    m : int, float or str
        Noises per training point: a positive integer, or ``math.inf`` /
        ``"inf"`` for the noise-averaged model (see ``m_average``).
    d : int, optional
        Dimension, at least 2.
    psi_d : float, optional
        Shorthand for ``data=DataModel.subspace(psi_d)``: ``D/d`` in
        ``(0, 1]``, data supported on the first ``D = round(ψ_D d)``
        coordinates. 1 (the default) is isotropic.
    seeds : int, optional
        Independent repetitions (new ``W``, data, noises and test samples).
    n_test : int, optional
        Fresh samples for the test quantities, at least 2.
    seed : int or numpy.random.SeedSequence, optional
        Root of all the randomness. An int gives results reproducible for a
        given ``chunk_entries`` (the chunks have their own noise streams); a
        SeedSequence is spawned from, so two calls with it differ.
    m_average : {"exact", "proxy"}, optional
        For ``m = ∞`` only (ignored otherwise). ``"exact"``: the noise
        averages in ``U^∞``, ``V^∞`` and ``E_train`` are exact (Hermite
        coefficients and Mehler's formula, see the module notes; needs a
        smooth activation or the built-in ReLU). ``"proxy"``: they are
        averages over ``m_proxy`` noise draws per point, i.e. the model at
        finite ``m = m_proxy`` (train error biased by about ``p/(n m_proxy)``
        relative).
    m_proxy : int, optional
        With ``m_average="proxy"`` only: the even number of noise draws per
        point, in antithetic pairs ``(z, -z)``; ``result.m_proxy`` records it.
    mehler_tolerance : float, optional
        With ``m_average="exact"`` only: the bound accepted on the operator
        norm (hence on every entry) of the neglected tail of the Mehler series
        of ``U^∞``; the order
        grows (up to 128) until it is met.
    train_error : {"identity", "direct"}, optional
        ``"identity"``: ``E_train = ||Z||²/(n m d) - (h/d)[tr(VᵀRV) +
        λ tr(VᵀR²V)]``, ``R = (U + λ)^{-1}`` (with ``||Z||²/(n m d)`` replaced
        by its mean 1 for the exact noise average); ``"direct"``: a second
        pass over the training inputs summing ``||sqrt(h) B ϱ(W y/√d) + z||²``
        (for the exact noise average, ``1 + (h/d)[tr(B U Bᵀ) + 2 tr(B V)]``
        with ``U Bᵀ`` multiplied out).
    chunk_entries : int, optional
        Largest number of feature entries (inputs × p) held at once; for the
        exact noise average, of activation values (points × p × quadrature
        nodes).
    data : DataModel or str, optional
        The data model (:class:`~derivations.dsm.data.DataModel` or its
        text); ``C`` is diagonal with ``round(w_j d)`` coordinates per group
        (see the module notes). Default isotropic (or ``psi_d``).

    Returns
    -------
    SimulationResult

    Raises
    ------
    SimulationError
        For invalid parameters (``t <= 0``, ``ψ <= 0``, ``ψ_D`` outside
        ``(0, 1]``, ``λ < 0``, ``m < 1``, ``d < 2``, ...), a singular
        ``U`` at ``λ = 0``, or an exact noise average out of reach (an
        activation with kinks other than ReLU, a Mehler series not within
        ``mehler_tolerance`` at order 128).
    ActivationError
        For an unknown or non-centred activation.

    Examples
    --------
    A linear activation with a huge ridge learns nothing: ``B ≈ 0``, so the
    test error is ``E||y||²/d = 1`` and ``L_test = 1``.

    >>> r = simulate("poly:1", t=1, psi_n=4, psi_p=1, lam=1e6, m=1, d=20, seeds=2, n_test=2000)
    >>> round(r.test_error.mean, 1), round(r.dsm_test_loss.mean, 1), round(r.c_t, 4)
    (1.0, 1.0, 0.1353)
    """
    act = get_activation(activation)
    t = _real(t, "t")
    from .data import DataModel

    if psi_d is not None:
        psi_d = _real(psi_d, "psi_d")
        if not 0 < psi_d <= 1:
            raise SimulationError("psi_d must be in (0, 1], got %r" % psi_d)
    model = DataModel.of(data, psi_d)
    psi_d = float(model.psi_d) if model.psi_d is not None else math.nan
    psi_n, psi_p, lam = (
        _real(psi_n, "psi_n"),
        _real(psi_p, "psi_p"),
        _real(lam, "lam"),
    )
    if t <= 0:
        raise SimulationError("diffusion time t must be > 0, got %r" % t)
    for name, value in (("psi_n", psi_n), ("psi_p", psi_p)):
        if value <= 0:
            raise SimulationError("%s must be > 0, got %r" % (name, value))
    if lam < 0:
        raise SimulationError("lam must be >= 0, got %r" % lam)
    m = _noises_per_point(m)
    d = _positive_int(d, "d", MIN_D)
    seeds = _positive_int(seeds, "seeds")
    n_test = _positive_int(n_test, "n_test", 2)
    chunk_entries = _positive_int(chunk_entries, "chunk_entries")
    if train_error not in ("identity", "direct"):
        raise SimulationError("train_error must be 'identity' or 'direct', got %r" % (train_error,))
    if m_average not in ("exact", "proxy"):
        raise SimulationError("m_average must be 'exact' or 'proxy', got %r" % (m_average,))
    mehler_tolerance = _real(mehler_tolerance, "mehler_tolerance")
    if mehler_tolerance <= 0:
        raise SimulationError("mehler_tolerance must be > 0, got %r" % mehler_tolerance)
    n, p = _size(psi_n, d, "psi_n"), _size(psi_p, d, "psi_p")
    eigenvalues, group = model.eigenvalues(d)
    big_d = int((eigenvalues > 0).sum())
    if big_d == 0:
        raise SimulationError("no coordinate of C has a positive eigenvalue at d = %d; increase d" % d)
    trace = float(eigenvalues.sum())  # tr(C) of the realised C
    average, used_proxy, draws = None, None, m
    if m == math.inf:
        average, draws = m_average, None
        if m_average == "proxy":
            m_proxy = _positive_int(m_proxy, "m_proxy", 2)
            if m_proxy % 2:
                raise SimulationError("m_proxy must be even (antithetic pairs), got %d" % m_proxy)
            draws, used_proxy = m_proxy, m_proxy
    if lam == 0 and draws is not None and n * draws < p:
        raise SimulationError(
            "lam = 0 needs U invertible, impossible with n*m = %d training inputs "
            "< p = %d features; use lam > 0" % (n * draws, p)
        )

    a = math.exp(-t)
    h = -math.expm1(-2 * t)
    gamma = 1 - a * a * (d - trace) / d  # a² tr(C)/d + h
    with mp.workdps(_CENTRING_DPS):
        centred = act.centred(1 - mp.exp(-2 * mp.mpf(t)) * (d - trace) / d)
    setup = _Setup(
        act=centred,
        d=d,
        n=n,
        p=p,
        scale=np.sqrt(eigenvalues),
        bounds=tuple(int(b) for b in np.searchsorted(group, np.arange(len(model.groups) + 1))),
        a=a,
        h=h,
        lam=lam,
        draws=draws,
        antithetic=used_proxy is not None,
        rows=max(2, chunk_entries // p),
        n_test=n_test,
        chunk_entries=chunk_entries,
        mehler_tolerance=mehler_tolerance,
    )
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    per_seed = [_one_seed(setup, s, train_error == "direct") for s in root.spawn(seeds)]

    def column(key):
        return np.array([r[key] for r in per_seed])

    metrics = {key: Estimate.of(column(key)) for key in METRICS}

    c_t = 1 - h / d * float(np.sum(1 / (a * a * eigenvalues + h)))
    groups = {name: Estimate.of([r["groups"][j] for r in per_seed]) for j, name in enumerate(model.group_names())}
    return SimulationResult(
        activation=act.name,
        t=t,
        psi_n=psi_n,
        psi_p=psi_p,
        psi_d=psi_d,
        data=model.text,
        lam=lam,
        m=m,
        m_average=average,
        m_proxy=used_proxy,
        mehler_order=column("mehler_order") if average == "exact" else None,
        mehler_bound=column("mehler_bound") if average == "exact" else None,
        d=d,
        n=n,
        p=p,
        D=big_d,
        seeds=seeds,
        n_test=n_test,
        a_t=a,
        h_t=h,
        gamma=gamma,
        shift=float(centred.shift),
        c_t=c_t,
        **metrics,
        groups=groups,
        test_error_mc_se=column("test_error_mc_se"),
        dsm_test_loss_mc_se=column("dsm_test_loss_mc_se"),
        train_error_method=train_error,
    )
