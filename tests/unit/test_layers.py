"""The package's rooms hold: layers import downwards only, no import loops, outside systems behind
their own package, no module too big to read. Imports inside functions count; imports under
``if TYPE_CHECKING:`` do not (they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "mlcycle"
# bottom up; the same list is in CONTRIBUTING.md ("The layer rule")
LAYERS = ("errors", "config", "core", "adapters", "steps", "ops", "airflow", "cli")
# third-party packages that only one room may import
CONFINED = {
    "mlflow": "adapters",
    "boto3": "adapters",
    "botocore": "adapters",
    "airflow": "airflow",
}
MAX_LINES = 400


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    room = module.split(".")[1] if "." in module else "errors"
    return LAYERS.index(room)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module or ``module.name``) of every import that runs."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    out = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{path}:{node.lineno}: use absolute imports (mlcycle.…)"
            base = node.module or ""
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return out


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _internal(name: str) -> str | None:
    """The mlcycle module ``name`` refers to (``pkg.func`` -> ``pkg``), or None outside mlcycle."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for _, name in _imports(path):
            target = _internal(name) if name.startswith("mlcycle") else None
            if target and target != module and not module.startswith(target + "."):
                edges[module].add(target)
    return edges


def test_every_module_sits_in_a_layer() -> None:
    rooms = {m.split(".")[1] for m in MODULES if m.count(".") >= 1} - {"__main__"}
    assert rooms <= set(LAYERS), f"modules outside the layers {LAYERS}: {sorted(rooms - set(LAYERS))}"


def test_imports_run_downwards_only() -> None:
    breaches = [
        f"{module} ({LAYERS[_layer(module)]}) imports {target} ({LAYERS[_layer(target)]})"
        for module, targets in _edges().items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert breaches == [], "imports that run up a layer:\n" + "\n".join(sorted(breaches))


def test_no_import_loop() -> None:
    edges = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for module in edges:
        if module not in index:
            visit(module)
    assert loops == [], f"import loops: {loops}"


@pytest.mark.parametrize("package", sorted(CONFINED))
def test_outside_systems_are_imported_only_in_their_room(package: str) -> None:
    room = CONFINED[package]
    found = [
        f"{module}:{line} imports {name}"
        for module, path in MODULES.items()
        if not module.startswith(f"mlcycle.{room}")
        for line, name in _imports(path)
        if name == package or name.startswith(package + ".")
    ]
    assert found == [], f"{package} belongs in mlcycle.{room} only:\n" + "\n".join(found)


def test_no_module_is_too_big_to_read() -> None:
    sizes = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    big = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert big == {}, f"modules over {MAX_LINES} lines (split them by what they do): {big}"


def test_the_checks_can_fail() -> None:
    """The walk sees imports inside functions and skips TYPE_CHECKING blocks (else the tests above
    would pass vacuously)."""
    factory = dict.fromkeys(name for _, name in _imports(MODULES["mlcycle.airflow.factory"]))
    assert any(n.startswith("mlcycle.steps.") for n in factory)  # all inside task bodies
    context = [name for _, name in _imports(MODULES["mlcycle.steps.context"])]
    assert "mlcycle.adapters.tracking" not in context  # imported under TYPE_CHECKING only
    assert _layer("mlcycle.cli.main") > _layer("mlcycle.airflow.factory") > _layer("mlcycle.core.names")
