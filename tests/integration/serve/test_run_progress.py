"""A run's counts reach the run history while it runs, at a bounded rate.

Before, rows and API calls were written only when a run ended: a run in another process
(``mogulsync sync run`` beside the server) showed 0 on the server's pages until it ended,
and a run killed mid-way (swept ``interrupted`` at the next start) showed 0 for good.
The history's flush clock is driven by the test; rows go one at a time (one row in flight),
so which write carries which counts is exact.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from tests.integration.serve._support import (
    OPERATOR,
    Gate,
    GatedEngine,
    accounts,
    project,
    serving,
)
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.runs import RunStore
from mogulsync.runs import store as store_module
from mogulsync.sync.engine import Progress

pytestmark = pytest.mark.anyio
ROWS = 12
#: the row whose end moves the history's clock past PROGRESS_EVERY_S
ADVANCED_AT = 5


class _Watch:
    """The engine's progress hook: what the history held at each row's end."""

    def __init__(self, state_dir: Path, clock: list[float]) -> None:
        self.reader = RunStore(state_dir)  # another connection, as another process reads
        self.clock = clock
        self.stored: dict[int, tuple[int, int, str]] = {}

    def __call__(self, progress: Progress) -> None:
        record = self.reader.get(progress.run_id)
        self.stored[progress.done] = (
            record.rows.succeeded,
            record.api_calls,
            record.status.value,
        )
        if progress.done == ADVANCED_AT:
            self.clock[0] += store_module.PROGRESS_EVERY_S


def _driven_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    clock = [0.0]
    monkeypatch.setattr(store_module, "_clock", lambda: clock[0])
    return clock


async def test_a_run_of_another_process_shows_its_counts_on_the_servers_pages(
    emulator_server, tmp_path, monkeypatch
):
    config = project(emulator_server, tmp_path, accounts(tmp_path, ROWS))
    watch = _Watch(Path(config.state_dir), _driven_clock(monkeypatch))
    gate = Gate()
    gate.release()
    engine = GatedEngine(config, gate)  # `mogulsync sync run` beside the server
    engine.max_concurrent_rows = 1
    paused = asyncio.Event()

    def hook(progress: Progress) -> None:
        watch(progress)
        if progress.done == ADVANCED_AT + 1:  # hold the next row's request: mid-run
            gate.open.clear()
            paused.set()

    async with serving(config) as served:
        run = asyncio.create_task(engine.run("customers", bulk=False, progress=hook))
        waiting = [asyncio.ensure_future(paused.wait()), run]
        await asyncio.wait(waiting, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        assert paused.is_set(), run.exception() if run.done() else "the run never got there"
        # rows 1-5: nothing written per row (a bounded rate, not a write per row)
        assert [watch.stored[done][:2] for done in range(1, ADVANCED_AT + 1)] == [(0, 0)] * 5
        # the clock passed PROGRESS_EVERY_S: row 6's request log carried the counts
        succeeded, calls, status = watch.stored[ADVANCED_AT + 1]
        assert (succeeded, status) == (ADVANCED_AT, "running")
        assert calls > ADVANCED_AT
        run_id = watch.reader.latest(limit=1)[0].run_id
        auth = served.bearer(OPERATOR)
        live = (await served.http.get(f"/api/v1/runs/{run_id}", headers=auth)).json()
        assert live["status"] == "running"
        assert live["rows"]["added"] == ROWS  # the whole model was classified
        assert (live["rows"]["succeeded"], live["api_calls"]) == (ADVANCED_AT, calls)
        page = await served.http.get(f"/runs/{run_id}", headers=auth)
        assert f'data-count="succeeded">{ADVANCED_AT}<' in page.text
        assert f'data-count="api_calls">{calls}<' in page.text
        gate.release()
        record = await run
    watch.reader.close()
    assert (record.status.value, record.rows.succeeded) == ("success", ROWS)


def _copy_history(state_dir: Path, into: Path) -> None:
    """What a kill -9 now leaves on disk: the history as committed so far."""
    into.mkdir(parents=True)
    source = sqlite3.connect(state_dir / store_module.RUNS_FILE)
    target = sqlite3.connect(into / store_module.RUNS_FILE)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


async def test_a_killed_run_shows_what_it_had_done_once_swept(
    emulator_server, tmp_path, monkeypatch
):
    url = accounts(tmp_path, ROWS)
    config = project(emulator_server, tmp_path, url)
    state_dir = Path(config.state_dir)
    watch = _Watch(state_dir, _driven_clock(monkeypatch))
    after = tmp_path / "after"  # the machine the killed process left behind
    gate = Gate()
    gate.release()
    engine = GatedEngine(config, gate)
    engine.max_concurrent_rows = 1

    def hook(progress: Progress) -> None:
        watch(progress)
        if progress.done == ADVANCED_AT + 2:
            _copy_history(state_dir, after / "state")

    await engine.run("customers", bulk=False, progress=hook)
    [record] = watch.reader.latest(limit=1)
    watch.reader.close()
    _, calls, _ = watch.stored[ADVANCED_AT + 2]

    restarted = project(emulator_server, after, url)
    async with serving(restarted) as served:
        auth = served.bearer(OPERATOR)
        swept = (await served.http.get(f"/api/v1/runs/{record.run_id}", headers=auth)).json()
    assert swept["status"] == "interrupted"
    assert swept["rows"]["added"] == ROWS
    assert (swept["rows"]["succeeded"], swept["api_calls"]) == (ADVANCED_AT, calls)
    assert swept["duration_s"] > 0

    project_file = after / "mogulsync.yml"
    only_history = {"chartmogul": {"api_key": "${CM_KEY}"}, "state_dir": str(after / "state")}
    project_file.write_text(yaml.safe_dump(only_history), "utf-8")
    shown = CliRunner().invoke(
        app, ["runs", "show", record.run_id, "--config", str(project_file), "--json"]
    )
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["status"] == "interrupted"
    assert (body["rows"]["succeeded"], body["api_calls"]) == (ADVANCED_AT, calls)
