"""The tamper-evident audit log: every event chained by hashes, sealed checkpoints, `axis audit
verify` naming the first entry edited, inserted, deleted or moved by hand, and offline proofs."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import json
import os
import random
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import signing
from axis.adapters.api import HUB
from axis.core import audit, audit_proof, repo
from axis.core.audit import CheckpointPolicy
from axis.workers.chainer import Chainer
from storage.db import Database
from tests.support.waiting import wait_for
from tests.support.world import World

POLICY = CheckpointPolicy(entries=1000, seconds=3600)


async def axis(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "axis.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
def seal(tmp_path: Path) -> signing.Seal:
    return signing.Seal.generate(tmp_path / "seal", "Trục liên thông văn bản (test seal)")


@pytest.fixture
def cli_env(test_database_url: str, tmp_path: Path, seal: signing.Seal) -> dict[str, str]:
    return {"AXIS_DATABASE_URL": test_database_url, "AXIS_SEAL_DIR": str(tmp_path / "seal")}


async def a_letters_life(db: asyncpg.Connection, world: World) -> uuid.UUID:
    """Audit rows as the hub writes them: two agencies, a letter accepted, acknowledged, 01 back."""
    await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ", with_cert=False)
    await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An", with_cert=False)
    letter, delivery = uuid.uuid4(), uuid.uuid4()
    async with db.transaction():
        await repo.audit(
            db,
            "accepted",
            organ_id="000.00.00.G22",
            document_id=letter,
            details={"recipients": ["000.00.00.H41"], "sha256": "ab" * 32},
        )
    async with db.transaction():
        await repo.audit(
            db,
            "acknowledged",
            organ_id="000.00.00.H41",
            document_id=letter,
            delivery_id=delivery,
            details={"via": "api"},
        )
        await repo.audit(
            db,
            "status",
            organ_id="000.00.00.H41",
            document_id=letter,
            delivery_id=delivery,
            details={"status_code": "01", "by": "axis"},
        )
    await repo.audit(db, "agency_token_rotated", organ_id="000.00.00.G22")
    return letter


async def chain_all(db: asyncpg.Connection, seal: signing.Seal) -> None:
    await audit.catch_up(db, seal, POLICY)


async def row(db: asyncpg.Connection, event: str) -> asyncpg.Record:
    found = await db.fetchrow(
        "SELECT id, chain_seq, prev_hash, content_hash, hash FROM audit_events WHERE event = $1",
        event,
    )
    assert found is not None
    return found


# -- the chain -----------------------------------------------------------------------------------


async def test_every_event_is_chained_to_the_one_before_and_a_checkpoint_is_sealed(
    db: asyncpg.Connection, world: World, seal: signing.Seal
) -> None:
    await a_letters_life(db, world)
    await chain_all(db, seal)

    rows = await db.fetch("SELECT * FROM audit_events ORDER BY chain_seq")
    assert [r["chain_seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["prev_hash"] == audit_proof.GENESIS
    for before, entry in itertools.pairwise(rows):
        assert entry["prev_hash"] == before["hash"]
    for entry in rows:
        assert entry["content_hash"] == audit_proof.content_hash(audit_proof.entry_content(entry))
        assert entry["hash"] == audit_proof.link_hash(entry["prev_hash"], entry["content_hash"])
    checkpoint = await db.fetchrow("SELECT * FROM audit_checkpoints ORDER BY id DESC LIMIT 1")
    payload = signing.verify_sealed_json(json.loads(checkpoint["sealed"]), seal.certificate)
    assert payload["chain_seq"] == len(rows) and payload["hash"] == rows[-1]["hash"]
    assert (await audit.verify(db, seal.certificate)).ok


async def test_axis_audit_verify_passes_an_untouched_chain(
    db: asyncpg.Connection, world: World, seal: signing.Seal, cli_env: dict[str, str]
) -> None:
    await a_letters_life(db, world)
    await chain_all(db, seal)
    code, out, err = await axis("audit", "verify", env=cli_env)
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and report["entries"] == 6 and report["seal_pinned"]


async def test_axis_audit_verify_names_the_row_edited_by_hand(
    db: asyncpg.Connection, world: World, seal: signing.Seal, cli_env: dict[str, str]
) -> None:
    letter = await a_letters_life(db, world)
    await chain_all(db, seal)
    acked = await row(db, "acknowledged")
    await db.execute(
        """UPDATE audit_events SET details = '{"via": "webhook"}' WHERE id = $1""", acked["id"]
    )

    code, _, err = await axis("audit", "verify", env=cli_env)
    assert code == 1
    assert (
        f"entry {acked['id']} (chain {acked['chain_seq']}, event acknowledged, document {letter}) "
        "was edited: its hash does not match its content"
    ) in err


async def test_axis_audit_verify_names_a_deleted_row(
    db: asyncpg.Connection, world: World, seal: signing.Seal, cli_env: dict[str, str]
) -> None:
    await a_letters_life(db, world)
    await chain_all(db, seal)
    acked = await row(db, "acknowledged")
    await db.execute("DELETE FROM audit_events WHERE id = $1", acked["id"])

    code, _, err = await axis("audit", "verify", env=cli_env)
    assert code == 1
    assert f"chain {acked['chain_seq']} is missing: 1 entry was deleted" in err


async def test_axis_audit_verify_names_a_forged_row_inserted_into_the_history(
    db: asyncpg.Connection, world: World, seal: signing.Seal, cli_env: dict[str, str]
) -> None:
    """The forger knows the hashing and makes the forged row link to the one before it."""
    letter = await a_letters_life(db, world)
    await chain_all(db, seal)
    accepted = await row(db, "accepted")
    # Make room after the accepted entry (two steps: chain_seq is unique).
    await db.execute(
        "UPDATE audit_events SET chain_seq = -chain_seq WHERE chain_seq > $1", accepted["chain_seq"]
    )
    await db.execute("UPDATE audit_events SET chain_seq = 1 - chain_seq WHERE chain_seq < 0")
    forged_id = await db.fetchval(
        """INSERT INTO audit_events (event, organ_id, document_id, details)
           VALUES ('refused', '000.00.00.H41', $1, '{"reason": "không đúng thẩm quyền"}')
           RETURNING id""",
        letter,
    )
    forged = await db.fetchrow("SELECT * FROM audit_events WHERE id = $1", forged_id)
    digest = audit_proof.content_hash(audit_proof.entry_content(forged))
    await db.execute(
        "UPDATE audit_events SET chain_seq = $2, prev_hash = $3, content_hash = $4, hash = $5 WHERE id = $1",
        forged_id,
        accepted["chain_seq"] + 1,
        accepted["hash"],
        digest,
        audit_proof.link_hash(accepted["hash"], digest),
    )

    code, _, err = await axis("audit", "verify", env=cli_env)
    assert code == 1
    assert f"entry {forged_id} (chain {accepted['chain_seq'] + 1}, event refused" in err
    assert "was inserted" in err


async def test_axis_audit_verify_names_a_row_moved_out_of_order(
    db: asyncpg.Connection, world: World, seal: signing.Seal, cli_env: dict[str, str]
) -> None:
    await a_letters_life(db, world)
    await chain_all(db, seal)
    acked, status = await row(db, "acknowledged"), await row(db, "status")
    await db.execute("UPDATE audit_events SET chain_seq = -1 WHERE id = $1", acked["id"])
    await db.execute(
        "UPDATE audit_events SET chain_seq = $2 WHERE id = $1", status["id"], acked["chain_seq"]
    )
    await db.execute(
        "UPDATE audit_events SET chain_seq = $2 WHERE id = $1", acked["id"], status["chain_seq"]
    )

    code, _, err = await axis("audit", "verify", env=cli_env)
    assert code == 1
    assert f"entry {status['id']} (chain {acked['chain_seq']}, event status" in err
    assert f"is out of order: it was chained right after entry {acked['id']}" in err


async def test_a_chain_rewritten_with_recomputed_hashes_is_caught_by_the_sealed_checkpoint(
    db: asyncpg.Connection, world: World, seal: signing.Seal, cli_env: dict[str, str]
) -> None:
    await a_letters_life(db, world)
    await chain_all(db, seal)
    acked = await row(db, "acknowledged")
    await db.execute(
        """UPDATE audit_events SET details = '{"via": "webhook"}' WHERE id = $1""", acked["id"]
    )
    prev = acked["prev_hash"]
    for entry in await db.fetch(
        "SELECT * FROM audit_events WHERE chain_seq >= $1 ORDER BY chain_seq", acked["chain_seq"]
    ):
        digest = audit_proof.content_hash(audit_proof.entry_content(entry))
        prev_hash, prev = prev, audit_proof.link_hash(prev, digest)
        await db.execute(
            "UPDATE audit_events SET prev_hash = $2, content_hash = $3, hash = $4 WHERE id = $1",
            entry["id"],
            prev_hash,
            digest,
            prev,
        )

    code, _, err = await axis("audit", "verify", env=cli_env)
    assert code == 1
    assert "was rewritten with recomputed hashes" in err


async def test_a_checkpoint_with_a_forged_seal_fails_verification(
    db: asyncpg.Connection,
    world: World,
    seal: signing.Seal,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    await a_letters_life(db, world)
    await chain_all(db, seal)
    checkpoint = await db.fetchrow("SELECT id, chain_seq, hash, sealed FROM audit_checkpoints")
    # Sealed by someone else's key, over the very same (true) payload.
    impostor = signing.Seal.generate(tmp_path / "impostor", "Trục liên thông văn bản (giả)")
    forged = impostor.sign_json(json.loads(checkpoint["sealed"])["payload"])
    await db.execute(
        "UPDATE audit_checkpoints SET sealed = $2::jsonb WHERE id = $1",
        checkpoint["id"],
        json.dumps(forged),
    )
    code, _, err = await axis("audit", "verify", env=cli_env)
    assert code == 1
    assert f"checkpoint {checkpoint['id']} (chain {checkpoint['chain_seq']}) is forged" in err

    # Altered payload under the true seal's signature.
    sealed = json.loads(checkpoint["sealed"])
    sealed["payload"]["hash"] = "0" * 64
    await db.execute(
        "UPDATE audit_checkpoints SET sealed = $2::jsonb, hash = $3 WHERE id = $1",
        checkpoint["id"],
        json.dumps(sealed),
        "0" * 64,
    )
    code, _, err = await axis("audit", "verify", env=cli_env)
    assert code == 1
    assert "is forged: its seal does not hold" in err


async def test_concurrent_writers_and_several_chainers_make_one_unbroken_chain(
    test_database_url: str, db: asyncpg.Connection, seal: signing.Seal
) -> None:
    writers, per_writer = 12, 20
    policy = CheckpointPolicy(entries=25, seconds=3600)
    databases = [Database(test_database_url, max_size=2) for _ in range(3)]
    chainers = []
    for database in databases:
        await database.start(wait=True)
        chainer = Chainer(database, seal, policy, poll_interval=0.05)
        chainer.start()
        chainers.append(chainer)

    async def writer(number: int) -> None:
        conn = await asyncpg.connect(test_database_url)
        try:
            for i in range(per_writer):
                async with conn.transaction():
                    await repo.audit(conn, "accepted", organ_id=f"W{number}", details={"i": i})
                    await asyncio.sleep(random.random() / 100)
                    await repo.audit(conn, "acknowledged", organ_id=f"W{number}", details={"i": i})
        finally:
            await conn.close()

    try:
        await asyncio.gather(*(writer(n) for n in range(writers)))
        total = writers * per_writer * 2
        await wait_for(
            lambda: db.fetchval(
                "SELECT count(*) = $1 FROM audit_events WHERE chain_seq IS NOT NULL", total
            )
        )
    finally:
        for chainer in chainers:
            await chainer.close()
        for database in databases:
            await database.close()

    seqs = [r["chain_seq"] for r in await db.fetch("SELECT chain_seq FROM audit_events ORDER BY 1")]
    assert seqs == list(range(1, total + 1))
    report = await audit.verify(db, seal.certificate)
    assert report.ok, report.summary()
    assert report.entries == total and report.checkpoints >= total // policy.entries


# -- proofs --------------------------------------------------------------------------------------


@pytest.fixture
async def proved(hub_config, client_for, db: asyncpg.Connection, world: World) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A letter sent and acknowledged through a running hub; the proof its sender downloads."""
    # Checkpoints only once an hour: the proof must seal one on the spot for the latest entries.
    cfg = dataclasses.replace(hub_config, audit_checkpoint_seconds=3600.0)
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    other = await world.register(db, "000.00.00.A01", "Bộ Ngoại giao")
    client = await client_for(cfg)
    sent = await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    assert sent.status == 202, await sent.text()
    document_id = (await sent.json())["document_id"]

    async def inbox() -> list[dict[str, Any]]:
        resp = await client.get("/v1/inbox", params={"wait": "5"}, headers=h41.auth)
        return list((await resp.json())["items"])

    item = (await wait_for(inbox))[0]
    # The checkpoint of the hour falls between the letter's acceptance and its acknowledgement.
    hub = client.server.app[HUB]
    async with hub.db.connection() as conn:
        await audit.catch_up(conn, hub.seal, POLICY)
    acked = await client.post(f"/v1/deliveries/{item['delivery_id']}/ack", headers=h41.auth)
    assert acked.status == 200

    async def arrived() -> list[dict[str, Any]]:
        resp = await client.get("/v1/inbox", params={"wait": "5"}, headers=g22.auth)
        return [i for i in (await resp.json())["items"] if i["status_code"] == "01"]

    # Status 01 is sealed after the acknowledgement; the proof is asked for once it is.
    await wait_for(arrived)
    resp = await client.get(f"/v1/documents/{document_id}/proof", headers=g22.auth)
    assert resp.status == 200, await resp.text()
    return {
        "client": client,
        "document_id": document_id,
        "proof": await resp.json(),
        "sender": g22,
        "recipient": h41,
        "other": other,
        "seal_cert": str(cfg.seal_dir / "seal.crt"),
    }


async def test_the_proof_holds_every_event_of_the_letter_up_to_a_checkpoint_sealed_on_demand(
    proved: dict[str, Any],
) -> None:
    proof = proved["proof"]
    assert [e["content"]["event"] for e in proof["entries"]] == [
        "accepted",
        "delivered",
        "acknowledged",
        "status",
    ]
    assert {e["content"]["document_id"] for e in proof["entries"]} == {proved["document_id"]}
    # The acknowledgement came after the first checkpoint: a second was sealed for the proof.
    assert len(proof["segments"]) == 2
    cert = signing.load_certificates(proved["seal_cert"])[0]
    result = audit_proof.check_proof(proof, cert)
    assert result.ok, result.message
    assert result.entries == 4


async def test_the_recipient_gets_the_proof_and_another_agency_gets_404(
    proved: dict[str, Any],
) -> None:
    client, document_id = proved["client"], proved["document_id"]
    resp = await client.get(f"/v1/documents/{document_id}/proof", headers=proved["recipient"].auth)
    assert resp.status == 200
    assert (await resp.json())["entries"] == proved["proof"]["entries"]
    resp = await client.get(f"/v1/documents/{document_id}/proof", headers=proved["other"].auth)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get(f"/v1/documents/{uuid.uuid4()}/proof", headers=proved["sender"].auth)
    assert resp.status == 404


async def test_axis_audit_check_proof_accepts_the_proof_offline_and_refuses_it_tampered(
    proved: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proved["proof"], ensure_ascii=False), encoding="utf-8")
    # No database: the variable points nowhere.
    env = {"AXIS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    code, out, err = await axis(
        "audit", "check-proof", str(path), "--seal-cert", proved["seal_cert"], env=env
    )
    assert code == 0, err
    assert json.loads(out)["ok"] is True

    proof = proved["proof"]
    first = proof["entries"][0]
    tampered = copy.deepcopy(proof)
    tampered["entries"][0]["content"]["details"]["recipients"] = ["000.00.00.A01"]
    path.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
    code, _, err = await axis(
        "audit", "check-proof", str(path), "--seal-cert", proved["seal_cert"], env=env
    )
    assert code == 1
    assert (
        f"entry {first['content']['id']} (chain {first['chain_seq']}, event accepted) was altered"
        in err
    )


async def test_a_proof_checks_offline_without_asyncpg_aiohttp_or_the_hub_loaded(
    proved: dict[str, Any], tmp_path: Path
) -> None:
    """What an agency runs on its own machine: axis.core.audit_proof checks the proof, and
    neither the database driver, the web stack nor the hub is imported to do it."""
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proved["proof"], ensure_ascii=False), encoding="utf-8")
    script = (
        "import json, sys\n"
        "import signing\n"
        "from axis.core import audit_proof\n"
        "doc = json.loads(open(sys.argv[1], encoding='utf-8').read())\n"
        "cert = signing.load_certificates(sys.argv[2])[0]\n"
        "result = audit_proof.check_proof(doc, cert)\n"
        "loaded = sorted(m for m in ('asyncpg', 'aiohttp', 'aio_pika', 'storage.db', 'axis.hub',"
        " 'axis.core.audit') if m in sys.modules)\n"
        "print(json.dumps({'ok': result.ok, 'message': result.message, 'loaded': loaded}))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        str(path),
        proved["seal_cert"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    answer = json.loads(out)
    assert answer["ok"] is True, answer["message"]
    assert answer["loaded"] == []


def _tamperings(proof: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(len(proof["entries"])):
        for field, value in (
            ("event", "refused"),
            ("at", "2020-01-01T00:00:00+00:00"),
            ("organ_id", "000.00.00.A01"),
            ("details", {"forged": True}),
        ):
            changed = copy.deepcopy(proof)
            changed["entries"][i]["content"][field] = value
            out.append((f"entry {i} {field}", changed))
        for field in ("hash", "prev_hash", "content_hash"):
            changed = copy.deepcopy(proof)
            changed["entries"][i][field] = "f" * 64
            out.append((f"entry {i} {field}", changed))
        dropped = copy.deepcopy(proof)
        del dropped["entries"][i]["content"]["delivery_id"]
        out.append((f"entry {i} without delivery_id", dropped))
    for s, segment in enumerate(proof["segments"]):
        for j in range(len(segment["links"])):
            changed = copy.deepcopy(proof)
            changed["segments"][s]["links"][j]["content_hash"] = "e" * 64
            out.append((f"segment {s} link {j}", changed))
        changed = copy.deepcopy(proof)
        del changed["segments"][s]["links"][0]
        out.append((f"segment {s} first link dropped", changed))
        changed = copy.deepcopy(proof)
        changed["segments"][s]["checkpoint"]["payload"]["chain_seq"] += 1
        out.append((f"segment {s} checkpoint", changed))
    return out


async def test_tampering_with_any_part_of_the_proof_makes_it_fail(
    proved: dict[str, Any], tmp_path: Path
) -> None:
    cert = signing.load_certificates(proved["seal_cert"])[0]
    for label, changed in _tamperings(proved["proof"]):
        result = audit_proof.check_proof(changed, cert)
        assert not result.ok, label
    impostor = signing.Seal.generate(tmp_path / "impostor", "Không phải trục")
    result = audit_proof.check_proof(proved["proof"], impostor.certificate)
    assert not result.ok and "another certificate" in result.message


# -- what each party's proof shows ---------------------------------------------------------------


@pytest.fixture
async def two_recipients(
    hub_config, client_for, db: asyncpg.Connection, world: World
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A letter from G22 to H41 and H29: both take it, H29 also reports 03 (accepted)."""
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    h29 = await world.register(db, "000.00.00.H29", "UBND Thành phố Hồ Chí Minh")
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41, h29])
    sent = await client.post("/v1/documents", data=letter, headers=g22.auth)
    assert sent.status == 202, await sent.text()
    document_id = (await sent.json())["document_id"]
    for recipient in (h41, h29):

        async def inbox(recipient: Any = recipient) -> list[dict[str, Any]]:
            resp = await client.get("/v1/inbox", params={"wait": "5"}, headers=recipient.auth)
            return [i for i in (await resp.json())["items"] if i["document_id"] == document_id]

        item = (await wait_for(inbox))[0]
        acked = await client.post(
            f"/v1/deliveries/{item['delivery_id']}/ack", headers=recipient.auth
        )
        assert acked.status == 200
    status = await client.post(
        f"/v1/documents/{document_id}/status",
        data=world.status(h29, letter, "03"),
        headers=h29.auth,
    )
    assert status.status == 202, await status.text()
    proofs = {}
    for agency in (g22, h41, h29):
        resp = await client.get(f"/v1/documents/{document_id}/proof", headers=agency.auth)
        assert resp.status == 200, await resp.text()
        proofs[agency.organ_id] = await resp.json()
    return {
        "document_id": document_id,
        "proofs": proofs,
        "seal_cert": str(hub_config.seal_dir / "seal.crt"),
    }


def _shown(proof: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [
        (e["content"]["event"], e["content"]["organ_id"])
        for e in proof["entries"]
        if "content" in e
    ]


async def test_the_sender_sees_every_recipients_entries_in_its_proof(
    two_recipients: dict[str, Any],
) -> None:
    proof = two_recipients["proofs"]["000.00.00.G22"]
    assert proof["view"] == {"role": "sender", "organ_id": "000.00.00.G22"}
    assert not any(e.get("redacted") for e in proof["entries"])
    shown = _shown(proof)
    for organ in ("000.00.00.H41", "000.00.00.H29"):
        assert ("delivered", organ) in shown and ("acknowledged", organ) in shown
    assert ("status", "000.00.00.H29") in shown
    result = audit_proof.check_proof(
        proof, signing.load_certificates(two_recipients["seal_cert"])[0]
    )
    assert result.ok, result.message
    assert result.redacted == 0 and result.entries == len(proof["entries"])


async def test_a_recipient_sees_its_own_delivery_and_the_acceptance_and_others_only_as_hashes(
    two_recipients: dict[str, Any],
) -> None:
    full = two_recipients["proofs"]["000.00.00.G22"]
    mine = two_recipients["proofs"]["000.00.00.H41"]
    assert mine["view"] == {"role": "recipient", "organ_id": "000.00.00.H41"}
    shown = _shown(mine)
    assert shown[0] == ("accepted", "000.00.00.G22")
    assert {organ for _, organ in shown} == {"000.00.00.G22", "000.00.00.H41"}
    assert ("delivered", "000.00.00.H41") in shown and ("acknowledged", "000.00.00.H41") in shown
    # H29's delivery, acknowledgement and status are there, in place, as their hashes only.
    hidden = [e for e in mine["entries"] if e.get("redacted")]
    assert len(hidden) >= 3
    assert all(
        set(e) == {"chain_seq", "prev_hash", "content_hash", "hash", "redacted"} for e in hidden
    )
    by_seq = {e["chain_seq"]: e for e in full["entries"]}
    assert [e["chain_seq"] for e in mine["entries"]] == [e["chain_seq"] for e in full["entries"]]
    for entry in hidden:
        assert by_seq[entry["chain_seq"]]["content"]["organ_id"] == "000.00.00.H29"
        assert entry["hash"] == by_seq[entry["chain_seq"]]["hash"]
    # Nothing of H29's entries leaks: its delivery id and its status appear nowhere in H41's view.
    h29_delivery = next(
        e["content"]["delivery_id"]
        for e in full["entries"]
        if e["content"]["organ_id"] == "000.00.00.H29" and e["content"]["delivery_id"]
    )
    assert h29_delivery not in json.dumps(mine["entries"])
    assert '"status_code": "03"' in json.dumps(full["entries"])
    assert '"status_code": "03"' not in json.dumps(mine["entries"])
    # The same sealed checkpoints as the sender's: the redacted proof checks against them.
    assert mine["segments"] == full["segments"]
    result = audit_proof.check_proof(
        mine, signing.load_certificates(two_recipients["seal_cert"])[0]
    )
    assert result.ok, result.message
    assert result.redacted == len(hidden) and result.entries == len(shown)
    assert f"{len(hidden)} entries about other recipients" in result.message
    # H29 sees the mirror image: its own entries, H41's as hashes.
    theirs = two_recipients["proofs"]["000.00.00.H29"]
    assert {organ for _, organ in _shown(theirs)} == {"000.00.00.G22", "000.00.00.H29"}
    assert audit_proof.check_proof(
        theirs, signing.load_certificates(two_recipients["seal_cert"])[0]
    ).ok


async def test_axis_audit_check_proof_passes_a_redacted_proof_and_fails_when_a_hidden_hash_changes(
    two_recipients: dict[str, Any], tmp_path: Path
) -> None:
    mine = two_recipients["proofs"]["000.00.00.H41"]
    path = tmp_path / "proof.json"
    env = {"AXIS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}  # offline: no database
    cert = two_recipients["seal_cert"]
    path.write_text(json.dumps(mine, ensure_ascii=False), encoding="utf-8")
    code, out, err = await axis("audit", "check-proof", str(path), "--seal-cert", cert, env=env)
    assert code == 0, err
    assert json.loads(out)["ok"] is True and json.loads(out)["redacted"] >= 3

    hidden = next(i for i, e in enumerate(mine["entries"]) if e.get("redacted"))
    seq = mine["entries"][hidden]["chain_seq"]
    for field in ("content_hash", "hash", "prev_hash"):
        tampered = copy.deepcopy(mine)
        tampered["entries"][hidden][field] = "a" * 64
        path.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
        code, _, err = await axis("audit", "check-proof", str(path), "--seal-cert", cert, env=env)
        assert code == 1, field
        assert f"redacted entry (chain {seq})" in err, err
    # Recomputing the entry's hash from a forged content hash does not help: the chain breaks.
    tampered = copy.deepcopy(mine)
    entry = tampered["entries"][hidden]
    entry["content_hash"] = "b" * 64
    entry["hash"] = audit_proof.link_hash(entry["prev_hash"], entry["content_hash"])
    result = audit_proof.check_proof(tampered, signing.load_certificates(cert)[0])
    assert not result.ok and "differs from the chain the checkpoint seals" in result.message
    # Content slipped into a redacted entry, or a proof of nothing but hashes, is refused too.
    tampered = copy.deepcopy(mine)
    tampered["entries"][hidden]["content"] = {"event": "forged"}
    assert not audit_proof.check_proof(tampered, signing.load_certificates(cert)[0]).ok
    tampered = copy.deepcopy(mine)
    tampered["entries"] = [e for e in tampered["entries"] if e.get("redacted")]
    result = audit_proof.check_proof(tampered, signing.load_certificates(cert)[0])
    assert not result.ok and "no entry with its content" in result.message
