"""``serve:`` and ``schedule:`` — the long-running service and when it runs what.

Tokens are secrets: the loader accepts them only as ``${ENV}`` references. Schedules are
checked at load time (a cron expression that croniter refuses, an unknown time zone or an
``every`` that is not ``<n>s|m|h|d`` fails with the YAML path).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from mogulsync.config._base import ConfigModel

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8800
_DURATION = re.compile(r"^(?P<count>[1-9][0-9]*)(?P<unit>[smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: "auto" jitter: a tenth of the interval, at most this many seconds
AUTO_JITTER_CAP_S = 60
#: addresses that only this machine can reach (serving without tokens is allowed there)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

Role = Literal["viewer", "operator", "admin"]


def parse_duration(text: str) -> dt.timedelta:
    """``15m`` → 15 minutes; ValueError naming the accepted forms otherwise."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"`{text}` is not a duration: write e.g. 30s, 15m, 1h or 1d")
    return dt.timedelta(seconds=int(match["count"]) * _UNIT_S[match["unit"]])


class ScheduleConfig(ConfigModel):
    """When a sync (or the extract) runs: exactly one of ``cron``, ``every`` or ``after``."""

    cron: str | None = Field(default=None, description="5-field cron expression, in `timezone`")
    timezone: str = Field(default="UTC", description="IANA time zone of `cron`")
    every: str | None = Field(default=None, description="interval: <n>s, <n>m, <n>h or <n>d")
    after: list[str] = Field(
        default_factory=list, description="syncs whose success starts this one"
    )
    jitter: str = Field(
        default="auto",
        description="`auto` (a tenth of the interval, at most 60s), `0s` or a duration;"
        " spreads syncs that share a schedule",
    )

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f"`{value}` is not a 5-field cron expression (minute hour day month weekday)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone `{value}`: use an IANA name such as Europe/Berlin"
            ) from None
        return value

    @field_validator("every")
    @classmethod
    def _every_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("jitter")
    @classmethod
    def _jitter_parses(cls, value: str) -> str:
        if value not in {"auto", "0s"}:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [
            key for key, set_ in (("cron", self.cron), ("every", self.every), ("after", self.after))
            if set_
        ]  # fmt: skip
        if len(given) != 1:
            raise ValueError("give exactly one of `cron`, `every` or `after`")
        if self.timezone != "UTC" and self.cron is None:
            raise ValueError("`timezone` only applies to `cron`")
        return self

    @property
    def interval(self) -> dt.timedelta | None:
        """The ``every`` interval."""
        return parse_duration(self.every) if self.every else None

    def describe(self) -> str:
        """How the schedule reads in listings."""
        if self.cron:
            return f"cron {self.cron} ({self.timezone})"
        if self.every:
            return f"every {self.every}"
        return "after " + ", ".join(self.after)


class TokenConfig(ConfigModel):
    """A bearer token and what it may do."""

    token: SecretStr
    role: Role

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        # an empty value means its ${ENV} was unset; serve refuses it when it starts
        secret = value.get_secret_value()
        if secret and len(secret) < 16:
            raise ValueError("a token must be at least 16 characters (e.g. `openssl rand -hex 24`)")
        return value


class ServeConfig(ConfigModel):
    """Where ``mogulsync serve`` listens and who may use it."""

    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    tokens: list[TokenConfig] = Field(
        default_factory=list,
        description="none: loopback only, everyone is an admin",
    )
