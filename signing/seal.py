"""The axis's own seal: a key and certificate with which the axis signs what it tells agencies
(acceptance receipts, status notices, legacy letters it accepted), so an agency can prove it later.

JSON is sealed with a detached signature over its canonical form: keys sorted, UTF-8, no spaces
(`json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`). Payloads should
hold strings, integers, booleans, lists and objects; floats are allowed but other languages may
print them differently.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID

from signing.errors import SignatureError
from signing.keys import (
    PrivateKey,
    certificate_pem,
    check_key_strength,
    fingerprint,
    load_certificates,
    load_private_key,
    parse_certificates,
    same_public_key,
    write_certificates,
    write_private_key,
)
from signing.organs import ORGAN_ID_OID
from signing.trust import TrustStore
from signing.xmldsig import sign

# JOSE names (RFC 7518): RS256 is RSASSA-PKCS1-v1_5 with SHA-256, ES256 is ECDSA P-256 with
# SHA-256 and the signature as r || s.
_ALGORITHMS = {"RS256", "ES256", "ES384"}


def canonical_json(payload: Any) -> bytes:
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise SignatureError("seal_invalid", f"the payload is not plain JSON: {exc}") from exc
    return text.encode("utf-8")


class Seal:
    """The axis's signing identity."""

    def __init__(self, key: PrivateKey, chain: Sequence[x509.Certificate]) -> None:
        if not chain:
            raise SignatureError("missing_certificate", "the seal needs a certificate")
        if not same_public_key(key, chain[0].public_key()):
            raise SignatureError("bad_key", "the seal key does not belong to the seal certificate")
        check_key_strength(key, "the seal key")
        self.key = key
        self.chain = list(chain)
        # Every receipt carries them: written once, not once per letter.
        self._pems = [certificate_pem(c) for c in self.chain]

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @classmethod
    def load(
        cls,
        key_path: str | os.PathLike[str],
        cert_path: str | os.PathLike[str],
        password: bytes | None = None,
    ) -> Seal:
        """The key (PEM or DER) and the certificate file (the seal's first, then its issuers)."""
        return cls(load_private_key(key_path, password), load_certificates(cert_path))

    @classmethod
    def generate(
        cls,
        directory: str | os.PathLike[str],
        name: str = "Trục liên thông văn bản (development seal)",
        *,
        organ_id: str | None = None,
        days: int = 3650,
    ) -> Seal:
        """A self-signed seal for development: `seal.key` (0600) and `seal.crt` (PEM) in `directory`.
        Agencies trust it by pinning `seal.crt` (a TrustStore holding it, or the certificate)."""
        folder = Path(directory)
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
        ]
        if organ_id:
            attributes.append(x509.NameAttribute(ORGAN_ID_OID, organ_id))
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, name))
        subject = x509.Name(attributes)
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        write_private_key(folder / "seal.key", key)
        write_certificates(folder / "seal.crt", [cert])
        return cls(key, [cert])

    def sign_document(self, document: bytes) -> bytes:
        """Seal an edXML package with an enveloped XML-DSig by the axis (a placeholder signature
        is replaced; a package that already holds a real signature is refused)."""
        return sign(document, self.key, self.chain)

    def sign_json(self, obj: dict[str, Any]) -> dict[str, Any]:
        """{"payload", "alg", "signature" (base64), "certificate" (PEM), "chain" (PEM list)}."""
        data = canonical_json(obj)
        if isinstance(self.key, rsa.RSAPrivateKey):
            alg = "RS256"
            raw = self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            alg, hash_alg = (
                ("ES384", hashes.SHA384())
                if self.key.curve.name == "secp384r1"
                else ("ES256", hashes.SHA256())
            )
            der = self.key.sign(data, ec.ECDSA(hash_alg))
            r, s = utils.decode_dss_signature(der)
            size = (self.key.curve.key_size + 7) // 8
            raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return {
            "payload": json.loads(data),
            "alg": alg,
            "signature": base64.b64encode(raw).decode("ascii"),
            "certificate": self._pems[0],
            "chain": self._pems[1:],
        }


def verify_sealed_json(
    doc: dict[str, Any],
    trust_or_cert: TrustStore | x509.Certificate,
    *,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The payload of a sealed document, once its signature and certificate check out.

    Pass the seal certificate the agency pinned, or a TrustStore that leads to it."""
    return verified_signer(doc, trust_or_cert, at=at)[0]


def verified_signer(
    doc: dict[str, Any],
    trust_or_cert: TrustStore | x509.Certificate,
    *,
    at: datetime | None = None,
) -> tuple[dict[str, Any], x509.Certificate]:
    """As verify_sealed_json, with the signer's certificate as read (for who signed, without
    reading it a second time)."""
    try:
        payload = doc["payload"]
        alg = doc["alg"]
        raw = base64.b64decode(doc["signature"], validate=True)
        certs = parse_certificates(str(doc["certificate"]).encode("ascii"), "certificate")
        chain = [
            c
            for pem in doc.get("chain") or []
            for c in parse_certificates(str(pem).encode("ascii"), "chain")
        ]
    except (KeyError, TypeError, ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise SignatureError("seal_invalid", "the sealed document is incomplete") from exc
    if not isinstance(payload, dict) or alg not in _ALGORITHMS or len(certs) != 1:
        raise SignatureError("seal_invalid", "the sealed document is malformed")
    cert = certs[0]
    if isinstance(trust_or_cert, x509.Certificate):
        if fingerprint(cert) != fingerprint(trust_or_cert):
            raise SignatureError(
                "seal_invalid", "the document was sealed with another certificate than the axis's"
            )
    else:
        trust_or_cert.check(cert, [cert, *chain], at)
    key = cert.public_key()
    data = canonical_json(payload)
    try:
        if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
        elif alg in {"ES256", "ES384"} and isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if len(raw) != 2 * size:
                raise InvalidSignature
            der = utils.encode_dss_signature(
                int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
            )
            hash_alg: hashes.HashAlgorithm = hashes.SHA384() if alg == "ES384" else hashes.SHA256()
            key.verify(der, data, ec.ECDSA(hash_alg))
        else:
            raise InvalidSignature
    except InvalidSignature:
        raise SignatureError(
            "seal_invalid", "the seal does not match the content: the document was altered"
        ) from None
    return payload, cert
