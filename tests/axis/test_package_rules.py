"""What a package says must hold together: a signed letter whose manifest and attachments disagree,
whose OrganId is no organ code, whose text fields pass their limits or whose attachment names and
content types carry control characters is refused naming the thing, and leaves nothing behind.
Packages as real vendors write them (dd/MM/yyyy dates, an empty <ResponseFor/>) are accepted."""

from __future__ import annotations

import dataclasses
import datetime as dt

import asyncpg
import pytest

import edoc
import signing
from tests.support.world import World, WorldAgency, letter_package

PDF = b"%PDF-1.7\n% Cong van\n"


@pytest.fixture
async def pair(db: asyncpg.Connection, world: World):
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    return g22, h41


def _signed(sender: WorldAgency, data: bytes) -> bytes:
    return signing.sign(data, sender.key, sender.chain)


def _package(
    *,
    attachments: list[edoc.Attachment] | None = None,
    manifest_ids: list[str] | None = None,
    content: str | None = None,
    **kwargs,
) -> edoc.Package:
    """A letter from G22 to H41 with the given attachments and a manifest naming `manifest_ids`
    (by default, one Reference per attachment)."""
    package = letter_package("000.00.00.G22", ["000.00.00.H41"], **kwargs)
    files = attachments or []
    ids = manifest_ids if manifest_ids is not None else [a.content_id for a in files]
    manifest = [edoc.ManifestReference(content_id=cid) for cid in ids]
    header = package.header
    if content is not None:
        header = dataclasses.replace(header, content=content)
    return dataclasses.replace(package, header=header, attachments=files, manifest=manifest)


def _pdf(content_id: str, name: str = "cong-van.pdf", **kwargs) -> edoc.Attachment:
    return edoc.Attachment.from_bytes(PDF, name=name, content_id=content_id, **kwargs)


async def _refused(client, sender: WorldAgency, recipient: WorldAgency, db, data: bytes) -> tuple:
    """Post `data`; return (status, error) after checking nothing was stored or delivered."""
    resp = await client.post("/v1/documents", data=data, headers=sender.auth)
    error = (await resp.json())["error"]
    for table in ("documents", "deliveries", "outbox", "document_attachments"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
    inbox = await client.get("/v1/inbox", headers=recipient.auth)
    assert (await inbox.json())["items"] == []
    return resp.status, error


async def test_a_manifest_reference_without_its_attachment_is_400_naming_the_content_id(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    package = _package(attachments=[_pdf("cv")], manifest_ids=["cv", "phu-luc"])
    status, error = await _refused(client, g22, h41, db, world.signed(g22, package))
    assert status == 400
    assert error["code"] == "reference_without_attachment"
    assert error["where"] == "edXMLManifest/Reference[2]/ContentId"
    assert "'phu-luc'" in error["message"]
    assert error["details"]["content_id"] == "phu-luc"


async def test_an_attachment_no_reference_names_is_400_naming_the_content_id(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    package = _package(attachments=[_pdf("cv"), _pdf("an-them", "them.pdf")], manifest_ids=["cv"])
    status, error = await _refused(client, g22, h41, db, world.signed(g22, package))
    assert status == 400
    assert error["code"] == "attachment_without_reference"
    assert error["where"] == "AttachmentEncoded/Attachment[2]/ContentId"
    assert "'an-them'" in error["message"]


async def test_two_attachments_with_one_content_id_are_400(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    package = _package(attachments=[_pdf("cv"), _pdf("cv", "ban-khac.pdf")], manifest_ids=["cv"])
    status, error = await _refused(client, g22, h41, db, world.signed(g22, package))
    assert status == 400
    assert error["code"] == "duplicate_content_id"
    assert error["where"] == "AttachmentEncoded/Attachment[2]/ContentId"
    assert "'cv'" in error["message"]


async def test_a_manifest_content_id_with_cid_prefix_matches_its_attachment(
    client_for, hub_config, pair, world, db
) -> None:
    g22, _ = pair
    client = await client_for(hub_config)
    data = edoc.build(_package(attachments=[_pdf("cv")]))
    assert b"<edXML:ContentId>cid:cv</edXML:ContentId>" in data  # manifest
    assert b"<ContentId>cv</ContentId>" in data  # attachment
    resp = await client.post("/v1/documents", data=_signed(g22, data), headers=g22.auth)
    assert resp.status == 202, await resp.text()


@pytest.mark.parametrize(
    ("where", "old", "new"),
    [
        ("MessageHeader/To/OrganId", b"<edXML:OrganId>000.00.00.H41<", b"<edXML:OrganId>BTTTT<"),
        (
            "MessageHeader/ResponseFor/OrganId",
            b"<edXML:OrganId>000.00.00.H26<",
            b"<edXML:OrganId>UBND Ha Noi<",
        ),
        (
            "TraceHeaderList/TraceHeader/OrganId",
            b"<edXML:TraceHeader>\n          <edXML:OrganId>000.00.00.G22<",
            b"<edXML:TraceHeader>\n          <edXML:OrganId>VPCP<",
        ),
    ],
)
async def test_an_organ_id_that_is_no_organ_code_is_400_naming_the_element(
    client_for, hub_config, pair, world, db, where, old, new
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    answered = edoc.ResponseFor(
        "000.00.00.H26", "12/UBND-VP", "000.00.00.H26,2026/11/01,12/UBND-VP"
    )
    data = edoc.build(_package(response_for=[answered]))
    assert data.count(old) == 1
    status, error = await _refused(client, g22, h41, db, _signed(g22, data.replace(old, new)))
    assert status == 400
    assert error["code"] == "bad_organ_id"
    assert error["where"] == where
    assert "not an organ code" in error["message"]


@pytest.mark.parametrize(
    ("field", "where", "limit"),
    [
        ("subject", "MessageHeader/Subject", edoc.FIELD_LIMITS["Subject"]),
        ("content", "MessageHeader/Content", edoc.FIELD_LIMITS["Content"]),
        ("sender_name", "MessageHeader/From/OrganName", edoc.FIELD_LIMITS["OrganName"]),
    ],
)
async def test_a_text_field_over_its_limit_is_413_naming_the_field(
    client_for, hub_config, pair, world, db, field, where, limit
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    at_limit = world.signed(g22, _package(**{field: "Đ" * limit}))
    over = world.signed(g22, _package(**{field: "Đ" * (limit + 1)}))
    status, error = await _refused(client, g22, h41, db, over)
    assert status == 413
    assert (error["code"], error["where"]) == ("field_too_long", where)
    assert str(limit) in error["message"]
    resp = await client.post("/v1/documents", data=at_limit, headers=g22.auth)
    assert resp.status == 202, await resp.text()


async def test_a_subject_of_five_million_characters_is_413_naming_the_subject(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    client = await client_for(dataclasses.replace(hub_config, max_document_bytes=64 << 20))
    data = world.signed(g22, _package(subject="V" * 5_000_000))
    status, error = await _refused(client, g22, h41, db, data)
    assert status == 413
    assert error["where"] == "MessageHeader/Subject"


@pytest.mark.parametrize(
    ("attachment", "code", "field"),
    [
        (_pdf("cv", "hoa-don\u202efdp.exe"), "bad_attachment_name", "AttachmentName"),
        (_pdf("cv", "cong\u200fvan.pdf"), "bad_attachment_name", "AttachmentName"),
        (_pdf("cv", "cong\x85van.pdf"), "bad_attachment_name", "AttachmentName"),
        (_pdf("cv", "văn bản " * 40 + ".pdf"), "bad_attachment_name", "AttachmentName"),
        (
            _pdf("cv", content_type="application/pdf\nContent-Disposition: inline"),
            "bad_content_type",
            "ContentType",
        ),
        (_pdf("cv", content_type="application/pdf\x7f"), "bad_content_type", "ContentType"),
        (_pdf("cv", content_type="pdf"), "bad_content_type", "ContentType"),
    ],
    ids=["rlo", "rlm", "c1-nel", "over-255-bytes", "newline", "del", "no-subtype"],
)
async def test_an_unsafe_attachment_name_or_content_type_is_400_naming_the_attachment(
    client_for, hub_config, pair, world, db, attachment, code, field
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    status, error = await _refused(
        client, g22, h41, db, world.signed(g22, _package(attachments=[attachment]))
    )
    assert status == 400
    assert error["code"] == code
    assert error["where"] == f"AttachmentEncoded/Attachment/{field}"
    assert "attachment 'cv'" in error["message"]


async def test_an_attachment_name_of_255_utf8_bytes_is_accepted(
    client_for, hub_config, pair, world, db
) -> None:
    g22, _ = pair
    client = await client_for(hub_config)
    name = "đ" * 125 + "x.pdf"  # 250 + 5 bytes
    assert len(name.encode()) == 255
    data = world.signed(g22, _package(attachments=[_pdf("cv", name)]))
    resp = await client.post("/v1/documents", data=data, headers=g22.auth)
    assert resp.status == 202, await resp.text()
    assert await db.fetchval("SELECT name FROM document_attachments") == name


async def test_a_day_first_promulgation_date_is_accepted_and_stored_as_the_same_day(
    client_for, hub_config, pair, world, db
) -> None:
    g22, _ = pair
    client = await client_for(hub_config)
    data = edoc.build(_package())
    canonical = b"<edXML:PromulgationDate>2026/11/23</edXML:PromulgationDate>"
    assert data.count(canonical) == 1
    bkav = data.replace(canonical, b"<edXML:PromulgationDate>23/11/2026</edXML:PromulgationDate>")
    resp = await client.post("/v1/documents", data=_signed(g22, bkav), headers=g22.auth)
    assert resp.status == 202, await resp.text()
    stored = await db.fetchval("SELECT promulgation_date FROM documents")
    assert stored == dt.date(2026, 11, 23)


async def test_an_empty_response_for_is_accepted_as_no_response_for(
    client_for, hub_config, pair, world, db
) -> None:
    g22, _ = pair
    client = await client_for(hub_config)
    data = edoc.build(_package())
    steering = b"<edXML:SteeringType>"
    live = data.replace(steering, b"<edXML:ResponseFor />\n        " + steering, 1)
    resp = await client.post("/v1/documents", data=_signed(g22, live), headers=g22.auth)
    assert resp.status == 202, await resp.text()
    assert await db.fetchval("SELECT responds_to FROM documents") is None
    assert await db.fetchval("SELECT count(*) FROM document_links") == 0
