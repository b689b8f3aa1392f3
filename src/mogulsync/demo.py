"""``make demo`` (``python -m mogulsync.demo`` from a pip install): the emulator, a sample
DuckDB warehouse and real reverse-ETL runs.

Everything goes through the same command line a user runs (``python -m mogulsync ...`` in a
subprocess): ``check``, ``sync plan``, ``sync run --all`` twice (the second sends nothing),
a few warehouse edits and a run that sends only them, then the MRR and activities the
emulator computed from what was synced. No credentials needed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
from pydantic import SecretStr
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, SharedLimit
from mogulsync.chartmogul.shared_pacing import DEFAULT_FILE_ENV
from mogulsync.emulator.server import EmulatorServer
from mogulsync.sample_warehouse import START, build_sample_warehouse

#: the example project, inside the package so a pip-installed demo finds it (no checkout)
EXAMPLE = Path(__file__).resolve().parent / "examples" / "mogulsync.yml"
SHOWN_ACTIVITIES = 8
#: terminal width for the CLI's tables when the demo's output is not a terminal
DEMO_COLUMNS = 120


def _cli(console: Console, workdir: Path, env: dict[str, str], *args: str) -> int:
    console.print(Rule(f"$ mogulsync {' '.join(args)}", style="cyan"))
    completed = subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "mogulsync", *args], cwd=workdir, env=env, check=False
    )
    console.print(f"[dim](exit code {completed.returncode})[/dim]")
    return completed.returncode


def _last_run(workdir: Path, env: dict[str, str]) -> str:
    listing = subprocess.run(
        [sys.executable, "-m", "mogulsync", "runs", "list", "--json", "--limit", "1"],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return str(json.loads(listing.stdout.splitlines()[0])["run_id"])


def _edit_warehouse(workdir: Path, console: Console) -> None:
    db = duckdb.connect(str(workdir / "warehouse.duckdb"))
    try:
        db.execute(
            "UPDATE accounts SET company_name = company_name || ' Ltd', seats = seats + 10"
            " WHERE id IN ('acct-001', 'acct-002', 'acct-003')"
        )
        db.execute(
            "INSERT INTO accounts VALUES ('acct-031', 'Newcomer Inc', 'ap@newcomer.example',"
            " 'US', 4, 1200.00, false, '2025-06-01')"
        )
    finally:
        db.close()
    console.print(
        "Edited the warehouse: renamed 3 accounts (+10 seats each) and added 1 new account."
    )


async def _report(server: EmulatorServer, console: Console, pacing: Path) -> None:
    settings = ClientSettings(
        api_key=SecretStr(server.api_key),
        base_url=server.base_url,
        shared_limit=SharedLimit(file=str(pacing)),  # the demo's own clock (see main)
    )
    async with ChartMogulClient(settings) as client:
        mrr = await client.metrics.mrr(START, dt.date(2025, 7, 1), interval="month")
        table = Table(title="MRR the emulator computed from the synced invoices")
        for column in ("month", "MRR", "new business", "expansion", "churn"):
            table.add_column(column, justify="right")
        for entry in mrr.entries:
            values = [
                entry.value(k) or 0 for k in ("mrr-new-business", "mrr-expansion", "mrr-churn")
            ]
            table.add_row(
                str(entry.date), *(f"${(v or 0) / 100:,.2f}" for v in (entry.mrr, *values))
            )
        console.print(table)
        activities = Table(title="Latest activities")
        for column in ("date", "customer", "type", "MRR movement"):
            activities.add_column(column)
        shown = 0
        async for activity in client.activities.list(order="-date"):
            activities.add_row(
                activity.date.date().isoformat() if activity.date else "",
                activity.customer_name or "",
                activity.type or "",
                f"${(activity.activity_mrr_movement or 0) / 100:,.2f}",
            )
            shown += 1
            if shown == SHOWN_ACTIVITIES:
                break
        console.print(activities)


def main() -> None:
    """Entry point of ``make demo`` and ``python -m mogulsync.demo``."""
    console = Console()
    if not console.is_terminal:  # piped or captured: 80 columns would squeeze the tables
        console = Console(width=DEMO_COLUMNS)
    workdir = Path(tempfile.mkdtemp(prefix="mogulsync-demo-"))
    try:
        with EmulatorServer() as server:  # ChartMogul's real limits: 40 req/s, 20 in flight
            console.print(f"Emulator at {server.base_url}/v1; project in {workdir}")
            build_sample_warehouse(workdir / "warehouse.duckdb")
            shutil.copy(EXAMPLE, workdir / "mogulsync.yml")
            env = {
                **os.environ,
                "CHARTMOGUL_API_KEY": server.api_key,
                "CHARTMOGUL_BASE_URL": server.base_url,
                "COLUMNS": str(console.width),  # the CLI's tables use the demo's width
                # the demo's processes pace from a clock of their own, removed with the folder:
                # its emulator account is nobody else's, and the machine-wide one is left as it was
                DEFAULT_FILE_ENV: str(workdir / "rate-limit.sqlite"),
            }
            steps = [
                ("check",),
                ("sync", "plan", "customers"),
                ("sync", "run", "--all"),
            ]
            for step in steps:
                _cli(console, workdir, env, *step)
            console.print("Second run: nothing changed in the warehouse, so nothing is sent.")
            _cli(console, workdir, env, "sync", "run", "--all")
            _edit_warehouse(workdir, console)
            _cli(console, workdir, env, "sync", "plan", "customers")
            _cli(console, workdir, env, "sync", "run", "customers")
            console.print(
                "Only the 4 edited rows were sent; the run's request log shows each call:"
            )
            _cli(console, workdir, env, "runs", "show", _last_run(workdir, env), "--requests")
            _cli(console, workdir, env, "runs", "list", "--limit", "8")
            console.print(
                "Does ChartMogul really match the warehouse? Reconcile reads both and compares"
                " them field by field (exit 0: nothing differs):"
            )
            _cli(console, workdir, env, "reconcile", "customers")
            asyncio.run(_report(server, console, workdir / "rate-limit.sqlite"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
