#!/usr/bin/env python3
"""Benchmark: every method, each alone and all 15 ST_ExtractToRaster methods in one pass, against rasterio.

A script, not a test. On the scale-1 workload of ``make_workload.py`` (625 tiles of 100×100 px), in one
process, each configuration gets a warm-up run and then the median of ``--repeat`` runs:

* the yardstick: ``rasterio.features.rasterize`` of the forest polygons (read with pyogrio + shapely, then
  burnt), timed in the same run, interleaved with ours so that machine noise hits both;
* every registered method alone, to memory, over all 625 tiles, on the layer that suits it: forest polygons
  for the polygon methods, the overlapping polygons for counts and merges, the streams for lengths, the plots
  for points (``LAYER_OF``);
* the 15 methods of ``ST_ExtractToRaster`` in one pass (one band each), on the forest polygons and on a layer
  ``mixed`` holding all four layers (built once, next to the workload);
* ``--semantics postgis`` for the 15 methods in one pass on the forest polygons (not a target: PostGIS takes
  tens of seconds per method);
* with ``--rss``, the peak RSS of the all-15 one-pass run to a tile folder in a fresh process, per scale.

Each ratio is ours / yardstick: 1.0 means as fast as rasterio's centre burning of the same polygons.
With ``--out``, the report replaces the section between the ``bench_methods`` markers of that file.

Run from the repository root::

    python benchmarks/bench_methods.py --out BENCHMARKS.md
    python benchmarks/bench_methods.py --rss-scales 1 16 --out BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import rasterio.features
import shapely

import rastercover
from _paths import DEFAULT_WORK
from bench_centroid import peak_rss_kib  # this folder is on sys.path when run as a script
from rastercover.engine.postgis import POSTGIS_METHODS
from rastercover.methods import MethodFamily, available_methods

TILE = 100
NODATA = -9999.0
POLYGON_METHODS = {
    "VALUE_OF_BIGGEST",
    "VALUE_OF_SMALLEST",
    "MIN_AREA",
    "SUM_OF_AREAS",
    "PROPORTION_OF_COVERED_AREA",
    "AREA_WEIGHTED_MEAN_OF_VALUES",
    "AREA_WEIGHTED_MEAN_OF_VALUES_2",
}
LINE_METHODS = {"COUNT_OF_LINESTRINGS", "SUM_OF_LENGTHS", "DENSITY_OF_LENGTHS", "VALUE_OF_LONGEST",
                "LENGTH_WEIGHTED_MEAN_OF_VALUES"}  # fmt: skip
POINT_METHODS = {"COUNT_OF_POINTS", "SUM_OF_VALUES", "MEAN_OF_VALUES"}
VALUE_OF = {
    "forestcover": "height",
    "overlapping": "height",
    "streams": "strahler",
    "plots": "height",
    "mixed": "value",
}
MARK_BEGIN, MARK_END = "<!-- bench_methods:begin -->", "<!-- bench_methods:end -->"


def layer_of(name: str) -> str:
    """The workload layer a method is timed on."""
    if name in LINE_METHODS:
        return "streams"
    if name in POINT_METHODS:
        return "plots"
    if name in POLYGON_METHODS or name.endswith("_AT_PIXEL_CENTROID"):
        return "forestcover"
    return "overlapping"  # counts, merges, distinct values, ALL_TOUCHED and class fractions


def mixed_layer(gpkg: str) -> str:
    """A GeoPackage next to the workload with one layer ``mixed``: polygons, overlaps, streams and plots."""
    out = os.path.join(os.path.dirname(gpkg), "mixed.gpkg")
    if os.path.exists(out):
        return out
    geoms, values = [], []
    crs = None
    for layer in ("forestcover", "overlapping", "streams", "plots"):
        meta, _fids, wkb, fields = pyogrio.raw.read(gpkg, layer=layer, columns=[VALUE_OF[layer]])
        crs = meta["crs"]
        geoms.append(shapely.from_wkb(wkb))
        values.append(np.asarray(fields[0], dtype=np.float64))
    g = np.concatenate(geoms)
    tmp = out + ".part.gpkg"
    pyogrio.raw.write(
        tmp,
        shapely.to_wkb(g),
        [np.concatenate(values)],
        ["value"],
        layer="mixed",
        geometry_type="Unknown",
        crs=crs,
        driver="GPKG",
    )
    os.replace(tmp, out)
    return out


def yardstick(gpkg: str, grid: rastercover.Grid) -> np.ndarray:
    """rasterio: read the forest polygons (pyogrio raw + shapely) and burn them at pixel centres."""
    _meta, _fids, wkb, fields = pyogrio.raw.read(gpkg, layer="forestcover", columns=["height"])
    geoms = shapely.from_wkb(wkb)
    return rasterio.features.rasterize(
        zip(geoms, np.asarray(fields[0], dtype=np.float64), strict=True),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=NODATA,
        dtype="float32",
    )


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench(work: Path, repeat: int) -> dict:
    gpkg = str(work / "forestcover.gpkg")
    grid = rastercover.open_grid(str(work / "elevation.tif"), tile_size=TILE)
    mixed = mixed_layer(gpkg)
    runs: dict[str, dict] = {}
    yard: list[float] = []

    def ours(source: str, layer: str, methods: list[str], semantics: str = "exact"):
        return lambda: rastercover.rasterize(
            source, grid, layer=layer, value=VALUE_OF[layer], methods=methods, semantics=semantics
        )

    configs: list[tuple[str, str, object]] = []
    for name, m in available_methods().items():
        spec = name if not isinstance(m, MethodFamily) else f"{name}:10,20,30"
        layer = layer_of(name)
        configs.append((name, layer, ours(gpkg, layer, [spec])))
    configs.append(("ALL 15 (forestcover)", "forestcover", ours(gpkg, "forestcover", list(POSTGIS_METHODS))))
    configs.append(("ALL 15 (mixed: 4 layers)", "mixed", ours(mixed, "mixed", list(POSTGIS_METHODS))))
    configs.append(
        ("ALL 15, postgis semantics (forestcover)", "forestcover",
         ours(gpkg, "forestcover", list(POSTGIS_METHODS), "postgis"))
    )  # fmt: skip
    for key, layer, fn in configs:
        n = max(1, repeat // 2) if "postgis" in key else repeat
        times = timed(fn, n)
        y = timed(lambda: yardstick(gpkg, grid), n)  # the yardstick right next to each configuration
        yard.extend(y)
        runs[key] = {"layer": layer, "times": times, "yardstick": y}
        ratio = statistics.median(times) / statistics.median(y)
        print(f"{key:42s} {layer:12s} {statistics.median(times):7.3f} s  ratio {ratio:5.2f}", file=sys.stderr)
    return {"runs": runs, "yardstick": statistics.median(yard), "grid": list(grid.shape)}


def peak_rss_child(work: str, out: str) -> None:
    """Fresh process: all 15 methods in one pass on the forest polygons to a tile folder; print peak RSS."""
    grid = rastercover.open_grid(os.path.join(work, "elevation.tif"), tile_size=TILE)
    base = peak_rss_kib()
    t0 = time.perf_counter()
    rastercover.rasterize(
        os.path.join(work, "forestcover.gpkg"),
        grid,
        layer="forestcover",
        value="height",
        methods=list(POSTGIS_METHODS),
        output=out,
    )
    print(json.dumps({"baseline_kib": base, "peak_kib": peak_rss_kib(), "seconds": time.perf_counter() - t0}))


def measure_rss(work_root: Path, scales: list[str]) -> dict:
    out = {}
    for s in scales:
        work = work_root / f"s{s}"
        if not (work / "forestcover.gpkg").exists():
            print(f"no workload at {work}: skipping its RSS run", file=sys.stderr)
            continue
        tmp = tempfile.mkdtemp(dir=work)
        try:
            proc = subprocess.run(
                [sys.executable, __file__, "--rss-child", str(work), os.path.join(tmp, "tiles")],
                check=True,
                capture_output=True,
                text=True,
            )
            out[s] = json.loads(proc.stdout.strip().splitlines()[-1])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"scale {s}: peak RSS {out[s]['peak_kib'] / 1024:.0f} MiB", file=sys.stderr)
    return out


def report(res: dict, rss: dict, command: str) -> str:
    y = res["yardstick"]
    lines = [
        MARK_BEGIN,
        "## Every method (Engine II)",
        "",
        f"Scale-1 workload, grid {res['grid'][1]}×{res['grid'][0]} px, all 625 tiles of {TILE}×{TILE} px to memory "
        f"(float32). Run {dt.datetime.now().isoformat(timespec='seconds')}, median of the timed runs after a "
        f"warm-up; the yardstick (rasterio.features.rasterize of the 2755 forest polygons, read + burn) is "
        f"timed right after each configuration, median over the run {y:.3f} s. Ratio = ours / yardstick of "
        "the same configuration (target ≤ 3 for each method, ≤ 8 for all 15 in one pass).",
        f"Command: `{command}`; rastercover git {_git()}.",
        "",
        "| method | layer | ours | yardstick | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    worst = 0.0
    for key, r in res["runs"].items():
        ours_t = statistics.median(r["times"])
        yt = statistics.median(r["yardstick"])
        ratio = ours_t / yt
        if "postgis" not in key and not key.startswith("ALL"):
            worst = max(worst, ratio)
        bold = f"**{ratio:.2f}**" if key in POSTGIS_METHODS or key.startswith("ALL") else f"{ratio:.2f}"
        lines.append(f"| {key} | {r['layer']} | {ours_t:.3f} s | {yt:.3f} s | {bold} |")
    one = [statistics.median(r["times"]) / statistics.median(r["yardstick"])
           for k, r in res["runs"].items() if k.startswith("ALL 15 (")]  # fmt: skip
    fifteen = [statistics.median(res["runs"][m]["times"]) / statistics.median(res["runs"][m]["yardstick"])
               for m in POSTGIS_METHODS]  # fmt: skip
    lines += [
        "",
        f"- The 15 methods each alone: worst ratio **{max(fifteen):.2f}** (target ≤ 3: "
        f"{'met' if max(fifteen) <= 3 else 'NOT met'}); every registered method: worst {worst:.2f}.",
        f"- All 15 in one pass: **{max(one):.2f}** (target ≤ 8: {'met' if max(one) <= 8 else 'NOT met'}).",
    ]
    if rss:
        parts = [f"scale {s}: {v['peak_kib'] / 1024:.0f} MiB ({v['seconds']:.1f} s)" for s, v in rss.items()]
        lines.append(f"- Peak RSS, all 15 in one pass to a tile folder, fresh process: {'; '.join(parts)}.")
        if "1" in rss and "16" in rss:
            q = rss["16"]["peak_kib"] / rss["1"]["peak_kib"]
            lines.append(f"  Scale 16 / scale 1: **{q:.2f}×** (target ≤ 1.5: {'met' if q <= 1.5 else 'NOT met'}).")
    lines.append(f"<!-- bench_methods:data {json.dumps({'res': res, 'rss': rss})} -->")
    lines.append(MARK_END)
    return "\n".join(lines)


def _git() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder holding s1, s16 ... (make_workload.py)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per configuration (median reported)")
    ap.add_argument("--rss-scales", nargs="*", default=[], help="scales whose peak RSS to measure, e.g. 1 16")
    ap.add_argument("--out", help="write the report between the bench_methods markers of this file")
    ap.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        peak_rss_child(*args.rss_child)
        return
    command = "python benchmarks/bench_methods.py " + " ".join(sys.argv[1:])
    work = Path(args.work)
    res = bench(work / "s1", args.repeat)
    rss = measure_rss(work, args.rss_scales)
    text = report(res, rss, command.strip())
    print(text)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores", file=sys.stderr)
    if args.out:
        old = Path(args.out).read_text() if Path(args.out).exists() else ""
        pat = re.compile(re.escape(MARK_BEGIN) + ".*?" + re.escape(MARK_END), re.S)
        new = pat.sub(lambda _m: text, old) if pat.search(old) else old.rstrip() + "\n\n" + text + "\n"
        Path(args.out).write_text(new)


if __name__ == "__main__":
    main()
