"""``python -m mogulsync.extract spec|check|discover|read ...``: the Airbyte source alone.

A lean entry point for Airbyte images: it loads neither dlt nor the other command groups,
so the connector starts in a fraction of the time the full ``mogulsync`` CLI takes.
"""

from __future__ import annotations

from mogulsync import _quick_exit as quick_exit
from mogulsync import logs
from mogulsync._lean_imports import skip_httpx_cli
from mogulsync.extract.cli import airbyte_app

if __name__ == "__main__":
    logs.own_process()  # stdout is the Airbyte protocol: nothing else may print there
    skip_httpx_cli()
    # every Airbyte command is one-shot: none needs the interpreter's teardown at the end
    quick_exit.run_entry_point(lambda: airbyte_app(prog_name="mogulsync-airbyte"), one_shot=True)
