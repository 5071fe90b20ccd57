"""Structured logs: one event per line, JSON or key=value, carrying the request and document ids."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
document_id_var: ContextVar[str | None] = ContextVar("document_id", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (rid := request_id_var.get()) is not None:
            entry["request_id"] = rid
        if (did := document_id_var.get()) is not None:
            entry["document_id"] = did
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:  # orjson: a log line per request, several times faster than the json module
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # what orjson does not write (a key that is not text, a huge integer)
            return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [
            time.strftime("%H:%M:%S", time.localtime(record.created)),
            record.levelname.lower(),
            record.name,
            record.getMessage(),
        ]
        if (rid := request_id_var.get()) is not None:
            parts.append(f"request_id={rid}")
        if (did := document_id_var.get()) is not None:
            parts.append(f"document_id={did}")
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                parts.append(f"{key}={value}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class QuietBadRequests(logging.Filter):
    """aiohttp answers a request it cannot parse (a header over its 8190-byte limit, a broken
    request line) with a short 400 itself, then logs the parser's traceback at error. That is a
    caller's fault, not ours: one warning line instead, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import BadHttpMessage

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BadHttpMessage):
            reason = " ".join(str(exc.message).split())[:120]
            record.msg, record.args = "event=http_bad_request status=400 reason=%s", (reason,)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


def quiet_bad_requests() -> None:
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, QuietBadRequests) for f in server.filters):
        server.addFilter(QuietBadRequests())


def setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aio-pika and aiormq log every reconnect attempt at warning with a traceback; ours say it once.
    logging.getLogger("aio_pika").setLevel("ERROR")
    logging.getLogger("aiormq").setLevel("ERROR")
    logging.getLogger("aiohttp.access").setLevel("WARNING")
    quiet_bad_requests()
