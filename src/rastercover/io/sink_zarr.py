"""A Zarr store: one array (band, y, x) chunked by the grid's tiles, readable by xarray and rioxarray.

Layout (Zarr format 2, consolidated metadata, so ``xarray.open_zarr(path)`` and GDAL read it):

- ``rastercover``: the pixels, shape ``(bands, height, width)``, one chunk per output tile holding all bands
  (chunks ``(bands, tile_height, tile_width)``), the job's dtype, fill value = nodata; attributes
  ``_ARRAY_DIMENSIONS`` ``["band", "y", "x"]``, ``grid_mapping`` / ``coordinates`` ``"spatial_ref"``,
  ``long_name`` (the band names) and ``nodata``.
- ``band``: the band names (methods), a string coordinate.
- ``x`` / ``y``: pixel-centre coordinates (north-up grids only; a rotated grid has none).
- ``spatial_ref``: a scalar carrying the CRS and transform the CF / GDAL way: ``crs_wkt``, ``spatial_ref``
  (the same WKT) and ``GeoTransform`` (GDAL order ``c a b f d e``), which rioxarray reads.

Chunks equal to the fill value everywhere are not stored (Zarr's default; they read back as nodata), so the
presence of a chunk does not say a tile was written. While the store is being built (in place under the
stable name ``.{name}.partial``, see :mod:`rastercover.io.resume`) a marker in ``.rastercover/done/``
is created after each batch of tiles is stored; :meth:`ZarrSink.done_tiles` reads them when resuming. At
:meth:`ZarrSink.close` the markers are removed, the metadata consolidated and the store renamed to its name.
Each tile is its own chunk, so worker processes write their tiles concurrently (:meth:`ZarrSink.detached_writer`).

Examples
--------
>>> import os, tempfile, numpy as np, xarray as xr
>>> from affine import Affine
>>> from rastercover.grid import Grid, Window
>>> g = Grid(3, 2, Affine(10, 0, 100, 0, -10, 50), "EPSG:32198", tile_size=2)
>>> sink = ZarrSink(os.path.join(tempfile.mkdtemp(), "out.zarr"))
>>> sink.open(g, ["COUNT"], np.dtype("int16"), -1)
>>> sink.write(Window(0, 0, 3, 2), np.arange(6, dtype="int16").reshape(1, 2, 3), list(g.tiles()))
>>> ds = xr.open_zarr(sink.close(), mask_and_scale=False)
>>> ds["rastercover"].sel(band="COUNT").values.tolist(), ds.x.values.tolist()
([[0, 1, 2], [3, 4, 5]], [105.0, 115.0, 125.0])
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import OutputError
from ..grid import Grid, Tile, Window
from ..pixel_values import is_nodata
from .atomic import check_target, commit, discard
from .checked import checks_writes
from .gtiff import constant_block
from .resume import (
    MARK_DIR,
    JobInfo,
    PartialOutput,
    drop_marks,
    job_fingerprint,
    mark_done,
    marked_tiles,
    partial_sibling,
    release_partial,
    resolve_job,
    start_partial,
)

__all__ = ["VARIABLE", "ZarrSink", "ZarrTileWriter", "covered_rectangle"]

#: Name of the pixel array in the store.
VARIABLE = "rastercover"


def _zarr():
    try:
        import zarr
    except ImportError:
        raise OutputError("a .zarr output needs zarr: pip install 'rastercover[dask]' (or pip install zarr)") from None
    if int(zarr.__version__.split(".")[0]) < 3:
        raise OutputError(f"a .zarr output needs zarr 3 or later (found {zarr.__version__}): pip install -U zarr")
    return zarr


class ZarrTileWriter:
    """Writes tiles (whole chunks) into the store's pixel array; picklable, for worker processes.

    After a batch of tiles is stored, a marker listing them is created (see the module notes), so an interrupted run
    can be resumed.
    """

    @property
    def local_path(self) -> str:
        """The store the chunks go to (workers that do not see it must not write)."""
        return self.store

    def __init__(
        self,
        store: str,
        dtype: np.dtype,
        nodata: float,
        output_label: str | None = None,
        failure_note: str | None = None,
    ) -> None:
        self.store, self.dtype, self.nodata = store, np.dtype(dtype), nodata
        self.output_label, self.failure_note = output_label or store, failure_note
        self._array = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}

    @property
    def write_path(self) -> str:
        """Where the bytes go (for the free-space figure of an error)."""
        return self.store

    @property
    def array(self):
        """The pixel array, opened on first use (in the process that writes)."""
        if self._array is None:
            self._array = _zarr().open_array(os.path.join(self.store, VARIABLE), mode="r+")
        return self._array

    @checks_writes
    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        """Write each tile's part of ``data`` (which covers ``window``) as its chunk.

        Tiles that exactly cover a rectangle (a block's tiles) are stored in one assignment, which lets Zarr
        encode and store their chunks together; one marker records them all.
        """
        rect = covered_rectangle(tiles)
        if rect is not None:
            self.array[(slice(None), *rect.slices)] = data[(slice(None), *rect.relative_to(window).slices)]
        else:
            for t in tiles:
                self.array[(slice(None), *t.window.slices)] = data[(slice(None), *t.window.relative_to(window).slices)]
        mark_done(self.store, [t.index for t in tiles])

    def stores_nothing_for(self, values: Sequence[float]) -> bool:
        """True when constant tiles of ``values`` store no chunk (all nodata: the fill value), only a marker.

        The Dask executor then records such tiles from the client instead of sending them to the workers.
        """
        return all(is_nodata(v, self.nodata) for v in values)

    @checks_writes
    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        """Write tiles whose band ``i`` is ``values[i]`` everywhere (nothing stored when all are nodata)."""
        if not self.stores_nothing_for(values):
            rect = covered_rectangle(tiles)
            for w in [rect] if rect is not None else [t.window for t in tiles]:
                self.array[(slice(None), *w.slices)] = constant_block(w.height, w.width, values, self.dtype)
        mark_done(self.store, [t.index for t in tiles])


def covered_rectangle(tiles: Sequence[Tile]) -> Window | None:
    """The window that ``tiles`` (distinct tiles of one grid) cover exactly, or None when they leave holes.

    Examples
    --------
    >>> from affine import Affine
    >>> from rastercover.grid import Grid
    >>> g = Grid(5, 4, Affine(1, 0, 0, 0, -1, 4), "EPSG:3857", tile_size=2)
    >>> covered_rectangle([g.tile(0, 1), g.tile(0, 2), g.tile(1, 1), g.tile(1, 2)])
    Window(col_off=2, row_off=0, width=3, height=4)
    >>> covered_rectangle([g.tile(0, 0), g.tile(1, 1)]) is None
    True
    """
    if not tiles:
        return None
    ws = [t.window for t in tiles]
    c0, r0 = min(w.col_off for w in ws), min(w.row_off for w in ws)
    c1, r1 = max(w.col_off + w.width for w in ws), max(w.row_off + w.height for w in ws)
    if sum(w.width * w.height for w in ws) != (c1 - c0) * (r1 - r0):
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


class ZarrSink(PartialOutput):
    """Write tiles into the Zarr store ``path`` (a name ending in ``.zarr``).

    Parameters
    ----------
    path
        The store (a folder).
    overwrite
        Replace an existing store.
    resume
        Continue the partial store ``.{name}.partial`` that an interrupted ``resume=True`` run left (after
        checking it was the same job: source, filter, methods, grid, type, nodata; ``job`` says what of the
        job beyond the grid and bands the output records), computing only missing tiles.
        When this run fails too, the partial store is kept for the next ``resume=True`` run. Without
        ``resume`` a partial store is started afresh and removed on failure.
    """

    label = "Zarr store"

    def __init__(
        self, path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False, job: JobInfo = None
    ) -> None:
        self.path = os.fspath(path)
        self.job = job
        _zarr()
        check_target(self.path, overwrite=overwrite)
        self.resume = resume
        self._tmp: str | None = None
        self._done: set[tuple[int, int]] = set()
        self._writer: ZarrTileWriter | None = None

    @checks_writes
    def open(self, grid: Grid, bands: Sequence[str], dtype: np.dtype, nodata: float) -> None:
        self.grid, self.bands, self.dtype, self.nodata = grid, list(bands), np.dtype(dtype), nodata
        tmp = partial_sibling(self.path)
        fingerprint = job_fingerprint(grid, self.bands, self.dtype, nodata, resolve_job(self.job))
        created = os.path.join(tmp, MARK_DIR, "created")
        continuing = start_partial(tmp, resume=self.resume, fingerprint=fingerprint, what=self.path)
        self._tmp = tmp  # ours from here on (refused above when a live run or another job holds it: not ours to clean)
        if continuing:
            if os.path.isfile(created):
                self._done = marked_tiles(self._tmp)
                self._writer = ZarrTileWriter(self._tmp, self.dtype, nodata, self.path, self.failure_note)
                return
            # the interrupted run never finished creating the store (no tile was written): start it afresh
            start_partial(self._tmp, resume=False, fingerprint=fingerprint, what=self.path)
        self._done = set()
        self._create()
        with open(created, "w", encoding="utf-8"):  # the store's metadata is complete: its tiles may be resumed
            pass
        self._writer = ZarrTileWriter(self._tmp, self.dtype, nodata, self.path, self.failure_note)

    def _create(self) -> None:
        zarr = _zarr()
        g, t = self.grid, self.grid.transform
        root = zarr.open_group(self._tmp, mode="a", zarr_format=2)
        fill = self.dtype.type(self.nodata).item()
        names = self.bands
        root.create_array(
            VARIABLE,
            shape=(len(names), g.height, g.width),
            chunks=(len(names), min(g.tile_height, g.height), min(g.tile_width, g.width)),
            dtype=self.dtype,
            fill_value=fill,
            attributes={
                "_ARRAY_DIMENSIONS": ["band", "y", "x"],
                "grid_mapping": "spatial_ref",
                "coordinates": "spatial_ref",
                "long_name": list(names),
                "nodata": fill,
            },
        )
        width = max(1, *(len(n) for n in names))
        band = root.create_array(
            "band", shape=(len(names),), chunks=(len(names),), dtype=f"<U{width}", fill_value="",
            attributes={"_ARRAY_DIMENSIONS": ["band"], "long_name": "method"},
        )  # fmt: skip
        band[:] = np.array(names, dtype=f"<U{width}")
        if g.is_rectilinear:
            for dim, values, std in (
                ("x", t.c + t.a * (np.arange(g.width) + 0.5), "projection_x_coordinate"),
                ("y", t.f + t.e * (np.arange(g.height) + 0.5), "projection_y_coordinate"),
            ):
                arr = root.create_array(
                    dim, shape=values.shape, chunks=values.shape, dtype="float64", fill_value=None,
                    attributes={"_ARRAY_DIMENSIONS": [dim], "standard_name": std},
                )  # fmt: skip
                arr[:] = values
        ref_attrs = {"_ARRAY_DIMENSIONS": [], "GeoTransform": f"{t.c!r} {t.a!r} {t.b!r} {t.f!r} {t.d!r} {t.e!r}"}
        if g.crs is not None:
            ref_attrs["crs_wkt"] = ref_attrs["spatial_ref"] = g.crs.to_wkt()
        ref = root.create_array("spatial_ref", shape=(), dtype="int32", fill_value=None, attributes=ref_attrs)
        ref[...] = 0

    @checks_writes
    def describe_bands(self, bands: Sequence[dict]) -> None:
        """Each band's description, and the class names of the bands that have some, as attributes of the
        array: ``descriptions`` (a list) and ``classes`` (JSON text ``{band: {pixel value: name}}``), those of
        the DataArray a run in memory gives (``xarray.open_zarr`` reads them back)."""
        from .sink_memory import classes_attr

        array = _zarr().open_group(self._tmp, mode="a", zarr_format=2)[VARIABLE]
        attrs = {"descriptions": [b["metadata"].get("DESCRIPTION", "") for b in bands]}
        classes = {name: dict(b["classes"]) for name, b in zip(self.bands, bands, strict=True) if b.get("classes")}
        if classes:
            attrs["classes"] = classes_attr(classes)
        elif "classes" in array.attrs:  # a resumed store of a run that named them
            del array.attrs["classes"]
        array.attrs.update(attrs)

    def done_tiles(self) -> set[tuple[int, int]]:
        """Tiles an interrupted run already wrote (their markers exist); the engine skips them."""
        return set(self._done)

    def detached_writer(self) -> ZarrTileWriter:
        """A writer that worker processes use directly; report what they wrote with :meth:`record`."""
        return self._writer

    def record(self, tiles: Sequence[Tile]) -> None:
        """Note tiles written by a detached writer (their markers are the record)."""

    def write(self, window: Window, data: np.ndarray, tiles: Sequence[Tile]) -> None:
        self._writer.write(window, data, tiles)

    def write_constant(self, tiles: Sequence[Tile], values: Sequence[float]) -> None:
        self._writer.write_constant(tiles, values)

    @checks_writes
    def close(self) -> str:
        drop_marks(self._tmp)
        _zarr().consolidate_metadata(self._tmp, zarr_format=2)
        commit(self._tmp, self.path)
        self._tmp = None
        return self.path

    def abort(self) -> None:
        """Remove the partial store, or keep it (``resume=True``) for a later run to continue."""
        if self._tmp and not self.resume:
            discard(self._tmp)
        elif self._tmp:  # kept for a later run, from any process
            release_partial(self._tmp)
        self._tmp = None
