"""signing.seal.SignerCache: the verdict on a signer's certificate and chain kept by a process that
checks the same signers again and again, never kept past what it was worth (a certificate that
expired, one revoked since, another trust store)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from signing import Seal, SignatureError, TrustStore
from signing.devca import DevCA
from signing.keys import fingerprint, load_certificates, load_private_key
from signing.seal import SignerCache, canonical_json, verified_signer
from tests.signing.support import G22, PKI


def _seal_of(issued: Any) -> Seal:
    return Seal(load_private_key(issued.key_path), load_certificates(issued.cert_path))


def _sealed(seal: Seal, n: int = 1) -> dict[str, Any]:
    # As it travels: parsed from JSON, as the hub reads a ballot.
    return json.loads(json.dumps(seal.sign_json({"ballot": n, "answer": "Đồng ý"})))


def _trust_of(ca: DevCA, folder: Path) -> TrustStore:
    """The CA's root and its current CRLs in a trust folder, read as the hub reads it."""
    folder.mkdir(exist_ok=True)
    shutil.copy(ca.root_path, folder / "root.pem")
    (folder / "crl").mkdir(exist_ok=True)
    for crl in (ca.directory / "crl").glob("*.crl"):
        shutil.copy(crl, folder / "crl" / crl.name)
    return TrustStore.from_directory(folder)


def _code(call: Any) -> str:
    with pytest.raises(SignatureError) as caught:
        call()
    return caught.value.code


def test_a_known_signer_costs_its_signature_alone_and_answers_as_the_full_check(pki: PKI) -> None:
    trust, cache = pki.trust(), SignerCache()
    seal = Seal(pki.g22_ec.key, pki.g22_ec.chain)
    for n in range(3):
        doc = _sealed(seal, n)
        payload, cert, signer = cache.verified_signer(doc, trust)
        assert (payload, cert) == verified_signer(doc, trust)
        assert signer == fingerprint(pki.g22_ec.certificate)
    assert len(cache) == 1
    # The bytes given as the payload's canonical JSON are the ones checked.
    doc = _sealed(seal, 7)
    cache.verified_signer(doc, trust, data=canonical_json(doc["payload"]))
    assert _code(lambda: cache.verified_signer(doc, trust, data=b'{"ballot":8}')) == "seal_invalid"


def test_a_known_signer_still_gets_every_document_checked(pki: PKI) -> None:
    trust, cache = pki.trust(), SignerCache()
    seal = Seal(pki.g22_ec.key, pki.g22_ec.chain)
    cache.verified_signer(_sealed(seal), trust)
    altered = _sealed(seal, 2)
    altered["payload"]["answer"] = "Không đồng ý"
    assert _code(lambda: cache.verified_signer(altered, trust)) == "seal_invalid"
    broken = _sealed(seal, 3)
    broken["signature"] = "not base64!"
    assert _code(lambda: cache.verified_signer(broken, trust)) == "seal_invalid"
    unknown_alg = _sealed(seal, 4)
    unknown_alg["alg"] = "HS256"
    assert _code(lambda: cache.verified_signer(unknown_alg, trust)) == "seal_invalid"
    # Refusals are never kept: an untrusted signer is refused every time, with its reason.
    foreign = _sealed(Seal(pki.foreign.key, pki.foreign.chain))
    expected = _code(lambda: verified_signer(foreign, trust))
    assert expected.startswith("untrusted_")
    for _ in range(2):
        assert _code(lambda: cache.verified_signer(foreign, trust)) == expected
    assert len(cache) == 1


def test_a_known_certificate_is_refused_once_it_expired_or_before_it_began(
    tmp_path: Path,
) -> None:
    ca = DevCA.init(tmp_path / "ca", name="Short-lived CA")
    now = datetime.now(UTC)
    issued = ca.issue(G22, "Bộ Thông tin và Truyền thông", key_type="ec", days=20)
    trust, cache = _trust_of(ca, tmp_path / "trust"), SignerCache()
    seal = _seal_of(issued)
    cache.verified_signer(_sealed(seal), trust)
    assert len(cache) == 1
    later = now + timedelta(days=25)
    assert _code(lambda: cache.verified_signer(_sealed(seal), trust, at=later)) == (
        "certificate_expired"
    )
    earlier = now - timedelta(days=3)
    assert _code(lambda: cache.verified_signer(_sealed(seal), trust, at=earlier)) == (
        "certificate_not_yet_valid"
    )
    cache.verified_signer(_sealed(seal), trust, at=now + timedelta(days=10))


def _revocable(tmp_path: Path) -> tuple[DevCA, Any, Path, Any, SignerCache, Any]:
    """A CA that will revoke, its member's certificate, the trust folder and store, a cache that
    already holds the member's verdict, and the member's seal."""
    ca = DevCA.init(tmp_path / "ca", name="Revoking CA")
    issued = ca.issue(G22, "Bộ Thông tin và Truyền thông", key_type="ec")
    folder = tmp_path / "trust"
    trust, cache = _trust_of(ca, folder), SignerCache()
    seal = _seal_of(issued)
    cache.verified_signer(_sealed(seal), trust)
    return ca, issued, folder, trust, cache, seal


def test_a_known_certificate_revoked_since_is_refused(tmp_path: Path) -> None:
    ca, issued, folder, trust, cache, seal = _revocable(tmp_path)
    # Revoked from next week on: the CRL the store already holds names it, so the kept verdict
    # ends then.
    next_week = datetime.now(UTC) + timedelta(days=7)
    ca.revoke(issued.cert_path, reason="key_compromise", when=next_week)
    trust = _trust_of(ca, folder)  # the hub reads its trust folder again after a CRL changed
    cache.verified_signer(_sealed(seal), trust)
    after = next_week + timedelta(hours=1)
    assert _code(lambda: cache.verified_signer(_sealed(seal), trust, at=after)) == (
        "certificate_revoked"
    )


def test_a_new_crl_in_the_trust_folder_ends_every_kept_verdict(tmp_path: Path) -> None:
    ca, issued, folder, trust, cache, seal = _revocable(tmp_path)
    ca.revoke(issued.cert_path, reason="key_compromise")
    # The same store object: it holds the old CRL (the hub has not read the folder again yet),
    # and the certificate still passes, as the full check would say.
    cache.verified_signer(_sealed(seal), trust)
    assert _code(lambda: cache.verified_signer(_sealed(seal), _trust_of(ca, folder))) == (
        "certificate_revoked"
    )
    assert len(cache) == 0


def test_the_cache_keeps_the_most_recently_used_signers_only(pki: PKI) -> None:
    trust, cache = pki.trust(), SignerCache(size=2)
    signers = [Seal(s.key, s.chain) for s in (pki.g22, pki.h10, pki.g22_ec)]
    for seal in signers:
        cache.verified_signer(_sealed(seal), trust)
    assert len(cache) == 2
    for seal in signers:  # the first one, forgotten, is checked in full again and accepted
        cache.verified_signer(_sealed(seal), trust)
    assert len(cache) == 2
