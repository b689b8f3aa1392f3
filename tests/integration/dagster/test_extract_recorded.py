"""Dagster's extract goes the way `mogulsync extract run` goes: the extract lock, the extract
history, the alerts.

Real `dagster.materialize()` runs against the emulator on loopback; the lock is held by
another process, as a cron `extract run` or `mogulsync serve`'s extract would hold it;
alerts go to a local webhook receiver.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import httpx
import yaml
from tests.integration.ops._receivers import HttpReceiver

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.history import ExtractHistory
from mogulsync.extract.lock import ExtractLock
from mogulsync.integrations.dagster import mogulsync_extract_assets

#: holds the extract lock of the state_dir in argv[1] until its stdin closes
HOLDER = (
    "import sys; from mogulsync.extract.lock import ExtractLock;"
    " lock = ExtractLock(sys.argv[1]); lock.acquire(); print('held', flush=True);"
    " sys.stdin.read(); lock.release()"
)


def _project(root: Path, base_url: str) -> Path:
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": base_url},
        "state_dir": str(root / "state"),
        "extract": {"destination": f"duckdb:///{root / 'cm.duckdb'}", "streams": ["plans"]},
        "alerts": {"channels": {"hook": {"type": "webhook", "url": "${HOOK_URL}"}}},
    }
    path = root / "mogulsync.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _materialize(assets: list[dg.AssetsDefinition]) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return dg.materialize(assets, instance=instance, raise_on_error=False)


def _failure(result: dg.ExecuteInProcessResult) -> dg.Failure:
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.step_failure_data.user_failure_data


def _runs(root: Path) -> list[tuple[str, str]]:
    history = ExtractHistory(root / "state")
    try:
        return [(run.run_id, run.status) for run in history.latest()]
    finally:
        history.close()


def test_an_extract_running_elsewhere_fails_the_step_retryably_and_records_nothing(
    tmp_path, monkeypatch, dead_url
):
    monkeypatch.setenv("CM_KEY", "cm-key")
    monkeypatch.setenv("HOOK_URL", f"{dead_url}/hook")  # never called: nothing runs
    (extract,) = mogulsync_extract_assets(
        _project(tmp_path, dead_url), retry_policy=dg.RetryPolicy(max_retries=1)
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "state")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        result = _materialize([extract])
    finally:
        holder.communicate("")
    assert not result.success
    kinds = [e.event_type_value for e in result.all_events if e.step_key]
    assert kinds.count("STEP_UP_FOR_RETRY") == 1  # the other extract may be over by then
    failure = _failure(result)
    assert failure.description.startswith(
        f"the extract did not start: an extract is already running (pid {holder.pid})"
    )
    assert failure.metadata["error"].value == "ExtractLockedError"
    assert "extract_run_id" not in failure.metadata
    assert _runs(tmp_path) == []  # a refused run is not a run


def test_each_materialization_is_an_extract_run_recorded_and_alerted_on(
    tmp_path, monkeypatch, emulator_server
):
    """A failed materialization is a failed run in the history and a `failed` alert; the
    next, healthy one is a successful run and the recovery; the lock is given back."""
    server: EmulatorServer = emulator_server
    faults = {"error_rate": 1.0, "error_statuses": [500], "path_pattern": "/v1/plans"}
    httpx.put(f"{server.base_url}/_emulator/faults", json=faults, timeout=30).raise_for_status()
    with HttpReceiver() as http:
        monkeypatch.setenv("CM_KEY", server.api_key)
        monkeypatch.setenv("HOOK_URL", f"{http.url}/hook")
        (extract,) = mogulsync_extract_assets(_project(tmp_path, server.base_url))
        failed = _materialize([extract])
        httpx.delete(f"{server.base_url}/_emulator/faults", timeout=30).raise_for_status()
        healthy = _materialize([extract])
        alerts = [(body["event"], body["job"], body["run_id"]) for body in http.bodies("/hook")]

    assert not failed.success
    failure = _failure(failed)
    assert failure.description.startswith("the extract did not complete: ")
    failed_id = failure.metadata["extract_run_id"].value
    assert healthy.success
    (event,) = healthy.get_asset_materialization_events()
    healthy_id = event.materialization.metadata["extract_run_id"].value
    assert _runs(tmp_path) == [(healthy_id, "success"), (failed_id, "failed")]
    assert alerts == [("failed", "extract", failed_id), ("recovered", "extract", healthy_id)]
    lock = ExtractLock(tmp_path / "state")
    assert lock.try_acquire()  # given back after each run
    lock.release()
