"""Written consultations through the API: drafting and opening (the sealed form), who sees what,
signed ballots with receipts and versions, every refusal with nothing stored, many members at once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from meetings import tally
from signing.keys import load_certificates
from signing.seal import canonical_json, verify_sealed_json
from tests.meetings.conftest import Cabinet
from tests.meetings.consulting import MINISTRY, Government, draft_body, government, opened
from tests.support.world import World


@pytest.fixture
async def gov(cabinet: Cabinet, world: World) -> Government:
    await world.register(cabinet.db, MINISTRY, "Bộ Tài chính")
    return await government(cabinet, world.ca)


def _seal(cabinet: Cabinet) -> Any:
    return load_certificates(cabinet.config.seal_dir / "seal.crt")[0]


async def _counts(cabinet: Cabinet) -> tuple[int, int, int]:
    return (
        await cabinet.db.fetchval("SELECT count(*) FROM consultations"),
        await cabinet.db.fetchval("SELECT count(*) FROM consultation_ballots"),
        await cabinet.db.fetchval("SELECT count(*) FROM consultation_papers"),
    )


async def test_the_secretariat_drafts_and_opens_a_consultation_with_a_sealed_form(
    gov: Government,
) -> None:
    cabinet, ids = gov.cabinet, gov.cabinet.ids
    paper = b"%PDF-1.7 du thao nghi dinh" * 500
    stored = await cabinet.call("POST", "/v1/cabinet/files", "thuky", 201, data=paper)
    body = draft_body(
        papers=[{"title": "Dự thảo Nghị định", "file_sha256": stored["sha256"], "name": "du-thao.pdf",
                 "content_type": "application/pdf"}]
    )  # fmt: skip
    draft = await cabinet.call("POST", "/v1/consultations", "thuky", 201, json=body)
    assert draft["state"] == "draft" and draft["form"] is None and draft["rules_version"] is None
    cid = draft["id"]
    # A draft is the secretariat's: members do not see it, nor create one.
    await cabinet.call("GET", f"/v1/consultations/{cid}", "botruong1", 404)
    await cabinet.call("POST", "/v1/consultations", "botruong1", 403, json=draft_body())

    opened_ = await cabinet.call("POST", f"/v1/consultations/{cid}/open", "thuky", 200)
    assert opened_["state"] == "open" and opened_["rules_version"] == 1
    voting = sorted(ids[x] for x in ("thutuong", "botruong1", "botruong2", "botruong3"))
    assert sorted(opened_["asked"]) == voting and opened_["base"] == 4
    assert opened_["chair"] == ids["thutuong"]
    form = verify_sealed_json(opened_["form"], _seal(cabinet))
    assert form["type"] == "axis.cabinet.form" and form["consultation_id"] == cid
    assert [q["number"] for q in form["questions"]] == [1, 2]
    assert form["papers"] == [{"paper_id": opened_["papers"][0]["id"], "sha256": stored["sha256"]}]
    assert sorted(form["asked"]) == voting and form["rules_version"] == 1
    assert opened_["form_sha256"] == hashlib.sha256(canonical_json(form)).hexdigest()
    # What is asked never changes once open.
    await cabinet.call("POST", f"/v1/consultations/{cid}/open", "thuky", 409)

    seen = await cabinet.call("GET", f"/v1/consultations/{cid}", "botruong2", 200)
    assert seen["form_sha256"] == opened_["form_sha256"] and seen["my_ballot"] is None
    assert seen["answered"] is None and seen["not_answered"] is None  # who answered: S only
    assert (await cabinet.call("GET", f"/v1/consultations/{cid}", "thuky", 200))["not_answered"]
    listed = await cabinet.call("GET", "/v1/consultations", "botruong2", 200)
    assert [c["id"] for c in listed["consultations"]] == [cid]
    # Neither the deputy nor a member who does not vote is asked.
    await cabinet.call("GET", f"/v1/consultations/{cid}", "thutruong", 404)
    await cabinet.call("GET", f"/v1/consultations/{cid}", "khongbieuquyet", 404)
    got = await cabinet.call(
        "GET", f"/v1/consultations/{cid}/papers/{opened_['papers'][0]['id']}", "botruong3", 200
    )
    assert got.encode() == paper

    told = await cabinet.call("GET", "/v1/cabinet/notifications", "botruong1", 200)
    assert [(n["kind"], n["consultation_id"]) for n in told["items"]] == [
        ("consultation_opened", cid)
    ]
    assert await cabinet.db.fetchval(
        "SELECT count(*) FROM cabinet_outbox o JOIN cabinet_notifications n ON n.id = o.notification_id WHERE n.kind = 'consultation_opened'"
    ) in (0, 4)  # four copies for the gateway (the relay may have sent them already)


BAD_DRAFTS: list[tuple[dict[str, Any], int, str]] = [
    ({"title": ""}, 400, "title"),
    ({"title": "Tiêu đề\x07chuông"}, 400, "title"),
    ({"summary": None}, 400, "summary"),
    ({"questions": []}, 400, "questions"),
    ({"questions": ["Câu 1", 7]}, 400, "questions[1]"),
    ({"deadline": "2020-01-01T00:00:00+07:00"}, 400, "deadline"),
    ({"deadline": "ngày mai"}, 400, "deadline"),
    ({"deadline": "2030-01-01T00:00:00"}, 400, "deadline"),
    ({"requested_by": "000.00.00.X99"}, 422, "requested_by"),
    ({"members": []}, 400, "members"),
    ({"members": ["not-an-id"]}, 400, "members[0]"),
    (
        {"papers": [{"title": "Tờ trình", "file_sha256": "ab" * 32}]},
        422,
        "papers[0].file_sha256",
    ),
    ({"papers": [{"title": "Tờ trình"}]}, 400, "papers[0].file_sha256"),
    ({"request_letter": "019a0000-0000-7000-8000-000000000000"}, 422, "request_letter"),
]


async def test_a_bad_draft_is_refused_naming_the_field_and_nothing_is_stored(
    gov: Government,
) -> None:
    for change, status, where in BAD_DRAFTS:
        answer = await gov.cabinet.call(
            "POST", "/v1/consultations", "thuky", status, json=draft_body(**change)
        )
        assert answer["error"]["where"] == where, (change, answer)
    assert await _counts(gov.cabinet) == (0, 0, 0)


async def test_members_named_must_be_voting_members(gov: Government) -> None:
    cabinet, ids = gov.cabinet, gov.cabinet.ids
    for login in ("thutruong", "khongbieuquyet", "thuky"):
        body = draft_body(members=[ids["botruong1"], ids[login]])
        answer = await cabinet.call("POST", "/v1/consultations", "thuky", 400, json=body)
        assert answer["error"]["where"] == "members[1]"
    body = draft_body(members=[ids["botruong1"], ids["botruong1"]])
    await cabinet.call("POST", "/v1/consultations", "thuky", 400, json=body)
    await cabinet.call("POST", "/v1/consultations", "thuky", 400, data=b"{not json")
    assert await _counts(cabinet) == (0, 0, 0)


async def test_a_signed_ballot_gets_a_sealed_receipt_and_the_same_ballot_again_the_first_answer(
    gov: Government,
) -> None:
    cabinet, ids = gov.cabinet, gov.cabinet.ids
    c = await opened(cabinet)
    payload = gov.payload(c, "thutuong", ["agree", "other"])
    ballot = gov.sign("thutuong", payload)  # RS256, the Prime Minister's RSA key
    assert ballot["alg"] == "RS256"
    first = await cabinet.call(
        "POST", f"/v1/consultations/{c['id']}/ballots", "thutuong", 201, json=ballot
    )
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    assert first["version"] == 1 and first["ballot_sha256"] == digest
    # The receipt: its payload, under the axis's seal over its batch's Merkle root, checks offline.
    receipt = tally.check_receipt(first["receipt"], _seal(cabinet), ballot)
    assert receipt["type"] == "axis.cabinet.ballot_receipt" and receipt["version"] == 1
    assert receipt["member"] == ids["thutuong"] and receipt["ballot_sha256"] == digest
    again = await cabinet.call(
        "POST", f"/v1/consultations/{c['id']}/ballots", "thutuong", 200, json=ballot
    )
    assert again == first
    # A changed answer is a new version; the last counts.
    second = await gov.vote(c, "thutuong", ["agree", "agree"])
    assert second["version"] == 2
    es = await gov.vote(c, "botruong1", ["disagree", "agree"])  # ES256
    assert es["version"] == 1

    mine = await cabinet.call("GET", f"/v1/consultations/{c['id']}/ballots", "thutuong", 200)
    assert [(b["version"], b["counts"]) for b in mine["ballots"]] == [(1, False), (2, True)]
    assert mine["ballots"][0]["ballot"] == ballot  # as signed
    everyone = await cabinet.call("GET", f"/v1/consultations/{c['id']}/ballots", "thuky", 200)
    assert sorted((b["member"], b["version"]) for b in everyone["ballots"]) == sorted(
        [(ids["thutuong"], 1), (ids["thutuong"], 2), (ids["botruong1"], 1)]
    )
    seen = await cabinet.call("GET", f"/v1/consultations/{c['id']}", "thutuong", 200)
    assert seen["my_ballot"]["version"] == 2 and seen["answered_count"] == 2
    s = await cabinet.call("GET", f"/v1/consultations/{c['id']}", "thuky", 200)
    assert sorted(s["answered"]) == sorted([ids["thutuong"], ids["botruong1"]])


async def test_every_bad_ballot_is_refused_with_its_code_and_nothing_is_stored(
    gov: Government, world: World
) -> None:
    cabinet, ids = gov.cabinet, gov.cabinet.ids
    c = await opened(cabinet, members=[ids["thutuong"], ids["botruong1"], ids["botruong2"]])
    other = await opened(cabinet)
    url = f"/v1/consultations/{c['id']}/ballots"

    async def refused(login: str, body: Any, status: int, code: str | None = None) -> Any:
        kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
        answer = await cabinet.call("POST", url, login, status, **kwargs)
        if code:
            assert answer["error"]["code"] == code, answer
        return answer["error"]

    good = gov.payload(c, "botruong1", ["agree", "agree"])
    await refused("botruong1", b"{oops", 400)
    await refused("botruong1", {"payload": "x"}, 400)
    await refused(
        "botruong3",
        gov.sign("botruong3", gov.payload(c, "botruong3", ["agree"] * 2)),
        403,
        "not_asked",
    )
    for login in ("thutruong", "thuky"):
        await refused(login, gov.sign("botruong1", good), 403, "not_voting")
    await refused(
        "khongbieuquyet",
        gov.sign("khongbieuquyet", gov.payload(c, "khongbieuquyet", ["agree"] * 2)),
        403,
        "not_voting",
    )
    # payload.member not the caller
    await refused("botruong2", gov.sign("botruong1", good), 403, "not_yours")
    # signed with another member's key: a certificate not theirs
    await refused(
        "botruong1",
        gov.sign("botruong1", good, as_login="botruong2"),
        403,
        "certificate_not_theirs",
    )
    # a certificate no trusted CA issued
    from signing.devca import DevCA

    rogue_ca = DevCA.init(world.trust_dir.parent / "rogue", "Rogue CA")
    rogue = rogue_ca.issue(
        "000.00.00.G22", "Văn phòng Chính phủ", person="Botruong1", key_type="ec"
    )
    gov.keys["rogue"] = rogue
    error = await refused(
        "botruong1", gov.sign("botruong1", good, as_login="rogue"), 403, "signature_invalid"
    )
    assert error["details"]["reason"]
    # altered after signing
    tampered = gov.sign("botruong1", good)
    tampered["payload"]["answers"][0]["choice"] = "disagree"
    tampered["payload"]["answers"][0]["comment"] = "sửa sau khi ký"
    error = await refused("botruong1", tampered, 403, "signature_invalid")
    assert error["details"]["reason"] == "seal_invalid"
    unsigned = {"payload": good}
    assert (await refused("botruong1", unsigned, 403, "signature_invalid"))["details"][
        "reason"
    ] == "signature_missing"
    # another consultation's form
    wrong = gov.payload(other, "botruong1", ["agree", "agree"])
    await refused("botruong1", gov.sign("botruong1", wrong), 409, "wrong_form")
    await refused(
        "botruong1", gov.sign("botruong1", {**good, "form_sha256": "0" * 64}), 409, "wrong_form"
    )
    # bad answers, each named
    bad_answers = [
        ([{"question": 1, "choice": "agree"}], "payload.answers"),
        (
            [{"question": 1, "choice": "agree"}, {"question": 3, "choice": "agree"}],
            "payload.answers[1].question",
        ),
        (
            [{"question": 1, "choice": "agree"}, {"question": 1, "choice": "agree"}],
            "payload.answers[1].question",
        ),
        (
            [{"question": 1, "choice": "maybe"}, {"question": 2, "choice": "agree"}],
            "payload.answers[0].choice",
        ),
        (
            [{"question": 1, "choice": "disagree"}, {"question": 2, "choice": "agree"}],
            "payload.answers[0].comment",
        ),
        (
            [
                {"question": 1, "choice": "other", "comment": "  "},
                {"question": 2, "choice": "agree"},
            ],
            "payload.answers[0].comment",
        ),
        (
            [{"question": True, "choice": "agree"}, {"question": 2, "choice": "agree"}],
            "payload.answers[0].question",
        ),
    ]
    for answers, where in bad_answers:
        error = await refused("botruong1", gov.sign("botruong1", {**good, "answers": answers}), 400)
        assert error["where"] == where, (answers, error)
    await refused("botruong1", gov.sign("botruong1", {**good, "extra": 1}), 400)
    await refused("botruong1", gov.sign("botruong1", {**good, "signed_at": "hôm qua"}), 400)
    assert await cabinet.db.fetchval("SELECT count(*) FROM consultation_ballots") == 0

    # Late: after the deadline nothing is taken.
    await gov.vote(c, "botruong1", ["agree", "agree"])
    await cabinet.db.execute(
        "UPDATE consultations SET deadline = now() - interval '1 second' WHERE id = $1",
        __import__("uuid").UUID(c["id"]),
    )
    error = await refused(
        "botruong2",
        gov.sign("botruong2", gov.payload(c, "botruong2", ["agree"] * 2)),
        409,
        "deadline_passed",
    )
    assert error["details"]["deadline"]
    assert await cabinet.db.fetchval("SELECT count(*) FROM consultation_ballots") == 1


async def test_with_ballot_changes_off_a_different_second_ballot_is_already_voted(
    gov: Government,
) -> None:
    cabinet = gov.cabinet
    await cabinet.call(
        "POST", "/v1/cabinet/rules", "thuky", 201, json={"rules": {"ballot_changes": False}}
    )
    c = await opened(cabinet)
    assert c["rules_version"] == 2
    first = await gov.vote(c, "botruong1", ["agree", "agree"])
    error = await gov.vote(c, "botruong1", ["agree", "disagree"], expect=409)
    assert error["error"]["code"] == "already_voted"
    count = await cabinet.db.fetchval("SELECT count(*) FROM consultation_ballots")
    assert count == 1 and first["version"] == 1


async def test_many_members_answering_at_once_lose_nothing_and_double_nothing(
    cabinet: Cabinet, world: World
) -> None:
    await world.register(cabinet.db, MINISTRY, "Bộ Tài chính")
    gov = await government(cabinet, world.ca, members=12)
    c = await opened(cabinet)
    logins = ["thutuong", *(f"botruong{n}" for n in range(1, 12))]
    ballots = {x: gov.sign(x, gov.payload(c, x, ["agree", "agree"])) for x in logins}
    changed = {x: gov.sign(x, gov.payload(c, x, ["agree", "other"])) for x in logins[:4]}
    url = f"/v1/consultations/{c['id']}/ballots"

    async def post(login: str, body: dict[str, Any]) -> int:
        answer = await cabinet.client.post(url, json=body, headers=cabinet.auth(login))
        return answer.status

    # every ballot twice at the same moment, and four members changing their answer meanwhile;
    # a ballot altered after signing and one without a session among them fail alone
    tampered = gov.sign("botruong1", gov.payload(c, "botruong1", ["agree", "agree"]))
    tampered["payload"]["answers"][1]["choice"] = "other"
    tampered["payload"]["answers"][1]["comment"] = "sửa sau khi ký"

    async def anonymous() -> int:
        headers = {"Authorization": "Bearer no-such-session"}
        answer = await cabinet.client.post(url, json=ballots["botruong2"], headers=headers)
        return answer.status

    statuses = await asyncio.gather(
        *(post(x, ballots[x]) for x in logins),
        post("botruong1", tampered),
        anonymous(),
        *(post(x, ballots[x]) for x in logins),
        *(post(x, changed[x]) for x in changed),
    )
    assert sorted(statuses).count(201) == len(logins) + len(changed)
    assert sorted(statuses).count(200) == len(logins)
    assert sorted(statuses).count(403) == 1 and sorted(statuses).count(401) == 1
    rows = await cabinet.db.fetch(
        "SELECT member, array_agg(version ORDER BY version) AS v FROM consultation_ballots GROUP BY member"
    )
    versions = {str(r["member"]): r["v"] for r in rows}
    assert len(versions) == len(logins)
    for x in logins:
        assert versions[cabinet.ids[x]] == ([1, 2] if x in changed else [1])
    assert await cabinet.db.fetchval(
        "SELECT count(*) FROM audit_events WHERE event = 'consultation_ballot'"
    ) == len(logins) + len(changed)


async def test_a_ballot_overtaken_by_the_deadline_while_it_is_written_is_late_and_not_stored(
    gov: Government,
) -> None:
    """The ballot is checked against an open consultation, then the deadline passes before its
    write gets the consultation (held here as a close holds it): 409, and nothing of it stored."""
    cabinet = gov.cabinet
    c = await opened(cabinet)
    holder = await asyncpg.connect(cabinet.config.database_url)
    try:
        async with holder.transaction():
            await holder.execute(
                "SELECT 1 FROM consultations WHERE id = $1 FOR UPDATE", uuid.UUID(c["id"])
            )
            vote = asyncio.create_task(gov.vote(c, "botruong1", ["agree", "agree"], expect=409))
            for _ in range(200):  # until the ballot's write waits for the consultation
                waiting = await holder.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
                if waiting or vote.done():
                    break
                await asyncio.sleep(0.05)
            assert not vote.done(), vote.result()
            await holder.execute(
                "UPDATE consultations SET deadline = now() WHERE id = $1", uuid.UUID(c["id"])
            )
        error = (await vote)["error"]
    finally:
        await holder.close()
    assert error["code"] == "deadline_passed"
    assert await cabinet.db.fetchval("SELECT count(*) FROM consultation_ballots") == 0
    assert (
        await cabinet.db.fetchval(
            "SELECT count(*) FROM audit_events WHERE event = 'consultation_ballot'"
        )
        == 0
    )


async def test_the_deadline_moves_only_later(gov: Government) -> None:
    cabinet = gov.cabinet
    c = await opened(cabinet)
    url = f"/v1/consultations/{c['id']}/deadline"
    earlier = (datetime.fromisoformat(c["deadline"]) - timedelta(hours=1)).isoformat()
    await cabinet.call("POST", url, "thuky", 400, json={"deadline": earlier})
    await cabinet.call("POST", url, "botruong1", 403, json={"deadline": earlier})
    later = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    moved = await cabinet.call("POST", url, "thuky", 200, json={"deadline": later})
    assert datetime.fromisoformat(moved["deadline"]) == datetime.fromisoformat(later)
    kinds = [
        n["kind"]
        for n in (await cabinet.call("GET", "/v1/cabinet/notifications", "botruong1", 200))["items"]
    ]
    assert kinds == ["consultation_opened", "deadline_changed"]
    assert json.loads(json.dumps(moved))["form_sha256"] == c["form_sha256"]


async def test_axis_cabinet_sign_ballot_makes_a_ballot_the_hub_takes(
    gov: Government, tmp_path: Any
) -> None:
    from tests.meetings.conftest import axis

    cabinet = gov.cabinet
    c = await opened(cabinet)
    payload = gov.payload(c, "botruong2", ["agree", "disagree"])
    del payload["signed_at"], payload["type"]  # the command fills them in
    source = tmp_path / "phieu.json"
    source.write_text(json.dumps(payload, ensure_ascii=False))
    issued = gov.keys["botruong2"]
    code, out, err = await axis(
        "cabinet", "sign-ballot", str(source), "--key", str(issued.key_path),
        "--cert", str(issued.cert_path), env={},
    )  # fmt: skip
    assert code == 0, err
    ballot = json.loads(out)
    assert ballot["alg"] == "ES256" and ballot["payload"]["type"] == "axis.cabinet.ballot"
    assert len(ballot["chain"]) == 1  # the issuing CA, from cert.pem
    made = await cabinet.call(
        "POST", f"/v1/consultations/{c['id']}/ballots", "botruong2", 201, json=ballot
    )
    assert made["version"] == 1
    # The answer's receipt checks offline, against the ballot as signed.
    (tmp_path / "answer.json").write_text(json.dumps(made))
    (tmp_path / "signed.json").write_text(json.dumps(ballot))
    seal_cert = str(cabinet.config.seal_dir / "seal.crt")
    code, out, err = await axis(
        "cabinet", "check-receipt", str(tmp_path / "answer.json"), "--seal-cert", seal_cert,
        "--ballot", str(tmp_path / "signed.json"), "--json", env={},
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["version"] == 1 and json.loads(out)["ballot_checked"] is True
    other = {**ballot, "payload": {**ballot["payload"], "signed_at": "2026-01-01T00:00:00+07:00"}}
    (tmp_path / "signed.json").write_text(json.dumps(other))
    code, out, err = await axis(
        "cabinet", "check-receipt", str(tmp_path / "answer.json"), "--seal-cert", seal_cert,
        "--ballot", str(tmp_path / "signed.json"), env={},
    )  # fmt: skip
    assert code == 1 and "another ballot" in err
    code, out, err = await axis(
        "cabinet", "sign-ballot", str(source), "--key", str(issued.key_path),
        "--cert", str(gov.keys["botruong1"].cert_path), env={},
    )  # fmt: skip
    assert code == 1 and "does not belong" in err


async def test_without_member_signatures_the_axis_seals_the_ballot_naming_the_session(
    gov: Government,
) -> None:
    cabinet = gov.cabinet
    await cabinet.call(
        "POST", "/v1/cabinet/rules", "thuky", 201,
        json={"rules": {"member_signature_required": False}},
    )  # fmt: skip
    c = await opened(cabinet)
    payload = gov.payload(c, "botruong1", ["agree", "agree"])
    url = f"/v1/consultations/{c['id']}/ballots"
    made = await cabinet.call("POST", url, "botruong1", 201, json={"payload": payload})
    again = await cabinet.call("POST", url, "botruong1", 200, json={"payload": payload})
    assert again == made
    mine = await cabinet.call("GET", url, "botruong1", 200)
    sealed = mine["ballots"][0]["ballot"]
    checked = verify_sealed_json(sealed, _seal(cabinet))
    token = cabinet.tokens["botruong1"]
    assert checked["session"] == hashlib.sha256(token.encode()).hexdigest()
    assert {k: v for k, v in checked.items() if k != "session"} == payload
    # a signed ballot is still checked as such
    bad = gov.sign("botruong1", payload, as_login="botruong2")
    answer = await cabinet.call("POST", url, "botruong1", 403, json=bad)
    assert answer["error"]["code"] == "certificate_not_theirs"
