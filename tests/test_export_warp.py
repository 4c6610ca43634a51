"""Export with a warp (crs, resolution, resampling), a pixel type (dtype), a nodata value, and JPEG scaling.

Oracles: ``rasterio.warp.calculate_default_transform`` (the grid gdalwarp chooses) and
``rasterio.warp.reproject`` of the whole source into that grid; ``rasterio.features.geometry_mask`` of the
reprojected clip for the pixels a clip keeps after a warp.
"""

from __future__ import annotations

import importlib
import os
import zipfile

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from rasterio.warp import calculate_default_transform, reproject

import rastercover
from rastercover.errors import CRSError, InputError, UnknownOptionError
from rastercover.ops.warp import reproject_geometry

from .test_export import CRS_CODE, H, T, W, _write, run

export_module = importlib.import_module("rastercover.exporting")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 300x260 float32 DEM with nodata holes, tiled 32x32."""
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:260, 0:300]
    a = (500 + 3 * xx + 2 * yy + rng.random((260, 300)) * 20).astype("float32")[None]
    a[0, 100:110, 50:70] = -9999
    return _write(tmp_path_factory.mktemp("warp") / "big.tif", a, dtype="float32", nodata=-9999, block=32)


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.transform, ds.crs, ds.nodata, ds.dtypes[0]


def _oracle_warp(src, dst_crs, resampling, resolution=None, transform=None, shape=None):
    with rasterio.open(src) as ds:
        if transform is None:
            transform, w, h = calculate_default_transform(
                ds.crs, dst_crs, ds.width, ds.height, *ds.bounds, resolution=resolution
            )
            shape = (h, w)
        out = np.full((ds.count, *shape), ds.nodata, dtype=ds.dtypes[0])
        reproject(
            ds.read(),
            out,
            src_transform=ds.transform,
            src_crs=ds.crs,
            src_nodata=ds.nodata,
            dst_transform=transform,
            dst_crs=dst_crs,
            dst_nodata=ds.nodata,
            resampling=getattr(Resampling, resampling),
            tolerance=0,
        )
    return out, transform


# ---------------------------------------------------------------------- warp
@pytest.mark.parametrize("resampling", ["nearest", "bilinear", "cubic"])
def test_warp_to_another_crs_equals_rasterio_reproject(big, tmp_path, resampling):
    r = rastercover.export(big, tmp_path / "ll.tif", crs="EPSG:4326", resampling=resampling)
    a, transform, crs, nodata, dtype = _read(r.path)
    ref, ref_t = _oracle_warp(big, "EPSG:4326", resampling)
    assert crs.to_epsg() == 4326 and nodata == -9999 and dtype == "float32"
    assert transform.almost_equals(ref_t, precision=1e-12) and a.shape == ref.shape
    if resampling == "nearest":
        assert np.array_equal(a, ref)
    else:
        valid = (a != -9999) & (ref != -9999)
        assert np.array_equal(a == -9999, ref == -9999)
        assert np.allclose(a[valid], ref[valid], atol=1e-3)
    assert any("warped from EPSG:32198 to EPSG:4326" in n for n in r.notes)


@pytest.mark.parametrize("resampling", ["nearest", "bilinear", "average", "cubic"])
def test_warp_in_chunks_reads_only_what_each_chunk_needs(big, tmp_path, monkeypatch, resampling):
    """Each 256x256 output chunk, warped from just its source window, equals a reproject of the whole source.

    (GDAL's own results depend a little on the destination's size, so the oracle warps the whole source into
    each chunk: what this checks is that the source window read for a chunk misses nothing the kernel uses.)
    """
    monkeypatch.setattr(importlib.import_module("rastercover.ops.mosaic"), "CHUNK_PIXELS", 4 * 256)
    reads = []
    cov = export_module.open_coverage(big)
    real_read = cov.read
    monkeypatch.setattr(cov, "read", lambda w, b=None: reads.append(w) or real_read(w, b))
    r = rastercover.export(cov, tmp_path / "m.tif", crs="EPSG:32618", resolution=20, resampling=resampling)
    a, transform, *_ = _read(r.path)
    h, w = a.shape[1:]
    assert h > 256 and w > 256 and len(reads) >= 3  # several chunks, each its own read
    assert max(rw.width * rw.height for rw in reads) < 300 * 260  # none reads the whole source
    for r0 in range(0, h, 256):
        for c0 in range(0, w, 256):
            shape = (min(256, h - r0), min(256, w - c0))
            ref, _ = _oracle_warp(
                big, "EPSG:32618", resampling, transform=transform @ Affine.translation(c0, r0), shape=shape
            )
            assert np.array_equal(a[:, r0 : r0 + shape[0], c0 : c0 + shape[1]], ref), (r0, c0)


def test_nearest_warp_takes_the_source_pixel_under_each_output_centre(big, tmp_path):
    """The exact oracle: each output centre mapped by PROJ to the source grid; the pixel it falls in.

    GDAL's warper maps coordinates with a tiny error of its own (up to ~0.006 px here, whatever the tolerance),
    so centres within 0.01 px of a source pixel's edge are left out.
    """
    from pyproj import Transformer

    r = rastercover.export(big, tmp_path / "n.tif", crs="EPSG:32618", resolution=20)
    a, transform, *_ = _read(r.path)
    with rasterio.open(big) as ds:
        src, src_t = ds.read(1), ds.transform
    rows, cols = np.mgrid[0 : a.shape[1], 0 : a.shape[2]]
    x, y = transform @ (cols.ravel() + 0.5, rows.ravel() + 0.5)
    sx, sy = Transformer.from_crs("EPSG:32618", CRS_CODE, always_xy=True).transform(x, y)
    sc, sr = ~src_t @ (np.asarray(sx), np.asarray(sy))
    inside = (sc >= 0) & (sc < src.shape[1]) & (sr >= 0) & (sr < src.shape[0])
    clear = inside & (np.abs(sc - np.round(sc)) > 1e-2) & (np.abs(sr - np.round(sr)) > 1e-2)
    got = a[0].ravel()
    want = src[np.floor(sr[clear]).astype(int), np.floor(sc[clear]).astype(int)]
    assert clear.sum() > 0.9 * inside.sum() and np.array_equal(got[clear], want)
    m = 1e-2
    outside = (sc < -m) | (sc >= src.shape[1] + m) | (sr < -m) | (sr >= src.shape[0] + m)
    assert outside.sum() > 1000 and (got[outside] == -9999).all()


def test_resolution_alone_keeps_the_crs_and_the_upper_left_corner(big, tmp_path):
    r = rastercover.export(big, tmp_path / "c.tif", resolution=(90, 60), resampling="average")
    a, transform, crs, *_ = _read(r.path)
    assert crs.to_epsg() == 32198 and (transform.c, transform.f) == (T.c, T.f)
    assert (transform.a, transform.e) == (90, -60) and a.shape == (1, 130, 100)
    ref, _ = _oracle_warp(big, CRS_CODE, "average", transform=transform, shape=(130, 100))
    assert np.allclose(a, ref, atol=1e-3)


def test_warped_clip_masks_output_pixels_by_their_centres(big, tmp_path):
    clip = shapely.Point(150000 + 150 * 30, 420000 - 130 * 30).buffer(2000)
    r = rastercover.export(big, tmp_path / "k.tif", clip=clip, crs="EPSG:4326", resampling="bilinear")
    a, transform, *_ = _read(r.path)
    out_geom = reproject_geometry(clip, rastercover.crs.as_crs(CRS_CODE), rastercover.crs.as_crs(4326), step=30)
    inside = geometry_mask([out_geom], out_shape=a.shape[1:], transform=transform, invert=True)
    ref, _ = _oracle_warp(big, "EPSG:4326", "bilinear", transform=transform, shape=a.shape[1:])
    assert inside.sum() > 1000 and not inside.all()
    assert (a[0][~inside] == -9999).all()
    assert np.allclose(a[0][inside], ref[0][inside], atol=1e-3)
    # the output is cropped to the clip: its box hugs the clip's box in the output CRS
    x0, y0, x1, y1 = out_geom.bounds
    assert transform.c <= x0 and transform.c > x0 - 3 * transform.a
    assert transform.f >= y1 and transform.f < y1 + 3 * -transform.e


def test_warp_of_a_tile_folder_equals_the_warp_of_the_single_file(tmp_path):
    from .test_export import tile_folders as _unused  # noqa: F401  (the fixture lives there; built here)

    rng = np.random.default_rng(5)
    a = (rng.random((1, H, W)) * 100).astype("float32")
    single = _write(tmp_path / "one.tif", a, dtype="float32", nodata=-1)
    folder = tmp_path / "tiles"
    folder.mkdir()
    for r0 in range(0, H, 16):
        for c0 in range(0, W, 16):
            piece = a[:, r0 : r0 + 16, c0 : c0 + 16]
            _write(
                folder / f"t_{r0}_{c0}.tif",
                piece,
                dtype="float32",
                nodata=-1,
                tiled=False,
                transform=T @ Affine.translation(c0, r0),
            )
    one = rastercover.export(single, tmp_path / "a.tif", crs="EPSG:3857", resampling="bilinear")
    many = rastercover.export(str(folder), tmp_path / "b.tif", crs="EPSG:3857", resampling="bilinear")
    x, tx, *_ = _read(one.path)
    y, ty, *_ = _read(many.path)
    assert tx == ty and np.array_equal(x, y)


def test_rotated_grid_warped_north_up_can_go_to_aaigrid(tmp_path):
    rot = Affine.rotation(20) @ Affine(10, 0, 0, 0, -10, 0)
    t = Affine.translation(150000, 420000) @ rot
    a = np.arange(400, dtype="float32").reshape(1, 20, 20)
    src = _write(tmp_path / "rot.tif", a, dtype="float32", nodata=-1, transform=t, tiled=False)
    with pytest.raises(InputError, match="cannot hold a rotated"):
        rastercover.export(src, tmp_path / "r.asc")
    r = rastercover.export(src, tmp_path / "r.asc", resolution=10)
    b, transform, *_ = _read(r.path)
    assert transform.b == transform.d == 0 and transform.a == 10
    # every value written is one of the source's (nearest) and the grid covers the rotated square
    vals = b[b != -1]
    assert set(np.unique(vals)) <= set(a.ravel().tolist()) and vals.size > 300
    assert abs(b.shape[1] * b.shape[2] * 100 - (200 * (np.cos(np.radians(20)) + np.sin(np.radians(20)))) ** 2) < 1e4


# ---------------------------------------------------------------------- dtype and nodata
def test_dtype_rounds_floats_and_refuses_values_that_do_not_fit(big, tmp_path):
    r = rastercover.export(big, tmp_path / "i.tif", dtype="int16")
    a, *_, nodata, dtype = _read(r.path)
    with rasterio.open(big) as ds:
        src = ds.read()
    assert dtype == "int16" and nodata == -9999
    valid = src != -9999
    assert np.array_equal(a[valid], np.floor(src[valid].astype(np.float64) + 0.5).astype("int16"))
    assert (a[~valid] == -9999).all()
    with pytest.raises(InputError, match=r"values from 5\d\d(\.\d+)? to \d+(\.\d+)? do not fit uint8 \(0 to 255\)"):
        rastercover.export(big, tmp_path / "u.tif", dtype="uint8", nodata=0)
    assert not os.path.exists(tmp_path / "u.tif") and os.listdir(tmp_path) == ["i.tif"]
    with pytest.raises(InputError, match="nodata value -9999 does not fit uint16: give one that does"):
        rastercover.export(big, tmp_path / "u.tif", dtype="uint16")
    with pytest.raises(InputError, match="unknown pixel type 'int3'"):
        rastercover.export(big, tmp_path / "u.tif", dtype="int3")


def test_integers_a_float_type_does_not_hold_are_counted(tmp_path):
    """int32 to float32: 16777217 has no float32; the export says how many pixels changed instead of hiding it."""
    src = tmp_path / "ids.tif"
    with rasterio.open(src, "w", driver="GTiff", width=4, height=1, count=1, dtype="int32", crs="EPSG:32198",
                       transform=Affine(10, 0, 0, 0, -10, 10)) as ds:  # fmt: skip
        ds.write(np.array([[[7, 16777216, 16777217, 2_000_000_001]]], dtype="int32"))
    r = rastercover.export(src, tmp_path / "f.tif", dtype="float32")
    with rasterio.open(r.path) as ds:
        assert ds.read(1).tolist() == [[7.0, 16777216.0, 16777216.0, 2_000_000_000.0]]
    said = "2 pixel(s) changed value: float32 holds integers exactly only up to 16777216; keep int32"
    assert said in " ".join(r.notes)
    r = rastercover.export(src, tmp_path / "d.tif", dtype="float64")
    assert not any("changed value" in n for n in r.notes)  # float64 holds every int32


def test_nodata_replaces_the_coverage_nodata_and_counts_collisions(big, tmp_path):
    with rasterio.open(big) as ds:
        src = ds.read()
    target = float(src[0, 5, 5])
    r = rastercover.export(big, tmp_path / "n.tif", nodata=target)
    a, *_, nodata, _ = _read(r.path)
    assert nodata == target
    assert (a[src == -9999] == target).all() and np.array_equal(a[src != -9999], src[src != -9999])
    n = int((src == target).sum())
    assert any(f"{n} valid pixel(s) equal the nodata value" in note for note in r.notes)
    with pytest.raises(InputError, match="nodata 300 does not fit uint8"):
        rastercover.export(big, tmp_path / "x.tif", dtype="uint8", nodata=300)
    with pytest.raises(InputError, match="nodata 'none' is not a number"):
        rastercover.export(big, tmp_path / "x.tif", nodata="none")


def test_nodata_declared_on_a_coverage_without_one(tmp_path):
    a = np.arange(W * H, dtype="uint16").reshape(1, H, W)
    src = _write(tmp_path / "plain.tif", a, dtype="uint16")
    r = rastercover.export(src, tmp_path / "o.tif", nodata=65535, clip=shapely.box(*_inner_box()))
    b, *_, nodata, dtype = _read(r.path)
    assert nodata == 65535 and dtype == "uint16" and (b == 65535).any()
    assert not any("declares no nodata" in n for n in r.notes)  # the asked value is used, nothing invented


def _inner_box():
    return (150000 + 95, 420000 - 30 * 20 - 5, 150000 + 30 * 30 + 5, 420000 - 95)


# ---------------------------------------------------------------------- JPEG scaling
def test_jpeg_scales_float_data_and_records_scale_and_offset(big, tmp_path):
    r = rastercover.export(big, tmp_path / "s.jpg.zip")
    assert r.dtype == "uint8" and r.nodata == 0
    assert any("scaled linearly from [" in n and "to [1, 255]" in n for n in r.notes)
    with zipfile.ZipFile(r.path) as z:
        assert {"s.jpg", "s.jpg.aux.xml", "s.jgw", "s.prj"} <= set(z.namelist())
    with rasterio.open(f"/vsizip/{r.path}/s.jpg") as ds:
        raw = ds.read(1).astype(float)
        scale, offset = ds.scales[0], ds.offsets[0]
        assert ds.crs.to_epsg() == 32198 and ds.transform == T
    with rasterio.open(big) as ds:
        src = ds.read(1).astype(float)
    valid = src != -9999
    vmin, vmax = src[valid].min(), src[valid].max()
    assert scale == pytest.approx((vmax - vmin) / 254) and offset == pytest.approx(vmin - scale)
    back = raw * scale + offset
    inner = valid.copy()
    inner[95:115, 45:75] = False  # JPEG blurs the edge of the nodata hole
    assert np.abs(back[inner] - src[inner]).mean() < 3 * scale
    assert raw[103:107, 55:65].max() <= 8  # nodata written as 0 (JPEG keeps it near 0)


def test_png_refuses_what_jpeg_scales(big, tmp_path):
    with pytest.raises(InputError, match="png holds only uint8 or uint16 pixels"):
        rastercover.export(big, tmp_path / "s.png")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"crs": "EPSG:999999"}, CRSError, "EPSG:999999"),
        ({"crs": "EPSG:4326", "resampling": "sharpest"}, UnknownOptionError, "unknown resampling 'sharpest'"),
        ({"resampling": "bilinear"}, InputError, "resampling applies to a warp"),
        ({"resolution": "-3"}, InputError, "must be one or two positive numbers"),
        ({"resolution": "fine"}, InputError, "resolution 'fine' is not a number"),
    ],
)
def test_warp_refusals(big, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        rastercover.export(big, tmp_path / "x.tif", **kwargs)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- command line
def test_cli_warp_dtype_nodata(big, tmp_path, capsys):
    out = tmp_path / "w.tif"
    args = ["export", big, "-o", str(out), "--crs", "EPSG:4326", "--resampling", "bilinear"]
    code, _, err = run([*args, "--dtype", "int32", "--nodata", "-1"], capsys)
    assert code == 0, err
    a, transform, crs, nodata, dtype = _read(out)
    ref, ref_t = _oracle_warp(big, "EPSG:4326", "bilinear")
    assert crs.to_epsg() == 4326 and nodata == -1 and dtype == "int32"
    assert transform.almost_equals(ref_t, precision=1e-12)
    valid = ref != -9999
    assert np.array_equal(a == -1, ~valid)
    assert np.abs(a[valid] - ref[valid]).max() <= 0.5 + 1e-3
    code, _, err = run(["export", big, "-o", str(tmp_path / "v.tif"), "--resolution", "abc"], capsys)
    assert code == 2
    assert "resolution 'abc' is not a number" in err and "Traceback" not in err


def test_max_pixels_refuses_before_anything_is_written(big, tmp_path):
    from rastercover.errors import TooLargeError

    with pytest.raises(TooLargeError, match=r"300x260 px x 1 band\(s\) = 78000 pixels, over the limit of 50000"):
        rastercover.export(big, tmp_path / "x.tif", max_pixels=50_000)
    with pytest.raises(TooLargeError, match="over the limit of 1000"):
        rastercover.export(big, tmp_path / "x.tif", resolution=5, max_pixels=1000)
    assert os.listdir(tmp_path) == []
    r = rastercover.export(big, tmp_path / "y.tif", bbox=(150000, 419000, 151000, 420000), max_pixels=50_000)
    assert (r.width, r.height) == (34, 34)


def test_a_warp_inside_a_coverage_without_nodata_invents_none(tmp_path):
    """Every output pixel centre of a coarser grid inside the coverage falls on a source pixel: the output has
    no pixel without data, so no nodata value is made up (one is, when the grid reaches past the coverage)."""
    a = np.arange(W * H, dtype="int16").reshape(1, H, W)
    src = _write(tmp_path / "nonodata.tif", a, dtype="int16")
    r = rastercover.export(src, tmp_path / "coarse.tif", resolution=60, resampling="nearest")
    data, transform, _crs, nodata, _ = _read(r.path)
    assert nodata is None and transform == Affine(60, 0, T.c, 0, -60, T.f) and data.shape == (1, H // 2, W // 2)
    np.testing.assert_array_equal(data[0], a[0, 1::2, 1::2])  # nearest: the source pixel under each centre
    assert not any("nodata" in n for n in r.notes)
    # a grid given whole: on the coverage's lattice and inside it, a read of its own pixels; off it, a warp
    from rastercover.grid import Grid

    piece = Grid(7, 5, Affine(30, 0, T.c + 90, 0, -30, T.f - 60), CRS_CODE)
    r = rastercover.export(src, tmp_path / "piece.tif", grid=piece)
    data, transform, _crs, nodata, _ = _read(r.path)
    assert transform == piece.transform and nodata is None and not any(n.startswith("warped") for n in r.notes)
    np.testing.assert_array_equal(data[0], a[0, 2:7, 3:10])
    beyond = Grid(4, 4, Affine(30, 0, T.c + (W - 2) * 30, 0, -30, T.f), CRS_CODE)  # two columns past the edge
    r = rastercover.export(src, tmp_path / "beyond.tif", grid=beyond)
    data, transform, _crs, nodata, _ = _read(r.path)
    assert nodata == -32768 and transform == beyond.transform
    np.testing.assert_array_equal(data[0, :, :2], a[0, :4, W - 2 :])
    assert (data[0, :, 2:] == -32768).all()
    with pytest.raises(InputError, match="grid= is the whole output grid: drop crs="):
        rastercover.export(src, tmp_path / "x.tif", grid=piece, crs="EPSG:4326")
