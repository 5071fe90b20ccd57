"""The rooms of the code and who may import whom (docs/ARCHITECTURE.md): read from the source with
`ast`, so an import inside a function counts as much as one at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module `path` imports, with its line; relative imports resolved to absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            # `from axis import core` imports axis.core: name what is imported, not only its parent.
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def _sources(*rooms: str) -> list[Path]:
    return sorted(path for room in rooms for path in (ROOT / room).rglob("*.py"))


def _within(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def _breaches(
    rooms: tuple[str, ...], forbidden: tuple[str, ...], *, allowed_in: str = ""
) -> list[str]:
    out = []
    for path in _sources(*rooms):
        if allowed_in and path == ROOT / allowed_in:
            continue
        for line, module in _imports(path):
            hit = next((f for f in forbidden if _within(module, f)), None)
            if hit is not None:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module} ({hit})")
    return out


RULES = {
    "edoc, signing and storage are pure: they import neither axis nor meetings": (
        ("edoc", "signing", "storage"),
        ("axis", "meetings"),
        "",
    ),
    "the axis never imports the meetings plug-in": (("axis",), ("meetings",), ""),
    "the core imports no adapter, worker or command": (
        ("axis/core",),
        ("axis.adapters", "axis.workers", "axis.cli"),
        "",
    ),
    "the adapters never import the command line": (("axis/adapters",), ("axis.cli",), ""),
    "the workers import no adapter or command": (
        ("axis/workers",),
        ("axis.adapters", "axis.cli"),
        "",
    ),
    "meetings reaches the axis only through meetings/axis_port.py": (
        ("meetings",),
        ("axis",),
        "meetings/axis_port.py",
    ),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_each_room_imports_only_what_it_may(rule: str) -> None:
    rooms, forbidden, allowed_in = RULES[rule]
    assert all((ROOT / room).is_dir() for room in rooms), f"{rooms}: a room of the rule is gone"
    assert _breaches(rooms, forbidden, allowed_in=allowed_in) == [], rule


def test_the_rule_reader_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    """The checker itself: an import hidden in a function body or written relatively is found."""
    placed = tmp_path / "axis" / "core" / "sample.py"
    placed.parent.mkdir(parents=True)
    placed.write_text(
        "def f():\n    from axis.workers import relay\n\nfrom ..adapters import api\n",
        encoding="utf-8",
    )
    modules = [module for _, module in _imports(placed, tmp_path)]
    assert sorted(modules) == ["axis.adapters.api", "axis.workers.relay"]
