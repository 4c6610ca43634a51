"""Vectorised building blocks for reductions: per-pixel counts, sums, extremes, picks.

Every function takes flat pixel indices (and per-entry values) and returns a float64 array of ``size``
results, NaN where a pixel has no entry.

Examples
--------
>>> import numpy as np
>>> pixel_mean(np.array([0, 0, 2]), np.array([1.0, 3.0, 5.0]), 3).tolist()
[2.0, nan, 5.0]
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "pick_best",
    "pick_per_pixel",
    "pixel_count",
    "pixel_max",
    "pixel_mean",
    "pixel_min",
    "pixel_mode",
    "pixel_std",
    "pixel_sum",
]


def pixel_count(pixel: np.ndarray, size: int) -> np.ndarray:
    """Number of entries per pixel (0 where none)."""
    # weights of one: float64 counts in one pass over the pixels, not integer counts and then a cast
    return np.bincount(pixel, weights=np.ones(len(pixel)), minlength=size).astype(np.float64, copy=False)


def pixel_sum(pixel: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """Sum of values per pixel (0 where none)."""
    # float64 also without entries (bincount then counts in integers)
    return np.bincount(pixel, weights=value, minlength=size).astype(np.float64, copy=False)


def pixel_mean(pixel: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """Mean of values per pixel."""
    n = np.bincount(pixel, minlength=size)
    s = np.bincount(pixel, weights=value, minlength=size)
    out = np.full(size, np.nan)
    np.divide(s, n, out=out, where=n > 0)
    return out


def pixel_std(pixel: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """Population standard deviation per pixel (two passes: mean first, then squared deviations)."""
    mean = pixel_mean(pixel, value, size)
    n = np.bincount(pixel, minlength=size)
    dev = value - mean[pixel]
    ss = np.bincount(pixel, weights=dev * dev, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.sqrt(ss / np.maximum(n, 1)), np.nan)


def _extreme(pixel: np.ndarray, value: np.ndarray, size: int, ufunc: np.ufunc, start: float) -> np.ndarray:
    out = np.full(size, start)
    ufunc.at(out, pixel, value)
    out[out == start] = np.nan
    if len(value) and np.any(value == start):  # a genuine ±inf value
        hit = np.zeros(size, dtype=bool)
        hit[pixel[value == start]] = True
        out[hit & np.isnan(out)] = start
    return out


def pixel_min(pixel: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """Smallest value per pixel."""
    return _extreme(pixel, value, size, np.minimum, np.inf)


def pixel_max(pixel: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """Largest value per pixel."""
    return _extreme(pixel, value, size, np.maximum, -np.inf)


def pick_per_pixel(pixel: np.ndarray, value: np.ndarray, size: int, *keys: np.ndarray) -> np.ndarray:
    """Value of the entry that sorts first per pixel by ``keys`` (primary key first, all ascending).

    Examples
    --------
    >>> import numpy as np
    >>> # the entry with the largest order (sort by -order) wins
    >>> pick_per_pixel(np.array([1, 1]), np.array([7.0, 9.0]), 2, -np.array([0, 5])).tolist()
    [nan, 9.0]
    """
    out = np.full(size, np.nan)
    if len(pixel) == 0:
        return out
    idx = np.lexsort((*reversed(keys), pixel))
    p = pixel[idx]
    first = np.ones(len(p), dtype=bool)
    first[1:] = p[1:] != p[:-1]
    out[p[first]] = value[idx[first]]
    return out


def pick_best(pixel: np.ndarray, value: np.ndarray, size: int, key: np.ndarray, *, largest: bool) -> np.ndarray:
    """Value of the entry with the largest (or smallest) ``key`` per pixel; a tie goes to the larger value (+0.0
    above -0.0).

    Two unbuffered ``ufunc.at`` passes (best key per pixel, then the largest value among the entries that have it)
    when values and keys are finite: no sort, 3.5 times faster than sorting by pixel on the benchmark's blocks;
    otherwise one sort by pixel and segment reductions.

    Examples
    --------
    >>> import numpy as np
    >>> pick_best(np.array([0, 0, 0, 2]), np.array([5.0, 7.0, 1.0, 3.0]), 3, np.array([2.0, 2.0, 1.0, 0.5]),
    ...           largest=True).tolist()
    [7.0, nan, 3.0]
    """
    out = np.full(size, np.nan)
    if len(pixel) == 0:
        return out
    # keys exactly as int64 (orders, counts) or finite floats (areas, lengths); others (uint64) are sorted
    integer_key = key.dtype.kind in "ib" or (key.dtype.kind == "u" and key.dtype.itemsize < 8)
    float_key = key.dtype.kind == "f" and bool(np.isfinite(key).all())
    if (integer_key or float_key) and np.isfinite(value).all():
        if integer_key:
            info = np.iinfo(np.int64)
            key = key.astype(np.int64, copy=False)
            best = np.full(size, info.min if largest else info.max, dtype=np.int64)
        else:
            best = np.full(size, -np.inf if largest else np.inf)
        (np.maximum if largest else np.minimum).at(best, pixel, key)
        cand = key == best[pixel]
        np.fmax.at(out, pixel[cand], value[cand])  # NaN (no entry) gives way to the first value
        return _positive_zero_wins(out, pixel[cand], value[cand])
    order = np.argsort(pixel, kind="stable")
    p, k, v = pixel[order], key[order], value[order]
    new = np.ones(len(p), dtype=bool)
    new[1:] = p[1:] != p[:-1]
    starts = np.nonzero(new)[0]
    seg = np.cumsum(new) - 1
    best = (np.maximum if largest else np.minimum).reduceat(k, starts)
    cand = np.where(k == best[seg], v, -np.inf)
    out[p[starts]] = np.maximum.reduceat(cand, starts)
    return _positive_zero_wins(out, p, cand)


def _positive_zero_wins(out: np.ndarray, pixel: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``out`` with +0.0 where the largest value of a pixel is a zero and one of its entries is +0.0.

    ``max`` of -0.0 and +0.0 depends on their order (and ``fmax`` on the C library): a tie between them goes to
    +0.0, the larger in IEEE's total order, whatever the order of the entries or the form of the reduction.
    """
    plus = pixel[(value == 0.0) & ~np.signbit(value)]
    if len(plus):
        plus = plus[out[plus] == 0.0]
        out[plus] = 0.0
    return out


def pixel_mode(pixel: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """Most frequent value per pixel; a tie goes to the smaller value."""
    out = np.full(size, np.nan)
    if len(pixel) == 0:
        return out
    idx = np.lexsort((value, pixel))
    p, v = pixel[idx], value[idx]
    new = np.ones(len(p), dtype=bool)
    new[1:] = (p[1:] != p[:-1]) | (v[1:] != v[:-1])
    starts = np.nonzero(new)[0]
    counts = np.diff(np.append(starts, len(p)))
    p, v = p[starts], v[starts]
    # the largest count per pixel, then the smallest value among the values that have it (two ufunc.at passes: a
    # third of the time of a second sort by pixel, count and value)
    best = np.zeros(size, dtype=counts.dtype)
    np.maximum.at(best, p, counts)
    top = counts == best[p]
    np.fmin.at(out, p[top], v[top])  # NaN (no value yet) gives way to the first
    return out
