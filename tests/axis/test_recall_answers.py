"""A recall, update or replacement that names a letter the caller did not send gets the same answer
whether that letter exists (another agency's) or not, on /v1 and on the clerks' pages, and nothing is
stored: no agency can probe which letters others have sent."""

from __future__ import annotations

import dataclasses
import json

import aiohttp
import asyncpg
import pytest

import edoc
from axis.adapters.vdxp import registry
from axis.core import users
from axis.core.secrets import SecretBox
from tests.axis.test_pages import PASSWORD, _logged_in
from tests.axis.test_vdxp import KEY
from tests.axis.vdxp_sdk import Sdk
from tests.support.world import World, WorldAgency, letter_package

G22 = "000.00.00.G22"
H41 = "000.00.00.H41"
H29 = "000.00.00.H29"


@pytest.fixture
async def trio(db: asyncpg.Connection, world: World) -> tuple[WorldAgency, ...]:
    g22 = await world.register(db, G22, "Văn phòng Chính phủ")
    h41 = await world.register(db, H41, "UBND tỉnh Nghệ An")
    h29 = await world.register(db, H29, "UBND Thành phố Hồ Chí Minh")
    await users.add(db, organ_id=G22, login="vanthu.vpcp", password=PASSWORD, role="clerk")
    return g22, h41, h29


async def _stored(db: asyncpg.Connection) -> tuple[int, int, int]:
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM documents) AS documents,
                  (SELECT count(*) FROM document_links) AS links,
                  (SELECT count(*) FROM deliveries) AS deliveries"""
    )
    return row["documents"], row["links"], row["deliveries"]


async def _answer(resp: aiohttp.ClientResponse) -> tuple[int, bytes]:
    return resp.status, await resp.read()


def _replacement(sender: str, to: list[str], names: list[str], number: str) -> edoc.Package:
    package = letter_package(sender, to, number=number, business_type=edoc.BussinessDocType.REPLACE)
    assert package.trace and package.trace.bussiness
    bussiness = dataclasses.replace(
        package.trace.bussiness,
        replacement_info_list=[edoc.ReplacementInfo(document_id=n, organ_ids=to) for n in names],
    )
    return dataclasses.replace(
        package, trace=dataclasses.replace(package.trace, bussiness=bussiness)
    )


@pytest.mark.parametrize(
    "business_type", [edoc.BussinessDocType.RECALL, edoc.BussinessDocType.UPDATE]
)
async def test_recalling_or_updating_another_agencys_letter_answers_as_for_a_letter_that_does_not_exist(
    client_for, hub_config, trio, world, db, business_type
) -> None:
    g22, h41, _h29 = trio
    client = await client_for(hub_config)
    their_id = f"{H41},2026/11/23,7/UBND-VP-probe"
    # G22 asks to recall (or update) H41's DocumentId: first while no such letter exists...
    probe = world.signed(
        g22,
        letter_package(G22, [H29], number="7", document_id=their_id, business_type=business_type),
    )
    before = await _stored(db)
    absent = await _answer(await client.post("/v1/documents", data=probe, headers=g22.auth))
    assert await _stored(db) == before

    # ...then once H41 has sent a letter with that DocumentId (to H29, not to G22).
    theirs = world.signed(
        h41, letter_package(H41, [H29], number="7", document_id=their_id, sender_name=h41.name)
    )
    assert (await client.post("/v1/documents", data=theirs, headers=h41.auth)).status == 202
    before = await _stored(db)
    present = await _answer(await client.post("/v1/documents", data=probe, headers=g22.auth))
    assert await _stored(db) == before

    assert present == absent  # status and body, byte for byte
    status, body = present
    assert status == 403
    error = json.loads(body)["error"]
    assert error["code"] == "forbidden"
    assert error["where"] == "MessageHeader/DocumentId"
    assert H41 not in error["message"].replace(their_id, "")  # names no one but the caller


async def test_replacing_another_agencys_letter_answers_as_for_a_letter_that_does_not_exist(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, _h29 = trio
    client = await client_for(hub_config)
    their_id = f"{H41},2026/11/23,8/UBND-VP-probe"
    probe = world.signed(g22, _replacement(G22, [H29], [their_id], "9"))
    absent = await _answer(await client.post("/v1/documents", data=probe, headers=g22.auth))
    theirs = world.signed(
        h41, letter_package(H41, [H29], number="8", document_id=their_id, sender_name=h41.name)
    )
    assert (await client.post("/v1/documents", data=theirs, headers=h41.auth)).status == 202
    before = await _stored(db)
    present = await _answer(await client.post("/v1/documents", data=probe, headers=g22.auth))
    assert await _stored(db) == before
    assert present == absent
    assert present[0] == 403
    error = json.loads(present[1])["error"]
    assert error["where"] == (
        "TraceHeaderList/Bussiness/ReplacementInfoList/ReplacementInfo/DocumentId"
    )


async def test_the_sender_still_recalls_its_own_letter(
    client_for, hub_config, trio, world, db
) -> None:
    g22, _h41, _ = trio
    client = await client_for(hub_config)
    own_id = f"{G22},2026/11/23,10/VPCP-TTĐT-own"
    original = world.signed(g22, letter_package(G22, [H41], number="10", document_id=own_id))
    first = await client.post("/v1/documents", data=original, headers=g22.auth)
    assert first.status == 202
    recall = world.signed(
        g22,
        letter_package(
            G22,
            [H41],
            number="10",
            document_id=own_id,
            business_type=edoc.BussinessDocType.RECALL,
        ),
    )
    resp = await client.post("/v1/documents", data=recall, headers=g22.auth)
    assert resp.status == 202, await resp.text()
    links = (await resp.json())["links"]
    assert links == [{"document_id": (await first.json())["document_id"], "kind": "recall"}]


async def test_a_clerks_replacement_naming_another_agencys_letter_too_answers_as_if_it_did_not_exist(
    client_for, hub_config, trio, world, db
) -> None:
    """The page's replace takes the clerk's own letter from the path and the package from the
    upload, which may name more letters in ReplacementInfoList."""
    g22, h41, _h29 = trio
    client = await client_for(hub_config)
    own = world.letter(g22, [h41])
    own_doc = (await (await client.post("/v1/documents", data=own, headers=g22.auth)).json())[
        "document_id"
    ]
    own_id = edoc.parse(own).header.document_id  # type: ignore[union-attr]
    their_id = f"{H41},2026/11/23,11/UBND-VP-probe"
    token = await _logged_in(client, "vanthu.vpcp")
    package = _replacement(G22, [H41], [own_id, their_id], "12")
    upload = world.signed(g22, package)

    async def replace() -> tuple[int, bytes]:
        form = aiohttp.FormData()
        form.add_field("csrf_token", token)
        form.add_field("package", upload, filename="thay-the.xml", content_type="application/xml")
        resp = await client.post(f"/letters/{own_doc}/replace", data=form, allow_redirects=False)
        return await _answer(resp)

    absent = await replace()
    theirs = world.signed(
        h41, letter_package(H41, [H29], number="11", document_id=their_id, sender_name=h41.name)
    )
    assert (await client.post("/v1/documents", data=theirs, headers=h41.auth)).status == 202
    before = await _stored(db)
    present = await replace()
    assert await _stored(db) == before
    assert present == absent
    assert present[0] == 403
    assert "only a letter&#39;s sender may replace it" in present[1].decode()


@pytest.mark.parametrize("action", ["recall", "replace"])
async def test_a_clerks_recall_or_replace_of_a_letter_of_others_is_a_404_like_a_letter_that_does_not_exist(
    client_for, hub_config, trio, world, db, action
) -> None:
    _g22, h41, h29 = trio
    client = await client_for(hub_config)
    theirs = world.letter(h41, [h29])
    their_doc = (await (await client.post("/v1/documents", data=theirs, headers=h41.auth)).json())[
        "document_id"
    ]
    missing_doc = "0192f0c1-0000-7000-8000-000000000000"
    token = await _logged_in(client, "vanthu.vpcp")
    before = await _stored(db)

    async def act(doc: str) -> tuple[int, bytes]:
        form = aiohttp.FormData()
        form.add_field("csrf_token", token)
        form.add_field("reason", "probe")
        resp = await client.post(f"/letters/{doc}/{action}", data=form, allow_redirects=False)
        return await _answer(resp)

    status_theirs, page_theirs = await act(their_doc)
    status_missing, page_missing = await act(missing_doc)
    assert status_theirs == status_missing == 404
    assert page_theirs.replace(their_doc.encode(), b"ID") == page_missing.replace(
        missing_doc.encode(), b"ID"
    )
    assert await _stored(db) == before


async def test_a_recall_asked_by_status_13_for_a_letter_of_others_is_a_404_like_one_that_does_not_exist(
    client_for, hub_config, trio, world, db
) -> None:
    """On /v1 the letter is named by its id in the path; on VDXP (messagetype=status) by the
    Status's ResponseFor (organ and DocumentId), byte for byte the same words in both cases."""
    g22, h41, h29 = trio
    client = await client_for(dataclasses.replace(hub_config, secret_key=KEY))
    secret = await registry.issue_secret(db, G22, SecretBox(KEY))
    sdk = Sdk(client, G22, secret)
    theirs = world.letter(h41, [h29])
    recall = world.status(g22, theirs, "13")

    async def by_vdxp() -> dict[str, str]:
        return await sdk.send(recall, messagetype="status")  # type: ignore[no-any-return]

    absent = await by_vdxp()
    their_doc = (await (await client.post("/v1/documents", data=theirs, headers=h41.auth)).json())[
        "document_id"
    ]
    before = await _stored(db)
    present = await by_vdxp()
    assert present == absent
    assert present["status"] == "FAIL" and present["axisCode"] == "not_found"

    missing_doc = "0192f0c1-0000-7000-8000-000000000000"
    on_theirs = await client.post(
        f"/v1/documents/{their_doc}/status", data=recall, headers=g22.auth
    )
    on_missing = await client.post(
        f"/v1/documents/{missing_doc}/status", data=recall, headers=g22.auth
    )
    assert on_theirs.status == on_missing.status == 404
    theirs_error = (await on_theirs.json())["error"]
    missing_error = (await on_missing.json())["error"]
    assert theirs_error["message"].replace(their_doc, "ID") == missing_error["message"].replace(
        missing_doc, "ID"
    )
    assert theirs_error["code"] == missing_error["code"] == "not_found"
    assert await _stored(db) == before
