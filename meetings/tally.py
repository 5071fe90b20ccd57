"""The tally of a written consultation, as a pure function of the ballots, and its offline check:
anyone holding the sealed tally, the axis's seal certificate and the members' CAs can recount it.
Also the ballot receipts, sealed a batch at a time under one signature over a Merkle root, and
their offline check. Imports no database, HTTP or hub code, so `axis cabinet check-tally` and
`check-receipt` run anywhere."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from signing import merkle
from signing.errors import SignatureError
from signing.keys import fingerprint, parse_certificates
from signing.seal import canonical_json, verify_sealed_json
from signing.trust import TrustStore

FORM_TYPE = "axis.cabinet.form"
BALLOT_TYPE = "axis.cabinet.ballot"
RECEIPT_TYPE = "axis.cabinet.ballot_receipt"
RECEIPT_BATCH_TYPE = "axis.cabinet.receipt_batch"
TALLY_TYPE = "axis.cabinet.tally"
CHOICES = ("agree", "disagree", "other")


def payload_sha256(payload: Mapping[str, Any]) -> str:
    """SHA-256 of a payload's canonical JSON (sorted keys, no spaces, UTF-8)."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


@dataclass(frozen=True)
class Outcome:
    agree_counted: int
    required: int
    outcome: str  # "passed" or "not_passed"
    decided_by: str | None  # "majority", "tie_break" or None


def decide(
    *,
    agree: int,
    disagree: int,
    no_reply: int,
    base: int,
    silence: str,
    tie_break: str,
    chair_choice: str | None,
) -> Outcome:
    """More than half of the base agrees (silence counts as agreeing only when the rule says so);
    else a tie follows the chair's own choice when the rule says so; else not passed. "Other"
    counts for neither side."""
    agree_counted = agree + (no_reply if silence == "agree" else 0)
    required = base // 2 + 1
    if agree_counted >= required:
        return Outcome(agree_counted, required, "passed", "majority")
    if tie_break == "chair" and agree_counted == disagree and chair_choice in ("agree", "disagree"):
        passed = chair_choice == "agree"
        return Outcome(agree_counted, required, "passed" if passed else "not_passed", "tie_break")
    return Outcome(agree_counted, required, "not_passed", None)


def count(
    *,
    consultation_id: str,
    form_sha256: str,
    rules_version: int,
    rules: Mapping[str, Any],
    closed_at: str | None,
    base: int,
    asked: list[str],
    chair: str | None,
    questions: Iterable[int],
    ballots: list[dict[str, Any]],
) -> dict[str, Any]:
    """The tally payload. `ballots` are the signed ballots that count: the last of each asked
    member (every one must answer every question, as checked when it was received)."""
    by_member: dict[str, dict[str, Any]] = {}
    for ballot in ballots:
        member = str(ballot["payload"]["member"])
        if member not in asked:
            raise ValueError(f"a ballot of {member}, who was not asked")
        if member in by_member:
            raise ValueError(f"two ballots of {member}")
        by_member[member] = ballot
    ordered = [by_member[m] for m in asked if m in by_member]
    out = []
    for number in questions:
        agree = disagree = other = 0
        chair_choice = None
        comments = []
        for ballot in ordered:
            member = str(ballot["payload"]["member"])
            answer = next(a for a in ballot["payload"]["answers"] if a["question"] == number)
            choice = answer["choice"]
            if choice == "agree":
                agree += 1
            elif choice == "disagree":
                disagree += 1
            elif choice == "other":
                other += 1
            else:
                raise ValueError(f"ballot of {member}: unknown choice {choice!r}")
            if member == chair:
                chair_choice = choice
            if answer.get("comment"):
                comments.append({"member": member, "choice": choice, "comment": answer["comment"]})
        no_reply = len(asked) - len(ordered)
        decided = decide(
            agree=agree,
            disagree=disagree,
            no_reply=no_reply,
            base=base,
            silence=str(rules["silence"]),
            tie_break=str(rules["tie_break"]),
            chair_choice=chair_choice,
        )
        out.append(
            {
                "number": number,
                "agree": agree,
                "disagree": disagree,
                "other": other,
                "no_reply": no_reply,
                "agree_counted": decided.agree_counted,
                "required": decided.required,
                "chair_choice": chair_choice,
                "outcome": decided.outcome,
                "decided_by": decided.decided_by,
                "comments": comments,
            }
        )
    return {
        "type": TALLY_TYPE,
        "consultation_id": consultation_id,
        "form_sha256": form_sha256,
        "rules_version": rules_version,
        "rules": dict(rules),
        "closed_at": closed_at,
        "base": base,
        "asked": list(asked),
        "chair": chair,
        "ballots": ordered,
        "questions": out,
    }


class TallyProblem(Exception):
    """The sealed tally does not hold; the message names the first problem found."""


def _ballot_signer(ballot: Mapping[str, Any]) -> x509.Certificate:
    certs = parse_certificates(str(ballot["certificate"]).encode("ascii"), "certificate")
    if len(certs) != 1:
        raise TallyProblem("a ballot's certificate field holds no single certificate")
    return certs[0]


def check(sealed: Any, seal_cert: x509.Certificate, trust: TrustStore | None) -> dict[str, Any]:
    """Check a sealed tally offline: the axis's seal, every ballot's signature (to `trust`, or the
    seal for a ballot the axis sealed for a member without a certificate), each ballot belongs to
    this consultation's form and an asked member, and the recount gives the same result. Returns
    the tally payload; raises TallyProblem naming the first problem."""
    try:
        payload = verify_sealed_json(sealed, seal_cert)
    except SignatureError as exc:
        raise TallyProblem(f"the tally's seal does not hold: {exc.message}") from None
    if payload.get("type") != TALLY_TYPE:
        raise TallyProblem(f"this is not a tally (type {TALLY_TYPE!r} expected)")
    where = "the tally"
    try:
        closed_at = datetime.fromisoformat(str(payload["closed_at"]))
        asked = [str(m) for m in payload["asked"]]
        seal_print = fingerprint(seal_cert)
        for n, ballot in enumerate(payload["ballots"], start=1):
            where = f"ballot {n}"
            ballot_payload = ballot["payload"]
            member = ballot_payload.get("member")
            where = f"ballot {n} (member {member})"
            if fingerprint(_ballot_signer(ballot)) == seal_print:
                verified = verify_sealed_json(ballot, seal_cert)
                if "session" not in verified:
                    raise TallyProblem(f"{where}: sealed by the axis but names no session")
            else:
                if trust is None:
                    raise TallyProblem(f"{where}: signed by a member; pass --trust DIR to check it")
                verified = verify_sealed_json(ballot, trust, at=closed_at)
            if verified.get("type") != BALLOT_TYPE:
                raise TallyProblem(f"{where}: not a ballot")
            if verified.get("consultation_id") != payload["consultation_id"]:
                raise TallyProblem(
                    f"{where}: belongs to consultation {verified.get('consultation_id')}"
                )
            if verified.get("form_sha256") != payload["form_sha256"]:
                raise TallyProblem(f"{where}: answers another form ({verified.get('form_sha256')})")
            if member not in asked:
                raise TallyProblem(f"{where}: the member was not asked")
        recount = count(
            consultation_id=payload["consultation_id"],
            form_sha256=payload["form_sha256"],
            rules_version=payload["rules_version"],
            rules=payload["rules"],
            closed_at=payload["closed_at"],
            base=int(payload["base"]),
            asked=asked,
            chair=payload["chair"],
            questions=[int(q["number"]) for q in payload["questions"]],
            ballots=list(payload["ballots"]),
        )
    except SignatureError as exc:
        raise TallyProblem(f"{where}: the signature does not hold: {exc.message}") from None
    except (KeyError, TypeError, ValueError, StopIteration, AttributeError) as exc:
        raise TallyProblem(f"the tally is malformed: {type(exc).__name__}: {exc}") from None
    for mine, theirs in zip(recount["questions"], payload["questions"], strict=True):
        if mine != theirs:
            raise TallyProblem(
                f"question {mine['number']}: the recount gives {_short(mine)}, the tally says {_short(theirs)}"
            )
    return payload


def _short(question: Mapping[str, Any]) -> str:
    keys = ("agree", "disagree", "other", "no_reply", "agree_counted", "outcome", "decided_by")
    return ", ".join(f"{k}={question.get(k)}" for k in keys)


# ---------------------------------------------------------------- receipts
#
# The ballots committed together get their receipts under one signature: the axis seals
# {"type": "axis.cabinet.receipt_batch", "root", "size", "at"}, whose root is a Merkle tree's
# (signing.merkle) over the batch's receipt payloads, and each receipt is
# {"payload", "leaf", "index", "path", "batch"}: leaf = SHA-256 of the byte 0x00 followed by the
# payload's canonical JSON, path from the leaf up to the sealed root.


def seal_receipts(
    payloads: list[dict[str, Any]], sign: Callable[[dict[str, Any]], dict[str, Any]], at: str
) -> list[dict[str, Any]]:
    """The receipts of a batch, in order; `sign` seals the batch's root (the axis's seal)."""
    leaves = [merkle.leaf_hash(canonical_json(p)) for p in payloads]
    root, paths = merkle.merkle_tree(leaves)
    batch = sign({"type": RECEIPT_BATCH_TYPE, "root": root, "size": len(leaves), "at": at})
    return [
        {"payload": payload, "leaf": leaf, "index": index, "path": path, "batch": batch}
        for index, (payload, leaf, path) in enumerate(zip(payloads, leaves, paths, strict=True))
    ]


class ReceiptProblem(Exception):
    """The receipt does not hold; the message names the first problem found."""


def check_receipt(
    receipt: Any, seal_cert: x509.Certificate, ballot: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Check a ballot receipt offline: the axis's seal over its batch's root, the payload's leaf
    and its path up to that root, and (when given) that `ballot` is the ballot it names. Returns
    the receipt's payload; raises ReceiptProblem naming the first problem."""
    try:
        batch = verify_sealed_json(receipt["batch"], seal_cert)
        if batch.get("type") != RECEIPT_BATCH_TYPE:
            raise ReceiptProblem("the sealed batch is not a batch of ballot receipts")
        payload = receipt["payload"]
        if not isinstance(payload, dict) or payload.get("type") != RECEIPT_TYPE:
            raise ReceiptProblem(f"this is not a ballot receipt (type {RECEIPT_TYPE!r} expected)")
        leaf = merkle.leaf_hash(canonical_json(payload))
        if leaf != receipt["leaf"]:
            raise ReceiptProblem("the receipt was altered: its payload's leaf hash differs")
        if merkle.root_from_path(leaf, list(receipt["path"])) != batch.get("root"):
            raise ReceiptProblem(
                "the path does not lead to the sealed root: the receipt or its path was altered"
            )
    except SignatureError as exc:
        raise ReceiptProblem(f"the batch's seal does not hold: {exc.message}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReceiptProblem(f"the receipt is malformed: {type(exc).__name__}: {exc}") from None
    if ballot is not None:
        try:
            digest = payload_sha256(ballot["payload"])
        except (KeyError, TypeError, SignatureError):
            raise ReceiptProblem("the ballot given is not a ballot {payload, …}") from None
        if digest != payload["ballot_sha256"]:
            raise ReceiptProblem(
                f"the receipt is for another ballot (SHA-256 {payload['ballot_sha256']}, "
                f"not {digest})"
            )
    return payload
