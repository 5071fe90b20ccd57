"""Sending a letter: read, validate, verify, store and route it, all inside the request.

Nothing is stored for a refused letter. Blobs are written before the database transaction; they
are content-addressed, so a blob left by a refused or failed request is harmless and is reused by
the next identical one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from cryptography import x509

import edoc
import signing
from axis import metrics, repo
from axis.agencies import Agency
from axis.errors import AxisError, BadRequest, Conflict, Forbidden, Unprocessable
from axis.hub import Hub
from axis.ids import uuid7
from axis.relay import notify_outbox

log = logging.getLogger("axis.ingest")


class SignatureRefused(Forbidden):
    code = "signature_invalid"


@dataclass(frozen=True)
class Accepted:
    status: int  # 202 for a new letter, 202 again for a repeat of the same bytes
    body: dict[str, Any]
    repeated: bool


@dataclass(frozen=True)
class Checked:
    package: edoc.Package
    signature: str  # "xmldsig" or "legacy"
    signer_fingerprint: str | None
    signer: x509.Certificate | None = None
    bound_by: str | None = None  # how the signer was bound to the sender (signing.bind_signer)


def edoc_error(exc: edoc.EdocError) -> AxisError:
    where = exc.where
    status = 413 if isinstance(exc, edoc.TooLargeError) else 400
    err = AxisError(str(exc), where=where)
    err.code = exc.code
    err.status = status
    if exc.line is not None:
        err.details = {"line": exc.line}
    return err


def package_problem(problems: list[edoc.Problem]) -> AxisError:
    """A package whose manifest and attachments disagree: 400 naming the first ContentId at
    fault, every problem found listed in `details`."""
    first = problems[0]
    err = BadRequest(
        first.message,
        where=first.where,
        details={"content_id": first.content_id, "problems": [p.to_json() for p in problems]},
    )
    err.code = first.code
    return err


async def check_package(hub: Hub, data: bytes, sender: Agency) -> Checked:
    """Everything a letter or status must pass before it is stored: parsed, its signature
    verified, and its signer bound to the sender. Letters (/v1, /vdxp, the pages) and statuses
    (/v1 and /vdxp, recalls included) all come through here."""
    checked = await asyncio.to_thread(verify_package, data, sender, hub.trust)
    if checked.signer is None:
        return checked
    owners: list[str] = []
    if checked.signer_fingerprint not in sender.fingerprints:
        async with hub.db.connection() as conn:
            owners = await repo.certificate_owners(conn, checked.signer_fingerprint or "")
    return bind_sender(checked, sender, owners, hub.config.cert_organ_fields)


def bind_sender(
    checked: Checked, sender: Agency, owners: list[str], places: tuple[str, ...]
) -> Checked:
    """The registry binds: a certificate registered to the sender is the sender's, one registered
    to another agency is refused; the organ id a certificate states is an extra check (see
    signing.organs.bind_signer). A refusal is 403 at edXMLHeader/Signature."""
    assert checked.signer is not None
    try:
        bound_by = signing.bind_signer(
            checked.signer,
            sender.organ_id,
            sender.fingerprints,
            places=places,
            registered_to_others=owners,
        )
    except signing.SignatureError as exc:
        raise Forbidden(
            exc.message,
            where="edXMLHeader/Signature",
            details={"reason": exc.code, "fingerprint": checked.signer_fingerprint},
        ) from None
    return dataclasses.replace(checked, bound_by=bound_by)


def verify_package(data: bytes, sender: Agency, trust: signing.TrustStore) -> Checked:
    """The CPU-bound part of the check, run in a worker thread: parse, verify, From is the sender.
    The signer is not yet bound to the sender: `check_package` does that."""
    try:
        root = edoc.parse_tree(data)
    except edoc.EdocError as exc:
        raise edoc_error(exc) from None
    kind = signing.classify(root)
    fingerprint: str | None = None
    signer: x509.Certificate | None = None
    if kind == "xmldsig":
        try:
            verified = signing.verify(root, trust)
        except signing.SignatureError as exc:
            raise SignatureRefused(
                exc.message, where="edXMLHeader/Signature", details={"reason": exc.code}
            ) from None
        # From here on only the element the signature covers is read (signature-wrapping defence).
        signed = verified.signed_element
        fingerprint = verified.fingerprint
        signer = verified.certificate
        signature = "xmldsig"
    elif sender.signature_policy == "legacy":
        signed = root
        signature = "legacy"
    else:
        what = "a placeholder signature" if kind == "placeholder" else "no signature"
        raise SignatureRefused(
            f"the package carries {what}; {sender.organ_id} must sign with XML-DSig (SHA-256 or stronger)",
            where="edXMLHeader/Signature",
            details={
                "reason": "placeholder_signature" if kind == "placeholder" else "signature_missing"
            },
        )
    try:
        package = edoc.from_tree(signed)
    except edoc.EdocError as exc:
        raise edoc_error(exc) from None
    problems = edoc.problems(package)
    if problems:
        raise package_problem(problems)
    if package.header.from_.organ_id != sender.organ_id:
        raise Forbidden(
            f"From is {package.header.from_.organ_id} but the caller is {sender.organ_id}",
            where="MessageHeader/From/OrganId",
        )
    return Checked(package, signature, fingerprint, signer)


def summary_of(package: edoc.Package) -> dict[str, Any]:
    header = package.header
    assert isinstance(header, edoc.MessageHeader)
    business = package.bussiness_doc_type
    return {
        "from": {"organ_id": header.from_.organ_id, "name": header.from_.organ_name},
        "to": [{"organ_id": o.organ_id, "name": o.organ_name} for o in header.to],
        "document_id": header.document_id,
        "code": {"number": header.code.number, "notation": header.code.notation},
        "subject": header.subject,
        "type": {"type": header.document_type.type, "name": header.document_type.type_name},
        "promulgation_date": header.promulgation_info.date.isoformat(),
        "place": header.promulgation_info.place,
        "due_date": header.due_date.isoformat() if header.due_date else None,
        "business_type": int(business) if business is not None else 0,
        "trace": [
            {"organ_id": h.organ_id, "timestamp": h.timestamp.isoformat()}
            for h in (package.trace.trace_headers if package.trace else [])
        ],
        "response_for": [
            {"organ_id": r.organ_id, "document_id": r.document_id, "code": r.code}
            for r in header.response_for
        ],
    }


async def submit(hub: Hub, sender: Agency, data: bytes) -> Accepted:
    started = time.perf_counter()
    checked = await check_package(hub, data, sender)
    package = checked.package
    if package.is_status:
        raise BadRequest(
            "this is a Status package; post it to /v1/documents/{id}/status of the letter it answers",
            where="MessageHeader/StatusCode",
        )
    header = package.header
    assert isinstance(header, edoc.MessageHeader)
    business_type = int(package.bussiness_doc_type or 0)
    content_sha = hashlib.sha256(data).hexdigest()
    recipients = list(dict.fromkeys(o.organ_id for o in header.to))

    async with hub.db.connection() as conn:
        earlier = await _earlier(
            conn, sender.organ_id, header.document_id, business_type, content_sha
        )
        if earlier is not None:
            return earlier
        known = {r["organ_id"]: r for r in await repo.agencies_by_ids(conn, recipients)}
        links = await _links(conn, sender, package, business_type)
    unknown = [o for o in recipients if o not in known]
    disabled = [o for o in recipients if o in known and not known[o]["active"]]
    if unknown or disabled:
        parts = []
        if unknown:
            parts.append("not registered: " + ", ".join(unknown))
        if disabled:
            parts.append("disabled: " + ", ".join(disabled))
        metrics.REFUSED.labels("recipients").inc()
        raise Unprocessable(
            "recipients the axis cannot deliver to (" + "; ".join(parts) + ")",
            where="MessageHeader/To/OrganId",
            details={"unknown": unknown, "disabled": disabled},
        )

    kept = data
    if checked.signature == "legacy":
        # The chain of custody of an unsigned letter starts here: recipients get it sealed by the axis.
        kept = await asyncio.to_thread(hub.seal.sign_document, data)
    stored = await hub.blobs.put(kept)
    for attachment in package.attachments:
        assert attachment.data is not None
        await hub.blobs.put(attachment.data)
    metrics.STAGE_SECONDS.labels("check_and_store").observe(time.perf_counter() - started)

    document_id = uuid7()
    received_at = datetime.now(UTC)
    deliveries = [(uuid7(), organ) for organ in recipients]
    receipt_payload = {
        "type": "acceptance",
        "document_id": str(document_id),
        "sender": sender.organ_id,
        "edxml_document_id": header.document_id,
        "business_type": business_type,
        "sha256": content_sha,
        "stored_sha256": stored.sha256,
        "size": stored.size,
        "signature": checked.signature,
        "unsigned_legacy": checked.signature == "legacy",
        "received_at": received_at.isoformat(),
        "deliveries": [{"delivery_id": str(d), "recipient": o} for d, o in deliveries],
    }
    receipt = hub.seal.sign_json(receipt_payload)
    body = {
        "document_id": str(document_id),
        "status": "accepted",
        "signature": checked.signature,
        "unsigned_legacy": checked.signature == "legacy",
        "links": [{"document_id": str(t), "kind": k} for t, k in links],
        "deliveries": receipt_payload["deliveries"],
        "receipt": receipt,
    }
    try:
        async with hub.db.connection() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO documents (id, kind, sender, edxml_document_id, business_type, content_sha256, size,
                       code_number, code_notation, subject, type_name, promulgation_date, due_date, signature,
                       signer_fingerprint, summary, receipt, received_at, received_sha256, responds_to)
                   VALUES ($1, 'letter', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb,
                           $16::jsonb, $17, $18, $19)""",
                document_id,
                sender.organ_id,
                header.document_id,
                business_type,
                stored.sha256,
                stored.size,
                header.code.number,
                header.code.notation,
                header.subject,
                header.document_type.type_name,
                header.promulgation_info.date,
                header.due_date,
                checked.signature,
                checked.signer_fingerprint,
                json.dumps(summary_of(package), ensure_ascii=False),
                json.dumps(body, ensure_ascii=False),
                received_at,
                content_sha,
                links[0][0] if links else None,
            )
            await conn.executemany(
                "INSERT INTO document_links (from_document, to_document, kind) VALUES ($1, $2, $3)",
                [(document_id, target, kind) for target, kind in links],
            )
            await conn.executemany(
                """INSERT INTO document_attachments
                       (document_id, position, content_id, name, content_type, description, size, sha256)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                [
                    (
                        document_id,
                        i,
                        a.content_id,
                        a.name or a.inner_name or f"attachment-{i}",
                        a.content_type or "application/octet-stream",
                        a.description,
                        a.size,
                        a.sha256,
                    )
                    for i, a in enumerate(package.attachments, start=1)
                ],
            )
            await insert_deliveries(conn, document_id, deliveries)
            await repo.audit(
                conn,
                "accepted",
                organ_id=sender.organ_id,
                document_id=document_id,
                details={
                    "sha256": content_sha,
                    "recipients": recipients,
                    "signature": checked.signature,
                    "edxml_document_id": header.document_id,
                    "business_type": business_type,
                    "links": [{"document_id": str(t), "kind": k} for t, k in links],
                },
            )
    except asyncpg.UniqueViolationError:
        # The same letter sent twice at the same moment: the other request won; answer as it did.
        async with hub.db.connection() as conn:
            earlier = await _earlier(
                conn, sender.organ_id, header.document_id, business_type, content_sha
            )
        if earlier is None:
            raise
        return earlier
    metrics.STAGE.labels("accepted").inc()
    metrics.STAGE.labels("delivery_created").inc(len(deliveries))
    metrics.STAGE_SECONDS.labels("ingest").observe(time.perf_counter() - started)
    log.info(
        "event=accepted document_id=%s sender=%s recipients=%d",
        document_id,
        sender.organ_id,
        len(recipients),
    )
    return Accepted(202, body, repeated=False)


_LINK_KINDS = {1: "recall", 2: "update", 3: "replace"}


async def _links(
    conn: asyncpg.Connection, sender: Agency, package: edoc.Package, business_type: int
) -> list[tuple[uuid.UUID, str]]:
    """The earlier letters a recall, update or replacement refers to; they must be the sender's own.

    Only the sender's own letters are looked at: naming another agency's letter and naming one that
    does not exist get the same answer, so no agency learns which DocumentIds others have used."""
    if business_type == 0:
        return []
    header = package.header
    assert isinstance(header, edoc.MessageHeader)
    kind = _LINK_KINDS.get(business_type)
    if kind is None:
        raise BadRequest(
            f"BussinessDocType {business_type} is not 0, 1, 2 or 3",
            where="TraceHeaderList/Bussiness/BussinessDocType",
        )
    if business_type in (1, 2):
        # A recall or update keeps the original's DocumentId (EDXML.md).
        wanted = [header.document_id]
        where = "MessageHeader/DocumentId"
    else:
        bussiness = package.trace.bussiness if package.trace else None
        wanted = [r.document_id for r in (bussiness.replacement_info_list if bussiness else [])]
        where = "TraceHeaderList/Bussiness/ReplacementInfoList/ReplacementInfo/DocumentId"
        if not wanted:
            raise BadRequest(
                "a replacement (BussinessDocType 3) must name the letter it replaces", where=where
            )
    found: list[tuple[uuid.UUID, str]] = []
    for edxml_id in wanted:
        own = await conn.fetchval(
            """SELECT id FROM documents
                WHERE kind = 'letter' AND edxml_document_id = $1 AND business_type = 0
                  AND sender = $2""",
            edxml_id,
            sender.organ_id,
        )
        if own is None:
            raise Forbidden(
                f"{sender.organ_id} sent no letter {edxml_id}; only a letter's sender may {kind} it",
                where=where,
            )
        found.append((own, kind))
    return found


async def insert_deliveries(
    conn: asyncpg.Connection, document_id: uuid.UUID, deliveries: list[tuple[uuid.UUID, str]]
) -> None:
    """One delivery and one outbox row per recipient, in the caller's transaction."""
    await conn.executemany(
        "INSERT INTO deliveries (id, document_id, recipient) VALUES ($1, $2, $3)",
        [(d, document_id, organ) for d, organ in deliveries],
    )
    await conn.executemany(
        "INSERT INTO outbox (delivery_id, routing_key) VALUES ($1, $2)",
        [(d, organ) for d, organ in deliveries],
    )
    await notify_outbox(conn)


async def _earlier(
    conn: asyncpg.Connection,
    sender: str,
    edxml_document_id: str,
    business_type: int,
    content_sha: str,
) -> Accepted | None:
    row = await conn.fetchrow(
        """SELECT COALESCE(received_sha256, content_sha256) AS content_sha256, receipt FROM documents
            WHERE kind = 'letter' AND sender = $1 AND edxml_document_id = $2 AND business_type = $3""",
        sender,
        edxml_document_id,
        business_type,
    )
    if row is None:
        return None
    if row["content_sha256"] != content_sha:
        metrics.REFUSED.labels("conflict").inc()
        raise Conflict(
            f"DocumentId {edxml_document_id} was already sent by {sender} with other content",
            where="MessageHeader/DocumentId",
            details={"document_id": json.loads(row["receipt"])["document_id"]},
        )
    return Accepted(202, json.loads(row["receipt"]), repeated=True)
