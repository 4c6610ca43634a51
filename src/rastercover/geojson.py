"""GeoJSON (and WKT) in: geometries, features with a value property, and the CRS a document declares.

One reader for every place a client hands over geometry as text or a parsed JSON object: the clip of an
export (:mod:`rastercover.exporting`), the features of an HTTP rasterize request (:mod:`rastercover.server`).

- :func:`read_geometry`: one shapely geometry from WKT, GeoJSON text or a GeoJSON object (geometry,
  ``Feature`` or ``FeatureCollection``, the latter unioned), or from anything with ``__geo_interface__``.
- :func:`read_features`: the features of a ``FeatureCollection`` (or one ``Feature``, or a bare geometry) as
  geometries and the numbers of one property.
- :func:`geojson_crs`: the CRS of a document's ``"crs"`` member (GeoJSON 2008; RFC 7946 dropped it, but
  desktop GIS still write it for projected data), or ``None``.

Examples
--------
>>> geom, crs = read_geometry('{"type": "Point", "coordinates": [1, 2], "crs": "EPSG:32198"}')
>>> geom.wkt, crs.to_epsg()
('POINT (1 2)', 32198)
>>> fc = {"type": "FeatureCollection", "features": [
...     {"type": "Feature", "properties": {"h": 3}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
...     {"type": "Feature", "properties": {"h": None}, "geometry": {"type": "Point", "coordinates": [1, 1]}}]}
>>> geoms, values, crs = read_features(fc, value="h")
>>> [g.wkt for g in geoms], values.tolist(), crs
(['POINT (0 0)', 'POINT (1 1)'], [3.0, nan], None)
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import shapely

from .crs import CRS, as_crs
from .errors import CRSError, InputError, MissingColumnError

__all__ = ["geojson_crs", "read_features", "read_geometry", "read_property"]

_GEOMETRY_TYPES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}


def geojson_crs(obj: dict) -> CRS | None:
    """The CRS named by a GeoJSON object's ``"crs"`` member (a name string or ``{"properties": {"name"}}``).

    Examples
    --------
    >>> geojson_crs({"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}}).to_epsg()
    2154
    >>> geojson_crs({"type": "Point", "coordinates": [0, 0]}) is None
    True
    """
    crs = obj.get("crs")
    if crs is None:
        return None
    if isinstance(crs, dict):
        name = (crs.get("properties") or {}).get("name")
        if name is None:
            raise CRSError(f"the GeoJSON crs member {crs!r} has no properties.name: give e.g. 'EPSG:4326'")
        return as_crs(name)
    return as_crs(crs)


def _shape(obj: Any, what: str) -> shapely.Geometry:
    from shapely.geometry import shape

    if not isinstance(obj, dict) or obj.get("type") not in _GEOMETRY_TYPES:
        kind = obj.get("type") if isinstance(obj, dict) else type(obj).__name__
        raise InputError(f"{what} is not a GeoJSON geometry (type {kind!r}): give Point, Polygon, ... or a Feature")
    try:
        return shape(obj)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise InputError(f"{what} is not valid GeoJSON ({type(exc).__name__}: {exc})") from None


def _feature_list(obj: Any, what: str) -> list[dict]:
    if not isinstance(obj, dict):
        raise InputError(f"{what} is not a GeoJSON object but a {type(obj).__name__}")
    kind = obj.get("type")
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list):
            raise InputError(f"{what}: a FeatureCollection needs a 'features' list")
        for i, f in enumerate(features):
            if not isinstance(f, dict) or f.get("type") != "Feature":
                raise InputError(f"{what}: item {i} of 'features' is not a GeoJSON Feature")
        return features
    if kind == "Feature":
        return [obj]
    return [{"type": "Feature", "geometry": obj, "properties": {}}]


def _loads(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} looks like GeoJSON but is not valid JSON ({exc})") from None


def read_geometry(obj: Any, *, what: str = "the geometry") -> tuple[shapely.Geometry, CRS | None]:
    """One shapely geometry and the CRS its document declared, if any.

    Parameters
    ----------
    obj
        A shapely geometry; WKT; GeoJSON text or a parsed object (a geometry, a ``Feature``, or a
        ``FeatureCollection``, whose geometries are unioned); or an object with ``__geo_interface__`` (its
        ``.crs``, e.g. a GeoSeries', wins over a ``"crs"`` member).
    what
        How messages name the input (``"the clip"``...).

    Examples
    --------
    >>> read_geometry("POLYGON((0 0, 1 0, 0 1, 0 0))")[0].area
    0.5
    >>> read_geometry("POLYGN((0 0))", what="the clip")
    Traceback (most recent call last):
    ...
    rastercover.errors.InputError: the clip 'POLYGN((0 0))' is neither WKT nor GeoJSON
    """
    if isinstance(obj, shapely.Geometry):
        return obj, None
    if isinstance(obj, bytes):
        obj = obj.decode("utf-8", errors="replace")
    if isinstance(obj, str):
        text = obj.strip()
        if not text.startswith("{"):
            try:
                return shapely.from_wkt(text), None
            except shapely.errors.ShapelyError:
                short = text if len(text) < 60 else text[:57] + "..."
                raise InputError(f"{what} {short!r} is neither WKT nor GeoJSON") from None
        obj = _loads(text, what)
    declared = None
    if hasattr(obj, "__geo_interface__") and not isinstance(obj, dict):
        declared = as_crs(getattr(obj, "crs", None))
        obj = obj.__geo_interface__
    if not isinstance(obj, dict):
        raise InputError(f"cannot use a {type(obj).__name__} as {what}: give a shapely geometry, WKT or GeoJSON")
    declared = declared or geojson_crs(obj)
    geoms = [_shape(f["geometry"], what) for f in _feature_list(obj, what) if f.get("geometry")]
    if not geoms:
        return shapely.GeometryCollection(), declared
    return (geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)), declared


def read_features(
    obj: Any, *, value: str | None = None, what: str = "the features"
) -> tuple[np.ndarray, np.ndarray | None, CRS | None]:
    """Geometries, the numbers of one property, and the declared CRS of a GeoJSON document.

    Parameters
    ----------
    obj
        GeoJSON text or a parsed object: a ``FeatureCollection``, a ``Feature`` or a bare geometry.
    value
        A property holding numbers (``null`` or a missing property becomes NaN); ``None``: no values.
    what
        How messages name the input.

    Returns
    -------
    (geometries, values, crs)
        ``geometries`` an object array of shapely geometries (features without a geometry are dropped, like
        OGR's readers do), ``values`` a float64 array or ``None``, ``crs`` from the ``"crs"`` member or ``None``.

    Raises
    ------
    InputError
        Not GeoJSON, or no feature with a geometry.
    MissingColumnError
        ``value`` is in no feature's properties, or holds something that is not a number.

    Examples
    --------
    >>> read_features({"type": "Point", "coordinates": [0, 0]})[0][0].wkt
    'POINT (0 0)'
    """
    if isinstance(obj, str | bytes):
        obj = _loads(obj, what)
    features = _feature_list(obj, what)
    crs = geojson_crs(obj) if isinstance(obj, dict) else None
    kept = [f for f in features if f.get("geometry")]
    if not kept:
        raise InputError(f"{what} hold no feature with a geometry")
    geoms = np.empty(len(kept), dtype=object)
    geoms[:] = [_shape(f["geometry"], f"{what} (feature {i})") for i, f in enumerate(kept)]
    if value is None:
        return geoms, None, crs
    values = np.full(len(kept), np.nan)
    seen = False
    for i, f in enumerate(kept):
        props = f.get("properties") or {}
        if not isinstance(props, dict):
            raise InputError(f"{what}: feature {i} has properties that are not an object")
        v = props.get(value)
        seen = seen or value in props
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise MissingColumnError(
                f"property {value!r} of feature {i} is {v!r}, not a number; the value property must hold numbers"
            )
        if not math.isfinite(float(v)):
            raise MissingColumnError(f"property {value!r} of feature {i} is {v!r}: give a finite number or null")
        values[i] = float(v)
    if not seen:
        names = sorted({k for f in kept for k in (f.get("properties") or {})})
        listed = ", ".join(names) if names else "none"
        raise MissingColumnError(f"no feature has a property {value!r}; their properties are: {listed}")
    return geoms, values, crs


def read_property(obj: Any, name: str, *, what: str = "the features") -> np.ndarray:
    """The values of property ``name`` of the features :func:`read_features` keeps (those with a geometry), in
    their order, as an object array (None where a feature lacks it).

    Raises
    ------
    MissingColumnError
        No feature has the property.

    Examples
    --------
    >>> fc = {"type": "FeatureCollection", "features": [
    ...     {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {"n": "a"}},
    ...     {"type": "Feature", "geometry": None, "properties": {"n": "b"}},
    ...     {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 0]}, "properties": {}}]}
    >>> read_property(fc, "n").tolist()
    ['a', None]
    """
    if isinstance(obj, str | bytes):
        obj = _loads(obj, what)
    kept = [f for f in _feature_list(obj, what) if f.get("geometry")]
    props = [f.get("properties") if isinstance(f.get("properties"), dict) else {} for f in kept]
    if not any(name in p for p in props):
        names = sorted({k for p in props for k in p})
        listed = ", ".join(names) if names else "none"
        raise MissingColumnError(f"no feature has a property {name!r}; their properties are: {listed}")
    out = np.empty(len(kept), dtype=object)
    out[:] = [p.get(name) for p in props]
    return out
