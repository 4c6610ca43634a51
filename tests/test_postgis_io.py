"""PostGIS as a source and a sink, against the real PostGIS the test run starts (tests/pgcluster.py).

Vector tables read like the same features in a file; raster tables give the same grid as the raster file they
were tiled from; written raster tables are what PostGIS expects (raster_columns, ST_Value, GiST index); the
articles' method 1.3 gives what LAST_VALUE_AT_PIXEL_CENTROID gives; hostile identifiers inject nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from psycopg import sql

import rastercover
from rastercover.errors import AlignmentError, CRSError, InputError, MissingColumnError, OutputError, SourceError
from rastercover.grid import Grid, Window
from rastercover.io.pg import PgLocation
from rastercover.io.raster_postgis import PostgisRasterCoverage
from rastercover.io.vector_postgis import PostgisVectorSource
from tests.pgload import load_features

CRS = "EPSG:32198"


def loc(url: str, table: str) -> str:
    return f"{url}?table={table}"


def random_stands(seed: int, n: int = 60, extent=(150000, 400000, 153000, 403000)):
    """Overlapping random boxes and triangles with values (some NULL)."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = extent
    geoms = []
    for _ in range(n):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        w, h = rng.uniform(20, 400, 2)
        if rng.random() < 0.5:
            geoms.append(shapely.box(cx, cy, cx + w, cy + h))
        else:
            geoms.append(shapely.Polygon([(cx, cy), (cx + w, cy + rng.uniform(-h, h)), (cx + w / 3, cy + h)]))
    values = np.round(rng.uniform(1, 40, n), 2)
    values[rng.random(n) < 0.1] = np.nan
    return np.array(geoms, dtype=object), values


@pytest.fixture
def ref_grid() -> Grid:
    # 3000 m x 3000 m at 30 m, tiles of 40 px: irregular edge tiles (100 = 2 * 40 + 20)
    return Grid(100, 100, Affine(30, 0, 150000, 0, -30, 403000), CRS, tile_size=40)


def tile_raster_in_sql(conn, table: str, path: str, tile: int, *, shuffle_rids: bool = False) -> None:
    """What ``raster2pgsql -t TxT -I -C`` does, in SQL: ST_Tile of the file (no padding), rid serial."""
    with open(path, "rb") as f:
        blob = f.read()
    conn.execute("SET postgis.gdal_enabled_drivers = 'ENABLE_ALL'")
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))
    conn.execute(sql.SQL("CREATE TABLE {} (rid serial PRIMARY KEY, rast raster)").format(sql.Identifier(table)))
    conn.execute(
        sql.SQL("INSERT INTO {} (rast) SELECT ST_Tile(ST_FromGDALRaster(%s), %s, %s)").format(sql.Identifier(table)),
        (blob, tile, tile),
    )
    if shuffle_rids:
        conn.execute(sql.SQL("UPDATE {} SET rid = rid * 7 + 1000").format(sql.Identifier(table)))
    conn.execute(
        sql.SQL("SELECT AddRasterConstraints('public'::name, {}::name, 'rast'::name)").format(sql.Literal(table))
    )


def write_dem(path, grid: Grid, dtype="int16", nodata=-32768, seed=3):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 3000, (grid.height, grid.width)).astype(dtype)
    data[:3, :5] = nodata
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=1,
        dtype=dtype,
        crs=CRS,
        transform=grid.transform,
        nodata=nodata,
    ) as ds:
        ds.write(data, 1)
    return data


# ----------------------------------------------------------------------------------------------- locations
def test_location_parsing_keeps_libpq_parameters_and_hides_the_password():
    loc_ = PgLocation.parse('postgresql://u:s3cr%40t@h:5/db?sslmode=disable&table="A.b"."C;D"&column=g')
    assert (loc_.schema, loc_.table, loc_.column) == ("A.b", "C;D", "g")
    assert "sslmode=disable" in loc_.conninfo and "table" not in loc_.conninfo
    assert "s3cr" not in loc_.describe() and "u@h:5/db" in loc_.describe()
    with pytest.raises(InputError, match=r"\?table="):
        PgLocation.parse("postgresql://h/db")
    with pytest.raises(InputError, match="unbalanced"):
        PgLocation.parse('postgresql://h/db?table="abc')
    # libpq's default host (PGHOST, a socket): postgresql:///db keeps its //, which urlunsplit would drop
    assert PgLocation.parse("postgresql:///gis?table=t").conninfo == "postgresql:///gis"
    assert PgLocation.parse("postgresql:///gis?sslmode=require&table=t").describe() == (
        "postgresql:///gis?sslmode=require&table=t"
    )
    # a password written without percent-encoding (# ? / @ in it) is still never shown
    for raw in ("pa#ss", "pa/ss", "p@ss", "p?ss"):
        try:
            shown = PgLocation.parse(f"postgresql://me:{raw}@db/gis?table=t").describe()
        except InputError as exc:  # the URL no longer reads as one: the message hides the password too
            shown = str(exc)
        assert raw not in shown and "postgresql://me@" in shown, shown


def test_connection_errors_are_one_line_without_the_password(pg_cluster):
    url = f"postgresql://postgres:TopSecret99@127.0.0.1:{pg_cluster.port}/nosuchdb?table=t"
    with pytest.raises(SourceError) as err:
        PostgisVectorSource(url)
    text = str(err.value)
    assert "TopSecret99" not in text and "nosuchdb" in text and "\n" not in text


# ----------------------------------------------------------------------------------------------- vectors
@pytest.mark.parametrize("method", ["VALUE_OF_BIGGEST", "LAST_VALUE_AT_PIXEL_CENTROID", "COUNT_OF_POLYGONS"])
def test_vector_table_rasterizes_like_the_same_features_in_memory(pg_url, pg_conn, ref_grid, method):
    geoms, values = random_stands(1)
    load_features(pg_conn, "stands", geoms, values)
    got = rastercover.rasterize(loc(pg_url, "stands"), ref_grid, value="value", methods=[method])
    want = rastercover.rasterize(list(zip(geoms, values)), ref_grid, methods=[method], assume_crs=CRS)
    np.testing.assert_array_equal(got.values, want.values)
    assert np.isfinite(got.values).all() and (got.values != -9999).any()


def test_vector_source_reads_by_bbox_with_the_gist_index_in_table_order(pg_url, pg_conn):
    geoms, values = random_stands(2, n=200)
    load_features(pg_conn, "stands_bbox", geoms, values)
    src = PostgisVectorSource(loc(pg_url, "stands_bbox"), value="value")
    assert src.crs.to_epsg() == 32198 and src.srid == 32198
    np.testing.assert_allclose(src.bounds, shapely.total_bounds(geoms))
    bbox = (151000, 401000, 151500, 401500)
    feats = src.read(bbox)
    expect = np.flatnonzero(shapely.intersects(shapely.envelope(geoms), shapely.box(*bbox)))
    np.testing.assert_array_equal(feats.order, expect + 1)  # the primary key, in order
    np.testing.assert_array_equal(feats.value, values[expect])
    assert all(g.equals_exact(geoms[i], 0) for g, i in zip(feats.geometry, expect))
    # the bbox filter the source sends is one the GiST index serves
    query = src._select([sql.SQL("1")], bbox).as_string(pg_conn)
    pg_conn.execute("SET enable_seqscan = off")
    plan = "\n".join(r[0] for r in pg_conn.execute(sql.SQL("EXPLAIN " + query)).fetchall())
    pg_conn.execute("RESET enable_seqscan")
    assert "stands_bbox_geom_idx" in plan


def test_where_filter_and_values(pg_url, pg_conn, ref_grid):
    geoms, values = random_stands(3)
    load_features(pg_conn, "stands_where", geoms, values)
    src = PostgisVectorSource(loc(pg_url, "stands_where"), value="value", where="value > 20")
    feats = src.read(None)
    keep = values > 20
    np.testing.assert_array_equal(feats.value, values[keep])
    assert len(src.values()) == keep.sum()
    got = rastercover.rasterize(
        loc(pg_url, "stands_where"), ref_grid, value="value", where="value > 20", methods=["SUM_OF_AREAS"]
    )
    want = rastercover.rasterize(
        list(zip(geoms[keep], values[keep])), ref_grid, methods=["SUM_OF_AREAS"], assume_crs=CRS
    )
    np.testing.assert_array_equal(got.values, want.values)
    with pytest.raises(SourceError, match="no feature matches"):
        PostgisVectorSource(loc(pg_url, "stands_where"), where="value > 1000")
    with pytest.raises(SourceError, match="filter"):
        PostgisVectorSource(loc(pg_url, "stands_where"), where="no_such_column > 1")


def test_class_names_come_from_the_table_and_unnamed_values_are_checked(pg_url, pg_conn):
    """The PostGIS source names classes from its own column, rows passing the filter only; a value without a
    name that the band would store as a named class's pixel value is refused (its pixels would wear the name)."""
    boxes = [shapely.box(150000 + 10 * i, 400000, 150010 + 10 * i, 400010) for i in range(4)]
    load_features(pg_conn, "named", boxes, np.array([24.0, 25.0, 24.0, 50.4]))
    pg_conn.execute("ALTER TABLE named ADD COLUMN name text")
    pg_conn.execute("UPDATE named SET name = CASE value WHEN 24 THEN 'Deciduous' WHEN 25 THEN 'Evergreen' END")
    pg_conn.execute("UPDATE named SET name = 'Mixed' WHERE value = 25 AND id > 100")  # no row: one name each
    grid = Grid(4, 1, Affine(10, 0, 150000, 0, -10, 400010), CRS)
    da = rastercover.rasterize(loc(pg_url, "named"), grid, value="value", class_names="name",
                               methods="VALUE_OF_BIGGEST", dtype="int16", nodata=-1)  # fmt: skip
    assert da.values[0, 0].tolist() == [24, 25, 24, 50]
    assert json.loads(da.attrs["classes"]) == {"VALUE_OF_BIGGEST": {"24.0": "Deciduous", "25.0": "Evergreen"}}
    pg_conn.execute("UPDATE named SET value = 24.4 WHERE value = 50.4")  # stored as 24: Deciduous's pixel value
    with pytest.raises(InputError, match=r"values 24 \('Deciduous'\) and 24.4 \(no name\) are both stored as 24"):
        rastercover.rasterize(loc(pg_url, "named"), grid, value="value", class_names="name",
                              methods="VALUE_OF_BIGGEST", dtype="int16", nodata=-1)  # fmt: skip
    da = rastercover.rasterize(loc(pg_url, "named"), grid, value="value", class_names="name", where="value <> 24.4",
                               methods="VALUE_OF_BIGGEST", dtype="int16", nodata=-1)  # fmt: skip
    assert json.loads(da.attrs["classes"]) == {"VALUE_OF_BIGGEST": {"24.0": "Deciduous", "25.0": "Evergreen"}}
    with pytest.raises(MissingColumnError, match="no column 'nom' to name classes; its columns are id, value, name"):
        rastercover.rasterize(loc(pg_url, "named"), grid, value="value", class_names="nom", methods="VALUE_OF_BIGGEST")


def test_table_in_another_srid_is_reprojected_to_the_grid(pg_url, pg_conn, ref_grid):
    geoms, values = random_stands(4, n=30)
    from pyproj import Transformer

    fwd = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lonlat = shapely.transform(geoms, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    load_features(pg_conn, "stands_4326", lonlat, values, srid=4326)
    got = rastercover.rasterize(loc(pg_url, "stands_4326"), ref_grid, value="value", methods=["VALUE_OF_BIGGEST"])
    want = rastercover.rasterize(
        list(zip(lonlat, values)), ref_grid, methods=["VALUE_OF_BIGGEST"], assume_crs="EPSG:4326"
    )
    np.testing.assert_array_equal(got.values, want.values)
    assert (got.values != -9999).sum() > 100


def test_vector_source_errors_name_the_problem(pg_url, pg_conn):
    geoms, values = random_stands(5, n=5)
    load_features(pg_conn, "stands_err", geoms, values)
    pg_conn.execute("ALTER TABLE stands_err ADD COLUMN label text, ADD COLUMN geom2 geometry(Point, 32198)")
    with pytest.raises(SourceError, match="no table or view 'nope'"):
        PostgisVectorSource(loc(pg_url, "nope"))
    with pytest.raises(SourceError, match="2 geometry columns .*column=NAME"):
        PostgisVectorSource(loc(pg_url, "stands_err"))
    with pytest.raises(MissingColumnError, match="no column 'heigth'"):
        PostgisVectorSource(loc(pg_url, "stands_err") + "&column=geom", value="heigth")
    with pytest.raises(MissingColumnError, match="holds text values"):
        PostgisVectorSource(loc(pg_url, "stands_err") + "&column=geom", value="label")
    load_features(pg_conn, "stands_srid0", geoms, values, srid=0)
    with pytest.raises(CRSError, match="SRID 0"):
        PostgisVectorSource(loc(pg_url, "stands_srid0"))
    src = PostgisVectorSource(loc(pg_url, "stands_srid0"), assume_crs=CRS)
    assert src.crs.to_epsg() == 32198 and len(src.read((0, 0, 1e7, 1e7))) == 5


def test_hostile_identifiers_work_and_inject_nothing(pg_url, pg_conn, ref_grid):
    pg_conn.execute('CREATE SCHEMA IF NOT EXISTS "Odd.Schema"')
    pg_conn.execute("CREATE TABLE IF NOT EXISTS canary (x int)")
    table = 'St"ands; DROP TABLE canary;--'
    column = 'Hé"ight; DELETE'
    geoms, values = random_stands(6, n=20)
    load_features(pg_conn, table, geoms, values, schema="Odd.Schema", value_column=column, geom_column="The Geom")
    quoted = '"Odd.Schema"."' + table.replace('"', '""') + '"'
    from urllib.parse import quote

    url = f"{pg_url}?table={quote(quoted)}&column={quote('The Geom')}"
    got = rastercover.rasterize(url, ref_grid, value=column, methods=["VALUE_OF_BIGGEST"])
    want = rastercover.rasterize(list(zip(geoms, values)), ref_grid, methods=["VALUE_OF_BIGGEST"], assume_crs=CRS)
    np.testing.assert_array_equal(got.values, want.values)
    out_table = 'Out"put;DROP TABLE canary'
    out_quoted = '"Odd.Schema"."' + out_table.replace('"', '""') + '"'
    out = f"{pg_url}?table={quote(out_quoted)}"
    rastercover.rasterize(url, ref_grid, value=column, methods=["VALUE_OF_BIGGEST"], output=out)
    back = PostgisRasterCoverage(out).read(Window(0, 0, 100, 100))
    np.testing.assert_array_equal(back, want.values)
    assert pg_conn.execute("SELECT to_regclass('public.canary')").fetchone()[0] is not None
    n = pg_conn.execute(
        "SELECT count(*) FROM raster_columns WHERE r_table_schema = 'Odd.Schema' AND r_table_name = %s", (out_table,)
    ).fetchone()[0]
    assert n == 1


# ----------------------------------------------------------------------------------------------- rasters
def test_reference_grid_from_a_raster_table_equals_the_file_grid(pg_url, pg_conn, ref_grid, tmp_path):
    path = tmp_path / "dem.tif"
    data = write_dem(path, ref_grid)
    tile_raster_in_sql(pg_conn, "dem", str(path), 40)
    cov = PostgisRasterCoverage(loc(pg_url, "dem"))
    assert cov.grid == rastercover.open_grid(path, 40)
    assert rastercover.open_grid(loc(pg_url, "dem")) == rastercover.open_grid(path, 40)
    assert cov.grid.tile_size == (40, 40) and cov.grid.n_tiles == 9
    assert (cov.count, cov.dtype, cov.nodata, cov.pixel_types) == (1, np.dtype("int16"), -32768.0, ("16BSI",))
    np.testing.assert_array_equal(cov.read(Window(0, 0, 100, 100))[0], data)
    np.testing.assert_array_equal(cov.read(Window(35, 38, 30, 9))[0], data[38:47, 35:65])
    # a window beyond the coverage is nodata there
    part = cov.read(Window(90, 90, 20, 20))[0]
    np.testing.assert_array_equal(part[:10, :10], data[90:, 90:])
    assert (part[10:, :] == -32768).all() and (part[:, 10:] == -32768).all()


def test_misaligned_and_out_db_raster_tables_are_refused(pg_url, pg_conn, ref_grid, tmp_path):
    path = tmp_path / "dem.tif"
    write_dem(path, ref_grid)
    tile_raster_in_sql(pg_conn, "dem_shift", str(path), 40)
    pg_conn.execute(
        "SELECT DropRasterConstraints(rastschema => 'public', rasttable => 'dem_shift', rastcolumn => 'rast', "
        "srid => true)"
    )
    pg_conn.execute(
        "UPDATE dem_shift SET rast = ST_SetUpperLeft(rast, ST_UpperLeftX(rast) + 7, ST_UpperLeftY(rast)) WHERE rid = 5"
    )
    with pytest.raises(AlignmentError, match="rid 5 is not on the pixel lattice"):
        PostgisRasterCoverage(loc(pg_url, "dem_shift"))
    # an out-db raster (what raster2pgsql -R makes), built as WKB: PostgreSQL need not read the file
    import struct

    header = struct.pack("<BHHddddddiHH", 1, 0, 1, 30.0, -30.0, 150000.0, 403000.0, 0.0, 0.0, 32198, 10, 10)
    band = struct.pack("<Bh", 0x80 | 0x40 | 5, -32768) + struct.pack("<b", 0) + b"/data/dem.tif\0"
    pg_conn.execute("CREATE TABLE dem_outdb (rid serial PRIMARY KEY, rast raster)")
    pg_conn.execute("INSERT INTO dem_outdb (rast) SELECT ST_RastFromWKB(%s::bytea)", (header + band,))
    assert pg_conn.execute("SELECT (ST_BandMetaData(rast, 1)).isoutdb FROM dem_outdb").fetchone()[0] is True
    with pytest.raises(SourceError, match="out-db.*dem_outdb|dem_outdb.*out-db"):
        PostgisRasterCoverage(loc(pg_url, "dem_outdb"))
    load_features(pg_conn, "not_a_raster", *random_stands(11, n=3))
    with pytest.raises(SourceError, match="no raster column"):
        PostgisRasterCoverage(loc(pg_url, "not_a_raster"))


# ----------------------------------------------------------------------------------------------- sink
def test_output_raster_table_is_what_postgis_expects(pg_url, pg_conn, ref_grid, tmp_path):
    path = tmp_path / "dem.tif"
    write_dem(path, ref_grid)
    tile_raster_in_sql(pg_conn, "dem_rids", str(path), 40, shuffle_rids=True)
    geoms, values = random_stands(7)
    load_features(pg_conn, "stands_out", geoms, values)
    methods = ["VALUE_OF_BIGGEST", "COUNT_OF_POLYGONS"]
    res = rastercover.rasterize(
        loc(pg_url, "stands_out"),
        loc(pg_url, "dem_rids"),
        value="value",
        methods=methods,
        output=loc(pg_url, "heights"),
    )
    assert res.tiles_written == 9 and res.format == "PostGIS raster table"
    want = rastercover.rasterize(list(zip(geoms, values)), ref_grid, methods=methods, assume_crs=CRS).values
    row = pg_conn.execute(
        "SELECT srid, scale_x, scale_y, blocksize_x, blocksize_y, same_alignment, num_bands, pixel_types, "
        "nodata_values, out_db FROM raster_columns WHERE r_table_name = 'heights'"
    ).fetchone()
    assert row == (32198, 30.0, -30.0, 40, 40, True, 2, ["32BF", "32BF"], [-9999.0, -9999.0], [False, False])
    # rids are the reference table's, tile for tile
    pairs = pg_conn.execute(
        "SELECT h.rid, d.rid FROM heights h JOIN dem_rids d ON ST_UpperLeftX(h.rast) = ST_UpperLeftX(d.rast) "
        "AND ST_UpperLeftY(h.rast) = ST_UpperLeftY(d.rast) AND ST_Width(h.rast) = ST_Width(d.rast)"
    ).fetchall()
    assert len(pairs) == 9 and all(a == b for a, b in pairs)
    assert (
        pg_conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'heights' AND indexdef ILIKE '%gist%st_convexhull%'"
        ).fetchone()[0]
        == 1
    )
    # ST_Value agrees with the arrays at sampled pixels (NULL where nodata)
    rng = np.random.default_rng(0)
    for r, c in zip(rng.integers(0, 100, 40), rng.integers(0, 100, 40)):
        x, y = ref_grid.to_map(c + 0.5, r + 0.5)
        got = pg_conn.execute(
            "SELECT ST_Value(rast, 1, ST_SetSRID(ST_Point(%s, %s), 32198)), "
            "ST_Value(rast, 2, ST_SetSRID(ST_Point(%s, %s), 32198)) FROM heights "
            "WHERE ST_Intersects(rast, ST_SetSRID(ST_Point(%s, %s), 32198))",
            (x, y, x, y, x, y),
        ).fetchone()
        for b in range(2):
            expect = None if want[b, r, c] == -9999 else float(want[b, r, c])
            assert got[b] == (None if expect is None else pytest.approx(expect, rel=1e-7))
    # and the table reads back pixel for pixel
    back = PostgisRasterCoverage(loc(pg_url, "heights"))
    np.testing.assert_array_equal(back.read(Window(0, 0, 100, 100)), want)
    # nothing was left behind
    assert pg_conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE '%rc_partial%'").fetchone()[0] == 0


def test_if_exists_fail_replace_append(pg_url, pg_conn, ref_grid):
    geoms, values = random_stands(8, n=20)
    load_features(pg_conn, "stands_ie", geoms, values)
    src, out = loc(pg_url, "stands_ie"), loc(pg_url, "ie_out")
    pg_conn.execute("DROP TABLE IF EXISTS ie_out")
    rastercover.rasterize(src, ref_grid, value="value", methods=["VALUE_OF_BIGGEST"], output=out)
    with pytest.raises(OutputError, match="exists already.*--if-exists"):
        rastercover.rasterize(src, ref_grid, value="value", methods=["VALUE_OF_BIGGEST"], output=out)
    rastercover.rasterize(
        src, ref_grid, value="value", methods=["VALUE_OF_BIGGEST"], output=out, if_exists="replace", dtype="int16"
    )
    assert pg_conn.execute("SELECT pixel_types FROM raster_columns WHERE r_table_name = 'ie_out'").fetchone()[0] == [
        "16BSI"
    ]
    rastercover.rasterize(
        src, ref_grid, value="value", methods=["VALUE_OF_BIGGEST"], output=out, if_exists="append", dtype="int16"
    )
    assert pg_conn.execute("SELECT count(*), count(DISTINCT rid) FROM ie_out").fetchone() == (18, 18)
    with pytest.raises(OutputError, match="same kind"):
        rastercover.rasterize(
            src, ref_grid, value="value", methods=["VALUE_OF_BIGGEST"], output=out, if_exists="append", dtype="float32"
        )
    assert pg_conn.execute("SELECT count(*) FROM ie_out").fetchone()[0] == 18
    with pytest.raises(InputError, match="PostGIS outputs"):
        rastercover.rasterize(src, ref_grid, value="value", methods=["VALUE_OF_BIGGEST"], if_exists="replace")


def test_interrupted_output_is_not_visible_and_resume_finishes_it(pg_url, pg_conn, ref_grid, monkeypatch):
    import rastercover.io.sink_postgis as sink_mod

    monkeypatch.setattr(sink_mod, "_BATCH_BYTES", 1)  # one COPY per tile
    geoms, values = random_stands(9)
    load_features(pg_conn, "stands_res", geoms, values)
    src, out = loc(pg_url, "stands_res"), loc(pg_url, "resumed")
    pg_conn.execute("DROP TABLE IF EXISTS resumed")
    seen = []

    def stop_after_four(n):
        seen.append(n)
        if sum(seen) >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rastercover.rasterize(
            src,
            ref_grid,
            value="value",
            methods=["AREA_WEIGHTED_MEAN_OF_VALUES"],
            output=out,
            progress=stop_after_four,
            block_pixels=1600,
        )
    assert pg_conn.execute("SELECT to_regclass('public.resumed')").fetchone()[0] is None
    partial = sink_mod.partial_table_name("resumed")
    done = pg_conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(partial))).fetchone()[0]
    assert 1 <= done < 9
    with pytest.raises(InputError, match=r"another job \(bands: "):
        rastercover.rasterize(src, ref_grid, value="value", methods=["SUM_OF_AREAS"], output=out, resume=True)
    # the same methods on other features (a filter, another table, the same table changed) are other jobs too
    kw = dict(value="value", methods=["AREA_WEIGHTED_MEAN_OF_VALUES"], output=out, resume=True, block_pixels=1600)
    with pytest.raises(InputError, match=r"job\.source\.where: null -> \"value > 0\""):
        rastercover.rasterize(src, ref_grid, where="value > 0", **kw)
    load_features(pg_conn, "stands_res2", geoms, values)
    with pytest.raises(InputError, match=r"job\.source\.location: .*stands_res.* -> .*stands_res2"):
        rastercover.rasterize(loc(pg_url, "stands_res2"), ref_grid, **kw)
    progress = []
    res = rastercover.rasterize(
        src,
        ref_grid,
        value="value",
        methods=["AREA_WEIGHTED_MEAN_OF_VALUES"],
        output=out,
        resume=True,
        progress=progress.append,
        block_pixels=1600,
    )
    assert res.tiles_written == 9 - done and sum(progress) == 9
    want = rastercover.rasterize(
        list(zip(geoms, values)), ref_grid, methods=["AREA_WEIGHTED_MEAN_OF_VALUES"], assume_crs=CRS
    ).values
    np.testing.assert_array_equal(PostgisRasterCoverage(out).read(Window(0, 0, 100, 100)), want)


def test_a_changed_table_is_another_source_for_resume(pg_url, pg_conn):
    from rastercover.io.vector_postgis import PostgisVectorSource

    geoms, values = random_stands(4)
    load_features(pg_conn, "stands_ident", geoms, values)
    url = loc(pg_url, "stands_ident")
    before = PostgisVectorSource(url, value="value").identity()
    assert before["rows"] == len(geoms) and before["where"] is None
    assert PostgisVectorSource(url, value="value").identity() == before  # unchanged: the same job
    pg_conn.execute("UPDATE stands_ident SET value = value WHERE id = (SELECT min(id) FROM stands_ident)")
    after = PostgisVectorSource(url, value="value").identity()
    assert after["rows"] == before["rows"] and after["newest_row_version"] > before["newest_row_version"]
    pg_conn.execute("DELETE FROM stands_ident WHERE id = (SELECT max(id) FROM stands_ident)")
    assert PostgisVectorSource(url, value="value").identity()["rows"] == len(geoms) - 1
    assert PostgisVectorSource(url, value="value", where="id > 1").identity()["where"] == "id > 1"


# ----------------------------------------------------------------------------------------------- the articles
def test_last_value_at_pixel_centroid_equals_the_articles_method_1_3(pg_url, pg_conn, ref_grid, tmp_path):
    path = tmp_path / "dem.tif"
    write_dem(path, ref_grid)
    tile_raster_in_sql(pg_conn, "elevation13", str(path), 40)
    geoms, values = random_stands(10, n=80)
    values = np.where(np.isnan(values), 5.0, values)
    load_features(pg_conn, "forest13", geoms, values, value_column="height")
    # method 1.3, with the nodata2expr that PostGIS 3 needs (DESIGN.md), and ORDER BY id: without it "last"
    # is whatever order the join plan produces
    pg_conn.execute("DROP TABLE IF EXISTS ramsafe")
    pg_conn.execute(
        """
        CREATE TABLE ramsafe AS
        WITH forestrast AS (
          SELECT rid, ST_MapAlgebra(
                 ST_Union(ST_AsRaster(geom, rast, '32BF', height, -9999) ORDER BY id),
                 ST_AddBand(ST_MakeEmptyRaster(rast), '32BF'::text, -9999, -9999),
                 '[rast1]', '32BF', 'SECOND', NULL, '[rast1]') rast
          FROM forest13, elevation13
          WHERE ST_Intersects(geom, rast)
          GROUP BY rid, rast)
        SELECT a.rid,
               CASE WHEN b.rid IS NULL THEN ST_AddBand(ST_MakeEmptyRaster(a.rast), '32BF'::text, -9999, -9999)
                    ELSE b.rast END rast
        FROM elevation13 a LEFT OUTER JOIN forestrast b ON a.rid = b.rid
        """
    )
    theirs = PostgisRasterCoverage(loc(pg_url, "ramsafe")).read(Window(0, 0, 100, 100))[0]
    ours = rastercover.rasterize(
        loc(pg_url, "forest13"), loc(pg_url, "elevation13"), value="height", methods=["LAST_VALUE_AT_PIXEL_CENTROID"]
    ).values[0]
    assert (theirs != -9999).sum() > 1000
    np.testing.assert_array_equal(ours, theirs)


# ----------------------------------------------------------------------------------------------- command line
def test_cli_rasterizes_a_table_into_a_raster_table_tile_for_tile(
    pg_cluster, pg_url, pg_conn, ref_grid, tmp_path, capsys
):
    from tests.test_cli import run

    path = tmp_path / "dem.tif"
    write_dem(path, ref_grid)
    tile_raster_in_sql(pg_conn, "dem_cli", str(path), 40, shuffle_rids=True)
    geoms, values = random_stands(12)
    load_features(pg_conn, "stands_cli", geoms, values, value_column="height")
    pg_conn.execute("DROP TABLE IF EXISTS cli_out")
    secret = f"postgresql://postgres:Sekr1t@127.0.0.1:{pg_cluster.port}/rastercover"
    args = [
        "rasterize",
        loc(secret, "stands_cli"),
        "--like",
        loc(secret, "dem_cli"),
        "--value",
        "height",
        "-m",
        "VALUE_OF_BIGGEST",
        "-m",
        "SUM_OF_AREAS",
        "-o",
        loc(secret, "cli_out"),
        "--no-progress",
    ]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert "PostGIS raster table" in out and "Sekr1t" not in out and "9 tile(s)" in out
    assert pg_conn.execute("SELECT array_agg(rid ORDER BY rid) FROM cli_out").fetchone()[0] == [
        r[0] for r in pg_conn.execute("SELECT rid FROM dem_cli ORDER BY rid").fetchall()
    ]
    code, out, err = run(args, capsys)
    assert code == 2 and "exists already" in err and "--if-exists" in err and "Sekr1t" not in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = run([*args, "--if-exists", "replace"], capsys)
    assert code == 0, err
    want = rastercover.rasterize(
        list(zip(geoms, values)), ref_grid, methods=["VALUE_OF_BIGGEST", "SUM_OF_AREAS"], assume_crs=CRS
    ).values
    np.testing.assert_array_equal(PostgisRasterCoverage(loc(pg_url, "cli_out")).read(Window(0, 0, 100, 100)), want)
    code, out, err = run(
        [
            "rasterize",
            loc(secret, "stands_cli"),
            "--like",
            loc(secret, "dem_cli"),
            "--value",
            "heigth",
            "-m",
            "VALUE_OF_BIGGEST",
            "-o",
            loc(secret, "cli_out2"),
        ],
        capsys,
    )
    assert code == 2 and "no column 'heigth'" in err and "Sekr1t" not in err


def test_worker_processes_open_their_own_connections(pg_url, pg_conn, ref_grid):
    geoms, values = random_stands(13, n=120)
    load_features(pg_conn, "stands_workers", geoms, values)
    src = PostgisVectorSource(loc(pg_url, "stands_workers"), value="value")
    src.read(None)  # the parent holds a pooled connection before forking
    one = rastercover.rasterize(src, ref_grid, methods=["VALUE_OF_BIGGEST", "SUM_OF_AREAS"], block_pixels=1600)
    two = rastercover.rasterize(
        src, ref_grid, methods=["VALUE_OF_BIGGEST", "SUM_OF_AREAS"], workers=2, block_pixels=1600
    )
    np.testing.assert_array_equal(one.values, two.values)
    assert len(src.read((151000, 401000, 152000, 402000))) > 0  # the parent's connection still works


# ----------------------------------------------------------------------------------------------- export
def test_file_to_raster_table_to_file_round_trip_is_pixel_identical(pg_url, pg_conn, ref_grid, tmp_path):
    path = tmp_path / "dem.tif"
    data = write_dem(path, ref_grid)
    tile_raster_in_sql(pg_conn, "dem_rt", str(path), 40)  # PostGIS's own tiling, as raster2pgsql does it
    res = rastercover.export(loc(pg_url, "dem_rt"), tmp_path / "back.tif")
    with rasterio.open(res.path) as ds, rasterio.open(path) as src:
        assert ds.crs == src.crs and ds.transform == src.transform and ds.nodata == src.nodata
        assert ds.dtypes == src.dtypes == ("int16",)
        np.testing.assert_array_equal(ds.read(1), data)
    # a clip that spans several tiles: one mosaicked raster, equal to the same clip of the file
    clip = shapely.Point(151500, 401500).buffer(900)
    a = rastercover.export(loc(pg_url, "dem_rt"), tmp_path / "clip_pg.tif", clip=clip)
    b = rastercover.export(str(path), tmp_path / "clip_file.tif", clip=clip)
    with rasterio.open(a.path) as da, rasterio.open(b.path) as db:
        assert da.transform == db.transform and da.shape == db.shape == (60, 60)
        np.testing.assert_array_equal(da.read(), db.read())


def test_rasterized_raster_table_exports_like_the_file_output(pg_url, pg_conn, ref_grid, tmp_path, capsys):
    from tests.test_cli import run

    geoms, values = random_stands(14)
    load_features(pg_conn, "stands_exp", geoms, values)
    methods = ["AREA_WEIGHTED_MEAN_OF_VALUES", "COUNT_OF_POLYGONS"]
    rastercover.rasterize(
        loc(pg_url, "stands_exp"),
        ref_grid,
        value="value",
        methods=methods,
        output=loc(pg_url, "exp_out"),
        if_exists="replace",
    )
    rastercover.rasterize(
        loc(pg_url, "stands_exp"), ref_grid, value="value", methods=methods, output=tmp_path / "direct.tif"
    )
    code, out, err = run(["export", loc(pg_url, "exp_out"), "-o", str(tmp_path / "exported.tif")], capsys)
    assert code == 0, err
    with rasterio.open(tmp_path / "exported.tif") as a, rasterio.open(tmp_path / "direct.tif") as b:
        assert a.crs == b.crs and a.transform == b.transform and a.nodata == b.nodata == -9999
        np.testing.assert_array_equal(a.read(), b.read())
    code, out, err = run(["export", loc(pg_url, "exp_out"), "-o", str(tmp_path / "one.asc"), "--bands", "2"], capsys)
    assert code == 0, err
    with rasterio.open(tmp_path / "one.asc") as a, rasterio.open(tmp_path / "direct.tif") as b:
        assert a.crs.to_epsg() == 32198
        np.testing.assert_array_equal(a.read(1), b.read(2))
    code, out, err = run(["export", loc(pg_url, "no_such_table"), "-o", str(tmp_path / "x.tif")], capsys)
    assert code == 2 and "no table or view 'no_such_table'" in err
    assert not (tmp_path / "x.tif").exists()


def test_the_seed_clip_landcover_by_the_buffered_envelope_of_burned_area_2(pg_url, pg_conn, tmp_path, capsys):
    """The first article's request, as one command: both layers in PostGIS, burned area chosen by its key."""
    from tests.test_cli import run

    grid = Grid(200, 150, Affine(30, 0, 150000, 0, -30, 404500), CRS, tile_size=50)
    path = tmp_path / "landcover.tif"
    data = write_dem(path, grid, dtype="uint8", nodata=255, seed=5)
    tile_raster_in_sql(pg_conn, "landcover", str(path), 50)
    burned = [
        shapely.Polygon([(151000, 402000), (152000, 402500), (151500, 403000)]),
        shapely.Polygon([(153000, 401000), (154200, 401300), (154000, 402600), (153300, 402100)]),
        shapely.box(155000, 400000, 155500, 400400),
    ]
    load_features(pg_conn, "burnedarea", np.array(burned, dtype=object), np.array([1.0, 2.0, 3.0]))
    key = pg_conn.execute("SELECT id FROM burnedarea ORDER BY id").fetchall()
    assert [k[0] for k in key] == [1, 2, 3]
    out = tmp_path / "landcover_burned2.tif"
    code, _, err = run(
        [
            *("export", loc(pg_url, "landcover"), "-o", str(out)),
            *("--clip-layer", loc(pg_url, "burnedarea"), "--clip-id", "2", "--envelope", "--buffer", "1000"),
        ],
        capsys,
    )
    assert code == 0, err
    import rasterio.mask

    zone = shapely.box(*burned[1].bounds).buffer(1000, quad_segs=8)  # ST_Buffer's 8 segments per quarter circle
    with rasterio.open(path) as src:
        ref, ref_t = rasterio.mask.mask(src, [zone], crop=True)
    with rasterio.open(out) as ds:
        assert ds.transform == ref_t and ds.crs.to_epsg() == 32198 and ds.nodata == 255
        np.testing.assert_array_equal(ds.read(), ref)
        assert (ds.read(1) != 255).sum() > 4000 and min(ds.shape) > 50  # spans several tiles of 50 px
    assert data.shape == (150, 200)
    code, _, err = run(
        [
            *("export", loc(pg_url, "landcover"), "-o", str(tmp_path / "x.tif")),
            *("--clip-layer", loc(pg_url, "burnedarea"), "--clip-id", "7"),
        ],
        capsys,
    )
    assert code == 2 and "no feature has id = 7" in err and not (tmp_path / "x.tif").exists()


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_workers_insert_their_own_tiles_and_the_table_equals_a_single_process_table(
    pg_url, pg_conn, ref_grid, monkeypatch, executor
):
    import rastercover.io.sink_postgis as sink_mod

    if executor == "dask":
        pytest.importorskip("distributed")
    geoms, values = random_stands(14, n=80)
    load_features(pg_conn, "stands_wtiles", geoms, values)
    src = loc(pg_url, "stands_wtiles")
    for table in ("wtiles_one", "wtiles_two"):
        pg_conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    methods = ["AREA_WEIGHTED_MEAN_OF_VALUES", "COUNT_OF_VALUES_AT_PIXEL_CENTROID"]
    kw = dict(value="value", methods=methods, block_pixels=1600)
    one = rastercover.rasterize(src, ref_grid, output=loc(pg_url, "wtiles_one"), **kw)
    encoded_here = []
    original = sink_mod.PostgisRasterSink._encode
    monkeypatch.setattr(
        sink_mod.PostgisRasterSink, "_encode", lambda self, t, d: (encoded_here.append(t), original(self, t, d))
    )
    # a pool of 2 local processes, or a local Dask cluster of 2 worker processes reading the table themselves
    two = rastercover.rasterize(src, ref_grid, output=loc(pg_url, "wtiles_two"), workers=2, executor=executor, **kw)
    assert encoded_here == []  # every tile went in from a worker's own connection
    assert one.tiles_written == two.tiles_written == 9
    rows = [
        pg_conn.execute(
            sql.SQL("SELECT rid, ST_AsBinary(rast)::bytea FROM {} ORDER BY rid").format(sql.Identifier(t))
        ).fetchall()
        for t in ("wtiles_one", "wtiles_two")
    ]
    assert [r[0] for r in rows[0]] == list(range(1, 10))
    assert rows[0] == rows[1]
    meta = "SELECT srid, scale_x, blocksize_x, num_bands, pixel_types, nodata_values FROM raster_columns "
    assert (
        pg_conn.execute(meta + "WHERE r_table_name = 'wtiles_one'").fetchone()
        == pg_conn.execute(meta + "WHERE r_table_name = 'wtiles_two'").fetchone()
    )
    a = PostgisRasterCoverage(loc(pg_url, "wtiles_two")).read(Window(0, 0, 100, 100))
    want = rastercover.rasterize(list(zip(geoms, values)), ref_grid, methods=methods, assume_crs=CRS).values
    np.testing.assert_array_equal(a, want)


def test_a_run_never_writes_a_table_another_live_run_is_writing(pg_url, pg_conn, ref_grid):
    """Two runs on one output table: the second is refused while the first holds the table (its session lock,
    gone with its connection, so a killed run does not block the next), and then proceeds."""
    geoms, values = random_stands(3)
    load_features(pg_conn, "stands_busy", geoms, values)
    src, out = loc(pg_url, "stands_busy"), loc(pg_url, "busy_out")
    pg_conn.execute("DROP TABLE IF EXISTS busy_out")
    pg_conn.execute("SELECT pg_advisory_lock(hashtextextended('rastercover:public.busy_out', 0))")  # a live run
    try:
        with pytest.raises(OutputError, match="another run is writing this table now"):
            rastercover.rasterize(src, ref_grid, value="value", methods=["SUM_OF_AREAS"], output=out, resume=True)
    finally:
        pg_conn.execute("SELECT pg_advisory_unlock(hashtextextended('rastercover:public.busy_out', 0))")
    res = rastercover.rasterize(src, ref_grid, value="value", methods=["SUM_OF_AREAS"], output=out)
    assert res.tiles_written == 9 and pg_conn.execute("SELECT count(*) FROM busy_out").fetchone()[0] == 9
