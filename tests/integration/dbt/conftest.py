"""One dbt build per test module's worker: seeds, the ephemeral staging model, the marts."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.dbt._project import copy_project, run_dbt


@pytest.fixture(scope="module")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(dbt project dir, DuckDB file) after a real `dbt build`."""
    root = tmp_path_factory.mktemp("dbt")
    project = copy_project(root)
    warehouse = root / "warehouse.duckdb"
    run_dbt(project, warehouse, "build")
    return project, warehouse
