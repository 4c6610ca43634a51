"""PostGIS raster WKB codec: round trips in Python, hand-built buffers, and PostGIS itself as the oracle."""

from __future__ import annotations

import math
import os
import struct
import tempfile

import numpy as np
import pytest
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rastercover.errors import InputError, SourceError, UnknownOptionError
from rastercover.io.wkb_raster import (
    PIXEL_TYPES,
    OutDbRasterError,
    RasterTile,
    WkbRasterError,
    decode_raster,
    decode_rasters,
    encode_raster,
    numpy_dtype_of,
    pixel_type_of,
)

SKEWED = Affine(2, 0.5, 10, 0.25, -3, 20)  # x = 10 + 2 col + 0.5 row, y = 20 + 0.25 col - 3 row

# pixel type -> (storage format for struct, a nodata value, lowest and highest pixel value)
CASES = {
    "1BB": ("B", 0, 0, 1),
    "2BUI": ("B", 3, 0, 3),
    "4BUI": ("B", 15, 0, 15),
    "8BSI": ("b", -128, -128, 127),
    "8BUI": ("B", 255, 0, 255),
    "16BSI": ("h", -32768, -32768, 32767),
    "16BUI": ("H", 65535, 0, 65535),
    "32BSI": ("i", -2147483648, -2147483648, 2147483647),
    "32BUI": ("I", 4294967295, 0, 4294967295),
    "16BF": ("e", -9999.0, -1000, 1000),
    "32BF": ("f", -9999.1, -1e6, 1e6),  # -9999.1 is not a float32: stored rounded, as PostGIS does
    "64BF": ("d", -9999.1, -1e6, 1e6),
}
# PostGIS's codes (rt_pixtype): 32BF is 10 and 64BF 11, not the 9 and 10 of the RFC's table; 9 is 16BF
CODES = {
    "1BB": 0, "2BUI": 1, "4BUI": 2, "8BSI": 3, "8BUI": 4, "16BSI": 5, "16BUI": 6, "32BSI": 7, "32BUI": 8,
    "16BF": 9, "32BF": 10, "64BF": 11,
}  # fmt: skip
POSTGIS_TYPES = [t for t in CASES if t != "16BF"]  # 16BF is only in newer PostGIS than the CI's 3.3


def sample(pixel_type: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random pixels spanning the whole range of a pixel type (both ends included), in its numpy dtype."""
    _, _, lo, hi = CASES[pixel_type]
    rng = np.random.default_rng(seed)
    dtype = numpy_dtype_of(pixel_type)
    if dtype.kind == "f":
        values = rng.uniform(lo, hi, shape).round(2)
    else:
        values = rng.integers(lo, hi, shape, endpoint=True)
    values = values.astype(dtype)
    flat = values.reshape(-1)
    flat[: min(2, flat.size)] = [lo, hi][: flat.size]
    return values


def wkb_header(nbands, transform, srid, width, height, order="<", endian=None, version=0) -> bytes:
    """A raster WKB header written field by field from the RFC (an oracle independent of the module)."""
    a, b, c, d, e, f = transform[:6]
    endian = (1 if order == "<" else 0) if endian is None else endian
    return struct.pack(order + "BHHddddddiHH", endian, version, nbands, a, e, c, f, b, d, srid, width, height)


# ------------------------------------------------------------------------------------------ pure round trips


@pytest.mark.parametrize("pixel_type", PIXEL_TYPES)
def test_round_trip_every_pixel_type(pixel_type):
    fmt, nodata, _, _ = CASES[pixel_type]
    data = sample(pixel_type, (1, 4, 5))
    wkb = encode_raster(data, SKEWED, 32198, nodata, pixel_type)
    size = struct.calcsize(fmt)
    assert len(wkb) == 61 + 1 + size + 20 * size
    assert wkb[:61] == wkb_header(1, SKEWED, 32198, 5, 4)
    assert wkb[61] == 0x40 | CODES[pixel_type]
    tile = decode_raster(wkb)
    assert tile.pixel_types == (pixel_type,)
    assert tile.data.dtype == numpy_dtype_of(pixel_type)
    np.testing.assert_array_equal(tile.data, data)
    assert tile.data.flags.writeable
    expected_nodata = float(np.array(nodata, numpy_dtype_of(pixel_type)))  # float types round to their precision
    assert tile.nodata == (expected_nodata,)
    assert tile.transform == SKEWED and tile.srid == 32198
    assert (tile.count, tile.height, tile.width) == (1, 4, 5)
    assert tile.to_wkb() == wkb


def test_pixel_type_codes_follow_postgis_not_the_rfc():
    """32BF is code 10 and 64BF code 11 (the RFC's table says 9 and 10); 9 is 16BF in newer PostGIS."""
    codes = {t: decode_raster(encode_raster(sample(t, (1, 1)), Affine.identity(), 0, None, t)) for t in PIXEL_TYPES}
    assert all(c.pixel_types == (t,) for t, c in codes.items())
    raw = {t: encode_raster(np.zeros((1, 1), numpy_dtype_of(t)), Affine.identity(), 0, None, t)[61] for t in CASES}
    assert raw == CODES


def test_encode_matches_postgis_bytes():
    """The exact bytes of ST_AsBinary(ST_AddBand(ST_MakeEmptyRaster(3,2,10,20,2,-3,0.5,0.25,4326),'16BSI',7,-9))."""
    postgis = bytes.fromhex(
        "0100000100000000000000004000000000000008c000000000000024400000000000003440000000000000e03f000000000000d03f"
        "e61000000300020045f7ff070007000700070007000700"
    )
    assert encode_raster(np.full((2, 3), 7, np.int16), SKEWED, 4326, -9) == postgis
    tile = decode_raster(postgis)
    assert tile.transform == SKEWED and tile.nodata == (-9.0,) and tile.pixel_types == ("16BSI",)
    assert tile.transform @ (1, 1) == (12.5, 17.25)  # ST_RasterToWorldCoord(r, 2, 2)


def test_several_bands_of_mixed_types():
    data = np.stack([sample("8BUI", (3, 4)), sample("16BSI", (3, 4), 1), sample("32BF", (3, 4), 2)]).astype("float32")
    data[2, 0, 0] = np.nan
    types = ("8BUI", "16BSI", "32BF")
    wkb = encode_raster(data, SKEWED, 2154, [None, -9, float("nan")], types)
    tile = decode_raster(wkb)
    assert tile.pixel_types == types
    assert tile.data.dtype == np.float32  # result_type(uint8, int16, float32)
    np.testing.assert_array_equal(tile.data, data)
    assert tile.nodata[:2] == (None, -9.0) and math.isnan(tile.nodata[2])
    assert tile.to_wkb() == wkb
    # int8 with uint8 gives int16, int32 with float32 gives float64
    two = decode_raster(encode_raster(np.zeros((2, 1, 1), "int8"), SKEWED, 0, None, ["8BSI", "8BUI"]))
    assert two.data.dtype == np.int16
    two = decode_raster(encode_raster(np.zeros((2, 1, 1), "int32"), SKEWED, 0, None, ["32BSI", "32BF"]))
    assert two.data.dtype == np.float64


def test_nodata_none_value_and_nan():
    data = np.arange(6, dtype="float32").reshape(2, 3)
    none = encode_raster(data, SKEWED, 0, None)
    assert none[61] == 10 and none[62:66] == b"\0\0\0\0"  # has-nodata flag off, 0 stored
    assert decode_raster(none).nodata == (None,)
    value = encode_raster(data, SKEWED, 0, 5)
    assert value[61] == 0x40 | 10 and struct.unpack_from("<f", value, 62) == (5.0,)
    assert decode_raster(value).nodata == (5.0,)
    nan = encode_raster(data, SKEWED, 0, np.nan)
    assert nan[62:66] == bytes.fromhex("0000c07f")  # the NaN PostGIS writes
    assert math.isnan(decode_raster(nan).nodata[0])
    # the all-nodata flag is never set, even when every pixel is nodata
    assert encode_raster(np.full((2, 2), 5, "uint8"), SKEWED, 0, 5)[61] == 0x40 | 4


def test_nodata_of_a_band_without_the_flag_is_ignored():
    wkb = wkb_header(1, SKEWED, 0, 2, 1) + bytes([4, 7, 7, 8])  # nodata byte 7 but has-nodata flag off
    tile = decode_raster(wkb)
    assert tile.nodata == (None,) and tile.data.tolist() == [[[7, 8]]]


def test_all_nodata_flag_fills_the_band_with_nodata():
    """PostGIS trusts the flag: ST_Value gives NULL for every pixel, whatever the bytes say (checked on 3.3)."""
    wkb = wkb_header(1, SKEWED, 0, 2, 1) + bytes([0x40 | 0x20 | 4, 9, 5, 6])
    assert decode_raster(wkb).data.tolist() == [[[9, 9]]]
    # without the has-nodata flag PostGIS ignores the all-nodata flag too
    wkb = wkb_header(1, SKEWED, 0, 2, 1) + bytes([0x20 | 4, 9, 5, 6])
    assert decode_raster(wkb).data.tolist() == [[[5, 6]]]


@pytest.mark.parametrize("pixel_type", ["1BB", "2BUI", "4BUI"])
def test_sub_byte_nodata_keeps_the_low_bits_like_postgis(pixel_type):
    wkb = wkb_header(1, SKEWED, 0, 1, 1) + bytes([0x40 | CODES[pixel_type], 0xFF, 0])
    assert decode_raster(wkb).nodata == (float(CASES[pixel_type][3]),)


def test_big_endian_decode():
    """An XDR buffer built by hand: header and every multi-byte value big-endian."""
    t = Affine(0.5, 0.125, -71.25, -0.0625, -0.5, 46.75)
    b1 = sample("16BSI", (3, 2))
    b2 = sample("64BF", (3, 2), 1)
    b3 = sample("32BUI", (3, 2), 2)
    wkb = (
        wkb_header(3, t, 4269, 2, 3, order=">")
        + bytes([0x40 | 5]) + struct.pack(">h", -32768) + b1.astype(">i2").tobytes()
        + bytes([11]) + struct.pack(">d", 0.0) + b2.astype(">f8").tobytes()
        + bytes([0x40 | 8]) + struct.pack(">I", 4294967295) + b3.astype(">u4").tobytes()
    )  # fmt: skip
    tile = decode_raster(wkb)
    assert tile.transform == t and tile.srid == 4269
    assert tile.pixel_types == ("16BSI", "64BF", "32BUI")
    assert tile.nodata == (-32768.0, None, 4294967295.0)
    assert tile.data.dtype == np.float64 and tile.data.dtype.isnative
    np.testing.assert_array_equal(tile.data, np.stack([b1, b2, b3]))
    little = encode_raster(tile.data, t, 4269, tile.nodata, tile.pixel_types)
    assert little[0] == 1 and decode_raster(little).to_wkb() == little


def test_input_forms_hex_text_memoryview_bytearray():
    data = sample("16BUI", (2, 3))
    wkb = encode_raster(data, SKEWED, 3857, 0)
    for form in (wkb.hex().upper(), wkb.hex(), memoryview(wkb), bytearray(wkb), memoryview(b"xx" + wkb)[2:]):
        tile = decode_raster(form)
        np.testing.assert_array_equal(tile.data[0], data)
        assert tile.srid == 3857
    assert [t.data.shape for t in decode_rasters([wkb, wkb.hex()])] == [(1, 2, 3), (1, 2, 3)]


def test_encode_accepts_two_dimensional_non_contiguous_and_big_endian_data():
    big = sample("32BSI", (6, 8)).astype(">i4")
    window = big[1:5:2, ::3]  # neither C-contiguous nor native
    tile = decode_raster(encode_raster(window, SKEWED, 0, None))
    assert tile.pixel_types == ("32BSI",) and tile.data.dtype == np.int32
    np.testing.assert_array_equal(tile.data[0], window)
    # a wider integer type is accepted when the values fit the pixel type asked for
    ints = np.array([[0, 200]], np.int64)
    assert decode_raster(encode_raster(ints, SKEWED, 0, None, "8BUI")).data.tolist() == [[[0, 200]]]
    whole = np.array([[-1.0, 300.0]])
    assert decode_raster(encode_raster(whole, SKEWED, 0, -1, "16BSI")).data.tolist() == [[[-1, 300]]]


def test_bool_is_1bb():
    mask = np.array([[True, False, True]])
    tile = decode_raster(encode_raster(mask, SKEWED, 0, None))
    assert tile.pixel_types == ("1BB",) and tile.data.dtype == bool
    np.testing.assert_array_equal(tile.data[0], mask)


def test_empty_raster_without_bands():
    """ST_MakeEmptyRaster(2, 1, 0, 0, 1, -1, 0, 0, 0) as PostGIS sends it."""
    tile = decode_raster(wkb_header(0, Affine(1, 0, 0, 0, -1, 0), 0, 2, 1))
    assert tile.data.shape == (0, 1, 2) and tile.nodata == () and tile.pixel_types == ()
    assert tile.to_wkb() == wkb_header(0, Affine(1, 0, 0, 0, -1, 0), 0, 2, 1)


@given(
    hnp.arrays(
        st.sampled_from(["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64"]),
        hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=6),
    ),
    st.integers(0, 999999),
)
def test_round_trip_any_array(data, srid):
    tile = decode_raster(encode_raster(data, SKEWED, srid, None))
    assert tile.data.dtype == data.dtype and tile.srid == srid
    np.testing.assert_array_equal(tile.data, data)


# ------------------------------------------------------------------------------------------ errors


def test_pixel_type_of_and_numpy_dtype_of():
    assert [pixel_type_of(numpy_dtype_of(t)) for t in PIXEL_TYPES if t not in ("2BUI", "4BUI", "16BF")] == [
        "1BB", "8BSI", "8BUI", "16BSI", "16BUI", "32BSI", "32BUI", "32BF", "64BF"
    ]  # fmt: skip
    assert numpy_dtype_of("2bui") == np.uint8
    with pytest.raises(ValueError, match="no 64-bit integer type.*int32.*float64"):
        pixel_type_of(np.int64)
    with pytest.raises(ValueError, match="no 64-bit integer type"):
        pixel_type_of("uint64")
    with pytest.raises(ValueError, match="16BF"):
        pixel_type_of("float16")
    with pytest.raises(ValueError, match="complex128"):
        pixel_type_of(complex)
    with pytest.raises(UnknownOptionError, match="'32BIT'.*1BB, 2BUI"):
        numpy_dtype_of("32BIT")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((2, 2), np.int64), SKEWED, 0, None), "no 64-bit integer type"),
        ((np.zeros((1, 0, 3), "uint8"), SKEWED, 0, None), "1 to 65535 pixels wide and high, not 3x0"),
        ((np.zeros((1, 65536), "uint8"), SKEWED, 0, None), "not 65536x1"),
        ((np.zeros(4, "uint8"), SKEWED, 0, None), r"\(bands, height, width\)"),
        ((np.zeros((2, 2), "uint8"), SKEWED, 0, 300), "nodata 300.0 does not fit PostGIS pixel type 8BUI"),
        ((np.zeros((2, 2), "uint8"), SKEWED, 0, -1), "nodata -1.0 does not fit"),
        ((np.zeros((2, 2), "int16"), SKEWED, 0, 2.5), r"nodata 2.5 .* 16BSI \(-32768 to 32767, whole numbers\)"),
        ((np.zeros((2, 2), "int16"), SKEWED, 0, np.nan), "nodata nan does not fit"),
        ((np.zeros((2, 2), "float32"), SKEWED, 0, 1e39), "nodata 1e[+]39 does not fit PostGIS pixel type 32BF"),
        ((np.zeros((2, 2), "uint8"), SKEWED, 0, 4, "2BUI"), r"nodata 4.0 .* 2BUI \(0 to 3"),
        ((np.array([[0.0, 2.5]]), SKEWED, 0, None, "8BUI"), "values of data .float64. do not fit .* 8BUI"),
        ((np.array([[0.0, np.nan]]), SKEWED, 0, None, "32BSI"), "do not fit PostGIS pixel type 32BSI"),
        ((np.array([[0, 4]], "uint8"), SKEWED, 0, None, "2BUI"), r"2BUI \(0 to 3, whole numbers\)"),
        ((np.array([[-1, 4]], "int16"), SKEWED, 0, None, "16BUI"), "16BUI"),
        ((np.array([[0, 2**31]], "int64"), SKEWED, 0, None, "32BSI"), "32BSI"),
        ((np.zeros((2, 1, 1), "uint8"), SKEWED, 0, [1, 2, 3]), "nodata has 3 values for 2 bands"),
        ((np.zeros((2, 1, 1), "uint8"), SKEWED, 0, None, ["8BUI"]), "pixel_type has 1 values for 2 bands"),
        ((np.zeros((1, 1), "uint8"), SKEWED, 2**31, None), "SRID 2147483648"),
        ((np.zeros((1, 1), "U1"), SKEWED, 0, None), "no PostGIS pixel type for numpy dtype <U1"),
    ],
)
def test_encode_errors(args, message):
    with pytest.raises(InputError, match=message) as info:
        encode_raster(*args)
    assert isinstance(info.value, ValueError)


def test_encode_unknown_pixel_type():
    with pytest.raises(UnknownOptionError, match="unknown PostGIS pixel type '8BIT': use one of 1BB"):
        encode_raster(np.zeros((1, 1), "uint8"), SKEWED, 0, None, "8BIT")


GOOD = encode_raster(np.array([[1, 2]], "int16"), SKEWED, 0, -1)  # header, 0x45, ff ff, 01 00, 02 00


@pytest.mark.parametrize(
    ("wkb", "message"),
    [
        (GOOD[:60], "60 bytes long, shorter than the 61-byte header"),
        (b"\x02" + GOOD[1:], "starts with byte 2, not an endianness flag"),
        (GOOD[:1] + b"\x01\x00" + GOOD[3:], "version 1 is not supported"),
        (GOOD[:61], "ends before band 1 of 1"),
        (GOOD[:61] + b"\x0c" + GOOD[62:], "band 1 of the raster WKB has unknown pixel type code 12"),
        (GOOD[:63], "ends inside the nodata value of band 1"),
        (GOOD[:-1], "ends inside the pixels of band 1: 3 bytes left, 4 needed"),
        (GOOD + b"\0", "1 unexpected bytes after its last band"),
        (wkb_header(1, SKEWED, 0, 2, 1) + bytes([0, 0, 1, 2]), "pixel values above 1, the 1BB maximum"),
        (wkb_header(1, SKEWED, 0, 2, 1) + bytes([2, 0, 1, 16]), "pixel values above 15, the 4BUI maximum"),
        (wkb_header(1, SKEWED, 0, 2, 1) + bytes([0x80 | 4, 0, 0]) + b"/no/end", "ends inside the out-db file path"),
        ("01zz", "not hexadecimal"),
    ],
)
def test_decode_errors(wkb, message):
    with pytest.raises(WkbRasterError, match=message) as info:
        decode_raster(wkb)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SourceError)


def test_out_db_band_raises():
    in_db = bytes([0x40 | 4, 0]) + bytes([1, 2])
    out_db = bytes([0x80 | 0x40 | 5]) + struct.pack("<h", -7) + struct.pack("<b", 2) + b"/data/dem.tif\0"
    wkb = wkb_header(2, SKEWED, 0, 2, 1) + in_db + out_db
    with pytest.raises(OutDbRasterError, match=r"^band 2 of this raster is out-db \(file /data/dem.tif\)") as info:
        decode_raster(wkb)
    assert (info.value.band, info.value.path, info.value.file_band) == (2, "/data/dem.tif", 3)
    assert isinstance(info.value, ValueError)


def test_raster_tile_is_a_value_with_properties():
    t = RasterTile(np.zeros((2, 3, 4), "uint8"), SKEWED, 0, (None, None), ("8BUI", "8BUI"))
    assert (t.count, t.height, t.width) == (2, 3, 4)
    with pytest.raises(AttributeError):
        t.srid = 4326


# ------------------------------------------------------------------------------------------ against PostGIS

META = "(ST_MetaData(r)).*, (ST_BandMetaData(r, 1)).*"


def fetch(conn, query, params=()):
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchone()


def assert_meta(row, tile, width, height, transform, srid, numbands):
    assert (row["width"], row["height"], row["numbands"], row["srid"]) == (width, height, numbands, srid)
    postgis = (row["scalex"], row["skewx"], row["upperleftx"], row["skewy"], row["scaley"], row["upperlefty"])
    assert postgis == tuple(transform)[:6]
    assert (tile.width, tile.height, tile.count) == (width, height, numbands)
    assert (tile.srid, tile.transform) == (srid, transform)


@pytest.mark.parametrize("pixel_type", POSTGIS_TYPES)
def test_decode_what_postgis_builds(pg_conn, pixel_type):
    """A raster made by ST_MakeEmptyRaster/ST_AddBand/ST_SetValues: same pixels, metadata and nodata as PostGIS."""
    _, nodata, _, _ = CASES[pixel_type]
    values = sample(pixel_type, (3, 4), seed=7)
    values[2, 3] = nodata  # one pixel at the nodata value (ST_DumpValues(..., false) still gives it)
    row = fetch(
        pg_conn,
        "with t as (select ST_SetValues(ST_AddBand(ST_MakeEmptyRaster(4, 3, 10, 20, 2, -3, 0.5, 0.25, 32198), "
        "%s::text, 0, %s::float8), 1, 1, 1, %s::float8[]) as r) "
        f"select ST_AsBinary(r) as wkb, r::text as hex, ST_DumpValues(r, 1, false) as vals, {META}, "
        "ST_Value(r, 1, 4, 3) as nodata_pixel, ST_Value(r, 1, 1, 1, false) as first_pixel from t",
        (pixel_type, float(nodata), values.astype(float).tolist()),
    )
    tile = decode_raster(row["wkb"])
    assert_meta(row, tile, 4, 3, SKEWED, 32198, 1)
    assert tile.pixel_types == (row["pixeltype"],) == (pixel_type,)
    assert tile.nodata == (row["nodatavalue"],)
    assert tile.data.dtype == numpy_dtype_of(pixel_type)
    np.testing.assert_array_equal(tile.data[0].astype(float), np.array(row["vals"]))
    np.testing.assert_array_equal(tile.data[0], values)
    assert row["nodata_pixel"] is None and row["first_pixel"] == float(tile.data[0, 0, 0])
    assert decode_raster(row["hex"]).to_wkb() == row["wkb"]  # the text form is the same bytes in hex
    assert tile.to_wkb() == row["wkb"]  # and encoding gives PostGIS's bytes back


def test_decode_postgis_special_bands(pg_conn):
    """Several bands of mixed types with ST_AddBand(..., ARRAY[...]); NaN nodata; a band PostGIS flags all-nodata."""
    row = fetch(
        pg_conn,
        "with t as (select ST_AddBand(ST_MakeEmptyRaster(2, 2, 0, 0, 1, -1, 0, 0, 4326), ARRAY["
        "ROW(1, '8BUI', 5, 5), ROW(2, '32BF', 1.5, 'NaN'), ROW(3, '16BSI', -2, NULL)]::addbandarg[]) as r) "
        "select ST_AsBinary(r) as wkb, ST_BandPixelType(r, 1) || ST_BandPixelType(r, 2) || ST_BandPixelType(r, 3) "
        "as types, ST_BandNoDataValue(r, 1) as nd1, ST_BandNoDataValue(r, 2) as nd2, ST_BandNoDataValue(r, 3) as nd3 "
        "from t",
    )
    assert row["wkb"][61] == 0x40 | 0x20 | 4  # PostGIS set the all-nodata flag itself
    tile = decode_raster(row["wkb"])
    assert "".join(tile.pixel_types) == row["types"] == "8BUI32BF16BSI"
    assert tile.nodata[0] == row["nd1"] == 5 and math.isnan(tile.nodata[1]) and math.isnan(row["nd2"])
    assert tile.nodata[2] is row["nd3"] is None
    assert tile.data.dtype == np.float32
    np.testing.assert_array_equal(tile.data, [np.full((2, 2), 5), np.full((2, 2), 1.5), np.full((2, 2), -2)])


@pytest.mark.parametrize("pixel_type", POSTGIS_TYPES)
def test_postgis_reads_what_we_encode(pg_conn, pixel_type):
    _, nodata, _, _ = CASES[pixel_type]
    values = sample(pixel_type, (3, 4), seed=11)
    values[0, 1] = nodata
    wkb = encode_raster(values, SKEWED, 32198, nodata, pixel_type)
    assert pixel_type in ("2BUI", "4BUI") or wkb == encode_raster(values, SKEWED, 32198, nodata)  # dtype's own type
    row = fetch(
        pg_conn,
        f"with t as (select ST_RastFromWKB(%s::bytea) as r) select {META}, ST_AsBinary(r) as wkb, "
        "ST_BandPixelType(r, 1) as ptype, ST_BandNoDataValue(r, 1) as nd, ST_DumpValues(r, 1, false) as vals, "
        "ST_Value(r, 1, 1, 1, false) as v11, ST_Value(r, 1, 2, 1) as v21, ST_Value(r, 1, 4, 3, false) as v43, "
        "(ST_RasterToWorldCoord(r, 4, 3)).* from t",
        (wkb,),
    )
    tile = decode_raster(wkb)
    assert_meta(row, tile, 4, 3, SKEWED, 32198, 1)
    assert row["ptype"] == row["pixeltype"] == pixel_type
    assert row["nd"] == tile.nodata[0] == float(np.array(nodata, numpy_dtype_of(pixel_type)))
    np.testing.assert_array_equal(np.array(row["vals"]), values.astype(float))
    assert row["v11"] == float(values[0, 0]) and row["v43"] == float(values[2, 3])
    assert row["v21"] is None  # the nodata pixel
    assert (row["longitude"], row["latitude"]) == SKEWED @ (3, 2)
    assert row["wkb"] == wkb  # PostGIS writes back the very same bytes


def test_postgis_reads_several_bands_nan_and_no_nodata(pg_conn):
    data = np.array([[[1, 2, 3]], [[0.5, np.nan, -0.25]], [[40000, 0, 65535]]])
    wkb = encode_raster(data, Affine(30, 0, 150000, 0, -30, 420000), 0, [None, np.nan, 0], ["8BUI", "64BF", "16BUI"])
    row = fetch(
        pg_conn,
        "with t as (select ST_RastFromWKB(%s::bytea) as r) select ST_NumBands(r) as n, ST_AsBinary(r) as wkb, "
        "ST_BandNoDataValue(r, 1) as nd1, ST_BandNoDataValue(r, 2) as nd2, ST_BandNoDataValue(r, 3) as nd3, "
        "ST_BandPixelType(r, 2) as pt2, ST_Value(r, 2, 1, 1) as v21, ST_Value(r, 2, 2, 1) as v22, "
        "ST_Value(r, 3, 2, 1) as v32, ST_Value(r, 3, 3, 1) as v33, ST_Value(r, 1, 3, 1) as v13 from t",
        (wkb,),
    )
    assert row["n"] == 3 and row["pt2"] == "64BF" and row["wkb"] == wkb
    assert row["nd1"] is None and math.isnan(row["nd2"]) and row["nd3"] == 0
    assert (row["v21"], row["v22"], row["v32"], row["v33"], row["v13"]) == (0.5, None, None, 65535, 3)


def test_postgis_reads_big_endian_like_we_do(pg_conn):
    b1, b2 = sample("16BSI", (2, 3)), sample("32BF", (2, 3), 1)
    xdr = (
        wkb_header(2, SKEWED, 4326, 3, 2, order=">")
        + bytes([0x40 | 5]) + struct.pack(">h", -9) + b1.astype(">i2").tobytes()
        + bytes([10]) + struct.pack(">f", 0) + b2.astype(">f4").tobytes()
    )  # fmt: skip
    ndr = pg_conn.execute("select ST_AsBinary(ST_RastFromWKB(%s::bytea))", (xdr,)).fetchone()[0]
    assert ndr[0] == 1
    ours, theirs = decode_raster(xdr), decode_raster(ndr)
    np.testing.assert_array_equal(ours.data, theirs.data)
    assert (ours.transform, ours.srid, ours.nodata, ours.pixel_types) == (
        theirs.transform, theirs.srid, theirs.nodata, theirs.pixel_types
    )  # fmt: skip
    assert ours.to_wkb() == ndr


def test_postgis_out_db_band_raises(pg_conn):
    """An out-db band written by hand goes through PostGIS unread (no GDAL needed) and comes back as it went."""
    wkb = (
        wkb_header(1, SKEWED, 0, 2, 1)
        + bytes([0x80 | 0x40 | 5]) + struct.pack("<h", -7) + b"\x00" + b"/tmp/rastercover-none.tif\0"
    )  # fmt: skip
    row = fetch(
        pg_conn,
        "with t as (select ST_RastFromWKB(%s::bytea) as r) select ST_AsBinary(r) as wkb, (ST_BandMetaData(r, 1)).* "
        "from t",
        (wkb,),
    )
    assert row["wkb"] == wkb
    assert (row["isoutdb"], row["path"], row["outdbbandnum"], row["nodatavalue"]) == (
        True, "/tmp/rastercover-none.tif", 1, -7
    )  # fmt: skip
    with pytest.raises(OutDbRasterError, match=r"^band 1 of this raster is out-db \(file /tmp/rastercover-none.tif\)"):
        decode_raster(row["wkb"])


def test_postgis_out_db_band_built_by_st_addband(pg_conn):
    """ST_AddBand(rast, 1, path, ARRAY[1]) on a real GeoTIFF: decode refuses it; ST_AsBinary(rast, TRUE) inlines it."""
    import psycopg
    import rasterio

    try:
        pg_conn.execute("set postgis.gdal_enabled_drivers = 'GTiff'")
        pg_conn.execute("set postgis.enable_outdb_rasters = true")
    except psycopg.Error as e:  # pragma: no cover - depends on the server's rights
        pytest.skip(f"this server does not allow out-db rasters: {e}")
    folder = tempfile.mkdtemp(prefix="rastercover-outdb-")
    os.chmod(folder, 0o755)  # the server may run as another user (postgres)
    path = os.path.join(folder, "band.tif")
    try:
        with rasterio.open(
            path, "w", driver="GTiff", width=3, height=2, count=1, dtype="int16", transform=SKEWED, nodata=-1
        ) as ds:
            ds.write(np.array([[[1, 2, 3], [4, -1, 6]]], "int16"))
        os.chmod(path, 0o644)
        row = fetch(
            pg_conn,
            "with t as (select ST_AddBand(ST_MakeEmptyRaster(3, 2, 10, 20, 2, -3, 0.5, 0.25, 0), 1, %s::text, "
            "ARRAY[1]::int[], -1) as r) select ST_AsBinary(r) as wkb, ST_AsBinary(r, true) as inlined, "
            "(ST_BandMetaData(r, 1)).* from t",
            (path,),
        )
    finally:
        for p in (path, folder):
            if os.path.isdir(p):
                os.rmdir(p)
            elif os.path.exists(p):
                os.remove(p)
    assert row["isoutdb"] and row["path"] == path
    with pytest.raises(OutDbRasterError, match=rf"^band 1 of this raster is out-db \(file {path}\)") as info:
        decode_raster(row["wkb"])
    assert info.value.file_band == row["outdbbandnum"] == 1
    inlined = decode_raster(row["inlined"])
    assert inlined.pixel_types == ("16BSI",) and inlined.nodata == (-1.0,)
    assert inlined.data.tolist() == [[[1, 2, 3], [4, -1, 6]]]
