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
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

from .atomic import discard

__all__ = ["add_class_tables", "band_class_lines", "class_table_xml", "read_class_tables", "write_class_tables"]

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
    _write(side, class_table_xml(tables).encode("utf-8"))
    return side


def _write(path: str, data: bytes) -> None:
    """Write ``path`` and make it durable (the side file is committed with the raster it describes)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def add_class_tables(path: str, tables: Sequence[Mapping[float, str] | None]) -> str | None:
    """Name the classes of ``path``'s bands in ``PATH.aux.xml``, keeping what a GDAL driver wrote there already
    (AAIGrid copies a band's description and the file's metadata into one); returns the side file, or None
    when no band has classes.

    Examples
    --------
    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.asc")
    >>> with open(p + ".aux.xml", "w") as f:
    ...     _ = f.write('<PAMDataset><PAMRasterBand band="1"><Description>d</Description></PAMRasterBand>'
    ...                 '</PAMDataset>')
    >>> add_class_tables(p, [{3: "c"}]) == p + ".aux.xml"
    True
    >>> text = open(p + ".aux.xml").read()
    >>> "<Description>d</Description>" in text, read_class_tables(p, 1)
    (True, ({3.0: 'c'},))
    """
    side = os.fspath(path) + ".aux.xml"
    if not any(tables):
        return None
    if not os.path.exists(side):
        return write_class_tables(path, tables)
    root = ET.parse(side).getroot()
    for band, table in enumerate(tables, start=1):
        if not table:
            continue
        el = next((b for b in root.findall("PAMRasterBand") if b.get("band") == str(band)), None)
        if el is None:
            el = ET.SubElement(root, "PAMRasterBand", band=str(band))
        for old in [*el.findall("CategoryNames"), *el.findall("GDALRasterAttributeTable")]:
            el.remove(old)
        el.extend(ET.fromstring("<x>" + "".join(band_class_lines(table, "")) + "</x>"))
    _write(side, ET.tostring(root, encoding="utf-8"))
    return side

#: RAT field usages (GDAL's GDALRATFieldUsage): a class's value, its name, a range's ends.
_USAGE_NAME, _USAGE_MIN, _USAGE_MAX, _USAGE_MINMAX = 2, 3, 4, 5


def read_class_tables(path: str | os.PathLike, count: int) -> tuple[dict[float, str] | None, ...]:
    """The class names of each band of the raster ``path`` (``count`` bands) as GDAL keeps them: in a VRT's
    bands (a tile folder's ``index.vrt``) and in ``PATH.aux.xml``. Per band ``{value: name}``, or None.

    A thematic attribute table names classes by a value column (usage MinMax, or a column called Value) and a
    name column (usage Name, or the first text column); category names name the values 0, 1, 2... A table of
    ranges (Min and Max columns) names no single value and is not read. An unreadable side file names nothing.

    Examples
    --------
    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.tif")
    >>> write_class_tables(p, [None, {24: "Deciduous", -1: "Water"}]) is not None
    True
    >>> read_class_tables(p, 2)
    (None, {-1.0: 'Water', 24.0: 'Deciduous'})
    """
    path = os.fspath(path)
    tables: list[dict[float, str] | None] = [None] * count
    # GDAL reads a VRT's classes from its own bands only, any other raster's from its PAM side file
    source, tag = (path, "VRTRasterBand") if path.lower().endswith(".vrt") else (path + ".aux.xml", "PAMRasterBand")
    try:
        root = ET.parse(source).getroot()
    except (OSError, ET.ParseError, LookupError, ValueError):  # missing, malformed, an unknown encoding
        return tuple(tables)
    for band in root.iter(tag):
        try:
            i = int(band.get("band", "0")) - 1
        except ValueError:
            continue
        if 0 <= i < count and tables[i] is None:
            tables[i] = _band_classes(band)
    return tuple(tables)


def _band_classes(band: ET.Element) -> dict[float, str] | None:
    """``{value: name}`` from one band element's attribute table and category names; None if it has neither, or
    when they disagree on a value (which one a reader shows depends on the reader: neither is carried)."""
    rat = band.find("GDALRasterAttributeTable")
    table = None if rat is None else _rat_classes(rat)
    cats = band.find("CategoryNames")
    named = None
    if cats is not None:
        named = {float(i): c.text for i, c in enumerate(cats.findall("Category")) if c.text}
    if table and named and any(named.get(v, n) != n for v, n in table.items()):
        return None
    return table or named or None


def _rat_classes(rat: ET.Element) -> dict[float, str] | None:
    """A thematic RAT's ``{value: name}``; None for a table that names no single values (ranges, linear bins,
    no value or name column)."""
    if rat.get("Row0Min") is not None or rat.get("BinSize") is not None:  # rows by bin, not by a value column
        return None
    fields = {}
    for f in rat.findall("FieldDefn"):
        try:
            fields[int(f.get("index", "-1"))] = (
                (f.findtext("Name") or "").strip(), int(f.findtext("Type") or -1), int(f.findtext("Usage") or 0))
        except ValueError:
            return None
    usages = {u for _, _, u in fields.values()}
    if _USAGE_MIN in usages or _USAGE_MAX in usages:
        return None
    value = next((i for i, (_, _, u) in fields.items() if u == _USAGE_MINMAX), None)
    if value is None:
        value = next((i for i, (n, t, _) in fields.items() if n.lower() == "value" and t in (0, 1)), None)
    name = next((i for i, (_, _, u) in fields.items() if u == _USAGE_NAME), None)
    if name is None:
        name = next((i for i, (_, t, _) in fields.items() if t == 2), None)
    if value is None or name is None:
        return None
    table: dict[float, str] = {}
    for row in rat.findall("Row"):
        cells = [c.text or "" for c in row.findall("F")]
        try:
            v = float(cells[value])
        except (IndexError, ValueError):
            return None
        if name < len(cells) and cells[name]:
            table[v] = cells[name]
    return table
