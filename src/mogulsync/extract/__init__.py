"""Extract ChartMogul into a warehouse (``run_extract``) or speak Airbyte (``AirbyteSource``).

Importing the package does not import dlt (``runner`` loads it when a run starts), so
``python -m mogulsync.extract``, the Airbyte entry point, starts quickly.
"""

from __future__ import annotations

from mogulsync.extract.airbyte import AIRBYTE_STREAMS, AirbyteSource
from mogulsync.extract.context import Interval, StreamState
from mogulsync.extract.runner import (
    ExtractError,
    ExtractMode,
    ExtractOptions,
    ExtractReport,
    StreamReport,
    run_extract,
    select_streams,
)
from mogulsync.extract.streams import STREAMS, Stream

__all__ = [
    "AIRBYTE_STREAMS",
    "STREAMS",
    "AirbyteSource",
    "ExtractError",
    "ExtractMode",
    "ExtractOptions",
    "ExtractReport",
    "Interval",
    "Stream",
    "StreamReport",
    "StreamState",
    "run_extract",
    "select_streams",
]
