"""Constant tiles copied from one GDAL-encoded template (io/gtiff_template.py, used by the tile folder sink).

The bar: a copied tile is the very file GDAL writes for that tile, byte for byte, and reads back with its own
origin, CRS, nodata, band names and pixels; anything the template cannot vouch for falls back to GDAL.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
from affine import Affine

from rastercover.grid import Grid, Window
from rastercover.io.gtiff import constant_block
from rastercover.io.gtiff_template import ConstantTile, _origin_slots
from rastercover.io.sink_tiles import TileWriter

BANDS = ["COUNT", "MEAN"]


def _written(folder, grid, tiles, values, dtype, nodata, *, constant: bool) -> dict[str, bytes]:
    w = TileWriter(str(folder), BANDS[: len(values)], np.dtype(dtype), nodata)
    if constant:
        w.write_constant(tiles, values)
    else:  # what GDAL writes for the same pixels, encoded tile by tile
        for t in tiles:
            w._write_tile(t, constant_block(t.window.height, t.window.width, values, np.dtype(dtype)))
    return {n: (folder / n).read_bytes() for n in sorted(os.listdir(folder))}


@pytest.mark.parametrize(
    "transform",
    [Affine(30, 0, 150000.5, 0, -30, 420000.25), Affine(8, 3, 1000, 2, -9, 5000)],  # north-up, rotated
    ids=["north-up", "rotated"],
)
@pytest.mark.parametrize(
    ("dtype", "nodata", "values"),
    [("float32", float("nan"), [0.0, float("nan")]), ("int16", -1, [-1]), ("float64", -9999.0, [3.5, -9999.0])],
)
def test_copied_constant_tiles_are_the_files_gdal_writes(tmp_path, transform, dtype, nodata, values):
    grid = Grid(70, 50, transform, "EPSG:32198", tile_size=32)  # edge tiles are 6 and 18 px
    tiles = list(grid.tiles())
    (tmp_path / "copy").mkdir()
    (tmp_path / "gdal").mkdir()
    copied = _written(tmp_path / "copy", grid, tiles, values, dtype, nodata, constant=True)
    encoded = _written(tmp_path / "gdal", grid, tiles, values, dtype, nodata, constant=False)
    assert sorted(copied) == sorted(f"{t.name}.tif" for t in tiles)
    assert copied == encoded
    for t in (tiles[0], tiles[-1]):
        with rasterio.open(tmp_path / "copy" / f"{t.name}.tif") as ds:
            assert ds.transform == t.grid.transform
            assert ds.crs.to_epsg() == 32198
            assert ds.descriptions == tuple(BANDS[: len(values)])
            np.testing.assert_array_equal(ds.read(), constant_block(t.window.height, t.window.width, values, dtype))


def test_a_template_is_encoded_once_per_size_and_values(tmp_path, monkeypatch):
    grid = Grid(70, 50, Affine(1, 0, 0, 0, -1, 50), "EPSG:3857", tile_size=32)
    built = []
    original = ConstantTile.build

    def counting(profile, pixels, descriptions=()):
        built.append(pixels.shape)
        return original(profile, pixels, descriptions)

    monkeypatch.setattr(ConstantTile, "build", staticmethod(counting))
    w = TileWriter(str(tmp_path), ["A"], np.dtype("uint8"), 255)
    w.write_constant(list(grid.tiles()), [0])
    w.write_constant(list(grid.tiles()), [0])
    w.write_constant([grid.tile(0, 0)], [7])
    assert sorted(built) == [(1, 18, 6), (1, 18, 32), (1, 32, 6), (1, 32, 32), (1, 32, 32)]


def test_the_origin_tag_is_found_in_both_byte_orders_and_bigtiff(tmp_path):
    profile = dict(driver="GTiff", width=4, height=3, count=1, dtype="int16", nodata=0, crs="EPSG:4326",
                   transform=Affine(0.5, 0, -10.25, 0, -0.5, 60.75))  # fmt: skip
    pixels = np.zeros((1, 3, 4), "int16")
    for options in ({}, {"endianness": "big"}, {"bigtiff": "yes"}):
        tpl = ConstantTile.build({**profile, **options}, pixels)
        assert tpl is not None, options
        moved = Affine(0.5, 0, 100.0, 0, -0.5, -20.0)
        path = tmp_path / "t.tif"
        path.write_bytes(tpl.render(moved))
        with rasterio.open(path) as ds:
            assert ds.transform == moved and ds.crs.to_epsg() == 4326
    with pytest.raises(ValueError, match="pixel size and rotation"):
        tpl.render(Affine(1, 0, 0, 0, -1, 0))


def test_what_the_template_cannot_vouch_for_is_refused():
    assert _origin_slots(b"not a tiff at all") is None
    assert _origin_slots(b"II*\x00" + b"\xff" * 12) is None  # IFD offset beyond the file
    # a raster whose stored origin is not the one given (pixel-is-point shifts it by half a pixel): no template
    profile = dict(driver="GTiff", width=4, height=4, count=1, dtype="uint8", crs="EPSG:32198",
                   transform=Affine(30, 0, 1000, 0, -30, 2000))  # fmt: skip
    with rasterio.Env(GTIFF_POINT_GEO_IGNORE=False):
        from rasterio.io import MemoryFile

        with MemoryFile() as mem:
            with mem.open(**profile) as ds:
                ds.update_tags(AREA_OR_POINT="Point")
                ds.write(np.zeros((1, 4, 4), "uint8"))
            data = mem.read()
    bo, kind, slots = _origin_slots(data)
    assert kind == "tiepoint"
    import struct

    assert [struct.unpack_from(bo + "d", data, s)[0] for s in slots] == [1015.0, 1985.0]  # GDAL shifted it


def test_tiles_of_a_block_that_no_feature_reaches_are_copied_and_equal_gdal_files(tmp_path, monkeypatch):
    grid = Grid(70, 50, Affine(30, 0, 150000, 0, -30, 420000), "EPSG:32198", tile_size=32)
    tiles = list(grid.tiles())
    data = np.full((2, 50, 70), np.nan, "float32")
    data[0] = 0.0
    data[:, 3:9, 40:45] = 12.5  # one feature, in tile (0, 1) only
    data[0, 40, 2] = -0.0  # tile (1, 0): -0.0 equals 0.0 but not bit for bit: encoded by GDAL
    copies = []
    original = TileWriter._copy_tile

    def counting(self, tile, encoded):
        copies.append(tile.index)
        original(self, tile, encoded)

    monkeypatch.setattr(TileWriter, "_copy_tile", counting)
    (tmp_path / "copy").mkdir()
    (tmp_path / "gdal").mkdir()
    copying = TileWriter(str(tmp_path / "copy"), BANDS, np.dtype("float32"), float("nan"))
    copying.write(Window(0, 0, 70, 50), data, tiles)
    assert sorted(copies) == [(0, 0), (0, 2), (1, 1), (1, 2)]
    w = TileWriter(str(tmp_path / "gdal"), BANDS, np.dtype("float32"), float("nan"))
    for t in tiles:
        w._write_tile(t, data[(slice(None), *t.window.slices)])
    for t in tiles:
        name = f"{t.name}.tif"
        assert (tmp_path / "copy" / name).read_bytes() == (tmp_path / "gdal" / name).read_bytes(), name
