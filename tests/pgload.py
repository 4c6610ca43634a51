"""Load test data into the throwaway PostGIS: features through binary COPY, rasters from their WKB."""

from __future__ import annotations

import numpy as np
import shapely
from psycopg import sql


def load_features(
    conn,
    table,
    geoms,
    values=None,
    *,
    srid=32198,
    value_column="value",
    value_type="float8",
    geom_column="geom",
    geom_type="Geometry",
    schema=None,
    index=True,
    pk=True,
):
    """Create ``table`` (id serial primary key, value, geometry) and COPY the features into it."""
    ident = sql.Identifier(schema, table) if schema else sql.Identifier(table)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ident))
    conn.execute(
        sql.SQL("CREATE TABLE {t} (id {idt}, {v} {vt}, {g} geometry({gt}, {srid}))").format(
            t=ident,
            idt=sql.SQL("serial PRIMARY KEY" if pk else "int"),
            v=sql.Identifier(value_column),
            vt=sql.SQL(value_type),
            g=sql.Identifier(geom_column),
            gt=sql.SQL(geom_type),
            srid=sql.Literal(srid),
        )
    )
    geoms = np.asarray(geoms, dtype=object)
    wkb = shapely.to_wkb(shapely.set_srid(geoms, srid), hex=True, include_srid=True)
    values = np.full(len(geoms), np.nan) if values is None else np.asarray(values, dtype=np.float64)
    with conn.cursor().copy(
        sql.SQL("COPY {t} (id, {v}, {g}) FROM STDIN").format(
            t=ident, v=sql.Identifier(value_column), g=sql.Identifier(geom_column)
        )
    ) as copy:
        for i, (w, v) in enumerate(zip(wkb, values), start=1):
            copy.write_row((i, None if np.isnan(v) else float(v), w))
    if index:
        conn.execute(sql.SQL("CREATE INDEX ON {t} USING gist ({g})").format(t=ident, g=sql.Identifier(geom_column)))
    conn.execute(sql.SQL("ANALYZE {t}").format(t=ident))
    return ident
