"""Count sockets a failing extract fetch leaves open: many fetches whose one part fails.

    .venv/bin/python scripts/extract_leak_stress.py [--runs 300] [--rate-limit 40]

Each run fetches the customers stream of an emulator with two data sources while the
list first asked for answers an unreadable page (not retried): the stream fails while the
other source's part is still reading. A part that outlived its fetch could finish a request
after the client closed, on a connection no pool owned (the test-suite flake
``ResourceWarning: unclosed transport``). It is a race, so the guard tests hold the request
back instead (``tests/integration/extract/test_no_request_outlives_the_fetch.py``); this
shows how often real timing hits it. Exit 1 when any socket was left open.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime as dt
import gc
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import unlimited_settings
from tests.integration.extract._seed import client_settings, import_customers

from mogulsync.chartmogul import ChartMogulClient
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.context import StreamState
from mogulsync.extract.records import Record
from mogulsync.extract.runner import ExtractOptions, fetch_pages
from mogulsync.extract.streams import STREAMS

_FIRST_DAY = dt.date(2024, 1, 1)


def _ignore(stream: str, records: Sequence[Record]) -> None:
    del stream, records


async def _seed(server: EmulatorServer) -> None:
    """Two data sources of 300 customers each."""
    async with ChartMogulClient(client_settings(server.base_url, server.api_key)) as client:
        for prefix in ("a", "b"):
            source = await client.data_sources.create(f"Source {prefix}")
            await import_customers(client, source.uuid, prefix, 300, _FIRST_DAY, plans=3)


def _spin(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(1000))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rate-limit", type=float, default=40.0)
    parser.add_argument(
        "--busy-threads",
        type=int,
        default=2,
        help="threads competing for the GIL, as a loaded CI machine does (the race needs it)",
    )
    args = parser.parse_args()
    stop = threading.Event()
    for _ in range(args.busy_threads):
        threading.Thread(target=_spin, args=(stop,), daemon=True).start()
    left_open: list[str] = []
    # counted wherever they are raised: a socket may be found after its run's collection
    warnings.simplefilter("always", ResourceWarning)
    warnings.showwarning = lambda message, *_: left_open.append(str(message))
    with EmulatorServer(unlimited_settings()) as server:
        asyncio.run(_seed(server))
        settings = client_settings(server.base_url, server.api_key).model_copy(
            update={"rate_limit": args.rate_limit}
        )
        options = ExtractOptions(destination="duckdb:///unused.duckdb", mode="overwrite")
        # the first source's list asked for (either part's): the other is on its way
        fault = {"fault": "malformed", "path_pattern": "/customers$", "query_pattern": "data_s"}
        for _ in range(args.runs):
            httpx.post(f"{server.base_url}/_emulator/faults/script", json=fault, timeout=30)
            states: concurrent.futures.Future[Mapping[str, StreamState]] = (
                concurrent.futures.Future()
            )
            states.set_result({})
            (result,) = asyncio.run(
                fetch_pages(settings, options, [STREAMS["customers"]], states, _ignore, None)
            )
            del result  # its error's traceback holds the client
            gc.collect()
    stop.set()
    sockets = sum(message.startswith("unclosed <socket") for message in left_open)
    print(f"runs={args.runs} sockets_left_open={sockets}")  # the report
    return 1 if sockets else 0


if __name__ == "__main__":
    sys.exit(main())
