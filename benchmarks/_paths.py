"""Where the benchmarks find what they use: no machine paths, only the repository, PATH and an optional folder.

* Workloads are built by ``benchmarks/make_workload.py`` (a copy of the shared folder's ``bench/make_workload.py``)
  into ``benchmarks/work/s<scale>`` (git-ignored).
* The São Miguel real data (``bench_regrid.py``) is the package's ``src/rastercover/data/sao_miguel/``, else
  ``$RASTERCOVER_SHARED/realdata/sao_miguel`` (``shared`` beside the repository when the variable is unset).
* Peers are found on ``PATH``: GDAL's command-line tools (``gdal_translate``, ``gdalwarp``, ``gdalbuildvrt``,
  ``gdal_rasterize``); PostgreSQL's server binaries (``initdb``, ``pg_ctl``) as ``tests/pgcluster.py`` finds
  them (``/usr/lib/postgresql/<version>/bin`` with PostGIS installed), else on ``PATH``.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED_ENV = "RASTERCOVER_SHARED"
DEFAULT_WORK = HERE / "work"
RESULTS = HERE / "results"
DEFAULT_MAKE_WORKLOAD = HERE / "make_workload.py"
BUNDLED_SAO_MIGUEL = ROOT / "src" / "rastercover" / "data" / "sao_miguel"


def shared_dir() -> Path:
    """``$RASTERCOVER_SHARED`` when set, else the ``shared`` folder beside the repository (may not exist)."""
    env = os.environ.get(SHARED_ENV)
    return Path(env).expanduser() if env else ROOT.parent / "shared"


def sao_miguel_dir() -> Path:
    """The São Miguel real data: bundled with the package, else in the shared folder (may not exist)."""
    if BUNDLED_SAO_MIGUEL.is_dir():
        return BUNDLED_SAO_MIGUEL
    return shared_dir() / "realdata" / "sao_miguel"


def gdal_tool(name: str) -> str | None:
    """The path of GDAL's ``name`` command found on ``PATH``, or None when it is not installed."""
    return shutil.which(name)


def postgres_bindir() -> str | None:
    """A folder with PostgreSQL's ``initdb`` and ``pg_ctl`` for a version with PostGIS installed, or None.

    The newest ``/usr/lib/postgresql/<version>/bin`` with PostGIS, as ``tests/pgcluster.py`` finds it; else the
    folder of ``initdb`` on ``PATH``.
    """
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        version = bindir.split("/")[-2]
        if os.path.exists(os.path.join(bindir, "initdb")) and glob.glob(
            f"/usr/share/postgresql/{version}/extension/postgis.control"
        ):
            return bindir
    exe = shutil.which("initdb")
    if exe and shutil.which("pg_ctl", path=os.path.dirname(exe)):
        return os.path.dirname(exe)
    return None


def without_machine_paths(text: str) -> str:
    """``text`` (a command line, say) for a report: the repository root dropped, GDAL tools named, not located."""
    for tool in ("gdal_translate", "gdalwarp", "gdalbuildvrt", "gdal_rasterize"):
        exe = gdal_tool(tool)
        if exe:
            text = text.replace(exe, tool)
    return text.replace(str(ROOT) + os.sep, "")
