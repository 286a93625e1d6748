"""The commands of the toy model: ``pencils curve toy --psi P Z1,Z2,...`` prints ``z,g`` as CSV."""

import argparse

import mpmath

from pencils import DysonSystem, PencilsError, load, solve
from pencils.examples import path


class ToyError(Exception):
    """An error outside the PencilsError tree, declared in ERRORS so that the CLI reports it."""


ERRORS = (ToyError,)


def curve(argv):
    parser = argparse.ArgumentParser(prog="pencils curve toy")
    parser.add_argument("points")
    parser.add_argument("--psi", default="2")
    args = parser.parse_args(argv)
    if args.points == "bad":
        raise ToyError("toy: bad points")
    system = DysonSystem(load(path("marchenko_pastur")))
    print("z,g")
    for z in args.points.split(","):
        print(f"{z},{mpmath.nstr(solve(system, {'z': z, 'psi': args.psi}, dps=20).value, 20)}")
    return 0


def figure(argv):
    raise PencilsError("the toy model draws no figures")


validate = equations = figure
