"""The core never imports the optional integrations (Dagster, dagster-dlt, dbt)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import mogulsync.cli, mogulsync.config, mogulsync.sync.engine, mogulsync.extract.runner
loaded = [m for m in sys.modules
          if m.split('.')[0] in ('dagster', 'dagster_dlt', 'dbt')
          or m.startswith('mogulsync.integrations')]
print(','.join(loaded))
"""


def test_cli_and_engines_do_not_import_integrations() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""
