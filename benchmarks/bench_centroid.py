#!/usr/bin/env python3
"""Benchmark: MEAN_OF_VALUES_AT_PIXEL_CENTROID over every tile of the grid, against rasterio.

A script, not a test. For each scale (1, 4, 16 ...) of the workload built by ``make_workload.py``:

* times, in this one process (a warm-up round, then ``--repeat`` rounds, every configuration once per round,
  ours and rasterio's of a pair next to each other: A, B, A, B, ...): rastercover to memory, to one tiled
  GeoTIFF and to a tile folder, with ``workers=1`` and ``workers=2``; ``rasterio.features.rasterize`` of the
  same polygons on the same grid to memory (with and without reading the GeoPackage) and written to the same
  kind of GeoTIFF; and reports the medians and the ratios ours / rasterio as medians of the per-round ratios
  (which the machine's drift cancels out of), the ratios of the medians beside them;
* checks that rastercover's LAST_VALUE_AT_PIXEL_CENTROID equals rasterio's array (rasterio burns the last
  polygon, like LAST; our MEAN equals it where polygons do not overlap) and that every file output reads back
  equal to the in-memory result;
* measures the peak RSS of each configuration in a fresh subprocess (``--one``, hidden);
* prints a markdown report and, with ``--json FILE``, writes the results (``python -m benchmarks`` renders them).

Run from the repository root, e.g.::

    python benchmarks/bench_centroid.py --scales 1 4 16 --generate --json /tmp/centroid.json
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import os
import pstats
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import rasterio
import rasterio.crs
import rasterio.features
import shapely

import rastercover
from _common import (  # this folder is on sys.path when run as a script
    alternate,
    fmt_pairs,
    git_commit,
    median_ratio,
    package_hash,
    save_json,
)
from _paths import DEFAULT_MAKE_WORKLOAD, DEFAULT_WORK
from rastercover.engine import DEFAULT_BLOCK_PIXELS, plan_blocks

LAYER = "forestcover"
VALUE = "height"
MEAN = "MEAN_OF_VALUES_AT_PIXEL_CENTROID"
LAST = "LAST_VALUE_AT_PIXEL_CENTROID"
NODATA = -9999.0
TILE = 100  # the PostGIS tiling: 100x100 px tiles, 625 of them at scale 1
MIB = 1024 * 1024

# Configurations: key -> (label, engine, output kind, workers)
CONFIGS = {
    "rc-memory-w1": ("rastercover to memory", "rc", "memory", 1),
    "rc-memory-w2": ("rastercover to memory", "rc", "memory", 2),
    "rc-gtiff-w1": ("rastercover to one GeoTIFF", "rc", "gtiff", 1),
    "rc-gtiff-w2": ("rastercover to one GeoTIFF", "rc", "gtiff", 2),
    "rc-folder-w1": ("rastercover to a tile folder", "rc", "folder", 1),
    "rc-folder-w2": ("rastercover to a tile folder", "rc", "folder", 2),
    "rio-memory": ("rasterio read + rasterize", "rio", "memory", 1),
    "rio-memory-noread": ("rasterio rasterize (layer already read)", "rio", "memory-noread", 1),
    "rio-gtiff": ("rasterio read + rasterize + write GeoTIFF", "rio", "gtiff", 1),
}
# the order of a round: ours and rasterio's of each pair next to each other
TIMED = ["rc-memory-w1", "rio-memory", "rio-memory-noread", "rc-gtiff-w1", "rio-gtiff", "rc-memory-w2", "rc-gtiff-w2",
         "rc-folder-w1", "rc-folder-w2"]  # fmt: skip
SOURCE_AT_START: dict = {}  # set by main(): rastercover's commit and source hash
RSS_CONFIGS = ["rc-memory-w1", "rc-gtiff-w1", "rc-folder-w1", "rc-folder-w2", "rio-memory", "rio-gtiff"]
RATIO_KEYS = ["rc-memory-w1", "rio-memory", "rio-memory-noread"]
PAIRS = [  # the ratios of the table: ours / rasterio, and the speed-ups workers=1 / workers=2
    ("rc-memory-w1", "rio-memory"),
    ("rc-memory-w1", "rio-memory-noread"),
    ("rc-gtiff-w1", "rio-gtiff"),
    ("rc-memory-w1", "rc-memory-w2"),
    ("rc-gtiff-w1", "rc-gtiff-w2"),
    ("rc-folder-w1", "rc-folder-w2"),
]



# ----------------------------------------------------------------------------------------------- workload
@dataclass
class Workload:
    scale: float
    folder: Path
    stats: dict = field(default_factory=dict)

    @property
    def gpkg(self) -> str:
        return str(self.folder / "forestcover.gpkg")

    @property
    def elevation(self) -> str:
        return str(self.folder / "elevation.tif")

    def exists(self) -> bool:
        return all((self.folder / n).exists() for n in ("forestcover.gpkg", "elevation.tif", "workload_stats.json"))


def scale_name(scale: float) -> str:
    return f"{scale:g}"


def workload(work: Path, scale: float) -> Workload:
    return Workload(scale, work / f"s{scale_name(scale)}")


def generate(wl: Workload, make_workload: Path) -> None:
    wl.folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(make_workload), "--out", str(wl.folder), "--scale", scale_name(wl.scale)]
    print(f"generating scale {scale_name(wl.scale)}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with open(wl.folder / "generate.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    print(f"  done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


def load_stats(wl: Workload) -> None:
    with open(wl.folder / "workload_stats.json") as f:
        wl.stats = json.load(f)


# ----------------------------------------------------------------------------------------------- the runs
def grid_of(wl: Workload) -> rastercover.Grid:
    return rastercover.open_grid(wl.elevation, tile_size=TILE)


def read_layer(wl: Workload) -> tuple[np.ndarray, np.ndarray]:
    """The polygons and heights, read the fastest way pyogrio offers (raw WKB + shapely)."""
    _meta, _fids, wkb, fields = pyogrio.raw.read(wl.gpkg, layer=LAYER, columns=[VALUE])
    return shapely.from_wkb(wkb), np.asarray(fields[0], dtype=np.float64)


def rio_rasterize(geoms: np.ndarray, values: np.ndarray, grid: rastercover.Grid) -> np.ndarray:
    return rasterio.features.rasterize(
        zip(geoms, values, strict=True), out_shape=grid.shape, transform=grid.transform, fill=NODATA, dtype="float32"
    )


def rio_write(array: np.ndarray, path: str, grid: rastercover.Grid) -> None:
    """The same kind of GeoTIFF as rastercover's: tiled 256, deflate, predictor 3, float32, same CRS/nodata."""
    profile = dict(
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=1,
        dtype="float32",
        crs=rasterio.crs.CRS.from_wkt(grid.crs.to_wkt()),
        transform=grid.transform,
        nodata=NODATA,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        predictor=3,
    )
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(array, 1)


@dataclass
class Bench:
    """What every run of one scale shares: the workload, its grid, the output folder, rastercover's block size."""

    wl: Workload
    grid: rastercover.Grid
    tmp: str
    block_pixels: int = DEFAULT_BLOCK_PIXELS
    preread: tuple[np.ndarray, np.ndarray] | None = None


def rc_rasterize(b: Bench, output: str | None, workers: int, method: str = MEAN):
    return rastercover.rasterize(
        b.wl.gpkg,
        b.grid,
        layer=LAYER,
        value=VALUE,
        methods=[method],
        output=output,
        workers=workers,
        overwrite=True,
        block_pixels=b.block_pixels,
    )


def target_path(kind: str, tmp: str, key: str) -> str | None:
    if kind == "gtiff":
        return os.path.join(tmp, f"{key}.tif")
    if kind == "folder":
        return os.path.join(tmp, f"{key}.tiles")
    return None


def remove(path: str | None, sync: bool = False) -> None:
    """Delete an output (and, with ``sync``, flush the file system so the next run starts clean)."""
    if path is None:
        return
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)
    if sync:
        os.sync()


def make_runner(key: str, b: Bench) -> tuple[Callable, str | None]:
    """``(run, output path)`` for a configuration; ``run()`` returns an array (memory) or None."""
    _label, engine, kind, workers = CONFIGS[key]
    path = target_path(kind, b.tmp, key)
    grid = b.grid
    if engine == "rc":
        return (lambda: rc_rasterize(b, path, workers)), path
    if kind == "memory":
        return (lambda: rio_rasterize(*read_layer(b.wl), grid)), None
    if kind == "memory-noread":
        geoms, values = b.preread if b.preread is not None else read_layer(b.wl)
        return (lambda: rio_rasterize(geoms, values, grid)), None

    def rio_gtiff():
        rio_write(rio_rasterize(*read_layer(b.wl), grid), path, grid)

    return rio_gtiff, path


def read_back(path: str) -> np.ndarray:
    if os.path.isdir(path):
        path = os.path.join(path, "index.vrt")
    with rasterio.open(path) as ds:
        return ds.read(1)


def as_array(result) -> np.ndarray:
    """A 2-D float32 array from a rastercover DataArray (first band) or a numpy array."""
    values = getattr(result, "values", result)
    return values[0] if values.ndim == 3 else values


# ----------------------------------------------------------------------------------------------- timing
def make_arm(key: str, b: Bench, check: Callable | None = None) -> Callable[[], float]:
    """One configuration as an arm of :func:`_common.alternate`: each call is one run, its time returned.

    The output is deleted, and the file system synced, before and after the run, outside the timed section.
    ``check(result, path)`` sees the first run's (the warm-up's) result and output before they are deleted.
    """
    run, path = make_runner(key, b)
    sync = path is not None
    pending = [check]

    def arm() -> float:
        remove(path, sync)
        gc.collect()
        t0 = time.perf_counter()
        res = run()
        seconds = time.perf_counter() - t0
        if pending[0] is not None:
            pending[0](res, path)
            pending[0] = None
        del res
        remove(path, sync)
        return seconds

    return arm


def time_configs(
    keys: list[str], b: Bench, repeat: int, reference: dict[str, np.ndarray]
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """One warm-up round, then ``repeat`` rounds; in each round every configuration runs once, in the order of
    ``keys`` (ours and rasterio's of a pair next to each other), so the machine's drift hits them alike and the
    ratio of a pair's runs in one round cancels it (:func:`pair_ratio`).

    Each run follows a run of another configuration: rastercover's dense per-block temporaries make a run after
    a different workload (e.g. after writing a tile folder) pay page faults of the allocator's state; alternated,
    every configuration pays them alike. Fresh-process runs are reported separately (``--one``). The warm-up
    output is read back and compared with the same engine's in-memory array (``reference``).
    """
    b.preread = read_layer(b.wl)
    checks: dict[str, str] = {}

    def checker(k: str) -> Callable:
        def check(res, path) -> None:
            got = read_back(path) if path is not None else as_array(res)
            n_diff = int(np.count_nonzero(got != reference[CONFIGS[k][1]]))
            checks[k] = "equal" if n_diff == 0 else f"{n_diff} pixels differ"
            if path is not None and os.path.isfile(path):
                checks[k] += f", {os.path.getsize(path) / MIB:.1f} MiB"

        return check

    times = alternate({k: make_arm(k, b, checker(k)) for k in keys}, repeat, warmup=1)
    for k in keys:
        runs = " ".join(f"{t:.3f}" for t in times[k])
        print(f"  {k:18s} runs {runs} s; read-back: {checks.get(k)}", file=sys.stderr, flush=True)
    b.preread = None
    return times, checks


def pair_ratio(r: dict, a: str, b: str) -> float:
    """``a`` / ``b`` of a scale's results: the median of the per-round ratios when the runs alternated, else (a
    section written before they did) the ratio of the medians."""
    if r.get("alternated"):
        return median_ratio(r["times"][a], r["times"][b])
    return r["median"][a] / r["median"][b]


# ----------------------------------------------------------------------------------------------- fresh processes
def peak_rss_kib() -> int:
    """This process image's peak RSS (``VmHWM``, KiB).

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries that value over ``fork`` + ``exec``, so a fresh
    subprocess of a big benchmark process reports its parent's size. ``VmHWM`` belongs to the new address space.
    Falls back to ``ru_maxrss`` where ``/proc`` is missing.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def one(keys: list[str], workload_dir: str, tmp: str, block_pixels: int, repeat: int) -> None:
    """Hidden mode, in a fresh process: print one JSON line.

    ``repeat == 0``: run ``keys[0]`` once; its time and peak RSS (self, and the largest worker's).
    ``repeat > 0``: time ``keys`` alternated run by run (a warm-up round + ``repeat`` rounds); the medians, and
    the medians of the per-round ratios of ``keys[0]`` to each other key.
    """
    wl = Workload(0, Path(workload_dir))
    b = Bench(wl, grid_of(wl), tmp, block_pixels)
    if repeat > 0:
        b.preread = read_layer(wl) if "rio-memory-noread" in keys else None
        times = alternate({k: make_arm(k, b) for k in keys}, repeat, warmup=1, log=False)
        medians = {k: statistics.median(v) for k, v in times.items()}
        pairs = {f"{keys[0]}/{k}": median_ratio(times[keys[0]], times[k]) for k in keys[1:]}
        print(json.dumps({"medians": medians, "pairs": pairs, "source_hash": SOURCE_HASH_AT_IMPORT}))
        return
    key = keys[0]
    base = peak_rss_kib()
    run, path = make_runner(key, b)
    remove(path)
    t0 = time.perf_counter()
    res = run()
    seconds = time.perf_counter() - t0
    self_kib = peak_rss_kib()
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    del res
    remove(path)
    rec = {"key": key, "baseline_kib": base, "self_kib": self_kib, "children_kib": children_kib, "seconds": seconds}
    rec["source_hash"] = SOURCE_HASH_AT_IMPORT
    print(json.dumps(rec))


def run_one(keys: list[str], b: Bench, repeat: int = 0) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        ",".join(keys),
        "--one-workload",
        str(b.wl.folder),
        "--one-tmp",
        b.tmp,
        "--one-repeat",
        str(repeat),
        "--block-pixels",
        str(b.block_pixels),
    ]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    if rec.pop("source_hash") != SOURCE_HASH_AT_IMPORT:
        raise RuntimeError("a fresh process ran another version of rastercover than this one")
    return rec


def measure_rss(keys: list[str], b: Bench) -> dict[str, dict]:
    out = {}
    for k in keys:
        rec = out[k] = run_one([k], b)
        print(
            f"  fresh process {k:18s} {rec['seconds']:7.3f} s, peak RSS {rec['self_kib'] / 1024:7.1f} MiB, "
            f"largest worker {rec['children_kib'] / 1024:7.1f} MiB (imports {rec['baseline_kib'] / 1024:.1f} MiB)",
            file=sys.stderr,
            flush=True,
        )
    return out


def ratio_processes(b: Bench, n: int, repeat: int) -> list[dict[str, float]]:
    """The to-memory trio timed in ``n`` further fresh processes: how much the ratio moves between processes."""
    out = []
    for i in range(n):
        rec = run_one(RATIO_KEYS, b, repeat)
        med = rec["medians"] | {"pairs": rec["pairs"]}
        out.append(med)
        print(
            f"  process {i + 1}/{n}: "
            + "  ".join(f"{k}={v:.3f}" for k, v in rec["medians"].items())
            + f"  ratio {process_ratio(med, 'rio-memory'):.2f}",
            file=sys.stderr,
            flush=True,
        )
    return out


# ----------------------------------------------------------------------------------------------- correctness
def correctness(b: Bench) -> tuple[dict, dict[str, np.ndarray]]:
    """Compare LAST (and MEAN) from rastercover with rasterio's array; returns the counts and both arrays."""
    rio = rio_rasterize(*read_layer(b.wl), b.grid)
    last = as_array(rc_rasterize(b, None, 1, LAST))
    mean = as_array(rc_rasterize(b, None, 1, MEAN))

    def compare(ours: np.ndarray) -> dict:
        diff = ours != rio
        ours_nd, rio_nd = ours == NODATA, rio == NODATA
        return {
            "differ": int(diff.sum()),
            "only_ours": int((diff & rio_nd).sum()),
            "only_rasterio": int((diff & ours_nd).sum()),
            "other_value": int((diff & ~ours_nd & ~rio_nd).sum()),
        }

    res = {
        "pixels": int(rio.size),
        "burnt_rasterio": int((rio != NODATA).sum()),
        "burnt_ours": int((last != NODATA).sum()),
        "last": compare(last),
        "mean": compare(mean),
    }
    return res, {"rc": mean, "rio": rio}


# ----------------------------------------------------------------------------------------------- one scale
def bench_scale(wl: Workload, repeat: int, tmp_root: Path, block_pixels: int, rss: bool, n_ratio: int) -> dict:
    load_stats(wl)
    grid = grid_of(wl)
    print(f"scale {scale_name(wl.scale)}: {grid} ({grid.n_tiles} tiles)", file=sys.stderr, flush=True)
    tmp_root.mkdir(parents=True, exist_ok=True)
    b = Bench(wl, grid, tempfile.mkdtemp(prefix="bench-out-", dir=tmp_root), block_pixels)
    try:
        check, reference = correctness(b)
        print(
            f"  LAST vs rasterio: {check['last']['differ']} differing pixels; MEAN vs rasterio: "
            f"{check['mean']['differ']}",
            file=sys.stderr,
            flush=True,
        )
        times, readback = time_configs(TIMED, b, repeat, reference)
        del reference
        peaks = measure_rss(RSS_CONFIGS, b) if rss else {}
        ratios = ratio_processes(b, n_ratio, repeat)
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
    fc = wl.stats.get("forestcover", {})
    blocks = plan_blocks(grid, block_pixels)
    x0, y0, x1, y1 = pyogrio.read_info(wl.gpkg, layer=LAYER, force_total_bounds=True)["total_bounds"]
    busy = 0
    for blk in blocks:
        bx0, by0, bx1, by1 = grid.window_bounds(blk.window)
        busy += bx0 <= x1 and x0 <= bx1 and by0 <= y1 and y0 <= by1
    return {
        "scale": wl.scale,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": command_line(),
        "repeat": repeat,
        "grid": [grid.width, grid.height],
        "tiles": grid.n_tiles,
        "polygons": fc.get("n_polygons"),
        "vertices": fc.get("n_vertices"),
        "tiles_touched": fc.get("tiles_touched"),
        "blocks": [len(blocks), int(busy), block_pixels],
        "median": {k: statistics.median(v) for k, v in times.items()},
        "times": times,
        "alternated": True,  # the runs alternated round by round: ratios are medians of per-round ratios
        "readback": readback,
        "check": check,
        "rss": peaks,
        "ratio_processes": ratios,
        "source": SOURCE_AT_START,
    }


# ----------------------------------------------------------------------------------------------- report
def command_line() -> str:
    return shlex.join(["python", *sys.argv])


def fmt_s(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f} s"


def fmt_mib(kib: float | None) -> str:
    return "—" if not kib else f"{kib / 1024:.0f} MiB"


def scale_table(r: dict) -> str:
    m, rss = r["median"], r.get("rss", {})

    def peak(key: str) -> str:
        rec = rss.get(key)
        if not rec:
            return "—"
        s = fmt_mib(rec["self_kib"])
        if CONFIGS[key][3] > 1:
            s += f" + {fmt_mib(rec['children_kib'])} per worker" if rec["children_kib"] else " (no worker process ran)"
        return s

    def speedup(k1: str, k2: str) -> str:
        return f"{pair_ratio(r, k1, k2):.2f}×"

    def ratio(a: str, b: str) -> str:
        return f"**{pair_ratio(r, a, b):.2f}**"

    rows = [
        "| Output | rastercover w=1 | rastercover w=2 | speed-up w=2 | rasterio | ours w=1 / rasterio "
        "| peak RSS ours w=1 | peak RSS ours w=2 | peak RSS rasterio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| memory (rasterio: read + rasterize) | {fmt_s(m['rc-memory-w1'])} | {fmt_s(m['rc-memory-w2'])} "
        f"| {speedup('rc-memory-w1', 'rc-memory-w2')} | {fmt_s(m['rio-memory'])} "
        f"| {ratio('rc-memory-w1', 'rio-memory')} "
        f"| {peak('rc-memory-w1')} | — | {peak('rio-memory')} |",
        f"| memory (rasterio: rasterize only, layer already read) | {fmt_s(m['rc-memory-w1'])} | — | — "
        f"| {fmt_s(m['rio-memory-noread'])} | {ratio('rc-memory-w1', 'rio-memory-noread')} | — | — | — |",
        f"| one tiled GeoTIFF (rasterio: read + rasterize + write) | {fmt_s(m['rc-gtiff-w1'])} "
        f"| {fmt_s(m['rc-gtiff-w2'])} | {speedup('rc-gtiff-w1', 'rc-gtiff-w2')} | {fmt_s(m['rio-gtiff'])} "
        f"| {ratio('rc-gtiff-w1', 'rio-gtiff')} | {peak('rc-gtiff-w1')} | — | {peak('rio-gtiff')} |",
        f"| tile folder ({r['tiles']} GeoTIFFs + index.vrt) | {fmt_s(m['rc-folder-w1'])} | {fmt_s(m['rc-folder-w2'])} "
        f"| {speedup('rc-folder-w1', 'rc-folder-w2')} | — | — | {peak('rc-folder-w1')} | {peak('rc-folder-w2')} | — |",
    ]
    return "\n".join(rows)


def timing_sentence(r: dict) -> str:
    """How the runs of a scale were timed (sections written before the runs alternated say so)."""
    if not r.get("alternated"):
        return (
            f"Median of {r['repeat']} runs after one warm-up, all configurations in one process, one after the other."
        )
    return (
        f"Medians of {r['repeat']} rounds after one warm-up round, in one process; in each round every configuration "
        "runs once, rastercover's and rasterio's of a pair next to each other (A, B, A, B, ...), and a ratio is the "
        "median of its per-round ratios (the ratio of the medians, and the range, are under the table)."
    )


def pairs_line(r: dict) -> str:
    """Each ratio of the table both ways: the median of the per-round ratios (range) and the ratio of the medians."""
    if not r.get("alternated"):
        return "- Ratios: of the medians (this section was written before the runs alternated)."
    t, m = r["times"], r["median"]
    parts = []
    for a, b in PAIRS:
        if a in t and b in t:
            parts.append(f"{a} / {b} {fmt_pairs(t[a], t[b])}, of medians {m[a] / m[b]:.2f}")
    return "- Ratios, median of the per-round ratios (range) and ratio of the medians: " + "; ".join(parts) + "."


def process_ratio(m: dict, peer: str) -> float:
    """rc-memory-w1 / ``peer`` in one further process: the median of its per-round ratios (the ratio of the
    medians in a section written before the runs alternated)."""
    pairs = m.get("pairs", {})
    return pairs.get(f"rc-memory-w1/{peer}") or m["rc-memory-w1"] / m[peer]


def process_ratios(r: dict) -> list[float]:
    return [process_ratio(m, "rio-memory") for m in r.get("ratio_processes", [])]


def ratio_line(r: dict) -> str:
    runs = r.get("ratio_processes", [])
    if not runs:
        return "- Ratio to rasterio in further processes: not measured (`--ratio-processes 0`)."
    noread = ", ".join(f"{process_ratio(m, 'rio-memory-noread'):.2f}" for m in runs)
    how = "alternated run by run, median of the per-round ratios" if r.get("alternated") else "median"
    return (
        f"- Between-process spread: the to-memory ratio ours / rasterio (read + rasterize) in {len(runs)} further "
        f"fresh processes ({how} of {r['repeat']} rounds after a warm-up each): "
        + ", ".join(f"{x:.2f}" for x in process_ratios(r))
        + f" (vs rasterize alone: {noread}); medians ours "
        + ", ".join(f"{m['rc-memory-w1']:.3f}" for m in runs)
        + " s, rasterio "
        + ", ".join(f"{m['rio-memory']:.3f}" for m in runs)
        + " s."
    )


def baseline(r: dict) -> str:
    kib = [v["baseline_kib"] for v in r.get("rss", {}).values()]
    return fmt_mib(min(kib)) if kib else "—"


def scale_section(r: dict) -> str:
    s = scale_name(r["scale"])
    c = r["check"]
    w, h = r["grid"]
    lines = [
        f"## Scale {s}",
        "",
        f"Grid {w}×{h} px of 30 m, {r['tiles']} tiles of {TILE}×{TILE} px; layer `{LAYER}`: {r['polygons']} polygons, "
        f"{r['vertices']} vertices, touching {r['tiles_touched']} tiles. Run {r['date']}. " + timing_sentence(r) + " "
        f"rastercover plans {r['blocks'][0]} blocks of ≤ {r['blocks'][2]:,} px (`block_pixels`); {r['blocks'][1]} of "
        "them hold features.",
        f"Command: `{r['command']}`; {source_line(r)}.",
        "",
        scale_table(r),
        "",
        f'- rastercover: `{MEAN}`, all {r["tiles"]} tiles (`extent="full"`), reading the GeoPackage itself. '
        "rasterio: `rasterio.features.rasterize` (burns the last polygon: LAST semantics) of the layer read with "
        "`pyogrio.raw.read` + `shapely.from_wkb`; its GeoTIFF is tiled 256, deflate, predictor 3, float32.",
        pairs_line(r),
        ratio_line(r),
        "- Single run in a fresh process (cold: imports done, first call): "
        + ", ".join(f"{k} {v['seconds']:.3f} s" for k, v in r.get("rss", {}).items())
        + ".",
        "- Peak RSS: `VmHWM` of a fresh process running the configuration once (the same process after its "
        f"imports and the grid, before the run: {baseline(r)}); with workers=2 the parent's peak plus the largest "
        "worker's peak (`RUSAGE_CHILDREN`; forked workers share pages with the parent, so the sum overstates).",
        f"- Correctness: `{LAST}` vs rasterio: **{c['last']['differ']}** differing pixels of {c['pixels']} "
        f"(ours only {c['last']['only_ours']}, rasterio only {c['last']['only_rasterio']}, other value "
        f"{c['last']['other_value']}; burnt pixels: ours {c['burnt_ours']}, rasterio {c['burnt_rasterio']}). "
        f"`{MEAN}` vs rasterio: {c['mean']['differ']} differing pixels (the coverage does not overlap).",
        "- Read-back of each warm-up output vs the same engine's array in memory: "
        + "; ".join(f"{k}: {v}" for k, v in r["readback"].items() if k != "rio-memory-noread")
        + ".",
    ]
    return "\n".join(lines) + "\n"


def targets(results: dict[float, dict]) -> list[str]:
    out = []
    r1, r16 = results.get(1.0), results.get(16.0)
    if r1:
        m = r1["median"]
        ratio = pair_ratio(r1, "rc-memory-w1", "rio-memory")
        others = process_ratios(r1)
        spread = (
            f" In {len(others)} further processes: "
            + ", ".join(f"{x:.2f}" for x in others)
            + f" (met in {sum(x <= 1.0 for x in others)} of {len(others)})."
            if others
            else ""
        )
        out.append(
            f"- Scale 1, {MEAN}, all {r1['tiles']} tiles to memory, ratio to rasterio ≤ 1.0: "
            f"**{'met' if ratio <= 1.0 else 'not met'}** — {ratio:.2f} ({m['rc-memory-w1']:.3f} s vs rasterio read + "
            f"rasterize {m['rio-memory']:.3f} s; vs rasterize alone {m['rio-memory-noread']:.3f} s: "
            f"{pair_ratio(r1, 'rc-memory-w1', 'rio-memory-noread'):.2f})." + spread
        )
    else:
        out.append("- Scale 1 ratio to rasterio ≤ 1.0: not measured (run scale 1).")
    if r1 and r16 and r1.get("rss") and r16.get("rss"):
        r1f, r16f = r1["rss"]["rc-folder-w1"], r16["rss"]["rc-folder-w1"]
        a, b = r1f["self_kib"], r16f["self_kib"]
        out.append(
            f"- Tile folder, peak RSS at scale 16 ≤ 1.5 × peak RSS at scale 1 (workers=1): "
            f"**{'met' if b <= 1.5 * a else 'not met'}** — {b / a:.2f}× ({fmt_mib(b)} vs {fmt_mib(a)}; above the "
            f"process after its imports: {fmt_mib(b - r16f['baseline_kib'])} vs {fmt_mib(a - r1f['baseline_kib'])}; "
            f"`block_pixels` {r16['blocks'][2]:,})."
        )
    else:
        out.append("- Tile folder peak RSS scale 16 / scale 1 ≤ 1.5: not measured (run scales 1 and 16 with RSS).")
    if r16:
        m = r16["median"]
        parts = {o: pair_ratio(r16, f"rc-{o}-w1", f"rc-{o}-w2") for o in ("folder", "gtiff", "memory")}
        ok = parts["folder"] > 1.0 and parts["gtiff"] > 1.0
        out.append(
            f"- workers=2 faster than workers=1 at scale 16 (tile folder and GeoTIFF): **{'met' if ok else 'not met'}**"
            f" — speed-up tile folder {parts['folder']:.2f}× ({m['rc-folder-w1']:.2f} s → {m['rc-folder-w2']:.2f} s), "
            f"GeoTIFF {parts['gtiff']:.2f}× ({m['rc-gtiff-w1']:.2f} s → {m['rc-gtiff-w2']:.2f} s), "
            f"memory {parts['memory']:.2f}× ({m['rc-memory-w1']:.2f} s → {m['rc-memory-w2']:.2f} s); "
            f"{r16['blocks'][1]} of {r16['blocks'][0]} blocks hold features."
        )
    else:
        out.append("- workers=2 faster than workers=1 at scale 16: not measured (run scale 16).")
    return out


# the source this process runs: taken when the module is imported, right after rastercover itself
SOURCE_HASH_AT_IMPORT = package_hash(Path(rastercover.__file__).resolve().parent)


def source_state() -> dict:
    """rastercover's git commit (and whether its files differ from it) and the hash of the source imported."""
    return {"commit": git_commit(Path(rastercover.__file__).resolve().parent), "hash": SOURCE_HASH_AT_IMPORT}


def snapshot_source(root: Path) -> str:
    """Copy the rastercover package this process imported to ``root``, for the fresh subprocesses.

    The project may be edited while a long run goes on; with ``PYTHONPATH`` pointing at the copy, every
    subprocess runs the code this process timed. Exits if the files already differ from the imported ones.
    """
    pkg = Path(rastercover.__file__).resolve().parent
    snap = tempfile.mkdtemp(prefix="bench-src-", dir=root)
    shutil.copytree(pkg, Path(snap) / "rastercover", ignore=shutil.ignore_patterns("__pycache__"))
    if package_hash(Path(snap) / "rastercover") != SOURCE_HASH_AT_IMPORT:
        shutil.rmtree(snap, ignore_errors=True)
        sys.exit("rastercover's source changed since this process imported it; run again")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (snap, os.environ.get("PYTHONPATH")) if p)
    return snap


def source_line(r: dict) -> str:
    src = r.get("source", {})
    return f"rastercover git {src.get('commit', '?')}, source hash {src.get('hash', '?')}"


# ----------------------------------------------------------------------------------------------- profile
def profile(wl: Workload, top: int, block_pixels: int, repeat: int) -> str:
    """cProfile of ``repeat`` warm runs of rastercover to memory (summed; single runs vary with the allocator's
    state): top entries by cumulative and by own time."""
    b = Bench(wl, grid_of(wl), "", block_pixels)
    rc_rasterize(b, None, 1)  # warm-up
    prof = cProfile.Profile()
    for _ in range(repeat):
        gc.collect()
        prof.enable()
        rc_rasterize(b, None, 1)
        prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", type=float, nargs="+", default=[1.0], help="workload scales (default: 1)")
    p.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="timed rounds after a warm-up round, every configuration once per round (default 5)",
    )
    p.add_argument(
        "--repeat-large", type=int, default=None, metavar="N", help="timed runs at scales >= 16 (default: --repeat)"
    )
    p.add_argument(
        "--work", type=Path, default=DEFAULT_WORK, help=f"workload folders s1, s4 ... (default {DEFAULT_WORK})"
    )
    p.add_argument("--tmp", type=Path, default=None, help="where outputs are written and deleted (default: --work)")
    p.add_argument("--json", type=Path, default=None, help="write the results of every scale to this JSON file")
    p.add_argument("--generate", action="store_true", help="build missing workloads with make_workload.py")
    p.add_argument("--make-workload", type=Path, default=DEFAULT_MAKE_WORKLOAD, help="path of make_workload.py")
    p.add_argument(
        "--block-pixels",
        type=int,
        default=DEFAULT_BLOCK_PIXELS,
        metavar="N",
        help=f"rastercover's block_pixels (default {DEFAULT_BLOCK_PIXELS:,})",
    )
    p.add_argument("--no-rss", action="store_true", help="skip the fresh-process peak-RSS runs")
    p.add_argument(
        "--ratio-processes",
        type=int,
        default=3,
        metavar="N",
        help="time the to-memory pair again in N fresh processes, to show the between-process spread (default 3)",
    )
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also print the top N cProfile entries of --repeat runs of rastercover to memory (first scale)",
    )
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--one-workload", help=argparse.SUPPRESS)
    p.add_argument("--one-tmp", help=argparse.SUPPRESS)
    p.add_argument("--one-repeat", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one and not set(a.one.split(",")) <= set(CONFIGS):
        p.error(f"--one takes configurations among {', '.join(CONFIGS)}")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.one:
        one(a.one.split(","), a.one_workload, a.one_tmp, a.block_pixels, a.one_repeat)
        return 0
    work = a.work.resolve()
    tmp_root = a.tmp.resolve() if a.tmp else work
    tmp_root.mkdir(parents=True, exist_ok=True)
    SOURCE_AT_START.update(source_state())
    snap = snapshot_source(tmp_root)
    try:
        return bench(a, work, tmp_root)
    finally:
        shutil.rmtree(snap, ignore_errors=True)


def bench(a: argparse.Namespace, work: Path, tmp_root: Path) -> int:
    loads = [workload(work, s) for s in a.scales]
    for wl in loads:
        if not wl.exists():
            if not a.generate:
                sys.exit(f"no workload at {wl.folder}: build it with --generate (or make_workload.py)")
            generate(wl, a.make_workload)
    results = {}
    for wl in loads:
        repeat = a.repeat_large if a.repeat_large and wl.scale >= 16 else a.repeat
        results[wl.scale] = bench_scale(wl, repeat, tmp_root, a.block_pixels, not a.no_rss, a.ratio_processes)
    report = "\n".join(["## Targets", "", *targets(results), ""] + [scale_section(r) for r in results.values()])
    print(report)
    save_json(a.json, {f"{k:g}": v for k, v in results.items()})
    if a.profile:
        title = f"cProfile, rastercover {MEAN} to memory, scale {scale_name(loads[0].scale)}, {a.repeat} runs summed"
        print(f"\n## {title}\n\n```")
        print(profile(loads[0], a.profile, a.block_pixels, a.repeat).strip())
        print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
