"""The common profile's own check (signing.xmldsig._verify_profile, one parse, no copy of the
letter) against signxml as the reference: on the same input both accept with the same signed
content, or both refuse with the same code."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from signing import SignatureError, TrustStore, verify, xmldsig
from tests.signing.support import DS, NS, PKI, Signer, letter, signed_letter, tree

C14N = [
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS,
    CanonicalizationMethod.CANONICAL_XML_1_0,
    CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS,
]


def sign_with(
    document: bytes,
    signer: Signer,
    c14n: CanonicalizationMethod,
    method: SignatureMethod = SignatureMethod.RSA_SHA256,
) -> bytes:
    """Signed by signxml itself with another canonicalisation than `signing.sign` uses."""
    root = etree.fromstring(document)
    header = root.find(f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader")
    assert header is not None
    etree.SubElement(header, f"{{{DS}}}Signature", nsmap={None: DS}, Id="placeholder")  # type: ignore[dict-item]
    xml_signer = XMLSigner(
        signature_algorithm=method, digest_algorithm=DigestAlgorithm.SHA256, c14n_algorithm=c14n
    )
    xml_signer.namespaces = {None: DS}  # type: ignore[dict-item]
    out = xml_signer.sign(root, key=signer.key, cert=signer.chain)
    return etree.tostring(out, xml_declaration=True, encoding="UTF-8")


def outcome(data: bytes, trust: TrustStore, *, profile: bool) -> tuple[str, Any]:
    """("accepted", the signed content in canonical form) or ("refused", the code)."""
    original = xmldsig._in_profile
    if not profile:
        xmldsig._in_profile = lambda signature: False  # type: ignore[assignment]
    try:
        verified = verify(data, trust)
    except SignatureError as exc:
        return "refused", exc.code
    finally:
        xmldsig._in_profile = original  # type: ignore[assignment]
    # A copy of the element alone: lxml's c14n of a root element that has a processing
    # instruction beside it writes redundant xmlns="" declarations (same names, same namespaces).
    return "accepted", etree.tostring(copy.deepcopy(verified.signed_element), method="c14n")


def in_profile(data: bytes) -> bool:
    root = tree(data)
    return xmldsig._in_profile(root.find(f".//{{{DS}}}Signature"))


def assert_same(data: bytes, trust: TrustStore) -> tuple[str, Any]:
    ours = outcome(data, trust, profile=True)
    assert ours == outcome(data, trust, profile=False)
    return ours


@pytest.mark.parametrize("c14n", C14N, ids=lambda c: c.name)
@pytest.mark.parametrize(
    "method", [SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA512, SignatureMethod.ECDSA_SHA256]
)
def test_each_canonicalisation_and_method_of_the_profile_agrees_with_signxml(
    pki: PKI, trust: TrustStore, c14n: CanonicalizationMethod, method: SignatureMethod
) -> None:
    signer = pki.g22_ec if method.name.startswith("ECDSA") else pki.g22
    # A comment inside a signed text: signed by the WithComments methods, not by the others.
    document = letter(subject="Về việc <!-- ghi chú --> triển khai").replace(
        b"&lt;!-- ghi ch\xc3\xba --&gt;", b"<!-- ghi ch\xc3\xba -->"
    )
    assert b"<!-- ghi" in document
    data = sign_with(document, signer, c14n, method)
    assert in_profile(data)
    first = assert_same(data, trust)
    if not c14n.name.startswith("EXCLUSIVE"):
        # Inclusive canonicalisation takes in the namespaces the edXML header inherits, which
        # signxml's signer leaves out: its signature fails under signxml's verifier too.
        assert first[0] == "refused"
        return
    assert first[0] == "accepted"
    # A comment added after signing splits a text: refused under WithComments, unread otherwise.
    forged = data.replace("triển khai".encode(), "triển<!-- x --> khai".encode(), 1)
    assert forged != data
    result = assert_same(forged, trust)
    if c14n.name.endswith("WITH_COMMENTS"):
        assert result == ("refused", "digest_mismatch")
    else:
        assert result[0] == "accepted" and "triển khai".encode() in result[1]
    # The signed bytes altered, the signature altered: the same refusals.
    assert assert_same(data.replace("triển".encode(), b"trien", 1), trust) == (
        "refused",
        "digest_mismatch",
    )
    value = tree(data).find(f".//{{{DS}}}SignatureValue")
    assert value is not None and value.text
    altered = data.replace(value.text[:8].encode(), b"AAAAAAAA", 1)
    assert assert_same(altered, trust)[0] == "refused"


def test_a_signature_outside_the_profile_is_left_to_signxml(pki: PKI, trust: TrustStore) -> None:
    data = sign_with(
        letter(),
        pki.g22,
        CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        SignatureMethod.SHA256_RSA_MGF1,
    )
    assert not in_profile(data)
    assert verify(data, trust).organ_id == "000.00.00.G22"


def test_a_tree_not_handed_over_is_left_as_it_was(pki: PKI, trust: TrustStore) -> None:
    root = tree(signed_letter(pki.g22))
    before = etree.tostring(root)
    verified = verify(root, trust)
    assert etree.tostring(root) == before
    assert verified.signed_element.find(f".//{{{DS}}}Signature") is None
    handed = verify(root, trust, own_tree=True)
    assert handed.signed_element is root and root.find(f".//{{{DS}}}Signature") is None


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_changed_byte_gets_the_same_answer_from_both(
    pki: PKI, trust: TrustStore, data: st.DataObject
) -> None:
    c14n = data.draw(st.sampled_from(C14N), label="c14n")
    original = sign_with(letter(timestamp="2026/01/15 09:30:00"), pki.g22, c14n)
    position = data.draw(st.integers(min_value=0, max_value=len(original) - 1), label="position")
    value = data.draw(st.integers(min_value=0, max_value=255), label="byte")
    assert_same(original[:position] + bytes([value]) + original[position + 1 :], trust)


@pytest.mark.parametrize("c14n", C14N)
def test_a_namespace_that_is_no_absolute_uri_is_refused_by_both_not_a_crash(
    pki: PKI, trust: TrustStore, c14n: CanonicalizationMethod
) -> None:
    # Found by the byte-changing test: "http!//…" cannot be canonicalised (lxml raises).
    original = sign_with(letter(timestamp="2026/01/15 09:30:00"), pki.g22, c14n)
    broken = original.replace(b'xmlns="http://www.mic.gov.vn', b'xmlns="http!//www.mic.gov.vn', 1)
    assert broken != original
    # (malformed under exclusive c14n; under inclusive c14n the signature itself no longer holds)
    assert assert_same(broken, trust)[0] == "refused"
