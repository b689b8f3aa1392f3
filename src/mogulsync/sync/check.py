"""``mogulsync check``: config, API key, data sources and every model, each with a verdict."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, RetryPolicy, TransportError
from mogulsync.config import AppConfig
from mogulsync.errors import MogulsyncError
from mogulsync.sync.batch import prepare
from mogulsync.sync.connect import open_source, resolve_data_source
from mogulsync.sync.errors_text import describe

#: check answers within seconds: a few quick retries, not a run's patient backoff
CHECK_RETRY = RetryPolicy(max_attempts=3, max_total_s=10.0, initial_wait_s=0.5, jitter_s=0.2)


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
    results.extend([await asyncio.to_thread(_check_model, config, name) for name in config.syncs])
    return results


async def _check_chartmogul(config: AppConfig, settings: ClientSettings) -> list[CheckResult]:
    results: list[CheckResult] = []
    quick = settings.model_copy(update={"retry": CHECK_RETRY})
    async with ChartMogulClient(quick) as client:
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
            return [CheckResult("chartmogul", ok=False, message=describe(exc))]
        results.append(
            CheckResult("chartmogul", ok=True, message=f"key accepted at {settings.base_url}")
        )
        for name, sync in config.syncs.items():
            subject = f"syncs.{name}.data_source"
            try:
                uuid = await resolve_data_source(client, sync.data_source, create=False)
            except MogulsyncError as exc:
                results.append(CheckResult(subject, ok=False, message=describe(exc)))
                continue
            message = f"{uuid}" if uuid else f"`{sync.data_source}` will be created on first run"
            results.append(CheckResult(subject, ok=True, message=message))
    return results


def _check_model(config: AppConfig, name: str) -> CheckResult:
    sync = config.syncs[name]
    subject = f"syncs.{name} (model {sync.model})"
    try:
        source = open_source(config, config.models[sync.model])
    except MogulsyncError as exc:  # a bad URL or a missing dialect package
        return CheckResult(subject, ok=False, message=describe(exc))
    try:
        schema = source.compile(config.models[sync.model])
        prepare(config, name, source, schema)
    except MogulsyncError as exc:
        return CheckResult(subject, ok=False, message=describe(exc))
    finally:
        source.close()
    return CheckResult(subject, ok=True, message=f"compiles; {len(schema.columns)} columns")
