"""Plug-ins: packages that join the hub without the axis importing them.

A plug-in declares an entry point in the group `axis.plugins` (pyproject.toml) whose value is a
`Plugin`. The app factory calls its `setup(app)` (routes, pages, cleanup contexts), the migration
runner applies its migrations folder after the axis's own, the `axis` command adds its click
commands, and /v1/openapi.json merges its `openapi()` part (paths, schemas, error examples). The axis only ever reads this module's `load()`; it never names a plug-in.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from storage.migrations import MIGRATIONS_DIR

log = logging.getLogger("axis.plugins")

GROUP = "axis.plugins"


@dataclass(frozen=True)
class Plugin:
    """What a plug-in brings. `commands` is called (lazily, by the CLI) for its click commands;
    `migrations` is a folder of `NNNN_name.sql` whose numbers must not meet the axis's;
    `package_routes` are its POST routes whose body may be as large as a package
    (AXIS_MAX_DOCUMENT_BYTES) instead of a small form's (axis.adapters.bodies)."""

    name: str
    setup: Callable[[Any], None] | None = None
    migrations: Path | None = None
    commands: Callable[[], Sequence[Any]] = field(default=lambda: ())
    package_routes: frozenset[str] = frozenset()
    #: {"paths": {...}, "schemas": {...}, "error_examples": {name: (status, summary, error)}};
    #: names must not meet the axis's nor another plug-in's.
    openapi: Callable[[], dict[str, Any]] | None = None
    #: The durable queues it declares, named after the hub's queue prefix (`<prefix>.<name>`), so
    #: that whoever removes a hub's topology (a benchmark's sandbox, a test) removes them too.
    queues: frozenset[str] = frozenset()


@functools.cache
def load() -> tuple[Plugin, ...]:
    """Every installed plug-in, in name order; a broken one stops start-up naming it."""
    found: list[Plugin] = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        plugin = ep.load()
        if not isinstance(plugin, Plugin):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not an axis.plugins.Plugin")
        found.append(plugin)
    return tuple(found)


def migration_dirs() -> list[Path]:
    """The axis's migrations folder, then each plug-in's."""
    return [MIGRATIONS_DIR, *(p.migrations for p in load() if p.migrations is not None)]


def plugin_queues(prefix: str) -> list[str]:
    """The full names of every plug-in's queues under the queue prefix `prefix`."""
    return [f"{prefix}.{name}" for plugin in load() for name in sorted(plugin.queues)]
