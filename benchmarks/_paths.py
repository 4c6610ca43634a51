"""Where the benchmarks find what they use: no machine paths, only the repository, the shared folder and PATH.

* The shared folder (``bench/make_workload.py`` builds the workloads) is ``$RASTERCOVER_SHARED`` when set, else
  ``shared`` beside the repository (``../shared`` from its root), as for the tests.
* Workloads live in ``benchmarks/work`` (git-ignored).
* GDAL's command-line tools (``gdal_translate``, ``gdalwarp``, ``gdalbuildvrt``,
  ``gdal_rasterize``) are the ones on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED_ENV = "RASTERCOVER_SHARED"
DEFAULT_WORK = HERE / "work"


def shared_dir() -> Path:
    """``$RASTERCOVER_SHARED`` when set, else the ``shared`` folder beside the repository."""
    env = os.environ.get(SHARED_ENV)
    return Path(env).expanduser() if env else ROOT.parent / "shared"


DEFAULT_MAKE_WORKLOAD = shared_dir() / "bench" / "make_workload.py"


def gdal_tool(name: str) -> str | None:
    """The path of GDAL's ``name`` command found on ``PATH``, or None when it is not installed."""
    return shutil.which(name)


def without_machine_paths(text: str) -> str:
    """``text`` (a command line, say) for a report: the repository root dropped, GDAL tools named, not located."""
    for tool in ("gdal_translate", "gdalwarp", "gdalbuildvrt", "gdal_rasterize"):
        exe = gdal_tool(tool)
        if exe:
            text = text.replace(exe, tool)
    return text.replace(str(ROOT) + os.sep, "")
