"""A development CA made once per session, and the certificates the attacks need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from signing import TrustStore
from signing.devca import DevCA
from tests.signing.support import G22, H10, PKI, signer_of


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    base = tmp_path_factory.mktemp("pki")
    ca = DevCA.init(base / "ca", name="Test Root CA")
    now = datetime.now(UTC)
    foreign_ca = DevCA.init(base / "foreign", name="Someone Else's CA")
    return PKI(
        ca=ca,
        directory=base / "ca",
        g22=signer_of(ca.issue(G22, "Bộ Thông tin và Truyền thông")),
        h10=signer_of(ca.issue(H10, "Văn phòng Chính phủ")),
        g22_ec=signer_of(ca.issue(G22, "Bộ Thông tin và Truyền thông", key_type="ec")),
        expired=signer_of(
            ca.issue(
                G22, "Bộ Thông tin và Truyền thông", not_before=now - timedelta(days=400), days=30
            )
        ),
        future=signer_of(
            ca.issue(G22, "Bộ Thông tin và Truyền thông", not_before=now + timedelta(days=10))
        ),
        no_signing_usage=signer_of(
            ca.issue(G22, "Bộ Thông tin và Truyền thông", digital_signature=False)
        ),
        weak=signer_of(ca.issue(G22, "Bộ Thông tin và Truyền thông", key_size=1024)),
        person=signer_of(ca.issue(G22, "Bộ Thông tin và Truyền thông", person="Nguyễn Văn A")),
        foreign_ca=foreign_ca,
        foreign=signer_of(foreign_ca.issue(G22, "Bộ Thông tin và Truyền thông")),
    )


@pytest.fixture
def trust(pki: PKI) -> TrustStore:
    return pki.trust()
