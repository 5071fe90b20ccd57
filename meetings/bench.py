"""`axis bench meetings`: a packet of many papers downloaded as ZIPs by every member at once from a
real `axis serve` process in a throw-away sandbox, beside the same bytes read raw from the blob store
by as many readers in the same run, while the hub's resident memory is sampled."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import resource
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from meetings import axis_port as ax
from meetings import people
from storage.blobs import open_blob_store
from storage.blobs_fs import FilesystemBlobStore

PASSWORD = secrets.token_urlsafe(24)  # the sandbox people's, gone with the sandbox
#: Ballots in flight at once (each from another member).
POSTERS = 30
CHUNK = 1 << 20
MIB = 1024 * 1024
SAMPLE_SECONDS = 0.1


def _cpu_seconds(pids: list[int]) -> float:
    """CPU time (user and system) these processes have used so far (one gone meanwhile: 0)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU time this process (the load generator, every thread) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _backends(database_url: str) -> list[int]:
    """The PostgreSQL server processes serving the sandbox's database now (the hub's pool)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


def _post(base_url: str, path: str, token: str, ballot: dict[str, Any]) -> bytes:
    """A ballot's whole HTTP/1.1 request, as a member's device would put it on the wire."""
    body = json.dumps(ballot).encode()
    host = urlsplit(base_url).netloc
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _poster(base_url: str, requests: list[bytes]) -> int:
    """Posts its members' ballots one after the other on one kept-alive connection (a member
    signs one at a time, and their versions then follow the order they were signed in); each
    must be answered 201. A member is another device: the load generator on this box reads
    the answers with a blocking socket and parses no more of them than the status and length,
    so that the hub's figure is the hub's."""
    parts = urlsplit(base_url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    sock: socket.socket | None = None
    try:
        for request in requests:
            if sock is None:
                sock = socket.create_connection(address, timeout=600)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            status, body, close = _answer(sock)
            if status != 201:
                raise RuntimeError(f"a ballot: {status} {body[:500]!r}")
            if close:
                sock.close()
                sock = None
        return len(requests)
    finally:
        if sock is not None:
            sock.close()


def _answer(sock: socket.socket) -> tuple[int, bytes, bool]:
    """(status, body, whether the server closes) of one HTTP/1.1 answer with a Content-Length."""
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the hub closed the connection before answering")
        data += chunk
    head = data[:end].decode("latin-1").lower()
    status = int(head[9:12])
    length = None
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name == "content-length":
            length = int(value)
    if length is None:
        raise RuntimeError(f"an answer without Content-Length: {head[:200]!r}")
    body = data[end + 4 :]
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the hub closed the connection in the middle of an answer")
        body += chunk
    return status, body[:length], "connection: close" in head


async def _random_chunks(size: int) -> AsyncIterator[bytes]:
    left = size
    while left > 0:
        n = min(CHUNK, left)
        yield os.urandom(n)
        left -= n


def _download(url: str, token: str) -> int:
    """One member's whole packet.zip, counted into a reused buffer by a blocking socket: a member is
    another device, so the reader on this box should cost as little as the kernel's copy (the
    socket's `recv_into` lets the other threads run meanwhile)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=600)
    try:
        conn.request("GET", parts.path, headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        if r.status != 200:
            raise RuntimeError(f"packet.zip: {r.status} {r.read(500)!r}")
        view = memoryview(bytearray(CHUNK))
        got = 0
        while n := r.readinto(view):
            got += n
        return got
    finally:
        conn.close()


def _read_files(paths: list[Path]) -> int:
    """The same bytes copied straight out of the blob files into a reused buffer: the least any
    server could spend to hand them out (printed for scale beside the store's own raw read)."""
    view = memoryview(bytearray(CHUNK))
    got = 0
    for path in paths:
        with path.open("rb", buffering=0) as f:
            while n := f.readinto(view):
                got += n
    return got


class _Api:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def call(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as r:
            if r.status >= 300:
                raise RuntimeError(f"{method} {path}: {r.status} {(await r.text())[:500]}")
            return await r.json()

    async def sign_in(self, login: str) -> str:
        body = {"login": login, "password": PASSWORD}
        async with self.http.post(self.base + "/v1/cabinet/sessions", json=body) as r:
            if r.status != 201:
                raise RuntimeError(f"sign-in of {login}: {r.status} {await r.text()}")
            return str((await r.json())["token"])


class _Resident:
    """The resident memory of the hub and the processes it started, sampled every 0.1 s while
    the load runs: `growth` is the peak over the figure at the start, in MiB. The processes are
    listed again each second (not at every sample: that reads all of /proc, on the box the hub
    shares)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.growth = 0.0
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Resident:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._done.set()
        if self._task is not None:
            await self._task

    async def _sample(self) -> None:
        pids = ax.process_tree(self.pid)
        listed = time.monotonic()
        before = ax.resident_mib(pids)
        while not self._done.is_set():
            if time.monotonic() - listed >= 1.0:
                pids, listed = ax.process_tree(self.pid), time.monotonic()
            self.growth = max(self.growth, ax.resident_mib(pids) - before)
            await ax.wait_event(self._done, SAMPLE_SECONDS)


async def run(
    base: Any, papers: int, total_bytes: int, members: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    sizes = [total_bytes // papers + (1 if i < total_bytes % papers else 0) for i in range(papers)]
    async with ax.bench_sandbox(base, progress) as sandbox:
        progress(f"making the secretariat and {members} members")
        conn = await asyncpg.connect(sandbox.database_url)
        try:
            await people.add(conn, organ_id=sandbox.sender.organ_id, login="bench.thuky",
                             full_name="Thư ký", kind="secretariat", password=PASSWORD)  # fmt: skip
            for n in range(members):
                await people.add(conn, organ_id=sandbox.sender.organ_id, login=f"bench.tv{n}",
                                 full_name=f"Thành viên {n}", kind="member", password=PASSWORD)  # fmt: skip
        finally:
            await conn.close()
        async with ax.bench_hub(sandbox, progress) as hub:
            timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                api = _Api(http, hub.base_url)
                office = await api.sign_in("bench.thuky")
                tokens = [await api.sign_in(f"bench.tv{n}") for n in range(members)]
                ids = [p["id"] for p in (await api.call("GET", "/v1/cabinet/people", office))["people"] if p["kind"] == "member"]  # fmt: skip
                starts = (datetime.now(UTC) + timedelta(days=10)).isoformat()
                meeting = await api.call(
                    "POST", "/v1/meetings", office,
                    json={"title": "Phiên họp thử tải", "kind": "bench", "starts_at": starts,
                          "place": "Sandbox", "invitees": ids},
                )  # fmt: skip
                mid = meeting["id"]
                item = await api.call("POST", f"/v1/meetings/{mid}/items", office, json={"title": "Tài liệu"})  # fmt: skip
                progress(f"uploading {papers} papers, {total_bytes} bytes in all")
                shas = []
                for n, size in enumerate(sizes):
                    stored = await api.call("POST", "/v1/cabinet/files", office, data=_random_chunks(size))  # fmt: skip
                    shas.append(stored["sha256"])
                    await api.call(
                        "POST", f"/v1/meetings/{mid}/items/{item['id']}/papers", office,
                        json={"title": f"Tài liệu {n + 1}", "file_sha256": stored["sha256"],
                              "name": f"tai-lieu-{n + 1}.bin", "audience": None},
                    )  # fmt: skip
                await api.call("POST", f"/v1/meetings/{mid}/packets", office, json={})

                progress(f"{members} members download the packet at once")
                loop = asyncio.get_running_loop()
                url = f"{hub.base_url}/v1/meetings/{mid}/packet.zip"
                async with _Resident(hub.process.pid) as memory:
                    started = time.monotonic()
                    with ThreadPoolExecutor(max_workers=members) as readers:
                        got = await asyncio.gather(
                            *(loop.run_in_executor(readers, _download, url, t) for t in tokens)
                        )
                    seconds = time.monotonic() - started

        progress(f"baseline: {members} readers read the same blobs raw from the store")
        blobs = open_blob_store((sandbox.root / "blobs").as_uri())

        async def read_all() -> int:
            n = 0
            for sha in shas:
                async for chunk in blobs.open(sha, verify=False):
                    n += len(chunk)
            return n

        try:
            started = time.monotonic()
            raw = await asyncio.gather(*(read_all() for _ in range(members)))
            baseline_seconds = time.monotonic() - started
        finally:
            await blobs.close()
        # For scale only: the same files copied out of the page cache with no store around them.
        paths = [FilesystemBlobStore(sandbox.root / "blobs").path_of(sha) for sha in shas]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=members) as readers:
            copied = await asyncio.gather(
                *(loop.run_in_executor(readers, _read_files, paths) for _ in range(members))
            )
        copy_seconds = time.monotonic() - started

    if any(g < total_bytes for g in got):
        raise RuntimeError(f"a ZIP was shorter than its papers: {min(got)} < {total_bytes}")
    mb_per_s = sum(got) / MIB / seconds
    baseline = sum(raw) / MIB / baseline_seconds
    return {
        "papers": papers,
        "total_bytes": total_bytes,
        "members": members,
        "seconds": round(seconds, 3),
        "mb_per_s": round(mb_per_s, 1),
        "baseline_mb_per_s": round(baseline, 1),
        "ratio": round(mb_per_s / baseline, 3),
        "page_cache_mb_per_s": round(sum(copied) / MIB / copy_seconds, 1),
        "hub_rss_growth_mb": round(memory.growth, 1),
    }


# ---------------------------------------------------------------- written consultations


async def run_consultations(
    base: Any, ballots: int, members: int, progress: Callable[[str], None], workers: int = 1
) -> dict[str, Any]:
    """`axis bench consultations`: `members` members with their own certificates answer one
    consultation `ballots` times in all, posting 30 signed ballots at a time to a real `axis
    serve` (each member changing their answer, so every ballot is a new version), then the
    secretariat closes it and the tally is recounted from the stored ballots and sealed. The
    baseline is the bare signature check of the same ballots (chain to the trust store
    included), in the same run."""
    from meetings import tally
    from signing.devca import DevCA
    from signing.keys import load_certificates, load_private_key
    from signing.seal import Seal, verify_sealed_json
    from signing.trust import TrustStore

    async with ax.bench_sandbox(base, progress) as sandbox:
        progress(f"making the secretariat and {members} members with their own certificates")
        ca = await asyncio.to_thread(DevCA.open, sandbox.root / "ca")
        signers: list[Seal] = []
        conn = await asyncpg.connect(sandbox.database_url)
        try:
            organ = sandbox.sender.organ_id
            await people.add(conn, organ_id=organ, login="bench.thuky", full_name="Thư ký",
                             kind="secretariat", password=PASSWORD)  # fmt: skip
            for n in range(members):
                issued = await asyncio.to_thread(
                    ca.issue, organ, "Văn phòng Chính phủ", person=f"Thành viên {n}", key_type="ec"
                )
                signers.append(
                    Seal(load_private_key(issued.key_path), load_certificates(issued.cert_path))
                )
                await people.add(conn, organ_id=organ, login=f"bench.tv{n}",
                                 full_name=f"Thành viên {n}", kind="member", password=PASSWORD,
                                 chair=n == 0, certificates=[issued.certificate])  # fmt: skip
        finally:
            await conn.close()
        trust = TrustStore.from_directory(sandbox.root / "trust")
        async with (
            ax.bench_hub(sandbox, progress, workers) as hub,
            aiohttp.ClientSession() as http,
        ):
            api = _Api(http, hub.base_url)
            office = await api.sign_in("bench.thuky")
            tokens = [await api.sign_in(f"bench.tv{n}") for n in range(members)]
            found = (await api.call("GET", "/v1/cabinet/people", office))["people"]
            ids = {p["login"]: p["id"] for p in found}
            deadline = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            made = await api.call(
                "POST", "/v1/consultations", office,
                json={"title": "Lấy ý kiến thử tải", "summary": "Benchmark",
                      "requested_by": sandbox.sender.organ_id, "questions": ["Đồng ý?", "Hiệu lực?"],
                      "members": None, "deadline": deadline},
            )  # fmt: skip
            c = await api.call("POST", f"/v1/consultations/{made['id']}/open", office)
            progress(f"signing {ballots} ballots")
            signed: list[tuple[int, dict[str, Any]]] = []
            for k in range(ballots):
                n = k % members
                choice = ("agree", "disagree", "other")[(k // members) % 3]
                answers = [
                    {"question": 1, "choice": choice,
                     **({} if choice == "agree" else {"comment": f"Ý kiến lần {k // members + 1}"})},
                    {"question": 2, "choice": "agree"},
                ]  # fmt: skip
                payload = {
                    "type": tally.BALLOT_TYPE, "consultation_id": c["id"],
                    "form_sha256": c["form_sha256"], "member": ids[f"bench.tv{n}"],
                    "answers": answers, "signed_at": datetime.now(UTC).isoformat(),
                }  # fmt: skip
                signed.append((n, signers[n].sign_json(payload)))

            # What each member sends, ready as bytes on the wire: the load measures the hub, not
            # the JSON encoder or an HTTP client library.
            path = f"/v1/consultations/{c['id']}/ballots"
            posters = min(POSTERS, members)
            requests: list[list[bytes]] = [[] for _ in range(posters)]
            for n, ballot in signed:
                requests[n % posters].append(_post(hub.base_url, path, tokens[n], ballot))

            progress(f"{members} members post {ballots} ballots, {posters} at a time")
            loop = asyncio.get_running_loop()
            hub_pids = ax.process_tree(hub.process.pid)
            db_pids = await _backends(sandbox.database_url)
            cpu_before = (_cpu_seconds(hub_pids), _cpu_seconds(db_pids), _own_cpu_seconds())
            async with _Resident(hub.process.pid) as memory:
                started = time.monotonic()
                with ThreadPoolExecutor(max_workers=posters) as threads:
                    await asyncio.gather(
                        *(loop.run_in_executor(threads, _poster, hub.base_url, r) for r in requests)
                    )
                seconds = time.monotonic() - started
                cpu_after = (_cpu_seconds(hub_pids), _cpu_seconds(db_pids), _own_cpu_seconds())
                started = time.monotonic()
                await api.call("POST", f"/v1/consultations/{c['id']}/close", office)
                tally_seconds = time.monotonic() - started
            hub_cpu, db_cpu, client_cpu = (
                a - b for a, b in zip(cpu_after, cpu_before, strict=True)
            )
            progress(
                f"CPU a ballot: hub {1000 * hub_cpu / ballots:.2f} ms, PostgreSQL "
                f"{1000 * db_cpu / ballots:.2f} ms ({len(db_pids)} backends), load generator "
                f"{1000 * client_cpu / ballots:.2f} ms"
            )
            sealed = await api.call("GET", f"/v1/consultations/{c['id']}/tally", office)
            conn = await asyncpg.connect(sandbox.database_url)
            try:  # a batch's ballots share its transaction's time
                commits = await conn.fetchval(
                    "SELECT count(DISTINCT at) FROM consultation_ballots WHERE consultation_id = $1",
                    uuid.UUID(c["id"]),
                )
            finally:
                await conn.close()
            progress(f"the ballots were written by {commits} transactions")

        progress("baseline: the bare signature checks of the same ballots")
        started = time.monotonic()
        for _, ballot in signed:
            verify_sealed_json(ballot, trust)
        baseline_seconds = time.monotonic() - started

    stored = len(sealed["payload"]["ballots"])
    if stored != min(members, ballots):
        raise RuntimeError(f"the tally counted {stored} ballots, not one per member")
    per_s = ballots / seconds
    baseline = ballots / baseline_seconds
    return {
        "ballots": ballots,
        "members": members,
        "seconds": round(seconds, 3),
        "ballots_per_s": round(per_s, 1),
        "tally_seconds": round(tally_seconds, 3),
        "baseline_verify_per_s": round(baseline, 1),
        "ratio": round(per_s / baseline, 3),
        "hub_rss_growth_mb": round(memory.growth, 1),
    }
