"""Export downloads against a real uvicorn server: the temporary file goes however the response ends.

A client that hangs up mid-way, an error once the bytes are flowing, a normal download: each leaves the
export folder (``create_app(..., temp_dir=)``) empty; an error after the headers aborts the connection, so the
client never takes a short body for a whole file.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.io import MemoryFile

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Route  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from rastercover.server.app import create_app  # noqa: E402
from rastercover.server.catalog import Catalog  # noqa: E402
from rastercover.server.responses import TempFileResponse  # noqa: E402
from rastercover.server.settings import Settings  # noqa: E402

SIZE = 1500  # random float32: a ~8 MB export, more than the socket buffers hold
EXPORT = "/coverages/big/export?format=gtiff"


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def _files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.is_file())


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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    _wait_for(lambda: srv.started, "uvicorn started", 10)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


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
    with httpx.Client(base_url=server, timeout=30) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/coverages/big").json()["width"] == SIZE


def test_an_error_after_the_headers_aborts_the_download_and_cleans_up(server, exports, monkeypatch):
    real_chunks = TempFileResponse._chunks

    async def failing_chunks(self):
        async for chunk in real_chunks(self):
            yield chunk
            raise OSError("the disk went away")

    monkeypatch.setattr(TempFileResponse, "_chunks", failing_chunks)
    got, length = 0, None
    with httpx.Client(base_url=server, timeout=60) as client:
        with pytest.raises(httpx.RemoteProtocolError):  # the connection drops before Content-Length bytes
            with client.stream("GET", EXPORT) as r:
                assert r.status_code == 200
                length = int(r.headers["content-length"])
                for chunk in r.iter_raw():
                    got += len(chunk)
    assert length is not None and 0 < got < length  # one chunk arrived, never the whole promised file
    _wait_for(lambda: not _files(exports), "the export of the failed download is deleted")
    monkeypatch.undo()
    with httpx.Client(base_url=server, timeout=60) as client:  # and the next download is whole
        r = client.get(EXPORT)
        assert r.status_code == 200 and len(r.content) == int(r.headers["content-length"])


def test_a_normal_download_is_whole_and_leaves_no_temp_file(server, exports):
    with httpx.Client(base_url=server, timeout=60) as client:
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
