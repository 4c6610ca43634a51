"""Fuzzing of the HTTP service: schemathesis against ``/openapi.json``, and random KVP requests against ``/wcs``.

The property: no request, however malformed, gets a 5xx answer (a bad request is a 4xx problem, or an OWS
exception report on ``/wcs``). Everything runs in-process (ASGI), with a fixed number of deterministic examples
per operation, so that the file takes well under a minute and a half in CI.

Extreme numbers get their own property: JSON bodies written as text, so that they can hold what ``json.dumps``
cannot write (``1e400``, which Python's JSON reader turns into infinity; ``NaN``, ``Infinity``; integers past
64 bits; ``-0.0``; subnormals), put into every numeric field of an export and of a ``/rasterize`` request.
"""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("schemathesis")
pytest.importorskip("geopandas")

import geopandas as gpd
import schemathesis
import shapely
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from rastercover.server.app import create_app
from rastercover.server.catalog import Catalog
from rastercover.server.settings import Settings

COVERAGES = ["dem", "rgb"]
LAYERS = ["zones"]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)


# ---------------------------------------------------------------------- the catalogue and the app
def _make_app(d: Path):
    """dem.tif (float32, nodata, EPSG:32198), rgb.tif (3-band uint8, EPSG:4326), zones.gpkg (polygons, int "id")."""
    rng = np.random.default_rng(0)
    with rasterio.open(
        d / "dem.tif",
        "w",
        driver="GTiff",
        width=40,
        height=30,
        count=1,
        dtype="float32",
        nodata=-9999,
        crs="EPSG:32198",
        transform=Affine(30, 0, -300000, 0, -30, 300000),
    ) as ds:
        a = rng.uniform(0, 500, (1, 30, 40)).astype("float32")
        a[0, :3, :3] = -9999
        ds.write(a)
    with rasterio.open(
        d / "rgb.tif",
        "w",
        driver="GTiff",
        width=30,
        height=20,
        count=3,
        dtype="uint8",
        crs="EPSG:4326",
        transform=Affine(0.01, 0, -72, 0, -0.01, 47),
    ) as ds:
        ds.write(rng.integers(0, 255, (3, 20, 30)).astype("uint8"))
    polys = [shapely.box(-72, 46.85, -71.9, 46.95), shapely.box(-71.85, 46.82, -71.75, 46.9), shapely.box(0, 0, 1, 1)]
    gpd.GeoDataFrame({"id": [1, 2, 3], "name": ["a", "b", "far"]}, geometry=polys, crs="EPSG:4326").to_file(
        d / "zones.gpkg", layer="zones", driver="GPKG"
    )
    catalog = Catalog()
    catalog.add_coverage(str(d / "dem.tif"))
    catalog.add_coverage(str(d / "rgb.tif"))
    catalog.add_layer(str(d / "zones.gpkg"), layer="zones", id="zones", id_column="id")
    assert sorted(catalog.coverages) == COVERAGES
    (d / "exports").mkdir()
    limits = Settings(max_pixels=1_000_000, max_vertices=1_000, max_body_bytes=64 * 1024)
    return create_app(catalog, limits, temp_dir=str(d / "exports"))


# schemathesis' fixture-based (lazy) schema does not work with pytest >= 9.2 (it sets ``node._nodeid``):
# the schema is loaded when the module is imported, from files in a temporary folder removed at exit.
_DATA = Path(tempfile.mkdtemp(prefix="rastercover-fuzz-"))
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)
APP = _make_app(_DATA)


def _real_ids(ctx, params):
    """Most generated path ids name a real coverage (or layer), so that fuzzing goes past the 404."""
    if not isinstance(params, dict):
        return st.just(params)
    real = LAYERS if ctx.operation is not None and ctx.operation.path.startswith("/layers") else COVERAGES
    return st.fixed_dictionaries({k: st.sampled_from([v, *real, *real]) for k, v in params.items()})


def _real_clip_layer(ctx, values):
    """Half of the generated ``clip_layer`` values name the real layer."""
    if not isinstance(values, dict) or "clip_layer" not in values:
        return st.just(values)
    return st.sampled_from([values, {**values, "clip_layer": "zones"}])


schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.hook("flatmap_path_parameters")(_real_ids)
schema.hook("flatmap_query")(_real_clip_layer)
schema.hook("flatmap_body")(_real_clip_layer)


def _check(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query!r} {case.body!r}"
    case.validate_response(response, checks=[not_a_server_error])


@schema.exclude(path_regex="/export$").parametrize()
@FUZZ
def test_no_server_error(case):
    """Every operation of the OpenAPI schema but the exports, with valid and invalid inputs: never a 5xx."""
    _check(case)


@schema.include(path_regex="/export$").parametrize()
@settings(FUZZ, max_examples=150)
def test_export_no_server_error(case):
    """The exports (GET with query parameters, POST with a JSON body), the most options: never a 5xx."""
    _check(case)


# ---------------------------------------------------------------------- export options that mean something
# fmt: off
_EXPORT_VALUES = {
    "format": ["gtiff", "cog", "aaigrid", "xyz", "png", "jpeg", "netcdf", "gpkg", "GTiff", "nope", ""],
    "bbox": ["-299500,299200,-298900,299900", "-72,46.85,-71.8,47", "-71.95,46.9,-71.9,46.95", "0,0,0,0",
             "1,2,3", "a,b,c,d", "nan,0,1,1", "inf,-inf,1,2", "-1e300,-1e300,1e300,1e300", "5,5,1,1",
             "-180,-90,180,90", "-299500 299200 -298900 299900", "", "0,0,1e400,1", "-1e308,-1e308,1e308,1e308",
             "-0.0,-0.0,1,1"],
    "bbox_crs": ["EPSG:4326", "EPSG:32198", "EPSG:3857", "EPSG:4978", "EPSG:0", "nope", "+proj=longlat", "ESRI:102003",
                 "EPSG:99999", ""],
    "crs": ["EPSG:4326", "EPSG:3857", "EPSG:32198", "EPSG:4978", "EPSG:32661", "EPSG:3031", "EPSG:0", "nope",
            "+proj=ortho +lat_0=-46 +lon_0=108", "+proj=geos +h=35785831 +lon_0=-140", "EPSG:5773", ""],
    "clip_crs": ["EPSG:4326", "EPSG:32198", "EPSG:4978", "nope", ""],
    "clip": ["POLYGON((-72 46.85,-71.8 46.85,-71.8 47,-72 46.85))", "POINT(-71.9 46.9)",
             "LINESTRING(-72 47,-71.7 46.8)",
             "POLYGON((-299500 299200,-298900 299200,-298900 299900,-299500 299200))", "POLYGON EMPTY",
             "POLYGON((0 0,1 1,1 0,0 1,0 0))", "POLYGON((nan 0,1 1,1 0,nan 0))", "POLYGON((0 0,1e308 0,0 1e308,0 0))",
             '{"type":"Point","coordinates":[-71.9,46.9]}', '{"type":"Polygon","coordinates":[]}',
             '{"type":"Feature","geometry":null}', '{"type":"FeatureCollection","features":[]}',
             '{"type":"Polygon","coordinates":[[[0,0],[1,0]]]}', '{"type":"Polygon"}', "{}", "[]", "1", "null",
             '{"type":"GeometryCollection","geometries":[]}', "GEOMETRYCOLLECTION(POINT(0 0))", "POINT(1e400 0)", ""],
    "clip_layer": ["zones", "nope", ""],
    "clip_id": ["1", "2", "3", "0", "-1", "99999999999999999999", "a", "1.5", ""],
    "buffer": ["0", "10", "-10", "-1e9", "1e308", "nan", "inf", "-inf", "0.001", "1e400", "-0.0"],
    "envelope": ["true", "false"],
    "all_touched": ["true", "false"],
    "resampling": ["nearest", "bilinear", "cubic", "average", "mode", "max", "sum", "rms", "nope", ""],
    "dtype": ["uint8", "int8", "uint16", "int16", "int32", "uint32", "int64", "float32", "float64", "complex64",
              "bool", "nope", ""],
    "nodata": ["0", "-9999", "255", "nan", "inf", "-inf", "1e40", "-1", "300", "1.5", "x", "", "1e400", "-0.0",
               "1e308", "99999999999999999999999"],
    "zipped": ["true", "false"],
    "filename": ["out", "a.b", "..", "-", "x" * 100],
    "bands": ["1", "2", "3", "1,3", "3,2,1", "0", "-1", "4", "1,1", "a", "1,", ",", "99999999999999999999", ""],
    "resolution": ["30", "60,60", "0.01", "0.001,0.002", "0", "-5", "nan", "inf", "1e-9", "1e-300", "1e300", "a",
                   "1,2,3", "5,", "", "1e400", "1e308,1e308", "-0.0", "5e-324"],
}
# fmt: on


def _json_value(key: str, text: str):
    """The POST body's form of a query value (a list for bbox, bands and resolution when they parse)."""
    if key in ("envelope", "all_touched", "zipped"):
        return text == "true"
    if key == "buffer":
        return float(text) if math.isfinite(float(text)) else text  # JSON has no nan nor inf: send the text
    if key in ("bbox", "bands", "resolution"):
        try:
            values = [float(v) if key != "bands" else int(v) for v in text.split(",")]
        except ValueError:
            return text if key != "bbox" else None
        if not all(math.isfinite(v) for v in values):
            return text if key != "bbox" else None
        return values if key != "resolution" or len(values) > 1 else values[0]
    if key == "clip_id":
        return int(text) if text.lstrip("-").isdigit() else text
    if key == "clip" and text.startswith("{"):
        import json

        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


_options = st.dictionaries(st.sampled_from(sorted(_EXPORT_VALUES)), st.just(None), max_size=6).flatmap(
    lambda d: st.fixed_dictionaries({k: st.sampled_from(_EXPORT_VALUES[k]) for k in d})
)


@given(coverage=st.sampled_from(COVERAGES), options=_options, post=st.booleans())
@settings(FUZZ, max_examples=500)
def test_export_options_no_server_error(fuzz_client, coverage, options, post):
    """Exports with meaningful (and broken) option values, as GET query parameters or a POST body: never a 5xx."""
    if post:
        body = {k: _json_value(k, v) for k, v in options.items()}
        body = {k: v for k, v in body.items() if v is not None}
        r = fuzz_client.post(f"/coverages/{coverage}/export", json=body)
        what = body
    else:
        r = fuzz_client.get(f"/coverages/{coverage}/export", params=options)
        what = options
    assert r.status_code < 500, f"{'POST' if post else 'GET'} {coverage} {what!r} -> {r.status_code}: {r.text[:500]}"
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json", r.text[:300]


# ---------------------------------------------------------------------- WCS key-value requests
# fmt: off
_KEYS = [
    "service", "version", "request", "coverageid", "coverage", "subset", "scalesize", "scalefactor", "outputcrs",
    "subsettingcrs", "format", "crs", "response_crs", "bbox", "width", "height", "resx", "resy", "identifiers",
    "acceptversions", "sections", "mediatype", "interpolation", "rangesubset", "time",
]
_VALUES = {
    "service": ["WCS", "wcs", "WMS", ""],
    "version": ["2.0.1", "2.0.0", "1.0.0", "1.1.1", "3", "", "2.0.1,1.0.0"],
    "request": ["GetCapabilities", "DescribeCoverage", "GetCoverage", "getcoverage", "GetMap", ""],
    "coverageid": [*COVERAGES, "dem,rgb", "nope", "", ",", "zones"],
    "coverage": [*COVERAGES, "nope", ""],
    "subset": [
        "x(-299000,-298500)", "y(299200,299800)", "E(-299000,-298500)", "N(299200,299800)", "Lat(46.85,46.95)",
        "Long(-71.95,-71.8)", "Lat(46.9)", "Long(-71.9)", "x(1,0)", "x(nan,inf)", "x(*,*)", "x(-1e300,1e300)",
        "x(", "x()", "x(1,2,3)", "foo(1,2)", "Lat(100,200)", "x(-299000)", "time(2020-01-01)",
    ],
    "scalesize": ["x(10),y(10)", "i(5),j(5)", "x(0),y(0)", "x(-1),y(5)", "x(100000),y(100000)", "x(1e308)", "x(nan)",
                  "x", "Long(3),Lat(2)", "x(1.5),y(2)"],
    "scalefactor": ["2", "0", "-1", "nan", "0.5", "1e-300"],
    "outputcrs": ["EPSG:4326", "http://www.opengis.net/def/crs/EPSG/0/3857", "EPSG:32198", "EPSG:0", "nope",
                  "EPSG:4326x", "http://www.opengis.net/def/crs/EPSG/0/", "EPSG:4978", "EPSG:32661", ""],
    "crs": ["EPSG:4326", "EPSG:32198", "EPSG:3857", "EPSG:99999", "bad", ""],
    "bbox": ["-72,46.8,-71.7,47", "-299000,299200,-298500,299800", "0,0,0,0", "1,2,3", "a,b,c,d", "nan,0,1,1",
             "-1e300,-1e300,1e300,1e300", "5,5,1,1", "-180,-90,180,90", ""],
    "width": ["10", "0", "-3", "1e9", "abc", "100000", "2.5", "", "99999999999999999999", "1e400", "-0"],
    "height": ["10", "0", "-3", "1e9", "abc", "100000", "2.5", "", "99999999999999999999", "1e400", "-0"],
    "resx": ["0.01", "30", "0", "-1", "nan", "1e-12", "x", "1e400", "1e308", "5e-324", "-0.0"],
    "resy": ["0.01", "30", "0", "-1", "inf", "1e-12", "x", "1e400", "1e308", "5e-324", "-0.0"],
    "format": ["image/tiff", "GeoTIFF", "image/png", "application/netcdf", "image/jpeg", "text/xml", "nope", ""],
}
# fmt: on


def _kvp_value(key: str):
    known = st.sampled_from(_VALUES.get(key, ["", "x"]))
    return st.one_of(known, known, st.text(max_size=20))


_pairs = st.lists(
    st.sampled_from(_KEYS).flatmap(lambda k: st.tuples(st.sampled_from([k, k.upper()]), _kvp_value(k))), max_size=9
)


@pytest.fixture(scope="module")
def fuzz_client():
    with TestClient(APP) as client:
        yield client


@given(pairs=_pairs, op=st.sampled_from(["GetCoverage", "GetCoverage", "DescribeCoverage", "GetCapabilities"]))
@settings(FUZZ, max_examples=300)
def test_wcs_no_server_error(fuzz_client, pairs, op):
    """Random key-value requests on /wcs (2.0.1 and 1.0.0): an answer or an OWS exception, never a 5xx."""
    query = urllib.parse.urlencode([("service", "WCS"), ("request", op), *pairs])
    r = fuzz_client.get(f"/wcs?{query}")
    assert r.status_code < 500, f"/wcs?{query} -> {r.status_code}: {r.text[:500]}"
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/xml", r.text[:300]
        assert b"Exception" in r.content, r.text[:300]


# ---------------------------------------------------------------------- extreme numbers in JSON bodies
#: Number literals as JSON text: what json.dumps cannot write too (Python's reader takes NaN, Infinity, 1e400).
_EXTREMES = [
    "1e308", "-1e308", "1.7976931348623157e308", "1e400", "-1e400", "-0.0", "0", "5e-324", "1e-400",
    "99999999999999999999999999", "-99999999999999999999999999", "9223372036854775808", "NaN", "Infinity",
    "-Infinity", '"nan"', '"inf"', '"-Infinity"', '"1e400"', '"-0"', '"1e308"', "1e-300", "2147483648", "4096",
]  # fmt: skip
_SQUARE = [[-299900, 299300], [-299000, 299300], [-299000, 299900], [-299900, 299900], [-299900, 299300]]
_EXPORT_SLOTS = ["bbox.0", "bbox.2", "bbox.3", "buffer", "nodata", "resolution", "resolution.0", "resolution.1",
                 "bands.0", "clip_id", "clip.x", "clip.y"]  # fmt: skip
_RASTERIZE_SLOTS = ["grid.bounds.0", "grid.bounds.1", "grid.bounds.2", "grid.bounds.3", "grid.resolution",
                    "grid.resolution.0", "grid.resolution.1", "grid.tile_size", "bbox.0", "bbox.2", "nodata",
                    "value", "x", "y"]  # fmt: skip


def _hole(n: int) -> str:
    return f"@@{n}@@"


def _export_body(slots: list[str]) -> dict:
    """A POST export body (a clip by a polygon, or by the layer) with holes where the extremes go."""
    body: dict = {"format": "gtiff"}
    if any(s.startswith("clip.") for s in slots):
        ring = [list(p) for p in _SQUARE]
        body["clip"] = {"type": "Polygon", "coordinates": [ring]}
    for n, slot in enumerate(slots):
        key, _, index = slot.partition(".")
        if key == "clip":
            body["clip"]["coordinates"][0][1]["xy".index(index)] = _hole(n)
        elif key == "clip_id":
            body.update(clip_layer="zones", clip_id=_hole(n))
        elif index:
            if not isinstance(body.get(key), list):
                body[key] = {"bbox": [-299900.0, 299300.0, -299000.0, 299900.0], "bands": [1]}.get(key, [30.0, 30.0])
            body[key][int(index)] = _hole(n)
        else:
            body[key] = _hole(n)
    return body


def _rasterize_body(slots: list[str], dtype: str, explicit: bool) -> dict:
    """A /rasterize body (one inline polygon on the dem, or on an explicit grid) with holes for the extremes."""
    ring = [list(p) for p in _SQUARE]
    feature = {"type": "Feature", "properties": {"h": 7}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    body: dict = {"features": feature, "value": "h", "dtype": dtype, "methods": ["AREA_WEIGHTED_MEAN_OF_VALUES"]}
    if explicit or any(s.startswith("grid.") for s in slots):
        body["grid"] = {"crs": "EPSG:32198", "bounds": [-300000, 299100, -298800, 300000], "resolution": 30}
    else:
        body["like"] = "dem"
    for n, slot in enumerate(slots):
        parts = slot.split(".")
        if parts[0] == "grid":
            target, key = body["grid"], parts[1]
            if len(parts) == 3:
                target[key] = target[key] if isinstance(target[key], list) else [30, 30]
                target[key][int(parts[2])] = _hole(n)
            else:
                target[key] = _hole(n)
        elif parts[0] == "bbox":
            body.setdefault("bbox", [-299900, 299300, -299000, 299900])[int(parts[1])] = _hole(n)
        elif parts[0] == "value":
            feature["properties"]["h"] = _hole(n)
        elif parts[0] in ("x", "y"):
            ring[2]["xy".index(parts[0])] = _hole(n)
        else:
            body[parts[0]] = _hole(n)
    return body


def _raw_json(body: dict, literals: list[str]) -> str:
    import json

    text = json.dumps(body)
    for n, literal in enumerate(literals):
        text = text.replace(json.dumps(_hole(n)), literal)
    return text


@given(
    rasterize=st.booleans(),
    slots=st.data(),
    dtype=st.sampled_from(["float32", "float64", "int16", "uint8", "int64", "uint64"]),
    explicit=st.booleans(),
)
@settings(FUZZ, max_examples=250)
def test_extreme_numbers_no_server_error(fuzz_client, rasterize, slots, dtype, explicit):
    """Every numeric field of POST /coverages/{id}/export and POST /rasterize given extreme numbers as raw JSON
    text: an answer or a 4xx problem (422 naming the field for a non-finite number), never a 5xx."""
    names = slots.draw(st.lists(st.sampled_from(_RASTERIZE_SLOTS if rasterize else _EXPORT_SLOTS), min_size=1,
                                max_size=3, unique=True))  # fmt: skip
    literals = slots.draw(st.lists(st.sampled_from(_EXTREMES), min_size=len(names), max_size=len(names)))
    if rasterize:
        url, body = "/rasterize", _rasterize_body(names, dtype, explicit)
    else:
        url, body = f"/coverages/{slots.draw(st.sampled_from(COVERAGES))}/export", _export_body(names)
    text = _raw_json(body, literals)
    r = fuzz_client.post(url, content=text, headers={"content-type": "application/json"})
    assert r.status_code < 500, f"POST {url} {text} -> {r.status_code}: {r.text[:500]}"
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json", r.text[:300]
        if r.status_code == 422 and any(v in ("1e400", "-1e400", "NaN", "Infinity", "-Infinity") for v in literals):
            assert r.json()["detail"], r.text[:300]
