"""`on_success` after real sync runs, delivered over real HTTP to a local receiver."""

from __future__ import annotations

import duckdb
import pytest
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.ops._support import ACCOUNTS_DDL, ops_project
from tests.integration.sync._support import engine, make_warehouse

from mogulsync.runs import RunStore

pytestmark = pytest.mark.anyio


async def test_every_successful_run_is_announced_and_a_partial_one_is_not(
    emulator_server, tmp_path
):
    """Success, partial, success: two `succeeded` messages on the webhook and Slack, none on
    PagerDuty (a success must not open an incident), each delivery recorded."""
    path = tmp_path / "w.duckdb"
    url = make_warehouse(
        path, [ACCOUNTS_DDL, "insert into accounts values ('a1','Acme','a@acme.io')"]
    )
    with HttpReceiver() as http:
        config = ops_project(
            emulator_server,
            tmp_path,
            url,
            env={
                "HOOK": f"{http.url}/hook",
                "SLACK": f"{http.url}/slack",
                "PD": f"{http.url}/pd",
                "PD_KEY": "rk-secret",
            },
            alerts={
                "channels": {
                    "hook": {"type": "webhook", "url": "${HOOK}"},
                    "team": {"type": "slack", "url": "${SLACK}"},
                    "oncall": {
                        "type": "webhook",
                        "format": "pagerduty",
                        "url": "${PD}",
                        "routing_key": "${PD_KEY}",
                    },
                },
                "rules": [{"on_success": True}],
            },
        )
        first = await engine(config).run("customers")
        with duckdb.connect(str(path)) as db:
            db.execute("insert into accounts values ('a2','Broken','not-an-email')")
        partial = await engine(config).run("customers")
        with duckdb.connect(str(path)) as db:
            db.execute("update accounts set email = 'b@broken.io' where id = 'a2'")
        second = await engine(config).run("customers")
        hook = http.bodies("/hook")
        slack = http.bodies("/slack")
        pagerduty = http.bodies("/pd")
    assert [r.status.value for r in (first, partial, second)] == ["success", "partial", "success"]
    assert [(b["event"], b["run_id"]) for b in hook] == [
        ("succeeded", first.run_id),
        ("succeeded", second.run_id),
    ]
    assert hook[0]["title"] == f"mogulsync: sync customers succeeded (run {first.run_id})"
    assert hook[1]["rows"]["succeeded"] == 1  # a2, now valid (a1 unchanged)
    assert [b["text"] for b in slack] == [b["title"] for b in hook]
    assert pagerduty == []
    store = RunStore(config.state_dir)
    try:
        recorded = store.deliveries(["customers"])
    finally:
        store.close()
    assert sorted((d.run_id, d.channel, d.trigger) for d in recorded) == sorted(
        (run.run_id, channel, "succeeded")
        for run in (first, second)
        for channel in ("hook", "team")
    )
