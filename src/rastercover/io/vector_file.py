"""Vector features from any OGR file (GeoPackage, Shapefile, GeoJSON, FlatGeobuf ...) through pyogrio.

Reads are bounding-box filtered (the driver's spatial index where it has one) so memory follows the tiles
being computed, not the size of the layer. A read returns every feature whose bounding box (of all its vertices,
holes included: OGR's envelope) meets the box asked for. OGR's own spatial filter does not quite: where a
feature's box crosses the filter's side, OGR asks GEOS whether the *geometry* intersects the box, and for an
invalid geometry (a hole outside its shell, overlapping parts) GEOS may say no although the repair that
rastercover rasterizes does reach the box. So a GeoPackage is read through its R-tree directly (no geometry
test), and other formats add the invalid features, found once by a scan of the layer (by chunks: the layer is
never in memory at once), whose box meets it.

Examples
--------
>>> import numpy as np, shapely, pyogrio.raw, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "stands.gpkg")
>>> pyogrio.raw.write(path, shapely.to_wkb(np.array([shapely.box(0, 0, 10, 10)])), [np.array([4.5])],
...                   ["height"], geometry_type="Polygon", crs="EPSG:32198", layer="stands")
>>> src = FileVectorSource(path, value="height")
>>> src.read((0, 0, 5, 5)).value.tolist()
[4.5]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import shapely

from ..crs import CRS, as_crs
from ..errors import CRSError, InputError, MissingColumnError, SourceError
from ..features import Features
from .class_names import class_table
from .ogr import pyogrio as _pyogrio
from .vector_memory import vertex_bounds

__all__ = ["SCAN_CHUNK", "FileVectorSource"]

#: Features per read when a layer is scanned whole (for its invalid geometries, in formats without a GeoPackage
#: R-tree): the scan holds this many geometries at a time, not the layer.
SCAN_CHUNK = 8192


def _ident(name: str) -> str:
    """An SQLite identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def _literal(text: str) -> str:
    """An SQLite string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass(eq=False)
class FileVectorSource:
    """A layer of an OGR-readable file.

    Parameters
    ----------
    path
        The file (or any OGR dataset name, e.g. ``/vsizip/...``).
    layer
        Layer name or index; required when the file holds several layers.
    value
        Numeric column holding each feature's value (``None``: no value; methods that need one refuse).
    where
        An OGR SQL attribute filter such as ``"height > 10"`` (the only SQL a user supplies).
    assume_crs
        CRS to assume when the file has none. A file with a CRS keeps its own.
    """

    path: str
    layer: str | int | None = None
    value: str | None = None
    where: str | None = None
    assume_crs: object = None
    _crs_wkt: str | None = field(init=False, default=None)
    _bounds: tuple[float, float, float, float] | None = field(init=False, default=None)
    _count: int = field(init=False, default=0)
    _rtree: tuple[str, str, str, str] | None = field(init=False, default=None, repr=False)
    _invalid: tuple[np.ndarray, np.ndarray] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        pyogrio = _pyogrio()
        self.path = os.fspath(self.path)
        if not self.path.startswith("/vsi") and not os.path.exists(self.path):
            raise SourceError(f"{self.path}: no such file")
        try:
            layers = pyogrio.list_layers(self.path)
        except Exception as exc:
            raise SourceError(f"{self.path}: cannot read it as a vector file ({_reason(exc)})") from None
        names = [str(n) for n in layers[:, 0]] if len(layers) else []
        if not names:
            raise SourceError(f"{self.path}: the file holds no vector layer")
        if self.layer is None:
            if len(names) > 1:
                raise SourceError(
                    f"{self.path} holds {len(names)} layers ({', '.join(names)}): name one with --layer / layer="
                )
            self.layer = names[0]
        elif isinstance(self.layer, str) and self.layer not in names:
            raise SourceError(f"{self.path}: no layer {self.layer!r}; its layers are {', '.join(names)}")
        try:
            info = pyogrio.read_info(self.path, layer=self.layer, force_total_bounds=True)
        except Exception as exc:
            raise SourceError(f"{self.describe()}: cannot read the layer ({_reason(exc)})") from None
        fields = [str(f) for f in info["fields"]]
        if self.value is not None:
            if self.value not in fields:
                raise MissingColumnError(
                    f"{self.describe()} has no column {self.value!r}; its columns are {', '.join(fields) or '(none)'}"
                )
            dtype = str(info["dtypes"][fields.index(self.value)])
            if not (dtype.startswith(("int", "uint", "float")) or dtype == "bool"):
                raise MissingColumnError(
                    f"{self.describe()}: column {self.value!r} holds {dtype} values; the value column must be "
                    "numeric (cast it, or pick another column)"
                )
        crs = info["crs"] or None
        if crs is None and self.assume_crs is None:
            raise CRSError(
                f"{self.describe()} has no CRS: name the CRS to assume (--assume-crs EPSG:XXXX / assume_crs=)"
            )
        resolved = as_crs(crs) if crs is not None else as_crs(self.assume_crs)
        self._crs_wkt = resolved.to_wkt() if resolved is not None else None
        if info["geometry_type"] is None:
            raise SourceError(f"{self.describe()} has no geometry column")
        self._count = int(info["features"])
        tb = info.get("total_bounds")
        if self._count == 0 or tb is None or not np.all(np.isfinite(tb)):
            raise SourceError(f"{self.describe()} is empty: it has no features")
        self._bounds = tuple(float(v) for v in tb)
        if info.get("driver") == "GPKG":
            table = self.layer if isinstance(self.layer, str) else names[int(self.layer)]
            self._rtree = self._find_rtree(table, info.get("fid_column"), info.get("geometry_name"))
        if self.where:
            try:
                probe = pyogrio.raw.read(
                    self.path,
                    layer=self.layer,
                    where=self.where,
                    read_geometry=False,
                    columns=None,  # some drivers (FlatGeobuf) test the filter on the fields read only
                    return_fids=True,
                    max_features=1,
                )
            except Exception as exc:
                raise SourceError(f"{self.describe()}: the filter {self.where!r} fails: {_reason(exc)}") from None
            if len(probe[1]) == 0:
                raise SourceError(f"{self.describe()}: no feature matches the filter {self.where!r}")

    def _find_rtree(self, table: str, fid: str | None, geom: str | None) -> tuple[str, str, str, str] | None:
        """``(table, fid, geometry, rtree)`` names of a GeoPackage layer with an R-tree, else None."""
        if not fid or not geom:
            return None
        rtree = f"rtree_{table}_{geom}"
        try:
            _meta, _fids, _wkb, data = _pyogrio().raw.read(
                self.path,
                sql=f"SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = {_literal(rtree)}",
                read_geometry=False,
            )
        except Exception:
            return None
        if not len(data) or not len(data[0]) or int(data[0][0]) == 0:
            return None
        return table, fid, geom, rtree

    def _rtree_sql(self, bbox: tuple[float, float, float, float]) -> str:
        """The features whose box meets ``bbox`` by the GeoPackage's R-tree (which holds every vertex's box)."""
        table, fid, geom, rtree = self._rtree
        x0, y0, x1, y1 = (float(v) for v in bbox)
        cols = "t.*" if self.where else ", ".join(f"t.{_ident(c)}" for c in (fid, self.value, geom) if c)
        return (
            f"SELECT {cols} FROM {_ident(table)} t WHERE t.{_ident(fid)} IN (SELECT id FROM {_ident(rtree)} "
            f"WHERE minx <= {x1!r} AND maxx >= {x0!r} AND miny <= {y1!r} AND maxy >= {y0!r})"
        )

    def _invalid_features(self) -> tuple[np.ndarray, np.ndarray]:
        """FIDs and vertex boxes of the features with an invalid geometry: one scan of the layer, by chunks of
        :data:`SCAN_CHUNK` features (the layer is never in memory at once), then kept.

        The chunks are pages of the unfiltered layer: with an attribute filter, some drivers (OpenFileGDB) page
        ``skip_features`` over the unfiltered features while returning filtered ones, so a filtered scan by pages
        would miss and repeat features. The filter is applied afterwards, to the FIDs found, from one read of the
        FIDs that pass it (fields only, no geometry).
        """
        if self._invalid is None:
            found_fids, found_boxes = [], []
            skip = 0
            while True:
                fids, wkb = self._scan_page(skip)
                n = len(wkb)
                geoms = shapely.from_wkb(wkb, on_invalid="ignore")
                del wkb
                bad = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms) & ~shapely.is_valid(geoms)
                found_fids.append(np.asarray(fids, dtype=np.int64)[bad])
                found_boxes.append(vertex_bounds(geoms[bad]))
                skip += n
                if n < SCAN_CHUNK:
                    break
            fids, boxes = np.concatenate(found_fids), np.concatenate(found_boxes)
            if self.where and len(fids):
                keep = np.isin(fids, self._fids_passing_filter())
                fids, boxes = fids[keep], boxes[keep]
            self._invalid = (fids, boxes)
        return self._invalid

    def _scan_page(self, skip: int) -> tuple[np.ndarray, np.ndarray]:
        """FIDs and WKB of up to :data:`SCAN_CHUNK` features of the unfiltered layer from feature ``skip`` on."""
        try:
            _meta, fids, wkb, _data = _pyogrio().raw.read(
                self.path, layer=self.layer, columns=[], return_fids=True, skip_features=skip, max_features=SCAN_CHUNK
            )
        except Exception as exc:
            raise SourceError(f"{self.describe()}: reading features failed ({_reason(exc)})") from None
        return (np.arange(skip, skip + len(wkb), dtype=np.int64) if fids is None else fids), wkb

    def _fids_passing_filter(self) -> np.ndarray:
        """FIDs of the features the attribute filter keeps (one read without geometries)."""
        try:
            _meta, fids, _wkb, _data = _pyogrio().raw.read(
                self.path, layer=self.layer, where=self.where, read_geometry=False, return_fids=True
            )  # every field: a filter on a field left out matches nothing on some drivers (OpenFileGDB)
        except Exception as exc:
            raise SourceError(f"{self.describe()}: reading features failed ({_reason(exc)})") from None
        return np.asarray(fids, dtype=np.int64)

    @property
    def crs(self) -> CRS | None:
        """The layer's CRS (or the assumed one)."""
        return as_crs(self._crs_wkt)

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """Bounding box of the layer (before the attribute filter)."""
        return self._bounds

    def describe(self) -> str:
        """``path`` and ``layer`` for messages."""
        return f"{self.path} (layer {self.layer})" if self.layer is not None else self.path

    def identity(self) -> dict:
        """What makes this source this source, for a resumed run to compare: the file (absolute path; the size and
        modification time of it and of its sidecars, e.g. a shapefile's ``.dbf``), layer, filter, value column
        and feature count."""
        files = []
        if not self.path.startswith("/vsi"):
            path = os.path.abspath(self.path)
            if os.path.isdir(path):  # a dataset that is a folder (a FileGDB, a folder of shapefiles)
                names = [os.path.join(path, n) for n in sorted(os.listdir(path))]
            else:  # the file and its sidecars (same stem: a shapefile's .dbf, .shx, .prj, .cpg)
                stem = os.path.splitext(os.path.basename(path))[0]
                folder = os.path.dirname(path)
                names = [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if os.path.splitext(n)[0] == stem]
            for name in names:
                st = os.stat(name)
                files.append([os.path.basename(name), st.st_size, st.st_mtime_ns])
        return {
            "kind": "file",
            "path": self.path if self.path.startswith("/vsi") else os.path.abspath(self.path),
            "layer": self.layer,
            "where": self.where,
            "value": self.value,
            "features": self._count,
            "files": files,
        }

    def values(self) -> np.ndarray:
        """The value column of every feature passing the filter (NaN for NULL), without geometries."""
        if not self.value:
            return np.empty(0)
        pyogrio = _pyogrio()
        try:
            # with a filter, every field: some drivers (Shapefile, FlatGeobuf) test it on the fields read only
            meta, _fids, _wkb, data = pyogrio.raw.read(
                self.path, layer=self.layer, columns=None if self.where else [self.value], where=self.where,
                read_geometry=False,
            )  # fmt: skip
        except Exception as exc:
            raise SourceError(f"{self.describe()}: reading the values failed ({_reason(exc)})") from None
        return np.asarray(data[[str(f) for f in meta["fields"]].index(self.value)], dtype=np.float64)

    def class_names(self, column: str) -> dict[float, str | None]:
        """``{value: name or None}``: the name in ``column`` of each value of the value column (features passing the
        filter); see :func:`rastercover.io.class_names.class_table`."""
        fields = [str(f) for f in _pyogrio().read_info(self.path, layer=self.layer)["fields"]]
        if column not in fields:
            raise MissingColumnError(
                f"{self.describe()} has no column {column!r} to name classes; its columns are {', '.join(fields)}"
            )
        if not self.value:
            raise InputError(f"{self.describe()}: class names name the values of the value column: give one")
        try:
            meta, _fids, _wkb, data = _pyogrio().raw.read(  # with a filter, every field (see values())
                self.path, layer=self.layer, columns=None if self.where else [self.value, column], where=self.where,
                read_geometry=False,
            )  # fmt: skip
        except Exception as exc:
            raise SourceError(f"{self.describe()}: reading the class names failed ({_reason(exc)})") from None
        read = [str(f) for f in meta["fields"]]  # in the layer's order, not the order asked
        i, j = read.index(self.value), read.index(column)
        return class_table(np.asarray(data[i], dtype=np.float64), data[j], column, self.describe())

    def read(self, bbox: tuple[float, float, float, float] | None) -> Features:
        """Features whose bounding box (of all their vertices) meets ``bbox`` (all when None), in layer order."""
        # with a filter, every field: some drivers (FlatGeobuf) test it on the fields read only
        columns = None if self.where else [self.value] if self.value else []
        if bbox is not None and self._rtree is not None:
            parts = [self._read(sql=self._rtree_sql(bbox), where=self.where)]
        else:
            bb = tuple(bbox) if bbox is not None else None
            parts = [self._read(layer=self.layer, columns=columns, where=self.where, bbox=bb)]
            if bbox is not None:  # OGR's filter may leave out an invalid feature whose repair reaches bbox
                fids, boxes = self._invalid_features()
                x0, y0, x1, y1 = bbox
                near = (boxes[:, 0] <= x1) & (boxes[:, 2] >= x0) & (boxes[:, 1] <= y1) & (boxes[:, 3] >= y0)
                missing = np.setdiff1d(fids[near], parts[0][0])
                if len(missing):
                    parts.append(self._read(layer=self.layer, columns=columns, fids=missing))
        order = np.concatenate([p[0] for p in parts])
        geoms = np.concatenate([p[1] for p in parts])
        value = np.concatenate([p[2] for p in parts])
        if len(geoms) == 0:
            return Features.empty()
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        return Features(geoms[keep], value[keep], order[keep]).sorted()

    def _read(self, **kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fids, geometries, values)`` of one pyogrio read."""
        try:
            meta, fids, wkb, data = _pyogrio().raw.read(self.path, return_fids=True, **kwargs)
        except Exception as exc:
            raise SourceError(f"{self.describe()}: reading features failed ({_reason(exc)})") from None
        n = len(wkb)
        geoms = shapely.from_wkb(wkb, on_invalid="warn") if n else np.empty(0, dtype=object)
        fields = [str(f) for f in meta.get("fields", [])]
        if self.value and self.value in fields:
            value = np.asarray(data[fields.index(self.value)], dtype=np.float64)
        else:
            value = np.full(n, np.nan)
        order = np.asarray(fids, dtype=np.int64) if fids is not None else np.arange(n, dtype=np.int64)
        return order, np.asarray(geoms, dtype=object), value
