"""The Airbyte protocol source against the emulator: spec, check, discover and read."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter
from typing import Any

import httpx
import pytest
import stamina
from jsonschema import Draft7Validator, FormatChecker
from tests.integration.extract._runs import AIRBYTE_STREAMS, FIRST, LATER, import_more
from tests.integration.extract._seed import TEST_RATE_LIMIT, Seeded

from mogulsync.chartmogul.pagination import MAX_PER_PAGE
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract import airbyte_protocol as protocol
from mogulsync.extract import streams
from mogulsync.extract.airbyte import AirbyteSource, catalog


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


def test_spec_declares_every_config_key_and_validates_a_full_config(dead_url: str) -> None:
    """connectionSpecification is valid draft 7, lists every key the config takes, and a
    config using all of them conforms to it (what the platform checks before running)."""
    _, (message,) = _run("spec")
    spec = message["spec"]["connectionSpecification"]
    Draft7Validator.check_schema(spec)
    assert set(spec["properties"]) == set(protocol.SourceConfig.model_fields)
    full = {
        "api_key": "k",
        "start_date": "2024-01-01T00:00:00Z",
        "base_url": dead_url,
        "interval": "week",
        "activity_windows": 3,
        "rate_limit": 12.5,
    }
    Draft7Validator(spec, format_checker=FormatChecker()).validate(full)
    protocol.parse_config(full)
    orders = [p["order"] for p in spec["properties"].values()]
    assert sorted(orders) == list(range(len(orders)))


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


_STRINGS_OF_THEIR_CUSTOMERS = (
    "billing-system-type billing-system-url chartmogul-url city company country currency"
    " currency-sign data_source_uuid email external_id free_trial_started_at lead_created_at"
    " name state status uuid zip"
)
#: the non-null JSON types Airbyte's source-chartmogul 1.0.13 declares for its streams'
#: fields (its `customer_since` is left out: customers carry `customer-since`)
THEIR_TYPES = {
    "customers": {
        **dict.fromkeys(_STRINGS_OF_THEIR_CUSTOMERS.split(), "string"),
        **dict.fromkeys(["id", "mrr", "arr"], "integer"),
        **dict.fromkeys(["address", "attributes"], "object"),
        **dict.fromkeys(["data_source_uuids", "external_ids"], "array"),
    },
    "activities": {
        **dict.fromkeys(["activity-mrr", "activity-mrr-movement", "activity-arr"], "integer"),
        **dict.fromkeys(
            [
                "description",
                "date",
                "type",
                "currency",
                "subscription-external-id",
                "plan-external-id",
                "customer-name",
                "customer-uuid",
                "customer-external-id",
                "billing-connector-uuid",
                "uuid",
            ],
            "string",
        ),
    },
    **{name: {"date": "string", "customers": "integer"} for name in AIRBYTE_STREAMS[2:]},
}


def test_airbyte_streams_keep_source_chartmogul_column_types() -> None:
    """Each field Airbyte's connector declares has the same type here (null allowed).

    A connection switched to this source keeps its destination columns' types: a
    number where Airbyte said integer would change BIGINT columns to floats.
    """
    ours = {s["name"]: s["json_schema"]["properties"] for s in catalog()["catalog"]["streams"]}
    for stream, fields in THEIR_TYPES.items():
        for field, their_type in fields.items():
            assert set(ours[stream][field]["type"]) - {"null"} == {their_type}, (stream, field)


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
    the catalog would be dropped by column selection. An object with an empty
    ``properties`` (as source-chartmogul declares custom attributes) is a free-form map.
    """
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if schema.get("properties"):
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
    assert seeded[0].api_key not in json.dumps(messages)
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


def _as_global(state: dict[str, Any]) -> list[dict[str, Any]]:
    stream = state["stream"]
    return [{"type": "GLOBAL", "global": {"shared_state": {}, "stream_states": [stream]}}]


def _as_legacy(state: dict[str, Any]) -> list[dict[str, Any]]:
    name = state["stream"]["stream_descriptor"]["name"]
    return [{"type": "LEGACY", "data": {name: state["stream"]["stream_state"]}}]


#: the forms in which a STATE reaches ``--state``: what Airbyte stores, by protocol era
STATE_FORMS = {
    "per-stream list": lambda state: [state],
    "one message": lambda state: state,
    "STATE envelopes, as read prints them": lambda state: [{"type": "STATE", "state": state}],
    "GLOBAL": _as_global,
    "LEGACY data": _as_legacy,
    "legacy map": lambda state: {"activities": state["stream"]["stream_state"]},
}


@pytest.mark.parametrize("form", STATE_FORMS)
def test_incremental_read_with_state_emits_only_new_activities(
    server: EmulatorServer, form: str
) -> None:
    """Reading again with the last STATE emitted, in any form, yields only newer activities."""
    catalog = _catalog(["activities"], mode="incremental")
    _, first = _run("read", _config(server), catalog)
    assert _records(first)["activities"] == FIRST
    import_more(server, "c", LATER, dt.date(2025, 1, 1))

    _, second = _run("read", _config(server), catalog, STATE_FORMS[form](_states(first)[-1]))

    assert _records(second)["activities"] == LATER
    new_cursor = _states(second)[-1]["stream"]["stream_state"]["cursor"]
    assert new_cursor > _states(first)[-1]["stream"]["stream_state"]["cursor"]


def test_a_full_refresh_leaves_a_cursor_that_an_incremental_read_continues_from(
    server: EmulatorServer,
) -> None:
    """Read in full refresh, the streams with a cursor end with that cursor's STATE, as
    Airbyte's CDK has a stream with a cursor do in either mode (the platform keeps a state
    whatever the mode); a stream without one ends with the CDK's no-cursor state, as
    source-chartmogul 1.0.13's streams (none has a cursor) do. One STATE each, at the end:
    as in the CDK, only incremental reads checkpoint. A connection then switched to
    incremental reads only what is new: nothing twice, nothing lost."""
    cursored = ["activities", "subscription_events"]
    names = [*cursored, "plans"]
    future = {"cursor": "2099-01-01T00:00:00+00:00", "seen": []}
    stale = [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": n}, "stream_state": future}}
        for n in cursored
    ]
    # a full refresh reads everything, whatever state the platform passes in
    _, full = _run("read", _config(server), _catalog(names), stale)
    assert _records(full) == dict.fromkeys(cursored, FIRST) | {"plans": 3}
    _assert_acceptance_shape(full, names)
    stated = Counter(s["stream"]["stream_descriptor"]["name"] for s in _states(full))
    assert stated == dict.fromkeys(names, 1)
    final = {s["stream"]["stream_descriptor"]["name"]: s for s in _states(full)}
    assert final["plans"]["stream"]["stream_state"] == protocol.NO_CURSOR_STATE
    for name in cursored:
        assert final[name]["stream"]["stream_state"]["cursor"] < future["cursor"]

    import_more(server, "c", LATER, dt.date(2025, 1, 1))
    states = [final[name] for name in names]
    _, after = _run("read", _config(server), _catalog(cursored, "incremental"), states)
    assert _records(after) == dict.fromkeys(cursored, LATER)
    for name in cursored:
        (key,) = streams.STREAMS[name].primary_key
        read = [m["record"]["data"][key] for m in [*full, *after] if _is_record(m, name)]
        assert len(set(read)) == len(read) == FIRST + LATER


def _is_record(message: dict[str, Any], stream: str) -> bool:
    return bool(message["type"] == "RECORD" and message["record"]["stream"] == stream)


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


def test_a_state_from_the_future_reads_nothing_and_keeps_it(server: EmulatorServer) -> None:
    """Both incremental streams with a cursor beyond all data (as the acceptance tests'
    abnormal state): no records, COMPLETE, and the same cursor back."""
    names = ["activities", "subscription_events"]
    future = {"cursor": "2099-01-01T00:00:00+00:00", "seen": []}
    state = [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": n}, "stream_state": future}}
        for n in names
    ]
    code, messages = _run("read", _config(server), _catalog(names, "incremental"), state)
    assert code == 0
    assert not _records(messages)
    _assert_acceptance_shape(messages, names)
    assert [s["stream"]["stream_state"] for s in _states(messages)] == [future, future]


def test_a_foreign_cursor_is_read_from_the_start_with_a_warning(server: EmulatorServer) -> None:
    """A state this source did not write is not guessed at: a WARN, then a full read."""
    foreign = {"activities": {"date": "2030-01-01T00:00:00Z"}}
    code, messages = _run("read", _config(server), _catalog(["activities"], "incremental"), foreign)
    assert code == 0
    assert _records(messages)["activities"] == FIRST
    (warning,) = [m["log"] for m in messages if m["type"] == "LOG" and m["log"]["level"] == "WARN"]
    assert "activities is read from start_date" in warning["message"]


@pytest.mark.parametrize(
    ("state", "where"),
    [
        ("activities", "a JSON str"),
        ([{"type": "STREAM", "stream": {"stream_state": {}}}], "state[0].stream"),
        ([{"type": "PER_STREAM"}], "state[0] has type 'PER_STREAM'"),
        ({"type": "GLOBAL", "global": {}}, "global.stream_states"),
    ],
)
def test_a_malformed_state_is_a_config_error_naming_where(
    seeded: tuple[EmulatorServer, Seeded], state: object, where: str
) -> None:
    """--state in no known shape: a config_error TRACE naming the spot and the shape, exit 1."""
    code, messages = _run("read", _config(seeded[0]), _catalog(["activities"]), state)
    assert code == 1
    (trace,) = messages
    error = trace["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert where in error["message"]
    assert "stream_descriptor" in error["message"]  # the hint: what --state should hold


def test_a_rejected_key_during_read_names_the_connector_config(server: EmulatorServer) -> None:
    """read with a wrong key: config_error TRACEs that point at `api_key` of --config."""
    catalog = _catalog(["customers", "activities"])
    code, messages = _run("read", _config(server, api_key="wrong-key-123"), catalog)
    assert code == 1
    errors = [
        m["trace"]["error"]
        for m in messages
        if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"
    ]
    assert {e["stream_descriptor"]["name"] for e in errors} == {"customers", "activities"}
    for error in errors:
        assert error["failure_type"] == "config_error"
        assert "`api_key` in the connector config" in error["message"]
        assert server.base_url in error["message"]
        assert "chartmogul.api_key" not in error["message"]  # no mogulsync.yml here
    assert "wrong-key-123" not in json.dumps(messages)


@pytest.mark.parametrize("command", ["check", "discover", "read"])
def test_a_base_url_without_scheme_is_a_config_problem(
    seeded: tuple[EmulatorServer, Seeded], command: str
) -> None:
    """A base_url the client refuses is reported as the config's, not raised mid-command."""
    config = _config(seeded[0], base_url="api.chartmogul.com", api_key="secret-key-456")
    args = (config, _catalog(["customers"])) if command == "read" else (config,)
    code, messages = _run(command, *args)
    (message,) = messages
    if command == "check":
        assert code == 0
        assert message["connectionStatus"]["status"] == "FAILED"
        text = message["connectionStatus"]["message"]
    else:
        assert code == 1
        assert message["trace"]["error"]["failure_type"] == "config_error"
        text = message["trace"]["error"]["message"]
    assert text.startswith("invalid config: base_url:")
    assert "http://" in text
    assert "secret-key-456" not in json.dumps(message)


def test_a_start_date_after_today_is_a_config_error(seeded: tuple[EmulatorServer, Seeded]) -> None:
    """start_date in the far future: one config_error, no stream started (the metrics
    endpoints would refuse the range one by one)."""
    config = _config(seeded[0], start_date="2999-01-01T00:00:00Z")
    code, messages = _run("read", config, _catalog(["activities", "customer_daily_count"]))
    assert code == 1
    (trace,) = messages
    error = trace["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert error["message"].startswith("invalid config: start_date 2999-01-01T00:00:00Z is after")


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
def test_check_names_the_server_it_could_not_reach(dead_port: int) -> None:
    """check against a refusing port: FAILED (exit 0), naming the base_url it tried."""
    port = dead_port
    config = {
        "api_key": "key-789",
        "start_date": "2024-01-01T00:00:00Z",
        "base_url": f"http://127.0.0.1:{port}",
    }
    code, (message,) = _run("check", config)
    assert code == 0
    status = message["connectionStatus"]
    assert status["status"] == "FAILED"
    assert status["message"].startswith(f"Could not read customers from http://127.0.0.1:{port}:")
    assert "key-789" not in json.dumps(message)


class _BrokenTransport(httpx.AsyncBaseTransport):
    """A transport that fails with an error no client code expects."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"transport broke on {request.url.path}")


def test_check_answers_failed_on_an_unexpected_error() -> None:
    """An unexpected error in check is a FAILED CONNECTION_STATUS, not a traceback."""
    out = io.StringIO()
    config = {"api_key": "k", "start_date": "2024-01-01T00:00:00Z"}
    code = AirbyteSource(out, transport=_BrokenTransport()).check(config)
    (message,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert code == 0
    assert message["connectionStatus"]["status"] == "FAILED"
    assert "transport broke on /v1/customers" in message["connectionStatus"]["message"]


@pytest.mark.usefixtures("no_retry_waits")
def test_a_failing_stream_is_incomplete_and_others_complete(server: EmulatorServer) -> None:
    """When one stream keeps failing, it ends INCOMPLETE with an ERROR; the others finish."""
    faults = {"error_rate": 1.0, "error_statuses": [500], "path_pattern": "metrics"}
    httpx.put(f"{server.base_url}/_emulator/faults", json=faults, timeout=30).raise_for_status()
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
