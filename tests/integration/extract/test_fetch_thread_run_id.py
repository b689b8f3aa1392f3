"""The extract's fetch thread logs with the run id of the run that started it.

``mogulsync serve`` binds each run's id in a context variable (several runs share the
process); the extract's pages are fetched on a thread of its own (``PagePump``). Here the
emulator answers the first data-source requests with 500s, so the client's outage breaker
warns on that thread that ChartMogul is not answering, then the retries get through.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from tests.integration.extract._seed import client_settings
from tests.integration.sync._support import FAST_RETRY, api

from mogulsync import logs
from mogulsync.chartmogul.outage import WARN_AFTER_FAILURES
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.runner import ExtractOptions, run_extract

OUTAGE_WARNING = "ChartMogul is not answering"


def test_the_fetch_threads_warning_carries_the_run_id(
    emulator_server: EmulatorServer,
    admin: httpx.Client,
    tmp_path: Path,
    json_logs: pytest.CaptureFixture[str],
) -> None:
    with api(emulator_server) as client:
        client.post("/data_sources", json={"name": "Billing"}).raise_for_status()
    failure = {"fault": "error", "status": 500, "path_pattern": "/v1/data_sources"}
    script = [failure] * WARN_AFTER_FAILURES
    admin.patch("/faults", json={"script": script}).raise_for_status()
    settings = client_settings(emulator_server.base_url, emulator_server.api_key)
    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path}/cm.duckdb",
        streams=("data_sources",),
        state_dir=tmp_path / "state",
    )

    with logs.bound_run("extract-in-serve"):
        report = run_extract(settings.model_copy(update={"retry": FAST_RETRY}), options)

    assert [stream.records for stream in report.streams] == [1]
    lines = [json.loads(line) for line in json_logs.readouterr().err.splitlines()]
    warnings = [line for line in lines if OUTAGE_WARNING in line.get("message", "")]
    assert warnings
    assert {line["run_id"] for line in warnings} == {"extract-in-serve"}
