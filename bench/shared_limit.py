"""One ChartMogul rate limit shared by several processes syncing one account.

Run: ``.venv/bin/python bench/shared_limit.py [--rows 250] [--slow-rows 60] [--skip-postgres]
[--skip-rate]``

An emulator on loopback enforces ChartMogul's limits (40 req/s per account, 20 in flight,
20 ms latency). Worker processes each run one customer sync of ``--rows`` new rows over
REST (``bulk: off``, one request per row), all against the same account, started together:

1. 4 processes, limiter shared through the machine-wide SQLite file (the default);
2. 2 processes, limiter shared through PostgreSQL (``state_store`` configured; a throw-away
   server is started), sync state in PostgreSQL as well;

each against a baseline of the same processes pacing alone (``scope: process``, as before
the shared limiter). Targets for the shared runs: combined ≤ 40 req/s, ≥ 0.9 x 40 req/s
used, 429s ≤ 1 % of requests; every row lands once.

Then the 20-connection cap: the same syncs (``--slow-rows`` rows each) against an emulator
answering in 1 s, so 40 req/s would put 40 requests on the wire at once. 4 processes
sharing the SQLite file and 2 sharing PostgreSQL, each with in-flight leases (the default)
against a baseline with the shared clock but a per-process cap (``share_in_flight:
false``). Targets with leases: peak in flight at the emulator ≤ 20, no 503; rows once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx
import yaml

RATE = 40.0
CONNECTIONS = 20
LATENCY_MS = 20.0
SLOW_LATENCY_MS = 1000.0


def _worker(project: str, sync: str, scope: str, go: str) -> None:
    """Child process: wait for ``go``, run one sync as the CLI does, print its figures."""
    from mogulsync.chartmogul import SharedLimit
    from mogulsync.config import load_config
    from mogulsync.sync.connect import client_settings
    from mogulsync.sync.engine import SyncEngine

    config = load_config(project)
    settings = client_settings(config)
    if scope == "process":  # the baseline: every process paces alone
        settings = settings.model_copy(update={"shared_limit": SharedLimit(scope="process")})
    elif scope == "own-cap":  # the connections baseline: shared clock, per-process cap
        shared = settings.shared_limit.model_copy(update={"share_in_flight": False})
        settings = settings.model_copy(update={"shared_limit": shared})
    engine = SyncEngine(config, settings=settings)
    Path(f"{go}.{sync}.ready").touch()
    while not Path(go).exists():
        time.sleep(0.005)
    started = time.time()
    record = asyncio.run(engine.run(sync))
    print(
        json.dumps(
            {
                "status": record.status.value,
                "added": record.rows.added,
                "failed": record.rows.failed,
                "started": started,
                "ended": time.time(),
            }
        )
    )


def _project(root: Path, base_url: str, syncs: int, rows: int, state_url: str | None) -> Path:
    # One DuckDB file per sync: DuckDB lets a single process open a file for writing.
    for index in range(syncs):
        db = duckdb.connect(str(root / f"w{index}.duckdb"))
        db.execute(
            f"create table accounts_{index} as select 'acct-{index}-' || i as id, 'Company ' || i as name from range({rows}) t(i)"
        )
        db.close()
    raw: dict[str, object] = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": base_url},
        "state_dir": str(root / "state"),
        "warehouses": {f"w{i}": f"duckdb:///{root}/w{i}.duckdb" for i in range(syncs)},
        "models": {
            f"m{i}": {"warehouse": f"w{i}", "table": f"accounts_{i}", "primary_key": "id"}
            for i in range(syncs)
        },
        "syncs": {
            f"s{i}": {
                "model": f"m{i}",
                "object": "customer",
                "data_source": f"Bench {i}",
                "bulk": "off",
                "mapping": {"external_id": "id", "name": "name"},
            }
            for i in range(syncs)
        },
    }
    if state_url:
        raw["state_store"] = {"url": "${STATE_URL}", "schema": f"bench_{int(time.time() * 1000)}"}
    path = root / "mogulsync.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _round(
    processes: int,
    rows: int,
    scope: str,
    state_url: str | None,
    latency_ms: float = LATENCY_MS,
) -> dict[str, float]:
    from mogulsync.emulator.server import EmulatorServer
    from mogulsync.emulator.settings import EmulatorSettings, Limits

    limits = Limits(rate_limit=RATE, max_connections=CONNECTIONS, latency_ms=latency_ms)
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorServer(EmulatorSettings(limits=limits)) as server,
    ):
        root = Path(tmp)
        project = _project(root, server.base_url, processes, rows, state_url)
        go = root / "go"
        env = {
            **os.environ,
            "CM_KEY": server.api_key,
            "MOGULSYNC_RATE_LIMIT_FILE": str(root / "pace.sqlite"),
        }
        if state_url:
            env["STATE_URL"] = state_url
        workers = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", str(project), f"s{i}", scope, str(go)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in range(processes)
        ]
        while not all(Path(f"{go}.s{i}.ready").exists() for i in range(processes)):
            time.sleep(0.05)  # every worker has imported and waits for the go file
        server.emulator.stats.reset()
        go.touch()
        results = []
        for worker in workers:
            out, _ = worker.communicate(timeout=900)
            results.append(json.loads(out.strip().splitlines()[-1]))
        stats = server.emulator.stats
        with httpx.Client(
            base_url=f"{server.base_url}/v1", auth=(server.api_key, ""), timeout=30
        ) as api:
            landed = 0
            cursor = None
            while True:
                params = {"per_page": 200, **({"cursor": cursor} if cursor else {})}
                body = api.get("/customers", params=params).raise_for_status().json()
                landed += len(body["entries"])
                if not body.get("has_more"):
                    break
                cursor = body["cursor"]
        start = min(r["started"] for r in results)
        end = max(r["ended"] for r in results)
        requests = stats.requests_total
        return {
            "processes": processes,
            "requests": requests,
            "seconds": end - start,
            "rps": requests / (end - start),
            "accepted_rps": (requests - stats.rate_limited) / (end - start),
            "429s": stats.rate_limited,
            "429_share": stats.rate_limited / max(requests, 1),
            "503s": stats.concurrency_rejected,
            "peak": stats.peak_concurrency,
            "rows_landed": landed,
            "rows_expected": processes * rows,
            "runs_ok": sum(r["status"] == "success" for r in results),
        }


def _print(rows: list[tuple[str, dict[str, float]]]) -> None:
    header = (
        "run",
        "procs",
        "requests",
        "seconds",
        "req/s sent",
        "req/s accepted",
        "429s",
        "429 %",
        "503s",
        "peak in flight",
        "rows landed/expected",
    )
    lines = [header]
    for name, r in rows:
        lines.append(
            (
                name,
                f"{r['processes']:.0f}",
                f"{r['requests']:.0f}",
                f"{r['seconds']:.1f}",
                f"{r['rps']:.1f}",
                f"{r['accepted_rps']:.1f}",
                f"{r['429s']:.0f}",
                f"{100 * r['429_share']:.2f}",
                f"{r['503s']:.0f}",
                f"{r['peak']:.0f}",
                f"{r['rows_landed']:.0f}/{r['rows_expected']:.0f}",
            )
        )
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    for index, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def _verdict(name: str, r: dict[str, float]) -> str:
    ok = (
        r["accepted_rps"] <= RATE * 1.02
        and r["accepted_rps"] >= 0.9 * RATE
        and r["429_share"] <= 0.01
        and r["rows_landed"] == r["rows_expected"]
    )
    return f"{name}: {'met' if ok else 'MISSED'} (≤ {RATE:g} req/s, ≥ {0.9 * RATE:g} req/s, 429s ≤ 1 %, rows once)"


def _cap_verdict(name: str, r: dict[str, float]) -> str:
    ok = r["peak"] <= CONNECTIONS and r["503s"] == 0 and r["rows_landed"] == r["rows_expected"]
    return (
        f"{name}: {'met' if ok else 'MISSED'} (peak in flight ≤ {CONNECTIONS}, no 503, rows once)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250, help="rows per sync (one request each)")
    parser.add_argument("--slow-rows", type=int, default=60, help="rows per sync at 1 s latency")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-rate", action="store_true", help="only the connection rounds")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    rate: list[tuple[str, dict[str, float]]] = []
    caps: list[tuple[str, dict[str, float]]] = []
    slow = SLOW_LATENCY_MS
    if not args.skip_rate:
        print(
            f"4 processes x {args.rows} rows, SQLite-shared limiter vs pacing alone ...", flush=True
        )
        rate.append(("machine (SQLite file)", _round(4, args.rows, "machine", None)))
        rate.append(("baseline: each alone", _round(4, args.rows, "process", None)))
    print(f"4 processes x {args.slow_rows} rows at {slow:g} ms: leases vs own cap ...", flush=True)
    caps.append(("machine, leases", _round(4, args.slow_rows, "machine", None, slow)))
    caps.append(("baseline: own cap", _round(4, args.slow_rows, "own-cap", None, slow)))
    if not args.skip_postgres:
        from mogulsync.testing import PostgresServer

        with PostgresServer() as pg:
            if not args.skip_rate:
                print(
                    f"2 processes x {args.rows} rows, PostgreSQL-shared limiter vs pacing alone ...",
                    flush=True,
                )
                rate.append(("postgres (state_store)", _round(2, args.rows, "machine", pg.url)))
                rate.append(("baseline: each alone", _round(2, args.rows, "process", pg.url)))
            print(f"2 processes x {args.slow_rows} rows at {slow:g} ms, PostgreSQL ...", flush=True)
            caps.append(("postgres, leases", _round(2, args.slow_rows, "machine", pg.url, slow)))
            caps.append(("baseline: own cap", _round(2, args.slow_rows, "own-cap", pg.url, slow)))
    if rate:
        print(f"\nrequest rate ({LATENCY_MS:g} ms latency):")
        _print(rate)
        print(_verdict("SQLite-shared", rate[0][1]))
        if len(rate) > 2:
            print(_verdict("PostgreSQL-shared", rate[2][1]))
    print(f"\nin-flight cap ({slow:g} ms latency):")
    _print(caps)
    print(_cap_verdict("SQLite leases", caps[0][1]))
    if len(caps) > 2:
        print(_cap_verdict("PostgreSQL leases", caps[2][1]))


if __name__ == "__main__":
    main()
