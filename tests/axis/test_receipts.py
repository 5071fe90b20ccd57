"""Status receipts, recall and replace: what recipients report travels back, in an order that makes sense."""

from __future__ import annotations

import asyncpg
import pytest

import edoc
from tests.support.waiting import wait_for
from tests.support.world import World, WorldAgency, letter_package


@pytest.fixture
async def trio(db: asyncpg.Connection, world: World):
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    h29 = await world.register(db, "000.00.00.H29", "UBND Thành phố Hồ Chí Minh")
    return g22, h41, h29


async def _send(client, sender: WorldAgency, letter: bytes) -> dict:
    resp = await client.post("/v1/documents", data=letter, headers=sender.auth)
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def _status(client, agency: WorldAgency, document_id: str, package: bytes):
    return await client.post(
        f"/v1/documents/{document_id}/status", data=package, headers=agency.auth
    )


async def _inbox(client, agency: WorldAgency) -> list[dict]:
    return (await (await client.get("/v1/inbox", headers=agency.auth)).json())["items"]


async def test_statuses_in_order_reach_the_sender_and_show_in_the_trace(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, h29 = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41, h29])
    doc = (await _send(client, g22, letter))["document_id"]
    for code in ("03", "04", "05", "06"):
        resp = await _status(client, h41, doc, world.status(h41, letter, code))
        assert resp.status == 202, await resp.text()

    async def statuses_at_sender():
        items = [i for i in await _inbox(client, g22) if i["kind"] == "status"]
        return items if len(items) == 4 else None

    items = await wait_for(statuses_at_sender)
    assert [i["status_code"] for i in items] == ["03", "04", "05", "06"]
    assert {i["sender"] for i in items} == {"000.00.00.H41"}

    trace = await (await client.get(f"/v1/documents/{doc}/trace", headers=g22.auth)).json()
    lines = {r["organ_id"]: r for r in trace["recipients"]}
    assert lines["000.00.00.H41"]["current_status"] == "06"
    assert [s["code"] for s in lines["000.00.00.H41"]["statuses"]] == ["03", "04", "05", "06"]
    assert all(
        s["posted_by"] == "000.00.00.H41" and s["at"] for s in lines["000.00.00.H41"]["statuses"]
    )
    assert lines["000.00.00.H29"]["statuses"] == []
    assert (
        trace["hops"][0]["organ_id"] == "000.00.00.G22" and trace["hops"][-1]["organ_id"] == "axis"
    )
    # A recipient sees only its own line.
    own = await (await client.get(f"/v1/documents/{doc}/trace", headers=h29.auth)).json()
    assert [r["organ_id"] for r in own["recipients"]] == ["000.00.00.H29"]


async def test_skipping_forward_is_legal_but_going_back_is_409_with_the_current_state(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    doc = (await _send(client, g22, letter))["document_id"]
    assert (await _status(client, h41, doc, world.status(h41, letter, "03"))).status == 202
    assert (await _status(client, h41, doc, world.status(h41, letter, "06"))).status == 202
    back = await _status(client, h41, doc, world.status(h41, letter, "05"))
    assert back.status == 409
    err = (await back.json())["error"]
    assert err["details"]["current"] == "06" and err["details"]["posted"] == "05"
    assert "already 06" in err["message"]


async def test_nothing_follows_a_refusal(client_for, hub_config, trio, world) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    doc = (await _send(client, g22, letter))["document_id"]
    assert (await _status(client, h41, doc, world.status(h41, letter, "02"))).status == 202
    again = await _status(client, h41, doc, world.status(h41, letter, "03"))
    assert again.status == 409
    assert (await again.json())["error"]["details"]["current"] == "02"


async def test_going_back_from_05_to_04_is_refused(client_for, hub_config, trio, world) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    doc = (await _send(client, g22, letter))["document_id"]
    assert (await _status(client, h41, doc, world.status(h41, letter, "05"))).status == 202
    assert (await _status(client, h41, doc, world.status(h41, letter, "04"))).status == 409


async def test_only_a_recipient_may_post_a_status_and_strangers_see_nothing(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, h29 = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    doc = (await _send(client, g22, letter))["document_id"]
    by_sender = await _status(client, g22, doc, world.status(g22, letter, "03"))
    assert by_sender.status == 403
    by_stranger = await _status(client, h29, doc, world.status(h29, letter, "03"))
    assert by_stranger.status == 404
    assert await db.fetchval("SELECT count(*) FROM documents WHERE kind = 'status'") == 0


async def test_a_status_about_another_letter_is_400_naming_response_for(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    first, second = world.letter(g22, [h41]), world.letter(g22, [h41])
    doc = (await _send(client, g22, first))["document_id"]
    await _send(client, g22, second)
    resp = await _status(client, h41, doc, world.status(h41, second, "03"))
    assert resp.status == 400
    assert (await resp.json())["error"]["where"] == "MessageHeader/ResponseFor/DocumentId"


async def test_posting_the_same_status_twice_answers_once(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    doc = (await _send(client, g22, letter))["document_id"]
    package = world.status(h41, letter, "03")
    first = await _status(client, h41, doc, package)
    second = await _status(client, h41, doc, package)
    assert await first.json() == await second.json()
    assert await db.fetchval("SELECT count(*) FROM documents WHERE kind = 'status'") == 1


async def test_a_recall_reaches_every_recipient_and_their_answers_show_on_the_original(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, h29 = trio
    client = await client_for(hub_config)
    original_pkg = letter_package(g22.organ_id, [h41.organ_id, h29.organ_id], number="101")
    original = world.signed(g22, original_pkg)
    orig_id = (await _send(client, g22, original))["document_id"]
    header = original_pkg.header
    assert isinstance(header, edoc.MessageHeader)
    recall_pkg = letter_package(
        g22.organ_id,
        [h41.organ_id, h29.organ_id],
        number="101",
        document_id=header.document_id,
        business_type=edoc.BussinessDocType.RECALL,
        response_for=[
            edoc.ResponseFor(
                organ_id=g22.organ_id,
                code="101/VPCP-TTĐT",
                document_id=header.document_id,
                promulgation_date=header.promulgation_info.date,
            )
        ],
    )
    recall = world.signed(g22, recall_pkg)
    sent = await _send(client, g22, recall)
    assert sent["links"] == [{"document_id": orig_id, "kind": "recall"}]

    async def recall_in(agency):
        return [i for i in await _inbox(client, agency) if i["document_id"] == sent["document_id"]]

    assert (await wait_for(lambda: recall_in(h41)))[0]["business_type"] == 1
    assert await wait_for(lambda: recall_in(h29))
    assert (
        await _status(client, h41, sent["document_id"], world.status(h41, recall, "15"))
    ).status == 202
    assert (
        await _status(client, h29, sent["document_id"], world.status(h29, recall, "16"))
    ).status == 202

    trace = await (await client.get(f"/v1/documents/{orig_id}/trace", headers=g22.auth)).json()
    assert trace["referred_by"][0]["document_id"] == sent["document_id"]
    assert trace["referred_by"][0]["kind"] == "recall"
    recall_trace = await (
        await client.get(f"/v1/documents/{sent['document_id']}/trace", headers=g22.auth)
    ).json()
    assert recall_trace["recall"]["agreed_by"] == ["000.00.00.H41"]
    assert recall_trace["recall"]["refused_by"] == ["000.00.00.H29"]
    assert recall_trace["refers_to"][0]["document_id"] == orig_id


async def test_recalling_a_letter_the_caller_did_not_send_is_403(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    original_pkg = letter_package(g22.organ_id, [h41.organ_id], number="7")
    await _send(client, g22, world.signed(g22, original_pkg))
    header = original_pkg.header
    assert isinstance(header, edoc.MessageHeader)
    hijack = letter_package(
        h41.organ_id,
        [g22.organ_id],
        number="7",
        document_id=header.document_id,
        business_type=edoc.BussinessDocType.RECALL,
        sender_name="UBND tỉnh Nghệ An",
    )
    resp = await client.post("/v1/documents", data=world.signed(h41, hijack), headers=h41.auth)
    assert resp.status == 403
    assert await db.fetchval("SELECT count(*) FROM documents") == 1


async def test_a_replacement_is_linked_to_the_letter_it_replaces(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    old_pkg = letter_package(g22.organ_id, [h41.organ_id], number="55")
    old_id = (await _send(client, g22, world.signed(g22, old_pkg)))["document_id"]
    old_header = old_pkg.header
    assert isinstance(old_header, edoc.MessageHeader)
    new_pkg = letter_package(
        g22.organ_id, [h41.organ_id], number="56", business_type=edoc.BussinessDocType.REPLACE
    )
    assert new_pkg.trace is not None and new_pkg.trace.bussiness is not None
    bussiness = new_pkg.trace.bussiness
    new_pkg = edoc.Package(
        header=new_pkg.header,
        manifest=new_pkg.manifest,
        attachments=new_pkg.attachments,
        trace=edoc.TraceHeaderList(
            bussiness=edoc.Bussiness(
                bussiness_doc_type=bussiness.bussiness_doc_type,
                bussiness_doc_reason="Thay thế văn bản sai sót",
                paper=0,
                replacement_info_list=[
                    edoc.ReplacementInfo(
                        document_id=old_header.document_id, organ_ids=[h41.organ_id]
                    )
                ],
            ),
            trace_headers=new_pkg.trace.trace_headers,
        ),
    )
    sent = await _send(client, g22, world.signed(g22, new_pkg))
    assert sent["links"] == [{"document_id": old_id, "kind": "replace"}]
    trace = await (await client.get(f"/v1/documents/{old_id}/trace", headers=h41.auth)).json()
    assert trace["referred_by"] == [
        {
            "document_id": sent["document_id"],
            "kind": "replace",
            "edxml_document_id": new_pkg.header.document_id,
            "received_at": trace["referred_by"][0]["received_at"],
        }
    ]


async def test_a_recall_request_13_goes_to_every_recipient_who_may_then_answer(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, h29 = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41, h29])
    doc = (await _send(client, g22, letter))["document_id"]
    assert (
        await _status(client, h41, doc, world.status(h41, letter, "15"))
    ).status == 409  # nothing asked yet
    asked = await _status(client, g22, doc, world.status(g22, letter, "13"))
    assert asked.status == 202, await asked.text()
    assert sorted(d["recipient"] for d in (await asked.json())["deliveries"]) == [
        "000.00.00.H29",
        "000.00.00.H41",
    ]

    async def thirteen(agency):
        return [i for i in await _inbox(client, agency) if i["status_code"] == "13"]

    assert await wait_for(lambda: thirteen(h29))
    assert (await _status(client, h41, doc, world.status(h41, letter, "15"))).status == 202
    trace = await (await client.get(f"/v1/documents/{doc}/trace", headers=g22.auth)).json()
    assert trace["recall"] == {"asked": True, "agreed_by": ["000.00.00.H41"], "refused_by": []}


async def test_acknowledging_records_arrived_as_the_current_status(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    sent = await _send(client, g22, letter)
    delivery_id = sent["deliveries"][0]["delivery_id"]
    await wait_for(lambda: _inbox(client, h41))
    assert (await client.post(f"/v1/deliveries/{delivery_id}/ack", headers=h41.auth)).status == 200

    async def line() -> dict:
        trace = await (
            await client.get(f"/v1/documents/{sent['document_id']}/trace", headers=g22.auth)
        ).json()
        return trace["recipients"][0]

    # The current status is 01 as soon as the acknowledgement commits; the status 01 itself
    # joins the trace once the sealer has sealed it.
    assert (await line())["current_status"] == "01"
    sealed = await wait_for(lambda: _sealed(line))
    assert [(s["code"], s["by"]) for s in sealed["statuses"]] == [("01", "axis")]


async def _sealed(line) -> dict | None:
    found = await line()
    return found if found["statuses"] else None
