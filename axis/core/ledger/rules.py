"""The ledger's rules that need no database: when a delivery is overdue, which status may follow
which, and what a delivery's error shows to whom. The SQL twin of the overdue rule is here too, so
the watch, the lists and the pages cannot disagree."""

from __future__ import annotations

from datetime import UTC, date, datetime

import edoc

TRACK = ("01", "02", "03", "04", "05", "06")
RECALL_ANSWERS = ("15", "16")


def overdue_condition(threshold_param: str) -> str:
    """SQL over `deliveries d JOIN documents doc`: a letter's delivery is overdue when it was not
    acknowledged within the threshold (bound as `threshold_param`, seconds), or when its DueDate (a
    day in Vietnam) has passed without status 06 (done) or 02 (refused)."""
    return f"doc.kind = 'letter' AND {delivery_overdue_condition(threshold_param)}"


def delivery_overdue_condition(threshold_param: str) -> str:
    """`overdue_condition` on `deliveries d` alone, for deliveries known to be letters' (each
    delivery carries its letter's DueDate, migration 0011), so no document need be read."""
    return f"""d.state <> 'failed' AND (
    (d.state IN ('queued', 'available') AND d.created_at < now() - make_interval(secs => {threshold_param}))
    OR (d.due_date IS NOT NULL AND d.due_date < (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
        AND d.business_status IS DISTINCT FROM '06' AND d.business_status IS DISTINCT FROM '02'))"""


def is_overdue(
    *,
    kind: str,
    state: str,
    created_at: datetime,
    due_date: date | None,
    business_status: str | None,
    threshold: float,
    now: datetime | None = None,
) -> bool:
    """`overdue_condition` in Python, for rows already read."""
    if kind != "letter" or state == "failed":
        return False
    now = now or datetime.now(UTC)
    if state in ("queued", "available") and (now - created_at).total_seconds() > threshold:
        return True
    today = now.astimezone(edoc.VN_TZ).date()
    return due_date is not None and due_date < today and business_status not in ("06", "02")


def shown_error(
    error: str | None,
    *,
    since: datetime | None,
    attempts: int,
    recipient: str,
    viewer: str | None,
) -> str | None:
    """A delivery's last error as `viewer` may see it.

    A failed push's error names the recipient's webhook (host, port, what its server answered):
    the recipient itself and the operator (viewer None) see it, but a sender sees only that pushes
    are failing, since when, and how many attempts. An error that is not a push's (a VDXP
    recipient's refusal) is the recipient's message to the sender and shows as written.
    """
    if error is None or since is None or viewer is None or viewer == recipient:
        return error
    return f"push failing since {since.astimezone(UTC).isoformat(timespec='seconds')}, attempt {attempts}"


def transition_error(
    current: str | None, new: str, *, recall_asked: bool, business_type: int
) -> str | None:
    """Why a recipient may not report `new` after `current`, or None when it may."""
    if new in RECALL_ANSWERS:
        if business_type in (1, 2) or recall_asked:
            return None
        return "15 and 16 answer a recall or update; nothing was asked of this letter"
    if new == "13":
        return "13 (recall asked) is sent by the letter's sender, not by a recipient"
    if current is None:
        return None  # skipping forward from nothing is legal: real systems start at 03
    if current in ("02", "06"):
        label = "refused" if current == "02" else "done"
        return f"the letter is already {current} ({label}); nothing can follow it"
    cur, nxt = edoc.StatusCode.from_code(current), edoc.StatusCode.from_code(new)
    if current in TRACK and not cur.can_move_to(nxt):
        return f"{new} cannot follow {current}: statuses only move forward (01 → 03 or 02; 03 → 04 → 05 → 06)"
    return None
