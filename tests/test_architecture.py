"""The house rule of docs/architecture.md, enforced: who may import whom.

Every module of every installed room is parsed (not imported). Imports count wherever they
are written — at the top, inside a function (lazy), under `if TYPE_CHECKING:` — and so does
any string that is exactly the name of one of our modules: what `import_module(...)` and
`load_extension(...)` are given, directly or through a tuple such as `bot.app.EXTENSIONS`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ROOT

ROOMS: dict[str, frozenset[str]] = {
    "albumify": frozenset(),
    "imaging": frozenset({"albumify"}),
    "models": frozenset({"albumify", "imaging"}),
    "index": frozenset({"albumify", "imaging", "models"}),
    "worker": frozenset({"albumify", "imaging", "models", "index"}),
    "bot": frozenset({"albumify"}),
    "devtools": frozenset({"albumify"}),
}
"""Room → the rooms it may import (docs/architecture.md, the table)."""

ENTRY_POINTS = frozenset({"albumify.cli", "albumify.__main__"})
"""The CLI may import any room, but only lazily (inside the function of a subcommand)."""

LIGHT_ROOMS_MAY_USE = frozenset(
    {"discord", "redis", "rq", "aiohttp", "yarl", "platformdirs"} | set(sys.stdlib_module_names)
)
"""The shared core and the bot run in the bot's image (docker/bot.Dockerfile), which installs
only these: no torch, no OpenCV, no numpy."""

FORBIDDEN_THIRD_PARTY: dict[str, frozenset[str]] = {
    "albumify": frozenset({"discord", "aiohttp", "yarl"}),
    "imaging": frozenset({"torch", "torchvision", "ultralytics", "discord", "redis", "rq"}),
    "models": frozenset({"discord", "redis", "rq", "aiohttp"}),
    "index": frozenset({"discord", "redis", "rq", "aiohttp"}),
}
"""The core imports no discord.py; imaging no torch; models and index know nothing of jobs
or Discord."""

MAX_LINES = 500


def room_of(module: str) -> str | None:
    top = module.split(".", 1)[0]
    return top if top in ROOMS else None


def modules() -> Iterator[tuple[str, Path]]:
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


ALL_MODULES = dict(modules())


def _is_our_module(value: object) -> bool:
    """A dotted name of one of our modules ("bot" alone is a word as often as a package)."""
    return isinstance(value, str) and "." in value and value in ALL_MODULES


class Import:
    def __init__(self, target: str, line: int, lazy: bool, type_only: bool) -> None:
        self.target, self.line, self.lazy, self.type_only = target, line, lazy, type_only

    def __repr__(self) -> str:
        return f"{self.target} (line {self.line})"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def imports_of(path: Path) -> tuple[Import, ...]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, lazy, True)
            for child in node.orelse:
                visit(child, lazy, type_only)
            return
        inner_lazy = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if isinstance(node, ast.Import):
            found.extend(Import(a.name, node.lineno, lazy, type_only) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(Import(node.module, node.lineno, lazy, type_only))
            # `from albumify import keys` imports the module albumify.keys
            found.extend(
                Import(f"{node.module}.{a.name}", node.lineno, lazy, type_only)
                for a in node.names
                if (ROOT / Path(*node.module.split("."), f"{a.name}.py")).exists()
            )
        elif isinstance(node, ast.Constant) and _is_our_module(node.value):
            # a module named, to be imported later (load_extension, import_module)
            found.append(Import(node.value, node.lineno, True, type_only))
        for child in ast.iter_child_nodes(node):
            visit(child, inner_lazy, type_only)

    visit(tree, False, False)
    return tuple(found)


def test_every_room_exists_and_has_modules() -> None:
    rooms = {room_of(name) for name in ALL_MODULES}
    assert rooms == set(ROOMS), "a room of docs/architecture.md has no package"


@pytest.mark.parametrize("module", sorted(ALL_MODULES))
def test_imports_follow_the_rooms(module: str) -> None:
    room = room_of(module)
    assert room is not None
    bad = []
    for imp in imports_of(ALL_MODULES[module]):
        target_room = room_of(imp.target)
        if target_room is None or target_room == room:
            continue
        if module in ENTRY_POINTS:
            if not imp.lazy:
                bad.append(f"{imp!r}: the CLI imports other rooms only inside a subcommand")
            continue
        if target_room not in ROOMS[room]:
            bad.append(f"{imp!r}: {room}/ may not import {target_room}/")
    assert not bad, f"{module}: " + "; ".join(bad)


@pytest.mark.parametrize("module", sorted(ALL_MODULES))
def test_third_party_imports_fit_the_room(module: str) -> None:
    room = room_of(module)
    assert room is not None
    if module in ENTRY_POINTS:
        return
    bad = []
    for imp in imports_of(ALL_MODULES[module]):
        top = imp.target.split(".", 1)[0]
        if top in ROOMS or top == "__future__":
            continue
        if room in ("albumify", "bot") and top not in LIGHT_ROOMS_MAY_USE:
            bad.append(f"{imp!r} is not in the bot's image")
        if top in FORBIDDEN_THIRD_PARTY.get(room, ()):
            bad.append(f"{imp!r} is forbidden in {room}/")
    assert not bad, f"{module}: " + "; ".join(bad)


def test_no_import_circles() -> None:
    """No module reaches itself through imports of any kind (type-only ones included)."""
    graph = {
        name: {i.target for i in imports_of(path) if i.target in ALL_MODULES and i.target != name}
        for name, path in ALL_MODULES.items()
    }
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    # A package importing its own submodule (`from albumify import keys` in albumify/…) is
    # not a circle through __init__ unless __init__ imports back; those show up here too.
    assert not circles, "import circles: " + "; ".join(" → ".join(c) for c in circles)


def test_no_installed_file_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in ALL_MODULES.values()
        if (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


def test_the_rule_catches_what_it_should(tmp_path: Path) -> None:
    """The scanner itself: lazy, type-only and string imports are all seen."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from __future__ import annotations\n"
        "import importlib\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from worker.job import CoverTask\n"
        "EXTENSIONS = ('bot.cover.cog', 'bot.status.cog')\n"
        "def lazy():\n"
        "    import torch\n"
        "    importlib.import_module('index.search')\n"
        "async def setup(bot):\n"
        "    for extension in EXTENSIONS:\n"
        "        await bot.load_extension(extension)\n"
    )
    found = {(i.target, i.lazy, i.type_only) for i in imports_of(sample)}
    assert ("worker.job", False, True) in found
    assert ("torch", True, False) in found
    assert ("index.search", True, False) in found
    assert {("bot.cover.cog", True, False), ("bot.status.cog", True, False)} <= found
