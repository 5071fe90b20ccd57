"""Shared helpers for the edoc tests: where the fixture corpus lives."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HOSTILE = FIXTURES / "hostile"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
