"""Dagster assets for a mogulsync project: one asset per sync, one per extracted table.

```python
# definitions.py
import dagster as dg
from mogulsync.integrations.dagster import mogulsync_assets, mogulsync_extract_assets

defs = dg.Definitions(
    assets=[*mogulsync_assets("mogulsync.yml"), *mogulsync_extract_assets("mogulsync.yml")]
)
```

* A sync's asset is keyed ``["chartmogul", <sync>]`` (or under ``key_prefix``) in group
  ``mogulsync``. It depends on its model's asset — the key dagster-dbt gives a ``dbt:``
  model by default, else the ``table:`` name split on dots — on the model's ``deps:``, and
  on the syncs it ``depends_on``. A sync keyed like a dbt source table is warned of.
* A materialization runs the sync exactly as ``mogulsync sync run`` does
  (:meth:`SyncEngine.run`), attaches the run summary and where to read the run as metadata,
  raises on a ``failed`` run and reports a ``partial`` one through the ``no_failed_rows``
  check (WARN; ERROR and blocking past ``max_failed_rows``). Automation conditions, retry
  policies, pools and freshness policies are passed through.
* :func:`mogulsync_extract_assets`: an asset per table the extract loads, all made by one
  step (one extract run), keyed as dagster-dbt keys the dbt source reading each table; the
  same automation conditions, retry policies, pools and freshness policies apply.
* :func:`mogulsync_reconcile_checks`: drift as a ``reconciled`` check per sync, with the
  same automation conditions, retry policies and pools (and ``blocking``).
* :class:`MogulsyncResource` carries the project file and optional overrides (base URL, an
  ``EnvVar`` API key, the UI's URL); bind your own per deployment with
  ``mogulsync_assets(path, resource=...)``.

Requires the ``dagster`` extra (``pip install 'mogulsync[dagster]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import warnings
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import dagster as dg
from dagster_shared.utils.warnings import BetaWarning
from pydantic import SecretStr

from mogulsync.config import AppConfig, load_config
from mogulsync.errors import ConfigError, MogulsyncError
from mogulsync.runs import RunRecord, RunStatus, RunStore

if TYPE_CHECKING:
    from mogulsync.integrations.dbt import DbtKeys

GROUP = "mogulsync"
#: the resource key of the default key prefix's assets (see resource_key_for)
RESOURCE_KEY = "mogulsync"
KEY_PREFIX = "chartmogul"
CHECK_NAME = "no_failed_rows"
#: failing rows quoted in the check's metadata
SAMPLE_ROWS = 5
#: sections read to build the asset graph: no ${ENV} secret is needed to load definitions
GRAPH_SECTIONS = ("syncs",)
_ALL_BUT_CHARTMOGUL = tuple(name for name in AppConfig.model_fields if name != "chartmogul")


class MogulsyncResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where the project file is, and (per deployment) which ChartMogul API to call."""

    #: path to mogulsync.yml
    project_file: str = "mogulsync.yml"
    #: overrides ``chartmogul.base_url`` (e.g. an emulator in staging)
    base_url: str | None = None
    #: replaces the project's ``chartmogul.api_key`` (whose ``${VAR}`` then need not be
    #: set); give ``dg.EnvVar("...")``, which Dagster shows by name, never by value
    api_key: str | None = None
    #: the mogulsync UI (``mogulsync serve``) as Dagster's users reach it, e.g.
    #: ``https://mogulsync.internal``: each materialization links to its run there
    ui_url: str | None = None

    def load(self, sections: Collection[str] | None = None) -> AppConfig:
        """The project, ``sections`` (default: every one) checked, secrets from the
        environment."""
        update: dict[str, Any] = {}
        if self.api_key is None:
            config = load_config(self.project_file, sections=sections)
        else:
            if not self.api_key.strip():
                msg = "MogulsyncResource.api_key is empty: set the variable it reads"
                raise ConfigError(msg)
            # an unset ${VAR} is not reported in chartmogul's section: its key is ours
            checked = _ALL_BUT_CHARTMOGUL if sections is None else sections
            config = load_config(
                self.project_file, sections=[name for name in checked if name != "chartmogul"]
            )
            update["api_key"] = SecretStr(self.api_key)
        if self.base_url is not None:
            update["base_url"] = self.base_url
        if not update:
            return config
        section = config.chartmogul.model_copy(update=update)
        return config.model_copy(update={"chartmogul": section})

    def run_sync(
        self,
        name: str,
        *,
        full: bool = False,
        config: AppConfig | None = None,
        allow_deletes: bool = False,
    ) -> RunRecord:
        """Run one sync the way ``mogulsync sync run`` does; its run record.

        ``config``: the project as :meth:`load` gave it, when the caller has it already
        (else it is loaded here). ``allow_deletes``: as ``--allow-deletes``, this run may
        delete more records than the sync's ``max_deletes`` allows.
        """
        from mogulsync.sync.engine import SyncEngine

        engine = SyncEngine(config or self.load())
        return asyncio.run(engine.run(name, full=full, allow_deletes=allow_deletes))

    def history_metadata(self, run_id: str | None) -> dict[str, Any]:
        """Where to read run ``run_id`` in full: the UI's run page, the CLI command."""
        if not run_id:
            return {}
        metadata: dict[str, Any] = {
            "run_details": dg.MetadataValue.text(
                f"mogulsync -c {self.project_file} runs show {run_id} --errors"
            )
        }
        if self.ui_url:
            metadata["run_page"] = dg.MetadataValue.url(f"{self.ui_url.rstrip('/')}/runs/{run_id}")
        return metadata

    def failing_rows(
        self, record: RunRecord, limit: int = SAMPLE_ROWS, *, config: AppConfig | None = None
    ) -> list[str]:
        """A sample of the run's failed rows as ``key: field: message`` lines (``config``:
        as for :meth:`run_sync`)."""
        store = RunStore(Path((config or self.load()).state_dir))
        try:
            errors = store.errors(record.run_id)[:limit]
        finally:
            store.close()
        return [f"{error.key}: {error.field}: {error.message}" for error in errors]


_DEFAULT_RESOURCES: dict[str, MogulsyncResource] = {}


def project_resource(path: str | Path) -> MogulsyncResource:
    """The resource bound when none is given: one per project file, so that the assets and
    the checks of one project, built by separate calls, can share a Dagster job (Dagster
    wants resources bound under one key to be one object)."""
    return _DEFAULT_RESOURCES.setdefault(
        str(Path(path).resolve()), MogulsyncResource(project_file=str(path))
    )


@contextlib.contextmanager
def ignoring_beta() -> Iterator[None]:
    """Binding a resource to an asset or check is marked beta; it is what lets our
    definitions work in a plain ``Definitions(assets=...)`` and still read EnvVar fields
    at run time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        yield


def sync_asset_key(sync: str, prefix: str | Sequence[str] = KEY_PREFIX) -> dg.AssetKey:
    """``["chartmogul", <sync>]``, or under another prefix."""
    return dg.AssetKey([*prefix_parts(prefix), sync])


def resource_key_for(prefix: str | Sequence[str] = KEY_PREFIX) -> str:
    """The key our resource is bound under: ``mogulsync``, or, for the assets of another
    key prefix (another project), ``mogulsync_<prefix>``. Dagster wants one object per
    resource key in a job, and each project has its own resource."""
    parts = prefix_parts(prefix)
    if parts == [KEY_PREFIX]:
        return RESOURCE_KEY
    return "_".join([RESOURCE_KEY, *(re.sub(r"\W", "_", part) for part in parts)])


def prefix_parts(prefix: str | Sequence[str]) -> list[str]:
    parts = [prefix] if isinstance(prefix, str) else list(prefix)
    if not parts or not all(parts):
        msg = f"key_prefix must name at least one non-empty part, not {prefix!r}"
        raise ValueError(msg)
    return parts


def model_deps(config: AppConfig, model_name: str, dbt: DbtKeys | None = None) -> list[dg.AssetKey]:
    """The upstream asset keys of a model (see the module docstring); ``dbt``: the project's
    dbt keys when the caller has them (else the manifest is read for this model)."""
    from mogulsync.integrations.dbt import dbt_keys

    model = config.models[model_name]
    keys: list[dg.AssetKey] = []
    if model.dbt is not None and config.dbt is not None:
        if dbt is None or model_name not in dbt.models:
            dbt = dbt_keys(config.dbt, {model_name: model.dbt})
        keys.append(dg.AssetKey(dbt.models[model_name]))
    elif model.table is not None:
        keys.append(dg.AssetKey(model.table.split(".")))
    keys.extend(dg.AssetKey.from_user_string(dep) for dep in model.deps)
    return keys


def project_dbt_keys(config: AppConfig) -> DbtKeys:
    """The dagster-dbt keys of every ``dbt:`` model the syncs read, and of the sources."""
    from mogulsync.integrations.dbt import dbt_keys

    used = {sync.model for sync in config.syncs.values()}
    used |= {
        s.line_items.model for s in config.syncs.values() if s.line_items and s.line_items.model
    }
    references = {
        name: model.dbt
        for name, model in config.models.items()
        if name in used and model.dbt is not None
    }
    return dbt_keys(config.dbt, references)


class AssetPolicyArgs(TypedDict):
    """The arguments of :meth:`DagsterPolicies.asset_args`."""

    automation_condition: dg.AutomationCondition[Any] | None
    freshness_policy: dg.FreshnessPolicy | None


class StepPolicyArgs(TypedDict):
    """The arguments of :meth:`DagsterPolicies.step_args`."""

    retry_policy: dg.RetryPolicy | None
    pool: str | None


class CheckPolicyArgs(StepPolicyArgs):
    """The arguments of :meth:`DagsterPolicies.check_args`."""

    automation_condition: dg.AutomationCondition[Any] | None


@dataclass(frozen=True, slots=True)
class DagsterPolicies:
    """How Dagster schedules, retries and limits our assets and checks, set by a deployment
    on the sync assets, the extract's and the reconcile checks alike (see
    :func:`mogulsync_assets`)."""

    automation_condition: dg.AutomationCondition[Any] | None = None
    retry_policy: dg.RetryPolicy | None = None
    #: a Dagster concurrency pool (e.g. one per ChartMogul account)
    pool: str | None = None
    freshness_policy: dg.FreshnessPolicy | None = None

    def asset_args(self) -> AssetPolicyArgs:
        """What Dagster sets per asset: for ``@asset``, or each spec of a multi-asset."""
        return {
            "automation_condition": self.automation_condition,
            "freshness_policy": self.freshness_policy,
        }

    def step_args(self) -> StepPolicyArgs:
        """What Dagster sets per step (op): ``@asset`` or ``@multi_asset``."""
        return {"retry_policy": self.retry_policy, "pool": self.pool}

    def check_args(self) -> CheckPolicyArgs:
        """What Dagster sets on an ``@asset_check``: its own automation condition, and the
        step's retries and pool (a check has no freshness of its own)."""
        return {"automation_condition": self.automation_condition, **self.step_args()}


@dataclass(frozen=True, slots=True)
class AssetOptions:
    """What a deployment may set on every sync asset (see :func:`mogulsync_assets`)."""

    #: above this many failed rows the ``no_failed_rows`` check fails with severity ERROR,
    #: which (the check being blocking) keeps downstream assets from running
    max_failed_rows: int | None = None
    key_prefix: str | Sequence[str] = KEY_PREFIX
    policies: DagsterPolicies = DagsterPolicies()


@dataclass(frozen=True, slots=True)
class ReconcileCheckOptions:
    """What a deployment may set on every ``reconciled`` check (see
    :func:`mogulsync_reconcile_checks`)."""

    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN
    key_prefix: str | Sequence[str] = KEY_PREFIX
    blocking: bool = False
    policies: DagsterPolicies = DagsterPolicies()


def mogulsync_assets(
    path: str | Path = "mogulsync.yml",
    *,
    resource: MogulsyncResource | None = None,
    max_failed_rows: int | None = None,
    automation_condition: dg.AutomationCondition[Any] | None = None,
    retry_policy: dg.RetryPolicy | None = None,
    pool: str | None = None,
    key_prefix: str | Sequence[str] = KEY_PREFIX,
    freshness_policy: dg.FreshnessPolicy | None = None,
) -> list[dg.AssetsDefinition]:
    """One Dagster asset per sync of the project at ``path``.

    ``key_prefix`` replaces ``chartmogul`` in the keys (two projects in one code location,
    or a dbt source already keyed ``chartmogul/<sync>``: see :func:`warn_of_dbt_source_clashes`).

    ``max_failed_rows``: a run with more failed rows fails the ``no_failed_rows`` check with
    severity ERROR (downstream assets do not run); at or below it, or when None, a failing
    check is a WARN. ``automation_condition``, ``retry_policy``, ``pool`` and
    ``freshness_policy`` are passed to every sync asset as Dagster defines them.
    """
    if max_failed_rows is not None and max_failed_rows < 0:
        msg = f"max_failed_rows must be 0 or more, not {max_failed_rows}"
        raise ValueError(msg)
    bound = resource or project_resource(path)
    config = load_config(bound.project_file, sections=GRAPH_SECTIONS)
    policies = DagsterPolicies(automation_condition, retry_policy, pool, freshness_policy)
    options = AssetOptions(max_failed_rows, key_prefix, policies)
    dbt = project_dbt_keys(config)
    warn_of_dbt_source_clashes(config, dbt, key_prefix)
    return [_sync_asset(config, name, bound, options, dbt) for name in config.syncs]


def warn_of_dbt_source_clashes(
    config: AppConfig, dbt: DbtKeys, prefix: str | Sequence[str]
) -> None:
    """Warn when a sync's key is also the key dagster-dbt gives a dbt source.

    The extract's tables land in dataset ``chartmogul``, so a dbt project reading them has
    a source ``chartmogul`` whose tables dagster-dbt keys ``["chartmogul", <table>]``: a
    sync named like a table would then stand, in Dagster's graph, for the data dbt reads,
    and every model reading it would hang below the sync (or close a cycle).
    """
    sources = dbt.sources
    for name in config.syncs:
        key = tuple(sync_asset_key(name, prefix).path)
        if key in sources:
            warnings.warn(
                f"sync `{name}`'s asset key {'/'.join(key)} is also the key dagster-dbt gives"
                f" dbt source `{sources[key]}`, so dbt models reading that source would show"
                " as downstream of the sync (and mogulsync_extract_assets gives the"
                " extract's table that key too). Key the source as the extract's table"
                f" (meta: {{dagster: {{asset_key: [dlt_chartmogul_{key[-1]}]}}}}) or pass"
                " mogulsync_assets(..., key_prefix=...)",
                DbtSourceClashWarning,
                stacklevel=3,
            )


class DbtSourceClashWarning(UserWarning):
    """A sync's asset key is also a dbt source's key (see warn_of_dbt_source_clashes)."""


def sync_deps(
    config: AppConfig,
    name: str,
    prefix: str | Sequence[str] = KEY_PREFIX,
    dbt: DbtKeys | None = None,
) -> list[dg.AssetKey]:
    """The upstream keys of sync ``name``: its models' and its parent syncs'."""
    sync = config.syncs[name]
    parents = (sync_asset_key(parent, prefix) for parent in sync.depends_on)
    deps = [*model_deps(config, sync.model, dbt), *parents]
    if sync.line_items and sync.line_items.model:
        deps.extend(model_deps(config, sync.line_items.model, dbt))
    return list(dict.fromkeys(deps))


def _sync_asset(
    config: AppConfig,
    name: str,
    resource: MogulsyncResource,
    options: AssetOptions,
    dbt: DbtKeys,
) -> dg.AssetsDefinition:
    sync = config.syncs[name]
    with ignoring_beta():
        return _define(
            name,
            sync.object,
            sync.model,
            sync_deps(config, name, options.key_prefix, dbt),
            resource,
            options,
        )


def _define(
    name: str,
    obj: str,
    model: str,
    deps: list[dg.AssetKey],
    resource: MogulsyncResource,
    options: AssetOptions,
) -> dg.AssetsDefinition:
    key = sync_asset_key(name, options.key_prefix)
    resource_key = resource_key_for(options.key_prefix)
    threshold = options.max_failed_rows

    @dg.asset(
        key=key,
        group_name=GROUP,
        deps=deps,
        description=f"mogulsync sync `{name}`: model `{model}` → ChartMogul {obj}s",
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                description="every row of the last run reached ChartMogul",
                # blocks downstream only when it fails with ERROR: past max_failed_rows
                blocking=threshold is not None,
            )
        ],
        resource_defs={resource_key: resource},
        kinds={"chartmogul"},
        **options.policies.asset_args(),
        **options.policies.step_args(),
    )
    # Unannotated: Dagster inspects the annotation objects, and this module's
    # `from __future__ import annotations` turns them into strings.
    def _materialize(context):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        project: MogulsyncResource = getattr(context.resources, resource_key)
        try:
            # loaded once: the run and the sample of its failed rows read the same project
            config = project.load()
            record = project.run_sync(name, config=config)
        except MogulsyncError as exc:  # no run happened: the project, its lock, ...
            raise refused_failure(name, exc) from None
        metadata = {**summary_metadata(record), **project.history_metadata(record.run_id)}
        if record.status is RunStatus.FAILED:
            raise dg.Failure(
                description=f"sync `{name}` failed: {record.message or 'see the run history'}",
                metadata=metadata,
                # refused deletes are refused again on every retry until a person acts
                allow_retries=not refused_deletes(record),
            )
        failed = record.rows.failed
        check_metadata: dict[str, Any] = {"failed_rows": failed}
        if threshold is not None:
            check_metadata["max_failed_rows"] = threshold
        if failed:
            check_metadata["sample"] = dg.MetadataValue.md(
                "\n".join(f"- {line}" for line in project.failing_rows(record, config=config))
            )
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_NAME,
                    passed=failed == 0,
                    severity=check_severity(failed, threshold),
                    metadata=check_metadata,
                )
            ],
        )

    return _materialize


def refused_deletes(record: RunRecord) -> bool:
    """Whether the run failed on the mass-delete safeguard (``max_deletes``)."""
    from mogulsync.sync.delete_guard import TooManyDeletesError

    return isinstance(record.error, TooManyDeletesError)


def refused_failure(name: str, exc: MogulsyncError) -> dg.Failure:
    """A sync that did not start, as a Dagster failure with mogulsync's message and hint.

    Another run holding the sync's lock may be over by the next attempt, so the step's
    retry policy applies; a configuration problem fails the same way every time, so it
    does not.
    """
    from mogulsync.messages import describe

    return dg.Failure(
        description=f"sync `{name}` did not run: {describe(exc)}",
        metadata={"error": type(exc).__name__},
        allow_retries=not isinstance(exc, ConfigError),
    )


def check_severity(failed: int, max_failed_rows: int | None) -> dg.AssetCheckSeverity:
    """ERROR past the threshold, else WARN (a few rejected rows are retried next run)."""
    if max_failed_rows is not None and failed > max_failed_rows:
        return dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckSeverity.WARN


def summary_metadata(record: RunRecord) -> dict[str, Any]:
    """The run summary as Dagster metadata."""
    rows = record.rows
    metadata: dict[str, Any] = {
        "run_id": record.run_id,
        "status": record.status.value,
        "rows_added": rows.added,
        "rows_changed": rows.changed,
        "rows_removed": rows.removed,
        "rows_unchanged": rows.unchanged,
        "rows_failed": rows.failed,
        "api_calls": record.api_calls,
        "duration_s": round(record.duration_s, 3),
    }
    if record.message:  # the run's own summary line (secrets masked, as in the history)
        metadata["message"] = record.message
    return metadata


def mogulsync_extract_assets(
    path: str | Path = "mogulsync.yml",
    *,
    streams: Sequence[str] | None = None,
    key_prefix: str | Sequence[str] | None = None,
    resource: MogulsyncResource | None = None,
    automation_condition: dg.AutomationCondition[Any] | None = None,
    retry_policy: dg.RetryPolicy | None = None,
    pool: str | None = None,
    freshness_policy: dg.FreshnessPolicy | None = None,
) -> list[dg.AssetsDefinition]:
    """The ``extract:`` section as one asset per table, made by one step (one extract run).

    Keys: a table a dbt source reads takes that source's dagster-dbt key (lineage to the
    dbt models); the others ``dlt_chartmogul_<table>``, or ``[*key_prefix, <table>]``.
    ``streams`` narrows the project's streams; ``resource`` as for :func:`mogulsync_assets`
    (its ``api_key`` and ``base_url`` apply to the extract too). ``automation_condition``
    and ``freshness_policy`` are given to every table's asset, ``retry_policy`` and
    ``pool`` to the step, as for the sync assets. See :mod:`._dagster_extract`.
    """
    from mogulsync.integrations._dagster_extract import extract_assets

    policies = DagsterPolicies(automation_condition, retry_policy, pool, freshness_policy)
    return extract_assets(resource or project_resource(path), streams, key_prefix, policies)


def mogulsync_reconcile_checks(
    path: str | Path = "mogulsync.yml",
    *,
    resource: MogulsyncResource | None = None,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN,
    key_prefix: str | Sequence[str] = KEY_PREFIX,
    blocking: bool = False,
    automation_condition: dg.AutomationCondition[Any] | None = None,
    retry_policy: dg.RetryPolicy | None = None,
    pool: str | None = None,
) -> list[dg.AssetChecksDefinition]:
    """A ``reconciled`` asset check per sync: ChartMogul still holds what the model maps to.

    Each evaluation is a recorded reconcile (a full listing of the sync's scope); see
    :mod:`mogulsync.integrations._dagster_reconcile`. ``blocking`` (with ``severity``
    ERROR): a failed check keeps the assets downstream of the sync in the same run from
    running. ``automation_condition`` (e.g. a daily ``on_cron``: the check's own cadence),
    ``retry_policy`` and ``pool`` are given to every check as to the sync assets; Dagster
    has no freshness policy for a check.
    """
    from mogulsync.integrations._dagster_reconcile import reconcile_checks

    policies = DagsterPolicies(automation_condition, retry_policy, pool)
    return reconcile_checks(
        Path(path), resource, ReconcileCheckOptions(severity, key_prefix, blocking, policies)
    )
