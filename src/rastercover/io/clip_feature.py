"""One feature of a vector layer, chosen by its id, as a clip geometry.

``read_clip_feature`` reads a vector file (anything OGR reads) or a PostGIS table and returns the geometry of
one feature with the layer's CRS, for the caller to reproject. The feature is found by its OGR feature id (files)
or primary key (PostGIS), or by the value of an id column. Ids from the command line arrive as strings and are
converted to the column's type; they only ever reach a query as a bound value, never as SQL text.

Examples
--------
>>> import numpy as np, shapely, pyogrio.raw, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "burned.gpkg")
>>> pyogrio.raw.write(path, shapely.to_wkb(np.array([shapely.box(0, 0, 2, 2), shapely.box(5, 5, 6, 6)])),
...                   [np.array([10, 20])], ["code"], geometry_type="Polygon", crs="EPSG:32198", layer="burned")
>>> geom, crs = read_clip_feature(path, 2)
>>> geom.bounds, crs.to_epsg()
((5.0, 5.0, 6.0, 6.0), 32198)
>>> read_clip_feature(path, "10", id_column="code")[0].area
4.0
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import numpy as np
import shapely

from ..crs import CRS, as_crs
from ..errors import GeometryError, InputError, MissingColumnError, SourceError
from .ogr import pyogrio as load_pyogrio
from .pg import PgLocation, connect, error_text, pg_error
from .vector_file import _reason

__all__ = ["read_clip_feature", "read_file_feature", "read_postgis_feature"]

_PG_INT = {"smallint", "integer", "bigint"}
_PG_FLOAT = {"real", "double precision"}


def read_clip_feature(
    source: str | os.PathLike,
    feature_id: Any,
    *,
    layer: str | None = None,
    id_column: str | None = None,
    footprint: str = "extent",
) -> tuple[shapely.Geometry, CRS | None]:
    """The geometry (2D, curves linearised) of one feature of a vector layer, or the footprint of a raster, and
    the layer's CRS.

    Parameters
    ----------
    source
        A vector file (GeoPackage, Shapefile, GeoJSON, ...) or a PostGIS location
        ``postgresql://user@host:port/db?table=schema.name[&column=geom]``; or a raster: a raster file, a
        tile folder or a PostGIS raster table (:mod:`rastercover.io.clip_raster`).
    feature_id
        The feature's id: its OGR feature id (fid) in a file, its primary key in a PostGIS table (a raster
        table's ``rid``), or its value in ``id_column``; a tile's file name in a tile folder; None for a raster
        file. A string such as ``"2"`` is converted to the column's type.
    layer
        The layer of a file holding several; must be None for PostGIS (the table is in the location).
    id_column
        Find the feature whose ``id_column`` equals ``feature_id`` instead (it must be the only one).
    footprint
        For a raster: ``"extent"`` (its outline) or ``"data"`` (its pixels with data in band 1).

    Returns
    -------
    tuple
        The shapely geometry and the CRS (None when the layer has none).

    Raises
    ------
    InputError
        Missing file or layer, unknown column, no feature or several with that id, a NULL or empty geometry.
    """
    from .registry import open_clip_feature

    return open_clip_feature(source, feature_id, layer, id_column, footprint)


def _need_id(feature_id: Any) -> None:
    if feature_id is None:
        raise InputError("clip_layer needs the id of the feature to clip by: give clip_id= (--clip-id)")


def _coerce(value: Any, kind: str, subject: str) -> Any:
    """``value`` as an int, float or str for a key of ``kind``; ``subject`` ("column ID holds", "fids are")."""
    fix = "give a number, or name another id column (--clip-id-column / id_column=)"
    if kind == "str":
        return str(value)
    number = value
    if not isinstance(value, numbers.Real):
        text = str(value).strip()
        try:
            number = int(text) if kind == "int" else float(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                holds = "integers" if kind == "int" else "numbers"
                raise InputError(f"clip id {value!r} is not a number, but {subject} {holds}: {fix}") from None
    if kind == "float":
        return float(number)
    if isinstance(number, numbers.Integral):
        return int(number)
    if not (math.isfinite(number) and float(number).is_integer()):
        raise InputError(f"clip id {value!r} is not a whole number, but {subject} integers: {fix}")
    return int(number)


def _kind(dtype: np.dtype) -> str:
    return {"i": "int", "u": "int", "b": "int", "f": "float"}.get(dtype.kind, "str")


def _not_found(key: str, value: Any, where: str, lo: Any, hi: Any, runs: str, none: str) -> InputError:
    lo, hi = (repr(v) if isinstance(v, str) else str(v) for v in (lo, hi))  # Decimal('1.5') -> 1.5
    hint = f"{runs} from {lo} to {hi}" if lo != "None" else none
    return InputError(f"no feature has {key} = {value!r} in {where}: {hint}")


def _checked(geom: Any, key: str, value: Any, where: str) -> shapely.Geometry:
    if geom is None or shapely.is_missing(geom):
        raise GeometryError(f"the feature with {key} = {value!r} in {where} has no geometry (NULL): pick another")
    if shapely.is_empty(geom):
        raise GeometryError(f"the feature with {key} = {value!r} in {where} has an empty geometry: pick another")
    return geom


def read_file_feature(path: str, feature_id: Any, layer: str | None, id_column: str | None):
    """One feature of a vector file by fid or id column (the files backend's clip feature)."""
    pyogrio = load_pyogrio()
    _need_id(feature_id)
    if not path.startswith("/vsi") and not os.path.exists(path):
        raise SourceError(f"{path}: no such file")
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:
        raise SourceError(f"{path}: cannot read it as a vector file ({_reason(exc)})") from None
    names = [str(n) for n in layers[:, 0]] if len(layers) else []
    if not names:
        raise SourceError(f"{path}: the file holds no vector layer")
    if layer is None:
        if len(names) > 1:
            raise SourceError(
                f"{path} holds {len(names)} layers ({', '.join(names)}): name one with --clip-layer-name / layer="
            )
        layer = names[0]
    elif layer not in names:
        raise SourceError(f"{path}: no layer {layer!r}; its layers are {', '.join(names)}")
    where = f"{path} (layer {layer})"
    try:
        info = pyogrio.read_info(path, layer=layer)
        if id_column is not None and id_column == info.get("fid_column"):
            id_column = None  # the GeoPackage fid column named explicitly
        if id_column is None:
            key, value = "fid", _coerce(feature_id, "int", "fids are")
            fids = np.array([value])
        else:
            fields = [str(f) for f in info["fields"]]
            if id_column not in fields:
                raise MissingColumnError(
                    f"{where} has no column {id_column!r}; its columns are {', '.join(fields) or '(none)'}"
                )
            _m, all_fids, _g, data = pyogrio.raw.read(
                path, layer=layer, columns=[id_column], read_geometry=False, return_fids=True
            )
            column = np.asarray(data[0])
            key, value = id_column, _coerce(feature_id, _kind(column.dtype), f"column {id_column} holds")
            fids = np.asarray(all_fids)[column == value]
            if len(fids) > 1:
                raise InputError(
                    f"{len(fids)} features have {key} = {value!r} in {where}: pick a column with unique values"
                )
            if len(fids) == 0:
                if column.dtype.kind == "f":
                    column = column[~np.isnan(column)]
                elif column.dtype.kind == "O":
                    column = np.array(sorted(str(v) for v in column if v is not None), dtype=object)
                lo, hi = (column.min(), column.max()) if len(column) else (None, None)
                lo, hi = (lo.item(), hi.item()) if isinstance(lo, np.generic) else (lo, hi)
                raise _not_found(key, value, where, lo, hi, f"{key} runs", f"column {key} holds no values")
        try:
            meta, _f, wkb, _d = pyogrio.raw.read(path, layer=layer, fids=fids, columns=[], force_2d=True)
        except pyogrio.errors.FeatureError:
            wkb = []
        if len(wkb) == 0:
            _m, all_fids, _g, _d = pyogrio.raw.read(
                path, layer=layer, columns=[], read_geometry=False, return_fids=True
            )
            lo, hi = (int(all_fids.min()), int(all_fids.max())) if len(all_fids) else (None, None)
            raise _not_found(key, value, where, lo, hi, "fids run", "the layer has no features")
    except InputError:
        raise
    except Exception as exc:
        raise SourceError(f"{where}: reading the clip feature failed ({_reason(exc)})") from None
    geom = _checked(shapely.from_wkb(wkb[0]) if wkb[0] is not None else None, key, value, where)
    return geom, as_crs(meta["crs"]) if meta.get("crs") else None


def read_postgis_feature(
    url: str, feature_id: Any, layer: str | None, id_column: str | None, footprint: str = "extent"
):
    """One row of a PostGIS table by primary key or id column (the PostGIS backend's clip feature): its geometry,
    or for a raster table its footprint computed by PostGIS (``ST_ConvexHull``, or ``ST_Polygon`` for
    ``footprint="data"``; see :mod:`rastercover.io.clip_raster`)."""
    import psycopg
    from psycopg import sql

    from .vector_postgis import crs_of_srid, resolve_relation

    loc = PgLocation.parse(url)
    where = loc.describe()
    _need_id(feature_id)
    from .clip_raster import check_footprint

    check_footprint(footprint)
    if layer is not None:
        raise InputError(
            f"{where}: a layer name does not apply to PostGIS (the location names the table): drop --clip-layer-name"
        )
    with connect(loc, autocommit=True) as conn:
        try:
            rel = resolve_relation(conn, loc)
            geoms = [c for c, t in rel.columns.items() if t == "geometry"]
            rasters = [c for c, t in rel.columns.items() if t == "raster"]
            if loc.column is not None and rel.columns.get(loc.column) not in ("geometry", "raster"):
                raise MissingColumnError(
                    f"{where} has no geometry or raster column {loc.column!r}; its columns are {', '.join(rel.columns)}"
                )
            if loc.column is None and not geoms and len(rasters) == 1:
                geom_col, is_raster = rasters[0], True  # a raster table: the rid's footprint
            elif loc.column is None and len(geoms) != 1:
                raise SourceError(
                    f"{where} has {len(geoms)} geometry columns ({', '.join(geoms) or 'none'}) and "
                    f"{len(rasters)} raster columns: name one with &column="
                )
            else:
                geom_col = loc.column or geoms[0]
                is_raster = rel.columns[geom_col] == "raster"
            if footprint != "extent" and not is_raster:
                raise InputError(
                    f"{where} is a vector layer: clip_footprint={footprint!r} applies to a raster clip layer"
                )
            if id_column is None:
                pk = conn.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary",
                    (rel.oid,),
                ).fetchall()
                if len(pk) != 1:
                    what = "is a view" if rel.kind in ("v", "m") else "has no single-column primary key"
                    raise InputError(
                        f"{where} {what}: name the column holding clip id {feature_id!r} with "
                        "--clip-id-column / id_column="
                    )
                id_column = pk[0][0]
            elif id_column not in rel.columns:
                raise MissingColumnError(
                    f"{where} has no column {id_column!r}; its columns are {', '.join(rel.columns)}"
                )
            pg_type = rel.columns[id_column]
            if pg_type in ("raster", "geometry", "geography"):
                raise InputError(
                    f"column {id_column} of {where} holds {pg_type} values, not ids: name the column of the ids "
                    "with --clip-id-column / id_column= (or none, for the primary key)"
                )
            kind = "int" if pg_type in _PG_INT else "float" if pg_type in _PG_FLOAT else "str"
            value = _coerce(feature_id, kind, f"column {id_column} holds")
            g, k, t = sql.Identifier(geom_col), sql.Identifier(id_column), rel.identifier()
            if is_raster:  # PostGIS's own footprint: the outline (ST_Envelope of a north-up raster) or its data
                shape = "ST_ConvexHull({g})" if footprint == "extent" else "ST_Polygon({g})"
            else:
                shape = "ST_Force2D(CASE WHEN ST_HasArc({g}) THEN ST_CurveToLine({g}) ELSE {g} END)"
            query = sql.SQL(
                "SELECT ST_AsBinary(" + shape + "), ST_SRID({g}), count(*) OVER () FROM {t} WHERE {k} = %s LIMIT 2"
            ).format(g=g, k=k, t=t)
            try:
                rows = conn.execute(query, (value,)).fetchall()
            except psycopg.DataError as exc:
                raise InputError(
                    f"clip id {value!r} does not fit column {id_column} ({pg_type}): {error_text(exc)}"
                ) from None
            if len(rows) > 1:
                raise InputError(
                    f"{rows[0][2]} features have {id_column} = {value!r} in {where}: pick a column with unique values"
                )
            if not rows:
                try:
                    lo, hi = conn.execute(sql.SQL("SELECT min({k}), max({k}) FROM {t}").format(k=k, t=t)).fetchone()
                except psycopg.Error:  # a type without min/max (boolean, ...): no hint
                    lo = hi = None
                raise _not_found(id_column, value, where, lo, hi, f"{id_column} runs", f"column {id_column} is empty")
            wkb, srid, _n = rows[0]
            crs = crs_of_srid(conn, srid) if srid else None
        except psycopg.Error as exc:
            raise SourceError(pg_error(loc, exc, "reading the clip feature")) from None
    if is_raster and footprint == "data" and (wkb is None or shapely.is_empty(shapely.from_wkb(wkb))):
        raise GeometryError(
            f"the raster with {id_column} = {value!r} in {where} holds no pixel with data in band 1, so its data "
            "footprint is empty: pick another, or clip by its extent"
        )
    geom = _checked(shapely.from_wkb(wkb) if wkb is not None else None, id_column, value, where)
    return geom, crs
