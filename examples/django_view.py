"""A GeoDjango view that delivers the article's "landcover clipped by the 1000 m buffered envelope of burned area 2".

The first article's recipe (``ST_AsGDALRaster(ST_Clip(...))`` through ``connection.cursor()``, then
``HttpResponse(rows[0])``) sent only the *first* tile of the clip. Here the same query returns every clipped tile,
rastercover mosaics them onto one grid (the query coverage: :mod:`rastercover.io.coverage_query`) and writes
one file in the asked format, which the view streams as an attachment and then forgets::

    GET /burned-areas/2/landcover?buffer=1000&format=gtiff   ->  landcover_burned2.tif

The SQL is the application's own; the request only supplies values (the rid in the URL, the buffer, the
format), bound as query parameters or checked against rastercover's format table. Never build the query
from request text.

Settings: a PostGIS database (``ENGINE: django.contrib.gis.db.backends.postgis``) holding the article's
``landcover`` and ``burnedarea`` raster tables; add ``urlpatterns`` below to your URLconf.
"""

from __future__ import annotations

import os

from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBadRequest
from django.urls import path

import rastercover
from rastercover.errors import UnknownOptionError

# The article's query, minus ST_AsGDALRaster: the rows are the clipped landcover tiles themselves (the
# raster type), so no GDAL driver has to be enabled in PostGIS; rastercover decodes and mosaics them.
CLIP_LANDCOVER_BY_BURNED_AREA = """
    SELECT ST_Clip(landcover.rast, ST_Buffer(ST_Envelope(burnedarea.rast), %s)) AS rast
      FROM landcover, burnedarea
     WHERE ST_Intersects(landcover.rast, burnedarea.rast)
       AND burnedarea.rid = %s
     ORDER BY landcover.rid
"""


def clip_landcover_by_burned_area(request: HttpRequest, rid: int) -> FileResponse | HttpResponseBadRequest:
    """The landcover under burned area ``rid`` (buffered envelope, ``?buffer=`` metres), as a file download."""
    try:
        buffer = float(request.GET.get("buffer", 1000))
        fmt = rastercover.get_format(request.GET.get("format", "gtiff"))
    except (ValueError, UnknownOptionError) as exc:
        return HttpResponseBadRequest(str(exc))
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM burnedarea WHERE rid = %s", [rid])
        if cursor.fetchone() is None:
            raise Http404(f"no burned area {rid}")

    # The query runs once; the coverage holds its decoded tiles until the with block ends.
    with rastercover.open_coverage(connection, query=CLIP_LANDCOVER_BY_BURNED_AREA, params=[buffer, rid]) as coverage:
        exported = rastercover.export_file(coverage, format=fmt, name=f"landcover_burned{rid}")

    # Stream the file and delete it: on POSIX the open handle keeps the data until FileResponse has sent it
    # and closed the file. (Elsewhere, delete exported.path once the response is closed instead.)
    stream = open(exported.path, "rb")
    os.remove(exported.path)
    return FileResponse(stream, as_attachment=True, filename=exported.filename, content_type=exported.media_type)


urlpatterns = [
    path("burned-areas/<int:rid>/landcover", clip_landcover_by_burned_area, name="burned-landcover"),
]
