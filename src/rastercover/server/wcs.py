"""OGC Web Coverage Service on ``GET /wcs``: key-value requests, single-part answers.

WCS 2.0.1 (GetCapabilities, DescribeCoverage, GetCoverage with ``SUBSET``, ``SCALESIZE``, ``OUTPUTCRS``,
``SUBSETTINGCRS``, ``FORMAT``) and WCS 1.0.0 (the same three operations; GetCoverage with ``COVERAGE``, ``CRS``,
``BBOX``, ``WIDTH``/``HEIGHT`` or ``RESX``/``RESY``, ``RESPONSE_CRS``, ``FORMAT``, ``INTERPOLATION``). Every
GetCoverage runs an export plan of :mod:`rastercover.exporting`:

- a request at the coverage's own resolution and alignment, in its own CRS, is a read of the coverage's own
  pixels, never a warp: 2.0.1 ``SUBSET`` and every ``BBOX`` without a size select the whole pixels meeting the
  box (an export's ``bbox``), and a 1.0.0 ``RESX``/``RESY`` equal to the coverage's resolution up to float
  noise does the same;
- any other size or resolution gives exactly the grid asked for: 1.0.0 ``BBOX`` + ``WIDTH``/``HEIGHT`` (or
  ``RESX``/``RESY``) is the output's extent, its pixels edge to edge, as GDAL, QGIS and GeoServer read it;
  2.0.1 ``SCALESIZE`` divides the trimmed extent into exactly that many pixels. Those are nearest-neighbour
  warps, and a grid on the coverage's own lattice is still a read;
- ``OUTPUTCRS``/``RESPONSE_CRS`` warps; a warp gets a nodata value only when the source has one or some output
  pixel falls outside the coverage (none is invented for a piece inside it).

Versions are negotiated as OWS Common says: ``AcceptVersions`` (the first version of the client's list that is
served, else ``VersionNegotiationFailed``), and the older ``VERSION`` rule for GetCapabilities (an unknown
version gets the highest served version below it, or the lowest served). Versions a corrigendum apart (2.0.0
and 2.0.1) are the same protocol.

Coordinates follow each CRS's own axis order in 2.0.1 (``Lat Lon`` for EPSG:4326, ``X Y`` for a projected CRS);
WCS 1.0.0 is always x (easting / longitude) first. Errors are ``ows:ExceptionReport`` documents with HTTP 400,
404 or 413 in 2.0.1, and 1.0.0 ``ServiceExceptionReport`` documents (``application/vnd.ogc.se_xml``) with HTTP
200 in 1.0.0, as that standard and its clients (OWSLib, QGIS) expect; never a traceback. A coverage whose source
cannot be read is left out of the capabilities and answers 503 (2.0.1), a GetCoverage beyond
``Settings.max_exports`` running answers 429 with ``Retry-After``, a full disk 507. Messages never show the
server's paths (the application's :class:`~rastercover.server.redact.Redactor`).

Clients checked by the test suite: GDAL's WCS driver (``gdalinfo "WCS:http://host/wcs"`` lists the coverages
as subdatasets, ``gdal_translate "WCS:http://host/wcs?version=2.0.1&coverage=ID" out.tif`` downloads one),
OWSLib's ``WebCoverageService`` (1.0.0 and 2.0.1) and QGIS's ``wcs`` provider (1.0.0).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..crs import as_crs, bbox_in_crs, same_crs
from ..engine.limits import count_text
from ..errors import CRSError, InputError, NoSpaceError, RastercoverError, SourceError, TooLargeError
from ..formats import Format, available_formats, get_format
from ..grid import ALIGN_TOL, MAX_SIDE, Grid
from .catalog import Catalog, NotFoundError, UnavailableError
from .problems import BusyError
from .redact import redact_query
from .responses import TempFileResponse
from .settings import Settings

__all__ = ["VERSIONS", "WCSError", "negotiate_version", "wcs_router"]

_NS20 = {
    "wcs": "http://www.opengis.net/wcs/2.0",
    "ows": "http://www.opengis.net/ows/2.0",
    "gml": "http://www.opengis.net/gml/3.2",
    "gmlcov": "http://www.opengis.net/gmlcov/1.0",
    "swe": "http://www.opengis.net/swe/2.0",
    "xlink": "http://www.w3.org/1999/xlink",
    "crs": "http://www.opengis.net/wcs/crs/1.0",
    "int": "http://www.opengis.net/wcs/interpolation/1.0",
}
_NS10 = {
    "wcs": "http://www.opengis.net/wcs",
    "gml": "http://www.opengis.net/gml",
    "xlink": "http://www.w3.org/1999/xlink",
}
_XML = "application/xml"
_SE_XML = "application/vnd.ogc.se_xml"  # WCS 1.0.0's exception format
_log = logging.getLogger(__name__)
_EPSG_URL = "http://www.opengis.net/def/crs/EPSG/0/"
_EAST_LABELS = {"x", "e", "easting", "lon", "long", "longitude", "i"}
_NORTH_LABELS = {"y", "n", "northing", "lat", "latitude", "j"}
_FORMAT_ALIASES = {"geotiff": "gtiff", "tiff": "gtiff", "tif": "gtiff", "netcdf": "netcdf", "png": "png"}
#: Versions served, highest first.
VERSIONS = ("2.0.1", "1.0.0")
_NEAREST_201 = "http://www.opengis.net/def/interpolation/OGC/1/nearest-neighbour"
_NEAREST_100 = "nearest neighbor"
#: WCS 1.0.0's names for OWS exception codes it lacks (its own list: Table 8 of OGC 03-065r6).
_CODES_100 = {
    "NoSuchCoverage": "CoverageNotDefined",
    "InvalidSubsetting": "InvalidParameterValue",
    "InvalidAxisLabel": "InvalidParameterValue",
    "NoSuchField": "InvalidParameterValue",
}


class WCSError(Exception):
    """An OGC exception: ``code`` (``NoSuchCoverage``, ``InvalidParameterValue``...), ``locator``, HTTP ``status``."""

    def __init__(self, code: str, message: str, locator: str | None = None, *, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.locator, self.status = code, message, locator, status


# ---------------------------------------------------------------------- XML helpers
def _el(parent: ET.Element | None, tag: str, text: Any = None, **attrs: Any) -> ET.Element:
    """A prefixed element (``"gml:Envelope"``); ElementTree escapes ``text`` and attribute values."""
    attrs = {k.replace("__", ":"): str(v) for k, v in attrs.items() if v is not None}
    e = ET.Element(tag, attrs) if parent is None else ET.SubElement(parent, tag, attrs)
    if text is not None:
        e.text = str(text)
    return e


def _root(tag: str, namespaces: dict[str, str], **attrs: Any) -> ET.Element:
    root = _el(None, tag, **attrs)
    for prefix, uri in namespaces.items():
        root.set(f"xmlns:{prefix}", uri)
    return root


def _xml_response(
    root: ET.Element, status: int = 200, headers: dict[str, str] | None = None, media_type: str = _XML
) -> Response:
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return Response(body, status_code=status, media_type=media_type, headers=headers)


def _num(v: float) -> str:
    return repr(float(v)) if not float(v).is_integer() else str(int(v)) if abs(v) < 1e15 else repr(float(v))


def _nums(values: Iterable[float]) -> str:
    return " ".join(_num(v) for v in values)


def _error_response(err: WCSError, version: str, redact: Any = None, headers: dict[str, str] | None = None) -> Response:
    """The exception report of ``version``: WCS 1.0.0's ``ServiceExceptionReport`` with HTTP 200 (the 1.0.0 way:
    clients such as OWSLib read the report only then), else an OWS 2.0 ``ows:ExceptionReport`` with the error's
    HTTP status."""
    message = redact(err.message) if redact is not None else err.message
    if version.startswith("1.0"):
        code = _CODES_100.get(err.code, err.code)
        if code == "InvalidParameterValue" and err.locator == "format":
            code = "InvalidFormat"
        root = _root("ServiceExceptionReport", {}, version="1.2.0", xmlns="http://www.opengis.net/ogc")
        _el(root, "ServiceException", message, code=code, locator=err.locator)
        return _xml_response(root, 200, headers, media_type=_SE_XML)
    root = _root("ows:ExceptionReport", {"ows": _NS20["ows"]}, version="2.0.1", xml__lang="en")
    exc = _el(root, "ows:Exception", exceptionCode=err.code, locator=err.locator)
    _el(exc, "ows:ExceptionText", message)
    return _xml_response(root, err.status, headers)


def _error_of(exc: Exception) -> tuple[WCSError, dict[str, str] | None]:
    """The OGC exception (and HTTP headers) answering an error of the library or the service."""
    if isinstance(exc, WCSError):
        return exc, None
    if isinstance(exc, NotFoundError):
        return WCSError("NoSuchCoverage", str(exc), status=404), None
    if isinstance(exc, BusyError):
        return WCSError("NoApplicableCode", str(exc), status=429), {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, UnavailableError):
        return WCSError("NoApplicableCode", str(exc), status=503), None
    if isinstance(exc, SourceError):
        _log.error("WCS: a catalogue source cannot be read: %s", exc)
        return WCSError(
            "NoApplicableCode", "a catalogue source cannot be read on the server (see its log)", status=503
        ), None
    if isinstance(exc, NoSpaceError):
        _log.error("WCS: %s", exc)
        return WCSError(
            "NoApplicableCode", "the server has no space left to write the coverage (see its log)", status=507
        ), None
    if isinstance(exc, TooLargeError):
        return WCSError("InvalidParameterValue", str(exc), status=413), None
    if isinstance(exc, RastercoverError):
        return WCSError("InvalidParameterValue", str(exc)), None
    raise exc


# ---------------------------------------------------------------------- request parameters
class _Params:
    """Key-value parameters with case-insensitive keys (repeated keys kept in order)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items: dict[str, list[str]] = {}
        for k, v in items:
            self._items.setdefault(k.lower(), []).append(v)

    def get(self, key: str, default: str | None = None) -> str | None:
        values = self._items.get(key.lower())
        return values[0] if values else default

    def all(self, key: str) -> list[str]:
        return self._items.get(key.lower(), [])

    def require(self, key: str) -> str:
        value = self.get(key)
        if value is None or not value.strip():
            raise WCSError("MissingParameterValue", f"the request needs the {key.upper()} parameter", locator=key)
        return value.strip()


def _parse_crs(text: str, locator: str) -> Any:
    t = text.strip()
    m = re.fullmatch(
        r"(?:https?://www\.opengis\.net/def/crs/EPSG/0/|urn:ogc:def:crs:EPSG:[^:]*:|EPSG:)(\d+)", t, re.IGNORECASE
    )
    if m:
        t = f"EPSG:{m.group(1)}"
    elif re.fullmatch(r"(?:https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84|urn:ogc:def:crs:OGC:1\.3:CRS84)", t):
        t = "OGC:CRS84"
    try:
        crs = as_crs(t)
    except (CRSError, InputError, ValueError) as exc:
        raise WCSError("InvalidParameterValue", f"{locator}: unknown CRS {text!r} ({exc})", locator=locator) from None
    if crs is None:
        raise WCSError("InvalidParameterValue", f"{locator}: unknown CRS {text!r}", locator=locator)
    return crs


def _float(text: str, locator: str, code: str = "InvalidParameterValue") -> float:
    try:
        v = float(text)
    except ValueError:
        raise WCSError(code, f"{locator}: {text!r} is not a number", locator=locator) from None
    if not math.isfinite(v):
        raise WCSError(code, f"{locator}: {text!r} is not a finite number", locator=locator)
    return v


def _positive_int(text: str, locator: str) -> int:
    try:
        n = int(text.strip())
    except ValueError:
        raise WCSError("InvalidParameterValue", f"{locator}: {text!r} is not a whole number", locator=locator) from None
    if n < 1:
        raise WCSError("InvalidParameterValue", f"{locator}: the size must be at least 1, not {n}", locator=locator)
    return n


# ---------------------------------------------------------------------- coverage metadata
@dataclass(frozen=True)
class _CrsInfo:
    """How a CRS is advertised: its URI, its axis labels/units in its own order, and whether it is north first."""

    uri: str
    code: str | None
    labels: tuple[str, str]
    uoms: tuple[str, str]
    north_first: bool


def _crs_info(crs: Any) -> _CrsInfo:
    if crs is None:
        return _CrsInfo("http://www.opengis.net/def/crs/OGC/0/Index2D", None, ("i", "j"), ("", ""), False)
    auth = crs.to_authority() or crs.to_authority(min_confidence=70)
    if auth and auth[0].upper() == "EPSG":
        uri, code = _EPSG_URL + auth[1], f"EPSG:{auth[1]}"
    elif auth:
        uri, code = f"http://www.opengis.net/def/crs/{auth[0]}/0/{auth[1]}", f"{auth[0]}:{auth[1]}"
    else:
        uri, code = "", None
    if auth and auth[0].upper() == "EPSG":  # the registry's axes (a GeoTIFF's CRS may carry lower-case ones)
        from pyproj import CRS

        try:
            axes = CRS.from_epsg(int(auth[1])).axis_info[:2]
        except Exception:  # pyproj's CRSError for a code it does not know after all
            axes = crs.axis_info[:2]
    else:
        axes = crs.axis_info[:2]
    north_first = bool(axes) and axes[0].direction.lower() in ("north", "south")
    labels = []
    for i, a in enumerate(axes):
        label = re.sub(r"[^A-Za-z0-9_]", "", a.abbrev or "") or ("x", "y")[i]
        labels.append(label)
    while len(labels) < 2:
        labels.append(("x", "y")[len(labels)])
    units = [{"metre": "m", "degree": "deg"}.get(a.unit_name, a.unit_name) for a in axes] + ["", ""]
    return _CrsInfo(uri, code, (labels[0], labels[1]), (units[0], units[1]), north_first)


def _ordered(info: _CrsInfo, x: float, y: float) -> tuple[float, float]:
    return (y, x) if info.north_first else (x, y)


def _wgs84_bounds(grid: Any) -> tuple[float, float, float, float] | None:
    if grid.crs is None:
        return None
    from pyproj import Transformer

    try:
        out = Transformer.from_crs(grid.crs, "OGC:CRS84", always_xy=True).transform_bounds(*grid.bounds, densify_pts=21)
    except Exception:  # pyproj errors: no WGS84 box rather than a failed capabilities document
        return None
    return out if all(math.isfinite(v) for v in out) else None


def _wcs_formats() -> list[Format]:
    """Formats a GetCoverage answers with (single files only: no zip-delivered format)."""
    return [f for f in available_formats() if not f.zip_default]


def _simple_media_type(fmt: Format) -> str:
    return fmt.media_type.split(";")[0].strip()


def _advertised_formats() -> list[str]:
    out: list[str] = []
    for f in _wcs_formats():
        mt = _simple_media_type(f)
        if mt not in out:
            out.append(mt)
    return out


def _format_of(text: str | None) -> Format:
    if text is None or not text.strip():
        return get_format("gtiff")
    t = text.strip()
    norm = re.sub(r"\s+", "", t).lower()
    for f in _wcs_formats():  # the full media type first (cog's profile), then the simple one
        if re.sub(r"\s+", "", f.media_type).lower() == norm:
            return f
    for f in _wcs_formats():
        if _simple_media_type(f).lower() == norm.split(";")[0]:
            return f
    key = _FORMAT_ALIASES.get(norm, norm)
    if key in {f.key for f in _wcs_formats()}:
        return get_format(key)
    raise WCSError(
        "InvalidParameterValue",
        f"FORMAT {text!r} is not offered: use one of {', '.join(_advertised_formats())}",
        locator="format",
    )


# ---------------------------------------------------------------------- GetCoverage: export plans
def _predict_grid(cov: Any, bbox: Any, bbox_crs: Any, crs: Any, resolution: Any) -> Any:
    """The output grid the export of this request writes: its plan's (nothing read); None outside the coverage."""
    from ..exporting import plan_export

    try:
        return plan_export(cov, None, bbox=bbox, bbox_crs=bbox_crs, crs=crs, resolution=resolution).out_grid
    except InputError:
        if bbox is not None and cov.grid.pixel_window(bbox_in_crs(bbox, bbox_crs, cov.grid.crs)) is None:
            return None
        raise


def _check_window(cov: Any, bbox: Any, bbox_crs: Any, code: str, locator: str) -> None:
    grid = cov.grid
    try:
        bounds = bbox_in_crs(bbox, bbox_crs, grid.crs)
    except CRSError as exc:
        raise WCSError(code, str(exc), locator=locator) from None
    except InputError as exc:
        raise WCSError(code, str(exc), locator=locator) from None
    if grid.pixel_window(bounds) is None:
        b = ", ".join(_num(v) for v in grid.bounds)
        raise WCSError(code, f"the requested area does not meet the coverage, whose bounds are ({b})", locator=locator)


@dataclass
class _CoverageRequest:
    """What a GetCoverage asks for, in the export's terms.

    ``exact`` (WCS 1.0.0): ``bbox`` is the output's extent, edge to edge, when given in the output CRS; otherwise
    (WCS 2.0.1 trimming) the output covers the whole pixels of the coverage meeting ``bbox``.
    """

    coverage_id: str
    fmt: Format
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: Any = None
    crs: Any = None
    size: tuple[int, int] | None = None
    resolution: tuple[float, float] | None = None
    bands: list[int] | None = None
    subset_code: str = "InvalidSubsetting"
    subset_locator: str = "subset"
    exact: bool = False


def _same_crs(a: Any, b: Any, native: Any) -> bool:
    """Whether two CRSs of a request are one (None: the coverage's ``native`` CRS)."""
    a, b = (native if a is None else a), (native if b is None else b)
    if a is None or b is None:
        return a is None and b is None
    return same_crs(a, b)


def _same_resolution(res: tuple[float, float], native: tuple[float, float]) -> bool:
    """Whether a requested resolution is the coverage's own, up to float noise (a printed float, a computed one)."""
    return all(math.isclose(r, n, rel_tol=1e-9, abs_tol=0.0) for r, n in zip(res, native, strict=True))


def _pixel_count(extent: float, res: float, locator: str) -> int:
    """Pixels of size ``res`` covering ``extent``: within ALIGN_TOL of a whole number is that number, else more."""
    n = extent / res
    if not math.isfinite(n) or n > MAX_SIDE:
        raise TooLargeError(f"{locator.upper()}: the output would be {n:.3g} pixels a side: give a coarser resolution")
    k = round(n)
    return max(1, k if abs(n - k) <= ALIGN_TOL else math.ceil(n))


def _target_grid(cov: Any, req: _CoverageRequest, out_crs: Any, max_pixels: int) -> Grid | None:
    """The exact output grid a request with a size or a resolution asks for; None when it asks for none (the
    export's own grid: the coverage's pixels, or GDAL's suggested warp) or for the coverage's own resolution."""
    grid = cov.grid
    if req.size is None and req.resolution is None:
        return None
    if req.size is None and out_crs is None and _same_resolution(req.resolution, grid.res):
        return None  # RESX/RESY at the coverage's own resolution: its own pixels, as an export of the box
    if req.exact and req.bbox is not None and _same_crs(req.bbox_crs, out_crs, grid.crs):
        x0, y0, x1, y1 = req.bbox  # WCS 1.0.0: the box is the output's extent
    else:
        natural = _predict_grid(cov, req.bbox, req.bbox_crs, out_crs, None)
        if natural is None:
            raise WCSError(req.subset_code, "the requested area does not meet the coverage", req.subset_locator)
        x0, y0, x1, y1 = natural.bounds
    if req.size is not None:
        width, height = req.size
        rx, ry = (x1 - x0) / width, (y1 - y0) / height
    else:
        rx, ry = req.resolution
        width, height = _pixel_count(x1 - x0, rx, "resx"), _pixel_count(y1 - y0, ry, "resy")
    bands = len(req.bands) if req.bands else cov.count
    pixels = width * height * bands
    if pixels > max_pixels:
        raise TooLargeError(
            f"the coverage asked for would be {width}x{height} px x {bands} band(s) = {count_text(pixels)} pixels, "
            f"over the limit of {count_text(max_pixels)}: ask for a smaller area or size, a coarser resolution or "
            "fewer bands"
        )
    if width > MAX_SIDE or height > MAX_SIDE:
        raise TooLargeError(f"the output would be {width}x{height} pixels: give a smaller size")
    return Grid(width, height, Affine(rx, 0.0, x0, 0.0, -ry, y1), out_crs if out_crs is not None else grid.crs)


def _plan(cov: Any, req: _CoverageRequest, path: str, settings: Settings) -> Any:
    """The export plan answering ``req`` into ``path``: a read of the coverage's pixels, or a warp onto the grid
    the request asks for (see the module's notes); the export's plan decides which (``grid=``)."""
    from ..exporting import plan_export

    grid = cov.grid
    out_crs = req.crs
    if out_crs is not None and grid.crs is not None and same_crs(out_crs, grid.crs):
        out_crs = None
    options: dict[str, Any] = {"format": req.fmt, "bands": req.bands, "max_pixels": settings.max_pixels}
    target = _target_grid(cov, req, out_crs, settings.max_pixels)
    if target is None:
        return plan_export(cov, path, overwrite=True, bbox=req.bbox, bbox_crs=req.bbox_crs, crs=out_crs, **options)
    return plan_export(cov, path, overwrite=True, grid=target, **options)


def _write(cov: Any, req: _CoverageRequest, path: str, settings: Settings) -> None:
    """Run the export plan answering ``req`` into ``path``; the library's refusals become OGC exceptions."""
    from ..exporting import run_export

    try:
        run_export(_plan(cov, req, path, settings), class_names=False)  # a GetCoverage answer is one file
    except SourceError:  # the coverage itself cannot be read: not the request's fault
        raise
    except ArithmeticError as exc:  # a check missing in the library: still the request's numbers
        _log.error("a GetCoverage overflowed on %r", req, exc_info=exc)
        raise WCSError(
            "InvalidParameterValue",
            f"the requested size, resolution or area is out of range for this coverage ({type(exc).__name__})",
        ) from None
    except TooLargeError as exc:
        locator = ("width" if req.size else "resx" if req.resolution else "bbox") if req.exact else "scalesize"
        raise WCSError("InvalidParameterValue", str(exc), locator=locator, status=413) from None
    except CRSError as exc:
        raise WCSError(
            "InvalidParameterValue", str(exc), locator="response_crs" if req.exact else "outputcrs"
        ) from None
    except InputError as exc:
        raise WCSError("InvalidParameterValue", str(exc)) from None


def _run_export(catalog: Catalog, settings: Settings, req: _CoverageRequest, temp_dir: str | None = None) -> Any:
    """Write the answer to a GetCoverage into a temporary file: an :class:`~rastercover.exporting.ExportedFile`."""
    from ..exporting import ExportedFile
    from ..io.atomic import discard

    try:
        entry = catalog.coverage(req.coverage_id)
    except NotFoundError as exc:
        raise WCSError("NoSuchCoverage", str(exc), locator="coverageid", status=404) from None
    cov = entry.open()
    if req.bbox is not None:
        _check_window(cov, req.bbox, req.bbox_crs, req.subset_code, req.subset_locator)
    fmt = req.fmt
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", entry.id).strip("._") or "coverage"
    suffix = ("_bbox" if req.bbox is not None else "") + ("_b" + "-".join(map(str, req.bands)) if req.bands else "")
    filename = f"{base}{suffix}{fmt.extension}"
    fd, path = tempfile.mkstemp(prefix="rastercover-", suffix=fmt.extension, dir=temp_dir)
    os.close(fd)
    try:
        _write(cov, req, path, settings)
    except BaseException:  # nothing half-written is left behind
        discard(path)
        raise
    return ExportedFile(path, filename, fmt.media_type_of(filename))


def _file_response(exported: Any) -> TempFileResponse:
    return TempFileResponse(
        exported.path, media_type=exported.media_type, filename=exported.filename, cleanup=exported.cleanup
    )


# ---------------------------------------------------------------------- WCS 2.0.1
def _parse_subset(text: str) -> tuple[str, str, str | None]:
    m = re.fullmatch(r"\s*([A-Za-z_][\w.:-]*)\s*(?:,\s*(\S+?)\s*)?\(\s*([^,()]*?)\s*(?:,\s*([^,()]*?)\s*)?\)\s*", text)
    if not m:
        raise WCSError(
            "InvalidSubsetting", f"SUBSET {text!r} is not AXIS(LOW,HIGH) (e.g. SUBSET=X(10,200))", locator="subset"
        )
    axis, _crs, lo, hi = m.groups()
    if hi is None:
        raise WCSError(
            "InvalidSubsetting",
            f"SUBSET {text!r} is a slice: this 2-D coverage can only be trimmed, give AXIS(LOW,HIGH)",
            locator="subset",
        )
    return axis, lo, hi


def _getcoverage_201(catalog: Catalog, p: _Params) -> _CoverageRequest:
    cid = p.get("coverageid") or p.get("coverage") or p.get("identifier")
    if cid is None or not cid.strip():
        raise WCSError("MissingParameterValue", "GetCoverage needs COVERAGEID", locator="coverageid")
    cid = cid.strip()
    if "," in cid:
        raise WCSError("InvalidParameterValue", "GetCoverage takes one COVERAGEID", locator="coverageid")
    try:
        entry = catalog.coverage(cid)
    except NotFoundError as exc:
        raise WCSError("NoSuchCoverage", str(exc), locator="coverageid", status=404) from None
    mediatype = p.get("mediatype")
    if mediatype and "multipart" in mediatype.lower():
        raise WCSError(
            "InvalidParameterValue", "multipart responses are not offered: leave MEDIATYPE out", locator="mediatype"
        )
    fmt = _format_of(p.get("format"))
    for key in ("scalefactor", "scaleaxes", "scaleextent"):
        if p.get(key):
            raise WCSError("OperationNotSupported", f"{key.upper()} is not supported by this server", locator=key)
    interpolation = p.get("interpolation")
    if interpolation and interpolation.strip() not in (_NEAREST_201, "nearest-neighbour", "nearest"):
        raise WCSError(
            "InterpolationMethodNotSupported",
            f"INTERPOLATION {interpolation!r} is not offered: use {_NEAREST_201} (the only one served)",
            locator="interpolation",
        )
    cov = entry.open()
    native = cov.grid.crs
    subsetting = _parse_crs(p.get("subsettingcrs"), "subsettingcrs") if p.get("subsettingcrs") else None
    output = _parse_crs(p.get("outputcrs"), "outputcrs") if p.get("outputcrs") else None
    scrs = subsetting or native
    info = _crs_info(scrs)
    own_east = info.labels[1 if info.north_first else 0].lower()
    own_north = info.labels[0 if info.north_first else 1].lower()
    gx0, gy0, gx1, gy1 = cov.grid.bounds
    if subsetting is not None and not same_crs(subsetting, native):
        box = _predict_bounds(cov.grid, subsetting)
        gx0, gy0, gx1, gy1 = box if box is not None else (-math.inf, -math.inf, math.inf, math.inf)
    east: tuple[float, float] | None = None
    north: tuple[float, float] | None = None
    for s in p.all("subset"):
        axis, lo, hi = _parse_subset(s)
        a = axis.lower()
        if a in (own_east,) or (a in _EAST_LABELS and a != own_north):
            which, limits = "east", (gx0, gx1)
        elif a in (own_north,) or a in _NORTH_LABELS:
            which, limits = "north", (gy0, gy1)
        else:
            raise WCSError(
                "InvalidAxisLabel",
                f"SUBSET axis {axis!r} is not an axis of the coverage: use {info.labels[0]} and {info.labels[1]}",
                locator="subset",
            )
        v0 = limits[0] if lo in ("*", "") else _float(lo, "subset", "InvalidSubsetting")
        v1 = limits[1] if hi in ("*", "") else _float(hi, "subset", "InvalidSubsetting")
        if not (v0 < v1):
            raise WCSError("InvalidSubsetting", f"SUBSET {s!r}: the low bound must be below the high bound", "subset")
        if (which == "east" and east is not None) or (which == "north" and north is not None):
            raise WCSError("InvalidSubsetting", f"SUBSET on axis {axis!r} is given twice", locator="subset")
        if which == "east":
            east = (v0, v1)
        else:
            north = (v0, v1)
    req = _CoverageRequest(entry.id, fmt, crs=output)
    if p.get("rangesubset"):
        req.bands = _bands(p.get("rangesubset"), cov, "rangesubset")
    if east is not None or north is not None:
        ex = east or (gx0, gx1)
        ny = north or (gy0, gy1)
        req.bbox = (ex[0], ny[0], ex[1], ny[1])
        req.bbox_crs = subsetting
    scalesize = p.get("scalesize")
    if scalesize:
        out_info = _crs_info(output or native)
        sizes: dict[str, int] = {}
        for part in re.findall(r"[^,()]+\([^()]*\)", scalesize):
            m = re.fullmatch(r"\s*([\w.:-]+)\s*\(\s*([^()]*)\)\s*", part)
            if not m:
                raise WCSError("InvalidParameterValue", f"SCALESIZE {scalesize!r} is not AXIS(N),AXIS(N)", "scalesize")
            a = m.group(1).lower()
            if a in (out_info.labels[1 if out_info.north_first else 0].lower(), own_east) or a in _EAST_LABELS:
                sizes["x"] = _positive_int(m.group(2), "scalesize")
            elif a in (out_info.labels[0 if out_info.north_first else 1].lower(), own_north) or a in _NORTH_LABELS:
                sizes["y"] = _positive_int(m.group(2), "scalesize")
            else:
                raise WCSError("InvalidParameterValue", f"SCALESIZE axis {m.group(1)!r} is unknown", "scalesize")
        if not sizes:
            raise WCSError("InvalidParameterValue", f"SCALESIZE {scalesize!r} is not AXIS(N),AXIS(N)", "scalesize")
        if len(sizes) == 1:  # one axis given: the other keeps the piece's aspect
            grid = _predict_grid(cov, req.bbox, req.bbox_crs, output, None)
            if grid is None:
                raise WCSError("InvalidSubsetting", "the subset does not meet the coverage", locator="subset")
            if "x" in sizes:
                sizes["y"] = max(1, round(grid.height * sizes["x"] / grid.width))
            else:
                sizes["x"] = max(1, round(grid.width * sizes["y"] / grid.height))
        req.size = (sizes["x"], sizes["y"])
    return req


def _band_names(cov: Any) -> list[str]:
    names = list(cov.band_names) + [""] * cov.count
    return [names[i] or f"band_{i + 1}" for i in range(cov.count)]


def _bands(text: str, cov: Any, locator: str) -> list[int]:
    """Band numbers from a list of band names or 1-based numbers (``RANGESUBSET``, 1.0.0's ``BAND``)."""
    names = _band_names(cov)
    out: list[int] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item in names:
            out.append(names.index(item) + 1)
        elif item.isdigit() and 1 <= int(item) <= cov.count:
            out.append(int(item))
        else:
            raise WCSError(
                "NoSuchField" if locator == "rangesubset" else "InvalidParameterValue",
                f"{locator.upper()}: no band {item!r}; the bands are {', '.join(names)}",
                locator=locator,
            )
    if not out:
        raise WCSError("InvalidParameterValue", f"{locator.upper()} names no band", locator=locator)
    return out


def _predict_bounds(grid: Any, crs: Any) -> tuple[float, float, float, float] | None:
    from pyproj import Transformer

    try:
        out = Transformer.from_crs(grid.crs, crs, always_xy=True).transform_bounds(*grid.bounds, densify_pts=21)
    except Exception:  # pyproj errors: open-ended subsets then need both bounds
        return None
    return out if all(math.isfinite(v) for v in out) else None


def _service_identification_201(root: ET.Element) -> None:
    si = _el(root, "ows:ServiceIdentification")
    _el(si, "ows:Title", "rastercover raster coverages")
    _el(si, "ows:Abstract", "Raster coverages served by rastercover")
    _el(si, "ows:ServiceType", "OGC WCS", codeSpace="OGC")
    _el(si, "ows:ServiceTypeVersion", "2.0.1")
    _el(si, "ows:ServiceTypeVersion", "1.0.0")
    for profile in (
        "http://www.opengis.net/spec/WCS/2.0/conf/core",
        "http://www.opengis.net/spec/WCS_protocol-binding_get-kvp/1.0/conf/get-kvp",
        "http://www.opengis.net/spec/WCS_service-extension_crs/1.0/conf/crs",
        "http://www.opengis.net/spec/WCS_service-extension_scaling/1.0/conf/scaling",
        "http://www.opengis.net/spec/WCS_service-extension_interpolation/1.0/conf/interpolation",
        "http://www.opengis.net/spec/GMLCOV/1.0/conf/gml-coverage",
    ):
        _el(si, "ows:Profile", profile)
    _el(si, "ows:Fees", "NONE")
    _el(si, "ows:AccessConstraints", "NONE")


def _capabilities_201(catalog: Catalog, href: str) -> ET.Element:
    root = _root(
        "wcs:Capabilities",
        _NS20,
        version="2.0.1",
        updateSequence="0",
    )
    _service_identification_201(root)
    sp = _el(root, "ows:ServiceProvider")
    _el(sp, "ows:ProviderName", "rastercover")
    _el(sp, "ows:ServiceContact")
    om = _el(root, "ows:OperationsMetadata")
    for op in ("GetCapabilities", "DescribeCoverage", "GetCoverage"):
        o = _el(om, "ows:Operation", name=op)
        http = _el(_el(o, "ows:DCP"), "ows:HTTP")
        _el(http, "ows:Get", xlink__href=href + "?")
    sm = _el(root, "wcs:ServiceMetadata")
    for mt in _advertised_formats():
        _el(sm, "wcs:formatSupported", mt)
    ext = _el(sm, "wcs:Extension")
    crs_meta = _el(ext, "crs:CrsMetadata")
    _el(_el(ext, "int:InterpolationMetadata"), "int:InterpolationSupported", _NEAREST_201)
    codes: list[str] = []
    contents = _el(root, "wcs:Contents")
    for cid, entry in catalog.coverages.items():
        try:
            grid = entry.open().grid
        except UnavailableError:  # a source that cannot be read is left out (a client could not use it)
            continue
        except Exception:  # anything else: listed without a box rather than failing the document
            grid = None
        summary = _el(contents, "wcs:CoverageSummary")  # the schema's order: description, id, subtype, boxes
        _el(summary, "ows:Title", entry.title)
        _el(summary, "wcs:CoverageId", cid)
        _el(summary, "wcs:CoverageSubtype", "RectifiedGridCoverage")
        if grid is not None:
            box = _wgs84_bounds(grid)
            if box is not None:
                wb = _el(summary, "ows:WGS84BoundingBox")
                _el(wb, "ows:LowerCorner", _nums(box[:2]))
                _el(wb, "ows:UpperCorner", _nums(box[2:]))
            info = _crs_info(grid.crs)
            if info.uri:
                x0, y0, x1, y1 = grid.bounds
                bb = _el(summary, "ows:BoundingBox", crs=info.uri, dimensions="2")
                _el(bb, "ows:LowerCorner", _nums(_ordered(info, x0, y0)))
                _el(bb, "ows:UpperCorner", _nums(_ordered(info, x1, y1)))
                if info.uri not in codes:
                    codes.append(info.uri)
    for uri in [*codes, _EPSG_URL + "4326", _EPSG_URL + "3857"]:
        if uri not in [e.text for e in crs_meta]:
            _el(crs_meta, "crs:crsSupported", uri)
    return root


def _describe_201(catalog: Catalog, ids: list[str]) -> ET.Element:
    root = _root("wcs:CoverageDescriptions", _NS20)
    for cid in ids:
        try:
            entry = catalog.coverage(cid)
        except NotFoundError as exc:
            raise WCSError("NoSuchCoverage", str(exc), locator="coverageid", status=404) from None
        cov = entry.open()
        grid = cov.grid
        info = _crs_info(grid.crs)
        desc = _el(root, "wcs:CoverageDescription", gml__id=_gml_id(cid))
        x0, y0, x1, y1 = grid.bounds
        env = _el(
            _el(desc, "gml:boundedBy"),
            "gml:Envelope",
            srsName=info.uri,
            axisLabels=" ".join(info.labels),
            uomLabels=" ".join(info.uoms),
            srsDimension="2",
        )
        _el(env, "gml:lowerCorner", _nums(_ordered(info, x0, y0)))
        _el(env, "gml:upperCorner", _nums(_ordered(info, x1, y1)))
        _el(desc, "wcs:CoverageId", cid)
        rg = _el(_el(desc, "gml:domainSet"), "gml:RectifiedGrid", gml__id=_gml_id("grid-" + cid), dimension="2")
        ge = _el(_el(rg, "gml:limits"), "gml:GridEnvelope")
        _el(ge, "gml:low", "0 0")
        _el(ge, "gml:high", f"{grid.width - 1} {grid.height - 1}")
        _el(rg, "gml:axisLabels", " ".join(_grid_axis_labels(info)))
        t = grid.transform
        cx, cy = t.c + (t.a + t.b) / 2, t.f + (t.d + t.e) / 2  # GML: the origin is the centre of the first pixel
        pt = _el(_el(rg, "gml:origin"), "gml:Point", gml__id=_gml_id("origin-" + cid), srsName=info.uri)
        _el(pt, "gml:pos", _nums(_ordered(info, cx, cy)))
        for dx, dy in ((t.a, t.d), (t.b, t.e)):
            _el(rg, "gml:offsetVector", _nums(_ordered(info, dx, dy)), srsName=info.uri)
        record = _el(_el(desc, "gmlcov:rangeType"), "swe:DataRecord")
        for i, name in enumerate(_band_names(cov)):
            field_ = _el(record, "swe:field", name=name)
            q = _el(
                field_, "swe:Quantity", definition=f"http://www.opengis.net/def/dataType/OGC/0/{np.dtype(cov.dtype)}"
            )
            _el(q, "swe:description", f"band {i + 1} ({np.dtype(cov.dtype)})")
            if cov.nodata is not None:
                nil = _el(_el(q, "swe:nilValues"), "swe:NilValues")
                _el(nil, "swe:nilValue", _num(cov.nodata), reason="http://www.opengis.net/def/nil/OGC/0/missing")
            _el(q, "swe:uom", code="unity")
        params = _el(desc, "wcs:ServiceParameters")
        _el(params, "wcs:CoverageSubtype", "RectifiedGridCoverage")
        _el(params, "wcs:nativeFormat", "image/tiff")
    return root


def _grid_axis_labels(info: _CrsInfo) -> tuple[str, str]:
    """The grid's axis labels: the CRS's, in the order of the offset vectors (columns, then rows)."""
    if info.north_first:
        return info.labels[1], info.labels[0]
    return info.labels


def _gml_id(text: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    return out if re.match(r"[A-Za-z_]", out) else "c_" + out


# ---------------------------------------------------------------------- WCS 1.0.0
def _capabilities_100(catalog: Catalog, href: str) -> ET.Element:
    root = _root(
        "WCS_Capabilities", {"gml": _NS10["gml"], "xlink": _NS10["xlink"]}, version="1.0.0", xmlns=_NS10["wcs"]
    )
    svc = _el(root, "Service")
    _el(svc, "name", "WCS")
    _el(svc, "label", "rastercover raster coverages")
    _el(svc, "fees", "NONE")
    _el(svc, "accessConstraints", "NONE")
    cap = _el(root, "Capability")
    req = _el(cap, "Request")
    for op in ("GetCapabilities", "DescribeCoverage", "GetCoverage"):
        http = _el(_el(_el(req, op), "DCPType"), "HTTP")
        _el(_el(http, "Get"), "OnlineResource", xlink__type="simple", xlink__href=href + "?")
    exc = _el(cap, "Exception")
    _el(exc, "Format", "application/vnd.ogc.se_xml")
    meta = _el(root, "ContentMetadata")
    for cid, entry in catalog.coverages.items():
        try:
            grid = entry.open().grid
        except UnavailableError:  # a source that cannot be read is left out (a client could not use it)
            continue
        except Exception:  # anything else: listed without a box rather than failing the document
            grid = None
        brief = _el(meta, "CoverageOfferingBrief")
        _el(brief, "name", cid)
        _el(brief, "label", entry.title)
        if grid is not None:
            _lonlat_envelope(brief, grid)
    return root


def _lonlat_envelope(parent: ET.Element, grid: Any) -> None:
    box = _wgs84_bounds(grid)
    if box is not None:
        env = _el(parent, "lonLatEnvelope", srsName="urn:ogc:def:crs:OGC:1.3:CRS84")
        _el(env, "gml:pos", _nums(box[:2]))
        _el(env, "gml:pos", _nums(box[2:]))


def _crs_codes_100(grid: Any) -> list[str]:
    """CRSs a 1.0.0 GetCoverage takes, as ``AUTHORITY:CODE`` (the coverage's own first; any other is warped to)."""
    codes = [c for c in (_crs_info(grid.crs).code, "EPSG:4326", "EPSG:3857") if c]
    return list(dict.fromkeys(codes))


def _describe_100(catalog: Catalog, ids: list[str]) -> ET.Element:
    """WCS 1.0.0 ``CoverageDescription``: what OWSLib and QGIS read (``lonLatEnvelope``, the native envelope and
    grid, ``supportedCRSs`` with ``nativeCRSs``, formats, interpolations, the range set with its null value)."""
    root = _root(
        "CoverageDescription", {"gml": _NS10["gml"], "xlink": _NS10["xlink"]}, version="1.0.0", xmlns=_NS10["wcs"]
    )
    for cid in ids:
        try:
            entry = catalog.coverage(cid)
        except NotFoundError as exc:
            raise WCSError("NoSuchCoverage", str(exc), locator="coverage", status=404) from None
        cov = entry.open()
        grid = cov.grid
        info = _crs_info(grid.crs)
        off = _el(root, "CoverageOffering")
        _el(off, "name", cid)
        _el(off, "label", entry.title)
        _lonlat_envelope(off, grid)
        spatial = _el(_el(off, "domainSet"), "spatialDomain")
        x0, y0, x1, y1 = grid.bounds
        env = _el(spatial, "gml:Envelope", srsName=info.code or "")  # QGIS: the native box is the one named so
        _el(env, "gml:pos", _nums((x0, y0)))
        _el(env, "gml:pos", _nums((x1, y1)))
        box = _wgs84_bounds(grid)
        if box is not None and info.code != "EPSG:4326":  # the box in EPSG:4326 too (x = longitude first in 1.0.0)
            env = _el(spatial, "gml:Envelope", srsName="EPSG:4326")
            _el(env, "gml:pos", _nums(box[:2]))
            _el(env, "gml:pos", _nums(box[2:]))
        rg = _el(spatial, "gml:RectifiedGrid", dimension="2", srsName=info.code or "")
        ge = _el(_el(rg, "gml:limits"), "gml:GridEnvelope")
        _el(ge, "gml:low", "0 0")
        _el(ge, "gml:high", f"{grid.width - 1} {grid.height - 1}")
        _el(rg, "gml:axisName", "x")
        _el(rg, "gml:axisName", "y")
        t = grid.transform
        _el(_el(rg, "gml:origin"), "gml:pos", _nums((t.c + (t.a + t.b) / 2, t.f + (t.d + t.e) / 2)))
        _el(rg, "gml:offsetVector", _nums((t.a, t.d)))
        _el(rg, "gml:offsetVector", _nums((t.b, t.e)))
        rs = _el(_el(off, "rangeSet"), "RangeSet")
        _el(rs, "name", "bands")
        _el(rs, "label", f"{cov.count} band(s) of {np.dtype(cov.dtype)}: {', '.join(_band_names(cov))}")
        ad = _el(_el(rs, "axisDescription"), "AxisDescription")
        _el(ad, "name", "Band")
        _el(ad, "label", "Band")
        vals = _el(ad, "values")
        for i in range(1, cov.count + 1):
            _el(vals, "singleValue", i)
        if cov.nodata is not None:
            _el(_el(rs, "nullValues"), "singleValue", _num(cov.nodata))
        crss = _el(off, "supportedCRSs")
        for c in _crs_codes_100(grid):  # one per element: QGIS reads each element's text as one CRS
            _el(crss, "requestResponseCRSs", c)
        if info.code:
            _el(crss, "nativeCRSs", info.code)
        fmts = _el(off, "supportedFormats", nativeFormat="GeoTIFF")
        _el(fmts, "formats", "GeoTIFF")
        for mt in _advertised_formats():
            _el(fmts, "formats", mt)
        interp = _el(off, "supportedInterpolations", default=_NEAREST_100)
        _el(interp, "interpolationMethod", _NEAREST_100)
    return root


def _getcoverage_100(catalog: Catalog, p: _Params) -> _CoverageRequest:
    cid = p.require("coverage")
    try:
        entry = catalog.coverage(cid)
    except NotFoundError as exc:
        raise WCSError("NoSuchCoverage", str(exc), locator="coverage", status=404) from None
    fmt = _format_of(p.get("format"))
    crs_text = p.get("crs")
    crs = _parse_crs(crs_text, "crs") if crs_text else None
    resp = p.get("response_crs")
    out = _parse_crs(resp, "response_crs") if resp else crs
    interpolation = p.get("interpolation")
    if interpolation and interpolation.strip().lower().replace("_", " ") not in (_NEAREST_100, "nearest"):
        raise WCSError(
            "InvalidParameterValue",
            f"INTERPOLATION {interpolation!r} is not offered: use {_NEAREST_100!r} (the only one served)",
            locator="interpolation",
        )
    req = _CoverageRequest(
        entry.id, fmt, crs=out, subset_code="InvalidParameterValue", subset_locator="bbox", exact=True
    )
    if p.get("band"):
        req.bands = _bands(p.get("band"), entry.open(), "band")
    bbox = p.get("bbox")
    if bbox:
        parts = [v for v in bbox.split(",") if v.strip() != ""]
        if len(parts) not in (4, 6):
            raise WCSError("InvalidParameterValue", f"BBOX {bbox!r} is not MINX,MINY,MAXX,MAXY", locator="bbox")
        v = [_float(x, "bbox") for x in parts]
        x0, y0, x1, y1 = (v[0], v[1], v[2], v[3]) if len(v) == 4 else (v[0], v[1], v[3], v[4])
        if not (x0 < x1 and y0 < y1):
            raise WCSError("InvalidParameterValue", f"BBOX {bbox!r} is empty", locator="bbox")
        req.bbox, req.bbox_crs = (x0, y0, x1, y1), crs
    width, height = p.get("width"), p.get("height")
    resx, resy = p.get("resx"), p.get("resy")
    if width or height:
        if not (width and height):
            raise WCSError("MissingParameterValue", "give WIDTH and HEIGHT together", locator="width")
        req.size = (_positive_int(width, "width"), _positive_int(height, "height"))
    elif resx or resy:
        if not (resx and resy):
            raise WCSError("MissingParameterValue", "give RESX and RESY together", locator="resx")
        rx, ry = _float(resx, "resx"), _float(resy, "resy")
        if rx <= 0 or ry <= 0:
            raise WCSError("InvalidParameterValue", "RESX and RESY must be positive", locator="resx")
        req.resolution = (rx, ry)
    return req


# ---------------------------------------------------------------------- the router
def _version_tuple(text: str) -> tuple[int, int, int] | None:
    m = re.fullmatch(r"\s*(\d{1,4})(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?\s*", text)
    return None if m is None else (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


def _served(version: tuple[int, int, int]) -> str | None:
    """The served version of the same major.minor (a corrigendum apart is the same protocol), or None."""
    return next((v for v in VERSIONS if _version_tuple(v)[:2] == version[:2]), None)


def negotiate_version(params: Iterable[tuple[str, str]] | _Params) -> str:
    """The WCS version that answers a request (key-value parameters, keys in any case).

    GetCapabilities negotiates as OWS Common says: ``ACCEPTVERSIONS`` (comma-separated, most wanted first)
    gets the first version served, else ``VersionNegotiationFailed``; without it, the older ``VERSION`` rule:
    a version served is answered in it, an unknown one with the highest served version below it, or the lowest
    served when it is below them all. Other operations must name a served ``VERSION`` (default 2.0.1).
    Versions a corrigendum apart (2.0.0 and 2.0.1, 1.0.x) are the same protocol.

    Examples
    --------
    >>> negotiate_version([("request", "GetCapabilities"), ("version", "1.1.0")])
    '1.0.0'
    >>> negotiate_version([("request", "GetCapabilities"), ("AcceptVersions", "1.1.0,2.0.0,1.0.0")])
    '2.0.1'
    >>> negotiate_version([("request", "GetCoverage"), ("version", "1.1.2")])
    Traceback (most recent call last):
    ...
    rastercover.server.wcs.WCSError: WCS version '1.1.2' is not served: use VERSION=2.0.1 or VERSION=1.0.0
    """
    p = params if isinstance(params, _Params) else _Params(params)
    op = (p.get("request") or "").strip().lower()
    accept = p.get("acceptversions")
    if op == "getcapabilities" and accept is not None and accept.strip():
        for candidate in (a.strip() for a in accept.split(",")):
            parsed = _version_tuple(candidate)
            served = _served(parsed) if parsed else None
            if served:
                return served
        raise WCSError(
            "VersionNegotiationFailed",
            f"none of the versions {accept.strip()!r} is served: this server answers {' and '.join(VERSIONS)}",
        )
    text = p.get("version")
    if text is None or not text.strip():
        return VERSIONS[0]
    parsed = _version_tuple(text)
    if parsed is None:
        raise WCSError(
            "InvalidParameterValue", f"VERSION {text!r} is not a version number such as 2.0.1", locator="version"
        )
    served = _served(parsed)
    if served:
        return served
    if op == "getcapabilities":
        below = [v for v in VERSIONS if _version_tuple(v) < parsed]
        return below[0] if below else VERSIONS[-1]
    raise WCSError(
        "InvalidParameterValue",
        f"WCS version {text.strip()!r} is not served: use {' or '.join('VERSION=' + v for v in VERSIONS)}",
        locator="version",
    )


def _report_version(p: _Params) -> str:
    """The version whose exception format reports an error found before the version is negotiated."""
    for key in ("version", "acceptversions"):
        value = (p.get(key) or "").strip()
        parsed = _version_tuple(value.split(",")[0]) if value else None
        if parsed is not None and _served(parsed) == "1.0.0":
            return "1.0.0"
    return VERSIONS[0]


def wcs_router(catalog: Catalog, settings: Settings) -> APIRouter:
    """A router serving ``GET /wcs`` (WCS 2.0.1 and 1.0.0, key-value requests) over the catalogue's coverages.

    Parameters
    ----------
    catalog
        The coverages offered (their catalogue ids are the WCS coverage ids).
    settings
        Limits: ``max_pixels`` bounds every GetCoverage (HTTP 413 above).

    Examples
    --------
    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> app.include_router(wcs_router(Catalog(), Settings()))
    >>> from fastapi.testclient import TestClient
    >>> r = TestClient(app).get("/wcs?service=WCS&request=GetCoverage&coverageId=dem")
    >>> r.status_code, r.headers["content-type"], b'exceptionCode="NoSuchCoverage"' in r.content
    (404, 'application/xml', True)
    """
    router = APIRouter(tags=["wcs"])

    @router.get(
        "/wcs",
        summary="OGC Web Coverage Service (2.0.1 and 1.0.0, KVP)",
        response_class=Response,
        responses={200: {"content": {_XML: {}, "image/tiff": {}, _SE_XML: {}}}, 400: {"content": {_XML: {}}}},
    )
    async def wcs(request: Request) -> Response:
        p = _Params(request.query_params.multi_items())
        version = _report_version(p)
        redact = getattr(request.app.state, "redact", None)
        try:
            version = negotiate_version(p)
            return await _dispatch(request, p, version)
        except (WCSError, RastercoverError, BusyError) as exc:
            err, headers = _error_of(exc)
            return _error_response(err, version, redact, headers)
        except Exception:  # a bug: logged here (without the API key), an exception report for the client
            _log.exception("WCS request %s failed", redact_query(request.url.query))
            return _error_response(
                WCSError("NoApplicableCode", "the server could not answer this request (see its log)", status=500),
                version,
            )

    async def _dispatch(request: Request, p: _Params, version: str) -> Response:
        service = p.get("service")
        if service is not None and service.strip().upper() != "WCS":
            raise WCSError("InvalidParameterValue", f"SERVICE must be WCS, not {service!r}", locator="service")
        op = p.get("request")
        if op is None or not op.strip():
            raise WCSError("MissingParameterValue", "the request needs the REQUEST parameter", locator="request")
        op = op.strip().lower()
        v1 = version.startswith("1.0")
        href = str(request.url.replace(query=""))
        if op == "getcapabilities":
            root = await run_in_threadpool(_capabilities_100 if v1 else _capabilities_201, catalog, href)
            return _xml_response(root)
        if op == "describecoverage":
            key = "coverage" if v1 else "coverageid"
            text = p.get(key) or p.get("coverageid") or p.get("coverage") or p.get("identifiers")
            if not text or not text.strip():
                raise WCSError("MissingParameterValue", f"DescribeCoverage needs {key.upper()}", locator=key)
            ids = [t.strip() for t in text.split(",") if t.strip()]
            root = await run_in_threadpool(_describe_100 if v1 else _describe_201, catalog, ids)
            return _xml_response(root)
        if op == "getcoverage":

            def work() -> Any:
                req = _getcoverage_100(catalog, p) if v1 else _getcoverage_201(catalog, p)
                return _run_export(catalog, settings, req, getattr(request.app.state, "temp_dir", None))

            slots = getattr(request.app.state, "export_slots", None)  # the application's bound on exports
            with slots.hold("GetCoverage") if slots is not None else contextlib.nullcontext():
                exported = await run_in_threadpool(work)
            return _file_response(exported)
        raise WCSError(
            "OperationNotSupported",
            f"REQUEST {op!r} is not supported: use GetCapabilities, DescribeCoverage or GetCoverage",
            locator="request",
        )

    return router
