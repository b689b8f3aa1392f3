"""Per-command ${ENV} checking (``sections``) and paths relative to the project file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mogulsync.config import ConfigValidationError, load_config, parse_config

SYNC_SECTIONS = ("chartmogul", "warehouses", "models", "syncs")
ENV = {"CM_KEY": "k"}
FULL_ENV = {**ENV, "PG_PASSWORD": "pw", "SEGMENT_WRITE_KEY": "wk"}


def _raw(**extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "chartmogul": {"api_key": "${CM_KEY}"},
        "warehouses": {"main": "postgresql://u:${PG_PASSWORD}@db/w"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer"}},
        "events": {"write_keys": ["${SEGMENT_WRITE_KEY}"]},
    }
    raw.update(extra)
    return raw


def _problems(raw: dict[str, Any], env: dict[str, str], **kwargs: Any) -> str:
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(raw, env=env, **kwargs)
    return "\n".join(caught.value.problems)


def test_unset_variable_outside_the_callers_sections_is_ignored() -> None:
    """A sync loads although SEGMENT_WRITE_KEY, used only under events:, is unset."""
    config = parse_config(_raw(), env={**ENV, "PG_PASSWORD": "pw"}, sections=SYNC_SECTIONS)
    assert config.warehouses["main"].url.get_secret_value() == "postgresql://u:pw@db/w"
    assert [key.get_secret_value() for key in config.events.write_keys] == [""]


def test_default_sections_keep_every_variable_required() -> None:
    """Without ``sections`` every unset variable is a problem, as before."""
    problems = _problems(_raw(), env={**ENV, "PG_PASSWORD": "pw"})
    assert "events.write_keys.0: environment variable SEGMENT_WRITE_KEY is not set" in problems


def test_unset_variable_inside_the_callers_sections_is_reported() -> None:
    """The events command still needs the write key but not the warehouse password."""
    sections = ("chartmogul", "events")
    problems = _problems(_raw(), env=ENV, sections=sections)
    assert "SEGMENT_WRITE_KEY is not set" in problems
    assert "PG_PASSWORD" not in problems
    config = parse_config(_raw(), env={**ENV, "SEGMENT_WRITE_KEY": "wk"}, sections=sections)
    assert config.events.write_keys[0].get_secret_value() == "wk"


def test_state_dir_variables_are_checked_for_every_command() -> None:
    """``state_dir`` is read by every command, so its variables are required even with ()."""
    problems = _problems(_raw(state_dir="${STATE}/x"), env=ENV, sections=())
    assert "state_dir: environment variable STATE is not set" in problems


def test_literal_secret_refused_in_a_section_the_caller_skips() -> None:
    """A write key written in clear is refused even by a command that does not read events:."""
    raw = _raw(events={"write_keys": ["wk_in_clear"]})
    problems = _problems(raw, env={**ENV, "PG_PASSWORD": "pw"}, sections=SYNC_SECTIONS)
    assert "events.write_keys.0: secrets must come from the environment" in problems


def test_skipped_section_is_still_validated() -> None:
    """A typo in events: fails a sync command: unchecked variables do not skip validation."""
    raw = _raw(events={"write_keys": ["${SEGMENT_WRITE_KEY}"], "delivery": "pigeon"})
    problems = _problems(raw, env={**ENV, "PG_PASSWORD": "pw"}, sections=SYNC_SECTIONS)
    assert "events.delivery" in problems
    assert "SEGMENT_WRITE_KEY" not in problems


def test_unknown_section_name_is_a_programming_error() -> None:
    """A misspelt section name raises instead of silently checking nothing."""
    with pytest.raises(ValueError, match="unknown config sections: event"):
        parse_config(_raw(), env=ENV, sections=("chartmogul", "event"))


def test_relative_paths_resolve_from_the_base_dir(tmp_path: Path) -> None:
    """state_dir, queue_path and DuckDB file URLs start at the project directory."""
    raw = _raw(
        state_dir="state",
        warehouses={"main": "duckdb:///data/w.duckdb?access_mode=read_only"},
        extract={"destination": "duckdb:///out/cm.duckdb"},
        events={"queue_path": "q/events.sqlite"},
    )
    config = parse_config(raw, env=FULL_ENV, base_dir=tmp_path)
    assert config.state_dir == str(tmp_path / "state")
    assert config.events.queue_path == str(tmp_path / "q" / "events.sqlite")
    assert config.warehouses["main"].url.get_secret_value() == (
        f"duckdb:///{tmp_path / 'data' / 'w.duckdb'}?access_mode=read_only"
    )
    assert config.extract.destination.get_secret_value() == (
        f"duckdb:///{tmp_path / 'out' / 'cm.duckdb'}"
    )


def test_defaults_resolve_from_the_base_dir(tmp_path: Path) -> None:
    """The default state dir and extract destination are anchored like written ones."""
    config = parse_config(_raw(), env=FULL_ENV, base_dir=tmp_path)
    assert config.state_dir == str(tmp_path / ".mogulsync")
    assert config.extract.destination.get_secret_value() == (
        f"duckdb:///{tmp_path / 'chartmogul_extract.duckdb'}"
    )
    assert config.events.queue_path is None


@pytest.mark.parametrize(
    "url",
    [
        "duckdb:////abs/w.duckdb",
        "duckdb:///:memory:",
        "duckdb:///:memory:shared",
        "duckdb://",
        "postgresql://u@db/warehouse",
        "sqlite:///relative.db",
    ],
)
def test_absolute_memory_and_other_urls_are_untouched(tmp_path: Path, url: str) -> None:
    """Only relative DuckDB file URLs change; everything else is kept as written."""
    raw = _raw(warehouses={"main": url}, extract={"destination": url})
    config = parse_config(raw, env=FULL_ENV, base_dir=tmp_path)
    assert config.warehouses["main"].url.get_secret_value() == url
    assert config.extract.destination.get_secret_value() == url


def test_a_password_in_a_database_url_must_come_from_the_environment(tmp_path: Path) -> None:
    """Database URLs may be written in clear, but not their passwords: each place is named."""
    url = "postgresql://u:hunter2@db/warehouse"
    raw = _raw(warehouses={"main": url, "other": {"url": url}}, extract={"destination": url})
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(raw, env=FULL_ENV, base_dir=tmp_path)
    text = str(caught.value)
    for place in ("warehouses.main:", "warehouses.other.url:", "extract.destination:"):
        assert f"{place} the password in this URL must come from the environment" in text
    assert "hunter2" not in text


def test_a_password_from_the_environment_is_accepted(tmp_path: Path) -> None:
    """``postgresql://u:${PW}@db/w`` is fine: the password comes from the environment."""
    raw = _raw(warehouses={"main": "postgresql://u:${PW}@db/w"})
    config = parse_config(raw, env={**FULL_ENV, "PW": "s3cret"}, base_dir=tmp_path)
    assert config.warehouses["main"].url.get_secret_value() == "postgresql://u:s3cret@db/w"


def test_absolute_paths_are_untouched(tmp_path: Path) -> None:
    """An absolute state_dir or queue_path is kept as written."""
    raw = _raw(state_dir="/var/lib/mogulsync", events={"queue_path": "/var/q.sqlite"})
    config = parse_config(raw, env=FULL_ENV, base_dir=tmp_path)
    assert config.state_dir == "/var/lib/mogulsync"
    assert config.events.queue_path == "/var/q.sqlite"


def test_parse_config_defaults_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a base dir, dict input resolves from the current directory."""
    monkeypatch.chdir(tmp_path)
    config = parse_config(_raw(state_dir="state"), env=FULL_ENV)
    assert config.state_dir == str(tmp_path / "state")


def test_load_config_resolves_from_the_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading project/mogulsync.yml from elsewhere anchors paths at project/, not the cwd."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "mogulsync.yml").write_text(
        "chartmogul: {api_key: '${CM_KEY}'}\n"
        "state_dir: state\n"
        "warehouses: {main: 'duckdb:///w.duckdb'}\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "project" / "mogulsync.yml", env=FULL_ENV)
    assert Path(config.state_dir).resolve() == project / "state"
    url = config.warehouses["main"].url.get_secret_value()
    assert Path(url.removeprefix("duckdb:///")).resolve() == project / "w.duckdb"


@pytest.mark.parametrize("param", ["password", "token", "access_token", "private_key", "secret"])
def test_a_credential_query_parameter_must_come_from_the_environment(
    tmp_path: Path, param: str
) -> None:
    """``?password=...`` in clear is refused like the user info's password, naming the place."""
    url = f"postgresql://u@db/warehouse?sslmode=disable&{param}=hunter2"
    raw = _raw(warehouses={"main": url}, state_store={"url": url}, extract={"destination": url})
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(raw, env=FULL_ENV, base_dir=tmp_path)
    text = str(caught.value)
    for place in ("warehouses.main:", "state_store.url:", "extract.destination:"):
        assert f"{place} query parameter `{param}` holds a credential" in text
    assert "hunter2" not in text


def test_a_credential_query_parameter_from_the_environment_is_accepted(tmp_path: Path) -> None:
    """``?password=${PW}`` is fine; a parameter naming a key file is not a credential."""
    url = "postgresql://u@db/w?password=${PW}&private_key_file=/keys/k.p8"
    config = parse_config(
        _raw(warehouses={"main": url}), env={**FULL_ENV, "PW": "s3cret"}, base_dir=tmp_path
    )
    assert "password=s3cret" in config.warehouses["main"].url.get_secret_value()
