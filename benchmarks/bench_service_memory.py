#!/usr/bin/env python3
"""Benchmark: the HTTP service's resident memory under concurrent exports, before and after the bounds of issue 16.

A script, not a test. It writes a coverage (``--size`` px a side of float32, 20000 by default: 1.6 GB of pixels,
more than GDAL's default block cache of 5 % of the RAM; tiled 256x256, deflate, floating-point predictor; made
once in ``--work``, default ``benchmarks/work/service_memory``), then for each configuration starts
``rastercover serve`` over it (the virtualenv's command, in its own process on a free port of 127.0.0.1) and:

1. waits for ``GET /healthz`` and one small export, then samples the server's RSS (``/proc``, every 0.25 s) for
   2 s: **idle**;
2. runs ``--concurrency`` (16) client threads for ``--duration`` seconds (30), each sending ``GET
   /coverages/big/export?bbox=...`` back to back (a GeoTIFF of a random box ``--min-side`` to ``--max-side`` px a
   side, seed ``--seed``, the same boxes in every configuration); a refused request (429) waits ``--backoff``
   seconds (0.25) and draws the next box: **during** (mean and peak of the samples);
3. stops the clients and samples 5 s more: **after** (the last sample: what the server keeps).

Configurations: *before* is the service as it was (``--max-concurrent-exports 1000 --gdal-cache-mb 0``: no cap,
GDAL's default cache), *after* its new defaults (no option given: 4 exports at once, a 256 MB cache). Reported
per configuration: RSS idle / mean / peak during / after, exports answered (200), refused (429), other errors,
exports per second and their median latency. The server's source is the repository's, as it is on disk, unless
``--server-src`` names another ``src`` folder (say, the code before the fix: ``git archive HEAD src | tar -x -C
/tmp/old``) whose ``rastercover`` it imports first; ``--before-options`` replaces the options of *before* (the old
command knows neither option: give ``""``).

Run from the repository root, in the project's virtualenv::

    python benchmarks/bench_service_memory.py                      # both configurations, table on stdout
    python benchmarks/bench_service_memory.py --duration 10 --size 8000 --concurrency 8
    python benchmarks/bench_service_memory.py --only before --server-src /tmp/old/src --before-options ""
"""

from __future__ import annotations

import argparse
import json
import os
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
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from _paths import DEFAULT_WORK

MB = 1024 * 1024
PIXEL = 30.0
ORIGIN = (0.0, 2_000_000.0)

#: name, rastercover serve options
CONFIGS = (
    ("before: no cap, GDAL's default cache", ["--max-concurrent-exports", "1000", "--gdal-cache-mb", "0"]),
    ("after: the defaults (4 exports, 256 MB cache)", []),
)


# ---------------------------------------------------------------------------------------------- the coverage
def make_coverage(path: Path, size: int) -> None:
    """A ``size`` x ``size`` float32 GeoTIFF of smooth values (tiled 256, deflate, predictor 3), row by row."""
    import numpy as np
    import rasterio
    from affine import Affine

    if path.exists():
        with rasterio.open(path) as ds:
            if ds.width == size and ds.height == size:
                return
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part.tif")
    profile = dict(
        driver="GTiff", width=size, height=size, count=1, dtype="float32", nodata=-9999.0, crs="EPSG:32198",
        transform=Affine(PIXEL, 0, ORIGIN[0], 0, -PIXEL, ORIGIN[1]), tiled=True, blockxsize=256, blockysize=256,
        compress="deflate", predictor=3, zlevel=1, bigtiff="YES",
    )  # fmt: skip
    x = np.arange(size, dtype="float32")
    with rasterio.open(part, "w", **profile) as ds:
        for row in range(0, size, 256):
            h = min(256, size - row)
            y = np.arange(row, row + h, dtype="float32")[:, None]
            block = 500 + 200 * np.sin(x / 731.0) * np.cos(y / 517.0) + (x + y) % 97 / 8
            ds.write(block.astype("float32")[None], window=rasterio.windows.Window(0, row, size, h))
    os.replace(part, path)


# ---------------------------------------------------------------------------------------------- the server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 300) -> tuple[int, int]:
    """GET ``url`` without a proxy: (status, bytes of the body)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as r:
            n = 0
            while chunk := r.read(1 << 20):
                n += len(chunk)
            return r.status, n
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, 0


def rss(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes (``/proc/PID/status``, VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Server:
    """``rastercover serve FOLDER --port P OPTIONS`` in its own process, its output in ``log``."""

    def __init__(self, folder: Path, options: list[str], log: Path, temp: Path, src: Path | None = None) -> None:
        exe = shutil.which("rastercover", path=os.path.dirname(sys.executable)) or "rastercover"
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TMPDIR": str(temp), "NO_PROXY": "127.0.0.1"}
        env.pop("RASTERCOVER_API_KEY", None)
        if src is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(src.resolve()), *filter(None, [env.get("PYTHONPATH")])])
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [exe, "serve", str(folder), "--port", str(self.port), *options], stdout=out, stderr=subprocess.STDOUT,
                env=env,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(self.base + "/healthz", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rastercover serve did not start; see {log}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# ---------------------------------------------------------------------------------------------- the load
@dataclass
class Load:
    """What the clients saw."""

    ok: int = 0
    busy: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, seconds: float) -> None:
        with self.lock:
            if status == 200:
                self.ok += 1
                self.latencies.append(seconds)
            elif status == 429:
                self.busy += 1
            else:
                self.errors += 1


def _boxes(seed: int, size: int, lo: int, hi: int):
    rng = random.Random(seed)
    while True:
        w, h = rng.randint(lo, hi), rng.randint(lo, hi)
        col, row = rng.randint(0, size - w), rng.randint(0, size - h)
        x0, y1 = ORIGIN[0] + col * PIXEL, ORIGIN[1] - row * PIXEL
        yield f"{x0 + 0.25 * PIXEL},{y1 - (h - 0.25) * PIXEL},{x0 + (w - 0.25) * PIXEL},{y1 - 0.25 * PIXEL}"


def client(base: str, boxes, lock: threading.Lock, load: Load, stop: threading.Event, backoff: float) -> None:
    while not stop.is_set():
        with lock:
            bbox = next(boxes)
        t0 = time.perf_counter()
        try:
            status, _ = _get(f"{base}/coverages/big/export?bbox={bbox}")
        except OSError:
            status = -1
        load.add(status, time.perf_counter() - t0)
        if status == 429:
            stop.wait(backoff)


def sample(pid: int, seconds: float, every: float = 0.25, until: threading.Event | None = None) -> list[int]:
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until is not None and until.is_set()):
        out.append(rss(pid))
        time.sleep(every)
    return out


def run_config(name: str, options: list[str], folder: Path, args: argparse.Namespace, work: Path) -> dict:
    temp = Path(tempfile.mkdtemp(prefix="bench-mem-", dir=work))
    server = Server(folder, options, work / f"serve-{len(options)}.log", temp, args.server_src)
    try:
        pid = server.proc.pid
        _get(f"{server.base}/coverages/big/export?bbox={ORIGIN[0]},{ORIGIN[1] - 3000},{ORIGIN[0] + 3000},{ORIGIN[1]}")
        idle = sample(pid, 2.0)
        load, stop, lock = Load(), threading.Event(), threading.Lock()
        boxes = _boxes(args.seed, args.size, args.min_side, args.max_side)
        threads = [
            threading.Thread(target=client, args=(server.base, boxes, lock, load, stop, args.backoff), daemon=True)
            for _ in range(args.concurrency)
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        during = sample(pid, args.duration)
        stop.set()
        for t in threads:
            t.join(600)
        elapsed = time.monotonic() - t0
        after = sample(pid, 5.0)
    finally:
        server.stop()
        shutil.rmtree(temp, ignore_errors=True)
    return {
        "name": name,
        "options": " ".join(options) or "(defaults)",
        "idle": max(idle),
        "mean": statistics.mean(during),
        "peak": max(during),
        "after": after[-1],
        "ok": load.ok,
        "busy": load.busy,
        "errors": load.errors,
        "rate": load.ok / elapsed,
        "p50": statistics.median(load.latencies) if load.latencies else float("nan"),
    }


def report(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"Service memory: {args.concurrency} clients for {args.duration:g} s of GeoTIFF exports of {args.min_side}-"
        f"{args.max_side} px boxes of a {args.size}x{args.size} float32 coverage ({args.size**2 * 4 / MB:,.0f} MB of "
        f"pixels); {os.cpu_count()} cores, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / MB:,.0f} MB "
        "of RAM.",
        "",
        "| configuration | serve options | RSS idle | RSS mean during | RSS peak during | RSS 5 s after | 200 | 429 "
        "| errors | exports/s | p50 latency |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | `{r['options']}` | {r['idle'] / MB:,.0f} MB | {r['mean'] / MB:,.0f} MB | "
            f"{r['peak'] / MB:,.0f} MB | {r['after'] / MB:,.0f} MB | {r['ok']} | {r['busy']} | {r['errors']} | "
            f"{r['rate']:.2f} | {r['p50']:.2f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=20000, help="coverage side in px (default 20000)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load per configuration (default 30)")
    p.add_argument("--concurrency", type=int, default=16, help="client threads (default 16)")
    p.add_argument("--min-side", type=int, default=1500, help="smallest box side in px (default 1500)")
    p.add_argument("--max-side", type=int, default=3000, help="largest box side in px (default 3000)")
    p.add_argument("--backoff", type=float, default=0.25, help="seconds a refused client waits (default 0.25)")
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--work", type=Path, default=DEFAULT_WORK / "service_memory", help="where the coverage is made")
    p.add_argument("--only", choices=("before", "after"), help="run one configuration")
    p.add_argument("--server-src", type=Path, help="a src folder whose rastercover the server imports first")
    p.add_argument("--before-options", help="serve options of 'before' instead of its own (one string)")
    p.add_argument("--json", type=Path, help="write the results to this JSON file")
    args = p.parse_args(argv)
    command = shlex.join(["python", "benchmarks/bench_service_memory.py", *(sys.argv[1:] if argv is None else argv)])
    folder = args.work / "served"
    t0 = time.monotonic()
    make_coverage(folder / "big.tif", args.size)
    print(f"coverage ready in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    rows = []
    for name, options in CONFIGS:
        if args.only and not name.startswith(args.only):
            continue
        if name.startswith("before") and args.before_options is not None:
            options = args.before_options.split()
        rows.append(run_config(name, options, folder, args, args.work))
        print(rows[-1], file=sys.stderr)
    print(report(rows, args))
    if args.json:
        settings = {k: getattr(args, k) for k in ("size", "duration", "concurrency", "min_side", "max_side")}
        args.json.write_text(json.dumps({"command": command, **settings, "rows": rows}, indent=1, default=str))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
