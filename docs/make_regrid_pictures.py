"""The pictures and numbers of docs/regrid.md: São Miguel (Azores) population and land cover, regridded.

Run from a clone of the repository (the data is bundled: ``src/rastercover/data/sao_miguel``)::

    .venv/bin/pip install matplotlib          # docs only: not a dependency of rastercover
    .venv/bin/python docs/make_regrid_pictures.py

It writes ``docs/img/regrid_*.png`` (600 px wide, palette PNGs) and prints every number the guide quotes:

1. GPW v4.11 population counts (30 arc-second pixels, EPSG:4326) onto a 100 m EPSG:32626 grid covering the
   island, with rastercover's ``SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES`` and with ``gdalwarp -r sum`` on the
   same ``-te``/``-tr``/``-t_srs`` (and ``rasterio.warp.reproject(..., Resampling.sum)``): totals, and how many
   people gdalwarp puts in the wrong 100 m pixel, checked on the worst pixel against a shapely overlay of the
   source pixels' outlines. Also ``gdalwarp -r average`` against ``AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2`` on the
   GPW density raster.
2. CORINE Land Cover 2018 (about 18 x 23 m pixels, EPSG:4326) as ``FRACTION_OF_RASTER_VALUE`` (one band per
   class) and ``MAJORITY_OF_RASTER_VALUES`` on a 1 km EPSG:32626 grid, with the class names of the raster's
   ``.vat.dbf``, and sanity checks (fractions add up to ``VALID_FRACTION``, each class's area equals the area of
   its source pixels computed independently, the majority is the largest fraction).

Data: GPW v4.11 (CIESIN, Columbia University, CC BY 4.0) and CORINE Land Cover 2018 (Copernicus Land Monitoring
Service, European Environment Agency), as shipped with exactextractr (``inst/sao_miguel``, Apache-2.0).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyogrio
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer

import rastercover

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colors
    from matplotlib.patches import Patch, Rectangle
except ImportError:  # pragma: no cover - a docs-only dependency
    sys.exit("make_regrid_pictures.py needs matplotlib (docs only): .venv/bin/pip install matplotlib")

REPO = Path(__file__).resolve().parents[1]
IMG = REPO / "docs" / "img"
TARGET_CRS = "EPSG:32626"  # WGS 84 / UTM zone 26N
WIDTH_PX = 600
DPI = 100
BYTES_LIMIT = 150_000


DATA = REPO / "src" / "rastercover" / "data" / "sao_miguel"
GPW_COUNT = DATA / "gpw_v411_2020_count_2020.tif"
GPW_DENSITY = DATA / "gpw_v411_2020_density_2020.tif"
CLC = DATA / "clc2018_v2020_20u1.tif"
CLC_VAT = DATA / "clc2018_v2020_20u1.tif.vat.dbf"
CONCELHOS = DATA / "concelhos.gpkg"

TO_UTM = Transformer.from_crs("EPSG:4326", TARGET_CRS, always_xy=True)


# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------


def snapped_bounds(path: Path, res: float) -> tuple[float, float, float, float]:
    """The raster's extent in the target CRS, snapped outward to multiples of ``res`` (as ``-tap`` would)."""
    with rasterio.open(path) as ds:
        b = ds.bounds
    x0, y0, x1, y1 = TO_UTM.transform_bounds(b.left, b.bottom, b.right, b.top, densify_pts=101)
    return (
        math.floor(x0 / res) * res,
        math.floor(y0 / res) * res,
        math.ceil(x1 / res) * res,
        math.ceil(y1 / res) * res,
    )


def fmt_bounds(b) -> str:
    return " ".join(f"{v:.0f}" for v in b)


def island_outline():
    """The six municipalities (concelhos.gpkg) in the target CRS, as shapely geometries."""
    _, _, wkb, _ = pyogrio.raw.read(CONCELHOS)
    geoms = shapely.from_wkb(wkb)
    return shapely.transform(geoms, lambda xy: np.column_stack(TO_UTM.transform(xy[:, 0], xy[:, 1])))


def draw_outline(ax, geoms, **kw) -> None:
    for g in geoms:
        for part in getattr(g, "geoms", [g]):
            for ring in [part.exterior, *part.interiors]:
                x, y = ring.xy
                ax.plot(x, y, **{"color": "0.35", "lw": 0.4, **kw})


def extent_of(bounds) -> list[float]:
    x0, y0, x1, y1 = bounds
    return [x0, x1, y0, y1]


def island_view(pad: float = 1500.0) -> tuple[float, float, float, float]:
    """What the maps show: the island's extent (concelhos.gpkg) in the target CRS, with a margin."""
    x0, y0, x1, y1 = shapely.total_bounds(island_outline())
    return x0 - pad, y0 - pad, x1 + pad, y1 + pad


def fig_height(view, frac_w: float, frac_h: float) -> float:
    """The figure height (inches) that gives axes of ``frac_w`` x ``frac_h`` of the figure the view's aspect."""
    return WIDTH_PX / DPI * frac_w * (view[3] - view[1]) / (view[2] - view[0]) / frac_h


def map_axes(fig, rect, bounds, title: str):
    ax = fig.add_axes(rect)
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8.5, loc="left")
    return ax


def save_png(fig, name: str, colours: int = 128) -> Path:
    """Save a figure as a small palette PNG, as make_pictures.py does (under :data:`BYTES_LIMIT` bytes)."""
    from make_pictures import save_png as save  # beside this script: on sys.path when it runs

    return save(fig, name, colours, limit=BYTES_LIMIT)


def run(cmd: list[str]) -> None:
    """Run a command, showing it as one would type it (file names without their folders)."""
    shown = [Path(c).name if isinstance(c, Path) else f"{c:g}" if isinstance(c, float) else c for c in cmd]
    print("  $ " + " ".join(str(c) for c in [Path(cmd[0]).name, *shown[1:]]))
    t0 = time.perf_counter()
    subprocess.run([str(c) for c in cmd], check=True)
    print(f"    ({time.perf_counter() - t0:.1f} s)")


# --------------------------------------------------------------------------------------------------------------
# 1. population counts: rastercover vs gdalwarp -r sum
# --------------------------------------------------------------------------------------------------------------


def source_pixel_polygon(transform: Affine, r: int, c: int, n: int = 1000):
    """A source pixel's outline in the target CRS, each side densified to ``n`` exactly transformed points."""
    s = np.linspace(0.0, 1.0, n, endpoint=False)
    cols = np.r_[c + s, np.full(n, c + 1.0), c + 1.0 - s, np.full(n, float(c))]
    rows = np.r_[np.full(n, float(r)), r + s, np.full(n, r + 1.0), r + 1.0 - s]
    x, y = transform * (cols, rows)
    return shapely.Polygon(np.column_stack(TO_UTM.transform(x, y)))


def oracle_pixel(values: np.ma.MaskedArray, transform: Affine, box) -> float:
    """``Σ v·area(S ∩ P)/area(S)`` for one target pixel ``P``, by a shapely overlay of densified outlines."""
    total = 0.0
    for r, c in zip(*np.nonzero(~np.ma.getmaskarray(values)), strict=True):
        s = source_pixel_polygon(transform, r, c, n=50)
        if not s.intersects(box):
            continue
        s = source_pixel_polygon(transform, r, c)
        total += float(values[r, c]) * s.intersection(box).area / s.area
    return total


def population(work: Path) -> dict:
    print("\n== 1. GPW v4.11 population counts onto a 100 m UTM 26N grid ==")
    res = 100.0
    bounds = snapped_bounds(GPW_COUNT, res)
    with rasterio.open(GPW_COUNT) as ds:
        src = ds.read(1, masked=True)
        src_transform = ds.transform
        print(f"  source: {ds.width}x{ds.height} px of {ds.res[0] * 3600:.0f} arc-seconds, nodata {ds.nodata}")
    src_total = float(src.sum(dtype=np.float64))
    print(f"  source total: {src_total:,.6f} people in {src.count()} valid pixels")

    methods = ["SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", "VALID_FRACTION"]
    grid_args = {"bounds": bounds, "resolution": res, "crs": TARGET_CRS}
    plan = rastercover.plan_regrid(GPW_COUNT, **grid_args, methods=methods, dtype="float64")
    reg = plan.job.source
    print(f"  target grid: {plan.grid.width}x{plan.grid.height} px of {res:.0f} m, bounds {fmt_bounds(bounds)}")
    print(f"  plan: source pixels cut into {reg.sub}x{reg.sub}, area error bound {reg.area_error:.1e} of a pixel")
    print(
        f"  $ rastercover regrid {GPW_COUNT.name} --bounds {fmt_bounds(bounds)} --resolution {res:.0f} "
        f"--crs {TARGET_CRS} -m SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES --dtype float64 -o pop_rastercover.tif"
    )
    t0 = time.perf_counter()
    da = rastercover.regrid(GPW_COUNT, **grid_args, methods=methods, dtype="float64")
    seconds = time.perf_counter() - t0
    rc = da.sel(band="SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES").values
    rc_total = float(rc.sum())
    rel = rc_total / src_total - 1
    print(f"  rastercover total: {rc_total:,.6f} (relative difference {rel:+.1e}), {seconds:.1f} s")

    gw_path = work / "pop_gdalwarp_sum.tif"
    gdalwarp = shutil.which("gdalwarp")
    if gdalwarp:
        version = subprocess.run([gdalwarp, "--version"], capture_output=True, text=True).stdout.strip()
        print(f"  {version}")
        run(
            [gdalwarp, "-q", "-overwrite", "-te", *(f"{v:.0f}" for v in bounds), "-tr", res, res,
             "-t_srs", TARGET_CRS, "-r", "sum", "-ot", "Float64", GPW_COUNT, gw_path]
        )  # fmt: skip
        with rasterio.open(gw_path) as ds:
            assert ds.transform == plan.grid.transform and ds.shape == plan.grid.shape, "grids differ"
            gw = ds.read(1, masked=True).filled(0.0)
        gw_label = "gdalwarp -r sum"
    else:
        print("  gdalwarp is not on PATH: using rasterio.warp.reproject(Resampling.sum) (the same GDAL warper)")
        gw = None
        gw_label = "rasterio reproject sum"

    from rasterio.warp import Resampling, reproject

    rio = np.full(plan.grid.shape, np.nan)
    with rasterio.open(GPW_COUNT) as ds:
        reproject(
            rasterio.band(ds, 1),
            rio,
            dst_transform=plan.grid.transform,
            dst_crs=TARGET_CRS,
            resampling=Resampling.sum,
            dst_nodata=np.nan,
        )
    rio = np.nan_to_num(rio)
    print(f"  rasterio.warp.reproject(Resampling.sum) (GDAL {rasterio.__gdal_version__}) total: {rio.sum():,.6f}")
    if gw is None:
        gw = rio
    else:
        print(f"  largest difference rasterio vs gdalwarp: {np.abs(rio - gw).max():.3g}")

    gw_total = float(gw.sum())
    diff = gw - rc
    worst = np.unravel_index(np.argmax(np.abs(diff)), diff.shape)
    x, y = plan.grid.transform * (worst[1] + 0.5, worst[0] + 0.5)
    lon, lat = Transformer.from_crs(TARGET_CRS, "EPSG:4326", always_xy=True).transform(x, y)
    misplaced = float(np.abs(diff).sum() / 2)
    print(f"  {gw_label} total: {gw_total:,.6f} (relative difference {gw_total / src_total - 1:+.1e})")
    print(
        f"  people {gw_label} puts in another 100 m pixel than rastercover: {misplaced:,.1f} "
        f"({misplaced / src_total:.2%} of the total); pixels differing by more than 0.01 person: "
        f"{int((np.abs(diff) > 0.01).sum()):,} of {int((np.maximum(rc, gw) > 0).sum()):,} populated"
    )
    print(
        f"  largest misplacement: {diff[worst]:+.3f} people in pixel (row {worst[0]}, col {worst[1]}) at "
        f"{lon:.4f}, {lat:.4f}: {gw_label} {gw[worst]:.4f}, rastercover {rc[worst]:.4f}"
    )
    tx0, ty1 = plan.grid.transform * (worst[1], worst[0])
    box = shapely.box(tx0, ty1 - res, tx0 + res, ty1)
    exact = oracle_pixel(src, src_transform, box)
    print(
        f"  that pixel by a shapely overlay of the source pixels' outlines (1000 points per side): {exact:.6f} "
        f"(rastercover differs by {rc[worst] - exact:+.1e}, {gw_label} by {gw[worst] - exact:+.3f})"
    )

    # gdalwarp -r average vs the exact area-weighted mean of valid data, on the density raster
    avg = {}
    if gdalwarp:
        avg_path = work / "density_gdalwarp_average.tif"
        run(
            [gdalwarp, "-q", "-overwrite", "-te", *(f"{v:.0f}" for v in bounds), "-tr", res, res,
             "-t_srs", TARGET_CRS, "-r", "average", "-ot", "Float64", GPW_DENSITY, avg_path]
        )  # fmt: skip
        with rasterio.open(avg_path) as ds:
            ga = ds.read(1, masked=True)
        dm = rastercover.regrid(
            GPW_DENSITY, **grid_args, methods="AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2", dtype="float64", nodata=np.nan
        ).values[0]
        both = ~np.ma.getmaskarray(ga) & ~np.isnan(dm)
        d = np.abs(ga.data[both] - dm[both])
        rel = d / np.maximum(np.abs(dm[both]), 1.0)
        avg = {"max": float(d.max()), "over1": int((rel > 0.01).sum()), "n": int(both.sum())}
        print(
            f"  density (people/km²), gdalwarp -r average vs AREA_WEIGHTED_MEAN_OF_RASTER_VALUES_2: largest "
            f"difference {avg['max']:.1f}; {avg['over1']:,} of {avg['n']:,} pixels differ by more than 1%; pixels "
            f"with a value in one only: {int((~np.ma.getmaskarray(ga) & np.isnan(dm)).sum())} gdalwarp, "
            f"{int((np.ma.getmaskarray(ga) & ~np.isnan(dm)).sum())} rastercover"
        )

    # pictures (the island: the grid covers the whole source, mostly sea)
    outline = island_outline()
    view = island_view()
    norm = colors.LogNorm(vmin=0.01, vmax=max(rc.max(), gw.max()))
    cmap = plt.get_cmap("magma_r").copy()
    cmap.set_under("white")
    for name, arr, title in (
        (
            "regrid_population_rastercover.png",
            rc,
            f"rastercover SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES: {rc_total:,.3f}",
        ),
        ("regrid_population_gdalwarp.png", gw, f"{gw_label}: {gw_total:,.3f}"),
    ):
        fig = plt.figure(figsize=(WIDTH_PX / DPI, fig_height(view, 0.98, 0.76)))
        ax = map_axes(fig, [0.01, 0.16, 0.98, 0.76], view, f"People per 100 m pixel, {title}")
        im = ax.imshow(np.where(arr > 0, arr, 1e-9), extent=extent_of(bounds), cmap=cmap, norm=norm,
                       interpolation="nearest")  # fmt: skip
        draw_outline(ax, outline)
        cax = fig.add_axes([0.3, 0.07, 0.4, 0.04])
        fig.colorbar(im, cax=cax, orientation="horizontal").ax.tick_params(labelsize=7)
        save_png(fig, name)

    # the difference: the island, and a zoom on the worst pixel with the GPW pixels' outlines
    lim = float(np.abs(diff).max())
    dnorm = colors.SymLogNorm(linthresh=0.01, vmin=-lim, vmax=lim, base=10)
    fig = plt.figure(figsize=(WIDTH_PX / DPI, 5.2))
    ax = map_axes(fig, [0.01, 0.56, 0.98, 0.38], view, f"{gw_label} − rastercover, people per 100 m pixel")
    im = ax.imshow(diff, extent=extent_of(bounds), cmap="RdBu_r", norm=dnorm, interpolation="nearest")
    draw_outline(ax, outline, color="0.6")
    zb = (x - 4000, y - 2500, x + 4000, y + 2500)
    ax.add_patch(Rectangle((zb[0], zb[1]), zb[2] - zb[0], zb[3] - zb[1], fill=False, lw=0.8, color="k"))
    zax = map_axes(fig, [0.13, 0.04, 0.66, 0.45], zb, "zoom (8 x 5 km): GPW pixel outlines on the 100 m grid")
    zax.imshow(diff, extent=extent_of(bounds), cmap="RdBu_r", norm=dnorm, interpolation="nearest")
    draw_gpw_lattice(zax, src_transform, src.shape)
    zax.plot([x], [y], marker="s", mfc="none", mec="k", ms=3, mew=0.6)
    cax = fig.add_axes([0.83, 0.06, 0.025, 0.4])
    cb = fig.colorbar(im, cax=cax)
    cb.set_ticks([-2, -0.1, 0, 0.1, 2])
    cb.ax.tick_params(labelsize=7)
    save_png(fig, "regrid_population_difference.png")
    return {"total": src_total, "rc": rc_total, "gw": gw_total, "misplaced": misplaced, "worst": float(diff[worst])}


def draw_gpw_lattice(ax, transform: Affine, shape) -> None:
    """The source pixels' sides (lines of constant longitude and latitude) in the target CRS."""
    h, w = shape
    t = np.linspace(0, 1, 200)
    for c in range(w + 1):
        x, y = transform * (np.full_like(t, c), t * h)
        ax.plot(*TO_UTM.transform(x, y), color="0.3", lw=0.35)
    for r in range(h + 1):
        x, y = transform * (t * w, np.full_like(t, r))
        ax.plot(*TO_UTM.transform(x, y), color="0.3", lw=0.35)


# --------------------------------------------------------------------------------------------------------------
# 2. CORINE land cover: fractions per class and majority on 1 km pixels
# --------------------------------------------------------------------------------------------------------------


def class_table() -> dict[int, tuple[str, tuple[float, float, float]]]:
    """The CORINE value table: raster value -> (LABEL3, RGB)."""
    _, _, _, fields = pyogrio.raw.read(CLC_VAT, read_geometry=False)
    meta = pyogrio.read_info(CLC_VAT)["fields"].tolist()
    col = dict(zip(meta, fields, strict=True))
    return {
        int(v): (str(lab), (float(r), float(g), float(b)))
        for v, lab, r, g, b in zip(col["Value"], col["LABEL3"], col["Red"], col["Green"], col["Blue"], strict=True)
    }


def class_areas_independent(path: Path) -> dict[int, float]:
    """Area (m², target CRS) of each class's source pixels: each pixel's corners transformed exactly, the
    quadrilateral's area by the shoelace formula (straight sides: the curvature of 20 m sides is negligible)."""
    out: dict[int, float] = {}
    with rasterio.open(path) as ds:
        t = ds.transform
        for r0 in range(0, ds.height, 240):
            n = min(240, ds.height - r0)
            v = ds.read(1, window=((r0, r0 + n), (0, ds.width)))
            cc, rr = np.meshgrid(np.arange(ds.width + 1.0), np.arange(r0, r0 + n + 1.0))
            x, y = TO_UTM.transform(*(t * (cc, rr)))
            # diagonals (r,c)->(r+1,c+1) and (r,c+1)->(r+1,c): area = |d1 x d2| / 2
            d1x, d1y = x[1:, 1:] - x[:-1, :-1], y[1:, 1:] - y[:-1, :-1]
            d2x, d2y = x[1:, :-1] - x[:-1, 1:], y[1:, :-1] - y[:-1, 1:]
            area = np.abs(d1x * d2y - d1y * d2x) / 2
            classes, inv = np.unique(v, return_inverse=True)
            sums = np.bincount(inv.ravel(), weights=area.ravel())
            for k, a in zip(classes.tolist(), sums.tolist(), strict=True):
                out[k] = out.get(k, 0.0) + a
    return out


def landcover(work: Path) -> dict:
    print("\n== 2. CORINE Land Cover 2018 onto a 1 km UTM 26N grid ==")
    table = class_table()
    with rasterio.open(CLC) as ds:
        values = np.unique(ds.read(1))
        print(
            f"  source: {ds.width}x{ds.height} px, {ds.dtypes[0]}; GDAL declares nodata -128, which no {ds.dtypes[0]} "
            f"pixel can hold (rasterio reports nodata {ds.nodata}): every pixel is valid"
        )
    print(f"  values present: {values.tolist()} (44 = {table[44][0]}, a class; 48 = {table[48][0]}: absent)")

    res = 1000.0
    bounds = snapped_bounds(CLC, res)
    methods = ["FRACTION_OF_RASTER_VALUE", "MAJORITY_OF_RASTER_VALUES", "VALID_FRACTION"]
    grid_args = {"bounds": bounds, "resolution": res, "crs": TARGET_CRS}
    plan = rastercover.plan_regrid(CLC, **grid_args, methods=methods, dtype="float64")
    reg = plan.job.source
    print(f"  target grid: {plan.grid.width}x{plan.grid.height} px of 1 km, bounds {fmt_bounds(bounds)}")
    print(f"  plan: {len(plan.bands)} bands; source pixels cut into {reg.sub}x{reg.sub}, area error bound "
          f"{reg.area_error:.1e} of a pixel")  # fmt: skip
    print(
        f"  $ rastercover regrid {CLC.name} --bounds {fmt_bounds(bounds)} --resolution 1000 --crs {TARGET_CRS} "
        "-m FRACTION_OF_RASTER_VALUE -m MAJORITY_OF_RASTER_VALUES -m VALID_FRACTION --dtype float64 "
        "-o landcover_1km.tif"
    )
    t0 = time.perf_counter()
    da = rastercover.regrid(CLC, **grid_args, methods=methods, dtype="float64", nodata=np.nan)
    print(f"  computed in {time.perf_counter() - t0:.1f} s")
    names = [str(b) for b in da.band.values]
    fr_names = [n for n in names if n.startswith("FRACTION_OF_RASTER_VALUE:")]
    classes = [int(n.split(":")[1]) for n in fr_names]
    fractions = da.sel(band=fr_names).values
    majority = da.sel(band="MAJORITY_OF_RASTER_VALUES").values
    valid = da.sel(band="VALID_FRACTION").values

    # sanity checks
    pixel_km2 = res * res / 1e6
    gap = float(np.abs(fractions.sum(axis=0) - valid).max())
    print(f"  check: largest |Σ fractions − VALID_FRACTION| = {gap:.1e}")
    full = valid == 1
    print(
        f"  check: VALID_FRACTION in [{valid.min():.3f}, {valid.max():.3f}]; exactly 1 in {int(full.sum())} pixels, "
        f"between 0 and 1 in {int(((valid > 0) & ~full).sum())} (the source's curved edge), 0 in "
        f"{int((valid == 0).sum())} (beyond it)"
    )
    indep = class_areas_independent(CLC)
    worst_rel = max(abs(fractions[i].sum() * res * res / indep[k] - 1) for i, k in enumerate(classes))
    print(
        f"  check: per class, Σ FRACTION × 1 km² vs the area of its source pixels computed independently (corners "
        f"transformed, shoelace): largest relative difference {worst_rel:.1e}"
    )
    has = valid > 0
    order = np.argsort(-fractions, axis=0, kind="stable")  # ties: the first (smaller) class
    argmax = np.asarray(classes)[order[0]]
    mismatch = int((argmax[has] != majority[has]).sum())
    print(f"  check: MAJORITY_OF_RASTER_VALUES = the class of the largest fraction in {int(has.sum()) - mismatch} of "
          f"{int(has.sum())} pixels with data")  # fmt: skip
    sea = fractions[classes.index(44)]
    land_km2 = float((valid - sea).sum() * pixel_km2)
    island_km2 = float(sum(g.area for g in island_outline()) / 1e6)
    print(f"  land (VALID_FRACTION − sea): {land_km2:,.1f} km²; the six concelhos polygons: {island_km2:,.1f} km²")
    totals = sorted(
        ((float(fractions[i].sum() * pixel_km2), k) for i, k in enumerate(classes) if k != 44), reverse=True
    )
    print("  largest land classes (km²): " + "; ".join(f"{table[k][0]} ({k}) {a:.1f}" for a, k in totals[:8]))

    # pictures: fractions of six major land classes, on the island
    outline = island_outline()
    view = island_view()
    shown = [21, 18, 12, 2, 24, 27]
    short = {21: "Agriculture with natural vegetation"}
    pw, ph = 0.485, 0.235
    fig = plt.figure(figsize=(WIDTH_PX / DPI, 3 * fig_height(view, pw, ph) * ph / 0.82))
    cmap = plt.get_cmap("YlGnBu").copy()
    cmap.set_under("white")
    for i, k in enumerate(shown):
        col, row = i % 2, i // 2
        rect = [0.01 + col * 0.5, 0.66 - row * 0.29, pw, ph]
        ax = map_axes(fig, rect, view, f"{k}: {short.get(k, table[k][0])}")
        ax.title.set_fontsize(7.5)
        frac = fractions[classes.index(k)]
        im = ax.imshow(np.where(frac > 0, frac, -1.0), extent=extent_of(bounds), cmap=cmap, vmin=0, vmax=1,
                       interpolation="nearest")  # fmt: skip
        draw_outline(ax, outline, lw=0.3)
    fig.text(0.01, 0.985, "FRACTION_OF_RASTER_VALUE: share of each 1 km pixel in a CORINE 2018 class",
             fontsize=8.5, va="top")  # fmt: skip
    cax = fig.add_axes([0.3, 0.04, 0.4, 0.025])
    fig.colorbar(im, cax=cax, orientation="horizontal").ax.tick_params(labelsize=7)
    save_png(fig, "regrid_landcover_fractions.png")

    # picture: majority class, with the class names of the .vat.dbf
    present = sorted({int(v) for v in np.unique(majority[has])})
    lut = colors.ListedColormap([table[k][1] for k in present])
    index = np.full(majority.shape, np.nan)
    for i, k in enumerate(present):
        index[majority == k] = i
    fig = plt.figure(figsize=(WIDTH_PX / DPI, fig_height(view, 0.98, 0.56)))
    ax = map_axes(fig, [0.01, 0.38, 0.98, 0.56], view, "MAJORITY_OF_RASTER_VALUES per 1 km pixel (CORINE 2018)")
    ax.imshow(index, extent=extent_of(bounds), cmap=lut, vmin=-0.5, vmax=len(present) - 0.5, interpolation="nearest")
    draw_outline(ax, outline, lw=0.4)
    handles = [
        Patch(facecolor=table[k][1], edgecolor="0.5", lw=0.3, label=f"{k} {short.get(k, table[k][0])}") for k in present
    ]
    fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.01, 0.0), ncol=2, fontsize=6.3, frameon=False,
               handlelength=1.2, columnspacing=1.0, labelspacing=0.25)  # fmt: skip
    save_png(fig, "regrid_landcover_majority.png", colours=64)

    # gdalwarp -r mode on the same grid: the most frequent class among the source pixels it samples
    gdalwarp = shutil.which("gdalwarp")
    if gdalwarp:
        mode_path = work / "landcover_gdalwarp_mode.tif"
        run(
            [gdalwarp, "-q", "-overwrite", "-te", *(f"{v:.0f}" for v in bounds), "-tr", res, res,
             "-t_srs", TARGET_CRS, "-r", "mode", "-dstnodata", "0", CLC, mode_path]
        )  # fmt: skip
        with rasterio.open(mode_path) as ds:
            mode = ds.read(1).astype(float)
        both = has & (mode > 0)
        differ = both & (mode != majority)
        share = {k: fractions[i] for i, k in enumerate(classes)}
        loss = [
            float(share[int(majority[r, c])][r, c] - share.get(int(mode[r, c]), np.zeros_like(valid))[r, c])
            for r, c in zip(*np.nonzero(differ), strict=True)
        ]
        print(
            f"  gdalwarp -r mode vs MAJORITY_OF_RASTER_VALUES: {int(differ.sum())} of {int(both.sum())} pixels differ; "
            f"there gdalwarp's class covers less of the pixel than the majority class by {np.median(loss):.3f} "
            f"(median), up to {max(loss):.3f}"
            if loss
            else f"  gdalwarp -r mode = MAJORITY_OF_RASTER_VALUES in all {int(both.sum())} pixels"
        )
    return {"gap": gap, "worst_rel": worst_rel, "mismatch": mismatch, "land": land_km2}


def main() -> None:
    for p in (GPW_COUNT, GPW_DENSITY, CLC, CLC_VAT, CONCELHOS):
        if not p.exists():
            sys.exit(f"missing {p}: run this script from a clone of the repository (the data is bundled)")
    IMG.mkdir(parents=True, exist_ok=True)
    print(f"rastercover {rastercover.__version__}, data from {DATA}")
    with tempfile.TemporaryDirectory(prefix="rastercover-regrid-docs-") as tmp:
        population(Path(tmp))
        landcover(Path(tmp))


if __name__ == "__main__":
    main()
