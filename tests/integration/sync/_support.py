"""Helpers for sync tests: a DuckDB warehouse, a project config and a fast-retry engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import duckdb
import httpx
from pydantic import SecretStr

from mogulsync.chartmogul import ClientSettings, RetryPolicy
from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.runs import RunRecord
from mogulsync.sync.engine import SyncEngine

#: how long a terminated emulator process may take to exit: a safety net, not a speed limit
EXIT_S = 120
FAST_RETRY = RetryPolicy(
    max_attempts=10, max_total_s=30, initial_wait_s=0.01, max_wait_s=0.05, jitter_s=0.01
)


def make_warehouse(path: Path, statements: list[str]) -> str:
    """Run SQL statements in a fresh DuckDB file; its SQLAlchemy URL."""
    connection = duckdb.connect(str(path))
    for statement in statements:
        connection.execute(statement)
    connection.close()
    return f"duckdb:///{path}"


def project(
    server: EmulatorServer,
    tmp_path: Path,
    url: str,
    models: dict[str, Any],
    syncs: dict[str, Any],
) -> AppConfig:
    """A validated project config pointing at the emulator."""
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": url},
        "models": {name: {"warehouse": "main", **model} for name, model in models.items()},
        "syncs": syncs,
    }
    return parse_config(raw, env={"CM_KEY": server.api_key})


def engine(config: AppConfig, **kwargs: Any) -> SyncEngine:
    """An engine whose client retries fast (tests must not sleep)."""
    settings = ClientSettings(
        api_key=SecretStr(config.chartmogul.api_key.get_secret_value()),
        base_url=config.chartmogul.base_url,
        rate_limit=10_000,
        max_in_flight=20,
        retry=FAST_RETRY,
    )
    return SyncEngine(config, settings=settings, **kwargs)


def api(server: EmulatorServer) -> httpx.Client:
    """A raw HTTP client for asserting on ChartMogul's state."""
    return httpx.Client(base_url=f"{server.base_url}/v1", auth=(server.api_key, ""), timeout=30)


def all_pages(client: httpx.Client, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a cursor-paginated list."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "per_page": 200, **({"cursor": cursor} if cursor else {})}
        body = client.get(path, params=query).raise_for_status().json()
        items.extend(body[key])
        if not body.get("has_more"):
            return items
        cursor = body["cursor"]


def errors_by_key(store_dir: Path, record: RunRecord) -> dict[str, list[tuple[str, str, str]]]:
    """Row errors of a run: key → [(field, message, what to do)]."""
    from mogulsync.runs import RunStore

    store = RunStore(store_dir)
    try:
        found: dict[str, list[tuple[str, str, str]]] = {}
        for error in store.errors(record.run_id):
            found.setdefault(error.key, []).append((error.field, error.message, error.action))
        return found
    finally:
        store.close()


class EmulatorProcess:
    """The emulator in its own process (its own GIL), unlimited, for heavy tests."""

    def __init__(self, *extra: str) -> None:
        import os
        import subprocess
        import sys
        import tempfile

        self.api_key = "emulator-api-key"
        self.base_url = ""  # known once the process has bound its port (``with``)
        # stdout to a file, not a pipe nobody drains: the address line is read from it
        fd, name = tempfile.mkstemp(prefix="mogulsync-emulator-", suffix=".out")
        self._stdout_path = Path(name)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mogulsync",
                "emulator",
                "serve",
                "--port",
                "0",  # the OS picks a free port as the server binds it
                "--rate-limit",
                "0",
                "--max-connections",
                "0",
                *extra,
            ],
            stdout=fd,
            stderr=subprocess.DEVNULL,
        )
        os.close(fd)  # the child has its own copy

    def __enter__(self) -> Self:
        import time

        from mogulsync.testing.ports import ANNOUNCE_S, announced_url

        try:
            self.base_url = announced_url(self._process, self._stdout_path).removesuffix("/v1")
        except BaseException:
            self.__exit__()
            raise
        deadline = time.monotonic() + ANNOUNCE_S  # a safety net, not a speed limit
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base_url}/_emulator/health", timeout=1).raise_for_status()
            except httpx.HTTPError:
                time.sleep(0.05)
            else:
                return self
        self.__exit__()
        raise RuntimeError("emulator process did not start")

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.wait(timeout=EXIT_S)
        self._stdout_path.unlink(missing_ok=True)
