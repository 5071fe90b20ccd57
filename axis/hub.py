"""The hub's shared resources and background workers, handed to every service function."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import signing
from axis.config import Config
from axis.core.acks import AckGroup
from axis.core.agencies import Agency
from axis.core.check_pool import CheckPool
from axis.core.ledger.batch import LetterBatcher
from axis.workers.broker import Broker
from axis.workers.topology import Names
from storage.blobs import BlobStore
from storage.db import Database

log = logging.getLogger("axis.hub")


class InboxWaiters:
    """Long-polls in this process, woken by NOTIFY from whichever process made a delivery available."""

    def __init__(self) -> None:
        self._events: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    def register(self, organ_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._events[organ_id].add(event)
        return event

    def unregister(self, organ_id: str, event: asyncio.Event) -> None:
        self._events[organ_id].discard(event)
        if not self._events[organ_id]:
            del self._events[organ_id]

    def waiting(self, organ_id: str) -> int:
        """How many long-polls of this agency wait in this process."""
        return len(self._events.get(organ_id, ()))

    def wake(self, organ_id: str) -> None:
        if organ_id == "*":
            targets = [e for events in self._events.values() for e in events]
        else:
            targets = list(self._events.get(organ_id, ()))
        for event in targets:
            event.set()


class TokenCache:
    """Agencies by API token, and whether an organ id is a registered agency that is active (for
    the recipients of a letter), kept for at most `lifetime` seconds to spare a query per call.

    Every hub process LISTENs for agency changes (`axis_agencies`, sent when the change commits,
    whoever made it: the CLI, /vdxp, another hub) and drops the agency's entries at once; after
    the LISTEN connection was lost nothing is served from memory until it is back, when the whole
    cache is dropped (a change may have been missed meanwhile). A lookup that began before a
    change is never cached after it (the generation counter)."""

    MAX_ENTRIES = 10_000

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.generation = 0
        #: True while the LISTEN connection is up: only then can a change reach us in time.
        self.listening = False
        self._entries: dict[str, tuple[float, Agency]] = {}
        self._active: dict[str, tuple[float, bool]] = {}

    def get(self, token: str) -> Agency | None:
        return _fresh(self._entries, token) if self.listening else None

    def put(self, token: str, agency: Agency, generation: int) -> None:
        """Keep `agency`, read from the database while the cache was at `generation`."""
        if not self.listening or generation != self.generation or self.lifetime <= 0:
            return
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[token] = (time.monotonic() + self.lifetime, agency)

    def active(self, organ_id: str) -> bool | None:
        """Whether the registered agency `organ_id` is active; None when not known here (an organ
        id no agency has is never kept: it may be registered the next moment)."""
        return _fresh(self._active, organ_id) if self.listening else None

    def put_active(self, found: dict[str, bool], generation: int) -> None:
        """Keep registered agencies' `active`, read while the cache was at `generation`."""
        if not self.listening or generation != self.generation or self.lifetime <= 0:
            return
        if len(self._active) + len(found) > self.MAX_ENTRIES:
            self._active.clear()
        expires = time.monotonic() + self.lifetime
        for organ_id, active in found.items():
            self._active[organ_id] = (expires, active)

    def agency_changed(self, organ_id: str) -> None:
        """The Listener's callback: an organ id, or "*" once (re)connected (anything may have changed)."""
        self.generation += 1
        if organ_id == "*":
            self._entries.clear()
            self._active.clear()
            self.listening = True
            return
        self._active.pop(organ_id, None)
        for token in [t for t, (_, a) in self._entries.items() if a.organ_id == organ_id]:
            del self._entries[token]

    def listen_lost(self) -> None:
        self.listening = False
        self.generation += 1
        self._entries.clear()
        self._active.clear()

    def __len__(self) -> int:
        return len(self._entries)


_V = TypeVar("_V")


def _fresh(entries: dict[str, tuple[float, _V]], key: str) -> _V | None:
    """The value kept under `key` until its time (dropped once past it)."""
    hit = entries.get(key)
    if hit is None:
        return None
    if hit[0] <= time.monotonic():
        entries.pop(key, None)
        return None
    return hit[1]


@dataclass
class Hub:
    config: Config
    db: Database
    broker: Broker
    blobs: BlobStore
    trust_dir: TrustDirectory
    seal: signing.Seal
    names: Names
    inbox: InboxWaiters = field(default_factory=InboxWaiters)
    token_cache: TokenCache = field(default_factory=lambda: TokenCache(5.0))
    #: Group commit of submitted letters (axis/core/ledger/batch.py).
    letters: LetterBatcher = field(init=False)
    #: Where packages are checked (axis/core/check_pool.py); none: in threads.
    checks: CheckPool = field(default_factory=lambda: CheckPool(0, Path("."), 0))

    def __post_init__(self) -> None:
        self.letters = LetterBatcher(self.db)

    #: Acknowledgements that arrive together commit together (axis/core/acks.py).
    acks: AckGroup = field(default_factory=AckGroup)

    @property
    def trust(self) -> signing.TrustStore:
        return self.trust_dir.store


class TrustDirectory:
    """The trust store read from a folder, read again when a file in it changes (a new CA or CRL
    takes effect without restarting the hub)."""

    CHECK_EVERY = 2.0

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._stamp = self._signature()
        self._store = signing.TrustStore.from_directory(directory)
        self._checked = time.monotonic()

    def _signature(self) -> tuple[tuple[str, int, int], ...]:
        return tuple(
            sorted(
                (str(p), p.stat().st_mtime_ns, p.stat().st_size)
                for p in self.directory.rglob("*")
                if p.is_file() and p.suffix in (".pem", ".crt", ".cer", ".crl", ".der")
            )
        )

    @property
    def store(self) -> signing.TrustStore:
        now = time.monotonic()
        if now - self._checked >= self.CHECK_EVERY:
            self._checked = now
            stamp = self._signature()
            if stamp != self._stamp:
                try:
                    self._store = signing.TrustStore.from_directory(self.directory)
                    self._stamp = stamp
                    log.info("event=trust_reloaded dir=%s files=%d", self.directory, len(stamp))
                except signing.SignatureError as exc:
                    log.error(
                        "event=trust_reload_failed dir=%s error=%r", self.directory, exc.message
                    )
        return self._store


def load_trust(directory: Path) -> TrustDirectory:
    return TrustDirectory(directory)


def load_seal(directory: Path) -> signing.Seal:
    """The axis's own key and certificate; a development one is made when the folder is empty."""
    key, cert = directory / "seal.key", directory / "seal.crt"
    if not key.exists() or not cert.exists():
        log.warning(
            "event=seal_generated dir=%s note=development seal, replace it in production", directory
        )
        directory.mkdir(parents=True, exist_ok=True)
        return signing.Seal.generate(directory, "Trục liên thông văn bản (development seal)")
    return signing.Seal.load(key, cert)
