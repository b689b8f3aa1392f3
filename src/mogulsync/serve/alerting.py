"""Which syncs are alerting now, for the Syncs page and ``GET /api/v1/syncs``.

The same rules as the alerts themselves (:mod:`mogulsync.alerts.rules`): a sync is in
alert on a channel while its latest finished run shows a problem under a rule that sends
to that channel, and stays so until a run is healthy again (which sends the recovery).
Nothing is stored: it is read from the run history, as the alerts decide it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mogulsync.alerts.rules import previous_run, problem
from mogulsync.config.alerts import AlertsConfig
from mogulsync.runs.models import RunRecord


def alerting(config: AlertsConfig, *histories: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """``[{channel, trigger, run_id}]`` in alert now, from each history (newest first: a
    sync's runs, its drift watch's runs); empty when quiet or without channels."""
    found: dict[str, dict[str, Any]] = {}
    if not config.channels:
        return []
    for history in histories:
        last = previous_run(list(history), run_id="")  # the latest that ended on its own
        if last is None:
            continue
        for rule in config.rules:
            trigger = problem(rule, last) if rule.covers(last.sync) else None
            if trigger is None:
                continue
            for channel in config.channels_of(rule):
                found.setdefault(
                    channel, {"channel": channel, "trigger": trigger.value, "run_id": last.run_id}
                )
    return [found[name] for name in sorted(found)]
