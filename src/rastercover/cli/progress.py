"""A tqdm progress bar over tiles (or an export's chunks), shown on stderr when it is a terminal (or when forced)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["tile_progress"]


@contextmanager
def tile_progress(
    total: int, *, enabled: bool | None = None, unit: str = "tile", desc: str = "rasterize"
) -> Iterator[Callable[[int], None]]:
    """Yield a callback advancing a bar of ``total`` steps (tiles; an export says ``unit="chunk"``);
    ``enabled=None`` shows it on a terminal only."""
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        unit=unit,
        desc=desc,
        disable=None if enabled is None else not enabled,
        dynamic_ncols=True,
        leave=False,
    )
    try:
        yield bar.update
    finally:
        bar.close()
