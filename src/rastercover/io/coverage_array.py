"""An in-memory raster coverage: an ``xarray.DataArray`` (band, y, x) with a transform and a CRS.

rastercover's own results (:func:`rastercover.rasterize` and :func:`rastercover.regrid` without an output) are
such arrays: their ``transform``, ``crs`` and ``nodata`` attributes place them; a rioxarray array is read through
its ``rio`` accessor.

Examples
--------
>>> import numpy as np, xarray as xr
>>> from affine import Affine
>>> da = xr.DataArray(np.arange(6.0).reshape(1, 2, 3), dims=("band", "y", "x"),
...                   attrs={"transform": Affine(10, 0, 0, 0, -10, 20), "crs": "EPSG:3857", "nodata": 0.0})
>>> cov = ArrayCoverage(da)
>>> cov.grid.shape, cov.nodata, cov.read(Window(1, 1, 2, 1)).tolist()
((2, 3), 0.0, [[[4.0, 5.0]]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from affine import Affine

from ..crs import CRS, as_crs
from ..errors import CRSError, InputError
from ..grid import Grid, Window

__all__ = ["ArrayCoverage", "is_dataarray"]


def is_dataarray(obj: Any) -> bool:
    """True for an ``xarray.DataArray`` (without importing xarray when it is not loaded)."""
    return type(obj).__name__ == "DataArray" and type(obj).__module__.startswith("xarray")


def _transform_of(da: Any) -> Affine:
    t = da.attrs.get("transform")
    if t is not None:
        return t if isinstance(t, Affine) else Affine(*list(t)[:6])
    rio = getattr(da, "rio", None)
    if rio is not None:
        try:
            return rio.transform()
        except Exception:
            pass
    raise InputError("the DataArray has no transform: set da.attrs['transform'] to an affine.Affine (or use rioxarray)")


class ArrayCoverage:
    """A DataArray as a :class:`~rastercover.protocols.RasterCoverage` (one tile: the whole array)."""

    def __init__(self, da: Any) -> None:
        if da.ndim == 2:
            da = da.expand_dims("band")
        if da.ndim != 3:
            raise InputError(f"a raster DataArray has dims (band, y, x) or (y, x), got {da.dims}")
        self._data = np.asarray(da.values)
        if self._data.dtype.kind not in "iuf":
            raise InputError(f"the DataArray holds {self._data.dtype} values, not numbers")
        crs = da.attrs.get("crs")
        if crs is None and getattr(da, "rio", None) is not None:
            try:
                crs = da.rio.crs
            except Exception:
                crs = None
        if crs is None:
            raise CRSError("the DataArray has no CRS: set da.attrs['crs'] (e.g. 'EPSG:32630')")
        self._crs = as_crs(crs)
        nd = da.attrs.get("nodata", da.attrs.get("_FillValue"))
        self._nodata = None if nd is None else float(nd)
        _, h, w = self._data.shape
        self._grid = Grid(w, h, _transform_of(da), self._crs, tile_size=(w, h))
        names = da.attrs.get("long_name")
        self._names = tuple(names) if isinstance(names, list | tuple) else ("",) * self._data.shape[0]

    @property
    def grid(self) -> Grid:
        """The array's lattice (one tile)."""
        return self._grid

    @property
    def crs(self) -> CRS | None:
        """The array's CRS."""
        return self._crs

    @property
    def count(self) -> int:
        """Bands."""
        return self._data.shape[0]

    @property
    def dtype(self) -> np.dtype:
        """The array's type."""
        return self._data.dtype

    @property
    def nodata(self) -> float | None:
        """The ``nodata`` attribute."""
        return self._nodata

    @property
    def band_names(self) -> tuple[str, ...]:
        """``long_name`` per band."""
        return self._names

    @property
    def name(self) -> str:
        """A short name for files."""
        return "array"

    @property
    def tile_ids(self) -> dict:
        """No stored ids."""
        return {}

    @property
    def srid(self) -> None:
        """No SRID."""
        return None

    def values_digest(self) -> str:
        """A digest of the pixels (what a resumed run from this array compares)."""
        import hashlib

        return hashlib.sha256(np.ascontiguousarray(self._data).tobytes()).hexdigest()

    def describe(self) -> str:
        """For messages."""
        return f"an in-memory array of {self._grid.width}x{self._grid.height} px"

    def read(self, window: Window, bands: Sequence[int] | None = None) -> np.ndarray:
        """Pixels of ``window`` (inside the array) as (bands, rows, cols)."""
        idx = list(range(self.count)) if bands is None else [int(b) - 1 for b in bands]
        full = Window(0, 0, self._grid.width, self._grid.height)
        fill = self._nodata if self._nodata is not None else 0
        out = np.full((len(idx), window.height, window.width), fill, dtype=self._data.dtype)
        ix = window.intersection(full)
        if ix is not None:
            out[(slice(None), *ix.relative_to(window).slices)] = self._data[idx][(slice(None), *ix.slices)]
        return out
