"""The extract as Dagster assets: one per table it loads, all made by one step.

The step is one ``mogulsync extract run`` (:func:`~mogulsync.extract.runner.run_extract`:
the same pipeline, source, incremental states and clean-up as the CLI, no second
implementation), of the selected assets' streams only when Dagster runs a subset, and it
goes the CLI's recorded way (:func:`~mogulsync.extract.recorded.recorded_extract`): under
the extract lock, in the extract history, alerted on. Each
table gets its own materialization with the records this run loaded into it and the rows
the destination table holds.

Keys: a table a dbt source reads (schema = the extract's dataset) takes the key dagster-dbt
gives that source, so the dbt models reading it hang below it with no glue; the others are
``dlt_chartmogul_<table>`` (how dagster-dlt names a dlt resource), or ``[*key_prefix,
<table>]`` when a prefix is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from mogulsync.config import load_config
from mogulsync.errors import ConfigError, MogulsyncError
from mogulsync.integrations.dagster import (
    GROUP,
    RESOURCE_KEY,
    DagsterPolicies,
    MogulsyncResource,
    ignoring_beta,
    prefix_parts,
    resource_key_for,
)

if TYPE_CHECKING:
    from mogulsync.chartmogul import ClientSettings
    from mogulsync.extract.recording import ExtractWatch
    from mogulsync.extract.runner import ExtractOptions, ExtractReport
    from mogulsync.extract.streams import Stream
    from mogulsync.integrations.dbt import SourceTable

#: the op's name under the default keys (another prefix: ``mogulsync_extract_<prefix>``)
EXTRACT_OP = "mogulsync_extract"
#: the history's message of a run stopped by an interrupt (a terminated Dagster run)
STOPPED = "stopped: the Dagster run was interrupted"
#: no section's ${ENV} needs to be set to build the graph (the destination's password, the
#: API key): they are read when the step runs
_NO_SECRETS: tuple[str, ...] = ()


def extract_assets(
    resource: MogulsyncResource,
    streams: Sequence[str] | None,
    key_prefix: str | Sequence[str] | None,
    policies: DagsterPolicies | None = None,
) -> list[dg.AssetsDefinition]:
    """One multi-asset: a spec per table of the streams the resource's project chooses (or
    ``streams``); the resource bound, and ``policies`` applied, as for the sync assets."""
    from mogulsync.extract.runner import select_streams
    from mogulsync.integrations.dbt import tables_read_by_sources

    config = load_config(resource.project_file, sections=_NO_SECRETS)
    extract = config.extract
    chosen = select_streams(list(streams) if streams else extract.streams)
    readers = tables_read_by_sources(config.dbt, extract.dataset)
    keys = table_keys(chosen, readers, key_prefix)
    kinds = {"dlt", *_destination_kind(extract.destination.get_secret_value(), extract.dataset)}
    policies = policies or DagsterPolicies()
    specs = [
        dg.AssetSpec(
            keys[stream.name],
            description=f"ChartMogul {stream.name} ({stream.description}) loaded by mogulsync's"
            f" extract into {extract.dataset}.{stream.name}",
            group_name=GROUP,
            kinds=kinds,
            metadata={"dagster/table_name": f"{extract.dataset}.{stream.name}"},
            skippable=True,
            **policies.asset_args(),
        )
        for stream in chosen
    ]
    op_name = EXTRACT_OP
    resource_key = RESOURCE_KEY
    if key_prefix is not None:
        op_name = "_".join([EXTRACT_OP, *(re.sub(r"\W", "_", p) for p in prefix_parts(key_prefix))])
        resource_key = resource_key_for(key_prefix)

    with ignoring_beta():

        @dg.multi_asset(
            specs=specs,
            name=op_name,
            can_subset=True,
            resource_defs={resource_key: resource},
            # one step makes every table: it is what retries and what takes a pool slot
            **policies.step_args(),
        )
        # Unannotated: Dagster inspects annotation objects; see integrations/dagster.py.
        def _extract(context):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
            project: MogulsyncResource = getattr(context.resources, resource_key)
            selected = [name for name, key in keys.items() if key in context.selected_asset_keys]
            yield from _materialize(project, selected, keys, context.log)

    return [_extract]


def table_keys(
    streams: Sequence[Stream],
    readers: Mapping[str, list[SourceTable]],
    key_prefix: str | Sequence[str] | None,
) -> dict[str, dg.AssetKey]:
    """``{stream: asset key}`` (see the module docstring); ValueError when dbt sources give
    one table two keys, or two tables one key."""
    from mogulsync.extract.loading import SOURCE_NAME

    parts = None if key_prefix is None else prefix_parts(key_prefix)
    keys: dict[str, dg.AssetKey] = {}
    for stream in streams:
        sources = readers.get(stream.name, [])
        distinct = {source.key for source in sources}
        if len(distinct) > 1:
            named = ", ".join(f"{s.name} ({'/'.join(s.key)})" for s in sources)
            msg = (
                f"extract table {stream.name} is read by dbt sources with different dagster"
                f" keys: {named}. Give them one key (meta: {{dagster: {{asset_key: [...]}}}})"
            )
            raise ValueError(msg)
        if distinct:
            keys[stream.name] = dg.AssetKey(list(distinct.pop()))
        elif parts is None:
            keys[stream.name] = dg.AssetKey(f"dlt_{SOURCE_NAME}_{stream.name}")
        else:
            keys[stream.name] = dg.AssetKey([*parts, stream.name])
    _refuse_shared_keys(keys, readers)
    return keys


def _refuse_shared_keys(keys: Mapping[str, dg.AssetKey], readers: Mapping[str, Any]) -> None:
    """Two tables under one key: e.g. dbt sources still keyed as the one extract asset of
    earlier versions (``meta: {dagster: {asset_key: [dlt_chartmogul_streams]}}``)."""
    by_key: dict[dg.AssetKey, list[str]] = {}
    for table, key in keys.items():
        by_key.setdefault(key, []).append(table)
    for key, tables in by_key.items():
        if len(tables) < 2:
            continue
        sources = [s.name for t in tables for s in readers.get(t, [])]
        msg = (
            f"extract tables {', '.join(tables)} would all be asset {key.to_user_string()}"
            f" (the meta.dagster.asset_key of dbt sources {', '.join(sources)}): each table is"
            " its own asset now. Remove that meta (the table then takes the key dagster-dbt"
            f" gives its source) or give each table its own key, e.g. [dlt_chartmogul_{tables[0]}]"
        )
        raise ValueError(msg)


def _destination_kind(url: str, dataset: str) -> set[str]:
    """The destination's kind for Dagster's kind tags (``duckdb``, ``postgres``, ...)."""
    from mogulsync.extract.destinations import parse_destination

    try:
        return {parse_destination(url, dataset).kind}
    except ConfigError:  # reported in full when the step runs
        return set()


def _materialize(
    project: MogulsyncResource,
    selected: Sequence[str],
    keys: Mapping[str, dg.AssetKey],
    log: Any,
) -> Iterator[dg.MaterializeResult[Any]]:
    import datetime as dt

    from mogulsync.extract.cli import RUN_SECTIONS, options_for
    from mogulsync.extract.recorded import recorded_extract
    from mogulsync.extract.recording import new_run_id

    run_id = new_run_id(dt.datetime.now(dt.UTC))
    #: the run's id once it is in the extract history (not when refused or misconfigured)
    recorded: list[str] = []
    try:
        # the sections `mogulsync extract run` reads (its alerts too), with the resource's
        # overrides
        config = project.load(sections=RUN_SECTIONS)
        settings, options = options_for(config, ",".join(selected), None, None, None, None)

        def run(watch: ExtractWatch) -> ExtractReport:
            recorded.append(run_id)
            return _run(settings, options, watch, log)

        # as `mogulsync extract run`: under the extract lock, in the extract history, alerted
        report = recorded_extract(
            config, options, run, run_id=run_id, warn=log.warning, stopped=STOPPED
        )
    except MogulsyncError as exc:
        raise extract_failure(exc, recorded[0] if recorded else None) from None
    rows = replaced_rows(options, report)
    counted = [stream.name for stream in report.streams if stream.name not in rows]
    try:
        rows |= table_rows(options, counted) if counted else {}
    except Exception as exc:
        # the load is committed: a count is a figure for the UI, not worth failing the
        # step over (the type only: a driver's message may quote the destination's URL)
        log.warning("row counts unavailable: %s", type(exc).__name__)
    for stream in report.streams:
        metadata: dict[str, Any] = {
            "rows_loaded": stream.records,
            "dagster/table_name": f"{options.dataset}.{stream.name}",
            "mode": options.mode,
            "load_ids": ", ".join(report.load_ids),
            "fetch_s": round(stream.duration_s, 3),
            # the run in the extract history (serve's Extract page lists it)
            "extract_run_id": run_id,
        }
        if project.ui_url:
            metadata["extract_page"] = dg.MetadataValue.url(f"{project.ui_url.rstrip('/')}/extract")
        if stream.name in rows:
            metadata["dagster/row_count"] = rows[stream.name]
        yield dg.MaterializeResult(asset_key=keys[stream.name], metadata=metadata)


def _run(
    settings: ClientSettings, options: ExtractOptions, watch: ExtractWatch, log: Any
) -> ExtractReport:
    """The extract itself, telling ``watch`` (for the history and the alerts) and the log."""
    from mogulsync.extract.recording import hooks_with
    from mogulsync.extract.runner import run_extract

    on_records, on_stage = hooks_with(watch, None, lambda stage: log.info("extract %s", stage))
    return run_extract(
        settings,
        options,
        on_records=on_records,
        on_stage=on_stage,
        on_set_up=watch.on_set_up,
        on_failed_streams=watch.on_failed_streams,
    )


def extract_failure(exc: MogulsyncError, run_id: str | None = None) -> dg.Failure:
    """The extract's error as a Dagster failure; a configuration problem is not retried
    (another extract holding the lock is: it may be over by the next attempt).

    ``run_id``: the run in the extract history, when the failure was recorded there."""
    from mogulsync.extract.lock import ExtractLockedError
    from mogulsync.messages import describe

    what = "did not start" if isinstance(exc, ExtractLockedError) else "did not complete"
    metadata: dict[str, Any] = {"error": type(exc).__name__}
    if run_id is not None:
        metadata["extract_run_id"] = run_id
    return dg.Failure(
        description=f"the extract {what}: {describe(exc)}",
        metadata=metadata,
        allow_retries=not isinstance(exc, ConfigError),
    )


def replaced_rows(options: ExtractOptions, report: ExtractReport) -> dict[str, int]:
    """The rows each replaced table holds now: the records this run loaded into it (its
    top-level rows; nested lists go to child tables). A merged or appended table holds
    rows of earlier runs too: :func:`table_rows` counts those."""
    from mogulsync.extract.loading import write_disposition
    from mogulsync.extract.streams import STREAMS

    return {
        stream.name: stream.records
        for stream in report.streams
        if write_disposition(STREAMS[stream.name], options.mode) == "replace"
    }


def table_rows(options: ExtractOptions, tables: Sequence[str]) -> dict[str, int]:
    """The rows each table holds now (0 for one the destination never received rows for),
    counted in the destination (a second dlt pipeline over the run's: about 0.1 s)."""
    import dlt

    from mogulsync.extract.destinations import resolve_destination
    from mogulsync.extract.loading import pipeline_name_for

    target = resolve_destination(options.destination, options.dataset)
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name_for(options),
        destination=target.destination,
        dataset_name=options.dataset,
        pipelines_dir=str(options.state_dir / "extract"),
    )
    loaded = set(pipeline.default_schema.data_table_names(seen_data_only=True))
    counts = dict.fromkeys(tables, 0)
    with pipeline.sql_client() as client:
        for table in loaded.intersection(tables):
            name = client.make_qualified_table_name(table)  # quoted by dlt
            with client.execute_query(f"SELECT count(*) FROM {name}") as cursor:  # noqa: S608
                (count,) = cursor.fetchone() or (0,)
                counts[table] = int(count)
    return counts


__all__ = [
    "EXTRACT_OP",
    "extract_assets",
    "extract_failure",
    "replaced_rows",
    "table_keys",
    "table_rows",
]
