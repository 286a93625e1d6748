"""Shared fixtures: the textbook pencils and their symbols.

Monte Carlo tests invert many small dense matrices: one BLAS thread each is
faster than OpenBLAS's threads fighting over the 2 cores of CI (set before
numpy is imported).

The disk cache of the DSM constants goes to a fresh temporary folder for the
session (never the user's ``~/.cache``): no test depends on what an earlier
run left behind. Under pytest-xdist the workers of one session share that
folder (the controller creates it, the workers inherit it through the
environment): a constant computed by one worker is read by the other, and
the cache's atomic writes are exercised by concurrent processes.
"""

import os
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if not (os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("PENCILS_TEST_SESSION_CACHE")):
    os.environ["PENCILS_TEST_SESSION_CACHE"] = tempfile.mkdtemp(prefix="pencils-test-cache-")
os.environ["PENCILS_CACHE_DIR"] = os.environ["PENCILS_TEST_SESSION_CACHE"]

import pytest  # noqa: E402
import sympy as sp  # noqa: E402

from pencils.examples import NAMES, path  # noqa: E402
from pencils import load  # noqa: E402


@pytest.fixture(scope="session")
def textbook():
    """``{name: Pencil}`` for every textbook pencil."""
    return {name: load(path(name)) for name in NAMES}


@pytest.fixture(scope="session")
def symbols():
    """The symbols used by the textbook pencils, with their assumptions."""
    return {
        "z": sp.Symbol("z"),
        "psi": sp.Symbol("psi", positive=True),
        "phi": sp.Symbol("phi", positive=True),
        "s": sp.Symbol("s", positive=True),
        "lam": sp.Symbol("lam", positive=True),
    }
