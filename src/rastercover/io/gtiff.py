"""GeoTIFF creation profiles shared by the sinks.

Examples
--------
>>> from affine import Affine
>>> from rastercover.grid import Grid
>>> p = gtiff_profile(Grid(300, 300, Affine(1, 0, 0, 0, -1, 0), 3857, 100), 2, "float32", -9999)
>>> p["blockxsize"], p["compress"], p["predictor"]
(256, 'deflate', 3)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from ..grid import Grid

__all__ = ["WRITE_CACHE_BYTES", "block_size", "bounded_gdal_cache", "constant_block", "gtiff_profile", "rio_crs"]

#: GDAL's block cache while rastercover writes a GeoTIFF (:func:`bounded_gdal_cache`), at least. GDAL keeps the
#: blocks written to a file in its cache until the cache is full or the file is closed, and its default cache is 5 %
#: of the RAM (1.2 GB on a 24 GB machine): the blocks of a whole output stayed in memory (15 bands of 10000 x 10000
#: px filled it). The sink hands GDAL whole blocks in file order (:class:`~rastercover.io.sink_geotiff.GeoTiffSink`),
#: which GDAL writes to the file at once, or, once some block went through its cache (a block of the file's right
#: or bottom edge is handed over in two writes), as the cache fills: a small cache costs nothing.
WRITE_CACHE_BYTES = 8 << 20

_cache_lock = threading.Lock()
_cache_state: dict = {"limits": [], "saved": None, "set": None}


def rio_crs(grid: Grid):
    """The grid's CRS as rasterio wants it (or None)."""
    from rasterio.crs import CRS as RioCRS

    return RioCRS.from_wkt(grid.crs.to_wkt()) if grid.crs is not None else None


def block_size(tile: int, extent: int) -> int:
    """Internal GeoTIFF block edge: the tile size when it is a multiple of 16 (<= 1024), else 256."""
    if tile % 16 == 0 and 16 <= tile <= 1024:
        return tile
    return 256


def gtiff_profile(grid: Grid, count: int, dtype, nodata: float, *, tiled: bool = True) -> dict:
    """Creation options for a deflate-compressed GeoTIFF of ``grid`` (tiled unless asked otherwise)."""
    dtype = np.dtype(dtype)
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": count,
        "dtype": dtype.name,
        "crs": rio_crs(grid),
        "transform": grid.transform,
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3 if dtype.kind == "f" else 2,
        "bigtiff": "IF_SAFER",
        "interleave": "band" if count > 1 else "pixel",
    }
    if tiled:
        profile.update(
            tiled=True,
            blockxsize=block_size(grid.tile_width, grid.width),
            blockysize=block_size(grid.tile_height, grid.height),
            sparse_ok=True,
        )
    return profile


def constant_block(height: int, width: int, values, dtype) -> np.ndarray:
    """A (bands, height, width) array whose band ``i`` is ``values[i]`` everywhere.

    Examples
    --------
    >>> constant_block(1, 2, [0, -9999], "float32").tolist()
    [[[0.0, 0.0]], [[-9999.0, -9999.0]]]
    """
    return np.broadcast_to(np.asarray(values, dtype=dtype)[:, None, None], (len(values), height, width)).copy()


@contextmanager
def bounded_gdal_cache(limit: int = WRITE_CACHE_BYTES) -> Iterator[None]:
    """GDAL's block cache at most ``limit`` bytes while the block runs (never raised); the previous size back after.

    GDAL's cache is one for the process: while several such blocks run (in threads), the cache is bounded by the
    largest of their limits, and the size found by the first one is put back when the last one ends, unless
    someone else changed it meanwhile.

    Examples
    --------
    >>> from rasterio.env import get_gdal_config
    >>> before = int(get_gdal_config("GDAL_CACHEMAX"))
    >>> with bounded_gdal_cache(16 << 20):
    ...     int(get_gdal_config("GDAL_CACHEMAX")) == min(before, 16 << 20)
    True
    >>> int(get_gdal_config("GDAL_CACHEMAX")) == before
    True
    """
    with _cache_lock:
        if not _cache_state["limits"]:
            _cache_state["saved"] = _cache_size()
        _cache_state["limits"].append(int(limit))
        _apply_bound()
    try:
        yield
    finally:
        with _cache_lock:
            _cache_state["limits"].remove(int(limit))
            _apply_bound()


def _cache_size() -> int:
    from rasterio.env import get_gdal_config

    return int(get_gdal_config("GDAL_CACHEMAX") or 0)


def _apply_bound() -> None:
    """Set GDAL's cache to the bound of the blocks running now (or back to the size found), holding the lock."""
    from rasterio.env import set_gdal_config

    saved, was_set, limits = _cache_state["saved"], _cache_state["set"], _cache_state["limits"]
    if was_set is not None and _cache_size() != was_set:  # changed by someone else: theirs from now on
        _cache_state["saved"] = saved = _cache_size()
    want = min(saved, max(limits)) if limits else saved
    if want != _cache_size():
        set_gdal_config("GDAL_CACHEMAX", want)
    _cache_state["set"] = want if limits else None
