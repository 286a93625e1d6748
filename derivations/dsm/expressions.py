"""The traces of the DSM model written as matrix expressions, and their linearisations.

The hand-written pencils of :mod:`derivations.dsm.pencils` hold, in their
target blocks (``R = (U + lam - zeta Phi_0)^{-1}``, ``Phi_0 = sum_s Sigma_s W_s W_s^T``),

* m = 1:  ``(e_s, f_s)``: ``Z_s (I - F^T R F / psi_n) Z_s^T`` and
  ``(e_s, w_s)``: ``Z_s F^T R W_s / psi_n``, with ``F = mu1 sum_s W_s Y_s + mus Omega``,
  ``Y_s = a X + sqrt(h) Z_s`` on the data subspace and ``sqrt(h) Z_s`` off it,
  ``U = F F^T / psi_n``;
* m = inf: ``(e_s, f_s)``: ``W_s^T R W_s``, with ``G = a mu1 W_data X + mus sqrt(kappa) Omega``,
  ``U = G G^T / psi_n + h mu1^2 sum_s W_s W_s^T + mus^2 (1 - kappa)``.

:func:`expressions` writes the same quantities as SymPy expressions in the same
symbols and random matrices (taken from :func:`~derivations.dsm.pencils.dsm_pencil`),
keyed like :func:`~derivations.dsm.pencils.targets`; :func:`linearizations`
passes them to :func:`pencils.linearize`. ``tests/test_dsm_expressions.py``
checks that the pencils so obtained give the same traces (and derivatives in
``lam`` and ``zeta``) as the hand-written ones.

Examples
--------
>>> e = expressions(1, structured=False)
>>> sorted(e)
[('f', 'iso'), ('w', 'iso')]
>>> e[("w", "iso")].is_commutative
False
"""

import math

import sympy as sp

from pencils import linearize, transpose

from .pencils import SYMBOLS, dsm_pencil, subspaces

__all__ = ["expressions", "features", "linearizations", "resolvent"]

_S = SYMBOLS


def _m(m):
    if m == math.inf or str(m) == "inf":
        return math.inf
    if m == 1 or str(m) == "1":
        return 1
    raise ValueError(f"expressions are written for m = 1 and m = inf, got m = {m!r}")


def _parts(m, structured):
    """``(parts, W, Z, X, Omega)`` with the random matrices of the hand-written pencil."""
    matrices = dsm_pencil(m, structured).matrices
    parts = subspaces(structured)
    W = {s: matrices[f"W_{s}"] for s, _, _, _ in parts}
    Z = {s: matrices[f"Z_{s}"] for s, _, _, _ in parts if f"Z_{s}" in matrices}
    return parts, W, Z, matrices["X"], matrices["Omega"]


def features(structured=False):
    """The m = 1 features ``F = mu1 sum_s W_s Y_s + mus Omega`` (a ``psi_p x psi_n`` expression)."""
    parts, W, Z, X, Omega = _parts(1, structured)
    a, h, mu1, mus = _S["a"], _S["h"], _S["mu1"], _S["mus"]
    F = mus * Omega
    for s, _, _, holds in parts:
        Y = (a * X if holds else 0) + sp.sqrt(h) * Z[s]
        F = F + mu1 * W[s] * Y
    return sp.expand(F)


def resolvent(m, structured=False):
    """``R = (U + lam - zeta Phi_0)^{-1}`` for ``m`` = 1 or inf (a ``psi_p x psi_p`` expression)."""
    m = _m(m)
    parts, W, Z, X, Omega = _parts(m, structured)
    lam, zeta, a, h, mu1, mus, psi_n = (_S[n] for n in ("lam", "zeta", "a", "h", "mu1", "mus", "psi_n"))
    Phi0 = sum((sigma * W[s] * W[s].T for s, _, sigma, _ in parts), sp.Integer(0))
    if m == 1:
        F = features(structured)
        U = F * transpose(F) / psi_n
    else:
        kappa = _S["kappa"]
        data = next(s for s, _, _, holds in parts if holds)
        G = a * mu1 * W[data] * X + mus * sp.sqrt(kappa) * Omega
        U = (G * transpose(G) / psi_n + h * mu1**2 * sum((W[s] * W[s].T for s, _, _, _ in parts), sp.Integer(0))
             + mus**2 * (1 - kappa))
    return (U + lam - zeta * Phi0) ** -1


def expressions(m, structured=False):
    """``{(kind, subspace): expression}``: the traces' matrices, keyed like :func:`~derivations.dsm.pencils.targets`.

    m = 1: ``("f", s)``: ``Z_s (1 - F^T R F / psi_n) Z_s^T``, ``("w", s)``: ``Z_s F^T R W_s / psi_n``;
    m = inf: ``("f", s)``: ``W_s^T R W_s``.
    """
    m = _m(m)
    parts, W, Z, X, Omega = _parts(m, structured)
    R = resolvent(m, structured)
    psi_n = _S["psi_n"]
    result = {}
    for s, _, _, _ in parts:
        if m == 1:
            F = features(structured)
            result[("f", s)] = Z[s] * (1 - transpose(F) * R * F / psi_n) * Z[s].T
            result[("w", s)] = Z[s] * transpose(F) * R * W[s] / psi_n
        else:
            result[("f", s)] = W[s].T * R * W[s]
    return result


def linearizations(m, structured=False, **options):
    """``{(kind, subspace): pencils.Linearization}`` of :func:`expressions` (``options`` go to ``linearize``)."""
    return {key: linearize(expr, **options) for key, expr in expressions(m, structured).items()}
