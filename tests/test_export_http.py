"""Exports over HTTP: as jobs with progress (like POST /rasterize), every export option of the library (clip id
column, buffer segments, a coverage's footprint as the clip, one file per tile), and a layer's features for the map.

Answers are compared with the Python API's on the same request (``plan_export`` + ``run_export``); the service
runs for real (FastAPI's TestClient, or uvicorn on a port for the jobs polled while they run).
"""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
import shapely.geometry
from affine import Affine
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile

from rastercover.exporting import export as export_api
from rastercover.exporting import plan_export
from rastercover.server.app import MAP_VERTICES, create_app
from rastercover.server.catalog import Catalog
from rastercover.server.settings import Settings

from .test_export import CRS_CODE, H, T, W, _write

X0, Y1 = T.c, T.f  # 150000, 420000
X1, Y0 = X0 + 30 * W, Y1 - 30 * H
PROBLEM = "application/problem+json"
#: The sparse coverage of the progress tests: 8192 x 8192 px of uint8 in 256 px tiles, four export chunks.
BIG = 8192


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """dem.tif (50x40 float32, 16 px tiles: 12 tiles), burned.gpkg (fid 1 and 2, names a and b), zone.tif (a
    raster inside the dem, its data an L shape) and footprints/ (a tile folder of two tiles)."""
    d = tmp_path_factory.mktemp("served")
    a = np.arange(H * W, dtype="float32").reshape(1, H, W)
    _write(d / "dem.tif", a, dtype="float32", nodata=-9999, names=["elevation"])
    gpd = pytest.importorskip("geopandas")
    polys = [shapely.box(X0 + 50, Y0 + 50, X0 + 400, Y0 + 300), shapely.box(X0 + 600, Y0 + 400, X0 + 1000, Y0 + 900)]
    pyogrio.write_dataframe(
        gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=polys, crs=CRS_CODE), d / "burned.gpkg", layer="burned"
    )
    zone = np.zeros((1, 20, 20), dtype="uint8")
    zone[0, :, :6] = 1  # an L: the left column band and the bottom row band hold data, the rest is nodata
    zone[0, 14:, :] = 1
    _write(
        d / "zone.tif", zone, dtype="uint8", nodata=0, tiled=False, transform=Affine(20, 0, X0 + 200, 0, -20, Y1 - 150)
    )
    tiles = d / "footprints"
    tiles.mkdir()
    for col in (0, 1):
        t = Affine(30, 0, X0 + 300 + col * 16 * 30, 0, -30, Y1 - 300)
        _write(tiles / f"r0_c{col}.tif", np.ones((1, 16, 16), "uint8"), dtype="uint8", nodata=0, tiled=False,
               transform=t)  # fmt: skip
    return d


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A folder with big.tif: a sparse GeoTIFF (tiny on disk) whose export is several chunks."""
    d = tmp_path_factory.mktemp("big")
    with rasterio.open(
        d / "big.tif", "w", driver="GTiff", width=BIG, height=BIG, count=1, dtype="uint8", nodata=0, crs=CRS_CODE,
        transform=Affine(10, 0, 0, 0, -10, BIG * 10), tiled=True, blockxsize=256, blockysize=256, sparse_ok=True,
    ) as ds:  # fmt: skip
        ds.write(np.full((1, 256, 256), 7, "uint8"), window=rasterio.windows.Window(256, 512, 256, 256))
    return d


@pytest.fixture
def temp(tmp_path):
    out = tmp_path / "work"
    out.mkdir()
    return out


def _client(served, temp, **settings) -> TestClient:
    return TestClient(create_app(Catalog.from_sources([served]), Settings(**settings), temp_dir=str(temp)))


@pytest.fixture
def client(served, temp):
    with _client(served, temp) as c:
        yield c


def _pixels(content: bytes):
    with MemoryFile(content) as mem, mem.open() as ds:
        return ds.transform, ds.read()


def _library(source, tmp_path, name="expected.tif", **options):
    """What the Python API writes for ``options``: (transform, pixels)."""
    out = tmp_path / name
    export_api(str(source), str(out), overwrite=True, **options)
    with rasterio.open(out) as ds:
        return ds.transform, ds.read()


def _problem(r, status, *words):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    for w in words:
        assert w in body["detail"], (w, body["detail"])
    return body


def _same(answer: bytes, expected) -> None:
    transform, pixels = _pixels(answer)
    assert transform == expected[0]
    np.testing.assert_array_equal(pixels, expected[1])


# ---------------------------------------------------------------------------------------------- jobs
def test_prefer_respond_async_makes_an_export_a_job_whose_result_is_the_file(client, temp):
    params = {"bbox": f"{X0},{Y0},{X0 + 600},{Y0 + 600}", "bands": "1"}
    direct = client.get("/coverages/dem/export", params=params)
    assert direct.status_code == 200
    r = client.get("/coverages/dem/export", params=params, headers={"Prefer": "respond-async"})
    assert r.status_code == 202, r.text
    assert r.headers["preference-applied"] == "respond-async"
    job = r.json()
    assert r.headers["location"] == f"/jobs/{job['id']}" == job["links"]["self"]
    assert job["title"] == "export" and job["status"] in ("accepted", "running", "successful")
    request = job["request"]
    assert request["coverage"] == "dem" and request["format"] == "gtiff" and request["filename"] == "dem_bbox_b1.tif"
    assert (request["width"], request["height"], request["pixels"]) == (20, 20, 400)
    assert job["progress"]["total"] == request["chunks"] == 1
    client.app.state.jobs.wait(job["id"], timeout=60)
    status = client.get(f"/jobs/{job['id']}").json()
    assert status["status"] == "successful" and status["progress"] == {"done": 1, "total": 1, "percent": 100.0}
    assert status["result"]["filename"] == "dem_bbox_b1.tif" and status["result"]["media_type"].startswith("image/tiff")
    res = client.get(status["links"]["result"])
    assert res.status_code == 200
    assert res.headers["content-disposition"] == 'attachment; filename="dem_bbox_b1.tif"'
    assert res.headers["content-type"] == direct.headers["content-type"]
    _same(res.content, _pixels(direct.content))
    assert len(os.listdir(temp)) == 1  # the job's folder, until it is deleted
    assert client.delete(f"/jobs/{job['id']}").json()["status"] == "dismissed"
    assert os.listdir(temp) == []


def test_a_large_post_export_is_a_job_and_a_get_stays_a_download(served, temp):
    """As POST /rasterize: a POST whose output is over direct_pixels becomes a job; a GET (a link a browser or
    curl downloads) answers the file whatever its size; a POST under the limit answers the file."""
    with _client(served, temp, direct_pixels=100) as c:
        body = {"bbox": [X0, Y0, X1, Y1], "format": "aaigrid"}
        r = c.post("/coverages/dem/export", json=body)
        assert r.status_code == 202 and "preference-applied" not in r.headers
        job = c.app.state.jobs.wait(r.json()["id"], timeout=60)
        assert job.status == "successful"
        res = c.get(f"/jobs/{job.id}/result")
        assert res.headers["content-disposition"] == 'attachment; filename="dem_bbox.zip"'
        assert sorted(zipfile.ZipFile(io.BytesIO(res.content)).namelist()) == ["dem_bbox.asc", "dem_bbox.prj"]
        got = c.get("/coverages/dem/export", params={"bbox": f"{X0},{Y0},{X1},{Y1}", "format": "aaigrid"})
        assert got.status_code == 200 and got.content[:2] == b"PK"
        small = c.post("/coverages/dem/export", json={"bbox": [X0, Y0, X0 + 90, Y0 + 90]})
        assert small.status_code == 200 and small.headers["content-disposition"].endswith('dem_bbox.tif"')


def test_an_export_job_counts_its_chunks(big, temp):
    """The job's total is the plan's chunks; its progress only grows, and ends at the total, with the file."""
    expected = plan_export(str(big / "big.tif"), None).steps
    assert expected == 4
    with _client(big, temp) as c:
        r = c.post("/coverages/big/export", json={}, headers={"Prefer": "respond-async"})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["progress"]["total"] == job["request"]["chunks"] == expected
        seen = []
        while True:  # poll as a client does (each answer is read, none is awaited)
            status = c.get(f"/jobs/{job['id']}").json()
            seen.append(status["progress"]["done"])
            if status["status"] not in ("accepted", "running"):
                break
            c.app.state.jobs.wait(job["id"], timeout=0.05)
        assert status["status"] == "successful", status
        assert seen == sorted(seen) and seen[-1] == expected and all(0 <= n <= expected for n in seen)
        res = c.get(status["links"]["result"])
        with MemoryFile(res.content) as mem, mem.open() as ds:
            assert (ds.width, ds.height) == (BIG, BIG) and ds.read(1, window=((512, 513), (256, 257)))[0, 0] == 7


def test_export_jobs_are_checked_before_they_start(client):
    """A bad request is a 4xx at once, never a job that fails; no folder is left."""
    temp = client.app.state.temp_dir
    bad = [
        ({"bbox": "1,2,3"}, 400, "four numbers"),
        ({"bands": "9"}, 422, "band"),
        ({"clip_layer": "nope", "clip_id": 1}, 404, "nope"),
        ({"format": "nope"}, 400, "nope"),
    ]
    for params, status, word in bad:
        r = client.get("/coverages/dem/export", params=params, headers={"Prefer": "respond-async"})
        _problem(r, status, word)
    assert client.get("/jobs").json() == [] and os.listdir(temp) == []


def test_a_job_that_fails_answers_its_problem_and_keeps_nothing(client, temp):
    """A clip keeping no pixel centre is known only once the pixels are read: the job fails with the 422."""
    sliver = f"POLYGON(({X0 + 1} {Y0 + 1},{X0 + 2} {Y0 + 1},{X0 + 2} {Y0 + 2},{X0 + 1} {Y0 + 1}))"
    r = client.get("/coverages/dem/export", params={"clip": sliver}, headers={"Prefer": "respond-async"})
    assert r.status_code == 202, r.text
    job = client.app.state.jobs.wait(r.json()["id"], timeout=60)
    assert job.status == "failed"
    status = client.get(f"/jobs/{job.id}").json()
    assert status["error"]["status"] == 422 and "all_touched" in status["error"]["detail"]
    _problem(client.get(f"/jobs/{job.id}/result"), 422, "all_touched")
    assert os.listdir(temp) == []


def test_openapi_documents_export_jobs_and_options(client):
    spec = client.get("/openapi.json").json()
    for method in ("get", "post"):
        op = spec["paths"]["/coverages/{id}/export"][method]
        assert {"200", "202", "429"} <= set(op["responses"])
        assert "prefer" in {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header"}
    names = {p["name"] for p in spec["paths"]["/coverages/{id}/export"]["get"]["parameters"]}
    assert {"clip_id_column", "buffer_segments", "clip_footprint", "per_tile", "crop"} <= names
    assert "/layers/{id}/features" in spec["paths"]


# ---------------------------------------------------------------------------------------------- options
def test_clip_id_column_over_http(client, served, tmp_path):
    by_name = client.get(
        "/coverages/dem/export", params={"clip_layer": "burned", "clip_id": "b", "clip_id_column": "name"}
    )
    assert by_name.status_code == 200, by_name.text
    by_fid = client.get("/coverages/dem/export", params={"clip_layer": "burned", "clip_id": 2})
    _same(by_name.content, _pixels(by_fid.content))
    expected = _library(served / "dem.tif", tmp_path, clip_layer=str(served / "burned.gpkg"), clip_id="b",
                        clip_id_column="name")  # fmt: skip
    _same(by_name.content, expected)
    posted = client.post(
        "/coverages/dem/export", json={"clip_layer": "burned", "clip_id": "a", "clip_id_column": "name"}
    )
    _same(posted.content, _library(served / "dem.tif", tmp_path, clip_layer=str(served / "burned.gpkg"), clip_id=1))
    unknown = {"clip_layer": "burned", "clip_id": "b", "clip_id_column": "nope"}
    p = _problem(client.get("/coverages/dem/export", params=unknown), 422, "nope", "name")
    assert str(served) not in p["detail"]
    _problem(client.get("/coverages/dem/export", params={"clip_id": "b", "clip_id_column": "name"}), 422, "clip_layer")
    assert client.get("/coverages/dem/export", params={"clip_layer": "burned", "clip_id": 1,
                                                       "clip_id_column": "a\x01b"}).status_code == 422  # fmt: skip


def test_buffer_segments_over_http(client, served, tmp_path):
    """A point buffered by 200 m: 1 segment per quarter makes a diamond, 8 (the default) nearly a circle."""
    point = f"POINT({X0 + 615} {Y0 + 615})"
    answers = {}
    for segments in (1, 8, None):
        params = {"clip": point, "buffer": 200} | ({"buffer_segments": segments} if segments else {})
        r = client.get("/coverages/dem/export", params=params)
        assert r.status_code == 200, r.text
        options = {"clip": point, "buffer": 200} | ({"buffer_segments": segments} if segments else {})
        _same(r.content, _library(served / "dem.tif", tmp_path, **options))
        answers[segments] = _pixels(r.content)[1]
    np.testing.assert_array_equal(answers[8], answers[None])
    assert (answers[1] != -9999).sum() < (answers[8] != -9999).sum()
    for bad in (0, 101, "x"):
        r = client.get("/coverages/dem/export", params={"clip": point, "buffer": 200, "buffer_segments": bad})
        assert r.status_code == 422, (bad, r.text)


def test_a_coverage_footprint_as_the_clip(client, served, tmp_path):
    """clip_layer names a catalogue coverage: its outline (extent) or its pixels with data (data), as the
    library does with the raster's own path; a tile folder's tile by its name."""
    zone = str(served / "zone.tif")
    for footprint in (None, "extent", "data"):
        params = {"clip_layer": "zone"} | ({"clip_footprint": footprint} if footprint else {})
        r = client.get("/coverages/dem/export", params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"] == 'attachment; filename="dem_clip.tif"'
        _same(r.content, _library(served / "dem.tif", tmp_path, clip_layer=zone, clip_footprint=footprint or "extent"))
    extent = _pixels(client.get("/coverages/dem/export", params={"clip_layer": "zone"}).content)[1]
    data = _pixels(
        client.get("/coverages/dem/export", params={"clip_layer": "zone", "clip_footprint": "data"}).content
    )[1]
    assert extent.shape == data.shape and (data != -9999).sum() < (extent != -9999).sum()
    # with envelope and buffer, by POST
    r = client.post("/coverages/dem/export", json={"clip_layer": "zone", "clip_footprint": "data", "buffer": 45})
    _same(r.content, _library(served / "dem.tif", tmp_path, clip_layer=zone, clip_footprint="data", buffer=45))
    # one tile of a tile folder, by its name
    tiles = str(served / "footprints")
    r = client.get("/coverages/dem/export", params={"clip_layer": "footprints", "clip_id": "r0_c1"})
    assert r.status_code == 200, r.text
    _same(r.content, _library(served / "dem.tif", tmp_path, clip_layer=tiles, clip_id="r0_c1"))
    whole = client.get("/coverages/dem/export", params={"clip_layer": "footprints"})
    assert _pixels(whole.content)[1].shape[2] > _pixels(r.content)[1].shape[2]


@pytest.mark.parametrize("clip_id", ["../dem.tif", "/etc/passwd", "r0_c1/../../x", ".hidden", "a b", "..", "c:\\x"])
def test_a_coverage_clip_id_is_a_name_never_a_path(client, served, clip_id):
    r = client.get("/coverages/dem/export", params={"clip_layer": "footprints", "clip_id": clip_id})
    body = _problem(r, 400, "file name")
    assert str(served) not in body["detail"]


def test_clip_layer_that_is_neither_a_layer_nor_a_coverage_is_404_listing_both(client, served):
    body = _problem(client.get("/coverages/dem/export", params={"clip_layer": "nope", "clip_id": 1}), 404, "nope")
    assert "burned" in body["detail"] and "zone" in body["detail"]
    assert client.get("/coverages/dem/export", params={"clip_layer": str(served / "zone.tif")}).status_code in (
        404,
        422,
    )
    _problem(client.get("/coverages/dem/export", params={"clip_layer": "burned", "clip_footprint": "data",
                                                          "clip_id": 1}), 422, "raster")  # fmt: skip
    assert (
        client.get("/coverages/dem/export", params={"clip_layer": "zone", "clip_footprint": "pixels"}).status_code
        == 422
    )


def test_per_tile_is_a_zip_of_the_tiles_as_a_file_or_a_job(client, served, tmp_path):
    bbox = (X0 + 100, Y0 + 100, X0 + 800, Y0 + 700)  # meets 2 x 2 of the 16 px tiles
    params = {"bbox": ",".join(map(str, bbox)), "per_tile": "true"}
    r = client.get("/coverages/dem/export", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == 'attachment; filename="dem_bbox_tiles.zip"'
    expected = tmp_path / "expected.zip"
    export_api(str(served / "dem.tif"), str(expected), bbox=bbox, per_tile=True)
    with zipfile.ZipFile(io.BytesIO(r.content)) as got, zipfile.ZipFile(expected) as ref:
        names = sorted(ref.namelist())  # dem_r0_c0.tif...: the tiles are named for the download, dem_bbox_r0_c0.tif
        assert sorted(got.namelist()) == [n.replace("dem_", "dem_bbox_", 1) for n in names] and len(names) == 4
        for n in names:
            _same(got.read(n.replace("dem_", "dem_bbox_", 1)), _pixels(ref.read(n)))
    r2 = client.get("/coverages/dem/export", params={**params, "filename": "mydem"})
    with zipfile.ZipFile(io.BytesIO(r2.content)) as got:  # the client's name, never the server's file or table
        assert sorted(got.namelist()) == [n.replace("dem_", "mydem_bbox_", 1) for n in names]
    job = client.get("/coverages/dem/export", params=params, headers={"Prefer": "respond-async"}).json()
    assert job["progress"]["total"] == 4  # a step per tile
    assert client.app.state.jobs.wait(job["id"], timeout=60).status == "successful"
    status = client.get(f"/jobs/{job['id']}").json()
    assert status["progress"]["done"] == 4
    assert client.get(status["links"]["result"]).content == r.content
    _problem(client.get("/coverages/dem/export", params={**params, "zipped": "false"}), 422, "zip")
    _problem(client.get("/coverages/dem/export", params={**params, "crs": "EPSG:4326"}), 422, "warp")


def test_crop_postgis_over_http(client, served, tmp_path):
    clip = f"POLYGON(({X0 + 95} {Y0 + 95},{X0 + 605} {Y0 + 95},{X0 + 605} {Y0 + 605},{X0 + 95} {Y0 + 95}))"
    for crop in ("bounds", "postgis"):
        r = client.get("/coverages/dem/export", params={"clip": clip, "crop": crop})
        assert r.status_code == 200, r.text
        _same(r.content, _library(served / "dem.tif", tmp_path, clip=clip, crop=crop))
    assert client.get("/coverages/dem/export", params={"clip": clip, "crop": "x"}).status_code == 422


# ---------------------------------------------------------------------------------------------- PostGIS
def test_postgis_raster_table_and_layer_as_clips(served, temp, tmp_path, pg_url, pg_conn):
    """A PostGIS raster table in the catalogue is a coverage: clip by one of its rows (its rid); a PostGIS
    vector layer takes clip_id_column, and a column name PostgreSQL would truncate is refused; a table's and a
    view's features are drawn on the map."""
    from tests.pgload import load_features
    from tests.test_postgis_io import loc, tile_raster_in_sql

    load_features(pg_conn, "http_clips", np.array([shapely.box(X0 + 50, Y0 + 50, X0 + 400, Y0 + 300)], dtype=object))
    pg_conn.execute("ALTER TABLE http_clips ADD COLUMN code text DEFAULT 'k1'")
    pg_conn.execute("DROP VIEW IF EXISTS http_clips_v")
    pg_conn.execute("CREATE VIEW http_clips_v AS SELECT code, geom FROM http_clips")
    tile_raster_in_sql(pg_conn, "http_zones", served / "zone.tif", 10)
    pg_conn.execute("DROP TABLE IF EXISTS http_burned")
    pg_conn.execute("CREATE TABLE http_burned (rid serial PRIMARY KEY, rast raster)")
    for px, x, y in ((30.0, X0 + 60, Y0 + 500), (27.5, X0 + 200, Y0 + 400)):  # two pixel sizes: not a coverage
        pg_conn.execute(
            "INSERT INTO http_burned (rast) SELECT ST_AddBand(ST_MakeEmptyRaster(8, 6, %s, %s, %s, %s, 0, 0, "
            "ST_SRID(geom)), '8BUI'::text, 1, 0) FROM http_clips LIMIT 1",
            (x, y, px, -px),
        )
    sources = [served, *(loc(pg_url, t) for t in ("http_clips", "http_zones", "http_clips_v", "http_burned"))]
    catalog = Catalog.from_sources(sources)
    assert "http_zones" in catalog.coverages and "http_clips" in catalog.layers
    with TestClient(create_app(catalog, Settings(), temp_dir=str(temp))) as c:
        r = c.get("/coverages/dem/export", params={"clip_layer": "http_zones", "clip_id": 2})
        assert r.status_code == 200, r.text
        _same(r.content, _library(served / "dem.tif", tmp_path, clip_layer=loc(pg_url, "http_zones"), clip_id=2))
        r = c.get(
            "/coverages/dem/export", params={"clip_layer": "http_clips", "clip_id": "k1", "clip_id_column": "code"}
        )
        assert r.status_code == 200, r.text
        _same(r.content, _library(served / "dem.tif", tmp_path, clip_layer=loc(pg_url, "http_clips"), clip_id=1))
        long = "c" * 64
        _problem(c.get("/coverages/dem/export", params={"clip_layer": "http_clips", "clip_id": "k1",
                                                         "clip_id_column": long}), 422, "63 bytes")  # fmt: skip
        # the article's burnedarea: rasters on grids of their own, which do not form a coverage (listed as
        # unavailable), still clip by one row's footprint
        r = c.get("/coverages/dem/export", params={"clip_layer": "http_burned", "clip_id": 2, "envelope": "true"})
        assert r.status_code == 200, r.text
        _same(r.content, _library(served / "dem.tif", tmp_path, clip_layer=loc(pg_url, "http_burned"), clip_id=2,
                                  envelope=True))  # fmt: skip
        fc = c.get("/layers/http_clips/features").json()
        assert [f["id"] for f in fc["features"]] == [1]
        assert shapely.geometry.shape(fc["features"][0]["geometry"]).area > 0
        view = c.get("/layers/http_clips_v/features").json()  # a view has no key: its features have no id
        assert [f["id"] for f in view["features"]] == [None]
        assert view["features"][0]["geometry"] == fc["features"][0]["geometry"]


# ---------------------------------------------------------------------------------------------- map features
def test_layer_features_are_geojson_in_lon_lat_with_clip_ids(client):
    r = client.get("/layers/burned/features")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["numberReturned"] == 2 and fc["truncated"] is False
    assert [f["id"] for f in fc["features"]] == [1, 2] == [f["properties"]["id"] for f in fc["features"]]
    from pyproj import Transformer

    to_ll = Transformer.from_crs(CRS_CODE, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(X0 + 50, Y0 + 50)
    coords = np.array(fc["features"][0]["geometry"]["coordinates"][0])
    assert np.abs(coords - [lon, lat]).sum(axis=1).min() < 1e-9  # a corner of feature 1, in lon/lat
    one = client.get("/layers/burned/features", params={"limit": 1}).json()
    assert one["numberReturned"] == 1 and one["truncated"] is True
    for bad in (0, 5001, "x"):
        assert client.get("/layers/burned/features", params={"limit": bad}).status_code == 422
    _problem(client.get("/layers/nope/features"), 404, "nope")


def test_layer_features_are_bounded_and_simplified(served, temp, tmp_path):
    """A layer of 3000 features of 60 vertices each: at most MAP_VERTICES vertices are sent (truncated), and
    a very detailed ring is simplified."""
    gpd = pytest.importorskip("geopandas")
    d = tmp_path / "many"
    d.mkdir()
    centres = [(X0 + 10 * (i % 100), Y0 + 10 * (i // 100)) for i in range(3000)]
    circles = [shapely.Point(x, y).buffer(400, 15) for x, y in centres]
    pyogrio.write_dataframe(gpd.GeoDataFrame({"k": range(3000)}, geometry=circles, crs=CRS_CODE), d / "dots.gpkg")
    wiggly = shapely.Polygon([(X0 + 1000 * np.cos(t) + 0.001 * np.sin(50 * t), Y0 + 1000 * np.sin(t))
                              for t in np.linspace(0, 2 * np.pi, 20001)[:-1]])  # fmt: skip
    pyogrio.write_dataframe(gpd.GeoDataFrame({"k": [1]}, geometry=[wiggly], crs=CRS_CODE), d / "wiggly.gpkg")
    with _client(d, temp) as c:
        fc = c.get("/layers/dots/features", params={"limit": 5000}).json()
        sent = sum(len(f["geometry"]["coordinates"][0]) for f in fc["features"])
        assert fc["truncated"] is True and 0 < sent <= MAP_VERTICES and fc["numberReturned"] < 3000
        w = c.get("/layers/wiggly/features").json()
        assert w["truncated"] is False and len(w["features"][0]["geometry"]["coordinates"][0]) < 2000
