"""Encode: the chunks written into a GeoTIFF as the output's pixel type says, then converted to the format's
driver with its creation options (and, for a format that cannot hold the values, fitted or byte-scaled).

Examples
--------
>>> from affine import Affine
>>> print(world_file(Affine(10, 0, 100, 0, -10, 50)), end="")
10.0
0.0
0.0
-10.0
105.0
45.0
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from affine import Affine

from ..crs import CRS
from ..errors import InputError
from ..formats import Format
from ..grid import Grid
from ..io.atomic import discard
from ..io.checked import checked_raster, uninterrupted
from ..io.gtiff import gtiff_profile
from ..pixel_values import ByteScale, Cast, ValueStats, fits
from .mosaic import Chunk

__all__ = [
    "convert",
    "creation_options",
    "esri_wkt",
    "fit_format",
    "pam_xml",
    "pixel_types",
    "world_file",
    "write_chunks",
]


def creation_options(fmt: Format, dtype: np.dtype, grid: Grid, overview_resampling: str | None = None) -> dict:
    """GDAL creation options for writing ``grid`` as ``fmt`` with pixels of ``dtype``.

    The text formats (``aaigrid``, ``xyz``) get none: GDAL's own defaults (``%.20g`` for an ASCII grid, 17 or
    18 significant digits, by GDAL version, for XYZ values and coordinates) write every float32 and float64 with
    enough digits that a reader parsing it as float64 (QGIS sets ``AAIGRID_DATATYPE=Float64``) gets the value
    itself, and the XYZ coordinates keep the grid's exact origin. ``SIGNIFICANT_DIGITS=9`` (enough to tell
    float32s apart) wrote ``1762.00562`` for ``1762.005615234375``: 4.8e-6 off for a float64 reader, and XYZ
    coordinates rounded to 9 digits. Integers are written as integers either way.

    Raises
    ------
    InputError
        When the grid is too small for GDAL to read the format back (:meth:`Format.check_size`).

    Examples
    --------
    >>> from affine import Affine
    >>> from rastercover.formats import get_format
    >>> g = Grid(4, 3, Affine(10, 0, 0, 0, -10, 30), "EPSG:32198")
    >>> creation_options(get_format("aaigrid"), np.dtype("float32"), g), creation_options(get_format("jpeg"),
    ...                                                                                    np.dtype("uint8"), g)
    ({}, {'quality': 95, 'internal_mask': 'YES'})
    """
    fmt.check_size(grid.width, grid.height)  # the last stop before encoding (the plan should have refused it)
    if fmt.key == "cog":
        return {
            "compress": "DEFLATE",
            "predictor": "YES",
            "overview_resampling": (overview_resampling or ("average" if dtype.kind == "f" else "nearest")).upper(),
            "blocksize": 512 if min(grid.width, grid.height) >= 512 else 256,
            "bigtiff": "IF_SAFER",
        }
    if fmt.key == "png":
        return {"zlevel": 6}
    if fmt.key == "jpeg":  # the mask: GDAL appends one when band 1 has pixels without data (see verify_copy)
        return {"quality": 95, "internal_mask": "YES"}
    if fmt.key == "netcdf":  # GDAL's history attribute would name the server's temporary file
        return {"format": "NC4", "compress": "DEFLATE", "write_gdal_history": "NO"}
    if fmt.key == "gpkg":  # lossless tiles: GDAL's AUTO picks JPEG for opaque RGB
        return {"tile_format": "TIFF" if dtype.kind == "f" else "PNG"}
    return {}


def world_file(transform: Affine) -> str:
    t = transform
    cx = t.c + t.a / 2 + t.b / 2
    cy = t.f + t.d / 2 + t.e / 2
    return "\n".join(repr(float(v)) for v in (t.a, t.d, t.b, t.e, cx, cy)) + "\n"


def pam_xml(crs: CRS | None, nodata: float | None = None) -> str:
    """A GDAL ``.aux.xml`` (PAM) holding ``crs`` (and the band's ``nodata``), for a file whose driver reads its CRS
    only there (XYZ; GDAL writes its own for PNG and JPEG).

    The SRS carries no axis mapping, so GDAL applies its traditional GIS order (x east, y north), which is the
    grid's.

    Examples
    --------
    >>> print(pam_xml(CRS.from_epsg(4326), nodata=-9999.0))           # doctest: +ELLIPSIS
    <PAMDataset>
      <SRS>GEOGCS["WGS 84",...AUTHORITY["EPSG","4326"]]</SRS>
      <PAMRasterBand band="1">
        <NoDataValue>-9999</NoDataValue>
      </PAMRasterBand>
    </PAMDataset>
    <BLANKLINE>
    """
    from xml.sax.saxutils import escape

    from pyproj.enums import WktVersion

    lines = ["<PAMDataset>"]
    if crs is not None:
        try:
            wkt = crs.to_wkt(WktVersion.WKT1_GDAL)
        except Exception:  # pragma: no cover - pyproj raises for CRSs WKT1 cannot express
            wkt = None
        lines.append(f"  <SRS>{escape(wkt or crs.to_wkt(WktVersion.WKT2_2019))}</SRS>")
    if nodata is not None:
        value = "nan" if np.isnan(nodata) else format(float(nodata), ".17g")
        lines += ['  <PAMRasterBand band="1">', f"    <NoDataValue>{value}</NoDataValue>", "  </PAMRasterBand>"]
    return "\n".join([*lines, "</PAMDataset>"]) + "\n"


def esri_wkt(crs: CRS) -> str:
    from pyproj.enums import WktVersion

    try:
        wkt = crs.to_wkt(WktVersion.WKT1_ESRI)
    except Exception:  # pragma: no cover - pyproj raises for CRSs ESRI WKT cannot express
        wkt = None
    return wkt or crs.to_wkt(WktVersion.WKT1_GDAL)


def convert(
    src: str,
    dst: str,
    dtype: np.dtype,
    nodata: float | None,
    fn: Callable[[np.ndarray], np.ndarray],
    scale: ByteScale | None = None,
    *,
    what: str | None = None,
) -> None:
    """Copy the GeoTIFF ``src`` to ``dst`` as ``dtype``, block by block through ``fn`` (a cast or a scaling);
    a failed write names ``what`` (default ``dst``)."""
    import rasterio

    with rasterio.open(src) as s:
        profile = dict(s.profile)
        profile.update(dtype=dtype.name, nodata=nodata, predictor=3 if dtype.kind == "f" else 2)
        with checked_raster(dst, what, **profile) as d:
            for _, w in s.block_windows(1):
                block = fn(s.read(window=w))
                with uninterrupted():
                    d.write(block, window=w)
            for i, desc in enumerate(s.descriptions, start=1):
                if desc:
                    d.set_band_description(i, desc)
            if scale is not None:
                d.scales = (scale.scale,) * s.count
                d.offsets = (scale.offset,) * s.count


def fit_format(
    fmt: Format,
    work: str,
    tmpdir: str,
    stem: str,
    stats: ValueStats,
    dtype: np.dtype,
    nodata: float | None,
    count: int,
    notes: list[str],
    *,
    what: str | None = None,
) -> tuple[str, np.dtype, float | None]:
    """Convert the work file to a pixel type ``fmt`` holds (exactly, or by JPEG's byte scaling); a failed write
    names ``what``."""
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
    convert(work, converted, target, new_nodata, fn, scale, what=what)
    discard(work)
    notes.append(note)
    return converted, target, new_nodata


def pixel_types(
    dtype: Any,
    nodata: float | None,
    dtype_asked: np.dtype | None,
    nodata_asked: float | None,
    *,
    masks: str | None,
    default_float_nodata: float,
    notes: list[str],
) -> tuple[np.dtype, float | None, np.dtype, float | None]:
    """The pixel types of an export: ``(work dtype, work nodata, output dtype, output nodata)``.

    The work type is the coverage's; its nodata is the coverage's when the type holds it. When pixels must be
    masked (``masks`` says which: "outside the clip", "without data") and the coverage has none, the asked
    nodata, else the integer type's minimum or ``default_float_nodata``. What changed is added to ``notes``.

    Examples
    --------
    >>> notes = []
    >>> pixel_types("int16", None, None, None, masks="outside the clip", default_float_nodata=-9999.0, notes=notes)
    (dtype('int16'), -32768.0, dtype('int16'), -32768.0)
    >>> notes
    ['the coverage declares no nodata: pixels outside the clip are -32768 (the int16 minimum)']
    """
    work_dtype = np.dtype(dtype)
    work_nodata = nodata
    if work_nodata is not None and not fits(work_dtype, work_nodata):
        notes.append(f"the coverage's nodata {work_nodata:g} does not fit {work_dtype.name}; it is ignored")
        work_nodata = None
    if masks is not None and work_nodata is None:
        if nodata_asked is not None and fits(work_dtype, nodata_asked):
            work_nodata = nodata_asked
        else:
            work_nodata = float(np.iinfo(work_dtype).min) if work_dtype.kind in "iu" else default_float_nodata
            kind = f"the {work_dtype.name} minimum" if work_dtype.kind in "iu" else "rastercover's float default"
            notes.append(f"the coverage declares no nodata: pixels {masks} are {work_nodata:g} ({kind})")
    out_dtype = dtype_asked or work_dtype
    out_nodata = nodata_asked if nodata_asked is not None else work_nodata
    if out_nodata is not None and not fits(out_dtype, out_nodata):
        if nodata_asked is not None:
            raise InputError(f"nodata {out_nodata:g} does not fit {out_dtype.name}: give one the type holds")
        raise InputError(
            f"the nodata value {out_nodata:g} does not fit {out_dtype.name}: give one that does (--nodata / nodata=)"
        )
    if out_dtype != work_dtype:
        notes.append(f"{work_dtype.name} values written as {out_dtype.name} (asked)")
    return work_dtype, work_nodata, out_dtype, out_nodata


def write_chunks(
    path: str,
    out_grid: Grid,
    names: list[str],
    chunks: Iterator[Chunk],
    cast: Cast,
    stats: ValueStats | None,
    *,
    what: str | None = None,
) -> int:
    """Write the chunks into the GeoTIFF ``path`` as ``cast`` says; return the pixels kept. A failed write (checked:
    see :mod:`rastercover.io.checked`) names ``what`` (default ``path``)."""
    from rasterio.windows import Window as RioWindow

    profile = gtiff_profile(out_grid, len(names), cast.dst, cast.dst_nodata)
    kept = 0
    with checked_raster(path, what, **profile) as ds:
        for i, n in enumerate(names, start=1):
            if n:
                ds.set_band_description(i, n)
        for rel, data, n_kept in chunks:
            if not cast.identity:
                data = cast(data)
            if stats is not None:
                stats.update(data, cast.dst_nodata)
            with uninterrupted():
                ds.write(data, window=RioWindow(rel.col_off, rel.row_off, rel.width, rel.height))
            kept += n_kept
    return kept
