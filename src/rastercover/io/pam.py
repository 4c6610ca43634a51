"""Class names of a raster's bands in GDAL's side file (``NAME.aux.xml``): category names and an attribute table.

A GeoTIFF holds band descriptions and metadata items itself, but GDAL keeps a band's category names and raster
attribute table (RAT) in its PAM side file, ``NAME.aux.xml``, which GDAL (``gdalinfo``, rasterio, QGIS's
raster properties and "paletted/unique values" renderer) reads with the file. :func:`class_table_xml` writes
both: ``CategoryNames`` (the name of each value from 0 to the largest) for tools that read categories, and a
thematic RAT with a ``Value`` column (usage MinMax) and a ``Class`` column (usage Name) for those that read
tables. Only non-negative integer classes fit ``CategoryNames``; other values go to the RAT only.

Examples
--------
>>> xml = class_table_xml([{24: "Deciduous", 25: "Evergreen"}, None])
>>> '<PAMRasterBand band="1">' in xml and "<Category>Evergreen</Category>" in xml, 'band="2"' in xml
(True, False)
>>> xml.count("<Row ")
2
>>> "<F>3000000000.0</F>" in class_table_xml([{3e9: "big"}])  # beyond int32: a Real column
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

from .atomic import discard

__all__ = ["band_class_lines", "class_table_xml", "write_class_tables"]

_MAX_CATEGORY = 65535  # CategoryNames lists every value from 0: beyond this only the RAT names classes
_MAX_INT32 = 2**31 - 1


def class_table_xml(tables: Sequence[Mapping[float, str] | None]) -> str:
    """The PAM XML naming the classes of each band (``tables[i]``: value -> name for band ``i + 1``, or None)."""
    out = ["<PAMDataset>"]
    for band, table in enumerate(tables, start=1):
        if table:
            out += [f'  <PAMRasterBand band="{band}">', *band_class_lines(table, "    "), "  </PAMRasterBand>"]
    out.append("</PAMDataset>")
    return "\n".join(out) + "\n"


def band_class_lines(table: Mapping[float, str], indent: str) -> list[str]:
    """The XML elements naming one band's classes: ``CategoryNames`` (non-negative integer classes up to 65535)
    and a thematic ``GDALRasterAttributeTable``, as a PAM file and a VRT band both hold them.

    Examples
    --------
    >>> band_class_lines({1.0: "a"}, "")[:3]
    ['<CategoryNames>', '  <Category></Category>', '  <Category>a</Category>']
    """
    items = sorted((float(v), str(n)) for v, n in table.items())
    out = []
    if all(v.is_integer() and 0 <= v <= _MAX_CATEGORY for v, _ in items):
        names = {int(v): n for v, n in items}
        out.append("<CategoryNames>")
        out += [f"  <Category>{escape(names.get(i, ''))}</Category>" for i in range(int(items[-1][0]) + 1)]
        out.append("</CategoryNames>")
    # GFT_Integer (GDAL reads it as int32) or GFT_Real
    kind = 0 if all(v.is_integer() and abs(v) <= _MAX_INT32 for v, _ in items) else 1
    out.append('<GDALRasterAttributeTable tableType="thematic">')
    out.append(f'  <FieldDefn index="0"><Name>Value</Name><Type>{kind}</Type><Usage>5</Usage></FieldDefn>')
    out.append('  <FieldDefn index="1"><Name>Class</Name><Type>2</Type><Usage>2</Usage></FieldDefn>')
    for row, (v, n) in enumerate(items):
        shown = str(int(v)) if kind == 0 else repr(v)
        out.append(f'  <Row index="{row}"><F>{shown}</F><F>{escape(n)}</F></Row>')
    out.append("</GDALRasterAttributeTable>")
    return [indent + line for line in out]


def write_class_tables(path: str, tables: Sequence[Mapping[float, str] | None]) -> str | None:
    """Write ``PATH.aux.xml`` naming the classes of ``path``'s bands, or nothing when no band has classes; returns
    the side file's path, or None. ``path`` is the output's temporary file (whose name the sweep of a dead run's
    leftovers knows): its side file follows it to the final name when committed
    (:func:`rastercover.io.atomic.commit` with ``side_file=True``)."""
    side = os.fspath(path) + ".aux.xml"
    discard(side)
    if not any(tables):
        return None
    with open(side, "w", encoding="utf-8") as f:
        f.write(class_table_xml(tables))
        f.flush()
        os.fsync(f.fileno())
    return side
