"""``alerts:`` — who hears about failed runs, failed rows and recoveries, and how.

Channels are named once (a Slack incoming webhook, a generic or PagerDuty webhook, e-mail
over SMTP, SMS through Twilio); rules say which syncs alert which channels on what. Every
URL, routing key, password and auth token is a ``SecretStr`` that the loader accepts only as
a ``${ENV}`` reference.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, SecretStr, Tag, model_validator

from mogulsync.config._base import ConfigModel
from mogulsync.config.alerts_events import EventsAlertRule

#: PagerDuty Events API v2 endpoint, used when a ``format: pagerduty`` webhook names no URL
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
DEFAULT_TIMEOUT_S = 10.0
#: alerts run at the end of a sync: a longer wait per attempt would hold its end up too long
MAX_TIMEOUT_S = 30.0
DEFAULT_ATTEMPTS = 3
MAX_PERCENT = 100.0
#: SMTP ports by connection security, when ``port`` is not given
SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}

#: Twilio's REST API root; messages go to {root}/2010-04-01/Accounts/{SID}/Messages.json
TWILIO_API_URL = "https://api.twilio.com"
#: a phone number in E.164 form, as Twilio wants it
E164 = r"^\+[1-9][0-9]{6,14}$"

Severity = Literal["critical", "error", "warning", "info"]


class SlackChannel(ConfigModel):
    """A Slack incoming webhook (its URL holds a token: ``${SLACK_WEBHOOK_URL}``)."""

    type: Literal["slack"]
    url: SecretStr


class WebhookChannel(ConfigModel):
    """Any HTTPS endpoint taking a JSON run summary, or PagerDuty Events v2."""

    type: Literal["webhook"]
    format: Literal["json", "pagerduty"] = "json"
    url: SecretStr | None = Field(
        default=None, description="required for format json; PagerDuty's endpoint by default"
    )
    routing_key: SecretStr | None = Field(default=None, description="PagerDuty integration key")
    severity: Severity = Field(default="error", description="PagerDuty severity of failure alerts")

    @model_validator(mode="after")
    def _format_needs(self) -> Self:
        if self.format == "json" and self.url is None:
            raise ValueError("`url` is required (write ${VARIABLE} and export the URL)")
        if self.format == "pagerduty" and self.routing_key is None:
            raise ValueError("`routing_key` is required for format pagerduty")
        if self.format == "json" and self.routing_key is not None:
            raise ValueError("`routing_key` only applies to format pagerduty")
        return self

    @property
    def endpoint(self) -> str:
        """The URL events are posted to."""
        if self.url is not None:
            return self.url.get_secret_value()
        return PAGERDUTY_EVENTS_URL


class EmailChannel(ConfigModel):
    """E-mail through an SMTP server."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(
        default=None, ge=1, le=65535, description="587 starttls, 465 ssl, 25 none"
    )
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from", min_length=3, pattern=r"@")
    to: list[Annotated[str, Field(pattern=r"@")]] = Field(min_length=1)

    @model_validator(mode="after")
    def _login_pair(self) -> Self:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both `username` and `password`, or neither")
        return self

    @property
    def smtp_port(self) -> int:
        """The port to connect to."""
        return self.port or SMTP_PORTS[self.security]


class SmsChannel(ConfigModel):
    """A text message through Twilio's Messages API (auth token: ``${TWILIO_AUTH_TOKEN}``)."""

    type: Literal["sms"]
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="Twilio account SID")
    auth_token: SecretStr
    from_: str = Field(alias="from", pattern=E164, description="Twilio number, E.164")
    to: list[Annotated[str, Field(pattern=E164)]] = Field(min_length=1)
    api_url: str = Field(
        default=TWILIO_API_URL, description="Twilio's API root (tests point it home)"
    )


AlertChannel = Annotated[
    SlackChannel | WebhookChannel | EmailChannel | SmsChannel, Field(discriminator="type")
]


#: run-history name of a sync's recorded reconciles: ``reconcile:<sync>``
RECONCILE_PREFIX = "reconcile:"


class FailedRowsThreshold(ConfigModel):
    """Alert when at least ``count`` rows, or at least ``percent`` % of the rows, fail."""

    count: int | None = Field(default=None, ge=1)
    percent: float | None = Field(default=None, gt=0, le=MAX_PERCENT)

    @model_validator(mode="after")
    def _one_at_least(self) -> Self:
        if self.count is None and self.percent is None:
            raise ValueError("give `count`, `percent` or both")
        return self


class DriftThreshold(FailedRowsThreshold):
    """Alert when a recorded reconcile finds at least ``count`` records, or ``percent`` % of
    the records it compared, missing, extra or drifted."""


def _events_member(value: Any) -> str:
    return "thresholds[events]" if isinstance(value, dict | EventsAlertRule) else "switch[bool]"


#: ``events: true | false | {thresholds}``; a callable discriminator so that a bad threshold
#: is reported once, at its key, not also as "not a boolean" (the tags match the loader's
#: union-member pattern, so they never show in a problem's path)
EventsWatch = Annotated[
    Annotated[EventsAlertRule, Tag("thresholds[events]")] | Annotated[bool, Tag("switch[bool]")],
    Discriminator(_events_member),
]


class AlertRule(ConfigModel):
    """Which syncs alert which channels, on what."""

    syncs: Literal["all"] | list[str] = "all"
    channels: Literal["all"] | list[str] = "all"
    on_failure: bool = Field(default=True, description="the run failed")
    failed_rows: FailedRowsThreshold | None = Field(
        default=None, description="too many rows failed"
    )
    drift: DriftThreshold | None = Field(
        default=None, description="a recorded reconcile found ChartMogul and the warehouse apart"
    )
    on_recovery: bool = Field(default=True, description="healthy again after an alerted run")
    on_success: bool = Field(
        default=False,
        description="every successful run (not a partial one); never sent to PagerDuty",
    )
    extract: bool | None = Field(
        default=None, description="the extract's runs too (default: when `syncs` is `all`)"
    )
    events: EventsWatch | None = Field(
        default=None,
        description="the events forwarder: dead letters, a stuck backlog (default: when"
        " `syncs` is `all`, with the default thresholds)",
    )

    def covers(self, sync: str) -> bool:
        """Whether this rule watches ``sync`` (a reconcile's history name included)."""
        name = sync.removeprefix(RECONCILE_PREFIX)
        return self.syncs == "all" or name in self.syncs

    @property
    def covers_extract(self) -> bool:
        """Whether this rule watches the extract (a rule of listed syncs does not, unless told)."""
        return self.syncs == "all" if self.extract is None else self.extract

    @property
    def events_watch(self) -> EventsAlertRule | None:
        """How this rule watches the events forwarder, if it does: as the extract, a rule of
        listed syncs does not unless told (``events: true`` or thresholds)."""
        if isinstance(self.events, EventsAlertRule):
            return self.events
        if (self.events is None and self.syncs == "all") or self.events is True:
            return EventsAlertRule()
        return None


class AlertsConfig(ConfigModel):
    """Channels and the rules that use them."""

    channels: dict[str, AlertChannel] = Field(default_factory=dict)
    rules: list[AlertRule] = Field(default_factory=lambda: [AlertRule()])
    timeout_s: float = Field(
        default=DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S, description="per delivery attempt"
    )
    attempts: int = Field(default=DEFAULT_ATTEMPTS, ge=1, le=10, description="tries per message")

    @model_validator(mode="after")
    def _rule_channels_exist(self) -> Self:
        problems: list[str] = []
        known = ", ".join(sorted(self.channels)) or "none"
        for index, rule in enumerate(self.rules):
            if rule.channels == "all":
                continue
            problems.extend(
                f"rules.{index}.channels: no channel named `{name}` (known: {known})"
                for name in rule.channels
                if name not in self.channels
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def channels_of(self, rule: AlertRule) -> list[str]:
        """The channel names a rule sends to."""
        return list(self.channels) if rule.channels == "all" else list(rule.channels)
