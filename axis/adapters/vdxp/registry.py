"""VDXP credentials and hub sub-units: each agency's encrypted shared secret, and the units a hub
system registers under its own code. The SQL of these columns lives here."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from axis.core import agencies, repo
from axis.core.agencies import Agency
from axis.core.errors import BadRequest, Conflict, Forbidden, NotFound
from axis.core.secrets import SecretBox, new_vdxp_secret


async def issue_secret(conn: asyncpg.Connection, organ_id: str, box: SecretBox) -> str:
    """A new VDXP secret for `organ_id`, stored encrypted; the old one stops working at once."""
    secret = new_vdxp_secret()
    async with conn.transaction():
        done = await conn.fetchval(
            "UPDATE agencies SET vdxp_secret = $2, updated_at = now() WHERE organ_id = $1 RETURNING 1",
            organ_id,
            box.seal(secret),
        )
        if not done:
            raise NotFound(f"no agency {organ_id} is registered", where="organ_id")
        await repo.audit(conn, "vdxp_secret_issued", organ_id=organ_id)
    return secret


async def secret_of(conn: asyncpg.Connection, organ_id: str, box: SecretBox) -> str | None:
    """The secret of an active agency, or None when it has none (or is unknown or disabled)."""
    sealed = await conn.fetchval(
        "SELECT vdxp_secret FROM agencies WHERE organ_id = $1 AND active", organ_id
    )
    return box.open(sealed) if sealed else None


async def units_of(conn: asyncpg.Connection, organ_id: str) -> list[str]:
    """The active sub-units `organ_id` registered, in code order."""
    rows = await conn.fetch(
        "SELECT organ_id FROM agencies WHERE parent_organ_id = $1 AND active ORDER BY organ_id",
        organ_id,
    )
    return [r["organ_id"] for r in rows]


async def acting_as(conn: asyncpg.Connection, caller: Agency, code: str) -> Agency | None:
    """The agency `caller` may act for under `code` (itself or one of its active sub-units). A
    sub-unit follows its hub's signature policy: it sends what its hub's system writes."""
    if code == caller.organ_id:
        return caller
    row = await conn.fetchrow(
        "SELECT 1 FROM agencies WHERE organ_id = $1 AND parent_organ_id = $2 AND active",
        code,
        caller.organ_id,
    )
    if row is None:
        return None
    unit = await agencies.get(conn, code)
    return replace(unit, signature_policy=caller.signature_policy)


@dataclass(frozen=True)
class Unit:
    organ_id: str
    parent: str | None
    name: str
    active: bool
    contact: dict[str, Any]
    updated_at: datetime


async def directory(conn: asyncpg.Connection, *, active_only: bool) -> list[Unit]:
    rows = await conn.fetch(
        """SELECT organ_id, parent_organ_id, name, active, contact, updated_at FROM agencies
            WHERE active OR NOT $1 ORDER BY organ_id""",
        active_only,
    )
    return [
        Unit(
            r["organ_id"],
            r["parent_organ_id"],
            r["name"],
            r["active"],
            json.loads(r["contact"]) if isinstance(r["contact"], str) else dict(r["contact"]),
            r["updated_at"],
        )
        for r in rows
    ]


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    return "" if value is None else str(value).strip()


async def set_hub(conn: asyncpg.Connection, organ_id: str, on: bool) -> None:
    """The operator's choice of the systems that may register and delete sub-units. Switching a hub
    off stops its registerAgency/deleteAgency; the units it registered before keep working."""
    async with conn.transaction():
        done = await conn.fetchval(
            "UPDATE agencies SET vdxp_hub = $2, updated_at = now() WHERE organ_id = $1 RETURNING 1",
            organ_id,
            on,
        )
        if not done:
            raise NotFound(f"no agency {organ_id} is registered", where="organ_id")
        await repo.audit(conn, "vdxp_hub_set", organ_id=organ_id, details={"hub": on})


async def hubs(conn: asyncpg.Connection) -> set[str]:
    """The codes the operator marked as hubs."""
    return {r["organ_id"] for r in await conn.fetch("SELECT organ_id FROM agencies WHERE vdxp_hub")}


async def is_hub(conn: asyncpg.Connection, organ_id: str) -> bool:
    return bool(await conn.fetchval("SELECT vdxp_hub FROM agencies WHERE organ_id = $1", organ_id))


async def _require_hub(conn: asyncpg.Connection, caller: Agency, operation: str) -> None:
    if not await is_hub(conn, caller.organ_id):
        raise Forbidden(
            f"He thong {caller.organ_id} khong phai he thong hub: {operation} chi danh cho hub "
            "do quan tri vien truc chi dinh (axis agency set-hub)",
            where="systemid",
        )


async def register_unit(conn: asyncpg.Connection, hub: Agency, body: dict[str, Any]) -> str:
    """registerAgency, for a hub the operator marked: a sub-unit under the calling hub (`pcode`, or
    `pid`, must be the hub's own code when given). Registering it again updates it, and brings back
    one the hub deleted, never one the operator disabled nor a code registered otherwise."""
    await _require_hub(conn, hub, "registerAgency")
    parent = _text(body, "pcode") or _text(body, "pid") or hub.organ_id
    if parent != hub.organ_id:
        raise Forbidden(
            f"Don vi cha {parent} khong phai ma da dang ky: {hub.organ_id}", where="pcode"
        )
    code = agencies.check_organ_id(_text(body, "code"))
    name = _text(body, "name")
    if not name:
        raise BadRequest("Thieu ten don vi (name)", where="name")
    contact = {k: _text(body, k) for k in ("id", "mail", "mobile", "fax") if _text(body, k)}
    async with conn.transaction():
        row = await conn.fetchrow(
            """SELECT parent_organ_id, active, vdxp_deleted_by_hub FROM agencies
                WHERE organ_id = $1 FOR UPDATE""",
            code,
        )
        if row is not None:
            if row["parent_organ_id"] != hub.organ_id:
                raise Conflict(f"Ma don vi {code} da duoc dang ky", where="code")
            if not row["active"] and not row["vdxp_deleted_by_hub"]:
                raise Forbidden(
                    f"Don vi {code} da bi quan tri vien truc vo hieu hoa; hub khong the bat lai",
                    where="code",
                )
            await conn.execute(
                """UPDATE agencies SET name = $2, contact = $3::jsonb, active = true,
                       vdxp_deleted_by_hub = false, updated_at = now()
                    WHERE organ_id = $1""",
                code,
                name,
                json.dumps(contact, ensure_ascii=False),
            )
            await repo.audit(
                conn,
                "vdxp_unit_updated",
                organ_id=code,
                details={"by": hub.organ_id, "name": name},
            )
            await repo.notify_agencies_changed(conn, code)
            return code
        # A sub-unit has a token nobody knows: it is reached through its hub, not on its own.
        await agencies.add(conn, organ_id=code, name=name)
        await conn.execute(
            """UPDATE agencies SET parent_organ_id = $2, contact = $3::jsonb, signature_policy = $4
                WHERE organ_id = $1""",
            code,
            hub.organ_id,
            json.dumps(contact, ensure_ascii=False),
            hub.signature_policy,
        )
        await repo.audit(conn, "vdxp_unit_registered", organ_id=code, details={"by": hub.organ_id})
    return code


async def delete_unit(conn: asyncpg.Connection, hub: Agency, code: str) -> None:
    """deleteAgency, for a hub the operator marked: only a unit this hub registered; it is
    disabled, its history kept. A unit the operator already disabled stays the operator's."""
    await _require_hub(conn, hub, "deleteAgency")
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT parent_organ_id FROM agencies WHERE organ_id = $1 FOR UPDATE", code
        )
        if row is None:
            raise NotFound(f"Khong tim thay don vi {code}", where="AgencyCode")
        if row["parent_organ_id"] != hub.organ_id:
            raise Forbidden(
                f"Don vi {code} khong do he thong {hub.organ_id} dang ky", where="AgencyCode"
            )
        deleted = await conn.fetchval(
            """UPDATE agencies SET active = false, vdxp_deleted_by_hub = true, updated_at = now()
                WHERE organ_id = $1 AND active RETURNING 1""",
            code,
        )
        if deleted:
            await repo.audit(conn, "vdxp_unit_deleted", organ_id=code, details={"by": hub.organ_id})
            await repo.notify_agencies_changed(conn, code)
