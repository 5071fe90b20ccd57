"""The axis's seal, the development CA and the trust store."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from signing import (
    Seal,
    SignatureError,
    TrustStore,
    describe,
    is_personal,
    organ_id_of,
    verify,
    verify_sealed_json,
)
from signing.devca import DevCA
from tests.signing.support import G22, PKI, letter, signed_letter, signer_of


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> Seal:
    return Seal.generate(tmp_path_factory.mktemp("seal"), "Trục liên thông văn bản (test)")


def test_sealed_receipt_verifies_offline_against_the_pinned_seal_certificate(seal: Seal) -> None:
    receipt = {"document_id": "000.00.00.G22,2026/01/15,7816/BTTTT-VP", "status": "accepted"}
    sealed = seal.sign_json(receipt)
    transported = json.loads(json.dumps(sealed))
    assert verify_sealed_json(transported, seal.certificate) == receipt
    assert verify_sealed_json(transported, TrustStore([seal.certificate])) == receipt


def test_sealed_receipt_whose_payload_was_changed_is_refused(seal: Seal) -> None:
    sealed = seal.sign_json({"status": "accepted", "recipients": ["000.00.00.H10"]})
    sealed["payload"]["status"] = "refused"
    with pytest.raises(SignatureError) as caught:
        verify_sealed_json(sealed, seal.certificate)
    assert caught.value.code == "seal_invalid"


def test_sealed_receipt_from_another_seal_is_refused(seal: Seal, tmp_path: Path) -> None:
    impostor = Seal.generate(tmp_path, "Impostor")
    with pytest.raises(SignatureError) as caught:
        verify_sealed_json(impostor.sign_json({"a": 1}), seal.certificate)
    assert caught.value.code == "seal_invalid"
    with pytest.raises(SignatureError) as caught:
        verify_sealed_json(impostor.sign_json({"a": 1}), TrustStore([seal.certificate]))
    assert caught.value.code == "untrusted_root"


def test_sealed_json_is_signed_over_canonical_json(seal: Seal) -> None:
    sealed = seal.sign_json({"b": "Bộ", "a": [1, 2]})
    assert sealed["alg"] == "ES256"
    assert list(sealed["payload"]) == ["a", "b"]
    with pytest.raises(SignatureError):
        seal.sign_json({"when": object()})


def test_seal_seals_a_legacy_letter_in_place_of_its_placeholder(seal: Seal) -> None:
    sealed = seal.sign_document(letter(placeholder=True))
    verified = verify(sealed, TrustStore([seal.certificate]))
    assert verified.certificate == seal.certificate


def test_seal_load_reads_back_what_generate_wrote(seal: Seal, tmp_path: Path) -> None:
    Seal.generate(tmp_path, "Seal")
    loaded = Seal.load(tmp_path / "seal.key", tmp_path / "seal.crt")
    assert verify_sealed_json(loaded.sign_json({"x": "y"}), loaded.certificate) == {"x": "y"}
    assert stat.S_IMODE((tmp_path / "seal.key").stat().st_mode) == 0o600


def test_dev_ca_writes_keys_readable_only_by_their_owner(pki: PKI) -> None:
    assert stat.S_IMODE(pki.g22.issued.key_path.stat().st_mode) == 0o600
    for key in (pki.directory / "private").iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((pki.directory / "private").stat().st_mode) == 0o700


def test_organ_certificate_carries_the_organ_id_in_subject_uid(pki: PKI) -> None:
    cert = pki.g22.certificate
    assert organ_id_of(cert) == G22
    assert f"UID={G22}" in cert.subject.rfc4514_string()
    assert not is_personal(cert)
    assert describe(cert) == G22


def test_personal_certificate_names_the_person_and_the_organ(pki: PKI) -> None:
    cert = pki.person.certificate
    assert organ_id_of(cert) == G22
    assert is_personal(cert)
    assert describe(cert) == f"Nguyễn Văn A ({G22})"


def test_dev_ca_reopens_and_issues_with_the_same_issuing_ca(pki: PKI) -> None:
    reopened = DevCA.open(pki.directory)
    issued = reopened.issue("000.00.00.A01", "Bộ Ngoại giao", key_type="ec")
    assert issued.certificate.issuer == pki.ca.issuing_cert.subject
    verify(signed_letter(signer_of(issued), sender=issued.organ_id), pki.trust())


def test_dev_ca_refuses_to_overwrite_an_existing_ca(pki: PKI) -> None:
    with pytest.raises(SignatureError) as caught:
        DevCA.init(pki.directory)
    assert caught.value.code == "ca_error"


def test_trust_store_reads_der_certificates_and_ignores_keys_and_organ_certificates(
    pki: PKI, tmp_path: Path
) -> None:
    (tmp_path / "root.cer").write_bytes(pki.ca.root_cert.public_bytes(serialization.Encoding.DER))
    (tmp_path / "stray.key.pem").write_bytes((pki.directory / "private/root-ca.key").read_bytes())
    (tmp_path / "README.txt").write_text("not a certificate")
    (tmp_path / "organ.pem").write_bytes(
        pki.h10.certificate.public_bytes(serialization.Encoding.PEM)
    )
    store = TrustStore.from_directory(tmp_path)
    assert store.anchors == [pki.ca.root_cert]
    assert verify(signed_letter(pki.g22), store).organ_id == G22


def test_trust_store_picks_up_the_crls_the_dev_ca_writes(pki: PKI) -> None:
    store = pki.trust()
    assert {c.issuer for c in store.crls} == {
        pki.ca.root_cert.subject,
        pki.ca.issuing_cert.subject,
    }


def test_trust_store_from_a_missing_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(SignatureError) as caught:
        TrustStore.from_directory(tmp_path / "nowhere")
    assert caught.value.code == "io_error"
