"""The forwarder's alerts in ``mogulsync events status``: open conditions and deliveries.

Read by the same function as serve's Events page and ``GET /api/v1/events/status``
(:func:`mogulsync.serve.events_alerts.alerts_status`), so the command and the server never
disagree about what is in alert. Nothing is decided or sent here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mogulsync import output
from mogulsync._docs import EVENTS_ALERTS

if TYPE_CHECKING:
    from mogulsync.config import AppConfig
    from mogulsync.events.queue import EventQueue


def read_alerts(config: AppConfig, queue: EventQueue) -> dict[str, Any]:
    """``{watching, looked_at, alerting: [{condition, channel, since}], deliveries}``."""
    from pathlib import Path

    from mogulsync.runs.store import RUNS_FILE, RunStore
    from mogulsync.serve.events_alerts import alerts_status

    if not (Path(config.state_dir) / RUNS_FILE).exists():  # a status reads, never creates
        return alerts_status(config.alerts, queue, None)
    store = RunStore(config.state_dir)
    try:
        return alerts_status(config.alerts, queue, store)
    finally:
        store.close()


def print_alerts(console: output.LazyConsole, alerts: dict[str, Any]) -> None:
    """The alert state under the counts, then the latest deliveries (newest first)."""
    if not alerts["watching"]:
        console.print(
            "Alerts: no rule watches the forwarder (it needs alerts.channels and a rule of"
            f" `syncs: all` or with `events:`; {EVENTS_ALERTS}).",
            highlight=False,
        )
    elif alerts["alerting"]:
        for found in alerts["alerting"]:
            console.print(
                f"[red]Alert open[/red]: {found['condition']} on channel"
                f" {output.escape(found['channel'])} since {_when(found['since'])}",
                highlight=False,
            )
    else:
        looked = alerts["looked_at"]
        checked = f"last checked {_when(looked)}" if looked else "not checked yet"
        console.print(f"Alerts: none open ({checked}).", highlight=False)
    deliveries = alerts["deliveries"]
    if not deliveries:
        return
    table = output.new_table(console, title=f"Alerts sent (latest {len(deliveries)})")
    for column in ("when", "episode", "trigger", "channel", "outcome"):
        table.add_column(column)
    for sent in deliveries:
        outcome = sent["outcome"] if sent["error"] is None else f"failed: {sent['error']}"
        cells = (_when(sent["at"]), sent["run_id"], sent["trigger"], sent["channel"], outcome)
        table.add_row(*(output.escape(cell) for cell in cells))  # an error may hold "[...]"
    output.print_table(console, table)


def _when(iso: str) -> str:
    """``2026-03-02 09:30:00 UTC`` from a UTC ISO 8601 time."""
    return f"{iso[:19].replace('T', ' ')} UTC"
