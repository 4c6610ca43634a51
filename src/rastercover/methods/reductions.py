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
    return np.bincount(pixel, minlength=size).astype(np.float64)


def pixel_sum(pixel: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """Sum of values per pixel (0 where none)."""
    return np.bincount(pixel, weights=value, minlength=size)


def pixel_mean(pixel: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """Mean of values per pixel."""
    n = np.bincount(pixel, minlength=size)
    s = np.bincount(pixel, weights=value, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


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
    """Value of the entry with the largest (or smallest) ``key`` per pixel; a tie goes to the larger value.

    One sort by pixel and segment reductions: much faster than :func:`pick_per_pixel` on large blocks.

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
    order = np.argsort(pixel, kind="stable")
    p, k, v = pixel[order], key[order], value[order]
    new = np.ones(len(p), dtype=bool)
    new[1:] = p[1:] != p[:-1]
    starts = np.nonzero(new)[0]
    seg = np.cumsum(new) - 1
    best = (np.maximum if largest else np.minimum).reduceat(k, starts)
    cand = np.where(k == best[seg], v, -np.inf)
    out[p[starts]] = np.maximum.reduceat(cand, starts)
    return out


def pixel_mode(pixel: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """Most frequent value per pixel; a tie goes to the smaller value."""
    if len(pixel) == 0:
        return np.full(size, np.nan)
    idx = np.lexsort((value, pixel))
    p, v = pixel[idx], value[idx]
    new = np.ones(len(p), dtype=bool)
    new[1:] = (p[1:] != p[:-1]) | (v[1:] != v[:-1])
    starts = np.nonzero(new)[0]
    counts = np.diff(np.append(starts, len(p)))
    return pick_per_pixel(p[starts], v[starts], size, -counts, v[starts])
