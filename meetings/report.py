"""The printable HTML report of a closed consultation (jinja2): each question's count and outcome,
the comments, the ballots counted and the hashes to recount it offline."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import jinja2

from meetings import axis_port as ax
from meetings import consultations, people, tally
from meetings.people import Person

#: The report is a document of its own (it travels with the result letter), so its styles are
#: inline; nothing else may load or run in it, on the API and on the pages alike.
HEADERS = {
    **ax.SECURITY_HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
}

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,
)


def render(
    consultation: dict[str, Any], sealed_tally: dict[str, Any], names: dict[str, str]
) -> bytes:
    payload = sealed_tally["payload"]
    ballots = [
        {
            "member": b["payload"]["member"],
            "signed_at": b["payload"]["signed_at"],
            "sha256": tally.payload_sha256(b["payload"]),
        }
        for b in payload["ballots"]
    ]
    html = _TEMPLATES.get_template("consultation_report.html").render(
        c=consultation,
        t=payload,
        questions={q["number"]: q["text"] for q in consultation["questions"]},
        ballots=ballots,
        names=names,
        tally_sha256=consultation["tally_sha256"],
    )
    return html.encode("utf-8")


async def for_person(conn: asyncpg.Connection, person: Person, consultation_id: str) -> bytes:
    """The report, for whoever may see the closed consultation."""
    described = await consultations.get(conn, person, consultation_id)
    if described["state"] != "closed":
        raise consultations.NotClosed(
            "the report is made once the consultation is closed", where="consultation"
        )
    sealed = await consultations.get_tally(conn, person, consultation_id)
    found = await people.many(conn, [uuid.UUID(m) for m in sealed["payload"]["asked"]])
    names = {
        str(pid): f"{p.full_name}{', ' + p.title if p.title else ''}" for pid, p in found.items()
    }
    return render(described, sealed, names)
