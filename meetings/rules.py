"""The meeting rules as versioned settings: each change makes a new full version; a meeting keeps
the version in force when it was created."""

from __future__ import annotations

import json
import math
import uuid
from fractions import Fraction
from typing import Any

import asyncpg

from meetings import axis_port as ax


def _fraction(value: object) -> str:
    if not isinstance(value, str) or value.count("/") != 1:
        raise ax.BadRequest(
            f'quorum_fraction must be a fraction written "a/b" such as "2/3", not {value!r}',
            where="rules.quorum_fraction",
        )
    top, _, bottom = value.partition("/")
    digits = [part.strip() for part in (top, bottom)]
    if not all(d.isascii() and d.isdigit() and len(d) <= 6 for d in digits) or int(bottom) == 0:
        raise ax.BadRequest(
            f'quorum_fraction must be "a/b" with whole numbers a and b > 0, not {value!r}',
            where="rules.quorum_fraction",
        )
    fraction = Fraction(int(top), int(bottom))
    if not 0 < fraction <= 1:
        raise ax.BadRequest(
            f"quorum_fraction must be above 0 and at most 1, not {value!r}",
            where="rules.quorum_fraction",
        )
    return f"{int(top)}/{int(bottom)}"


def _days(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60:
        raise ax.BadRequest(
            f"notice_days must be a whole number of days from 0 to 60, not {value!r}",
            where="rules.notice_days",
        )
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ax.BadRequest(
            f"take_back_on_close must be true or false, not {value!r}",
            where="rules.take_back_on_close",
        )
    return value


CHECKS = {"quorum_fraction": _fraction, "notice_days": _days, "take_back_on_close": _flag}


def required(rules: dict[str, Any], voting_members: int) -> int:
    """⌈fraction × voting members⌉."""
    top, _, bottom = str(rules["quorum_fraction"]).partition("/")
    return math.ceil(Fraction(int(top), int(bottom)) * voting_members)


def _version(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "version": row["version"],
        "rules": json.loads(row["rules"]),
        "note": row["note"],
        "created_at": row["created_at"].isoformat(),
    }


async def current(conn: asyncpg.Connection) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT version, rules, note, created_at FROM cabinet_rules ORDER BY version DESC LIMIT 1"
    )
    return _version(row)


async def version(conn: asyncpg.Connection, number: int) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT version, rules, note, created_at FROM cabinet_rules WHERE version = $1", number
    )
    return _version(row)


async def history(conn: asyncpg.Connection) -> dict[str, Any]:
    rows = await conn.fetch(
        "SELECT version, rules, note, created_at FROM cabinet_rules ORDER BY version DESC"
    )
    versions = [_version(r) for r in rows]
    return {"current": versions[0], "versions": versions}


async def change(
    conn: asyncpg.Connection, changes: object, note: object, by: uuid.UUID | None
) -> dict[str, Any]:
    """A new full version from the current one and `changes`; a bad key or value changes nothing."""
    if not isinstance(changes, dict) or not changes:
        raise ax.BadRequest("rules must be an object of the keys to change", where="rules")
    for key in changes:
        if key not in CHECKS:
            raise ax.BadRequest(
                f"unknown rule {key!r}; the rules are {', '.join(CHECKS)}", where=f"rules.{key}"
            )
    checked = {key: CHECKS[key](value) for key, value in changes.items()}
    if note is not None and not isinstance(note, str):
        raise ax.BadRequest("note must be text", where="note")
    async with conn.transaction():
        # One writer at a time, so two changes never claim the same version number.
        await conn.execute("LOCK TABLE cabinet_rules IN SHARE ROW EXCLUSIVE MODE")
        now = await current(conn)
        rules = {**now["rules"], **checked}
        row = await conn.fetchrow(
            """INSERT INTO cabinet_rules (version, rules, note, created_by)
               VALUES ($1, $2::jsonb, $3, $4) RETURNING version, rules, note, created_at""",
            now["version"] + 1,
            json.dumps(rules),
            note,
            by,
        )
        await ax.audit(
            conn,
            "cabinet_rules_changed",
            {"version": row["version"], "changes": checked, "by": str(by) if by else None},
        )
    return _version(row)
