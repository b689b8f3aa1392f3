"""Dagster definitions: dbt builds `accounts`, mogulsync syncs it (and reconciles it: the
`reconciled` asset check), then extracts customers back.

Run from this directory (see README.md):
    dg launch --assets '*' -f definitions.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import dagster as dg

from mogulsync.integrations.dagster import (
    mogulsync_assets,
    mogulsync_extract_assets,
    mogulsync_reconcile_checks,
)

HERE = Path(__file__).parent
PROJECT = HERE / "mogulsync.yml"
DBT_DIR = HERE / "analytics"


# With dagster-dbt installed, `@dbt_assets(manifest=...)` gives the same key (["marts",
# "accounts"]: the model's configured schema, then its name) and replaces this asset.
@dg.asset(key=["marts", "accounts"], group_name="dbt")
def marts_accounts(context):  # noqa: ANN001, ANN201 - Dagster reads the annotations
    """`dbt build` of the analytics project (seed, model, tests) into warehouse.duckdb."""
    command = ["dbt", "build", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)]
    context.log.info(
        subprocess.run(command, cwd=HERE, check=True, capture_output=True, text=True).stdout[-2000:]
    )


defs = dg.Definitions(
    assets=[
        marts_accounts,
        # eager: with `dg dev` (its daemon), a sync runs once its dbt model materializes
        *mogulsync_assets(PROJECT, automation_condition=dg.AutomationCondition.eager()),
        *mogulsync_extract_assets(PROJECT),
    ],
    asset_checks=mogulsync_reconcile_checks(PROJECT),
)
