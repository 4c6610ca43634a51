"""The grid of raster files: one raster, a folder of tiles, a VRT of tiles (file I/O kept out of ``grid.py``).

A raster's grid is its lattice, tiled by its internal blocks when it is tiled. A folder or a VRT of tiles is a
*coverage*: the union lattice of its tiles, laid out in one regular tiling, holding only the tiles it has (a
sparse :class:`~rastercover.grid.Grid`). A VRT keeps its own extent, so pixels read through it land where
its tiles say; a folder of ``r{row}_c{col}`` files (rastercover's) is laid out from the names, so tile
``r3_c5`` stays tile ``(3, 5)`` however many tiles are missing.

Examples
--------
>>> import tempfile, os, numpy as np, rasterio
>>> from affine import Affine
>>> p = os.path.join(tempfile.mkdtemp(), "dem.tif")
>>> with rasterio.open(p, "w", driver="GTiff", width=300, height=200, count=1, dtype="uint8",
...                    crs="EPSG:32198", transform=Affine(30, 0, 0, 0, -30, 6000),
...                    tiled=True, blockxsize=128, blockysize=128) as ds:
...     ds.write(np.zeros((1, 200, 300), "uint8"))
>>> grid_of_raster(p).tile_size
(128, 128)
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from ..crs import CRS, as_crs, crs_label, same_crs
from ..errors import AlignmentError, SourceError
from ..grid import ALIGN_TOL, Grid

__all__ = [
    "RASTER_SUFFIXES",
    "first_line",
    "grid_of_header",
    "grid_of_raster",
    "grid_of_tiles",
    "header_of",
    "read_header",
]

#: File suffixes taken as raster tiles in a folder.
RASTER_SUFFIXES = frozenset({".tif", ".tiff", ".img", ".asc", ".jp2", ".png", ".nc", ".rst", ".bil", ".gpkg"})


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (GDAL's messages run on)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def header_of(ds) -> dict:
    """The header facts of an open rasterio dataset."""
    nodata = ds.nodata
    return {
        "width": ds.width,
        "height": ds.height,
        "transform": ds.transform,
        "crs": ds.crs.to_wkt() if ds.crs else None,
        "block": ds.block_shapes[0] if ds.count else (1, ds.width),
        "count": ds.count,
        "dtypes": tuple(ds.dtypes),
        "nodata": None if nodata is None else float(nodata),
        "nodatas": tuple(None if v is None else float(v) for v in ds.nodatavals),
        "descriptions": tuple(d or "" for d in ds.descriptions),
    }


def read_header(path: str | os.PathLike) -> dict:
    """Everything a grid or a coverage needs from one raster's header (one open), checked: georeferenced by a
    transform (not GCPs only)."""
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            if ds.gcps[0] and ds.transform.is_identity:
                raise SourceError(f"{path}: the raster is georeferenced by GCPs only; warp it to a grid first")
            if ds.transform.is_identity and ds.crs is None:
                raise SourceError(f"{path}: the raster has no georeferencing (no transform and no CRS)")
            return header_of(ds)
    except RasterioError as exc:
        if not os.path.exists(path):
            raise SourceError(f"{path}: no such file") from None
        raise SourceError(f"{path}: not a raster GDAL can read ({first_line(exc)})") from None


def grid_of_raster(path: str | os.PathLike, tile_size: int | Sequence[int] | str | None = None) -> Grid:
    """The grid of one raster; tile size defaults to its block size when it is tiled, else 256x256."""
    header = read_header(path)
    return grid_of_header(header, tile_size)


def grid_of_header(header: dict, tile_size: int | Sequence[int] | str | None = None) -> Grid:
    """The grid of a raster from its header (:func:`read_header`); tiled by its blocks unless ``tile_size``."""
    if tile_size is None:
        bh, bw = header["block"]
        tiled = bh > 1 and bw < header["width"]
        tile_size = (bw, bh) if tiled else None
    return Grid(header["width"], header["height"], header["transform"], header["crs"], tile_size)


def grid_of_tiles(path: str | os.PathLike) -> Grid:
    """The grid of a folder (or a VRT) of aligned tile rasters, holding the tiles present.

    Every tile must share the pixel size, skew and CRS and sit on one pixel lattice; the tiles must form a
    regular layout (all the same size but the last column and row). A misaligned tile is reported by file name.
    Missing tiles are allowed: the grid's :attr:`~rastercover.grid.Grid.present` names the tiles there are.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder (give a folder of tiles or a .vrt)")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES and p.is_file())
        if not files:
            raise SourceError(f"{path}: the folder holds no raster tiles ({', '.join(sorted(RASTER_SUFFIXES))})")
        headers = [(p.name, read_header(p)) for p in files]
        return grid_of_headers(headers, str(path))
    if path.suffix.lower() == ".vrt":
        return _grid_of_vrt(path)
    raise SourceError(f"{path}: not a folder of tiles nor a .vrt; for a single raster use open_grid")


def grid_of_headers(headers: list[tuple[str, dict]], where: str) -> Grid:
    """The union grid of tile headers ``(name, header)`` after checking they share one lattice and layout."""
    name0, h0 = headers[0]
    t0 = h0["transform"]
    crs0 = as_crs(h0["crs"])
    lin0 = np.array([t0.a, t0.b, t0.d, t0.e])
    inv0 = ~Affine(t0.a, t0.b, 0, t0.d, t0.e, 0)
    rects = []
    for name, h in headers:
        t = h["transform"]
        if not same_crs(as_crs(h["crs"]), crs0):
            raise AlignmentError(
                f"{where}: tile {name} is in {crs_label(as_crs(h['crs']))} but {name0} is in {crs_label(crs0)}"
            )
        lin = np.array([t.a, t.b, t.d, t.e])
        if not np.allclose(lin, lin0, rtol=1e-9, atol=1e-12 * np.abs(lin0).max()):
            raise AlignmentError(
                f"{where}: tile {name} has pixel size/skew {tuple(lin)} but {name0} has {tuple(lin0)}; "
                "tiles must share one pixel size"
            )
        col, row = inv0 @ (t.c - t0.c, t.f - t0.f)
        if abs(col - round(col)) > ALIGN_TOL or abs(row - round(row)) > ALIGN_TOL:
            raise AlignmentError(
                f"{where}: tile {name} is misaligned: its origin falls at pixel ({col:.6f}, {row:.6f}) of "
                f"{name0}'s lattice, not on a pixel corner; resample it onto the common grid"
            )
        rects.append((name, round(col), round(row), h["width"], h["height"]))
    c_min = min(r[1] for r in rects)
    r_min = min(r[2] for r in rects)
    width = max(r[1] + r[3] for r in rects) - c_min
    height = max(r[2] + r[4] for r in rects) - r_min
    shifted = [(n, c - c_min, r - r_min, w, h) for n, c, r, w, h in rects]
    return layout_grid(shifted, t0 @ Affine.translation(c_min, r_min), crs0, width, height, where)


def layout_grid(
    rects: list[tuple[str, int, int, int, int]],
    transform: Affine,
    crs: CRS | None,
    width: int,
    height: int,
    where: str,
) -> Grid:
    """The grid ``width x height`` at ``transform`` tiled by the rectangles ``(name, col, row, width, height)``
    (pixel offsets in that grid): one regular layout, no two in one place; it holds just those tiles."""
    tw = max(r[3] for r in rects)
    th = max(r[4] for r in rects)
    seen: dict[tuple[int, int], str] = {}
    for name, c, r, w, h in rects:
        if c < 0 or r < 0 or c % tw or r % th or w != min(tw, width - c) or h != min(th, height - r):
            raise AlignmentError(
                f"{where}: tile {name} ({w}x{h} px at column {c}, row {r}) does not fit the {tw}x{th} tile "
                "layout of the other tiles"
            )
        key = (r // th, c // tw)
        if key in seen:
            raise AlignmentError(f"{where}: tiles {seen[key]} and {name} cover the same place")
        seen[key] = name
    return Grid(width, height, transform, crs, (tw, th), present=list(seen))


def _grid_of_vrt(path: Path) -> Grid:
    """A VRT's own grid (its extent: where GDAL puts its pixels), holding the tiles its sources fill when they
    form one regular layout from its origin; else the VRT as one raster."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise SourceError(f"{path}: not a readable VRT ({exc})") from None
    header = read_header(path)
    band = root.find("VRTRasterBand")
    sources = [] if band is None else [s for s in band if s.find("DstRect") is not None]
    if not sources:
        return grid_of_header(header, None)
    rects = []
    for s in sources:
        fn = s.findtext("SourceFilename", default="?")
        d = s.find("DstRect").attrib
        vals = [float(d[k]) for k in ("xOff", "yOff", "xSize", "ySize")]
        if any(abs(v - round(v)) > ALIGN_TOL for v in vals):
            raise AlignmentError(
                f"{path}: tile {fn} is misaligned: it lands at pixel ({vals[0]:.6f}, {vals[1]:.6f}) of the "
                "VRT, not on a pixel corner; resample it onto the common grid"
            )
        rects.append((fn, *(round(v) for v in vals)))
    width, height = header["width"], header["height"]
    inside = [r for r in rects if r[1] < width and r[2] < height and r[1] + r[3] > 0 and r[2] + r[4] > 0]
    tw, th = max(r[3] for r in rects), max(r[4] for r in rects)
    regular = inside and all(
        c >= 0 and r >= 0 and c % tw == 0 and r % th == 0 and w == min(tw, width - c) and h == min(th, height - r)
        for _, c, r, w, h in inside
    )
    if not regular or len({(r // th, c // tw) for _, c, r, _, _ in inside}) != len(inside):
        return grid_of_header(header, None)  # not a tile layout from its origin: one raster
    return layout_grid(inside, header["transform"], as_crs(header["crs"]), width, height, str(path))
