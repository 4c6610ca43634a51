#!/usr/bin/env python3
"""Benchmark: ``rastercover.regrid`` (exact overlap areas) against ``rasterio.warp.reproject`` and ``gdalwarp``.

A script, not a test. On the scale-1 workload's ``elevation.tif`` (2500×2500 px of float32, 30 m, EPSG:32198,
no nodata; built by ``make_workload.py``), in this one process, one warm-up round and then ``--repeat`` rounds,
every configuration once per round, in order (A and B interleaved run by run); medians are reported:

* (a) onto a **misaligned 100 m grid in the same CRS** (origin offset by ``--offset`` 37 m, 13 m from the 100 m
  lattice, covering the source): ``rastercover.regrid(..., methods=["AREA_WEIGHTED_MEAN_OF_RASTER_VALUES"])``
  (float32) vs ``rasterio.warp.reproject(rasterio.band(ds, 1), ..., resampling=Resampling.average)`` onto the
  same grid (the source read from the file by both);
* (b) onto **EPSG:4326 at 0.0005°** (the source's transformed bounds snapped outward to 0.0005°):
  ``SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES`` (float64: elevation values treated as counts) vs
  ``reproject(..., resampling=Resampling.sum)``;
* (c) whole commands writing a GeoTIFF: ``gdalwarp -r average`` / ``-r sum`` (``-t_srs``/``-te``/``-tr`` of the
  same grid, rastercover's creation options, ``-wo NUM_THREADS=1``) vs the ``rastercover regrid`` command
  (``--like`` a reference GeoTIFF on the target grid: ``--bounds`` would snap the misaligned grid away); when the
  command does not exist, a ``python -c`` calling ``rastercover.regrid(..., output=...)`` instead (the report
  says which); ``plan_regrid`` alone and ``rastercover --help`` (start-up) are timed as well.

Checks of the last round's outputs (d): for (b) the conservation error |Σ output − Σ source| / Σ source of every
peer and the per-pixel differences of each peer against rastercover; for (a) the per-pixel max abs difference of
every peer's average against rastercover's ``AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2`` (Σa·v / Σa), itself checked
against an independent numpy oracle (in one CRS the overlap areas are products of 1-D overlaps), split into
interior pixels (fully covered by the source) and edge pixels, and the integral Σ value × pixel area against the
source's.

Real data: ``sao_miguel/gpw_v411_2020_count_2020.tif`` (``_paths.sao_miguel_dir``) (EPSG:4326 population counts) onto a
100 m EPSG:32626 grid covering it: the total kept by rastercover's ``SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES``,
``rasterio`` ``Resampling.sum``, ``gdalwarp -r sum`` and ``gdalwarp -r average`` (raw, and turned back into
counts with each source pixel's area), and the largest per-pixel misplacement of ``gdalwarp -r sum`` relative to
rastercover; timed too (medians of ``--repeat``).

Cold start: ``--cold N`` fresh processes regrid (a) twice with an empty numba cache (``NUMBA_CACHE_DIR`` a new
folder: the kernel compiles) and N with the cache filled: imports, first and second call. A ``cProfile`` of
``--profile-runs`` warm runs of (b) is kept (top ``--profile`` entries, by cumulative and by own time).

The script copies ``src/rastercover`` to a temporary folder at the start and runs itself again with the copy first
on ``PYTHONPATH``: every run, in-process or in a subprocess, uses that one copy even if the working tree is edited
meanwhile; the report gives the commit, the files of ``src/`` that differ from it and the copy's hash.

Prints a markdown report; ``--json FILE`` (default ``benchmarks/work/bench_regrid.json``, git-ignored) gets
every number and the profile (``python -m benchmarks`` renders them). Run from the repository root, in the
project's virtualenv, on an otherwise idle machine::

    python benchmarks/bench_regrid.py --repeat 5
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import math
import os
import pstats
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
import rasterio.crs
import rasterio.warp
import shapely
from affine import Affine
from rasterio.warp import Resampling

import rastercover
from _common import fmt_pairs, save_json
from _paths import gdal_tool, sao_miguel_dir, without_machine_paths
from bench_centroid import (  # this folder is on sys.path when run as a script
    DEFAULT_MAKE_WORKLOAD,
    DEFAULT_WORK,
    generate,
    package_hash,
    workload,
)
from bench_postgis import fmt_s, load_average, machine, med, rastercover_cli, rounds, run_quiet
from rastercover.io.gtiff import gtiff_profile

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GDALWARP = gdal_tool("gdalwarp")
NODATA = -9999.0
MEAN = "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES"
MEAN2 = "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2"
SUM = "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES"
RES_A, RES_B, RES_G = 100.0, 0.0005, 100.0
CRS_B, CRS_G = "EPSG:4326", "EPSG:32626"
GPW = "gpw_v411_2020_count_2020.tif"
FROZEN_ENV = "BENCH_REGRID_FROZEN"  # set in the re-run on the frozen copy of the source (see freeze_and_rerun)

CONFIGS = {
    "a-plan": "(a) `plan_regrid(tif, grid, methods=[MEAN])` alone",
    "a-rc": "(a) `rastercover.regrid(tif, grid, methods=[AREA_WEIGHTED_MEAN_OF_RASTER_VALUES])` → DataArray",
    "a-rio": "(a) `rasterio.warp.reproject(band, dst, resampling=Resampling.average)` → array",
    "a-gdal": "(a) `gdalwarp -r average` → GeoTIFF, subprocess",
    "a-cmd": "(a) rastercover command → GeoTIFF, subprocess",
    "b-plan": "(b) `plan_regrid(tif, grid, methods=[SUM])` alone",
    "b-rc": "(b) `rastercover.regrid(tif, grid, methods=[SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES])` → DataArray",
    "b-rio": "(b) `rasterio.warp.reproject(band, dst, resampling=Resampling.sum)` → array",
    "b-gdal": "(b) `gdalwarp -r sum` → GeoTIFF, subprocess",
    "b-cmd": "(b) rastercover command → GeoTIFF, subprocess",
    "startup": "`rastercover --help` (CLI start-up alone), subprocess",
    "g-rc": "GPW: `rastercover.regrid(gpw, grid, methods=[SUM])` → DataArray",
    "g-rio": "GPW: `reproject(..., resampling=Resampling.sum)` → array",
    "g-gdal-sum": "GPW: `gdalwarp -r sum` → GeoTIFF, subprocess",
    "g-gdal-avg": "GPW: `gdalwarp -r average` → GeoTIFF, subprocess",
}


# ------------------------------------------------------------------------------------------- grids
def misaligned_grid(path: str, res: float, offset: tuple[float, float]) -> rastercover.Grid:
    """A north-up ``res`` grid in the source's CRS whose origin sits ``offset`` off the ``res`` lattice and which
    covers the whole source."""
    with rasterio.open(path) as ds:
        left, bottom, right, top = ds.bounds
        crs = f"EPSG:{ds.crs.to_epsg()}"
    x0 = math.floor((left - offset[0]) / res) * res + offset[0]
    y1 = math.ceil((top - offset[1]) / res) * res + offset[1]
    w, h = math.ceil((right - x0) / res), math.ceil((y1 - bottom) / res)
    return rastercover.Grid(w, h, Affine(res, 0, x0, 0, -res, y1), crs, tile_size=256)


def transformed_grid(path: str, res: float, crs: str) -> rastercover.Grid:
    """The source's bounds transformed to ``crs`` (21 points a side), snapped outward to ``res``."""
    with rasterio.open(path) as ds:
        tb = rasterio.warp.transform_bounds(ds.crs, crs, *ds.bounds, densify_pts=21)
    return rastercover.Grid.from_bounds(tb, res, crs, tile_size=256)


def grid_facts(g: rastercover.Grid) -> dict:
    return {"shape": [g.height, g.width], "transform": list(g.transform)[:6], "bounds": list(g.bounds),
            "crs": str(g.crs.to_string() if hasattr(g.crs, "to_string") else g.crs)}  # fmt: skip


def write_reference(g: rastercover.Grid, path: str) -> None:
    """A small uint8 GeoTIFF on ``g`` (tiled like ``g``): what ``rastercover regrid --like`` reads the grid from."""
    with rasterio.open(path, "w", driver="GTiff", width=g.width, height=g.height, count=1, dtype="uint8",
                       crs=rasterio.crs.CRS.from_user_input(g.crs), transform=g.transform, tiled=True,
                       blockxsize=256, blockysize=256, compress="deflate") as ds:  # fmt: skip
        ds.write(np.zeros((1, g.height, g.width), np.uint8))


def creation_options(g: rastercover.Grid, dtype: str) -> list[str]:
    """rastercover's GeoTIFF creation options for this output (``io.gtiff.gtiff_profile``)."""
    prof = gtiff_profile(g, 1, dtype, NODATA)
    out = []
    for k in ("tiled", "blockxsize", "blockysize", "compress", "predictor", "bigtiff", "interleave", "sparse_ok"):
        if k in prof:
            v = prof[k]
            out.append(f"{k.upper()}={('YES' if v else 'NO') if isinstance(v, bool) else str(v).upper()}")
    return out


def gdalwarp_cmd(src: str, out: str, g: rastercover.Grid, r: str, dtype: str, co: list[str]) -> list[str]:
    x0, y0, x1, y1 = g.bounds
    res = g.transform.a
    te = [repr(float(v)) for v in (x0, y0, x1, y1)]
    cmd = [GDALWARP, "-q", "-r", r, "-t_srs", str(g.crs.to_string()), "-te", *te, "-tr", repr(res), repr(res),
           "-ot", {"float32": "Float32", "float64": "Float64"}[dtype], "-dstnodata", f"{NODATA:g}",
           "-wo", "NUM_THREADS=1"]  # fmt: skip
    return cmd + [a for o in co for a in ("-co", o)] + [src, out]


# ------------------------------------------------------------------------------------------- commands
def regrid_cli_exists(cli: list[str]) -> bool:
    proc = subprocess.run([*cli, "regrid", "--help"], capture_output=True, text=True)
    return proc.returncode == 0 and "--like" in proc.stdout


def rc_command(kind: str, cli: list[str], src: str, like: str, method: str, dtype: str, out: str):
    """The rastercover command of a case: the CLI, or a ``python -c`` calling ``rastercover.regrid`` when the CLI
    has no ``regrid``."""
    if kind == "cli":
        return [*cli, "regrid", src, "--like", like, "-m", method, "--dtype", dtype, "-o", out, "--no-progress"]
    code = (f"import rastercover\nrastercover.regrid({src!r}, {like!r}, methods=[{method!r}], "
            f"dtype={dtype!r}, output={out!r})\n")  # fmt: skip
    return [sys.executable, "-c", code]


def shown(cmd: list[str], tmp: str) -> str:
    if cmd[:2] == [sys.executable, "-c"]:
        text = "python -c '" + "; ".join(ln for ln in cmd[2].splitlines() if ln.strip()) + "'"
    else:
        text = shlex.join(cmd)
    return without_machine_paths(text.replace(tmp + os.sep, "")).replace(str(DEFAULT_WORK) + os.sep, "$W/")


# ------------------------------------------------------------------------------------------- arrays
def read_tif(path: str) -> tuple[np.ndarray, Affine, float | None]:
    with rasterio.open(path) as ds:
        return ds.read(1).astype(np.float64), ds.transform, ds.nodata


def valid(a: np.ndarray, nodata: float | None = NODATA) -> np.ndarray:
    m = np.isfinite(a)
    return m & (a != nodata) if nodata is not None else m


def total(a: np.ndarray, nodata: float | None = NODATA) -> float:
    return float(np.where(valid(a, nodata), a, 0.0).sum(dtype=np.float64))


def source_sum(path: str) -> tuple[float, int]:
    with rasterio.open(path) as ds:
        a = ds.read(1, masked=True).astype(np.float64)
    return float(a.sum()), int(a.count())


def overlaps_1d(lo_t: np.ndarray, hi_t: np.ndarray, lo_s: np.ndarray, hi_s: np.ndarray) -> np.ndarray:
    return np.clip(np.minimum(hi_t[:, None], hi_s[None, :]) - np.maximum(lo_t[:, None], lo_s[None, :]), 0.0, None)


def oracle_means(path: str, g: rastercover.Grid) -> dict[str, np.ndarray]:
    """Σa·v / Σa and Σa·v / max(Σa, pixel area) of an axis-aligned grid in the source's CRS, in float64, from
    1-D overlap lengths (the area of a pixel pair is the product of its x and y overlaps): independent of
    rastercover's kernel."""
    with rasterio.open(path) as ds:
        v = ds.read(1).astype(np.float64)
        st = ds.transform
    gt = g.transform
    sx = st.c + st.a * np.arange(v.shape[1] + 1)
    sy = st.f + st.e * np.arange(v.shape[0] + 1)  # descending
    tx = gt.c + gt.a * np.arange(g.width + 1)
    ty = gt.f + gt.e * np.arange(g.height + 1)
    wx = overlaps_1d(tx[:-1], tx[1:], sx[:-1], sx[1:])
    wy = overlaps_1d(ty[1:], ty[:-1], sy[1:], sy[:-1])
    num = wy @ v @ wx.T
    den = np.outer(wy.sum(1), wx.sum(1))
    pixel = abs(gt.a * gt.e)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean2 = np.where(den > 0, num / den, np.nan)
        mean = np.where(den > 0, num / np.maximum(den, pixel), np.nan)
    return {"mean2": mean2, "mean": mean, "fraction": den / pixel, "integral": float(num.sum())}


def diff_stats(a: np.ndarray, ref: np.ndarray, region: np.ndarray, a_nodata: float | None = NODATA) -> dict:
    both = region & valid(a, a_nodata) & np.isfinite(ref)
    d = np.abs(a - ref)[both]
    out = {"pixels": int(both.sum()), "missing": int((region & np.isfinite(ref) & ~valid(a, a_nodata)).sum())}
    out["max"] = float(d.max()) if d.size else 0.0
    out["over_0.01"] = int((d > 0.01).sum())
    out["over_1"] = int((d > 1.0).sum())
    return out


def misplacement(a: np.ndarray, ref: np.ndarray, g: rastercover.Grid, a_nodata: float | None = NODATA) -> dict:
    """Per-pixel differences of a sum ``a`` against the reference sum ``ref`` (nodata counts as 0)."""
    aa = np.where(valid(a, a_nodata), a, 0.0)
    rr = np.where(valid(ref), ref, 0.0)
    d = aa - rr
    i = int(np.argmax(np.abs(d)))
    r, c = divmod(i, d.shape[1])
    x, y = g.transform * (c + 0.5, r + 0.5)
    return {
        "max_abs": float(abs(d[r, c])),
        "at": [r, c],
        "at_xy": [float(x), float(y)],
        "value": float(aa[r, c]),
        "reference_value": float(rr[r, c]),
        "moved": float(np.abs(d).sum() / 2.0),  # half the L1 difference: what is in the wrong pixel
        "pixels_over_1": int((np.abs(d) > 1.0).sum()),
    }


def gpw_pixel_areas(path: str, g: rastercover.Grid) -> np.ndarray:
    """For each target pixel, the area (in ``g``'s CRS) of the source pixel holding its centre (NaN outside):
    turns gdalwarp's average of counts back into counts (average × target pixel area / source pixel area)."""
    from pyproj import Transformer

    with rasterio.open(path) as ds:
        st, h, w, crs = ds.transform, ds.height, ds.width, ds.crs
    fwd = Transformer.from_crs(crs, g.crs, always_xy=True)
    inv = Transformer.from_crs(g.crs, crs, always_xy=True)
    t = np.linspace(0.0, 1.0, 9)
    areas = np.empty((h, w))
    for r in range(h):
        for c in range(w):
            one, zero = np.ones_like(t), np.zeros_like(t)
            ring = np.concatenate([np.c_[c + t, r + zero], np.c_[c + one, r + t],
                                   np.c_[c + 1 - t, r + one], np.c_[c + zero, r + 1 - t]])  # fmt: skip
            xs, ys = st * (ring[:, 0], ring[:, 1])
            px, py = fwd.transform(xs, ys)
            areas[r, c] = shapely.Polygon(np.c_[px, py]).area
    cols, rows = np.meshgrid(np.arange(g.width) + 0.5, np.arange(g.height) + 0.5)
    x, y = g.transform * (cols, rows)
    lon, lat = inv.transform(x, y)
    sc, sr = ~st * (np.asarray(lon), np.asarray(lat))
    sc, sr = np.floor(sc).astype(int), np.floor(sr).astype(int)
    inside = (sc >= 0) & (sc < w) & (sr >= 0) & (sr < h)
    out = np.full(x.shape, np.nan)
    out[inside] = areas[sr[inside], sc[inside]]
    return out


# ------------------------------------------------------------------------------------------- timing helpers
def strip_paths(text: str, frozen: str) -> str:
    """Profile paths without the machine's folders: the frozen copy as ``src/``, site-packages dropped."""
    text = text.replace(str(Path(frozen).resolve()) + os.sep, "src" + os.sep).replace(frozen + os.sep, "src" + os.sep)
    text = re.sub(r"\S*/site-packages/", "", text)
    return re.sub(re.escape(str(ROOT)) + "/?", "", text)


def profile_of(fn: Callable[[], object], runs: int, top: int, frozen: str) -> dict:
    fn()  # warm
    prof = cProfile.Profile()
    for _ in range(runs):
        gc.collect()
        prof.enable()
        fn()
        prof.disable()
    out: dict = {"runs": runs, "top": top}
    stats = pstats.Stats(prof)
    total_t = stats.total_tt
    out["total_s"] = total_t
    for order in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(order).print_stats(top)
        body = buf.getvalue()
        body = body[body.index("ncalls") :] if "ncalls" in body else body
        out[order] = strip_paths(body, frozen).rstrip()
    rows = []
    for (file, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        where = strip_paths(file, frozen)
        rows.append({"function": f"{where}:{line}({name})", "calls": nc, "own_s": tt, "cumulative_s": ct})
    out["by_own"] = sorted(rows, key=lambda r: -r["own_s"])[:top]
    out["by_cumulative"] = sorted(rows, key=lambda r: -r["cumulative_s"])[:top]
    return out


COLD_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import rastercover
from affine import Affine
t1 = time.perf_counter()
src, t, w, h, crs, method, dtype = json.loads(sys.argv[1])
g = rastercover.Grid(w, h, Affine(*t), crs, tile_size=256)
rastercover.regrid(src, g, methods=[method], dtype=dtype)
t2 = time.perf_counter()
rastercover.regrid(src, g, methods=[method], dtype=dtype)
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "first": t2 - t1, "second": t3 - t2}))
"""


def cold_runs(src: str, g: rastercover.Grid, method: str, dtype: str, n: int, tmp: str) -> dict:
    """``n`` fresh processes with an empty numba cache (``NUMBA_CACHE_DIR`` a new folder each), then ``n`` with
    the cache the first one filled: each imports rastercover and regrids twice."""
    arg = json.dumps([src, list(g.transform)[:6], g.width, g.height, str(g.crs.to_string()), method, dtype])
    out: dict[str, list[dict]] = {"empty_cache": [], "filled_cache": []}
    filled = tempfile.mkdtemp(prefix="numba-filled-", dir=tmp)
    for mode in ("empty_cache", "filled_cache"):
        for _ in range(n):
            cache = tempfile.mkdtemp(prefix="numba-empty-", dir=tmp) if mode == "empty_cache" else filled
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            proc = subprocess.run([sys.executable, "-c", COLD_CHILD, arg], capture_output=True, text=True, env=env)
            if proc.returncode:
                raise RuntimeError(f"cold run failed:\n{proc.stderr[-2000:]}")
            out[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            if mode == "empty_cache" and not os.listdir(filled):  # the first compile fills the shared cache too
                shutil.copytree(cache, filled, dirs_exist_ok=True)
        r = out[mode][-1]
        print(f"  cold {method}, {mode}: imports {r['imports']:.2f} s, first call {r['first']:.2f} s, second "
              f"{r['second']:.2f} s", file=sys.stderr, flush=True)  # fmt: skip
    out["cache_files"] = sorted(os.listdir(filled))[:20]
    return out


# ------------------------------------------------------------------------------------------- the run
def bench(a: argparse.Namespace, tmp: str, frozen: str) -> dict:
    wl = workload(a.work.resolve(), 1)
    src = wl.elevation
    gpw = str(sao_miguel_dir() / GPW)
    ga = misaligned_grid(src, RES_A, tuple(a.offset))
    gb = transformed_grid(src, RES_B, CRS_B)
    gg = transformed_grid(gpw, RES_G, CRS_G)
    res: dict = {"grids": {"a": grid_facts(ga), "b": grid_facts(gb), "gpw": grid_facts(gg)}}
    with rasterio.open(src) as ds:
        res["source"] = {"size": [ds.width, ds.height], "res": list(ds.res), "crs": f"EPSG:{ds.crs.to_epsg()}",
                         "dtype": ds.dtypes[0], "nodata": ds.nodata, "block": list(ds.block_shapes[0])}  # fmt: skip
    res["source"]["sum"], res["source"]["count"] = source_sum(src)
    with rasterio.open(src) as ds:
        v = ds.read(1, masked=True)
        res["source"]["min"], res["source"]["max"] = float(v.min()), float(v.max())
    res["gpw_source"] = dict(zip(("sum", "count"), source_sum(gpw), strict=True))

    plan_b = rastercover.plan_regrid(src, gb, methods=[SUM], dtype="float64")
    reg = plan_b.job.source
    res["b_plan"] = {"sub": reg.sub, "area_error": reg.area_error, "block_pixels": plan_b.block_pixels,
                     "source_pixel_area_in_target_px": reg.source_pixel_area}  # fmt: skip
    plan_a = rastercover.plan_regrid(src, ga, methods=[MEAN])
    res["a_plan"] = {"block_pixels": plan_a.block_pixels, "same_crs": plan_a.job.source.same}

    cli = rastercover_cli()
    kind = "cli" if regrid_cli_exists(cli) else "python"
    res["command_kind"] = kind
    ref_a, ref_b = os.path.join(tmp, "like_a.tif"), os.path.join(tmp, "like_b.tif")
    write_reference(ga, ref_a)
    write_reference(gb, ref_b)
    outs = {k: os.path.join(tmp, f"{k}.tif") for k in ("a-gdal", "a-cmd", "b-gdal", "b-cmd", "g-gdal-sum",
                                                        "g-gdal-avg")}  # fmt: skip
    co_a, co_b = creation_options(ga, "float32"), creation_options(gb, "float64")
    co_g = creation_options(gg, "float64")
    cmds = {
        "a-gdal": gdalwarp_cmd(src, outs["a-gdal"], ga, "average", "float32", co_a),
        "a-cmd": rc_command(kind, cli, src, ref_a, MEAN, "float32", outs["a-cmd"]),
        "b-gdal": gdalwarp_cmd(src, outs["b-gdal"], gb, "sum", "float64", co_b),
        "b-cmd": rc_command(kind, cli, src, ref_b, SUM, "float64", outs["b-cmd"]),
        "startup": [*cli, "--help"],
        "g-gdal-sum": gdalwarp_cmd(gpw, outs["g-gdal-sum"], gg, "sum", "float64", co_g),
        "g-gdal-avg": gdalwarp_cmd(gpw, outs["g-gdal-avg"], gg, "average", "float64", co_g),
    }
    where = str(sao_miguel_dir()) + os.sep
    res["commands"] = {k: shown(v, tmp).replace(where, "$SAO_MIGUEL/") for k, v in cmds.items()}
    last: dict[str, np.ndarray] = {}

    def rc(path: str, g: rastercover.Grid, method: str, dtype: str, key: str) -> Callable[[], None]:
        def run() -> None:
            last[key] = np.asarray(rastercover.regrid(path, g, methods=[method], dtype=dtype).values[0])

        return run

    def plan(path: str, g: rastercover.Grid, method: str, dtype: str) -> Callable[[], None]:
        def run() -> None:
            rastercover.plan_regrid(path, g, methods=[method], dtype=dtype)

        return run

    def rio(path: str, g: rastercover.Grid, resampling: Resampling, dtype: str, key: str) -> Callable[[], None]:
        def run() -> None:
            dst = np.full((g.height, g.width), NODATA, dtype=dtype)
            with rasterio.open(path) as ds:
                rasterio.warp.reproject(rasterio.band(ds, 1), dst, dst_transform=g.transform,
                                        dst_crs=rasterio.crs.CRS.from_user_input(g.crs), dst_nodata=NODATA,
                                        resampling=resampling, num_threads=1)  # fmt: skip
            last[key] = dst

        return run

    def command(cmd: list[str]) -> Callable[[], None]:
        return lambda: run_quiet(cmd)

    configs = {
        "a-plan": plan(src, ga, MEAN, "float32"),
        "a-rc": rc(src, ga, MEAN, "float32", "a-rc"),
        "a-rio": rio(src, ga, Resampling.average, "float32", "a-rio"),
        "a-gdal": command(cmds["a-gdal"]),
        "a-cmd": command(cmds["a-cmd"]),
        "b-plan": plan(src, gb, SUM, "float64"),
        "b-rc": rc(src, gb, SUM, "float64", "b-rc"),
        "b-rio": rio(src, gb, Resampling.sum, "float64", "b-rio"),
        "b-gdal": command(cmds["b-gdal"]),
        "b-cmd": command(cmds["b-cmd"]),
        "startup": command(cmds["startup"]),
    }
    gconfigs = {
        "g-rc": rc(gpw, gg, SUM, "float64", "g-rc"),
        "g-rio": rio(gpw, gg, Resampling.sum, "float64", "g-rio"),
        "g-gdal-sum": command(cmds["g-gdal-sum"]),
        "g-gdal-avg": command(cmds["g-gdal-avg"]),
    }

    def prepare(prefix: str) -> Callable[[], None]:
        def run() -> None:
            for k, p in outs.items():
                if k.startswith(prefix) and os.path.exists(p):
                    os.remove(p)

        return run

    print(f"(a) {ga.width}×{ga.height} px, (b) {gb.width}×{gb.height} px; command: {kind}",
          file=sys.stderr, flush=True)  # fmt: skip
    res["times"] = rounds(configs, a.repeat, prepare(("a-", "b-")))
    print("real data (GPW, São Miguel):", file=sys.stderr, flush=True)
    res["times"] |= rounds(gconfigs, a.repeat, prepare("g-"))

    print("checks", file=sys.stderr, flush=True)
    res["checks"] = checks(src, gpw, ga, gb, gg, last, outs)
    print("profile of (b)", file=sys.stderr, flush=True)
    res["profile"] = profile_of(configs["b-rc"], a.profile_runs, a.profile, frozen)
    if a.cold:
        print("cold starts", file=sys.stderr, flush=True)
        res["cold"] = {
            "a": cold_runs(src, ga, MEAN, "float32", a.cold, tmp),
            "b": cold_runs(src, gb, SUM, "float64", a.cold, tmp),
        }
    return res


def checks(src: str, gpw: str, ga, gb, gg, last: dict, outs: dict[str, str]) -> dict:
    out: dict = {}
    # (a): every average against rastercover's exact MEAN_2, itself against the numpy oracle
    ora = oracle_means(src, ga)
    ex = rastercover.regrid(src, ga, methods=[MEAN2, MEAN, "VALID_FRACTION"], dtype="float64")
    m2, m1, frac = (np.asarray(ex.values[i]) for i in range(3))
    m2 = np.where(valid(m2), m2, np.nan)
    interior = np.isclose(frac, 1.0, rtol=0, atol=1e-12)
    edge = ~interior & (frac > 0)
    everywhere = np.ones_like(interior)
    out["a_oracle"] = {
        "mean2_max_abs": float(np.nanmax(np.abs(m2 - ora["mean2"]))),
        "mean_max_abs": float(np.nanmax(np.abs(np.where(valid(m1), m1, np.nan) - ora["mean"]))),
        "fraction_max_abs": float(np.abs(frac - ora["fraction"]).max()),
        "interior_pixels": int(interior.sum()),
        "edge_pixels": int(edge.sum()),
    }
    peers_a: dict[str, tuple[np.ndarray, float | None]] = {
        "a-rc": (last["a-rc"].astype(np.float64), NODATA),
        "a-rio": (last["a-rio"].astype(np.float64), NODATA),
    }
    for key in ("a-gdal", "a-cmd"):
        arr, t, nd = read_tif(outs[key])
        out.setdefault("transforms", {})[key] = bool(t.almost_equals(ga.transform)) and arr.shape == ga.shape
        peers_a[key] = (arr, nd)
    pixel_a = abs(ga.transform.a * ga.transform.e)
    with rasterio.open(src) as ds:
        src_px = abs(ds.res[0] * ds.res[1])
    source_integral = source_sum(src)[0] * src_px  # Σ v·|S|: every source pixel lies inside the grid
    out["a_source_integral"] = {"sum_v_times_pixel": source_integral, "oracle": ora["integral"]}
    out["a"] = {}
    for key, (arr, nd) in peers_a.items():
        integ = total(arr, nd) * pixel_a
        d = np.where(valid(arr, nd), np.abs(arr - m2), np.nan)
        sides = {"top": d[0, 1:-1], "bottom": d[-1, 1:-1], "left": d[1:-1, 0], "right": d[1:-1, -1],
                 "corners": d[[0, 0, -1, -1], [0, -1, 0, -1]]}  # fmt: skip
        out["a"][key] = {
            "sides": {k: float(np.nanmax(v)) for k, v in sides.items()},
            "all": diff_stats(arr, m2, everywhere, nd),
            "interior": diff_stats(arr, m2, interior, nd),
            "edge": diff_stats(arr, m2, edge, nd),
            "integral_error": abs(integ - source_integral) / source_integral,
        }
    integ2 = float(np.nansum(m2)) * pixel_a
    out["a"]["mean2-exact"] = {"integral_error": abs(integ2 - source_integral) / source_integral}
    # (b): conservation of the sum of counts, and each peer against rastercover
    s_b = source_sum(src)[0]
    peers_b = {"b-rc": (last["b-rc"], NODATA), "b-rio": (last["b-rio"], NODATA)}
    for key in ("b-gdal", "b-cmd"):
        arr, t, nd = read_tif(outs[key])
        out.setdefault("transforms", {})[key] = bool(t.almost_equals(gb.transform)) and arr.shape == gb.shape
        peers_b[key] = (arr, nd)
    out["b"] = {}
    for key, (arr, nd) in peers_b.items():
        tot = total(arr, nd)
        out["b"][key] = {"total": tot, "error": abs(tot - s_b) / s_b,
                         "vs_rc": misplacement(arr, last["b-rc"], gb, nd)}  # fmt: skip
    # real data
    s_g = source_sum(gpw)[0]
    peers_g = {"g-rc": (last["g-rc"], NODATA), "g-rio": (last["g-rio"], NODATA)}
    for key in ("g-gdal-sum", "g-gdal-avg"):
        arr, t, nd = read_tif(outs[key])
        out.setdefault("transforms", {})[key] = bool(t.almost_equals(gg.transform)) and arr.shape == gg.shape
        peers_g[key] = (arr, nd)
    out["gpw"] = {}
    for key, (arr, nd) in peers_g.items():
        tot = total(arr, nd)
        row = {"total": tot, "error": abs(tot - s_g) / s_g}
        if key != "g-gdal-avg":
            row["vs_rc"] = misplacement(arr, last["g-rc"], gg, nd)
        else:  # an average of counts: back to counts with each source pixel's area
            areas = gpw_pixel_areas(gpw, gg)
            counts = np.where(
                valid(arr, nd) & np.isfinite(areas), arr * abs(gg.transform.a * gg.transform.e) / areas, 0.0
            )
            row["as_counts_total"] = float(counts.sum())
            row["as_counts_error"] = abs(row["as_counts_total"] - s_g) / s_g
            row["as_counts_vs_rc"] = misplacement(counts, last["g-rc"], gg, None)
        out["gpw"][key] = row
    return out


# ------------------------------------------------------------------------------------------- report
def versions() -> dict:
    gw = subprocess.run([GDALWARP, "--version"], capture_output=True, text=True).stdout.strip() if GDALWARP else "?"
    import numba

    return {"python": sys.version.split()[0], "numpy": np.__version__, "numba": numba.__version__,
            "rasterio": f"{rasterio.__version__} (GDAL {rasterio.__gdal_version__})", "gdalwarp": gw,
            "rastercover": rastercover.__version__}  # fmt: skip


def per_round(times: dict, a: str, b: str) -> str:
    """``a`` / ``b`` round by round (A and B alternate run by run): the median of the ratios and their range."""
    return fmt_pairs(times[a], times[b])


def ratio_row(t: dict, a: str, b: str, what: str) -> str:
    ma, mb = med(t, a), med(t, b)
    return f"| {what} | {fmt_s(ma)} | {fmt_s(mb)} | **{ma / mb:.2f}** | {per_round(t, a, b)} |"


def sci(x: float) -> str:
    return "0" if x == 0 else f"{x:.1e}"


def report(res: dict) -> str:
    t, c, v = res["times"], res["checks"], res["versions"]
    ga, gb, gg = res["grids"]["a"], res["grids"]["b"], res["grids"]["gpw"]
    s = res["source"]
    cmd_name = (
        "`rastercover regrid` command"
        if res["command_kind"] == "cli"
        else "`python -c` calling `rastercover.regrid(..., output=)`"
    )
    lines = [
        "## Regridding: rastercover.regrid vs rasterio.warp.reproject and gdalwarp",
        "",
        "Produced by `benchmarks/bench_regrid.py`. The scale-1 workload's `elevation.tif` "
        f"({s['size'][0]}×{s['size'][1]} px of {s['dtype']}, {s['res'][0]:g} m, {s['crs']}, no nodata) regridded "
        f"(a) onto a misaligned {RES_A:g} m grid in the same CRS ({ga['shape'][1]}×{ga['shape'][0]} px, origin "
        f"({ga['transform'][2]:.0f}, {ga['transform'][5]:.0f}): {res['offset'][0]:g} m and {res['offset'][1]:g} m "
        f"off the {RES_A:g} m lattice) and (b) onto {CRS_B} at {RES_B:g}° ({gb['shape'][1]}×{gb['shape'][0]} px, the "
        "source's transformed bounds snapped outward). In one process, one warm-up round then "
        f"{res['repeat']} rounds, every configuration once per round in order (A and B interleaved run by run); "
        "medians, and the median and range of the per-round ratios. Single-threaded everywhere (`workers=1`, "
        "`num_threads=1`, `-wo NUM_THREADS=1`); rasterio and rastercover read the file themselves.",
        f"Command: `{res['command']}`; rastercover git {res['source_state']['commit']}"
        + (
            f" + uncommitted changes ({len(res['source_state']['dirty'])} files under src/)"
            if res["source_state"]["dirty"]
            else ""
        )
        + f", source hash {res['source_state']['hash']} (a copy of `src/rastercover` taken at the start: every run, "
        "in-process and subprocess, used it"
        + ("" if res["source_unchanged"] else "; the working tree changed during the run")
        + f"); run {res['date']} ({res['wall_s']:.0f} s).",
        f"Machine: {res['machine']}; load average {res['loadavg_start']} at the start, {res['loadavg_end']} at the "
        f"end. Python {v['python']}, numpy {v['numpy']}, numba {v['numba']}, rasterio {v['rasterio']}; "
        f"`gdalwarp`: {v['gdalwarp']} (on PATH; not rasterio's GDAL).",
        "",
    ]
    lines += [
        "| Case | rastercover | peer | rastercover / peer | per round: median (range) |",
        "|---|---:|---:|---:|---:|",
        ratio_row(t, "a-rc", "a-rio", f"(a) in-process: `{MEAN}` vs `reproject(Resampling.average)`, float32"),
        ratio_row(t, "b-rc", "b-rio", f"(b) in-process: `{SUM}` vs `reproject(Resampling.sum)`, float64"),
        ratio_row(t, "a-cmd", "a-gdal", "(c) command → GeoTIFF, (a): rastercover vs `gdalwarp -r average`"),
        ratio_row(t, "b-cmd", "b-gdal", "(c) command → GeoTIFF, (b): rastercover vs `gdalwarp -r sum`"),
        ratio_row(t, "g-rc", "g-gdal-sum", "real data (GPW → 100 m UTM 26N): in-process `SUM` vs `gdalwarp -r sum`"),
        "",
        f"- (c) rastercover's command is the {cmd_name}; `rastercover --help` alone takes {fmt_s(med(t, 'startup'))}. "
        f"`plan_regrid` alone: (a) {fmt_s(med(t, 'a-plan'))}, (b) {fmt_s(med(t, 'b-plan'))} (source pixels cut "
        f"{res['b_plan']['sub']}×{res['b_plan']['sub']}, area error bound {res['b_plan']['area_error']:.1e}). "
        f"Two GDALs: rasterio's {v['rasterio'].split('GDAL ')[1].rstrip(')')} in-process, gdalwarp's "
        f"{v['gdalwarp'].split(',')[0].replace('GDAL ', '')}. GPW: rasterio `Resampling.sum` "
        f"{fmt_s(med(t, 'g-rio'))}, `gdalwarp -r average` {fmt_s(med(t, 'g-gdal-avg'))}.",
    ]
    if "cold" in res:

        def m(rows: list[dict], k: str) -> str:
            return f"{float(np.median([r[k] for r in rows])):.2f} s"

        for case, key in (("a", "a-rc"), ("b", "b-rc")):
            cold = res["cold"].get(case)
            if not cold:
                continue
            e, f = cold["empty_cache"], cold["filled_cache"]
            lines.append(
                f"- Cold start, ({case}) in a fresh process (median of {len(e)}): `import rastercover` "
                f"{m(e, 'imports')}; first call with an empty numba cache (`NUMBA_CACHE_DIR` a new folder) "
                f"**{m(e, 'first')}**, with the cache filled **{m(f, 'first')}**; the second call {m(f, 'second')} "
                f"(the in-process median above: {fmt_s(med(t, key))})."
            )
    ca, cb, cg = c["a"], c["b"], c["gpw"]
    o = c["a_oracle"]
    lines += [
        "",
        f"(d) Accuracy of (a): each peer's average against rastercover's exact `{MEAN2}` (Σa·v / Σa, float64), "
        f"max |difference|; interior: the {o['interior_pixels']} pixels the source covers wholly, edge: the "
        f"{o['edge_pixels']} partly covered. Integral error: |Σ value × {RES_A:g}² − Σ source × "
        f"{s['res'][0]:g}²| / Σ source × {s['res'][0]:g}².",
        "",
        "| Peer (a) | max abs diff, interior | edge | pixels > 0.01 | integral error |",
        "|---|---:|---:|---:|---:|",
    ]
    names_a = {"a-rc": f"rastercover `{MEAN}` (float32)", "a-rio": "rasterio `Resampling.average`",
               "a-gdal": "`gdalwarp -r average`", "a-cmd": "rastercover command"}  # fmt: skip
    for key, name in names_a.items():
        r = ca[key]
        lines.append(f"| {name} | {r['interior']['max']:.2g} | {r['edge']['max']:.3g} | {r['all']['over_0.01']} | "
                     f"{sci(r['integral_error'])} |")  # fmt: skip
    lines.append(f"| rastercover `{MEAN2}` itself | 0 | 0 | 0 | {sci(ca['mean2-exact']['integral_error'])} |")
    lines += [
        "",
        f"- `{MEAN2}` against an independent numpy oracle (1-D overlaps multiplied, float64): max |difference| "
        f"{sci(o['mean2_max_abs'])}; `{MEAN}` {sci(o['mean_max_abs'])}; `VALID_FRACTION` {sci(o['fraction_max_abs'])}.",
        f"- Edge pixels: `{MEAN}` divides by max(Σa, pixel area), so a partly covered pixel is diluted towards 0 (by "
        "design: Σ value × pixel area is then the source's integral); `_2` and GDAL's average divide by the covered "
        "area only. GDAL's edge differences by side (max |diff| against `_2`): rasterio "
        + ", ".join(f"{k} {v:.3g}" for k, v in ca["a-rio"]["sides"].items())
        + "; gdalwarp "
        + ", ".join(f"{k} {v:.3g}" for k, v in ca["a-gdal"]["sides"].items())
        + f" (source values {s['min']:g}–{s['max']:g}).",
        "",
        f"(d) Conservation of (b): elevation values as counts, Σ source = {s['sum']:.6f} ({s['count']} px); "
        "Σ|diff|/2 is half the L1 distance to rastercover's output: the mass a peer puts in other pixels.",
        "",
        "| Peer (b) | Σ output | conservation error | max per-pixel diff vs rastercover | Σ\\|diff\\|/2 |",
        "|---|---:|---:|---:|---:|",
    ]
    names_b = {"b-rc": f"rastercover `{SUM}`", "b-rio": "rasterio `Resampling.sum`", "b-gdal": "`gdalwarp -r sum`",
               "b-cmd": "rastercover command"}  # fmt: skip
    for key, name in names_b.items():
        r = cb[key]
        lines.append(f"| {name} | {r['total']:.6f} | {sci(r['error'])} | {r['vs_rc']['max_abs']:.4g} | "
                     f"{r['vs_rc']['moved']:.4g} |")  # fmt: skip
    gs = res["gpw_source"]
    lines += [
        "",
        f"Real data: GPW v4.11 2020 counts of São Miguel ({CRS_B}, 30″, Σ = {gs['sum']:.3f} in {gs['count']} px) onto "
        f"{CRS_G} at {RES_G:g} m ({gg['shape'][1]}×{gg['shape'][0]} px covering the raster).",
        "",
        "| Peer (GPW) | total kept | error | largest per-pixel misplacement vs rastercover | Σ\\|diff\\|/2 |",
        "|---|---:|---:|---:|---:|",
    ]
    names_g = {"g-rc": f"rastercover `{SUM}`", "g-rio": "rasterio `Resampling.sum`", "g-gdal-sum": "`gdalwarp -r sum`"}
    for key, name in names_g.items():
        r = cg[key]
        mv = r["vs_rc"]
        where = (f" (pixel {mv['at'][0]},{mv['at'][1]}: {mv['value']:.2f} vs {mv['reference_value']:.2f})"
                 if mv["max_abs"] else "")  # fmt: skip
        lines.append(
            f"| {name} | {r['total']:.3f} | {sci(r['error'])} | {mv['max_abs']:.3f}{where} | {mv['moved']:.1f} |"
        )
    r = cg["g-gdal-avg"]
    mv = r["as_counts_vs_rc"]
    lines.append(f"| `gdalwarp -r average` (raw Σ of averaged counts) | {r['total']:.1f} | {sci(r['error'])} | — | — |")
    lines.append(
        f"| `gdalwarp -r average` × {RES_G:g}² / source pixel area | {r['as_counts_total']:.3f} | "
        f"{sci(r['as_counts_error'])} | {mv['max_abs']:.3f} (pixel {mv['at'][0]},{mv['at'][1]}: {mv['value']:.2f} vs "
        f"{mv['reference_value']:.2f}) | {mv['moved']:.1f} |"
    )
    bad = [k for k, ok in c.get("transforms", {}).items() if not ok]
    lines.append("")
    lines.append(
        "- Every GeoTIFF output has the target grid's transform and shape."
        if not bad
        else f"- **Outputs not on the target grid**: {', '.join(bad)} (their comparisons are not pixel for pixel)."
    )
    p = res["profile"]
    lines += [
        "",
        f"cProfile of (b) in-process (`{SUM}`, {p['runs']} warm run(s), {p['total_s']:.1f} s profiled), top 5 by own "
        "time (the full top lists are in the data comment):",
        "",
        "| function | calls | own | cumulative |",
        "|---|---:|---:|---:|",
    ]
    for row in p["by_own"][:5]:
        lines.append(f"| `{row['function']}` | {row['calls']} | {row['own_s']:.2f} s | {row['cumulative_s']:.2f} s |")
    lines += ["", "Commands as run (paths from the repository root; `$SAO_MIGUEL` = the São Miguel data folder):", ""]
    for k in ("a-gdal", "a-cmd", "b-gdal", "b-cmd", "g-gdal-sum", "g-gdal-avg"):
        lines.append(f"- {k}: `{res['commands'][k]}`" if "\n" not in res["commands"][k] else f"- {k}: (multi-line)")
    return "\n".join(ln for ln in lines if ln is not None)


# ------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds after one warm-up round (default 5)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"workload folders (default {DEFAULT_WORK})")
    ap.add_argument("--generate", action="store_true", help="build the scale-1 workload if missing")
    ap.add_argument("--make-workload", type=Path, default=DEFAULT_MAKE_WORKLOAD, help="path of make_workload.py")
    ap.add_argument("--offset", type=float, nargs=2, default=[37.0, 13.0], metavar=("DX", "DY"),
                    help="(a)'s grid origin off the 100 m lattice, in metres (default 37 13)")  # fmt: skip
    ap.add_argument("--cold", type=int, default=2, metavar="N", help="fresh processes per cache state (0: none)")
    ap.add_argument("--profile", type=int, default=15, metavar="N", help="profile entries kept (default 15)")
    ap.add_argument("--profile-runs", type=int, default=1, help="warm runs of (b) profiled (default 1)")
    ap.add_argument("--json", type=Path, default=DEFAULT_WORK / "bench_regrid.json", help="results JSON")
    ap.add_argument("--report-only", action="store_true", help="rebuild the report from --json without running")
    return ap.parse_args(argv)


def git_state() -> dict:
    """The commit and the files of ``src/`` that differ from it (git commands that change nothing)."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "--no-optional-locks", *args], capture_output=True, text=True, cwd=ROOT)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    dirty = [ln[3:] for ln in git("status", "--porcelain", "--", "src").splitlines() if ln.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown", "dirty": dirty}


def freeze_and_rerun(argv: list[str]) -> int:
    """Copy ``src/rastercover`` (the working tree, as it is now) to a temporary folder and run this script again
    with the copy first on ``PYTHONPATH``: the in-process runs, the commands and the cold processes all run that
    one copy, whatever is edited in the working tree meanwhile (numba caches the kernel beside the copy)."""
    pkg = ROOT / "src" / "rastercover"
    snap = tempfile.mkdtemp(prefix="bench-regrid-src-")
    try:
        for _ in range(5):  # a copy taken while a file is being written: take it again
            shutil.rmtree(Path(snap) / "rastercover", ignore_errors=True)
            state = git_state()
            before = package_hash(pkg)
            shutil.copytree(pkg, Path(snap) / "rastercover", ignore=shutil.ignore_patterns("__pycache__"))
            if package_hash(Path(snap) / "rastercover") == before == package_hash(pkg):
                break
            time.sleep(2)
        else:
            sys.exit("src/rastercover keeps changing: run again when it is still")
        state |= {"hash": before, "dir": snap, "working_tree": str(pkg)}
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (snap, os.environ.get("PYTHONPATH")) if p))
        env[FROZEN_ENV] = json.dumps(state)
        return subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], env=env).returncode
    finally:
        shutil.rmtree(snap, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--report-only" in argv:
        a = parse_args(argv)
        res = json.loads(a.json.read_text())
        print(report(res))
        return 0
    if FROZEN_ENV not in os.environ:
        return freeze_and_rerun(argv)
    state = json.loads(os.environ[FROZEN_ENV])
    if Path(rastercover.__file__).resolve().parent != Path(state["dir"]).resolve() / "rastercover":
        sys.exit(f"rastercover was imported from {rastercover.__file__}, not from the frozen copy")
    a = parse_args(argv)
    command = shlex.join(["python", "benchmarks/bench_regrid.py", *argv])
    if GDALWARP is None:
        sys.exit("gdalwarp is not on PATH: install GDAL's command-line tools (Debian: gdal-bin)")
    if not (sao_miguel_dir() / GPW).exists():
        sys.exit(f"no {sao_miguel_dir() / GPW}: the package's data/sao_miguel, or set RASTERCOVER_SHARED")
    wl = workload(a.work.resolve(), 1)
    if not wl.exists():
        if not a.generate:
            sys.exit(f"no workload at {wl.folder}: build it with --generate (or make_workload.py)")
        generate(wl, a.make_workload)
    os.environ.pop("GDAL_NUM_THREADS", None)
    res: dict = {"command": command, "repeat": a.repeat, "offset": a.offset}
    res["source_state"] = {k: state[k] for k in ("commit", "dirty", "hash")}
    res["machine"] = machine()
    res["versions"] = versions()
    res["loadavg_start"] = load_average()
    res["date"] = dt.datetime.now().isoformat(timespec="seconds")
    tmp = tempfile.mkdtemp(prefix="bench-regrid-", dir=a.work.resolve())
    t0 = time.perf_counter()
    try:
        res |= bench(a, tmp, state["dir"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["wall_s"] = time.perf_counter() - t0
    res["loadavg_end"] = load_average()
    res["source_unchanged"] = package_hash(Path(state["working_tree"])) == state["hash"]
    print(report(res))
    print(f"\ncProfile of (b), own time:\n{res['profile']['tottime']}\n", file=sys.stderr)
    save_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
