"""Every export format read back by GDAL itself: exact values, CRS and nodata wherever the format can hold them.

Three readers check each file: rasterio (the GDAL of its wheel), the gdal-bin tools of the system (``gdalinfo
-json``, ``gdal_translate`` to GeoTIFF: another GDAL version, as a desktop client has), and, for the text formats,
a float64 parse of the text, as QGIS reads an ASCII grid (it sets ``AAIGRID_DATATYPE=Float64``). The coverages are
real (``tests/realdata``) with awkward values put in: float32s whose shortest decimal is not their exact value,
negative, the largest and smallest float32s, a subnormal, and an awkward nodata (``-3.4028230607370965e+38``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import zipfile

import numpy as np
import pytest
import rasterio
import rasterio.shutil
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pyproj import CRS

import rastercover
from rastercover.crs import same_crs
from rastercover.errors import InputError, OutputError
from rastercover.formats import FORMATS, driver_available, get_format
from rastercover.io.checked import verify_copy

from .conftest import REALDATA

GDALINFO, GDAL_TRANSLATE = "/usr/bin/gdalinfo", "/usr/bin/gdal_translate"

# a bare .png or .jpg has no position (the world file and .aux.xml come in a zip): GDAL says so, as expected
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

#: float32 values that are hard to write as text: shortest decimal != exact value, extremes, a subnormal, -0.
AWKWARD = np.array(
    [
        1762.005615234375,  # shortest decimal 1762.0056, exact 1762.005615234375 (the QGIS report)
        0.1,
        1 / 3,
        -1234.5678,
        3.4028234663852886e38,  # the largest float32
        -3.4028234663852886e38,
        1e30,
        -1e-30,
        1.401298464324817e-45,  # the smallest subnormal
        1.1754943508222875e-38,  # the smallest normal
        16777217.0,  # 2**24 + 1: float32 keeps 16777216
        -0.0,
    ],
    dtype="float32",
)


# ---------------------------------------------------------------------- coverages (real data, awkward values)
def _piece(src: str, dst: str, window: tuple[tuple[int, int], tuple[int, int]], *, count: int = 1,
           dtype: str | None = None, nodata: float | None = None, edit=None) -> str:  # fmt: skip
    """A window of a real raster as a GeoTIFF (bands repeated to ``count``), its values passed through ``edit``."""
    with rasterio.open(src) as ds:
        a = ds.read(1, window=window)
        transform, crs = ds.window_transform(window), ds.crs
        nodata = ds.nodata if nodata is None else nodata
    a = a.astype(dtype or a.dtype)
    if edit is not None:
        edit(a)
    data = np.stack([a] * count)
    with rasterio.open(dst, "w", driver="GTiff", width=a.shape[1], height=a.shape[0], count=count,
                       dtype=a.dtype, crs=crs, transform=transform, nodata=nodata) as out:  # fmt: skip
        out.write(data)
    return dst


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("formats_exact")


@pytest.fixture(scope="module")
def gpw(folder):
    """São Miguel population counts: float32, EPSG:4326 (lat/lon axes), nodata -3.4028230607370965e+38 (3,366
    pixels); the awkward values replace valid pixels of its first rows."""

    def edit(a):
        rows, cols = np.nonzero(a != a.min())
        a[rows[: len(AWKWARD)], cols[: len(AWKWARD)]] = AWKWARD

    return _piece(str(REALDATA / "sao_miguel/gpw_v411_2020_count_2020.tif"), str(folder / "gpw.tif"),
                  ((0, 48), (0, 96)), edit=edit)  # fmt: skip


@pytest.fixture(scope="module")
def dem(folder):
    """A piece of the Gredos DEM: float32, EPSG:23030, nodata -32768, with a block of nodata, random float32s
    (most of whose shortest decimals are not their values) and the awkward values."""

    def edit(a):
        rng = np.random.default_rng(17)
        a[10:14, 20:30] = -32768
        a[20:30, :] += rng.random((10, a.shape[1])).astype("float32")  # 1.5e3 + [0, 1): 7 awkward digits
        a[30, : len(AWKWARD)] = AWKWARD

    return _piece(str(REALDATA / "gredos_watersheds_dem25/dem25.tif"), str(folder / "dem.tif"),
                  ((150, 190), (200, 260)), edit=edit)  # fmt: skip


@pytest.fixture(scope="module")
def srtm(folder):
    """A piece of the Swellendam SRTM: int16, EPSG:32733, nodata -32768 (a block), negatives and the int16 max."""

    def edit(a):
        a[5:9, 5:12] = -32768
        a[0, :4] = [-32767, -1, 32767, 0]

    return _piece(str(REALDATA / "swellendam_osm_srtm/srtm_41_19.tif"), str(folder / "srtm.tif"),
                  ((300, 340), (400, 450)), nodata=-32768, edit=edit)  # fmt: skip


@pytest.fixture(scope="module")
def relief(folder):
    """A piece of the Alaska shaded relief at its edge: uint8, Alaska Albers in US feet (EPSG:2964), nodata 0 (2,530
    of 4,800 pixels, outside the relief's footprint)."""
    return _piece(str(REALDATA / "alaska_vmap0/SR_50M_alaska_nad.tif"), str(folder / "relief.tif"),
                  ((600, 660), (200, 280)))  # fmt: skip


@pytest.fixture(scope="module")
def gdal_tools():
    if not (os.path.exists(GDALINFO) and os.path.exists(GDAL_TRANSLATE)):
        pytest.skip("the gdal-bin tools (gdalinfo, gdal_translate) are not installed: apt-get install gdal-bin")


# ---------------------------------------------------------------------- readers
def _data_file(r) -> str:
    """What GDAL opens: the data file itself, or its member in the zip."""
    return f"/vsizip/{r.path}/{r.members[0]}" if r.members else r.path


def _read(path: str):
    """``(values, valid, crs, transform, nodata)`` of band 1, as rasterio reads it."""
    with rasterio.open(path) as ds:
        return ds.read(1), ds.read_masks(1) != 0, ds.crs, ds.transform, ds.nodata


def _gdal_translate(path: str, out: str):
    """The system's gdal_translate copies the file to a GeoTIFF, read back (values, mask, CRS) as it wrote them."""
    run = subprocess.run([GDAL_TRANSLATE, "-q", "-of", "GTiff", path, out], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return _read(out)


def _gdalinfo(path: str) -> dict:
    run = subprocess.run([GDALINFO, "-json", path], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _crs_expected(key: str, name: str) -> bool:
    """Where the CRS goes, GDAL reads it: inside the file, beside an .asc (.prj), or in a zip (.aux.xml / .prj)."""
    fmt = get_format(key)
    return fmt.embeds_crs or name.endswith(".zip") or (fmt.reads_prj and name.endswith(fmt.extension))


def _check(got, ref, *, key: str, crs_expected: bool, pixel_tol: float = 1e-6) -> None:
    """``got`` (a reading of the export) holds ``ref``'s values, mask, CRS and transform, as ``key`` can."""
    values, mask, crs, transform, _ = got
    ref_values, ref_mask, ref_crs, ref_transform, _ = ref
    fmt = get_format(key)
    # holds_nodata: the mask is the coverage's, and valid pixels are equal; XYZ: every pixel's value is (pixels
    # without data carry the nodata value); compared as float64, so float32 values must be exact
    keep = ref_mask if fmt.holds_nodata else np.ones_like(ref_mask)
    assert np.array_equal(values[keep].astype("float64"), ref_values[keep].astype("float64"))
    if fmt.holds_nodata:
        assert np.array_equal(mask, ref_mask)
    if crs_expected:
        assert crs is not None and same_crs(CRS.from_wkt(crs.to_wkt()), CRS.from_wkt(ref_crs.to_wkt()))
    else:
        assert crs is None
    if crs_expected or fmt.key in ("aaigrid", "xyz"):  # a bare PNG/JPEG has no position at all
        res = abs(ref_transform.a)
        assert all(abs(g - w) <= pixel_tol * res for g, w in zip(transform[:6], ref_transform[:6], strict=True))


OUTPUTS = {
    "gtiff": (".tif",),
    "cog": (".tif",),
    "aaigrid": (".zip", ".asc"),
    "xyz": (".xyz.zip", ".xyz"),
    "png": (".png.zip", ".png"),
    "jpeg": (".jpg.zip", ".jpg"),
    "netcdf": (".nc",),
    "gpkg": (".gpkg",),
}


def _cases(keys):
    return [pytest.param(k, ext, id=f"{k}{ext}") for k in keys for ext in OUTPUTS[k]]


def _skip_missing(key: str) -> None:
    if not driver_available(key):
        pytest.skip(f"this GDAL build has no {get_format(key).driver} driver")


# ---------------------------------------------------------------------- float32: exact, with CRS, everywhere
@pytest.mark.parametrize("cov", ["gpw", "dem"])
@pytest.mark.parametrize(("key", "ext"), _cases(["gtiff", "cog", "aaigrid", "xyz", "netcdf", "gpkg"]))
def test_float32_reads_back_exactly_with_its_crs(cov, key, ext, request, tmp_path, gdal_tools):
    _skip_missing(key)
    src = request.getfixturevalue(cov)
    r = rastercover.export(src, tmp_path / f"out{ext}", format=key)
    assert r.dtype == "float32"
    path, ref = _data_file(r), _read(src)
    expected = _crs_expected(key, os.path.basename(r.path))
    _check(_read(path), ref, key=key, crs_expected=expected)
    _check(_gdal_translate(path, str(tmp_path / "gdal.tif")), ref, key=key, crs_expected=expected)
    info = _gdalinfo(path)
    wkt = info.get("coordinateSystem", {}).get("wkt", "")
    assert bool(wkt) == expected
    if expected:
        assert same_crs(CRS.from_wkt(wkt), CRS.from_wkt(ref[2].to_wkt()))
    if get_format(key).holds_nodata:
        assert np.float32(info["bands"][0]["noDataValue"]) == np.float32(ref[4])


@pytest.mark.parametrize("cov", ["srtm", "relief"])
@pytest.mark.parametrize(("key", "ext"), _cases(["gtiff", "cog", "aaigrid", "xyz", "png", "netcdf", "gpkg"]))
def test_integers_read_back_exactly_with_their_crs(cov, key, ext, request, tmp_path, gdal_tools):
    _skip_missing(key)
    src = request.getfixturevalue(cov)
    if key == "png" and cov == "srtm":
        with pytest.raises(InputError, match="png holds only uint8 or uint16 pixels and this int16 data"):
            rastercover.export(src, tmp_path / f"out{ext}", format=key)
        return
    r = rastercover.export(src, tmp_path / f"out{ext}", format=key)
    path, ref = _data_file(r), _read(src)
    expected = _crs_expected(key, os.path.basename(r.path))
    _check(_read(path), ref, key=key, crs_expected=expected)
    _check(_gdal_translate(path, str(tmp_path / "gdal.tif")), ref, key=key, crs_expected=expected)
    assert bool(_gdalinfo(path).get("coordinateSystem", {}).get("wkt")) == expected
    if key in ("aaigrid", "xyz"):  # integers stay integers: no decimal point, no exponent
        tokens = _text_values(r, key)
        assert all(t.lstrip("-").isdigit() for t in tokens)


# ---------------------------------------------------------------------- the text formats as text
def _text(r) -> str:
    if r.members:
        with zipfile.ZipFile(r.path) as z:
            return z.read(r.members[0]).decode("ascii")
    with open(r.path, encoding="ascii") as f:
        return f.read()


def _aaigrid(text: str) -> tuple[dict[str, str], list[str]]:
    """Header (lower-case keys) and value tokens of an ASCII grid."""
    header, tokens = {}, []
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0][0].isalpha() and parts[0].lower() not in ("nan", "inf", "-inf"):
            header[parts[0].lower()] = parts[1]
        else:
            tokens += parts
    return header, tokens


def _text_values(r, key: str) -> list[str]:
    text = _text(r)
    if key == "aaigrid":
        return _aaigrid(text)[1]
    return [line.split()[2] for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("cov", ["gpw", "dem"])
@pytest.mark.parametrize("name", ["out.asc", "out.zip", "out.xyz", "out.xyz.zip"])
def test_text_formats_parsed_as_float64_give_each_float32_exactly(cov, name, request, tmp_path):
    src = request.getfixturevalue(cov)
    key = "xyz" if ".xyz" in name else "aaigrid"
    r = rastercover.export(src, tmp_path / name, format=key)
    values, _, _, transform, nodata = _read(src)
    # the test means something: many of these float32s have a shortest decimal that a float64 parse misreads
    shortest = np.array([float(str(v)) for v in values.ravel()], dtype="float64")  # numpy: shortest float32 text
    assert (shortest != values.ravel().astype("float64")).sum() > 100
    parsed = np.array(_text_values(r, key), dtype="float64")  # what QGIS (AAIGRID_DATATYPE=Float64) gets
    assert np.array_equal(parsed, values.ravel().astype("float64"))  # every pixel, nodata ones included
    if key == "aaigrid":
        header, _ = _aaigrid(_text(r))
        assert float(header["nodata_value"]) == np.float64(np.float32(nodata))
        with rasterio.Env(AAIGRID_DATATYPE="Float64"), rasterio.open(_data_file(r)) as ds:
            assert ds.dtypes == ("float64",) and np.array_equal(ds.read(1), values.astype("float64"))
    else:  # XYZ: each line's coordinates are the pixel centre GDAL computes, to the last bit
        lines = np.array([line.split()[:2] for line in _text(r).splitlines()], dtype="float64")
        rows, cols = np.indices(values.shape)
        assert np.array_equal(lines[:, 0], transform.c + (cols.ravel() + 0.5) * transform.a)
        assert np.array_equal(lines[:, 1], transform.f + (rows.ravel() + 0.5) * transform.e)


def _export_array(a: np.ndarray, folder: str, name: str, **options):
    src = os.path.join(folder, "src.tif")
    with rasterio.open(src, "w", driver="GTiff", width=a.shape[1], height=a.shape[0], count=1, dtype=a.dtype,
                       crs="EPSG:32198", transform=Affine(30, 0, 150000.123, 0, -30, 420000.456)) as ds:  # fmt: skip
        ds.write(a[None])
    return rastercover.export(src, os.path.join(folder, name), overwrite=True, **options)


@settings(max_examples=40)
@given(hnp.arrays(np.float32, st.tuples(st.integers(2, 4), st.integers(2, 5)),
                  elements=st.floats(width=32, allow_nan=False, allow_infinity=False)))  # fmt: skip
def test_any_float32_survives_the_text_formats(a):
    with tempfile.TemporaryDirectory() as d:
        for key, name in (("aaigrid", "a.asc"), ("xyz", "a.xyz")):
            r = _export_array(a, d, name)
            parsed = np.array(_text_values(r, key), dtype="float64")
            assert np.array_equal(parsed, a.ravel().astype("float64")), key
            with rasterio.Env(AAIGRID_DATATYPE="Float64"), rasterio.open(r.path) as ds:
                assert np.array_equal(ds.read(1).astype("float64"), a.astype("float64")), key


@settings(max_examples=30)
@given(st.sampled_from(["int8", "uint8", "int16", "uint16", "int32"]).flatmap(
    lambda t: hnp.arrays(t, st.tuples(st.integers(2, 4), st.integers(2, 5)))))  # fmt: skip
def test_integers_stay_integers_in_the_text_formats(a):
    with tempfile.TemporaryDirectory() as d:
        for key, name in (("aaigrid", "a.asc"), ("xyz", "a.xyz")):
            r = _export_array(a, d, name)
            tokens = _text_values(r, key)
            assert all(t.lstrip("-").isdigit() for t in tokens), (key, tokens)
            assert [int(t) for t in tokens] == a.ravel().tolist()
            with rasterio.open(r.path) as ds:
                assert ds.dtypes[0].startswith(("int", "uint")) and np.array_equal(ds.read(1), a)


def test_pixel_types_a_text_format_would_change_are_fitted_or_refused(tmp_path):
    d = str(tmp_path)
    # int8: GDAL writes it as decimals to an ASCII grid; as int16 its values stay integers
    r = _export_array(np.array([[-128, 5], [127, 0]], "int8"), d, "i8.asc")
    assert r.dtype == "int16" and any("int8 values written as int16" in n for n in r.notes)
    assert _text_values(r, "aaigrid") == ["-128", "5", "127", "0"]
    # uint32 beyond int32 and beyond float32: exact as float64 decimals in an ASCII grid, refused as XYZ
    big = np.array([[4294967295, 1], [2, 3]], "uint32")
    r = _export_array(big, d, "u32.asc")
    assert r.dtype == "float64" and [float(t) for t in _text_values(r, "aaigrid")] == big.ravel().tolist()
    with pytest.raises(InputError, match="xyz holds only .* this uint32 data has values .* float32 cannot all hold"):
        _export_array(big, d, "u32.xyz")
    # float64: XYZ writes float32, so only float64 data that float32 holds goes, as float32
    r = _export_array(np.array([[0.5, 1.25], [-3.0, 1e10]]), d, "f64.xyz")
    assert r.dtype == "float32" and any("float64 values written as float32" in n for n in r.notes)
    with pytest.raises(InputError, match=r"float64 data has values \(from 0.1 to 2\) that float32 cannot all hold"):
        _export_array(np.array([[0.1, 2.0], [1.0, 1.5]]), d, "f64b.xyz")
    r = _export_array(np.array([[0.1, 2.0], [1.0, 1.5]]), d, "f64.asc")  # the ASCII grid holds float64
    assert r.dtype == "float64" and [float(t) for t in _text_values(r, "aaigrid")] == [0.1, 2.0, 1.0, 1.5]


def test_xyz_too_small_for_gdal_to_read_is_refused_with_the_reason(tmp_path):
    with pytest.raises(InputError, match=r"xyz needs at least 2 columns and 2 rows .* this export is 5x1 px"):
        _export_array(np.ones((1, 5), "float32"), str(tmp_path), "row.xyz")
    assert sorted(os.listdir(tmp_path)) == ["src.tif"]


# ---------------------------------------------------------------------- where the CRS goes
def test_xyz_zip_carries_its_crs_where_gdal_reads_it(gpw, tmp_path, gdal_tools):
    r = rastercover.export(gpw, tmp_path / "g.xyz.zip")
    assert r.members == ("g.xyz", "g.prj", "g.xyz.aux.xml")  # the .prj for other tools, the .aux.xml for GDAL
    info = _gdalinfo(_data_file(r))
    assert same_crs(CRS.from_wkt(info["coordinateSystem"]["wkt"]), CRS.from_epsg(4326))
    assert info["coordinateSystem"]["dataAxisToSRSAxisMapping"] == [2, 1]  # x is the longitude, as in the grid
    with rasterio.open(_data_file(r)) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.transform.c == pytest.approx(-25.9) and ds.transform.a > 0


def test_an_xyz_zip_declares_the_nodata_it_is_given(dem, tmp_path):
    """``deliver(..., nodata=)`` puts the nodata in the XYZ's ``.aux.xml`` (a bare XYZ cannot declare one)."""
    from rastercover.grid import Grid
    from rastercover.ops.deliver import deliver

    work = tmp_path / "work"
    work.mkdir()
    rasterio.shutil.copy(dem, str(work / "d.xyz"), driver="XYZ")
    values, valid, crs, transform, nodata = _read(dem)
    grid = Grid(values.shape[1], values.shape[0], transform, crs.to_wkt())
    files, members = deliver(get_format("xyz"), str(work / "d.xyz"), str(work), "d", str(tmp_path / "d.zip"), grid,
                             True, None, nodata=nodata)  # fmt: skip
    assert members == ("d.xyz", "d.prj", "d.xyz.aux.xml")
    with rasterio.open(f"/vsizip/{files[0]}/d.xyz") as ds:
        assert ds.nodata == nodata and np.array_equal(ds.read_masks(1) != 0, valid) and ds.crs is not None


def test_aaigrid_keeps_its_prj_and_no_aux(dem, tmp_path):
    r = rastercover.export(dem, tmp_path / "d.zip")
    assert r.members == ("d.asc", "d.prj")  # GDAL's AAIGrid driver reads the .prj


# ---------------------------------------------------------------------- JPEG: the mask is the nodata
def _jpeg_masks(path: str, tmp_path) -> list[np.ndarray]:
    """Pixels without data as rasterio (band mask, dataset mask) and the system's gdal_translate see them."""
    with rasterio.open(path) as ds:
        masks = [ds.read_masks(1) == 0, ds.dataset_mask() == 0]
    if os.path.exists(GDAL_TRANSLATE):
        masks.append(_gdal_translate(path, str(tmp_path / "jpeg.tif"))[1] == 0)
    return masks


@pytest.mark.parametrize("cov", ["relief", "dem", "gpw"])
@pytest.mark.parametrize("ext", [".jpg", ".jpg.zip"])
def test_jpeg_mask_covers_exactly_the_pixels_without_data(cov, ext, request, tmp_path):
    src = request.getfixturevalue(cov)
    r = rastercover.export(src, tmp_path / f"out{ext}")
    values, *_, nodata = _read(src)
    # exactly the nodata value (GDAL's own mask of the GeoTIFF also hides -3.4028234663852886e+38, the float32
    # lowest, beside gpw's nodata -3.4028230607370965e+38: rastercover keeps that value as data)
    valid = values != nodata
    assert (~valid).sum() > 20 and valid.sum() > 20
    for mask in _jpeg_masks(_data_file(r), tmp_path):
        assert np.array_equal(mask, ~valid)
    with rasterio.open(_data_file(r)) as ds:
        assert (ds.crs is not None) == ext.endswith(".zip")


def test_jpeg_of_a_clip_masks_the_pixels_outside(relief, tmp_path):
    with rasterio.open(relief) as ds:
        b = ds.bounds
    clip = shapely.Point((b.left + b.right) / 2, (b.top + b.bottom) / 2).buffer((b.right - b.left) / 3)
    r = rastercover.export(relief, tmp_path / "c.jpg", clip=clip)
    kept = rastercover.export(relief, tmp_path / "c.tif", clip=clip)
    with rasterio.open(kept.path) as ds:
        want = ds.read_masks(1) == 0
    assert want.sum() > 100
    for mask in _jpeg_masks(r.path, tmp_path):
        assert np.array_equal(mask, want)


def test_three_band_jpeg_with_pixels_without_data_is_refused(folder, relief, tmp_path):
    rgb = _piece(relief, str(folder / "rgb.tif"), ((0, 60), (0, 80)), count=3)
    with pytest.raises(InputError, match=r"JPEG keeps pixels without data only as a mask, which GDAL writes for 1 "
                       r"band, and this 3-band export has pixels without data: export 1 band"):  # fmt: skip
        rastercover.export(rgb, tmp_path / "rgb.jpg")
    assert os.listdir(tmp_path) == []
    # the same image where every pixel has data goes (its declared nodata is never met)
    land = _piece(relief, str(folder / "rgb_land.tif"), ((0, 8), (60, 80)), count=3)
    with rasterio.open(land) as ds:
        assert ds.read_masks(1).all()
    r = rastercover.export(land, tmp_path / "land.jpg")
    with rasterio.open(r.path) as ds:
        assert ds.count == 3 and ds.dataset_mask().all()


# ---------------------------------------------------------------------- verify_copy checks what GDAL reads
def test_verify_copy_reads_an_ascii_grid_as_float64(dem, tmp_path):
    short = str(tmp_path / "short.asc")
    rasterio.shutil.copy(dem, short, driver="AAIGrid", significant_digits=9)  # the old options: float32-close
    with rasterio.open(short) as ds:  # GDAL's float32 reading cannot tell
        assert np.array_equal(ds.read(1), _read(dem)[0])
    with pytest.raises(OutputError, match=r"short.asc: writing failed .*band 1 differs from row 0"):
        verify_copy(dem, short, "short.asc")
    exact = str(tmp_path / "exact.asc")
    rasterio.shutil.copy(dem, exact, driver="AAIGrid")
    verify_copy(dem, exact, "exact.asc")


def test_verify_copy_checks_a_lossy_copy_s_mask(relief, tmp_path):
    no_mask = str(tmp_path / "no_mask.jpg")
    rasterio.shutil.copy(relief, no_mask, driver="JPEG", internal_mask="NO")
    with pytest.raises(InputError, match="JPEG keeps pixels without data only as a mask"):
        verify_copy(relief, no_mask, "no_mask.jpg", values=False)
    other = str(tmp_path / "other.tif")
    _piece(relief, other, ((0, 60), (0, 80)), edit=lambda a: a.__setitem__((slice(0, 5), slice(None)), 0))
    wrong = str(tmp_path / "wrong.jpg")
    rasterio.shutil.copy(other, wrong, driver="JPEG")  # a mask, of other pixels
    with pytest.raises(OutputError, match="wrong.jpg: writing failed .*the mask of band 1 differs"):
        verify_copy(relief, wrong, "wrong.jpg", values=False)
    right = str(tmp_path / "right.jpg")
    rasterio.shutil.copy(relief, right, driver="JPEG")
    verify_copy(relief, right, "right.jpg", values=False)


# ---------------------------------------------------------------------- the table says what each format loses
def test_every_format_says_what_it_keeps_and_loses():
    for fmt in FORMATS:
        assert fmt.notes, fmt.key
        if not fmt.embeds_crs and not fmt.reads_prj:  # the CRS only in a zip: the notes say so
            assert ".zip" in fmt.notes and "CRS" in fmt.notes, fmt.key
    assert "exact" in get_format("aaigrid").notes and "AAIGRID_DATATYPE=Float64" in get_format("aaigrid").notes
    assert "mask" in get_format("jpeg").notes and "no nodata" in get_format("xyz").notes


def test_gdal_tools_see_the_same_crs_as_the_coverage_for_every_zip(gpw, relief, tmp_path, gdal_tools):
    """The zips of the formats that do not embed their CRS, as ``gdalinfo /vsizip/...`` shows them."""
    for key, src in (("aaigrid", gpw), ("xyz", gpw), ("png", relief), ("jpeg", relief)):
        fmt = get_format(key)
        r = rastercover.export(src, tmp_path / f"{key}{'' if fmt.zip_default else fmt.extension}.zip")
        wkt = _gdalinfo(_data_file(r))["coordinateSystem"]["wkt"]
        assert same_crs(CRS.from_wkt(wkt), CRS.from_wkt(_read(src)[2].to_wkt())), key
