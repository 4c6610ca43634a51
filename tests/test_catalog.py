"""The service's catalogue: ids from names (stable, unique), folders served whole, TOML entries, PostGIS tables."""

from __future__ import annotations

import numpy as np
import pyogrio
import pytest
import shapely
from affine import Affine

from rastercover.errors import InputError, SourceError
from rastercover.server.catalog import Catalog, NotFoundError, slug

from .conftest import write_raster

T = Affine(30, 0, 150000, 0, -30, 420000)


def _vector(path, layers=("burned",)):
    import geopandas as gpd

    for name in layers:
        gdf = gpd.GeoDataFrame({"code": [1, 2]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])
        pyogrio.write_dataframe(gdf.set_crs("EPSG:32198"), path, layer=name)
    return path


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    write_raster(d / "DEM 25m.tif", 20, 10, T)
    write_raster(d / "dem-25m.vrt.tif", 20, 10, T)  # another name that slugs to a different id
    tiles = d / "Landcover"
    tiles.mkdir()
    for r in range(2):
        for c in range(2):
            write_raster(tiles / f"r{r}_c{c}.tif", 10, 10, T @ Affine.translation(10 * c, 10 * r))
    other = d / "notes"
    other.mkdir()
    (other / "readme.txt").write_text("not data")
    _vector(d / "fires.gpkg", layers=("burned", "Ignition Points"))
    _vector(d / "roads.gpkg")
    return d


def test_a_folder_is_served_whole_with_ids_from_names(data):
    cat = Catalog.from_sources([data])
    assert list(cat.coverages) == ["dem-25m", "landcover", "dem-25m.vrt"]  # in file-name order
    assert list(cat.layers) == ["burned", "ignition-points", "roads"]
    assert cat.coverage("landcover").open().grid.shape == (20, 20)
    assert cat.coverage("dem-25m").title == "DEM 25m.tif"
    assert cat.layer("ignition-points").layer == "Ignition Points"
    assert cat.layer("roads").layer is None  # one-layer file: no layer name needed
    geom, crs = cat.layer("burned").feature(2)
    assert geom.equals(shapely.box(2, 2, 3, 3)) and crs.to_epsg() == 32198
    # the same command line gives the same ids; a clash gets -2
    again = Catalog.from_sources([data, data / "roads.gpkg"])
    assert list(again.layers) == ["burned", "ignition-points", "roads", "roads-2"]
    assert list(Catalog.from_sources([data]).coverages) == list(cat.coverages)


def test_lookups_name_the_known_ids(data):
    cat = Catalog.from_sources([data / "Landcover"])
    with pytest.raises(NotFoundError, match="no coverage 'x' in the catalogue; its coverages are landcover"):
        cat.coverage("x")
    with pytest.raises(NotFoundError, match=r"no layer '\.\./etc' in the catalogue; its layers are \(none\)"):
        cat.layer("../etc")


def test_toml_entries_with_relative_paths_titles_and_id_columns(data, tmp_path):
    cfg = tmp_path / "catalog.toml"
    cfg.write_text(
        '[coverages.lc]\nsource = "data/Landcover"\ntitle = "Land cover"\n\n'
        '[layers.fires]\nsource = "data/fires.gpkg"\nlayer = "burned"\nid_column = "code"\n'
    )
    cat = Catalog.from_sources([data / "roads.gpkg"], config=cfg)
    assert list(cat.coverages) == ["lc"] and list(cat.layers) == ["fires", "roads"]
    assert cat.coverage("lc").title == "Land cover" and cat.coverage("lc").open().grid.shape == (20, 20)
    geom, _ = cat.layer("fires").feature("1")
    assert geom.equals(shapely.box(0, 0, 1, 1))


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("[coverages.lc\n", SourceError, "not valid TOML"),
        ("[rasters.lc]\nsource='x'\n", SourceError, r"unknown section\(s\) rasters"),
        ("[coverages.lc]\ntitle='x'\n", SourceError, r"\[coverages.lc\] needs source"),
        ("[coverages.lc]\nsource='nope.tif'\n", SourceError, "no such file"),
        ("[coverages.\"a b\"]\nsource='data/DEM 25m.tif'\n", InputError, "use letters, digits"),
        ("[coverages.x]\nsource='data/DEM 25m.tif'\n[layers.x]\nsource='data/roads.gpkg'\n", InputError, "used twice"),
    ],
)
def test_bad_catalogues_are_one_clear_line(data, tmp_path, text, error, match):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(error, match=match):
        Catalog.from_sources([], config=cfg).coverage("lc").open()


def test_bad_sources(tmp_path):
    with pytest.raises(SourceError, match="no such file or folder to serve"):
        Catalog.from_sources([tmp_path / "missing"])
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(SourceError, match="not a raster"):
        Catalog.from_sources([tmp_path / "a.txt"])


def test_slugs():
    assert slug("Forêt Stands") == "for-t-stands" and slug("???") == "entry"


def test_postgis_tables_become_coverages_or_layers(pg_url, pg_conn, tmp_path):
    from tests.pgload import load_features
    from tests.test_postgis_io import tile_raster_in_sql

    path = write_raster(tmp_path / "dem.tif", 20, 10, T, value=3)
    tile_raster_in_sql(pg_conn, "dem_cat", path, 10)
    load_features(pg_conn, "stands_cat", np.array([shapely.box(150000, 419800, 150100, 419900)], dtype=object))
    cat = Catalog.from_sources([f"{pg_url}?table=dem_cat", f"{pg_url}?table=stands_cat"])
    assert list(cat.coverages) == ["dem_cat"] and list(cat.layers) == ["stands_cat"]
    assert cat.coverage("dem_cat").open().grid.shape == (10, 20)
    geom, crs = cat.layer("stands_cat").feature(1)
    assert geom.area == pytest.approx(10000) and crs.to_epsg() == 32198


def test_postgis_layer_metadata_has_count_geometry_type_and_fields(pg_url, pg_conn, monkeypatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rastercover.io.vector_postgis import PostgisVectorSource
    from rastercover.server.app import create_app
    from rastercover.server.settings import Settings

    pg_conn.execute("DROP TABLE IF EXISTS meta_stands CASCADE")
    pg_conn.execute(
        "CREATE TABLE meta_stands (id serial PRIMARY KEY, name text, height double precision, n bigint, "
        "small smallint, r real, ok boolean, planted date, seen timestamptz, code varchar(4), "
        "geom geometry(MultiPolygon, 32198))"
    )
    pg_conn.execute(
        "INSERT INTO meta_stands (name, height, n, geom) SELECT 'f' || i, i * 1.5, i, "
        "ST_Multi(ST_MakeEnvelope(150000 + i * 100, 419000, 150050 + i * 100, 419050, 32198)) "
        "FROM generate_series(1, 7) i"
    )
    pg_conn.execute("INSERT INTO meta_stands (name) VALUES ('no geometry')")  # counted, as a file's feature is
    pg_conn.execute("DROP TABLE IF EXISTS meta_points")  # unconstrained column: the type of its geometries
    pg_conn.execute("CREATE TABLE meta_points (gid int, geom geometry)")
    pg_conn.execute(
        "INSERT INTO meta_points SELECT i, ST_SetSRID(ST_MakePoint(150000 + i, 419000, 5), 32198) "
        "FROM generate_series(1, 4) i"
    )
    cat = Catalog.from_sources([f"{pg_url}?table=meta_stands", f"{pg_url}?table=meta_points"])
    client = TestClient(create_app(cat, Settings()))
    m = client.get("/layers/meta_stands").json()
    assert m["feature_count"] == 8 and m["feature_count_estimated"] is False
    assert m["geometry_type"] == "MultiPolygon"
    assert m["fields"] == [
        {"name": "id", "type": "int32"},
        {"name": "name", "type": "object"},
        {"name": "height", "type": "float64"},
        {"name": "n", "type": "int64"},
        {"name": "small", "type": "int16"},
        {"name": "r", "type": "float32"},
        {"name": "ok", "type": "bool"},
        {"name": "planted", "type": "datetime64[D]"},
        {"name": "seen", "type": "datetime64[ms]"},
        {"name": "code", "type": "object"},
    ]
    assert m["crs"]["epsg"] == 32198 and m["bounds"] == [150100.0, 419000.0, 150750.0, 419050.0]
    p = client.get("/layers/meta_points").json()
    assert (p["feature_count"], p["geometry_type"], p["fields"]) == (4, "Point Z", [{"name": "gid", "type": "int32"}])
    assert client.get("/layers").json()[0]["feature_count"] in (4, 8)
    # a huge table (by the planner's estimate) reports the estimate, flagged, instead of counting every row
    pg_conn.execute("ANALYZE meta_stands")
    monkeypatch.setattr(PostgisVectorSource, "exact_count_limit", 5)
    m = client.get("/layers/meta_stands").json()
    assert m["feature_count"] == 8 and m["feature_count_estimated"] is True and m["geometry_type"] == "MultiPolygon"
