"""Constant GeoTIFF tiles encoded once by GDAL and copied, with each copy's georeferencing set in place.

A tile folder written with ``extent="full"`` is mostly empty tiles: the same bands of the same constants
(nodata, or 0 for counts and areas) in the same size, differing only in where they lie. Encoding each with
GDAL costs about 2 ms (most of it the CRS's GeoKeys); copying the bytes of one encoded tile costs only the
file's creation. Only the tile's origin differs between those files: GeoTIFF stores it in one tag of the first
image directory, ``ModelTiepointTag`` (33922, six doubles ``I J K X Y Z``, with ``X Y`` the upper-left
corner of a north-up raster) or, for a rotated or sheared grid, ``ModelTransformationTag`` (34264, the
4 × 4 matrix, row-major, with the origin at elements 3 and 7). :class:`ConstantTile` finds that tag (classic
TIFF and BigTIFF, either byte order) and writes the new origin's doubles there (and in the dead copy of the
tag that GDAL leaves when it rewrites a directory, so that a copy equals, byte for byte, the file GDAL would
write for that tile).

It trusts nothing it has not checked: a template is used only when the tag holds exactly the origin GDAL was
given and a copy moved to another origin reads back, through GDAL, with that origin and the same pixels;
otherwise :meth:`ConstantTile.build` returns None and the caller encodes each tile with GDAL.

Examples
--------
>>> import numpy as np, rasterio
>>> from affine import Affine
>>> from rasterio.io import MemoryFile
>>> profile = dict(driver="GTiff", width=4, height=4, count=1, dtype="float32", nodata=-1.0, crs="EPSG:32198",
...                transform=Affine(30, 0, 1000, 0, -30, 2000))
>>> tpl = ConstantTile.build(profile, np.full((1, 4, 4), -1, "float32"))
>>> with MemoryFile(tpl.render(Affine(30, 0, 1120, 0, -30, 1880))) as f, f.open() as ds:
...     ds.transform.c, ds.transform.f, ds.crs.to_epsg(), float(ds.read(1).max())
(1120.0, 1880.0, 32198, -1.0)
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
from affine import Affine

__all__ = ["ConstantTile"]

TIEPOINT, TRANSFORMATION = 33922, 34264
_DOUBLE = 12


def _origin_slots(buf: bytes) -> tuple[str, str, list[int]] | None:
    """``(byte order, tag kind, file offsets of the origin's X and Y doubles)`` in the first IFD, or None."""
    if len(buf) < 16 or buf[:2] not in (b"II", b"MM"):
        return None
    bo = "<" if buf[:2] == b"II" else ">"
    (magic,) = struct.unpack_from(bo + "H", buf, 2)
    if magic == 42:  # classic TIFF: 2-byte entry count, 12-byte entries, 4-byte offsets
        (ifd,) = struct.unpack_from(bo + "I", buf, 4)
        count_fmt, entry_fmt, entry_size, head = "H", "HHII", 12, 2
    elif magic == 43:  # BigTIFF: 8-byte count, 20-byte entries, 8-byte offsets
        (ifd,) = struct.unpack_from(bo + "Q", buf, 8)
        count_fmt, entry_fmt, entry_size, head = "Q", "HHQQ", 20, 8
    else:
        return None
    if ifd + head > len(buf):
        return None
    (n,) = struct.unpack_from(bo + count_fmt, buf, ifd)
    for i in range(n):
        at = ifd + head + i * entry_size
        if at + entry_size > len(buf):
            return None
        tag, typ, count, offset = struct.unpack_from(bo + entry_fmt, buf, at)
        if typ != _DOUBLE:
            continue
        if tag == TIEPOINT and count == 6 and offset + 48 <= len(buf):
            return bo, "tiepoint", [offset + 24, offset + 32]
        if tag == TRANSFORMATION and count == 16 and offset + 128 <= len(buf):
            return bo, "transformation", [offset + 24, offset + 56]
    return None


def _stale_copies(buf: bytes, start: int, size: int) -> list[int]:
    """Offsets, other than ``start``, of the ``size`` bytes found at ``start``.

    GDAL rewrites a directory it has to enlarge (here when band descriptions are set) at the end of the file
    and leaves the old one as dead bytes: they are not read, but are patched too, so that a copied tile is
    byte for byte the file GDAL writes for that tile.
    """
    block, found, at = buf[start : start + size], [], buf.find(buf[start : start + size])
    while at >= 0:
        if at != start:
            found.append(at)
        at = buf.find(block, at + 1)
    return found


class ConstantTile:
    """The bytes of one encoded GeoTIFF tile, rendered at any origin (see the module notes).

    Build it with :meth:`build`; :meth:`render` gives the file's bytes for a tile of the same size, bands,
    type and pixel size whose upper-left corner is elsewhere.
    """

    def __init__(self, data: bytes, byteorder: str, slots: Sequence[int], transform: Affine) -> None:
        self._data, self._bo, self._slots, self.transform = bytes(data), byteorder, list(slots), transform

    @classmethod
    def build(cls, profile: dict, pixels: np.ndarray, descriptions: Sequence[str] = ()) -> ConstantTile | None:
        """Encode ``pixels`` with GDAL using the rasterio ``profile`` (its ``transform`` the template's place);
        None when the file's origin cannot be moved safely (the caller then encodes each tile itself)."""
        from rasterio.io import MemoryFile

        transform = profile["transform"]
        with MemoryFile() as mem:
            with mem.open(**profile) as ds:
                ds.write(pixels)
                for i, name in enumerate(descriptions, start=1):
                    ds.set_band_description(i, name)
            data = mem.read()
        found = _origin_slots(data)
        if found is None:
            return None
        bo, kind, slots = found
        stored = [struct.unpack_from(bo + "d", data, at)[0] for at in slots]
        if stored != [transform.c, transform.f]:
            return None  # not the origin as given (e.g. a pixel-is-point raster): do not guess
        start, size, gap = (slots[0] - 24, 48, 8) if kind == "tiepoint" else (slots[0] - 24, 128, 32)
        for at in _stale_copies(data, start, size):
            slots += [at + 24, at + 24 + gap]
        tpl = cls(data, bo, slots, transform)
        probe = transform @ (pixels.shape[2], pixels.shape[1])  # another origin: the opposite corner
        moved = Affine(transform.a, transform.b, probe[0], transform.d, transform.e, probe[1])
        with MemoryFile(tpl.render(moved)) as mem, mem.open() as ds:
            ok = ds.transform == moved and np.array_equal(ds.read(), pixels, equal_nan=pixels.dtype.kind == "f")
        return tpl if ok else None

    def render(self, transform: Affine) -> bytes:
        """The file's bytes for the tile whose upper-left corner is ``(transform.c, transform.f)``.

        ``transform`` must share the template's pixel size and rotation (tiles of one grid do).
        """
        if transform[:2] + transform[3:5] != self.transform[:2] + self.transform[3:5]:
            raise ValueError(f"{transform} does not share the template's pixel size and rotation {self.transform}")
        out = bytearray(self._data)
        for x_at, y_at in zip(self._slots[::2], self._slots[1::2], strict=True):
            struct.pack_into(self._bo + "d", out, x_at, transform.c)
            struct.pack_into(self._bo + "d", out, y_at, transform.f)
        return bytes(out)
