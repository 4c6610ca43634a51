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

No mocks: real GeoTIFFs and tile folders in temporary folders, the real application through a TestClient (one per
example), the real command line.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from fractions import Fraction
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from affine import Affine
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rasterio.io import MemoryFile

import rastercover
from rastercover.cli.main import main
from rastercover.errors import InputError
from rastercover.server.app import create_app
from rastercover.server.catalog import Catalog
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


def check(case: Case, box: Box, answers: dict[str, Answer]) -> None:
    where = f"\n  coverage: {case.describe()}\n  box: {box}\n  answers:\n    " + "\n    ".join(
        str(a) for a in answers.values()
    )
    unexpected = [a for a in answers.values() if not a.ok and "(unexpected)" in a.error]
    assert not unexpected, f"a face failed in an unexpected way: {unexpected[0].error}{where}"

    # ---- every pair of faces gives the same answer
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
            if p in SAME_CODE and q in SAME_CODE:  # one code path, the same floats: the same bits
                assert a.transform == b.transform, (
                    f"{p} gives transform {tuple(a.transform)[:6]}, {q} gives {tuple(b.transform)[:6]}{where}"
                )
            assert a.dtype == b.dtype and _same_nodata(a.nodata, b.nodata) and a.crs == b.crs, (
                f"{p}: {a.dtype} nodata {a.nodata} {a.crs}; {q}: {b.dtype} nodata {b.nodata} {b.crs}{where}"
            )
            assert np.array_equal(a.array, b.array, equal_nan=True), (
                f"{p} and {q} differ in {_differing(a.array, b.array)} pixel(s){where}"
            )

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
