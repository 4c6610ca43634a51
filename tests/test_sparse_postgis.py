"""A PostGIS raster reference with gaps and arbitrary rids, loaded by ``raster2pgsql`` itself: rasterizing tile for
tile writes exactly its tiles (its rids, its extents: what the article's method 1.3 LEFT JOIN gives), reading
and exporting it puts every tile in its place, and tile origins are the stored headers' bits."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

import rastercover
from rastercover import Grid, Window
from rastercover.io.raster_postgis import PostgisRasterCoverage

CRS = "EPSG:32198"
# 7 cm pixels at a decimal origin: ST_Tile computes each tile's origin itself, and for some tiles its last bits
# are not those of origin + k * 100 * 0.07 computed from the lattice (the stored headers win)
T = Affine(0.07, 0, 0.3, 0, -0.07, 7.7)
W, H, TILE = 530, 420, 100


def loc(pg_url: str, table: str) -> str:
    return f"{pg_url}?table=public.{table}"


@pytest.fixture
def raster2pgsql():
    exe = shutil.which("raster2pgsql")
    if exe is None:
        pytest.fail("raster2pgsql is needed (Debian package postgis); ./scripts/test installs it")
    return exe


def load_with_raster2pgsql(exe: str, pg_url: str, path, table: str, *, shuffle: bool) -> None:
    """``raster2pgsql -s SRID -t 100x100 -I -C`` (empty tiles skipped, its default), loaded with psql."""
    sql_text = subprocess.run(
        [exe, "-s", "32198", "-t", f"{TILE}x{TILE}", "-I", "-C", str(path), f"public.{table}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if shuffle:  # rids that are not row-major positions: a permutation, far from 1..n
        sql_text += (
            f"\nSELECT DropRasterConstraints('public'::name, '{table}'::name, 'rast'::name);"
            f"\nUPDATE public.{table} SET rid = 100000 - rid * 37;"
            f"\nSELECT AddRasterConstraints('public'::name, '{table}'::name, 'rast'::name);\n"
        )
    subprocess.run(
        ["psql", pg_url, "-q", "-v", "ON_ERROR_STOP=1"], input=sql_text, check=True, capture_output=True, text=True
    )


@pytest.fixture
def sparse_ref(tmp_path, pg_url, pg_conn, raster2pgsql):
    """A DEM with whole tiles of nodata (raster2pgsql drops them), loaded with shuffled rids."""
    data = np.arange(W * H, dtype="float32").reshape(H, W) % 997
    holes = [(0, 0), (1, 2), (3, 4), (2, 5), (4, 1)]
    for r, c in holes:
        data[r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE] = -9999
    path = tmp_path / "dem.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=W, height=H, count=1, dtype="float32", crs=CRS, transform=T, nodata=-9999
    ) as ds:
        ds.write(data, 1)
    pg_conn.execute("DROP TABLE IF EXISTS public.dem_gaps CASCADE")
    load_with_raster2pgsql(raster2pgsql, pg_url, path, "dem_gaps", shuffle=True)
    return path, data, holes


def test_raster2pgsql_drops_empty_tiles_and_the_coverage_knows_it(sparse_ref, pg_url, pg_conn):
    path, data, holes = sparse_ref
    cov = PostgisRasterCoverage(loc(pg_url, "dem_gaps"))
    n_rows, n_cols = -(-H // TILE), -(-W // TILE)
    stored = pg_conn.execute("SELECT count(*), min(rid), max(rid) FROM dem_gaps").fetchone()
    assert stored[0] == n_rows * n_cols - len(holes) == cov.grid.n_tiles  # raster2pgsql skipped the holes
    assert stored[1] > 90000
    assert cov.grid.is_sparse and all(not cov.grid.has_tile(r, c) for r, c in holes)
    lattice = cov.grid.with_tiles(None)
    assert lattice.shape == (H, W) and lattice.tile_size == (TILE, TILE) and lattice.aligned_with(Grid(1, 1, T, CRS))
    assert len(cov.grid.present.origins) > 0  # headers whose bits differ from the lattice's: exercised
    np.testing.assert_array_equal(cov.read(Window(0, 0, W, H))[0], data)
    # every stored tile's own header is what a tile's grid says, bit for bit
    rows = pg_conn.execute("SELECT rid, ST_UpperLeftX(rast), ST_UpperLeftY(rast) FROM dem_gaps").fetchall()
    by_rid = {rid: idx for idx, rid in cov.rids.items()}
    for rid, x, y in rows:
        tg = cov.grid.tile(*by_rid[rid]).grid
        assert (tg.transform.c, tg.transform.f) == (x, y)


def test_rasterizing_onto_a_sparse_table_writes_its_rids_and_extents(sparse_ref, pg_url, pg_conn):
    path, data, holes = sparse_ref
    feats = [
        (shapely.box(1.0, 0.5, 21.03, 7.2), 3.0),
        (shapely.Point(25.0, -10.0).buffer(6.3), 8.0),
        (shapely.box(0.31, -16.1, 37.0, -15.97), 5.0),
    ]
    methods = ["AREA_WEIGHTED_MEAN_OF_VALUES", "COUNT_OF_VALUES_AT_PIXEL_CENTROID"]
    ref = loc(pg_url, "dem_gaps")
    out = loc(pg_url, "forest_gaps")
    pg_conn.execute("DROP TABLE IF EXISTS public.forest_gaps")
    rastercover.rasterize(feats, ref, methods=methods, output=out, assume_crs=CRS)
    # the article's method 1.3: one output row per reference row (LEFT JOIN), same rid, same extent
    missing = pg_conn.execute(
        "SELECT count(*) FROM dem_gaps d LEFT JOIN forest_gaps f USING (rid) "
        "WHERE f.rid IS NULL OR NOT ST_Envelope(f.rast) ~= ST_Envelope(d.rast) "
        "OR ST_UpperLeftX(f.rast) <> ST_UpperLeftX(d.rast) OR ST_UpperLeftY(f.rast) <> ST_UpperLeftY(d.rast) "
        "OR ST_Width(f.rast) <> ST_Width(d.rast) OR ST_Height(f.rast) <> ST_Height(d.rast)"
    ).fetchone()[0]
    extra = pg_conn.execute(
        "SELECT count(*) FROM forest_gaps f LEFT JOIN dem_gaps d USING (rid) WHERE d.rid IS NULL"
    ).fetchone()[0]
    assert (missing, extra) == (0, 0)
    # the values: those of the whole grid where the reference has tiles, nodata in its holes
    whole = rastercover.rasterize(feats, Grid(W, H, T, CRS, TILE), methods=methods, assume_crs=CRS).values
    back = PostgisRasterCoverage(out).read(Window(0, 0, W, H))
    for r, c in holes:
        whole[:, r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE] = -9999
    np.testing.assert_array_equal(back, whole)
    # touched: the subset of the reference's tiles the features meet, with their rids
    pg_conn.execute("DROP TABLE IF EXISTS public.forest_touched")
    rastercover.rasterize(
        feats, ref, methods=methods, output=loc(pg_url, "forest_touched"), extent="touched", assume_crs=CRS
    )
    got = {r[0] for r in pg_conn.execute("SELECT rid FROM forest_touched").fetchall()}
    cov = PostgisRasterCoverage(ref)
    frame = shapely.union_all([g for g, _ in feats])
    want = {
        rid
        for idx, rid in cov.rids.items()
        if shapely.intersects(shapely.box(*cov.grid.tile(*idx).grid.bounds), frame)
        and not shapely.touches(shapely.box(*cov.grid.tile(*idx).grid.bounds), frame)
    }
    assert got == want and got < set(cov.rids.values())


def test_postgis_semantics_tiles_use_the_stored_origins(sparse_ref, pg_url, pg_conn):
    feats = [(shapely.box(2.01, -17.03, 33.37, 5.11), 4.0)]
    out = loc(pg_url, "forest_pg_sem")
    pg_conn.execute("DROP TABLE IF EXISTS public.forest_pg_sem")
    rastercover.rasterize(
        feats, loc(pg_url, "dem_gaps"), methods=["MIN_AREA"], output=out, semantics="postgis", assume_crs=CRS
    )
    differ = pg_conn.execute(
        "SELECT count(*) FROM dem_gaps d JOIN forest_pg_sem f USING (rid) "
        "WHERE ST_UpperLeftX(f.rast) <> ST_UpperLeftX(d.rast) OR ST_UpperLeftY(f.rast) <> ST_UpperLeftY(d.rast)"
    ).fetchone()[0]
    assert differ == 0


def test_exporting_the_sparse_table_puts_nodata_in_its_holes(sparse_ref, pg_url, tmp_path):
    path, data, holes = sparse_ref
    res = rastercover.export(loc(pg_url, "dem_gaps"), tmp_path / "x.tif")
    with rasterio.open(res.path) as ds:
        assert ds.transform.almost_equals(T, precision=1e-9) and ds.shape == (H, W)
        np.testing.assert_array_equal(ds.read(1), data)
    # a box on pixel edges, computed in floating point, through a hole and a stored tile
    box = (T.c + 95 * T.a, T.f + 210 * T.e, T.c + 110 * T.a, T.f + 190 * T.e)
    part = rastercover.export(loc(pg_url, "dem_gaps"), tmp_path / "p.tif", bbox=box)
    with rasterio.open(part.path) as ds:
        assert ds.shape == (20, 15)
        np.testing.assert_array_equal(ds.read(1), data[190:210, 95:110])
