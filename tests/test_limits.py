"""Size guards (issue 16, item 2): requests too large for memory, for one file, or absurdly tiled are refused
before anything is read, with the figure and the option that changes it; a huge, almost empty touched job plans
and runs in memory that follows the tiles it touches, not the grid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyogrio.raw
import pytest
import shapely
from affine import Affine

import rastercover
from rastercover import Grid, InputError
from rastercover.engine.limits import MAX_FILE_PIXELS, MAX_TILES, check_size, memory_pixel_limit
from rastercover.errors import TooLargeError

CRS = "EPSG:3857"
#: "At once": a fresh interpreter's start-up on a loaded 2-core machine fits well inside it, the trillion pixels'
#: hours of work do not (0.3 s measured idle, 1.65 s under load)
SOON = 10.0
TRILLION = ["--bounds", "0", "0", "1000000", "1000000", "--resolution", "1", "--crs", CRS]


@pytest.fixture
def points(tmp_path):
    """A GeoPackage of 50 points over a 1000 km square (EPSG:3857, value column ``v``)."""
    rng = np.random.default_rng(16)
    xy = rng.uniform(0, 1_000_000, size=(50, 2))
    path = str(tmp_path / "points.gpkg")
    pyogrio.raw.write(
        path, shapely.to_wkb(shapely.points(xy)), [np.arange(50.0)], ["v"], geometry_type="Point", crs=CRS
    )
    return path


def cli(*args: str, cwd=None) -> tuple[int, str, str, float]:
    """``rastercover ARGS`` in a fresh process: exit status, stdout, stderr and the wall time (start-up included)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", "from rastercover.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rastercover: error: ") and "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------------------------------------- the runs
def test_a_trillion_pixel_geotiff_is_refused_at_once_naming_max_pixels(points, tmp_path):
    out = tmp_path / "big.tif"
    code, _, err, elapsed = cli("rasterize", points, *TRILLION, "-m", "COUNT_OF_POINTS", "-o", str(out))
    line = one_line(err)
    assert code == 2 and elapsed < SOON, (code, elapsed)
    assert "1.0e12 pixels" in line and "--max-pixels" in line and "tile folder" in line
    assert os.listdir(tmp_path) == ["points.gpkg"]  # nothing written, not even a temporary file


def test_a_trillion_pixel_tile_folder_is_refused_at_once_naming_the_tile_size(points, tmp_path):
    code, _, err, elapsed = cli("rasterize", points, *TRILLION, "-m", "COUNT_OF_POINTS", "-o", str(tmp_path / "t"))
    line = one_line(err)
    assert code == 2 and elapsed < SOON, (code, elapsed)
    assert "1.5e7 tiles of 256x256 px" in line and "--tile-size" in line and "512x512" in line
    # raising --max-pixels does not lift the tiling rule, a larger tile size does
    code, _, err, _ = cli(
        "rasterize", points, *TRILLION, "-m", "COUNT_OF_POINTS", "-o", str(tmp_path / "x.tif"), "--max-pixels",
        str(2 * 10**12),
    )  # fmt: skip
    assert code == 2 and "--tile-size" in one_line(err)


def test_a_trillion_pixel_dataarray_is_refused_at_once_naming_max_pixels():
    grid = Grid.from_bounds((0, 0, 1_000_000, 1_000_000), 1, CRS)
    t0 = time.perf_counter()
    with pytest.raises(TooLargeError) as exc:
        rastercover.rasterize([(shapely.Point(5, 5), 1.0)], grid, methods="COUNT_OF_POINTS", assume_crs=CRS)
    assert time.perf_counter() - t0 < SOON
    message = str(exc.value)
    assert "1.0e12 pixels" in message and "4.0 TB in memory" in message and "max_pixels=" in message
    assert "\n" not in message


def test_the_memory_limit_follows_the_available_memory_and_max_pixels_replaces_it():
    assert memory_pixel_limit(4, available=8 * 10**9) == 10**9
    check_size(20_000, 20_000, 1, 8, output="memory", available=8 * 10**9)  # 3.2 GB of 4 GB
    with pytest.raises(TooLargeError, match=r"6.4 GB in memory\), more than half of the 8.0 GB available"):
        check_size(20_000, 20_000, 2, 8, output="memory", available=8 * 10**9)
    check_size(20_000, 20_000, 2, 8, output="memory", available=8 * 10**9, max_pixels=10**9)  # the user's word
    with pytest.raises(TooLargeError, match="the limit is 1000 "):
        check_size(100, 100, 1, 4, output="pieces", max_pixels=1000)
    check_size(10**6, 10**6, 1, 4, output="lazy")  # nothing held until computed
    check_size(10**6, 10**6, 1, 4, output="pieces")  # pieces: the tiling rules bound them
    with pytest.raises(TooLargeError, match="single-file limit of 6.9e10"):
        check_size(MAX_FILE_PIXELS + 1, 1, 1, 4, output="file")


def test_max_pixels_lets_a_large_dataarray_be_planned(monkeypatch):
    import rastercover.engine.limits

    monkeypatch.setattr(rastercover.engine.limits, "available_memory", lambda: 16 * 10**9)
    grid = Grid(100_000, 100_000, Affine(1, 0, 0, 0, -1, 100_000), CRS)  # 40 GB of float32
    pairs = [(shapely.Point(5, 5), 1.0)]
    with pytest.raises(TooLargeError, match="40 GB in memory.*more than half of the 16 GB available"):
        rastercover.plan_rasterize(pairs, grid, methods="COUNT_OF_POINTS", assume_crs=CRS)
    plan = rastercover.plan_rasterize(pairs, grid, methods="COUNT_OF_POINTS", assume_crs=CRS, max_pixels=10**10)
    assert plan.pixels == 10**10  # planned, not run
    with pytest.raises(TooLargeError, match=r"the limit is 9999999999 \(max_pixels= / --max-pixels\)"):
        rastercover.plan_rasterize(pairs, grid, methods="COUNT_OF_POINTS", assume_crs=CRS, max_pixels=10**10 - 1)
    with pytest.raises(InputError, match="max_pixels must be a positive whole number"):
        rastercover.plan_rasterize(pairs, grid, methods="COUNT_OF_POINTS", assume_crs=CRS, max_pixels=0)


def test_a_lazy_array_larger_than_memory_is_planned(tmp_path):
    pytest.importorskip("dask")
    grid = Grid(60_000, 60_000, Affine(1, 0, 0, 0, -1, 60_000), CRS, 1024)  # 14 GB of float32
    da = rastercover.rasterize_lazy([(shapely.Point(5.5, 59_994.5), 3.0)], grid, methods="SUM_OF_VALUES",
                                    assume_crs=CRS)  # fmt: skip
    assert da.shape == (1, 60_000, 60_000)
    assert da[0, :8, :8].compute(scheduler="sync").values[5, 5] == 3.0


# ---------------------------------------------------------------------------------------------- tilings
def test_a_tiling_of_one_pixel_tiles_is_refused(points, tmp_path):
    grid = Grid(2500, 2500, Affine(1, 0, 0, 0, -1, 2500), CRS)
    with pytest.raises(TooLargeError, match=r"6250000 tiles of 1x1 px .* --tile-size \(tile_size=\), e.g. 256x256"):
        rastercover.rasterize(points, grid, methods="COUNT_OF_POINTS", tile_size=1, output=str(tmp_path / "t"))
    args = ["--bounds", "0", "0", "2500", "2500", "--resolution", "1", "--crs", CRS, "--tile-size", "1x1"]
    code, _, err, elapsed = cli("rasterize", points, *args, "-m", "COUNT_OF_POINTS", "-o", str(tmp_path / "t"))
    assert code == 2 and elapsed < SOON and "6250000 tiles of 1x1 px" in one_line(err)
    assert not (tmp_path / "t").exists()


def test_a_small_grid_may_have_tiny_tiles_and_a_touched_run_tiny_tiles_where_it_touches(tmp_path):
    pairs = [(shapely.Point(2.5, 97.5), 1.0), (shapely.Point(70.5, 30.5), 1.0)]
    small = Grid(100, 100, Affine(1, 0, 0, 0, -1, 100), CRS, 1)  # 10,000 tiles of 1 px
    da = rastercover.rasterize(pairs, small, methods="COUNT_OF_POINTS", assume_crs=CRS)
    assert int(da.values.sum()) == 2
    big = Grid(3000, 3000, Affine(1, 0, 0, 0, -1, 100), CRS, 1)  # 9e6 tiles of 1 px: only 2 touched
    res = rastercover.rasterize(
        pairs, big, methods="COUNT_OF_POINTS", assume_crs=CRS, extent="touched", output=str(tmp_path / "t")
    )
    assert res.tiles_written == 2 and sorted(os.listdir(tmp_path / "t")) == ["index.vrt", "r2_c2.tif", "r69_c70.tif"]
    with pytest.raises(TooLargeError, match="9000000 tiles of 1x1 px"):
        rastercover.rasterize(pairs, big, methods="COUNT_OF_POINTS", assume_crs=CRS, output=str(tmp_path / "u"))


def test_more_tiles_than_a_plan_may_hold_are_refused_with_extent_full_only():
    side = 1 << 20  # 4096 x 4096 tiles of 256 px: 1.7e7
    grid = Grid(side, side, Affine(1, 0, 0, 0, -1, side), CRS)
    assert grid.n_tiles > MAX_TILES
    with pytest.raises(TooLargeError, match=r"1.7e7 tiles .* 512x512 \(4194304 tiles\), a bbox, or extent touched"):
        rastercover.plan_rasterize([(shapely.Point(5, 5), 1.0)], grid, output=None, assume_crs=CRS, max_pixels=2**41)
    plan = rastercover.plan_rasterize(
        [(shapely.Point(5, side - 5), 1.0)], grid, extent="touched", assume_crs=CRS, max_pixels=2**41
    )
    assert plan.n_tiles == 1 and [t.index for t in plan.grid.tiles()] == [(0, 0)]


# ---------------------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["0", "0", "1e400", "1", "--resolution", "1"], "--bounds 0 0 inf 1: XMAX is inf"),
        (["0", "nan", "10", "10", "--resolution", "1"], "--bounds 0 nan 10 10: YMIN is nan"),
        (["0", "0", "10", "10", "--resolution", "0"], "--resolution 0: give a positive pixel size"),
        (["0", "0", "10", "10", "--resolution", "-5"], "--resolution -5: give a positive pixel size"),
        (["0", "0", "10", "10", "--resolution", "nan"], "--resolution nan: give a positive pixel size"),
        (["0", "0", "1e300", "1e300", "--resolution", "1"], "--bounds 0 0 1e+300 1e+300 --resolution 1: bounds"),
        (["0", "0", "1e9", "1", "--resolution", "0.1"], "more than a raster can be (2147483647 px a side)"),
    ],
)
def test_absurd_bounds_and_resolutions_are_clear_errors_naming_the_option(points, tmp_path, args, named):
    code, _, err, _ = cli("rasterize", points, "--bounds", *args, "--crs", CRS, "-m", "COUNT_OF_POINTS", "-o",
                          str(tmp_path / "x.tif"))  # fmt: skip
    assert code == 2 and named in one_line(err)


def test_grids_refuse_numbers_that_are_not_finite_or_too_large():
    for bounds, res, match in [
        ((0, 0, float("inf"), 1), 1, "must be finite numbers: XMAX is inf"),
        ((0, 0, 10, 10), float("nan"), "resolution must be a positive finite number"),
        ((0, 0, 10, 10), 1e-320, "more than a grid can count"),
        ((0, 0, 1e10, 1), 1, "more than a raster can be"),
    ]:
        with pytest.raises(InputError, match=match):
            Grid.from_bounds(bounds, res, CRS)
    with pytest.raises(InputError, match="larger than a raster can be"):
        Grid(2**31, 1, Affine.identity(), CRS)
    with pytest.raises(InputError, match="whole number of pixels"):
        Grid(float("inf"), 1, Affine.identity(), CRS)
    with pytest.raises(InputError, match="whole number of pixels"):
        Grid(2.5, 1, Affine.identity(), CRS)


# ---------------------------------------------------------------------------------------------- export
def test_an_export_over_the_single_file_limit_is_refused_before_reading(tmp_path):
    # a VRT declaring 300000 x 300000 px (9e10) and no data at all: refused on its header alone
    vrt = tmp_path / "huge.vrt"
    vrt.write_text(
        textwrap.dedent(
            """\
            <VRTDataset rasterXSize="300000" rasterYSize="300000">
              <SRS>EPSG:3857</SRS>
              <GeoTransform>0, 1, 0, 300000, 0, -1</GeoTransform>
              <VRTRasterBand dataType="Byte" band="1"><NoDataValue>0</NoDataValue></VRTRasterBand>
            </VRTDataset>
            """
        )
    )
    with pytest.raises(TooLargeError, match=r"9.0e10 pixels, over the limit of 6.9e10 for one file: .*--max-pixels"):
        rastercover.export(str(vrt), tmp_path / "x.tif")
    code, _, err, _ = cli("export", str(vrt), "-o", str(tmp_path / "y.tif"), "--bbox", "0", "0", "100", "100",
                          "--max-pixels", "1000")  # fmt: skip
    assert code == 2 and "10000 pixels, over the limit of 1000:" in one_line(err)
    code, out, _, _ = cli("export", str(vrt), "-o", str(tmp_path / "z.tif"), "--bbox", "0", "0", "100", "100")
    assert code == 0 and out.startswith("wrote")


# ---------------------------------------------------------------------------------------------- bounded memory
HUGE_TOUCHED = """
import json, os, resource, sys, time
import numpy as np, shapely
import rastercover
from affine import Affine

side, n, tile, out = 70711, int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]  # 5.0e9 px
rng = np.random.default_rng(5)
xy = rng.uniform(0, side, size=(n, 2))
pairs = list(zip(shapely.points(xy), rng.integers(1, 9, n).astype(float)))
grid = rastercover.Grid(side, side, Affine(1, 0, 0, 0, -1, side), "EPSG:3857", tile)
t0 = time.perf_counter()
plan = rastercover.plan_rasterize(pairs, grid, methods=["COUNT_OF_POINTS", "SUM_OF_VALUES"], extent="touched",
                                  output=out, assume_crs="EPSG:3857", dtype="int32", nodata=-1)
planned = time.perf_counter() - t0
res = rastercover.run_plan(plan)
# VmHWM: this address space's own peak RSS (getrusage's ru_maxrss would carry the parent's over the fork + exec)
with open("/proc/self/status") as f:
    peak = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")) * 1024
print(json.dumps({"planned_s": planned, "n_tiles": plan.n_tiles, "written": res.tiles_written, "peak": peak,
                  "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "xy": xy.tolist(),
                  "values": [float(v) for _, v in pairs]}))
"""


def test_a_five_billion_pixel_touched_run_plans_and_runs_in_bounded_memory(tmp_path):
    import rasterio

    out = tmp_path / "tiles"
    proc = subprocess.run(
        [sys.executable, "-c", HUGE_TOUCHED, "1500", "256", str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    xy, values = np.array(got["xy"]), np.array(got["values"])
    rows, cols = np.floor(70711 - xy[:, 1]).astype(int), np.floor(xy[:, 0]).astype(int)
    touched = sorted(set(zip((rows // 256).tolist(), (cols // 256).tolist())))
    assert got["written"] == len(touched) and got["n_tiles"] == len(touched)  # planned: the tiles touched
    assert sorted(f for f in os.listdir(out) if f.endswith(".tif")) == sorted(f"r{r}_c{c}.tif" for r, c in touched)
    assert got["peak"] < 600 * 2**20, f"peak RSS {got['peak'] / 2**20:.0f} MB"
    assert got["planned_s"] < 10
    # two tiles' pixels against a direct computation: points and the sum of their values per pixel
    for r, c in (touched[0], touched[len(touched) // 2]):
        with rasterio.open(out / f"r{r}_c{c}.tif") as ds:
            count, total = ds.read(1), ds.read(2)
        want_count = np.zeros((256, 256), dtype=np.int64)
        want_total = np.zeros((256, 256))
        inside = (rows // 256 == r) & (cols // 256 == c)
        np.add.at(want_count, (rows[inside] - r * 256, cols[inside] - c * 256), 1)
        np.add.at(want_total, (rows[inside] - r * 256, cols[inside] - c * 256), values[inside])
        assert count.shape == (256, 256) and np.array_equal(count, want_count)
        assert np.array_equal(total, want_total.astype(np.int32))
