"""The coverage in memory: a numpy array (bands, rows, cols), returned as an ``xarray.DataArray``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..grid import Grid, Tile, Window
from ..pixel_values import is_nodata

__all__ = ["MemorySink", "to_dataarray"]


class MemorySink:
    """Collect the tiles into one array; :meth:`close` returns it as a DataArray with CRS and transform."""

    label = "memory"

    def done_tiles(self) -> set[tuple[int, int]]:
        """Nothing to resume in memory."""
        return set()

    def detached_writer(self) -> None:
        """The array lives in this process."""
        return None

    def record(self, tiles: Sequence[Tile]) -> None:
        """Not used: there is no detached writer."""
        raise NotImplementedError("a memory sink has no detached writer")

    def open(self, grid: Grid, bands: Sequence[str], dtype: np.dtype, nodata: float) -> None:
        self.grid, self.bands, self.dtype, self.nodata = grid, list(bands), np.dtype(dtype), nodata
        self.array = np.full((len(self.bands), grid.height, grid.width), nodata, dtype=self.dtype)

    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        if sum(t.window.width * t.window.height for t in tiles) == window.width * window.height:
            self.array[(slice(None), *window.slices)] = data
            return
        for t in tiles:
            self.array[(slice(None), *t.window.slices)] = data[(slice(None), *t.window.relative_to(window).slices)]

    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        for i, v in enumerate(values):
            if is_nodata(v, self.nodata):
                continue  # already filled
            for t in tiles:
                self.array[(i, *t.window.slices)] = v

    def close(self):
        return to_dataarray(self.array, self.grid, self.bands, self.nodata)

    def abort(self) -> None:
        self.array = None


def to_dataarray(array: np.ndarray, grid: Grid, bands: Sequence[str], nodata: float):
    """Wrap ``array`` (bands, rows, cols) as an ``xarray.DataArray`` carrying CRS and transform.

    Coordinates ``x``/``y`` (pixel centres) are given for north-up grids; a CF ``spatial_ref`` coordinate
    (``crs_wkt``, ``GeoTransform``) makes the array readable by rioxarray.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> g = Grid(3, 2, Affine(10, 0, 100, 0, -10, 50), "EPSG:32198")
    >>> da = to_dataarray(np.zeros((1, 2, 3), "float32"), g, ["COUNT"], -9999)
    >>> da.dims, da.x.values.tolist(), da.attrs["nodata"]
    (('band', 'y', 'x'), [105.0, 115.0, 125.0], -9999)
    """
    import xarray as xr

    t = grid.transform
    coords: dict = {"band": list(bands)}
    if grid.is_rectilinear:
        coords["x"] = t.c + t.a * (np.arange(grid.width) + 0.5)
        coords["y"] = t.f + t.e * (np.arange(grid.height) + 0.5)
    gdal_gt = f"{t.c!r} {t.a!r} {t.b!r} {t.f!r} {t.d!r} {t.e!r}"
    ref_attrs = {"GeoTransform": gdal_gt}
    if grid.crs is not None:
        ref_attrs["crs_wkt"] = grid.crs.to_wkt()
        ref_attrs["spatial_ref"] = ref_attrs["crs_wkt"]
    coords["spatial_ref"] = xr.DataArray(0, attrs=ref_attrs)
    attrs = {
        "crs": grid.crs.to_wkt() if grid.crs is not None else None,
        "transform": tuple(t)[:6],
        "nodata": nodata,
        "grid_mapping": "spatial_ref",
        "long_name": tuple(bands),
    }
    da = xr.DataArray(array, dims=("band", "y", "x"), coords=coords, attrs=attrs, name="rastercover")
    da.encoding["_FillValue"] = nodata
    return da
