#!/usr/bin/env python3
"""Benchmark: every method, each alone and all 15 ST_ExtractToRaster methods in one pass, against rasterio.

A script, not a test. On the scale-1 workload of ``make_workload.py`` (625 tiles of 100×100 px), in one
process, each configuration and the yardstick run alternately, run by run (ours, yardstick, ours, yardstick, ...:
the machine's drift hits both alike), after one warm-up run of each; reported are the medians and the median of
the ratios of the pairs of adjacent runs:

* the yardstick: ``rasterio.features.rasterize`` of the forest polygons (read with pyogrio + shapely, then
  burnt);
* every registered method of a vector source alone (the regridding methods are ``bench_regrid.py``'s), to
  memory, over all 625 tiles, on the layer that suits it: forest polygons
  for the polygon methods, the overlapping polygons for counts and merges, the streams for lengths, the plots
  for points (``LAYER_OF``);
* the 15 methods of ``ST_ExtractToRaster`` in one pass (one band each), on the forest polygons and on a layer
  ``mixed`` holding all four layers (built once, next to the workload);
* ``--semantics postgis`` for the 15 methods in one pass on the forest polygons (not a target: PostGIS takes
  tens of seconds per method);
* with ``--rss-scales``, the peak RSS of the all-15 one-pass run to a tile folder in a fresh process, per scale.

``--only NAME...`` runs only some rows: method names, the one-pass rows ``ALL15``, ``ALL15-MIXED``,
``ALL15-POSTGIS``, or shell patterns (``'*_ALL_TOUCHED'``). ``--baseline DIR`` adds two arms to every row: the
same call in two long-lived worker processes, one running a copy of the current ``src/rastercover``, the other
the package of ``DIR`` (``DIR/src/rastercover`` of a ``git worktree add /tmp/before <commit>``, or
``DIR/rastercover``); their pair ratio says whether the row got slower than that commit (both sides in
worker processes of the same kind, so the process does not weigh on the comparison).

Each ratio is ours / yardstick: 1.0 means as fast as rasterio's centre burning of the same polygons.
With ``--json FILE``, the results are written to FILE (``python -m benchmarks`` renders them).

Run from the repository root::

    python benchmarks/bench_methods.py
    python benchmarks/bench_methods.py --rss-scales 1 16 --json /tmp/methods.json
    python benchmarks/bench_methods.py --only PROPORTION_OF_COVERED_AREA ALL15 --repeat 3 --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import gc
import json
import os
import platform
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
from _common import alternate, baseline_src, fmt_pairs, median_ratio, package_hash
from _paths import DEFAULT_WORK, ROOT
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
ONE_PASS = {  # --only aliases of the one-pass rows
    "ALL15": "ALL 15 (forestcover)",
    "ALL15-MIXED": "ALL 15 (mixed: 4 layers)",
    "ALL15-POSTGIS": "ALL 15, postgis semantics (forestcover)",
}


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


class Worker:
    """A long-lived worker process running ``rastercover.rasterize`` calls of the rows, from the package on
    ``src`` (``PYTHONPATH``): one JSON line per call on its stdin, its own wall time on its stdout."""

    def __init__(self, name: str, src: str, work: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(work)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self._reply()  # the package it imported and its hash

    def _reply(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(WORKER_REPLY):
                return json.loads(line[len(WORKER_REPLY) :])
        raise RuntimeError(f"worker {self.name} ended (exit {self.proc.wait()})")

    def call(self, spec: dict) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def run(self, spec: dict) -> float:
        rep = self.call(spec)
        if "error" in rep:
            raise RuntimeError(f"worker {self.name}: {rep['error']}")
        return rep["seconds"]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


WORKER_REPLY = "@@bench_methods "


def worker(work: str) -> None:
    """Hidden ``--worker`` mode: run the rows' calls read from stdin with the rastercover on ``PYTHONPATH``."""
    import rastercover as rc  # the package of PYTHONPATH (the module-level import is the same one)

    pkg = Path(rc.__file__).resolve().parent
    print(WORKER_REPLY + json.dumps({"package": str(pkg), "hash": package_hash(pkg)}), flush=True)
    grid = rc.open_grid(os.path.join(work, "elevation.tif"), tile_size=TILE)
    for line in sys.stdin:
        spec = json.loads(line)
        try:
            gc.collect()
            t0 = time.perf_counter()
            rc.rasterize(spec["source"], grid, layer=spec["layer"], value=spec["value"], methods=spec["methods"],
                         semantics=spec["semantics"])  # fmt: skip
            rep = {"seconds": time.perf_counter() - t0}
        except Exception as exc:  # a method the baseline does not know, say: the row goes without it
            rep = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        print(WORKER_REPLY + json.dumps(rep), flush=True)


def select(keys: list[str], only: list[str] | None) -> list[str]:
    """The rows of ``keys`` that ``--only`` names (method names, one-pass aliases, shell patterns)."""
    if not only:
        return keys
    rows = {k.upper(): k for k in keys} | {alias: row for alias, row in ONE_PASS.items() if row in keys}
    picked: list[str] = []
    for name in only:
        hits = [row for n, row in rows.items() if fnmatch.fnmatchcase(n, name.upper())]
        if not hits:
            sys.exit(f"--only {name}: no such row; rows: {', '.join(sorted(rows))}")
        picked += [h for h in hits if h not in picked]
    return [k for k in keys if k in picked]


def bench(work: Path, repeat: int, only: list[str] | None = None, workers: dict[str, Worker] | None = None) -> dict:
    """Every row (or those of ``only``): ours and the yardstick alternated run by run, with ``workers`` the current
    and baseline workers as two more arms; ``{"runs": {row: times...}, "yardstick": median, "grid": shape}``."""
    gpkg = str(work / "forestcover.gpkg")
    grid = rastercover.open_grid(str(work / "elevation.tif"), tile_size=TILE)
    mixed = mixed_layer(gpkg)
    runs: dict[str, dict] = {}
    yard: list[float] = []

    def spec(source: str, layer: str, methods: list[str], semantics: str = "exact") -> dict:
        return {"source": source, "layer": layer, "value": VALUE_OF[layer], "methods": methods, "semantics": semantics}

    configs: list[tuple[str, str, dict]] = []
    for name, m in available_methods().items():
        if getattr(getattr(m, "kind", None), "raster", False):
            continue  # a regridding method (a raster source): bench_regrid.py times those
        method = name if not isinstance(m, MethodFamily) else f"{name}:10,20,30"
        layer = layer_of(name)
        configs.append((name, layer, spec(gpkg, layer, [method])))
    configs.append(("ALL 15 (forestcover)", "forestcover", spec(gpkg, "forestcover", list(POSTGIS_METHODS))))
    configs.append(("ALL 15 (mixed: 4 layers)", "mixed", spec(mixed, "mixed", list(POSTGIS_METHODS))))
    configs.append(
        ("ALL 15, postgis semantics (forestcover)", "forestcover",
         spec(gpkg, "forestcover", list(POSTGIS_METHODS), "postgis"))
    )  # fmt: skip
    keep = select([k for k, _l, _s in configs], only)
    for key, layer, sp in configs:
        if key not in keep:
            continue
        n = max(1, repeat // 2) if "postgis" in key else repeat

        def ours(sp: dict = sp) -> None:
            rastercover.rasterize(sp["source"], grid, layer=sp["layer"], value=sp["value"], methods=sp["methods"],
                                  semantics=sp["semantics"])  # fmt: skip

        def burn() -> None:
            yardstick(gpkg, grid)

        arms = {"ours": ours, "yardstick": burn}
        note = None
        if workers:
            errors = [f"{w.name}: {rep['error']}" for w in workers.values() if "error" in (rep := w.call(sp))]
            if errors:
                note = "; ".join(errors)
                print(f"{key}: left out of the baseline comparison ({note})", file=sys.stderr)
            else:
                arms |= {name: (lambda w=w, sp=sp: w.run(sp)) for name, w in workers.items()}
        t = alternate(arms, n, warmup=1, log=False)  # ours, yardstick[, current, baseline], ours, ...
        yard.extend(t["yardstick"])
        runs[key] = {"layer": layer, "times": t["ours"], "yardstick": t["yardstick"]}
        runs[key] |= {k: t[k] for k in ("current", "baseline") if k in t}
        if note:
            runs[key]["baseline_error"] = note
        msg = f"{key:42s} {layer:12s} {statistics.median(t['ours']):7.3f} s  ratio {row_ratio(runs[key]):5.2f}"
        if "baseline" in t:
            msg += f"  current / baseline {median_ratio(t['current'], t['baseline']):5.2f}"
        print(msg, file=sys.stderr)
    return {"runs": runs, "yardstick": statistics.median(yard), "grid": list(grid.shape)}


def row_ratio(r: dict) -> float:
    """A row's ratio: the median of ours / yardstick over the pairs of adjacent runs (the ratio of the medians
    for a row recorded before the runs alternated)."""
    return median_ratio(r["times"], r["yardstick"]) or statistics.median(r["times"]) / statistics.median(r["yardstick"])


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
    base = res.get("baseline")
    lines = [
        "## Every method (Engine II)",
        "",
        f"Scale-1 workload, grid {res['grid'][1]}×{res['grid'][0]} px, all 625 tiles of {TILE}×{TILE} px to memory "
        f"(float32). Run {dt.datetime.now().isoformat(timespec='seconds')}; each configuration and the yardstick "
        "(rasterio.features.rasterize of the 2755 forest polygons, read + burn) alternate run by run after a "
        f"warm-up of each (yardstick median over the run {y:.3f} s); ours and yardstick are medians. Ratio = the "
        "median of ours / yardstick over the pairs of adjacent runs (the drift of the machine cancels in each "
        "pair), the ratio of the medians beside it (target ≤ 3 for each method, ≤ 8 for all 15 in one pass).",
        f"Command: `{command}`; rastercover git {_git()}.",
        "",
        "| method | layer | ours | yardstick | ratio | ratio of medians |"
        + (" current / baseline (worker processes) |" if base else ""),
        "|---|---|---:|---:|---:|---:|" + ("---:|" if base else ""),
    ]
    worst = 0.0
    for key, r in res["runs"].items():
        ours_t = statistics.median(r["times"])
        yt = statistics.median(r["yardstick"])
        ratio = row_ratio(r)
        if "postgis" not in key and not key.startswith("ALL"):
            worst = max(worst, ratio)
        bold = f"**{ratio:.2f}**" if key in POSTGIS_METHODS or key.startswith("ALL") else f"{ratio:.2f}"
        row = f"| {key} | {r['layer']} | {ours_t:.3f} s | {yt:.3f} s | {bold} | {ours_t / yt:.2f} |"
        if base:
            row += f" {fmt_pairs(r['current'], r['baseline']) if 'baseline' in r else '—'} |"
        lines.append(row)
    one = [row_ratio(r) for k, r in res["runs"].items() if k.startswith("ALL 15 (")]
    fifteen = [row_ratio(res["runs"][m]) for m in POSTGIS_METHODS if m in res["runs"]]
    lines.append("")
    if fifteen:
        complete = len(fifteen) == len(POSTGIS_METHODS)
        lines.append(
            f"- The 15 methods each alone: worst ratio **{max(fifteen):.2f}** (target ≤ 3: "
            f"{'met' if max(fifteen) <= 3 else 'NOT met'}{'' if complete else f', {len(fifteen)} of 15 run'}); "
            f"every method run: worst {worst:.2f}."
        )
    if one:
        lines.append(f"- All 15 in one pass: **{max(one):.2f}** (target ≤ 8: {'met' if max(one) <= 8 else 'NOT met'}).")
    if base:
        slower = [k for k, r in res["runs"].items() if "baseline" in r
                  and (median_ratio(r["current"], r["baseline"]) or 0) > 1.05]  # fmt: skip
        lines.append(
            f"- Baseline `{base['dir']}` (source hash {base['hash']}) vs the current source (hash "
            f"{base['current_hash']}), each in a worker process of this script, alternated run by run with the rest: "
            "median of current / baseline over the pairs (range). Slower than the baseline by more than 5 %: "
            + (", ".join(slower) if slower else "none")
            + "."
        )
        errs = [f"{k} ({r['baseline_error']})" for k, r in res["runs"].items() if "baseline_error" in r]
        if errs:
            lines.append(f"- Left out of the baseline comparison: {'; '.join(errs)}.")
    if rss:
        parts = [f"scale {s}: {v['peak_kib'] / 1024:.0f} MiB ({v['seconds']:.1f} s)" for s, v in rss.items()]
        lines.append(f"- Peak RSS, all 15 in one pass to a tile folder, fresh process: {'; '.join(parts)}.")
        if "1" in rss and "16" in rss:
            q = rss["16"]["peak_kib"] / rss["1"]["peak_kib"]
            lines.append(f"  Scale 16 / scale 1: **{q:.2f}×** (target ≤ 1.5: {'met' if q <= 1.5 else 'NOT met'}).")
    return "\n".join(lines)


def _git() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def snapshot_src(tmp: str) -> str:
    """A copy of ``src/rastercover`` in ``tmp`` (for the current-source worker): its folder for ``PYTHONPATH``."""
    shutil.copytree(ROOT / "src" / "rastercover", Path(tmp) / "rastercover",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    return tmp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder holding s1, s16 ... (make_workload.py)")
    ap.add_argument(
        "--repeat", type=int, default=5, help="timed runs of each row, alternated with the yardstick (default 5)"
    )
    ap.add_argument("--rss-scales", nargs="*", default=[], help="scales whose peak RSS to measure, e.g. 1 16")
    ap.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="only these rows: method names, ALL15, ALL15-MIXED, ALL15-POSTGIS, or shell patterns",
    )
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="also time every row with the package of DIR (DIR/src/rastercover or DIR/rastercover) "
                    "against the current source, both in worker processes")  # fmt: skip
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    ap.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        peak_rss_child(*args.rss_child)
        return
    if args.worker:
        worker(args.worker)
        return
    command = "python benchmarks/bench_methods.py " + " ".join(sys.argv[1:])
    work = Path(args.work)
    workers: dict[str, Worker] = {}
    snap = tempfile.mkdtemp(prefix="bench-methods-src-")
    try:
        base_info = None
        if args.baseline:
            workers["current"] = Worker("current", snapshot_src(snap), work / "s1")
            workers["baseline"] = Worker("baseline", str(baseline_src(args.baseline)), work / "s1")
            base_info = {"dir": str(args.baseline), "hash": workers["baseline"].info["hash"],
                         "current_hash": workers["current"].info["hash"]}  # fmt: skip
            print(f"workers: {json.dumps({k: w.info for k, w in workers.items()})}", file=sys.stderr)
        res = bench(work / "s1", args.repeat, args.only, workers)
        if base_info:
            res["baseline"] = base_info
    finally:
        for w in workers.values():
            w.close()
        shutil.rmtree(snap, ignore_errors=True)
    rss = measure_rss(work, args.rss_scales)
    text = report(res, rss, command.strip())
    print(text)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"command": command.strip(), "res": res, "rss": rss}, indent=1, default=str))
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
