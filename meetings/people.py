"""Cabinet people: an axis account (role `cabinet`) plus the profile kept here — secretariat,
member (title, votes, the chair) or deputy (stands in for a member, never votes) — and their
personal certificates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from cryptography import x509

from meetings import axis_port as ax
from signing.errors import SignatureError
from signing.keys import certificate_pem, fingerprint, parse_certificates

KINDS = ("secretariat", "member", "deputy")


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    login: str
    full_name: str
    kind: str
    title: str | None
    votes: bool
    chair: bool
    active: bool
    organ_id: str

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "login": self.login,
            "full_name": self.full_name,
            "kind": self.kind,
            "title": self.title,
            "votes": self.votes,
            "chair": self.chair,
            "active": self.active,
        }

    @property
    def secretariat(self) -> bool:
        return self.kind == "secretariat"


#: A cabinet person's row (people.person_of reads it), for a query to end with its WHERE.
PERSON_QUERY = """SELECT u.id, u.login, u.full_name, u.active, u.organ_id,
                    p.kind, p.title, p.votes, p.chair
               FROM cabinet_people p JOIN users u ON u.id = p.person_id"""


def person_of(row: asyncpg.Record) -> Person:
    return Person(
        id=row["id"],
        login=row["login"],
        full_name=row["full_name"] or "",
        kind=row["kind"],
        title=row["title"],
        votes=row["votes"],
        chair=row["chair"],
        active=row["active"],
        organ_id=row["organ_id"],
    )


def load_certificate(data: bytes, source: str) -> x509.Certificate:
    """The first certificate of a PEM or DER file: the person's own."""
    try:
        certs = parse_certificates(data, source)
    except SignatureError as exc:
        raise ax.BadRequest(f"{source}: {exc.message}", where="cert") from None
    if not certs:
        raise ax.BadRequest(f"{source}: holds no certificate", where="cert")
    return certs[0]  # the person's own; issuers may follow it in the file


async def add(
    conn: asyncpg.Connection,
    *,
    organ_id: str,
    login: str,
    full_name: str,
    kind: str,
    password: str,
    title: str | None = None,
    chair: bool = False,
    votes: bool | None = None,
    certificates: list[x509.Certificate] | None = None,
) -> Person:
    """One transaction: the account, the profile, the certificates and an audit entry."""
    if kind not in KINDS:
        raise ax.BadRequest(f"kind must be one of {', '.join(KINDS)}, not {kind!r}", where="kind")
    if not full_name.strip():
        raise ax.BadRequest("a person needs a name", where="name")
    if kind != "member" and chair:
        raise ax.BadRequest("only a member can chair (the Prime Minister)", where="chair")
    if kind != "member" and votes:
        raise ax.BadRequest(f"a {kind} never votes", where="votes")
    ax.check_password(password)
    does_vote = kind == "member" if votes is None else votes
    async with conn.transaction():
        if chair and await conn.fetchval("SELECT 1 FROM cabinet_people WHERE chair"):
            raise ax.Conflict("the Government already has its chair", where="chair")
        user = await ax.add_account(
            conn, organ_id=organ_id, login=login, password=password, full_name=full_name.strip()
        )
        await conn.execute(
            """INSERT INTO cabinet_people (person_id, kind, title, votes, chair)
               VALUES ($1, $2, $3, $4, $5)""",
            user.id,
            kind,
            title,
            does_vote,
            chair,
        )
        for cert in certificates or []:
            await _insert_certificate(conn, user.id, cert)
        await ax.audit(
            conn,
            "cabinet_person_added",
            {"person_id": str(user.id), "login": login, "kind": kind, "chair": chair},
        )
    return await get(conn, user.id)


async def _insert_certificate(
    conn: asyncpg.Connection, person_id: uuid.UUID, cert: x509.Certificate
) -> str:
    fp = fingerprint(cert)
    await conn.execute(
        """INSERT INTO cabinet_certificates (person_id, fingerprint, subject, not_after, pem)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        person_id,
        fp,
        cert.subject.rfc4514_string(),
        cert.not_valid_after_utc,
        certificate_pem(cert),
    )
    return fp


async def add_certificate(conn: asyncpg.Connection, login: str, cert: x509.Certificate) -> str:
    person = await by_login(conn, login)
    async with conn.transaction():
        fp = await _insert_certificate(conn, person.id, cert)
        await ax.audit(
            conn,
            "cabinet_certificate_added",
            {"person_id": str(person.id), "fingerprint": fp},
        )
    return fp


async def get(conn: asyncpg.Connection, person_id: uuid.UUID) -> Person:
    row = await conn.fetchrow(PERSON_QUERY + " WHERE u.id = $1", person_id)
    if row is None:
        raise ax.NotFound(f"no cabinet person {person_id}", where="person")
    return person_of(row)


async def by_session(conn: asyncpg.Connection, token: str) -> Person | None:
    """The cabinet person of a live session token, or None; one round trip."""
    key = ax.session_key(token)
    if key is None:
        return None
    row = await conn.fetchrow(PERSON_QUERY + f" WHERE u.id = ({ax.live_session_account()})", key)
    return None if row is None else person_of(row)


async def by_login(conn: asyncpg.Connection, login: str) -> Person:
    row = await conn.fetchrow(PERSON_QUERY + " WHERE lower(u.login) = lower($1)", login)
    if row is None:
        raise ax.NotFound(f"no cabinet person with the login {login!r}", where="login")
    return person_of(row)


async def list_all(conn: asyncpg.Connection) -> list[Person]:
    rows = await conn.fetch(
        PERSON_QUERY
        + """ ORDER BY CASE p.kind WHEN 'member' THEN 0 WHEN 'deputy' THEN 1 ELSE 2 END,
                       NOT p.chair, u.login"""
    )
    return [person_of(r) for r in rows]


async def many(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, Person]:
    rows = await conn.fetch(PERSON_QUERY + " WHERE u.id = ANY($1::uuid[])", ids)
    return {r["id"]: person_of(r) for r in rows}


async def disable(conn: asyncpg.Connection, login: str) -> Person:
    person = await by_login(conn, login)
    async with conn.transaction():
        await ax.set_account_active(conn, person.login, False)
        await ax.audit(conn, "cabinet_person_disabled", {"person_id": str(person.id)})
    return await get(conn, person.id)


async def certificates(conn: asyncpg.Connection, person_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT fingerprint, subject, not_after FROM cabinet_certificates WHERE person_id = $1 ORDER BY added_at",
        person_id,
    )
    return [
        {
            "fingerprint": r["fingerprint"],
            "subject": r["subject"],
            "not_after": r["not_after"].isoformat(),
        }
        for r in rows
    ]
