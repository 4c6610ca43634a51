"""Vector sources: OGR files, GeoDataFrames, pairs; reprojection; errors that name the fix."""

from __future__ import annotations

import numpy as np
import pyogrio.raw
import pytest
import shapely

import rastercover
from rastercover import CRSError, FileVectorSource, MemoryVectorSource, MissingColumnError, SourceError
from rastercover.io import ReprojectedSource


def _write(path, geoms, values, *, crs="EPSG:32198", layer="stands", driver=None, append=False, name="height"):
    kw = {"driver": driver} if driver else {}
    if crs:
        kw["crs"] = crs
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.array(geoms, dtype=object)),
        [np.asarray(values, dtype=float)],
        [name],
        layer=layer,
        geometry_type="Unknown",
        append=append,
        **kw,
    )
    return str(path)


BOXES = [shapely.box(i * 10, 0, i * 10 + 10, 10) for i in range(10)]


@pytest.mark.parametrize(
    "ext,driver", [(".gpkg", "GPKG"), (".shp", "ESRI Shapefile"), (".geojson", "GeoJSON"), (".fgb", "FlatGeobuf")]
)
def test_any_ogr_format_reads_by_bbox_in_layer_order(tmp_path, ext, driver):
    geoms = [shapely.box(i * 10, 0, i * 10 + 10, 10) for i in range(10)]
    if driver == "ESRI Shapefile":
        geoms = [shapely.MultiPolygon([g]) for g in geoms]
    path = _write(tmp_path / f"s{ext}", geoms, np.arange(10) * 1.5, driver=driver)
    src = FileVectorSource(path, value="height")
    assert src.crs.to_epsg() == 32198
    assert src.bounds == (0.0, 0.0, 100.0, 10.0)
    f = src.read((25, 2, 44, 3))
    assert f.value.tolist() == [3.0, 4.5, 6.0]
    assert np.all(np.diff(f.order) > 0)
    assert len(src.read(None)) == 10


def test_where_filter_and_null_values(tmp_path):
    path = _write(tmp_path / "s.gpkg", BOXES[:3], [1.0, np.nan, 3.0])
    assert FileVectorSource(path, value="height").read(None).value.tolist()[1] != 1.0
    assert np.isnan(FileVectorSource(path, value="height").read(None).value[1])
    assert FileVectorSource(path, value="height", where="height > 2").read(None).value.tolist() == [3.0]


def test_file_errors_name_the_problem_and_the_fix(tmp_path):
    path = _write(tmp_path / "s.gpkg", BOXES[:2], [1, 2])
    _write(tmp_path / "s.gpkg", BOXES[:2], [1, 2], layer="other", append=True)
    with pytest.raises(SourceError, match="no such file"):
        FileVectorSource(tmp_path / "nope.gpkg")
    with pytest.raises(SourceError, match=r"2 layers \(stands, other\).*--layer"):
        FileVectorSource(path)
    with pytest.raises(SourceError, match="no layer 'x'; its layers are stands, other"):
        FileVectorSource(path, layer="x")
    with pytest.raises(MissingColumnError, match="no column 'hieght'; its columns are height"):
        FileVectorSource(path, layer="stands", value="hieght")
    with pytest.raises(SourceError, match="filter 'nope > 1' fails"):
        FileVectorSource(path, layer="stands", where="nope > 1")
    with pytest.raises(SourceError, match="no feature matches"):
        FileVectorSource(path, layer="stands", where="height > 100")
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"\0" * 100)
    with pytest.raises(SourceError, match="junk.gpkg"):
        FileVectorSource(junk)


def test_text_column_is_refused(tmp_path):
    path = str(tmp_path / "t.gpkg")
    pyogrio.raw.write(
        path,
        shapely.to_wkb(np.array([BOXES[0]])),
        [np.array(["a"], dtype=object)],
        ["name"],
        geometry_type="Polygon",
        crs="EPSG:32198",
    )
    with pytest.raises(MissingColumnError, match="must be numeric"):
        FileVectorSource(path, value="name")


def test_missing_crs_needs_assume_crs(tmp_path):
    path = _write(tmp_path / "nocrs.geojson", BOXES[:2], [1, 2], crs=None, driver="GeoJSON")
    # GeoJSON defaults to WGS84 by the RFC; use a shapefile without .prj for a truly CRS-less file
    shp = _write(tmp_path / "nocrs.shp", [shapely.MultiPolygon([b]) for b in BOXES[:2]], [1, 2], crs=None)
    with pytest.raises(CRSError, match="has no CRS.*--assume-crs"):
        FileVectorSource(shp)
    assert FileVectorSource(shp, assume_crs="EPSG:32198").crs.to_epsg() == 32198
    assert path


def test_empty_layer_is_an_error(tmp_path):
    path = str(tmp_path / "e.gpkg")
    pyogrio.raw.write(
        path,
        np.array([], dtype=object),
        [np.array([], dtype=float)],
        ["height"],
        geometry_type="Polygon",
        crs="EPSG:32198",
    )
    with pytest.raises(SourceError, match="empty"):
        FileVectorSource(path)


def test_geodataframe_and_pairs():
    gpd = pytest.importorskip("geopandas")
    gdf = gpd.GeoDataFrame({"h": [1.0, None, 3.0]}, geometry=BOXES[:3], crs="EPSG:32198")
    src = MemoryVectorSource.from_geodataframe(gdf, value="h")
    assert src.read((15, 1, 16, 2)).order.tolist() == [1]
    assert np.isnan(src.read(None).value[1])
    with pytest.raises(MissingColumnError, match="no column 'x'"):
        MemoryVectorSource.from_geodataframe(gdf, value="x")
    with pytest.raises(CRSError, match="no CRS"):
        MemoryVectorSource.from_geodataframe(gdf.set_crs(None, allow_override=True), value="h")
    pairs = MemoryVectorSource.from_pairs(
        [(BOXES[0], 2), ("POINT (5 5)", None), (BOXES[1].__geo_interface__, 4)], crs=32198
    )
    assert pairs.read(None).value[0] == 2 and np.isnan(pairs.read(None).value[1])
    with pytest.raises(CRSError, match="assume_crs"):
        MemoryVectorSource.from_pairs([(BOXES[0], 1)])


def test_reprojection_to_the_grid_crs(tmp_path):
    lonlat = [shapely.box(-71.3, 46.7, -71.1, 46.9)]
    path = _write(tmp_path / "ll.gpkg", lonlat, [5.0], crs="EPSG:4326")
    rp = ReprojectedSource(FileVectorSource(path, value="height"), "EPSG:32198")
    f = rp.read(None)
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, 32198, always_xy=True)
    x, y = tr.transform(-71.3, 46.7)
    assert shapely.get_coordinates(f.geometry[0]).min(axis=0) == pytest.approx(
        [x, min(y, tr.transform(-71.1, 46.7)[1])], rel=0, abs=1e3
    )
    b = rp.bounds
    assert b[0] <= x < b[2] and b[1] <= y <= b[3]
    # bbox reads go back to the source CRS
    assert len(rp.read((b[2] + 1e5, b[3] + 1e5, b[2] + 2e5, b[3] + 2e5))) == 0


def test_rasterize_reprojects_a_lonlat_layer(tmp_path):
    # a 1 km square in Quebec Lambert, given in lon/lat; rasterized on a 100 m grid it covers 100 pixels
    from pyproj import Transformer

    tr = Transformer.from_crs(32198, 4326, always_xy=True)
    sq = shapely.box(-200000, 300000, -199000, 301000).segmentize(10)
    ll = shapely.transform(sq, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    path = _write(tmp_path / "ll.gpkg", [ll], [7.0], crs="EPSG:4326")
    grid = rastercover.Grid.from_bounds((-200500, 299500, -198500, 301500), 100, "EPSG:32198")
    da = rastercover.rasterize(path, grid, value="height", methods="COUNT_OF_VALUES_AT_PIXEL_CENTROID")
    assert int(da.values.sum()) == 100


def test_value_methods_on_a_geodataframe_need_value():
    gpd = pytest.importorskip("geopandas")
    gdf = gpd.GeoDataFrame({"h": [1.0]}, geometry=BOXES[:1], crs="EPSG:32198")
    grid = rastercover.Grid.from_bounds((0, 0, 10, 10), 1, "EPSG:32198")
    with pytest.raises(rastercover.InputError, match="--value"):
        rastercover.rasterize(gdf, grid, methods="MEAN_OF_VALUES_AT_PIXEL_CENTROID")
    assert rastercover.rasterize(gdf, grid, value="h", methods="MEAN_OF_VALUES_AT_PIXEL_CENTROID").values.min() == 1
