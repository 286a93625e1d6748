"""The Dyson (operator-valued Stieltjes transform) system of a pencil.

For ``L = C + (Gaussian part)`` with ``g_ij = (1/N_i) E tr[(L^{-1})_ij]``, the
``k x k`` matrix ``G`` solves ``G = (C - eta(G))^{-1}`` (see
:mod:`pencils.structure`). Only the entries of ``G`` that ``eta`` reads are
unknowns; every other entry, the requested targets included, follows from one
inverse of ``C - eta(G)``, taken space by space. The system is kept in this
reduced form: one equation ``g_ab = [(C - eta(G))^{-1}]_ab`` per unknown,
each right-hand side a ratio of two small determinants.

Examples
--------
Marchenko–Pastur: block (1, 1) of the inverse is ``(z - X X^T)^{-1}``.

>>> import sympy as sp
>>> from pencils import Pencil, GaussianMatrix, ratio, DysonSystem
>>> z, psi = sp.Symbol("z"), ratio("psi")
>>> X = GaussianMatrix("X", 1, psi)
>>> L = Pencil([[z, X], [X.T, 1]], sizes=[1, psi], parameters=[z])
>>> system = DysonSystem(L, target=(1, 1))
>>> for eq in system.equations:
...     print(eq)
Eq(g11, 1/(-g22*psi + z))
Eq(g22, 1/(1 - g11))
>>> system.eliminate()
Eq(g11**2*z + g11*(psi - z - 1) + 1, 0)
"""

from functools import cached_property

import sympy as sp

from .deterministic import EXPLICIT_ATOMS
from .exceptions import EliminationError, PencilValidationError
from .parsing import substitutions
from .reduction import Reduction
from .structure import check_target

__all__ = ["DysonSystem", "entry_symbol"]


def entry_symbol(i, j, k, *other):
    """The SymPy symbol of ``g_ij`` (numbered from 1) in a pencil of ``k`` blocks per row.

    With ``other`` (``"o"``): block ``i`` of one copy and block ``j`` of another
    copy of replicated blocks.

    >>> entry_symbol(1, 2, 3), entry_symbol(1, 10, 12), entry_symbol(2, 3, 4, "o")
    (g12, g1_10, g23_o)
    """
    return sp.Symbol((f"g{i}{j}" if k < 10 else f"g{i}_{j}") + ("_o" if other else ""))


class DysonSystem:
    """The reduced fixed-point system of a pencil for some target entries of ``E[L^{-1}]``.

    Parameters
    ----------
    pencil : Pencil
    target : (int, int) or sequence of them, optional
        Entries of ``G`` wanted (numbered from 1). Default ``(1, 1)``.
        Unknowns no target depends on are pruned. For a pencil with
        replicated blocks, two replicated blocks mean one copy.
    names : dict, optional
        New names for entries of ``G``, keyed by ``(i, j)`` or by the default
        name (``"g11"``): ``{(1, 1): "q", "g22": "r"}``.
    symmetry : bool, optional
        Reduce by the permutations of blocks that leave the pencil's law
        unchanged (:mod:`pencils.symmetry`): unknowns in one orbit become one
        unknown, so that the system is smaller and gives the same numbers
        (default True).

    Attributes
    ----------
    unknowns : tuple
        The entries solved for, numbered from 1: ``(i, j)``; for a pencil
        with replicated blocks also ``(i, j, "o")``, block ``i`` of one copy
        and block ``j`` of another (its symbol ends in ``_o``).
    symbols : dict
        Entry -> ``sympy.Symbol`` for every unknown and target.
    reduction : Reduction
        The reduced blocks that are inverted and how ``G`` is read off them
        (:mod:`pencils.reduction`).
    """

    def __init__(self, pencil, target=(1, 1), names=None, symmetry=True, _from=None):
        self.pencil = pencil
        if _from is not None:
            self.reduction, self.targets, self.unknowns, self.symbols = _from
            self.structure = self.reduction.structure
            return
        targets = [target] if _is_pair(target) else list(target)
        if not targets:
            raise PencilValidationError("at least one target entry is needed")
        zero_based = [check_target(t, pencil.k) for t in targets]
        self.reduction = reduction = Reduction(pencil, zero_based, symmetry=symmetry)
        self.structure = reduction.structure
        self.targets = tuple(_one_based(t) for t in zero_based)
        self.unknowns = tuple(_one_based(u) for u in reduction.unknowns)
        k = pencil.k
        self.symbols = {e: entry_symbol(e[0], e[1], k, *e[2:]) for e in self.unknowns + self.targets}
        for key, new in (names or {}).items():
            entry = _entry_of(key, self.symbols, k)
            self.symbols[entry] = sp.Symbol(str(new))
        if len(set(self.symbols.values())) != len(self.symbols):
            raise PencilValidationError("two entries of G were given the same name")
        clash = {str(s) for s in self.symbols.values()} & {str(s) for s in pencil.symbols}
        if clash:
            raise PencilValidationError(
                f"name(s) {', '.join(map(str, clash))} of entries of G clash with pencil symbols"
            )

    # -- symbolic forms -------------------------------------------------------------------
    @property
    def parameters(self):
        """The free scalar symbols of the system (parameters and ratios; spectral variables are averaged out)."""
        r = self.reduction.on_atoms()
        free = set().union(
            *(c[-1].free_symbols for c in r.constants), *(t[-1].free_symbols for t in r.terms),
            *(w.free_symbols for e in self.reduction.unknowns + tuple(_zero_based(t) for t in self.targets)
              for w, *_ in r.readouts[e]),
        )
        return tuple(s for s in self.pencil.symbols if s in free) + tuple(
            sorted(free - set(self.pencil.symbols), key=str)
        )

    @property
    def orbits(self):
        """``{unknown: entries of G it stands for}`` (numbered from 1; see :mod:`pencils.symmetry`)."""
        return {_one_based(u): tuple(_one_based(e) for e in orbit) for u, orbit in self.reduction.orbits.items()}

    @property
    def structural_zeros(self):
        """The targets that are exactly zero by structure.

        An entry ``(i, j)`` of ``E[L^{-1}]`` whose blocks lie in different
        spaces, or outside the sparsity pattern of the inverse, vanishes for
        every parameter value; it is reported as an exact 0, never computed.
        """
        return tuple(t for t in self.targets if not self.reduction.readouts[_zero_based(t)])

    @cached_property
    def matrices(self):
        """The reduced blocks ``K_n`` as symbolic matrices in the unknowns (``C - eta(G)`` reduced)."""
        r = self.reduction
        Ks = [sp.zeros(n, n) for n in r.sizes]
        for n, row, col, value in r.constants:
            Ks[n][row, col] += value
        for n, row, col, u, coefficient in r.terms:
            Ks[n][row, col] -= coefficient * self.symbols[self.unknowns[u]]
        return Ks

    @cached_property
    def _adjugates(self):
        """Per reduced block: its adjugate and determinant, filled as they are computed."""
        return {}

    def _adjugate(self, n):
        """The adjugate and the determinant of reduced block ``n`` (computed once).

        Computed together, as polynomials over the exact domain of the entries (SymPy's
        ``DomainMatrix.adj_det``): for a block of size 8 with 16 unknowns this takes seconds,
        where cofactors of ``Expr`` matrices took minutes.
        """
        if n in self._adjugates:
            return self._adjugates[n]
        from sympy.polys.matrices import DomainMatrix

        M = self.matrices[n]
        # radicals and functions of parameters (sqrt(h), exp(-t)) become generators of the ring
        generators = {a: sp.Dummy() for a in M.atoms(sp.Pow, sp.Function)
                      if not (isinstance(a, sp.Pow) and a.exp.is_Integer)}
        D = DomainMatrix.from_Matrix(M.xreplace(generators))
        if D.domain.is_EX:  # no polynomial domain: cofactors of the expression matrix
            result = M.adjugate(method="berkowitz").applyfunc(sp.cancel), sp.cancel(M.det(method="berkowitz"))
        else:
            adjugate, determinant = D.adj_det()
            back = {d: a for a, d in generators.items()}
            result = adjugate.to_Matrix().xreplace(back), D.domain.to_sympy(determinant).xreplace(back)
        self._adjugates[n] = result
        return result

    @cached_property
    def expansion_sizes(self):
        """Per reduced block (its labels): an upper bound on the terms of its determinant.

        The Leibniz expansion of ``det K`` has at most ``perm(A)`` non-zero
        terms, ``A`` the 0/1 pattern of ``K``, and
        ``perm(A) <= prod_i (r_i!)^(1/r_i)`` (Bregman's bound, ``r_i`` the
        non-zero entries of row ``i``). The symbolic work of :meth:`generate`
        grows with it: seconds at a few thousand terms, out of reach beyond
        about ``10^6``.

        Examples
        --------
        >>> import sympy as sp
        >>> from pencils import Pencil, GaussianMatrix, ratio
        >>> z, psi = sp.Symbol("z"), ratio("psi")
        >>> X = GaussianMatrix("X", 1, psi)
        >>> DysonSystem(Pencil([[z, X], [X.T, 1]], [1, psi], [z])).expansion_sizes
        {('1',): 1, ('2',): 1}
        """
        import math

        result = {}
        for labels, M in zip(self.reduction.labels, self.matrices):
            log_bound = 0.0
            for i in range(M.rows):
                r = sum(1 for j in range(M.cols) if M[i, j] != 0)
                if r == 0:
                    log_bound = -math.inf
                    break
                log_bound += math.lgamma(r + 1) / r
            result[labels] = 0 if log_bound == -math.inf else round(math.exp(log_bound))
        return result

    def generate(self, progress=None):
        """Compute the equations and target formulas, step by step, reporting progress.

        The symbolic work (one determinant per reduced block, one cofactor per
        unknown and per target that is not an unknown) grows quickly with the
        size of the blocks: a pencil with a space of 30 or more blocks can take
        minutes. The results are cached: ``equations`` and ``target_formulas``
        then return at once.

        Parameters
        ----------
        progress : bool or callable, optional
            ``True`` shows a progress bar with an estimate of the time left on
            standard error (tqdm); a callable receives ``(done, total, step)``
            after each step, ``step`` saying what was computed. Default
            ``None``: silent.

        Returns
        -------
        tuple of sympy.Eq
            The equations (as :attr:`equations`).

        Examples
        --------
        >>> import sympy as sp
        >>> from pencils import Pencil, GaussianMatrix, ratio
        >>> z, psi = sp.Symbol("z"), ratio("psi")
        >>> X = GaussianMatrix("X", 1, psi)
        >>> system = DysonSystem(Pencil([[z, X], [X.T, 1]], [1, psi], [z]))
        >>> steps = []
        >>> system.generate(progress=lambda done, total, step: steps.append(f"{done}/{total} {step}"))
        (Eq(g11, 1/(-g22*psi + z)), Eq(g22, 1/(1 - g11)))
        >>> steps
        ['1/4 determinant of block 1 (size 1)', '2/4 determinant of block 2 (size 1)', '3/4 g11', '4/4 g22']
        """
        if getattr(self, "_generated", None) is not None:
            return self._generated[0]
        sizes = self.reduction.sizes
        extra = [t for t in self.targets if t not in self.unknowns]
        total = len(sizes) + len(self.unknowns) + len(extra)
        bar = None
        if progress is True:
            import sys

            from tqdm import tqdm

            bar = tqdm(total=total, desc="Dyson system", unit="step", file=sys.stderr)

        done = 0

        def step(what):
            nonlocal done
            done += 1
            if bar is not None:
                bar.set_postfix_str(what, refresh=False)
                bar.update(1)
            elif callable(progress):
                progress(done, total, what)

        try:
            for n, size in enumerate(sizes):
                self._adjugate(n)
                step(f"determinant of block {n + 1} (size {size})")
            equations = []
            for u in self.unknowns:
                equations.append(sp.Eq(self.symbols[u], self._inverse_entry(u), evaluate=False))
                step(str(self.symbols[u]))
            formulas = {}
            for t in self.targets:
                formulas[t] = self.symbols[t] if t in self.unknowns else self._inverse_entry(t)
                if t not in self.unknowns:
                    step(str(self.symbols[t]))
        finally:
            if bar is not None:
                bar.close()
        self._generated = (tuple(equations), formulas)
        return self._generated[0]

    def _inverse_entry(self, entry):
        """Symbolic readout of an entry (1-based): ``sum weight * adj(K_n)[r, c] / det(K_n)``."""
        result = sp.Integer(0)
        for weight, n, r, c in self.reduction.readouts[_zero_based(entry)]:
            adjugate, determinant = self._adjugate(n)
            term = adjugate[r, c] / determinant
            law = self.reduction.laws.get(n)
            if law is not None:
                term = law.average(term)
            result += weight * term
        return result

    @property
    def equations(self):
        """One ``sympy.Eq(g, readout of (C - eta(G))^{-1})`` per unknown (see :meth:`generate`)."""
        return self.generate()

    @property
    def target_formulas(self):
        """``{entry: expression in the unknowns}`` for every target (see :meth:`generate`)."""
        self.generate()
        return self._generated[1]

    def reduction_summary(self):
        """What the reduction did, in words: replicated blocks, unknowns before and after, block sizes.

        >>> import sympy as sp
        >>> from pencils import Pencil, GaussianMatrix, ratio
        >>> z, psi = sp.Symbol("z"), ratio("psi")
        >>> X = GaussianMatrix("X", 1, psi)
        >>> DysonSystem(Pencil([[z, X], [X.T, 1]], [1, psi], [z])).reduction_summary()
        '2 unknowns; reduced blocks of sizes 1, 1'
        """
        r = self.reduction
        sizes = ", ".join(map(str, r.sizes))
        replicas = self.pencil.replicas
        if replicas is None:
            if not r.symmetries:
                return f"{len(self.unknowns)} unknowns; reduced blocks of sizes {sizes}"
            merged = {self.symbols[_one_based(u)]: orbit for u, orbit in r.orbits.items() if len(orbit) > 1}
            described = "; ".join(
                f"{symbol} = " + " = ".join(str(entry_symbol(*_one_based(e), self.pencil.k)) for e in orbit[1:])
                for symbol, orbit in merged.items()
            )
            return (
                f"{len(self.unknowns)} unknowns instead of {r.full_unknown_count()}: the pencil is invariant under "
                f"{len(r.symmetries)} generating permutation(s) of its blocks ({described}); reduced blocks of "
                f"sizes {sizes}"
            )
        full = r.full_unknown_count()
        return (
            f"blocks {', '.join(map(str, replicas.blocks))} replicated {replicas.count} times "
            f"(per copy: {', '.join(replicas.matrices) or 'none'}); {len(self.unknowns)} unknowns instead of "
            f"{full} in the explicit pencil; reduced blocks of sizes {sizes} "
            f"({', '.join('[' + ' '.join(labels) + ']' for labels in r.labels)})"
        )

    def subs(self, values):
        """The system with parameters replaced by values or expressions.

        >>> import sympy as sp
        >>> from pencils import Pencil, WignerMatrix
        >>> z, s = sp.symbols("z s")
        >>> system = DysonSystem(Pencil([[z - s * WignerMatrix("W", 1)]], [1], [z, s]))
        >>> system.subs({s: 1}).equations
        (Eq(g11, 1/(-g11 + z)),)
        """
        values = substitutions(values, self.pencil.symbols)
        return DysonSystem(
            self.pencil, _from=(self.reduction.subs(values), self.targets, self.unknowns, dict(self.symbols)),
        )

    def eliminate(self, target=None):
        """Eliminate every unknown but one target: a single polynomial equation.

        Unknowns given explicitly by others are substituted first; what is
        left is eliminated with a lexicographic Gröbner basis. When the result
        factors, the factors that the physical solution cannot satisfy are
        dropped by evaluating them at the numerical solution of a generic
        complex point.

        Parameters
        ----------
        target : (int, int), optional
            Default: the first target of the system.

        Returns
        -------
        sympy.Eq
            ``P(g, parameters) = 0`` with ``P`` a polynomial in ``g``.
        """
        target = self.targets[0] if target is None else tuple(target)
        if target not in self.targets:
            raise EliminationError(f"{target} is not a target of this system")
        if any(eq.has(sp.Sum) for eq in self.equations):
            raise EliminationError(
                "the system averages over a spectral law of more than "
                f"{EXPLICIT_ATOMS} atoms (an indexed sum): its elimination would be a polynomial of that "
                "degree; solve it numerically instead")
        if any(eq.has(sp.Integral) for eq in self.equations):
            raise EliminationError("the system averages over a spectral law with a density (an integral): it has "
                                   "no polynomial elimination; solve it numerically instead")
        g = self.symbols[target]
        others = [self.symbols[u] for u in self.unknowns if u != target]
        relations = {self.symbols[u]: eq.rhs for u, eq in zip(self.unknowns, self.equations)}
        if target not in self.unknowns:
            relations[g] = self.target_formulas[target]
        # substitute unknowns whose formula does not involve themselves
        changed = True
        while changed:
            changed = False
            for u in list(others):
                rhs = relations[u]
                if u not in rhs.free_symbols:
                    del relations[u]
                    others.remove(u)
                    relations = {v: sp.cancel(r.subs(u, rhs)) for v, r in relations.items()}
                    changed = True
        polys = [sp.numer(sp.together(v - r)) for v, r in relations.items()]
        if others:
            basis = sp.groebner(polys, *others, g, order="lex")
            candidates = [p for p in basis.exprs if not (p.free_symbols & set(others))]
            if not candidates:
                raise EliminationError("the Gröbner basis has no polynomial in the target alone")
            polynomial = candidates[0]
        else:
            (polynomial,) = polys
        factors = [f for f, _ in sp.factor_list(polynomial)[1] if g in f.free_symbols]
        if not factors:
            raise EliminationError("elimination left no equation in the target")
        if len(factors) > 1:
            factors = self._physical_factors(factors, target)
        result = sp.expand(sp.Mul(*factors))
        leading = sp.Poly(result, g).LC()
        if leading.could_extract_minus_sign():
            result = -result
        return sp.Eq(sp.collect(sp.expand(result), g), 0)

    def _physical_factors(self, factors, target):
        import mpmath

        from .solver import solve

        solution = solve(self, _generic_point(self.parameters), dps=30)
        arguments = list(self.parameters) + [self.symbols[target]]
        values = list(solution.point.values()) + [solution[target]]
        with mpmath.workdps(30):
            sizes = [abs(sp.lambdify(arguments, f, modules="mpmath")(*values)) for f in factors]
        kept = [f for f, size in zip(factors, sizes) if size < 1e-20 * max(1, max(sizes))]
        if not kept:
            raise EliminationError("no factor of the eliminated polynomial vanishes at the solution")
        return kept

    def _repr_latex_(self):
        """The system in a notebook (:func:`pencils.latex.system_latex`)."""
        from .latex import system_latex

        return f"$${system_latex(self)}$$"

    def __repr__(self):
        return (
            f"DysonSystem({len(self.unknowns)} unknowns {', '.join(map(str, (self.symbols[u] for u in self.unknowns)))}; "
            f"targets {', '.join(map(str, (self.symbols[t] for t in self.targets)))})"
        )


def _one_based(entry):
    return (entry[0] + 1, entry[1] + 1) + tuple(entry[2:])


def _zero_based(entry):
    return (entry[0] - 1, entry[1] - 1) + tuple(entry[2:])


def _is_pair(value):
    return isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int | sp.Integer) for v in value)


def _entry_of(key, symbols, k):
    if _is_pair(key):
        entry = (int(key[0]), int(key[1]))
    else:
        matches = [e for e, s in symbols.items() if str(s) == str(key) or e == _parse_name(str(key), k)]
        if not matches:
            raise PencilValidationError(f"no unknown or target named {key}")
        entry = matches[0]
    if entry not in symbols:
        raise PencilValidationError(f"{key} is not an unknown or a target of the system")
    return entry


def _parse_name(name, k):
    body = name[1:] if name.startswith("g") else ""
    if k < 10 and len(body) == 2 and body.isdigit():
        return (int(body[0]), int(body[1]))
    parts = body.split("_")
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return (int(parts[0]), int(parts[1]))
    return None


def _generic_point(symbols):
    """A reproducible generic point: positive rationals for ratios, upper-half-plane values otherwise."""
    point = {}
    for n, s in enumerate(symbols):
        if s.is_positive:
            point[str(s)] = sp.Rational(3 + 2 * n, 5 + n)
        else:
            point[str(s)] = sp.Rational(1, 3 + n) + sp.I * sp.Rational(7 + n, 4)
    return point
