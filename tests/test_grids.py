"""Grids: values against closed forms, placement on the axes, tiles, failures, bad input."""

import math

import mpmath
import numpy as np
import pytest

from pencils import DomainError, DysonSystem, load
from pencils.examples import path
from pencils.grids import Layout, RowSolver, axis_points, encode_row, grid


def mp_resolvent(psi, z):
    """Marchenko-Pastur g(z) = (1/N) tr (z - X X^T)^-1 for z < 0, written from -z g^2 + (z - psi + 1) g - 1 = 0."""
    b = z - psi + 1
    return (b + mpmath.sqrt(b * b - 4 * z)) / (2 * z)


@pytest.fixture(scope="module")
def mp_system():
    return DysonSystem(load(path("marchenko_pastur")))


def test_values_and_axes_against_the_closed_form(mp_system):
    psis, zs = ["0.5", "1", "3"], ["-4", "-1", "-0.25", "-0.05"]
    ds = grid(mp_system, {"psi": psis, "z": zs}, dps=30, scheduler="synchronous", derivatives=["z"])
    assert dict(ds.sizes) == {"psi": 3, "z": 4}
    assert ds["psi"].values.tolist() == [0.5, 1.0, 3.0] and ds["z"].values.tolist() == [-4, -1, -0.25, -0.05]
    with mpmath.workdps(45):
        for i, psi in enumerate(psis):
            for j, z in enumerate(zs):
                exact = mp_resolvent(mpmath.mpf(psi), mpmath.mpf(z))
                slope = mpmath.diff(lambda x: mp_resolvent(mpmath.mpf(psi), x), mpmath.mpf(z))
                stored = mpmath.mpmathify(str(ds["g11_str"].values[i, j]))
                assert abs(stored - exact) <= abs(exact) * mpmath.mpf(10) ** -29
                assert abs(mpmath.mpmathify(str(ds["dg11_dz_str"].values[i, j])) - slope) <= abs(slope) * 1e-28
                assert ds["g11"].values[i, j] == pytest.approx(complex(exact), rel=1e-15)
    assert (ds["certificate"].values == "proven").all() and (ds["g11_digits"].values >= 29).all()
    assert ds["solved"].values.all()
    assert ds.attrs["pencil"] == "marchenko-pastur" and ds.attrs["dps"] == 30


class Affine(RowSolver):
    """f = a + 10 b + 100 c on the grid, so that any mix-up of axes or of positions shows."""

    variables = {"f": "real", "where": "text", "count": "integer"}

    def solve_row(self, point, over, values, dps):
        rows = []
        for k, v in enumerate(values):
            p = {**point, over: v}
            rows.append({"f": p["a"] + 10 * p["b"] + 100 * p["c"], "where": f"{over}[{k}]", "count": len(values)})
        return rows


@pytest.mark.parametrize("along, tile", [(None, None), ("a", {"a": 2, "b": 3}), ("b", {"c": 2, "a": 1})])
def test_points_land_where_their_coordinates_are(along, tile):
    axes = {"a": [1, 2, 3], "b": [4, 5], "c": [6, 7, 8, 9]}
    ds = grid(Affine(), axes, dps=15, along=along, tile=tile, scheduler="synchronous")
    expected = np.add.outer(np.add.outer(np.array([1, 2, 3]), 10 * np.array([4, 5])), 100 * np.array([6, 7, 8, 9]))
    assert ds["f"].dims == ("a", "b", "c")
    assert np.array_equal(ds["f"].values, expected)
    assert ds["f_str"].values[2, 1, 3] == "953.000000000000"


def test_tiles_do_not_change_the_numbers(mp_system):
    axes = {"psi": ["0.5", "2"], "z": axis_points("-3:-0.2:9", dps=30)}
    one = grid(mp_system, axes, dps=30, scheduler="synchronous")
    cut = grid(mp_system, axes, dps=30, tile={"z": 4}, scheduler="synchronous")
    with mpmath.workdps(40):
        for a, b in zip(one["g11_str"].values.ravel(), cut["g11_str"].values.ravel()):
            assert abs(mpmath.mpf(str(a)) - mpmath.mpf(str(b))) <= abs(mpmath.mpf(str(a))) * mpmath.mpf(10) ** -29
    assert set(cut["path"].values[:, 4]) == {"coupling homotopy at C + i delta, then delta -> 0"}  # a tile's start


def test_a_failing_point_is_recorded_and_the_row_goes_on(mp_system):
    ds = grid(mp_system, {"z": ["-1", "0", "-0.5"]}, {"psi": "0.5"}, dps=20, scheduler="synchronous")
    certificate = ds["certificate"].values
    assert certificate[1].startswith("failed: ConvergenceError: the regularisation delta -> 0 stalled")
    assert math.isnan(ds["g11"].values[1].real) and ds["g11_str"].values[1] == ""
    assert certificate[0] == certificate[2] == "proven"
    with mpmath.workdps(30):
        assert abs(mpmath.mpf(str(ds["g11_str"].values[2])) - mp_resolvent(mpmath.mpf("0.5"), mpmath.mpf("-0.5"))) < 1e-18


def test_bad_grids_are_refused_before_anything_runs(mp_system):
    with pytest.raises(DomainError, match="both fixed and on an axis"):
        grid(mp_system, {"z": [-1, -2]}, {"z": -1, "psi": 1}, scheduler="synchronous")
    with pytest.raises(DomainError, match="repeats a value"):
        Layout({"z": [-1, -1]})
    with pytest.raises(DomainError, match="not an axis"):
        Layout({"z": [-1, -2]}, along="psi")
    with pytest.raises(DomainError, match="not axes"):
        Layout({"z": [-1, -2]}, tile={"psi": 2})
    with pytest.raises(DomainError, match="positive integer"):
        Layout({"z": [-1, -2]}, tile={"z": 0})
    with pytest.raises(DomainError, match="DysonSystem or a RowSolver"):
        grid("not a system", {"z": [-1, -2]})
    with pytest.raises(DomainError, match="COUNT"):
        axis_points("0:1:x")


def test_layout_tiles_cover_the_grid_once():
    layout = Layout({"a": range(5), "b": range(7), "c": range(3)}, tile={"a": 2, "b": 3, "c": 2})
    seen = np.zeros(layout.shape, dtype=int)
    for index in range(layout.count):
        seen[layout.slices(index)] += 1
    assert layout.count == 3 * 3 * 2 and (seen == 1).all()


def test_a_complex_value_in_a_real_variable_is_refused():
    with pytest.raises(DomainError, match="declared real"):
        encode_row({"f": "real"}, [{"f": mpmath.mpc(1, 2)}], 10)
    with pytest.raises(DomainError, match="unknown kind"):
        encode_row({"f": "decimal"}, [{"f": 1}], 10)


def test_the_identity_of_a_grid_does_not_depend_on_mpmath_global_precision():
    """A fixed value given as an mpmath number is written at the grid's precision, whatever mpmath.mp.dps is
    (it was rounded to mp.dps: 0.333333492... at mp.dps = 5)."""
    from pencils.grids import identity

    with mpmath.workdps(40):
        third = mpmath.mpf(1) / 3
    seen = []
    for dps in (5, 80):
        with mpmath.workdps(dps):
            seen.append(identity(Affine(), Layout({"x": [1, 2]}, dps=30), {"lam": third})["fixed"]["lam"])
    assert seen == ["0." + "3" * 30] * 2
