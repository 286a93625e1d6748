"""Spectral densities: ``-Im g(x + i0) / pi`` along the real axis, edges and atoms.

For a resolvent target ``g(z) = int dmu(t) / (z - t)`` (the convention of
:mod:`pencils`: ``g ~ 1/z`` at infinity, ``Im g < 0`` for ``Im z > 0``), the
density of ``mu`` at ``x`` is ``-Im g(x + i0) / pi``. :func:`density` solves
the Dyson system at ``z = x + i eta`` with ``eta = 10^-(dps + 10)`` — the
boundary value inside the bulk to the working precision, where ``g`` is
analytic up to the axis — warm-started from the previous point so that the
physical branch is followed into the spectrum; each point is certified at
that ``z`` (the distance to the boundary value is ``O(eta |g'|)``, far below
``10^-dps`` away from the edges, where ``g'`` blows up).

Support edges are the real roots of the discriminant in ``g`` of the
eliminated polynomial ``P(g, z) = 0`` (:meth:`DysonSystem.eliminate`) at which
the density vanishes on one side and not on the other; atoms are the real
roots of its leading coefficient in ``g`` (``g ~ m / (z - x0)`` there) with a
mass ``m > 0`` found from the balance of ``P`` at the pole. Both are computed at
``dps + 20`` digits. Systems whose elimination is out of reach give the
density only.

Examples
--------
Marchenko–Pastur at ``psi = 1/2``: an atom of mass ``1/2`` at 0 and the bulk
``[(1 - sqrt(1/2))^2, (1 + sqrt(1/2))^2]``:

>>> import mpmath
>>> from pencils import DysonSystem, load
>>> from pencils.examples import path
>>> rho = density(DysonSystem(load(path("marchenko_pastur"))), [1], {"psi": "0.5"}, dps=30)
>>> print(mpmath.nstr(rho.values[0], 20))       # sqrt((b - 1)(1 - a)) / (2 pi)
0.21054219967389619492
>>> [mpmath.nstr(e, 15) for e in rho.edges], [(mpmath.nstr(x, 5), mpmath.nstr(m, 15)) for x, m in rho.atoms]
(['0.085786437626905', '2.9142135623731'], [('0.0', '0.5')])
"""

import mpmath
import sympy as sp

from .exceptions import DomainError, EliminationError, PencilsError
from .solver import GUARD, solve
from .values import full_string, to_mpmath

__all__ = ["density", "Density"]


class Density:
    """A spectral density on a grid, with the support edges and atoms found.

    Attributes
    ----------
    x : list of mpmath.mpf
    values : list of mpmath.mpf
        ``-Im g(x + i eta) / pi``.
    digits : list of int
        Digits certified at each point (for ``z = x + i eta``).
    edges : list of mpmath.mpf
        Real support edges (empty if the system could not be eliminated).
    atoms : list of (mpmath.mpf, mpmath.mpf)
        ``(position, mass)`` of the point masses.
    dps : int
    """

    def __init__(self, x, values, digits, edges, atoms, dps, note=""):
        self.x, self.values, self.digits = x, values, digits
        self.edges, self.atoms, self.dps, self.note = edges, atoms, dps, note

    def plot(self, path=None, ax=None, label=None):
        """Plot the density (edges dotted, atoms as arrows with their mass); save to ``path`` if given."""
        import matplotlib

        if ax is None and path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure = None
        if ax is None:
            figure, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([float(x) for x in self.x], [float(v) for v in self.values], label=label)
        for e in self.edges:
            ax.axvline(float(e), linestyle=":", color="grey")
        for position, mass in self.atoms:
            ax.annotate(f"atom {float(mass):.3g}", (float(position), 0), xytext=(float(position), 0.1),
                        textcoords="data", arrowprops={"arrowstyle": "->"})
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        if figure is not None and path is not None:
            figure.tight_layout()
            figure.savefig(path)
            plt.close(figure)
        return ax

    def rows(self):
        """``[(x, density, digits), ...]`` as full-precision strings."""
        return [(full_string(x, self.dps), full_string(v, self.dps), d)
                for x, v, d in zip(self.x, self.values, self.digits)]

    def __repr__(self):
        return (f"Density({len(self.x)} points, edges [{', '.join(mpmath.nstr(e, 10) for e in self.edges)}], "
                f"atoms [{', '.join(f'{mpmath.nstr(x, 6)}: {mpmath.nstr(m, 10)}' for x, m in self.atoms)}])")


def density(system, x, at, *, spectral="z", dps=30, target=None, edges=True):
    """The spectral density of a resolvent target of a Dyson system along the real axis.

    Parameters
    ----------
    system : DysonSystem
        Its target (default: the first) is a resolvent ``g(z)`` in the parameter ``spectral``.
    x : sequence
        Real points (read exactly: strings, integers, mpmath numbers).
    at : dict
        Values of the other parameters and ratios.
    spectral : str, optional
        The name of the spectral parameter (default ``"z"``).
    dps : int, optional
        Working precision (default 30).
    target : (int, int), optional
        The entry (default: the first target of the system).
    edges : bool, optional
        Locate edges and atoms by elimination (default True).

    Returns
    -------
    Density

    Raises
    ------
    DomainError
        ``spectral`` is not a parameter of the system, or ``at`` gives it.
    """
    names = {str(p) for p in system.parameters}
    if spectral not in names:
        raise DomainError(f"{spectral} is not a parameter of the system ({', '.join(sorted(names))})")
    if spectral in {str(k) for k in at}:
        raise DomainError(f"{spectral} is the spectral parameter: give the points as x, not in at")
    target = system.targets[0] if target is None else tuple(target)
    eta = f"1e-{dps + 10}"
    points, values, digits = [], [], []
    previous = None
    with mpmath.workdps(dps + GUARD):
        grid = [to_mpmath(v) for v in x]        # read exactly by the whitelist parser
    for value, given in zip(grid, x):
        if mpmath.im(value) != 0:
            raise DomainError(f"the density is taken at real points, got {given}")
    for value in grid:
        with mpmath.workdps(dps + GUARD):
            text = full_string(value, dps + 10)
        solution = _boundary_value(system, at, spectral, text, eta, dps, previous)
        previous = solution
        with mpmath.workdps(dps + GUARD):
            points.append(value)
            values.append(-mpmath.im(solution[target]) / mpmath.pi)
        digits.append(solution.certified_digits(target))
    found_edges, atoms, note = [], [], ""
    if edges:
        try:
            found_edges, atoms = _edges_and_atoms(system, target, at, spectral, dps)
        except PencilsError as exc:
            note = f"edges and atoms not located: {exc}"
    return Density(points, values, digits, found_edges, atoms, dps, note)


def _boundary_value(system, at, spectral, text, eta, dps, previous):
    """The solution at ``x + i eta``: warm from the previous point, else down the vertical line from ``x + i``.

    The vertical path stays in the upper half-plane, where the physical branch is
    the analytic continuation from infinity, so it lands on the boundary value
    ``g(x + i0)`` (the direct coupling homotopy at ``x + i eta`` may stall on a
    branch point of a non-symmetric system).
    """
    def at_height(height, previous=None):
        point = dict(at)
        point[spectral] = f"{text}+{height}j"
        return solve(system, point, dps=dps, previous=previous)

    if previous is not None:
        try:
            return at_height(eta, previous)
        except PencilsError:
            pass
    try:
        return at_height(eta)
    except PencilsError:
        pass
    solution = at_height(1)
    for height in ("0.1", "0.01", eta):
        solution = at_height(height, solution)
    return solution


def _edges_and_atoms(system, target, at, spectral, dps):
    from .values import parse_point

    equation = system.eliminate(target)
    g = system.symbols[target]
    symbols = {str(s): s for s in system.parameters}
    z = symbols[spectral]
    exact = parse_point({k: v for k, v in at.items()}, [s for n, s in symbols.items() if n != spectral])
    polynomial = sp.Poly(sp.expand(equation.lhs.subs({symbols[k]: v for k, v in exact.items()})), g)
    coefficients = [sp.expand(c) for c in polynomial.all_coeffs()]
    discriminant = sp.Poly(sp.discriminant(polynomial.as_expr(), g), z)
    leading = sp.Poly(coefficients[0], z)
    with mpmath.workdps(dps + 20):
        candidates = _real_roots(discriminant)
        edges = [e for e in candidates if _is_edge(system, target, at, spectral, e, dps)]
        atoms = []
        for x0 in _real_roots(leading):
            mass = _mass(polynomial, g, z, x0)
            if mass is not None and mass > mpmath.mpf(10) ** (-dps):
                atoms.append((x0, mass))
    return edges, atoms


def _real_roots(poly):
    """The distinct real roots of an exact polynomial, isolated exactly (SymPy) and evaluated at the precision."""
    if poly.degree() < 1:
        return []
    if not all(c.is_Rational for c in poly.all_coeffs()):
        raise EliminationError("the eliminated polynomial has non-rational coefficients at this point")
    squarefree = sp.Poly(sp.quo(poly.as_expr(), sp.gcd(poly.as_expr(), sp.diff(poly.as_expr(), poly.gen))),
                         poly.gen)
    return sorted(mpmath.mpf(str(r.evalf(mpmath.mp.dps + 5))) for r in squarefree.real_roots())


def _is_edge(system, target, at, spectral, x0, dps):
    """The density vanishes on one side of ``x0`` and not on the other (probed at ``x0 +- 10^-6``)."""
    sides = []
    for sign in (-1, 1):
        with mpmath.workdps(dps + GUARD):
            probe = full_string(x0 + sign * mpmath.mpf(10) ** -6, dps + 10)
        try:
            value = -mpmath.im(_boundary_value(system, at, spectral, probe, f"1e-{dps + 10}", dps, None)[target])
        except PencilsError:
            return False
        sides.append(value > mpmath.mpf(10) ** (-dps // 2))
    return sides[0] != sides[1]


def _mass(polynomial, g, z, x0):
    """The residue ``m`` of ``g ~ m / (z - x0)``: the balance of ``P(m/e, x0 + e)`` as ``e -> 0``."""
    e, m = sp.Symbol("e"), sp.Symbol("m")
    degree = polynomial.degree()
    x0_exact = sp.nsimplify(mpmath.nstr(x0, mpmath.mp.dps), rational=True)
    if abs(x0 - (mpmath.mpf(x0_exact.p) / x0_exact.q)) > mpmath.mpf(10) ** (-mpmath.mp.dps // 2):
        return None
    balanced = sp.expand(polynomial.as_expr().subs({g: m / e, z: x0_exact + e}) * e**degree)
    lowest = sp.Poly(balanced, e).all_coeffs()[::-1]
    leading = next((c for c in lowest if sp.simplify(c) != 0), None)
    if leading is None:
        return None
    masses = [r for r in _real_roots(sp.Poly(leading, m)) if r > 0]
    return min(masses) if masses else None
