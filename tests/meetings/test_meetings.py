"""A meeting run through the API: papers for some members only, sealed manifests, reads, a new
version and who is told, quorum, a stand-in, late sending, take-back and closing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from signing.seal import verify_sealed_json
from tests.meetings.conftest import Cabinet


async def _upload(cabinet: Cabinet, data: bytes) -> str:
    stored = await cabinet.call("POST", "/v1/cabinet/files", "thuky", 201, data=data)
    return str(stored["sha256"])


async def _meeting(cabinet: Cabinet, days_ahead: float = 10) -> dict[str, Any]:
    await cabinet.person("thuky", "secretariat")
    await cabinet.person("thutuong", "member", chair=True, title="Thủ tướng")
    await cabinet.person("botaichinh", "member", title="Bộ trưởng Bộ Tài chính")
    await cabinet.person("boquocphong", "member", title="Bộ trưởng Bộ Quốc phòng")
    await cabinet.person("thutruong", "deputy", title="Thứ trưởng Bộ Tài chính")
    starts = (datetime.now(UTC) + timedelta(days=days_ahead)).isoformat()
    ids = cabinet.ids
    return dict(
        await cabinet.call(
            "POST", "/v1/meetings", "thuky", 201,
            json={"title": "Phiên họp Chính phủ thường kỳ tháng 5", "kind": "regular",
                  "starts_at": starts, "place": "Nhà Quốc hội",
                  "invitees": [ids["thutuong"], ids["botaichinh"], ids["boquocphong"]]},
        )
    )  # fmt: skip


def _seal_cert(cabinet: Cabinet) -> Any:
    from signing.keys import load_certificates

    return load_certificates(cabinet.config.seal_dir / "seal.crt")[0]


async def test_a_member_sees_only_the_sent_packet_and_only_papers_meant_for_them(
    cabinet: Cabinet,
) -> None:
    meeting = await _meeting(cabinet)
    mid, ids = meeting["id"], cabinet.ids
    assert meeting["state"] == "draft" and meeting["rules_version"] == 1
    # A draft is not there for members.
    await cabinet.call("GET", f"/v1/meetings/{mid}", "botaichinh", 404)
    item = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items", "thuky", 201,
        json={"title": "Dự thảo Nghị định về ngân sách", "presenter": "Bộ Tài chính"},
    )  # fmt: skip
    public = b"%PDF-1.7 to trinh chung" * 1000
    secret = b"%PDF-1.7 mat, chi Bo Tai chinh" * 1000
    everyone = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items/{item['id']}/papers", "thuky", 201,
        json={"title": "Tờ trình", "file_sha256": await _upload(cabinet, public),
              "name": "to-trinh.pdf", "content_type": "application/pdf", "audience": None},
    )  # fmt: skip
    limited = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items/{item['id']}/papers", "thuky", 201,
        json={"title": "Phụ lục mật", "file_sha256": await _upload(cabinet, secret),
              "name": "phu-luc.pdf", "content_type": "application/pdf", "confidential": True,
              "audience": [ids["botaichinh"]]},
    )  # fmt: skip
    assert everyone["version"] == 1 and limited["audience"] == [ids["botaichinh"]]

    sent = await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    assert sent["packet_version"] == 1
    assert {c["paper_id"] for c in sent["changes"]} == {everyone["id"], limited["id"]}
    assert sorted(sent["notified"]) == sorted(
        [ids["thutuong"], ids["botaichinh"], ids["boquocphong"]]
    )

    seen = await cabinet.call("GET", f"/v1/meetings/{mid}", "boquocphong", 200)
    assert [p["id"] for p in seen["items"][0]["papers"]] == [everyone["id"]]
    await cabinet.call("GET", f"/v1/meetings/{mid}/papers/{limited['id']}", "boquocphong", 404)
    body = await cabinet.call(
        "GET", f"/v1/meetings/{mid}/papers/{limited['id']}", "botaichinh", 200
    )
    assert body.encode() == secret

    # The sealed manifest lists only what the person may see, and verifies against the seal.
    sealed = await cabinet.call("GET", f"/v1/meetings/{mid}/packet", "boquocphong", 200)
    payload = verify_sealed_json(sealed, _seal_cert(cabinet))
    assert payload["type"] == "axis.cabinet.packet" and payload["for"] == ids["boquocphong"]
    listed = [p for i in payload["items"] for p in i["papers"]]
    assert [(p["paper_id"], p["sha256"]) for p in listed] == [
        (everyone["id"], hashlib.sha256(public).hexdigest())
    ]
    assert listed[0]["path"].endswith("to-trinh.pdf")
    # Altered, it no longer verifies.
    sealed["payload"]["items"][0]["papers"][0]["sha256"] = "0" * 64
    try:
        verify_sealed_json(sealed, _seal_cert(cabinet))
    except Exception as exc:
        assert "altered" in str(exc)
    else:
        raise AssertionError("an altered manifest verified")

    # Members see no secretariat call.
    await cabinet.call("GET", f"/v1/meetings/{mid}/reads", "botaichinh", 403)
    await cabinet.call("POST", f"/v1/meetings/{mid}/items", "botaichinh", 403, json={"title": "x"})


async def test_reads_show_who_has_not_opened_and_a_new_version_reaches_only_its_audience(
    cabinet: Cabinet,
) -> None:
    meeting = await _meeting(cabinet)
    mid, ids = meeting["id"], cabinet.ids
    item = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items", "thuky", 201, json={"title": "A"}
    )
    papers = f"/v1/meetings/{mid}/items/{item['id']}/papers"
    shared = await cabinet.call(
        "POST", papers, "thuky", 201,
        json={"title": "Chung", "file_sha256": await _upload(cabinet, b"v1 shared"), "name": "a.pdf"},
    )  # fmt: skip
    limited = await cabinet.call(
        "POST", papers, "thuky", 201,
        json={"title": "Riêng", "file_sha256": await _upload(cabinet, b"v1 limited"), "name": "b.pdf",
              "audience": [ids["botaichinh"]]},
    )  # fmt: skip
    await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    await cabinet.call("GET", f"/v1/meetings/{mid}/papers/{shared['id']}", "thutuong", 200)
    await cabinet.call("GET", f"/v1/meetings/{mid}/papers/{shared['id']}", "thutuong", 200)

    table = await cabinet.call("GET", f"/v1/meetings/{mid}/reads", "thuky", 200)
    rows = {r["paper_id"]: r for r in table["papers"]}
    assert [o["person_id"] for o in rows[shared["id"]]["opened"]] == [ids["thutuong"]]
    assert sorted(rows[shared["id"]]["not_opened"]) == sorted(
        [ids["botaichinh"], ids["boquocphong"]]
    )
    assert rows[limited["id"]]["not_opened"] == [ids["botaichinh"]]

    # A replaced limited paper: only its audience is told; the others keep the old packet.
    new = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/papers/{limited['id']}/versions", "thuky", 201,
        json={"file_sha256": await _upload(cabinet, b"v2 limited"), "name": "b2.pdf", "note": "sửa"},
    )  # fmt: skip
    assert new["version"] == 2
    # Until the next packet the member still reads version 1.
    old = await cabinet.call("GET", f"/v1/meetings/{mid}/papers/{limited['id']}", "botaichinh", 200)
    assert old == "v1 limited"
    update = await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    assert update["changes"] == [{"paper_id": limited["id"], "change": "replaced", "version": 2}]
    assert update["notified"] == [ids["botaichinh"]]
    told = await cabinet.call("GET", "/v1/cabinet/notifications?after=0", "botaichinh", 200)
    assert [n["kind"] for n in told["items"]] == ["packet_sent", "packet_updated"]
    assert told["items"][1]["details"]["changes"][0]["version"] == 2
    others = await cabinet.call("GET", "/v1/cabinet/notifications", "boquocphong", 200)
    assert [n["kind"] for n in others["items"]] == ["packet_sent"]
    newer = await cabinet.call(
        "GET", f"/v1/meetings/{mid}/papers/{limited['id']}", "botaichinh", 200
    )
    older = await cabinet.call(
        "GET", f"/v1/meetings/{mid}/papers/{limited['id']}?version=1", "botaichinh", 200
    )
    assert (newer, older) == ("v2 limited", "v1 limited")
    table = await cabinet.call("GET", f"/v1/meetings/{mid}/reads", "thuky", 200)
    rows = {r["paper_id"]: r for r in table["papers"]}
    assert rows[limited["id"]]["version"] == 2
    assert [o["person_id"] for o in rows[limited["id"]]["opened"]] == [ids["botaichinh"]]
    # Nothing new: 409.
    error = await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 409, json={})
    assert error["error"]["code"] == "no_change"


async def test_late_first_packet_needs_urgent_with_a_reason(cabinet: Cabinet) -> None:
    meeting = await _meeting(cabinet, days_ahead=1)
    mid = meeting["id"]
    await cabinet.call("POST", f"/v1/meetings/{mid}/items", "thuky", 201, json={"title": "A"})
    error = await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 409, json={})
    assert error["error"]["code"] == "notice_period"
    error = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/packets", "thuky", 400, json={"urgent": True}
    )
    assert error["error"]["where"] == "reason"
    assert (await cabinet.call("GET", f"/v1/meetings/{mid}", "thuky", 200))["packet_version"] == 0
    await cabinet.call(
        "POST", f"/v1/meetings/{mid}/packets", "thuky", 201,
        json={"urgent": True, "reason": "Chỉ đạo khẩn của Thủ tướng"},
    )  # fmt: skip
    seen = await cabinet.call("GET", f"/v1/meetings/{mid}", "botaichinh", 200)
    assert seen["urgent"] is True and seen["urgent_reason"] == "Chỉ đạo khẩn của Thủ tướng"


async def test_quorum_counts_voting_members_attending_never_stand_ins(cabinet: Cabinet) -> None:
    meeting = await _meeting(cabinet)
    mid, ids = meeting["id"], cabinet.ids
    # Three voting members: two thirds is 2.
    assert meeting["quorum"] == {"required": 2, "confirmed": 0, "reached": False}
    item = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items", "thuky", 201, json={"title": "A"}
    )
    paper = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items/{item['id']}/papers", "thuky", 201,
        json={"title": "Riêng BTC", "file_sha256": await _upload(cabinet, b"btc only"),
              "name": "btc.pdf", "audience": [ids["botaichinh"]]},
    )  # fmt: skip
    await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    # The deputy sees nothing until named as stand-in.
    await cabinet.call("GET", f"/v1/meetings/{mid}", "thutruong", 404)
    error = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/attendance", "botaichinh", 400,
        json={"attending": False, "reason": "Công tác", "stand_in": ids["boquocphong"]},
    )  # fmt: skip
    assert error["error"]["where"] == "stand_in"
    after = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/attendance", "botaichinh", 200,
        json={"attending": False, "reason": "Công tác nước ngoài", "stand_in": ids["thutruong"]},
    )  # fmt: skip
    assert after["quorum"]["confirmed"] == 0
    # The stand-in reads what their member reads, and never counts.
    body = await cabinet.call("GET", f"/v1/meetings/{mid}/papers/{paper['id']}", "thutruong", 200)
    assert body == "btc only"
    await cabinet.call(
        "POST", f"/v1/meetings/{mid}/attendance", "thutuong", 200, json={"attending": True}
    )
    final = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/attendance", "boquocphong", 200, json={"attending": True}
    )
    assert final["quorum"] == {"required": 2, "confirmed": 2, "reached": True}
    await cabinet.call(
        "POST", f"/v1/meetings/{mid}/attendance", "thuky", 403, json={"attending": True}
    )


async def test_take_back_and_close_make_papers_gone_for_members_but_kept_for_the_secretariat(
    cabinet: Cabinet,
) -> None:
    meeting = await _meeting(cabinet)
    mid = meeting["id"]
    item = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items", "thuky", 201, json={"title": "A"}
    )
    papers = f"/v1/meetings/{mid}/items/{item['id']}/papers"
    plain = await cabinet.call(
        "POST", papers, "thuky", 201,
        json={"title": "Thường", "file_sha256": await _upload(cabinet, b"plain"), "name": "p.pdf"},
    )  # fmt: skip
    secret = await cabinet.call(
        "POST", papers, "thuky", 201,
        json={"title": "Mật", "file_sha256": await _upload(cabinet, b"secret"), "name": "s.pdf",
              "confidential": True},
    )  # fmt: skip
    recalled = await cabinet.call(
        "POST", papers, "thuky", 201,
        json={"title": "Sai", "file_sha256": await _upload(cabinet, b"wrong"), "name": "w.pdf"},
    )  # fmt: skip
    await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    taken = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/take-back", "thuky", 200, json={"papers": [recalled["id"]]}
    )
    assert taken == {"taken_back": [recalled["id"]]}
    error = await cabinet.call(
        "GET", f"/v1/meetings/{mid}/papers/{recalled['id']}", "thutuong", 410
    )
    assert error["error"]["code"] == "taken_back"
    told = await cabinet.call("GET", "/v1/cabinet/notifications", "thutuong", 200)
    gone = [n for n in told["items"] if n["kind"] == "taken_back"]
    assert gone[0]["details"]["papers"] == [
        {"paper_id": recalled["id"], "sha256": hashlib.sha256(b"wrong").hexdigest()}
    ]
    assert (
        await cabinet.call("GET", f"/v1/meetings/{mid}/papers/{recalled['id']}", "thuky", 200)
        == "wrong"
    )

    closed = await cabinet.call("POST", f"/v1/meetings/{mid}/close", "thuky", 200)
    assert closed["state"] == "closed"
    states = {p["id"]: p["state"] for p in closed["items"][0]["papers"]}
    assert states == {
        plain["id"]: "available",
        secret["id"]: "taken_back",
        recalled["id"]: "taken_back",
    }
    await cabinet.call("GET", f"/v1/meetings/{mid}/papers/{secret['id']}", "botaichinh", 410)
    assert (
        await cabinet.call("GET", f"/v1/meetings/{mid}/papers/{plain['id']}", "botaichinh", 200)
        == "plain"
    )
    error = await cabinet.call("POST", f"/v1/meetings/{mid}/close", "thuky", 409)
    assert error["error"]["code"] == "no_change"
    audited = await cabinet.db.fetch(
        "SELECT event FROM audit_events WHERE event LIKE 'meeting%' ORDER BY id"
    )
    events = [r["event"] for r in audited]
    for event in ("meeting_created", "meeting_paper_added", "meeting_packet_sent",
                  "meeting_paper_opened", "meeting_papers_taken_back", "meeting_closed"):  # fmt: skip
        assert event in events


async def test_bad_input_names_the_field_and_changes_nothing(cabinet: Cabinet) -> None:
    meeting = await _meeting(cabinet)
    mid, ids = meeting["id"], cabinet.ids
    for body, where in (
        ({"title": "x", "kind": "regular", "starts_at": "mai", "place": "p", "invitees": [ids["thutuong"]]}, "starts_at"),
        ({"title": "x", "kind": "regular", "starts_at": "2030-01-01T09:00:00+07:00", "place": "p", "invitees": [ids["thutruong"]]}, "invitees[0]"),
        ({"kind": "regular", "starts_at": "2030-01-01T09:00:00+07:00", "place": "p", "invitees": [ids["thutuong"]]}, "title"),
    ):  # fmt: skip
        error = await cabinet.call("POST", "/v1/meetings", "thuky", 400, json=body)
        assert error["error"]["where"] == where
    assert await cabinet.db.fetchval("SELECT count(*) FROM meetings") == 1
    item = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items", "thuky", 201, json={"title": "A"}
    )
    papers = f"/v1/meetings/{mid}/items/{item['id']}/papers"
    error = await cabinet.call(
        "POST", papers, "thuky", 422, json={"title": "T", "file_sha256": "ab" * 32, "name": "x.pdf"}
    )
    assert error["error"]["where"] == "file_sha256"
    error = await cabinet.call(
        "POST", papers, "thuky", 422,
        json={"title": "T", "from_letter": {"document_id": "018f0000-0000-7000-8000-000000000000", "attachment": "1"}},
    )  # fmt: skip
    assert error["error"]["where"] == "from_letter"
    error = await cabinet.call(
        "POST", papers, "thuky", 400,
        json={"title": "T", "file_sha256": await _upload(cabinet, b"x"), "name": "x.pdf",
              "audience": [ids["thutruong"]]},
    )  # fmt: skip
    assert error["error"]["where"] == "audience[0]"
    assert await cabinet.db.fetchval("SELECT count(*) FROM meeting_papers") == 0
    await cabinet.call("GET", "/v1/meetings/not-an-id", "thuky", 404)
