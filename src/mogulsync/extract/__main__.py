"""``python -m mogulsync.extract spec|check|discover|read ...``: the Airbyte source alone.

A lean entry point for Airbyte images: it loads neither dlt nor the other command groups,
so the connector starts in a fraction of the time the full ``mogulsync`` CLI takes.
"""

from __future__ import annotations

from mogulsync import logs
from mogulsync._lean_imports import skip_httpx_cli
from mogulsync.extract.cli import airbyte_app

if __name__ == "__main__":
    logs.own_process()  # stdout is the Airbyte protocol: nothing else may print there
    skip_httpx_cli()
    airbyte_app(prog_name="mogulsync-airbyte")
