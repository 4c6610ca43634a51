"""Class names from a layer's attribute table: which name goes with each value of the value column.

Examples
--------
>>> class_table([24.0, 25.0, 24.0, None, 50.0], ["Deciduous", "Evergreen", "Deciduous", "x", float("nan")],
...             "VEGDESC", "trees")
{24.0: 'Deciduous', 25.0: 'Evergreen', 50.0: None}
>>> class_table([24.0, 24.0], ["Deciduous", "Mixed"], "VEGDESC", "trees")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rastercover.errors.InputError: trees: value 24 has two names in column 'VEGDESC' ('Deciduous', 'Mixed'): ...
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import InputError

__all__ = ["class_table"]


def class_table(values: Iterable, names: Iterable, column: str, where: str) -> dict[float, str | None]:
    """``{value: name}`` from the features' values and names; a value whose features have no name (NULL) maps to
    None, kept so that a band storing it as a named class's pixel value is caught; NULL values are left out; a
    value with two different names is an :class:`~rastercover.errors.InputError` naming both (``where``: the
    layer)."""
    table: dict[float, str | None] = {}
    for v, n in zip(values, names, strict=True):
        if _missing(v):
            continue
        v = float(v)
        if _missing(n):
            table.setdefault(v, None)
            continue
        n = str(n)
        seen = table.get(v)
        if seen is None:
            table[v] = n
        elif seen != n:
            shown = int(v) if v.is_integer() else v
            raise InputError(
                f"{where}: value {shown} has two names in column {column!r} ({seen!r}, {n!r}): a class name column "
                "must name each value once (filter the layer, or name another column)"
            )
    return table


def _missing(x) -> bool:
    """None, NaN, or pandas' NA / NaT (without importing pandas): no value, or no name."""
    if x is None or type(x).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(x, float | np.floating) and bool(np.isnan(x))
