"""A retry round (serve's tick) and a run of the same job sharing runs.sqlite: the round
has claimed the job's waiting problem when the run's recovery goes out. The channel must
never hear that stale problem after the recovery (PagerDuty: a trigger after its resolve
leaves an incident open), and a recovery that waits must stay behind its problem."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.ops.test_alert_retries import START, _at, _heal, _project, _waiting
from tests.integration.sync._support import engine

from mogulsync.alerts.events_retry import failed
from mogulsync.runs import RunStore

pytestmark = pytest.mark.anyio


async def test_a_problem_claimed_by_a_round_is_not_sent_after_the_recovery_went_out(
    emulator_server, tmp_path
):
    with HttpReceiver() as http:
        config, path = _project(emulator_server, tmp_path, http, {})
        http.refuse = {"/pd"}
        await _at(engine(config), START).run("customers")
        assert _waiting(config) == [("oncall", "problem", 1)]
        round_at = (START + dt.timedelta(minutes=2)).timestamp()
        store = RunStore(config.state_dir)
        try:
            # the round claims the problem, and PagerDuty (still down) refuses it...
            [claimed] = store.take_alert_retries(round_at)
            # ...while the job's next run, healthy, sends its recovery: PagerDuty is back
            http.refuse = set()
            _heal(path)
            await _at(engine(config), START + dt.timedelta(minutes=3)).run("customers")
            again = failed(claimed, round_at)
            assert again is not None
            store.put_back_alert_retries([again])  # the round ends: the problem waits
        finally:
            store.close()
        # a later run's start: nothing stale may go out
        await _at(engine(config), START + dt.timedelta(hours=1)).run("customers")
        pd = [b["event_action"] for b in http.bodies("/pd")]
    assert pd == ["resolve"]
    assert _waiting(config) == []


async def test_a_recovery_refused_while_a_round_holds_its_problem_stays_behind_it(
    emulator_server, tmp_path
):
    with HttpReceiver() as http:
        config, path = _project(emulator_server, tmp_path, http, {})
        http.refuse = {"/pd"}
        await _at(engine(config), START).run("customers")
        round_at = (START + dt.timedelta(minutes=2)).timestamp()
        store = RunStore(config.state_dir)
        try:
            [claimed] = store.take_alert_retries(round_at)
            _heal(path)  # the run's recovery is refused too, and waits (alone: claimed)
            await _at(engine(config), START + dt.timedelta(minutes=3)).run("customers")
            again = failed(claimed, round_at)
            assert again is not None
            store.put_back_alert_retries([again])
        finally:
            store.close()
    assert [(channel, kind) for channel, kind, _n in _waiting(config)] == [
        ("oncall", "problem"),
        ("oncall", "recovered"),
    ]


async def test_a_run_alerting_only_success_notices_leaves_other_lines_to_their_back_off(
    emulator_server, tmp_path
):
    """A run whose only alerts are success notices (never kept) takes nothing that waits:
    before, no kept channel meant no channel filter, and every waiting line of the job was
    sent at once, before its back-off (a run every minute: an attempt a minute)."""
    with HttpReceiver() as http:
        config, path = _project(
            emulator_server, tmp_path, http, {"on_success": True, "on_recovery": False}
        )
        http.refuse = {"/pd"}
        await _at(engine(config), START).run("customers")
        assert _waiting(config) == [("oncall", "problem", 1)]
        _heal(path)  # a success: the webhook hears `succeeded`, PagerDuty nothing
        await _at(engine(config), START + dt.timedelta(seconds=10)).run("customers")
        hook = [body["event"] for body in http.bodies("/hook")]
        refused = list(http.refused)
    assert hook == ["failed_rows", "succeeded"]
    assert refused == ["/pd"]  # only the failing run's own attempt: not due at +10 s
    assert _waiting(config) == [("oncall", "problem", 1)]
