"""docs/reference/*.md are what docs/make_reference.py generates from the code now (so they stay current)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "make_reference.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["cli", "api"])
def test_reference_page_is_current(page):
    module = _script()
    path = module.PAGES[page]
    generated = {"cli": module.cli_page, "api": module.api_page}[page]()
    assert path.exists(), f"{path} is missing: run python docs/make_reference.py"
    assert path.read_text(encoding="utf-8") == generated, (
        f"{path.name} differs from what the code gives: run python docs/make_reference.py and commit the result"
    )


def test_reference_covers_every_command_and_public_name():
    import rastercover
    from rastercover.cli.main import COMMANDS

    module = _script()
    cli, api = module.PAGES["cli"].read_text(), module.PAGES["api"].read_text()
    for name in COMMANDS:
        assert f"## rastercover {name}\n" in cli
    for name in rastercover.__all__:
        if name != "__version__":
            assert f"### {name}\n" in api
