"""The data model of the DSM model: the spectral law of the data covariance ``C``.

The data are ``x ~ N(0, C)`` on ``R^d`` (MODEL.md §1). As ``d -> inf`` only the
spectral law of ``C`` matters (the random features ``W`` are rotation
invariant): finitely many *groups*, each an eigenvalue ``c_j >= 0`` on a
fraction ``w_j`` of the directions (``sum_j w_j = 1``). A :class:`DataModel`
holds that law as a :class:`pencils.SpectralLaw` of one matrix ``C`` and is
the one place the theory, the pencils, the Gaussian-equivalence constants, the
simulator, the command line and the plots read the data from.

* isotropic, ``C = I``: one group, eigenvalue 1;
* subspace, ``C`` the projector on a ``D``-dimensional subspace, ``psi_d = D/d``:
  eigenvalue 1 with weight ``psi_d`` (``par``) and 0 with weight ``1 - psi_d``
  (``perp``);
* any finite law (``atoms``), a power law (``powerlaw``, a discretisation),
  the empirical law of a list of eigenvalues (``from_file``).

Groups with equal eigenvalues are merged, so every law has a canonical form; a
law that is the isotropic or a subspace one *is* that model (the theory then
uses the dedicated pencils).

Command-line text (:meth:`DataModel.parse`, whitelist parsing, never
evaluated): ``iso``, ``subspace:0.5``, ``atoms:4@0.3,1@0.7`` (eigenvalue@weight),
``powerlaw:ALPHA[,K]``, ``file:eigs.txt``.

Examples
--------
>>> data = DataModel.parse("atoms:4@0.3,1@0.7")
>>> data.groups
((4, 3/10), (1, 7/10))
>>> data.trace                         # tr(C)/d = 0.3*4 + 0.7*1
19/10
>>> data.text, data.kind
('atoms:4@0.3,1@0.7', 'atoms')
>>> DataModel.parse("subspace:0.5").groups, DataModel.subspace("1/2").psi_d
(((1, 1/2), (0, 1/2)), 1/2)
>>> DataModel.parse("atoms:1@1") == DataModel.isotropic()
True
"""

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import sympy as sp

from pencils import SpectralLaw

from .activations import exact_fraction
from .errors import DSMError

__all__ = ["DataModel", "POWERLAW_ATOMS"]

POWERLAW_ATOMS = 10  # default number of atoms of DataModel.powerlaw
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:/\d+)?"


def _number(text, what):
    """An exact rational from decimal or ``p/q`` text (whitelist: no expression is evaluated)."""
    text = str(text).strip()
    if not re.fullmatch(_NUMBER, text):
        raise DSMError(f"{what} must be a number (decimal or p/q), got {text!r}")
    return exact_fraction(text)


def _exact(value, what):
    """A number given in Python (int, float, Fraction, SymPy number or text) as an exact SymPy number."""
    if isinstance(value, str):
        return sp.Rational(_number(value, what))
    if isinstance(value, sp.Basic):
        if not (value.is_number and value.is_real and value.is_finite):
            raise DSMError(f"{what} must be a real number, got {value}")
        return value
    try:
        return sp.Rational(exact_fraction(value))
    except ValueError:
        raise DSMError(f"{what} must be a real number, got {value!r}") from None


class DataModel:
    """The spectral law of the data covariance ``C``: groups of eigen-directions (see the module notes).

    Build it with :meth:`isotropic`, :meth:`subspace`, :meth:`atoms`,
    :meth:`powerlaw`, :meth:`from_file` or :meth:`parse`.

    Attributes
    ----------
    groups : tuple of (eigenvalue, weight)
        Exact SymPy numbers, distinct eigenvalues in the order given, weights
        positive and summing to 1.
    law : pencils.SpectralLaw
        The law of the matrix ``C`` (weights and eigenvalues of ``groups``).
    text : str
        The command-line text of the model (for provenance: it rebuilds it).
    kind : str
        ``"isotropic"``, ``"subspace"``, ``"atoms"``, ``"powerlaw"`` or ``"file"``.
    """

    def __init__(self, groups, text, kind):
        merged = {}
        for c, w in groups:
            c = _exact(c, "an eigenvalue of C")
            w = _exact(w, "a weight")
            if c.is_negative:
                raise DSMError(f"C is a covariance: its eigenvalue {c} is negative")
            if w.is_negative:
                raise DSMError(f"the weight {w} of eigenvalue {c} is negative")
            if w.is_zero:
                continue
            key = next((k for k in merged if sp.simplify(k - c) == 0), c)
            merged[key] = merged.get(key, 0) + w
        if not merged:
            raise DSMError("a data model needs at least one eigenvalue with a positive weight")
        total = sp.nsimplify(sum(merged.values()))
        if sp.simplify(total - 1) != 0:
            raise DSMError(f"the weights of the eigenvalues of C sum to {total}, not 1")
        if all(c.is_zero for c in merged):
            raise DSMError("C = 0: the data carry no signal (every eigenvalue is 0)")
        self.groups = tuple((c, sp.nsimplify(w)) for c, w in merged.items())
        values = sorted(c for c, _ in self.groups)
        if values == [1]:
            kind, text = "isotropic", "iso"
        elif values == [0, 1]:
            self.groups = tuple(sorted(self.groups, key=lambda g: -g[0]))  # par, then perp
            if kind != "subspace":
                kind, text = "subspace", f"subspace:{self.groups[0][1]}"
        self.kind, self.text = kind, text
        self.law = SpectralLaw.atoms([(w, c) for c, w in self.groups], name="C")

    # -- constructors -----------------------------------------------------------------------------
    @classmethod
    def isotropic(cls):
        """``C = I``.

        >>> DataModel.isotropic().groups
        ((1, 1),)
        """
        return cls([(1, 1)], "iso", "isotropic")

    @classmethod
    def subspace(cls, psi_d):
        """``C`` the projector on a subspace of ratio ``psi_d`` in ``(0, 1]`` (1: isotropic).

        >>> DataModel.subspace("0.25").groups
        ((1, 1/4), (0, 3/4))
        """
        psi = _exact(psi_d, "psi_d")
        if not (0 < psi <= 1):
            raise DSMError(f"psi_d must be in (0, 1], got {psi}")
        given = psi_d if isinstance(psi_d, str) else psi
        return cls([(1, psi), (0, 1 - psi)], f"subspace:{str(given).strip()}", "subspace")

    @classmethod
    def atoms(cls, pairs):
        """Eigenvalue ``c_j`` on a fraction ``w_j`` of the directions, from ``(w_j, c_j)`` pairs.

        The weights must sum to 1 exactly (give them as text or fractions:
        ``0.1`` is read as the decimal 1/10).

        >>> DataModel.atoms([("0.3", 4), ("0.7", 1)]).text
        'atoms:4@3/10,1@7/10'
        """
        pairs = [(c, w) for w, c in pairs]
        groups = [(_exact(c, "an eigenvalue of C"), _exact(w, "a weight")) for c, w in pairs]
        return cls(groups, "atoms:" + ",".join(f"{c}@{w}" for c, w in groups), "atoms")

    @classmethod
    def powerlaw(cls, alpha, k=POWERLAW_ATOMS):
        """A power-law spectrum discretised on ``k`` atoms of equal weight ``1/k``.

        The eigenvalues are ``c_j = j^-alpha / ((1/k) sum_i i^-alpha)``,
        ``j = 1..k``: a power law normalised to ``tr(C)/d = 1``, kept exact
        (SymPy powers of integers).

        >>> data = DataModel.powerlaw(1, 4)
        >>> [str(c) for c, _ in data.groups]
        ['48/25', '24/25', '16/25', '12/25']
        >>> data.trace
        1
        """
        alpha = _exact(alpha, "alpha")
        if alpha < 0:
            raise DSMError(f"the power-law exponent must be >= 0, got {alpha}")
        if isinstance(k, bool) or int(k) != k or int(k) < 1:
            raise DSMError(f"the number of atoms of a power law must be a positive integer, got {k!r}")
        k = int(k)
        raw = [sp.Integer(j) ** (-alpha) for j in range(1, k + 1)]
        mean = sum(raw) / k
        return cls([(c / mean, sp.Rational(1, k)) for c in raw], f"powerlaw:{alpha},{k}", "powerlaw")

    @classmethod
    def from_file(cls, path):
        """The empirical law of the eigenvalues in a text file, one per line.

        Blank lines and ``#`` comments are skipped; each value is a decimal or
        ``p/q`` (parsed, never evaluated). Equal eigenvalues form one group
        (weight: their count over the total).

        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        ...     _ = f.write("# two levels\\n4\\n1\\n1\\n1\\n")
        >>> DataModel.from_file(f.name).groups
        ((4, 1/4), (1, 3/4))
        >>> os.remove(f.name)
        """
        path = Path(path)
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise DSMError(f"cannot read the eigenvalues of C from {path}: {exc.strerror or exc}") from None
        values = []
        for number, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip()
            if line:
                values.append(_number(line, f"{path}, line {number}"))
        if not values:
            raise DSMError(f"{path} holds no eigenvalue")
        counts = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        return cls([(v, Fraction(n, len(values))) for v, n in counts.items()], f"file:{path}", "file")

    @classmethod
    def parse(cls, text):
        """A data model from command-line text (see the module notes); :class:`DSMError` for bad text.

        >>> DataModel.parse("powerlaw:1,4").text
        'powerlaw:1,4'
        >>> DataModel.parse("atoms:4@0.5,1@0.4")
        Traceback (most recent call last):
        ...
        derivations.dsm.errors.DSMError: the weights of the eigenvalues of C sum to 9/10, not 1
        """
        if isinstance(text, DataModel):
            return text
        text = str(text).strip()
        kind, _, rest = text.partition(":")
        kind = kind.strip().lower()
        if kind in ("iso", "isotropic") and not rest:
            return cls.isotropic()
        if kind == "subspace" and rest:
            _number(rest, "the ratio of subspace:PSI_D")
            return cls.subspace(rest)
        if kind == "atoms" and rest:
            pairs = []
            for item in rest.split(","):
                value, at, weight = item.partition("@")
                if not at:
                    raise DSMError(f"atoms: each atom is EIGENVALUE@WEIGHT, got {item.strip()!r}")
                pairs.append((_number(weight, "a weight of atoms:"), _number(value, "an eigenvalue of atoms:")))
            data = cls.atoms(pairs)
            if data.kind == "atoms":
                data.text = "atoms:" + ",".join(item.strip() for item in rest.split(","))
            return data
        if kind == "powerlaw" and rest:
            alpha, _, k = rest.partition(",")
            if k and not re.fullmatch(r"\s*\d+\s*", k):
                raise DSMError(f"powerlaw:ALPHA,K needs a positive integer K, got {k.strip()!r}")
            data = cls.powerlaw(_number(alpha, "the exponent of powerlaw:ALPHA"), int(k) if k else POWERLAW_ATOMS)
            if data.kind == "powerlaw":
                data.text = "powerlaw:" + rest.replace(" ", "")
            return data
        if kind == "file" and rest.strip():
            return cls.from_file(rest.strip())
        raise DSMError(f"unknown data model {text!r}: use iso, subspace:PSI_D, atoms:C1@W1,C2@W2,..., "
                       "powerlaw:ALPHA[,K] or file:PATH")

    @classmethod
    def of(cls, data=None, psi_d=None):
        """The data model of ``data`` (a DataModel or its text), or the subspace shorthand ``psi_d``.

        >>> DataModel.of(psi_d="0.5").text, DataModel.of().text
        ('subspace:0.5', 'iso')
        """
        if data is not None and psi_d is not None and _exact(psi_d, "psi_d") != 1:
            raise DSMError("give the data model or psi_d, not both")
        if data is not None:
            return cls.parse(data)
        return cls.subspace(1 if psi_d is None else psi_d)

    # -- what the model reads ---------------------------------------------------------------------
    @property
    def trace(self):
        """``tr(C)/d``, an exact rational: the pre-activation variance is ``Γ = a_t² tr(C)/d + h_t``.

        (A power law is normalised to 1 exactly; the other models have rational
        eigenvalues.)
        """
        trace = sp.simplify(sum(c * w for c, w in self.groups))
        if not trace.is_Rational:
            raise DSMError(f"tr(C)/d = {trace} is not rational: the Gaussian-equivalence constants are keyed by it")
        return trace

    @property
    def psi_d(self):
        """``D/d`` for the isotropic (1) and the subspace models; None for the others."""
        if self.kind == "isotropic":
            return sp.Integer(1)
        if self.kind == "subspace":
            return dict(self.groups)[sp.Integer(1)]
        return None

    @property
    def isotropic_or_subspace(self):
        """Whether this is one of the two models with dedicated pencils."""
        return self.kind in ("isotropic", "subspace")

    def group_names(self):
        """The names of the groups in records: ``par``/``perp`` for a subspace, ``g1, g2, ...`` otherwise.

        >>> DataModel.parse("atoms:4@0.3,1@0.7").group_names()
        ['g1', 'g2']
        """
        if self.kind == "isotropic":
            return ["iso"]
        if self.kind == "subspace":
            return ["par", "perp"]
        return [f"g{j + 1}" for j in range(len(self.groups))]

    def describe_groups(self):
        """``"g1: eigenvalue 4, weight 3/10; ..."`` (for provenance headers)."""
        return "; ".join(f"{name}: eigenvalue {c}, weight {w}" for name, (c, w) in zip(self.group_names(), self.groups))

    def eigenvalues(self, d):
        """The diagonal of ``C`` at dimension ``d`` (float64), group after group, and the group of each entry.

        Group ``j`` gets ``round(w_j d)`` directions; when the rounded counts do
        not add up to ``d``, the groups with the largest weights give or take one
        each until they do (as :func:`pencils.deterministic.draw_family`). A group
        may get no direction at small ``d``.

        >>> values, group = DataModel.parse("atoms:4@0.3,1@0.7").eigenvalues(10)
        >>> values.tolist(), group.tolist()
        ([4.0, 4.0, 4.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
        """
        weights = np.array([float(w) for _, w in self.groups])
        counts = np.floor(weights * d + 0.5).astype(int)
        order = np.argsort(-weights, kind="stable")
        i = 0
        while counts.sum() != d:
            j = order[i % len(order)]
            if counts.sum() < d:
                counts[j] += 1
            elif counts[j] > 0:
                counts[j] -= 1
            i += 1
        group = np.repeat(np.arange(len(self.groups)), counts)
        return np.array([float(c) for c, _ in self.groups])[group], group

    def __eq__(self, other):
        return isinstance(other, DataModel) and self.law == other.law

    def __hash__(self):
        return hash(self.law)

    def __repr__(self):
        return f"DataModel({self.text!r})"

    def __str__(self):
        return self.text

