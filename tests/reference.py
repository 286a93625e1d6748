"""Reference computations written independently of pencils (for tests that must not share its mistakes)."""

import mpmath
import sympy as sp


def dense_fixed_point(pencil, z, values=None, dps=40, tol=1e-32, max_iter=20000):
    """The full k x k matrix G = (C - eta(G))^{-1}, written here independently of pencils' structure and solver.

    eta is built from the pencil's terms by the free-probability pairing rule (X at (i, j) with X.T at
    (j', i') adds c c' sigma^2 alpha_cols g_{jj'} to eta_{ii'}, X.T at (i, j) with X at (j', i') adds
    c c' sigma^2 alpha_rows g_{jj'}), and G is found by the averaged iteration W -> (W + F(W))/2
    (Helton-Rashidi Far-Speicher), which converges to the Stieltjes solution for Im z > 0.
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
        W = mpmath.inverse(C)
        for _ in range(max_iter):
            eta = mpmath.zeros(k, k)
            for i, ii, j, jj, c in pairs:
                eta[i, ii] += c * W[j, jj]
            new = (W + mpmath.inverse(C - eta)) / 2
            change = mpmath.mnorm(new - W, 1)
            W = new
            if change < tol:
                return W
    raise AssertionError("the reference iteration did not converge")
