"""The audit chain's hashes and its proofs, without a database: how an entry is hashed and linked,
the shape of a proof, and checking a proof offline (`axis audit check-proof`). It imports
signing and nothing of asyncpg, aiohttp or the hub, so an agency can check its proof anywhere.

Hashes (hex, lower case), so that anyone can recompute them without this code:

* content_hash = SHA-256 of the entry's content as canonical JSON (keys sorted, no spaces, UTF-8):
  {"id", "at" (UTC, ISO 8601), "event", "organ_id", "document_id", "delivery_id", "details"};
* hash = SHA-256 of the ASCII text prev_hash + content_hash; the first entry's prev_hash is 64 zeros.

An entry's hash thus depends only on the previous hash and its own content hash, so a proof can
show the links between an agency's entries and a sealed checkpoint without revealing the content
of other agencies' entries. A recipient's proof of a letter gives the entries about the other
recipients (their deliveries, acknowledgements, statuses) the same way: hashes only, marked
"redacted"; they still chain, so the proof checks offline, but only the visible ones are checked
against their content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from cryptography import x509

import signing
from signing import merkle

# The Merkle tree of a batch (the statuses' sealer builds its batches with them).
from signing.merkle import leaf_hash as leaf_hash
from signing.merkle import merkle_tree as merkle_tree
from signing.merkle import root_from_path as root_from_path

GENESIS = "0" * 64
CHECKPOINT_TYPE = "axis.audit.checkpoint"
PROOF_TYPE = "axis.audit.proof"
PROOF_VERSION = 2
#: Version 1 had no redacted entries; its proofs still check.
PROOF_VERSIONS = (1, 2)


# ---------------------------------------------------------------- hashes


def entry_content(row: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an audit row that its hash covers, in plain JSON values."""
    details = row["details"]
    if isinstance(details, str):
        details = json.loads(details)
    return {
        "id": row["id"],
        "at": row["at"].astimezone(UTC).isoformat(),
        "event": row["event"],
        "organ_id": row["organ_id"],
        "document_id": str(row["document_id"]) if row["document_id"] is not None else None,
        "delivery_id": str(row["delivery_id"]) if row["delivery_id"] is not None else None,
        "details": details,
    }


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(signing.canonical_json(content)).hexdigest()


def link_hash(prev_hash: str, content_digest: str) -> str:
    return hashlib.sha256((prev_hash + content_digest).encode("utf-8")).hexdigest()


def seal_problem(
    sealed: Any, seal_cert: x509.Certificate | signing.TrustStore | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The sealed payload, or why the seal does not hold."""
    if not isinstance(sealed, dict):
        return None, "it is not a sealed document"
    try:
        trust = seal_cert
        if trust is None:
            trust = x509.load_pem_x509_certificate(str(sealed.get("certificate", "")).encode())
        return signing.verify_sealed_json(sealed, trust), None
    except (signing.SignatureError, ValueError) as exc:
        return None, str(getattr(exc, "message", exc))


# ---------------------------------------------------------------- proofs


def proof_entry(row: Mapping[str, Any], visible: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "chain_seq": row["chain_seq"],
        "prev_hash": row["prev_hash"],
        "content_hash": row["content_hash"],
        "hash": row["hash"],
    }
    if visible:
        entry["content"] = entry_content(row)
    else:
        entry["redacted"] = True
    return entry


def proof_document(
    document_id: str,
    role: str,
    viewer: str | None,
    entries: list[dict[str, Any]],
    segments: list[dict[str, Any]],
) -> dict[str, Any]:
    """A proof as an agency receives it: its entries (see proof_entry) and, per sealed
    checkpoint, the links that lead from the entries to it."""
    return {
        "type": PROOF_TYPE,
        "version": PROOF_VERSION,
        "document_id": document_id,
        "hashing": {
            "content_hash": "SHA-256 of the entry's content as JSON with sorted keys, no spaces, UTF-8",
            "hash": "SHA-256 of the ASCII text prev_hash + content_hash",
            "genesis": GENESIS,
        },
        "view": {"role": role, "organ_id": viewer},
        "entries": entries,
        "segments": segments,
    }


@dataclass
class ProofCheck:
    ok: bool
    message: str
    document_id: str | None = None
    entries: int = 0
    redacted: int = 0
    checkpoints: list[dict[str, Any]] | None = None
    seal_subject: str | None = None
    seal_fingerprint: str | None = None
    seal_pinned: bool = False


def check_proof(doc: Any, seal_cert: x509.Certificate | signing.TrustStore | None) -> ProofCheck:
    """Check a proof offline: each entry's hashes from its content, the links from each entry to
    a checkpoint, and the checkpoint's seal (against `seal_cert`, else its own certificate)."""
    pinned = seal_cert is not None
    try:
        return _check_proof(doc, seal_cert, pinned)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return ProofCheck(False, f"the proof is malformed: {type(exc).__name__}: {exc}")


def _check_proof(
    doc: Any, seal_cert: x509.Certificate | signing.TrustStore | None, pinned: bool
) -> ProofCheck:
    def bad(message: str) -> ProofCheck:
        return ProofCheck(False, message, seal_pinned=pinned)

    if not isinstance(doc, dict) or doc.get("type") != PROOF_TYPE:
        return bad(f"this is not an audit proof (type {PROOF_TYPE!r} expected)")
    if doc.get("version") not in PROOF_VERSIONS:
        return bad(f"unknown proof version {doc.get('version')!r}")
    document_id = str(doc["document_id"])
    entries = doc["entries"]
    if not isinstance(entries, list):
        return bad("the proof's entries are not a list")
    if not any(isinstance(e, dict) and e.get("redacted") is not True for e in entries):
        return bad("the proof holds no entry with its content")

    links: dict[int, dict[str, Any]] = {}
    checkpoints: list[dict[str, Any]] = []
    subject = fp = None
    for number, segment in enumerate(doc["segments"], start=1):
        sealed = segment["checkpoint"]
        payload, why = seal_problem(sealed, seal_cert)
        if payload is None:
            return bad(f"checkpoint {number}: the seal does not hold ({why})")
        if payload.get("type") != CHECKPOINT_TYPE:
            return bad(f"checkpoint {number}: the sealed payload is not an audit checkpoint")
        cert = x509.load_pem_x509_certificate(str(sealed["certificate"]).encode())
        subject, fp = cert.subject.rfc4514_string(), signing.fingerprint(cert)
        run = segment["links"]
        if not run:
            return bad(f"checkpoint {number}: no links lead to it")
        for i, link in enumerate(run):
            seq = int(link["chain_seq"])
            if link_hash(str(link["prev_hash"]), str(link["content_hash"])) != link["hash"]:
                return bad(f"chain {seq}: its hash does not follow from its prev_hash and content")
            if i and (
                seq != int(run[i - 1]["chain_seq"]) + 1 or link["prev_hash"] != run[i - 1]["hash"]
            ):
                return bad(f"chain {seq}: it does not link to chain {run[i - 1]['chain_seq']}")
            links[seq] = link
        last = run[-1]
        if int(last["chain_seq"]) != payload.get("chain_seq") or last["hash"] != payload.get(
            "hash"
        ):
            return bad(
                f"checkpoint {number}: the links end at chain {last['chain_seq']} "
                f"({str(last['hash'])[:16]}…), but the seal covers chain {payload.get('chain_seq')} "
                f"({str(payload.get('hash'))[:16]}…)"
            )
        checkpoints.append(
            {"chain_seq": payload["chain_seq"], "hash": payload["hash"], "at": payload.get("at")}
        )

    redacted = 0
    for entry in entries:
        seq = int(entry["chain_seq"])
        if entry.get("redacted") is True:
            # Another recipient's entry: no content to check, only that it is a link of the chain.
            if doc["version"] < 2:
                return bad(f"chain {seq}: a version {doc['version']} proof has no redacted entries")
            if "content" in entry:
                return bad(f"chain {seq}: a redacted entry carries content")
            redacted += 1
            name = f"redacted entry (chain {seq})"
            if link_hash(str(entry["prev_hash"]), str(entry["content_hash"])) != entry["hash"]:
                return bad(f"{name} was altered: its hash does not follow from its hashes")
        else:
            content = entry["content"]
            name = f"entry {content.get('id')} (chain {seq}, event {content.get('event')})"
            if str(content.get("document_id")) != document_id:
                return bad(f"{name} is about another document than {document_id}")
            digest = content_hash(content)
            if (
                digest != entry["content_hash"]
                or link_hash(str(entry["prev_hash"]), digest) != entry["hash"]
            ):
                return bad(f"{name} was altered: its hash does not match its content")
        link = links.get(seq)
        if link is None:
            return bad(f"{name} is not covered by any checkpoint in the proof")
        if (link["prev_hash"], link["content_hash"], link["hash"]) != (
            entry["prev_hash"],
            entry["content_hash"],
            entry["hash"],
        ):
            return bad(f"{name} differs from the chain the checkpoint seals")

    last_cp = checkpoints[-1]
    hidden = (
        f" (and {redacted} entr{'y' if redacted == 1 else 'ies'} about other recipients, shown "
        "as hashes only and checked as links of the chain)"
        if redacted
        else ""
    )
    return ProofCheck(
        True,
        f"{len(entries) - redacted} entries about document {document_id}{hidden} are in the audit "
        f"chain sealed at chain {last_cp['chain_seq']} ({last_cp['at']}) by {subject}"
        + (
            ""
            if pinned
            else "; the seal was checked against its own certificate: pass --seal-cert "
            "with the axis's certificate to pin it"
        ),
        document_id,
        len(entries) - redacted,
        redacted,
        checkpoints,
        subject,
        fp,
        pinned,
    )


# ---------------------------------------------------------------- sealed batches of statuses
#
# A status the axis writes for a recipient (01, arrived) is sealed in a batch: the axis signs one
# sealed JSON {"type": "axis.status.batch", "root", "size", "at"} whose root is a Merkle tree's
# (signing.merkle) over the batch's Status packages, exactly as stored and served, and each status
# carries its path up to that root.

STATUS_BATCH_TYPE = "axis.status.batch"
STATUS_SEAL_TYPE = "axis.status.seal"
STATUS_SEAL_VERSION = 1
STATUS_SEAL_HASHING = {
    "leaf": "SHA-256 of the byte 0x00 followed by the package's bytes",
    **merkle.HASHING,
}


def status_seal_document(
    *,
    document_id: str,
    responds_to: str,
    package_sha256: str,
    leaf: str,
    index: int,
    path: list[dict[str, str]],
    batch: dict[str, Any],
) -> dict[str, Any]:
    """What an agency receives for a status sealed in a batch (GET /v1/documents/{id}/seal)."""
    return {
        "type": STATUS_SEAL_TYPE,
        "version": STATUS_SEAL_VERSION,
        "document_id": document_id,
        "responds_to": responds_to,
        "package_sha256": package_sha256,
        "leaf": leaf,
        "index": index,
        "path": path,
        "hashing": STATUS_SEAL_HASHING,
        "batch": batch,
    }


def check_status_seal(
    doc: Any,
    package: bytes | None,
    seal_cert: x509.Certificate | signing.TrustStore | None,
) -> ProofCheck:
    """Check offline a status's batch seal: the package's leaf (when the package is given), its
    path up to the root, and the axis's signature over the root."""
    pinned = seal_cert is not None

    def bad(message: str) -> ProofCheck:
        return ProofCheck(False, message, seal_pinned=pinned)

    try:
        if not isinstance(doc, dict) or doc.get("type") != STATUS_SEAL_TYPE:
            return bad(f"this is not a status seal (type {STATUS_SEAL_TYPE!r} expected)")
        if doc.get("version") != STATUS_SEAL_VERSION:
            return bad(f"unknown status seal version {doc.get('version')!r}")
        document_id = str(doc["document_id"])
        payload, why = seal_problem(doc["batch"], seal_cert)
        if payload is None:
            return bad(f"the batch's seal does not hold ({why})")
        if payload.get("type") != STATUS_BATCH_TYPE:
            return bad("the sealed payload is not a batch of statuses")
        leaf = str(doc["leaf"])
        if package is not None:
            if hashlib.sha256(package).hexdigest() != doc["package_sha256"]:
                return bad("the package is not the one sealed: its SHA-256 differs")
            if leaf_hash(package) != leaf:
                return bad("the package is not the one sealed: its leaf hash differs")
        path = doc["path"]
        if not isinstance(path, list):
            return bad("the path is not a list")
        if root_from_path(leaf, path) != payload.get("root"):
            return bad(
                "the path does not lead to the sealed root: the status or its path was altered"
            )
        cert = x509.load_pem_x509_certificate(str(doc["batch"]["certificate"]).encode())
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return bad(f"the status seal is malformed: {type(exc).__name__}: {exc}")
    subject = cert.subject.rfc4514_string()
    what = "the package" if package is not None else f"a package of SHA-256 {doc['package_sha256']}"
    return ProofCheck(
        True,
        f"status {document_id}: {what} is leaf {doc['index']} of a batch of {payload.get('size')} "
        f"sealed at {payload.get('at')} by {subject}"
        + ("" if package is not None else " (pass the package to check its bytes)")
        + (
            ""
            if pinned
            else "; the seal was checked against its own certificate: pass --seal-cert "
            "with the axis's certificate to pin it"
        ),
        document_id,
        1,
        0,
        None,
        subject,
        signing.fingerprint(cert),
        pinned,
    )
