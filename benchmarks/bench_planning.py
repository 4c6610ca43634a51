#!/usr/bin/env python3
"""Benchmark: planning and running a huge, almost empty ``extent="touched"`` job (issue 16, item 2).

A script, not a test. It writes ``--points`` random points (seed ``--seed``, a value column) over a grid of
``--side`` x ``--side`` pixels of 1 m in EPSG:3857 (default 70711 px a side: 5.0e9 pixels) as a GeoPackage, then
rasterizes them with ``COUNT_OF_POINTS`` and ``extent="touched"`` to a tile folder and to a ``.zarr`` store, with
tiles of 256 and of 100 px (``--tiles``, ``--outputs``). Each configuration runs in a fresh process, which
reports the time of ``plan_rasterize``, of ``run_plan``, and its peak RSS (``VmHWM``: after the imports, after
planning, at the end). ``--baseline SRC`` runs the same configurations with another copy of the package (a
folder holding ``rastercover/``, e.g. ``git archive <commit> src | tar -x -C /tmp/before``): before and after in
one report. ``--timeout`` stops a configuration that takes longer (reported as such).

Every output is checked: the tiles written are the tiles holding a point, and the pixels of a few of them equal
the points counted per pixel directly (numpy, from the points' coordinates).

Prints a markdown report; ``--json FILE`` writes the results (``python -m benchmarks`` renders them). Run from
the repository root::

    python benchmarks/bench_planning.py
    python benchmarks/bench_planning.py --baseline /tmp/before/src --json /tmp/planning.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import fmt_pairs  # this folder is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
METHOD = "COUNT_OF_POINTS"
CRS = "EPSG:3857"


def vmhwm() -> int:
    """This process image's peak RSS (``VmHWM``, KiB): a fresh process's own, not its parent's."""
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:"))


def points(n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniformly over the grid (map coordinates, 1 m pixels from (0, 0)) and their values."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, side, size=(n, 2)), rng.integers(1, 100, n).astype(float)


def write_points(path: Path, xy: np.ndarray, values: np.ndarray) -> None:
    import pyogrio.raw
    import shapely

    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(shapely.points(xy)),
        [values],
        ["value"],
        geometry_type="Point",
        crs=CRS,
        driver="GPKG",
        layer="points",
    )


# ------------------------------------------------------------------------------------------- one run
def one(spec: dict) -> dict:
    """Run one configuration in this (fresh) process; the figures as a dict."""
    t_import = time.perf_counter()
    from affine import Affine

    import rastercover

    imported = vmhwm()
    t_import = time.perf_counter() - t_import
    side, tile = spec["side"], spec["tile"]
    grid = rastercover.Grid(side, side, Affine(1, 0, 0, 0, -1, side), CRS, tile)
    t0 = time.perf_counter()
    plan = rastercover.plan_rasterize(
        spec["gpkg"], grid, layer="points", methods=[METHOD], extent="touched", output=spec["out"], dtype="int32",
        nodata=-1,
    )  # fmt: skip
    t_plan = time.perf_counter() - t0
    planned = vmhwm()
    t0 = time.perf_counter()
    res = rastercover.run_plan(plan)
    t_run = time.perf_counter() - t0
    return {
        "import_s": t_import,
        "plan_s": t_plan,
        "run_s": t_run,
        "rss_import_mb": imported / 1024,
        "rss_plan_mb": planned / 1024,
        "rss_peak_mb": vmhwm() / 1024,
        "plan_tiles": plan.n_tiles,
        "written": res.tiles_written,
    }


def run_config(spec: dict, src: str | None, timeout: float) -> dict:
    """``spec`` run by this script in a fresh process (with ``PYTHONPATH=src`` for a baseline)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, __file__, "--one", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:g} s"}
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------- checks
def expected_counts(xy: np.ndarray, side: int) -> dict[tuple[int, int], int]:
    """Points per pixel ``(row, col)``, counted directly (a point on a pixel edge belongs to the pixel right of /
    below it, as the engine's point rule; uniform random points never are)."""
    cols = np.floor(xy[:, 0]).astype(np.int64)
    rows = np.floor(side - xy[:, 1]).astype(np.int64)
    keys, counts = np.unique(np.column_stack([rows, cols]), axis=0, return_counts=True)
    return {(int(r), int(c)): int(n) for (r, c), n in zip(keys, counts)}


def check(out: str, kind: str, xy: np.ndarray, side: int, tile: int, sample: int = 3) -> str:
    """``ok`` when the tiles written are those holding a point and ``sample`` of them hold the direct counts."""
    per_pixel = expected_counts(xy, side)
    want_tiles = sorted({(r // tile, c // tile) for r, c in per_pixel})
    if kind == "folder":
        got_tiles = sorted(
            (int(m[1]), int(m[2])) for f in os.listdir(out) if (m := re.match(r"^r(\d+)_c(\d+)\.tif$", f))
        )
        if got_tiles != want_tiles:
            return f"tiles differ ({len(got_tiles)} written, {len(want_tiles)} hold a point)"
    for r, c in want_tiles[:: max(1, len(want_tiles) // sample)][:sample]:
        r0, c0 = r * tile, c * tile
        h, w = min(tile, side - r0), min(tile, side - c0)
        if kind == "folder":
            import rasterio

            with rasterio.open(os.path.join(out, f"r{r}_c{c}.tif")) as ds:
                got = ds.read(1)
        else:
            import zarr

            got = zarr.open_group(out, mode="r")["rastercover"][0, r0 : r0 + h, c0 : c0 + w]
        want = np.zeros((h, w), dtype=np.int64)
        for (pr, pc), n in per_pixel.items():
            if r0 <= pr < r0 + h and c0 <= pc < c0 + w:
                want[pr - r0, pc - c0] = n
        if not np.array_equal(got, want):
            return f"tile ({r}, {c}) differs from the direct count ({int((got != want).sum())} px)"
    return "ok"


# ------------------------------------------------------------------------------------------- report
def fmt(v: dict, key: str, spec: str) -> str:
    return "—" if "error" in v else format(v[key], spec)


def report(rows: list[dict], args: argparse.Namespace, command: str) -> str:
    lines = [
        "## Planning a huge touched job: `bench_planning.py`",
        "",
        f"- Command: `{command}`",
        f"- Job: {args.points} random points (seed {args.seed}) over {args.side}x{args.side} px "
        f'({args.side * args.side:.2e} px) of 1 m, {CRS}; `{METHOD}`, `extent="touched"`, int32, one fresh '
        "process per configuration (median of `--repeat`; with a baseline, before and after alternate run by run).",
        "- Plan: `plan_rasterize` (opens the GeoPackage, and with the guards and lazy planning reads the points' "
        "envelopes); run: `run_plan`. Peak RSS: `VmHWM` after the imports / after planning / at the end.",
        "",
        "| code | tiles | output | plan s | run s | total s | RSS imports MB | RSS planned MB | peak RSS MB "
        "| tiles planned | tiles written | check |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        v = r["result"]
        total = "—" if "error" in v else f"{v['plan_s'] + v['run_s']:.2f}"
        lines.append(
            f"| {r['code']} | {r['tile']} | {r['output']} | {fmt(v, 'plan_s', '.2f')} | {fmt(v, 'run_s', '.2f')} | "
            f"{total} | {fmt(v, 'rss_import_mb', '.0f')} | {fmt(v, 'rss_plan_mb', '.0f')} | "
            f"{fmt(v, 'rss_peak_mb', '.0f')} | {fmt(v, 'plan_tiles', ',')} | {fmt(v, 'written', ',')} | "
            f"{v.get('error') or r['check']} |"
        )
    lines += pair_lines(rows)
    return "\n".join(lines)


def pair_lines(rows: list[dict]) -> list[str]:
    """With a baseline: after / before of each configuration's total time (plan + run), the median of the ratios
    of the runs paired as they alternated (before, after, before, after, ...)."""
    out = []
    for r in rows:
        if r["code"] != "after":
            continue
        same = [b for b in rows if b["code"] == "before" and (b["tile"], b["output"]) == (r["tile"], r["output"])]
        before = same[0] if same else None
        if before is None:
            continue
        totals = {k: [x["plan_s"] + x["run_s"] if "error" not in x else None for x in v["runs"]]
                  for k, v in (("after", r), ("before", before))}  # fmt: skip
        pairs = [(x, y) for x, y in zip(totals["after"], totals["before"]) if x is not None and y]
        if pairs:
            out.append(f"- tiles {r['tile']}, {r['output']}: after / before (plan + run) "
                       f"{fmt_pairs([x for x, _ in pairs], [y for _, y in pairs])} over {len(pairs)} pair(s) of "
                       "runs alternated run by run.")  # fmt: skip
    return ["", *out] if out else []


def median_of(results: list[dict]) -> dict:
    ok = [r for r in results if "error" not in r]
    if not ok:
        return results[0]
    return {  # counts stay integers
        k: (statistics.median_low if isinstance(ok[0][k], int) else statistics.median)(r[k] for r in ok) for k in ok[0]
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=3000, help="random points (default 3000)")
    ap.add_argument("--side", type=int, default=70711, help="grid side in pixels (default 70711: 5.0e9 px)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiles", type=int, nargs="+", default=[256, 100], help="tile sizes (default 256 100)")
    ap.add_argument("--outputs", nargs="+", default=["folder", "zarr"], choices=["folder", "zarr"])
    ap.add_argument("--repeat", type=int, default=1, help="fresh processes per configuration (median; default 1)")
    ap.add_argument("--baseline", help="a folder holding another rastercover package, run as 'before'")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run before giving up (default 1800)")
    ap.add_argument("--tmp", type=Path, help="where the points and outputs go (default: a temporary folder)")
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(one(json.loads(a.one))))
        return 0
    command = shlex.join(["python", "benchmarks/bench_planning.py", *(sys.argv[1:] if argv is None else argv)])
    tmp = Path(tempfile.mkdtemp(prefix="bench-planning-", dir=a.tmp))
    try:
        xy, values = points(a.points, a.side, a.seed)
        gpkg = tmp / "points.gpkg"
        write_points(gpkg, xy, values)
        codes = ([("before", a.baseline)] if a.baseline else []) + [("after", None)]
        rows = []
        for tile in a.tiles:
            for output in a.outputs:
                # before and after alternate run by run (before, after, before, after, ...)
                results: dict[str, list[dict]] = {code: [] for code, _src in codes}
                verdicts = {code: "not run" for code, _src in codes}
                for _ in range(a.repeat):
                    for code, src in codes:
                        out = str(tmp / (f"out-{code}-{tile}" + (".zarr" if output == "zarr" else "")))
                        spec = {"gpkg": str(gpkg), "side": a.side, "tile": tile, "out": out}
                        shutil.rmtree(out, ignore_errors=True)
                        results[code].append(run_config(spec, src, a.timeout))
                        ok = "error" not in results[code][-1]
                        verdicts[code] = check(out, output, xy, a.side, tile) if ok else "—"
                        shutil.rmtree(out, ignore_errors=True)
                for code, _src in codes:
                    rows.append({"code": code, "tile": tile, "output": output, "result": median_of(results[code]),
                                 "check": verdicts[code], "runs": results[code]})  # fmt: skip
                    print(f"{code} tiles {tile} {output}: {rows[-1]['result']} {verdicts[code]}", file=sys.stderr)
        text = report(rows, a, command)
        print(text)
        if a.json:
            res = {"command": command, "points": a.points, "side": a.side, "seed": a.seed, "repeat": a.repeat,
                   "method": METHOD, "crs": CRS, "rows": rows}  # fmt: skip
            a.json.write_text(json.dumps(res, indent=1, default=str))
            print(f"wrote {a.json}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
