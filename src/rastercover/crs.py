"""Coordinate reference systems: one parser for every way a user names a CRS.

Examples
--------
>>> from rastercover.crs import as_crs
>>> as_crs("EPSG:32198").to_epsg()
32198
>>> as_crs(None) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pyproj import CRS
from pyproj.exceptions import CRSError as _ProjCRSError

from .errors import CRSError, InputError

__all__ = ["CRS", "as_crs", "bbox_in_crs", "crs_label", "same_crs"]


def as_crs(value: Any) -> CRS | None:
    """Return a :class:`pyproj.CRS` for ``value``, or ``None`` for ``None``.

    Parameters
    ----------
    value
        A ``pyproj.CRS``, a ``rasterio.crs.CRS`` (or anything with ``to_wkt()``), an EPSG code as an int,
        or a string: ``"EPSG:4326"``, WKT, PROJ JSON or a PROJ string.

    Raises
    ------
    CRSError
        When the value does not name a CRS; the message says which forms are accepted.

    Examples
    --------
    >>> as_crs(4326).name
    'WGS 84'
    """
    if value is None or isinstance(value, CRS):
        return value
    try:
        if hasattr(value, "to_wkt") and not isinstance(value, str):
            return CRS.from_wkt(value.to_wkt())
        if isinstance(value, str) and not value.strip():
            raise _ProjCRSError("empty string")
        return CRS.from_user_input(value)
    except (_ProjCRSError, TypeError, ValueError) as exc:
        raise CRSError(
            f"unknown CRS {value!r}: give an EPSG code such as 'EPSG:32198', a WKT string or a PROJ string"
        ) from exc


def same_crs(a: CRS | None, b: CRS | None) -> bool:
    """True when both CRSs describe the same system (axis order ignored), or both are ``None``.

    Examples
    --------
    >>> same_crs(as_crs("EPSG:4326"), as_crs("OGC:CRS84"))
    True
    """
    if a is None or b is None:
        return a is b
    if a == b:
        return True
    return a.equals(b, ignore_axis_order=True)


def crs_label(crs: CRS | None) -> str:
    """A short human label: ``EPSG:32198`` when there is a code, else the CRS name.

    Examples
    --------
    >>> crs_label(as_crs(32198))
    'EPSG:32198'
    """
    if crs is None:
        return "no CRS"
    auth = crs.to_authority(min_confidence=90)
    return f"{auth[0]}:{auth[1]}" if auth else crs.name


def bbox_in_crs(bbox: Sequence[float], bbox_crs: Any, cov_crs: CRS | None) -> tuple[float, ...]:
    """``bbox`` (XMIN YMIN XMAX YMAX in ``bbox_crs``; ``None``: already in ``cov_crs``) checked and in ``cov_crs``.

    A reprojected box is the bounds of its densified outline (21 points a side), so it covers the whole box.

    Examples
    --------
    >>> bbox_in_crs((0, 0, 10, 5), None, as_crs("EPSG:32198"))
    (0.0, 0.0, 10.0, 5.0)
    >>> [round(v) for v in bbox_in_crs((-72, 46, -71, 47), "EPSG:4326", as_crs("EPSG:32198"))]
    [-271013, 226139, -189740, 340305]
    >>> bbox_in_crs((0, 0, 0, 5), None, None)                           # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rastercover.errors.InputError: bbox (0.0, 0.0, 0.0, 5.0) is empty: give XMIN YMIN XMAX YMAX with XMIN < XMAX...
    """
    try:
        x0, y0, x1, y1 = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InputError(f"bbox {bbox!r} is not four numbers XMIN YMIN XMAX YMAX") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or not (x0 < x1 and y0 < y1):
        raise InputError(f"bbox {(x0, y0, x1, y1)} is empty: give XMIN YMIN XMAX YMAX with XMIN < XMAX, YMIN < YMAX")
    src = as_crs(bbox_crs)
    if src is None or same_crs(src, cov_crs):
        return x0, y0, x1, y1
    if cov_crs is None:
        raise CRSError(f"the bbox is in {crs_label(src)} but the coverage has no CRS to reproject it to")
    from pyproj import Transformer

    out = Transformer.from_crs(src, cov_crs, always_xy=True).transform_bounds(x0, y0, x1, y1, densify_pts=21)
    if not all(math.isfinite(v) for v in out):
        raise CRSError(f"the bbox cannot be reprojected from {crs_label(src)} to {crs_label(cov_crs)}")
    return tuple(out)
