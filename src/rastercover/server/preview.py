"""Quick-look PNG images of raster coverages, for the service's web page (not for analysis).

A preview is the coverage decimated by striding (every ``k``-th pixel of every ``k``-th row, ``k`` chosen so
the image fits ``max_size``), read in chunks of whole storage tiles so that memory stays bounded however big
the coverage is: each read spans one row of tiles at most (from its first kept row to its last), never more
than :data:`CHUNK_PIXELS` pixels per band unless a single tile is bigger. One band becomes a viridis-like colour
ramp, three bands or more the RGB of the first three; each band is stretched between the 2nd and 98th
percentiles of its valid values. Nodata is transparent.

Examples
--------
>>> import io, os, tempfile, numpy as np, rasterio
>>> from affine import Affine
>>> from rastercover.exporting import open_coverage
>>> p = os.path.join(tempfile.mkdtemp(), "dem.tif")
>>> with rasterio.open(p, "w", driver="GTiff", width=1000, height=400, count=1, dtype="float32", nodata=-1,
...                    crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 4000)) as ds:
...     ds.write(np.arange(400_000, dtype="float32").reshape(1, 400, 1000))
>>> png = render_preview(open_coverage(p), max_size=256)
>>> png[1:4] == b"PNG", int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
(True, 250, 100)
>>> [round(v, 3) for v in preview_bounds_wgs84(open_coverage(p))]
[-68.5, 44.0, -68.376, 44.036]
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..grid import Window

__all__ = ["CHUNK_PIXELS", "VIRIDIS", "decimate", "preview_bounds_wgs84", "render_preview"]

#: Most pixels (per band) one read of :func:`decimate` asks for; a read is never smaller than one tile row.
CHUNK_PIXELS = 1 << 22

# Viridis sampled at 0, 1/8, ..., 1 (matplotlib's values, rounded): luminance rises monotonically along it,
# and linear interpolation keeps that true between the anchors.
_VIRIDIS_ANCHORS = np.array(
    [
        (68, 1, 84),
        (71, 44, 122),
        (59, 82, 139),
        (44, 114, 142),
        (33, 145, 140),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ],
    dtype=float,
)


def _ramp(anchors: np.ndarray, n: int = 256) -> np.ndarray:
    x = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(t, x, anchors[:, i]) for i in range(3)], axis=1).round().astype(np.uint8)


#: The colour ramp of one-band previews: 256 RGB entries, ``(256, 3)`` uint8, dark purple → yellow.
VIRIDIS = _ramp(_VIRIDIS_ANCHORS)


def decimate(coverage: Any, step: int, bands: list[int] | None = None) -> np.ndarray:
    """Every ``step``-th pixel of every ``step``-th row of a coverage, read in chunks of whole tiles.

    Parameters
    ----------
    coverage
        A :class:`~rastercover.protocols.RasterCoverage`.
    step
        The stride, in pixels (1: every pixel).
    bands
        1-based band numbers (all when None).

    Returns
    -------
    numpy.ndarray
        ``(bands, ceil(height / step), ceil(width / step))``, the coverage's dtype; pixel ``(i, j)`` is the
        coverage's pixel ``(i * step, j * step)``.

    Notes
    -----
    The coverage is walked one row of tiles at a time, and in each, in runs of whole tiles of at most
    :data:`CHUNK_PIXELS` pixels (at least one tile); each read spans only the rows the preview keeps (from the
    first kept row of the tile row to its last), so a coverage of any size is read with bounded memory.
    """
    if step < 1:
        raise ValueError(f"step must be 1 or more, not {step}")
    grid = coverage.grid
    width, height = grid.width, grid.height
    tile_w, tile_h = grid.tile_size
    tile_w, tile_h = max(1, min(tile_w, width)), max(1, min(tile_h, height))
    n_bands = len(bands) if bands is not None else coverage.count
    out_w, out_h = -(-width // step), -(-height // step)
    out = np.empty((n_bands, out_h, out_w), dtype=coverage.dtype)
    for band_top in range(0, height, tile_h):
        band_bottom = min(band_top + tile_h, height)
        first = -(-band_top // step) * step  # the first kept row in this row of tiles
        if first >= band_bottom:
            continue
        last = (band_bottom - 1) // step * step
        rows = last - first + 1
        tiles_per_read = max(1, CHUNK_PIXELS // max(1, rows * tile_w))
        chunk_w = tiles_per_read * tile_w
        out_rows = slice(first // step, last // step + 1)
        for left in range(0, width, chunk_w):
            right = min(left + chunk_w, width)
            c0 = -(-left // step) * step  # the first kept column in this chunk
            if c0 >= right:
                continue
            data = coverage.read(Window(left, first, right - left, rows), bands)
            kept = data[:, ::step, c0 - left :: step]
            out[:, out_rows, c0 // step : c0 // step + kept.shape[2]] = kept
    return out


def _valid(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """True where a pixel holds a value (not nodata, and finite for floats)."""
    valid = np.ones(data.shape, dtype=bool)
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(data)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        valid &= data != nodata
    return valid


def _stretch(band: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """0..255 (uint8) between the 2nd and 98th percentiles of the valid values (0 where invalid)."""
    values = band[valid].astype(np.float64)
    out = np.zeros(band.shape, dtype=np.uint8)
    if values.size == 0:
        return out
    lo, hi = np.percentile(values, [2, 98])
    if not hi > lo:  # constant (or almost): a mid tone rather than a division by zero
        out[valid] = 128
        return out
    scaled = (band.astype(np.float64) - lo) / (hi - lo)
    out[valid] = np.clip(np.round(scaled[valid] * 255.0), 0, 255).astype(np.uint8)
    return out


def _encode_png(rgba: np.ndarray) -> bytes:
    """A PNG of a ``(4, rows, cols)`` uint8 array, by GDAL's PNG driver in memory."""
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    _, rows, cols = rgba.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as mem:
            with mem.open(driver="PNG", width=cols, height=rows, count=4, dtype="uint8") as ds:
                ds.write(rgba)
            return bytes(mem.read())


def render_preview(coverage: Any, *, max_size: int = 512) -> bytes:
    """A PNG quick look of a coverage, at most ``max_size`` pixels wide and high.

    Parameters
    ----------
    coverage
        A :class:`~rastercover.protocols.RasterCoverage` (e.g. ``CoverageEntry.open()``).
    max_size
        The longest side of the image, in pixels; the coverage is decimated by the smallest whole stride
        that fits (a coverage smaller than that is shown at full resolution, never enlarged).

    Returns
    -------
    bytes
        An RGBA PNG. One band (or two: the first is shown): the :data:`VIRIDIS` ramp, low values dark;
        three bands or more: the first three as red, green, blue. Each band is stretched linearly between the
        2nd and 98th percentiles of its valid values (a constant band is mid-grey or mid-ramp). Alpha is 0
        exactly where the pixel is nodata (or NaN/infinite) in every band shown, 255 elsewhere.

    Notes
    -----
    Striding rather than averaging keeps categorical coverages' classes intact and reads are bounded (see
    :func:`decimate`); the image is on the coverage's own pixel grid, in its CRS: placing it on a web map with
    :func:`preview_bounds_wgs84` is an approximation, fine for a quick look.
    """
    if max_size < 1:
        raise ValueError(f"max_size must be 1 or more, not {max_size}")
    grid = coverage.grid
    step = max(1, -(-max(grid.width, grid.height) // max_size))
    bands = [1, 2, 3] if coverage.count >= 3 else [1]
    data = decimate(coverage, step, bands)
    valid = _valid(data, coverage.nodata)
    if len(bands) == 1:
        rgb = VIRIDIS[_stretch(data[0], valid[0])].transpose(2, 0, 1)
        shown = valid[0]
    else:
        rgb = np.stack([_stretch(data[i], valid[i]) for i in range(3)])
        shown = valid.any(axis=0)
    alpha = np.where(shown, 255, 0).astype(np.uint8)
    rgb = np.where(shown, rgb, 0).astype(np.uint8)
    return _encode_png(np.concatenate([rgb, alpha[None]], axis=0))


def preview_bounds_wgs84(coverage: Any, *, densify: int = 21) -> tuple[float, float, float, float] | None:
    """The lon/lat box ``(west, south, east, north)`` of a coverage, to place its preview on a web map.

    Parameters
    ----------
    coverage
        A :class:`~rastercover.protocols.RasterCoverage`.
    densify
        Points added along each edge before transforming (curved edges in lon/lat).

    Returns
    -------
    tuple of float or None
        The box in EPSG:4326, longitude first; None when the coverage has no CRS or its box cannot be
        transformed (out of its projection's domain).
    """
    from pyproj import CRS, Transformer
    from pyproj.exceptions import ProjError

    crs = coverage.grid.crs
    if crs is None:
        return None
    try:
        transformer = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)
        box = transformer.transform_bounds(*coverage.grid.bounds, densify_pts=densify)
    except ProjError:
        return None
    if not all(math.isfinite(v) for v in box):
        return None
    return tuple(float(v) for v in box)
