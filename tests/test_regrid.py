"""Regridding a raster coverage onto a target grid (``rastercover.regrid``), against the contract of spec section 6.

- Every area method against a slow shapely oracle (tests/regrid_oracle.py: source pixels as densified polygons
  reprojected with pyproj, intersected with the target pixels): across CRSs (EPSG:4326 -> UTM, a rotated UTM
  raster -> EPSG:3857, a skewed target) to 1e-6 of the band's largest value, and in one CRS with rotated,
  sheared sources and targets.
- In one CRS with axis-aligned grids, the overlap areas are products of 1-D overlaps (a separable numpy oracle),
  for random origins and resolutions (Hypothesis), to 1e-12 of a target pixel.
- Conservation laws: ``Σ SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES = Σ v`` (random rotated sources, across CRSs, and
  the real GPW population count of São Miguel onto a 100 m UTM grid); ``Σ_classes FRACTION_OF_RASTER_VALUE =
  VALID_FRACTION``; ``VALID_FRACTION = 1`` on fully covered pixels.
- Centroid methods against a direct computation (centre -> source pixel space -> floor), nodata and NaN left out,
  half-open ownership on pixel edges, the empty-pixel results of the spec table, MAJORITY's tie to the smaller
  class.
- Bit-identical results across block sizes, tile sizes, workers and the dask executor.
- Sources (GeoTIFF, VRT, tile folder, .zarr, DataArray, a PostGIS raster table whose rows overlap on different
  grids) and outputs (GeoTIFF, tile folder, .zarr, PostGIS table); band naming and ``bands=``.
- The errors a user can make, raised as :class:`rastercover.errors.InputError` naming the problem.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import rasterio
import shapely
import xarray as xr
from affine import Affine
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

import rastercover
from rastercover import Grid
from rastercover.engine.regrid import RegridBlock, Regridding
from rastercover.errors import InputError, UnknownMethodError
from rastercover.grid import Window
from rastercover.io.raster_source import open_raster_source
from rastercover.methods import Kind
from tests.conftest import write_raster
from tests.regrid_oracle import (
    Raster,
    area_oracle,
    centroid_oracle,
    overlaps,
    separable_overlaps,
    source_polygons,
)

ND = -9999.0  # regrid's default nodata
UTM = "EPSG:32626"  # the Azores
MERC = "EPSG:3857"
WGS84 = "EPSG:4326"

AREA_METHODS = [
    "AREA_WEIGHTED_SUM_OF_RASTER_VALUES",
    "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES",
    "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES",
    "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2",
    "VALID_FRACTION",
    "MIN_OF_RASTER_VALUES",
    "MAX_OF_RASTER_VALUES",
    "MAJORITY_OF_RASTER_VALUES",
    "FRACTION_OF_RASTER_VALUE",
]
CENTROID = {
    "COUNT": "COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
    "FIRST": "FIRST_RASTER_VALUE_AT_PIXEL_CENTROID",
    "MIN": "MIN_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
    "MAX": "MAX_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
    "SUM": "SUM_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
    "MEAN": "MEAN_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
    "STDDEVP": "STDDEVP_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
    "RANGE": "RANGE_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
}
#: Empty pixels (spec table): 0 for counts, sums and fractions, nodata for the rest.
#: Hypothesis without its shrink phase: a regridding per example makes shrinking a failure take minutes; the
#: failing example is printed as found (and derandomized runs find it again).
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
ZERO_WHEN_EMPTY = {
    "COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
    "SUM_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
    "AREA_WEIGHTED_SUM_OF_RASTER_VALUES",
    "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES",
    "VALID_FRACTION",
}
#: Methods whose value is one of the source values: exact equality with the oracle (but where it is ambiguous).
PICKING = {"MIN_OF_RASTER_VALUES", "MAX_OF_RASTER_VALUES", "MAJORITY_OF_RASTER_VALUES"}


# ============================================================================================ helpers
def as_da(values: np.ndarray, transform: Affine, crs: str, nodata: float | None = None) -> xr.DataArray:
    """A (band, y, x) DataArray source; 2-D values make one band."""
    v = values[None] if values.ndim == 2 else values
    attrs = {"transform": transform, "crs": crs}
    if nodata is not None:
        attrs["nodata"] = nodata
    return xr.DataArray(v, dims=("band", "y", "x"), attrs=attrs)


def bands_of(da: xr.DataArray) -> dict[str, np.ndarray]:
    """Output bands by name."""
    return {str(n): da.values[i] for i, n in enumerate(da.band.values)}


def as_output(want: np.ndarray, name: str) -> np.ndarray:
    """An oracle's band as regrid writes it: NaN (no result) is nodata, or 0 for counts, sums and fractions."""
    fill = 0.0 if name in ZERO_WHEN_EMPTY or name.startswith("FRACTION_OF_RASTER_VALUE") else ND
    return np.where(np.isnan(want), fill, want)


def same(a, b) -> bool:
    """Bit-for-bit equal arrays."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def classes_with_nodata(rng, shape, nodata=-1.0) -> tuple[np.ndarray, np.ndarray]:
    """Random classes 1..4 with a few NaN and a few ``nodata`` pixels: (as stored, as the oracle sees them)."""
    v = rng.integers(1, 5, shape).astype(float)
    flat = rng.permutation(v.size)
    stored = v.copy().ravel()
    stored[flat[:2]] = np.nan
    stored[flat[2:4]] = nodata
    stored = stored.reshape(shape)
    seen = np.where(stored == nodata, np.nan, stored)
    return stored, seen


def _utm_of(lon: float, lat: float, crs: str = UTM) -> tuple[float, float]:
    return Transformer.from_crs(WGS84, crs, always_xy=True).transform(lon, lat)


def _case(name: str):
    """(source raster as stored, as the oracle sees it, source transform, source CRS, target Grid)."""
    rng = np.random.default_rng(sum(map(ord, name)))
    stored, seen = classes_with_nodata(rng, (7, 9))
    if name.startswith("wgs84->utm"):
        st_ = Affine(0.0021, 0, -25.61, 0, -0.0017, 37.83)  # ~185 m x 190 m pixels
        x0, y0 = _utm_of(-25.61, 37.83)
        if name == "wgs84->utm":
            tt = Affine(70, 0, x0 - 177, 0, -70, y0 + 90)
        else:  # a skewed, rotated target grid
            tt = Affine(60, 14, x0 - 250, -9, -62, y0 + 60)
        return stored, seen, st_, WGS84, Grid(28, 22, tt, UTM)
    if name == "wgs84-degrees->utm":  # 1° pixels at 62-66°N: curved sides, the source pixels subdivided
        stored, seen = classes_with_nodata(rng, (4, 6))
        st_ = Affine(1, 0, -31, 0, -1, 66)
        b = Transformer.from_crs(WGS84, UTM, always_xy=True).transform_bounds(-31, 62, -25, 66, densify_pts=101)
        return stored, seen, st_, WGS84, Grid.from_bounds((b[0] - 3e4, b[1] - 3e4, b[2] + 1e4, b[3] + 1e4), 15000, UTM)
    if name == "utm-rotated->mercator":
        st_ = Affine(75, 0, 620000, 0, -75, 4190000) @ Affine.rotation(17)
        x0, y0 = Transformer.from_crs(UTM, MERC, always_xy=True).transform(620000 - 300, 4190000 + 100)
        return stored, seen, st_, UTM, Grid(16, 16, Affine(90, 0, x0, 0, -90, y0), MERC)
    if name == "same-crs-sheared-source":
        return stored, seen, Affine(10, 3, 100, -2, -9, 500), UTM, Grid(18, 16, Affine(7, 0, 95, 0, -7, 515), UTM)
    if name == "same-crs-sheared-target":
        grid = Grid(18, 16, Affine(7, 1.5, 95, 0.5, -7, 515), UTM)
        return stored, seen, Affine(10, 0, 100, 0, -9, 500), UTM, grid
    raise KeyError(name)


CASES = [
    "wgs84->utm",
    "wgs84->utm-skewed-target",
    "wgs84-degrees->utm",
    "utm-rotated->mercator",
    "same-crs-sheared-source",
    "same-crs-sheared-target",
]
#: Points per side of the oracle's source pixels: 1° sides need more for the oracle's own error to stay far below 1e-6.
ORACLE_POINTS = {"wgs84-degrees->utm": 1024}


# ============================================================================================ 1. the area oracle
@pytest.mark.parametrize("name", CASES)
def test_area_methods_match_the_polygon_oracle(name):
    stored, seen, st_, scrs, grid = _case(name)
    got = bands_of(rastercover.regrid(as_da(stored, st_, scrs, nodata=-1), grid, methods=AREA_METHODS, dtype="float64"))
    ov = overlaps([Raster(seen, st_, scrs)], grid.transform, grid.shape, grid.crs, n=ORACLE_POINTS.get(name, 64))
    want = area_oracle(ov, classes=(1, 2, 3, 4))
    ambiguous = want["ambiguous"].reshape(grid.shape)
    assert ambiguous.mean() < 0.05
    assert sorted(got) == sorted(AREA_METHODS[:-1] + [f"FRACTION_OF_RASTER_VALUE:{c}" for c in (1, 2, 3, 4)])
    for method, band in got.items():
        w = as_output(want[method].reshape(grid.shape), method)
        # empty pixels: exactly the spec's value
        empty = np.isnan(want["MIN_OF_RASTER_VALUES"].reshape(grid.shape))
        assert (band[empty] == w[empty]).all(), method
        if method in PICKING:
            ok = ~ambiguous
            np.testing.assert_array_equal(band[ok], w[ok], err_msg=method)
        else:
            scale = np.abs(w).max()
            assert scale > 0
            np.testing.assert_allclose(band, w, rtol=0, atol=1e-6 * scale, err_msg=method)
    # the grid has pixels off the source, fully covered pixels, and partly covered ones
    vf = got["VALID_FRACTION"]
    assert (vf == 0).any() and (vf > 1 - 1e-9).any() and ((vf > 0.01) & (vf < 0.99)).any()


@pytest.mark.parametrize("name", CASES)
def test_centroid_methods_match_a_direct_computation(name):
    stored, seen, st_, scrs, grid = _case(name)
    da = as_da(stored, st_, scrs, nodata=-1)
    got = bands_of(rastercover.regrid(da, grid, methods=list(CENTROID.values()), dtype="float64"))
    want = centroid_oracle([Raster(seen, st_, scrs)], grid.transform, grid.shape, grid.crs)
    for key, method in CENTROID.items():
        np.testing.assert_array_equal(got[method], as_output(want[key].reshape(grid.shape), method), err_msg=method)
    count = got[CENTROID["COUNT"]]
    assert set(np.unique(count)) == {0.0, 1.0} and (count == 1).sum() > 20
    # one raster: one source pixel at most per centre
    assert (got[CENTROID["STDDEVP"]][count == 1] == 0).all() and (got[CENTROID["RANGE"]][count == 1] == 0).all()


# ============================================================================================ 2. separable oracle
@st.composite
def aligned_pair(draw):
    """An axis-aligned source (north-up or south-up) and a north-up target in one CRS, misaligned at random."""
    f = st.floats
    sw, sh = draw(st.integers(1, 7)), draw(st.integers(1, 6))
    sx, sy = draw(f(0.3, 20)), draw(f(0.3, 20))
    south_up = draw(st.booleans())
    sx0, sy0 = draw(f(-300, 300)), draw(f(-300, 300))
    source = Affine(sx, 0, sx0, 0, sy if south_up else -sy, sy0)
    tx, ty = draw(f(0.3, 20)), draw(f(0.3, 20))
    # the target's upper-left corner somewhere over (or a little off) the source
    lo_y = sy0 if south_up else sy0 - sh * sy
    hi_y = sy0 + sh * sy if south_up else sy0
    tx0 = draw(f(sx0 - 2 * tx, sx0 + sw * sx))
    ty0 = draw(f(lo_y, hi_y + 2 * ty))
    target = Affine(tx, 0, tx0, 0, -ty, ty0)
    tw, th = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    return source, (sh, sw), target, (th, tw), seed


@settings(max_examples=150, phases=NO_SHRINK)
@given(aligned_pair())
def test_overlap_areas_are_products_of_1d_overlaps(pair):
    source, sshape, target, tshape, seed = pair
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 100, sshape)
    values[rng.random(sshape) < 0.2] = np.nan
    da = as_da(values, source, UTM)
    grid = Grid(tshape[1], tshape[0], target, UTM)
    A = grid.pixel_area
    oy, ox = separable_overlaps(source, sshape, target, tshape)
    want = np.einsum("ab,cd->acbd", oy, ox).reshape(tshape[0] * tshape[1], sshape[0] * sshape[1])
    valid = ~np.isnan(values.ravel())
    want[:, ~valid] = 0.0
    # the overlap weights themselves, pair by pair
    reg = Regridding.of(open_raster_source(da), grid)
    block = RegridBlock(reg, grid, Window(0, 0, tshape[1], tshape[0]))
    got = np.zeros_like(want)
    if block.pieces:
        (piece,) = block.pieces
        hits = block.hits(0, Kind.RASTER_AREA)
        lr, lc = np.divmod(hits.feature, piece.window.width)
        src = (lr + piece.window.row_off) * sshape[1] + lc + piece.window.col_off
        np.add.at(got, (hits.pixel, src), hits.weight)
        np.testing.assert_allclose(hits.feature_area[hits.feature], abs(source.determinant), rtol=1e-12)
    # the kernel leaves out overlaps of at most 1e-12 of a target pixel (rounding noise): the tolerance per pair
    tol = 1.5e-12 * A
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    # and through the public API
    out = bands_of(
        rastercover.regrid(
            da,
            grid,
            methods=["AREA_WEIGHTED_SUM_OF_RASTER_VALUES", "VALID_FRACTION", "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES"],
            dtype="float64",
        )
    )
    v = np.nan_to_num(values.ravel())
    ws = (want @ v).reshape(tshape)
    np.testing.assert_allclose(out["AREA_WEIGHTED_SUM_OF_RASTER_VALUES"], ws, rtol=0, atol=tol * v.sum())
    np.testing.assert_allclose(
        out["SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES"],
        ws / abs(source.determinant),
        rtol=0,
        atol=tol * v.sum() / abs(source.determinant),
    )
    vf = want.sum(axis=1).reshape(tshape) / A
    np.testing.assert_allclose(out["VALID_FRACTION"], vf, rtol=0, atol=tol / A * valid.sum())
    # a fully covered pixel (every source pixel under it valid) has VALID_FRACTION 1, to rounding (the areas of
    # the pieces are float sums: 0.9999999999999998 happens, even under a single source pixel), never above 1
    full = np.isclose(vf, 1.0, rtol=0, atol=1e-13)
    np.testing.assert_allclose(out["VALID_FRACTION"][full], 1.0, rtol=0, atol=1e-12)
    assert out["VALID_FRACTION"].max() <= 1.0


# ============================================================================================ 3. conservation
@st.composite
def any_source(draw):
    """A source raster with any affine transform (rotation, shear, flips) and a north-up grid covering it."""
    f = st.floats
    sw, sh = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    a, e = draw(f(0.5, 12)), -draw(f(0.5, 12))
    b, d = draw(f(-6, 6)), draw(f(-6, 6))
    if abs(a * e - b * d) < 0.1:
        b = d = 0.0
    source = Affine(a, b, draw(f(-200, 200)), d, e, draw(f(-200, 200)))
    res = draw(f(0.4, 15))
    seed = draw(st.integers(0, 2**32 - 1))
    return source, (sh, sw), res, seed


def _covering(source: Affine, shape: tuple[int, int], res: float, crs: str) -> Grid:
    h, w = shape
    xs, ys = zip(*(source @ (c, r) for c in (0, w) for r in (0, h)), strict=True)
    return Grid.from_bounds((min(xs) - res, min(ys) - res, max(xs) + res, max(ys) + res), res, crs, tile_size=5)


@settings(max_examples=100, phases=NO_SHRINK)
@given(any_source())
def test_proportional_sum_conserves_the_total_and_fractions_add_up_to_valid_fraction(src):
    source, shape, res, seed = src
    rng = np.random.default_rng(seed)
    counts = rng.uniform(0, 1000, shape)
    counts[rng.random(shape) < 0.15] = np.nan
    classes = rng.integers(1, 4, shape).astype(float)
    classes[np.isnan(counts)] = np.nan
    da = as_da(np.stack([counts, classes]), source, MERC)
    grid = _covering(source, shape, res, MERC)
    out = bands_of(
        rastercover.regrid(
            da,
            grid,
            methods=["SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", "VALID_FRACTION", "FRACTION_OF_RASTER_VALUE:1,2,3"],
            dtype="float64",
        )
    )
    total = math.fsum(counts[~np.isnan(counts)])
    got = math.fsum(out["band1:SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES"].ravel())
    assert got == pytest.approx(total, rel=1e-9, abs=1e-9)
    fractions = sum(out[f"band2:FRACTION_OF_RASTER_VALUE:{c}"] for c in (1, 2, 3))
    np.testing.assert_allclose(fractions, out["band2:VALID_FRACTION"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out["band1:VALID_FRACTION"], out["band2:VALID_FRACTION"])
    # Σ VALID_FRACTION · A is the valid source area
    valid_area = (~np.isnan(counts)).sum() * abs(source.determinant)
    assert math.fsum(out["band1:VALID_FRACTION"].ravel()) * grid.pixel_area == pytest.approx(valid_area, rel=1e-9)


@pytest.mark.parametrize("name", ["wgs84->utm", "utm-rotated->mercator", "utm->wgs84"])
def test_proportional_sum_conserves_the_total_across_crs(name):
    rng = np.random.default_rng(7)
    counts = rng.uniform(0, 500, (7, 9))
    counts[rng.random((7, 9)) < 0.15] = np.nan
    classes = rng.integers(1, 4, (7, 9)).astype(float)
    classes[np.isnan(counts)] = np.nan
    if name == "utm->wgs84":  # areas in degrees²
        st_, scrs, tcrs, res = Affine(75, 0, 620000, 0, -75, 4190000), UTM, WGS84, 0.0004
    else:
        _, _, st_, scrs, grid = _case(name)
        tcrs, res = str(grid.crs), abs(grid.transform.a)
    h, w = counts.shape
    xs, ys = zip(*(st_ @ (c, r) for c in (0, w) for r in (0, h)), strict=True)
    bounds = Transformer.from_crs(scrs, tcrs, always_xy=True).transform_bounds(
        min(xs), min(ys), max(xs), max(ys), densify_pts=101
    )
    pad = 2 * res
    grid = Grid.from_bounds(
        (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad), res, tcrs, tile_size=(7, 5)
    )
    out = bands_of(
        rastercover.regrid(
            as_da(np.stack([counts, classes]), st_, scrs),
            grid,
            methods=["SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", "VALID_FRACTION", "FRACTION_OF_RASTER_VALUE:1,2,3"],
            dtype="float64",
        )
    )
    total = math.fsum(counts[~np.isnan(counts)])
    assert math.fsum(out["band1:SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES"].ravel()) == pytest.approx(total, rel=1e-9)
    vf = out["band2:VALID_FRACTION"]
    fractions = sum(out[f"band2:FRACTION_OF_RASTER_VALUE:{c}"] for c in (1, 2, 3))
    np.testing.assert_allclose(fractions, vf, rtol=0, atol=1e-12)
    assert vf.max() <= 1.0 and (vf > 1 - 1e-9).sum() > 10


def test_gpw_population_of_sao_miguel_keeps_its_total_on_a_100m_utm_grid(realdata):
    path = realdata / "sao_miguel" / "gpw_v411_2020_count_2020.tif"
    with rasterio.open(path) as ds:
        data = ds.read(1, masked=True).astype("float64")
        left, bottom, right, top = ds.bounds
        src_transform, src_crs = ds.transform, ds.crs.to_wkt()
    total = math.fsum(data.compressed())
    assert total == pytest.approx(145602.965, abs=1e-3)
    bounds = Transformer.from_crs(WGS84, UTM, always_xy=True).transform_bounds(
        left, bottom, right, top, densify_pts=101
    )
    out = rastercover.regrid(
        str(path),
        bounds=bounds,
        resolution=100,
        crs=UTM,
        methods=["SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", "VALID_FRACTION"],
        dtype="float64",
    )
    people, valid = out.values
    assert out.attrs["transform"][0] == 100 and out.shape[1:] == (456, 713)
    assert math.fsum(people.ravel()) == pytest.approx(total, rel=1e-9)
    assert (people >= 0).all() and (valid >= 0).all() and (valid <= 1).all()
    # Σ VALID_FRACTION · 100² is the area, in UTM m², of the valid GPW cells (shapely, densified sides)
    seen = np.where(data.mask, np.nan, data.filled(0))
    polys, _ = source_polygons(Raster(seen, src_transform, src_crs), UTM, n=32)
    assert math.fsum(valid.ravel()) * 100 * 100 == pytest.approx(math.fsum(shapely.area(polys)), rel=1e-7)


# ============================================================================================ 4. centroid details
def test_empty_pixels_get_the_spec_values_and_nodata_or_nan_never_contribute():
    values = np.array([[1.0, np.nan, 3.0], [-5.0, 4.0, -5.0]], dtype="float32")  # -5 is the nodata value
    da = as_da(values, Affine(10, 0, 0, 0, -10, 20), MERC, nodata=-5)
    grid = Grid(5, 4, Affine(10, 0, -10, 0, -10, 30), MERC)  # one pixel ring around the source
    methods = (
        list(CENTROID.values()) + AREA_METHODS[:-2] + ["FRACTION_OF_RASTER_VALUE:1,3,4", "MAJORITY_OF_RASTER_VALUES"]
    )
    out = bands_of(rastercover.regrid(da, grid, methods=methods, dtype="float64"))
    ring = np.ones((4, 5), bool)
    ring[1:3, 1:4] = False
    invalid = np.zeros((4, 5), bool)
    invalid[1, 2] = invalid[2, 1] = invalid[2, 3] = True  # NaN and the nodata value
    empty = ring | invalid
    for name, band in out.items():
        fill = 0.0 if name in ZERO_WHEN_EMPTY or name.startswith("FRACTION") else ND
        assert (band[empty] == fill).all(), name
    assert out["COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID"].sum() == 3
    valid = ~empty
    assert out["FIRST_RASTER_VALUE_AT_PIXEL_CENTROID"][valid].tolist() == [1.0, 3.0, 4.0]
    assert out["AREA_WEIGHTED_MEAN_OF_RASTER_VALUES"][valid].tolist() == [1.0, 3.0, 4.0]
    assert out["VALID_FRACTION"][valid].tolist() == [1.0, 1.0, 1.0]


def test_integer_source_with_nodata_and_a_nodata_outside_the_type():
    values = np.array([[0, 7, 255], [3, 0, 7]], dtype="uint8")
    grid = Grid(3, 2, Affine(1, 0, 0, 0, -1, 2), MERC)
    out = bands_of(
        rastercover.regrid(
            as_da(values, Affine(1, 0, 0, 0, -1, 2), MERC, nodata=0),
            grid,
            methods=["COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID", "MAX_OF_RASTER_VALUES"],
        )
    )
    assert out["COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID"].tolist() == [[0, 1, 1], [1, 0, 1]]
    assert out["MAX_OF_RASTER_VALUES"].tolist() == [[ND, 7, 255], [3, ND, 7]]
    # a nodata an uint8 cannot hold matches no pixel: every pixel is valid
    out = bands_of(
        rastercover.regrid(as_da(values, Affine(1, 0, 0, 0, -1, 2), MERC, nodata=-1), grid, methods=["VALID_FRACTION"])
    )
    assert (out["VALID_FRACTION"] == 1).all()


def test_a_centre_on_a_source_pixel_edge_belongs_to_the_pixel_after_it():
    # source columns [0, 1) [1, 2), rows [0, 1) [1, 2) in pixel space; north-up: row 1 is the southern one
    values = np.array([[1.0, 2.0], [3.0, 4.0]])
    da = as_da(values, Affine(1, 0, 0, 0, -1, 2), MERC)
    # target centres at x = 1 and x = 2 (the source's far edge), y = 1 (between the rows) and y = 2 (top edge)
    grid = Grid(2, 2, Affine(1, 0, 0.5, 0, -1, 2.5), MERC)
    out = bands_of(
        rastercover.regrid(
            da, grid, methods=["FIRST_RASTER_VALUE_AT_PIXEL_CENTROID", "COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID"]
        )
    )
    # centre (1, 2): source row 0, column 1 -> 2; (2, 2): past the last column; (1, 1): row 1, column 1 -> 4
    assert out["FIRST_RASTER_VALUE_AT_PIXEL_CENTROID"].tolist() == [[2.0, ND], [4.0, ND]]
    assert out["COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID"].tolist() == [[1, 0], [1, 0]]


def test_majority_tie_goes_to_the_smaller_class():
    # two halves of one target pixel
    da = as_da(np.array([[5.0, 3.0]]), Affine(1, 0, 0, 0, -1, 1), MERC)
    grid = Grid(1, 1, Affine(2, 0, 0, 0, -1, 1), MERC)
    assert rastercover.regrid(da, grid, methods=["MAJORITY_OF_RASTER_VALUES"]).values.item() == 3
    # equal class areas summed from different pieces, at resolutions and offsets that are not binary fractions:
    # 7 covers 0.05 + 0.1, 2 covers 0.1 + 0.05 (x 0.1 m rows) of the pixel; float sums differ in the last bits
    da = as_da(np.array([[7.0, 2.0, 7.0, 2.0]]), Affine(0.1, 0, 0.3, 0, -0.1, 0.7), MERC)
    grid = Grid(1, 1, Affine(0.3, 0, 0.35, 0, -0.1, 0.7), MERC)
    out = bands_of(
        rastercover.regrid(da, grid, methods=["MAJORITY_OF_RASTER_VALUES", "FRACTION_OF_RASTER_VALUE"], dtype="float64")
    )
    assert out["FRACTION_OF_RASTER_VALUE:2"].item() == pytest.approx(0.5, abs=1e-12)
    assert out["FRACTION_OF_RASTER_VALUE:7"].item() == pytest.approx(0.5, abs=1e-12)
    assert out["MAJORITY_OF_RASTER_VALUES"].item() == 2
    # and without a tie, the larger share wins even when its class is larger
    da = as_da(np.array([[9.0, 9.0, 1.0]]), Affine(1, 0, 0, 0, -1, 1), MERC)
    grid = Grid(1, 1, Affine(3, 0, 0, 0, -1, 1), MERC)
    assert rastercover.regrid(da, grid, methods=["MAJORITY_OF_RASTER_VALUES"]).values.item() == 9


# ============================================================================================ 5. identical bits
ALL_METHODS = AREA_METHODS + list(CENTROID.values())


def _identity_case():
    stored, _, st_, scrs, grid = _case("wgs84->utm")
    return as_da(stored, st_, scrs, nodata=-1), grid


@pytest.fixture(scope="module")
def reference_run():
    da, grid = _identity_case()
    return rastercover.regrid(da, grid, methods=ALL_METHODS, dtype="float64")


@pytest.mark.parametrize(
    "kw",
    [
        dict(block_pixels=1),
        dict(block_pixels=300),
        dict(tile_size=(5, 3), block_pixels=1),
        dict(tile_size=7, block_pixels=40),
        dict(tile_size=4, workers=2, block_pixels=30),
    ],
    ids=["block1", "block300", "tiles5x3-block1", "tiles7-block40", "workers2"],
)
def test_results_are_bit_identical_across_blocks_tiles_and_workers(reference_run, kw):
    da, grid = _identity_case()
    got = rastercover.regrid(da, grid, methods=ALL_METHODS, dtype="float64", **kw)
    assert list(got.band.values) == list(reference_run.band.values)
    assert same(got.values, reference_run.values)
    assert (reference_run.values[0] > 0).sum() > 50


def test_plan_and_run_plan_give_the_same_bits(reference_run):
    da, grid = _identity_case()
    plan = rastercover.plan_regrid(da, grid, methods=ALL_METHODS, dtype="float64", block_pixels=50)
    assert plan.bands == tuple(str(b) for b in reference_run.band.values) and plan.grid.shape == grid.shape
    assert same(rastercover.run_plan(plan).values, reference_run.values)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    from rastercover.engine.distributed import local_cluster

    cluster = local_cluster(2, dashboard=False)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_dask_executor_gives_the_same_bits(dask_client, reference_run, tmp_path):
    da, grid = _identity_case()
    got = rastercover.regrid(
        da, grid, methods=ALL_METHODS, dtype="float64", tile_size=6, executor="dask", scheduler=dask_client
    )
    assert same(got.values, reference_run.values)
    # a GeoTIFF written by the workers too
    rastercover.regrid(
        da,
        grid,
        methods=ALL_METHODS,
        dtype="float64",
        tile_size=8,
        output=tmp_path / "d.tif",
        executor="dask",
        scheduler=dask_client,
    )
    with rasterio.open(tmp_path / "d.tif") as ds:
        assert same(ds.read(), reference_run.values)


# ======================================================================================== 6. bands, sources, outputs
def test_several_bands_are_named_by_band_and_each_is_its_own_regridding():
    rng = np.random.default_rng(3)
    data = rng.integers(1, 4, (3, 5, 6)).astype("float32")
    st_ = Affine(3, 0, 0, 0, -3, 15)
    grid = Grid(4, 4, Affine(4.5, 0, -0.5, 0, -4.5, 16), MERC)
    methods = ["AREA_WEIGHTED_MEAN_OF_RASTER_VALUES", "FRACTION_OF_RASTER_VALUE:1,3"]
    out = rastercover.regrid(as_da(data, st_, MERC), grid, methods=methods)
    names = [str(n) for n in out.band.values]
    assert names == [
        f"band{b}:{m}"
        for b in (1, 2, 3)
        for m in ("AREA_WEIGHTED_MEAN_OF_RASTER_VALUES", "FRACTION_OF_RASTER_VALUE:1", "FRACTION_OF_RASTER_VALUE:3")
    ]
    assert out.attrs["long_name"] == tuple(names)
    for b in range(3):
        alone = rastercover.regrid(as_da(data[b], st_, MERC), grid, methods=methods)
        assert same(out.values[3 * b : 3 * b + 3], alone.values)
    picked = rastercover.regrid(as_da(data, st_, MERC), grid, methods=methods, bands=[3, 1])
    assert [str(n) for n in picked.band.values] == names[6:] + names[:3]
    assert same(picked.values, np.concatenate([out.values[6:], out.values[:3]]))
    one = rastercover.regrid(as_da(data, st_, MERC), grid, methods=methods, bands=[2])
    assert same(one.values, out.values[3:6])
    # a class list without a list: one band per distinct value of each band
    every = rastercover.regrid(as_da(data, st_, MERC), grid, methods=["FRACTION_OF_RASTER_VALUE"], bands=[1])
    assert [str(n) for n in every.band.values] == [f"FRACTION_OF_RASTER_VALUE:{c}" for c in (1, 2, 3)]


def _tif(path, data: np.ndarray, transform: Affine, crs: str, nodata) -> str:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[-1],
        height=data.shape[-2],
        count=data.shape[0],
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as ds:
        ds.write(data)
    return str(path)


def _vrt_of_halves(path, left: str, right: str, data: np.ndarray, transform: Affine, split: int) -> str:
    """A hand-written VRT mosaicking two GeoTIFF halves (columns ``:split`` and ``split:``)."""
    h, w = data.shape[-2:]
    srs = rasterio.crs.CRS.from_string(UTM).to_wkt()
    t = transform
    sources = "".join(
        textwrap.dedent(f"""
        <SimpleSource>
          <SourceFilename relativeToVRT="0">{f}</SourceFilename><SourceBand>1</SourceBand>
          <SrcRect xOff="0" yOff="0" xSize="{sw}" ySize="{h}"/><DstRect xOff="{x0}" yOff="0" xSize="{sw}" ySize="{h}"/>
        </SimpleSource>""")
        for f, x0, sw in ((left, 0, split), (right, split, w - split))
    )
    xml = (
        f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}"><SRS>{srs}</SRS>'
        f"<GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>"
        f'<VRTRasterBand dataType="Float32" band="1"><NoDataValue>-9999</NoDataValue>{sources}'
        "</VRTRasterBand></VRTDataset>"
    )
    with open(path, "w") as f:
        f.write(xml)
    return str(path)


@pytest.fixture
def file_source(tmp_path):
    """A float32 source (nodata -9999) as a DataArray and as a GeoTIFF, and a target grid over it."""
    rng = np.random.default_rng(11)
    data = rng.uniform(0, 50, (1, 23, 31)).astype("float32")
    data[0, rng.random((23, 31)) < 0.1] = ND
    st_ = Affine(30, 0, 620000, 0, -30, 4190000)
    grid = Grid(21, 16, Affine(47, 0, 619977, 0, -47, 4190050), UTM, tile_size=8)  # on multiples of 47 m
    return data, st_, grid


SOURCE_METHODS = ["AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2", "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", CENTROID["FIRST"]]


def test_files_vrts_tile_folders_and_zarr_stores_regrid_like_the_array(file_source, tmp_path):
    data, st_, grid = file_source
    want = rastercover.regrid(as_da(data, st_, UTM, nodata=ND), grid, methods=SOURCE_METHODS)
    tif = _tif(tmp_path / "src.tif", data, st_, UTM, ND)
    split = 13
    left = _tif(tmp_path / "left.tif", data[:, :, :split], st_, UTM, ND)
    right = _tif(tmp_path / "right.tif", data[:, :, split:], st_ @ Affine.translation(split, 0), UTM, ND)
    vrt = _vrt_of_halves(tmp_path / "src.vrt", left, right, data, st_, split)
    # a tile folder and a .zarr store of the same pixels: regrid's own outputs, a copy onto the source's grid
    same_grid = Grid(31, 23, st_, UTM, tile_size=10)
    for out in ("tiles", "src.zarr"):
        rastercover.regrid(
            as_da(data, st_, UTM, nodata=ND), same_grid, methods=[CENTROID["FIRST"]], output=tmp_path / out
        )
    for source in (tif, vrt, str(tmp_path / "tiles"), str(tmp_path / "src.zarr")):
        got = rastercover.regrid(source, grid, methods=SOURCE_METHODS)
        assert same(got.values, want.values), source
    assert (want.values[1] > 0).sum() > 100


def test_geotiff_tile_folder_and_zarr_outputs_hold_the_in_memory_result(file_source, tmp_path):
    data, st_, grid = file_source
    da = as_da(data, st_, UTM, nodata=ND)
    want = rastercover.regrid(da, grid, methods=SOURCE_METHODS)
    res = rastercover.regrid(da, grid, methods=SOURCE_METHODS, output=tmp_path / "out.tif")
    assert res.format == "GeoTIFF" and res.tiles_written == grid.n_tiles
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.descriptions == tuple(SOURCE_METHODS) and ds.nodata == ND
        assert ds.transform == grid.transform and ds.crs.to_epsg() == 32626
        assert same(ds.read(), want.values)
    rastercover.regrid(da, grid, methods=SOURCE_METHODS, output=tmp_path / "tiles")
    with rasterio.open(tmp_path / "tiles" / "index.vrt") as ds:
        assert same(ds.read(), want.values)
    rastercover.regrid(da, grid, methods=SOURCE_METHODS, output=tmp_path / "out.zarr", workers=2)
    z = xr.open_zarr(tmp_path / "out.zarr", mask_and_scale=False)["rastercover"].values
    assert same(z, want.values)
    # the GeoTIFF as the target grid (like=), and the same grid given by bounds, resolution and CRS
    assert same(rastercover.regrid(da, str(tmp_path / "out.tif"), methods=SOURCE_METHODS).values, want.values)
    by_bounds = rastercover.regrid(da, bounds=grid.bounds, resolution=47, crs=UTM, methods=SOURCE_METHODS)
    assert by_bounds.attrs["transform"][:6] == tuple(grid.transform)[:6] and same(by_bounds.values, want.values)


def test_output_type_and_nodata():
    classes = np.array([[1, 2, 0], [3, 3, 0]], dtype="uint8")
    da = as_da(classes, Affine(10, 0, 0, 0, -10, 20), MERC, nodata=0)
    grid = Grid(4, 2, Affine(10, 0, 0, 0, -10, 20), MERC)
    methods = [CENTROID["FIRST"], CENTROID["COUNT"], "MAJORITY_OF_RASTER_VALUES"]
    out = rastercover.regrid(da, grid, methods=methods, dtype="int16", nodata=-32768)
    assert out.dtype == np.int16 and out.attrs["nodata"] == -32768
    first, count, major = out.values.tolist()
    assert first == major == [[1, 2, -32768, -32768], [3, 3, -32768, -32768]]
    assert count == [[1, 1, 0, 0], [1, 1, 0, 0]]


# -------------------------------------------------------------------------------------------- PostGIS
SRID = 3857


def _load_rows(conn, table: str, rows) -> None:
    """``table`` (rid integer primary key, rast raster) holding ``rows`` of (rid, data, transform, nodata), inserted
    in the order given (not the rid order)."""
    from psycopg import sql

    from rastercover.io.wkb_raster import encode_raster

    ident = sql.Identifier(table)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ident))
    conn.execute(sql.SQL("CREATE TABLE {} (rid integer PRIMARY KEY, rast raster)").format(ident))
    for rid, data, transform, nodata in rows:
        conn.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, ST_RastFromWKB(%s::bytea))").format(ident),
            (rid, encode_raster(data, transform, SRID, nodata)),
        )
    conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (ST_ConvexHull(rast))").format(ident))


@pytest.fixture
def overlapping_rows(pg_conn):
    """Three rasters on different grids that overlap: rid 1 (10 m), rid 2 (7 m, offset), rid 5 (rotated, 6 m);
    inserted as 5, 2, 1. Each with a few nodata pixels."""
    rng = np.random.default_rng(21)
    a = rng.integers(1, 6, (5, 6)).astype("float32")
    b = rng.integers(1, 6, (6, 6)).astype("float32")
    c = rng.integers(1, 6, (4, 5)).astype("float32")
    a[0, 0] = b[2, 3] = c[1, 1] = -1
    ta = Affine(10, 0, 1000, 0, -10, 2000)
    tb = Affine(7, 0, 1023.3, 0, -7, 1985.1)
    tc = Affine(6, 0, 1010.2, 0, -6, 1972.4) @ Affine.rotation(25)
    rows = [(1, a, ta), (2, b, tb), (5, c, tc)]
    _load_rows(pg_conn, "regrid_rows", [(rid, d, t, -1) for rid, d, t in reversed(rows)])
    rasters = [Raster(np.where(d == -1, np.nan, d).astype(float), t, MERC) for _, d, t in rows]
    return rasters


def test_postgis_rows_overlap_on_different_grids(pg_url, overlapping_rows):
    rasters = overlapping_rows
    grid = Grid(20, 17, Affine(4, 0, 996, 0, -4, 2003), MERC, tile_size=6)
    url = f"{pg_url}?table=regrid_rows"
    got = bands_of(rastercover.regrid(url, grid, methods=list(CENTROID.values()) + AREA_METHODS, dtype="float64"))
    want = centroid_oracle(rasters, grid.transform, grid.shape, MERC)
    for key, method in CENTROID.items():
        np.testing.assert_allclose(
            got[method], as_output(want[key].reshape(grid.shape), method), rtol=1e-12, atol=1e-12, err_msg=method
        )
    count = got[CENTROID["COUNT"]]
    assert count.max() == 3 and (count == 2).sum() > 10  # both rows counted where they overlap
    # FIRST is the lower rid's where both have a value: rid 1 wherever it owns the centre
    only = centroid_oracle(rasters[:1], grid.transform, grid.shape, MERC)["FIRST"].reshape(grid.shape)
    first = got[CENTROID["FIRST"]]
    assert (first[~np.isnan(only)] == only[~np.isnan(only)]).all() and (~np.isnan(only) & (count >= 2)).sum() > 10
    area = area_oracle(overlaps(rasters, grid.transform, grid.shape, MERC), classes=(1, 2, 3, 4, 5))
    ok = ~area["ambiguous"].reshape(grid.shape)
    # where the rows' valid areas add up to more than the pixel, the fractions are the subject of
    # test_fractions_of_overlapping_rows_add_up_per_the_spec; everything else is checked here
    single = area["VALID_FRACTION"].reshape(grid.shape) <= 1.0
    assert (~single).sum() > 10
    for method, band in got.items():
        if method in CENTROID.values():
            continue
        w = as_output(area[method].reshape(grid.shape), method)
        if method in PICKING:
            np.testing.assert_array_equal(band[ok], w[ok], err_msg=method)
        elif method == "VALID_FRACTION" or method.startswith("FRACTION_OF"):
            np.testing.assert_allclose(band[single], w[single], rtol=0, atol=1e-12, err_msg=method)
        else:
            np.testing.assert_allclose(band, w, rtol=0, atol=1e-9 * np.abs(w).max(), err_msg=method)
    total = math.fsum(np.nansum(r.values) for r in rasters)
    assert math.fsum(got["SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES"].ravel()) == pytest.approx(total, rel=1e-9)
    # blocks and tiles do not change a bit
    again = rastercover.regrid(
        url, grid, methods=list(CENTROID.values()) + AREA_METHODS, dtype="float64", tile_size=(4, 3), block_pixels=1
    )
    assert same(np.stack(list(bands_of(again).values())), np.stack(list(got.values())))


def test_fractions_of_overlapping_rows_add_up_per_the_spec(pg_url, pg_conn):
    """Spec 6: VALID_FRACTION = Σ a_i / A and FRACTION_OF_RASTER_VALUE = Σ a_i (class) / A, with the law
    Σ_classes FRACTION_OF_RASTER_VALUE = VALID_FRACTION. Two rows of 1.2 m x 1 m (classes 1 and 2) overlapping
    in one 2 m x 1 m target pixel: each class covers 0.6 of it, so VALID_FRACTION is 1.2 (not capped at 1: the
    union of the rows covers 0.65 of the pixel, so 1.0 is no reading of the spec)."""
    one = np.ones((1, 1), "float32")
    _load_rows(
        pg_conn,
        "regrid_overlap2",
        [(1, one, Affine(1.2, 0, 0, 0, -1, 1), -1), (2, 2 * one, Affine(1.2, 0, 0.1, 0, -1, 1), -1)],
    )
    grid = Grid(1, 1, Affine(2, 0, 0, 0, -1, 1), MERC)
    got = bands_of(
        rastercover.regrid(
            f"{pg_url}?table=regrid_overlap2",
            grid,
            methods=["FRACTION_OF_RASTER_VALUE:1,2", "VALID_FRACTION", "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES"],
            dtype="float64",
        )
    )
    assert got["FRACTION_OF_RASTER_VALUE:1"].item() == pytest.approx(0.6, abs=1e-12)
    assert got["FRACTION_OF_RASTER_VALUE:2"].item() == pytest.approx(0.6, abs=1e-12)
    assert got["AREA_WEIGHTED_MEAN_OF_RASTER_VALUES"].item() == pytest.approx((1.2 + 2.4) / 2.4, abs=1e-12)
    fractions = got["FRACTION_OF_RASTER_VALUE:1"] + got["FRACTION_OF_RASTER_VALUE:2"]
    assert got["VALID_FRACTION"].item() == pytest.approx(fractions.item(), abs=1e-12)  # the law
    assert got["VALID_FRACTION"].item() == pytest.approx(1.2, abs=1e-12)  # Σ a_i / A


def test_postgis_table_output_holds_the_in_memory_result(pg_url, pg_conn, file_source):
    from rastercover.io.raster_postgis import PostgisRasterCoverage

    data, st_, grid = file_source
    da = as_da(data, st_, UTM, nodata=ND)
    want = rastercover.regrid(da, grid, methods=SOURCE_METHODS)
    pg_conn.execute("DROP TABLE IF EXISTS regrid_out CASCADE")
    res = rastercover.regrid(da, grid, methods=SOURCE_METHODS, output=f"{pg_url}?table=regrid_out")
    assert res.format == "PostGIS raster table" and res.tiles_written == grid.n_tiles
    srid, bands = pg_conn.execute(
        "SELECT srid, num_bands FROM raster_columns WHERE r_table_name = 'regrid_out'"
    ).fetchone()
    assert (srid, bands) == (32626, 3)
    back = PostgisRasterCoverage(f"{pg_url}?table=regrid_out")
    assert same(back.read(Window(0, 0, grid.width, grid.height)), want.values)


# ============================================================================================ 7. errors
@pytest.fixture
def small():
    da = as_da(np.arange(8.0).reshape(2, 2, 2), Affine(1, 0, 0, 0, -1, 2), MERC)
    return da, Grid(2, 2, Affine(1, 0, 0, 0, -1, 2), MERC)


def test_a_vector_method_is_refused_and_the_raster_methods_are_named(small, tmp_path):
    da, grid = small
    out = tmp_path / "never.tif"
    with pytest.raises(InputError, match=r"SUM_OF_AREAS rasterizes vector features.*raster methods"):
        rastercover.regrid(da, grid, methods=["VALID_FRACTION", "SUM_OF_AREAS"], output=out)
    assert not out.exists()


def test_an_unknown_method_is_refused_with_suggestions(small):
    da, grid = small
    with pytest.raises(
        UnknownMethodError,
        match=r"unknown method 'AREA_WEIGHTED_MEEN_OF_RASTER_VALUES'.*did you mean "
        r"AREA_WEIGHTED_MEAN_OF_RASTER_VALUES",
    ):
        rastercover.regrid(da, grid, methods=["AREA_WEIGHTED_MEEN_OF_RASTER_VALUES"])
    assert issubclass(UnknownMethodError, InputError)
    with pytest.raises(InputError, match="no method given"):
        rastercover.regrid(da, grid, methods=[])
    with pytest.raises(InputError, match="asked twice"):
        rastercover.regrid(da, grid, methods=["VALID_FRACTION", "valid_fraction"])


@pytest.mark.parametrize("bands", [[3], [0], [1, 1], [1.5], ["x"], []])
def test_a_bad_band_number_is_refused(small, bands):
    da, grid = small
    with pytest.raises(InputError, match=r"band"):
        rastercover.regrid(da, grid, methods=["VALID_FRACTION"], bands=bands)


def test_a_bad_band_message_names_the_band_and_the_count(small):
    da, grid = small
    with pytest.raises(InputError, match=r"has 2 band\(s\); there is no band 3"):
        rastercover.plan_regrid(da, grid, methods=["VALID_FRACTION"], bands=[1, 3])


@pytest.mark.parametrize("kw", [dict(), dict(bounds=(0, 0, 2, 2), resolution=1), dict(bounds=(0, 0, 2, 2), crs=MERC)])
def test_no_target_grid_is_refused(small, kw):
    da, _ = small
    with pytest.raises(InputError, match=r"no target grid: give like=.*bounds=, resolution= and crs="):
        rastercover.regrid(da, **kw)


def test_fraction_classes_of_a_continuous_band_must_be_listed(small):
    _, grid = small
    noise = as_da(np.random.default_rng(0).random((30, 30)), Affine(1, 0, 0, 0, -1, 30), MERC)
    with pytest.raises(InputError, match=r"more than 256 distinct values.*FRACTION_OF_RASTER_VALUE:v1,v2"):
        rastercover.regrid(noise, grid, methods=["FRACTION_OF_RASTER_VALUE"])


# ============================================================================================ the compiled kernel
def test_the_area_kernel_is_loaded_from_numbas_disk_cache_in_a_new_process(reference_run):
    """The kernel is compiled once, then loaded from numba's disk cache: this process has run it
    (``reference_run``), so a new process finds it in the cache instead of compiling it again (seconds, in every
    process: every CLI run and every dask worker). A regression test: the kernel used to be a closure, whose cache
    key (a pickle of the dispatchers it closed over, with their per-process uuids) never matched, so every process
    compiled it again and added ~370 kB of cache files to src/rastercover/kernels/__pycache__."""
    code = textwrap.dedent("""
        import numpy as np, xarray as xr, rastercover
        from affine import Affine
        from rastercover.kernels.regrid import _compiled
        da = xr.DataArray(np.ones((1, 2, 2)), dims=("band", "y", "x"),
                          attrs={"transform": Affine(1, 0, 0, 0, -1, 2), "crs": "EPSG:3857"})
        grid = rastercover.Grid(1, 1, Affine(1.0, 0.25, 0.25, 0, -1.0, 1.75), "EPSG:3857")  # sheared: the kernel
        assert abs(rastercover.regrid(da, grid, methods=["VALID_FRACTION"], dtype="float64").values.item() - 1) < 1e-12
        stats = _compiled().stats
        print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    hits, misses = map(int, done.stdout.split())
    assert (hits, misses) == (1, 0)


def test_a_missing_tile_of_a_folder_without_nodata_is_no_data_not_zero(tmp_path):
    """A tile folder with a tile missing and no declared nodata: the missing tile's place holds no source pixel
    (VALID_FRACTION 0, no sum), never zeros that look like data."""
    t = Affine(10, 0, 1000, 0, -10, 2000)
    folder = tmp_path / "tiles"
    folder.mkdir()
    for r, c in [(0, 0), (0, 1), (1, 0)]:  # (1, 1) is missing
        tt = t * Affine.translation(c * 4, r * 4)
        write_raster(folder / f"r{r}_c{c}.tif", 4, 4, tt, "EPSG:32630", value=5.0)
    grid = rastercover.Grid(2, 2, Affine(40, 0, 1000, 0, -40, 2000), "EPSG:32630")
    da = rastercover.regrid(
        str(folder),
        grid,
        methods=["VALID_FRACTION", "AREA_WEIGHTED_SUM_OF_RASTER_VALUES", "MEAN_OF_RASTER_VALUES_AT_PIXEL_CENTROID"],
        dtype="float64",
    )
    vf, ws, mean = da.values
    assert vf.tolist() == [[1.0, 1.0], [1.0, 0.0]]
    assert ws.tolist() == [[8000.0, 8000.0], [8000.0, 0.0]]
    assert mean.tolist() == [[5.0, 5.0], [5.0, -9999.0]]


def test_a_source_on_the_antimeridian_keeps_its_total_and_one_across_it_is_refused():
    """A world grid in lon/lat onto Equal Earth (antimeridian at 180): the column on -180 keeps its value (the
    lattice's points near the sides are transformed one by one, never interpolated from wrapped anchors); a source
    spanning 0..360 crosses the seam and is refused with the fix."""
    import warnings

    v = np.zeros((1, 16, 36))
    v[0, :, 0] = 1
    world = dict(bounds=(-17243959, -8392928, 17243959, 8392928), resolution=500000, crs="EPSG:8857")
    src = xr.DataArray(
        v, dims=("band", "y", "x"), attrs={"transform": Affine(10, 0, -180, 0, -10, 80), "crs": "EPSG:4326"}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rastercover.AccuracyWarning)  # 10-degree pixels near the pole: 1.9e-7
        total = rastercover.regrid(src, **world, methods="SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", dtype="float64")
    assert total.values.sum() == pytest.approx(16.0, rel=1e-12)
    shifted = src.copy()
    shifted.attrs["transform"] = Affine(10, 0, 0, 0, -10, 80)
    with pytest.raises(rastercover.CRSError, match="across the antimeridian of EPSG:8857 .longitude 180.*Split the"):
        rastercover.regrid(shifted, **world)


def test_a_bound_above_the_aim_warns_with_the_bound():
    v = np.ones((1, 16, 36))
    src = xr.DataArray(
        v, dims=("band", "y", "x"), attrs={"transform": Affine(10, 0, -180, 0, -10, 80), "crs": "EPSG:4326"}
    )
    with pytest.warns(rastercover.AccuracyWarning, match=r"bounded by [0-9.]+e-0[5-8] of a pixel, above the 1e-09"):
        plan = rastercover.plan_regrid(
            src, bounds=(-17243959, -8392928, 17243959, 8392928), resolution=500000, crs="EPSG:8857"
        )
    assert plan.job.source.sub == 64


# ---- found by an adversarial review: each would have been a plausible wrong result --------------------------------
def _lonlat(values, transform):
    return xr.DataArray(
        np.asarray(values, float)[None], dims=("band", "y", "x"), attrs={"transform": transform, "crs": "EPSG:4326"}
    )


def test_a_target_block_straddling_longitude_180_reads_its_source():
    """PROJ gives a box across 180 as xmin > xmax: the source west of 180 must still be read (it was all empty)."""
    from pyproj import Transformer

    src = _lonlat(np.ones((4, 4)), Affine(0.25, 0, 179.0, 0, -0.25, -17.0))  # lon 179..180, lat -18..-17
    x0, y1 = Transformer.from_crs("EPSG:4326", "EPSG:32760", always_xy=True).transform(179.0, -17.0)
    x0, y1 = round(x0, -3) - 5000, round(y1, -3) + 5000
    target = rastercover.Grid(16, 16, Affine(10000, 0, x0, 0, -10000, y1), "EPSG:32760")  # lon ~178.9 .. 180.5
    da = rastercover.regrid(
        src, target, methods=["VALID_FRACTION", "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES"], dtype="float64"
    )
    assert da.values[1].sum() == pytest.approx(16.0, rel=1e-9)
    assert da.values[0].sum() * target.pixel_area == pytest.approx(1.1765e10, rel=2e-3)


def test_a_source_in_0_to_360_longitudes_is_found_where_proj_puts_it():
    """An ERA5-style source at lon 208..210 (= -152..-150) onto Alaska Albers: areas and centres, not an empty map."""
    from pyproj import Transformer

    src = _lonlat(np.arange(64.0).reshape(8, 8), Affine(0.25, 0, 208.0, 0, -0.25, 64.0))
    shifted = _lonlat(np.arange(64.0).reshape(8, 8), Affine(0.25, 0, -152.0, 0, -0.25, 64.0))
    b = Transformer.from_crs("EPSG:4326", "EPSG:3338", always_xy=True).transform_bounds(-152.2, 61.8, -149.8, 64.2)
    g = rastercover.Grid.from_bounds(b, 5000, "EPSG:3338")
    methods = [
        "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES",
        "COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID",
        "FIRST_RASTER_VALUE_AT_PIXEL_CENTROID",
    ]
    a = rastercover.regrid(src, g, methods=methods, dtype="float64").values
    e = rastercover.regrid(shifted, g, methods=methods, dtype="float64").values
    assert a[0].sum() == pytest.approx(np.arange(64.0).sum(), rel=1e-9)
    assert a[1].sum() > 800
    assert np.allclose(a, e, rtol=1e-9, atol=1e-9)


def test_a_centre_exactly_on_a_shared_source_edge_goes_east_and_south():
    """``~transform`` rounds x=43 to column 0.99999999999999956: the owner must come from an exact division."""
    src = xr.DataArray(
        np.array([[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]]),
        dims=("band", "y", "x"),
        attrs={"transform": Affine(10, 0, 33, 0, -10, 20), "crs": "EPSG:32630"},
    )
    target = rastercover.Grid(2, 1, Affine(20, 0, 33, 0, -20, 20), "EPSG:32630")
    da = rastercover.regrid(src, target, methods=["FIRST_RASTER_VALUE_AT_PIXEL_CENTROID"], dtype="float64")
    assert da.values[0, 0].tolist() == [6.0, 8.0]


def test_each_band_of_a_vrt_keeps_its_own_nodata(tmp_path):
    t = Affine(10, 0, 0, 0, -10, 20)
    for name, a in (("b1.tif", [[0, 1], [2, 3]]), ("b2.tif", [[255, 0], [4, 5]])):
        with rasterio.open(
            tmp_path / name,
            "w",
            driver="GTiff",
            width=2,
            height=2,
            count=1,
            dtype="uint8",
            transform=t,
            crs="EPSG:32630",
        ) as ds:
            ds.write(np.array(a, "uint8"), 1)
    bands = "".join(
        f'<VRTRasterBand dataType="Byte" band="{i}"><NoDataValue>{nd}</NoDataValue><SimpleSource>'
        f'<SourceFilename relativeToVRT="1">b{i}.tif</SourceFilename><SourceBand>1</SourceBand></SimpleSource>'
        "</VRTRasterBand>"
        for i, nd in ((1, 0), (2, 255))
    )
    (tmp_path / "two.vrt").write_text(
        '<VRTDataset rasterXSize="2" rasterYSize="2"><SRS>EPSG:32630</SRS>'
        f"<GeoTransform>0, 10, 0, 20, 0, -10</GeoTransform>{bands}</VRTDataset>"
    )
    target = rastercover.Grid(1, 1, Affine(20, 0, 0, 0, -20, 20), "EPSG:32630")
    da = rastercover.regrid(
        str(tmp_path / "two.vrt"),
        target,
        dtype="float64",
        methods=["VALID_FRACTION", "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2", "MAX_OF_RASTER_VALUES"],
    )
    assert da.values[:, 0, 0].tolist() == [0.75, 2.0, 3.0, 0.75, 3.0, 5.0]


def test_listed_classes_of_a_float32_band_are_its_values():
    """0.1 means the float32 value 0.100000001490116 the band holds; automatic classes are named the short way."""
    src = xr.DataArray(
        np.array([[[0.1, 0.1], [2.3, 5.0]]], dtype="float32"),
        dims=("band", "y", "x"),
        attrs={"transform": Affine(1, 0, 0, 0, -1, 2), "crs": "EPSG:3857"},
    )
    g = rastercover.Grid(1, 1, Affine(2, 0, 0, 0, -2, 2), "EPSG:3857")
    listed = rastercover.regrid(src, g, methods=["FRACTION_OF_RASTER_VALUE:0.1,2.3,5"], dtype="float64")
    found = rastercover.regrid(src, g, methods=["FRACTION_OF_RASTER_VALUE"], dtype="float64")
    assert listed.values[:, 0, 0].tolist() == [0.5, 0.25, 0.25]
    assert list(found.band.values) == list(listed.band.values)
    assert found.band.values[0] == "FRACTION_OF_RASTER_VALUE:0.1"


def test_a_circumpolar_source_onto_polar_stereographic_is_not_refused():
    """Polar stereographic has no antimeridian seam: lat 70..90 at every longitude keeps its total, no warnings
    from anchors past the pole."""
    import warnings

    src = _lonlat(np.ones((20, 72)), Affine(5, 0, -180, 0, -1, 90))
    g = rastercover.Grid(60, 60, Affine(100000, 0, -3e6, 0, -100000, 3e6), "EPSG:3413")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", rastercover.AccuracyWarning)
        da = rastercover.regrid(src, g, methods=["SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES"], dtype="float64")
    assert da.values.sum() == pytest.approx(1440.0, rel=1e-9)


def test_a_result_equal_to_the_nodata_value_is_refused_not_hidden():
    """A class 255 written into a uint8 band whose nodata is 255 would read as "no result": refused, with the fix;
    counts and fractions (whose empty pixels hold 0, not nodata) may share their value with nodata."""
    src = xr.DataArray(
        np.array([[[255, 255], [3, 255]]], dtype="uint8"),
        dims=("band", "y", "x"),
        attrs={"transform": Affine(1, 0, 0, 0, -1, 2), "crs": "EPSG:3857"},
    )
    g = rastercover.Grid(1, 1, Affine(2, 0, 0, 0, -2, 2), "EPSG:3857")
    with pytest.raises(rastercover.ValueRangeError, match=r"MAJORITY_OF_RASTER_VALUES gives 255 in 1 pixel.*nodata"):
        rastercover.regrid(src, g, methods=["MAJORITY_OF_RASTER_VALUES"], dtype="uint8", nodata=255)
    ok = rastercover.regrid(
        src,
        g,
        methods=["MAJORITY_OF_RASTER_VALUES", "COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID"],
        dtype="uint8",
        nodata=0,
    )
    assert ok.values[:, 0, 0].tolist() == [255, 1]


def test_tile_for_tile_onto_a_sparse_postgis_reference_keeps_its_rids(pg_url, pg_conn, file_source):
    """``like`` a raster table with a missing tile and arbitrary rids: the output table holds exactly the
    reference's tiles, under its rids and extents, each equal to the in-memory result there."""
    from rastercover.io.raster_postgis import PostgisRasterCoverage

    data, st_, grid = file_source
    da = as_da(data, st_, UTM, nodata=ND)
    for t in ("regrid_ref", "regrid_tiles"):
        pg_conn.execute(f"DROP TABLE IF EXISTS {t} CASCADE")
    rastercover.regrid(da, grid, methods=["VALID_FRACTION"], output=f"{pg_url}?table=regrid_ref")
    pg_conn.execute("DELETE FROM regrid_ref WHERE rid = (SELECT min(rid) FROM regrid_ref)")
    pg_conn.execute("UPDATE regrid_ref SET rid = rid * 10 + 7")
    ref = f"{pg_url}?table=regrid_ref"
    res = rastercover.regrid(da, ref, methods=SOURCE_METHODS, output=f"{pg_url}?table=regrid_tiles")
    assert res.tiles_written == grid.n_tiles - 1
    got = pg_conn.execute("SELECT rid, ST_AsText(ST_Envelope(rast)) FROM regrid_tiles ORDER BY rid").fetchall()
    want = pg_conn.execute("SELECT rid, ST_AsText(ST_Envelope(rast)) FROM regrid_ref ORDER BY rid").fetchall()
    assert got == want
    full = rastercover.regrid(da, grid, methods=SOURCE_METHODS).values
    back = PostgisRasterCoverage(f"{pg_url}?table=regrid_tiles")
    for tile in back.grid.tiles():
        w = tile.window
        assert same(back.read(w), full[:, w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width])


# ---- found by a second review (PostGIS rows and HTTP) --------------------------------------------------------------
def test_majority_counts_a_class_covering_a_pixel_twice_over_overlapping_rows(pg_url, pg_conn):
    one = np.ones((1, 1), "float32")
    t = Affine(10, 0, 1000, 0, -10, 2000)
    _load_rows(pg_conn, "regrid_major", [(1, one, t, -1), (2, 5 * one, t, -1), (3, 5 * one, t, -1)])
    grid = Grid(1, 1, t, MERC)
    got = rastercover.regrid(
        f"{pg_url}?table=regrid_major",
        grid,
        dtype="float64",
        methods=["FRACTION_OF_RASTER_VALUE:1,5", "MAJORITY_OF_RASTER_VALUES"],
    )
    assert got.values[:, 0, 0].tolist() == [1.0, 2.0, 5.0]


def test_post_regrid_reads_a_table_of_overlapping_rows_as_the_library_does(pg_url, pg_conn, tmp_path):
    from fastapi.testclient import TestClient

    from rastercover.server.app import create_app
    from rastercover.server.catalog import Catalog
    from rastercover.server.settings import Settings

    one = np.ones((2, 2), "float32")
    _load_rows(
        pg_conn,
        "regrid_http_rows",
        [(1, one, Affine(10, 0, 0, 0, -10, 20), -1), (2, 2 * one, Affine(10, 0, 10, 0, -10, 20), -1)],
    )
    url = f"{pg_url}?table=regrid_http_rows"
    methods = ["COUNT_OF_RASTER_VALUES_AT_PIXEL_CENTROID", "FIRST_RASTER_VALUE_AT_PIXEL_CENTROID"]
    want = rastercover.regrid(url, bounds=(0, 0, 30, 20), resolution=10, crs="EPSG:3857", methods=methods)
    client = TestClient(create_app(Catalog.from_sources([url]), Settings(), temp_dir=str(tmp_path)))
    r = client.post(
        "/regrid",
        json={
            "source": "regrid_http_rows",
            "bounds": [0, 0, 30, 20],
            "resolution": 10,
            "crs": "EPSG:3857",
            "methods": methods,
        },
    )
    assert r.status_code == 200, r.text
    with rasterio.MemoryFile(r.content) as f, f.open() as ds:
        assert np.array_equal(ds.read(), want.values)
    assert want.values[0].tolist() == [[1, 2, 1], [1, 2, 1]]


def test_a_view_without_rid_and_a_null_rid_are_clear_errors(pg_url, pg_conn):
    one = np.ones((2, 2), "float32")
    _load_rows(pg_conn, "regrid_base", [(1, one, Affine(10, 0, 0, 0, -10, 20), -1)])
    pg_conn.execute("CREATE OR REPLACE VIEW regrid_base_v AS SELECT rast FROM regrid_base")
    pg_conn.execute("DROP TABLE IF EXISTS regrid_nullrid; CREATE TABLE regrid_nullrid (rid integer, rast raster)")
    pg_conn.execute("INSERT INTO regrid_nullrid SELECT NULL, rast FROM regrid_base")
    grid = Grid(2, 2, Affine(10, 0, 0, 0, -10, 20), MERC)
    with pytest.raises(rastercover.SourceError, match="a view without an integer rid column.*row_number"):
        rastercover.regrid(f"{pg_url}?table=regrid_base_v", grid)
    with pytest.raises(rastercover.SourceError, match="1 raster.s. with a NULL rid"):
        rastercover.regrid(f"{pg_url}?table=regrid_nullrid", grid)


def test_rows_of_mixed_float_types_refuse_class_fractions(pg_url, pg_conn):
    t = Affine(10, 0, 0, 0, -10, 20)
    _load_rows(
        pg_conn,
        "regrid_mixf",
        [(1, np.full((1, 1), 0.1, "float32"), t, None), (2, np.full((1, 1), 0.1, "float64"), t, None)],
    )
    grid = Grid(1, 1, t, MERC)
    with pytest.raises(InputError, match="rows of float32 and rows of float64 pixels"):
        rastercover.regrid(f"{pg_url}?table=regrid_mixf", grid, methods=["FRACTION_OF_RASTER_VALUE:0.1"])


def test_a_table_of_fine_and_coarse_rows_is_planned_on_its_coarsest_pixels(pg_url, pg_conn):
    """Across CRSs the curvature of the coarse rows' sides decides the cutting (it was measured on the finest)."""
    from psycopg import sql

    from rastercover.io.wkb_raster import encode_raster

    rows = [
        (1, np.ones((8, 8)), Affine(0.0025, 0, 2.0, 0, -0.0025, 45.02)),
        (2, np.ones((2, 2)), Affine(1, 0, 1, 0, -1, 46)),
    ]
    for name, keep in (("regrid_mixres", rows), ("regrid_coarse", rows[1:])):
        ident = sql.Identifier(name)
        pg_conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ident))
        pg_conn.execute(sql.SQL("CREATE TABLE {} (rid integer PRIMARY KEY, rast raster)").format(ident))
        for rid, data, t in keep:
            pg_conn.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, ST_RastFromWKB(%s::bytea))").format(ident),
                (rid, encode_raster(data[None], t, 4326, None)),
            )
    kw = dict(
        bounds=(380000, 4870000, 620000, 5100000),
        resolution=10000,
        crs="EPSG:32631",
        methods=["VALID_FRACTION"],
        dtype="float64",
    )
    mixed = rastercover.plan_regrid(f"{pg_url}?table=regrid_mixres", **kw).job.source
    coarse = rastercover.plan_regrid(f"{pg_url}?table=regrid_coarse", **kw).job.source
    assert mixed.sub == coarse.sub > 1 and mixed.anchor == coarse.anchor
    assert 0 < mixed.area_error < 1e-9 and 0 < coarse.area_error < 1e-9  # sampled over different bounds


# ---- found by a third review (faces, outputs, resume) ---------------------------------------------------------------
class _Stop(Exception):
    pass


def _stop_after(n):
    done = [0]

    def progress(k):
        done[0] += k
        if done[0] >= n:
            raise _Stop

    return progress


def test_resume_refuses_a_source_whose_values_changed(tmp_path):
    """A tile folder rewritten in place (its folder's time unchanged) or another DataArray of the same shape: the
    interrupted run was another job; resuming would mix old and new pixels."""
    t = Affine(10, 0, 1000, 0, -10, 5000)
    folder = tmp_path / "src"
    folder.mkdir()
    write_raster(folder / "r0_c0.tif", 16, 16, t, "EPSG:32630", value=1.0)
    kw = dict(
        bounds=(1000, 4840, 1160, 5000),
        resolution=10,
        crs="EPSG:32630",
        tile_size=4,
        methods="AREA_WEIGHTED_SUM_OF_RASTER_VALUES",
        block_pixels=16,
        resume=True,
    )
    for source, changed in (
        (str(folder), None),
        (as_da(np.ones((1, 16, 16)), t, "EPSG:32630"), as_da(np.full((1, 16, 16), 2.0), t, "EPSG:32630")),
    ):
        out = tmp_path / f"out{0 if changed is None else 1}"
        with pytest.raises(_Stop):
            rastercover.regrid(source, output=out, progress=_stop_after(3), **kw)
        if changed is None:
            with rasterio.open(folder / "r0_c0.tif", "r+") as ds:
                ds.write(np.full((1, 16, 16), 2.0, "float32"))
            changed = source
        with pytest.raises(InputError, match="was another job"):
            rastercover.regrid(changed, output=out, **kw)


def test_a_vrt_of_bands_of_several_types_is_read(tmp_path):
    t = Affine(10, 0, 0, 0, -10, 20)
    paths = []
    for name, dtype, value in (("f.tif", "float32", 1.5), ("i.tif", "int16", 7)):
        paths.append(write_raster(tmp_path / name, 2, 2, t, "EPSG:32630", dtype=dtype, value=value))
    vrt = str(tmp_path / "both.vrt")
    subprocess.run(["gdalbuildvrt", "-q", "-separate", vrt, *paths], check=True)
    g = Grid(1, 1, Affine(20, 0, 0, 0, -20, 20), "EPSG:32630")
    da = rastercover.regrid(vrt, g, methods=["AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2"], dtype="float64")
    assert da.values[:, 0, 0].tolist() == [1.5, 7.0]


def test_a_failed_resumable_run_lets_another_process_resume(tmp_path):
    """The process whose resume=True run failed lives on (a notebook): another process resumes its output."""
    path = write_raster(tmp_path / "src.tif", 40, 40, Affine(10, 0, 1000, 0, -10, 5000), "EPSG:32630", value=1.0)
    out = tmp_path / "tiles"
    kw = dict(bounds=(1000, 4600, 1400, 5000), resolution=10, crs="EPSG:32630", tile_size=8, methods="VALID_FRACTION")
    with pytest.raises(_Stop):
        rastercover.regrid(str(path), output=out, resume=True, progress=_stop_after(3), block_pixels=64, **kw)
    args = [
        sys.executable,
        "-m",
        "rastercover.cli.main",
        "regrid",
        str(path),
        "--bounds",
        "1000",
        "4600",
        "1400",
        "5000",
        "--resolution",
        "10",
        "--crs",
        "EPSG:32630",
        "--tile-size",
        "8",
        "-m",
        "VALID_FRACTION",
        "-o",
        str(out),
        "--resume",
        "--no-progress",
    ]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with rasterio.open(out / "index.vrt") as ds:
        assert ds.read(1).min() == 1.0
