"""Dagster tests: stamina's retries without waits (a failing run must fail at once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina


@pytest.fixture(autouse=True)
def _retries_without_waiting() -> Iterator[None]:
    with stamina.set_testing(True, attempts=2, cap=True):
        yield
