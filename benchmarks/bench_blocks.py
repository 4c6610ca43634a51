#!/usr/bin/env python3
"""Benchmark: the block size (``block_pixels``, the unit of work) against the time of a serial run.

A script, not a test. On the scale-16 workload built by ``make_workload.py`` (``benchmarks/work/s16``), it
times ``rastercover.rasterize`` of layer ``forestcover`` (value ``height``) onto the grid of ``elevation.tif``
with ``extent="touched"`` into a ``.zarr`` store, serially (``workers=1``), for an exact-area method
(``AREA_WEIGHTED_MEAN_OF_VALUES``) and a centroid method (``MEAN_OF_VALUES_AT_PIXEL_CENTROID``), tiles of 100
and 256 px, and blocks of 2^18 to 2^21 px: one warm-up, then ``--repeat`` rounds with the block sizes
interleaved (medians reported). The outputs of every block size are compared bit for bit with the default's.
It is what chose ``rastercover.engine.DEFAULT_BLOCK_PIXELS``.

Prints the medians; ``--json FILE`` writes the results (``python -m benchmarks`` renders them). Run from the
repository root::

    python benchmarks/bench_blocks.py --repeat 2 --tiles 100 --json /tmp/blocks.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import rastercover
from _common import save_json  # this folder is on sys.path
from bench_centroid import DEFAULT_WORK, source_state
from rastercover.engine import DEFAULT_BLOCK_PIXELS, plan_blocks

METHODS = ("AREA_WEIGHTED_MEAN_OF_VALUES", "MEAN_OF_VALUES_AT_PIXEL_CENTROID")
TILES = (100, 256)
SIZES = (1 << 18, 1 << 19, 1 << 20, 1 << 21)


def run(folder: Path, grid: rastercover.Grid, method: str, block_pixels: int, out: str) -> float:
    t0 = time.perf_counter()
    rastercover.rasterize(
        str(folder / "forestcover.gpkg"),
        grid,
        layer="forestcover",
        value="height",
        methods=[method],
        output=out,
        extent="touched",
        overwrite=True,
        block_pixels=block_pixels,
    )
    return time.perf_counter() - t0


def pixels(path: str) -> np.ndarray:
    import zarr

    return zarr.open_group(path, mode="r")["rastercover"][...]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds after a warm-up (default 3)")
    ap.add_argument("--scale", default="16", help="workload scale, folder s<scale> of --work (default 16)")
    ap.add_argument("--tiles", type=int, nargs="+", default=list(TILES), help="tile sizes (default 100 256)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"workload folders (default {DEFAULT_WORK})")
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    a = ap.parse_args(argv)
    command = shlex.join(["python", "benchmarks/bench_blocks.py", *(sys.argv[1:] if argv is None else argv)])
    folder = a.work.resolve() / f"s{a.scale}"
    if not (folder / "workload_stats.json").exists():
        sys.exit(f"no workload at {folder}: build it with make_workload.py --scale {a.scale} --out {folder}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-blocks-") as tmp:
        for tile in a.tiles:
            grid = rastercover.open_grid(str(folder / "elevation.tif"), tile_size=tile)
            for method in METHODS:
                times: dict[int, list[float]] = {b: [] for b in SIZES}
                differ_n: dict[int, list] = {}
                for r in range(a.repeat + 1):
                    for b in SIZES:
                        out = os.path.join(tmp, f"t{tile}-{method}-b{b}.zarr")
                        seconds = run(folder, grid, method, b, out)
                        if r:
                            times[b].append(seconds)
                        elif b != DEFAULT_BLOCK_PIXELS:
                            ref = os.path.join(tmp, f"t{tile}-{method}-b{DEFAULT_BLOCK_PIXELS}.zarr")
                            if not os.path.exists(ref):
                                run(folder, grid, method, DEFAULT_BLOCK_PIXELS, ref)
                            got, want = pixels(out), pixels(ref)
                            differ = got != want
                            delta = (
                                float(np.abs(got[differ].astype("f8") - want[differ]).max()) if differ.any() else 0.0
                            )
                            differ_n[b] = [int(differ.sum()), delta]
                med = {b: statistics.median(v) for b, v in times.items()}
                rows.append({
                    "tile": tile, "method": method, "times": {str(b): v for b, v in times.items()},
                    "median": {str(b): m for b, m in med.items()},
                    "differ": {str(b): v for b, v in differ_n.items()},
                    "blocks": {str(b): len(plan_blocks(grid, b)) for b in SIZES},
                })  # fmt: skip
                print(f"tile {tile} {method}: " + "  ".join(f"{b}: {med[b]:.2f}" for b in SIZES), file=sys.stderr)
    res = {
        "command": command, "date": dt.datetime.now().isoformat(timespec="seconds"), "repeat": a.repeat,
        "scale": a.scale, "grid": list(rastercover.open_grid(str(folder / "elevation.tif")).shape),
        "default_block_pixels": DEFAULT_BLOCK_PIXELS, "sizes": list(SIZES), "rows": rows,
        "source": source_state(),
    }  # fmt: skip
    for row in rows:
        cells = ", ".join(f"{b} px {m:.2f} s" for b, m in row["median"].items())
        print(f"tile {row['tile']} {row['method']}: {cells}")
    save_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
