"""The meeting rules as versioned settings: each change makes a new full version; a meeting keeps
the version in force when it was created."""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import timedelta
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


def _flag(key: str) -> Any:
    def check(value: object) -> bool:
        if not isinstance(value, bool):
            raise ax.BadRequest(f"{key} must be true or false, not {value!r}", where=f"rules.{key}")
        return value

    return check


def _one_of(key: str, *choices: str) -> Any:
    def check(value: object) -> str:
        if value not in choices:
            raise ax.BadRequest(
                f"{key} must be one of {', '.join(repr(c) for c in choices)}, not {value!r}",
                where=f"rules.{key}",
            )
        return str(value)

    return check


# ISO 8601 durations as written for reminders: days, hours, minutes, seconds (P1D, PT2H, P1DT30M).
_DURATION = re.compile(r"P(?:(\d{1,4})D)?(?:T(?:(\d{1,5})H)?(?:(\d{1,6})M)?(?:(\d{1,7})S)?)?")


def duration(text: str) -> timedelta:
    """An ISO 8601 duration of days, hours, minutes and seconds; ValueError otherwise."""
    found = _DURATION.fullmatch(text)
    if found is None or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(text)
    days, hours, minutes, seconds = (int(g) if g else 0 for g in found.groups())
    span = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if span <= timedelta(0):
        raise ValueError(text)
    return span


def _reminders(value: object) -> list[str]:
    where = "rules.reminders"
    if not isinstance(value, list) or len(value) > 10:
        raise ax.BadRequest(
            'reminders must be a list of at most 10 ISO 8601 durations before the deadline, e.g. ["P1D", "PT2H"]',
            where=where,
        )
    seen: set[timedelta] = set()
    for n, item in enumerate(value):
        try:
            span = duration(item) if isinstance(item, str) else None
        except ValueError:
            span = None
        if span is None:
            raise ax.BadRequest(
                f"reminders[{n}]: {item!r} is not an ISO 8601 duration such as P1D, PT2H or PT30M",
                where=f"{where}[{n}]",
            )
        if span in seen:
            raise ax.BadRequest(f"reminders[{n}]: {item!r} is given twice", where=f"{where}[{n}]")
        seen.add(span)
    return [str(v) for v in value]


CHECKS = {
    "quorum_fraction": _fraction,
    "notice_days": _days,
    "take_back_on_close": _flag("take_back_on_close"),
    # Written consultations (meetings.consultations): Law on Government Organization 2015, Art. 46;
    # Decree 138/2016, Art. 3.
    "majority_of": _one_of("majority_of", "all_members", "asked"),
    "tie_break": _one_of("tie_break", "chair", "none"),
    "silence": _one_of("silence", "no_reply", "agree"),
    "ballot_changes": _flag("ballot_changes"),
    "reminders": _reminders,
    "member_signature_required": _flag("member_signature_required"),
}

#: Keys added after version 1 was written: a stored version without them reads them as these.
DEFAULTS: dict[str, Any] = {
    "majority_of": "all_members",
    "tie_break": "chair",
    "silence": "no_reply",
    "ballot_changes": True,
    "reminders": ["P1D", "PT2H"],
    "member_signature_required": True,
}


def required(rules: dict[str, Any], voting_members: int) -> int:
    """⌈fraction × voting members⌉."""
    top, _, bottom = str(rules["quorum_fraction"]).partition("/")
    return math.ceil(Fraction(int(top), int(bottom)) * voting_members)


def _version(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "version": row["version"],
        "rules": {**DEFAULTS, **json.loads(row["rules"])},
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
