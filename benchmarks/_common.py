"""What the benchmark scripts share that needs nothing but the standard library.

Kept free of numpy, rasterio and rastercover on purpose: ``bench_startup.py`` imports it into a parent process
that must stay small (the peak RSS ``wait4`` reports for a child is the larger of the child's own and the
parent's at the ``fork``).

* A/B alternation: :func:`alternate` runs the arms of a comparison run by run (A, B, A, B, ...: the machine's
  drift hits both arms alike), :func:`pair_ratios` / :func:`ratio_stats` summarize the ratios of the pairs of
  adjacent runs (round by round), which the drift cancels out of.
* Reports: :func:`machine` (one line), :func:`machine_info` (a dict for ``benchmarks/results/*.json``),
  :func:`load_average`.
* Sources: :func:`package_hash`, :func:`git_commit`, :func:`baseline_src` (the ``--baseline DIR`` option).
"""

from __future__ import annotations

import gc
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


# ------------------------------------------------------------------------------------------- alternation
def alternate(
    arms: dict[str, Callable[[], object]],
    repeat: int,
    *,
    warmup: int = 1,
    prepare: Callable[[], None] | None = None,
    label: str = "",
    log: bool = True,
) -> dict[str, list[float]]:
    """``warmup`` rounds, then ``repeat`` rounds; in each round every arm runs once, in the order of ``arms``.

    An arm returns its own time as a float (when it times only part of what it does, or runs in another
    process), or anything else (None, its result: timed here, wall clock). ``prepare()`` runs before each
    round, outside the timed sections. The lists of the result are aligned: index ``i`` of every arm is round
    ``i``, so ``pair_ratios(t[a], t[b])`` are the ratios of adjacent runs.
    """
    times: dict[str, list[float]] = {k: [] for k in arms}
    for r in range(warmup + repeat):
        if prepare is not None:
            prepare()
        for key, fn in arms.items():
            gc.collect()
            t0 = time.perf_counter()
            own = fn()
            t = own if isinstance(own, int | float) else time.perf_counter() - t0
            if r >= warmup:
                times[key].append(t)
        if log:
            done = "  ".join(f"{k} {v[-1]:.3f}" for k, v in times.items()) if r >= warmup else "done"
            what = "warm-up" if r < warmup else f"round {r - warmup + 1}/{repeat}"
            print(f"  {label}{what}: {done}", file=sys.stderr, flush=True)
    return times


def pair_ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """``a[i] / b[i]`` for the runs of two arms alternated run by run (the pairs of adjacent runs)."""
    return [x / y for x, y in zip(a, b, strict=True) if y]


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float | None:
    """The median of :func:`pair_ratios`; None without pairs."""
    r = pair_ratios(a, b)
    return statistics.median(r) if r else None


def ratio_stats(a: Sequence[float], b: Sequence[float]) -> dict[str, float | int | None]:
    """Both ways of comparing two alternated arms: the ratio of the medians and the median of the pair ratios.

    ``{"of_medians", "median_of_pairs", "min", "max", "pairs"}`` (None where there are no runs).
    """
    r = pair_ratios(a, b)
    ma = statistics.median(a) if a else None
    mb = statistics.median(b) if b else None
    return {
        "of_medians": ma / mb if ma is not None and mb else None,
        "median_of_pairs": statistics.median(r) if r else None,
        "min": min(r) if r else None,
        "max": max(r) if r else None,
        "pairs": len(r),
    }


def fmt_pairs(a: Sequence[float], b: Sequence[float]) -> str:
    """``median 0.83 (0.71–0.95)``: the median and the range of the pair ratios, for a report."""
    r = pair_ratios(a, b)
    if not r:
        return "—"
    return f"median {statistics.median(r):.2f} ({min(r):.2f}–{max(r):.2f})"


# ------------------------------------------------------------------------------------------- reports
def save_json(path: Path | None, data: object) -> None:
    """Write a section's raw results to ``path`` (``--json``; nothing when None) and say so on stderr."""
    if path is None:
        return
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))
    print(f"wrote {path}", file=sys.stderr)


def load_average() -> str:
    """``/proc/loadavg``'s 1, 5 and 15 minute averages, or ``?``."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or ``unknown``."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "unknown")
    except OSError:
        return "unknown"


def machine() -> str:
    """One line: cores, CPU model, RAM, kernel."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return f"`nproc` {os.cpu_count()}, CPU {cpu_model()}, RAM {ram:.1f} GiB, {platform.system()} {platform.release()}"


def machine_info() -> dict[str, str | int | float]:
    """The machine a section ran on: CPU model, cores, RAM, OS, Python, GDAL (of ``gdalinfo`` on PATH), date."""
    cpu = cpu_model()
    os_name = f"{platform.system()} {platform.release()}"
    try:
        with open("/etc/os-release") as f:
            pretty = next((ln.split("=", 1)[1].strip().strip('"') for ln in f if ln.startswith("PRETTY_NAME=")), "")
        os_name = f"{pretty}, {os_name}" if pretty else os_name
    except OSError:
        pass
    gdal = "not installed"
    try:
        gdal = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "os": os_name,
        "python": platform.python_version(),
        "gdal": gdal,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


# ------------------------------------------------------------------------------------------- sources
def package_hash(pkg: Path) -> str:
    """A hash of a package's Python source files (names and contents)."""
    h = hashlib.sha1()
    for f in sorted(pkg.rglob("*.py")):
        h.update(str(f.relative_to(pkg)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def git_commit(folder: Path) -> str:
    """The short commit of the git checkout holding ``folder``, ``+ uncommitted changes`` when its files differ."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=folder, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], capture_output=True, text=True, cwd=folder, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" + uncommitted changes" if dirty else "")


def baseline_src(folder: Path) -> Path:
    """The folder to put on ``PYTHONPATH`` for ``--baseline folder``: ``folder/src`` of a source tree (a
    ``git worktree add /tmp/before <commit>``), or ``folder`` itself when it holds ``rastercover/``."""
    folder = folder.expanduser().resolve()
    for cand in (folder / "src", folder):
        if (cand / "rastercover" / "__init__.py").is_file():
            return cand
    raise SystemExit(f"--baseline {folder}: neither {folder}/src/rastercover nor {folder}/rastercover is a package")
