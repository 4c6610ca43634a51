"""Start-up: each command imports only what it uses (issue 19), and the lazy names resolve to the right objects.

Each check runs a fresh interpreter (``sys.executable``) and reads its ``sys.modules`` at the end, so that an
import added at a module's top level anywhere on the path is caught.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import shapely

import rastercover
from rastercover.cli.main import COMMANDS, cli

#: What a command that reads a vector file and writes a GeoTIFF must not import (each costs 0.05-0.2 s).
HEAVY = ("pandas", "geopandas", "xarray", "dask", "distributed", "numba", "psycopg", "fastapi", "uvicorn", "zarr")


def _modules_after(code: str) -> set[str]:
    """The top-level packages imported by a fresh interpreter running ``code``."""
    script = (
        textwrap.dedent(code)
        + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_help_imports_no_numerical_or_gis_library():
    mods = _modules_after(
        """
        from rastercover.cli.main import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        """
    )
    assert "click" in mods
    assert not mods & {"numpy", "rasterio", "pyproj", "shapely", "pyogrio", *HEAVY}, mods


def test_import_rastercover_is_light_and_names_resolve():
    mods = _modules_after("import rastercover")
    assert not mods & {"numpy", "rasterio", "pyproj", "shapely"}
    for name in rastercover.__all__:
        assert hasattr(rastercover, name), name
    assert rastercover.rasterize.__module__ == "rastercover.api" and rastercover.Grid.__module__ == "rastercover.grid"
    assert set(rastercover.__all__) <= set(dir(rastercover))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rastercover.nope  # noqa: B018


def test_a_function_is_never_shadowed_by_a_module_of_its_name():
    """``rastercover.export`` (the function) and ``rastercover.engine.run`` stay functions whatever was imported
    first: the modules that define them are named otherwise (``exporting``, ``engine.runner``)."""
    mods = _modules_after(
        """
        import rastercover.exporting, rastercover.engine.runner, rastercover, rastercover.engine
        assert callable(rastercover.export) and rastercover.export.__module__ == "rastercover.exporting"
        assert callable(rastercover.engine.run) and rastercover.engine.run.__module__ == "rastercover.engine.runner"
        """
    )
    assert "rastercover" in mods


def test_rasterize_to_geotiff_imports_nothing_heavy(tmp_path):
    import pyogrio.raw

    gpkg = tmp_path / "v.gpkg"
    geoms = np.array([shapely.box(0, 0, 40, 40), shapely.box(40, 0, 80, 40)])
    pyogrio.raw.write(
        str(gpkg), shapely.to_wkb(geoms), [np.array([1.5, 2.5])], ["value"], geometry_type="Polygon", crs="EPSG:32198"
    )
    out = tmp_path / "out.tif"
    mods = _modules_after(
        f"""
        from rastercover.cli.main import main
        try:
            main(["rasterize", {str(gpkg)!r}, "--value", "value", "--bounds", "0", "0", "80", "40",
                  "--resolution", "10", "--crs", "EPSG:32198", "-m", "MEAN_OF_VALUES_AT_PIXEL_CENTROID",
                  "-m", "AREA_WEIGHTED_MEAN_OF_VALUES", "-o", {str(out)!r}])
        except SystemExit as exc:
            assert not exc.code, exc.code
        """
    )
    import rasterio

    with rasterio.open(out) as ds:
        assert ds.read(1).tolist() == [[1.5] * 4 + [2.5] * 4] * 4
    assert {"numpy", "rasterio", "pyogrio", "shapely"} <= mods
    assert not mods & set(HEAVY), mods & set(HEAVY)


def test_pyogrio_loaded_without_pandas_still_serves_pandas_users(tmp_path):
    """pyogrio imported through :func:`rastercover.io.ogr.pyogrio` leaves pandas unimported, and a later user of
    ``pyogrio.read_dataframe`` gets the real GeoPandas, with pyogrio's version checks as a plain import makes them."""
    pytest.importorskip("geopandas")
    gpkg = tmp_path / "v.gpkg"
    import pyogrio.raw

    pyogrio.raw.write(
        str(gpkg), shapely.to_wkb(np.array([shapely.box(0, 0, 1, 1)])), [np.array([7.0])], ["h"],
        geometry_type="Polygon", crs="EPSG:4326",
    )  # fmt: skip
    code = f"""
        import sys
        from rastercover.io.ogr import pyogrio
        og = pyogrio()
        assert "pandas" not in sys.modules and "geopandas" not in sys.modules
        flags = [og._compat.HAS_GEOPANDAS, og._compat.PANDAS_GE_20, og._compat.PANDAS_GE_22]
        df = og.read_dataframe({str(gpkg)!r})
        import geopandas, pandas
        assert type(df) is geopandas.GeoDataFrame and df["h"].tolist() == [7.0]
        print(flags)
    """
    lazy = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    plain = subprocess.run(
        [sys.executable, "-c", "import pyogrio._compat as c; print([c.HAS_GEOPANDAS, c.PANDAS_GE_20, c.PANDAS_GE_22])"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert lazy.stdout.strip() == plain.stdout.strip() == "[True, True, True]"


def test_lazy_command_table_matches_the_commands():
    """``rastercover --help`` lists the commands from :data:`COMMANDS` without importing them: each entry must be
    its command's module and the first paragraph of its help, so the listing is the one click would print."""
    import inspect

    from click.testing import CliRunner

    lazy_help = CliRunner().invoke(cli, ["--help"]).output
    for name, (module, text) in COMMANDS.items():
        command = cli.get_command(None, name)  # imports it
        assert command.name == name and command.callback.__module__ == "rastercover.cli" + module
        assert inspect.cleandoc(command.help).split("\n\n")[0].replace("\n", " ") == text
    assert CliRunner().invoke(cli, ["--help"]).output == lazy_help  # the same, every command now loaded
