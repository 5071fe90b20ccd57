"""Prometheus metrics of the hub: one counter or histogram per stage of a letter's path."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "axis_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "axis_http_request_seconds", "Time to answer an HTTP request", ["method", "route"]
)
DEPENDENCY_UP = Gauge(
    "axis_dependency_up", "1 when the dependency answered the last readiness check", ["dependency"]
)
STAGE = Counter(
    "axis_letter_stage_total",
    "Letters and deliveries passing each stage of the path",
    ["stage"],
)
REFUSED = Counter("axis_documents_refused_total", "Documents refused at ingest", ["reason"])
STAGE_SECONDS = Histogram(
    "axis_stage_seconds", "Time spent in each stage of a letter's path", ["stage"]
)
PUSH_ATTEMPTS = Counter("axis_push_attempts_total", "Webhook deliveries attempted", ["outcome"])
OVERDUE_TOTAL = Counter("axis_deliveries_overdue_total", "Deliveries that fell overdue")
OVERDUE_NOW = Gauge("axis_deliveries_overdue_now", "Deliveries overdue right now")
BATCH_SIZE = Histogram(
    "axis_group_commit_size",
    "Items written together in one group-commit transaction",
    ["kind"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
