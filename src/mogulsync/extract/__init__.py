"""Extract ChartMogul into a warehouse (``run_extract``) or speak Airbyte (``AirbyteSource``).

Importing the package does not import dlt (``runner`` loads it when a run starts), so
``python -m mogulsync.extract``, the Airbyte entry point, starts quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mogulsync._lazy import lazy_exports

if TYPE_CHECKING:
    from mogulsync.extract.airbyte import AIRBYTE_STREAMS, AirbyteSource
    from mogulsync.extract.context import Interval
    from mogulsync.extract.runner import (
        ExtractError,
        ExtractMode,
        ExtractOptions,
        ExtractReport,
        StreamReport,
        run_extract,
        select_streams,
    )
    from mogulsync.extract.state import StreamState
    from mogulsync.extract.streams import STREAMS, Stream

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AIRBYTE_STREAMS": "mogulsync.extract.airbyte",
        "AirbyteSource": "mogulsync.extract.airbyte",
        "Interval": "mogulsync.extract.context",
        "StreamState": "mogulsync.extract.state",
        "ExtractError": "mogulsync.extract.runner",
        "ExtractMode": "mogulsync.extract.runner",
        "ExtractOptions": "mogulsync.extract.runner",
        "ExtractReport": "mogulsync.extract.runner",
        "StreamReport": "mogulsync.extract.runner",
        "run_extract": "mogulsync.extract.runner",
        "select_streams": "mogulsync.extract.runner",
        "STREAMS": "mogulsync.extract.streams",
        "Stream": "mogulsync.extract.streams",
    },
)

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
