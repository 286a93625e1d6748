"""pencils: linear pencils of Gaussian random matrices, their Dyson systems and verified solutions.

The flow, one module per step:

============================= ====================================================
:mod:`pencils.matrices`       dimension ratios, Gaussian and Wigner matrices
:mod:`pencils.deterministic`  deterministic matrices given by a spectral law
:mod:`pencils.pencil`         the :class:`Pencil` and its validation
:mod:`pencils.replicas`       blocks repeated a symbolic number of times
:mod:`pencils.io`             the readable text format of pencils
:mod:`pencils.linearization`  the pencil of a rational expression in random matrices
:mod:`pencils.structure`      spaces, covariance map, sparsity, unknowns
:mod:`pencils.graphs`         components and reachability on adjacency dictionaries
:mod:`pencils.symmetry`       block symmetries (colour refinement, networkx's VF2)
:mod:`pencils.reduction`      the small blocks that are inverted, readouts of ``G``
:mod:`pencils.dyson`          the reduced Dyson system (SymPy) and elimination
:mod:`pencils.latex`          LaTeX of pencils and systems
:mod:`pencils.parsing`        the whitelist parser of expressions and numbers
:mod:`pencils.values`         parameter values: exact, then at an explicit precision
:mod:`pencils.balls`          ball arithmetic (python-flint) for certificates
:mod:`pencils.quadrature`     Gauss rules of spectral densities, certified error bounds
:mod:`pencils.linalg`         small dense linear algebra for any number type
:mod:`pencils.solver`         continuation, Newton, verification, certificate, derivatives
:mod:`pencils.density`        spectral densities along the real axis, edges, atoms
:mod:`pencils.traces`         limits of normalised traces of rational expressions
:mod:`pencils.sweep`          warm-started sweeps, tables with provenance
:mod:`pencils.grids`          N-dimensional grids of solutions, tiles, labelled arrays
:mod:`pencils.scheduling`     where tiles run: this process, local or remote Dask clusters
:mod:`pencils.store`          the resumable Zarr store of a grid and its log
:mod:`pencils.montecarlo`     finite-N simulation, linearisation check
:mod:`pencils.examples`       the example pencils (files), ``path(name)``
:mod:`pencils.testing`        random well-posed pencils for tests
:mod:`pencils.cli`            the ``pencils`` command
:mod:`pencils.output`         records written as they are computed (CSV, JSON), interruptions
:mod:`pencils.exceptions`     the exception classes, one root: :class:`PencilsError`
============================= ====================================================
"""

__version__ = "0.1.0"  # before the imports: modules read it

from .deterministic import DeterministicMatrix, SpectralLaw
from .dyson import DysonSystem
from .grids import grid
from .exceptions import (
    AdmissibilityError,
    CertificationError,
    ConvergenceError,
    DomainError,
    EliminationError,
    LinearizationError,
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
from .linearization import Linearization, linearize
from .matrices import GaussianMatrix, WignerMatrix, ratio, ratios, transpose
from .pencil import Pencil
from .reduction import Reduction
from .replicas import Replicas
from .solver import Solution, solve
from .structure import Structure
from .traces import Trace, trace


__all__ = [
    "AdmissibilityError", "CertificationError", "ConvergenceError", "DeterministicMatrix", "DomainError", "DysonSystem",
    "EliminationError", "GaussianMatrix", "Linearization", "LinearizationError", "MonteCarloError",
    "ParseError", "Pencil", "PencilFormatError", "PencilValidationError", "PencilsError", "Reduction",
    "Replicas", "SingularPointError", "Solution", "SolverError", "SpectralLaw", "Structure", "StructureError", "Trace",
    "WignerMatrix", "dumps", "grid", "linearize", "load", "loads", "ratio", "ratios", "save", "solve", "trace",
    "transpose",
]
