"""pencils: linear pencils of Gaussian random matrices, their Dyson systems and verified solutions.

The flow, one module per step:

========================  ====================================================
:mod:`pencils.matrices`   dimension ratios, Gaussian and Wigner matrices
:mod:`pencils.pencil`     the :class:`Pencil` and its validation
:mod:`pencils.io`         the readable text format of pencils
:mod:`pencils.structure`  spaces, covariance map, sparsity, unknowns (networkx)
:mod:`pencils.dyson`      the reduced Dyson system (SymPy) and elimination
:mod:`pencils.latex`      LaTeX of pencils and systems
:mod:`pencils.values`     parameter values read at the working precision
:mod:`pencils.linalg`     small dense linear algebra for any number type
:mod:`pencils.solver`     verified high-precision solve, exact derivatives
:mod:`pencils.sweep`      warm-started sweeps, tables with provenance
:mod:`pencils.montecarlo` finite-N simulation, linearisation check
:mod:`pencils.testing`    random well-posed pencils for tests
:mod:`pencils.cli`        the ``pencils`` command
========================  ====================================================
"""

from .dyson import DysonSystem
from .exceptions import (
    AdmissibilityError,
    ConvergenceError,
    DomainError,
    EliminationError,
    MonteCarloError,
    ParseError,
    PencilFormatError,
    PencilsError,
    PencilValidationError,
    SingularPointError,
    SolverError,
    StructureError,
)
from .io import dumps, load, loads, save
from .matrices import GaussianMatrix, WignerMatrix, ratio, ratios
from .pencil import Pencil
from .solver import Solution, solve
from .structure import Structure

__version__ = "0.1.0"

__all__ = [
    "AdmissibilityError", "ConvergenceError", "DomainError", "DysonSystem", "EliminationError",
    "GaussianMatrix", "MonteCarloError", "ParseError", "Pencil", "PencilFormatError", "PencilValidationError",
    "PencilsError", "SingularPointError", "Solution", "SolverError", "Structure", "StructureError",
    "WignerMatrix", "dumps", "load", "loads", "ratio", "ratios", "save", "solve",
]
