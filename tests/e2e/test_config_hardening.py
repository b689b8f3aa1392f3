"""The project file under hostile or mistaken input: clear errors, exit 4, no secret shown."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.config.models import SYNC_NAME_RULE
from mogulsync.sync import exit_codes

SECRET = "hunter2-query-secret"


def _write(root: Path, config: dict[str, object]) -> Path:
    path = root / "mogulsync.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _project(root: Path, base_url: str, **extra: object) -> Path:
    make_warehouse(
        root / "w.duckdb",
        [
            "create table accounts(id varchar, name varchar)",
            "insert into accounts values ('a1','A')",
        ],
    )
    config: dict[str, object] = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": base_url},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer",
                                "mapping": {"external_id": "id", "name": "name"}}},
        "events": {"write_keys": ["${SEGMENT_WRITE_KEY}"]},
        **extra,
    }  # fmt: skip
    return _write(root, config)


def _text(output: str) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(output.split())


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output
    assert "Error:" not in output.replace("error:", "")  # no raw `DatabaseError: ...` line


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    """Nine levels of nine aliases (9**9 values from 400 bytes) fail fast with exit 4."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
    config = tmp_path / "mogulsync.yml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "-c", str(config)])
    assert result.exit_code == exit_codes.CONFIG, result.output
    assert "aliases (*name) expand to more than 100,000 values" in _text(result.output)


@pytest.mark.parametrize("name", ["../../../victim", "<absolute>", "a/b", ".hidden", ""])
def test_sync_names_outside_the_safe_pattern_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, dead_url: str
) -> None:
    """A sync named like a path is refused at load (exit 4, the rule named); no lock escapes."""
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "k-123456")
    if name == "<absolute>":
        name = str(tmp_path / "abs")
    config = _project(tmp_path, dead_url)
    raw = yaml.safe_load(config.read_text())
    raw["syncs"] = {name: raw["syncs"]["customers"]}
    _write(tmp_path, raw)
    result = CliRunner().invoke(app, ["sync", "run", name, "-c", str(config)])
    assert result.exit_code == exit_codes.CONFIG, result.output
    assert SYNC_NAME_RULE in " ".join(result.output.split())
    assert not (tmp_path.parent / "victim.lock").exists()  # .mogulsync/locks/../../../
    assert not (tmp_path / "abs.lock").exists()


@pytest.mark.parametrize("name", ["extract", "events"])
def test_a_sync_named_like_the_extract_or_the_forwarder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_url: str, name: str
) -> None:
    """They name the extract's schedule job, runs and alerts, and the forwarder's alerts."""
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "k-123456")
    config = _project(tmp_path, dead_url)
    raw = yaml.safe_load(config.read_text())
    raw["syncs"] = {name: raw["syncs"]["customers"]}
    _write(tmp_path, raw)
    result = CliRunner().invoke(app, ["check", "-c", str(config)])
    assert result.exit_code == exit_codes.CONFIG, result.output
    assert f"`{name}` is reserved" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "command",
    [["check"], ["sync", "run", "customers"], ["extract", "run"], ["events", "serve"]],
    ids=["check", "sync-run", "extract-run", "events-serve"],
)
def test_an_empty_api_key_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], dead_url: str
) -> None:
    """``CHARTMOGUL_API_KEY=`` (set, empty) is exit 4 with the variable named, no traceback."""
    config = _project(tmp_path, dead_url)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "")
    monkeypatch.setenv("SEGMENT_WRITE_KEY", "wk-123456")
    result = CliRunner().invoke(app, [*command, "-c", str(config)])
    assert result.exit_code == exit_codes.CONFIG, result.output
    assert "CHARTMOGUL_API_KEY is set but empty" in _text(result.output)
    _no_traceback(result.output)


def test_an_api_key_defaulting_to_empty_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_url: str
) -> None:
    """``${KEY:-}`` that ends up empty is reported too, not left to crash the client."""
    config = _project(tmp_path, dead_url)
    raw = yaml.safe_load(config.read_text())
    raw["chartmogul"]["api_key"] = "${CHARTMOGUL_API_KEY:-}"
    _write(tmp_path, raw)
    monkeypatch.delenv("CHARTMOGUL_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["check", "-c", str(config)])
    assert result.exit_code == exit_codes.CONFIG, result.output
    assert "chartmogul.api_key: the API key is empty" in _text(result.output)


@pytest.mark.parametrize("store", ["state.sqlite", "runs.sqlite"])
def test_a_corrupt_state_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str, dead_url: str
) -> None:
    """A state or run-history file that is not SQLite is named, with what to do."""
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "k-123456")
    config = _project(tmp_path, dead_url)
    (tmp_path / ".mogulsync").mkdir()
    (tmp_path / ".mogulsync" / store).write_bytes(b"not a database, just garbage bytes" * 10)
    for command in (["sync", "run", "customers"], ["runs", "list"]):
        result = CliRunner().invoke(app, [*command, "-c", str(config)])
        if store == "state.sqlite" and command[0] == "runs":
            continue  # runs list never opens the sync state
        assert result.exit_code == exit_codes.FAILED, result.output
        what = "sync state" if store == "state.sqlite" else "run history"
        assert f"{store} ({what}) cannot be read: file is not a database" in _text(result.output)
        _no_traceback(result.output)


def test_a_state_dir_that_is_a_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_url: str
) -> None:
    """state_dir pointing at a file is refused at load, for every command."""
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "k-123456")
    config = _project(tmp_path, dead_url)
    (tmp_path / ".mogulsync").write_text("a file", encoding="utf-8")
    for command in (["sync", "run", "customers"], ["runs", "list"], ["check"]):
        result = CliRunner().invoke(app, [*command, "-c", str(config)])
        assert result.exit_code == exit_codes.CONFIG, result.output
        assert "is a file, not a directory" in _text(result.output)
        _no_traceback(result.output)


def test_a_query_string_password_from_the_environment_is_masked_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_port: int, dead_url: str
) -> None:
    """``?password=${PW}`` never reaches `check` output, the run's message or runs.sqlite."""
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "k-123456")
    monkeypatch.setenv("PG_QUERY_PASSWORD", SECRET)
    url = f"postgresql://bob@127.0.0.1:{dead_port}/db?password=${{PG_QUERY_PASSWORD}}"
    config = _project(tmp_path, dead_url, warehouses={"main": url})
    check = CliRunner().invoke(app, ["check", "-c", str(config)])
    assert check.exit_code == exit_codes.FAILED, check.output
    assert "not reachable" in check.output
    run = CliRunner().invoke(app, ["sync", "run", "customers", "-c", str(config)])
    assert run.exit_code == exit_codes.FAILED, run.output
    for output in (_text(check.output), _text(run.output)):
        assert SECRET not in output
        assert "password=***" in output
    history = tmp_path / ".mogulsync" / "runs.sqlite"
    with sqlite3.connect(history) as db:
        dump = "\n".join(db.iterdump())
    assert "not reachable" in dump
    assert SECRET not in dump


def test_a_query_string_password_in_clear_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_url: str
) -> None:
    """Written in clear it is refused before anything connects, and not echoed back."""
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "k-123456")
    url = f"postgresql://bob@db/w?sslmode=require&token={SECRET}"
    config = _project(tmp_path, dead_url, warehouses={"main": url})
    result = CliRunner().invoke(app, ["check", "-c", str(config)])
    assert result.exit_code == exit_codes.CONFIG, result.output
    assert "warehouses.main: query parameter `token` holds a credential" in _text(result.output)
    assert SECRET not in result.output
