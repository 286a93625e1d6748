"""Finite-``d`` simulation of the DSM random-features model (MODEL.md §1-3).

This is the real model, with the true non-linear features: for each seed,

* ``W ∈ R^{p×d}`` i.i.d. ``N(0, 1)``; data ``x_i ~ N(0, C)``, ``i = 1..n``,
  with ``C = I`` (``ψ_D = 1``) or the projector on the first
  ``D = round(ψ_D d)`` coordinates (without loss of generality);
* ``m`` noises per point, ``y_ij = a_t x_i + sqrt(h_t) z_ij``, features
  ``F = ϱ(W Y / sqrt(d))`` with ``ϱ`` centred for ``N(0, Γ)``,
  ``Γ = a_t² D/d + h_t``;
* ``U = F Fᵀ/(n m)``, ``V = F Zᵀ/(sqrt(h_t) n m)``,
  ``B = Â/sqrt(p) = -Vᵀ (U + λ I)^{-1}``;
* train error, test error (split along and across the data subspace) and
  DSM test loss, the test quantities on ``n_test`` fresh samples.

``U`` and ``V`` are accumulated over chunks of training inputs, so memory
stays bounded (at most ``chunk_entries`` feature entries at once) whatever
``n m``.

``m = ∞``
---------
The noise averages ``E_z`` inside ``U^∞``, ``V^∞`` and the train error have
no closed form for a general activation. They are replaced by a proxy:
``m_proxy`` noise draws per training point, in antithetic pairs ``(z, -z)``,
which is the same computation as finite ``m = m_proxy`` (bias
``O(1/m_proxy)``). The result records ``m_proxy``.

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

from .activations import Activation, get_activation

__all__ = ["METRICS", "Estimate", "SimulationError", "SimulationResult", "simulate"]

#: Names of the per-seed metrics of a :class:`SimulationResult`.
METRICS = (
    "train_error",
    "test_error",
    "test_error_parallel",
    "test_error_orthogonal",
    "dsm_test_loss",
)
MIN_D = 2
_CENTRING_DPS = 30


class SimulationError(ValueError):
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
        Parameters as given.
    m : int or float
        Noises per point; ``math.inf`` for the noise-averaged model.
    m_proxy : int or None
        For ``m = ∞``, the number of antithetic noise draws per point used
        as the proxy of the noise average; None for finite ``m``.
    d, n, p, D, seeds, n_test : int
        Realised sizes (``n = round(ψ_n d)``, ...), seeds, fresh samples.
    a_t, h_t : float
        ``e^{-t}`` and ``1 - e^{-2t}``.
    gamma : float
        Pre-activation variance ``a_t² D/d + h_t`` the activation is
        centred for; ``shift`` is the constant subtracted to centre it.
    c_t : float
        ``1 - (h_t/d) E||∇ log P_t||²``, so that
        ``L_test = c_t + h_t E_test`` in expectation.
    train_error, test_error, test_error_parallel, test_error_orthogonal,
    dsm_test_loss : Estimate
        ``E_train``, ``E_test`` and its parts along / across the data
        subspace (each normalised by ``d``; they add up), ``L_test``.
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
    lam: float
    m: int | float
    m_proxy: int | None
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
    test_error: Estimate
    test_error_parallel: Estimate
    test_error_orthogonal: Estimate
    dsm_test_loss: Estimate
    test_error_mc_se: np.ndarray
    dsm_test_loss_mc_se: np.ndarray
    train_error_method: str

    @property
    def mean(self) -> dict[str, float]:
        """``{metric: mean over the seeds}`` for the names in ``METRICS``."""
        return {key: getattr(self, key).mean for key in METRICS}

    @property
    def stderr(self) -> dict[str, float]:
        """``{metric: standard error of the mean}`` for the names in ``METRICS``."""
        return {key: getattr(self, key).stderr for key in METRICS}


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
    D: int
    a: float
    h: float
    lam: float
    draws: int  # noises per point actually drawn
    antithetic: bool
    rows: int  # training or test inputs per chunk
    n_test: int


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


def _train(setup: _Setup, x: np.ndarray, w_scaled: np.ndarray, noise_seq, direct: bool):
    """``(Bᵀ, E_train)``: the ridge minimiser and its train error."""
    p, d, h, lam = setup.p, setup.d, setup.h, setup.lam
    units, per_chunk = _chunking(setup)
    chunk_seeds = noise_seq.spawn(-(-units // per_chunk))
    u = np.zeros((p, p))
    v = np.zeros((p, d))
    noise_sq = 0.0
    for f, z in _training_chunks(setup, x, w_scaled, chunk_seeds):
        u += f.T @ f
        v += f.T @ z
        noise_sq += float(np.einsum("ij,ij->", z, z))
    columns = setup.n * setup.draws
    u /= columns
    v /= math.sqrt(h) * columns
    if lam == 0:
        eigenvalues = np.linalg.eigvalsh(u)
        if eigenvalues[0] <= p * np.finfo(float).eps * eigenvalues[-1]:
            raise SimulationError(
                "lam = 0 but U is singular (smallest eigenvalue %.3g, largest %.3g); "
                "use lam > 0" % (eigenvalues[0], eigenvalues[-1])
            )
    u[np.diag_indices(p)] += lam
    rv = np.linalg.solve(u, v)  # R V with R = (U + λ)^{-1}; Bᵀ = -R V
    if not direct:
        trace = float(np.einsum("ij,ij->", v, rv)) + lam * float(np.einsum("ij,ij->", rv, rv))
        return -rv, noise_sq / (columns * d) - h / d * trace
    residual_sq = 0.0
    for f, z in _training_chunks(setup, x, w_scaled, chunk_seeds):
        r = f @ rv
        r *= -math.sqrt(h)
        r += z
        residual_sq += float(np.einsum("ij,ij->", r, r))
    return -rv, residual_sq / (columns * d)


def _evaluate(setup: _Setup, w_scaled: np.ndarray, b_t: np.ndarray, rng) -> dict:
    """Test error (both parts), DSM test loss and their Monte Carlo errors."""
    d, D, a, h = setup.d, setup.D, setup.a, setup.h
    inverse_cov = np.full(d, 1 / h)  # ∇ log P_t(y) = -inverse_cov * y
    inverse_cov[:D] = 1 / (a * a + h)
    sums = np.zeros(5)  # parallel, orthogonal, loss, test², loss²
    for start in range(0, setup.n_test, setup.rows):
        rows = min(setup.rows, setup.n_test - start)
        z = rng.standard_normal((rows, d))
        y = math.sqrt(h) * z
        y[:, :D] += a * rng.standard_normal((rows, D))
        score = setup.act.numpy(y @ w_scaled) @ b_t
        error = score + y * inverse_cov
        error *= error
        parallel = error[:, :D].sum(axis=1) / d
        orthogonal = error[:, D:].sum(axis=1) / d
        score *= math.sqrt(h)
        score += z
        loss = np.einsum("ij,ij->i", score, score) / d
        test = parallel + orthogonal
        sums += [parallel.sum(), orthogonal.sum(), loss.sum(), test @ test, loss @ loss]
    k = setup.n_test
    parallel, orthogonal, loss = sums[:3] / k
    test = parallel + orthogonal
    return {
        "test_error": test,
        "test_error_parallel": parallel,
        "test_error_orthogonal": orthogonal,
        "dsm_test_loss": loss,
        "test_error_mc_se": math.sqrt(max(sums[3] / k - test * test, 0.0) / (k - 1)),
        "dsm_test_loss_mc_se": math.sqrt(max(sums[4] / k - loss * loss, 0.0) / (k - 1)),
    }


def _one_seed(setup: _Setup, sequence: np.random.SeedSequence, direct: bool) -> dict:
    """Train on one draw of ``W``, the data and the noises; test on fresh samples."""
    w_seq, x_seq, noise_seq, test_seq = sequence.spawn(4)
    w_scaled = np.random.default_rng(w_seq).standard_normal((setup.p, setup.d)).T
    w_scaled /= math.sqrt(setup.d)
    x = np.zeros((setup.n, setup.d))
    x[:, : setup.D] = np.random.default_rng(x_seq).standard_normal((setup.n, setup.D))
    b_t, train = _train(setup, x, w_scaled, noise_seq, direct)
    return {"train_error": train, **_evaluate(setup, w_scaled, b_t, np.random.default_rng(test_seq))}


def simulate(
    activation,
    t,
    psi_n,
    psi_p,
    lam,
    m,
    d: int = 200,
    psi_d=1.0,
    seeds: int = 3,
    n_test: int = 20000,
    seed=0,
    m_proxy: int = 64,
    train_error: str = "identity",
    chunk_entries: int = 2**23,
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
        Ridge ``λ >= 0``; ``λ = 0`` needs ``U`` invertible (at least
        ``n m >= p`` training inputs, checked again on ``U``).
    m : int, float or str
        Noises per training point: a positive integer, or ``math.inf`` /
        ``"inf"`` for the noise-averaged model (through the proxy
        ``m_proxy``).
    d : int, optional
        Dimension, at least 2.
    psi_d : float, optional
        ``D/d`` in ``(0, 1]``; data supported on the first
        ``D = round(ψ_D d)`` coordinates. 1 is isotropic.
    seeds : int, optional
        Independent repetitions (new ``W``, data, noises and test samples).
    n_test : int, optional
        Fresh samples for the test quantities, at least 2.
    seed : int or numpy.random.SeedSequence, optional
        Root of all the randomness. An int gives results reproducible for a
        given ``chunk_entries`` (the chunks have their own noise streams); a
        SeedSequence is spawned from, so two calls with it differ.
    m_proxy : int, optional
        For ``m = ∞`` only: the exact noise averages in ``U^∞``, ``V^∞`` and
        ``E_train`` are replaced by averages over this even number of noise
        draws per point, in antithetic pairs ``(z, -z)`` (a proxy with bias
        ``O(1/m_proxy)``), and ``result.m_proxy`` records it.
    train_error : {"identity", "direct"}, optional
        ``"identity"``: ``E_train = ||Z||²/(n m d) - (h/d)[tr(VᵀRV) +
        λ tr(VᵀR²V)]``, ``R = (U + λ)^{-1}``; ``"direct"``: a second pass over
        the training inputs summing ``||sqrt(h) B ϱ(W y/√d) + z||²``.
    chunk_entries : int, optional
        Largest number of feature entries (inputs × p) held at once.

    Returns
    -------
    SimulationResult

    Raises
    ------
    SimulationError
        For invalid parameters (``t <= 0``, ``ψ <= 0``, ``ψ_D`` outside
        ``(0, 1]``, ``λ < 0``, ``m < 1``, ``d < 2``, ...) or a singular
        ``U`` at ``λ = 0``.
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
    psi_n, psi_p, psi_d, lam = (
        _real(psi_n, "psi_n"),
        _real(psi_p, "psi_p"),
        _real(psi_d, "psi_d"),
        _real(lam, "lam"),
    )
    if t <= 0:
        raise SimulationError("diffusion time t must be > 0, got %r" % t)
    for name, value in (("psi_n", psi_n), ("psi_p", psi_p)):
        if value <= 0:
            raise SimulationError("%s must be > 0, got %r" % (name, value))
    if not 0 < psi_d <= 1:
        raise SimulationError("psi_d must be in (0, 1], got %r" % psi_d)
    if lam < 0:
        raise SimulationError("lam must be >= 0, got %r" % lam)
    m = _noises_per_point(m)
    d = _positive_int(d, "d", MIN_D)
    seeds = _positive_int(seeds, "seeds")
    n_test = _positive_int(n_test, "n_test", 2)
    chunk_entries = _positive_int(chunk_entries, "chunk_entries")
    if train_error not in ("identity", "direct"):
        raise SimulationError("train_error must be 'identity' or 'direct', got %r" % (train_error,))
    n, p, big_d = _size(psi_n, d, "psi_n"), _size(psi_p, d, "psi_p"), _size(psi_d, d, "psi_d")
    if m == math.inf:
        m_proxy = _positive_int(m_proxy, "m_proxy", 2)
        if m_proxy % 2:
            raise SimulationError("m_proxy must be even (antithetic pairs), got %d" % m_proxy)
        draws, used_proxy = m_proxy, m_proxy
    else:
        draws, used_proxy = m, None
    if lam == 0 and n * draws < p:
        raise SimulationError(
            "lam = 0 needs U invertible, impossible with n*m = %d training inputs "
            "< p = %d features; use lam > 0" % (n * draws, p)
        )

    a = math.exp(-t)
    h = -math.expm1(-2 * t)
    gamma = 1 - a * a * (d - big_d) / d  # a² D/d + h
    with mp.workdps(_CENTRING_DPS):
        centred = act.centred(1 - mp.exp(-2 * mp.mpf(t)) * (d - big_d) / d)
    setup = _Setup(
        act=centred,
        d=d,
        n=n,
        p=p,
        D=big_d,
        a=a,
        h=h,
        lam=lam,
        draws=draws,
        antithetic=used_proxy is not None,
        rows=max(2, chunk_entries // p),
        n_test=n_test,
    )
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    per_seed = [_one_seed(setup, s, train_error == "direct") for s in root.spawn(seeds)]

    def column(key):
        return np.array([r[key] for r in per_seed])

    metrics = {key: Estimate.of(column(key)) for key in METRICS}

    c_t = 1 - h / d * (big_d / (a * a + h) + (d - big_d) / h)
    return SimulationResult(
        activation=act.name,
        t=t,
        psi_n=psi_n,
        psi_p=psi_p,
        psi_d=psi_d,
        lam=lam,
        m=m,
        m_proxy=used_proxy,
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
        test_error_mc_se=column("test_error_mc_se"),
        dsm_test_loss_mc_se=column("dsm_test_loss_mc_se"),
        train_error_method=train_error,
    )
