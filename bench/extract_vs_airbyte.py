"""Extract speed: Airbyte's source-chartmogul 1.0.13 against ours, at several account sizes.

Run: ``.venv/bin/python bench/extract_vs_airbyte.py [--customers 0,2000,20000] [--repeat 1]``

1. Installs ``airbyte-source-chartmogul==1.0.13`` into its own Python 3.10 virtualenv
   (``~/.cache/mogulsync-bench/airbyte-venv``; it does not run on 3.11) unless present.
   Both environments get compiled bytecode first, as ``pip install`` leaves it: a venv made
   by ``uv pip install`` has none, and with ``PYTHONDONTWRITEBYTECODE=1`` every run would
   compile ~1,300 modules again (seconds of CPU that no installed copy pays).
2. Per scale (``--customers``, a comma list): starts an emulator in this process and
   bulk-imports that many customers, each with one invoice of three subscriptions starting
   ten days apart: three activities each, so 20,000 customers give 60,000 activities
   (0: an empty account, one data source).
3. Switches on ChartMogul's limits (40 req/s, 20 in flight) plus 50 ms latency.
4. Runs Airbyte's connector through a small wrapper that only points its manifest's
   ``url_base`` at the emulator, reading its six streams (full refresh); then
   ``python -m mogulsync.extract read`` (our Airbyte source, same config and catalog);
   then ``mogulsync extract run`` of the matching streams (``customers, activities,
   customer_count`` by month) into a new DuckDB file, fetch and load included.
5. Checks the record counts: our Airbyte source against Airbyte's on all six streams,
   the DuckDB tables of ``extract run`` against Airbyte's customers, activities and monthly
   counts. Prints, per scale, the times and ratios, and the fixed overhead: the wall time of
   ``extract run`` on the empty account (measured even when 0 is not in the list).

Every command's wall time and CPU time (user + system, from ``getrusage``) are recorded:
on the shared machine wall times stretch with its load, CPU times do not.
``--repeat N`` runs every contender N times per scale and keeps the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
from pydantic import SecretStr

import mogulsync
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


def full_refresh_catalog(names: tuple[str, ...] = AIRBYTE_STREAMS) -> dict[str, Any]:
    """A configured catalog reading ``names`` in full refresh (what both sources are given)."""
    return {
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
            for name in names
        ]
    }


#: DuckDB table of ``extract run`` → the Airbyte stream with the same records
EXTRACT_TABLES = {
    "customers": "customers",
    "activities": "activities",
    "customer_count": "customer_monthly_count",
}
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
TARGET_RATIO = 3.0
TARGET_OVERHEAD_S = 1.5

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


def compile_bytecode(airbyte_python: Path) -> None:
    """Compiled bytecode for both environments, as ``pip install`` would have left it."""
    started = time.perf_counter()
    ours = [Path(sysconfig.get_paths()["purelib"]), Path(mogulsync.__file__).parent]
    for path in ours:
        compileall.compile_dir(path, quiet=1, workers=0)
    site = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    theirs = subprocess.run(
        [str(airbyte_python), "-c", site], check=True, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(
        [str(airbyte_python), "-m", "compileall", "-q", "-j", "0", theirs],
        check=False,
        capture_output=True,
    )
    print(f"bytecode compiled for both environments in {time.perf_counter() - started:.1f} s")


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


@dataclass(frozen=True)
class Timing:
    """Wall time and CPU time (user + system) of one command."""

    wall_s: float
    cpu_s: float


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[Timing, str]:
    """Wall and CPU time and stdout of a command that must succeed.

    CPU time does not depend on how busy the shared machine is; wall time does.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return Timing(elapsed, cpu), done.stdout


@dataclass
class ScaleResult:
    """Times (median of the repeats) and record counts at one scale."""

    customers: int
    airbyte_s: float = 0.0
    protocol_s: float = 0.0
    extract_s: float = 0.0
    airbyte_cpu_s: float = 0.0
    protocol_cpu_s: float = 0.0
    extract_cpu_s: float = 0.0
    extract_fetch_s: float = 0.0
    extract_load_s: float = 0.0
    airbyte_counts: Counter[str] = field(default_factory=Counter)
    protocol_counts: Counter[str] = field(default_factory=Counter)
    table_counts: dict[str, int] = field(default_factory=dict)

    def mismatches(self) -> list[str]:
        """Streams whose record counts differ from Airbyte's."""
        wrong = [
            f"{name}: airbyte {self.airbyte_counts[name]}, ours {self.protocol_counts[name]}"
            for name in AIRBYTE_STREAMS
            if self.airbyte_counts[name] != self.protocol_counts[name]
        ]
        wrong += [
            f"extract run {table}: {self.table_counts.get(table)}, airbyte {stream} "
            f"{self.airbyte_counts[stream]}"
            for table, stream in EXTRACT_TABLES.items()
            if self.table_counts.get(table, 0) != self.airbyte_counts[stream]
        ]
        return wrong


class Contenders:
    """The three commands, run against one emulator from one working directory."""

    def __init__(self, airbyte_python: Path, server: EmulatorServer, work: Path) -> None:
        self.airbyte_python = airbyte_python
        self.server = server
        self.work = work
        self.runs = 0
        work.mkdir(parents=True, exist_ok=True)
        (work / "wrapper.py").write_text(WRAPPER, encoding="utf-8")
        config = {"api_key": server.api_key, "start_date": START_DATE, "base_url": server.base_url}
        (work / "config.json").write_text(json.dumps(config), encoding="utf-8")
        catalog = full_refresh_catalog()
        (work / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
        (work / "mogulsync.yml").write_text(
            "chartmogul:\n  api_key: ${BENCH_KEY}\n"
            f"  base_url: {server.base_url}\n"
            f"state_dir: {work / 'state'}\n",
            encoding="utf-8",
        )
        self.files = [
            "--config",
            str(work / "config.json"),
            "--catalog",
            str(work / "catalog.json"),
        ]

    def airbyte(self) -> tuple[Timing, Counter[str]]:
        """Airbyte's connector reading its six streams."""
        command = [str(self.airbyte_python), str(self.work / "wrapper.py"), "read", *self.files]
        timing, out = timed(command)
        return timing, count_records(out)

    def protocol_read(self) -> tuple[Timing, Counter[str]]:
        """Our Airbyte source (lean entry point), same config and catalog."""
        command = [sys.executable, "-m", "mogulsync.extract", "read", *self.files]
        timing, out = timed(command)
        return timing, count_records(out)

    def extract_run(self) -> tuple[Timing, dict[str, object], dict[str, int]]:
        """``mogulsync extract run`` into a new DuckDB file: times, report, row counts."""
        self.runs += 1
        database = self.work / f"run{self.runs}.duckdb"
        command = [sys.executable, "-m", "mogulsync", "extract", "run"]
        command += ["-c", str(self.work / "mogulsync.yml"), "--mode", "overwrite", "--json"]
        command += ["--streams", ",".join(EXTRACT_TABLES), "--interval", "month"]
        command += ["--start-date", START.isoformat(), "--destination", f"duckdb:///{database}"]
        env = {**os.environ, "BENCH_KEY": self.server.api_key}
        timing, out = timed(command, env=env)
        return timing, json.loads(out), table_counts(database)


def table_counts(database: Path) -> dict[str, int]:
    """Rows per extracted table in a DuckDB file (0 for a table never created)."""
    counts: dict[str, int] = {}
    with duckdb.connect(str(database), read_only=True) as connection:
        present = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'chartmogul'"
            ).fetchall()
        }
        for table in EXTRACT_TABLES:
            if table not in present:
                counts[table] = 0
                continue
            row = connection.execute(f"SELECT count(*) FROM chartmogul.{table}").fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


def measure(
    airbyte_python: Path, customers: int, repeat: int, work: Path, *, ours_only: bool = False
) -> ScaleResult:
    """Load an emulator with ``customers`` and time the contenders ``repeat`` times each."""
    result = ScaleResult(customers)
    settings = EmulatorSettings(limits=Limits(rate_limit=0, max_connections=0))
    with EmulatorServer(settings) as server:
        started = time.perf_counter()
        asyncio.run(load_data(server, customers))
        print(f"[{customers}] loaded in {time.perf_counter() - started:.1f} s", flush=True)
        limits = {"rate_limit": RATE_LIMIT, "max_connections": MAX_CONNECTIONS}
        limits["latency_ms"] = LATENCY_MS
        httpx.patch(f"{server.base_url}/_emulator/limits", json=limits).raise_for_status()
        contenders = Contenders(airbyte_python, server, work / f"scale-{customers}")
        airbyte: list[Timing] = []
        protocol: list[Timing] = []
        extract: list[Timing] = []
        fetch, load = [], []
        for _ in range(repeat):
            # interleaved, so a busy moment of the machine does not fall on one contender only
            if not ours_only:
                timing, result.airbyte_counts = contenders.airbyte()
                airbyte.append(timing)
                timing, result.protocol_counts = contenders.protocol_read()
                protocol.append(timing)
            timing, report, result.table_counts = contenders.extract_run()
            extract.append(timing)
            fetch.append(float(report["fetch_s"]))  # type: ignore[arg-type]
            load.append(float(report["load_s"]))  # type: ignore[arg-type]
            print(f"[{customers}] " + ", ".join(_last(airbyte, protocol, extract)), flush=True)
    if not ours_only:
        result.airbyte_s, result.airbyte_cpu_s = _medians(airbyte)
        result.protocol_s, result.protocol_cpu_s = _medians(protocol)
    result.extract_s, result.extract_cpu_s = _medians(extract)
    result.extract_fetch_s = statistics.median(fetch)
    result.extract_load_s = statistics.median(load)
    return result


def _medians(timings: list[Timing]) -> tuple[float, float]:
    return (
        statistics.median(t.wall_s for t in timings),
        statistics.median(t.cpu_s for t in timings),
    )


def _last(*series: list[Timing]) -> list[str]:
    names = ("airbyte", "protocol read", "extract run")
    return [
        f"{name} {runs[-1].wall_s:.2f} s ({runs[-1].cpu_s:.2f} s CPU)"
        for name, runs in zip(names, series, strict=True)
        if runs
    ]


def main() -> None:
    """Run the comparison at every scale and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--customers",
        default="0,2000,20000",
        help="comma-separated account sizes (customers), e.g. 0,2000,20000",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (median)")
    parser.add_argument("--airbyte-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    scales = [int(part) for part in args.customers.split(",") if part.strip()]
    airbyte_python = ensure_airbyte(args.airbyte_venv)
    compile_bytecode(airbyte_python)
    work = Path(tempfile.mkdtemp(prefix="mogulsync-bench-"))
    results = [measure(airbyte_python, n, max(1, args.repeat), work) for n in scales]
    empty = next((r for r in results if r.customers == 0), None)
    if empty is None:
        empty = measure(airbyte_python, 0, max(1, args.repeat), work, ours_only=True)
    sys.exit(report(results, empty))


def report(results: list[ScaleResult], empty: ScaleResult) -> int:
    """Print counts and times per scale; 1 when a count differs, else 0."""
    mismatches = 0
    for result in results:
        wrong = result.mismatches()
        mismatches += len(wrong)
        counts = ", ".join(f"{name} {result.airbyte_counts[name]}" for name in AIRBYTE_STREAMS)
        print(f"\n[{result.customers} customers] Airbyte records: {counts}")
        print(f"  extract run tables: {result.table_counts}")
        print("  counts: " + ("all equal" if not wrong else "DIFFER: " + "; ".join(wrong)))
    print()
    print("wall time (median)")
    header = (
        f"{'customers':>9}  {'Airbyte read':>12}  {'extract run':>11}  {'ratio':>6}"
        f"  {'(fetch / load)':>15}  {'protocol read':>13}  {'ratio':>6}"
    )
    print(header)
    worst = float("inf")
    for r in results:
        ratio = r.airbyte_s / r.extract_s
        worst = min(worst, ratio)
        split = f"{r.extract_fetch_s:.1f} / {r.extract_load_s:.1f}"
        print(
            f"{r.customers:>9}  {r.airbyte_s:>10.2f} s  {r.extract_s:>9.2f} s  {ratio:>5.2f}x"
            f"  {split:>15}  {r.protocol_s:>11.2f} s  {r.airbyte_s / r.protocol_s:>5.2f}x"
        )
    print("\nCPU time, user + system (median; does not depend on the machine's load)")
    print(f"{'customers':>9}  {'Airbyte read':>12}  {'extract run':>11}  {'ratio':>6}")
    for r in results:
        print(
            f"{r.customers:>9}  {r.airbyte_cpu_s:>10.2f} s  {r.extract_cpu_s:>9.2f} s"
            f"  {r.airbyte_cpu_s / r.extract_cpu_s:>5.2f}x"
        )
    overhead_s = empty.extract_s
    verdict = "met" if overhead_s <= TARGET_OVERHEAD_S else "NOT met"
    print(
        f"\nfixed overhead (extract run, empty account): {overhead_s:.2f} s wall,"
        f" {empty.extract_cpu_s:.2f} s CPU (target <= {TARGET_OVERHEAD_S} s wall: {verdict})"
    )
    met = worst >= TARGET_RATIO and not mismatches
    print(
        f"extract run >= {TARGET_RATIO:.0f}x faster than Airbyte at every scale, equal counts:"
        f" {'met' if met else 'NOT met'} (lowest ratio {worst:.2f}x)"
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    main()
