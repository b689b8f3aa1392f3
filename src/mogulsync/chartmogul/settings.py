"""Typed, frozen settings of a :class:`~mogulsync.chartmogul.client.ChartMogulClient`."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_BASE_URL = "https://api.chartmogul.com"
API_PREFIX = "/v1"
#: ChartMogul allows 40 requests per second per account (reference section 4).
DEFAULT_RATE_LIMIT = 40.0
#: More than 20 parallel connections are answered with 503 (reference section 4).
DEFAULT_MAX_IN_FLIGHT = 20
#: Request and response bodies in the request log are cut to this many characters.
DEFAULT_LOG_BODY_LIMIT = 2000


def _package_version() -> str:
    try:
        return version("mogulsync")
    except PackageNotFoundError:  # pragma: no cover - source tree without install
        return "0.0.0"


DEFAULT_USER_AGENT = f"mogulsync/{_package_version()}"


class Timeouts(BaseModel):
    """Explicit httpx timeouts in seconds (never "wait forever")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect: float = Field(default=5.0, gt=0)
    read: float = Field(default=30.0, gt=0)
    write: float = Field(default=30.0, gt=0)
    #: waiting for a free connection in the pool; the limiter keeps this short
    pool: float = Field(default=30.0, gt=0)


class RetryPolicy(BaseModel):
    """Bounded exponential backoff with jitter (stamina's formula).

    The wait before retry *n* is ``min(max_wait_s, initial_wait_s * 2 ** (n - 1) +
    random(0, jitter_s))``, unless the server sent ``Retry-After``, which is honoured as
    long as it fits in what is left of ``max_total_s``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=8, ge=1, description="attempts per call, the first included")
    max_total_s: float = Field(default=120.0, gt=0, description="give up after this long in total")
    initial_wait_s: float = Field(default=0.5, ge=0)
    max_wait_s: float = Field(default=30.0, ge=0)
    jitter_s: float = Field(default=1.0, ge=0)


class JsonImportPolling(BaseModel):
    """How :meth:`JsonImports.wait` polls a bulk import until it finishes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_interval_s: float = Field(default=0.5, gt=0)
    max_interval_s: float = Field(default=10.0, gt=0)
    timeout_s: float = Field(default=600.0, gt=0)


class SharedLimit(BaseModel):
    """Who shares the account's request rate: this process, this machine, or every machine.

    ``machine`` (the default) books request starts in a SQLite file every process of this
    user on this machine reads (``file``, default ``<tmp>/mogulsync-<uid>/rate-limit.sqlite``
    or ``$MOGULSYNC_RATE_LIMIT_FILE``). With ``postgres_url`` (the ``state_store``), every
    machine books from one row in that database. The in-flight cap (``max_in_flight``) is
    shared the same way, by a lease per request on the wire, unless ``share_in_flight`` is
    false (then each process has its own cap; the benchmarks use that as their baseline).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: Literal["process", "machine"] = "machine"
    file: str | None = None
    postgres_url: SecretStr | None = None
    postgres_schema: str = "mogulsync"
    share_in_flight: bool = True


class ClientSettings(BaseModel):
    """Everything a client needs: key, endpoint, limits, timeouts and retry policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr
    base_url: str = Field(default=DEFAULT_BASE_URL, description="with or without the trailing /v1")
    rate_limit: float = Field(default=DEFAULT_RATE_LIMIT, gt=0, description="requests per second")
    max_in_flight: int = Field(default=DEFAULT_MAX_IN_FLIGHT, ge=1)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    json_import_polling: JsonImportPolling = Field(default_factory=JsonImportPolling)
    user_agent: str = DEFAULT_USER_AGENT
    log_body_limit: int = Field(default=DEFAULT_LOG_BODY_LIMIT, ge=0)
    shared_limit: SharedLimit = Field(default_factory=SharedLimit)

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("the ChartMogul API key is empty")
        return value

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        url = url.removesuffix(API_PREFIX).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return url

    @property
    def api_url(self) -> str:
        """The API root, ``<base_url>/v1``."""
        return f"{self.base_url}{API_PREFIX}"
