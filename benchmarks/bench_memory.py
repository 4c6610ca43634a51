#!/usr/bin/env python3
"""Benchmark: peak RSS of the ``rastercover rasterize`` command, fresh processes, across workload scales.

A script, not a test. For each ``--scales`` workload of ``make_workload.py`` (``benchmarks/work/s<scale>``), each
configuration runs as a fresh ``rastercover rasterize`` process (the virtualenv's command, as a user runs it)
started by GNU time, whose ``%M`` is the command's own peak RSS (this script's own memory does not mix in):

* every one of the 15 ``ST_ExtractToRaster`` methods alone, on the workload layer that suits it (``layer_of``
  of ``bench_methods.py``: forest polygons, overlapping polygons, streams or plots), and all 15 in one pass on
  the forest polygons (``ALL15``), onto ``elevation.tif``'s grid cut into tiles of 100x100 px;
* to each output kind: one GeoTIFF (``tif``), a tile folder (``tiles``), a Zarr store (``zarr``);
* ``gdal_rasterize`` of the forest polygons at each scale (the peer: ``-te``/``-tr`` of ``elevation.tif``,
  Float32, tiled, deflate, predictor 3), with GDAL's default block cache, as ours;
* with ``--floor``, the command on a grid of one tile (the reference's top-left corner, no feature there): what
  the process costs before any block is computed (imports, opening the source and the grid).

Reported per row (configuration x output): the peak RSS at each scale, the ratio largest scale / scale 1
(target: at most 1.2 at scale 16) and ours / gdal_rasterize at scale 1 (target: at most 1.5). An in-memory
result grows with the grid by nature and is not measured. ``--repeat N`` runs each configuration ``N`` times
(the median is reported; RSS barely moves between runs). ``--baseline DIR`` runs the same commands from another
copy of the package (``DIR/src`` of a ``git worktree add /tmp/before <commit>``) as a second arm, through the
same launcher (``PYTHONPATH``), for before/after figures in one run. Our arm runs a copy of ``src/rastercover`` (or
of ``--src DIR``) taken at the start, so edits made meanwhile do not mix in.

Run from the repository root, in the project's virtualenv::

    python benchmarks/bench_memory.py --scales 1 --methods AREA_WEIGHTED_MEAN_OF_VALUES   # a quick look
    python benchmarks/bench_memory.py --json /tmp/memory.json                            # the whole matrix
    python benchmarks/bench_memory.py --scales 1 16 --methods ALL15 --outputs tif --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (  # this folder is on sys.path when run as a script; stdlib-only helpers
    baseline_src,
    git_commit,
    load_average,
    machine,
    package_hash,
    save_json,
)
from _paths import DEFAULT_WORK, HERE, ROOT, gdal_tool, without_machine_paths

TILE = 100
NODATA = -9999
ALL15 = "ALL15"
OUTPUTS = {"tif": "out.tif", "tiles": "tiles", "zarr": "out.zarr"}
TARGET_GROWTH = 1.2  # ours at scale 16 / ours at scale 1
TARGET_PEER = 1.5  # ours / gdal_rasterize at scale 1
VALUE_OF = {"forestcover": "height", "overlapping": "height", "streams": "strahler", "plots": "height"}
SCRUB_ENV = ("GDAL_CACHEMAX", "GDAL_NUM_THREADS", "PYTHONPROFILEIMPORTTIME", "PYTHONHOME", "MALLOC_ARENA_MAX")

#: Asked of a child process once (rastercover and bench_methods import numpy, rasterio: not in this process).
METHODS_CODE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from bench_methods import layer_of
from rastercover.engine.postgis import POSTGIS_METHODS
print(json.dumps({m: layer_of(m) for m in POSTGIS_METHODS}))
"""
VERSIONS_CODE = """
import json, os, platform, rasterio, rastercover
print(json.dumps({"python": platform.python_version(), "rasterio": rasterio.__version__,
                  "gdal": rasterio.__gdal_version__, "rastercover": rastercover.__version__,
                  "package": os.path.dirname(rastercover.__file__)}))
"""


# ------------------------------------------------------------------------------------------- processes
def gnu_time() -> str:
    """GNU time on ``PATH`` (``time -f %M -o FILE``); exit when there is none."""
    exe = shutil.which("time")
    if exe:
        probe = subprocess.run([exe, "-f", "%M", "true"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stderr.strip().isdigit():
            return exe
    sys.exit("GNU time is needed on PATH (time -f %M): install it (Debian: apt-get install time)")


def spawn(time_exe: str, argv: list[str], env: dict[str, str], err: str) -> dict:
    """Run ``argv`` under GNU time: peak RSS (KiB, the command's own ``%M``), wall and CPU seconds, exit status."""
    rss_file = err + ".rss"
    with open(err, "wb") as ferr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [time_exe, "-f", "%M %U %S", "-o", rss_file, *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=ferr,
        )
        proc.wait()
        seconds = time.perf_counter() - t0
    fields = Path(rss_file).read_text().split()[-3:]
    ok = len(fields) == 3 and fields[0].isdigit()
    return {
        "maxrss_kib": int(fields[0]) if ok else 0,
        "cpu": float(fields[1]) + float(fields[2]) if ok else 0.0,
        "seconds": seconds,
        "rc": proc.returncode,
    }


def remove(path: str) -> None:
    if os.path.lexists(path):
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def tail(path: str, n: int = 1500) -> str:
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except OSError:
        return ""


def child_env(pythonpath: str | None = None) -> dict[str, str]:
    """This environment without what would change a child's memory; ``pythonpath`` put first."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUB_ENV}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    return env


def child_json(code: str, env: dict[str, str], *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"a helper process failed:\n{proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def launcher() -> str:
    """The virtualenv's ``rastercover`` script, beside this Python."""
    exe = shutil.which("rastercover", path=str(Path(sys.executable).parent)) or shutil.which("rastercover")
    if exe is None:
        sys.exit("no `rastercover` command next to this Python: run from the project's virtualenv")
    return exe


def snapshot(tmp: Path, src: Path) -> tuple[str, str]:
    """Copy ``src/rastercover`` into ``tmp``: ``(folder for PYTHONPATH, source hash)``."""
    dest = tmp / "src-snapshot"
    shutil.copytree(src / "rastercover", dest / "rastercover", ignore=shutil.ignore_patterns("__pycache__"))
    return str(dest), package_hash(dest / "rastercover")


# ------------------------------------------------------------------------------------------- commands
def load_stats(folder: Path) -> dict:
    with open(folder / "workload_stats.json") as f:
        return json.load(f)


def grid_of(stats: dict) -> tuple[list[float], float]:
    """``elevation.tif``'s bounds (xmin, ymin, xmax, ymax) and pixel size, from the workload's stats."""
    w, h = stats["grid_px"]
    px = float(stats["pixel_size"])
    x0, y1 = float(stats["ulx"]), float(stats["uly"])
    return [x0, y1 - h * px, x0 + w * px, y1], px


def ours_argv(exe: str, folder: Path, layer: str, methods: list[str], out: str, extra: list[str]) -> list[str]:
    argv = [exe, "rasterize", str(folder / "forestcover.gpkg"), "--layer", layer, "--value", VALUE_OF[layer]]
    argv += ["--like", str(folder / "elevation.tif"), "--tile-size", f"{TILE}x{TILE}"]
    for m in methods:
        argv += ["-m", m]
    return [*argv, "-o", out, *extra]


def floor_argv(exe: str, folder: Path, stats: dict, out: str) -> list[str]:
    """The command on one tile at the grid's top-left corner (no feature there): the process's fixed cost."""
    (x0, _y0, _x1, y1), px = grid_of(stats)
    side = TILE * px
    argv = [exe, "rasterize", str(folder / "forestcover.gpkg"), "--layer", "forestcover", "--value", "height"]
    argv += ["--bounds", *(f"{v:.10g}" for v in (x0, y1 - side, x0 + side, y1)), "--resolution", f"{px:g}"]
    return [*argv, "--crs", stats["crs"], "-m", "AREA_WEIGHTED_MEAN_OF_VALUES", "-o", out]


def gdal_argv(exe: str, folder: Path, stats: dict, out: str) -> list[str]:
    bounds, px = grid_of(stats)
    argv = [exe, "-q", "-l", "forestcover", "-a", "height", "-te", *(f"{b:.10g}" for b in bounds)]
    argv += ["-tr", f"{px:g}", f"{px:g}", "-ot", "Float32", "-a_nodata", str(NODATA), "-init", str(NODATA)]
    argv += ["-co", "TILED=YES", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=3"]
    return [*argv, str(folder / "forestcover.gpkg"), out]


# ------------------------------------------------------------------------------------------- the matrix
def run_all(a: argparse.Namespace, work: Path, tmp: Path, command: str) -> dict:
    time_exe = gnu_time()
    gdal = gdal_tool("gdal_rasterize")
    src = baseline_src(a.src) if a.src else ROOT / "src"
    snap, snap_hash = snapshot(tmp, src)
    arms = {"ours": child_env(snap)}
    res: dict = {
        "command": command,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "loadavg_start": load_average(),
        "source": {"commit": git_commit(src), "hash": snap_hash, "dir": str(a.src) if a.src else None},
        "baseline": None,
        "extra": a.extra,
        "repeat": a.repeat,
        "runs": {},
        "notes": [],
    }
    versions = child_json(VERSIONS_CODE, arms["ours"])
    if versions.pop("package") != os.path.join(snap, "rastercover"):
        sys.exit("our arm would not import the snapshot of src/rastercover")
    res["versions"] = versions
    if gdal:
        res["versions"]["gdal_rasterize"] = subprocess.run([gdal, "--version"], capture_output=True, text=True).stdout
    if a.baseline:
        bsrc = baseline_src(a.baseline)
        arms["base"] = child_env(str(bsrc))
        res["baseline"] = {
            "dir": str(a.baseline),
            "commit": git_commit(bsrc),
            "hash": package_hash(bsrc / "rastercover"),
        }
    layers = child_json(METHODS_CODE, arms["ours"], str(HERE))
    configs: list[tuple[str, str, list[str]]] = [(m, layers[m], [m]) for m in layers]
    configs.append((ALL15, "forestcover", list(layers)))
    wanted = set(a.methods) if a.methods else None
    configs = [c for c in configs if wanted is None or c[0] in wanted]
    exe = launcher()
    out_root = tmp / "outputs"
    out_root.mkdir()

    def measure(key: str, argv: list[str], env: dict[str, str], out: str, folder: Path) -> None:
        recs = []
        for _ in range(a.repeat):
            remove(out)
            err = str(tmp / "child.stderr")
            rec = spawn(time_exe, argv, env, err)
            remove(out)
            if rec["rc"]:
                sys.exit(f"{shlex.join(argv)} exited with {rec['rc']}:\n{tail(err)}")
            recs.append(rec)
        res["runs"][key] = {
            "maxrss_kib": statistics.median(r["maxrss_kib"] for r in recs),
            "seconds": statistics.median(r["seconds"] for r in recs),
            "cpu": statistics.median(r["cpu"] for r in recs),
            "argv": without_machine_paths(shlex.join(argv).replace(str(out_root), "$T").replace(str(folder), "$W")),
        }
        r = res["runs"][key]
        print(f"  {key:60s} {r['maxrss_kib'] / 1024:7.0f} MiB {r['seconds']:7.1f} s", file=sys.stderr, flush=True)

    for sc in a.scales:
        folder = work / f"s{sc:g}"
        if not (folder / "workload_stats.json").exists():
            sys.exit(f"no finished workload at {folder} (no workload_stats.json): make it, or pick --scales")
        stats = load_stats(folder)
        print(f"scale {sc:g}:", file=sys.stderr, flush=True)
        if gdal and not a.no_gdal:
            out = str(out_root / "gdal.tif")
            measure(f"s{sc:g}|gdal_rasterize|tif|gdal", gdal_argv(gdal, folder, stats, out), child_env(), out, folder)
        for arm, env in arms.items():
            if a.floor:
                out = str(out_root / "floor.tif")
                measure(f"s{sc:g}|floor|tif|{arm}", floor_argv(exe, folder, stats, out), env, out, folder)
            for name, layer, methods in configs:
                for kind in a.outputs:
                    out = str(out_root / OUTPUTS[kind])
                    argv = ours_argv(exe, folder, layer, methods, out, a.extra)
                    measure(f"s{sc:g}|{name}|{kind}|{arm}", argv, env, out, folder)
    res["loadavg_end"] = load_average()
    res["scales"] = [f"{s:g}" for s in a.scales]
    res["layers"] = {name: layer for name, layer, _m in configs}
    return res


# ------------------------------------------------------------------------------------------- report
def mib(kib: float | None) -> str:
    return "—" if not kib else f"{kib / 1024:.0f}"


def rows_of(res: dict) -> list[tuple[str, str, str]]:
    """``(configuration, output, arm)`` in the order measured, without the scale."""
    seen: dict[tuple[str, str, str], None] = {}
    for key in res["runs"]:
        _s, name, kind, arm = key.split("|")
        seen[(name, kind, arm)] = None
    return list(seen)


def peak(res: dict, scale: str, name: str, kind: str, arm: str) -> float | None:
    run = res["runs"].get(f"s{scale}|{name}|{kind}|{arm}")
    return run["maxrss_kib"] if run else None


def table(res: dict) -> tuple[list[str], dict[str, list[tuple[float, str]]]]:
    """The markdown table, and per target the rows that miss it: ``(ratio, row)``."""
    scales = res["scales"]
    last = scales[-1]
    growth = scales[0] == "1" and len(scales) > 1
    head = "| configuration | layer | output | arm | " + " | ".join(f"scale {s} (MiB)" for s in scales) + " |"
    sep = "|---|---|---|---|" + "---:|" * len(scales)
    if growth:
        head += f" scale {last} / scale 1 |"
        sep += "---:|"
    gdal1 = peak(res, "1", "gdal_rasterize", "tif", "gdal")
    if gdal1:
        head += " ours / gdal_rasterize, scale 1 |"
        sep += "---:|"
    lines, missed = [head, sep], {"growth": [], "peer": []}

    def cell(q: float | None, bad: bool) -> str:
        return " — |" if q is None else f" {'**' if bad else ''}{q:.2f}{'**' if bad else ''} |"

    for name, kind, arm in rows_of(res):
        peaks = [peak(res, s, name, kind, arm) for s in scales]
        ours = arm != "gdal" and name != "floor"
        row = f"| {name} | {res['layers'].get(name, 'forestcover')} | {kind} | {arm} | "
        row += " | ".join(mib(p) for p in peaks) + " |"
        label = f"{name} → {kind}" + (f" ({arm})" if arm != "ours" else "")
        if growth:
            q = peaks[-1] / peaks[0] if peaks[0] and peaks[-1] else None
            bad = q is not None and ours and last == "16" and q > TARGET_GROWTH
            row += cell(q, bad)
            if bad:
                missed["growth"].append((q, label))
        if gdal1:
            p1 = peak(res, "1", name, kind, arm)
            q = p1 / gdal1 if p1 else None
            bad = q is not None and ours and q > TARGET_PEER
            row += cell(q, bad)
            if bad:
                missed["peer"].append((q, label))
        lines.append(row)
    return lines, missed


def summary(res: dict, missed: dict[str, list[tuple[float, str]]]) -> list[str]:
    """One line per target: met by every row, or how many miss it and the worst of them."""
    n = sum(1 for k in res["runs"] if k.split("|")[1] not in ("floor", "gdal_rasterize") and k.endswith("|ours"))
    rows = len({k.split("|", 1)[1] for k in res["runs"] if k.split("|")[1] not in ("floor", "gdal_rasterize")})
    out = [f"Targets, over {rows} rows ({n} runs of ours):", ""]
    for key, what, limit in (
        ("growth", "peak RSS at scale 16 within", TARGET_GROWTH),
        ("peer", "peak RSS at scale 1 within", TARGET_PEER),
    ):
        peer = " of gdal_rasterize's" if key == "peer" else " of scale 1"
        worst = sorted(missed[key], reverse=True)
        text = f"- {what} {limit:g}×{peer}: "
        if key == "growth" and "16" not in res["scales"]:
            text += "not measured (no scale 16)."
        elif key == "peer" and peak(res, "1", "gdal_rasterize", "tif", "gdal") is None:
            text += "not measured (no gdal_rasterize at scale 1)."
        elif not worst:
            text += "**met** by every row."
        else:
            text += f"**{len(worst)} rows miss it**; the worst: " + "; ".join(f"{lab} {q:.2f}" for q, lab in worst[:6])
            text += "."
        out.append(text)
    return out


def report(res: dict) -> str:
    v = res["versions"]
    src = res["source"]
    lines, missed = table(res)
    text = [
        "## Peak memory of the command across scales (fresh processes)",
        "",
        "Produced by `benchmarks/bench_memory.py` (its docstring tells how to run it). Each figure is the peak RSS "
        "(GNU time's `%M`, the command's own) of a fresh `rastercover rasterize` process, median of "
        f"{res['repeat']} run(s): each of the 15 `ST_ExtractToRaster` methods alone on the layer that suits it, "
        f"and all 15 in one pass on the forest polygons (`{ALL15}`), onto `elevation.tif`'s grid in tiles of "
        f"{TILE}×{TILE} px, to one GeoTIFF (`tif`), a tile folder (`tiles`) and a Zarr store (`zarr`); "
        "`gdal_rasterize` of the forest polygons (Float32, tiled, deflate, predictor 3, GDAL's default cache) is "
        "the peer; `floor` is our command on a grid of one empty tile (imports, opening the source and the grid)."
        + (f" Extra options: `{' '.join(res['extra'])}`." if res["extra"] else ""),
        f"Run {res['date']}. Command: `{res['command']}`; rastercover git {src['commit']}, source hash "
        f"{src['hash']} (a copy of {'`' + src['dir'] + '`' if src.get('dir') else 'the repository'} taken at the "
        f"start). Machine: {res['machine']}; load average (1, 5, 15 min) "
        f"{res['loadavg_start']} at the start, {res['loadavg_end']} at the end. Python {v.get('python')}, "
        f"rasterio {v.get('rasterio')} (GDAL {v.get('gdal')}); `gdal_rasterize`: "
        f"{v.get('gdal_rasterize', 'not run').strip()}."
        + (
            f" Baseline (arm `base`): `{res['baseline']['dir']}`, git {res['baseline']['commit']}, source hash "
            f"{res['baseline']['hash']}, through the same launcher with `PYTHONPATH`."
            if res["baseline"]
            else ""
        ),
        "",
        *lines,
        "",
        *summary(res, missed),
        "",
    ]
    some = next((r for k, r in res["runs"].items() if "|ALL15|" in k or "|AREA_WEIGHTED" in k), None)
    gd = next((r for k, r in res["runs"].items() if k.endswith("|gdal")), None)
    if some or gd:
        text += ["As run (`$W` = the workload folder, `$T` = the output folder):", ""]
        text += [f"- `{r['argv']}`" for r in (some, gd) if r]
        text.append("")
    return "\n".join(text)


# ------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 4.0, 16.0], help="workload scales (1 4 16)")
    ap.add_argument("--methods", nargs="+", metavar="NAME",
                    help=f"only these of the 15 methods (and/or {ALL15}); default: all 15 and {ALL15}")  # fmt: skip
    ap.add_argument("--outputs", nargs="+", choices=list(OUTPUTS), default=list(OUTPUTS), help="output kinds")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration, median reported (default 1)")
    ap.add_argument("--floor", action="store_true", help="also run the command on a grid of one empty tile")
    ap.add_argument("--no-gdal", action="store_true", help="leave gdal_rasterize out")
    ap.add_argument("--baseline", type=Path, metavar="DIR", help="another source tree run as a second arm")
    ap.add_argument("--src", type=Path, metavar="DIR",
                    help="our arm runs this source tree (DIR/src or DIR/rastercover), not the repository")  # fmt: skip
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                    help="options added to every rastercover command (last), e.g. --block-pixels N")  # fmt: skip
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"workload folders (default {DEFAULT_WORK})")
    ap.add_argument("--tmp", type=Path, help="where outputs are written and deleted (default: --work)")
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    work = a.work.resolve()
    command = shlex.join(["python", "benchmarks/bench_memory.py", *(sys.argv[1:] if argv is None else argv)])
    tmp_root = (a.tmp or work).resolve()
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-", dir=tmp_root))
    try:
        res = run_all(a, work, tmp, command)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = report(res)
    print(text)
    save_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
