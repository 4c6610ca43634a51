"""Raster coverages out as files: a whole coverage, a bbox of it, or a clipped and buffered piece of it.

:func:`export` writes one mosaicked raster (however many tiles the piece spans) in any format of
:mod:`rastercover.formats`; :func:`export_file` does the same into a temporary file for a web application to
send as an attachment. Both read the coverage chunk by chunk (whole storage tiles at a time, only the tiles the
piece needs; chunks that the clip does not touch are not read at all), so memory follows the chunk, not the
output. Nothing is written under the final name until the file is complete.

Semantics (the same for Python, the command line and the HTTP service):

- ``bbox`` selects every pixel whose area meets it, snapped outward to the coverage's own pixel grid (no
  resampling). It is given in ``bbox_crs`` (default: the coverage's CRS) and reprojected when that differs.
- ``clip`` (a shapely geometry, WKT, or GeoJSON text/dict: geometry, Feature or FeatureCollection) is in
  ``clip_crs``, else in the CRS named by a GeoJSON ``"crs"`` member, else in the coverage's CRS. ``envelope``
  replaces it by its bounding box, then ``buffer`` (coverage units, negative shrinks) is applied. A pixel is
  kept when its centre is inside (``all_touched``: when the geometry touches it at all); the others become
  nodata, and the output is cropped to the clip's bounds on the coverage's pixel grid, exactly like
  ``rasterio.mask.mask(..., crop=True)``.
- A coverage without nodata that must mask pixels gets one: the pixel type's minimum for integers, -9999 for
  floats; the result says so in its ``notes``.

Examples
--------
>>> import os, tempfile, numpy as np, rasterio
>>> from affine import Affine
>>> d = tempfile.mkdtemp()
>>> with rasterio.open(os.path.join(d, "dem.tif"), "w", driver="GTiff", width=4, height=4, count=1,
...                    dtype="float32", nodata=-9999, crs="EPSG:32198",
...                    transform=Affine(10, 0, 0, 0, -10, 40)) as ds:
...     ds.write(np.arange(16, dtype="float32").reshape(1, 4, 4))
>>> r = export(os.path.join(d, "dem.tif"), os.path.join(d, "piece.asc"), clip="POLYGON((0 0,25 0,0 25,0 0))")
>>> print(r)                                                               # doctest: +ELLIPSIS
/.../piece.asc: aaigrid (+ piece.prj), 3x3 px, 1 band(s) [1] (float32, nodata -9999), EPSG:32198
>>> with rasterio.open(r.path) as ds:
...     ds.read(1).tolist()
[[-9999.0, -9999.0, -9999.0], [8.0, -9999.0, -9999.0], [12.0, 13.0, -9999.0]]
"""

from __future__ import annotations

import itertools
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import unquote

import numpy as np
import shapely
from affine import Affine

from .crs import CRS, as_crs, bbox_in_crs, crs_label, same_crs
from .errors import CRSError, GeometryError, InputError, OutputError, SourceError, TooLargeError
from .formats import Format, driver_available, format_for_path, get_format
from .geojson import read_geometry
from .grid import Grid, Window
from .io.atomic import check_target, commit, discard, temporary_sibling
from .io.coverage_file import FileCoverage
from .io.coverage_zarr import ZarrCoverage, is_zarr_path
from .io.gtiff import gtiff_profile
from .io.pg import is_pg_location
from .pixel_values import ByteScale, Cast, ValueStats, check_dtype, fits
from .protocols import RasterCoverage
from .warp import check_resampling, reproject_geometry, warp_chunk, warp_grid

__all__ = ["DEFAULT_FLOAT_NODATA", "ExportResult", "ExportedFile", "export", "export_file", "open_coverage"]

#: Nodata given to a float coverage that declares none when a clip must mask pixels.
DEFAULT_FLOAT_NODATA = -9999.0
_CHUNK_PIXELS = 1 << 24  # pixels per band read at once (whole storage tiles; at least one tile)


# ---------------------------------------------------------------------- opening coverages
def open_coverage(spec: Any) -> RasterCoverage:
    """A raster coverage from a path, a ``postgresql://`` URL, or an object that already is one.

    Parameters
    ----------
    spec
        A raster file, a ``.vrt`` or a tile folder (→ :class:`~rastercover.io.coverage_file.FileCoverage`);
        a ``.zarr`` store (→ :class:`~rastercover.io.coverage_zarr.ZarrCoverage`);
        a ``postgresql://`` / ``postgres://`` string (→ ``PostgisRasterCoverage``, see
        :func:`_open_postgis`); or any object with the :class:`~rastercover.protocols.RasterCoverage`
        protocol, returned as it is.

    Examples
    --------
    >>> import os, tempfile, numpy as np, rasterio
    >>> from affine import Affine
    >>> p = os.path.join(tempfile.mkdtemp(), "dem.tif")
    >>> with rasterio.open(p, "w", driver="GTiff", width=2, height=2, count=1, dtype="uint8",
    ...                    crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 20)) as ds:
    ...     ds.write(np.zeros((1, 2, 2), "uint8"))
    >>> cov = open_coverage(p)
    >>> type(cov).__name__, open_coverage(cov) is cov
    ('FileCoverage', True)
    >>> open_coverage(42)                                           # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rastercover.errors.InputError: cannot read a raster coverage from a int: ...
    """
    if is_pg_location(spec):
        return _open_postgis(spec)
    if is_zarr_path(spec):
        return ZarrCoverage(spec)
    if isinstance(spec, str | os.PathLike):
        return FileCoverage(spec)
    if isinstance(spec, RasterCoverage):
        return spec
    raise InputError(
        f"cannot read a raster coverage from a {type(spec).__name__}: give a path (raster file, .vrt, tile folder), "
        "a postgresql:// URL or a RasterCoverage"
    )


def _open_postgis(spec: str) -> RasterCoverage:
    """PostGIS raster tables: the one place a ``postgresql://`` coverage is dispatched.

    The backend lives in ``rastercover.io.raster_postgis`` and is imported only here, lazily: psycopg is an
    optional extra, and the core never imports it.
    """
    try:
        from .io.raster_postgis import PostgisRasterCoverage
    except ImportError as exc:
        if exc.name and exc.name.startswith("psycopg"):
            raise SourceError("PostGIS raster coverages need psycopg: pip install 'rastercover[postgis]'") from None
        raise SourceError(f"PostGIS raster coverages are not available in this installation ({exc})") from None
    return PostgisRasterCoverage(spec)


def _coverage_name(cov: RasterCoverage) -> str:
    """``<coverage>`` of an output name: ``cov.name``, a location's table, or the stem of ``describe()``."""
    name = getattr(cov, "name", None)
    if not name:
        text = cov.describe()
        table = re.search(r"[?&]table=([^&]+)", text)
        if table:
            name = unquote(table.group(1)).replace('"', "").rsplit(".", 1)[-1]
        else:
            name = os.path.basename(text.rstrip("/\\")) or "coverage"
            name = os.path.splitext(name)[0] or name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "coverage"


# ---------------------------------------------------------------------- results
@dataclass(frozen=True)
class ExportResult:
    """What :func:`export` wrote.

    Attributes
    ----------
    path
        The output (the zip when the format was delivered as one).
    format
        Format key (``gtiff``, ``aaigrid``...).
    width, height
        Size in pixels.
    bands
        The coverage's bands written, 1-based.
    dtype
        Pixel type written.
    nodata
        Nodata value written (None when none).
    crs
        CRS of the output.
    transform
        Affine transform of the output (on the coverage's pixel grid).
    files
        Every file written: ``path`` first, then sidecars beside it (``.prj`` of an ``.asc``).
    members
        Names inside the zip, when ``path`` is one.
    notes
        What changed on the way (nodata chosen, values converted to a smaller type, lossy encoding).
    """

    path: str
    format: str
    width: int
    height: int
    bands: tuple[int, ...]
    dtype: str
    nodata: float | None
    crs: CRS | None = field(repr=False)
    transform: Affine = field(repr=False)
    files: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        how = ""
        if self.members:
            how = f" (zip of {', '.join(self.members)})"
        elif len(self.files) > 1:
            how = f" (+ {', '.join(os.path.basename(f) for f in self.files[1:])})"
        nodata = "no nodata" if self.nodata is None else f"nodata {self.nodata:g}"
        text = (
            f"{self.path}: {self.format}{how}, {self.width}x{self.height} px, {len(self.bands)} band(s) "
            f"{list(self.bands)} ({self.dtype}, {nodata}), {crs_label(self.crs)}"
        )
        return text + "".join(f"; {n}" for n in self.notes)


class ExportedFile(NamedTuple):
    """A file :func:`export_file` wrote for a download: where it is, the name to send it under, its media type.

    The caller owns ``path`` and deletes it: call :meth:`cleanup`, or use the object as a context manager
    (``with export_file(...) as f: ...`` deletes it on exit). It unpacks as ``path, filename, media_type``.
    """

    path: str
    filename: str
    media_type: str

    def cleanup(self) -> None:
        """Delete the file (no error when it is gone already)."""
        discard(self.path)

    def __enter__(self) -> ExportedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


# ---------------------------------------------------------------------- options
def _parse_bands(bands: Any, count: int) -> list[int]:
    if bands is None:
        return list(range(1, count + 1))
    if isinstance(bands, str):
        parts = [p for p in re.split(r"[,\s]+", bands.strip()) if p]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise InputError(f"bands {bands!r} are not band numbers: give e.g. 1,2 (1-based)") from None
    elif isinstance(bands, int | np.integer):
        values = [int(bands)]
    else:
        values = [int(b) for b in bands]
    if not values:
        raise InputError("no band given: name at least one (1-based), or leave bands out for all")
    bad = [b for b in values if not 1 <= b <= count]
    if bad:
        raise InputError(f"no band {bad[0]} in the coverage: it has bands 1 to {count}")
    return values


def _parse_clip(clip: Any) -> tuple[shapely.Geometry, CRS | None]:
    """A shapely geometry and the CRS its text declared (GeoJSON ``crs`` member), if any."""
    return read_geometry(clip, what="the clip")


def _prepare_clip(clip: Any, clip_crs: Any, cov_crs: CRS | None, *, buffer: float, envelope: bool) -> shapely.Geometry:
    geom, declared = _parse_clip(clip)
    given = as_crs(clip_crs)
    if given is not None and declared is not None and not same_crs(given, declared):
        raise CRSError(
            f"the clip's GeoJSON says it is in {crs_label(declared)} but clip_crs is {crs_label(given)}: give one"
        )
    src = given or declared
    if geom.is_empty:
        raise InputError("the clip geometry is empty")
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise InputError("the clip has coordinates that are not finite numbers (nan, inf, 1e400): give finite ones")
    if not geom.is_valid:
        try:
            geom = shapely.make_valid(geom)
        except shapely.errors.GEOSException as exc:  # GEOS overflows on coordinates near the float limits
            raise GeometryError(f"the clip is invalid and cannot be repaired ({exc}): give a valid geometry") from None
    if src is not None and not same_crs(src, cov_crs):
        if cov_crs is None:
            raise CRSError(f"the clip is in {crs_label(src)} but the coverage has no CRS to reproject it to")
        x0, y0, x1, y1 = geom.bounds
        geom = reproject_geometry(geom, src, cov_crs, step=max(x1 - x0, y1 - y0) / 256 or None)
    if envelope:
        geom = geom.envelope
    if buffer:
        if not math.isfinite(buffer):
            raise InputError(f"buffer {buffer!r} is not a finite distance")
        try:
            geom = geom.buffer(buffer)
        except shapely.errors.GEOSException as exc:  # GEOS overflows on coordinates near the float limits
            raise GeometryError(f"the clip cannot be buffered by {buffer:g} ({exc}): check its coordinates") from None
        if geom.is_empty:
            raise InputError(f"a buffer of {buffer:g} makes the clip empty (it shrinks it to nothing)")
        if not np.isfinite(geom.bounds).all():
            raise InputError(f"a buffer of {buffer:g} overflows the clip's coordinates: give a smaller buffer")
    return geom


# ---------------------------------------------------------------------- windows and chunks
def _geometry_window(grid: Grid, geom: shapely.Geometry) -> Window | None:
    """Pixels of ``grid`` inside the geometry's bounds in pixel space (``rasterio.features.geometry_window``)."""
    xy = shapely.get_coordinates(geom)
    with np.errstate(over="ignore"):  # a clip far larger than the grid (buffer=1e300): clamped below
        cols, rows = grid.to_pixel(xy[:, 0], xy[:, 1])
    # only the part over the grid matters (the window is intersected with it): clamp, so that floor/ceil stay finite
    cols, rows = np.clip(cols, -1, grid.width + 1), np.clip(rows, -1, grid.height + 1)
    c0, c1 = math.floor(cols.min()), math.ceil(cols.max())
    r0, r1 = math.floor(rows.min()), math.ceil(rows.max())
    c1, r1 = max(c1, c0 + 1), max(r1, r0 + 1)  # a vertical or horizontal line: one pixel wide
    return Window(c0, r0, c1 - c0, r1 - r0).intersection(Window(0, 0, grid.width, grid.height))


def _chunks(grid: Grid, window: Window, max_pixels: int) -> Iterator[Window]:
    """Cut ``window`` at the grid's tile edges into chunks of whole tiles of at most ``max_pixels`` (one tile min)."""
    tw, th = grid.tile_width, grid.tile_height

    def spans(start: int, length: int, step: int) -> list[tuple[int, int]]:
        edges = [start, *range((start // step + 1) * step, start + length, step), start + length]
        return list(itertools.pairwise(edges))

    rows = spans(window.row_off, window.height, th)
    cols = spans(window.col_off, window.width, tw)
    if window.width * th <= max_pixels:
        k = max(1, max_pixels // (window.width * th))
        for i in range(0, len(rows), k):
            r0, r1 = rows[i][0], rows[min(i + k, len(rows)) - 1][1]
            yield Window(window.col_off, r0, window.width, r1 - r0)
        return
    k = max(1, max_pixels // (tw * th))
    for r0, r1 in rows:
        for j in range(0, len(cols), k):
            c0, c1 = cols[j][0], cols[min(j + k, len(cols)) - 1][1]
            yield Window(c0, r0, c1 - c0, r1 - r0)


# ---------------------------------------------------------------------- encoding
def _creation_options(fmt: Format, dtype: np.dtype, grid: Grid, overview_resampling: str | None = None) -> dict:
    digits = {4: 9, 8: 17}.get(dtype.itemsize, 17) if dtype.kind == "f" else None
    if fmt.key == "cog":
        return {
            "compress": "DEFLATE",
            "predictor": "YES",
            "overview_resampling": (overview_resampling or ("average" if dtype.kind == "f" else "nearest")).upper(),
            "blocksize": 512 if min(grid.width, grid.height) >= 512 else 256,
            "bigtiff": "IF_SAFER",
        }
    if fmt.key in ("aaigrid", "xyz"):
        return {"significant_digits": digits} if digits else {}
    if fmt.key == "png":
        return {"zlevel": 6}
    if fmt.key == "jpeg":
        return {"quality": 95}
    if fmt.key == "netcdf":
        return {"format": "NC4", "compress": "DEFLATE"}
    if fmt.key == "gpkg":  # lossless tiles: GDAL's AUTO picks JPEG for opaque RGB
        return {"tile_format": "TIFF" if dtype.kind == "f" else "PNG"}
    return {}


def _world_file(transform: Affine) -> str:
    t = transform
    cx = t.c + t.a / 2 + t.b / 2
    cy = t.f + t.d / 2 + t.e / 2
    return "\n".join(repr(float(v)) for v in (t.a, t.d, t.b, t.e, cx, cy)) + "\n"


def _esri_wkt(crs: CRS) -> str:
    from pyproj.enums import WktVersion

    try:
        wkt = crs.to_wkt(WktVersion.WKT1_ESRI)
    except Exception:  # pragma: no cover - pyproj raises for CRSs ESRI WKT cannot express
        wkt = None
    return wkt or crs.to_wkt(WktVersion.WKT1_GDAL)


def _convert(
    src: str,
    dst: str,
    dtype: np.dtype,
    nodata: float | None,
    fn: Callable[[np.ndarray], np.ndarray],
    scale: ByteScale | None = None,
) -> None:
    """Copy the GeoTIFF ``src`` to ``dst`` as ``dtype``, block by block through ``fn`` (a cast or a scaling)."""
    import rasterio

    with rasterio.open(src) as s:
        profile = dict(s.profile)
        profile.update(dtype=dtype.name, nodata=nodata, predictor=3 if dtype.kind == "f" else 2)
        with rasterio.open(dst, "w", **profile) as d:
            for _, w in s.block_windows(1):
                d.write(fn(s.read(window=w)), window=w)
            for i, desc in enumerate(s.descriptions, start=1):
                if desc:
                    d.set_band_description(i, desc)
            if scale is not None:
                d.scales = (scale.scale,) * s.count
                d.offsets = (scale.offset,) * s.count


# ---------------------------------------------------------------------- the request
@dataclass(frozen=True)
class _Request:
    """Every option of an export (see :func:`export`)."""

    format: str | Format | None = None
    bbox: Sequence[float] | None = None
    bbox_crs: Any = None
    clip: Any = None
    clip_crs: Any = None
    clip_layer: str | os.PathLike | None = None
    clip_layer_name: str | None = None
    clip_id: Any = None
    clip_id_column: str | None = None
    buffer: float = 0.0
    envelope: bool = False
    all_touched: bool = False
    bands: Sequence[int] | str | int | None = None
    crs: Any = None
    resolution: Any = None
    resampling: str = "nearest"
    dtype: Any = None
    nodata: float | str | None = None
    max_pixels: int | None = None
    overview_resampling: str | None = None

    @property
    def clipped(self) -> bool:
        return self.clip is not None or self.clip_layer is not None


def _what(req: _Request) -> str:
    """The ``[_clip|_bbox][_b1-2]`` part of an output's name."""
    parts = []
    if req.clipped:
        parts.append("clip")
    elif req.bbox is not None:
        parts.append("bbox")
    bands = req.bands
    if bands is not None:
        if isinstance(bands, str):
            numbers = [p for p in re.split(r"[,\s]+", bands.strip()) if p]
        elif isinstance(bands, int | np.integer):
            numbers = [str(int(bands))]
        else:
            numbers = [str(int(b)) for b in bands]
        parts.append("b" + "-".join(numbers))
    return "".join(f"_{p}" for p in parts)


def _resolve_output(output: str, fmt: Format | None, name: str) -> tuple[str, Format, bool]:
    """Final path, format, and whether it is delivered as a zip."""
    if os.path.isdir(output):
        fmt = fmt or get_format("gtiff")
        return os.path.join(output, f"{name}{fmt.delivery_extension}"), fmt, fmt.zip_default
    lower = output.lower()
    if fmt is None:
        fmt = format_for_path(output)
    if lower.endswith(".zip"):
        return output, fmt, True
    if lower.endswith(fmt.extensions):
        return output, fmt, False
    ends = " or ".join((*fmt.extensions, ".zip"))
    raise InputError(f"{output}: a {fmt.key} output name ends in {ends}; rename it or pick another format")


def _parse_nodata(value: Any) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"nodata {value!r} is not a number (give e.g. -9999, 0 or nan)") from None
    if math.isinf(out):
        raise InputError(f"nodata {value!r} must be finite or nan")
    return out


def _clip_geometry(req: _Request) -> tuple[Any, Any]:
    """The clip (inline, or one feature of a vector layer) and the CRS it is in."""
    if req.clip_layer is None:
        if req.clip_id is not None or req.clip_layer_name is not None or req.clip_id_column is not None:
            raise InputError("clip_id, clip_layer_name and clip_id_column choose a feature of clip_layer: give it too")
        return req.clip, req.clip_crs
    if req.clip is not None:
        raise InputError("give the clip inline (clip=, --clip) or as a layer's feature (clip_layer=), not both")
    if req.clip_id is None:
        raise InputError("clip_layer needs the id of the feature to clip by: give clip_id= (--clip-id)")
    from .clip_feature import read_clip_feature

    geom, layer_crs = read_clip_feature(
        req.clip_layer, req.clip_id, layer=req.clip_layer_name, id_column=req.clip_id_column
    )
    return geom, req.clip_crs if req.clip_crs is not None else layer_crs


def export(
    coverage: Any,
    output: str | os.PathLike,
    *,
    format: str | Format | None = None,
    bbox: Sequence[float] | None = None,
    bbox_crs: Any = None,
    clip: Any = None,
    clip_crs: Any = None,
    clip_layer: str | os.PathLike | None = None,
    clip_layer_name: str | None = None,
    clip_id: Any = None,
    clip_id_column: str | None = None,
    buffer: float = 0.0,
    envelope: bool = False,
    all_touched: bool = False,
    bands: Sequence[int] | str | int | None = None,
    crs: Any = None,
    resolution: Any = None,
    resampling: str = "nearest",
    dtype: Any = None,
    nodata: float | str | None = None,
    max_pixels: int | None = None,
    overwrite: bool = False,
    overview_resampling: str | None = None,
) -> ExportResult:
    """Write a raster coverage, or a piece of it, as one file in any export format.

    Parameters
    ----------
    coverage
        A raster file, ``.vrt`` or tile folder path, a ``postgresql://`` URL, or a RasterCoverage object.
    output
        The file to write. Its extension picks the format unless ``format`` is given (``.tif`` gtiff, ``.asc``
        aaigrid, ``.xyz``, ``.png``, ``.jpg``, ``.nc``, ``.gpkg``); a ``.zip`` name packs the data file with
        its sidecars (``.prj``, world file) and a bare ``.zip`` means aaigrid. An ``.asc`` name writes the
        ``.prj`` beside it. An existing folder: the file is named ``<coverage>[_clip|_bbox][_b1-2].<ext>``.
    format
        A key of :data:`rastercover.formats.FORMATS` (``gtiff``, ``cog``, ``aaigrid``, ``xyz``, ``png``,
        ``jpeg``, ``netcdf``, ``gpkg``).
    bbox, bbox_crs
        ``(xmin, ymin, xmax, ymax)`` and its CRS (default: the coverage's); pixels meeting it are exported.
    clip, clip_crs
        A geometry (shapely, WKT, GeoJSON text or dict) and its CRS (default: a GeoJSON ``crs`` member, else
        the coverage's). Pixels whose centre is outside become nodata; the output is cropped to its bounds.
    clip_layer, clip_layer_name, clip_id, clip_id_column
        Clip by one feature of a vector layer instead: a vector file or a ``postgresql://...?table=`` location,
        the layer's name in a multi-layer file, and the feature's id: its FID (a PostGIS table's primary key),
        or its value in ``clip_id_column``. The layer's CRS is the clip's (``clip_crs`` overrides it).
    buffer
        Distance in coverage units applied to the clip (after ``envelope``); negative shrinks.
    envelope
        Use the clip's bounding box instead of the clip.
    all_touched
        Keep every pixel the clip touches, not only those whose centre it contains.
    bands
        1-based band numbers (``[1, 3]`` or ``"1,3"``); all by default.
    crs, resolution, resampling
        Warp the piece to another CRS and/or pixel size (``R`` or ``(XRES, YRES)`` in the output CRS's units).
        The output grid is the one ``gdalwarp`` chooses for the piece (anchored at its upper-left corner);
        pixels are resampled with ``resampling`` (``nearest`` by default; ``bilinear``, ``cubic``, ``average``,
        ``mode``... GDAL's methods). A clip then masks the output pixels by their centres in the output CRS.
    dtype
        Output pixel type (``uint8`` ... ``float64``). Floats going to integers are rounded; a value that does
        not fit the type is an error, never a wrapped or clipped value.
    nodata
        Output nodata value: pixels without data (nodata in the coverage, outside the clip or the coverage)
        get it. Valid pixels that happen to equal it are counted in the result's notes.
    max_pixels
        Refuse (:class:`~rastercover.errors.TooLargeError`, before anything is read or written) an output of
        more than this many pixels, bands included (a server's limit).
    overwrite
        Replace an existing output.
    overview_resampling
        Resampling of a COG's overviews: ``nearest`` (classes) or ``average`` (measurements); default
        ``average`` for float pixels, ``nearest`` otherwise.

    Returns
    -------
    ExportResult

    Raises
    ------
    InputError
        Unknown format, a format that cannot hold the data (several bands as aaigrid, float as png...), an
        empty clip, a clip or bbox outside the coverage, a buffer that empties the clip, a bad band number, a
        pixel type that cannot hold the values.
    CRSError
        An unknown CRS, or a clip/bbox/warp that cannot be reprojected.
    OutputError
        The output's folder is missing, or the output exists and ``overwrite`` is False.

    Examples
    --------
    >>> import os, tempfile, numpy as np, rasterio
    >>> from affine import Affine
    >>> d = tempfile.mkdtemp()
    >>> with rasterio.open(os.path.join(d, "lc.tif"), "w", driver="GTiff", width=6, height=4, count=1,
    ...                    dtype="uint8", crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 40)) as ds:
    ...     ds.write(np.arange(24, dtype="uint8").reshape(1, 4, 6))
    >>> r = export(os.path.join(d, "lc.tif"), d, bbox=(12, 5, 31, 21))    # a folder: the name is made
    >>> os.path.basename(r.path), (r.width, r.height), r.dtype, r.transform.c, r.transform.f
    ('lc_bbox.tif', (3, 3), 'uint8', 10.0, 30.0)
    >>> with rasterio.open(r.path) as ds:
    ...     ds.read(1).tolist()
    [[7, 8, 9], [13, 14, 15], [19, 20, 21]]
    >>> r = export(os.path.join(d, "lc.tif"), os.path.join(d, "coarse.tif"), resolution=20, resampling="max")
    >>> with rasterio.open(r.path) as ds:
    ...     ds.res, ds.read(1).tolist()
    ((20.0, 20.0), [[7, 9, 11], [19, 21, 23]])
    """
    req = _Request(
        format=format,
        bbox=bbox,
        bbox_crs=bbox_crs,
        clip=clip,
        clip_crs=clip_crs,
        clip_layer=clip_layer,
        clip_layer_name=clip_layer_name,
        clip_id=clip_id,
        clip_id_column=clip_id_column,
        buffer=buffer,
        envelope=envelope,
        all_touched=all_touched,
        bands=bands,
        crs=crs,
        resolution=resolution,
        resampling=resampling,
        dtype=dtype,
        nodata=nodata,
        max_pixels=max_pixels,
        overview_resampling=overview_resampling,
    )
    return _export(coverage, output, req, overwrite=overwrite)


def _export(
    coverage: Any, output: str | os.PathLike, req: _Request, *, overwrite: bool, member_stem: str | None = None
) -> ExportResult:
    """:func:`export`; ``member_stem`` names the files inside a zip (default: the zip's own name)."""
    cov = open_coverage(coverage)
    fmt = None if req.format is None else get_format(req.format)
    name = _coverage_name(cov)
    path, fmt, zipped = _resolve_output(os.fspath(output), fmt, name + _what(req))
    if not driver_available(fmt):
        raise InputError(f"this GDAL build has no {fmt.driver} driver, so {fmt.key} is not available here")
    grid = cov.grid
    band_list = _parse_bands(req.bands, cov.count)
    resampling = check_resampling(req.resampling)
    dtype_asked = None if req.dtype is None else check_dtype(req.dtype)
    nodata_asked = _parse_nodata(req.nodata)
    dst_crs = None if req.crs is None else as_crs(req.crs)
    if dst_crs is not None and grid.crs is None:
        raise CRSError(f"the coverage has no CRS, so it cannot be warped to {crs_label(dst_crs)}")
    warp = (dst_crs is not None and not same_crs(dst_crs, grid.crs)) or req.resolution is not None
    if not warp and resampling != "nearest":
        raise InputError("resampling applies to a warp: give crs= (--crs) or resolution= (--resolution) too")
    out_crs = dst_crs if warp and dst_crs is not None else grid.crs
    sidecar_prj = None
    if not zipped and fmt.key == "aaigrid" and out_crs is not None:
        sidecar_prj = os.path.splitext(path)[0] + ".prj"
    check_target(path, overwrite=overwrite)
    if sidecar_prj:
        check_target(sidecar_prj, overwrite=overwrite)

    # ---- the piece: a window of the coverage's grid, and the geometry that masks it
    window: Window | None = Window(0, 0, grid.width, grid.height)
    if req.bbox is not None:
        bounds = bbox_in_crs(req.bbox, req.bbox_crs, grid.crs)
        window = grid.pixel_window(bounds)
        if window is None:
            raise InputError(
                f"the bbox {_fmt_bounds(bounds)} does not meet the coverage, whose bounds are "
                f"{_fmt_bounds(grid.bounds)} ({crs_label(grid.crs)})"
            )
    geom = None
    clip, clip_crs = _clip_geometry(req)
    if clip is not None:
        geom = _prepare_clip(clip, clip_crs, grid.crs, buffer=req.buffer, envelope=req.envelope)
        footprint = shapely.Polygon(grid.corners())
        gwin = _geometry_window(grid, geom) if geom.intersects(footprint) else None
        if gwin is None:
            raise InputError(
                f"the clip {_fmt_bounds(geom.bounds)} does not meet the coverage, whose bounds are "
                f"{_fmt_bounds(grid.bounds)} ({crs_label(grid.crs)})"
            )
        window = window.intersection(gwin)
        if window is None:
            raise InputError("the clip and the bbox do not overlap on the coverage")
    elif req.buffer or req.envelope:
        raise InputError("buffer and envelope apply to a clip geometry: give clip= (--clip) too")

    # ---- the output grid: the piece itself, or its warp
    notes: list[str] = []
    geom_out = geom
    if warp:
        out_grid = warp_grid(grid, window, None if geom is None else geom.bounds, dst_crs, req.resolution)
        if geom is not None and not same_crs(out_grid.crs, grid.crs):
            geom_out = reproject_geometry(geom, grid.crs, out_grid.crs, step=min(grid.res))
        rx, ry = out_grid.res
        notes.append(f"warped from {crs_label(grid.crs)} to {crs_label(out_grid.crs)} at {rx:g}x{ry:g} ({resampling})")
    else:
        out_grid = grid.subgrid(window)
    fmt.check_layout(len(band_list), rectilinear=out_grid.is_rectilinear)
    size = out_grid.width * out_grid.height * len(band_list)
    if req.max_pixels is not None and size > req.max_pixels:
        raise TooLargeError(
            f"the export would be {out_grid.width}x{out_grid.height} px x {len(band_list)} band(s) = {size} pixels, "
            f"over the limit of {req.max_pixels}: ask for a smaller bbox or clip, fewer bands or a coarser resolution"
        )
    if geom_out is not None:
        shapely.prepare(geom_out)

    # ---- pixel types and nodata: the coverage's (work), then the output's
    work_dtype = np.dtype(cov.dtype)
    work_nodata = cov.nodata
    if work_nodata is not None and not fits(work_dtype, work_nodata):
        notes.append(f"the coverage's nodata {work_nodata:g} does not fit {work_dtype.name}; it is ignored")
        work_nodata = None
    if (geom is not None or warp) and work_nodata is None:
        if nodata_asked is not None and fits(work_dtype, nodata_asked):
            work_nodata = nodata_asked
        else:
            work_nodata = float(np.iinfo(work_dtype).min) if work_dtype.kind in "iu" else DEFAULT_FLOAT_NODATA
            what = f"the {work_dtype.name} minimum" if work_dtype.kind in "iu" else "rastercover's float default"
            where = "outside the clip" if geom is not None else "without data"
            notes.append(f"the coverage declares no nodata: pixels {where} are {work_nodata:g} ({what})")
    out_dtype = dtype_asked or work_dtype
    out_nodata = nodata_asked if nodata_asked is not None else work_nodata
    if out_nodata is not None and not fits(out_dtype, out_nodata):
        if nodata_asked is not None:
            raise InputError(f"nodata {out_nodata:g} does not fit {out_dtype.name}: give one the type holds")
        raise InputError(
            f"the nodata value {out_nodata:g} does not fit {out_dtype.name}: give one that does (--nodata / nodata=)"
        )
    cast = Cast(work_dtype, work_nodata, out_dtype, out_nodata)
    if out_dtype != work_dtype:
        notes.append(f"{work_dtype.name} values written as {out_dtype.name} (asked)")

    names = [cov.band_names[b - 1] if b - 1 < len(cov.band_names) else "" for b in band_list]
    stem, data_ext = _member_names(path, fmt, zipped)
    if zipped and member_stem:
        stem = member_stem

    from rasterio.errors import RasterioError

    tmpdir = temporary_sibling(path)
    os.mkdir(tmpdir)
    try:
        work = os.path.join(tmpdir, stem + (data_ext if fmt.key == "gtiff" else ".work.tif"))
        allowed = fmt.allowed_dtypes(len(band_list))
        stats = ValueStats() if allowed is not None and out_dtype.name not in allowed else None
        if warp:
            chunks = _warped_chunks(
                cov, grid, window, out_grid, band_list, geom_out, req.all_touched, work_dtype, work_nodata, resampling
            )
        else:
            chunks = _source_chunks(cov, grid, window, band_list, geom, req.all_touched, work_dtype, work_nodata)
        kept = _write_chunks(work, out_grid, names, chunks, cast, stats)
        if geom is not None and kept == 0:
            raise InputError(
                "the clip covers no pixel centre of the coverage: pass all_touched=True (--all-touched) or a buffer"
            )
        if cast.collisions:
            notes.append(
                f"{cast.collisions} valid pixel(s) equal the nodata value {out_nodata:g} and will read as nodata"
            )
        dtype, nodata = out_dtype, out_nodata
        if stats is not None:
            work, dtype, nodata = _fit_format(fmt, work, tmpdir, stem, stats, dtype, nodata, len(band_list), notes)
        if not fmt.holds_nodata and nodata is not None:
            notes.append(f"{fmt.key} declares no nodata: pixels without data are written as {nodata:g}")
        if fmt.lossy:
            notes.append(f"{fmt.key} is lossy: values change slightly; use png or gtiff for exact values")
        main = os.path.join(tmpdir, stem + data_ext)
        if fmt.key != "gtiff":
            import rasterio.shutil

            options = _creation_options(fmt, dtype, out_grid, req.overview_resampling)
            rasterio.shutil.copy(work, main, driver=fmt.driver, **options)
            discard(work)
        files, members = _deliver(fmt, main, tmpdir, stem, path, out_grid, zipped, sidecar_prj)
    except RasterioError as exc:
        discard(tmpdir)
        raise OutputError(f"{path}: GDAL could not write it as {fmt.key} ({_first_line(exc)})") from None
    except OSError as exc:
        discard(tmpdir)
        raise OutputError(f"{path}: cannot write it ({exc.strerror or exc})") from None
    except BaseException:
        discard(tmpdir)
        raise
    discard(tmpdir)
    return ExportResult(
        path=path,
        format=fmt.key,
        width=out_grid.width,
        height=out_grid.height,
        bands=tuple(band_list),
        dtype=dtype.name,
        nodata=nodata,
        crs=out_grid.crs,
        transform=out_grid.transform,
        files=files,
        members=members,
        notes=tuple(notes),
    )


def _fit_format(
    fmt: Format,
    work: str,
    tmpdir: str,
    stem: str,
    stats: ValueStats,
    dtype: np.dtype,
    nodata: float | None,
    count: int,
    notes: list[str],
) -> tuple[str, np.dtype, float | None]:
    """Convert the work file to a pixel type ``fmt`` holds (exactly, or by JPEG's byte scaling)."""
    scale = None
    try:
        target, new_nodata, note = fmt.fit_dtype(
            dtype,
            vmin=stats.vmin,
            vmax=stats.vmax,
            integral=stats.integral,
            float32_exact=stats.float32_exact,
            nodata=nodata,
            count=count,
        )
    except InputError:
        if not fmt.scaled:
            raise
        vmin = 0.0 if stats.vmin is None else stats.vmin
        scale = ByteScale(vmin, stats.vmax if stats.vmax is not None else vmin, nodata=nodata)
        target, new_nodata, note = np.dtype("uint8"), ByteScale.nodata, scale.note(dtype)
    if not note:
        return work, dtype, nodata
    converted = os.path.join(tmpdir, stem + ".fit.tif")
    fn = scale if scale is not None else Cast(dtype, nodata, target, new_nodata)
    _convert(work, converted, target, new_nodata, fn, scale)
    discard(work)
    notes.append(note)
    return converted, target, new_nodata


def _deliver(
    fmt: Format,
    main: str,
    tmpdir: str,
    stem: str,
    path: str,
    out_grid: Grid,
    zipped: bool,
    sidecar_prj: str | None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Write the sidecars, zip when asked, and move everything to its final name: ``(files, members)``."""
    sidecars: dict[str, str] = {}  # member name -> path in tmpdir
    if out_grid.crs is not None and (not fmt.embeds_crs):
        prj = os.path.join(tmpdir, stem + ".prj")
        with open(prj, "w", encoding="utf-8") as f:
            f.write(_esri_wkt(out_grid.crs))
        sidecars[stem + ".prj"] = prj
    if fmt.world_file and zipped:
        wld = os.path.join(tmpdir, stem + fmt.world_file)
        with open(wld, "w", encoding="ascii") as f:
            f.write(_world_file(out_grid.transform))
        sidecars[stem + fmt.world_file] = wld
        aux = main + ".aux.xml"
        if os.path.exists(aux):  # GDAL's reader finds the CRS and nodata of a PNG/JPEG only there
            sidecars[os.path.basename(aux)] = aux
    if zipped:
        packed = os.path.join(tmpdir, stem + ".zip")
        member_list = [os.path.basename(main), *sidecars]
        with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.write(main, os.path.basename(main))
            for member, p in sidecars.items():
                z.write(p, member)
        commit(packed, path)
        return (path,), tuple(member_list)
    commit(main, path)
    if sidecar_prj:
        commit(sidecars[stem + ".prj"], sidecar_prj)
        return (path, sidecar_prj), ()
    return (path,), ()


def _member_names(path: str, fmt: Format, zipped: bool) -> tuple[str, str]:
    """Stem and extension of the data file: ``dem.asc`` for ``dem.zip``, ``dem.asc.zip`` or ``dem.asc``."""
    base = os.path.basename(path)
    if not zipped:
        return os.path.splitext(base)
    base = base[:-4] if base.lower().endswith(".zip") else base
    for ext in fmt.extensions:
        if base.lower().endswith(ext) and len(base) > len(ext):
            base = base[: -len(ext)]
            break
    return base or "coverage", fmt.extension


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _fmt_bounds(b: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.10g}" for v in b) + ")"


# ---------------------------------------------------------------------- chunks of the output
_Chunk = tuple[Window, np.ndarray, int]  # window in the output, pixels (bands, rows, cols), pixels kept


def _is_areal(geom: shapely.Geometry) -> bool:
    return bool(np.isin(shapely.get_type_id(shapely.get_parts(geom)), [3, 6]).all())


def _clip_mask(
    geom: shapely.Geometry, grid: Grid, chunk: Window, all_touched: bool, centres_only: bool
) -> np.ndarray | bool:
    """Which pixels of ``chunk`` the clip keeps: True (all), False (none) or a boolean array."""
    from rasterio.features import geometry_mask

    box = shapely.Polygon(grid.corners(chunk))
    probe = box
    # with the centre rule, a polygon keeps nothing in a chunk unless it meets the box of the chunk's centres
    # (lines and points burn every pixel they touch, as in GDAL, so they are tested against the whole chunk)
    if centres_only and chunk.width > 1 and chunk.height > 1:
        cols = np.array([0.5, chunk.width - 0.5, chunk.width - 0.5, 0.5]) + chunk.col_off
        rows = np.array([0.5, 0.5, chunk.height - 0.5, chunk.height - 0.5]) + chunk.row_off
        probe = shapely.Polygon(np.column_stack(grid.to_map(cols, rows)))
    if not geom.intersects(probe):
        return False
    if geom.covers(box):
        return True
    return geometry_mask(
        [geom],
        out_shape=(chunk.height, chunk.width),
        transform=grid.transform @ Affine.translation(chunk.col_off, chunk.row_off),
        all_touched=all_touched,
        invert=True,
    )


def _masked(data: np.ndarray, keep: np.ndarray | bool, nodata: float | None) -> tuple[np.ndarray, int]:
    if keep is True:
        return data, data.shape[1] * data.shape[2]
    data[:, ~keep] = nodata
    return data, int(keep.sum())


def _source_chunks(
    cov: RasterCoverage,
    grid: Grid,
    window: Window,
    bands: list[int],
    geom: shapely.Geometry | None,
    all_touched: bool,
    dtype: np.dtype,
    nodata: float | None,
) -> Iterator[_Chunk]:
    """The piece on the coverage's own grid, whole storage tiles at a time, masked by ``geom``."""
    centres_only = geom is not None and not all_touched and _is_areal(geom)
    for chunk in _chunks(grid, window, _CHUNK_PIXELS):
        rel = chunk.relative_to(window)
        keep: np.ndarray | bool = True
        if geom is not None:
            keep = _clip_mask(geom, grid, chunk, all_touched, centres_only)
            if keep is False:
                yield rel, np.full((len(bands), chunk.height, chunk.width), nodata, dtype=dtype), 0
                continue
        data = np.asarray(cov.read(chunk, bands))
        if data.dtype != dtype:
            data = data.astype(dtype)
        yield rel, *_masked(data, keep, nodata)


def _warped_chunks(
    cov: RasterCoverage,
    grid: Grid,
    window: Window,
    out: Grid,
    bands: list[int],
    geom: shapely.Geometry | None,
    all_touched: bool,
    dtype: np.dtype,
    nodata: float | None,
    resampling: str,
) -> Iterator[_Chunk]:
    """The piece warped to ``out``, chunk by chunk (each reads only the source pixels it needs)."""
    centres_only = geom is not None and not all_touched and _is_areal(geom)
    ratio = max(1.0, window.width * window.height / (out.width * out.height))
    full = Window(0, 0, out.width, out.height)
    for chunk in _chunks(out, full, max(1, int(_CHUNK_PIXELS / 4 / ratio))):
        keep: np.ndarray | bool = True
        if geom is not None:
            keep = _clip_mask(geom, out, chunk, all_touched, centres_only)
            if keep is False:
                yield chunk, np.full((len(bands), chunk.height, chunk.width), nodata, dtype=dtype), 0
                continue
        data = warp_chunk(
            cov, grid, out, chunk, bands, dtype=dtype, src_nodata=nodata, dst_nodata=nodata, resampling=resampling
        )
        if data is None:
            data = np.full((len(bands), chunk.height, chunk.width), nodata, dtype=dtype)
        yield chunk, *_masked(data, keep, nodata)


def _write_chunks(
    path: str, out_grid: Grid, names: list[str], chunks: Iterator[_Chunk], cast: Cast, stats: ValueStats | None
) -> int:
    """Write the chunks into the GeoTIFF ``path`` as ``cast`` says; return the pixels kept."""
    import rasterio
    from rasterio.windows import Window as RioWindow

    profile = gtiff_profile(out_grid, len(names), cast.dst, cast.dst_nodata)
    kept = 0
    with rasterio.open(path, "w", **profile) as ds:
        for i, n in enumerate(names, start=1):
            if n:
                ds.set_band_description(i, n)
        for rel, data, n_kept in chunks:
            if not cast.identity:
                data = cast(data)
            if stats is not None:
                stats.update(data, cast.dst_nodata)
            ds.write(data, window=RioWindow(rel.col_off, rel.row_off, rel.width, rel.height))
            kept += n_kept
    return kept


def export_file(
    coverage: Any,
    *,
    format: str | Format = "gtiff",
    zipped: bool | None = None,
    name: str | None = None,
    dir: str | None = None,
    **options: Any,
) -> ExportedFile:
    """Export into a new temporary file, for a web application to send as an attachment.

    ``options`` are those of :func:`export` (``bbox``, ``clip``, ``buffer``, ``crs``, ``dtype``...). The file
    is named for the download ``<coverage>[_clip|_bbox][_b1-2].<ext>`` (``name`` replaces ``<coverage>``);
    ``zipped`` packs the data file with its sidecars (default: the format's own delivery, a zip for aaigrid
    only); ``dir`` is where the temporary file goes (default: the system's temporary folder).

    Returns
    -------
    ExportedFile
        ``(path, filename, media_type)``. **The caller deletes** ``path`` when it has sent it: call
        ``.cleanup()``, or use it in a ``with`` block. On POSIX a server can open the file, delete it at
        once, and stream the open handle (see the README's Django example).

    Examples
    --------
    >>> import os, tempfile, numpy as np, rasterio
    >>> from affine import Affine
    >>> src = os.path.join(tempfile.mkdtemp(), "dem.tif")
    >>> with rasterio.open(src, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32",
    ...                    crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 40)) as ds:
    ...     ds.write(np.ones((1, 4, 4), "float32"))
    >>> with export_file(src, format="aaigrid", bbox=(0, 0, 20, 20)) as f:
    ...     print(f.filename, f.media_type, os.path.getsize(f.path) > 0)
    dem_bbox.zip application/zip True
    >>> os.path.exists(f.path)
    False
    """
    if "overwrite" in options or "output" in options:
        raise TypeError("export_file() chooses its own output: drop output= and overwrite=")
    req = _Request(format=format, **options)
    cov = open_coverage(coverage)
    fmt = get_format(format)
    zipped = fmt.zip_default if zipped is None else bool(zipped)
    if fmt.zip_default and not zipped:
        raise InputError(f"{fmt.key} is delivered as a zip (the data file alone would lose its CRS)")
    ext = ".zip" if zipped else fmt.extension
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") if name else _coverage_name(cov)
    filename = f"{base or 'coverage'}{_what(req)}{ext}"
    fd, path = tempfile.mkstemp(prefix="rastercover-", suffix=ext, dir=dir)
    os.close(fd)
    try:
        _export(cov, path, req, overwrite=True, member_stem=filename[: -len(ext)])
    except BaseException:
        discard(path)
        raise
    return ExportedFile(path, filename, fmt.media_type_of(filename))
