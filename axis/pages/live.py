"""Live updates for the letter pages: PostgreSQL NOTIFY (from any hub process) fanned out in this
process to the server-sent-event streams watching the letter it names."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict


class Subscription:
    """One open event stream; `changed` is set when its letter changed since it last looked."""

    def __init__(self, document_id: str) -> None:
        self.document_id = document_id
        self.changed = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """True when something changed (or the hub is closing), False when `timeout` passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), timeout)
        fired = self.changed.is_set()
        self.changed.clear()
        return fired


class Live:
    def __init__(self) -> None:
        self._subs: defaultdict[str, set[Subscription]] = defaultdict(set)
        self.closing = False

    def subscribe(self, document_id: str) -> Subscription:
        sub = Subscription(document_id)
        self._subs[document_id].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.document_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.document_id]

    def publish(self, document_id: str) -> None:
        """The Listener's callback: a document id, or "*" after a reconnect (anything may have changed)."""
        if document_id == "*":
            targets = [s for subs in self._subs.values() for s in subs]
        else:
            targets = list(self._subs.get(document_id, ()))
        for sub in targets:
            sub.changed.set()

    def close(self) -> None:
        """Wake every stream so it ends: the hub is shutting down."""
        self.closing = True
        self.publish("*")

    def __len__(self) -> int:
        return sum(len(s) for s in self._subs.values())
