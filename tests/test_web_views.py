"""The shipped web examples (examples/django_view.py, examples/flask_geoalchemy_view.py), run by their real framework
against the real PostGIS: the file each view downloads holds exactly the pixels PostGIS itself returns for the
article's query, ``ST_AsTIFF(ST_Union(ST_Clip(l.rast, ST_Buffer(ST_Envelope(b.rast), 1000))))`` of the landcover
tiles meeting burned area 2, and the temporary file is gone once the response is closed.

The tables are the article's ``landcover`` (8BUI tiles of 40x40 px at 30 m, one tile missing) and ``burnedarea``
(three rasters on a 10 m grid); burned area 2 meets four landcover tiles, one of them missing, and its buffered
envelope cuts two of the others, so the union is a mosaic of irregular pieces with a hole.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.io import MemoryFile

from rastercover.io.wkb_raster import encode_raster

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DBNAME = "rastercover_webviews"
LANDCOVER = Affine(30, 0, 150000, 0, -30, 420000)
TILE, TILE_ROWS, TILE_COLS = 40, 6, 8
MISSING_TILE = (3, 3)  # (row, col): a hole where burned area 2's envelope reaches
ARTICLE_QUERY = (
    "SELECT ST_AsTIFF(ST_Union(ST_Clip(l.rast, ST_Buffer(ST_Envelope(b.rast), 1000)))) "
    "FROM landcover l, burnedarea b WHERE ST_Intersects(l.rast, b.rast) AND b.rid = 2"
)
BURNED = {  # rid: (upper-left x, upper-left y, width px, height px) on a 10 m grid
    1: (150200, 419700, 30, 20),
    2: (153500, 416700, 50, 40),  # tiles (2, 2), (2, 3), (3, 2) and the missing (3, 3)
    3: (158000, 414500, 20, 20),
}


def _load_example(name: str):
    module_name = f"rastercover_example_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


@pytest.fixture(scope="module")
def web_db(pg_cluster):
    """A database of its own holding the article's two raster tables; its libpq URL."""
    import psycopg

    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DBNAME}"')
        conn.execute(f'CREATE DATABASE "{DBNAME}"')
    url = pg_cluster.url(DBNAME)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
        conn.execute("CREATE EXTENSION postgis_raster")
        conn.execute("CREATE TABLE landcover (rid serial PRIMARY KEY, rast raster, filename varchar(255))")
        conn.execute(
            "CREATE TABLE burnedarea (rid integer PRIMARY KEY, rast raster, filename varchar(255), burndate date, "
            "burnname varchar(255))"
        )
        rng = np.random.default_rng(17)
        classes = rng.integers(1, 61, (TILE_ROWS * TILE, TILE_COLS * TILE)).astype("uint8")
        classes[rng.random(classes.shape) < 0.03] = 0  # some nodata inside the tiles too
        for r in range(TILE_ROWS):
            for c in range(TILE_COLS):
                if (r, c) == MISSING_TILE:
                    continue
                tile = classes[r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE]
                wkb = encode_raster(tile, LANDCOVER @ Affine.translation(c * TILE, r * TILE), 32198, 0)
                conn.execute(
                    "INSERT INTO landcover (rast, filename) VALUES (ST_RastFromWKB(%s::bytea), 'fccs.tif')", (wkb,)
                )
        for rid, (x, y, w, h) in BURNED.items():
            wkb = encode_raster(np.ones((h, w), "uint8"), Affine(10, 0, x, 0, -10, y), 32198, 0)
            conn.execute(
                "INSERT INTO burnedarea VALUES (%s, ST_RastFromWKB(%s::bytea), 'mtbs.tif', '2012-08-01', %s)",
                (rid, wkb, f"fire {rid}"),
            )
    return url


@pytest.fixture(scope="module")
def postgis_answer(web_db):
    """What PostGIS itself returns for the article's query: the GeoTIFF's pixels and georeferencing."""
    import psycopg

    with psycopg.connect(web_db, autocommit=True) as conn:
        conn.execute("SET postgis.gdal_enabled_drivers = 'ENABLE_ALL'")
        count = conn.execute(
            "SELECT count(*) FROM landcover l, burnedarea b WHERE ST_Intersects(l.rast, b.rast) AND b.rid = 2"
        ).fetchone()[0]
        assert count == 3  # a real mosaic: three tiles (the fourth is missing)
        blob = conn.execute(ARTICLE_QUERY).fetchone()[0]
    return _read_tiff(blob)


def _read_tiff(blob: bytes) -> dict:
    with MemoryFile(blob) as mem, mem.open() as ds:
        return {
            "data": ds.read(),
            "transform": ds.transform,
            "crs": ds.crs.to_epsg(),
            "nodata": ds.nodata,
            "dtype": ds.dtypes[0],
        }


def _assert_same_raster(got: dict, want: dict) -> None:
    assert got["data"].shape == want["data"].shape
    np.testing.assert_array_equal(got["data"], want["data"])
    np.testing.assert_allclose(tuple(got["transform"])[:6], tuple(want["transform"])[:6], rtol=0, atol=1e-9)
    assert (got["crs"], got["nodata"], got["dtype"]) == (want["crs"], want["nodata"], want["dtype"])


def test_the_article_query_is_a_mosaic_with_a_hole_and_cut_tiles(postgis_answer):
    """The oracle itself is what the module docstring says: nodata in the hole and outside the buffer's corners."""
    data = postgis_answer["data"][0]
    assert data.shape == (2 * TILE - 3, 2 * TILE - 3)  # cut at the left and at the bottom by the buffer
    assert (data[-20:, -20:] == 0).all()  # the missing tile
    assert (data[-1] != 0).any() and (data[:, 0] != 0).any()  # data out to the buffer's edges
    assert data[0, 0] == 0 and data[-1, 0] == 0  # not in the buffer's rounded corners


@pytest.fixture
def temp_folder(tmp_path, monkeypatch):
    """The system's temporary folder, for the test: every temporary file export_file makes goes there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# ----------------------------------------------------------------------------------------------- Django
@pytest.fixture(scope="module")
def django_client(web_db):
    import django
    from django.conf import settings

    u = urlsplit(web_db)
    view = _load_example("django_view")
    if settings.configured:  # another module configured Django: the test needs this database as default
        pytest.fail("Django settings are already configured in this process; test_web_views configures them")
    settings.configure(
        DEBUG=False,
        SECRET_KEY="rastercover-tests",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=view.__name__,
        INSTALLED_APPS=["django.contrib.gis"],
        USE_TZ=True,
        DATABASES={
            "default": {
                "ENGINE": "django.contrib.gis.db.backends.postgis",
                "NAME": u.path.lstrip("/"),
                "USER": u.username,
                "HOST": u.hostname,
                "PORT": u.port,
            }
        },
    )
    django.setup()
    from django.test import Client

    yield Client()
    from django.db import connections

    connections.close_all()


def test_django_view_downloads_what_postgis_returns(django_client, postgis_answer, temp_folder):
    response = django_client.get("/burned-areas/2/landcover", {"buffer": "1000"})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/tiff; application=geotiff"
    assert response["Content-Disposition"] == 'attachment; filename="landcover_burned2.tif"'
    assert response.streaming
    assert os.listdir(temp_folder) == []  # deleted already: the open handle streams it
    body = b"".join(response.streaming_content)
    response.close()
    _assert_same_raster(_read_tiff(body), postgis_answer)
    assert os.listdir(temp_folder) == []


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # a bare PNG: the pixels only
def test_django_view_other_format_and_bad_requests(django_client, postgis_answer, temp_folder):
    response = django_client.get("/burned-areas/2/landcover", {"format": "png"})
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="landcover_burned2.png"'
    with MemoryFile(b"".join(response.streaming_content)) as mem, mem.open() as ds:
        np.testing.assert_array_equal(ds.read(), postgis_answer["data"])
    response.close()
    assert django_client.get("/burned-areas/9/landcover").status_code == 404
    assert django_client.get("/burned-areas/2/landcover", {"format": "bmp"}).status_code == 400
    assert django_client.get("/burned-areas/2/landcover", {"buffer": "far"}).status_code == 400
    assert os.listdir(temp_folder) == []


# ----------------------------------------------------------------------------------------------- Flask
@pytest.fixture(scope="module")
def flask_client(web_db):
    example = _load_example("flask_geoalchemy_view")
    url = web_db.replace("postgresql://", "postgresql+psycopg://", 1)
    app = example.create_app(url)
    app.config.update(TESTING=True)
    return app.test_client()


def test_flask_geoalchemy_view_downloads_what_postgis_returns(flask_client, postgis_answer, temp_folder):
    response = flask_client.get("/burned-areas/2/landcover?buffer=1000")
    assert response.status_code == 200
    assert response.mimetype == "image/tiff"
    assert response.headers["Content-Type"].startswith("image/tiff; application=geotiff")
    assert response.headers["Content-Disposition"] == "attachment; filename=landcover_burned2.tif"
    assert os.listdir(temp_folder) == []  # deleted already: the open handle streams it
    body = response.get_data()
    response.close()
    _assert_same_raster(_read_tiff(body), postgis_answer)


def test_flask_view_other_format_and_bad_requests(flask_client, postgis_answer, temp_folder):
    response = flask_client.get("/burned-areas/2/landcover?format=aaigrid")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == "attachment; filename=landcover_burned2.zip"
    zipped = temp_folder / "got.zip"
    zipped.write_bytes(response.get_data())
    response.close()
    with rasterio.open(f"zip://{zipped}!landcover_burned2.asc") as ds:
        np.testing.assert_array_equal(ds.read(), postgis_answer["data"])
        assert ds.crs.to_epsg() == 32198  # from the .prj beside it
    zipped.unlink()
    assert flask_client.get("/burned-areas/9/landcover").status_code == 404
    assert flask_client.get("/burned-areas/2/landcover?format=bmp").status_code == 400
    assert os.listdir(temp_folder) == []


def test_flask_view_query_is_the_articles(flask_client):
    """The GeoAlchemy2 expression compiles to the article's clip (every landcover tile meeting the burned area)."""
    from sqlalchemy.dialects import postgresql

    example = _load_example("flask_geoalchemy_view")
    sql = str(example.clip_landcover_query(2, 1000).compile(dialect=postgresql.psycopg.dialect()))
    assert "ST_Clip(landcover.rast, ST_Buffer(ST_Envelope(burnedarea.rast)" in sql
    assert "JOIN burnedarea ON ST_Intersects(landcover.rast, burnedarea.rast)" in sql
