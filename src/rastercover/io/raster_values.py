"""One raster value of a query's row, decoded: its pixels and georeferencing, whatever form the driver gave it in.

A raster column's value can be

- the ``raster`` type itself: its hex WKB text (psycopg, Django), or a GeoAlchemy2 ``RasterElement`` wrapping it;
- the bytea of ``ST_AsBinary(rast)``: raster WKB bytes (or that WKB as hex bytes);
- a GDAL-encoded raster (``ST_AsGDALRaster``, ``ST_AsTIFF``: any format GDAL reads with its georeferencing).

They are told apart by their content (the raster WKB header, or a file's own signature), never by the column's
type, and decoded in Python: raster WKB by :mod:`rastercover.io.wkb_raster`, GDAL bytes by rasterio. NULL and
empty rasters decode to None; anything else is refused with a :class:`~rastercover.errors.SourceError` that says
what the column holds and what to select instead.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> from rastercover.io.wkb_raster import encode_raster
>>> wkb = encode_raster(np.array([[1, 2, 3], [4, 5, 6]], "uint8"), Affine(10, 0, 0, 0, -10, 20), 32198, 0)
>>> r = decode_raster_value(wkb.hex().upper(), row=1)        # what psycopg gives for SELECT rast
>>> (r.count, r.height, r.width), r.types, r.nodata, r.crs_text
((1, 2, 3), ('8BUI',), (0.0,), 'SRID 32198')
>>> r.data[0].tolist()
[[1, 2, 3], [4, 5, 6]]
>>> decode_raster_value(None, row=2) is None                  # NULL
True
>>> decode_raster_value(42, row=3)                            # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rastercover.errors.SourceError: row 3: the raster column holds a value of type int (42), not a raster: ...
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
from affine import Affine

from ..crs import CRS, as_crs, crs_label
from ..errors import InputError, SourceError
from .wkb_raster import WkbRasterError, decode_raster, pixel_type_of

__all__ = ["DecodedRaster", "decode_raster_value"]


class DecodedRaster:
    """One decoded raster of a query: pixels (bands, height, width) or the file holding them, and its header.

    Parameters
    ----------
    row
        1-based row number of the query (for messages).
    data
        The pixels, shaped (bands, height, width).
    transform
        The pixel-to-CRS geotransform.
    srid
        The raster WKB's SRID; None for a GDAL-encoded raster, whose ``crs`` is the CRS it carries.
    crs
        The CRS of a GDAL-encoded raster (None for raster WKB, whose CRS is its SRID's).
    nodata, types, names
        Per band: the nodata value (None when none), the PostGIS pixel type (``8BUI``...) and the description
        (PostGIS bands have none: "").

    Notes
    -----
    Whoever keeps the raster may move its pixels to a ``.npy`` file: ``path`` then names it and ``data`` is
    None. ``col`` and ``row_px`` hold its pixel offset on a mosaic's lattice (0, 0 until placed).

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> r = DecodedRaster(1, np.zeros((2, 3, 4), "int16"), Affine(1, 0, 0, 0, -1, 0), 4326, None,
    ...                   (None, -1.0), ("16BSI", "16BSI"), ("", ""))
    >>> r.count, r.height, r.width, r.dtype, r.crs_text
    (2, 3, 4, dtype('int16'), 'SRID 4326')
    """

    def __init__(
        self,
        row: int,
        data: np.ndarray,
        transform: Affine,
        srid: int | None,
        crs: CRS | None,
        nodata: tuple[float | None, ...],
        types: tuple[str, ...],
        names: tuple[str, ...],
    ) -> None:
        self.row = row  # 1-based row number of the query
        self.data: np.ndarray | None = data  # None once spilled to ``path``
        self.path: str | None = None
        self.count, self.height, self.width = (int(v) for v in data.shape)
        self.dtype = data.dtype
        self.transform = transform
        self.srid = srid  # raster WKB: its SRID; GDAL-encoded: None, and ``crs`` the CRS it carries
        self.crs = crs
        self.nodata = nodata
        self.types = types
        self.names = names
        self.col = self.row_px = 0  # pixel offset on the first raster's lattice

    @property
    def crs_text(self) -> str:
        """The raster's SRID or CRS, for messages (``SRID 32198``, a CRS's label, ``no CRS``)."""
        if self.srid is not None:
            return f"SRID {self.srid}"
        return crs_label(self.crs) if self.crs is not None else "no CRS"


_GDAL_SIGNATURES = (
    (b"II*\x00", "GTiff"),
    (b"MM\x00*", "GTiff"),
    (b"II+\x00", "GTiff"),
    (b"MM\x00+", "GTiff"),
    (b"\x89PNG", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"ncols", "AAIGrid"),
    (b"CDF", "netCDF"),
    (b"\x89HDF", "netCDF"),
    (b"SQLite format 3", "GPKG"),
)
_HEX = re.compile(rb"[0-9A-Fa-f]*")


def _is_wkb(buf: bytes | bytearray | memoryview) -> bool:
    """The raster WKB header: an endianness byte (0 or 1), then version 0 (two zero bytes)."""
    return len(buf) >= 5 and buf[0] in (0, 1) and buf[1] == 0 and buf[2] == 0


def _is_hex_wkb(text: str | bytes) -> bool:
    head = text[:6]
    if isinstance(head, bytes):
        head = head.decode("latin-1")
    return head.upper() in ("010000", "000000") and len(text) % 2 == 0


def _describe_value(value: Any) -> str:
    text = repr(value)
    return f"a value of type {type(value).__name__} ({text[:40] + '...' if len(text) > 40 else text})"


def decode_raster_value(value: Any, row: int) -> DecodedRaster | None:
    """Decode one value of a query's raster column.

    Parameters
    ----------
    value
        The raster type's hex WKB text, a GeoAlchemy2 ``RasterElement`` (anything whose ``data`` is such text or
        bytes), raster WKB bytes (``ST_AsBinary(rast)``), or GDAL-encoded bytes (``ST_AsTIFF(rast)``...);
        ``None`` for NULL.
    row
        The value's 1-based row number, for messages.

    Returns
    -------
    DecodedRaster or None
        None for NULL and for an empty raster (no pixel).

    Raises
    ------
    SourceError
        The value is not a raster (the message says what it is), or a raster that cannot be decoded.

    Examples
    --------
    >>> decode_raster_value(b"GIF89a not really", row=4)                  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rastercover.errors.SourceError: row 4: the GIF raster (17 bytes) cannot be read: ...
    """
    if value is None:
        return None
    if not isinstance(value, str | bytes | bytearray | memoryview):
        inner = getattr(value, "data", None)  # GeoAlchemy2's RasterElement (and kin) wrap the hex WKB
        if isinstance(inner, str | bytes | bytearray | memoryview):
            value = inner
        else:
            raise SourceError(
                f"row {row}: the raster column holds {_describe_value(value)}, not a raster: select a raster "
                "(rast, ST_AsBinary(rast) or ST_AsGDALRaster(rast, ...))"
            )
    if isinstance(value, str):
        text = value.strip()
        if not _is_hex_wkb(text):
            raise SourceError(
                f"row {row}: the raster column holds text that is not a raster's hex WKB "
                f"({text[:24]!r}...): select a raster (rast, ST_AsBinary(rast) or ST_AsGDALRaster(rast, ...))"
            )
        return _from_wkb(text, row)
    if _is_wkb(value):
        return _from_wkb(value, row)
    head = bytes(value[:16])
    if _is_hex_wkb(head) and _HEX.fullmatch(bytes(value)):
        return _from_wkb(bytes(value).decode("ascii"), row)
    return _from_gdal(value, row)


def _from_wkb(buf: Any, row: int) -> DecodedRaster | None:
    try:
        tile = decode_raster(buf)
    except WkbRasterError as exc:
        raise SourceError(f"row {row}: {exc}") from None
    if tile.width == 0 or tile.height == 0:
        return None  # an empty raster (ST_MakeEmptyRaster, a clip that kept nothing): no pixel to give
    names = ("",) * tile.count
    return DecodedRaster(row, tile.data, tile.transform, int(tile.srid), None, tile.nodata, tile.pixel_types, names)


def _from_gdal(value: bytes | bytearray | memoryview, row: int) -> DecodedRaster:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    from rasterio.io import MemoryFile

    head = bytes(value[:16])
    label = next((name for sig, name in _GDAL_SIGNATURES if head.startswith(sig)), None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.Env(), MemoryFile(bytes(value)) as mem, mem.open() as ds:
                driver = ds.driver
                if ds.count == 0:
                    raise SourceError(f"row {row}: the {driver} raster has no band")
                if ds.crs is None and ds.transform.is_identity:
                    raise SourceError(
                        f"row {row}: the {driver} raster has no georeferencing (ST_AsPNG and ST_AsJPEG drop it): "
                        "select the raster itself (rast), ST_AsBinary(rast) or ST_AsTIFF(rast)"
                    )
                data = ds.read()
                transform = ds.transform
                crs = as_crs(ds.crs) if ds.crs is not None else None
                nodata = tuple(None if v is None else float(v) for v in ds.nodatavals)
                names = tuple(d or "" for d in ds.descriptions)
    except RasterioError as exc:
        what = f"{len(value)} bytes"
        if label is None:
            raise SourceError(
                f"row {row}: the raster column holds {what} that are neither PostGIS raster WKB nor a raster GDAL "
                f"reads (they start with {head[:8]!r}): select a raster (rast, ST_AsBinary(rast) or ST_AsTIFF(rast))"
            ) from None
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f"row {row}: the {label} raster ({what}) cannot be read: {reason}") from None
    try:
        label = pixel_type_of(data.dtype)
    except InputError:
        label = data.dtype.name
    return DecodedRaster(row, data, transform, None, crs, nodata, (label,) * data.shape[0], names)
