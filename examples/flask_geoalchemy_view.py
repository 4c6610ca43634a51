"""A Flask view with GeoAlchemy2 models that delivers "landcover clipped by the buffered envelope of burned area 2".

The article's GeoAlchemy2 recipe unwrapped the first buffer of ``query.all()`` (so only the first tile of the
clip); here the ORM query selects every clipped landcover tile, rastercover mosaics them onto one grid and
writes one file, and Flask's ``send_file`` streams it as an attachment (the file deleted as soon as it is open)::

    GET /burned-areas/2/landcover?buffer=1000&format=gtiff   ->  landcover_burned2.tif

The models are the article's. The query is an SQLAlchemy expression (bound parameters only); the request
supplies values, never SQL.

Run: ``create_app("postgresql+psycopg://user@host/gis").run()``.
"""

from __future__ import annotations

import os
from datetime import date

from flask import Flask, abort, request, send_file
from geoalchemy2 import Raster
from sqlalchemy import Date, Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import rastercover
from rastercover.errors import UnknownOptionError


class Base(DeclarativeBase):
    pass


class LandCover(Base):
    __tablename__ = "landcover"
    rid: Mapped[int] = mapped_column(Integer, primary_key=True)
    rast = mapped_column(Raster)
    filename: Mapped[str | None] = mapped_column(String(255))


class BurnedArea(Base):
    __tablename__ = "burnedarea"
    rid: Mapped[int] = mapped_column(Integer, primary_key=True)
    rast = mapped_column(Raster)
    filename: Mapped[str | None] = mapped_column(String(255))
    burndate: Mapped[date | None] = mapped_column(Date)
    burnname: Mapped[str | None] = mapped_column(String(255))


def clip_landcover_query(rid: int, buffer: float):
    """The landcover tiles meeting burned area ``rid``, each clipped by its envelope buffered by ``buffer``."""
    clip = BurnedArea.rast.ST_Envelope().ST_Buffer(buffer)
    return (
        select(LandCover.rast.ST_Clip(clip).label("rast"))
        .join(BurnedArea, LandCover.rast.ST_Intersects(BurnedArea.rast))
        .where(BurnedArea.rid == rid)
        .order_by(LandCover.rid)
    )


def create_app(database_url: str) -> Flask:
    """The Flask application, on the PostGIS database at ``database_url`` (an SQLAlchemy URL)."""
    app = Flask(__name__)
    engine = create_engine(database_url)

    @app.get("/burned-areas/<int:rid>/landcover")
    def clip_landcover_by_burned_area(rid: int):
        try:
            buffer = float(request.args.get("buffer", 1000))
            fmt = rastercover.get_format(request.args.get("format", "gtiff"))
        except (ValueError, UnknownOptionError) as exc:
            abort(400, str(exc))
        with Session(engine) as session:
            if session.scalar(select(BurnedArea.rid).where(BurnedArea.rid == rid)) is None:
                abort(404, f"no burned area {rid}")
            with rastercover.open_coverage(session, query=clip_landcover_query(rid, buffer)) as coverage:
                exported = rastercover.export_file(coverage, format=fmt, name=f"landcover_burned{rid}")
        # Stream the file and delete it: on POSIX the open handle keeps the data until send_file has sent it and
        # closed the file. (Elsewhere, delete exported.path once the file is closed instead.)
        stream = open(exported.path, "rb")
        os.remove(exported.path)
        return send_file(stream, mimetype=exported.media_type, as_attachment=True, download_name=exported.filename)

    return app
