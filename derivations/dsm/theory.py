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

from pencils import DysonSystem, load, solve
from pencils.balls import bits_for, certified_digits, mid_mpmath, precision, to_ball
from pencils.solver import GUARD
from pencils.sweep import Table, sweep
from pencils.values import to_mpmath

from .equivalence import gaussian_equivalence
from .errors import DSMError
from .pencils import REPLICATED, pencil_path, subspaces, targets

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


class Theory:
    """Learning curves of the DSM model for one ``m``, ``t``, activation and ``psi_d``.

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
        Ratio ``D/d`` of the data subspace in ``(0, 1]``; 1 is isotropic data.
    dps : int
        Working precision of constants and solves.
    fresh : bool
        Also compute ``fresh_train_error``, the loss of the trained score on
        the training data with fresh noise, ``(1/(d n)) sum_i E_z |sqrt(h)
        s(a x_i + sqrt(h) z) + z|^2`` (MODEL.md §3 with new noise samples):
        finite m solves the replicated pencil with the source of the
        noise-averaged covariance (``derivations/dsm/mm_*_fresh.pencil``, also
        for m = 1); at m = inf it is the train error itself.
    """

    def __init__(self, m=1, t="0.1", activation="tanh", psi_d=1, dps=30, fresh=False):
        self.m = parse_m(m)
        self.fresh = bool(fresh)
        _positive("t", t)
        self.dps = int(dps)
        # the errors are sensitive to the constants (derivatives in lam, zeta amplify their radii by up
        # to 1e15 at psi_p >> psi_n): they are enclosed to CONSTANT_DIGITS more digits than asked
        self._activation = activation
        self.constants = gaussian_equivalence(activation, t, psi_d, dps=self.dps + CONSTANT_DIGITS)
        self.activation = self.constants.activation
        self.t, self.psi_d = t, psi_d
        self.structured = self.constants.psi_d != 1
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
            fixed["psi_d"] = c.psi_d
            fixed["psi_perp"] = 1 - c.psi_d
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
        """What this theory computes: model, pencil and its hash, m, t, activation, psi_d, dps, version."""
        from pencils import __version__

        return {"model": "dsm (derivations.dsm)", "pencil": f"{self.pencil.name} {self.pencil.fingerprint()}",
                "m": "inf" if self.m == math.inf else str(self.m), "t": str(self.t), "activation": self.activation,
                "psi_d": str(self.psi_d), "dps": self.dps, "pencils_version": __version__}

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
        constants = gaussian_equivalence(self._activation, self.t, self.psi_d, dps=dps + CONSTANT_DIGITS)
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
        ``psi_d < 1``) as mpmath numbers, ``<error>_digits`` for each (the
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
            errors = self._errors({k: number(v) for k, v in point.items()}, series, sqrt)
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
