#!/usr/bin/env python3
"""Benchmark: the block size (``block_pixels``, the unit of work) against the time of a serial run.

A script, not a test. On the scale-16 workload built by ``make_workload.py`` (``benchmarks/work/s16``), it
times ``rastercover.rasterize`` of layer ``forestcover`` (value ``height``) onto the grid of ``elevation.tif``
with ``extent="touched"`` into a ``.zarr`` store, serially (``workers=1``), for an exact-area method
(``AREA_WEIGHTED_MEAN_OF_VALUES``) and a centroid method (``MEAN_OF_VALUES_AT_PIXEL_CENTROID``), tiles of 100
and 256 px, and blocks of 2^18 to 2^21 px: one warm-up, then ``--repeat`` rounds with the block sizes
interleaved (medians reported). The outputs of every block size are compared bit for bit with the default's.
It is what chose ``rastercover.engine.DEFAULT_BLOCK_PIXELS``.

Prints a markdown report; with ``--write`` (or ``--out FILE``) it replaces the section between the
``bench_blocks`` markers of BENCHMARKS.md. Run from the repository root::

    python benchmarks/bench_blocks.py --write
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
from bench_centroid import DEFAULT_WORK, source_state  # this folder is on sys.path
from bench_postgis import machine, update_markdown
from rastercover.engine import DEFAULT_BLOCK_PIXELS, plan_blocks

ROOT = Path(__file__).resolve().parent.parent
MARKS = ("<!-- bench_blocks:begin -->", "<!-- bench_blocks:end -->")
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


def diffs(same: dict[int, tuple[int, float]]) -> str:
    """``none``, or per block size the pixels that differ from the default's result and by how much at most."""
    if all(n == 0 for n, _ in same.values()):
        return "none"
    return ", ".join(f"{b:,}: {n:,} ({d:.2g})" for b, (n, d) in sorted(same.items()) if n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds after a warm-up (default 3)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"workload folders (default {DEFAULT_WORK})")
    ap.add_argument("--write", action="store_true", help="replace the bench_blocks section of BENCHMARKS.md")
    ap.add_argument("--out", type=Path, help="replace the bench_blocks section of this file instead")
    a = ap.parse_args(argv)
    command = shlex.join(["python", "benchmarks/bench_blocks.py", *(sys.argv[1:] if argv is None else argv)])
    folder = a.work.resolve() / "s16"
    if not (folder / "workload_stats.json").exists():
        sys.exit(f"no workload at {folder}: build it with make_workload.py --scale 16 --out {folder}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-blocks-") as tmp:
        for tile in TILES:
            grid = rastercover.open_grid(str(folder / "elevation.tif"), tile_size=tile)
            for method in METHODS:
                times: dict[int, list[float]] = {b: [] for b in SIZES}
                same: dict[int, tuple[int, float]] = {}
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
                            same[b] = (int(differ.sum()), delta)
                med = {b: statistics.median(v) for b, v in times.items()}
                rows.append((tile, method, med, same, {b: len(plan_blocks(grid, b)) for b in SIZES}))
                print(f"tile {tile} {method}: " + "  ".join(f"{b}: {med[b]:.2f}" for b in SIZES), file=sys.stderr)
    lines = [
        MARKS[0],
        "## Block size (bench_blocks)",
        "",
        "Serial (`workers=1`) `rasterize` of the scale-16 workload (10000 × 10000 px, 44,080 polygons) with "
        '`extent="touched"` into a `.zarr` store, by block size (`block_pixels`, the unit of work: a block of '
        f"whole tiles is read, computed and written at once). Run {dt.datetime.now().isoformat(timespec='seconds')}"
        f", median of {a.repeat} rounds after a warm-up, block sizes interleaved. Command: `{command}`; "
        f"rastercover git {source_state()['commit']}. Machine: {machine()}.",
        "",
        "| tile px | method | " + " | ".join(f"{b:,} px (blocks)" for b in SIZES) + " | pixels not equal bit for "
        "bit to the default's (max abs. difference) |",
        "|---:|---|" + "---:|" * len(SIZES) + "---|",
    ]
    for tile, method, med, same, n in rows:
        best = min(med.values())
        cells = [
            f"{'**' if med[b] == best else ''}{med[b]:.2f} s{'**' if med[b] == best else ''} ({n[b]})" for b in SIZES
        ]
        lines.append(f"| {tile} | `{method}` | " + " | ".join(cells) + f" | {diffs(same)} |")
    lines += [
        "",
        f"Default: `DEFAULT_BLOCK_PIXELS` = {DEFAULT_BLOCK_PIXELS:,}. The fastest size per row is in bold. Smaller "
        "blocks keep a block's dense temporaries in cache; too small, and features that span several blocks are "
        "read and clipped once per block. The last column counts the pixels that differ from the default block "
        "size's result, and by how much at most: results are meant to be equal bit for bit for any block size, "
        "tile size, workers and executor (tests/test_methods_exact.py checks it as a property).",
        MARKS[1],
    ]
    text = "\n".join(lines)
    print(text)
    out_md = a.out or (ROOT / "BENCHMARKS.md" if a.write else None)
    if out_md:
        update_markdown(out_md, text, command, marks=MARKS, script="bench_blocks.py")
        print(f"wrote {out_md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
