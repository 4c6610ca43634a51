"""Faults of the HTTP service (issue 16), each as its user met it, on the real application (in-process ASGI, or
uvicorn on a port, or ``rastercover serve`` in a process): absurd numbers, values a band cannot hold, unreadable
catalogue entries, server paths in answers and files, memory under concurrent exports, the API key on static
files and in the access log, and PostgreSQL's 63-byte identifiers."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from rastercover import errors as rc_errors
from rastercover.formats import available_formats
from rastercover.server.app import create_app
from rastercover.server.catalog import Catalog
from rastercover.server.jobs import JobManager
from rastercover.server.limits import gdal_cache_bytes, set_gdal_cache
from rastercover.server.page import STATIC_COOKIE
from rastercover.server.problems import problem_for
from rastercover.server.redact import Redactor
from rastercover.server.settings import Settings
from tests.live_server import serve_in_thread

PROBLEM = "application/problem+json"
T = Affine(30, 0, 150000, 0, -30, 420000)
W, H = 40, 30
SQUARE = [[150030, 419130], [150600, 419130], [150600, 419700], [150030, 419700], [150030, 419130]]
KEY = "s3cret-key-42"


# ---------------------------------------------------------------------------------------------- data and servers
def _tif(path: Path, dtype: str = "float32", nodata: float = -9999, **extra) -> None:
    with rasterio.open(
        path, "w", driver="GTiff", width=W, height=H, count=1, dtype=dtype, nodata=nodata, crs="EPSG:32198",
        transform=T, **extra,
    ) as ds:  # fmt: skip
        ds.write(np.arange(W * H, dtype=dtype).reshape(1, H, W) % 100)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Path:
    """dem.tif, grid16.tif (int16), zones.gpkg (one square, fid 1) and three broken entries: x.tif (a text
    file), broken.geojson (not JSON) and corrupt.tif (a GeoTIFF cut short: its header reads, its pixels not)."""
    d = tmp_path_factory.mktemp("served")
    _tif(d / "dem.tif")
    _tif(d / "grid16.tif", dtype="int16", nodata=-1)
    _tif(d / "corrupt.tif", tiled=True, blockxsize=16, blockysize=16, compress="deflate")
    size = (d / "corrupt.tif").stat().st_size
    with open(d / "corrupt.tif", "r+b") as f:
        f.truncate(size * 2 // 3)
    (d / "x.tif").write_text("this is not a raster\n")
    (d / "broken.geojson").write_text("{ not json")
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Polygon(SQUARE)], crs="EPSG:32198").to_file(
        d / "zones.gpkg", driver="GPKG"
    )
    return d


@pytest.fixture
def temp(tmp_path) -> Path:
    out = tmp_path / "exports"
    out.mkdir()
    return out


def _app(served: Path, temp: Path, **settings):
    return create_app(Catalog.from_sources([served]), Settings(**settings), temp_dir=str(temp))


def _problem(r, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM, r.text
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for w in words:
        assert w in body["detail"], body
    return body


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




def _fetch(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """GET (or POST ``data``) without a proxy: status, headers (lower-case names), body; errors are answers too."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=60) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def _feature(value) -> dict:
    return {"type": "Feature", "properties": {"h": value}, "geometry": {"type": "Polygon", "coordinates": [SQUARE]}}


# ---------------------------------------------------------------------------------------------- 1. absurd numbers
@pytest.mark.parametrize(
    ("url", "text", "field"),
    [
        ("/rasterize", '"grid": {"crs": "EPSG:32198", "bounds": [0, 0, 1e400, 1], "resolution": 1}', "grid.bounds.2"),
        ("/rasterize", '"grid": {"crs": "EPSG:32198", "bounds": [-1e308, -1e308, 1e308, 1e308], "resolution": 1e308}',
         "grid"),
        ("/rasterize", '"grid": {"crs": "EPSG:32198", "bounds": [0, 0, 1e308, 1], "resolution": 1}', "grid"),
        ("/rasterize", '"grid": {"crs": "EPSG:32198", "bounds": [0, 0, 9, 9], "resolution": Infinity}',
         "grid.resolution"),
        ("/rasterize", '"grid": {"crs": "EPSG:32198", "bounds": [0, 0, 9, 9], "resolution": -0.0}', "grid.resolution"),
        ("/rasterize", '"grid": {"crs": "EPSG:32198", "bounds": [0, 0, 9, 9], "resolution": 1, "tile_size": 1e400}',
         "grid.tile_size"),
        ("/rasterize", '"like": "dem", "bbox": [NaN, 0, 1, 1]', "bbox.0"),
        ("/rasterize", '"like": "dem", "nodata": 1e400', "nodata"),
        ("/rasterize", '"like": "dem", "nodata": "-Infinity"', "nodata"),
        ("/coverages/dem/export", '"bbox": [0, 0, 1e400, 1]', "bbox.2"),
        ("/coverages/dem/export", '"buffer": -1e400, "clip": "POINT(150300 419500)"', "buffer"),
        ("/coverages/dem/export", '"nodata": NaN, "resolution": Infinity', "resolution"),
        ("/coverages/dem/export", '"clip_layer": "zones", "clip_id": 99999999999999999999999', "clip_id"),
    ],
)  # fmt: skip
def test_non_finite_and_absurd_numbers_are_a_422_naming_the_field(served, temp, url, text, field):
    """JSON's 1e400 is infinity for Python's reader (a 500 OverflowError in the grid before): every number is
    checked where the request is read, and the problem names the field."""
    body = "{" + (f'"features": {json.dumps(_feature(1))}, "value": "h", ' if url == "/rasterize" else "") + text + "}"
    c = TestClient(_app(served, temp))
    r = c.post(url, content=body, headers={"content-type": "application/json"})
    assert field in _problem(r, 422)["detail"], r.text
    assert os.listdir(temp) == []


def test_an_overflow_deep_in_an_export_is_a_422(served, temp):
    """A resolution that overflows the warp (``5e-324``: the size in pixels is infinite) is the request's fault:
    a piece too large (the warp refuses it by name), never a 500."""
    c = TestClient(_app(served, temp))
    r = c.get("/coverages/dem/export", params={"crs": "EPSG:4326", "resolution": "5e-324"})
    _problem(r, 413, "coarser resolution")
    r = c.get("/wcs", params={"service": "WCS", "version": "1.0.0", "request": "GetCoverage", "coverage": "dem",
                              "crs": "EPSG:32198", "response_crs": "EPSG:4326", "resx": "5e-324", "resy": "5e-324",
                              "format": "GeoTIFF"})  # fmt: skip
    # WCS 1.0.0 answers every refusal with status 200 and a ServiceExceptionReport (its spec, what OWSLib reads)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.ogc.se_xml"), r.text
    assert b"InvalidParameterValue" in r.content and b"coarser resolution" in r.content, r.text


# ---------------------------------------------------------------------------------------------- 2. errors -> statuses
def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def test_every_rastercover_error_is_a_non_500_problem():
    import rastercover.io.wkb_raster  # its errors join the tree
    import rastercover.server.problems  # noqa: F401

    classes = [rc_errors.RastercoverError, *_subclasses(rc_errors.RastercoverError)]
    assert rc_errors.OutputError in classes and rc_errors.SourceError in classes
    for cls in classes:
        exc = cls.__new__(cls)  # some take more arguments: the message is what counts here
        Exception.__init__(exc, "/srv/secret/x.tif: something")
        status, body = problem_for(exc)
        assert 400 <= status < 600 and status != 500, (cls, status)
        assert body["status"] == status and body["detail"]
    assert problem_for(rc_errors.NoSpaceError("/srv/out.tif: no space left"))[0] == 507
    assert problem_for(rc_errors.OutputError("values do not fit int16"))[0] == 422
    full = rc_errors.OutputError("writing failed")
    full.errno = 28  # ENOSPC, as an OutputError carrying the OSError's errno
    assert problem_for(full)[0] == 507
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            raise rc_errors.OutputError("/tmp/x.tif: cannot write it") from None
    except rc_errors.OutputError as exc:
        status, body = problem_for(exc)
    assert status == 507 and "/tmp" not in body["detail"]


@pytest.mark.parametrize(("value", "words"), [(1e6, "does not fit the int16 band"), (1e308, "AREA_WEIGHTED_MEAN")])
def test_a_value_the_band_cannot_hold_is_a_422_or_a_failed_job(served, temp, value, words):
    """1e308 into an int16 band (a 500 before; 1e6 does not fit either): the engine's one line, as the CLI prints
    it, as a 422; as a job, ``failed`` with that line (and no server path)."""
    body = {"features": _feature(value), "value": "h", "like": "grid16", "dtype": "int16", "nodata": -1,
            "methods": ["AREA_WEIGHTED_MEAN_OF_VALUES"]}  # fmt: skip
    with TestClient(_app(served, temp)) as c:
        p = _problem(c.post("/rasterize", json=body), 422, words)
        job = c.post("/rasterize", json=body, headers={"Prefer": "respond-async"}).json()
        assert c.app.state.jobs.wait(job["id"], timeout=60).status == "failed"
        status = c.get(f"/jobs/{job['id']}").json()
        assert status["status"] == "failed" and status["error"]["status"] == 422
        assert status["error"]["detail"] == p["detail"] and "\n" not in p["detail"]
        _problem(c.get(f"/jobs/{job['id']}/result"), 422)
        assert str(temp) not in json.dumps(status) and os.listdir(temp) == []


def test_a_failed_job_says_why_without_its_folder(tmp_path):
    """A job whose work fails on a write names the file, never the server's folder."""
    manager = JobManager(Settings(max_jobs=1), temp_dir=str(tmp_path), redact=Redactor(Catalog(), [str(tmp_path)]))

    def work(job):
        raise rc_errors.OutputError(f"{job.folder}/rasterized.tif: cannot write there (Permission denied)\nmore")

    try:
        job = manager.wait(manager.submit(work, title="t").id, timeout=30)
    finally:
        manager.shutdown()
    assert job.status == "failed" and job.problem[0] == 422
    assert job.problem[1]["detail"] == "rasterized.tif: cannot write there (Permission denied)"


# ---------------------------------------------------------------------------------------------- 3. unreadable entries
def test_unreadable_entries_are_listed_unavailable_and_the_others_work(served, temp, caplog):
    """One text file named x.tif made GET /coverages (and the page) a 500 for every coverage."""
    caplog.set_level(logging.WARNING, logger="rastercover.server")
    with TestClient(_app(served, temp)) as c:  # the lifespan opens every entry once
        warned = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
        assert sorted(w.split(":")[0] for w in warned) == [
            "coverage 'x' is unavailable",
            "layer 'broken' is unavailable",
        ]
        listed = {e["id"]: e for e in c.get("/coverages").json()}
        assert listed["x"] == {"id": "x", "title": "x.tif", "available": False, "problem": "not a raster GDAL can read",
                               "links": {"self": "/coverages/x"}}  # fmt: skip
        assert listed["dem"]["available"] is True and listed["dem"]["width"] == W
        layers = {e["id"]: e for e in c.get("/layers").json()}
        assert layers["broken"]["available"] is False and layers["zones"]["available"] is True
        assert c.get("/").status_code == 200
        for url in ("/coverages/x", "/coverages/x/export", "/coverages/x/preview.png"):
            _problem(c.get(url), 503, "coverage 'x' is unavailable: not a raster GDAL can read")
        _problem(c.get("/layers/broken"), 503, "layer 'broken' is unavailable")
        _problem(c.get("/coverages/dem/export", params={"clip_layer": "broken", "clip_id": 1}), 503, "broken")
        _problem(c.post("/rasterize", json={"features": _feature(1), "value": "h", "like": "x"}), 503, "'x'")
        wcs = c.get("/wcs", params={"service": "WCS", "version": "2.0.1", "request": "GetCoverage", "coverageid": "x"})
        assert wcs.status_code == 503 and b"NoApplicableCode" in wcs.content and b"unavailable" in wcs.content
        caps = c.get("/wcs", params={"service": "WCS", "request": "GetCapabilities"}).text
        assert "<wcs:CoverageId>dem</wcs:CoverageId>" in caps and "<wcs:CoverageId>x</wcs:CoverageId>" not in caps
        assert c.get("/coverages/dem/export").status_code == 200
        again = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(again) == len(warned)  # logged once, at start, not at every request


def test_a_corrupt_coverage_is_a_503_without_a_traceback(served, temp):
    """A GeoTIFF whose header reads but whose pixels do not: the export and WCS fail cleanly."""
    c = TestClient(_app(served, temp), raise_server_exceptions=False)
    assert c.get("/coverages/corrupt").json()["available"] is True
    p = _problem(c.get("/coverages/corrupt/export"), 503)
    assert "Traceback" not in p["detail"] and str(served) not in p["detail"]
    for version, key in (("2.0.1", "coverageid"), ("1.0.0", "coverage")):
        params = {"service": "WCS", "version": version, "request": "GetCoverage", key: "corrupt", "format": "GeoTIFF"}
        if version == "1.0.0":
            params.update(crs="EPSG:32198", bbox=f"{T.c},{T.f - H * 30},{T.c + W * 30},{T.f}", width=W, height=H)
        r = c.get("/wcs", params=params)
        status = 200 if version == "1.0.0" else 503  # WCS 1.0.0: a ServiceExceptionReport with status 200
        assert r.status_code == status and b"Exception" in r.content and b"Traceback" not in r.content, r.text
    assert os.listdir(temp) == []


# ---------------------------------------------------------------------------------------------- 4. no server paths
def _leaks(data: bytes, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s.encode() in data]


def _members(content: bytes) -> dict[str, bytes]:
    if content[:2] != b"PK":
        return {"": content}
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_no_server_path_in_any_answer_header_or_file(served, temp):
    """Problem details, WCS exception reports, job errors, headers and the files of every export format (netCDF's
    history named the server's temporary file) never hold the served folder nor the temporary folder."""
    secrets = sorted({str(served), os.path.realpath(served), str(temp), os.path.realpath(temp)})
    with TestClient(_app(served, temp), raise_server_exceptions=False) as c:
        answers = [
            c.get("/coverages"), c.get("/layers"), c.get("/coverages/dem"), c.get("/layers/zones"),
            c.get("/coverages/x"), c.get("/coverages/corrupt/export"), c.get("/coverages/dem/export?bands=7"),
            c.get("/coverages/dem/export?clip_layer=zones&clip_id=99"), c.get("/coverages/dem/export?format=nope"),
            c.post("/rasterize", json={"features": _feature(1e308), "value": "h", "like": "grid16", "dtype": "int16",
                                       "nodata": -1}),
            c.post("/rasterize", json={"layer": "zones", "value": "nope", "like": "dem"}),
            c.get("/wcs?service=WCS&version=2.0.1&request=GetCoverage&coverageid=x"),
            c.get("/wcs?service=WCS&version=2.0.1&request=GetCoverage&coverageid=corrupt"),
            c.get("/wcs?service=WCS&version=1.0.0&request=GetCoverage&coverage=x&crs=EPSG:32198&bbox=0,0,1,1&width=1"
                  "&height=1&format=GeoTIFF"),
            c.get("/wcs?service=WCS&version=2.0.1&request=DescribeCoverage&coverageid=dem,x"),
            c.get("/wcs?service=WCS&request=GetCapabilities"),
        ]  # fmt: skip
        job = c.post("/rasterize", headers={"Prefer": "respond-async"}, json={"features": _feature(1e308), "value": "h",
                     "like": "grid16", "dtype": "int16", "nodata": -1}).json()  # fmt: skip
        c.app.state.jobs.wait(job["id"], timeout=60)
        answers += [c.get(f"/jobs/{job['id']}"), c.get(f"/jobs/{job['id']}/result"), c.get("/jobs")]
        formats = [f.key for f in available_formats()]
        assert "netcdf" in formats  # the format that leaked
        for key in formats:
            for zipped in ("false", "true"):
                r = c.get(
                    "/coverages/dem/export",
                    params={"format": key, "zipped": zipped, "bbox": "150000,419200,150600,419700"},
                )
                if r.status_code == 200:
                    for name, data in _members(r.content).items():
                        assert not _leaks(data, secrets), (key, zipped, name)
                answers.append(r)
        rasterized = c.post(
            "/rasterize", json={"features": _feature(3), "value": "h", "like": "dem", "format": "netcdf"}
        )
        assert rasterized.status_code == 200
        answers.append(rasterized)
    for r in answers:
        head = "\n".join(f"{k}: {v}" for k, v in r.headers.items()).encode()
        where = f"{r.request.method} {r.request.url} -> {r.status_code}"
        assert not _leaks(head, secrets), where
        if r.status_code != 200 or "xml" in r.headers["content-type"] or "json" in r.headers["content-type"]:
            assert not _leaks(r.content, secrets), f"{where}: {r.text[:300]}"
    with rasterio.MemoryFile(rasterized.content) as mem, mem.open() as ds:
        assert "NC_GLOBAL#history" not in ds.tags()


# ---------------------------------------------------------------------------------------------- 5. memory
def test_exports_beyond_the_cap_are_429_with_retry_after(served, temp):
    """Every slot taken (the server's own slots, held here as an export holds one): an export, a direct
    /rasterize and a WCS GetCoverage are refused at once, with Retry-After; a slot back, they are answered."""
    app = _app(served, temp, max_exports=1, export_retry_after=7)
    slots = app.state.export_slots
    with serve_in_thread(app) as base:
        body = json.dumps({"features": _feature(2), "value": "h", "like": "dem"}).encode()
        calls = [
            (f"{base}/coverages/dem/export", None, {}),
            (f"{base}/rasterize", body, {"content-type": "application/json"}),
            (f"{base}/wcs?service=WCS&version=2.0.1&request=GetCoverage&coverageid=dem", None, {}),
        ]
        with slots.hold():
            for url, data, headers in calls:
                status, head, content = _fetch(url, data, headers)
                assert (status, head.get("retry-after")) == (429, "7"), (url, content[:300])
                assert b"the limit is 1" in content
            assert slots.in_use == 1
        for url, data, headers in calls:
            assert _fetch(url, data, headers)[0] == 200, url
        assert slots.in_use == 0


def test_two_concurrent_exports_on_one_slot(served, temp, pg_url, pg_conn):
    """Two real concurrent exports, one slot: the first holds it while it waits for a table this test has locked
    (a clip feature read from PostGIS), the second gets 429 with Retry-After; unlocked, the first succeeds."""
    import psycopg
    import shapely

    from tests.pgload import load_features

    load_features(pg_conn, "fault_clips", np.array([shapely.Polygon(SQUARE)], dtype=object))
    catalog = Catalog.from_sources([served / "dem.tif", f"{pg_url}?table=fault_clips"])
    app = create_app(catalog, Settings(max_exports=1), temp_dir=str(temp))
    url = "/coverages/dem/export?clip_layer=fault_clips&clip_id=1"
    with serve_in_thread(app) as base, psycopg.connect(pg_url) as locker:
        locker.execute("LOCK TABLE fault_clips IN ACCESS EXCLUSIVE MODE")  # held until commit
        first: dict = {}
        thread = threading.Thread(target=lambda: first.update(answer=_fetch(base + url)))
        thread.start()
        deadline = time.monotonic() + 30
        waiting = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation " \
                  "WHERE c.relname = 'fault_clips' AND NOT l.granted"  # fmt: skip
        while not (app.state.export_slots.in_use == 1 and pg_conn.execute(waiting).fetchone()[0] > 0):
            assert time.monotonic() < deadline and thread.is_alive(), "the first export never reached the table"
            time.sleep(0.02)
        status, head, content = _fetch(base + url)
        assert status == 429 and head["retry-after"] == "5" and head["content-type"] == PROBLEM, content
        locker.commit()
        thread.join(60)
    assert first["answer"][0] == 200, first["answer"][2][:300]
    with rasterio.MemoryFile(first["answer"][2]) as mem, mem.open() as ds:
        assert (ds.width, ds.height) == (19, 19)


def test_the_gdal_cache_is_bounded_when_the_service_starts(served, temp):
    before = gdal_cache_bytes()
    try:
        with TestClient(_app(served, temp, gdal_cache_mb=64)):
            assert gdal_cache_bytes() == 64 * 1024 * 1024
        set_gdal_cache(before // (1024 * 1024) + 1)
        with TestClient(_app(served, temp, gdal_cache_mb=0)):  # 0: GDAL's own, untouched
            assert gdal_cache_bytes() == (before // (1024 * 1024) + 1) * 1024 * 1024
    finally:
        from rasterio.env import set_gdal_config

        set_gdal_config("GDAL_CACHEMAX", before)


# ---------------------------------------------------------------------------------------------- 6. the API key
def test_static_files_need_the_key_and_the_page_opens_them(served, temp):
    c = TestClient(_app(served, temp, api_key=KEY))
    _problem(c.get("/static/app.js"), 401)
    _problem(c.get("/static/leaflet/leaflet.css"), 401)
    assert c.get("/static/app.js", headers={"X-API-Key": KEY}).status_code == 200
    assert c.get("/static/app.js", params={"api_key": KEY}).status_code == 200
    assert c.get("/static/app.js", params={"api_key": "wrong"}).status_code == 401
    page = c.get("/", params={"api_key": KEY})
    assert page.status_code == 200 and KEY not in page.text
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{STATIC_COOKIE}=") and KEY not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/static" in cookie
    assert c.get("/static/app.js").status_code == 200  # the browser's cookie, as the page sends it
    assert c.get("/coverages").status_code == 401  # the cookie opens the static files only
    c.cookies.set(STATIC_COOKIE, "forged")
    assert c.get("/static/app.js").status_code == 401
    assert TestClient(_app(served, temp)).get("/static/app.js").status_code == 200  # no key: public


def test_the_api_key_is_not_written_to_the_access_log(served, tmp_path):
    """``rastercover serve --api-key``: uvicorn's access log shows api_key=***; an unreadable entry is one
    warning at start; the new options are taken."""
    port = _free_port()
    log_path = tmp_path / "serve.log"
    exe = shutil.which("rastercover", path=os.path.dirname(sys.executable)) or "rastercover"
    env = {**os.environ, "NO_PROXY": "127.0.0.1"}
    env.pop("RASTERCOVER_API_KEY", None)
    args = [exe, "serve", str(served), "--port", str(port), "--api-key", KEY, "--max-concurrent-exports", "2",
            "--gdal-cache-mb", "64"]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if _fetch(base + "/healthz")[0] == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        assert _fetch(f"{base}/coverages?api_key={KEY}")[0] == 200
        assert _fetch(f"{base}/coverages/dem/export?bbox=150000,419500,150300,419800&api_key={KEY}")[0] == 200
        assert _fetch(f"{base}/static/app.js?api%5Fkey={KEY}")[0] == 200
        assert _fetch(f"{base}/coverages/x?api_key={KEY}")[0] == 503
        assert _fetch(f"{base}/wcs?service=WCS&request=GetCapabilities&api_key={KEY}")[0] == 200
        assert _fetch(f"{base}/coverages?api_key=wrong-{KEY}")[0] == 401
    finally:
        proc.terminate()
        proc.wait(30)
    text = log_path.read_text()
    assert KEY not in text, text
    assert '"GET /coverages?api_key=*** HTTP/1.1" 200' in text, text
    assert "api%5Fkey=***" in text and "/wcs?service=WCS&request=GetCapabilities&api_key=***" in text, text
    assert text.count("coverage 'x' is unavailable") == 1, text
    assert str(served) not in text.split("coverage 'x' is unavailable")[0].splitlines()[-1]


def test_the_page_works_with_a_key_and_a_broken_entry(served, temp, tmp_path):
    """In a browser: the page opened as /?api_key= loads its scripts and styles (the cookie), lists the broken
    entry as unavailable, and downloads an export."""
    from tests.test_page import _browser_missing, _playwright, browser  # noqa: F401

    if _browser_missing:
        pytest.skip("the browser test needs chromium and playwright")
    from tests.test_page import CHROMIUM

    errors: list[str] = []
    with serve_in_thread(_app(served, temp, api_key=KEY)) as base, _playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = b.new_page(accept_downloads=True)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(  # the corrupt coverage's preview cannot be drawn: a 503, its image missing on the map
                "response",
                lambda r: (
                    errors.append(f"{r.url}: {r.status}") if r.status >= 400 and "/corrupt/" not in r.url else None
                ),
            )
            page.goto(f"{base}/?api_key={KEY}")
            page.wait_for_selector("#coverages li.unavailable[data-id='x']")
            assert "not a raster GDAL can read" in page.text_content("#coverages li[data-id='x']")
            page.wait_for_function("document.querySelectorAll('#map path.leaflet-interactive').length === 3")
            assert page.locator("#coverage option[value='x']").count() == 0
            assert page.locator("#layers li.unavailable[data-id='broken']").count() == 1
            page.select_option("#coverage", "dem")
            with page.expect_download() as info:
                page.click("#download")
            assert info.value.suggested_filename == "dem.tif"
        finally:
            b.close()
    assert not errors, errors


# ---------------------------------------------------------------------------------------------- 7. identifiers
def test_column_names_over_63_bytes_are_refused_for_a_postgis_layer(served, temp):
    """PostgreSQL truncates names to 63 bytes: a longer ``value`` could read another column. Refused before any
    connection (the database here does not even exist)."""
    catalog = Catalog.from_sources([served / "dem.tif"])
    catalog.add_layer("postgresql://nobody@127.0.0.1:9/none?table=stands", id="stands")
    c = TestClient(create_app(catalog, Settings(), temp_dir=str(temp)))
    long = "é" * 32  # 64 bytes, 32 characters
    p = _problem(c.post("/rasterize", json={"layer": "stands", "value": long, "like": "dem"}), 422, "value", "63 bytes")
    assert "64 bytes" in p["detail"]
    r = c.post("/rasterize", json={"layer": "stands", "value": "e" * 63, "like": "dem"})
    assert r.status_code == 503  # 63 bytes pass the check, then the database cannot be reached


def test_a_long_column_name_on_a_real_postgis_layer(served, temp, pg_url, pg_conn):
    import shapely

    from tests.pgload import load_features

    name63 = "v" * 63
    load_features(pg_conn, "fault_long", np.array([shapely.Polygon(SQUARE)], dtype=object), np.array([4.0]),
                  value_column=name63)  # fmt: skip
    catalog = Catalog.from_sources([served / "dem.tif", f"{pg_url}?table=fault_long"])
    c = TestClient(create_app(catalog, Settings(), temp_dir=str(temp)))
    ok = c.post("/rasterize", json={"layer": "fault_long", "value": name63, "like": "dem"})
    assert ok.status_code == 200, ok.text
    _problem(c.post("/rasterize", json={"layer": "fault_long", "value": name63 + "x", "like": "dem"}), 422, "63 bytes")


# ---------------------------------------------------------------------------------------------- redaction itself
def test_the_redactor_hides_sources_folders_and_databases(tmp_path):
    catalog = Catalog()
    catalog.add_coverage(str(tmp_path / "dem.tif"))
    catalog.add_layer("postgresql://u:pw@db.example.org:5432/gis?table=stands", id="stands")
    redact = Redactor(catalog, [str(tmp_path / "work")])
    assert redact(f"{tmp_path}/dem.tif: bad") == "dem: bad"
    assert redact(f"'{tmp_path}/dem.tif.ovr' is broken") == "'dem.tif.ovr' is broken"
    assert redact(f"cannot write {tmp_path}/work/job-1/out.tif (EIO)") == "cannot write out.tif (EIO)"
    assert redact(f"{tempfile.gettempdir()}/rastercover-x/a.nc: no") == "a.nc: no"
    assert "db.example.org" not in redact("postgresql://u@db.example.org:5432/gis?table=other: connecting failed")
