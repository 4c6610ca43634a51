"""The command line: rasterize, methods, demo; bad input is one line on stderr and exit status 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from affine import Affine

from rastercover.cli.main import main

from .conftest import write_raster

T = Affine(30, 0, 150000, 0, -30, 420000)


@pytest.fixture
def data(tmp_path):
    ref = write_raster(tmp_path / "ref.tif", 250, 230, T, tiled=True, block=128)
    geoms = np.array([shapely.box(150000, 416000, 154000, 420000), shapely.box(152000, 415000, 156000, 418000)])
    vec = str(tmp_path / "stands.gpkg")
    pyogrio.raw.write(
        vec,
        shapely.to_wkb(geoms),
        [np.array([10.0, 20.0])],
        ["height"],
        layer="stands",
        geometry_type="Polygon",
        crs="EPSG:32198",
    )
    return tmp_path, ref, vec


def run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_rasterize_like_to_geotiff(data, capsys):
    tmp, ref, vec = data
    code, out, err = run(
        [
            "rasterize",
            vec,
            "--like",
            ref,
            "--value",
            "height",
            "-m",
            "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
            "-m",
            "count_of_values_at_pixel_centroid",
            "-o",
            str(tmp / "o.tif"),
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0, err
    assert "o.tif: GeoTIFF, 250x230 px, 2 band(s)" in out and "4 tile(s)" in out
    with rasterio.open(tmp / "o.tif") as ds:
        assert ds.descriptions == ("MEAN_OF_VALUES_AT_PIXEL_CENTROID", "COUNT_OF_VALUES_AT_PIXEL_CENTROID")
        assert ds.block_shapes[0] == (128, 128)
        a = ds.read()
    assert a[0, 100, 100] == 15 and a[1, 100, 100] == 2 and a[0, -1, -1] == -9999


def test_rasterize_bounds_to_tile_folder_with_options(data, capsys):
    tmp, _, vec = data
    out_dir = tmp / "tiles"
    code, out, err = run(
        [
            "rasterize",
            vec,
            "--bounds",
            "150000",
            "413100",
            "157500",
            "420000",
            "--resolution",
            "30",
            "--crs",
            "EPSG:32198",
            "--value",
            "height",
            "-m",
            "LAST_VALUE_AT_PIXEL_CENTROID",
            "--tile-size",
            "100x100",
            "--extent",
            "touched",
            "--dtype",
            "int16",
            "--nodata",
            "-1",
            "--workers",
            "2",
            "--where",
            "height > 15",
            "-o",
            str(out_dir),
        ],
        capsys,
    )
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "index.vrt",
        "r0_c0.tif",
        "r0_c1.tif",
        "r1_c0.tif",
        "r1_c1.tif",
    ]
    with rasterio.open(out_dir / "index.vrt") as ds:
        a = ds.read(1)
        assert ds.dtypes[0] == "int16" and ds.nodata == -1
    assert set(np.unique(a)) == {-1, 20}


def test_rasterize_like_tiles_and_cog(data, capsys):
    tmp, ref, vec = data
    code, _, err = run(
        [
            "rasterize",
            vec,
            "--like",
            ref,
            "--tile-size",
            "100",
            "-m",
            "COUNT_OF_VALUES_AT_PIXEL_CENTROID",
            "--value",
            "height",
            "-o",
            str(tmp / "t"),
        ],
        capsys,
    )
    assert code == 0, err
    code, out, err = run(
        [
            "rasterize",
            vec,
            "--like-tiles",
            str(tmp / "t"),
            "--value",
            "height",
            "-m",
            "MAX_OF_VALUES_AT_PIXEL_CENTROID",
            "--cog",
            "-o",
            str(tmp / "c.tif"),
        ],
        capsys,
    )
    assert code == 0, err and "COG" in out
    with rasterio.open(tmp / "c.tif") as ds:
        assert ds.read(1)[100, 100] == 20 and ds.shape == (230, 250)


@pytest.mark.parametrize(
    "args,message",
    [
        (["-m", "NOPE"], "unknown method 'NOPE'"),
        (["-m", "MEAN_OF_VALUES_AT_PIXEL_CENTROID", "--value", "hieght"], "no column 'hieght'; its columns are height"),
        (["-m", "MEAN_OF_VALUES_AT_PIXEL_CENTROID"], "--value"),
        (["-m", "LAST_VALUE_AT_PIXEL_CENTROID", "--value", "height", "--layer", "x"], "no layer 'x'"),
        (["-m", "LAST_VALUE_AT_PIXEL_CENTROID", "--value", "height", "--where", "zz > 1"], "filter 'zz > 1' fails"),
        (
            ["-m", "LAST_VALUE_AT_PIXEL_CENTROID", "--value", "height", "--dtype", "uint8", "--nodata", "-5"],
            "does not fit a uint8 band",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(data, capsys, args, message):
    tmp, ref, vec = data
    code, out, err = run(["rasterize", vec, "--like", ref, *args, "-o", str(tmp / "bad.tif")], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp / "bad.tif").exists()


def test_grid_and_file_errors(data, capsys):
    tmp, ref, vec = data
    for args, message in [
        ([vec, "-m", "LAST_VALUE_AT_PIXEL_CENTROID", "-o", "x.tif"], "exactly one reference grid"),
        (
            [vec, "--like", ref, "--bounds", "0", "0", "1", "1", "-m", "LAST_VALUE_AT_PIXEL_CENTROID", "-o", "x.tif"],
            "got --like and --bounds",
        ),
        (
            [vec, "--bounds", "0", "0", "1", "1", "-m", "LAST_VALUE_AT_PIXEL_CENTROID", "-o", "x.tif"],
            "--bounds needs --resolution and --crs",
        ),
        (
            [
                vec,
                "--bounds",
                "0",
                "0",
                "1",
                "1",
                "--resolution",
                "1",
                "--crs",
                "EPSG:0",
                "-m",
                "LAST_VALUE_AT_PIXEL_CENTROID",
                "-o",
                "x.tif",
            ],
            "unknown CRS 'EPSG:0'",
        ),
        (
            [str(tmp / "missing.gpkg"), "--like", ref, "-m", "LAST_VALUE_AT_PIXEL_CENTROID", "-o", "x.tif"],
            "no such file",
        ),
        (
            [vec, "--like", str(tmp / "missing.tif"), "-m", "LAST_VALUE_AT_PIXEL_CENTROID", "-o", "x.tif"],
            "missing.tif: no such file",
        ),
        (
            [
                vec,
                "--like",
                ref,
                "--value",
                "height",
                "-m",
                "LAST_VALUE_AT_PIXEL_CENTROID",
                "-o",
                str(tmp / "no" / "x.tif"),
            ],
            "does not exist",
        ),
    ]:
        code, _, err = run(["rasterize", *args], capsys)
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err, (message, err)


def test_methods_lists_every_method(capsys):
    code, out, _ = run(["methods"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert "MEAN_OF_VALUES_AT_PIXEL_CENTROID" in names and "LAST_VALUE_AT_PIXEL_CENTROID" in names
    assert all(len(line.split()) > 2 for line in lines)


def test_demo_writes_a_real_coverage_and_says_where(tmp_path, capsys):
    out = tmp_path / "demo.tif"
    code, text, err = run(["demo", "-o", str(out), "--no-progress"], capsys)
    assert code == 0, err
    assert f"result: {out}" in text
    with rasterio.open(out) as ds:
        cls = ds.read(1)
        assert ds.crs.to_epsg() == 2964 and ds.shape == (1394, 1754)
    # forest classes of VMAP0 (VEG_ID, named by VEGDESC): 24 Deciduous, 25 Evergreen, 50 Mixed Trees; else nodata
    assert set(np.unique(cls)) == {-1, 24, 25, 50}
    counts = {v: int((cls == v).sum()) for v in (24, 25, 50)}
    assert f"Deciduous (24) {counts[24]}, Evergreen (25) {counts[25]}, Mixed Trees (50) {counts[50]}" in text
    assert (out.parent / (out.name + ".aux.xml")).is_file()


def test_console_script_exit_status():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rastercover.cli.main",
            "rasterize",
            "x.gpkg",
            "--like",
            "y.tif",
            "-m",
            "NOPE",
            "-o",
            "z.tif",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("rastercover: error:")


# ---------------------------------------------------------------------------------------------- export
def _sparse(path, side=8192):
    """A sparse uint8 GeoTIFF (tiny on disk) of ``side`` x ``side`` px in 256 px tiles: several export chunks."""
    with rasterio.open(
        path, "w", driver="GTiff", width=side, height=side, count=1, dtype="uint8", nodata=0, crs="EPSG:32198",
        transform=Affine(10, 0, 0, 0, -10, side * 10), tiled=True, blockxsize=256, blockysize=256, sparse_ok=True,
    ) as ds:  # fmt: skip
        ds.write(np.full((1, 256, 256), 3, "uint8"), window=rasterio.windows.Window(0, 0, 256, 256))
    return str(path)


def test_export_shows_a_progress_bar_of_chunks_on_stderr(tmp_path, capsys):
    """--progress draws a tqdm bar over the plan's chunks on stderr; --no-progress and a stderr that is not a
    terminal (the default) draw none; stdout says what was written either way."""
    from rastercover.exporting import plan_export

    src = _sparse(tmp_path / "big.tif")
    steps = plan_export(src, None).steps
    assert steps == 4
    code, out, err = run(["export", src, "-o", str(tmp_path / "a.tif"), "--progress"], capsys)
    assert code == 0, err
    assert "wrote " in out and "8192x8192 px" in out
    assert "export:" in err and f"0/{steps}" in err and "chunk" in err
    for flag in (["--no-progress"], []):
        code, out, err = run(["export", src, "-o", str(tmp_path / "b.tif"), "--overwrite", *flag], capsys)
        assert code == 0 and err == "" and "wrote " in out


def test_export_options_reach_the_library(data, capsys):
    """--buffer-segments, --clip-footprint, --crop and --per-tile give what the Python API gives."""
    from rastercover.exporting import export as export_api

    tmp, ref, vec = data
    zone = write_raster(tmp / "zone.tif", 20, 20, Affine(30, 0, 151000, 0, -30, 418000), dtype="uint8", nodata=0)
    with rasterio.open(zone, "r+") as ds:
        ds.write(np.tri(20, dtype="uint8")[None])  # a triangle of data: footprint "data" is not the extent
    cases = [
        (["--clip", "POINT(152000 417000)", "--buffer", "300", "--buffer-segments", "1"],
         {"clip": "POINT(152000 417000)", "buffer": 300, "buffer_segments": 1}),
        (["--clip-layer", zone, "--clip-footprint", "data", "--crop", "postgis"],
         {"clip_layer": zone, "clip_footprint": "data", "crop": "postgis"}),
        (["--clip-layer", vec, "--clip-id", "2", "--crop", "bounds"], {"clip_layer": vec, "clip_id": 2}),
    ]  # fmt: skip
    for i, (args, options) in enumerate(cases):
        out = tmp / f"cli{i}.tif"
        code, _, err = run(["export", ref, "-o", str(out), "--no-progress", *args], capsys)
        assert code == 0, (args, err)
        expected = export_api(ref, str(tmp / f"api{i}.tif"), **options)
        with rasterio.open(out) as got, rasterio.open(expected.path) as want:
            assert got.transform == want.transform
            np.testing.assert_array_equal(got.read(), want.read())
    diamond = rasterio.open(tmp / "cli0.tif").read(1)
    circle = export_api(ref, str(tmp / "circle.tif"), clip="POINT(152000 417000)", buffer=300)
    assert (diamond != -9999).sum() < (rasterio.open(circle.path).read(1) != -9999).sum()
    # one file per tile, into a zip
    code, out, err = run(["export", ref, "-o", str(tmp / "tiles.zip"), "--per-tile", "--bbox", "150000", "414000",
                          "154500", "420000", "--no-progress"], capsys)  # fmt: skip
    assert code == 0, err
    import zipfile

    assert sorted(zipfile.ZipFile(tmp / "tiles.zip").namelist()) == ["ref_r0_c0.tif", "ref_r0_c1.tif",
                                                                    "ref_r1_c0.tif", "ref_r1_c1.tif"]  # fmt: skip
    code, _, err = run(["export", ref, "-o", str(tmp / "x.tif"), "--buffer-segments", "0"], capsys)
    assert code == 2 and "--buffer-segments" in err
    code, _, err = run(["export", ref, "-o", str(tmp / "x.tif"), "--clip-footprint", "pixels"], capsys)
    assert code == 2 and "--clip-footprint" in err
