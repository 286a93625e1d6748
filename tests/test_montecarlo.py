"""Tests of :mod:`pencils.montecarlo`: theory against finite-N simulation, the linearisation check, errors.

Agreement rule. A Monte Carlo mean over ``S`` independent draws at reference
dimension ``N`` differs from the large-N theory by statistical noise, measured
by its standard error, plus the finite-N bias ``E[g_N] - g``. For normalised
traces of resolvents of real Gaussian pencils this bias is ``O(1/N)`` (the
first correction of the GOE / real Wishart type; complex ensembles start at
``1/N^2``), with a constant that grows with the inverse distance of the
spectral parameter to the spectrum. At the points below (distance at least
0.5 from the spectrum, or ``Im z = 1`` with ``Im C >= Im(z)/2`` for random
pencils) the measured constant ``N |E[g_N] - g|`` is at most about 0.35
(estimated with 100-200 draws at N = 40-200), so the test allows

    |mean - theory| <= 4 * stderr + BIAS / N,   BIAS = 1,

about three times the observed bias. The draws are seeded, so the tests are
deterministic.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pencils.examples import path
from pencils import DomainError, DysonSystem, MonteCarloError, load, solve
from pencils.montecarlo import linearisation_check, monte_carlo
from pencils.testing import random_pencil

BIAS = 1.0  # allowance BIAS / N for the O(1/N) finite-N bias; see the module docstring


def assert_monte_carlo_agrees(pencil, at, N, seeds, targets=((1, 1),)):
    """Check every target of ``pencil`` at ``at``: Monte Carlo against the dps=30 solution."""
    theory = solve(DysonSystem(pencil, target=list(targets)), at, dps=30)
    result = monte_carlo(pencil, at, N=N, seeds=seeds, targets=targets)
    for target in targets:
        error = abs(complex(theory[target]) - result.mean[target])
        allowed = 4 * result.stderr[target] + BIAS / N
        assert error <= allowed, (
            f"{pencil.name} at {at}, target {target}: Monte Carlo {result.mean[target]:.6g} "
            f"(stderr {result.stderr[target]:.2g}, N={N}, {seeds} seeds) vs theory "
            f"{complex(theory[target]):.6g}: |difference| {error:.3g} > {allowed:.3g}"
        )


# (pencil, point, N, seeds); N makes every block size alpha * N an integer
TEXTBOOK_POINTS = [
    ("marchenko_pastur", {"z": "1+0.5j", "psi": "0.5"}, 240, 12),
    ("marchenko_pastur", {"z": "-0.5", "psi": "0.5"}, 240, 12),
    ("semicircle", {"z": "0.5+0.5j", "s": "1.5"}, 300, 12),
    ("wishart_product", {"z": "-1", "phi": "1.5", "psi": "0.5"}, 200, 8),
    ("wishart_product", {"z": "1+1j", "phi": "1.5", "psi": "0.5"}, 200, 8),
    ("ridge", {"lam": "0.5", "psi": "2"}, 240, 12),
]


@pytest.mark.parametrize(
    "name, at, N, seeds", TEXTBOOK_POINTS, ids=[f"{n}-{'-'.join(a.values())}" for n, a, _, _ in TEXTBOOK_POINTS]
)
def test_monte_carlo_agrees_with_theory_textbook(name, at, N, seeds):
    assert_monte_carlo_agrees(load(path(name)), at, N, seeds)


def test_agreement_rule_has_power():
    """The tolerance is tight enough to reject a slightly wrong ratio (psi 0.55 instead of 0.5)."""
    pencil = load(path("marchenko_pastur"))
    N = 240
    result = monte_carlo(pencil, {"z": "-0.5", "psi": "0.5"}, N=N, seeds=12)
    wrong = solve(DysonSystem(pencil), {"z": "-0.5", "psi": "0.55"}, dps=30).value
    assert abs(complex(wrong) - result.mean[(1, 1)]) > 4 * result.stderr[(1, 1)] + BIAS / N


@settings(max_examples=6, deadline=None, derandomize=True, database=None)
@given(
    k=st.integers(2, 5),
    n_matrices=st.integers(1, 3),
    seed=st.integers(0, 10**6),
    x=st.floats(-2, 2, allow_nan=False),
)
def test_monte_carlo_agrees_with_theory_random_pencils(k, n_matrices, seed, x):
    pencil = random_pencil(k, n_matrices, seed=seed)
    targets = [(i, i) for i in sorted({1, (k + 1) // 2, k})]  # first, middle and last blocks
    assert_monte_carlo_agrees(pencil, {"z": complex(x, 1)}, N=60, seeds=8, targets=targets)


def test_monte_carlo_agrees_off_diagonal_entries():
    """Entries g_ij with i != j (blocks of one space) against theory."""
    pencil = random_pencil(4, 2, seed=0)  # blocks 1, 2, 3 form one space of equal sizes
    targets = [(1, 2), (1, 3), (2, 3), (3, 1)]
    assert_monte_carlo_agrees(pencil, {"z": "0.5+1j"}, N=60, seeds=8, targets=targets)


def test_monte_carlo_result_is_reproducible():
    pencil = load(path("ridge"))
    at = {"lam": 1, "psi": 2}
    a = monte_carlo(pencil, at, N=20, seeds=3, seed=5)
    b = monte_carlo(pencil, at, N=20, seeds=3, seed=5)
    c = monte_carlo(pencil, at, N=20, seeds=3, seed=6)
    assert a.mean == b.mean and a.stderr == b.stderr
    assert a.mean != c.mean
    np.testing.assert_array_equal(a.samples[(1, 1)][1:], c.samples[(1, 1)][:-1])  # draw s uses seed + s
    assert (a.N, a.seeds, a.sizes) == (20, 3, (20, 40))


def _marchenko_pastur(m, p):
    X = m["X"]
    return np.linalg.inv(p["z"] * np.eye(len(X)) - X @ X.T)


def _marchenko_pastur_wrong_sign(m, p):
    X = m["X"]
    return np.linalg.inv(p["z"] * np.eye(len(X)) + X @ X.T)


def _semicircle(m, p):
    # the drawn W already has off-diagonal variance s^2 / N (pencils.montecarlo.sample_matrices)
    W = m["W"]
    return np.linalg.inv(p["z"] * np.eye(len(W)) - W)


def _semicircle_scaled_twice(m, p):
    W = m["W"]
    return np.linalg.inv(p["z"] * np.eye(len(W)) - p["s"] * W)


def _wishart_product(m, p):
    W, X = m["W"], m["X"]
    return np.linalg.inv(p["z"] * np.eye(len(W)) - W @ X @ X.T @ W.T)


def _wishart_product_without_x(m, p):
    W = m["W"]
    return np.linalg.inv(p["z"] * np.eye(len(W)) - W @ W.T)


def _ridge(m, p):
    X = m["X"]
    return np.linalg.inv(X @ X.T + p["lam"] * np.eye(len(X)))


def _ridge_wrong_sign(m, p):
    X = m["X"]
    return np.linalg.inv(X @ X.T - p["lam"] * np.eye(len(X)))


LINEARISATIONS = [
    ("marchenko_pastur", {"z": "0.3+1j", "psi": "1.5"}, _marchenko_pastur, _marchenko_pastur_wrong_sign),
    ("marchenko_pastur", {"z": "-0.7", "psi": "0.5"}, _marchenko_pastur, _marchenko_pastur_wrong_sign),
    ("semicircle", {"z": "0.3+1j", "s": "1.5"}, _semicircle, _semicircle_scaled_twice),
    ("wishart_product", {"z": "-1", "phi": "1.5", "psi": "0.5"}, _wishart_product, _wishart_product_without_x),
    ("wishart_product", {"z": "0.2+1j", "phi": "0.5", "psi": "2"}, _wishart_product, _wishart_product_without_x),
    ("ridge", {"lam": "0.5", "psi": "2"}, _ridge, _ridge_wrong_sign),
]


@pytest.mark.parametrize(
    "name, at, right, wrong", LINEARISATIONS, ids=[f"{n}-{'-'.join(a.values())}" for n, a, _, _ in LINEARISATIONS]
)
def test_linearisation_check(name, at, right, wrong):
    pencil = load(path(name))
    good = linearisation_check(pencil, right, at, N=8)
    assert good.passed, good
    assert good.block == (1, 1) and good.relative_error < 1e-12
    bad = linearisation_check(pencil, wrong, at, N=8)
    assert bad.passed is False, bad
    assert bad.relative_error > 1e-3


def test_linearisation_check_refuses_wrong_shape():
    with pytest.raises(MonteCarloError, match="shape"):
        linearisation_check(
            load(path("marchenko_pastur")), lambda m, p: m["X"].T @ m["X"], {"z": "1j", "psi": "1.5"}, N=4
        )


MP_POINT = {"z": "0.5+1j", "psi": "0.5"}


@pytest.mark.parametrize(
    "error, match, at, options",
    [
        (MonteCarloError, "seeds must be an integer of at least 2", MP_POINT, {"seeds": 1}),
        (MonteCarloError, "seeds must be an integer", MP_POINT, {"seeds": 2.5}),
        (MonteCarloError, "N must be a positive integer", MP_POINT, {"N": 0}),
        (MonteCarloError, "N must be a positive integer", MP_POINT, {"N": 2.5}),
        (MonteCarloError, r"target \(3, 1\) is outside the 2 x 2 pencil", MP_POINT, {"targets": [(3, 1)]}),
        (MonteCarloError, r"target \(0, 1\) is outside", MP_POINT, {"targets": [(0, 1)]}),
        (MonteCarloError, "block 2 has no rows", {"z": "1j", "psi": "0.001"}, {}),
        (DomainError, "z: cannot parse 'abc': unknown name 'abc'", {"z": "abc", "psi": "0.5"}, {}),
        (DomainError, "no value given for z", {"psi": "0.5"}, {}),
        (DomainError, "unknown parameter", {**MP_POINT, "q": 1}, {}),
        (DomainError, "psi is a positive ratio", {"z": "1j", "psi": "-0.5"}, {}),
    ],
    ids=["one-seed", "fractional-seeds", "N=0", "fractional-N", "target-outside", "target-zero", "empty-block", "non-numeric", "missing",
         "unknown", "negative-ratio"],
)
def test_monte_carlo_errors(error, match, at, options):
    with pytest.raises(error, match=match):
        monte_carlo(load(path("marchenko_pastur")), at, **{"N": 10, "seeds": 2, **options})


def test_single_pair_target():
    result = monte_carlo(load(path("marchenko_pastur")), MP_POINT, N=20, seeds=2, targets=(1, 1))
    assert list(result.mean) == [(1, 1)]
