"""Tests of :mod:`pencils.density`: closed-form densities, edges and atoms, and eigenvalue histograms.

References: Marchenko–Pastur ``sqrt((b - x)(x - a)) / (2 pi x)`` with ``a, b = (1 -+ sqrt(psi))^2`` and an
atom ``1 - psi`` at 0 when ``psi < 1``; the semicircle ``sqrt(4 s^2 - x^2) / (2 pi s^2)`` on ``[-2s, 2s]``;
computed here at 60 digits. Histograms: eigenvalues of ``X X^T`` at N = 400, 4 draws, against the
integral of the density over each bin, within 5 binomial standard errors + 0.01 (finite-N edge effects).
"""

import mpmath
import numpy as np
import pytest

from pencils.examples import path
from pencils import DomainError, DysonSystem, load
from pencils.density import density


def interior(a, b, count=20):
    """``count`` exact points strictly inside ``(a, b)`` (rationals as strings)."""
    return [f"{a + (b - a) * (k + 0.5) / count:.6f}" for k in range(count)]


@pytest.mark.parametrize("psi", ["0.5", "2"])
def test_marchenko_pastur_density_edges_and_atom(psi):
    system = DysonSystem(load(path("marchenko_pastur")))
    with mpmath.workdps(60):
        p = mpmath.mpf(psi)
        a, b = (1 - mpmath.sqrt(p)) ** 2, (1 + mpmath.sqrt(p)) ** 2
    xs = interior(float(a), float(b))
    rho = density(system, xs, {"psi": psi}, dps=30)
    with mpmath.workdps(60):
        for x, value, digits in zip(xs, rho.values, rho.digits):
            X = mpmath.mpf(x)
            expected = mpmath.sqrt((b - X) * (X - a)) / (2 * mpmath.pi * X)
            assert abs(value - expected) < mpmath.mpf(10) ** -25 * expected, x
            assert digits >= 25
        assert len(rho.edges) == 2
        assert abs(rho.edges[0] - a) < mpmath.mpf(10) ** -20 and abs(rho.edges[1] - b) < mpmath.mpf(10) ** -20
        if p < 1:
            ((position, mass),) = rho.atoms
            assert position == 0 and abs(mass - (1 - p)) < mpmath.mpf(10) ** -20
        else:
            assert rho.atoms == []


def test_semicircle_density_and_edges():
    system = DysonSystem(load(path("semicircle")))
    rho = density(system, interior(-1.4, 1.4), {"s": "0.7"}, dps=30)
    with mpmath.workdps(60):
        s = mpmath.mpf("0.7")
        for x, value in zip(interior(-1.4, 1.4), rho.values):
            X = mpmath.mpf(x)
            assert abs(value - mpmath.sqrt(4 * s**2 - X**2) / (2 * mpmath.pi * s**2)) < mpmath.mpf(10) ** -25
        assert [abs(e - v) < mpmath.mpf(10) ** -20 for e, v in zip(rho.edges, (-2 * s, 2 * s))] == [True, True]
    assert rho.atoms == [] and rho.values[0] > 0


def test_outside_the_support_the_density_vanishes():
    rho = density(DysonSystem(load(path("marchenko_pastur"))), ["3.5", "5"], {"psi": "0.5"}, dps=30,
                  edges=False)
    assert all(v < mpmath.mpf(10) ** -30 for v in rho.values) and rho.edges == [] and rho.atoms == []


@pytest.mark.slow
def test_eigenvalue_histogram_agrees():
    psi, N, draws = 2.0, 400, 4
    rng = np.random.default_rng(7)
    eigenvalues = np.concatenate([np.linalg.eigvalsh(X @ X.T) for X in
                                  (rng.standard_normal((N, int(psi * N))) / np.sqrt(N) for _ in range(draws))])
    a, b = (1 - np.sqrt(psi)) ** 2, (1 + np.sqrt(psi)) ** 2
    bins = np.linspace(a, b, 9)
    counts, _ = np.histogram(eigenvalues, bins)
    fractions = counts / eigenvalues.size
    # the density on a fine grid, integrated over each bin (trapezoid)
    grid = np.linspace(a + 1e-4, b - 1e-4, 161)   # the mass within 1e-4 of an edge is below 1e-5
    rho = density(DysonSystem(load(path("marchenko_pastur"))), [f"{x:.12f}" for x in grid], {"psi": "2"},
                  dps=15, edges=False)
    values = np.array([float(v) for v in rho.values])
    for k in range(8):
        inside = (grid >= bins[k]) & (grid <= bins[k + 1])
        mass = np.trapezoid(values[inside], grid[inside])
        se = np.sqrt(mass * (1 - mass) / eigenvalues.size)
        assert abs(fractions[k] - mass) <= 5 * se + 0.01, (k, fractions[k], mass)


def test_bad_input():
    system = DysonSystem(load(path("marchenko_pastur")))
    with pytest.raises(DomainError, match="not a parameter"):
        density(system, ["1"], {"psi": 2}, spectral="w")
    with pytest.raises(DomainError, match="spectral parameter"):
        density(system, ["1"], {"psi": 2, "z": 1})


def test_a_non_symmetric_pencil_is_followed_into_its_spectrum():
    """Product of two Wishart factors (a non-symmetric pencil): against the cubic
    ``g (zg + phi - 1)(zg + psi - 1) - zg + 1 = 0`` at real ``x`` inside the bulk, where the root with
    ``Im g < 0`` of the complex pair is the boundary value (the third root is real)."""
    system = DysonSystem(load(path("wishart_product")))
    xs = ["0.5", "2", "5", "10"]
    rho = density(system, xs, {"phi": "1.5", "psi": 2}, dps=30)
    with mpmath.workdps(60):
        phi, psi = mpmath.mpf("1.5"), mpmath.mpf(2)
        for x, value in zip(xs, rho.values):
            z = mpmath.mpf(x)
            # expand g (z g + phi - 1)(z g + psi - 1) - z g + 1 in powers of g
            coefficients = [z**2, z * (phi - 1) + z * (psi - 1), (phi - 1) * (psi - 1) - z, 1]
            roots = mpmath.polyroots(coefficients, maxsteps=200, extraprec=200)
            lower = [r for r in roots if mpmath.im(r) < -mpmath.mpf(10) ** -30]
            assert len(lower) == 1
            assert abs(value - (-mpmath.im(lower[0]) / mpmath.pi)) < mpmath.mpf(10) ** -25
    assert len(rho.edges) == 2 and rho.atoms == []
