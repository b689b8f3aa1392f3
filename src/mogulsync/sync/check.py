"""``mogulsync check``: config, API key, data sources and every model, each with a verdict."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, TransportError
from mogulsync.config import AppConfig
from mogulsync.errors import MogulsyncError
from mogulsync.sync.batch import prepare
from mogulsync.sync.connect import open_source, resolve_data_source


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One verdict."""

    subject: str
    ok: bool
    message: str


async def check_project(config: AppConfig, settings: ClientSettings) -> list[CheckResult]:
    """Every check; a failure is a result, not an exception."""
    results = [CheckResult("config", ok=True, message="valid")]
    results.extend(await _check_chartmogul(config, settings))
    for name, sync in config.syncs.items():
        results.append(await asyncio.to_thread(_check_model, config, name))
        del sync
    return results


async def _check_chartmogul(config: AppConfig, settings: ClientSettings) -> list[CheckResult]:
    results: list[CheckResult] = []
    async with ChartMogulClient(settings) as client:
        try:
            if not await client.ping():
                return [CheckResult("chartmogul", ok=False, message="ping did not answer pong")]
        except TransportError as exc:
            return [
                CheckResult(
                    "chartmogul",
                    ok=False,
                    message=f"not reachable at {settings.base_url}: {exc.user_message}",
                )
            ]
        except MogulsyncError as exc:
            return [CheckResult("chartmogul", ok=False, message=exc.user_message)]
        results.append(
            CheckResult("chartmogul", ok=True, message=f"key accepted at {settings.base_url}")
        )
        for name, sync in config.syncs.items():
            subject = f"syncs.{name}.data_source"
            try:
                uuid = await resolve_data_source(client, sync.data_source, create=False)
            except MogulsyncError as exc:
                results.append(CheckResult(subject, ok=False, message=exc.user_message))
                continue
            message = f"{uuid}" if uuid else f"`{sync.data_source}` will be created on first run"
            results.append(CheckResult(subject, ok=True, message=message))
    return results


def _check_model(config: AppConfig, name: str) -> CheckResult:
    sync = config.syncs[name]
    subject = f"syncs.{name} (model {sync.model})"
    source = open_source(config, config.models[sync.model])
    try:
        schema = source.compile(config.models[sync.model])
        prepare(config, name, source, schema)
    except MogulsyncError as exc:
        return CheckResult(subject, ok=False, message=exc.user_message)
    finally:
        source.close()
    return CheckResult(subject, ok=True, message=f"compiles; {len(schema.columns)} columns")
