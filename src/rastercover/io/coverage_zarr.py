"""A raster coverage stored in a Zarr store, as :class:`~rastercover.io.sink_zarr.ZarrSink` writes it.

The store holds one pixel array ``(band, y, x)`` (or ``(y, x)``) whose ``grid_mapping`` attribute names a
variable carrying ``GeoTransform`` (GDAL order) and ``crs_wkt`` (or ``spatial_ref``): the CF / GDAL convention
that rioxarray writes too. The grid's tiles are the array's chunks, so reads touch only the chunks a window
needs. Band names come from a string ``band`` coordinate (else the array's ``long_name`` list).

Examples
--------
>>> import os, tempfile, numpy as np
>>> from affine import Affine
>>> from rastercover.grid import Grid, Window
>>> from rastercover.io.sink_zarr import ZarrSink
>>> g = Grid(3, 2, Affine(10, 0, 100, 0, -10, 50), "EPSG:32198", tile_size=2)
>>> sink = ZarrSink(os.path.join(tempfile.mkdtemp(), "out.zarr"))
>>> sink.open(g, ["COUNT"], np.dtype("int16"), -1)
>>> sink.write(Window(0, 0, 3, 2), np.arange(6, dtype="int16").reshape(1, 2, 3), list(g.tiles()))
>>> cov = ZarrCoverage(sink.close())
>>> cov.grid.tile_size, cov.band_names, cov.nodata, cov.name
((2, 2), ('COUNT',), -1.0, 'out')
>>> cov.read(Window(2, 0, 2, 2)).tolist()          # past the edge: nodata
[[[2, -1], [5, -1]]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from ..crs import CRS
from ..errors import InputError, SourceError
from ..grid import Grid, Window

__all__ = ["ZarrCoverage", "is_zarr_path"]


def is_zarr_path(spec: object) -> bool:
    """True for a path ending in ``.zarr`` or a folder holding Zarr metadata.

    Examples
    --------
    >>> is_zarr_path("out.zarr"), is_zarr_path("out.tif"), is_zarr_path(3)
    (True, False, False)
    """
    if not isinstance(spec, str | os.PathLike):
        return False
    path = os.fspath(spec)
    if not isinstance(path, str):
        return False
    if path.rstrip("/\\").lower().endswith(".zarr"):
        return True
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, m)) for m in (".zgroup", "zarr.json"))


def _open_group(path: str):
    try:
        import zarr
    except ImportError:
        raise SourceError(f"{path}: reading a Zarr store needs zarr: pip install zarr") from None
    if not os.path.isdir(path):
        raise SourceError(f"{path}: no such Zarr store")
    try:
        return zarr.open_group(path, mode="r")
    except Exception as exc:  # zarr raises several types for unreadable stores
        raise SourceError(f"{path}: not a Zarr group zarr can read ({exc})") from None


class ZarrCoverage:
    """A raster coverage read from a Zarr store (see the module notes for what it expects).

    Parameters
    ----------
    path
        The store.
    variable
        The pixel array; default: the one array with a ``grid_mapping`` attribute.

    Raises
    ------
    SourceError
        A store without a georeferenced 2-D or 3-D array.
    """

    def __init__(self, path: str | os.PathLike, variable: str | None = None) -> None:
        self.path = os.fspath(path)
        root = _open_group(self.path)
        arrays = dict(root.arrays())
        if variable is None:
            candidates = [n for n, a in arrays.items() if "grid_mapping" in a.attrs and a.ndim in (2, 3)]
            if len(candidates) != 1:
                raise SourceError(
                    f"{self.path}: expected one array with a grid_mapping attribute, found "
                    f"{len(candidates)} ({', '.join(candidates) or 'none'}); name the variable to read"
                )
            variable = candidates[0]
        if variable not in arrays:
            raise SourceError(f"{self.path}: no array {variable!r} (arrays: {', '.join(sorted(arrays))})")
        arr = arrays[variable]
        self.variable = variable
        ref_name = arr.attrs.get("grid_mapping")
        ref = arrays.get(ref_name).attrs if ref_name in arrays else {}
        gt = ref.get("GeoTransform")
        if gt is None:
            raise SourceError(
                f"{self.path}: {variable} has no georeferencing (no GeoTransform on its grid_mapping variable "
                f"{ref_name!r}); write the store with rastercover or rioxarray"
            )
        transform = Affine.from_gdal(*(float(v) for v in str(gt).split()))
        wkt = ref.get("crs_wkt") or ref.get("spatial_ref")
        self._squeeze = arr.ndim == 2
        height, width = arr.shape[-2:]
        th, tw = arr.chunks[-2:]
        self._grid = Grid(width, height, transform, CRS.from_wkt(wkt) if wkt else None, (tw, th))
        self._count = 1 if self._squeeze else int(arr.shape[0])
        self._dtype = np.dtype(arr.dtype)
        fill = arr.fill_value
        self._nodata = None if fill is None else float(fill)
        names: tuple[str, ...] = ()
        if not self._squeeze and "band" in arrays and arrays["band"].dtype.kind in "UO":
            names = tuple(str(v) for v in arrays["band"][:])
        elif isinstance(arr.attrs.get("long_name"), list):
            names = tuple(str(v) for v in arr.attrs["long_name"])
        self._band_names = names if len(names) == self._count else ("",) * self._count
        self._array = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}

    def _arr(self):
        if self._array is None:
            import zarr

            self._array = zarr.open_array(os.path.join(self.path, self.variable), mode="r")
        return self._array

    @property
    def grid(self) -> Grid:
        """The coverage's pixel lattice, with the array's chunks as tiles."""
        return self._grid

    @property
    def count(self) -> int:
        """Number of bands."""
        return self._count

    @property
    def dtype(self) -> np.dtype:
        """Pixel type."""
        return self._dtype

    @property
    def nodata(self) -> float | None:
        """The array's fill value (None when it has none)."""
        return self._nodata

    @property
    def band_names(self) -> tuple[str, ...]:
        """A name per band ("" when none)."""
        return self._band_names

    @property
    def name(self) -> str:
        """A short name for output files: the store's stem."""
        return Path(self.path.rstrip("/\\")).stem

    @property
    def crs(self) -> CRS | None:
        """The coverage's CRS (the grid's)."""
        return self._grid.crs

    def describe(self) -> str:
        """The path, for messages."""
        return self.path

    @property
    def tile_ids(self) -> dict[tuple[int, int], int]:
        """Chunks are named by their place: no stored ids."""
        return {}

    @property
    def srid(self) -> None:
        """A store carries a CRS, not a PostGIS SRID."""
        return None

    def read(self, window: Window, bands: Sequence[int] | None = None) -> np.ndarray:
        """Pixels of ``window`` as (bands, rows, cols); ``bands`` are 1-based, all when None.

        Pixels outside the coverage are ``nodata`` (0 when the store has no fill value).
        """
        if bands is None:
            indexes = list(range(1, self._count + 1))
        else:
            indexes = [int(b) for b in bands]
            bad = [b for b in indexes if not 1 <= b <= self._count]
            if bad or not indexes:
                raise InputError(
                    f"{self.path}: no band {bad[0] if bad else '(none given)'}: the coverage has bands 1 to "
                    f"{self._count}"
                )
        fill = 0 if self._nodata is None else self._nodata
        out = np.full((len(indexes), window.height, window.width), fill, dtype=self._dtype)
        inter = window.intersection(Window(0, 0, self._grid.width, self._grid.height))
        if inter is None:
            return out
        arr = self._arr()
        if self._squeeze:
            data = arr[inter.slices][np.newaxis]
        else:
            lo, hi = min(indexes) - 1, max(indexes)
            data = arr[(slice(lo, hi), *inter.slices)][[i - 1 - lo for i in indexes]]
        out[(slice(None), *inter.relative_to(window).slices)] = data
        return out

    def __repr__(self) -> str:
        return f"ZarrCoverage({self.path!r}, {self._count} band(s) {self._dtype.name}, {self._grid!r})"
