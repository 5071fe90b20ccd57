"""Statuses, whoever makes them: 01 (arrived) written by the axis when a recipient acknowledges,
a status an agency posts (/v1 and /vdxp; 13 from a sender, the others from a recipient), and a
recall (13) a clerk asks for on the pages. Each is checked or built here, then goes through one
function, `record`, that writes its summary, acceptance, deliveries and audit entry."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

import edoc
from axis import metrics
from axis.core import ledger
from axis.core.agencies import Agency
from axis.core.errors import BadRequest, Conflict, Forbidden, NotFound
from axis.core.ids import parse_id, uuid7
from axis.core.ingest import check_package
from axis.core.ledger.rules import RECALL_ANSWERS, transition_error
from axis.hub import Hub

log = logging.getLogger("axis.statuses")

__all__ = ["RECALL_ANSWERS", "Made", "arrived", "ask_recall", "post", "record", "transition_error"]


@dataclass(frozen=True)
class Made:
    """A status package ready to record: read (or built) and its bytes in the blob store."""

    message: edoc.StatusMessage
    stored_sha256: str
    size: int
    signature: str  # "xmldsig" or "legacy" (posted by an agency), "axis" (built and sealed here)
    signer_fingerprint: str | None = None
    #: SHA-256 of the bytes as an agency posted them: the same package again is answered once.
    received_sha256: str | None = None
    #: The package's bytes when small enough to be stored by the transaction that records it.
    inline: bytes | None = None


async def store(hub: Hub, data: bytes) -> tuple[str, int, bytes | None]:
    """Where a status package's bytes go: (sha256, size, the bytes themselves when they are to be
    stored with its rows, AXIS_INLINE_MAX_BYTES), else into the blob store now."""
    if len(data) <= hub.config.inline_max_bytes:
        return hashlib.sha256(data).hexdigest(), len(data), data
    stored = await hub.blobs.put(data)
    return stored.sha256, stored.size, None


async def seal(hub: Hub, message: edoc.StatusMessage) -> Made:
    """A status the axis writes for someone (01 for a recipient, 13 for a clerk): built in edXML,
    sealed by the axis (the agency's signing key is not here), and stored."""
    data = await asyncio.to_thread(hub.seal.sign_document, edoc.build(edoc.Package(header=message)))
    sha256, size, inline = await store(hub, data)
    return Made(message, sha256, size, "axis", inline=inline)


async def record(
    conn: asyncpg.Connection,
    hub: Hub,
    *,
    letter: ledger.StoredDocument,
    author: str,
    made: Made,
    by: str,
    targets: list[str],
    about_delivery: uuid.UUID | None = None,
    answer: bool = True,
    audit: dict[str, Any] | None = None,
) -> ledger.AcceptedStatus:
    """The one way a status is stored, in the caller's transaction: its summary, the acceptance
    (with a receipt sealed by the axis when `answer`: someone posted or asked for it), one delivery
    per target, and one 'status' audit entry on the letter. `by` is axis, agency or clerk;
    `about_delivery` is the recipient's delivery whose line the status belongs to."""
    message = made.message
    code = message.status_code.code
    status_id = uuid7()
    deliveries = [ledger.NewDelivery(uuid7(), organ) for organ in targets]
    listed = [{"delivery_id": str(d.delivery_id), "recipient": d.recipient} for d in deliveries]
    receipt: dict[str, Any] = {}
    if answer:
        receipt = hub.seal.sign_json(
            {
                "type": "status_acceptance",
                "document_id": str(status_id),
                "responds_to": str(letter.id),
                "status_code": code,
                "from": author,
                "sha256": made.received_sha256 or made.stored_sha256,
                "deliveries": listed,
            }
        )
    accepted = ledger.AcceptedStatus(
        document_id=status_id,
        status_code=code,
        responds_to=letter.id,
        signature=made.signature,
        deliveries=deliveries,
        receipt=receipt,
    )
    summary = {
        "status_code": code,
        "label_vi": message.status_code.label_vi,
        "label_en": message.status_code.label_en,
        "from": author,
        "description": message.description,
        "timestamp": message.timestamp.isoformat(),
        "responds_to": str(letter.id),
        "staff": message.staff_info.staff if message.staff_info else None,
    }
    await ledger.insert_status(
        conn,
        ledger.NewStatus(
            id=status_id,
            sender=author,
            letter=letter,
            code=code,
            stored_sha256=made.stored_sha256,
            size=made.size,
            signature=made.signature,
            signer_fingerprint=made.signer_fingerprint,
            summary=summary,
            acceptance=accepted.stored_form() if answer else None,
            received_sha256=made.received_sha256,
            deliveries=deliveries,
            audit_delivery_id=about_delivery,
            inline=made.inline,
            audit={
                "status_code": code,
                "status_document_id": str(status_id),
                "recipient": author if author != letter.sender else None,
                "signature": made.signature,
                "by": by,
                **(audit or {}),
            },
        ),
    )
    metrics.STAGE.labels(f"status_{code}").inc()
    return accepted


# ---------------------------------------------------------------- 01, by the axis


async def seal_arrived(hub: Hub, item: ledger.DeliveryItem) -> Made:
    """Status 01 for a letter's delivery, From its recipient, sealed by the axis and stored."""
    message = edoc.StatusMessage(
        from_=edoc.Organization(organ_id=item.recipient, organ_name=item.recipient_name),
        response_for=edoc.ResponseFor(
            organ_id=item.sender,
            code=item.code,
            document_id=item.edxml_document_id,
            promulgation_date=item.promulgation_date,
        ),
        status_code=edoc.StatusCode.ARRIVED,
        timestamp=datetime.now(UTC),
        description="Đã đến (arrived): xác nhận bởi trục liên thông khi đơn vị nhận tải văn bản",
    )
    return await seal(hub, message)


async def arrived(
    conn: asyncpg.Connection, hub: Hub, item: ledger.DeliveryItem, made: Made
) -> ledger.AcceptedStatus:
    """In the acknowledging transaction: status 01 goes back to the letter's sender. Nobody posted
    it, so there is nobody to answer with a receipt."""
    return await record(
        conn,
        hub,
        letter=_letter_of(item),
        author=item.recipient,
        made=made,
        by="axis",
        targets=[item.sender],
        about_delivery=item.delivery_id,
        answer=False,
    )


def _letter_of(item: ledger.DeliveryItem) -> ledger.StoredDocument:
    """What `record` reads of a letter, from its delivery's row (no second read of the letter)."""
    return ledger.StoredDocument(
        id=item.document_id,
        kind=item.kind,
        sender=item.sender,
        edxml_document_id=item.edxml_document_id,
        business_type=item.business_type,
        status_code=item.status_code,
        content_sha256="",
        size=item.size,
        code_number=item.code_number,
        code_notation=item.code_notation,
        subject=item.subject,
        type_name=None,
        promulgation_date=item.promulgation_date,
        due_date=item.due_date,
        signature=item.signature,
        signer_fingerprint=None,
        responds_to=item.responds_to,
        summary={},
        acceptance=None,
        received_at=item.received_at,
    )


# ---------------------------------------------------------------- posted by an agency


async def post(
    hub: Hub, agency: Agency, data: bytes, *, letter_id: str | None = None
) -> ledger.AcceptedStatus:
    """A signed Status package about a letter; `letter_id` None finds the letter from ResponseFor.
    The same package posted again gets the first answer (`repeated`)."""
    checked = await check_package(hub, data, agency)
    status = checked.package.header
    if not isinstance(status, edoc.StatusMessage):
        raise BadRequest(
            "this is a letter, not a Status package; send letters to /v1/documents",
            where="MessageHeader",
        )
    code = status.status_code.code
    received_sha = hashlib.sha256(data).hexdigest()
    async with hub.db.connection() as conn:
        letter = await _letter(conn, agency, status, letter_id)
        earlier = await ledger.earlier_status(conn, agency.organ_id, letter.id, received_sha)
    if earlier is not None:
        return ledger.AcceptedStatus.from_stored(earlier, repeated=True)

    is_sender = letter.sender == agency.organ_id
    if code == "13":
        if not is_sender:
            raise Forbidden(
                "only the letter's sender may ask for it back (13)",
                where="MessageHeader/StatusCode",
            )
    elif is_sender:
        raise Forbidden(
            f"status {code} is reported by a recipient; the sender may only post 13 (recall asked)",
            where="MessageHeader/StatusCode",
        )

    kept = data
    if checked.signature == "legacy":
        kept = await asyncio.to_thread(hub.seal.sign_document, data)
    sha256, size, inline = await store(hub, kept)
    made = Made(
        status,
        sha256,
        size,
        checked.signature,
        checked.signer_fingerprint,
        received_sha,
        inline=inline,
    )
    async with hub.db.connection() as conn, conn.transaction():
        if code == "13":
            targets = await ledger.recipients_of(conn, letter.id)
        else:
            line = await ledger.delivery_of(conn, letter.id, agency.organ_id, lock=True)
            assert line is not None  # _letter checked that the caller is a recipient
            problem = transition_error(
                line.business_status if code not in RECALL_ANSWERS else None,
                code,
                recall_asked=await ledger.recall_asked(conn, letter.id),
                business_type=letter.business_type,
            )
            if problem:
                metrics.REFUSED.labels("status_transition").inc()
                raise Conflict(
                    problem,
                    where="MessageHeader/StatusCode",
                    details={
                        "current": line.business_status,
                        "posted": code,
                        "delivery_id": str(line.delivery_id),
                    },
                )
            if code not in RECALL_ANSWERS:
                await ledger.set_business_status(conn, line.delivery_id, code)
            targets = [letter.sender]
        accepted = await record(
            conn,
            hub,
            letter=letter,
            author=agency.organ_id,
            made=made,
            by="agency",
            targets=targets,
        )
    log.info("event=status document_id=%s from=%s code=%s", letter.id, agency.organ_id, code)
    return accepted


async def _letter(
    conn: asyncpg.Connection, agency: Agency, status: edoc.StatusMessage, letter_id: str | None
) -> ledger.StoredDocument:
    """The letter a status is about, visible to the caller (sender or recipient); 404 otherwise."""
    ref = status.response_for
    if letter_id is not None:
        found = await ledger.visible_document(
            conn, agency.organ_id, parse_id(letter_id, "document"), kind="letter"
        )
        if found is None:
            raise NotFound(
                f"no letter {letter_id} sent to or by {agency.organ_id}", where="document"
            )
        if ref.document_id != found.edxml_document_id:
            raise BadRequest(
                f"ResponseFor/DocumentId is {ref.document_id!r} but letter {letter_id} is {found.edxml_document_id!r}",
                where="MessageHeader/ResponseFor/DocumentId",
            )
        return found
    found = await ledger.letter_by_reference(conn, agency.organ_id, ref.document_id, ref.organ_id)
    if found is None:
        raise NotFound(
            f"no letter {ref.document_id} from {ref.organ_id} was sent to or by {agency.organ_id}",
            where="MessageHeader/ResponseFor/DocumentId",
        )
    return found


# ---------------------------------------------------------------- 13, asked by a clerk


async def ask_recall(
    hub: Hub, agency: Agency, letter_id: str, *, clerk: str, reason: str | None = None
) -> ledger.AcceptedStatus:
    """Status 13 (recall asked) for a letter `agency` sent, asked by a clerk on the pages. The
    agency's signing key is not on the axis, so the axis builds the Status and seals it, and the
    audit names the clerk who asked. Asking twice is a conflict: one recall request per letter."""
    doc_id = parse_id(letter_id, "document")
    async with hub.db.connection() as conn:
        letter = await ledger.visible_document(conn, agency.organ_id, doc_id, kind="letter")
    if letter is None:
        raise NotFound(f"no letter {letter_id} sent to or by {agency.organ_id}", where="document")
    if letter.sender != agency.organ_id:
        raise Forbidden("only the letter's sender may ask for it back (13)", where="document")
    message = edoc.StatusMessage(
        from_=edoc.Organization(organ_id=agency.organ_id, organ_name=agency.name),
        response_for=edoc.ResponseFor(
            organ_id=letter.sender,
            code=letter.code,
            document_id=letter.edxml_document_id,
            promulgation_date=letter.promulgation_date,
        ),
        status_code=edoc.StatusCode.RECALL_ASKED,
        timestamp=datetime.now(UTC),
        description=reason or "Đề nghị lấy lại văn bản (recall asked)",
        staff_info=edoc.StaffInfo(staff=clerk),
    )
    made = await seal(hub, message)
    async with hub.db.connection() as conn, conn.transaction():
        # The letter's row lock makes two clerks asking at once ask once.
        await ledger.lock_letter(conn, doc_id)
        if await ledger.recall_asked(conn, doc_id):
            raise Conflict("a recall of this letter was already asked", where="document")
        accepted = await record(
            conn,
            hub,
            letter=letter,
            author=agency.organ_id,
            made=made,
            by="clerk",
            targets=await ledger.recipients_of(conn, doc_id),
            audit={"clerk": clerk, "reason": reason},
        )
    log.info("event=status document_id=%s from=%s code=13 clerk=%s", doc_id, agency.organ_id, clerk)
    return accepted
