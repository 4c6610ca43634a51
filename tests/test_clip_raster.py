"""A raster as the clip (the first article's request), buffers like PostGIS, and one file per tile.

The article clips ``landcover`` by ``ST_Buffer(ST_Envelope(burnedarea.rast), 1000)``, ``burnedarea`` being a
*raster* table. The tests run that request as one rastercover command, in PostGIS and in files, and compare it
pixel for pixel with PostGIS's own ``ST_Union(ST_Clip(...))`` on the test cluster.
"""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

import rastercover
from rastercover.errors import InputError, OutputError
from rastercover.grid import Grid
from rastercover.io.clip_feature import read_clip_feature
from rastercover.io.clip_raster import is_raster_path, read_raster_footprint
from rastercover.io.coverage_file import FileCoverage
from rastercover.ops.piece import prepare_clip
from tests.test_postgis_io import CRS, loc, tile_raster_in_sql, write_dem

LANDCOVER = Grid(200, 150, Affine(30, 0, 150000, 0, -30, 404500), CRS, tile_size=50)
# burned areas: rasters on grids of their own (10 m, origins off the landcover's lattice), as an analyst has them
BURNED = [
    (120, 80, 151010.0, 403210.0, 10.0),  # (width, height, ulx, uly, pixel size)
    (95, 130, 153004.5, 402603.3, 10.0),
    (40, 40, 155000.0, 400400.0, 12.5),
]


def _burned_array(i: int, w: int, h: int) -> np.ndarray:
    """Band 1 of burned raster ``i``: 1 inside an irregular blob, nodata (0) around it."""
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((xx - w / 2) / (w / 2.2)) ** 2 + ((yy - h / 2) / (h / 2.6)) ** 2 + 0.3 * np.sin(xx / 7.0 + i) < 1
    return inside.astype("uint8")


def _write_burned(path, i: int) -> None:
    w, h, x0, y0, px = BURNED[i]
    with rasterio.open(
        path, "w", driver="GTiff", width=w, height=h, count=1, dtype="uint8", nodata=0, crs=CRS,
        transform=Affine(px, 0, x0, 0, -px, y0),
    ) as ds:  # fmt: skip
        ds.write(_burned_array(i, w, h), 1)


@pytest.fixture
def article_files(tmp_path):
    """landcover.tif (tiled 50 px) and burned{1,2,3}.tif, like the article's tables."""
    landcover = tmp_path / "landcover.tif"
    write_dem(landcover, LANDCOVER, dtype="uint8", nodata=255, seed=5)
    for i in range(3):
        _write_burned(tmp_path / f"burned{i + 1}.tif", i)
    return tmp_path


@pytest.fixture
def article(pg_conn, article_files):
    """The article's two raster tables: landcover tiled 50x50 (what raster2pgsql -t 50x50 loads), burnedarea with
    one raster per row, rid 1..3; and the same data as files. Returns ``(folder, connection)``."""
    tile_raster_in_sql(pg_conn, "landcover", str(article_files / "landcover.tif"), 50)
    pg_conn.execute("DROP TABLE IF EXISTS burnedarea")
    pg_conn.execute("CREATE TABLE burnedarea (rid serial PRIMARY KEY, rast raster, burnname text)")
    for i in range(3):
        blob = (article_files / f"burned{i + 1}.tif").read_bytes()
        pg_conn.execute(
            "INSERT INTO burnedarea (rast, burnname) VALUES (ST_FromGDALRaster(%s), %s)", (blob, f"fire {i + 1}")
        )
    return article_files, pg_conn


def _postgis_clip(pg_conn, zone_sql: str, rid: int) -> tuple[np.ndarray, Affine, float]:
    """PostGIS's own answer: ``ST_Union(ST_Clip(l.rast, <zone>))`` over the landcover tiles the zone meets."""
    blob = pg_conn.execute(
        f"SELECT ST_AsTIFF(ST_Union(ST_Clip(l.rast, z.zone))) FROM landcover l, "
        f"(SELECT {zone_sql} AS zone FROM burnedarea b WHERE b.rid = %s) z WHERE ST_Intersects(l.rast, z.zone)",
        (rid,),
    ).fetchone()[0]
    with rasterio.MemoryFile(bytes(blob)) as mem, mem.open() as ds:
        return ds.read(1), ds.transform, ds.nodata


def _read(path) -> tuple[np.ndarray, Affine, float]:
    with rasterio.open(path) as ds:
        return ds.read(1), ds.transform, ds.nodata


def _export(capsys, args: list[str]) -> None:
    from tests.test_cli import run

    code, _, err = run(["export", *args], capsys)
    assert code == 0, err


@pytest.mark.parametrize("rid", [1, 2, 3])
def test_the_articles_request_in_postgis_is_one_command_equal_to_postgis(pg_url, article, tmp_path, rid, capsys):
    """``rastercover export landcover --clip-layer burnedarea --clip-id 2 --envelope --buffer 1000`` against
    ``ST_Union(ST_Clip(l.rast, ST_Buffer(ST_Envelope(b.rast), 1000)))``: same grid, same pixels.

    (The article's own query filters the landcover rows with ``ST_Intersects(l.rast, b.rast)``, which drops tiles
    that only the buffer reaches; PostGIS's answer here keeps every tile the buffered zone meets, as the export
    does.)
    """
    files, conn = article
    out = tmp_path / f"clip{rid}.tif"
    _export(
        capsys,
        [
            *(loc(pg_url, "landcover"), "-o", str(out)),
            *("--clip-layer", loc(pg_url, "burnedarea"), "--clip-id", str(rid), "--envelope", "--buffer", "1000"),
            *("--crop", "postgis"),
        ],
    )
    ref, ref_t, ref_nodata = _postgis_clip(conn, "ST_Buffer(ST_Envelope(b.rast), 1000)", rid)
    got, got_t, got_nodata = _read(out)
    assert got_t == ref_t and got_nodata == ref_nodata == 255
    np.testing.assert_array_equal(got, ref)
    assert (got != 255).sum() > 1000  # a real mosaic of several 50 px tiles, not an empty answer
    # the same request on files: the landcover tiled like the table (a folder of 50 px tiles) clipped by the burned
    # area's own GeoTIFF
    out_files = tmp_path / f"files{rid}.tif"
    lc, burned = str(tmp_path / "landcover_tiles"), str(files / f"burned{rid}.tif")
    rastercover.export(FileCoverage(files / "landcover.tif", tile_size=50), lc, per_tile=True)
    _export(capsys, [lc, "-o", str(out_files), "--clip-layer", burned, "--envelope", "--buffer", "1000",
                     "--crop", "postgis"])  # fmt: skip
    got, got_t, _ = _read(out_files)
    assert got_t == ref_t
    np.testing.assert_array_equal(got, ref)
    # the default crop (the clip's bounds snapped outward, as rasterio.mask): the same pixels kept, and only
    # all-nodata columns or rows more or fewer at the far edges
    tight = tmp_path / f"tight{rid}.tif"
    _export(capsys, [lc, "-o", str(tight), "--clip-layer", burned, "--envelope", "--buffer", "1000"])
    got, got_t, _ = _read(tight)
    assert got_t == ref_t
    h, w = min(got.shape[0], ref.shape[0]), min(got.shape[1], ref.shape[1])
    np.testing.assert_array_equal(got[:h, :w], ref[:h, :w])
    assert (got[h:] == 255).all() and (got[:, w:] == 255).all() and (ref[h:] == 255).all() and (ref[:, w:] == 255).all()
    assert abs(got.shape[0] - ref.shape[0]) <= 1 and abs(got.shape[1] - ref.shape[1]) <= 1


def test_a_sixteen_segment_buffer_moves_corner_pixels(pg_url, article, tmp_path, capsys):
    """Why buffers have PostGIS's 8 segments per quarter circle: 16 (shapely's default) moves corner pixels;
    ``--buffer-segments 16`` equals ``ST_Buffer(..., 16)``."""
    _files, conn = article
    ref, ref_t, _ = _postgis_clip(conn, "ST_Buffer(ST_Envelope(b.rast), 1000)", 2)
    outs = {}
    for n in (8, 16):
        outs[n] = tmp_path / f"seg{n}.tif"
        _export(capsys, [loc(pg_url, "landcover"), "-o", str(outs[n]), "--clip-layer", loc(pg_url, "burnedarea"),
                 "--clip-id", "2", "--envelope", "--buffer", "1000", "--buffer-segments", str(n), "--crop",
                          "postgis"])  # fmt: skip
    np.testing.assert_array_equal(_read(outs[8])[0], ref)
    sixteen, t16, _ = _read(outs[16])
    assert t16 == ref_t and 0 < (sixteen != ref).sum() <= 40
    ref16, _, _ = _postgis_clip(conn, "ST_Buffer(ST_Envelope(b.rast), 1000, 16)", 2)
    np.testing.assert_array_equal(sixteen, ref16)


@pytest.mark.parametrize("rid", [1, 2])
def test_data_footprint_is_st_polygon_in_postgis_and_in_files(pg_url, article, tmp_path, rid, capsys):
    """``--clip-footprint data``: the burned pixels themselves (``ST_Polygon(rast)``), buffered by 45 m."""
    files, conn = article
    pg_geom, pg_crs = read_clip_feature(loc(pg_url, "burnedarea"), rid, footprint="data")
    file_geom, file_crs = read_raster_footprint(files / f"burned{rid}.tif", None, footprint="data")
    assert pg_crs.to_epsg() == file_crs.to_epsg() == 32198
    assert shapely.equals(pg_geom, file_geom)
    w, h, _x0, _y0, px = BURNED[rid - 1]
    assert file_geom.area == pytest.approx(_burned_array(rid - 1, w, h).sum() * px * px, rel=1e-12)
    out = tmp_path / "data.tif"
    _export(capsys, [loc(pg_url, "landcover"), "-o", str(out), "--clip-layer", loc(pg_url, "burnedarea"), "--clip-id",
             str(rid), "--clip-footprint", "data", "--buffer", "45", "--crop", "postgis"])  # fmt: skip
    ref, ref_t, _ = _postgis_clip(conn, "ST_Buffer(ST_Polygon(b.rast), 45)", rid)
    got, got_t, _ = _read(out)
    assert got_t == ref_t
    np.testing.assert_array_equal(got, ref)


def test_a_raster_clip_layer_by_an_id_column_and_its_errors(pg_url, article):
    _files, conn = article
    by_name, _ = read_clip_feature(loc(pg_url, "burnedarea"), "fire 3", id_column="burnname")
    by_rid, _ = read_clip_feature(loc(pg_url, "burnedarea"), 3)
    assert shapely.equals(by_name, by_rid) and by_rid.bounds == (155000.0, 399900.0, 155500.0, 400400.0)
    with pytest.raises(InputError, match=r"no feature has rid = 9 in .*burnedarea.*: rid runs from 1 to 3"):
        read_clip_feature(loc(pg_url, "burnedarea"), 9)
    with pytest.raises(InputError, match="clip_layer needs the id of the feature"):
        read_clip_feature(loc(pg_url, "burnedarea"), None)
    with pytest.raises(InputError, match="clip_footprint 'pixels' is not one of extent, data"):
        read_clip_feature(loc(pg_url, "burnedarea"), 1, footprint="pixels")
    with pytest.raises(InputError, match="column rast of .* holds raster values, not ids"):
        read_clip_feature(loc(pg_url, "burnedarea"), 1, id_column="rast")
    conn.execute(  # rid 4: every pixel nodata
        "INSERT INTO burnedarea (rast) SELECT ST_AddBand(ST_MakeEmptyRaster(10, 10, 155000, 400400, 10, -10, 0, 0, "
        "32198), '8BUI'::text, 0, 0)"
    )
    with pytest.raises(InputError, match="rid = 4 .* holds no pixel with data in band 1"):
        read_clip_feature(loc(pg_url, "burnedarea"), 4, footprint="data")
    assert read_clip_feature(loc(pg_url, "burnedarea"), 4)[0].area == 10000


def test_raster_files_and_tile_folders_as_clip_layers(article_files, tmp_path):
    files = article_files
    lc = files / "landcover.tif"
    geom, crs = read_raster_footprint(files / "burned2.tif", None)
    w, h, x0, y0, px = BURNED[1]
    assert shapely.equals(geom, shapely.box(x0, y0 - h * px, x0 + w * px, y0)) and crs.to_epsg() == 32198
    # a tile folder: one tile by its file name, or the whole folder (the union of its tiles)
    folder = tmp_path / "lc_tiles"
    r = rastercover.export(FileCoverage(lc, tile_size=50), folder, per_tile=True)  # tiles of 50 px, as in PostGIS
    assert len(r.files) == 1 + 12
    one, _ = read_raster_footprint(folder, "landcover_r1_c2")
    assert one.bounds == (150000 + 100 * 30, 404500 - 100 * 30, 150000 + 150 * 30, 404500 - 50 * 30)
    whole, _ = read_raster_footprint(folder, None)
    assert shapely.equals(whole, shapely.box(*LANDCOVER.bounds))
    with pytest.raises(InputError, match=r"no tile 'r9_c9' in .*lc_tiles: its tiles are landcover_r0_c0.tif"):
        read_raster_footprint(folder, "r9_c9")
    with pytest.raises(InputError, match="is not a tile of"):
        read_raster_footprint(folder, "../landcover.tif")
    with pytest.raises(InputError, match=r"burned2.tif is one raster, the clip itself: drop the clip id 2"):
        rastercover.export(lc, tmp_path / "x.tif", clip_layer=files / "burned2.tif", clip_id=2)
    with pytest.raises(InputError, match="clip_layer_name= does not apply to a raster clip layer"):
        rastercover.export(lc, tmp_path / "x.tif", clip_layer=files / "burned2.tif", clip_layer_name="b")
    # a tile of a folder as the clip: exactly that tile's pixels of the landcover
    r = rastercover.export(lc, tmp_path / "t.tif", clip_layer=folder, clip_id="landcover_r1_c2.tif")
    with rasterio.open(lc) as src, rasterio.open(r.path) as ds:
        np.testing.assert_array_equal(ds.read(1), src.read(1)[50:100, 100:150])
    assert not (tmp_path / "x.tif").exists()


def test_raster_paths_are_told_from_vector_paths(tmp_path, article_files):
    import geopandas as gpd

    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=CRS).to_file(tmp_path / "v.gpkg")
    assert is_raster_path(article_files / "burned1.tif")
    assert not is_raster_path(tmp_path / "v.gpkg")
    assert not is_raster_path(tmp_path / "roads.shp")
    with pytest.raises(InputError, match=r"v.gpkg is a vector layer: clip_footprint='data' applies to a raster"):
        rastercover.export(article_files / "landcover.tif", tmp_path / "x.tif", clip_layer=tmp_path / "v.gpkg",
                           clip_id=1, clip_footprint="data")  # fmt: skip
    with pytest.raises(InputError, match="clip_footprint applies to a raster clip layer"):
        rastercover.export(article_files / "landcover.tif", tmp_path / "x.tif", clip="POINT (1 1)",
                           clip_footprint="data")  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(st.just(0.0), st.floats(0.001, 2000), st.floats(-250, -0.001)), st.integers(1, 64), st.floats(0, 1),
    st.floats(0, 1),
)  # fmt: skip
def test_buffers_have_the_segments_asked(buffer, segments, fx, fy):
    """The clip's buffer is shapely's with ``quad_segs=segments`` (ST_Buffer's ``quad_segs``), 8 by default."""
    box = shapely.box(100 + fx * 50, 100 + fy * 50, 900, 700)
    got = prepare_clip(box, None, None, buffer=buffer, envelope=False, segments=segments)
    want = shapely.buffer(box, buffer, quad_segs=segments) if buffer else box
    assert shapely.equals_exact(got, want, tolerance=0)
    if buffer > 0:
        assert len(shapely.get_coordinates(got)) == 4 * segments + 5  # 4 arcs of `segments` + 4 sides, closed
    default = prepare_clip(box, None, None, buffer=buffer, envelope=False)
    assert shapely.equals_exact(default, shapely.buffer(box, buffer, quad_segs=8) if buffer else box, tolerance=0)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "many", 10**6])
def test_bad_buffer_segments_are_refused(article_files, tmp_path, bad):
    with pytest.raises(InputError, match=r"buffer_segments .* is not a whole number from 1 to 1000"):
        rastercover.export(article_files / "landcover.tif", tmp_path / "x.tif", clip="POINT (151000 402000)",
                           buffer=10, buffer_segments=bad)  # fmt: skip


# ---------------------------------------------------------------------- one file per tile
def _mosaic(paths, grid: Grid, nodata) -> np.ndarray:
    out = np.full((grid.height, grid.width), nodata, dtype="uint8")
    for p in paths:
        with rasterio.open(p) as ds:
            win = rasterio.windows.from_bounds(*ds.bounds, transform=grid.transform).round_offsets().round_lengths()
            out[win.row_off : win.row_off + win.height, win.col_off : win.col_off + win.width] = ds.read(1)
    return out


@pytest.mark.parametrize("kind", ["folder", "zip", "asc-folder"])
def test_per_tile_writes_each_tile_the_clip_meets_with_the_single_files_pixels(article_files, tmp_path, kind):
    files = article_files
    lc = FileCoverage(files / "landcover.tif", tile_size=50)
    clip = dict(clip_layer=files / "burned2.tif", envelope=True, buffer=1000)
    single = rastercover.export(lc, tmp_path / "single.tif", **clip)
    with rasterio.open(single.path) as ds:
        whole, grid = ds.read(1), Grid(ds.width, ds.height, ds.transform, CRS)
    fmt = {"asc-folder": "aaigrid"}.get(kind)
    out = tmp_path / ("tiles.zip" if kind == "zip" else "tiles")
    r = rastercover.export(lc, out, per_tile=True, format=fmt, **clip)
    assert r.path == str(out) and (r.width, r.height) == (grid.width, grid.height)
    ext = ".asc" if fmt else ".tif"
    if kind == "zip":
        with zipfile.ZipFile(out) as z:
            names = sorted(z.namelist())
            z.extractall(tmp_path / "unzipped")
        assert r.members == tuple(names)
        paths = [tmp_path / "unzipped" / n for n in names if n.endswith(ext)]
    else:
        names = sorted(os.listdir(out))
        paths = [out / n for n in names if n.endswith(ext)]
        if fmt:
            assert sorted(n for n in names if n.endswith(".prj")) == [p.stem + ".prj" for p in sorted(paths)]
    # the 50 px tiles of the landcover that the buffered envelope meets and keeps a pixel of
    stems = sorted(p.stem for p in paths)
    assert stems == [f"landcover_r{r}_c{c}" for r in range(3) for c in range(1, 4)]  # columns 66-165, rows 29-139
    for p in paths:
        with rasterio.open(p) as ds:
            assert ds.crs.to_epsg() == 32198 and ds.width <= 50 and ds.height <= 50
    np.testing.assert_array_equal(_mosaic(paths, grid, 255), whole)
    assert r.notes[0].startswith("9 tile file(s)")


def test_per_tile_of_a_postgis_table_names_tiles_by_rid_and_refuses_what_it_cannot(pg_url, article, tmp_path):
    files, _conn = article
    bbox = (151000, 402000, 152600, 403000)
    r = rastercover.export(loc(pg_url, "landcover"), tmp_path / "landcover_bbox_tiles", per_tile=True, bbox=bbox)
    assert r.path == str(tmp_path / "landcover_bbox_tiles")
    names = sorted(os.listdir(r.path))
    assert names == ["landcover_rid5.tif", "landcover_rid6.tif"]  # tiles (1, 0), (1, 1): rid = 4 * row + col + 1
    single = rastercover.export(loc(pg_url, "landcover"), tmp_path / "one.tif", bbox=bbox)
    with rasterio.open(single.path) as ds:
        grid = Grid(ds.width, ds.height, ds.transform, CRS)
        np.testing.assert_array_equal(_mosaic([os.path.join(r.path, n) for n in names], grid, 255), ds.read(1))
    with pytest.raises(InputError, match="per_tile writes the coverage's own tiles, which a warp does not keep"):
        rastercover.export(files / "landcover.tif", tmp_path / "w", per_tile=True, crs="EPSG:4326")
    with pytest.raises(InputError, match="name a folder"):
        rastercover.export(files / "landcover.tif", tmp_path / "w.tif", per_tile=True)
    with pytest.raises(InputError, match="the clip keeps no pixel of any tile"):
        rastercover.export(
            files / "landcover.tif",
            tmp_path / "w",
            per_tile=True,
            clip="POLYGON ((151001 402001, 151002 402001, 151002 402002, 151001 402001))",
        )
    assert sorted(os.listdir(tmp_path)) == sorted(["landcover_bbox_tiles", "one.tif", "landcover.tif",
                                                   "burned1.tif", "burned2.tif", "burned3.tif"])  # fmt: skip


def test_per_tile_from_the_command_line(article_files, tmp_path, capsys):
    from tests.test_cli import run

    tiles = tmp_path / "lc"
    rastercover.export(FileCoverage(article_files / "landcover.tif", tile_size=50), tiles, per_tile=True)
    code, out, err = run(["export", str(tiles), "-o", str(tmp_path / "t.zip"), "--per-tile", "--bbox", "150000",
                          "400000", "151600", "404500"], capsys)  # fmt: skip
    assert code == 0, err
    with zipfile.ZipFile(tmp_path / "t.zip") as z:
        assert sorted(z.namelist()) == [f"lc_r{r}_c{c}.tif" for r in range(3) for c in range(2)]
        with rasterio.MemoryFile(io.BytesIO(z.read("lc_r2_c1.tif"))) as mem, mem.open() as ds:
            assert (ds.width, ds.height) == (4, 50)  # the bbox's last column of tiles: 1600 m = 53.3 -> 54 px


def test_per_tile_for_a_web_view_is_one_zip_of_tiles(article_files):
    """``export_file(..., per_tile=True)``: the article's ``write_all`` as one attachment, every tile inside."""
    lc = FileCoverage(article_files / "landcover.tif", tile_size=50)
    with rastercover.export_file(lc, per_tile=True, format="aaigrid", bbox=(150000, 403000, 152000, 404500)) as f:
        assert f.filename == "landcover_bbox_tiles.zip" and f.media_type == "application/zip"
        with zipfile.ZipFile(f.path) as z:
            assert sorted(z.namelist()) == sorted(  # named for the download, as the zip is
                f"landcover_bbox_r0_c{c}{ext}" for c in range(2) for ext in (".asc", ".prj")
            )
    assert not os.path.exists(f.path)
    with pytest.raises(InputError, match="per_tile files are delivered as one zip"):
        rastercover.export_file(lc, per_tile=True, zipped=False)


def test_per_tile_replaces_a_folder_only_with_overwrite_and_refuses_formats_without_position(article_files, tmp_path):
    lc = FileCoverage(article_files / "landcover.tif", tile_size=50)
    out = tmp_path / "tiles"
    rastercover.export(lc, out, per_tile=True, bbox=(150000, 403000, 151000, 404500))
    with pytest.raises(OutputError, match="exists already"):
        rastercover.export(lc, out, per_tile=True, bbox=(151600, 403000, 152000, 404500))
    rastercover.export(lc, out, per_tile=True, bbox=(151600, 403000, 152000, 404500), overwrite=True)
    assert sorted(os.listdir(out)) == ["landcover_r0_c1.tif"]  # replaced, not nested
    for fmt in ("png", "jpeg", "xyz"):
        with pytest.raises(InputError, match=f"per_tile writes bare {fmt} files, which would lose their position"):
            rastercover.export(lc, tmp_path / "t.zip", per_tile=True, format=fmt)
    with pytest.raises(InputError, match=r"gpkg cannot hold int16 pixels, .* one pixel type: give dtype="):
        rastercover.export(FileCoverage(article_files / "landcover.tif"), tmp_path / "g.zip", per_tile=True,
                           format="gpkg", dtype="int16")  # fmt: skip
    assert not (tmp_path / "t.zip").exists() and not (tmp_path / "g.zip").exists()


def test_sparse_tile_folders_missing_tiles_are_never_data(article_files, tmp_path):
    """A sparse folder without nodata: its missing tiles are not data for a data footprint, and an export gives
    them the nodata value it declares (they used to be 0 under nodata -1)."""
    folder = tmp_path / "sparse"
    data = np.arange(150 * 200, dtype="int32").reshape(150, 200) % 97 + 1
    folder.mkdir()
    for r, c in [(0, 0), (0, 1), (1, 1), (2, 3)]:  # 4 of the 12 tiles of 50 px
        with rasterio.open(
            folder / f"r{r}_c{c}.tif", "w", driver="GTiff", width=50, height=50, count=1, dtype="int32", crs=CRS,
            transform=LANDCOVER.transform * Affine.translation(c * 50, r * 50),
        ) as ds:  # fmt: skip
            ds.write(data[r * 50 : r * 50 + 50, c * 50 : c * 50 + 50], 1)
    outline, _ = read_raster_footprint(folder, None)
    footprint, _ = read_raster_footprint(folder, None, footprint="data")
    assert shapely.equals(footprint, outline) and footprint.area == 4 * 50 * 50 * 900
    r = rastercover.export(folder, tmp_path / "s.tif", nodata=-1)
    with rasterio.open(r.path) as ds:
        got = ds.read(1)
        assert ds.nodata == -1 and ds.shape == (150, 200)
    present = np.zeros((150, 200), bool)
    for r_, c_ in [(0, 0), (0, 1), (1, 1), (2, 3)]:
        present[r_ * 50 : r_ * 50 + 50, c_ * 50 : c_ * 50 + 50] = True
    np.testing.assert_array_equal(got[present], data[present])
    assert (got[~present] == -1).all()
    r = rastercover.export(folder, tmp_path / "w.tif", resolution=60)  # a warp over the holes: nodata there too
    with rasterio.open(r.path) as ds:
        assert ds.nodata == -(2**31) and (ds.read(1)[-20:, :20] == ds.nodata).all()


def test_each_band_keeps_its_own_nodata(pg_url, pg_conn, tmp_path):
    """A table whose bands declare different nodata values: a band exported alone carries its own, several at
    once are refused (never masked with band 1's value)."""
    pg_conn.execute("DROP TABLE IF EXISTS twobands")
    pg_conn.execute(
        "CREATE TABLE twobands AS SELECT 1 AS rid, ST_SetValues(ST_SetValues(ST_AddBand(ST_MakeEmptyRaster(3, 2, "
        "150000, 404500, 30, -30, 0, 0, 32198), ARRAY[ROW(NULL, '8BUI', 0, 0), ROW(NULL, '16BSI', -999, -999)]"
        "::addbandarg[]), 1, 1, 1, ARRAY[[1, 2, 3], [0, 0, 0]]::double precision[][]), 2, 1, 1, "
        "ARRAY[[1, 2, 3], [-999, -999, -999]]::double precision[][]) AS rast"
    )
    r = rastercover.export(loc(pg_url, "twobands"), tmp_path / "b2.tif", bands=[2])
    with rasterio.open(r.path) as ds:
        assert ds.nodata == -999 and ds.read(1).tolist() == [[1, 2, 3], [-999, -999, -999]]
    with pytest.raises(InputError, match=r"band 1 has nodata 0.0 but band 2 has -999.0: .* one at a time"):
        rastercover.export(loc(pg_url, "twobands"), tmp_path / "b.tif")


def test_an_exact_grid_is_the_grid_even_with_a_clip(article_files, tmp_path):
    from rastercover.grid import Window

    lc = article_files / "landcover.tif"
    target = LANDCOVER.subgrid(Window(100, 100, 60, 40))
    clip = shapely.box(*target.bounds).buffer(-300)
    r = rastercover.export(lc, tmp_path / "g.tif", grid=target, clip=clip)
    with rasterio.open(r.path) as ds, rasterio.open(lc) as src:
        assert ds.transform == target.transform and ds.shape == (40, 60)
        got, ref = ds.read(1), src.read(1)[100:140, 100:160]
    inner = np.zeros((40, 60), bool)
    inner[10:30, 10:50] = True  # 300 m = 10 px inside each edge
    np.testing.assert_array_equal(got[inner], ref[inner])
    assert (got[~inner] == 255).all()
