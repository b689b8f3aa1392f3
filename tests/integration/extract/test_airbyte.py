"""The Airbyte protocol source against the emulator: spec, check, discover and read."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter
from typing import Any

import pytest
import stamina
from jsonschema import Draft7Validator, FormatChecker
from tests.integration.extract._runs import FIRST, LATER, import_more
from tests.integration.extract._seed import TEST_RATE_LIMIT, Seeded

from mogulsync.chartmogul.pagination import MAX_PER_PAGE
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract import streams
from mogulsync.extract.airbyte import AirbyteSource, catalog

AIRBYTE_STREAMS = [
    "customers",
    "activities",
    "customer_daily_count",
    "customer_weekly_count",
    "customer_monthly_count",
    "customer_quarterly_count",
]


def _config(server: EmulatorServer, **extra: Any) -> dict[str, Any]:
    """A source-chartmogul config (plus base_url) for the emulator."""
    return {
        "api_key": server.api_key,
        "start_date": "2024-01-01T00:00:00Z",
        "base_url": server.base_url,
        "rate_limit": TEST_RATE_LIMIT,
        **extra,
    }


def _catalog(streams: list[str], mode: str = "full_refresh") -> dict[str, Any]:
    return {
        "streams": [
            {"stream": {"name": name}, "sync_mode": mode, "destination_sync_mode": "append"}
            for name in streams
        ]
    }


def _run(command: str, *args: Any) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    code = getattr(AirbyteSource(out), command)(*args)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def _records(messages: list[dict[str, Any]]) -> Counter[str]:
    return Counter(m["record"]["stream"] for m in messages if m["type"] == "RECORD")


def _states(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["state"] for m in messages if m["type"] == "STATE"]


def _statuses(messages: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each stream's STREAM_STATUS values, in order."""
    found: dict[str, list[str]] = {}
    for m in messages:
        if m["type"] == "TRACE" and m["trace"]["type"] == "STREAM_STATUS":
            status = m["trace"]["stream_status"]
            found.setdefault(status["stream_descriptor"]["name"], []).append(status["status"])
    return found


def _assert_acceptance_shape(messages: list[dict[str, Any]], streams: list[str]) -> None:
    """What Airbyte's acceptance tests demand of a successful read, stream by stream.

    Statuses STARTED, RUNNING (at least once, records or not), COMPLETE; STATE messages
    of type STREAM with sourceStats whose recordCounts add up to the records emitted.
    """
    statuses = _statuses(messages)
    assert set(statuses) == set(streams)
    for name, found in statuses.items():
        assert len(found) >= 3, (name, found)  # STARTED, RUNNING, COMPLETE
        assert found[0] == "STARTED", (name, found)
        assert found[-1] == "COMPLETE", (name, found)
        assert set(found[1:-1]) == {"RUNNING"}, (name, found)
    stated: Counter[str] = Counter()
    for state in _states(messages):
        assert state["type"] == "STREAM"
        stated[state["stream"]["stream_descriptor"]["name"]] += int(
            state["sourceStats"]["recordCount"]
        )
    records = _records(messages)
    assert {name: stated[name] for name in streams} == {name: records[name] for name in streams}


def test_spec_accepts_source_chartmogul_config() -> None:
    """SPEC requires api_key and start_date in Airbyte's format and allows base_url."""
    code, (message,) = _run("spec")
    spec = message["spec"]["connectionSpecification"]
    assert code == 0
    assert message["type"] == "SPEC"
    assert spec["required"] == ["api_key", "start_date"]
    assert spec["properties"]["api_key"]["airbyte_secret"] is True
    assert "base_url" in spec["properties"]


def test_check_reports_success_and_a_rejected_key(
    seeded: tuple[EmulatorServer, Seeded],
) -> None:
    """CONNECTION_STATUS succeeds with a good key and fails (exit 0) with a bad one."""
    server, _ = seeded
    assert _run("check", _config(server))[1] == [
        {"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}}
    ]
    code, (message,) = _run("check", _config(server, api_key="wrong-key"))
    assert code == 0
    assert message["connectionStatus"]["status"] == "FAILED"
    assert "API key" in message["connectionStatus"]["message"]
    # the key came from the connector config, not from mogulsync.yml
    assert "`api_key` in the connector config" in message["connectionStatus"]["message"]
    assert "chartmogul.api_key" not in message["connectionStatus"]["message"]
    assert "wrong-key" not in json.dumps(message)


def test_discover_offers_airbyte_streams_and_ours(
    seeded: tuple[EmulatorServer, Seeded],
) -> None:
    """CATALOG names Airbyte's six streams first, then ours; activities are incremental."""
    code, (message,) = _run("discover", _config(seeded[0]))
    streams = {s["name"]: s for s in message["catalog"]["streams"]}
    assert code == 0
    assert list(streams)[:6] == AIRBYTE_STREAMS
    assert {"invoices", "plans", "contacts", "subscriptions", "metrics", "customer_count"} <= set(
        streams
    )
    assert streams["activities"]["supported_sync_modes"] == ["full_refresh", "incremental"]
    assert streams["activities"]["default_cursor_field"] == ["date"]
    assert streams["customers"]["source_defined_primary_key"] == [["id"]]


def test_read_emits_every_record_state_and_status(
    seeded: tuple[EmulatorServer, Seeded],
) -> None:
    """A full read of Airbyte's streams emits every record, a STATE and COMPLETE per stream."""
    server, data = seeded
    code, messages = _run("read", _config(server), _catalog(AIRBYTE_STREAMS))
    counts = _records(messages)
    assert code == 0
    assert counts["customers"] == data.customers
    assert counts["activities"] == data.customers
    assert all(counts[name] > 0 for name in AIRBYTE_STREAMS)
    statuses = [
        (
            m["trace"]["stream_status"]["stream_descriptor"]["name"],
            m["trace"]["stream_status"]["status"],
        )
        for m in messages
        if m["type"] == "TRACE" and m["trace"]["type"] == "STREAM_STATUS"
    ]
    assert {(name, "COMPLETE") for name in AIRBYTE_STREAMS} <= set(statuses)
    assert {s["stream"]["stream_descriptor"]["name"] for s in _states(messages)} == set(
        AIRBYTE_STREAMS
    )
    _assert_acceptance_shape(messages, AIRBYTE_STREAMS)
    record = next(
        m["record"]
        for m in messages
        if m["type"] == "RECORD" and m["record"]["stream"] == "activities"
    )
    assert "activity-mrr" in record["data"]  # raw API keys, as Airbyte's connector emits
    assert any(m["type"] == "LOG" for m in messages)


def test_an_empty_stream_still_reports_running_and_a_zero_count(server: EmulatorServer) -> None:
    """A stream without records goes STARTED, RUNNING, COMPLETE with a recordCount of 0."""
    code, messages = _run("read", _config(server), _catalog(["plan_groups", "customers"]))
    assert code == 0
    assert _records(messages)["plan_groups"] == 0
    _assert_acceptance_shape(messages, ["plan_groups", "customers"])
    (state,) = [
        s for s in _states(messages) if s["stream"]["stream_descriptor"]["name"] == "plan_groups"
    ]
    assert state["sourceStats"] == {"recordCount": 0.0}


def _closed(schema: Any) -> Any:
    """``schema`` with no undeclared property allowed in any object that lists properties.

    As Airbyte's acceptance tests read with ``fail_on_extra_columns``: a field missing from
    the catalog would be dropped by column selection.
    """
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if "properties" in schema:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def test_every_record_conforms_to_its_discovered_schema(
    seeded: tuple[EmulatorServer, Seeded],
) -> None:
    """A read of every stream: each record validates against its stream's json_schema.

    Types, nullability and date/date-time formats are checked, and no field is undeclared;
    primary keys are never null, objects or arrays; cursor fields are always present.
    """
    streams = catalog()["catalog"]["streams"]
    names = [stream["name"] for stream in streams]
    code, messages = _run("read", _config(seeded[0]), _catalog(names))
    assert code == 0
    validators = {
        stream["name"]: Draft7Validator(
            _closed(stream["json_schema"]), format_checker=FormatChecker()
        )
        for stream in streams
    }
    keys = {stream["name"]: stream["source_defined_primary_key"] for stream in streams}
    cursors = {stream["name"]: stream.get("default_cursor_field") for stream in streams}
    problems: Counter[tuple[str, str]] = Counter()
    for message in messages:
        if message["type"] != "RECORD":
            continue
        name, data = message["record"]["stream"], message["record"]["data"]
        for error in validators[name].iter_errors(data):
            problems[name, f"{error.json_path}: {error.message}"] += 1
        for (key,) in keys[name]:
            assert data[key] is not None, (name, key)
            assert not isinstance(data[key], (dict, list)), (name, key)
        if cursors[name]:
            assert data[cursors[name][0]] is not None, name
    assert not problems
    assert all(_records(messages)[name] > 0 for name in names)
    _assert_acceptance_shape(messages, names)


@pytest.mark.parametrize(
    ("interval", "airbyte_stream"), [("day", "daily"), ("quarter", "quarterly")]
)
def test_customer_count_follows_the_config_interval(
    seeded: tuple[EmulatorServer, Seeded], interval: str, airbyte_stream: str
) -> None:
    """customer_count (the 0.x connector's stream) reads per the config's interval."""
    catalog = _catalog(["customer_count", f"customer_{airbyte_stream}_count"])
    code, messages = _run("read", _config(seeded[0], interval=interval), catalog)
    counts = _records(messages)
    assert code == 0
    assert counts["customer_count"] == counts[f"customer_{airbyte_stream}_count"] > 0
    intervals = {
        m["record"]["data"]["interval"]
        for m in messages
        if m["type"] == "RECORD" and m["record"]["stream"] == "customer_count"
    }
    assert intervals == {interval}


def test_incremental_read_with_state_emits_only_new_activities(server: EmulatorServer) -> None:
    """Reading again with the last STATE emitted yields only activities created since."""
    catalog = _catalog(["activities"], mode="incremental")
    _, first = _run("read", _config(server), catalog)
    assert _records(first)["activities"] == FIRST
    import_more(server, "c", LATER, dt.date(2025, 1, 1))

    _, second = _run("read", _config(server), catalog, [{"type": "STREAM", **_states(first)[-1]}])

    assert _records(second)["activities"] == LATER
    new_cursor = _states(second)[-1]["stream"]["stream_state"]["cursor"]
    assert new_cursor > _states(first)[-1]["stream"]["stream_state"]["cursor"]


def test_resuming_from_any_activities_state_loses_nothing(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every STATE of an incremental read (checkpoints too) resumes without a gap."""
    # three pages and slow round trips: the range is read in windows, which checkpoint as
    # they finish (a range of two pages is read on from the first, in one part)
    import_more(server, "w", 2 * MAX_PER_PAGE, dt.date(2024, 8, 1))
    seconds = iter(range(1_000_000))
    monkeypatch.setattr(streams, "_clock", lambda: float(next(seconds)))
    catalog = _catalog(["activities"], mode="incremental")
    _, messages = _run("read", _config(server, activity_windows=8), catalog)
    everything = {m["record"]["data"]["uuid"] for m in messages if m["type"] == "RECORD"}
    assert len(everything) == FIRST + 2 * MAX_PER_PAGE
    before: set[str] = set()
    cursors = []
    for message in messages:
        if message["type"] == "RECORD":
            before.add(message["record"]["data"]["uuid"])
        elif message["type"] == "STATE":
            state = message["state"]
            cursors.append(state["stream"]["stream_state"]["cursor"])
            _, again = _run("read", _config(server), catalog, [state])
            after = {m["record"]["data"]["uuid"] for m in again if m["type"] == "RECORD"}
            assert before | after == everything
    assert len(cursors) > 1, "no checkpoint before the final state"
    assert cursors == sorted(cursors)
    _assert_acceptance_shape(messages, ["activities"])  # checkpoints count their records


def test_unknown_stream_is_a_config_error(seeded: tuple[EmulatorServer, Seeded]) -> None:
    """A catalog naming an unknown stream fails with a config_error TRACE and exit 1."""
    code, messages = _run("read", _config(seeded[0]), _catalog(["nope"]))
    assert code == 1
    (trace,) = messages
    assert trace["trace"]["error"]["failure_type"] == "config_error"


@pytest.fixture
def no_retry_waits() -> Any:
    """Retries happen without sleeping."""
    stamina.set_testing(True, attempts=2)
    yield
    stamina.set_testing(False)


@pytest.mark.usefixtures("no_retry_waits")
def test_a_failing_stream_is_incomplete_and_others_complete(server: EmulatorServer) -> None:
    """When one stream keeps failing, it ends INCOMPLETE with an ERROR; the others finish."""
    import httpx

    faults = {"error_rate": 1.0, "error_statuses": [500], "path_pattern": "metrics"}
    httpx.put(f"{server.base_url}/_emulator/faults", json=faults).raise_for_status()
    code, messages = _run("read", _config(server), _catalog(["customers", "customer_daily_count"]))
    assert code == 1
    assert _records(messages)["customers"] == FIRST
    errors = [
        m["trace"]["error"]
        for m in messages
        if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"
    ]
    assert [e["stream_descriptor"]["name"] for e in errors] == ["customer_daily_count"]
    assert errors[0]["failure_type"] == "system_error"
