"""Dispatchers: consume each agency's queue, make pull deliveries available, push to webhooks.

The work is split by job: `consume` takes notices off the broker and settles each by one rule
(`ack_policy`); `push` POSTs a delivery to a webhook with its signature; `retries` keeps the books
of failed attempts and dead-letters; `sweep` is the safety net for notices that went missing.
Each agency has its own channel and prefetch, so an agency whose webhook hangs holds up nobody
else. Pushes to one agency go strictly in sending order: a PostgreSQL advisory lock lets one hub
process at a time drain an agency, head of line first.
"""

from axis.workers.dispatch.consume import Ack, Dispatcher, Outcome, ack_policy
from axis.workers.dispatch.push import Pusher, push_headers, push_signature

__all__ = ["Ack", "Dispatcher", "Outcome", "Pusher", "ack_policy", "push_headers", "push_signature"]
