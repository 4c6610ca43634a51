"""An output describes itself: each band's method and description in its metadata, class names from the source's
attribute table as category names and a raster attribute table, read back by GDAL's own ``gdalinfo``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from xml.sax.saxutils import escape

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine

import rastercover
from rastercover.cli.demo import demo_data
from rastercover.cli.main import main
from rastercover.errors import InputError, MissingColumnError
from rastercover.methods import get_method

VALUE_METHODS = ["LAST_VALUE_AT_PIXEL_CENTROID", "VALUE_OF_BIGGEST", "COUNT_OF_POLYGONS"]
TREES, RELIEF = demo_data()


def _grid():
    return rastercover.Grid(120, 90, Affine(40000, 0, -3200000, 0, -40000, 4700000), "EPSG:2964", tile_size=64)


def _gdalinfo(path) -> dict:
    exe = shutil.which("gdalinfo")
    if exe is None:
        pytest.skip("GDAL's command-line tools are not installed (apt-get install gdal-bin)")
    return json.loads(subprocess.run([exe, "-json", str(path)], capture_output=True, text=True, check=True).stdout)


def _attribute_table() -> dict[int, str]:
    """The oracle: VEG_ID -> VEGDESC as the attribute table holds them, read with pyogrio and pandas."""
    df = pyogrio.read_dataframe(TREES, read_geometry=False)
    pairs = df[["VEG_ID", "VEGDESC"]].drop_duplicates()
    assert len(pairs) == pairs.VEG_ID.nunique()  # one name per value
    return {int(v): n for v, n in zip(pairs.VEG_ID, pairs.VEGDESC)}


def test_a_geotiff_carries_descriptions_and_class_names_that_gdal_reads(tmp_path):
    out = tmp_path / "forest.tif"
    rastercover.rasterize(
        TREES, _grid(), value="VEG_ID", class_names="VEGDESC", methods=VALUE_METHODS, output=out, dtype="int16",
        nodata=-1,
    )  # fmt: skip
    table = _attribute_table()
    assert table == {24: "Deciduous", 25: "Evergreen", 50: "Mixed Trees"}
    info = _gdalinfo(out)
    for band, name in zip(info["bands"], VALUE_METHODS):
        meta = band["metadata"][""]
        assert meta == {"METHOD": name, "DESCRIPTION": get_method(name).description}
        assert band["description"] == name
    for band in info["bands"][:2]:  # the two value methods name their classes
        cats = band["categories"]
        assert len(cats) == 51 and {i: c for i, c in enumerate(cats) if c} == table
    rat = info["rat"]  # gdalinfo shows the first band's raster attribute table
    assert rat["tableType"] == "thematic"
    assert [(f["name"], f["type"], f["usage"]) for f in rat["fieldDefn"]] == [("Value", 0, 5), ("Class", 2, 2)]
    assert [tuple(r["f"]) for r in rat["row"]] == sorted(table.items())
    assert "categories" not in info["bands"][2]  # a count names no class
    with rasterio.open(out) as ds:  # the pixels hold exactly the named classes
        assert set(np.unique(ds.read(1))) - {-1} == set(table)


def test_a_dataarray_keeps_them_as_attrs_that_netcdf_can_hold(tmp_path):
    da = rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", methods=VALUE_METHODS)
    table = {repr(float(k)): v for k, v in _attribute_table().items()}
    assert json.loads(da.attrs["classes"]) == {"LAST_VALUE_AT_PIXEL_CENTROID": table, "VALUE_OF_BIGGEST": table}
    assert da.attrs["descriptions"] == tuple(get_method(m).description for m in VALUE_METHODS)
    # netCDF and Zarr refuse mappings as attributes: every attr is text, a number or a sequence of them
    for key, val in da.attrs.items():
        assert isinstance(val, str | int | float | tuple | type(None)), key
    da.to_dataset(name="forest").to_zarr(tmp_path / "forest.zarr")
    import xarray as xr

    with xr.open_zarr(tmp_path / "forest.zarr") as back:
        assert json.loads(back["forest"].attrs["classes"])["VALUE_OF_BIGGEST"] == table


def test_a_filter_on_a_field_not_read_keeps_the_names_on_every_driver(tmp_path):
    """Shapefile and FlatGeobuf test an attribute filter on the fields read only: the names must not vanish."""
    boxes = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10), shapely.box(20, 0, 30, 10)]
    import geopandas as gpd

    df = gpd.GeoDataFrame({"code": [1, 2, 3], "name": ["a", "b", "c"], "keep": [1, 0, 1]}, geometry=boxes,
                          crs="EPSG:3857")  # fmt: skip
    grid = rastercover.Grid(3, 1, Affine(10, 0, 0, 0, -10, 10), "EPSG:3857")
    for ext in ("gpkg", "shp", "fgb"):
        path = tmp_path / f"zones.{ext}"
        df.to_file(path)
        da = rastercover.rasterize(path, grid, value="code", where="keep = 1", class_names="name",
                                   methods=["VALUE_OF_BIGGEST", "COVERED_FRACTION_BY_VALUE"])  # fmt: skip
        assert json.loads(da.attrs["classes"]) == {"VALUE_OF_BIGGEST": {"1.0": "a", "3.0": "c"}}, ext
        assert list(da.band.values[1:]) == ["COVERED_FRACTION_BY_VALUE:1", "COVERED_FRACTION_BY_VALUE:3"], ext
    gdf = rastercover.rasterize(df, grid, value="code", class_names="name", methods="VALUE_OF_BIGGEST")
    assert json.loads(gdf.attrs["classes"]) == {"VALUE_OF_BIGGEST": {"1.0": "a", "2.0": "b", "3.0": "c"}}
    df.loc[1, "name"] = None  # a missing name (NaN in pandas) names nothing
    gdf = rastercover.rasterize(df, grid, value="code", class_names="name", methods="VALUE_OF_BIGGEST")
    assert json.loads(gdf.attrs["classes"]) == {"VALUE_OF_BIGGEST": {"1.0": "a", "3.0": "c"}}


def test_a_class_the_band_cannot_hold_names_nothing_when_no_pixel_gets_it():
    """A national layer onto a small grid: a class beyond the band's range far away from it is no error."""
    import geopandas as gpd

    boxes = [shapely.box(0, 0, 10, 10), shapely.box(1000, 0, 1010, 10)]  # the second: off the grid
    df = gpd.GeoDataFrame({"v": [3, 300], "n": ["c", "far"]}, geometry=boxes, crs="EPSG:3857")
    grid = rastercover.Grid(1, 1, Affine(10, 0, 0, 0, -10, 10), "EPSG:3857")
    da = rastercover.rasterize(df, grid, value="v", class_names="n", methods="VALUE_OF_BIGGEST", dtype="uint8",
                               nodata=255)  # fmt: skip
    assert da.values.tolist() == [[[3]]] and json.loads(da.attrs["classes"]) == {"VALUE_OF_BIGGEST": {"3.0": "c"}}


def test_names_are_keyed_by_the_values_the_pixels_hold(tmp_path):
    boxes = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10), shapely.box(20, 0, 30, 10)]
    import geopandas as gpd

    grid = rastercover.Grid(3, 1, Affine(10, 0, 0, 0, -10, 10), "EPSG:3857")

    def classes(values, names, **kw):
        df = gpd.GeoDataFrame({"v": values, "n": names}, geometry=boxes, crs="EPSG:3857")
        da = rastercover.rasterize(df, grid, value="v", class_names="n", methods="VALUE_OF_BIGGEST", **kw)
        return json.loads(da.attrs["classes"])["VALUE_OF_BIGGEST"], da.values[0, 0].tolist()

    names, pixels = classes([0.1, 0.2, 3e9], ["x", "y", "big"], dtype="float32")
    assert names == {repr(float(np.float32(v))): n for v, n in [(0.1, "x"), (0.2, "y"), (3e9, "big")]}
    assert [repr(float(p)) for p in pixels] == list(names)  # the keys are the pixels' own values
    names, pixels = classes([2.4, 7.0, 9.0], ["a", "b", "c"], dtype="int16", nodata=-1)
    assert names == {"2.0": "a", "7.0": "b", "9.0": "c"} and pixels == [2, 7, 9]
    with pytest.raises(InputError, match=r"values 2 \('a'\) and 2.4 \('b'\) are both stored as 2 in a int16 band"):
        classes([2.0, 2.4, 9.0], ["a", "b", "c"], dtype="int16", nodata=-1)
    # a value without a name stored as a named class's pixel value would show that name: refused, either way round
    with pytest.raises(InputError, match=r"values 2 \('a'\) and 2.4 \(no name\) are both stored as 2 in a int16"):
        classes([2.0, 2.4, 9.0], ["a", None, "c"], dtype="int16", nodata=-1)
    with pytest.raises(InputError, match=r"values 2 \(no name\) and 2.4 \('b'\) are both stored as 2 in a int16"):
        classes([2.0, 2.4, 9.0], [None, "b", "c"], dtype="int16", nodata=-1)
    names, pixels = classes([2.0, 2.0, 9.4], ["a", None, None], dtype="int16", nodata=-1)  # one value, named once
    assert names == {"2.0": "a"} and pixels == [2, 2, 9]
    # PostGIS's value path moves a result off nodata: class 0 would carry class 1's pixels
    with pytest.raises(InputError, match=r"values 0 \('a'\) and 1 \('b'\) are both stored as 1 in a uint8 band"):
        classes([0.0, 1.0, 9.0], ["a", "b", "c"], dtype="uint8", nodata=0, semantics="postgis")
    with pytest.raises(InputError, match=r"gives 0 in 1 pixel\(s\), which is the band's nodata value"):
        classes([0.0, 1.0, 9.0], ["a", "b", "c"], dtype="uint8", nodata=0)  # the run itself would refuse it
    out = tmp_path / "big.tif"
    df = gpd.GeoDataFrame({"v": [1.0, 2.0, 3e9], "n": ["a", "b", "big"]}, geometry=boxes, crs="EPSG:3857")
    rastercover.rasterize(df, grid, value="v", class_names="n", methods="VALUE_OF_BIGGEST", output=out,
                          dtype="float64")  # fmt: skip
    rows = [tuple(r["f"]) for r in _gdalinfo(out)["rat"]["row"]]
    assert rows == [(1.0, "a"), (2.0, "b"), (3e9, "big")]  # beyond int32: a Real column, read back exactly


def test_any_overwrite_drops_the_side_files_of_the_file_it_replaces(tmp_path):
    out = tmp_path / "forest.tif"
    side = tmp_path / "forest.tif.aux.xml"
    rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", output=out)
    assert side.is_file()
    ovr = tmp_path / "forest.tif.ovr"  # external overviews, as QGIS's "Build pyramids" writes them
    subprocess.run([shutil.which("gdaladdo") or "gdaladdo", "-q", "-ro", str(out), "2"], check=True)
    assert ovr.is_file()
    rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", output=out, overwrite=True)
    assert not ovr.exists()  # the old pixels' overviews would be read for the new ones
    rastercover.export(RELIEF, out, overwrite=True, bbox=(-1e6, 2e6, 0, 3e6))  # another coverage, by export
    assert not side.exists() and "categories" not in _gdalinfo(out)["bands"][0]
    rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", output=out, overwrite=True)
    (tmp_path / "d.tif").mkdir()  # a failed commit leaves no side file anywhere
    with pytest.raises(Exception, match="d.tif"):
        rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", output=tmp_path / "d.tif",
                              overwrite=True)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.tif", "forest.tif", "forest.tif.aux.xml"]


def test_every_band_is_described_without_class_names(tmp_path):
    out = tmp_path / "cover.tif"
    rastercover.rasterize(TREES, _grid(), methods=["PROPORTION_OF_COVERED_AREA"], output=out)
    band = _gdalinfo(out)["bands"][0]
    assert band["metadata"][""]["DESCRIPTION"] == get_method("PROPORTION_OF_COVERED_AREA").description
    assert "categories" not in band
    assert not (tmp_path / "cover.tif.aux.xml").exists()


def test_overwriting_drops_the_class_names_of_the_file_it_replaces(tmp_path):
    out = tmp_path / "forest.tif"
    side = tmp_path / "forest.tif.aux.xml"
    rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", output=out)
    assert side.is_file()
    rastercover.rasterize(TREES, _grid(), value="AREA_KM2", output=out, overwrite=True)  # areas, not classes
    assert not side.exists()
    assert "categories" not in _gdalinfo(out)["bands"][0]


def test_a_zarr_store_and_a_cog_assembled_after_the_run_keep_them_too(tmp_path):
    import xarray as xr

    table = {repr(float(k)): v for k, v in _attribute_table().items()}
    rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", methods=VALUE_METHODS,
                          output=tmp_path / "forest.zarr")  # fmt: skip
    with xr.open_zarr(tmp_path / "forest.zarr") as back:
        attrs = back["rastercover"].attrs
        assert json.loads(attrs["classes"]) == {"LAST_VALUE_AT_PIXEL_CENTROID": table, "VALUE_OF_BIGGEST": table}
        assert attrs["descriptions"] == [get_method(m).description for m in VALUE_METHODS]
    rastercover.rasterize(TREES, _grid(), value="VEG_ID", methods="COUNT_OF_POLYGONS", output=tmp_path / "forest.zarr",
                          overwrite=True)  # fmt: skip
    with xr.open_zarr(tmp_path / "forest.zarr") as back:
        assert "classes" not in back["rastercover"].attrs
    cog = tmp_path / "all.tif"
    rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", methods=VALUE_METHODS,
                          output=tmp_path / "tiles", cog=str(cog))  # fmt: skip
    named = [{i: c for i, c in enumerate(b.get("categories", [])) if c} for b in _gdalinfo(cog)["bands"]]
    assert named == [_attribute_table(), _attribute_table(), {}]


def test_class_names_refused_where_they_cannot_be_right(tmp_path, pg_url):
    grid = _grid()
    with pytest.raises(InputError, match=r"class names \('VEGDESC', --class-names / class_names=\) name the values "
                       r"of methods .* none of COUNT_OF_POLYGONS is one"):  # fmt: skip
        rastercover.rasterize(TREES, grid, value="VEG_ID", class_names="VEGDESC", methods="COUNT_OF_POLYGONS")
    with pytest.raises(InputError, match=r"a PostGIS raster table has no place for them; write the output to a \.tif"):
        rastercover.rasterize(TREES, grid, value="VEG_ID", class_names="VEGDESC", output=f"{pg_url}?table=forest")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(MissingColumnError, match=r"has no column 'NAME' to name classes; its columns are .*VEGDESC"):
        rastercover.rasterize(TREES, grid, value="VEG_ID", class_names="NAME")
    # a value named twice: the Evergreen polygons given the Deciduous value
    with pytest.raises(InputError, match=r"value 24 has two names in column 'VEGDESC' \('Deciduous', 'Evergreen'\)"):
        shifted = tmp_path / "shifted.gpkg"
        df = pyogrio.read_dataframe(TREES)
        df.loc[df.VEG_ID == 25, "VEG_ID"] = 24
        pyogrio.write_dataframe(df, shifted)
        rastercover.rasterize(shifted, grid, value="VEG_ID", class_names="VEGDESC")
    with pytest.raises(InputError, match="has no attribute table to read class names from"):  # bare pairs
        rastercover.rasterize([(shapely.box(0, 0, 1, 1), 1.0)], grid, class_names="x", assume_crs="EPSG:2964")


def test_a_tile_folder_names_them_in_its_index_vrt(tmp_path):
    """The mosaic GDAL and QGIS open, index.vrt, carries each band's metadata and class names; its pixels are the
    single GeoTIFF's."""
    folder, single = tmp_path / "forest_tiles", tmp_path / "forest.tif"
    for out in (folder, single):
        rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", methods=VALUE_METHODS,
                              output=out, dtype="int16", nodata=-1)  # fmt: skip
    vrt, tif = _gdalinfo(folder / "index.vrt"), _gdalinfo(single)
    for a, b in zip(vrt["bands"], tif["bands"]):
        assert a["metadata"] == b["metadata"] and a.get("categories") == b.get("categories")
    assert vrt["rat"] == tif["rat"]
    with rasterio.open(folder / "index.vrt") as a, rasterio.open(single) as b:
        assert np.array_equal(a.read(), b.read())


def test_the_command_line_option(tmp_path, capsys):
    out = tmp_path / "f.tif"
    code = main(["rasterize", TREES, "--value", "VEG_ID", "--class-names", "VEGDESC", "--like", RELIEF,
                 "-m", "VALUE_OF_BIGGEST", "-o", str(out), "--no-progress"])  # fmt: skip
    assert code in (0, None), capsys.readouterr().err
    cats = _gdalinfo(out)["bands"][0]["categories"]
    assert (cats[24], cats[25], cats[50]) == ("Deciduous", "Evergreen", "Mixed Trees")


def test_class_names_from_a_postgis_table(pg_url, pg_conn, tmp_path):
    from .pgload import load_features

    boxes = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10), shapely.box(0, 10, 5, 20)]
    load_features(pg_conn, "landuse", boxes, [1, 2, 1], srid=3857, value_column="code")
    pg_conn.execute("ALTER TABLE landuse ADD COLUMN label text")
    pg_conn.execute("UPDATE landuse SET label = CASE code WHEN 1 THEN 'meadow' ELSE 'forest' END")
    grid = rastercover.Grid(4, 4, Affine(5, 0, 0, 0, -5, 20), "EPSG:3857")
    da = rastercover.rasterize(f"{pg_url}?table=public.landuse", grid, value="code", class_names="label")
    assert json.loads(da.attrs["classes"]) == {"LAST_VALUE_AT_PIXEL_CENTROID": {"1.0": "meadow", "2.0": "forest"}}
    pg_conn.execute("UPDATE landuse SET label = 'pasture' WHERE id = 3")
    with pytest.raises(InputError, match=r"value 1 has two names in column 'label' \('meadow', 'pasture'\)|"
                       r"value 1 has two names in column 'label' \('pasture', 'meadow'\)"):  # fmt: skip
        rastercover.rasterize(f"{pg_url}?table=public.landuse", grid, value="code", class_names="label")


# ---------------------------------------------------------------------- an export carries the class names
def _classed(tmp_path, **kw):
    out = tmp_path / "forest.tif"
    rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", methods=VALUE_METHODS, output=out,
                          dtype="int16", nodata=-1, **kw)  # fmt: skip
    return out


def _named(band: dict) -> dict[int, str]:
    return {i: c for i, c in enumerate(band.get("categories", [])) if c}


def test_an_export_keeps_the_class_names_where_the_format_can(tmp_path):
    src = _classed(tmp_path)
    table = _attribute_table()
    r = rastercover.export(src, tmp_path / "all.tif")
    assert r.files == (str(tmp_path / "all.tif"), str(tmp_path / "all.tif.aux.xml"))
    info = _gdalinfo(r.path)
    assert [_named(b) for b in info["bands"]] == [table, table, {}]
    assert [tuple(row["f"]) for row in info["rat"]["row"]] == sorted(table.items())
    # the bands picked, in the order asked: the names follow their band
    r = rastercover.export(src, tmp_path / "picked.tif", bands=[3, 2], format="cog")
    assert [_named(b) for b in _gdalinfo(r.path)["bands"]] == [{}, table]
    # a clip, per tile: every file has its names
    r = rastercover.export(src, tmp_path / "tiles", per_tile=True, bbox=(-3200000, 2000000, -500000, 4700000))
    tifs = sorted(f for f in r.files if f.endswith(".tif"))
    assert len(tifs) == 4 and sorted(f for f in r.files if f.endswith(".aux.xml")) == [t + ".aux.xml" for t in tifs]
    assert all(_named(_gdalinfo(t)["bands"][0]) == table for t in tifs)
    # an ASCII grid: beside it, and in its zip, where GDAL reads them through /vsizip
    r = rastercover.export(src, tmp_path / "one.asc", bands=[1])
    assert r.files[-1] == str(tmp_path / "one.asc.aux.xml") and _named(_gdalinfo(r.path)["bands"][0]) == table
    r = rastercover.export(src, tmp_path / "one.zip", format="aaigrid", bands=[1])
    assert r.members == ("one.asc", "one.prj", "one.asc.aux.xml")
    assert _named(_gdalinfo(f"/vsizip/{r.path}/one.asc")["bands"][0]) == table
    # a warp that picks source values keeps them; one that mixes them would name made-up values: dropped
    r = rastercover.export(src, tmp_path / "near.tif", bands=[1], resolution=80000)
    assert _named(_gdalinfo(r.path)["bands"][0]) == table and r.files[-1].endswith(".aux.xml")
    r = rastercover.export(src, tmp_path / "avg.tif", bands=[1], resolution=80000, resampling="average")
    assert r.files == (str(tmp_path / "avg.tif"),) and "categories" not in _gdalinfo(r.path)["bands"][0]
    assert "class names not kept: average resampling makes values that are no class" in r.notes
    # a format with no place for them says so
    r = rastercover.export(src, tmp_path / "one.png", bands=[1])
    assert any(n.startswith("class names not kept: png has no place for them") for n in r.notes)
    # a type that changes a class's value drops that class only
    r = rastercover.export(src, tmp_path / "small.tif", bands=[1], dtype="int8", nodata=-1)
    assert _named(_gdalinfo(r.path)["bands"][0]) == table  # 24, 25 and 50 fit in int8


def test_class_names_written_by_gdal_itself_are_read_and_carried(tmp_path):
    """The oracle is GDAL: gdal_translate writes a raster attribute table (negative values, a count column,
    the name column not last) and category names into its own .aux.xml; the export carries the same names."""
    vrt = tmp_path / "src.vrt"
    data = tmp_path / "data.tif"
    with rasterio.open(data, "w", driver="GTiff", width=3, height=1, count=2, dtype="int16",
                       crs="EPSG:3857", transform=Affine(10, 0, 0, 0, -10, 10)) as ds:  # fmt: skip
        ds.write(np.array([[[-5, 7, 7]], [[0, 1, 2]]], dtype="int16"))
    rows = "".join(f"<Row index='{i}'><F>{escape(n)}</F><F>{v}</F><F>{c}</F></Row>"
                   for i, (v, n, c) in enumerate([(-5, "Water & ice", 1), (7, "<Urban>", 2)]))  # fmt: skip
    vrt.write_text(
        "<VRTDataset rasterXSize='3' rasterYSize='1'><SRS>EPSG:3857</SRS><GeoTransform>0,10,0,10,0,-10</GeoTransform>"
        "<VRTRasterBand dataType='Int16' band='1'><SimpleSource><SourceFilename relativeToVRT='1'>data.tif"
        "</SourceFilename><SourceBand>1</SourceBand></SimpleSource><GDALRasterAttributeTable tableType='thematic'>"
        "<FieldDefn index='0'><Name>Label</Name><Type>2</Type><Usage>2</Usage></FieldDefn>"
        "<FieldDefn index='1'><Name>Code</Name><Type>0</Type><Usage>5</Usage></FieldDefn>"
        "<FieldDefn index='2'><Name>Count</Name><Type>0</Type><Usage>1</Usage></FieldDefn>"
        f"{rows}</GDALRasterAttributeTable></VRTRasterBand>"
        "<VRTRasterBand dataType='Int16' band='2'><SimpleSource><SourceFilename relativeToVRT='1'>data.tif"
        "</SourceFilename><SourceBand>2</SourceBand></SimpleSource><CategoryNames><Category>none</Category>"
        "<Category></Category><Category>two</Category></CategoryNames></VRTRasterBand></VRTDataset>"
    )
    made = tmp_path / "made.tif"
    subprocess.run([shutil.which("gdal_translate") or "gdal_translate", "-q", str(vrt), str(made)], check=True)
    assert (tmp_path / "made.tif.aux.xml").is_file()  # GDAL's own PAM file
    from rastercover.io.pam import read_class_tables

    want = ({-5.0: "Water & ice", 7.0: "<Urban>"}, {0.0: "none", 2.0: "two"})
    assert read_class_tables(made, 2) == want
    assert read_class_tables(vrt, 2) == want
    r = rastercover.export(made, tmp_path / "out.tif")
    info = _gdalinfo(r.path)  # gdalinfo shows the last band's attribute table only
    assert [tuple(row["f"]) for row in info["rat"]["row"]] == [(0, "none"), (2, "two")]
    assert info["bands"][1]["categories"] == ["none", "", "two"]
    first = tmp_path / "first.tif"  # band 1 alone, by GDAL: its table went with it
    subprocess.run([shutil.which("gdal_translate") or "gdal_translate", "-q", "-b", "1", r.path, str(first)],
                   check=True)  # fmt: skip
    assert [tuple(row["f"]) for row in _gdalinfo(first)["rat"]["row"]] == [(-5, "Water & ice"), (7, "<Urban>")]
    with rasterio.open(r.path) as ds:
        assert ds.read().tolist() == [[[-5, 7, 7]], [[0, 1, 2]]]
    # a type that cannot hold a class's value leaves that class out, and says so
    r = rastercover.export(made, tmp_path / "urban.tif", bands=[1], bbox=(10, 0, 30, 10), dtype="uint8")
    assert "class names of value(s) -5 not kept: a uint8 band does not tell them apart" in r.notes
    assert [tuple(row["f"]) for row in _gdalinfo(r.path)["rat"]["row"]] == [(7, "<Urban>")]


def test_a_tile_folder_exports_with_its_names_and_downloads_leave_nothing(tmp_path):
    folder = tmp_path / "tiles"
    rastercover.rasterize(TREES, _grid(), value="VEG_ID", class_names="VEGDESC", methods="VALUE_OF_BIGGEST",
                          output=folder, dtype="int16", nodata=-1)  # fmt: skip
    table = _attribute_table()
    r = rastercover.export(folder, tmp_path / "whole.tif")
    assert _named(_gdalinfo(r.path)["bands"][0]) == table
    src = _classed(tmp_path)
    downloads = tmp_path / "dl"
    downloads.mkdir()
    with rastercover.export_file(src, dir=str(downloads), bands=[1]) as f:  # a single file cannot carry them
        assert f.filename == "forest_b1.tif" and [p.name for p in downloads.iterdir()] == [os.path.basename(f.path)]
    assert list(downloads.iterdir()) == []  # and nothing is left behind
    with rastercover.export_file(src, format="aaigrid", bands=[1]) as f:
        import zipfile

        assert zipfile.ZipFile(f.path).namelist() == ["forest_b1.asc", "forest_b1.prj", "forest_b1.asc.aux.xml"]


def _small(path, pixels, dtype, nodata=None, tables=None):
    """A 1-band raster of ``pixels`` (one row) with the class names ``tables`` in its .aux.xml."""
    from rastercover.io.pam import write_class_tables

    with rasterio.open(path, "w", driver="GTiff", width=len(pixels), height=1, count=1, dtype=dtype, nodata=nodata,
                       crs="EPSG:3857", transform=Affine(10, 0, 0, 0, -10, 10)) as ds:  # fmt: skip
        ds.write(np.array([[pixels]], dtype=dtype))
    if tables is not None:
        write_class_tables(str(path), tables)
    return path


def _rat(path) -> dict[float, str]:
    return {float(v): n for v, n in (tuple(r["f"]) for r in _gdalinfo(path).get("rat", {}).get("row", []))}


def test_an_export_never_puts_a_name_on_pixels_it_does_not_name(tmp_path):
    """Found by review: each case gave a file whose class names sat on other classes' pixels or on nodata."""
    # rounding to an integer type moves 2.6 onto class 3: neither may keep a name, 2 still may
    src = _small(tmp_path / "f.tif", [2, 2.6, 3, 1], "float32", -9999, [{2: "A", 2.6: "B", 3: "C"}])
    r = rastercover.export(src, tmp_path / "i.tif", dtype="int16")
    with rasterio.open(r.path) as ds:
        assert ds.read(1).tolist() == [[2, 3, 3, 1]]
    assert _rat(r.path) == {2.0: "A"}
    assert "class names of value(s) 2.6, 3 not kept: a int16 band does not tell them apart" in r.notes
    # a class stored as the output's nodata names no pixel
    src = _small(tmp_path / "u.tif", [0, 1, 2], "uint8", None, [{0: "Water", 1: "Land"}])
    r = rastercover.export(src, tmp_path / "n.tif", nodata=0)
    assert _rat(r.path) == {1.0: "Land"}
    assert "class names of value(s) 0 not kept: stored as the nodata value 0" in r.notes
    # COG overviews: by nearest neighbour when classes are named (an average of 1 and 3 would read as class 2)
    big = np.tile(np.array([1.0, 3.0], dtype="float32"), 512)
    src = _small(tmp_path / "c.tif", list(big), "float32", -9999, [{1: "One", 2: "Two", 3: "Three"}])
    for kw, named in (({}, True), ({"overview_resampling": "mode"}, True), ({"overview_resampling": "average"}, False)):
        r = rastercover.export(src, tmp_path / "c_cog.tif", format="cog", overwrite=True, **kw)
        assert (_rat(r.path) == {1.0: "One", 2.0: "Two", 3.0: "Three"}) is named, kw
        with rasterio.open(r.path) as ds:
            assert ds.overviews(1)
            level = set(np.unique(ds.read(1, out_shape=(1, 1, ds.width // ds.overviews(1)[0]))))
        assert level <= {1.0, 3.0} if named else 2.0 in level, kw  # averaged: values of no pixel of the source
    assert "class names not kept: overviews by average make values that are no class" in " ".join(r.notes)
    # a rasterized COG of named classes: its overviews hold class values only
    cog = tmp_path / "forest_cog.tif"
    fine = rastercover.Grid(1200, 900, Affine(4000, 0, -3200000, 0, -4000, 4700000), "EPSG:2964", tile_size=256)
    rastercover.rasterize(TREES, fine, value="VEG_ID", class_names="VEGDESC", output=tmp_path / "tiles",
                          methods=["VALUE_OF_BIGGEST", "COUNT_OF_POLYGONS"], dtype="int16", nodata=-1,
                          cog=str(cog))  # fmt: skip
    with rasterio.open(cog) as ds:
        assert ds.overviews(1)[0] == 2
        level = ds.read(1, out_shape=(1, ds.height // 2, ds.width // 2))
    assert set(np.unique(level)) == {-1, 24, 25, 50}


def test_class_names_are_read_as_gdal_reads_them(tmp_path):
    from rastercover.io.pam import read_class_tables

    src = _small(tmp_path / "a.tif", [1, 2], "uint8", None)
    side = tmp_path / "a.tif.aux.xml"
    side.write_text('<?xml version="1.0" encoding="bogus-enc"?><PAMDataset/>')  # an unknown encoding: no names
    assert read_class_tables(src, 1) == (None,)
    assert rastercover.export(src, tmp_path / "e.tif").files == (str(tmp_path / "e.tif"),)
    side.write_bytes(b"\x00\xff\xfe garbage")
    assert read_class_tables(src, 1) == (None,)
    # category names and a table that disagree: which a reader shows depends on the reader, so neither
    side.write_text('<PAMDataset><PAMRasterBand band="1"><CategoryNames><Category>Water</Category><Category>Forest'
                    '</Category></CategoryNames><GDALRasterAttributeTable tableType="thematic"><FieldDefn index="0">'
                    "<Name>Value</Name><Type>0</Type><Usage>5</Usage></FieldDefn><FieldDefn index=\"1\"><Name>Class"
                    '</Name><Type>2</Type><Usage>2</Usage></FieldDefn><Row index="0"><F>0</F><F>Urban</F></Row>'
                    "</GDALRasterAttributeTable></PAMRasterBand></PAMDataset>")  # fmt: skip
    assert read_class_tables(src, 1) == (None,)
    # a table of linear bins names rows by bin, not by a value column: not read as classes
    side.write_text('<PAMDataset><PAMRasterBand band="1"><GDALRasterAttributeTable Row0Min="0" BinSize="10" '
                    'tableType="thematic"><FieldDefn index="0"><Name>Value</Name><Type>0</Type><Usage>0</Usage>'
                    '</FieldDefn><FieldDefn index="1"><Name>Class</Name><Type>2</Type><Usage>2</Usage></FieldDefn>'
                    '<Row index="0"><F>0</F><F>low</F></Row><Row index="1"><F>1</F><F>high</F></Row>'
                    "</GDALRasterAttributeTable></PAMRasterBand></PAMDataset>")  # fmt: skip
    assert read_class_tables(src, 1) == (None,)
    # a VRT's names are in its bands; GDAL ignores a .vrt.aux.xml for them
    vrt = tmp_path / "a.vrt"
    subprocess.run([shutil.which("gdal_translate") or "gdal_translate", "-q", "-of", "VRT", str(src), str(vrt)],
                   check=True)  # fmt: skip
    from rastercover.io.pam import write_class_tables

    write_class_tables(str(vrt), [{1: "one"}])
    assert "categories" not in _gdalinfo(vrt)["bands"][0] and read_class_tables(vrt, 1) == (None,)


def test_a_resumed_zarr_store_names_what_the_resuming_run_names(tmp_path):
    """An interrupted run that named classes, resumed without them: the store must not keep the old names."""
    import xarray as xr

    out = tmp_path / "forest.zarr"
    fine = rastercover.Grid(600, 450, Affine(8000, 0, -3200000, 0, -8000, 4700000), "EPSG:2964", tile_size=128)
    seen = []

    def stop(n):
        seen.append(n)
        if sum(seen) >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rastercover.rasterize(TREES, fine, value="VEG_ID", class_names="VEGDESC", methods="VALUE_OF_BIGGEST",
                              output=out, resume=True, progress=stop, block_pixels=16_384)  # fmt: skip
    assert (tmp_path / ".forest.zarr.partial").is_dir()
    rastercover.rasterize(TREES, fine, value="VEG_ID", methods="VALUE_OF_BIGGEST", output=out, resume=True)
    with xr.open_zarr(out) as back:
        assert "classes" not in back["rastercover"].attrs
        assert back["rastercover"].attrs["descriptions"] == [get_method("VALUE_OF_BIGGEST").description]
