"""``events:`` — the Segment-compatible endpoint and how events reach ChartMogul."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from mogulsync.config._base import ConfigModel

MAX_MAPPINGS = 50


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


class EventsConfig(ConfigModel):
    """Ingest settings (write keys from ``${ENV}``) and delivery mode."""

    host: str = "127.0.0.1"
    port: int = Field(8790, ge=1, le=65535)
    write_keys: list[SecretStr] = Field(default_factory=list)
    delivery: Literal["api", "webhook"] = "api"
    webhook_url: SecretStr | None = None
    data_source: str = "Segment"
    queue_path: str | None = Field(None, description="default: <state_dir>/events.sqlite")
    mappings: list[EventMapping] | None = Field(
        None, max_length=MAX_MAPPINGS, description="default: group→customer, identify→contact"
    )
