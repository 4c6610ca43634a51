"""Query coverages (rastercover.io.coverage_query): the rasters a developer's SQL query returns, mosaicked onto one
grid, against the real PostGIS the test run starts (tests/pgcluster.py).

A query over a raster table gives the table's own coverage (grid, tiles, pixels) whatever the database object
(DSN, psycopg, SQLAlchemy engine / connection / session, GeoAlchemy2 selectable) and whatever the encoding of the
raster column (the raster type's hex text, ST_AsBinary bytea, ST_AsTIFF bytes); random tilings mosaic exactly as
PostGIS's own ST_Union; mixed grids, NULLs, SQL errors and bad columns are refused with the fix; the query runs
once; memory past the limit goes to a temporary folder; exports are those of the raster table.
"""

from __future__ import annotations

import gc
import os
import pickle

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

import rastercover
from rastercover.crs import same_crs
from rastercover.errors import AlignmentError, InputError, MissingColumnError, SourceError
from rastercover.grid import Window
from rastercover.io.coverage_query import MEMORY_LIMIT, QueryCoverage, mosaic_rasters, open_query_coverage
from rastercover.io.raster_postgis import PostgisRasterCoverage
from rastercover.io.wkb_raster import decode_raster, encode_raster

SRID = 32198
DEM = Affine(30, 0, 150000, 0, -30, 403000)
W, H, TILE = 130, 90, 40  # edge tiles of 10 px
MISSING = (1, 1)  # (row, col) of the tile the table lacks


def load_rasters(conn, table: str, wkbs) -> None:
    """``table`` (ord int primary key, rast raster) holding ``wkbs`` in order (None: a NULL raster)."""
    ident = sql.Identifier(table)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ident))
    conn.execute(sql.SQL("CREATE TABLE {} (ord integer PRIMARY KEY, rast raster)").format(ident))
    for i, wkb in enumerate(wkbs, start=1):
        conn.execute(
            sql.SQL("INSERT INTO {} VALUES (%s, ST_RastFromWKB(%s::bytea))").format(ident),
            (i, None if wkb is None else wkb),
        )


def dem_tiles(data: np.ndarray, nodata=-32768, skip=(MISSING,)):
    """``data`` cut into TILE x TILE raster WKBs (row-major, what raster2pgsql -t writes), some tiles left out."""
    out = []
    for r in range(-(-data.shape[0] // TILE)):
        for c in range(-(-data.shape[1] // TILE)):
            if (r, c) in skip:
                continue
            tile = data[r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE]
            out.append(encode_raster(tile, DEM @ Affine.translation(c * TILE, r * TILE), SRID, nodata))
    return out


@pytest.fixture(scope="module")
def dem(pg_cluster):
    """The table qc_dem: an int16 DEM in 40 px tiles, one missing; and its pixels."""
    import psycopg

    rng = np.random.default_rng(5)
    data = rng.integers(0, 3000, (H, W)).astype("int16")
    data[:3, :5] = -32768
    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
        load_rasters(conn, "qc_dem", dem_tiles(data))
    expected = data.copy()
    r, c = MISSING
    expected[r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE] = -32768
    return expected


@pytest.fixture(scope="module")
def conn(pg_url):
    """An autocommit psycopg connection for the module (Hypothesis tests cannot use function-scoped fixtures)."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as c:
        yield c


def whole(cov) -> np.ndarray:
    return cov.read(Window(0, 0, cov.grid.width, cov.grid.height))


def gdal_dsn(pg_url: str) -> str:
    """The DSN with PostGIS's GDAL drivers enabled for the session (for queries calling ST_AsTIFF)."""
    return pg_url + "?options=-c%20postgis.gdal_enabled_drivers%3DENABLE_ALL"


# ----------------------------------------------------------------------------------------------- databases
def test_a_query_over_a_raster_table_is_the_tables_own_coverage(pg_url, dem):
    cov = rastercover.open_coverage(pg_url, query="SELECT rast FROM qc_dem ORDER BY ord")
    table = PostgisRasterCoverage(f"{pg_url}?table=qc_dem")
    assert isinstance(cov, QueryCoverage) and isinstance(cov, rastercover.protocols.RasterCoverage)
    assert cov.grid == table.grid  # the same lattice, the same 40 px tiles, the same missing tile
    assert cov.grid.tile_size == (TILE, TILE) and cov.grid.is_sparse and MISSING not in cov.grid.present
    assert (cov.count, cov.dtype, cov.nodata, cov.band_names) == (1, np.dtype("int16"), -32768.0, ("",))
    assert (cov.srid, cov.name, cov.tile_ids, cov.pixel_types, cov.rasters) == (SRID, "qc_dem", {}, ("16BSI",), 11)
    np.testing.assert_array_equal(whole(cov)[0], dem)
    window = Window(-7, 33, 60, 70)  # past the edges, across the missing tile
    np.testing.assert_array_equal(cov.read(window, [1]), table.read(window, [1]))
    with pytest.raises(InputError, match="no band 2"):
        cov.read(window, [2])


def test_psycopg_connection_runs_the_query_in_a_savepoint_of_the_applications_transaction(pg_url, dem):
    import psycopg

    with psycopg.connect(pg_url) as app:  # not autocommit: the application has a transaction going
        app.execute("CREATE TEMP TABLE qc_pending (x int)")
        app.execute("INSERT INTO qc_pending VALUES (1)")
        with pytest.raises(SourceError, match='column "rastt" does not exist'):
            open_query_coverage(app, "SELECT rastt FROM qc_dem")
        assert app.execute("SELECT count(*) FROM qc_pending").fetchone() == (1,)  # still usable, nothing lost
        cov = rastercover.open_coverage(app, query="SELECT rast FROM qc_dem WHERE ord = %s", params=[2])
        assert cov.grid.shape == (TILE, TILE) and cov.grid.transform.c == DEM.c + TILE * 30
        np.testing.assert_array_equal(whole(cov)[0], dem[:TILE, TILE : 2 * TILE])
        composed = sql.SQL("SELECT rast FROM {} WHERE ord = {}").format(sql.Identifier("qc_dem"), sql.Literal(2))
        assert open_query_coverage(app, composed).grid == cov.grid
        assert app.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS  # nothing committed for it
        app.rollback()
        with pytest.raises(psycopg.errors.UndefinedTable):
            app.execute("SELECT * FROM qc_pending")


@pytest.fixture(scope="module")
def sa(pg_url):
    """An SQLAlchemy engine on the test database and a GeoAlchemy2 model of qc_dem."""
    from geoalchemy2 import Raster
    from sqlalchemy import Integer, create_engine
    from sqlalchemy.orm import DeclarativeBase, mapped_column

    class Base(DeclarativeBase):
        pass

    class Dem(Base):
        __tablename__ = "qc_dem"
        ord = mapped_column(Integer, primary_key=True)
        rast = mapped_column(Raster)

    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield engine, Dem
    engine.dispose()


def test_sqlalchemy_engine_connection_and_session_with_selectables_text_and_driver_sql(pg_url, dem, sa):
    from sqlalchemy import select, text
    from sqlalchemy.orm import Session, scoped_session, sessionmaker

    engine, Dem = sa
    want = rastercover.open_coverage(pg_url, query="SELECT rast FROM qc_dem ORDER BY ord")
    with engine.connect() as connection, Session(engine) as session:
        scoped = scoped_session(sessionmaker(engine))
        for db in (engine, connection, session, scoped):
            cov = rastercover.open_coverage(db, query=select(Dem.rast).order_by(Dem.ord))  # GeoAlchemy2: RasterElements
            assert cov.grid == want.grid and cov.name == "qc_dem"
            np.testing.assert_array_equal(whole(cov), whole(want))
            one = open_query_coverage(db, text("SELECT rast FROM qc_dem WHERE ord = :ord"), {"ord": 4})
            two = open_query_coverage(db, "SELECT rast FROM qc_dem WHERE ord = %s", [4])  # the driver's placeholders
            assert one.grid == two.grid and one.grid.shape == (TILE, W - 3 * TILE)
            np.testing.assert_array_equal(whole(one), whole(two))
            with pytest.raises(SourceError, match=r'the query failed: column "rastt" does not exist \(hint: '):
                open_query_coverage(db, text("SELECT rastt FROM qc_dem"))
            if db is not engine:  # the application's transaction is still usable
                assert db.execute(text("SELECT count(*) FROM qc_dem")).scalar() == 11
        scoped.remove()
    on_dsn = open_query_coverage(pg_url, select(Dem.rast).where(Dem.ord > 5).order_by(Dem.ord))  # temporary engine
    assert on_dsn.rasters == 6


def test_raster_encodings_agree_hex_wkb_bytea_gdal_bytes_and_mixed(pg_url, dem):
    dsn = gdal_dsn(pg_url)
    base = open_query_coverage(dsn, "SELECT rast FROM qc_dem ORDER BY ord")  # the raster type: hex WKB text
    for column in (
        "ST_AsBinary(rast)",  # bytea
        "encode(ST_AsBinary(rast), 'hex')",  # hex text of bytea
        "ST_AsTIFF(rast)",  # GDAL bytes
        "ST_AsGDALRaster(rast, 'GTiff', ARRAY['COMPRESS=DEFLATE'])",
        "ST_AsGDALRaster(rast, 'HFA')",  # Erdas Imagine
        "ST_AsGDALRaster(rast, 'GPKG')",
    ):
        cov = open_query_coverage(dsn, f"SELECT {column} AS rast FROM qc_dem ORDER BY ord")
        assert cov.grid.shape == base.grid.shape and cov.grid.tile_size == base.grid.tile_size, column
        assert cov.grid.transform.almost_equals(base.grid.transform, precision=1e-9), column
        assert same_crs(cov.grid.crs, base.grid.crs), column
        assert (cov.dtype, cov.nodata) == (base.dtype, base.nodata), column
        np.testing.assert_array_equal(whole(cov), whole(base), err_msg=column)
    mixed = open_query_coverage(
        dsn,
        "SELECT ST_AsBinary(rast) FROM qc_dem WHERE ord <= 5 "
        "UNION ALL SELECT ST_AsTIFF(rast) FROM qc_dem WHERE ord > 5",
    )
    np.testing.assert_array_equal(whole(mixed), whole(base))
    with pytest.raises(SourceError, match=r"row 1: the PNG raster has no georeferencing \(ST_AsPNG .*ST_AsTIFF"):
        open_query_coverage(dsn, "SELECT ST_AsPNG(ST_Reclass(rast, '0-3000:0-255', '8BUI')) FROM qc_dem")
    asc = open_query_coverage(dsn, "SELECT ST_AsGDALRaster(rast, 'AAIGrid') FROM qc_dem WHERE ord = 1")
    assert asc.grid.crs is None and asc.grid.transform == DEM  # an ASCII grid carries no CRS
    with pytest.raises(AlignmentError, match=r"different CRSs \(no CRS and EPSG:32198\)"):
        open_query_coverage(
            dsn,
            "SELECT ST_AsTIFF(rast) FROM qc_dem WHERE ord = 1 "
            "UNION ALL SELECT ST_AsGDALRaster(rast, 'AAIGrid') FROM qc_dem WHERE ord = 2",
        )


# ----------------------------------------------------------------------------------------------- mixed grids
@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            "ST_SetSRID(rast, 26918)",
            AlignmentError,
            r"different SRIDs \(26918 and 32198\).*ST_Transform\(rast, 32198\)",
        ),
        ("ST_Rescale(rast, 15, -15)", AlignmentError, r"pixel sizes \(15 x -15 and 30 x -30\).*ST_Resample"),
        ("ST_SetSkew(rast, 0.5, 0)", AlignmentError, r"different skews \(0.5, 0 and 0, 0\).*ST_Resample"),
        (
            "ST_SetUpperLeft(rast, ST_UpperLeftX(rast) + 7.5, ST_UpperLeftY(rast))",
            AlignmentError,
            r"row 2's raster is not on the pixel lattice of row 1's \(its origin is \+0.25, \+0 px off\)"
            r".*ST_SnapToGrid",
        ),
        ("ST_AddBand(rast, '8BUI'::text)", SourceError, r"have 2 and 1 band\(s\).*ST_Band"),
        (
            "ST_MapAlgebra(rast, 1, '32BF', '[rast]')",
            SourceError,
            r"band 1 is 32BF in row 2 and 16BSI in row 1.*ST_MapAlgebra\(rast, 1, '16BSI', '\[rast\]'\)",
        ),
        ("ST_SetBandNoDataValue(rast, 1, -1)", SourceError, r"band 1 has nodata -1 in row 2 and -32768 in row 1"),
        ("ST_SetBandNoDataValue(rast, 1, NULL)", SourceError, r"nodata none in row 2 .*ST_SetBandNoDataValue"),
    ],
)
def test_mixed_grids_are_refused_saying_what_differs_and_the_fix(pg_url, dem, change, error, message):
    query = f"SELECT CASE WHEN ord = 2 THEN {change} ELSE rast END AS rast FROM qc_dem ORDER BY ord"
    with pytest.raises(error, match=message) as err:
        open_query_coverage(pg_url, query)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------------------------- the mosaic
def union_of(conn, table: str, order: str = "ord") -> tuple:
    """PostGIS's own mosaic of the table's rasters: ST_Union (LAST) in ``order``, decoded."""
    q = sql.SQL("SELECT ST_AsBinary(ST_Union(rast ORDER BY {})) FROM {}").format(sql.SQL(order), sql.Identifier(table))
    return decode_raster(conn.execute(q).fetchone()[0])


def test_overlapping_rows_the_later_row_wins_where_it_has_data_like_st_union(pg_url, conn):
    t = Affine(10, 0, 1000, 0, -10, 2000)
    a = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], "uint8")
    b = np.array([[2, 0, 2], [2, 2, 0]], "uint8")
    c = np.array([[3, 0], [0, 3]], "uint8")
    wkbs = [
        encode_raster(a, t, SRID, 0),
        encode_raster(b, t @ Affine.translation(1, 1), SRID, 0),
        encode_raster(c, t @ Affine.translation(2, 0), SRID, 0),
    ]
    load_rasters(conn, "qc_overlap", wkbs)
    cov = open_query_coverage(pg_url, "SELECT rast FROM qc_overlap ORDER BY ord")
    assert whole(cov)[0].tolist() == [[1, 1, 3, 0], [1, 2, 1, 3], [1, 2, 2, 0]]
    union = union_of(conn, "qc_overlap")
    np.testing.assert_array_equal(whole(cov), union.data)
    assert cov.grid.transform == union.transform
    reverse = open_query_coverage(pg_url, "SELECT rast FROM qc_overlap ORDER BY ord DESC")
    assert whole(reverse)[0].tolist() == [[1, 1, 1, 0], [1, 2, 1, 2], [1, 1, 1, 0]]
    np.testing.assert_array_equal(whole(reverse), union_of(conn, "qc_overlap", "ord DESC").data)
    assert reverse.grid == cov.grid  # anchored on the upper-left raster, not on the first row


def test_gaps_are_nodata_or_zero_and_the_grid_holds_the_tiles_some_raster_meets(pg_url, conn, tmp_path):
    t = Affine(5, 0, 0, 0, -5, 5000)
    near = np.full((3, 4), 7, "int16")
    far = np.full((2, 2), 9, "int16")
    for nodata in (-1, None):
        wkbs = [
            encode_raster(near, t, SRID, nodata),
            encode_raster(far, t @ Affine.translation(600, 300), SRID, nodata),
        ]
        load_rasters(conn, "qc_gaps", wkbs)
        cov = open_query_coverage(pg_url, "SELECT rast FROM qc_gaps")
        assert cov.grid.shape == (302, 602) and cov.grid.tile_size == (256, 256)
        assert cov.grid.present.indexes() == [(0, 0), (1, 2)]  # tiles no raster meets are not the coverage's
        data = whole(cov)[0]
        # rasters without nodata leave gaps: the coverage declares the type's minimum there, as ST_Union does
        assert cov.nodata == (-32768.0 if nodata is None else -1.0)
        fill = -32768 if nodata is None else nodata
        assert (data[:3, :4] == 7).all() and (data[300:, 600:] == 9).all()
        assert (data == fill).sum() == data.size - 16
        out = rastercover.export(cov, tmp_path / f"gaps_{fill}.tif")
        with rasterio.open(out.path) as ds:
            np.testing.assert_array_equal(ds.read(1), data)
            assert ds.nodata == cov.nodata
    union = union_of(conn, "qc_gaps")  # PostGIS declares the type's minimum where the rasters declare none
    assert union.nodata == (-32768.0,)
    np.testing.assert_array_equal(union.data[0], data)


def test_null_and_empty_rasters_are_skipped_and_no_raster_is_refused(pg_url, conn):
    wkb = encode_raster(np.ones((2, 2), "uint8"), DEM, SRID, 0)
    load_rasters(conn, "qc_nulls", [None, wkb, None])
    cov = open_query_coverage(pg_url, "SELECT rast FROM qc_nulls ORDER BY ord")
    assert cov.rasters == 1 and cov.grid.shape == (2, 2)
    empty = open_query_coverage(
        pg_url, f"SELECT rast FROM qc_nulls UNION ALL SELECT ST_MakeEmptyRaster(0, 0, 0, 0, 1, -1, 0, 0, {SRID})"
    )
    assert empty.rasters == 1
    with pytest.raises(SourceError, match=r"the query returned no raster: its 2 row\(s\) hold NULL or empty rasters"):
        open_query_coverage(pg_url, "SELECT rast FROM qc_nulls WHERE rast IS NULL")
    with pytest.raises(SourceError, match=r"the query returned no raster: no row$"):
        open_query_coverage(pg_url, "SELECT rast FROM qc_nulls WHERE false")


# ----------------------------------------------------------------------------------------------- errors
def test_sql_errors_are_one_line_source_errors_with_the_databases_message(pg_cluster, dem):
    dsn = f"postgresql://postgres:Sekrit99@127.0.0.1:{pg_cluster.port}/rastercover"  # trust: the password is unused
    cases = {
        "SELECT rastt FROM qc_dem": r'the query failed: column "rastt" does not exist \(hint: Perhaps you meant',
        "SELECT rast FORM qc_dem": r'the query failed: syntax error at or near "qc_dem"',
        "SELECT rast FROM qc_nothing": r'the query failed: relation "qc_nothing" does not exist',
    }
    for query, message in cases.items():
        with pytest.raises(SourceError, match=message) as err:
            rastercover.open_coverage(dsn, query=query)
        text = str(err.value)
        assert "Sekrit99" not in text and "\n" not in text and "postgresql://postgres@127.0.0.1" in text
        assert err.value.__cause__ is None and err.value.__suppress_context__  # no traceback of the driver
    with pytest.raises(SourceError, match=r'invalid input syntax for type integer: "two"'):
        rastercover.open_coverage(dsn, query="SELECT rast FROM qc_dem WHERE ord = %s", params=["two"])


def test_the_raster_column_is_the_only_one_or_rast_or_named(pg_url, dem):
    assert open_query_coverage(pg_url, "SELECT ord, rast, 'x' AS label FROM qc_dem").rasters == 11
    with pytest.raises(SourceError, match=r"have 2 columns \(ord, r\) and none is named rast: .*column="):
        open_query_coverage(pg_url, "SELECT ord, rast AS r FROM qc_dem")
    assert open_query_coverage(pg_url, "SELECT ord, rast AS r FROM qc_dem", column="r").rasters == 11
    assert rastercover.open_coverage(pg_url, query="SELECT rast AS r, ord FROM qc_dem", column="r").rasters == 11
    with pytest.raises(MissingColumnError, match=r"no column 'nope'; their columns are ord, r"):
        open_query_coverage(pg_url, "SELECT ord, rast AS r FROM qc_dem", column="nope")
    with pytest.raises(SourceError, match=r"row 1: the raster column holds a value of type int \(1\), not a raster"):
        open_query_coverage(pg_url, "SELECT ord FROM qc_dem ORDER BY ord")
    with pytest.raises(SourceError, match=r"row 1: the raster column holds text that is not a raster's hex WKB"):
        open_query_coverage(pg_url, "SELECT 'forest'::text AS rast")
    with pytest.raises(SourceError, match=r"6 bytes that are neither PostGIS raster WKB nor a raster GDAL reads"):
        open_query_coverage(pg_url, "SELECT '\\x0a0b0c0d0e0f'::bytea")
    with pytest.raises(SourceError, match=r"row 1: raster WKB ends inside the pixels of band 1"):
        open_query_coverage(pg_url, "SELECT substring(ST_AsBinary(rast) from 1 for 80) FROM qc_dem")


def test_databases_and_queries_of_unknown_kinds_are_refused(pg_url, pg_conn, sa):
    from sqlalchemy import select

    _engine, Dem = sa
    with pytest.raises(InputError, match="cannot run a query on a int"):
        rastercover.open_coverage(42, query="SELECT rast FROM qc_dem")
    with pytest.raises(InputError, match="is not a database"):
        rastercover.open_coverage("/data/landcover.tif", query="SELECT rast FROM qc_dem")
    with pytest.raises(InputError, match="drop table= and column= from the DSN"):
        rastercover.open_coverage(f"{pg_url}?table=qc_dem", query="SELECT rast FROM qc_dem")
    with pytest.raises(InputError, match="an SQLAlchemy query runs through SQLAlchemy"):
        rastercover.open_coverage(pg_conn, query=select(Dem.rast))
    with pytest.raises(InputError, match="query= is a int"):
        rastercover.open_coverage(pg_url, query=42)
    with pytest.raises(InputError, match="go with query="):
        rastercover.open_coverage(pg_url, params=[1])


# ----------------------------------------------------------------------------------------------- lifetime
def test_the_query_runs_once_whatever_is_read_or_exported(pg_url, conn, dem, tmp_path):
    conn.execute("DROP SEQUENCE IF EXISTS qc_calls")
    conn.execute("CREATE SEQUENCE qc_calls")
    query = "SELECT rast, nextval('qc_calls') AS call FROM qc_dem ORDER BY ord"
    cov = rastercover.open_coverage(pg_url, query=query)
    runs = conn.execute("SELECT last_value FROM qc_calls").fetchone()[0]
    assert runs == 11  # once per row, once
    for i in range(0, W, 17):
        cov.read(Window(i, i % H, 23, 19))
    rastercover.export(cov, tmp_path / "all.tif")
    rastercover.export(cov, tmp_path / "warp.tif", crs="EPSG:4326", clip="POINT(151500 401500)", buffer=700)
    with rastercover.export_file(cov, format="aaigrid", bbox=(150000, 400400, 152000, 402000)) as f:
        assert os.path.getsize(f.path) > 0
    assert conn.execute("SELECT last_value FROM qc_calls").fetchone()[0] == runs


def test_past_the_memory_limit_the_rasters_go_to_a_temporary_folder(pg_url, dem, tmp_path):
    query = "SELECT rast FROM qc_dem ORDER BY ord"
    in_memory = open_query_coverage(pg_url, query)
    assert not in_memory.spilled and MEMORY_LIMIT == 64 * 2**20
    spilled = open_query_coverage(pg_url, query, memory_limit=TILE * TILE * 2 * 3, spill_dir=str(tmp_path))
    assert spilled.spilled
    (folder,) = os.listdir(tmp_path)
    assert folder.startswith("rastercover-query-") and len(os.listdir(tmp_path / folder)) == 11
    assert spilled.grid == in_memory.grid
    np.testing.assert_array_equal(whole(spilled), whole(in_memory))
    window = Window(35, 20, 50, 45)
    np.testing.assert_array_equal(spilled.read(window, [1]), in_memory.read(window, [1]))
    copy = pickle.loads(pickle.dumps(spilled))  # reads the same folder; only the original deletes it
    np.testing.assert_array_equal(copy.read(window), in_memory.read(window))
    with spilled:
        a = rastercover.export(spilled, tmp_path / "a.tif", clip="POINT(151500 401500)", buffer=900)
    assert os.listdir(tmp_path) == ["a.tif"]  # closed: the folder is gone
    with pytest.raises(SourceError, match="the coverage is closed"):
        spilled.read(window)
    b = rastercover.export(in_memory, tmp_path / "b.tif", clip="POINT(151500 401500)", buffer=900)
    with rasterio.open(a.path) as x, rasterio.open(b.path) as y:
        np.testing.assert_array_equal(x.read(), y.read())
    open_query_coverage(pg_url, query, memory_limit=0, spill_dir=str(tmp_path))  # dropped at once
    gc.collect()
    assert sorted(os.listdir(tmp_path)) == ["a.tif", "b.tif"]


def test_a_failed_query_leaves_no_temporary_folder(pg_url, dem, tmp_path):
    query = "SELECT CASE WHEN ord = 9 THEN ST_SetSRID(rast, 4326) ELSE rast END FROM qc_dem ORDER BY ord"
    with pytest.raises(AlignmentError, match="different SRIDs"):
        open_query_coverage(pg_url, query, memory_limit=0, spill_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------------------------- exports
@pytest.mark.parametrize(
    "options",
    [
        {"clip": "POLYGON((150500 400500, 153000 401000, 151000 402800, 150500 400500))", "buffer": 60},
        {"clip": "POINT(151300 401500)", "buffer": 1000, "envelope": True, "format": "aaigrid"},
        {"bbox": (150100, 400200, 152500, 402100), "crs": "EPSG:4326", "resampling": "bilinear", "dtype": "float32"},
        {"resolution": 90, "resampling": "max", "format": "cog"},
    ],
)
def test_exports_of_a_query_coverage_are_those_of_the_raster_table(pg_url, dem, tmp_path, options):
    cov = rastercover.open_coverage(pg_url, query="SELECT rast FROM qc_dem ORDER BY ord")
    ext = {"aaigrid": ".zip", "cog": ".tif"}.get(options.get("format"), ".tif")
    got = rastercover.export(cov, tmp_path / f"query{ext}", **options)
    want = rastercover.export(f"{pg_url}?table=qc_dem", tmp_path / f"table{ext}", **options)
    assert (got.width, got.height, got.dtype, got.nodata, got.transform) == (
        want.width, want.height, want.dtype, want.nodata, want.transform,
    )  # fmt: skip
    paths = [r.path if ext != ".zip" else f"zip://{r.path}!{os.path.basename(r.path)[:-4]}.asc" for r in (got, want)]
    with rasterio.open(paths[0]) as x, rasterio.open(paths[1]) as y:
        np.testing.assert_array_equal(x.read(), y.read())


def test_the_http_service_has_no_way_to_run_sql(tmp_path):
    """Queries are for Python: no endpoint of ``rastercover serve`` takes a query, SQL or a raster column."""
    from rastercover.server.app import create_app
    from rastercover.server.catalog import Catalog
    from rastercover.server.settings import Settings

    path = tmp_path / "dem.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=2, height=2, count=1, dtype="uint8", crs="EPSG:32198", transform=DEM
    ) as ds:
        ds.write(np.zeros((1, 2, 2), "uint8"))
    spec = create_app(Catalog.from_sources([str(path)]), Settings()).openapi()
    names = {
        p["name"].lower() for ops in spec["paths"].values() for op in ops.values() for p in op.get("parameters", [])
    }
    for schema in spec.get("components", {}).get("schemas", {}).values():
        names |= {k.lower() for k in schema.get("properties", {})}
    assert names and not names & {"query", "sql", "params", "column", "statement", "dsn"}
    assert not [p for p in spec["paths"] if "sql" in p.lower() or "query" in p.lower()]


# ----------------------------------------------------------------------------------------------- Hypothesis
PIXEL_TYPES = {"8BUI": ("uint8", 255, 0, 254), "16BSI": ("int16", -9999, -500, 500), "32BF": ("float32", -1.5, -4, 4)}


@st.composite
def tilings(draw):
    """1 to 5 rasters on one lattice (2.5 m pixels), random sizes and places (overlaps, gaps), some nodata."""
    kind = draw(st.sampled_from(sorted(PIXEL_TYPES)))
    dtype, nodata, lo, hi = PIXEL_TYPES[kind]
    n = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rasters = []
    for _ in range(n):
        w, h = draw(st.integers(1, 7)), draw(st.integers(1, 7))
        col, row = draw(st.integers(-6, 6)), draw(st.integers(-6, 6))
        values = rng.integers(lo, hi + 1, (h, w)).astype(dtype)
        if dtype == "float32":
            values = (values / 4).astype(dtype)
        values[rng.random((h, w)) < 0.3] = nodata
        rasters.append((col, row, values))
    return kind, nodata, rasters


@settings(max_examples=40)
@given(tiling=tilings())
def test_random_tilings_mosaic_exactly_as_st_union(pg_url, conn, tiling):
    kind, nodata, rasters = tiling
    t = Affine(2.5, 0, 7000, 0, -2.5, 9000)
    wkbs = [encode_raster(v, t @ Affine.translation(c, r), SRID, nodata, kind) for c, r, v in rasters]
    load_rasters(conn, "qc_random", wkbs)
    cov = open_query_coverage(pg_url, "SELECT rast FROM qc_random ORDER BY ord")
    union = union_of(conn, "qc_random")
    assert cov.grid.shape == union.data.shape[1:]
    assert cov.grid.transform.almost_equals(union.transform, precision=1e-9)
    assert cov.nodata == union.nodata[0] == nodata and cov.pixel_types == union.pixel_types
    np.testing.assert_array_equal(whole(cov), union.data)
    same = mosaic_rasters(wkbs)  # the same values without a database
    np.testing.assert_array_equal(whole(same), union.data)
