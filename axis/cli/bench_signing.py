"""`axis bench signing`: how many letters one core signs and verifies per second, beside the bare
RSA-2048 operation measured in the same run."""

from __future__ import annotations

import base64
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import signing as sig
from axis.cli.output import emit
from signing.devca import DevCA

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
SIZES = {"10 KB": 10 * 1024, "1 MB": 1024 * 1024}


def bench_letter(size: int) -> bytes:
    """An edXML letter of about `size` bytes, most of it one base64 attachment."""
    head = f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="{NS}">
  <edXML:edXMLEnvelope xmlns:edXML="{NS}">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId></edXML:From>
        <edXML:To><edXML:OrganId>000.00.00.H10</edXML:OrganId></edXML:To>
        <edXML:Subject>Benchmark</edXML:Subject>
      </edXML:MessageHeader>
    </edXML:edXMLHeader>
    <edXML:edXMLBody/>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded><Attachment><ContentTransferEncoded>"""
    tail = "</ContentTransferEncoded></Attachment></AttachmentEncoded>\n</edXML>\n"
    room = max(size - len(head.encode()) - len(tail) - 2500, 4)  # the signature adds ~2.5 KB
    payload = base64.b64encode(os.urandom(room * 3 // 4)).decode()
    return (head + payload + tail).encode()


def rate(operation: Callable[[], object], seconds: float, minimum: int = 3) -> float:
    """Operations per second of `operation`, run for about `seconds` (at least `minimum` times)."""
    operation()  # warm up
    count, start = 0, time.perf_counter()
    while True:
        operation()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= minimum:
            return count / elapsed


def measure(seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        ca = DevCA.init(Path(tmp) / "ca", name="Bench CA")
        issued = ca.issue("000.00.00.G22", "Bộ Thông tin và Truyền thông")
        key = sig.load_private_key(issued.key_path)
        chain = sig.load_certificates(issued.cert_path)
        trust = sig.TrustStore.from_directory(Path(tmp) / "ca")
    assert isinstance(key, rsa.RSAPrivateKey)
    public = key.public_key()
    message = os.urandom(700)  # about the size of a canonical SignedInfo
    raw_signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    baseline = {
        "sign_per_s": rate(lambda: key.sign(message, padding.PKCS1v15(), hashes.SHA256()), seconds),
        "verify_per_s": rate(
            lambda: public.verify(raw_signature, message, padding.PKCS1v15(), hashes.SHA256()),
            seconds,
        ),
    }
    rows = []
    for label, size in SIZES.items():
        document = bench_letter(size)
        signed = sig.sign(document, key, chain)
        sign_rate = rate(lambda d=document: sig.sign(d, key, chain), seconds)  # type: ignore[misc]
        verify_rate = rate(lambda s=signed: sig.verify(s, trust), seconds)  # type: ignore[misc]
        rows.append(
            {
                "package": label,
                "bytes": len(signed),
                "sign_per_s": round(sign_rate, 1),
                "verify_per_s": round(verify_rate, 1),
                "sign_vs_bare_rsa": round(sign_rate / baseline["sign_per_s"], 4),
                "verify_vs_bare_rsa": round(verify_rate / baseline["verify_per_s"], 4),
            }
        )
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores_available": os.cpu_count(),
        "threads_used": 1,
        "baseline_rsa2048": {k: round(v, 1) for k, v in baseline.items()},
        "packages": rows,
    }


@click.command("signing")
@click.option(
    "--seconds",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="How long to run each measurement.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def signing(seconds: float, as_json: bool) -> None:
    """Signatures and verifications per second on one core, for 10 KB and 1 MB letters, beside
    the bare RSA-2048 sign/verify of `cryptography` measured in the same run.

    Example: axis bench signing --seconds 3
    """
    result = measure(seconds)
    base = result["baseline_rsa2048"]
    lines = [
        f"one core of {result['cores_available']} ({result['cpu']})",
        f"bare RSA-2048 (cryptography): {base['sign_per_s']:>9.1f} sign/s "
        f"{base['verify_per_s']:>9.1f} verify/s",
    ]
    for row in result["packages"]:
        lines.append(
            f"edXML {row['package']:>5} ({row['bytes']} B): {row['sign_per_s']:>9.1f} sign/s "
            f"{row['verify_per_s']:>9.1f} verify/s   "
            f"= {row['sign_vs_bare_rsa']:.1%} / {row['verify_vs_bare_rsa']:.1%} of bare RSA"
        )
    emit(result, as_json=as_json, text="\n".join(lines))
