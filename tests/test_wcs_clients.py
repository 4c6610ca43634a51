"""Real WCS clients against a real ``rastercover serve``: OWSLib (WCS 1.0.0 and 2.0.1) and QGIS's ``wcs`` provider.

The server is the console script, started on a free port (``--port 0``) over a folder holding two real
coverages: ``srtm_41_19.tif`` (SRTM over Swellendam, Int16 without nodata, UTM 33S, a pixel of 81.99... m) and
``eu_dem_v11.tif`` (EU-DEM over São Miguel, Float32 with nodata, EPSG:4326). Every download is compared with the
coverage's own pixels (read with rasterio) and with ``rastercover export`` of the same box.

QGIS runs in Debian's ``/usr/bin/python3`` (``python3-qgis qgis-providers``): one process,
``tests/qgis_wcs_client.py``, opens every layer of the checks and prints what QGIS read as JSON. Without QGIS,
or OWSLib these tests skip, saying what to install (a failure under ``./scripts/test``, which installs them).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject, transform_bounds

from .conftest import REALDATA

SRTM, DEM = "srtm_41_19", "eu_dem_v11"
SOURCES = {
    SRTM: REALDATA / "swellendam_osm_srtm" / "srtm_41_19.tif",
    DEM: REALDATA / "sao_miguel" / "eu_dem_v11.tif",
}
QGIS_PYTHON = "/usr/bin/python3"
QGIS_CLIENT = Path(__file__).with_name("qgis_wcs_client.py")
VIEW = (970000.0, 6200000.0, 980000.0, 6210000.0)  # off SRTM's pixel lattice
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def _missing(what: str, install: str) -> None:
    """Skip for a missing tool, saying what to install (a failure under ./scripts/test: tests/conftest.py)."""
    pytest.skip(f"{what} is missing: {install}")


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without proxies (every request goes to 127.0.0.1)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(NO_PROXY, **extra)
    return env


def _rastercover() -> list[str]:
    script = Path(sys.executable).with_name("rastercover")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rastercover.cli.main"]


# ---------------------------------------------------------------------- the served folder and the server
@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Path:
    """A folder with copies of the two real coverages (the bundled data stays untouched)."""
    d = tmp_path_factory.mktemp("wcs_clients")
    for cid, src in SOURCES.items():
        shutil.copyfile(src, d / f"{cid}.tif")
    return d


@pytest.fixture(scope="module")
def server(served) -> Iterator[str]:
    """``rastercover serve`` on a free port: the URL of its ``/wcs``. Its log is read as it comes (so the pipe
    never fills) and shown when a test fails to start it."""
    proc = subprocess.Popen(
        [*_rastercover(), "serve", str(served), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    lines: list[str] = []
    started = threading.Event()
    url: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if m and not url:
                url.append(m.group(1))
                started.set()
        started.set()  # the process ended: wake the test up

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not started.wait(60) or not url:
            pytest.fail("rastercover serve did not start:\n" + "".join(lines[-50:]))
        yield url[0] + "/wcs"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        reader.join(10)


@pytest.fixture(scope="module")
def owslib():
    try:
        import owslib.wcs
    except ImportError:
        _missing("OWSLib", "pip install -e '.[test]' (it brings owslib)")
    return owslib.wcs


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """OWSLib (requests) must not send 127.0.0.1 through a proxy of the environment."""
    for key in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in NO_PROXY.items():
        monkeypatch.setenv(key, value)


def _source(cid: str) -> tuple[np.ndarray, Affine, rasterio.crs.CRS, float | None]:
    with rasterio.open(SOURCES[cid]) as ds:
        return ds.read(1), ds.transform, ds.crs, ds.nodata


def _read(content: bytes, tmp_path: Path, name: str) -> rasterio.DatasetReader:
    path = tmp_path / name
    path.write_bytes(content)
    return rasterio.open(path)


def _cli_export(served: Path, cid: str, out: Path, bbox: tuple[float, ...], *extra: str) -> Path:
    """``rastercover export`` of a box, as a user runs it."""
    args = [*_rastercover(), "export", str(served / f"{cid}.tif"), "-o", str(out), "--bbox", *map(repr, bbox)]
    proc = subprocess.run([*args, *extra], capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def _pixel_box(t: Affine, col: int, row: int, width: int, height: int) -> tuple[float, float, float, float]:
    """The map box of a block of pixels, computed in floating point the way a client does (edges off by noise)."""
    x0, y1 = t.c + col * t.a, t.f + row * t.e
    return x0, y1 + height * t.e, x0 + width * t.a, y1


# ---------------------------------------------------------------------- OWSLib: list and describe
@pytest.mark.parametrize("version", ["1.0.0", "2.0.1", None])
def test_owslib_lists_the_coverages(server, owslib, version):
    wcs = owslib.WebCoverageService(server, version=version)
    assert wcs.version == (version or "2.0.1")  # no version: OWSLib takes the server's highest
    assert sorted(wcs.contents) == [DEM, SRTM]
    ops = {op.name for op in wcs.operations}
    assert {"GetCapabilities", "DescribeCoverage", "GetCoverage"} <= ops


def test_owslib_100_describes_grid_box_crs_formats(server, owslib):
    wcs = owslib.WebCoverageService(server, version="1.0.0")
    for cid in (SRTM, DEM):
        data, t, crs, nodata = _source(cid)
        c = wcs[cid]
        lonlat = transform_bounds(crs, "EPSG:4326", *rasterio.transform.array_bounds(*data.shape, t), densify_pts=21)
        assert c.boundingBoxWGS84 == pytest.approx(lonlat, abs=1e-9)
        assert c.grid.lowlimits == ["0", "0"] and c.grid.highlimits == [str(data.shape[1] - 1), str(data.shape[0] - 1)]
        assert [float(v) for v in c.grid.origin] == pytest.approx([t.c + t.a / 2, t.f + t.e / 2], abs=1e-9)
        assert [[float(v) for v in o] for o in c.grid.offsetvectors] == [[t.a, 0], [0, t.e]]
        code = f"EPSG:{crs.to_epsg()}"
        assert code in [x.getcode() for x in c.supportedCRS]
        assert "EPSG:4326" in [x.getcode() for x in c.supportedCRS]
        native = c.boundingboxes[0]
        assert native["nativeSrs"] == code
        assert native["bbox"] == pytest.approx(rasterio.transform.array_bounds(*data.shape, t), abs=1e-9)
        assert "GeoTIFF" in c.supportedFormats and "image/tiff" in c.supportedFormats
        assert [a.values for a in c.axisDescriptions] == [["1"]]
        offering = c.descCov.find("{http://www.opengis.net/wcs}CoverageOffering")
        ns = {"w": "http://www.opengis.net/wcs"}
        assert offering.findtext("w:supportedCRSs/w:nativeCRSs", namespaces=ns) == code
        assert offering.findtext("w:supportedInterpolations/w:interpolationMethod", namespaces=ns) == "nearest neighbor"
        null = offering.findtext("w:rangeSet/w:RangeSet/w:nullValues/w:singleValue", namespaces=ns)
        assert (null is None) == (nodata is None)
        if nodata is not None:
            assert float(null) == pytest.approx(nodata, rel=1e-7)


def test_owslib_201_describes_grid_box_crs_formats(server, owslib):
    wcs = owslib.WebCoverageService(server, version="2.0.1")
    for cid, labels, uri in ((SRTM, ["E", "N"], "32733"), (DEM, ["Lon", "Lat"], "4326")):
        data, t, crs, _ = _source(cid)
        c = wcs[cid]
        assert c.grid.highlimits == [str(data.shape[1] - 1), str(data.shape[0] - 1)]
        assert c.grid.axislabels == labels  # in the offset vectors' order (columns, then rows)
        west, south, east, north = rasterio.transform.array_bounds(*data.shape, t)
        native = c.boundingboxes[0]
        assert native["nativeSrs"] == f"http://www.opengis.net/def/crs/EPSG/0/{uri}"
        want = (west, south, east, north) if cid == SRTM else (south, west, north, east)  # EPSG:4326: lat first
        assert native["bbox"] == pytest.approx(want, abs=1e-9)
        assert "image/tiff" in c.supportedFormats
        # OWSLib 2.0.1 looks for WCS 1.0.0's lonLatEnvelope: read the standard WGS84BoundingBox it parsed
        ows = "{http://www.opengis.net/ows/2.0}"
        wgs = c._elem.find(f"{ows}WGS84BoundingBox")
        lower = [float(v) for v in wgs.findtext(f"{ows}LowerCorner").split()]
        upper = [float(v) for v in wgs.findtext(f"{ows}UpperCorner").split()]
        want = transform_bounds(crs, "EPSG:4326", west, south, east, north, densify_pts=21)
        assert lower + upper == pytest.approx(list(want), abs=1e-9)
    supported = {e.text for e in wcs._capabilities.iter("{http://www.opengis.net/wcs/crs/1.0}crsSupported")}
    assert {"http://www.opengis.net/def/crs/EPSG/0/32733", "http://www.opengis.net/def/crs/EPSG/0/4326"} <= supported


# ---------------------------------------------------------------------- OWSLib: downloads
def test_owslib_100_native_resolution_is_a_read(server, served, owslib, tmp_path):
    """BBOX + RESX/RESY at the coverage's own resolution: its own pixels (97x61, no nodata), as the export."""
    data, t, _, _ = _source(SRTM)
    wcs = owslib.WebCoverageService(server, version="1.0.0")
    res = t.a
    for col, row in ((100, 50), (0, 0), (740, 600), (313, 217)):
        bbox = _pixel_box(t, col, row, 97, 61)
        resp = wcs.getCoverage(identifier=SRTM, bbox=bbox, crs="EPSG:32733", format="GeoTIFF", resx=res, resy=abs(t.e))
        with _read(resp.read(), tmp_path, f"res_{col}.tif") as got:
            assert (got.width, got.height) == (97, 61)
            assert got.nodata is None  # the source has none and none is needed
            assert got.transform.almost_equals(Affine(t.a, 0, t.c + col * t.a, 0, t.e, t.f + row * t.e), 1e-9)
            np.testing.assert_array_equal(got.read(1), data[row : row + 61, col : col + 97])
    # the same box with WIDTH/HEIGHT, and the same box exported by the command line: the same file content
    bbox = _pixel_box(t, 100, 50, 97, 61)
    resp = wcs.getCoverage(identifier=SRTM, bbox=bbox, crs="EPSG:32733", format="GeoTIFF", width=97, height=61)
    ref = _cli_export(served, SRTM, tmp_path / "ref.tif", bbox)
    with _read(resp.read(), tmp_path, "size.tif") as got, rasterio.open(ref) as want:
        assert got.transform == want.transform and got.crs == want.crs and got.nodata == want.nodata is None
        np.testing.assert_array_equal(got.read(), want.read())


def test_owslib_100_geographic_coverage_with_nodata(server, served, owslib, tmp_path):
    data, t, _, nodata = _source(DEM)
    wcs = owslib.WebCoverageService(server, version="1.0.0")
    bbox = _pixel_box(t, 40, 20, 150, 90)  # lon/lat: WCS 1.0.0 is x first
    resp = wcs.getCoverage(identifier=DEM, bbox=bbox, crs="EPSG:4326", format="image/tiff", width=150, height=90)
    ref = _cli_export(served, DEM, tmp_path / "ref.tif", bbox)
    with _read(resp.read(), tmp_path, "got.tif") as got, rasterio.open(ref) as want:
        assert got.crs.to_epsg() == 4326 and got.shape == (90, 150) and got.nodata == nodata
        assert got.transform == want.transform
        np.testing.assert_array_equal(got.read(1), data[20:110, 40:190])
        np.testing.assert_array_equal(got.read(), want.read())


def test_owslib_100_other_size_is_exactly_the_box(server, owslib, tmp_path):
    """WIDTH/HEIGHT off the native grid: exactly BBOX in WIDTH x HEIGHT pixels (nearest neighbour, what GDAL's
    own warp gives), with no nodata invented inside the coverage."""
    data, t, crs, _ = _source(SRTM)
    wcs = owslib.WebCoverageService(server, version="1.0.0")
    bbox = (975000.5, 6200000.25, 1030000.75, 6245000.0)
    resp = wcs.getCoverage(identifier=SRTM, bbox=bbox, crs="EPSG:32733", format="GeoTIFF", width=200, height=150)
    with _read(resp.read(), tmp_path, "got.tif") as got:
        assert (got.width, got.height) == (200, 150) and got.nodata is None
        assert got.bounds == pytest.approx(bbox, abs=1e-6)
        want = np.zeros((150, 200), data.dtype)
        reproject(data, want, src_transform=t, src_crs=crs, dst_transform=got.transform, dst_crs=crs,
                  resampling=Resampling.nearest)  # fmt: skip
        np.testing.assert_array_equal(got.read(1), want)


def test_owslib_201_subsets_are_reads(server, served, owslib, tmp_path):
    wcs = owslib.WebCoverageService(server, version="2.0.1")
    data, t, _, _ = _source(SRTM)
    resp = wcs.getCoverage(identifier=SRTM, format="image/tiff")
    with _read(resp.read(), tmp_path, "whole.tif") as got:
        assert got.shape == data.shape and got.transform.almost_equals(t, 1e-12) and got.nodata is None
        np.testing.assert_array_equal(got.read(1), data)
    x0, y0, x1, y1 = _pixel_box(t, 100, 50, 97, 61)
    resp = wcs.getCoverage(identifier=SRTM, format="image/tiff", subsets=[("E", x0, x1), ("N", y0, y1)])
    ref = _cli_export(served, SRTM, tmp_path / "ref.tif", (x0, y0, x1, y1))
    with _read(resp.read(), tmp_path, "sub.tif") as got, rasterio.open(ref) as want:
        assert got.shape == (61, 97) and got.transform == want.transform
        np.testing.assert_array_equal(got.read(), want.read())
    data, t, _, nodata = _source(DEM)
    x0, y0, x1, y1 = _pixel_box(t, 40, 20, 150, 90)
    resp = wcs.getCoverage(identifier=DEM, format="image/tiff", subsets=[("Lat", y0, y1), ("Long", x0, x1)])
    with _read(resp.read(), tmp_path, "dem.tif") as got:
        assert got.shape == (90, 150) and got.nodata == nodata
        np.testing.assert_array_equal(got.read(1), data[20:110, 40:190])


# ---------------------------------------------------------------------- OWSLib: errors
def test_owslib_100_errors_are_readable(server, owslib):
    from owslib.util import ServiceException

    wcs = owslib.WebCoverageService(server, version="1.0.0")
    box = (980000, 6200000, 990000, 6210000)
    cases = [
        ({"identifier": "nope", "bbox": box, "crs": "EPSG:32733", "format": "GeoTIFF", "width": 10, "height": 10},
         "no coverage 'nope'"),
        ({"identifier": SRTM, "bbox": (0, 0, 10, 10), "crs": "EPSG:32733", "format": "GeoTIFF", "width": 10,
          "height": 10}, "does not meet the coverage"),
        ({"identifier": SRTM, "bbox": box, "crs": "EPSG:32733", "format": "image/bmp", "width": 10, "height": 10},
         "is not offered: use one of"),
    ]  # fmt: skip
    for kwargs, text in cases:
        with pytest.raises(ServiceException, match=re.escape(text)):
            wcs.getCoverage(**kwargs)
    with pytest.raises(ServiceException, match=re.escape("no coverage 'nope'")):
        wcs.getDescribeCoverage("nope")


def test_owslib_201_errors_are_readable(server, owslib):
    import requests
    from owslib.util import ServiceException

    wcs = owslib.WebCoverageService(server, version="2.0.1")
    with pytest.raises(requests.HTTPError) as info:  # NoSuchCoverage: HTTP 404, as WCS 2.0.1 says
        wcs.getCoverage(identifier="nope", format="image/tiff")
    assert info.value.response.status_code == 404
    ows = "{http://www.opengis.net/ows/2.0}"
    exc = ET.fromstring(info.value.response.content).find(f"{ows}Exception")
    assert exc.get("exceptionCode") == "NoSuchCoverage"
    assert "no coverage 'nope'" in exc.findtext(f"{ows}ExceptionText")
    with pytest.raises(ServiceException, match="does not meet the coverage"):
        wcs.getCoverage(identifier=SRTM, format="image/tiff", subsets=[("E", 0, 10), ("N", 0, 10)])
    with pytest.raises(ServiceException, match=re.escape("FORMAT 'image/bmp' is not offered")):
        wcs.getCoverage(identifier=SRTM, format="image/bmp")


# ---------------------------------------------------------------------- QGIS
@pytest.fixture(scope="module")
def qgis(server, served, tmp_path_factory) -> dict:
    """What QGIS read: one run of tests/qgis_wcs_client.py in Debian's python3 for every check below."""
    probe = None
    if Path(QGIS_PYTHON).exists():
        probe = subprocess.run(
            [QGIS_PYTHON, "-c", "import qgis.core"],
            capture_output=True,
            text=True,
            env=_env(QT_QPA_PLATFORM="offscreen"),
        )
    if probe is None or probe.returncode != 0:
        _missing(
            "QGIS's Python bindings (import qgis.core in /usr/bin/python3)",
            "apt-get install python3-qgis qgis-providers",
        )
    d = tmp_path_factory.mktemp("qgis")
    _, t, _, _ = _source(SRTM)
    sub = _pixel_box(t, 100, 50, 97, 61)
    tif = _cli_export(served, SRTM, d / "piece.tif", sub)
    asc = _cli_export(served, SRTM, d / "piece.asc", sub)
    assert asc.with_suffix(".prj").is_file()
    srtm_data, srtm_t, _, _ = _source(SRTM)
    whole = rasterio.transform.array_bounds(*srtm_data.shape, srtm_t)
    dem_data, dem_t, _, _ = _source(DEM)
    dem_whole = rasterio.transform.array_bounds(*dem_data.shape, dem_t)
    uri = {"url": server, "cache": "AlwaysNetwork"}
    request = {
        "wcs": [
            {
                "key": SRTM,
                "uri": {**uri, "identifier": SRTM},
                "blocks": [
                    [whole[0], whole[1], whole[2], whole[3], srtm_data.shape[1], srtm_data.shape[0]],
                    [sub[0], sub[1], sub[2], sub[3], 97, 61],
                    [whole[0], whole[1], whole[2], whole[3], 100, 80],
                    [*VIEW, 50, 40],  # a map canvas: any box, any size
                ],
            },
            {
                "key": DEM,
                "uri": {**uri, "identifier": DEM},
                "blocks": [[*dem_whole, dem_data.shape[1], dem_data.shape[0]]],
            },
        ],
        "gdal": [
            {"key": "gtiff", "path": str(tif), "blocks": [[sub[0], sub[1], sub[2], sub[3], 97, 61]]},
            {"key": "aaigrid", "path": str(asc), "blocks": [[sub[0], sub[1], sub[2], sub[3], 97, 61]]},
        ],
    }
    home = d / "home"
    home.mkdir()
    env = _env(QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_RUNTIME_DIR=str(home), XDG_CONFIG_HOME=str(home))
    proc = subprocess.run(
        [QGIS_PYTHON, str(QGIS_CLIENT)], input=json.dumps(request), capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _block(block: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(block["data"]), dtype=block["dtype"]).reshape(block["height"], block["width"])


def test_qgis_opens_the_coverage_over_wcs(qgis):
    wcs_log = [message for tag, message in qgis["messages"] if tag == "WCS"]
    assert not [m for m in wcs_log if "wrong" in m or "Cannot" in m], wcs_log  # extents and sizes as asked
    for cid in (SRTM, DEM):
        layer = qgis["wcs"][cid]
        assert layer["valid"], layer.get("error")
        data, t, crs, nodata = _source(cid)
        assert layer["authid"] == f"EPSG:{crs.to_epsg()}"
        assert (layer["width"], layer["height"]) == (data.shape[1], data.shape[0])
        assert layer["extent"] == pytest.approx(rasterio.transform.array_bounds(*data.shape, t), abs=1e-6)
        assert layer["dtype"] == str(data.dtype) and layer["bands"] == 1
        assert layer["has_nodata"] == (nodata is not None)  # no nodata invented for SRTM, EU-DEM's own kept
        if nodata is not None:
            assert layer["nodata"] == pytest.approx(nodata, rel=1e-7)


def test_qgis_reads_the_coverage_own_pixels(qgis):
    data, t, crs, _ = _source(SRTM)
    whole, sub, small, view = (_block(b) for b in qgis["wcs"][SRTM]["blocks"])
    np.testing.assert_array_equal(whole, data)
    np.testing.assert_array_equal(sub, data[50:111, 100:197])
    # other grids: exactly the extent and size asked, nearest neighbour (what GDAL's own warp gives)
    west, south, east, north = rasterio.transform.array_bounds(*data.shape, t)
    for got, (x0, y0, x1, y1) in ((small, (west, south, east, north)), (view, VIEW)):
        height, width = got.shape
        want = np.zeros((height, width), data.dtype)
        dst = Affine((x1 - x0) / width, 0, x0, 0, -(y1 - y0) / height, y1)
        reproject(
            data, want, src_transform=t, src_crs=crs, dst_transform=dst, dst_crs=crs, resampling=Resampling.nearest
        )
        np.testing.assert_array_equal(got, want)
    dem, _, _, _ = _source(DEM)
    np.testing.assert_array_equal(_block(qgis["wcs"][DEM]["blocks"][0]), dem)


def test_qgis_reads_exports_crs(qgis):
    data, _, _, _ = _source(SRTM)
    for key in ("gtiff", "aaigrid"):
        layer = qgis["gdal"][key]
        assert layer["valid"], layer.get("error")
        assert layer["crs_valid"], f"QGIS read no CRS from the {key} export"
        assert layer["proj"] == "+proj=utm +zone=33 +south +datum=WGS84 +units=m +no_defs", layer["wkt"]
        assert (layer["width"], layer["height"]) == (97, 61)
        np.testing.assert_array_equal(_block(layer["blocks"][0]).astype(data.dtype), data[50:111, 100:197])
    assert qgis["gdal"]["gtiff"]["authid"] == "EPSG:32733"
