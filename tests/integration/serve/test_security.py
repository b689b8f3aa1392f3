"""A security review of `mogulsync serve` over real HTTP: empty secrets, request bodies
a stranger can send, framing, and the secrets a page could show."""

from __future__ import annotations

import re

import pytest
import yaml
from tests.integration.serve._support import (
    OPERATOR,
    accounts,
    project,
)
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.errors import ConfigError
from mogulsync.serve.app import ServeApp

pytestmark = pytest.mark.anyio

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: the request body the API and the UI take at most (docs/serve.md)
CAP = 1024 * 1024


def _empty_secret_project(tmp_path, monkeypatch, **sections) -> None:
    """A project file whose optional secrets are `${VAR:-}` with VAR unset."""
    config = {"chartmogul": {"api_key": "${CM_KEY}"}, **sections}
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_KEY", "k" * 20)
    monkeypatch.setenv("OP_TOKEN", OPERATOR)
    monkeypatch.delenv("VIEW_TOKEN", raising=False)
    monkeypatch.delenv("SECOND_KEY", raising=False)


@pytest.mark.timeout(120)  # without the check, `serve` would run (and this would hang)
def test_an_empty_token_stops_serve_before_it_listens(tmp_path, monkeypatch):
    """`token: ${VIEW_TOKEN:-}` with VIEW_TOKEN unset loads as "": it matched an empty
    `Authorization: Bearer ` header and an empty sign-in, as an operator would. serve now
    exits 4 naming the entry, and the app refuses such a token too."""
    tokens = [{"token": "${OP_TOKEN}", "role": "operator"},
              {"token": "${VIEW_TOKEN:-}", "role": "viewer"}]  # fmt: skip
    _empty_secret_project(tmp_path, monkeypatch, serve={"tokens": tokens})
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 4, result.output
    assert "serve.tokens.1.token is empty" in result.output


@pytest.mark.timeout(120)
def test_an_empty_write_key_stops_serve_and_events_serve(tmp_path, monkeypatch):
    """`write_keys: ["${SECOND_KEY:-}"]` unset: a body with `"writeKey": ""` was let in."""
    monkeypatch.setenv("FIRST_KEY", "segment-write-key-first")
    events = {"write_keys": ["${FIRST_KEY}", "${SECOND_KEY:-}"]}
    _empty_secret_project(tmp_path, monkeypatch, events=events)
    for command in (["serve", "--port", "0"], ["events", "serve", "--port", "0"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 4, result.output
        assert "events.write_keys.1 is empty" in result.output


async def test_an_empty_token_never_authenticates(emulator_server, tmp_path):
    """The app itself (the library, Dagster, tests) refuses an empty token as well."""
    tokens = [{"token": "${OP_TOKEN}", "role": "operator"},
              {"token": "${UNSET_TOKEN:-}", "role": "viewer"}]  # fmt: skip
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1), tokens=False,
                     serve={"tokens": tokens})  # fmt: skip
    with pytest.raises(ConfigError, match=r"serve\.tokens\.1\.token is empty"):
        ServeApp(config)
