"""Sending a letter: read, validate, verify, store and route it, all inside the request.

Nothing is stored for a refused letter. A small package (AXIS_INLINE_MAX_BYTES) is stored by the
transaction that records the letter; a large one goes to the blob store before it. Blobs are
content-addressed, so a blob left by a refused or failed request is harmless and is reused by the
next identical one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
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
from axis import metrics
from axis.core import ledger, repo
from axis.core.agencies import Agency
from axis.core.errors import AxisError, BadRequest, Conflict, Forbidden, TooLarge, Unprocessable
from axis.core.ids import uuid7
from axis.core.ledger.batch import SameLetterInBatch
from axis.hub import Hub
from storage.blobs import BlobRef

log = logging.getLogger("axis.ingest")


class SignatureRefused(Forbidden):
    code = "signature_invalid"


@dataclass(frozen=True)
class Checked:
    package: edoc.Package
    signature: str  # "xmldsig" or "legacy"
    signer_fingerprint: str | None
    signer: x509.Certificate | None = None
    bound_by: str | None = None  # how the signer was bound to the sender (signing.bind_signer)

    def without_signer(self) -> Checked:
        """What crosses from a check process (a certificate object does not)."""
        return dataclasses.replace(self, signer=None)

    def with_signer(self, signer: x509.Certificate | None) -> Checked:
        return dataclasses.replace(self, signer=signer)


def edoc_error(exc: edoc.EdocError) -> AxisError:
    """A package the reader refused, under the reader's own code (bad_base64, invalid_date…)."""
    kind = TooLarge if isinstance(exc, edoc.TooLargeError) else BadRequest
    details = {"line": exc.line} if exc.line is not None else None
    return kind(str(exc), where=exc.where, details=details, code=exc.code)


def package_problem(problems: list[edoc.Problem]) -> AxisError:
    """A package whose manifest and attachments disagree: 400 naming the first ContentId at
    fault, every problem found listed in `details`."""
    first = problems[0]
    return BadRequest(
        first.message,
        where=first.where,
        details={"content_id": first.content_id, "problems": [p.to_json() for p in problems]},
        code=first.code,
    )


async def check_package(hub: Hub, data: bytes, sender: Agency) -> Checked:
    """Everything a letter or status must pass before it is stored: parsed, its signature
    verified, and its signer bound to the sender. Letters (/v1, /vdxp, the pages) and statuses
    (/v1 and /vdxp, recalls included) all come through here."""
    checked: Checked = await hub.checks.check(data, sender, hub.trust)
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
            # The tree is handed over: the model below is read from it, not from a second parse.
            verified = signing.verify(root, trust, own_tree=True)
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


async def submit(hub: Hub, sender: Agency, data: bytes) -> ledger.AcceptedLetter:
    """Take a letter: checked, its bytes stored, then the letter, its links, attachments and
    deliveries recorded in one transaction. The same bytes again get the first answer (repeated)."""
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

    cache = hub.token_cache
    active = {o: a for o in recipients if (a := cache.active(o)) is not None}
    async with hub.db.connection() as conn:
        earlier = await _earlier(
            conn, sender.organ_id, header.document_id, business_type, content_sha
        )
        if earlier is not None:
            return earlier
        if len(active) < len(recipients):
            generation = cache.generation
            rows = await repo.agencies_by_ids(conn, [o for o in recipients if o not in active])
            found = {r["organ_id"]: r["active"] for r in rows}
            cache.put_active(found, generation)
            active.update(found)
        links = await _links(conn, sender, package, business_type)
    unknown = [o for o in recipients if o not in active]
    disabled = [o for o in recipients if o in active and not active[o]]
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
    inline: bytes | None = None
    if len(kept) <= hub.config.inline_max_bytes:
        # A small letter: its bytes commit with its rows (stored_bytes), and its attachments are
        # read out of the package when asked for (delivery.open_bytes), so no file is written.
        inline = kept
        stored = BlobRef(hashlib.sha256(kept).hexdigest(), len(kept), created=True)
    else:
        stored = await hub.blobs.put(kept)
        # A large one's attachments are stored apart as well, so they stream without the package
        # being read again.
        for attachment in package.attachments:
            assert attachment.data is not None
            await hub.blobs.put(attachment.data)
    metrics.STAGE_SECONDS.labels("check_and_store").observe(time.perf_counter() - started)

    document_id = uuid7()
    received_at = datetime.now(UTC)
    deliveries = [ledger.NewDelivery(uuid7(), organ) for organ in recipients]
    listed = [{"delivery_id": str(d.delivery_id), "recipient": d.recipient} for d in deliveries]
    receipt = hub.seal.sign_json(
        {
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
            "deliveries": listed,
        }
    )
    accepted = ledger.AcceptedLetter(
        document_id=document_id,
        signature=checked.signature,
        links=links,
        deliveries=deliveries,
        receipt=receipt,
    )
    letter = ledger.NewLetter(
        id=document_id,
        sender=sender.organ_id,
        edxml_document_id=header.document_id,
        business_type=business_type,
        stored_sha256=stored.sha256,
        received_sha256=content_sha,
        size=stored.size,
        code_number=header.code.number,
        code_notation=header.code.notation,
        subject=header.subject,
        type_name=header.document_type.type_name,
        promulgation_date=header.promulgation_info.date,
        due_date=header.due_date,
        signature=checked.signature,
        signer_fingerprint=checked.signer_fingerprint,
        summary=summary_of(package),
        acceptance=accepted.stored_form(),
        received_at=received_at,
        links=links,
        attachments=[
            ledger.NewAttachment(
                content_id=a.content_id,
                name=a.name or a.inner_name or f"attachment-{i}",
                content_type=a.content_type or "application/octet-stream",
                description=a.description,
                size=a.size,
                sha256=a.sha256,
            )
            for i, a in enumerate(package.attachments, start=1)
        ],
        deliveries=deliveries,
        inline=inline,
        audit={
            "sha256": content_sha,
            "recipients": recipients,
            "signature": checked.signature,
            "edxml_document_id": header.document_id,
            "business_type": business_type,
            "links": [{"document_id": str(t), "kind": k} for t, k in links],
        },
    )
    try:
        # Committed with the letters sent at the same moment (group commit); returns once committed.
        await hub.letters.insert(letter)
    except (asyncpg.UniqueViolationError, SameLetterInBatch):
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
    return accepted


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
        own = await ledger.own_original(conn, sender.organ_id, edxml_id)
        if own is None:
            raise Forbidden(
                f"{sender.organ_id} sent no letter {edxml_id}; only a letter's sender may {kind} it",
                where=where,
            )
        found.append((own, kind))
    return found


async def _earlier(
    conn: asyncpg.Connection,
    sender: str,
    edxml_document_id: str,
    business_type: int,
    content_sha: str,
) -> ledger.AcceptedLetter | None:
    found = await ledger.earlier_letter(conn, sender, edxml_document_id, business_type)
    if found is None:
        return None
    sha, body = found
    if sha != content_sha:
        metrics.REFUSED.labels("conflict").inc()
        raise Conflict(
            f"DocumentId {edxml_document_id} was already sent by {sender} with other content",
            where="MessageHeader/DocumentId",
            details={"document_id": body["document_id"]},
        )
    return ledger.AcceptedLetter.from_stored(body, repeated=True)
