"""Packages checked in processes of their own (AXIS_CHECK_PROCESSES).

Reading a package and checking its signature (ingest.verify_package) is Python work, a third of
what a letter costs the hub. In the hub's process it holds the interpreter lock that the event
loop needs for everything else, so one hub process never got more than about one core however
many the box has. A small package (at most AXIS_INLINE_MAX_BYTES, the common letter) is checked
by a child process instead, on another core, and only the result comes back: the model, or the
refusal with its code, message and place. Larger packages are checked in a thread as before:
copying megabytes between processes would cost more than it saves, and their cost is mostly C
code that lets the loop run.

Each child reads the trust folder itself (again when a file in it changes, as the hub does), so
a check there answers exactly as one in the hub would. A child that dies (killed, out of memory)
breaks the pool: the check that met it runs in a thread instead and the next one starts a new
pool. A child leaves when its hub does, even when the hub was killed."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import signing
from axis.core.agencies import Agency
from axis.core.errors import AxisError

log = logging.getLogger("axis.check_pool")

#: The trust store of a child process (set by _start).
_TRUST: Any = None


def _start(trust_dir: str, parent: int) -> None:
    """A child's start: its own view of the trust folder, and a watch on its hub."""
    global _TRUST
    from axis.hub import TrustDirectory

    _TRUST = TrustDirectory(Path(trust_dir))

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)  # the hub is gone (killed): nobody will ask this process anything again

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _check(data: bytes, sender: Agency) -> tuple[str, Any, Any]:
    """In a child: ("checked", the result without its certificate, the certificate's DER) or
    ("refused", the error's class, its fields). Errors cross as fields: an exception pickles only
    its message."""
    from axis.core.ingest import verify_package

    try:
        checked = verify_package(data, sender, _TRUST.store)
    except AxisError as exc:
        return "refused", type(exc), (exc.message, exc.where, exc.details, exc.code)
    der = checked.signer.public_bytes(Encoding.DER) if checked.signer is not None else None
    return "checked", checked.without_signer(), der


class CheckPool:
    """The child processes of one hub process (none: every check in a thread)."""

    def __init__(self, processes: int, trust_dir: Path, max_bytes: int) -> None:
        self.processes = processes
        self.trust_dir = trust_dir
        self.max_bytes = max_bytes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._certificates: dict[bytes, x509.Certificate] = {}

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a fork of a process running an event loop and threads is not safe.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(str(self.trust_dir), os.getpid()),
            )
        return self._pool

    def start(self) -> None:
        """Start the children now (in the background), so that the first letter does not wait
        for them to start."""
        if self.processes > 0:
            for _ in range(self.processes):
                self._executor().submit(os.getpid)

    async def check(self, data: bytes, sender: Agency, trust: signing.TrustStore) -> Any:
        """ingest.verify_package(data, sender, trust), in a child process when the package is
        small and there are children, else in a thread."""
        from axis.core.ingest import verify_package

        if self.processes <= 0 or len(data) > self.max_bytes:
            return await asyncio.to_thread(verify_package, data, sender, trust)
        loop = asyncio.get_running_loop()
        try:
            outcome, first, second = await loop.run_in_executor(
                self._executor(), _check, data, sender
            )
        except BrokenProcessPool:
            log.error("event=check_pool_broken processes=%d; starting a new one", self.processes)
            self._drop()
            return await asyncio.to_thread(verify_package, data, sender, trust)
        if outcome == "refused":
            message, where, details, code = second
            error: AxisError = first.__new__(first)
            AxisError.__init__(error, message, where=where, details=details, code=code)
            raise error
        return first.with_signer(self._certificate(second) if second is not None else None)

    def _certificate(self, der: bytes) -> x509.Certificate:
        """The signer's certificate, read once per hub process."""
        cert = self._certificates.get(der)
        if cert is None:
            if len(self._certificates) >= 10_000:
                self._certificates.clear()
            cert = self._certificates[der] = x509.load_der_x509_certificate(der)
        return cert

    def _drop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """Stop the children; a check still running in one is abandoned (its request fails)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
