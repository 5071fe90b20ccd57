"""Which organ a certificate states, wherever a CA wrote it, and how a signer is bound to the
agency a letter names: the registry first, the organ id in the certificate as an extra check."""

from __future__ import annotations

import pytest
from cryptography import x509

from signing import (
    SignatureError,
    bind_signer,
    describe,
    fingerprint,
    is_personal,
    organ_codes,
    parse_places,
)
from signing.devca import DevCA
from tests.signing.support import G22, H10, PKI

NAME = "Bộ Thông tin và Truyền thông"


def cert(ca: DevCA, organ_in: str = "uid", **kwargs: object) -> x509.Certificate:
    return ca.issue(G22, NAME, organ_in=organ_in, key_type="ec", **kwargs).certificate  # type: ignore[arg-type]


def refusal(*args: object, **kwargs: object) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        bind_signer(*args, **kwargs)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("organ_in", "place"),
    [("uid", "UID"), ("ou", "OU"), ("serial", "serialNumber"), ("san", "subjectAltName URI")],
)
def test_organ_code_is_found_in_each_place_a_ca_may_write_it(
    pki: PKI, organ_in: str, place: str
) -> None:
    stated = organ_codes(cert(pki.ca, organ_in))
    assert stated.code == G22
    assert stated.sentence() == f"certificate carries organ code {G22} in {place}"


def test_a_tax_code_in_uid_is_not_an_organ_code(pki: PKI) -> None:
    stated = organ_codes(cert(pki.ca, "none", uid="MST:0100109106"))
    assert stated.code is None and stated.found == ()
    assert stated.sentence() == (
        "certificate carries no organ code (looked in UID, OU, serialNumber, subjectAltName URI): "
        "on the axis the registry decides"
    )


def test_a_tax_code_beside_the_organ_code_in_uid_leaves_the_organ_code(pki: PKI) -> None:
    assert organ_codes(cert(pki.ca, "uid", uid="MST:0100109106")).code == G22


def test_mdd_prefix_is_tolerated(pki: PKI) -> None:
    issued = pki.ca.issue(f"MĐĐ:{G22}", NAME, organ_in="ou", key_type="ec").certificate
    assert organ_codes(issued).code == G22


def test_places_not_in_the_setting_are_not_looked_at(pki: PKI) -> None:
    in_ou = cert(pki.ca, "ou")
    stated = organ_codes(in_ou, parse_places("uid,san-uri"))
    assert stated.code is None
    assert stated.looked_in == ("UID", "subjectAltName URI")


def test_two_places_naming_different_organ_codes_are_reported_and_refused(pki: PKI) -> None:
    two = pki.ca.issue(G22, NAME, organ_in="ou", uid=H10, key_type="ec").certificate
    stated = organ_codes(two)
    assert stated.conflicting and stated.code is None
    assert stated.sentence() == (
        f"certificate names different organ codes: {H10} in UID, {G22} in OU"
    )
    refused = refusal(two, G22, {fingerprint(two)})
    assert refused.code == "organ_code_conflict"
    assert f"{H10} in UID" in refused.message and f"{G22} in OU" in refused.message


def test_setting_accepts_any_case_and_none_and_refuses_unknown_places() -> None:
    assert parse_places("UID, serialNumber,SAN-URI") == ("uid", "serialnumber", "san-uri")
    assert parse_places("none") == ()
    with pytest.raises(ValueError, match="'cn' is not a place"):
        parse_places("uid,cn")
    with pytest.raises(ValueError, match="names no place"):
        parse_places(" , ")


# -- binding ------------------------------------------------------------------------------------


def test_registered_certificate_without_organ_code_binds_its_agency(pki: PKI) -> None:
    bare = cert(pki.ca, "none", uid="MST:0100109106")
    assert bind_signer(bare, G22, {fingerprint(bare)}) == "registry"


@pytest.mark.parametrize("organ_in", ["uid", "ou", "serial", "san"])
def test_registered_certificate_stating_another_organ_is_refused_naming_both(
    pki: PKI, organ_in: str
) -> None:
    other = pki.ca.issue(H10, "Văn phòng Chính phủ", organ_in=organ_in, key_type="ec").certificate  # type: ignore[arg-type]
    refused = refusal(other, G22, {fingerprint(other)})
    assert refused.code == "signer_not_organ"
    assert G22 in refused.message and H10 in refused.message
    assert organ_codes(other).found[0].place in refused.message


def test_certificate_registered_to_another_agency_is_refused_naming_it(pki: PKI) -> None:
    bare = cert(pki.ca, "none")
    refused = refusal(bare, H10, set(), registered_to_others=[G22])
    assert refused.code == "certificate_of_another_agency"
    assert (
        f"claims to come from {H10}" in refused.message
        and f"registered to {G22}" in refused.message
    )


def test_agency_with_certificates_refuses_an_unregistered_one_even_with_its_organ_code(
    pki: PKI,
) -> None:
    refused = refusal(cert(pki.ca, "uid"), G22, {"00" * 32})
    assert refused.code == "certificate_not_registered"
    assert f"axis agency add-cert {G22}" in refused.message


def test_agency_without_certificates_is_bound_by_the_organ_code_wherever_it_is(pki: PKI) -> None:
    for organ_in in ("uid", "ou", "serial", "san"):
        assert bind_signer(cert(pki.ca, organ_in), G22, set()) == "organ_code"


def test_agency_without_certificates_refuses_a_certificate_without_organ_code(pki: PKI) -> None:
    refused = refusal(cert(pki.ca, "none"), G22, set())
    assert refused.code == "certificate_not_registered"
    assert "carries no organ code" in refused.message
    assert f"axis agency add-cert {G22}" in refused.message


def test_without_a_registry_a_certificate_without_organ_code_still_verifies(pki: PKI) -> None:
    assert bind_signer(cert(pki.ca, "none"), G22, None) == "organ_code_only"
    assert refusal(cert(pki.ca, "ou"), H10, None).code == "signer_not_organ"


def test_personal_certificate_with_the_organ_code_in_ou_is_still_personal(pki: PKI) -> None:
    person = pki.ca.issue(G22, NAME, person="Nguyễn Văn A", organ_in="ou", key_type="ec")
    assert is_personal(person.certificate)
    assert describe(person.certificate) == f"Nguyễn Văn A ({G22})"
    assert (
        organ_codes(person.certificate).sentence() == f"certificate carries organ code {G22} in OU"
    )
