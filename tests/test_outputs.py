"""Sinks and the Python API: GeoTIFF, COG, tile folder, memory; extents; dtypes; atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

import rastercover
from rastercover import Grid, InputError, Kind, Method, OutputError, ValueRangeError, register

GRID = Grid(250, 230, Affine(30, 0, 150000, 0, -30, 420000), "EPSG:32198", 100)
# two overlapping stands inside tiles (0,0),(0,1),(1,0),(1,1); nothing in the last tile row/column
STANDS = [
    (shapely.box(150000, 416000, 154000, 420000), 10.0),
    (shapely.box(152000, 415000, 156000, 418000), 20.0),
]
METHODS = ["MEAN_OF_VALUES_AT_PIXEL_CENTROID", "COUNT_OF_VALUES_AT_PIXEL_CENTROID"]


def _rasterize(**kw):
    kw.setdefault("methods", METHODS)
    return rastercover.rasterize(STANDS, GRID, assume_crs="EPSG:32198", **kw)


@pytest.fixture(scope="module")
def expected():
    return _rasterize().values


def test_memory_output_is_a_georeferenced_dataarray(expected):
    da = _rasterize()
    assert da.dims == ("band", "y", "x") and da.shape == (2, 230, 250)
    assert list(da.band.values) == METHODS
    assert Affine(*da.attrs["transform"]) == GRID.transform
    assert rastercover.crs.as_crs(da.attrs["crs"]).to_epsg() == 32198
    assert da.attrs["nodata"] == -9999
    assert da.x.values[0] == 150015 and da.y.values[0] == 419985
    mean, count = expected
    # pixel centre (150015, 419985) lies in stand 1 only; (153015, 416985) in both
    assert mean[0, 0] == 10 and count[0, 0] == 1
    assert mean[100, 100] == 15 and count[100, 100] == 2
    assert mean[-1, -1] == -9999 and count[-1, -1] == 0
    assert count.sum() == 133 * 133 + 133 * 100


def test_geotiff_output_keeps_crs_transform_nodata_and_band_names(tmp_path, expected):
    out = tmp_path / "out.tif"
    res = _rasterize(output=out)
    assert res.path == str(out) and res.format == "GeoTIFF" and res.tiles_written == 9
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32198 and ds.transform == GRID.transform
        assert ds.nodata == -9999 and ds.descriptions == tuple(METHODS)
        assert ds.profile["tiled"] and ds.compression.name.lower() == "deflate"
        assert np.array_equal(ds.read(), expected)
    assert os.listdir(tmp_path) == ["out.tif"]


def test_cog_output_has_overviews(tmp_path, expected):
    big = Grid(1200, 900, Affine(30, 0, 150000, 0, -30, 420000), "EPSG:32198", 100)
    out = tmp_path / "cog.tif"
    res = rastercover.rasterize(STANDS, big, methods=METHODS, output=out, cog=True, assume_crs="EPSG:32198")
    assert res.format == "COG"
    with rasterio.open(out) as ds:
        assert ds.overviews(1) and ds.crs.to_epsg() == 32198
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert np.array_equal(ds.read()[:, :230, :250], expected)
    assert os.listdir(tmp_path) == ["cog.tif"]


def test_tile_folder_output_with_vrt(tmp_path, expected):
    out = tmp_path / "tiles"
    res = _rasterize(output=out)
    assert res.format == "tile folder" and res.tiles_written == 9
    names = sorted(os.listdir(out))
    assert names == sorted([f"r{r}_c{c}.tif" for r in range(3) for c in range(3)] + ["index.vrt"])
    with rasterio.open(out / "r1_c2.tif") as ds:
        assert ds.shape == (100, 50) and ds.transform == GRID.tile(1, 2).grid.transform
        assert ds.descriptions == tuple(METHODS) and ds.crs.to_epsg() == 32198
    with rasterio.open(out / "index.vrt") as ds:
        assert ds.transform == GRID.transform and ds.descriptions == tuple(METHODS)
        assert np.array_equal(ds.read(), expected)
    assert rastercover.open_grid(out) == GRID


def test_touched_extent_writes_only_tiles_the_features_intersect(tmp_path, expected):
    out = tmp_path / "tiles"
    res = _rasterize(output=out, extent="touched")
    assert res.tiles_written == 4
    assert sorted(os.listdir(out)) == ["index.vrt", "r0_c0.tif", "r0_c1.tif", "r1_c0.tif", "r1_c1.tif"]
    da = _rasterize(extent="touched")
    # untouched tiles are nodata in every band, touched tiles are computed
    assert (da.values[1, 200:, :] == -9999).all() and (da.values[1, :200, :200] == expected[1, :200, :200]).all()


def test_integer_dtype_rounds_and_checks_range(tmp_path):
    da = _rasterize(methods=["MEAN_OF_VALUES_AT_PIXEL_CENTROID"], dtype="int16", nodata=-1)
    assert da.dtype == np.int16 and da.values[0, 100, 100] == 15 and da.values[0, -1, -1] == -1
    with pytest.raises(ValueRangeError, match="does not fit the uint8 band"):
        rastercover.rasterize(
            [(shapely.box(150000, 419000, 151000, 420000), 300)],
            GRID,
            dtype="uint8",
            nodata=0,
            assume_crs="EPSG:32198",
            methods="LAST_VALUE_AT_PIXEL_CENTROID",
        )
    with pytest.raises(InputError, match="does not fit a uint8 band"):
        _rasterize(dtype="uint8", nodata=-9999)
    with pytest.raises(InputError, match="unknown dtype"):
        _rasterize(dtype="floaty")


def _boom(hits):
    if hits.size and len(hits.pixel):
        raise RuntimeError("boom")
    return np.full(hits.size, np.nan)


def test_an_error_leaves_nothing_under_the_output_name(tmp_path):
    register(Method("BOOM_TEST", Kind.CENTRE, _boom, needs_value=False), replace=True)
    for name in ("out.tif", "tiles"):
        with pytest.raises(RuntimeError, match="boom"):
            _rasterize(methods=["COUNT_OF_VALUES_AT_PIXEL_CENTROID", "BOOM_TEST"], output=tmp_path / name)
        assert os.listdir(tmp_path) == []


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "out.tif"
    out.write_text("precious")
    with pytest.raises(OutputError, match="exists already.*--overwrite"):
        _rasterize(output=out)
    assert out.read_text() == "precious"
    _rasterize(output=out, overwrite=True)
    with rasterio.open(out) as ds:
        assert ds.count == 2
    folder = tmp_path / "tiles"
    _rasterize(output=folder)
    _rasterize(output=folder, overwrite=True, methods=METHODS[:1])
    with rasterio.open(folder / "index.vrt") as ds:
        assert ds.count == 1
    with pytest.raises(OutputError, match="does not exist"):
        _rasterize(output=tmp_path / "missing" / "out.tif")


def test_options_are_checked_before_any_work(tmp_path):
    with pytest.raises(rastercover.UnknownMethodError, match="MEAN_OF_VALUES_AT_PIXEL_CENTROID"):
        _rasterize(methods=["MEAN_OF_VALUE_AT_PIXEL_CENTROID"])
    with pytest.raises(rastercover.UnknownOptionError, match="full, touched"):
        _rasterize(extent="some")
    with pytest.raises(InputError, match="asked twice"):
        _rasterize(methods=METHODS + METHODS[:1])
    with pytest.raises(InputError, match="needs a .tif"):
        _rasterize(output=tmp_path / "t", cog=True)


def test_value_methods_need_a_value_column(tmp_path):
    import pyogrio.raw

    path = str(tmp_path / "s.gpkg")
    pyogrio.raw.write(
        path,
        shapely.to_wkb(np.array([STANDS[0][0]])),
        [np.array([1.0])],
        ["h"],
        geometry_type="Polygon",
        crs="EPSG:32198",
    )
    with pytest.raises(InputError, match="--value"):
        rastercover.rasterize(path, GRID, methods=["MEAN_OF_VALUES_AT_PIXEL_CENTROID"])
    da = rastercover.rasterize(path, GRID, methods=["MEAN_OF_VALUES_AT_PIXEL_CENTROID"], value="h")
    assert da.values[0, 0, 0] == 1.0


def test_invalid_polygons_are_repaired_or_refused():
    bowtie = shapely.Polygon([(150000, 420000), (153000, 417000), (153000, 420000), (150000, 417000)])
    da = rastercover.rasterize(
        [(bowtie, 1)], GRID, methods="COUNT_OF_VALUES_AT_PIXEL_CENTROID", assume_crs="EPSG:32198"
    )
    fixed = shapely.make_valid(bowtie)
    assert da.values.sum() == pytest.approx(fixed.area / 900, rel=0.05)
    with pytest.raises(rastercover.GeometryError, match="feature 0 has an invalid geometry.*Self-intersection"):
        rastercover.rasterize([(bowtie, 1)], GRID, assume_crs="EPSG:32198", invalid="error")


def test_progress_counts_every_tile_once():
    seen = []
    _rasterize(progress=seen.append, block_pixels=20000)
    assert sum(seen) == GRID.n_tiles and len(seen) > 1
