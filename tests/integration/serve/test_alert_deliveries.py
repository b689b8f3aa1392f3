"""Every alert sent is recorded, delivered or not, and shown on the sync's runs page and in
the API. Before, a delivered alert left no trace anywhere (only failures became warnings).
"""

from __future__ import annotations

import pytest
import stamina
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.serve._support import (
    OPERATOR,
    VIEWER,
    accounts,
    project,
    serving,
    wait_for_run,
)
from tests.integration.sync._support import make_warehouse

pytestmark = pytest.mark.anyio
HOOK_TOKEN = "hook-token-0123456789-never-shown"


async def test_each_alert_sent_is_listed_with_its_outcome_and_no_secret(
    emulator_server, tmp_path, dead_port
):
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         "insert into accounts values ('a1', 'Acme', 'a@acme.io'), ('a2', 'Beta', 'nope')"],
    )  # fmt: skip
    alerts = {
        "channels": {
            "ops": {"type": "webhook", "url": "${OPS_HOOK}"},
            "down": {"type": "webhook", "url": "${DOWN_HOOK}"},
        },
        "rules": [{"failed_rows": {"count": 1}}],
        "attempts": 1,
    }
    with stamina.set_testing(True, attempts=1), HttpReceiver() as receiver:
        env = {
            "OPS_HOOK": f"{receiver.url}/hooks/{HOOK_TOKEN}?token={HOOK_TOKEN}",
            "DOWN_HOOK": f"http://127.0.0.1:{dead_port}/hooks/{HOOK_TOKEN}",
        }
        config = project(emulator_server, tmp_path, url, env=env, alerts=alerts)
        async with serving(config) as served:
            started = await served.http.post(
                "/api/v1/syncs/customers/runs", headers=served.bearer(OPERATOR)
            )
            run_id = started.json()["run_id"]
            run = await wait_for_run(served, run_id)
            assert run["status"] == "partial"
            viewer = served.bearer(VIEWER)
            listed = await served.http.get("/api/v1/syncs/customers/alerts", headers=viewer)
            page = await served.http.get("/runs", params={"sync": "customers"}, headers=viewer)
            unknown = await served.http.get("/api/v1/syncs/nosuch/alerts", headers=viewer)
    assert len(receiver.bodies(f"/hooks/{HOOK_TOKEN}?token={HOOK_TOKEN}")) == 1
    by_channel = {item["channel"]: item for item in listed.raise_for_status().json()}
    assert set(by_channel) == {"ops", "down"}
    ops, down = by_channel["ops"], by_channel["down"]
    assert (ops["run_id"], ops["sync"], ops["trigger"]) == (run_id, "customers", "failed_rows")
    assert (ops["outcome"], ops["error"]) == ("delivered", None)
    assert ops["target"] == f"webhook (json) {receiver.url}"
    assert ops["at"]
    assert down["outcome"] == "failed"
    assert down["error"]
    assert down["target"] == f"webhook (json) http://127.0.0.1:{dead_port}"
    assert HOOK_TOKEN not in listed.text
    assert 'id="alert-deliveries"' in page.text
    assert page.text.count('data-channel="') == 2
    assert "delivered" in page.text
    assert HOOK_TOKEN not in page.text
    assert unknown.status_code == 404


async def test_the_runs_page_keeps_a_failure_in_view_among_frequent_success_notices(
    emulator_server, tmp_path
):
    """`on_success` on a sync that runs every few minutes: the page lists the latest 20
    problems and recoveries and only the latest 5 success notices, so the failure shows."""
    from mogulsync.runs import RunStore
    from mogulsync.runs.deliveries import SUCCESS_TRIGGER, AlertDelivery

    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))

    def sent(number: int, trigger: str) -> AlertDelivery:
        return AlertDelivery(
            at=f"2026-03-02T09:{number:02d}:00+00:00", sync="customers", run_id=f"r{number}",
            channel=f"chan{number}", target="webhook (json) https://hooks.example.com",
            trigger=trigger, delivered=True,
        )  # fmt: skip

    store = RunStore(config.state_dir)
    try:
        store.add_deliveries([sent(0, "failed")])
        store.add_deliveries([sent(number, SUCCESS_TRIGGER) for number in range(1, 31)])
    finally:
        store.close()
    async with serving(config) as served:
        page = await served.http.get(
            "/runs", params={"sync": "customers"}, headers=served.bearer(VIEWER)
        )
    assert page.status_code == 200
    assert 'data-channel="chan0"' in page.text  # the failure
    assert page.text.count('data-channel="') == 6  # and the 5 latest success notices
