"""The Airbyte source as a drop-in for Airbyte's source-chartmogul 1.0.13, against the emulator.

1.0.13 passes the API's list entries on unchanged, and leaves states without a cursor
(it has no incremental stream): ours must emit the same records and accept those states.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from tests.integration.extract._runs import AIRBYTE_STREAMS, FIRST
from tests.integration.extract._seed import TEST_RATE_LIMIT

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.airbyte import AirbyteSource

VENDORED = Path(__file__).parents[2] / "unit/extract/source_chartmogul_1_0_13"


def _config(server: EmulatorServer, start_date: str = "2024-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "api_key": server.api_key,
        "start_date": start_date,
        "base_url": server.base_url,
        "rate_limit": TEST_RATE_LIMIT,
    }


def _catalog(modes: dict[str, str]) -> dict[str, Any]:
    return {
        "streams": [
            {"stream": {"name": name}, "sync_mode": mode, "destination_sync_mode": "append"}
            for name, mode in modes.items()
        ]
    }


def _read(server: EmulatorServer, catalog: dict[str, Any], **kwargs: Any) -> list[Any]:
    out = io.StringIO()
    state = kwargs.pop("state", None)
    code = AirbyteSource(out).read(_config(server, **kwargs), catalog, state)
    assert code == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _records(messages: list[Any], stream: str) -> list[dict[str, Any]]:
    return [
        m["record"]["data"]
        for m in messages
        if m["type"] == "RECORD" and m["record"]["stream"] == stream
    ]


def _api_entries(server: EmulatorServer, path: str, **params: str) -> list[dict[str, Any]]:
    """Every entry of a list as the API sends it (what 1.0.13 emits as records)."""
    entries: list[dict[str, Any]] = []
    query: dict[str, str | int] = {"per_page": 200, **params}
    with httpx.Client(base_url=server.base_url, auth=(server.api_key, ""), timeout=30) as http:
        while True:
            page = http.get(path, params=query).raise_for_status().json()
            entries += page["entries"]
            if not page["has_more"]:
                return entries
            query["cursor"] = page["cursor"]


def _add_lead(server: EmulatorServer) -> None:
    """A customer whose lead and trial times the API spells with milliseconds."""
    with httpx.Client(base_url=server.base_url, auth=(server.api_key, ""), timeout=30) as http:
        (source,) = http.get("/v1/data_sources").raise_for_status().json()["data_sources"]
        lead = {
            "data_source_uuid": source["uuid"],
            "external_id": "lead-1",
            "name": "Lead",
            "lead_created_at": "2024-02-03T04:05:06Z",
            "free_trial_started_at": "2024-02-10T00:00:00Z",
        }
        http.post("/v1/customers", json=lead).raise_for_status()


def test_records_are_the_api_entries_as_sent(server: EmulatorServer) -> None:
    """customers and activities records equal the API's entries, value spellings included
    (``.000Z``, ``+00:00``): what 1.0.13 emits. Parsed and re-serialised, every timestamp
    came out as ``...Z``."""
    _add_lead(server)
    messages = _read(server, _catalog({"customers": "full_refresh", "activities": "full_refresh"}))

    customers = {c["id"]: c for c in _records(messages, "customers")}
    assert customers == {c["id"]: c for c in _api_entries(server, "/v1/customers")}
    lead = next(c for c in customers.values() if c["external_id"] == "lead-1")
    assert lead["lead_created_at"] == "2024-02-03T04:05:06.000Z"
    assert lead["free_trial_started_at"] == "2024-02-10T00:00:00.000Z"
    assert "customer_since" not in lead  # declared, never sent (the API says customer-since)

    activities = {a["uuid"]: a for a in _records(messages, "activities")}
    api = _api_entries(server, "/v1/activities", **{"start-date": "2024-01-01T00:00:00Z"})
    assert len(activities) == FIRST
    assert activities == {a["uuid"]: a for a in api}
    assert all(a["date"].endswith("+00:00") for a in activities.values())


def _vendored_state() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((VENDORED / "state.json").read_text())
    return loaded


def test_the_state_source_chartmogul_left_is_accepted(server: EmulatorServer) -> None:
    """The STATE messages 1.0.13 wrote (tests/unit/extract/source_chartmogul_1_0_13) as
    --state: every stream reads in full, activities switched to incremental from
    start_date, with no warning; it then leaves a cursor that the next read continues from."""
    state = _vendored_state()
    assert {s["stream"]["stream_descriptor"]["name"] for s in state} == set(AIRBYTE_STREAMS)
    modes = dict.fromkeys(AIRBYTE_STREAMS, "full_refresh") | {"activities": "incremental"}

    messages = _read(server, _catalog(modes), state=state)

    counts = Counter(m["record"]["stream"] for m in messages if m["type"] == "RECORD")
    assert counts["customers"] == counts["activities"] == FIRST
    assert all(counts[name] > 0 for name in AIRBYTE_STREAMS)
    assert not [m for m in messages if m["type"] == "LOG" and m["log"]["level"] == "WARN"]
    (last,) = [
        m["state"]
        for m in messages
        if m["type"] == "STATE"
        and m["state"]["stream"]["stream_descriptor"]["name"] == "activities"
    ]
    again = _read(server, _catalog({"activities": "incremental"}), state=[last])
    assert _records(again, "activities") == []


def test_subscription_events_are_not_cut_at_start_date(server: EmulatorServer) -> None:
    """start_date limits activities and metrics only (1.0.13 has no subscription_events
    stream, and limits neither its customers): every event is read, those dated before too."""
    messages = _read(
        server, _catalog({"subscription_events": "full_refresh"}), start_date="2024-06-01T00:00:00Z"
    )
    events = _records(messages, "subscription_events")
    assert len(events) == FIRST
    assert min(e["event_date"] for e in events) < "2024-06-01"
