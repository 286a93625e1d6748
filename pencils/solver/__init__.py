"""High-precision solution of a Dyson system: continuation, Newton, verification, certificate.

One module per step:

===================================  =====================================================
:mod:`pencils.solver.compiled`       the system compiled for floats, mpmath and balls
:mod:`pencils.solver.continuation`   paths from where the answer is known to the point
:mod:`pencils.solver.newton`         Newton with the analytic Jacobian, the polish
:mod:`pencils.solver.verification`   residual, reality and Stieltjes checks
:mod:`pencils.solver.certificate`    Krawczyk proof and ball enclosures
:mod:`pencils.solver.solution`       the :class:`Solution` and its derivatives
:mod:`pencils.solver.driver`         :func:`solve`, which runs them in order
===================================  =====================================================

**Derivatives** of any order in one parameter come from Taylor-mode implicit
differentiation of the fixed point at the working precision: the ``k``-th
Taylor coefficient solves ``J u_k = r_k`` with the same Jacobian; the same
recursion in ball arithmetic on the certified box gives proven enclosures.
"""

from .certificate import Certificate
from .compiled import CompiledSystem, compile_system
from .driver import solve
from .newton import GUARD, newton_iteration_count
from .solution import Solution

__all__ = ["solve", "Solution", "Certificate", "compile_system", "CompiledSystem", "GUARD",
           "newton_iteration_count"]
