"""`runs show --errors` of a run whose row errors the retention deleted says so.

With ``run_history.keep_errors_days`` (14 by default) a run older than that keeps its
record and counts (say 3 failed) but loses its row errors; `runs show --errors` then
printed "no row errors" under "3 failed", as if the run had none to show.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.config.run_history import RunHistoryConfig
from mogulsync.runs import RowCounts, RowError, RunStatus, RunStore
from mogulsync.runs.retention import prune_history

ERRORS = 3
WIDE = {"COLUMNS": "250"}


def _history(state: Path) -> tuple[str, str]:
    """Two partial runs of one sync, the older one past keep_errors_days: (old, latest)."""
    store = RunStore(state)
    try:
        run_ids = []
        for _ in range(2):
            record = store.start("customers", full=False)
            store.add_errors(
                record.run_id,
                [RowError(f"a{n}", "email", "not an email", "fix it", "invalid")
                 for n in range(ERRORS)],
            )  # fmt: skip
            record.status = RunStatus.PARTIAL
            record.rows = RowCounts(added=ERRORS, failed=ERRORS, invalid=ERRORS)
            store.finish(record)
            run_ids.append(record.run_id)
        policy = RunHistoryConfig(keep_errors_days=14, keep_last=1)
        prune_history(store, policy, dt.datetime.now(dt.UTC) + dt.timedelta(days=15))
    finally:
        store.close()
    return run_ids[0], run_ids[1]


def test_runs_show_names_row_errors_the_retention_deleted(tmp_path: Path) -> None:
    config = tmp_path / "mogulsync.yml"
    project = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}"},
        "state_dir": str(tmp_path / "state"),
    }
    config.write_text(yaml.safe_dump(project), encoding="utf-8")
    old, latest = _history(tmp_path / "state")
    runner = CliRunner()

    def show(run_id: str, *extra: str) -> str:
        result = runner.invoke(
            app, ["runs", "show", run_id, "--errors", "-c", str(config), *extra], env=WIDE
        )
        assert result.exit_code == 0, result.output
        return result.output

    text = " ".join(show(old).split())
    assert "no row errors" not in text
    assert "3 row errors of this run were deleted" in text
    assert "run_history.keep_errors_days" in text
    body = json.loads(show(old, "--json"))
    assert (body["errors"], body["errors_deleted"]) == ([], ERRORS)
    # the latest run keeps its own, and has none deleted
    assert "a0 · invalid · email: not an email" in show(latest)
    kept = json.loads(show(latest, "--json"))
    assert (len(kept["errors"]), kept["errors_deleted"]) == (ERRORS, 0)
