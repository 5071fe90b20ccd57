"""The one message the axis puts on RabbitMQ: a small typed notice (ids and routing facts, never a
letter's bytes), encoded as JSON by every producer and decoded by every consumer.

Three kinds travel: `delivery` (the relay: a committed delivery is waiting), `retry` (a failed push's
nudge, back from a wait queue when its delay is over) and `dead` (a delivery given up on, kept in
the dead-letter queue for the operator). Notices written before the `type` field existed decode too.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal, cast

Kind = Literal["delivery", "retry", "dead"]
KINDS: tuple[Kind, ...] = ("delivery", "retry", "dead")
MAX_BYTES = 64 * 1024


class BadNotice(ValueError):
    """A broker message that is not a notice; it is rejected, never requeued."""


@dataclass(frozen=True)
class Notice:
    kind: Kind
    recipient: str
    delivery_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadNotice(f"unknown notice type {self.kind!r}")
        if not self.recipient:
            raise BadNotice("a notice needs a recipient")
        if self.kind != "retry" and self.delivery_id is None:
            raise BadNotice(f"a {self.kind} notice needs a delivery_id")

    @classmethod
    def delivery(cls, delivery_id: uuid.UUID, document_id: uuid.UUID, recipient: str) -> Notice:
        return cls("delivery", recipient, delivery_id, document_id)

    @classmethod
    def retry(cls, recipient: str) -> Notice:
        return cls("retry", recipient)

    @classmethod
    def dead(cls, delivery_id: uuid.UUID, recipient: str, error: str) -> Notice:
        return cls("dead", recipient, delivery_id, error=error)

    def encode(self) -> bytes:
        body: dict[str, str] = {"type": self.kind, "recipient": self.recipient}
        if self.delivery_id is not None:
            body["delivery_id"] = str(self.delivery_id)
        if self.document_id is not None:
            body["document_id"] = str(self.document_id)
        if self.error is not None:
            body["error"] = self.error
        return json.dumps(body, ensure_ascii=False).encode("utf-8")

    @classmethod
    def decode(cls, body: bytes) -> Notice:
        """The notice in `body`; BadNotice names what is wrong with anything else."""
        if len(body) > MAX_BYTES:
            raise BadNotice(f"a notice is a few hundred bytes, not {len(body)}")
        try:
            data: Any = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadNotice(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadNotice("not a JSON object")
        kind = data.get("type")
        if kind is None:  # written before notices were typed: the relay's and the dead letter's
            kind = "dead" if "error" in data else "delivery"
        if kind not in KINDS:
            raise BadNotice(f"unknown notice type {kind!r}")
        recipient = data.get("recipient")
        if not isinstance(recipient, str) or not recipient:
            raise BadNotice("recipient is missing or not text")
        error = data.get("error")
        if error is not None and not isinstance(error, str):
            raise BadNotice("error is not text")
        return cls(
            cast(Kind, kind),
            recipient,
            _uuid(data, "delivery_id"),
            _uuid(data, "document_id"),
            error,
        )


def _uuid(data: dict[str, Any], key: str) -> uuid.UUID | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadNotice(f"{key} is not text")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadNotice(f"{key} {value!r} is not a UUID") from None
