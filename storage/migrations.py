"""Numbered SQL migrations (`NNNN_name.sql`), applied once each under an advisory lock.

Every function takes one folder or several (the axis's and each plug-in's); one version number may
appear in only one of them, so a plug-in numbers its migrations apart (meetings/ from 1001)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any fixed number: every axis process takes the same lock, so two never migrate at once.
_LOCK_KEY = 0x4158_4953_4D49_47  # "AXISMIG"


class MigrationError(Exception):
    """A migration file is malformed, failed, or was edited after it was applied."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    applied_at: datetime | None


Directories = Path | Sequence[Path]


def _folders(directory: Directories) -> list[Path]:
    return [directory] if isinstance(directory, Path) else list(directory)


def discover(directory: Directories = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    paths = [p for folder in _folders(directory) for p in sorted(folder.glob("*.sql"))]
    for path in paths:
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"{path}: version {version} is used twice (also by {found[version].path})"
            )
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def apply(
    conn: asyncpg.Connection, directory: Directories = MIGRATIONS_DIR
) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; returns those applied."""
    migrations = discover(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_TABLE)
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {r["version"]: r["checksum"] for r in rows}
        done: list[Migration] = []
        for m in migrations:
            if m.version in applied:
                if applied[m.version] != m.checksum:
                    raise MigrationError(
                        f"{m.path.name} was edited after it was applied; add a new migration instead"
                    )
                continue
            try:
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        m.version,
                        m.name,
                        m.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{m.path.name} failed: {exc}") from exc
            done.append(m)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def status(
    conn: asyncpg.Connection, directory: Directories = MIGRATIONS_DIR
) -> list[MigrationState]:
    """Every known migration with the time it was applied, or None when pending."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied: dict[int, datetime] = {}
    if exists:
        for r in await conn.fetch("SELECT version, applied_at FROM schema_migrations"):
            applied[r["version"]] = r["applied_at"]
    return [MigrationState(m.version, m.name, applied.get(m.version)) for m in discover(directory)]


async def pending(conn: asyncpg.Connection, directory: Directories = MIGRATIONS_DIR) -> list[str]:
    return [
        f"{s.version:04d}_{s.name}" for s in await status(conn, directory) if s.applied_at is None
    ]
