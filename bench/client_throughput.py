"""How close our ChartMogul client gets to the 40 req/s account limit, and emulator capacity.

Run: ``.venv/bin/python bench/client_throughput.py [--requests 2000]``

1. Client: an emulator on loopback enforcing ChartMogul's limits (40 req/s, 20 in flight,
   50 ms latency) receives ``--requests`` mixed reads and writes issued concurrently through
   ``ChartMogulClient``. Target: at least 0.95 of the limit, no failures (and, thanks to
   pacing, no 429s).
2. Emulator: an emulator without limits or latency, in its own process (so the load
   generator does not share its interpreter), hammered with raw httpx at
   ``--concurrency`` requests in flight, split over ``--load-processes`` processes (one
   httpx client process saturates its core near 400 req/s before the emulator does).
   Target: at least 500 req/s on loopback.
3. Client capacity: the same unlimited emulator process receives ``--capacity-requests``
   pings and customer reads through ``ChartMogulClient`` with its limits lifted, 20 in
   flight, and the same calls through a plain ``httpx.AsyncClient`` (httpx's default
   pool) as the baseline: how much CPU headroom the client has beyond 40 req/s.

With ``--ab N`` only step 1 runs, for each way of sharing the limits, alternating N times
in one run: pacing alone (``scope: process``), the machine-wide SQLite clock with a
per-process in-flight cap (``share_in_flight: false``), and the SQLite clock plus a shared
in-flight lease per request (the default). Each prints its ratio to 40 req/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
from pydantic import SecretStr

from mogulsync.chartmogul import (
    ChartMogulClient,
    ClientSettings,
    CustomerUpdate,
    NewCustomer,
    NewPlan,
    PlanUpdate,
    SharedLimit,
    forget_limiters,
)
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import DEFAULT_API_KEY, EmulatorSettings, Limits
from mogulsync.testing.ports import announced_url

RATE_LIMIT = 40.0
MAX_CONNECTIONS = 20
LATENCY_MS = 50.0
CLIENT_TARGET_RATIO = 0.95
EMULATOR_TARGET_RPS = 500.0
STARTUP_TIMEOUT_S = 20.0


async def _client_run(requests: int, shared: SharedLimit | None = None) -> dict[str, float]:
    limits = Limits(rate_limit=RATE_LIMIT, max_connections=MAX_CONNECTIONS, latency_ms=LATENCY_MS)
    with EmulatorServer(EmulatorSettings(limits=limits)) as server:
        settings = ClientSettings(
            api_key=SecretStr(server.api_key),
            base_url=server.base_url,
            rate_limit=RATE_LIMIT,
            max_in_flight=MAX_CONNECTIONS,
            shared_limit=shared or SharedLimit(),
        )
        async with (
            ChartMogulClient(settings) as client,
            httpx.AsyncClient(base_url=f"{server.base_url}/_emulator") as admin,
        ):
            source = (await client.data_sources.create("Benchmark")).uuid
            seed = await client.customers.create(
                NewCustomer(data_source_uuid=source, external_id="seed", name="Seed")
            )
            plan = await client.plans.create(
                NewPlan(
                    data_source_uuid=source, name="Gold", interval_count=1, interval_unit="month"
                )
            )
            await admin.delete("/stats")

            async def first_page() -> None:
                async for _ in client.customers.list(data_source_uuid=source, per_page=50).pages():
                    return

            def operation(index: int) -> Callable[[], Awaitable[object]]:
                """One API request each: 4 writes and 6 reads in every 10."""
                mix: list[Callable[[], Awaitable[object]]] = [
                    lambda: client.customers.create(
                        NewCustomer(data_source_uuid=source, external_id=f"bench-{index}")
                    ),
                    lambda: client.customers.get(seed.uuid),
                    lambda: client.customers.update(
                        seed.uuid, CustomerUpdate(city=f"City {index}")
                    ),
                    first_page,
                    lambda: client.tags.add(seed.uuid, [f"tag-{index % 10}"]),
                    client.ping,
                    lambda: client.plans.update(plan.uuid, PlanUpdate(name=f"Gold {index}")),
                    client.data_sources.list,
                    lambda: client.plans.get(plan.uuid),
                    client.account,
                ]
                return mix[index % len(mix)]

            started = time.perf_counter()
            results = await asyncio.gather(
                *(operation(index)() for index in range(requests)), return_exceptions=True
            )
            elapsed = time.perf_counter() - started
            stats = (await admin.get("/stats")).json()
    failures = [result for result in results if isinstance(result, BaseException)]
    for failure in failures[:5]:
        print(f"  failure: {failure!r}")
    served = stats["requests_total"]
    return {
        "requests": float(served),
        "seconds": elapsed,
        "rps": served / elapsed,
        "ratio": served / elapsed / RATE_LIMIT,
        "429s": float(stats["rate_limited_429"]),
        "503s": float(stats["concurrency_rejected_503"]),
        "failures": float(len(failures)),
        "peak_in_flight": float(stats["peak_concurrency"]),
    }


@contextlib.contextmanager
def _emulator_process() -> Iterator[str]:
    """An unlimited emulator in its own process, so the load generator gets its own core."""
    out = Path(tempfile.mkdtemp(prefix="mogulsync-bench-")) / "emulator.out"
    command = [
        sys.executable,
        "-m",
        "mogulsync",
        "emulator",
        "serve",
        "--port=0",  # the OS picks a free port as the server binds it
        "--rate-limit=0",
        "--max-connections=0",
    ]
    with out.open("wb") as stdout:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.DEVNULL)
    try:
        base_url = announced_url(process, out).removesuffix("/v1")
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{base_url}/_emulator/health").status_code == httpx.codes.OK:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
            time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(out.parent, ignore_errors=True)


async def _hammer(base_url: str, requests: int, concurrency: int) -> tuple[int, float, float]:
    """``requests`` raw GETs at ``concurrency``; (errors, start, end) in wall-clock time."""
    remaining = requests
    errors = 0
    async with httpx.AsyncClient(
        base_url=f"{base_url}/v1",
        auth=(DEFAULT_API_KEY, ""),
        limits=httpx.Limits(max_connections=concurrency),
    ) as http:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                response = await http.get("/ping")
                errors += response.status_code != httpx.codes.OK

        started = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return errors, started, time.time()


def _hammer_process(base_url: str, requests: int, concurrency: int) -> tuple[int, float, float]:
    return asyncio.run(_hammer(base_url, requests, concurrency))


def _emulator_run(
    base_url: str, requests: int, concurrency: int, processes: int
) -> dict[str, float]:
    """Split the load over several processes: one httpx client saturates a core first."""
    share = requests // processes
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [
            pool.submit(_hammer_process, base_url, share, max(1, concurrency // processes))
            for _ in range(processes)
        ]
        results = [future.result() for future in futures]
    elapsed = max(end for _, _, end in results) - min(start for _, start, _ in results)
    total = share * processes
    return {
        "requests": float(total),
        "seconds": elapsed,
        "rps": total / elapsed,
        "errors": float(sum(errors for errors, _, _ in results)),
    }


async def _capacity_run(base_url: str, requests: int) -> dict[str, float]:
    """Client and raw-httpx req/s at 20 in flight against an unlimited emulator."""
    settings = ClientSettings(
        api_key=SecretStr(DEFAULT_API_KEY),
        base_url=base_url,
        rate_limit=1_000_000,
        max_in_flight=MAX_CONNECTIONS,
    )
    async with ChartMogulClient(settings) as client:
        source = (await client.data_sources.create(f"Capacity {time.time_ns()}")).uuid
        seed = await client.customers.create(
            NewCustomer(data_source_uuid=source, external_id="capacity")
        )

        async def via_client(index: int) -> None:
            await (client.ping() if index % 2 else client.customers.get(seed.uuid))

        client_rps = await _drive(via_client, requests)
    async with httpx.AsyncClient(
        base_url=f"{base_url}/v1",
        auth=(DEFAULT_API_KEY, ""),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS),
    ) as http:

        async def via_httpx(index: int) -> None:
            path = "/ping" if index % 2 else f"/customers/{seed.uuid}"
            (await http.get(path)).raise_for_status()

        httpx_rps = await _drive(via_httpx, requests)
    return {"client_rps": client_rps, "httpx_rps": httpx_rps}


async def _drive(call: Callable[[int], Awaitable[None]], requests: int) -> float:
    """Run ``requests`` calls from 20 workers; requests per second."""
    pending = iter(range(requests))

    async def worker() -> None:
        for index in pending:
            await call(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(MAX_CONNECTIONS)))
    return requests / (time.perf_counter() - started)


def _ab(requests: int, rounds: int) -> None:
    """Step 1 for each way of sharing the limits, alternating, in one run."""
    with tempfile.TemporaryDirectory() as tmp:
        file = f"{tmp}/rate-limit.sqlite"  # not the user's default file: no other run shares it
        variants = {
            "pacing alone (process)": SharedLimit(scope="process"),
            "SQLite clock, own cap": SharedLimit(file=file, share_in_flight=False),
            "SQLite clock + leases": SharedLimit(file=file),
        }
        ratios: dict[str, list[float]] = {name: [] for name in variants}
        print(f"A/B: {requests} mixed requests x {rounds} rounds, {LATENCY_MS:g} ms latency ...")
        for _ in range(rounds):
            for name, shared in variants.items():
                forget_limiters()
                result = asyncio.run(_client_run(requests, shared))
                ratios[name].append(result["ratio"])
                print(
                    f"  {name:<24} ratio {result['ratio']:.3f}  429s {result['429s']:.0f}  "
                    f"503s {result['503s']:.0f}  peak in flight {result['peak_in_flight']:.0f}  "
                    f"failures {result['failures']:.0f}",
                    flush=True,
                )
    base = sum(ratios["pacing alone (process)"]) / rounds
    for name, values in ratios.items():
        mean = sum(values) / rounds
        verdict = "met" if min(values) >= CLIENT_TARGET_RATIO else "MISSED"
        print(f"{name:<24} mean {mean:.3f} of 40 req/s ({mean / base:.3f} x alone), {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="client requests (default 2000)")
    parser.add_argument("--raw-requests", type=int, default=3000, help="raw emulator requests")
    parser.add_argument("--concurrency", type=int, default=20, help="raw httpx concurrency")
    parser.add_argument(
        "--load-processes", type=int, default=2, help="processes sharing the raw load"
    )
    parser.add_argument(
        "--capacity-requests", type=int, default=3000, help="unlimited client requests"
    )
    parser.add_argument("--ab", type=int, default=0, help="A/B the ways of sharing, N rounds")
    args = parser.parse_args()
    if args.ab:
        _ab(args.requests, args.ab)
        return

    print(
        f"client: {args.requests} mixed requests, limit {RATE_LIMIT:g} req/s, "
        f"{MAX_CONNECTIONS} in flight, {LATENCY_MS:g} ms latency ..."
    )
    client = asyncio.run(_client_run(args.requests))
    print(
        f"emulator: {args.raw_requests} raw GET /v1/ping, concurrency {args.concurrency} "
        f"over {args.load_processes} load processes ..."
    )
    with _emulator_process() as base_url:
        emulator = _emulator_run(base_url, args.raw_requests, args.concurrency, args.load_processes)
        print(f"client capacity: {args.capacity_requests} unlimited requests, 20 in flight ...")
        capacity = asyncio.run(_capacity_run(base_url, args.capacity_requests))

    client_ok = client["ratio"] >= CLIENT_TARGET_RATIO and client["failures"] == 0
    emulator_ok = emulator["rps"] >= EMULATOR_TARGET_RPS and emulator["errors"] == 0
    rows = [
        ("measurement", "value", "target"),
        ("client requests served", f"{client['requests']:.0f}", f"{args.requests}"),
        ("client elapsed", f"{client['seconds']:.1f} s", ""),
        ("client achieved", f"{client['rps']:.2f} req/s", f"{RATE_LIMIT:g} req/s limit"),
        ("ratio to limit", f"{client['ratio']:.3f}", f">= {CLIENT_TARGET_RATIO}"),
        ("429s received", f"{client['429s']:.0f}", "0"),
        ("503s received", f"{client['503s']:.0f}", "0"),
        ("peak in flight (server)", f"{client['peak_in_flight']:.0f}", f"<= {MAX_CONNECTIONS}"),
        ("client failures", f"{client['failures']:.0f}", "0"),
        ("emulator raw capacity", f"{emulator['rps']:.0f} req/s", f">= {EMULATOR_TARGET_RPS:g}"),
        ("emulator raw errors", f"{emulator['errors']:.0f}", "0"),
        ("client capacity, no limits", f"{capacity['client_rps']:.0f} req/s", ""),
        ("raw httpx, same calls", f"{capacity['httpx_rps']:.0f} req/s", "baseline"),
        ("client / raw httpx", f"{capacity['client_rps'] / capacity['httpx_rps']:.2f}", ""),
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print(
        f"client target {'met' if client_ok else 'MISSED'}; "
        f"emulator target {'met' if emulator_ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
