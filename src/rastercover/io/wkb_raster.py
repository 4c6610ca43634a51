"""PostGIS raster WKB: decode and encode the bytes of ``ST_AsBinary(rast)`` with numpy, no GDAL, no loops per pixel.

The format (PostGIS ``raster/doc/RFC2-WellKnownBinaryFormat``, and ``rt_wkb.c`` which is what PostGIS really
does) is a 61-byte header, then each band::

    header  endian uint8 (1 little/NDR, 0 big/XDR), version uint16 (0), nBands uint16,
            scaleX, scaleY, ipX, ipY, skewX, skewY float64, srid int32, width uint16, height uint16
    band    flags uint8: 0x80 out-db, 0x40 has nodata, 0x20 all pixels are nodata, low 4 bits pixel type
            nodata in the pixel type's size (1BB, 2BUI and 4BUI take one byte)
            in-db:  width*height pixels of the pixel type, row after row (sub-byte types one byte each)
            out-db: int8 band number in the file (0-based), then the file path, NUL-terminated

The geotransform is ``Affine(scaleX, skewX, ipX, skewY, scaleY, ipY)``.

Facts that the RFC does not tell, checked against PostGIS 3.3:

- Pixel type codes skip 9 (32BF is 10, 64BF is 11); newer PostGIS releases use 9 for 16BF (float16).
- PostGIS trusts the all-nodata flag (0x20): when it is set, ``ST_Value`` returns NULL for every pixel whatever
  the pixel bytes hold, so :func:`encode_raster` never sets it and :func:`decode_raster` fills such a band with
  its nodata value. ``ST_AddBand`` sets it when the initial value equals the nodata value.
- PostGIS rejects a 1BB, 2BUI or 4BUI pixel above the type's maximum, and keeps only the low bits of their nodata.
- ``ST_AsBinary`` writes the server's byte order (little-endian on every common machine); the text form of the
  ``raster`` type (what psycopg returns for ``SELECT rast``) is the same bytes in upper-case hex.
- ``ST_AsBinary(rast, TRUE)`` makes PostGIS read out-db bands and send their pixels in-db.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> wkb = encode_raster(np.arange(6, dtype="int16").reshape(2, 3), Affine(10, 0, 500, 0, -10, 900), 32198, -1)
>>> len(wkb), wkb[:1].hex()
(76, '01')
>>> tile = decode_raster(wkb)
>>> tile.pixel_types, tile.nodata, tile.srid, tile.data.shape
(('16BSI',), (-1.0,), 32198, (1, 2, 3))
>>> tile.data[0].tolist()
[[0, 1, 2], [3, 4, 5]]
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from affine import Affine
from numpy.typing import DTypeLike

from ..errors import InputError, SourceError, UnknownOptionError

__all__ = [
    "PIXEL_TYPES",
    "OutDbRasterError",
    "RasterTile",
    "WkbRasterError",
    "decode_raster",
    "decode_rasters",
    "encode_raster",
    "numpy_dtype_of",
    "pixel_type_of",
]

# name -> (code, numpy dtype of the decoded pixels, WKB storage dtype without byte order, maximum for sub-byte)
_TYPES: dict[str, tuple[int, np.dtype, str, int | None]] = {
    "1BB": (0, np.dtype(bool), "u1", 1),
    "2BUI": (1, np.dtype(np.uint8), "u1", 3),
    "4BUI": (2, np.dtype(np.uint8), "u1", 15),
    "8BSI": (3, np.dtype(np.int8), "i1", None),
    "8BUI": (4, np.dtype(np.uint8), "u1", None),
    "16BSI": (5, np.dtype(np.int16), "i2", None),
    "16BUI": (6, np.dtype(np.uint16), "u2", None),
    "32BSI": (7, np.dtype(np.int32), "i4", None),
    "32BUI": (8, np.dtype(np.uint32), "u4", None),
    "16BF": (9, np.dtype(np.float16), "f2", None),
    "32BF": (10, np.dtype(np.float32), "f4", None),
    "64BF": (11, np.dtype(np.float64), "f8", None),
}
_BY_CODE = {code: name for name, (code, *_rest) in _TYPES.items()}
# storage dtype -> (little-endian, big-endian numpy dtypes, struct format of one value)
_FORMATS = {"u1": "B", "i1": "b", "u2": "H", "i2": "h", "u4": "I", "i4": "i", "f2": "e", "f4": "f", "f8": "d"}
_STORE = {s: (np.dtype("<" + s), np.dtype(">" + s), f) for s, f in _FORMATS.items()}

#: The PostGIS pixel type names, in the order of their codes.
PIXEL_TYPES: tuple[str, ...] = tuple(_TYPES)

_OF_DTYPE = {
    np.dtype(bool): "1BB",
    np.dtype(np.int8): "8BSI",
    np.dtype(np.uint8): "8BUI",
    np.dtype(np.int16): "16BSI",
    np.dtype(np.uint16): "16BUI",
    np.dtype(np.int32): "32BSI",
    np.dtype(np.uint32): "32BUI",
    np.dtype(np.float32): "32BF",
    np.dtype(np.float64): "64BF",
}

_OUTDB, _HASNODATA, _ALLNODATA, _PIXTYPE = 0x80, 0x40, 0x20, 0x0F
_HEADER = struct.Struct("<BHHddddddiHH")  # 61 bytes; the decoder swaps "<" for ">" on XDR input
_HEADER_XDR = struct.Struct(">BHHddddddiHH")
_MAX_SIDE = 65535


class WkbRasterError(SourceError):
    """Bytes that are not a valid PostGIS raster WKB (truncated, unknown version or pixel type, bad values)."""


class OutDbRasterError(WkbRasterError):
    """A band of the raster is out-db: its pixels are in a file on the database server, not in the WKB.

    ``band`` is the band number in the raster (1-based), ``path`` the file, ``file_band`` the band number in
    that file (1-based, as ``ST_BandMetaData`` reports it).
    """

    def __init__(self, band: int, path: str, file_band: int) -> None:
        super().__init__(
            f"band {band} of this raster is out-db (file {path}); select ST_AsBinary(rast, TRUE) to have PostGIS "
            "read the file and send the pixels in-db (needs postgis.enable_outdb_rasters on the server)"
        )
        self.band, self.path, self.file_band = band, path, file_band


@dataclass(frozen=True, eq=False)
class RasterTile:
    """One PostGIS raster, decoded: pixels (bands, height, width), geotransform, SRID and per-band metadata.

    ``data`` has the numpy type of the band pixel type (see :func:`numpy_dtype_of`); when bands differ in
    type it has their common type (``np.result_type``), and ``pixel_types`` keeps each band's own.
    ``nodata`` holds each band's nodata value as a float, or None when the band has none.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> t = RasterTile(np.zeros((2, 3, 4), "uint8"), Affine(1, 0, 0, 0, -1, 0), 4326, (None, 0.0), ("8BUI", "8BUI"))
    >>> t.count, t.height, t.width
    (2, 3, 4)
    >>> decode_raster(t.to_wkb()).nodata
    (None, 0.0)
    """

    data: np.ndarray
    transform: Affine
    srid: int
    nodata: tuple[float | None, ...]
    pixel_types: tuple[str, ...]

    @property
    def count(self) -> int:
        """Number of bands."""
        return self.data.shape[0]

    @property
    def height(self) -> int:
        """Number of pixel rows."""
        return self.data.shape[1]

    @property
    def width(self) -> int:
        """Number of pixel columns."""
        return self.data.shape[2]

    def to_wkb(self) -> bytes:
        """Encode back to PostGIS raster WKB, each band in its own pixel type (see :func:`encode_raster`)."""
        return encode_raster(self.data, self.transform, self.srid, self.nodata, self.pixel_types)


def pixel_type_of(dtype: DTypeLike) -> str:
    """The PostGIS pixel type that stores a numpy dtype without loss.

    Parameters
    ----------
    dtype : numpy dtype or anything ``np.dtype`` accepts
        bool, int8, uint8, int16, uint16, int32, uint32, float32 or float64 (any byte order).

    Returns
    -------
    str
        The PostGIS name: ``"1BB"``, ``"8BSI"``, ``"8BUI"``, ``"16BSI"``, ``"16BUI"``, ``"32BSI"``, ``"32BUI"``,
        ``"32BF"`` or ``"64BF"``.

    Raises
    ------
    InputError
        (a ``ValueError``) for 64-bit integers, which PostGIS rasters cannot hold, and other unsupported types.

    Examples
    --------
    >>> pixel_type_of("float32"), pixel_type_of(">i2"), pixel_type_of(bool)
    ('32BF', '16BSI', '1BB')
    """
    dt = np.dtype(dtype)
    name = _OF_DTYPE.get(dt) or _OF_DTYPE.get(dt.newbyteorder("="))
    if name is not None:
        return name
    if dt.kind in "iu" and dt.itemsize == 8:
        raise InputError(
            f"PostGIS rasters have no 64-bit integer type ({dt}): cast the data to int32 (or uint32) if the values "
            "fit, or to float64 (exact up to 2**53), or pass pixel_type= explicitly"
        )
    if dt == np.float16:
        raise InputError(
            "float16 is pixel type 16BF, which only newer PostGIS releases know: cast the data to float32, or pass "
            "pixel_type='16BF' if the server supports it"
        )
    raise InputError(
        f"no PostGIS pixel type for numpy dtype {dt}: use bool, int8, uint8, int16, uint16, int32, uint32, "
        "float32 or float64"
    )


def numpy_dtype_of(pixel_type: str) -> np.dtype:
    """The numpy dtype (native byte order) that :func:`decode_raster` gives a band of a PostGIS pixel type.

    1BB decodes to bool, 2BUI and 4BUI to uint8, 16BF (newer PostGIS) to float16.

    Examples
    --------
    >>> numpy_dtype_of("32BF"), numpy_dtype_of("4bui"), numpy_dtype_of("1BB")
    (dtype('float32'), dtype('uint8'), dtype('bool'))
    """
    return _TYPES[_type_name(pixel_type)][1]


def _type_name(pixel_type: str) -> str:
    name = str(pixel_type).upper()
    if name not in _TYPES:
        raise UnknownOptionError(f"unknown PostGIS pixel type {pixel_type!r}: use one of {', '.join(_TYPES)}")
    return name


# --------------------------------------------------------------------------------------------------- decode


def decode_raster(buf: bytes | bytearray | memoryview | str) -> RasterTile:
    """Decode PostGIS raster WKB (``ST_AsBinary(rast)``, or the hex text of the ``raster`` type) to a tile.

    Both byte orders are read. Pixels are read with ``np.frombuffer`` and copied once into a new writable
    array (bands, height, width). A band whose all-nodata flag is set is filled with its nodata value, since
    that is what PostGIS reports for its pixels.

    Parameters
    ----------
    buf : bytes, bytearray, memoryview or str
        The WKB bytes, or their hexadecimal text (``SELECT rast`` through psycopg gives such a str).

    Returns
    -------
    RasterTile

    Raises
    ------
    OutDbRasterError
        When a band is out-db (its pixels are in a file on the server).
    WkbRasterError
        (a ``ValueError``) when the bytes are not valid raster WKB.

    Examples
    --------
    >>> hexwkb = ("01000001000000000000000040000000000000F0BF000000000000F03F00000000000000400000000000000000"
    ...           "0000000000000000E6100000020001004A0000C07F0000C07F0000803F")
    >>> t = decode_raster(hexwkb)
    >>> tuple(t.transform)[:6], t.srid, t.pixel_types, t.nodata, t.data.tolist()
    ((2.0, 0.0, 1.0, 0.0, -1.0, 2.0), 4326, ('32BF',), (nan,), [[[nan, 1.0]]])
    """
    if isinstance(buf, str):
        try:
            buf = bytes.fromhex(buf)
        except ValueError as e:
            raise WkbRasterError(f"raster hex WKB text is not hexadecimal: {e}") from None
    mv = memoryview(buf).cast("B") if not isinstance(buf, bytes) else buf
    size = len(mv)
    if size < _HEADER.size:
        raise WkbRasterError(f"raster WKB is {size} bytes long, shorter than the {_HEADER.size}-byte header")
    endian = mv[0]
    if endian not in (0, 1):
        raise WkbRasterError(f"raster WKB starts with byte {endian}, not an endianness flag (1 little, 0 big)")
    order = "<" if endian == 1 else ">"
    _, version, nbands, sx, sy, ipx, ipy, skx, sky, srid, width, height = (
        _HEADER if endian == 1 else _HEADER_XDR
    ).unpack_from(mv, 0)
    if version != 0:
        raise WkbRasterError(f"raster WKB version {version} is not supported (only version 0 exists)")
    npix = width * height
    pos = _HEADER.size
    bands: list[np.ndarray] = []
    nodata: list[float | None] = []
    types: list[str] = []
    for i in range(nbands):
        if pos >= size:
            raise WkbRasterError(f"raster WKB ends before band {i + 1} of {nbands}")
        flags = mv[pos]
        code = flags & _PIXTYPE
        name = _BY_CODE.get(code)
        if name is None:
            raise WkbRasterError(f"band {i + 1} of the raster WKB has unknown pixel type code {code}")
        _, _, store, maxval = _TYPES[name]
        little, big, fmt = _STORE[store]
        disk = little if endian == 1 else big
        pos += 1
        if pos + disk.itemsize > size:
            raise WkbRasterError(f"raster WKB ends inside the nodata value of band {i + 1}")
        (nd,) = struct.unpack_from(order + fmt, mv, pos)
        pos += disk.itemsize
        if maxval is not None:
            nd &= maxval
        has_nodata = bool(flags & _HASNODATA)
        if flags & _OUTDB:
            end = bytes(mv[pos + 1 :]).find(b"\0") if pos < size else -1
            if end < 0:
                raise WkbRasterError(f"raster WKB ends inside the out-db file path of band {i + 1}")
            (file_band,) = struct.unpack_from("b", mv, pos)
            file_band += 1
            path = bytes(mv[pos + 1 : pos + 1 + end]).decode("utf-8", "surrogateescape")
            raise OutDbRasterError(i + 1, path, file_band)
        nbytes = npix * disk.itemsize
        if pos + nbytes > size:
            raise WkbRasterError(
                f"raster WKB ends inside the pixels of band {i + 1}: {size - pos} bytes left, {nbytes} needed"
            )
        pixels = np.frombuffer(mv, disk, npix, pos)
        pos += nbytes
        if maxval is not None and npix and int(pixels.max()) > maxval:
            raise WkbRasterError(f"band {i + 1} of the raster WKB has pixel values above {maxval}, the {name} maximum")
        if has_nodata and flags & _ALLNODATA:
            pixels = np.full(npix, nd, disk)
        if name == "1BB":
            pixels = pixels.view(bool)
        bands.append(pixels)
        nodata.append(float(nd) if has_nodata else None)
        types.append(name)
    if pos != size:
        raise WkbRasterError(f"raster WKB has {size - pos} unexpected bytes after its last band")
    if len(types) == 1:
        dtype = _TYPES[types[0]][1]
    else:
        dtype = np.result_type(*(_TYPES[t][1] for t in types)) if types else np.dtype(np.float64)
    data = np.empty((nbands, height, width), dtype)
    for i, pixels in enumerate(bands):
        data[i] = pixels.reshape(height, width)
    return RasterTile(data, Affine(sx, skx, ipx, sky, sy, ipy), srid, tuple(nodata), tuple(types))


def decode_rasters(bufs: Iterable[bytes | bytearray | memoryview | str]) -> list[RasterTile]:
    """Decode many rasters (the rows of ``SELECT ST_AsBinary(rast) ...``); see :func:`decode_raster`.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> wkbs = [encode_raster(np.full((2, 2), v, "uint8"), Affine(1, 0, v, 0, -1, 0), 0, None) for v in (1, 2)]
    >>> [int(t.data.sum()) for t in decode_rasters(wkbs)]
    [4, 8]
    """
    return [decode_raster(b) for b in bufs]


# --------------------------------------------------------------------------------------------------- encode


def encode_raster(
    data: np.ndarray,
    transform: Affine,
    srid: int,
    nodata: float | Sequence[float | None] | None,
    pixel_type: str | Sequence[str] | None = None,
) -> bytes:
    """Encode pixels as PostGIS raster WKB (little-endian), ready for ``ST_RastFromWKB(%s::bytea)``.

    Parameters
    ----------
    data : ndarray
        Pixels (bands, height, width) or (height, width); width and height from 1 to 65535.
    transform : affine.Affine
        Geotransform of the pixel corners: ``Affine(scaleX, skewX, ipX, skewY, scaleY, ipY)``.
    srid : int
        Spatial reference id (0 for unknown).
    nodata : float, None, or one of them per band
        The nodata value, stored in the pixel type (it must be representable in it, NaN only in float types);
        None turns the band's has-nodata flag off (and stores 0).
    pixel_type : str, one str per band, or None
        PostGIS pixel type (``"8BUI"``, ``"32BF"``, ...); None derives it from ``data.dtype`` with
        :func:`pixel_type_of`. Casting to an integer type that cannot hold every value of ``data.dtype``
        checks the values (finite, whole, in range) and raises if one does not fit.

    Returns
    -------
    bytes
        The WKB. The all-nodata flag is never set (PostGIS would then ignore the pixels).

    Raises
    ------
    InputError
        (a ``ValueError``) for a shape, dtype, pixel type, value or nodata that PostGIS cannot store.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> wkb = encode_raster(np.ones((2, 3), "float32"), Affine(0.5, 0, 10, 0, -0.5, 20), 4326, None)
    >>> len(wkb) == 61 + 1 + 4 + 2 * 3 * 4
    True
    >>> encode_raster(np.array([[1.0, 2.5]]), Affine.identity(), 0, None, "8BUI")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rastercover.errors.InputError: band 1: values of data (float64) do not fit PostGIS pixel type 8BUI (0 to 255, ...
    """
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[np.newaxis]
    if data.ndim != 3:
        raise InputError(f"raster data must be (bands, height, width) or (height, width), not shape {data.shape}")
    nbands, height, width = data.shape
    if not (1 <= width <= _MAX_SIDE and 1 <= height <= _MAX_SIDE):
        raise InputError(
            f"a PostGIS raster is 1 to {_MAX_SIDE} pixels wide and high, not {width}x{height}: split it into tiles"
        )
    if nbands > _MAX_SIDE:
        raise InputError(f"a PostGIS raster has at most {_MAX_SIDE} bands, not {nbands}")
    types = _per_band(pixel_type, nbands, "pixel_type")
    nodatas = _per_band(nodata, nbands, "nodata")
    srid = int(srid)
    if not -(2**31) <= srid < 2**31:
        raise InputError(f"SRID {srid} does not fit the 32-bit integer of the raster WKB")
    if not isinstance(transform, Affine):
        transform = Affine(*tuple(transform)[:6])
    a, b, c, d, e, f = transform[:6]
    parts = [_HEADER.pack(1, 0, nbands, a, e, c, f, b, d, srid, width, height)]
    for i in range(nbands):
        name = pixel_type_of(data.dtype) if types[i] is None else _type_name(types[i])
        code, _, store, maxval = _TYPES[name]
        disk, _, fmt = _STORE[store]
        nd = nodatas[i]
        flags = code | (_HASNODATA if nd is not None else 0)
        parts.append(struct.pack("<B" + fmt, flags, _nodata_value(nd, name, disk, maxval, i)))
        parts.append(_band_bytes(data[i], name, disk, maxval, i))
    return b"".join(parts)


def _per_band(value, nbands: int, what: str) -> list:
    if value is None or isinstance(value, (str, int, float, np.generic)):
        return [value] * nbands
    values = list(value)
    if len(values) != nbands:
        raise InputError(f"{what} has {len(values)} values for {nbands} bands: give one, or one per band")
    return values


def _range_text(name: str, disk: np.dtype, maxval: int | None) -> str:
    if disk.kind == "f":
        return ""
    info = np.iinfo(disk)
    return f" ({info.min} to {info.max if maxval is None else maxval}, whole numbers)"


def _nodata_value(nd: float | None, name: str, disk: np.dtype, maxval: int | None, i: int) -> float | int:
    """The nodata value to pack with the struct format of ``disk``, checked to fit the pixel type."""
    if nd is None:
        return 0
    nd = float(nd)
    if disk.kind == "f":
        if math.isfinite(nd) and abs(nd) > float(np.finfo(disk).max):
            raise InputError(f"band {i + 1}: nodata {nd} does not fit PostGIS pixel type {name}")
        return nd
    info = np.iinfo(disk)
    hi = info.max if maxval is None else maxval
    if not (math.isfinite(nd) and nd == int(nd) and info.min <= nd <= hi):
        raise InputError(
            f"band {i + 1}: nodata {nd} does not fit PostGIS pixel type {name}{_range_text(name, disk, maxval)}"
        )
    return int(nd)


def _band_bytes(band: np.ndarray, name: str, disk: np.dtype, maxval: int | None, i: int) -> bytes:
    src = band.dtype
    if src.kind not in "biuf":
        raise InputError(f"band {i + 1}: numpy dtype {src} cannot be stored in a PostGIS raster")
    if disk.kind != "f" and src.kind != "b" and not (maxval is None and np.can_cast(src, disk, "safe")):
        info = np.iinfo(disk)
        hi = info.max if maxval is None else maxval
        if src.kind == "f":
            lo_v, hi_v = np.min(band), np.max(band)  # NaN propagates and fails the range test
            ok = bool(info.min <= lo_v and hi_v <= hi) and bool(np.all(band == np.trunc(band)))
        else:
            ok = bool(int(np.min(band)) >= info.min and int(np.max(band)) <= hi)
        if not ok:
            raise InputError(
                f"band {i + 1}: values of data ({src}) do not fit PostGIS pixel type {name}"
                f"{_range_text(name, disk, maxval)}"
            )
    return band.astype(disk, copy=False).tobytes()
