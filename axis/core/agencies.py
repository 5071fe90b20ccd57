"""The agency registry: who may send and receive, how each takes delivery, and its credentials."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from cryptography import x509

import signing
from axis.core import repo, webhooks
from axis.core.errors import BadRequest, Conflict, NotFound
from edoc import OrganId

TOKEN_PREFIX = "axis_"  # noqa: S105 - a prefix, not a secret


def hash_token(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Certificate:
    fingerprint: str
    subject: str
    not_after: datetime


@dataclass(frozen=True)
class Agency:
    organ_id: str
    name: str
    delivery_mode: str
    webhook_url: str | None
    webhook_allow_private: bool
    signature_policy: str
    active: bool
    token_hash: str
    created_at: datetime
    certificates: list[Certificate] = field(default_factory=list)

    @property
    def fingerprints(self) -> set[str]:
        return {c.fingerprint for c in self.certificates}

    def public(self) -> dict[str, object]:
        return {"organ_id": self.organ_id, "name": self.name, "active": self.active}

    def details(self) -> dict[str, object]:
        return {
            **self.public(),
            "delivery": self.delivery_mode,
            "webhook_url": self.webhook_url,
            "webhook_allow_private": self.webhook_allow_private,
            "signature_policy": self.signature_policy,
            "created_at": self.created_at.isoformat(),
            "certificates": [
                {
                    "fingerprint": c.fingerprint,
                    "subject": c.subject,
                    "not_after": c.not_after.isoformat(),
                }
                for c in self.certificates
            ],
        }


def check_organ_id(value: str) -> str:
    try:
        return str(OrganId.parse(value))
    except Exception as exc:  # edoc raises its own InvalidError; the registry speaks AxisError
        raise BadRequest(
            f"{value!r} is not an organ id (mã định danh): {exc}", where="organ_id"
        ) from None


def check_webhook(url: str, *, allow_private: bool = False) -> str:
    """An http(s) URL; a loopback, link-local or private host only with allow_private (see
    axis.core.webhooks for what is checked now and what at push time)."""
    try:
        return webhooks.check(url, allow_private=allow_private)
    except webhooks.WebhookRefused as exc:
        raise BadRequest(str(exc), where="webhook_url") from None


def load_certificate(
    pem_or_der: bytes, organ_id: str, places: tuple[str, ...] = signing.DEFAULT_PLACES
) -> x509.Certificate:
    """Read a certificate to register for `organ_id`; refused when it states another organ id
    (or two different ones) in `places` (AXIS_CERT_ORGAN_FIELDS). One that states none is
    registered all the same: once registered, the registry binds it to the agency."""
    try:
        cert = (
            x509.load_pem_x509_certificate(pem_or_der)
            if b"-----BEGIN" in pem_or_der
            else x509.load_der_x509_certificate(pem_or_der)
        )
    except ValueError as exc:
        raise BadRequest(f"not an X.509 certificate: {exc}", where="cert") from None
    stated = signing.organ_codes(cert, places)
    if stated.conflicting or (stated.code is not None and stated.code != organ_id.upper()):
        raise BadRequest(
            f"the certificate cannot be registered for {organ_id}: {stated.sentence()}",
            where="cert",
        )
    return cert


async def add(
    conn: asyncpg.Connection,
    *,
    organ_id: str,
    name: str,
    webhook_url: str | None = None,
    allow_private: bool = False,
    certificates: list[x509.Certificate] | None = None,
) -> tuple[Agency, str]:
    """Register an agency; returns it with its API token, which is shown only this once."""
    organ_id = check_organ_id(organ_id)
    if not name.strip():
        raise BadRequest("an agency needs a name", where="name")
    if webhook_url:
        check_webhook(webhook_url, allow_private=allow_private)
    token = new_token()
    async with conn.transaction():
        if await repo.agency_exists(conn, organ_id):
            raise Conflict(f"agency {organ_id} is already registered", where="organ_id")
        await repo.insert_agency(
            conn,
            organ_id=organ_id,
            name=name.strip(),
            delivery_mode="push" if webhook_url else "pull",
            webhook_url=webhook_url,
            token_hash=hash_token(token),
            webhook_allow_private=bool(webhook_url) and allow_private,
        )
        for cert in certificates or []:
            await _insert_certificate(conn, organ_id, cert)
        await repo.audit(conn, "agency_registered", organ_id=organ_id, details={"name": name})
        await repo.notify_agencies_changed(conn, organ_id)
    return await get(conn, organ_id), token


async def _insert_certificate(
    conn: asyncpg.Connection, organ_id: str, cert: x509.Certificate
) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    fp = signing.fingerprint(cert)
    others = [o for o in await repo.certificate_owners(conn, fp) if o != organ_id]
    if others:
        # The registry is what binds a signature to an agency, so a certificate is one agency's.
        raise Conflict(
            f"certificate {fp} is already registered to {', '.join(others)}; a certificate "
            "signs for one agency only",
            where="cert",
        )
    await repo.insert_certificate(
        conn,
        organ_id=organ_id,
        fingerprint=fp,
        subject=cert.subject.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        pem=cert.public_bytes(Encoding.PEM).decode("ascii"),
    )
    return fp


async def get(conn: asyncpg.Connection, organ_id: str) -> Agency:
    row = await repo.get_agency(conn, organ_id)
    if row is None:
        raise NotFound(f"no agency {organ_id} is registered", where="organ_id")
    certs = [
        Certificate(r["fingerprint"], r["subject"], r["not_after"])
        for r in await repo.agency_certificates(conn, organ_id)
    ]
    return _agency(row, certs)


def _agency(row: asyncpg.Record, certs: list[Certificate]) -> Agency:
    return Agency(
        organ_id=row["organ_id"],
        name=row["name"],
        delivery_mode=row["delivery_mode"],
        webhook_url=row["webhook_url"],
        webhook_allow_private=row["webhook_allow_private"],
        signature_policy=row["signature_policy"],
        active=row["active"],
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        certificates=certs,
    )


async def by_token(conn: asyncpg.Connection, token: str) -> Agency | None:
    row = await repo.agency_by_token_hash(conn, hash_token(token))
    if row is None:
        return None
    certs = [
        Certificate(r["fingerprint"], r["subject"], r["not_after"])
        for r in await repo.agency_certificates(conn, row["organ_id"])
    ]
    return _agency(row, certs)


async def list_all(conn: asyncpg.Connection, *, active_only: bool = False) -> list[Agency]:
    return [_agency(r, []) for r in await repo.list_agencies(conn, active_only=active_only)]


async def set_active(conn: asyncpg.Connection, organ_id: str, active: bool) -> Agency:
    async with conn.transaction():
        if not await repo.set_agency_active(conn, organ_id, active):
            raise NotFound(f"no agency {organ_id} is registered", where="organ_id")
        await repo.audit(conn, "agency_enabled" if active else "agency_disabled", organ_id=organ_id)
        await repo.notify_agencies_changed(conn, organ_id)
    return await get(conn, organ_id)


async def rotate_token(conn: asyncpg.Connection, organ_id: str) -> str:
    token = new_token()
    async with conn.transaction():
        if not await repo.set_agency_token(conn, organ_id, hash_token(token)):
            raise NotFound(f"no agency {organ_id} is registered", where="organ_id")
        await repo.audit(conn, "agency_token_rotated", organ_id=organ_id)
        await repo.notify_agencies_changed(conn, organ_id)
    return token


POLICIES = ("strict", "legacy")


async def set_signature_policy(conn: asyncpg.Connection, organ_id: str, policy: str) -> Agency:
    """strict: a real XML-DSig by the From organ; legacy: placeholder or missing signatures are
    accepted (today's SDK writes placeholders), marked unsigned-legacy and sealed by the axis."""
    if policy not in POLICIES:
        raise BadRequest("the signature policy is strict or legacy", where="policy")
    async with conn.transaction():
        done = await conn.fetchval(
            """UPDATE agencies SET signature_policy = $2, updated_at = now()
                WHERE organ_id = $1 RETURNING 1""",
            organ_id,
            policy,
        )
        if not done:
            raise NotFound(f"no agency {organ_id} is registered", where="organ_id")
        await repo.audit(
            conn, "agency_signature_policy", organ_id=organ_id, details={"policy": policy}
        )
        await repo.notify_agencies_changed(conn, organ_id)
    return await get(conn, organ_id)


async def set_webhook(
    conn: asyncpg.Connection,
    organ_id: str,
    webhook_url: str | None,
    *,
    allow_private: bool = False,
) -> Agency:
    """Push to webhook_url from now on (pull when None); allow_private is asked again each time."""
    if webhook_url:
        check_webhook(webhook_url, allow_private=allow_private)
    async with conn.transaction():
        if not await repo.set_agency_webhook(conn, organ_id, webhook_url, allow_private):
            raise NotFound(f"no agency {organ_id} is registered", where="organ_id")
        await repo.audit(
            conn,
            "agency_delivery_changed",
            organ_id=organ_id,
            details={
                "webhook_url": webhook_url,
                "allow_private": bool(webhook_url) and allow_private,
            },
        )
        await repo.notify_agencies_changed(conn, organ_id)
    return await get(conn, organ_id)


async def add_certificate(conn: asyncpg.Connection, organ_id: str, cert: x509.Certificate) -> str:
    async with conn.transaction():
        await get(conn, organ_id)
        fp = signing.fingerprint(cert)
        if fp in (await get(conn, organ_id)).fingerprints:
            raise Conflict(f"certificate {fp} is already registered for {organ_id}", where="cert")
        await _insert_certificate(conn, organ_id, cert)
        await repo.audit(
            conn, "agency_certificate_added", organ_id=organ_id, details={"fingerprint": fp}
        )
        await repo.notify_agencies_changed(conn, organ_id)
    return fp


async def remove_certificate(conn: asyncpg.Connection, organ_id: str, fingerprint: str) -> None:
    async with conn.transaction():
        if not await repo.delete_certificate(conn, organ_id, fingerprint.lower().replace(":", "")):
            raise NotFound(f"{organ_id} has no certificate {fingerprint}", where="fingerprint")
        await repo.audit(
            conn,
            "agency_certificate_removed",
            organ_id=organ_id,
            details={"fingerprint": fingerprint},
        )
        await repo.notify_agencies_changed(conn, organ_id)
