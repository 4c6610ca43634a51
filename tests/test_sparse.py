"""Sparse coverages are first class: a tile folder with missing tiles is read, exported, served and used as a
reference with every pixel in its place (issue: "the edges"), on the bundled Alaska data."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from fastapi.testclient import TestClient

import rastercover
from rastercover import Grid
from rastercover.cli.demo import demo_data
from rastercover.cli.main import main
from rastercover.server.app import create_app
from rastercover.server.catalog import Catalog
from rastercover.server.settings import Settings

from .conftest import write_raster

BBOX = (-150, 63, -145, 66)  # lon/lat, inside the Alaska relief


def _cli(args):
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), f"exit {exc.code}"


@pytest.fixture(scope="module")
def alaska(tmp_path_factory):
    """The README's user: the forest as a touched-only tile folder, and the same job over the full extent."""
    tmp = tmp_path_factory.mktemp("alaska")
    trees, relief = demo_data()
    common = [trees, "--value", "VEG_ID", "--like", relief, "--tile-size", "100x100", "--no-progress"]
    common += ["-m", "LAST_VALUE_AT_PIXEL_CENTROID"]
    _cli(["rasterize", *common, "--extent", "touched", "-o", str(tmp / "forest_tiles")])
    _cli(["rasterize", *common, "-o", str(tmp / "full.tif")])
    with rasterio.open(tmp / "full.tif") as ds:
        full = ds.read(1)
        profile = ds.profile
    return tmp, full, profile


def test_a_touched_tile_folder_exports_with_every_pixel_in_its_place(alaska):
    tmp, full, profile = alaska
    folder = tmp / "forest_tiles"
    cov = rastercover.open_coverage(folder)
    assert cov.grid.is_sparse and cov.grid.with_tiles(None) == rastercover.open_grid(demo_data()[1], 100)
    _cli(["export", str(folder), "-o", str(tmp / "all.tif")])
    with rasterio.open(tmp / "all.tif") as ds, rasterio.open(folder / "index.vrt") as vrt:
        got = ds.read(1)
        assert ds.transform == profile["transform"] and ds.shape == full.shape
        assert np.array_equal(got, vrt.read(1))  # where GDAL's own reading of the folder puts the pixels
    # the forest pixels are the full-extent run's pixels (untouched tiles hold no forest there either)
    assert np.array_equal(got, full) and (got != -9999).sum() > 100_000


def test_a_bbox_on_the_folder_returns_the_pixels_of_the_full_run(alaska):
    tmp, _, _ = alaska
    _cli(
        [
            "export",
            str(tmp / "forest_tiles"),
            "-o",
            str(tmp / "b1.tif"),
            "--bbox",
            *map(str, BBOX),
            "--bbox-crs",
            "EPSG:4326",
        ]
    )
    _cli(
        [
            "export",
            str(tmp / "full.tif"),
            "-o",
            str(tmp / "b2.tif"),
            "--bbox",
            *map(str, BBOX),
            "--bbox-crs",
            "EPSG:4326",
        ]
    )
    with rasterio.open(tmp / "b1.tif") as a, rasterio.open(tmp / "b2.tif") as b:
        assert a.transform == b.transform and a.shape == b.shape
        assert np.array_equal(a.read(1), b.read(1))
        assert (a.read(1) != -9999).sum() == 13_388  # 0 before sparse folders kept their grid


def test_the_service_serves_the_folder_with_every_pixel_in_its_place(alaska, tmp_path):
    tmp, _, _ = alaska
    client = TestClient(create_app(Catalog.from_sources([tmp / "forest_tiles"]), Settings(), temp_dir=str(tmp_path)))
    ids = [c["id"] for c in client.get("/coverages").json()]
    assert len(ids) == 1
    r = client.get(f"/coverages/{ids[0]}/export", params={"bbox": ",".join(map(str, BBOX)), "bbox_crs": "EPSG:4326"})
    assert r.status_code == 200, r.text
    (tmp_path / "served.tif").write_bytes(r.content)
    rastercover.export(tmp / "full.tif", tmp_path / "api.tif", bbox=BBOX, bbox_crs="EPSG:4326")
    with rasterio.open(tmp_path / "served.tif") as a, rasterio.open(tmp_path / "api.tif") as b:
        assert a.transform == b.transform and np.array_equal(a.read(1), b.read(1))
        assert (a.read(1) != -9999).sum() == 13_388  # 0 before sparse folders kept their grid


def test_rasterizing_tile_for_tile_onto_a_sparse_folder_writes_exactly_its_tiles(alaska, tmp_path):
    tmp, full, _ = alaska
    folder = tmp / "forest_tiles"
    ref = rastercover.open_grid(folder)
    trees = demo_data()[0]
    out = tmp_path / "again"
    res = rastercover.rasterize(
        trees, folder, value="VEG_ID", output=out, methods=["COUNT_OF_VALUES_AT_PIXEL_CENTROID"]
    )
    names = sorted(p.name for p in out.glob("r*_c*.tif"))
    assert names == sorted(p.name for p in folder.glob("r*_c*.tif")) and res.tiles_written == ref.n_tiles
    with rasterio.open(out / "index.vrt") as a, rasterio.open(folder / "index.vrt") as b:
        assert a.transform == b.transform and a.shape == b.shape
        assert np.array_equal(a.read(1) > 0, (b.read(1) != -9999) & (full != -9999))
    # touched onto a sparse reference: the subset of its tiles that the features meet
    lake = shapely.box(*ref.tile(*next(iter(ref.tiles())).index).grid.bounds).buffer(-1)
    out2 = tmp_path / "one"
    rastercover.rasterize([(lake, 1.0)], folder, output=out2, extent="touched", assume_crs=ref.crs)
    assert [p.name for p in out2.glob("r*_c*.tif")] == [f"{next(iter(ref.tiles())).name}.tif"]


def test_a_folder_missing_its_first_tiles_keeps_their_names_and_places(tmp_path, north_up):
    ref = Grid(250, 230, north_up, "EPSG:32198", 100)
    src = tmp_path / "src"
    src.mkdir()
    for t in ref.tiles():
        if t.row == 0 or t.col == 0:
            continue  # the first row and column are missing
        tg = t.grid
        v = 10 * t.row + t.col
        write_raster(src / f"{t.name}.tif", tg.width, tg.height, tg.transform, dtype="int16", nodata=-1, value=v)
    cov = rastercover.open_coverage(src)
    assert cov.grid.transform == ref.transform and cov.grid.shape == ref.shape
    got = rastercover.export(src, tmp_path / "x.tif")
    with rasterio.open(got.path) as ds:
        arr = ds.read(1)
        assert ds.transform == ref.transform
    assert (arr[:100] == -1).all() and (arr[:, :100] == -1).all()
    assert arr[150, 150] == 11 and arr[229, 249] == 22 and arr[150, 249] == 12
    out = tmp_path / "out"
    rastercover.rasterize([(shapely.box(*ref.bounds), 5.0)], src, output=out, assume_crs="EPSG:32198")
    assert sorted(p.name for p in out.glob("*.tif")) == sorted(p.name for p in src.glob("*.tif"))


def test_an_export_of_a_sparse_vrt_reads_nodata_in_the_holes(tmp_path):
    t = Affine(10, 0, 0, 0, -10, 200)
    ref = Grid(20, 20, t, "EPSG:32198", 10)
    out = tmp_path / "tiles"
    box = shapely.box(0, 100, 100, 200)  # tile (0, 0) only
    rastercover.rasterize([(box, 7.0)], ref, output=out, extent="touched", assume_crs="EPSG:32198")
    arr = rastercover.open_coverage(out).read(rastercover.Window(0, 0, 20, 20))[0]
    assert (arr[:10, :10] == 7).all() and (arr[10:] == -9999).all() and (arr[:, 10:] == -9999).all()


@pytest.mark.parametrize("block_pixels", [4, 8, 24, 1 << 20])
def test_a_lazy_array_of_a_sparse_grid_equals_the_eager_result(block_pixels):
    """Every face, the same bits: rasterize_lazy on a reference with missing tiles has their pixels nodata, and
    its chunks tile the array whatever the block size (the blocks of a sparse grid shrink to the tiles it has)."""
    from rastercover.grid import TileSet

    g = Grid(10, 8, Affine(1, 0, 0, 0, -1, 8), "EPSG:3857", tile_size=2)
    sparse = g.with_tiles(TileSet(g.tile_layout, [(0, 0), (1, 2), (3, 4), (2, 1), (3, 0)]))
    src = [(shapely.box(0.5, 0.5, 9.5, 7.5), 2.0), (shapely.box(3, 1, 6, 6), 5.0)]
    kw = dict(methods=["SUM_OF_AREAS", "AREA_WEIGHTED_MEAN_OF_VALUES"], assume_crs="EPSG:3857")
    eager = rastercover.rasterize(src, sparse, **kw).values
    lazy = rastercover.rasterize_lazy(src, sparse, block_pixels=block_pixels, **kw)
    assert sum(lazy.data.chunks[1]) == 8 and sum(lazy.data.chunks[2]) == 10
    got = lazy.compute(scheduler="sync").values
    assert np.array_equal(got, eager)
    assert (got[0, 2:4, 2:4] == -9999).all() and got[0, 0, 0] == 0.25  # a missing tile; a present one
