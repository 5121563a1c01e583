"""The layers: imports run publishing -> training -> library, and app -> library, with no circle, lazy ones included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "model"
# Each layer and the layers it may import from (its own included). The app layer sits beside training and
# publishing: it imports only the library, and only app.py imports it.
IMPORTS_FROM = {
    "model.publishing": ("model.publishing", "model.training", "model"),
    "model.training": ("model.training", "model"),
    "model.app": ("model.app", "model"),
    "model": ("model",),
}
LAYERS = tuple(IMPORTS_FROM)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module of the package that `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from model import artifacts` imports model.artifacts; `from model.x import name` imports model.x.
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules and name != "model"}


GRAPH = {module_name(path): imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    return next(prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + "."))


def test_the_graph_was_read():
    assert {"model.tinyvgg", "model.training.engine", "model.publishing.hub"} <= set(GRAPH)
    assert "model.tinyvgg" in GRAPH["model.predict"] and "model.training.config" in GRAPH["model.publishing.card"]


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_from_a_layer_it_may_not(module):
    outside = sorted(name for name in GRAPH[module] if layer(name) not in IMPORTS_FROM[layer(module)])

    assert not outside, f"{module} ({layer(module)}) imports {outside}"


def test_the_app_layer_is_imported_by_nothing_in_the_package():
    outside = {module: names for module, names in GRAPH.items() if layer(module) != "model.app"}
    importers = sorted(module for module, names in outside.items() if any(layer(n) == "model.app" for n in names))

    assert importers == [] and any(layer(module) == "model.app" for module in GRAPH)


def test_the_import_graph_has_no_circle():
    # Depth-first search; a module met again while still on the path closes a circle.
    state: dict[str, str] = {}
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for name in sorted(GRAPH.get(module, ())):
            if state.get(name) == "open":
                circles.append(path[path.index(name) :] + [name])
            elif name not in state:
                visit(name, [*path, name])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])

    assert not circles, circles


def test_a_circle_or_an_upward_import_would_be_seen(tmp_path):
    # The checks above read real files: make sure they see a lazy import inside a function.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from model.publishing.card import build_card\n    from model import tinyvgg\n")

    found = {name for name in imports(probe)}

    assert found == {"model.publishing.card", "model.tinyvgg"}


def test_the_app_imports_only_the_library_and_the_app_layer():
    app = {name for name in imports(ROOT / "app.py")}

    assert app and all(layer(name) in IMPORTS_FROM["model.app"] for name in app), app
    assert {"model.app.feedback", "model.predict"} <= app
