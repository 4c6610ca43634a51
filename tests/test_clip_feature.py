"""read_clip_feature: one feature of a vector file or PostGIS table, by fid / primary key or by an id column."""

from __future__ import annotations

from urllib.parse import quote

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from psycopg import sql

from rastercover.errors import GeometryError, InputError, MissingColumnError, SourceError
from rastercover.io.clip_feature import read_clip_feature
from tests.pgload import load_features

BOXES = [shapely.box(0, 0, 10, 10), shapely.box(20, 0, 25, 5), shapely.box(0, 20, 30, 50)]
TRIANGLE = shapely.Polygon([(0, 0), (4, 0), (0, 3)])


def frame(**columns) -> gpd.GeoDataFrame:
    data = {"code": [10, 20, 30], "name": ["north", "south", "east"], **columns}
    return gpd.GeoDataFrame(data, geometry=list(BOXES), crs="EPSG:32198")


@pytest.fixture
def files(tmp_path):
    """The same three boxes as a GeoPackage (fid 1..3), a Shapefile (fid 0..2) and a GeoJSON."""
    out = {}
    for ext in ("gpkg", "shp", "geojson"):
        out[ext] = str(tmp_path / f"stands.{ext}")
        frame().to_file(out[ext])
    return out


def same(a, b) -> bool:
    return bool(shapely.equals(a, b))


# ----------------------------------------------------------------------------------------------- files: by fid
def test_geopackage_by_fid_starts_at_one(files):
    for fid, box in enumerate(BOXES, start=1):
        geom, crs = read_clip_feature(files["gpkg"], fid)
        assert same(geom, box) and crs.to_epsg() == 32198
    assert same(read_clip_feature(files["gpkg"], "2")[0], BOXES[1])  # the CLI gives strings


def test_shapefile_by_fid_is_the_zero_based_record_number(files):
    for fid, box in enumerate(BOXES):
        geom, crs = read_clip_feature(files["shp"], fid)
        assert same(geom, box) and crs.to_epsg() == 32198


def test_geojson_and_pathlike(files, tmp_path):
    from pathlib import Path

    geom, crs = read_clip_feature(Path(files["geojson"]), 0)
    assert same(geom, BOXES[0]) and crs.to_epsg() == 32198


def test_geopackage_fid_column_named_as_id_column_means_the_fid(files):
    assert same(read_clip_feature(files["gpkg"], "3", id_column="fid")[0], BOXES[2])


# ----------------------------------------------------------------------------------------------- files: by column
@pytest.mark.parametrize("ext", ["gpkg", "shp", "geojson"])
def test_by_integer_column_with_a_string_id(files, ext):
    geom, _ = read_clip_feature(files[ext], "20", id_column="code")
    assert same(geom, BOXES[1])
    assert same(read_clip_feature(files[ext], 30, id_column="code")[0], BOXES[2])
    assert same(read_clip_feature(files[ext], 10.0, id_column="code")[0], BOXES[0])


@pytest.mark.parametrize("ext", ["gpkg", "shp", "geojson"])
def test_by_string_column(files, ext):
    assert same(read_clip_feature(files[ext], "east", id_column="name")[0], BOXES[2])


def test_string_column_holding_digits_matches_a_numeric_id(tmp_path):
    path = str(tmp_path / "s.gpkg")
    frame(ref=["7", "8", "9"]).to_file(path)
    assert same(read_clip_feature(path, 8, id_column="ref")[0], BOXES[1])


def test_float_column(tmp_path):
    path = str(tmp_path / "f.gpkg")
    frame(score=[1.5, 2.5, 3.0]).to_file(path)
    assert same(read_clip_feature(path, "2.5", id_column="score")[0], BOXES[1])
    assert same(read_clip_feature(path, 3, id_column="score")[0], BOXES[2])
    with pytest.raises(InputError, match=r"clip id 'x' is not a number, but column score holds numbers"):
        read_clip_feature(path, "x", id_column="score")


def test_multi_layer_geopackage_needs_the_layer_name(tmp_path):
    path = str(tmp_path / "multi.gpkg")
    frame().to_file(path, layer="stands")
    gpd.GeoDataFrame({"code": [1]}, geometry=[TRIANGLE], crs="EPSG:4326").to_file(path, layer="burned")
    geom, crs = read_clip_feature(path, 1, layer="burned")
    assert same(geom, TRIANGLE) and crs.to_epsg() == 4326
    assert same(read_clip_feature(path, "2", layer="stands")[0], BOXES[1])
    with pytest.raises(SourceError, match=r"holds 2 layers \((stands, burned|burned, stands)\): name one"):
        read_clip_feature(path, 1)
    with pytest.raises(SourceError, match=r"no layer 'fires'; its layers are"):
        read_clip_feature(path, 1, layer="fires")


def test_curves_are_linearised_and_z_dropped_and_no_crs_gives_none(tmp_path):
    path = tmp_path / "curves.csv"
    path.write_text(
        'WKT,id\n"CURVEPOLYGON(CIRCULARSTRING(0 0,1 1,2 0,1 -1,0 0))",a\n"POLYGON Z((0 0 5,4 0 5,0 3 5,0 0 5))",b\n'
    )
    geom, crs = read_clip_feature(str(path), "a", id_column="id")
    assert crs is None and geom.geom_type == "Polygon" and len(geom.exterior.coords) > 20
    assert geom.area == pytest.approx(np.pi, rel=0.01)
    geom, _ = read_clip_feature(str(path), 2)  # CSV fids start at 1
    assert not geom.has_z and same(geom, TRIANGLE)


def test_any_geometry_type_is_returned(tmp_path):
    path = str(tmp_path / "mixed.gpkg")
    line, point = shapely.LineString([(0, 0), (5, 5)]), shapely.Point(3, 4)
    gpd.GeoDataFrame({"k": ["l", "p"]}, geometry=[line, point], crs="EPSG:32198").to_file(path)
    assert same(read_clip_feature(path, "l", id_column="k")[0], line)
    assert same(read_clip_feature(path, 2)[0], point)


# ----------------------------------------------------------------------------------------------- files: errors
def test_missing_file_and_not_a_vector_file(tmp_path):
    with pytest.raises(SourceError, match=r"nowhere\.gpkg: no such file"):
        read_clip_feature(tmp_path / "nowhere.gpkg", 1)
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"\x00\x01 not vector data")
    with pytest.raises(SourceError, match=r"notes\.txt: cannot read it as a vector file"):
        read_clip_feature(bad, 1)


def test_missing_fid_tells_the_range(files):
    with pytest.raises(
        InputError, match=r"no feature has fid = 12 in .*stands\.gpkg \(layer stands\): fids run from 1 to 3"
    ):
        read_clip_feature(files["gpkg"], 12)
    with pytest.raises(InputError, match=r"fid = 3 in .*stands\.shp \(layer stands\): fids run from 0 to 2"):
        read_clip_feature(files["shp"], 3)
    with pytest.raises(InputError, match=r"fid = -1 .*: fids run from 1 to 3"):
        read_clip_feature(files["gpkg"], -1)


def test_fid_must_be_a_whole_number(files):
    with pytest.raises(InputError, match=r"clip id 'abc' is not a number, but fids are integers: give a number"):
        read_clip_feature(files["gpkg"], "abc")
    with pytest.raises(InputError, match=r"clip id '1.5' is not a whole number, but fids are integers"):
        read_clip_feature(files["gpkg"], "1.5")


def test_column_errors(files):
    with pytest.raises(MissingColumnError, match=r"has no column 'ID'; its columns are code, name"):
        read_clip_feature(files["gpkg"], 1, id_column="ID")
    with pytest.raises(InputError, match=r"clip id 'abc' is not a number, but column code holds integers"):
        read_clip_feature(files["gpkg"], "abc", id_column="code")
    with pytest.raises(InputError, match=r"no feature has code = 25 in .*: code runs from 10 to 30"):
        read_clip_feature(files["gpkg"], "25", id_column="code")
    with pytest.raises(InputError, match=r"no feature has name = 'west' in .*: name runs from 'east' to 'south'"):
        read_clip_feature(files["shp"], "west", id_column="name")


def test_several_features_with_the_id(tmp_path):
    path = str(tmp_path / "dup.gpkg")
    frame(zone=[2, 2, 2]).to_file(path)
    with pytest.raises(
        InputError, match=r"^3 features have zone = 2 in .*dup\.gpkg .*: pick a column with unique values"
    ):
        read_clip_feature(path, "2", id_column="zone")


def test_null_and_empty_geometries_are_refused(tmp_path):
    path = str(tmp_path / "holes.gpkg")
    frame().to_file(path)
    gdf = gpd.GeoDataFrame({"k": [1, 2, 3]}, geometry=[BOXES[0], None, shapely.Polygon()], crs="EPSG:32198")
    gdf.to_file(path, layer="holes")
    with pytest.raises(GeometryError, match=r"fid = 2 in .*\(layer holes\) has no geometry \(NULL\)"):
        read_clip_feature(path, 2, layer="holes")
    with pytest.raises(GeometryError, match=r"k = 3 in .* has an empty geometry"):
        read_clip_feature(path, 3, layer="holes", id_column="k")


# ----------------------------------------------------------------------------------------------- real data
def test_gredos_watershed_by_id(realdata):
    shp = realdata / "gredos_watersheds_dem25" / "watersheds.shp"
    table = pyogrio.read_dataframe(shp)
    for wanted in (0, 5, 8):
        geom, crs = read_clip_feature(shp, str(wanted), id_column="ID")
        assert crs.to_epsg() == 23030
        row = table[table["ID"] == wanted].iloc[0]
        assert geom.area == pytest.approx(row["area"], rel=1e-6)
        assert same(geom, row.geometry)
    assert read_clip_feature(shp, "6", id_column="NAME")[0].area == pytest.approx(2860000.0)
    with pytest.raises(InputError, match=r"no feature has ID = 9 in .*watersheds\.shp .*: ID runs from 0 to 8"):
        read_clip_feature(shp, 9, id_column="ID")


# ----------------------------------------------------------------------------------------------- PostGIS
def at(url: str, table: str) -> str:
    return f"{url}?table={quote(table)}"


@pytest.fixture
def parcels(pg_conn):
    load_features(pg_conn, "clip_parcels", BOXES, [1.5, 2.5, 3.5])
    pg_conn.execute("ALTER TABLE clip_parcels ADD COLUMN code text, ADD COLUMN zone int")
    pg_conn.execute("UPDATE clip_parcels SET code = 'P' || id, zone = CASE WHEN id = 1 THEN 1 ELSE 2 END")
    return "clip_parcels"


def test_postgis_by_primary_key(pg_url, parcels):
    for pk, box in enumerate(BOXES, start=1):
        geom, crs = read_clip_feature(at(pg_url, parcels), str(pk))
        assert same(geom, box) and crs.to_epsg() == 32198


def test_postgis_by_column_with_a_bound_value(pg_url, pg_conn, parcels):
    assert same(read_clip_feature(at(pg_url, parcels), "P3", id_column="code")[0], BOXES[2])
    assert same(read_clip_feature(at(pg_url, parcels), "2.5", id_column="value")[0], BOXES[1])
    evil = "P1' OR '1'='1"
    with pytest.raises(InputError, match=r"no feature has code = \"P1' OR '1'='1\" in .*: code runs from 'P1' to 'P3'"):
        read_clip_feature(at(pg_url, parcels), evil, id_column="code")
    with pytest.raises(InputError, match=r"^2 features have zone = 2 in .*: pick a column with unique values"):
        read_clip_feature(at(pg_url, parcels), "2", id_column="zone")
    with pytest.raises(InputError, match=r"clip id 'two' is not a number, but column zone holds integers"):
        read_clip_feature(at(pg_url, parcels), "two", id_column="zone")
    with pytest.raises(MissingColumnError, match=r"has no column 'nope'; its columns are id, value, geom, code, zone"):
        read_clip_feature(at(pg_url, parcels), 1, id_column="nope")


def test_postgis_missing_id_and_layer_name(pg_url, parcels):
    with pytest.raises(InputError, match=r"no feature has id = 12 in .*table=clip_parcels: id runs from 1 to 3"):
        read_clip_feature(at(pg_url, parcels), 12)
    with pytest.raises(InputError, match=r"a layer name does not apply to PostGIS"):
        read_clip_feature(at(pg_url, parcels), 1, layer="clip_parcels")


def test_postgis_table_without_primary_key(pg_url, pg_conn):
    load_features(pg_conn, "clip_nopk", BOXES, pk=False)
    with pytest.raises(InputError, match=r"has no single-column primary key: name the column .*--clip-id-column"):
        read_clip_feature(at(pg_url, "clip_nopk"), 1)
    assert same(read_clip_feature(at(pg_url, "clip_nopk"), "1", id_column="id")[0], BOXES[0])


def test_postgis_view_needs_the_id_column(pg_url, pg_conn, parcels):
    pg_conn.execute("CREATE OR REPLACE VIEW clip_view AS SELECT id AS gid, code, geom FROM clip_parcels")
    with pytest.raises(InputError, match=r"table=clip_view is a view: name the column"):
        read_clip_feature(at(pg_url, "clip_view"), 2)
    geom, crs = read_clip_feature(at(pg_url, "clip_view"), "2", id_column="gid")
    assert same(geom, BOXES[1]) and crs.to_epsg() == 32198


def test_postgis_null_geometry_and_curves(pg_url, pg_conn):
    pg_conn.execute("DROP TABLE IF EXISTS clip_odd")
    pg_conn.execute("CREATE TABLE clip_odd (k text PRIMARY KEY, geom geometry)")
    pg_conn.execute(
        "INSERT INTO clip_odd VALUES ('null', NULL), ('empty', 'SRID=32198;POLYGON EMPTY'), "
        "('curve', 'SRID=32198;CURVEPOLYGON Z(CIRCULARSTRING Z(0 0 1,1 1 1,2 0 1,1 -1 1,0 0 1))')"
    )
    geom, crs = read_clip_feature(at(pg_url, "clip_odd"), "curve")
    assert geom.geom_type == "Polygon" and not geom.has_z and geom.area == pytest.approx(np.pi, rel=0.01)
    assert crs.to_epsg() == 32198
    with pytest.raises(GeometryError, match=r"k = 'null' .* has no geometry \(NULL\)"):
        read_clip_feature(at(pg_url, "clip_odd"), "null")
    with pytest.raises(GeometryError, match=r"has an empty geometry"):
        read_clip_feature(at(pg_url, "clip_odd"), "empty")


def test_postgis_hostile_table_name_injects_nothing(pg_url, pg_conn):
    pg_conn.execute("CREATE TABLE IF NOT EXISTS clip_canary (x int)")
    table = 'Par"cels; DROP TABLE clip_canary;--'
    column = 'Co"de; DELETE FROM clip_canary'
    load_features(pg_conn, table, BOXES, [7, 8, 9], value_column=column)
    pg_conn.execute("INSERT INTO clip_canary VALUES (1)")
    quoted = '"' + table.replace('"', '""') + '"'
    assert same(read_clip_feature(at(pg_url, quoted), 3)[0], BOXES[2])
    assert same(read_clip_feature(at(pg_url, quoted), "8", id_column=column)[0], BOXES[1])
    with pytest.raises(InputError, match=r"no feature has id = 4"):
        read_clip_feature(at(pg_url, quoted), 4)
    assert pg_conn.execute("SELECT count(*) FROM clip_canary").fetchone()[0] >= 1
    pg_conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


def test_postgis_messages_hide_the_password(pg_cluster):
    url = f"postgresql://postgres:TopSecret99@127.0.0.1:{pg_cluster.port}/rastercover?table=no_such_table"
    with pytest.raises(SourceError) as err:
        read_clip_feature(url, 1)
    assert "TopSecret99" not in str(err.value) and "no_such_table" in str(err.value)
