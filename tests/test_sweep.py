import csv
import io
import json

import mpmath
import pytest

from pencils import DysonSystem, solve
from pencils.exceptions import ConvergenceError, DomainError
from pencils.sweep import Table, points, sweep


def test_sweep_matches_independent_solves(textbook):
    system = DysonSystem(textbook["marchenko_pastur"])
    with mpmath.workdps(40):
        zs = points("-3", "-0.1", 12)
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
    with pytest.raises(DomainError, match="both swept and fixed"):
        sweep(DysonSystem(textbook["ridge"]), "lam", [1], {"lam": 1, "psi": 2})


def test_geometric_grid():
    with mpmath.workdps(30):
        xs = points("0.1", "10", 5, log=True)
        assert abs(xs[2] - 1) < mpmath.mpf(10) ** -28
        assert [float(x) for x in points("-1", "-4", 3, log=True)] == [-1.0, -2.0, -4.0]


@pytest.mark.parametrize("start, stop, num, log, message", [
    (0, 1, 5, True, "non-zero ends"),       # was ZeroDivisionError
    (1, -2, 5, True, "same sign"),
    ("1+1j", 2, 3, True, "real"),
    (1, 2, 1, False, "at least 2 points"),  # was a silent single point
    (1, 2, 0, True, "at least 2 points"),
    (1, 2, 2.5, False, "integer"),
    (1, "inf", 3, False, "finite"),
])
def test_bad_grids_raise_domain_error(start, stop, num, log, message):
    with pytest.raises(DomainError, match=message):
        points(start, stop, num, log=log)


def test_progress_callable_gets_each_row_as_it_is_solved(textbook, monkeypatch):
    """A callable ``progress`` sees every row before the next point is tried (what the CLI writes out)."""
    import pencils.sweep as module

    calls, seen = [], []
    real = module.solve

    def failing_third(*args, **kwargs):
        calls.append(len(seen))
        if len(calls) == 3:
            raise ConvergenceError("no")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "solve", failing_third)
    with pytest.raises(ConvergenceError):
        sweep(DysonSystem(textbook["ridge"]), "lam", ["0.1", "0.2", "0.4"], {"psi": 2}, dps=20, progress=seen.append)
    assert calls == [0, 1, 2] and [float(r["lam"]) for r in seen] == [0.1, 0.2]


def test_table_csv_quotes_fields():
    table = Table(["name", "x"], [{"name": "poly:1,0.5", "x": mpmath.mpf(1) / 4}], {"dps": 10})
    rows = [line for line in table.to_csv().splitlines() if not line.startswith("#")]
    assert list(csv.reader(rows)) == [["name", "x"], ["poly:1,0.5", "0.2500000000"]]


def test_table_to_pandas_has_float_columns_and_full_strings(textbook):
    system = DysonSystem(textbook["ridge"])
    table = sweep(system, "lam", ["0.5", "1", "2"], {"psi": 2}, dps=40)
    frame = table.to_pandas()
    assert str(frame["lam"].dtype) == "float64" and str(frame["g11"].dtype) == "float64"
    assert list(frame["lam"]) == [0.5, 1.0, 2.0]
    # lam = 1, psi = 2: g11 = sqrt(2) - 1, to every digit in the string column
    assert frame["g11_str"][1].startswith("0.414213562373095048801688724209698078569")
    assert frame.attrs["dps"] == 40
    html = table._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 4


def test_a_table_iterates_indexes_and_converts_with_float_columns():
    from pencils import DysonSystem, load
    from pencils.examples import path

    table = sweep(DysonSystem(load(path("ridge"))), "lam", ["0.1", "0.2", "0.4"], {"psi": 2}, dps=20)
    assert [row["lam"] for row in table] == [table[0]["lam"], table[1]["lam"], table[2]["lam"]]
    dataset = table.to_xarray()
    assert dataset["g11"].dtype == "float64" and dataset["lam"].values.tolist() == [0.1, 0.2, 0.4]
    with mpmath.workdps(30):  # ridge: g = 1/(lam + psi/(1 + g)), the positive root of lam g^2 + (lam + psi - 1) g - 1
        lam, psi = mpmath.mpf("0.1"), 2
        exact = (-(lam + psi - 1) + mpmath.sqrt((lam + psi - 1) ** 2 + 4 * lam)) / (2 * lam)
        assert abs(mpmath.mpf(str(dataset["g11_str"].values[0])) - exact) < mpmath.mpf(10) ** -19
    assert dataset.attrs["dps"] == "20"
