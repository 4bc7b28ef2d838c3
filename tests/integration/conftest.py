"""Fixtures of the integration tests (the stack's own are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from .helpers import Sink


@pytest.fixture
def sink() -> Sink:
    """What ingest publishes, kept in memory."""
    return Sink()
