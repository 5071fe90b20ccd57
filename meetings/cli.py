"""`axis cabinet …`: the Government's meeting people and rules (eCabinet, meetings/)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import click

from meetings import axis_port as ax
from meetings import people, rules


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            ax.fail("--password-stdin: standard input held no password")
        return password
    if not sys.stdin.isatty():
        ax.fail("no terminal to ask the password on; pipe it with --password-stdin")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group()
def cabinet() -> None:
    """eCabinet: the people of the Government's meetings and the meeting rules.

    \b
    Examples:
      echo "$PW" | axis cabinet person add --agency 000.00.00.G22 --login thutuong \\
          --name "Nguyễn Văn A" --kind member --title "Thủ tướng" --chair --password-stdin
      axis cabinet person list
      axis cabinet rules show
    """


@cabinet.group()
def person() -> None:
    """Members, deputies and the secretariat (they sign in at POST /v1/cabinet/sessions)."""


@person.command("add")
@click.option("--agency", "organ_id", required=True, help="Organ id of the person's agency.")
@click.option("--login", required=True, help="The name they sign in with.")
@click.option("--name", "full_name", required=True, help='Their name, e.g. "Trần Thị Bình".')
@click.option("--kind", type=click.Choice(people.KINDS), required=True)
@click.option("--title", default=None, help='A member\'s title, e.g. "Bộ trưởng Bộ Tài chính".')
@click.option("--chair", is_flag=True, help="The chair of the Government (the Prime Minister).")
@click.option("--no-vote", is_flag=True, help="A member who does not vote.")
@click.option(
    "--cert",
    "cert_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A personal certificate (PEM or DER); may be repeated.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def person_add(
    organ_id: str,
    login: str,
    full_name: str,
    kind: str,
    title: str | None,
    chair: bool,
    no_vote: bool,
    cert_files: tuple[Path, ...],
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Create a cabinet person: an account with the role `cabinet` and their profile.

    Example: axis cabinet person add --agency 000.00.00.G22 --login vpcp.thuky \\
        --name "Lê Văn C" --kind secretariat
    """
    if no_vote and kind != "member":
        ax.fail("--no-vote is for members; only members vote")
    try:
        certs = [people.load_certificate(p.read_bytes(), str(p)) for p in cert_files]
    except ax.AxisError as exc:
        ax.fail(exc.message)
    password = _password(password_stdin)
    created = ax.cli_run(
        lambda conn: people.add(
            conn,
            organ_id=organ_id,
            login=login,
            full_name=full_name,
            kind=kind,
            password=password,
            title=title,
            chair=chair,
            votes=False if no_vote else None,
            certificates=certs,
        )
    )
    ax.emit(
        created.public(),
        as_json=as_json,
        text=f"added {created.login} ({created.kind}) {created.full_name} id {created.id}",
    )


@person.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def person_list(as_json: bool) -> None:
    """List cabinet people.

    Example: axis cabinet person list --json
    """
    found = ax.cli_run(people.list_all)
    text = (
        "\n".join(
            f"{p.login:<24} {p.kind:<12} {'chair ' if p.chair else ''}{'votes ' if p.votes else ''}"
            f"{p.full_name}{'' if p.active else ' DISABLED'}"
            for p in found
        )
        or "no cabinet people"
    )
    ax.emit([p.public() for p in found], as_json=as_json, text=text)


@person.command("disable")
@click.option("--login", required=True, help="The person's login.")
def person_disable(login: str) -> None:
    """Stop a person from signing in; their open sessions end at once.

    Example: axis cabinet person disable --login bt.taichinh
    """
    ax.cli_run(lambda conn: people.disable(conn, login))
    click.echo(f"{login} is disabled")


@person.command("add-cert")
@click.option("--login", required=True, help="The person's login.")
@click.argument("cert_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def person_add_cert(login: str, cert_file: Path) -> None:
    """Register a personal certificate (PEM or DER) for a person.

    Example: axis cabinet person add-cert --login bt.taichinh bt.pem
    """
    try:
        cert = people.load_certificate(cert_file.read_bytes(), str(cert_file))
    except ax.AxisError as exc:
        ax.fail(exc.message)
    fp = ax.cli_run(lambda conn: people.add_certificate(conn, login, cert))
    click.echo(f"added certificate {fp} for {login}")


@cabinet.group("rules")
def rules_group() -> None:
    """The meeting rules: quorum fraction, notice days, take-back on close (versioned)."""


@rules_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def rules_show(as_json: bool) -> None:
    """Show the rules in force and every earlier version.

    Example: axis cabinet rules show
    """
    found = ax.cli_run(rules.history)
    cur = found["current"]
    ax.emit(
        found,
        as_json=as_json,
        text=f"version {cur['version']}: {json.dumps(cur['rules'], ensure_ascii=False)}",
    )


@rules_group.command("set")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def rules_set(file: TextIO, as_json: bool) -> None:
    """Make a new rules version from FILE: {"rules": {keys to change}, "note": "…"} ('-' = stdin).

    Example: echo '{"rules": {"notice_days": 5}, "note": "Quy chế mới"}' | axis cabinet rules set -
    """
    try:
        body = json.load(file)
    except json.JSONDecodeError as exc:
        ax.fail(f"{file.name}: not JSON ({exc})")
    if not isinstance(body, dict):
        ax.fail(f'{file.name}: must hold an object {{"rules": {{…}}, "note": "…"}}')
    created = ax.cli_run(lambda conn: rules.change(conn, body.get("rules"), body.get("note"), None))
    ax.emit(created, as_json=as_json, text=f"rules version {created['version']} is in force")


@click.group()
def meeting() -> None:
    """eCabinet meetings: check a downloaded packet offline, import an agenda.

    \b
    Examples:
      axis meeting import ./phien-hop-thang-6 --as vpcp.thuky
      axis meeting verify-packet phien-hop.zip --seal-cert axis-seal.crt
    """


@meeting.command("verify-packet")
@click.argument("zip_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--seal-cert",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The axis's seal certificate (PEM or DER), as the operator publishes it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def verify_packet(zip_file: Path, seal_cert: Path, as_json: bool) -> None:
    """Check a packet ZIP offline: the seal on manifest.json, then the SHA-256 and size of every
    paper it lists. Exit 1 naming the first problem.

    Example: axis meeting verify-packet meeting-019a…-packet-2.zip --seal-cert seal.crt
    """
    from meetings import packet_zip

    try:
        cert = people.load_certificate(seal_cert.read_bytes(), str(seal_cert))
    except ax.AxisError as exc:
        ax.fail(exc.message)
    try:
        found = packet_zip.verify(zip_file, cert)
    except packet_zip.PacketProblem as exc:
        ax.fail(str(exc))
    ax.emit(
        found,
        as_json=as_json,
        text=f"ok: packet {found['packet_version']} of meeting {found['meeting_id']} for "
        f"{found['for']}: the seal and {found['papers']} papers ({found['bytes']} bytes) check out",
    )


@meeting.command("import")
@click.argument(
    "folder", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option("--as", "by_login", required=True, help="The secretariat person's login.")
@click.option("--json", "as_json", is_flag=True, help="Print the meeting as JSON.")
def import_meeting(folder: Path, by_login: str, as_json: bool) -> None:
    """Make a draft meeting from DIR/agenda.json and the papers' files beside it.

    agenda.json: {"title", "kind", "starts_at", "place", "invitees": [logins], "items":
    [{"title", "presenter", "papers": [{"title", "file" (relative to DIR), "content_type",
    "confidential", "audience": null or [logins]}]}]}. A problem names the field or the line
    and creates nothing.

    Example: axis meeting import ./phien-hop-thang-6 --as vpcp.thuky
    """
    from meetings import importer

    config = ax.cli_config()
    try:
        made = ax.cli_run(
            lambda conn: importer.import_meeting(conn, config.blob_url, folder, by_login)
        )
    except importer.ImportProblem as exc:
        ax.fail(str(exc))
    papers = sum(len(i["papers"]) for i in made["items"])
    ax.emit(
        made,
        as_json=as_json,
        text=f"draft meeting {made['id']} made: {len(made['items'])} items, {papers} papers "
        f"(send it with POST /v1/meetings/{made['id']}/packets)",
    )


@click.group("bench")
def bench_group() -> None:
    """Joins `axis bench` (the axis merges a plug-in's `bench` group into its own)."""


@bench_group.command("meetings")
@click.option("--papers", default=200, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--total-mb", default=1024, show_default=True, type=click.IntRange(min=1),
    help="Size of all the papers together, in MiB.",
)  # fmt: skip
@click.option("--members", default=30, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def bench_meetings(papers: int, total_mb: int, members: int, as_json: bool) -> None:
    """Send a packet of PAPERS papers (TOTAL-MB in all) and have every member download the ZIP at
    once from a real `axis serve` in a throw-away sandbox, beside the same bytes read raw (not
    checked) from the blob store by as many readers; the hub's resident memory is sampled meanwhile.
    Members read with blocking sockets in threads, so that the load generator sharing the box costs
    little more than the kernel's copy; page_cache_mb_per_s (the blob files copied out of the page
    cache) is printed for scale.

    Prints {"papers","total_bytes","members","seconds","mb_per_s","baseline_mb_per_s","ratio",
    "page_cache_mb_per_s","hub_rss_growth_mb"} (MB = MiB; mb_per_s counts every member's ZIP).

    Example: axis bench meetings --papers 200 --total-mb 1024 --members 30 --json
    """
    import asyncio

    from meetings import bench

    def progress(message: str) -> None:
        click.echo(f"axis bench meetings: {message}", err=True)

    config = ax.cli_config()
    try:
        found = asyncio.run(bench.run(config, papers, total_mb * 1024 * 1024, members, progress))
    except Exception as exc:  # a service down, the hub failing: one line, exit 1
        ax.fail(f"{type(exc).__name__}: {exc}")
    ax.emit(found, as_json=as_json)


@bench_group.command("consultations")
@click.option("--ballots", default=10000, show_default=True, type=click.IntRange(min=1))
@click.option("--members", default=30, show_default=True, type=click.IntRange(1, 1000))
@ax.workers_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def bench_consultations(ballots: int, members: int, workers: int, as_json: bool) -> None:
    """MEMBERS members with their own certificates post BALLOTS signed ballots to one
    consultation, 30 at a time, on a real `axis serve` in a throw-away sandbox; then it is closed
    and the tally recounted from the stored ballots and sealed. Baseline: the bare signature
    checks of the same ballots in the same run.

    Prints {"ballots","members","seconds","ballots_per_s","tally_seconds","baseline_verify_per_s",
    "ratio","hub_rss_growth_mb"}.

    Example: axis bench consultations --ballots 10000 --members 30 --json
    """
    import asyncio

    from meetings import bench

    def progress(message: str) -> None:
        click.echo(f"axis bench consultations: {message}", err=True)

    config = ax.cli_config()
    try:
        found = asyncio.run(bench.run_consultations(config, ballots, members, progress, workers))
    except Exception as exc:  # a service down, the hub failing: one line, exit 1
        ax.fail(f"{type(exc).__name__}: {exc}")
    ax.emit(found, as_json=as_json)


@cabinet.command("sign-ballot")
@click.argument("payload_file", type=click.File("rb"), default="-", metavar="[PAYLOAD.json]")
@ax.signer_options
@click.option(
    "-o", "--output", type=click.File("w"), default="-", help="Where to write the ballot."
)
def sign_ballot(payload_file: BinaryIO, key_path: Path, cert_path: Path, output: TextIO) -> None:
    """Sign a ballot with a member's own key: reads the payload the consultation's page shows
    ({"type": "axis.cabinet.ballot", "consultation_id", "form_sha256", "member", "answers"}; a
    missing signed_at is set to now) and writes {"payload", "alg", "signature", "certificate",
    "chain"} for POST /v1/consultations/{id}/ballots. Offline: nothing is sent.

    Example: axis cabinet sign-ballot phieu.json --key key.pem --cert cert.pem -o signed.json
    """
    from datetime import UTC, datetime

    from signing.errors import SignatureError
    from signing.keys import load_certificates, load_private_key
    from signing.seal import Seal

    try:
        payload = json.loads(payload_file.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        ax.fail(f"the payload is not JSON: {exc}")
    if not isinstance(payload, dict):
        ax.fail("the payload must be a JSON object")
    payload.setdefault("type", "axis.cabinet.ballot")
    payload.setdefault("signed_at", datetime.now(UTC).isoformat())
    try:
        signer = Seal(load_private_key(key_path), load_certificates(cert_path))
        signed = signer.sign_json(payload)
    except SignatureError as exc:
        ax.fail(exc.message)
    output.write(json.dumps(signed, ensure_ascii=False, indent=2) + "\n")


_SEAL_CERT = click.option(
    "--seal-cert",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The axis's seal certificate (PEM or DER), as the operator publishes it.",
)


def _seal_certificate(path: Path) -> Any:
    try:
        return people.load_certificate(path.read_bytes(), str(path))
    except ax.AxisError as exc:
        ax.fail(exc.message)


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        ax.fail(f"{path}: not JSON: {exc}")


@cabinet.command("check-tally")
@click.argument("tally_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_SEAL_CERT
@click.option(
    "--trust",
    "trust_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The CAs of the members' certificates (as AXIS_TRUST_DIR).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def check_tally(tally_file: Path, seal_cert: Path, trust_dir: Path | None, as_json: bool) -> None:
    """Check a sealed tally offline: the axis's seal, every ballot's signature and certificate
    chain, that each belongs to the form and an asked member, and recount. Exit 1 naming the
    first problem.

    Example: axis cabinet check-tally tally.json --seal-cert seal.crt --trust ./ca
    """
    from meetings import tally
    from signing.errors import SignatureError
    from signing.trust import TrustStore

    cert = _seal_certificate(seal_cert)
    try:
        trust = TrustStore.from_directory(trust_dir) if trust_dir else None
    except SignatureError as exc:
        ax.fail(exc.message)
    sealed = _json_file(tally_file)
    try:
        payload = tally.check(sealed, cert, trust)
    except tally.TallyProblem as exc:
        ax.fail(str(exc))
    found = {
        "ok": True,
        "consultation_id": payload["consultation_id"],
        "ballots": len(payload["ballots"]),
        "questions": [
            {"number": q["number"], "outcome": q["outcome"], "decided_by": q["decided_by"]}
            for q in payload["questions"]
        ],
    }
    ax.emit(
        found,
        as_json=as_json,
        text=f"ok: consultation {payload['consultation_id']}: the seal and {len(payload['ballots'])} "
        "ballots check out; the recount agrees: "
        + ", ".join(f"question {q['number']} {q['outcome']}" for q in payload["questions"]),
    )


@cabinet.command("check-receipt")
@click.argument("receipt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_SEAL_CERT
@click.option(
    "--ballot",
    "ballot_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The ballot as signed, to check that it is the one the receipt names.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def check_receipt(
    receipt_file: Path, seal_cert: Path, ballot_file: Path | None, as_json: bool
) -> None:
    """Check a ballot receipt offline: the axis's seal over its batch's Merkle root, and the
    receipt's path up to that root (and, with --ballot, that the ballot is the one received).
    RECEIPT_FILE is the receipt, or the whole answer of POST /v1/consultations/{id}/ballots.
    Exit 1 naming the first problem.

    Example: axis cabinet check-receipt answer.json --seal-cert seal.crt --ballot signed.json
    """
    from meetings import tally

    cert = _seal_certificate(seal_cert)
    receipt = _json_file(receipt_file)
    if isinstance(receipt, dict) and "receipt" in receipt:
        receipt = receipt["receipt"]
    ballot = _json_file(ballot_file) if ballot_file else None
    try:
        payload = tally.check_receipt(receipt, cert, ballot)
    except tally.ReceiptProblem as exc:
        ax.fail(str(exc))
    ax.emit(
        {"ok": True, **payload, "ballot_checked": ballot is not None},
        as_json=as_json,
        text=f"ok: version {payload['version']} of member {payload['member']}'s ballot "
        f"({payload['ballot_sha256']}) received {payload['received_at']} in consultation "
        f"{payload['consultation_id']}"
        + ("" if ballot else " (pass --ballot to check the ballot)"),
    )
