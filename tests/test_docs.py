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
