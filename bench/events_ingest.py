"""Events endpoint: durable ingest throughput, and API calls saved by coalescing.

Run: ``.venv/bin/python bench/events_ingest.py [--seconds 8] [--entities 50 --per-entity 20]``

1. Ingest: ``mogulsync events serve --no-forward`` runs in its own process with the
   durable queue (SQLite WAL, ``synchronous=FULL``; a request is answered only after its
   events are fsync'd). 4 load processes post for ``--seconds`` over keep-alive HTTP/1.1
   connections (a lean client on raw asyncio streams: the load shares the 2 cores): first
   ``/v1/batch`` requests of 100 events (how Segment libraries send), 1 connection each,
   then single ``/v1/identify`` requests, 8 connections each (32 in flight). Baseline,
   same run: one fsync'd transaction per event into the same schema. Target: at least
   2,000 accepted events/s. Every acknowledged event must be in the queue afterwards.
2. Coalescing: ``--entities`` contacts get ``--per-entity`` identify events each, delivered
   to an emulator through API delivery as a burst (coalesced), and again one event at a
   time (each delivered before the next arrives). Reports API calls per entity for both
   and against the naive one call per event.
3. Hostile clients (``--hostile``, on by default): against the same server process,
   the review's amplification batch (a ~7 KB gzip ``/v1/batch``, a 31 KB envelope
   ``context`` shared by 2,500 tiny events) sent 12 times: queue growth and server memory
   growth per request; baseline in the same run: the same events stored with the context
   copied into each (what ingest stored before). Then 2,000 idle connections: the
   server's open descriptors and whether a valid identify lands; then one unterminated
   100 MB header: what the server answers and how much its memory grows.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from http import HTTPStatus
from pathlib import Path

import httpx
import yaml
from pydantic import SecretStr

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, forget_limiters
from mogulsync.config.events import DeliveryConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits
from mogulsync.events.delivery_api import ApiDelivery
from mogulsync.events.forwarder import Forwarder
from mogulsync.events.mappings import DEFAULT_MAPPINGS
from mogulsync.events.queue import EventQueue, GroupCommitWriter, connect
from mogulsync.events.schema import batch_envelope, normalize
from mogulsync.testing.ports import announced_url

WRITE_KEY = "bench-write-key"
BATCH_SIZE = 100
TARGET_EVENTS_PER_S = 2_000
#: load processes, started before the clock runs; each holds keep-alive connections
LOAD_PROCESSES = 4
#: requests in flight per load process: an ack waits for an fsync, so concurrency matters
BATCH_CONNECTIONS = 1
SINGLE_CONNECTIONS = 8
BASELINE_EVENTS = 300
_AUTHORIZATION = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
_HEADERS_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"content-length:"
#: "HTTP/1.1 200 OK": where the status code sits in the status line
_STATUS = slice(9, 12)


def _event(n: int, worker: int) -> dict:
    return {
        "type": "identify",
        "userId": f"user-{worker}-{n % 500}",
        "messageId": f"bench-{worker}-{n}-{time.monotonic_ns()}",
        "traits": {"email": f"u{n}@bench.io", "plan": "pro", "seats": n % 40},
        "context": {"library": {"name": "bench"}},
    }


def _load_process(args: tuple[str, int, float, bool, int]) -> int:
    """One load process: several keep-alive connections posting back to back."""
    host, port, seconds, batch, worker = args
    connections = BATCH_CONNECTIONS if batch else SINGLE_CONNECTIONS

    async def run() -> int:
        deadline = time.monotonic() + seconds
        lanes = [
            _load_lane(host, port, deadline, batch, worker * 100 + lane)
            for lane in range(connections)
        ]
        return sum(await asyncio.gather(*lanes))

    return asyncio.run(run())


async def _load_lane(host: str, port: int, deadline: float, batch: bool, worker: int) -> int:
    """A lean HTTP/1.1 keep-alive client on raw asyncio streams.

    A general-purpose client (httpx, requests) spends more CPU per request than the
    endpoint does; on 2 shared cores that would measure the load generator, not ingest.
    """
    reader, writer = await asyncio.open_connection(host, port)
    path, size = ("/v1/batch", BATCH_SIZE) if batch else ("/v1/identify", 1)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {_AUTHORIZATION}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    )
    accepted = 0
    n = 0
    try:
        while time.monotonic() < deadline:
            if batch:
                message: dict = {"batch": [_event(n + i, worker) for i in range(size)]}
            else:
                message = _event(n, worker)
            n += size
            body = json.dumps(message).encode()
            writer.write(f"{head}{len(body)}\r\n\r\n".encode() + body)
            if await _response_status(reader) == HTTPStatus.OK:
                accepted += size
    finally:
        writer.close()
        await writer.wait_closed()
    return accepted


async def _response_status(reader: asyncio.StreamReader) -> int:
    """Read one response (the endpoint always sends Content-Length); its status code."""
    header = (await reader.readuntil(_HEADERS_END)).lower()
    start = header.index(_CONTENT_LENGTH) + len(_CONTENT_LENGTH)
    await reader.readexactly(int(header[start : header.index(b"\r\n", start)]))
    return int(header[_STATUS])


def _warm(_: int) -> None:
    return None


def _serve(state: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``events serve --port 0`` over ``state``; the process and the port it bound."""
    config = state / "mogulsync.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "chartmogul": {"api_key": "${API_KEY}"},
                "state_dir": str(state),
                "events": {"write_keys": ["${WRITE_KEY}"]},
            }
        )
    )
    env = {**os.environ, "API_KEY": "unused", "WRITE_KEY": WRITE_KEY}
    command = [sys.executable, "-m", "mogulsync", "events", "serve", "-c", str(config)]
    out = state / "server.out"  # stdout: the address line
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [*command, "--port", "0", "--no-forward"], env=env, stdout=stdout
        )
    base = announced_url(process, out).removesuffix("/v1")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return process, int(base.rsplit(":", 1)[1])
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("events server did not start")


def ingest(seconds: float) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as state:  # a real disk, not tmpfs
        server, port = _serve(Path(state))
        try:
            acknowledged = 0
            with ProcessPoolExecutor(LOAD_PROCESSES) as pool:
                list(pool.map(_warm, range(LOAD_PROCESSES)))  # start the processes first
                for name, batch in (("batch", True), ("single", False)):
                    jobs = [("127.0.0.1", port, seconds, batch, w) for w in range(LOAD_PROCESSES)]
                    started = time.monotonic()
                    accepted = sum(pool.map(_load_process, jobs))
                    results[name] = accepted / (time.monotonic() - started)
                    acknowledged += accepted
            results["acknowledged"] = float(acknowledged)
        finally:
            server.terminate()
            server.wait(timeout=30)
        queue = EventQueue(Path(state) / "events.sqlite")
        results["stored"] = float(queue.counts()["pending"])
        queue.close()
        results["baseline"] = _per_event_fsync(Path(state) / "baseline.sqlite")
    return results


def _per_event_fsync(path: Path) -> float:
    """One fsync'd transaction per event: what ingest would do without group commit."""
    conn = connect(path)
    received = dt.datetime.now(dt.UTC)
    events = [normalize(_event(n, 9), received_at=received) for n in range(BASELINE_EVENTS)]
    started = time.monotonic()
    for event in events:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO events(message_id, type, body, received_at, status) VALUES (?,?,?,?,?)",
            (event.message_id, event.type, event.body, event.received_at, "pending"),
        )
        conn.execute("COMMIT")
    elapsed = time.monotonic() - started
    conn.close()
    return BASELINE_EVENTS / elapsed


async def _deliver(server: EmulatorServer, entities: int, per_entity: int, burst: bool) -> int:
    forget_limiters()
    with tempfile.TemporaryDirectory() as state:
        path = Path(state) / "events.sqlite"
        queue = EventQueue(path)
        writer = GroupCommitWriter(path)
        settings = ClientSettings(
            api_key=SecretStr(server.api_key), base_url=server.base_url, rate_limit=10_000
        )
        delivery = ApiDelivery(ChartMogulClient(settings), queue, f"Bench {burst}")
        forwarder = Forwarder(
            queue, delivery, DEFAULT_MAPPINGS, DeliveryConfig(coalesce_window_s=0, concurrency=8)
        )
        await asyncio.to_thread(httpx.delete, f"{server.base_url}/_emulator/stats")
        kind = "burst" if burst else "single"
        for round_ in range(per_entity):
            events = [
                normalize(
                    {
                        "type": "identify",
                        "userId": f"{kind}-{e}",
                        "messageId": f"{kind}-{e}-{round_}",
                        "traits": {"email": f"{kind}{e}@x.io", "title": f"t{round_}"},
                    },
                    received_at=dt.datetime.now(dt.UTC),
                )
                for e in range(entities)
            ]
            await writer.append(events)
            if not burst:
                await forwarder.drain(max_wait_s=120)
        await forwarder.drain(max_wait_s=120)
        writer.close()
        await delivery.aclose()
        queue.close()
        stats = await asyncio.to_thread(httpx.get, f"{server.base_url}/_emulator/stats")
        return int(stats.json()["requests_total"])


def coalescing(entities: int, per_entity: int) -> dict[str, float]:
    with EmulatorServer(EmulatorSettings(limits=Limits(rate_limit=0, max_connections=0))) as server:
        burst = asyncio.run(_deliver(server, entities, per_entity, burst=True))
        single = asyncio.run(_deliver(server, entities, per_entity, burst=False))
    return {"burst": burst / entities, "single": single / entities, "naive": float(per_entity)}


AMPLIFY_EVENTS = 2500
AMPLIFY_CONTEXT_BYTES = 31_000
AMPLIFY_REQUESTS = 12
IDLE_CONNECTIONS = 2_000
HEADER_FLOOD_BYTES = 100 * 1024 * 1024
_CHUNK = 64 * 1024


def _amplifying_body() -> dict:
    return {
        "batch": [{"type": "track", "userId": "u", "event": "e"} for _ in range(AMPLIFY_EVENTS)],
        "context": {"blob": "x" * AMPLIFY_CONTEXT_BYTES},
    }


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _queue_bytes(state: Path) -> int:
    return sum(f.stat().st_size for f in state.glob("events.sqlite*"))


async def _copied_context_baseline(path: Path) -> int:
    """Bytes the amplification batch takes when each event carries its own context copy."""
    messages, envelope = batch_envelope(_amplifying_body())
    received = dt.datetime.now(dt.UTC)
    events = [
        normalize({**m, "context": envelope["context"]}, received_at=received) for m in messages
    ]
    writer = GroupCommitWriter(path)
    try:
        await writer.append(events)
    finally:
        writer.close()
    return sum(f.stat().st_size for f in path.parent.glob(path.name + "*"))


def hostile() -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as directory:
        state = Path(directory)
        server, port = _serve(state)
        base = f"http://127.0.0.1:{port}"
        auth = (WRITE_KEY, "")
        try:
            request = gzip.compress(json.dumps(_amplifying_body()).encode())
            results["amplify_request_bytes"] = float(len(request))
            queue0, rss0 = _queue_bytes(state), _rss_bytes(server.pid)
            with httpx.Client(base_url=base, auth=auth, timeout=60) as client:
                for _ in range(AMPLIFY_REQUESTS):
                    headers = {"Content-Encoding": "gzip"}
                    response = client.post("/v1/batch", content=request, headers=headers)
                    response.raise_for_status()
            results["queue_per_request"] = (_queue_bytes(state) - queue0) / AMPLIFY_REQUESTS
            results["rss_growth"] = float(_rss_bytes(server.pid) - rss0)
            results["baseline_per_request"] = float(
                asyncio.run(_copied_context_baseline(state / "baseline" / "copied.sqlite"))
            )
            with contextlib.ExitStack() as stack:
                for _ in range(IDLE_CONNECTIONS):
                    stack.enter_context(socket.create_connection(("127.0.0.1", port)))
                time.sleep(1)  # let the server accept what it will
                results["fds_with_idle_flood"] = float(
                    len(list(Path(f"/proc/{server.pid}/fd").iterdir()))
                )
                started = time.monotonic()
                response = httpx.post(f"{base}/v1/identify", json={"userId": "u"}, auth=auth)
                results["identify_during_flood_s"] = time.monotonic() - started
                results["identify_during_flood_status"] = float(response.status_code)
            rss0 = _rss_bytes(server.pid)
            sent = 0
            answer = b""
            with socket.create_connection(("127.0.0.1", port)) as sock:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(b"POST /v1/identify HTTP/1.1\r\nX-Big: ")
                    chunk = b"a" * _CHUNK
                    while sent < HEADER_FLOOD_BYTES:
                        sock.sendall(chunk)
                        sent += _CHUNK
                with contextlib.suppress(ConnectionResetError):
                    answer = sock.recv(100)
            results["header_flood_sent"] = float(sent)
            results["header_flood_status"] = float(answer[9:12] or b"0")
            results["header_flood_rss_growth"] = float(_rss_bytes(server.pid) - rss0)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return results


def _print_hostile(h: dict[str, float]) -> None:
    mib = 1024 * 1024
    print(
        f"== hostile clients (amplification: {h['amplify_request_bytes'] / 1024:.1f} KB gzip"
        f" batch, {AMPLIFY_EVENTS} events sharing a {AMPLIFY_CONTEXT_BYTES // 1000} KB context) =="
    )
    ratio = h["queue_per_request"] / h["baseline_per_request"]
    print(f"baseline, context copied per event: {h['baseline_per_request'] / mib:9.2f} MiB/request")
    print(
        f"queue growth per request:           {h['queue_per_request'] / mib:9.2f} MiB/request"
        f"  x{ratio:.3f} baseline"
    )
    print(f"server memory growth, {AMPLIFY_REQUESTS} requests:    {h['rss_growth'] / mib:9.1f} MiB")
    print(
        f"{IDLE_CONNECTIONS} idle connections: server holds {h['fds_with_idle_flood']:.0f} descriptors;"
        f" identify answered {h['identify_during_flood_status']:.0f}"
        f" in {h['identify_during_flood_s']:.2f} s"
    )
    print(
        f"unterminated header: {h['header_flood_sent'] / mib:.1f} MiB sent before the server"
        f" answered {h['header_flood_status']:.0f}; memory growth"
        f" {h['header_flood_rss_growth'] / mib:.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="load time per ingest mode")
    parser.add_argument("--entities", type=int, default=50)
    parser.add_argument("--per-entity", type=int, default=20)
    parser.add_argument("--no-hostile", dest="hostile", action="store_false")
    parser.add_argument("--only-hostile", action="store_true")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    if args.hostile:
        _print_hostile(hostile())
    if args.only_hostile:
        return
    result = ingest(args.seconds)
    print("== ingest (durable: WAL + synchronous=FULL, ack after fsync) ==")
    print(f"baseline, one fsync per event:      {result['baseline']:9.0f} events/s")
    for name in ("batch", "single"):
        ratio = result[name] / result["baseline"]
        verdict = "OK" if result[name] >= TARGET_EVENTS_PER_S else "below target"
        print(
            f"{name:6} requests, group commit:      {result[name]:9.0f} events/s  x{ratio:5.1f} baseline  [{verdict} >= {TARGET_EVENTS_PER_S}]"
        )
    stored, acked = result["stored"], result["acknowledged"]
    verdict = "OK" if stored >= acked else "LOST ACKNOWLEDGED EVENTS"
    print(f"events acknowledged: {acked:.0f}, stored after shutdown: {stored:.0f}  [{verdict}]")
    co = coalescing(args.entities, args.per_entity)
    print(
        f"== coalescing ({args.entities} contacts x {args.per_entity} identify events, API delivery) =="
    )
    print(f"one API call per event (naive):     {co['naive']:6.1f} calls/entity")
    print(f"delivered one event at a time:      {co['single']:6.1f} calls/entity")
    print(
        f"burst, coalesced:                   {co['burst']:6.1f} calls/entity  ratio {co['burst'] / co['naive']:.3f} of naive, {co['burst'] / co['single']:.3f} of one-at-a-time"
    )


if __name__ == "__main__":
    main()
