"""The written consultation's page, /cabinet/consultations/{id}: an asked member reads the form
and papers, sees the time left and the payload to sign, uploads the ballot they signed (or, when
the rules need no personal signature, answers on the page and the axis seals it naming the
session), and sees their receipts and the result. The secretariat sees who has answered, the
tally so far, closes early, reads the report and sends the result letter. The same service
functions as /v1/consultations, so the same rules hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from meetings import axis_port as ax
from meetings import ballots, consultations, pages, people, report, result_letter, rules
from meetings.pages import VISITOR, cabinet_page, render

# The meetings' own labels where the words are the same.
CHOICE_LABELS = {
    "agree": pages.POSITIONS["agree"],
    "disagree": ("Không đồng ý", "Disagree"),
    "other": ("Ý kiến khác", "Other"),
}
CONSULTATION_STATES = {
    "draft": pages.STATES["draft"],
    "open": ("Đang lấy ý kiến", "Open"),
    "closed": pages.STATES["closed"],
}


def _back(consultation_id: str, done: str) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"/cabinet/consultations/{quote(consultation_id, safe='')}?done={done}")


def _left(deadline: str) -> tuple[int, int, int] | None:
    """(days, hours, minutes) until the deadline, or None once it has passed."""
    seconds = int((datetime.fromisoformat(deadline) - datetime.now(UTC)).total_seconds())
    if seconds <= 0:
        return None
    return seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60


async def view(conn: Any, person: Any, consultation_id: str) -> dict[str, Any]:
    found = await consultations.get(conn, person, consultation_id)
    names = {str(p.id): p for p in await people.list_all(conn)}
    out: dict[str, Any] = {
        "c": found,
        "names": names,
        "me": person,
        "left": _left(found["deadline"]) if found["state"] == "open" else None,
        "choice_labels": CHOICE_LABELS,
        "consultation_states": CONSULTATION_STATES,
        "signature_required": True,
        "tally": None,
    }
    if found["rules_version"] is not None:
        version = await rules.version(conn, found["rules_version"])
        out["signature_required"] = version["rules"]["member_signature_required"]
    if found["state"] == "open" and not person.secretariat:
        template = {
            "type": "axis.cabinet.ballot",
            "consultation_id": found["id"],
            "form_sha256": found["form_sha256"],
            "member": str(person.id),
            "answers": [
                {"question": q["number"], "choice": "agree", "comment": None}
                for q in found["questions"]
            ],
        }
        out["to_sign"] = json.dumps(template, ensure_ascii=False, indent=2)
    if not person.secretariat:
        out["mine"] = (await consultations.ballots(conn, person, consultation_id))["ballots"]
    if found["state"] == "closed" or (person.secretariat and found["state"] == "open"):
        counted = await consultations.get_tally(conn, person, consultation_id)
        out["tally"] = counted.get("payload", counted)
    return out


async def page(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    async with ax.hub_of(request.app).db.connection() as conn:
        found = await view(conn, visitor.person, request.match_info["id"])
    return render(request, "cabinet_consultation.html", **found)


async def paper(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    async with ax.hub_of(request.app).db.connection() as conn:
        row = await consultations.paper(
            conn, visitor.person, request.match_info["id"], request.match_info["paper"]
        )
    how = "inline" if row["content_type"] in pages.INLINE_TYPES else "attachment"
    return await ax.stream_blob(
        request,
        row["sha256"],
        row["size"],
        row["content_type"],
        **{
            "Content-Disposition": f"{how}; filename*=UTF-8''{quote(row['name'])}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


async def ballot(request: web.Request) -> web.StreamResponse:
    """A signed ballot uploaded as a file (or pasted), or the answers chosen on the page when the
    rules need no personal signature."""
    visitor = request[VISITOR]
    consultation_id = request.match_info["id"]
    form = await request.post()
    upload = form.get("signed_file")
    pasted = form.get("signed")
    text: str | None = None
    if isinstance(upload, web.FileField) and upload.filename:
        text = upload.file.read(1 << 20).decode("utf-8", errors="replace")
    elif isinstance(pasted, str) and pasted.strip():
        text = pasted
    if text is not None:
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ax.BadRequest(
                f"the signed ballot is not JSON (line {exc.lineno}): {exc.msg}", where="signed"
            ) from None
        if not isinstance(body, dict):
            raise ax.BadRequest("the signed ballot must be a JSON object", where="signed")
    else:
        async with ax.hub_of(request.app).db.connection() as conn:
            found = await consultations.get(conn, visitor.person, consultation_id)
        answers = []
        for q in found["questions"]:
            choice = form.get(f"choice_{q['number']}")
            comment = form.get(f"comment_{q['number']}")
            answer: dict[str, Any] = {"question": q["number"], "choice": choice}
            if isinstance(comment, str) and comment.strip():
                answer["comment"] = comment.strip()
            answers.append(answer)
        body = {
            "payload": {
                "type": "axis.cabinet.ballot",
                "consultation_id": found["id"],
                "form_sha256": found["form_sha256"],
                "member": str(visitor.person.id),
                "answers": answers,
                "signed_at": datetime.now(UTC).isoformat(),
            }
        }
    await ballots.cast(ballots.desk_of(request.app), visitor.session.token, consultation_id, body)
    return _back(consultation_id, "ballot")


async def close(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    hub = ax.hub_of(request.app)
    async with hub.db.connection() as conn:
        await consultations.close(conn, hub, visitor.person, request.match_info["id"])
    return _back(request.match_info["id"], "consultation_closed")


async def result(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    await result_letter.send(ax.hub_of(request.app), visitor.person, request.match_info["id"], {})
    return _back(request.match_info["id"], "result_sent")


async def report_page(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    async with ax.hub_of(request.app).db.connection() as conn:
        html = await report.for_person(conn, visitor.person, request.match_info["id"])
    return web.Response(
        body=html, content_type="text/html", charset="utf-8", headers=report.HEADERS
    )


def setup(app: web.Application) -> None:
    pages.DONE.update(
        {
            "ballot": ("Đã nhận phiếu của bạn.", "Your ballot was received."),
            "consultation_closed": ("Đã kết thúc lấy ý kiến.", "The consultation is closed."),
            "result_sent": ("Đã gửi văn bản kết quả.", "The result letter was sent."),
        }
    )
    r = app.router
    r.add_get("/cabinet/consultations/{id}", cabinet_page(page))
    r.add_get("/cabinet/consultations/{id}/papers/{paper}", cabinet_page(paper))
    r.add_get("/cabinet/consultations/{id}/report", cabinet_page(report_page))
    r.add_post("/cabinet/consultations/{id}/ballot", cabinet_page(ballot))
    r.add_post("/cabinet/consultations/{id}/close", cabinet_page(close))
    r.add_post("/cabinet/consultations/{id}/result", cabinet_page(result))
