"""XML-DSig signatures on edXML letters, the trust store, certificate-to-organ binding, the
axis's seal and a development CA. Pure: no network, no asyncio, files only where callers say."""

from signing.errors import CODES, SignatureError
from signing.keys import (
    PrivateKey,
    fingerprint,
    load_certificates,
    load_private_key,
)
from signing.organs import (
    DEFAULT_PLACES,
    CertificateOrgan,
    bind_signer,
    check_certificate_organ,
    check_signer,
    describe,
    is_personal,
    organ_codes,
    organ_id_of,
    parse_places,
)
from signing.seal import Seal, canonical_json, verify_sealed_json
from signing.trust import TrustStore
from signing.xmldsig import (
    DS_NS,
    EDXML_NS,
    VerifiedSignature,
    classify,
    sender_of,
    sign,
    signing_time_of,
    verify,
)

__all__ = [
    "CODES",
    "DEFAULT_PLACES",
    "DS_NS",
    "EDXML_NS",
    "CertificateOrgan",
    "PrivateKey",
    "Seal",
    "SignatureError",
    "TrustStore",
    "VerifiedSignature",
    "bind_signer",
    "canonical_json",
    "check_certificate_organ",
    "check_signer",
    "classify",
    "describe",
    "fingerprint",
    "is_personal",
    "load_certificates",
    "load_private_key",
    "organ_codes",
    "organ_id_of",
    "parse_places",
    "sender_of",
    "sign",
    "signing_time_of",
    "verify",
    "verify_sealed_json",
]
