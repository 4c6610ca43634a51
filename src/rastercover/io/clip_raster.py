"""A raster as a clip geometry: its footprint, by rid (a PostGIS raster table), tile file or the whole raster.

The first article clips ``landcover`` by ``ST_Buffer(ST_Envelope(burnedarea.rast), 1000)``: a *raster* names the
area. ``read_raster_footprint`` gives the geometry a raster stands for, in its CRS, for the export to buffer,
envelope and reproject like any clip:

- ``footprint="extent"``: the raster's outline, the polygon through its four corners (PostGIS's
  ``ST_ConvexHull(rast)``; for a north-up raster, ``ST_Envelope(rast)``).
- ``footprint="data"``: the union of the pixels holding data in band 1 (PostGIS's ``ST_Polygon(rast)``), pixel
  edges exact: the pixels are traced in pixel coordinates (integers) and mapped by the raster's transform once.

Which raster:

- a PostGIS raster table: the row whose primary key (``rid``) is ``feature_id``, or whose ``id_column`` equals
  it; the footprint is computed by PostGIS itself (``ST_ConvexHull`` / ``ST_Polygon``);
- a tile folder: the tile file named ``feature_id`` (``r0_c1`` or ``r0_c1.tif``), or the whole folder (the
  union of its tiles) when no id is given;
- a raster file: the file (no id).

Examples
--------
>>> import os, tempfile, numpy as np, rasterio
>>> from affine import Affine
>>> p = os.path.join(tempfile.mkdtemp(), "burned.tif")
>>> with rasterio.open(p, "w", driver="GTiff", width=3, height=2, count=1, dtype="uint8", nodata=0,
...                    crs="EPSG:32198", transform=Affine(10, 0, 100, 0, -10, 20)) as ds:
...     ds.write(np.array([[[0, 1, 1], [0, 0, 1]]], "uint8"))
>>> geom, crs = read_raster_footprint(p, None)
>>> geom.bounds, crs.to_epsg()
((100.0, 0.0, 130.0, 20.0), 32198)
>>> read_raster_footprint(p, None, footprint="data")[0].area
300.0
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from affine import Affine

from ..crs import CRS
from ..errors import GeometryError, InputError
from ..grid import Grid, Window
from .ogr import pyogrio as load_pyogrio
from .raster_grid import RASTER_SUFFIXES

__all__ = [
    "FOOTPRINTS",
    "check_footprint",
    "is_raster_path",
    "raster_data_footprint",
    "raster_outline",
    "read_raster_footprint",
]

#: What a raster clip stands for: its outline, or the pixels holding data (band 1).
FOOTPRINTS = ("extent", "data")

_DATA_PIXELS = 1 << 24  # pixels traced at once for a data footprint


def check_footprint(footprint: str) -> str:
    """``footprint`` checked: one of :data:`FOOTPRINTS`."""
    if footprint not in FOOTPRINTS:
        raise InputError(f"clip_footprint {footprint!r} is not one of {', '.join(FOOTPRINTS)}")
    return footprint


def is_raster_path(path: str | os.PathLike) -> bool:
    """True when ``path`` is a raster (a raster file or a folder of raster tiles) rather than a vector layer.

    Vector formats win where a file could be either: a GeoPackage is a raster only when it holds no vector
    layer, a folder only when it holds raster tiles and no shapefile.

    Examples
    --------
    >>> is_raster_path("dem.tif"), is_raster_path("burned.gpkg"), is_raster_path("trees.shp")
    (True, False, False)
    """
    p = Path(os.fspath(path))
    if p.is_dir():
        names = [f.suffix.lower() for f in p.iterdir() if f.is_file()]
        if ".shp" in names:
            return False
        return "index.vrt" in {f.name for f in p.iterdir()} or any(n in RASTER_SUFFIXES for n in names)
    suffix = p.suffix.lower()
    if suffix == ".vrt":
        try:
            with open(p, "rb") as f:
                return b"<OGRVRTDataSource" not in f.read(4096)
        except OSError:
            return True
    if suffix == ".gpkg":
        if not p.exists():
            return False
        try:
            return len(load_pyogrio().list_layers(str(p))) == 0
        except Exception:
            return True
    return suffix in RASTER_SUFFIXES


def raster_outline(grid: Grid, window: Window | None = None) -> shapely.Polygon:
    """The polygon through the four corners of ``window`` of ``grid`` (all of it by default)."""
    return shapely.Polygon(grid.corners(window))


def raster_data_footprint(coverage: Any, what: str) -> shapely.Geometry:
    """The union of the pixels of ``coverage`` holding data in band 1 (``ST_Polygon``), in map coordinates.

    Pixels are traced chunk by chunk in integer pixel coordinates (``rasterio.features.shapes``), unioned there
    (shared edges meet exactly), and mapped to the coverage's CRS by its transform at the end.
    """
    from rasterio.features import shapes

    grid = coverage.grid
    nodata = coverage.nodata
    pieces = []
    rows = max(1, _DATA_PIXELS // grid.width // grid.tile_height) * grid.tile_height  # whole rows of tiles at once
    for r0 in range(0, grid.height, rows):
        window = Window(0, r0, grid.width, min(rows, grid.height - r0))
        data = np.asarray(coverage.read(window, [1]))[0]
        valid = ~np.isnan(data) if data.dtype.kind == "f" else np.ones(data.shape, bool)
        if nodata is not None and not np.isnan(nodata):
            valid &= data != nodata
        lacking = grid.lacks(window)  # a sparse folder's missing tiles are never data
        if lacking is not None:
            valid &= ~lacking
        if not valid.any():
            continue
        at = Affine.translation(window.col_off, window.row_off)
        pieces.extend(shapely.geometry.shape(g) for g, _v in shapes(valid.view(np.uint8), mask=valid, transform=at))
    if not pieces:
        raise GeometryError(f"{what} holds no pixel with data in band 1, so its data footprint is empty")
    t = grid.transform
    merged = shapely.union_all(pieces)
    return shapely.transform(merged, lambda xy: np.column_stack(t @ (xy[:, 0], xy[:, 1])))


def read_raster_footprint(
    location: str | os.PathLike, feature_id: Any, *, footprint: str = "extent"
) -> tuple[shapely.Geometry, CRS | None]:
    """The footprint of a raster file or tile folder (or of one of its tiles) and its CRS.

    Parameters
    ----------
    location
        A raster file, a ``.vrt``, or a folder of raster tiles.
    feature_id
        None for the whole raster; in a tile folder, the name of one tile file (with or without its
        extension, e.g. ``r0_c1``).
    footprint
        ``"extent"`` (the outline) or ``"data"`` (the pixels with data in band 1).

    Raises
    ------
    InputError
        An id given for a single raster file, a tile that is not in the folder.
    """
    from .coverage_file import FileCoverage

    check_footprint(footprint)
    path = os.fspath(location)
    what = path
    if feature_id is not None and str(feature_id) != "":
        if not os.path.isdir(path):
            raise InputError(
                f"{path} is one raster, the clip itself: drop the clip id {feature_id!r} "
                "(ids pick a tile of a folder or a row of a PostGIS raster table)"
            )
        path = _tile_file(path, str(feature_id))
        what = path
    cov = FileCoverage(path)
    grid = cov.grid
    if footprint == "data":
        return raster_data_footprint(cov, what), grid.crs
    if grid.present is None:
        return raster_outline(grid), grid.crs
    return shapely.union_all([raster_outline(grid, t.window) for t in grid.tiles()]), grid.crs


def _tile_file(folder: str, name: str) -> str:
    """The file of tile ``name`` (a file name, or a stem such as ``r0_c1``) directly inside ``folder``."""
    if os.path.basename(name) != name or name in (".", ".."):
        raise InputError(f"clip id {name!r} is not a tile of {folder}: give a file name of the folder, no path")
    tiles = sorted(f for f in os.listdir(folder) if os.path.splitext(f)[1].lower() in RASTER_SUFFIXES)
    for f in tiles:
        if f == name or os.path.splitext(f)[0] == name:
            return os.path.join(folder, f)
    examples = ", ".join(tiles[:3]) + (" ..." if len(tiles) > 3 else "")
    raise InputError(f"no tile {name!r} in {folder}: its tiles are {examples or 'none'}")
