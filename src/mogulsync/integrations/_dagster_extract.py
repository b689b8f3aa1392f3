"""The extract as a dagster-dlt asset, over the very dlt source ``mogulsync extract`` runs.

No second implementation: the pipeline, the source (one dlt resource routing every stream's
pages to its own table) and the incremental states are the extract runner's. dagster-dlt
runs the pipeline and reports the materialization; the states travel in the load package
and live in the destination as today. The asset is keyed as dagster-dlt names a resource
by default: ``dlt_chartmogul_streams``.
"""

from __future__ import annotations

import concurrent.futures
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic.warnings import PydanticDeprecatedSince20

from mogulsync.integrations.dagster import GROUP


def extract_assets(path: Path, streams: Sequence[str] | None) -> list[dg.AssetsDefinition]:
    """One dagster-dlt asset for the extract configured in ``path``."""
    import dlt
    from dagster_dlt import DagsterDltResource, dlt_assets

    from mogulsync.extract._dlt_setup import no_telemetry
    from mogulsync.extract._pump import PagePump
    from mogulsync.extract.cli import extract_options
    from mogulsync.extract.context import StreamState
    from mogulsync.extract.destinations import resolve_destination
    from mogulsync.extract.runner import (
        fetch_pages,
        pipeline_name_for,
        recover_states,
        select_streams,
        streams_dlt_source,
    )

    no_telemetry()  # as `mogulsync extract` does
    names = ",".join(streams) if streams else None
    settings, options = extract_options(path, names, None, None, None, None)
    chosen = select_streams(options.streams)
    target = resolve_destination(options.destination, options.dataset)
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name_for(options),
        destination=target.destination,
        dataset_name=options.dataset,
        pipelines_dir=str(options.state_dir / "extract"),
    )

    def build_source(known: Mapping[str, StreamState]) -> Any:
        # the runner's fetch waits for the stored states; here they are read already
        states: concurrent.futures.Future[Mapping[str, StreamState]] = concurrent.futures.Future()
        states.set_result(known)
        pump = PagePump(lambda sink: fetch_pages(settings, options, chosen, states, sink, None))
        return streams_dlt_source(chosen, pump, options.mode, target, None, lambda: None)

    @dlt_assets(
        dlt_source=build_source({}),  # never iterated: it names the asset and its table
        dlt_pipeline=pipeline,
        name="mogulsync_extract",
        group_name=GROUP,
    )
    def _extract(context):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        # Unannotated: Dagster inspects annotation objects; see integrations/dagster.py.
        states = recover_states(pipeline) if options.mode == "incremental" else {}
        with warnings.catch_warnings():
            # Built outside Dagster's resource wiring, the resource's constructor reaches a
            # pydantic v1 attribute inside Dagster's compatibility layer.
            warnings.simplefilter("ignore", PydanticDeprecatedSince20)
            resource = DagsterDltResource()
        yield from _run(context, resource, build_source(states), pipeline, target)

    return [_extract]


def _run(context: Any, dlt: Any, source: Any, pipeline: Any, target: Any) -> Iterator[Any]:
    yield from dlt.run(
        context=context,
        dlt_source=source,
        dlt_pipeline=pipeline,
        loader_file_format=target.loader_file_format,
    )
