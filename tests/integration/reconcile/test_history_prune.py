"""A recorded reconcile prunes the run history off the event loop, whether it succeeds or
fails: ``mogulsync serve`` runs drift watches on the loop its API, scheduler and sync runs
share, and a long history's first prune takes seconds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.integration.reconcile._support import config, load, warehouse

from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile
from mogulsync.reconcile import runner as reconcile_runner
from mogulsync.runs import RunStore
from mogulsync.runs.retention import prune_history_at

pytestmark = pytest.mark.anyio


def _spy(calls: list[bool]) -> Any:
    """prune_history_at, noting for each call whether it ran on an event loop's thread."""

    def prune(*args: Any, **kwargs: Any) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            calls.append(False)
        else:
            calls.append(True)
        prune_history_at(*args, **kwargs)

    return prune


async def test_a_recorded_reconcile_prunes_off_the_loop(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = config(server, tmp_path, warehouse(tmp_path, customers=3))
    await load(conf)
    on_loop: list[bool] = []
    monkeypatch.setattr(reconcile_runner, "prune_history_at", _spy(on_loop))
    await reconcile(conf, "customers", record=True)
    assert on_loop == [False]

    # a failed one (its model's table gone) prunes too, off the loop as well
    with duckdb.connect(str(tmp_path / "w.duckdb")) as db:
        db.execute("drop table accounts")
    with pytest.raises(Exception):  # noqa: B017 - any failure will do
        await reconcile(conf, "customers", record=True)
    assert on_loop == [False, False]
    store = RunStore(Path(conf.state_dir))
    try:
        statuses = [r.status.value for r in store.latest(sync="reconcile:customers")]
    finally:
        store.close()
    assert statuses == ["failed", "success"]
