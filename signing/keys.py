"""Reading and writing keys, certificates and CRLs (PEM or DER) at paths the caller names."""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signing.errors import SignatureError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

MIN_RSA_BITS = 2048
ACCEPTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.S)


@functools.lru_cache(maxsize=1024)
def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lowercase hex without separators. Kept per certificate
    (equal certificates are equal DER), since every letter's check asks it of the same few."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def normalise_fingerprint(value: str) -> str:
    """Accept `AB:CD:…`, spaces or upper case, as registries and clerks write them."""
    return re.sub(r"[^0-9a-f]", "", value.lower())


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SignatureError("io_error", f"cannot read {path}: {exc.strerror}") from exc


def readable(cert: x509.Certificate) -> x509.Certificate:
    """The certificate, once every field the checks read has been decoded: cryptography decodes
    lazily, and a damaged field would otherwise fail deep inside a check."""
    _ = (cert.subject, cert.issuer, cert.extensions, cert.not_valid_before_utc)
    _ = (cert.not_valid_after_utc, cert.serial_number, cert.version)
    cert.public_key()
    return cert


def parse_certificates(data: bytes, source: str = "input") -> list[x509.Certificate]:
    """Every certificate in PEM text (several allowed) or one DER certificate."""
    try:
        if b"-----BEGIN" in data:
            return [
                readable(x509.load_pem_x509_certificate(m.group(0)))
                for m in _PEM_CERT.finditer(data)
            ]
        return [readable(x509.load_der_x509_certificate(data))]
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise SignatureError(
            "bad_certificate", f"{source} holds an unreadable certificate"
        ) from exc


def parse_crls(data: bytes, source: str = "input") -> list[x509.CertificateRevocationList]:
    try:
        if b"-----BEGIN" in data:
            return [x509.load_pem_x509_crl(m.group(0)) for m in _PEM_CRL.finditer(data)]
        return [x509.load_der_x509_crl(data)]
    except ValueError as exc:
        raise SignatureError("bad_certificate", f"{source} holds an unreadable CRL") from exc


def load_certificates(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    certs = parse_certificates(_read(path), str(path))
    if not certs:
        raise SignatureError("bad_certificate", f"{path} holds no certificate")
    return certs


def load_private_key(path: str | os.PathLike[str], password: bytes | None = None) -> PrivateKey:
    data = _read(path)
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=password)
        else:
            key = serialization.load_der_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise SignatureError("bad_key", f"{path} is not a readable private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SignatureError("bad_key", f"{path}: only RSA and ECDSA keys are accepted")
    return key


def write_private_key(path: str | os.PathLike[str], key: PrivateKey) -> None:
    """PKCS#8 PEM, unencrypted (development), created with 0600 so no one else can read it."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def write_certificates(path: str | os.PathLike[str], certs: Iterable[x509.Certificate]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def check_key_strength(key: object, whose: str | Callable[[], str]) -> None:
    """Refuse RSA under 2048 bits and curves other than the NIST P-curves. `whose` names the key
    holder in the message (a callable is only called when there is a message to write)."""

    def name() -> str:
        return whose if isinstance(whose, str) else whose()

    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise SignatureError(
                "weak_key",
                f"{name()} uses a {key.key_size}-bit RSA key; at least {MIN_RSA_BITS} bits "
                "are required, ask the CA for a new certificate",
            )
        return
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if key.curve.name not in ACCEPTED_CURVES:
            raise SignatureError(
                "weak_key", f"{name()} uses the curve {key.curve.name}; use P-256 or stronger"
            )
        return
    raise SignatureError(
        "unsupported_algorithm", f"{name()} uses a key type the axis does not accept (RSA or ECDSA)"
    )


def same_public_key(a: object, b: object) -> bool:
    def der(k: object) -> bytes:
        if isinstance(k, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            k = k.public_key()
        if isinstance(k, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            return k.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        return b""

    da, db = der(a), der(b)
    return bool(da) and da == db
