"""Child process for crash tests: an extract run that kills itself (SIGKILL) on cue.

``python _crash_run.py BASE_URL API_KEY DESTINATION STATE_DIR WHEN`` where WHEN is
``records:<stream>`` (die when the first page of that stream arrives) or a stage name
(``fetched``, ``extracted``: die right after it).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from pydantic import SecretStr

from mogulsync.chartmogul import ClientSettings
from mogulsync.extract.runner import ExtractOptions, run_extract


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    """Run the extract and die at the requested point."""
    base_url, api_key, destination, state_dir, when = sys.argv[1:6]
    settings = ClientSettings(api_key=SecretStr(api_key), base_url=base_url, rate_limit=2000)
    options = ExtractOptions(
        destination=destination,
        streams=("activities", "subscription_events"),
        state_dir=Path(state_dir),
    )

    def on_records(stream: str, count: int) -> None:
        if when == f"records:{stream}" and count:
            _die()

    def on_stage(stage: str) -> None:
        if when == stage:
            _die()

    run_extract(settings, options, on_records=on_records, on_stage=on_stage)


if __name__ == "__main__":
    main()
