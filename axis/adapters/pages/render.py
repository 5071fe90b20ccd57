"""Templates and the words on the pages: Vietnamese first, English beside it; times in Vietnam."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2

import edoc

HERE = Path(__file__).parent

STATUS_LABELS = {s.code: (s.label_vi, s.label_en) for s in edoc.StatusCode}
STATUS_LABELS["02"] = ("từ chối", "refused")  # the short form fits a chip

DELIVERY_STATES = {
    "queued": ("Đang chuyển", "In transit"),
    "available": ("Chờ tải về", "Waiting to be fetched"),
    "acknowledged": ("Đã tải về", "Fetched"),
    "failed": ("Không chuyển được", "Delivery failed"),
}

BUSINESS_TYPES = {
    0: ("Văn bản mới", "New"),
    1: ("Thu hồi", "Recall"),
    2: ("Cập nhật", "Update"),
    3: ("Thay thế", "Replacement"),
}


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def vn_time(value: Any) -> str:
    """A timestamp as people in Vietnam read it: 23/11/2026 14:05:09 (UTC+7)."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    return moment.astimezone(edoc.VN_TZ).strftime("%d/%m/%Y %H:%M:%S")


def vn_date(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        value = value.astimezone(edoc.VN_TZ).date()
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def iso_time(value: Any) -> str:
    moment = _as_datetime(value)
    return moment.isoformat() if moment else ""


def size(value: int | None) -> str:
    if value is None:
        return ""
    if value < 1024:
        return f"{value} B"
    if value < 1024 * 1024:
        return f"{value / 1024:.1f} KB"
    return f"{value / 1024 / 1024:.1f} MB"


def status_label(code: str | None) -> str:
    if not code:
        return ""
    vi, en = STATUS_LABELS.get(code, (code, code))
    return f"{code} {vi} / {en}"


def state_label(state: str | None) -> str:
    vi, en = DELIVERY_STATES.get(state or "", (state or "", state or ""))
    return f"{vi} / {en}"


def business_label(value: int | None) -> str:
    vi, en = BUSINESS_TYPES.get(value or 0, (str(value), str(value)))
    return f"{vi} / {en}"


def code_of(row: Any) -> str:
    number, notation = row["code_number"], row["code_notation"]
    if number and notation:
        return f"{number}/{notation}"
    return number or notation or ""


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        vn_time=vn_time,
        vn_date=vn_date,
        iso_time=iso_time,
        size=size,
        status_label=status_label,
        state_label=state_label,
        business_label=business_label,
        code_of=code_of,
    )
    return env
