"""Property: any project file loads, or fails with a ConfigError naming its YAML path.

Hypothesis starts from a file using every section and breaks it: values replaced by wrong
types, odd text, huge numbers, deep structures or ``${ENV}`` references; keys renamed.
Secrets come from the environment with known values, so no message may contain them.
``derandomize`` keeps the drawn examples the same on every run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import unlimited_settings
from typer.testing import CliRunner

from mogulsync import exit_codes
from mogulsync.cli import app
from mogulsync.config import AppConfig, ConfigValidationError, load_config, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.errors import ConfigError

FUZZ = settings(
    max_examples=250,  # ~2 s: parse_config alone
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECRET_MARK = "FUZZSECRET"
ENV = {
    "CHARTMOGUL_API_KEY": f"cmk_{SECRET_MARK}_1",
    "SEGMENT_WRITE_KEY": f"wk_{SECRET_MARK}_2",
    "PGPASSWORD": f"pw_{SECRET_MARK}_3",
    "SLACK_WEBHOOK_URL": f"https://hooks.invalid/{SECRET_MARK}_4",
    "MOGULSYNC_OPERATOR_TOKEN": f"tok_{SECRET_MARK}_5",
    "SMTP_PASSWORD": f"smtp_{SECRET_MARK}_6",
}
BASE = """
version: 1
chartmogul:
  api_key: ${CHARTMOGUL_API_KEY}
  base_url: http://chartmogul.invalid
  rate_limit: 20
state_dir: state
sync_logs: {enabled: true}
warehouses:
  main: duckdb:///warehouse.duckdb
  pg: {url: "postgresql://etl:${PGPASSWORD}@db.invalid/db"}
state_store: {url: "postgresql://etl:${PGPASSWORD}@db.invalid/db", schema: mogulsync}
models:
  accounts: {warehouse: main, table: accounts, primary_key: id}
  invoices: {warehouse: main, sql: select * from invoices, primary_key: [id]}
  lines: {warehouse: main, table: lines, primary_key: id}
syncs:
  customers:
    model: accounts
    object: customer
    mode: upsert
    match: external_id
    data_source: Warehouse
    mapping: {external_id: id, name: company}
    custom_attributes: [seats, vip]
    on_delete: ignore
    schedule: {every: 15m, jitter: auto}
  invoices:
    model: invoices
    object: invoice
    mode: insert
    mapping: {external_id: id, customer_external_id: account_id, date: invoice_date}
    line_items: {model: lines, join_key: invoice_id}
    schedule: {after: [customers]}
extract:
  destination: duckdb:///extract.duckdb
  start_date: 2023-01-01
  interval: month
  streams: [customers, activities]
  mode: incremental
  activity_windows: 4
  schedule: {cron: "0 * * * *", timezone: Europe/Berlin}
events:
  write_keys: ["${SEGMENT_WRITE_KEY}"]
  delivery: api
  data_source: Segment
  host: 127.0.0.1
  port: 8790
  keep_days: 7
  retry: {coalesce_window_s: 0.5, max_attempts: 8, retry_initial_s: 1, retry_max_s: 300}
  limits: {max_json_depth: 32, key_bytes_per_s: 16777216}
alerts:
  channels:
    team: {type: slack, url: "${SLACK_WEBHOOK_URL}"}
    mail: {type: email, host: 127.0.0.1, username: a@example.com,
           password: "${SMTP_PASSWORD}", from: a@example.com, to: [b@example.com]}
  rules:
    - {syncs: [customers], drift: {count: 50, percent: 1}}
serve:
  host: 127.0.0.1
  port: 8800
  tokens:
    - {token: "${MOGULSYNC_OPERATOR_TOKEN}", role: operator}
"""


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


BASE_DOC: dict[str, Any] = yaml.safe_load(BASE)
PATHS = _paths(BASE_DOC)

_ODD = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "x" * 300,
        "${CHARTMOGUL_API_KEY}",
        "${UNSET_FUZZ_VARIABLE}",
        "${",
        "${CHARTMOGUL_API_KEY:-x}",
        "pre ${SEGMENT_WRITE_KEY} post",
        "0 * * * * *",
        "99x",
        "-1s",
        "duckdb:///",
        "postgresql://u:${PGPASSWORD}@db.invalid/db",
        "postgresql://u:literal@db.invalid/db",
        "Not/AZone",
        "9999-99-99",
        "../../etc",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**70, -(2**70), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    _ODD,
)
VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=6), _ODD, st.integers()), inner, max_size=3),
    ),
    max_leaves=6,
)
#: one change: replace the value at a path, or rename the key at a path
CHANGES = st.tuples(st.sampled_from(PATHS), st.booleans(), VALUES)


def broken(changes: list[tuple[tuple[Any, ...], bool, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE_DOC)
    for path, rename, value in changes:
        parent: Any = doc
        for part in path[:-1]:
            if (isinstance(parent, dict) and part in parent) or (
                isinstance(parent, list) and isinstance(part, int) and part < len(parent)
            ):
                parent = parent[part]
            else:
                break  # an earlier change removed this branch
        else:
            last = path[-1]
            if isinstance(parent, dict) and last in parent:
                if rename and isinstance(value, str | int | bool | None | float):
                    parent[value] = parent.pop(last)
                else:
                    parent[last] = value
            elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
                parent[last] = value
    return doc


def assert_clear_failure(error: ConfigError) -> None:
    text = f"{error.user_message}\n{error}"
    assert SECRET_MARK not in text, text
    if isinstance(error, ConfigValidationError):
        assert error.problems
        for problem in error.problems:
            assert problem.strip(), error.problems


def outcome(doc: dict[str, Any], tmp: Path) -> AppConfig | ConfigError:
    try:
        return parse_config(doc, env=ENV, base_dir=tmp)
    except ConfigError as exc:
        return exc


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's directory, with the warehouse its models read (so `check` gets far)."""
    directory = tmp_path_factory.mktemp("fuzz-project")
    with duckdb.connect(str(directory / "warehouse.duckdb")) as conn:
        conn.execute("CREATE TABLE accounts (id VARCHAR, company VARCHAR, seats INT, vip BOOL)")
        conn.execute("CREATE TABLE invoices (id VARCHAR, account_id VARCHAR, invoice_date DATE)")
        conn.execute("CREATE TABLE lines (invoice_id VARCHAR, amount_in_cents INT)")
    return directory


def test_the_base_file_is_valid(project_dir: Path) -> None:
    """Every break below starts from a valid file, so its failures are the break's."""
    assert isinstance(outcome(copy.deepcopy(BASE_DOC), project_dir), AppConfig)


@FUZZ
@given(changes=st.lists(CHANGES, min_size=1, max_size=4))
def test_a_broken_file_fails_with_its_yaml_path(changes: list[Any], project_dir: Path) -> None:
    result = outcome(broken(changes), project_dir)
    if isinstance(result, ConfigError):
        assert_clear_failure(result)
    else:
        assert SECRET_MARK not in repr(result)


@settings(FUZZ, max_examples=100)
@given(doc=st.dictionaries(st.sampled_from([*BASE_DOC, "x"]), VALUES, max_size=4))
def test_random_sections_fail_with_a_config_error(doc: dict[str, Any], project_dir: Path) -> None:
    result = outcome(doc, project_dir)
    if isinstance(result, ConfigError):
        assert_clear_failure(result)


# Regression examples: a secret variable used where another value belongs was echoed.
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("syncs", "customers", "model"), "${CHARTMOGUL_API_KEY}"),  # no model named `...`
        (("alerts", "channels", "team", "type"), "${SLACK_WEBHOOK_URL}"),  # tag ... not expected
        (("syncs", "customers", "schedule", "every"), "${CHARTMOGUL_API_KEY}"),  # not a duration
        (("extract", "schedule", "timezone"), "${SMTP_PASSWORD}"),  # unknown time zone
        (("syncs", "invoices", "line_items", "model"), "x ${PGPASSWORD}"),  # in a URL's password
    ],
)
def test_regression_a_secret_in_the_wrong_place_is_shown_as_its_reference(
    path: tuple[str, ...], value: str, project_dir: Path
) -> None:
    result = outcome(broken([(path, False, value)]), project_dir)
    assert isinstance(result, ConfigValidationError)
    assert SECRET_MARK not in str(result)
    assert value.rsplit(maxsplit=1)[-1] in str(
        result
    )  # the reference the user wrote, not its value


def test_a_secret_named_variable_is_masked_even_when_used_nowhere_else(
    project_dir: Path,
) -> None:
    """``MY_API_TOKEN`` is named like a secret: masked though no secret field uses it."""
    doc = broken([(("syncs", "customers", "model"), False, "${MY_API_TOKEN}")])
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(doc, env={**ENV, "MY_API_TOKEN": "tok-abcdef"}, base_dir=project_dir)
    assert "tok-abcdef" not in str(caught.value)
    assert "${MY_API_TOKEN}" in str(caught.value)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(unlimited_settings(api_keys=[ENV["CHARTMOGUL_API_KEY"]])) as server:
        yield server


@settings(FUZZ, max_examples=40)
@given(changes=st.lists(CHANGES, min_size=1, max_size=3))
def test_check_answers_a_broken_file_without_a_traceback(
    changes: list[Any], emulator: EmulatorServer, project_dir: Path
) -> None:
    doc = broken(changes)
    doc.pop("state_store", None)  # `check` would reach for that database
    section = doc.setdefault("chartmogul", {"api_key": "${CHARTMOGUL_API_KEY}"})
    if isinstance(section, dict):  # only ever the emulator, whatever the change did
        section["base_url"] = emulator.base_url
    path = project_dir / "mogulsync.yml"
    path.write_text(yaml.safe_dump(doc))
    env = {**ENV, "CHARTMOGUL_BASE_URL": emulator.base_url}
    result = CliRunner().invoke(app, ["check", "-c", str(path)], env=env)
    assert result.exit_code in (exit_codes.SUCCESS, exit_codes.FAILED, exit_codes.CONFIG), (
        result.output
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert SECRET_MARK not in result.output


#: YAML fragments whose random joins make texts the reader, parser and constructor see
YAML_PIECES = st.sampled_from(
    [
        "chartmogul:", " api_key: ${CHARTMOGUL_API_KEY}", "\n", "  ", "- ", "[", "]", "{", "}",
        ": ", ", ", "&a ", "*a", "!!binary AAA=", "!!float nan", "!!timestamp ", "2001-13-45",
        "2024-02-30", "9" * 5000, "1e999999", "0o777", "? ", "<<: ", "---\n", "%YAML 9.9\n",
        "\t", "\x00", "\x1b", "'", '"', "#", "|\n", ">-\n", "version: ", "syncs:", "models:",
        "warehouses:", "main: duckdb:///w.duckdb",
    ]
)  # fmt: skip


@settings(FUZZ, max_examples=200)
@given(pieces=st.lists(YAML_PIECES, max_size=12), prefix=st.binary(max_size=3))
def test_any_yaml_text_loads_or_fails_with_a_config_error(
    pieces: list[str], prefix: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("yaml", numbered=True) / "mogulsync.yml"
    path.write_bytes(prefix + "".join(pieces).encode())
    try:
        load_config(path, env=ENV)
    except ConfigError as exc:
        assert_clear_failure(exc)


# Regression examples: each raised something other than ConfigError from load_config.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"\xff\xfeversion: 1\n", "is not UTF-8 text (byte 0)"),  # UnicodeDecodeError
        (b"a: \x00\n", "unacceptable character #x0000"),  # ReaderError outside the try
        (b"version: " + b"9" * 5000 + b"\n", "line 1, column 10"),  # int digit limit
        (b"a: [1, {b: 2001-13-45}]\n", "line 1, column 12: the value cannot be read (month"),
    ],
    ids=["not-utf8", "nul", "huge-int", "bad-date"],
)
def test_regression_unreadable_yaml_is_a_config_error(
    text: bytes, expected: str, tmp_path: Path
) -> None:
    path = tmp_path / "mogulsync.yml"
    path.write_bytes(text)
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path, env=ENV)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
