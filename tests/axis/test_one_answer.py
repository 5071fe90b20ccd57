"""The two answers that used to depend on the door a caller came through: VDXP's received list and
counts hold every waiting item of the asked kind whatever else waits, and a stored letter whose
bytes are lost is the axis's failure (500 blob_unreadable) on /v1, the pages and /vdxp alike."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
import pytest

import edoc
from axis.config import Config
from axis.core import ledger, users
from axis.core.ids import uuid7
from storage.blobs_fs import FilesystemBlobStore
from tests.axis.test_vdxp import KEY, enroll
from tests.axis.vdxp_sdk import Sdk
from tests.support.waiting import wait_for

PASSWORD = "mật-khẩu-đủ-dài-1"


@pytest.fixture
def vdxp_config(hub_config: Config) -> Config:
    return dataclasses.replace(hub_config, secret_key=KEY)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _statuses_waiting(
    db: asyncpg.Connection, letter_id: str, sender: str, recipient: str, count: int
) -> None:
    """`count` statuses from `sender` waiting in `recipient`'s inbox, recorded through the ledger
    (as many through HTTP would take minutes)."""
    async with db.transaction():
        letter = await ledger.visible_document(db, sender, uuid.UUID(letter_id))
        assert letter is not None
        for i in range(count):
            delivery = ledger.NewDelivery(uuid7(), recipient)
            await ledger.insert_status(
                db,
                ledger.NewStatus(
                    id=uuid7(),
                    sender=sender,
                    letter=letter,
                    code="03",
                    stored_sha256=hashlib.sha256(str(i).encode()).hexdigest(),
                    size=1,
                    signature="axis",
                    signer_fingerprint=None,
                    summary={"status_code": "03"},
                    acceptance=None,
                    received_sha256=hashlib.sha256(f"r{i}".encode()).hexdigest(),
                    deliveries=[delivery],
                    audit={},
                ),
            )
            await ledger.make_available(db, delivery.delivery_id)


async def test_vdxp_lists_and_counts_a_letter_behind_more_than_500_waiting_statuses(
    client_for, vdxp_config, db, world
) -> None:
    g22, g22_secret = await enroll(db, world, "000.00.00.G22")
    h41, h41_secret = await enroll(db, world, "000.00.00.H41")
    client = await client_for(vdxp_config)
    h41_sdk = Sdk(client, h41.organ_id, h41_secret)
    g22_sdk = Sdk(client, g22.organ_id, g22_secret)
    # G22 sent H41 a letter long ago; H41 answered with 520 statuses that G22 has not fetched.
    first = await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    first_id = (await first.json())["document_id"]
    await _statuses_waiting(db, first_id, h41.organ_id, g22.organ_id, 520)
    # H41 now sends G22 a letter: it waits behind the 520 statuses.
    sent = await h41_sdk.send(world.letter(h41, [g22]))
    assert sent["status"] == "OK", sent

    async def letters() -> list[dict] | None:
        items = await g22_sdk.received("edoc")
        return items or None

    [item] = await wait_for(letters)
    assert item["documentId"] == sent["DocId"]
    statuses = await g22_sdk.received("status")
    assert len(statuses) == 520
    counted = await g22_sdk.call("countReceiveStatus")
    assert counted["count"] == 520, counted
    counted = await g22_sdk.call("countReceiveEdoc")
    assert counted["count"] == 1, counted


async def test_vdxp_list_filters_by_the_dates_asked(client_for, vdxp_config, db, world) -> None:
    g22, _ = await enroll(db, world, "000.00.00.G22")
    h41, h41_secret = await enroll(db, world, "000.00.00.H41")
    client = await client_for(vdxp_config)
    h41_sdk = Sdk(client, h41.organ_id, h41_secret)
    sent = await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    assert sent.status == 202
    [item] = await wait_for(lambda: h41_sdk.received("edoc"))
    # Dates as the VDXP door reads them: in Vietnam (from 17:00 UTC, UTC's tomorrow is its today).
    tomorrow = (datetime.now(edoc.VN_TZ) + timedelta(days=1)).strftime("%d/%m/%Y")
    yesterday = (datetime.now(edoc.VN_TZ) - timedelta(days=1)).strftime("%d/%m/%Y")

    def fresh() -> Sdk:  # the SDK keeps every parameter it was given: one per filter
        return Sdk(client, h41.organ_id, h41_secret)

    later = await fresh().call("getReceivedEdocList", {"messagetype": "edoc", "fromDate": tomorrow})
    assert later["status"] == "OK" and later["data"] == []
    window = await fresh().call(
        "getReceivedEdocList", {"messagetype": "edoc", "fromDate": yesterday, "toDate": tomorrow}
    )
    assert [i["docId"] for i in window["data"]] == [item["docId"]]
    counted = await fresh().call("countReceiveEdoc", {"fromDate": tomorrow})
    assert counted["count"] == 0, counted
    counted = await fresh().call("countReceiveEdoc", {"toDate": tomorrow})
    assert counted["count"] == 1, counted


@pytest.mark.parametrize("kept_in", ["blob_store", "database"])
async def test_a_letter_whose_stored_bytes_are_lost_is_a_server_error_on_every_door(
    client_for, vdxp_config: Config, db, world, kept_in: str
) -> None:
    g22, _ = await enroll(db, world, "000.00.00.G22")
    h41, h41_secret = await enroll(db, world, "000.00.00.H41")
    await users.add(
        db, organ_id=h41.organ_id, login="vanthu.nghean", password=PASSWORD, role="clerk"
    )
    # A small package is kept in the database (AXIS_INLINE_MAX_BYTES), a large one in the blob store.
    inline_max = 0 if kept_in == "blob_store" else vdxp_config.inline_max_bytes
    client = await client_for(dataclasses.replace(vdxp_config, inline_max_bytes=inline_max))
    resp = await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    document_id = (await resp.json())["document_id"]
    sha = await db.fetchval("SELECT content_sha256 FROM documents WHERE id = $1::uuid", document_id)
    if kept_in == "blob_store":
        store = FilesystemBlobStore(Path(unquote(urlsplit(vdxp_config.blob_url).path)))
        store.path_of(sha).unlink()
    else:
        assert await db.execute("DELETE FROM stored_bytes WHERE sha256 = $1", sha) == "DELETE 1"

    got = await client.get(f"/v1/documents/{document_id}", headers=h41.auth)
    assert got.status == 500
    assert (await got.json())["error"]["code"] == "blob_unreadable"

    page = await client.get("/login")
    token = CSRF.search(await page.text())
    assert token
    login = await client.post(
        "/login",
        data={"csrf_token": token.group(1), "login": "vanthu.nghean", "password": PASSWORD},
        allow_redirects=False,
    )
    assert login.status == 303
    page = await client.get(f"/letters/{document_id}/edxml")
    assert page.status == 500
    assert "Không đọc được văn bản đã lưu" in await page.text()

    h41_sdk = Sdk(client, h41.organ_id, h41_secret)
    [item] = await wait_for(lambda: h41_sdk.received("edoc"))
    answer = await h41_sdk.call("getEdoc", {"docId": item["docId"]})
    assert answer["status"] == "FAIL" and answer["ErrorCode"] == "99", answer
    assert "blob_unreadable" in answer["ErrorDesc"] or "Khong doc duoc" in answer["ErrorDesc"]
