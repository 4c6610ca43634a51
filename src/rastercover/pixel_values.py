"""Pixel values on their way out: which types hold which values, casts to another type or nodata, byte scaling.

Used by :mod:`rastercover.exporting` chunk by chunk, so that a cast that would change a value (a float ``2.5`` as
``uint8`` is fine once rounded, ``300`` is not) is refused with the range that does not fit, before anything is
written under the output's name.

Examples
--------
>>> import numpy as np
>>> cast = Cast("float32", -9999.0, "uint8", 255.0)
>>> cast(np.array([[0.4, 254.6, -9999.0]], dtype="float32")).tolist()
[[0, 255, 255]]
>>> cast.collisions          # the valid 254.6 rounds to 255, the new nodata: counted, reported in a note
1
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import InputError

__all__ = [
    "DTYPES",
    "ByteScale",
    "Cast",
    "ValueStats",
    "check_dtype",
    "fits",
    "is_nodata",
    "nodata_mask",
    "round_half_away",
]

#: Pixel types an export can be asked for (GDAL's data types, numpy's names).
DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64")
_GDAL_NAMES = {"byte": "uint8", "float": "float32", "double": "float64"}


def check_dtype(name: Any) -> np.dtype:
    """The pixel type named ``name`` (numpy or GDAL spelling, any case).

    Examples
    --------
    >>> check_dtype("Byte"), check_dtype("Float32")
    (dtype('uint8'), dtype('float32'))
    >>> check_dtype("complex64")                                     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rastercover.errors.InputError: unknown pixel type 'complex64': choose one of uint8, int8, ...
    """
    key = str(np.dtype(name).name if isinstance(name, np.dtype | type) else name).strip().lower()
    key = _GDAL_NAMES.get(key, key)
    if key not in DTYPES:
        raise InputError(f"unknown pixel type {name!r}: choose one of {', '.join(DTYPES)}")
    return np.dtype(key)


def fits(dtype: np.dtype, value: float) -> bool:
    """True when ``value`` is exactly a value of ``dtype`` (NaN fits the float types).

    Examples
    --------
    >>> fits(np.dtype("uint8"), 255.0), fits(np.dtype("uint8"), -1.0), fits(np.dtype("float32"), 0.1)
    (True, False, False)
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return not np.isnan(value) and float(value).is_integer() and info.min <= value <= info.max
    return np.isnan(value) or dtype.itemsize >= 8 or float(dtype.type(value)) == value


def nodata_mask(data: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """Where ``data`` is nodata (NaN matches NaN); None when there is no nodata."""
    if nodata is None:
        return None
    if np.isnan(nodata):
        return np.isnan(data)
    return data == nodata


class ValueStats:
    """Range and exactness of the valid values seen, chunk after chunk.

    Attributes
    ----------
    vmin, vmax
        Smallest and largest finite valid value (None before any).
    integral
        Every valid value is a finite whole number.
    float32_exact
        Every valid value is exactly a float32.
    """

    def __init__(self) -> None:
        self.vmin: float | None = None
        self.vmax: float | None = None
        self.integral = True
        self.float32_exact = True

    def update(self, data: np.ndarray, nodata: float | None) -> None:
        """Account for the valid pixels of ``data``."""
        mask = nodata_mask(data, nodata)
        valid = data[~mask] if mask is not None else data.ravel()
        if valid.size == 0:
            return
        if valid.dtype.kind == "f":
            finite = np.isfinite(valid)
            if not finite.all():
                self.integral = False
            fv = valid[finite]
            if fv.size:
                self.integral = self.integral and bool(np.all(fv == np.round(fv)))
        else:
            fv = valid
        if fv.size:
            lo, hi = float(fv.min()), float(fv.max())
            self.vmin = lo if self.vmin is None else min(self.vmin, lo)
            self.vmax = hi if self.vmax is None else max(self.vmax, hi)
        if valid.dtype != np.float32 and self.float32_exact:
            as64 = valid.astype(np.float64)
            back = as64.astype(np.float32).astype(np.float64)
            self.float32_exact = bool(np.all((back == as64) | (np.isnan(back) & np.isnan(as64))))


def round_half_away(values: np.ndarray) -> np.ndarray:
    """Floats rounded to the nearest integer, halves away from zero (GDAL's rule; numpy's ``round`` goes to even).

    Examples
    --------
    >>> round_half_away(np.array([2.5, -2.5, 2.4, 0.5])).tolist()
    [3.0, -3.0, 2.0, 1.0]
    """
    return np.where(values >= 0, np.floor(values + 0.5), np.ceil(values - 0.5))


class Cast:
    """Values of ``src`` type (nodata ``src_nodata``) as ``dst`` type with nodata ``dst_nodata``.

    Floats going to an integer type are rounded to the nearest integer (halves away from zero, as GDAL does);
    a valid value outside the target's range (or NaN/infinite going to an integer) raises :class:`InputError`
    naming the range; a float narrowed to float32 must stay finite. Nodata pixels become ``dst_nodata``.
    ``collisions`` counts valid pixels that equal ``dst_nodata`` after the cast (they will read as nodata);
    ``rounded`` counts integers a float type does not hold exactly (above 2**24 in float32), which the cast
    changed.

    Examples
    --------
    >>> cast = Cast("int32", None, "float32", None)
    >>> cast(np.array([16777216, 16777217], dtype="int32")).tolist(), cast.rounded
    ([16777216.0, 16777216.0], 1)
    """

    def __init__(self, src: Any, src_nodata: float | None, dst: Any, dst_nodata: float | None) -> None:
        self.src, self.dst = np.dtype(src), np.dtype(dst)
        self.src_nodata, self.dst_nodata = src_nodata, dst_nodata
        self.collisions = 0
        self.rounded = 0
        self.identity = self.src == self.dst and _same(src_nodata, dst_nodata)

    def __call__(self, data: np.ndarray) -> np.ndarray:
        mask = nodata_mask(data, self.src_nodata)
        out = data
        if self.src != self.dst:
            out = self._convert(data, mask)
        elif not _same(self.src_nodata, self.dst_nodata):
            out = data.copy()
        if self.dst_nodata is not None:
            hit = nodata_mask(out, self.dst_nodata)
            if mask is not None:
                hit &= ~mask
                out[mask] = self.dst_nodata
            self.collisions += int(hit.sum())
        return out

    def _convert(self, data: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        valid = data if mask is None else data[~mask]
        if self.dst.kind in "iu":
            if valid.dtype.kind == "f":
                if valid.size and not np.isfinite(valid).all():
                    raise InputError(
                        f"some values are NaN or infinite and {self.dst.name} cannot hold them: "
                        "keep a float type (--dtype)"
                    )
                data = round_half_away(data) if data.size else data
                valid = data if mask is None else data[~mask]
            info = np.iinfo(self.dst)
            if valid.size and (valid.min() < info.min or valid.max() > info.max):
                raise InputError(
                    f"values from {float(valid.min()):g} to {float(valid.max()):g} do not fit {self.dst.name} "
                    f"({info.min} to {info.max}): choose a wider type (--dtype), or leave the type as it is"
                )
            filled = data if mask is None else np.where(mask, 0, data)
            return filled.astype(self.dst)
        out = data.astype(self.dst)
        if valid.size and valid.dtype.kind in "iu" and np.finfo(self.dst).nmant + 1 < 8 * valid.dtype.itemsize:
            after = out if mask is None else out[~mask]  # integers beyond the float's mantissa may change
            with np.errstate(invalid="ignore", over="ignore"):
                self.rounded += int((after.astype(valid.dtype) != valid).sum())
        if valid.size and self.dst.itemsize < 8 and valid.dtype.kind == "f":
            finite_before = np.isfinite(valid)
            after = out if mask is None else out[~mask]
            if not np.array_equal(finite_before, np.isfinite(after)):
                raise InputError(
                    f"values from {float(np.nanmin(valid)):g} to {float(np.nanmax(valid)):g} overflow "
                    f"{self.dst.name}: choose float64"
                )
        return out


class ByteScale:
    """A linear map of valid values from ``[vmin, vmax]`` to ``[1, 255]``, with 0 for nodata (JPEG's rule).

    ``raw = round((v - vmin) * 254 / (vmax - vmin)) + 1``; a constant piece maps to 1. The GDAL ``scale`` and
    ``offset`` recorded with the band (``value ≈ raw * scale + offset``) let readers get values back.

    Examples
    --------
    >>> import numpy as np
    >>> s = ByteScale(100.0, 354.0, nodata=-9999.0)
    >>> s(np.array([100.0, 227.0, 354.0, -9999.0])).tolist(), s.scale, s.offset
    ([1, 128, 255, 0], 1.0, 99.0)
    """

    nodata = 0.0

    def __init__(self, vmin: float, vmax: float, *, nodata: float | None) -> None:
        self.vmin, self.vmax, self.src_nodata = vmin, vmax, nodata
        span = vmax - vmin
        self.factor = 254.0 / span if span > 0 else 0.0
        self.scale = span / 254.0 if span > 0 else 1.0
        self.offset = vmin - self.scale

    def __call__(self, data: np.ndarray) -> np.ndarray:
        mask = nodata_mask(data, self.src_nodata)
        bad = ~np.isfinite(data) if data.dtype.kind == "f" else None
        raw = np.floor((data.astype(np.float64) - self.vmin) * self.factor + 0.5) + 1
        raw = np.clip(np.nan_to_num(raw, nan=0.0), 0, 255).astype(np.uint8)
        if mask is not None:
            raw[mask] = 0
        if bad is not None:
            raw[bad] = 0
        return raw

    def note(self, dtype: np.dtype) -> str:
        """What the scaling did, for the export's notes."""
        return (
            f"{np.dtype(dtype).name} values scaled linearly from [{self.vmin:g}, {self.vmax:g}] to [1, 255] "
            f"(0 is nodata; value ≈ raw × {self.scale:g} + {self.offset:g}, recorded as the band's scale/offset)"
        )


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def is_nodata(value: float, nodata: float) -> bool:
    """True when ``value`` is the nodata value (NaN equals NaN here).

    Examples
    --------
    >>> is_nodata(float("nan"), float("nan")), is_nodata(0.0, -9999.0)
    (True, False)
    """
    return bool(value == nodata or (np.isnan(value) and np.isnan(nodata)))
