#!/usr/bin/env python3
"""Benchmark: rastercover in and out of PostGIS, against the article's SQL and against gdal_translate.

A script, not a test. It starts a throwaway PostgreSQL + PostGIS cluster (``tests/pgcluster.py``), loads the
scale-1 workload of ``make_workload.py`` into it the way the 2014 article has it — table ``forestcover``
(2755 polygons, ``height``, GiST index) and table ``elevation`` (``elevation.tif`` as 625 tiles of 100×100 px,
as ``raster2pgsql -t 100x100 -I -C`` loads it) — and times, in this one process, each configuration once as a
warm-up and then ``--repeat`` rounds with the configurations interleaved in each round (medians reported):

* rasterizing into a PostGIS raster table: (a) the article's method 1.1 (``ST_Union(ST_AsRaster(...))`` into
  one big raster), (b) its method 1.3 (625 tiles; with the ``nodata2expr`` PostGIS 3.3 needs), (b+) the same
  followed by what ``raster2pgsql -I -C`` and rastercover's sink add (primary key, ``AddRasterConstraints``,
  GiST index, ``ANALYZE``), (c) ``rastercover.rasterize`` from the table to a table, in this process, and (d)
  the same through the ``rastercover rasterize`` command (a subprocess: Python start-up included);
* exporting the 625-tile table as one GeoTIFF: ``rastercover.export`` in this process and ``rastercover
  export`` as a command, against ``gdal_translate`` (GDAL's command-line tool, found on ``PATH``) of a GeoTIFF holding
  the same data to a GeoTIFF with rastercover's creation options, and ``gdal_translate`` reading the table
  itself through GDAL's PostGISRaster driver;
* checks: (c) equals method 1.3 pixel for pixel when 1.3's ``ST_Union`` is ordered by ``id`` (and unordered),
  the command's table equals (c)'s, method 1.1 burns as many pixels, every exported file equals the table;
* unless ``--no-breakdown``: where (c)'s time goes (per step: features read, compute, WKB encoding, ``COPY``,
  ``ALTER ... TYPE raster USING ST_RastFromWKB``, ``AddRasterConstraints``, index...), once with the server's
  TOAST compression (pglz) and once with ``lz4`` (``PGOPTIONS``), and the parts of the export.

Prints a markdown report; ``--json FILE`` writes the results (``python -m benchmarks`` renders them). Run from
the repository root::

    python benchmarks/bench_postgis.py --repeat 5 --json /tmp/postgis.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import gc
import importlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pyogrio
import pyogrio.raw
import rasterio
import shapely

import rastercover
from _common import load_average, machine, pair_ratios, save_json  # stdlib-only helpers, re-exported
from _paths import gdal_tool, without_machine_paths
from bench_centroid import (  # this folder is on sys.path when run as a script
    DEFAULT_MAKE_WORKLOAD,
    DEFAULT_WORK,
    generate,
    snapshot_source,
    source_state,
    workload,
)
from rastercover.grid import Window
from rastercover.io import sink_postgis
from rastercover.io.gtiff import gtiff_profile
from rastercover.io.raster_postgis import PostgisRasterCoverage

FAST_TOAST = sink_postgis._fast_toast

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TILE = 100
NODATA = -9999.0
LAST = "LAST_VALUE_AT_PIXEL_CENTROID"
GDAL_TRANSLATE = gdal_tool("gdal_translate")  # None when GDAL's command-line tools are not on PATH

# ------------------------------------------------------------------------------------------- the article's SQL
M11 = """CREATE TABLE {out} AS
SELECT ST_Union(ST_AsRaster(geom, rast, '32BF', height, -9999)) rast
FROM forestcover, (SELECT rast FROM elevation LIMIT 1) rast"""

# method 1.3 as printed (its missing ")" and "CASE" restored); {nodata2} is the PostGIS 3.3 fix, {order} the
# ORDER BY of the check
M13 = """CREATE TABLE {out} AS
WITH forestrast AS (
  SELECT rid, ST_MapAlgebra(
                ST_Union(ST_AsRaster(geom, rast, '32BF', height, -9999){order}),
                ST_AddBand(ST_MakeEmptyRaster(rast), '32BF'::text, -9999, -9999),
                '[rast1]', '32BF', 'SECOND'{nodata2}) rast
  FROM forestcover, elevation
  WHERE ST_Intersects(geom, rast)
  GROUP BY rid, rast
)
SELECT a.rid,
       CASE WHEN b.rid IS NULL THEN ST_AddBand(ST_MakeEmptyRaster(a.rast), '32BF'::text, -9999, -9999)
            ELSE b.rast
       END rast
FROM elevation a LEFT OUTER JOIN forestrast b
ON a.rid = b.rid"""
NODATA2 = ", NULL, '[rast1]'"

# what raster2pgsql -I -C adds, and rastercover's sink too (it also has rid as primary key)
FINISH = [
    "ALTER TABLE {out} ADD PRIMARY KEY (rid)",
    "SELECT AddRasterConstraints('public'::name, '{out}'::name, 'rast'::name)",
    "CREATE INDEX {out}_rast_gist ON {out} USING gist (ST_ConvexHull(rast))",
    "ANALYZE {out}",
]

RASTERIZE = {  # key -> label
    "m11": "(a) method 1.1: `ST_Union(ST_AsRaster(...))`, one big raster",
    "m13": "(b) method 1.3: 625 tiles, `ST_MapAlgebra` with `nodata2expr`",
    "m13+": "(b+) method 1.3 + primary key, `AddRasterConstraints`, GiST index, `ANALYZE`",
    "rc": "(c) `rastercover.rasterize`, table → table, in-process",
    "cli": "(d) `rastercover rasterize ... --no-progress`, subprocess",
}
EXPORT = {
    "ex-rc": "`rastercover.export(table, x.tif)`, in-process",
    "ex-cli": "`rastercover export table -o x.tif`, subprocess",
    "ex-gdal": "`gdal_translate` GeoTIFF → GeoTIFF, same creation options, subprocess",
    "ex-gdal-pg": "`gdal_translate` table (PostGISRaster driver, `mode=2`) → GeoTIFF, same options, subprocess",
    "startup": "CLI start-up alone: `rastercover --help`, subprocess",
}


# ------------------------------------------------------------------------------------------- set-up
def cluster_tools():
    """``start_cluster`` and ``load_features`` from the project's tests (the repository root on sys.path)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import tests.pgcluster as pgcluster
    from tests.pgload import load_features

    from _paths import postgres_bindir

    pgcluster.find_bindir = postgres_bindir  # pgcluster's own search, then initdb on PATH
    return pgcluster.start_cluster, load_features


def load_workload(conn, load_features, gpkg: str, tif: str) -> dict:
    """``forestcover`` through binary COPY (+ GiST), ``elevation`` as raster2pgsql -t 100x100 -I -C would."""
    t0 = time.perf_counter()
    _meta, _fids, wkb, fields = pyogrio.raw.read(gpkg, layer="forestcover", columns=["height"])
    load_features(conn, "forestcover", shapely.from_wkb(wkb), fields[0], srid=32198, value_column="height")
    t1 = time.perf_counter()
    with open(tif, "rb") as f:
        blob = f.read()
    conn.execute("SET postgis.gdal_enabled_drivers = 'ENABLE_ALL'")
    conn.execute("CREATE TABLE elevation (rid serial PRIMARY KEY, rast raster)")
    conn.execute(
        "INSERT INTO elevation (rast) SELECT ST_Tile(ST_FromGDALRaster(%s), %s, %s)", (blob, TILE, TILE)
    )  # fmt: skip
    conn.execute("SELECT AddRasterConstraints('public'::name, 'elevation'::name, 'rast'::name)")
    conn.execute("CREATE INDEX elevation_rast_gist ON elevation USING gist (ST_ConvexHull(rast))")
    conn.execute("ANALYZE elevation")
    t2 = time.perf_counter()
    n, polys = conn.execute("SELECT count(*), sum(ST_NPoints(geom)) FROM forestcover").fetchone()
    tiles, w, h = conn.execute(
        "SELECT count(*), max(ST_Width(rast)), max(ST_Height(rast)) FROM elevation"
    ).fetchone()  # fmt: skip
    return {
        "polygons": n,
        "vertices": int(polys),
        "tiles": tiles,
        "tile_size": [w, h],
        "load_vectors_s": t1 - t0,
        "load_raster_s": t2 - t1,
    }


def versions(conn) -> dict:
    gdal = "missing"
    if GDAL_TRANSLATE is not None:
        gdal = subprocess.run([GDAL_TRANSLATE, "--version"], capture_output=True, text=True).stdout.strip()
    lz4 = conn.execute(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    ).fetchone()  # fmt: skip
    return {
        "postgresql": conn.execute("SHOW server_version").fetchone()[0],
        "postgis": conn.execute("SELECT postgis_full_version()").fetchone()[0],
        "toast_compression": conn.execute("SHOW default_toast_compression").fetchone()[0],
        "lz4": bool(lz4 and lz4[0]),
        "gdal_translate": gdal,
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
        "rasterio": f"{rasterio.__version__} (GDAL {rasterio.__gdal_version__})",
        "numpy": np.__version__,
        "rastercover": rastercover.__version__,
    }


# ------------------------------------------------------------------------------------------- timing
def rastercover_cli() -> list[str]:
    exe = shutil.which("rastercover", path=str(Path(sys.executable).parent)) or shutil.which("rastercover")
    if exe is None:
        sys.exit("no `rastercover` command next to this Python: run from the project's virtualenv")
    return [exe]


def run_quiet(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")


def drop(conn, *tables: str) -> None:
    for t in tables:
        conn.execute(f"DROP TABLE IF EXISTS {t} CASCADE")


def rounds(configs: dict[str, Callable[[], float | None]], repeat: int, prepare: Callable[[], None]) -> dict:
    """One warm-up round, then ``repeat`` rounds; in each, every configuration once, in order.

    A configuration returns None (timed here) or its own time (when it times only part of what it does).
    """
    times: dict[str, list[float]] = defaultdict(list)
    for r in range(repeat + 1):
        prepare()
        for key, fn in configs.items():
            gc.collect()
            t0 = time.perf_counter()
            own = fn()
            t = own if own is not None else time.perf_counter() - t0
            if r:
                times[key].append(t)
        done = "  ".join(f"{k} {v[-1]:.3f}" for k, v in times.items()) if r else "done"
        print(f"  {'warm-up' if r == 0 else f'round {r}/{repeat}'}: {done}", file=sys.stderr, flush=True)
    return dict(times)


def bench_rasterize(conn, url: str, repeat: int) -> dict:
    cli = rastercover_cli()
    src, like = f"{url}?table=forestcover", f"{url}?table=elevation"

    def sql(statement: str) -> Callable[[], None]:
        def run() -> None:
            conn.execute(statement)

        return run

    def finish_m13() -> float:
        t0 = time.perf_counter()
        for s in FINISH:
            conn.execute(s.format(out="m13"))
        return time.perf_counter() - t0

    def ours() -> None:
        rastercover.rasterize(
            src, like, value="height", methods=[LAST], output=f"{url}?table=ours", if_exists="replace"
        )  # fmt: skip

    cmd = [*cli, "rasterize", src, "--like", like, "--value", "height", "-m", LAST,
           "-o", f"{url}?table=ours_cli", "--if-exists", "replace", "--no-progress"]  # fmt: skip
    configs = {
        "m11": sql(M11.format(out="m11")),
        "m13": sql(M13.format(out="m13", order="", nodata2=NODATA2)),
        "m13-finish": finish_m13,
        "rc": ours,
        "cli": lambda: run_quiet(cmd),
    }

    def prepare() -> None:
        drop(conn, "m11", "m13", "ours", "ours_cli")
        conn.execute("CHECKPOINT")

    times = rounds(configs, repeat, prepare)
    times["m13+"] = [a + b for a, b in zip(times["m13"], times.pop("m13-finish"))]
    return {"times": times, "cli": without_machine_paths(shlex.join(cmd).replace(url, "$URL"))}


def read_table(url: str, table: str, grid) -> np.ndarray:
    return PostgisRasterCoverage(f"{url}?table={table}").read(Window(0, 0, grid.width, grid.height))


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    burnt_a, burnt_b = a != NODATA, b != NODATA
    return {
        "differ": int((a != b).sum()),
        "only_first": int((burnt_a & ~burnt_b).sum()),
        "only_second": int((burnt_b & ~burnt_a).sum()),
        "burnt_first": int(burnt_a.sum()),
        "burnt_second": int(burnt_b.sum()),
        "pixels": int(a.size),
    }


def checks(conn, url: str, grid) -> tuple[dict, np.ndarray]:
    """(c) vs method 1.3 (ST_Union ordered by id, and not), (d) vs (c), 1.1's burnt pixels, 1.3 without the fix."""
    out: dict = {}
    drop(conn, "m13_ordered", "m13_verbatim")
    conn.execute(M13.format(out="m13_ordered", order=" ORDER BY id", nodata2=NODATA2))
    conn.execute(M13.format(out="m13_verbatim", order="", nodata2=""))
    ours = read_table(url, "ours", grid)
    out["ours_vs_m13_ordered"] = compare(ours, read_table(url, "m13_ordered", grid))
    out["ours_vs_m13"] = compare(ours, read_table(url, "m13", grid))
    out["cli_vs_ours"] = compare(read_table(url, "ours_cli", grid), ours)
    out["m13_verbatim_burnt"] = int((read_table(url, "m13_verbatim", grid) != NODATA).sum())
    count, w, h = conn.execute("SELECT ST_Count(rast), ST_Width(rast), ST_Height(rast) FROM m11").fetchone()
    out["m11"] = {"burnt": int(count), "size": [w, h]}
    sizes = {}
    for t in ("m11", "m13", "ours"):
        sizes[t] = conn.execute(f"SELECT pg_total_relation_size('{t}')").fetchone()[0]
    out["table_bytes"] = sizes
    out["ours_columns"] = conn.execute(
        "SELECT srid, scale_x, scale_y, blocksize_x, blocksize_y, same_alignment, regular_blocking, num_bands, "
        "pixel_types, nodata_values FROM raster_columns WHERE r_table_name = 'ours'"
    ).fetchone() is not None  # fmt: skip
    drop(conn, "m13_ordered", "m13_verbatim")
    return out, ours


def creation_options(grid) -> list[str]:
    """rastercover's GeoTIFF creation options (``io.gtiff.gtiff_profile``, which ``export`` writes with)."""
    prof = gtiff_profile(grid, 1, "float32", NODATA)
    keys = ("tiled", "blockxsize", "blockysize", "compress", "predictor", "bigtiff", "interleave", "sparse_ok")
    out = []
    for k in keys:
        if k in prof:
            v = prof[k]
            v = ("YES" if v else "NO") if isinstance(v, bool) else str(v).upper()
            out.append(f"{k.upper()}={v}")
    return out


def file_structure(path: str) -> dict:
    with rasterio.open(path) as ds:
        return {
            "block": list(ds.block_shapes[0]),
            "compress": ds.compression.name if ds.compression else None,
            "predictor": ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR"),
            "dtype": ds.dtypes[0],
            "nodata": ds.nodata,
            "bytes": os.path.getsize(path),
        }


def bench_export(url: str, port: int, repeat: int, tmp: str, grid, table: np.ndarray) -> dict:
    cli = rastercover_cli()
    location = f"{url}?table=ours"
    ref = os.path.join(tmp, "ref.tif")  # the GeoTIFF gdal_translate starts from: the table, as rastercover exports it
    rastercover.export(location, ref, overwrite=True)
    co = creation_options(grid)
    co_args = [a for o in co for a in ("-co", o)]
    pg = f"PG:host=127.0.0.1 port={port} dbname=rastercover user=postgres table=ours mode=2"
    outs = {k: os.path.join(tmp, f"{k}.tif") for k in EXPORT}

    def ours() -> None:
        rastercover.export(location, outs["ex-rc"], overwrite=True)

    configs: dict[str, Callable[[], None]] = {
        "ex-rc": ours,
        "ex-cli": lambda: run_quiet([*cli, "export", location, "-o", outs["ex-cli"], "--overwrite"]),
    }
    have_gdal = GDAL_TRANSLATE is not None
    if have_gdal:
        configs["ex-gdal"] = lambda: run_quiet([GDAL_TRANSLATE, "-q", *co_args, ref, outs["ex-gdal"]])
        configs["ex-gdal-pg"] = lambda: run_quiet([GDAL_TRANSLATE, "-q", *co_args, pg, outs["ex-gdal-pg"]])
    configs["startup"] = lambda: run_quiet([*cli, "--help"])

    def prepare() -> None:
        for p in outs.values():
            if os.path.exists(p):
                os.remove(p)

    times = rounds(configs, repeat, prepare)
    check = {}
    for k in ("ex-rc", "ex-cli", "ex-gdal", "ex-gdal-pg"):
        if k in times:
            with rasterio.open(outs[k]) as ds:
                check[k] = {"differ": int((ds.read() != table).sum()), **file_structure(outs[k])}
    check["ref"] = file_structure(ref)
    return {
        "times": times,
        "check": check,
        "creation_options": co,
        "gdal_cmd": shlex.join(["gdal_translate", "-q", *co_args, "in.tif", "out.tif"]),
    }


# ------------------------------------------------------------------------------------------- per step
class Steps:
    """Exclusive wall time per labelled function (a function's time minus that of labelled ones it calls)."""

    def __init__(self) -> None:
        self.excl: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[float] = []
        self._undo: list[tuple[object, str, object]] = []

    def _timed(self, fn, label: Callable[..., str]):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            self._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.perf_counter() - t0
                name = label(*args, **kwargs)
                self.excl[name] += spent - self._stack.pop()
                self.calls[name] += 1
                if self._stack:
                    self._stack[-1] += spent

        return wrapper

    def wrap(self, owner, attr: str, label: str | Callable[..., str]) -> None:
        own = attr in vars(owner)  # else inherited: undo deletes the wrapper
        fn = getattr(owner, attr)
        self._undo.append((owner, attr, fn if own else None))
        setattr(owner, attr, self._timed(fn, label if callable(label) else (lambda *a, **k: label)))

    def undo(self) -> None:
        for owner, attr, fn in reversed(self._undo):
            if fn is None:
                delattr(owner, attr)
            else:
                setattr(owner, attr, fn)
        self._undo.clear()

    def reset(self) -> None:
        self.excl.clear()
        self.calls.clear()


STEP_ORDER = [
    "reference grid: ST_MetaData of the 625 elevation tiles",
    "vector source: open (relation, SRID, extent)",
    "features: read by bbox (server-side binary cursor) + WKB decode",
    "compute (centre hits, LAST)",
    "sink: connect, check the target",
    "sink: create the partial table",
    "tiles: slice / fill (write, write_constant)",
    "tiles: encode raster WKB",
    "binary COPY of the tiles (bytea; the server TOAST-compresses them)",
    "close: ALTER COLUMN ... TYPE raster USING ST_RastFromWKB",
    "close: CREATE INDEX ... gist (ST_ConvexHull(rast))",
    "close: AddRasterConstraints",
    "close: other statements (DROP, RENAME, COMMENT, catalog look-ups)",
    "close: COMMIT and the rest of close",
    "ANALYZE",
    "other SQL statements",
    "rest (planning, Python)",
]


def statement_label(conn, query, *args, **kwargs) -> str:
    text = query.as_string(conn) if hasattr(query, "as_string") else str(query)
    if "ST_RastFromWKB" in text:
        return STEP_ORDER[9]
    if text.startswith("CREATE INDEX"):
        return STEP_ORDER[10]
    if "AddRasterConstraints" in text:
        return STEP_ORDER[11]
    if text.startswith("ANALYZE"):
        return "ANALYZE"
    if re.match(r"(DROP|ALTER (TABLE|INDEX) .* RENAME|COMMENT|SELECT (1|conname))", text):
        return STEP_ORDER[12]
    return "other SQL statements"


def instrument() -> Steps:
    engine_run = importlib.import_module("rastercover.engine.runner")  # the module; the package exports run()
    from rastercover.io.sink_postgis import PostgisRasterSink
    from rastercover.io.vector_postgis import PostgisVectorSource

    s = Steps()
    s.wrap(PostgisRasterCoverage, "_open", STEP_ORDER[0])
    s.wrap(PostgisVectorSource, "__post_init__", STEP_ORDER[1])
    s.wrap(PostgisVectorSource, "read", STEP_ORDER[2])
    s.wrap(engine_run, "compute_bounded", STEP_ORDER[3])  # a block, in parts of whole tiles
    s.wrap(PostgisRasterSink, "__init__", STEP_ORDER[4])
    s.wrap(PostgisRasterSink, "open", STEP_ORDER[5])
    s.wrap(PostgisRasterSink, "write", STEP_ORDER[6])
    s.wrap(PostgisRasterSink, "write_constant", STEP_ORDER[6])
    s.wrap(PostgisRasterSink, "_encode", STEP_ORDER[7])
    s.wrap(PostgisRasterSink, "_flush", STEP_ORDER[8])
    s.wrap(PostgisRasterSink, "close", STEP_ORDER[13])
    s.wrap(psycopg.Connection, "execute", statement_label)
    return s


def breakdown(conn, url: str, runs: int, lz4: bool, grid) -> dict:
    """(c) per step with pglz and lz4 TOAST compression, and method 1.3 with both; interleaved, warm-up dropped."""
    src, like = f"{url}?table=forestcover", f"{url}?table=elevation"
    settings = {"pglz": ""} | ({"lz4": "-c default_toast_compression=lz4"} if lz4 else {})
    per_run: dict[str, list[dict]] = defaultdict(list)
    m13: dict[str, list[float]] = defaultdict(list)
    old = os.environ.get("PGOPTIONS")
    steps = instrument()
    try:
        for r in range(runs + 1):  # the first round warms up and is not kept
            for name, pgoptions in settings.items():
                os.environ["PGOPTIONS"] = pgoptions  # read by libpq when rastercover's sink connects
                # pglz: the what-if of a sink that keeps the server's default (it sets lz4 on its own session)
                sink_postgis._fast_toast = (lambda _conn: None) if name == "pglz" else FAST_TOAST
                drop(conn, "ours_steps")
                conn.execute("CHECKPOINT")
                steps.reset()
                gc.collect()
                t0 = time.perf_counter()
                rastercover.rasterize(
                    src, like, value="height", methods=[LAST], output=f"{url}?table=ours_steps", if_exists="replace"
                )  # fmt: skip
                total = time.perf_counter() - t0
                part = dict(steps.excl)
                part["rest (planning, Python)"] = total - sum(part.values())
                part["total"] = total
                if r:
                    per_run[name].append(part)
            steps.undo()  # method 1.3, the same settings (SET on this session)
            for name in settings:
                drop(conn, "m13_steps")
                conn.execute("CHECKPOINT")
                conn.execute(f"SET default_toast_compression = {name}")
                t0 = time.perf_counter()
                conn.execute(M13.format(out="m13_steps", order="", nodata2=NODATA2))
                if r:
                    m13[name].append(time.perf_counter() - t0)
                conn.execute("RESET default_toast_compression")
            steps = instrument()
    finally:
        sink_postgis._fast_toast = FAST_TOAST
        steps.undo()
        if old is None:
            os.environ.pop("PGOPTIONS", None)
        else:
            os.environ["PGOPTIONS"] = old
    drop(conn, "ours_steps", "m13_steps")
    out: dict = {"runs": runs}
    for name, parts in per_run.items():
        labels = {k for p in parts for k in p}
        out[name] = {k: statistics.median(p.get(k, 0.0) for p in parts) for k in labels}
        out[f"m13_{name}"] = statistics.median(m13[name])
        print(f"  steps ({name}): (c) {out[name]['total']:.3f} s, method 1.3 {out[f'm13_{name}']:.3f} s",
              file=sys.stderr, flush=True)  # fmt: skip

    # the export's two halves: reading the table (all 625 tiles) and writing the GeoTIFF
    read_t, write_t = [], []
    tmp = tempfile.mkdtemp(prefix="bench-postgis-")
    try:
        prof = gtiff_profile(grid, 1, "float32", NODATA)
        for _ in range(runs + 1):
            t0 = time.perf_counter()
            data = read_table(url, "ours", grid)
            t1 = time.perf_counter()
            with rasterio.open(os.path.join(tmp, "w.tif"), "w", **prof) as ds:
                ds.write(data)
            t2 = time.perf_counter()
            read_t.append(t1 - t0)
            write_t.append(t2 - t1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["export_read"] = statistics.median(read_t[1:])
    out["export_write"] = statistics.median(write_t[1:])
    return out


# a fresh process doing what the command does, timing its parts: imports, first (cold) call, second (warm) call
COLD = """
import json, sys, time
t0 = time.perf_counter()
import rastercover.cli.main
t1 = time.perf_counter()
import rastercover
what, url, out = sys.argv[1:4]
def call():
    if what == "rasterize":
        rastercover.rasterize(url + "?table=forestcover", url + "?table=elevation", value="height",
                              methods=["LAST_VALUE_AT_PIXEL_CENTROID"], output=url + "?table=" + out,
                              if_exists="replace")
    else:
        rastercover.export(url + "?table=ours", out, overwrite=True)
call()
t2 = time.perf_counter()
call()
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "first": t2 - t1, "second": t3 - t2}))
"""


def cold_processes(conn, url: str, runs: int, tmp: str) -> dict:
    """Where the command's extra time goes: a fresh process's imports and first call, vs a warm call."""
    out: dict = {}
    targets = {"rasterize": "ours_cold", "export": os.path.join(tmp, "cold.tif")}
    samples: dict[str, list[dict]] = defaultdict(list)
    for _ in range(runs):
        for what, target in targets.items():
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", COLD, what, url, target], capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode:
                raise RuntimeError(f"cold {what} failed:\n{proc.stderr[-2000:]}")
            d = json.loads(proc.stdout.strip().splitlines()[-1])
            d["wall"] = wall
            d["process"] = wall - d["imports"] - d["first"] - d["second"]  # interpreter start-up and exit
            samples[what].append(d)
    drop(conn, "ours_cold")
    for what, ds in samples.items():
        out[what] = {k: statistics.median(d[k] for d in ds) for k in ds[0]}
    print("  fresh processes: " + ", ".join(f"{w} imports {d['imports']:.3f} s first call {d['first']:.3f} s "
          f"second {d['second']:.3f} s" for w, d in out.items()), file=sys.stderr, flush=True)  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------- report
def med(times: dict, key: str) -> float | None:
    return statistics.median(times[key]) if times.get(key) else None


def fmt_s(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f} s"


def ratio(a: float | None, b: float | None, bold: bool = False) -> str:
    if a is None or b is None:
        return "—"
    return f"**{a / b:.2f}**" if bold else f"{a / b:.2f}"


def spread(times: dict, a: str, b: str) -> str:
    """``a`` / ``b`` round by round (the configurations alternate run by run): ``median 0.83, range 0.71–0.95``."""
    r = pair_ratios(times[a], times[b])
    return f"median {statistics.median(r):.2f}, range {min(r):.2f}–{max(r):.2f}"


def describe_compare(c: dict) -> str:
    verdict = "**equal**" if c["differ"] == 0 else f"**{c['differ']} differing pixels**"
    return (f"{verdict} ({c['pixels']} pixels; burnt {c['burnt_first']} vs {c['burnt_second']}, "
            f"only in the first {c['only_first']}, only in the second {c['only_second']})")  # fmt: skip


def report(res: dict) -> str:
    v, rz, ex = res["versions"], res["rasterize"]["times"], res["export"]["times"]
    c, chk = med(rz, "rc"), res["checks"]
    lines = [
        "## PostGIS in and out (scale 1): rastercover vs the article's SQL, export vs gdal_translate",
        "",
        f"Produced by `benchmarks/bench_postgis.py`. A throwaway cluster (`tests/pgcluster.py`: fsync off) holds "
        f"table `forestcover` ({res['setup']['polygons']} polygons, {res['setup']['vertices']} vertices, `height`, "
        f"GiST) and table `elevation` (`elevation.tif` as {res['setup']['tiles']} tiles of "
        f"{TILE}×{TILE} px, loaded as `raster2pgsql -t 100x100 -I -C` would: `ST_Tile(ST_FromGDALRaster(...))`, "
        "`AddRasterConstraints`, GiST on `ST_ConvexHull(rast)`, `ANALYZE`). "
        f"Run {res['date']}; median of {res['repeat']} rounds after one warm-up round, the configurations "
        "interleaved in each round (each output table dropped, then `CHECKPOINT`, before the round).",
        f"Command: `{res['command']}`; rastercover git {res['source'].get('commit', '?')}, source hash "
        f"{res['source'].get('hash', '?')}.",
        f"Machine: {res['machine']}. PostgreSQL {v['postgresql']}; `postgis_full_version()`: `{v['postgis']}`. "
        f"Python {v['python']}, psycopg {v['psycopg']}, rasterio {v['rasterio']}, numpy {v['numpy']}; "
        f"`gdal_translate`: {v['gdal_translate']}.",
        "",
        "### Rasterizing the forest cover into a PostGIS raster table",
        "",
        "| Configuration | median | (c) / this |",
        "|---|---:|---:|",
    ]
    for key, label in RASTERIZE.items():
        m = med(rz, key)
        lines.append(f"| {label} | {fmt_s(m)} | {'1.00' if key == 'rc' else ratio(c, m)} |")
    lines += [
        "",
        f"- Ratios: (c)/(b) **{ratio(c, med(rz, 'm13'))}**, (c)/(a) **{ratio(c, med(rz, 'm11'))}**, "
        f"(d)/(b) **{ratio(med(rz, 'cli'), med(rz, 'm13'))}**; (c)/(b+) {ratio(c, med(rz, 'm13+'))}. "
        f"Per round (the configurations alternate run by run), (c)/(b) {spread(rz, 'rc', 'm13')}; (d)/(b) "
        f"{spread(rz, 'cli', 'm13')}; (c)/(a) {spread(rz, 'rc', 'm11')}. (d) − (c) = {med(rz, 'cli') - c:.3f} s: "
        f"the command's fresh process (`rastercover --help` alone takes {fmt_s(med(ex, 'startup'))}; see below).",
        f"- Load average (1, 5, 15 min) at the start {res['loadavg_start']}, at the end {res['loadavg_end']}: "
        "the machine is shared (other work may run on the other core), which the interleaving spreads evenly "
        "over the configurations.",
        f"- What each produces: (a) one {chk['m11']['size'][0]}×{chk['m11']['size'][1]} px raster not cut "
        "into tiles (the article then needs `ST_Tile` and method 1.2's `ST_MapAlgebra` to line it up with "
        f"`elevation`), no constraints, no index; (b) 625 tiles, no constraints, no index, no key; (c) and (d) "
        "625 tiles with the elevation tiles' rids as primary key, `AddRasterConstraints` (`raster_columns` "
        f"{'lists' if chk['ours_columns'] else 'does NOT list'} it), a GiST index on `ST_ConvexHull(rast)`, "
        "`ANALYZE`, written under a partial name and renamed. (c) reads the polygons from `forestcover` itself "
        "and the grid and rids from `elevation`.",
        f"- Table sizes (`pg_total_relation_size`): (a) {chk['table_bytes']['m11'] / 1024:.0f} KiB, "
        f"(b) {chk['table_bytes']['m13'] / 1024:.0f} KiB, (c) {chk['table_bytes']['ours'] / 1024:.0f} KiB.",
        f"- Check, (c) vs method 1.3 with `ST_Union(... ORDER BY id)`: {describe_compare(chk['ours_vs_m13_ordered'])}. "
        f'Vs the timed 1.3 (no `ORDER BY`, "last" follows the join plan): {describe_compare(chk["ours_vs_m13"])} '
        "(the forest cover does not overlap, so the order cannot matter here). "
        f"(d)'s table vs (c)'s: {describe_compare(chk['cli_vs_ours'])}. Method 1.1 burns "
        f"{chk['m11']['burnt']} pixels (`ST_Count`). Method 1.3 as printed, without `nodata2expr`, burns "
        f"{chk['m13_verbatim_burnt']} (PostGIS 3.3 returns empty tiles).",
        f"- (d) runs `{res['rasterize']['cli']}` (`$URL` = the cluster's libpq URL).",
        "",
        "### Exporting the 625-tile table as one GeoTIFF",
        "",
        "| Configuration | median | this / gdal_translate GeoTIFF → GeoTIFF | this / gdal_translate from the table |",
        "|---|---:|---:|---:|",
    ]
    g, gpg = med(ex, "ex-gdal"), med(ex, "ex-gdal-pg")
    for key, label in EXPORT.items():
        m = med(ex, key)
        if key == "startup":
            lines.append(f"| {label} | {fmt_s(m)} | — | — |")
            continue
        lines.append(f"| {label} | {fmt_s(m)} | {ratio(m, g, key.startswith('ex-rc') or key == 'ex-cli')} "
                     f"| {ratio(m, gpg)} |")  # fmt: skip
    e_rc, e_cli = med(ex, "ex-rc"), med(ex, "ex-cli")
    exc = res["export"]["check"]
    lines.append("")
    if g:
        met_rc, met_cli = ("met" if x / g <= 2 else "NOT met" for x in (e_rc, e_cli))
        lines.append(
            f"- Target (within 2× of gdal_translate): in-process {e_rc / g:.2f}× (per round "
            f"{spread(ex, 'ex-rc', 'ex-gdal')}) — **{met_rc}**; through the command {e_cli / g:.2f}× (per round "
            f"{spread(ex, 'ex-cli', 'ex-gdal')}) — **{met_cli}**: `rastercover --help` alone takes "
            f"{fmt_s(med(ex, 'startup'))}, {med(ex, 'startup') / g:.1f}× gdal_translate's whole run."
        )
    lines += [
        f"- Creation options, rastercover's (`io.gtiff.gtiff_profile`, what `export` writes with), given to "
        f"gdal_translate as `-co`: `{' '.join(res['export']['creation_options'])}`. Its input is the table exported "
        f"by rastercover beforehand ({exc['ref']['bytes'] / 1024:.0f} KiB, blocks {exc['ref']['block'][1]}×"
        f"{exc['ref']['block'][0]}, {exc['ref']['compress']}, predictor {exc['ref']['predictor']}). Note the two "
        f"GDALs: rasterio's {v['rasterio']} in-process, Debian's for gdal_translate.",
        "- Read back, each output vs the table's pixels: "
        + "; ".join(
            f"{k}: {'equal' if x['differ'] == 0 else str(x['differ']) + ' differ'}, {x['bytes'] / 1024:.0f} KiB"
            for k, x in exc.items()
            if k != "ref"
        )
        + ".",
    ]
    bd = res.get("breakdown")
    if bd:
        lines += breakdown_lines(bd, res)
    return "\n".join(lines)


def breakdown_lines(bd: dict, res: dict) -> list[str]:
    names = [n for n in ("pglz", "lz4") if n in bd]
    default = res["versions"]["toast_compression"]
    head = " | ".join(f"{n}" + (" (the server's default)" if n == default else "") for n in names)
    lines = [
        "",
        f"### Where the time goes (medians of {bd['runs']} runs after a warm-up)",
        "",
        "(c) once more, each step's own wall time: rastercover's functions wrapped by the script (the source is "
        "not changed), SQL statements timed at `psycopg.Connection.execute`. The lz4 column is what rastercover "
        "does (its sink sets `default_toast_compression = lz4` on its own session where the server has lz4); "
        "the pglz column is the what-if of a sink keeping the server's default (the script turns that setting "
        "off). The two settings alternate, then method 1.3 runs with each (`SET default_toast_compression`); "
        "a `CHECKPOINT` precedes every run.",
        "",
        f"| Step of (c) | {head} |",
        "|---|" + "---:|" * len(names),
    ]
    labels = [x for x in STEP_ORDER if any(x in bd[n] for n in names)]
    labels += sorted({k for n in names for k in bd[n]} - set(labels) - {"total"})
    for x in labels:
        lines.append(f"| {x} | " + " | ".join(f"{bd[n].get(x, 0.0):.3f} s" for n in names) + " |")
    lines.append("| **(c) in all** | " + " | ".join(f"**{bd[n]['total']:.3f} s**" for n in names) + " |")
    lines.append("| method 1.3, same setting | " + " | ".join(f"{bd['m13_' + n]:.3f} s" for n in names) + " |")
    lines.append("| (c) / method 1.3 | " + " | ".join(f"{bd[n]['total'] / bd['m13_' + n]:.2f}" for n in names) + " |")
    pg = bd["pglz"]
    write = pg.get(STEP_ORDER[8], 0) + pg.get(STEP_ORDER[9], 0)
    close = sum(v for k, v in pg.items() if k.startswith("close:") or k == "ANALYZE")
    lines += [
        "",
        f"- Writing the 625 tiles (~25 MB of float32 raster WKB, mostly nodata, sent uncompressed): "
        f"the binary COPY into the partial table's bytea column and the `ALTER ... TYPE raster USING "
        f"ST_RastFromWKB` rewrite take {write:.3f} s of {pg['total']:.3f} s; computing the tiles "
        f"(read + compute + slice + encode) {sum(pg.get(STEP_ORDER[i], 0) for i in (2, 3, 6, 7)):.3f} s. The "
        f"sink's whole close step (ALTER, index, constraints, renames, commit, ANALYZE) takes {close:.3f} s, "
        f"`AddRasterConstraints` {pg.get(STEP_ORDER[11], 0):.3f} s of it.",
    ]
    if "lz4" in bd:
        lz = bd["lz4"]
        lines.append(
            f"- The server's TOAST compression is what makes those two statements slow: with lz4 they take "
            f"{lz.get(STEP_ORDER[8], 0) + lz.get(STEP_ORDER[9], 0):.3f} s instead of {write:.3f} s, and (c) "
            f"{lz['total']:.3f} s. Method 1.3 gains less ({bd['m13_pglz']:.3f} → {bd['m13_lz4']:.3f} s): its time "
            "is `ST_AsRaster`/`ST_Union`/`ST_MapAlgebra`. Hence the sink's own `default_toast_compression = lz4` "
            "(where the server has lz4, PostgreSQL ≥ 14)."
        )
    cold = res.get("cold")
    if cold:
        r, e = cold["rasterize"], cold["export"]
        rz, ex = res["rasterize"]["times"], res["export"]["times"]
        lines.append(
            f"- The commands' extra time is a fresh process's: `python -c` doing what the command does "
            f"(medians of {bd['runs']}) spends {r['process']:.3f} s starting and exiting the interpreter, "
            f"{r['imports']:.3f} s importing `rastercover.cli.main`, then {r['first']:.3f} s on its first "
            f"`rasterize` (cold: lazy imports such as psycopg, first connections, PROJ/GDAL set-up) against "
            f"{r['second']:.3f} s for a second one in the same process: {r['wall'] - r['second']:.3f} s up to the "
            f"end of the first call vs (d) {fmt_s(med(rz, 'cli'))}. For `export`: imports {e['imports']:.3f} s, "
            f"first call {e['first']:.3f} s, second {e['second']:.3f} s; {e['wall'] - e['second']:.3f} s without "
            f"the second call vs {fmt_s(med(ex, 'ex-cli'))} for the command."
        )
    lines.append(
        f"- Export, its two halves alone: reading the table's 625 tiles into one array (`PostgisRasterCoverage."
        f"read`) {bd['export_read']:.3f} s; writing that array as a GeoTIFF with rasterio and the same profile "
        f"{bd['export_write']:.3f} s (`rastercover.export` in all: {fmt_s(med(res['export']['times'], 'ex-rc'))})."
    )
    return lines


# ------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds after one warm-up round (default 5)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"workload folders (default {DEFAULT_WORK})")
    ap.add_argument("--generate", action="store_true", help="build the scale-1 workload if it is missing")
    ap.add_argument("--make-workload", type=Path, default=DEFAULT_MAKE_WORKLOAD, help="path of make_workload.py")
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    ap.add_argument("--steps", type=int, default=3, help="instrumented runs per setting for the breakdown (default 3)")
    ap.add_argument("--no-breakdown", action="store_true", help="skip the per-step breakdown")
    a = ap.parse_args(argv)
    command = shlex.join(["python", "benchmarks/bench_postgis.py", *(sys.argv[1:] if argv is None else argv)])
    wl = workload(a.work.resolve(), 1.0)
    if not wl.exists():
        if not a.generate:
            sys.exit(f"no workload at {wl.folder}: build it with --generate (or make_workload.py)")
        generate(wl, a.make_workload)
    start_cluster, load_features = cluster_tools()
    res: dict = {"command": command, "repeat": a.repeat, "source": source_state(), "machine": machine()}
    res["loadavg_start"] = load_average()
    tmp = tempfile.mkdtemp(prefix="bench-postgis-", dir=wl.folder)
    snap = snapshot_source(Path(tmp))  # the CLI subprocesses run the source this process imported
    t_start = time.perf_counter()
    cluster = start_cluster()
    try:
        url = cluster.url()
        with psycopg.connect(url, autocommit=True) as conn:
            res["versions"] = versions(conn)
            res["setup"] = load_workload(conn, load_features, wl.gpkg, wl.elevation)
            print(f"cluster up, workload loaded in {time.perf_counter() - t_start:.1f} s", file=sys.stderr)
            grid = rastercover.open_grid(f"{url}?table=elevation")
            res["date"] = dt.datetime.now().isoformat(timespec="seconds")
            print("rasterize:", file=sys.stderr)
            res["rasterize"] = bench_rasterize(conn, url, a.repeat)
            res["checks"], table = checks(conn, url, grid)
            print("export:", file=sys.stderr)
            res["export"] = bench_export(url, cluster.port, a.repeat, tmp, grid, table)
            if not a.no_breakdown:
                print("per step:", file=sys.stderr)
                res["breakdown"] = breakdown(conn, url, a.steps, res["versions"]["lz4"], grid)
                res["cold"] = cold_processes(conn, url, a.steps, tmp)
            res["loadavg_end"] = load_average()
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(snap, ignore_errors=True)
    res["wall_s"] = time.perf_counter() - t_start
    text = report(res)
    print(text)
    print(f"whole run {res['wall_s']:.0f} s", file=sys.stderr)
    save_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
