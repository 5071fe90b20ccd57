"""The hub keeps the verdict on a member's certificate and chain between ballots
(signing.seal.SignerCache): a certificate revoked since is still refused, and nothing is stored.
A CA and trust folder of this module's own, with its CRLs, which the test changes."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from axis.adapters.api import HUB
from meetings import ballots
from signing.devca import DevCA
from tests.meetings.conftest import Cabinet, World
from tests.meetings.consulting import MINISTRY, Government, government, opened


@pytest.fixture
def dev_ca(tmp_path: Path) -> DevCA:
    return DevCA.init(tmp_path / "ca", "Cabinet Revoking CA")


@pytest.fixture
def trust_dir(dev_ca: DevCA, tmp_path: Path) -> Path:
    folder = tmp_path / "trust"
    folder.mkdir()
    shutil.copy(dev_ca.root_path, folder / "root.pem")
    shutil.copytree(dev_ca.directory / "crl", folder / "crl")
    return folder


@pytest.fixture
async def gov(cabinet: Cabinet, world: World) -> Government:
    await world.register(cabinet.db, MINISTRY, "Bộ Tài chính")
    return await government(cabinet, world.ca)


async def test_a_member_certificate_revoked_after_a_ballot_is_refused_at_the_next(
    gov: Government, dev_ca: DevCA, trust_dir: Path
) -> None:
    cabinet = gov.cabinet
    c = await opened(cabinet)
    url = f"/v1/consultations/{c['id']}/ballots"
    first = await gov.vote(c, "botruong1", ["agree", "agree"])  # its chain's verdict now kept
    assert first["version"] == 1
    hub = cabinet.client.server.app[HUB]
    hub.trust_dir.CHECK_EVERY = 0.0  # the hub reads its trust folder again at once
    dev_ca.revoke(gov.keys["botruong1"].cert_path, reason="key_compromise")
    shutil.copytree(dev_ca.directory / "crl", trust_dir / "crl", dirs_exist_ok=True)

    ballot = gov.sign("botruong1", gov.payload(c, "botruong1", ["disagree", "agree"]))
    refused = await cabinet.call("POST", url, "botruong1", 403, json=ballot)
    assert refused["error"]["code"] == "signature_invalid"
    assert refused["error"]["details"]["reason"] == "certificate_revoked"
    # Nothing stored; the first ballot stands, and the other members still vote.
    mine = await cabinet.call("GET", url, "botruong1", 200)
    assert [b["version"] for b in mine["ballots"]] == [1]
    assert (await gov.vote(c, "botruong2", ["agree", "agree"]))["version"] == 1


async def test_a_caller_without_a_live_session_makes_the_hub_check_no_signature(
    gov: Government,
) -> None:
    """A well-signed ballot copied by someone without a live session is refused 401 before its
    signature or its chain is looked at (the hub keeps every chain it accepts: none here)."""
    cabinet = gov.cabinet
    c = await opened(cabinet)
    url = f"/v1/consultations/{c['id']}/ballots"
    signers = ballots.desk_of(cabinet.client.server.app).signers
    ballot = gov.sign("botruong1", gov.payload(c, "botruong1", ["agree", "agree"]))
    for token in ("invented", "x" * 43):
        answer = await cabinet.client.post(
            url, json=ballot, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status == 401, await answer.text()
    assert len(signers) == 0
    assert await cabinet.db.fetchval("SELECT count(*) FROM consultation_ballots") == 0
    # The member's own session: checked and taken; their next ballot is checked on arrival.
    assert (await gov.vote(c, "botruong1", ["agree", "agree"]))["version"] == 1
    assert len(signers) == 1
    assert (await gov.vote(c, "botruong1", ["agree", "other"]))["version"] == 2


async def test_a_ballot_whose_member_went_away_is_still_taken_and_answered_the_same_again(
    gov: Government,
) -> None:
    """The request is cancelled while its batch commits (the member's connection dropped): the
    ballot is written all the same, and sending it again gets the first answer."""
    cabinet = gov.cabinet
    c = await opened(cabinet)
    desk = ballots.desk_of(cabinet.client.server.app)
    ballot = gov.sign("botruong1", gov.payload(c, "botruong1", ["agree", "agree"]))
    request = asyncio.create_task(ballots.cast(desk, cabinet.tokens["botruong1"], c["id"], ballot))
    await asyncio.sleep(0)  # queued
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    url = f"/v1/consultations/{c['id']}/ballots"
    for _ in range(100):
        if await cabinet.db.fetchval("SELECT count(*) FROM consultation_ballots"):
            break
        await asyncio.sleep(0.05)
    again = await cabinet.call("POST", url, "botruong1", 200, json=ballot)
    stored = await cabinet.db.fetchrow("SELECT id, version FROM consultation_ballots")
    assert again["ballot_id"] == str(stored["id"]) and again["version"] == stored["version"] == 1
