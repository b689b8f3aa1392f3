"""The test dbt project (fixtures/analytics), copied and built with the real dbt CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "analytics"
#: `dbt` as the dev environment installs it, beside this interpreter (see Makefile)
DBT = Path(sys.executable).parent / "dbt"


def copy_project(destination: Path) -> Path:
    """A private copy of the dbt project, so builds never touch the source tree."""
    target = destination / "analytics"
    shutil.copytree(FIXTURE, target, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    return target


def run_dbt(project_dir: Path, warehouse: Path, *args: str) -> None:
    """Run one dbt command against the project, building into ``warehouse``."""
    env = {
        **os.environ,
        "MOGULSYNC_TEST_DUCKDB": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    result = subprocess.run(
        [str(DBT), *args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
