"""Extract speed: Airbyte's source-chartmogul 1.0.13 against ours, on the same emulator data.

Run: ``.venv/bin/python bench/extract_vs_airbyte.py [--customers 20000] [--skip-load]``

1. Installs ``airbyte-source-chartmogul==1.0.13`` into its own Python 3.10 virtualenv
   (``~/.cache/mogulsync-bench/airbyte-venv``; it does not run on 3.11) unless present.
2. Starts an emulator in this process and bulk-imports ``--customers`` customers, each with
   one invoice of three subscriptions starting ten days apart: three activities each
   (new business, then two expansions), so 20,000 customers give 60,000 activities.
3. Switches on ChartMogul's limits (40 req/s, 20 in flight) plus 50 ms latency.
4. Runs Airbyte's connector through a small wrapper that only points its manifest's
   ``url_base`` at the emulator, reading its six streams (full refresh).
5. Runs ``python -m mogulsync.extract read`` (the lean entry point of ``mogulsync airbyte``)
   with the same config and catalog (same output), then
   ``mogulsync extract run`` of the matching streams into DuckDB (fetch and load).
6. Prints per-stream record counts (they must match on Airbyte's streams) and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from pydantic import SecretStr

from mogulsync.chartmogul import (
    ChartMogulClient,
    ClientSettings,
    CustomerFields,
    JsonImportInvoice,
    JsonImportLineItem,
    NewJsonImport,
    PlanFields,
)
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits

AIRBYTE_PACKAGE = "airbyte-source-chartmogul==1.0.13"
PYTHON_310 = Path.home() / ".pyenv/versions/3.10.13/bin/python"
DEFAULT_VENV = Path.home() / ".cache/mogulsync-bench/airbyte-venv"
AIRBYTE_STREAMS = (
    "customers",
    "activities",
    "customer_daily_count",
    "customer_weekly_count",
    "customer_monthly_count",
    "customer_quarterly_count",
)
START = dt.date(2023, 1, 1)
START_DATE = "2023-01-01T00:00:00Z"
SPREAD_DAYS = 700
STEP_DAYS = 10
SUBSCRIPTIONS_PER_CUSTOMER = 3
BATCH = 1000
PLANS = 5
RATE_LIMIT = 40.0
MAX_CONNECTIONS = 20
LATENCY_MS = 50.0
TARGET_RATIO = 2.0

#: Run by the Python 3.10 interpreter of the Airbyte venv. Only ``url_base`` changes: the
#: manifest hard-codes https://api.chartmogul.com, and its spec accepts extra config keys.
WRAPPER = """
import pkgutil, sys
import yaml
from airbyte_cdk.entrypoint import launch
from airbyte_cdk.sources.declarative.manifest_declarative_source import (
    ManifestDeclarativeSource,
)

text = pkgutil.get_data("source_chartmogul", "manifest.yaml").decode()
original = "url_base: https://api.chartmogul.com"
assert original in text, "manifest layout changed"
patched = text.replace(original, 'url_base: "{{ config[\\'base_url\\'] }}"')
launch(ManifestDeclarativeSource(source_config=yaml.safe_load(patched)), sys.argv[1:])
"""


def ensure_airbyte(venv: Path) -> Path:
    """The venv's python with Airbyte's connector installed (installs it when missing)."""
    python = venv / "bin/python"
    probe = [str(python), "-c", "import source_chartmogul"]
    if python.exists() and subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return python
    print(f"installing {AIRBYTE_PACKAGE} into {venv} ...", flush=True)
    subprocess.run([str(PYTHON_310), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", AIRBYTE_PACKAGE], check=True)
    return python


def _batch(first: int, count: int) -> NewJsonImport:
    customers, invoices, lines = [], [], []
    for index in range(first, first + count):
        key = f"cus-{index:06d}"
        day = START + dt.timedelta(days=index % SPREAD_DAYS)
        customers.append(CustomerFields(external_id=key, name=f"Customer {index}"))
        invoices.append(
            JsonImportInvoice(
                external_id=f"inv-{key}", customer_external_id=key, date=day, currency="USD"
            )
        )
        for number in range(SUBSCRIPTIONS_PER_CUSTOMER):
            begins = day + dt.timedelta(days=STEP_DAYS * number)
            lines.append(
                JsonImportLineItem(
                    invoice_external_id=f"inv-{key}",
                    type="subscription",
                    amount_in_cents=1000 * (number + 1),
                    plan_external_id=f"plan-{index % PLANS}",
                    subscription_external_id=f"sub-{key}-{number}",
                    service_period_start=begins,
                    service_period_end=begins + dt.timedelta(days=30),
                )
            )
    plans = [
        PlanFields(
            name=f"Plan {n}", external_id=f"plan-{n}", interval_count=1, interval_unit="month"
        )
        for n in range(PLANS)
    ]
    return NewJsonImport(
        external_id=f"bench-{first}",
        customers=customers,
        plans=plans if first == 0 else None,
        invoices=invoices,
        line_items=lines,
    )


async def load_data(server: EmulatorServer, customers: int) -> None:
    """Bulk-import the benchmark's customers through our client."""
    settings = ClientSettings(
        api_key=SecretStr(server.api_key), base_url=server.base_url, rate_limit=1000
    )
    async with ChartMogulClient(settings) as client:
        source = await client.data_sources.create("Benchmark")
        for first in range(0, customers, BATCH):
            created = await client.json_imports.create(
                source.uuid, _batch(first, min(BATCH, customers - first))
            )
            done = await client.json_imports.wait(source.uuid, created.id, timeout_s=3600)
            if done.status != "completed":
                raise RuntimeError(f"import {first} ended {done.status}")
        # Let the emulator compute activities now, so neither contender pays for it.
        await client.activities.list(per_page=1).pages().__anext__()


def count_records(stdout: str) -> Counter[str]:
    """RECORD messages per stream in Airbyte protocol output."""
    counts: Counter[str] = Counter()
    for line in stdout.splitlines():
        if line.startswith('{"type":"RECORD"') or '"type": "RECORD"' in line[:30]:
            counts[json.loads(line)["record"]["stream"]] += 1
    return counts


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall time and stdout of a command that must succeed."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stdout


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--airbyte-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--skip-load", action="store_true", help="skip the DuckDB extract run")
    args = parser.parse_args()
    airbyte_python = ensure_airbyte(args.airbyte_venv)
    work = Path(tempfile.mkdtemp(prefix="mogulsync-bench-"))
    (work / "wrapper.py").write_text(WRAPPER, encoding="utf-8")
    settings = EmulatorSettings(limits=Limits(rate_limit=0, max_connections=0))
    with EmulatorServer(settings) as server:
        started = time.perf_counter()
        asyncio.run(load_data(server, args.customers))
        print(f"loaded {args.customers} customers in {time.perf_counter() - started:.1f} s")
        limits = {"rate_limit": RATE_LIMIT, "max_connections": MAX_CONNECTIONS}
        limits["latency_ms"] = LATENCY_MS
        httpx.patch(f"{server.base_url}/_emulator/limits", json=limits).raise_for_status()
        config = {"api_key": server.api_key, "start_date": START_DATE, "base_url": server.base_url}
        (work / "config.json").write_text(json.dumps(config), encoding="utf-8")
        catalog = {
            "streams": [
                {
                    "stream": {
                        "name": name,
                        "json_schema": {},
                        "supported_sync_modes": ["full_refresh"],
                    },
                    "sync_mode": "full_refresh",
                    "destination_sync_mode": "overwrite",
                }
                for name in AIRBYTE_STREAMS
            ]
        }
        (work / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
        files = ["--config", str(work / "config.json"), "--catalog", str(work / "catalog.json")]

        airbyte_s, airbyte_out = timed(
            [str(airbyte_python), str(work / "wrapper.py"), "read", *files]
        )
        print(f"airbyte read: {airbyte_s:.1f} s", flush=True)
        ours_s, ours_out = timed([sys.executable, "-m", "mogulsync.extract", "read", *files])
        print(f"mogulsync airbyte read: {ours_s:.1f} s", flush=True)
        load_s = None if args.skip_load else _extract_run(server, work)
    theirs, ours = count_records(airbyte_out), count_records(ours_out)
    _report(theirs, ours, airbyte_s, ours_s, load_s)


def _extract_run(server: EmulatorServer, work: Path) -> float:
    (work / "mogulsync.yml").write_text(
        "chartmogul:\n  api_key: ${BENCH_KEY}\n"
        f"  base_url: {server.base_url}\n"
        f"state_dir: {work / 'state'}\n",
        encoding="utf-8",
    )
    command = [
        sys.executable,
        "-m",
        "mogulsync",
        "extract",
        "run",
        "-c",
        str(work / "mogulsync.yml"),
    ]
    command += ["--streams", "customers,activities,customer_count", "--mode", "overwrite"]
    command += ["--start-date", START.isoformat(), "--json"]
    command += ["--destination", f"duckdb:///{work / 'bench.duckdb'}"]
    elapsed, out = timed(command, env={**os.environ, "BENCH_KEY": server.api_key})
    report = json.loads(out)
    counts = {name: value["records"] for name, value in report["streams"].items()}
    print(f"mogulsync extract run (DuckDB): {elapsed:.1f} s, records {counts}")
    print(f"  fetch {report['fetch_s']} s, load {report['load_s']} s")
    return elapsed


def _report(
    theirs: Counter[str], ours: Counter[str], airbyte_s: float, ours_s: float, load_s: float | None
) -> None:
    print()
    print(f"{'stream':<26}{'airbyte':>10}{'mogulsync':>11}  match")
    mismatches = 0
    for name in AIRBYTE_STREAMS:
        same = theirs[name] == ours[name]
        mismatches += not same
        print(f"{name:<26}{theirs[name]:>10}{ours[name]:>11}  {'yes' if same else 'NO'}")
    print()
    print(f"Airbyte source-chartmogul 1.0.13 read:  {airbyte_s:8.1f} s  (baseline 1.00)")
    ratio = airbyte_s / ours_s
    print(f"mogulsync airbyte read (same streams):  {ours_s:8.1f} s  ({ratio:.2f}x faster)")
    if load_s is not None:
        print(
            f"mogulsync extract run into DuckDB:      {load_s:8.1f} s  "
            f"({airbyte_s / load_s:.2f}x faster, including the load)"
        )
    verdict = "met" if ratio >= TARGET_RATIO and not mismatches else "NOT met"
    print(f"target: >= {TARGET_RATIO:.0f}x and equal counts: {verdict}")
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
