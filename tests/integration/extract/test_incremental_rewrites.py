"""Incremental runs see what ChartMogul changes at their cursor: the cursor's day of
activities and the cursor's second of subscription events (found by test_model_based.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import httpx
import pytest
from tests.integration.extract._model import Account
from tests.integration.extract._seed import client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.runner import ExtractOptions, run_extract

MORNING = dt.datetime(2024, 3, 4, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def account(emulator_server: EmulatorServer, api: httpx.Client) -> Account:
    """An account with one data source, its clock stopped on a Monday morning."""
    account = Account(emulator_server, api, MORNING)
    account.set_clock(MORNING)
    account.add_source()
    return account


def _extract(account: Account, root: Path) -> dict[str, int]:
    options = ExtractOptions(
        destination=f"duckdb:///{root}/cm.duckdb",
        streams=("activities", "subscription_events"),
        end_date=dt.date(2024, 12, 31),
        state_dir=root / "state",
    )
    report = run_extract(client_settings(account.server.base_url, account.server.api_key), options)
    return {stream.name: stream.records for stream in report.streams}


def _rows(root: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(f"{root}/cm.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def test_an_activity_removed_later_the_same_day_is_removed(
    account: Account, tmp_path: Path
) -> None:
    """Bought at 09:30, extracted, cancelled at 10:30: ChartMogul's day has no movement
    any more, and the next incremental run deletes the row it loaded."""
    customer = account.add_customer(account.sources[0], tags=[], seats=1)
    account.invoice(customer, 1000, 1)
    assert _extract(account, tmp_path)["activities"] == 1
    account.set_clock(MORNING + dt.timedelta(hours=1))
    (subscription,) = account.subscriptions
    account.patch(f"/import/subscriptions/{subscription}", {"cancelled_at": account.stamp()})
    assert account.api.get("/activities").json()["entries"] == []

    assert _extract(account, tmp_path)["activities"] == 0
    assert _rows(tmp_path, "SELECT uuid FROM chartmogul.activities") == []


def test_an_activity_changed_later_the_same_day_is_read_again(
    account: Account, tmp_path: Path
) -> None:
    """An upgrade the same day changes the day's movement of an activity already loaded
    (same uuid, same date): the next run loads its new amounts."""
    customer = account.add_customer(account.sources[0], tags=[], seats=1)
    subscription = account.invoice(customer, 1000, 1)
    _extract(account, tmp_path)
    first = account.api.get("/activities").json()["entries"]
    account.set_clock(MORNING + dt.timedelta(hours=2))
    account.invoice(customer, 1500, 1, subscription)
    now = account.api.get("/activities").json()["entries"]
    changed = [entry for entry in now if entry not in first]
    assert [entry["uuid"] for entry in changed] == [entry["uuid"] for entry in first]

    assert _extract(account, tmp_path)["activities"] == len(changed)
    found = _rows(tmp_path, "SELECT uuid, activity_mrr FROM chartmogul.activities ORDER BY 1")
    assert found == sorted((entry["uuid"], entry["activity-mrr"]) for entry in now)
    assert _extract(account, tmp_path)["activities"] == 0  # unchanged since: nothing read


def test_an_event_edited_in_the_second_of_the_last_run_is_loaded(
    account: Account, tmp_path: Path
) -> None:
    """``updated_at`` has second resolution: an edit in the same second as the run keeps
    it, and the next run still loads the edit (and deletes an event deleted then)."""
    customer = account.add_customer(account.sources[0], tags=[], seats=1)
    account.event(customer, 100)
    account.event(customer, 300)
    assert _extract(account, tmp_path)["subscription_events"] == 2
    edited, deleted = account.events
    account.patch(
        "/subscription_events", {"subscription_event": {"id": edited, "amount_in_cents": 200}}
    )
    account.delete("/subscription_events", {"subscription_event": {"id": deleted}})

    assert _extract(account, tmp_path)["subscription_events"] == 1
    found = _rows(tmp_path, "SELECT id, amount_in_cents FROM chartmogul.subscription_events")
    assert found == [(edited, 200)]


def test_an_event_deleted_any_time_is_deleted(account: Account, tmp_path: Path) -> None:
    """Every event is listed in each run: one deleted since (long after it was loaded,
    not in the second of the cursor) loses its row, and a later edit of another lands."""
    customer = account.add_customer(account.sources[0], tags=[], seats=1)
    account.event(customer, 100)
    account.set_clock(MORNING + dt.timedelta(days=1))
    account.event(customer, 300)
    assert _extract(account, tmp_path)["subscription_events"] == 2
    deleted, kept = account.events
    account.set_clock(MORNING + dt.timedelta(days=2))
    account.delete("/subscription_events", {"subscription_event": {"id": deleted}})

    assert _extract(account, tmp_path)["subscription_events"] == 0
    assert _rows(tmp_path, "SELECT id FROM chartmogul.subscription_events") == [(kept,)]
