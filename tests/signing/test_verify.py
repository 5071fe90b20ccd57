"""Signing and verifying edXML letters: what passes, and every attack the axis must refuse."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from signing import (
    SignatureError,
    TrustStore,
    check_signer,
    classify,
    fingerprint,
    sign,
    verify,
)
from tests.signing.support import (
    DS,
    G22,
    H10,
    NS,
    PKI,
    detach,
    ds,
    letter,
    raw_sign,
    signed_letter,
    signer_of,
    stamp,
    to_bytes,
    tree,
)


def refused(document: bytes, trust: TrustStore, **kwargs: object) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verify(document, trust, **kwargs)  # type: ignore[arg-type]
    return caught.value


# -- what passes ----------------------------------------------------------------------------------


def test_verify_accepts_letter_signed_by_its_organ(pki: PKI, trust: TrustStore) -> None:
    verified = verify(signed_letter(pki.g22), trust)
    assert verified.organ_id == G22
    assert verified.fingerprint == fingerprint(pki.g22.certificate)
    assert verified.certificate == pki.g22.certificate
    assert [c.subject for c in verified.chain] == [
        pki.g22.certificate.subject,
        pki.ca.issuing_cert.subject,
        pki.ca.root_cert.subject,
    ]
    assert verified.signing_time is not None
    assert abs(verified.signing_time - datetime.now(UTC)) < timedelta(minutes=5)
    check_signer(verified, G22, [pki.g22.issued.fingerprint])


def test_signature_is_last_child_of_header_in_xmldsig_namespace(pki: PKI) -> None:
    root = tree(signed_letter(pki.g22))
    header = ds(root, "e:edXMLEnvelope/e:edXMLHeader")
    last = header[-1]
    assert last.tag == f"{{{DS}}}Signature"
    assert last.nsmap[None] == DS
    assert ds(last, "ds:SignedInfo/ds:Reference").get("URI") == ""
    assert len(last.findall(f".//{{{DS}}}X509Certificate")) == 2  # signer and issuing CA


def test_signed_element_is_the_whole_letter_attachments_included(
    pki: PKI, trust: TrustStore
) -> None:
    verified = verify(signed_letter(pki.g22, attachment=b"ABC"), trust)
    signed = verified.signed_element
    assert etree.QName(signed).localname == "edXML"
    encoded = signed.find(f".//{{{NS}}}ContentTransferEncoded")
    assert encoded is not None and encoded.text == base64.b64encode(b"ABC").decode()
    assert signed.find(f".//{{{DS}}}Signature") is None


def test_verify_accepts_letter_signed_with_ecdsa_p256(pki: PKI, trust: TrustStore) -> None:
    data = signed_letter(pki.g22_ec)
    assert b"ecdsa-sha256" in data
    assert verify(data, trust).organ_id == G22


def test_verify_accepts_personal_certificate_of_a_cabinet_member(
    pki: PKI, trust: TrustStore
) -> None:
    verified = verify(signed_letter(pki.person), trust)
    assert verified.organ_id == G22
    check_signer(verified, G22)


def test_verify_accepts_letter_with_mixed_prefixes_and_crlf_line_endings(
    pki: PKI, trust: TrustStore
) -> None:
    mixed = f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <MessageHeader>
        <edXML:From><OrganId>{G22}</OrganId><edXML:OrganName>Bộ TT&amp;TT</edXML:OrganName></edXML:From>
        <x:To xmlns:x="{NS}"><x:OrganId>{H10}</x:OrganId></x:To>
        <edXML:Subject>Về việc  thử nghiệm</edXML:Subject>
      </MessageHeader>
      <edXML:TraceHeaderList><TraceHeader><OrganId>{G22}</OrganId><edXML:Timestamp>{stamp()}</edXML:Timestamp></TraceHeader></edXML:TraceHeaderList>
    </edXML:edXMLHeader>
    <edXML:edXMLBody/>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded><Attachment><edXML:ContentTransferEncoded xmlns:edXML="{NS}">QUJD
REVG</edXML:ContentTransferEncoded></Attachment></AttachmentEncoded>
</edXML>
""".replace("\n", "\r\n").encode()
    signed = sign(mixed, pki.g22.key, pki.g22.chain)
    assert verify(signed, trust).organ_id == G22
    # and after a transport that turns every line ending into CRLF
    assert b"\r\n" not in signed
    assert verify(signed.replace(b"\n", b"\r\n"), trust).organ_id == G22


def test_sign_replaces_the_placeholder_signature_of_the_reference_sdk(
    pki: PKI, trust: TrustStore
) -> None:
    original = letter(placeholder=True)
    assert classify(original) == "placeholder"
    signed = sign(original, pki.g22.key, pki.g22.chain)
    assert classify(signed) == "xmldsig"
    header = ds(tree(signed), "e:edXMLEnvelope/e:edXMLHeader")
    assert [etree.QName(c).localname for c in header] == [
        "MessageHeader",
        "TraceHeaderList",
        "Signature",
    ]
    assert verify(signed, trust).organ_id == G22


def test_sign_removes_a_placeholder_written_outside_the_header(pki: PKI, trust: TrustStore) -> None:
    root = tree(letter(placeholder=True))
    placeholder = ds(root, ".//e:Signature")
    ds(root, "e:edXMLEnvelope").append(placeholder)
    signed = sign(to_bytes(root), pki.g22.key, pki.g22.chain)
    assert b"rsa-sha1" not in signed
    assert verify(signed, trust).organ_id == G22


def test_sign_leaves_the_callers_tree_untouched(pki: PKI, trust: TrustStore) -> None:
    root = tree(letter())
    before = etree.tostring(root)
    signed = sign(root, pki.g22.key, pki.g22.chain)
    assert etree.tostring(root) == before
    assert verify(tree(signed), trust).organ_id == G22


def test_classify_tells_real_placeholder_and_missing_signatures(pki: PKI) -> None:
    assert classify(letter()) == "none"
    assert classify(letter(placeholder=True)) == "placeholder"
    assert classify(signed_letter(pki.g22)) == "xmldsig"


def test_verify_at_a_past_moment_accepts_a_certificate_that_has_since_expired(
    pki: PKI, trust: TrustStore
) -> None:
    issued = pki.expired.certificate.not_valid_before_utc + timedelta(days=1)
    data = signed_letter(pki.expired, timestamp=stamp(issued))
    assert verify(data, trust, at=issued + timedelta(hours=1)).organ_id == G22


# -- refusals: structure --------------------------------------------------------------------------


def test_verify_refuses_letter_without_signature(trust: TrustStore) -> None:
    assert refused(letter(), trust).code == "no_signature"


def test_verify_refuses_letter_whose_signature_was_stripped(pki: PKI, trust: TrustStore) -> None:
    root = tree(signed_letter(pki.g22))
    signature = ds(root, ".//ds:Signature")
    detach(signature)
    assert refused(to_bytes(root), trust).code == "no_signature"


def test_verify_reports_placeholder_signature_as_its_own_reason(trust: TrustStore) -> None:
    error = refused(letter(placeholder=True), trust)
    assert error.code == "placeholder_signature"
    assert "legacy" in error.message


def test_verify_refuses_letter_with_two_signatures(pki: PKI, trust: TrustStore) -> None:
    first = tree(signed_letter(pki.g22))
    second = tree(signed_letter(pki.h10))
    header = ds(first, "e:edXMLEnvelope/e:edXMLHeader")
    header.append(copy.deepcopy(ds(second, ".//ds:Signature")))
    assert refused(to_bytes(first), trust).code == "multiple_signatures"


def test_verify_refuses_second_root_level_copy_of_the_signature(
    pki: PKI, trust: TrustStore
) -> None:
    root = tree(signed_letter(pki.g22))
    root.append(copy.deepcopy(ds(root, ".//ds:Signature")))
    assert refused(to_bytes(root), trust).code == "multiple_signatures"


def test_verify_refuses_signature_moved_out_of_the_header(pki: PKI, trust: TrustStore) -> None:
    root = tree(signed_letter(pki.g22))
    root.append(ds(root, ".//ds:Signature"))
    assert refused(to_bytes(root), trust).code == "signature_misplaced"


def test_verify_refuses_real_signature_beside_a_placeholder(pki: PKI, trust: TrustStore) -> None:
    root = tree(signed_letter(pki.g22))
    placeholder = ds(tree(letter(placeholder=True)), ".//e:Signature")
    ds(root, "e:edXMLEnvelope/e:edXMLHeader").insert(0, placeholder)
    assert refused(to_bytes(root), trust).code == "multiple_signatures"


def test_verify_refuses_a_doctype(pki: PKI, trust: TrustStore) -> None:
    data = signed_letter(pki.g22)
    body = data.split(b"?>", 1)[1]
    evil = b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + body
    assert refused(evil, trust).code == "doctype_forbidden"


def test_verify_refuses_garbage(trust: TrustStore) -> None:
    assert refused(b"<edXML><unclosed>", trust).code == "malformed_xml"


# -- refusals: wrapping and tampering -------------------------------------------------------------


def test_verify_refuses_letter_whose_text_was_changed_after_signing(
    pki: PKI, trust: TrustStore
) -> None:
    data = signed_letter(pki.g22)
    tampered = data.replace("triển khai".encode(), "hủy bỏ".encode())
    assert tampered != data
    assert refused(tampered, trust).code == "digest_mismatch"


def test_verify_refuses_letter_whose_attachment_was_changed_after_signing(
    pki: PKI, trust: TrustStore
) -> None:
    root = tree(signed_letter(pki.g22, attachment=b"pay 100 dong"))
    encoded = ds(root, ".//e:ContentTransferEncoded")
    encoded.text = base64.b64encode(b"pay 900 dong").decode()
    assert refused(to_bytes(root), trust).code == "digest_mismatch"


def test_verify_refuses_letter_with_an_attachment_added_after_signing(
    pki: PKI, trust: TrustStore
) -> None:
    root = tree(signed_letter(pki.g22))
    encoded = ds(root, "e:AttachmentEncoded")
    encoded.append(copy.deepcopy(encoded[0]))
    assert refused(to_bytes(root), trust).code == "digest_mismatch"


def test_verify_refuses_forged_recipient_inserted_after_signing(
    pki: PKI, trust: TrustStore
) -> None:
    root = tree(signed_letter(pki.g22))
    message = ds(root, ".//e:MessageHeader")
    forged = copy.deepcopy(ds(message, "e:To"))
    ds(forged, "e:OrganId").text = "000.00.00.X99"
    message.insert(2, forged)
    assert refused(to_bytes(root), trust).code == "digest_mismatch"


def test_verify_refuses_signed_envelope_moved_behind_a_forged_one(
    pki: PKI, trust: TrustStore
) -> None:
    root = tree(signed_letter(pki.g22))
    original = ds(root, "e:edXMLEnvelope")
    forged = copy.deepcopy(original)
    ds(forged, ".//e:Subject").text = "Chuyển tiền gấp"
    # the original (without its signature) hides in a wrapper; the forged one takes its place
    for signature in original.iter(f"{{{DS}}}Signature"):
        detach(signature)
    wrapper = etree.Element(f"{{{NS}}}Wrapper")
    wrapper.append(original)
    root.insert(0, forged)
    root.append(wrapper)
    assert refused(to_bytes(root), trust).code == "digest_mismatch"


def test_verify_refuses_signed_letter_wrapped_inside_a_forged_one(
    pki: PKI, trust: TrustStore
) -> None:
    genuine = tree(signed_letter(pki.g22))
    forged = tree(letter(subject="Chuyển tiền gấp"))
    header = ds(forged, "e:edXMLEnvelope/e:edXMLHeader")
    header.append(copy.deepcopy(ds(genuine, ".//ds:Signature")))
    object_ = etree.SubElement(ds(header, "ds:Signature"), f"{{{DS}}}Object")
    object_.append(genuine)
    error = refused(to_bytes(forged), trust)
    assert error.code == "multiple_signatures"


def test_verify_refuses_altered_signed_info(pki: PKI, trust: TrustStore) -> None:
    root = tree(signed_letter(pki.g22))
    digest = ds(root, ".//ds:DigestValue")
    digest.text = base64.b64encode(b"\0" * 32).decode()
    assert refused(to_bytes(root), trust).code == "signature_invalid"


# -- refusals: references, algorithms, keys -------------------------------------------------------


def test_verify_refuses_reference_to_an_external_uri(pki: PKI, trust: TrustStore) -> None:
    root = tree(signed_letter(pki.g22))
    ds(root, ".//ds:Reference").set("URI", "http://example.org/letter.xml")
    assert refused(to_bytes(root), trust).code == "external_reference"


def test_verify_refuses_signature_covering_only_a_sub_element(pki: PKI, trust: TrustStore) -> None:
    root = tree(letter())
    ds(root, ".//e:MessageHeader").set("Id", "msg")
    data = raw_sign(to_bytes(root), pki.g22, reference_uri="#msg")
    assert refused(data, trust).code == "partial_reference"


def test_verify_refuses_signature_with_two_references(pki: PKI, trust: TrustStore) -> None:
    root = tree(signed_letter(pki.g22))
    reference = ds(root, ".//ds:Reference")
    reference.addnext(copy.deepcopy(reference))
    assert refused(to_bytes(root), trust).code == "wrong_reference_count"


def test_verify_refuses_sha1_signature(pki: PKI, trust: TrustStore) -> None:
    data = raw_sign(letter(), pki.g22, method=SignatureMethod.RSA_SHA1, digest=DigestAlgorithm.SHA1)
    error = refused(data, trust)
    assert error.code == "weak_algorithm"
    assert "sha1" in error.message


def test_verify_refuses_sha1_digest_under_a_sha256_signature(pki: PKI, trust: TrustStore) -> None:
    data = raw_sign(letter(), pki.g22, digest=DigestAlgorithm.SHA1)
    assert refused(data, trust).code == "weak_algorithm"


def test_verify_refuses_unknown_transform(pki: PKI, trust: TrustStore) -> None:
    root = tree(signed_letter(pki.g22))
    transform = ds(root, ".//ds:Transform")
    transform.addnext(
        etree.Element(f"{{{DS}}}Transform", Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116")
    )
    assert refused(to_bytes(root), trust).code == "bad_transform"


def test_verify_refuses_rsa_1024(pki: PKI, trust: TrustStore) -> None:
    error = refused(raw_sign(letter(), pki.weak), trust)
    assert error.code == "weak_key"
    assert "1024" in error.message


def test_sign_refuses_rsa_1024(pki: PKI) -> None:
    with pytest.raises(SignatureError) as caught:
        sign(letter(), pki.weak.key, pki.weak.chain)
    assert caught.value.code == "weak_key"


def test_verify_refuses_keyinfo_certificate_that_did_not_make_the_signature(
    pki: PKI, trust: TrustStore
) -> None:
    root = tree(signed_letter(pki.g22))
    other = signed_letter(pki.h10)
    ds(root, ".//ds:X509Certificate").text = ds(tree(other), ".//ds:X509Certificate").text
    error = refused(to_bytes(root), trust)
    assert error.code == "key_mismatch"


@pytest.mark.parametrize("other_kind", ["ec", "rsa"])
def test_verify_refuses_ecdsa_signature_with_a_foreign_keyinfo_certificate(
    pki: PKI, trust: TrustStore, other_kind: str
) -> None:
    root = tree(signed_letter(pki.g22_ec))
    other = signer_of(pki.ca.issue(H10, "Văn phòng Chính phủ", key_type=other_kind))  # type: ignore[arg-type]
    ds(root, ".//ds:X509Certificate").text = ds(
        tree(signed_letter(other)), ".//ds:X509Certificate"
    ).text
    assert refused(to_bytes(root), trust).code == "key_mismatch"


def test_sign_refuses_a_key_that_is_not_the_certificates(pki: PKI) -> None:
    with pytest.raises(SignatureError) as caught:
        sign(letter(), pki.h10.key, pki.g22.chain)
    assert caught.value.code == "bad_key"


def test_sign_refuses_a_letter_that_is_already_signed(pki: PKI) -> None:
    with pytest.raises(SignatureError) as caught:
        sign(signed_letter(pki.g22), pki.g22.key, pki.g22.chain)
    assert caught.value.code == "already_signed"


# -- refusals: trust -------------------------------------------------------------------------------


def test_verify_refuses_expired_certificate_naming_organ_and_date(
    pki: PKI, trust: TrustStore
) -> None:
    error = refused(signed_letter(pki.expired), trust)
    assert error.code == "certificate_expired"
    expiry = pki.expired.certificate.not_valid_after_utc + timedelta(hours=7)
    assert G22 in error.message
    assert expiry.strftime("%Y-%m-%d") in error.message


def test_verify_refuses_certificate_not_yet_valid(pki: PKI, trust: TrustStore) -> None:
    error = refused(signed_letter(pki.future), trust)
    assert error.code == "certificate_not_yet_valid"
    assert G22 in error.message


def test_a_certificate_judged_hours_before_it_begins_is_refused_naming_both_times(
    pki: PKI, trust: TrustStore
) -> None:
    # The same day in Vietnam: dates alone would read "valid only from D, not on D".
    begins = pki.future.certificate.not_valid_before_utc
    error = refused(signed_letter(pki.future), trust, at=begins - timedelta(seconds=5))
    assert error.code == "certificate_not_yet_valid"
    first, second = (begins + timedelta(hours=7), begins + timedelta(hours=7, seconds=-5))
    if first.date() != second.date():
        pytest.skip("the certificate begins in the first seconds of a day in Vietnam")
    assert first.strftime("%Y-%m-%d %H:%M:%S") in error.message
    assert second.strftime("%H:%M:%S") in error.message


def test_verify_accepts_letter_stamped_before_its_certificate_began(
    pki: PKI, trust: TrustStore
) -> None:
    # letters are drafted and stamped, then signed: an old stamp with a new certificate is normal
    long_ago = datetime.now(UTC) - timedelta(days=700)
    verified = verify(signed_letter(pki.g22, timestamp=stamp(long_ago)), trust)
    assert verified.signing_time is not None
    assert verified.signing_time < pki.g22.certificate.not_valid_before_utc


def test_verify_refuses_letter_stamped_after_its_certificate_expired(
    pki: PKI, trust: TrustStore
) -> None:
    certificate = pki.expired.certificate
    stamped = certificate.not_valid_after_utc + timedelta(days=5)
    judged_at = certificate.not_valid_after_utc - timedelta(days=1)
    error = refused(signed_letter(pki.expired, timestamp=stamp(stamped)), trust, at=judged_at)
    assert error.code == "certificate_expired"
    assert "when the letter was signed" in error.message


def test_verify_refuses_revoked_certificate(pki: PKI) -> None:
    doomed = signer_of(pki.ca.issue(G22, "Bộ Thông tin và Truyền thông"))
    data = signed_letter(doomed)
    assert verify(data, pki.trust()).organ_id == G22
    pki.ca.revoke(doomed.issued.cert_path, reason="key_compromise")
    error = refused(data, pki.trust())
    assert error.code == "certificate_revoked"
    assert "keyCompromise" in error.message


def test_verify_refuses_certificate_from_an_untrusted_root(pki: PKI, trust: TrustStore) -> None:
    foreign = pki.foreign
    chain = [*foreign.chain, pki.foreign_ca.root_cert]
    data = sign(letter(), foreign.key, chain)
    assert refused(data, trust).code == "untrusted_root"


def test_verify_refuses_certificate_whose_chain_cannot_be_built(
    pki: PKI, trust: TrustStore
) -> None:
    assert refused(signed_letter(pki.foreign), trust).code == "untrusted_chain"


def test_verify_refuses_letter_whose_keyinfo_lacks_the_intermediate(
    pki: PKI, trust: TrustStore
) -> None:
    root = tree(signed_letter(pki.g22))
    certs = root.findall(f".//{{{DS}}}X509Certificate")
    detach(certs[1])
    assert refused(to_bytes(root), trust).code == "untrusted_chain"


def test_verify_refuses_certificate_without_digital_signature_usage(
    pki: PKI, trust: TrustStore
) -> None:
    assert refused(signed_letter(pki.no_signing_usage), trust).code == "key_usage"


# -- organ binding --------------------------------------------------------------------------------


def test_check_signer_refuses_letter_signed_by_another_organs_certificate(
    pki: PKI, trust: TrustStore
) -> None:
    verified = verify(signed_letter(pki.h10, sender=G22), trust)
    with pytest.raises(SignatureError) as caught:
        check_signer(verified, G22)
    assert caught.value.code == "signer_not_organ"
    assert H10 in caught.value.message


def test_check_signer_refuses_certificate_the_agency_did_not_register(
    pki: PKI, trust: TrustStore
) -> None:
    verified = verify(signed_letter(pki.g22_ec), trust)
    with pytest.raises(SignatureError) as caught:
        check_signer(verified, G22, [pki.g22.issued.fingerprint])
    assert caught.value.code == "certificate_not_registered"


def test_check_signer_accepts_fingerprints_written_with_colons(pki: PKI, trust: TrustStore) -> None:
    verified = verify(signed_letter(pki.g22), trust)
    fp = verified.fingerprint.upper()
    colons = ":".join(fp[i : i + 2] for i in range(0, len(fp), 2))
    check_signer(verified, G22, [colons])
