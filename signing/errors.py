"""The one exception of the signing package: a machine code for programs, a message for clerks."""

from __future__ import annotations

# Every refusal has its own code; the HTTP layer and the CLI show `code` to programs and
# `message` to people. Keep this table in step with the places that raise.
CODES: dict[str, str] = {
    "malformed_xml": "the package is not well-formed XML",
    "doctype_forbidden": "the package declares a DOCTYPE (entities and DTDs are refused)",
    "not_edxml": "the root is not an edXML document with an edXMLEnvelope/edXMLHeader",
    "no_signature": "the package carries no XML signature",
    "placeholder_signature": "the package carries a placeholder <Signature> in the edXML namespace",
    "multiple_signatures": "the package carries more than one signature",
    "signature_misplaced": "the signature is not the XML-DSig Signature inside edXMLHeader",
    "malformed_signature": "the Signature element does not follow the XML-DSig schema",
    "wrong_reference_count": "the signature does not hold exactly one Reference",
    "external_reference": "the Reference points outside the document",
    "partial_reference": "the Reference covers only part of the document (#id)",
    "bad_transform": "a Transform other than enveloped-signature and canonicalisation",
    "weak_algorithm": "SHA-1 or another weak digest or signature algorithm",
    "unsupported_algorithm": "an algorithm the axis does not accept (HMAC, DSA, unknown)",
    "weak_key": "RSA under 2048 bits or an elliptic curve other than P-256/P-384/P-521",
    "missing_certificate": "KeyInfo/X509Data holds no certificate",
    "bad_certificate": "a certificate in KeyInfo cannot be read",
    "key_mismatch": "the certificate in KeyInfo does not hold the key that made the signature",
    "signature_invalid": "the SignatureValue does not match the signed SignedInfo",
    "digest_mismatch": "the content or an attachment changed after signing",
    "untrusted_root": "the chain ends at a root that is not in the trust store",
    "untrusted_chain": "no chain to a trusted root can be built",
    "certificate_expired": "a certificate of the chain had expired",
    "certificate_not_yet_valid": "a certificate of the chain was not yet valid",
    "certificate_revoked": "a certificate of the chain is revoked by its CA's CRL",
    "key_usage": "the signer's certificate does not allow digital signatures",
    "signer_not_organ": "the signer's certificate belongs to another organ",
    "certificate_not_registered": "the signer's certificate is not one the agency registered",
    "certificate_of_another_agency": "the signer's certificate is registered to another agency",
    "organ_code_conflict": "the signer's certificate names two different organ codes",
    "already_signed": "the document already holds an XML-DSig signature",
    "bad_key": "the private key cannot be read or does not match the certificate",
    "seal_invalid": "a sealed JSON document does not verify",
    "ca_error": "the development CA cannot do what was asked (no CA there, unknown certificate)",
    "io_error": "a key, certificate or CRL file cannot be read or written",
}


class SignatureError(Exception):
    """A refusal: `code` is one of CODES, `message` says what a clerk can do about it."""

    def __init__(self, code: str, message: str, *, where: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.where = where

    def as_dict(self) -> dict[str, str]:
        data = {"code": self.code, "message": self.message}
        if self.where is not None:
            data["where"] = self.where
        return data
