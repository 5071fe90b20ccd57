"""The result of a closed consultation as an official letter: edXML built with edoc, From the
Government Office's agency (AXIS_CABINET_ORGAN) to the requesting ministry (ResponseFor its request
letter), the report and the sealed tally attached, signed with the key in AXIS_CABINET_SIGNER_DIR
and submitted through the axis's own ingest like any agency's letter.

Sent once: the signed bytes are stored (blob store, their SHA-256 on the consultation) before they
are submitted, so a retry after a crash submits the very same bytes and the axis answers with its
first acceptance; a second request answers what the first was answered."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import edoc
from meetings import axis_port as ax
from meetings import consultations, report, service
from meetings.people import Person
from signing.errors import SignatureError
from signing.keys import load_certificates, load_private_key
from signing.xmldsig import sign

VIETNAM = dt.timezone(dt.timedelta(hours=7))
NOTATION = "VPCP-LYKTV"  # the Government Office's letters on written consultations


def _recipients(value: object, requested_by: str) -> list[str]:
    if value is None:
        return [requested_by]
    if not isinstance(value, list) or not value:
        raise ax.BadRequest(
            "to is null (the requesting ministry) or a non-empty list of organ ids", where="to"
        )
    out: list[str] = []
    for n, organ in enumerate(value):
        if not isinstance(organ, str) or not organ.strip() or len(organ) > 100:
            raise ax.BadRequest(f"to[{n}] must be an organ id", where=f"to[{n}]")
        if organ in out:
            raise ax.BadRequest(f"to[{n}]: {organ} is named twice", where=f"to[{n}]")
        out.append(organ)
    return out


def _signer(directory: str) -> tuple[Any, list[Any]]:
    if not directory:
        raise ax.Unprocessable(
            "AXIS_CABINET_SIGNER_DIR is not set: the hub has no key to sign the result letter with",
            where="AXIS_CABINET_SIGNER_DIR",
        )
    folder = Path(directory)
    try:
        return load_private_key(folder / "key.pem"), load_certificates(folder / "cert.pem")
    except SignatureError as exc:
        raise ax.Unprocessable(
            f"AXIS_CABINET_SIGNER_DIR: {exc.message}", where="AXIS_CABINET_SIGNER_DIR"
        ) from None


def build(
    *,
    consultation: dict[str, Any],
    sealed_tally: dict[str, Any],
    report_html: bytes,
    organ: tuple[str, str],
    to: list[tuple[str, str]],
    request_letter: dict[str, Any] | None,
    number: int,
) -> edoc.Package:
    """The result letter as an edoc package (unsigned)."""
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(VIETNAM).date()
    tally_json = json.dumps(sealed_tally, ensure_ascii=False, indent=2).encode("utf-8")
    passed = [q for q in sealed_tally["payload"]["questions"] if q["outcome"] == "passed"]
    lines = [
        f"Văn phòng Chính phủ thông báo kết quả lấy ý kiến thành viên Chính phủ về: {consultation['title']}.",
        *(
            f"Câu hỏi {q['number']}: {'thông qua' if q['outcome'] == 'passed' else 'không thông qua'} "
            f"({q['agree_counted']}/{q['required']} đồng ý cần thiết"
            f"{', Thủ tướng quyết định khi hòa phiếu' if q['decided_by'] == 'tie_break' else ''})."
            for q in sealed_tally["payload"]["questions"]
        ),
        f"Số câu hỏi được thông qua: {len(passed)}/{len(sealed_tally['payload']['questions'])}.",
        "Kèm theo: báo cáo kết quả (report.html) và kết quả kiểm phiếu có dấu của Trục (tally.json).",
    ]
    response_for = []
    if request_letter is not None:
        summary = request_letter["summary"]
        code = summary.get("code") or {}
        promulgated = summary.get("promulgation_date")
        response_for.append(
            edoc.ResponseFor(
                organ_id=summary["from"]["organ_id"],
                code=f"{code.get('number')}/{code.get('notation')}" if code.get("number") else None,
                document_id=summary["document_id"],
                promulgation_date=dt.date.fromisoformat(promulgated) if promulgated else None,
            )
        )
    header = edoc.MessageHeader(
        from_=edoc.Organization(organ_id=organ[0], organ_name=organ[1]),
        to=[edoc.Organization(organ_id=o, organ_name=name) for o, name in to],
        # One DocumentId per consultation: a repeat of the same letter is recognised as one.
        document_id=str(uuid.uuid5(uuid.UUID(consultation["id"]), "result-letter")),
        code=edoc.Code(number=str(number), notation=NOTATION),
        promulgation_info=edoc.PromulgationInfo(place="Hà Nội", date=today),
        document_type=edoc.DocumentType(type=1, type_name="Công văn"),
        subject=f"Kết quả lấy ý kiến thành viên Chính phủ: {consultation['title']}",
        content="\n".join(lines),
        signer_info=edoc.SignerInfo(
            competence="TL. THỦ TƯỚNG",
            position="Văn phòng Chính phủ",
            full_name="Văn phòng Chính phủ",
        ),
        response_for=response_for,
    )
    files = [
        edoc.Attachment.from_bytes(
            report_html, name="report.html", content_id="report", content_type="text/html"
        ),
        edoc.Attachment.from_bytes(
            tally_json, name="tally.json", content_id="tally", content_type="application/json"
        ),
    ]
    trace = edoc.TraceHeaderList(
        bussiness=edoc.Bussiness(
            bussiness_doc_type=edoc.BussinessDocType.NEW, bussiness_doc_reason="", paper=0
        ),
        trace_headers=[edoc.TraceHeader(organ_id=organ[0], timestamp=now)],
    )
    manifest = [
        edoc.ManifestReference(
            content_id=a.content_id, content_type=a.content_type, attachment_name=a.name
        )
        for a in files
    ]
    return edoc.Package(header=header, trace=trace, manifest=manifest, attachments=files)


async def send(
    hub: ax.Hub, person: Person, consultation_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The axis's acceptance of the result letter: sent now, or as it was the first time."""
    service.secretariat_only(person)
    async with hub.db.connection() as conn:
        row = await consultations._row(conn, consultation_id)
    if row["result"] is not None:
        return dict(consultations._loads(row["result"]))
    if row["state"] != "closed":
        raise consultations.NotClosed(
            f"consultation {consultation_id} is {row['state']}; the result is sent once it is closed",
            where="consultation",
        )
    to = _recipients(body.get("to"), row["requested_by"])
    organ = hub.config.cabinet_organ
    if not organ:
        raise ax.Unprocessable(
            "AXIS_CABINET_ORGAN is not set: the hub does not know the Government Office's agency",
            where="AXIS_CABINET_ORGAN",
        )
    async with hub.db.connection() as conn:
        # One sender at a time for this consultation (a session lock, held while submitting).
        lock = f"consultation-result:{row['id']}"
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", lock)
        try:
            row = await consultations._row(conn, row["id"])
            if row["result"] is not None:
                return dict(consultations._loads(row["result"]))
            if row["result_sha256"] is None:
                data = await _signed_letter(hub, conn, person, row, organ, to)
                stored = await hub.blobs.put(data)
                await conn.execute(
                    "UPDATE consultations SET result_sha256 = $2, result_to = $3 WHERE id = $1",
                    row["id"], stored.sha256, to,
                )  # fmt: skip
            else:
                data = await hub.blobs.read(row["result_sha256"])
            try:
                accepted = await ax.submit_letter(hub, organ, data)
            except ax.AxisError:
                # Refused, so the axis holds nothing of it: the next request builds it anew.
                await conn.execute(
                    "UPDATE consultations SET result_sha256 = NULL, result_to = NULL WHERE id = $1",
                    row["id"],
                )
                raise
            async with conn.transaction():
                await conn.execute(
                    "UPDATE consultations SET result = $2::jsonb WHERE id = $1",
                    row["id"], json.dumps(accepted, ensure_ascii=False),
                )  # fmt: skip
                await ax.audit_about(
                    conn,
                    row["id"],
                    "consultation_result_sent",
                    {"consultation_id": str(row["id"]), "document_id": accepted["document_id"],
                     "sha256": row["result_sha256"] or stored.sha256, "to": list(row["result_to"] or to),
                     "tally_sha256": row["tally_sha256"], "by": str(person.id)},
                )  # fmt: skip
            return accepted
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", lock)


async def _signed_letter(
    hub: ax.Hub, conn: Any, person: Person, row: Any, organ: str, to: list[str]
) -> bytes:
    names = []
    for n, recipient in enumerate(to):
        name = await ax.agency_name(conn, recipient)
        if name is None:
            raise ax.Unprocessable(
                f"to[{n}]: no agency {recipient!r} on the axis", where=f"to[{n}]"
            )
        names.append((recipient, name))
    organ_name = await ax.agency_name(conn, organ) or "Văn phòng Chính phủ"
    described = await consultations.describe(conn, person, row)
    sealed = consultations._loads(row["tally"])
    html = await report.for_person(conn, person, str(row["id"]))
    request_letter = None
    if row["request_letter"] is not None:
        request_letter = await ax.letter_summary(hub, organ, str(row["request_letter"]))
    number = await conn.fetchval(
        "SELECT count(*) + 1 FROM consultations WHERE result_sha256 IS NOT NULL"
    )
    package = build(
        consultation=described,
        sealed_tally=sealed,
        report_html=html,
        organ=(organ, organ_name),
        to=names,
        request_letter=request_letter,
        number=int(number),
    )
    key, chain = _signer(hub.config.cabinet_signer_dir)
    try:
        return sign(edoc.build(package), key, chain)
    except SignatureError as exc:
        raise ax.Unprocessable(
            f"the result letter could not be signed: {exc.message}", where="AXIS_CABINET_SIGNER_DIR"
        ) from None
