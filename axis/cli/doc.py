"""`axis doc`: look inside an edXML package, or write a realistic sample one."""

from __future__ import annotations

import datetime as dt
import re
import sys
from typing import Any, BinaryIO

import click

import edoc
from axis.cli.output import emit, fail
from edoc import sample


@click.group("doc")
def doc() -> None:
    """Read and write edXML packages (QCVN 102:2016).

    \b
    Examples:
      axis doc inspect letter.edxml
      axis doc sample --attachments 2 --size 1MB --to 000.00.00.H26,000.00.00.G12 -o letter.edxml
    """


class _Discard:
    """Attachment bytes are hashed by edoc as they stream by; inspect needs nothing more."""

    def write(self, data: bytes, /) -> int:
        return len(data)


@doc.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def inspect(file: str, as_json: bool) -> None:
    """Summarise an edXML package: sender, recipients, number, subject, attachments...

    Reads with bounded memory whatever the attachments' size; a placeholder or missing
    signature is reported, not refused (checking signatures is `axis doc verify`'s job).
    An invalid or hostile file gives exit status 1 and one line on stderr.

    `variants` lists each form read that is not the one the axis writes (a dd/MM/yyyy date,
    an empty <X/>, the single-s Business spelling...). `problems` lists what does not hold
    together (a manifest Reference without its attachment, an attachment no Reference names,
    a ContentId used twice); the summary is still printed, and the exit status is 1.

    Example: axis doc inspect letter.edxml | jq .attachments
    """
    try:
        if file == "-":
            package = _read(sys.stdin.buffer)
        else:
            with open(file, "rb") as stream:
                package = _read(stream)
    except edoc.EdocError as exc:
        fail(f"{file}: {exc}")
        return
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}")
        return
    data = summary(package)
    emit(data, as_json=as_json, text=_text(data))
    if data["problems"]:
        raise SystemExit(1)


def _read(stream: BinaryIO) -> edoc.Package:
    return edoc.parse(stream, attachment_sink=lambda _attachment: _Discard())


def _organ(org: edoc.Organization) -> dict[str, Any]:
    return {"organ_id": org.organ_id, "name": org.organ_name}


def _response(rf: edoc.ResponseFor) -> dict[str, Any]:
    return {
        "organ_id": rf.organ_id,
        "code": rf.code,
        "document_id": rf.document_id,
        "promulgation_date": rf.promulgation_date.isoformat() if rf.promulgation_date else None,
    }


def summary(package: edoc.Package) -> dict[str, Any]:
    """What a clerk wants to know about a package, as plain JSON-able data."""
    header = package.header
    data: dict[str, Any] = {"kind": "status" if package.is_status else "letter"}
    if isinstance(header, edoc.StatusMessage):
        data.update(
            {
                "sender": _organ(header.from_),
                "status_code": header.status_code.code,
                "status": {"vi": header.status_code.label_vi, "en": header.status_code.label_en},
                "timestamp": header.timestamp.isoformat(),
                "description": header.description,
                "response_for": _response(header.response_for),
                "staff": header.staff_info.staff if header.staff_info else None,
            }
        )
    else:
        data.update(
            {
                "sender": _organ(header.from_),
                "recipients": [_organ(o) for o in header.to],
                "document_id": header.document_id,
                "number": header.code.number,
                "notation": header.code.notation,
                "code": str(header.code),
                "type": {
                    "type": header.document_type.type,
                    "detail": header.document_type.type_detail,
                    "name": header.document_type.type_name,
                },
                "subject": header.subject,
                "place": header.promulgation_info.place,
                "promulgation_date": header.promulgation_info.date.isoformat(),
                "due_date": header.due_date.isoformat() if header.due_date else None,
                "signer": header.signer_info.full_name if header.signer_info else None,
                "steering_type": header.steering_type,
                "response_for": [_response(r) for r in header.response_for],
            }
        )
    business = package.trace.bussiness if package.trace else None
    data["business"] = (
        {
            "type": int(business.bussiness_doc_type),
            "name": business.bussiness_doc_type.name.lower(),
            "reason": business.bussiness_doc_reason,
            "document_id": business.document_id,
            "replaces": [r.document_id for r in business.replacement_info_list],
        }
        if business is not None
        else None
    )
    data["trace"] = (
        [
            {"organ_id": t.organ_id, "timestamp": t.timestamp.isoformat()}
            for t in package.trace.trace_headers
        ]
        if package.trace
        else []
    )
    data["attachments"] = [
        {
            "content_id": a.content_id,
            "name": a.name,
            "content_type": a.content_type,
            "description": a.description,
            "size": a.size,
            "sha256": a.sha256,
            "inner_name": a.inner_name,
        }
        for a in package.attachments
    ]
    data["signature"] = package.signature.value
    data["variants"] = [v.to_json() for v in package.variants]
    data["problems"] = [p.to_json() for p in edoc.problems(package)]
    return data


def _text(data: dict[str, Any]) -> str:
    lines: list[str] = []
    sender = data["sender"]
    lines.append(f"{data['kind']:<12} from {sender['organ_id']} {sender['name'] or ''}".rstrip())
    if data["kind"] == "status":
        lines.append(
            f"{'status':<12} {data['status_code']} {data['status']['vi']} ({data['status']['en']})"
        )
        lines.append(f"{'at':<12} {data['timestamp']}")
        rf = data["response_for"]
        lines.append(f"{'about':<12} {rf['code'] or ''} {rf['document_id']}")
    else:
        for organ in data["recipients"]:
            lines.append(f"{'to':<12} {organ['organ_id']} {organ['name'] or ''}".rstrip())
        lines.append(
            f"{'number':<12} {data['code']}  ({data['type']['name'] or data['type']['type']})"
        )
        lines.append(f"{'subject':<12} {data['subject']}")
        lines.append(
            f"{'promulgated':<12} {data['promulgation_date']} {data['place'] or ''}".rstrip()
        )
        if data["due_date"]:
            lines.append(f"{'due':<12} {data['due_date']}")
    if data["business"]:
        lines.append(f"{'business':<12} {data['business']['type']} ({data['business']['name']})")
    for att in data["attachments"]:
        inner = f" [zip: {att['inner_name']}]" if att["inner_name"] else ""
        lines.append(
            f"{'attachment':<12} {att['name']}{inner}  {att['size']} bytes  sha256 {att['sha256']}"
        )
    lines.append(f"{'signature':<12} {data['signature']}")
    for variant in data["variants"]:
        lines.append(f"{'variant':<12} {variant['where']}: {variant['message']}")
    for problem in data["problems"]:
        lines.append(f"{'problem':<12} {problem['where']}: {problem['message']}")
    return "\n".join(lines)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6}
_UNITS |= {"mib": 1 << 20, "g": 10**9, "gb": 10**9, "gib": 1 << 30}


def parse_size(text: str) -> int:
    """`20000`, `10KB`, `1MB`, `300MiB`..."""
    match = _SIZE.match(text)
    unit = (match[2] or "").lower() if match else ""
    if match is None or unit not in _UNITS:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 20000, 10KB, 1MB)")
    return int(float(match[1]) * _UNITS[unit])


# Above this many attachment bytes the sample is streamed to its output, never held whole.
_IN_MEMORY = 64 * 1024 * 1024


@doc.command("sample")
@click.option("--attachments", "count", type=click.IntRange(0, 100), default=1, show_default=True)
@click.option(
    "--size", default="20KB", show_default=True, help="Bytes per attachment (10KB, 1MB...)."
)
@click.option(
    "--to",
    "to_organs",
    default="000.00.00.H26",
    show_default=True,
    help="Recipients' organ ids, comma-separated.",
)
@click.option(
    "--from",
    "from_organ",
    default="000.00.00.G22",
    show_default=True,
    help="The sender's organ id.",
)
@click.option(
    "--kind", type=click.Choice(list(sample.KINDS)), default="công văn", show_default=True
)
@click.option(
    "--status",
    "status_code",
    default=None,
    help="Write a Status receipt with this code (01…16) instead.",
)
@click.option("--seed", type=int, default=None, help="Make the sample reproducible.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="File to write (stdout if absent).",
)
def sample_cmd(
    count: int,
    size: str,
    to_organs: str,
    from_organ: str,
    kind: str,
    status_code: str | None,
    seed: int | None,
    output: str | None,
) -> None:
    """Write a realistic Vietnamese official letter (công văn, quyết định, tờ trình...).

    Example: axis doc sample --attachments 3 --size 1MB --to 000.00.00.H26,000.00.00.H29 -o letter.edxml
    """
    recipients = [o.strip() for o in to_organs.split(",") if o.strip()]
    if not recipients:
        fail("--to needs at least one organ id")
    nbytes = parse_size(size)
    stream = nbytes * count > _IN_MEMORY
    letter = sample.make_letter(
        from_organ=from_organ,
        to_organs=recipients,
        attachments=count,
        size=nbytes,
        kind=kind,
        seed=seed,
        with_data=not stream,
        # Due dates relative to today, so a sample sent now is not overdue on arrival.
        today=dt.datetime.now(edoc.VN_TZ).date(),
    )
    package = letter
    if status_code is not None:
        try:
            code = edoc.StatusCode.from_code(status_code)
        except ValueError as exc:
            fail(str(exc))
            return
        package = sample.make_status(letter, code=code, seed=seed)
    try:
        if output is None:
            edoc.write(package, sys.stdout.buffer, attachment_source=sample.open_filler)
            sys.stdout.buffer.flush()
        else:
            with open(output, "wb") as out:
                edoc.write(package, out, attachment_source=sample.open_filler)
    except OSError as exc:
        fail(f"{output or 'stdout'}: {exc.strerror or exc}")
