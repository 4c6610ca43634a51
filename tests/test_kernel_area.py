"""The compiled form of the exact area kernel gives the numpy form's bits, on any polygons and any window."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from rastercover.kernels import compiled
from rastercover.kernels.area import polygon_areas
from rastercover.kernels.edges import polygon_edges

coordinate = st.one_of(
    st.integers(-12, 40).map(lambda v: v / 4),  # on pixel lines, corners and centres
    st.floats(-3, 10, allow_nan=False, allow_subnormal=False),
)


@st.composite
def polygon(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        x0, y0 = draw(coordinate), draw(coordinate)
        return shapely.box(x0, y0, x0 + draw(st.integers(1, 24)) / 4, y0 + draw(st.integers(1, 24)) / 4)
    if kind == 1:
        c = shapely.Point(draw(coordinate), draw(coordinate))
        return c.buffer(draw(st.floats(0.05, 6)), quad_segs=draw(st.integers(1, 8)))
    if kind == 2:
        pts = draw(st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=8))
        return shapely.make_valid(shapely.Polygon(pts))
    outer = shapely.box(-2, -2, 9, 9)  # a hole: a window inside it carries the outer ring from its left
    return outer.difference(shapely.Point(draw(coordinate), draw(coordinate)).buffer(draw(st.floats(0.3, 3))))


@st.composite
def scene(draw):
    geoms = np.array(draw(st.lists(polygon(), min_size=1, max_size=5)), dtype=object)
    scale = draw(st.sampled_from([1.0, 1.0, 1 / 3, 1e-3, 1e3]))
    offset = draw(st.sampled_from([0.0, 0.0, 1e5 + 0.25]))
    if scale != 1.0 or offset != 0.0:
        geoms = shapely.transform(geoms, lambda xy: xy * scale + offset)
    window = {
        "height": draw(st.integers(1, 14)),
        "width": draw(st.integers(1, 14)),
        "row_off": draw(st.integers(-4, 8)) + int(offset),
        "col_off": draw(st.integers(-4, 8)) + int(offset),
    }
    return geoms, window


@settings(max_examples=300)
@given(sc=scene())
def test_the_compiled_form_gives_the_same_bits(sc):
    geoms, window = sc
    edges = polygon_edges(geoms, np.arange(len(geoms)))
    with compiled.forms("numpy"):
        want = polygon_areas(*edges, **window)
    with compiled.forms("compiled"):
        got = polygon_areas(*edges, **window)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        assert g.view(np.uint8).tobytes() == w.view(np.uint8).tobytes()


def test_no_edges():
    e = np.empty(0)
    with compiled.forms("compiled"):
        pixel, owner, area = polygon_areas(e, e, e, e, np.empty(0, np.int64), height=3, width=2)
    assert len(pixel) == len(owner) == len(area) == 0
    assert (pixel.dtype, owner.dtype, area.dtype) == (np.int64, np.int64, np.float64)


def test_a_kernel_without_numba_cache_waits_for_compiling_worth_of_work(tmp_path, monkeypatch):
    """The switch to a compiled form counts ~5 s of compiling when numba's cache beside the module is empty."""
    pkg = tmp_path / "fake_kernels_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_cold_jit.py").write_text("")
    (pkg / "_warm_jit.py").write_text("")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "_warm_jit.kernel-12.py311.nbi").write_bytes(b"")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(compiled, "_spent", {})
    monkeypatch.setattr(compiled, "_MODE", "auto")
    assert compiled._load_seconds("fake_kernels_pkg._warm_jit") == compiled.LOAD_SECONDS
    assert compiled._load_seconds("fake_kernels_pkg._cold_jit") == compiled.COMPILE_SECONDS
    # 1 s of numpy work: enough to load a cached kernel, not to compile one
    assert compiled.use_compiled("fake_kernels_pkg._warm_jit", 1.0) is True
    assert compiled.use_compiled("fake_kernels_pkg._cold_jit", 1.0) is False
    assert compiled.use_compiled("fake_kernels_pkg._cold_jit", 4.5) is True  # 5.5 s spent in all


def test_the_environment_sets_the_mode_and_a_bad_mode_is_a_clear_error():
    import subprocess
    import sys

    code = "from rastercover.kernels import compiled; print(compiled.use_compiled('x', 1e9))"
    env = {**__import__("os").environ, "RASTERCOVER_KERNELS": "numpy"}
    assert (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "False"
    )
    env["RASTERCOVER_KERNELS"] = "fast"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "RASTERCOVER_KERNELS='fast': give one of auto, numpy, compiled" in bad.stderr
