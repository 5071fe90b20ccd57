"""The tally as a pure function: more than half of the base, ties and the chair, silence, "other",
the base of all members or of the asked; and the offline check of a sealed tally."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from meetings import tally
from signing.devca import DevCA
from signing.keys import load_certificates, load_private_key
from signing.seal import Seal
from signing.trust import TrustStore

RULES = {"majority_of": "all_members", "tie_break": "chair", "silence": "no_reply"}


def decide(**kw: Any) -> tally.Outcome:
    base = {"agree": 0, "disagree": 0, "no_reply": 0, "base": 5, "silence": "no_reply",
            "tie_break": "chair", "chair_choice": None}  # fmt: skip
    return tally.decide(**{**base, **kw})


def test_more_than_half_of_the_base_passes_and_half_does_not() -> None:
    assert decide(agree=3, base=5) == tally.Outcome(3, 3, "passed", "majority")
    assert decide(agree=2, disagree=1, base=5).outcome == "not_passed"
    # 30 members: 16 needed, whoever answered.
    assert decide(agree=15, disagree=0, base=30) == tally.Outcome(15, 16, "not_passed", None)
    assert decide(agree=16, disagree=14, base=30).outcome == "passed"


def test_a_tie_follows_the_chairs_own_choice_only_when_the_rule_says_so() -> None:
    tie = {"agree": 2, "disagree": 2, "base": 5}
    assert decide(**tie, chair_choice="agree") == tally.Outcome(2, 3, "passed", "tie_break")
    assert decide(**tie, chair_choice="disagree") == tally.Outcome(2, 3, "not_passed", "tie_break")
    assert decide(**tie, chair_choice=None).decided_by is None  # the chair did not answer
    assert decide(**tie, chair_choice="other").outcome == "not_passed"
    assert decide(**tie, chair_choice="agree", tie_break="none").outcome == "not_passed"
    # not a tie: 2 agree, 1 disagree, the chair agreeing changes nothing
    assert decide(agree=2, disagree=1, base=5, chair_choice="agree").outcome == "not_passed"


def test_silence_counts_as_agreement_only_when_the_rule_says_so() -> None:
    assert decide(agree=2, no_reply=2, base=5).agree_counted == 2
    agreed = decide(agree=2, no_reply=2, base=5, silence="agree")
    assert agreed == tally.Outcome(4, 3, "passed", "majority")


def _ballot(member: str, choices: list[str]) -> dict[str, Any]:
    answers = [
        {"question": n, "choice": c, **({"comment": f"{member} {n}"} if c != "agree" else {})}
        for n, c in enumerate(choices, start=1)
    ]
    return {"payload": {"type": tally.BALLOT_TYPE, "consultation_id": "c", "form_sha256": "f",
                        "member": member, "answers": answers, "signed_at": "2026-12-01T10:00:00+07:00"}}  # fmt: skip


def _count(
    asked: list[str], ballots: list[dict[str, Any]], base: int, **rules: str
) -> dict[str, Any]:
    # Closed now: the members' certificates below are issued now and checked as of the close.
    return tally.count(
        consultation_id="c", form_sha256="f", rules_version=1, rules={**RULES, **rules},
        closed_at=datetime.now(UTC).isoformat(), base=base, asked=asked, chair="pm",
        questions=[1, 2], ballots=ballots,
    )  # fmt: skip


def test_other_counts_for_neither_side_and_no_reply_is_the_silent_asked() -> None:
    asked = ["pm", "a", "b", "c", "d"]
    counted = _count(
        asked,
        [_ballot("pm", ["agree", "other"]), _ballot("a", ["agree", "other"]),
         _ballot("b", ["other", "disagree"]), _ballot("c", ["disagree", "agree"])],
        base=5,
    )  # fmt: skip
    q1, q2 = counted["questions"]
    assert (q1["agree"], q1["disagree"], q1["other"], q1["no_reply"]) == (2, 1, 1, 1)
    assert q1["outcome"] == "not_passed" and q1["chair_choice"] == "agree"
    assert [c["member"] for c in q1["comments"]] == ["b", "c"]
    assert (q2["agree"], q2["disagree"], q2["other"]) == (1, 1, 2)
    # the same answers, silence counting as agreement: 2 + 1 silent = 3 of 5 on question 1
    assert (
        _count(asked, counted["ballots"], base=5, silence="agree")["questions"][0]["outcome"]
        == "passed"
    )


def test_the_base_is_all_members_or_only_the_asked() -> None:
    asked = ["pm", "a", "b"]
    ballots = [_ballot("pm", ["agree", "agree"]), _ballot("a", ["agree", "agree"])]
    of_all = _count(asked, ballots, base=27)["questions"][0]
    assert (of_all["required"], of_all["outcome"]) == (14, "not_passed")
    of_asked = _count(asked, ballots, base=3, majority_of="asked")["questions"][0]
    assert (of_asked["required"], of_asked["outcome"]) == (2, "passed")


def test_a_tie_in_a_count_is_decided_by_the_prime_ministers_ballot() -> None:
    asked = ["pm", "a", "b", "c"]
    ballots = [_ballot("pm", ["agree", "disagree"]), _ballot("a", ["agree", "agree"]),
               _ballot("b", ["disagree", "agree"]), _ballot("c", ["disagree", "disagree"])]  # fmt: skip
    q1, q2 = _count(asked, ballots, base=5)["questions"]
    assert (q1["outcome"], q1["decided_by"]) == ("passed", "tie_break")
    assert (q2["outcome"], q2["decided_by"]) == ("not_passed", "tie_break")


def test_a_count_refuses_a_ballot_of_someone_not_asked_or_twice() -> None:
    with pytest.raises(ValueError, match="not asked"):
        _count(["pm"], [_ballot("x", ["agree", "agree"])], base=1)
    with pytest.raises(ValueError, match="two ballots"):
        _count(["pm"], [_ballot("pm", ["agree", "agree"])] * 2, base=1)


def test_a_sealed_tally_checks_offline_and_any_change_is_named(tmp_path: Path) -> None:
    ca = DevCA.init(tmp_path / "ca", "Test CA")
    trust = TrustStore.from_directory(tmp_path / "ca")
    seal = Seal.generate(tmp_path / "seal")
    members = {
        m: ca.issue("000.00.00.G22", "VPCP", person=m, key_type="ec") for m in ("pm", "a", "b")
    }

    def signed(member: str, choices: list[str]) -> dict[str, Any]:
        issued = members[member]
        signer = Seal(load_private_key(issued.key_path), load_certificates(issued.cert_path))
        return signer.sign_json(_ballot(member, choices)["payload"])

    ballots = [signed("pm", ["agree", "agree"]), signed("a", ["disagree", "agree"])]
    payload = _count(["pm", "a", "b"], ballots, base=3)
    sealed = seal.sign_json(payload)
    assert tally.check(sealed, seal.certificate, trust)["questions"] == payload["questions"]

    with pytest.raises(tally.TallyProblem, match="seal"):
        tally.check({**sealed, "payload": {**payload, "base": 2}}, seal.certificate, trust)
    # a tally sealed with wrong counts: the recount names the question
    wrong = {
        **payload,
        "questions": [
            {**payload["questions"][0], "outcome": "not_passed"},
            payload["questions"][1],
        ],
    }
    with pytest.raises(tally.TallyProblem, match="question 1: the recount"):
        tally.check(seal.sign_json(wrong), seal.certificate, trust)
    # a ballot altered after signing
    altered = [signed("pm", ["agree", "agree"]), signed("a", ["disagree", "agree"])]
    altered[1]["payload"]["answers"][0]["choice"] = "agree"
    with pytest.raises(tally.TallyProblem, match=r"ballot 2 \(member a\)"):
        tally.check(seal.sign_json({**payload, "ballots": altered}), seal.certificate, trust)
    # without the members' CAs their signatures cannot be checked
    with pytest.raises(tally.TallyProblem, match="--trust"):
        tally.check(sealed, seal.certificate, None)


def _receipt_payload(member: str, version: int) -> dict[str, Any]:
    return {
        "type": tally.RECEIPT_TYPE,
        "consultation_id": "c1",
        "member": member,
        "version": version,
        "ballot_sha256": tally.payload_sha256(_ballot(member, ["agree", "agree"])["payload"]),
        "received_at": "2026-11-23T08:00:00+00:00",
    }


def test_receipts_sealed_together_each_check_offline_and_any_change_is_named(
    tmp_path: Path,
) -> None:
    seal = Seal.generate(tmp_path / "seal")
    other = Seal.generate(tmp_path / "other")
    payloads = [_receipt_payload(m, 1) for m in ("pm", "a", "b", "c", "d")]
    receipts = tally.seal_receipts(payloads, seal.sign_json, "2026-11-23T08:00:00+00:00")
    # one signature for the batch, every receipt its own path to the root
    assert len({r["batch"]["signature"] for r in receipts}) == 1
    assert receipts[0]["batch"]["payload"]["size"] == 5
    for n, receipt in enumerate(receipts):
        ballot = _ballot(payloads[n]["member"], ["agree", "agree"])
        assert tally.check_receipt(receipt, seal.certificate, ballot) == payloads[n]

    first = receipts[0]
    with pytest.raises(tally.ReceiptProblem, match="leaf hash differs"):
        tally.check_receipt(
            {**first, "payload": {**first["payload"], "version": 2}}, seal.certificate
        )
    with pytest.raises(tally.ReceiptProblem, match="does not lead to the sealed root"):
        tally.check_receipt({**first, "path": receipts[1]["path"]}, seal.certificate)
    with pytest.raises(tally.ReceiptProblem, match="seal does not hold"):
        tally.check_receipt(first, other.certificate)
    with pytest.raises(tally.ReceiptProblem, match="another ballot"):
        tally.check_receipt(first, seal.certificate, _ballot("pm", ["disagree", "agree"]))
    with pytest.raises(tally.ReceiptProblem, match="malformed"):
        tally.check_receipt({"payload": first["payload"]}, seal.certificate)
