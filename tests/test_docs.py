"""Every docstring example in the package runs and gives what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rastercover

MODULES = sorted(m.name for m in pkgutil.walk_packages(rastercover.__path__, "rastercover."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def _python_blocks(path):
    import re

    text = path.read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_methods_doc_worked_example_runs(tmp_path, monkeypatch):
    """docs/methods.md: the VALUE_OF_MERGED_MEDIAN example registers a method that the engine then computes."""
    from pathlib import Path

    from rastercover.methods import registry

    doc = Path(__file__).resolve().parents[1] / "docs" / "methods.md"
    blocks = _python_blocks(doc)
    assert blocks, "docs/methods.md lost its worked example"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # keep the registry clean for others
    for code in blocks:
        exec(compile(code, str(doc), "exec"), {"__name__": "docs_example"})
    assert "VALUE_OF_MERGED_MEDIAN" in registry.available_methods()


# --------------------------------------------------------------------------------------------------------------
# The guide (docs/**/*.md): every page's code blocks run as written (tests/markdown_blocks.py)
# --------------------------------------------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

from tests import markdown_blocks  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
#: The database the PostGIS pages name (``postgresql://localhost/gis``), reached through libpq's environment.
PG_DATABASE = "gis"


def _needs_postgis(page: Path) -> bool:
    return any("postgresql://localhost/" in b.code for b in markdown_blocks.blocks(page) if b.runs)


@pytest.fixture(scope="session")
def docs_pg_env(pg_cluster):
    """libpq's environment for the PostGIS pages: database ``gis`` of the throwaway cluster, with PostGIS.

    The prerequisite the pages document (docs/howto/postgis-io.md): the bundled Alaska forests loaded with
    ``shp2pgsql`` into ``forestcover`` and the relief with ``raster2pgsql -t 100x100 -I -C`` into ``relief``.
    """
    import subprocess

    import psycopg

    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DATABASE]).fetchone():
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    with psycopg.connect(pg_cluster.url(PG_DATABASE), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis_raster")
    env = {"PGHOST": "127.0.0.1", "PGPORT": str(pg_cluster.port), "PGUSER": "postgres", "PGDATABASE": PG_DATABASE}
    root = DOCS.parent
    load = (
        "psql -q -c 'DROP TABLE IF EXISTS forestcover, relief' && "
        "shp2pgsql -s 2964 -I src/rastercover/data/alaska/trees.shp public.forestcover 2>/dev/null"
        " | psql -q -v ON_ERROR_STOP=1 >/dev/null && "
        "raster2pgsql -s 2964 -t 100x100 -I -C src/rastercover/data/alaska/SR_50M_alaska_nad.tif public.relief"
        " 2>/dev/null | psql -q -v ON_ERROR_STOP=1 >/dev/null 2>&1"
    )
    done = subprocess.run(["bash", "-c", load], cwd=root, env=markdown_blocks.environment(env), capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, f"loading the docs' PostGIS data failed:\n{done.stderr}"
    return env


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_runs(page, tmp_path, request, monkeypatch):
    """Every runnable block of the page runs, in order, as a reader would run it from the repository's root."""
    from rastercover.methods import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # pages may register example methods
    home = tmp_path / "home"  # GDAL's WCS client caches under ~/.gdal: a port of an earlier run must not hit it
    home.mkdir()
    env: dict[str, str] = {"HOME": str(home), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    if _needs_postgis(page):
        env.update(request.getfixturevalue("docs_pg_env"))
    port = None
    if any(b.directive == ("run", "background") for b in markdown_blocks.blocks(page)):
        port = markdown_blocks._free_port()
        env["PORT"] = str(port)  # Python blocks read it from os.environ; shell blocks get it from run_page too
    markdown_blocks.run_page(page, tmp_path, env=env, port=port)


def test_pages_not_run_blocks_are_few_and_explained():
    """"not run" blocks say why, and stay rare: a page of examples that do not run is a page nobody checks."""
    skipped = [b for page in PAGES for b in markdown_blocks.not_run(page)]
    for block in skipped:
        assert len(block.directive[1]) > 10, f"{block.where()}: say why the block is not run"
    runnable = [b for page in PAGES for b in markdown_blocks.blocks(page) if b.lang in ("python", "sh")]
    assert len(skipped) <= max(3, len(runnable) // 8), [b.where() for b in skipped]


def test_links_stay_inside_the_repository():
    """Relative links and images point at files of the repository (nothing outside it, nothing missing)."""
    import re

    root = DOCS.parent
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            assert path.is_relative_to(root), f"{page.relative_to(root)} links outside the repository: {target}"
            assert path.exists(), f"{page.relative_to(root)} links to a missing file: {target}"


def test_pictures_are_small():
    """The guide's pictures stay small (each under 40 kB, all under 400 kB)."""
    pictures = sorted((DOCS / "img").glob("*.png"))
    assert pictures
    for p in pictures:
        assert p.stat().st_size < 40_000, f"{p.name} is {p.stat().st_size} bytes"
    assert sum(p.stat().st_size for p in pictures) < 400_000
