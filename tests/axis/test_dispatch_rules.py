"""The dispatcher's rules, called directly: how a notice is settled, what a notice is, where a push
may go, how failed attempts are counted, and how a background worker backs off and recovers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid

import pytest

from axis.core import webhooks
from axis.workers.dispatch import Ack, Outcome, ack_policy
from axis.workers.dispatch.retries import plan_failure
from axis.workers.notice import BadNotice, Notice
from axis.workers.worker import PeriodicWorker, backoff

# ---------------------------------------------------------------- ack policy


def test_a_handled_notice_is_acked() -> None:
    assert ack_policy(Outcome.HANDLED) is Ack.ACK


def test_a_malformed_notice_is_rejected_not_requeued() -> None:
    assert ack_policy(Outcome.MALFORMED) is Ack.REJECT


@pytest.mark.parametrize("outcome", [Outcome.DEFERRED, Outcome.FAILED, Outcome.INTERRUPTED])
def test_a_notice_that_may_work_later_goes_back_to_the_queue(outcome: Outcome) -> None:
    assert ack_policy(outcome) is Ack.NACK


def test_every_outcome_has_a_rule() -> None:
    assert {ack_policy(o) for o in Outcome} == set(Ack)


# ---------------------------------------------------------------- notices


@pytest.mark.parametrize(
    "notice",
    [
        Notice.delivery(uuid.uuid4(), uuid.uuid4(), "000.00.00.H41"),
        Notice.retry("000.00.00.H41"),
        Notice.dead(uuid.uuid4(), "000.00.00.H41", "webhook answered HTTP 503"),
    ],
)
def test_a_notice_decodes_to_what_was_encoded(notice: Notice) -> None:
    assert Notice.decode(notice.encode()) == notice


def test_notices_written_before_they_were_typed_still_decode() -> None:
    did, doc = uuid.uuid4(), uuid.uuid4()
    relayed = json.dumps(
        {"delivery_id": str(did), "document_id": str(doc), "recipient": "000.00.00.H41"}
    )
    assert Notice.decode(relayed.encode()) == Notice.delivery(did, doc, "000.00.00.H41")
    retry = b'{"type": "retry", "recipient": "000.00.00.H41"}'
    assert Notice.decode(retry) == Notice.retry("000.00.00.H41")
    dead = json.dumps({"delivery_id": str(did), "recipient": "000.00.00.H41", "error": "x"})
    assert Notice.decode(dead.encode()) == Notice.dead(did, "000.00.00.H41", "x")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\xff\xfe not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{}", "recipient"),
        (b'{"recipient": ""}', "recipient"),
        (b'{"recipient": 7}', "recipient"),
        (b'{"type": "party", "recipient": "000.00.00.H41"}', "unknown notice type"),
        (b'{"recipient": "000.00.00.H41", "delivery_id": "nope"}', "not a UUID"),
        (b'{"recipient": "000.00.00.H41", "delivery_id": 12}', "not text"),
        (b'{"recipient": "000.00.00.H41"}', "needs a delivery_id"),
        (b'{"type": "dead", "recipient": "000.00.00.H41", "error": "x"}', "needs a delivery_id"),
        (b" " * 70_000, "not 70000"),
    ],
)
def test_a_malformed_notice_is_refused_saying_what_is_wrong(body: bytes, says: str) -> None:
    with pytest.raises(BadNotice, match=says):
        Notice.decode(body)


# ---------------------------------------------------------------- where a push may go


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://dms.example.gov.vn/axis",
        "gopher://x/",
        "dms.example.gov.vn/axis",
    ],
)
def test_only_http_and_https_webhooks_are_accepted(url: str) -> None:
    with pytest.raises(webhooks.WebhookRefused, match="http or https"):
        webhooks.check(url, allow_private=True)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/axis", "loopback"),
        ("http://localhost/axis", "loopback"),
        ("http://LocalHost./axis", "loopback"),
        ("http://api.localhost/axis", "loopback"),
        ("http://[::1]/axis", "loopback"),
        ("http://[::ffff:127.0.0.1]/axis", "loopback"),
        ("http://127.1/axis", "loopback"),
        ("http://2130706433/axis", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/axis", "link-local"),
        ("http://0.0.0.0/axis", "unspecified"),
        ("https://10.1.2.3/axis", "private"),
        ("https://192.168.1.20/axis", "private"),
        ("https://172.16.0.9/axis", "private"),
    ],
)
def test_a_local_or_private_webhook_host_needs_allow_private(url: str, kind: str) -> None:
    with pytest.raises(webhooks.WebhookRefused, match=f"{kind} address.*--allow-private"):
        webhooks.check(url, allow_private=False)
    assert webhooks.check(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://dms.nghean.gov.vn/axis",
        "https://203.162.4.190:8443/axis",
        "http://[2001:4860:4860::8888]/",
    ],
)
def test_a_public_webhook_needs_nothing_more(url: str) -> None:
    assert webhooks.check(url, allow_private=False) == url


def test_a_webhook_with_a_port_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(webhooks.WebhookRefused, match="not a URL"):
        webhooks.check("https://dms.example.gov.vn:http/axis", allow_private=True)


def test_at_push_time_a_name_resolving_to_loopback_or_link_local_is_refused_but_private_is_not() -> (
    None
):
    ip = webhooks.literal_ip
    assert "loopback" in str(webhooks.refuse_connect("dms.example", ip("127.0.0.1")))  # type: ignore[arg-type]
    assert "link-local" in str(webhooks.refuse_connect("dms.example", ip("169.254.1.1")))  # type: ignore[arg-type]
    assert webhooks.refuse_connect("dms.example", ip("10.0.0.5")) is None  # type: ignore[arg-type]
    assert webhooks.refuse_connect("dms.example", ip("203.162.4.190")) is None  # type: ignore[arg-type]


# ---------------------------------------------------------------- retry bookkeeping


def test_failed_attempts_wait_longer_each_time_then_the_last_one_dead_letters() -> None:
    delays = (5.0, 15.0, 60.0)
    plans = [plan_failure(n, 5, delays) for n in range(5)]
    assert [p.attempts for p in plans] == [1, 2, 3, 4, 5]
    assert [p.level for p in plans[:4]] == [0, 1, 2, 2]
    assert [p.dead for p in plans] == [False, False, False, False, True]


# ---------------------------------------------------------------- workers


def test_backoff_doubles_with_jitter_and_stays_under_its_cap() -> None:
    for failures in range(1, 30):
        ceiling = min(15.0, 0.5 * 2 ** (failures - 1))
        for _ in range(20):
            assert ceiling / 2 <= backoff(failures) <= ceiling
    assert backoff(40) <= 15.0


class _Flaky(PeriodicWorker):
    name = "flaky-test-worker"
    min_delay = 0.01
    max_delay = 0.02
    interval = 0.01

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.left = failures
        self.ticks = 0
        self.done = asyncio.Event()

    async def tick(self) -> None:
        self.ticks += 1
        if self.left:
            self.left -= 1
            raise ConnectionError(f"down ({self.left} to go)")
        self.done.set()


async def test_a_worker_logs_each_failure_once_then_its_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="axis.worker")
    worker = _Flaky(failures=3)
    worker.start()
    await asyncio.wait_for(worker.done.wait(), 5)
    await asyncio.sleep(0.05)  # a few more good ticks: no more log lines
    await worker.close()
    lines = [r.getMessage() for r in caplog.records if "flaky-test-worker" in r.getMessage()]
    failed = [line for line in lines if "event=worker_failed" in line]
    recovered = [line for line in lines if "event=worker_recovered" in line]
    assert len(failed) == 3
    assert "attempt=3" in failed[-1] and "ConnectionError: down (0 to go)" in failed[-1]
    assert len(recovered) == 1 and "failures=3" in recovered[0]
    assert worker.failures == 0 and worker.last_error is None
    assert not worker.running


async def test_closing_a_worker_stuck_in_its_loop_returns_within_its_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Stubborn(PeriodicWorker):
        name = "stubborn-test-worker"
        stubborn = True

        async def tick(self) -> None:
            while True:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    if self.stubborn:
                        continue  # ignores cancellation, as a buggy loop might
                    raise

    worker = Stubborn()
    worker.start()
    task = worker._task
    assert task is not None
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await worker.close(timeout=0.2)
    assert loop.time() - started < 1.0
    assert "event=worker_close_stuck worker=stubborn-test-worker" in caplog.text
    worker.stubborn = False  # let the test end cleanly
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
