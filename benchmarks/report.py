"""BENCHMARKS.md and its plots, rendered from ``benchmarks/results/<section>.json`` (the one place that renders).

Each results file is what ``python -m benchmarks`` wrote for a section: ``section``, ``title``, ``measures``,
``command``, ``script_command``, ``commit``, ``machine`` (a dict), ``peers``, ``status``, ``elapsed_s``, ``quick``
and the script's own ``data``. Rendering needs only the standard library, plus matplotlib for the plots (left
out, with a note, when it is not installed). Every section renders on its own: one whose data lacks a figure
says so and the others go on.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from pathlib import Path

PLOT_DPI = 100
NOT_INSTALLED = "not installed"


# ------------------------------------------------------------------------------------------- helpers
def med(xs) -> float | None:
    xs = [x for x in (xs or []) if x is not None]
    return statistics.median(xs) if xs else None


def pair_ratio(a, b) -> float | None:
    """Median of the ratios of runs alternated run by run (``a[i] / b[i]``)."""
    r = [x / y for x, y in zip(a or [], b or []) if x is not None and y]
    return statistics.median(r) if r else None


def s(x: float | None) -> str:
    return "—" if x is None else (f"{x:.3f} s" if x < 10 else f"{x:.1f} s")


def r2(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def mib(kib: float | None) -> str:
    return "—" if not kib else f"{kib / 1024:,.0f} MiB"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("**met**" if ok else "**not met**")


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if c == "r" else "---" for c in align]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"] + [
        "| " + " | ".join(str(c) for c in row) + " |" for row in rows
    ]


def machine_line(m: dict) -> str:
    if not m:
        return "unknown"
    gdal = str(m.get("gdal", "?")).split(",")[0]
    return (f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('ram_gib', '?')} GiB RAM, {m.get('os', '?')}, "
            f"Python {m.get('python', '?')}, {gdal}")  # fmt: skip


def load(results: Path) -> dict[str, dict]:
    out = {}
    for f in sorted(results.glob("*.json")):
        try:
            rec = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(rec, dict) and "section" in rec:
            out[rec["section"]] = rec
    return out


# ------------------------------------------------------------------------------------------- sections
# Each renderer: (data) -> (lines, targets), targets a list of (target, measured, ok or None).
Targets = list[tuple[str, str, bool | None]]


def sec_startup(d: dict) -> tuple[list[str], Targets]:
    rows, tg = [], []
    for c in d.get("comparisons", []):
        ours = med([r["seconds"] for r in c["runs"].get("ours", [])])
        peer = med([r["seconds"] for r in c["runs"].get("gdal", [])])
        ratio = pair_ratio([r["seconds"] for r in c["runs"].get("ours", [])],
                           [r["seconds"] for r in c["runs"].get("gdal", [])])  # fmt: skip
        rss_o = med([r.get("maxrss_kib") for r in c["runs"].get("ours", [])])
        rss_p = med([r.get("maxrss_kib") for r in c["runs"].get("gdal", [])])
        rows.append([c["name"], s(ours), s(peer), r2(ratio), mib(rss_o), mib(rss_p)])
        if c.get("key") == "help" and ratio is not None:
            tg.append(("`rastercover --help` ≤ 2 × `gdal_rasterize --version`", r2(ratio), ratio <= 2))
        elif c.get("scale") == 1.0 and ratio is not None:
            tg.append(("the command at scale 1 ≤ 1.5 × gdal_rasterize", r2(ratio), ratio <= 1.5))
        elif c.get("scale") and ratio is not None:
            tg.append((f"the command at scale {c['scale']:g} faster than gdal_rasterize", r2(ratio), ratio < 1))
    lines = table(["run (fresh process)", "rastercover", "gdal_rasterize", "ratio", "peak RSS ours", "peak RSS gdal"],
                  rows)  # fmt: skip
    lines += ["", "Ratio: median of the ratios of runs alternated run by run (A, B, A, B, ...); "
              "`LAST_VALUE_AT_PIXEL_CENTROID` to a tiled GeoTIFF against `gdal_rasterize` to the same."]  # fmt: skip
    return lines, tg


def sec_memory(d: dict) -> tuple[list[str], Targets]:
    runs = d.get("runs", {})
    scales = sorted({k.split("|")[0] for k in runs}, key=lambda x: float(x[1:]))
    rows_by: dict[tuple[str, str, str], dict[str, float]] = {}
    for k, v in runs.items():
        sc, method, output, arm = k.split("|")
        rows_by.setdefault((method, output, arm), {})[sc] = v.get("maxrss_kib")
    rows, tg, worst = [], [], None
    for (method, output, arm), by in sorted(rows_by.items()):
        name = "gdal_rasterize" if arm == "gdal" else method
        q = by[scales[-1]] / by[scales[0]] if len(scales) > 1 and by.get(scales[0]) and by.get(scales[-1]) else None
        if q is not None and arm == "ours" and method != "floor":
            worst = max(worst or 0, q)
        rows.append([name, output, *[mib(by.get(sc)) for sc in scales], r2(q)])
    if worst is not None:
        tg.append((f"peak RSS at {scales[-1]} ≤ 1.2 × at {scales[0]} (worst row)", r2(worst), worst <= 1.2))
    lines = table(["configuration", "output", *[f"scale {sc[1:]}" for sc in scales], f"{scales[-1]} / {scales[0]}"
                   if len(scales) > 1 else "—"], rows, "ll" + "r" * (len(scales) + 1))  # fmt: skip
    lines += ["", "Peak RSS: GNU time's `%M` of each fresh `rastercover rasterize` process (median of "
              f"{d.get('repeat', 1)} run(s)); `floor`: the command on a grid of one empty tile."]  # fmt: skip
    return lines, tg


def sec_centroid(d: dict) -> tuple[list[str], Targets]:
    rows, tg = [], []
    for sc, r in sorted(d.items(), key=lambda kv: float(kv[0])):
        t = r.get("times", {})
        m = r.get("median", {})
        mem = pair_ratio(t.get("rc-memory-w1"), t.get("rio-memory"))
        tif = pair_ratio(t.get("rc-gtiff-w1"), t.get("rio-gtiff"))
        rows.append([sc, s(m.get("rc-memory-w1")), s(m.get("rio-memory")), r2(mem), s(m.get("rc-gtiff-w1")),
                     s(m.get("rio-gtiff")), r2(tif), s(m.get("rc-folder-w1")), s(m.get("rc-folder-w2")),
                     str(r.get("check", {}).get("last", {}).get("differ", "—"))])  # fmt: skip
        if sc == "1" and mem is not None:
            tg.append(("centre burning to memory, scale 1, ≤ 1.0 × rasterio", r2(mem), mem <= 1.0))
        if sc == "16":
            sp = pair_ratio(t.get("rc-folder-w1"), t.get("rc-folder-w2"))
            if sp is not None:
                tg.append(("workers=2 faster than workers=1 at scale 16 (tile folder)", f"{sp:.2f}×", sp > 1))
    lines = table(["scale", "ours memory", "rasterio memory", "ratio", "ours GeoTIFF", "rasterio GeoTIFF", "ratio",
                   "folder w=1", "folder w=2", "LAST ≠ rasterio px"], rows)  # fmt: skip
    lines += ["", "`MEAN_OF_VALUES_AT_PIXEL_CENTROID`, every tile; rasterio: `rasterio.features.rasterize` of the "
              "same polygons (read included). Ratio: median of the per-round ratios."]  # fmt: skip
    return lines, tg


def methods_ratios(d: dict) -> dict[str, float]:
    out = {}
    for key, r in d.get("res", {}).get("runs", {}).items():
        q = pair_ratio(r.get("times"), r.get("yardstick"))
        if q is not None:
            out[key] = q
    return out


def sec_methods(d: dict) -> tuple[list[str], Targets]:
    ratios = methods_ratios(d)
    runs = d.get("res", {}).get("runs", {})
    rows = [[f"`{k}`", runs[k].get("layer", ""), s(med(runs[k].get("times"))), s(med(runs[k].get("yardstick"))),
             r2(q)] for k, q in sorted(ratios.items(), key=lambda kv: -kv[1])]  # fmt: skip
    one = [q for k, q in ratios.items() if k.startswith("ALL 15 (")]
    singles = [q for k, q in ratios.items() if not k.startswith("ALL") and "postgis" not in k]
    tg: Targets = []
    if singles:
        worst = max(singles)
        tg.append(("every method alone ≤ 1.5 × rasterio's burn (worst; issue 19)", r2(worst), worst <= 1.5))
    forest = ratios.get("ALL 15 (forestcover)")
    if forest is not None:  # issue 19's target is on the forest polygons (the mixed layer adds GEOS unions)
        tg.append(("all 15 in one pass on the forest polygons ≤ 2 × rasterio's burn (issue 19)", r2(forest),
                   forest <= 2))  # fmt: skip
    elif one:
        tg.append(("all 15 in one pass ≤ 2 × rasterio's burn (issue 19)", r2(max(one)), max(one) <= 2))
    rss = d.get("rss", {})
    if "1" in rss and "16" in rss:
        q = rss["16"]["peak_kib"] / rss["1"]["peak_kib"]
        tg.append(("all 15 to a tile folder: peak RSS scale 16 ≤ 1.5 × scale 1", f"{q:.2f}×", q <= 1.5))
    lines = ["<details><summary>Every method: ours, rasterio, ratio (click)</summary>", "",
             *table(["method", "layer", "ours", "rasterio", "ratio"], rows, "llrrr"), "", "</details>"]  # fmt: skip
    if rss:
        lines += ["", "Peak RSS, all 15 in one pass to a tile folder, fresh process: "
                  + "; ".join(f"scale {k}: {mib(v['peak_kib'])}" for k, v in rss.items()) + "."]  # fmt: skip
    return lines, tg


def sec_exactextract(d: dict) -> tuple[list[str], Targets]:
    m, ratio = d.get("median", {}), d.get("ratio", {}).get("median_of_pairs")
    diffs = d.get("differences", {})
    lines = table(["ours (2 methods, one pass)", "exactextract + numpy", "ratio", "max |diff| proportion",
                   "max |diff| area-weighted mean"],
                  [[s(m.get("ours")), s(m.get("exactextract")), r2(ratio),
                    f"{diffs.get('PROPORTION_OF_COVERED_AREA', {}).get('max_abs', float('nan')):.2g}",
                    f"{diffs.get('AREA_WEIGHTED_MEAN_OF_VALUES', {}).get('max_abs', float('nan')):.2g}"]],
                  "rrrrr")  # fmt: skip
    lines += ["", f"exactextract {d.get('versions', {}).get('exactextract', '?')}: it has no rasterize-to-a-grid; its "
              "per-polygon `cell_id` + `coverage` (the same exact areas) are summed per pixel with `numpy.bincount`. "
              "Differences are float32 rounding."]  # fmt: skip
    tg = [("exact areas ≤ 1.0 × exactextract", r2(ratio), ratio <= 1.0)] if ratio is not None else []
    return lines, tg


def sec_postgis(d: dict) -> tuple[list[str], Targets]:
    rz, ex = d.get("rasterize", {}).get("times", {}), d.get("export", {}).get("times", {})
    labels = {"m11": "article method 1.1 (`ST_Union(ST_AsRaster)`)", "m13": "article method 1.3 (625 tiles)",
              "m13+": "method 1.3 + constraints, index", "rc": "`rastercover.rasterize` table → table",
              "cli": "`rastercover rasterize` command"}  # fmt: skip
    rows = [[lab, s(med(rz.get(k))), r2(pair_ratio(rz.get("rc"), rz.get(k))) if k.startswith("m1") else "—"]
            for k, lab in labels.items() if k in rz]  # fmt: skip
    lines = table(["rasterize into a raster table", "time", "`rastercover.rasterize` / this"], rows, "lrr")
    q = pair_ratio(rz.get("cli"), rz.get("m13"))
    if q is not None:
        lines += ["", f"The command (a fresh process, its imports included) against method 1.3: {r2(q)}."]
    ex_labels = {"ex-rc": "`rastercover.export` table → GeoTIFF, in-process",
                 "ex-cli": "`rastercover export` table → GeoTIFF, the command",
                 "ex-gdal-pg": "`gdal_translate` table (PostGISRaster driver) → GeoTIFF",
                 "ex-gdal": "`gdal_translate` GeoTIFF → GeoTIFF (no database: a floor)",
                 "startup": "`rastercover --help` alone (the command's start-up)"}  # fmt: skip
    ex_rows = [[lab, s(med(ex.get(k))), r2(pair_ratio(ex.get("ex-cli"), ex.get(k))) if k.startswith("ex-gdal") else "—"]
               for k, lab in ex_labels.items() if k in ex]  # fmt: skip
    lines += ["", *table(["export the table as GeoTIFF (fresh processes but the first)", "time",
                          "the command / this"], ex_rows, "lrr")]  # fmt: skip
    lines += ["", "`ST_ExtractToRaster` (PostGIS Add-ons, PL/pgSQL) is packaged neither by PostGIS nor by Debian: "
              f"{NOT_INSTALLED} here. The in-database peers are the article's SQL, methods 1.1 and 1.3 (the article "
              "found `ST_ExtractToRaster` about 16× slower than method 1.3)."]  # fmt: skip
    tg: Targets = []
    q = pair_ratio(ex.get("ex-cli"), ex.get("ex-gdal-pg"))  # like for like: two commands reading the table
    if q is not None:
        tg.append(("`rastercover export` of a PostGIS raster table ≤ 2 × `gdal_translate` of it", r2(q), q <= 2))
    q = pair_ratio(rz.get("rc"), rz.get("m13"))
    if q is not None:
        tg.append(("rasterize into PostGIS faster than the article's method 1.3", r2(q), q < 1))
    return lines, tg


_EXPORT_ARMS = {
    "a-rc": "`rastercover.export`, tiled GeoTIFF",
    "b-rc": "`rastercover.export`, tile folder",
    "a-gdal": "`gdalwarp -cutline -crop_to_cutline`, tiled GeoTIFF",
    "a-gdal-tap": "the same with `-tr -tap`",
    "b-gdal": "`gdalwarp -cutline -crop_to_cutline`, the folder's VRT",
}


def sec_export(d: dict) -> tuple[list[str], Targets]:
    rows, tg = [], []
    for r in d.get("scales", []):
        t = r.get("times", {})
        for ours, gd in (("a-rc", "a-gdal"), ("a-rc", "a-gdal-tap"), ("b-rc", "b-gdal")):
            if ours in t and gd in t:
                q = pair_ratio(t[ours], t[gd])
                rows.append([f"{r.get('scale', '?'):g}" if isinstance(r.get("scale"), float) else r.get("scale", "?"),
                             _EXPORT_ARMS[ours], _EXPORT_ARMS[gd], s(med(t[ours])), s(med(t[gd])), r2(q)])  # fmt: skip
        q = min((pair_ratio(t.get("a-rc"), t.get(g)) or 9e9) for g in ("a-gdal", "a-gdal-tap"))
        if q < 9e9:
            tg.append((f"clip export ≤ 1.5 × gdalwarp (tiled GeoTIFF, scale {r.get('scale', '?'):g})", r2(q), q <= 1.5))
    lines = table(["scale", "ours", "gdalwarp", "ours time", "gdalwarp time", "ratio"], rows, "llrrrr")
    lines += ["", "`-tap`: gdalwarp with `-tr -tap` (the extent rastercover writes); rastercover in-process, "
              "gdalwarp a command; both single-threaded."]  # fmt: skip
    return lines, tg


def sec_service(d: dict) -> tuple[list[str], Targets]:
    ld, cp = d.get("load", {}), d.get("compare", {}).get("times", {})
    q = pair_ratio(cp.get("http-clip"), cp.get("api-clip"))
    busy = int(ld.get("status", {}).get("429", 0))
    failed = ld.get("errors", 0) - busy  # errors counts every non-200 answer and transport failure
    rows = [["exports answered 200 / requests", f"{ld.get('ok', '—')} / {ld.get('requests', '—')}"],
            ["refused with 429 (the server's cap on concurrent exports)", str(busy)],
            ["errors (5xx, transport, other 4xx)", str(failed)],
            ["latency of a 200, p50 / p99", f"{s(ld.get('p50'))} / {s(ld.get('p99'))}"],
            ["server RSS growth under load", f"{ld['rss_growth'] * 100:.0f} %" if "rss_growth" in ld else "—"],
            ["1000×1000 px clip: HTTP / in-process", r2(q)]]  # fmt: skip
    lines = table(["measure", "value"], rows, "lr")
    lines += ["", f"{ld.get('concurrency')} clients for {ld.get('duration_s')} s, random 100–256 px boxes as "
              "GeoTIFF of a GeoTIFF and a tile folder."]  # fmt: skip
    tg: Targets = []
    if ld:
        tg.append(("service under load: no errors (429s apart)", str(failed), failed == 0))
        if "rss_growth" in ld:
            tg.append(("service: RSS growth < 20 %", f"{ld['rss_growth'] * 100:.0f} %", ld["rss_growth"] < 0.2))
    if q is not None:
        tg.append(("export over HTTP ≤ 1.3 × in-process", r2(q), q <= 1.3))
    return lines, tg


def sec_service_memory(d: dict) -> tuple[list[str], Targets]:
    mb = 1024 * 1024
    rows = [[r["name"], f"`{r['options']}`", f"{r['idle'] / mb:,.0f} MB", f"{r['peak'] / mb:,.0f} MB",
             f"{r['after'] / mb:,.0f} MB", str(r["ok"]), str(r["busy"]), str(r["errors"]), f"{r['rate']:.2f}"]
            for r in d.get("rows", [])]  # fmt: skip
    lines = table(["configuration", "serve options", "RSS idle", "RSS peak", "RSS after", "200", "429", "errors",
                   "exports/s"], rows, "llrrrrrrr")  # fmt: skip
    lines += ["", f"{d.get('concurrency')} clients for {d.get('duration')} s, boxes of {d.get('min_side')}–"
              f"{d.get('max_side')} px of a {d.get('size')}×{d.get('size')} px float32 coverage."]  # fmt: skip
    return lines, []


def sec_dask(d: dict) -> tuple[list[str], Targets]:
    rows, tg = [], []
    for key, r in sorted(d.items(), key=lambda kv: float(kv[1].get("scale", 0))):
        runs = r.get("runs", {})
        for cfg in sorted({k.rsplit("-", 1)[0] for k in runs}):
            ser = [x.get("seconds") for x in runs.get(f"{cfg}-serial", [])]
            dk = [x.get("seconds") for x in runs.get(f"{cfg}-dask", [])]
            if not ser or not dk:
                continue
            sp = pair_ratio(ser, dk)
            rows.append([key, cfg, s(med(ser)), s(med(dk)), f"{sp:.2f}×" if sp else "—",
                         r.get("checks", {}).get(cfg, "—")])  # fmt: skip
            if float(r.get("scale", 0)) == 16 and sp is not None:
                tg.append((f"2 Dask workers ≥ 1.6× serial at scale 16 ({cfg})", f"{sp:.2f}×", sp >= 1.6))
    if not rows:
        return ["(no timed configurations in the data)"], tg
    lines = table(["workload", "output-extent", "serial", "Dask (2 workers)", "speed-up", "outputs"], rows, "llrrrl")
    lines += ["", "`AREA_WEIGHTED_MEAN_OF_VALUES`; serial: `workers=1` in a process of its own; Dask: a "
              "`LocalCluster` of 2 worker processes (started once per scale, not timed). Both share the 2 cores "
              "with the client and the scheduler."]  # fmt: skip
    return lines, tg


def sec_blocks(d: dict) -> tuple[list[str], Targets]:
    sizes = [str(b) for b in d.get("sizes", [])]
    default = str(d.get("default_block_pixels"))
    rows = []
    for r in d.get("rows", []):
        best = min(r["median"].values())
        cells = [(f"**{s(r['median'][b])}**" if r["median"][b] == best else s(r["median"][b])) for b in sizes]
        differ = sum(v[0] for v in r.get("differ", {}).values())
        rows.append([str(r["tile"]), f"`{r['method']}`", *cells, str(differ)])
    lines = table(["tile px", "method", *[f"{int(b):,} px" + (" (default)" if b == default else "") for b in sizes],
                   "px ≠ default's"], rows, "ll" + "r" * (len(sizes) + 1))  # fmt: skip
    lines += ["", f"Serial rasterize of the scale-{d.get('scale')} workload, `extent=\"touched\"`, to Zarr; median of "
              f"{d.get('repeat')} round(s), block sizes interleaved; fastest in bold."]  # fmt: skip
    return lines, []


def sec_planning(d: dict) -> tuple[list[str], Targets]:
    rows = []
    for r in d.get("rows", []):
        v = r.get("result", {})
        ok = "error" not in v
        rows.append([str(r["tile"]), r["output"], s(v.get("plan_s")) if ok else "—", s(v.get("run_s")) if ok else "—",
                     f"{v.get('rss_peak_mb', 0):.0f} MB" if ok else "—", f"{v.get('written', 0):,}" if ok else "—",
                     v.get("error") or r.get("check", "")])  # fmt: skip
    lines = table(["tiles", "output", "plan", "run", "peak RSS", "tiles written", "check"], rows, "llrrrrl")
    lines += ["", f"{d.get('points')} random points, `{d.get('method')}`, `extent=\"touched\"`, on a "
              f"{d.get('side')}×{d.get('side')} px grid ({(d.get('side') or 0) ** 2:.1e} px); fresh process each."]
    return lines, []


def regrid_errors(d: dict) -> list[tuple[str, list[float | None]]]:
    """Per error, (rastercover, rasterio, gdalwarp). (a): max |error| of the average against the exact area-weighted
    mean (rastercover's ``AREA_WEIGHTED_MEAN_OF_VALUES_2`` against an independent numpy oracle; the peers' against
    it); (b) and GPW: relative error of the total (conservation)."""
    c = d.get("checks", {})

    def get(*path):
        v = c
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        return v if isinstance(v, int | float) else None

    return [
        ("(a) average: max error vs exact, all pixels",
         [get("a_oracle", "mean2_max_abs"), get("a", "a-rio", "all", "max"), get("a", "a-gdal", "all", "max")]),
        ("(a) average: max error vs exact, interior",
         [get("a_oracle", "mean2_max_abs"), get("a", "a-rio", "interior", "max"),
          get("a", "a-gdal", "interior", "max")]),
        ("(b) sum: conservation error (relative)",
         [get("b", "b-rc", "error"), get("b", "b-rio", "error"), get("b", "b-gdal", "error")]),
        ("São Miguel GPW sum: total error (relative)",
         [get("gpw", "g-rc", "error"), get("gpw", "g-rio", "error"), get("gpw", "g-gdal-sum", "error")]),
    ]  # fmt: skip


def sec_regrid(d: dict) -> tuple[list[str], Targets]:
    t = d.get("times", {})
    rows = []
    for ours, peer, lab in (("a-rc", "a-rio", "(a) average, in-process vs rasterio"),
                            ("b-rc", "b-rio", "(b) sum, in-process vs rasterio"),
                            ("a-cmd", "a-gdal", "(a) command vs `gdalwarp -r average`"),
                            ("b-cmd", "b-gdal", "(b) command vs `gdalwarp -r sum`"),
                            ("g-rc", "g-gdal-sum", "GPW sum vs `gdalwarp -r sum`")):  # fmt: skip
        if ours in t and peer in t:
            rows.append([lab, s(med(t[ours])), s(med(t[peer])), r2(pair_ratio(t[ours], t[peer]))])
    lines = table(["comparison", "rastercover", "peer", "ratio"], rows, "lrrr")
    err = [[lab, *[("—" if v is None else f"{v:.2g}") for v in vals]] for lab, vals in regrid_errors(d)]
    lines += ["", *table(["error", "rastercover", "rasterio", "gdalwarp"], err, "lrrr")]
    lines += ["", "(a) onto a misaligned 100 m grid: max |error| against the exact area-weighted mean (rastercover: "
              "`AREA_WEIGHTED_MEAN_OF_VALUES_2` against an independent numpy oracle; the peers against "
              "`AREA_WEIGHTED_MEAN_OF_VALUES_2`: GDAL's average is off at the edges); (b) onto EPSG:4326, elevations "
              "taken as counts; GPW: São Miguel population counts onto 100 m UTM."]  # fmt: skip
    tg: Targets = []
    b = dict(regrid_errors(d)).get("(b) sum: conservation error (relative)")
    if b and b[0] is not None and b[2] is not None:
        tg.append(("regrid sum conserves at least as well as `gdalwarp -r sum`", f"{b[0]:.1g} vs {b[2]:.1g}",
                   b[0] <= b[2]))  # fmt: skip
    return lines, tg


RENDERERS: dict[str, Callable[[dict], tuple[list[str], Targets]]] = {
    "startup": sec_startup, "memory": sec_memory, "centroid": sec_centroid, "methods": sec_methods,
    "exactextract": sec_exactextract, "postgis": sec_postgis, "export": sec_export, "service": sec_service,
    "service_memory": sec_service_memory, "dask": sec_dask, "blocks": sec_blocks, "planning": sec_planning,
    "regrid": sec_regrid,
}  # fmt: skip
PLOTS_OF = {"methods": ["ratios_methods.png"], "exactextract": ["ratios_peers.png"], "postgis": ["ratios_peers.png"],
            "startup": ["scale_time_memory.png"], "memory": ["scale_time_memory.png"],
            "regrid": ["regrid_error.png"]}  # fmt: skip


# ------------------------------------------------------------------------------------------- plots
def peer_ratios(recs: dict[str, dict]) -> list[tuple[str, float | None, str]]:
    """(label, rastercover / peer, note) for every peer, None where it was not measured or not installed."""
    out: list[tuple[str, float | None, str]] = []

    def data(name: str) -> dict | None:
        rec = recs.get(name)
        return rec.get("data") if rec and rec.get("data") else None

    c = data("centroid")
    t = (c or {}).get("1", {}).get("times", {})
    out.append(("rasterio: centre burn, scale 1", pair_ratio(t.get("rc-memory-w1"), t.get("rio-memory")), ""))
    e = data("exactextract")
    out.append(("exactextract: exact areas", (e or {}).get("ratio", {}).get("median_of_pairs"),
                "" if e else NOT_INSTALLED))  # fmt: skip
    p = data("postgis")
    rz = (p or {}).get("rasterize", {}).get("times", {})
    out.append(("PostGIS SQL method 1.3", pair_ratio(rz.get("rc"), rz.get("m13")), "" if p else "not measured"))
    out.append(("PostGIS ST_ExtractToRaster", None, NOT_INSTALLED))
    st = data("startup")
    for cmp in (st or {}).get("comparisons", []):
        if cmp.get("scale"):
            out.append((f"gdal_rasterize, scale {cmp['scale']:g}",
                        pair_ratio([r["seconds"] for r in cmp["runs"]["ours"]],
                                   [r["seconds"] for r in cmp["runs"]["gdal"]]), ""))  # fmt: skip
    rg = data("regrid")
    if rg:
        tt = rg.get("times", {})
        out.append(("gdalwarp -r sum (regrid)", pair_ratio(tt.get("b-cmd"), tt.get("b-gdal")), ""))
    ex = data("export")
    if ex and ex.get("scales"):
        tt = ex["scales"][0].get("times", {})
        out.append(("gdalwarp -cutline (export)", pair_ratio(tt.get("a-rc"), tt.get("a-gdal")), ""))
    return out


def plots(recs: dict[str, dict], folder: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written: list[Path] = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        path = folder / name
        fig.savefig(path, dpi=PLOT_DPI)
        plt.close(fig)
        written.append(path)

    m = recs.get("methods", {}).get("data")
    if m:
        ratios = sorted(methods_ratios(m).items(), key=lambda kv: kv[1])
        fig, ax = plt.subplots(figsize=(8, max(3, 0.22 * len(ratios) + 1)))
        ax.barh([k for k, _ in ratios], [q for _, q in ratios], color="tab:blue")
        ax.axvline(1, color="k", lw=0.8)
        ax.axvline(1.5, color="tab:red", ls="--", lw=0.8, label="target ≤ 1.5 (one method)")
        ax.set_xlabel("time / rasterio.features.rasterize (read + burn), scale 1")
        ax.tick_params(axis="y", labelsize=7)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title("Every method against rasterio (lower is faster)")
        save(fig, "ratios_methods.png")
    pr = peer_ratios(recs)
    if any(q is not None for _, q, _ in pr):
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(pr) + 1.2))
        labels = [lab for lab, _, _ in pr][::-1]
        vals = [q or 0 for _, q, _ in pr][::-1]
        ax.barh(labels, vals, color=["tab:gray" if q is None else "tab:green" for _, q, _ in pr][::-1])
        for y, (_lab, q, note) in enumerate(pr[::-1]):
            ax.text((q or 0) + 0.02, y, note or ("not measured" if q is None else f"{q:.2f}"), va="center", fontsize=8)
        ax.axvline(1, color="k", lw=0.8)
        ax.set_xlabel("rastercover time / peer time (< 1: rastercover faster)")
        ax.set_title("rastercover against each peer")
        save(fig, "ratios_peers.png")
    st, mem = recs.get("startup", {}).get("data"), recs.get("memory", {}).get("data")
    if st or mem:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        if st:
            pts = sorted((c["scale"], med([r["seconds"] for r in c["runs"]["ours"]]),
                          med([r["seconds"] for r in c["runs"]["gdal"]]))
                         for c in st.get("comparisons", []) if c.get("scale"))  # fmt: skip
            a1.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label="rastercover rasterize")
            a1.plot([p[0] for p in pts], [p[2] for p in pts], "s--", label="gdal_rasterize")
        a1.set(xscale="log", yscale="log", xlabel="workload scale (× pixels, × polygons)", ylabel="wall time (s)",
               title="Time of the command (fresh process)")  # fmt: skip
        a1.legend(fontsize=8)
        if mem:
            series: dict[str, list[tuple[float, float]]] = {}
            for k, v in mem.get("runs", {}).items():
                sc, method, output, arm = k.split("|")
                name = "gdal_rasterize" if arm == "gdal" else f"{method[:24]} → {output}"
                if v.get("maxrss_kib") and (arm == "gdal" or method in ("ALL15", "AREA_WEIGHTED_MEAN_OF_VALUES")):
                    series.setdefault(name, []).append((float(sc[1:]), v["maxrss_kib"] / 1024))
            for name, xs in sorted(series.items()):
                xs.sort()
                a2.plot([x for x, _ in xs], [y for _, y in xs], "s--" if name == "gdal_rasterize" else "o-",
                        label=name, lw=1)  # fmt: skip
        a2.set(xscale="log", xlabel="workload scale", ylabel="peak RSS (MiB)", title="Peak memory of the command")
        a2.set_ylim(bottom=0)
        for ax in (a1, a2):
            ax.set_xticks([1, 4, 16], ["1", "4", "16"])
        a2.legend(fontsize=6)
        save(fig, "scale_time_memory.png")
    rg = recs.get("regrid", {}).get("data")
    if rg:
        errs = regrid_errors(rg)
        fig, ax = plt.subplots(figsize=(9, 4))
        peers = ["rastercover", "rasterio", "gdalwarp"]
        w = 0.27
        floor = 1e-17
        for j, peer in enumerate(peers):
            ax.bar([i + (j - 1) * w for i in range(len(errs))], [max(v[j] or 0, floor) for _, v in errs], w,
                   label=peer)  # fmt: skip
        ax.set_xticks(range(len(errs)), [lab.replace(", ", "\n", 1) for lab, _ in errs], fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel(f"error (0 drawn at {floor:g})")
        ax.set_title("Regridding error: rastercover against rasterio and gdalwarp (lower is better)")
        ax.legend(fontsize=8)
        save(fig, "regrid_error.png")
    return written


# ------------------------------------------------------------------------------------------- document
def render(results: Path, out: Path, *, order: list[str] | None = None) -> list[Path]:
    """Write ``out`` (BENCHMARKS.md) and the plots (in ``results``) from ``results/*.json``; the plots' paths."""
    recs = load(results)
    names = [n for n in (order or []) if n in recs] + sorted(n for n in recs if n not in (order or []))
    try:
        written = plots(recs, results) if recs else []
    except Exception as e:  # a plot must not cost the tables
        print(f"plots not drawn: {type(e).__name__}: {e}")
        written = []
    rel = os.path.relpath(results, out.parent)
    commits = sorted({r.get("commit", "?") for r in recs.values()})
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks` (every section at HEAD, peers found on `PATH`); raw data in "
        f"`{rel}/*.json`, plots beside them; what each section measures and how to run one: "
        "`benchmarks/README.md`. Times are medians; a ratio is rastercover / peer (< 1: rastercover faster), the "
        "median of the ratios of runs alternated run by run.",
        "",
        f"- Commit: {', '.join(commits) or '—'}",
        f"- Machine: {machine_line(next(iter(recs.values())).get('machine', {})) if recs else '—'}",
    ]
    if recs and not written:
        lines.append("- Plots not drawn: matplotlib is not installed (`pip install -e \".[bench]\"`).")
    if any(r.get("quick") for r in recs.values()):
        lines.append("- **Quick run** (`--quick`: scale 1, few repeats): a smoke test, not figures to quote.")
    bodies, targets = [], []
    for n in names:
        rec = recs[n]
        body = [f"## {rec.get('title', n)}", "",
                f"Command: `{rec.get('command', '?')}` (runs `{rec.get('script_command', '?')}`); commit "
                f"{rec.get('commit', '?')}; {rec.get('machine', {}).get('date', '?')}, "
                f"{rec.get('elapsed_s', 0):.0f} s; machine: {machine_line(rec.get('machine', {}))}.", "",
                f"Measures: {rec.get('measures', '')}.", ""]  # fmt: skip
        peers = rec.get("peers") or {}
        if peers:
            body += ["Peers: " + "; ".join(f"{k}: {v or NOT_INSTALLED}" for k, v in peers.items()) + ".", ""]
        data = rec.get("data")
        if data is None:
            body += [f"Not run: {rec.get('status', '?')} — {rec.get('note', '')}".rstrip(" —"), ""]
        else:
            try:
                sec_lines, sec_targets = RENDERERS.get(n, lambda _d: (["(no renderer)"], []))(data)
            except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError) as e:
                sec_lines, sec_targets = [f"(could not render this section's data: {type(e).__name__}: {e})"], []
            body += [*sec_lines, ""]
            targets += [(t, m, ok, n) for t, m, ok in sec_targets]
        for png in PLOTS_OF.get(n, []):
            if (results / png).exists() and f"({rel}/{png})" not in "\n".join(bodies):
                body += [f"![{png[:-4]}]({rel}/{png})", ""]
        bodies.append("\n".join(body))
    lines += ["", "## Targets", ""]
    if targets:
        lines += table(["target", "measured", "verdict", "section"],
                       [[t, m, verdict(ok), f"[{n}](#{anchor(recs[n].get('title', n))})"] for t, m, ok, n in targets],
                       "lrll")  # fmt: skip
    else:
        lines.append("(no section with targets has results)")
    missing = [n for n in names if recs[n].get("data") is None]
    if missing:
        lines += ["", "Not measured: " + "; ".join(f"{n} ({recs[n].get('status')})" for n in missing) + "."]
    lines += ["", *bodies]
    out.write_text("\n".join(lines).rstrip() + "\n")
    return written


def anchor(title: str) -> str:
    """GitHub's anchor of a heading."""
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return keep.replace(" ", "-")
