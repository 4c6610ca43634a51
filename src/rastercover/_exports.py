"""Lazy public names of a package: each submodule is imported the first time one of its names is used.

A command's start-up pays only for what it uses: ``rastercover --help`` imports neither numpy nor GDAL, and
``rastercover rasterize`` neither the server, Dask nor xarray (PEP 562's module ``__getattr__``). Written here
rather than taken from ``lazy_loader``: the same twenty lines, without a dependency, and with no fallback that
imports every submodule when a name is missing.

Examples
--------
>>> import sys, types
>>> pkg = sys.modules["demo_pkg"] = types.ModuleType("demo_pkg")
>>> pkg.__getattr__, pkg.__dir__ = lazy_exports("demo_pkg", {"sqrt": "math", "dumps": "json"})
>>> pkg.sqrt(9.0), "dumps" in dir(pkg)
(3.0, True)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package`` that import ``names[name]`` on first use.

    Parameters
    ----------
    package
        The package's ``__name__`` (relative module names are resolved against it).
    names
        Public name → the module that defines it (``".api"`` or an absolute name).

    Returns
    -------
    tuple
        ``(__getattr__, __dir__)`` to assign at the package's top level; each name is stored in the package's
        namespace once imported, so later uses are plain attribute reads.
    """

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
