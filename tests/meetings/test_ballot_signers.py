"""The hub keeps the verdict on a member's certificate and chain between ballots
(signing.seal.SignerCache): a certificate revoked since is still refused, and nothing is stored.
A CA and trust folder of this module's own, with its CRLs, which the test changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from axis.adapters.api import HUB
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
