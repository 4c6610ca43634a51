"""Preview images of coverages (server/preview.py): size, transparency, colours, bounded reads."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from rastercover.exporting import open_coverage
from rastercover.grid import Grid
from rastercover.server.preview import CHUNK_PIXELS, VIRIDIS, decimate, preview_bounds_wgs84, render_preview


class ArrayCoverage:
    """An in-memory coverage that records its reads."""

    def __init__(self, data: np.ndarray, *, nodata=None, tile_size=(64, 64), crs="EPSG:32198"):
        self.data = data if data.ndim == 3 else data[None]
        _, h, w = self.data.shape
        self.grid = Grid(w, h, Affine(10, 0, 1000, 0, -10, 50000), crs, tile_size)
        self.count = self.data.shape[0]
        self.dtype = self.data.dtype
        self.nodata = nodata
        self.band_names = ("",) * self.count
        self.reads = []

    def describe(self) -> str:
        return "array"

    def read(self, window, bands=None):
        self.reads.append(window)
        idx = [b - 1 for b in bands] if bands is not None else list(range(self.count))
        return self.data[idx][(slice(None), *window.slices)].copy()


class Spy:
    """A coverage whose reads are recorded (delegates everything else)."""

    def __init__(self, inner):
        self.inner = inner
        self.reads = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def read(self, window, bands=None):
        self.reads.append(window)
        return self.inner.read(window, bands)


def decode(png: bytes) -> np.ndarray:
    """(bands, rows, cols) of a PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.MemoryFile(png) as mem, mem.open() as ds:
            assert ds.driver == "PNG"
            return ds.read()


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


@pytest.mark.parametrize(
    ("width", "height", "max_size", "expected"),
    [(1000, 300, 256, (75, 250)), (300, 1000, 256, (250, 75)), (100, 50, 512, (50, 100)), (513, 513, 512, (257, 257))],
)
def test_size_fits(width, height, max_size, expected):
    cov = ArrayCoverage(np.arange(width * height, dtype="float32").reshape(height, width))
    img = decode(render_preview(cov, max_size=max_size))
    assert img.shape == (4, *expected)
    assert max(img.shape[1:]) <= max_size


def test_decimate_is_the_strided_coverage():
    rng = np.random.default_rng(1)
    data = rng.integers(0, 1000, (2, 301, 457)).astype("int16")
    for tile in [(64, 64), (100, 37), (457, 1), (13, 301)]:
        cov = ArrayCoverage(data, tile_size=tile)
        for step in [1, 2, 3, 7, 50, 400, 1000]:
            assert np.array_equal(decimate(cov, step), data[:, ::step, ::step]), (tile, step)
            assert np.array_equal(decimate(cov, step, [2]), data[1:2, ::step, ::step])


def test_alpha_is_zero_exactly_on_nodata():
    rng = np.random.default_rng(2)
    data = rng.uniform(0, 100, (40, 60)).astype("float32")
    hole = rng.random((40, 60)) < 0.3
    data[hole] = -9999
    data[0, :5] = np.nan
    img = decode(render_preview(ArrayCoverage(data, nodata=-9999), max_size=512))
    transparent = hole.copy()
    transparent[0, :5] = True
    assert np.array_equal(img[3] == 0, transparent)
    assert np.all(img[3][~transparent] == 255)
    assert np.all(img[:3, transparent] == 0)


def test_all_nodata_is_all_transparent():
    img = decode(render_preview(ArrayCoverage(np.zeros((10, 10), "uint8"), nodata=0)))
    assert img.shape == (4, 10, 10) and not img[3].any()


def test_viridis_ramp_is_monotone():
    assert VIRIDIS.shape == (256, 3) and VIRIDIS.dtype == np.uint8
    lum = luminance(VIRIDIS.astype(float))
    assert np.all(np.diff(lum) > -0.1)  # rising, but for the rounding to whole 0..255 values
    assert np.all(lum[8::8] > lum[:-8:8])
    assert len({tuple(c) for c in VIRIDIS}) >= 250


def test_one_band_ramp_is_monotone_in_value():
    data = np.tile(np.arange(200, dtype="float64"), (5, 1))  # values rise left to right
    img = decode(render_preview(ArrayCoverage(data), max_size=512))
    lum = luminance(img[:3, 0, :].T.astype(float))
    assert np.all(np.diff(lum) > -0.1)
    assert lum[-1] - lum[0] > 150  # stretched: the whole ramp is used
    assert np.array_equal(img[:3, 0, 0], VIRIDIS[0]) and np.array_equal(img[:3, 0, -1], VIRIDIS[-1])


def test_stretch_clips_outliers_to_the_percentiles():
    data = np.tile(np.linspace(0, 1, 100), (3, 1))
    data[0, 0], data[0, 1] = -1e9, 1e9
    img = decode(render_preview(ArrayCoverage(data)))
    assert np.array_equal(img[:3, 0, 0], VIRIDIS[0]) and np.array_equal(img[:3, 0, 1], VIRIDIS[-1])
    assert len({tuple(c) for c in img[:3].reshape(3, -1).T}) > 50  # outliers did not flatten the ramp


def test_constant_band_is_mid_ramp():
    img = decode(render_preview(ArrayCoverage(np.full((4, 4), 7, "uint16"))))
    assert np.all(img[:3].reshape(3, -1).T == VIRIDIS[128]) and np.all(img[3] == 255)


def test_three_bands_are_rgb_each_stretched():
    ramp = np.tile(np.arange(100, dtype="uint16"), (10, 1))
    data = np.stack([ramp * 10 + 1000, ramp[:, ::-1], np.full_like(ramp, 3)])
    extra = np.full((1, 10, 100), 500, "uint16")
    for bands in (data, np.concatenate([data, extra])):  # a 4th band is ignored
        img = decode(render_preview(ArrayCoverage(bands)))
        r, g, b = img[:3, 0, :].astype(int)
        assert np.all(np.diff(r) >= 0) and r[0] == 0 and r[-1] == 255
        assert np.all(np.diff(g) <= 0) and g[0] == 255 and g[-1] == 0
        assert np.all(b == 128)  # constant: mid tone
        assert np.all(img[3] == 255)


def test_rgb_transparent_only_where_every_band_is_nodata():
    data = np.ones((3, 4, 4), "uint8") * 50
    data[:, 0, 0] = 0  # all bands nodata
    data[0, 1, 1] = 0  # one band only
    img = decode(render_preview(ArrayCoverage(data, nodata=0)))
    assert img[3, 0, 0] == 0 and img[3, 1, 1] == 255 and (img[3] == 0).sum() == 1


def test_big_coverage_is_read_in_bounded_chunks(tmp_path):
    path = tmp_path / "big.tif"
    width, height = 4000, 3000
    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint8", tiled=True,
        blockxsize=256, blockysize=256, crs="EPSG:32198", transform=Affine(10, 0, 0, 0, -10, 30000),
    ) as ds:  # fmt: skip
        for row in range(0, height, 500):
            ds.write(np.full((1, 500, width), row // 500 * 40, "uint8"), window=((row, row + 500), (0, width)))
    cov = Spy(open_coverage(str(path)))
    img = decode(render_preview(cov, max_size=512))
    assert img.shape == (4, 375, 500)
    sizes = [w.width * w.height for w in cov.reads]
    assert len(cov.reads) >= 12  # one row of tiles (at least) per read
    assert max(sizes) <= CHUNK_PIXELS and max(sizes) <= 256 * width
    assert sum(sizes) <= width * height  # no pixel read twice
    for w in cov.reads:  # whole tiles across
        assert w.col_off % 256 == 0 and (w.width % 256 == 0 or w.col_off + w.width == width)
    lum = luminance(img[:3, :, 0].T.astype(float))
    assert np.all(np.diff(lum) > -0.1)  # values rise down the image


def test_wide_coverage_reads_are_bounded():
    cov = ArrayCoverage(np.zeros((3, 20_000), "uint8"), tile_size=(16, 1))
    decimate(cov, 1)
    assert max(w.width * w.height for w in cov.reads) <= CHUNK_PIXELS
    cov = ArrayCoverage(np.zeros((2, 3000, 3000), "uint8"), tile_size=(256, 16))
    render_preview(cov, max_size=100)  # a stride of 30 rows: one row at most per row of tiles
    assert {w.height for w in cov.reads} == {1} and len(cov.reads) == 100


def test_preview_bounds_wgs84():
    cov = ArrayCoverage(np.zeros((10, 20), "uint8"), crs="EPSG:4326")
    cov.grid = Grid(20, 10, Affine(0.5, 0, -10, 0, -0.5, 50), "EPSG:4326")
    assert preview_bounds_wgs84(cov) == pytest.approx((-10, 45, 0, 50))
    cov.grid = Grid(20, 10, Affine(1000, 0, 500000, 0, -1000, 5000000), "EPSG:32618")
    w, s, e, n = preview_bounds_wgs84(cov)
    assert -76 < w < e < -74 and 45 < s < n < 45.2
    cov.grid = Grid(20, 10, Affine(1, 0, 0, 0, -1, 10), None)
    assert preview_bounds_wgs84(cov) is None


def test_bad_max_size():
    with pytest.raises(ValueError):
        render_preview(ArrayCoverage(np.zeros((2, 2))), max_size=0)
