"""What the axis refuses when a letter is sent, and that a refused letter leaves nothing behind."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from axis.core import agencies
from tests.support.waiting import wait_for
from tests.support.world import World, letter_package


@pytest.fixture
async def pair(db: asyncpg.Connection, world: World):
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    return g22, h41


async def _count(db: asyncpg.Connection) -> tuple[int, int, int]:
    return (
        await db.fetchval("SELECT count(*) FROM documents"),
        await db.fetchval("SELECT count(*) FROM deliveries"),
        await db.fetchval("SELECT count(*) FROM outbox"),
    )


async def _error(resp) -> dict:
    return (await resp.json())["error"]


async def test_a_call_without_a_token_is_401(client_for, hub_config, pair) -> None:
    client = await client_for(hub_config)
    resp = await client.get("/v1/inbox")
    assert resp.status == 401
    assert (await _error(resp))["where"] == "Authorization"
    resp = await client.get("/v1/inbox", headers={"Authorization": "Bearer axis_not-a-token"})
    assert resp.status == 401


async def test_a_disabled_agency_cannot_call(client_for, hub_config, pair, db) -> None:
    g22, _ = pair
    await agencies.set_active(db, g22.organ_id, False)
    client = await client_for(hub_config)
    resp = await client.get("/v1/inbox", headers=g22.auth)
    assert resp.status == 401
    assert "disabled" in (await _error(resp))["message"]


async def test_malformed_xml_is_400_naming_the_line_and_nothing_is_stored(
    client_for, hub_config, pair, db
) -> None:
    g22, _ = pair
    client = await client_for(hub_config)
    resp = await client.post(
        "/v1/documents", data=b"<?xml version='1.0'?>\n<edXML>\n<oops></edXML>", headers=g22.auth
    )
    assert resp.status == 400
    err = await _error(resp)
    assert "line" in err["message"] or err.get("details", {}).get("line")
    assert await _count(db) == (0, 0, 0)


async def test_a_letter_from_another_organ_is_403(
    client_for, hub_config, pair, world: World, db
) -> None:
    g22, _ = pair
    client = await client_for(hub_config)
    # Signed by G22 with G22's own key, but claiming to come from H41.
    forged = world.signed(g22, letter_package("000.00.00.H41", ["000.00.00.G22"]))
    resp = await client.post("/v1/documents", data=forged, headers=g22.auth)
    assert resp.status == 403
    assert (await _error(resp))["where"] == "MessageHeader/From/OrganId"
    assert await _count(db) == (0, 0, 0)


async def test_a_letter_signed_by_another_agency_is_403(
    client_for, hub_config, pair, world: World, db
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    signed_by_h41 = world.signed(h41, letter_package("000.00.00.G22", ["000.00.00.H41"]))
    resp = await client.post("/v1/documents", data=signed_by_h41, headers=g22.auth)
    assert resp.status == 403
    assert await _count(db) == (0, 0, 0)


async def test_an_unsigned_letter_from_a_strict_agency_is_403(
    client_for, hub_config, pair, db
) -> None:
    import edoc

    g22, _ = pair
    client = await client_for(hub_config)
    unsigned = edoc.build(letter_package("000.00.00.G22", ["000.00.00.H41"]))
    resp = await client.post("/v1/documents", data=unsigned, headers=g22.auth)
    assert resp.status == 403
    err = await _error(resp)
    assert err["details"]["reason"] == "signature_missing"
    assert await _count(db) == (0, 0, 0)


async def test_a_letter_changed_after_signing_is_403(
    client_for, hub_config, pair, world: World, db
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41], subject="Về việc cấp kinh phí 100 triệu đồng")
    tampered = letter.replace("100 triệu".encode(), "900 triệu".encode())
    assert tampered != letter
    resp = await client.post("/v1/documents", data=tampered, headers=g22.auth)
    assert resp.status == 403
    assert (await _error(resp))["code"] == "signature_invalid"
    assert await _count(db) == (0, 0, 0)


async def test_a_package_over_the_size_limit_is_413(
    client_for, hub_config, pair, world: World, db
) -> None:
    g22, h41 = pair
    client = await client_for(replace(hub_config, max_document_bytes=20_000))
    letter = world.letter(g22, [h41], attachments=[("big.pdf", b"%PDF" + b"x" * 40_000)])
    resp = await client.post("/v1/documents", data=letter, headers=g22.auth)
    assert resp.status == 413
    assert await _count(db) == (0, 0, 0)


async def test_unknown_and_disabled_recipients_are_422_listed_by_name(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    await world.register(db, "000.00.00.H29", "UBND Thành phố Hồ Chí Minh")
    await agencies.set_active(db, "000.00.00.H29", False)
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41, "000.00.00.H29", "000.00.00.A99"])
    resp = await client.post("/v1/documents", data=letter, headers=g22.auth)
    assert resp.status == 422
    err = await _error(resp)
    assert err["details"] == {"unknown": ["000.00.00.A99"], "disabled": ["000.00.00.H29"]}
    assert "000.00.00.A99" in err["message"] and "000.00.00.H29" in err["message"]
    assert await _count(db) == (0, 0, 0)


async def test_sending_the_same_letter_twice_answers_the_first_answer(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    first = await client.post("/v1/documents", data=letter, headers=g22.auth)
    second = await client.post("/v1/documents", data=letter, headers=g22.auth)
    assert first.status == second.status == 202
    assert await first.json() == await second.json()
    assert await _count(db) == (1, 1, await db.fetchval("SELECT count(*) FROM outbox"))
    assert await db.fetchval("SELECT count(*) FROM deliveries") == 1


async def test_the_same_document_id_with_other_content_is_409(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    first = world.letter(g22, [h41], document_id="000.00.00.G22,2026/11/23,15/VPCP-TTĐT")
    other = world.letter(
        g22, [h41], document_id="000.00.00.G22,2026/11/23,15/VPCP-TTĐT", subject="Khác"
    )
    assert (await client.post("/v1/documents", data=first, headers=g22.auth)).status == 202
    resp = await client.post("/v1/documents", data=other, headers=g22.auth)
    assert resp.status == 409
    assert (await _error(resp))["where"] == "MessageHeader/DocumentId"
    assert await db.fetchval("SELECT count(*) FROM documents") == 1


async def test_a_small_letter_is_kept_by_its_commit_with_no_file_and_reads_back_whole(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    others = [await world.register(db, f"000.00.00.H{n:02d}") for n in range(10, 15)]
    client = await client_for(hub_config)
    pdf = b"%PDF-1.7 " + b"a" * 5000
    letter = world.letter(g22, [h41, *others], attachments=[("cv.pdf", pdf)])
    resp = await client.post("/v1/documents", data=letter, headers=g22.auth)
    assert resp.status == 202
    document_id = (await resp.json())["document_id"]
    assert len((await resp.json())["deliveries"]) == 6
    root = Path(hub_config.blob_url.removeprefix("file://"))
    assert [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts] == []
    # The package once, in the database; its attachment is read out of it.
    assert await db.fetchval("SELECT count(*) FROM stored_bytes") == 1
    got = await client.get(f"/v1/documents/{document_id}", headers=h41.auth)
    assert got.status == 200 and await got.read() == letter
    got = await client.get(f"/v1/documents/{document_id}/attachments/1", headers=h41.auth)
    assert got.status == 200 and await got.read() == pdf


async def test_a_large_letter_to_many_recipients_stores_its_package_and_attachment_once(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    others = [await world.register(db, f"000.00.00.H{n:02d}") for n in range(10, 15)]
    client = await client_for(replace(hub_config, inline_max_bytes=1024))
    pdf = b"%PDF-1.7 " + b"a" * 5000
    letter = world.letter(g22, [h41, *others], attachments=[("cv.pdf", pdf)])
    resp = await client.post("/v1/documents", data=letter, headers=g22.auth)
    assert resp.status == 202
    document_id = (await resp.json())["document_id"]
    assert len((await resp.json())["deliveries"]) == 6
    root = Path(hub_config.blob_url.removeprefix("file://"))
    blobs = [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts]
    assert len(blobs) == 2  # the package and its one attachment, however many recipients
    assert await db.fetchval("SELECT count(*) FROM stored_bytes") == 0
    got = await client.get(f"/v1/documents/{document_id}/attachments/1", headers=h41.auth)
    assert got.status == 200 and await got.read() == pdf


async def test_a_small_letter_whose_stored_bytes_were_altered_is_not_served(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    resp = await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    document_id = (await resp.json())["document_id"]
    await db.execute("UPDATE stored_bytes SET data = data || '\\x20'::bytea")
    got = await client.get(f"/v1/documents/{document_id}", headers=h41.auth)
    assert got.status == 500
    assert (await got.json())["error"]["code"] == "blob_unreadable"


async def test_a_recipient_cannot_fetch_a_letter_addressed_to_another_agency(
    client_for, hub_config, pair, world, db
) -> None:
    g22, h41 = pair
    h29 = await world.register(db, "000.00.00.H29")
    client = await client_for(hub_config)
    resp = await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    document_id = (await resp.json())["document_id"]
    assert (await client.get(f"/v1/documents/{document_id}", headers=h29.auth)).status == 404
    assert (
        await client.get(f"/v1/documents/{document_id}/attachments/1", headers=h29.auth)
    ).status == 404
    assert (await client.get(f"/v1/documents/{document_id}", headers=h41.auth)).status == 200
    delivery_id = (await resp.json())["deliveries"][0]["delivery_id"]
    assert (await client.post(f"/v1/deliveries/{delivery_id}/ack", headers=h29.auth)).status == 404


async def test_the_acceptance_receipt_is_sealed_by_the_axis(
    client_for, hub_config, pair, world
) -> None:
    import signing

    g22, h41 = pair
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    body = await (await client.post("/v1/documents", data=letter, headers=g22.auth)).json()
    seal_cert = signing.load_certificates(hub_config.seal_dir / "seal.crt")
    payload = signing.verify_sealed_json(body["receipt"], seal_cert[0])
    assert payload["document_id"] == body["document_id"]
    assert payload["sha256"] == hashlib.sha256(letter).hexdigest()


async def test_a_ca_added_to_the_trust_folder_is_trusted_without_a_restart(
    client_for, hub_config, world: World, db, tmp_path: Path
) -> None:
    empty = tmp_path / "trust-later"
    empty.mkdir()
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41")
    client = await client_for(replace(hub_config, trust_dir=empty))
    letter = world.letter(g22, [h41])
    refused = await client.post("/v1/documents", data=letter, headers=g22.auth)
    assert refused.status == 403
    (empty / "root.pem").write_bytes((world.trust_dir / "root.pem").read_bytes())

    async def accepted():
        resp = await client.post("/v1/documents", data=letter, headers=g22.auth)
        return resp.status == 202

    await wait_for(accepted, timeout=10, interval=0.5)
