"""The package's layers (docs/architecture.md): imports only downward, no cycle, one resolver per role.

Read from the source with ``ast`` (every import, module-level or inside a function), so a lazy import that
climbs a layer is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "rastercover"

#: Each module's layer; a module may import its own layer and the ones below (a lower number).
LAYERS = {
    # 0: value types at the bottom
    "_exports": 0,
    "errors": 0,
    "crs": 0,
    "options": 0,
    "grid": 0,
    "formats": 0,
    "features": 0,
    "pixel_values": 0,
    "geojson": 0,
    "protocols": 0,
    # 1: per-tile hot loops and the method registry
    "kernels": 1,
    "methods": 1,
    # 2: the engine, the export's operations, the backends (side by side: none imports another, but ops may
    #    use io's file helpers, never a backend)
    "engine": 2,
    "ops": 2,
    "io": 2,
    # 3: the verbs (plans)
    "api": 3,
    "exporting": 3,
    "lazy": 3,
    "regridding": 3,
    # 4: the faces
    "cli": 4,
    "server": 4,
    "__init__": 4,
}
SIDEWAYS_ALLOWED = {("ops", "io.atomic"), ("ops", "io.checked"), ("ops", "io.gtiff")}  # file helpers, not backends


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG).with_suffix("")
        out[".".join(rel.parts)] = p
    return out


def _imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """``(rastercover module imported, at module level)`` for each import of ``name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    found = []
    top_level = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            elif node.module and node.module.startswith("rastercover"):
                mod = node.module.removeprefix("rastercover").lstrip(".")
            else:
                continue
            found.append((mod, id(node) in top_level))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("rastercover."):
                    found.append((alias.name.removeprefix("rastercover."), id(node) in top_level))
    return found


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[0]]


def test_every_module_has_a_layer():
    missing = sorted({m.split(".")[0] for m in _modules()} - set(LAYERS) - {""})
    assert not missing, f"give these modules a layer in LAYERS (and docs/architecture.md): {missing}"


def test_imports_go_only_downward():
    bad = []
    for name, path in _modules().items():
        top = name.split(".")[0]
        for mod, _ in _imports(name, path):
            if not mod:
                continue
            other = mod.split(".")[0]
            if other == top or other not in LAYERS:
                continue
            if _layer(mod) > _layer(name):
                bad.append(f"{name} imports {mod} (a higher layer)")
            elif _layer(name) == 2 and _layer(mod) == 2 and (top, ".".join(mod.split(".")[:2])) not in SIDEWAYS_ALLOWED:
                bad.append(f"{name} imports {mod} (beside it: engine, ops and io do not import each other)")
    assert not bad, "\n".join(bad)


def test_no_import_cycle_at_module_level():
    mods = _modules()
    graph = {n: set() for n in mods}
    for name, path in mods.items():
        for mod, top in _imports(name, path):
            if top and mod in mods and mod != name:
                graph[name].add(mod)
    seen, stack, cycles = set(), [], []

    def visit(n):
        if n in stack:
            cycles.append(" -> ".join([*stack[stack.index(n) :], n]))
            return
        if n in seen:
            return
        seen.add(n)
        stack.append(n)
        for m in sorted(graph[n]):
            visit(m)
        stack.pop()

    for n in sorted(graph):
        visit(n)
    # a package's __init__ importing its modules is not a cycle of behaviour; report the rest
    real = [c for c in cycles if not any(part.endswith("__init__") for part in c.split(" -> "))]
    assert not real, "\n".join(real)


@pytest.mark.parametrize(
    "needle",
    [
        "is_pg_location",
        "is_zarr_path",
        "is_geotiff_path",
        'endswith((".tif"',
        'startswith("postgres',
        'endswith(".zarr"',
    ],
)
def test_only_the_registry_and_the_backends_look_at_a_location(needle):
    """One resolver per role: no module but io/registry.py and the backends it asks decides by a location."""
    owners = {"io.registry", "io.pg", "io.coverage_zarr"} | {n for n in _modules() if n.startswith("io.backend_")}
    offenders = []
    for name, path in _modules().items():
        if name in owners:
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#")[0]
            stripped = code.strip()
            if needle in code and not stripped.startswith(">>>"):
                offenders.append(f"{name}:{lineno}: {stripped}")
    assert not offenders, "\n".join(offenders)
