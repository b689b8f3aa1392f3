"""Destination URLs, stream selection and Airbyte protocol parsing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mogulsync.errors import ConfigError
from mogulsync.extract import airbyte_protocol as protocol
from mogulsync.extract.destinations import resolve_destination
from mogulsync.extract.runner import select_streams
from mogulsync.extract.state import StreamState
from mogulsync.extract.streams import STREAMS


@pytest.mark.parametrize(
    ("url", "kind", "file_format"),
    [
        ("duckdb:///tmp/cm.duckdb", "duckdb", "jsonl"),
        ("postgresql+psycopg://u:secret@127.0.0.1:5432/db", "postgres", None),
        ("postgres://u@127.0.0.1/db", "postgres", None),
        ("file:///tmp/out?format=csv", "filesystem", "csv"),
        ("s3://bucket/dir", "filesystem", "jsonl"),
    ],
)
def test_destination_urls_map_to_dlt(url: str, kind: str, file_format: str | None) -> None:
    """Each supported scheme picks its dlt destination and load file format."""
    resolved = resolve_destination(url)
    assert (resolved.kind, resolved.loader_file_format) == (kind, file_format)
    assert "secret" not in resolved.display


def test_duckdb_and_postgres_replace_tables_through_staging(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Set on those destinations only (dlt's file destinations refuse the strategy, and
    the environment is shared with any other dlt pipeline of the process); an exported
    ``DESTINATION__REPLACE_STRATEGY`` wins. A DuckDB file the run creates holds nothing a
    failed load could empty: dlt's default replace, without staging tables."""
    monkeypatch.delenv("DESTINATION__REPLACE_STRATEGY", raising=False)
    existing = tmp_path / "cm.duckdb"
    existing.touch()
    existing_url = f"duckdb:///{existing}"
    for url in (existing_url, "postgresql://etl@db:5432/analytics"):
        params = resolve_destination(url).destination.config_params
        assert params["replace_strategy"] == "insert-from-staging", url
    new_file = resolve_destination(f"duckdb:///{tmp_path / 'new.duckdb'}").destination
    assert "replace_strategy" not in new_file.config_params
    assert new_file.capabilities().supports_transactions is True
    assert (
        "replace_strategy" not in resolve_destination("file:///tmp/lake").destination.config_params
    )
    assert "DESTINATION__REPLACE_STRATEGY" not in os.environ
    monkeypatch.setenv("DESTINATION__REPLACE_STRATEGY", "truncate-and-insert")
    # DuckDB's SQL jobs (a swap, a merge) run in a transaction only when asked for
    duckdb = resolve_destination(existing_url).destination
    assert duckdb.capabilities().supports_transactions is True
    assert "replace_strategy" not in duckdb.config_params


@pytest.mark.parametrize("url", ["ftp://x/y", "file:///tmp/x?format=xml", "duckdb://"])
def test_bad_destinations_are_config_errors(url: str) -> None:
    """Unknown schemes and formats are reported to the user, not crashed on."""
    with pytest.raises(ConfigError):
        resolve_destination(url)


def test_stream_selection_keeps_registry_order_and_rejects_unknown() -> None:
    """Chosen streams come back in registry order; a typo names the known streams."""
    assert [s.name for s in select_streams(["activities", "customers"])] == [
        "customers",
        "activities",
    ]
    assert len(select_streams(None)) == len(STREAMS)
    with pytest.raises(ConfigError, match="customerz"):
        select_streams(["customerz"])


def test_config_is_source_chartmogul_compatible() -> None:
    """Airbyte's config (api_key, start_date, extra keys) parses; base_url defaults."""
    config = protocol.parse_config(
        {"api_key": "k" * 8, "start_date": "2024-01-01T00:00:00Z", "interval": "week", "x": 1}
    )
    assert config.base_url == "https://api.chartmogul.com"
    assert config.start.isoformat() == "2024-01-01T00:00:00+00:00"
    assert config.interval == "week"


@pytest.mark.parametrize(
    ("start_date", "utc"),
    [
        ("2024-01-02T01:00:00+05:00", "2024-01-01T20:00:00+00:00"),
        ("2024-01-01T20:00:00-05:00", "2024-01-02T01:00:00+00:00"),
        ("2024-01-01T20:00:00", "2024-01-01T20:00:00+00:00"),
    ],
)
def test_a_start_date_with_an_offset_is_read_on_its_utc_day(start_date: str, utc: str) -> None:
    """`read` starts the metrics and the activity windows on ``start.date()``: an offset
    kept as it was named the sender's local day, not the UTC day (`extract run` converts)."""
    config = protocol.parse_config({"api_key": "k" * 8, "start_date": start_date})
    assert config.start.isoformat() == utc


def test_invalid_config_names_every_problem() -> None:
    """Missing fields are listed together, and never echo the key."""
    with pytest.raises(ConfigError) as caught:
        protocol.parse_config({"start_date": "yesterday"})
    assert "api_key" in caught.value.message
    assert "start_date" in caught.value.message


def test_configured_catalog_gives_streams_and_modes() -> None:
    """Stream names and sync modes are read from a configured catalog."""
    catalog = {
        "streams": [
            {"stream": {"name": "activities"}, "sync_mode": "incremental"},
            {"stream": {"name": "customers"}, "sync_mode": "full_refresh"},
        ]
    }
    assert protocol.configured_streams(catalog) == {
        "activities": "incremental",
        "customers": "full_refresh",
    }
    with pytest.raises(ConfigError):
        protocol.configured_streams({"streams": [{"stream": {}}]})


def test_an_unknown_sync_mode_is_refused_naming_the_stream() -> None:
    """A misspelt sync_mode is an error, not a quiet full refresh; a missing one is full."""
    catalog = {
        "streams": [
            {"stream": {"name": "plans"}},
            {"stream": {"name": "activities"}, "sync_mode": "incremnetal"},
        ]
    }
    with pytest.raises(ConfigError) as caught:
        protocol.configured_streams(catalog)
    assert "streams[1] (activities) has sync_mode 'incremnetal'" in caught.value.message
    assert protocol.configured_streams({"streams": catalog["streams"][:1]}) == {
        "plans": "full_refresh"
    }


def test_state_is_read_in_both_protocol_forms() -> None:
    """Per-stream STATE messages and the legacy name→state map give the same states."""
    value = {"cursor": "2024-01-01T00:00:00+00:00", "seen": ["a"]}
    per_stream = [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "activities"}, "stream_state": value},
        }
    ]
    expected = {"activities": StreamState("2024-01-01T00:00:00+00:00", ("a",))}
    assert protocol.stream_states(per_stream) == expected
    assert protocol.stream_states({"activities": value}) == expected
    assert protocol.stream_states(None) == {}


def test_a_load_error_masks_the_destination_password_however_it_is_quoted() -> None:
    """dlt may quote the decoded password, spaces and all, over several lines."""
    from mogulsync.extract.loading import load_error as _load_error

    url = "postgresql://loader:pa%20%20ss%21@db.example/analytics"
    cause = RuntimeError('connection failed for "pa  ss!"\n  and for pa%20%20ss%21 too')
    error = _load_error("loading into", cause, url)
    assert "pa ss" not in error.message  # folded onto one line, as a leak would show
    assert "pa  ss" not in error.message
    assert "pa%20%20ss" not in error.message
    assert "\n" not in error.message
    assert "RuntimeError: connection failed for" in error.message
