"""What one ``extract run`` is asked to do, what it reports, and how it fails.

Kept free of the client, pydantic and dlt: the loader process (``loader_process.py``)
receives these objects, and importing them there must cost nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mogulsync.errors import ConfigError, FatalError

if TYPE_CHECKING:
    from mogulsync.extract.context import Interval

ExtractMode = Literal["overwrite", "append", "incremental"]
Stage = Literal["fetched", "extracted", "loaded"]
#: dlt keeps a folder per loaded package for ever: an hourly extract adds 8,760 a year
DEFAULT_KEEP_LOAD_PACKAGES = 10
#: Activities are fetched in this many date windows at once unless told otherwise.
DEFAULT_ACTIVITY_WINDOWS = 16


class ExtractError(FatalError):
    """A stream or the load failed; nothing of this run was committed past the failure."""


class ExtractDestinationRefusedError(ExtractError, ConfigError):
    """The destination refused the login (password, user, database): the URL is to fix."""


class ExtractCancelledError(ExtractError):
    """``stop`` was set while pages were read: the run loaded nothing."""


@dataclass(frozen=True, slots=True)
class ExtractOptions:
    """What to extract, where to, and how."""

    destination: str
    dataset: str = "chartmogul"
    mode: ExtractMode = "incremental"
    streams: tuple[str, ...] | None = None
    #: a day (from midnight UTC) or an exact instant (Airbyte's start_date)
    start_date: dt.datetime | dt.date | None = None
    interval: Interval = "month"
    #: last day of the customer_count and metrics series (None: today, UTC)
    end_date: dt.date | None = None
    state_dir: Path = Path(".mogulsync")
    activity_windows: int = DEFAULT_ACTIVITY_WINDOWS
    #: loaded dlt packages kept in the working directory (older ones deleted after a load)
    keep_load_packages: int = DEFAULT_KEEP_LOAD_PACKAGES


@dataclass(frozen=True, slots=True)
class StreamReport:
    """Records and fetch time of one stream."""

    name: str
    records: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class ExtractReport:
    """What a run did, for ``--json`` and the run history."""

    destination: str
    dataset: str
    mode: ExtractMode
    streams: tuple[StreamReport, ...]
    fetch_s: float
    load_s: float
    duration_s: float
    load_ids: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "destination": self.destination,
            "dataset": self.dataset,
            "mode": self.mode,
            "streams": {
                s.name: {"records": s.records, "duration_s": round(s.duration_s, 3)}
                for s in self.streams
            },
            "records": sum(s.records for s in self.streams),
            "fetch_s": round(self.fetch_s, 3),
            "load_s": round(self.load_s, 3),
            "duration_s": round(self.duration_s, 3),
            "load_ids": list(self.load_ids),
        }
