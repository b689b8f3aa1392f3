"""What a reload of the project file may swap in while serving, and what it did.

Syncs, models, warehouses, schedules, alerts, the extract, run history and sync logs are
read per run: a reload swaps them in (runs in progress keep the configuration they
started with). What the server bound at start is not: its address and tokens, its
``state_dir`` (lock, schedules, history), the events endpoints with their forwarder (which
also hold ``chartmogul`` and the events alerts), ``events.limits`` (every connection's
defences, events or not), and a raised request limit (the process keeps the stricter
one). A file that changes any of those is applied whole at the next restart, never half
now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mogulsync.config import AppConfig
from mogulsync.config.alerts import AlertsConfig
from mogulsync.serve.project import Problem


@dataclass(slots=True)
class Reload:
    """The outcome of one reload."""

    #: the hash of the file read
    hash: str | None = None
    applied: bool = False
    #: the file is not valid (nothing changed)
    problems: list[Problem] = field(default_factory=list)
    #: settings only a restart applies (nothing changed)
    restart_required: list[str] = field(default_factory=list)
    #: why nothing was read (no project file, the server stopping, an unreadable file)
    error: str | None = None
    #: syncs added, changed, removed
    syncs: dict[str, list[str]] = field(default_factory=dict)
    #: scheduled jobs added, changed (planned afresh), removed
    jobs: dict[str, list[str]] = field(default_factory=dict)

    def with_hash(self, sha256: str) -> Reload:
        """This outcome, for the file of hash ``sha256``."""
        self.hash = sha256
        return self

    @property
    def message(self) -> str:
        """One line saying what happened."""
        if self.error is not None:
            return self.error
        if self.problems:
            return f"the project file has {len(self.problems)} problem(s): nothing was reloaded"
        if self.restart_required:
            return (
                f"restart serve to apply: {', '.join(self.restart_required)} (they are bound"
                " when serve starts; nothing of this version was applied, the server runs"
                " the previous one until restarted)"
            )
        return f"project file reloaded: {self.summary()}"

    def summary(self) -> str:
        """What changed, for the log and the answer."""
        parts = [
            f"{what} {kind}: {', '.join(names)}"
            for what, changes in (("syncs", self.syncs), ("schedules", self.jobs))
            for kind, names in changes.items()
            if names
        ]
        return "; ".join(parts) or "no sync or schedule changed"

    def as_dict(self) -> dict[str, Any]:
        """As the API answers it."""
        return {
            "applied": self.applied,
            "hash": self.hash,
            "message": self.message,
            "problems": [problem.as_dict() for problem in self.problems],
            "restart_required": self.restart_required,
            "syncs": self.syncs,
            "schedules": self.jobs,
        }


def restart_required(old: AppConfig, new: AppConfig) -> list[str]:
    """The settings that differ between ``old`` and ``new`` and only a restart applies."""
    found = [
        f"serve.{key}"
        for key in ("host", "port", "tokens")
        if getattr(old.serve, key) != getattr(new.serve, key)
    ]
    if old.state_dir != new.state_dir:
        found.append("state_dir")
    # the events endpoints run only with write keys; their forwarder holds its settings
    if old.events.write_keys or new.events.write_keys:
        if old.events != new.events:
            found.append("events")
        if old.events.delivery == "api" and _forwarded(old) != _forwarded(new):
            found.append("chartmogul (the events forwarder's)")
        if _events_alerts(old.alerts) != _events_alerts(new.alerts):
            found.append("alerts (those about the events forwarder)")
    elif old.events.limits != new.events.limits:
        # every connection of serve's port gets the events endpoints' defences (timeouts,
        # header and connection caps), bound when it starts listening, events or not
        found.append("events.limits")
    same_account = (old.chartmogul.base_url, old.chartmogul.api_key) == (
        new.chartmogul.base_url,
        new.chartmogul.api_key,
    )
    if same_account:
        # the process-wide limiter of an account only ever gets stricter
        found.extend(
            f"chartmogul.{key} (raised)"
            for key in ("rate_limit", "max_in_flight")
            if getattr(new.chartmogul, key) > getattr(old.chartmogul, key)
        )
    return found


def _forwarded(config: AppConfig) -> Any:
    """What of ``chartmogul:`` the events forwarder sends with."""
    cm = config.chartmogul
    return cm.api_key, cm.base_url, cm.rate_limit, cm.max_in_flight


def _events_alerts(alerts: AlertsConfig) -> Any:
    """What of ``alerts:`` the events forwarder's watch reads (its rules and channels)."""
    rules = [
        (rule.events_watch, alerts.channels_of(rule))
        for rule in alerts.rules
        if rule.events_watch is not None
    ]
    used = sorted({name for _, names in rules for name in names})
    channels = [(name, alerts.channels.get(name)) for name in used]
    return rules, channels, alerts.timeout_s, alerts.attempts


def changed_syncs(old: AppConfig, new: AppConfig) -> dict[str, list[str]]:
    """Syncs added, changed (their own settings, or the model they read) and removed."""

    def model_of(config: AppConfig, name: str) -> Any:
        model = config.models.get(config.syncs[name].model)
        warehouse = config.warehouses.get(model.warehouse) if model else None
        return model, warehouse

    return {
        "added": [name for name in new.syncs if name not in old.syncs],
        "changed": [
            name
            for name in new.syncs
            if name in old.syncs
            and (old.syncs[name] != new.syncs[name] or model_of(old, name) != model_of(new, name))
        ],
        "removed": [name for name in old.syncs if name not in new.syncs],
    }
