"""Child process: materialize one sync's asset with Dagster once the go file appears.

``python _materialize_worker.py <mogulsync.yml> <sync> <go file>`` prints the step's
metadata as JSON, with the request starts it booked and the times it sent them (the test's
``PYTHONPATH`` names the repository, for the probe that records them).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import dagster as dg
from tests.integration.chartmogul._pacing_probe import record_bookings, record_sends

from mogulsync.integrations.dagster import mogulsync_assets, sync_asset_key


def main(project: str, sync: str, go: str) -> None:
    booked: list[float] = []
    sent: list[float] = []
    record_bookings(booked)
    record_sends(sent)
    assets = mogulsync_assets(project)
    Path(f"{go}.{sync}.ready").touch()
    while not Path(go).exists():
        time.sleep(0.01)
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, selection=[sync_asset_key(sync)], instance=instance)
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    steps = {name: metadata[name].value for name in ("status", "rows_added", "rows_failed")}
    print(json.dumps({"step": steps, "booked": booked, "sent": sent}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
