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

import numpy as np

from ..grid import Grid

__all__ = ["block_size", "constant_block", "gtiff_profile", "rio_crs"]


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
