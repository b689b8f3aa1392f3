"""``extract:`` — ChartMogul streams into a warehouse."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, SecretStr

from mogulsync.config._base import ConfigModel
from mogulsync.config.serve import ScheduleConfig

Interval = Literal["day", "week", "month", "quarter"]
ExtractMode = Literal["overwrite", "append", "incremental"]
#: dlt keeps a folder per loaded package for ever: an hourly extract adds 8,760 a year
DEFAULT_KEEP_LOAD_PACKAGES = 10


class ExtractConfig(ConfigModel):
    """Defaults of ``mogulsync extract run``; command-line options override them."""

    start_date: dt.date | None = None
    interval: Interval = "month"
    destination: SecretStr = Field(
        SecretStr("duckdb:///chartmogul_extract.duckdb"), description="dlt destination URL"
    )
    dataset: str = "chartmogul"
    streams: list[str] | None = Field(None, description="default: every stream")
    mode: ExtractMode = "incremental"
    activity_windows: int = Field(
        16, ge=1, le=256, description="date windows of activities fetched in parallel"
    )
    keep_load_packages: int = Field(
        DEFAULT_KEEP_LOAD_PACKAGES,
        ge=0,
        description="loaded dlt packages (their schema and state) kept in"
        " <state_dir>/extract/ for debugging; older ones are deleted after each load",
    )
    schedule: ScheduleConfig | None = Field(None, description="when `mogulsync serve` runs it")
