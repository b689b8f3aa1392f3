"""``extract:`` — ChartMogul streams into a warehouse."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, SecretStr

from mogulsync.config._base import ConfigModel
from mogulsync.config.serve import ScheduleConfig

Interval = Literal["day", "week", "month", "quarter"]
ExtractMode = Literal["overwrite", "append", "incremental"]


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
    schedule: ScheduleConfig | None = Field(None, description="when `mogulsync serve` runs it")
