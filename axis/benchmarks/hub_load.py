"""The hub under test as a real `axis serve` process, and the agencies that load it over HTTP:
senders posting signed letters, pull recipients long-polling their inbox, fetching and acknowledging.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp

from axis.benchmarks.figures import latency_ms
from axis.benchmarks.sandbox import BenchAgency, Progress, Sandbox
from axis.client import ACK_BATCH, AxisClient, AxisClientError
from axis.workers.topology import Names

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
#: Long-poll of each recipient, and how many listed deliveries it fetches and acknowledges at once.
POLL_WAIT = 5.0
POLL_LIMIT = 100
FETCHERS = 8


class HubFailed(Exception):
    """The hub did not start, or died, or the load did not complete; carries the hub's log tail."""


# -- the process ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: if the bench is killed outright, the kernel stops the hub too."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces; the parent pid follows the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants alive now."""
    tree = _children()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def _status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes `pids` have used so far; a process gone counts 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


def services_cpu(database: str) -> dict[int, tuple[str, int]]:
    """Per process of PostgreSQL and RabbitMQ: what it is ("backends" serving `database`,
    PostgreSQL's "shared" processes such as the WAL writer and checkpointer, or "rabbitmq") and
    the clock ticks of CPU it has used so far."""
    found: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat.rsplit(")", 1)[1].split()
        used = int(fields[11]) + int(fields[12])
        if name == "postgres" and f" {database} ".encode() in argv:
            found[int(entry)] = ("postgres_backends", used)
        elif name == "postgres" and b"postgres: " in argv and b"(" not in argv:
            found[int(entry)] = ("postgres_shared", used)  # a backend names its client's address
        elif name.startswith("beam"):
            found[int(entry)] = ("rabbitmq", used)
    return found


def machine_cpu() -> tuple[float, float]:
    """Seconds of CPU the whole machine has been busy and idle since boot (all cores)."""
    tick = os.sysconf("SC_CLK_TCK")
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / tick, idle / tick


def peak_memory(pid: int) -> dict[str, Any]:
    """Peak resident memory (VmHWM) of the hub and each process it started; the total is the sum
    of the peaks, an upper bound of what the processes held at any one moment."""
    rows = []
    total_kib = 0
    for each in process_tree(pid):
        peak = _status_kib(each, "VmHWM")
        if peak is None:
            continue
        try:
            argv = Path(f"/proc/{each}/cmdline").read_bytes().split(b"\0")
        except OSError:
            argv = []
        role = "hub" if each == pid else "worker"
        if any(b"resource_tracker" in a for a in argv):
            role = "multiprocessing resource tracker"
        rows.append({"pid": each, "role": role, "peak_mib": round(peak / 1024, 1)})
        total_kib += peak
    return {
        "total_mib": round(total_kib / 1024, 1),
        "processes": rows,
    }


@dataclass
class HubProcess:
    process: asyncio.subprocess.Process
    base_url: str
    log_path: Path
    workers: int
    pids: list[int] = field(default_factory=list)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def failed(self, message: str) -> HubFailed:
        tail = self.log_tail()
        return HubFailed(message + (f"\nlast lines of the hub's log:\n{tail}" if tail else ""))

    async def wait_ready(self, sandbox: Sandbox) -> None:
        """Until /readyz answers 200 and every agency's queue has its consumer (so the first
        letters do not wait for the dispatcher to start)."""
        deadline = time.monotonic() + START_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                if self.process.returncode is not None:
                    raise self.failed(f"the hub exited with code {self.process.returncode}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(self.base_url + "/readyz") as resp:
                        if resp.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise self.failed(f"the hub was not ready within {START_TIMEOUT:g} s")
                await asyncio.sleep(0.2)
        names = Names(sandbox.queue_prefix)
        organs = [sandbox.sender.organ_id, *(r.organ_id for r in sandbox.recipients)]
        waiting = {names.agency_queue(o) for o in organs}
        connection = await aio_pika.connect(sandbox.amqp_url, timeout=10)
        try:
            while waiting:
                for queue_name in sorted(waiting):
                    channel = await connection.channel()
                    try:
                        queue = await channel.declare_queue(queue_name, passive=True)
                        if (queue.declaration_result.consumer_count or 0) > 0:
                            waiting.discard(queue_name)
                    except aio_pika.exceptions.ChannelClosed:
                        pass  # not declared yet: the passive declare closed the channel
                    finally:
                        with contextlib.suppress(Exception):
                            await channel.close()
                if not waiting:
                    break
                if self.process.returncode is not None:
                    raise self.failed(f"the hub exited with code {self.process.returncode}")
                if time.monotonic() > deadline:
                    raise self.failed(f"no consumer on {', '.join(sorted(waiting))}")
                await asyncio.sleep(0.2)
        finally:
            await connection.close()
        self.pids = process_tree(self.process.pid)

    def peak_memory(self) -> dict[str, Any]:
        return peak_memory(self.process.pid)

    async def stop(self) -> None:
        """SIGTERM (the hub drains and closes), then SIGKILL whatever of its tree is left."""
        tree = set(self.pids) | set(process_tree(self.process.pid))
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        for pid in tree - {self.process.pid}:
            if _status_kib(pid, "VmHWM") is not None:  # still ours and alive
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def run_hub(sandbox: Sandbox, workers: int, progress: Progress) -> AsyncIterator[HubProcess]:
    """`python -m axis.cli serve` on a free port of 127.0.0.1, with the sandbox's configuration."""
    port = _free_port()
    env = {**os.environ, **sandbox.hub_env(port)}
    progress(f"starting the hub (workers={workers}) on 127.0.0.1:{port}")
    with sandbox.log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "axis.cli",
            "serve",
            "--workers",
            str(workers),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    hub = HubProcess(process, f"http://127.0.0.1:{port}", sandbox.log_path, workers)
    try:
        await hub.wait_ready(sandbox)
        yield hub
    finally:
        await hub.stop()


# -- the load -------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the agencies saw, on this process's monotonic clock."""

    recipients: int
    submitted_at: dict[str, float] = field(default_factory=dict)  # document id -> POST started
    submitted_wall: dict[str, float] = field(default_factory=dict)  # the same, on the wall clock
    available_at: dict[tuple[str, str], float] = field(default_factory=dict)  # the hub's stamp
    accepted_at: dict[str, float] = field(default_factory=dict)  # document id -> 202 read
    seen_at: dict[tuple[str, str], float] = field(default_factory=dict)  # (doc, organ) -> listed
    acked_at: dict[tuple[str, str], float] = field(default_factory=dict)
    first_submit: float | None = None
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sends_finished: asyncio.Event = field(default_factory=asyncio.Event)
    sizes: dict[str, int] = field(default_factory=dict)  # document id -> bytes sent
    fetched: dict[tuple[str, str], int] = field(default_factory=dict)  # (doc, organ) -> bytes
    calls: Counter[str] = field(default_factory=Counter)  # HTTP calls made, by kind
    listed_items: int = 0  # inbox items received, counting each listing of the same delivery

    def wrong_sizes(self) -> list[str]:
        return [
            f"{organ} fetched {size} bytes of {doc}, which was sent with {self.sizes[doc]}"
            for (doc, organ), size in self.fetched.items()
            if doc in self.sizes and self.sizes[doc] != size
        ]


class Agent:
    """Every call the load makes to the hub, in one place, through the batch API as an agency's
    system would use it: the inbox with small letters inline, one acknowledgement call for what
    one listing gave. Errors are the client's (AxisClientError, aiohttp's, timeouts). `calls`
    counts the HTTP calls made, by kind."""

    ERRORS = (AxisClientError, aiohttp.ClientError, TimeoutError)

    def __init__(
        self,
        base_url: str,
        agency: BenchAgency,
        session: aiohttp.ClientSession,
        calls: Counter[str],
    ) -> None:
        self.client = AxisClient(base_url, agency.token, session=session)
        self.organ_id = agency.organ_id
        self.calls = calls
        self.fetching = asyncio.Semaphore(FETCHERS)

    async def send(self, letter: bytes) -> dict[str, Any]:
        """Submit one signed letter; the hub's acceptance (document_id, deliveries)."""
        self.calls["submit"] += 1
        answer: dict[str, Any] = await self.client.send(letter)
        return answer

    async def listed(self, wait: float, limit: int) -> list[dict[str, Any]]:
        """Long-poll the inbox: deliveries available, oldest first, small letters in the answer."""
        self.calls["inbox"] += 1
        items: list[dict[str, Any]] = await self.client.inbox(wait=wait, limit=limit, inline=True)
        return items

    async def _package(self, item: dict[str, Any]) -> bytes:
        if "package_base64" in item:
            return await self.client.package(item)
        async with self.fetching:  # a few fetches at once, as a DMS would
            self.calls["fetch"] += 1
            return await self.client.package(item)

    async def take(self, items: list[dict[str, Any]]) -> dict[str, int | str]:
        """Take listed letters (from the answer when inline, else fetched) and acknowledge them
        all in one call: per delivery id, the bytes taken, or the error that stopped it."""
        sizes = await asyncio.gather(
            *(self._package(item) for item in items), return_exceptions=True
        )
        taken: dict[str, int | str] = {}
        to_ack: list[str] = []
        for item, data in zip(items, sizes, strict=True):
            if isinstance(data, BaseException):
                taken[item["delivery_id"]] = f"{type(data).__name__}: {data}"
            else:
                taken[item["delivery_id"]] = len(data)
                to_ack.append(item["delivery_id"])
        if to_ack:
            self.calls["ack"] += -(-len(to_ack) // ACK_BATCH)
        for result in await self.client.ack_many(to_ack) if to_ack else []:
            if not result.get("ok"):
                taken[result["id"]] = f"ack: {result.get('error')}"
        return taken


async def _send_all(
    base_url: str, sender: BenchAgency, letters: list[bytes], concurrency: int, tally: Tally
) -> None:
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        agent = Agent(base_url, sender, session, tally.calls)
        queue = iter(enumerate(letters))

        async def one_sender() -> None:
            for _, letter in queue:  # a shared iterator: each letter is taken by one sender
                wall = time.time()
                started = time.perf_counter()
                if tally.first_submit is None:
                    tally.first_submit = started
                try:
                    answer = await agent.send(letter)
                except Agent.ERRORS as exc:
                    tally.refused.append(f"{type(exc).__name__}: {exc}")
                    continue
                done = time.perf_counter()
                document_id = answer["document_id"]
                tally.submitted_at[document_id] = started
                tally.submitted_wall[document_id] = wall
                tally.accepted_at[document_id] = done
                tally.sizes[document_id] = len(letter)
                if len(answer.get("deliveries", ())) != tally.recipients:
                    tally.errors.append(f"{document_id}: {answer.get('deliveries')!r}")

        try:
            await asyncio.gather(*(one_sender() for _ in range(concurrency)))
        finally:
            tally.sends_finished.set()


async def _receive_all(base_url: str, agency: BenchAgency, tally: Tally) -> None:
    """One pull recipient, as an agency's system would run it: list (small letters inline), take
    and acknowledge what was listed, in a few calls at once, then list again. It lists only when
    nothing is in hand, so no delivery is listed (and its package sent) twice."""
    connector = aiohttp.TCPConnector(limit=FETCHERS + 1)
    timeout = aiohttp.ClientTimeout(total=POLL_WAIT + 120)
    organ = agency.organ_id
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        agent = Agent(base_url, agency, session, tally.calls)
        done: set[str] = set()

        async def take(batch: list[dict[str, Any]]) -> None:
            try:
                taken = await agent.take(batch)
            except Agent.ERRORS as exc:
                taken = {item["delivery_id"]: str(exc) for item in batch}
            now = time.perf_counter()
            for item in batch:
                got = taken.get(item["delivery_id"], "no answer")
                if isinstance(got, str):
                    tally.errors.append(f"{organ} {item['delivery_id']}: {got}")
                else:
                    tally.fetched[(item["document_id"], organ)] = got
                    tally.acked_at[(item["document_id"], organ)] = now
                    done.add(item["delivery_id"])

        while not (tally.sends_finished.is_set() and len(done) >= len(tally.submitted_at)):
            items = await agent.listed(POLL_WAIT, POLL_LIMIT)
            listed = time.perf_counter()
            tally.listed_items += len(items)
            fresh = [i for i in items if i["kind"] == "letter" and i["delivery_id"] not in done]
            for item in fresh:
                key = (item["document_id"], organ)
                tally.seen_at.setdefault(key, listed)
                if item["available_at"]:
                    stamp = datetime.fromisoformat(item["available_at"]).timestamp()
                    tally.available_at.setdefault(key, stamp)
            if fresh:
                await take(fresh)


async def drive(
    hub: HubProcess,
    sandbox: Sandbox,
    letters: list[bytes],
    concurrency: int,
    timeout: float,
) -> dict[str, Any]:
    """Send every letter with `concurrency` senders while each recipient drains its inbox."""
    tally = Tally(recipients=len(sandbox.recipients))
    receivers = [
        asyncio.create_task(_receive_all(hub.base_url, r, tally)) for r in sandbox.recipients
    ]
    sending = asyncio.create_task(
        _send_all(hub.base_url, sandbox.sender, letters, concurrency, tally)
    )
    everything = [sending, *receivers]
    hub_pids = process_tree(hub.process.pid)
    cpu_before = (
        cpu_seconds(hub_pids),
        time.process_time(),
        machine_cpu(),
        services_cpu(sandbox.name),
    )
    try:
        finished, pending = await asyncio.wait(
            everything, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION
        )
        for task in finished:
            failure = task.exception()
            if failure is not None:
                raise failure
    finally:
        for task in everything:
            task.cancel()
        await asyncio.gather(*everything, return_exceptions=True)
    if hub.process.returncode is not None:
        raise hub.failed(f"the hub exited with code {hub.process.returncode} during the run")
    cpu_after = (
        # With the processes the hub started meanwhile (its package-checking children): they
        # began at zero.
        cpu_seconds(sorted(set(hub_pids) | set(process_tree(hub.process.pid)))),
        time.process_time(),
        machine_cpu(),
        services_cpu(sandbox.name),
    )

    docs = len(tally.submitted_at)
    expected = docs * tally.recipients
    acked = len(tally.acked_at)
    problems = tally.refused + tally.errors + tally.wrong_sizes()
    start = tally.first_submit or time.perf_counter()
    submit_seconds = max(tally.accepted_at.values(), default=start) - start
    delivery_seconds = max(tally.acked_at.values(), default=start) - start
    # In the inbox: the hub's available_at, on this machine's wall clock like the submit time.
    in_inbox = [
        available - tally.submitted_wall[doc]
        for (doc, _), available in tally.available_at.items()
        if doc in tally.submitted_wall
    ]
    listed = [
        seen - tally.submitted_at[doc]
        for (doc, _), seen in tally.seen_at.items()
        if doc in tally.submitted_at
    ]
    accept = [tally.accepted_at[d] - tally.submitted_at[d] for d in tally.submitted_at]
    # A letter is fully delivered when its last recipient acknowledged it.
    last_ack: dict[str, float] = {}
    acks_of: dict[str, int] = {}
    for (doc, _), at in tally.acked_at.items():
        acks_of[doc] = acks_of.get(doc, 0) + 1
        last_ack[doc] = max(at, last_ack.get(doc, at))
    full = [doc for doc, n in acks_of.items() if n == tally.recipients]
    letters_seconds = max((last_ack[d] for d in full), default=start) - start
    full_latency = [last_ack[d] - tally.submitted_at[d] for d in full if d in tally.submitted_at]
    return {
        "letters_delivered": len(full),
        "letters_seconds": round(letters_seconds, 3),
        "letters_per_s": round(len(full) / letters_seconds, 1) if letters_seconds > 0 else None,
        "documents_accepted": docs,
        "documents_refused": len(tally.refused),
        "deliveries_expected": expected,
        "deliveries_acked": acked,
        "complete": acked == expected and docs == len(letters) and not problems,
        "timed_out": bool(pending),
        "submit_seconds": round(submit_seconds, 3),
        "delivery_seconds": round(delivery_seconds, 3),
        "documents_per_s": round(docs / submit_seconds, 1) if submit_seconds > 0 else None,
        "deliveries_per_s": round(acked / delivery_seconds, 1) if delivery_seconds > 0 else None,
        "latency_submit_to_inbox_ms": latency_ms(in_inbox),
        "latency_submit_to_listed_ms": latency_ms(listed),
        "latency_submit_to_202_ms": latency_ms(accept),
        "latency_submit_to_all_acked_ms": latency_ms(full_latency),
        "cpu": _cpu_figures(cpu_before, cpu_after, len(full)),
        "bytes_fetched": sum(tally.fetched.values()),
        "inbox_listings_per_delivery": round(tally.listed_items / acked, 2) if acked else None,
        "http_calls_per_letter": {
            kind: round(n / len(full), 2) for kind, n in sorted(tally.calls.items())
        }
        if full
        else {},
        "problems": len(problems),
        "first_problems": problems[:10],
    }


CpuSample = tuple[float, float, tuple[float, float], dict[int, tuple[str, int]]]


def _cpu_figures(before: CpuSample, after: CpuSample, letters: int) -> dict[str, Any]:
    """Where the machine's CPU went during the run: the hub's processes, this load generator (the
    agencies' side, which real agencies run on machines of their own), PostgreSQL (the run's
    backends, and its shared processes), RabbitMQ and everything else on the box, in seconds and
    in ms per letter delivered. PostgreSQL's shared processes and RabbitMQ also serve whatever
    else runs on the box."""
    tick = os.sysconf("SC_CLK_TCK")
    busy = after[2][0] - before[2][0]
    idle = after[2][1] - before[2][1]
    parts = {
        "hub": after[0] - before[0],
        "load_generator": after[1] - before[1],
        "postgres_backends": 0.0,
        "postgres_shared": 0.0,
        "rabbitmq": 0.0,
    }
    for pid, (kind, used) in after[3].items():
        # A process that ended during the run is not counted; one born during it counts whole.
        parts[kind] += (used - before[3].get(pid, (kind, 0))[1]) / tick
    parts["others"] = max(0.0, busy - sum(parts.values()))

    def per_letter(seconds: float) -> float | None:
        return round(seconds * 1000 / letters, 2) if letters else None

    figures: dict[str, Any] = {f"{k}_s": round(v, 2) for k, v in parts.items()}
    figures |= {f"{k}_ms_per_letter": per_letter(v) for k, v in parts.items()}
    figures["machine_busy_fraction"] = round(busy / (busy + idle), 3) if busy + idle else None
    return figures
