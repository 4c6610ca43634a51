"""pyogrio, imported without pandas and GeoPandas: the one place rastercover imports it.

``import pyogrio`` imports GeoPandas and pandas whenever they are installed (its ``_compat`` module checks their
versions at import time), about 0.19 s of a 0.29 s import here, for functions (``read_dataframe``) rastercover
never calls: a third of a command's whole run on the scale-1 workload. :func:`pyogrio` imports it with two
stand-ins under those names that carry only the installed version numbers (read from the packages' metadata, so
that pyogrio's version checks come out as they would have), then removes the stand-ins: a later ``import pandas``
or ``pyogrio.read_dataframe`` imports and uses the real packages. A process that has already imported pandas or
GeoPandas keeps them; pyogrio then uses those.

Examples
--------
>>> import sys
>>> og = pyogrio()
>>> og.raw.read.__module__
'pyogrio.raw'
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import threading
import types
from typing import Any

__all__ = ["pyogrio"]

#: The packages pyogrio imports at its own import only to learn their versions.
_VERSION_ONLY = ("geopandas", "pandas")
_lock = threading.Lock()


def pyogrio() -> Any:
    """The ``pyogrio`` module with ``pyogrio.raw`` and ``pyogrio.errors`` loaded, pandas and GeoPandas left
    unimported (see the module's docstring).

    Returns
    -------
    module
        ``pyogrio``.
    """
    module = sys.modules.get("pyogrio")
    if module is not None and hasattr(module, "raw"):
        return module
    with _lock:
        stand_ins = {}
        for name in _VERSION_ONLY:
            if name in sys.modules:
                continue
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue  # not installed: pyogrio's own ImportError path
            stand_in = types.ModuleType(name, f"stand-in for {name} while pyogrio is imported (rastercover.io.ogr)")
            stand_in.__version__ = version
            stand_ins[name] = sys.modules[name] = stand_in
        try:
            module = importlib.import_module("pyogrio")
            importlib.import_module("pyogrio.raw")
            importlib.import_module("pyogrio.errors")
        finally:
            for name, stand_in in stand_ins.items():
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]
    return module
