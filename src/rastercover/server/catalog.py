"""The service's catalogue: raster coverages and vector layers by id, from command-line sources and/or a TOML file.

Clients only ever name an entry by its id; paths, table names and connection strings stay on the server.
Ids are derived from names (a file's stem, a folder's name, a table's name), lower-cased, with anything but
``[a-z0-9_-]`` replaced by ``-``; a clash gets ``-2``, ``-3``... in the order the sources are given, so ids
are stable for a given command line or file.

Sources
-------
- a raster file (``.tif``, ``.vrt``...) or a tile folder → a coverage;
- a vector file (``.gpkg``, ``.shp``, ``.geojson``, ``.fgb``...) → one layer per layer of the file;
- a folder that is not a tile folder (it holds no ``r{row}_c{col}`` tiles nor an ``index.vrt``) → everything in
  it, non-recursively: each raster and each vector file as above, each tile sub-folder as one coverage;
- ``postgresql://...?table=`` → a raster coverage when the table has a raster column, else a vector layer.

An entry whose source cannot be read (a text file named ``x.tif``, a corrupt GeoTIFF, a database that is down)
stays in the catalogue as *unavailable*: :meth:`CoverageEntry.open` raises :class:`UnavailableError` (HTTP 503)
with the reason, without the server's paths (``entry.problem``); every other entry keeps working.
:meth:`Catalog.check` opens every entry once (the service does it at start) and logs one warning per
unavailable entry; a source that comes back is available again at its next use. In a folder, a file that
cannot be read as vector data becomes an unavailable layer rather than stopping the service.

A TOML file lists entries explicitly::

    [coverages.landcover]
    source = "/data/landcover_tiles"
    title = "Land cover 2020"

    [layers.burned]
    source = "/data/burned.gpkg"
    layer = "burned"          # optional: the layer of a multi-layer file
    id_column = "fire_id"     # optional: what clients give as a feature id (default: the FID / primary key)

Examples
--------
>>> import os, tempfile, numpy as np, rasterio
>>> from affine import Affine
>>> d = tempfile.mkdtemp()
>>> with rasterio.open(os.path.join(d, "Land Cover.tif"), "w", driver="GTiff", width=2, height=2, count=1,
...                    dtype="uint8", crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 20)) as ds:
...     ds.write(np.zeros((1, 2, 2), "uint8"))
>>> cat = Catalog.from_sources([d])
>>> list(cat.coverages), cat.coverage("land-cover").open().grid.shape
(['land-cover'], (2, 2))
>>> cat.coverage("nope")                                           # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rastercover.server.catalog.NotFoundError: no coverage 'nope' in the catalogue; its coverages are land-cover
>>> _ = open(os.path.join(d, "notes.tif"), "w").write("not a raster")
>>> cat = Catalog.from_sources([d])
>>> cat.check()
['notes']
>>> cat.coverage("notes").problem
'not a raster GDAL can read'
"""

from __future__ import annotations

import logging
import os
import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CRSError, InputError, RastercoverError, SourceError
from ..grid import TILE_STEM
from ..io.raster_grid import RASTER_SUFFIXES
from ..io.registry import location_kind

__all__ = ["Catalog", "CoverageEntry", "LayerEntry", "NotFoundError", "UnavailableError"]

log = logging.getLogger("rastercover.server")

_VECTOR_SUFFIXES = frozenset({".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gml", ".kml", ".csv", ".sqlite"})


class NotFoundError(InputError):
    """A catalogue id that names no entry (HTTP 404)."""


class UnavailableError(SourceError):
    """A catalogue entry whose source cannot be read now (HTTP 503); the message names the entry and the reason."""


def _source_forms(source: str) -> list[str]:
    """The ways a message can spell ``source``, longest first: as given, absolute, resolved; a database location
    as its messages show it (without the password)."""
    if location_kind(source) == "postgis":
        from ..io.pg import PgLocation

        try:
            forms = {source, PgLocation.parse(source).describe()}
        except Exception:  # an unparsable location: its messages quote it as given
            forms = {source}
    else:
        forms = {source, os.path.abspath(source), os.path.realpath(source)}
    return sorted(forms, key=len, reverse=True)


def _reason(exc: BaseException, source: str, id: str) -> str:
    """Why ``source`` cannot be read, in one short line, without the source (nor any other path or host).

    The reason is the message's first clause: the GDAL, OGR or database text after it names files and hosts,
    and stays in the server's log.

    >>> _reason(OSError("/srv/x.tif: not a raster GDAL can read ('/srv/x.tif' not recognized)"), "/srv/x.tif", "x")
    'not a raster GDAL can read'
    """
    text = (str(exc).strip().splitlines() or [""])[0]
    for form in _source_forms(source):
        text = text.replace(form, id)
    text = re.sub(rf"^{re.escape(id)}(?:[/\\][^:]*)?: ", "", text)
    text = text.split(" (", 1)[0].split(": ", 1)[0].strip()
    if not text or "://" in text or re.search(r"(?:^|[\s'\"])(?:[/\\]|[A-Za-z]:\\)\w", text):
        return "its source cannot be read"
    return text


class _Availability:
    """Whether an entry's source could be read the last time it was tried, and why not; logs each change once."""

    def __init__(self, kind: str, id: str) -> None:
        self.kind, self.id = kind, id
        self.problem: str | None = None
        self._lock = threading.Lock()

    def failed(self, exc: BaseException, source: str) -> UnavailableError:
        reason = _reason(exc, source, self.id)
        with self._lock:
            changed, self.problem = self.problem != reason, reason
        if changed:  # a bug rather than a bad source gets its traceback
            trace = None if isinstance(exc, RastercoverError) else exc
            log.warning("%s %r is unavailable: %s (%s)", self.kind, self.id, reason, str(exc).strip(), exc_info=trace)
        return UnavailableError(f"{self.kind} {self.id!r} is unavailable: {reason}")

    def ok(self) -> None:
        with self._lock:
            back, self.problem = self.problem is not None, None
        if back:
            log.warning("%s %r is available again", self.kind, self.id)


def slug(name: str) -> str:
    """An id from a name: lower case, ``[a-z0-9_-]`` only.

    Examples
    --------
    >>> slug("Land Cover (2020).tif"), slug("public.Forest_Stands")
    ('land-cover-2020-.tif', 'public.forest_stands')
    """
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-") or "entry"


@dataclass
class CoverageEntry:
    """One raster coverage of the catalogue.

    Attributes
    ----------
    id, title
        What clients see.
    source
        Where it is (a path or a ``postgresql://`` location): never shown to clients.
    """

    id: str
    title: str
    source: str
    _coverage: Any = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _state: _Availability | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._state = _Availability("coverage", self.id)

    @property
    def problem(self) -> str | None:
        """Why the source could not be opened the last time it was tried (None: available, or not tried yet)."""
        return self._state.problem

    def open(self) -> Any:
        """The :class:`~rastercover.protocols.RasterCoverage` (opened once, then shared).

        Raises :class:`UnavailableError` when the source cannot be opened (tried again at the next call).
        """
        with self._lock:
            if self._coverage is None:
                from ..exporting import open_coverage

                try:
                    self._coverage = open_coverage(self.source)
                except Exception as exc:  # RastercoverError, GDAL's, a database's: the entry is unavailable
                    raise self._state.failed(exc, self.source) from None
                self._state.ok()
            return self._coverage


@dataclass
class LayerEntry:
    """One vector layer of the catalogue (a clip source, or a source to rasterize).

    Attributes
    ----------
    id, title
        What clients see.
    source, layer
        The vector file (or ``postgresql://`` location) and the layer's name in a multi-layer file.
    id_column
        The column clients' feature ids refer to (None: the FID, or a table's primary key).
    """

    id: str
    title: str
    source: str
    layer: str | None = None
    id_column: str | None = None
    unreadable: str | None = field(default=None, repr=False)
    _state: _Availability | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._state = _Availability("layer", self.id)
        if self.unreadable is not None:
            self._state.problem = self.unreadable

    @property
    def problem(self) -> str | None:
        """Why the layer could not be read the last time it was tried (None: available, or not tried yet)."""
        return self._state.problem

    def unavailable(self, exc: BaseException) -> UnavailableError:
        """The error to raise when reading the source failed with ``exc`` (recorded, and logged once)."""
        return self._state.failed(exc, self.source)

    def check(self) -> None:
        """Raise :class:`UnavailableError` when the layer's source cannot be read (one short look at it)."""
        if self.unreadable is not None:
            raise UnavailableError(f"layer {self.id!r} is unavailable: {self.unreadable}")
        if location_kind(self.source) == "postgis":
            return  # a database: its errors come with the request that reads it
        from ..io.ogr import pyogrio as load_pyogrio

        pyogrio = load_pyogrio()

        try:
            pyogrio.read_info(self.source, layer=self.layer)
        except Exception as exc:  # pyogrio's DataSourceError and friends
            raise self.unavailable(exc) from None
        self._state.ok()

    def feature(self, feature_id: Any):
        """The geometry and CRS of one feature, by the id clients give (see :func:`read_clip_feature`)."""
        from ..io.clip_feature import read_clip_feature

        return read_clip_feature(self.source, feature_id, layer=self.layer, id_column=self.id_column)

    def map_features(self, *, limit: int, max_vertices: int, detail: int = 2000) -> dict[str, Any]:
        """The layer's first features for a web map: a GeoJSON ``FeatureCollection`` in WGS 84, bounded.

        Parameters
        ----------
        limit
            Features read at most (in FID / primary key order).
        max_vertices
            Vertices sent at most, after simplification: the features past it are left out.
        detail
            Geometries are simplified (topology kept) to 1/``detail`` of the larger side of the features' extent.

        Returns
        -------
        dict
            A GeoJSON ``FeatureCollection`` (RFC 7946: lon/lat); each feature's ``id`` (and ``properties.id``) is
            the id to give as an export's ``clip_id`` (the layer's ``id_column`` value, else its FID or primary
            key; None when a PostGIS view has no key); ``numberReturned``; ``truncated`` (True when features
            were left out by ``limit`` or ``max_vertices``); ``simplified_to`` (the tolerance, in layer units).

        Raises :class:`UnavailableError` when the source cannot be read, ``CRSError`` when the layer has no CRS.
        """
        if self.unreadable is not None:
            raise UnavailableError(f"layer {self.id!r} is unavailable: {self.unreadable}")
        try:
            if location_kind(self.source) == "postgis":
                geoms, ids, crs = self._postgis_rows(limit + 1)
            else:
                geoms, ids, crs = self._file_rows(limit + 1)
        except (CRSError, InputError):
            raise
        except Exception as exc:  # the file's or the database's errors: the layer is unavailable, the request fine
            raise self.unavailable(exc) from None
        self._state.ok()
        if crs is None:
            raise CRSError(f"layer {self.id!r} has no CRS: it cannot be drawn on a map")
        return _feature_collection(geoms, ids, crs, limit=limit, max_vertices=max_vertices, detail=detail)

    def _file_rows(self, n: int) -> tuple[Any, list[Any], Any]:
        from ..io.ogr import pyogrio as load_pyogrio

        pyogrio = load_pyogrio()
        import shapely

        from ..crs import as_crs

        info = pyogrio.read_info(self.source, layer=self.layer)
        fields = [str(f) for f in info["fields"]]
        column = self.id_column if self.id_column in fields and self.id_column != info.get("fid_column") else None
        meta, fids, wkb, data = pyogrio.raw.read(
            self.source, layer=self.layer, max_features=n, columns=[column] if column else [], return_fids=True,
            force_2d=True,
        )  # fmt: skip
        ids = list(data[0]) if column else list(fids)
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
        return geoms, ids, as_crs(meta.get("crs"))

    def _postgis_rows(self, n: int) -> tuple[Any, list[Any], Any]:
        import shapely
        from psycopg import sql

        from ..io.pg import PgLocation, connect
        from ..io.vector_postgis import crs_of_srid, resolve_relation

        loc = PgLocation.parse(self.source)
        with connect(loc, autocommit=True) as conn:
            rel = resolve_relation(conn, loc)
            geoms = [c for c, t in rel.columns.items() if t == "geometry"]
            if loc.column is not None and rel.columns.get(loc.column) == "geometry":
                column = loc.column
            elif loc.column is None and len(geoms) == 1:
                column = geoms[0]
            else:
                raise SourceError(f"{loc.describe()}: no single geometry column to draw (name one with &column=)")
            key = self.id_column
            if key is None:
                pk = conn.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary",
                    (rel.oid,),
                ).fetchall()
                key = pk[0][0] if len(pk) == 1 else None
            g = sql.Identifier(column)
            k = sql.Identifier(key) if key is not None else sql.SQL("NULL")
            order = sql.SQL(" ORDER BY {}").format(k) if key is not None else sql.SQL("")  # a view: as it comes
            query = sql.SQL(
                "SELECT ST_AsBinary(ST_Force2D(CASE WHEN ST_HasArc({g}) THEN ST_CurveToLine({g}) ELSE {g} END)), {k}, "
                "ST_SRID({g}) FROM {t} WHERE {g} IS NOT NULL{order} LIMIT %s"
            ).format(g=g, k=k, t=rel.identifier(), order=order)
            rows = conn.execute(query, (n,)).fetchall()
            srids = {int(r[2]) for r in rows if r[2]}
            if len(srids) > 1:
                raise CRSError(f"layer {self.id!r} mixes SRIDs {sorted(srids)}: it cannot be drawn on a map")
            crs = crs_of_srid(conn, srids.pop()) if srids else None
        wkb = [bytes(r[0]) if r[0] is not None else None for r in rows]
        return shapely.from_wkb(wkb, on_invalid="ignore"), [r[1] for r in rows], crs


@dataclass
class Catalog:
    """Coverages and layers by id."""

    coverages: dict[str, CoverageEntry] = field(default_factory=dict)
    layers: dict[str, LayerEntry] = field(default_factory=dict)

    # ------------------------------------------------------------------ look-ups
    def coverage(self, id: str) -> CoverageEntry:
        """The coverage ``id``; :class:`NotFoundError` (listing the ids) when there is none."""
        try:
            return self.coverages[id]
        except KeyError:
            raise NotFoundError(_missing("coverage", id, self.coverages)) from None

    def layer(self, id: str) -> LayerEntry:
        """The layer ``id``; :class:`NotFoundError` (listing the ids) when there is none, :class:`UnavailableError`
        when its file could not be read when the catalogue was built."""
        try:
            entry = self.layers[id]
        except KeyError:
            raise NotFoundError(_missing("layer", id, self.layers)) from None
        if entry.unreadable is not None:
            raise UnavailableError(f"layer {id!r} is unavailable: {entry.unreadable}")
        return entry

    def clip_source(self, id: str) -> CoverageEntry | LayerEntry:
        """What an export's ``clip_layer`` names: a vector layer (its features are clips), or a raster coverage
        (its footprint is the clip); :class:`NotFoundError` (listing both) when ``id`` is neither.

        Ids are unique across coverages and layers, so an id names one entry at most.
        """
        if id in self.layers:
            return self.layer(id)
        if id in self.coverages:
            return self.coverages[id]
        layers = ", ".join(sorted(self.layers)) or "(none)"
        coverages = ", ".join(sorted(self.coverages)) or "(none)"
        raise NotFoundError(
            f"no layer nor coverage {id!r} in the catalogue to clip by; its layers are {layers}, its coverages "
            f"are {coverages}"
        )

    def check(self) -> list[str]:
        """Open every coverage and look at every file layer once; the ids of the unavailable entries.

        Each unavailable entry is logged once (a warning naming it and the reason); the others are opened
        and kept open, so that the first requests do not pay for it.
        """
        bad = []
        for entry in self.coverages.values():
            try:
                entry.open()
            except UnavailableError:
                bad.append(entry.id)
        for layer in self.layers.values():
            try:
                layer.check()
            except UnavailableError:
                if layer.unreadable is not None:  # found unreadable while the catalogue was built
                    log.warning("layer %r is unavailable: %s", layer.id, layer.unreadable)
                bad.append(layer.id)
        return bad

    # ------------------------------------------------------------------ building
    def add_coverage(self, source: str, *, id: str | None = None, title: str | None = None) -> CoverageEntry:
        """Add a coverage; ``id`` defaults to a slug of its name (made unique)."""
        name = _name_of(source)
        key = self._unique(id or slug(Path(name).stem if Path(name).suffix in RASTER_SUFFIXES else name), id)
        entry = CoverageEntry(key, title or name, source)
        self.coverages[key] = entry
        return entry

    def add_layer(
        self,
        source: str,
        *,
        layer: str | None = None,
        id: str | None = None,
        title: str | None = None,
        id_column: str | None = None,
        unreadable: str | None = None,
    ) -> LayerEntry:
        """Add a vector layer; ``id`` defaults to a slug of the layer's (or file's) name, made unique.

        ``unreadable``: why the source cannot be read (the entry is then listed as unavailable).
        """
        name = layer or Path(_name_of(source)).stem
        key = self._unique(id or slug(name), id)
        entry = LayerEntry(key, title or name, source, layer, id_column, unreadable=unreadable)
        self.layers[key] = entry
        return entry

    def add_source(self, source: str | os.PathLike) -> None:
        """Add what a command-line source holds (see the module's docstring)."""
        text = os.fspath(source)
        if location_kind(text) == "postgis":
            self._add_postgis(text)
            return
        p = Path(text)
        if not p.exists():
            raise SourceError(f"{text}: no such file or folder to serve")
        if p.is_dir():
            if _is_tile_folder(p):
                self.add_coverage(text)
                return
            for child in sorted(p.iterdir()):
                if child.is_dir() and _is_tile_folder(child):
                    self.add_coverage(str(child))
                elif child.is_file() and _is_vector(child):
                    self._add_vector_file(child, strict=False)
                elif child.is_file() and child.suffix.lower() in RASTER_SUFFIXES:
                    self.add_coverage(str(child))
            return
        suffix = p.suffix.lower()
        if _is_vector(p):
            self._add_vector_file(p)
        elif suffix in RASTER_SUFFIXES:
            self.add_coverage(text)
        else:
            raise SourceError(
                f"{text}: not a raster ({', '.join(sorted(RASTER_SUFFIXES))}) nor a vector file "
                f"({', '.join(sorted(_VECTOR_SUFFIXES))}) nor a folder"
            )

    @classmethod
    def from_sources(cls, sources: list[str | os.PathLike] = (), config: str | os.PathLike | None = None) -> Catalog:
        """A catalogue from a TOML file (entries first, in file order) and command-line sources."""
        cat = cls()
        if config is not None:
            cat._load_toml(Path(config))
        for s in sources:
            cat.add_source(s)
        return cat

    # ------------------------------------------------------------------ internals
    def _unique(self, key: str, explicit: str | None) -> str:
        taken = set(self.coverages) | set(self.layers)
        if explicit is not None:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", explicit):
                raise InputError(f"catalogue id {explicit!r}: use letters, digits, '.', '_' and '-' only")
            if explicit in taken:
                raise InputError(f"catalogue id {explicit!r} is used twice: give each entry its own id")
            return explicit
        out, n = key, 2
        while out in taken:
            out, n = f"{key}-{n}", n + 1
        return out

    def _add_vector_file(self, path: Path, *, strict: bool = True) -> None:
        """Add the layers of a vector file; when it cannot be read, fail (``strict``: a source named on its own)
        or add it as one unavailable layer (a file found in a served folder)."""
        from ..io.ogr import pyogrio as load_pyogrio

        pyogrio = load_pyogrio()

        try:
            layers = [str(row[0]) for row in pyogrio.list_layers(path)]
        except Exception as exc:  # pyogrio's DataSourceError and friends: one line
            if not strict:
                self.add_layer(str(path), title=path.name, unreadable="not a vector file GDAL can read")
                return
            raise SourceError(f"{path}: cannot read it as a vector file ({str(exc).splitlines()[0]})") from None
        for name in layers:
            self.add_layer(str(path), layer=name if len(layers) > 1 else None, title=name)

    def _add_postgis(self, location: str) -> None:
        from ..io.pg import PgLocation, connect, pg_error

        loc = PgLocation.parse(location)
        try:
            with connect(loc) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM raster_columns WHERE r_table_name = %s AND (%s::text IS NULL OR "
                    "r_table_schema = %s)",
                    (loc.table, loc.schema, loc.schema),
                ).fetchone()
        except Exception as exc:  # psycopg errors: one line, password removed
            raise SourceError(pg_error(loc, exc, "looking the table up")) from None
        if row and row[0]:
            self.add_coverage(location, id=None, title=loc.table)
        else:
            self.add_layer(location, title=loc.table)

    def _load_toml(self, path: Path) -> None:
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except OSError as exc:
            raise SourceError(f"{path}: cannot read the catalogue ({exc.strerror or exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise SourceError(f"{path}: not valid TOML ({exc})") from None
        unknown = set(doc) - {"coverages", "layers"}
        if unknown:
            raise SourceError(
                f"{path}: unknown section(s) {', '.join(sorted(unknown))}: use [coverages.ID], [layers.ID]"
            )
        base = path.parent
        for key, spec in (doc.get("coverages") or {}).items():
            src = _source(spec, path, f"coverages.{key}", base)
            self.add_coverage(src, id=key, title=spec.get("title"))
        for key, spec in (doc.get("layers") or {}).items():
            src = _source(spec, path, f"layers.{key}", base)
            self.add_layer(
                src, id=key, title=spec.get("title"), layer=spec.get("layer"), id_column=spec.get("id_column")
            )


def _source(spec: Any, path: Path, where: str, base: Path) -> str:
    if not isinstance(spec, dict) or not isinstance(spec.get("source"), str):
        raise SourceError(f'{path}: [{where}] needs source = "PATH or postgresql://..."')
    src = spec["source"]
    if location_kind(src) == "postgis":
        return src
    return str((base / src).resolve()) if not os.path.isabs(src) else src


def _name_of(source: str) -> str:
    if location_kind(source) == "postgis":
        from ..io.pg import PgLocation

        return PgLocation.parse(source).table
    return Path(source.rstrip("/\\")).name


def _json_id(value: Any) -> Any:
    """A feature id as JSON holds it: an int, a float, a text (anything else as its text)."""
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    return str(value)


def _feature_collection(
    geoms: Any, ids: list[Any], crs: Any, *, limit: int, max_vertices: int, detail: int
) -> dict[str, Any]:
    """A bounded, simplified GeoJSON ``FeatureCollection`` in WGS 84 of ``geoms`` (in ``crs``) with their ids."""
    import json
    import math

    import numpy as np
    import shapely
    from pyproj import Transformer

    geoms = np.asarray(geoms, dtype=object)
    truncated = len(geoms) > limit
    geoms, ids = geoms[:limit], ids[:limit]
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    tolerance = 0.0
    x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(geoms[keep]))
    if all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        tolerance = max(x1 - x0, y1 - y0) / max(1, detail)
    if tolerance > 0:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    features: list[dict[str, Any]] = []
    sent = 0
    for geom, fid, ok in zip(geoms, ids, keep, strict=True):
        if not ok:
            continue
        n = int(shapely.get_num_coordinates(geom))
        if sent + n > max_vertices:
            truncated = True
            break
        lonlat = shapely.transform(geom, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])))
        if not bool(np.isfinite(shapely.get_coordinates(lonlat)).all()):
            continue  # outside the area where the CRS maps to lon/lat
        sent += n
        fid = _json_id(fid)
        geometry = json.loads(shapely.to_geojson(lonlat))
        features.append({"type": "Feature", "id": fid, "geometry": geometry, "properties": {"id": fid}})
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(features),
        "truncated": truncated,
        "simplified_to": tolerance,
    }


def _is_vector(p: Path) -> bool:
    """A vector file: its suffix says so (a GeoPackage only when it holds vector layers, not raster tiles)."""
    suffix = p.suffix.lower()
    if suffix not in _VECTOR_SUFFIXES:
        return False
    if suffix != ".gpkg":
        return True
    from ..io.ogr import pyogrio as load_pyogrio

    pyogrio = load_pyogrio()

    try:
        return len(pyogrio.list_layers(p)) > 0
    except Exception:  # not readable as vector data: let the raster side try (and report)
        return False


def _is_tile_folder(p: Path) -> bool:
    if (p / "index.vrt").is_file():
        return True
    files = [f for f in p.iterdir() if f.is_file() and f.suffix.lower() in RASTER_SUFFIXES]
    return bool(files) and all(TILE_STEM.match(f.stem) for f in files)


def _missing(kind: str, id: str, entries: dict) -> str:
    listed = ", ".join(sorted(entries)) or "(none)"
    return f"no {kind} {id!r} in the catalogue; its {kind}s are {listed}"
