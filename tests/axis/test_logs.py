"""The JSON log: one object per line that any JSON reader takes, with the request's id and the
fields a caller adds, Vietnamese text kept as written."""

from __future__ import annotations

import json
import logging

from axis.logs import JsonFormatter, request_id_var


def _line(record: logging.LogRecord) -> dict[str, object]:
    text = JsonFormatter().format(record)
    assert "\n" not in text
    loaded: dict[str, object] = json.loads(text)
    return loaded


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("axis.http", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_a_line_names_the_request_and_keeps_vietnamese_text() -> None:
    token = request_id_var.set("r-1")
    try:
        line = _line(_record("event=http path=%s", "/v1/văn-bản", organ_id="000.00.00.G22"))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "event=http path=/v1/văn-bản"
    assert line["request_id"] == "r-1" and line["organ_id"] == "000.00.00.G22"
    assert line["level"] == "info" and line["logger"] == "axis.http"
    assert "văn-bản" in JsonFormatter().format(_record("%s", "văn-bản"))  # not \\u escapes


def test_fields_json_cannot_hold_as_they_are_are_written_as_text() -> None:
    line = _line(_record("odd", big=1 << 70, keys={1: "one"}, thing=object()))
    assert line["big"] == 1 << 70
    assert line["keys"] == {"1": "one"}
    assert isinstance(line["thing"], str) and "object" in line["thing"]
