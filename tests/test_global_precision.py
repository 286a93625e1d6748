"""No result depends on mpmath's global precision (or python-flint's).

The main numbers are computed once with the global precision at 5 digits and
once at 80; the printed output must be identical, digit for digit. On the
first version of pencils this failed for every DSM number (a constant was
evaluated at the global precision) while the textbook solves passed.
"""

import flint
import mpmath
import pytest

from pencils.examples import path
from pencils.cli import main

COMMANDS = {
    "solve": ["solve", path("marchenko_pastur"), "--at", "z=-1", "psi=0.5", "--derivative", "z", "--dps", "30"],
    "solve complex": ["solve", path("semicircle"), "--at", "z=0.5+0.2j", "s=1", "--dps", "40"],
    "sweep": ["solve", path("ridge"), "--at", "psi=2", "--sweep", "lam=1e-3:10:5", "--log", "--derivative", "lam"],
    "wishart": ["solve", path("wishart_product"), "--at", "z=-2", "phi=0.5", "psi=3", "--dps", "50"],
    "dsm m=1": ["curve", "dsm", "--m", "1", "--t", "0.1", "--psi-n", "2", "--psi-p", "0.5,4", "--lam", "0.001"],
    "dsm m=inf": ["curve", "dsm", "--m", "inf", "--t", "0.1", "--psi-n", "2", "--psi-p", "0.5,4", "--lam", "0.001"],
    "dsm m=2 structured": ["curve", "dsm", "--m", "2", "--t", "0.5", "--psi-n", "1", "--psi-p", "0.5,2",
                           "--lam", "0.01", "--psi-d", "0.5", "--activation", "relu"],
}


def _output(capsys, argv, dps, prec):
    capsys.readouterr()
    before = flint.ctx.prec
    try:
        flint.ctx.prec = prec
        with mpmath.workdps(dps):
            status = main([str(a) for a in argv])
    finally:
        flint.ctx.prec = before
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_output_is_independent_of_the_global_precision(capsys, name):
    low = _output(capsys, COMMANDS[name], 5, 20)
    high = _output(capsys, COMMANDS[name], 80, 300)
    assert low == high
    assert low.strip()
