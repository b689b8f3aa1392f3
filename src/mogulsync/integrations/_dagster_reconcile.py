"""Reconcile as a Dagster asset check: does ChartMogul still hold what the sync sent?

One check per sync, ``reconciled`` on its asset (``["chartmogul", <sync>]``). It runs the reconcile
``mogulsync reconcile --record`` runs (listing the sync's scope in ChartMogul, comparing it
with the model through the sync's own mapping), so the run history and the project's drift
alerts see it as they see the server's drift watch. It passes when nothing is missing, extra
or drifted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from mogulsync.config import load_config
from mogulsync.integrations.dagster import (
    GRAPH_SECTIONS,
    MogulsyncResource,
    ReconcileCheckOptions,
    ignoring_beta,
    project_resource,
    resource_key_for,
    sync_asset_key,
)

if TYPE_CHECKING:
    from mogulsync.reconcile import ReconcileReport

RECONCILE_CHECK = "reconciled"


def reconcile_checks(
    path: Path,
    resource: MogulsyncResource | None,
    options: ReconcileCheckOptions,
) -> list[dg.AssetChecksDefinition]:
    """One ``reconciled`` check per sync of the project at ``path``."""
    bound = resource or project_resource(path)
    config = load_config(bound.project_file, sections=GRAPH_SECTIONS)
    with ignoring_beta():
        return [_check(name, bound, options) for name in config.syncs]


def _check(
    name: str, resource: MogulsyncResource, options: ReconcileCheckOptions
) -> dg.AssetChecksDefinition:
    resource_key = resource_key_for(options.key_prefix)
    severity = options.severity

    @dg.asset_check(
        asset=sync_asset_key(name, options.key_prefix),
        name=RECONCILE_CHECK,
        description=(
            f"ChartMogul holds what sync `{name}`'s model maps to: nothing missing, extra or"
            " drifted (a full listing of the sync's scope: one reconcile)"
        ),
        resource_defs={resource_key: resource},
        blocking=options.blocking,
        **options.policies.check_args(),
    )
    # Unannotated: Dagster inspects annotation objects; see integrations/dagster.py.
    def _reconciled(context):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        project: MogulsyncResource = getattr(context.resources, resource_key)
        report = reconcile_sync(project, name)
        return dg.AssetCheckResult(
            passed=not report.differs,
            severity=severity,
            metadata={**report_metadata(report), **project.history_metadata(report.run_id)},
        )

    return _reconciled


def reconcile_sync(resource: MogulsyncResource, name: str) -> ReconcileReport:
    """A recorded reconcile of sync ``name`` (run history ``reconcile:<name>``, drift alerts)."""
    from mogulsync.reconcile import reconcile

    return asyncio.run(reconcile(resource.load(), name, record=True))


def report_metadata(report: ReconcileReport) -> dict[str, Any]:
    """The reconcile's counts, drifted fields and samples as check metadata."""
    summary = report.summary()
    metadata: dict[str, Any] = {
        name: summary[name]
        for name in ("in_both", "missing", "extra", "drifted", "invalid", "api_calls")
    }
    metadata["run_id"] = report.run_id or ""
    if report.fields:
        metadata["drifted_fields"] = dg.MetadataValue.json(summary["fields"])
    if report.differs:
        metadata["samples"] = dg.MetadataValue.json(summary["samples"])
    metadata["duration_s"] = summary["duration_s"]
    return metadata


__all__ = ["RECONCILE_CHECK", "reconcile_checks", "report_metadata"]
