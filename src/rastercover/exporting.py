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

import dataclasses
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from .crs import as_crs, bbox_in_crs, crs_label, same_crs
from .engine.limits import MAX_FILE_PIXELS, count_text
from .errors import CRSError, InputError, NoSpaceError, OutputError, TooLargeError
from .formats import Format, driver_available, get_format
from .grid import Grid, Window
from .io import registry
from .io.atomic import check_target, discard, temporary_sibling
from .io.checked import gdal_errors, is_io_failure, os_error_of, verify_copy, write_error
from .io.pam import add_class_tables
from .ops.deliver import (
    ExportedFile,
    ExportResult,
    coverage_name,
    deliver,
    first_line,
    member_names,
    resolve_output,
    what,
    write_zip,
)
from .ops.encode import creation_options, fit_format, pixel_types, write_chunks
from .ops.mosaic import Chunk, source_chunks, warped_chunks
from .ops.piece import check_crop, fmt_bounds, parse_bands, piece_window, prepare_clip
from .ops.warp import check_resampling, covers, reproject_geometry, warp_grid
from .pixel_values import Cast, ValueStats, check_dtype, round_half_away
from .protocols import RasterCoverage

__all__ = [
    "DEFAULT_FLOAT_NODATA",
    "ExportPlan",
    "ExportResult",
    "ExportedFile",
    "export",
    "export_file",
    "open_coverage",
    "plan_export",
    "run_export",
]

#: Nodata given to a float coverage that declares none when a clip must mask pixels.
DEFAULT_FLOAT_NODATA = -9999.0


# ---------------------------------------------------------------------- opening coverages
def open_coverage(spec: Any, *, query: Any = None, params: Any = None, column: str | None = None) -> RasterCoverage:
    """A raster coverage from a path, a ``postgresql://`` URL, an object that already is one, or a SQL query.

    Parameters
    ----------
    spec
        A raster file, a ``.vrt`` or a tile folder (→ :class:`~rastercover.io.coverage_file.FileCoverage`);
        a ``.zarr`` store (→ :class:`~rastercover.io.coverage_zarr.ZarrCoverage`);
        a ``postgresql://`` / ``postgres://`` string (→ ``PostgisRasterCoverage``); or any object with the
        :class:`~rastercover.protocols.RasterCoverage` protocol, returned as it is. The backend registry
        (:mod:`rastercover.io.registry`) decides. With ``query``: the database to run it on (a
        ``postgresql://`` DSN, a DB-API connection such as psycopg's or Django's ``connection``, or an
        SQLAlchemy engine, connection or session).
    query, params, column
        A query written by the application (SQL text with ``%s`` placeholders bound to ``params``, or an
        SQLAlchemy / GeoAlchemy2 selectable) whose rows hold rasters; every raster it returns is mosaicked onto
        one grid (see :mod:`rastercover.io.coverage_query`). ``column`` names the raster column when the rows
        have several. Never pass text from an HTTP client as ``query``: bind it through ``params``.

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
    rastercover.errors.InputError: cannot open a raster coverage from a int: ...
    """
    if query is not None:
        from .io.coverage_query import open_query_coverage

        return open_query_coverage(spec, query, params, column=column)
    if params is not None or column is not None:
        raise InputError("params= and column= go with query=: give the query too")
    return registry.open_coverage(spec)


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
    buffer_segments: int = 8
    envelope: bool = False
    clip_footprint: str = "extent"
    crop: str = "bounds"
    all_touched: bool = False
    per_tile: bool = False
    bands: Sequence[int] | str | int | None = None
    crs: Any = None
    resolution: Any = None
    grid: Grid | None = None
    resampling: str = "nearest"
    dtype: Any = None
    nodata: float | str | None = None
    max_pixels: int | None = None
    overview_resampling: str | None = None

    @property
    def clipped(self) -> bool:
        return self.clip is not None or self.clip_layer is not None


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


def _bands_nodata(cov: Any, bands: list[int]) -> float | None:
    """The nodata value of the bands exported: one for all (a coverage whose bands differ gives each band's,
    ``nodatas``); bands with different values are refused, never masked with the first band's."""
    per_band = getattr(cov, "nodatas", None)
    if not per_band:
        return cov.nodata
    values = [per_band[b - 1] if b - 1 < len(per_band) else None for b in bands]
    first = values[0]
    for b, v in zip(bands, values, strict=True):
        same = v == first or (v is not None and first is not None and math.isnan(v) and math.isnan(first))
        if not same:
            raise InputError(
                f"band {bands[0]} has nodata {first} but band {b} has {v}: one file holds one nodata value, so "
                "export these bands one at a time (bands=, --bands)"
            )
    return first


def _clip_geometry(req: _Request) -> tuple[Any, Any]:
    """The clip (inline, or one feature of a vector layer) and the CRS it is in."""
    if req.clip_layer is None:
        if req.clip_id is not None or req.clip_layer_name is not None or req.clip_id_column is not None:
            raise InputError("clip_id, clip_layer_name and clip_id_column choose a feature of clip_layer: give it too")
        if req.clip_footprint != "extent":
            raise InputError("clip_footprint applies to a raster clip layer: give clip_layer= (--clip-layer) too")
        return req.clip, req.clip_crs
    if req.clip is not None:
        raise InputError("give the clip inline (clip=, --clip) or as a layer's feature (clip_layer=), not both")
    from .io.clip_feature import read_clip_feature

    geom, layer_crs = read_clip_feature(
        req.clip_layer, req.clip_id, layer=req.clip_layer_name, id_column=req.clip_id_column,
        footprint=req.clip_footprint,
    )  # fmt: skip
    return geom, req.clip_crs if req.clip_crs is not None else layer_crs


# ---------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class ExportPlan:
    """A checked export: the piece (window, clip), the output grid, the pixel types, the target; nothing left to
    fail on user input. :func:`plan_export` makes one (reading headers only), :func:`run_export` writes it.

    Every face runs export plans: :func:`export` and :func:`export_file`, the command line, the HTTP export and
    WCS (which also asks a plan for the grid it will deliver), so they answer the same pixels, shape and
    transform for the same request.
    """

    coverage: Any
    request: _Request
    path: str | None
    fmt: Format
    zipped: bool
    sidecar_prj: str | None
    bands: tuple[int, ...]
    band_names: tuple[str, ...]
    window: Window
    geom: Any
    geom_out: Any
    out_grid: Grid
    warp: bool
    resampling: str
    work_dtype: np.dtype
    work_nodata: float | None
    out_dtype: np.dtype
    out_nodata: float | None
    notes: tuple[str, ...]
    classes: tuple[dict[float, str] | None, ...] = ()  # per output band, the class names carried (see _classes)

    @property
    def pixels(self) -> int:
        """Output pixels, bands included."""
        return self.out_grid.width * self.out_grid.height * len(self.bands)

    @property
    def steps(self) -> int:
        """Chunks :func:`run_export` reads and writes (tiles, one file each, with ``per_tile``): the total of
        its ``progress``."""
        from .ops.mosaic import count_chunks

        if self.request.per_tile:
            return sum(1 for _ in self.coverage.grid.tiles(self.window))
        return count_chunks(self.coverage.grid, self.window, self.out_grid, self.warp)


def plan_export(
    coverage: Any, output: str | os.PathLike | None, *, overwrite: bool = False, **options: Any
) -> ExportPlan:
    """Check an export and work out what it writes: the :class:`ExportPlan` that :func:`run_export` writes.

    ``options`` are :func:`export`'s. ``output=None`` plans without a target (the grid a request would give).

    Examples
    --------
    >>> import os, tempfile, numpy as np, rasterio
    >>> from affine import Affine
    >>> p = os.path.join(tempfile.mkdtemp(), "dem.tif")
    >>> with rasterio.open(p, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
    ...                    crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 40)) as ds:
    ...     ds.write(np.zeros((1, 4, 4), "uint8"))
    >>> plan = plan_export(p, None, bbox=(10, 10, 30.0000000001, 30))
    >>> plan.window, plan.out_grid.transform.c
    (Window(col_off=1, row_off=1, width=2, height=2), 10.0)
    """
    req = _Request(**options)
    cov = open_coverage(coverage)
    fmt = None if req.format is None else get_format(req.format)
    if output is None:
        path, fmt, zipped = None, fmt or get_format("gtiff"), False
    elif req.per_tile:
        path, fmt, zipped = _per_tile_output(os.fspath(output), fmt)
    else:
        path, fmt, zipped = resolve_output(os.fspath(output), fmt, coverage_name(cov) + what(req))
    if not driver_available(fmt):
        raise InputError(f"this GDAL build has no {fmt.driver} driver, so {fmt.key} is not available here")
    grid = cov.grid
    band_list = parse_bands(req.bands, cov.count)
    cov_nodata = _bands_nodata(cov, band_list)
    resampling = check_resampling(req.resampling)
    dtype_asked = None if req.dtype is None else check_dtype(req.dtype)
    nodata_asked = _parse_nodata(req.nodata)
    target = req.grid
    if target is not None:
        if not isinstance(target, Grid):
            raise InputError(f"grid= is the output grid, a rastercover Grid, not a {type(target).__name__}")
        if req.crs is not None or req.resolution is not None or req.bbox is not None or req.per_tile:
            raise InputError("grid= is the whole output grid: drop crs=, resolution=, bbox= and per_tile=")
        if target.crs is None and grid.crs is not None:
            raise CRSError("grid= has no CRS: give the output grid the CRS of its coordinates")
    dst_crs = None if req.crs is None else as_crs(req.crs)
    if target is not None:
        dst_crs = target.crs
    if dst_crs is not None and grid.crs is None:
        raise CRSError(f"the coverage has no CRS, so it cannot be warped to {crs_label(dst_crs)}")
    warp = (dst_crs is not None and not same_crs(dst_crs, grid.crs)) or req.resolution is not None
    if target is not None:  # a read when it is a piece of the coverage's own lattice, else a warp onto it
        warp = not (same_crs(target.crs, grid.crs) and grid.aligned_with(target) and covers(grid, target))
    if not warp and resampling != "nearest":
        raise InputError("resampling applies to a warp: give crs= (--crs) or resolution= (--resolution) too")
    out_crs = dst_crs if warp and dst_crs is not None else grid.crs
    if req.per_tile and warp:
        raise InputError(
            "per_tile writes the coverage's own tiles, which a warp does not keep: drop crs=/resolution= "
            "(--crs/--resolution), or per_tile"
        )
    sidecar_prj = None
    if path is not None and not zipped and not req.per_tile and fmt.key == "aaigrid" and out_crs is not None:
        sidecar_prj = os.path.splitext(path)[0] + ".prj"
    if path is not None:
        check_target(path, overwrite=overwrite)
    if sidecar_prj:
        check_target(sidecar_prj, overwrite=overwrite)

    # ---- the piece: a window of the coverage's grid (the grid's one rule), and the geometry that masks it
    clip, clip_crs = _clip_geometry(req)
    geom = None
    if clip is not None:
        geom = prepare_clip(
            clip, clip_crs, grid.crs, buffer=req.buffer, envelope=req.envelope, segments=req.buffer_segments
        )
    elif req.buffer or req.envelope:
        raise InputError("buffer and envelope apply to a clip geometry: give clip= (--clip) too")
    bounds = None if req.bbox is None else bbox_in_crs(req.bbox, req.bbox_crs, grid.crs)
    if target is not None:  # the source pixels under the output grid; a clip masks it, never crops it
        bounds = bbox_in_crs(target.bounds, target.crs, grid.crs)
        window = piece_window(grid, bounds, None)
    else:
        window = piece_window(grid, bounds, geom, check_crop(req.crop))

    # ---- the output grid: the piece itself, or its warp
    notes: list[str] = []
    geom_out = geom
    if warp:
        if target is not None:
            out_grid = target
        else:
            out_grid = warp_grid(grid, window, None if geom is None else geom.bounds, dst_crs, req.resolution)
        if geom is not None and not same_crs(out_grid.crs, grid.crs):
            geom_out = reproject_geometry(geom, grid.crs, out_grid.crs, step=min(grid.res))
        rx, ry = out_grid.res
        notes.append(f"warped from {crs_label(grid.crs)} to {crs_label(out_grid.crs)} at {rx:g}x{ry:g} ({resampling})")
    else:
        out_grid = grid.subgrid(window)
    fmt.check_layout(len(band_list), rectilinear=out_grid.is_rectilinear)
    if not req.per_tile:  # each tile's own size is checked when it is written
        fmt.check_size(out_grid.width, out_grid.height)
    size = out_grid.width * out_grid.height * len(band_list)
    limit = MAX_FILE_PIXELS if req.max_pixels is None else req.max_pixels
    if size > limit:  # one file: by default what one file can sensibly hold (rastercover.engine.limits)
        raise TooLargeError(
            f"the export would be {out_grid.width}x{out_grid.height} px x {len(band_list)} band(s) = "
            f"{count_text(size)} pixels, over the limit of {count_text(limit)}"
            + (" for one file" if req.max_pixels is None else "")
            + ": ask for a smaller bbox or clip, fewer bands or a coarser resolution"
            + (", or raise max_pixels= / --max-pixels" if req.max_pixels is None else "")
        )

    # ---- pixel types and nodata: the coverage's (work), then the output's
    # a warp whose every output pixel centre falls on a source pixel has no pixel without data: no nodata invented
    uncovered = warp and not covers(grid, out_grid)
    masks = "outside the clip" if geom is not None else ("without data" if uncovered else None)
    if masks is None and not grid.has_every_tile(window):
        masks = "in the tiles the coverage lacks"
    work_dtype, work_nodata, out_dtype, out_nodata = pixel_types(
        cov.dtype, cov_nodata, dtype_asked, nodata_asked, masks=masks, default_float_nodata=DEFAULT_FLOAT_NODATA,
        notes=notes,
    )  # fmt: skip
    if req.per_tile:
        allowed = fmt.allowed_dtypes(len(band_list))
        if allowed is not None and out_dtype.name not in allowed:
            raise InputError(
                f"{fmt.key} cannot hold {out_dtype.name} pixels, and per_tile writes every tile with one pixel "
                f"type: give dtype= (--dtype) one of {', '.join(allowed)}"
            )
    names = tuple(cov.band_names[b - 1] if b - 1 < len(cov.band_names) else "" for b in band_list)
    classes, req = _classes(cov, band_list, fmt, req, warp, out_dtype, notes)
    return ExportPlan(
        cov, req, path, fmt, zipped, sidecar_prj, tuple(band_list), names, window, geom, geom_out, out_grid, warp,
        resampling, work_dtype, work_nodata, out_dtype, out_nodata, tuple(notes), classes,
    )  # fmt: skip


#: Resamplings whose every output pixel is one of the source's values, so a class name still names it right.
_VALUE_RESAMPLINGS = frozenset({"nearest", "mode", "min", "max"})


def _classes(
    cov: Any, bands: Sequence[int], fmt: Format, req: _Request, warp: bool, dtype: np.dtype, notes: list[str]
) -> tuple[tuple[dict[float, str] | None, ...], _Request]:
    """The class names of the exported bands that the output keeps, per output band (``()``: none), and the
    request, with COG overviews by nearest neighbour when it keeps some and asked for no overview resampling.

    They go where the format keeps them (:attr:`Format.keeps_class_names`), when every pixel (of the overviews
    too) is still a value of the source: no warp, or a resampling that picks source values. What is dropped is
    said in ``notes``; the output's type and nodata drop more when the file is written (:func:`stored_classes`).
    """
    tables = getattr(cov, "class_tables", None)
    picked = tuple(tables[b - 1] if tables and b - 1 < len(tables) else None for b in bands)
    if not any(picked):
        return (), req
    if not fmt.keeps_class_names:
        notes.append(f"class names not kept: {fmt.key} has no place for them (gtiff, cog and aaigrid keep them)")
        return (), req
    if warp and req.resampling not in _VALUE_RESAMPLINGS:
        notes.append(f"class names not kept: {req.resampling} resampling makes values that are no class")
        return (), req
    if fmt.key == "cog":
        if req.overview_resampling is None:
            req = dataclasses.replace(req, overview_resampling="nearest")
        elif req.overview_resampling.lower() not in _VALUE_RESAMPLINGS:
            notes.append(f"class names not kept: overviews by {req.overview_resampling.lower()} make values that are "
                         "no class (overview_resampling nearest or mode keeps them)")  # fmt: skip
            return (), req
    return stored_classes(picked, dtype, None, notes), req


def stored_classes(
    tables: Sequence[dict[float, str] | None], dtype: np.dtype, nodata: float | None, notes: list[str] | None = None
) -> tuple[dict[float, str] | None, ...]:
    """``tables`` as a ``dtype`` band with ``nodata`` stores them: a class keeps its name only where no other
    pixel can take its value. A class whose value the type changes (rounded as :class:`~rastercover.pixel_values.
    Cast` rounds, or out of range) is dropped, and so is the class whose value it lands on (its pixels would then
    hold two classes); so is a class stored as the nodata value. What is dropped is said in ``notes``.

    Examples
    --------
    >>> stored_classes([{1.0: "a", 2.0: "b", 2.6: "c", 300.0: "d"}, None], np.dtype("uint8"), 0.0)
    ({1.0: 'a', 2.0: 'b'}, None)
    >>> stored_classes([{2.0: "b", 2.6: "c", 3.0: "x"}], np.dtype("int16"), 2.0)
    (None,)
    """
    kept: list[dict[float, str] | None] = []
    for table in tables:
        if not table:
            kept.append(None)
            continue
        values = np.array(sorted(table), dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            if dtype.kind in "iu":
                info = np.iinfo(dtype)
                stored = round_half_away(values)  # as Cast rounds
                stored[(stored < info.min) | (stored > info.max)] = np.nan
            else:
                stored = values.astype(dtype).astype(np.float64)
        moved = stored != values  # NaN (out of range) included
        lost = set(values[moved]) | {v for v, s in zip(values, stored, strict=True) if s in set(stored[moved])}
        on_nodata = set() if nodata is None else set(values[stored == nodata])
        keep = {float(v): table[float(v)] for v in values if v not in lost and v not in on_nodata}
        kept.append(keep or None)
        if notes is not None and lost:
            shown = ", ".join(f"{v:g}" for v in sorted(lost))
            notes.append(f"class names of value(s) {shown} not kept: a {dtype.name} band does not tell them apart")
        if notes is not None and on_nodata - lost:
            shown = ", ".join(f"{v:g}" for v in sorted(on_nodata - lost))
            notes.append(f"class names of value(s) {shown} not kept: stored as the nodata value {nodata:g}")
    return tuple(kept)


def run_export(
    plan: ExportPlan,
    *,
    member_stem: str | None = None,
    progress: Callable[[int], None] | None = None,
    class_names: bool = True,
) -> ExportResult:
    """Write an :class:`ExportPlan`: read the piece chunk by chunk, encode it, deliver it under its final name.

    ``member_stem`` names the files inside a zip (default: the zip's own name). ``progress`` is called with 1
    after each chunk written (``plan.steps`` in all). ``class_names=False`` writes no class names beside the
    file (a download of the file alone, which cannot carry them). Nothing is left under the final name unless
    the whole output was written.
    """
    if plan.path is None:
        raise InputError("this export plan has no output: plan it with an output path")
    if plan.request.per_tile:
        return _run_per_tile(plan, progress, member_stem or coverage_name(plan.coverage))
    cov, req, fmt, path, out_grid = plan.coverage, plan.request, plan.fmt, plan.path, plan.out_grid
    band_list = list(plan.bands)
    notes = list(plan.notes)
    geom, geom_out = plan.geom, plan.geom_out
    if geom_out is not None:
        shapely.prepare(geom_out)
    work_dtype, work_nodata, out_dtype, out_nodata = plan.work_dtype, plan.work_nodata, plan.out_dtype, plan.out_nodata
    cast = Cast(work_dtype, work_nodata, out_dtype, out_nodata)
    stem, data_ext = member_names(path, fmt, plan.zipped)
    if plan.zipped and member_stem:
        stem = member_stem

    tmpdir = temporary_sibling(path)
    os.mkdir(tmpdir)
    try:
        work = os.path.join(tmpdir, stem + (data_ext if fmt.key == "gtiff" else ".work.tif"))
        allowed = fmt.allowed_dtypes(len(band_list))
        stats = ValueStats() if allowed is not None and out_dtype.name not in allowed else None
        grid, window = cov.grid, plan.window
        hits = [0]  # valid pixels equal to a nodata value chosen here (source_chunks)
        if plan.warp:
            chunks = warped_chunks(
                cov, grid, window, out_grid, band_list, geom_out, req.all_touched, work_dtype, work_nodata,
                plan.resampling,
            )  # fmt: skip
        else:
            chosen = work_nodata is not None and _bands_nodata(cov, band_list) is None  # not the coverage's own
            chunks = source_chunks(
                cov, grid, window, band_list, geom, req.all_touched, work_dtype, work_nodata, hits if chosen else None
            )  # fmt: skip
        if progress is not None:
            chunks = _reporting(chunks, progress)
        kept = write_chunks(work, out_grid, list(plan.band_names), chunks, cast, stats, what=path)
        if geom is not None and kept == 0:
            if not geom.intersects(shapely.Polygon(grid.corners())):
                raise InputError(
                    f"the clip {fmt_bounds(geom.bounds)} does not meet the coverage, whose bounds are "
                    f"{fmt_bounds(grid.bounds)} ({crs_label(grid.crs)})"
                )
            raise InputError(
                "the clip covers no pixel centre of the coverage: pass all_touched=True (--all-touched) or a buffer"
            )
        if hits[0]:
            notes.append(
                f"{hits[0]} pixel(s) of the coverage hold {work_nodata:g}, the nodata value chosen for the pixels it "
                "masks, and will read as nodata: give nodata= (--nodata) a value the data does not use"
            )
        if cast.rounded:
            notes.append(
                f"{cast.rounded} pixel(s) changed value: {out_dtype.name} holds integers exactly only up to "
                f"{2 ** (np.finfo(out_dtype).nmant + 1)}; keep {work_dtype.name} or use float64 (--dtype)"
            )
        if cast.collisions:
            notes.append(
                f"{cast.collisions} valid pixel(s) equal the nodata value {out_nodata:g} and will read as nodata"
            )
        dtype, nodata = out_dtype, out_nodata
        if stats is not None:
            work, dtype, nodata = fit_format(
                fmt, work, tmpdir, stem, stats, dtype, nodata, len(band_list), notes, what=path
            )
        if not fmt.holds_nodata and nodata is not None:
            notes.append(f"{fmt.key} declares no nodata: pixels without data are written as {nodata:g}")
        if fmt.lossy:
            notes.append(f"{fmt.key} is lossy: values change slightly; use png or gtiff for exact values")
        main = os.path.join(tmpdir, stem + data_ext)
        if fmt.key != "gtiff":
            import rasterio.shutil

            options = creation_options(fmt, dtype, out_grid, req.overview_resampling)
            rasterio.shutil.copy(work, main, driver=fmt.driver, **options)
            verify_copy(work, main, path, write_path=tmpdir, values=not fmt.lossy)  # the driver may not say
            discard(work)
        # the class names in PATH.aux.xml (merged into the one a driver may write), beside the file or in the zip
        wanted = bool(plan.classes) and (class_names or plan.zipped)
        classes = stored_classes(plan.classes, np.dtype(dtype), nodata, notes) if wanted else ()
        named = any(classes) and add_class_tables(main, classes) is not None  # with what the driver wrote there
        files, members = deliver(
            fmt, main, tmpdir, stem, path, out_grid, plan.zipped, plan.sidecar_prj, nodata=nodata, side_file=named
        )
    except (OSError, *gdal_errors()) as exc:
        err = write_error(path, exc, tmpdir)  # before discarding: the free space the write met
        discard(tmpdir)
        gdal_own = not isinstance(exc, OSError) and os_error_of(exc) is None and not is_io_failure(str(exc))
        if gdal_own and not isinstance(err, NoSpaceError):
            err = OutputError(f"{path}: GDAL could not write it as {fmt.key} ({first_line(exc)})")  # its reason
        raise err from None
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


# ---------------------------------------------------------------------- one file per tile
#: Formats whose bare file carries no georeferencing: not written per tile.
_NOT_PER_TILE = frozenset({"png", "jpeg", "xyz"})


def _per_tile_output(output: str, fmt: Format | None) -> tuple[str, Format, bool]:
    """Where a per-tile export goes: ``(path, format, zipped)``: a ``.zip``, or the folder ``output`` (made; an
    existing one is replaced with ``overwrite``, as a tile folder output of ``rasterize``)."""
    fmt = fmt or get_format("gtiff")
    if fmt.key in _NOT_PER_TILE:
        raise InputError(
            f"per_tile writes bare {fmt.key} files, which would lose their position (GDAL reads it from sidecars "
            "of a single file only): use gtiff, cog, aaigrid, netcdf or gpkg tiles, or export one file"
        )
    if output.lower().endswith(".zip"):
        return output, fmt, True
    if os.path.splitext(output)[1].lower() in fmt.extensions:
        raise InputError(
            f"{output}: per_tile writes one file per tile into a folder or a .zip; name a folder (or X.zip)"
        )
    return output, fmt, False


def _tile_plans(plan: ExportPlan, folder: str, base: str) -> Iterator[ExportPlan | None]:
    """A plan per storage tile the piece meets and the clip keeps a pixel of, writing ``folder/<tile><ext>``;
    None for a tile the clip keeps nothing of (so that every tile is a step of the progress).

    A tile is named for its place in the coverage's layout (``r{row}_c{col}``) or, in a PostGIS raster table,
    for its row (``rid{rid}``). Each plan is the whole export's plan cut to the tile: same pixels, same mask.
    """
    import dataclasses

    from .ops.mosaic import clip_mask, is_areal
    from .ops.piece import geometry_window

    cov, req, grid = plan.coverage, plan.request, plan.coverage.grid
    geom = plan.geom
    if geom is not None:
        shapely.prepare(geom)
    centres_only = geom is not None and not req.all_touched and is_areal(geom)
    anchor = None if geom is None else geometry_window(grid, geom)
    ids = getattr(cov, "tile_ids", None) or {}
    sub_req = dataclasses.replace(req, per_tile=False)
    for tile in grid.tiles(plan.window):
        window = tile.window.intersection(plan.window)
        if window is None:
            yield None
            continue
        if geom is not None:
            keep = clip_mask(geom, grid, window, req.all_touched, centres_only, anchor)
            if keep is False or (keep is not True and not keep.any()):
                yield None
                continue
        label = f"rid{ids[tile.index]}" if tile.index in ids else tile.name
        stem = f"{base}_{label}"
        path = os.path.join(folder, stem + plan.fmt.extension)
        prj = os.path.join(folder, stem + ".prj") if plan.fmt.key == "aaigrid" and grid.crs is not None else None
        yield dataclasses.replace(
            plan, request=sub_req, path=path, zipped=False, sidecar_prj=prj, window=window,
            out_grid=grid.subgrid(window),
        )  # fmt: skip


def _run_per_tile(plan: ExportPlan, progress: Callable[[int], None] | None, base: str) -> ExportResult:
    """Write each tile the piece meets as its own file ``<base>_<tile>``, into a folder or a zip; all or
    nothing."""
    from .io.atomic import commit

    path = plan.path
    assert path is not None
    tmp = temporary_sibling(path)
    os.mkdir(tmp)
    files: list[str] = []
    notes: set[str] = set()
    result: ExportResult | None = None
    try:
        for sub in _tile_plans(plan, tmp, base):
            if sub is not None:
                result = run_export(sub)
                files.extend(result.files)
                notes.update(result.notes)
            if progress is not None:
                progress(1)
        if result is None:
            raise InputError(
                "the clip keeps no pixel of any tile: pass all_touched=True (--all-touched) or a buffer"
                if plan.geom is not None
                else "the piece meets no tile of the coverage (a sparse coverage's missing tiles are not written)"
            )
        names = tuple(sorted(os.path.relpath(f, tmp) for f in files))
        if plan.zipped:
            packed = tmp + ".zip"
            try:
                write_zip(packed, {name: os.path.join(tmp, name) for name in names})
                commit(packed, path)
            except BaseException:
                discard(packed)
                raise
            out_files: tuple[str, ...] = (path,)
            members = names
        else:
            commit(tmp, path)
            out_files = (path, *(os.path.join(path, n) for n in names))
            members = ()
    except (OSError, *gdal_errors()) as exc:
        err = write_error(path, exc, tmp)
        discard(tmp)
        raise err from None
    except BaseException:
        discard(tmp)
        raise
    discard(tmp)
    n = len([f for f in names if f.endswith(plan.fmt.extension)])
    return ExportResult(
        path=path,
        format=plan.fmt.key,
        width=plan.out_grid.width,
        height=plan.out_grid.height,
        bands=plan.bands,
        dtype=result.dtype,
        nodata=result.nodata,
        crs=plan.out_grid.crs,
        transform=plan.out_grid.transform,
        files=out_files,
        members=members,
        notes=(f"{n} tile file(s), one per tile of the coverage the piece meets", *sorted(notes)),
    )


def _reporting(chunks: Iterator[Chunk], progress: Callable[[int], None]) -> Iterator[Chunk]:
    for chunk in chunks:
        yield chunk
        progress(1)


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
    buffer_segments: int = 8,
    envelope: bool = False,
    clip_footprint: str = "extent",
    crop: str = "bounds",
    all_touched: bool = False,
    per_tile: bool = False,
    bands: Sequence[int] | str | int | None = None,
    crs: Any = None,
    resolution: Any = None,
    grid: Grid | None = None,
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
        A raster is a clip layer too (:mod:`rastercover.io.clip_raster`): a PostGIS raster table (``clip_id`` is
        the ``rid``), a tile folder (``clip_id`` names a tile file; none: the whole folder) or a raster file
        (no ``clip_id``); the clip is its footprint.
    buffer
        Distance in coverage units applied to the clip (after ``envelope``); negative shrinks.
    buffer_segments
        Segments per quarter circle of the buffer's round corners: 8, as PostGIS's ``ST_Buffer``.
    envelope
        Use the clip's bounding box instead of the clip.
    clip_footprint
        What a raster clip layer stands for: ``"extent"`` (its outline, PostGIS's ``ST_ConvexHull(rast)``,
        which ``envelope`` makes ``ST_Envelope(rast)``) or ``"data"`` (its pixels with data in band 1,
        ``ST_Polygon(rast)``).
    crop
        How the output is cropped to a clip: ``"bounds"``, the clip's bounds snapped outward to the pixel grid
        (``rasterio.mask.mask(..., crop=True)``), or ``"postgis"``, the window PostGIS's ``ST_Clip`` gives
        (:func:`~rastercover.ops.piece.postgis_clip_window`), so that the file equals
        ``ST_Union(ST_Clip(rast, clip))`` in extent too. The pixels kept are the same; only nodata borders
        differ (a column or row more or less). With ``all_touched``, pixels the clip touches beyond PostGIS's
        window are left out, as PostGIS's window does not grow for them.
    all_touched
        Keep every pixel the clip touches, not only those whose centre it contains.
    per_tile
        Write each storage tile of the coverage that the piece meets (and the clip keeps a pixel of) as its own
        file, named ``<coverage>_r{row}_c{col}`` (``<coverage>_rid{rid}`` for a PostGIS table's rows), into the
        folder ``output`` (replaced with ``overwrite``) or a ``.zip``. The tiles hold exactly the pixels of the
        single-file export, all with one pixel type. Not with a warp, nor as png, jpeg or xyz (a bare file of
        those has no position).
    bands
        1-based band numbers (``[1, 3]`` or ``"1,3"``); all by default.
    grid
        Deliver exactly this output grid (a :class:`~rastercover.grid.Grid`: extent, size and CRS), e.g. a WCS
        request's: a read of the coverage's own pixels when it is a piece of the coverage's lattice, else a warp
        onto it with ``resampling``. Not with ``crs``, ``resolution`` or ``bbox``.
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
        more than this many pixels, bands included (a server's limit). Default:
        :data:`~rastercover.engine.limits.MAX_FILE_PIXELS` (``2**36``, about 6.9e10), what one file can
        sensibly hold.
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
    plan = plan_export(
        coverage,
        output,
        overwrite=overwrite,
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
        buffer_segments=buffer_segments,
        envelope=envelope,
        clip_footprint=clip_footprint,
        crop=crop,
        all_touched=all_touched,
        per_tile=per_tile,
        bands=bands,
        crs=crs,
        resolution=resolution,
        grid=grid,
        resampling=resampling,
        dtype=dtype,
        nodata=nodata,
        max_pixels=max_pixels,
        overview_resampling=overview_resampling,
    )
    return run_export(plan)


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
    if req.per_tile:
        if zipped is False:
            raise InputError("per_tile files are delivered as one zip: drop zipped=False")
        zipped = True
    zipped = fmt.zip_default if zipped is None else bool(zipped)
    if fmt.zip_default and not zipped:
        raise InputError(f"{fmt.key} is delivered as a zip (the data file alone would lose its CRS)")
    ext = ".zip" if zipped else fmt.extension
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") if name else coverage_name(cov)
    stem = f"{base or 'coverage'}{what(req)}"
    filename = f"{stem}{'_tiles' if req.per_tile else ''}{ext}"
    fd, path = tempfile.mkstemp(prefix="rastercover-", suffix=ext, dir=dir)
    os.close(fd)
    try:
        plan = plan_export(cov, path, overwrite=True, format=format, **options)
        run_export(plan, member_stem=stem, class_names=zipped)  # a lone file cannot carry them
    except BaseException:
        discard(path)
        raise
    return ExportedFile(path, filename, fmt.media_type_of(filename))
