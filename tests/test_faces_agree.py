"""Every face of export gives the same pixels, shape and transform for the same bbox request.

The faces: ``rastercover.export`` (Python), ``rastercover export --bbox`` (the CLI), ``GET`` and ``POST
/coverages/{id}/export`` (the JSON API), WCS 2.0.1 ``GetCoverage`` with ``SUBSET`` on the axes DescribeCoverage
advertises, and WCS 1.0.0 ``GetCoverage`` with ``BBOX`` and ``RESX``/``RESY`` at the native resolution (a warp
onto the grid ``gdalwarp`` would choose, which at the native resolution must be the native pixels again).

Hypothesis draws the coverage (a north-up or skewed/rotated GeoTIFF, or a sparse folder of ``r{row}_c{col}.tif``
tiles with some tiles missing, with or without ``index.vrt``; float32 or int16 with nodata) and boxes inside,
partly outside and outside it, with edges on pixel edges computed in floating point (``origin + k * res``, or a
running sum of ``res``: the edges carry float noise), within float-noise distance of them, or a fraction of a
pixel away. Each face's answer is checked against every other face's, and against an oracle computed in exact
rational arithmetic: the pixels whose area meets the box (box edges within 1e-6 px of a pixel edge are on it),
within the coverage's extent, with the source array's values there (missing tiles read as nodata).

Clips (the second half): the four faces that take one (Python, the CLI, GET and POST; WCS has none) on the same
coverages, with random clips (triangles, stars, polygons with holes, multipolygons whose parts may overlap, lines,
points; vertices on pixel edges and centres, near them, or anywhere), given as WKT, GeoJSON (a geometry, a Feature,
a FeatureCollection; text, or an object in a POST body) or a feature of a catalogue layer (``clip_layer`` +
``clip_id``), in the coverage's CRS or in EPSG:4326 (``clip_crs``, a GeoJSON ``crs`` member, or the layer's), with
a buffer (negative too), ``envelope``, ``all_touched`` and sometimes a bbox. Every pair of faces gives the same
raster or the same refusal (class, HTTP status, CLI exit status, message), and the answer is
``rasterio.mask.mask(source, [clip], crop=True, ...)``'s (exporting.py's documented semantics) whenever the clip is not
reprojected: on the GeoTIFF itself, or for a tile folder on a GeoTIFF in memory of what the folder holds.

No mocks: real GeoTIFFs and tile folders in temporary folders, the real application through a TestClient (one per
example), the real command line.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import pyogrio.raw
import rasterio
import rasterio.features
import rasterio.mask
import shapely
import shapely.geometry
from affine import Affine
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from rasterio.io import MemoryFile
from rasterio.windows import Window as RioWindow

import rastercover
from rastercover.cli.main import main
from rastercover.errors import InputError, RastercoverError
from rastercover.server.app import create_app
from rastercover.server.catalog import Catalog
from rastercover.server.problems import PROBLEM_MEDIA_TYPE, problem_for
from rastercover.server.settings import Settings

ALIGN_TOL = Fraction(1, 10**6)  # the documented alignment tolerance, in pixels (README: "snapped", grid.ALIGN_TOL)
GML = "http://www.opengis.net/gml/3.2"
WCS20 = "http://www.opengis.net/wcs/2.0"
#: the faces that hand the bbox to the export as it is (no warp): their transforms must be equal to the bit
SAME_CODE = ("python", "cli", "get", "post", "wcs201")


# ---------------------------------------------------------------------- what is drawn
@dataclass(frozen=True)
class CrsSpec:
    code: str
    labels: tuple[str, str]  # the axis labels WCS 2.0.1 must advertise, in the CRS's own order
    north_first: bool
    origins: tuple[tuple[float, float], ...]
    res: tuple[float, ...]


CRSS = (
    CrsSpec("EPSG:32198", ("X", "Y"), False, ((150000.0, 420000.0), (1000.1, 9000.7)), (0.1, 1 / 3, 30.0, 2.5)),
    CrsSpec("EPSG:32618", ("E", "N"), False, ((500000.1, 4649776.3),), (0.1, 1 / 3, 30.0)),
    CrsSpec("EPSG:4326", ("Lat", "Lon"), True, ((-73.3, 45.7),), (0.1, 1 / 3, 0.01)),
)
NODATA = {"float32": (-9999.0, float("nan")), "int16": (-32768.0, -9999.0, 0.0)}
# how far inside its integer pixel edge a box edge lies, in pixels: on it, float noise off it (snapped),
# a hair off it (not snapped), a fraction of a pixel
OFFSETS = (0.0, 0.0, 0.0, 1e-8, -1e-8, 1e-4, -1e-4, 0.25, 0.5, 0.999)


@dataclass(frozen=True)
class Case:
    """A coverage to write: its full lattice, the seed of its values, and (for a folder) its tiles."""

    kind: str  # "tif" or "folder"
    crs: CrsSpec
    transform: Affine
    width: int
    height: int
    dtype: str
    nodata: float
    seed: int
    tile: tuple[int, int] = (0, 0)
    present: tuple[tuple[int, int], ...] = ()
    vrt: bool = False

    @property
    def north_up(self) -> bool:
        return self.transform.b == 0 and self.transform.d == 0

    def describe(self) -> str:
        t = tuple(self.transform)[:6]
        text = f"{self.kind} {self.width}x{self.height} {self.dtype} nodata={self.nodata} {self.crs.code} T={t}"
        if self.kind == "folder":
            text += f" tiles={self.tile} present={list(self.present)} index.vrt={self.vrt}"
        return text


@st.composite
def cases(draw, kind: str, skewed: bool) -> Case:
    crs = draw(st.sampled_from(CRSS))
    ox, oy = draw(st.sampled_from(crs.origins))
    xres = draw(st.sampled_from(crs.res))
    yres = xres if draw(st.booleans()) else draw(st.sampled_from(crs.res))
    if skewed:
        angle = draw(st.sampled_from((30.0, -17.5, 90.0, 4.0)))
        shear = draw(st.sampled_from((0.0, 0.0, 10.0, -25.0)))
        transform = (
            Affine.translation(ox, oy) @ Affine.rotation(angle) @ Affine.shear(shear, 0) @ Affine.scale(xres, -yres)
        )
    else:
        transform = Affine(xres, 0.0, ox, 0.0, -yres, oy)
    low = 8 if kind == "folder" else 1
    width, height = draw(st.integers(low, 60)), draw(st.integers(low, 60))
    dtype = draw(st.sampled_from(("float32", "int16")))
    case = Case(
        kind, crs, transform, width, height, dtype, draw(st.sampled_from(NODATA[dtype])), draw(st.integers(0, 999))
    )
    if kind == "folder":
        tw, th = draw(st.integers(7, 25)), draw(st.integers(7, 25))
        rows, cols = -(-height // th), -(-width // tw)
        everything = [(r, c) for r in range(rows) for c in range(cols)]
        mask = draw(st.lists(st.booleans(), min_size=len(everything), max_size=len(everything)))
        present = [k for k, m in zip(everything, mask, strict=True) if m]
        if not present:
            present = [everything[draw(st.integers(0, len(everything) - 1))]]
        case = replace(case, tile=(tw, th), present=tuple(present), vrt=draw(st.booleans()))
    return case


@dataclass(frozen=True)
class Box:
    """A box drawn in pixel units of the full lattice (``lo``/``hi`` columns and rows), and its map coordinates."""

    cols: tuple[float, float]
    rows: tuple[float, float]
    running_sum: bool  # edges made by adding res k times instead of origin + k * res
    bounds: tuple[float, float, float, float]


@st.composite
def spans(draw, n: int) -> tuple[float, float]:
    """``(lo, hi)`` in pixels along an axis of ``n`` pixels: each a few pixels either side of the coverage."""
    k0 = draw(st.integers(-4, n + 3))
    k1 = draw(st.integers(k0 + 1, n + 4))
    u0, v1 = draw(st.sampled_from(OFFSETS)), draw(st.sampled_from(OFFSETS))
    k1 = max(k1, math.ceil(k0 + u0 + v1 + 0.01))  # a box of positive width (a zero-width box is another rule)
    return k0 + u0, k1 - v1


def _along(origin: float, res: float, pixels: float, running_sum: bool) -> float:
    """``origin + pixels * res`` the way a client computes a pixel edge (with its float noise)."""
    if not running_sum:
        return origin + pixels * res
    k = math.floor(pixels)
    v = origin
    for _ in range(abs(k)):
        v = v + res if k > 0 else v - res
    return v + (pixels - k) * res


@st.composite
def boxes(draw, case: Case) -> Box:
    cols, rows = draw(spans(case.width)), draw(spans(case.height))
    t = case.transform
    running = case.north_up and draw(st.booleans())
    if case.north_up:
        x0, x1 = (_along(t.c, t.a, v, running) for v in cols)
        y1, y0 = (_along(t.f, t.e, v, running) for v in rows)  # e < 0: the first row is the top
    else:  # a box through two points given in pixel space (on pixel corners when the offsets are 0)
        (xa, ya), (xb, yb) = t @ (cols[0], rows[0]), t @ (cols[1], rows[1])
        x0, x1, y0, y1 = min(xa, xb), max(xa, xb), min(ya, yb), max(ya, yb)
        if not (x0 < x1 and y0 < y1):
            x1, y1 = x0 + abs(t.a) + abs(t.b), y0 + abs(t.d) + abs(t.e)
    return Box(cols, rows, running, (x0, y0, x1, y1))


# ---------------------------------------------------------------------- writing the coverage
def values(case: Case) -> np.ndarray:
    """The full lattice's pixels: varied values, some equal to nodata (the same for the same seed)."""
    rng = np.random.default_rng(case.seed)
    shape = (case.height, case.width)
    if case.dtype == "int16":
        a = rng.integers(-30000, 30000, size=shape).astype("int16")
    else:
        a = (rng.normal(0, 500, size=shape) * 4).round().astype("float32") / 4
    a[rng.random(shape) < 0.1] = case.nodata
    return a


def _profile(case: Case, width: int, height: int, transform: Affine) -> dict:
    return dict(
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype=case.dtype,
        crs=case.crs.code,
        transform=transform,
        nodata=case.nodata,
    )


def _vrt(case: Case, folder: str) -> None:
    """An ``index.vrt`` over the whole lattice with the tiles present (GDAL fills the holes with nodata)."""
    t = case.transform
    tw, th = case.tile
    gdal_type = {"float32": "Float32", "int16": "Int16"}[case.dtype]
    nodata = "nan" if math.isnan(case.nodata) else repr(case.nodata)
    wkt = rasterio.crs.CRS.from_string(case.crs.code).to_wkt()
    lines = [
        f'<VRTDataset rasterXSize="{case.width}" rasterYSize="{case.height}">',
        f"  <SRS>{escape(wkt)}</SRS>",
        f"  <GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>",
        f'  <VRTRasterBand dataType="{gdal_type}" band="1">',
        f"    <NoDataValue>{nodata}</NoDataValue>",
    ]
    for r, c in case.present:
        c0, r0 = c * tw, r * th
        w, h = min(tw, case.width - c0), min(th, case.height - r0)
        lines += [
            "    <SimpleSource>",
            f'      <SourceFilename relativeToVRT="1">r{r}_c{c}.tif</SourceFilename>',
            "      <SourceBand>1</SourceBand>",
            f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
            f'      <DstRect xOff="{c0}" yOff="{r0}" xSize="{w}" ySize="{h}"/>',
            "    </SimpleSource>",
        ]
    lines += ["  </VRTRasterBand>", "</VRTDataset>"]
    with open(os.path.join(folder, "index.vrt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def write_coverage(case: Case, where: str) -> str:
    """Write the coverage under ``where``; return its path (a .tif or a tile folder)."""
    full = values(case)
    if case.kind == "tif":
        path = os.path.join(where, "cov.tif")
        with rasterio.open(path, "w", **_profile(case, case.width, case.height, case.transform)) as ds:
            ds.write(full, 1)
        return path
    path = os.path.join(where, "tiles")
    os.mkdir(path)
    tw, th = case.tile
    for r, c in case.present:
        c0, r0 = c * tw, r * th
        w, h = min(tw, case.width - c0), min(th, case.height - r0)
        profile = _profile(case, w, h, case.transform @ Affine.translation(c0, r0))
        with rasterio.open(os.path.join(path, f"r{r}_c{c}.tif"), "w", **profile) as ds:
            ds.write(full[r0 : r0 + h, c0 : c0 + w], 1)
    if case.vrt:
        _vrt(case, path)
    return path


# ---------------------------------------------------------------------- the oracle
def extent(case: Case) -> tuple[int, int, int, int]:
    """``(col0, row0, col1, row1)`` of the coverage in pixels of the full lattice (README, io/coverage_file.py).

    A GeoTIFF and a folder read through its ``index.vrt`` cover the whole lattice (the VRT's extent). A folder
    of ``r{row}_c{col}`` files without one is laid out from the names: from tile ``r0_c0`` (present or not) to
    the last row and column present; when the names cannot give the tile size (every tile present is in the
    last column, or the last row, which may be narrower), the headers are scanned and the coverage is the union
    of the tiles present.
    """
    if case.kind == "tif" or case.vrt:
        return 0, 0, case.width, case.height
    tw, th = case.tile
    rows, cols = [r for r, _ in case.present], [c for _, c in case.present]
    r1, c1 = max(rows), max(cols)
    end = (min(case.width, (c1 + 1) * tw), min(case.height, (r1 + 1) * th))
    named = (c1 == 0 or min(cols) < c1) and (r1 == 0 or min(rows) < r1)
    if named:
        return 0, 0, *end
    return min(cols) * tw, min(rows) * th, *end


def expected_array(case: Case) -> np.ndarray:
    """The full lattice as the coverage holds it: the values, nodata where a tile is missing."""
    full = values(case)
    if case.kind == "tif":
        return full
    out = np.full_like(full, case.nodata)
    tw, th = case.tile
    for r, c in case.present:
        out[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = full[r * th : (r + 1) * th, c * tw : (c + 1) * tw]
    return out


def _n_tiles(case: Case) -> int:
    tw, th = case.tile
    return -(-case.width // tw) * -(-case.height // th)


def _snap(v: Fraction) -> Fraction:
    k = round(v)
    return Fraction(k) if abs(v - k) <= ALIGN_TOL else v


def oracle_window(case: Case, bounds: tuple[float, float, float, float]) -> tuple[int, int, int, int] | None:
    """``(col0, row0, col1, row1)`` of the pixels whose area meets the box, in exact rational arithmetic.

    North-up: ``(x - origin) / res`` per edge, snapped to a whole pixel within 1e-6 px, floor / ceil. Skewed
    or rotated: the same for the box's four corners through the exact inverse of the transform (the window
    of whole pixels holding the box's image in pixel space). Then cut to the coverage's extent; a box that
    shares no area with it (one only touching its edge included) gives None.
    """
    t = [Fraction(v) for v in tuple(case.transform)[:6]]
    a, b, c, d, e, f = t
    x0, y0, x1, y1 = (Fraction(v) for v in bounds)
    if case.north_up:
        cols = [_snap((x - c) / a) for x in (x0, x1)]
        rows = [_snap((y - f) / e) for y in (y0, y1)]
    else:
        det = a * e - b * d
        corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        cols = [_snap((e * (x - c) - b * (y - f)) / det) for x, y in corners]
        rows = [_snap((-d * (x - c) + a * (y - f)) / det) for x, y in corners]
    ec0, er0, ec1, er1 = extent(case)
    c0, c1 = max(math.floor(min(cols)), ec0), min(math.ceil(max(cols)), ec1)
    r0, r1 = max(math.floor(min(rows)), er0), min(math.ceil(max(rows)), er1)
    if c1 <= c0 or r1 <= r0:
        return None
    return c0, r0, c1, r1


# ---------------------------------------------------------------------- the faces
@dataclass
class Answer:
    """One face's answer: the raster it delivered, or the refusal it gave."""

    face: str
    ok: bool
    error: str = ""
    shape: tuple[int, int] | None = None
    transform: Affine | None = None
    array: np.ndarray | None = None
    dtype: str | None = None
    nodata: float | None = None
    crs: str | None = None
    status: int | None = None  # a refusal's HTTP status (python: its class's, server/problems.py), CLI exit status
    kind: str = ""  # a refusal's exception class (python)

    def __str__(self) -> str:
        if not self.ok:
            return f"{self.face}: refused ({self.error[:200]})"
        return f"{self.face}: {self.shape} T={tuple(self.transform)[:6]}"


def _read(face: str, ds) -> Answer:
    return Answer(
        face,
        True,
        shape=(ds.height, ds.width),
        transform=ds.transform,
        array=ds.read(1),
        dtype=ds.dtypes[0],
        nodata=ds.nodata,
        crs=ds.crs.to_string() if ds.crs else None,
    )


def _from_file(face: str, path: str) -> Answer:
    with rasterio.open(path) as ds:
        return _read(face, ds)


def _from_response(face: str, resp, refusal: tuple[int, str | None]) -> Answer:
    if resp.status_code == 200 and resp.headers["content-type"].startswith("application/vnd.ogc.se_xml"):
        # WCS 1.0.0 answers a refusal with status 200 and a ServiceExceptionReport (its spec; OWSLib reads it)
        return Answer(face, False, error=f"WCS 1.0.0 ServiceException {resp.text}")
    if resp.status_code != 200:
        status, marker = refusal
        ok = resp.status_code == status and (marker is None or marker in resp.text)
        return Answer(face, False, error=f"HTTP {resp.status_code}{'' if ok else ' (unexpected)'} {resp.text}")
    assert resp.headers["content-type"].startswith("image/tiff"), (face, resp.headers["content-type"])
    with MemoryFile(resp.content) as mem, mem.open() as ds:
        return _read(face, ds)


def ask_every_face(client: TestClient, cid: str, source: str, case: Case, box: Box, out: str) -> dict[str, Answer]:
    x0, y0, x1, y1 = box.bounds
    answers: dict[str, Answer] = {}

    path = os.path.join(out, "python.tif")
    try:
        rastercover.export(source, path, bbox=box.bounds)
        answers["python"] = _from_file("python", path)
    except InputError as exc:
        answers["python"] = Answer("python", False, error=f"{type(exc).__name__}: {exc}")

    path = os.path.join(out, "cli.tif")
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            main(["export", source, "-o", path, "--bbox", repr(x0), repr(y0), repr(x1), repr(y1)])
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code in (0, None):
        answers["cli"] = _from_file("cli", path)
    else:
        answers["cli"] = Answer("cli", False, error=f"exit {code}: {said.getvalue().strip()}")
    if code not in (0, None, 2):
        answers["cli"].error += " (unexpected)"

    # the JSON API refuses a bbox outside the coverage as an InputError: 422 problem details
    resp = client.get(f"/coverages/{cid}/export", params={"bbox": f"{x0!r},{y0!r},{x1!r},{y1!r}"})
    answers["get"] = _from_response("get", resp, (422, "does not meet the coverage"))
    resp = client.post(f"/coverages/{cid}/export", json={"bbox": [x0, y0, x1, y1]})
    answers["post"] = _from_response("post", resp, (422, "does not meet the coverage"))

    # WCS 2.0.1: the axes in the order and with the labels DescribeCoverage advertises (checked per example).
    # It applies to skewed and rotated grids too: a SUBSET trims the coverage on its CRS's axes, which the
    # server hands to the export as its bbox (whole pixels of the coverage's own grid meeting the box)
    north, east = case.crs.labels if case.crs.north_first else case.crs.labels[::-1]
    params = [
        ("service", "WCS"),
        ("version", "2.0.1"),
        ("request", "GetCoverage"),
        ("coverageid", cid),
        ("format", "image/tiff"),
        ("subset", f"{east}({x0!r},{x1!r})"),
        ("subset", f"{north}({y0!r},{y1!r})"),
    ]
    answers["wcs201"] = _from_response("wcs201", client.get("/wcs", params=params), (400, "InvalidSubsetting"))

    # WCS 1.0.0 with RESX/RESY asks for a north-up grid of that resolution (a warp): a skewed or rotated
    # coverage has no such native grid, so this face only applies to north-up coverages
    if case.north_up:
        t = case.transform
        params = [
            ("service", "WCS"),
            ("version", "1.0.0"),
            ("request", "GetCoverage"),
            ("coverage", cid),
            ("crs", case.crs.code),
            ("bbox", f"{x0!r},{y0!r},{x1!r},{y1!r}"),
            ("resx", repr(t.a)),
            ("resy", repr(-t.e)),
            ("format", "GeoTIFF"),
        ]
        answers["wcs100"] = _from_response("wcs100", client.get("/wcs", params=params), (400, "InvalidParameterValue"))
    return answers


# ---------------------------------------------------------------------- the checks
def _close(t: Affine, u: Affine, pixel: Affine) -> bool:
    """Transforms equal to 1e-9 relative per coefficient, and origins within 1e-6 px of each other."""
    for p, q in zip(tuple(t)[:6], tuple(u)[:6], strict=True):
        if abs(p - q) > 1e-9 * max(abs(p), abs(q)):
            return False
    col, row = ~pixel @ (t.c, t.f)
    ref_col, ref_row = ~pixel @ (u.c, u.f)
    return abs(col - ref_col) <= 1e-6 and abs(row - ref_row) <= 1e-6


def _differing(a: np.ndarray, b: np.ndarray) -> int:
    same = (a == b) | (np.isnan(a.astype(float)) & np.isnan(b.astype(float)))
    return int((~same).sum())


def _same_nodata(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def _agree(case: Case, answers: dict[str, Answer], where: str, same_code: tuple[str, ...]) -> None:
    """Every pair of faces gives the same answer: both refuse, or the same raster (``same_code``: to the bit)."""
    names = list(answers)
    for i, p in enumerate(names):
        for q in names[i + 1 :]:
            a, b = answers[p], answers[q]
            assert a.ok == b.ok, (
                f"{p} {'answers' if a.ok else 'refuses'} but {q} {'answers' if b.ok else 'refuses'}{where}"
            )
            if not a.ok:
                continue
            assert a.shape == b.shape, f"{p} gives shape {a.shape}, {q} gives {b.shape}{where}"
            assert _close(a.transform, b.transform, case.transform), (
                f"{p} gives transform {tuple(a.transform)[:6]}, {q} gives {tuple(b.transform)[:6]}{where}"
            )
            if p in same_code and q in same_code:  # one code path, the same floats: the same bits
                assert a.transform == b.transform, (
                    f"{p} gives transform {tuple(a.transform)[:6]}, {q} gives {tuple(b.transform)[:6]}{where}"
                )
            assert a.dtype == b.dtype and _same_nodata(a.nodata, b.nodata) and a.crs == b.crs, (
                f"{p}: {a.dtype} nodata {a.nodata} {a.crs}; {q}: {b.dtype} nodata {b.nodata} {b.crs}{where}"
            )
            assert np.array_equal(a.array, b.array, equal_nan=True), (
                f"{p} and {q} differ in {_differing(a.array, b.array)} pixel(s){where}"
            )


def check(case: Case, box: Box, answers: dict[str, Answer]) -> None:
    where = f"\n  coverage: {case.describe()}\n  box: {box}\n  answers:\n    " + "\n    ".join(
        str(a) for a in answers.values()
    )
    unexpected = [a for a in answers.values() if not a.ok and "(unexpected)" in a.error]
    assert not unexpected, f"a face failed in an unexpected way: {unexpected[0].error}{where}"

    _agree(case, answers, where, SAME_CODE)

    # ---- and the answer is the oracle's
    want = oracle_window(case, box.bounds)
    ref = answers["python"]
    event(f"box: {_where(case, box, want)}")
    if want is None:
        assert not ref.ok, f"the box meets no pixel's area of the coverage, yet every face answers{where}"
        return
    assert ref.ok, f"the box meets pixels {want} (col0, row0, col1, row1) but the faces refuse it{where}"
    c0, r0, c1, r1 = want
    assert ref.shape == (r1 - r0, c1 - c0), f"oracle window {want}: shape {(r1 - r0, c1 - c0)}, got {ref.shape}{where}"
    expected_t = case.transform @ Affine.translation(c0, r0)
    assert _close(ref.transform, expected_t, case.transform), (
        f"oracle transform {tuple(expected_t)[:6]}, got {tuple(ref.transform)[:6]}{where}"
    )
    assert ref.dtype == case.dtype and _same_nodata(ref.nodata, case.nodata)
    want_pixels = expected_array(case)[r0:r1, c0:c1]
    assert np.array_equal(ref.array, want_pixels, equal_nan=True), f"pixels differ from the source's window{where}"


def _where(case: Case, box: Box, want: tuple[int, int, int, int] | None) -> str:
    """Where the box lies (for Hypothesis's statistics)."""
    if want is None:
        return "outside the coverage"
    ec0, er0, ec1, er1 = extent(case)
    inside = all(ec0 <= v <= ec1 for v in box.cols) and all(er0 <= v <= er1 for v in box.rows)
    on_edges = all(v == round(v) for v in (*box.cols, *box.rows))
    return ("inside" if inside else "partly outside") + (", on pixel edges" if on_edges else "")


def run_case(case: Case, box_list: list[Box]) -> None:
    if case.kind == "folder":
        ec0, er0, ec1, er1 = extent(case)
        layout = "index.vrt" if case.vrt else "names" if (ec0, er0) == (0, 0) else "headers scanned"
        missing = "some" if len(case.present) < _n_tiles(case) else "no"
        event(f"folder laid out by {layout}, {missing} tiles missing{'' if case.north_up else ', skewed'}")
    with tempfile.TemporaryDirectory(prefix="faces-") as tmp:
        src_dir, out_dir = os.path.join(tmp, "src"), os.path.join(tmp, "out")
        os.mkdir(src_dir)
        os.mkdir(out_dir)
        source = write_coverage(case, src_dir)
        catalog = Catalog.from_sources([source])
        (cid,) = catalog.coverages
        with TestClient(create_app(catalog, Settings(), temp_dir=out_dir)) as client:
            desc = client.get("/wcs", params={"request": "DescribeCoverage", "version": "2.0.1", "coverageid": cid})
            env = ET.fromstring(desc.content).find(
                f"{{{WCS20}}}CoverageDescription/{{{GML}}}boundedBy/{{{GML}}}Envelope"
            )
            assert tuple(env.get("axisLabels").split()) == case.crs.labels, desc.text
            for i, box in enumerate(box_list):
                out = os.path.join(out_dir, f"box{i}")
                os.mkdir(out)
                check(case, box, ask_every_face(client, cid, source, case, box, out))


# ---------------------------------------------------------------------- the properties
FAST = settings(
    derandomize=True,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


@st.composite
def case_and_boxes(draw, kind: str, skewed: bool | None) -> tuple[Case, list[Box]]:
    """A coverage and one to three boxes on it (``skewed=None``: a skewed grid one time in four)."""
    if skewed is None:
        skewed = draw(st.sampled_from((False, False, False, True)))
    case = draw(cases(kind, skewed))
    return case, draw(st.lists(boxes(case), min_size=1, max_size=3))


@FAST
@given(case_and_boxes("tif", skewed=False))
def test_every_face_gives_the_same_piece_of_a_north_up_geotiff(drawn):
    run_case(*drawn)


@FAST
@given(case_and_boxes("tif", skewed=True))
def test_every_face_gives_the_same_piece_of_a_skewed_geotiff(drawn):
    run_case(*drawn)


@FAST
@given(case_and_boxes("folder", skewed=None))
def test_every_face_gives_the_same_piece_of_a_sparse_tile_folder(drawn):
    run_case(*drawn)


# ====================================================================== clips
# The four faces that take a clip (Python, the CLI, GET and POST /coverages/{id}/export; WCS has none) on the
# same coverages: a random clip (triangle, star, polygon with holes, multipolygon, line, multiline, point,
# multipoint), given as WKT, GeoJSON (geometry, Feature, FeatureCollection; text, or an object in a POST body) or
# as a feature of a catalogue layer (a GeoPackage: clip_layer + clip_id), in the coverage's CRS (implied or
# named) or in EPSG:4326 (clip_crs, a GeoJSON "crs" member, both, or the layer's CRS), with a buffer (negative
# too), envelope, all_touched, and sometimes a bbox. Every pair of faces must agree (the same refusal: class,
# HTTP status, CLI exit status and message; or the same raster), and the answer must be rasterio.mask's.

#: where in its pixel a clip vertex lies: on a pixel edge, on the centre (ties of the centre rule), a hair
#: inside an edge, a quarter in; or anywhere (a float drawn by Hypothesis)
CLIP_FRACTIONS = (0.0, 0.0, 0.5, 0.5, 0.25, 0.75, 1e-9, 1 - 1e-9)
#: the buffer, in pixels (times the length of a pixel's side along a row); any negative one empties a line or a
#: point (a refusal), so those get one less often
BUFFER_PIXELS = (0.0, 0.0, 0.0, 0.0, 0.5, 1.5, 3.0, -0.25, -0.5, -1.0, -3.0)
BUFFER_PIXELS_LINEAR = (0.0, 0.0, 0.0, 0.0, 0.5, 1.5, -0.5)
#: polygons twice as often as lines and points
SHAPES = ("triangle", "star", "holes", "multipolygon") * 2 + ("line", "multiline", "point", "multipoint")


@st.composite
def pixel_points(draw, case: Case) -> tuple[float, float]:
    """``(col, row)`` in pixels of the full lattice, up to two pixels outside it."""
    frac = st.one_of(st.sampled_from(CLIP_FRACTIONS), st.floats(0, 1, exclude_max=True))
    return (
        draw(st.integers(-2, case.width + 1)) + draw(frac),
        draw(st.integers(-2, case.height + 1)) + draw(frac),
    )


def _star_ring(centre: tuple[float, float], n: int, radius: float, ratio: float, turn: float, scale: float = 1):
    cx, cy = centre
    ring = []
    for i in range(2 * n):
        r = radius * scale * (1 if i % 2 == 0 else ratio)
        a = turn + i * math.pi / n
        ring.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return ring


@st.composite
def stars(draw, case: Case, hole: bool = False) -> shapely.Polygon:
    """A star (3 to 7 tips; tips on the axes or not), with a smaller copy of itself as a hole if ``hole``."""
    centre = draw(pixel_points(case))
    n = draw(st.integers(3, 7))
    radius = draw(st.sampled_from((0.6, 1.5, 4.0, 10.0, 30.0)))
    ratio = draw(st.sampled_from((0.3, 0.5)))
    turn = draw(st.sampled_from((0.0, math.pi / (2 * n), 0.3)))
    shell = _star_ring(centre, n, radius, ratio, turn)
    # a star is star-shaped about its centre: a copy scaled about it lies strictly inside (a valid hole)
    holes = [_star_ring(centre, n, radius, ratio, turn, draw(st.sampled_from((0.3, 0.6))))] if hole else []
    return shapely.Polygon(shell, holes)


@st.composite
def rectangles(draw, case: Case, holes: int = 0) -> shapely.Polygon:
    """A rectangle (on pixel edges when its corner is), with ``holes`` disjoint rectangular holes inside."""
    c0, r0 = draw(pixel_points(case))
    w, h = draw(st.integers(1 if not holes else 3, 40)), draw(st.integers(1 if not holes else 3, 40))
    shell = [(c0, r0), (c0 + w, r0), (c0 + w, r0 + h), (c0, r0 + h)]
    inner = []
    for j in range(holes):  # hole j in the j-th vertical strip, away from its sides
        a, b = c0 + (j + 0.25) * w / holes, c0 + (j + 0.75) * w / holes
        inner.append([(a, r0 + 0.25 * h), (a, r0 + 0.75 * h), (b, r0 + 0.75 * h), (b, r0 + 0.25 * h)])
    return shapely.Polygon(shell, inner)


@st.composite
def lines(draw, case: Case) -> shapely.LineString:
    """2 to 5 vertices; one time in two each segment is horizontal or vertical (on pixel edges or centres)."""
    points = [draw(pixel_points(case)) for _ in range(draw(st.integers(2, 5)))]
    if draw(st.booleans()):
        for i in range(1, len(points)):
            (pc, pr), (c, r) = points[i - 1], points[i]
            points[i] = (pc, r) if i % 2 else (c, pr)
    if all(p == points[0] for p in points):
        points[-1] = (points[-1][0] + 1, points[-1][1])
    return shapely.LineString(points)


@st.composite
def pixel_shapes(draw, case: Case) -> tuple[str, shapely.Geometry]:
    """A clip shape in pixel space of the full lattice, and its kind."""
    kind = draw(st.sampled_from(SHAPES))
    if kind == "triangle":
        return kind, shapely.Polygon([draw(pixel_points(case)) for _ in range(3)])  # a flat one is made valid
    if kind == "star":
        return kind, draw(stars(case))
    if kind == "holes":
        return kind, draw(st.one_of(stars(case, hole=True), rectangles(case, holes=draw(st.integers(1, 2)))))
    if kind == "multipolygon":  # the parts may overlap (an invalid multipolygon, made valid by every reader)
        part = st.one_of(
            stars(case),
            rectangles(case),
            st.builds(shapely.Polygon, st.lists(pixel_points(case), min_size=3, max_size=3)),
        )
        return kind, shapely.MultiPolygon(draw(st.lists(part, min_size=2, max_size=3)))
    if kind == "line":
        return kind, draw(lines(case))
    if kind == "multiline":
        return kind, shapely.MultiLineString(draw(st.lists(lines(case), min_size=2, max_size=2)))
    if kind == "point":
        return kind, shapely.Point(draw(pixel_points(case)))
    return kind, shapely.MultiPoint(draw(st.lists(pixel_points(case), min_size=2, max_size=4)))


def _to_map(case: Case, geom: shapely.Geometry) -> shapely.Geometry:
    """Pixel space to the coverage's CRS through its transform (the float noise of a client's computation)."""
    t = case.transform
    return shapely.transform(
        geom, lambda p: np.column_stack((t.a * p[:, 0] + t.b * p[:, 1] + t.c, t.d * p[:, 0] + t.e * p[:, 1] + t.f))
    )


def _to_4326(case: Case, geom: shapely.Geometry) -> shapely.Geometry:
    if case.crs.code == "EPSG:4326":
        return geom
    tr = Transformer.from_crs(case.crs.code, "EPSG:4326", always_xy=True)
    return shapely.transform(geom, lambda p: np.column_stack(tr.transform(p[:, 0], p[:, 1])))


def wkt(geom: shapely.Geometry) -> str:
    """WKT with every coordinate's shortest round-trip repr (GEOS's writer rounds 0.30000000000000004 to 0.3)."""

    def xy(c) -> str:
        return " ".join(repr(float(v)) for v in c[:2])

    def seq(coords) -> str:
        return "(" + ", ".join(xy(c) for c in coords) + ")"

    def poly(p: shapely.Polygon) -> str:
        return "(" + ", ".join(seq(r.coords) for r in (p.exterior, *p.interiors)) + ")"

    kind = geom.geom_type
    if kind == "Point":
        return f"POINT ({xy(geom.coords[0])})"
    if kind == "LineString":
        return "LINESTRING " + seq(geom.coords)
    if kind == "Polygon":
        return "POLYGON " + poly(geom)
    if kind == "MultiPoint":
        return "MULTIPOINT (" + ", ".join(f"({xy(p.coords[0])})" for p in geom.geoms) + ")"
    if kind == "MultiLineString":
        return "MULTILINESTRING (" + ", ".join(seq(g.coords) for g in geom.geoms) + ")"
    assert kind == "MultiPolygon", kind
    return "MULTIPOLYGON (" + ", ".join(poly(g) for g in geom.geoms) + ")"


@dataclass(frozen=True)
class Clip:
    """A clip request: the geometry as the faces get it, how, in which CRS, and the options that go with it."""

    shape: str
    sent: shapely.Geometry  # the geometry in the CRS the faces are told (``crs``, else the coverage's)
    form: str  # wkt, geojson, feature, collection (one feature per part), layer (a feature of a GeoPackage)
    crs: str | None  # the clip's CRS when it is named (clip_crs, a GeoJSON member, the layer's); None: implied
    crs_via: str  # implied, clip_crs, member, both (clip_crs and an equal member), layer
    member: Any  # the GeoJSON "crs" member (a name, or {"type": "name", "properties": {"name": ...}})
    buffer: float
    envelope: bool
    all_touched: bool
    box: Box | None
    post_object: bool  # POST sends the GeoJSON as an object, not as text
    layer_fid: int  # the clip's fid in its GeoPackage (1 to 3; the others are decoys)
    ask_fid: int  # the fid the faces ask for (another one: a refusal)
    text: str = ""  # WKT or GeoJSON text (not for a layer)

    def describe(self) -> str:
        opts = f"buffer={self.buffer!r} envelope={self.envelope} all_touched={self.all_touched}"
        box = f" bbox={self.box.bounds}" if self.box else ""
        how = f"{self.form} crs={self.crs} via {self.crs_via}"
        if self.form == "layer":
            how += f" fid {self.layer_fid} asked {self.ask_fid}"
        elif self.form != "wkt":
            how += f" post_object={self.post_object}"
        return f"{self.shape} as {how}, {opts}{box}\n    clip: {self.text or wkt(self.sent)}"


@st.composite
def clips(draw, case: Case) -> Clip:
    shape, geom_px = draw(pixel_shapes(case))
    geom = _to_map(case, geom_px)
    form = draw(st.sampled_from(("wkt", "geojson", "geojson", "feature", "collection", "layer")))
    where = draw(st.sampled_from(("implied", "implied", "named", "4326", "4326")))
    own = case.crs.code
    crs, crs_via, member = None, "implied", None
    sent = geom
    if where != "implied":
        sent = _to_4326(case, geom) if where == "4326" else geom
        name = "EPSG:4326" if where == "4326" else own
        if form == "layer":
            crs_via = "layer"
        elif form == "wkt":
            crs_via = "clip_crs"
        else:
            crs_via = draw(st.sampled_from(("clip_crs", "member", "both")))
        if crs_via in ("member", "both"):
            member = name
            if crs_via == "member" and draw(st.booleans()):  # the GeoJSON 2008 form (OGC:CRS84 is EPSG:4326 x/y)
                urn = "urn:ogc:def:crs:OGC:1.3:CRS84" if where == "4326" else f"urn:ogc:def:crs:EPSG::{own[5:]}"
                member = {"type": "name", "properties": {"name": urn}}
        crs = name
    fid = draw(st.integers(1, 3))
    text = ""
    if form == "wkt":
        text = wkt(sent)
    elif form != "layer":
        obj = shapely.geometry.mapping(sent)
        if form == "feature":
            obj = {"type": "Feature", "properties": {"fid": fid}, "geometry": obj}
        elif form == "collection":
            parts = list(sent.geoms) if shape.startswith("multi") else [sent]
            features = [{"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(g)} for g in parts]
            obj = {"type": "FeatureCollection", "features": features}
        if member is not None:
            obj = {**obj, "crs": member}
        text = json.dumps(obj)
    pixel = math.hypot(case.transform.a, case.transform.d)
    return Clip(
        shape=shape,
        sent=sent,
        form=form,
        crs=crs,
        crs_via=crs_via,
        member=member,
        buffer=draw(st.sampled_from(BUFFER_PIXELS if sent.area else BUFFER_PIXELS_LINEAR)) * pixel,
        envelope=draw(st.booleans()),
        all_touched=draw(st.booleans()),
        box=draw(st.one_of(st.none(), st.none(), boxes(case))),
        post_object=form not in ("wkt", "layer") and draw(st.booleans()),
        layer_fid=fid,
        ask_fid=fid if draw(st.integers(0, 9)) else 7,  # one time in ten a fid that is not there
        text=text,
    )


def clip_layer_file(case: Case, clip: Clip, path: str) -> str:
    """A GeoPackage whose feature ``clip.layer_fid`` is the clip; the others are decoys (the coverage's
    footprint and a far point: asking the wrong fid would show). In the clip's CRS, or in none (implied)."""
    decoys = [
        _to_map(case, shapely.box(-1, -1, case.width + 1, case.height + 1)),
        _to_map(case, shapely.Point(-50 * case.width, -50 * case.height)),
    ]
    if clip.crs is not None and clip.crs != case.crs.code:
        decoys = [_to_4326(case, g) for g in decoys]
    geoms = [*decoys[: clip.layer_fid - 1], clip.sent, *decoys[clip.layer_fid - 1 :]]
    with warnings.catch_warnings():  # a layer without a CRS is what is asked for (the clip's CRS implied)
        warnings.simplefilter("ignore", UserWarning)
        pyogrio.raw.write(
            path,
            np.array(shapely.to_wkb(geoms), dtype=object),
            [],
            [],
            driver="GPKG",
            layer="clips",
            geometry_type="Unknown",
            crs=clip.crs,
        )
    return path


def ask_clip_faces(client: TestClient, cid: str, source: str, clip: Clip, layer: tuple[str, str] | None, out: str):
    """Every face's answer to the clip request (``layer``: the clip's GeoPackage and its catalogue id)."""
    answers: dict[str, Answer] = {}

    options: dict[str, Any] = {"buffer": clip.buffer, "envelope": clip.envelope, "all_touched": clip.all_touched}
    args = ["--buffer", repr(clip.buffer)] + ["--envelope"] * clip.envelope + ["--all-touched"] * clip.all_touched
    params: dict[str, str] = {"buffer": repr(clip.buffer)}
    params.update({k: "true" for k in ("envelope", "all_touched") if options[k]})
    body: dict[str, Any] = dict(options)
    if clip.form == "layer":
        path, layer_id = layer
        options.update(clip_layer=path, clip_id=clip.ask_fid)
        args += ["--clip-layer", path, "--clip-id", str(clip.ask_fid)]
        params.update(clip_layer=layer_id, clip_id=str(clip.ask_fid))
        body.update(clip_layer=layer_id, clip_id=clip.ask_fid)
    else:
        options["clip"] = clip.text
        args += ["--clip", clip.text]
        params["clip"] = clip.text
        body["clip"] = json.loads(clip.text) if clip.post_object else clip.text
    if clip.crs_via in ("clip_crs", "both"):
        options["clip_crs"] = body["clip_crs"] = params["clip_crs"] = clip.crs
        args += ["--clip-crs", clip.crs]
    if clip.box is not None:
        options["bbox"] = body["bbox"] = clip.box.bounds
        args += ["--bbox", *(repr(v) for v in clip.box.bounds)]
        params["bbox"] = ",".join(repr(v) for v in clip.box.bounds)

    path = os.path.join(out, "python.tif")
    try:
        rastercover.export(source, path, **options)
        answers["python"] = _from_file("python", path)
    except RastercoverError as exc:  # anything else is a bug: it fails the test with its traceback
        answers["python"] = Answer("python", False, error=str(exc), status=problem_for(exc)[0], kind=type(exc).__name__)

    path = os.path.join(out, "cli.tif")
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            main(["export", source, "-o", path, *args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code in (0, None):
        answers["cli"] = _from_file("cli", path)
    else:
        answers["cli"] = Answer("cli", False, error=said.getvalue().strip(), status=code)

    for face, resp in (
        ("get", client.get(f"/coverages/{cid}/export", params=params)),
        ("post", client.post(f"/coverages/{cid}/export", json=body)),
    ):
        if resp.status_code == 200:
            with MemoryFile(resp.content) as mem, mem.open() as ds:
                answers[face] = _read(face, ds)
        else:
            problem = resp.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
            detail = str(resp.json().get("detail")) if problem else resp.text
            answers[face] = Answer(face, False, error=detail, status=resp.status_code)
    return answers


def oracle_geometry(clip: Clip) -> shapely.Geometry | None:
    """The clip as the faces get it, read on its own (shapely's WKT reader, ``shapely.geometry.shape``; the
    features of a collection unioned), made valid, enveloped, then buffered; None when that empties it."""
    if clip.form == "wkt":
        geom = shapely.from_wkt(clip.text)
    elif clip.form == "layer":
        geom = clip.sent  # written as WKB: the same doubles
    else:
        obj = json.loads(clip.text)
        if obj["type"] == "FeatureCollection":
            found = [f["geometry"] for f in obj["features"]]
        else:
            found = [obj["geometry"] if obj["type"] == "Feature" else obj]
        parts = [shapely.geometry.shape(g) for g in found]
        geom = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    if clip.form != "collection":  # the text carries every double exactly (the test's own sanity)
        assert shapely.equals_exact(geom, clip.sent, 0), (wkt(geom), wkt(clip.sent))
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if clip.envelope:
        geom = geom.envelope
    if clip.buffer:
        geom = geom.buffer(clip.buffer, quad_segs=8)  # ST_Buffer's segments, as the export
    return None if geom.is_empty else geom


@contextlib.contextmanager
def oracle_dataset(case: Case, source: str, transform: Affine):
    """The source raster rasterio.mask reads: the GeoTIFF itself; for a tile folder, a GeoTIFF in memory of what
    the folder is (README): its extent's pixels, missing tiles as nodata, on the transform the coverage declares
    (``GET /coverages/{id}``; a lattice rebuilt from tile headers carries their float noise, within 1e-9 of the
    drawn one, as the bbox properties check)."""
    if case.kind == "tif":
        with rasterio.open(source) as ds:
            assert ds.transform == transform
            yield ds
        return
    c0, r0, c1, r1 = extent(case)
    profile = _profile(case, c1 - c0, r1 - r0, transform)
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(expected_array(case)[r0:r1, c0:c1], 1)
        with mem.open() as ds:
            yield ds


def clip_oracle(case: Case, ds, clip: Clip) -> tuple[np.ndarray, Affine] | None:
    """``rasterio.mask.mask(ds, [geom], crop=True, all_touched=..., nodata=...)``, cut to the bbox's window (the
    pixels meeting it, as the bbox property's oracle says); None where the export must refuse: the clip empty,
    off the coverage or off the bbox, or keeping no pixel (exporting.py: "the clip covers no pixel centre").

    rasterio's crop window of a horizontal or vertical line, or of a point on a pixel edge, has no width or height
    (``rasterio.features.geometry_window``: floor and ceil of the clip's bounds in pixel space), and rasterio.mask
    raises; the export makes it one pixel wide (ops/piece.py ``geometry_window``). Only there this widens
    rasterio's own window by that rule and masks it as rasterio.mask does (``geometry_mask`` on the window's
    transform, the source's nodata kept).

    rasterio's bounds of a GeometryCollection ignore the transform (rasterio 1.4: its crop window lands at the
    map coordinates, and rasterio.mask raises), so a collection (what ``make_valid`` makes of a multipolygon
    with a flat part) is handed to it as its parts, which GDAL burns one by one as it does a collection's.
    """
    if clip.form == "layer" and clip.ask_fid != clip.layer_fid:
        return None  # no feature has that fid
    geom = oracle_geometry(clip)
    if geom is None:
        return None
    shapes = list(geom.geoms) if geom.geom_type == "GeometryCollection" else [geom]
    try:
        keep_not, _, win = rasterio.mask.raster_geometry_mask(ds, shapes, crop=True, all_touched=clip.all_touched)
        data, transform = rasterio.mask.mask(
            ds, shapes, crop=True, all_touched=clip.all_touched, nodata=case.nodata, indexes=1
        )
    except ValueError:  # "Input shapes do not overlap raster": off it, or a window of no width
        win = rasterio.features.geometry_window(ds, shapes, boundless=True)
        if win.width and win.height:
            return None
        c0, r0 = int(win.col_off), int(win.row_off)
        c1, r1 = max(c0 + int(win.width), c0 + 1), max(r0 + int(win.height), r0 + 1)
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, ds.width), min(r1, ds.height)
        if c1 <= c0 or r1 <= r0:
            return None
        win = RioWindow(c0, r0, c1 - c0, r1 - r0)
        transform = ds.window_transform(win)
        keep_not = rasterio.features.geometry_mask(
            shapes, out_shape=(r1 - r0, c1 - c0), transform=transform, all_touched=clip.all_touched
        )
        masked_data = ds.read(1, window=win, masked=True)
        masked_data.mask = masked_data.mask | keep_not
        data = masked_data.filled(case.nodata)
        event("oracle: a window of no width made one pixel wide")
    c0, r0 = int(win.col_off), int(win.row_off)
    c1, r1 = c0 + int(win.width), r0 + int(win.height)
    if clip.box is not None:
        box = oracle_window(case, clip.box.bounds)
        if box is None:
            return None
        ec0, er0, _, _ = extent(case)  # the oracle raster starts at the extent's corner
        b0, s0, b1, s1 = box[0] - ec0, box[1] - er0, box[2] - ec0, box[3] - er0
        k0, q0, k1, q1 = max(c0, b0), max(r0, s0), min(c1, b1), min(r1, s1)
        if k1 <= k0 or q1 <= q0:
            return None
        data = data[q0 - r0 : q1 - r0, k0 - c0 : k1 - c0]
        keep_not = keep_not[q0 - r0 : q1 - r0, k0 - c0 : k1 - c0]
        transform = ds.window_transform(RioWindow(k0, q0, k1 - k0, q1 - q0))
    if keep_not.all():
        return None
    return data, transform


def check_clip(case: Case, clip: Clip, answers: dict[str, Answer], ds, redact: dict[str, str]) -> str:
    """Every pair of faces agrees, and (when the clip is not reprojected) the answer is rasterio.mask's."""
    where = f"\n  coverage: {case.describe()}\n  {clip.describe()}\n  answers:\n    " + "\n    ".join(
        str(a) + (f" [{a.status}]" if not a.ok else "") for a in answers.values()
    )
    _agree(case, answers, where, same_code=tuple(answers))

    ref = answers["python"]
    if not ref.ok:  # the same refusal everywhere: its class's status over HTTP, exit 2 and its message on the CLI
        assert ref.kind in {c.__name__ for c in _input_errors()}, f"python refuses with {ref.kind}{where}"
        message = ref.error
        for path, id in redact.items():
            message = message.replace(path, id)
        for face in ("get", "post"):
            got = answers[face]
            assert (got.status, got.error) == (ref.status, message), (
                f"python refuses with {ref.kind} (HTTP {ref.status}: {message!r}) but {face} answers "
                f"HTTP {got.status}: {got.error!r}{where}"
            )
        cli = answers["cli"]
        assert (cli.status, cli.error) == (2, f"rastercover: error: {ref.error}"), (
            f"python refuses with {ref.kind} ({ref.error!r}) but the CLI exits {cli.status}: {cli.error!r}{where}"
        )
    outcome = f"answers {ref.shape[1]}x{ref.shape[0]}" if ref.ok else f"refuses ({ref.kind})"
    reprojected = clip.crs is not None and clip.crs != case.crs.code
    if reprojected:
        return "faces only (reprojected): " + outcome.split(" ")[0]

    want = clip_oracle(case, ds, clip)
    if want is None:
        assert not ref.ok, f"the oracle keeps no pixel (or the clip is empty or off), yet every face answers{where}"
        return "refused by all and by the oracle"
    data, transform = want
    assert ref.ok, f"the oracle (rasterio.mask) gives a {data.shape} piece but the faces refuse{where}"
    assert ref.shape == data.shape, f"the oracle (rasterio.mask) gives shape {data.shape}, the faces {ref.shape}{where}"
    assert _close(ref.transform, transform, case.transform), (
        f"the oracle gives transform {tuple(transform)[:6]}, the faces {tuple(ref.transform)[:6]}{where}"
    )
    assert ref.dtype == case.dtype and _same_nodata(ref.nodata, case.nodata), (ref.dtype, ref.nodata, where)
    assert np.array_equal(ref.array, data, equal_nan=True), (
        f"the faces and the oracle (rasterio.mask) differ in {_differing(ref.array, data)} pixel(s){where}\n"
        f"  faces:\n{ref.array}\n  oracle:\n{data}"
    )
    return "answered by all, as rasterio.mask"


def _input_errors() -> list[type]:
    out, todo = [], [InputError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo += cls.__subclasses__()
    return out


def run_clip_case(case: Case, clip_list: list[Clip]) -> None:
    with tempfile.TemporaryDirectory(prefix="clips-") as tmp:
        src_dir, out_dir = os.path.join(tmp, "src"), os.path.join(tmp, "out")
        os.mkdir(src_dir)
        os.mkdir(out_dir)
        source = write_coverage(case, src_dir)
        files = {
            i: clip_layer_file(case, clip, os.path.join(src_dir, f"clip{i}.gpkg"))
            for i, clip in enumerate(clip_list)
            if clip.form == "layer"
        }
        catalog = Catalog.from_sources([source, *files.values()])
        (cid,) = catalog.coverages
        ids = {entry.source: id for id, entry in catalog.layers.items()}
        redact = {f: ids[f] for f in files.values()}
        with TestClient(create_app(catalog, Settings(), temp_dir=out_dir)) as client:
            declared = Affine(*client.get(f"/coverages/{cid}").json()["transform"])
            assert _close(declared, case.transform @ Affine.translation(*extent(case)[:2]), case.transform)
            with oracle_dataset(case, source, declared) as ds:
                for i, clip in enumerate(clip_list):
                    out = os.path.join(out_dir, f"clip{i}")
                    os.mkdir(out)
                    layer = (files[i], ids[files[i]]) if i in files else None
                    answers = ask_clip_faces(client, cid, source, clip, layer, out)
                    event(f"{clip.shape}: {check_clip(case, clip, answers, ds, redact)}")
                    event(f"clip as {clip.form}, crs {'implied' if clip.crs is None else clip.crs_via}")


@st.composite
def case_and_clips(draw, kind: str) -> tuple[Case, list[Clip]]:
    """A coverage (a skewed grid one time in four) and one or two clip requests on it."""
    case = draw(cases(kind, draw(st.sampled_from((False, False, False, True)))))
    return case, draw(st.lists(clips(case), min_size=1, max_size=2))


CLIPS = settings(FAST, max_examples=25)


def _box_on_pixel_edges() -> tuple[Case, list[Clip]]:
    """Pixel columns 1..4 and rows 2..7 of a UTM grid, each edge ``origin + k * res`` in floats (its corners lie
    2e-10 px off the edges): rasterio.mask crops the clip to 5x3 pixels (as a bbox of the same box does)."""
    t = Affine(0.1, 0.0, 500000.1, 0.0, -0.1, 4649776.3)
    case = Case("tif", CRSS[1], t, 8, 8, "float32", -9999.0, seed=0)
    sent = shapely.box(t.c + 1 * t.a, t.f + 7 * t.e, t.c + 4 * t.a, t.f + 2 * t.e)
    options = dict(buffer=0.0, envelope=True, all_touched=False, box=None, post_object=False, layer_fid=1, ask_fid=1)
    return case, [Clip("rectangle", sent, "wkt", None, "implied", None, text=wkt(sent), **options)]


@CLIPS
@example(_box_on_pixel_edges())
@given(case_and_clips("tif"))
def test_every_face_clips_a_geotiff_as_rasterio_mask_does(drawn):
    run_clip_case(*drawn)


def _line_on_a_pixel_edge() -> tuple[Case, list[Clip]]:
    """A line down the left edge of a tile folder's first column, from row 0 to row 7 (``origin + 7 * res`` in
    floats: 1.9e-9 px into row 7): rasterio.mask crops it to one column of 7 rows."""
    t = Affine(0.1, 0.0, 500000.1, 0.0, -0.1, 4649776.3)
    case = Case("folder", CRSS[1], t, 8, 8, "float32", -9999.0, seed=0, tile=(7, 8), present=((0, 0),))
    sent = shapely.LineString([(t.c, t.f), (t.c, t.f + 7 * t.e)])
    options = dict(buffer=0.0, envelope=False, all_touched=False, box=None, post_object=False, layer_fid=1, ask_fid=1)
    return case, [Clip("line", sent, "wkt", None, "implied", None, text=wkt(sent), **options)]


@CLIPS
@example(_line_on_a_pixel_edge())
@given(case_and_clips("folder"))
def test_every_face_clips_a_sparse_tile_folder_as_rasterio_mask_does(drawn):
    run_clip_case(*drawn)
