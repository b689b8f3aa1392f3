"""Extract into plain files through dlt's filesystem destination."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.integration.extract._runs import FIRST
from tests.integration.extract._seed import client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.runner import ExtractOptions, run_extract


def _rows(files: list[Path]) -> list[dict[str, object]]:
    rows = []
    for file in files:
        opener = gzip.open if file.read_bytes()[:2] == b"\x1f\x8b" else open
        with opener(file, "rt", encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    return rows


def test_streams_land_as_jsonl_files(server: EmulatorServer, tmp_path: Path) -> None:
    """file:///dir?format=jsonl writes one folder of JSON-lines files per stream."""
    options = ExtractOptions(
        destination=f"file://{tmp_path}/lake?format=jsonl",
        streams=("customers", "activities"),
        state_dir=tmp_path / "state",
    )
    report = run_extract(client_settings(server.base_url, server.api_key), options)

    assert {s.name: s.records for s in report.streams} == {"customers": FIRST, "activities": FIRST}
    for table in ("customers", "activities"):
        files = sorted((tmp_path / "lake" / "chartmogul" / table).glob("*.jsonl*"))
        rows = _rows(files)
        assert len(rows) == FIRST, table
    assert "activity_mrr" in rows[0]


def test_an_emptied_list_replaces_its_files(
    server: EmulatorServer, emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """Overwrite from an account without customers leaves no customer rows in the files."""
    options = ExtractOptions(
        destination=f"file://{tmp_path}/lake?format=jsonl",
        mode="overwrite",
        streams=("customers",),
        state_dir=tmp_path / "state",
    )
    run_extract(client_settings(server.base_url, server.api_key), options)
    run_extract(client_settings(emulator_server.base_url, emulator_server.api_key), options)
    files = sorted((tmp_path / "lake" / "chartmogul" / "customers").glob("*.jsonl*"))
    assert _rows(files) == []
