"""The default ``extract.destination`` loads: its DuckDB catalog must not shadow the dataset."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from tests.conftest import unlimited_settings
from tests.integration.extract._seed import client_settings

from mogulsync.config.extract import ExtractConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.runner import ExtractOptions, run_extract


def test_default_destination_loads_and_is_queryable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with the configured defaults loads into a file where `chartmogul.<table>` resolves."""
    monkeypatch.chdir(tmp_path)
    defaults = ExtractConfig()
    with EmulatorServer(unlimited_settings()) as server:
        options = ExtractOptions(
            destination=defaults.destination.get_secret_value(),
            dataset=defaults.dataset,
            streams=("account",),
            state_dir=tmp_path / "state",
        )
        report = run_extract(client_settings(server.base_url, server.api_key), options)
    assert [stream.records for stream in report.streams] == [1]
    (database,) = tmp_path.glob("*.duckdb")
    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute(f"SELECT count(*) FROM {defaults.dataset}.account").fetchone()
    assert row == (1,)


def test_duckdb_file_named_like_the_dataset_is_refused_early(tmp_path: Path) -> None:
    """A DuckDB file named after the dataset fails before any fetch, saying how to fix it."""
    from mogulsync.errors import ConfigError
    from mogulsync.extract.destinations import resolve_destination

    url = f"duckdb:///{tmp_path}/chartmogul.duckdb"
    with pytest.raises(ConfigError, match="named like the dataset `chartmogul`") as caught:
        resolve_destination(url, "chartmogul")
    assert "--dataset" in caught.value.user_message
    assert resolve_destination(url, "analytics").kind == "duckdb"
