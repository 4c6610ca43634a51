"""``rastercover methods``: every registered method with one line each."""

from __future__ import annotations

import click

from ..methods import EMPTY_NODATA, MethodFamily, available_methods

__all__ = ["methods"]


@click.command()
@click.option("--raster", "which", flag_value="raster", help="Only the methods of raster sources (`regrid`).")
@click.option("--vector", "which", flag_value="vector", help="Only the methods of vector sources (`rasterize`).")
def methods(which: str | None) -> None:
    """List every method (built-in and plug-in), one line each: `rasterize` takes the vector ones, `regrid` the
    raster ones (kinds raster_centre and raster_area)."""
    items = available_methods()
    if which is not None:
        items = {n: m for n, m in items.items() if m.kind.raster == (which == "raster")}
    width = max(len(n) for n in items)
    for name, m in items.items():
        if isinstance(m, MethodFamily):
            click.echo(
                f"{name:<{width}}  [{m.kind.value}, one band per class]  {m.description} "
                f"({name}:v1,v2,... picks the classes)"
            )
            continue
        empty = "nodata" if m.empty is EMPTY_NODATA else f"{m.empty:g}"
        click.echo(f"{name:<{width}}  [{m.kind.value}, empty={empty}]  {m.description}")
