"""``pencils.trace``: limits of normalised traces of expressions, against closed forms.

Every expected number is computed here, independently of pencils, at 60
digits inside ``mpmath.workdps`` (never from mpmath's global precision):

* Marchenko–Pastur: the root of ``z g^2 - (z + 1 - psi) g + 1 = 0`` that is a
  Stieltjes transform (``g < 0`` at real ``z < 0``, ``Im g < 0`` for
  ``Im z > 0``);
* the product of two Wishart factors: the root of the cubic
  ``g (zg + phi - 1)(zg + psi - 1) - zg + 1 = 0`` in the interval
  ``[1/z, 1/(z - phi psi)]`` that contains the Stieltjes transform of a law
  on ``[0, oo)`` with mean ``phi psi`` at ``z < 0`` (checked to be the only
  root there);
* ridge regression (Hastie, Montanari, Rosset, Tibshirani, isotropic
  features): with ``gamma = p/n`` and ``m(z) = int dmu(s)/(s - z)`` the
  Stieltjes transform of the Marchenko–Pastur law of ``X^T X / n``
  (``gamma z m^2 - (1 - gamma - z) m + 1 = 0``), the bias is
  ``r^2 lam^2 m'(-lam)`` and the variance ``sigma^2 gamma (m(-lam) - lam m'(-lam))``;
  ``m`` from its explicit square root, ``m'`` and ``m''`` by implicit
  differentiation of the quadratic;
* moments by Wick's theorem: ``(1/N) tr X X^T = psi``,
  ``(1/N) tr (X X^T)^2 = psi^2 + psi``, ``(1/N) tr W^4 = 2 s^4`` (Catalan).

Conventions (``docs/concepts.md``): ``GaussianMatrix("X", a, b, variance=v)``
is ``aN x bN`` with entries of variance ``v/N``. For ridge regression ``N = p``
(features), ``X = GaussianMatrix("X", 1, psi, variance=1/psi)`` with
``psi = n/p = 1/gamma`` is ``X_data^T / sqrt(n)``, so ``X X^T`` is the sample
covariance ``X_data^T X_data / n``.
"""

import contextlib
import io
import re
from pathlib import Path

import flint
import mpmath
import pytest
import sympy as sp

from pencils import GaussianMatrix, WignerMatrix, ratio, trace
from pencils.exceptions import DomainError, LinearizationError

REF_DPS = 60
z, lam = sp.Symbol("z"), sp.Symbol("lam", positive=True)
psi, phi, s = ratio("psi"), ratio("phi"), sp.Symbol("s", positive=True)


def close(value, reference, digits):
    """``|value - reference| < 10^-digits max(1, |reference|)``, evaluated at 60 digits."""
    with mpmath.workdps(REF_DPS):
        error = abs(mpmath.mpmathify(value) - reference)
        return error < mpmath.mpf(10) ** -digits * max(1, abs(reference)), mpmath.nstr(error, 5)


def assert_close(t, reference, digits=40, certified=40):
    ok, error = close(t.value, reference, digits)
    assert ok, f"{t}: error {error} against {reference}"
    assert t.certified_digits >= certified, t
    assert contains(t.enclosure, reference), f"{t}: the proven ball misses {reference}"


def contains(ball, reference):
    """Whether a certified ball (flint acb) meets the reference, given to 58 digits."""
    with mpmath.workdps(REF_DPS), flint.ctx.workprec(250):
        reference = mpmath.mpmathify(reference)
        point = flint.acb(flint.arb(mpmath.nstr(mpmath.re(reference), 60), "1e-58"),
                          flint.arb(mpmath.nstr(mpmath.im(reference), 60), "1e-58"))
        return ball.overlaps(point)


# -- independent references --------------------------------------------------------------------

def marchenko_pastur(zv, psiv):
    """The physical root of ``z g^2 - (z + 1 - psi) g + 1 = 0`` (``g = (1/N) tr (z - X X^T)^{-1}``)."""
    with mpmath.workdps(REF_DPS):
        zv, psiv = mpmath.mpmathify(zv), mpmath.mpmathify(psiv)
        roots = mpmath.polyroots([zv, -(zv + 1 - psiv), 1], maxsteps=200, extraprec=200)
        if mpmath.im(zv) == 0:
            assert zv < 0
            # roots of product 1/z < 0: one negative (the Stieltjes transform), one positive
            physical = [g for g in roots if abs(mpmath.im(g)) < mpmath.mpf(10) ** -50 and mpmath.re(g) < 0]
            physical = [mpmath.re(g) for g in physical]
        else:
            assert mpmath.im(zv) > 0
            # Im g < 0 and Im(z g) < 0 for a law on [0, oo); the other root 1/(z g) has Im > 0
            physical = [g for g in roots if mpmath.im(g) < 0]
        assert len(physical) == 1, roots
        return physical[0]


def wishart_product(zv, phiv, psiv):
    """The physical real root at ``z < 0`` of ``g (zg + phi - 1)(zg + psi - 1) - zg + 1 = 0``."""
    with mpmath.workdps(REF_DPS):
        zv, phiv, psiv = (mpmath.mpmathify(v) for v in (zv, phiv, psiv))
        assert zv < 0
        # g = z^2 g^3 + z (phi + psi - 2) g^2 + ((phi - 1)(psi - 1) - z) g + 1
        roots = mpmath.polyroots([zv**2, zv * (phiv + psiv - 2), (phiv - 1) * (psiv - 1) - zv, 1],
                                 maxsteps=200, extraprec=200)
        real = [mpmath.re(g) for g in roots if abs(mpmath.im(g)) < mpmath.mpf(10) ** -50]
        # g = E 1/(z - x) with x >= 0 of mean phi psi: 1/z <= g <= 1/(z - phi psi) (Jensen)
        physical = [g for g in real if 1 / zv <= g <= 1 / (zv - phiv * psiv)]
        assert len(physical) == 1, roots
        return physical[0]


def _mp_root(lamv, gamma):
    """``m(-lam)``, the positive root ``(-b + sqrt(b^2 + 4 gamma lam)) / (2 gamma lam)``, ``b = 1 - gamma + lam``,
    written without cancellation (at the caller's precision)."""
    b = 1 - gamma + lamv
    root = mpmath.sqrt(b**2 + 4 * gamma * lamv)
    return 2 / (b + root) if b >= 0 else (root - b) / (2 * gamma * lamv)


def mp_stieltjes(lamv, gamma):
    """``(m, m', m'')`` at ``z = -lam`` for ``m(z) = int dmu(s)/(s - z)``, MP law of ratio ``gamma``, variance 1."""
    with mpmath.workdps(REF_DPS):
        lamv, gamma = mpmath.mpmathify(lamv), mpmath.mpmathify(gamma)
        zv = -lamv
        m = _mp_root(lamv, gamma)
        # F(m, z) = gamma z m^2 - (1 - gamma - z) m + 1 = 0
        f_m = 2 * gamma * zv * m - (1 - gamma - zv)
        terms = (gamma * zv * m**2, (1 - gamma - zv) * m, 1)
        assert abs(terms[0] - terms[1] + terms[2]) < mpmath.mpf(10) ** -55 * sum(abs(t) for t in terms)
        f_z, f_mm, f_mz = gamma * m**2 + m, 2 * gamma * zv, 2 * gamma * m + 1
        m1 = -f_z / f_m
        m2 = -(f_mm * m1**2 + 2 * f_mz * m1) / f_m
        return m, m1, m2


def hmrt(lamv, psiv):
    """Bias / r^2 and variance / sigma^2 of isotropic ridge regression (HMRT), ``gamma = p/n = 1/psi``."""
    with mpmath.workdps(REF_DPS):
        gamma = 1 / mpmath.mpmathify(psiv)
        lamv = mpmath.mpmathify(lamv)
        m, m1, _ = mp_stieltjes(lamv, gamma)
        return lamv**2 * m1, gamma * (m - lamv * m1)


def ridge_matrices():
    X = GaussianMatrix("X", 1, psi, variance=1 / psi)    # X_data^T / sqrt(n), N = p
    R = (X * X.T + lam) ** -1
    return X, R


def test_references_are_what_they_claim():
    """Sanity of the references themselves (no pencils involved): known closed values and limits."""
    with mpmath.workdps(REF_DPS):
        # MP at psi = 2, z = -1: z g^2 - (z + 1 - psi) g + 1 = -g^2 - 2g + 1 = 0, g = 1 - sqrt 2
        assert abs(marchenko_pastur(-1, 2) - (1 - mpmath.sqrt(2))) < mpmath.mpf(10) ** -55
        # a law of mean phi psi (= 1 here): g = 1/z + phi psi / z^2 + O(z^-3) at large |z|
        zv = -mpmath.mpf(10) ** 6
        g = wishart_product(zv, 1, 1)
        assert abs(g - 1 / zv - 1 / zv**2) < 10 / abs(zv) ** 3
        # m(-lam) is an integral against a probability law: m ~ 1/lam at large lam
        m, m1, m2 = mp_stieltjes(10**8, mpmath.mpf(1) / 3)
        assert abs(m * 10**8 - 1) < 1e-7 and abs(m1 * 10**16 - 1) < 1e-7 and abs(m2 * 10**24 - 2) < 1e-7
        # m' and m'' against numerical differentiation of the explicit root
        lamv, gamma = mpmath.mpf(7) / 10, mpmath.mpf(2) / 3
        m, m1, m2 = mp_stieltjes(lamv, gamma)
        assert abs(mpmath.diff(lambda x: _mp_root(x, gamma), lamv) + m1) < mpmath.mpf(10) ** -40
        assert abs(mpmath.diff(lambda x: _mp_root(x, gamma), lamv, 2) - m2) < mpmath.mpf(10) ** -40
        # ridgeless limits (HMRT Theorem 1 / Corollary): bias 1 - 1/gamma for gamma > 1,
        # variance gamma / (1 - gamma) for gamma < 1 and 1 / (gamma - 1) for gamma > 1
        bias, variance = hmrt(mpmath.mpf(10) ** -20, mpmath.mpf(1) / 2)    # gamma = 2
        assert abs(bias - mpmath.mpf(1) / 2) < 1e-15 and abs(variance - 1) < 1e-15
        bias, variance = hmrt(mpmath.mpf(10) ** -20, 2)                     # gamma = 1/2
        assert abs(bias) < 1e-15 and abs(variance - 1) < 1e-15


# -- the acceptance: closed forms to 40 digits at dps 50 ---------------------------------------

@pytest.mark.parametrize("zv, psiv", [("-1/2", "3/2"), ("-2", "1/3"), ("0.5+1j", "3/2"), ("3+0.25j", "1/2")])
def test_marchenko_pastur_from_the_expression(zv, psiv):
    X = GaussianMatrix("X", 1, psi)
    t = trace((z - X * X.T) ** -1, {"z": zv, "psi": psiv}, dps=50)
    assert t.method == "pencil" and t.linearization.blocks == 2     # as marchenko_pastur.pencil
    assert_close(t, marchenko_pastur(zv, psiv))


@pytest.mark.parametrize("zv, phiv, psiv", [("-1/2", "3/2", "2"), ("-3", "1/2", "5/4")])
def test_wishart_product_from_the_expression(zv, phiv, psiv):
    W, X = GaussianMatrix("W", 1, phi), GaussianMatrix("X", phi, psi)
    t = trace((z - W * X * X.T * W.T) ** -1, {"z": zv, "phi": phiv, "psi": psiv}, dps=50)
    assert t.linearization.blocks == 4                                 # as wishart_product.pencil
    assert_close(t, wishart_product(zv, phiv, psiv))


@pytest.mark.parametrize("lamv, psiv", [("1/2", "3/2"), ("7/10", "1/2")])
def test_ridge_bias_and_variance(lamv, psiv):
    """Bias ``lam^2 (1/p) tr R^2`` and variance ``(1/n) tr X^T R^2 X = (gamma/p) tr R X X^T R`` (r = sigma = 1)."""
    X, R = ridge_matrices()
    at = {"lam": lamv, "psi": psiv}
    bias, variance = hmrt(lamv, psiv)
    t = trace(R * R, at, dps=50)
    assert t.method == "derivative" and t.linearization.blocks == 2   # ridge.pencil, d/d epsilon
    with mpmath.workdps(REF_DPS):
        assert_close(t, bias / mpmath.mpmathify(lamv) ** 2)
    t = trace(lam**2 * R * R, at, dps=50)             # the coefficient costs one block (3)
    assert t.method == "derivative" and t.linearization.blocks <= 3
    assert_close(t, bias)
    t = trace(X.T * R * R * X, at, dps=50)            # rows: n = psi N, so this is (1/n) tr
    assert_close(t, variance)
    t = trace(R * X * X.T * R, at, dps=50)            # (1/p) tr: times gamma = 1/psi
    assert t.method == "derivative" and t.linearization.blocks == 2
    with mpmath.workdps(REF_DPS):
        assert close(t.value, variance * mpmath.mpmathify(psiv), 40)[0]
    assert t.certified_digits >= 40


# -- the two methods, the refusals ---------------------------------------------------------------

@pytest.mark.parametrize("which", ["bias", "variance"])
def test_derivative_and_pencil_methods_agree(which):
    X, R = ridge_matrices()
    expr = R * R if which == "bias" else R * X * X.T * R
    at = {"lam": "3/5", "psi": "5/2"}
    bias, variance = hmrt("3/5", "5/2")
    with mpmath.workdps(REF_DPS):
        reference = bias / mpmath.mpf("0.36") if which == "bias" else variance * mpmath.mpf(5) / 2
    by_derivative = trace(expr, at, dps=30, method="derivative")
    by_pencil = trace(expr, at, dps=30, method="pencil")
    auto = trace(expr, at, dps=30)
    assert by_derivative.method == auto.method == "derivative" and by_pencil.method == "pencil"
    assert by_derivative.linearization.blocks < by_pencil.linearization.blocks
    for t in (by_derivative, by_pencil):
        assert_close(t, reference, digits=28, certified=28)
    assert close(by_derivative.value, by_pencil.value, 28)[0]


def test_derivative_method_needs_a_repeated_inverse():
    X, R = ridge_matrices()
    at = {"lam": 1, "psi": 2}
    for expr in (R, R * X * X.T, X.T * R * X):
        with pytest.raises(DomainError, match="no inverse twice"):
            trace(expr, at, method="derivative")
    with pytest.raises(DomainError, match="method must be"):
        trace(R, at, method="series")


def test_a_non_square_expression_is_refused():
    X, R = ridge_matrices()
    at = {"lam": 1, "psi": 2}
    for expr in (X, R * X, X * X.T * X):
        with pytest.raises(LinearizationError, match="square"):
            trace(expr, at)
    with pytest.raises(LinearizationError):
        trace(lam + 1, at)                           # a scalar


# -- derivatives in a parameter ----------------------------------------------------------------

def test_derivative_in_lam_against_the_closed_form():
    """``(1/p) tr R = m(-lam)``: d/dlam is ``-m'(-lam)``, d^2/dlam^2 is ``m''(-lam)``; for the bias trace
    ``(1/p) tr R^2 = m'(-lam)`` (solved as a derivative) d/dlam is ``-m''(-lam)``; for the variance
    ``(1/n) tr X^T R^2 X = gamma (m - lam m')`` it is ``gamma (lam m'' - 2 m')``."""
    X, R = ridge_matrices()
    lamv, psiv = "7/10", "3/2"
    at = {"lam": lamv, "psi": psiv}
    with mpmath.workdps(REF_DPS):
        m, m1, m2 = mp_stieltjes(mpmath.mpf(7) / 10, mpmath.mpf(2) / 3)
        minus_m1, minus_m2 = -m1, -m2
    t = trace(R, at, dps=30)
    assert close(t.value, m, 28)[0]
    assert close(t.derivative("lam"), minus_m1, 27)[0]
    assert close(t.derivative("lam", order=2), m2, 26)[0]
    t = trace(R * R, at, dps=30)
    assert t.method == "derivative"
    assert close(t.value, m1, 28)[0]
    assert close(t.derivative("lam"), minus_m2, 27)[0]
    # the variance gamma (m - lam m'): d/dlam = gamma (lam m'' - 2 m')
    with mpmath.workdps(REF_DPS):
        gamma, lamv = mpmath.mpf(2) / 3, mpmath.mpf(7) / 10
        variance, slope = gamma * (m - lamv * m1), gamma * (lamv * m2 - 2 * m1)
    t = trace(X.T * R * R * X, at, dps=30)
    assert t.method == "derivative"
    assert close(t.value, variance, 28)[0]
    assert close(t.derivative("lam"), slope, 27)[0]


# -- exact moments -------------------------------------------------------------------------------

def test_moments_of_a_wishart_matrix():
    """Wick: ``(1/N) E tr X X^T = psi`` and ``(1/N) E tr (X X^T)^2 -> psi^2 + psi`` (two planar pairings)."""
    X = GaussianMatrix("X", 1, psi)
    for psiv in ("3/2", "1/3"):
        with mpmath.workdps(REF_DPS):
            exact = mpmath.mpf(sp.Rational(psiv).p) / sp.Rational(psiv).q
            second = exact**2 + exact
        t = trace(X * X.T, {"psi": psiv}, dps=30)
        assert close(t.value, exact, 28)[0], t
        t = trace(X * X.T * X * X.T, {"psi": psiv}, dps=30)
        assert close(t.value, second, 28)[0], t
        t = trace((X * X.T) ** 2, {"psi": psiv}, dps=30)
        assert close(t.value, second, 28)[0], t


def test_fourth_moment_of_a_wigner_matrix():
    """``(1/N) E tr W^4 -> 2 s^4`` (Catalan number C_2, off-diagonal variance s^2/N)."""
    W = WignerMatrix("W", 1, variance=s**2)
    t = trace(W**4, {"s": "3/2"}, dps=30)
    with mpmath.workdps(REF_DPS):
        assert close(t.value, 2 * (mpmath.mpf(3) / 2) ** 4, 28)[0], t
    t = trace(W * W, {"s": "3/2"}, dps=30)
    assert close(t.value, mpmath.mpf(9) / 4, 28)[0], t


# -- the tutorial ----------------------------------------------------------------------------------

def test_the_tutorial_runs_as_printed():
    """docs/linearization.md: its Python blocks run in order in one namespace, and each prints exactly
    the ``text`` block that follows it (none: prints nothing)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "linearization.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)
    namespace, ran = {}, 0
    for n, (language, body) in enumerate(blocks):
        if language != "python":
            continue
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(body, f"docs/linearization.md, Python block {ran + 1}", "exec"), namespace)
        shown = blocks[n + 1][1] if n + 1 < len(blocks) and blocks[n + 1][0] == "text" else ""
        assert printed.getvalue() == shown, f"Python block {ran + 1} prints\n{printed.getvalue()}"
        ran += 1
    assert ran >= 8
