"""Zarr output, resumable file outputs (tile folder, .zarr) and a COG assembled after a run."""

from __future__ import annotations

import os

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
import xarray as xr
from affine import Affine

import rastercover
import rastercover.io.sink_zarr as sink_zarr
from rastercover import Grid, InputError
from rastercover.cli.main import main
from rastercover.exporting import open_coverage
from rastercover.io.sink_tiles import TileWriter

GRID = Grid(250, 230, Affine(30, 0, 150000, 0, -30, 420000), "EPSG:32198", 100)  # 3 x 3 tiles
STANDS = [
    (shapely.box(150000, 416000, 154000, 420000), 10.0),
    (shapely.box(152000, 415000, 156000, 418000), 20.0),
    (shapely.box(155500, 413500, 157400, 415000), 7.0),
]
METHODS = ["MEAN_OF_VALUES_AT_PIXEL_CENTROID", "COUNT_OF_VALUES_AT_PIXEL_CENTROID"]
TILE_NAMES = [f"r{r}_c{c}.tif" for r in range(3) for c in range(3)]


def _rasterize(grid=GRID, **kw):
    kw.setdefault("methods", METHODS)
    return rastercover.rasterize(STANDS, grid, assume_crs="EPSG:32198", **kw)


@pytest.fixture(scope="module")
def expected():
    return _rasterize().values


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning:rioxarray")
def test_zarr_store_reads_back_with_xarray_and_rioxarray(tmp_path, expected):
    out = tmp_path / "out.zarr"
    res = _rasterize(output=out, nodata=-1)
    assert res.format == "Zarr store" and res.tiles_written == 9
    assert sorted(os.listdir(tmp_path)) == ["out.zarr"]  # no partial or marker left
    assert not os.path.exists(out / ".rastercover")
    ds = xr.open_zarr(out, mask_and_scale=False)
    da = ds["rastercover"]
    assert da.dims == ("band", "y", "x") and da.dtype == np.float32
    assert da.encoding["chunks"] == (2, 100, 100)
    assert ds.band.values.tolist() == METHODS
    expected_minus1 = np.where(expected == -9999, -1, expected)
    np.testing.assert_array_equal(da.values, _rasterize(nodata=-1).values)
    assert np.array_equal(da.values != -1, expected_minus1 != -1)
    assert da.sel(band="MEAN_OF_VALUES_AT_PIXEL_CENTROID").values[0, 0] == 10.0
    assert da.sel(band="COUNT_OF_VALUES_AT_PIXEL_CENTROID").values[0, 0] == 1.0
    assert ds.x.values[:2].tolist() == [150015.0, 150045.0] and ds.y.values[0] == 419985.0
    assert da.attrs["grid_mapping"] == "spatial_ref" and "spatial_ref" in ds.coords
    ref = ds.spatial_ref.attrs
    assert ref["GeoTransform"] == "150000.0 30.0 0.0 420000.0 0.0 -30.0"
    assert rasterio.crs.CRS.from_wkt(ref["crs_wkt"]).to_epsg() == 32198
    masked = xr.open_zarr(out)["rastercover"]  # CF decoding: fill value -> NaN
    assert int(np.isnan(masked.values).sum()) == int((expected == -9999).sum())
    rioxarray = pytest.importorskip("rioxarray")
    assert rioxarray is not None
    rda = xr.open_zarr(out, mask_and_scale=False)["rastercover"]
    assert rda.rio.crs.to_epsg() == 32198
    assert tuple(rda.rio.transform())[:6] == (30.0, 0.0, 150000.0, 0.0, -30.0, 420000.0)
    assert rda.rio.nodata == -1


def test_zarr_coverage_exports_to_cog_and_tif(tmp_path, expected):
    out = tmp_path / "out.zarr"
    _rasterize(output=out)
    cov = open_coverage(str(out))
    assert type(cov).__name__ == "ZarrCoverage"
    assert cov.grid.tile_size == (100, 100) and cov.band_names == tuple(METHODS) and cov.nodata == -9999
    r = rastercover.export(str(out), tmp_path / "x.tif", format="cog")
    with rasterio.open(r.path) as ds:
        np.testing.assert_array_equal(ds.read(), expected)
        assert ds.crs.to_epsg() == 32198 and ds.transform == GRID.transform and ds.nodata == -9999
        assert list(ds.descriptions) == METHODS


def test_zarr_workers_write_their_own_chunks(tmp_path, expected):
    out = tmp_path / "w.zarr"
    _rasterize(output=out, workers=2, block_pixels=10_000)
    np.testing.assert_array_equal(xr.open_zarr(out, mask_and_scale=False)["rastercover"].values, expected)


def test_a_zarr_error_without_resume_leaves_nothing(tmp_path):
    def stop(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _rasterize(output=tmp_path / "out.zarr", progress=stop, block_pixels=10_000)
    assert os.listdir(tmp_path) == []


def _interrupt(output, after):
    seen = []

    def stop(n):
        seen.append(n)
        if sum(seen) >= after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _rasterize(output=output, progress=stop, block_pixels=10_000, resume=True)


@pytest.mark.parametrize("kind", ["folder", "zarr"])
def test_resume_computes_only_missing_tiles_and_equals_an_uninterrupted_run(tmp_path, monkeypatch, kind, expected):
    out = tmp_path / ("tiles" if kind == "folder" else "out.zarr")
    partial = tmp_path / f".{out.name}.partial"
    writes: list[tuple[int, int]] = []
    if kind == "folder":
        original = TileWriter._put  # every tile file, encoded or copied from a constant template

        def counting(self, tile, write):
            writes.append(tile.index)
            original(self, tile, write)

        monkeypatch.setattr(TileWriter, "_put", counting)
    else:
        original = sink_zarr.mark_done

        def counting(store, indexes):
            indexes = list(indexes)
            writes.extend(indexes)
            original(store, indexes)

        monkeypatch.setattr(sink_zarr, "mark_done", counting)
    _interrupt(out, after=4)
    assert not out.exists() and partial.is_dir()  # kept for the next resume=True run
    first = list(writes)
    assert first == [(0, 0), (0, 1), (0, 2), (1, 0)]
    if kind == "folder":
        assert sorted(n for n in os.listdir(partial) if n.endswith(".tif")) == [f"r{r}_c{c}.tif" for r, c in first]
    with pytest.raises(InputError, match=r"another job \(bands: "):
        _rasterize(output=out, methods=METHODS[:1], resume=True)  # not the interrupted job
    assert partial.is_dir()  # refused before touching it
    writes.clear()
    res = _rasterize(output=out, block_pixels=10_000, resume=True)
    assert sorted(writes) == [(1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]  # only the missing tiles
    assert res.tiles_written == 5
    assert sorted(os.listdir(tmp_path)) == [out.name]
    if kind == "folder":
        assert sorted(os.listdir(out)) == sorted([*TILE_NAMES, "index.vrt"])
        got = open_coverage(str(out / "index.vrt")).read(rastercover.Window(0, 0, 250, 230))
    else:
        got = xr.open_zarr(out, mask_and_scale=False)["rastercover"].values
        descriptions = xr.open_zarr(out)["rastercover"].attrs["descriptions"]  # written by the resumed run too
        assert descriptions == [rastercover.get_method(m).description for m in METHODS]
    np.testing.assert_array_equal(got, expected)


def test_resume_without_a_partial_starts_afresh_and_tif_outputs_refuse_it(tmp_path, expected):
    res = _rasterize(output=tmp_path / "t", resume=True)
    assert res.tiles_written == 9
    with pytest.raises(InputError, match="resume= applies to PostGIS tables, tile folders and .zarr"):
        _rasterize(output=tmp_path / "x.tif", resume=True)
    with pytest.raises(InputError, match="if_exists= applies to PostGIS"):
        _rasterize(output=tmp_path / "u", if_exists="append")


BIG = Grid(600, 520, Affine(10, 0, 150000, 0, -10, 420000), "EPSG:32198", 256)


@pytest.mark.parametrize("name", ["tiles", "big.zarr"])
def test_cog_assembled_after_the_run_has_overviews(tmp_path, name):
    cog = tmp_path / "all.tif"
    res = _rasterize(BIG, output=tmp_path / name, cog=cog, methods=["LAST_VALUE_AT_PIXEL_CENTROID"])
    assert res.cog == str(cog) and "COG" in str(res)
    want = _rasterize(BIG, methods=["LAST_VALUE_AT_PIXEL_CENTROID"]).values
    with rasterio.open(cog) as ds:
        np.testing.assert_array_equal(ds.read(), want)
        assert ds.crs.to_epsg() == 32198 and ds.transform == BIG.transform and ds.nodata == -9999
        assert ds.overviews(1) == [2]
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        # a categorical method: nearest overviews keep only values that occur (no averaged 13.33...)
        assert set(np.unique(ds.read(1, out_shape=(260, 300)))) <= {-9999.0, 7.0, 10.0, 20.0}


def test_cog_option_is_checked_against_the_output(tmp_path):
    with pytest.raises(InputError, match="with a .tif output pass cog=True"):
        _rasterize(output=tmp_path / "x.tif", cog=tmp_path / "y.tif")
    with pytest.raises(InputError, match=r"name the COG with a \.tif extension"):
        _rasterize(output=tmp_path / "t", cog=tmp_path / "y.png")
    with pytest.raises(InputError, match="cog='OUT.tif'"):
        _rasterize(output=tmp_path / "t", cog=True)
    assert os.listdir(tmp_path) == []


def test_cli_zarr_with_cog_then_export_the_store(tmp_path, capsys):
    vec = str(tmp_path / "stands.gpkg")
    pyogrio.raw.write(
        vec,
        np.array([shapely.to_wkb(g) for g, _ in STANDS], dtype=object),
        [np.array([v for _, v in STANDS])],
        ["height"],
        layer="stands",
        geometry_type="Polygon",
        crs="EPSG:32198",
    )
    store, cog = str(tmp_path / "h.zarr"), str(tmp_path / "h.tif")
    args = [
        "rasterize", vec, "--bounds", "150000", "413100", "157500", "420000", "--resolution", "30",
        "--crs", "EPSG:32198", "--tile-size", "100", "--value", "height",
        "-m", "MEAN_OF_VALUES_AT_PIXEL_CENTROID", "-o", store, "--cog", cog, "--resume", "--no-progress",
    ]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    assert exc.value.code == 0, capsys.readouterr().err
    assert "Zarr store" in capsys.readouterr().out
    want = _rasterize(methods=["MEAN_OF_VALUES_AT_PIXEL_CENTROID"]).values
    np.testing.assert_array_equal(xr.open_zarr(store, mask_and_scale=False)["rastercover"].values, want)
    with pytest.raises(SystemExit) as exc:
        main(["export", store, "-o", str(tmp_path / "e.tif"), "--format", "cog"])
        raise SystemExit(0)
    assert exc.value.code == 0, capsys.readouterr().err
    for path in (cog, tmp_path / "e.tif"):
        with rasterio.open(path) as ds:
            np.testing.assert_array_equal(ds.read(), want)
            assert ds.transform == GRID.transform
    # the store is a reference grid too: pixels and tiles (its chunks) line up with it
    assert rastercover.open_grid(store) == GRID
    assert rastercover.open_grid(store, tile_size=50).tile_size == (50, 50)
    again = str(tmp_path / "again.zarr")
    with pytest.raises(SystemExit) as exc:
        main(["rasterize", vec, "--like", store, "--value", "height", "-m", "SUM_OF_AREAS", "-o", again,
              "--no-progress"])  # fmt: skip
        raise SystemExit(0)
    assert exc.value.code == 0, capsys.readouterr().err
    assert rastercover.open_grid(again) == GRID
    np.testing.assert_array_equal(
        xr.open_zarr(again, mask_and_scale=False)["rastercover"].values,
        _rasterize(methods=["SUM_OF_AREAS"]).values,
    )
