"""A drift alert a channel did not take goes at the start of the next recorded reconcile
(the drift watch of a cron-only user), once due, before that reconcile's own alert."""

from __future__ import annotations

import dataclasses

import chartmogul
import pytest
import stamina
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.reconcile._support import config, customer_uuids, load, official, warehouse

from mogulsync.config import parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile
from mogulsync.runs import RunStore

pytestmark = pytest.mark.anyio
WATCH = "reconcile:customers"


def _with_alerts(conf, server: EmulatorServer, hook_url: str):
    raw = conf.model_dump(mode="python", by_alias=True, exclude_unset=True)
    raw["chartmogul"]["api_key"] = "${CM_KEY}"
    raw["warehouses"] = {
        name: {**warehouse, "url": warehouse["url"].get_secret_value()}
        for name, warehouse in raw["warehouses"].items()
    }
    raw["alerts"] = {
        "channels": {"hook": {"type": "webhook", "url": "${HOOK_URL}"}},
        "rules": [{"syncs": ["customers"], "drift": {"count": 1}}],
        "attempts": 1,
    }
    return parse_config(raw, env={"CM_KEY": server.api_key, "HOOK_URL": hook_url})


async def test_a_refused_drift_alert_goes_at_the_next_watch_start(server, tmp_path):
    with stamina.set_testing(True, attempts=1), HttpReceiver() as hook:
        conf = _with_alerts(config(server, tmp_path, warehouse(tmp_path)), server, hook.url)
        await load(conf)
        uuids = customer_uuids(server)
        chartmogul.Customer.modify(official(server), uuid=uuids["acct-1"], data={"name": "X"}).get()
        hook.refuse = {"/"}
        first = await reconcile(conf, "customers", record=True)
        assert any("tried again later" in warning for warning in first.warnings)
        store = RunStore(conf.state_dir)
        try:
            # the test drives time: the back-off is over
            taken = store.take_alert_retries(0.0, job=WATCH, due_only=False)
            assert [(i.channel, i.kind) for i in taken] == [("hook", "problem")]
            store.put_back_alert_retries([dataclasses.replace(i, next_at=0.0) for i in taken])
        finally:
            store.close()
        hook.refuse = set()
        second = await reconcile(conf, "customers", record=True)
        bodies = hook.bodies("/")
    # the waiting one first (its own run), then the newer run's, each once
    assert [(b["event"], b["run_id"]) for b in bodies] == [
        ("drift", first.run_id),
        ("drift", second.run_id),
    ]


async def test_a_watch_cancelled_while_retrying_alerts_at_its_start_is_not_left_running(
    server, tmp_path, monkeypatch
):
    """`serve` cancels drift watches on shutdown; the retry at a watch's start may take the
    channels' timeouts (one still down). Cancelled there, the watch was left `running` in
    the history (and its connection open): it now ends `failed`, as when cancelled later."""
    import asyncio

    from mogulsync.alerts.dispatch import AlertDispatcher

    async def cancelled(*_args: object, **_kwargs: object) -> list[object]:
        raise asyncio.CancelledError  # serve's shutdown, while a channel is retried

    with HttpReceiver() as hook:
        conf = _with_alerts(config(server, tmp_path, warehouse(tmp_path)), server, hook.url)
        monkeypatch.setattr(AlertDispatcher, "retry_due", cancelled)
        with pytest.raises(asyncio.CancelledError):
            await reconcile(conf, "customers", record=True)
    store = RunStore(conf.state_dir)
    try:
        [run] = store.latest(sync=WATCH, limit=5)
    finally:
        store.close()
    assert run.status.value == "failed"
