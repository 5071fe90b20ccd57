"""Real agencies' certificates: the registry binds a signature to an agency whatever the
certificate's subject says, on /v1 and on /vdxp, for letters, statuses and recalls; an organ id
the certificate states elsewhere than its agency's is refused, naming both."""

from __future__ import annotations

import dataclasses
import uuid

import asyncpg
import pytest
from cryptography.fernet import Fernet

import signing
from axis.adapters.vdxp import registry
from axis.config import Config
from axis.core import agencies
from axis.core.secrets import SecretBox
from tests.axis.vdxp_sdk import Sdk
from tests.support.waiting import wait_for
from tests.support.world import World, WorldAgency, letter_package

KEY = Fernet.generate_key().decode()
G22, H41 = "000.00.00.G22", "000.00.00.H41"
TAX_CODE = "MST:0100109106"


@pytest.fixture
def config(hub_config: Config) -> Config:
    return dataclasses.replace(hub_config, secret_key=KEY)


async def enroll(
    db: asyncpg.Connection,
    world: World,
    organ_id: str,
    organ_in: str = "uid",
    *,
    states: str | None = None,
    register_cert: bool = True,
) -> tuple[WorldAgency, str]:
    """Register `organ_id` with a certificate that states `states` (default: its own organ id)
    where `organ_in` says, a tax code in UID beside it, and a VDXP secret."""
    name = f"Cơ quan {organ_id}"
    issued = world.ca.issue(
        states or organ_id, name, organ_in=organ_in, uid=TAX_CODE, key_type="ec"
    )  # type: ignore[arg-type]
    _, token = await agencies.add(
        db,
        organ_id=organ_id,
        name=name,
        certificates=[issued.certificate] if register_cert else [],
    )
    secret = await registry.issue_secret(db, organ_id, SecretBox(KEY))
    agency = WorldAgency(organ_id, name, token, issued)
    world.agencies[organ_id] = agency
    return agency, secret


def signed_by(world: World, signer: WorldAgency, sender: str, to: str) -> bytes:
    """A letter claiming to come from `sender`, signed with `signer`'s key and certificate."""
    return world.signed(signer, letter_package(sender, [to], number=uuid.uuid4().hex[:4]))


async def post(client, agency: WorldAgency, path: str, data: bytes):  # type: ignore[no-untyped-def]
    return await client.post(path, data=data, headers=agency.auth)


@pytest.mark.parametrize("organ_in", ["uid", "ou", "serial", "san", "none"])
async def test_registered_certificates_send_letters_statuses_and_recalls_on_v1_and_vdxp(
    client_for, config, db, world, organ_in: str
) -> None:
    g22, g22_secret = await enroll(db, world, G22, organ_in)
    h41, h41_secret = await enroll(db, world, H41, organ_in)
    client = await client_for(config)

    letter = world.letter(g22, [h41])
    resp = await post(client, g22, "/v1/documents", letter)
    assert resp.status == 202, await resp.text()
    doc = (await resp.json())["document_id"]
    resp = await post(client, h41, f"/v1/documents/{doc}/status", world.status(h41, letter, "03"))
    assert resp.status == 202, await resp.text()
    resp = await post(client, g22, f"/v1/documents/{doc}/status", world.status(g22, letter, "13"))
    assert resp.status == 202, await resp.text()

    sender, receiver = Sdk(client, G22, g22_secret), Sdk(client, H41, h41_secret)
    second = world.letter(g22, [h41])
    sent = await sender.send(second)
    assert sent["status"] == "OK", sent
    arrived = await receiver.send(world.status(h41, second, "03"), messagetype="status")
    assert arrived["status"] == "OK", arrived
    recall = await sender.send(world.status(g22, second, "13"), messagetype="status")
    assert recall["status"] == "OK", recall

    async def recall_heard() -> list[dict] | None:
        items = await receiver.received("status")
        return [i for i in items if i["statusCode"] == "13"] or None

    assert {i["from"] for i in await wait_for(recall_heard)} == {G22}


async def test_a_certificate_stating_another_organ_is_refused_naming_both_codes_and_where(
    client_for, config, db, world
) -> None:
    # Registered while the axis looked for organ ids in UID only; it now looks in OU as well.
    g22, g22_secret = await enroll(db, world, G22, "ou", states=H41)
    await enroll(db, world, H41)
    client = await client_for(config)
    letter = world.letter(g22, [H41])

    resp = await post(client, g22, "/v1/documents", letter)
    assert resp.status == 403
    error = (await resp.json())["error"]
    assert error["where"] == "edXMLHeader/Signature"
    assert error["details"]["reason"] == "signer_not_organ"
    assert error["message"] == (
        f"the letter claims to come from {G22} but the certificate that signed it "
        f"(Cơ quan {G22}) carries organ code {H41} in OU"
    )
    recall = world.status(g22, letter, "13")
    resp = await post(client, g22, f"/v1/documents/{uuid.uuid4()}/status", recall)
    assert resp.status == 403 and (await resp.json())["error"]["details"]["reason"] == (
        "signer_not_organ"
    )

    sdk = Sdk(client, G22, g22_secret)
    for answer in (await sdk.send(letter), await sdk.send(recall, messagetype="status")):
        assert answer["status"] == "FAIL"
        assert G22 in answer["ErrorDesc"] and f"{H41} in OU" in answer["ErrorDesc"]
    assert await db.fetchval("SELECT count(*) FROM documents") == 0


async def test_a_certificate_registered_to_another_agency_is_refused_naming_both(
    client_for, config, db, world
) -> None:
    g22, g22_secret = await enroll(db, world, G22, "none")
    h41, _ = await enroll(db, world, H41, "none")
    client = await client_for(config)
    fp = signing.fingerprint(h41.issued.certificate)  # type: ignore[union-attr]
    forged = signed_by(world, h41, G22, H41)

    resp = await post(client, g22, "/v1/documents", forged)
    assert resp.status == 403
    error = (await resp.json())["error"]
    assert error["details"] == {"reason": "certificate_of_another_agency", "fingerprint": fp}
    assert f"claims to come from {G22}" in error["message"]
    assert f"registered to {H41}" in error["message"]

    answer = await Sdk(client, G22, g22_secret).send(forged)
    assert answer["status"] == "FAIL" and G22 in answer["ErrorDesc"] and H41 in answer["ErrorDesc"]
    assert await db.fetchval("SELECT count(*) FROM documents") == 0


async def test_an_agency_that_registered_no_certificate_is_bound_by_the_organ_code_it_states(
    client_for, config, db, world
) -> None:
    g22, _ = await enroll(db, world, G22, "san", register_cert=False)
    h41, h41_secret = await enroll(db, world, H41, "none", register_cert=False)
    client = await client_for(config)

    letter = world.letter(g22, [h41])
    resp = await post(client, g22, "/v1/documents", letter)
    assert resp.status == 202, await resp.text()
    doc = (await resp.json())["document_id"]

    # H41's certificate states no organ id and H41 registered none: nothing binds it.
    status = world.status(h41, letter, "03")
    resp = await post(client, h41, f"/v1/documents/{doc}/status", status)
    assert resp.status == 403
    error = (await resp.json())["error"]
    assert error["details"]["reason"] == "certificate_not_registered"
    assert "carries no organ code" in error["message"]
    assert f"axis agency add-cert {H41}" in error["message"]
    answer = await Sdk(client, H41, h41_secret).send(status, messagetype="status")
    assert answer["status"] == "FAIL" and "add-cert" in answer["ErrorDesc"]

    # Once registered, the same certificate is H41's (/vdxp reads the registry on every call;
    # /v1 keeps a token's agency for a few seconds).
    await agencies.add_certificate(db, H41, h41.issued.certificate)  # type: ignore[union-attr]
    answer = await Sdk(client, H41, h41_secret).send(status, messagetype="status")
    assert answer["status"] == "OK", answer


async def test_an_agency_with_certificates_refuses_an_unregistered_one_on_vdxp_too(
    client_for, config, db, world
) -> None:
    g22, g22_secret = await enroll(db, world, G22)
    await enroll(db, world, H41)
    client = await client_for(config)
    spare = world.ca.issue(G22, "Cơ quan 000.00.00.G22", key_type="ec")
    letter = world.signed(
        WorldAgency(G22, g22.name, g22.token, spare), letter_package(G22, [H41], number="9")
    )
    resp = await post(client, g22, "/v1/documents", letter)
    assert resp.status == 403
    assert (await resp.json())["error"]["details"]["reason"] == "certificate_not_registered"
    answer = await Sdk(client, G22, g22_secret).send(letter)
    assert (
        answer["status"] == "FAIL"
        and "not among the certificates registered" in answer["ErrorDesc"]
    )
