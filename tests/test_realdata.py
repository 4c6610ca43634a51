"""Real public data (bundled in tests/realdata): the engine against rasterio and the spec's laws."""

from __future__ import annotations

import numpy as np
import pyogrio
import rasterio.features

import rastercover


def test_gredos_watersheds_on_the_dem_grid(realdata, tmp_path):
    base = realdata / "gredos_watersheds_dem25"
    grid = rastercover.open_grid(base / "dem25.tif", tile_size=100)
    out = tmp_path / "ws"
    res = rastercover.rasterize(
        base / "watersheds.shp",
        grid,
        value="ID",
        workers=2,
        output=out,
        methods=["LAST_VALUE_AT_PIXEL_CENTROID", "COUNT_OF_VALUES_AT_PIXEL_CENTROID"],
    )
    assert res.tiles_written == grid.n_tiles == 35
    with rasterio.open(out / "index.vrt") as ds:
        last, count = ds.read()
    df = pyogrio.read_dataframe(base / "watersheds.shp")
    ref = rasterio.features.rasterize(
        zip(df.geometry.values, df.ID.values),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=-9999,
        dtype="float32",
    )
    # a coverage without gaps or overlaps: every centre belongs to at most one watershed (spec, section 2)
    assert set(np.unique(count)) <= {0, 1}
    covered = count == 1
    assert covered.sum() > 0.9 * count.size * 0.5
    # the edges of these watersheds lie mostly on pixel edges, never through centres, so GDAL agrees exactly
    assert np.array_equal(last, ref)


def test_alaska_forests_in_feet_match_rasterio_on_a_reprojected_lonlat_grid(realdata):
    base = realdata / "alaska_vmap0"
    grid = rastercover.Grid.from_bounds((-160, 60, -140, 66), 0.05, "EPSG:4326", tile_size=64)
    da = rastercover.rasterize(base / "trees.shp", grid, value="VEG_ID", methods=["LAST_VALUE_AT_PIXEL_CENTROID"])
    df = pyogrio.read_dataframe(base / "trees.shp").to_crs(4326)
    ref = rasterio.features.rasterize(
        zip(df.geometry.values, df.VEG_ID.values),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=-9999,
        dtype="float32",
    )
    got = da.values[0]
    assert (ref != -9999).sum() > 1000
    # same reprojection (PROJ) and the same centre rule: the only differences come from centres within a
    # floating-point hair of a reprojected edge
    assert (got != ref).sum() <= 2


def test_sao_miguel_municipalities_partition_the_island(realdata):
    base = realdata / "sao_miguel"
    grid = rastercover.open_grid(base / "clc2018_v2020_20u1.tif", tile_size=512)
    pairs = [(g, i) for i, g in enumerate(pyogrio.read_dataframe(base / "concelhos.gpkg").geometry.values)]
    da = rastercover.rasterize(
        pairs,
        grid,
        assume_crs="EPSG:4326",
        methods=["COUNT_OF_VALUES_AT_PIXEL_CENTROID", "FIRST_VALUE_AT_PIXEL_CENTROID", "LAST_VALUE_AT_PIXEL_CENTROID"],
    )
    count, first, last = da.values
    assert set(np.unique(count)) <= {0, 1}
    assert np.array_equal(first, last)
    assert set(np.unique(first[count == 1])) == set(range(6))
