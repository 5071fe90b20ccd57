"""`axis vdxp ...`: talk VDXP (the national axis's SDK protocol) to our axis or any VDXP endpoint,
e.g. for an agency to test its systemid and secret."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from axis.cli.output import emit, fail

F = TypeVar("F", bound=Callable[..., Any])


def _connection(command: F) -> F:
    @click.option(
        "--endpoint",
        required=True,
        help="The VDXP base URL (the SDK's service.endpoint), e.g. http://127.0.0.1:8080/vdxp.",
    )
    @click.option("--systemid", required=True, help="The system's code, e.g. 000.00.00.G22.")
    @click.option(
        "--secret-file",
        required=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A file holding the VDXP secret (first line).",
    )
    @wraps(command)
    def wrapper(endpoint: str, systemid: str, secret_file: Path, **kwargs: Any) -> Any:
        from axis.client.vdxp import VdxpClient, VdxpError

        lines = secret_file.read_text(encoding="utf-8").splitlines()
        secret = lines[0].strip() if lines else ""
        if not secret:
            fail(f"{secret_file} holds no secret")
        client = VdxpClient(endpoint, systemid, secret)
        try:
            return command(client=client, **kwargs)
        except VdxpError as exc:
            fail(f"{exc.desc} (ErrorCode {exc.error_code})")
        except OSError as exc:
            fail(f"cannot reach {endpoint}: {exc}")

    return wrapper  # type: ignore[return-value]


@click.group()
def vdxp() -> None:
    """Speak VDXP, the protocol of the national axis's SDK (SDKVXP), to an endpoint.

    \b
    Examples:
      axis vdxp send letter.edxml --endpoint http://127.0.0.1:8080/vdxp --systemid 000.00.00.G22 --secret-file g22.secret
      axis vdxp list --endpoint ... --systemid 000.00.00.H41 --secret-file h41.secret
      axis vdxp get DOCID -o letter.edxml --endpoint ... ; axis vdxp ack DOCID --endpoint ...
    """


@vdxp.command("send")
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--from", "from_", default=None, help="Send for this code (a registered sub-unit).")
@click.option("--status", "is_status", is_flag=True, help="The file is a Status package.")
@click.option("--to", "to", multiple=True, help="Recipient code for the `to` header; repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
@_connection
def send(
    client: Any,
    package: Path,
    from_: str | None,
    is_status: bool,
    to: tuple[str, ...],
    as_json: bool,
) -> None:
    """Send an edXML package (sendEdoc) and print its DocId.

    Example: axis vdxp send letter.edxml --endpoint http://127.0.0.1:8080/vdxp --systemid 000.00.00.G22 --secret-file g22.secret
    """
    doc_id = client.send_edoc(
        package.read_bytes(),
        from_=from_,
        messagetype="status" if is_status else "edoc",
        to=list(to) or None,
    )
    emit({"DocId": doc_id}, as_json=as_json, text=doc_id)


@vdxp.command("list")
@click.option("--status", "is_status", is_flag=True, help="List status packages, not letters.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
@_connection
def list_(client: Any, is_status: bool, as_json: bool) -> None:
    """List what waits to be received (getReceivedEdocList).

    Example: axis vdxp list --endpoint http://127.0.0.1:8080/vdxp --systemid 000.00.00.H41 --secret-file h41.secret
    """
    items = client.received("status" if is_status else "edoc")
    text = (
        "\n".join(
            f"{i.get('docId')}  {i.get('from')} -> {i.get('to')}  {i.get('created_time')}"
            + ("  unsigned (legacy)" if i.get("unsignedLegacy") else "")
            for i in items
        )
        or "nothing waiting"
    )
    emit(items, as_json=as_json, text=text)


@vdxp.command("get")
@click.argument("doc_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@_connection
def get(client: Any, doc_id: str, output: Path | None) -> None:
    """Fetch a package (getEdoc); to a file with -o, else to standard output.

    Example: axis vdxp get 0190f1c2-... -o letter.edxml --endpoint ... --systemid ... --secret-file ...
    """
    data = client.get_edoc(doc_id)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)
        click.echo(f"wrote {len(data)} bytes to {output}", err=True)


@vdxp.command("ack")
@click.argument("doc_id")
@click.option("--fail", "failed", is_flag=True, help="Report that the package could not be taken.")
@click.option("--processing", is_flag=True, help="Report processing (the item stays listed).")
@click.option("--description", default="", help="Why (sent with --fail).")
@_connection
def ack(client: Any, doc_id: str, failed: bool, processing: bool, description: str) -> None:
    """Acknowledge a received item (updateStatus done), or report fail/processing.

    Example: axis vdxp ack 0190f1c2-... --endpoint ... --systemid ... --secret-file ...
    """
    status = "fail" if failed else "processing" if processing else "done"
    client.update_status(doc_id, status, description)
    click.echo(f"{doc_id}: {status}")


@vdxp.command("agencies")
@click.option(
    "--kind",
    type=click.Choice(["list", "qd20", "sync"]),
    default="list",
    help="getAgenciesList, getAgenciesListQD20 or getSynchronizeUnit.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
@_connection
def agencies_(client: Any, kind: str, as_json: bool) -> None:
    """List the agencies the endpoint knows.

    Example: axis vdxp agencies --endpoint http://127.0.0.1:8080/vdxp --systemid 000.00.00.G22 --secret-file g22.secret
    """
    operation = {
        "list": "getAgenciesList",
        "qd20": "getAgenciesListQD20",
        "sync": "getSynchronizeUnit",
    }[kind]
    rows = client.agencies(operation)
    text = "\n".join(f"{r.get('code')}  {r.get('name')}" for r in rows) or "no agencies"
    emit(rows, as_json=as_json, text=text)


@vdxp.command("sent")
@click.argument("doc_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
@_connection
def sent(client: Any, doc_id: str, as_json: bool) -> None:
    """Follow a sent letter per recipient (getSentEdocList).

    Example: axis vdxp sent 0190f1c2-... --endpoint ... --systemid ... --secret-file ...
    """
    rows = client.sent(doc_id)
    text = "\n".join(
        f"{r.get('toCode')}  send={r.get('sendStatus')} receive={r.get('receiveStatus')}"
        f" status={r.get('statusCode') or '-'}"
        for r in rows
    )
    emit(rows, as_json=as_json, text=text or "no recipients")
