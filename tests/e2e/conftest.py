"""End-to-end fixtures: the hub as real processes over real PostgreSQL and RabbitMQ.

`axis_run` gives a test a database and queue prefix of its own, registered agencies, hub processes
to kill and restart, a load driver that sends pre-signed letters concurrently and records every
answer, a recipient that drains its inbox and counts what it gets, and the checks on the database
that say whether every letter is whole and was delivered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

import edoc
import signing
from signing.devca import DevCA
from storage.db import drop_database
from tests.support.hub_process import HubProcess
from tests.support.private_services import PrivatePostgres, PrivateRabbit
from tests.support.waiting import wait_for
from tests.support.world import World, letter_package

SENDER = "000.00.00.G22"

# --------------------------------------------------------------------------- services


@pytest.fixture(scope="session", autouse=True)
def _unwind_on_sigterm() -> Iterator[None]:
    """A cancelled CI job sends SIGTERM: unwind as for Ctrl-C, so the fixtures stop the RabbitMQ
    node, the PostgreSQL cluster and the hubs instead of leaving them running."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def e2e_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return DevCA.init(tmp_path_factory.mktemp("e2e-ca"), "Axis E2E Test CA")


@pytest.fixture(scope="session")
def e2e_trust_dir(e2e_ca: DevCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("e2e-trust")
    (folder / "root.pem").write_bytes(e2e_ca.root_path.read_bytes())
    return folder


@pytest.fixture(scope="session")
def private_rabbit() -> Iterator[PrivateRabbit]:
    """A RabbitMQ node of this run's own: tests stop and crash it, never the shared one."""
    node = PrivateRabbit()
    try:
        node.start()
        yield node
    finally:
        node.close()


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this run's own: tests restart it, never the shared one."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


# --------------------------------------------------------------------------- letters


@dataclass
class Letter:
    """One pre-signed letter and what the axis answered the last time it was sent."""

    number: int
    edxml_id: str
    data: bytes
    recipients: tuple[str, ...]
    status: int | None = None
    document_id: str | None = None
    repeated: bool = False
    answer: str = ""
    attempts: int = 0

    @property
    def accepted(self) -> bool:
        return self.status == 202


class Sender:
    """Sends letters concurrently, as a busy agency's DMS would; records every answer.

    When the hub cannot be reached or answers 5xx, a worker records the failure and waits until
    /readyz answers 200 before it goes on, so an outage costs a few letters, not all of them. With
    `insist`, the worker then sends the same letter again until it is accepted, as a DMS that keeps
    its letters in order does.
    """

    def __init__(self, urls: list[str], token: str, concurrency: int, insist: bool) -> None:
        self.urls = urls
        self.token = token
        self.concurrency = concurrency
        self.insist = insist
        self.accepted = 0
        self.answered = 0  # letters whose (last) try is over, whatever its outcome
        self.answers: Counter[str] = Counter()
        self.order: list[Letter] = []  # in the order their 202 came
        self._holds: list[tuple[int, asyncio.Event]] = []

    def hold(self, number: int, until: asyncio.Event) -> None:
        """Letters from `number` on wait for `until`: the test makes sure some are left to send
        while its trouble lasts, however fast the first ones went."""
        self._holds.append((number, until))

    async def send(self, letters: list[Letter]) -> None:
        todo = iter(letters)
        timeout = aiohttp.ClientTimeout(total=60)
        connector = aiohttp.TCPConnector(limit=self.concurrency * 2)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

            async def worker() -> None:
                for letter in todo:
                    for number, until in self._holds:
                        if letter.number >= number:
                            await until.wait()
                    url = self.urls[letter.number % len(self.urls)]
                    while not await self.send_one(session, url, letter):
                        await self._until_ready(session, url)
                        if not self.insist:
                            break
                    self.answered += 1

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    async def send_one(self, session: aiohttp.ClientSession, url: str, letter: Letter) -> bool:
        """True when the letter is accepted, or refused for a reason that another try won't mend."""
        letter.attempts += 1
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/xml"}
        try:
            async with session.post(url + "/v1/documents", data=letter.data, headers=headers) as r:
                body = await r.read()
                letter.status = r.status
                self.answers[str(r.status)] += 1
                if r.status == 202:
                    letter.document_id = json.loads(body)["document_id"]
                    letter.repeated = r.headers.get("X-Axis-Repeated") == "true"
                    letter.answer = ""
                    self.accepted += 1
                    self.order.append(letter)
                    return True
                letter.answer = body[:300].decode(errors="replace")
                return r.status < 500
        except (aiohttp.ClientError, TimeoutError) as exc:
            letter.status = None
            letter.answer = f"{type(exc).__name__}: {exc}"
            self.answers[type(exc).__name__] += 1
            return False

    @staticmethod
    async def _until_ready(session: aiohttp.ClientSession, url: str) -> None:
        async def ready() -> bool:
            try:
                async with session.get(
                    url + "/readyz", timeout=aiohttp.ClientTimeout(total=5)
                ) as r:
                    return r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        await wait_for(ready, timeout=120, interval=0.1)


@dataclass
class Drained:
    """What one recipient got: every inbox appearance, and the acknowledgements that took."""

    organ_id: str
    appearances: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    first_acks: Counter[str] = field(default_factory=Counter)

    def once_each(self) -> bool:
        return all(len(ids) == 1 for ids in self.appearances.values())

    def repeats(self) -> dict[str, list[str]]:
        return {doc: ids for doc, ids in self.appearances.items() if len(ids) != 1}


class Recipient:
    """A pull agency's DMS: long-polls its inbox, takes each letter and acknowledges it."""

    def __init__(self, organ_id: str, token: str) -> None:
        self.organ_id = organ_id
        self.token = token
        self.drained = Drained(organ_id)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def drain(
        self,
        urls: list[str],
        expected: set[str],
        timeout: float = 120.0,
        ack_everywhere: bool = False,
    ) -> Drained:
        """Until every expected document came; each item is acknowledged before the next poll.

        With ack_everywhere, each acknowledgement goes to every hub at the same moment (two
        hubs racing to record the same delivery).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        got = self.drained
        polls = 0
        limit = asyncio.Semaphore(8)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

            async def ack(url: str, delivery_id: str) -> None:
                async with (
                    limit,
                    session.post(
                        f"{url}/v1/deliveries/{delivery_id}/ack", headers=self.headers
                    ) as r,
                ):
                    assert r.status == 200, (
                        f"ack {delivery_id} via {url}: {r.status} {await r.text()}"
                    )
                    if not (await r.json())["already_acknowledged"]:
                        got.first_acks[delivery_id] += 1

            while not expected <= got.appearances.keys():
                if loop.time() > deadline:
                    missing = expected - got.appearances.keys()
                    raise AssertionError(
                        f"{self.organ_id}: {len(missing)} of {len(expected)} letters never reached "
                        f"the inbox within {timeout} s, e.g. {sorted(missing)[:5]}"
                    )
                url = urls[polls % len(urls)]
                polls += 1
                async with session.get(
                    url + "/v1/inbox", params={"wait": "2", "limit": "500"}, headers=self.headers
                ) as r:
                    assert r.status == 200, await r.text()
                    items = [i for i in (await r.json())["items"] if i["kind"] == "letter"]
                for item in items:
                    got.appearances[item["document_id"]].append(item["delivery_id"])
                calls = []
                for n, item in enumerate(items):
                    targets = urls if ack_everywhere else [urls[n % len(urls)]]
                    calls += [ack(u, item["delivery_id"]) for u in targets]
                await asyncio.gather(*calls)
            # Nothing else may be waiting: no letter that was never accepted, no second copy.
            async with session.get(
                urls[0] + "/v1/inbox", params={"wait": "0.5"}, headers=self.headers
            ) as r:
                rest = [i for i in (await r.json())["items"] if i["kind"] == "letter"]
            for item in rest:
                got.appearances[item["document_id"]].append(item["delivery_id"])
        return got

    async def assert_fetches(self, url: str, letters: list[Letter]) -> None:
        """Fetching each letter gives back exactly the signed bytes its sender sent."""
        limit = asyncio.Semaphore(8)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

            async def fetch(letter: Letter) -> None:
                async with (
                    limit,
                    session.get(
                        f"{url}/v1/documents/{letter.document_id}", headers=self.headers
                    ) as r,
                ):
                    assert r.status == 200, f"letter {letter.number}: {r.status}"
                    assert await r.read() == letter.data, f"letter {letter.number} changed"

            await asyncio.gather(*(fetch(letter) for letter in letters))


# --------------------------------------------------------------------------- the run


class AxisRun:
    """A test's own axis: database, queue prefix, agencies, hub processes and the checks."""

    def __init__(
        self,
        world: World,
        tmp_path: Path,
        database_url: str,
        amqp_url: str,
        rabbit: PrivateRabbit,
        postgres: PrivatePostgres,
    ) -> None:
        self.world = world
        self.rabbit = rabbit
        self.postgres = postgres
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.amqp_url = amqp_url
        self.hubs: list[HubProcess] = []
        self.agencies: dict[str, Any] = {}
        seal_dir = tmp_path / "seal"
        # Made before any hub starts, so two hubs never race to create it.
        signing.Seal.generate(seal_dir)
        self.env = {
            "AXIS_DATABASE_URL": database_url,
            "AXIS_AMQP_URL": amqp_url,
            "AXIS_BLOB_URL": (tmp_path / "blobs").as_uri(),
            "AXIS_TRUST_DIR": str(world.trust_dir),
            "AXIS_SEAL_DIR": str(seal_dir),
            "AXIS_QUEUE_PREFIX": f"e2e{uuid.uuid4().hex[:10]}",
            "AXIS_LOG_FORMAT": "text",
            "AXIS_LOG_LEVEL": "info",
            "AXIS_PUSH_RETRY_DELAYS": "0.2,0.5,1",
            "AXIS_PUSH_MAX_ATTEMPTS": "1000",
            "AXIS_PUSH_TIMEOUT": "5",
        }

    async def register(self, organ_id: str, *, webhook: str | None = None) -> Any:
        conn = await asyncpg.connect(self.database_url)
        try:
            agency = await self.world.register(conn, organ_id, webhook=webhook)
        finally:
            await conn.close()
        self.agencies[organ_id] = agency
        return agency

    def hub(self, name: str = "hub", workers: int = 1) -> HubProcess:
        process = HubProcess(self.env, self.tmp_path / f"{name}.log", name, workers)
        self.hubs.append(process)
        return process

    def letters(self, count: int, recipients: list[str], sender: str = SENDER) -> list[Letter]:
        """Signed before the load, with the key read once (reading it is the slow part)."""
        agency = self.agencies[sender]
        key, chain = agency.key, agency.chain
        run = uuid.uuid4().hex[:8]
        out = []
        for n in range(count):
            edxml_id = f"{sender},2026/11/23,{n + 1}/VPCP-TTĐT-{run}"
            package = letter_package(sender, recipients, number=str(n + 1), document_id=edxml_id)
            data = signing.sign(edoc.build(package), key, chain)
            out.append(Letter(n, edxml_id, data, tuple(recipients)))
        return out

    def sender(
        self, urls: list[str], concurrency: int, *, insist: bool = False, sender: str = SENDER
    ) -> Sender:
        return Sender(urls, self.agencies[sender].token, concurrency, insist)

    def recipient(self, organ_id: str) -> Recipient:
        return Recipient(organ_id, self.agencies[organ_id].token)

    def logs(self) -> str:
        return "\n".join(
            f"--- {h.name}: last lines\n{h.log_tail(30)}\n--- {h.name}: errors\n{h.log_problems()}"
            for h in self.hubs
        )

    # ----------------------------------------------------------------- checks on the database

    async def stored_letters(self, letters: list[Letter]) -> dict[str, asyncpg.Record]:
        """edXML DocumentId -> the stored document with its deliveries and pending outbox rows."""
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                """SELECT doc.id, doc.edxml_document_id,
                          array_agg(d.recipient ORDER BY d.recipient)
                              FILTER (WHERE d.id IS NOT NULL) AS recipients,
                          (SELECT count(*) FROM outbox o JOIN deliveries d2 ON d2.id = o.delivery_id
                            WHERE d2.document_id = doc.id) AS outbox
                     FROM documents doc LEFT JOIN deliveries d ON d.document_id = doc.id
                    WHERE doc.kind = 'letter' AND doc.sender = $1
                      AND doc.edxml_document_id = ANY($2::text[])
                    GROUP BY doc.id""",
                SENDER,
                [letter.edxml_id for letter in letters],
            )
        finally:
            await conn.close()
        found: dict[str, asyncpg.Record] = {}
        for row in rows:
            assert row["edxml_document_id"] not in found, (
                f"stored twice: {row['edxml_document_id']}"
            )
            found[row["edxml_document_id"]] = row
        return found

    async def assert_none_half_stored(self, letters: list[Letter]) -> dict[str, asyncpg.Record]:
        """Every stored letter has exactly one delivery per recipient; an accepted one is stored."""
        stored = await self.stored_letters(letters)
        for letter in letters:
            row = stored.get(letter.edxml_id)
            if letter.accepted:
                assert row is not None, f"letter {letter.number} got 202 but is not stored"
                assert str(row["id"]) == letter.document_id
            if row is not None:
                assert tuple(row["recipients"] or ()) == tuple(sorted(letter.recipients)), (
                    f"letter {letter.number} is half-stored: deliveries to {row['recipients']}"
                )
        return stored

    async def settled(self, timeout: float = 90.0, *, push_too: bool = False) -> None:
        """Wait until the outbox is empty, every acknowledgement's status 01 is sealed and no
        delivery of a pull agency (and, with `push_too`, of a push agency whose webhook is back)
        is still queued. A push is recorded only after
        the webhook has answered, so a webhook may hold a letter a moment before the hub says so."""
        conn = await asyncpg.connect(self.database_url)
        try:

            async def quiet() -> bool:
                pending = await conn.fetchval("SELECT count(*) FROM outbox")
                queued = await conn.fetchval(
                    """SELECT count(*) FROM deliveries d JOIN agencies a ON a.organ_id = d.recipient
                        WHERE d.state = 'queued' AND (a.delivery_mode = 'pull' OR $1)""",
                    push_too,
                )
                # Status 01 of every acknowledgement sealed (it is sealed after the ack commits).
                unsealed = await conn.fetchval(
                    "SELECT count(*) FROM arrivals WHERE status_id IS NULL"
                )
                return bool(pending == 0 and queued == 0 and unsealed == 0)

            try:
                await wait_for(quiet, timeout=timeout, interval=0.2)
            except AssertionError:
                counts = await conn.fetch(
                    "SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY state"
                )
                outbox = await conn.fetchval("SELECT count(*) FROM outbox")
                unsealed = await conn.fetchval(
                    "SELECT count(*) FROM arrivals WHERE status_id IS NULL"
                )
                raise AssertionError(
                    f"work still pending after {timeout} s: outbox={outbox}, unsealed={unsealed}, deliveries="
                    f"{[tuple(c) for c in counts]}\n{self.logs()}"
                ) from None
        finally:
            await conn.close()

    async def assert_recorded_once(self, letters: list[Letter]) -> None:
        """Each (letter, recipient): one delivery, acknowledged, one 'acknowledged' audit row and one
        status 01 back to the sender, whichever process recorded it."""
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                """SELECT d.id, d.recipient, d.state, doc.edxml_document_id,
                          (SELECT count(*) FROM audit_events a
                            WHERE a.delivery_id = d.id AND a.event = 'acknowledged') AS acks,
                          (SELECT count(*) FROM documents s
                            WHERE s.kind = 'status' AND s.status_code = '01'
                              AND s.responds_to = doc.id AND s.sender = d.recipient) AS arrived
                     FROM deliveries d JOIN documents doc ON doc.id = d.document_id
                    WHERE doc.kind = 'letter' AND doc.sender = $1
                      AND doc.edxml_document_id = ANY($2::text[])""",
                SENDER,
                [letter.edxml_id for letter in letters],
            )
            status_deliveries = await conn.fetch(
                """SELECT s.responds_to, s.sender, count(d.id) AS deliveries
                     FROM documents s JOIN deliveries d ON d.document_id = s.id
                    WHERE s.kind = 'status' GROUP BY s.responds_to, s.sender HAVING count(d.id) <> 1"""
            )
        finally:
            await conn.close()
        expected = sum(len(letter.recipients) for letter in letters)
        assert len(rows) == expected, f"{len(rows)} deliveries for {expected} (letter, recipient)"
        wrong = [
            (r["edxml_document_id"], r["recipient"], r["state"], r["acks"], r["arrived"])
            for r in rows
            if r["state"] != "acknowledged" or r["acks"] != 1 or r["arrived"] != 1
        ]
        assert not wrong, f"{len(wrong)} deliveries not recorded exactly once, e.g. {wrong[:5]}"
        assert not status_deliveries, (
            f"status documents with other than one delivery: {status_deliveries[:5]}"
        )


@pytest.fixture
async def axis_run(
    private_rabbit: PrivateRabbit,
    private_postgres: PrivatePostgres,
    e2e_ca: DevCA,
    e2e_trust_dir: Path,
    tmp_path: Path,
) -> AsyncIterator[AxisRun]:
    """An axis of the test's own: a fresh database on the run's PostgreSQL cluster and a fresh
    queue prefix on the run's RabbitMQ node, both of which the test may restart or crash."""
    url = await private_postgres.create_database(f"axis_{uuid.uuid4().hex[:10]}")
    run = AxisRun(
        World(e2e_ca, e2e_trust_dir),
        tmp_path,
        url,
        private_rabbit.url,
        private_rabbit,
        private_postgres,
    )
    try:
        yield run
    finally:
        for hub in run.hubs:
            hub.close()
        # A failed test may leave a service stopped; the next test needs it running.
        with contextlib.suppress(Exception):
            if not private_postgres.running():
                private_postgres.start()
            await drop_database(url)
        with contextlib.suppress(Exception):
            if not private_rabbit.running():
                private_rabbit.start()
