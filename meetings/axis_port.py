"""The one door between meetings/ and the axis: every name meetings/ takes from axis/ comes from
here, so when the axis's inside moves only this module follows it.

What crosses: the hub's resources (database, blob store, seal, configuration), its error types,
accounts and sessions (argon2, lock-out), the audit chain, the NOTIFY listener, reading a letter's
attachment as its agency, and the CLI's output helpers."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import jinja2
from aiohttp import web

from axis.adapters import pages as axis_pages
from axis.adapters.api import HUB, stream_blob
from axis.adapters.pages import auth as page_auth
from axis.adapters.pages import render as page_render
from axis.adapters.pages import views as page_views
from axis.cli.agency import _run as _cli_run
from axis.cli.output import emit, fail
from axis.core import agencies, delivery, ingest, repo, users
from axis.core.audit import CheckpointPolicy
from axis.core.audit import proof as audit_proof
from axis.core.errors import (
    AxisError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    StoredBytesLost,
    Unauthorized,
    Unprocessable,
)
from axis.core.group_commit import GroupCommit, in_batch_or_alone
from axis.core.ids import uuid7 as new_id
from axis.core.waits import stop_task, wait_event
from axis.hub import Hub
from axis.plugins import Plugin
from axis.workers.notify import Listener
from axis.workers.topology import declare_exchange as _declare_exchange
from axis.workers.worker import Worker

T = TypeVar("T")

User = users.User
Session = users.Session
LoginRefused = users.LoginRefused
LockedOut = users.LockedOut
CABINET_ROLE = users.CABINET

__all__ = [
    "CABINET_ROLE",
    "AxisError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "GroupCommit",
    "Hub",
    "Listener",
    "LockedOut",
    "LoginRefused",
    "NotFound",
    "Plugin",
    "Session",
    "StoredBytesLost",
    "Unauthorized",
    "Unprocessable",
    "User",
    "Worker",
    "emit",
    "fail",
    "in_batch_or_alone",
    "new_id",
    "stop_task",
    "stream_blob",
    "wait_event",
]


def hub_of(app: web.Application) -> Hub:
    return app[HUB]


async def declare_exchange(channel: Any, hub: Hub) -> Any:
    """The hub's topic exchange, where the relays publish (an AbstractExchange)."""
    return await _declare_exchange(channel, hub.names)


# ---------------------------------------------------------------- accounts


async def add_account(
    conn: asyncpg.Connection, *, organ_id: str, login: str, password: str, full_name: str
) -> User:
    return await users.add(
        conn,
        organ_id=organ_id,
        login=login,
        password=password,
        role=CABINET_ROLE,
        full_name=full_name,
    )


async def account(conn: asyncpg.Connection, login: str) -> User:
    return await users.get(conn, login)


async def set_account_active(conn: asyncpg.Connection, login: str, active: bool) -> None:
    await users.set_active(conn, login, active)


async def sign_in(hub: Hub, login: str, password: str) -> tuple[User, Session]:
    """The axis's own check (argon2, lock-out); only `cabinet` accounts get in here."""
    user = await users.authenticate(hub.db, login, password, roles=(CABINET_ROLE,))
    async with hub.db.connection() as conn:
        session = await users.open_session(conn, user)
    return user, session


async def session_account(conn: asyncpg.Connection, token: str) -> User | None:
    found = await users.session_user(conn, token, roles=(CABINET_ROLE,))
    return found[0] if found else None


def live_session_account(token_hash: str = "$1") -> str:  # noqa: S107 - SQL, not a secret
    """The axis's own test of a live session (users.live_session, which users.session_user uses
    too), for a cabinet account, as a sub-query yielding its id: meetings reads its row of that
    person in the same round trip (`token_hash`: the SQL naming the token's session_key)."""
    return f"SELECT u.id {users.live_session(token_hash)} AND u.role = '{CABINET_ROLE}'"


def session_key(token: str) -> str | None:
    """What the axis looks a session token up by; None for a token no session can have."""
    if not token or len(token) > 200 or not token.isascii():
        return None
    return users.session_key(token)


def check_password(password: str) -> str:
    return users.check_password(password)


# ---------------------------------------------------------------- audit and letters


async def audit(conn: asyncpg.Connection, event: str, details: dict[str, Any]) -> None:
    """An entry in the axis's audit chain (linked and sealed by its chainer)."""
    await repo.audit(conn, event, details=details)


async def audit_about(
    conn: asyncpg.Connection, subject_id: uuid.UUID, event: str, details: dict[str, Any]
) -> None:
    """An entry in the audit chain filed under `subject_id` (a consultation's id), so that
    `proof(subject_id)` gathers every entry about it, as a letter's proof does."""
    await repo.audit(conn, event, document_id=subject_id, details=details)


def audit_about_sql(rows: str) -> str:
    """The part of a data-modifying WITH that files audit entries about subjects: `rows` gives
    (event, subject id, details jsonb) in order (a batch writing its rows and their entries in
    one statement; `audited_about` after it)."""
    return repo.audit_insert(f"SELECT e, NULL, s, NULL, d FROM ({rows}) AS entries(e, s, d)")  # noqa: S608 (constant SQL)


async def audited_about(conn: asyncpg.Connection, subject_ids: list[uuid.UUID]) -> None:
    """After a statement of `audit_about_sql`: the chainer and the subjects' live pages wake."""
    await repo.audited(conn, subject_ids)


async def proof(hub: Hub, subject_id: uuid.UUID) -> dict[str, Any]:
    """The audit entries filed under `subject_id` with the links up to a sealed checkpoint (the
    axis's proof format, checked offline by `axis audit check-proof`)."""
    return await audit_proof(hub.db, hub.seal, CheckpointPolicy.from_config(hub.config), subject_id)


async def letter_summary(hub: Hub, organ_id: str, document_id: str) -> dict[str, Any]:
    """A letter `organ_id` sent or received: {"id", "sender", "summary"} (its edXML header as the
    axis keeps it: from, code, document_id, promulgation_date, subject…); NotFound otherwise."""
    async with hub.db.connection() as conn:
        agency = await agencies.get(conn, organ_id)
    doc = await delivery.document_for(hub, agency, document_id)
    if doc.kind != "letter":
        raise NotFound(f"{document_id} is a status, not a letter", where="document")
    return {"id": str(doc.id), "sender": doc.sender, "summary": doc.summary}


async def submit_letter(hub: Hub, organ_id: str, data: bytes) -> dict[str, Any]:
    """Send a signed edXML letter from `organ_id` through the axis's own ingest, like any agency:
    its acceptance (document_id, deliveries, the sealed receipt). The same bytes again get the
    first acceptance."""
    async with hub.db.connection() as conn:
        agency = await agencies.get(conn, organ_id)
    accepted = await ingest.submit(hub, agency, data)
    return accepted.stored_form()


async def agency_name(conn: asyncpg.Connection, organ_id: str) -> str | None:
    """The registered name of an agency, None when there is no such agency."""
    try:
        return (await agencies.get(conn, organ_id)).name
    except NotFound:
        return None


async def agency_exists(conn: asyncpg.Connection, organ_id: str) -> bool:
    return await repo.agency_exists(conn, organ_id)


async def letter_attachment(hub: Hub, organ_id: str, document_id: str, ref: str) -> dict[str, Any]:
    """An attachment of a letter `organ_id` sent or received (404 otherwise), with its blob's
    sha256, size, name and content_type."""
    async with hub.db.connection() as conn:
        agency = await agencies.get(conn, organ_id)
    found = await delivery.attachment_for(hub, agency, document_id, ref)
    # Papers are read from the blob store; a small letter's attachment lives in its package.
    await delivery.keep_in_blob_store(hub, found.sha256, within=found.package_sha256)
    return dataclasses.asdict(found)


def parse_uuid(value: object, where: str) -> uuid.UUID:
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be an id (a UUID string)", where=where)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadRequest(
            f"{where} must be an id (a UUID string), not {value!r}", where=where
        ) from None


# ---------------------------------------------------------------- CLI


def cli_run(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `work` on a connection to AXIS_DATABASE_URL; errors end the command with one line."""
    return _cli_run(work)


def signer_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--key` and `--cert` (key_path, cert_path) as `axis doc sign` takes them."""
    from axis.cli.sign import CERT_OPTION, KEY_OPTION

    return KEY_OPTION(CERT_OPTION(command))


def workers_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--workers` as `axis bench axis` takes it."""
    from axis.cli.bench_axis import WORKERS_OPTION

    return WORKERS_OPTION(command)


def cli_config() -> Any:
    from axis.cli.main import load_config

    return load_config()


# ---------------------------------------------------------------- pages
# The cabinet pages reuse the clerks' pages' session cookie, CSRF token, base template, error
# pages and live-update script; a cabinet person signs in on the axis's /login page.

SESSION_COOKIE = page_auth.SESSION_COOKIE
CSRF_FIELD = page_auth.CSRF_FIELD
CsrfRefused = page_auth.CsrfRefused
check_csrf = page_auth.check_csrf
clear_cookie = page_auth.clear_cookie
see_other = page_auth.see_other
SECURITY_HEADERS = page_views.SECURITY_HEADERS
HEARTBEAT = page_views.HEARTBEAT
html_errors = axis_pages.guarded  # an AxisError becomes the axis's HTML error page
refused_page = page_views.refused  # 403 page for a missing session or CSRF token
sse_event = page_views._sse


def page_environment(extra_templates: Path) -> jinja2.Environment:
    """The clerks' page templates (base.html, error.html) and filters, with `extra_templates`
    looked up first."""
    env = page_render.environment()
    assert env.loader is not None
    env.loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(extra_templates), env.loader])
    return env


async def page_session(conn: asyncpg.Connection, token: str) -> tuple[User, Session] | None:
    """The cabinet account and session of a page's session cookie, or None."""
    return await users.session_user(conn, token, roles=(CABINET_ROLE,))


async def close_session(conn: asyncpg.Connection, token: str) -> None:
    await users.close_session(conn, token)


# ---------------------------------------------------------------- benchmarks


def bench_sandbox(base: Any, progress: Callable[[str], None]) -> Any:
    """`axis bench`'s throw-away world (database, vhost, blob folder, the Government Office's
    agency), as an async context manager yielding the Sandbox."""
    from axis.benchmarks.sandbox import open_sandbox

    return open_sandbox(base, 0, progress)


def bench_hub(sandbox: Any, progress: Callable[[str], None], workers: int = 1) -> Any:
    """A real `axis serve --workers N` on the sandbox (async context manager yielding a
    HubProcess with base_url and process.pid)."""
    from axis.benchmarks.hub_load import run_hub

    return run_hub(sandbox, workers, progress)


def process_tree(pid: int) -> list[int]:
    """A process and every process it started, alive now."""
    from axis.benchmarks.hub_load import process_tree as tree

    return tree(pid)


def resident_mib(pids: list[int]) -> float:
    """The resident memory now (VmRSS) of these processes, in MiB."""
    from axis.benchmarks.hub_load import _status_kib

    return sum(_status_kib(p, "VmRSS") or 0 for p in pids) / 1024
