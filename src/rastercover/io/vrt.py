"""Write a GDAL VRT that mosaics tile files into one virtual raster.

Examples
--------
>>> from affine import Affine
>>> from rastercover.grid import Grid
>>> g = Grid(200, 100, Affine(1, 0, 0, 0, -1, 100), "EPSG:3857", 100)
>>> xml = vrt_xml(g, ["LAST"], "float32", -9999, [g.tile(0, 0)])
>>> "<SourceFilename relativeToVRT=\\"1\\">r0_c0.tif</SourceFilename>" in xml
True
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np

from ..grid import Grid, Tile

__all__ = ["gdal_type_name", "vrt_xml"]

_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "uint64": "UInt64",
    "int64": "Int64",
    "float32": "Float32",
    "float64": "Float64",
}


def gdal_type_name(dtype) -> str:
    """GDAL's name of a numpy dtype (``float32`` → ``Float32``)."""
    return _GDAL_TYPES[np.dtype(dtype).name]


def _num(v: float) -> str:
    if np.isnan(v):
        return "nan"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


def vrt_xml(
    grid: Grid,
    bands: Sequence[str],
    dtype,
    nodata: float,
    tiles: Sequence[Tile],
    band_lines: Sequence[Sequence[str]] = (),
) -> str:
    """VRT mosaicking ``tiles`` (files ``r{row}_c{col}.tif`` beside the VRT) over the whole grid; ``band_lines[i]``
    (XML elements: metadata, class names) go into band ``i + 1`` after its nodata value."""
    t = grid.transform
    gdal_type = gdal_type_name(dtype)
    lines = [f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">']
    if grid.crs is not None:
        lines.append(f'  <SRS dataAxisToSRSAxisMapping="1,2">{escape(grid.crs.to_wkt())}</SRS>')
    lines.append(f"  <GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>")
    for i, name in enumerate(bands, start=1):
        lines.append(f'  <VRTRasterBand dataType="{gdal_type}" band="{i}">')
        lines.append(f"    <Description>{escape(name)}</Description>")
        lines.append(f"    <NoDataValue>{_num(nodata)}</NoDataValue>")
        if i <= len(band_lines):
            lines += band_lines[i - 1]
        for tile in tiles:
            w = tile.window
            lines += [
                "    <SimpleSource>",
                f'      <SourceFilename relativeToVRT="1">{tile.name}.tif</SourceFilename>',
                f"      <SourceBand>{i}</SourceBand>",
                f'      <SourceProperties RasterXSize="{w.width}" RasterYSize="{w.height}" DataType="{gdal_type}"/>',
                f'      <SrcRect xOff="0" yOff="0" xSize="{w.width}" ySize="{w.height}"/>',
                f'      <DstRect xOff="{w.col_off}" yOff="{w.row_off}" xSize="{w.width}" ySize="{w.height}"/>',
                "    </SimpleSource>",
            ]
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    return "\n".join(lines) + "\n"
