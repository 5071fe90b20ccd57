"""The migration runner: numbered SQL files applied once, in order, even by two processes at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from storage import migrations
from storage.migrations import MigrationError


def write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql, encoding="utf-8")


@pytest.fixture
def migration_dir(tmp_path: Path) -> Path:
    d = tmp_path / "migrations"
    d.mkdir()
    write(d, "0001_letters.sql", "CREATE TABLE letters (id int PRIMARY KEY);")
    write(d, "0002_seen.sql", "ALTER TABLE letters ADD COLUMN seen boolean NOT NULL DEFAULT false;")
    return d


async def test_pending_migrations_are_applied_in_order_and_recorded(
    empty_database_url: str, migration_dir: Path
) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        applied = await migrations.apply(conn, migration_dir)
        assert [m.version for m in applied] == [1, 2]
        assert await conn.fetchval("SELECT count(*) FROM letters") == 0
        states = await migrations.status(conn, migration_dir)
        assert [(s.version, s.applied_at is not None) for s in states] == [(1, True), (2, True)]
        assert await migrations.apply(conn, migration_dir) == []
    finally:
        await conn.close()


async def test_status_lists_a_new_migration_as_pending(
    empty_database_url: str, migration_dir: Path
) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrations.apply(conn, migration_dir)
        write(migration_dir, "0003_more.sql", "ALTER TABLE letters ADD COLUMN subject text;")
        assert await migrations.pending(conn, migration_dir) == ["0003_more"]
    finally:
        await conn.close()


async def test_two_processes_migrating_at_once_apply_each_migration_once(
    empty_database_url: str, migration_dir: Path
) -> None:
    # A slow migration keeps the first runner inside the lock while the second one arrives.
    write(migration_dir, "0003_slow.sql", "SELECT pg_sleep(0.5); CREATE TABLE slow (x int);")
    a, b = await asyncpg.connect(empty_database_url), await asyncpg.connect(empty_database_url)
    try:
        done_a, done_b = await asyncio.gather(
            migrations.apply(a, migration_dir), migrations.apply(b, migration_dir)
        )
        assert sorted(m.version for m in done_a + done_b) == [1, 2, 3]
        assert await a.fetchval("SELECT count(*) FROM schema_migrations") == 3
    finally:
        await a.close()
        await b.close()


async def test_a_failing_migration_changes_nothing_and_names_the_file(
    empty_database_url: str, migration_dir: Path
) -> None:
    write(
        migration_dir, "0003_broken.sql", "CREATE TABLE half (x int); SELECT * FROM no_such_table;"
    )
    conn = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(MigrationError, match=r"0003_broken\.sql failed"):
            await migrations.apply(conn, migration_dir)
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await migrations.pending(conn, migration_dir) == ["0003_broken"]
    finally:
        await conn.close()


async def test_a_migration_edited_after_it_was_applied_is_refused(
    empty_database_url: str, migration_dir: Path
) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrations.apply(conn, migration_dir)
        write(migration_dir, "0001_letters.sql", "CREATE TABLE letters (id bigint PRIMARY KEY);")
        with pytest.raises(MigrationError, match="edited after it was applied"):
            await migrations.apply(conn, migration_dir)
    finally:
        await conn.close()


def test_a_file_not_named_nnnn_name_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "1_letters.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        migrations.discover(tmp_path)


async def test_the_axis_migrations_alone_allow_cabinet_accounts_and_no_unknown_role(
    empty_database_url: str,
) -> None:
    """The role belongs to the axis's users table, so the axis's own migrations make it valid
    whether or not the eCabinet plug-in is installed."""
    from storage.migrations import MIGRATIONS_DIR

    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrations.apply(conn, MIGRATIONS_DIR)
        organ = "000.00.00.G22"
        await conn.execute(
            "INSERT INTO agencies (organ_id, name, token_hash) VALUES ($1, 'VPCP', 'x')", organ
        )
        insert = """INSERT INTO users (id, organ_id, login, password_hash, role)
                    VALUES (gen_random_uuid(), $1, $2, 'h', $3)"""
        await conn.execute(insert, organ, "thutuong", "cabinet")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(insert, organ, "ke-la", "minister")
    finally:
        await conn.close()
