"""Shared fixtures: the textbook pencils and their symbols."""

import pytest
import sympy as sp

from derivations.textbook import NAMES, path
from pencils import load


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
