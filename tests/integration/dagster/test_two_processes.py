"""Two Dagster materializations of one account in two processes share its request budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml
from tests.integration.chartmogul._pacing_probe import assert_paced_by_one_clock
from tests.integration.sync._support import all_pages, api

from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits

WORKER = Path(__file__).parent / "_materialize_worker.py"
REPOSITORY = Path(__file__).parents[3]  # the worker imports the pacing probe from tests/
RATE = 40.0
ROWS = 50


def _project(root: Path, base_url: str) -> Path:
    # One DuckDB file for both: nothing writes to it, so each process opens it read-only,
    # which DuckDB allows many processes to do at once.
    db = duckdb.connect(str(root / "warehouse.duckdb"))
    for name in ("east", "west"):
        db.execute(
            f"create table {name} as select '{name}-' || i as id, 'Co ' || i as name"
            f" from range({ROWS}) t(i)"
        )
    db.close()
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": base_url},
        "warehouses": {"main": f"duckdb:///{root / 'warehouse.duckdb'}"},
        "models": {
            name: {"warehouse": "main", "table": name, "primary_key": "id"}
            for name in ("east", "west")
        },
        "syncs": {
            name: {
                "model": name, "object": "customer", "data_source": name, "bulk": "off",
                "mapping": {"external_id": "id", "name": "name"},
            }
            for name in ("east", "west")
        },
    }  # fmt: skip
    path = root / "mogulsync.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.timeout(240)
def test_two_materializations_one_account(tmp_path):
    """Different syncs of one DuckDB file, separate processes, at once: they book every request
    from one clock (so together they keep to 40 req/s), any 429 is retried, every row lands
    once."""
    limits = Limits(rate_limit=RATE, max_connections=20)
    with EmulatorServer(EmulatorSettings(limits=limits)) as server:
        project = _project(tmp_path, server.base_url)
        go = tmp_path / "go"
        env = {
            **os.environ,
            "CM_KEY": server.api_key,
            # this test's own file: no other test's traffic shares the clock
            "MOGULSYNC_RATE_LIMIT_FILE": str(tmp_path / "pace.sqlite"),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])
            ),
        }
        workers = {
            name: subprocess.Popen(
                [sys.executable, str(WORKER), str(project), name, str(go)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=tmp_path,
            )
            for name in ("east", "west")
        }
        while not all(Path(f"{go}.{name}.ready").exists() for name in workers):
            assert all(w.poll() is None for w in workers.values()), "a worker died while loading"
            time.sleep(0.05)
        go.touch()
        results = {}
        for name, worker in workers.items():
            out, _ = worker.communicate(timeout=200)
            assert worker.returncode == 0
            results[name] = json.loads(out.strip().splitlines()[-1])
        stats = server.emulator.stats
        assert {name: result["step"] for name, result in results.items()} == {
            name: {"status": "success", "rows_added": ROWS, "rows_failed": 0}
            for name in ("east", "west")
        }
        assert stats.requests_total >= 2 * ROWS
        # a 429 (arrivals bunched by a busy machine) is retried; nothing else went wrong
        assert set(stats.by_status) <= {200, 201, 429}, stats.snapshot({})
        assert_paced_by_one_clock(list(results.values()), stats.requests_total, 1 / RATE)
        with api(server) as client:
            ids = [c["external_id"] for c in all_pages(client, "/customers", "entries")]
        assert len(ids) == len(set(ids)) == 2 * ROWS
