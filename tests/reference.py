"""Reference computations written independently of pencils (for tests that must not share its mistakes)."""

import mpmath
import numpy as np
import sympy as sp


def dense_fixed_point(pencil, z, values=None, dps=40, tol=1e-32, max_iter=20000):
    """The full k x k matrix G = (C - eta(G))^{-1}, written here independently of pencils' structure and solver.

    eta is built from the pencil's terms by the free-probability pairing rule (X at (i, j) with X.T at
    (j', i') adds c c' sigma^2 alpha_cols g_{jj'} to eta_{ii'}, X.T at (i, j) with X at (j', i') adds
    c c' sigma^2 alpha_rows g_{jj'}), and G is found by the averaged iteration W -> (W + F(W))/2
    (Helton-Rashidi Far-Speicher), which converges to the Stieltjes solution for Im z > 0, run in
    double precision, then polished at ``dps`` digits by chord-Newton steps on W - F(W) = 0 (the
    Jacobian in double precision) until a step is below ``tol``.
    ``values`` gives exact values (strings) of the other parameters and ratios by name.
    """
    exact = {s: sp.Rational(v) for s in pencil.symbols for n, v in (values or {}).items() if str(s) == n}
    k = pencil.k
    occurrences = [(i, j, t) for (i, j), terms in pencil.terms.items() for t in terms if t.matrix is not None]
    with mpmath.workdps(dps):
        pairs = []
        for i, j, t1 in occurrences:
            for jj, ii, t2 in occurrences:
                a, b = t1.matrix, t2.matrix
                if a.base.name != b.base.name or a.transposed == b.transposed:
                    continue
                alpha = a.base.rows if a.transposed else a.base.cols
                c = sp.nsimplify((t1.coefficient * t2.coefficient * a.base.variance * alpha).subs(exact))
                pairs.append((i, ii, j, jj, mpmath.mpf(c.p) / c.q))
        C0 = pencil.identity_part().subs(exact).subs(sp.Symbol("z"), sp.nsimplify(z))
        C = mpmath.matrix(k, k)
        for r in range(k):
            for c in range(k):
                re, im = sp.N(C0[r, c], dps).as_real_imag()
                C[r, c] = mpmath.mpc(mpmath.mpf(str(re)), mpmath.mpf(str(im)))
        W = _polish(_damped_double(C, pairs, max_iter), C, pairs, k, tol)
        if W is not None:
            return W
    raise AssertionError("the reference iteration did not converge")


def _eta(pairs, W, zeros):
    eta = zeros()
    for i, ii, j, jj, c in pairs:
        eta[i, ii] += c * W[j, jj]
    return eta


def _damped_double(C, pairs, max_iter):
    """The averaged iteration W -> (W + (C - eta(W))^{-1})/2 from W = C^{-1} in complex128, to ~1e-13."""
    k = C.rows
    Cd = np.array(C.tolist(), dtype=complex)
    plain = [(i, ii, j, jj, complex(c)) for i, ii, j, jj, c in pairs]
    W = np.linalg.inv(Cd)
    best = np.inf
    for n in range(max_iter):
        new = (W + np.linalg.inv(Cd - _eta(plain, W, lambda: np.zeros((k, k), complex)))) / 2
        change = np.abs(new - W).sum(axis=0).max()
        W = new
        if change < 1e-13 * max(1.0, np.abs(W).max()) or (n > 200 and change >= best):
            break  # converged in double precision, or rounding noise reached
        best = min(best, change)
    return W


def _polish(Wd, C, pairs, k, tol):
    """Chord-Newton steps on R(W) = W - (C - eta(W))^{-1} at the working precision.

    The Jacobian of R, dW -> dW - F eta(dW) F with F = (C - eta(W))^{-1}, is
    formed once in complex128 at the double-precision fixed point: each step
    multiplies the error by about 1e-12 (the double-precision error of that
    Jacobian), so from ~1e-13 a few steps reach ``tol``. A step smaller than
    ``tol`` (1-norm) ends the iteration, as a change below ``tol`` ended the
    averaged iteration. None if it does not converge.
    """
    plain = [(i, ii, j, jj, complex(c)) for i, ii, j, jj, c in pairs]
    F = np.linalg.inv(np.array(C.tolist(), dtype=complex) - _eta(plain, Wd, lambda: np.zeros((k, k), complex)))
    J = np.eye(k * k, dtype=complex)
    by_source = {}
    for i, ii, j, jj, c in pairs:
        by_source.setdefault((j, jj), []).append((i, ii, complex(c)))
    for (j, jj), targets in by_source.items():
        E = np.zeros((k, k), dtype=complex)
        for i, ii, c in targets:
            E[i, ii] += c
        J[:, j * k + jj] -= (F @ E @ F).ravel()
    W = mpmath.matrix([[mpmath.mpc(complex(x)) for x in row] for row in Wd])
    for _ in range(40):
        R = W - mpmath.inverse(C - _eta(pairs, W, lambda: mpmath.zeros(k, k)))
        step = np.linalg.solve(J, np.array(R.tolist(), dtype=complex).ravel()).reshape(k, k)
        W = W - mpmath.matrix([[mpmath.mpc(complex(x)) for x in row] for row in step])
        if np.abs(step).sum(axis=0).max() < tol:
            return W
    return None


def exact(value):
    """A rational number (string or SymPy) at the current mpmath precision."""
    q = sp.Rational(value)
    return mpmath.mpf(q.p) / q.q


def complex_value(text):
    """``"0.5+1j"`` (or a real number) as an mpmath number at the current precision, read exactly."""
    text = str(text)
    if not text.endswith("j"):
        return mpmath.mpc(exact(text), 0)
    re, im = text[:-1].rsplit("+", 1)
    return mpmath.mpc(exact(re), exact(im))
