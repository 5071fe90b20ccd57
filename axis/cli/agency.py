"""`axis agency ...`: register agencies, their certificates, tokens and delivery mode."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
import click
from cryptography import x509

import signing
from axis.adapters.vdxp import registry as vdxp_registry
from axis.cli.output import emit, fail
from axis.core import agencies
from axis.core.errors import AxisError
from axis.core.secrets import SecretBox

T = TypeVar("T")


def _run(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    from axis.cli.main import load_config

    cfg = load_config()

    async def go() -> T:
        conn = await asyncpg.connect(cfg.database_url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(go())
    except AxisError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot reach PostgreSQL at AXIS_DATABASE_URL: {exc}")
    except asyncpg.UndefinedTableError:
        fail("the database has no axis tables yet; run `axis migrate` first")
    raise AssertionError("unreachable")


def _certs(paths: tuple[Path, ...], organ_id: str) -> list[x509.Certificate]:
    from axis.cli.main import load_config

    places = load_config().cert_organ_fields
    out = []
    for path in paths:
        try:
            out.append(agencies.load_certificate(path.read_bytes(), organ_id, places))
        except AxisError as exc:
            fail(f"{path}: {exc.message}")
    return out


def _organ_report(cert: x509.Certificate) -> signing.CertificateOrgan:
    """Which organ id the certificate states and where, for the operator registering it."""
    from axis.cli.main import load_config

    return signing.organ_codes(cert, load_config().cert_organ_fields)


@click.group()
def agency() -> None:
    """Register and manage the agencies that use the axis.

    \b
    Examples:
      axis agency add --organ 000.00.00.G22 --name "Văn phòng Chính phủ" --cert g22.crt
      axis agency add --organ 000.00.00.H41 --name "UBND tỉnh Nghệ An" --webhook https://dms.nghean.gov.vn/axis
      axis agency list
    """


_ALLOW_PRIVATE_HELP = (
    "Let the webhook be on localhost or a loopback, link-local or private address "
    "(refused without it)."
)


@agency.command("add")
@click.option(
    "--organ", "organ_id", required=True, help="Organ id (mã định danh), e.g. 000.00.00.G22."
)
@click.option(
    "--name", required=True, help='The agency\'s name, e.g. "Bộ Thông tin và Truyền thông".'
)
@click.option(
    "--cert",
    "certs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Signing certificate (PEM or DER); repeat for several.",
)
@click.option(
    "--webhook", default=None, help="Push deliveries to this URL; without it the agency pulls."
)
@click.option("--allow-private", is_flag=True, help=_ALLOW_PRIVATE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def add(
    organ_id: str,
    name: str,
    certs: tuple[Path, ...],
    webhook: str | None,
    allow_private: bool,
    as_json: bool,
) -> None:
    """Register an agency and print its API token (shown this once only).

    Example: axis agency add --organ 000.00.00.G22 --name "Văn phòng Chính phủ" --cert g22.crt
    """
    loaded = _certs(certs, organ_id)
    box, problem = _secret_box()

    async def work(conn: asyncpg.Connection) -> tuple[agencies.Agency, str, str | None]:
        async with conn.transaction():
            found, token = await agencies.add(
                conn,
                organ_id=organ_id,
                name=name,
                webhook_url=webhook,
                allow_private=allow_private,
                certificates=loaded,
            )
            secret = await vdxp_registry.issue_secret(conn, found.organ_id, box) if box else None
        return found, token, secret

    found, token, secret = _run(work)
    if problem:
        click.echo(f"warning: no VDXP secret issued: {problem}", err=True)
    data = {**found.details(), "token": token, "vdxp_secret": secret}
    stated = {signing.fingerprint(c): _organ_report(c) for c in loaded}
    data["certificates"] = [
        {
            "fingerprint": c.fingerprint,
            "subject": c.subject,
            "not_after": c.not_after.isoformat(),
            **(stated[c.fingerprint].as_dict() if c.fingerprint in stated else {}),
        }
        for c in found.certificates
    ]
    text = (
        f"registered {found.organ_id} ({found.name}), delivery: {found.delivery_mode}\n"
        + "".join(f"certificate {fp}: {report.sentence()}\n" for fp, report in stated.items())
        + f"API token (shown once, keep it safe): {token}\n"
        + (
            f"VDXP systemid: {found.organ_id}, secret (shown once, keep it safe): {secret}"
            if secret
            else "no VDXP secret: set AXIS_SECRET_KEY, then run `axis agency rotate-secret`"
        )
    )
    emit(data, as_json=as_json, text=text)


def _secret_box() -> tuple[SecretBox | None, str | None]:
    """The key that encrypts VDXP secrets, or why there is none (`add` registers all the same)."""
    from axis.cli.main import load_config

    try:
        return SecretBox.from_config(load_config()), None
    except AxisError as exc:
        return None, exc.message


@agency.command("rotate-secret")
@click.argument("organ_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def rotate_secret(organ_id: str, as_json: bool) -> None:
    """Issue a new VDXP secret (systemid = ORGAN_ID); the old one stops working at once.

    Example: axis agency rotate-secret 000.00.00.G22
    """
    box, problem = _secret_box()
    if box is None:
        fail(problem or "no key for VDXP secrets")
    assert box is not None
    secret = _run(lambda conn: vdxp_registry.issue_secret(conn, organ_id, box))
    emit(
        {"organ_id": organ_id, "systemid": organ_id, "vdxp_secret": secret},
        as_json=as_json,
        text=f"new VDXP secret for {organ_id} (shown once): {secret}",
    )


@agency.command("set-policy")
@click.argument("organ_id")
@click.argument("policy", type=click.Choice(agencies.POLICIES))
def set_policy(organ_id: str, policy: str) -> None:
    """Choose how an agency's package signatures are checked: strict (default: a real XML-DSig by
    the From organ) or legacy (placeholder or missing signatures accepted, marked unsigned-legacy
    and sealed by the axis).

    Example: axis agency set-policy 000.00.00.H41 legacy
    """
    found = _run(lambda conn: agencies.set_signature_policy(conn, organ_id, policy))
    click.echo(f"{found.organ_id} signature policy: {found.signature_policy}")


@agency.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def list_(as_json: bool) -> None:
    """List every registered agency.

    Example: axis agency list --json
    """

    async def work(conn: asyncpg.Connection) -> tuple[list[agencies.Agency], set[str]]:
        return await agencies.list_all(conn), await vdxp_registry.hubs(conn)

    found, hubs = _run(work)
    rows = [
        {
            **a.public(),
            "delivery": a.delivery_mode,
            "signature_policy": a.signature_policy,
            "vdxp_hub": a.organ_id in hubs,
        }
        for a in found
    ]
    text = (
        "\n".join(
            f"{r['organ_id']:<16} {'active' if r['active'] else 'DISABLED':<8} {r['delivery']:<4}"
            f" {'hub' if r['vdxp_hub'] else '':<3} {r['name']}"
            for r in rows
        )
        or "no agencies registered"
    )
    emit(rows, as_json=as_json, text=text)


@agency.command("show")
@click.argument("organ_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def show(organ_id: str, as_json: bool) -> None:
    """Show one agency with its certificates and, for a push agency, how its pushes fare
    (the failing delivery's full error, which its senders do not see).

    Example: axis agency show 000.00.00.G22
    """

    async def work(conn: asyncpg.Connection) -> dict[str, object]:
        found = await agencies.get(conn, organ_id)
        data: dict[str, object] = {
            **found.details(),
            "vdxp_hub": await vdxp_registry.is_hub(conn, organ_id),
        }
        if found.delivery_mode == "push":
            from axis.workers.dispatch.retries import push_state

            data["push"] = await push_state(conn, found.organ_id)
        return data

    emit(_run(work), as_json=as_json)


@agency.command("set-hub")
@click.argument("organ_id")
@click.argument("state", type=click.Choice(["on", "off"]))
def set_hub(organ_id: str, state: str) -> None:
    """Let a hub system (e.g. a provincial platform) register and delete its own sub-units over
    VDXP (registerAgency/deleteAgency), or stop it (off, the default). Units it registered before
    keep working when it is switched off; units you disabled stay disabled whatever it sends.

    Example: axis agency set-hub 000.00.00.H41 on
    """
    _run(lambda conn: vdxp_registry.set_hub(conn, organ_id, state == "on"))
    click.echo(
        f"{organ_id} "
        + (
            "may now register and delete its sub-units over VDXP"
            if state == "on"
            else "may no longer register or delete sub-units over VDXP"
        )
    )


@agency.command("disable")
@click.argument("organ_id")
def disable(organ_id: str) -> None:
    """Stop an agency from sending and receiving; its token stops working.

    Example: axis agency disable 000.00.00.H41
    """
    _run(lambda conn: agencies.set_active(conn, organ_id, False))
    click.echo(f"{organ_id} is disabled")


@agency.command("enable")
@click.argument("organ_id")
def enable(organ_id: str) -> None:
    """Let a disabled agency send and receive again.

    Example: axis agency enable 000.00.00.H41
    """
    _run(lambda conn: agencies.set_active(conn, organ_id, True))
    click.echo(f"{organ_id} is enabled")


@agency.command("rotate-token")
@click.argument("organ_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def rotate_token(organ_id: str, as_json: bool) -> None:
    """Issue a new API token; the old one stops working at once.

    Example: axis agency rotate-token 000.00.00.G22
    """
    token = _run(lambda conn: agencies.rotate_token(conn, organ_id))
    emit(
        {"organ_id": organ_id, "token": token},
        as_json=as_json,
        text=f"new API token for {organ_id} (shown once): {token}",
    )


@agency.command("set-webhook")
@click.argument("organ_id")
@click.argument("url", required=False)
@click.option("--allow-private", is_flag=True, help=_ALLOW_PRIVATE_HELP)
def set_webhook(organ_id: str, url: str | None, allow_private: bool) -> None:
    """Push deliveries to URL, or switch the agency back to pulling when no URL is given.

    \b
    Only http and https URLs; pushes never follow a redirect. A webhook on localhost or a
    loopback, link-local or private address needs --allow-private (asked again each time).
    Example: axis agency set-webhook 000.00.00.H41 https://dms.example.gov.vn/axis
    """
    found = _run(
        lambda conn: agencies.set_webhook(conn, organ_id, url, allow_private=allow_private)
    )
    click.echo(
        f"{organ_id} now takes delivery by {found.delivery_mode}"
        + (f" at {url}" if url else "")
        + (" (private address allowed)" if found.webhook_allow_private else "")
    )


@agency.command("add-cert")
@click.argument("organ_id")
@click.argument("cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def add_cert(organ_id: str, cert: Path, as_json: bool) -> None:
    """Register another signing certificate for an agency. Letters it signs are the agency's,
    whatever its subject says; the command prints which organ id, if any, it states and where.

    Example: axis agency add-cert 000.00.00.G22 new.crt
    """
    loaded = _certs((cert,), organ_id)[0]
    fp = _run(lambda conn: agencies.add_certificate(conn, organ_id, loaded))
    report = _organ_report(loaded)
    emit(
        {"organ_id": organ_id, "fingerprint": fp, **report.as_dict()},
        as_json=as_json,
        text=f"added certificate {fp} to {organ_id}\n{report.sentence()}",
    )


@agency.command("remove-cert")
@click.argument("organ_id")
@click.argument("fingerprint")
def remove_cert(organ_id: str, fingerprint: str) -> None:
    """Withdraw a certificate (by its SHA-256 fingerprint); letters it signs are refused from now on.

    Example: axis agency remove-cert 000.00.00.G22 3f9a...
    """
    _run(lambda conn: agencies.remove_certificate(conn, organ_id, fingerprint))
    click.echo(f"removed certificate {fingerprint} from {organ_id}")
