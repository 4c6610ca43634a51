"""Run every benchmark section at HEAD and write ``BENCHMARKS.md``: ``python -m benchmarks`` from the repository root.

* builds the missing workloads (``benchmarks/make_workload.py`` into ``benchmarks/work/s<scale>``, git-ignored);
* finds the peers on ``PATH`` (GDAL's tools, PostgreSQL + PostGIS, GNU time) and in this Python (exactextract);
  a section whose peer is missing is reported as "not installed", never a crash;
* runs each section's script (``benchmarks/bench_*.py``) in a subprocess with ``--json``, and stores its raw data
  with the command, the commit and the machine in ``benchmarks/results/<section>.json``;
* renders ``BENCHMARKS.md`` and the plots (``benchmarks/results/*.png``) from those files (``benchmarks/report.py``).

Options: ``--only SECTION ...``, ``--quick`` (scale 1, few repeats: a smoke run of a few minutes), ``--list``,
``--report-only`` (render again from the results without measuring). Logs go to ``benchmarks/work/logs/``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # the scripts' own modules (_common, _paths) are imported by name

from _common import git_commit, machine_info  # noqa: E402
from _paths import (  # noqa: E402
    DEFAULT_MAKE_WORKLOAD,
    DEFAULT_WORK,
    RESULTS,
    ROOT,
    gdal_tool,
    postgres_bindir,
    sao_miguel_dir,
)
from benchmarks import report  # noqa: E402

LOGS = DEFAULT_WORK / "logs"


@dataclass
class Section:
    name: str
    script: str
    title: str
    measures: str
    full: list[str]
    quick: list[str]
    needs: list[str] = field(default_factory=list)  # peers without which the script cannot run
    optional: dict[str, list[str]] = field(default_factory=dict)  # peer -> options added when it is missing
    scales: tuple[str, ...] = ("1",)  # workloads needed by the full run (the quick run needs s1 only)


SECTIONS = [
    Section("startup", "bench_startup.py", "The command as a user runs it: rastercover vs gdal_rasterize",
            "fresh `rastercover rasterize` processes against `gdal_rasterize` at scales 1, 4, 16 (time, peak RSS), "
            "and the start-up (`--help` vs `gdal_rasterize --version`)",
            ["--scales", "1", "4", "16", "--repeat", "5", "--repeat-large", "3", "--repeat-help", "10"],
            ["--scales", "1", "--repeat", "2", "--repeat-help", "3", "--importtime", "0"],
            needs=["gdal_rasterize"], scales=("1", "4", "16")),
    Section("memory", "bench_memory.py", "Peak memory of the command across scales",
            "peak RSS (GNU time `%M`) of fresh `rastercover rasterize` processes: 4 methods + all 15 in one pass, "
            "to a GeoTIFF, a tile folder and a Zarr store, at scales 1, 4, 16, against `gdal_rasterize`",
            ["--scales", "1", "4", "16", "--floor", "--methods", "AREA_WEIGHTED_MEAN_OF_VALUES",
             "MEAN_OF_VALUES_AT_PIXEL_CENTROID", "SUM_OF_LENGTHS", "COUNT_OF_POINTS", "ALL15"],
            ["--scales", "1", "--methods", "AREA_WEIGHTED_MEAN_OF_VALUES", "ALL15", "--outputs", "tif", "tiles"],
            needs=["time"], optional={"gdal_rasterize": ["--no-gdal"]}, scales=("1", "4", "16")),
    Section("centroid", "bench_centroid.py", "Centre burning vs rasterio.features.rasterize",
            "`MEAN_OF_VALUES_AT_PIXEL_CENTROID` over every tile to memory, a GeoTIFF and a tile folder, workers 1 "
            "and 2, against rasterio (scales 1 and 16), peak RSS in fresh processes",
            ["--scales", "1", "16", "--repeat", "5", "--repeat-large", "2", "--ratio-processes", "1"],
            ["--scales", "1", "--repeat", "1", "--ratio-processes", "0", "--no-rss"],
            scales=("1", "16")),
    Section("methods", "bench_methods.py", "Every method against rasterio",
            "every method of a vector source alone, and all 15 `ST_ExtractToRaster` methods in one pass, to memory "
            "at scale 1, alternated with rasterio's burn of the same polygons; peak RSS at scales 1 and 16",
            ["--repeat", "5", "--rss-scales", "1", "16"],
            ["--repeat", "1"],
            scales=("1", "16")),
    Section("exactextract", "bench_exactextract.py", "Exact areas against exactextract",
            "`PROPORTION_OF_COVERED_AREA` + `AREA_WEIGHTED_MEAN_OF_VALUES` in one pass against exactextract's "
            "per-pixel coverage fractions (`cell_id`, `coverage`) accumulated with numpy, scale 1",
            ["--repeat", "7"], ["--repeat", "2"], needs=["exactextract"]),
    Section("postgis", "bench_postgis.py", "PostGIS in and out",
            "a throwaway PostgreSQL + PostGIS cluster: rasterizing the forest cover into a raster table (the 2014 "
            "article's SQL, methods 1.1 and 1.3, against `rastercover.rasterize`), exporting the table as a "
            "GeoTIFF against `gdal_translate`",
            ["--repeat", "5", "--steps", "2"], ["--repeat", "1", "--no-breakdown"],
            needs=["postgis", "gdal_translate"]),
    Section("export", "bench_export.py", "Export of a polygon clip vs gdalwarp",
            "`rastercover.export` of an irregular polygon clip against `gdalwarp -cutline -crop_to_cutline`, from "
            "a tiled GeoTIFF and a tile folder (scale 1) and a 4000×4000 px clip at scale 16",
            ["--scales", "1", "16", "--repeat", "3"], ["--scales", "1", "--repeat", "1"],
            needs=["gdalwarp", "gdalbuildvrt"], scales=("1", "16")),
    Section("service", "bench_service.py", "HTTP service: load and HTTP vs API",
            "`rastercover serve` under 8 concurrent clients (requests/s, latency, RSS growth) and one export over "
            "HTTP against the same call in-process",
            ["--duration", "20", "--warmup", "3", "--repeat", "5"],
            ["--duration", "3", "--warmup", "1", "--repeat", "1"]),
    Section("service_memory", "bench_service_memory.py", "The service's memory under concurrent exports",
            "RSS of `rastercover serve` under 16 clients exporting 1500–3000 px boxes of a 20000×20000 px "
            "coverage, without a cap (`before`) and with the defaults (`after`)",
            ["--duration", "20"],
            ["--size", "4000", "--duration", "3", "--min-side", "500", "--max-side", "1000",
             "--work", str(DEFAULT_WORK / "service_memory_quick")]),
    Section("dask", "bench_dask.py", "Scale out on Dask",
            "serial against a local Dask cluster of 2 worker processes, `extent=\"touched\"`, tile folder and Zarr, "
            "scales 1, 4, 16",
            ["--scales", "1", "4", "16", "--repeat", "2", "--extents", "touched", "--no-pair"],
            ["--scales", "1", "--repeat", "1", "--extents", "touched", "--formats", "zarr", "--no-pair"],
            needs=["dask"], scales=("1", "4", "16")),
    Section("blocks", "bench_blocks.py", "Block size",
            "a serial rasterize at scale 16 (`extent=\"touched\"`, Zarr) by block size, 2^18 to 2^21 px",
            ["--scale", "16", "--tiles", "100", "--repeat", "2"],
            ["--scale", "1", "--tiles", "100", "--repeat", "1"], scales=("16",)),
    Section("planning", "bench_planning.py", "Planning a huge touched job",
            "3000 points on a 5·10⁹ px grid with `extent=\"touched\"`: plan and run time, peak RSS, fresh processes",
            [], ["--side", "10000", "--points", "300", "--tiles", "256", "--outputs", "zarr"]),
    Section("regrid", "bench_regrid.py", "Regridding vs rasterio and gdalwarp",
            "`rastercover.regrid` against `rasterio.warp.reproject` and `gdalwarp` (average, sum): time, "
            "conservation and edge error; São Miguel population counts against `gdalwarp -r sum`",
            ["--repeat", "3", "--cold", "1"], ["--repeat", "1", "--cold", "0", "--profile-runs", "1"],
            needs=["gdalwarp", "sao_miguel"]),
]
BY_NAME = {s.name: s for s in SECTIONS}


# ------------------------------------------------------------------------------------------- peers
def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return ((out.stdout or out.stderr).strip().splitlines() or ["?"])[0]


def find_peers() -> dict[str, str | None]:
    """Each peer's version (or where it is), None when it is not installed."""
    peers: dict[str, str | None] = {}
    for tool in ("gdal_rasterize", "gdalwarp", "gdal_translate", "gdalbuildvrt"):
        exe = gdal_tool(tool)
        peers[tool] = _first_line([exe, "--version"]) if exe else None
    bindir = postgres_bindir()
    peers["postgis"] = None
    if bindir:
        version = _first_line([os.path.join(bindir, "postgres"), "--version"])
        peers["postgis"] = f"{version} ({bindir}) + PostGIS"
    exe = shutil.which("time")
    ok = exe and _first_line([exe, "-f", "%M", "true"]).isdigit()
    peers["time"] = f"GNU time ({exe})" if ok else None
    for pkg in ("exactextract", "dask"):
        peers[pkg] = importlib.metadata.version(pkg) if importlib.util.find_spec(pkg) else None
    peers["rasterio"] = importlib.metadata.version("rasterio") if importlib.util.find_spec("rasterio") else None
    gpw = sao_miguel_dir() / "gpw_v411_2020_count_2020.tif"
    where = gpw.parent.relative_to(ROOT) if gpw.is_relative_to(ROOT) else gpw.parent
    peers["sao_miguel"] = str(where) if gpw.exists() else None
    return peers


# ------------------------------------------------------------------------------------------- workloads
def ensure_workloads(scales: set[str]) -> None:
    for s in sorted(scales, key=float):
        folder = DEFAULT_WORK / f"s{s}"
        if (folder / "workload_stats.json").exists():
            continue
        print(f"building workload s{s} (make_workload.py --scale {s}) ...", flush=True)
        t0 = time.perf_counter()
        LOGS.mkdir(parents=True, exist_ok=True)
        with open(LOGS / f"workload-s{s}.log", "w") as log:
            subprocess.run([sys.executable, str(DEFAULT_MAKE_WORKLOAD), "--out", str(folder), "--scale", s],
                           check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)  # fmt: skip
        print(f"  s{s} built in {time.perf_counter() - t0:.0f} s", flush=True)


# ------------------------------------------------------------------------------------------- running
def run_section(sec: Section, quick: bool, peers: dict[str, str | None], machine: dict, commit: str) -> dict:
    args = list(sec.quick if quick else sec.full)
    missing = [p for p in sec.needs if not peers.get(p)]
    for peer, extra in sec.optional.items():
        if not peers.get(peer):
            missing_note = f"{peer} not installed: run without it"
            print(f"  {missing_note}", flush=True)
            args += extra
    script_cmd = ["python", f"benchmarks/{sec.script}", *args]
    rec: dict = {
        "section": sec.name, "title": sec.title, "measures": sec.measures, "quick": quick,
        "command": "python -m benchmarks" + (" --quick" if quick else "") + f" --only {sec.name}",
        "script_command": shlex.join(script_cmd), "commit": commit, "machine": machine,
        "peers": {p: peers.get(p) for p in [*sec.needs, *sec.optional]},
    }  # fmt: skip
    if missing:
        rec |= {"status": "not installed", "note": ", ".join(missing) + " not installed", "elapsed_s": 0.0}
        print(f"  skipped: {rec['note']}", flush=True)
        return rec
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{sec.name}.log"
    with tempfile.TemporaryDirectory(prefix=f"bench-{sec.name}-") as tmp:
        out = Path(tmp) / "data.json"
        t0 = time.perf_counter()
        with open(log_path, "w") as log:
            proc = subprocess.run([sys.executable, str(HERE / sec.script), *args, "--json", str(out)],
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        rec["elapsed_s"] = round(time.perf_counter() - t0, 1)
        if proc.returncode == 3 and sec.name == "exactextract" and not out.exists():
            rec |= {"status": "not installed", "note": "exactextract not installed"}
        elif out.exists():
            rec |= {"status": "ok" if proc.returncode == 0 else f"ok (exit {proc.returncode}: a target missed)"}
            rec["data"] = json.loads(out.read_text())
        else:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            rec |= {"status": f"failed (exit {proc.returncode})", "note": " / ".join(tail)[-600:]}
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--only", nargs="+", metavar="SECTION", choices=list(BY_NAME), help="run only these sections")
    ap.add_argument("--quick", action="store_true", help="scale 1, few repeats: a smoke run of a few minutes")
    ap.add_argument("--list", action="store_true", help="list the sections and exit")
    ap.add_argument("--report-only", action="store_true", help="render BENCHMARKS.md and the plots from the results")
    ap.add_argument("--results", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="the report (default BENCHMARKS.md)")
    a = ap.parse_args(argv)
    if a.list:
        for s in SECTIONS:
            print(f"{s.name:15} {s.title}: {s.measures}")
        return 0
    if not a.report_only:
        sections = [BY_NAME[n] for n in a.only] if a.only else SECTIONS
        peers = find_peers()
        print("peers: " + "; ".join(f"{k}: {v or 'not installed'}" for k, v in peers.items()), flush=True)
        ensure_workloads({"1"} if a.quick else {s for sec in sections for s in sec.scales})
        machine, commit = machine_info(), git_commit(ROOT)
        a.results.mkdir(parents=True, exist_ok=True)
        t_all = time.perf_counter()
        for i, sec in enumerate(sections, 1):
            print(f"[{i}/{len(sections)}] {sec.name} started ({time.perf_counter() - t_all:.0f} s elapsed)", flush=True)
            rec = run_section(sec, a.quick, peers, machine, commit)
            (a.results / f"{sec.name}.json").write_text(json.dumps(rec, indent=1, default=str) + "\n")
            print(f"[{i}/{len(sections)}] {sec.name} {rec['status']} in {rec['elapsed_s']:.0f} s "
                  f"({time.perf_counter() - t_all:.0f} s elapsed)", flush=True)  # fmt: skip
        print(f"all sections done in {time.perf_counter() - t_all:.0f} s", flush=True)
    order = [s.name for s in SECTIONS]
    written = report.render(a.results, a.out, order=order)
    print(f"wrote {a.out.relative_to(ROOT) if a.out.is_relative_to(ROOT) else a.out} and {len(written)} plot(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
