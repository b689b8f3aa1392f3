"""Helpers for serve tests: a project on the emulator, the server on loopback, a gate.

The server runs in the test's own event loop (uvicorn on a free loopback port), so a test
reaches it over real HTTP and can still tick its scheduler by hand. The gate holds a
run's writes at the transport until the test lets them go: "mid-run" without sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from tests.integration.sync._support import FAST_RETRY, make_warehouse

from mogulsync._listen import bound_port, listening_socket
from mogulsync.chartmogul import ChartMogulClient, ClientSettings, RequestLogEntry
from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.serve.app import ServeApp
from mogulsync.serve.clock import Clock
from mogulsync.sync.engine import SyncEngine

OPERATOR = "operator-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef00"
START = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def accounts(tmp_path: Path, count: int) -> str:
    """A DuckDB warehouse with ``count`` valid accounts."""
    values = ", ".join(f"('a{i}', 'Account {i}', 'a{i}@example.com')" for i in range(count))
    return make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         f"insert into accounts values {values}"],
    )  # fmt: skip


def project(
    server: EmulatorServer,
    tmp_path: Path,
    url: str,
    *,
    syncs: dict[str, Any] | None = None,
    schedule: dict[str, Any] | None = None,
    customers_extra: dict[str, Any] | None = None,
    tokens: bool = True,
    env: dict[str, str] | None = None,
    **sections: Any,
) -> AppConfig:
    """A project: model ``accounts`` → sync ``customers`` (plus ``syncs``), with tokens."""
    customers = {"model": "accounts", "object": "customer", "data_source": "Serve",
                 "mapping": {"external_id": "id", "name": "name", "email": "email"}}  # fmt: skip
    if schedule is not None:
        customers["schedule"] = schedule
    customers.update(customers_extra or {})
    raw: dict[str, Any] = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": url},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": customers, **(syncs or {})},
        **sections,
    }
    if tokens:
        raw["serve"] = {"tokens": [{"token": "${OP_TOKEN}", "role": "operator"},
                                   {"token": "${VIEW_TOKEN}", "role": "viewer"}]}  # fmt: skip
    known = {"CM_KEY": server.api_key, "OP_TOKEN": OPERATOR, "VIEW_TOKEN": VIEWER}
    return parse_config(raw, env={**known, **(env or {})})


class Gate:
    """Holds every write request until opened; says when the first one is waiting."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.reached = asyncio.Event()

    def release(self) -> None:
        """Let every held and future write through."""
        self.open.set()


class _GatedTransport(httpx.AsyncBaseTransport):
    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self._gate.reached.set()
            await self._gate.open.wait()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class GatedEngine(SyncEngine):
    """The real engine, whose writes wait at a gate (reads go straight through)."""

    def __init__(self, config: AppConfig, gate: Gate) -> None:
        settings = ClientSettings(
            api_key=config.chartmogul.api_key, base_url=config.chartmogul.base_url,
            rate_limit=10_000, max_in_flight=20, retry=FAST_RETRY,
        )  # fmt: skip
        super().__init__(config, settings=settings)
        self.gate = gate

    def client(self, hooks: Sequence[Any] = ()) -> ChartMogulClient:
        """A client through the gate."""
        return ChartMogulClient(
            self.settings, request_hooks=hooks, transport=_GatedTransport(self.gate)
        )


def fast_engine(config: AppConfig) -> SyncEngine:
    """The real engine with fast retries."""
    gate = Gate()
    gate.release()
    return GatedEngine(config, gate)


@dataclass
class Served:
    """A running server and a client for it."""

    app: ServeApp
    http: httpx.AsyncClient
    base_url: str

    def bearer(self, token: str) -> dict[str, str]:
        """Headers of an API call with ``token``."""
        return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def serving(
    config: AppConfig,
    *,
    engine: SyncEngine | None = None,
    clock: Clock | None = None,
    tick_loop: bool = False,
    config_path: Path | None = None,
) -> AsyncIterator[Served]:
    """``mogulsync serve``'s app on a loopback port in this loop, until the block ends
    (``config_path``: the project file it reloads and edits, its engines fast ones)."""
    app = ServeApp(
        config, engine=engine or fast_engine(config), clock=clock, tick_loop=tick_loop,
        config_path=config_path, engine_factory=fast_engine,
    )  # fmt: skip
    listener = listening_socket("127.0.0.1")  # bound here: no other process can take it
    port = bound_port(listener)
    server = uvicorn.Server(
        # proxy_headers off, as `mogulsync serve` runs it: a test cannot pass on uvicorn's
        # reading of X-Forwarded-* that the real server never does
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield Served(app, http, base_url)
    finally:
        server.should_exit = True
        await task


async def wait_for_run(served: Served, run_id: str, token: str | None = OPERATOR) -> dict[str, Any]:
    """Poll the run until it is no longer running; its final object (None: no token)."""
    headers = served.bearer(token) if token else {}
    while True:
        body = await served.http.get(f"/api/v1/runs/{run_id}", headers=headers)
        run = body.raise_for_status().json()
        if run["status"] != "running":
            return dict(run)
        active = served.app.state.manager.by_run_id(run_id)
        if active is not None and active.task is not None:
            await asyncio.wait([active.task])
        else:
            await asyncio.sleep(0.01)


def unused(_entry: RequestLogEntry) -> None:
    """A request hook that ignores its entry."""
