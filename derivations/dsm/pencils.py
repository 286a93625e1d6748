"""The linear pencils of the DSM random-features model (Gaussian-equivalent form).

Reference dimension ``N = d``. Every random matrix is written with entries of
variance ``1/d`` (the library's convention): ``W = W_true / sqrt(d)`` is
``p x d``, ``X`` (clean data, in the data subspace), ``Z`` (noise) and
``Omega`` (the non-linear residual of the Gaussian equivalence) likewise. With
low-dimensional data the data space splits into the subspace (``par``, ratio
``psi_d``) and its complement (``perp``, ratio ``psi_perp = 1 - psi_d``);
``W``, ``Z`` split accordingly. Isotropic data has one subspace ``iso``.

**m = 1.** The features are ``F = mu1 W Y + mus Omega`` with
``Y = a X + sqrt(h) Z`` (``a = a_t``, ``h = h_t``, ``mus = mu_*``);
``U = F F^T / psi_n``, ``V = F Z^T / (sqrt(h) psi_n)``.

**m = infinity.** ``U = G G^T / psi_n + h mu1^2 W W^T + mus^2 (1 - kappa) I``
with ``G = a mu1 W_par X + mus sqrt(kappa) Omega``, and ``V = mu1 W``.

Both pencils hold the resolvent ``R = (U + lam - zeta Phi_0)^{-1}`` in block
``p`` (``Phi_0 = W Sigma_t W^T``, ``Sigma_t = 1`` on the data subspace and
``h`` off it; ``zeta`` is a source term, set to 0 after differentiating) as
the Schur complement of a block upper-triangular "path" structure (see
``docs/dsm.md``), plus, for each subspace ``s``, an entry block ``e_s`` and
two exit blocks ``f_s``, ``w_s`` such that (``Z_s``, ``W_s`` the parts of
``Z``, ``W`` on the subspace)

* m = 1:  ``(L^{-1})_{e_s f_s} = Z_s (I - F^T R F / psi_n) Z_s^T`` and
  ``(L^{-1})_{e_s w_s} = Z_s F^T R W_s / psi_n``;
* m = inf: ``(L^{-1})_{e_s f_s} = W_s^T R W_s`` (and ``w_s`` is not needed).

Every pencil passes :func:`pencils.montecarlo.linearisation_check` against
:func:`expression` (``tests/test_dsm_pencils.py``).

Examples
--------
>>> L = dsm_pencil(1, structured=False)
>>> L.k, [str(s) for s in L.sizes]
(8, ['psi_p', '1', 'psi_n', '1', '1', '1', '1', '1'])
"""

from pathlib import Path

import numpy as np
import sympy as sp

from pencils import GaussianMatrix, Pencil, Replicas, ratio
from pencils.replicas import copy_index

__all__ = [
    "SYMBOLS", "dsm_pencil", "product_pencil", "subspaces", "blocks_of", "expression", "pencil_path",
    "targets",
]

psi_n, psi_p, psi_d, psi_perp = (ratio(n) for n in ("psi_n", "psi_p", "psi_d", "psi_perp"))
lam = sp.Symbol("lam", real=True)  # lam >= 0 is checked by the model (lam = 0 allowed for m = inf)
zeta = sp.Symbol("zeta", real=True)
xi = sp.Symbol("xi", real=True)  # source of the noise-averaged feature covariance U^inf (fresh=True)
a, h, mus, kappa = sp.symbols("a h mus kappa", positive=True)
mu1 = sp.Symbol("mu1", real=True)
COPIES = sp.Symbol("m", positive=True)  # the number of noise samples per data point, as a parameter
REPLICATED = "m"  # dsm_pencil(REPLICATED): the pencil whose noise-sample blocks are repeated COPIES times

SYMBOLS = {s.name: s for s in (psi_n, psi_p, psi_d, psi_perp, lam, zeta, xi, a, h, mus, kappa, mu1, COPIES)}


def subspaces(structured):
    """``[(name, ratio, Sigma_t on it, holds data)]`` for isotropic or low-dimensional data."""
    if structured:
        return [("par", psi_d, 1, True), ("perp", psi_perp, h, False)]
    return [("iso", 1, 1, True)]


class _Blocks:
    """Named blocks of a pencil under construction."""

    def __init__(self):
        self.names, self.sizes, self.entries = [], [], {}

    def block(self, name, size, diagonal=1):
        self.names.append(name)
        self.sizes.append(size)
        self.entries[(name, name)] = diagonal

    def add(self, row, col, term):
        self.entries[(row, col)] = self.entries.get((row, col), 0) + term

    def pencil(self, parameters, name, description, replicas=None):
        k = len(self.names)
        index = {n: i for i, n in enumerate(self.names)}
        blocks = [[sp.Integer(0)] * k for _ in range(k)]
        for (r, c), term in self.entries.items():
            blocks[index[r]][index[c]] += term
        return Pencil(blocks, self.sizes, parameters, name=name, description=description, replicas=replicas)


def _matrices(structured, m=1):
    """The random matrices: ``W_s``, the noise ``Z_s``, ``X``, and the residual ``Omega`` (for
    replicated noise samples, ``m = "m"``: ``sqrt(kappa) Omega_0 + sqrt(1 - kappa) Omega``, with
    ``Omega_0`` shared and ``Omega``, ``Z_s`` drawn afresh for every noise sample)."""
    parts = subspaces(structured)
    W = {s: GaussianMatrix(f"W_{s}", psi_p, r) for s, r, _, _ in parts}
    Z = {s: GaussianMatrix(f"Z_{s}", r, psi_n) for s, r, _, _ in parts}
    data = next(s for s, _, _, holds in parts if holds)
    X = GaussianMatrix("X", dict((s, r) for s, r, _, _ in parts)[data], psi_n)
    Omega = GaussianMatrix("Omega", psi_p, psi_n)
    if m == REPLICATED:
        Omega = sp.sqrt(kappa) * GaussianMatrix("Omega_0", psi_p, psi_n) + sp.sqrt(1 - kappa) * Omega
    return parts, W, Z, X, Omega


def _resolvent_blocks(m, structured, suffix="", fresh=False):
    """The blocks whose Schur complement on block ``p`` is ``U + lam - zeta Phi_0``.

    ``m`` is 1, ``inf`` or ``"m"`` (one noise sample of the replicated pencil, whose count is
    the symbol ``m``: the sample's blocks ``n``, ``d_s``, ``d2_s`` are the replicated ones).
    ``fresh`` (``m = "m"`` only) adds the source ``- xi U^inf``, the noise-averaged feature
    covariance ``U^inf = G G^T / psi_n + h mu1^2 W W^T + mus^2 (1 - kappa)`` with
    ``G = a mu1 W_data X + mus sqrt(kappa) Omega_0`` (three blocks ``dG``, ``nG``, ``d2G`` that
    are not replicated: ``G`` is shared by the noise samples).
    """
    if fresh and m != REPLICATED:
        raise ValueError("the fresh-noise source exists for the replicated pencil (m = 'm') only")
    parts, W, Z, X, Omega = _matrices(structured, m)
    b = _Blocks()
    p = "p" + suffix
    if m != np.inf:
        count = COPIES if m == REPLICATED else 1
        n = f"n{suffix}"
        b.block(p, psi_p, lam)
        for s, r, sigma, holds in parts:
            # p -> d_s -> n -> d2_s -> p : mu1 W_s Y_s (mu1 W_s Y_s)^T / (psi_n m)
            Y = (a * X if holds else 0) + sp.sqrt(h) * Z[s]
            Yt = (a * X.T if holds else 0) + sp.sqrt(h) * Z[s].T
            b.block(f"d_{s}{suffix}", r)
            b.add(p, f"d_{s}{suffix}", mu1 * W[s])
            b.add(f"d_{s}{suffix}", n, -Y)
            b.add(n, f"d2_{s}{suffix}", -Yt)
            b.add(f"d2_{s}{suffix}", p, -(mu1 / (psi_n * count)) * W[s].T)
        b.block(n, psi_n)
        for s, r, _, _ in parts:
            b.block(f"d2_{s}{suffix}", r)
        b.add(p, n, mus * Omega)
        b.add(n, p, -(mus / (psi_n * count)) * _transpose(Omega))
        for s, r, sigma, _ in parts:  # source -zeta W_s Sigma_s W_s^T (and -xi h mu1^2 W_s W_s^T)
            b.block(f"v_{s}{suffix}", r)
            b.add(p, f"v_{s}{suffix}", W[s])
            b.add(f"v_{s}{suffix}", p, (zeta * sigma + (xi * h * mu1**2 if fresh else 0)) * W[s].T)
        if fresh:  # -xi (G G^T / psi_n + mus^2 (1 - kappa)): p -> dG -> nG -> d2G -> p and p -> nG -> p
            data, r_data = next((s, r) for s, r, _, holds in parts if holds)
            Omega_0 = GaussianMatrix("Omega_0", psi_p, psi_n)
            b.entries[(p, p)] -= xi * mus**2 * (1 - kappa)
            b.block(f"dG{suffix}", r_data)
            b.block(f"nG{suffix}", psi_n)
            b.block(f"d2G{suffix}", r_data)
            b.add(p, f"dG{suffix}", a * mu1 * W[data])
            b.add(f"dG{suffix}", f"nG{suffix}", -X)
            b.add(f"nG{suffix}", f"d2G{suffix}", -X.T)
            b.add(f"d2G{suffix}", p, (xi * a * mu1 / psi_n) * W[data].T)
            b.add(p, f"nG{suffix}", mus * sp.sqrt(kappa) * Omega_0)
            b.add(f"nG{suffix}", p, (xi * mus * sp.sqrt(kappa) / psi_n) * Omega_0.T)
    else:
        n = "n" + suffix
        b.block(p, psi_p, lam + mus**2 * (1 - kappa))
        data = next(s for s, _, _, holds in parts if holds)
        r_data = next(r for s, r, _, holds in parts if holds)
        # G = a mu1 W_data X + mus sqrt(kappa) Omega : p -> d -> n -> d2 -> p and p -> n -> p
        b.block(f"d{suffix}", r_data)
        b.block(n, psi_n)
        b.block(f"d2{suffix}", r_data)
        b.add(p, f"d{suffix}", a * mu1 * W[data])
        b.add(f"d{suffix}", n, -X)
        b.add(n, f"d2{suffix}", -X.T)
        b.add(f"d2{suffix}", p, -(a * mu1 / psi_n) * W[data].T)
        b.add(p, n, mus * sp.sqrt(kappa) * Omega)
        b.add(n, p, -(mus * sp.sqrt(kappa) / psi_n) * Omega.T)
        for s, r, sigma, _ in parts:  # h mu1^2 W_s W_s^T - zeta Sigma_s W_s W_s^T
            b.block(f"v_{s}{suffix}", r)
            b.add(p, f"v_{s}{suffix}", W[s])
            b.add(f"v_{s}{suffix}", p, (zeta * sigma - h * mu1**2) * W[s].T)
    return b


def _transpose(expr):
    """The transpose of a linear combination of random matrices."""
    return expr.xreplace({x: x.T for x in expr.atoms(GaussianMatrix)})


def _parameters(m, fresh=False):
    common = [lam, zeta, a, h, mu1, mus]
    return common + ([kappa] if m != 1 else []) + ([COPIES] if m == REPLICATED else []) + ([xi] if fresh else [])


def dsm_pencil(m, structured=False, fresh=False):
    """The pencil of the DSM model for ``m`` noise samples per data point.

    Parameters
    ----------
    m : 1, math.inf, ``"m"`` or an integer >= 2
        ``"m"``: the replicated pencil, one noise sample's blocks (``n``,
        ``d_s``, ``d2_s``) repeated ``m`` times with ``m`` a symbol (a
        parameter of the pencil); its Dyson system has the same size for
        every ``m`` (:mod:`pencils.reduction`). An integer ``m >= 2``: that
        pencil expanded to ``m`` explicit copies (``3m + 5`` blocks for
        isotropic data), for checks. ``1``: the pencil of one sample (no
        ``kappa``).
    structured : bool
        Data on a subspace of ratio ``psi_d`` (then ``psi_perp = 1 - psi_d``
        is a second ratio) instead of isotropic data.
    fresh : bool
        For ``m = "m"`` only: block ``p`` holds ``R = (U + lam - zeta Phi_0 -
        xi U^inf)^{-1}`` with ``U^inf`` the features' covariance averaged over
        the noise at the training data (parameter ``xi``, set to 0 after
        differentiating): the derivative in ``xi`` gives the loss of the
        trained score on the training data with fresh noise
        (:mod:`derivations.dsm.theory`).

    Returns
    -------
    pencils.Pencil
        Its targets are given by :func:`targets`; ``block_names`` names its blocks.
    """
    if m == REPLICATED or str(m) == str(COPIES):
        m = REPLICATED
    elif fresh:
        raise ValueError("fresh=True needs the replicated pencil, m = 'm'")
    elif m != np.inf and (int(m) != m or m < 1):
        raise ValueError(f"m is a positive integer, inf or 'm', got m = {m}")
    else:
        m = m if m == np.inf else int(m)
    if m not in (1, np.inf, REPLICATED):
        template = dsm_pencil(REPLICATED, structured)
        L = template.expand(m)
        index = copy_index(template, m)
        names = {i: template.block_names[t] + ("" if c is None else f"_{c + 1}") for (t, c), i in index.items()}
        L.block_names = tuple(names[i] for i in range(L.k))
        return L
    parts, W, Z, X, Omega = _matrices(structured, m)
    b = _Blocks()
    names = _resolvent_blocks(m, structured, fresh=fresh)
    b.names, b.sizes, b.entries = names.names, names.sizes, names.entries
    for s, r, _, _ in parts:
        b.block(f"e_{s}", r)
        b.block(f"f_{s}", r)
        if m != np.inf:
            b.block(f"w_{s}", r)
            b.add(f"e_{s}", "n", -Z[s])
            b.add("n", f"f_{s}", -Z[s].T)
            b.add("p", f"w_{s}", -W[s])
        else:
            b.add(f"e_{s}", "p", -W[s].T)
            b.add("p", f"f_{s}", -W[s])
    kind = "low-dimensional" if structured else "isotropic"
    mname = {1: "1", np.inf: "inf", REPLICATED: "m"}[m]
    description = (
        f"DSM random features, m = {mname}, {kind} data: block p of the inverse is "
        "R = (U + lam - zeta W Sigma_t W^T)^{-1}; entry/exit blocks e_s, f_s, w_s give the traces "
        "of the train and test errors (see derivations/dsm/pencils.py)."
    )
    replicas = None
    if m == REPLICATED:
        index = {name: i + 1 for i, name in enumerate(b.names)}
        sample = ["n"] + [f"{kind}_{s}" for kind in ("d", "d2") for s, _, _, _ in parts]
        replicas = Replicas(COPIES, blocks=[index[name] for name in sample],
                            matrices=["Omega"] + [f"Z_{s}" for s, _, _, _ in parts])
    if fresh:
        description = description.replace("zeta W Sigma_t W^T)^{-1}", "zeta W Sigma_t W^T - xi U^inf)^{-1}")
    name = f"dsm-m{mname}-{'structured' if structured else 'isotropic'}{'-fresh' if fresh else ''}"
    L = b.pencil(_parameters(m, fresh), name=name, description=description, replicas=replicas)
    L.block_names = tuple(b.names)
    return L


def data_pencil(m, law, fresh=False):
    """The pencil of the DSM model for data ``x ~ N(0, C)`` with ``C`` of any spectral law.

    The data space is one block of size ``d`` holding the deterministic matrix
    ``C`` of ``law`` (a :class:`pencils.SpectralLaw` of a matrix named ``C``):
    ``Y = a C^{1/2} X + sqrt(h) Z`` with ``X``, ``Z`` Gaussian. ``C^{1/2}`` and
    ``Sigma_t = a^2 C + h`` appear only in the identity part, each between two
    blocks of the data space (``x``, ``x2`` carry ``C^{1/2}``; ``v2`` carries
    ``Sigma_t``), so that the Dyson system averages over the law (one reduced
    block per atom). Block ``p`` of the inverse is
    ``R = (U + lam - zeta W Sigma_t W^T)^{-1}``.

    Parameters
    ----------
    m : 1 or math.inf
        Finite ``m >= 2`` would need replicated blocks, which pencils does
        not allow beside deterministic matrices.
    law : pencils.SpectralLaw
        The law of ``C`` (``DataModel.law``).
    fresh : bool
        ``m = 1`` only: ``Omega = sqrt(kappa) Omega_0 + sqrt(1 - kappa) Omega``
        and the source ``- xi U^inf`` in block ``p``, ``U^inf = G G^T / psi_n +
        h mu1^2 W W^T + mus^2 (1 - kappa)``, ``G = a mu1 W C^{1/2} X + mus
        sqrt(kappa) Omega_0`` (the noise-averaged covariance; blocks ``dG``,
        ``xG``, ``nG``, ``x2G``, ``d2G`` after the others), as
        :func:`dsm_pencil` with ``fresh=True`` does for isotropic data.

    Returns
    -------
    pencils.Pencil
        With ``block_names``; the targets (``e``, ``f``) and, for m = 1,
        (``e``, ``w``) are the traces of :func:`dsm_pencil` over the whole
        data space: ``Z (I - F^T R F / psi_n) Z^T`` and ``Z F^T R W / psi_n``
        (m = 1), ``W^T R W`` (m = inf). Per eigen-direction group they are
        the atoms' terms of the readout (:mod:`derivations.dsm.theory`).

    Examples
    --------
    >>> from pencils import SpectralLaw
    >>> L = data_pencil(np.inf, SpectralLaw.atoms([("0.3", 4), ("0.7", 1)], name="C"))
    >>> L.block_names
    ('p', 'd', 'x', 'n', 'x2', 'd2', 'v', 'v2', 'e', 'f')
    """
    C = law.matrix("C", 1)
    root = sp.sqrt(C)
    W = GaussianMatrix("W", psi_p, 1)
    X, Z = GaussianMatrix("X", 1, psi_n), GaussianMatrix("Z", 1, psi_n)
    Omega = GaussianMatrix("Omega", psi_p, psi_n)
    if fresh and m != 1:
        raise ValueError(f"the fresh-noise source of the pencil with a spectral law of C is for m = 1, got m = {m}")
    if fresh:
        Omega_0 = GaussianMatrix("Omega_0", psi_p, psi_n)
        Omega = sp.sqrt(kappa) * Omega_0 + sp.sqrt(1 - kappa) * Omega
    b = _Blocks()
    if m == 1:
        # p -> d -> n -> d2 -> p with Y = a C^{1/2} X + sqrt(h) Z: d -> n carries sqrt(h) Z, d -> x -> n the
        # data (-a C^{1/2}, then -X); likewise n -> x2 -> d2 for Y^T
        b.block("p", psi_p, lam)
        for name, size in (("d", 1), ("x", 1), ("n", psi_n), ("x2", 1), ("d2", 1)):
            b.block(name, size)
        b.add("p", "d", mu1 * W)
        b.add("d", "n", -sp.sqrt(h) * Z)
        b.add("d", "x", -a * root)
        b.add("x", "n", -X)
        b.add("n", "d2", -sp.sqrt(h) * Z.T)
        b.add("n", "x2", -X.T)
        b.add("x2", "d2", -a * root)
        b.add("d2", "p", -(mu1 / psi_n) * W.T)
        b.add("p", "n", mus * Omega)
        b.add("n", "p", -(mus / psi_n) * _transpose(Omega))
    elif m == np.inf:
        b.block("p", psi_p, lam + mus**2 * (1 - kappa))
        _shared_features(b, ("d", "x", "n", "x2", "d2"), W, root, X, Omega, -1)
    else:
        raise ValueError(f"the pencil with a spectral law of C exists for m = 1 and m = inf, got m = {m}")
    # source: p -> v -> v2 -> p gives W (zeta Sigma_t - h mu1^2 [m = inf]) W^T with Sigma_t = a^2 C + h
    b.block("v", 1)
    b.block("v2", 1)
    b.add("p", "v", W)
    b.add("v", "v2", -(zeta * (a**2 * C + h) - (h * mu1**2 if m == np.inf else 0) + (xi * h * mu1**2 if fresh else 0)))
    b.add("v2", "p", W.T)
    b.block("e", 1)
    b.block("f", 1)
    if m == 1:
        b.block("w", 1)
        b.add("e", "n", -Z)
        b.add("n", "f", -Z.T)
        b.add("p", "w", -W)
    else:
        b.add("e", "p", -W.T)
        b.add("p", "f", -W)
    if fresh:  # -xi (G G^T / psi_n + mus^2 (1 - kappa))
        b.entries[("p", "p")] -= xi * mus**2 * (1 - kappa)
        _shared_features(b, ("dG", "xG", "nG", "x2G", "d2G"), W, root, X, Omega_0, xi)
    mname = "1" if m == 1 else "inf"
    description = (f"DSM random features, m = {mname}, data N(0, C) with C of a spectral law: block p of the inverse "
                   "is R = (U + lam - zeta W (a^2 C + h) W^T)^{-1}; entry/exit blocks e, f, w give the traces of the "
                   "train and test errors (see derivations/dsm/pencils.py, data_pencil).")
    if fresh:
        description = description.replace("(a^2 C + h) W^T)^{-1}", "(a^2 C + h) W^T - xi U^inf)^{-1}")
    parameters = _parameters(m) + ([kappa, xi] if fresh else [])
    L = b.pencil(parameters, name=f"dsm-m{mname}-law{'-fresh' if fresh else ''}", description=description)
    L.block_names = tuple(b.names)
    return L


def _shared_features(b, names, W, root, X, Omega, factor):
    """Blocks ``names = (d, x, n, x2, d2)`` after block ``p`` that add ``-factor G G^T / psi_n`` to its Schur
    complement on ``p``, ``G = a mu1 W C^{1/2} X + mus sqrt(kappa) Omega`` (the part of the features shared
    by the noise samples of an input): the paths p -> d -> x -> n -> x2 -> d2 -> p and p -> n -> p."""
    d, x, n, x2, d2 = names
    for name, size in zip(names, (1, 1, psi_n, 1, 1)):
        b.block(name, size)
    b.add("p", d, a * mu1 * W)
    b.add(d, x, -root)
    b.add(x, n, -X)
    b.add(n, x2, -X.T)
    b.add(x2, d2, -root)
    b.add(d2, "p", (factor * a * mu1 / psi_n) * W.T)
    b.add("p", n, mus * sp.sqrt(kappa) * Omega)
    b.add(n, "p", (factor * mus * sp.sqrt(kappa) / psi_n) * Omega.T)


def data_targets(m):
    """``{kind: (i, j)}`` of :func:`data_pencil`: ``"f"`` is ``(e, f)``, for m = 1 also ``"w"`` is ``(e, w)``."""
    names = ("p", "d", "x", "n", "x2", "d2", "v", "v2", "e", "f", "w")
    index = {n: i + 1 for i, n in enumerate(names)}
    return {"f": (index["e"], index["f"]), **({"w": (index["e"], index["w"])} if m == 1 else {})}


def blocks_of(pencil):
    """``{block name: index from 1}`` for a pencil built here."""
    return {n: i + 1 for i, n in enumerate(pencil.block_names)}


def targets(m, structured=False, fresh=False):
    """``{(kind, subspace): (i, j)}``: the entries of ``E[L^{-1}]`` the errors need.

    ``("f", s)`` is ``(e_s, f_s)``; for finite ``m`` also ``("w", s)`` is ``(e_s, w_s)``.
    """
    L = dsm_pencil(m, structured, fresh)
    index = blocks_of(L)
    result = {}
    for s, _, _, _ in subspaces(structured):
        result[("f", s)] = (index[f"e_{s}"], index[f"f_{s}"])
        if m != np.inf:
            result[("w", s)] = (index[f"e_{s}"], index[f"w_{s}"])
    return result


def product_pencil(m, middle="identity"):
    """Isotropic pencil holding a product of two resolvents, for the second route to a term.

    Two copies of the resolvent structure share the random matrices; a chain
    ``e -> copy 1 -> middle -> copy 2 -> f`` gives, in block ``(e, f)``:

    * m = 1: ``-Z F^T R M R F Z^T / psi_n`` (from ``(L^{-1})_{n p} = F^T R / psi_n``
      and ``(L^{-1})_{p n} = -R F``);
    * m = inf: ``W^T R M R W``;

    with ``M = I`` (``middle="identity"``) or ``M = W W^T`` (``middle="WWt"``).
    The resolvents are at ``zeta = 0``.
    """
    parts, W, Z, X, Omega = _matrices(False)
    (s, _, _, _), = parts
    first, second = _resolvent_blocks(m, False, "_1"), _resolvent_blocks(m, False, "_2")
    b = _Blocks()
    b.block("e", 1)
    b.names += first.names
    b.sizes += first.sizes
    b.entries.update(first.entries)
    if middle == "identity":
        b.add("p_1", "p_2", -1)
    elif middle == "WWt":
        b.block("mid", 1)
        b.add("p_1", "mid", -W[s])
        b.add("mid", "p_2", -W[s].T)
    else:
        raise ValueError(f"middle must be 'identity' or 'WWt', got {middle!r}")
    b.names += second.names
    b.sizes += second.sizes
    b.entries.update(second.entries)
    b.block("f", 1)
    if m == 1:
        b.add("e", "n_1", -Z[s])
        b.add("n_2", "f", -Z[s].T)
    else:
        b.add("e", "p_1", -W[s].T)
        b.add("p_2", "f", -W[s])
    mname = "1" if m == 1 else "inf"
    L = b.pencil(_parameters(m), name=f"dsm-m{mname}-product-{middle}",
                 description=f"Two resolvents of the DSM model (m = {mname}, isotropic) with {middle} between them.")
    L.block_names = tuple(b.names)
    return L


def pencil_path(m, structured=False, fresh=False):
    """Where the text file of :func:`dsm_pencil` lives (``derivations/dsm/*.pencil``; ``m`` is 1, inf or ``"m"``)."""
    kind = "structured" if structured else "isotropic"
    return Path(__file__).with_name(f"m{'inf' if m == np.inf else m}_{kind}{'_fresh' if fresh else ''}.pencil")


def expression(m, structured, kind, subspace, matrices, point):
    """The matrix block ``(e_s, f_s)`` or ``(e_s, w_s)`` stands for, computed directly (numpy).

    Used by the linearisation check: ``matrices`` maps names to the drawn
    arrays, ``point`` holds the parameters (and the count ``m`` for ``m = "m"``,
    ``xi`` for the fresh pencil).
    """
    q = point
    if m == REPLICATED:
        m = int(q["m"])
    parts = subspaces(structured)
    Ws = {s: matrices[f"W_{s}"] for s, _, _, _ in parts}
    X = matrices["X"]
    sigma = {s: (q["h"] if sig == h else 1.0) for s, _, sig, _ in parts}
    p = Ws[parts[0][0]].shape[0]
    Phi0 = sum(sigma[s] * Ws[s] @ Ws[s].T for s in Ws)
    data = next(s for s, _, _, holds in parts if holds)
    if m == np.inf:
        G = q["a"] * q["mu1"] * Ws[data] @ X + q["mus"] * np.sqrt(q["kappa"]) * matrices["Omega"]
        U = G @ G.T / q["psi_n"] + q["h"] * q["mu1"] ** 2 * sum(Ws[s] @ Ws[s].T for s in Ws)
        U = U + q["mus"] ** 2 * (1 - q["kappa"]) * np.eye(p)
        R = np.linalg.inv(U + q["lam"] * np.eye(p) - q["zeta"] * Phi0)
        return Ws[subspace].T @ R @ Ws[subspace]
    samples = [""] if m == 1 else [f"_{j}" for j in range(1, m + 1)]  # the names of expand()
    if m == 1:
        Omegas = [matrices["Omega"]]
    else:
        Omegas = [np.sqrt(q["kappa"]) * matrices["Omega_0"] + np.sqrt(1 - q["kappa"]) * matrices[f"Omega{j}"]
                  for j in samples]
    Zs = {s: [matrices[f"Z_{s}{j}"] for j in samples] for s in Ws}
    Fs = [q["mus"] * Omegas[k] + sum(
        q["mu1"] * Ws[s] @ ((q["a"] * X if s == data else 0) + np.sqrt(q["h"]) * Zs[s][k]) for s in Ws
    ) for k in range(len(samples))]
    scale = q["psi_n"] * m
    source = q["zeta"] * Phi0
    if "xi" in q:  # the fresh pencil: - xi U^inf
        G = q["a"] * q["mu1"] * Ws[data] @ X + q["mus"] * np.sqrt(q["kappa"]) * matrices["Omega_0"]
        U_inf = G @ G.T / q["psi_n"] + q["h"] * q["mu1"] ** 2 * sum(Ws[s] @ Ws[s].T for s in Ws)
        source = source + q["xi"] * (U_inf + q["mus"] ** 2 * (1 - q["kappa"]) * np.eye(p))
    R = np.linalg.inv(sum(F @ F.T for F in Fs) / scale + q["lam"] * np.eye(p) - source)
    Z = Zs[subspace]
    if kind == "f":
        return sum(Z[k] @ Z[k].T for k in range(m)) - sum(
            Z[k] @ Fs[k].T @ R @ Fs[k2] @ Z[k2].T for k in range(m) for k2 in range(m)) / scale
    return sum(Z[k] @ Fs[k].T for k in range(m)) @ R @ Ws[subspace] / scale
