"""Positions before the meeting: voting members agree, object or comment per item; the secretariat
sees who has not answered and which items have no objection; members see only their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.meetings.conftest import Cabinet


async def test_members_record_positions_and_the_secretariat_sees_items_without_objection(
    cabinet: Cabinet,
) -> None:
    await cabinet.person("thuky", "secretariat")
    await cabinet.person("thutuong", "member", chair=True)
    await cabinet.person("botaichinh", "member")
    await cabinet.person("boquocphong", "member")
    await cabinet.person("thutruong", "deputy")
    ids = cabinet.ids
    starts = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    meeting = await cabinet.call(
        "POST", "/v1/meetings", "thuky", 201,
        json={"title": "Phiên họp", "kind": "regular", "starts_at": starts, "place": "Hà Nội",
              "invitees": [ids["thutuong"], ids["botaichinh"], ids["boquocphong"]]},
    )  # fmt: skip
    mid = meeting["id"]
    first = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items", "thuky", 201, json={"title": "A"}
    )
    second = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items", "thuky", 201, json={"title": "B"}
    )
    url = f"/v1/meetings/{mid}/items/{{}}/position"
    # Before the packet, members do not see the meeting.
    await cabinet.call(
        "POST", url.format(first["id"]), "botaichinh", 404, json={"position": "agree"}
    )
    await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})

    await cabinet.call("POST", url.format(first["id"]), "thutuong", 201, json={"position": "agree"})
    await cabinet.call(
        "POST", url.format(first["id"]), "botaichinh", 201, json={"position": "agree"}
    )
    objection = await cabinet.call(
        "POST", url.format(second["id"]), "botaichinh", 201,
        json={"position": "object", "comment": "Cần thêm số liệu"},
    )  # fmt: skip
    assert objection["position"] == "object" and objection["comment"] == "Cần thêm số liệu"
    # Object and comment need text; a deputy and the secretariat do not vote.
    refused = await cabinet.call(
        "POST", url.format(second["id"]), "thutuong", 400, json={"position": "object"}
    )
    assert refused["error"]["where"] == "comment"
    refused = await cabinet.call(
        "POST", url.format(second["id"]), "thutuong", 400, json={"position": "maybe"}
    )
    assert refused["error"]["where"] == "position"
    await cabinet.call(
        "POST", url.format(second["id"]), "thutruong", 403, json={"position": "agree"}
    )
    await cabinet.call("POST", url.format(second["id"]), "thuky", 403, json={"position": "agree"})

    view = await cabinet.call("GET", f"/v1/meetings/{mid}/positions", "thuky", 200)
    a, b = view["items"]
    assert sorted(a["agree"]) == sorted([ids["thutuong"], ids["botaichinh"]])
    assert a["not_answered"] == [ids["boquocphong"]] and a["no_objection"] is True
    assert b["object"] == [{"person_id": ids["botaichinh"], "comment": "Cần thêm số liệu"}]
    assert b["no_objection"] is False
    assert sorted(b["not_answered"]) == sorted([ids["thutuong"], ids["boquocphong"]])

    # Changed before the meeting: the objection is withdrawn.
    await cabinet.call(
        "POST", url.format(second["id"]), "botaichinh", 201, json={"position": "agree"}
    )
    view = await cabinet.call("GET", f"/v1/meetings/{mid}/positions", "thuky", 200)
    assert view["items"][1]["no_objection"] is True
    # A member sees only their own.
    own = await cabinet.call("GET", f"/v1/meetings/{mid}/positions", "thutuong", 200)
    assert [(p["item_id"], p["position"]) for p in own["items"]] == [(first["id"], "agree")]
    # Each is in the audit chain.
    logged = await cabinet.db.fetchval(
        "SELECT count(*) FROM audit_events WHERE event = 'meeting_position'"
    )
    assert logged == 4
