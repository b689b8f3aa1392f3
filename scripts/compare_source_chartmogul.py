"""Compare our Airbyte source's records with Airbyte's source-chartmogul 1.0.13, field by field.

    .venv/bin/python scripts/compare_source_chartmogul.py [--start-date 2024-01-01T00:00:00Z]

Seeds an emulator as the extract tests do (plus a lead with trial and lead times), reads
1.0.13's six streams with both connectors (1.0.13 through the benchmark's wrapper and
Python 3.10 venv, installed there on first use) and prints, per stream, the records only
one side has, the fields only one side sends and the values that differ. Exit 1 on any
difference. Not a test: it needs that venv (tests/unit/extract/source_chartmogul_1_0_13
holds what the tests compare with instead).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.extract_vs_airbyte import (
    AIRBYTE_STREAMS,
    DEFAULT_VENV,
    WRAPPER,
    ensure_airbyte,
    full_refresh_catalog,
)
from tests.conftest import unlimited_settings
from tests.integration.extract._seed import TEST_RATE_LIMIT, seed

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.airbyte import AirbyteSource

Records = dict[str, dict[object, dict[str, Any]]]
#: 1.0.13's primary keys
KEYS = {"customers": "id", "activities": "uuid"}


def _add_lead(server: EmulatorServer, data_source: str) -> None:
    lead = {
        "data_source_uuid": data_source,
        "external_id": "compare-lead",
        "name": "Lead",
        "company": "Lead Co",
        "country": "DE",
        "lead_created_at": "2024-02-03T04:05:06Z",
        "free_trial_started_at": "2024-02-10T00:00:00Z",
    }
    with httpx.Client(base_url=server.base_url, auth=(server.api_key, "")) as http:
        http.post("/v1/customers", json=lead).raise_for_status()


def _by_key(lines: list[str]) -> Records:
    found: Records = {name: {} for name in AIRBYTE_STREAMS}
    for line in lines:
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("type") == "RECORD":
            record = message["record"]
            key = record["data"].get(KEYS.get(record["stream"], "date"))
            found[record["stream"]][key] = record["data"]
    return found


def _theirs(python: Path, config: dict[str, Any], catalog: dict[str, Any]) -> Records:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "config.json").write_text(json.dumps(config), encoding="utf-8")
        (work / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
        command = [str(python), "-c", WRAPPER, "read"]
        command += ["--config", str(work / "config.json"), "--catalog", str(work / "catalog.json")]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    return _by_key(done.stdout.splitlines())


def _ours(config: dict[str, Any], catalog: dict[str, Any]) -> Records:
    out = io.StringIO()
    AirbyteSource(out).read(config, catalog)
    return _by_key(out.getvalue().splitlines())


def _differences(name: str, theirs: dict[object, Any], ours: dict[object, Any]) -> list[str]:
    found = []
    if set(theirs) != set(ours):
        found.append(
            f"{name}: {len(set(theirs) - set(ours))} records only in 1.0.13's,"
            f" {len(set(ours) - set(theirs))} only in ours"
        )
    their_fields = Counter(field for record in theirs.values() for field in record)
    our_fields = Counter(field for record in ours.values() for field in record)
    for field in sorted(set(their_fields) ^ set(our_fields)):
        side = "1.0.13's" if field in their_fields else "ours"
        found.append(f"{name}.{field}: sent by {side} only")
    values: Counter[str] = Counter()
    example: dict[str, str] = {}
    for key in set(theirs) & set(ours):
        for field in set(theirs[key]) & set(ours[key]):
            if theirs[key][field] != ours[key][field]:
                values[field] += 1
                example.setdefault(field, f"{theirs[key][field]!r} vs {ours[key][field]!r}")
    found += [
        f"{name}.{field}: {count} values differ, e.g. 1.0.13 {example[field]} (ours second)"
        for field, count in values.items()
    ]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start-date", default="2024-01-01T00:00:00Z")
    parser.add_argument("--airbyte-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    python = ensure_airbyte(args.airbyte_venv)
    catalog = full_refresh_catalog()
    with EmulatorServer(unlimited_settings()) as server:
        seeded = asyncio.run(seed(server.base_url, server.api_key))
        _add_lead(server, seeded.data_sources[0])
        config = {
            "api_key": server.api_key,
            "start_date": args.start_date,
            "base_url": server.base_url,
            "rate_limit": TEST_RATE_LIMIT,
        }
        theirs = _theirs(python, config, catalog)
        ours = _ours(config, catalog)
    problems = []
    for name in AIRBYTE_STREAMS:
        print(f"{name}: 1.0.13 {len(theirs[name])} records, ours {len(ours[name])}")
        problems += _differences(name, theirs[name], ours[name])
    print("\n".join(problems) if problems else "records identical (fields and values)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
