"""``/metrics``: the server's state in Prometheus' text format (prometheus-client).

A collector reads the state at scrape time, so nothing has to be kept in step: runs and
rows by outcome since the server started, API calls and 429s, events queue depth and
age, and each schedule's next run, lag, and skipped and missed slots.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from mogulsync.serve.state import ServeState


class ServeCollector(Collector):
    """Builds every metric from the live server state."""

    def __init__(self, state: ServeState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        """The metrics of one scrape."""
        manager = self._state.manager
        runs = CounterMetricFamily(
            "mogulsync_runs", "Sync runs finished since the server started", labels=["status"]
        )
        for status, count in sorted(manager.totals.by_status.items()):
            runs.add_metric([status], count)
        yield runs
        running = GaugeMetricFamily("mogulsync_runs_running", "Sync runs in progress")
        running.add_metric([], len(manager.active))
        yield running
        rows = CounterMetricFamily(
            "mogulsync_rows", "Rows sent by finished runs, by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(manager.totals.rows.items()):
            rows.add_metric([outcome], count)
        yield rows
        calls = CounterMetricFamily("mogulsync_api_calls", "ChartMogul API requests of runs")
        calls.add_metric([], manager.totals.api_calls)
        yield calls
        throttled = CounterMetricFamily(
            "mogulsync_api_throttled", "ChartMogul API requests answered 429"
        )
        throttled.add_metric([], manager.totals.throttled)
        yield throttled
        yield from self._schedules()
        yield from self._events()

    def _schedules(self) -> Iterator[Metric]:
        scheduler = self._state.scheduler
        if scheduler is None:
            return
        next_run = GaugeMetricFamily(
            "mogulsync_schedule_next_run_timestamp_seconds",
            "When each scheduled job runs next (Unix time)",
            labels=["job"],
        )
        lag = GaugeMetricFamily(
            "mogulsync_schedule_lag_seconds",
            "How late the last scheduled run of each job started",
            labels=["job"],
        )
        skipped = CounterMetricFamily(
            "mogulsync_schedule_skipped",
            "Scheduled slots dropped because the job was still running",
            labels=["job"],
        )
        missed = CounterMetricFamily(
            "mogulsync_schedule_missed",
            "Scheduled slots that passed unseen (server down or asleep, clock stepped"
            " forward) and collapsed into one run",
            labels=["job"],
        )
        paused = GaugeMetricFamily(
            "mogulsync_schedule_paused",
            "1 while an operator has paused the job's schedule",
            labels=["job"],
        )
        for name, job in sorted(scheduler.states.items()):
            if job.next_run is not None:
                next_run.add_metric([name], job.next_run.timestamp())
            paused.add_metric([name], 0 if job.paused_since is None else 1)
            lag.add_metric([name], job.lag_s)
            skipped.add_metric([name], job.skipped)
            missed.add_metric([name], job.missed)
        yield next_run
        yield lag
        yield skipped
        yield missed
        yield paused

    def _events(self) -> Iterator[Metric]:
        status = self._state.events_status()
        if status is None:
            return
        depth = GaugeMetricFamily(
            "mogulsync_events_queue_depth", "Events by queue status", labels=["status"]
        )
        for name, count in sorted(status["events"].items()):
            depth.add_metric([name], count)
        yield depth
        age = GaugeMetricFamily(
            "mogulsync_events_oldest_pending_seconds", "Age of the oldest pending event"
        )
        age.add_metric([], status["oldest_pending_age_s"] or 0.0)
        yield age
        alerting = GaugeMetricFamily(
            "mogulsync_events_alerting",
            "1 while an events alert condition is in an episode",
            labels=["condition"],
        )
        open_now = {found["condition"] for found in status["alerts"]["alerting"]}
        for condition in ("backlog", "dead_letters"):
            alerting.add_metric([condition], 1.0 if condition in open_now else 0.0)
        yield alerting


def render(state: ServeState) -> bytes:
    """One scrape in the text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServeCollector(state))
    return generate_latest(registry)
