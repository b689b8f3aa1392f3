"""The drift watch: a recorded reconcile alerts through the project's channels, then recovers."""

from __future__ import annotations

import chartmogul
import pytest
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.reconcile._support import (
    CUSTOMERS,
    config,
    customer_uuids,
    load,
    official,
    warehouse,
)
from tests.integration.sync._support import engine

from mogulsync.config import parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile
from mogulsync.runs import RunStore

pytestmark = pytest.mark.anyio


def _with_alerts(conf, server: EmulatorServer, hook_url: str):
    """The reconcile project plus a webhook channel and a drift rule (2 records or more)."""
    raw = conf.model_dump(mode="python", by_alias=True, exclude_unset=True)
    raw["chartmogul"]["api_key"] = "${CM_KEY}"
    raw["warehouses"] = {
        name: {**warehouse, "url": warehouse["url"].get_secret_value()}
        for name, warehouse in raw["warehouses"].items()
    }
    raw["alerts"] = {
        "channels": {"hook": {"type": "webhook", "url": "${HOOK_URL}"}},
        "rules": [{"syncs": ["customers"], "on_failure": True, "drift": {"count": 2}}],
    }
    return parse_config(raw, env={"CM_KEY": server.api_key, "HOOK_URL": hook_url})


async def test_drift_alert_then_recovery(server, tmp_path):
    """Drift over the threshold alerts once; after adopt + run the next watch recovers."""
    with HttpReceiver() as hook:
        conf = _with_alerts(config(server, tmp_path, warehouse(tmp_path)), server, hook.url)
        await load(conf)
        quiet = await reconcile(conf, "customers", record=True)
        assert (quiet.differs, hook.posts) == (False, [])

        cm = official(server)
        uuids = customer_uuids(server)
        chartmogul.Customer.modify(cm, uuid=uuids["acct-1"], data={"name": "Edited"}).get()
        chartmogul.Customer.destroy(cm, uuid=uuids["acct-2"]).get()
        drifted = await reconcile(conf, "customers", record=True)
        assert (drifted.drifted, drifted.missing, drifted.warnings) == (1, 1, [])
        [alert] = hook.bodies("/")
        assert alert["event"] == "drift"
        assert alert["sync"] == "reconcile:customers"
        assert "2 of 40 records differ" in alert["title"]
        assert alert["rows"]["changed"] == 1
        assert alert["rows"]["added"] == 1
        assert server.api_key not in str(hook.posts)

        await reconcile(conf, "customers", adopt=True)
        assert (await engine(conf).run("customers")).status.value == "success"
        healed = await reconcile(conf, "customers", record=True)
        assert not healed.differs
        assert [body["event"] for body in hook.bodies("/")] == ["drift", "recovered"]

    store = RunStore(tmp_path / "state")
    try:
        history = store.latest(sync="reconcile:customers", limit=10)
    finally:
        store.close()
    assert [r.status.value for r in history] == ["success", "partial", "success"]
    assert history[1].rows.unchanged == CUSTOMERS - 2
    assert "drifted fields: name 1" in (history[1].message or "")


async def test_a_watch_writes_its_counts_as_it_goes(server, tmp_path, monkeypatch):
    """A watch killed mid-listing showed 0 API calls once swept: its requests and counts
    were written only at its end. Each write is read back as another process would."""
    from mogulsync.runs import store as store_module

    conf = config(server, tmp_path, warehouse(tmp_path))
    await load(conf)
    ticks = iter(range(0, 10_000, 3))  # every look at the clock: a write is due
    monkeypatch.setattr(store_module, "_clock", lambda: float(next(ticks)))
    seen: list[tuple[str, int, int]] = []
    original = store_module.RunStore.progress

    def progress(store: RunStore, record) -> None:
        original(store, record)
        reader = RunStore(conf.state_dir)
        try:
            stored = reader.get(record.run_id)
        finally:
            reader.close()
        seen.append((stored.status.value, stored.api_calls, stored.rows.unchanged))

    monkeypatch.setattr(store_module.RunStore, "progress", progress)
    report = await reconcile(conf, "customers", record=True)
    assert seen
    assert {status for status, _, _ in seen} == {"running"}
    calls = [api_calls for _, api_calls, _ in seen]
    assert calls == sorted(calls)
    assert calls[-1] == report.api_calls  # the listing was written request by request
    assert seen[-1][2] == report.in_both  # and the comparison batch by batch
