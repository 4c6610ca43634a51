#!/usr/bin/env python3
"""Benchmark: the HTTP service (``rastercover serve``) under load, and an export over HTTP vs in-process.

A script, not a test. It starts ``rastercover serve`` (the virtualenv's command, in a separate process, on a free
port of 127.0.0.1, its temporary folder pointed at a private one) over the scale-1 workload of ``make_workload.py``
— ``elevation.tif`` (2500×2500 px of float32, tiled 256×256, deflate; catalogue id ``elevation``) and the folder
of 625 tiles of 100×100 px that ``bench_export.py`` writes into ``<work>/s1/export/tiles100/`` (id ``tiles100``;
written here when missing) — waits for ``GET /healthz``, and measures, from this process:

1. **Load.** ``--concurrency`` (8) asyncio workers sharing one ``httpx.AsyncClient`` issue
   ``GET /coverages/{id}/export?bbox=...&format=gtiff`` back to back: a random coverage of the two and a random
   bbox of 100 to 256 px a side inside it (snapped to the grid, a quarter pixel inside the edges, so the export is
   exactly that many pixels), drawn from a generator seeded with ``--seed``. ``--warmup`` seconds (5) of load,
   then the server's RSS (``psutil``: the process and its children), then ``--duration`` seconds (30) of load,
   then the RSS again (and its peak, sampled every 0.5 s). Reported: requests/s, p50/p90/p99/max latency (request
   sent to whole body read), errors (any non-200 answer or transport error; 5xx counted apart), RSS before/after/
   peak and the growth, the server's CPU time, and the temporary files left behind. Targets: 0 errors, RSS growth
   < 20 %.
2. **HTTP vs API.** The 1000×1000 px export of ``bench_export.py`` — the irregular 64-gon ``clip1000.geojson``
   (its bounding box a few tenths of a pixel inside a 1000×1000 px window) from ``elevation.tif`` — as
   ``rastercover.export(tif, out.tif, clip=<GeoJSON text>)`` in this process, and as ``POST
   /coverages/elevation/export`` with ``{"clip": <the GeoJSON object>}`` (a kept-alive ``httpx.Client``; the body
   streamed to a file); likewise the window itself as a bbox (``export(tif, out, bbox=...)`` vs ``GET
   ...?bbox=``). One warm-up round, then ``--repeat`` (7) rounds, the configurations interleaved in each round;
   medians, ratio HTTP/API (target ≤ 1.3), and the HTTP time split into time to the response's headers (the export
   into the server's temporary file) and the body's transfer. The outputs of the last round are read back with
   rasterio and compared (CRS, transform, shape, nodata, pixels; and bytes).

The server runs the project's source as it is on disk (another process may be editing it): the source hash is
taken before and after. If it does not answer ``/healthz`` (say, a half-finished edit), the script waits
``--retry-wait`` seconds and tries again (``--start-attempts``). The server is stopped in all cases.

Prints a markdown report; ``--json FILE`` writes the results (``python -m benchmarks`` renders them). Run from
the repository root, in the project's virtualenv::

    python benchmarks/bench_service.py                           # 30 s of load, concurrency 8, report on stdout
    python benchmarks/bench_service.py --duration 60 --concurrency 16 --repeat 9 --json /tmp/service.json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import fastapi
import httpx
import numpy as np
import psutil
import rasterio
import starlette
import uvicorn

import rastercover
from _common import save_json  # this folder is on sys.path
from bench_centroid import DEFAULT_MAKE_WORKLOAD, DEFAULT_WORK, generate, package_hash, workload
from bench_export import make_clip, tile_folder
from bench_postgis import fmt_s, load_average, machine, med, rastercover_cli, rounds, spread

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PKG = Path(rastercover.__file__).resolve().parent
TARGET_RATIO = 1.3
TARGET_RSS = 0.20
SIDE = 1000  # the HTTP vs API export, as bench_export.py's scale-1 case
MIN_SIDE, MAX_SIDE = 100, 256  # the load's bboxes, in pixels
MiB = 1024**2

COMPARE = {  # key -> label
    "api-clip": "`rastercover.export(tif, out, clip=geojson)`, in-process",
    "http-clip": '`POST /coverages/elevation/export` `{"clip": geojson}`, body streamed to a file',
    "api-bbox": "`rastercover.export(tif, out, bbox=window)`, in-process",
    "http-bbox": "`GET /coverages/elevation/export?bbox=window`, body streamed to a file",
}


# ------------------------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A ``rastercover serve`` process: its output goes to ``log``, its temporary files to ``tmpdir``."""

    proc: subprocess.Popen
    port: int
    log: Path
    tmpdir: Path
    cmd: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        """Resident set size of the server and its children, in bytes."""
        p = psutil.Process(self.proc.pid)
        procs = [p, *p.children(recursive=True)]
        total = 0
        for q in procs:
            try:
                total += q.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def cpu(self) -> float:
        """User + system CPU seconds of the server and its children so far."""
        p = psutil.Process(self.proc.pid)
        t = p.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def threads(self) -> int:
        return psutil.Process(self.proc.pid).num_threads()

    def leftovers(self) -> list[str]:
        return sorted(os.listdir(self.tmpdir))

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL after 10 s; children too, by their pids."""
        if self.proc.poll() is not None:
            return
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for c in children:
            try:
                c.kill()
            except psutil.NoSuchProcess:
                pass


def start_server(sources: list[str], tmp: Path, attempts: int, retry_wait: float, timeout: float = 60.0) -> Server:
    """Start ``rastercover serve SOURCES --port <free>`` and wait for ``/healthz``; retry when it does not come up."""
    for attempt in range(1, attempts + 1):
        port = free_port()
        cmd = [*rastercover_cli(), "serve", *sources, "--host", "127.0.0.1", "--port", str(port)]
        tmpdir = tmp / f"server-tmp-{attempt}"
        tmpdir.mkdir()
        log = tmp / f"server-{attempt}.log"
        env = dict(os.environ, TMPDIR=str(tmpdir))
        env.pop("RASTERCOVER_API_KEY", None)  # no API key: the bench measures the open service
        with open(log, "wb") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        server = Server(proc, port, log, tmpdir, cmd)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout and proc.poll() is None:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    print(f"server up on port {port} (pid {proc.pid}) in {time.perf_counter() - t0:.1f} s",
                          file=sys.stderr, flush=True)  # fmt: skip
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        server.stop()
        print(f"attempt {attempt}/{attempts}: the server did not answer /healthz (exit code {proc.poll()}):\n"
              f"{server.log_tail()}", file=sys.stderr, flush=True)  # fmt: skip
        if attempt < attempts:
            print(f"  retrying in {retry_wait:.0f} s", file=sys.stderr, flush=True)
            time.sleep(retry_wait)
    sys.exit("the server did not start")


# ------------------------------------------------------------------------------------------- load
@dataclass
class GridInfo:
    transform: tuple[float, ...]  # a, b, c, d, e, f
    width: int
    height: int

    def bbox(self, col: int, row: int, w: int, h: int) -> list[float]:
        """The bbox of a pixel window, a quarter pixel inside its edges (exactly ``w``×``h`` px exported)."""
        a, _b, c, _d, e, f = self.transform[:6]
        x0, x1 = c + (col + 0.25) * a, c + (col + w - 0.25) * a
        y0, y1 = f + (row + h - 0.25) * e, f + (row + 0.25) * e
        return [x0, min(y0, y1), x1, max(y0, y1)]


def grid_info(client: httpx.Client, cov: str) -> GridInfo:
    meta = client.get(f"/coverages/{cov}").raise_for_status().json()
    return GridInfo(tuple(meta["transform"]), meta["width"], meta["height"])


def load_requests(grids: dict[str, GridInfo], seed: int) -> Callable:
    """An endless deterministic stream of ``(coverage, bbox text, pixels)``."""
    rng = random.Random(seed)
    ids = sorted(grids)

    def draw() -> tuple[str, str, int]:
        cov = ids[rng.randrange(len(ids))]
        g = grids[cov]
        w, h = rng.randint(MIN_SIDE, MAX_SIDE), rng.randint(MIN_SIDE, MAX_SIDE)
        col, row = rng.randrange(g.width - w + 1), rng.randrange(g.height - h + 1)
        return cov, ",".join(f"{v:.3f}" for v in g.bbox(col, row, w, h)), w * h

    return draw


@dataclass
class LoadStats:
    latencies: list[float] = field(default_factory=list)
    by_cov: dict[str, list[float]] = field(default_factory=dict)
    bytes: int = 0
    pixels: int = 0
    ok: int = 0
    status: dict[int, int] = field(default_factory=dict)  # non-200 answers by status
    transport: int = 0
    samples: list[str] = field(default_factory=list)  # a few error messages

    @property
    def errors(self) -> int:
        return sum(self.status.values()) + self.transport

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.status.items() if s >= 500)


async def load(url: str, draw, concurrency: int, seconds: float, stats: LoadStats) -> float:
    """``concurrency`` workers issue exports until ``seconds`` have passed; returns the wall time of the phase."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        t_end = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < t_end:
                cov, bbox, px = draw()
                t0 = time.perf_counter()
                try:
                    r = await client.get(f"/coverages/{cov}/export", params={"bbox": bbox, "format": "gtiff"})
                except httpx.HTTPError as exc:
                    stats.transport += 1
                    if len(stats.samples) < 5:
                        stats.samples.append(f"{type(exc).__name__}: {exc}")
                    continue
                dt_s = time.perf_counter() - t0
                if r.status_code == 200 and r.content[:2] in (b"II", b"MM"):
                    stats.ok += 1
                    stats.latencies.append(dt_s)
                    stats.by_cov.setdefault(cov, []).append(dt_s)
                    stats.bytes += len(r.content)
                    stats.pixels += px
                else:
                    stats.status[r.status_code] = stats.status.get(r.status_code, 0) + 1
                    if len(stats.samples) < 5:
                        stats.samples.append(f"{r.status_code}: {r.text[:300]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0


class RssSampler:
    """Samples the server's RSS every ``every`` seconds in a thread."""

    def __init__(self, server: Server, every: float = 0.5) -> None:
        self.server, self.every = server, every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.perf_counter() - self._t0, self.server.rss()))
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def bench_load(server: Server, concurrency: int, warmup: float, duration: float, seed: int) -> dict:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        grids = {cov: grid_info(c, cov) for cov in ("elevation", "tiles100")}
    draw = load_requests(grids, seed)
    print(f"load: {warmup:g} s warm-up, then {duration:g} s, concurrency {concurrency}", file=sys.stderr, flush=True)
    warm = LoadStats()
    warm_s = asyncio.run(load(server.url, draw, concurrency, warmup, warm))
    time.sleep(1.0)  # let the last background clean-ups run
    rss_before, cpu_before, threads_before = server.rss(), server.cpu(), server.threads()
    stats = LoadStats()
    with RssSampler(server) as sampler:
        wall = asyncio.run(load(server.url, draw, concurrency, duration, stats))
    rss_end, cpu_after = server.rss(), server.cpu()
    time.sleep(1.0)
    rss_after, threads_after = server.rss(), server.threads()
    n = stats.ok + stats.errors
    lat = stats.latencies
    res = {
        "concurrency": concurrency,
        "warmup_s": warmup,
        "duration_s": duration,
        "seed": seed,
        "wall_s": wall,
        "requests": n,
        "ok": stats.ok,
        "errors": stats.errors,
        "server_errors": stats.server_errors,
        "status": {str(k): v for k, v in sorted(stats.status.items())},
        "transport_errors": stats.transport,
        "error_samples": stats.samples,
        "warmup_requests": warm.ok + warm.errors,
        "warmup_errors": warm.errors,
        "warmup_wall_s": warm_s,
        "rps": n / wall,
        "p50": pct(lat, 50),
        "p90": pct(lat, 90),
        "p99": pct(lat, 99),
        "max": max(lat) if lat else None,
        "mean_bytes": stats.bytes / stats.ok if stats.ok else None,
        "mean_pixels": stats.pixels / stats.ok if stats.ok else None,
        "by_cov": {k: {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99)} for k, v in sorted(stats.by_cov.items())},
        "rss_before": rss_before,
        "rss_end": rss_end,
        "rss_after": rss_after,
        "rss_peak": max([s for _t, s in sampler.samples] + [rss_end, rss_before]),
        "rss_curve": [[round(t, 1), s] for t, s in sampler.samples[:: max(1, len(sampler.samples) // 12)]],
        "cpu_s": cpu_after - cpu_before,
        "threads": [threads_before, threads_after],
        "leftover_files": server.leftovers(),
    }
    res["rss_growth"] = (rss_after - rss_before) / rss_before
    print(f"  {n} requests in {wall:.1f} s ({res['rps']:.1f}/s), {stats.errors} errors, p50 {fmt_ms(res['p50'])}, "
          f"p99 {fmt_ms(res['p99'])}; RSS {rss_before / MiB:.0f} → {rss_after / MiB:.0f} MiB "
          f"({res['rss_growth']:+.1%})", file=sys.stderr, flush=True)  # fmt: skip
    return res


# ------------------------------------------------------------------------------------------- HTTP vs API
def window_bbox(tif: str, side: int) -> list[float]:
    """The ``side``-pixel window centred on the coverage (as ``make_clip`` places the clip), as a bbox."""
    with rasterio.open(tif) as ds:
        g = GridInfo(tuple(ds.transform)[:6], ds.width, ds.height)
    return g.bbox((g.width - side) // 2, (g.height - side) // 2, side, side)


def bench_compare(server: Server, tif: str, clip_text: str, bbox: list[float], repeat: int, tmp: Path) -> dict:
    outs = {k: str(tmp / f"{k}.tif") for k in COMPARE}
    clip_obj = json.loads(clip_text)
    headers: dict[str, list[float]] = {"http-clip": [], "http-bbox": []}
    client = httpx.Client(base_url=server.url, timeout=120)

    def api(key: str, **kw) -> Callable:
        def run() -> None:
            rastercover.export(tif, outs[key], overwrite=True, **kw)

        return run

    def http(key: str, method: str, **kw) -> Callable:
        def run() -> float:
            t0 = time.perf_counter()
            with client.stream(method, "/coverages/elevation/export", **kw) as r:
                t_head = time.perf_counter() - t0
                if r.status_code != 200:
                    r.read()
                    raise RuntimeError(f"{method} export: {r.status_code} {r.text[:500]}")
                with open(outs[key], "wb") as f:
                    for chunk in r.iter_bytes():
                        f.write(chunk)
            t = time.perf_counter() - t0
            headers[key].append(t_head)
            return t

        return run

    configs = {
        "api-clip": api("api-clip", clip=clip_text),
        "http-clip": http("http-clip", "POST", json={"clip": clip_obj, "format": "gtiff"}),
        "api-bbox": api("api-bbox", bbox=bbox),
        "http-bbox": http("http-bbox", "GET", params={"bbox": ",".join(f"{v:.3f}" for v in bbox), "format": "gtiff"}),
    }

    def prepare() -> None:
        for p in outs.values():
            if os.path.exists(p):
                os.remove(p)

    print(f"HTTP vs API: {SIDE}×{SIDE} px, {repeat} rounds after a warm-up", file=sys.stderr, flush=True)
    try:
        times = rounds(configs, repeat, prepare)
    finally:
        client.close()
    for k in headers:
        headers[k] = headers[k][1:]  # drop the warm-up's
    checks = {"clip": same_output(outs["api-clip"], outs["http-clip"]),
              "bbox": same_output(outs["api-bbox"], outs["http-bbox"])}  # fmt: skip
    prepare()
    return {"repeat": repeat, "times": times, "headers": headers, "checks": checks, "bbox": bbox}


def same_output(a: str, b: str) -> dict:
    """The two files read back with rasterio: grid, nodata, pixels; and whether the bytes are the same."""
    with rasterio.open(a) as da, rasterio.open(b) as db:
        x, y = da.read(), db.read()
        same_size = (da.width, da.height) == (db.width, db.height)
        out = {
            "shape": [da.width, da.height],
            "dtype": da.dtypes[0],
            "same_grid": da.crs == db.crs and da.transform == db.transform and same_size,
            "same_nodata": da.nodata == db.nodata and da.dtypes == db.dtypes,
            "differ": int((x != y).sum()) if x.shape == y.shape else -1,
            "nodata_pixels": int((x == da.nodata).sum()) if da.nodata is not None else 0,
        }
    with open(a, "rb") as fa, open(b, "rb") as fb:
        out["same_bytes"] = fa.read() == fb.read()
    out["bytes"] = [os.path.getsize(a), os.path.getsize(b)]
    out["equal"] = out["same_grid"] and out["same_nodata"] and out["differ"] == 0
    return out


# ------------------------------------------------------------------------------------------- report
def fmt_ms(x: float | None) -> str:
    return "—" if x is None else f"{x * 1000:.1f} ms"


def versions() -> dict:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "rasterio": f"{rasterio.__version__} (GDAL {rasterio.__gdal_version__})",
        "fastapi": fastapi.__version__,
        "starlette": starlette.__version__,
        "uvicorn": uvicorn.__version__,
        "httpx": httpx.__version__,
        "psutil": psutil.__version__,
        "rastercover": rastercover.__version__,
    }


def met(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def report(res: dict) -> str:
    v, ld, cp = res["versions"], res["load"], res["compare"]
    t = cp["times"]
    src = res["source"]
    src_text = f"source hash {src['before']}" + (
        "" if src["before"] == src["after"] else f" at the start, {src['after']} at the end (edited during the run)"
    )
    lines = [
        "## HTTP service (scale 1): load, and an export over HTTP vs in-process",
        "",
        "Produced by `benchmarks/bench_service.py` (see `benchmarks/README.md`). `rastercover serve` runs in its own "
        "process over the workload's `elevation.tif` (id `elevation`: 2500×2500 px float32, tiled 256×256, "
        "deflate) and the folder of 625 tiles of 100×100 px (id `tiles100`); the clients run in the benchmark's "
        "process on the same machine (both share its cores). "
        f"Run {res['date']}. Targets (from the issue): under load, no error and RSS growth < {TARGET_RSS:.0%}; "
        f"an export over HTTP ≤ {TARGET_RATIO}× the same `rastercover.export` in-process.",
        f"Command: `{res['command']}`; rastercover {src_text} (the script runs no git command). Server: "
        f"`{res['server_cmd']}` (uvicorn, one worker, `log_level=info`: an access-log line per request, to a file).",
        f"Machine: {res['machine']}; load average (1, 5, 15 min) {res['loadavg_start']} at the start, "
        f"{res.get('loadavg_compare', '?')} before the HTTP vs API rounds, {res['loadavg_end']} at the end. "
        f"Python {v['python']}, numpy {v['numpy']}, rasterio {v['rasterio']}, "
        f"FastAPI {v['fastapi']}, Starlette {v['starlette']}, uvicorn {v['uvicorn']}, httpx {v['httpx']} (the "
        f"clients), psutil {v['psutil']}, rastercover {v['rastercover']}.",
        "",
        "### Load: concurrent small GeoTIFF exports",
        "",
        f"{ld['concurrency']} asyncio workers, one `httpx.AsyncClient` (kept-alive connections), each sending "
        "`GET /coverages/{id}/export?bbox=...&format=gtiff` as soon as its previous answer is read: a random "
        f"coverage of the two, a random bbox of {MIN_SIDE} to {MAX_SIDE} px a side (seed {ld['seed']}; mean "
        f"{ld['mean_pixels'] or 0:.0f} px, {(ld['mean_bytes'] or 0) / 1024:.0f} KiB answers). {ld['warmup_s']:g} s of "
        f"warm-up ({ld['warmup_requests']} requests, {ld['warmup_errors']} errors), then {ld['duration_s']:g} s "
        "measured. RSS: the server process and its children (`psutil`), after the warm-up and 1 s after the load.",
        "",
        "| Measure | Value | Target |",
        "|---|---:|---|",
        f"| requests (measured phase) | {ld['requests']} in {ld['wall_s']:.1f} s | — |",
        f"| throughput | **{ld['rps']:.1f} req/s** ({ld['rps'] * (ld['mean_pixels'] or 0) / 1e6:.1f} Mpx/s) | — |",
        f"| latency p50 / p90 / p99 / max | **{fmt_ms(ld['p50'])}** / {fmt_ms(ld['p90'])} / **{fmt_ms(ld['p99'])}** "
        f"/ {fmt_ms(ld['max'])} | — |",
        f"| non-200 or transport | **{ld['errors']}** (429, the cap on concurrent exports: "
        f"{ld['status'].get('429', 0)}; 5xx: {ld['server_errors']}, transport: {ld['transport_errors']}) | "
        f"0 but 429s: {met(ld['errors'] - int(ld['status'].get('429', 0)) == 0)} |",
        f"| server RSS before → after (peak) | {ld['rss_before'] / MiB:.1f} → {ld['rss_after'] / MiB:.1f} MiB "
        f"({ld['rss_peak'] / MiB:.1f}) | — |",
        f"| RSS growth | **{ld['rss_growth']:+.1%}** | < {TARGET_RSS:.0%}: {met(ld['rss_growth'] < TARGET_RSS)} |",
        f"| server CPU time (measured phase) | {ld['cpu_s']:.1f} s ({ld['cpu_s'] / ld['wall_s']:.2f} cores) | — |",
        f"| temporary files left by the server | {len(ld['leftover_files'])} | — |",
        "",
    ]
    for cov, s in ld["by_cov"].items():
        lines.append(f"- `{cov}`: {s['n']} requests, p50 {fmt_ms(s['p50'])}, p99 {fmt_ms(s['p99'])}.")
    lines.append(
        f"- Server threads before/after: {ld['threads'][0]}/{ld['threads'][1]}; RSS during the load (s, MiB): "
        + ", ".join(f"{t_:g}: {s / MiB:.0f}" for t_, s in ld["rss_curve"])
        + "."
    )
    if ld["error_samples"]:
        lines.append("- First errors: " + "; ".join(f"`{e[:200]}`" for e in ld["error_samples"]) + ".")
    api_c, http_c = med(t, "api-clip"), med(t, "http-clip")
    api_b, http_b = med(t, "api-bbox"), med(t, "http-bbox")
    ratio_c, ratio_b = http_c / api_c, http_b / api_b
    hd = cp["headers"]
    lines += [
        "",
        f"### HTTP vs API: the {SIDE}×{SIDE} px export of `bench_export.py`",
        "",
        f"The irregular 64-gon `clip1000.geojson` (bounding box a few tenths of a pixel inside a {SIDE}×{SIDE} px "
        "window of `elevation.tif`), and the window itself as a bbox. In-process: `rastercover.export` of the path "
        "(the coverage is opened by each call). HTTP: one kept-alive `httpx.Client`, the answer's body streamed to a "
        "file (the server keeps the coverage open between requests, writes the export into a temporary file and "
        f"sends it with `FileResponse`). Median of {cp['repeat']} rounds after one warm-up round, the four "
        "configurations interleaved in each round, outputs deleted before each round; the server idle otherwise.",
        "",
        "| Configuration | median | min | HTTP / API (medians) | HTTP / API (minima) | HTTP: headers / body |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in COMPARE.items():
        m, lo = med(t, key), min(t[key])
        if key.startswith("http"):
            api_key = key.replace("http", "api")
            r_ = ratio_c if key == "http-clip" else ratio_b
            h = statistics.median(hd[key])
            lines.append(
                f"| {label} | {fmt_s(m)} | {fmt_s(lo)} | **{r_:.2f}** | {lo / min(t[api_key]):.2f} "
                f"| {fmt_s(h)} / {fmt_s(m - h)} |"
            )
        else:
            lines.append(f"| {label} | {fmt_s(m)} | {fmt_s(lo)} | — | — | — |")
    ck, cb = cp["checks"]["clip"], cp["checks"]["bbox"]

    def check_text(c: dict) -> str:
        verdict = "**equal**" if c["equal"] else f"**differ** ({c['differ']} pixels, grid {c['same_grid']})"
        size = f"{c['shape'][0]}×{c['shape'][1]} px {c['dtype']}, {c['nodata_pixels']} nodata pixels"
        return (
            f"{verdict}, {size}, {c['bytes'][0] / 1024:.0f} KiB; byte-identical: {'yes' if c['same_bytes'] else 'no'}"
        )

    lines += [
        "",
        f"- Target, clip: HTTP / API = **{ratio_c:.2f}** (per round {spread(t, 'http-clip', 'api-clip')}) — "
        f"{met(ratio_c <= TARGET_RATIO)} (≤ {TARGET_RATIO}); bbox: **{ratio_b:.2f}** (per round "
        f"{spread(t, 'http-bbox', 'api-bbox')}) — {met(ratio_b <= TARGET_RATIO)}.",
        f"- Read back with rasterio, in-process vs HTTP output: clip {check_text(ck)}; bbox {check_text(cb)}.",
    ]
    samples = (res["loadavg_start"], res.get("loadavg_compare", "?"), res["loadavg_end"])
    busy = max([float(x.split()[0]) for x in samples if x != "?"] or [0.0])
    if busy >= 0.5 * (os.cpu_count() or 1):
        lines.append(
            f"- **Noisy run**: the 1-min load average reached {busy:.2f} on {os.cpu_count()} cores — other work ran "
            "on the machine (the server, the clients and the in-process exports compete with it): the per-round "
            "spread and the ratio of minima show how much the medians moved."
        )
    for note in res.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of measured load (default 30)")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the first RSS (default 5)")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent clients of the load (default 8)")
    ap.add_argument("--seed", type=int, default=20260101, help="seed of the load's random requests")
    ap.add_argument("--repeat", type=int, default=7, help="HTTP vs API rounds after one warm-up round (default 7)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"workload folders (default {DEFAULT_WORK})")
    ap.add_argument("--generate", action="store_true", help="build the scale-1 workload if it is missing")
    ap.add_argument("--make-workload", type=Path, default=DEFAULT_MAKE_WORKLOAD, help="path of make_workload.py")
    ap.add_argument("--start-attempts", type=int, default=3, help="tries to start the server (default 3)")
    ap.add_argument("--retry-wait", type=float, default=60.0, help="seconds between tries (default 60)")
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    command = shlex.join(["python", "benchmarks/bench_service.py", *(sys.argv[1:] if argv is None else argv)])
    wl = workload(a.work.resolve(), 1.0)
    if not wl.exists():
        if not a.generate:
            sys.exit(f"no workload at {wl.folder}: build it with --generate (or make_workload.py)")
        generate(wl, a.make_workload)
    folder = wl.folder / "export"
    folder.mkdir(exist_ok=True)
    tif = wl.elevation
    tiles, _vrt, _n = tile_folder(tif, folder, 100)
    clip_text, _geom = make_clip(tif, SIDE, folder / f"clip{SIDE}.geojson")
    os.environ.pop("GDAL_NUM_THREADS", None)  # the same GDAL threading on both sides

    res: dict = {"command": command, "machine": machine(), "versions": versions()}
    res["source"] = {"before": package_hash(PKG)}
    res["loadavg_start"] = load_average()
    res["date"] = dt.datetime.now().isoformat(timespec="seconds")
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-", dir=a.work.resolve()))
    t_start = time.perf_counter()
    server = None
    try:
        server = start_server([tif, tiles + os.sep], tmp, a.start_attempts, a.retry_wait)
        res["server_cmd"] = shlex.join(server.cmd).replace(str(wl.folder), "$S").replace(str(ROOT) + "/", "")
        res["load"] = bench_load(server, a.concurrency, a.warmup, a.duration, a.seed)
        res["loadavg_compare"] = load_average()
        res["compare"] = bench_compare(server, tif, clip_text, window_bbox(tif, SIDE), a.repeat, tmp)
        res["server_log_lines"] = len(server.log.read_text(errors="replace").splitlines())
        if server.proc.poll() is not None:
            res.setdefault("notes", []).append(f"the server exited during the run ({server.proc.returncode})")
    finally:
        if server is not None:
            if server.proc.poll() is not None:  # it exited on its own: show why
                print(f"server exited ({server.proc.returncode}); log tail:\n{server.log_tail()}", file=sys.stderr)
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    res["source"]["after"] = package_hash(PKG)
    res["loadavg_end"] = load_average()
    res["wall_s"] = time.perf_counter() - t_start
    text = report(res)
    print(text)
    print(f"whole run {res['wall_s']:.0f} s", file=sys.stderr)
    save_json(a.json, res)
    ld, cp = res["load"], res["compare"]["times"]
    ok = (
        ld["errors"] - int(ld["status"].get("429", 0)) == 0  # a 429 is the server's cap working, not an error
        and ld["rss_growth"] < TARGET_RSS
        and med(cp, "http-clip") / med(cp, "api-clip") <= TARGET_RATIO
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
