"""A letter's rows as the ledger takes them (`ledger.NewLetter`), for tests that write the tables
straight through the ledger rather than through a signed package."""

from __future__ import annotations

import datetime as dt
import hashlib
from datetime import UTC, datetime

from axis.core import ledger
from axis.core.ids import uuid7

G22 = "000.00.00.G22"


def new_letter(
    recipients: list[str],
    *,
    sender: str = G22,
    due: dt.date | None = None,
    edxml_id: str | None = None,
    subject: str = "Về việc thử sổ cái",
    attachment: bool = True,
    inline: bool = False,
) -> ledger.NewLetter:
    """A letter of 10 bytes from `sender` to `recipients` (one attachment unless told not;
    `inline`: its bytes kept with its rows, as a small package is)."""
    letter_id = uuid7()
    sha = hashlib.sha256(letter_id.bytes).hexdigest()
    return ledger.NewLetter(
        id=letter_id,
        sender=sender,
        edxml_document_id=edxml_id or f"doc-{letter_id.hex}",
        business_type=0,
        stored_sha256=sha,
        received_sha256=sha,
        size=10,
        code_number="12",
        code_notation="VPCP-TH",
        subject=subject,
        type_name="Công văn",
        promulgation_date=dt.date(2026, 1, 5),
        due_date=due,
        signature="xmldsig",
        signer_fingerprint=None,
        summary={"trace": []},
        acceptance={"document_id": str(letter_id), "receipt": {}},
        received_at=datetime.now(UTC),
        links=[],
        attachments=[ledger.NewAttachment("cid-1", "to-trinh.pdf", "application/pdf", None, 3, sha)]
        if attachment
        else [],
        deliveries=[ledger.NewDelivery(uuid7(), r) for r in recipients],
        inline=b"<edXMLEnvelope/>" + letter_id.bytes if inline else None,
    )
