"""The HTTP service: metadata, exports equal to the Python API's, problem details, limits, API key, CLI."""

from __future__ import annotations

import io
import json
import math
import os
import zipfile

import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pyproj import Transformer
from rasterio.io import MemoryFile

import rastercover
from rastercover.cli.main import cli
from rastercover.exporting import export_file
from rastercover.server.app import create_app
from rastercover.server.catalog import Catalog
from rastercover.server.settings import Settings

from .test_export import CRS_CODE, H, T, W, _write

X0, Y1 = T.c, T.f  # 150000, 420000
X1, Y0 = X0 + 30 * W, Y1 - 30 * H
PROBLEM = "application/problem+json"
GTIFF = "image/tiff; application=geotiff"
TRIANGLE = f"POLYGON(({X0 + 100} {Y0 + 100},{X0 + 700} {Y0 + 100},{X0 + 100} {Y0 + 800},{X0 + 100} {Y0 + 100}))"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A folder with dem.tif (50x40 float32, 16 px tiles) and burned.gpkg (two polygons, fid 1 and 2)."""
    d = tmp_path_factory.mktemp("served")
    a = np.arange(H * W, dtype="float32").reshape(1, H, W)
    a[0, 3, 5] = -9999
    _write(d / "dem.tif", a, dtype="float32", nodata=-9999, names=["elevation"])
    gpd = pytest.importorskip("geopandas")
    polys = [shapely.box(X0 + 50, Y0 + 50, X0 + 400, Y0 + 300), shapely.box(X0 + 600, Y0 + 400, X0 + 1000, Y0 + 900)]
    pyogrio.write_dataframe(
        gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=polys, crs=CRS_CODE), d / "burned.gpkg", layer="burned"
    )
    return d


@pytest.fixture
def tmpdir_(tmp_path):
    out = tmp_path / "exports"
    out.mkdir()
    return out


def _client(served, tmpdir_, **settings) -> TestClient:
    app = create_app(Catalog.from_sources([served]), Settings(**settings), temp_dir=str(tmpdir_))
    return TestClient(app)


@pytest.fixture
def client(served, tmpdir_):
    return _client(served, tmpdir_)


def _read(content: bytes):
    with MemoryFile(content) as mem, mem.open() as ds:
        return ds.crs.to_string(), ds.transform, ds.read(), ds.nodata


def _expected(served, **options):
    with export_file(str(served / "dem.tif"), **options) as f, open(f.path, "rb") as fh:
        return _read(fh.read())


def _problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    return body


# ---------------------------------------------------------------------- metadata
def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_coverage_metadata(client):
    assert [c["id"] for c in client.get("/coverages").json()] == ["dem"]
    m = client.get("/coverages/dem").json()
    assert m["crs"]["label"] == "EPSG:32198" and m["crs"]["epsg"] == 32198 and "PROJCRS" in m["crs"]["wkt"]
    assert m["bounds"] == [X0, Y0, X1, Y1]
    want = Transformer.from_crs(CRS_CODE, "EPSG:4326", always_xy=True).transform_bounds(X0, Y0, X1, Y1, densify_pts=21)
    assert m["bounds_wgs84"] == pytest.approx(list(want))
    assert -80 < m["bounds_wgs84"][0] < -60 and 40 < m["bounds_wgs84"][1] < 60
    assert (m["width"], m["height"], m["resolution"]) == (W, H, [30.0, 30.0])
    assert m["bands"] == [{"index": 1, "name": "elevation"}]
    assert (m["dtype"], m["nodata"]) == ("float32", -9999.0)
    assert m["tiles"] == {"width": 16, "height": 16, "rows": 3, "columns": 4, "count": 12}
    assert "gtiff" in m["formats"] and "aaigrid" in m["formats"]
    assert m["links"]["export"] == "/coverages/dem/export"
    assert m["links"]["preview"] == "/coverages/dem/preview.png"


def test_layer_metadata(client, served):
    assert [x["id"] for x in client.get("/layers").json()] == ["burned"]
    m = client.get("/layers/burned").json()
    assert m["feature_count"] == 2 and m["geometry_type"] == "Polygon"
    assert {"name": "name", "type": "object"} in m["fields"]
    assert m["crs"]["epsg"] == 32198
    assert m["bounds"] == [X0 + 50, Y0 + 50, X0 + 1000, Y0 + 900]
    assert len(m["bounds_wgs84"]) == 4
    assert str(served) not in json.dumps(m)


# ---------------------------------------------------------------------- exports
def test_export_get_bbox_equals_python_api(client, served, tmpdir_):
    bbox = (X0 + 100, Y0 + 200, X0 + 700, Y0 + 650)
    r = client.get("/coverages/dem/export", params={"bbox": ",".join(map(str, bbox))})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == GTIFF
    assert r.headers["content-disposition"] == 'attachment; filename="dem_bbox.tif"'
    crs, transform, data, nodata = _read(r.content)
    want = _expected(served, bbox=bbox)
    assert (crs, transform, nodata) == (*want[0:2], want[3])
    assert crs == "EPSG:32198" and transform.c == X0 + 90 and transform.f == Y0 + 660
    np.testing.assert_array_equal(data, want[2])
    assert data.shape == (1, 16, 21)
    assert os.listdir(tmpdir_) == []  # the temporary file went away after it was sent


def test_export_post_geojson_clip_with_buffer(client, served, tmpdir_):
    clip = shapely.geometry.mapping(shapely.from_wkt(TRIANGLE))
    body = {"clip": clip, "buffer": 45, "bands": [1], "dtype": "float64"}
    r = client.post("/coverages/dem/export", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="dem_clip_b1.tif"'
    got = _read(r.content)
    want = _expected(served, clip=json.dumps(clip), buffer=45, bands=[1], dtype="float64")
    assert got[:2] == want[:2] and got[3] == want[3] == -9999
    np.testing.assert_array_equal(got[2], want[2])
    assert got[2].dtype == np.float64 and (got[2] == -9999).any() and (got[2] != -9999).any()
    assert os.listdir(tmpdir_) == []


def test_export_get_wkt_clip_and_filename(client, served):
    r = client.get("/coverages/dem/export", params={"clip": TRIANGLE, "filename": "piece"})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="piece_clip.tif"'
    got, want = _read(r.content), _expected(served, clip=TRIANGLE)
    assert got[:2] == want[:2]
    np.testing.assert_array_equal(got[2], want[2])


def test_export_aaigrid_is_a_zip(client):
    r = client.get("/coverages/dem/export", params={"format": "aaigrid", "bbox": f"{X0},{Y0},{X0 + 90},{Y0 + 60}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == 'attachment; filename="dem_bbox.zip"'
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert sorted(names) == ["dem_bbox.asc", "dem_bbox.prj"]


def test_export_clip_by_catalogue_layer(client, served, tmpdir_):
    r = client.get("/coverages/dem/export", params={"clip_layer": "burned", "clip_id": "2", "envelope": "true"})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="dem_clip.tif"'
    got = _read(r.content)
    want = _expected(served, clip_layer=str(served / "burned.gpkg"), clip_id=2, envelope=True)
    assert got[:2] == want[:2]
    np.testing.assert_array_equal(got[2], want[2])
    assert got[1].c == X0 + 600 and got[2].shape == (1, 17, 14)
    r = client.post("/coverages/dem/export", json={"clip_layer": "burned", "clip_id": 1, "buffer": 30})
    assert r.status_code == 200, r.text
    want = _expected(served, clip_layer=str(served / "burned.gpkg"), clip_id=1, buffer=30)
    np.testing.assert_array_equal(_read(r.content)[2], want[2])
    assert os.listdir(tmpdir_) == []


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"crs": "EPSG:999999"}, 422, "unknown CRS"),
        ({"bbox_crs": "nonsense", "bbox": "0,0,1,1"}, 422, "unknown CRS"),
        ({"clip": "POLYGON EMPTY"}, 422, "empty"),
        ({"bbox": "0,0,10,10"}, 422, "does not meet the coverage"),
        ({"clip": "POLYGON((0 0,10 0,10 10,0 0))"}, 422, "coverage"),
        ({"bbox": "1,2,3"}, 400, "four numbers"),
        ({"clip": "not a geometry"}, 400, "neither WKT nor GeoJSON"),
        ({"format": "bmp"}, 400, "gtiff"),
        ({"bands": "3"}, 422, "no band 3"),
        ({"clip_layer": "burned", "clip_id": "99"}, 422, "99"),
    ],
)
def test_export_errors(client, served, tmpdir_, params, status, words):
    body = _problem(client.get("/coverages/dem/export", params=params), status)
    assert words.lower() in body["detail"].lower()
    assert str(served) not in body["detail"]  # never a server path
    assert os.listdir(tmpdir_) == []


def test_unknown_ids_are_404(client):
    assert "no coverage 'nope'" in _problem(client.get("/coverages/nope"), 404)["detail"]
    _problem(client.get("/coverages/nope/export"), 404)
    _problem(client.post("/coverages/nope/export", json={}), 404)
    _problem(client.get("/layers/nope"), 404)
    for layer in ["nope", "/etc/passwd", "../burned.gpkg", "burned; DROP TABLE burned", "burned.gpkg"]:
        r = client.get("/coverages/dem/export", params={"clip_layer": layer, "clip_id": "1"})
        assert "no layer" in _problem(r, 404)["detail"]
        r = client.post("/coverages/dem/export", json={"clip_layer": layer, "clip_id": 1})
        _problem(r, 404)


@pytest.mark.parametrize(
    "url",
    ["/coverages/..%2F..%2Fetc%2Fpasswd/export", "/coverages/%2Fetc%2Fpasswd", "/coverages/..%2Fdem.tif/export"],
)
def test_path_traversal_is_404(client, url):
    _problem(client.get(url), 404)


def test_limits(served, tmpdir_):
    c = _client(served, tmpdir_, max_pixels=100, max_vertices=20, max_body_bytes=2000)
    body = _problem(c.get("/coverages/dem/export"), 413)
    assert "100" in body["detail"]
    assert c.get("/coverages/dem/export", params={"bbox": f"{X0},{Y0},{X0 + 90},{Y0 + 60}"}).status_code == 200
    ring = shapely.Point(X0 + 600, Y0 + 600).buffer(200, quad_segs=8)  # 33 vertices
    assert "vertices" in _problem(c.get("/coverages/dem/export", params={"clip": ring.wkt}), 413)["detail"]
    assert _problem(c.post("/coverages/dem/export", json={"clip": ring.wkt}), 413)
    big = {"clip": "POINT (1 1)", "filename": "x", "dtype": " " * 3000}
    assert "bytes" in _problem(c.post("/coverages/dem/export", json=big), 413)["detail"]

    def chunks():  # no Content-Length: the body is counted as it arrives
        yield b'{"clip": "'
        for _ in range(10):
            yield b" " * 500
        yield b'"}'

    r = c.post("/coverages/dem/export", content=chunks(), headers={"content-type": "application/json"})
    _problem(r, 413)
    assert os.listdir(tmpdir_) == []


def test_bad_bodies(client):
    r = client.post("/coverages/dem/export", content=b"{not json", headers={"content-type": "application/json"})
    _problem(r, 400)
    assert "bbox" in _problem(client.post("/coverages/dem/export", json={"bbox": [1, 2]}), 422)["detail"]
    assert "nope" in _problem(client.post("/coverages/dem/export", json={"nope": 1}), 422)["detail"]


def test_unexpected_error_is_a_generic_500(served, tmpdir_, monkeypatch):
    import rastercover.server.app as app_module

    def boom(*a, **k):
        raise RuntimeError(f"{served}/secret went wrong")

    monkeypatch.setattr(app_module, "run_export", boom)
    app = create_app(Catalog.from_sources([served]), Settings(), temp_dir=str(tmpdir_))
    r = TestClient(app, raise_server_exceptions=False).get("/coverages/dem/export")
    body = _problem(r, 500)
    assert "secret" not in body["detail"] and str(served) not in r.text


def test_api_key(served, tmpdir_):
    c = _client(served, tmpdir_, api_key="s3cret")
    assert c.get("/healthz").status_code == 200
    for url in ["/coverages", "/coverages/dem", "/layers", "/coverages/dem/export"]:
        _problem(c.get(url), 401)
        _problem(c.get(url, headers={"X-API-Key": "wrong"}), 401)
    _problem(c.post("/coverages/dem/export", json={}), 401)
    _problem(c.get("/openapi.json"), 401)
    assert "/coverages/{id}/export" in c.get("/openapi.json", headers={"X-API-Key": "s3cret"}).json()["paths"]
    assert c.get("/coverages", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert c.get("/coverages", params={"api_key": "s3cret"}).status_code == 200
    r = c.get("/coverages/dem/export", params={"api_key": "s3cret", "bbox": f"{X0},{Y0},{X0 + 90},{Y0 + 60}"})
    assert r.status_code == 200 and r.headers["content-type"] == GTIFF


def test_cors_only_when_configured(served, tmpdir_):
    origin = {"Origin": "https://maps.example.org"}
    assert "access-control-allow-origin" not in _client(served, tmpdir_).get("/coverages", headers=origin).headers
    c = _client(served, tmpdir_, cors_origins=("https://maps.example.org",))
    assert c.get("/coverages", headers=origin).headers["access-control-allow-origin"] == "https://maps.example.org"


def test_openapi_documents_the_export(client):
    doc = client.get("/openapi.json").json()
    assert doc["info"]["title"] == "rastercover" and doc["info"]["version"] == rastercover.__version__
    get = doc["paths"]["/coverages/{id}/export"]["get"]
    names = {p["name"] for p in get["parameters"]}
    assert {"id", "format", "bbox", "bbox_crs", "clip", "clip_layer", "clip_id", "buffer", "crs", "filename"} <= names
    post = doc["paths"]["/coverages/{id}/export"]["post"]
    assert "requestBody" in post
    assert {"/healthz", "/coverages", "/coverages/{id}", "/layers", "/layers/{id}"} <= set(doc["paths"])


# ---------------------------------------------------------------------- the command
def test_serve_help():
    r = CliRunner().invoke(cli, ["serve", "--help"])
    assert r.exit_code == 0 and "--api-key" in r.output and "--max-pixels" in r.output


def test_serve_bad_source_exits_2_with_one_line(tmp_path, capsys):
    from .test_cli import run

    code, out, err = run(["serve", str(tmp_path / "missing.tif")], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and "no such file or folder" in err


def test_serve_builds_the_app_and_runs_uvicorn(served, monkeypatch, capsys):
    import uvicorn

    from .test_cli import run

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    code, out, _ = run(["serve", str(served), "--port", "9001", "--api-key", "k", "--max-pixels", "5"], capsys)
    assert code == 0
    assert "dem" in out and "burned" in out and "http://127.0.0.1:9001/" in out
    assert seen["port"] == 9001 and seen["host"] == "127.0.0.1"
    settings = seen["app"].state.settings
    assert settings.api_key == "k" and settings.max_pixels == 5


def test_serve_without_fastapi(served, monkeypatch, capsys):
    import sys

    from .test_cli import run

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    code, _, err = run(["serve", str(served)], capsys)
    assert code == 2 and "pip install 'rastercover[server]'" in err and err.strip().count("\n") == 0


def test_wgs84_bounds_are_finite(client):
    assert all(math.isfinite(v) for v in client.get("/coverages/dem").json()["bounds_wgs84"])


# ---------------------------------------------------------------------- found by tests/test_fuzz_api.py (were 500s)
def test_export_huge_resolution_is_one_pixel(client):
    """An output pixel so large that its area overflows floats (was OverflowError in warp_chunk: 500)."""
    r = client.get("/coverages/dem/export", params={"resolution": "1e200"})
    assert r.status_code == 200, r.text
    _, transform, data, _ = _read(r.content)
    assert data.shape == (1, 1, 1) and transform.a == 1e200


def test_export_clip_with_infinite_coordinates_is_422(client):
    """WKT numbers past the float range parse as inf (was a GEOS error in make_valid: 500)."""
    body = _problem(client.post("/coverages/dem/export", json={"clip": "POLYGON((0 0,1e400 0,0 1,0 0))"}), 422)
    assert "not finite" in body["detail"] and "give finite ones" in body["detail"]


def test_export_clip_buffer_past_the_float_range(tmp_path):
    """A buffer that makes the clip cover everything, in pixels past the float range (0.01° pixels, a 1e308 buffer;
    was OverflowError in _geometry_window: 500): the whole grid."""
    import rasterio
    from affine import Affine

    with rasterio.open(
        tmp_path / "fine.tif", "w", driver="GTiff", width=6, height=4, count=1, dtype="uint8", crs="EPSG:4326",
        transform=Affine(0.01, 0, -72, 0, -0.01, 47),
    ) as ds:  # fmt: skip
        ds.write(np.ones((1, 4, 6), dtype="uint8"))
    client = TestClient(create_app(Catalog.from_sources([tmp_path]), Settings()))
    clip = "POLYGON((-72 46.99,-71.99 46.99,-71.99 47,-72 46.99))"
    r = client.post("/coverages/fine/export", json={"clip": clip, "buffer": 1e308})
    assert r.status_code == 200, r.text
    assert _read(r.content)[2].shape == (1, 4, 6)


def test_export_clip_buffer_that_geos_cannot_compute_is_422(client):
    """Coordinates near the float limit make GEOS's buffer fail (was a GEOSException: 500)."""
    params = {"clip": "POLYGON((0 0,1e308 0,0 1e308,0 0))", "buffer": "-10"}
    body = _problem(client.get("/coverages/dem/export", params=params), 422)
    assert body["type"].endswith(":geometry") and "cannot be buffered by -10" in body["detail"]


def test_export_clip_too_large_to_reproject_is_422(client):
    """Edges longer than floats hold cannot be cut before reprojection (was a GEOSException in segmentize: 500)."""
    body = {"clip": "POLYGON((0 0,1e308 0,0 1e308,0 0))", "clip_crs": "EPSG:4326"}
    detail = _problem(client.post("/coverages/dem/export", json=body), 422)["detail"]
    assert "cannot be cut into short edges to reproject it" in detail and "coordinates are too large" in detail
