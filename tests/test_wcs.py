"""The WCS endpoint: XML documents, GetCoverage against ``rastercover.export``, errors, and GDAL's WCS client.

The GDAL-client tests run ``gdalinfo`` / ``gdal_translate`` (Debian's gdal-bin) against a real uvicorn server
on a free port. They skip only when ``gdalinfo`` is missing (a failure under ``./scripts/test``, which installs
gdal-bin).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rastercover.exporting import export
from rastercover.server.catalog import Catalog
from rastercover.server.settings import Settings
from rastercover.server.wcs import wcs_router

NS = {
    "wcs": "http://www.opengis.net/wcs/2.0",
    "ows": "http://www.opengis.net/ows/2.0",
    "gml": "http://www.opengis.net/gml/3.2",
    "swe": "http://www.opengis.net/swe/2.0",
    "xlink": "http://www.w3.org/1999/xlink",
    "wcs10": "http://www.opengis.net/wcs",
    "gml10": "http://www.opengis.net/gml",
    "ogc": "http://www.opengis.net/ogc",
}
IDS = ["dem", "geo", "lc", "rgb"]


def _write(path: Path, data: np.ndarray, transform: Affine, crs: str, nodata=None) -> str:
    count, height, width = data.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as ds:
        ds.write(data)
    return str(path)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("wcs")
    dem = np.arange(40 * 30, dtype="float32").reshape(1, 30, 40) / 4
    dem[0, 0, :5] = -9999
    _write(d / "dem.tif", dem, Affine(10, 0, -200000, 0, -10, 500000), "EPSG:32198", nodata=-9999)
    lc = (np.arange(24 * 16) % 7).astype("int16").reshape(1, 16, 24)
    _write(d / "lc.tif", lc, Affine(25, 0, -190000, 0, -25, 490000), "EPSG:32198")
    geo = (np.arange(20 * 10) * 3).astype("uint16").reshape(1, 10, 20)
    _write(d / "geo.tif", geo, Affine(0.5, 0, -75, 0, -0.5, 48), "EPSG:4326")
    rgb = (np.arange(3 * 12 * 8) % 251).astype("uint8").reshape(3, 12, 8)
    _write(d / "rgb.tif", rgb, Affine(5, 0, -199000, 0, -5, 499000), "EPSG:32198")
    return d


@pytest.fixture(scope="module")
def catalog(data_dir) -> Catalog:
    cat = Catalog.from_sources([data_dir])
    assert sorted(cat.coverages) == IDS
    return cat


def _app(catalog: Catalog, settings: Settings | None = None) -> FastAPI:
    app = FastAPI()
    app.include_router(wcs_router(catalog, settings or Settings()))
    return app


@pytest.fixture(scope="module")
def client(catalog) -> TestClient:
    return TestClient(_app(catalog))


def _xml(resp, media_type: str = "application/xml") -> ET.Element:
    assert resp.headers["content-type"].startswith(media_type), resp.text[:300]
    return ET.fromstring(resp.content)


def _tif(resp, tmp_path: Path, name: str = "got.tif") -> rasterio.DatasetReader:
    assert resp.status_code == 200, resp.text[:500]
    p = tmp_path / name
    p.write_bytes(resp.content)
    return rasterio.open(p)


def _exception(resp, status: int, code: str) -> ET.Element:
    assert resp.status_code == status, resp.text[:500]
    root = _xml(resp)
    assert root.tag == f"{{{NS['ows']}}}ExceptionReport"
    exc = root.find("ows:Exception", NS)
    assert exc.get("exceptionCode") == code, resp.text
    assert exc.findtext("ows:ExceptionText", namespaces=NS)
    assert "Traceback" not in resp.text
    return exc


# ---------------------------------------------------------------------- WCS 2.0.1 documents
def test_capabilities_lists_every_coverage(client):
    root = _xml(client.get("/wcs", params={"service": "WCS", "request": "GetCapabilities"}))
    assert root.tag == f"{{{NS['wcs']}}}Capabilities" and root.get("version") == "2.0.1"
    ids = [e.text for e in root.iterfind("wcs:Contents/wcs:CoverageSummary/wcs:CoverageId", NS)]
    assert sorted(ids) == IDS
    gets = root.findall("ows:OperationsMetadata/ows:Operation/ows:DCP/ows:HTTP/ows:Get", NS)
    assert {g.get(f"{{{NS['xlink']}}}href") for g in gets} == {"http://testserver/wcs?"}
    ops = {o.get("name") for o in root.iterfind("ows:OperationsMetadata/ows:Operation", NS)}
    assert ops == {"GetCapabilities", "DescribeCoverage", "GetCoverage"}
    formats = [e.text for e in root.iterfind("wcs:ServiceMetadata/wcs:formatSupported", NS)]
    assert "image/tiff" in formats
    geo = next(
        s
        for s in root.iterfind("wcs:Contents/wcs:CoverageSummary", NS)
        if s.findtext("wcs:CoverageId", "", NS) == "geo"
    )
    lower = [float(v) for v in geo.findtext("ows:WGS84BoundingBox/ows:LowerCorner", "", NS).split()]
    upper = [float(v) for v in geo.findtext("ows:WGS84BoundingBox/ows:UpperCorner", "", NS).split()]
    assert lower == pytest.approx([-75, 43]) and upper == pytest.approx([-65, 48])


def test_keys_are_case_insensitive(client):
    root = _xml(client.get("/wcs?SeRvIcE=WCS&ReQuEsT=GetCapabilities&vErSiOn=2.0.1"))
    assert len(root.findall("wcs:Contents/wcs:CoverageSummary", NS)) == len(IDS)


def test_describe_coverage_projected(client):
    root = _xml(client.get("/wcs", params={"request": "DescribeCoverage", "version": "2.0.1", "coverageId": "dem"}))
    desc = root.find("wcs:CoverageDescription", NS)
    assert desc.findtext("wcs:CoverageId", namespaces=NS) == "dem"
    env = desc.find("gml:boundedBy/gml:Envelope", NS)
    assert env.get("srsName") == "http://www.opengis.net/def/crs/EPSG/0/32198"
    assert env.get("axisLabels") == "X Y"
    assert env.findtext("gml:lowerCorner", namespaces=NS) == "-200000 499700"
    assert env.findtext("gml:upperCorner", namespaces=NS) == "-199600 500000"
    rg = desc.find("gml:domainSet/gml:RectifiedGrid", NS)
    assert rg.findtext("gml:limits/gml:GridEnvelope/gml:low", namespaces=NS) == "0 0"
    assert rg.findtext("gml:limits/gml:GridEnvelope/gml:high", namespaces=NS) == "39 29"
    assert rg.findtext("gml:origin/gml:Point/gml:pos", namespaces=NS) == "-199995 499995"
    assert [e.text for e in rg.findall("gml:offsetVector", NS)] == ["10 0", "0 -10"]
    fields = desc.findall(
        "gmlcov:rangeType/swe:DataRecord/swe:field", {**NS, "gmlcov": "http://www.opengis.net/gmlcov/1.0"}
    )
    assert len(fields) == 1
    assert fields[0].findtext(".//swe:nilValue", namespaces=NS) == "-9999"


def test_describe_coverage_geographic_axis_order(client):
    root = _xml(client.get("/wcs?request=DescribeCoverage&version=2.0.1&coverageid=geo,rgb"))
    geo, rgb = root.findall("wcs:CoverageDescription", NS)
    env = geo.find("gml:boundedBy/gml:Envelope", NS)
    assert env.get("srsName") == "http://www.opengis.net/def/crs/EPSG/0/4326"
    assert env.get("axisLabels") == "Lat Lon"  # EPSG:4326 is latitude first
    assert env.findtext("gml:lowerCorner", namespaces=NS) == "43 -75"
    rg = geo.find("gml:domainSet/gml:RectifiedGrid", NS)
    assert rg.findtext("gml:limits/gml:GridEnvelope/gml:high", namespaces=NS) == "19 9"
    assert rg.findtext("gml:origin/gml:Point/gml:pos", namespaces=NS) == "47.75 -74.75"
    assert [e.text for e in rg.findall("gml:offsetVector", NS)] == ["0 0.5", "-0.5 0"]
    assert len(rgb.findall(".//swe:field", NS)) == 3
    assert rgb.find(".//swe:nilValue", NS) is None


# ---------------------------------------------------------------------- WCS 2.0.1 GetCoverage
def _get(client, **params):
    return client.get("/wcs", params={"service": "WCS", "version": "2.0.1", "request": "GetCoverage", **params})


def test_getcoverage_subset_equals_export_bbox(client, data_dir, tmp_path):
    resp = _get(client, coverageid="dem", subset=["X(-199873,-199712.5)", "Y(499801,499915)"])
    assert resp.headers["content-type"].startswith("image/tiff")
    assert 'filename="dem_bbox.tif"' in resp.headers["content-disposition"]
    ref = export(str(data_dir / "dem.tif"), tmp_path / "ref.tif", bbox=(-199873, 499801, -199712.5, 499915))
    with _tif(resp, tmp_path) as got, rasterio.open(ref.path) as want:
        assert got.transform == want.transform and got.shape == want.shape == (12, 17)
        assert got.crs.to_epsg() == 32198 and got.nodata == -9999
        np.testing.assert_array_equal(got.read(), want.read())


def test_getcoverage_pixel_aligned_subset_is_exact(client, data_dir, tmp_path):
    # edges exactly on pixel edges select exactly those pixels (no extra row or column)
    resp = _get(client, coverageid="dem", subset=["x(-199900,-199700)", "y(499750,499900)"])
    with _tif(resp, tmp_path) as got, rasterio.open(data_dir / "dem.tif") as src:
        assert got.shape == (15, 20) and got.transform == Affine(10, 0, -199900, 0, -10, 499900)
        np.testing.assert_array_equal(got.read(1), src.read(1)[10:25, 10:30])


def test_getcoverage_whole_and_open_ended(client, data_dir, tmp_path):
    with _tif(_get(client, coverageid="rgb"), tmp_path, "a.tif") as got, rasterio.open(data_dir / "rgb.tif") as src:
        assert got.count == 3 and got.transform == src.transform
        np.testing.assert_array_equal(got.read(), src.read())
    resp = _get(client, coverageid="rgb", subset="X(*,-198980)")
    with _tif(resp, tmp_path, "b.tif") as got:
        assert got.shape == (12, 4)


def test_getcoverage_latlon_subset(client, data_dir, tmp_path):
    resp = _get(client, coverageid="geo", subset=["Lat(44.2,46.9)", "Long(-73.1,-70)"])
    ref = export(str(data_dir / "geo.tif"), tmp_path / "ref.tif", bbox=(-73.1, 44.2, -70, 46.9))
    with _tif(resp, tmp_path) as got, rasterio.open(ref.path) as want:
        assert got.transform == want.transform and got.shape == want.shape
        np.testing.assert_array_equal(got.read(), want.read())


def test_getcoverage_subsettingcrs(client, data_dir, tmp_path):
    box = (-71.2160, 48.4630, -71.2120, 48.4650)
    resp = _get(
        client,
        coverageid="dem",
        subsettingcrs="http://www.opengis.net/def/crs/EPSG/0/4326",
        subset=[f"Long({box[0]},{box[2]})", f"Lat({box[1]},{box[3]})"],
    )
    ref = export(str(data_dir / "dem.tif"), tmp_path / "ref.tif", bbox=box, bbox_crs="EPSG:4326")
    with _tif(resp, tmp_path) as got, rasterio.open(ref.path) as want:
        assert got.transform == want.transform and got.shape == want.shape
        np.testing.assert_array_equal(got.read(), want.read())


@pytest.mark.parametrize("size", [(7, 13), (20, 15), (40, 30), (81, 59), (3, 1)])
def test_getcoverage_scalesize_gives_exact_size(client, tmp_path, size):
    w, h = size
    resp = _get(client, coverageid="dem", subset=["X(-199900,-199700)", "Y(499750,499900)"], scalesize=f"X({w}),Y({h})")
    with _tif(resp, tmp_path) as got:
        assert (got.width, got.height) == (w, h)
        assert got.bounds.left == pytest.approx(-199900) and got.bounds.top == pytest.approx(499900)
        assert got.bounds.right == pytest.approx(-199700) and got.bounds.bottom == pytest.approx(499750)


def test_getcoverage_scalesize_one_axis_keeps_aspect(client, tmp_path):
    with _tif(_get(client, coverageid="dem", scalesize="x(20)"), tmp_path) as got:
        assert (got.width, got.height) == (20, 15)


def test_getcoverage_outputcrs(client, tmp_path):
    resp = _get(client, coverageid="dem", outputcrs="http://www.opengis.net/def/crs/EPSG/0/4326")
    with _tif(resp, tmp_path) as got:
        assert got.crs.to_epsg() == 4326
        assert -71.22 < got.bounds.left < got.bounds.right < -71.21
    resp = _get(client, coverageid="dem", outputcrs="EPSG:4326", scalesize="Long(33),Lat(21)")
    with _tif(resp, tmp_path, "b.tif") as got:
        assert got.crs.to_epsg() == 4326 and (got.width, got.height) == (33, 21)


def test_getcoverage_rangesubset_and_format(client, data_dir, tmp_path):
    resp = _get(client, coverageid="rgb", rangesubset="band_3,1", format="image/png")
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
    assert resp.content[:4] == b"\x89PNG"
    with (
        _tif(_get(client, coverageid="rgb", rangesubset="band_2"), tmp_path) as got,
        rasterio.open(data_dir / "rgb.tif") as src,
    ):
        assert got.count == 1
        np.testing.assert_array_equal(got.read(1), src.read(2))


def test_getcoverage_deletes_its_temporary_file(catalog, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with TestClient(_app(catalog)) as c:
        assert _get(c, coverageid="lc").status_code == 200
    assert not [p for p in os.listdir(tmp_path) if p.startswith("rastercover-")]


# ---------------------------------------------------------------------- errors
def test_errors_are_exception_reports(client):
    _exception(_get(client, coverageid="nope"), 404, "NoSuchCoverage")
    _exception(client.get("/wcs?request=DescribeCoverage&coverageid=nope"), 404, "NoSuchCoverage")
    _exception(_get(client), 400, "MissingParameterValue")
    _exception(client.get("/wcs?service=WCS"), 400, "MissingParameterValue")
    _exception(client.get("/wcs?request=GetMap"), 400, "OperationNotSupported")
    _exception(_get(client, coverageid="dem", subset="X(0,10)"), 400, "InvalidSubsetting")
    _exception(_get(client, coverageid="dem", subset="X(-199700,-199900)"), 400, "InvalidSubsetting")
    _exception(_get(client, coverageid="dem", subset="X(-199700)"), 400, "InvalidSubsetting")
    _exception(_get(client, coverageid="dem", subset="X(a,b)"), 400, "InvalidSubsetting")
    _exception(_get(client, coverageid="dem", subset="Z(1,2)"), 400, "InvalidAxisLabel")
    _exception(_get(client, coverageid="dem", format="image/bmp"), 400, "InvalidParameterValue")
    _exception(_get(client, coverageid="dem", outputcrs="EPSG:999999"), 400, "InvalidParameterValue")
    _exception(_get(client, coverageid="dem", scalesize="X(0),Y(3)"), 400, "InvalidParameterValue")
    _exception(_get(client, coverageid="rgb", rangesubset="nir"), 400, "NoSuchField")
    _exception(_get(client, coverageid="dem", scalefactor="2"), 400, "OperationNotSupported")
    _exception(client.get("/wcs?request=GetCapabilities&acceptversions=3.0.0,1.1.0"), 400, "VersionNegotiationFailed")
    _exception(client.get("/wcs?request=GetCoverage&version=1.1.0&coverage=dem"), 400, "InvalidParameterValue")
    _exception(client.get("/wcs?request=GetCapabilities&version=two"), 400, "InvalidParameterValue")


def test_max_pixels_is_enforced(catalog):
    c = TestClient(_app(catalog, Settings(max_pixels=100)))
    exc = _exception(_get(c, coverageid="dem"), 413, "InvalidParameterValue")
    assert "over the limit of 100" in exc.findtext("ows:ExceptionText", namespaces=NS)
    assert _get(c, coverageid="dem", subset=["X(-200000,-199900)", "Y(499900,500000)"]).status_code == 200


# ---------------------------------------------------------------------- WCS 1.0.0
def test_v100_documents(client):
    root = _xml(client.get("/wcs?service=WCS&version=1.0.0&request=GetCapabilities"))
    assert root.tag == f"{{{NS['wcs10']}}}WCS_Capabilities"
    names = [e.text for e in root.iterfind("wcs10:ContentMetadata/wcs10:CoverageOfferingBrief/wcs10:name", NS)]
    assert sorted(names) == IDS
    root = _xml(client.get("/wcs?service=WCS&version=1.0.0&request=DescribeCoverage&coverage=geo"))
    off = root.find("wcs10:CoverageOffering", NS)
    rg = off.find("wcs10:domainSet/wcs10:spatialDomain/gml10:RectifiedGrid", NS)
    assert rg.findtext("gml10:limits/gml10:GridEnvelope/gml10:high", namespaces=NS) == "19 9"
    assert rg.findtext("gml10:origin/gml10:pos", namespaces=NS) == "-74.75 47.75"  # 1.0.0: x first
    assert off.findtext("wcs10:supportedFormats/wcs10:formats", namespaces=NS) == "GeoTIFF"


def test_v100_getcoverage(client, data_dir, tmp_path):
    resp = client.get(
        "/wcs?service=WCS&version=1.0.0&request=GetCoverage&coverage=lc&crs=EPSG:32198"
        "&bbox=-189900,489700,-189500,489950&width=16&height=10&format=GeoTIFF"
    )
    with _tif(resp, tmp_path) as got, rasterio.open(data_dir / "lc.tif") as src:
        assert got.shape == (10, 16) and got.transform == Affine(25, 0, -189900, 0, -25, 489950)
        np.testing.assert_array_equal(got.read(1), src.read(1)[2:12, 4:20])
    resp = client.get(
        "/wcs?service=WCS&version=1.0.0&request=GetCoverage&coverage=lc&crs=EPSG:32198"
        "&bbox=-189900,489700,-189500,489950&width=9&height=5&format=GeoTIFF&response_crs=EPSG:4326"
    )
    with _tif(resp, tmp_path, "b.tif") as got:
        assert got.crs.to_epsg() == 4326 and got.shape == (5, 9)
    resp = client.get("/wcs?service=WCS&version=1.0.0&request=GetCoverage&coverage=lc&resx=50&resy=50&format=GeoTIFF")
    with _tif(resp, tmp_path, "c.tif") as got:
        assert got.res == (50, 50) and got.shape == (8, 12)


def _service_exception(resp, code: str) -> str:
    """The text of a WCS 1.0.0 exception report: HTTP 200, application/vnd.ogc.se_xml, one ServiceException."""
    assert resp.status_code == 200, resp.text[:500]
    root = _xml(resp, "application/vnd.ogc.se_xml")
    assert root.tag == f"{{{NS['ogc']}}}ServiceExceptionReport" and root.get("version") == "1.2.0"
    exc = root.find("ogc:ServiceException", NS)
    assert exc.get("code") == code, resp.text
    assert exc.text and "Traceback" not in resp.text
    return exc.text


def test_v100_errors_are_service_exception_reports_with_status_200(client):
    v100 = "/wcs?service=WCS&version=1.0.0&request="
    text = _service_exception(client.get(v100 + "GetCoverage&coverage=nope&format=GeoTIFF"), "CoverageNotDefined")
    assert "nope" in text
    _service_exception(client.get(v100 + "GetCoverage&coverage=lc&bbox=1,2,3"), "InvalidParameterValue")
    text = _service_exception(
        client.get(v100 + "GetCoverage&coverage=lc&crs=EPSG:32198&bbox=0,0,10,10&width=2&height=2"),
        "InvalidParameterValue",
    )
    assert "does not meet the coverage" in text
    text = _service_exception(client.get(v100 + "GetCoverage&coverage=lc&format=image/bmp"), "InvalidFormat")
    assert "image/tiff" in text  # names the formats to use
    _service_exception(client.get(v100 + "DescribeCoverage&coverage=nope"), "CoverageNotDefined")
    _service_exception(client.get(v100 + "GetCoverage"), "MissingParameterValue")
    _service_exception(client.get(v100 + "GetCoverage&coverage=lc&interpolation=bicubic"), "InvalidParameterValue")
    _service_exception(client.get(v100 + "GetCoverage&coverage=lc&width=0&height=3"), "InvalidParameterValue")


def test_v100_too_large_is_a_service_exception(catalog):
    c = TestClient(_app(catalog, Settings(max_pixels=100)))
    text = _service_exception(
        c.get("/wcs?service=WCS&version=1.0.0&request=GetCoverage&coverage=dem&width=40&height=30"),
        "InvalidParameterValue",
    )
    assert "over the limit of 100" in text


def _v100(client, **params):
    return client.get("/wcs", params={"service": "WCS", "version": "1.0.0", "request": "GetCoverage", **params})


def _nearest(src_path: Path, transform: Affine, shape: tuple[int, int], dtype, fill) -> np.ndarray:
    """The oracle of a warp onto a grid: GDAL's own nearest-neighbour reprojection of the whole source."""
    from rasterio.warp import Resampling, reproject

    with rasterio.open(src_path) as src:
        out = np.full(shape, fill, dtype=dtype)
        reproject(
            src.read(1), out, src_transform=src.transform, src_crs=src.crs, src_nodata=src.nodata,
            dst_transform=transform, dst_crs=src.crs, dst_nodata=fill, resampling=Resampling.nearest,
        )  # fmt: skip
    return out


def test_v100_native_resolution_with_float_noise_is_a_read(client, data_dir, tmp_path):
    # a box on pixel edges up to float noise, RESX/RESY the pixel size up to float noise: the coverage's own pixels
    bbox = (-189925 + 1e-9, 489850 + 2e-9, -189750 - 1e-9, 489950 - 1e-9)
    resp = _v100(
        client, coverage="lc", crs="EPSG:32198", bbox=",".join(map(repr, bbox)), resx=repr(25 * (1 + 1e-13)),
        resy="25", format="GeoTIFF",
    )  # fmt: skip
    with _tif(resp, tmp_path) as got, rasterio.open(data_dir / "lc.tif") as src:
        assert got.shape == (4, 7) and got.nodata is None and got.transform == Affine(25, 0, -189925, 0, -25, 489950)
        np.testing.assert_array_equal(got.read(1), src.read(1)[2:6, 3:10])


def test_v100_bbox_and_size_give_exactly_that_grid(client, data_dir, tmp_path):
    # off the coverage's lattice (half a pixel) at its resolution, and a coarser size: exactly BBOX in
    # WIDTH x HEIGHT pixels, nearest neighbour, and no nodata invented for pixels that all have data
    for bbox, size in (
        ((-189887.5, 489712.5, -189687.5, 489937.5), (8, 9)),
        ((-189990, 489610, -189420, 489990), (7, 5)),
    ):
        resp = _v100(
            client, coverage="lc", crs="EPSG:32198", bbox=",".join(map(str, bbox)), width=size[0], height=size[1],
            format="image/tiff",
        )  # fmt: skip
        with _tif(resp, tmp_path) as got:
            assert (got.width, got.height) == size and got.nodata is None
            assert got.bounds == pytest.approx(bbox, abs=1e-9)
            want = _nearest(data_dir / "lc.tif", got.transform, (size[1], size[0]), "int16", 0)
            np.testing.assert_array_equal(got.read(1), want)


def test_v100_box_beyond_the_coverage_gets_nodata_only_there(client, data_dir, tmp_path):
    bbox = (-190100, 489800, -189900, 490100)  # 4 of 8 columns and 2 of 6 rows are outside the coverage
    resp = _v100(client, coverage="lc", crs="EPSG:32198", bbox=",".join(map(str, bbox)), width=8, height=6)
    with _tif(resp, tmp_path) as got:
        assert got.bounds == pytest.approx(bbox) and got.nodata == -32768  # needed: the int16 minimum
        a = got.read(1)
        assert (a[:2] == -32768).all() and (a[:, :4] == -32768).all()
        np.testing.assert_array_equal(a, _nearest(data_dir / "lc.tif", got.transform, (6, 8), "int16", -32768))
    resp = _v100(client, coverage="dem", crs="EPSG:32198", bbox="-200100,499800,-199900,500100", width=8, height=6)
    with _tif(resp, tmp_path, "dem.tif") as got:
        assert got.nodata == -9999  # the coverage's own


def test_201_scalesize_inside_the_coverage_invents_no_nodata(client, data_dir, tmp_path):
    resp = _get(client, coverageid="lc", subset=["X(-189900,-189500)", "Y(489700,489950)"], scalesize="X(5),Y(3)")
    with _tif(resp, tmp_path) as got:
        assert (got.width, got.height) == (5, 3) and got.nodata is None
        assert got.bounds == pytest.approx((-189900, 489700, -189500, 489950))
        np.testing.assert_array_equal(got.read(1), _nearest(data_dir / "lc.tif", got.transform, (3, 5), "int16", 0))


def test_201_interpolation_nearest_only(client, tmp_path):
    nearest = "http://www.opengis.net/def/interpolation/OGC/1/nearest-neighbour"
    with _tif(_get(client, coverageid="lc", scalesize="X(6),Y(4)", interpolation=nearest), tmp_path) as got:
        assert got.shape == (4, 6)
    exc = _exception(
        _get(client, coverageid="lc", interpolation="http://www.opengis.net/def/interpolation/OGC/1/linear"),
        400,
        "InterpolationMethodNotSupported",
    )
    assert nearest in exc.findtext("ows:ExceptionText", namespaces=NS)
    root = _xml(client.get("/wcs?request=GetCapabilities"))
    ns = {**NS, "int": "http://www.opengis.net/wcs/interpolation/1.0"}
    supported = root.findtext(
        "wcs:ServiceMetadata/wcs:Extension/int:InterpolationMetadata/int:InterpolationSupported", namespaces=ns
    )
    assert supported == nearest


def test_capabilities_201_summary_follows_the_schema(client):
    root = _xml(client.get("/wcs?request=GetCapabilities&version=2.0.1"))
    for summary in root.iterfind("wcs:Contents/wcs:CoverageSummary", NS):
        tags = [child.tag.split("}")[1] for child in summary]
        assert tags == ["Title", "CoverageId", "CoverageSubtype", "WGS84BoundingBox", "BoundingBox"], tags
    dem = next(s for s in root.iterfind(".//wcs:CoverageSummary", NS) if s.findtext("wcs:CoverageId", "", NS) == "dem")
    box = dem.find("ows:BoundingBox", NS)
    assert box.get("crs") == "http://www.opengis.net/def/crs/EPSG/0/32198"
    assert box.findtext("ows:LowerCorner", namespaces=NS) == "-200000 499700"
    geo = next(s for s in root.iterfind(".//wcs:CoverageSummary", NS) if s.findtext("wcs:CoverageId", "", NS) == "geo")
    assert geo.findtext("ows:BoundingBox/ows:LowerCorner", namespaces=NS) == "43 -75"  # EPSG:4326: lat first


def test_v100_describe_coverage_fields_clients_read(client):
    root = _xml(client.get("/wcs?service=WCS&version=1.0.0&request=DescribeCoverage&coverage=dem,geo"))
    dem, geo = root.findall("wcs10:CoverageOffering", NS)
    assert dem.findtext("wcs10:supportedCRSs/wcs10:nativeCRSs", namespaces=NS) == "EPSG:32198"
    crss = [e.text for e in dem.findall("wcs10:supportedCRSs/wcs10:requestResponseCRSs", NS)]
    assert crss == ["EPSG:32198", "EPSG:4326", "EPSG:3857"]
    envs = dem.findall("wcs10:domainSet/wcs10:spatialDomain/gml10:Envelope", NS)
    assert [e.get("srsName") for e in envs] == ["EPSG:32198", "EPSG:4326"]
    assert [p.text for p in envs[0].findall("gml10:pos", NS)] == ["-200000 499700", "-199600 500000"]
    lonlat = [float(v) for p in dem.findall("wcs10:lonLatEnvelope/gml10:pos", NS) for v in p.text.split()]
    assert -72 < lonlat[0] < lonlat[2] < -71 and 45 < lonlat[1] < lonlat[3] < 49
    assert dem.findtext("wcs10:rangeSet/wcs10:RangeSet/wcs10:nullValues/wcs10:singleValue", namespaces=NS) == "-9999"
    assert geo.find("wcs10:rangeSet/wcs10:RangeSet/wcs10:nullValues", NS) is None
    interp = dem.find("wcs10:supportedInterpolations", NS)
    assert interp.get("default") == "nearest neighbor"
    assert [e.text for e in interp] == ["nearest neighbor"]
    assert dem.find("wcs10:supportedFormats", NS).get("nativeFormat") == "GeoTIFF"
    assert [e.get("srsName") for e in geo.findall(".//gml10:Envelope", NS)] == ["EPSG:4326"]


# ---------------------------------------------------------------------- version negotiation
@pytest.mark.parametrize(
    ("query", "version"),
    [
        ("", "2.0.1"),
        ("&version=2.0.1", "2.0.1"),
        ("&version=2.0.0", "2.0.1"),  # a corrigendum apart: the same protocol
        ("&version=1.0.0", "1.0.0"),
        ("&version=1.1.0", "1.0.0"),  # unknown: the highest served below it
        ("&version=1.1.2", "1.0.0"),
        ("&version=3.0.0", "2.0.1"),
        ("&version=0.9", "1.0.0"),  # below every served version: the lowest
        ("&acceptversions=2.0.1,1.0.0", "2.0.1"),
        ("&acceptversions=1.0.0,2.0.1", "1.0.0"),  # the client's order
        ("&acceptversions=1.1.0,1.0.0", "1.0.0"),  # QGIS's second try
        ("&AcceptVersions=3.0.0,2.0.0", "2.0.1"),
        ("&acceptversions=1.0.0&version=2.0.1", "1.0.0"),  # AcceptVersions wins
    ],
)
def test_getcapabilities_negotiates_the_version(client, query, version):
    resp = client.get("/wcs?service=WCS&request=GetCapabilities" + query)
    assert resp.status_code == 200, resp.text
    root = _xml(resp)
    assert root.get("version") == version
    want = f"{{{NS['wcs']}}}Capabilities" if version == "2.0.1" else f"{{{NS['wcs10']}}}WCS_Capabilities"
    assert root.tag == want


def test_failed_negotiation_names_the_versions_served(client):
    exc = _exception(client.get("/wcs?request=GetCapabilities&acceptversions=1.1.1"), 400, "VersionNegotiationFailed")
    assert "2.0.1 and 1.0.0" in exc.findtext("ows:ExceptionText", namespaces=NS)
    exc = _exception(
        client.get("/wcs?request=DescribeCoverage&version=1.1.1&coverage=dem"), 400, "InvalidParameterValue"
    )
    assert "VERSION=2.0.1 or VERSION=1.0.0" in exc.findtext("ows:ExceptionText", namespaces=NS)


# ---------------------------------------------------------------------- the real client: GDAL's WCS driver
_HAVE_GDAL = shutil.which("gdalinfo") is not None  # GDAL's command-line tools, found on PATH
_GDALINFO = "gdalinfo"
gdal_client = pytest.mark.skipif(
    not _HAVE_GDAL,
    reason="GDAL's command-line tools are not installed (apt-get install gdal-bin)",
)


@pytest.fixture(scope="module")
def server(catalog):
    """A uvicorn server in a thread on a socket this process already listens on: a client connecting before
    uvicorn runs waits in the socket's backlog, so nothing polls for the start."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(_app(catalog), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/wcs"
    srv.should_exit = True
    thread.join(10)
    sock.close()


def _gdal(tmp_path: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    # GDAL's WCS driver caches documents under ~/.gdal/wcs_cache: a fresh HOME per test means no stale cache
    env.update(HOME=str(tmp_path), GDAL_HTTP_TIMEOUT="30", CPL_DEBUG="OFF", NO_PROXY="127.0.0.1,localhost")
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    assert "ERROR" not in proc.stderr, proc.stderr
    return proc.stdout


@gdal_client
def test_gdalinfo_lists_every_coverage_as_a_subdataset(server, tmp_path):
    out = _gdal(tmp_path, _GDALINFO, f"WCS:{server}")
    for cid in IDS:
        assert f"=WCS:{server}?version=2.0.1&coverage={cid}\n" in out, out
    out = _gdal(tmp_path, _GDALINFO, f"WCS:{server}?version=2.0.1&coverage=dem")
    assert "Size is 40, 30" in out and 'ID["EPSG",32198]' in out
    assert "Origin = (-200000.000000000000000,500000.000000000000000)" in out


@gdal_client
@pytest.mark.parametrize("cid", IDS)
def test_gdal_translate_downloads_the_coverage(server, data_dir, tmp_path, cid):
    out = tmp_path / "out.tif"
    _gdal(tmp_path, "gdal_translate", "-q", f"WCS:{server}?version=2.0.1&coverage={cid}", str(out))
    with rasterio.open(out) as got, rasterio.open(data_dir / f"{cid}.tif") as src:
        assert got.crs == src.crs and got.shape == src.shape and got.count == src.count
        assert got.transform.almost_equals(src.transform)
        np.testing.assert_array_equal(got.read(), src.read())


@gdal_client
def test_gdal_translate_projwin(server, data_dir, tmp_path):
    out = tmp_path / "out.tif"
    url = f"WCS:{server}?version=2.0.1&coverage=dem"
    _gdal(tmp_path, "gdal_translate", "-q", "-projwin", "-199900", "499900", "-199700", "499750", url, str(out))
    with rasterio.open(out) as got, rasterio.open(data_dir / "dem.tif") as src:
        assert got.crs.to_epsg() == 32198 and got.shape == (15, 20)
        assert got.transform.almost_equals(Affine(10, 0, -199900, 0, -10, 499900))
        np.testing.assert_array_equal(got.read(1), src.read(1)[10:25, 10:30])
    out = tmp_path / "geo.tif"
    url = f"WCS:{server}?version=2.0.1&coverage=geo"
    _gdal(tmp_path, "gdal_translate", "-q", "-projwin", "-74", "47", "-70", "45", url, str(out))
    with rasterio.open(out) as got, rasterio.open(data_dir / "geo.tif") as src:
        assert got.crs.to_epsg() == 4326 and got.shape == (4, 8)
        np.testing.assert_array_equal(got.read(1), src.read(1)[2:6, 2:10])


@gdal_client
def test_gdal_translate_outsize_uses_scalesize(server, tmp_path):
    out = tmp_path / "out.tif"
    url = f"WCS:{server}?version=2.0.1&coverage=dem"
    _gdal(tmp_path, "gdal_translate", "-q", "-outsize", "20", "15", url, str(out))
    with rasterio.open(out) as got:
        assert got.shape == (15, 20) and got.res == (20, 20)


@gdal_client
def test_gdal_wcs_100(server, data_dir, tmp_path):
    out = _gdal(tmp_path, _GDALINFO, f"WCS:{server}?version=1.0.0")
    for cid in IDS:  # GDAL 3.6 names 1.0.0 subdatasets without the WCS: prefix
        assert f"{server}?VERSION=1.0.0&COVERAGE={cid}\n" in out, out
    dst = tmp_path / "out.tif"
    _gdal(tmp_path, "gdal_translate", "-q", f"WCS:{server}?version=1.0.0&coverage=geo", str(dst))
    with rasterio.open(dst) as got, rasterio.open(data_dir / "geo.tif") as src:
        assert got.crs.to_epsg() == 4326 and got.shape == src.shape
        assert got.transform.almost_equals(src.transform)
        np.testing.assert_array_equal(got.read(), src.read())


def test_unexpected_failure_is_an_exception_report_not_a_traceback(catalog, monkeypatch):
    broken = Catalog()
    broken.add_coverage(str(catalog.coverages["lc"].source), id="broken")

    def fail():
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(broken.coverages["broken"], "open", fail)
    c = TestClient(_app(broken), raise_server_exceptions=False)
    exc = _exception(_get(c, coverageid="broken"), 500, "NoApplicableCode")
    assert "disk on fire" not in exc.findtext("ows:ExceptionText", namespaces=NS)
    root = _xml(c.get("/wcs?request=GetCapabilities"))  # listed, without a box
    assert [e.text for e in root.iterfind(".//wcs:CoverageId", NS)] == ["broken"]
