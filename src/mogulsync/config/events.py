"""``events:`` — the Segment-compatible endpoint and how events reach ChartMogul."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from mogulsync.config._base import ConfigModel

MAX_MAPPINGS = 50
DEFAULT_PORT = 8790
DEFAULT_COALESCE_WINDOW_S = 0.5
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_RETRY_INITIAL_S = 1.0
DEFAULT_RETRY_MAX_S = 300.0
DEFAULT_CONCURRENCY = 8
#: Segment deduplicates within about a day; we keep finished events a week by default
DEFAULT_KEEP_DAYS = 7.0


class EventTrigger(ConfigModel):
    """Which events a mapping handles: type, optional event name, simple conditions."""

    type: Literal["identify", "group", "track", "page", "alias"]
    event: str | None = Field(None, description="track event name")
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
        DEFAULT_COALESCE_WINDOW_S,
        ge=0,
        description="events for one entity arriving within this window become one API call",
    )
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, description="then dead-letter")
    retry_initial_s: float = Field(DEFAULT_RETRY_INITIAL_S, gt=0)
    retry_max_s: float = Field(DEFAULT_RETRY_MAX_S, gt=0)
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, description="entities in parallel")


class EventsConfig(ConfigModel):
    """Ingest settings (write keys from ``${ENV}``) and delivery mode."""

    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    write_keys: list[SecretStr] = Field(default_factory=list)
    delivery: Literal["api", "webhook"] = "api"
    webhook_url: SecretStr | None = None
    data_source: str = "Segment"
    queue_path: str | None = Field(None, description="default: <state_dir>/events.sqlite")
    mappings: list[EventMapping] | None = Field(
        None, max_length=MAX_MAPPINGS, description="default: group→customer, identify→contact"
    )
    retry: DeliveryConfig = Field(default_factory=DeliveryConfig)
    keep_days: float | None = Field(
        DEFAULT_KEEP_DAYS,
        gt=0,
        description=(
            "delivered, rejected and skipped events older than this are deleted from the"
            " queue (null: keep forever); a messageId is deduplicated while its event is"
            " kept, so this is also the deduplication window. Dead letters are kept."
        ),
    )

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> Self:
        if self.delivery == "webhook" and self.webhook_url is None:
            raise ValueError("events.webhook_url is required when events.delivery is webhook")
        return self
