"""Measure the PostGIS recipes of docs/postgis.md and their rastercover equivalents; write the table into the page.

    .venv/bin/python docs/make_postgis_timings.py                  # about 30 s; rewrites the table
    .venv/bin/python docs/make_postgis_timings.py --addons postgis_addons.sql   # also ST_ExtractToRaster
    .venv/bin/python docs/make_postgis_timings.py --dry-run        # print the table, leave the page alone

It starts a throwaway PostgreSQL + PostGIS cluster (``tests/pgcluster.py``: PostgreSQL's server binaries and
PostGIS installed, e.g. Debian's ``postgresql-15-postgis-3``), loads the bundled Alaska data as the page's
prerequisite step does (``shp2pgsql`` for ``trees.shp`` into ``forestcover``, ``raster2pgsql -t 100x100 -I -C``
for the relief into ``relief``), then times each recipe and its rastercover equivalent in this one process:
SQL through psycopg (an export's bytes fetched and written to a file), rastercover through its Python API, the
same calls the command line makes (a ``rastercover`` command adds its start-up, about 0.3 s). Each is run once
to warm up, then three times; the median is reported. Every result is checked (pixels burned, file written),
and the number of forest pixels each gives is shown, so that a fast recipe with a wrong answer shows as such.

``ST_ExtractToRaster`` is a PL/pgSQL function of the PostGIS Add-ons (github.com/pedrogit/postgisaddons,
``postgis_addons.sql``), not of PostGIS: pass the file with ``--addons`` to time it (it is slow: one SQL query
per pixel; ``--extract-tiles N`` limits it to the N tiles with the most forest).

The table goes into docs/postgis.md between ``<!-- timings:start -->`` and ``<!-- timings:end -->`` with the
command, the commit and the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import rasterio

import rastercover

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks._common import git_commit, machine  # noqa: E402  (commit and machine, as the benchmarks say them)
from tests.pgcluster import start_cluster  # noqa: E402

PAGE = REPO / "docs" / "postgis.md"
ALASKA = REPO / "src" / "rastercover" / "data" / "alaska"
START, END = "<!-- timings:start -->", "<!-- timings:end -->"
CLIP_GID = 198  # the largest forest polygon (FID 197 of trees.shp; shp2pgsql numbers gid from 1)
BUFFER = 65617  # 20 km in US survey feet, the CRS's unit

SQL_11 = """CREATE TABLE forest_rast AS
SELECT ST_Union(ST_AsRaster(geom, rast, '32BF', veg_id, -9999)) rast
FROM forestcover, (SELECT rast FROM relief LIMIT 1) rast"""

SQL_13 = """CREATE TABLE ramsafe_forest_rast AS
WITH forestrast AS (
  SELECT rid, ST_MapAlgebra(
                ST_Union(ST_AsRaster(geom, rast, '32BF', veg_id, -9999)),
                ST_AddBand(ST_MakeEmptyRaster(rast), '32BF'::text, -9999, -9999),
                '[rast1]', '32BF', 'SECOND', NULL, '[rast1]', NULL) rast
  FROM forestcover, relief
  WHERE ST_Intersects(geom, rast)
  GROUP BY rid, rast
)
SELECT a.rid,
       CASE
         WHEN b.rid IS NULL THEN ST_AddBand(ST_MakeEmptyRaster(a.rast), '32BF'::text, -9999, -9999)
         ELSE b.rast
       END rast
FROM relief a LEFT OUTER JOIN forestrast b
ON a.rid = b.rid"""

SQL_EXTRACT = """CREATE TABLE extracttoraster_forest AS
SELECT rid, ST_ExtractToRaster(
         ST_AddBand(ST_MakeEmptyRaster(rast), '32BF'::text, -9999, -9999),
         'public', 'forestcover', 'geom', 'veg_id', 'AREA_WEIGHTED_MEAN_OF_VALUES') rast
FROM relief{where}"""

SQL_ASC = "SELECT ST_AsGDALRaster(ST_Union(rast), 'AAIGrid') FROM relief"

SQL_CLIP = f"""SELECT ST_AsTIFF(ST_Union(ST_Clip(r.rast, ST_Buffer(ST_Envelope(f.geom), {BUFFER}))))
FROM relief r, forestcover f
WHERE ST_Intersects(r.rast, ST_Buffer(ST_Envelope(f.geom), {BUFFER})) AND f.gid = {CLIP_GID}"""


def load(url: str, env: dict[str, str]) -> None:
    """The page's prerequisite: the forests and the relief into PostGIS, as the PostGIS tools load them."""
    for tool in ("shp2pgsql", "raster2pgsql", "psql"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not on PATH (Debian: apt-get install postgis postgresql-client)")
    for cmd in (
        f"shp2pgsql -s 2964 -I {ALASKA / 'trees.shp'} public.forestcover",
        f"raster2pgsql -s 2964 -t 100x100 -I -C {ALASKA / 'SR_50M_alaska_nad.tif'} public.relief",
    ):
        subprocess.run(f"{cmd} | psql -q -X -v ON_ERROR_STOP=1 '{url}'", shell=True, check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def timed(run: Callable[[], None], repeat: int = 3) -> tuple[float, list[float]]:
    run()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def forest_pixels_in_table(url: str, table: str) -> int:
    """Pixels holding a value (not nodata) in a raster table's band 1."""
    with psycopg.connect(url) as conn:
        (n,) = conn.execute(f"SELECT coalesce(sum((ST_SummaryStats(rast, 1, true)).count), 0) FROM {table}").fetchone()
    return int(n)


def forest_pixels_in_file(path: str) -> int:
    with rasterio.open(path) as ds:
        return int(ds.read_masks(1).astype(bool).sum())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addons", type=Path, help="postgis_addons.sql (PostGIS Add-ons) to time ST_ExtractToRaster")
    ap.add_argument("--extract-tiles", type=int, default=None, help="ST_ExtractToRaster on this many tiles only")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dry-run", action="store_true", help="print the table, do not write docs/postgis.md")
    args = ap.parse_args(argv)

    cluster = start_cluster()
    work = Path(tempfile.mkdtemp(prefix="rastercover-pg-timings-"))
    try:
        url = cluster.url()
        env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(cluster.port), "PGUSER": "postgres",
               "PGDATABASE": "rastercover"}  # fmt: skip
        load(url, env)
        db = f"postgresql://postgres@127.0.0.1:{cluster.port}/rastercover"
        rows = run_all(url, db, work, args)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    table = render(rows, args)
    print(table)
    if not args.dry_run:
        text = PAGE.read_text(encoding="utf-8")
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        PAGE.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")
        print(f"wrote the table into {PAGE.relative_to(REPO)}")


def run_all(url: str, db: str, work: Path, args) -> list[tuple[str, str, float, str]]:
    """Every (job, way, median seconds, result) row."""
    rows: list[tuple[str, str, float, str]] = []
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET postgis.gdal_enabled_drivers TO 'ENABLE_ALL'")  # ST_AsGDALRaster and ST_AsTIFF need it
    forests, relief = f"{db}?table=forestcover", f"{db}?table=relief"

    def sql_table(name: str, sql: str) -> Callable[[], None]:
        def run() -> None:
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(sql)

        return run

    def sql_file(sql: str, path: Path) -> Callable[[], None]:
        def run() -> None:
            (data,) = conn.execute(sql).fetchone()
            path.write_bytes(bytes(data))

        return run

    # 1. rasterize the forests, value at the pixel centre
    t, _ = timed(sql_table("forest_rast", SQL_11), args.repeat)
    n = forest_pixels_in_table(url, "forest_rast")
    rows.append(("Rasterize, value at the centre (one big raster)", "SQL: method 1.1, `ST_Union(ST_AsRaster(...))`",
                 t, f"1 raster, {n:,} forest pixels"))  # fmt: skip
    t, _ = timed(sql_table("ramsafe_forest_rast", SQL_13), args.repeat)
    n = forest_pixels_in_table(url, "ramsafe_forest_rast")
    (tiles,) = conn.execute("SELECT count(*) FROM ramsafe_forest_rast").fetchone()
    rows.append(("Rasterize, value at the centre, tile for tile", "SQL: method 1.3 (with `nodata2expr`)", t,
                 f"{tiles} tiles, {n:,} forest pixels"))  # fmt: skip

    def rc_table(name: str, methods) -> Callable[[], None]:
        def run() -> None:
            rastercover.rasterize(forests, relief, value="veg_id", methods=methods,
                                  output=f"{db}?table={name}", if_exists="replace")  # fmt: skip

        return run

    def rc_row(job: str, way: str, name: str, methods, what: str) -> None:
        try:
            t, _ = timed(rc_table(name, methods), args.repeat)
        except Exception as exc:  # a product bug shows in the table rather than hiding the other rows
            rows.append((job, way, float("nan"), f"failed: {type(exc).__name__}: {exc}"[:120]))
            return
        n = forest_pixels_in_table(url, name)
        (tiles,) = conn.execute(f"SELECT count(*) FROM {name}").fetchone()
        rows.append((job, way, t, f"{tiles} tiles, {n:,} {what}"))

    rc_row("Rasterize, value at the centre, tile for tile", "rastercover: `LAST_VALUE_AT_PIXEL_CENTROID`",
           "rc_forest", "LAST_VALUE_AT_PIXEL_CENTROID", "forest pixels")  # fmt: skip
    rc_row("Rasterize, area-weighted mean, tile for tile", "rastercover: `AREA_WEIGHTED_MEAN_OF_VALUES`",
           "rc_forest_area", "AREA_WEIGHTED_MEAN_OF_VALUES", "pixels with forest")  # fmt: skip
    five = ["LAST_VALUE_AT_PIXEL_CENTROID", "AREA_WEIGHTED_MEAN_OF_VALUES", "VALUE_OF_BIGGEST",
            "PROPORTION_OF_COVERED_AREA", "COUNT_OF_POLYGONS"]  # fmt: skip
    rc_row("Rasterize, five methods (five bands), tile for tile", "rastercover: five `-m`", "rc_forest_five", five,
           "pixels with forest in band 1")  # fmt: skip
    tif = work / "rc_forest.tif"
    t, _ = timed(lambda: rastercover.rasterize(forests, relief, value="veg_id", methods="LAST_VALUE_AT_PIXEL_CENTROID",
                                               output=str(tif), overwrite=True), args.repeat)  # fmt: skip
    rows.append(("Rasterize, value at the centre, to a GeoTIFF", "rastercover: tables in, `-o forest.tif`", t,
                 f"1 file, {forest_pixels_in_file(str(tif)):,} forest pixels"))  # fmt: skip

    if args.addons:
        conn.execute(args.addons.read_text(encoding="utf-8"))
        where = ""
        label = "all tiles"
        if args.extract_tiles:
            where = (" WHERE rid IN (SELECT r.rid FROM relief r JOIN forestcover f ON ST_Intersects(r.rast, f.geom) "
                     f"GROUP BY r.rid ORDER BY count(*) DESC LIMIT {args.extract_tiles})")  # fmt: skip
            label = f"{args.extract_tiles} tiles"
        t, _ = timed(sql_table("extracttoraster_forest", SQL_EXTRACT.format(where=where)), 1 if not where else 3)
        n = forest_pixels_in_table(url, "extracttoraster_forest")
        rows.append(("Rasterize, area-weighted mean, tile for tile",
                     f"SQL: method 2, `ST_ExtractToRaster` ({label})", t, f"{n:,} pixels with forest"))  # fmt: skip

    # 2. export the relief table as one ASCII grid
    asc = work / "relief_sql.asc"
    t, _ = timed(sql_file(SQL_ASC, asc), args.repeat)
    rows.append(("Export the relief table as an ASCII grid", "SQL: `ST_AsGDALRaster(ST_Union(rast), 'AAIGrid')`", t,
                 f"{asc.stat().st_size / 1e6:.1f} MB, no `.prj`"))  # fmt: skip
    out = work / "relief_rc.asc"
    t, _ = timed(lambda: rastercover.export(relief, str(out), overwrite=True), args.repeat)
    rows.append(("Export the relief table as an ASCII grid", "rastercover: `export ... -o relief.asc`", t,
                 f"{out.stat().st_size / 1e6:.1f} MB + `.prj`"))  # fmt: skip

    # 3. clip the relief by the buffered envelope of a forest polygon, as GeoTIFF
    tif = work / "clip_sql.tif"
    t, _ = timed(sql_file(SQL_CLIP, tif), args.repeat)
    rows.append(("Clip by a buffered envelope, as GeoTIFF", "SQL: `ST_AsTIFF(ST_Union(ST_Clip(...)))`", t,
                 f"{forest_pixels_in_file(str(tif)):,} pixels with data"))  # fmt: skip
    out = work / "clip_rc.tif"
    t, _ = timed(
        lambda: rastercover.export(relief, str(out), clip_layer=forests, clip_id=CLIP_GID, envelope=True,
                                   buffer=BUFFER, crop="postgis", overwrite=True),
        args.repeat,
    )  # fmt: skip
    rows.append(("Clip by a buffered envelope, as GeoTIFF", "rastercover: `export --clip-layer ... --envelope`", t,
                 f"{forest_pixels_in_file(str(out)):,} pixels with data"))  # fmt: skip
    with rasterio.open(tif) as a, rasterio.open(out) as b:
        va, vb = a.read(1, masked=True), b.read(1, masked=True)
        grid = a.shape == b.shape and a.transform.almost_equals(b.transform, precision=1e-6)  # last-bit differences
        same = grid and np.array_equal(va.mask, vb.mask) and np.array_equal(va.compressed(), vb.compressed())
        print(f"clip: SQL {a.shape} {a.dtypes[0]} nodata {a.nodata}, rastercover {b.shape} {b.dtypes[0]} nodata "
              f"{b.nodata}: {'the same grid and valid pixels' if same else 'DIFFERENT pixels or grid'}")
    conn.close()
    return rows


def render(rows, args) -> str:
    commit = git_commit(REPO / "src")
    versions = "PostGIS ?"
    try:
        out = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
        versions = out.replace("psql (PostgreSQL) ", "PostgreSQL ")
    except OSError:
        pass
    command = "python docs/make_postgis_timings.py" + (" --addons postgis_addons.sql" if args.addons else "")
    if args.extract_tiles:
        command += f" --extract-tiles {args.extract_tiles}"
    lines = [
        "| job | way | median of 3 | result |",
        "|---|---|---:|---|",
        *(f"| {job} | {way} | {f'{t:.2f} s' if t == t else '–'} | {res} |" for job, way, t, res in rows),
        "",
        f"Measured by `{command}` on {dt.date.today().isoformat()}, commit {commit}; {machine()}, {versions}, "
        f"rastercover {rastercover.__version__}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
