#!/usr/bin/env python3
"""Benchmark: the exact-area methods against exactextract's per-pixel coverage fractions.

A script, not a test. On a workload of ``make_workload.py`` (``benchmarks/work/s<scale>``: the forest polygons,
value ``height``, onto the grid of ``elevation.tif``), it alternates run by run, after a warm-up round:

* ours: ``rastercover.rasterize`` with ``PROPORTION_OF_COVERED_AREA`` and ``AREA_WEIGHTED_MEAN_OF_VALUES`` in one
  pass, to memory (reading the GeoPackage included);
* exactextract: the layer read into a GeoDataFrame (pyogrio), ``exact_extract(raster, polygons, ["cell_id",
  "coverage"])`` (each polygon's cells and the fraction of each cell it covers: the same exact-area computation),
  then the two rasters accumulated with ``numpy.bincount``: ``Σ c`` and ``Σ c·value / max(Σ c, 1)`` (the documented
  formulas of the two methods, ``c`` the covered fraction of the pixel).

exactextract has no "rasterize to a grid" of its own: its per-polygon zonal statistics are the other side of the
same computation, so the peer here is its coverage-fraction engine plus the accumulation (a few ms). The two
results are compared pixel for pixel (max |difference|). ``--json FILE`` writes the results. When the
``exactextract`` package is not installed the script says so and exits with status 3 (``python -m benchmarks``
then reports the peer as not installed)::

    python benchmarks/bench_exactextract.py --repeat 5
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

import numpy as np

from _common import alternate, ratio_stats, save_json
from _paths import DEFAULT_WORK

METHODS = ("PROPORTION_OF_COVERED_AREA", "AREA_WEIGHTED_MEAN_OF_VALUES")
NODATA = -9999.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds after one warm-up round (default 5)")
    ap.add_argument("--scale", default="1", help="workload scale, folder s<scale> of --work (default 1)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"workload folders (default {DEFAULT_WORK})")
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    a = ap.parse_args(argv)
    try:
        import exactextract
    except ImportError:
        print("exactextract is not installed (pip install exactextract, or the project's bench extra)")
        return 3
    import geopandas
    import rasterio

    import rastercover

    command = shlex.join(["python", "benchmarks/bench_exactextract.py", *(sys.argv[1:] if argv is None else argv)])
    folder = a.work.resolve() / f"s{a.scale}"
    gpkg, tif = str(folder / "forestcover.gpkg"), str(folder / "elevation.tif")
    if not (folder / "workload_stats.json").exists():
        sys.exit(f"no workload at {folder}: build it with make_workload.py --scale {a.scale} --out {folder}")
    grid = rastercover.open_grid(tif, tile_size=100)
    rows, cols = grid.shape
    out: dict[str, np.ndarray] = {}

    def ours() -> None:
        res = rastercover.rasterize(gpkg, grid, layer="forestcover", value="height", methods=list(METHODS))
        arr = np.asarray(getattr(res, "values", res), dtype=np.float64)
        out["ours"] = arr

    def peer() -> None:
        gdf = geopandas.read_file(gpkg, layer="forestcover", engine="pyogrio")
        with rasterio.open(tif) as src:
            df = exactextract.exact_extract(src, gdf, ["cell_id", "coverage"], include_cols=["height"],
                                            output="pandas")  # fmt: skip
        ids = np.concatenate(df["cell_id"].to_numpy()).astype(np.int64)
        cov = np.concatenate(df["coverage"].to_numpy()).astype(np.float64)
        val = np.repeat(df["height"].to_numpy(np.float64), [len(c) for c in df["cell_id"]])
        n = rows * cols
        sc = np.bincount(ids, cov, n)
        scv = np.bincount(ids, cov * val, n)
        prop = sc.reshape(rows, cols)
        mean = np.where(sc > 0, scv / np.maximum(sc, 1.0), np.nan).reshape(rows, cols)
        out["peer"] = np.stack([prop, mean])

    times = alternate({"ours": ours, "exactextract": peer}, a.repeat, warmup=1, label="exactextract ")
    ours_arr, peer_arr = out["ours"], out["peer"]
    diffs = {}
    for i, m in enumerate(METHODS):
        o = ours_arr[i] if ours_arr.ndim == 3 else ours_arr
        o = np.where((o == NODATA) | np.isnan(o), np.nan, o)
        p = peer_arr[i]
        if m == "PROPORTION_OF_COVERED_AREA":  # 0 where nothing covers: compare where either is non-zero
            o, p = np.nan_to_num(o), np.nan_to_num(p)
        both = ~np.isnan(o) & ~np.isnan(p)
        one_only = int((np.isnan(o) != np.isnan(p)).sum())
        diffs[m] = {"max_abs": float(np.abs(o[both] - p[both]).max()) if both.any() else 0.0,
                    "pixels_compared": int(both.sum()), "nodata_in_one_only": one_only}  # fmt: skip
    res = {
        "command": command, "repeat": a.repeat, "scale": a.scale, "grid": [rows, cols], "methods": list(METHODS),
        "versions": {"exactextract": getattr(exactextract, "__version__", "?"), "rastercover": rastercover.__version__},
        "times": times, "median": {k: statistics.median(v) for k, v in times.items()},
        "ratio": ratio_stats(times["ours"], times["exactextract"]), "differences": diffs,
    }  # fmt: skip
    r = res["ratio"]["median_of_pairs"]
    print(f"ours {res['median']['ours']:.3f} s, exactextract {res['median']['exactextract']:.3f} s, ratio {r:.2f}; "
          f"max |diff| " + ", ".join(f"{m} {d['max_abs']:.2g}" for m, d in diffs.items()))  # fmt: skip
    save_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
