"""Random-features ridge regression (derivations/textbook/random_features.py) against references
written here, independently of pencils:

* Mei & Montanari (arXiv:1908.05355), definitions 1-2 and theorem 3: the fixed point
  ``(nu_1, nu_2)`` at ``xi = i sqrt(psi_1 psi_2 lam / mu_star^2)`` solved with ``mpmath.findroot``
  (continued in ``xi`` from ``Im xi`` large), ``chi = nu_1 nu_2``, ``B = E_1/E_0``,
  ``V = E_2/E_0``; the ridgeless ``chi`` in closed form;
* a deterministic equivalent for Adlam–Pennington's ``tau1``, ``tau2``: given ``W`` the
  columns of ``Z`` are Gaussian with covariance ``U/d``, so Silverstein's equation reduces every
  trace to integrals against the Marchenko–Pastur law of ``W W^T`` (``mpmath.quad``);
* the conditional averages of the simulator against explicit draws of ``beta`` and noise;
* (slow) the Gaussian-equivalent model simulated at ``d = 500``.

All references run inside ``mpmath.workdps``; no expected number comes from pencils.
"""

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from derivations.textbook import random_features as rf
from pencils import linearize
from pencils.traces import derivative_form

MU1, MU_STAR = "0.5", "0.3"
POINTS = [("0.5", "1"), ("2", "1"), ("3", "1.5")]  # psi_p/psi_n = 1/2 (under), 2 and 2 (over)
WORK = 80  # digits of the references


def mp(x):
    """A decimal or p/q string as an exact mpf at the current precision."""
    if "/" in str(x):
        num, den = str(x).split("/")
        return mpmath.mpf(num) / mpmath.mpf(den)
    return mpmath.mpf(str(x))


# -- Mei–Montanari -----------------------------------------------------------------------------

def _e012(chi, z, p1, p2):
    """E_0, E_1, E_2 of Mei–Montanari's definition 2 (``z = zeta^2``)."""
    e0 = (-chi**5 * z**3 + 3 * chi**4 * z**2 + (p1 * p2 - p2 - p1 + 1) * chi**3 * z**3 - 2 * chi**3 * z**2
          - 3 * chi**3 * z + (p1 + p2 - 3 * p1 * p2 + 1) * chi**2 * z**2 + 2 * chi**2 * z + chi**2
          + 3 * p1 * p2 * chi * z - p1 * p2)
    e1 = p2 * chi**3 * z**2 - p2 * chi**2 * z + p1 * p2 * chi * z - p1 * p2
    e2 = (chi**5 * z**3 - 3 * chi**4 * z**2 + (p1 - 1) * chi**3 * z**3 + 2 * chi**3 * z**2 + 3 * chi**3 * z
          + (-p1 - 1) * chi**2 * z**2 - 2 * chi**2 * z - chi**2)
    return e0, e1, e2


def mm_nu(psi1, psi2, mu1, mu_star, lam, dps=WORK):
    """``(nu_1, nu_2)`` at ``xi = i sqrt(psi1 psi2 lam / mu_star^2)``: continued from ``Im xi = 100``."""
    with mpmath.workdps(dps):
        p1, p2, z = mp(psi1), mp(psi2), (mp(mu1) / mp(mu_star)) ** 2
        target = mpmath.sqrt(p1 * p2 * mp(lam)) / mp(mu_star)

        def equations(eta):
            xi = mpmath.mpc(0, eta)

            def f(n1, n2):
                s = z / (1 - z * n1 * n2)
                return [n1 * (-xi - n2 - s * n2) - p1, n2 * (-xi - n1 - s * n1) - p2]
            return f

        eta = max(mpmath.mpf(100), 2 * target)
        nu = (mpmath.mpc(0, p1 / eta), mpmath.mpc(0, p2 / eta))  # nu_k ~ psi_k / (-xi) for large eta
        nu = tuple(mpmath.findroot(equations(eta), nu))
        while eta > target:
            eta = max(target, eta / 2)
            nu = tuple(mpmath.findroot(equations(eta), nu))
        assert nu[0].imag > 0 and nu[1].imag > 0  # the branch mapping C+ to C+
        return nu


def mm_bias_variance(psi1, psi2, mu1, mu_star, lam, dps=WORK):
    """Mei–Montanari's ``B`` and ``V`` at ``lam > 0`` (definition 2 with ``lam / mu_star^2``)."""
    with mpmath.workdps(dps):
        n1, n2 = mm_nu(psi1, psi2, mu1, mu_star, lam, dps)
        chi = n1 * n2
        e0, e1, e2 = _e012(chi, (mp(mu1) / mp(mu_star)) ** 2, mp(psi1), mp(psi2))
        return mpmath.re(e1 / e0), mpmath.re(e2 / e0)


def mm_ridgeless(psi1, psi2, mu1, mu_star, dps=WORK):
    """Mei–Montanari theorem 3: ``chi`` at ``lam -> 0+`` in closed form, then ``B = E_1/E_0``, ``V = E_2/E_0``."""
    with mpmath.workdps(dps):
        p1, p2, z = mp(psi1), mp(psi2), (mp(mu1) / mp(mu_star)) ** 2
        psi = min(p1, p2)
        a = psi * z - z - 1
        chi = -(a + mpmath.sqrt(a**2 + 4 * z * psi)) / (2 * z)
        e0, e1, e2 = _e012(chi, z, p1, p2)
        return e1 / e0, e2 / e0


# -- deterministic equivalent for Adlam–Pennington's tau1, tau2 --------------------------------

def mp_integral(f, c):
    """``int f(s) dmu(s)`` for the Marchenko–Pastur law of ``W W^T`` (``W: p x d``, ``N(0, 1/d)``, ``c = p/d``)."""
    m, r = 1 + c, 2 * mpmath.sqrt(c)

    def density(theta):  # s = m + r cos(theta): the square-root edges become smooth
        s = m + r * mpmath.cos(theta)
        return f(s) * (r * mpmath.sin(theta)) ** 2 / (2 * mpmath.pi * c * s)
    total = mpmath.quad(density, [0, mpmath.pi / 2, mpmath.pi])
    if c > 1:
        total += (1 - 1 / c) * f(mpmath.mpf(0))
    return total


def ap_reference(psi_p, psi_n, mu1, mu_star, lam, dps=WORK):
    """``(g_p, tau1, tau2)`` from Silverstein's equation given ``W``, then the Marchenko–Pastur law of ``W W^T``.

    Given ``W``, ``Z = mu1 W X + mu_star Omega`` has i.i.d. columns ``N(0, U/d)``,
    ``U = mu1^2 W W^T + mu_star^2``; ``Q = (Z Z^T + gamma)^{-1}`` has the deterministic
    equivalent ``(a U + gamma)^{-1}``, ``a = psi_n/(1 + delta)``, ``delta = (1/d) tr U (a U + gamma)^{-1}``.
    Regressing ``x_j`` on ``z_j``, ``X = A Z + R`` with ``A = mu1 W^T U^{-1}`` and ``R`` independent,
    of covariance ``(I - mu1^2 W^T U^{-1} W)/d`` per column, so
    ``E tr(X^T X (Z^T Z + gamma)^{-1}) = tr(A^T A (I - gamma Q)) + tr(cov R) tr (Z^T Z + gamma)^{-1}``.
    """
    with mpmath.workdps(dps):
        pp, pn, m1, ms, lm = (mp(x) for x in (psi_p, psi_n, mu1, mu_star, lam))
        gamma = pp * pn * lm

        def u(s):
            return m1**2 * s + ms**2

        def a_of(delta):
            return pn / (1 + delta)

        def silverstein(delta):
            a = a_of(delta)
            return delta - pp * mp_integral(lambda s: u(s) / (a * u(s) + gamma), pp)

        delta = mpmath.findroot(silverstein, mpmath.mpf(1))
        a = a_of(delta)
        g_p = mp_integral(lambda s: 1 / (a * u(s) + gamma), pp)
        tau1 = pp * ((pp / pn) * g_p + (1 - pp / pn) / gamma)
        first = (pp**2 / pn) * mp_integral(lambda s: m1**2 * a * s / (u(s) * (a * u(s) + gamma)), pp)
        residual = 1 - m1**2 * pp * mp_integral(lambda s: s / u(s), pp)
        return g_p, tau1, first + residual * tau1


def agree(value, reference, digits):
    scale = max(1, abs(reference))
    return abs(value - reference) <= mpmath.mpf(10) ** (-digits) * scale


# -- fast tests --------------------------------------------------------------------------------

BLOCKS = {  # blocks of the pencil solved (derivative form where trace chose it) and of the direct pencil
    "features": {"t1": (5, 5), "t2": (7, 9), "t3": (5, 9)},
    "samples": {"t1": (5, 5), "t2": (7, 9), "t3": (6, 8)},
}


@pytest.mark.parametrize("form", rf.FORMS)
def test_expressions_linearise(form):
    for name, expression in rf.error_expressions(form).items():
        direct = linearize(expression)
        assert direct.check.passed
        form_eps = derivative_form(expression, sp.Symbol("epsilon"))
        solved = direct.blocks if form_eps is None else min(direct.blocks, linearize(form_eps[0] * form_eps[1]).blocks)
        assert solved <= BLOCKS[form][name][0] and direct.blocks <= BLOCKS[form][name][1], (name, solved, direct.blocks)
    for name, expression in rf.ap_expressions().items():
        assert linearize(expression).blocks <= {"tau1": 4, "tau2": 5}[name]


@pytest.mark.parametrize("psi_p, psi_n", [("0.75", "1.5"), ("3", "1.5")])
def test_ridge_against_mei_montanari(psi_p, psi_n):
    lam = "0.1"
    theory = rf.bias_variance(psi_p, psi_n, MU1, MU_STAR, lam, dps=40)
    bias, variance = mm_bias_variance(psi_p, psi_n, MU1, MU_STAR, lam)
    with mpmath.workdps(WORK):
        assert agree(theory.bias, bias, 25) and agree(theory.variance, variance, 25), (theory, bias, variance)
        # in fact to every digit asked
        assert agree(theory.bias, bias, 38) and agree(theory.variance, variance, 38)
    assert theory.bias_digits >= 38 and theory.variance_digits >= 38
    assert theory.methods == {"t1": "pencil", "t2": "derivative", "t3": "derivative"}


def test_ridge_forms_agree_and_other_activation_scale():
    # the two forms of M are one matrix for lam > 0; and mu_star != 0.3 exercises zeta, lam/mu_star^2
    a = rf.bias_variance("2", "1", "0.8", "0.45", "0.02", dps=30, form="features")
    b = rf.bias_variance("2", "1", "0.8", "0.45", "0.02", dps=30, form="samples")
    bias, variance = mm_bias_variance("2", "1", "0.8", "0.45", "0.02")
    with mpmath.workdps(WORK):
        for r in (a, b):
            assert agree(r.bias, bias, 27) and agree(r.variance, variance, 27)


@pytest.mark.parametrize("psi_p, psi_n", POINTS)
def test_ridgeless_against_mei_montanari(psi_p, psi_n):
    theory = rf.bias_variance(psi_p, psi_n, MU1, MU_STAR, 0, dps=40)
    assert theory.form == rf.ridgeless_form(psi_p, psi_n)
    bias, variance = mm_ridgeless(psi_p, psi_n, MU1, MU_STAR)
    with mpmath.workdps(WORK):
        assert agree(theory.bias, bias, 25) and agree(theory.variance, variance, 25), (theory, bias, variance)


def test_reference_ridgeless_is_the_limit():
    # the references among themselves: the closed-form chi of theorem 3 is the fixed point at lam -> 0
    closed = mm_ridgeless("3", "1.5", MU1, MU_STAR)
    small = mm_bias_variance("3", "1.5", MU1, MU_STAR, "1e-40")
    with mpmath.workdps(WORK):
        assert agree(small[0], closed[0], 35) and agree(small[1], closed[1], 35)


def test_ridgeless_threshold_refused():
    with pytest.raises(ValueError, match="threshold"):
        rf.bias_variance("1", "1", MU1, MU_STAR, 0)
    with pytest.raises(ValueError, match="only form"):
        rf.bias_variance("0.5", "1", MU1, MU_STAR, 0, form="samples")


@pytest.mark.parametrize("psi_p, psi_n", [("0.75", "1.5"), ("3", "1.5")])
def test_adlam_pennington_taus(psi_p, psi_n):
    lam = "0.1"
    taus = rf.adlam_pennington(psi_p, psi_n, MU1, MU_STAR, lam, dps=40)
    g_p, tau1, tau2 = ap_reference(psi_p, psi_n, MU1, MU_STAR, lam)
    n1, n2 = mm_nu(psi_p, psi_n, MU1, MU_STAR, lam)
    with mpmath.workdps(WORK):
        eta = mpmath.sqrt(mp(psi_p) * mp(psi_n) * mp(lam)) / mp(MU_STAR)
        # Mei–Montanari's nu's are the same resolvent traces: nu_1 = i eta psi_p mu_star^2 g_p,
        # nu_2 = i eta (psi_n / psi_p) mu_star^2 tau1
        assert agree(n1, mpmath.mpc(0, eta * mp(psi_p) * mp(MU_STAR) ** 2 * g_p), 40)
        assert agree(n2, mpmath.mpc(0, eta * mp(psi_n) / mp(psi_p) * mp(MU_STAR) ** 2 * tau1), 40)
        assert agree(taus["tau1"].value, tau1, 25) and agree(taus["tau2"].value, tau2, 25)
    assert taus["tau1"].certified_digits >= 38 and taus["tau2"].certified_digits >= 38


def test_simulator_averages_are_the_conditional_expectations():
    # explicit draws of beta (uniform on the unit sphere) and noise, fitted and scored one by one
    psi_p, psi_n, mu1, mu_star, lam, d = 2.0, 1.0, 0.5, 0.3, 0.1, 30
    sim = rf.simulate(psi_p, psi_n, mu1, mu_star, lam, d, seeds=1, seed=7)
    rng = np.random.default_rng(np.random.SeedSequence(7).spawn(1)[0])
    p, n = sim["p"], sim["n"]
    W = rng.standard_normal((p, d)) / math.sqrt(d)
    X = rng.standard_normal((d, n)) / math.sqrt(d)
    Om = rng.standard_normal((p, n)) / math.sqrt(d)
    F = math.sqrt(d) * (mu1 * W @ X + mu_star * Om)          # the training features sigma(W_raw x / sqrt d)
    draws, tau = 20000, 0.7
    beta = rng.standard_normal((d, draws))
    beta /= np.linalg.norm(beta, axis=0)
    y = math.sqrt(d) * X.T @ beta + tau * rng.standard_normal((n, draws))
    # a = argmin (1/n)|y - F^T a|^2 + (p lam / d)|a|^2
    a = np.linalg.solve(F @ F.T / n + (p * lam / d) * np.eye(p), F @ y / n)
    errors = np.sum((beta - mu1 * W.T @ a) ** 2, axis=0) + mu_star**2 * np.sum(a**2, axis=0)
    expected = sim["bias"][0] + tau**2 * sim["variance"][0]
    assert abs(errors.mean() - expected) < 4 * errors.std() / math.sqrt(draws)


# -- slow: theory against the simulated Gaussian-equivalent model ------------------------------

D, SEEDS = 500, 16
# O(1/d) allowance: real Gaussian ensembles have 1/d corrections to expected normalised traces
# (e.g. E tr (Z Z^T)^{-1} has n - p - 1 where the limit has n - p: a ridgeless variance
# psi_p/(psi_n - psi_p) gets + 2 psi_p/(psi_n - psi_p)^2 / d, that is 2/d at psi = (0.5, 1)).
# Measured coefficients d (E_d - limit) at d = 100, 200, 400 (docs/random_features.md): at most
# 0.3 with lam = 0.1, at most 2.3 ridgeless. Allowance: 0.6/d and 4/d.
ALLOWANCE = {"0.1": 0.6, "0": 4.0}


@pytest.mark.slow
@pytest.mark.parametrize("lam", ["0.1", "0"])
@pytest.mark.parametrize("psi_p, psi_n", POINTS)
def test_theory_against_simulation(psi_p, psi_n, lam):
    theory = rf.bias_variance(psi_p, psi_n, MU1, MU_STAR, lam, dps=20)
    sim = rf.simulate(psi_p, psi_n, MU1, MU_STAR, lam, D, seeds=SEEDS, seed=2024)
    for name, value in (("bias", theory.bias), ("variance", theory.variance)):
        mean, se = sim[name]
        tolerance = 3 * se + ALLOWANCE[lam] / D
        assert abs(mean - float(value)) <= tolerance, (name, mean, se, float(value), tolerance)


def test_risk_assembles_bias_and_variance():
    r = rf.bias_variance("2", "1", MU1, MU_STAR, "0.1", dps=20)
    with mpmath.workdps(30):
        expected = r.bias + (mpmath.mpf("0.25") + mpmath.mpf("0.1")) * r.variance + mpmath.mpf("0.1")
        assert agree(rf.risk(r, 1, "0.25", "0.1"), expected, 28)
