"""``mogulsync check``: config, API key, data sources and every model, each with a verdict."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, RetryPolicy, TransportError
from mogulsync.config import AppConfig, ConfigValidationError, load_config
from mogulsync.config.salvage import salvage
from mogulsync.config.yaml_file import YamlFileError, read_yaml
from mogulsync.errors import ConfigError, MogulsyncError
from mogulsync.sync.batch import prepare
from mogulsync.sync.connect import DEFAULT_DATA_SOURCE, open_source, resolve_data_source
from mogulsync.sync.errors_text import describe
from mogulsync.sync.mapping import MappingConfigError

if TYPE_CHECKING:
    from mogulsync.config.extract import ExtractConfig

logger = logging.getLogger(__name__)
#: sections only other commands read (``events serve``, ``extract run``): `check` covers them
OTHER_SECTIONS = ("events", "extract")
#: check answers within seconds: a few quick retries, not a run's patient backoff
CHECK_RETRY = RetryPolicy(max_attempts=3, max_total_s=10.0, initial_wait_s=0.5, jitter_s=0.2)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One verdict."""

    subject: str
    ok: bool
    message: str


async def check_project(
    config: AppConfig, settings: ClientSettings, *, config_path: Path | None = None
) -> list[CheckResult]:
    """Every check; a failure is a result, not an exception.

    With ``config_path``, the sections sync commands do not read (``events:``, ``extract:``)
    are checked too, as the commands that read them would: their unset variables included.
    """
    results = [CheckResult("config", ok=True, message="valid")]
    if config_path is not None:
        results.extend(check_other_sections(config_path))
    results.extend(await _check_chartmogul(config, settings))
    results.extend([await asyncio.to_thread(_check_model, config, name) for name in config.syncs])
    return results


#: the local emulator's default API key, spelled here because production code does not
#: import the emulator (a test keeps it equal to the emulator's own)
EMULATOR_API_KEY = "emulator-api-key"


def emulator_key_at_chartmogul(settings: ClientSettings) -> CheckResult | None:
    """A failure when the emulator's key would be sent to the real API, else None.

    The README's walk-through exports the emulator's key; a project file whose ``base_url``
    was left out (commented out in the starter) would send it to ChartMogul and only get a
    401 that does not say the URL is what is wrong.
    """
    from mogulsync.config.chartmogul import DEFAULT_BASE_URL

    if settings.api_key.get_secret_value() != EMULATOR_API_KEY:
        return None
    if settings.base_url != DEFAULT_BASE_URL:
        return None
    return CheckResult(
        "chartmogul",
        ok=False,
        message=f"`{EMULATOR_API_KEY}` is the local emulator's key, but chartmogul.base_url is"
        f" {DEFAULT_BASE_URL} (the default); nothing was sent there\n"
        "  → Set chartmogul.base_url to the URL `mogulsync emulator serve` prints"
        " (e.g. http://127.0.0.1:8780), or export your ChartMogul API key.",
    )


#: what to do when nothing answers at base_url: the emulator not started is the usual cause
UNREACHABLE_HINT = (
    "Check chartmogul.base_url; for the local emulator, start `mogulsync emulator serve`"
    " and use the URL it prints."
)


async def _check_chartmogul(config: AppConfig, settings: ClientSettings) -> list[CheckResult]:
    mismatch = emulator_key_at_chartmogul(settings)
    if mismatch is not None:
        return [mismatch]
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
                    message=f"not reachable at {settings.base_url}: {exc.user_message}\n"
                    f"  → {UNREACHABLE_HINT}",
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
            # the name the first run will create: the sync's, or the default when left out
            wanted = sync.data_source or DEFAULT_DATA_SOURCE
            message = f"{uuid}" if uuid else f"`{wanted}` will be created on first run"
            results.append(CheckResult(subject, ok=True, message=message))
    return results


def check_other_sections(path: Path) -> list[CheckResult]:
    """One verdict per configured section outside the sync commands' (see ``OTHER_SECTIONS``)."""
    raw = read_yaml(path)
    configured = [name for name in OTHER_SECTIONS if isinstance(raw, dict) and name in raw]
    if not configured:
        return []
    problems: list[str] = []
    try:
        config = load_config(path, sections=configured, writes_state=False)
    except ConfigValidationError as exc:
        problems = exc.problems
        if "extract" in configured:
            # an unset variable (a destination's password) must not hide an unknown stream:
            # the streams need no variable, so one round of fixes is enough
            problems.extend(_streams_problems(path))
    else:
        if "events" in configured and not config.events.write_keys:
            problems.append("events.write_keys: empty; `events serve` needs at least one")
        if "extract" in configured:
            problems.extend(_extract_problems(config.extract))
    results = []
    for name in configured:
        own = [problem for problem in problems if problem.startswith(f"{name}.")]
        message = "; ".join(own) if own else "valid"
        results.append(CheckResult(f"config ({name}:)", ok=not own, message=message))
    return results


def _streams_problems(path: Path) -> list[str]:
    """The unknown streams of ``extract.streams`` when the file loads without its ${ENV}
    (none otherwise: its other problems are already listed)."""
    from mogulsync.extract.runner import select_streams

    try:
        extract = load_config(path, sections=(), writes_state=False).extract
        select_streams(extract.streams)
    except ConfigValidationError:
        return []
    except ConfigError as exc:
        return [f"extract.streams: {exc.user_message}"]
    return []


def _extract_problems(extract: ExtractConfig) -> list[str]:
    """What `extract run` would refuse in a schema-valid ``extract:``: unknown streams and a
    destination it cannot load into (the schema takes any text for both)."""
    from mogulsync.extract.destinations import parse_destination
    from mogulsync.extract.runner import select_streams

    problems = []
    try:
        select_streams(extract.streams)
    except ConfigError as exc:
        problems.append(f"extract.streams: {exc.user_message}")
    try:
        parse_destination(extract.destination.get_secret_value(), extract.dataset)
    except ConfigError as exc:  # its message masks a password in the URL
        problems.append(f"extract.destination: {exc.user_message}")
    return problems


def with_mapping_problems(
    error: ConfigValidationError, path: Path, sections: Collection[str]
) -> ConfigValidationError:
    """``error`` plus the mapping problems of the syncs its problems leave sound.

    Mapping problems need each model's columns, hence a config; without this a user would
    fix the file's problems first and only then meet the mapping ones.
    """
    try:
        raw = read_yaml(path)
    except YamlFileError:
        return error
    if not isinstance(raw, dict):
        return error
    config = salvage(raw, error.problems, os.environ, sections=sections, base_dir=path.parent)
    if config is None:
        return error
    found = [problem for name in config.syncs for problem in _mapping_problems(config, name)]
    return ConfigValidationError(path, [*error.problems, *found]) if found else error


def mapping_problems(config: AppConfig) -> list[str]:
    """The mapping problems of every sync whose model compiles (each needs its columns:
    the warehouse is asked). A model that cannot be compiled now is none of them."""
    found: list[str] = []
    for name in config.syncs:
        try:
            found.extend(_mapping_problems(config, name))
        except Exception as exc:  # a warehouse's own error: `check` names it, not this list
            logger.debug("mapping of %s not checked: %s", name, type(exc).__name__)
    return found


def _mapping_problems(config: AppConfig, name: str) -> list[str]:
    """The mapping problems of one sync (its model compiled); none if it cannot be compiled."""
    sync = config.syncs[name]
    try:
        source = open_source(config, config.models[sync.model])
    except MogulsyncError:
        return []
    try:
        prepare(config, name, source, source.compile(config.models[sync.model]))
    except MappingConfigError as exc:
        return exc.problems
    except MogulsyncError:
        return []  # not a problem of the file's: `check` reports it once the file is fixed
    finally:
        source.close()
    return []


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
