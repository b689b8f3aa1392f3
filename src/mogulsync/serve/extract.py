"""Run the project's extract with its ``extract:`` defaults (what ``mogulsync extract run`` does
without options)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mogulsync.config import AppConfig
from mogulsync.sync.connect import client_settings

if TYPE_CHECKING:
    from mogulsync.extract.recording import ExtractWatch

_DLT_LOG_LEVEL = "RUNTIME__LOG_LEVEL"


def run_project_extract(
    config: AppConfig,
    *,
    on_records: Callable[[str, int], None] | None = None,
    stop: threading.Event | None = None,
    watch: ExtractWatch | None = None,
) -> dict[str, Any]:
    """Extract every configured stream; the report as JSON-ready data.

    ``on_records`` hears of every page (in this thread); ``stop`` cancels the run before
    its next page (ExtractCancelledError: nothing of it is loaded); ``watch`` hears of
    its stages and failed streams (what its alerts say).
    """
    from mogulsync.extract.runner import ExtractOptions, run_extract

    os.environ.setdefault(_DLT_LOG_LEVEL, "ERROR")
    extract = config.extract
    options = ExtractOptions(
        destination=extract.destination.get_secret_value(),
        dataset=extract.dataset,
        mode=extract.mode,
        streams=tuple(extract.streams) if extract.streams else None,
        start_date=extract.start_date,
        interval=extract.interval,
        state_dir=Path(config.state_dir),
        activity_windows=extract.activity_windows,
        keep_load_packages=extract.keep_load_packages,
    )
    report = run_extract(
        client_settings(config),
        options,
        on_records=on_records,
        stop=stop,
        on_stage=watch.on_stage if watch else None,
        on_set_up=watch.on_set_up if watch else None,
        on_failed_streams=watch.on_failed_streams if watch else None,
    )
    return report.as_dict()
