"""POST /regrid: answers equal rastercover.regrid of the same coverages and grid; jobs, errors, ids only.

The reference of every value is the Python API called on the same files (itself checked against exact overlap
oracles in the engine tests): the service must add nothing and lose nothing.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from rasterio.io import MemoryFile

import rastercover
from rastercover.server import rasterize as rasterize_module
from rastercover.server.app import create_app
from rastercover.server.catalog import Catalog
from rastercover.server.settings import Settings

CRS = "EPSG:32198"
PROBLEM = "application/problem+json"
X0, Y1 = 150000.0, 420000.0
W, H = 50, 40  # the source: 30 m pixels
METHODS = [
    "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES",
    "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES",
    "VALID_FRACTION",
]
COARSE = Affine(37, 0, X0 + 13, 0, -41, Y1 - 7)  # an offset lattice, neither pixel size a multiple of 30
CW, CH = 38, 27  # 3 x 2 tiles of 16


def _write(path, data, transform, *, dtype="float32", nodata=-9999.0, crs=CRS, block=16):
    profile = dict(
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        tiled=True,
        blockxsize=block,
        blockysize=block,
    )
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data.astype(dtype))
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """src.tif (2 bands, float32, holes of nodata), coarse.tif (the target lattice), classes.tif (uint8 classes),
    zones.gpkg (a vector layer)."""
    d = tmp_path_factory.mktemp("regrid_served")
    rng = np.random.default_rng(7)
    src = rng.uniform(0, 100, (2, H, W)).round(3)
    src[0, 3:7, 4:9] = -9999  # holes: VALID_FRACTION < 1 around them
    src[1, 30:, 40:] = -9999
    _write(d / "src.tif", src, Affine(30, 0, X0, 0, -30, Y1))
    _write(d / "coarse.tif", np.zeros((1, CH, CW)), COARSE)
    classes = rng.integers(1, 4, (1, H, W))
    classes[0, :5, :5] = 0
    _write(d / "classes.tif", classes, Affine(30, 0, X0, 0, -30, Y1), dtype="uint8", nodata=0)
    gpd = pytest.importorskip("geopandas")
    pyogrio.write_dataframe(
        gpd.GeoDataFrame({"h": [1.0]}, geometry=[shapely.box(X0, Y1 - 300, X0 + 300, Y1)], crs=CRS),
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
        return ds.crs, ds.transform, ds.read(), ds.nodata, ds.descriptions


def _api(served, source="src.tif", like="coarse.tif", **kw):
    """What the Python API gives for the same request: the DataArray."""
    if like is not None:
        kw["like"] = str(served / like)
    return rastercover.regrid(str(served / source), **kw)


def _problem(r, status, *words):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    for w in words:
        assert w in r.json()["detail"], r.json()["detail"]
    return r.json()


# ---------------------------------------------------------------------------------------------- direct answers
def test_onto_another_coverage_equals_the_api(client, served, temp):
    r = client.post("/regrid", json={"source": "src", "like": "coarse", "methods": METHODS})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/tiff; application=geotiff"
    assert r.headers["content-disposition"] == 'attachment; filename="regridded.tif"'
    crs, transform, data, nodata, names = _read(r.content)
    want = _api(served, methods=METHODS)
    assert crs.to_string() == CRS and transform == COARSE and nodata == -9999
    assert data.shape == (6, CH, CW) == want.shape
    assert names == tuple(str(b) for b in want.coords["band"].values)
    assert names[:3] == tuple(f"band1:{m}" for m in METHODS)
    assert np.array_equal(data, want.values)
    frac = data[2]  # band 1's VALID_FRACTION: the hole makes fractions strictly between 0 and 1
    assert ((frac > 0) & (frac < 1)).any() and (frac == 1).any()
    assert os.listdir(temp) == []  # the temporary folder is gone once sent


def test_bands_filename_dtype_and_nodata(client, served):
    body = {
        "source": "src",
        "like": "coarse",
        "methods": "VALID_FRACTION",
        "bands": [2],
        "dtype": "float64",
        "nodata": "nan",
        "filename": "valid_b2",
    }
    r = client.post("/regrid", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="valid_b2.tif"'
    _, _, data, nodata, names = _read(r.content)
    want = _api(served, methods="VALID_FRACTION", bands=[2], dtype="float64", nodata=float("nan"))
    assert names == ("VALID_FRACTION",) and np.isnan(nodata) and data.dtype == np.float64
    assert np.array_equal(data, want.values, equal_nan=True)


def test_explicit_grid_equals_the_api(client, served):
    bounds, res = [X0 + 7, Y1 - 1188, X0 + 1493, Y1 - 3], [45, 55]
    body = {"source": "src", "bounds": bounds, "resolution": res, "crs": CRS, "methods": METHODS[:2]}
    r = client.post("/regrid", json=body)
    assert r.status_code == 200, r.text
    crs, transform, data, _, _ = _read(r.content)
    want = _api(served, like=None, bounds=bounds, resolution=res, crs=CRS, methods=METHODS[:2])
    grid = rastercover.Grid.from_bounds(bounds, res, CRS)
    assert crs.to_string() == CRS and transform == grid.transform
    assert data.shape == (4, grid.height, grid.width)
    assert np.array_equal(data, want.values)
    # the tiling of the computation does not change a bit
    r2 = client.post("/regrid", json={**body, "tile_size": 16})
    assert np.array_equal(_read(r2.content)[2], want.values)


@pytest.mark.parametrize(
    ("crs", "res"),
    [
        ("EPSG:3857", 45.0),
        ("EPSG:4326", 0.0004),  # a geographic target (pyproj transform_bounds errcheck once refused them)
    ],
)
def test_explicit_grid_in_another_crs(client, served, crs, res):
    """The source in EPSG:32198 onto a grid in another CRS: overlaps measured in the target CRS, as the API does."""
    bounds = list(Transformer.from_crs(CRS, crs, always_xy=True).transform_bounds(X0, Y1 - 30 * H, X0 + 30 * W, Y1))
    body = {"source": "src", "bounds": bounds, "resolution": res, "crs": crs, "methods": METHODS}
    r = client.post("/regrid", json=body)
    assert r.status_code == 200, r.text
    got, _, data, _, _ = _read(r.content)
    want = _api(served, like=None, bounds=bounds, resolution=res, crs=crs, methods=METHODS)
    assert got.to_epsg() == int(crs.split(":")[1])
    assert np.array_equal(data, want.values)
    assert (data[2] > 0).sum() > 50  # the source lands on the grid


def test_classes_and_other_formats(client, served):
    body = {"source": "classes", "like": "coarse", "methods": ["FRACTION_OF_RASTER_VALUE"], "format": "cog"}
    r = client.post("/regrid", json=body)
    assert r.status_code == 200, r.text
    _, transform, data, _, names = _read(r.content)
    want = _api(served, "classes.tif", methods=["FRACTION_OF_RASTER_VALUE"])
    assert len(names) == 3 and all("FRACTION_OF_RASTER_VALUE" in n for n in names)  # classes 1, 2, 3
    assert transform == COARSE
    assert np.array_equal(data, want.values)
    # listed classes, as an ASCII grid (a zip with its .prj)
    body = {**body, "methods": "FRACTION_OF_RASTER_VALUE:2", "format": "aaigrid"}
    r = client.post("/regrid", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="regridded.zip"'
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert sorted(z.namelist()) == ["regridded.asc", "regridded.prj"]
        text = z.read("regridded.asc").decode()
    rows = [line.split() for line in text.splitlines() if not line[:1].isalpha()]  # after the header (dx, dy)
    want = _api(served, "classes.tif", methods="FRACTION_OF_RASTER_VALUE:2").values[0]
    np.testing.assert_allclose(np.array(rows, dtype=float), want, rtol=1e-6)


# ---------------------------------------------------------------------------------------------- jobs
def test_a_large_request_is_a_job_with_progress_and_a_result(served, temp):
    body = {"source": "src", "like": "coarse", "methods": METHODS}
    want = _api(served, methods=METHODS).values
    with TestClient(_app(served, temp, direct_pixels=100)) as c:
        r = c.post("/regrid", json=body)
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/jobs/{job['id']}" == job["links"]["self"]
        assert "preference-applied" not in r.headers
        assert job["title"] == "regrid" and job["status"] in ("accepted", "running", "successful")
        assert job["request"]["source"] == "src" and job["request"]["like"] == "coarse"
        assert job["request"]["pixels"] == CW * CH * 6 and len(job["request"]["methods"]) == 6
        assert c.app.state.jobs.wait(job["id"], timeout=60).status == "successful"
        status = c.get(f"/jobs/{job['id']}").json()
        n_tiles = rastercover.open_grid(served / "coarse.tif").n_tiles
        assert n_tiles == 6
        assert status["status"] == "successful"
        assert status["progress"] == {"done": n_tiles, "total": n_tiles, "percent": 100.0}
        assert status["result"]["filename"] == "regridded.tif"
        res = c.get(status["links"]["result"])
        assert res.status_code == 200
        assert res.headers["content-disposition"] == 'attachment; filename="regridded.tif"'
        assert np.array_equal(_read(res.content)[2], want)
        assert len(os.listdir(temp)) == 1  # the job's folder; DELETE removes it
        assert c.delete(f"/jobs/{job['id']}").json()["status"] == "dismissed"
        assert os.listdir(temp) == []


def test_progress_is_reported_while_the_job_runs(served, temp, monkeypatch):
    """The job's status follows the run tile by tile, in its regridding phase, up to its total (the library's
    progress calls are watched as they reach the job: the computation is the real one)."""
    seen = []
    real = rasterize_module.run_library_plan

    def watched(plan, *, progress=None, **kw):
        job = progress.__self__  # the job's advance method

        def report(n):
            progress(n)
            seen.append((job.phase, job.done, job.total, job.describe()["progress"]["done"]))

        return real(plan, progress=report, **kw)

    monkeypatch.setattr(rasterize_module, "run_library_plan", watched)
    body = {"source": "src", "like": "coarse", "methods": METHODS, "tile_size": 16}
    with TestClient(_app(served, temp, direct_pixels=100)) as c:
        job = c.post("/regrid", json=body).json()
        assert c.app.state.jobs.wait(job["id"], timeout=60).status == "successful"
        status = c.get(f"/jobs/{job['id']}").json()
        res = c.get(f"/jobs/{job['id']}/result")
    assert {phase for phase, *_ in seen} == {"regridding"}
    done = [d for _, d, _, _ in seen]
    assert done == sorted(done) and done[-1] == 6 and all(t == 6 for _, _, t, _ in seen)
    assert all(d == shown for _, d, _, shown in seen)  # what GET /jobs/{id} shows
    assert status["progress"] == {"done": 6, "total": 6, "percent": 100.0}
    assert np.array_equal(_read(res.content)[2], _api(served, methods=METHODS).values)


def test_prefer_respond_async_makes_a_small_request_a_job(client, served):
    body = {"source": "src", "bounds": [X0, Y1 - 600, X0 + 600, Y1], "resolution": 100, "crs": CRS}
    r = client.post("/regrid", json=body, headers={"Prefer": "respond-async"})
    assert r.status_code == 202 and r.headers["preference-applied"] == "respond-async"
    job = client.app.state.jobs.wait(r.json()["id"], timeout=60)
    assert job.status == "successful"
    want = _api(served, like=None, bounds=body["bounds"], resolution=100, crs=CRS)
    assert np.array_equal(_read(client.get(f"/jobs/{job.id}/result").content)[2], want.values)
    assert client.post("/regrid", json=body).status_code == 200  # without the header: the file


def test_a_fine_source_onto_a_coarse_grid_is_a_job_by_the_pixels_it_reads(served, temp):
    """4 output pixels read 2000 source pixels: over direct_pixels=500, so a job (the output alone is not)."""
    body = {"source": "src", "bounds": [X0, Y1 - 1200, X0 + 1500, Y1], "resolution": 750, "crs": CRS,
            "methods": "VALID_FRACTION", "bands": [1]}  # fmt: skip
    with TestClient(_app(served, temp, direct_pixels=500)) as c:
        r = c.post("/regrid", json=body)
        assert r.status_code == 202, r.text
        assert r.json()["request"]["pixels"] == 4 and r.json()["request"]["source_pixels"] == W * H
        assert c.app.state.jobs.wait(r.json()["id"], timeout=60).status == "successful"
    with TestClient(_app(served, temp, direct_pixels=W * H)) as c:
        assert c.post("/regrid", json=body).status_code == 200


def test_a_job_that_fails_answers_its_problem(served, temp):
    """Sums over 255 in a uint8 band (100 source pixels of 0..100 a target pixel): found while writing, so the job
    fails with the 422 the direct answer gives."""
    body = {"source": "src", "bounds": [X0, Y1 - 1200, X0 + 1500, Y1], "resolution": 300, "crs": CRS,
            "methods": "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", "dtype": "uint8", "nodata": 255}  # fmt: skip
    with TestClient(_app(served, temp, direct_pixels=100)) as c:
        job = c.post("/regrid", json=body).json()
        assert c.app.state.jobs.wait(job["id"], timeout=60).status == "failed"
        status = c.get(f"/jobs/{job['id']}").json()
        assert status["error"]["status"] == 422 and "uint8" in status["error"]["detail"]
        _problem(c.get(f"/jobs/{job['id']}/result"), 422, "uint8")
        assert os.listdir(temp) == []  # nothing half-written is kept
    with TestClient(_app(served, temp, direct_pixels=10**6)) as c:
        _problem(c.post("/regrid", json=body), 422, "uint8")
        assert os.listdir(temp) == []


# ---------------------------------------------------------------------------------------------- refusals
EXPLICIT = {"bounds": [X0, Y1 - 600, X0 + 600, Y1], "resolution": 100, "crs": CRS}


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"methods": ["NOT_A_METHOD"]}, 400, ["NOT_A_METHOD"]),
        ({"methods": "AREA_WEIGHTED_MEAN_OF_RASTER_VALUE"}, 400, ["AREA_WEIGHTED_MEAN_OF_RASTER_VALUE"]),
        ({"methods": ["COUNT_OF_POLYGONS"]}, 422, ["COUNT_OF_POLYGONS", "raster methods"]),
        ({"methods": ["AREA_WEIGHTED_MEAN_OF_VALUES"]}, 422, ["vector features"]),
        ({"methods": []}, 422, ["no method"]),
        ({"methods": ["VALID_FRACTION", "VALID_FRACTION"]}, 422, ["twice"]),
        ({"source": "nope"}, 404, ["nope", "src"]),
        ({"like": "nope"}, 404, ["like", "nope"]),
        ({"source": "zones"}, 404, ["vector layer", "/rasterize"]),
        ({"like": None}, 422, ["give the target grid", "like="]),
        ({"bounds": EXPLICIT["bounds"]}, 422, ["once", "bounds="]),
        ({"like": None, "bounds": EXPLICIT["bounds"], "resolution": 100}, 422, ["missing crs="]),
        ({"like": None, **EXPLICIT, "crs": "EPSG:0"}, 422, ["EPSG:0"]),
        ({"like": None, **EXPLICIT, "resolution": 0}, 422, ["resolution", "positive"]),
        ({"like": None, **EXPLICIT, "bounds": [X0, Y1, X0 - 10, Y1 + 10]}, 422, ["empty"]),
        ({"like": None, **EXPLICIT, "resolution": 1e-9}, 422, ["more than a raster can be"]),
        ({"bands": [3]}, 422, ["no band 3"]),
        ({"bands": [0]}, 422, ["bands"]),
        ({"bands": []}, 422, ["bands"]),
        ({"dtype": "complex64"}, 422, ["complex64"]),
        ({"dtype": "uint8", "nodata": -1}, 422, ["uint8"]),
        ({"nodata": "lots"}, 422, ["lots"]),
        ({"format": "bmp"}, 400, ["bmp"]),
        ({"format": "aaigrid", "methods": METHODS[:2], "bands": [1]}, 422, ["aaigrid holds 1 band", "bands="]),
        ({"filename": "../../etc/passwd"}, 422, ["filename"]),
        ({"sql": "DROP TABLE x"}, 422, ["sql"]),
        ({"tile_size": 3}, 422, ["tile_size"]),
    ],
)
def test_bad_requests_are_clear_problems(client, served, temp, change, status, words):
    body = {"source": "src", "like": "coarse", "methods": ["VALID_FRACTION"], **change}
    p = _problem(client.post("/regrid", json=body), status, *words)
    assert str(served) not in p["detail"] and "src.tif" not in p["detail"]  # ids, never the server's paths
    assert os.listdir(temp) == []


def test_an_unreadable_coverage_is_unavailable(served, tmp_path):
    (tmp_path / "broken.tif").write_text("not a raster")
    c = TestClient(create_app(Catalog.from_sources([served / "src.tif", tmp_path / "broken.tif"]), Settings()))
    _problem(c.post("/regrid", json={"source": "broken", "like": "src"}), 503, "broken", "unavailable")
    _problem(c.post("/regrid", json={"source": "src", "like": "broken"}), 503, "broken", "unavailable")


@pytest.mark.parametrize(
    "grid",
    [
        {"bounds": [0, 0, 100, 100], "resolution": 10, "crs": CRS},  # the right CRS, the wrong place
        {"bounds": [-66.6, 47.6, -66.4, 47.8], "resolution": 10, "crs": CRS},  # lon/lat numbers, a projected crs
        {"bounds": [170, -80, 179, -70], "resolution": 1, "crs": "EPSG:4326"},  # the other side of the world
    ],
)
def test_a_grid_the_source_does_not_meet_is_refused(client, temp, grid):
    """The file would be nodata only (the Python API gives that): the service says why instead."""
    _problem(client.post("/regrid", json={"source": "src", **grid}), 422, "'src' does not meet the target grid", "crs")
    assert os.listdir(temp) == []


def test_a_grid_the_source_meets_in_part_is_answered(client, served):
    """Half the grid beyond the source's east edge: answered, the pixels there nodata (VALID_FRACTION 0)."""
    body = {"source": "src", "bounds": [X0 + 1000, Y1 - 600, X0 + 2000, Y1], "resolution": 100, "crs": CRS,
            "methods": ["AREA_WEIGHTED_MEAN_OF_RASTER_VALUES", "VALID_FRACTION"], "bands": [1]}  # fmt: skip
    r = client.post("/regrid", json=body)
    assert r.status_code == 200, r.text
    data = _read(r.content)[2]
    want = _api(served, like=None, **{k: v for k, v in body.items() if k != "source"})
    assert np.array_equal(data, want.values)
    assert (data[0, :, 6:] == -9999).all() and (data[1, :, 6:] == 0).all() and (data[1, :, :5] == 1).all()


def test_numbers_json_cannot_hold_are_refused(client):
    raw = '{"source": "src", "bounds": [0, 0, 1e400, 1], "resolution": 1, "crs": "EPSG:32198"}'
    p = _problem(client.post("/regrid", content=raw, headers={"content-type": "application/json"}), 422, "bounds")
    assert "finite" in p["detail"]
    raw = '{"source": "src", "like": "coarse", "nodata": 1e400}'
    _problem(client.post("/regrid", content=raw, headers={"content-type": "application/json"}), 422, "nodata")
    r = client.post("/regrid", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_a_client_path_or_url_is_never_opened(client, served):
    """Sources and grids are catalogue ids: a path, a URL or a traversal is an unknown id, and the answer does
    not show the server's folders."""
    for value in (
        str(served / "src.tif"),
        "src.tif",
        "../src",
        "/etc/passwd",
        f"file://{served / 'src.tif'}",
        "postgresql://localhost/db?table=secret",
        "https://example.com/x.tif",
    ):
        for field in ("source", "like"):
            body = {"source": "src", "like": "coarse", field: value}
            p = _problem(client.post("/regrid", json=body), 404, field)
            assert str(served) not in p["detail"], p["detail"]
    _problem(client.post("/regrid", json={"source": "x" * 201, "like": "coarse"}), 422, "source")


def test_limits(served, temp):
    c = TestClient(_app(served, temp, max_pixels=CW * CH * 2))
    body = {"source": "src", "like": "coarse", "methods": ["VALID_FRACTION"]}
    assert c.post("/regrid", json=body).status_code == 200  # 2 bands of the source: 2 output bands
    p = _problem(c.post("/regrid", json={**body, "methods": METHODS[:2]}), 413, f"{CW * CH * 4} pixels")
    assert f"limit is {CW * CH * 2}" in p["detail"]


def test_regrid_needs_the_api_key(served, temp):
    c = TestClient(_app(served, temp, api_key="s3cret"))
    body = {"source": "src", "like": "coarse", "methods": ["VALID_FRACTION"]}
    assert c.post("/regrid", json=body).status_code == 401
    assert c.post("/regrid", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_openapi_documents_regrid(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/regrid"]["post"]
    assert {"200", "202", "404", "413", "422", "429"} <= set(op["responses"])
    assert "regrid" in op["tags"] and "exact" in op["description"] and "respond-async" in op["description"]
    content = op["requestBody"]["content"]["application/json"]
    assert {"like", "explicit"} <= set(content["examples"])
    assert content["examples"]["like"]["value"]["source"] == "landcover"
    schema = spec["components"]["schemas"]["RegridBody"]
    assert schema["required"] == ["source"] and "bands" in schema["properties"]
    assert any(p["name"] == "prefer" for p in op["parameters"])
    assert json.dumps(spec)  # serialisable


# ---------------------------------------------------------------------------------------------- PostGIS
def test_a_postgis_raster_table_onto_a_file_coverage(pg_url, pg_conn, served, temp):
    """A raster table (ST_Tile'd src.tif) is read row by row, as rastercover.regrid reads its URL."""
    from tests.test_postgis_io import tile_raster_in_sql

    tile_raster_in_sql(pg_conn, "src_regrid_svc", str(served / "src.tif"), 16)
    url = f"{pg_url}?table=src_regrid_svc"
    cat = Catalog.from_sources([url, served / "coarse.tif"])
    c = TestClient(create_app(cat, Settings(), temp_dir=str(temp)))
    r = c.post("/regrid", json={"source": "src_regrid_svc", "like": "coarse", "methods": METHODS})
    assert r.status_code == 200, r.text
    want = rastercover.regrid(url, str(served / "coarse.tif"), methods=METHODS)
    assert np.array_equal(_read(r.content)[2], want.values)
    assert np.array_equal(want.values, _api(served, methods=METHODS).values)  # the same pixels as the file


# ---------------------------------------------------------------------------------------------- never a 5xx
_NUMBERS = st.sampled_from([0, -0.0, 1, 30, 1e-9, 5e-324, 1e-300, 1e300, 1e308, -1e308, 150000, 420000, -1, 0.5])
_CRSS = st.sampled_from([CRS, "EPSG:4326", "EPSG:3857", "EPSG:4978", "EPSG:3031", "EPSG:5773", "EPSG:0", "nope", ""])
_NEAR = st.fixed_dictionaries(  # near the source, at sensible or odd resolutions, in odd CRSs
    {
        "bounds": st.sampled_from(
            [[X0, Y1 - 1200, X0 + 1500, Y1], [X0 + 333, Y1 - 700, X0 + 2100, Y1 + 90], [-66.6, 47.6, -66.4, 47.8]]
        ),
        "resolution": st.sampled_from([30, 97.5, [40, 70], 750, 30, 97.5, [40, 70], 750, 0.001, 1e-6, 1e-300]),
        "crs": st.sampled_from([CRS, CRS, CRS, "EPSG:3857", "EPSG:4326", "EPSG:4978", "EPSG:3031"]),
    }
)
_GRIDS = st.one_of(
    st.fixed_dictionaries({"like": st.sampled_from(["coarse", "coarse", "src", "classes", "zones", "nope"])}),
    _NEAR,
    _NEAR,
    st.fixed_dictionaries(  # anything
        {"bounds": st.lists(_NUMBERS, min_size=4, max_size=4), "resolution": _NUMBERS, "crs": _CRSS},
        optional={"like": st.just("coarse")},
    ),
)
_OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "tile_size": st.sampled_from([16, 256, 4096]),
        "methods": st.lists(
            st.sampled_from(
                [
                    *METHODS,
                    *METHODS,
                    "FRACTION_OF_RASTER_VALUE",
                    "FRACTION_OF_RASTER_VALUE:1,2",
                    "FRACTION_OF_RASTER_VALUE:x",
                    "MAJORITY_OF_RASTER_VALUES",
                    "COUNT_OF_POLYGONS",
                    "nope",
                ]
            ),
            min_size=1,
            max_size=3,
            unique=True,
        ),
        "bands": st.sampled_from([[1], [2], [1, 2], [2, 1], [1], [2], [3], [0], [1, 1]]),
        "dtype": st.sampled_from(["float32", "float64"] * 4 + ["uint8", "int16", "int64", "complex64", "nope"]),
        "nodata": st.sampled_from([-9999, "nan"] * 4 + [0, 255, -1, 1e38, 1e300, "x"]),
        "format": st.sampled_from(["gtiff"] * 4 + ["cog", "aaigrid", "xyz", "png", "jpeg", "netcdf", "gpkg", "nope"]),
        "zipped": st.booleans(),
    },
)
_BODIES = st.builds(
    lambda source, grid, options: {"source": source, **grid, **options},
    st.sampled_from(["src", "src", "src", "classes", "classes", "coarse", "zones", "nope"]),
    _GRIDS,
    _OPTIONS,
)


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(body=_BODIES)
def test_no_body_is_a_server_error(served, body):
    """Real ids, odd numbers, CRSs, methods, types and formats: a file, a job or a 4xx problem, never a 5xx."""
    app = create_app(Catalog.from_sources([served]), Settings(max_pixels=200_000, direct_pixels=50_000))
    with TestClient(app) as c:  # its jobs' folders are deleted when it stops
        r = c.post("/regrid", json=body)
        assert r.status_code in (200, 202) or 400 <= r.status_code < 500, (body, r.status_code, r.text)
        if r.status_code >= 400:
            assert r.headers["content-type"] == PROBLEM and r.json()["detail"]
        if r.status_code == 202:  # the job fails with a 4xx problem at worst
            job = c.app.state.jobs.wait(r.json()["id"], timeout=120)
            assert job.status == "successful" or job.problem[0] < 500, (body, job.problem)
