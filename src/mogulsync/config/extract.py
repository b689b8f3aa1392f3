"""``extract:`` — ChartMogul streams into a warehouse."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from mogulsync.config._base import ConfigModel
from mogulsync.config.serve import ScheduleConfig
from mogulsync.extract.options import DEFAULT_KEEP_LOAD_PACKAGES

Interval = Literal["day", "week", "month", "quarter"]
ExtractMode = Literal["overwrite", "append", "incremental"]
#: the two spellings of ``start_date``: a day, or an instant as Airbyte's connector takes it
START_FORMATS = "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
_DAY_LENGTH = len("YYYY-MM-DD")


def parse_start(text: str) -> dt.date | dt.datetime:
    """A day (``2024-01-01``) or an instant (``2017-01-25T06:30:00Z``); ValueError names both."""
    value = text.strip()
    try:
        if len(value) == _DAY_LENGTH:
            return dt.date.fromisoformat(value)
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be {START_FORMATS}, not {text!r}") from None


class ExtractConfig(ConfigModel):
    """Defaults of ``mogulsync extract run``; command-line options override them."""

    start_date: dt.datetime | dt.date | None = Field(
        default=None,
        description="a day (2024-01-01, from midnight UTC) or an instant as Airbyte's"
        " connector takes it (2017-01-25T06:30:00Z; no zone: UTC)",
    )
    interval: Interval = "month"
    destination: SecretStr = Field(
        default=SecretStr("duckdb:///chartmogul_extract.duckdb"), description="dlt destination URL"
    )
    dataset: str = "chartmogul"
    streams: list[str] | None = Field(default=None, description="default: every stream")
    mode: ExtractMode = "incremental"
    activity_windows: int = Field(
        default=16, ge=1, le=256, description="date windows of activities fetched in parallel"
    )
    keep_load_packages: int = Field(
        default=DEFAULT_KEEP_LOAD_PACKAGES,
        ge=0,
        description="loaded dlt packages (their schema and state) kept in"
        " <state_dir>/extract/ for debugging; older ones are deleted after each load",
    )
    schedule: ScheduleConfig | None = Field(
        default=None, description="when `mogulsync serve` runs it"
    )

    @field_validator("start_date", mode="before")
    @classmethod
    def _start_text(cls, value: Any) -> Any:
        # one message naming both spellings, not one per member of the union; a number
        # is no day (pydantic would read it as seconds since 1970)
        if isinstance(value, int | float):
            raise ValueError(f"must be {START_FORMATS}, not {value!r}")  # noqa: TRY004
        return parse_start(value) if isinstance(value, str) else value
