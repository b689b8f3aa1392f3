"""A project for operations tests: one customers sync plus sync_logs and alerts sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer

ACCOUNTS_DDL = "create table accounts(id varchar, name varchar, email varchar)"


def ops_project(
    server: EmulatorServer,
    tmp_path: Path,
    url: str,
    *,
    table: str = "accounts",
    sync: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    **sections: Any,
) -> AppConfig:
    """A validated config: model ``accounts`` → sync ``customers``, plus ``sections``."""
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": url},
        "models": {"accounts": {"warehouse": "main", "table": table, "primary_key": "id"}},
        "syncs": {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "Ops",
                "mapping": {"external_id": "id", "name": "name", "email": "email"},
                **(sync or {}),
            }
        },
        **sections,
    }
    return parse_config(raw, env={"CM_KEY": server.api_key, **(env or {})})


def create_customer(server: EmulatorServer, external_id: str) -> None:
    """A customer that already exists in the ``Ops`` data source (insert mode rejects it)."""
    with httpx.Client(
        base_url=f"{server.base_url}/v1", auth=(server.api_key, ""), timeout=10
    ) as client:
        found = client.get("/data_sources", params={"name": "Ops"}).json()["data_sources"]
        if found:
            uuid = found[0]["uuid"]
        else:
            uuid = client.post("/data_sources", json={"name": "Ops"}).json()["uuid"]
        client.post(
            "/customers",
            json={"data_source_uuid": uuid, "external_id": external_id, "name": "Existing"},
        ).raise_for_status()
