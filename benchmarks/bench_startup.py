#!/usr/bin/env python3
"""Benchmark: the ``rastercover`` command as a user runs it, a fresh process per run, against ``gdal_rasterize``.

A script, not a test. Every run is a fresh process started by this script, and the arms of each comparison
alternate run by run (A, B, A, B, ...; one warm-up round first), so the machine's drift hits both alike;
reported are each arm's median and the median of the per-pair ratios (with their range):

* start-up: ``rastercover --help`` against ``gdal_rasterize --version`` (target: within 2×), with
  ``python -c pass`` (the interpreter alone, the floor of any Python command) as a third arm;
* the whole command, for each ``--scales`` workload of ``make_workload.py`` (``benchmarks/work/s<scale>``):
  ``rastercover rasterize forestcover.gpkg --layer forestcover --value height --like elevation.tif
  --tile-size 100x100 -m LAST_VALUE_AT_PIXEL_CENTROID -o out.tif`` against ``gdal_rasterize -q -l forestcover
  -a height -te <elevation.tif's bounds> -tr <res> <res> -ot Float32 -a_nodata -9999 -init -9999 -co TILED=YES
  -co COMPRESS=DEFLATE -co PREDICTOR=3 forestcover.gpkg out.tif`` (targets: within 1.5× at scale 1, faster at
  scales 4 and 16). The two outputs of the warm-up round are compared pixel for pixel (a subprocess reads them
  with rasterio): grid, CRS, type, nodata and the number of differing pixels are reported;
* the peak RSS of every run: ``ru_maxrss`` of the child from ``os.wait4`` (targets: ours at scale 16 within
  1.2× of ours at scale 1, and ours within 1.5× of gdal_rasterize at scale 1). This process imports only the
  standard library, so its own peak (reported) stays below every child's: Linux reports for a child the larger of
  the child's own peak and the parent's at the ``fork``;
* where the time of our command goes: ``-X importtime`` (``PYTHONPROFILEIMPORTTIME``) of ``--help`` and of the
  first scale's command, ``--importtime N`` runs, medians: the import total and its share of the run, the
  top-level imports by cumulative time and the packages by their own import time; ``--profile N`` also
  prints the top ``N`` cProfile entries of the command (imports included);
* ``--baseline DIR``: the same commands run from another copy of the package (``DIR/src`` of a
  ``git worktree add /tmp/before <commit>``, or a folder holding ``rastercover/``) as one more arm of every
  comparison, through the same ``rastercover`` launcher of the virtualenv (``PYTHONPATH``), so "nothing got
  slower than that commit" is shown in the same run (ours / baseline ≤ 1 + ``--slower-tolerance``).

Our arm runs a copy of ``src/rastercover`` taken at the start (``PYTHONPATH``): edits made while the script
runs do not mix into its figures. Prints a markdown report; ``--json FILE`` writes the results
(``python -m benchmarks`` renders them). Run from the repository root::

    python benchmarks/bench_startup.py --scales 1 --repeat 3            # quick look, report on stdout
    python benchmarks/bench_startup.py --scales 1 4 16 --json /tmp/startup.json
    git worktree add /tmp/before HEAD
    python benchmarks/bench_startup.py --baseline /tmp/before --scales 1 4 16
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _common import (  # this folder is on sys.path when run as a script; stdlib-only helpers
    alternate,
    baseline_src,
    git_commit,
    load_average,
    machine,
    package_hash,
    ratio_stats,
    save_json,
)
from _paths import DEFAULT_MAKE_WORKLOAD, DEFAULT_WORK, ROOT, gdal_tool, without_machine_paths

LAYER, VALUE, METHOD = "forestcover", "height", "LAST_VALUE_AT_PIXEL_CENTROID"
NODATA = -9999
TILE = 100
TARGET_HELP = 2.0  # rastercover --help / gdal_rasterize --version
TARGET_S1 = 1.5  # the whole command / gdal_rasterize at scale 1; < 1 at larger scales
TARGET_RSS_GROWTH = 1.2  # ours at scale 16 / ours at scale 1
TARGET_RSS_PEER = 1.5  # ours / gdal_rasterize at scale 1
ARM_LABELS = {
    "ours": "rastercover",
    "gdal": "gdal_rasterize",
    "base": "baseline",
    "python": "python -c pass",
}
IMPORT_RE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)\s*$")
SCRUB_ENV = ("GDAL_NUM_THREADS", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME", "PYTHONHOME")


# ------------------------------------------------------------------------------------------- processes
@dataclass
class Cmd:
    """One arm: the command line, its environment, and the file it writes (deleted before each run)."""

    argv: list[str]
    env: dict[str, str]
    out: str | None = None
    runs: list[dict] = field(default_factory=list)


def child_env(pythonpath: str | None = None) -> dict[str, str]:
    """This process's environment without what would change a child's work; ``pythonpath`` put first."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUB_ENV}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    return env


def spawn(argv: list[str], env: dict[str, str], err: str) -> dict:
    """Run ``argv`` to its end (stdout discarded, stderr to the file ``err``): wall seconds, CPU seconds (user +
    system, ``os.wait4``), peak RSS (KiB) and the exit status.

    Linux gives a process the RSS of the address space it replaces at ``exec`` as a floor of its ``ru_maxrss``:
    a child started straight from this script (``vfork``) reports at least this script's RSS (~20 MiB, more
    than ``python -c pass``). With GNU time (:data:`TIME`, the default) the command is started by ``time`` (a
    fork of a ~2 MiB process) and its peak is ``time``'s ``%M``: the command's own. It adds ~1 ms to every run of
    every arm. Without it (``--rss-from wait4``), ``ru_maxrss`` of the child, after this process reset its own
    peak to its current RSS (``/proc/self/clear_refs``), which is recorded (:data:`PARENT_RSS_KIB`).
    """
    reset_own_peak()
    rss_file = err + ".rss"
    cmd = [TIME[0], "-f", "%M", "-o", rss_file, *argv] if TIME[0] else argv
    with open(err, "wb") as ferr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=ferr)
        _pid, status, ru = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    maxrss = ru.ru_maxrss
    if TIME[0]:
        lines = Path(rss_file).read_text().split()
        maxrss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    return {"seconds": seconds, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kib": maxrss, "rc": proc.returncode}


TIME: list[str | None] = [None]  # GNU time's path when the peak RSS is taken from its %M (set by main())


def gnu_time() -> str | None:
    """``time`` on ``PATH`` when it is GNU time (``-f``, ``-o``), else None."""
    exe = shutil.which("time")
    if not exe:
        return None
    probe = subprocess.run([exe, "-f", "%M", "true"], capture_output=True, text=True)
    return exe if probe.returncode == 0 and probe.stderr.strip().isdigit() else None


PARENT_RSS_KIB = [0]  # the largest RSS this process had when it started a child (KiB)
PEAK_RESET = [True]  # whether /proc/self/clear_refs could reset this process's peak RSS


def reset_own_peak() -> None:
    """Reset this process's peak RSS to its current RSS (``5`` to ``/proc/self/clear_refs``) and record it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        PEAK_RESET[0] = False
    PARENT_RSS_KIB[0] = max(PARENT_RSS_KIB[0], own_status_kib("VmHWM"))


def remove(path: str | None) -> None:
    """Delete an output and flush the file system, so that no write-back of one run lands in the next."""
    if path and os.path.lexists(path):
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        os.sync()


def tail(path: str, n: int = 1500) -> str:
    """The last ``n`` characters of a file (a failed run's stderr), or nothing."""
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except OSError:
        return ""


def own_status_kib(key: str) -> int:
    """A ``/proc/self/status`` figure of this process (``VmHWM``, ``VmRSS``: KiB); 0 where ``/proc`` is missing."""
    try:
        with open("/proc/self/status") as f:
            return next((int(ln.split()[1]) for ln in f if ln.startswith(key + ":")), 0)
    except OSError:
        return 0


# ------------------------------------------------------------------------------------------- comparisons
def run_comparison(
    name: str,
    cmds: dict[str, Cmd],
    repeat: int,
    tmp: str,
    check: Callable[[dict[str, Cmd]], dict] | None = None,
    optional: tuple[str, ...] = ("base",),
) -> dict:
    """One warm-up round (then ``check()``, the warm-up's outputs still there), then ``repeat`` rounds, the arms
    alternated run by run; an arm in ``optional`` that fails its warm-up is dropped with a note."""

    def arm(key: str):
        def fn() -> float:
            c = cmds[key]
            remove(c.out)
            err = os.path.join(tmp, f"{key}.stderr")
            rec = spawn(c.argv, c.env, err)
            if rec["rc"] != 0:
                raise ArmFailed(key, f"{shlex.join(c.argv)} exited with {rec['rc']}:\n{tail(err)}")
            c.runs.append(rec)
            return rec["seconds"]

        return fn

    notes: list[str] = []
    print(f"{name}:", file=sys.stderr, flush=True)
    for key in list(cmds):  # the warm-up round, arm by arm, so that a failing optional arm can be dropped
        try:
            arm(key)()
        except ArmFailed as exc:
            if key not in optional:
                raise SystemExit(str(exc)) from None
            notes.append(f"{ARM_LABELS[key]} failed and was left out: {exc.detail.splitlines()[-1][:200]}")
            print(f"  {notes[-1]}", file=sys.stderr, flush=True)
            del cmds[key]
    checks = check(cmds) if check else {}
    for c in cmds.values():
        c.runs.clear()
    try:
        alternate({k: arm(k) for k in cmds}, repeat, warmup=0, label=f"{name}: ")
    except ArmFailed as exc:
        raise SystemExit(str(exc)) from None
    for c in cmds.values():
        remove(c.out)
    return {
        "name": name,
        "argv": {k: shlex.join(c.argv) for k, c in cmds.items()},
        "runs": {k: c.runs for k, c in cmds.items()},
        "checks": checks,
        "notes": notes,
    }


class ArmFailed(Exception):
    """A run of an arm exited with a non-zero status."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(detail)
        self.key, self.detail = key, detail


def series(cmp: dict, arm: str, what: str = "seconds") -> list[float]:
    """One figure (``seconds``, ``cpu``, ``maxrss_kib``) of every timed run of an arm, in run order."""
    return [r[what] for r in cmp["runs"].get(arm, [])]


def med(cmp: dict, arm: str, what: str = "seconds") -> float | None:
    """The median of :func:`series`, None for an arm that did not run."""
    xs = series(cmp, arm, what)
    return statistics.median(xs) if xs else None


def ratios(cmp: dict, a: str, b: str, what: str = "seconds") -> dict:
    """Arm ``a`` / arm ``b``: the ratio of the medians and the median of the pair ratios (``ratio_stats``)."""
    return ratio_stats(series(cmp, a, what), series(cmp, b, what))


# ------------------------------------------------------------------------------------------- workloads
def workload_dir(work: Path, scale: float) -> Path:
    """``work/s<scale>``, the folder ``make_workload.py --scale`` fills."""
    return work / f"s{scale:g}"


def load_stats(folder: Path) -> dict:
    """The workload's ``workload_stats.json`` (written last by ``make_workload.py``: its presence = done)."""
    with open(folder / "workload_stats.json") as f:
        return json.load(f)


def generate(folder: Path, scale: float, make_workload: Path) -> None:
    """Build a missing workload with the shared folder's ``make_workload.py`` (``--generate``)."""
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(make_workload), "--out", str(folder), "--scale", f"{scale:g}"]
    print(f"generating scale {scale:g}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    with open(folder / "generate.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)


def grid_of(stats: dict) -> tuple[list[float], float, int, int]:
    """``elevation.tif``'s bounds (xmin, ymin, xmax, ymax), pixel size, width, height (from the stats file)."""
    w, h = stats["grid_px"]
    px = float(stats["pixel_size"])
    x0, y1 = float(stats["ulx"]), float(stats["uly"])
    return [x0, y1 - h * px, x0 + w * px, y1], px, w, h


def rasterize_argv(launcher: list[str], folder: Path, out: str) -> list[str]:
    """Our whole command on a workload, as a user types it."""
    return [
        *launcher,
        "rasterize",
        str(folder / "forestcover.gpkg"),
        "--layer",
        LAYER,
        "--value",
        VALUE,
        "--like",
        str(folder / "elevation.tif"),
        "--tile-size",
        f"{TILE}x{TILE}",
        "-m",
        METHOD,
        "-o",
        out,
    ]


def gdal_rasterize_argv(exe: str, folder: Path, stats: dict, out: str) -> list[str]:
    """``gdal_rasterize`` writing the same GeoTIFF: ``elevation.tif``'s grid, float32, nodata -9999, tiled,
    deflate, predictor 3."""
    bounds, px, _w, _h = grid_of(stats)
    return [
        exe,
        "-q",
        "-l",
        LAYER,
        "-a",
        VALUE,
        "-te",
        *(f"{b:.10g}" for b in bounds),
        "-tr",
        f"{px:g}",
        f"{px:g}",
        "-ot",
        "Float32",
        "-a_nodata",
        str(NODATA),
        "-init",
        str(NODATA),
        "-co",
        "TILED=YES",
        "-co",
        "COMPRESS=DEFLATE",
        "-co",
        "PREDICTOR=3",
        str(folder / "forestcover.gpkg"),
        out,
    ]


# ------------------------------------------------------------------------------------------- checks (subprocess)
def compare_files(a: str, b: str) -> dict:
    """Hidden ``--compare A B`` mode, in its own process (rasterio and numpy are imported here only): grid, CRS,
    type, nodata, file structure and the pixels that differ, read block row by block row."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(a) as da, rasterio.open(b) as db:
        out: dict = {
            "same_grid": da.shape == db.shape and da.transform.almost_equals(db.transform),
            "same_crs": da.crs == db.crs,
            "dtype": [da.dtypes[0], db.dtypes[0]],
            "nodata": [da.nodata, db.nodata],
            "blocks": [list(da.block_shapes[0]), list(db.block_shapes[0])],
            "compress": [getattr(da.compression, "value", None), getattr(db.compression, "value", None)],
            "size_kib": [os.path.getsize(a) / 1024, os.path.getsize(b) / 1024],
            "pixels": int(da.width * da.height),
        }
        if not out["same_grid"]:
            out.update(shape=[list(da.shape), list(db.shape)], transform=[list(da.transform), list(db.transform)])
            return out
        differ = burnt_a = burnt_b = 0
        step = 1024
        for r0 in range(0, da.height, step):
            win = Window(0, r0, da.width, min(step, da.height - r0))
            x, y = da.read(1, window=win), db.read(1, window=win)
            same = (x == y) | (np.isnan(x) & np.isnan(y))
            differ += int((~same).sum())
            burnt_a += int((x != (da.nodata if da.nodata is not None else np.nan)).sum())
            burnt_b += int((y != (db.nodata if db.nodata is not None else np.nan)).sum())
        out.update(differ=differ, burnt=[burnt_a, burnt_b])
    return out


def check_outputs(cmds: dict[str, Cmd]) -> dict:
    """Compare the warm-up outputs: ours with gdal_rasterize's, and with the baseline's."""
    out = {}
    for other in ("gdal", "base"):
        if other in cmds and cmds["ours"].out and cmds[other].out:
            proc = subprocess.run(
                [sys.executable, __file__, "--compare", cmds["ours"].out, cmds[other].out],
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                out[other] = {"error": proc.stderr.strip()[-500:]}
            else:
                out[other] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  check ours vs {ARM_LABELS[other]}: {describe_check(out[other])}", file=sys.stderr, flush=True)
    return out


def describe_check(c: dict) -> str:
    """One line for the report: the pixels that differ, and what else differs between the two files."""
    if "error" in c:
        return f"**check failed**: {c['error']}"
    if not c["same_grid"]:
        return f"**different grids**: shapes {c['shape']}, transforms {c['transform']}"
    text = f"**{c['differ']}** differing pixels of {c['pixels']} (burnt: ours {c['burnt'][0]}, other {c['burnt'][1]})"
    extra = []
    if not c["same_crs"]:
        extra.append("**CRS differs**")
    if c["dtype"][0] != c["dtype"][1]:
        extra.append(f"types {c['dtype'][0]} vs {c['dtype'][1]}")
    if c["nodata"][0] != c["nodata"][1]:
        extra.append(f"nodata {c['nodata'][0]} vs {c['nodata'][1]}")
    extra.append(
        f"files {c['size_kib'][0]:.0f} KiB vs {c['size_kib'][1]:.0f} KiB, blocks {c['blocks'][0][1]}×"
        f"{c['blocks'][0][0]} vs {c['blocks'][1][1]}×{c['blocks'][1][0]}, {c['compress'][0]} vs {c['compress'][1]}"
    )
    return text + "; " + ", ".join(extra)


# ------------------------------------------------------------------------------------------- where the time goes
def parse_importtime(text: str) -> dict[str, tuple[int, int, int]]:
    """``-X importtime`` lines → ``{module: (self µs, cumulative µs, depth)}``."""
    out = {}
    for line in text.splitlines():
        m = IMPORT_RE.match(line)
        if m:
            out[m[4]] = (int(m[1]), int(m[2]), len(m[3]) // 2)
    return out


def importtime(cmd: Cmd, runs: int, tmp: str, top: int) -> dict:
    """``runs`` runs of ``cmd`` with ``PYTHONPROFILEIMPORTTIME=1``: medians of the import total, of the run's wall
    time, of each top-level import's cumulative time and of each package's own import time."""
    env = dict(cmd.env, PYTHONPROFILEIMPORTTIME="1")
    totals, walls = [], []
    top_level: dict[str, list[int]] = defaultdict(list)
    packages: dict[str, list[int]] = defaultdict(list)
    for _ in range(runs):
        remove(cmd.out)
        err = os.path.join(tmp, "importtime.stderr")
        rec = spawn(cmd.argv, env, err)
        if rec["rc"]:
            raise SystemExit(f"{shlex.join(cmd.argv)} under -X importtime exited with {rec['rc']}:\n{tail(err)}")
        mods = parse_importtime(Path(err).read_text(errors="replace"))
        walls.append(rec["seconds"])
        totals.append(sum(cum for _s, cum, depth in mods.values() if depth == 0))
        per_pkg: dict[str, int] = defaultdict(int)
        for name, (own, cum, depth) in mods.items():
            per_pkg[name.split(".")[0]] += own
            if depth == 0:
                top_level[name].append(cum)
        for k, v in per_pkg.items():
            packages[k].append(v)
    remove(cmd.out)

    def best(d: dict[str, list[int]]) -> list[list]:
        meds = {k: statistics.median(v + [0] * (runs - len(v))) / 1e6 for k, v in d.items()}
        return [[k, v] for k, v in sorted(meds.items(), key=lambda kv: -kv[1])[:top]]

    total, wall = statistics.median(totals) / 1e6, statistics.median(walls)
    return {
        "runs": runs,
        "imports_s": total,
        "wall_s": wall,
        "share": total / wall if wall else None,
        "top_level": best(top_level),
        "packages": best(packages),
    }


PROFILE_CODE = """
import cProfile, pstats, sys
top, path, *args = sys.argv[1:]
sys.argv = ["rastercover", *args]
prof = cProfile.Profile()
prof.enable()
try:
    from rastercover.cli.main import main
    main()
except SystemExit:
    pass
finally:
    prof.disable()
with open(path, "w") as f:
    st = pstats.Stats(prof, stream=f)
    st.sort_stats("cumulative").print_stats(int(top))
    st.sort_stats("tottime").print_stats(int(top))
"""


def profile(cmd: Cmd, top: int, tmp: str) -> str:
    """The top ``top`` cProfile entries (cumulative, then own time) of one run of our command, imports included."""
    path = os.path.join(tmp, "profile.txt")
    remove(cmd.out)
    argv = [sys.executable, "-c", PROFILE_CODE, str(top), path, *cmd.argv[1:]]
    rec = spawn(argv, cmd.env, os.path.join(tmp, "profile.stderr"))
    remove(cmd.out)
    if rec["rc"]:
        return f"profile failed ({rec['rc']}): {tail(os.path.join(tmp, 'profile.stderr'))}"
    text = Path(path).read_text()
    for folder in cmd.env.get("PYTHONPATH", "").split(os.pathsep):
        text = text.replace(folder + os.sep, "") if folder else text
    return without_machine_paths(text)


# ------------------------------------------------------------------------------------------- set-up
def launcher() -> list[str]:
    """The virtualenv's ``rastercover`` script (what a user runs), beside this Python."""
    exe = shutil.which("rastercover", path=str(Path(sys.executable).parent)) or shutil.which("rastercover")
    if exe is None:
        sys.exit("no `rastercover` command next to this Python: run from the project's virtualenv")
    return [exe]


def snapshot(tmp: Path) -> tuple[str, str]:
    """Copy ``src/rastercover`` (the package the virtualenv imports) into ``tmp``: ``(folder for PYTHONPATH,
    source hash)``. Our arm runs the copy, so edits made during the run do not mix into the figures."""
    pkg = ROOT / "src" / "rastercover"
    dest = tmp / "src-snapshot"
    shutil.copytree(pkg, dest / "rastercover", ignore=shutil.ignore_patterns("__pycache__"))
    return str(dest), package_hash(dest / "rastercover")


def which_source(env: dict[str, str]) -> str:
    """The ``rastercover`` package a child with ``env`` imports (to check each arm runs the source meant)."""
    code = "import os, rastercover; print(os.path.dirname(rastercover.__file__))"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return proc.stdout.strip() or f"error: {proc.stderr.strip()[-300:]}"


def versions(env: dict[str, str], gdal: str) -> dict:
    """Python, rasterio and its GDAL, rastercover (as our arm imports them), and ``gdal_rasterize --version``."""
    code = (
        "import json, platform, rasterio, rastercover; print(json.dumps({'python': platform.python_version(), "
        "'rasterio': rasterio.__version__, 'gdal_rasterio': rasterio.__gdal_version__, "
        "'rastercover': rastercover.__version__}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {}
    out["gdal_rasterize"] = subprocess.run([gdal, "--version"], capture_output=True, text=True).stdout.strip()
    return out


# ------------------------------------------------------------------------------------------- report
def fmt_s(x: float | None) -> str:
    """Seconds, or ``—``."""
    return "—" if x is None else f"{x:.3f} s"


def fmt_mib(kib: float | None) -> str:
    return "—" if not kib else f"{kib / 1024:.0f} MiB"


def fmt_ratio(st: dict, bold: bool = True) -> str:
    """``**0.83** (0.71–0.95; of medians 0.84)`` from :func:`_common.ratio_stats`."""
    if st.get("median_of_pairs") is None:
        return "—"
    m = f"{st['median_of_pairs']:.2f}"
    return f"{'**' + m + '**' if bold else m} ({st['min']:.2f}–{st['max']:.2f}; of medians {st['of_medians']:.2f})"


def rss_note(res: dict) -> str:
    """How the children's peak RSS was taken, and how far the figures can be trusted (see :func:`spawn`)."""
    if res["rss_from"].startswith("GNU time"):
        return (
            "Every command runs under GNU time (`time -f %M`, which adds ~1 ms to every run of every arm): its peak "
            "RSS is `time`'s `%M`, the command's own (a child started straight from this Python script would "
            "report at least the script's RSS: Linux carries the replaced address space's RSS over `exec`)."
        )
    own = fmt_mib(res["parent_rss_kib"])
    if not res["peak_reset"]:
        return (
            f"Peak RSS: `ru_maxrss` of the child (`os.wait4`); this script could not reset its own peak RSS (no "
            f"`/proc/self/clear_refs`): a child's figure is at least this script's peak ({own} at the end)."
        )
    text = (
        "Peak RSS: `ru_maxrss` of the child (`os.wait4`); this script resets its own peak RSS before each run "
        f"(`/proc/self/clear_refs`) and stays at most {own}, the floor of a child's figure (Linux carries the "
        "replaced address space's RSS over `exec`)"
    )
    if res["rss_floor_hit"]:
        return text + f": **not above it** for {', '.join(res['rss_floor_hit'])}."
    return text + ": every figure reported is above it, the child's own."


def met(ok: bool) -> str:
    """``**met**`` or ``**NOT met**``."""
    return "**met**" if ok else "**NOT met**"


def table(res: dict) -> list[str]:
    """The report's table: one row per comparison, the baseline's columns with ``--baseline``."""
    base = res["baseline"] is not None
    head = "| Comparison | runs | rastercover | gdal_rasterize | rastercover / gdal_rasterize: median of pairs "
    head += "(range; of medians) | peak RSS rastercover | peak RSS gdal_rasterize |"
    sep = "|---|---:|---:|---:|---:|---:|---:|"
    if base:
        head += " baseline | rastercover / baseline: median of pairs (range; of medians) | peak RSS baseline |"
        sep += "---:|---:|---:|"
    lines = [head, sep]
    for cmp in res["comparisons"]:
        n = len(series(cmp, "ours"))
        row = (
            f"| {cmp['title']} | {n} | {fmt_s(med(cmp, 'ours'))} | {fmt_s(med(cmp, 'gdal'))} | "
            f"{fmt_ratio(ratios(cmp, 'ours', 'gdal'))} | {fmt_mib(med(cmp, 'ours', 'maxrss_kib'))} | "
            f"{fmt_mib(med(cmp, 'gdal', 'maxrss_kib'))} |"
        )
        if base:
            row += (
                f" {fmt_s(med(cmp, 'base'))} | {fmt_ratio(ratios(cmp, 'ours', 'base'))} | "
                f"{fmt_mib(med(cmp, 'base', 'maxrss_kib'))} |"
            )
        lines.append(row)
    return lines


def targets(res: dict) -> list[str]:
    """The issue's targets, each met or not, with its numbers (ratios: the median of the pairs)."""
    out = []
    by = {c["key"]: c for c in res["comparisons"]}
    if "help" in by:
        r = ratios(by["help"], "ours", "gdal")["median_of_pairs"]
        out.append(
            f"- `rastercover --help` within {TARGET_HELP:g}× of `gdal_rasterize --version`: "
            f"{met(r <= TARGET_HELP)} — {r:.2f} ({fmt_s(med(by['help'], 'ours'))} vs "
            f"{fmt_s(med(by['help'], 'gdal'))}; `python -c pass` alone {fmt_s(med(by['help'], 'python'))})."
        )
    for cmp in res["comparisons"]:
        if cmp["key"] == "help":
            continue
        s, r = cmp["scale"], ratios(cmp, "ours", "gdal")["median_of_pairs"]
        limit, word = (TARGET_S1, f"within {TARGET_S1:g}×") if s == 1 else (1.0, "faster than")
        ok = r <= limit if s == 1 else r < limit
        out.append(
            f"- The whole command at scale {s:g} {word} gdal_rasterize: {met(ok)} — {r:.2f} "
            f"({fmt_s(med(cmp, 'ours'))} vs {fmt_s(med(cmp, 'gdal'))})."
        )
    s1, s16 = by.get("s1"), by.get("s16")
    if s1 and s16:
        a, b = med(s1, "ours", "maxrss_kib"), med(s16, "ours", "maxrss_kib")
        out.append(
            f"- Peak RSS of our command at scale 16 within {TARGET_RSS_GROWTH:g}× of scale 1: "
            f"{met(b <= TARGET_RSS_GROWTH * a)} — {b / a:.2f}× ({fmt_mib(b)} vs {fmt_mib(a)}; gdal_rasterize "
            f"{fmt_mib(med(s16, 'gdal', 'maxrss_kib'))} vs {fmt_mib(med(s1, 'gdal', 'maxrss_kib'))})."
        )
    else:
        out.append("- Peak RSS scale 16 / scale 1: not measured (run `--scales 1 16`).")
    if s1:
        a, g = med(s1, "ours", "maxrss_kib"), med(s1, "gdal", "maxrss_kib")
        out.append(
            f"- Peak RSS of our command within {TARGET_RSS_PEER:g}× of gdal_rasterize's at scale 1: "
            f"{met(a <= TARGET_RSS_PEER * g)} — {a / g:.2f}× ({fmt_mib(a)} vs {fmt_mib(g)})."
        )
    if res["baseline"] is not None:
        tol = res["slower_tolerance"]
        worse = []
        for cmp in res["comparisons"]:
            r = ratios(cmp, "ours", "base")["median_of_pairs"]
            if r is not None and r > 1 + tol:
                worse.append(f"{cmp['title']} {r:.2f}")
        rows = [
            f"{c['title']} {ratios(c, 'ours', 'base')['median_of_pairs']:.2f}"
            for c in res["comparisons"]
            if ratios(c, "ours", "base")["median_of_pairs"] is not None
        ]
        out.append(
            f"- Nothing slower than the baseline ({res['baseline']['commit']}; ours / baseline ≤ {1 + tol:g}, the "
            f"median of the pairs): {met(not worse)} — " + "; ".join(rows) + "."
        )
    return out


def import_lines(key: str, it: dict) -> list[str]:
    """The import breakdown of one command (:func:`importtime`) for the report."""
    what = "`rastercover --help`" if key == "help" else f"the whole command at scale {key[1:]}"
    tops = ", ".join(f"`{n}` {v * 1000:.0f} ms" for n, v in it["top_level"])
    pkgs = ", ".join(f"`{n}` {v * 1000:.0f} ms" for n, v in it["packages"])
    return [
        f"- {what}: imports {it['imports_s'] * 1000:.0f} ms of {it['wall_s'] * 1000:.0f} ms "
        f"(**{100 * it['share']:.0f} %**; median of {it['runs']} runs under `-X importtime`, which slows imports "
        "a little).",
        f"  - top-level imports, cumulative: {tops}.",
        f"  - own import time by package: {pkgs}.",
    ]


def report(res: dict) -> str:
    """The markdown report printed on stdout."""
    v = res["versions"]
    src = res["source"]
    lines = [
        "## The command as a user runs it: rastercover vs gdal_rasterize (fresh processes)",
        "",
        "Produced by `benchmarks/bench_startup.py` (see `benchmarks/README.md`). Each run is a fresh process; in "
        "each comparison the arms alternate run by run (A, B, A, B, ...) after one warm-up round, so the machine's "
        "drift hits both alike. Times are wall-clock medians; the ratio is the **median of the ratios of the "
        "adjacent pairs** (its range, and the ratio of the medians, in brackets); peak RSS, the median over the "
        "runs. " + rss_note(res) + " Ratios > 1: rastercover is slower.",
        f"Run {res['date']}. Command: `{res['command']}`; rastercover git {src['commit']}, source hash "
        f"{src['hash']} (a copy taken at the start). Machine: {res['machine']}; load average (1, 5, 15 min) "
        f"{res['loadavg_start']} at the start, {res['loadavg_end']} at the end.",
        f"Python {v.get('python', '?')}, rasterio {v.get('rasterio', '?')} (GDAL {v.get('gdal_rasterio', '?')}), "
        f"rastercover {v.get('rastercover', '?')}; `gdal_rasterize`: {v['gdal_rasterize']} (the one on `PATH`)."
        + (
            f" Baseline: `{res['baseline']['dir']}`, git {res['baseline']['commit']}, source hash "
            f"{res['baseline']['hash']}, run through the same `rastercover` launcher with `PYTHONPATH`."
            if res["baseline"]
            else ""
        ),
        "",
        *table(res),
        "",
        "Targets:",
        "",
        *targets(res),
        "",
    ]
    cmds = [c for c in res["comparisons"] if c["key"] != "help"]
    if cmds:
        first = cmds[0]
        lines += [
            "As run (`$S` = the workload folder, `$T` = the output folder; each output deleted before its run):",
            "",
            f"- rastercover: `{first['argv']['ours']}`",
            f"- gdal_rasterize: `{first['argv']['gdal']}`",
            "",
            "Outputs of the warm-up round, compared pixel for pixel (rasterio, in a subprocess):",
            "",
        ]
        for c in cmds:
            for other, chk in c["checks"].items():
                lines.append(f"- scale {c['scale']:g}, rastercover vs {ARM_LABELS[other]}: {describe_check(chk)}.")
        lines.append("")
    cpu = [
        f"{c['title']}: rastercover {med(c, 'ours', 'cpu'):.3f} s, gdal_rasterize {med(c, 'gdal', 'cpu'):.3f} s"
        for c in res["comparisons"]
    ]
    lines += [f"CPU time (user + system, medians): {'; '.join(cpu)}.", ""]
    notes = [n for c in res["comparisons"] for n in c["notes"]]
    if notes:
        lines += [f"- Note: {n}" for n in notes] + [""]
    if res["importtime"]:
        lines += ["Where our command's time goes (imports):", ""]
        for key, it in res["importtime"].items():
            lines += import_lines(key, it)
        lines.append("")
    return "\n".join(lines)


def scrub(cmdline: str, cmp: dict) -> str:
    """A command line with the workload folder written ``$S`` and the output folder ``$T``."""
    for path, name in ((cmp["folder"], "$S"), (cmp["tmp"], "$T")):
        if path:
            cmdline = cmdline.replace(path, name)
    return cmdline


# ------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module's docstring and ``benchmarks/README.md``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=float, nargs="*", default=[1.0, 4.0, 16.0],
                    help="workload scales of the whole command (default 1 4 16; none: start-up only)")  # fmt: skip
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds of the whole command (default 5)")
    ap.add_argument("--repeat-large", type=int, default=None, metavar="N",
                    help="timed rounds at scales >= 16 (default: --repeat)")  # fmt: skip
    ap.add_argument("--repeat-help", type=int, default=10, help="timed rounds of the start-up (default 10)")
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="another source tree (DIR/src/rastercover) or package folder (DIR/rastercover) run as a "
                    "third arm")  # fmt: skip
    ap.add_argument("--slower-tolerance", type=float, default=0.05,
                    help="ours / baseline above 1 + this counts as slower (default 0.05)")  # fmt: skip
    ap.add_argument(
        "--importtime",
        type=int,
        default=3,
        metavar="N",
        help="runs under -X importtime of --help and of the first scale's command (default 3; 0: none)",
    )
    ap.add_argument("--top", type=int, default=8, help="modules listed in the import breakdown (default 8)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="print the top N cProfile entries of the first scale's command")  # fmt: skip
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"workload folders (default {DEFAULT_WORK})")
    ap.add_argument("--tmp", type=Path, help="where outputs are written and deleted (default: --work)")
    ap.add_argument("--generate", action="store_true", help="build missing workloads with make_workload.py")
    ap.add_argument("--make-workload", type=Path, default=DEFAULT_MAKE_WORKLOAD, help="path of make_workload.py")
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    ap.add_argument("--rss-from", choices=["time", "wait4"], default="time",
                    help="peak RSS from GNU time's %%M (default, when GNU time is on PATH) or from os.wait4's "
                    "ru_maxrss (floored at this script's own RSS)")  # fmt: skip
    ap.add_argument("--compare", nargs=2, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Check the tools and workloads, run :func:`bench` in a fresh output folder, print and write the report."""
    a = parse_args(argv)
    if a.compare:
        print(json.dumps(compare_files(*a.compare)))
        return 0
    gdal = gdal_tool("gdal_rasterize")
    if gdal is None:
        sys.exit("gdal_rasterize is not on PATH: install GDAL's command-line tools (Debian: gdal-bin)")
    TIME[0] = gnu_time() if a.rss_from == "time" else None
    if a.rss_from == "time" and TIME[0] is None:
        print("no GNU time on PATH: peak RSS from os.wait4 (floored at this script's RSS)", file=sys.stderr)
    work = a.work.resolve()
    for sc in a.scales:
        folder = workload_dir(work, sc)
        if not (folder / "workload_stats.json").exists():
            if not a.generate:
                sys.exit(f"no finished workload at {folder} (no workload_stats.json): --generate, or pick --scales")
            generate(folder, sc, a.make_workload)
    command = shlex.join(["python", "benchmarks/bench_startup.py", *(sys.argv[1:] if argv is None else argv)])
    tmp_root = (a.tmp or work).resolve()
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=tmp_root))
    try:
        res = bench(a, work, tmp, gdal, command)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = report(res)
    print(text)
    if res.get("profile"):
        print(f"\n## cProfile of the whole command, scale {a.scales[0]:g}\n\n```\n{res['profile'].strip()}\n```")
    save_json(a.json, res)
    return 0


def bench(a: argparse.Namespace, work: Path, tmp: Path, gdal: str, command: str) -> dict:
    """Every comparison, the import breakdowns and the profile: the results as one JSON-able dict."""
    snap, snap_hash = snapshot(tmp)
    ours_env = child_env(snap)
    run_tmp = str(tmp)
    res: dict = {
        "command": command,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "loadavg_start": load_average(),
        "source": {"commit": git_commit(ROOT / "src"), "hash": snap_hash},
        "baseline": None,
        "slower_tolerance": a.slower_tolerance,
        "repeat": a.repeat,
        "comparisons": [],
        "importtime": {},
    }
    if (got := which_source(ours_env)) != os.path.join(snap, "rastercover"):
        sys.exit(f"our arm would import rastercover from {got}, not from the copy {snap}")
    base_env = None
    if a.baseline:
        bsrc = baseline_src(a.baseline)
        base_env = child_env(str(bsrc))
        if (got := which_source(base_env)) != str(bsrc / "rastercover"):
            sys.exit(f"the baseline arm would import rastercover from {got}, not from {bsrc}")
        res["baseline"] = {
            "dir": str(a.baseline),
            "commit": git_commit(bsrc),
            "hash": package_hash(bsrc / "rastercover"),
        }
    res["versions"] = versions(ours_env, gdal)
    rc = launcher()

    # start-up
    cmds = {"ours": Cmd([*rc, "--help"], ours_env), "gdal": Cmd([gdal, "--version"], child_env())}
    if base_env:
        cmds["base"] = Cmd([*rc, "--help"], base_env)
    cmds["python"] = Cmd([sys.executable, "-c", "pass"], child_env())
    cmp = run_comparison("start-up", cmds, a.repeat_help, run_tmp)
    cmp.update(key="help", title="`rastercover --help` vs `gdal_rasterize --version`", folder="", tmp=run_tmp)
    res["comparisons"].append(cmp)
    if a.importtime:
        res["importtime"]["help"] = importtime(Cmd([*rc, "--help"], ours_env), a.importtime, run_tmp, a.top)

    # the whole command
    for i, sc in enumerate(a.scales):
        folder = workload_dir(work, sc)
        stats = load_stats(folder)
        _b, _px, w, h = grid_of(stats)
        out = {k: os.path.join(run_tmp, f"{k}.tif") for k in ("ours", "gdal", "base")}
        cmds = {
            "ours": Cmd(rasterize_argv(rc, folder, out["ours"]), ours_env, out["ours"]),
            "gdal": Cmd(gdal_rasterize_argv(gdal, folder, stats, out["gdal"]), child_env(), out["gdal"]),
        }
        if base_env:
            cmds["base"] = Cmd(rasterize_argv(rc, folder, out["base"]), base_env, out["base"])
        repeat = a.repeat_large if a.repeat_large and sc >= 16 else a.repeat
        cmp = run_comparison(f"scale {sc:g}", cmds, repeat, run_tmp, check=check_outputs)
        n_poly = stats.get("forestcover", {}).get("n_polygons", "?")
        cmp.update(
            key=f"s{sc:g}",
            scale=sc,
            title=f"`rastercover rasterize` vs `gdal_rasterize`, scale {sc:g} ({w}×{h} px, {n_poly} polygons)",
            folder=str(folder),
            tmp=run_tmp,
        )
        res["comparisons"].append(cmp)
        ours = Cmd(rasterize_argv(rc, folder, out["ours"]), ours_env, out["ours"])
        if i == 0 and a.importtime:
            res["importtime"][f"s{sc:g}"] = importtime(ours, a.importtime, run_tmp, a.top)
        if i == 0 and a.profile:
            res["profile"] = profile(ours, a.profile, run_tmp)
    res["loadavg_end"] = load_average()
    res["parent_rss_kib"], res["peak_reset"] = PARENT_RSS_KIB[0], PEAK_RESET[0]
    res["rss_from"] = f"GNU time %M ({TIME[0]})" if TIME[0] else "os.wait4"
    low = [f"{c['key']}/{k}" for c in res["comparisons"] for k in ("ours", "gdal", "base") if k in c["runs"]
           and (med(c, k, "maxrss_kib") or 0) <= res["parent_rss_kib"]] if not TIME[0] else []  # fmt: skip
    res["rss_floor_hit"] = low
    if low:
        print(f"warning: peak RSS not above this script's own ({', '.join(low)})", file=sys.stderr)
    for c in res["comparisons"]:  # the report shows the workload and output folders as $S and $T
        c["argv"] = {k: without_machine_paths(scrub(v, c)) for k, v in c["argv"].items()}
    return res


if __name__ == "__main__":
    sys.exit(main())
