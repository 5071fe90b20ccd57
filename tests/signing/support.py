"""What the signing tests share: the certificates the attacks need, and letters written by hand
in the layout of EDXML.md."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from signing import TrustStore, load_certificates, load_private_key, sign
from signing.devca import DevCA, IssuedCertificate
from signing.keys import PrivateKey
from signing.trust import VIETNAM

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS = "http://www.w3.org/2000/09/xmldsig#"
G22 = "000.00.00.G22"
H10 = "000.00.00.H10"


@dataclass
class Signer:
    issued: IssuedCertificate
    key: PrivateKey
    chain: list[x509.Certificate]

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]


def signer_of(issued: IssuedCertificate) -> Signer:
    return Signer(issued, load_private_key(issued.key_path), load_certificates(issued.cert_path))


@dataclass
class PKI:
    ca: DevCA
    directory: Path
    g22: Signer
    h10: Signer
    g22_ec: Signer
    expired: Signer
    future: Signer
    no_signing_usage: Signer
    weak: Signer
    person: Signer
    foreign_ca: DevCA
    foreign: Signer

    def trust(self) -> TrustStore:
        return TrustStore.from_directory(self.directory)


def stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(VIETNAM).strftime("%Y/%m/%d %H:%M:%S")


def letter(
    *,
    sender: str = G22,
    subject: str = "Về việc triển khai trục liên thông văn bản",
    attachment: bytes = b"%PDF-1.4 the signed letter\n",
    placeholder: bool = False,
    timestamp: str | None = None,
) -> bytes:
    """A small edXML letter, written by hand as the reference SDK lays it out."""
    E = f"{{{NS}}}"
    root = etree.Element(f"{E}edXML", nsmap={None: NS})  # type: ignore[dict-item]
    root.text = "\n  "
    envelope = etree.SubElement(root, f"{E}edXMLEnvelope", nsmap={"edXML": NS})
    header = etree.SubElement(envelope, f"{E}edXMLHeader")
    message = etree.SubElement(header, f"{E}MessageHeader")

    def add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        child = etree.SubElement(parent, f"{E}{name}")
        child.text = text
        return child

    origin = add(message, "From")
    add(origin, "OrganId", sender)
    add(origin, "OrganName", "Bộ Thông tin và Truyền thông")
    to = add(message, "To")
    add(to, "OrganId", H10)
    add(to, "OrganName", "Văn phòng Chính phủ")
    add(message, "DocumentId", f"{sender},2026/01/15,7816/BTTTT-VP")
    code = add(message, "Code")
    add(code, "CodeNumber", "7816")
    add(code, "CodeNotation", "BTTTT-VP")
    add(message, "Subject", subject)
    add(message, "SteeringType", "0")
    traces = add(header, "TraceHeaderList")
    business = add(traces, "Bussiness")
    add(business, "BussinessDocType", "0")
    trace = add(traces, "TraceHeader")
    add(trace, "OrganId", sender)
    add(trace, "Timestamp", timestamp or stamp())
    if placeholder:
        fake = add(header, "Signature")
        info = add(fake, "SignedInfo")
        etree.SubElement(
            info, f"{E}SignatureMethod", Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"
        )
        add(fake, "SignatureValue", "AAAA")
    body = add(envelope, "edXMLBody")
    manifest = add(body, "edXMLManifest")
    manifest.set("version", "1.0")
    reference = add(manifest, "Reference")
    add(reference, "ContentId", "cid:1")
    add(reference, "ContentType", "application/pdf")
    add(reference, "AttachmentName", "7816-BTTTT-VP.pdf")
    encoded = etree.SubElement(root, f"{E}AttachmentEncoded")
    item = etree.SubElement(encoded, f"{E}Attachment")
    add(item, "ContentId", "1")
    add(item, "AttachmentName", "7816-BTTTT-VP.pdf")
    add(item, "ContentType", "application/pdf")
    add(item, "ContentTransferEncoded", base64.b64encode(attachment).decode())
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def signed_letter(signer: Signer, **kwargs: Any) -> bytes:
    return sign(letter(**kwargs), signer.key, signer.chain)


def raw_sign(
    document: bytes,
    signer: Signer,
    *,
    method: SignatureMethod = SignatureMethod.RSA_SHA256,
    digest: DigestAlgorithm = DigestAlgorithm.SHA256,
    reference_uri: str | None = None,
) -> bytes:
    """Sign with signxml directly, bypassing the axis's own refusals (SHA-1, weak keys, #id)."""

    class Permissive(XMLSigner):
        def check_deprecated_methods(self) -> None:
            pass

    root = etree.fromstring(document)
    header = root.find(f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader")
    assert header is not None
    etree.SubElement(header, f"{{{DS}}}Signature", nsmap={None: DS}, Id="placeholder")  # type: ignore[dict-item]
    signer_ = Permissive(
        signature_algorithm=method,
        digest_algorithm=digest,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signer_.namespaces = {None: DS}  # type: ignore[dict-item]
    out = signer_.sign(root, key=signer.key, cert=signer.chain, reference_uri=reference_uri)
    return etree.tostring(out, xml_declaration=True, encoding="UTF-8")


def tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def ds(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path, namespaces={"ds": DS, "e": NS})
    assert found is not None, path
    return found


def detach(element: etree._Element) -> None:
    parent = element.getparent()
    assert parent is not None
    parent.remove(element)


def to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
