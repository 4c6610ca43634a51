"""POST /rasterize and /jobs: answers equal rastercover.rasterize of the same request; limits, errors, jobs.

The reference of every value is the Python API on the same features and grid (itself checked against per-pixel
shapely oracles in the engine tests); here the service must add nothing and lose nothing.
"""

from __future__ import annotations

import io
import json
import os
import threading
import zipfile

import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from rasterio.io import MemoryFile

import rastercover
from rastercover.grid import Grid
from rastercover.server import rasterize as rasterize_module
from rastercover.server.app import create_app
from rastercover.server.catalog import Catalog
from rastercover.server.settings import Settings

from .test_export import CRS_CODE, H, T, W, _write

X0, Y1 = T.c, T.f  # 150000, 420000; 30 m pixels, 50 x 40
X1, Y0 = X0 + 30 * W, Y1 - 30 * H
PROBLEM = "application/problem+json"
METHODS = ["AREA_WEIGHTED_MEAN_OF_VALUES", "COUNT_OF_POLYGONS", "VALUE_OF_BIGGEST"]

POLYS = [
    shapely.Polygon([(X0 + 40, Y0 + 35), (X0 + 700, Y0 + 90), (X0 + 520, Y0 + 610), (X0 + 40, Y0 + 35)]),
    shapely.box(X0 + 300.5, Y0 + 200.25, X0 + 1111, Y0 + 1013),
    shapely.Point(X0 + 1300, Y0 + 300).buffer(140),
]
VALUES = [3.5, -2.0, 11.0]


def _fc(polys=POLYS, values=VALUES, crs=None, prop="h"):
    fc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {prop: v}, "geometry": shapely.geometry.mapping(p)}
            for p, v in zip(polys, values, strict=True)
        ],
    }
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    return fc


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """dem.tif (50x40 float32, 16 px tiles) and zones.gpkg (the three polygons, column h)."""
    d = tmp_path_factory.mktemp("served")
    _write(d / "dem.tif", np.zeros((1, H, W), dtype="float32"), dtype="float32", nodata=-9999)
    gpd = pytest.importorskip("geopandas")
    pyogrio.write_dataframe(
        gpd.GeoDataFrame({"h": VALUES, "name": ["a", "b", "c"]}, geometry=POLYS, crs=CRS_CODE),
        d / "zones.gpkg",
        layer="zones",
    )
    return d


@pytest.fixture
def temp(tmp_path):
    out = tmp_path / "temp"
    out.mkdir()
    return out


def _app(served, temp, **settings):
    return create_app(Catalog.from_sources([served]), Settings(**settings), temp_dir=str(temp))


@pytest.fixture
def client(served, temp):
    return TestClient(_app(served, temp))


def _read(content: bytes):
    with MemoryFile(content) as mem, mem.open() as ds:
        return ds.crs.to_string(), ds.transform, ds.read(), ds.nodata, ds.descriptions


def _api(served, source=None, **kw):
    """What the Python API gives for the same request, as (transform, bands)."""
    grid = kw.pop("grid", None) or rastercover.open_grid(served / "dem.tif")
    if source is None:
        source = list(zip(POLYS, VALUES, strict=True))
        kw.setdefault("assume_crs", CRS_CODE)
    da = rastercover.rasterize(source, grid, methods=kw.pop("methods", METHODS), **kw)
    return grid.transform, da.values


def _problem(r, status, *words):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    for w in words:
        assert w in r.json()["detail"], r.json()["detail"]
    return r.json()


# ---------------------------------------------------------------------------------------------- direct answers
def test_inline_features_equal_the_api(client, served, temp):
    r = client.post("/rasterize", json={"features": _fc(), "value": "h", "like": "dem", "methods": METHODS})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/tiff; application=geotiff"
    assert r.headers["content-disposition"] == 'attachment; filename="rasterized.tif"'
    crs, transform, data, nodata, names = _read(r.content)
    want_t, want = _api(served)
    assert crs == CRS_CODE and transform == want_t and nodata == -9999
    assert names == tuple(METHODS)
    np.testing.assert_array_equal(data, want)
    assert (data[1] == 2).sum() > 10  # the two polygons overlap: the count sees both
    assert os.listdir(temp) == []  # the temporary folder is gone once sent


def test_a_catalogue_layer_equals_the_api_on_the_file(client, served):
    body = {"layer": "zones", "value": "h", "like": "dem", "methods": METHODS, "filename": "zones_on_dem"}
    r = client.post("/rasterize", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="zones_on_dem.tif"'
    _, transform, data, _, _ = _read(r.content)
    want_t, want = _api(served, str(served / "zones.gpkg"), value="h")
    assert transform == want_t
    np.testing.assert_array_equal(data, want)


def test_lon_lat_features_with_their_crs_member_are_reprojected(client, served):
    to_ll = Transformer.from_crs(CRS_CODE, "EPSG:4326", always_xy=True)
    ll = [shapely.transform(p, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1]))) for p in POLYS]
    r = client.post("/rasterize", json={"features": _fc(ll, crs="EPSG:4326"), "value": "h", "like": "dem"})
    assert r.status_code == 200, r.text
    want_t, want = _api(
        served,
        list(zip(ll, VALUES, strict=True)),
        assume_crs="EPSG:4326",
        methods=list(rastercover.api.DEFAULT_METHODS),
    )
    np.testing.assert_array_equal(_read(r.content)[2], want)
    # the same with crs= instead of the member
    r2 = client.post("/rasterize", json={"features": _fc(ll), "crs": "EPSG:4326", "value": "h", "like": "dem"})
    assert r2.content == r.content or np.array_equal(_read(r2.content)[2], want)
    # both, disagreeing: refused
    body = {"features": _fc(ll, crs="EPSG:4326"), "crs": CRS_CODE, "value": "h", "like": "dem"}
    _problem(client.post("/rasterize", json=body), 422, "EPSG:4326", "give one")
    # lon/lat without any CRS lands nowhere near the grid: refused with the hint
    _problem(client.post("/rasterize", json={"features": _fc(ll), "value": "h", "like": "dem"}), 422, "EPSG:4326")


def test_class_names_come_in_the_zip_from_inline_features_and_layers(client, served, temp):
    """The names go with the file in a zip (its .aux.xml, which GDAL reads through /vsizip), from an inline
    property (lon/lat features too: reprojected) or a layer's column; a download that cannot carry them is a 422."""
    import zipfile

    from rastercover.io.pam import read_class_tables

    names = ["a", "b", "c"]
    fc = _fc()
    for f, n in zip(fc["features"], names, strict=True):
        f["properties"]["name"] = n
    to_ll = Transformer.from_crs(CRS_CODE, "EPSG:4326", always_xy=True)
    ll = [shapely.transform(p, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1]))) for p in POLYS]
    fc_ll = _fc(ll, crs="EPSG:4326")
    for f, n in zip(fc_ll["features"], names, strict=True):
        f["properties"]["name"] = n
    bodies = [{"features": fc}, {"features": fc_ll}, {"layer": "zones"}]
    for body in bodies:
        body |= {"value": "h", "class_names": "name", "like": "dem", "methods": ["VALUE_OF_BIGGEST"], "zipped": True}
        r = client.post("/rasterize", json=body)
        assert r.status_code == 200, r.text
        path = temp.parent / "classes.zip"
        path.write_bytes(r.content)
        assert zipfile.ZipFile(path).namelist() == ["rasterized.tif", "rasterized.tif.aux.xml"]
        with zipfile.ZipFile(path) as z:
            z.extractall(temp.parent / "unzipped")
        table = read_class_tables(temp.parent / "unzipped" / "rasterized.tif", 1)[0]
        assert table == {3.5: "a", -2.0: "b", 11.0: "c"}, body  # float32 holds the three values exactly
    assert os.listdir(temp) == []
    body = {"features": fc, "value": "h", "class_names": "name", "like": "dem", "methods": ["VALUE_OF_BIGGEST"]}
    _problem(client.post("/rasterize", json=body), 422, "only a zip delivers", "zipped=true")
    _problem(client.post("/rasterize", json=body | {"zipped": True, "class_names": "nom"}), 422, "'nom'", "name")
    _problem(client.post("/rasterize", json=body | {"zipped": True, "methods": ["COUNT_OF_POLYGONS"]}), 422,
             "none of COUNT_OF_POLYGONS is one")  # fmt: skip


def test_explicit_grid(client, served):
    spec = {"crs": CRS_CODE, "bounds": [X0 + 7, Y0 + 3, X0 + 1493, Y0 + 1188], "resolution": [20, 25], "tile_size": 32}
    r = client.post("/rasterize", json={"features": _fc(), "value": "h", "grid": spec, "methods": METHODS[:1]})
    assert r.status_code == 200, r.text
    grid = Grid.from_bounds(spec["bounds"], (20, 25), CRS_CODE, 32)
    want_t, want = _api(served, grid=grid, methods=METHODS[:1])
    _, transform, data, _, _ = _read(r.content)
    assert transform == want_t and data.shape == (1, grid.height, grid.width)
    np.testing.assert_array_equal(data, want)


def test_bbox_and_crop_to_features_keep_the_lattice(client, served):
    full = _api(served)[1]
    body = {
        "features": _fc(),
        "value": "h",
        "like": "dem",
        "methods": METHODS,
        "bbox": [X0 + 95, Y0 + 61, X0 + 400, Y0 + 299],
    }
    r = client.post("/rasterize", json=body)
    assert r.status_code == 200, r.text
    _, transform, data, _, _ = _read(r.content)
    col0, row0 = 3, 30  # snapped outward to whole pixels: x 95 -> 90, y 299 -> 300
    assert (transform.c, transform.f) == (X0 + 30 * col0, Y1 - 30 * row0)
    assert data.shape == (3, 8, 11)
    np.testing.assert_array_equal(data, full[:, row0 : row0 + 8, col0 : col0 + 11])
    # crop_to_features: the pixels meeting the features' bounds
    one = _fc(POLYS[2:], VALUES[2:])
    r = client.post("/rasterize", json={"features": one, "value": "h", "like": "dem", "crop_to_features": True})
    _, transform, data, _, _ = _read(r.content)
    x0, y0, x1, y1 = POLYS[2].bounds
    assert transform.c <= x0 < transform.c + 30 and transform.f >= y1 > transform.f - 30
    assert data.shape[2] == int(np.ceil((x1 - transform.c) / 30))
    # a bbox outside the grid
    _problem(client.post("/rasterize", json={**body, "bbox": [0, 0, 10, 10]}), 422, "does not meet the grid")


def test_other_formats(client, served):
    body = {"features": _fc(), "value": "h", "like": "dem", "methods": ["COUNT_OF_POLYGONS"], "format": "aaigrid"}
    r = client.post("/rasterize", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="rasterized.zip"'
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert sorted(z.namelist()) == ["rasterized.asc", "rasterized.prj"]
        text = z.read("rasterized.asc").decode()
    assert text.splitlines()[0].split() == ["ncols", str(W)]
    want = _api(served, methods=["COUNT_OF_POLYGONS"])[1][0]
    rows = [line.split() for line in text.splitlines()[6:]]
    np.testing.assert_array_equal(np.array(rows, dtype=float), want)
    body = {**body, "format": "cog", "dtype": "uint8", "nodata": 255}
    r = client.post("/rasterize", json=body)
    assert r.status_code == 200, r.text
    _, _, data, nodata, _ = _read(r.content)
    assert nodata == 255 and data.dtype == np.uint8
    np.testing.assert_array_equal(data[0], want)


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"layer": "zones"}, 422, ["either inline"]),
        ({"features": None}, 422, ["either inline"]),
        ({"grid": {"crs": CRS_CODE, "bounds": [0, 0, 10, 10], "resolution": 1}}, 422, ["either as a coverage"]),
        ({"like": None}, 422, ["either as a coverage"]),
        ({"like": "nope"}, 404, ["nope"]),
        ({"methods": ["NOT_A_METHOD"]}, 400, ["NOT_A_METHOD"]),
        ({"methods": []}, 422, ["no method"]),
        ({"value": "height"}, 422, ["'height'", "h"]),
        ({"value": None}, 422, ["AREA_WEIGHTED_MEAN_OF_VALUES", "value="]),
        ({"dtype": "complex64"}, 422, ["complex64"]),
        ({"dtype": "uint8", "nodata": -1}, 422, ["uint8"]),
        ({"nodata": "lots"}, 422, ["lots"]),
        ({"format": "bmp"}, 400, ["bmp"]),
        ({"crs": "EPSG:0"}, 422, ["EPSG:0"]),
        ({"bbox_crs": "EPSG:4326"}, 422, ["bbox"]),
        ({"features": {"type": "Feature", "properties": {}, "geometry": None}}, 422, ["no feature"]),
        ({"features": {"type": "Polygon", "coordinates": "x"}}, 422, ["not valid GeoJSON"]),
        ({"features": {"type": "Banana"}}, 422, ["Banana"]),
    ],
)
def test_bad_requests_are_clear_problems(client, change, status, words):
    body = {"features": _fc(), "value": "h", "like": "dem", "methods": ["AREA_WEIGHTED_MEAN_OF_VALUES"], **change}
    _problem(client.post("/rasterize", json=body), status, *words)


def test_validation_refusals(client):
    base = {"features": _fc(), "value": "h", "like": "dem"}
    assert client.post("/rasterize", json={**base, "sql": "DROP TABLE x"}).status_code == 422  # no extra fields
    assert client.post("/rasterize", json={**base, "filename": "../../etc/passwd"}).status_code == 422
    assert client.post("/rasterize", json={**base, "semantics": "fuzzy"}).status_code == 422
    assert (
        client.post("/rasterize", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    )
    _problem(client.post("/rasterize", json={**base, "layer": None, "features": None, "like": "../dem"}), 422)
    # a layer id that is a path or SQL is just an unknown id
    _problem(client.post("/rasterize", json={"layer": "/etc/passwd", "like": "dem"}), 404)
    body = {"layer": "zones; DROP TABLE zones", "like": "dem"}
    _problem(client.post("/rasterize", json=body), 404)


def test_limits(served, temp):
    c = TestClient(_app(served, temp, max_pixels=W * H * 2, max_vertices=50))
    body = {"features": _fc(), "value": "h", "like": "dem", "methods": METHODS[:2]}
    _problem(c.post("/rasterize", json=body), 413, "74 vertices")  # 65 in the circle alone
    small = _fc([shapely.box(X0, Y0, X0 + 100, Y0 + 100)], [1.0])
    assert c.post("/rasterize", json={**body, "features": small}).status_code == 200
    p = _problem(c.post("/rasterize", json={**body, "features": small, "methods": METHODS}), 413, "6000 pixels")
    assert "limit is 4000" in p["detail"]


# ---------------------------------------------------------------------------------------------- jobs
def _job_app(served, temp, **settings):
    return TestClient(_app(served, temp, direct_pixels=100, **settings))


def test_a_large_request_is_a_job_with_progress_and_a_result(served, temp):
    body = {"features": _fc(), "value": "h", "like": "dem", "methods": METHODS}
    with _job_app(served, temp) as c:
        r = c.post("/rasterize", json=body)
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/jobs/{job['id']}" == job["links"]["self"]
        assert job["status"] in ("accepted", "running", "successful")
        assert job["request"]["pixels"] == W * H * 3 and job["request"]["methods"] == METHODS
        c.app.state.jobs.wait(job["id"], timeout=60)
        status = c.get(f"/jobs/{job['id']}").json()
        assert status["status"] == "successful" and status["progress"]["percent"] == 100.0
        n_tiles = rastercover.open_grid(served / "dem.tif").n_tiles
        assert status["progress"]["done"] == status["progress"]["total"] == n_tiles
        assert status["links"]["result"] == f"/jobs/{job['id']}/result"
        assert status["result"]["filename"] == "rasterized.tif"
        assert [j["id"] for j in c.get("/jobs").json()] == [job["id"]]
        res = c.get(status["links"]["result"])
        assert res.status_code == 200 and res.headers["content-disposition"] == 'attachment; filename="rasterized.tif"'
        np.testing.assert_array_equal(_read(res.content)[2], _api(served)[1])
        assert c.get(status["links"]["result"]).content == res.content  # downloadable until it expires
        # the job's folder is the only thing in the temporary folder; DELETE removes it
        assert len(os.listdir(temp)) == 1
        assert c.delete(f"/jobs/{job['id']}").json()["status"] == "dismissed"
        assert os.listdir(temp) == []
        _problem(c.get(f"/jobs/{job['id']}"), 404)


def test_prefer_respond_async_makes_a_small_request_a_job(client):
    body = {"features": _fc(), "value": "h", "like": "dem"}
    r = client.post("/rasterize", json=body, headers={"Prefer": "respond-async"})
    assert r.status_code == 202 and r.headers["preference-applied"] == "respond-async"
    assert client.app.state.jobs.wait(r.json()["id"], timeout=60).status == "successful"


def test_a_job_that_fails_answers_its_problem(served, temp):
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 600, Y0 + 600), (X0 + 600, Y0), (X0, Y0 + 600), (X0, Y0)])
    body = {"features": _fc([bowtie], [1.0]), "value": "h", "like": "dem", "invalid": "error"}
    with _job_app(served, temp) as c:
        job = c.post("/rasterize", json=body).json()
        assert c.app.state.jobs.wait(job["id"], timeout=60).status == "failed"
        status = c.get(f"/jobs/{job['id']}").json()
        assert status["status"] == "failed" and status["error"]["status"] == 422
        assert "invalid" in status["error"]["detail"]
        _problem(c.get(f"/jobs/{job['id']}/result"), 422, "invalid")
        assert os.listdir(temp) == []  # nothing half-written is kept


@pytest.fixture
def gated(monkeypatch):
    """Jobs whose work waits at a gate (then takes one step): deterministic running / queued states."""
    gate, started = threading.Event(), threading.Semaphore(0)
    real = rasterize_module.run_plan

    def run_plan(plan, folder, job=None):
        if job is not None:
            job.total = 2
        started.release()
        assert gate.wait(30)
        if job is not None:
            job.advance(1)
        return real(plan, folder, job)

    monkeypatch.setattr(rasterize_module, "run_plan", run_plan)
    yield gate, started
    gate.set()


def test_running_jobs_queue_limit_and_cancel(served, temp, gated):
    gate, started = gated
    body = {"features": _fc(), "value": "h", "like": "dem"}
    with _job_app(served, temp, max_jobs=1, max_queued=1) as c:
        first = c.post("/rasterize", json=body).json()
        assert started.acquire(timeout=30)
        assert c.get(f"/jobs/{first['id']}").json()["status"] == "running"
        p = _problem(c.get(f"/jobs/{first['id']}/result"), 409, "running")
        assert p["status"] == 409
        second = c.post("/rasterize", json=body)
        assert second.status_code == 202 and second.json()["status"] == "accepted"  # waits for the one slot
        third = c.post("/rasterize", json=body)
        _problem(third, 429, "limit is 2")
        assert third.headers["retry-after"] == "10"
        # cancel the running one: it stops at its next step, its folder is deleted; the queued one runs
        assert c.delete(f"/jobs/{first['id']}").json()["status"] == "dismissed"
        gate.set()
        assert c.app.state.jobs.wait(second.json()["id"], timeout=60).status == "successful"
        _problem(c.get(f"/jobs/{first['id']}"), 404)
        assert sorted(os.listdir(temp)) == [os.path.basename(c.app.state.jobs.get(second.json()["id"]).folder)]
    assert os.listdir(temp) == []  # the service stopped: every job folder is gone


def test_finished_jobs_expire(served, temp):
    with _job_app(served, temp, job_ttl=0) as c:
        job = c.post("/rasterize", json={"features": _fc(), "value": "h", "like": "dem"}).json()
        c.app.state.jobs.wait(job["id"], timeout=60)
        _problem(c.get(f"/jobs/{job['id']}"), 404, "expired")
        assert os.listdir(temp) == []


def test_job_ids_are_checked(client):
    assert client.get("/jobs/../../etc").status_code == 404
    assert client.get("/jobs/nothex").status_code == 422
    _problem(client.get("/jobs/" + "0" * 32), 404)
    _problem(client.delete("/jobs/" + "0" * 32), 404)


def test_rasterize_and_jobs_need_the_api_key(served, temp):
    c = TestClient(_app(served, temp, api_key="s3cret"))
    body = {"features": _fc(), "value": "h", "like": "dem"}
    assert c.post("/rasterize", json=body).status_code == 401
    assert c.get("/jobs").status_code == 401
    assert c.post("/rasterize", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_openapi_documents_rasterize_and_jobs(client):
    spec = client.get("/openapi.json").json()
    assert {"/rasterize", "/jobs", "/jobs/{id}", "/jobs/{id}/result"} <= set(spec["paths"])
    responses = spec["paths"]["/rasterize"]["post"]["responses"]
    assert {"200", "202", "413"} <= set(responses)
    assert "delete" in spec["paths"]["/jobs/{id}"]
    assert json.dumps(spec)  # serialisable


# ---------------------------------------------------------------------------------------------- PostGIS, real data
def test_a_postgis_layer_on_a_postgis_coverage(pg_url, pg_conn, served, temp):
    from tests.pgload import load_features
    from tests.test_postgis_io import tile_raster_in_sql

    tile_raster_in_sql(pg_conn, "dem_svc", str(served / "dem.tif"), 16)
    load_features(pg_conn, "zones_svc", np.array(POLYS, dtype=object), VALUES, value_column="h")
    cat = Catalog.from_sources([f"{pg_url}?table=dem_svc", f"{pg_url}?table=zones_svc"])
    c = TestClient(create_app(cat, Settings(), temp_dir=str(temp)))
    r = c.post("/rasterize", json={"layer": "zones_svc", "value": "h", "like": "dem_svc", "methods": METHODS})
    assert r.status_code == 200, r.text
    _, transform, data, _, _ = _read(r.content)
    want_t, want = _api(served, str(served / "zones.gpkg"), value="h")
    assert transform == want_t
    np.testing.assert_array_equal(data, want)
    # the client's value name reaches SQL only as a quoted identifier: a hostile one is just a missing column
    body = {"layer": "zones_svc", "value": 'h"; DROP TABLE zones_svc; --', "like": "dem_svc", "methods": METHODS}
    _problem(c.post("/rasterize", json=body), 422)
    assert pg_conn.execute("SELECT count(*) FROM zones_svc").fetchone()[0] == 3


def test_real_data_job_alaska_trees_on_the_shaded_relief(realdata, temp):
    """VMap0 tree polygons (444, NAD27 Albers in US feet) onto the 1754 x 1394 Alaska relief (EPSG:2964): a job."""
    folder = realdata / "alaska_vmap0"
    methods = ["PROPORTION_OF_COVERED_AREA", "COUNT_OF_POLYGONS"]
    app = create_app(Catalog.from_sources([folder]), Settings(), temp_dir=str(temp))
    with TestClient(app) as c:
        r = c.post("/rasterize", json={"layer": "trees", "like": "sr_50m_alaska_nad", "methods": methods})
        assert r.status_code == 202, r.text  # 4.9 million pixels: over direct_pixels
        job = c.app.state.jobs.wait(r.json()["id"], timeout=300)
        status = c.get(f"/jobs/{job.id}").json()
        assert status["status"] == "successful", status
        assert status["progress"]["done"] == status["progress"]["total"] > 0
        _, transform, data, _, _ = _read(c.get(f"/jobs/{job.id}/result").content)
    want = rastercover.rasterize(str(folder / "trees.shp"), folder / "SR_50M_alaska_nad.tif", methods=methods)
    np.testing.assert_array_equal(data, want.values)
    assert 0.02 < float((data[0] > 0).mean()) < 0.9  # trees cover a real part of the state
