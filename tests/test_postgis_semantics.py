"""``semantics="postgis"``: the 15 methods of ``ST_ExtractToRaster`` (spec section 4), quirks included.

Four layers of checks:

* the spec's conformance vectors (checked against PostGIS 3.3.2 + PostGIS Add-ons 1.38), through the public API;
* the value path (float32 first, integer truncation, nodata nudging) and the per-tile early exit;
* random scenes against a slow oracle written here from section 4 alone: tile by tile, pixel by pixel, with plain
  shapely and Python loops (pixel polygons from the tile's geotransform, 15-decimal rounding via ``Decimal``, closed
  ``intersects`` candidates, the non-robust winding test for points against polygons, sorted()/sum() reductions);
* unit tests of ``pip_postgis`` and ``round15``, the errors, and the command line.
"""

from __future__ import annotations

import decimal
import itertools
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely import wkt
from shapely.geometry import GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon

import rastercover
from rastercover import Grid
from rastercover.cli.main import cli
from rastercover.engine import postgis
from rastercover.engine.postgis import pip_postgis, round15
from rastercover.errors import InputError, UnknownMethodError, UnknownOptionError

from .conftest import write_raster

CRS = "EPSG:3857"
NODATA = -9999.0
N = NODATA
FLT_EPSILON = float(np.finfo(np.float32).eps)  # 2**-23

ALL_METHODS = (
    "COUNT_OF_VALUES_AT_PIXEL_CENTROID",
    "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
    "COUNT_OF_POLYGONS",
    "COUNT_OF_LINESTRINGS",
    "COUNT_OF_POINTS",
    "COUNT_OF_GEOMETRIES",
    "VALUE_OF_BIGGEST",
    "VALUE_OF_MERGED_BIGGEST",
    "VALUE_OF_MERGED_SMALLEST",
    "MIN_AREA",
    "SUM_OF_AREAS",
    "SUM_OF_LENGTHS",
    "PROPORTION_OF_COVERED_AREA",
    "AREA_WEIGHTED_MEAN_OF_VALUES",
    "AREA_WEIGHTED_MEAN_OF_VALUES_2",
)
# results that are areas, lengths or means: summation order may move them by one float64 ulp, hence (after the
# float32 rounding) by at most one float32 ulp; the others (counts, picked values) must match exactly
MEASURES = {
    "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
    "MIN_AREA",
    "SUM_OF_AREAS",
    "SUM_OF_LENGTHS",
    "PROPORTION_OF_COVERED_AREA",
    "AREA_WEIGHTED_MEAN_OF_VALUES",
    "AREA_WEIGHTED_MEAN_OF_VALUES_2",
}
# the per-raster early exit: 0 for these, nodata for the others
ZERO_WHEN_EMPTY = {m for m in ALL_METHODS if m.startswith("COUNT_")} | {
    "SUM_OF_AREAS",
    "SUM_OF_LENGTHS",
    "PROPORTION_OF_COVERED_AREA",
}


# ============================================================================================ helpers
def run(pairs, grid: Grid, methods, *, dtype="float32", nodata=NODATA, **kw) -> np.ndarray:
    """rastercover.rasterize(..., semantics="postgis") as a (bands, rows, cols) array."""
    methods = [methods] if isinstance(methods, str) else list(methods)
    da = rastercover.rasterize(
        pairs, grid, methods=methods, semantics="postgis", dtype=dtype, nodata=nodata, assume_crs=CRS, **kw
    )
    assert da.dims == ("band", "y", "x")
    assert da.shape == (len(methods), grid.height, grid.width)
    assert da.dtype == np.dtype(dtype)
    return np.asarray(da.values)


def f32(rows) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).astype(np.float32)


def assert_band(method: str, got: np.ndarray, want: np.ndarray, context: str = "") -> None:
    """Compare float32 bands: nodata at the same pixels, equal values (one float32 ulp for measures)."""
    got = np.asarray(got, dtype=np.float32)
    want = np.asarray(want, dtype=np.float32)
    assert got.shape == want.shape, f"{method}{context}: shape {got.shape} != {want.shape}"
    if method in MEASURES:
        nd_g, nd_w = got == np.float32(NODATA), want == np.float32(NODATA)
        ulp = np.spacing(np.maximum(np.abs(got), np.abs(want)))
        close = np.abs(got.astype(np.float64) - want.astype(np.float64)) <= ulp
        ok = (nd_g == nd_w) & (nd_g | close)
    else:
        ok = got == want
    if not ok.all():
        bad = [(int(r), int(c), float(got[r, c]), float(want[r, c])) for r, c in zip(*np.nonzero(~ok))]
        raise AssertionError(f"{method}{context}: (row, col, got, expected) {bad[:12]}")


# ============================================================================================ 1. conformance
MAIN_TABLE = [
    (1, "POLYGON((0 1,10 2,10 0,0 1))"),
    (3, "POLYGON((10 1,0 2,0 0,10 1))"),
    (1, "POLYGON((1 0,1 2,4 2,4 0,1 0))"),
    (6, "POLYGON((7 0,7 2,8 2,8 0,7 0))"),
    (5, "LINESTRING(1 1.5,9 1.5)"),
    (6, "LINESTRING(4 0.5,6 0.5)"),
    (7, "POINT(4 1.5)"),
    (8, "POINT(8 0.5)"),
    (9, "MULTIPOINT(6 0.5,7 0.6)"),
]
MAIN_PAIRS = [(wkt.loads(g), v) for v, g in MAIN_TABLE]
MAIN_GRID = Grid(2, 2, Affine(5, 0, 0, 0, -1, 2), CRS)  # upper-left (0, 2), scale (5, -1)

MAIN_EXPECTED = {
    "COUNT_OF_VALUES_AT_PIXEL_CENTROID": [[3, 3], [2, 2]],
    "MEAN_OF_VALUES_AT_PIXEL_CENTROID": [[3, 4], [2, 3.5]],
    "COUNT_OF_POLYGONS": [[3, 3], [3, 3]],
    "COUNT_OF_LINESTRINGS": [[1, 1], [1, 1]],
    "COUNT_OF_POINTS": [[1, 0], [0, 2]],
    "COUNT_OF_GEOMETRIES": [[5, 4], [4, 6]],
    "VALUE_OF_BIGGEST": [[3, 1], [3, 1]],
    "VALUE_OF_MERGED_BIGGEST": [[1, 1], [1, 1]],
    "VALUE_OF_MERGED_SMALLEST": [[3, 6], [3, 6]],
    "MIN_AREA": [[1.25, 1], [1.25, 1]],
    "SUM_OF_AREAS": [[8, 6], [8, 6]],
    "PROPORTION_OF_COVERED_AREA": [[0.9, 0.8], [0.9, 0.8]],  # float32(0.9), float32(0.8)
    "AREA_WEIGHTED_MEAN_OF_VALUES": [[1.9375, 2.25], [1.9375, 2.25]],
    "SUM_OF_LENGTHS": [[4, 4], [1, 1]],
}
# Not in the spec's table, derived by hand: in the west pixels S = 1.25 + 3.75 + 3 = 8, N = 1.25·1 + 3.75·3 + 3·1
# = 15.5; in the east pixels S = 3.75 + 1.25 + 1 = 6, N = 3.75·1 + 1.25·3 + 1·6 = 13.5. S exceeds the pixel area (5)
# everywhere, so N / S equals N / max(S, 5): the same as AREA_WEIGHTED_MEAN_OF_VALUES.
MAIN_EXPECTED_ALL = {**MAIN_EXPECTED, "AREA_WEIGHTED_MEAN_OF_VALUES_2": [[1.9375, 2.25], [1.9375, 2.25]]}

E_GRID = Grid(2, 2, Affine(1, 0, 0, 0, -1, 2), CRS)  # upper-left (0, 2), scale (1, -1)
E1_PAIRS = [
    (wkt.loads("POLYGON((2 0,2 2,3 2,3 0,2 0))"), 10),  # touches the east edge
    (wkt.loads("POLYGON((0 2,0 3,1 3,1 2,0 2))"), 20),  # touches the north edge of (0,0), a corner of (0,1)
]
E1_EXPECTED = {
    "COUNT_OF_GEOMETRIES": [[1, 2], [0, 1]],
    "VALUE_OF_BIGGEST": [[20, 20], [N, 10]],
    "SUM_OF_AREAS": [[0, 0], [N, 0]],
    "SUM_OF_LENGTHS": [[1, 1], [N, 1]],
    "MIN_AREA": [[N, N], [N, N]],
    "COUNT_OF_POLYGONS": [[0, 0], [0, 0]],
}
E3_PAIRS = [
    (shapely.box(0.5, 1, 2, 2), 10),
    (shapely.box(0, 0, 2, 1), None),
    (shapely.box(0, 0, 0.5, 1), 7),
    (shapely.box(1.5, 0, 2, 1), 3),
]
E3_EXPECTED = {
    "MEAN_OF_VALUES_AT_PIXEL_CENTROID": [[10, 10], [7, 3]],
    "VALUE_OF_BIGGEST": [[10, 10], [N, N]],
    "MIN_AREA": [[0.5, 1], [0.5, 0.5]],
    "SUM_OF_AREAS": [[0.5, 1], [1.5, 1.5]],
    "AREA_WEIGHTED_MEAN_OF_VALUES": [[5, 10], [7 / 3, 1]],
    "AREA_WEIGHTED_MEAN_OF_VALUES_2": [[10, 10], [7 / 3, 1]],
}


@pytest.mark.parametrize("method", list(MAIN_EXPECTED))
def test_conformance_main_table(method):
    got = run(MAIN_PAIRS, MAIN_GRID, [method])[0]
    np.testing.assert_array_equal(got, f32(MAIN_EXPECTED[method]), err_msg=method)


def test_conformance_proportion_is_float32():
    got = run(MAIN_PAIRS, MAIN_GRID, ["PROPORTION_OF_COVERED_AREA"])[0]
    assert got.tolist() == [[float(np.float32(0.9)), float(np.float32(0.8))]] * 2
    # the float64 ratios (0.9, 0.8) go through float32 even in a float64 band
    got64 = run(MAIN_PAIRS, MAIN_GRID, ["PROPORTION_OF_COVERED_AREA"], dtype="float64")[0]
    assert got64.tolist() == [[float(np.float32(0.9)), float(np.float32(0.8))]] * 2
    assert got64[0, 0] != 0.9


def test_conformance_main_table_all_15_methods_in_one_call():
    got = run(MAIN_PAIRS, MAIN_GRID, ALL_METHODS)
    assert got.shape == (15, 2, 2)
    for i, method in enumerate(ALL_METHODS):
        np.testing.assert_array_equal(got[i], f32(MAIN_EXPECTED_ALL[method]), err_msg=method)


def test_conformance_band_names_in_the_all_15_call():
    da = rastercover.rasterize(
        MAIN_PAIRS, MAIN_GRID, methods=list(ALL_METHODS), semantics="postgis", dtype="float32", assume_crs=CRS
    )
    assert list(da.coords["band"].values) == list(ALL_METHODS)


@pytest.mark.parametrize("method", list(E1_EXPECTED))
def test_conformance_e1_touching_polygons(method):
    got = run(E1_PAIRS, E_GRID, [method])[0]
    np.testing.assert_array_equal(got, f32(E1_EXPECTED[method]), err_msg=method)


@pytest.mark.parametrize("method", list(E3_EXPECTED))
def test_conformance_e3_null_values_and_edge_centres(method):
    got = run(E3_PAIRS, E_GRID, [method])[0]
    np.testing.assert_array_equal(got, f32(E3_EXPECTED[method]), err_msg=method)


def test_conformance_e3_two_thirds_is_the_spec_value():
    got = run(E3_PAIRS, E_GRID, ["AREA_WEIGHTED_MEAN_OF_VALUES", "AREA_WEIGHTED_MEAN_OF_VALUES_2"])
    assert got[0, 1, 0] == got[1, 1, 0] == np.float32(2.3333333)


def test_conformance_e1_e3_in_one_call_each():
    for pairs, expected in ((E1_PAIRS, E1_EXPECTED), (E3_PAIRS, E3_EXPECTED)):
        got = run(pairs, E_GRID, list(expected))
        for i, method in enumerate(expected):
            np.testing.assert_array_equal(got[i], f32(expected[method]), err_msg=method)


# ============================================================================================ 2. value path
UNIT = Grid(1, 1, Affine(1, 0, 0, 0, -1, 1), CRS)
COVER = shapely.box(-1, -1, 2, 2)  # covers the unit pixel


@pytest.mark.parametrize(
    "method", ["MEAN_OF_VALUES_AT_PIXEL_CENTROID", "AREA_WEIGHTED_MEAN_OF_VALUES", "AREA_WEIGHTED_MEAN_OF_VALUES_2"]
)
def test_result_one_third_is_float32_even_in_a_float64_band(method):
    pairs = [(COVER, 1.0), (COVER, 0.0), (COVER, 0.0)]  # mean 1/3; S = 3 > pixel area 1
    got = run(pairs, UNIT, [method], dtype="float64")[0, 0, 0]
    assert got == float(np.float32(1 / 3)), f"{method}: {got!r} is not float32(1/3)"
    assert got != 1 / 3


def test_exact_semantics_keep_float64_for_contrast():
    da = rastercover.rasterize(
        [(COVER, 1.0), (COVER, 0.0), (COVER, 0.0)],
        UNIT,
        methods=["MEAN_OF_VALUES_AT_PIXEL_CENTROID"],
        dtype="float64",
        assume_crs=CRS,
    )
    assert float(da.values[0, 0, 0]) == pytest.approx(1 / 3, rel=1e-15)


def test_integer_bands_truncate_toward_zero():
    got = run(E3_PAIRS, E_GRID, ["AREA_WEIGHTED_MEAN_OF_VALUES", "SUM_OF_AREAS", "MIN_AREA"], dtype="int16")
    assert got.dtype == np.int16
    assert got[0].tolist() == [[5, 10], [2, 1]]  # 7/3 -> 2
    assert got[1].tolist() == [[0, 1], [1, 1]]  # 0.5 -> 0, 1.5 -> 1 (not rounded to 2)
    assert got[2].tolist() == [[0, 1], [0, 0]]
    negated = [(g, None if v is None else -v) for g, v in E3_PAIRS]
    got = run(negated, E_GRID, ["AREA_WEIGHTED_MEAN_OF_VALUES", "MEAN_OF_VALUES_AT_PIXEL_CENTROID"], dtype="int16")
    assert got[0].tolist() == [[-5, -10], [-2, -1]]  # -7/3 -> -2, toward zero (not -3)
    assert got[1].tolist() == [[-10, -10], [-7, -3]]


def test_integer_bands_see_the_float32_value_first():
    # 2.9999999999 is 3.0 in float32: truncation then gives 3, not 2
    assert run([(COVER, 2.9999999999)], UNIT, ["MEAN_OF_VALUES_AT_PIXEL_CENTROID"], dtype="int16")[0, 0, 0] == 3
    # 16777217 is not a float32: it becomes 16777216 even in an int32 band
    got = run([(COVER, 16777217.0)], UNIT, ["VALUE_OF_BIGGEST", "MEAN_OF_VALUES_AT_PIXEL_CENTROID"], dtype="int32")
    assert got[:, 0, 0].tolist() == [16777216, 16777216]
    assert run([(COVER, -2.7)], UNIT, ["VALUE_OF_BIGGEST"], dtype="int16")[0, 0, 0] == -2


# Grid of 4x2 pixels in two 2x2 tiles; one polygon in pixel (0, 0) of the west tile.
NUDGE_GRID = Grid(4, 2, Affine(1, 0, 0, 0, -1, 2), CRS, tile_size=(2, 2))
NUDGE_PAIRS = [(shapely.box(0.25, 1.25, 0.75, 1.75), 3.0)]


@pytest.mark.parametrize("block_pixels", [4, 1 << 20])
def test_nudge_integer_nodata_down_by_one(block_pixels):
    # COUNT 0 equals nodata 0: nudged to -1 (a touched tile, and the untouched east tile of the early exit)
    methods = ["COUNT_OF_POLYGONS", "VALUE_OF_BIGGEST"]
    got = run(NUDGE_PAIRS, NUDGE_GRID, methods, dtype="int16", nodata=0, block_pixels=block_pixels)
    assert got[0].tolist() == [[1, -1, -1, -1], [-1, -1, -1, -1]]
    assert got[1].tolist() == [[3, 0, 0, 0], [0, 0, 0, 0]]  # no value: nodata itself, not nudged
    # VALUE_OF_BIGGEST 3 equals nodata 3: nudged to 2
    got = run(NUDGE_PAIRS, NUDGE_GRID, ["VALUE_OF_BIGGEST"], dtype="int16", nodata=3, block_pixels=block_pixels)
    assert got[0].tolist() == [[2, 3, 3, 3], [3, 3, 3, 3]]


@pytest.mark.parametrize("block_pixels", [4, 1 << 20])
def test_nudge_integer_nodata_up_when_it_is_the_type_minimum(block_pixels):
    got = run(NUDGE_PAIRS, NUDGE_GRID, ["COUNT_OF_GEOMETRIES"], dtype="uint8", nodata=0, block_pixels=block_pixels)
    assert got[0].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1]]  # count 0 == nodata 0 == uint8 min: 0 -> 1
    pairs = [(shapely.box(0.25, 1.25, 0.75, 1.75), -32768.0)]
    got = run(pairs, NUDGE_GRID, ["VALUE_OF_BIGGEST"], dtype="int16", nodata=-32768, block_pixels=block_pixels)
    assert got[0, 0, 0] == -32767
    assert (got[0].ravel()[1:] == -32768).all()


@pytest.mark.parametrize("block_pixels", [4, 1 << 20])
def test_nudge_float32_by_flt_epsilon(block_pixels):
    got = run(NUDGE_PAIRS, NUDGE_GRID, ["COUNT_OF_POLYGONS"], dtype="float32", nodata=0, block_pixels=block_pixels)
    eps = np.float32(FLT_EPSILON)
    assert got[0].tolist() == [[1, -eps, -eps, -eps], [-eps, -eps, -eps, -eps]]
    pairs = [(shapely.box(0.25, 1.25, 0.75, 1.75), 1.0)]
    got = run(pairs, NUDGE_GRID, ["VALUE_OF_BIGGEST"], dtype="float32", nodata=1, block_pixels=block_pixels)
    assert got[0, 0, 0] == np.float32(1 - FLT_EPSILON) and got[0, 0, 0] != 1
    assert (got[0].ravel()[1:] == 1).all()


def test_float64_bands_are_not_nudged():
    got = run(NUDGE_PAIRS, NUDGE_GRID, ["COUNT_OF_POLYGONS"], dtype="float64", nodata=0)
    assert got[0].tolist() == [[1, 0, 0, 0], [0, 0, 0, 0]]


# Early exit: a grid of 6x4 pixels of 1x1, upper-left (0, 4), cut into 2x2 tiles (2 rows x 3 columns of tiles).
EXIT_GRID = Grid(6, 4, Affine(1, 0, 0, 0, -1, 4), CRS, tile_size=(2, 2))
EXIT_PAIRS = [
    (shapely.box(0.5, 3.5, 0.75, 3.75), 5.0),  # inside pixel (0, 0) of tile (0, 0), a corner on its centre (0.5, 3.5)
    (shapely.box(4.5, 4, 5.5, 5), 7.0),  # outside the grid, touching the north edge of pixels (0, 4) and (0, 5)
]


def exit_expected() -> dict[str, list[list[float]]]:
    """Hand-made expected results of EXIT_PAIRS on EXIT_GRID."""

    def band(untouched, in_tile_default, cells):
        # tiles (0, 1) and the three of row 1 are untouched (early exit); in the touched tiles (0, 0) and (0, 2) a
        # pixel without candidate gets `in_tile_default`
        out = [[untouched] * 6 for _ in range(4)]
        for r in range(2):  # tiles (0, 0) and (0, 2) are touched
            for c in (0, 1, 4, 5):
                out[r][c] = in_tile_default
        for (r, c), v in cells.items():
            out[r][c] = v
        return out

    return {
        "COUNT_OF_VALUES_AT_PIXEL_CENTROID": band(0, 0, {(0, 0): 1}),
        "MEAN_OF_VALUES_AT_PIXEL_CENTROID": band(N, N, {(0, 0): 5}),
        "COUNT_OF_POLYGONS": band(0, 0, {(0, 0): 1}),
        "COUNT_OF_LINESTRINGS": band(0, 0, {}),
        "COUNT_OF_POINTS": band(0, 0, {}),
        "COUNT_OF_GEOMETRIES": band(0, 0, {(0, 0): 1, (0, 4): 1, (0, 5): 1}),
        "VALUE_OF_BIGGEST": band(N, N, {(0, 0): 5, (0, 4): 7, (0, 5): 7}),
        "VALUE_OF_MERGED_BIGGEST": band(N, N, {(0, 0): 5, (0, 4): 7, (0, 5): 7}),
        "VALUE_OF_MERGED_SMALLEST": band(N, N, {(0, 0): 5}),
        "MIN_AREA": band(N, N, {(0, 0): 0.0625}),
        "SUM_OF_AREAS": band(0, N, {(0, 0): 0.0625, (0, 4): 0, (0, 5): 0}),
        "SUM_OF_LENGTHS": band(0, N, {(0, 0): 0, (0, 4): 0.5, (0, 5): 0.5}),
        "PROPORTION_OF_COVERED_AREA": band(0, N, {(0, 0): 0.0625, (0, 4): 0, (0, 5): 0}),
        "AREA_WEIGHTED_MEAN_OF_VALUES": band(N, N, {(0, 0): 0.3125, (0, 4): 0, (0, 5): 0}),
        "AREA_WEIGHTED_MEAN_OF_VALUES_2": band(N, N, {(0, 0): 5, (0, 4): 0, (0, 5): 0}),
    }


@pytest.mark.parametrize("block_pixels", [4, 8, 1 << 20])
def test_per_tile_early_exit(block_pixels):
    """Untouched tiles: 0 for COUNT_*/SUM_OF_AREAS/SUM_OF_LENGTHS/PROPORTION, nodata for the others; inside a
    touched tile a pixel without candidate is nodata for SUM_OF_AREAS, SUM_OF_LENGTHS and PROPORTION."""
    expected = exit_expected()
    got = run(EXIT_PAIRS, EXIT_GRID, ALL_METHODS, block_pixels=block_pixels)
    for i, method in enumerate(ALL_METHODS):
        np.testing.assert_array_equal(got[i], f32(expected[method]), err_msg=f"{method} (block_pixels {block_pixels})")


def test_one_big_tile_has_no_early_exit():
    # the same features on the same pixels, but a single 6x4 tile: every pixel without candidate is nodata
    got = run(EXIT_PAIRS, EXIT_GRID.with_tile_size((6, 4)), ["SUM_OF_AREAS", "SUM_OF_LENGTHS", "COUNT_OF_GEOMETRIES"])
    sums = [[0.0625, N, N, N, 0, 0], [N] * 6, [N] * 6, [N] * 6]
    lengths = [[0, N, N, N, 0.5, 0.5], [N] * 6, [N] * 6, [N] * 6]
    np.testing.assert_array_equal(got[0], f32(sums))
    np.testing.assert_array_equal(got[1], f32(lengths))
    assert got[2].tolist() == [[1, 0, 0, 0, 1, 1], [0] * 6, [0] * 6, [0] * 6]


@pytest.mark.parametrize("block_pixels", [4, 1 << 20])
def test_whole_grid_without_geometry_is_the_early_exit(block_pixels):
    far = [(shapely.box(100, 100, 101, 101), 1.0)]
    got = run(far, EXIT_GRID, ALL_METHODS, block_pixels=block_pixels)
    for i, method in enumerate(ALL_METHODS):
        want = 0.0 if method in ZERO_WHEN_EMPTY else NODATA
        assert (got[i] == want).all(), f"{method}: {got[i].tolist()} (expected all {want})"


# ============================================================================================ 3. slow oracle
_CTX = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)
_Q = Decimal("1e-15")
_THRESHOLD = 1e-10


def r15(v: float) -> float:
    """An ordinate after PostGIS's WKT round trip: at most 15 decimals, half-even on the shortest repr."""
    return float(Decimal(repr(float(v))).quantize(_Q, context=_CTX))


def winding(px: float, py: float, ring) -> int:
    """Non-robust winding test of spec section 4: 1 inside, 0 on the boundary (cross product exactly 0.0), -1 out."""
    wn = 0
    on_boundary = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if x1 == x2 and y1 == y2:
            continue
        side = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1)
        if side == 0.0 and min(x1, x2) <= px <= max(x1, x2) and min(y1, y2) <= py <= max(y1, y2):
            on_boundary = True
        if y1 <= py < y2 and side > 0:
            wn += 1
        elif y2 <= py < y1 and side < 0:
            wn -= 1
    if on_boundary:
        return 0
    return 1 if wn != 0 else -1


def point_in_polygonal(px: float, py: float, geom) -> bool:
    """ST_Intersects(point, (multi)polygon) with the winding test: inside or on a ring."""
    polys = [geom] if geom.geom_type == "Polygon" else list(geom.geoms)
    for poly in polys:
        s = winding(px, py, list(poly.exterior.coords))
        if s == 0:
            return True
        if s < 0:
            continue
        holes = [winding(px, py, list(h.coords)) for h in poly.interiors]
        if 0 in holes or 1 not in holes:
            return True
    return False


def linear_length(g) -> float:
    """ST_Length: length of the linear members (polygons and points: 0)."""
    if g.is_empty:
        return 0.0
    if g.geom_type in ("LineString", "MultiLineString", "LinearRing"):
        return g.length
    if g.geom_type == "GeometryCollection":
        return sum(linear_length(m) for m in g.geoms)
    return 0.0


def null_first_desc(v) -> tuple:
    """ORDER BY value DESC (NULLs first in PostgreSQL's descending order)."""
    return (0, 0.0) if v is None else (1, -v)


def reduce_pixel(cands: list[tuple], centre_vals: list, pixel_area: float) -> dict[str, float]:
    """Section 4 for one pixel. ``cands``: (geometry, value, area, length, piece) of the pixel's candidates in
    feature order, ``piece`` being pixel ∩ geometry; ``centre_vals``: values of the centre candidates. NaN: nodata."""
    nan = math.nan
    out = {}
    vals = [v for v in centre_vals if v is not None]
    out["COUNT_OF_VALUES_AT_PIXEL_CENTROID"] = float(len(vals))
    out["MEAN_OF_VALUES_AT_PIXEL_CENTROID"] = sum(vals) / len(vals) if vals else nan
    kinds = [g.geom_type for g, _, _, _, _ in cands]
    out["COUNT_OF_POLYGONS"] = float(
        sum(1 for (_, _, a, _, _), k in zip(cands, kinds) if k in ("Polygon", "MultiPolygon") and a > _THRESHOLD)
    )
    out["COUNT_OF_LINESTRINGS"] = float(
        sum(
            1 for (_, _, _, ln, _), k in zip(cands, kinds) if k in ("LineString", "MultiLineString") and ln > _THRESHOLD
        )
    )
    out["COUNT_OF_POINTS"] = float(sum(1 for k in kinds if k in ("Point", "MultiPoint")))
    out["COUNT_OF_GEOMETRIES"] = float(len(cands))
    if not cands:
        for m in ALL_METHODS:
            if not m.startswith("COUNT_") and m != "MEAN_OF_VALUES_AT_PIXEL_CENTROID":
                out[m] = nan
        return out
    best = sorted(cands, key=lambda c: (-c[2], null_first_desc(c[1])))[0]
    out["VALUE_OF_BIGGEST"] = nan if best[1] is None else best[1]

    def merged(rows):
        sums: dict = {}
        for _, v, a, _, _ in rows:
            sums[v] = sums.get(v, 0.0) + a
        return sums

    big = merged(cands)
    v_big = sorted(big, key=lambda v: (-big[v], null_first_desc(v)))[0]
    out["VALUE_OF_MERGED_BIGGEST"] = nan if v_big is None else v_big
    small = merged([c for c in cands if c[2] > _THRESHOLD])
    if small:
        v_small = sorted(small, key=lambda v: (small[v], null_first_desc(v)))[0]
        out["VALUE_OF_MERGED_SMALLEST"] = nan if v_small is None else v_small
    else:
        out["VALUE_OF_MERGED_SMALLEST"] = nan
    areas = [a for _, _, a, _, _ in cands if a > _THRESHOLD]
    out["MIN_AREA"] = min(areas) if areas else nan
    s = sum(a for _, _, a, _, _ in cands)
    out["SUM_OF_AREAS"] = s
    out["SUM_OF_LENGTHS"] = sum(ln for _, _, _, ln, _ in cands)
    pieces = [p for _, _, a, _, p in cands if a > 0]
    union = shapely.union_all(pieces).area if pieces else 0.0
    out["PROPORTION_OF_COVERED_AREA"] = union / pixel_area
    valued = [(a, v) for _, v, a, _, _ in cands if v is not None]
    for m, denom in (
        ("AREA_WEIGHTED_MEAN_OF_VALUES", max(s, pixel_area)),
        ("AREA_WEIGHTED_MEAN_OF_VALUES_2", s),
    ):
        if s == 0:
            out[m] = 0.0
        elif not valued:
            out[m] = nan
        else:
            out[m] = sum(a * v for a, v in valued) / denom
    return out


def oracle(pairs, grid: Grid) -> dict[str, np.ndarray]:
    """Expected (height, width) float64 arrays (NaN: nodata) of the 15 methods, tile by tile, pixel by pixel."""
    sx, kx, ulx, ky, sy, uly = (float(v) for v in tuple(grid.transform)[:6])
    width, height, tw, th = grid.width, grid.height, grid.tile_width, grid.tile_height
    geoms = [g for g, _ in pairs]
    values = [None if v is None else float(v) for _, v in pairs]
    res = {m: np.full((height, width), np.nan) for m in ALL_METHODS}
    for r0 in range(0, height, th):
        for c0 in range(0, width, tw):
            w, h = min(tw, width - c0), min(th, height - r0)
            # the tile's own geotransform, as PostGIS stores it
            tx, ty = (sx * c0 + kx * r0) + ulx, (sy * r0 + ky * c0) + uly

            def corner(c, r, tx=tx, ty=ty):
                return (sx * c + kx * r) + tx, (sy * r + ky * c) + ty

            hull = Polygon([corner(0, 0), corner(w, 0), corner(w, h), corner(0, h)])
            if not any(shapely.intersects(g, hull) for g in geoms):
                for m in ALL_METHODS:
                    res[m][r0 : r0 + h, c0 : c0 + w] = 0.0 if m in ZERO_WHEN_EMPTY else np.nan
                continue
            for r in range(h):
                for c in range(w):
                    x0, y0 = corner(c, r)
                    ring = [(x0, y0), (x0 + sx, y0 + ky), (x0 + (sx + kx), y0 + (sy + ky)), (x0 + kx, y0 + sy)]
                    ring.append(ring[0])
                    rounded = [(r15(x), r15(y)) for x, y in ring]
                    pixel = Polygon(rounded)
                    centre = Polygon(ring).centroid
                    cx, cy = r15(centre.x), r15(centre.y)
                    centre_vals = []
                    cands = []
                    for g, v in zip(geoms, values):
                        kind = g.geom_type
                        if kind in ("Polygon", "MultiPolygon"):
                            hit_centre = point_in_polygonal(cx, cy, g)
                        else:
                            hit_centre = shapely.intersects(g, Point(cx, cy))
                        if hit_centre:
                            centre_vals.append(v)
                        if kind in ("Point", "MultiPoint"):
                            pts = [g] if kind == "Point" else list(g.geoms)
                            hit = any(winding(p.x, p.y, rounded) >= 0 for p in pts)
                        else:
                            hit = shapely.intersects(g, pixel)
                        if hit:
                            piece = shapely.intersection(g, pixel)
                            cands.append((g, v, piece.area, linear_length(piece), piece))
                    one = reduce_pixel(cands, centre_vals, pixel.area)
                    for m in ALL_METHODS:
                        res[m][r0 + r, c0 + c] = one[m]
    return res


def expected_float32(values: np.ndarray) -> np.ndarray:
    """The value path for a float32 band with nodata -9999 (no value of these tests is -9999)."""
    return np.where(np.isnan(values), NODATA, values).astype(np.float32)


def check_against_oracle(pairs, grid: Grid, block_pixels: int) -> None:
    got = run(pairs, grid, ALL_METHODS, block_pixels=block_pixels)
    want = oracle(pairs, grid)
    ctx = f" (grid {grid!r}, block_pixels {block_pixels}, features {[(g.wkt, v) for g, v in pairs]})"
    for i, m in enumerate(ALL_METHODS):
        assert_band(m, got[i], expected_float32(want[m]), ctx)


def test_oracle_reproduces_the_conformance_vectors():
    want = oracle(MAIN_PAIRS, MAIN_GRID)
    for m in ALL_METHODS:
        np.testing.assert_array_equal(expected_float32(want[m]), f32(MAIN_EXPECTED_ALL[m]), err_msg=m)
    for pairs, expected in ((E1_PAIRS, E1_EXPECTED), (E3_PAIRS, E3_EXPECTED)):
        want = oracle(pairs, E_GRID)
        for m, rows in expected.items():
            np.testing.assert_array_equal(expected_float32(want[m]), f32(rows), err_msg=m)
    want = oracle(EXIT_PAIRS, EXIT_GRID)
    for m, rows in exit_expected().items():
        np.testing.assert_array_equal(expected_float32(want[m]), f32(rows), err_msg=m)


# ---------------------------------------------------------------------------- strategies (pixel space)
VALUES = st.sampled_from([None, None, -2.0, -1.0, 0.0, 0.5, 1.0, 1.0, 2.0, 3.0, 7.25])


def coord(lo: float, hi: float, fine: bool):
    """A pixel-space ordinate in [lo, hi]: on the half-pixel lattice, or (``fine``) a multiple of 1/1000."""
    if fine:
        return st.integers(int(lo * 1000), int(hi * 1000)).map(lambda k: k / 1000)
    return st.integers(int(lo * 2), int(hi * 2)).map(lambda k: k / 2)


def extent(fine: bool):
    return st.integers(1, 4000).map(lambda k: k / 1000) if fine else st.integers(1, 8).map(lambda k: k / 2)


@st.composite
def a_box(draw, w, h, fine):
    x0, y0 = draw(coord(-1, w, fine)), draw(coord(-1, h, fine))
    return shapely.box(x0, y0, x0 + draw(extent(fine)), y0 + draw(extent(fine)))


@st.composite
def a_triangle(draw, w, h, fine):
    pts = [(draw(coord(-1, w + 1, fine)), draw(coord(-1, h + 1, fine))) for _ in range(3)]
    tri = Polygon(pts)
    if not (tri.is_valid and tri.area > 0.01):
        return shapely.box(pts[0][0], pts[0][1], pts[0][0] + 1, pts[0][1] + 1)
    return tri


@st.composite
def a_holed_box(draw, w, h):
    """A lattice box with a lattice box hole strictly inside it."""
    x0, y0 = draw(coord(-1, w, False)), draw(coord(-1, h, False))
    nx, ny = draw(st.integers(3, 8)), draw(st.integers(3, 8))  # sides in half pixels
    a = draw(st.integers(1, nx - 2))
    b = draw(st.integers(a + 1, nx - 1))
    c = draw(st.integers(1, ny - 2))
    d = draw(st.integers(c + 1, ny - 1))
    hole = shapely.box(x0 + a / 2, y0 + c / 2, x0 + b / 2, y0 + d / 2)
    poly = Polygon(shapely.box(x0, y0, x0 + nx / 2, y0 + ny / 2).exterior.coords, [hole.exterior.coords])
    assert poly.is_valid
    return poly


@st.composite
def a_multipolygon(draw, w, h, fine):
    a = draw(a_box(w, h, fine))
    gap = draw(st.sampled_from([0.0, 0.5, 1.0]))
    ax0, ay0, ax1, _ = a.bounds
    b = shapely.box(ax1 + gap, ay0 - 0.5, ax1 + gap + draw(extent(fine)), ay0 + draw(extent(fine)))
    mp = MultiPolygon([a, b])
    if not mp.is_valid:  # a shared edge (gap 0): not a valid multipolygon
        return MultiPolygon([a])
    return mp


@st.composite
def a_line(draw, w, h, fine):
    n = draw(st.integers(2, 3))
    pts = [(draw(coord(-1, w + 1, fine)), draw(coord(-1, h + 1, fine))) for _ in range(n)]
    if draw(st.integers(0, 3)) == 0:  # a horizontal or vertical line on a pixel edge
        k = draw(st.integers(0, max(w, h)))
        pts = (
            [(pts[0][0], float(k)), (pts[1][0], float(k))] if draw(st.booleans()) else [(k, pts[0][1]), (k, pts[1][1])]
        )
    line = LineString(pts)
    if line.length == 0:
        return LineString([pts[0], (pts[0][0] + 1, pts[0][1])])
    return line


@st.composite
def a_point(draw, w, h, fine):
    return Point(draw(coord(-1, w + 1, fine)), draw(coord(-1, h + 1, fine)))


@st.composite
def pixel_geometry(draw, w, h, fine):
    kind = draw(
        st.sampled_from(
            [
                "box",
                "box",
                "triangle",
                "holed",
                "multipolygon",
                "line",
                "multiline",
                "point",
                "multipoint",
                "collection",
            ]
        )
    )
    if kind == "box":
        return draw(a_box(w, h, fine))
    if kind == "triangle":
        return draw(a_triangle(w, h, fine))
    if kind == "holed":
        return draw(a_holed_box(w, h))
    if kind == "multipolygon":
        return draw(a_multipolygon(w, h, fine))
    if kind == "line":
        return draw(a_line(w, h, fine))
    if kind == "multiline":
        return MultiLineString([draw(a_line(w, h, fine)), draw(a_line(w, h, fine))])
    if kind == "point":
        return draw(a_point(w, h, fine))
    if kind == "multipoint":
        return MultiPoint([draw(a_point(w, h, fine)) for _ in range(draw(st.integers(1, 3)))])
    return GeometryCollection([draw(a_box(w, h, fine)), draw(a_line(w, h, fine)), draw(a_point(w, h, fine))])


def to_map(geom, transform: Affine):
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])

    def fn(xy):
        return np.column_stack([(a * xy[:, 0] + b * xy[:, 1]) + c, (e * xy[:, 1] + d * xy[:, 0]) + f])

    return shapely.transform(geom, fn)


@st.composite
def north_up_grid(draw):
    w, h = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sx = draw(st.sampled_from([0.5, 1.0, 2.0]))
    sy = draw(st.sampled_from([0.5, 1.0, 2.0]))
    ulx, uly = draw(st.integers(-16, 16)) / 2, draw(st.integers(-16, 16)) / 2
    tile = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return Grid(w, h, Affine(sx, 0, ulx, 0, -sy, uly), CRS, tile_size=tile)


@st.composite
def skewed_grid(draw):
    w, h = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sx = draw(st.sampled_from([1.0, 2.0]))
    kx = draw(st.sampled_from([0.5, -0.5, 0.25]))
    ky = draw(st.sampled_from([0.0, 0.25, -0.5]))
    sy = draw(st.sampled_from([-1.0, -2.0, 1.0]))
    ulx, uly = draw(st.integers(-8, 8)) / 2, draw(st.integers(-8, 8)) / 2
    tile = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return Grid(w, h, Affine(sx, kx, ulx, ky, sy, uly), CRS, tile_size=tile)


@st.composite
def scene(draw, grids):
    """``(grid, pairs)``: features drawn in the grid's pixel space (lattice or fine), mapped with its transform."""
    grid = draw(grids)
    fine = draw(st.integers(0, 3)) == 0  # most examples on the half-pixel lattice: edges and corners touched
    n = draw(st.integers(1, 6))
    geoms = [draw(pixel_geometry(grid.width, grid.height, fine)) for _ in range(n)]
    values = [draw(VALUES) for _ in range(n)]
    pairs = [(to_map(g, grid.transform), v) for g, v in zip(geoms, values)]
    assert all(g.is_valid for g, _ in pairs)
    return grid, pairs


BLOCKS = st.sampled_from([1, 1 << 20])  # every tile its own block, or one block for the grid


@settings(max_examples=200)
@given(sc=scene(north_up_grid()), block_pixels=BLOCKS)
def test_random_scenes_match_the_oracle_north_up(sc, block_pixels):
    grid, pairs = sc
    check_against_oracle(pairs, grid, block_pixels)


# one block: the per-block pre-filter mishandles exact contacts on skewed grids (see the two tests below)
@settings(max_examples=50)
@given(sc=scene(skewed_grid()), block_pixels=st.just(1 << 20))
@example(
    sc=(
        Grid(3, 2, Affine(1, 0.5, 0, 0.25, -1, 2), CRS, tile_size=2),
        [
            (to_map(shapely.box(0.5, 0, 2, 1.5), Affine(1, 0.5, 0, 0.25, -1, 2)), 4.0),
            (to_map(Point(1, 1), Affine(1, 0.5, 0, 0.25, -1, 2)), None),
            (to_map(LineString([(0, 1), (3, 1)]), Affine(1, 0.5, 0, 0.25, -1, 2)), 2.0),
            (to_map(shapely.box(0, 0, 1, 2), Affine(1, 0.5, 0, 0.25, -1, 2)), 4.0),
        ],
    ),
    block_pixels=1 << 20,
)
def test_random_scenes_match_the_oracle_skewed(sc, block_pixels):
    grid, pairs = sc
    check_against_oracle(pairs, grid, block_pixels)


# Contacts that are exact in map space but not after the engine's map -> pixel transform (found by the random tests
# above with more examples). postgis_tile decides everything in map space, but compute_block first drops the features
# that do not intersect the block's frame *in pixel space*, and grid.to_pixel rounds on skewed grids and on grids
# with decimal pixel sizes: a feature touching the frame can land 2e-16 pixel outside it and be dropped.
SKEW = Affine(1, 0.5, 0, 0.5, -1, 0)  # pixel (0, 0): ring (0 0, 1 0.5, 1.5 -0.5, 0.5 -1); all exact in binary


@pytest.mark.parametrize(
    "feature",
    [shapely.Point(1.5, -0.5), shapely.box(1.5, -0.5, 2, 0)],
    ids=["point-on-the-corner", "polygon-touching-the-corner"],
)
@pytest.mark.parametrize("block_pixels", [1, 1 << 20])
def test_skewed_pixel_corner_contact_is_a_candidate(feature, block_pixels):
    grid = Grid(1, 1, SKEW, CRS)
    corner = SKEW @ (1, 1)
    assert corner == (1.5, -0.5) and shapely.intersects(feature, shapely.Point(corner))
    # the spec's answer (the oracle agrees): a candidate of zero area
    want = oracle([(feature, 1.0)], grid)
    assert want["COUNT_OF_GEOMETRIES"].tolist() == [[1.0]] and want["SUM_OF_AREAS"].tolist() == [[0.0]]
    methods = ["COUNT_OF_GEOMETRIES", "VALUE_OF_BIGGEST", "SUM_OF_LENGTHS"]
    got = run([(feature, 1.0)], grid, methods, block_pixels=block_pixels)
    assert got[:, 0, 0].tolist() == [1.0, 1.0, 0.0], (
        f"{feature.wkt} touches the corner (1.5, -0.5) of the only pixel of a skewed grid, so it is a candidate "
        f"(COUNT_OF_GEOMETRIES 1, VALUE_OF_BIGGEST 1, SUM_OF_LENGTHS 0); got {got[:, 0, 0].tolist()}: the feature "
        "was dropped by compute_block's pixel-space frame test (grid.to_pixel gives col 1.0000000000000002) and the "
        "tile took the early exit"
    )


def test_blocking_does_not_change_results_on_a_decimal_grid():
    # two 3x1 tiles of 0.1 x 0.1 pixels; the feature's west edge is x = 0.1 * 3, exactly the tiles' shared edge as
    # the tile geotransform computes it (0.30000000000000004): the west tile's extent touches it, so the west tile
    # takes no early exit, and its pixels (rounded to 15 decimals, x <= 0.3) have no candidate: nodata
    grid = Grid(6, 1, Affine(0.1, 0, 0, 0, -0.1, 0), CRS, tile_size=(3, 1))
    pairs = [(shapely.box(0.1 * 3, -0.1, 0.45, 0), 2.0)]
    one_block = run(pairs, grid, ["SUM_OF_AREAS"], block_pixels=1 << 20)[0]
    assert_band("SUM_OF_AREAS", one_block, expected_float32(oracle(pairs, grid)["SUM_OF_AREAS"]))
    per_tile = run(pairs, grid, ["SUM_OF_AREAS"], block_pixels=3)[0]
    assert per_tile.tolist() == one_block.tolist(), (
        f"block_pixels changes the result: {per_tile.tolist()} with one block per tile, {one_block.tolist()} with one "
        "block (compute_block's pixel-space frame test drops the feature from the west block: (0.1*3)/0.1 = "
        "3.0000000000000004 > 3)"
    )


# ============================================================================================ 4. pip_postgis, round15
SQUARE = np.array([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)], dtype=float)
L_SHAPE = np.array([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2), (0, 0)], dtype=float)


@pytest.mark.parametrize(
    "ring,x,y,want",
    [
        (SQUARE, 0.5, 0.5, 1),  # inside
        (SQUARE, 1.5, 0.5, -1),  # outside
        (SQUARE, -0.5, 0.5, -1),
        (SQUARE, 0.5, 0.0, 0),  # on an edge
        (SQUARE, 1.0, 0.25, 0),
        (SQUARE, 0.0, 0.0, 0),  # on a vertex
        (SQUARE, 1.0, 1.0, 0),
        (SQUARE, 2.0, 0.0, -1),  # on the extension of the bottom edge, outside the segment
        (SQUARE, -1.0, 0.0, -1),
        (SQUARE, 0.0, 3.0, -1),  # on the extension of the left edge
        (SQUARE[::-1].copy(), 0.5, 0.5, 1),  # clockwise ring
        (SQUARE[::-1].copy(), 0.5, 1.0, 0),
        (L_SHAPE, 0.5, 1.0, 1),  # on the extension of the inner edge (2,1)-(1,1), inside the L
        (L_SHAPE, 1.0, 1.5, 0),  # on the inner edge (1,1)-(1,2)
        (L_SHAPE, 1.5, 1.5, -1),  # in the notch
        (L_SHAPE, 1.0, 2.5, -1),  # extension of (1,1)-(1,2) beyond the vertex, outside
    ],
)
def test_pip_postgis(ring, x, y, want):
    got = pip_postgis(np.array([x]), np.array([y]), ring)
    assert got.tolist() == [want], f"({x}, {y}): {got.tolist()} != [{want}]"
    assert winding(x, y, ring.tolist()) == want  # the oracle's own winding test agrees


def test_pip_postgis_vectorised_and_non_robust():
    xs = np.array([0.5, 1.5, 0.5, 0.0, 2.0])
    ys = np.array([0.5, 0.5, 0.0, 0.0, 0.0])
    assert pip_postgis(xs, ys, SQUARE).tolist() == [1, -1, 0, 0, -1]
    # (0.01, 0.01/3) lies 4e-19 above the edge (0,0)-(3,1) in exact arithmetic (outside the triangle below it), but
    # the float cross product is exactly 0.0: PostGIS's test calls it "on the boundary"; GEOS's robust one "outside"
    tri = np.array([(0, 0), (3, 0), (3, 1), (0, 0)], dtype=float)
    px, py = 0.01, 0.01 / 3
    assert Fraction(px) * 1 - Fraction(py) * 3 < 0  # exactly: strictly above the line y = x / 3
    assert not shapely.intersects(Polygon(tri), Point(px, py))
    assert pip_postgis(np.array([px]), np.array([py]), tri).tolist() == [0]
    assert winding(px, py, tri.tolist()) == 0


def test_point_features_use_the_non_robust_winding_test():
    # two pixels of a skewed grid sharing the edge (0,0)-(3,1); the point is exactly (in real numbers) inside the
    # north pixel only, but its float cross product with the shared edge is 0.0: on the boundary of both
    grid = Grid(1, 2, Affine(3, 0, 0, 1, -1, 1), CRS)
    point = Point(0.01, 0.01 / 3)
    south = Polygon([grid.transform @ cr for cr in ((0, 1), (1, 1), (1, 2), (0, 2))])
    assert not shapely.intersects(south, point)
    got = run([(point, 1.0)], grid, ["COUNT_OF_POINTS", "COUNT_OF_GEOMETRIES", "VALUE_OF_BIGGEST"])
    assert got[:, :, 0].tolist() == [[1, 1], [1, 1], [1, 1]]
    assert oracle([(point, 1.0)], grid)["COUNT_OF_POINTS"].tolist() == [[1.0], [1.0]]


@pytest.mark.parametrize(
    "value,want",
    [
        (0.1 + 0.2, 0.3),
        (1.0000000000000002, 1.0),
        (-(0.1 + 0.2), -0.3),
        (2.0, 2.0),
        (0.5, 0.5),
        (-1234.125, -1234.125),
        (0.123456789012345, 0.123456789012345),  # already 15 decimals
        (1 / 3, 0.333333333333333),
        (1e-16, 0.0),
        (5e-16, 0.0),  # half-even on the repr: 0.5e-15 -> 0
        (1.5e-15, 2e-15),  # 1.5e-15 -> 2e-15
        (2.5e-15, 2e-15),  # 2.5e-15 -> 2e-15 (even)
        (20037508.342789244, 20037508.342789244),  # a web-mercator ordinate: short, unchanged
    ],
)
def test_round15(value, want):
    got = round15(np.array([value]))
    assert got.tolist() == [want], f"round15({value!r}) = {got.tolist()[0]!r}, expected {want!r}"
    assert r15(value) == want


def test_round15_keeps_shape_and_non_finite():
    arr = np.array([[0.1 + 0.2, np.inf], [np.nan, 2.0]])
    got = round15(arr)
    assert got.shape == (2, 2)
    assert got[0, 0] == 0.3 and got[0, 1] == np.inf and np.isnan(got[1, 0]) and got[1, 1] == 2.0


def test_round15_large_short_ordinates_stay_unchanged():
    # 12345678901234.5 has one decimal: the WKT round trip keeps it. Quantizing it to 1e-15 needs 29 significant
    # digits, more than decimal's default context precision (28).
    value = 12345678901234.5
    try:
        got = round15(np.array([value])).tolist()
    except decimal.InvalidOperation as exc:
        raise AssertionError(
            f"round15([{value}]) raises {exc!r}: Decimal.quantize(1e-15) runs out of the default 28-digit context "
            "for |x| >= 1e13, so rasterize(..., semantics='postgis') on a grid with such coordinates raises "
            "decimal.InvalidOperation"
        ) from None
    assert got == [value]


# ============================================================================================ 5. errors
@pytest.mark.parametrize(
    "method",
    ["VALUE_OF_SMALLEST", "SUM_OF_VALUES_AT_PIXEL_CENTROID", "value_of_smallest", "LAST_VALUE_AT_PIXEL_CENTROID"],
)
def test_method_without_postgis_semantics_is_refused(method):
    with pytest.raises(InputError, match=method.upper()) as exc:
        run(MAIN_PAIRS, MAIN_GRID, ["SUM_OF_AREAS", method])
    assert "postgis" in str(exc.value).lower()


def test_unknown_method_is_an_error_not_a_nodata_raster():
    with pytest.raises(UnknownMethodError):
        run(MAIN_PAIRS, MAIN_GRID, ["SUM_OF_AREA"])


@pytest.mark.parametrize("semantics", ["postgres", "st_extracttoraster", "", "exactly"])
def test_unknown_semantics(semantics):
    with pytest.raises(UnknownOptionError, match="semantics"):
        rastercover.rasterize(MAIN_PAIRS, MAIN_GRID, methods=["SUM_OF_AREAS"], semantics=semantics, assume_crs=CRS)


def test_semantics_name_is_case_insensitive():
    da = rastercover.rasterize(MAIN_PAIRS, MAIN_GRID, methods=["SUM_OF_AREAS"], semantics="PostGIS", assume_crs=CRS)
    np.testing.assert_array_equal(da.values[0], f32(MAIN_EXPECTED["SUM_OF_AREAS"]))


@pytest.mark.parametrize(
    "spelling", ["area_weighted_mean_of_values", "Area_Weighted_Mean_Of_Values", "AREA_WEIGHTED_MEAN_of_values"]
)
def test_method_names_are_case_insensitive(spelling):
    da = rastercover.rasterize(
        MAIN_PAIRS, MAIN_GRID, methods=[spelling, "value_of_merged_smallest"], semantics="postgis", assume_crs=CRS
    )
    assert list(da.coords["band"].values) == ["AREA_WEIGHTED_MEAN_OF_VALUES", "VALUE_OF_MERGED_SMALLEST"]
    np.testing.assert_array_equal(da.values[0], f32(MAIN_EXPECTED["AREA_WEIGHTED_MEAN_OF_VALUES"]))
    np.testing.assert_array_equal(da.values[1], f32(MAIN_EXPECTED["VALUE_OF_MERGED_SMALLEST"]))


# ============================================================================================ 6. command line
@pytest.fixture
def main_table_files(tmp_path):
    ref = write_raster(tmp_path / "ref.tif", 2, 2, MAIN_GRID.transform, crs=CRS)
    src = str(tmp_path / "table.gpkg")
    geoms = np.array([g for g, _ in MAIN_PAIRS], dtype=object)
    pyogrio.raw.write(
        src,
        shapely.to_wkb(geoms),
        [np.array([float(v) for _, v in MAIN_PAIRS])],
        ["val"],
        layer="table",
        geometry_type="Unknown",
        crs=CRS,
    )
    return tmp_path, ref, src


def test_cli_sum_of_areas_postgis(main_table_files):
    tmp, ref, src = main_table_files
    out = tmp / "out.tif"
    args = ["rasterize", src, "--like", ref, "--method", "SUM_OF_AREAS", "--semantics", "postgis", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, (result.output, result.exception)
    with rasterio.open(out) as ds:
        band = ds.read(1)
        assert ds.descriptions == ("SUM_OF_AREAS",) and ds.dtypes[0] == "float32" and ds.nodata == NODATA
    api = rastercover.rasterize(src, ref, methods=["SUM_OF_AREAS"], semantics="postgis")
    np.testing.assert_array_equal(band, api.values[0])
    np.testing.assert_array_equal(band, run(MAIN_PAIRS, MAIN_GRID, ["SUM_OF_AREAS"])[0])
    np.testing.assert_array_equal(band, f32(MAIN_EXPECTED["SUM_OF_AREAS"]))


def test_cli_all_15_methods_postgis(main_table_files):
    tmp, ref, src = main_table_files
    out = tmp / "all.tif"
    args = ["rasterize", src, "--like", ref, "--value", "val", "--semantics", "PostGIS", "-o", str(out)]
    for m in ALL_METHODS:
        args += ["-m", m.lower()]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, (result.output, result.exception)
    with rasterio.open(out) as ds:
        data = ds.read()
        assert ds.descriptions == ALL_METHODS
    np.testing.assert_array_equal(data, run(MAIN_PAIRS, MAIN_GRID, ALL_METHODS))
    for i, m in enumerate(ALL_METHODS):
        np.testing.assert_array_equal(data[i], f32(MAIN_EXPECTED_ALL[m]), err_msg=m)


def test_cli_refuses_a_method_without_postgis_semantics(main_table_files):
    tmp, ref, src = main_table_files
    out = tmp / "bad.tif"
    args = ["rasterize", src, "--like", ref, "-m", "VALUE_OF_SMALLEST", "--value", "val"]
    result = CliRunner().invoke(cli, [*args, "--semantics", "postgis", "-o", str(out)])
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError) and "VALUE_OF_SMALLEST" in str(result.exception)
    assert not out.exists()


# ============================================================================================ 7. the fast paths
# postgis_tile finds its candidates without querying an STRtree pixel by pixel, batches its unions and computes the
# pixel centres in numpy. Each shortcut must give the very pairs, in the very order (float sums and GEOS unions
# depend on it), and the very bits of the straightforward way, which these tests spell out with shapely.
def tree_query_pixel_candidates(geoms: np.ndarray, rounded: np.ndarray):
    """The straightforward pixel candidates: ``STRtree.query(pixels, predicate="intersects")`` (GEOS prepares each
    pixel), then every (multi)point's parts against the pixel ring by PostGIS's winding test, appended; and whether
    the geometry covers the pixel (unprepared ``covers``)."""
    pixels = shapely.polygons(rounded)
    tree = shapely.STRtree(geoms)
    types = shapely.get_type_id(geoms)
    k, f = tree.query(pixels, predicate="intersects")
    keep = ~np.isin(types[f], (0, 4))
    k, f = k[keep], f[keep]
    ek, ef = tree.query(pixels)
    point_pairs = [
        (p, j)
        for p, j in zip(ek, ef, strict=True)
        if types[j] in (0, 4)
        and any(pip_postgis(np.array([q.x]), np.array([q.y]), rounded[p])[0] >= 0 for q in shapely.get_parts(geoms[j]))
    ]
    k = np.concatenate([k, np.array([p for p, _ in point_pairs], dtype=np.int64)])
    f = np.concatenate([f, np.array([j for _, j in point_pairs], dtype=np.int64)])
    areal = np.isin(types[f], (3, 6, 7))
    inside = np.zeros(len(k), dtype=bool)
    inside[areal] = shapely.covers(geoms[f[areal]], pixels[k[areal]])
    return k, f, inside


def tile_inputs(grid: Grid, pairs):
    geoms = np.array([g for g, _ in pairs], dtype=object)
    rings = postgis.pixel_rings(grid.transform, grid.width, grid.height)[0]
    return geoms, rings, postgis.round15(rings)


def fast_pixel_candidates(geoms: np.ndarray, rounded: np.ndarray, grid: Grid):
    tree = shapely.STRtree(geoms)
    types = shapely.get_type_id(geoms)
    rank = postgis._tree_rank(tree, geoms)
    return postgis._pixel_candidates(geoms, types, rank, tree, rounded, grid.width, grid.height)


# near-degenerate contacts: edges nearly collinear with a skewed grid's pixel edges, where GEOS's prepared covers
# says False and its unprepared covers True; and a long line across a north-up tile (pairs from its segments)
NEAR_COLLINEAR = (
    Grid(6, 5, Affine(0.1, -0.3, 150000, 0.1, -1.0, 5000000), CRS),
    [
        (Point(149999.025, 4999996.575), 1.0),
        (
            wkt.loads(
                "MULTIPOLYGON (((150000.3 5000000.3, 149998.875 4999995.55, 149998.575 4999995.25, 150000 5000000, "
                "150000.3 5000000.3)), ((149999.45 4999996.65, 149999 4999995.15, 149998.85 4999995, "
                "149999.3 4999996.5, 149999.45 4999996.65)))"
            ),
            2.5,
        ),
    ],
)
LONG_LINE = (
    Grid(5, 4, Affine(2, 0, 100, 0, -2, 50), CRS),
    [
        (LineString([(99, 51), (105.5, 45), (111, 43.25), (104, 41)]), 1.0),
        (MultiLineString([[(100, 50), (110, 42)], [(101, 43), (101, 49)]]), 2.0),
        (shapely.box(102, 44, 106, 48), 3.0),
        (MultiPoint([(100, 50), (103, 47), (109.5, 42.5)]), None),
    ],
)


@settings(max_examples=150)
@given(sc=st.one_of(scene(north_up_grid()), scene(skewed_grid())))
@example(sc=NEAR_COLLINEAR)
@example(sc=LONG_LINE)
def test_pixel_candidates_are_the_tree_query_pairs_in_its_order(sc):
    grid, pairs = sc
    geoms, _, rounded = tile_inputs(grid, pairs)
    want_k, want_f, want_inside = tree_query_pixel_candidates(geoms, rounded)
    k, f, inside, pix = fast_pixel_candidates(geoms, rounded, grid)
    assert k.tolist() == want_k.tolist() and f.tolist() == want_f.tolist(), (list(zip(k, f)), list(zip(want_k, want_f)))
    assert inside.tolist() == want_inside.tolist()
    for p in np.unique(k):  # the pixel polygons handed on are the rounded rings
        assert shapely.get_coordinates(pix[p]).tolist() == rounded[p].tolist()


def test_near_collinear_edges_keep_the_unprepared_covers():
    grid, pairs = NEAR_COLLINEAR
    geoms, _, rounded = tile_inputs(grid, pairs)
    pixel = shapely.polygons(rounded[20])
    poly = geoms[1]
    prepared = shapely.from_wkb(shapely.to_wkb(poly))
    shapely.prepare(prepared)
    assert shapely.covers(poly, pixel) and not shapely.covers(prepared, pixel)  # GEOS's two answers differ
    k, f, inside, _ = fast_pixel_candidates(geoms, rounded, grid)
    assert inside[(k == 20) & (f == 1)].tolist() == [True]
    # so the pixel is its own intersection: MIN_AREA is the pixel polygon's area, bit for bit
    res = postgis.postgis_tile(geoms, np.array([1.0, 2.5]), grid.transform, grid.width, grid.height, ["MIN_AREA"])
    assert res["MIN_AREA"][20] == shapely.area(pixel)


# the centre of pixel (1, 0) is (14.999999999999998, 1.85): within the winding test's tolerance of the triangle's
# vertex (15, 1.85) but outside its envelope, so the tree query never asks the winding test (which says "inside")
CENTRE_BY_A_VERTEX = (
    Grid(5, 3, Affine(30, 0, 0, 0, -0.1, 2), CRS),
    [(wkt.loads("POLYGON ((150 2.075, 15 1.85, 97.5 2.075, 150 2.075))"), 1.0)],
)


@settings(max_examples=150)
@given(sc=st.one_of(scene(north_up_grid()), scene(skewed_grid())))
@example(sc=NEAR_COLLINEAR)
@example(sc=LONG_LINE)
@example(sc=CENTRE_BY_A_VERTEX)
def test_fast_centre_candidates_match_the_tree_query(sc):
    grid, pairs = sc
    geoms, rings, rounded = tile_inputs(grid, pairs)
    tree = shapely.STRtree(geoms)
    centres = postgis.round15(shapely.get_coordinates(shapely.centroid(shapely.polygons(rings))))
    hull = postgis.pixel_rings(grid.transform, grid.width, grid.height)[1]
    scale = float(np.abs(hull).max()) + 1.0
    assert 4e-9 * scale < postgis._centre_margin(grid.transform)
    want_k, want_f = postgis._centre_candidates(tree, geoms, shapely.points(centres), scale)
    k, f, inside, _ = fast_pixel_candidates(geoms, rounded, grid)
    types = shapely.get_type_id(geoms)
    rank = postgis._tree_rank(tree, geoms)
    got_k, got_f = postgis._centre_candidates_fast(geoms, types, rank, k, f, inside, centres, 1e-9 * scale)
    assert got_k.tolist() == want_k.tolist() and got_f.tolist() == want_f.tolist()


def test_tiny_pixels_far_from_the_origin_take_the_tree_query_for_centres():
    # pixels of 1e-6 at x = 1e7: the winding test's tolerance (1e-9 x 1e7) exceeds the pixel: no shortcut
    grid = Grid(3, 2, Affine(1e-6, 0, 1e7, 0, -1e-6, 1e7), CRS)
    assert 4e-9 * (1e7 + 1) >= postgis._centre_margin(grid.transform)
    pairs = [(shapely.box(1e7 + 0.5e-6, 1e7 - 2e-6, 1e7 + 2e-6, 1e7 - 0.5e-6), 4.0)]
    got = run(pairs, grid, ["COUNT_OF_VALUES_AT_PIXEL_CENTROID", "MEAN_OF_VALUES_AT_PIXEL_CENTROID"])
    want = oracle(pairs, grid)
    assert_band(
        "COUNT_OF_VALUES_AT_PIXEL_CENTROID", got[0], expected_float32(want["COUNT_OF_VALUES_AT_PIXEL_CENTROID"])
    )
    assert_band("MEAN_OF_VALUES_AT_PIXEL_CENTROID", got[1], expected_float32(want["MEAN_OF_VALUES_AT_PIXEL_CENTROID"]))


@settings(max_examples=200)
@given(
    sx=st.floats(1e-3, 1e3),
    sy=st.floats(-1e3, -1e-3),
    kx=st.sampled_from([0.0, 0.0, 0.25, -0.3, 1e-3]),
    ky=st.sampled_from([0.0, 0.0, 0.1, -0.2]),
    ulx=st.floats(-2e7, 2e7),
    uly=st.floats(-2e7, 2e7),
)
def test_numpy_centres_are_the_geos_centroids_bit_for_bit(sx, sy, kx, ky, ulx, uly):
    rings = postgis.pixel_rings(Affine(sx, kx, ulx, ky, sy, uly), 4, 3)[0]
    geos = shapely.get_coordinates(shapely.centroid(shapely.polygons(rings)))
    assert postgis._centroid_formula(rings).tolist() == geos.tolist()


def test_tree_rank_is_the_order_of_every_query():
    rng = np.random.default_rng(7)
    lo = rng.uniform(0, 100, (300, 2))
    geoms = shapely.box(lo[:, 0], lo[:, 1], lo[:, 0] + rng.uniform(0, 20, 300), lo[:, 1] + rng.uniform(0, 20, 300))
    tree = shapely.STRtree(geoms)
    rank = postgis._tree_rank(tree, geoms)
    q = rng.uniform(0, 110, (200, 2))
    k, f = tree.query(shapely.box(q[:, 0], q[:, 1], q[:, 0] + 5, q[:, 1] + 5))
    order = np.lexsort((rank[f], k))
    assert order.tolist() == list(range(len(k)))  # already in (query, rank) order
    assert (np.diff(f[1:][k[1:] == k[:-1]]) < 0).any()  # and not in index order: the rank matters


def test_batched_unions_are_one_union_per_pixel():
    rng = np.random.default_rng(3)
    n = 400
    k = rng.integers(0, 60, n)
    x, y = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    pieces = shapely.box(x, y, x + rng.uniform(0.01, 0.5, n), y + rng.uniform(0.01, 0.5, n))
    pieces[rng.random(n) < 0.1] = shapely.Point(0, 0)  # zero-area pieces are left out
    area = shapely.area(pieces)
    got = postgis._union_area(k, pieces, area, 64)
    for p in range(64):
        mine = pieces[(k == p) & (area > 0)]
        want = 0.0 if len(mine) == 0 else float(shapely.area(shapely.union_all(mine)))
        assert got[p] == want, p


@settings(max_examples=200)
@given(
    values=st.lists(
        st.one_of(st.floats(-3.4e38, 3.4e38), st.sampled_from([np.nan, -9999.0, 0.0, -0.0, np.inf, 1e-45])),
        min_size=1,
        max_size=20,
    ),
    nodata=st.sampled_from([-9999.0, 0.0, float(np.finfo(np.float32).min), float(np.finfo(np.float32).max), np.nan]),
)
def test_float32_band_path(values, nodata):
    result = np.array(values)
    got = postgis.postgis_band(result, np.dtype("float32"), nodata)
    # spec section 4: float32 first; a result equal to nodata moves by FLT_EPSILON (up from the type's minimum)
    res = np.where(np.isnan(result), 0.0, result).astype(np.float32).astype(np.float64)
    clash = res == np.float32(nodata)
    fmin = float(np.finfo(np.float32).min)
    res[clash] = nodata + FLT_EPSILON if nodata == fmin else nodata - FLT_EPSILON
    want = np.where(np.isnan(result), nodata, res).astype(np.float32)
    assert got.dtype == np.float32 and got.tobytes() == want.tobytes()


@settings(max_examples=300)
@given(value=st.floats(-1e40, 1e40))  # the oracle's 60 digits hold a 1e-15 quantum up to 1e45
def test_round15_matches_decimal_everywhere(value):
    assert round15(np.array([value])).tolist() == [r15(value)]
    if abs(value) >= 10:  # the shortcut: from 10 up a repr has at most 15 decimals
        assert r15(value) == value
