"""A QGIS client for the WCS tests: run by Debian's ``/usr/bin/python3`` (``python3-qgis``), not by the venv.

Reads a JSON request on stdin and prints one JSON answer on stdout. The request::

    {"wcs": [{"key": ..., "uri": {"url": ..., "identifier": ..., ...}, "blocks": [[xmin, ymin, xmax, ymax, w, h]]}],
     "gdal": [{"key": ..., "path": ..., "blocks": [...]}]}

Each entry is opened as a ``QgsRasterLayer`` (the ``wcs`` provider with the URI's parameters, or the ``gdal``
provider on a file); the answer tells, per key, whether it is valid (else QGIS's error), its CRS (authid, WKT,
PROJ), extent, size, band count, data type, nodata, and each block asked for (``provider.block(1, extent, w,
h)``) as base64 of its raw bytes, with the numpy dtype to decode them; and the messages QGIS logged. One QGIS
process serves every check, so the tests pay QGIS's start-up once.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # after QT_QPA_PLATFORM: Qt picks its platform when QGIS loads
    Qgis,
    QgsApplication,
    QgsDataSourceUri,
    QgsRasterLayer,
    QgsRectangle,
)

_DTYPES = {
    Qgis.Byte: "uint8",
    Qgis.UInt16: "uint16",
    Qgis.Int16: "int16",
    Qgis.UInt32: "uint32",
    Qgis.Int32: "int32",
    Qgis.Float32: "float32",
    Qgis.Float64: "float64",
}


def _describe(layer: QgsRasterLayer, blocks: list[list[float]]) -> dict[str, Any]:
    """What QGIS reads of a layer: validity, CRS, extent, size, type, nodata, and the blocks asked for."""
    if not layer.isValid():
        return {"valid": False, "error": layer.error().summary() or layer.dataProvider().error().summary()}
    provider = layer.dataProvider()
    crs = layer.crs()
    extent = layer.extent()
    out: dict[str, Any] = {
        "valid": True,
        "crs_valid": crs.isValid(),
        "authid": crs.authid(),
        "wkt": crs.toWkt(),
        "proj": crs.toProj(),
        "extent": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()],
        "width": provider.xSize(),
        "height": provider.ySize(),
        "bands": provider.bandCount(),
        "dtype": _DTYPES.get(provider.dataType(1), str(provider.dataType(1))),
        "has_nodata": bool(provider.sourceHasNoDataValue(1)),
        "nodata": provider.sourceNoDataValue(1) if provider.sourceHasNoDataValue(1) else None,
        "blocks": [],
    }
    for xmin, ymin, xmax, ymax, width, height in blocks:
        block = provider.block(1, QgsRectangle(xmin, ymin, xmax, ymax), int(width), int(height))
        data = bytes(block.data()) if block.isValid() else b""
        out["blocks"].append(
            {
                "width": block.width(),
                "height": block.height(),
                "dtype": _DTYPES.get(block.dataType(), str(block.dataType())),
                "data": base64.b64encode(data).decode("ascii"),
            }
        )
    return out


def main() -> int:
    request = json.load(sys.stdin)
    app = QgsApplication([], False)
    app.initQgis()
    answer: dict[str, Any] = {"qgis": Qgis.QGIS_VERSION, "wcs": {}, "gdal": {}, "messages": []}
    # what QGIS logs (its WCS provider says so when a coverage comes back with another extent or size than asked)
    QgsApplication.messageLog().messageReceived.connect(
        lambda message, tag, level: answer["messages"].append([tag, str(message)])
    )
    for entry in request.get("wcs", []):
        uri = QgsDataSourceUri()
        for key, value in entry["uri"].items():
            uri.setParam(key, str(value))
        layer = QgsRasterLayer(bytes(uri.encodedUri()).decode("utf-8"), entry["key"], "wcs")
        answer["wcs"][entry["key"]] = _describe(layer, entry.get("blocks", []))
        del layer  # before exitQgis(): a layer outliving its providers' registry crashes on exit
    for entry in request.get("gdal", []):
        layer = QgsRasterLayer(entry["path"], entry["key"], "gdal")
        answer["gdal"][entry["key"]] = _describe(layer, entry.get("blocks", []))
        del layer
    print(json.dumps(answer))
    sys.stdout.flush()
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
