"""Phase diagrams of the DSM model: train, test, gap and memorisation on a (psi_n, psi_p) grid.

A phase diagram is one :func:`pencils.grids.grid` per number of noise samples
``m`` (see :func:`phase_diagram`): axes ``psi_n`` and ``psi_p`` (rows along
``psi_p``, warm-started), fixed ``t``, ``lam``, activation and data model. What
a row computes is :class:`PhaseRows`, a :class:`pencils.grids.RowSolver`
built on :meth:`derivations.dsm.theory.Theory.curve` (with ``fresh=True``).

Two indicators
--------------
With ``c_t`` the DSM loss of the true score on fresh data (:func:`optimal_loss`; the
optimal population loss, MODEL.md section 3; it is also the true score's
expected loss on the training inputs with any noise, as it does not depend on
them):

* ``memorisation = 1 - L_fresh / c_t``, with ``L_fresh`` the loss of the
  trained score on the *training inputs with fresh noise*
  (``fresh_train_error``). On the noised empirical law (the training inputs,
  new noise) the DSM loss of a score ``s`` splits (Pythagoras in ``L^2``) as
  the empirical optimal score's loss, exponentially small in ``d`` when
  ``n = O(d)`` and ``t`` is fixed, plus ``h_t/d E|s - s_emp|^2``; the true
  score's is ``c_t``. So ``1 - memorisation = |s - s_emp|^2 / |s_true -
  s_emp|^2``: 1 when the trained score is the empirical optimal score (the
  score of the noised training set, whose reverse diffusion reproduces the
  training points), 0 when it is as far from it as the true score is,
  negative when farther. The memorisation phase is ``memorisation > 0``
  (:data:`LEVEL`): the trained score is nearer the memorising score than the
  truth is. At m = inf, ``L_fresh`` is the train error.
* ``interpolation = max(0, 1 - E_train / c_t)``: how well the trained score
  fits its own ``n m`` noisy training pairs. With ``p > n m`` features the
  ridge fit interpolates them as ``lam -> 0`` (train error ``O(lam^2)``), so
  its level sets close in on ``p = n m`` as the level tends to 1; the
  boundary is its level :data:`INTERPOLATION_LEVEL` = 0.9.

At m = 1 the two differ most: the score interpolates its one noise sample
per input (``interpolation`` -> 1 for ``p > n``) but is no nearer the
empirical optimal score than the truth (``memorisation < 0``); at m = inf they
coincide. Both boundaries are located along ``psi_p`` for each ``psi_n`` by
root finding on the theory itself (:func:`boundary`). docs/phase.md compares
them with the alternatives, which are stored as well:

* ``relative_gap = (L_test - E_train) / L_test`` (the generalisation gap
  relative to the DSM test loss);
* ``train_falls_test_rises``: 1 where ``dE_train/dpsi_p < 0`` and
  ``dE_test/dpsi_p > 0`` (MODEL.md's words; slopes from the row's own points,
  ``train_slope`` and ``test_slope`` are ``d log E / d log psi_p``).

Examples
--------
>>> rows = PhaseRows(m=1, t="0.1", activation="tanh", dps=15)
>>> [(r["interpolation"] > 0.99, r["memorisation"] > 0) for r in rows.solve_row({"psi_n": 1, "lam": "1e-3"},
...                                                                             "psi_p", [0.25, 4], 15)]
[(False, False), (True, False)]
>>> ds = phase_diagram(["inf"], psi_n=[0.5, 2], psi_p=[0.25, 1, 4], lam="1e-3", dps=15, scheduler="synchronous")
>>> ds = ds[math.inf]
>>> ds["memorisation"].sizes["psi_n"], ds["memorisation"].sizes["psi_p"]
(2, 3)
>>> float(ds["memorisation"].sel(psi_n=2, psi_p=4)) > 0 > float(ds["memorisation"].sel(psi_n=2, psi_p=0.25))
True
"""

import math

import mpmath
import numpy as np

from pencils.exceptions import PencilsError
from pencils.grids import RowSolver, grid

from .errors import DSMError
from .theory import Theory, parse_m

__all__ = ["PhaseRows", "phase_diagram", "boundary", "turning_curve", "optimal_loss", "indicators", "solved_points",
           "store_name", "LEVEL", "INTERPOLATION_LEVEL", "INDICATORS", "VARIABLES"]

#: the level of the memorisation indicator that marks the memorisation phase (see docs/phase.md)
LEVEL = 0.0
#: the level of the interpolation indicator that marks the interpolation boundary
INTERPOLATION_LEVEL = 0.9
#: the indicators with a boundary, and their default levels
INDICATORS = {"memorisation": LEVEL, "interpolation": INTERPOLATION_LEVEL}

ERRORS = ("train_error", "fresh_train_error", "test_error", "dsm_test_loss", "gap")
VARIABLES = {
    **{k: "real" for k in ERRORS},
    "memorisation": "real",
    "interpolation": "real",
    "relative_gap": "real",
    "train_falls_test_rises": "integer",
    "train_slope": "float",
    "test_slope": "float",
    **{f"{k}_digits": "integer" for k in ERRORS},
    "digits": "integer",
    "certificate": "text",
    "residual": "float",
}

_THEORIES = {}  # one Theory per (m, t, activation, data, dps) and worker process


def optimal_loss(t, psi_d=None, dps=30, data=None):
    """``c_t = 1 - (h_t/d) tr((a_t^2 C + h_t)^{-1})``: the DSM loss of the true score on fresh data (MODEL.md
    section 3); ``psi_d e^{-2t}`` for data on a subspace of ratio ``psi_d`` (``data``: a
    :class:`~derivations.dsm.data.DataModel` or its text, or the shorthand ``psi_d``; default isotropic).

    >>> print(mpmath.nstr(optimal_loss("0.1", dps=20), 15))
    0.818730753077982
    >>> print(mpmath.nstr(optimal_loss("0.1", data="atoms:4@0.3,1@0.7", dps=20), 15))
    0.857377224778521
    """
    from pencils.values import to_mpmath

    from .data import DataModel

    groups = DataModel.of(data, psi_d).groups
    with mpmath.workdps(dps + 10):
        a2 = mpmath.exp(-2 * to_mpmath(t))
        h = 1 - a2
        return 1 - h * sum(to_mpmath(w) / (a2 * to_mpmath(c) + h) for c, w in groups)


def indicators(record, c_t):
    """``{"memorisation": 1 - L_fresh/c_t, "interpolation": max(0, 1 - E_train/c_t)}`` of a
    :meth:`Theory.record <derivations.dsm.theory.Theory.record>` made with ``fresh=True``
    (computed at the precision in effect).

    >>> {k: float(v) for k, v in indicators({"fresh_train_error": 1.5, "train_error": 1.5}, 1).items()}
    {'memorisation': -0.5, 'interpolation': 0.0}
    """
    return {"memorisation": 1 - record["fresh_train_error"] / c_t,
            "interpolation": max(mpmath.mpf(0), 1 - record["train_error"] / c_t)}


class PhaseRows(RowSolver):
    """Errors and memorisation indicators of the DSM model along rows of ``psi_p`` (a grid's RowSolver).

    Parameters
    ----------
    m : int or "inf"
    t, activation, psi_d, data
        As for :class:`~derivations.dsm.theory.Theory`; the activation must be
        a name and the data model text or a DataModel (a grid sends the
        solver to other processes, by pickling).
    dps : int
        Precision of the theory's constants (the grid's ``dps`` rules the
        solves; they should agree).

    Notes
    -----
    The :class:`Theory` (Gaussian-equivalence constants, pencil, system) is
    built on first use in each process and cached there; it is not pickled.
    A row is one warm-started :meth:`Theory.curve`; a point that fails gets
    ``certificate = "failed: <reason>"`` and the row goes on cold from the
    next point.
    """

    variables = VARIABLES

    def __init__(self, m=1, t="0.1", activation="tanh", psi_d=None, dps=30, data=None):
        from .data import DataModel

        if not isinstance(activation, str):
            raise DSMError("a phase diagram needs the activation by name (tanh, erf, relu, poly:...), "
                           f"got {type(activation).__name__}")
        self.m = parse_m(m)
        self.t, self.activation, self.dps = str(t), activation, int(dps)
        self.data = DataModel.of(data, psi_d).text
        self._theory = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_theory"] = None
        return state

    @property
    def theory(self):
        """The :class:`Theory` of this solver, built once per process."""
        if self._theory is None:
            key = (self.m, self.t, self.activation, self.data, self.dps)
            if key not in _THEORIES:
                _THEORIES[key] = Theory(m=self.m, t=self.t, activation=self.activation, data=self.data,
                                        dps=self.dps, fresh=True)
            self._theory = _THEORIES[key]
        return self._theory

    def provenance(self):
        return {"solver": "derivations.dsm.phase.PhaseRows", "model": "dsm",
                "m": "inf" if self.m == math.inf else str(self.m), "t": self.t, "activation": self.activation,
                "data": self.data,
                "memorisation": "1 - fresh_train_error / c_t, c_t = 1 - (h/d) tr((a^2 C + h)^-1)",
                "interpolation": "max(0, 1 - train_error / c_t)"}

    def solve_row(self, point, over, values, dps):
        if over != "psi_p":
            raise DSMError(f"PhaseRows sweeps psi_p, not {over}")
        theory = self.theory
        records = []
        while len(records) < len(values):
            done = []
            try:
                theory.curve(point["psi_n"], list(values[len(records):]), point["lam"], progress=done.append)
                records.extend(done)
            except (PencilsError, ArithmeticError, ValueError, ZeroDivisionError) as exc:
                records.extend(done)
                records.append({"certificate": f"failed: {type(exc).__name__}: {exc}"})
        c_t = optimal_loss(self.t, dps=dps, data=self.data)
        rows = [self._row(r, c_t, dps) for r in records]
        self._slopes(rows, values)
        return rows

    @staticmethod
    def _row(record, c_t, dps):
        if "train_error" not in record:
            return {"certificate": record["certificate"], "train_falls_test_rises": 0}
        row = {k: record[k] for k in ERRORS}
        row.update({f"{k}_digits": record[f"{k}_digits"] for k in ERRORS})
        with mpmath.workdps(dps + 10):
            row.update(indicators(record, c_t))
            row["relative_gap"] = record["gap"] / record["dsm_test_loss"]
        row["digits"] = min(record[f"{k}_digits"] for k in ERRORS)
        row["certificate"] = record["certificate"]
        row["residual"] = float(record["residual"])
        return row

    @staticmethod
    def _slopes(rows, values):
        """``d log E / d log psi_p`` of train and test from the row's points (centred inside, one-sided at the
        ends), and the sign pattern train falling while test rises."""
        x = np.log([float(v) for v in values])
        for key, name in (("train_error", "train_slope"), ("test_error", "test_slope")):
            y = np.array([math.log(float(r[key])) if r.get(key) is not None and r[key] > 0 else np.nan
                          for r in rows])
            if len(rows) < 2:
                continue
            slope = np.gradient(y, x)
            for r, s in zip(rows, slope):
                if np.isfinite(s):
                    r[name] = float(s)
        for r in rows:
            if "train_slope" in r and "test_slope" in r:
                r["train_falls_test_rises"] = int(r["train_slope"] < 0 < r["test_slope"])
            else:
                r["train_falls_test_rises"] = 0


def phase_diagram(m, psi_n, psi_p, t="0.1", lam="1e-3", activation="tanh", psi_d=None, dps=30, store=None,
                  resume=False, scheduler=None, workers=None, progress=None, tile=None, data=None):
    """Phase diagrams of the DSM model for several ``m``: ``{m: xarray.Dataset}``.

    Parameters
    ----------
    m : sequence of (int or "inf")
        One grid per value.
    psi_n, psi_p : sequence
        The axes (numbers, strings read exactly, or mpmath numbers).
    t, lam, activation, psi_d, data
        Fixed for every grid (see :class:`~derivations.dsm.theory.Theory`).
    dps : int
    store : str or path, optional
        A folder: grid ``m`` streams into ``<store>/m=<m>.zarr`` (see
        :func:`pencils.grids.grid`); default in memory.
    resume, scheduler, workers, progress, tile
        As for :func:`pencils.grids.grid`. With the local Dask cluster
        (``scheduler=None``) one cluster of ``workers`` processes serves
        every ``m``.

    Returns
    -------
    dict
        ``{m: Dataset}`` (``m`` an int or ``math.inf``); the datasets have the
        variables of :data:`VARIABLES` (and ``<name>_str`` with all digits).

    Notes
    -----
    One grid per ``m`` rather than an ``m`` axis: every ``m`` is a different
    pencil (m = 1, m = inf and the replicated one), with its own constants and
    provenance, ``m`` is not a continuous parameter to warm-start along, and a
    store per ``m`` can be resumed, extended or read on its own;
    ``xarray.concat(list(result.values()), dim="m")`` joins them.
    """
    from pathlib import Path

    ms = [parse_m(x) for x in m]
    if len(set(ms)) != len(ms):
        raise DSMError(f"m repeats: {list(m)}")
    for value in ms:  # every theory is set up (and its input checked) before any grid runs
        theory = Theory(m=value, t=t, activation=activation, psi_d=psi_d, dps=dps, fresh=True, data=data)
        theory._check(list(psi_n), list(psi_p), [lam])
    axes = {"psi_n": list(psi_n), "psi_p": list(psi_p)}
    result = {}

    def run(client):
        for value in ms:
            rows = PhaseRows(m=value, t=t, activation=activation, psi_d=psi_d, dps=dps, data=data)
            where = None if store is None else Path(store) / store_name(value)
            result[value] = grid(rows, axes, {"lam": lam}, dps=dps, along="psi_p", tile=tile, store=where,
                                 resume=resume, scheduler=client, workers=workers, progress=progress)

    if store is not None:
        Path(store).mkdir(parents=True, exist_ok=True)
        if resume and all(solved_points(Path(store) / store_name(v)) == len(axes["psi_n"]) * len(axes["psi_p"])
                          for v in ms):
            scheduler = "synchronous"  # every store is complete: nothing to run, no cluster to start
    if scheduler in (None, "processes"):
        from pencils.scheduling import client_for

        with client_for(None, workers) as client:
            run(client)
    else:
        run(scheduler)
    return result


def store_name(m):
    """The store folder of grid ``m`` inside a phase diagram's ``store``: ``m=1.zarr``, ``m=inf.zarr``."""
    return f"m={'inf' if parse_m(m) == math.inf else parse_m(m)}.zarr"


def solved_points(path):
    """The number of points a grid store at ``path`` has solved (0 when there is no store).

    >>> solved_points("/nonexistent/m=1.zarr")
    0
    """
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r", zarr_format=2)
        return int(np.asarray(group["solved"][...]).sum())
    except Exception:  # no store (yet), or not a grid store: nothing solved there
        return 0


def _crossings(x, y, level):
    """Indices ``i`` with ``y[i] < level <= y[i+1]`` (the first upward crossing first)."""
    below = y < level
    return [i for i in range(len(y) - 1) if below[i] and y[i + 1] >= level and np.isfinite(y[i + 1])]


def boundary(ds, level=None, theory=None, indicator="memorisation", tol=1e-12, max_iter=60):
    """A phase boundary: for each ``psi_n``, the ``psi_p`` where ``indicator`` first rises through ``level``.

    Parameters
    ----------
    ds : xarray.Dataset
        A grid of :func:`phase_diagram`.
    level : float, optional
        Default :data:`INDICATORS` ``[indicator]``: 0 for ``memorisation``
        (below 1), 0.9 for ``interpolation`` (in (0, 1)).
    theory : Theory, optional
        When given (made with ``fresh=True`` for ``memorisation``), the
        crossing is located by root finding along ``psi_p`` with the theory
        itself (Illinois false position in ``log psi_p``, bracketed by the
        grid points, relative tolerance ``tol``, at most ``max_iter``
        evaluations); otherwise by linear interpolation in ``log psi_p``
        between the grid points.
    indicator : {"memorisation", "interpolation"}

    Returns
    -------
    numpy.ndarray
        ``psi_p`` on the boundary for each ``psi_n`` (NaN where the indicator
        does not cross ``level`` on the grid).

    Examples
    --------
    >>> ds = phase_diagram([1], ["1"], ["0.5", "0.8", "1.2"], lam="1e-3", dps=15, scheduler="synchronous")[1]
    >>> theory = Theory(m=1, dps=15, fresh=True)
    >>> [round(float(x), 4) for x in boundary(ds, theory=theory, indicator="interpolation")]  # just below p = n
    [0.9229]
    >>> boundary(ds, theory=theory)  # m = 1 does not memorise: memorisation < 0 everywhere
    array([nan])
    """
    if indicator not in INDICATORS:
        raise DSMError(f"indicator is one of {', '.join(INDICATORS)}, got {indicator!r}")
    level = INDICATORS[indicator] if level is None else level
    if not (level < 1 if indicator == "memorisation" else 0 < level < 1):
        raise DSMError(f"the {indicator} level must be {'below 1' if indicator == 'memorisation' else 'in (0, 1)'}, "
                       f"got {level}")
    if theory is not None and indicator == "memorisation" and not theory.fresh:
        raise DSMError("the memorisation boundary needs a Theory made with fresh=True")
    x = np.asarray(ds["psi_p"].values, dtype=float)
    values = np.asarray(ds[indicator].values, dtype=float)
    psi_n = ds["psi_n"].values
    lam = _fixed(ds, "lam")
    out = np.full(len(psi_n), np.nan)
    c_t = optimal_loss(ds.attrs.get("t", "0.1"), data=ds.attrs.get("data", "iso")) if theory else None
    for k, row in enumerate(values):
        found = _crossings(x, row, level)
        if not found:
            continue
        i = found[0]
        a, b = math.log(x[i]), math.log(x[i + 1])
        fa, fb = row[i] - level, row[i + 1] - level
        guess = a - fa * (b - a) / (fb - fa)
        if theory is None:
            out[k] = math.exp(guess)
            continue
        strings = ds.attrs.get("grid")
        n_value = _axis_string(strings, "psi_n", k) or float(psi_n[k])

        def f(u):
            with mpmath.workdps(theory.dps + 10):
                return float(indicators(theory.at(n_value, mpmath.exp(u), lam), c_t)[indicator]) - level

        side = 0
        for _ in range(max_iter):
            u = b - fb * (b - a) / (fb - fa)
            fu = f(u)
            if fu == 0 or abs(b - a) < tol:
                break
            if (fu < 0) == (fa < 0):
                a, fa = u, fu
                if side == -1:
                    fb /= 2
                side = -1
            else:
                b, fb = u, fu
                if side == 1:
                    fa /= 2
                side = 1
        out[k] = math.exp(u)
    return out


def turning_curve(ds, which="bottom"):
    """For each ``psi_n``, the first ``psi_p`` where the test error turns along ``psi_p``: ``"bottom"`` where
    its slope goes from negative to positive (where ``train_falls_test_rises`` starts: the bottom of the U at
    m = inf), ``"peak"`` from positive to negative (where it ends: the interpolation peak at m = 1); by linear
    interpolation of ``test_slope`` in ``log psi_p`` between grid points; NaN where it does not turn.

    >>> ds = phase_diagram([1], ["1"], ["0.5", "0.8", "1.2", "2"], lam="1e-3", dps=15, scheduler="synchronous")[1]
    >>> 0.8 < float(turning_curve(ds, "peak")[0]) < 1.2  # the interpolation peak of the test error
    True
    """
    if which not in ("bottom", "peak"):
        raise DSMError(f"which is 'bottom' or 'peak', got {which!r}")
    x = np.log(np.asarray(ds["psi_p"].values, dtype=float))
    slopes = np.asarray(ds["test_slope"].values, dtype=float)
    out = np.full(slopes.shape[0], np.nan)
    for k, s in enumerate(slopes):
        for i in range(len(s) - 1):
            if not (np.isfinite(s[i]) and np.isfinite(s[i + 1])):
                continue
            if (which == "bottom" and s[i] < 0 <= s[i + 1]) or (which == "peak" and s[i] > 0 >= s[i + 1]):
                out[k] = math.exp(x[i] - s[i] * (x[i + 1] - x[i]) / (s[i + 1] - s[i]))
                break
    return out


def _fixed(ds, name):
    import json

    identity = json.loads(ds.attrs["grid"])
    return identity["fixed"][name]


def _axis_string(text, axis, index):
    import json

    if not text:
        return None
    return json.loads(text)["axes"][axis][index]
