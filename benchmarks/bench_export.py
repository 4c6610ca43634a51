#!/usr/bin/env python3
"""Benchmark: ``rastercover.export`` of a polygon clip against ``gdalwarp -cutline -crop_to_cutline``.

A script, not a test. On the ``elevation.tif`` of the workload built by ``make_workload.py`` (2500×2500 px of
float32, 30 m, EPSG:32198 at scale 1; no nodata), it exports a clip whose bounding box is ``--side`` pixels
square (1000 by default): an irregular 64-gon (not a rectangle), written to ``clip.geojson`` with its CRS. Two
coverages hold the same pixels:

* (a) the tiled GeoTIFF ``elevation.tif`` itself (internally tiled 256×256, deflate; a tiled copy is made if it
  is striped);
* (b) a folder of 100×100 px GeoTIFF tiles (``r{row}_c{col}.tif``, 625 at scale 1, written once from
  ``elevation.tif`` into ``<work>/s1/export/``), which rastercover reads as a folder and ``gdalwarp`` reads
  through a VRT of the same tiles built by ``gdalbuildvrt`` (set-up, not timed).

Timed, in this one process, one warm-up round and then ``--repeat`` rounds, the configurations interleaved in
each round (outputs deleted before each round; medians reported): ``rastercover.export(coverage, out,
clip=<GeoJSON text>)`` in-process; the ``rastercover export COVERAGE -o out.tif --clip @clip.geojson`` command
(a subprocess: Python start-up included); ``gdalwarp -q -cutline clip.geojson
-crop_to_cutline`` with rastercover's GeoTIFF creation options (``-co``), ``-dstnodata -9999`` (rastercover's
nodata for a float coverage without one) and ``-wo NUM_THREADS=1`` (GDAL's default, written out), as the issue
words it and with ``-tr <res> <res> -tap`` (the extent rastercover writes); for (b) also rastercover reading the
same VRT, and opening each coverage alone. Target (from the issue): the export ≤ 1.5 × gdalwarp's time.

Every output of the last round is checked against ``rasterio.mask.mask(..., crop=True, filled=True)`` of the
tiled GeoTIFF (the semantics ``rastercover.export`` documents: a pixel is kept when its centre is inside, the
output is cropped to the clip's bounds on the coverage's grid): transform, shape, and pixel values, with
differing pixels classified (nodata in one only, other value) and located (within one pixel of the clip's
boundary or not). Differences at the edge are reported, not fatal; others are flagged.

``--scales 4 16`` also runs the tiled GeoTIFF of those workloads with a ``--large-side`` (4000 px) clip. When
the in-process export misses the target, or with ``--profile N``, the top ``cProfile`` entries of the
in-process exports are printed (and added to the report when the target is missed).

Prints a markdown report; ``--json FILE`` writes the results (``python -m benchmarks`` renders them). Run from
the repository root::

    python benchmarks/bench_export.py --scales 1 4 16 --repeat 5 --json /tmp/export.json
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.mask
import rasterio.shutil
import shapely
from affine import Affine
from rasterio.windows import Window as RioWindow

import rastercover
from _common import save_json
from _paths import gdal_tool, without_machine_paths
from bench_centroid import (  # this folder is on sys.path when run as a script
    DEFAULT_MAKE_WORKLOAD,
    DEFAULT_WORK,
    generate,
    scale_name,
    snapshot_source,
    source_state,
    workload,
)
from bench_postgis import (
    creation_options,
    file_structure,
    fmt_s,
    load_average,
    machine,
    med,
    rastercover_cli,
    rounds,
    run_quiet,
    spread,
)
from rastercover.exporting import DEFAULT_FLOAT_NODATA, open_coverage
from rastercover.grid import Window

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GDALWARP = gdal_tool("gdalwarp")  # GDAL's command-line tools on PATH (None when missing: main() stops)
GDALBUILDVRT = gdal_tool("gdalbuildvrt")
NODATA = DEFAULT_FLOAT_NODATA  # what rastercover gives a float coverage without nodata when a clip masks pixels
TARGET = 1.5
VERTICES = 64

# key -> (coverage, label); "a-*" read the tiled GeoTIFF, "b-*" the tile folder or its VRT
CONFIGS = {
    "a-rc": ("a", "`rastercover.export(tif, out, clip=geojson)`, in-process"),
    "a-cli": ("a", "`rastercover export tif -o out --clip @clip.geojson`, subprocess"),
    "a-gdal": ("a", "`gdalwarp -cutline -crop_to_cutline`, subprocess"),
    "a-gdal-tap": ("a", "`gdalwarp -cutline -crop_to_cutline -tr 30 30 -tap`, subprocess"),
    "a-open": ("a", "(of the in-process export) `open_coverage(tif)` alone"),
    "b-rc": ("b", "`rastercover.export(folder/, out, clip=geojson)`, in-process"),
    "b-rc-vrt": ("b", "`rastercover.export(tiles.vrt, out, clip=geojson)`, in-process (gdalwarp's input)"),
    "b-cli": ("b", "`rastercover export folder/ -o out --clip @clip.geojson`, subprocess"),
    "b-gdal": ("b", "`gdalwarp -cutline -crop_to_cutline` of tiles.vrt, subprocess"),
    "b-gdal-tap": ("b", "`gdalwarp -cutline -crop_to_cutline -tr 30 30 -tap` of tiles.vrt, subprocess"),
    "b-open": ("b", "(of the in-process export) `open_coverage(folder/)` alone: layout from the r{row}_c{col} names"),
    "b-vrt-open": ("b", "(of the in-process export) `open_coverage(tiles.vrt)` alone"),
    "startup": ("", "CLI start-up alone: `rastercover --help`, subprocess"),
}
OUTPUTS = [k for k in CONFIGS if not k.endswith("open") and k != "startup"]
COVERAGES = {"a": "tiled GeoTIFF", "b": "tile folder"}


# ------------------------------------------------------------------------------------------- set-up
@dataclass
class Setup:
    """One scale's inputs: the coverages, the clip and the reference output."""

    scale: float
    folder: Path  # <work>/s<scale>/export: tiles, VRT, clip (kept between runs)
    tif: str  # the tiled GeoTIFF coverage
    tiles: str | None  # the tile folder (scale 1 only)
    vrt: str | None  # gdalbuildvrt's VRT of the tiles (outside the folder)
    clip_path: str
    clip_text: str
    geom: shapely.Geometry
    side: int
    info: dict  # facts for the report


def tiled_geotiff(src: str, folder: Path) -> tuple[str, dict]:
    """``src`` if it is internally tiled, else a tiled (256×256, deflate) copy in ``folder``."""
    with rasterio.open(src) as ds:
        block = ds.block_shapes[0]
        facts = {
            "size": [ds.width, ds.height],
            "block": list(block),
            "compress": ds.compression.name if ds.compression else None,
            "dtype": ds.dtypes[0],
            "nodata": ds.nodata,
            "crs": f"EPSG:{ds.crs.to_epsg()}" if ds.crs and ds.crs.to_epsg() else str(ds.crs),
            "res": list(ds.res),
            "origin": [ds.transform.c, ds.transform.f],
        }
    if block[1] < facts["size"][0]:  # blocks narrower than the raster: tiled
        facts["copy"] = False
        return src, facts
    out = folder / "elevation_tiled.tif"
    if not out.exists():
        rasterio.shutil.copy(src, str(out), driver="GTiff", tiled=True, blockxsize=256, blockysize=256,
                             compress="deflate")  # fmt: skip
    facts.update(copy=True, block=[256, 256])
    return str(out), facts


def tile_folder(src: str, folder: Path, tile: int) -> tuple[str, str, int]:
    """A folder of ``tile``×``tile`` px GeoTIFFs cut from ``src`` (written once) and gdalbuildvrt's VRT of it."""
    tiles = folder / f"tiles{tile}"
    vrt = folder / f"tiles{tile}.vrt"  # beside the folder, not in it: rastercover scans the folder itself
    with rasterio.open(src) as ds:
        rows, cols = -(-ds.height // tile), -(-ds.width // tile)
        names = [f"r{r}_c{c}.tif" for r in range(rows) for c in range(cols)]
        if not (tiles / "done").exists():
            print(f"writing {len(names)} tiles of {tile}×{tile} px to {tiles}", file=sys.stderr, flush=True)
            shutil.rmtree(tiles, ignore_errors=True)
            tiles.mkdir(parents=True)
            prof = {"driver": "GTiff", "count": ds.count, "dtype": ds.dtypes[0], "crs": ds.crs,
                    "nodata": ds.nodata, "compress": "deflate"}  # fmt: skip
            for r in range(rows):
                for c in range(cols):
                    w = RioWindow(c * tile, r * tile, min(tile, ds.width - c * tile), min(tile, ds.height - r * tile))
                    with rasterio.open(tiles / f"r{r}_c{c}.tif", "w", width=int(w.width), height=int(w.height),
                                       transform=ds.window_transform(w), **prof) as out:  # fmt: skip
                        out.write(ds.read(window=w))
            (tiles / "done").write_text("")  # not a raster suffix: the folder scan ignores it
            vrt.unlink(missing_ok=True)
    if not vrt.exists():
        listing = folder / f"tiles{tile}.txt"
        listing.write_text("".join(f"tiles{tile}/{n}\n" for n in names))
        subprocess.run([GDALBUILDVRT, "-q", "-input_file_list", listing.name, vrt.name], cwd=folder, check=True)
    return str(tiles), str(vrt), len(names)


def make_clip(tif: str, side: int, path: Path) -> tuple[str, shapely.Geometry]:
    """An irregular 64-gon centred on the coverage, its bounding box ``side`` px square (a few tenths of a pixel
    inside the edges of a ``side``-pixel window, so that the crop is that window), as GeoJSON with its CRS."""
    with rasterio.open(tif) as ds:
        t, width, height, epsg = ds.transform, ds.width, ds.height, ds.crs.to_epsg()
    if side > min(width, height):
        raise SystemExit(f"a {side} px clip does not fit the {width}×{height} px coverage: lower --side")
    theta = np.linspace(0.0, 2.0 * np.pi, VERTICES, endpoint=False)
    radius = 1.0 + 0.18 * np.sin(3.0 * theta + 0.4) + 0.07 * np.cos(7.0 * theta)  # a lobed blob, no symmetry

    def fit(v: np.ndarray, lo: float) -> np.ndarray:
        return lo + 0.3 + (v - v.min()) / (v.max() - v.min()) * (side - 0.6)

    cols = fit(radius * np.cos(theta), (width - side) // 2)
    rows = fit(-radius * np.sin(theta), (height - side) // 2)
    xs, ys = t * (cols, rows)
    ring = [[float(x), float(y)] for x, y in zip(xs, ys, strict=True)]
    ring.append(ring[0])
    doc = {
        "type": "FeatureCollection",
        "name": "clip",
        "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}},
        "features": [
            {"type": "Feature", "properties": {"id": 1}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        ],
    }
    text = json.dumps(doc)
    path.write_text(text)
    return text, shapely.Polygon(ring)


def prepare_scale(work: Path, scale: float, side: int, tile: int, folder_too: bool) -> Setup:
    wl = workload(work, scale)
    folder = wl.folder / "export"
    folder.mkdir(exist_ok=True)
    tif, facts = tiled_geotiff(wl.elevation, folder)
    clip_path = folder / f"clip{side}.geojson"
    clip_text, geom = make_clip(tif, side, clip_path)
    tiles = vrt = None
    if folder_too:
        tiles, vrt, n = tile_folder(tif, folder, tile)
        facts["tiles"] = n
        facts["tile"] = tile
    facts["clip"] = {
        "vertices": VERTICES,
        "bounds": list(geom.bounds),
        "area_px": geom.area / abs(facts["res"][0] * facts["res"][1]),
    }
    facts["tap_aligned"] = all(
        abs(o / r - round(o / r)) < 1e-9 for o, r in zip(facts["origin"], facts["res"], strict=True)
    )
    return Setup(scale, folder, tif, tiles, vrt, str(clip_path), clip_text, geom, side, facts)


# ------------------------------------------------------------------------------------------- the runs
def gdalwarp_cmd(src: str, clip: str, out: str, co: list[str], tap_res: float | None) -> list[str]:
    cmd = [GDALWARP, "-q", "-cutline", clip, "-crop_to_cutline", "-dstnodata", f"{NODATA:g}", "-wo", "NUM_THREADS=1"]
    if tap_res is not None:
        cmd += ["-tr", f"{tap_res:g}", f"{tap_res:g}", "-tap"]
    return cmd + [a for o in co for a in ("-co", o)] + [src, out]


def out_grid_options(s: Setup) -> list[str]:
    """rastercover's creation options for this output (``io.gtiff.gtiff_profile`` of the clip's window)."""
    cov = open_coverage(s.tif)
    c0, r0, c1, r1 = pixel_bounds(cov.grid.transform, s.geom)
    return creation_options(cov.grid.subgrid(Window(c0, r0, c1 - c0, r1 - r0)))


def pixel_bounds(t: Affine, geom: shapely.Geometry) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = geom.bounds
    (ca, ra), (cb, rb) = ~t * (x0, y1), ~t * (x1, y0)
    return math.floor(ca), math.floor(ra), math.ceil(cb), math.ceil(rb)


def build_configs(s: Setup, outs: dict[str, str], co: list[str]) -> tuple[dict[str, Callable[[], None]], dict]:
    cli = rastercover_cli()
    res = s.info["res"][0]
    clip_arg = "@" + s.clip_path

    def rc(src: str, key: str) -> Callable[[], None]:
        def run() -> None:
            rastercover.export(src, outs[key], clip=s.clip_text, overwrite=True)

        return run

    def opener(src: str) -> Callable[[], None]:
        def run() -> None:
            open_coverage(src)

        return run

    def command(cmd: list[str]) -> Callable[[], None]:
        return lambda: run_quiet(cmd)

    cmds = {
        "a-cli": [*cli, "export", s.tif, "-o", outs["a-cli"], "--clip", clip_arg],
        "a-gdal": gdalwarp_cmd(s.tif, s.clip_path, outs["a-gdal"], co, None),
        "a-gdal-tap": gdalwarp_cmd(s.tif, s.clip_path, outs["a-gdal-tap"], co, res),
    }
    configs: dict[str, Callable[[], None]] = {
        "a-rc": rc(s.tif, "a-rc"),
        "a-cli": command(cmds["a-cli"]),
        "a-gdal": command(cmds["a-gdal"]),
        "a-gdal-tap": command(cmds["a-gdal-tap"]),
        "a-open": opener(s.tif),
    }
    if s.tiles and s.vrt:
        folder = s.tiles + os.sep
        cmds |= {
            "b-cli": [*cli, "export", folder, "-o", outs["b-cli"], "--clip", clip_arg],
            "b-gdal": gdalwarp_cmd(s.vrt, s.clip_path, outs["b-gdal"], co, None),
            "b-gdal-tap": gdalwarp_cmd(s.vrt, s.clip_path, outs["b-gdal-tap"], co, res),
        }
        configs |= {
            "b-rc": rc(folder, "b-rc"),
            "b-rc-vrt": rc(s.vrt, "b-rc-vrt"),
            "b-cli": command(cmds["b-cli"]),
            "b-gdal": command(cmds["b-gdal"]),
            "b-gdal-tap": command(cmds["b-gdal-tap"]),
            "b-open": opener(folder),
            "b-vrt-open": opener(s.vrt),
        }
    configs["startup"] = command([*cli, "--help"])
    shown = {
        k: without_machine_paths(shlex.join(v).replace(outs[k], "out.tif").replace(str(s.folder.parent), "$S"))
        for k, v in cmds.items()
    }
    return configs, shown


# ------------------------------------------------------------------------------------------- checks
def reference(s: Setup) -> tuple[np.ndarray, Affine]:
    """``rasterio.mask.mask(crop=True)`` of the tiled GeoTIFF: the documented semantics, computed independently."""
    with rasterio.open(s.tif) as ds:
        data, transform = rasterio.mask.mask(ds, [s.geom], crop=True, nodata=NODATA, filled=True)
    return data[0], transform


def compare(path: str, ref: np.ndarray, ref_t: Affine, geom: shapely.Geometry) -> dict:
    """Transform, shape and pixels of ``path`` against the reference, on their common window."""
    with rasterio.open(path) as ds:
        a, t, nodata = ds.read(1), ds.transform, ds.nodata
        out = {"shape": [ds.height, ds.width], "nodata": nodata, **file_structure(path)}
    res = ref_t.a
    dc, dr = (t.c - ref_t.c) / res, (ref_t.f - t.f) / res  # output origin in reference pixels
    out["offset_px"] = [dc, dr]
    out["same_transform"] = t.almost_equals(ref_t)
    out["same_shape"] = list(a.shape) == list(ref.shape)
    if abs(dc - round(dc)) > 1e-6 or abs(dr - round(dr)) > 1e-6 or abs(t.a - res) > 1e-9 or abs(t.e + res) > 1e-9:
        out["aligned"] = False
        return out
    out["aligned"] = True
    c0, r0 = round(dc), round(dr)
    # the common window, in reference coordinates
    rc0, rr0 = max(0, c0), max(0, r0)
    rc1, rr1 = min(ref.shape[1], c0 + a.shape[1]), min(ref.shape[0], r0 + a.shape[0])
    ref_kept = ref != NODATA
    out_kept = a != (NODATA if nodata is None else nodata)
    common_ref = np.zeros(ref.shape, bool)
    common_ref[rr0:rr1, rc0:rc1] = True
    common_out = np.zeros(a.shape, bool)
    common_out[rr0 - r0 : rr1 - r0, rc0 - c0 : rc1 - c0] = True
    out["ref_kept_outside"] = int((ref_kept & ~common_ref).sum())  # kept pixels the output's extent leaves out
    out["out_kept_outside"] = int((out_kept & ~common_out).sum())
    ra, oa = ref[rr0:rr1, rc0:rc1], a[rr0 - r0 : rr1 - r0, rc0 - c0 : rc1 - c0]
    rk, ok = ra != NODATA, oa != (NODATA if nodata is None else nodata)
    differ = (rk != ok) | (rk & ok & (ra != oa))
    out["common"] = [rr1 - rr0, rc1 - rc0]
    out["differ"] = int(differ.sum())
    out["only_ref"] = int((rk & ~ok).sum())
    out["only_out"] = int((ok & ~rk).sum())
    out["other_value"] = int((rk & ok & (ra != oa)).sum())
    out["kept"] = int(ok.sum())
    out["ref_kept"] = int(ref_kept.sum())
    rows, cols = np.nonzero(differ)
    if rows.size:
        xs, ys = (ref_t * Affine.translation(rc0, rr0)) * (cols + 0.5, rows + 0.5)
        dist = shapely.distance(shapely.points(xs, ys), geom.boundary) / res
        out["differ_near_edge"] = int((dist <= 1.0).sum())
        out["max_dist_px"] = float(dist.max())
    else:
        out["differ_near_edge"] = 0
        out["max_dist_px"] = 0.0
    return out


def verdict(c: dict) -> str:
    """One line: how an output compares with the reference; LARGE when it is more than edge pixels."""
    if not c["aligned"]:
        return f"**not on the coverage's pixel grid** (offset {c['offset_px'][0]:.3f}, {c['offset_px'][1]:.3f} px)"
    extent = "same transform and shape" if c["same_transform"] and c["same_shape"] else (
        f"{c['shape'][1]}×{c['shape'][0]} px at offset ({c['offset_px'][0]:+.0f}, {c['offset_px'][1]:+.0f}) px"
    )  # fmt: skip
    parts = [extent]
    if c["differ"] == 0:
        parts.append(f"**equal** on the common {c['common'][1]}×{c['common'][0]} window")
    else:
        parts.append(
            f"**{c['differ']} differing pixels** on the common window ({c['only_ref']} kept by the reference only, "
            f"{c['only_out']} by this output only, {c['other_value']} other values; {c['differ_near_edge']} within "
            f"1 px of the clip's boundary, farthest {c['max_dist_px']:.2f} px)"
        )
    if c["ref_kept_outside"] or c["out_kept_outside"]:
        parts.append(
            f"{c['ref_kept_outside']} pixels the reference keeps lie outside this output's extent"
            + (f", {c['out_kept_outside']} of its kept pixels outside the reference's" if c["out_kept_outside"] else "")
        )
    if large(c):
        parts.append("**LARGE difference: not edge effects**")
    return "; ".join(parts)


def large(c: dict) -> bool:
    if not c["aligned"]:
        return True
    far = c["differ"] - c["differ_near_edge"]
    lost = c["ref_kept_outside"] + c["out_kept_outside"]
    return far > 0 or c["other_value"] > 0 or lost > 0.01 * max(c["ref_kept"], 1)


# ------------------------------------------------------------------------------------------- profile
def profile(configs: dict[str, Callable[[], None]], keys: list[str], repeat: int, top: int) -> dict[str, dict]:
    """cProfile of ``repeat`` warm runs of each in-process export (summed): per key, the top ``top`` entries by
    cumulative time and by own time."""
    out: dict[str, dict] = {}
    for key in keys:
        if key not in configs:
            continue
        configs[key]()  # warm-up
        prof = cProfile.Profile()
        for _ in range(repeat):
            gc.collect()
            prof.enable()
            configs[key]()
            prof.disable()
        texts = {}
        for order in ("cumulative", "tottime"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats(order).print_stats(top)
            body = buf.getvalue()
            body = body[body.index("ncalls") :] if "ncalls" in body else body  # the table only
            texts[order] = re.sub(re.escape(str(ROOT)) + "/?", "", body).rstrip()
        out[key] = {"runs": repeat, "top": top, **texts}
    return out


def profile_text(key: str, p: dict, orders: tuple[str, ...] = ("cumulative", "tottime")) -> str:
    head = f"--- {key}: {CONFIGS[key][1]}, {p['runs']} runs summed"
    names = {"cumulative": "cumulative time", "tottime": "own time"}
    return "\n".join([head] + [f"by {names[o]} (top {p['top']}):\n{p[o]}" for o in orders])


# ------------------------------------------------------------------------------------------- one scale
def bench_scale(s: Setup, repeat: int, tmp: str, profile_top: int) -> dict:
    co = out_grid_options(s)
    outs = {k: os.path.join(tmp, f"{k}.tif") for k in OUTPUTS}
    configs, commands = build_configs(s, outs, co)

    def prepare() -> None:
        for p in outs.values():
            if os.path.exists(p):
                os.remove(p)

    print(f"scale {scale_name(s.scale)}, clip {s.side} px:", file=sys.stderr, flush=True)
    times = rounds(configs, repeat, prepare)
    ref, ref_t = reference(s)
    checks = {k: compare(p, ref, ref_t, s.geom) for k, p in outs.items() if k in times and os.path.exists(p)}
    result: dict = {
        "scale": s.scale,
        "side": s.side,
        "repeat": repeat,
        "info": s.info,
        "times": times,
        "checks": checks,
        "reference": {"shape": list(ref.shape), "transform": list(ref_t)[:6], "kept": int((ref != NODATA).sum())},
        "creation_options": co,
        "commands": commands,
    }
    ratios = target_ratios(result)
    missed = [k for k, r in ratios.items() if r is not None and r > TARGET]
    if profile_top or missed:
        top = profile_top or 15
        print(f"  profiling the in-process exports (top {top})", file=sys.stderr, flush=True)
        result["profile"] = profile(configs, ["a-rc", "b-rc", "b-rc-vrt"], repeat, top)
        result["profile_missed"] = missed
    prepare()
    return result


def yardstick(times: dict, cov: str) -> tuple[str | None, float | None]:
    """The faster gdalwarp of a coverage (the stricter comparison)."""
    cands = [(med(times, k), k) for k in (f"{cov}-gdal", f"{cov}-gdal-tap") if times.get(k)]
    if not cands:
        return None, None
    m, k = min(cands)
    return k, m


def target_ratios(r: dict) -> dict[str, float | None]:
    """In-process export / the faster gdalwarp, per coverage (the target's numbers)."""
    out: dict[str, float | None] = {}
    for cov, key in (("a", "a-rc"), ("b", "b-rc")):
        _k, g = yardstick(r["times"], cov)
        m = med(r["times"], key)
        out[key] = m / g if m is not None and g else None
    return out


# ------------------------------------------------------------------------------------------- report
def gdal_versions() -> dict:
    def version(exe: str | None) -> str:
        if exe is None:
            return "missing"
        return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()

    return {
        "gdalwarp": version(GDALWARP),
        "python": sys.version.split()[0],
        "rasterio": f"{rasterio.__version__} (GDAL {rasterio.__gdal_version__})",
        "numpy": np.__version__,
        "shapely": f"{shapely.__version__} (GEOS {shapely.geos_version_string})",
        "rastercover": rastercover.__version__,
    }


def ratio_cell(m: float | None, g: float | None, bold: bool = False) -> str:
    if m is None or not g:
        return "—"
    return f"**{m / g:.2f}**" if bold else f"{m / g:.2f}"


def scale_lines(r: dict) -> list[str]:
    t, info = r["times"], r["info"]
    w, h = info["size"]
    title = f"### Scale {scale_name(r['scale'])}: {w}×{h} px coverage, clip of {r['side']}×{r['side']} px"
    lines = [
        title,
        "",
        f"Coverage (a): `elevation.tif`, {info['dtype']}, {w}×{h} px of {info['res'][0]:g} m, {info['crs']}, "
        f"{'no nodata' if info['nodata'] is None else 'nodata ' + str(info['nodata'])}, internally tiled "
        f"{info['block'][1]}×{info['block'][0]} ({info['compress']}"
        + ("; a tiled copy, the original is striped" if info.get("copy") else "")
        + ")."
        + (
            f" Coverage (b): {info['tiles']} GeoTIFFs of {info['tile']}×{info['tile']} px (deflate, strips) in one "
            f"folder, no `index.vrt` (rastercover scans the folder); gdalwarp reads `gdalbuildvrt`'s VRT of them."
            if "tiles" in info
            else ""
        ),
        f"Clip: an irregular {info['clip']['vertices']}-gon, {info['clip']['area_px']:.0f} px² of area, bounding box "
        f"a few tenths of a pixel inside a {r['side']}×{r['side']} px window; the reference "
        f"(`rasterio.mask.mask(crop=True)`) keeps {r['reference']['kept']} pixels of "
        f"{r['reference']['shape'][1]}×{r['reference']['shape'][0]}.",
        "",
        "| Coverage | Configuration | median | / gdalwarp | / gdalwarp -tap |",
        "|---|---|---:|---:|---:|",
    ]
    for key, (cov, label) in CONFIGS.items():
        if key not in t:
            continue
        m = med(t, key)
        if key == "startup" or key.endswith("open"):
            lines.append(f"| {COVERAGES.get(cov, '—')} | {label} | {fmt_s(m)} | — | — |")
            continue
        g, gt = med(t, f"{cov}-gdal"), med(t, f"{cov}-gdal-tap")
        bold = key.endswith("-rc")
        lines.append(
            f"| {COVERAGES[cov]} | {label} | {fmt_s(m)} | {ratio_cell(m, g, bold)} | {ratio_cell(m, gt, bold)} |"
        )
    lines.append("")
    ratios = target_ratios(r)
    for cov, key in (("a", "a-rc"), ("b", "b-rc")):
        if ratios.get(key) is None:
            continue
        yk, g = yardstick(t, cov)
        rr = ratios[key]
        cli_key = f"{cov}-cli"
        cli_ratio = med(t, cli_key) / g if t.get(cli_key) and g else None
        line = (
            f"- Target, {COVERAGES[cov]}: in-process export / the faster gdalwarp (`{yk}`, {fmt_s(g)}) = "
            f"**{rr:.2f}** (per round {spread(t, key, yk)}) — **{'met' if rr <= TARGET else 'NOT met'}** (≤ {TARGET})"
        )
        if cli_ratio is not None:
            line += (
                f"; the command {cli_ratio:.2f} (per round {spread(t, cli_key, yk)}) — "
                f"{'met' if cli_ratio <= TARGET else 'not met'}"
            )
            if t.get("startup"):
                line += f", of which {fmt_s(med(t, 'startup'))} is `rastercover --help` alone"
        lines.append(line + ".")
    if t.get("b-open"):
        lines.append(
            f"- Opening the tile folder (no `index.vrt`: `FileCoverage` lays its {info.get('tiles')} tiles out from "
            "their `r{row}_c{col}` names and at most 3 headers, and checks each other tile when a read first opens "
            f"it) takes {fmt_s(med(t, 'b-open'))} of the folder export's "
            f"{fmt_s(med(t, 'b-rc'))}; opening the VRT {fmt_s(med(t, 'b-vrt-open'))}, the GeoTIFF "
            f"{fmt_s(med(t, 'a-open'))}."
        )
    lines.append("- Agreement with the reference (each output of the last round):")
    for key, c in r["checks"].items():
        lines.append(f"  - `{key}`: {verdict(c)}.")
    lines += explain_checks(r)
    for key in r.get("profile_missed", []):
        if key in r.get("profile", {}):
            p = r["profile"][key]
            lines += ["", f"cProfile of `{key}` (target missed), own time:", "", "```"]
            lines += [profile_text(key, p, ("tottime",)), "```"]
    lines.append("")
    return lines


def explain_checks(r: dict) -> list[str]:
    c = r["checks"]
    out = []
    lit = c.get("a-gdal")
    if lit and lit.get("aligned") and not (lit["same_transform"] and lit["same_shape"]):
        out.append(
            f"- `gdalwarp -crop_to_cutline` without `-tr`/`-tap` writes {lit['shape'][1]}×{lit['shape'][0]} px "
            f"instead of {r['reference']['shape'][1]}×{r['reference']['shape'][0]}: GDAL {r.get('gdalwarp_short', '')} "
            "snaps the cutline's bounds to the source's pixel grid, here inward (the clip's bounds lie a few tenths "
            "of a pixel inside the window's edges), and so drops the outer rows and columns although some of their "
            f"pixels have their centres inside the clip ({lit['ref_kept_outside']} such pixels). With "
            "`-tr <res> <res> -tap` the extent is the clip's bounds snapped outward, as rastercover and "
            "`rasterio.mask` do (the coverage's origin is a multiple of its resolution"
            + ("" if r["info"]["tap_aligned"] else " — NOT here: `-tap` shifts the grid")
            + ")."
        )
    return out


def report(res: dict) -> str:
    v = res["versions"]
    lines = [
        "## Export of a polygon clip: rastercover vs gdalwarp -cutline -crop_to_cutline",
        "",
        "Produced by `benchmarks/bench_export.py` (see `benchmarks/README.md`). A clip of the workload's "
        "`elevation.tif` by an irregular polygon, exported as one GeoTIFF by `rastercover.export` and by "
        "`gdalwarp -cutline clip.geojson -crop_to_cutline`, from a tiled GeoTIFF and from a folder of tiles. "
        f"Run {res['date']}; median of {res['repeat']} rounds after one warm-up round, the configurations "
        "interleaved in each round (outputs deleted before each round). Ratios > 1: rastercover is slower. "
        f"Target (from the issue): export ≤ {TARGET}× gdalwarp's time.",
        f"Command: `{res['command']}`; rastercover git {res['source'].get('commit', '?')}, source hash "
        f"{res['source'].get('hash', '?')}.",
        f"Machine: {res['machine']}; load average (1, 5, 15 min) {res['loadavg_start']} at the start, "
        f"{res['loadavg_end']} at the end. Python {v['python']}, numpy {v['numpy']}, rasterio {v['rasterio']}, "
        f"shapely {v['shapely']}, rastercover {v['rastercover']}; `gdalwarp`: {v['gdalwarp']} (Debian's gdal-bin).",
        "",
        "- Both sides single-threaded: rastercover's export runs in one thread; gdalwarp gets `-wo NUM_THREADS=1` "
        "(its default, written out), no `-multi`, and neither sets `GDAL_NUM_THREADS`. gdalwarp's output gets "
        f"rastercover's creation options (`io.gtiff.gtiff_profile`): `{' '.join(res['creation_options'])}`, and "
        f"`-dstnodata {NODATA:g}`: the coverage declares no nodata, and rastercover gives such a float coverage "
        f"{NODATA:g} when a clip masks pixels. Note the two GDALs: rasterio's (in-process) and Debian's (gdalwarp).",
        "- The in-process export gets the clip as the GeoJSON text of `clip.geojson` (its `crs` member names "
        "EPSG:32198, the coverage's CRS: nothing is reprojected); the command reads `@clip.geojson`. The commands "
        "include a fresh process's start-up: Python and rastercover's imports for `rastercover export`, GDAL's "
        "driver registration for gdalwarp.",
        f"- gdalwarp, as run (`$S` = the workload folder): `{res['scales'][0]['commands'].get('a-gdal', '')}`.",
        "",
    ]
    for r in res["scales"]:
        r["gdalwarp_short"] = v["gdalwarp"].split(",")[0].replace("GDAL ", "")
        lines += scale_lines(r)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0], help="workload scales (default 1)")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds after one warm-up round (default 5)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"workload folders (default {DEFAULT_WORK})")
    ap.add_argument("--generate", action="store_true", help="build missing workloads with make_workload.py")
    ap.add_argument("--make-workload", type=Path, default=DEFAULT_MAKE_WORKLOAD, help="path of make_workload.py")
    ap.add_argument("--side", type=int, default=1000, help="clip's bounding box in pixels at scale 1 (default 1000)")
    ap.add_argument("--large-side", type=int, default=4000, help="the same at scales > 1 (default 4000)")
    ap.add_argument("--tile", type=int, default=100, help="tile size of the tile folder, scale 1 (default 100)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="print the top N cProfile entries of the in-process exports (automatic when the target "
                    "is missed)")  # fmt: skip
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    command = shlex.join(["python", "benchmarks/bench_export.py", *(sys.argv[1:] if argv is None else argv)])
    for name, exe in (("gdalwarp", GDALWARP), ("gdalbuildvrt", GDALBUILDVRT)):
        if exe is None:
            sys.exit(f"{name} is not on PATH: install GDAL's command-line tools (Debian: gdal-bin)")
    work = a.work.resolve()
    for sc in a.scales:
        wl = workload(work, sc)
        if not wl.exists():
            if not a.generate:
                sys.exit(f"no workload at {wl.folder}: build it with --generate (or make_workload.py)")
            generate(wl, a.make_workload)
    os.environ.pop("GDAL_NUM_THREADS", None)  # single-threaded compression on both sides
    res: dict = {"command": command, "repeat": a.repeat, "source": source_state(), "machine": machine()}
    res["versions"] = gdal_versions()
    res["loadavg_start"] = load_average()
    res["date"] = dt.datetime.now().isoformat(timespec="seconds")
    tmp = tempfile.mkdtemp(prefix="bench-export-", dir=work)
    snap = snapshot_source(Path(tmp))  # the CLI subprocesses run the source this process imported
    t_start = time.perf_counter()
    res["scales"] = []
    try:
        for sc in a.scales:
            side = a.side if sc == 1 else a.large_side
            setup = prepare_scale(work, sc, side, a.tile, folder_too=(sc == 1))
            r = bench_scale(setup, a.repeat, tmp, a.profile)
            res["scales"].append(r)
            for key, p in r.get("profile", {}).items():
                print(f"\n## cProfile, scale {scale_name(sc)}\n\n```\n{profile_text(key, p)}\n```\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(snap, ignore_errors=True)
    res["loadavg_end"] = load_average()
    res["wall_s"] = time.perf_counter() - t_start
    res["creation_options"] = res["scales"][0]["creation_options"]
    text = report(res)
    print(text)
    print(f"whole run {res['wall_s']:.0f} s", file=sys.stderr)
    save_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
