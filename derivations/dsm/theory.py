"""Asymptotic train and test errors of the DSM random-features model, from the pencils.

For each subspace ``s`` of the data space (``iso``; or ``par`` and ``perp``),
with ``r_s`` its ratio and ``B = -V^T R`` the trained readout, the errors need
(``1/d``-normalised traces)

* ``T1_s = tr(V_s^T R V_s)/d``, ``T2_s = tr(V_s^T R^2 V_s)/d = -d T1_s / d lam``,
* ``S_s = tr(V_s^T R Phi_0 R V_s)/d = d T1_s / d zeta`` at ``zeta = 0``,
* ``T4_s = tr(V_s^T R W_s)/d``,

read off the solved pencils of :mod:`derivations.dsm.pencils` (``g_f``, ``g_w``
are the normalised traces ``(1/(r_s d)) tr`` of blocks ``(e_s, f_s)``, ``(e_s, w_s)``):

* finite m: ``T1_s = r_s (m psi_n - g_f)/(h psi_n m)``, ``T4_s = r_s g_w / sqrt(h)``;
* m = inf: ``T1_s = mu1^2 r_s g_f``, ``T4_s = mu1 r_s g_f``.

Then, with ``c_s = r_s`` on the data subspace and ``r_s / h`` off it (so that
``sum c_s = E|grad log P_t|^2 / d``),

* ``E_train = 1 - h sum_s (T1_s + lam T2_s)``,
* ``E_test,s = mu1^2 S_s + mus^2 T2_s - 2 mu1 T4_s + c_s`` and ``E_test = sum_s E_test,s``,
* ``L_test = c_t + h E_test`` with ``c_t = 1 - h sum_s c_s``, and the gap ``L_test - E_train``.

**Any data covariance** (:class:`~derivations.dsm.data.DataModel` other than
isotropic or subspace; m = 1 and m = inf): one data block of size ``d`` holds the
deterministic matrix ``C`` (:func:`~derivations.dsm.pencils.data_pencil`), and
the Dyson system inverts one reduced block per eigenvalue ``c_j`` (weight
``w_j``) of ``C``. The trace of a target over the eigen-directions of group
``j`` is that atom's term ``w_j [K_j^{-1}]_{rc}`` of the readout (its
derivatives from those of the unknowns, ``d K^{-1} = -K^{-1} dK K^{-1}``): with
``G_f,j``, ``G_w,j`` these terms (``tr(P_j .)/d``),

* m = 1: ``T1_j = (w_j psi_n - G_f,j)/(h psi_n)``, ``T4_j = G_w,j / sqrt(h)``;
* m = inf: ``T1_j = mu1^2 G_f,j``, ``T4_j = mu1 G_f,j``;

and ``c_j = w_j / (a^2 c_j + h)`` (``Sigma_t^{-1}`` on the group), the rest as
above. ``test_error_g1, test_error_g2, ...`` are the groups' parts of ``E_test``.

Derivatives come from implicit differentiation (:meth:`pencils.Solution.taylor`);
no hand-reduced closed form is used. When the solve is certified and the
Gaussian-equivalence constants are proven balls, the errors are assembled in
ball arithmetic from the enclosures of the targets and of their Taylor
coefficients, so that each error carries the number of digits it is proven to
(``<error>_digits``).

Examples
--------
>>> theory = Theory(m=1, t="0.1", activation="tanh", dps=20)
>>> record = theory.at(psi_n=2, psi_p=1, lam="0.1")
>>> float(record["test_error"]) > 0 and float(record["train_error"]) < float(record["dsm_test_loss"])
True
>>> record["certificate"], record["test_error_digits"]  # proven, to every digit of dps 20
('proven', 20)
"""

import math

import mpmath

import sympy as sp
from flint import acb_mat

from pencils import DysonSystem, load, solve
from pencils.balls import ball_function, bits_for, certified_digits, mid_mpmath, precision, to_ball
from pencils.solver import GUARD
from pencils.sweep import Table, sweep
from pencils.values import to_mpmath

from .data import DataModel
from .equivalence import gaussian_equivalence
from .errors import DSMError
from .pencils import REPLICATED, data_pencil, data_targets, pencil_path, subspaces, targets

__all__ = ["Theory", "DSMError", "parse_m"]


def parse_m(m):
    """A positive integer or ``math.inf`` from ``2``, ``"2"``, ``"inf"``, ``math.inf``; other values raise
    :class:`DSMError`."""
    if isinstance(m, str):
        m = m.strip().lower()
        if m in ("inf", "infinity", "∞"):
            return math.inf
        try:
            m = float(m)
        except ValueError:
            raise DSMError(f"m must be a positive integer or 'inf', got {m!r}") from None
    if m == math.inf:
        return math.inf
    if m != int(m) or m < 1:
        raise DSMError(f"m must be a positive integer or 'inf', got {m}")
    return int(m)


def _real(name, value):
    """``value`` read at full precision (strings exactly); :class:`DSMError` unless it is real."""
    with mpmath.workdps(50):
        x = to_mpmath(value)
    if mpmath.im(x) != 0:
        raise DSMError(f"{name} must be real, got {value}")
    return mpmath.re(x)


def _positive(name, value):
    if _real(name, value) <= 0:
        raise DSMError(f"{name} must be positive, got {value}")


CONSTANT_DIGITS = 20  # extra digits of the Gaussian-equivalence balls beyond the working precision


def _fewest_digits(record):
    return min(v for k, v in record.items() if k.endswith("_digits"))


class _GroupReadouts:
    """Per atom of the law of ``C``, the term of a target's readout and its first derivatives.

    A target on the data block of :func:`~derivations.dsm.pencils.data_pencil`
    is read out as ``sum_j w_j [K_j^{-1}]_{rc}`` over the reduced blocks ``K_j``
    of the atoms (:meth:`pencils.reduction.Reduction.on_atoms`); term ``j`` is
    the trace over the directions of group ``j``. Its Taylor coefficient in a
    source ``s`` is ``-w_j [K_j^{-1} (dK_j/ds) K_j^{-1}]_{rc}``, with ``dK_j/ds``
    from the explicit dependence of ``K_j`` on ``s`` and the unknowns' own
    coefficients. Evaluated in mpmath or, for a certified solution, in balls.
    """

    def __init__(self, system, sources):
        reduction = system.reduction.on_atoms()
        self.unknowns, self.sources = system.unknowns, sources
        self.terms = {}  # target -> [(weight index, block, r, c)] per atom
        self.blocks = {}  # block -> (size, [(r, c, expression index, d/ds indices)], [(r, c, u, ...)])
        expressions = []

        def index(expr):
            expressions.append(sp.sympify(expr))
            return len(expressions) - 1

        names = {str(s) for s in sources}
        for target in system.targets:
            zero = (target[0] - 1, target[1] - 1)
            self.terms[target] = [(index(w), n, r, c) for w, n, r, c in reduction.readouts[zero]]
            for _, n, _, _ in self.terms[target]:
                if n in self.blocks:
                    continue
                constants = [(r, c, index(v), [index(sp.diff(v, x)) for x in self._symbols(v, names)])
                             for m, r, c, v in reduction.constants if m == n]
                terms = [(r, c, u, index(v), [index(sp.diff(v, x)) for x in self._symbols(v, names)])
                         for m, r, c, u, v in reduction.terms if m == n]
                self.blocks[n] = (len(reduction.labels[n]), constants, terms)
        self.symbols = sorted(set().union(*(e.free_symbols for e in expressions)), key=str)
        self.expressions = expressions
        self._mpmath = sp.lambdify(self.symbols, expressions, modules="mpmath")
        self._balls = None

    def _symbols(self, expr, names):
        """The sources as the symbols of ``expr`` (a source it lacks: the symbol of that name, derivative 0)."""
        found = {str(x): x for x in sp.sympify(expr).free_symbols}
        return [found.get(name, sp.Symbol(name)) for name in self.sources]

    def __call__(self, q, series, balls):
        """``{target: [{source: [c0, c1]} per atom]}`` at the point ``q`` with the unknowns' ``series``."""
        args = [q[str(s)] for s in self.symbols]
        if balls:
            if self._balls is None:
                self._balls = ball_function(self.symbols, self.expressions)
            values = self._balls(*args)
        else:
            values = self._mpmath(*args)
        first = series[self.sources[0]]
        inverses = {}
        for n, (size, constants, terms) in self.blocks.items():
            K = [[0] * size for _ in range(size)]
            dK = {s: [[0] * size for _ in range(size)] for s in self.sources}
            for r, c, v, dv in constants:
                K[r][c] += values[v]
                for s, k in zip(self.sources, dv):
                    dK[s][r][c] += values[k]
            for r, c, u, v, dv in terms:
                g = first[self.unknowns[u]][0]
                K[r][c] -= values[v] * g
                for s, k in zip(self.sources, dv):
                    dK[s][r][c] -= values[k] * g + values[v] * series[s][self.unknowns[u]][1]
            if balls:
                inverse = acb_mat(K).inv()
                inverse = [[inverse[i, j] for j in range(size)] for i in range(size)]
            else:
                inverse = mpmath.matrix(K) ** -1
                inverse = [[inverse[i, j] for j in range(size)] for i in range(size)]
            inverses[n] = (inverse, dK)
        result = {}
        for target, atoms in self.terms.items():
            result[target] = []
            for w, n, r, c in atoms:
                inverse, dK = inverses[n]
                size = len(inverse)
                term = {}
                for s in self.sources:
                    slope = sum(inverse[r][i] * dK[s][i][j] * inverse[j][c] for i in range(size) for j in range(size)
                                if dK[s][i][j] != 0)
                    term[s] = [values[w] * inverse[r][c], -values[w] * slope]
                result[target].append(term)
        return result


class Theory:
    """Learning curves of the DSM model for one ``m``, ``t``, activation and data model.

    Parameters
    ----------
    m : int or "inf"
        Noise samples per data point. Every m >= 2 uses one pencil, whose
        noise-sample blocks are replicated ``m`` times with ``m`` a parameter
        (``derivations/dsm/mm_*.pencil``): its Dyson system has the same size
        for every m (10 unknowns for isotropic data), so m = 10^6 costs what
        m = 2 does. m = 1 and m = inf have their own pencils.
    t : number or str
        Diffusion time, ``t > 0``.
    activation : str or callable
        As accepted by :func:`derivations.dsm.equivalence.gaussian_equivalence`.
    psi_d : number or str
        Shorthand for ``data=DataModel.subspace(psi_d)``: the ratio ``D/d`` of
        the data subspace in ``(0, 1]``; 1 is isotropic data.
    dps : int
        Working precision of constants and solves.
    fresh : bool
        Also compute ``fresh_train_error``, the loss of the trained score on
        the training data with fresh noise, ``(1/(d n)) sum_i E_z |sqrt(h)
        s(a x_i + sqrt(h) z) + z|^2`` (MODEL.md §3 with new noise samples):
        finite m solves the replicated pencil with the source of the
        noise-averaged covariance (``derivations/dsm/mm_*_fresh.pencil``, also
        for m = 1); at m = inf it is the train error itself.
    data : DataModel or str, optional
        The spectral law of the data covariance ``C``
        (:class:`~derivations.dsm.data.DataModel`, or its text: ``"iso"``,
        ``"subspace:0.5"``, ``"atoms:4@0.3,1@0.7"``, ``"powerlaw:1,10"``,
        ``"file:eigs.txt"``); default isotropic (or ``psi_d``). Isotropic and
        subspace data use their own pencils (every m); any other law the
        pencils with a deterministic ``C`` (:func:`~derivations.dsm.pencils.data_pencil`),
        for m = 1 and m = inf only.
    law_pencil : bool, optional
        Solve isotropic or subspace data with the pencil of a deterministic
        ``C`` too (m = 1, inf; a check of one pencil against the other: the
        groups are then ``test_error_g1, ...``).

    Raises
    ------
    DSMError
        Bad parameters; another data model than isotropic or subspace with a
        finite ``m >= 2``, which would need replicated blocks beside the
        deterministic matrix ``C``.
    """

    def __init__(self, m=1, t="0.1", activation="tanh", psi_d=None, dps=30, fresh=False, data=None, law_pencil=False):
        self.m = parse_m(m)
        self.fresh = bool(fresh)
        _positive("t", t)
        self.dps = int(dps)
        self.data = DataModel.of(data, psi_d)
        self.general = law_pencil or not self.data.isotropic_or_subspace
        if self.general and self.m not in (1, math.inf):
            raise DSMError(
                f"data {self.data.text} at m = {self.m}: a covariance other than isotropic or a subspace projector is "
                "solved for m = 1 and m = inf only (finite m >= 2 needs replicated blocks, which pencils does not "
                "allow beside the deterministic matrix C)")
        # the errors are sensitive to the constants (derivatives in lam, zeta amplify their radii by up
        # to 1e15 at psi_p >> psi_n): they are enclosed to CONSTANT_DIGITS more digits than asked
        self._activation = activation
        self.constants = gaussian_equivalence(activation, t, self.data, dps=self.dps + CONSTANT_DIGITS)
        self.activation = self.constants.activation
        self.t = t
        self.psi_d = psi_d if psi_d is not None and data is None else (
            "1" if self.data.kind == "isotropic" else self.data.text.partition(":")[2]
            if self.data.kind == "subspace" else "")
        self.structured = self.data.kind == "subspace" and not self.general
        if self.general:
            source = self.fresh and self.m == 1  # the pencil with the source xi of U^inf
            self.pencil = data_pencil(self.m, self.data.law, fresh=source)
            self.targets = data_targets(self.m)
            self.system = DysonSystem(self.pencil, target=list(self.targets.values()))
            self._groups = _GroupReadouts(self.system, ["lam", "zeta"] + (["xi"] if source else []))
        else:
            # one pencil for every m >= 2: the noise samples' blocks replicated m times, m a parameter
            kind = self.m if self.m in (1, math.inf) else REPLICATED
            source = self.fresh and self.m != math.inf  # the pencil with the source xi of U^inf
            if source:
                kind = REPLICATED
            self.pencil = load(pencil_path(kind, self.structured, source))
            self.targets = targets(kind, self.structured, source)
            self.system = DysonSystem(self.pencil, target=list(self.targets.values()))
        if self.m == math.inf and self.constants.degenerate:
            raise DSMError("the activation is linear (mu_*^2 = 0): the m = inf model has no implicit ridge")
        self.fixed = self._fixed(self.constants)

    def _fixed(self, c):
        """The pencil's parameters that the Gaussian-equivalence constants ``c`` fix."""
        fixed = {"a": c.a_t, "h": c.h_t, "mu1": c.mu1, "mus": c.mu_star, "zeta": 0}
        names = {str(s) for s in self.pencil.symbols}
        if "kappa" in names:
            fixed["kappa"] = c.kappa
        if "m" in names:
            fixed["m"] = self.m
        if "xi" in names:
            fixed["xi"] = 0
        if self.structured:
            fixed["psi_d"] = c.trace
            fixed["psi_perp"] = 1 - c.trace
        return fixed

    def _check(self, psi_n, psi_p, lam):
        for name, values in (("psi_n", psi_n), ("psi_p", psi_p)):
            for v in values:
                _positive(name, v)
        for v in lam:
            x = _real("lam", v)
            if x < 0:
                raise DSMError(f"lam must be >= 0, got {v}")
            if x == 0 and self.m != math.inf:
                for n in psi_n:
                    for p in psi_p:
                        if _real("psi_p", p) >= self.m * _real("psi_n", n):
                            raise DSMError(
                                f"lam = 0 with m = {self.m} at psi_p = {p} >= m psi_n = {self.m} * {n}: with at "
                                "least as many features as noisy samples the resolvent R = (U + lam)^-1 grows "
                                "like 1/lam, so the pencil has no solution at lam = 0 (the errors' limit, where "
                                "it exists, is not what it computes); use a small lam > 0 (down to 1e-15)")

    def curve(self, psi_n, psi_p, lam, progress=None):
        """Errors along a grid: exactly one of ``psi_n``, ``psi_p``, ``lam`` is a sequence.

        Returns a :class:`pencils.sweep.Table` of records (see :meth:`at`; its
        rows are dicts, it iterates and indexes like a list, and
        ``to_pandas()`` gives float64 columns), computed with warm starts,
        with the theory's :meth:`provenance`.
        ``progress``, a callable, receives each record as soon as it is
        computed (so that a caller can write it out at once).
        """
        given = {"psi_n": psi_n, "psi_p": psi_p, "lam": lam}
        swept = [k for k, v in given.items() if isinstance(v, list | tuple)]
        if len(swept) != 1:
            raise DSMError("give a list of values for exactly one of psi_n, psi_p, lam")
        over = swept[0]
        self._check(*([v] if not isinstance(v, list | tuple) else list(v) for v in given.values()))
        fixed = {**self.fixed, **{k: v for k, v in given.items() if k != over}}
        records = []

        def record(solution, row):
            records.append(self._record_to_full_digits(solution))
            if progress is not None:
                progress(records[-1])

        ridgeless = any(_real("lam", v) == 0 for v in (lam if over == "lam" else [lam]))
        # lam = 0 (finite m, fewer features than noisy samples): reached from lam = 1e-3 by continuation
        start = {"lam": "1e-3"} if ridgeless and self.m != math.inf else None
        sweep(self.system, over, given[over], fixed, dps=self.dps, on_solution=record, start=start)
        provenance = {**self.provenance(), "swept": over,
                      "fixed": ", ".join(f"{k}={v}" for k, v in given.items() if k != over)}
        return Table(list(records[0]) if records else [over], records, provenance)

    def provenance(self):
        """What this theory computes: model, pencil and its hash, m, t, activation, data (and its groups), dps,
        version."""
        from pencils import __version__

        groups = {} if self.data.kind == "isotropic" else {"groups": self.data.describe_groups()}
        return {"model": "dsm (derivations.dsm)", "pencil": f"{self.pencil.name} {self.pencil.fingerprint()}",
                "m": "inf" if self.m == math.inf else str(self.m), "t": str(self.t), "activation": self.activation,
                "data": self.data.text, **groups, "psi_d": str(self.psi_d), "dps": self.dps,
                "pencils_version": __version__}

    def at(self, psi_n, psi_p, lam):
        """The errors at one point (a record, see :meth:`record`)."""
        return self.curve(psi_n, [psi_p], lam)[0]

    def _record_to_full_digits(self, solution):
        """:meth:`record`; where fewer than ``dps`` digits are proven, again from a solve at a higher
        precision (digits lost to an ill-conditioned system, e.g. ``|R| ~ 1/lam`` at a tiny ridge)."""
        record = self.record(solution)
        short = _fewest_digits(record)
        if record["certificate"] != "proven" or short >= self.dps:
            return record
        dps = self.dps + (self.dps - short) + 10
        constants = gaussian_equivalence(self._activation, self.t, self.data, dps=dps + CONSTANT_DIGITS)
        finer = solve(self.system, {**solution.exact_point, **self._fixed(constants)}, dps=dps)
        better = self.record(finer, constants)
        if _fewest_digits(better) <= short:
            return record
        better["checks"] += f", re-solved at dps {dps}"
        return better

    def record(self, solution, constants=None):
        """The errors at a solved point, assembled in ball arithmetic when the solution is certified.

        Returns a dict with ``train_error``, ``test_error``, ``dsm_test_loss``,
        ``gap`` (and ``test_error_parallel``, ``test_error_orthogonal`` for
        ``psi_d < 1``; ``test_error_g1``, ``test_error_g2``, ... per group of
        eigen-directions for another data model) as mpmath numbers, ``<error>_digits`` for each (the
        significant digits proven by the certificate and the enclosures of
        the Gaussian-equivalence constants, at most ``dps``; 0 when uncertified),
        ``certificate`` (``"proven"`` or ``"uncertified: <reason>"``),
        ``checks``, the parameters, ``dps`` and the ``residual``. ``constants``
        are the Gaussian-equivalence constants that the solution was computed
        with (default: this theory's, at ``dps`` plus ``CONSTANT_DIGITS``).
        """
        dps = self.dps
        constants = constants or self.constants
        point = solution.exact_point
        certified = solution.certified and constants.certified
        work = max(dps, solution.dps)
        with mpmath.workdps(work + GUARD), precision(bits=solution.certificate.bits if certified else bits_for(work)):
            sources = ["lam", "zeta"] + (["xi"] if "xi" in self.fixed else [])
            if certified:
                number, sqrt = to_ball, (lambda x: x.sqrt())
                series = solution.taylor(sources, 1, balls=True)
            else:
                number, sqrt = to_mpmath, mpmath.sqrt
                series = solution.taylor(sources, 1)
            q = {k: number(v) for k, v in point.items()}
            errors = (self._group_errors(q, series, sqrt, certified) if self.general else
                      self._errors(q, series, sqrt))
            floor = mpmath.mpf(10) ** (-(dps // 2))
            values = {k: mid_mpmath(v.real) if certified else mpmath.re(v) for k, v in errors.items()}
            negative = [k for k, v in errors.items() if k != "gap"
                        and ((v.real + floor) < 0 if certified else mpmath.re(v) < -floor)]
            if negative:
                raise DSMError(
                    f"negative {', '.join(negative)} ({', '.join(mpmath.nstr(values[k], 5) for k in negative)}) at "
                    f"psi_n={point['psi_n']}, psi_p={point['psi_p']}, lam={point['lam']}: the solution left the "
                    "physical branch"
                )
            record = {
                "m": "inf" if self.m == math.inf else str(self.m),
                "t": str(self.t),
                "psi_n": to_mpmath(point["psi_n"]),
                "psi_p": to_mpmath(point["psi_p"]),
                "psi_d": str(self.psi_d),
                "data": self.data.text,
                "lam": to_mpmath(point["lam"]),
                "activation": self.activation,
                **values,
                **{f"{k}_digits": certified_digits(v, dps) if certified else 0 for k, v in errors.items()},
                "certificate": "proven" if certified else "uncertified: " + (
                    solution.uncertified_reason if not solution.certified else
                    f"the Gaussian-equivalence constants are an {constants.error_kind}"),
                "checks": ", ".join(solution.checks),
                "dps": dps,
                "residual": solution.residual,
            }
        return record

    def _errors(self, q, series, sqrt):
        """Train, test (per subspace), DSM test loss and gap from the targets and their lam, zeta slopes."""
        h, mu1, mus, lam, psi_n = q["h"], q["mu1"], q["mus"], q["lam"], q["psi_n"]
        lam_series, zeta_series = series["lam"], series["zeta"]
        train = 1
        fresh = 1  # 1 + h (tr(V^T R U^inf R V) - 2 tr(V^T R V^inf)) / d, V^inf = mu1 W (finite m)
        parts = {}
        c_total = 0
        for s, _, _, holds in subspaces(self.structured):
            r = q["psi_d"] if s == "par" else q["psi_perp"] if s == "perp" else 1
            f = self.targets[("f", s)]
            g_f, dg_f_lam, dg_f_zeta = lam_series[f][0], lam_series[f][1], zeta_series[f][1]
            if self.m != math.inf:
                m = self.m
                g_w = lam_series[self.targets[("w", s)]][0]
                T1 = r * (m * psi_n - g_f) / (h * psi_n * m)
                T2 = r * dg_f_lam / (h * psi_n * m)
                S = -r * dg_f_zeta / (h * psi_n * m)
                T4 = r * g_w / sqrt(h)
                if "xi" in series:
                    fresh += h * (-r * series["xi"][f][1] / (h * psi_n * m) - 2 * mu1 * T4)
            else:
                T1 = mu1**2 * r * g_f
                T2 = -(mu1**2) * r * dg_f_lam
                S = mu1**2 * r * dg_f_zeta
                T4 = mu1 * r * g_f
            c = r if holds else r / h
            c_total += c
            train -= h * (T1 + lam * T2)
            parts[s] = mu1**2 * S + mus**2 * T2 - 2 * mu1 * T4 + c
        test = sum(parts.values())
        loss = 1 - h * c_total + h * test
        errors = {"train_error": train, "test_error": test, "dsm_test_loss": loss, "gap": loss - train}
        if self.fresh:
            errors["fresh_train_error"] = train if self.m == math.inf else fresh
        if self.structured:
            errors["test_error_parallel"] = parts["par"]
            errors["test_error_orthogonal"] = parts["perp"]
        return errors

    def _group_errors(self, q, series, sqrt, balls):
        """Train, test (per group of eigen-directions of ``C``), DSM test loss and gap for any data model."""
        a, h, mu1, mus, lam, psi_n = q["a"], q["h"], q["mu1"], q["mus"], q["lam"], q["psi_n"]
        groups = self._groups(q, series, balls)
        number = to_ball if balls else to_mpmath
        train, c_total, parts = 1, 0, []
        fresh = 1  # 1 + h (tr(V^T R U^inf R V) - 2 tr(V^T R V^inf)) / d at m = 1, V^inf = mu1 W
        for j, (c, w) in enumerate(self.data.groups):
            c, w = number(c), number(w)
            f = groups[self.targets["f"]][j]
            G_f, dG_f_lam, dG_f_zeta = f["lam"][0], f["lam"][1], f["zeta"][1]
            if self.m == 1:
                T1 = (w * psi_n - G_f) / (h * psi_n)
                T2 = dG_f_lam / (h * psi_n)
                S = -dG_f_zeta / (h * psi_n)
                T4 = groups[self.targets["w"]][j]["lam"][0] / sqrt(h)
                if "xi" in f:
                    fresh += h * (-f["xi"][1] / (h * psi_n) - 2 * mu1 * T4)
            else:
                T1 = mu1**2 * G_f
                T2 = -(mu1**2) * dG_f_lam
                S = mu1**2 * dG_f_zeta
                T4 = mu1 * G_f
            c_j = w / (a**2 * c + h)  # tr(P_j Sigma_t^{-1})/d
            c_total += c_j
            train -= h * (T1 + lam * T2)
            parts.append(mu1**2 * S + mus**2 * T2 - 2 * mu1 * T4 + c_j)
        test = sum(parts)
        loss = 1 - h * c_total + h * test
        errors = {"train_error": train, "test_error": test, "dsm_test_loss": loss, "gap": loss - train}
        if self.fresh:
            errors["fresh_train_error"] = train if self.m == math.inf else fresh
        names = self.data.group_names() if not self.data.isotropic_or_subspace else [
            f"g{j + 1}" for j in range(len(parts))]
        for name, part in zip(names, parts):
            errors[f"test_error_{name}"] = part
        return errors
