"""The open method registry: user methods, plug-in entry points, one-band-per-class families."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import shapely
from affine import Affine

import rastercover
from rastercover.cli.main import cli
from rastercover.errors import InputError, UnknownMethodError
from rastercover.methods import Kind, Method, registry, resolve_methods

PLUGIN = """
import numpy as np
from rastercover.methods import Kind, Method


def _biggest_area(hits):
    out = np.full(hits.size, np.nan)
    np.fmax.at(out, hits.pixel, hits.weight)
    return out


def methods():
    return [Method("LARGEST_PIECE_AREA", Kind.AREA, _biggest_area, needs_value=False,
                   description="area of the largest polygon piece in the pixel")]
"""


@pytest.fixture
def clean_registry(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_PLUGINS_LOADED", False)


def test_entry_point_plugin_is_loaded_listed_and_computed(tmp_path, monkeypatch, clean_registry):
    (tmp_path / "rc_plugin_demo.py").write_text(PLUGIN)
    dist = tmp_path / "rc_plugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rc-plugin-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[rastercover.methods]\ndemo = rc_plugin_demo:methods\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "LARGEST_PIECE_AREA" in registry.available_methods()
    from click.testing import CliRunner

    out = CliRunner().invoke(cli, ["methods"])
    assert out.exit_code == 0, out.output
    assert "LARGEST_PIECE_AREA" in out.output and "[area, empty=nodata]" in out.output
    grid = rastercover.Grid(2, 1, Affine(1, 0, 0, 0, -1, 1), "EPSG:3857", tile_size=2)
    da = rastercover.rasterize(
        [(shapely.box(0, 0, 1.5, 1), 1.0), (shapely.box(0.25, 0, 0.5, 1), 2.0)],
        grid,
        methods="largest_piece_area",
        assume_crs="EPSG:3857",
        dtype="float64",
    )
    np.testing.assert_allclose(da.values[0, 0], [1.0, 0.5])
    sys.modules.pop("rc_plugin_demo", None)


def test_register_refuses_a_taken_name_unless_replace(clean_registry):
    m = Method("SUM_OF_AREAS", Kind.AREA, lambda h: np.zeros(h.size), needs_value=False)
    with pytest.raises(InputError, match="registered already"):
        registry.register(m)
    assert registry.register(m, replace=True) is m


def test_resolve_methods_expands_families_in_the_order_given():
    got = resolve_methods(["covered_fraction_by_value:3,1.5", "SUM_OF_AREAS"], classes=lambda: [9.0])
    assert [m.name for m in got] == ["COVERED_FRACTION_BY_VALUE:3", "COVERED_FRACTION_BY_VALUE:1.5", "SUM_OF_AREAS"]
    got = resolve_methods(["COVERED_FRACTION_BY_VALUE"], classes=lambda: [2.0, np.nan, 1.0, 2.0])
    assert [m.name for m in got] == ["COVERED_FRACTION_BY_VALUE:1", "COVERED_FRACTION_BY_VALUE:2"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("COVERED_FRACTION_BY_VALUE:a,b", "class values must be numbers"),
        ("COVERED_FRACTION_BY_VALUE:", "list at least one class value"),
        ("SUM_OF_AREAS:1,2", "takes no class list"),
    ],
)
def test_resolve_methods_bad_specs(spec, message):
    with pytest.raises(InputError, match=message):
        resolve_methods([spec], classes=lambda: [1.0])


def test_family_with_too_many_classes_asks_for_a_list():
    with pytest.raises(InputError, match="would make 300 bands"):
        resolve_methods(["COVERED_FRACTION_BY_VALUE"], classes=lambda: np.arange(300.0))


def test_unknown_method_suggests_close_names():
    with pytest.raises(UnknownMethodError, match="did you mean VALUE_OF_MERGED_BIGGEST"):
        resolve_methods(["VALUE_OF_MERGED_BIGEST"])


def test_covered_fraction_by_value_through_the_api_uses_the_layers_classes():
    grid = rastercover.Grid(2, 1, Affine(1, 0, 0, 0, -1, 1), "EPSG:3857", tile_size=2)
    da = rastercover.rasterize(
        [(shapely.box(0, 0, 1.5, 1), 5.0), (shapely.box(1.5, 0, 2, 1), 7.0), (shapely.box(0, 0, 0.5, 1), None)],
        grid,
        methods=["COVERED_FRACTION_BY_VALUE", "PROPORTION_OF_COVERED_AREA"],
        assume_crs="EPSG:3857",
        dtype="float64",
    )
    assert list(da.band.values) == [
        "COVERED_FRACTION_BY_VALUE:5",
        "COVERED_FRACTION_BY_VALUE:7",
        "PROPORTION_OF_COVERED_AREA",
    ]
    np.testing.assert_allclose(da.values[:, 0, :], [[1.0, 0.5], [0.0, 0.5], [1.0, 1.0]])
