"""The benchmark report renders from fixed results (no measuring), and ``python -m benchmarks --list`` lists all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent
MACHINE = {"cpu": "Test CPU 9000", "cores": 2, "ram_gib": 8.0, "os": "Debian 12", "python": "3.11.7",
           "gdal": "GDAL 3.6.2, released 2023/01/02", "date": "2026-12-07T10:00:00"}  # fmt: skip


def record(section: str, title: str, data: dict | None, **extra) -> dict:
    return {"section": section, "title": title, "measures": "what it measures", "quick": False,
            "command": f"python -m benchmarks --only {section}",
            "script_command": f"python benchmarks/bench_{section}.py",
            "commit": "abc1234", "machine": MACHINE, "peers": {}, "status": "ok", "elapsed_s": 12.0,
            "data": data, **extra}  # fmt: skip


def write_results(folder: Path) -> None:
    startup = {"comparisons": [
        {"name": "start-up", "key": "help", "runs": {"ours": [{"seconds": 0.040, "maxrss_kib": 15000}] * 3,
                                                    "gdal": [{"seconds": 0.050, "maxrss_kib": 45000}] * 3}},
        {"name": "scale 1", "key": "s1", "scale": 1.0, "runs": {"ours": [{"seconds": 0.4321, "maxrss_kib": 152000}] * 3,
                                                              "gdal": [{"seconds": 0.2, "maxrss_kib": 108000}] * 3}},
        {"name": "scale 16", "key": "s16", "scale": 16.0, "runs": {"ours": [{"seconds": 1.5, "maxrss_kib": 200000}] * 3,
                                                                 "gdal": [{"seconds": 6.0, "maxrss_kib": 120000}] * 3}},
    ]}  # fmt: skip
    methods = {"res": {"runs": {
        "SUM_OF_AREAS": {"layer": "forestcover", "times": [0.2, 0.2, 0.2], "yardstick": [0.1, 0.1, 0.1]},
        "ALL 15 (forestcover)": {"layer": "forestcover", "times": [0.5, 0.5], "yardstick": [0.1, 0.1]},
    }}, "rss": {}}  # fmt: skip
    exact = {"median": {"ours": 0.5, "exactextract": 0.75}, "ratio": {"median_of_pairs": 0.6789},
             "versions": {"exactextract": "0.3.0"},
             "differences": {"PROPORTION_OF_COVERED_AREA": {"max_abs": 7.5e-08},
                             "AREA_WEIGHTED_MEAN_OF_VALUES": {"max_abs": 2.8e-06}}}  # fmt: skip
    memory = {"repeat": 1, "runs": {
        "s1|ALL15|tiles|ours": {"maxrss_kib": 204800}, "s16|ALL15|tiles|ours": {"maxrss_kib": 225280},
        "s1|gdal_rasterize|tif|gdal": {"maxrss_kib": 108544}, "s16|gdal_rasterize|tif|gdal": {"maxrss_kib": 130000},
    }}  # fmt: skip
    recs = [
        record("startup", "Start-up and the command", startup),
        record("methods", "Every method against rasterio", methods),
        record("exactextract", "Exact areas against exactextract", exact),
        record("memory", "Peak memory", memory),
        record("postgis", "PostGIS in and out", None, status="not installed", note="postgis not installed"),
    ]
    for rec in recs:
        (folder / f"{rec['section']}.json").write_text(json.dumps(rec))


def test_report_renders_real_values(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    write_results(results)
    out = tmp_path / "BENCHMARKS.md"
    report.render(results, out, order=["startup", "memory", "methods", "exactextract", "postgis"])
    text = out.read_text()
    assert "| scale 1 | 0.432 s | 0.200 s | 2.16 | 148 MiB | 105 MiB |" in text
    assert "| `SUM_OF_AREAS` | forestcover | 0.200 s | 0.100 s | 2.00 |" in text
    assert "| 0.500 s | 0.750 s | 0.68 | 7.5e-08 | 2.8e-06 |" in text
    assert "| ALL15 | tiles | 200 MiB | 220 MiB | 1.10 |" in text
    assert "| the command at scale 16 faster than gdal_rasterize | 0.25 | **met** |" in text
    assert "| all 15 in one pass on the forest polygons ≤ 2 × rasterio's burn (issue 19) | 5.00 | **not met** |" in text
    assert "Command: `python -m benchmarks --only startup`" in text and "commit abc1234" in text
    assert "Test CPU 9000, 2 cores, 8.0 GiB RAM" in text
    assert "Not run: not installed — postgis not installed" in text
    assert "<!--" not in text  # no inlined data
    pngs = ("ratios_methods.png", "ratios_peers.png", "scale_time_memory.png")
    for png in pngs:  # matplotlib is in the test extra: the plots are drawn and linked
        assert (results / png).stat().st_size > 1000
        assert f"](results/{png})" in text


def test_list_names_every_section() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--list"], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    names = [ln.split()[0] for ln in proc.stdout.splitlines() if ln.strip()]
    scripts = sorted(p.stem.removeprefix("bench_") for p in (ROOT / "benchmarks").glob("bench_*.py"))
    assert sorted(names) == scripts
