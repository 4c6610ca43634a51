# ruff: noqa  (copied unchanged from the project's shared folder, bench/make_workload.py; only this line added)
#!/usr/bin/env python3
"""Deterministic benchmark workload generator (rasterize-a-vector-coverage benchmark).

Mimics the workload of the 2014 PostGIS article "rasterizing a vector coverage":
  * elevation.tif  : smooth DEM-like float32 surface, 2500x2500 px of 30 m at --scale 1
                     (i.e. 25x25 = 625 PostGIS tiles of 100x100 px), EPSG:32198.
  * forestcover.gpkg, layers:
      forestcover  : ~2755 non-overlapping (Multi)Polygons (Voronoi mosaic clipped to an
                     irregular blob, wiggly shared edges, lakes -> holes, enclaves -> islands
                     filling holes), column height float 2..40. Placed so that the polygons
                     touch ~31 of the 625 tiles and their bbox spans exactly 7x8 = 56 tiles.
      streams      : ~500 meandering LineStrings (column width, strahler)
      plots        : ~5000 Points (column height)
      overlapping  : ~2000 mutually overlapping polygons (buffered points / ellipses,
                     column height) for count / merge metrics.
  * workload_stats.json : the generator's own statistics.

--scale s multiplies the number of tiles, polygons, lines, points by s (the tile grid side
and the forest bbox side grow by sqrt(s)); pixel size, tile size and feature density stay.

Only numpy + shapely + rasterio + pyogrio. Everything derives from --seed.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import Polygon, box

import pyogrio.raw
import rasterio
from rasterio.transform import from_origin


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--scale", type=float, default=1.0, help="workload size factor (1, 4, 16 ...)")
    p.add_argument("--seed", type=int, default=2014)
    p.add_argument("--crs", default="EPSG:32198")
    p.add_argument("--pixel", type=float, default=30.0, help="pixel size (m)")
    p.add_argument("--tile", type=int, default=100, help="PostGIS tile size (px)")
    p.add_argument("--tiles-per-side", type=int, default=25, help="tiles per side at scale 1")
    p.add_argument("--ulx", type=float, default=150000.0)
    p.add_argument("--uly", type=float, default=420000.0)
    p.add_argument("--n-polygons", type=int, default=2755, help="forest polygons at scale 1")
    p.add_argument("--target-touched", type=int, default=31, help="tiles touched at scale 1")
    p.add_argument("--bbox-tiles", default="7x8", help="forest bbox in tiles (cols x rows) at scale 1")
    p.add_argument("--n-streams", type=int, default=500)
    p.add_argument("--n-plots", type=int, default=5000)
    p.add_argument("--n-overlapping", type=int, default=2000)
    p.add_argument("--segment", type=float, default=20.0, help="max edge length (m) before wiggling")
    p.add_argument("--trials", type=int, default=400, help="blob layouts tried to hit --target-touched")
    return p.parse_args()


# ----------------------------------------------------------------------------------------
# Elevation
# ----------------------------------------------------------------------------------------
def make_dem(rng, n, pixel):
    """Fractal (1/f^beta) surface via FFT, scaled to 80..950 m, float32."""
    white = rng.standard_normal((n, n))
    f = np.fft.rfft2(white)
    del white
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    freq = np.sqrt(fx * fx + fy * fy)
    freq[0, 0] = 1.0
    f *= freq ** -1.6          # amplitude spectrum ~ f^-1.6 -> smooth, hilly
    f[0, 0] = 0.0
    del freq
    z = np.fft.irfft2(f, s=(n, n))
    del f
    # broad regional trend (valley towards the south-east)
    t = np.linspace(0.0, 1.0, n, dtype=np.float64)
    z = (z - z.min()) / (z.max() - z.min())
    z = 0.75 * z + 0.25 * (1.0 - 0.5 * (t[None, :] + t[:, None]))
    z = 80.0 + 870.0 * (z - z.min()) / (z.max() - z.min())
    return z.astype(np.float32)


# ----------------------------------------------------------------------------------------
# Geometry helpers
# ----------------------------------------------------------------------------------------
def star(rng, cx, cy, r0, nharm=6, amp=0.22, npts=96):
    th = np.linspace(0.0, 2 * np.pi, npts, endpoint=False)
    r = np.ones_like(th)
    for k in range(2, nharm + 1):
        r += rng.uniform(0, amp / math.sqrt(k - 1)) * np.cos(k * th + rng.uniform(0, 2 * np.pi))
    r = r0 * np.clip(r, 0.25, None)
    return Polygon(np.column_stack([cx + r * np.cos(th), cy + r * np.sin(th)]))


class Wiggle:
    """Smooth displacement field d(x,y); sum |a*k| < 0.5 so x+d(x) is a homeomorphism
    (non-overlapping polygons stay non-overlapping, shared edges stay shared)."""

    def __init__(self, rng, comps=((60.0, 2500.0), (12.0, 500.0), (3.0, 120.0))):
        self.terms = []
        for axis in (0, 1):
            for amp, wl in comps:
                a = rng.uniform(0, 2 * np.pi)
                self.terms.append((axis, amp, 2 * np.pi / wl, math.cos(a), math.sin(a), rng.uniform(0, 2 * np.pi)))

    def __call__(self, xy):
        out = xy.copy()
        for axis, amp, k, ca, sa, ph in self.terms:
            out[:, axis] += amp * np.sin(k * (ca * xy[:, 0] + sa * xy[:, 1]) + ph)
        return out


def affine_fit(bounds, target):
    (x0, y0, x1, y1), (tx0, ty0, tx1, ty1) = bounds, target
    sx, sy = (tx1 - tx0) / (x1 - x0), (ty1 - ty0) / (y1 - y0)
    return lambda xy: np.column_stack([tx0 + (xy[:, 0] - x0) * sx, ty0 + (xy[:, 1] - y0) * sy])


def tiles_touched(geom_or_tree, tile_boxes):
    if isinstance(geom_or_tree, shapely.STRtree):
        idx = geom_or_tree.query(tile_boxes, predicate="intersects")
        return np.unique(idx[0])
    return np.nonzero(shapely.intersects(tile_boxes, geom_or_tree))[0]


def sample_in(rng, geom, n, cluster_frac=0.0, n_clusters=1, cluster_sd=300.0):
    """n points inside geom: uniform + optional gaussian clusters (rejection sampling)."""
    x0, y0, x1, y1 = geom.bounds
    shapely.prepare(geom)
    out = []
    n_cl = int(round(n * cluster_frac))
    if n_cl:
        centres = []
        while len(centres) < n_clusters:
            c = rng.uniform([x0, y0], [x1, y1])
            if shapely.contains_xy(geom, c[0], c[1]):
                centres.append(c)
        centres = np.array(centres)
    while sum(len(o) for o in out) < n:
        need = n - sum(len(o) for o in out)
        m = max(need * 3, 64)
        pts = rng.uniform([x0, y0], [x1, y1], size=(m, 2))
        if n_cl:
            k = min(n_cl, m)
            which = rng.integers(0, len(centres), size=k)
            pts[:k] = centres[which] + rng.normal(0, cluster_sd, size=(k, 2))
            n_cl = max(0, n_cl - int(shapely.contains_xy(geom, pts[:k, 0], pts[:k, 1]).sum()))
        ok = shapely.contains_xy(geom, pts[:, 0], pts[:, 1])
        out.append(pts[ok][:need])
    return np.concatenate(out)[:n]


def polygonal(g):
    """Polygonal part of a geometry (drops lines / points left by make_valid or difference)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    return shapely.union_all([p for p in shapely.get_parts(g) if p.geom_type == "Polygon"])


def round_coords(geoms, nd=2):
    return shapely.transform(geoms, lambda xy: np.round(xy, nd))


# ----------------------------------------------------------------------------------------
def main():
    a = parse_args()
    t_start = time.time()
    os.makedirs(a.out, exist_ok=True)
    s = a.scale
    root = math.sqrt(s)
    ss = np.random.SeedSequence(a.seed)
    rng_dem, rng_blob, rng_cov, rng_streams, rng_plots, rng_ovl = [np.random.default_rng(x) for x in ss.spawn(6)]

    T = a.tile * a.pixel                       # tile side in metres (3000)
    ntile = int(round(a.tiles_per_side * root))  # tiles per side (25, 50, 100)
    npx = ntile * a.tile
    ulx, uly = a.ulx, a.uly
    lrx, lry = ulx + npx * a.pixel, uly - npx * a.pixel

    bx, by = (int(v) for v in a.bbox_tiles.lower().split("x"))
    nbx, nby = int(round(bx * root)), int(round(by * root))
    col0, row0 = int(round(9 * root)), int(round(6 * root))  # forest block offset in tiles
    assert col0 + nbx <= ntile and row0 + nby <= ntile
    target_touched = int(round(a.target_touched * s))
    n_polys = int(round(a.n_polygons * s))

    # forest block (metres)
    bx0 = ulx + col0 * T
    by1 = uly - row0 * T
    bx1 = bx0 + nbx * T
    by0 = by1 - nby * T
    # margins inside the block; the odd metres keep the forest bbox off the pixel grid lines
    target_bbox = (bx0 + 0.2 * T + 7.3, by0 + 0.2 * T + 13.1, bx1 - 0.2 * T - 3.9, by1 - 0.2 * T - 21.4)

    # tile boxes of the block (for touched-tile counting)
    cols, rows = np.meshgrid(np.arange(col0, col0 + nbx), np.arange(row0, row0 + nby))
    cols, rows = cols.ravel(), rows.ravel()
    block_tiles = shapely.box(ulx + cols * T, uly - (rows + 1) * T, ulx + (cols + 1) * T, uly - rows * T)

    # -------------------------------------------------------------- blob layout search
    wiggle = Wiggle(rng_blob)
    W, H = nbx * T, nby * T
    n_patches = max(3, int(round(5 * s)))
    n_lakes = int(round(40 * s))
    best = None
    for trial in range(a.trials):
        r = np.random.default_rng([a.seed, 7, trial])
        patches = []
        for _ in range(n_patches):
            cx, cy = bx0 + r.uniform(0.12, 0.88) * W, by0 + r.uniform(0.12, 0.88) * H
            patches.append(star(r, cx, cy, T * r.uniform(0.45, 1.35)))
        blob = shapely.union_all(patches)
        lakes = []
        for c in sample_in(r, blob, n_lakes):
            lakes.append(star(r, c[0], c[1], r.uniform(40, 250), nharm=4, amp=0.3, npts=40))
        blob = blob.difference(shapely.union_all(lakes))
        blob = shapely.segmentize(blob, a.segment)
        wb = shapely.transform(blob, wiggle)
        fit = affine_fit(wb.bounds, target_bbox)
        fb = shapely.transform(wb, fit)
        touched = len(tiles_touched(fb, block_tiles))
        score = abs(touched - target_touched)
        if best is None or score < best[0]:
            best = (score, trial, blob, fit, touched)
        if score == 0:
            break
    _, trial, blob, fit, touched_blob = best
    print(f"blob layout trial {trial}: touched {touched_blob} (target {target_touched}), "
          f"{n_patches} patches, {n_lakes} lakes")
    full = lambda g: shapely.transform(shapely.transform(g, wiggle), fit)

    # -------------------------------------------------------------- forest mosaic
    n_enclaves = int(round(0.02 * n_polys))
    n_cells = n_polys - n_enclaves
    seeds = sample_in(rng_cov, blob, n_cells, cluster_frac=0.45,
                      n_clusters=max(4, int(round(25 * s))), cluster_sd=350.0)
    vor = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=box(*blob.buffer(1000).bounds),
                                   ordered=True)
    cells = np.array(shapely.get_parts(vor))
    shapely.prepare(blob)
    cells = shapely.intersection(cells, blob)
    # keep polygonal part only
    cells = np.array([c if c.geom_type in ("Polygon", "MultiPolygon") else
                      shapely.union_all([p for p in shapely.get_parts(c) if p.geom_type == "Polygon"])
                      for c in cells], dtype=object)
    # enclaves: small islands inside some cells (a hole in the host filled by another polygon)
    enclaves, host_of = [], []
    order = rng_cov.permutation(len(cells))
    for i in order:
        if len(enclaves) >= n_enclaves:
            break
        c = cells[i]
        if c.area < 4e4:
            continue
        p = shapely.Point(sample_in(rng_cov, c, 1)[0])
        circ = p.buffer(rng_cov.uniform(20, 60), quad_segs=6)
        if c.contains(circ.buffer(8)):
            cells[i] = c.difference(circ)
            enclaves.append(circ)
            host_of.append(i)
    assert len(enclaves) == n_enclaves, (len(enclaves), n_enclaves)
    # ponds: small unfilled holes (gaps in the coverage) in other cells
    n_ponds, k = int(round(0.02 * n_polys)), 0
    for i in order[::-1]:
        if k >= n_ponds:
            break
        c = cells[i]
        if i in host_of or c.area < 3e4:
            continue
        p = shapely.Point(sample_in(rng_cov, c, 1)[0])
        pond = star(rng_cov, p.x, p.y, rng_cov.uniform(12, 45), nharm=4, amp=0.3, npts=24)
        if c.contains(pond.buffer(8)):
            cells[i] = c.difference(pond)
            k += 1
    polys = np.concatenate([cells, np.array(enclaves, dtype=object)])
    polys = shapely.segmentize(polys, a.segment)
    polys = round_coords(full(polys))
    # rounding to 1 cm can make a polygon invalid (self-touching ring); fix it with make_valid
    # and then cut its neighbours out of it so that the coverage stays non-overlapping
    invalid = np.nonzero(~shapely.is_valid(polys))[0]
    n_invalid = int(len(invalid))
    if n_invalid:
        tree0 = shapely.STRtree(polys)
        for i in invalid:
            fixed = polygonal(shapely.make_valid(polys[i]))
            nb = [j for j in tree0.query(fixed) if j != i]
            if nb:
                fixed = polygonal(fixed.difference(shapely.union_all(
                    [polygonal(shapely.make_valid(polys[j])) for j in nb])))
            polys[i] = fixed

    # heights: spatially autocorrelated (smooth field + stand noise), 2..40 m, 0.1 m
    cent = shapely.get_coordinates(shapely.point_on_surface(polys))
    hf = Wiggle(rng_cov, comps=((1.0, 9000.0), (0.6, 4000.0), (0.4, 1500.0)))
    field = hf(np.zeros_like(cent) + cent)[:, 0] - cent[:, 0]
    heights = 16.0 + 7.0 * field + rng_cov.normal(0, 6.0, len(polys))
    for j, i in enumerate(host_of):      # enclaves differ from their host
        heights[n_cells + j] = heights[i] + rng_cov.choice([-1, 1]) * rng_cov.uniform(5, 15)
    heights = np.round(np.clip(heights, 2.0, 40.0), 1)

    # -------------------------------------------------------------- streams
    n_streams = int(round(a.n_streams * s))
    ext = (bx0 - T + 15, by0 - T + 15, bx1 + T - 15, by1 + T - 15)  # stay 0.5 px inside tile edges
    lines, widths, strahler = [], [], []
    for _ in range(n_streams):
        n = int(rng_streams.uniform(30, 180))  # 30 m steps -> 0.9 .. 5.4 km
        x = rng_streams.uniform(ext[0], ext[2])
        y = rng_streams.uniform(ext[1], ext[3])
        head = rng_streams.uniform(0, 2 * np.pi)
        turn = np.cumsum(rng_streams.normal(0, 0.18, n)) * 0.5 + rng_streams.normal(0, 0.1, n)
        hd = head + turn
        step = rng_streams.uniform(25, 35, n)
        xs = x + np.concatenate([[0], np.cumsum(step * np.cos(hd))])
        ys = y + np.concatenate([[0], np.cumsum(step * np.sin(hd))])
        lines.append(shapely.linestrings(np.round(xs, 2), np.round(ys, 2)))
        st = int(rng_streams.choice([1, 1, 1, 1, 2, 2, 3, 4]))
        strahler.append(st)
        widths.append(round(float(st * rng_streams.uniform(0.8, 2.5)), 2))
    lines = shapely.clip_by_rect(np.array(lines, dtype=object), *ext)
    lines = np.array([g if g.geom_type == "LineString" else max(shapely.get_parts(g), key=lambda q: q.length)
                      for g in lines], dtype=object)

    # -------------------------------------------------------------- plots
    n_plots = int(round(a.n_plots * s))
    forest_union = shapely.coverage_union_all(polys)
    n_in = int(round(0.8 * n_plots))
    pin = sample_in(rng_plots, forest_union, n_in)
    pout = rng_plots.uniform(ext[:2], ext[2:], size=(n_plots - n_in, 2))
    pxy = np.round(np.concatenate([pin, pout]), 2)
    pxy = pxy[rng_plots.permutation(len(pxy))]
    points = shapely.points(pxy)
    tree = shapely.STRtree(polys)
    pi, ti = tree.query(points, predicate="intersects")
    ph = np.full(len(points), np.nan)
    ph[pi] = heights[ti]
    plot_h = np.where(np.isnan(ph), rng_plots.uniform(0.5, 4.0, len(points)),
                      ph + rng_plots.normal(0, 2.5, len(points)))
    plot_h = np.round(np.clip(plot_h, 0.5, 45.0), 1)

    # -------------------------------------------------------------- overlapping polygons
    n_ovl = int(round(a.n_overlapping * s))
    oc = rng_ovl.uniform(ext[:2], ext[2:], size=(n_ovl, 2))
    orad = np.clip(rng_ovl.lognormal(math.log(180.0), 0.6, n_ovl), 40, 900)
    ovl = []
    for (cx, cy), rr in zip(oc, orad):
        g = shapely.Point(cx, cy).buffer(rr, quad_segs=8)
        g = shapely.affinity.scale(g, rng_ovl.uniform(0.5, 1.0), 1.0)
        g = shapely.affinity.rotate(g, rng_ovl.uniform(0, 180))
        ovl.append(g)
    ovl = round_coords(np.array(ovl, dtype=object))
    ovl_h = np.round(rng_ovl.uniform(2, 40, n_ovl), 1)

    # -------------------------------------------------------------- write vectors
    gpkg = os.path.join(a.out, "forestcover.gpkg")
    if os.path.exists(gpkg):
        os.remove(gpkg)
    multi = np.array([shapely.MultiPolygon(list(shapely.get_parts(p))) for p in polys], dtype=object)
    common = dict(driver="GPKG", crs=a.crs)
    pyogrio.raw.write(gpkg, shapely.to_wkb(multi), [np.arange(1, len(polys) + 1, dtype=np.int32), heights],
                      ["id", "height"], layer="forestcover", geometry_type="MultiPolygon", **common)
    pyogrio.raw.write(gpkg, shapely.to_wkb(lines), [np.arange(1, len(lines) + 1, dtype=np.int32),
                      np.array(widths), np.array(strahler, dtype=np.int32)], ["id", "width", "strahler"],
                      layer="streams", geometry_type="LineString", append=True, **common)
    pyogrio.raw.write(gpkg, shapely.to_wkb(points), [np.arange(1, len(points) + 1, dtype=np.int32), plot_h],
                      ["id", "height"], layer="plots", geometry_type="Point", append=True, **common)
    pyogrio.raw.write(gpkg, shapely.to_wkb(ovl), [np.arange(1, len(ovl) + 1, dtype=np.int32), ovl_h],
                      ["id", "height"], layer="overlapping", geometry_type="Polygon", append=True, **common)

    # -------------------------------------------------------------- write elevation
    dem = make_dem(rng_dem, npx, a.pixel)
    with rasterio.open(os.path.join(a.out, "elevation.tif"), "w", driver="GTiff", width=npx, height=npx,
                       count=1, dtype="float32", crs=a.crs, transform=from_origin(ulx, uly, a.pixel, a.pixel),
                       tiled=True, blockxsize=256, blockysize=256, compress="deflate", predictor=3) as dst:
        dst.write(dem, 1)
    del dem

    # -------------------------------------------------------------- statistics
    all_cols, all_rows = np.meshgrid(np.arange(ntile), np.arange(ntile))
    all_cols, all_rows = all_cols.ravel(), all_rows.ravel()
    all_tiles = shapely.box(ulx + all_cols * T, uly - (all_rows + 1) * T, ulx + (all_cols + 1) * T,
                            uly - all_rows * T)
    x0, y0, x1, y1 = shapely.total_bounds(polys)
    bbox_tiles = len(tiles_touched(box(x0, y0, x1, y1), all_tiles))
    touched = len(tiles_touched(tree, all_tiles))

    def touched_by(geoms):
        return int(len(tiles_touched(shapely.STRtree(geoms), all_tiles)))

    areas = shapely.area(polys)
    pa, pb = tree.query(polys, predicate="intersects")
    keep = pa < pb
    ov = shapely.area(shapely.intersection(polys[pa[keep]], polys[pb[keep]]))
    n_ovl_pairs, ovl_area = int((ov > 1e-9).sum()), float(ov.sum())
    stats = dict(
        scale=s, seed=a.seed, crs=a.crs, pixel_size=a.pixel, tile_px=a.tile,
        grid_px=[npx, npx], grid_tiles=[ntile, ntile], n_tiles=ntile * ntile,
        ulx=ulx, uly=uly,
        forestcover=dict(
            n_polygons=int(len(polys)), n_voronoi_cells=int(n_cells), n_enclaves=int(n_enclaves),
            n_with_holes=int(sum(any(shapely.get_num_interior_rings(q) > 0 for q in shapely.get_parts(g))
                                 for g in polys)),
            n_multipart=int((shapely.get_num_geometries(polys) > 1).sum()),
            n_invalid_fixed=n_invalid, n_ponds=int(n_ponds),
            n_vertices=int(shapely.get_num_coordinates(polys).sum()),
            total_area_km2=round(float(areas.sum()) / 1e6, 3),
            union_area_km2=round(float(forest_union.area) / 1e6, 3),
            overlap_area_m2=round(float(ovl_area), 6), n_overlapping_pairs=int(n_ovl_pairs),
            mean_area_ha=round(float(areas.mean()) / 1e4, 3),
            min_area_m2=round(float(areas.min()), 1), max_area_ha=round(float(areas.max()) / 1e4, 2),
            height_min=float(heights.min()), height_max=float(heights.max()),
            n_distinct_heights=int(len(np.unique(heights))),
            tiles_touched=int(touched), tiles_touched_target=target_touched,
            bbox=[float(x0), float(y0), float(x1), float(y1)], bbox_tiles=int(bbox_tiles),
            bbox_tiles_cols_rows=[nbx, nby], layout_trial=int(trial),
        ),
        streams=dict(n=int(len(lines)), total_length_km=round(float(shapely.length(lines).sum()) / 1e3, 2),
                     n_vertices=int(shapely.get_num_coordinates(lines).sum()), tiles_touched=touched_by(lines)),
        plots=dict(n=int(len(points)), n_in_forest=int(len(np.unique(pi))), tiles_touched=touched_by(points)),
        overlapping=dict(n=int(len(ovl)), total_area_km2=round(float(shapely.area(ovl).sum()) / 1e6, 3),
                         union_area_km2=round(float(shapely.union_all(ovl).area) / 1e6, 3),
                         tiles_touched=touched_by(ovl)),
        generation_seconds=round(time.time() - t_start, 2),
    )
    with open(os.path.join(a.out, "workload_stats.json"), "w") as f:
        json.dump(stats, f, indent=2)
    print(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
