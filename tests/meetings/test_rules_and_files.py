"""Rules are versioned settings; files are uploaded once and named by SHA-256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.meetings.conftest import Cabinet, axis


async def test_rules_start_at_version_1_and_a_change_makes_a_new_full_version(
    cabinet: Cabinet,
) -> None:
    await cabinet.person("thuky", "secretariat")
    await cabinet.person("botruong", "member")
    first = await cabinet.call("GET", "/v1/cabinet/rules", "botruong", 200)
    assert first["current"]["version"] == 1
    assert first["current"]["rules"] == {
        "quorum_fraction": "2/3",
        "notice_days": 3,
        "take_back_on_close": True,
        # written consultations: more than half of all members, the Prime Minister breaks a tie
        "majority_of": "all_members",
        "tie_break": "chair",
        "silence": "no_reply",
        "ballot_changes": True,
        "reminders": ["P1D", "PT2H"],
        "member_signature_required": True,
    }
    made = await cabinet.call(
        "POST", "/v1/cabinet/rules", "thuky", 201,
        json={"rules": {"notice_days": 5}, "note": "Quy chế mới"},
    )  # fmt: skip
    assert made["version"] == 2 and made["note"] == "Quy chế mới"
    assert made["rules"] == {**first["current"]["rules"], "notice_days": 5}
    silent = await cabinet.call(
        "POST", "/v1/cabinet/rules", "thuky", 201,
        json={"rules": {"silence": "agree", "reminders": ["PT30M"], "majority_of": "asked"}},
    )  # fmt: skip
    assert silent["version"] == 3 and silent["rules"]["silence"] == "agree"
    assert silent["rules"]["reminders"] == ["PT30M"] and silent["rules"]["notice_days"] == 5
    after = await cabinet.call("GET", "/v1/cabinet/rules", "botruong", 200)
    assert [v["version"] for v in after["versions"]] == [3, 2, 1]


async def test_a_bad_rule_is_a_400_naming_it_and_makes_no_version(cabinet: Cabinet) -> None:
    await cabinet.person("thuky", "secretariat")
    for rules, where in (
        ({"quorum": "1/2"}, "rules.quorum"),
        ({"quorum_fraction": "3/2"}, "rules.quorum_fraction"),
        ({"notice_days": "3"}, "rules.notice_days"),
        ({"notice_days": 2, "take_back_on_close": "yes"}, "rules.take_back_on_close"),
        ({"majority_of": "present"}, "rules.majority_of"),
        ({"tie_break": "coin"}, "rules.tie_break"),
        ({"silence": "disagree"}, "rules.silence"),
        ({"ballot_changes": 1}, "rules.ballot_changes"),
        ({"member_signature_required": None}, "rules.member_signature_required"),
        ({"reminders": "P1D"}, "rules.reminders"),
        ({"reminders": ["P1D", "two hours"]}, "rules.reminders[1]"),
        ({"reminders": ["PT0S"]}, "rules.reminders[0]"),
        ({"reminders": ["PT"]}, "rules.reminders[0]"),
        ({"reminders": ["P1D", "PT24H"]}, "rules.reminders[1]"),
    ):
        error = await cabinet.call("POST", "/v1/cabinet/rules", "thuky", 400, json={"rules": rules})
        assert error["error"]["where"] == where
    assert await cabinet.db.fetchval("SELECT max(version) FROM cabinet_rules") == 1


async def test_a_member_cannot_change_the_rules(cabinet: Cabinet) -> None:
    await cabinet.person("botruong", "member")
    error = await cabinet.call(
        "POST", "/v1/cabinet/rules", "botruong", 403, json={"rules": {"notice_days": 1}}
    )
    assert error["error"]["code"] == "forbidden"


async def test_rules_show_and_set_by_cli(
    cabinet: Cabinet, test_database_url: str, tmp_path: Path
) -> None:
    env = {"AXIS_DATABASE_URL": test_database_url}
    change = tmp_path / "rules.json"
    change.write_text(json.dumps({"rules": {"take_back_on_close": False}, "note": "thử"}))
    code, out, err = await axis("cabinet", "rules", "set", str(change), "--json", env=env)
    assert code == 0, err
    assert json.loads(out)["rules"]["take_back_on_close"] is False
    change.write_text(json.dumps({"rules": {"notice_days": -1}}))
    code, out, err = await axis("cabinet", "rules", "set", str(change), env=env)
    assert code == 1 and "notice_days" in err
    code, out, err = await axis("cabinet", "rules", "show", "--json", env=env)
    assert json.loads(out)["current"]["version"] == 2


async def test_upload_a_file_201_then_the_same_bytes_again_200(cabinet: Cabinet) -> None:
    await cabinet.person("thuky", "secretariat")
    data = b"%PDF-1.7 to trinh " * 100_000
    first = await cabinet.call("POST", "/v1/cabinet/files", "thuky", 201, data=data)
    assert first == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    again = await cabinet.call("POST", "/v1/cabinet/files", "thuky", 200, data=data)
    assert again == first
    empty = await cabinet.call("POST", "/v1/cabinet/files", "thuky", 400, data=b"")
    assert empty["error"]["where"] == "body"


async def test_a_member_cannot_upload(cabinet: Cabinet) -> None:
    await cabinet.person("botruong", "member")
    await cabinet.call("POST", "/v1/cabinet/files", "botruong", 403, data=b"x")
