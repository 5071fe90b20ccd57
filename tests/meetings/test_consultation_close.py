"""Closing a written consultation: early once everyone answered, by itself at the deadline, the
sealed tally recounted offline by `axis cabinet check-tally`, reminders, a later rule version
leaving earlier results alone, the result letter pulled by the ministry, the report and the proof."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import edoc
from axis.config import Config
from axis.core.audit_proof import check_proof
from meetings import tally
from signing.keys import load_certificates
from signing.trust import TrustStore
from tests.meetings.conftest import GOV_OFFICE, Cabinet, axis
from tests.meetings.consulting import MINISTRY, Government, government, opened
from tests.support.world import World, letter_package


@pytest.fixture
def hub_config(hub_config: Config, world: World, db: Any) -> Config:
    """The Government Office signs result letters with its agency's key."""
    issued = world.agencies[GOV_OFFICE].issued
    assert issued is not None
    return dataclasses.replace(hub_config, cabinet_signer_dir=str(issued.key_path.parent))


@pytest.fixture
async def gov(cabinet: Cabinet, world: World) -> Government:
    await world.register(cabinet.db, MINISTRY, "Bộ Tài chính")
    return await government(cabinet, world.ca, members=4)


def _seal(cabinet: Cabinet) -> Any:
    return load_certificates(cabinet.config.seal_dir / "seal.crt")[0]


async def _until(check: Any, what: str, seconds: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"waited {seconds}s for {what}")
        await asyncio.sleep(0.2)


async def test_a_tie_the_prime_minister_decides_closed_early_and_recounted_offline(
    gov: Government, tmp_path: Path, world: World
) -> None:
    cabinet, ids = gov.cabinet, gov.cabinet.ids
    c = await opened(cabinet)
    cid = c["id"]
    url = f"/v1/consultations/{cid}"
    await gov.vote(c, "thutuong", ["agree", "agree"])
    await gov.vote(c, "botruong1", ["agree", "disagree"])
    await gov.vote(c, "botruong2", ["disagree", "disagree"])
    # not everyone answered: no early close, and members see no tally yet
    error = await cabinet.call("POST", f"{url}/close", "thuky", 409)
    assert error["error"]["code"] == "not_all_answered"
    assert error["error"]["details"]["not_answered"] == [ids["botruong3"]]
    await cabinet.call("GET", f"{url}/tally", "botruong1", 409)
    so_far = await cabinet.call("GET", f"{url}/tally", "thuky", 200)
    assert so_far["questions"][0]["agree"] == 2 and so_far["closed_at"] is None
    # botruong3 first agrees, then changes: the last counts
    await gov.vote(c, "botruong3", ["agree", "agree"])
    await gov.vote(c, "botruong3", ["disagree", "agree"])
    await cabinet.call("POST", f"{url}/close", "botruong1", 403)
    closed = await cabinet.call("POST", f"{url}/close", "thuky", 200)
    assert closed["state"] == "closed" and closed["closed_by"] == "secretariat"

    sealed = await cabinet.call("GET", f"{url}/tally", "botruong2", 200)
    payload = sealed["payload"]
    assert payload["base"] == 4 and payload["chair"] == ids["thutuong"]
    q1, q2 = payload["questions"]
    # question 1: 2 agree, 2 disagree of 4 (3 needed): the Prime Minister agreed, so it passes
    assert (q1["agree"], q1["disagree"], q1["required"]) == (2, 2, 3)
    assert (q1["outcome"], q1["decided_by"], q1["chair_choice"]) == ("passed", "tie_break", "agree")
    # question 2: 2 agree, 2 disagree: tie again, the Prime Minister agreed
    assert (q2["agree"], q2["disagree"], q2["outcome"]) == (2, 2, "passed")
    assert len(payload["ballots"]) == 4
    latest = next(b for b in payload["ballots"] if b["payload"]["member"] == ids["botruong3"])
    assert latest["payload"]["answers"][0]["choice"] == "disagree"
    # nothing more is taken
    late = await gov.vote(c, "botruong1", ["agree", "agree"], expect=409)
    assert late["error"]["code"] == "deadline_passed"

    # recounted offline by the command, with the seal certificate and the members' CA
    path = tmp_path / "tally.json"
    path.write_text(json.dumps(sealed, ensure_ascii=False))
    seal_cert = cabinet.config.seal_dir / "seal.crt"
    code, out, err = await axis(
        "cabinet", "check-tally", str(path), "--seal-cert", str(seal_cert),
        "--trust", str(world.trust_dir), "--json", env={},
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["questions"][0] == {
        "number": 1,
        "outcome": "passed",
        "decided_by": "tie_break",
    }
    forged = json.loads(json.dumps(sealed))
    forged["payload"]["questions"][0]["outcome"] = "not_passed"
    path.write_text(json.dumps(forged))
    code, out, err = await axis(
        "cabinet", "check-tally", str(path), "--seal-cert", str(seal_cert), "--trust", str(world.trust_dir), env={}
    )  # fmt: skip
    assert code == 1 and "seal" in err

    report = await cabinet.call("GET", f"{url}/report", "botruong3", 200)
    assert "Thông qua" in report and "Passed" in report and "Thủ tướng" in report
    kinds = [
        n["kind"]
        for n in (await cabinet.call("GET", "/v1/cabinet/notifications", "botruong2", 200))["items"]
    ]
    assert kinds == ["consultation_opened", "result_ready"]


async def test_at_the_deadline_it_closes_by_itself_and_silence_is_no_reply(gov: Government) -> None:
    cabinet, ids = gov.cabinet, gov.cabinet.ids
    deadline = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
    c = await opened(
        cabinet, deadline=deadline, members=[ids["thutuong"], ids["botruong1"], ids["botruong2"]]
    )
    await gov.vote(c, "thutuong", ["agree", "agree"])
    await gov.vote(c, "botruong1", ["agree", "other"])

    async def closed() -> Any:
        found = await cabinet.call("GET", f"/v1/consultations/{c['id']}", "thuky", 200)
        return found if found["state"] == "closed" else None

    found = await _until(closed, "the close at the deadline")
    assert found["closed_by"] == "deadline"
    took = datetime.fromisoformat(found["closed_at"]) - datetime.fromisoformat(deadline)
    assert timedelta(0) <= took < timedelta(seconds=10)
    payload = (await cabinet.call("GET", f"/v1/consultations/{c['id']}/tally", "botruong2", 200))[
        "payload"
    ]
    # base: all four voting members; botruong2 was silent
    q1, q2 = payload["questions"]
    assert (q1["agree"], q1["no_reply"], q1["required"], q1["outcome"]) == (2, 1, 3, "not_passed")
    assert (q2["agree"], q2["other"], q2["outcome"]) == (1, 1, "not_passed")
    assert [c_["member"] for c_ in q2["comments"]] == [ids["botruong1"]]


async def test_a_reminder_reaches_only_those_who_have_not_answered(gov: Government) -> None:
    cabinet, ids = gov.cabinet, gov.cabinet.ids
    await cabinet.call(
        "POST", "/v1/cabinet/rules", "thuky", 201, json={"rules": {"reminders": ["PT5S", "P1D"]}}
    )
    deadline = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
    c = await opened(cabinet, deadline=deadline, members=[ids["botruong1"], ids["botruong2"]])
    await gov.vote(c, "botruong1", ["agree", "agree"])

    async def reminded() -> Any:
        items = (await cabinet.call("GET", "/v1/cabinet/notifications", "botruong2", 200))["items"]
        return [n for n in items if n["kind"] == "reminder"]

    found = await _until(reminded, "the reminder")
    assert found[0]["consultation_id"] == c["id"] and found[0]["details"]["before"] == "PT5S"
    mine = (await cabinet.call("GET", "/v1/cabinet/notifications", "botruong1", 200))["items"]
    assert "reminder" not in [n["kind"] for n in mine]
    # P1D was already past at opening: not sent
    assert await cabinet.db.fetchval("SELECT count(*) FROM consultation_reminders") == 1


async def test_a_later_rule_version_leaves_earlier_results_alone(gov: Government) -> None:
    cabinet = gov.cabinet
    ids = cabinet.ids
    asked = [ids["thutuong"], ids["botruong1"], ids["botruong2"]]
    first = await opened(cabinet, members=asked)
    await gov.vote(first, "thutuong", ["agree", "agree"])
    await gov.vote(first, "botruong1", ["agree", "agree"])
    await gov.vote(first, "botruong2", ["disagree", "disagree"])
    await cabinet.call("POST", f"/v1/consultations/{first['id']}/close", "thuky", 200)
    before = await cabinet.call("GET", f"/v1/consultations/{first['id']}/tally", "thuky", 200)
    assert before["payload"]["questions"][0]["outcome"] == "not_passed"  # 2 of 4 members

    await cabinet.call(
        "POST", "/v1/cabinet/rules", "thuky", 201, json={"rules": {"majority_of": "asked"}}
    )
    second = await opened(cabinet, members=asked)
    assert second["rules_version"] == 2 and second["base"] == 3
    for login, choice in (("thutuong", "agree"), ("botruong1", "agree"), ("botruong2", "disagree")):
        await gov.vote(second, login, [choice, choice])
    await cabinet.call("POST", f"/v1/consultations/{second['id']}/close", "thuky", 200)
    after = await cabinet.call("GET", f"/v1/consultations/{second['id']}/tally", "thuky", 200)
    assert after["payload"]["questions"][0]["outcome"] == "passed"  # 2 of 3 asked
    again = await cabinet.call("GET", f"/v1/consultations/{first['id']}/tally", "thuky", 200)
    assert again == before and again["payload"]["rules_version"] == 1


async def test_the_result_letter_reaches_the_ministry_signed_and_the_proof_checks(
    gov: Government, world: World
) -> None:
    cabinet, ids = gov.cabinet, gov.cabinet.ids
    ministry = world.agencies[MINISTRY]
    # The ministry's request letter to the Government Office.
    request = world.signed(
        ministry,
        letter_package(MINISTRY, [GOV_OFFICE], sender_name="Bộ Tài chính",
                       subject="Đề nghị lấy ý kiến thành viên Chính phủ"),
    )  # fmt: skip
    sent = await cabinet.client.post(
        "/v1/documents", data=request, headers={**ministry.auth, "Content-Type": "application/xml"}
    )
    assert sent.status in (200, 201, 202), await sent.text()
    letter_id = (await sent.json())["document_id"]
    c = await opened(cabinet, request_letter=letter_id, members=[ids["thutuong"], ids["botruong1"]])
    await cabinet.call("POST", f"/v1/consultations/{c['id']}/result", "thuky", 409)  # still open
    await gov.vote(c, "thutuong", ["agree", "agree"])
    await gov.vote(c, "botruong1", ["agree", "disagree"])
    await cabinet.call("POST", f"/v1/consultations/{c['id']}/close", "thuky", 200)

    await cabinet.call("POST", f"/v1/consultations/{c['id']}/result", "botruong1", 403)
    accepted = await cabinet.call(
        "POST", f"/v1/consultations/{c['id']}/result", "thuky", 202, json={"to": None}
    )
    assert [d["recipient"] for d in accepted["deliveries"]] == [MINISTRY]
    again = await cabinet.call("POST", f"/v1/consultations/{c['id']}/result", "thuky", 202)
    assert again == accepted

    # The ministry pulls it from its inbox, like any letter.
    inbox = await cabinet.client.get("/v1/inbox?wait=20", headers=ministry.auth)
    items = (await inbox.json())["items"]
    assert [i["document_id"] for i in items] == [accepted["document_id"]]
    got = await cabinet.client.get(
        f"/v1/documents/{accepted['document_id']}", headers=ministry.auth
    )
    package = edoc.parse(await got.read())
    header = package.header
    assert isinstance(header, edoc.MessageHeader)
    assert header.from_.organ_id == GOV_OFFICE
    assert header.subject == f"Kết quả lấy ý kiến thành viên Chính phủ: {c['title']}"
    assert header.response_for[0].organ_id == MINISTRY
    names = {a.name: a for a in package.attachments}
    assert set(names) == {"report.html", "tally.json"}
    sealed = json.loads(names["tally.json"].data or b"")
    payload = tally.check(sealed, _seal(cabinet), TrustStore.from_directory(world.trust_dir))
    assert payload["consultation_id"] == c["id"]

    proof = await cabinet.call("GET", f"/v1/consultations/{c['id']}/proof", "thuky", 200)
    checked = check_proof(proof, _seal(cabinet))
    assert checked.ok, checked.message
    events = [e["content"]["event"] for e in proof["entries"]]
    for event in ("consultation_created", "consultation_opened", "consultation_ballot",
                  "consultation_closed", "consultation_tally", "consultation_result_sent"):  # fmt: skip
        assert event in events
    sent_entry = next(
        e for e in proof["entries"] if e["content"]["event"] == "consultation_result_sent"
    )
    assert sent_entry["content"]["details"]["document_id"] == accepted["document_id"]
    # a member's proof holds the other member's ballot as a hash only
    theirs = await cabinet.call("GET", f"/v1/consultations/{c['id']}/proof", "botruong1", 200)
    assert check_proof(theirs, _seal(cabinet)).ok
    visible = [e["content"]["details"].get("member") for e in theirs["entries"] if "content" in e]
    assert ids["thutuong"] not in visible and ids["botruong1"] in visible
    assert uuid.UUID(accepted["document_id"])
