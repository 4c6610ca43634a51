"""``rastercover regrid`` on the command line: the same bits as the Python verb, its options and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

import rastercover
from rastercover.cli.main import main

from .conftest import write_raster

SRC_T = Affine(30, 0, 150000, 0, -30, 420000)


def run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture
def source(tmp_path):
    """A two-band 30 m raster with nodata, and a 100 m reference grid offset from its lattice."""
    rng = np.random.default_rng(7)
    data = rng.integers(1, 5, size=(2, 90, 120)).astype("float32")
    data[:, :5, :7] = -1
    path = tmp_path / "src.tif"
    profile = dict(
        driver="GTiff", width=120, height=90, count=2, dtype="float32", crs="EPSG:32198", transform=SRC_T, nodata=-1
    )
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    ref = write_raster(tmp_path / "ref.tif", 40, 30, Affine(100, 0, 149937, 0, -100, 420041), tiled=True, block=16)
    return tmp_path, str(path), ref, data


def test_regrid_cli_equals_python(source, capsys):
    tmp, src, ref, _ = source
    out = tmp / "out.tif"
    methods = ["SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES", "FRACTION_OF_RASTER_VALUE:1,4", "MAJORITY_OF_RASTER_VALUES"]
    args = ["regrid", src, "--like", ref, "--bands", "2", "-o", str(out), "--no-progress"]
    for m in methods:
        args += ["-m", m]
    code, stdout, err = run(args, capsys)
    assert code == 0, err
    assert "wrote" in stdout and "5 band(s)" not in stdout
    expected = rastercover.regrid(src, ref, methods=methods, bands=[2])
    with rasterio.open(out) as ds:
        assert ds.descriptions == tuple(expected.band.values.tolist())
        assert ds.descriptions[1] == "FRACTION_OF_RASTER_VALUE:1"
        got = ds.read()
        assert ds.transform == rasterio.open(ref).transform
    assert np.array_equal(got, expected.values)
    # the conservative sum keeps the band's total (the reference grid covers the source)
    valid = source[3][1][source[3][1] != -1].astype(float)
    total = got[0][got[0] != -9999].astype(float).sum()
    assert total == pytest.approx(valid.sum(), rel=1e-6)  # float32 pixels


def test_regrid_cli_bounds_grid_and_band_names(source, capsys):
    tmp, src, _, _ = source
    out = tmp / "tiles"
    code, stdout, err = run(
        [
            "regrid",
            src,
            "--bounds",
            "150000",
            "417300",
            "153600",
            "420000",
            "--resolution",
            "60",
            "--crs",
            "EPSG:32198",
            "-m",
            "VALID_FRACTION",
            "--tile-size",
            "20",
            "-o",
            str(out),
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0, err
    with rasterio.open(out / "index.vrt") as ds:
        assert ds.descriptions == ("band1:VALID_FRACTION", "band2:VALID_FRACTION")
        assert (ds.width, ds.height) == (60, 45)
        vf = ds.read(1)
    # 60 m pixels hold 2x2 source pixels exactly: the 5x7 nodata corner empties 2x3 pixels and halves a border
    assert vf[:2, :3].max() == 0
    assert vf[0, 3] == 0.5 and vf[2, 0] == 0.5 and vf[2, 3] == 0.75
    assert vf[3:, 4:].min() == 1.0 and vf.max() == 1.0


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["-m", "VALID_FRACTION"], "give exactly one reference grid"),
        (["--like", "REF", "--bounds", "0", "0", "1", "1", "-m", "VALID_FRACTION"], "give exactly one reference grid"),
        (["--like", "REF", "-m", "MEAN_OF_VALUES_AT_PIXEL_CENTROID"], "rasterizes vector features"),
        (["--like", "REF", "-m", "AREA_WEIGHTED_MEEN_OF_RASTER_VALUES"], "did you mean AREA_WEIGHTED_MEAN_OF_RASTER"),
        (["--like", "REF", "-m", "VALID_FRACTION", "--bands", "3"], "has 2 band(s); there is no band 3"),
        (["--like", "REF", "-m", "VALID_FRACTION", "--bands", "x"], "give 1-based band numbers"),
    ],
)
def test_regrid_cli_errors(source, capsys, extra, needle):
    tmp, src, ref, _ = source
    args = ["regrid", src, *[ref if a == "REF" else a for a in extra], "-o", str(tmp / "x.tif")]
    code, out, err = run(args, capsys)
    assert code != 0
    assert needle in err
    assert "Traceback" not in err
    assert not (tmp / "x.tif").exists()


def test_rasterize_refuses_raster_methods(source, capsys, tmp_path):
    import shapely

    tmp, _, ref, _ = source
    with pytest.raises(rastercover.InputError, match="is a method of raster sources"):
        rastercover.rasterize(
            [(shapely.box(150000, 417000, 151000, 418000), 1.0)],
            ref,
            methods=["VALID_FRACTION"],
            assume_crs="EPSG:32198",
        )


def test_methods_lists_raster_and_vector_apart(capsys):
    code, out, _ = run(["methods", "--raster"], capsys)
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert "SUM_OF_AREA_PROPORTIONAL_RASTER_VALUES" in names and "FRACTION_OF_RASTER_VALUE" in names
    assert "MEAN_OF_VALUES_AT_PIXEL_CENTROID" not in names
    code, out, _ = run(["methods", "--vector"], capsys)
    names = [line.split()[0] for line in out.splitlines()]
    assert "MEAN_OF_VALUES_AT_PIXEL_CENTROID" in names and "VALID_FRACTION" not in names


def test_rasterize_refuses_a_value_equal_to_the_nodata_value():
    import shapely

    grid = rastercover.Grid(2, 1, Affine(1, 0, 0, 0, -1, 1), "EPSG:3857")
    pairs = [(shapely.box(0, 0, 1, 1), -9999.0), (shapely.box(1, 0, 2, 1), 5.0)]
    with pytest.raises(rastercover.ValueRangeError, match="MEAN_OF_VALUES_AT_PIXEL_CENTROID gives -9999 in 1 pixel"):
        rastercover.rasterize(pairs, grid, methods=["MEAN_OF_VALUES_AT_PIXEL_CENTROID"], assume_crs="EPSG:3857")
    da = rastercover.rasterize(
        pairs, grid, methods=["MEAN_OF_VALUES_AT_PIXEL_CENTROID"], assume_crs="EPSG:3857", nodata=-1
    )
    assert da.values.tolist() == [[[-9999.0, 5.0]]]
