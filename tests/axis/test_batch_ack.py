"""The batch client API and status 01 off the acknowledgement path: the inbox with small letters
inline, one call acknowledging many, acknowledgements committed at once with status 01 sealed
after in batches (one signature over a Merkle root), and the seal checked offline."""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import edoc
import signing
from axis.app import SEALER
from axis.core import audit_proof, delivery
from tests.axis.test_cli import axis
from tests.support.waiting import wait_for
from tests.support.world import World, WorldAgency


@pytest.fixture
async def trio(db: asyncpg.Connection, world: World):
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    h29 = await world.register(db, "000.00.00.H29", "UBND Thành phố Hồ Chí Minh")
    return g22, h41, h29


async def _send(client: Any, sender: WorldAgency, letter: bytes) -> dict[str, Any]:
    resp = await client.post("/v1/documents", data=letter, headers=sender.auth)
    assert resp.status == 202, await resp.text()
    return dict(await resp.json())


async def _inbox(client: Any, agency: WorldAgency, **params: str) -> list[dict[str, Any]]:
    resp = await client.get("/v1/inbox", params=params, headers=agency.auth)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["items"])


async def _listed(client: Any, agency: WorldAgency, count: int) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        items = await _inbox(client, agency)
        return items if len(items) >= count else None

    return await wait_for(enough)


async def _ack_many(client: Any, agency: WorldAgency, body: Any) -> Any:
    return await client.post(
        "/v1/deliveries/ack",
        data=body if isinstance(body, bytes) else json.dumps(body),
        headers={**agency.auth, "Content-Type": "application/json"},
    )


async def test_one_call_acknowledges_many_and_answers_each_id_on_its_own_line(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, h29 = trio
    client = await client_for(hub_config)
    for _ in range(3):
        await _send(client, g22, world.letter(g22, [h41, h29]))
    mine = [i["delivery_id"] for i in await _listed(client, h41, 3)]
    theirs = (await _listed(client, h29, 3))[0]["delivery_id"]

    ids: list[Any] = [mine[0], mine[1], mine[0], "not-a-uuid", theirs, 42, mine[2]]
    resp = await _ack_many(client, h41, {"ids": ids})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["acknowledged"], body["already_acknowledged"], body["refused"]) == (3, 0, 4)
    results = body["results"]
    assert [r["ok"] for r in results] == [True, True, False, False, False, False, True]
    assert [r["id"] for r in results] == [
        mine[0],
        mine[1],
        mine[0],
        "not-a-uuid",
        theirs,
        None,
        mine[2],
    ]
    assert results[0]["delivery"]["state"] == "acknowledged"
    assert results[0]["delivery"]["business_status"] == "01"
    assert results[2]["error"] == {
        "code": "duplicate",
        "message": "ids[2] repeats ids[0]; each delivery is answered once, there",
        "where": "ids[2]",
    }
    assert results[3]["error"]["code"] == "bad_request"
    assert results[3]["error"]["where"] == "ids[3]"
    # Another agency's delivery is answered as one that does not exist, and left alone.
    assert results[4]["error"]["code"] == "not_found" and results[4]["error"]["where"] == "ids[4]"
    assert "H29" not in results[4]["error"]["message"]
    assert results[5]["error"]["message"] == "ids[5] is a int, not a delivery id (a UUID string)"
    assert await _inbox(client, h41) == []
    assert theirs in [i["delivery_id"] for i in await _inbox(client, h29)]

    # Again: the same deliveries, each already acknowledged, nothing recorded twice.
    again = await (await _ack_many(client, h41, {"ids": mine})).json()
    assert (again["acknowledged"], again["already_acknowledged"]) == (0, 3)
    assert all(r["already_acknowledged"] for r in again["results"])
    acks = await db.fetchval(
        "SELECT count(*) FROM audit_events WHERE event = 'acknowledged' AND delivery_id = ANY($1::uuid[])",
        mine,
    )
    assert acks == 3
    # The single-id door answers the same.
    one = await client.post(f"/v1/deliveries/{mine[0]}/ack", headers=h41.auth)
    assert (await one.json())["already_acknowledged"] is True


@pytest.mark.parametrize(
    ("body", "status", "where", "message"),
    [
        (b"{not json", 400, "body", "the body must be JSON"),
        ([1, 2], 400, "ids", 'the body must be a JSON object with "ids"'),
        ({"id": "x"}, 400, "ids", 'the body must be a JSON object with "ids"'),
        ({"ids": "0192f0c1-0000-7000-8000-000000000000"}, 400, "ids", '"ids" must be a list'),
        ({"ids": []}, 400, "ids", '"ids" is empty'),
        ({"ids": [str(uuid.uuid4()) for _ in range(501)]}, 400, "ids", '"ids" holds 501 ids'),
        ({"ids": ["x" * 70_000]}, 413, "body", "the limit here is 65536 bytes"),
    ],
)
async def test_a_batch_acknowledgement_that_is_not_a_list_of_ids_is_refused_whole(
    client_for, hub_config, trio, body, status, where, message
) -> None:
    _, h41, _ = trio
    client = await client_for(hub_config)
    resp = await _ack_many(client, h41, body)
    assert resp.status == status, await resp.text()
    error = (await resp.json())["error"]
    assert error["where"] == where
    assert message in error["message"]


async def test_a_batch_acknowledgement_needs_the_agencys_token(client_for, hub_config) -> None:
    client = await client_for(hub_config)
    resp = await client.post("/v1/deliveries/ack", json={"ids": [str(uuid.uuid4())]})
    assert resp.status == 401


async def test_the_inbox_carries_small_letters_inline_when_asked(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41], attachments=[("to-trinh.pdf", b"%PDF-1.7 noi dung")])
    await _send(client, g22, letter)
    await _listed(client, h41, 1)
    [item] = await _inbox(client, h41, inline="1")
    assert base64.b64decode(item["package_base64"]) == letter
    [plain] = await _inbox(client, h41)
    assert "package_base64" not in plain
    resp = await client.get("/v1/inbox", params={"inline": "maybe"}, headers=h41.auth)
    assert resp.status == 400
    assert (await resp.json())["error"]["where"] == "inline"


async def test_a_letter_over_the_inline_size_is_listed_to_be_fetched(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    big = b"%PDF-1.7 " + bytes(range(256)) * (delivery.INLINE_MAX_BYTES // 256 + 1)
    small = world.letter(g22, [h41])
    await _send(client, g22, world.letter(g22, [h41], attachments=[("lon.pdf", big)]))
    await _send(client, g22, small)
    await _listed(client, h41, 2)
    first, second = await _inbox(client, h41, inline="1")
    assert "package_base64" not in first and first["size"] > delivery.INLINE_MAX_BYTES
    assert base64.b64decode(second["package_base64"]) == small


async def test_the_inline_inbox_reads_both_stores_and_leaves_out_bytes_that_changed(
    client_for, hub_config, trio, world, db: asyncpg.Connection
) -> None:
    """One query reads the packages kept in PostgreSQL, the blob store the rest; a kept package
    whose bytes no longer match their SHA-256 is left out (fetching it says why), not shown."""
    g22, h41, _ = trio
    client = await client_for(dataclasses.replace(hub_config, inline_max_bytes=10_000))
    in_blobs = world.letter(g22, [h41], attachments=[("a.pdf", b"%PDF-1.7 " + b"x" * 6000)])
    kept, altered = world.letter(g22, [h41]), world.letter(g22, [h41])
    assert len(kept) <= 10_000 and len(altered) <= 10_000 < len(in_blobs)
    for letter in (in_blobs, kept, altered):
        await _send(client, g22, letter)
    await _listed(client, h41, 3)
    sha = hashlib.sha256(altered).hexdigest()
    await db.execute("UPDATE stored_bytes SET data = $2 WHERE sha256 = $1", sha, altered + b" ")
    first, second, third = await _inbox(client, h41, inline="1")
    assert base64.b64decode(first["package_base64"]) == in_blobs
    assert base64.b64decode(second["package_base64"]) == kept
    assert "package_base64" not in third
    fetched = await client.get(f"/v1/documents/{third['document_id']}", headers=h41.auth)
    assert fetched.status == 500


async def _statuses(client: Any, agency: WorldAgency) -> list[dict[str, Any]]:
    return [i for i in await _inbox(client, agency) if i["kind"] == "status"]


async def test_the_sender_sees_the_acknowledgement_at_once_and_status_01_once_sealed(
    client_for, hub_config, trio, world, db: asyncpg.Connection
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    sent = await _send(client, g22, world.letter(g22, [h41]))
    [item] = await _listed(client, h41, 1)
    # A slow sealer: this hub's is paused (and there is no other hub).
    sealer = client.server.app[SEALER]
    await sealer.close()
    acked = await client.post(f"/v1/deliveries/{item['delivery_id']}/ack", headers=h41.auth)
    assert acked.status == 200, await acked.text()
    assert (await acked.json())["state"] == "acknowledged"
    trace = await (
        await client.get(f"/v1/documents/{sent['document_id']}/trace", headers=g22.auth)
    ).json()
    [line] = trace["recipients"]
    assert (line["state"], line["current_status"], line["statuses"]) == ("acknowledged", "01", [])
    assert await _statuses(client, g22) == []
    assert await db.fetchval("SELECT count(*) FROM arrivals WHERE status_id IS NULL") == 1
    sealer.start()
    [arrived] = await wait_for(lambda: _statuses(client, g22))
    assert arrived["status_code"] == "01" and arrived["signature"] == "axis-batch"
    package = await client.get(f"/v1/documents/{arrived['document_id']}", headers=g22.auth)
    status = edoc.parse(await package.read()).header
    assert isinstance(status, edoc.StatusMessage) and status.status_code.code == "01"
    assert status.from_.organ_id == h41.organ_id


async def test_a_status_posted_right_after_the_acknowledgement_reaches_the_sender_after_its_01(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    sent = await _send(client, g22, letter)
    [item] = await _listed(client, h41, 1)
    assert (
        await client.post(f"/v1/deliveries/{item['delivery_id']}/ack", headers=h41.auth)
    ).status == 200
    posted = await client.post(
        f"/v1/documents/{sent['document_id']}/status",
        data=world.status(h41, letter, "03"),
        headers=h41.auth,
    )
    assert posted.status == 202, await posted.text()

    async def both() -> list[dict[str, Any]] | None:
        found = await _statuses(client, g22)
        return found if len(found) == 2 else None

    assert [s["status_code"] for s in await wait_for(both)] == ["01", "03"]


async def test_acknowledgements_arriving_together_each_record_once(
    client_for, hub_config, trio, world, db: asyncpg.Connection
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    for _ in range(12):
        await _send(client, g22, world.letter(g22, [h41]))
    ids = [i["delivery_id"] for i in await _listed(client, h41, 12)]
    # Every delivery acknowledged twice at once, through both doors.
    answers = await asyncio.gather(
        *(client.post(f"/v1/deliveries/{d}/ack", headers=h41.auth) for d in ids),
        *(_ack_many(client, h41, {"ids": [d]}) for d in ids),
    )
    assert [a.status for a in answers] == [200] * 24
    singles = [await a.json() for a in answers[:12]]
    batches = [(await a.json())["results"][0] for a in answers[12:]]
    for one, batch in zip(singles, batches, strict=True):
        # Exactly one of the two made the acknowledgement.
        assert [one["already_acknowledged"], batch["already_acknowledged"]].count(False) == 1
    counts = await db.fetch(
        """SELECT d.id, (SELECT count(*) FROM audit_events a
                          WHERE a.delivery_id = d.id AND a.event = 'acknowledged') AS acks,
                  (SELECT count(*) FROM arrivals r WHERE r.delivery_id = d.id) AS arrivals
             FROM deliveries d WHERE d.id = ANY($1::uuid[])""",
        ids,
    )
    assert sorted((r["acks"], r["arrivals"]) for r in counts) == [(1, 1)] * 12

    async def all_sealed() -> bool:
        return len(await _statuses(client, g22)) == 12

    await wait_for(all_sealed)


async def test_a_sealed_status_01_checks_offline_with_its_path_and_the_batch_seal(
    client_for, hub_config, trio, world, tmp_path: Path
) -> None:
    g22, h41, h29 = trio
    client = await client_for(hub_config)
    for _ in range(3):
        await _send(client, g22, world.letter(g22, [h41, h29]))
    for agency in (h41, h29):
        ids = [i["delivery_id"] for i in await _listed(client, agency, 3)]
        assert (await _ack_many(client, agency, {"ids": ids})).status == 200

    async def six() -> list[dict[str, Any]] | None:
        found = await _statuses(client, g22)
        return found if len(found) == 6 else None

    arrived = await wait_for(six)
    cert = signing.load_certificates(str(hub_config.seal_dir / "seal.crt"))[0]
    for status in arrived:
        resp = await client.get(f"/v1/documents/{status['document_id']}/seal", headers=g22.auth)
        assert resp.status == 200, await resp.text()
        seal = await resp.json()
        package = await (
            await client.get(f"/v1/documents/{status['document_id']}", headers=g22.auth)
        ).read()
        result = audit_proof.check_status_seal(seal, package, cert)
        assert result.ok, result.message
        assert seal["responds_to"] == status["responds_to"]
    # The recipient that made it may have it too; a third agency may not.
    own = await client.get(f"/v1/documents/{arrived[0]['document_id']}/seal", headers=h41.auth)
    other = h29 if arrived[0]["sender"] == h41.organ_id else h41
    assert own.status == (200 if arrived[0]["sender"] == h41.organ_id else 404)
    stranger = await client.get(
        f"/v1/documents/{arrived[0]['document_id']}/seal", headers=other.auth
    )
    assert stranger.status == 404
    letter_seal = await client.get(
        f"/v1/documents/{arrived[0]['responds_to']}/seal", headers=g22.auth
    )
    assert letter_seal.status == 404

    # Offline, with the command: the package and its seal hold; another package or a path
    # altered does not.
    seal = await (
        await client.get(f"/v1/documents/{arrived[0]['document_id']}/seal", headers=g22.auth)
    ).json()
    package = await (
        await client.get(f"/v1/documents/{arrived[0]['document_id']}", headers=g22.auth)
    ).read()
    other_package = await (
        await client.get(f"/v1/documents/{arrived[1]['document_id']}", headers=g22.auth)
    ).read()
    (tmp_path / "seal.json").write_text(json.dumps(seal), encoding="utf-8")
    (tmp_path / "status.xml").write_bytes(package)
    (tmp_path / "other.xml").write_bytes(other_package)
    env = {"AXIS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    seal_cert = str(hub_config.seal_dir / "seal.crt")
    args = ("audit", "check-proof", str(tmp_path / "seal.json"), "--seal-cert", seal_cert)
    code, out, err = await axis(*args, "--package", str(tmp_path / "status.xml"), env=env)
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    code, _, err = await axis(*args, "--package", str(tmp_path / "other.xml"), env=env)
    assert code == 1 and "the package is not the one sealed" in err
    if seal["path"]:
        tampered = copy.deepcopy(seal)
        tampered["path"][0]["hash"] = "0" * 64
        (tmp_path / "seal.json").write_text(json.dumps(tampered), encoding="utf-8")
        code, _, err = await axis(*args, "--package", str(tmp_path / "status.xml"), env=env)
        assert code == 1 and "does not lead to the sealed root" in err


def test_the_merkle_paths_lead_every_leaf_to_the_root_of_any_batch_size() -> None:
    for size in range(1, 34):
        leaves = [audit_proof.leaf_hash(f"status {i}".encode()) for i in range(size)]
        root, paths = audit_proof.merkle_tree(leaves)
        assert all(
            audit_proof.root_from_path(leaf, path) == root
            for leaf, path in zip(leaves, paths, strict=True)
        )
        if size > 1:
            swapped = [*leaves[1:], leaves[0]]
            assert audit_proof.merkle_tree(swapped)[0] != root
    assert len(audit_proof.merkle_tree(["ab" * 32] * 256)[1][0]) == 8
