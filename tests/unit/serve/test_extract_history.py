"""The server's extract runs in schedule.sqlite: kept across restarts, a run left
`running` by a dead process is `interrupted`, only the latest runs are kept."""

from __future__ import annotations

from mogulsync.extract import history as extract_history
from mogulsync.extract.history import ExtractHistory, ExtractRun


def test_a_run_left_running_is_interrupted_at_the_next_start(tmp_path):
    history = ExtractHistory(tmp_path)
    done = ExtractRun("extract-1", "success", "2026-03-02T09:00:00+00:00", report={"records": 3})
    done.finished_at = "2026-03-02T09:01:00+00:00"
    history.save(done)
    history.save(ExtractRun("extract-2", "running", "2026-03-02T10:00:00+00:00"))
    history.close()  # the process dies here, extract-2 still running
    reopened = ExtractHistory(tmp_path)
    try:
        assert reopened.latest()[0].status == "running"  # opening it changes nothing
        assert reopened.mark_interrupted() == 1  # the server that holds the state dir
        latest, first = reopened.latest()
        assert (latest.run_id, latest.status) == ("extract-2", "interrupted")
        assert latest.message == "the process running it stopped while it ran"
        assert (first.run_id, first.status, first.report) == (
            "extract-1",
            "success",
            {"records": 3},
        )
        assert reopened.get("extract-9") is None
    finally:
        reopened.close()


def test_only_the_latest_runs_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(extract_history, "KEEP_RUNS", 3)
    history = ExtractHistory(tmp_path)
    try:
        for minute in range(5):
            started = f"2026-03-02T09:0{minute}:00+00:00"
            history.save(ExtractRun(f"extract-{minute}", "success", started))
        assert [run.run_id for run in history.latest()] == ["extract-4", "extract-3", "extract-2"]
    finally:
        history.close()


def test_a_run_started_after_the_clock_stepped_back_is_listed_first_and_kept(tmp_path, monkeypatch):
    """Its start time is older than the runs before it: it is still the newest, and the
    retention does not delete it (it did, by start time, as soon as it was saved)."""
    monkeypatch.setattr(extract_history, "KEEP_RUNS", 3)
    history = ExtractHistory(tmp_path)
    try:
        for minute in range(3):
            history.save(ExtractRun(f"extract-{minute}", "success", f"2026-03-02T09:0{minute}Z"))
        stepped = ExtractRun("extract-back", "running", "2026-03-02T08:00Z")  # NTP: -1 h
        history.save(stepped)
        stepped.status = "success"
        history.save(stepped)
        assert [run.run_id for run in history.latest()] == [
            "extract-back",
            "extract-2",
            "extract-1",
        ]
    finally:
        history.close()


def test_a_history_from_before_progress_was_kept_opens_and_keeps_its_runs(tmp_path):
    import sqlite3

    from mogulsync.serve.scheduler import SCHEDULE_FILE

    old = sqlite3.connect(tmp_path / SCHEDULE_FILE)
    old.execute(
        "CREATE TABLE extract_runs (run_id TEXT PRIMARY KEY, status TEXT NOT NULL,"
        " started_at TEXT NOT NULL, finished_at TEXT, report TEXT, message TEXT)"
    )
    old.execute(
        "INSERT INTO extract_runs VALUES ('extract-0', 'running', '2026-03-02', NULL, NULL, NULL)"
    )
    old.commit()
    old.close()
    history = ExtractHistory(tmp_path)
    try:
        history.save_progress("extract-0", {"customers": 7})
        assert history.mark_interrupted() == 1
        [run] = history.latest()
        assert (run.run_id, run.status, run.progress) == (
            "extract-0",
            "interrupted",
            {"customers": 7},
        )
    finally:
        history.close()
