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

from typing import Any

from pyproj import CRS
from pyproj.exceptions import CRSError as _ProjCRSError

from .errors import CRSError

__all__ = ["CRS", "as_crs", "crs_label", "same_crs"]


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
