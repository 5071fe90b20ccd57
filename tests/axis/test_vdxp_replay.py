"""/vdxp against a hostile caller who captured VDXP headers: the SDK's HMAC covers headers only and
its timestamp never changes, so captured headers can be sent again with any body, onto any
operation. Each attempt answers FAIL in the SDK's JSON and changes nothing in the database."""

from __future__ import annotations

import dataclasses
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from multidict import CIMultiDict

from axis.adapters.vdxp import protocol, registry
from axis.app import create_app
from axis.config import Config
from axis.core import agencies
from axis.logs import quiet_bad_requests
from axis.server import tls_context
from tests.axis.test_mtls import client_context, server_certificate
from tests.axis.test_vdxp import KEY, enroll, unsigned, waiting
from tests.axis.vdxp_sdk import Sdk
from tests.support.world import World


@pytest.fixture
def vdxp_config(hub_config: Config) -> Config:
    return dataclasses.replace(hub_config, secret_key=KEY)


async def replay(
    client: Any,
    operation: str,
    captured: list[tuple[str, str]],
    body: bytes = b"",
    *,
    extra: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Send captured headers again, with a body (and headers) of the attacker's choice."""
    resp = await client.post(
        f"/vdxp/{operation}", data=body, headers=CIMultiDict([*captured, *(extra or [])])
    )
    assert resp.status == 200, await resp.text()
    raw = await resp.read()
    assert raw.isascii(), raw
    answer: dict[str, Any] = json.loads(raw)
    return answer


async def letters(db: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await db.fetch("SELECT sender, subject FROM documents ORDER BY received_at")
    return [(r["sender"], r["subject"]) for r in rows]


async def directory(db: asyncpg.Connection) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        """SELECT organ_id, name, parent_organ_id, active, contact::text AS contact
             FROM agencies ORDER BY organ_id"""
    )
    return [tuple(r) for r in rows]


def unit(code: str, pcode: str, name: str = "Sở Nội vụ Nghệ An") -> bytes:
    return json.dumps(
        {"id": "1", "pcode": pcode, "code": code, "name": name, "mail": "", "mobile": "", "fax": ""}
    ).encode()


def failed(answer: dict[str, Any], code: str | None = None, says: str = "") -> bool:
    return (
        answer["status"] == "FAIL"
        and answer["ErrorCode"] not in ("0", "")
        and (code is None or answer["ErrorCode"] == code)
        and says in answer["ErrorDesc"]
    )


# ---- sendEdoc: the body must be the one the signed hash-file names -----------------------------


async def test_send_headers_replayed_with_a_forged_letter_are_refused_and_the_inbox_is_unchanged(
    client_for, vdxp_config, db, world
) -> None:
    # A legacy agency: its unsigned packages are accepted, so a forged body would be a real letter.
    h41, secret = await enroll(db, world, "000.00.00.H41", policy="legacy", with_cert=False)
    g22, g22_secret = await enroll(db, world, "000.00.00.G22")
    client = await client_for(vdxp_config)
    sdk, receiver = Sdk(client, h41.organ_id, secret), Sdk(client, g22.organ_id, g22_secret)
    genuine = unsigned(h41.organ_id, [g22.organ_id], subject="Công văn thật")
    sent = await sdk.send(genuine, **{"from": h41.organ_id})
    assert sent["status"] == "OK", sent
    captured = sdk.last_headers
    [item] = await waiting(receiver)

    forged = unsigned(h41.organ_id, [g22.organ_id], number="66", subject="Quyết định giả mạo")
    for body in (forged + b"\r\n", forged):
        answer = await replay(client, "sendEdoc", captured, body)
        assert failed(answer, protocol.BAD_REQUEST, "hash-file khong khop"), answer
        assert answer["DocId"] == ""
    # The same headers with another hash-file slipped in beside the signed one: still refused.
    slipped = [(n, v) for n, v in captured if n.lower() != "xroadvnpt-hash-file"]
    answer = await replay(
        client,
        "sendEdoc",
        [*slipped, ("XroadVnpt-hash-file", protocol.hash_file(forged))],
        forged + b"\r\n",
    )
    assert failed(answer, protocol.AUTH_FAILED), answer

    # Replayed unchanged, the call answers as the first did and the letter is not doubled.
    again = await replay(client, "sendEdoc", captured, genuine + b"\r\n")
    assert again["status"] == "OK" and again["DocId"] == sent["DocId"]
    assert await letters(db) == [(h41.organ_id, "Công văn thật")]
    assert [i["docId"] for i in await receiver.received()] == [item["docId"]]


async def test_a_send_without_a_signed_matching_hash_file_is_refused_and_stores_nothing(
    client_for, vdxp_config, db, world
) -> None:
    h41, secret = await enroll(db, world, "000.00.00.H41", policy="legacy", with_cert=False)
    g22, _ = await enroll(db, world, "000.00.00.G22")
    client = await client_for(vdxp_config)
    letter = unsigned(h41.organ_id, [g22.organ_id])
    params = {"servicetype": "eDoc", "messagetype": "edoc", "from": h41.organ_id}
    octets = "application/octet-stream"

    missing = await Sdk(client, h41.organ_id, secret).call(
        "sendEdoc", params, body=letter + b"\r\n", content_type=octets
    )
    assert failed(missing, protocol.BAD_REQUEST, "Thieu XroadVnpt-hash-file"), missing
    # Sent, matching the body, but not among the signed headers: anyone could have written it.
    not_signed = await Sdk(client, h41.organ_id, secret).call(
        "sendEdoc",
        params,
        body=letter + b"\r\n",
        content_type=octets,
        extra=[("XroadVnpt-hash-file", protocol.hash_file(letter))],
    )
    assert failed(not_signed, protocol.BAD_REQUEST, "khong nam trong header da ky"), not_signed
    # Signed, but for another file.
    other = await Sdk(client, h41.organ_id, secret).call(
        "sendEdoc",
        {**params, "hash-file": protocol.hash_file(b"another file")},
        body=letter + b"\r\n",
        content_type=octets,
    )
    assert failed(other, protocol.BAD_REQUEST, "khong khop"), other
    # Signed for another file, then the header changed to match this one.
    tampered = await Sdk(client, h41.organ_id, secret).call(
        "sendEdoc",
        {**params, "hash-file": protocol.hash_file(b"another file")},
        body=letter + b"\r\n",
        content_type=octets,
        tamper={"XroadVnpt-hash-file": protocol.hash_file(letter)},
    )
    assert failed(tampered, protocol.AUTH_FAILED, "hash-file"), tampered
    assert await letters(db) == []
    assert await db.fetchval("SELECT count(*) FROM deliveries") == 0


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("trailer", [b"\r\n", b""])
async def test_a_signed_hash_file_in_either_hex_form_with_or_without_the_trailer_is_accepted(
    client_for, vdxp_config, db, world, padded, trailer
) -> None:
    h41, secret = await enroll(db, world, "000.00.00.H41", policy="legacy", with_cert=False)
    g22, _ = await enroll(db, world, "000.00.00.G22")
    client = await client_for(vdxp_config)
    letter = unsigned(h41.organ_id, [g22.organ_id])
    import hashlib

    digest = hashlib.sha256(letter).hexdigest() if padded else protocol.hash_file(letter)
    answer = await Sdk(client, h41.organ_id, secret).call(
        "sendEdoc",
        {"servicetype": "eDoc", "messagetype": "edoc", "hash-file": digest},
        body=letter + trailer,
        content_type="application/octet-stream",
    )
    assert answer["status"] == "OK" and answer["DocId"], answer
    assert len(await letters(db)) == 1


def test_our_python_client_sends_hash_file_among_the_signed_headers() -> None:
    from axis.client.vdxp import VdxpClient

    client = VdxpClient("http://axis.example/vdxp", "000.00.00.G22", "s3cret")
    package = b"<edXMLEnvelope/>"
    headers = client.headers([("hash-file", protocol.hash_file(package))], "application/json")
    signed = json.loads(dict(headers)["XroadVnpt-sign-header"])
    assert signed["XroadVnpt-hash-file"] == protocol.hash_file(package)


# ---- registerAgency / deleteAgency: hubs only, never over the operator --------------------------


async def test_only_a_hub_the_operator_marked_registers_or_deletes_units(
    client_for, vdxp_config, db, world
) -> None:
    h41, secret = await enroll(db, world, "000.00.00.H41", policy="legacy", with_cert=False)
    g22, _ = await enroll(db, world, "000.00.00.G22")
    client = await client_for(vdxp_config)
    sdk = Sdk(client, h41.organ_id, secret)
    before = await directory(db)

    refused = await sdk.call("registerAgency", body=unit("000.01.32.H41", h41.organ_id))
    assert failed(refused, protocol.FORBIDDEN, "khong phai he thong hub"), refused
    # Headers captured from any call of the same system, replayed with a registerAgency body.
    await sdk.call("getAgenciesList")
    replayed = await replay(
        client, "registerAgency", sdk.last_headers, unit("000.01.32.H41", h41.organ_id)
    )
    assert failed(replayed, protocol.FORBIDDEN), replayed
    deleted = await sdk.call("deleteAgency", {"AgencyCode": g22.organ_id}, body=b"{}")
    assert failed(deleted, protocol.FORBIDDEN, "khong phai he thong hub"), deleted
    assert await directory(db) == before


async def test_a_hubs_captured_headers_cannot_take_over_codes_it_does_not_own(
    client_for, vdxp_config, db, world
) -> None:
    h41, secret = await enroll(db, world, "000.00.00.H41", policy="legacy", with_cert=False)
    h29, h29_secret = await enroll(db, world, "000.00.00.H29")
    g22, _ = await enroll(db, world, "000.00.00.G22")
    for hub in (h41, h29):
        await registry.set_hub(db, hub.organ_id, True)
    client = await client_for(vdxp_config)
    sdk = Sdk(client, h41.organ_id, secret)
    assert (await sdk.call("registerAgency", body=unit("000.01.32.H41", h41.organ_id)))[
        "status"
    ] == "OK"
    captured = sdk.last_headers
    other_hub = Sdk(client, h29.organ_id, h29_secret)
    assert (await other_hub.call("registerAgency", body=unit("000.01.32.H29", h29.organ_id)))[
        "status"
    ] == "OK"
    snapshot = await directory(db)

    # A top-level agency, another hub, another hub's unit, the hub itself: all refused.
    for code in (g22.organ_id, h29.organ_id, "000.01.32.H29", h41.organ_id):
        answer = await replay(
            client, "registerAgency", captured, unit(code, h41.organ_id, "Chiếm quyền")
        )
        assert failed(answer, protocol.CONFLICT, "da duoc dang ky"), (code, answer)
    # A unit under another parent.
    answer = await replay(client, "registerAgency", captured, unit("000.02.32.H29", h29.organ_id))
    assert failed(answer, protocol.FORBIDDEN, "Don vi cha"), answer
    # Deleting what is not its own.
    for code in (g22.organ_id, "000.01.32.H29"):
        answer = await sdk.call("deleteAgency", {"AgencyCode": code}, body=b"{}")
        assert failed(answer, protocol.FORBIDDEN), (code, answer)
    assert await directory(db) == snapshot


async def test_a_unit_the_operator_disabled_stays_disabled_whatever_its_hub_sends(
    client_for, vdxp_config, db, world
) -> None:
    h41, secret = await enroll(db, world, "000.00.00.H41", policy="legacy", with_cert=False)
    await registry.set_hub(db, h41.organ_id, True)
    client = await client_for(vdxp_config)
    sdk = Sdk(client, h41.organ_id, secret)
    code = "000.01.32.H41"
    assert (await sdk.call("registerAgency", body=unit(code, h41.organ_id)))["status"] == "OK"

    await agencies.set_active(db, code, False)  # axis agency disable
    again = await sdk.call("registerAgency", body=unit(code, h41.organ_id, "Tên mới"))
    assert failed(again, protocol.FORBIDDEN, "quan tri vien"), again
    # Deleting it first (it is already off) does not hand it back to the hub.
    assert (await sdk.call("deleteAgency", {"AgencyCode": code}, body=b"{}"))["status"] == "OK"
    again = await sdk.call("registerAgency", body=unit(code, h41.organ_id, "Tên mới"))
    assert failed(again, protocol.FORBIDDEN, "quan tri vien"), again
    row = await db.fetchrow("SELECT name, active FROM agencies WHERE organ_id = $1", code)
    assert row["active"] is False and row["name"] == "Sở Nội vụ Nghệ An"

    # A unit the hub deleted itself, it may bring back; once the operator enables one, it is live.
    other = "000.02.32.H41"
    assert (await sdk.call("registerAgency", body=unit(other, h41.organ_id)))["status"] == "OK"
    assert (await sdk.call("deleteAgency", {"AgencyCode": other}, body=b"{}"))["status"] == "OK"
    assert (await sdk.call("registerAgency", body=unit(other, h41.organ_id)))["status"] == "OK"
    await agencies.set_active(db, code, True)  # axis agency enable
    listed = {a["code"] for a in (await sdk.call("getAgenciesList"))["data"]}
    assert {code, other} <= listed


async def test_a_hub_switched_off_cannot_register_or_delete_and_its_units_keep_working(
    client_for, vdxp_config, db, world
) -> None:
    h41, secret = await enroll(db, world, "000.00.00.H41", policy="legacy", with_cert=False)
    g22, g22_secret = await enroll(db, world, "000.00.00.G22")
    await registry.set_hub(db, h41.organ_id, True)
    client = await client_for(vdxp_config)
    sdk = Sdk(client, h41.organ_id, secret)
    code = "000.01.32.H41"
    assert (await sdk.call("registerAgency", body=unit(code, h41.organ_id)))["status"] == "OK"

    await registry.set_hub(db, h41.organ_id, False)
    before = await directory(db)
    added = await sdk.call("registerAgency", body=unit("000.02.32.H41", h41.organ_id))
    assert failed(added, protocol.FORBIDDEN, "khong phai he thong hub"), added
    deleted = await sdk.call("deleteAgency", {"AgencyCode": code}, body=b"{}")
    assert failed(deleted, protocol.FORBIDDEN, "khong phai he thong hub"), deleted
    assert await directory(db) == before

    # The unit it registered before still sends through it and still receives in its list.
    sent = await sdk.send(unsigned(code, [g22.organ_id]), **{"from": code})
    assert sent["status"] == "OK", sent
    [got] = await waiting(Sdk(client, g22.organ_id, g22_secret))
    assert got["from"] == code
    letter = world.letter(g22, [code])
    assert (await Sdk(client, g22.organ_id, g22_secret).send(letter))["status"] == "OK"
    [item] = await waiting(sdk)
    assert item["to"] == code


# ---- every parameter an operation reads comes from the signed headers --------------------------


async def test_headers_slipped_in_beside_the_signed_ones_are_never_read(
    client_for, vdxp_config, db, world
) -> None:
    g22, g22_secret = await enroll(db, world, "000.00.00.G22")
    h41, h41_secret = await enroll(db, world, "000.00.00.H41")
    await registry.set_hub(db, h41.organ_id, True)
    client = await client_for(vdxp_config)
    sender = Sdk(client, g22.organ_id, g22_secret)
    sent = await sender.send(world.letter(g22, [h41]))
    [item] = await waiting(Sdk(client, h41.organ_id, h41_secret))
    hub = Sdk(client, h41.organ_id, h41_secret)
    assert (await hub.call("registerAgency", body=unit("000.01.32.H41", h41.organ_id)))[
        "status"
    ] == "OK"

    def fresh() -> Sdk:  # no parameter leaked from earlier calls
        return Sdk(client, h41.organ_id, h41_secret)

    doc = item["docId"]
    cases: list[tuple[str, dict[str, str], list[tuple[str, str]], str]] = [
        ("getEdoc", {"filePath": ""}, [("XroadVnpt-docId", doc)], "thieu docId"),
        ("updateStatus", {"status": "done"}, [("XroadVnpt-docid", doc)], "thieu docId"),
        ("updateStatus", {"docid": doc}, [("XroadVnpt-status", "done")], "status (thieu)"),
        ("deleteAgency", {}, [("XroadVnpt-AgencyCode", "000.01.32.H41")], "Thieu AgencyCode"),
    ]
    for operation, params, slipped, says in cases:
        answer = await fresh().call(operation, params, body=b"{}", extra=slipped)
        assert failed(answer, says=says), (operation, answer)
    raw = await fresh().call(
        "downloadEdoc", {"filePath": ""}, method="GET", extra=[("XroadVnpt-docId", doc)]
    )
    assert failed(json.loads(raw), says="thieu docId")
    mine = await Sdk(client, g22.organ_id, g22_secret).call(
        "getSentEdocList",
        {"servicetype": "eDoc", "messagetype": "edoc"},
        extra=[("XroadVnpt-docId", sent["DocId"])],
    )
    assert failed(mine, says="thieu docId"), mine
    # An unsigned date filter is not applied either: the letter is still listed.
    listed = await fresh().call(
        "getReceivedEdocList",
        {"servicetype": "eDoc", "messagetype": "edoc"},
        extra=[("XroadVnpt-fromDate", "01/01/2099 00:00:00")],
    )
    assert [i["docId"] for i in listed["data"]] == [doc]
    assert await db.fetchval("SELECT active FROM agencies WHERE organ_id = '000.01.32.H41'") is True


async def test_getedoc_headers_replayed_onto_updatestatus_acknowledge_nothing(
    client_for, vdxp_config, db, world
) -> None:
    g22, g22_secret = await enroll(db, world, "000.00.00.G22")
    h41, h41_secret = await enroll(db, world, "000.00.00.H41")
    client = await client_for(vdxp_config)
    sender = Sdk(client, g22.organ_id, g22_secret)
    receiver = Sdk(client, h41.organ_id, h41_secret)
    for _ in range(2):
        assert (await sender.send(world.letter(g22, [h41])))["status"] == "OK"
    first, second = await waiting(receiver, count=2)

    fetcher = Sdk(client, h41.organ_id, h41_secret)
    assert (await fetcher.call("getEdoc", {"docId": first["docId"]}, body=b"{}"))["status"] == "OK"
    fetched = fetcher.last_headers
    # No status among the signed headers: one slipped in is not read.
    extra = [("XroadVnpt-status", "done")]
    answer = await replay(client, "updateStatus", fetched, b"{}", extra=extra)
    assert failed(answer, protocol.BAD_REQUEST, "status (thieu)"), answer
    # A docid slipped in beside the signed docId is the same header to HTTP: it must match.
    extra = [("XroadVnpt-status", "done"), ("XroadVnpt-docid", second["docId"])]
    answer = await replay(client, "updateStatus", fetched, b"{}", extra=extra)
    assert failed(answer, protocol.AUTH_FAILED, "docid"), answer

    # The captured headers of an acknowledgement name their docid: changing it, or slipping
    # another docId in beside it, is refused; replayed as they are, they repeat a harmless ack.
    acker = Sdk(client, h41.organ_id, h41_secret)
    done = await acker.call("updateStatus", {"status": "done", "docid": first["docId"]}, body=b"{}")
    assert done["status"] == "OK"
    moved = [(n, second["docId"] if n == "XroadVnpt-docid" else v) for n, v in acker.last_headers]
    assert failed(await replay(client, "updateStatus", moved, b"{}"), protocol.AUTH_FAILED)
    slipped = [("XroadVnpt-docId", second["docId"])]
    answer = await replay(client, "updateStatus", acker.last_headers, b"{}", extra=slipped)
    assert failed(answer, protocol.AUTH_FAILED), answer
    assert (await replay(client, "updateStatus", acker.last_headers, b"{}"))["status"] == "OK"
    assert [i["docId"] for i in await receiver.received()] == [second["docId"]]


# ---- sign-header limits ----------------------------------------------------------------------


def _signed_request(text: str) -> list[tuple[str, str]]:
    return [
        ("XroadVnpt-systemid", "000.00.00.G22"),
        ("XroadVnpt-sign-header", text),
        ("XroadVnpt-hash-header", "00"),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"XroadVnpt-systemid":"' + "x" * (1 << 20) + '"}', "qua lon"),
        ("[" * 10_000, protocol.FLAT),
        ('{"a":' * 2500 + '"b"' + "}" * 2500, protocol.FLAT),
        ('{"XroadVnpt-systemid":{"a":"b"}}', protocol.FLAT),
        ('[["XroadVnpt-systemid","000.00.00.G22"]]', protocol.FLAT),
        ('{"XroadVnpt-systemid":1}', protocol.FLAT),
        ('"XroadVnpt-systemid"', protocol.FLAT),
        ("{not json", "khong phai JSON"),
    ],
    ids=[
        "1MB",
        "array-depth-10000",
        "object-depth-2500",
        "nested",
        "array",
        "number",
        "string",
        "broken",
    ],
)
def test_a_sign_header_that_is_not_a_small_flat_object_of_strings_is_refused(
    text: str, says: str
) -> None:
    with pytest.raises(protocol.VdxpRefused) as refused:
        protocol.read_signed(_signed_request(text))
    assert says in refused.value.desc and refused.value.error_code == protocol.AUTH_FAILED


def test_brackets_inside_signed_values_are_fine() -> None:
    text = '{"XroadVnpt-systemid":"000.00.00.G22","XroadVnpt-to":"[\\"000.00.00.H41\\"]{"}'
    signed = protocol.read_signed(_signed_request(text))
    assert signed.params()["to"] == '["000.00.00.H41"]{'


async def test_oversized_and_nested_sign_headers_get_a_clean_answer_and_change_nothing(
    client_for, vdxp_config, db, world, caplog
) -> None:
    quiet_bad_requests()  # as `axis serve` sets its logging up
    h41, secret = await enroll(db, world, "000.00.00.H41", policy="legacy", with_cert=False)
    g22, _ = await enroll(db, world, "000.00.00.G22")
    client = await client_for(vdxp_config)
    sdk = Sdk(client, h41.organ_id, secret)
    letter = unsigned(h41.organ_id, [g22.organ_id])
    assert (await sdk.send(letter))["status"] == "OK"
    captured = [(n, v) for n, v in sdk.last_headers if n != "XroadVnpt-sign-header"]
    before = await letters(db), await directory(db)
    caplog.clear()

    # Small enough for the HTTP parser: our own FAIL in the SDK's JSON.
    for text in ("[" * 4000 + "]" * 4000, '{"a":' * 1000 + '"b"' + "}" * 1000):
        answer = await replay(
            client, "sendEdoc", [*captured, ("XroadVnpt-sign-header", text)], letter
        )
        assert failed(answer, protocol.AUTH_FAILED, protocol.FLAT), answer
    # Over aiohttp's 8190-byte header limit: it answers 400 in plain text before any handler.
    for text in ("[" * 10_000, '{"XroadVnpt-systemid":"' + "x" * (1 << 20) + '"}'):
        resp = await client.post(
            "/vdxp/sendEdoc",
            data=letter,
            headers=CIMultiDict([*captured, ("XroadVnpt-sign-header", text)]),
        )
        assert resp.status == 400
        assert resp.content_type == "text/plain" and "Traceback" not in await resp.text()
    assert (await letters(db), await directory(db)) == before
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert any("event=http_bad_request" in r.getMessage() for r in caplog.records)
    # The axis still answers.
    assert (await sdk.call("getAgenciesList"))["status"] == "OK"


# ---- mutual TLS binds the VDXP caller to its registered certificate --------------------------


@pytest.fixture
async def https_vdxp(vdxp_config: Config, world: World, tmp_path: Path):  # type: ignore[no-untyped-def]
    cert, key = server_certificate(tmp_path)
    cfg = dataclasses.replace(
        vdxp_config,
        tls_cert=str(cert),
        tls_key=str(key),
        tls_client_ca=str(world.trust_dir / "root.pem"),
    )
    runner = web.AppRunner(create_app(cfg))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context(cfg))
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}", cert
    await runner.cleanup()


async def test_under_mutual_tls_captured_vdxp_headers_need_the_systems_own_certificate(
    https_vdxp, db, world
) -> None:
    url, server_cert = https_vdxp
    g22, secret = await enroll(db, world, "000.00.00.G22")
    h41, _ = await enroll(db, world, "000.00.00.H41")
    headers = protocol.signed_headers(
        [
            ("systemid", g22.organ_id),
            ("timestamp", "01012020T080000+0001"),
            ("Content-Type", "application/json"),
        ],
        secret,
    )

    async def call(context: ssl.SSLContext) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url + "/vdxp/getAgenciesList", ssl=context, headers=CIMultiDict(headers)
            ) as resp,
        ):
            assert resp.status == 200
            answer: dict[str, Any] = await resp.json()
            return answer

    own = await call(client_context(server_cert, g22))
    assert own["status"] == "OK"
    stolen = await call(client_context(server_cert, h41))
    assert failed(stolen, protocol.FORBIDDEN, "TLS client certificate"), stolen
