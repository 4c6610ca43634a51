"""``rastercover serve``: the HTTP service over a catalogue of coverages and layers (needs the ``server`` extra)."""

from __future__ import annotations

import click

from ..errors import SourceError

__all__ = ["serve"]

_INSTALL = "the HTTP service needs FastAPI and uvicorn: pip install 'rastercover[server]'"


@click.command()
@click.argument("sources", nargs=-1, metavar="[SOURCES]...")
@click.option("--config", type=click.Path(dir_okay=False), metavar="CATALOG.toml", help="Catalogue file (TOML).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, type=int, show_default=True, help="Port to listen on.")
@click.option(
    "--api-key",
    envvar="RASTERCOVER_API_KEY",
    metavar="KEY",
    help="Require this key (X-API-Key header or api_key query) on every endpoint but /healthz "
    "[env: RASTERCOVER_API_KEY].",
)
@click.option("--max-pixels", type=click.IntRange(min=1), metavar="N", help="Pixels per export (default 100 million).")
@click.option(
    "--max-jobs", type=click.IntRange(min=1), metavar="N", help="Jobs (rasterize, export) running at once (default 2)."
)
@click.option(
    "--direct-pixels",
    type=click.IntRange(min=0),
    metavar="N",
    help="Rasterize requests and export POSTs up to N output pixels are answered directly, larger ones become jobs "
    "(default 4 million).",
)
@click.option(
    "--max-concurrent-exports",
    "max_exports",
    type=click.IntRange(min=1),
    metavar="N",
    help="Exports computed at once (file exports, WCS GetCoverage, direct rasterize); one more gets 429 with "
    "Retry-After (default 4).",
)
@click.option(
    "--gdal-cache-mb",
    type=click.IntRange(min=0),
    metavar="MB",
    help="GDAL's block cache, shared by all requests (default 256; 0: GDAL's own default, 5% of the RAM).",
)
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN", help="Allow CORS from ORIGIN.")
def serve(
    sources: tuple[str, ...],
    config: str | None,
    host: str,
    port: int,
    api_key: str | None,
    max_pixels: int | None,
    max_jobs: int | None,
    direct_pixels: int | None,
    max_exports: int | None,
    gdal_cache_mb: int | None,
    cors_origins: tuple[str, ...],
) -> None:
    """Serve raster coverages and vector layers over HTTP.

    SOURCES are raster files, tile folders, VRTs, vector files, folders (everything in them) and
    postgresql://...?table= locations; --config adds the entries of a TOML catalogue. Examples:

    \b
      rastercover serve /data
      rastercover serve dem.tif burned.gpkg --port 8080 --api-key secret
      rastercover serve --config catalog.toml --cors-origin https://maps.example.org

    Memory: about 150 MB for the process, plus the GDAL cache (--gdal-cache-mb), plus some 50 MB per export or
    job running (--max-concurrent-exports, --max-jobs): about 700 MB with the defaults, whatever the load.
    Entries that cannot be read are served as unavailable (a warning each at start).
    """
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise SourceError(_INSTALL) from None
    from ..server.app import create_app
    from ..server.catalog import Catalog
    from ..server.settings import Settings

    if not sources and config is None:
        raise click.UsageError("give at least one source, or --config CATALOG.toml")
    catalog = Catalog.from_sources(list(sources), config=config)
    if not catalog.coverages and not catalog.layers:
        raise SourceError("nothing to serve: the sources hold no raster coverage nor vector layer")
    options: dict = {"api_key": api_key or None, "cors_origins": tuple(cors_origins)}
    given = (
        ("max_pixels", max_pixels),
        ("max_jobs", max_jobs),
        ("direct_pixels", direct_pixels),
        ("max_exports", max_exports),
        ("gdal_cache_mb", gdal_cache_mb),
    )
    for name, value in given:
        if value is not None:
            options[name] = value
    settings = Settings.from_env(**options)
    app = create_app(catalog, settings)
    click.echo(f"coverages: {', '.join(catalog.coverages) or '(none)'}")
    click.echo(f"layers:    {', '.join(catalog.layers) or '(none)'}")
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"serving on http://{shown}:{port}/ (API: /openapi.json, /docs)" + (" with an API key" if api_key else "")
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
