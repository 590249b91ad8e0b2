"""The house rules of docs/architecture.md: which room may import which, and no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "compliance"

#: Each room's rank: a module may import its own room and rooms of a lower rank only.
#: Rooms of the same rank (sources and respond) know nothing of each other.
RANKS = {
    "errors": 0,
    "_poll": 0,
    "_version": 0,
    "reader": 1,
    "rules": 2,
    "sources": 3,
    "respond": 3,
    "observe": 4,
    "middleware": 5,
    "cli": 6,
    "__init__": 7,
    "__main__": 7,
}
#: Modules outside the package that only the middleware may import (it alone speaks ASGI).
ASGI_ONLY = ("starlette",)


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(path: Path) -> set[str]:
    """Every module of the package or outside it that `path` imports, at any depth, type-checking ones included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import of {node.module}; write it absolute"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


MODULES = _modules()
GRAPH = {
    module: {name for name in _imports(path) if name in MODULES and name != module} for module, path in MODULES.items()
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_room_imports_only_itself_and_the_rooms_below_it(module: str) -> None:
    room = _room(module)
    assert room in RANKS, f"{module} is in a room docs/architecture.md does not list"
    for imported in GRAPH[module]:
        other = _room(imported)
        if other == room or imported == "compliance":
            continue
        assert RANKS[other] < RANKS[room] or room in ("__init__", "__main__"), (
            f"{module} imports {imported}: {room} may not import {other} (see docs/architecture.md)"
        )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _room(m) not in ("middleware", "__init__")))
def test_only_the_middleware_speaks_asgi(module: str) -> None:
    outside = _imports(MODULES[module])
    assert not [name for name in outside if name.split(".")[0] in ASGI_ONLY], f"{module} imports an ASGI framework"


def test_no_module_imports_itself_back_through_others() -> None:
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for imported in sorted(GRAPH[module]):
            if imported == "compliance" or imported.startswith(module + "."):
                continue
            if seen.get(imported) == 1:
                cycles.append([*path[path.index(imported) :], imported] if imported in path else [module, imported])
            elif imported not in seen:
                visit(imported, [*path, imported])
        seen[module] = 2

    for module in sorted(MODULES):
        if module not in seen and module != "compliance":
            visit(module, [module])
    assert cycles == []


def test_no_module_is_much_over_five_hundred_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 560}
    assert long == {}
