"""Example pencils, each a text file beside this module with a note in ``README.md``.

They ship with the library (``pencils.examples.path(name)``); the command line reads them as
``pencils/examples/NAME.pencil`` in a checkout.

==================================  ================================================
``marchenko_pastur``                resolvent of a sample covariance ``X X^T``
``semicircle``                      resolvent of a Wigner matrix
``wishart_product``                 resolvent of ``(W X)(W X)^T``, general ratios
``ridge``                           ridge-regression resolvent ``(X X^T + lam)^{-1}``
``wishart_sum``                     ``X1 X1^T + X2 X2^T``: a block symmetry, found
``wishart_average``                 ``sum_j X_j X_j^T / m``, block 2 replicated ``m`` times
``anisotropic_marchenko_pastur``    ``Sigma^{1/2} X X^T Sigma^{1/2}``, two-atom ``Sigma``
``deformed_semicircle``             ``W + D``, ``D`` deterministic (eigenvalues +-1)
==================================  ================================================

>>> from pencils import load
>>> load(path("semicircle"))
Pencil(1 x 1 blocks, sizes [1], matrices [W], parameters [z, s])
"""

from pathlib import Path

__all__ = ["NAMES", "path"]

NAMES = ("marchenko_pastur", "semicircle", "wishart_product", "ridge", "wishart_sum", "wishart_average",
         "anisotropic_marchenko_pastur", "deformed_semicircle")


def path(name):
    """The path of the pencil file of a textbook example."""
    if name not in NAMES:
        raise KeyError(f"no textbook pencil {name!r}; there are {', '.join(NAMES)}")
    return Path(__file__).with_name(f"{name}.pencil")
