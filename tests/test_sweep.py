import csv
import io
import json

import mpmath
import pytest

from pencils import DysonSystem, solve
from pencils.sweep import grid, sweep


def test_sweep_matches_independent_solves(textbook):
    system = DysonSystem(textbook["marchenko_pastur"])
    with mpmath.workdps(40):
        zs = grid("-3", "-0.1", 12)
    table = sweep(system, "z", zs, {"psi": "0.5"}, dps=30, derivatives=["z"])
    assert len(table) == 12
    assert table.rows[0]["path"] != "warm start"
    # near z = 0 the pole of the atom at 0 (psi < 1) makes extrapolation poor: a point may fall back
    assert sum(r["path"] == "warm start" for r in table.rows) >= 9
    for row in table.rows[::4]:
        alone = solve(system, {"z": row["z"], "psi": "0.5"}, dps=30)
        assert abs(row["g11"] - alone.value) < mpmath.mpf(10) ** -28
        assert abs(row["dg11/dz"] - alone.derivative("z")) < mpmath.mpf(10) ** -28
        assert row["residual"] < mpmath.mpf(10) ** -25


def test_table_outputs_full_precision(textbook):
    system = DysonSystem(textbook["ridge"])
    table = sweep(system, "lam", ["0.5", "1"], {"psi": 2}, dps=40)
    data = json.loads(table.to_json())
    assert data["provenance"]["dps"] == 40 and data["provenance"]["pencil"] == "ridge"
    assert data["provenance"]["pencil_sha256"] == textbook["ridge"].fingerprint()
    value = data["rows"][1]["g11"]
    # lam = 1, psi = 2: r^2 + 2 r - 1 = 0, r = sqrt(2) - 1
    with mpmath.workdps(45):
        assert abs(mpmath.mpf(value) - (mpmath.sqrt(2) - 1)) < mpmath.mpf(10) ** -38
    assert len(value.replace("0.", "", 1)) >= 39
    text = table.to_csv()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert rows[1]["g11"] == value and "# dps: 40" in text


def test_swept_parameter_cannot_be_fixed(textbook):
    with pytest.raises(ValueError, match="both swept and fixed"):
        sweep(DysonSystem(textbook["ridge"]), "lam", [1], {"lam": 1, "psi": 2})


def test_geometric_grid():
    with mpmath.workdps(30):
        points = grid("0.1", "10", 5, log=True)
        assert abs(points[2] - 1) < mpmath.mpf(10) ** -28
    assert len(grid(1, 2, 1)) == 1
