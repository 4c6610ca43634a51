"""Slow, obviously correct references for regridding (spec section 6), written without the product's code.

- :func:`area_oracle`: every valid source pixel as a shapely polygon (each side densified to ``n`` points in the
  source's pixel space, mapped by its transform and, when the CRSs differ, by pyproj into the target CRS),
  intersected with every target pixel (the affine image of the unit square); the area methods follow from the
  overlap areas by their definitions.
- :func:`centroid_oracle`: each target pixel centre taken to every source raster's pixel space (pyproj, then the
  inverse transform) and floored: the owning pixel, if any, and its value.
- :func:`separable_overlaps`: for axis-aligned grids in one CRS, the 1-D overlap lengths of the target's and the
  source's columns and rows, whose products are the exact overlap areas.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer

#: The result of a method at a pixel where it has none (the oracle's nodata).
NONE = np.nan


@dataclass
class Raster:
    """One source raster: values (rows, cols) float64 with NaN where nodata, its transform and CRS."""

    values: np.ndarray
    transform: Affine
    crs: str


def _same(a: str, b: str) -> bool:
    return CRS.from_user_input(a) == CRS.from_user_input(b)


def _ring_pixel_space(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The unit square's boundary, ``n`` points per side (closed implicitly), counter-clockwise in (col, row)."""
    t = np.arange(n) / n
    cols = np.concatenate([t, np.ones(n), 1 - t, np.zeros(n)])
    rows = np.concatenate([np.zeros(n), t, np.ones(n), 1 - t])
    return cols, rows


def source_polygons(raster: Raster, target_crs: str, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The valid pixels of ``raster`` as polygons in ``target_crs``: ``(polygons, flat pixel indexes)``."""
    h, w = raster.values.shape
    rows, cols = np.nonzero(~np.isnan(raster.values))
    rc, rr = _ring_pixel_space(n)
    pc = cols[:, None] + rc[None, :]
    pr = rows[:, None] + rr[None, :]
    t = raster.transform
    x = t.a * pc + t.b * pr + t.c
    y = t.d * pc + t.e * pr + t.f
    if not _same(raster.crs, target_crs):
        tr = Transformer.from_crs(raster.crs, target_crs, always_xy=True)
        x, y = tr.transform(x, y)
        x, y = np.asarray(x), np.asarray(y)
    coords = np.stack([x, y], axis=-1)
    polys = shapely.polygons(np.concatenate([coords, coords[:, :1]], axis=1))
    return polys, rows * w + cols


def target_polygons(transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Every target pixel (row-major) as the affine image of its unit square."""
    h, w = shape
    rows, cols = np.divmod(np.arange(h * w), w)
    pc = cols[:, None] + np.array([0.0, 1.0, 1.0, 0.0, 0.0])[None, :]
    pr = rows[:, None] + np.array([0.0, 0.0, 1.0, 1.0, 0.0])[None, :]
    t = transform
    x = t.a * pc + t.b * pr + t.c
    y = t.d * pc + t.e * pr + t.f
    return shapely.polygons(np.stack([x, y], axis=-1))


@dataclass
class Overlaps:
    """Overlaps of every valid source pixel (all rasters, in order) with the target pixels."""

    target: np.ndarray  # flat target pixel
    source: np.ndarray  # index into ``values`` / ``whole``
    area: np.ndarray  # map units² of the target CRS
    values: np.ndarray  # per source pixel
    whole: np.ndarray  # |S_i|: the source pixel's area in the target CRS
    pixel_area: float
    size: int


def overlaps(rasters: list[Raster], transform: Affine, shape: tuple[int, int], crs: str, n: int = 64) -> Overlaps:
    """Exact (to the densification) overlap areas of every valid source pixel with every target pixel."""
    polys, vals = [], []
    for r in rasters:
        p, flat = source_polygons(r, crs, n)
        polys.append(p)
        vals.append(r.values.ravel()[flat])
    polys = np.concatenate(polys) if polys else np.empty(0, object)
    values = np.concatenate(vals) if vals else np.empty(0)
    targets = target_polygons(transform, shape)
    tree = shapely.STRtree(polys)
    ti, si = tree.query(targets, predicate="intersects")
    area = shapely.area(shapely.intersection(targets[ti], polys[si]))
    keep = area > 0
    return Overlaps(
        ti[keep],
        si[keep],
        area[keep],
        values,
        shapely.area(polys),
        abs(transform.determinant),
        shape[0] * shape[1],
    )


def area_oracle(ov: Overlaps, classes=(), ambiguous: float = 1e-6) -> dict[str, np.ndarray]:
    """Every area method of spec section 6 from the overlaps, flat per target pixel, NaN for nodata.

    Also ``"ambiguous"``: pixels where a source pixel overlaps by less than ``ambiguous`` of the pixel (the
    oracle's densification cannot tell whether it qualifies for MIN/MAX) or where two classes' areas are within
    ``ambiguous`` of each other (MAJORITY cannot be told apart from a tie).
    """
    n, A = ov.size, ov.pixel_area
    t, a, v = ov.target, ov.area, ov.values[ov.source]
    s = np.bincount(t, a, n)
    av = np.bincount(t, a * v, n)
    prop = np.bincount(t, a * v / ov.whole[ov.source], n)
    has = np.bincount(t, None, n) > 0
    out = {
        "AREA_WEIGHTED_SUM_OF_RASTER_VALUES": av,
        "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES": prop,
        "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES": np.where(has, av / np.maximum(s, A), NONE),
        "AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2": np.where(has, av / np.where(has, s, 1.0), NONE),
        "VALID_FRACTION": s / A,
    }
    for c in classes:
        k = v == c
        out[f"FRACTION_OF_RASTER_VALUE:{c:g}"] = np.bincount(t[k], a[k], n) / A
    lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(lo, t, v)
    np.maximum.at(hi, t, v)
    out["MIN_OF_RASTER_VALUES"] = np.where(has, lo, NONE)
    out["MAX_OF_RASTER_VALUES"] = np.where(has, hi, NONE)
    ambig = np.zeros(n, bool)
    ambig[t[a < ambiguous * A]] = True
    per_class: dict[int, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for ti, ai, vi in zip(t.tolist(), a.tolist(), v.tolist(), strict=True):
        per_class[ti][vi] += ai
    major = np.full(n, NONE)
    for ti, d in per_class.items():
        ranked = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))
        major[ti] = ranked[0][0]
        if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < ambiguous * A:
            ambig[ti] = True
    out["MAJORITY_OF_RASTER_VALUES"] = major
    out["ambiguous"] = ambig
    return out


def centroid_oracle(rasters: list[Raster], transform: Affine, shape: tuple[int, int], crs: str) -> dict:
    """The centroid methods, flat per target pixel (NaN for nodata): per raster, in order, the valid source
    pixel owning the target centre (half-open: floor of the centre in the source's pixel space)."""
    h, w = shape
    rows, cols = np.divmod(np.arange(h * w), w)
    x = transform.a * (cols + 0.5) + transform.b * (rows + 0.5) + transform.c
    y = transform.d * (cols + 0.5) + transform.e * (rows + 0.5) + transform.f
    hits: list[list[float]] = [[] for _ in range(h * w)]
    for r in rasters:
        sx, sy = x, y
        if not _same(r.crs, crs):
            sx, sy = Transformer.from_crs(crs, r.crs, always_xy=True).transform(x, y)
        inv = ~r.transform
        sc = np.floor(inv.a * np.asarray(sx) + inv.b * np.asarray(sy) + inv.c)
        sr = np.floor(inv.d * np.asarray(sx) + inv.e * np.asarray(sy) + inv.f)
        rh, rw = r.values.shape
        for i in range(h * w):
            if 0 <= sc[i] < rw and 0 <= sr[i] < rh:
                val = r.values[int(sr[i]), int(sc[i])]
                if not np.isnan(val):
                    hits[i].append(float(val))
    out = {k: np.full(h * w, NONE) for k in ("FIRST", "MIN", "MAX", "MEAN", "STDDEVP", "RANGE")}
    out["COUNT"] = np.zeros(h * w)
    out["SUM"] = np.zeros(h * w)
    for i, vs in enumerate(hits):
        if not vs:
            continue
        a = np.array(vs)
        out["COUNT"][i] = len(a)
        out["FIRST"][i] = a[0]
        out["MIN"][i] = a.min()
        out["MAX"][i] = a.max()
        out["SUM"][i] = a.sum()
        out["MEAN"][i] = a.mean()
        out["STDDEVP"][i] = a.std()
        out["RANGE"][i] = a.max() - a.min()
    return out


def separable_overlaps(
    source: Affine, source_shape: tuple[int, int], target: Affine, target_shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """For axis-aligned grids (``b = d = 0``) in one CRS: ``Oy[target row, source row]`` and ``Ox[target col,
    source col]``, the 1-D overlap lengths (map units); the overlap area of two pixels is their product."""

    def one(s0, ds, ns, t0, dt, nt):
        se = s0 + ds * np.arange(ns + 1)
        te = t0 + dt * np.arange(nt + 1)
        slo, shi = np.minimum(se[:-1], se[1:]), np.maximum(se[:-1], se[1:])
        tlo, thi = np.minimum(te[:-1], te[1:]), np.maximum(te[:-1], te[1:])
        return np.clip(np.minimum(thi[:, None], shi[None, :]) - np.maximum(tlo[:, None], slo[None, :]), 0, None)

    assert source.b == source.d == target.b == target.d == 0
    (sh, sw), (th, tw) = source_shape, target_shape
    ox = one(source.c, source.a, sw, target.c, target.a, tw)
    oy = one(source.f, source.e, sh, target.f, target.e, th)
    return oy, ox
