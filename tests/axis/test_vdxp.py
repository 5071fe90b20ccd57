"""VDXP: document systems built for today's national axis send, list, fetch and acknowledge through
/vdxp/ exactly as the Java SDK puts its calls on the wire (see docs/VDXP.md)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

import asyncpg
import pytest
from cryptography.fernet import Fernet

import edoc
from axis.adapters.vdxp import registry
from axis.config import Config
from axis.core import agencies
from axis.core.secrets import SecretBox
from tests.axis.vdxp_sdk import Sdk
from tests.support.waiting import wait_for
from tests.support.world import World, WorldAgency, letter_package

KEY = Fernet.generate_key().decode()


@pytest.fixture
def vdxp_config(hub_config: Config) -> Config:
    return dataclasses.replace(hub_config, secret_key=KEY)


async def enroll(
    db: asyncpg.Connection,
    world: World,
    organ_id: str,
    name: str | None = None,
    *,
    policy: str = "strict",
    with_cert: bool = True,
) -> tuple[WorldAgency, str]:
    agency = await world.register(db, organ_id, name, with_cert=with_cert)
    secret = await registry.issue_secret(db, organ_id, SecretBox(KEY))
    if policy != "strict":
        await agencies.set_signature_policy(db, organ_id, policy)
    return agency, secret


def unsigned(sender: str, to: list[str], **kwargs: object) -> bytes:
    """What today's SDK writes: a package without a real signature."""
    return edoc.build(letter_package(sender, to, **kwargs))  # type: ignore[arg-type]


async def waiting(sdk: Sdk, messagetype: str = "edoc", count: int = 1) -> list[dict]:
    async def listed() -> list[dict] | None:
        items = await sdk.received(messagetype)
        return items if len(items) >= count else None

    return await wait_for(listed)


async def test_a_letter_goes_send_list_get_done_and_stays_listed_until_done(
    client_for, vdxp_config, db, world
) -> None:
    g22, g22_secret = await enroll(db, world, "000.00.00.G22", "Văn phòng Chính phủ")
    h41, h41_secret = await enroll(db, world, "000.00.00.H41", "UBND tỉnh Nghệ An")
    client = await client_for(vdxp_config)
    sender, receiver = Sdk(client, g22.organ_id, g22_secret), Sdk(client, h41.organ_id, h41_secret)
    letter = world.letter(g22, [h41])

    sent = await sender.send(letter, **{"from": g22.organ_id})
    assert sent["status"] == "OK" and sent["ErrorCode"] == "0" and sent["DocId"], sent
    again = await sender.send(letter, **{"from": g22.organ_id})
    assert again["DocId"] == sent["DocId"]

    [item] = await waiting(receiver)
    assert item["from"] == g22.organ_id and item["to"] == h41.organ_id
    assert item["messageType"] == "edoc" and item["serviceType"] == "eDoc"
    assert item["documentId"] == sent["DocId"] and item["unsignedLegacy"] is False
    assert all(v is not None for v in item.values())

    got = await receiver.call(
        "getEdoc", {"docId": item["docId"], "filePath": "/tmp/edoc"}, body=b"{}"
    )
    assert got["status"] == "OK" and base64.b64decode(got["data"]) == letter
    raw = await receiver.call("downloadEdoc", {"docId": item["docId"]}, method="GET")
    assert raw == letter
    # Fetching changes nothing: the letter is still listed and counted.
    assert [i["docId"] for i in await receiver.received()] == [item["docId"]]
    count = await receiver.call(
        "countReceiveEdoc", {"servicetype": "eDoc", "messagetype": "edoc"}, body=b"{}"
    )
    assert count["count"] == 1

    done = await receiver.call(
        "updateStatus", {"status": "done", "docid": item["docId"]}, body=b"{}"
    )
    assert done == {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Thanh cong"}
    assert await receiver.received() == []
    # Acknowledging twice is harmless.
    assert (
        await receiver.call("updateStatus", {"status": "done", "docid": item["docId"]}, body=b"{}")
    )["status"] == "OK"

    # The sender hears 01 (arrived) as a status package, and follows the letter per recipient.
    [arrived] = await waiting(sender, "status")
    status = edoc.parse(
        base64.b64decode(
            (await sender.call("getEdoc", {"docId": arrived["docId"]}, body=b"{}"))["data"]
        )
    )
    assert isinstance(status.header, edoc.StatusMessage) and status.header.status_code.code == "01"
    rows = (
        await sender.call(
            "getSentEdocList",
            {"servicetype": "eDoc", "messagetype": "edoc", "docId": sent["DocId"]},
        )
    )["data"]
    assert len(rows) == 1
    assert rows[0]["toCode"] == h41.organ_id and rows[0]["receiveStatus"] == "done"
    assert rows[0]["statusCode"] == "01" and rows[0]["senderDocId"] == sent["DocId"]


async def test_refused_calls_answer_fail_in_a_body_the_sdk_reads(
    client_for, vdxp_config, db, world
) -> None:
    g22, secret = await enroll(db, world, "000.00.00.G22")
    await enroll(db, world, "000.00.00.H41")
    client = await client_for(vdxp_config)

    bad = await Sdk(client, g22.organ_id, "not-the-secret").call("getAgenciesList")
    assert bad["status"] == "FAIL" and bad["ErrorCode"] != "0" and bad["ErrorDesc"].isascii()
    unknown = await Sdk(client, "000.00.00.X99", secret).call("getAgenciesList")
    assert unknown["status"] == "FAIL"
    # A signed header changed on the way is refused, as is a missing hash.
    sdk = Sdk(client, g22.organ_id, secret)
    assert (await sdk.call("getAgenciesList", tamper={"XroadVnpt-systemid": "000.00.00.H41"}))[
        "status"
    ] == "FAIL"
    resp = await client.post("/vdxp/getAgenciesList", headers={"XroadVnpt-systemid": g22.organ_id})
    assert resp.status == 200 and (await resp.json())["status"] == "FAIL"
    # Nothing about a refused send is stored.
    letter = world.letter(g22, ["000.00.00.H41"])
    refused = await Sdk(client, g22.organ_id, "wrong").send(letter)
    assert refused["status"] == "FAIL" and refused["DocId"] == ""
    assert await db.fetchval("SELECT count(*) FROM documents") == 0

    listed = await sdk.call("getAgenciesList")
    assert listed["status"] == "OK"
    assert {a["code"] for a in listed["data"]} == {"000.00.00.G22", "000.00.00.H41"}


async def test_stale_headers_of_earlier_calls_and_both_cases_of_docid_are_tolerated(
    client_for, vdxp_config, db, world
) -> None:
    g22, g22_secret = await enroll(db, world, "000.00.00.G22")
    h41, h41_secret = await enroll(db, world, "000.00.00.H41")
    client = await client_for(vdxp_config)
    sender, receiver = Sdk(client, g22.organ_id, g22_secret), Sdk(client, h41.organ_id, h41_secret)
    first, second = world.letter(g22, [h41]), world.letter(g22, [h41])
    assert (await sender.send(first))["status"] == "OK"
    assert (await sender.send(second))["status"] == "OK"
    one, two = await waiting(receiver, count=2)
    assert (
        await receiver.call("updateStatus", {"status": "done", "docid": one["docId"]}, body=b"{}")
    )["status"] == "OK"
    # This getEdoc carries this call's docId and the previous call's docid (and status=done).
    got = await receiver.call("getEdoc", {"docId": two["docId"]}, body=b"{}")
    names = [n for n, _ in receiver.last_headers]
    assert "XroadVnpt-docid" in names and "XroadVnpt-docId" in names and "XroadVnpt-status" in names
    assert got["status"] == "OK" and base64.b64decode(got["data"]) == second
    # updateStatus reads docid first: set it to the wanted one, the stale docId stays.
    done = await receiver.call(
        "updateStatus", {"status": "done", "docid": two["docId"]}, body=b"{}"
    )
    assert done["status"] == "OK" and await receiver.received() == []
    # sendEdoc through HttpURLConnection keeps one of docId/docid: either value satisfies the check.
    third = world.letter(h41, [g22])
    assert (await receiver.send(third))["status"] == "OK"


async def test_strict_agency_needs_a_real_signature_legacy_is_marked_and_sealed(
    client_for, vdxp_config, db, world
) -> None:
    h41, secret = await enroll(db, world, "000.00.00.H41", with_cert=False)
    g22, g22_secret = await enroll(db, world, "000.00.00.G22")
    client = await client_for(vdxp_config)
    sdk = Sdk(client, h41.organ_id, secret)
    package = unsigned(h41.organ_id, [g22.organ_id])
    refused = await sdk.send(package)
    assert refused["status"] == "FAIL" and "XML-DSig" in refused["ErrorDesc"]

    await agencies.set_signature_policy(db, h41.organ_id, "legacy")
    accepted = await sdk.send(package)
    assert accepted["status"] == "OK" and accepted["unsignedLegacy"] is True
    receiver = Sdk(client, g22.organ_id, g22_secret)
    [item] = await waiting(receiver)
    assert item["unsignedLegacy"] is True and item["signature"] == "legacy"
    got = base64.b64decode(
        (await receiver.call("getEdoc", {"docId": item["docId"]}, body=b"{}"))["data"]
    )
    assert got != package and b"xmldsig" in got  # sealed by the axis on acceptance


async def test_a_hub_registers_sends_for_receives_for_and_deletes_its_sub_units(
    client_for, vdxp_config, db, world
) -> None:
    hub, hub_secret = await enroll(db, world, "000.00.00.H41", policy="legacy", with_cert=False)
    g22, g22_secret = await enroll(db, world, "000.00.00.G22")
    other, other_secret = await enroll(db, world, "000.00.00.H29")
    # The operator marks the hub systems (axis agency set-hub); here both are provincial platforms.
    await registry.set_hub(db, hub.organ_id, True)
    await registry.set_hub(db, other.organ_id, True)
    client = await client_for(vdxp_config)
    sdk = Sdk(client, hub.organ_id, hub_secret)
    unit = "000.01.32.H41"
    body = json.dumps(
        {
            "id": "1",
            "pcode": hub.organ_id,
            "code": unit,
            "name": "Sở Nội vụ Nghệ An",
            "mail": "snv@nghean.gov.vn",
            "mobile": "",
            "fax": "",
        }
    ).encode()
    assert (await sdk.call("registerAgency", body=body))["status"] == "OK"
    listed = {a["code"]: a for a in (await sdk.call("getAgenciesList"))["data"]}
    assert listed[unit]["pid"] == hub.organ_id and listed[unit]["mail"] == "snv@nghean.gov.vn"

    # Sending with from = the sub-unit; a code the hub may not use is refused in the SDK's words.
    letter = unsigned(unit, [g22.organ_id])
    assert (await sdk.send(letter, **{"from": unit}))["status"] == "OK"
    wrong = await sdk.send(unsigned(g22.organ_id, [other.organ_id]), **{"from": g22.organ_id})
    assert (
        wrong["ErrorDesc"]
        == f"Don vi gui {g22.organ_id} khong dung voi ma da dang ky: {hub.organ_id}"
    )
    [got] = await waiting(Sdk(client, g22.organ_id, g22_secret))
    assert got["from"] == unit

    # Letters to the sub-unit reach the hub's list.
    to_unit = world.letter(g22, [unit])
    assert (await Sdk(client, g22.organ_id, g22_secret).send(to_unit))["status"] == "OK"
    [item] = await waiting(sdk)
    assert item["to"] == unit
    assert (await sdk.call("updateStatus", {"status": "done", "docid": item["docId"]}, body=b"{}"))[
        "status"
    ] == "OK"

    # Only the hub that registered a unit may delete it; afterwards it cannot send.
    other_sdk = Sdk(client, other.organ_id, other_secret)
    assert (await other_sdk.call("deleteAgency", {"AgencyCode": unit}, body=b"{}"))[
        "status"
    ] == "FAIL"
    assert (await sdk.call("deleteAgency", {"AgencyCode": unit}, body=b"{}"))["status"] == "OK"
    assert unit not in {a["code"] for a in (await sdk.call("getAgenciesList"))["data"]}
    units = {u["code"]: u for u in (await sdk.call("getSynchronizeUnit"))["data"]}
    assert units[unit]["deleted"] is True and units[hub.organ_id]["isAgency"] is True
    again = await sdk.send(unsigned(unit, [g22.organ_id], number="99"), **{"from": unit})
    assert again["status"] == "FAIL"


async def test_letters_cross_between_vdxp_and_v1_both_ways(
    client_for, vdxp_config, db, world
) -> None:
    v1 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41, secret = await enroll(db, world, "000.00.00.H41")
    client = await client_for(vdxp_config)
    sdk = Sdk(client, h41.organ_id, secret)

    # /v1 to VDXP.
    letter = world.letter(v1, [h41])
    resp = await client.post("/v1/documents", data=letter, headers=v1.auth)
    assert resp.status == 202
    [item] = await waiting(sdk)
    assert item["from"] == v1.organ_id

    # VDXP to /v1.
    back = world.letter(h41, [v1])
    sent = await sdk.send(back)
    assert sent["status"] == "OK"

    async def v1_inbox() -> list[dict] | None:
        items = (await (await client.get("/v1/inbox", headers=v1.auth)).json())["items"]
        return [i for i in items if i["kind"] == "letter"] or None

    [at_v1] = await wait_for(v1_inbox)
    assert at_v1["document_id"] == sent["DocId"] and at_v1["sender"] == h41.organ_id


@pytest.mark.parametrize(
    ("codes", "sender_asks"),
    [(["01", "03", "04", "05", "06"], False), (["02"], False), (["15"], True), (["16"], True)],
)
async def test_status_packages_sent_as_messagetype_status_are_receipts(
    client_for, vdxp_config, db, world, codes, sender_asks
) -> None:
    v1 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41, secret = await enroll(db, world, "000.00.00.H41")
    client = await client_for(vdxp_config)
    sdk = Sdk(client, h41.organ_id, secret)
    letter = world.letter(v1, [h41])
    doc = (await (await client.post("/v1/documents", data=letter, headers=v1.auth)).json())[
        "document_id"
    ]
    if sender_asks:
        recall = world.status(v1, letter, "13")
        resp = await client.post(f"/v1/documents/{doc}/status", data=recall, headers=v1.auth)
        assert resp.status == 202, await resp.text()
        [asked] = await waiting(sdk, "status")
        got = edoc.parse(
            base64.b64decode(
                (await sdk.call("getEdoc", {"docId": asked["docId"]}, body=b"{}"))["data"]
            )
        )
        assert isinstance(got.header, edoc.StatusMessage) and got.header.status_code.code == "13"
    for code in codes:
        answer = await sdk.send(world.status(h41, letter, code), messagetype="status")
        assert answer["status"] == "OK", (code, answer)
    trace = await (await client.get(f"/v1/documents/{doc}/trace", headers=v1.auth)).json()
    [line] = trace["recipients"]
    assert [s["code"] for s in line["statuses"] if s["code"] != "13"] == codes
    # Going back is refused cleanly.
    if codes[-1] == "06":
        back = await sdk.send(
            world.status(h41, letter, "05", description="lại"), messagetype="status"
        )
        assert back["status"] == "FAIL" and back["ErrorCode"] != "0"


async def test_fail_is_recorded_and_shown_to_the_sender(client_for, vdxp_config, db, world) -> None:
    g22, g22_secret = await enroll(db, world, "000.00.00.G22")
    h41, secret = await enroll(db, world, "000.00.00.H41")
    client = await client_for(vdxp_config)
    sender, sdk = Sdk(client, g22.organ_id, g22_secret), Sdk(client, h41.organ_id, secret)
    sent = await sender.send(world.letter(g22, [h41]))
    [item] = await waiting(sdk)
    failed = await sdk.call(
        "updateStatus",
        {"status": "fail", "docid": item["docId"], "description": "Gói tin hỏng"},
        body=b"{}",
    )
    assert failed["status"] == "OK" and await sdk.received() == []
    [row] = (await sender.call("getSentEdocList", {"docId": sent["DocId"]}))["data"]
    assert row["receiveStatus"] == "fail" and "Goi tin hong" in row["receiveStatusDesc"]


def test_unpadded_hash_file_and_timestamp_are_the_sdk_forms() -> None:
    from datetime import datetime

    from axis.adapters.vdxp import protocol

    data = b"x" * 10
    digest = hashlib.sha256(data).digest()
    assert protocol.hash_file(data) == "".join(format(b, "x") for b in digest)
    assert (
        protocol.sdk_timestamp(datetime(2026, 11, 22, 13, 42, 18, 548000)) == "22112026T134218+0548"
    )
    assert protocol.ascii_text("Đơn vị gửi không đúng") == "Don vi gui khong dung"


async def test_a_recall_asked_and_answered_through_vdxp_reaches_each_side_as_status_packages(
    client_for, vdxp_config, db, world
) -> None:
    g22, g22_secret = await enroll(db, world, "000.00.00.G22")
    h41, h41_secret = await enroll(db, world, "000.00.00.H41")
    client = await client_for(vdxp_config)
    sender, receiver = Sdk(client, g22.organ_id, g22_secret), Sdk(client, h41.organ_id, h41_secret)
    letter = world.letter(g22, [h41])
    assert (await sender.send(letter))["status"] == "OK"
    [item] = await waiting(receiver)

    asked = await sender.send(world.status(g22, letter, "13"), messagetype="status")
    assert asked["status"] == "OK", asked
    [recall] = await waiting(receiver, "status")
    assert recall["statusCode"] == "13" and recall["from"] == g22.organ_id

    answered = await receiver.send(world.status(h41, letter, "15"), messagetype="status")
    assert answered["status"] == "OK", answered
    [agreed] = await waiting(sender, "status")
    assert agreed["statusCode"] == "15" and agreed["from"] == h41.organ_id
    count = await sender.call("countReceiveStatus", {"messagetype": "status"}, body=b"{}")
    assert count["count"] == 1
    # A recipient may not post 13, and a status package sent as messagetype=edoc is refused.
    wrong = await receiver.send(world.status(h41, letter, "13"), messagetype="status")
    assert wrong["status"] == "FAIL"
    assert (await receiver.send(world.status(h41, letter, "03")))["status"] == "FAIL"
    assert item["docId"]


async def test_a_vdxp_letter_reaches_a_push_agency_and_its_arrival_comes_back_to_the_vdxp_sender(
    client_for, vdxp_config, db, world
) -> None:
    from tests.support.webhook import Webhook

    hook = Webhook()
    await hook.start()
    try:
        g22, secret = await enroll(db, world, "000.00.00.G22")
        h41 = await world.register(db, "000.00.00.H41", webhook=hook.url)
        hook.token = h41.token
        client = await client_for(vdxp_config)
        sdk = Sdk(client, g22.organ_id, secret)
        letter = world.letter(g22, [h41])
        sent = await sdk.send(letter)
        assert sent["status"] == "OK"
        await wait_for(lambda: hook.received)
        assert hook.received[0].body == letter and hook.received[0].genuine
        assert hook.received[0].headers["X-Axis-Document-Id"] == sent["DocId"]
        [arrived] = await waiting(sdk, "status")
        assert arrived["statusCode"] == "01" and arrived["from"] == h41.organ_id
    finally:
        await hook.stop()


async def test_a_replayed_call_with_an_old_timestamp_passes_and_an_unknown_operation_is_a_fail(
    client_for, vdxp_config, db, world
) -> None:
    from multidict import CIMultiDict

    g22, secret = await enroll(db, world, "000.00.00.G22")
    client = await client_for(vdxp_config)
    sdk = Sdk(client, g22.organ_id, secret)
    sdk.map["timestamp"] = "01012020T080000+0001"  # the SDK's process started long ago
    assert (await sdk.call("getAgenciesList"))["status"] == "OK"
    again = await client.post("/vdxp/getAgenciesList", headers=CIMultiDict(sdk.last_headers))
    assert (await again.json())["status"] == "OK"
    # An unsigned extra XroadVnpt-* header is ignored, never read.
    extra = CIMultiDict([*sdk.last_headers, ("XroadVnpt-docId", "forged")])
    assert (await (await client.post("/vdxp/getAgenciesList", headers=extra)).json())[
        "status"
    ] == "OK"
    unknown = await sdk.call("getEverything")
    assert unknown["status"] == "FAIL" and unknown["ErrorCode"] == "3"


@pytest.mark.parametrize(
    "fixture",
    [
        "letter_placeholder_signature.edxml",
        "letter_crlf.edxml",
        "letter_mixed_prefixes.edxml",
        "letter_all_prefixed.edxml",
        "letter_single_s_business.edxml",
        "sample_quyet_dinh_3_attachments.edxml",
    ],
)
async def test_packages_as_vendors_write_them_go_through_from_a_legacy_agency(
    client_for, vdxp_config, db, world, fixture
) -> None:
    from tests.edoc.conftest import FIXTURES

    data = (FIXTURES / fixture).read_bytes()
    header = edoc.parse(data).header
    assert isinstance(header, edoc.MessageHeader)
    sender, secret = await enroll(
        db, world, header.from_.organ_id, policy="legacy", with_cert=False
    )
    recipients = []
    for organ in dict.fromkeys(o.organ_id for o in header.to):
        recipients.append(await enroll(db, world, organ))
    client = await client_for(vdxp_config)
    sdk = Sdk(client, sender.organ_id, secret)
    to = [o.organ_id for o, _ in recipients]
    updates = edoc.parse(data).bussiness_doc_type in (1, 2)
    if updates:  # an update names the letter it updates: that one goes first
        original = unsigned(sender.organ_id, to, document_id=header.document_id)
        assert (await sdk.send(original))["status"] == "OK"
    sent = await sdk.send(data)
    assert sent["status"] == "OK" and sent["unsignedLegacy"] is True, sent
    first, first_secret = recipients[0]
    items = await waiting(Sdk(client, first.organ_id, first_secret), count=2 if updates else 1)
    [item] = [i for i in items if i["documentId"] == sent["DocId"]]
    assert item["unsignedLegacy"] is True
