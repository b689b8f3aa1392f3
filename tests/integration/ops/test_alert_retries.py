"""Sync alerts a channel did not take wait in runs.sqlite and are sent again: at the start
of the sync's next run, after a back-off read from a driven clock, in order, once."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import stamina
import yaml
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.ops._support import ACCOUNTS_DDL, ops_project
from tests.integration.sync._support import engine, make_warehouse
from typer.testing import CliRunner

from mogulsync.alerts.dispatch import AlertDispatcher
from mogulsync.cli import app
from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.runs import RunStore
from mogulsync.sync.engine import SyncEngine

pytestmark = pytest.mark.anyio

START = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)
PD_KEY = "pd-routing-key-secret"


@pytest.fixture(autouse=True)
def _fast_retries():
    with stamina.set_testing(True, attempts=1):
        yield


def _project(
    server: EmulatorServer, tmp_path: Path, http: HttpReceiver, rule: dict[str, Any]
) -> tuple[AppConfig, Path]:
    path = tmp_path / "w.duckdb"
    url = make_warehouse(path, [ACCOUNTS_DDL, "insert into accounts values ('a1','Acme','bad')"])
    alerts = {
        "channels": {
            "hook": {"type": "webhook", "url": "${HOOK}"},
            "oncall": {
                "type": "webhook",
                "format": "pagerduty",
                "url": "${PD}",
                "routing_key": "${PD_KEY}",
            },
        },
        "rules": [{"failed_rows": {"count": 1}, **rule}],
        "timeout_s": 2,
        "attempts": 1,
    }
    env = {"HOOK": f"{http.url}/hook", "PD": f"{http.url}/pd", "PD_KEY": PD_KEY}
    return ops_project(server, tmp_path, url, env=env, alerts=alerts), path


def _heal(path: Path) -> None:
    with duckdb.connect(str(path)) as db:
        db.execute("update accounts set email = 'a@acme.io'")


def _at(eng: SyncEngine, when: dt.datetime) -> SyncEngine:
    eng.alerts.now = lambda: when
    return eng


def _waiting(config: AppConfig) -> list[tuple[str, str, int]]:
    store = RunStore(config.state_dir)
    try:
        return [(i.channel, i.kind, i.failures) for i in store.alert_retries("customers")]
    finally:
        store.close()


def _deliveries(config: AppConfig) -> list[tuple[str, str, str]]:
    store = RunStore(config.state_dir)
    try:
        found = store.deliveries(["customers"])
    finally:
        store.close()
    return [
        (d.channel, d.trigger, "delivered" if d.delivered else "failed") for d in reversed(found)
    ]


async def test_a_refused_problem_is_sent_at_the_next_runs_start_once_due(emulator_server, tmp_path):
    """A channel down when the failure was found hears of it at a later run's start, after
    the back-off (not before), once; a channel that took it never hears it twice."""
    with HttpReceiver() as http:
        config, path = _project(emulator_server, tmp_path, http, {"on_recovery": False})
        http.refuse = {"/hook"}
        failing = await _at(engine(config), START).run("customers")
        assert failing.status.value == "partial"
        assert failing.message is not None
        assert "alert to channel `hook` not delivered (tried again later)" in failing.message
        assert [b["event_action"] for b in http.bodies("/pd")] == ["trigger"]
        assert _waiting(config) == [("hook", "problem", 1)]

        http.refuse = set()
        _heal(path)  # the next runs are healthy and (no on_recovery) alert nobody themselves
        # 30 s later the back-off (60 s) is not over: the next run leaves it waiting
        await _at(engine(config), START + dt.timedelta(seconds=30)).run("customers")
        assert http.bodies("/hook") == []
        assert _waiting(config) == [("hook", "problem", 1)]

        await _at(engine(config), START + dt.timedelta(minutes=5)).run("customers")
        await _at(engine(config), START + dt.timedelta(minutes=9)).run("customers")
        hook = http.bodies("/hook")
        pd = http.bodies("/pd")
    assert [(body["event"], body["run_id"]) for body in hook] == [("failed_rows", failing.run_id)]
    assert [b["event_action"] for b in pd] == ["trigger"]  # it took it: never sent again
    assert _waiting(config) == []
    assert [d for d in _deliveries(config) if d[0] == "hook"] == [
        ("hook", "failed_rows", "failed"),
        ("hook", "failed_rows", "delivered"),
    ]
    # `runs show` lists both attempts under the run they tell of
    project_file = tmp_path / "mogulsync.yml"
    history_only = {"chartmogul": {"api_key": "${CM_KEY}"}, "state_dir": str(config.state_dir)}
    project_file.write_text(yaml.safe_dump(history_only), "utf-8")
    show = ["runs", "show", failing.run_id, "--config", str(project_file)]
    env = {"CM_KEY": "cm-key", "COLUMNS": "200"}
    shown = CliRunner().invoke(app, [*show, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    alerts = json.loads(shown.output)["alerts"]
    assert [(a["channel"], a["outcome"]) for a in alerts if a["channel"] == "hook"] == [
        ("hook", "failed"),
        ("hook", "delivered"),
    ]
    text = CliRunner().invoke(app, show, env=env).output
    assert "alert failed_rows to hook (webhook" in text
    assert text.count("alert failed_rows to hook") == 2


async def test_a_recovery_waits_behind_the_problem_pagerduty_never_got(emulator_server, tmp_path):
    """PagerDuty down at the failure, up at the recovery: it hears the trigger, then the
    resolve, in that order; the webhook that took the failure hears only the recovery."""
    with HttpReceiver() as http:
        config, path = _project(emulator_server, tmp_path, http, {})
        http.refuse = {"/pd"}
        failing = await _at(engine(config), START).run("customers")
        assert _waiting(config) == [("oncall", "problem", 1)]
        http.refuse = set()
        _heal(path)
        healthy = await _at(engine(config), START + dt.timedelta(seconds=10)).run("customers")
        pd = http.bodies("/pd")
        hook = http.bodies("/hook")
    assert healthy.message is None
    assert [(b["event_action"], b["dedup_key"]) for b in pd] == [
        ("trigger", "mogulsync/customers"),
        ("resolve", "mogulsync/customers"),
    ]
    assert pd[0]["payload"]["custom_details"]["run_id"] == failing.run_id
    assert [body["event"] for body in hook] == ["failed_rows", "recovered"]
    assert _waiting(config) == []


async def test_a_recovery_refused_too_waits_behind_its_problem(emulator_server, tmp_path):
    """Still down at the recovery: both wait, in order, and go together once it is up."""
    with HttpReceiver() as http:
        config, path = _project(emulator_server, tmp_path, http, {})
        http.refuse = {"/pd"}
        await _at(engine(config), START).run("customers")
        _heal(path)
        await _at(engine(config), START + dt.timedelta(seconds=10)).run("customers")
        assert _waiting(config) == [("oncall", "problem", 2), ("oncall", "recovered", 0)]
        http.refuse = set()
        dispatcher = _at(engine(config), START + dt.timedelta(minutes=3)).alerts
        store = RunStore(config.state_dir)
        try:
            sent = await dispatcher.retry_due(store, dispatcher.now())
        finally:
            store.close()
        pd = http.bodies("/pd")
    assert [b["event_action"] for b in pd] == ["trigger", "resolve"]
    assert [(d.trigger, d.delivered) for d in sent] == [("failed_rows", True), ("recovered", True)]
    assert _waiting(config) == []


async def test_two_processes_sharing_runs_sqlite_send_a_waiting_alert_once(
    emulator_server, tmp_path
):
    """Each claims what it sends in a transaction: the other finds nothing to send."""
    with HttpReceiver() as http:
        config, _path = _project(emulator_server, tmp_path, http, {})
        http.refuse = {"/hook"}
        await _at(engine(config), START).run("customers")
        http.refuse = set()
        due = START + dt.timedelta(minutes=2)
        first, second = RunStore(config.state_dir), RunStore(config.state_dir)
        try:
            one = AlertDispatcher(config.alerts, engine(config).redactor)
            two = AlertDispatcher(config.alerts, engine(config).redactor)
            sent = [await one.retry_due(first, due), await two.retry_due(second, due)]
        finally:
            first.close()
            second.close()
        hook = http.bodies("/hook")
    assert [len(found) for found in sent] == [1, 0]
    assert [body["event"] for body in hook] == ["failed_rows"]


async def test_an_alert_refused_for_a_day_is_dropped(emulator_server, tmp_path):
    """The back-off grows to every 30 minutes; a day after the failure it stops."""
    with HttpReceiver() as http:
        config, _path = _project(emulator_server, tmp_path, http, {})
        http.refuse = {"/hook"}
        await _at(engine(config), START).run("customers")
        dispatcher = engine(config).alerts
        store = RunStore(config.state_dir)
        gaps: list[float] = []
        try:
            now = START
            while waiting := store.alert_retries("customers"):
                [item] = waiting
                due = dt.datetime.fromtimestamp(item.next_at, dt.UTC)
                gaps.append((due - now).total_seconds())
                now = due
                await dispatcher.retry_due(store, now)
        finally:
            store.close()
    assert gaps[:6] == [60, 120, 240, 480, 960, 1800]
    assert set(gaps[6:]) == {1800}
    assert (now - START) <= dt.timedelta(days=1)
    assert len(http.refused) == len(gaps) + 1  # the run's attempt, then each retry
