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
