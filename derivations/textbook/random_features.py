"""Random-features ridge regression (Mei & Montanari) from expressions in random matrices.

The model (Mei & Montanari, *The generalization error of random features
regression: precise asymptotics and double descent curve*, CPAM 2022,
arXiv:1908.05355). Inputs ``x ~ N(0, I_d)``; ``p`` random features
``sigma(w_a . x / sqrt d)`` with ``w_a ~ N(0, I_d)``; ``n`` samples
``y_i = <beta, x_i> + eps_i`` with ``|beta|^2 = F1^2``, ``E eps^2 = tau^2``; the
ridge estimator of Mei–Montanari's normalisation

    a_hat = argmin_a (1/n) sum_i (y_i - a . f(x_i))^2 + (p lam / d) |a|^2 ,

and the test error ``R = E_x (<beta, x> - a_hat . f(x))^2``. Ratios
``psi_p = p/d`` (their ``psi_1``) and ``psi_n = n/d`` (their ``psi_2``).

Gaussian equivalence. With ``mu1 = E g sigma(g)`` and
``mu_star^2 = E sigma(g)^2 - (E sigma(g))^2 - mu1^2`` (``g ~ N(0, 1)``), the
features of the training set are replaced by ``sqrt(d) Z`` and a test feature
by ``mu1 W x + mu_star omega``, where, in the normalisation of
:class:`pencils.GaussianMatrix` (entries of variance ``1/d``),

    Z = mu1 W X + mu_star Omega,    W: p x d,  X: d x n,  Omega: p x n,

and ``omega ~ N(0, I_p)`` is independent of everything (the constant ``mu0``
gives a rank-one term that does not change the limit and is left out). Then

    a_hat = d^{-1/2} M y,    M = (Z Z^T + gamma)^{-1} Z = Z (Z^T Z + gamma)^{-1},
    gamma = psi_p psi_n lam,      y = sqrt(d) X^T beta + eps,

and, with ``U = mu1^2 W W^T + mu_star^2`` (the covariance of a test feature
given ``W``), ``R = |beta - mu1 W^T a_hat|^2 + mu_star^2 |a_hat|^2``. The
average over ``beta`` uniform on the sphere (``E beta beta^T = F1^2 I/d``) and
over the noise turns each quadratic form into a normalised trace
(``(1/N_r) tr``, ``N_r`` the rows of the expression, as :func:`pencils.trace`):

* ``t1 = (1/d) tr(W^T M X^T)``,
* ``t2 = (1/d) tr(X M^T U M X^T)``,
* ``t3 = (1/n) tr(M^T U M)``;

    B = 1 - 2 mu1 t1 + t2,      V = psi_n t3,      R = F1^2 B + tau^2 V

(Mei–Montanari's theorem adds a non-linear target part of power ``F_*^2`` as
``(tau^2 + F_*^2) V + F_*^2``; :func:`risk` takes it as a parameter, the
simulator here does not model it). ``t2`` and ``t3`` hold the same inverse
twice; :func:`pencils.trace` solves them as a derivative in ``epsilon`` of a
smaller pencil (``M^T U M`` is ``d/d epsilon`` of ``Z^T (Z Z^T + gamma -
epsilon U)^{-1} Z``).

Ridgeless limit. At ``lam = 0`` the two forms of ``M`` are no longer equal:
below the interpolation threshold (``psi_p < psi_n``) ``M = (Z Z^T)^{-1} Z``,
above it (``psi_p > psi_n``) ``M = Z (Z^T Z)^{-1}``; either is the
minimum-norm least-squares fit, ``lim_{lam -> 0+}`` of the ridge. The
expressions are then exact at ``lam = 0`` (the Gram matrix that is inverted
has its spectrum away from 0) and are solved there, continued from
``lam = 1``. At ``psi_p = psi_n`` the ridgeless error diverges.

Adlam–Pennington. Their kernel is ``K = F^T F / p + gamma_AP`` (``n x n``)
with ``gamma_AP = psi_n lam`` in the normalisation above, i.e.
``K = Z^T Z / psi_p + psi_n lam``, and

* ``tau1 = (1/n) tr(K^{-1})``,
* ``tau2 = (1/n) tr(X^T X K^{-1})`` (``X^T X`` is their ``X^T X / n_0``),

again normalised traces of rational expressions (:func:`adlam_pennington`).
Mei–Montanari's ``nu_2`` at ``xi = i eta``, ``eta^2 = psi_p psi_n lam /
mu_star^2``, is ``i eta (psi_n/psi_p) mu_star^2 tau1``.

Examples
--------
>>> import mpmath
>>> theory = bias_variance("0.75", "1.5", mu1="0.5", mu_star="0.7", lam="0.1", dps=20)
>>> print(mpmath.nstr(theory.bias, 15), mpmath.nstr(theory.variance, 15))
1.22518418432813 0.551734573745732
>>> theory.traces["t2"].method, theory.blocks
('derivative', {'t1': 5, 't2': 7, 't3': 5})
"""

import math
from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp

from pencils import GaussianMatrix, ratio, trace
from pencils.balls import certified_digits, precision, to_ball

__all__ = [
    "PSI_P", "PSI_N", "MU1", "MU_STAR", "LAM", "W", "X", "OMEGA", "FORMS",
    "features", "estimator", "error_expressions", "ap_expressions", "ridgeless_form",
    "BiasVariance", "bias_variance", "risk", "adlam_pennington", "simulate",
]

PSI_P, PSI_N = ratio("psi_p"), ratio("psi_n")
MU1, MU_STAR = sp.symbols("mu1 mu_star", positive=True)
LAM = sp.Symbol("lam", nonnegative=True)  # not positive: lam = 0 (ridgeless) is a value
W = GaussianMatrix("W", PSI_P, 1)
X = GaussianMatrix("X", 1, PSI_N)
OMEGA = GaussianMatrix("Omega", PSI_P, PSI_N)

FORMS = ("features", "samples")


def features():
    """``(Z, Z^T)`` with ``Z = mu1 W X + mu_star Omega`` (``p x n``), the Gaussian-equivalent features."""
    return MU1 * W * X + MU_STAR * OMEGA, MU1 * X.T * W.T + MU_STAR * OMEGA.T


def estimator(form="features"):
    """``(M, M^T)``: ``a_hat = d^{-1/2} M y``.

    ``form="features"``: ``M = (Z Z^T + gamma)^{-1} Z`` (a ``p x p`` inverse);
    ``form="samples"``: ``M = Z (Z^T Z + gamma)^{-1}`` (``n x n``); equal for
    ``lam > 0``, ``gamma = psi_p psi_n lam``.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    Z, ZT = features()
    gamma = PSI_P * PSI_N * LAM
    if form == "features":
        R = (Z * ZT + gamma) ** -1
        return R * Z, ZT * R
    K = (ZT * Z + gamma) ** -1
    return Z * K, K * ZT


def error_expressions(form="features"):
    """``{"t1", "t2", "t3"}``: the matrices whose normalised traces give the bias and the variance.

    ``B = 1 - 2 mu1 t1 + t2`` and ``V = psi_n t3`` with ``t_k = lim (1/N_r) E tr``
    of these (``N_r = d, d, n``).
    """
    M, MT = estimator(form)
    U = MU1 ** 2 * W * W.T + MU_STAR ** 2
    return {"t1": W.T * M * X.T, "t2": X * MT * U * M * X.T, "t3": MT * U * M}


def ap_expressions():
    """``{"tau1": K^{-1}, "tau2": X^T X K^{-1}}`` with ``K = Z^T Z / psi_p + psi_n lam`` (Adlam–Pennington)."""
    Z, ZT = features()
    K = (ZT * Z / PSI_P + PSI_N * LAM) ** -1
    return {"tau1": K, "tau2": X.T * X * K}


def _rational(value, name):
    """A parameter as an exact Fraction (decimal strings, "p/q", ints, floats by their repr)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"{name} must be a rational number (int, float, str or Fraction), got {value!r}")
    try:
        return Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{name} must be a rational number such as '0.5' or '1/2', got {value!r}") from None


def _point(psi_p, psi_n, mu1, mu_star, lam):
    values = {"psi_p": psi_p, "psi_n": psi_n, "mu1": mu1, "mu_star": mu_star, "lam": lam}
    point = {k: _rational(v, k) for k, v in values.items()}
    for k, v in point.items():
        if v < 0 or (v == 0 and k != "lam"):
            raise ValueError(f"{k} must be {'non-negative' if k == 'lam' else 'positive'}, got {v}")
    return point


def ridgeless_form(psi_p, psi_n):
    """The form of ``M`` that exists at ``lam = 0``: ``"features"`` below the threshold, ``"samples"`` above."""
    psi_p, psi_n = _rational(psi_p, "psi_p"), _rational(psi_n, "psi_n")
    if psi_p == psi_n:
        raise ValueError("the ridgeless error diverges at the interpolation threshold psi_p = psi_n")
    return "features" if psi_p < psi_n else "samples"


class BiasVariance:
    """Bias and variance of random-features ridge regression, and the traces they come from.

    Attributes
    ----------
    point : dict
        Exact parameter values (Fractions).
    form : {"features", "samples"}
        The form of ``M`` linearised.
    traces : dict
        ``{"t1", "t2", "t3"}`` :class:`pencils.Trace` results.
    bias, variance : mpmath.mpf
        ``B = 1 - 2 mu1 t1 + t2`` and ``V = psi_n t3``.
    bias_digits, variance_digits : int
        Digits proven by the enclosures of the traces (assembled in ball arithmetic).
    blocks : dict
        Blocks of the pencil each trace solved.
    """

    def __init__(self, point, form, traces, dps):
        self.point, self.form, self.traces, self.dps = point, form, traces, dps
        mu1, psi_n = point["mu1"], point["psi_n"]
        with mpmath.workdps(dps + 10):
            t = {k: mpmath.re(v.value) for k, v in traces.items()}
            self.bias = 1 - 2 * (mpmath.mpf(mu1.numerator) / mu1.denominator) * t["t1"] + t["t2"]
            self.variance = (mpmath.mpf(psi_n.numerator) / psi_n.denominator) * t["t3"]
        self.bias_digits = self.variance_digits = 0
        if all(v.certified for v in traces.values()):
            with precision(dps=dps + 10):
                e = {k: v.enclosure for k, v in traces.items()}
                bias = 1 - 2 * to_ball(mu1) * e["t1"] + e["t2"]
                variance = to_ball(psi_n) * e["t3"]
                self.bias_digits = certified_digits(bias, dps)
                self.variance_digits = certified_digits(variance, dps)

    @property
    def blocks(self):
        return {k: v.linearization.blocks for k, v in self.traces.items()}

    @property
    def methods(self):
        return {k: v.method for k, v in self.traces.items()}

    def __repr__(self):
        return (f"BiasVariance(B={mpmath.nstr(self.bias, 15)} [{self.bias_digits} digits], "
                f"V={mpmath.nstr(self.variance, 15)} [{self.variance_digits} digits], form={self.form})")


def bias_variance(psi_p, psi_n, mu1, mu_star, lam, dps=30, form=None):
    """``B`` and ``V`` at a point, from :func:`pencils.trace` of :func:`error_expressions`.

    Parameters
    ----------
    psi_p, psi_n, mu1, mu_star, lam : rational (int, str such as ``"0.5"`` or ``"1/2"``, float, Fraction)
        ``lam = 0`` is the ridgeless limit ``lam -> 0+`` (``psi_p != psi_n``).
    dps : int
        Digits.
    form : {"features", "samples"}, optional
        The form of ``M``; default ``"features"`` for ``lam > 0`` and
        :func:`ridgeless_form` at ``lam = 0``.

    Returns
    -------
    BiasVariance
    """
    point = _point(psi_p, psi_n, mu1, mu_star, lam)
    options = {}
    if point["lam"] == 0:
        needed = ridgeless_form(point["psi_p"], point["psi_n"])
        if form not in (None, needed):
            raise ValueError(f"at lam = 0 only form={needed!r} exists for psi_p={point['psi_p']}, psi_n={point['psi_n']}")
        form = needed
        options["start"] = {"lam": 1}  # C is singular at lam = 0: continue from lam = 1
    form = form or "features"
    at = {k: str(v) for k, v in point.items()}
    traces = {k: trace(e, at, dps=dps, **options) for k, e in error_expressions(form).items()}
    return BiasVariance(point, form, traces, dps)


def risk(result, F1_squared=1, tau_squared=0, F_star_squared=0):
    """``R = F1^2 B + (tau^2 + F_*^2) V + F_*^2`` (Mei–Montanari's theorem 1) from a :class:`BiasVariance`."""
    f1, tau, fs = (_rational(v, name) for v, name in ((F1_squared, "F1_squared"), (tau_squared, "tau_squared"),
                                                        (F_star_squared, "F_star_squared")))
    with mpmath.workdps(result.dps + 10):
        f1, tau, fs = (mpmath.mpf(x.numerator) / x.denominator for x in (f1, tau, fs))
        return f1 * result.bias + (tau + fs) * result.variance + fs


def adlam_pennington(psi_p, psi_n, mu1, mu_star, lam, dps=30):
    """``{"tau1": Trace, "tau2": Trace}``: Adlam–Pennington's ``tau1 = (1/n) tr K^{-1}``, ``tau2 = (1/n) tr X^T X K^{-1}``.

    ``K = Z^T Z / psi_p + psi_n lam`` (``lam > 0``).
    """
    point = _point(psi_p, psi_n, mu1, mu_star, lam)
    if point["lam"] == 0:
        raise ValueError("tau1 and tau2 need lam > 0 (K^{-1} blows up at lam = 0 when psi_p < psi_n)")
    at = {k: str(v) for k, v in point.items()}
    return {k: trace(e, at, dps=dps) for k, e in ap_expressions().items()}


def _fit(Z, gamma):
    """``M`` with ``a_hat = d^{-1/2} M y``: the ridge map, or the minimum-norm one at ``gamma = 0``."""
    p, n = Z.shape
    if p <= n:
        G = Z @ Z.T
        if gamma:
            G[np.diag_indices(p)] += gamma
        return np.linalg.solve(G, Z)
    G = Z.T @ Z
    if gamma:
        G[np.diag_indices(n)] += gamma
    return np.linalg.solve(G, Z.T).T


def simulate(psi_p, psi_n, mu1, mu_star, lam, d, seeds=20, seed=0):
    """The Gaussian-equivalent model at dimension ``d``: mean and standard error over draws.

    For each draw: ``W`` (``p x d``), ``X`` (``d x n``), ``Omega`` (``p x n``)
    with i.i.d. ``N(0, 1/d)`` entries, ``p = round(psi_p d)``, ``n =
    round(psi_n d)``; ``Z = mu1 W X + mu_star Omega``; the ridge map ``M``
    with ``gamma = (p/d)(n/d) lam`` (``lam = 0``: the minimum-norm fit,
    ``(Z Z^T)^{-1} Z`` or ``Z (Z^T Z)^{-1}``). The target direction and the
    label noise are averaged exactly (no Monte Carlo over them): with ``A = M X^T``,

        B_d = (1/d) [ |I - mu1 W^T A|_F^2 + mu_star^2 |A|_F^2 ],
        V_d = (1/d) [ mu1^2 |W^T M|_F^2 + mu_star^2 |M|_F^2 ],

    the conditional expectations of ``R`` for ``F1^2 = 1, tau = 0`` and of its
    noise part per unit ``tau^2``, given ``W, X, Omega``.

    Returns
    -------
    dict
        ``{"bias": (mean, se), "variance": (mean, se), "t1": ..., "t2": ..., "t3": ...,
        "d", "p", "n", "seeds"}``; ``se`` is the standard deviation over draws
        divided by ``sqrt(seeds)``.
    """
    point = _point(psi_p, psi_n, mu1, mu_star, lam)
    mu1, mu_star, lam = float(point["mu1"]), float(point["mu_star"]), float(point["lam"])
    d = int(d)
    p, n = round(float(point["psi_p"]) * d), round(float(point["psi_n"]) * d)
    if lam == 0 and p == n:
        raise ValueError("the minimum-norm fit diverges at p = n")
    gamma = (p / d) * (n / d) * lam
    scale = 1 / math.sqrt(d)
    rows = {k: [] for k in ("t1", "t2", "t3", "bias", "variance")}
    for child in np.random.SeedSequence(seed).spawn(int(seeds)):
        rng = np.random.default_rng(child)
        Wd = rng.standard_normal((p, d)) * scale
        Xd = rng.standard_normal((d, n)) * scale
        Om = rng.standard_normal((p, n)) * scale
        Z = mu1 * (Wd @ Xd) + mu_star * Om
        M = _fit(Z, gamma)
        A = M @ Xd.T                      # p x d
        WA = Wd.T @ A                     # d x d
        WM = Wd.T @ M                     # d x n
        t1 = np.trace(WA) / d
        t2 = (mu1 ** 2 * np.sum(WA ** 2) + mu_star ** 2 * np.sum(A ** 2)) / d
        t3 = (mu1 ** 2 * np.sum(WM ** 2) + mu_star ** 2 * np.sum(M ** 2)) / n
        for k, v in (("t1", t1), ("t2", t2), ("t3", t3), ("bias", 1 - 2 * mu1 * t1 + t2),
                     ("variance", (n / d) * t3)):
            rows[k].append(v)
    result = {"d": d, "p": p, "n": n, "seeds": int(seeds)}
    for k, v in rows.items():
        v = np.asarray(v)
        result[k] = (float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan)
    return result
