"""The settings editor's rules on a project file's text: which YAML paths hold a secret
in clear (defaults of references included), and on which line each problem is."""

from __future__ import annotations

from pathlib import Path

import pytest

from mogulsync.config.loader import secrets_in_file
from mogulsync.serve.project import ProjectFile, literal_secrets_of, unreadable


@pytest.mark.parametrize(
    ("raw", "paths"),
    [
        ({"chartmogul": {"api_key": "${KEY}"}}, []),
        ({"chartmogul": {"api_key": "${KEY:-}"}}, []),  # an empty default holds nothing
        ({"chartmogul": {"api_key": "${KEY:-sk_live_x}"}}, ["chartmogul.api_key"]),
        ({"chartmogul": {"api_key": "sk_${KEY}"}}, ["chartmogul.api_key"]),
        ({"chartmogul": {"api_key": 1234567890}}, ["chartmogul.api_key"]),
        ({"events": {"write_keys": ["${W}", "literal"]}}, ["events.write_keys.1"]),
        ({"events": {"webhook_url": "https://h/x"}}, ["events.webhook_url"]),
        ({"serve": {"tokens": [{"token": "x" * 16, "role": "admin"}]}}, ["serve.tokens.0.token"]),
        (
            {
                "alerts": {
                    "channels": {
                        "s": {"type": "slack", "url": "https://hooks.slack.com/services/T/B/x"},
                        "p": {"type": "webhook", "format": "pagerduty", "routing_key": "abc"},
                        "e": {"type": "email", "username": "bob", "password": "pw"},
                        "t": {"type": "sms", "auth_token": "${TWILIO_AUTH_TOKEN}"},
                    }
                }
            },
            [
                "alerts.channels.s.url",
                "alerts.channels.p.routing_key",
                "alerts.channels.e.password",
            ],
        ),
        ({"warehouses": {"main": "postgresql://u:${PW}@h/db"}}, []),
        ({"warehouses": {"main": "postgresql://u:pw@h/db"}}, ["warehouses.main"]),
        (
            {"warehouses": {"main": {"url": "postgresql://u:${PW:-pw}@h/db"}}},
            ["warehouses.main.url"],
        ),
        ({"warehouses": {"main": "${URL:-postgresql://u:pw@h/db}"}}, ["warehouses.main"]),
        ({"state_store": {"url": "postgresql://u:pw@h/db"}}, ["state_store.url"]),
        (
            {"extract": {"destination": "snowflake://u@acct/db?private_key=abc"}},
            ["extract.destination"],
        ),
        ({"chartmogul": {"apikey": "sk_live"}}, ["chartmogul.apikey"]),  # a typo's key
        # keys of the data-mapping sections name fields and columns, not settings
        ({"syncs": {"a": {"mapping": {"custom.api_token": "token"}}}}, []),
        ({"models": {"m": {"sql": "select password from t", "primary_key": "token"}}}, []),
    ],
)
def test_secrets_in_the_file(raw, paths):
    assert secrets_in_file(raw) == paths


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        # a key written twice: YAML keeps the last, the first is still in the file
        ("chartmogul:\n  api_key: sk_live\n  api_key: ${K}\n", ["chartmogul.api_key"]),
        ("chartmogul:\n  api_key: ${K}\n  api_key: ${K}\n", []),
        # a merged value written again
        ("chartmogul:\n  <<: {api_key: sk_live}\n  api_key: ${K}\n", ["chartmogul.api_key"]),
        (
            "x: &k {api_key: sk_live}\nchartmogul: {<<: [*k], api_key: '${K}'}\n",
            ["chartmogul.api_key", "x.api_key"],
        ),
        # a key in another case than the schema's
        ("chartmogul: {API_KEY: sk_live}\n", ["chartmogul.API_KEY"]),
        (
            "alerts: {channels: {s: {type: slack, URL: 'https://hooks.slack.com/s/T/B/x'}}}\n",
            ["alerts.channels.s.URL"],
        ),
        # a shape the schema refuses still holds the key
        ("chartmogul: {api_key: [sk_live]}\n", ["chartmogul.api_key"]),
        ("chartmogul: {api_key: {k: sk_live}}\n", ["chartmogul.api_key"]),
        ("dbt: {passwords: [hunter2]}\n", ["dbt.passwords.0"]),
        ("serve: {tokens: [{token: '${T}', role: admin}]}\n", []),
    ],
)
def test_secrets_in_the_text(text, paths):
    assert literal_secrets_of(text) == paths


@pytest.mark.parametrize("text", ["a: [\n", "a: 1\n---\nb: 2\n", "- a\n", "just text\n"])
def test_a_text_that_is_not_a_mapping_of_sections_is_unreadable(text):
    assert unreadable(text) is not None


def test_a_project_file_text_is_readable():
    assert unreadable("") is None
    assert unreadable("chartmogul: {api_key: '${K}'}\n") is None


def test_each_problem_has_the_line_of_its_key(tmp_path, monkeypatch):
    monkeypatch.setenv("KEY", "k" * 20)
    text = (
        "chartmogul:\n"
        "  api_key: ${KEY}\n"
        "state_dir: " + str(tmp_path / "state") + "\n"
        "warehouses: {main: 'duckdb:///w.duckdb'}\n"
        "models:\n"
        "  a.b: {warehouse: main, table: t, primary_key: id}\n"
        "syncs:\n"
        "  my.sync:\n"
        "    model: a.b\n"
        "    object: customer\n"
        "    schedule:\n"
        "      every: 10x\n"
        "  other:\n"
        "    model: nosuch\n"
        "    object: customer\n"
        "    mode: sideways\n"
    )
    checked = ProjectFile(tmp_path / "mogulsync.yml", tmp_path).check(text)
    assert checked.config is None
    lines = {problem.path: problem.line for problem in checked.problems}
    assert lines == {
        "syncs.my.sync.schedule.every": 12,  # sync names may hold dots
        "syncs.other.mode": 16,
        "syncs.other.model": 14,
    }


def test_a_valid_text_has_no_problems(tmp_path, monkeypatch):
    monkeypatch.setenv("KEY", "k" * 20)
    text = f"chartmogul: {{api_key: '${{KEY}}'}}\nstate_dir: {tmp_path / 's'}\n"
    checked = ProjectFile(Path(tmp_path / "mogulsync.yml"), tmp_path).check(text)
    assert checked.valid
    assert checked.problems == []
