"""``events:`` — the Segment-compatible endpoint and how events reach ChartMogul."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from mogulsync.config._base import ConfigModel
from mogulsync.errors import ConfigError

MAX_MAPPINGS = 50
DEFAULT_PORT = 8790
DEFAULT_COALESCE_WINDOW_S = 0.5
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_RETRY_INITIAL_S = 1.0
DEFAULT_RETRY_MAX_S = 300.0
DEFAULT_CONCURRENCY = 8
#: Segment deduplicates within about a day; we keep finished events a week by default
DEFAULT_KEEP_DAYS = 7.0
#: ChartMogul's Segment source: "create a company when the user is created" or "when the
#: user is added to a company" (import contacts only when linked to a company)
ContactsWithoutCompany = Literal["own_customer", "skip"]


class EventTrigger(ConfigModel):
    """Which events a mapping handles: type, optional event name, simple conditions."""

    type: Literal["identify", "group", "track", "page", "alias"]
    event: str | None = Field(default=None, description="track event name")
    conditions: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, description="path (e.g. traits.plan) → required value"
    )


class EventMapping(ConfigModel):
    """A trigger and the action it runs."""

    name: str
    trigger: EventTrigger
    action: Literal["send_customer", "send_contact", "audience_traits"]
    fields: dict[str, str] = Field(
        default_factory=dict, description="target field → event path overrides"
    )


class DeliveryConfig(ConfigModel):
    """How the forwarder paces, coalesces, retries and gives up."""

    coalesce_window_s: float = Field(
        default=DEFAULT_COALESCE_WINDOW_S,
        ge=0,
        description="events for one entity arriving within this window become one API call",
    )
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, description="then dead-letter")
    retry_initial_s: float = Field(default=DEFAULT_RETRY_INITIAL_S, gt=0)
    retry_max_s: float = Field(default=DEFAULT_RETRY_MAX_S, gt=0)
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, description="entities in parallel")


class IngestLimits(ConfigModel):
    """What one client may cost the endpoint (see docs/events.md, "Limits under load")."""

    max_stored_bytes_per_request: int = Field(
        default=1024 * 1024, ge=64 * 1024, description="queue bytes one request may add, else 400"
    )
    max_json_depth: int = Field(default=32, ge=4, le=256, description="nesting of a body, else 400")
    key_bytes_per_s: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="stored bytes per write key per second, else 429",
    )
    key_burst_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024 * 1024, description="what a write key may store at once"
    )
    max_connections: int = Field(
        default=1000, ge=1, description="open connections (lowered to fit the open-files limit)"
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="a request's headers must arrive within this"
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="and its body within this after them"
    )
    keep_alive_s: float = Field(
        default=5.0, gt=0, description="an idle keep-alive connection is closed"
    )
    max_header_bytes: int = Field(
        default=32 * 1024, ge=1024, description="request line plus headers, else 431 and close"
    )
    log_interval_s: float = Field(
        default=60.0, gt=0, description="refused connections are logged at most once per interval"
    )


class EventsConfig(ConfigModel):
    """Ingest settings (write keys from ``${ENV}``) and delivery mode."""

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    write_keys: list[SecretStr] = Field(default_factory=list)
    delivery: Literal["api", "webhook"] = "api"
    webhook_url: SecretStr | None = None
    data_source: str = "Segment"
    contacts_without_company: ContactsWithoutCompany = Field(
        default="own_customer",
        description=(
            "api delivery: a person no company names becomes a contact of a customer of"
            " their own (own_customer), or is not imported until a company names them (skip)"
        ),
    )
    queue_path: str | None = Field(default=None, description="default: <state_dir>/events.sqlite")
    mappings: list[EventMapping] | None = Field(
        default=None,
        max_length=MAX_MAPPINGS,
        description="default: group→customer, identify→contact",
    )
    retry: DeliveryConfig = Field(default_factory=DeliveryConfig)
    limits: IngestLimits = Field(default_factory=IngestLimits)
    keep_days: float | None = Field(
        default=DEFAULT_KEEP_DAYS,
        gt=0,
        description=(
            "delivered, rejected and skipped events older than this are deleted from the"
            " queue (null: keep forever); a messageId is deduplicated while its event is"
            " kept, so this is also the deduplication window. Dead letters: keep_dead_days."
        ),
    )
    keep_dead_days: float | None = Field(
        default=None,
        gt=0,
        description=(
            "dead letters dead for longer than this (since they were refused, or refused"
            " again after a replay; not since they arrived) are deleted from the queue"
            " (null: kept until replayed or discarded)"
        ),
    )

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> Self:
        if self.delivery == "webhook" and self.webhook_url is None:
            raise ValueError("events.webhook_url is required when events.delivery is webhook")
        if self.delivery == "webhook" and self.contacts_without_company != "own_customer":
            raise ValueError(
                "events.contacts_without_company applies to api delivery; with webhook"
                " delivery choose it in ChartMogul's Segment source (\"Create a company in"
                ' ChartMogul when")'
            )
        return self


def check_write_keys(events: EventsConfig) -> None:
    """ConfigError for an empty write key: ``${VAR:-}`` whose variable is unset loads as
    ``""``, and a body with ``"writeKey": ""`` would then be let in."""
    for index, key in enumerate(events.write_keys):
        if not key.get_secret_value():
            raise ConfigError(
                f"events.write_keys.{index} is empty (its environment variable is unset):"
                " any request naming an empty write key would be accepted",
                hint="Export the variable or remove the entry.",
            )
