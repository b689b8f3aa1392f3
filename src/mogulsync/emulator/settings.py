"""Typed settings of an emulator instance: limits, accepted keys, fault injection, clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_API_KEY = "emulator-api-key"
DEFAULT_RATE_LIMIT = 40.0
DEFAULT_MAX_CONNECTIONS = 20
#: ChartMogul's "too many connections": the request was not processed (the emulator's own
#: concurrency cap answers it), so a client may send it again without looking first. No
#: fault may answer it for a write that was applied.
NOTHING_DONE_STATUS = 503
FAULT_KINDS = ("error", "rate_limit", "drop", "lost_response", "error_after_write", "malformed")
#: the latest moment the account's clock may show: an export made then expires seven days
#: later and the revenue engine looks a day ahead, both still within year 9999
LATEST_CLOCK = datetime(9999, 12, 23, 23, 59, 59, 999999, tzinfo=UTC)


def clock_moment(moment: datetime) -> datetime:
    """``moment`` in UTC if the account's clock can show it, else ValueError saying why."""
    if moment.utcoffset() is None:
        raise ValueError(
            f"the clock needs an aware datetime (got {moment.isoformat()} without a time zone);"
            " add one, e.g. tzinfo=datetime.UTC or a trailing Z"
        )
    try:
        in_utc = moment.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or in_utc > LATEST_CLOCK:
        raise ValueError(
            f"the clock can show moments from 0001-01-01T00:00:00+00:00 up to"
            f" {LATEST_CLOCK.isoformat()} (got"
            f" {moment.isoformat()}): exports expire and revenue is read ahead of it"
        )
    return in_utc


class Limits(BaseModel):
    """The service limits ChartMogul enforces (40 req/s per account, 20 in flight)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    rate_limit: float = Field(
        default=DEFAULT_RATE_LIMIT, ge=0, description="requests/s; 0 = unlimited"
    )
    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=0, description="0 = unlimited")
    latency_ms: float = Field(default=0, ge=0, description="added to every /v1 response")


class ScriptedFault(BaseModel):
    """A one-shot fault for the next request that matches, for deterministic tests."""

    model_config = ConfigDict(extra="forbid")

    fault: str = Field(
        pattern="^(error|rate_limit|drop|lost_response|error_after_write|malformed)$"
    )
    status: int = Field(
        default=500, ge=500, le=599, description="status of an `error` or `error_after_write` fault"
    )
    method: str | None = None
    path_pattern: str | None = Field(default=None, description="regex searched in the request path")
    query_pattern: str | None = Field(
        default=None, description="regex searched in the query string (e.g. `order=-date`)"
    )

    @model_validator(mode="after")
    def _applied_write_not_refused(self) -> Self:
        if self.fault == "error_after_write" and self.status == NOTHING_DONE_STATUS:
            raise ValueError(
                "an error_after_write fault cannot answer 503: ChartMogul's 503 says the"
                " request was not processed (use 500, 502 or 504)"
            )
        return self


class Faults(BaseModel):
    """Random and scripted faults applied to ``/v1`` requests.

    Rates are probabilities per request. ``lost_response`` applies to writes only: the
    write is committed, then the connection is reset before the response is sent, which is
    the hardest case for a client's idempotency. ``error_after_write`` is its twin with an
    answer: the write is committed, then a 5xx (plain text, as a gateway sends) replaces
    the response, as a proxy that timed out waiting for ChartMogul would. Both are test
    faults, not documented ChartMogul behaviour. ``malformed`` serves the request, then
    sends its success body cut in half (a proxy or a gateway gone wrong): the client must
    cope with a 2xx it cannot read.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    error_rate: float = Field(default=0, ge=0, le=1)
    error_statuses: list[Annotated[int, Field(ge=500, le=599)]] = Field(
        default_factory=lambda: [500, 502, 503, 504], min_length=1
    )
    rate_limit_rate: float = Field(default=0, ge=0, le=1, description="extra 429s")
    drop_rate: float = Field(
        default=0, ge=0, le=1, description="connection reset, nothing processed"
    )
    lost_response_rate: float = Field(
        default=0, ge=0, le=1, description="write done, response lost"
    )
    error_after_write_rate: float = Field(
        default=0,
        ge=0,
        le=1,
        description="write done, its response replaced by a 5xx (error_statuses)",
    )
    malformed_rate: float = Field(
        default=0,
        ge=0,
        le=1,
        description="request done, its 2xx body cut in half (unreadable JSON)",
    )
    latency_ms: float = Field(default=0, ge=0, description="extra latency per request")
    latency_jitter_ms: float = Field(default=0, ge=0)
    methods: list[str] | None = Field(
        default=None, description="only these HTTP methods get faults"
    )
    path_pattern: str | None = Field(default=None, description="only paths matching this regex")
    seed: int | None = None
    script: list[ScriptedFault] = Field(default_factory=list)

    @property
    def after_write_statuses(self) -> list[int]:
        """The ``error_statuses`` an ``error_after_write`` fault answers: all but 503."""
        return [status for status in self.error_statuses if status != NOTHING_DONE_STATUS]

    @model_validator(mode="after")
    def _after_write_has_a_status(self) -> Self:
        if self.error_after_write_rate and not self.after_write_statuses:
            raise ValueError(
                "error_after_write_rate needs an error status other than 503 (ChartMogul's"
                " 503 says the request was not processed): add 500, 502 or 504"
            )
        return self


class EmulatorSettings(BaseModel):
    """Everything an emulator instance is started with."""

    model_config = ConfigDict(extra="forbid")

    # an empty key would let a request with no credentials in
    api_keys: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: [DEFAULT_API_KEY]
    )
    read_only_keys: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    db_path: str | None = None
    limits: Limits = Field(default_factory=Limits)
    faults: Faults = Field(default_factory=Faults)
    account_name: str = "Emulator Account"
    currency: str = "USD"
    #: seconds each bulk-import state (queued, processing) lasts before it moves on
    json_import_step_s: float = 0.05
    #: start with the account's clock stopped at this moment (tests); None: real time
    clock: AwareDatetime | None = None

    @field_validator("clock")
    @classmethod
    def _clock_in_range(cls, moment: datetime | None) -> datetime | None:
        return None if moment is None else clock_moment(moment)
