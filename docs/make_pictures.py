"""Every picture of the guide, regenerated in one run, deterministically, from code and bundled data.

    .venv/bin/pip install matplotlib      # docs only: not a dependency of rastercover
    .venv/bin/python docs/make_pictures.py            # about 20 s on one core (15 s of it the regrid pictures)
    .venv/bin/python docs/make_pictures.py --no-regrid  # the method and Alaska pictures only (about 4 s)

It writes into ``docs/img/`` (palette PNGs at 100 dpi, each under 40 kB):

* ``method_scene.png`` and ``method_<family>.png``: a tiny synthetic scene on a 6 x 4 grid (three overlapping
  polygons with values, a line, points) and the per-pixel result of one method of each family, the number
  printed in each pixel (docs/methods.md shows them next to each family);
* ``alaska_bands.png``: the forest class at the pixel centre (the demo's first band) and the number of polygons
  with area in each pixel over the shaded relief, from the bundled Alaska data (``src/rastercover/data/alaska``);
* ``alaska_clip.png``: an export of the relief clipped by the 20 km buffer of one forest polygon;
* ``regrid_*.png``: by running ``docs/make_regrid_pictures.py`` (São Miguel population and land cover).

Only rastercover, rasterio, shapely and matplotlib draw them: the same inputs give the same files.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine

import rastercover

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colors
    from PIL import Image
except ImportError:  # pragma: no cover - a docs-only dependency
    sys.exit("make_pictures.py needs matplotlib (docs only): .venv/bin/pip install matplotlib")

REPO = Path(__file__).resolve().parents[1]
IMG = REPO / "docs" / "img"
ALASKA = REPO / "src" / "rastercover" / "data" / "alaska"
TREES = ALASKA / "trees.shp"
RELIEF = ALASKA / "SR_50M_alaska_nad.tif"
DPI = 100
BYTES_LIMIT = 40_000
matplotlib.rcParams.update({"font.size": 8, "svg.hashsalt": "rastercover", "path.simplify": False})


def save_png(fig, name: str, colours: int = 64, limit: int = BYTES_LIMIT) -> Path:
    """Save a figure as a small palette PNG (no software stamp: the same picture gives the same bytes), and check
    it is under ``limit`` bytes (make_regrid_pictures.py saves its pictures with it too)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    plt.close(fig)
    buf.seek(0)
    im = Image.open(buf).convert("RGB")
    im = im.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path = IMG / name
    im.save(path, format="PNG", optimize=True)
    size = path.stat().st_size
    print(f"  wrote {path.relative_to(REPO)}: {im.width}x{im.height} px, {size / 1000:.0f} kB")
    if size > limit:
        raise SystemExit(f"{name} is {size} bytes, over {limit}: make it smaller")
    return path


# --------------------------------------------------------------------------------------------------------------
# 1. the methods on a tiny synthetic scene
# --------------------------------------------------------------------------------------------------------------

GRID = rastercover.Grid(6, 4, Affine(1, 0, 0, 0, -1, 4), "EPSG:32198", tile_size=6)
POLYGONS = [
    (shapely.Polygon([(0.3, 0.4), (3.6, 0.2), (3.2, 3.4), (0.6, 3.7)]), 1.0),
    (shapely.Polygon([(2.4, 1.3), (5.7, 0.6), (5.4, 3.6), (2.8, 2.9)]), 2.0),
    (shapely.Polygon([(1.5, 1.5), (2.6, 1.5), (2.05, 2.45)]), 3.0),
]
LINE = (shapely.LineString([(0.2, 0.3), (1.9, 1.1), (4.3, 0.5), (5.8, 1.8)]), 4.0)
POINTS = [(shapely.Point(x, y), 1.0) for x, y in [(0.5, 3.4), (4.3, 3.3), (4.6, 3.6), (4.8, 2.7), (5.5, 0.3)]]

#: (file name, title, method, features, number format)
FAMILIES = [
    ("centre", "value at the pixel centre", "LAST_VALUE_AT_PIXEL_CENTROID", "polygons", "{:.0f}"),
    ("mean", "area-weighted mean", "AREA_WEIGHTED_MEAN_OF_VALUES_2", "polygons", "{:.2f}"),
    ("biggest", "value of the biggest polygon", "VALUE_OF_BIGGEST", "polygons", "{:.0f}"),
    ("proportion", "proportion covered", "PROPORTION_OF_COVERED_AREA", "polygons", "{:.2f}"),
    ("count", "count of polygons", "COUNT_OF_POLYGONS", "polygons", "{:.0f}"),
    ("lengths", "length of lines", "SUM_OF_LENGTHS", "line", "{:.2f}"),
    ("points", "count of points", "COUNT_OF_POINTS", "points", "{:.0f}"),
]
POLY_COLOURS = {1.0: "#1b9e77", 2.0: "#d95f02", 3.0: "#7570b3"}


def draw_scene(ax, which: str) -> None:
    """The features over the grid's lines: polygons labelled with their values, the line, the points."""
    for x in range(GRID.width + 1):
        ax.plot([x, x], [0, GRID.height], color="0.75", lw=0.5, zorder=1)
    for y in range(GRID.height + 1):
        ax.plot([0, GRID.width], [y, y], color="0.75", lw=0.5, zorder=1)
    if which in ("polygons", "all"):
        for geom, value in POLYGONS:
            x, y = geom.exterior.xy
            ax.plot(x, y, color=POLY_COLOURS[value], lw=1.6, zorder=3)
            if which == "all":
                ax.fill(x, y, color=POLY_COLOURS[value], alpha=0.25, zorder=2)
                c = geom.centroid if value != 1.0 else shapely.Point(1.1, 2.9)
                ax.text(c.x, c.y, f"{value:.0f}", color=POLY_COLOURS[value], ha="center", va="center",
                        fontsize=10, fontweight="bold", zorder=4)  # fmt: skip
    if which in ("line", "all"):
        ax.plot(*LINE[0].xy, color="#1f78b4", lw=1.8, zorder=3)
    if which in ("points", "all"):
        ax.plot([p.x for p, _ in POINTS], [p.y for p, _ in POINTS], "o", color="#e7298a", ms=4, zorder=3)
    if which == "all":
        ax.plot([c + 0.5 for c in range(6) for _ in range(4)], [r + 0.5 for _ in range(6) for r in range(4)], "+",
                color="0.5", ms=4, mew=0.6, zorder=2)  # fmt: skip


def grid_axes(fig, rect, title: str):
    ax = fig.add_axes(rect)
    ax.set_xlim(-0.05, GRID.width + 0.05)
    ax.set_ylim(-0.05, GRID.height + 0.05)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    return ax


def method_pictures() -> None:
    print("== methods on a 6 x 4 scene ==")
    fig = plt.figure(figsize=(3.2, 2.5))
    ax = grid_axes(fig, [0.02, 0.02, 0.96, 0.86], "polygons of values 1, 2, 3; a line; points\n+: the pixel centres")
    draw_scene(ax, "all")
    save_png(fig, "method_scene.png")
    sources = {"polygons": POLYGONS, "line": [LINE], "points": POINTS}
    cmap = plt.get_cmap("YlGnBu").copy()
    cmap.set_bad("white")
    for name, title, method, which, fmt in FAMILIES:
        da = rastercover.rasterize(sources[which], GRID, methods=method, assume_crs=GRID.crs, dtype="float64")
        values = np.where(da.values[0] == -9999, np.nan, da.values[0])
        fig = plt.figure(figsize=(3.2, 2.5))
        ax = grid_axes(fig, [0.02, 0.02, 0.96, 0.86], f"{title}\n{method}")
        ax.title.set_fontsize(7)
        finite = values[np.isfinite(values)]
        vmax = max(float(finite.max()) if finite.size else 1.0, 1e-9)
        ax.imshow(np.ma.masked_invalid(values), extent=(0, 6, 0, 4), cmap=cmap, norm=colors.Normalize(0, vmax * 1.4),
                  interpolation="nearest", zorder=0)  # fmt: skip
        draw_scene(ax, which)
        for r in range(GRID.height):
            for c in range(GRID.width):
                v = values[r, c]
                text = "–" if np.isnan(v) else fmt.format(v)
                ax.text(c + 0.5, GRID.height - r - 0.5, text, ha="center", va="center", fontsize=7.5, zorder=5,
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})  # fmt: skip
        save_png(fig, f"method_{name}.png")


# --------------------------------------------------------------------------------------------------------------
# 2. the bundled Alaska data: the demo's bands over the relief, and a clip
# --------------------------------------------------------------------------------------------------------------

#: VEG_ID and its name in the layer's VEGDESC column (what `--class-names VEGDESC` writes into the output)
FOREST = {24: ("Deciduous", "#e08214"), 25: ("Evergreen", "#1b7837"), 50: ("Mixed Trees", "#a6dba0")}
#: the part of the relief the pictures show (pixel rows and columns): interior Alaska, where the forests are
ROWS, COLS = slice(330, 930), slice(560, 1400)


def read_relief(window=None) -> tuple[np.ndarray, Affine]:
    with rasterio.open(RELIEF) as ds:
        return ds.read(1, window=window), ds.window_transform(window) if window else ds.transform


def alaska_bands(work: Path) -> None:
    print("== the demo's bands over the relief ==")
    out = work / "alaska_forest.tif"
    t0 = time.perf_counter()
    rastercover.rasterize(
        str(TREES), str(RELIEF), value="VEG_ID", output=str(out), dtype="int16", nodata=-1,
        methods=["LAST_VALUE_AT_PIXEL_CENTROID", "COUNT_OF_POLYGONS"],
    )  # fmt: skip
    print(f"  rasterized in {time.perf_counter() - t0:.1f} s")
    relief, _ = read_relief()
    with rasterio.open(out) as ds:
        cls, count = ds.read(1), ds.read(2)
    relief, cls, count = relief[ROWS, COLS], cls[ROWS, COLS], count[ROWS, COLS]
    fig = plt.figure(figsize=(6.4, 2.5))
    for i, title in enumerate(("LAST_VALUE_AT_PIXEL_CENTROID (VEG_ID)", "COUNT_OF_POLYGONS (2: along shared edges)")):
        ax = fig.add_axes([0.005 + 0.5 * i, 0.1, 0.49, 0.8])
        ax.imshow(relief, cmap="gray", vmin=80, vmax=255, interpolation="nearest")
        if i == 0:
            keys = sorted(FOREST)
            lut = colors.ListedColormap([FOREST[k][1] for k in keys])
            index = np.full(cls.shape, np.nan)
            for j, k in enumerate(keys):
                index[cls == k] = j
            ax.imshow(np.ma.masked_invalid(index), cmap=lut, vmin=-0.5, vmax=len(keys) - 0.5, alpha=0.8,
                      interpolation="nearest")  # fmt: skip
            for j, k in enumerate(keys):
                fig.text(0.02 + 0.14 * j, 0.03, f"■ {k} {FOREST[k][0]}", color=FOREST[k][1], fontsize=7.5)
        else:
            lut = colors.ListedColormap(["#fdae61", "#d7191c"])
            ax.imshow(np.ma.masked_less(count, 1), cmap=lut, vmin=0.5, vmax=2.5, alpha=0.85, interpolation="nearest")
            n1, n2 = int((count == 1).sum()), int((count >= 2).sum())
            fig.text(0.52, 0.03, f"■ 1 polygon ({n1:,} px)", color="#fdae61", fontsize=7.5)
            fig.text(0.72, 0.03, f"■ 2 polygons ({n2:,} px)", color="#d7191c", fontsize=7.5)
        ax.set_axis_off()
        ax.set_title(title, fontsize=7.5)
    save_png(fig, "alaska_bands.png", colours=48)


def alaska_clip(work: Path) -> None:
    print("== a clip of the relief by a buffered forest polygon ==")
    import pyogrio

    forests = pyogrio.read_dataframe(TREES)
    fid = int(forests.geometry.area.idxmax())  # the largest forest polygon (FID = row of the shapefile)
    out = work / "relief_clip.tif"
    t0 = time.perf_counter()
    result = rastercover.export(str(RELIEF), str(out), clip_layer=str(TREES), clip_id=fid, buffer=65617)
    print(f"  exported FID {fid} + 65,617 ft (20 km) in {time.perf_counter() - t0:.1f} s: {result}")
    polygon = forests.geometry.iloc[fid]
    with rasterio.open(out) as ds:
        clip = ds.read(1, masked=True)
        b = ds.bounds
    relief, t = read_relief()
    pad = 40 * t.a
    fig = plt.figure(figsize=(3.6, 3.0))
    ax = fig.add_axes([0.01, 0.01, 0.98, 0.82])
    ax.imshow(relief, cmap="gray", vmin=80, vmax=255, alpha=0.35, interpolation="nearest",
              extent=(t.c, t.c + t.a * relief.shape[1], t.f + t.e * relief.shape[0], t.f))  # fmt: skip
    ax.imshow(clip, cmap="gray", vmin=80, vmax=255, extent=(b.left, b.right, b.bottom, b.top), interpolation="nearest")
    for part in getattr(polygon, "geoms", [polygon]):
        ax.plot(*part.exterior.xy, color="#1b7837", lw=1.2)
    for part in getattr(polygon.buffer(65617), "geoms", [polygon.buffer(65617)]):
        ax.plot(*part.exterior.xy, color="#d7191c", lw=0.8, ls="--")
    ax.set_xlim(b.left - pad, b.right + pad)
    ax.set_ylim(b.bottom - pad, b.top + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"export --clip-layer trees.shp --clip-id {fid} --buffer 65617\n(green: the polygon; red: 20 km "
                 "buffer; outside: nodata)", fontsize=7)  # fmt: skip
    save_png(fig, "alaska_clip.png", colours=48)


def main(argv: list[str]) -> None:
    start = time.perf_counter()
    IMG.mkdir(parents=True, exist_ok=True)
    method_pictures()
    with tempfile.TemporaryDirectory(prefix="rastercover-pictures-") as tmp:
        alaska_bands(Path(tmp))
        alaska_clip(Path(tmp))
    if "--no-regrid" not in argv:
        print("== regrid pictures (docs/make_regrid_pictures.py) ==")
        subprocess.run([sys.executable, str(REPO / "docs" / "make_regrid_pictures.py")], check=True)
    total = sum(p.stat().st_size for p in IMG.glob("*.png"))
    print(f"done in {time.perf_counter() - start:.0f} s; docs/img holds {total / 1000:.0f} kB of pictures")


if __name__ == "__main__":
    main(sys.argv[1:])
