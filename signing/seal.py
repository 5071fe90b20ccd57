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
import itertools
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
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
from signing.trust import TrustStore, aware
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
    _check_signature(alg, raw, cert.public_key(), canonical_json(payload))
    return payload, cert


def _check_signature(alg: str, raw: bytes, key: object, data: bytes) -> None:
    """The detached signature `raw` (JOSE `alg`) over `data` by `key`, or seal_invalid."""
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


@dataclass(frozen=True)
class _Checked:
    """What a certificate and its chain gave once the trust store accepted them, and the moments
    between which that verdict holds: from the latest start of validity of the chain's
    certificates to the first of their ends of validity or revocation dates (a CRL entry dated
    later than the check revokes from then on)."""

    certificate: x509.Certificate
    key: object
    fingerprint: str
    valid_from: datetime
    valid_until: datetime


class SignerCache:
    """verified_signer for a process that checks the same few signers again and again (the hub
    taking members' ballots): what a certificate and its chain give (the parsed certificate, its
    public key and fingerprint, the trust store's verdict on the chain) is kept, by the exact
    certificate and chain text, so that each document costs its signature check alone.

    A verdict is used only inside its validity window (every certificate of the chain valid,
    none revoked by a CRL entry dated before the moment of the check) and only with the trust
    store it came from: another store (the hub read its trust folder again after a CA or CRL
    changed) empties the cache. Only acceptances are kept; a refusal is decided again each time.
    Bounded: the least recently used verdict goes first. Thread-safe."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._trust: TrustStore | None = None
        self._known: OrderedDict[tuple[str, tuple[str, ...]], _Checked] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._known)

    def verified_signer(
        self,
        doc: dict[str, Any],
        trust: TrustStore,
        *,
        at: datetime | None = None,
        data: bytes | None = None,
    ) -> tuple[dict[str, Any], x509.Certificate, str]:
        """As verified_signer, with the signer's fingerprint. `data`, when given, must be the
        canonical JSON of doc["payload"] (computed once by a caller that hashes it too)."""
        try:
            payload = doc["payload"]
            alg = doc["alg"]
            raw = base64.b64decode(doc["signature"], validate=True)
            key = (doc["certificate"], tuple(doc.get("chain") or ()))
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise SignatureError("seal_invalid", "the sealed document is incomplete") from exc
        if not isinstance(key[0], str) or not all(isinstance(pem, str) for pem in key[1]):
            # Not text: verified_signer says what is wrong with it; nothing to keep.
            payload, cert = verified_signer(doc, trust, at=at)
            return payload, cert, fingerprint(cert)
        now = aware(at)
        with self._lock:
            if trust is not self._trust:
                self._known.clear()
                self._trust = trust
            checked = self._known.get(key)
            if checked is not None:
                self._known.move_to_end(key)
        if checked is None or not checked.valid_from <= now < checked.valid_until:
            payload, cert = verified_signer(doc, trust, at=at)
            checked = self._remember(key, cert, trust)
            return payload, cert, checked.fingerprint
        if not isinstance(payload, dict) or alg not in _ALGORITHMS:
            raise SignatureError("seal_invalid", "the sealed document is malformed")
        _check_signature(alg, raw, checked.key, canonical_json(payload) if data is None else data)
        return payload, checked.certificate, checked.fingerprint

    def _remember(
        self, key: tuple[str, tuple[str, ...]], cert: x509.Certificate, trust: TrustStore
    ) -> _Checked:
        chain = [c for pem in key[1] for c in parse_certificates(str(pem).encode("ascii"), "chain")]
        path = trust.build_chain(cert, [cert, *chain])
        until = min(link.not_valid_after_utc for link in path)
        for child, issuer in itertools.pairwise(path):
            for crl in trust.crls:
                if crl.issuer != issuer.subject:
                    continue
                entry = crl.get_revoked_certificate_by_serial_number(child.serial_number)
                if entry is not None:
                    until = min(until, entry.revocation_date_utc)
        checked = _Checked(
            certificate=cert,
            key=cert.public_key(),
            fingerprint=fingerprint(cert),
            valid_from=max(link.not_valid_before_utc for link in path),
            valid_until=until,
        )
        with self._lock:
            if trust is self._trust:
                self._known[key] = checked
                self._known.move_to_end(key)
                while len(self._known) > self.size:
                    self._known.popitem(last=False)
        return checked
