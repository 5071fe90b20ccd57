"""A throw-away world for one benchmark run: its own database, RabbitMQ vhost (or queue prefix),
blob folder, development CA and registered agencies, all removed when the run ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aio_pika
import asyncpg

import edoc
import signing
from axis import plugins
from axis.config import Config
from axis.core import agencies
from axis.workers.topology import Names
from edoc import sample
from edoc.values import format_date
from signing.devca import DevCA, IssuedCertificate
from storage import migrations
from storage.db import drop_database, ensure_database, with_database

SENDER = "000.00.00.G22"
VHOST_TIMEOUT = 30.0
AMQP_TIMEOUT = 60.0

Progress = Callable[[str], None]


class SandboxError(Exception):
    """The benchmark's world could not be made (a service is down, a command failed)."""


def recipient_ids(count: int) -> list[str]:
    """`count` distinct organ ids shaped like provinces' units: 000.00.01.H01, 000.00.01.H02, ..."""
    return [f"000.00.{1 + i // 99:02d}.H{1 + i % 99:02d}" for i in range(count)]


@dataclass
class BenchAgency:
    organ_id: str
    token: str


@dataclass
class Sandbox:
    name: str
    root: Path
    database_url: str
    amqp_url: str
    queue_prefix: str
    #: How RabbitMQ is kept apart from the operator's data, in words for the report.
    isolation: str
    sender: BenchAgency
    recipients: list[BenchAgency]
    issued: IssuedCertificate
    retry_levels: int
    notes: list[str] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        return self.root / "hub.log"

    def hub_env(self, port: int) -> dict[str, str]:
        """The AXIS_* variables of the hub under test."""
        return {
            "AXIS_DATABASE_URL": self.database_url,
            "AXIS_AMQP_URL": self.amqp_url,
            "AXIS_BLOB_URL": (self.root / "blobs").as_uri(),
            "AXIS_LISTEN": f"127.0.0.1:{port}",
            "AXIS_QUEUE_PREFIX": self.queue_prefix,
            "AXIS_TRUST_DIR": str(self.root / "trust"),
            "AXIS_SEAL_DIR": str(self.root / "seal"),
            "AXIS_PUBLIC_URL": "",
            # A sandbox keeps no VDXP secrets worth a key of its own.
            "AXIS_ENV": "development",
        }

    def sign_letters(self, count: int, size: int) -> list[bytes]:
        """`count` signed letters from the sender to every recipient, each with one attachment of
        `size` bytes. Attachments differ, so the blob store writes each (no deduplication), and
        every DocumentId is unique, so no letter is taken for a repeat of another."""
        key = signing.load_private_key(self.issued.key_path)
        chain = [self.issued.certificate, *self.issued.chain]
        to = [r.organ_id for r in self.recipients]
        letters = []
        today = datetime.now(edoc.VN_TZ).date()  # dated now, so none is overdue on arrival
        for i in range(count):
            package = sample.make_letter(
                from_organ=self.sender.organ_id,
                to_organs=to,
                attachments=1,
                size=size,
                seed=i,
                today=today,
            )
            header = package.header
            assert isinstance(header, edoc.MessageHeader)
            document_id = (
                f"{self.sender.organ_id},{format_date(header.promulgation_info.date)},"
                f"{i + 1}/BENCH-{self.name[-8:].upper()}"
            )
            package = dataclasses.replace(
                package, header=dataclasses.replace(header, document_id=document_id)
            )
            letters.append(signing.sign(edoc.build(package), key, chain))
        return letters


#: `prefix` keeps the run's queues apart by name on the configured vhost instead of making a vhost
#: of its own: the tests use it, since creating and deleting vhosts can stall a small shared broker.
ISOLATION_VARIABLE = "AXIS_BENCH_ISOLATION"


@contextlib.asynccontextmanager
async def open_sandbox(base: Config, recipients: int, progress: Progress) -> AsyncIterator[Sandbox]:
    """Make the world on the servers `base` points at; tear every piece down on the way out."""
    name = f"axis_bench_{uuid.uuid4().hex[:8]}"
    retry_levels = len(base.push_retry_delays)
    async with contextlib.AsyncExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="axis-bench-"))
        stack.callback(shutil.rmtree, root, ignore_errors=True)

        database_url = with_database(base.database_url, name)
        progress(f"creating database {name} and RabbitMQ vhost {name}")
        try:
            await ensure_database(database_url)
        except (OSError, asyncpg.PostgresError) as exc:
            raise SandboxError(
                f"cannot create a database on AXIS_DATABASE_URL: {type(exc).__name__} {exc}"
            ) from exc
        stack.push_async_callback(
            _quietly, "drop database " + name, lambda: drop_database(database_url)
        )
        conn = await asyncpg.connect(database_url)
        try:
            await migrations.apply(conn, plugins.migration_dirs())
        finally:
            await conn.close()

        notes: list[str] = []
        # Registered before the attempt: a timed-out add_vhost may still finish on the broker.
        stack.push_async_callback(_quietly, "delete vhost " + name, lambda: _delete_vhost(name))
        try:
            if os.environ.get(ISOLATION_VARIABLE, "vhost") == "prefix":
                raise _NoVhost(f"{ISOLATION_VARIABLE}=prefix")
            amqp_url = await asyncio.to_thread(_create_vhost, base.amqp_url, name)
        except _NoVhost as exc:
            amqp_url = base.amqp_url
            vhost = urllib.parse.unquote(urllib.parse.urlsplit(base.amqp_url).path[1:]) or "/"
            isolation = f"queue prefix {name} on vhost {vhost} (no vhost of its own: {exc})"
            progress(f"no vhost ({exc}); using the queue prefix {name} on vhost {vhost}")
            notes.append(
                f"rabbitmqctl could not make a vhost ({exc}); queues use the prefix {name} on "
                f"vhost {vhost} and are deleted at the end"
            )
        else:
            isolation = f"vhost {name}"
        try:
            connection = await aio_pika.connect(amqp_url, timeout=AMQP_TIMEOUT)
        except Exception as exc:
            raise SandboxError(
                f"cannot reach RabbitMQ at AXIS_AMQP_URL: {type(exc).__name__} {exc}"
            ) from exc
        await connection.close()

        progress("making a development CA and registering agencies")
        (root / "trust").mkdir()
        ca = await asyncio.to_thread(DevCA.init, root / "ca", "Axis Bench CA")
        shutil.copy(ca.root_path, root / "trust" / "root.pem")
        issued = await asyncio.to_thread(ca.issue, SENDER, "Văn phòng Chính phủ")
        organs = recipient_ids(recipients)
        conn = await asyncpg.connect(database_url)
        try:
            _, sender_token = await agencies.add(
                conn,
                organ_id=SENDER,
                name="Văn phòng Chính phủ",
                certificates=[issued.certificate],
            )
            registered = []
            for organ in organs:
                _, token = await agencies.add(conn, organ_id=organ, name=f"Cơ quan {organ}")
                registered.append(BenchAgency(organ, token))
        finally:
            await conn.close()
        sandbox = Sandbox(
            name=name,
            root=root,
            database_url=database_url,
            amqp_url=amqp_url,
            queue_prefix=name,
            isolation=isolation,
            sender=BenchAgency(SENDER, sender_token),
            recipients=registered,
            issued=issued,
            retry_levels=retry_levels,
            notes=notes,
        )
        if amqp_url == base.amqp_url:
            # On a shared vhost the queues are removed one by one.
            stack.push_async_callback(
                _quietly, "delete queues " + name, lambda: _delete_queues(sandbox)
            )
        yield sandbox


class _NoVhost(Exception):
    pass


def _rabbitmqctl(*args: str, timeout: float = 60) -> None:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if not Path(exe).exists():
        raise _NoVhost("rabbitmqctl is not installed")
    try:
        result = subprocess.run(
            [exe, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _NoVhost(f"rabbitmqctl failed: {exc}") from exc
    if result.returncode != 0:
        lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
        said = next((x for x in lines if x.startswith("Error")), lines[-1] if lines else "")
        raise _NoVhost(f"rabbitmqctl {args[0]}: {said or result.returncode}")


def _create_vhost(base_url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise _NoVhost(f"RabbitMQ at {parts.hostname} is not on this machine")
    if (parts.port or 5672) != 5672:
        # rabbitmqctl speaks to the machine's default node, which listens on 5672.
        raise _NoVhost(f"RabbitMQ on port {parts.port} may not be the node rabbitmqctl manages")
    # A broker busy with other vhosts can hold add_vhost for minutes; a prefix serves as well.
    _rabbitmqctl("add_vhost", name, timeout=VHOST_TIMEOUT)
    try:
        _rabbitmqctl("set_permissions", "-p", name, parts.username or "guest", ".*", ".*", ".*")
    except _NoVhost:
        with contextlib.suppress(_NoVhost):
            _rabbitmqctl("delete_vhost", name)
        raise
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(name, safe="")))


async def _delete_vhost(name: str) -> None:
    try:
        await asyncio.to_thread(_rabbitmqctl, "delete_vhost", name)
    except _NoVhost as exc:
        if "does not exist" not in str(exc) and "not installed" not in str(exc):
            raise


async def _delete_queues(sandbox: Sandbox) -> None:
    names = Names(sandbox.queue_prefix)
    organs = [sandbox.sender.organ_id, *(r.organ_id for r in sandbox.recipients)]
    queues = [names.agency_queue(o) for o in organs]
    queues += [names.retry(i) for i in range(sandbox.retry_levels)] + [names.dead]
    queues += plugins.plugin_queues(names.prefix)  # e.g. the eCabinet gateway's
    exchanges = [names.deliveries] + [names.retry(i) for i in range(sandbox.retry_levels)]
    connection = await aio_pika.connect(sandbox.amqp_url, timeout=AMQP_TIMEOUT)
    try:
        for queue in queues:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(queue)
            with contextlib.suppress(Exception):
                await channel.close()
        for exchange in exchanges:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(exchange)
            with contextlib.suppress(Exception):
                await channel.close()
    finally:
        await connection.close()


async def _quietly(what: str, step: Callable[[], Awaitable[None]]) -> None:
    """Run one clean-up step; a failure is said on stderr and does not stop the others."""
    try:
        await asyncio.wait_for(step(), 90)
    except Exception as exc:
        print(f"axis bench: could not {what}: {exc}", file=sys.stderr)
