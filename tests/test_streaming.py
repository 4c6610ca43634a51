"""Streaming: export downloads against a real uvicorn server, and runs whose memory follows a block, not the data.

Downloads: a client that hangs up mid-way, an error once the bytes are flowing, a normal download: each leaves
the export folder (``create_app(..., temp_dir=)``) empty; an error after the headers aborts the connection, so
the client never takes a short body for a whole file.

Memory (issue 19): a dense block computed in parts from one read (``compute_bounded``) gives the bits of the
block computed whole; the single GeoTIFF handed to GDAL block by block in file order is the same file, byte for
byte, as the one GDAL flushed at close, with GDAL's cache bounded meanwhile; the tile folder's ``index.vrt``
written tile by tile is the same text; a layer scanned by chunks finds the same invalid features.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.io import MemoryFile

try:
    import fastapi  # noqa: F401
    import httpx
    import uvicorn  # noqa: F401
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from rastercover.server.app import create_app
    from rastercover.server.catalog import Catalog
    from rastercover.server.responses import TempFileResponse
    from rastercover.server.settings import Settings
    from tests.live_server import serve_in_thread

    HAVE_SERVER = True
except ImportError:  # the server extra is optional: its tests are skipped, the engine's run
    HAVE_SERVER = False

needs_server = pytest.mark.skipif(not HAVE_SERVER, reason="needs the server extra (fastapi, httpx, uvicorn)")

SIZE = 1500  # random float32: a ~8 MB export, more than the socket buffers hold
EXPORT = "/coverages/big/export?format=gtiff"


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def _files(folder: Path) -> list[str]:
    """The files under ``folder``, read while the server may be deleting them.

    ``os.walk`` ignores a folder that vanishes between its listing and its scan (``Path.rglob`` raises
    ``FileNotFoundError`` there: the race that made this test flaky).
    """
    return sorted(os.path.join(root, f) for root, _dirs, files in os.walk(folder) for f in files)


@pytest.fixture
def exports(tmp_path) -> Path:
    d = tmp_path / "exports"
    d.mkdir()
    return d


@pytest.fixture
def server(tmp_path, exports) -> Iterator[str]:
    data = tmp_path / "data"
    data.mkdir()
    with rasterio.open(
        data / "big.tif", "w", driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="float32",
        crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, SIZE * 10),
    ) as ds:  # fmt: skip
        ds.write(np.random.default_rng(0).uniform(0, 1000, (1, SIZE, SIZE)).astype("float32"))
    app = create_app(Catalog.from_sources([data]), Settings(), temp_dir=str(exports))
    with serve_in_thread(app) as base:
        yield base


@needs_server
def test_a_client_hanging_up_mid_download_leaves_no_temp_file(server, exports):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # keep the server's sends waiting on us
        sock.sendall(f"GET {EXPORT} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) < 1000:
            chunk = sock.recv(4096)
            assert chunk, "the server closed the connection before sending any body"
            received += chunk
        head = received.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert head.startswith("http/1.1 200") and "content-length:" in head
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
        assert length > 2_000_000  # a few MB are promised (the export compresses a little)
        assert len(_files(exports)) == 1  # being sent: still there
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
    _wait_for(lambda: not _files(exports), "the export of the abandoned download is deleted")
    with httpx.Client(base_url=server, timeout=30, trust_env=False) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/coverages/big").json()["width"] == SIZE


@needs_server
def test_an_error_after_the_headers_aborts_the_download_and_cleans_up(server, exports, monkeypatch):
    real_chunks = TempFileResponse._chunks

    async def failing_chunks(self):
        async for chunk in real_chunks(self):
            yield chunk
            raise OSError("the disk went away")

    monkeypatch.setattr(TempFileResponse, "_chunks", failing_chunks)
    got, length = 0, None
    with httpx.Client(base_url=server, timeout=60, trust_env=False) as client:
        with pytest.raises(httpx.RemoteProtocolError):  # the connection drops before Content-Length bytes
            with client.stream("GET", EXPORT) as r:
                assert r.status_code == 200
                length = int(r.headers["content-length"])
                for chunk in r.iter_raw():
                    got += len(chunk)
    assert length is not None and 0 < got < length  # one chunk arrived, never the whole promised file
    _wait_for(lambda: not _files(exports), "the export of the failed download is deleted")
    monkeypatch.undo()
    with httpx.Client(base_url=server, timeout=60, trust_env=False) as client:  # and the next download is whole
        r = client.get(EXPORT)
        assert r.status_code == 200 and len(r.content) == int(r.headers["content-length"])


@needs_server
def test_a_normal_download_is_whole_and_leaves_no_temp_file(server, exports):
    with httpx.Client(base_url=server, timeout=60, trust_env=False) as client:
        r = client.get(EXPORT)
        head = client.head(EXPORT)
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="big.tif"'
    assert r.headers["content-type"].startswith("image/tiff")
    assert int(r.headers["content-length"]) == len(r.content) > 2_000_000
    with MemoryFile(r.content) as mem, mem.open() as ds:
        assert (ds.width, ds.height, ds.dtypes[0]) == (SIZE, SIZE, "float32")
    assert head.status_code in (200, 405) and head.content == b""
    _wait_for(lambda: not _files(exports), "the export is deleted after the download")


# ---------------------------------------------------------------------- the response on its own
def _app(folder: Path, name: str, calls: list[str], *, write: bool = True) -> Starlette:
    def endpoint(request):
        path = folder / "out.bin"
        if write:
            path.write_bytes(os.urandom(300_000))

        def cleanup() -> None:
            calls.append("cleanup")
            path.unlink(missing_ok=True)

        return TempFileResponse(path, media_type="application/octet-stream", filename=name, cleanup=cleanup)

    return Starlette(routes=[Route("/f", endpoint, methods=["GET", "HEAD"])])


@needs_server
def test_non_ascii_names_head_requests_and_missing_files(tmp_path):
    calls: list[str] = []
    client = TestClient(_app(tmp_path, "forêt été.bin", calls))
    r = client.get("/f")
    assert r.status_code == 200 and len(r.content) == 300_000 == int(r.headers["content-length"])
    disposition = r.headers["content-disposition"]
    assert disposition == "attachment; filename=\"for_t _t_.bin\"; filename*=utf-8''for%C3%AAt%20%C3%A9t%C3%A9.bin"
    assert calls == ["cleanup"] and not _files(tmp_path)
    r = client.head("/f")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "300000"
    assert calls == ["cleanup"] * 2 and not _files(tmp_path)
    missing: list[str] = []
    client = TestClient(_app(tmp_path, "x.bin", missing, write=False), raise_server_exceptions=False)
    assert client.get("/f").status_code == 500 and missing == ["cleanup"]  # cleaned up even then


# ============================================================================================ memory (issue 19)
import io  # noqa: E402

import pyogrio.raw  # noqa: E402
import shapely  # noqa: E402

from rastercover import Grid  # noqa: E402
from rastercover.engine import Extent, Job, Semantics, plan_blocks  # noqa: E402
from rastercover.engine.blocks import block_parts, compute_bounded  # noqa: E402
from rastercover.engine.compute import compute_block  # noqa: E402
from rastercover.engine.postgis import POSTGIS_METHODS  # noqa: E402
from rastercover.engine.runner import _FinalRows, run  # noqa: E402
from rastercover.features import Features, vertex_bounds  # noqa: E402
from rastercover.io import MemoryVectorSource  # noqa: E402
from rastercover.io import vector_file as vector_file_module  # noqa: E402
from rastercover.io.gtiff import bounded_gdal_cache  # noqa: E402
from rastercover.io.sink_geotiff import GeoTiffSink  # noqa: E402
from rastercover.io.sink_tiles import write_vrt  # noqa: E402
from rastercover.io.vector_file import FileVectorSource  # noqa: E402
from rastercover.io.vrt import vrt_xml  # noqa: E402
from rastercover.methods import get_method  # noqa: E402

CRS = "EPSG:32198"


def _scene(seed: int, n: int = 60) -> list[tuple[shapely.Geometry, float]]:
    """Polygons (overlapping, with holes, invalid bow ties, a hair off pixel edges), lines and points over and
    around a 73 x 61 px grid of 2 m pixels at (1000, 2000); some values NULL."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        x, y = 1000 + rng.uniform(-10, 150), 2000 - 122 + rng.uniform(-10, 130)
        w, h = rng.uniform(0.5, 30, 2)
        kind = i % 6
        if kind == 0:
            g = shapely.box(x, y, x + w, y + h)
        elif kind == 1:
            g = shapely.box(x, y, x + w, y + h).difference(shapely.box(x + w / 4, y + h / 4, x + w / 2, y + h / 2))
        elif kind == 2:
            g = shapely.Polygon([(x, y), (x + w, y + h), (x + w, y), (x, y + h)])  # a bow tie: invalid
        elif kind == 3:
            g = shapely.LineString([(x, y), (x + w, y + h), (x + 2 * w, y)])
        elif kind == 4:
            g = shapely.MultiPoint(rng.uniform([x, y], [x + w, y + h], (3, 2)))
        else:  # on the pixel lattice, a few ulps off
            x0, y0 = 1000 + 2 * rng.integers(-2, 70), 2000 - 2 * rng.integers(-2, 60)
            g = shapely.box(np.nextafter(x0, np.inf), y0 - 2 * rng.integers(1, 20), x0 + 2 * rng.integers(1, 20), y0)
        value = None if i % 11 == 5 else float(rng.integers(1, 6))  # few values: ties
        pairs.append((g, value))
    return pairs


def _job(pairs, methods, *, semantics=Semantics.EXACT, extent=Extent.FULL, present=None) -> Job:
    grid = Grid(73, 61, Affine(2, 0, 1000, 0, -2, 2000), CRS, 10, present)
    src = MemoryVectorSource.from_pairs(pairs, crs=CRS)
    return Job(
        src, grid, tuple(get_method(m) for m in methods), extent, np.dtype("float32"), -9999.0, semantics=semantics
    )


def _same(a, b) -> None:
    assert [t.index for t in a.tiles] == [t.index for t in b.tiles]
    assert (a.data is None) == (b.data is None)
    if a.data is not None:
        tiles = a.tiles
        win = a.block.window
        for t in tiles:  # the pixels written: the tiles' (a sparse block's other pixels are never written)
            sl = (slice(None), *t.window.relative_to(win).slices)
            assert np.array_equal(a.data[sl].view(np.uint32), b.data[sl].view(np.uint32))


@pytest.mark.parametrize("semantics", [Semantics.EXACT, Semantics.POSTGIS])
@pytest.mark.parametrize("extent", [Extent.FULL, Extent.TOUCHED])
@pytest.mark.parametrize("sparse", [False, True])
def test_a_block_computed_in_parts_gives_the_bits_of_the_whole_block(semantics, extent, sparse):
    present = [(r, c) for r in range(7) for c in range(8) if (r * 3 + c) % 4] if sparse else None
    parted = 0
    for seed in range(3):
        job = _job(_scene(seed), POSTGIS_METHODS, semantics=semantics, extent=extent, present=present)
        for block in plan_blocks(job.grid, 10_000):  # blocks of 10 x 10 tiles: the whole grid
            feats = job.source.read(None)
            parts = block_parts(job.grid, block, feats, max_work=300, max_pixels=1200)
            parted += len(parts) > 1
            whole = compute_block(job, block)
            _same(compute_bounded(job, block, max_work=300, max_pixels=1200), whole)
            _same(compute_bounded(job, block, max_work=10**9, max_pixels=10**9), whole)  # not cut
    assert parted  # the limits did cut the blocks


def test_block_parts_hold_every_tile_once_within_the_limits():
    job = _job(_scene(7, 120), ["SUM_OF_AREAS"])
    grid = job.grid
    block = plan_blocks(grid, 10_000)[0]
    feats = job.source.read(None)
    boxes = vertex_bounds(feats.geometry)  # in map units: 2 m pixels, y down from 2000
    px = np.column_stack([(boxes[:, 0] - 1000) / 2, (2000 - boxes[:, 3]) / 2, (boxes[:, 2] - 1000) / 2,
                          (2000 - boxes[:, 1]) / 2])  # fmt: skip
    vertices = shapely.get_num_coordinates(feats.geometry)

    def crossable(g) -> float:  # a line: its segments' lengths along columns and rows, in pixels; a point: 0
        if g.geom_type in ("Point", "MultiPoint"):
            return 0.0
        return sum(
            abs(x1 - x0) / 2 + abs(y1 - y0) / 2
            for part in getattr(g, "geoms", [g])
            for (x0, y0), (x1, y1) in zip(part.coords[:-1], part.coords[1:], strict=True)
        )

    kinds = [g.geom_type for g in feats.geometry]
    assert {"LineString", "Polygon"} <= set(kinds)
    linear = np.array(
        [crossable(g) if "Polygon" not in k else np.nan for g, k in zip(feats.geometry, kinds, strict=True)]
    )

    def work(w) -> float:  # envelopes' pixels within the window (lines: crossable pixels), and the vertices meeting it
        dx = np.minimum(px[:, 2], w.col_off + w.width) - np.maximum(px[:, 0], w.col_off)
        dy = np.minimum(px[:, 3], w.row_off + w.height) - np.maximum(px[:, 1], w.row_off)
        meets = (dx >= 0) & (dy >= 0)
        return float(np.where(np.isnan(linear), dx * dy, linear)[meets].sum() + vertices[meets].sum())

    for max_work, max_pixels in [(50, 10**9), (1_000, 10**9), (10**9, 400), (10**9, 10**9)]:
        parts = block_parts(grid, block, feats, max_work, max_pixels)
        tiles = [t.index for p in parts for t in p.tiles]
        assert sorted(tiles) == sorted(t.index for t in block.tiles)  # each tile exactly once
        for p in parts:
            w = p.window
            assert w.col_off >= block.window.col_off and w.row_off >= block.window.row_off
            assert w.width * w.height == sum(t.window.width * t.window.height for t in p.tiles)  # a rectangle
            if len(p.tiles) > 1:
                assert w.width * w.height <= max_pixels and work(w) <= max_work
        if max_work == max_pixels == 10**9:
            assert parts == [block]
        else:
            assert len(parts) > 4
    assert block_parts(grid, block, Features.empty(), 1, 1) == [block]  # nothing to cut: no features


def test_parts_read_the_file_once_and_give_the_bits_of_the_whole_run(tmp_path):
    pairs = _scene(3, 200)
    path = str(tmp_path / "scene.gpkg")
    geoms = np.array([g for g, _ in pairs], dtype=object)
    values = np.array([np.nan if v is None else v for _, v in pairs])
    pyogrio.raw.write(path, shapely.to_wkb(geoms), [values], ["v"], geometry_type="Unknown", crs=CRS, layer="l")
    src = FileVectorSource(path, value="v")
    reads = []
    real_read = src.read
    src.read = lambda bbox: reads.append(bbox) or real_read(bbox)
    job = _job(pairs, ["AREA_WEIGHTED_MEAN_OF_VALUES", "COUNT_OF_GEOMETRIES", "SUM_OF_LENGTHS"])
    job = Job(src, job.grid, job.methods, job.extent, job.dtype, job.nodata)
    block = plan_blocks(job.grid, 10_000)[0]
    got = compute_bounded(job, block, max_work=400, max_pixels=1600)
    assert len(reads) == 1  # the parts take their features from the block's one read
    _same(got, compute_block(job, block))
    assert (got.data[0] != -9999).sum() > 500  # the scene does cover the grid


def _write_tiff(path: str, grid: Grid, bands: list[str], sequence, hints: bool) -> None:
    """Hand ``sequence`` of ``("write", window, data, tiles)`` / ``("constant", tiles, values)`` (in block order,
    with the row above which no later write reaches) to a GeoTiffSink, with or without its ``final_rows``."""
    sink = GeoTiffSink(path)
    sink.open(grid, bands, np.dtype("float32"), -9999.0)
    for final, op in sequence:
        if hints:
            sink.final_rows(final)
        if op[0] == "write":
            sink.write(*op[1:])
        else:
            sink.write_constant(*op[1:])
    sink.close()


@pytest.mark.parametrize("tile", [100, 64, 256])
def test_the_geotiff_handed_over_block_by_block_is_the_same_file(tmp_path, tile):
    # 1000 x 700 px: internal blocks of 256 (or the tile) on the right and bottom edges stick out of the grid
    grid = Grid(1000, 700, Affine(1, 0, 0, 0, -1, 700), CRS, tile)
    rng = np.random.default_rng(tile)
    job_blocks = list(plan_blocks(grid, 90_000))
    rows = _FinalRows(plan_blocks(grid, 90_000))
    finals = [rows.before(b) for b in job_blocks]
    for bands in (["A"], ["A", "B", "C"]):
        sequence = []
        for i, block in enumerate(job_blocks):
            w = block.window
            choice = i % 4
            if choice == 0:  # sparse: nodata, not written at all
                op = ("constant", block.tiles, [-9999.0] * len(bands))
            elif choice == 1:  # constant tiles (a count's 0)
                op = ("constant", block.tiles, [0.0] * len(bands))
            else:  # pixels; some tiles of a block (touched) only
                data = rng.uniform(0, 100, (len(bands), w.height, w.width)).astype("float32")
                tiles = block.tiles if choice == 2 else block.tiles[::2]
                op = ("write", w, data, tiles)
            sequence.append((int(finals[i]), op))
        direct, buffered = str(tmp_path / f"direct{len(bands)}.tif"), str(tmp_path / f"buffered{len(bands)}.tif")
        _write_tiff(direct, grid, bands, sequence, hints=False)
        _write_tiff(buffered, grid, bands, sequence, hints=True)
        with rasterio.open(direct) as a, rasterio.open(buffered) as b:
            assert a.profile == b.profile and a.descriptions == b.descriptions
            assert np.array_equal(a.read(), b.read())
            assert (a.read() != -9999).sum() > 100_000
        if len(bands) == 1:  # GDAL flushed the one band at close in the same order: the very same bytes
            assert Path(direct).read_bytes() == Path(buffered).read_bytes()


def test_the_geotiff_sink_keeps_only_the_rows_not_final_and_bounds_gdals_cache(tmp_path):
    from rasterio.env import get_gdal_config

    before = int(get_gdal_config("GDAL_CACHEMAX"))
    grid = Grid(600, 600, Affine(1, 0, 0, 0, -1, 600), CRS, 100)
    sink = GeoTiffSink(str(tmp_path / "out.tif"))
    sink.open(grid, ["A"], np.dtype("float32"), -9999.0)
    assert int(get_gdal_config("GDAL_CACHEMAX")) == min(before, 8 << 20)
    for block in plan_blocks(grid, 60_000):  # 2 x 3 tiles: rows of 200 px
        sink.final_rows(block.window.row_off)
        w = block.window
        sink.write(w, np.full((1, w.height, w.width), 1.0, dtype="float32"), block.tiles)
        rows = sink._rows
        # no block of a row that was final before this block is still held
        assert all(by >= block.window.row_off // 256 for by, _bx in rows.blocks)
        assert len(rows.blocks) <= 3 * 3  # the 256 px rows of blocks these 200 px rows reach: at most 3 of 3
    sink.close()
    assert int(get_gdal_config("GDAL_CACHEMAX")) == before
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.read().min() == ds.read().max() == 1.0


def test_a_whole_run_to_a_geotiff_is_the_file_gdal_flushed_at_close(tmp_path):
    pairs = _scene(5, 150)
    job = _job(pairs, ["AREA_WEIGHTED_MEAN_OF_VALUES"])
    grid = Grid(900, 700, Affine(0.2, 0, 1000, 0, -0.2, 2000), CRS, 100)  # internal blocks of 256 at the edges
    job = Job(job.source, grid, job.methods, job.extent, job.dtype, job.nodata)
    run(job, GeoTiffSink(str(tmp_path / "hinted.tif")), block_pixels=90_000)  # the engine gives final_rows

    class Unhinted(GeoTiffSink):
        final_rows = None  # as before: every write straight to GDAL, flushed at close

    run(job, Unhinted(str(tmp_path / "direct.tif")), block_pixels=90_000)
    assert (tmp_path / "hinted.tif").read_bytes() == (tmp_path / "direct.tif").read_bytes()


def test_final_rows_are_the_top_of_the_blocks_still_to_come():
    grid = Grid(300, 300, Affine(1, 0, 0, 0, -1, 300), CRS, 100, present=[(0, 2), (1, 0), (2, 1), (2, 2)])
    plan = plan_blocks(grid, 40_000)  # blocks of 2 x 2 tiles, the sparse grid's smallest rectangles
    blocks = list(plan)
    tops = [b.window.row_off for b in blocks]
    rng = np.random.default_rng(0)
    for order in ([0, 1, 2, 3], [3, 1, 0, 2], list(rng.permutation(4))):
        for source in (plan, blocks):  # a plan, or a resumed run's list
            rows = _FinalRows(source)
            got = [rows.before(blocks[i]) for i in order]
            assert got == [min(tops[j] for j in order[k:]) for k in range(4)]


def test_a_run_handing_blocks_out_of_order_still_writes_the_same_geotiff(tmp_path, monkeypatch):
    import rastercover.engine.runner as runner

    pairs = _scene(6, 150)
    job = _job(pairs, ["COUNT_OF_GEOMETRIES"])  # empty tiles are 0: every tile is written
    grid = Grid(700, 500, Affine(0.25, 0, 1000, 0, -0.25, 2000), CRS, 100)
    job = Job(job.source, grid, job.methods, job.extent, job.dtype, job.nodata)
    run(job, GeoTiffSink(str(tmp_path / "in_order.tif")), block_pixels=40_000)
    real = runner._results

    def empty_first(job, blocks, workers, writer=None):  # as Dask hands them over: the empty blocks first
        results = list(real(job, blocks, workers, writer))
        yield from sorted(results, key=lambda r: r[0].data is not None)

    monkeypatch.setattr(runner, "_results", empty_first)
    run(job, GeoTiffSink(str(tmp_path / "out_of_order.tif")), block_pixels=40_000)
    with rasterio.open(tmp_path / "in_order.tif") as a, rasterio.open(tmp_path / "out_of_order.tif") as b:
        assert np.array_equal(a.read(), b.read()) and (a.read() > 0).sum() > 5_000


def test_bounded_gdal_cache_takes_the_largest_bound_of_those_running_and_restores():
    from rasterio.env import get_gdal_config

    def size() -> int:
        return int(get_gdal_config("GDAL_CACHEMAX"))

    before = size()
    with bounded_gdal_cache(4 << 20):
        assert size() == min(before, 4 << 20)
        with bounded_gdal_cache(16 << 20):  # another sink with more bands: room for its blocks
            assert size() == min(before, 16 << 20)
        assert size() == min(before, 4 << 20)
    assert size() == before


@pytest.mark.parametrize("crs", [CRS, None])
def test_the_vrt_written_tile_by_tile_is_vrt_xml(crs):
    grid = Grid(350, 230, Affine(0.5, 0, -3.25, 0, -0.5, 7), crs, 100)
    tiles = [(0, 0), (0, 3), (1, 1), (2, 3)]
    for bands, dtype, nodata in [
        (["A"], "float32", -9999.0),
        (["a<b>&c", "B"], "int16", -1),
        (["x"], "float64", np.nan),
    ]:
        f = io.StringIO()
        write_vrt(f, grid, bands, dtype, nodata, tiles)
        assert f.getvalue() == vrt_xml(grid, bands, dtype, nodata, [grid.tile(r, c) for r, c in tiles])
    f = io.StringIO()
    write_vrt(f, grid, ["A"], "float32", -9999.0, [])
    assert f.getvalue() == vrt_xml(grid, ["A"], "float32", -9999.0, [])


@pytest.mark.parametrize(
    "driver, ext",
    [("ESRI Shapefile", "shp"), ("FlatGeobuf", "fgb"), ("GeoJSON", "geojson"), ("OpenFileGDB", "gdb")],
)
def test_a_layer_scanned_by_chunks_finds_the_same_invalid_features(tmp_path, monkeypatch, driver, ext):
    """OpenFileGDB pages ``skip_features`` over the unfiltered layer while returning filtered features: a scan
    paged with the filter missed and repeated features; the pages are of the unfiltered layer."""
    pairs = _scene(11, 90)
    polys = [(g, v) for g, v in pairs if g.geom_type in ("Polygon", "MultiPolygon")]
    path = str(tmp_path / f"layer.{ext}")
    multi = ext == "gdb"  # a FileGDB layer holds one geometry type
    geoms = np.array([shapely.MultiPolygon([g]) if multi and g.geom_type == "Polygon" else g for g, _ in polys])
    values = np.array([np.nan if v is None else v for _, v in polys])
    kind = "MultiPolygon" if multi else "Polygon"
    pyogrio.raw.write(path, shapely.to_wkb(geoms), [values], ["v"], geometry_type=kind, crs=CRS, driver=driver)
    for where in (None, "v >= 2"):
        _m, fids, wkb, _d = pyogrio.raw.read(path, where=where, return_fids=True)  # the oracle: one plain read
        read = shapely.from_wkb(wkb)
        oracle = np.sort(np.asarray(fids)[~shapely.is_valid(read) & ~shapely.is_empty(read)])
        whole = FileVectorSource(path, value="v", where=where)
        want = whole._invalid_features()
        assert np.sort(want[0]).tolist() == oracle.tolist()
        monkeypatch.setattr(vector_file_module, "SCAN_CHUNK", 4)
        chunked = FileVectorSource(path, value="v", where=where)
        got = chunked._invalid_features()
        monkeypatch.undo()
        assert len(want[0]) >= 2  # the bow ties
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1], equal_nan=True)
        box = (1040.0, 1920.0, 1100.0, 1990.0)
        a, b = whole.read(box), chunked.read(box)
        assert a.order.tolist() == b.order.tolist() and len(a) > 3
