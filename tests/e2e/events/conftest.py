"""Helpers for end-to-end events tests: a project config pointing at the emulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer

WRITE_KEY = "e2e-write-key"
#: a safety net for a stuck condition, not a speed limit: generous for a loaded machine
WAIT_S = 120.0
POLL_S = 0.05


def events_config(
    emulator: EmulatorServer, state_dir: Path, *, delivery: str = "api", webhook_url: str = ""
) -> AppConfig:
    """A validated config: emulator as ChartMogul, one write key, short coalesce window."""
    events: dict[str, object] = {
        "write_keys": ["${WRITE_KEY}"],
        "delivery": delivery,
        "retry": {"coalesce_window_s": 0.05},
    }
    env = {"API_KEY": emulator.api_key, "WRITE_KEY": WRITE_KEY}
    if webhook_url:
        events["webhook_url"] = "${WEBHOOK_URL}"
        env["WEBHOOK_URL"] = webhook_url
    raw = {
        "chartmogul": {"api_key": "${API_KEY}", "base_url": emulator.base_url},
        "state_dir": str(state_dir),
        "events": events,
    }
    return parse_config(raw, env=env)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll until ``condition`` holds (delivery is asynchronous); fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def entries(api: httpx.Client, path: str, **params: str) -> list[dict]:
    """A list endpoint's entries."""
    return api.get(path, params=params).json()["entries"]
