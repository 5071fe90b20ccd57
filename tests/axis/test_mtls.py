"""Mutual TLS: when the axis serves HTTPS itself, an agency's token must come with its own certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import signing
from axis.app import create_app
from axis.core import agencies
from axis.server import tls_context
from tests.support.waiting import wait_for
from tests.support.world import World, WorldAgency


def server_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "axis.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def client_context(server_cert: Path, agency: WorldAgency | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(server_cert))
    if agency is not None:
        assert agency.issued is not None
        context.load_cert_chain(agency.issued.cert_path, agency.issued.key_path)
    return context


@pytest.fixture
async def https_axis(hub_config, world: World, tmp_path: Path):
    cert, key = server_certificate(tmp_path)
    root = world.trust_dir / "root.pem"
    cfg = replace(
        hub_config,
        tls_cert=str(cert),
        tls_key=str(key),
        tls_client_ca=str(root),
        # Tokens stay in memory for a minute: a change must still take effect at once.
        token_cache_seconds=60.0,
    )
    runner = web.AppRunner(create_app(cfg))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context(cfg))
    await site.start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}", cert
    await runner.cleanup()


async def _get(url: str, context: ssl.SSLContext, token: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, ssl=context, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        return resp.status


async def test_an_agency_presenting_its_own_certificate_is_served(
    https_axis, world: World, db
) -> None:
    url, server_cert = https_axis
    g22 = await world.register(db, "000.00.00.G22")
    status = await wait_for(
        lambda: _get(url + "/v1/agencies", client_context(server_cert, g22), g22.token)
    )
    assert status == 200


async def test_a_token_with_another_agencys_certificate_is_403(
    https_axis, world: World, db
) -> None:
    url, server_cert = https_axis
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41")
    status = await wait_for(
        lambda: _get(url + "/v1/agencies", client_context(server_cert, h41), g22.token)
    )
    assert status == 403


async def test_a_client_without_a_certificate_cannot_connect(https_axis, world: World, db) -> None:
    url, server_cert = https_axis
    g22 = await world.register(db, "000.00.00.G22")
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        await _get(url + "/v1/agencies", client_context(server_cert, None), g22.token)


async def test_a_certificate_removed_from_the_agency_is_refused_at_once(
    https_axis, world: World, db
) -> None:
    url, server_cert = https_axis
    g22 = await world.register(db, "000.00.00.G22")
    context = client_context(server_cert, g22)
    assert await wait_for(lambda: _get(url + "/v1/agencies", context, g22.token)) == 200
    assert await _get(url + "/v1/agencies", context, g22.token) == 200  # answered from memory now
    assert g22.issued is not None
    await agencies.remove_certificate(db, g22.organ_id, signing.fingerprint(g22.issued.certificate))

    async def refused() -> bool:
        return await _get(url + "/v1/agencies", context, g22.token) == 403

    await wait_for(refused, timeout=3)
