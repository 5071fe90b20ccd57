"""Live updates for the letter pages: PostgreSQL NOTIFY (from any hub process) fanned out in this
process to the server-sent-event streams watching the letter it names, and the end of a stream
whose session ended (logout, user disabled, agency disabled) wherever that happened."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

from axis.core.waits import wait_event


class Subscription:
    """One open event stream; `changed` is set when its letter changed since it last looked, and
    `recheck` too when its session may have ended (the stream must ask the database)."""

    def __init__(self, document_id: str, session_key: str = "", organ_id: str = "") -> None:
        self.document_id = document_id
        self.session_key = session_key
        self.organ_id = organ_id
        self.changed = asyncio.Event()
        self.recheck = False

    async def wait(self, timeout: float) -> bool:
        """True when something changed (or the hub is closing), False when `timeout` passed."""
        await wait_event(self.changed, timeout)
        fired = self.changed.is_set()
        self.changed.clear()
        return fired


class Live:
    def __init__(self) -> None:
        self._subs: defaultdict[str, set[Subscription]] = defaultdict(set)
        self.closing = False

    def subscribe(
        self, document_id: str, session_key: str = "", organ_id: str = ""
    ) -> Subscription:
        sub = Subscription(document_id, session_key, organ_id)
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

    def sessions_ended(self, session_key: str) -> None:
        """The Listener's callback for `axis_sessions`: the SHA-256 of a session token that ended,
        or "*" after a reconnect (a notice may have been missed: every stream checks)."""
        self._recheck(lambda s: session_key == "*" or s.session_key == session_key)

    def agency_changed(self, organ_id: str) -> None:
        """An agency changed (maybe disabled): the streams of its clerks check their session."""
        self._recheck(lambda s: organ_id == "*" or s.organ_id == organ_id)

    def _recheck(self, which: Callable[[Subscription], bool]) -> None:
        for sub in [s for subs in self._subs.values() for s in subs if which(s)]:
            sub.recheck = True
            sub.changed.set()

    def close(self) -> None:
        """Wake every stream so it ends: the hub is shutting down."""
        self.closing = True
        self.publish("*")

    def __len__(self) -> int:
        return sum(len(s) for s in self._subs.values())
