"""Fixtures for event delivery tests: client retries without sleeping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

#: Attempts per client call while stamina is in testing mode (no waits between them).
TEST_ATTEMPTS = 2


@pytest.fixture(autouse=True)
def _retries_without_waiting() -> Iterator[None]:
    """Client retries happen, but stamina skips the backoff sleeps."""
    with stamina.set_testing(True, attempts=TEST_ATTEMPTS, cap=True):
        yield
