"""Enveloped XML-DSig signatures on edXML packages: sign, verify, and tell real from placeholder.

The signature is `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">`, the last child of
`edXML:edXMLHeader`, with one `Reference URI=""` (enveloped-signature transform, exclusive c14n)
so it covers the whole `<edXML>` document, attachments included, and the signer's certificate
chain in `KeyInfo/X509Data`. Verification refuses anything else, then hands back only the element
the signature covers: callers must read the letter from `VerifiedSignature.signed_element`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from signing.errors import SignatureError
from signing.keys import PrivateKey, check_key_strength, fingerprint, readable, same_public_key
from signing.organs import describe, organ_id_of
from signing.trust import VIETNAM, TrustStore

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"

_ENVELOPE = f"{{{EDXML_NS}}}edXMLEnvelope"
_HEADER = f"{{{EDXML_NS}}}edXMLHeader"
_DS_SIGNATURE = f"{{{DS_NS}}}Signature"
_EDXML_SIGNATURE = f"{{{EDXML_NS}}}Signature"

DSIG11_NS = "http://www.w3.org/2009/xmldsig11#"
ENVELOPED = SignatureConstructionMethod.enveloped.value
C14N_ALGORITHMS = frozenset(m.value for m in CanonicalizationMethod)
SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.SHA256_RSA_MGF1,
        SignatureMethod.SHA384_RSA_MGF1,
        SignatureMethod.SHA512_RSA_MGF1,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
DIGEST_ALGORITHMS = frozenset(
    {
        DigestAlgorithm.SHA256,
        DigestAlgorithm.SHA384,
        DigestAlgorithm.SHA512,
        DigestAlgorithm.SHA3_256,
        DigestAlgorithm.SHA3_384,
        DigestAlgorithm.SHA3_512,
    }
)
# Known but refused: named so the message says "weak", not "unknown".
_WEAK_URI = re.compile(r"(sha1|md5|sha224|sha3-224)(\b|$|-)", re.I)

# Hardened: no entity expansion, no network, no DTD; huge_tree because one attachment is one
# base64 text node that may exceed libxml2's 10 MB default (the API limits the package size).
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=True,
    remove_blank_text=False,
)

Kind = Literal["xmldsig", "placeholder", "none"]


@dataclass(frozen=True)
class VerifiedSignature:
    """What a valid signature proves. Read the letter from `signed_element` and nothing else."""

    certificate: x509.Certificate
    chain: list[x509.Certificate]
    organ_id: str | None
    fingerprint: str
    signing_time: datetime | None
    signed_element: etree._Element

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready report (for the CLI, the audit and receipts)."""
        return {
            "valid": True,
            "organ_id": self.organ_id,
            "signer": describe(self.certificate),
            "subject": self.certificate.subject.rfc4514_string(),
            "fingerprint": self.fingerprint,
            "serial": format(self.certificate.serial_number, "x"),
            "not_after": self.certificate.not_valid_after_utc.isoformat(),
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "from_organ_id": sender_of(self.signed_element),
            "chain": [c.subject.rfc4514_string() for c in self.chain],
        }


# -- reading ------------------------------------------------------------------------------------


def parse(document: bytes | etree._Element) -> etree._Element:
    """The root element; bytes go through the hardened parser and a DOCTYPE is refused."""
    if isinstance(document, etree._Element):
        return document
    if not isinstance(document, bytes | bytearray | memoryview):
        raise TypeError("document must be bytes or an lxml element")
    try:
        root = etree.fromstring(bytes(document), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SignatureError("malformed_xml", f"the package is not well-formed XML: {exc}") from exc
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise SignatureError(
            "doctype_forbidden", "the package declares a DOCTYPE, which the axis refuses"
        )
    return root


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _placeholders(root: etree._Element) -> list[etree._Element]:
    """`<Signature>` elements outside the XML-DSig namespace: the field's fake signatures (in the
    edXML namespace or in none; lxml matches the tags itself, without a Python call per element)."""
    return list(root.iter(_EDXML_SIGNATURE, "Signature"))


def classify(document: bytes | etree._Element) -> Kind:
    """What kind of signature a package carries, without verifying it."""
    root = parse(document)
    if any(True for _ in root.iter(_DS_SIGNATURE)):
        return "xmldsig"
    if _placeholders(root):
        return "placeholder"
    return "none"


def _header(root: etree._Element) -> etree._Element:
    if _local(root) != "edXML":
        raise SignatureError("not_edxml", f"the root element is <{_local(root)}>, not <edXML>")
    envelopes = root.findall(_ENVELOPE)
    if len(envelopes) != 1:
        raise SignatureError(
            "not_edxml", f"an edXML package has one edXMLEnvelope, this one has {len(envelopes)}"
        )
    headers = envelopes[0].findall(_HEADER)
    if len(headers) != 1:
        raise SignatureError(
            "not_edxml", f"an edXMLEnvelope has one edXMLHeader, this one has {len(headers)}"
        )
    return headers[0]


# -- signing ------------------------------------------------------------------------------------


def _signature_method(key: PrivateKey) -> SignatureMethod:
    if isinstance(key, rsa.RSAPrivateKey):
        return SignatureMethod.RSA_SHA256
    return {
        "secp256r1": SignatureMethod.ECDSA_SHA256,
        "secp384r1": SignatureMethod.ECDSA_SHA384,
        "secp521r1": SignatureMethod.ECDSA_SHA512,
    }[key.curve.name]


def sign(
    document: bytes | etree._Element,
    key: PrivateKey,
    cert_chain: Sequence[x509.Certificate],
) -> bytes:
    """Sign an edXML package; return the signed bytes (UTF-8, with an XML declaration).

    `cert_chain` starts with the signer's certificate, then intermediates. A placeholder
    `<Signature>` in the edXML namespace is replaced; a real XML-DSig signature is refused.
    """
    if not cert_chain:
        raise SignatureError("missing_certificate", "a signing certificate is required")
    leaf = cert_chain[0]
    if not same_public_key(key, leaf.public_key()):
        raise SignatureError(
            "bad_key", f"the private key does not belong to the certificate of {describe(leaf)}"
        )
    check_key_strength(key, "the signing key")
    source = parse(document)
    # Work on a copy: the caller's tree stays as it was.
    root = etree.fromstring(etree.tostring(source), _PARSER)
    header = _header(root)
    if any(True for _ in root.iter(_DS_SIGNATURE)):
        raise SignatureError("already_signed", "the package already carries an XML-DSig signature")
    if root.get("Id") is not None or root.get("ID") is not None:
        raise SignatureError("not_edxml", "the <edXML> root must not carry an Id attribute")
    # Every placeholder goes, wherever a sender put it: left behind, it would make the signed
    # letter carry two Signature elements, which verify refuses.
    for placeholder in _placeholders(root):
        _remove_keeping_text(placeholder)

    default_ds: dict[str | None, str] = {None: DS_NS}
    # signxml fills in the element with Id="placeholder" and drops the Id.
    slot = etree.SubElement(header, _DS_SIGNATURE, nsmap=cast(Any, default_ds), Id="placeholder")
    previous = slot.getprevious()
    if previous is not None and previous.tail is not None and not previous.tail.strip():
        slot.tail, previous.tail = previous.tail, header.text

    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=_signature_method(key),
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    # Default namespace, as EDXML.md shows: <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
    # signxml reads a None key as "write the default namespace"
    signer.namespaces = cast(dict[str, str], default_ds)
    # Large attachments: signxml's default parser stops at 10 MB text nodes.
    setattr(signer, "_parser", _PARSER)  # noqa: B010
    signed = signer.sign(root, key=key, cert=list(cert_chain))
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def _remove_keeping_text(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    previous = element.getprevious()
    if element.tail and element.tail.strip():
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    elif previous is not None and element.getnext() is None:
        previous.tail = element.tail
    parent.remove(element)


# -- verifying ----------------------------------------------------------------------------------


def _locate_signature(root: etree._Element) -> etree._Element:
    signatures = list(root.iter(_DS_SIGNATURE))
    placeholders = _placeholders(root)
    if not signatures:
        if placeholders:
            raise SignatureError(
                "placeholder_signature",
                "the letter carries only a placeholder <Signature> (outside the XML-DSig "
                "namespace, as the reference SDK writes it), not a real signature; only an agency "
                "registered as legacy may send it, over its authenticated channel",
            )
        raise SignatureError("no_signature", "the letter is not signed (no XML-DSig Signature)")
    if len(signatures) + len(placeholders) > 1:
        raise SignatureError(
            "multiple_signatures",
            f"the letter carries {len(signatures) + len(placeholders)} Signature elements; "
            "a letter must carry exactly one",
        )
    header = _header(root)
    signature = signatures[0]
    if signature.getparent() is not header:
        parent = signature.getparent()
        where = _local(parent) if parent is not None else "the document root"
        raise SignatureError(
            "signature_misplaced",
            f"the signature sits in <{where}>; it must be a child of edXML:edXMLHeader",
        )
    return signature


def _ds(element: etree._Element, path: str) -> list[etree._Element]:
    return element.findall(path, namespaces={"ds": DS_NS})


def _check_algorithm(uri: str | None, allowed: frozenset[str], what: str) -> None:
    if uri in allowed:
        return
    if uri and _WEAK_URI.search(uri):
        raise SignatureError(
            "weak_algorithm",
            f"the {what} is {uri}, which is weak (SHA-1 or shorter); sign with SHA-256 or stronger",
        )
    raise SignatureError(
        "unsupported_algorithm", f"the {what} {uri or '(none)'} is not one the axis accepts"
    )


def _check_signed_info(signature: etree._Element) -> None:
    signed_infos = _ds(signature, "ds:SignedInfo")
    if len(signed_infos) != 1:
        raise SignatureError("malformed_signature", "the Signature has no single SignedInfo")
    signed_info = signed_infos[0]
    c14n = _ds(signed_info, "ds:CanonicalizationMethod")
    method = _ds(signed_info, "ds:SignatureMethod")
    if len(c14n) != 1 or len(method) != 1:
        raise SignatureError(
            "malformed_signature", "SignedInfo lacks CanonicalizationMethod or SignatureMethod"
        )
    _check_algorithm(c14n[0].get("Algorithm"), C14N_ALGORITHMS, "canonicalisation method")
    _check_algorithm(
        method[0].get("Algorithm"),
        frozenset(m.value for m in SIGNATURE_METHODS),
        "signature method",
    )
    references = _ds(signed_info, "ds:Reference")
    if len(references) != 1:
        raise SignatureError(
            "wrong_reference_count",
            f"the signature holds {len(references)} References; an edXML signature holds exactly "
            'one, URI="" (the whole document)',
        )
    reference = references[0]
    uri = reference.get("URI")
    if uri is not None and uri.startswith("#"):
        raise SignatureError(
            "partial_reference",
            f'the signature covers only the element "{uri}", not the whole letter; it must use '
            'Reference URI=""',
        )
    if uri != "":
        raise SignatureError(
            "external_reference",
            f"the signature points at {uri or 'nothing (no URI)'} outside the letter; it must "
            'use Reference URI=""',
        )
    transforms = [t.get("Algorithm") for t in _ds(reference, "ds:Transforms/ds:Transform")]
    if ENVELOPED not in transforms:
        raise SignatureError(
            "bad_transform", "the Reference lacks the enveloped-signature transform"
        )
    for transform in _ds(reference, "ds:Transforms/ds:Transform"):
        algorithm = transform.get("Algorithm")
        extra = [c for c in transform if isinstance(c.tag, str)]
        if algorithm not in C14N_ALGORITHMS | {ENVELOPED} or any(
            etree.QName(c).namespace != EC_NS for c in extra
        ):
            raise SignatureError(
                "bad_transform",
                f"the transform {algorithm} is not allowed (only enveloped-signature and "
                "canonicalisation)",
            )
    digests = _ds(reference, "ds:DigestMethod")
    if len(digests) != 1:
        raise SignatureError("malformed_signature", "the Reference has no single DigestMethod")
    _check_algorithm(
        digests[0].get("Algorithm"),
        frozenset(d.value for d in DIGEST_ALGORITHMS),
        "digest method",
    )


def _key_info_certificates(signature: etree._Element) -> list[x509.Certificate]:
    nodes = _ds(signature, "ds:KeyInfo/ds:X509Data/ds:X509Certificate")
    if not nodes:
        raise SignatureError(
            "missing_certificate",
            "the signature carries no certificate (KeyInfo/X509Data/X509Certificate)",
        )
    certs: list[x509.Certificate] = []
    for index, node in enumerate(nodes):
        try:
            der = base64.b64decode("".join((node.text or "").split()), validate=True)
            certs.append(_certificate(der))
        except (ValueError, binascii.Error, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
            raise SignatureError(
                "bad_certificate", f"certificate {index + 1} in KeyInfo cannot be read"
            ) from exc
    return certs


@functools.lru_cache(maxsize=1024)
def _certificate(der: bytes) -> x509.Certificate:
    """A certificate read from its DER, kept: an agency's letters carry the same few, so each is
    decoded once per process instead of once per letter (a DER that cannot be read raises and
    is not kept)."""
    return readable(x509.load_der_x509_certificate(der))


def _pick_signer(certs: list[x509.Certificate]) -> x509.Certificate:
    """The certificate that issued none of the others; the first one when that is ambiguous
    (XML-DSig fixes no order; the axis and most writers put the signer first)."""
    if len(certs) == 1:
        return certs[0]
    names = [(c.subject.public_bytes(), c.issuer.public_bytes()) for c in certs]
    leaves = [
        certs[i]
        for i, (subject, _) in enumerate(names)
        if not any(
            j != i and iss == subject and sub != subject for j, (sub, iss) in enumerate(names)
        )
    ]
    return leaves[0] if leaves else certs[0]


def _diagnose_bad_signature(signature: etree._Element, cert: x509.Certificate) -> SignatureError:
    """Name the likelier cause where the mathematics allows it. Under the right RSA key, a
    PKCS#1 v1.5 signature over an altered SignedInfo still decodes (only the hash differs); a
    signature made by another key does not decode at all, and neither does an altered
    SignatureValue, which cannot be told apart from it."""
    key = cert.public_key()
    values = _ds(signature, "ds:SignatureValue")
    methods = _ds(signature, "ds:SignedInfo/ds:SignatureMethod")
    pkcs1 = bool(methods) and "#rsa-sha" in (methods[0].get("Algorithm") or "")
    if isinstance(key, rsa.RSAPublicKey) and pkcs1 and values:
        try:
            raw = base64.b64decode("".join((values[0].text or "").split()))
            key.recover_data_from_signature(raw, padding.PKCS1v15(), None)
        except (CryptoInvalidSignature, ValueError):
            pass
        else:
            return SignatureError(
                "signature_invalid", "the signature block (SignedInfo) was altered after signing"
            )
    return SignatureError(
        "key_mismatch",
        f"the signature does not verify with the certificate it carries ({describe(cert)}): "
        "that certificate is not the one whose key made the signature (or the SignatureValue "
        "was altered)",
    )


def _check_key_fits_method(signature: etree._Element, cert: x509.Certificate) -> None:
    method = _ds(signature, "ds:SignedInfo/ds:SignatureMethod")[0].get("Algorithm") or ""
    wants_ec = "ecdsa" in method.lower()
    if wants_ec != isinstance(cert.public_key(), ec.EllipticCurvePublicKey):
        raise SignatureError(
            "key_mismatch",
            f"the signature was made with {'an ECDSA' if wants_ec else 'an RSA'} key, but the "
            f"certificate in the signature ({describe(cert)}) holds another kind of key",
        )


# -- the common profile, checked here -------------------------------------------------------
#
# Nearly every letter is signed the way `sign` signs: one Reference URI="" with the enveloped
# transform and one canonicalisation, RSA PKCS#1 v1.5 or ECDSA, the key only in the certificate.
# Such a signature is checked here on the caller's tree, parsed once: no copy of the document,
# no second parse of it. Anything else (C14N 1.1, InclusiveNamespaces, RSA-PSS, a KeyValue to
# match against the certificate) goes through signxml as before. signxml stays the reference:
# tests/signing/test_profile.py checks that both give the same answer on the same inputs.

#: Canonicalisation URI -> (exclusive, with comments), as signxml hands them to lxml.
_C14N = {
    CanonicalizationMethod.CANONICAL_XML_1_0.value: (False, False),
    CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS.value: (False, True),
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value: (True, False),
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS.value: (True, True),
}
#: Signature method URI -> the hash it signs with; RSA ones are PKCS#1 v1.5.
_PROFILE_METHODS: dict[str, hashes.HashAlgorithm] = {
    SignatureMethod.RSA_SHA256.value: hashes.SHA256(),
    SignatureMethod.RSA_SHA384.value: hashes.SHA384(),
    SignatureMethod.RSA_SHA512.value: hashes.SHA512(),
    SignatureMethod.ECDSA_SHA256.value: hashes.SHA256(),
    SignatureMethod.ECDSA_SHA384.value: hashes.SHA384(),
    SignatureMethod.ECDSA_SHA512.value: hashes.SHA512(),
}
_DIGESTS = {
    DigestAlgorithm.SHA256.value: "sha256",
    DigestAlgorithm.SHA384.value: "sha384",
    DigestAlgorithm.SHA512.value: "sha512",
    DigestAlgorithm.SHA3_256.value: "sha3_256",
    DigestAlgorithm.SHA3_384.value: "sha3_384",
    DigestAlgorithm.SHA3_512.value: "sha3_512",
}
_KEY_VALUES = (f"{{{DS_NS}}}KeyValue", f"{{{DSIG11_NS}}}DEREncodedKeyValue")


def _c14n(element: etree._Element, algorithm: str | None) -> bytes:
    exclusive, with_comments = _C14N[algorithm or ""]
    try:
        return etree.tostring(
            element, method="c14n", exclusive=exclusive, with_comments=with_comments
        )
    except etree.C14NError as exc:  # e.g. a namespace that is not an absolute URI (hostile input)
        raise SignatureError(
            "malformed_signature",
            f"the {_local(element) or 'document'} element cannot be canonicalised: {exc} "
            "(is every namespace an absolute URI?)",
        ) from exc


def _in_profile(signature: etree._Element) -> bool:
    """Whether this signature (its SignedInfo already checked by _check_signed_info) is one this
    module checks itself."""
    signed_info = _ds(signature, "ds:SignedInfo")[0]
    c14n = _ds(signed_info, "ds:CanonicalizationMethod")[0]
    method = _ds(signed_info, "ds:SignatureMethod")[0].get("Algorithm")
    transforms = _ds(signed_info, "ds:Reference/ds:Transforms/ds:Transform")
    canonical = [t for t in transforms if t.get("Algorithm") != ENVELOPED]
    return (
        c14n.get("Algorithm") in _C14N
        and len(c14n) == 0
        and method in _PROFILE_METHODS
        and len(transforms) == 2
        and len(canonical) == 1
        and canonical[0].get("Algorithm") in _C14N
        and all(len(t) == 0 for t in transforms)
        and not any(True for _ in signature.iter(*_KEY_VALUES))
    )


def _remove_enveloped(signature: etree._Element) -> None:
    """The enveloped-signature transform: the Signature leaves the tree, and the text after it
    stays where it was (as signxml does when it signs and verifies)."""
    parent = signature.getparent()
    assert parent is not None  # _locate_signature placed it in edXMLHeader
    if signature.tail is not None:
        previous = signature.getprevious()
        if previous is None:
            parent.text = (parent.text or "") + signature.tail
        else:
            previous.tail = (previous.tail or "") + signature.tail
    parent.remove(signature)


def _verify_profile(
    root: etree._Element, signature: etree._Element, signer: x509.Certificate
) -> etree._Element:
    """Check a signature of the common profile on `root` itself and return `root` as what was
    signed: the Signature removed, and comments too unless the canonicalisation signed them.
    Refusals carry the codes signxml's path gives for the same input."""
    try:
        _Verifier().validate_schema(signature)  # type: ignore[no-untyped-call]
    except etree.DocumentInvalid as exc:
        raise SignatureError(
            "malformed_signature", f"the Signature does not follow the XML-DSig schema: {exc}"
        ) from exc
    signed_info = _ds(signature, "ds:SignedInfo")[0]
    c14n = _ds(signed_info, "ds:CanonicalizationMethod")[0].get("Algorithm")
    method = _ds(signed_info, "ds:SignatureMethod")[0].get("Algorithm") or ""
    values = _ds(signature, "ds:SignatureValue")
    try:
        raw = base64.b64decode(values[0].text or "" if values else "")
    except (ValueError, binascii.Error) as exc:
        raise SignatureError("malformed_signature", f"the signature is malformed: {exc}") from exc
    signed_info_c14n = _c14n(signed_info, c14n)
    key = signer.public_key()
    digest = _PROFILE_METHODS[method]
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, signed_info_c14n, padding.PKCS1v15(), digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.key_size + 7) // 8
            if len(raw) != 2 * size:
                raise CryptoInvalidSignature
            r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
            key.verify(utils.encode_dss_signature(r, s), signed_info_c14n, ec.ECDSA(digest))
        else:  # _check_key_fits_method lets only RSA and EC keys through
            raise SignatureError("key_mismatch", f"the key of {describe(signer)} cannot sign")
    except CryptoInvalidSignature:
        raise _diagnose_bad_signature(signature, signer) from None
    # From here on only the SignedInfo that was signed is read (the bytes just verified).
    verified = etree.fromstring(signed_info_c14n, _PARSER)
    reference = _ds(verified, "ds:Reference")[0]
    transform = next(
        t.get("Algorithm")
        for t in _ds(reference, "ds:Transforms/ds:Transform")
        if t.get("Algorithm") != ENVELOPED
    )
    algorithm = _ds(reference, "ds:DigestMethod")[0].get("Algorithm") or ""
    expected = _ds(reference, "ds:DigestValue")
    _remove_enveloped(signature)
    document = _c14n(root, transform)
    try:
        wanted = base64.b64decode(expected[0].text or "" if expected else "")
    except (ValueError, binascii.Error) as exc:
        raise SignatureError("malformed_signature", f"the signature is malformed: {exc}") from exc
    if not hmac.compare_digest(hashlib.new(_DIGESTS[algorithm], document).digest(), wanted):
        raise SignatureError(
            "digest_mismatch",
            "the letter or one of its attachments was changed after it was signed",
        )
    if not _C14N[transform or ""][1]:
        # Unsigned comments must not be read as part of the letter (they could cut a text in two).
        etree.strip_tags(root, etree.Comment)
    return root


class _Verifier(XMLVerifier):
    """signxml's verifier without its first copy of the whole document: signxml serializes and
    parses the element it is given again before anything else, to guard the caller's tree, and
    then copies it once more before each reference's transforms (which is the copy it changes).
    Our tree is read by nothing else while it verifies, so that first copy is a parse for
    nothing."""

    def get_root(self, data: Any) -> Any:
        if isinstance(data, etree._Element):
            return data
        return super().get_root(data)  # type: ignore[no-untyped-call]


def _verify_xml(
    root: etree._Element, signature: etree._Element, signer: x509.Certificate
) -> etree._Element:
    if _in_profile(signature):
        return _verify_profile(root, signature, signer)
    config = SignatureConfiguration(
        require_x509=True,
        location=f"./{_ENVELOPE}/{_HEADER}/",
        expect_references=1,
        signature_methods=SIGNATURE_METHODS,
        digest_algorithms=DIGEST_ALGORITHMS,
        # Validity in time is the trust store's job (at signing time and now, with a message that
        # names the organ); give signxml a moment inside the validity window.
        verification_time=signer.not_valid_before_utc,
    )
    try:
        result = _Verifier().verify(
            root, x509_cert=signer, expect_config=config, parser=_PARSER, validate_schema=True
        )
    except InvalidDigest as exc:
        raise SignatureError(
            "digest_mismatch",
            "the letter or one of its attachments was changed after it was signed",
        ) from exc
    except InvalidSignature as exc:
        if "references" in str(exc):
            raise SignatureError("wrong_reference_count", str(exc)) from exc
        raise _diagnose_bad_signature(signature, signer) from exc
    except InvalidCertificate as exc:
        raise SignatureError("certificate_expired", str(exc)) from exc
    except InvalidInput as exc:
        if "different public keys" in str(exc):
            raise SignatureError(
                "key_mismatch", "KeyValue and the certificate in KeyInfo hold different keys"
            ) from exc
        raise SignatureError("malformed_signature", f"the signature is malformed: {exc}") from exc
    except etree.DocumentInvalid as exc:
        raise SignatureError(
            "malformed_signature", f"the Signature does not follow the XML-DSig schema: {exc}"
        ) from exc
    except Exception as exc:  # any other failure on hostile input is still a refusal
        raise SignatureError("malformed_signature", f"the signature is malformed: {exc}") from exc
    if isinstance(result, list) or result.signed_xml is None:
        raise SignatureError("malformed_signature", "the signed content cannot be read back")
    return result.signed_xml


def _text_of(parent: etree._Element, name: str) -> str | None:
    for child in parent:
        if _local(child) == name:
            return (child.text or "").strip()
    return None


def _children(parent: etree._Element | None, name: str) -> list[etree._Element]:
    return [] if parent is None else [c for c in parent if _local(c) == name]


def sender_of(signed: etree._Element) -> str | None:
    """MessageHeader/From/OrganId of a (signed) edXML element, matched by local name."""
    envelope = next(iter(_children(signed, "edXMLEnvelope")), None)
    header = next(iter(_children(envelope, "edXMLHeader")), None)
    for message in _children(header, "MessageHeader"):
        for origin in _children(message, "From"):
            return _text_of(origin, "OrganId") or None
    return None


def signing_time_of(signed: etree._Element) -> datetime | None:
    """When the sender says it sent the letter: its own TraceHeader/Timestamp (Vietnam time).

    XML-DSig has no signing time and everything inside <Signature> is unsigned, so the time is
    read from the signed content; it is the sender's claim, which is why validity is also
    checked now."""
    envelope = next(iter(_children(signed, "edXMLEnvelope")), None)
    header = next(iter(_children(envelope, "edXMLHeader")), None)
    if header is None:
        return None
    sender = sender_of(signed)
    stamps: list[tuple[str | None, str]] = []
    for trace_list in _children(header, "TraceHeaderList"):
        for trace in _children(trace_list, "TraceHeader"):
            stamp = _text_of(trace, "Timestamp")
            if stamp:
                stamps.append((_text_of(trace, "OrganId"), stamp))
    own = [s for organ, s in stamps if sender is not None and organ == sender]
    for stamp in reversed(own or [s for _, s in stamps[:1]]):
        moment = _parse_timestamp(stamp)
        if moment is not None:
            return moment
    return None


def _parse_timestamp(text: str) -> datetime | None:
    for pattern in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=VIETNAM).astimezone(UTC)
        except ValueError:
            continue
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM)).astimezone(UTC)


def verify(
    document: bytes | etree._Element,
    trust: TrustStore,
    *,
    at: datetime | None = None,
    own_tree: bool = False,
) -> VerifiedSignature:
    """Verify the one XML-DSig signature of an edXML package against `trust`.

    `at` is the moment to judge certificate validity and revocation by (default: now; a naive
    datetime is taken as UTC). The letter's own TraceHeader stamp is reported as `signing_time`
    and a certificate that had expired by then is refused too (see signing.trust). Raises
    SignatureError with a distinct code for every reason to refuse.

    A tree given with `own_tree=True` is handed over: `signed_element` may be that very tree,
    changed (its Signature and unsigned comments removed), so the letter is parsed once. Without
    it a caller's tree is left as it was.
    """
    if isinstance(document, etree._Element) and not own_tree:
        document = copy.deepcopy(document)
    root = parse(document)
    signature = _locate_signature(root)
    _check_signed_info(signature)
    certs = _key_info_certificates(signature)
    signer = _pick_signer(certs)
    check_key_strength(signer.public_key(), lambda: f"the certificate of {describe(signer)}")
    _check_key_fits_method(signature, signer)
    signed = _verify_xml(root, signature, signer)
    signing_time = signing_time_of(signed)
    chain = trust.validate(signer, certs, at, signing_time=signing_time)
    return VerifiedSignature(
        certificate=signer,
        chain=chain,
        organ_id=organ_id_of(signer),
        fingerprint=fingerprint(signer),
        signing_time=signing_time,
        signed_element=signed,
    )
