import mpmath
import pytest
import sympy as sp

from pencils import DomainError
from pencils.values import full_string, parse_point, to_mpmath


def test_strings_are_read_at_the_working_precision():
    with mpmath.workdps(40):
        assert to_mpmath("0.1") * 10 == 1
        assert abs(to_mpmath("1/3") * 3 - 1) < mpmath.mpf(10) ** -39
        assert to_mpmath("2+0.5j") == mpmath.mpc(2, 0.5)
        assert abs(to_mpmath(sp.sqrt(2)) ** 2 - 2) < mpmath.mpf(10) ** -39
    assert to_mpmath(0.1) == mpmath.mpf(0.1)  # floats are the binary numbers they are


def test_parse_point_checks_the_domain():
    z, psi, t = sp.Symbol("z"), sp.Symbol("psi", positive=True), sp.Symbol("t", real=True)
    point = parse_point({"z": "1+1j", psi: "2", "t": -1}, [z, psi, t])
    assert list(point) == ["z", "psi", "t"] and point["psi"] == 2
    with pytest.raises(DomainError, match="t is real"):
        parse_point({"z": 1, "psi": 1, "t": "1j"}, [z, psi, t])
    with pytest.raises(DomainError, match="psi is a positive ratio"):
        parse_point({"z": 1, "psi": 0, "t": 0}, [z, psi, t])
    with pytest.raises(DomainError, match="cannot parse 'x y'"):
        to_mpmath("x y")


def test_full_string():
    with mpmath.workdps(30):
        assert full_string(mpmath.mpf(1) / 3, 25) == "0.3333333333333333333333333"
        assert full_string(mpmath.mpc(1, 0), 5) == "1.0000"
