"""`axis serve` and `axis migrate`: run the hub and manage its database schema."""

from __future__ import annotations

import asyncio

import click

from axis.cli.output import emit, fail


@click.command()
@click.option(
    "--status", "show_status", is_flag=True, help="List migrations and whether each is applied."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def migrate(show_status: bool, as_json: bool) -> None:
    """Create the database if needed and apply pending migrations.

    Example: axis migrate && axis migrate --status
    """
    from axis import plugins
    from axis.cli.main import load_config
    from storage import migrations
    from storage.db import ensure_database

    cfg = load_config()

    async def run() -> None:
        import asyncpg

        if show_status:
            try:
                conn = await asyncpg.connect(cfg.database_url)
            except asyncpg.InvalidCatalogNameError:
                fail("the database does not exist yet; run `axis migrate`")
            try:
                states = await migrations.status(conn, plugins.migration_dirs())
            finally:
                await conn.close()
            rows = [
                {
                    "version": s.version,
                    "name": s.name,
                    "applied_at": s.applied_at.isoformat() if s.applied_at else None,
                }
                for s in states
            ]
            text = (
                "\n".join(
                    f"{r['version']:04d}_{r['name']:<32} {r['applied_at'] or 'pending'}"
                    for r in rows
                )
                or "no migrations"
            )
            emit(rows, as_json=as_json, text=text)
            return
        created = await ensure_database(cfg.database_url)
        conn = await asyncpg.connect(cfg.database_url)
        try:
            applied = await migrations.apply(conn, plugins.migration_dirs())
        finally:
            await conn.close()
        names = [f"{m.version:04d}_{m.name}" for m in applied]
        result = {"database_created": created, "applied": names}
        text = ("created the database; " if created else "") + (
            f"applied {', '.join(names)}" if names else "the schema is up to date"
        )
        emit(result, as_json=as_json, text=text)

    try:
        asyncio.run(run())
    except OSError as exc:
        fail(f"cannot reach PostgreSQL at AXIS_DATABASE_URL: {exc}")
    except migrations.MigrationError as exc:
        fail(str(exc))


@click.command()
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Hub processes sharing the listening socket and the queues.",
)
def serve(workers: int) -> None:
    """Serve the axis API on AXIS_LISTEN.

    Example: AXIS_LISTEN=0.0.0.0:8080 axis serve --workers 4
    """
    from axis.cli.main import load_config
    from axis.config import check_can_serve
    from axis.core.errors import ConfigError
    from axis.server import run_server

    cfg = load_config()
    try:
        check_can_serve(cfg)
    except ConfigError as exc:
        fail(exc.message)
    run_server(cfg, workers=workers)
