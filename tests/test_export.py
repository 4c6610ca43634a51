"""Export: every format round-trips; bbox and clip agree with rasterio.mask; tile folders mosaic; refusals are clean."""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
import zipfile

import numpy as np
import pyogrio
import pytest
import rasterio
import rasterio.mask
import shapely
from affine import Affine
from pyproj import CRS, Transformer

import rastercover
from rastercover.cli.main import main
from rastercover.crs import same_crs
from rastercover.errors import AlignmentError, InputError, OutputError, SourceError, UnknownOptionError
from rastercover.formats import FORMATS, format_for_path, get_format
from rastercover.grid import Window
from rastercover.io.coverage_file import FileCoverage

from .conftest import write_raster

T = Affine(30, 0, 150000, 0, -30, 420000)
W, H = 50, 40
CRS_CODE = "EPSG:32198"


def _write(path, data, *, dtype, nodata=None, tiled=True, block=16, transform=T, names=None):
    count = data.shape[0]
    profile = dict(
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=count,
        dtype=dtype,
        crs=CRS_CODE,
        transform=transform,
        nodata=nodata,
    )
    if tiled:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data.astype(dtype))
        for i, name in enumerate(names or [], start=1):
            ds.set_band_description(i, name)
    return str(path)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("export_data")


@pytest.fixture(scope="module")
def dem(data_dir):
    rng = np.random.default_rng(7)
    a = (rng.random((1, H, W)) * 1000 + 100).astype("float32")
    a[0, 3, 5] = a[0, 30, 44] = -9999
    return _write(data_dir / "dem.tif", a, dtype="float32", nodata=-9999, names=["elevation"])


@pytest.fixture(scope="module")
def classes(data_dir):
    """Two uint8 bands (0..200), nodata 255."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 201, size=(2, H, W)).astype("uint8")
    a[:, 0, 0] = 255
    return _write(data_dir / "classes.tif", a, dtype="uint8", nodata=255, names=["class", "other"])


@pytest.fixture(scope="module")
def tile_folders(data_dir, dem):
    """The DEM cut into 16x16 tile files: one folder with index.vrt, one without (a tile missing in neither)."""
    from rastercover.grid import Grid
    from rastercover.io.vrt import vrt_xml

    with rasterio.open(dem) as ds:
        a = ds.read()
    grid = Grid(W, H, T, CRS_CODE, tile_size=16)
    plain, indexed = data_dir / "tiles", data_dir / "tiles_vrt"
    for folder in (plain, indexed):
        folder.mkdir()
        for t in grid.tiles():
            w = t.window
            _write(
                folder / f"{t.name}.tif",
                a[(slice(None), *w.slices)],
                dtype="float32",
                nodata=-9999,
                tiled=False,
                transform=t.grid.transform,
                names=["elevation"],
            )
    (indexed / "index.vrt").write_text(vrt_xml(grid, ["elevation"], "float32", -9999, list(grid.tiles())))
    return str(plain), str(indexed)


def _read(path, member=None):
    src = f"/vsizip/{path}/{member}" if member else str(path)
    with rasterio.open(src) as ds:
        return ds.read(), ds.transform, ds.crs, ds.nodata, ds.dtypes


def _oracle(src, geoms, *, all_touched=False, nodata=None):
    with rasterio.open(src) as ds:
        out, transform = rasterio.mask.mask(ds, geoms, crop=True, all_touched=all_touched, nodata=nodata)
    return out, transform


def _no_leftovers(folder):
    return [n for n in os.listdir(folder) if ".part-" in n]


# ---------------------------------------------------------------------- the formats table
def test_format_table_lookup_and_errors():
    assert [f.key for f in FORMATS] == ["gtiff", "cog", "aaigrid", "xyz", "png", "jpeg", "netcdf", "gpkg"]
    assert get_format("COG").driver == "COG"
    assert get_format("aaigrid").media_type == "application/zip"
    assert format_for_path("a/b.tiff").key == "gtiff"
    assert format_for_path("x.jpeg").key == "jpeg"
    assert format_for_path("x.xyz.zip").key == "xyz"
    with pytest.raises(UnknownOptionError, match="choose one of gtiff, cog, aaigrid, xyz, png, jpeg, netcdf, gpkg"):
        get_format("bmp")
    with pytest.raises(UnknownOptionError, match=r"\.bmp.*--format"):
        format_for_path("x.bmp")


# ---------------------------------------------------------------------- every format round-trips
def test_gtiff_and_cog_round_trip(dem, tmp_path):
    with rasterio.open(dem) as ds:
        ref = ds.read()
    for key in ("gtiff", "cog"):
        r = rastercover.export(dem, tmp_path / f"{key}.tif", format=key)
        assert (r.width, r.height, r.dtype, r.nodata, r.bands) == (W, H, "float32", -9999, (1,))
        with rasterio.open(r.path) as ds:
            assert ds.driver == "GTiff" and ds.crs.to_epsg() == 32198 and ds.transform == T
            assert ds.nodata == -9999 and ds.descriptions == ("elevation",)
            assert ds.profile.get("compress", "").lower() == "deflate" and ds.profile["tiled"]
            assert np.array_equal(ds.read(), ref)
            if key == "cog":
                assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_aaigrid_zip_holds_asc_and_prj_with_the_coverage_crs(dem, tmp_path):
    r = rastercover.export(dem, tmp_path / "dem.zip")
    assert r.format == "aaigrid" and r.members == ("dem.asc", "dem.prj")
    with zipfile.ZipFile(r.path) as z:
        assert sorted(z.namelist()) == ["dem.asc", "dem.prj"]
        prj = z.read("dem.prj").decode()
    assert prj.startswith("PROJCS[") and same_crs(CRS.from_wkt(prj), CRS.from_user_input(CRS_CODE))
    a, transform, crs, nodata, _ = _read(r.path, "dem.asc")
    with rasterio.open(dem) as ds:
        assert np.array_equal(a, ds.read())
    assert transform == T and nodata == -9999 and same_crs(CRS.from_wkt(crs.to_wkt()), CRS.from_user_input(CRS_CODE))


def test_aaigrid_named_asc_writes_the_prj_beside_it(dem, tmp_path):
    r = rastercover.export(dem, tmp_path / "dem.asc", bbox=(150100, 419000, 150500, 419500))
    assert sorted(os.listdir(tmp_path)) == ["dem.asc", "dem.prj"] and r.files[1].endswith("dem.prj")
    a, transform, crs, nodata, _ = _read(r.path)
    assert crs.to_epsg() == 32198 and nodata == -9999 and transform.c == 150090 and a.shape == (1, 18, 14)


def test_xyz_round_trip(dem, tmp_path):
    r = rastercover.export(dem, tmp_path / "dem.xyz")
    assert any("xyz declares no nodata" in n for n in r.notes)
    a, transform, *_ = _read(r.path)
    with rasterio.open(dem) as ds:
        assert np.array_equal(a, ds.read())
    assert transform == T


def test_png_zip_with_world_file_prj_and_values(classes, tmp_path):
    r = rastercover.export(classes, tmp_path / "classes.png.zip", bands=[1])
    assert r.members[:3] == ("classes.png", "classes.prj", "classes.pgw")
    with zipfile.ZipFile(r.path) as z:
        pgw = [float(v) for v in z.read("classes.pgw").decode().split()]
    assert pgw == [30, 0, 0, -30, 150015, 419985]
    a, transform, crs, nodata, dtypes = _read(r.path, "classes.png")
    with rasterio.open(classes) as ds:
        assert np.array_equal(a, ds.read([1]))
    assert transform == T and crs.to_epsg() == 32198 and nodata == 255 and dtypes == ("uint8",)
    # a plain .png is the image alone
    r2 = rastercover.export(classes, tmp_path / "c.png", bands="1,2")
    assert r2.files == (r2.path,) and sorted(os.listdir(tmp_path)) == ["c.png", "classes.png.zip"]


def test_png_16_bit_and_float_that_fits(tmp_path):
    a = np.arange(W * H, dtype="float32").reshape(1, H, W) * 20  # whole numbers up to 39980: fit uint16
    src = _write(tmp_path / "f.tif", a, dtype="float32", nodata=-1)
    r = rastercover.export(src, tmp_path / "f.png.zip")
    assert r.dtype == "uint16" and r.nodata == 65535 and any("written as uint16" in n for n in r.notes)
    b, transform, _, nodata, dtypes = _read(r.path, "f.png")
    assert dtypes == ("uint16",) and nodata == 65535 and np.array_equal(b, a) and transform == T


def test_jpeg_zip_is_close_and_georeferenced(classes, tmp_path):
    r = rastercover.export(classes, tmp_path / "c.jpg.zip", bands=[1])
    assert any("lossy" in n for n in r.notes)
    a, transform, crs, *_ = _read(r.path, "c.jpg")
    with rasterio.open(classes) as ds:
        ref = ds.read([1]).astype(float)
    assert transform == T and crs.to_epsg() == 32198
    assert np.abs(a - ref).mean() < 6  # random noise is JPEG's worst case; still close on average


@pytest.mark.parametrize("key", ["netcdf", "gpkg"])
def test_netcdf_and_gpkg_round_trip(dem, tmp_path, key):
    fmt = get_format(key)
    if not rastercover.formats.driver_available(fmt):
        pytest.skip(f"this GDAL build has no {fmt.driver} driver")
    r = rastercover.export(dem, tmp_path / f"dem{fmt.extension}", bbox=(150200, 418900, 151000, 419700))
    a, transform, crs, nodata, _ = _read(r.path)
    ref, ref_t = _oracle(dem, [shapely.box(150200, 418900, 151000, 419700)], all_touched=True)
    assert np.array_equal(a, ref) and transform == ref_t and crs.to_epsg() == 32198 and nodata == -9999


def test_gpkg_rgb_is_lossless(tmp_path):
    if not rastercover.formats.driver_available("gpkg"):
        pytest.skip("this GDAL build has no GPKG driver")
    a = np.random.default_rng(5).integers(0, 255, size=(3, H, W)).astype("uint8")
    src = _write(tmp_path / "rgb.tif", a, dtype="uint8", nodata=255)
    geom = shapely.Point(150700, 419400).buffer(400)
    r = rastercover.export(src, tmp_path / "rgb.gpkg", clip=geom)
    ref, ref_t = _oracle(src, [geom])
    b, transform, *_ = _read(r.path)
    assert transform == ref_t and np.array_equal(b, ref)


# ---------------------------------------------------------------------- bbox and clip against rasterio.mask
def test_bbox_snaps_outward_to_the_pixel_grid(dem, tmp_path):
    box = (150047.0, 418811.5, 150919.9, 419600.0)  # 419600 lies on a pixel edge: the row below is not taken
    r = rastercover.export(dem, tmp_path / "b.tif", bbox=box)
    a, transform, *_ = _read(r.path)
    ref, ref_t = _oracle(dem, [shapely.box(*box)], all_touched=True)
    assert transform == ref_t and np.array_equal(a, ref)
    assert transform.c == 150030 and transform.f == 419610 and a.shape == (1, 27, 30)


def test_bbox_in_another_crs_is_reprojected(dem, tmp_path):
    lonlat = Transformer.from_crs(CRS_CODE, "EPSG:4326", always_xy=True).transform_bounds(
        150100, 418900, 150800, 419700
    )
    r = rastercover.export(dem, tmp_path / "b.tif", bbox=lonlat, bbox_crs="EPSG:4326")
    back = Transformer.from_crs("EPSG:4326", CRS_CODE, always_xy=True).transform_bounds(*lonlat, densify_pts=21)
    ref, ref_t = _oracle(dem, [shapely.box(*back)], all_touched=True)
    a, transform, *_ = _read(r.path)
    assert transform == ref_t and np.array_equal(a, ref)


@pytest.mark.parametrize("all_touched", [False, True])
def test_clip_matches_rasterio_mask_crop(dem, tmp_path, all_touched):
    geom = shapely.Polygon([(150111, 419901), (150977, 419333), (150400, 418812), (150222, 419250)])
    r = rastercover.export(dem, tmp_path / "c.tif", clip=geom.wkt, all_touched=all_touched)
    a, transform, _, nodata, _ = _read(r.path)
    ref, ref_t = _oracle(dem, [geom], all_touched=all_touched)
    assert transform == ref_t and nodata == -9999
    assert np.array_equal(a, ref)
    assert (a != -9999).sum() > 100


def test_buffered_envelope_of_a_geojson_clip_in_lonlat(dem, tmp_path):
    """The seed's "clip by the 1000 m buffered envelope of a polygon", with the polygon given in EPSG:4326."""
    geom = shapely.Polygon([(150300, 419500), (150500, 419200), (150350, 419100)])
    to_ll = Transformer.from_crs(CRS_CODE, "EPSG:4326", always_xy=True)
    ll = shapely.transform(geom, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
    feature = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(ll)}],
    }
    r = rastercover.export(dem, tmp_path / "e.tif", clip=json.dumps(feature), envelope=True, buffer=200)
    back = Transformer.from_crs("EPSG:4326", CRS_CODE, always_xy=True)
    again = shapely.transform(ll, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))
    ref, ref_t = _oracle(dem, [again.envelope.buffer(200, quad_segs=8)])
    a, transform, *_ = _read(r.path)
    assert transform == ref_t and np.array_equal(a, ref)


def test_negative_buffer_and_coverage_without_nodata(tmp_path):
    a = np.arange(W * H, dtype="int16").reshape(1, H, W)
    src = _write(tmp_path / "i.tif", a, dtype="int16")
    geom = shapely.box(150100, 419000, 150700, 419800)
    r = rastercover.export(src, tmp_path / "o.tif", clip=geom, buffer=-100)
    assert r.nodata == -32768 and any("declares no nodata" in n for n in r.notes)
    ref, ref_t = _oracle(src, [geom.buffer(-100, quad_segs=8)], nodata=-32768)
    b, transform, _, nodata, _ = _read(r.path)
    assert transform == ref_t and nodata == -32768 and np.array_equal(b, ref)
    assert not any("will read as nodata" in n for n in r.notes)  # no pixel holds -32768
    # pixels of the coverage holding the chosen nodata are counted and named (they will read as nodata)
    a.flat[[0, 5, 700]] = -32768
    src = _write(tmp_path / "j.tif", a, dtype="int16")
    r = rastercover.export(src, tmp_path / "p.tif", clip=shapely.box(150000, 419000, 150700, 420000))
    inside = _oracle(src, [shapely.box(150000, 419000, 150700, 420000)], nodata=None)[0]
    hit = int((inside == -32768).sum())
    assert hit == 3, hit  # pixels 0 and 5 of row 0 and pixel 0 of row 14 are inside the clip
    assert f"{hit} pixel(s) of the coverage hold -32768, the nodata value chosen for the pixels it masks" in " ".join(
        r.notes
    )


def test_geodataframe_clip_brings_its_crs(dem, tmp_path):
    gpd = pytest.importorskip("geopandas")
    geom = shapely.box(150200, 419100, 150650, 419700)
    gdf = gpd.GeoDataFrame(geometry=[geom], crs=CRS_CODE).to_crs(4326)
    r = rastercover.export(dem, tmp_path / "g.tif", clip=gdf)
    back = gdf.to_crs(CRS_CODE).geometry.values[0]
    ref, ref_t = _oracle(dem, [back])
    a, transform, *_ = _read(r.path)
    assert transform == ref_t and np.array_equal(a, ref)


class _Ramp:
    """A RasterCoverage in memory: any object with the protocol can be exported."""

    def __init__(self):
        from rastercover.grid import Grid

        self.grid = Grid(W, H, T, CRS_CODE, tile_size=10)
        self.count, self.dtype, self.nodata, self.band_names = 1, np.dtype("int32"), None, ("ramp",)
        self.data = np.arange(W * H, dtype="int32").reshape(1, H, W)
        self.reads = []

    def describe(self):
        return "memory ramp"

    def read(self, window, bands=None):
        self.reads.append(window)
        return self.data[(slice(None), *window.slices)].copy()


def test_any_raster_coverage_object_exports(tmp_path, monkeypatch):
    cov = _Ramp()
    monkeypatch.setattr(importlib.import_module("rastercover.ops.mosaic"), "CHUNK_PIXELS", 200)
    geom = shapely.box(150000, 419700, 150300, 420000).union(shapely.box(151200, 418800, 151500, 419100))
    r = rastercover.export(cov, tmp_path, clip=geom)
    assert os.path.basename(r.path) == "memory_ramp_clip.tif" and r.nodata == -(2**31)
    a = _read(r.path)[0]
    assert a.shape == (1, 40, 50) and a[0, 0, 0] == 0 and a[0, -1, -1] == cov.data[0, -1, -1]
    assert (a == -(2**31)).sum() == 50 * 40 - 2 * 100
    # chunks that the clip does not meet are not read
    assert sum(w.width * w.height for w in cov.reads) < 50 * 40 / 2


# ---------------------------------------------------------------------- tile folders
@pytest.mark.parametrize("all_touched", [False, True])
def test_clip_across_tiles_of_a_folder_equals_the_single_file(dem, tile_folders, tmp_path, monkeypatch, all_touched):
    geom = shapely.Point(150750, 419400).buffer(420)  # spans 3x3 tiles of 16x16 px
    single = rastercover.export(dem, tmp_path / "single.tif", clip=geom, all_touched=all_touched)
    ref, ref_t = _read(single.path)[:2]
    oracle, oracle_t = _oracle(dem, [geom], all_touched=all_touched)
    assert ref_t == oracle_t and np.array_equal(ref, oracle)
    mosaic = importlib.import_module("rastercover.ops.mosaic")
    monkeypatch.setattr(mosaic, "CHUNK_PIXELS", 300)  # several chunks, each of whole tiles
    for i, folder in enumerate(tile_folders):
        cov = FileCoverage(folder)
        assert cov.grid.tile_size == (16, 16) and cov.grid.shape == (H, W)
        r = rastercover.export(folder, tmp_path / f"t{i}.tif", clip=geom, all_touched=all_touched)
        a, transform = _read(r.path)[:2]
        assert transform == ref_t and np.array_equal(a, ref)


def test_folder_reads_only_the_tiles_a_window_needs(tile_folders, monkeypatch):
    cov = FileCoverage(tile_folders[0])
    opened = []
    real_open = rasterio.open

    def spy(path, *args, **kwargs):
        opened.append(os.path.basename(str(path)))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", spy)
    block = cov.read(Window(10, 14, 10, 4))  # columns 10..19, rows 14..17: tiles r0/r1 x c0/c1
    assert sorted(opened) == ["r0_c0.tif", "r0_c1.tif", "r1_c0.tif", "r1_c1.tif"]
    with real_open(os.path.join(tile_folders[1], "index.vrt")) as ds:
        assert np.array_equal(block, ds.read(window=((14, 18), (10, 20))))


def test_folder_with_a_missing_tile_reads_nodata_there(tile_folders, tmp_path):
    import shutil

    folder = tmp_path / "holes"
    shutil.copytree(tile_folders[0], folder)
    os.remove(folder / "r1_c1.tif")
    a = FileCoverage(folder).read(Window(16, 16, 16, 16))
    assert (a == -9999).all()


def test_misaligned_tiles_and_bad_sources_are_reported(tmp_path, dem):
    folder = tmp_path / "bad"
    folder.mkdir()
    write_raster(folder / "a.tif", 10, 10, T)
    write_raster(folder / "b.tif", 10, 10, Affine(30, 0, 150000 + 300 + 7, 0, -30, 420000))
    with pytest.raises(AlignmentError, match="b.tif is misaligned"):
        FileCoverage(folder)
    with pytest.raises(SourceError, match="no such file"):
        FileCoverage(tmp_path / "nope.tif")
    (tmp_path / "notes.tif").write_text("not a raster")
    with pytest.raises(SourceError, match="not a raster"):
        rastercover.open_coverage(str(tmp_path / "notes.tif"))


# ---------------------------------------------------------------------- refusals leave nothing behind
_SLIVER = "POLYGON((150091 419919, 150099 419919, 150091 419911, 150091 419919))"  # inside one pixel, off its centre


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "match"),
    [
        ("f.png", {}, InputError, "png holds only uint8 or uint16 pixels and this float32 data has non-integer"),
        ("c.zip", {"format": "aaigrid", "src": "classes"}, InputError, "aaigrid holds 1 band only, this export has 2"),
        ("x.tif", {"format": "webp"}, UnknownOptionError, "unknown format 'webp'"),
        ("x.tif", {"clip": "POLYGON((0 0, 10 0, 10 10, 0 0))"}, InputError, "does not meet the coverage"),
        ("x.tif", {"bbox": (0, 0, 10, 10)}, InputError, "does not meet the coverage"),
        ("x.tif", {"clip": "POLYGON EMPTY"}, InputError, "the clip geometry is empty"),
        ("x.tif", {"clip": "POINT (150100 419900)", "buffer": -5}, InputError, "makes the clip empty"),
        ("x.tif", {"clip": _SLIVER}, InputError, "covers no pixel centre"),
        ("x.tif", {"clip": "not a geometry"}, InputError, "neither WKT nor GeoJSON"),
        ("x.tif", {"bands": "1,3"}, InputError, "no band 3"),
        ("x.png", {"format": "gtiff"}, InputError, r"a gtiff output name ends in \.tif or \.tiff or \.zip"),
        ("x.tif", {"buffer": 10}, InputError, "apply to a clip"),
    ],
)
def test_refusals_are_clear_and_leave_no_file(dem, classes, tmp_path, name, kwargs, error, match):
    kwargs = dict(kwargs)
    src = classes if kwargs.pop("src", None) == "classes" else dem
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(error, match=match) as exc:
        rastercover.export(src, out / name, **kwargs)
    assert "\n" not in str(exc.value)
    assert os.listdir(out) == []


def test_output_checks(dem, tmp_path):
    with pytest.raises(OutputError, match="does not exist; create it first"):
        rastercover.export(dem, tmp_path / "missing" / "x.tif")
    rastercover.export(dem, tmp_path / "x.tif")
    with pytest.raises(OutputError, match="exists already"):
        rastercover.export(dem, tmp_path / "x.tif")
    r = rastercover.export(dem, tmp_path / "x.tif", overwrite=True, bbox=(150000, 419000, 150300, 420000))
    assert (r.width, r.height) == (10, 34) and _no_leftovers(tmp_path) == []
    folder_out = rastercover.export(
        dem, tmp_path, clip="POLYGON((150100 419900,150200 419900,150200 419800,150100 419900))"
    )
    assert os.path.basename(folder_out.path) == "dem_clip.tif"


def test_rotated_grid_is_refused_by_aaigrid(tmp_path):
    src = _write(tmp_path / "r.tif", np.ones((1, 8, 8)), dtype="float32", transform=Affine(30, 5, 0, 5, -30, 0))
    with pytest.raises(InputError, match="cannot hold a rotated"):
        rastercover.export(src, tmp_path / "r.asc")
    r = rastercover.export(src, tmp_path / "r2.tif", clip="POLYGON((40 -40, 120 -40, 120 -120, 40 -120, 40 -40))")
    ref, ref_t = _oracle(src, [shapely.box(40, -120, 120, -40)], nodata=-9999)
    a, t = _read(r.path)[:2]
    assert t == ref_t and np.array_equal(a, ref)


# ---------------------------------------------------------------------- for web apps, PostGIS dispatch
def test_export_file_names_the_download_and_the_caller_deletes_it(dem):
    f = rastercover.export_file(dem, bbox=(150000, 419000, 150300, 420000))
    path, filename, media_type = f
    try:
        assert filename == "dem_bbox.tif" and media_type == "image/tiff; application=geotiff"
        assert _read(path)[0].shape == (1, 34, 10)
    finally:
        f.cleanup()
    # float values that are not whole numbers: a clear refusal, and the reserved temporary file is gone
    with pytest.raises(InputError, match="png holds only"):
        rastercover.export_file(dem, format="png")
    with rastercover.export_file(dem, format="aaigrid", clip="POINT(150500 419500)", buffer=100, bands=1) as g:
        assert g.filename == "dem_clip_b1.zip" and g.media_type == "application/zip"
        assert zipfile.ZipFile(g.path).namelist() == ["dem_clip_b1.asc", "dem_clip_b1.prj"]
    assert not os.path.exists(g.path) and not os.path.exists(path)


def test_postgresql_urls_go_to_the_postgis_backend(monkeypatch):
    seen = []
    fake = types.ModuleType("rastercover.io.raster_postgis")
    fake.PostgisRasterCoverage = lambda spec: seen.append(spec) or "coverage"
    monkeypatch.setitem(sys.modules, "rastercover.io.raster_postgis", fake)
    assert rastercover.open_coverage("postgresql://h/db?table=dem") == "coverage"
    assert rastercover.open_coverage("postgres://h/db?table=dem") == "coverage"
    assert seen == ["postgresql://h/db?table=dem", "postgres://h/db?table=dem"]


# ---------------------------------------------------------------------- real data
def test_gredos_dem_clipped_by_a_buffered_watershed(realdata, tmp_path):
    base = realdata / "gredos_watersheds_dem25"
    df = pyogrio.read_dataframe(base / "watersheds.shp")
    geom = df.geometry.values[3]
    r = rastercover.export(base / "dem25.tif", tmp_path / "ws.tif", clip=geom, buffer=250)
    ref, ref_t = _oracle(base / "dem25.tif", [geom.buffer(250, quad_segs=8)])
    a, transform, crs, nodata, _ = _read(r.path)
    assert transform == ref_t and nodata == -32768 and crs.to_epsg() == 23030
    assert np.array_equal(a, ref) and (a != -32768).sum() > 1000
    z = rastercover.export(base / "dem25.tif", tmp_path / "ws.zip", clip=geom, buffer=250)
    b = _read(z.path, "ws.asc")[0]
    assert np.array_equal(a, b)


def test_gredos_dem_clipped_by_a_watershed_chosen_by_id(realdata, tmp_path):
    """The clip as one feature of a layer: watershed ID 5 of the shapefile, buffered 100 m, == rasterio.mask."""
    base = realdata / "gredos_watersheds_dem25"
    df = pyogrio.read_dataframe(base / "watersheds.shp")
    geom = df.geometry.values[list(df["ID"]).index(5)]
    r = rastercover.export(
        base / "dem25.tif",
        tmp_path / "ws5.tif",
        clip_layer=base / "watersheds.shp",
        clip_id="5",
        clip_id_column="ID",
        buffer=100,
    )
    ref, ref_t = _oracle(base / "dem25.tif", [geom.buffer(100, quad_segs=8)])
    a, transform, crs, *_ = _read(r.path)
    assert transform == ref_t and crs.to_epsg() == 23030 and np.array_equal(a, ref)
    by_fid = rastercover.export(
        base / "dem25.tif",
        tmp_path / "ws5b.tif",
        clip_layer=base / "watersheds.shp",
        clip_id=list(df["ID"]).index(5),
        buffer=100,
    )
    assert np.array_equal(_read(by_fid.path)[0], a)


def test_clip_layer_in_another_crs_and_the_seed_command(dem, tmp_path, capsys):
    """A GeoPackage of burned areas in lon/lat; `--clip-layer burned.gpkg --clip-id 2 --envelope --buffer 60`."""
    to_ll = Transformer.from_crs(CRS_CODE, "EPSG:4326", always_xy=True)
    polys = [
        shapely.box(150100, 419000, 150400, 419300),
        shapely.Polygon([(150300, 419600), (150900, 419450), (150700, 419100)]),
    ]
    ll = [shapely.transform(p, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1]))) for p in polys]
    gpkg = tmp_path / "burned.gpkg"
    pyogrio.write_dataframe(
        __import__("geopandas").GeoDataFrame({"name": ["a", "b"]}, geometry=ll, crs="EPSG:4326"),
        gpkg,
        layer="burned",
    )
    out = tmp_path / "lc.tif"
    code, _, err = run(
        ["export", dem, "-o", str(out), "--clip-layer", str(gpkg), "--clip-id", "2", "--envelope", "--buffer", "60"],
        capsys,
    )
    assert code == 0, err
    back = shapely.transform(
        ll[1],
        lambda xy: np.column_stack(
            Transformer.from_crs("EPSG:4326", CRS_CODE, always_xy=True).transform(xy[:, 0], xy[:, 1])
        ),
    )
    zone = shapely.box(*back.bounds).buffer(60, quad_segs=8)
    ref, ref_t = _oracle(dem, [zone])
    a, transform, *_ = _read(out)
    assert transform == ref_t and np.array_equal(a, ref)
    code, _, err = run(["export", dem, "-o", str(tmp_path / "x.tif"), "--clip-id", "2"], capsys)
    assert code == 2 and "choose a feature of clip_layer" in err
    code, _, err = run(
        ["export", dem, "-o", str(tmp_path / "x.tif"), "--clip-layer", str(gpkg), "--clip", "POINT (1 1)"], capsys
    )
    assert code == 2 and "not both" in err
    code, _, err = run(["export", dem, "-o", str(tmp_path / "x.tif"), "--clip-layer", str(gpkg)], capsys)
    assert code == 2 and "needs the id of the feature" in err
    assert sorted(os.listdir(tmp_path)) == ["burned.gpkg", "lc.tif"]


# ---------------------------------------------------------------------- command line
def run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_cli_export_with_clip_file(dem, tmp_path, capsys):
    clip = tmp_path / "area.geojson"
    clip.write_text(json.dumps(shapely.geometry.mapping(shapely.box(150100, 419000, 150700, 419800))))
    out = tmp_path / "o.asc"
    code, stdout, err = run(
        ["export", dem, "-o", str(out), "--clip", f"@{clip}", "--buffer", "30", "--bands", "1"], capsys
    )
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}: aaigrid (+ o.prj), 23x30 px") and out.exists()
    code, _, err = run(["export", dem, "-o", str(out), "--bbox", "150000", "419000", "150300", "420000"], capsys)
    assert code == 2 and err.count("\n") == 1 and "exists already" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "webp"], "unknown format 'webp'"),
        (["--clip", "@/nonexistent.geojson"], "cannot read /nonexistent.geojson"),
        (["--bands", "1,9"], "no band 9"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(dem, tmp_path, capsys, args, message):
    code, _, err = run(["export", dem, "-o", str(tmp_path / "x.tif"), *args], capsys)
    assert code == 2 and err.startswith("rastercover: error: ") and err.count("\n") == 1 and message in err
    assert os.listdir(tmp_path) == []


def test_cli_formats_lists_what_gdal_has(capsys):
    code, out, _ = run(["formats"], capsys)
    assert code == 0
    keys = [line.split()[0] for line in out.splitlines() if not line.startswith("not available")]
    assert keys[:6] == ["gtiff", "cog", "aaigrid", "xyz", "png", "jpeg"]


# ---------------------------------------------------------------------- folders laid out by their tiles' names
def _copy_folder(src, dst, drop=()):
    import shutil

    shutil.copytree(src, dst)
    for name in drop:
        os.remove(os.path.join(dst, name))
    return str(dst)


@pytest.mark.parametrize("drop", [(), ("r0_c0.tif", "r0_c1.tif", "r0_c2.tif", "r0_c3.tif"), ("r2_c3.tif",)])
def test_named_tile_folder_opens_from_a_few_headers_with_the_scanned_grid(tile_folders, tmp_path, monkeypatch, drop):
    from rastercover.io.raster_grid import grid_of_tiles

    folder = _copy_folder(tile_folders[0], tmp_path / "f", drop)
    opened = []
    real_open = rasterio.open
    monkeypatch.setattr(
        rasterio, "open", lambda p, *a, **k: opened.append(os.path.basename(str(p))) or real_open(p, *a, **k)
    )
    cov = FileCoverage(folder)
    assert len(opened) <= 4
    monkeypatch.setattr(rasterio, "open", real_open)
    # the names' layout: tile r{row}_c{col} is tile (row, col), the grid starting at r0_c0 present or not;
    # the same tiles in the same places as a full scan of the headers finds them
    scan = grid_of_tiles(folder)
    assert cov.grid.aligned_with(scan) and cov.grid.tile_size == scan.tile_size
    assert {cov.grid.tile(*t.index).grid.bounds for t in cov.grid.tiles()} == {t.grid.bounds for t in scan.tiles()}
    whole = cov.read(Window(0, 0, cov.grid.width, cov.grid.height))
    with rasterio.open(os.path.join(tile_folders[1], "index.vrt")) as ds:
        ref = ds.read()
        assert cov.grid.transform == ds.transform
    expect = ref.copy()
    if "r0_c0.tif" in drop:
        expect[:, :16, :] = -9999
    if "r2_c3.tif" in drop:
        expect[:, 32:, 48:] = -9999
    assert np.array_equal(whole, expect)


@pytest.mark.parametrize(
    ("tile", "kwargs", "match"),
    [
        ("r1_c2.tif", {"transform": T @ Affine.translation(32 + 3, 16)}, r"tile r1_c2.tif is misplaced"),
        ("r1_c2.tif", {"dtype": "int16"}, r"tile r1_c2.tif has pixel types \('int16',\)"),
        ("r1_c2.tif", {"size": (8, 16)}, r"tile r1_c2.tif is 8x16 px but its name puts it in a 16x16 place"),
    ],
)
def test_a_named_tile_out_of_place_is_refused_on_first_read(tile_folders, tmp_path, tile, kwargs, match):
    folder = _copy_folder(tile_folders[0], tmp_path / "f")
    w, h = kwargs.get("size", (16, 16))
    a = np.ones((1, h, w))
    _write(
        os.path.join(folder, tile),
        a,
        dtype=kwargs.get("dtype", "float32"),
        nodata=-9999,
        tiled=False,
        transform=kwargs.get("transform", T @ Affine.translation(32, 16)),
    )
    cov = FileCoverage(folder)
    cov.read(Window(0, 0, 16, 16))  # tiles elsewhere read fine
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(AlignmentError, match=match):
        rastercover.export(folder, out / "x.tif")
    assert os.listdir(out) == []
