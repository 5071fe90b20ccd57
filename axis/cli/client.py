"""`axis send`, `axis inbox`, `axis fetch`, `axis ack`: an agency's side of the axis from the shell."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import click

from axis.cli.output import emit, fail
from axis.client import AxisClient, AxisClientError, LocalWriteError
from axis.client.filenames import attachment_file_name, name_max

url_option = click.option(
    "--url",
    envvar="AXIS_URL",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="The axis (env AXIS_URL).",
)
token_option = click.option(
    "--token", envvar="AXIS_TOKEN", required=True, help="The agency's API token (env AXIS_TOKEN)."
)


def _client(url: str, token: str) -> AxisClient:
    return AxisClient(url, token)


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--to",
    "expected_to",
    default=None,
    help="Comma-separated organ ids the packages must be addressed to; refuse to send otherwise.",
)
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256))
@url_option
@token_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def send(
    files: tuple[Path, ...],
    expected_to: str | None,
    concurrency: int,
    url: str,
    token: str,
    as_json: bool,
) -> None:
    """Send signed edXML packages; recipients are the package's To elements.

    \b
    Examples:
      axis send letter.xml
      axis send out/*.xml --concurrency 16       (a progress bar on a terminal)
      axis send letter.xml --to 000.00.00.H41    (refuse unless addressed to exactly these)
    """
    if expected_to:
        import edoc

        want = {o.strip() for o in expected_to.split(",") if o.strip()}
        for path in files:
            with path.open("rb") as stream:
                try:
                    package = edoc.parse(stream, attachment_sink=lambda _a: _Discard())
                except edoc.EdocError as exc:
                    fail(f"{path}: {exc}")
            have = {o.organ_id for o in getattr(package.header, "to", [])}
            if have != want:
                fail(
                    f"{path} is addressed to {', '.join(sorted(have))}, not to {', '.join(sorted(want))}"
                )

    results: list[dict[str, Any]] = []

    async def run() -> None:
        async with _client(url, token) as client:
            sem = asyncio.Semaphore(concurrency)
            show_bar = len(files) > 1 and sys.stderr.isatty()
            with (
                click.progressbar(length=len(files), label="sending", file=sys.stderr)
                if show_bar
                else _NoBar() as bar
            ):

                async def one(path: Path) -> None:
                    async with sem:
                        try:
                            answer = await client.send(path)
                            results.append({"file": str(path), "ok": True, **answer})
                        except AxisClientError as exc:
                            results.append(
                                {
                                    "file": str(path),
                                    "ok": False,
                                    "status": exc.status,
                                    "error": {
                                        "code": exc.code,
                                        "message": exc.message,
                                        "where": exc.where,
                                    },
                                }
                            )
                        bar.update(1)

                await asyncio.gather(*(one(p) for p in files))

    try:
        asyncio.run(run())
    except OSError as exc:
        fail(f"cannot reach the axis at {url}: {exc}")
    failed = [r for r in results if not r["ok"]]
    lines = [
        f"{r['file']}: accepted as {r['document_id']} for {len(r['deliveries'])} recipient(s)"
        if r["ok"]
        else f"{r['file']}: refused ({r['status']} {r['error']['code']}): {r['error']['message']}"
        for r in results
    ]
    emit(
        results[0] if len(results) == 1 else results,
        as_json=as_json,
        text="\n".join(lines),
    )
    if failed:
        raise SystemExit(1)


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


@click.command()
@click.option(
    "--wait", default=0.0, show_default=True, help="Seconds to long-poll when nothing is waiting."
)
@click.option("--limit", default=100, show_default=True)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep printing new deliveries as they arrive (one JSON per line).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write each listed package to this folder as DOCUMENT_ID.xml (small ones come inline "
    "with the list, larger ones are fetched).",
)
@click.option(
    "--ack",
    "auto_ack",
    is_flag=True,
    help="Acknowledge the listed deliveries in one call (with --out: once their files are written).",
)
@url_option
@token_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def inbox(
    wait: float,
    limit: int,
    follow: bool,
    out_dir: Path | None,
    auto_ack: bool,
    url: str,
    token: str,
    as_json: bool,
) -> None:
    """List letters and statuses waiting for your agency.

    \b
    Examples:
      axis inbox
      axis inbox -o inbox/ --ack     (write every waiting package, then acknowledge them all)
      axis inbox --follow --ack      (print each new delivery as a JSON line, acknowledge it)
    """
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(str(LocalWriteError(out_dir, exc)))

    async def take(client: AxisClient, items: list[dict[str, Any]]) -> None:
        """Write the packages (with --out), then acknowledge them all at once (with --ack)."""
        if out_dir is not None:
            for item in items:
                path = out_dir / f"{uuid.UUID(item['document_id'])}.xml"
                if "package_base64" in item:
                    await _write_file(path, _once(await client.package(item)))
                else:
                    await _write_file(path, client.stream(item["document_id"]))
                item["file"] = str(path)
                item.pop("package_base64", None)
        if auto_ack and items:
            results = await client.ack_many([i["delivery_id"] for i in items])
            refused = [r for r in results if not r["ok"]]
            if refused:
                fail("; ".join(f"{r['id']}: {r['error']['message']}" for r in refused))

    async def run() -> None:
        async with _client(url, token) as client:
            if follow:
                seen: set[str] = set()
                while True:
                    items = await client.inbox(wait=30, limit=limit, inline=out_dir is not None)
                    fresh = [i for i in items if i["delivery_id"] not in seen]
                    seen.update(i["delivery_id"] for i in fresh)
                    await take(client, fresh)
                    for item in fresh:
                        click.echo(json.dumps(item, ensure_ascii=False))
                    if not items:
                        seen.clear()
                    elif not fresh:
                        await asyncio.sleep(0.5)  # all shown, none taken off the list: no spin
            items = await client.inbox(wait=wait, limit=limit, inline=out_dir is not None)
            await take(client, items)
            text = (
                "\n".join(
                    f"{i['delivery_id']}  {i['kind']:<6} from {i['sender']:<16} "
                    + (
                        f"status {i['status_code']}"
                        if i["kind"] == "status"
                        else f"{i['code'] or ''} {i['subject'] or ''}"
                    )
                    + (f"  -> {i['file']}" if "file" in i else "")
                    for i in items
                )
                or "nothing waiting"
            )
            emit(items, as_json=as_json, text=text)

    try:
        asyncio.run(run())
    except LocalWriteError as exc:
        fail(str(exc))
    except AxisClientError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot reach the axis at {url}: {exc}")


@click.command()
@click.argument("document_id")
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for the package and its attachments.",
)
@click.option(
    "--ack",
    "delivery_id",
    default=None,
    help="Acknowledge this delivery once the files are written.",
)
@url_option
@token_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def fetch(
    document_id: str, out_dir: Path, delivery_id: str | None, url: str, token: str, as_json: bool
) -> None:
    """Download a letter: the signed edXML and each attachment, decoded.

    Files are named ID.xml and ID-N-NAME, NAME being the attachment's name made safe to write
    (no path, control or bidi characters, cut to the filesystem's limit, extension kept).

    Example: axis fetch 0192f0c1-... -o inbox/ --ack 0192f0c2-...
    """
    import edoc

    try:
        doc = str(uuid.UUID(document_id))
    except ValueError:
        fail(f"{document_id!r} is not a document id (a UUID, as `axis inbox` shows it)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(str(LocalWriteError(out_dir, exc)))
    limit = name_max(out_dir)

    async def run() -> dict[str, Any]:
        async with _client(url, token) as client:
            package_path = out_dir / f"{doc}.xml"
            size = await _write_file(package_path, client.stream(doc))
            with package_path.open("rb") as stream:
                package = edoc.parse(stream, attachment_sink=lambda _a: _Discard())
            written = []
            for position, attachment in enumerate(package.attachments, start=1):
                target = out_dir / attachment_file_name(doc, attachment.name, position, limit)
                await _write_file(target, _once(await client.attachment(doc, position)))
                written.append(
                    {"file": str(target), "size": attachment.size, "sha256": attachment.sha256}
                )
            acked = await client.ack(delivery_id) if delivery_id else None
            return {
                "package": str(package_path),
                "size": size,
                "attachments": written,
                "acknowledged": bool(acked),
            }

    try:
        result = asyncio.run(run())
    except LocalWriteError as exc:
        fail(str(exc))
    except AxisClientError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot reach the axis at {url}: {exc}")
    emit(
        result,
        as_json=as_json,
        text="\n".join(
            [f"wrote {result['package']} ({result['size']} bytes)"]
            + [f"wrote {a['file']} ({a['size']} bytes)" for a in result["attachments"]]
        ),
    )


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _write_file(path: Path, chunks: AsyncIterator[bytes]) -> int:
    """Write `chunks` to `path` through a temporary file beside it, so that a failure leaves no
    half-written file under the final name. A local failure is a LocalWriteError."""
    temporary = path.parent / f".axis-{secrets.token_hex(6)}.part"
    try:
        # Not mkstemp: its 0600 would stay on the file; 0666 here, less the user's umask.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise LocalWriteError(path, exc) from exc
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise LocalWriteError(path, exc) from exc
                size += len(chunk)
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise LocalWriteError(path, exc) from exc
        try:
            os.replace(temporary, path)
        except OSError as exc:
            raise LocalWriteError(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return size


@click.command()
@click.argument("delivery_ids", nargs=-1, required=True)
@url_option
@token_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def ack(delivery_ids: tuple[str, ...], url: str, token: str, as_json: bool) -> None:
    """Acknowledge deliveries, many in one call: the sender learns the letter arrived (status 01).

    Each id is answered on its own line; the command exits 1 if any was refused.

    Example: axis ack 0192f0c2-... 0192f0c3-...
    """

    async def run() -> list[dict[str, Any]]:
        async with _client(url, token) as client:
            return await client.ack_many(list(delivery_ids))

    try:
        results = asyncio.run(run())
    except AxisClientError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot reach the axis at {url}: {exc}")
    emit(
        results,
        as_json=as_json,
        text="\n".join(
            f"{r['id']}: acknowledged" + (" (already)" if r["already_acknowledged"] else "")
            if r["ok"]
            else f"{r['id']}: refused ({r['error']['code']}): {r['error']['message']}"
            for r in results
        ),
    )
    if any(not r["ok"] for r in results):
        raise SystemExit(1)
