"""Record an extract run in the extract history, then alert on how it ended.

``mogulsync extract run`` and ``mogulsync serve`` (scheduled or API-started) both go
through here, so an extract from cron and one the server ran share one history: the
Extract page lists both, and a recovery is announced whichever of them ran the failed one.
Nothing here changes how a run ended: an alert that could not be delivered becomes a
``warning:`` line of the run's message.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mogulsync._redact import Redactor
from mogulsync.config import AppConfig
from mogulsync.errors import MogulsyncError
from mogulsync.extract.history import ExtractHistory, ExtractRun
from mogulsync.extract.runner import ExtractCancelledError, ExtractError, Stage

logger = logging.getLogger(__name__)
WARNING_PREFIX = "warning: "
#: where a failed run stopped, by the last stage it finished
_NEXT_STAGE: dict[Stage, str] = {"fetched": "extract", "extracted": "load", "loaded": "load"}


def new_run_id(now: dt.datetime) -> str:
    """An extract run's id, as the server has always named them (``extract-<UTC time>``)."""
    return f"extract-{now.strftime('%Y%m%dT%H%M%S%f')}"


@dataclass(slots=True)
class ExtractWatch:
    """What a running extract did so far, told by ``run_extract``'s hooks."""

    #: records read per stream
    records: dict[str, int] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    failed_streams: tuple[str, ...] = ()
    #: dlt was set up and took pages: a failure since is in the fetch or dlt's extract
    set_up: bool = False
    started: float = field(default_factory=time.monotonic)
    #: told the records read so far after each page (`extract run` keeps its progress)
    on_progress: Callable[[dict[str, int]], None] | None = None

    def on_records(self, stream: str, count: int) -> None:
        """A page of ``count`` records of ``stream`` was taken."""
        self.records[stream] = self.records.get(stream, 0) + count
        if self.on_progress is not None:
            self.on_progress(self.records)

    def on_stage(self, stage: Stage) -> None:
        """A stage ended."""
        self.stages.append(stage)

    def on_set_up(self) -> None:
        """dlt is ready for the first page."""
        self.set_up = True

    def on_failed_streams(self, names: Sequence[str]) -> None:
        """These streams' fetch failed (listed with what they read, none included)."""
        self.failed_streams = tuple(names)
        for name in names:
            self.records.setdefault(name, 0)

    def stage_of(self, error: BaseException) -> str:
        """Where the run that raised ``error`` stopped: ``set-up`` (the destination, the
        state, the load an earlier run left), ``fetch``, ``extract`` (dlt) or ``load``."""
        if self.failed_streams:
            return "fetch"
        if self.stages:
            return _NEXT_STAGE[self.stages[-1]]
        if not self.set_up:
            return "set-up"
        # pages were flowing: our own ExtractError is dlt's extract step failing, anything
        # else came out of the fetch (ChartMogul unreachable, a rejected key)
        return "extract" if type(error) is ExtractError else "fetch"

    def elapsed_s(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started


def begin(history: ExtractHistory, run_id: str | None = None) -> ExtractRun:
    """A new run, saved as ``running``. The caller holds the extract lock, so a run still
    ``running`` belonged to a process that died (a killed `extract run` while a server is
    up, which only sweeps at its start): it is marked ``interrupted`` first."""
    history.mark_interrupted()
    now = dt.datetime.now(dt.UTC)
    run = ExtractRun(run_id or new_run_id(now), "running", now.isoformat())
    history.save(run)
    return run


def end(run: ExtractRun, report: dict[str, object] | None, error: BaseException | None) -> None:
    """Set how ``run`` ended (the caller saves it): its report, or why it did not load."""
    if isinstance(error, ExtractCancelledError):
        run.status = "cancelled"
        run.message = "cancelled before its next page: nothing of this run was loaded"
    elif isinstance(error, MogulsyncError):
        run.status, run.message = "failed", error.user_message
    elif error is not None:
        run.status, run.message = "failed", f"{type(error).__name__}: {error}"
    else:
        run.status, run.report = "success", report
    run.finished_at = dt.datetime.now(dt.UTC).isoformat()


def progress_keeper(history: ExtractHistory, run: ExtractRun) -> Callable[[dict[str, int]], None]:
    """Keeps ``run.progress`` (saved with its end) and writes it while the run goes, at
    most every PROGRESS_EVERY_S, as the server does for its own extracts: the Extract page
    shows how far an `extract run` got, also once it is found ``interrupted``."""

    def keep(records: dict[str, int]) -> None:
        run.progress = dict(records)
        if history.progress_due():
            try:
                history.save_progress(run.run_id, run.progress)
            except Exception as exc:  # best effort: the run's end writes its counts anyway
                logger.warning("extract history: progress not written yet: %s", exc)

    return keep


def save_quietly(history: ExtractHistory, run: ExtractRun) -> None:
    """Save ``run``'s end; a history that cannot be written is logged, never raised (the
    run's own outcome, or error, is what the caller reports)."""
    try:
        history.save(run)
    except Exception as exc:
        logger.warning("extract history: run %s not saved: %s", run.run_id, exc)


def extract_redactor(config: AppConfig, destination: str | None = None) -> Redactor:
    """Masks the API key and the destination's credentials (the project's, and the one the
    command line gave); the alerts add their own."""
    redactor = Redactor([config.chartmogul.api_key.get_secret_value()])
    for url in (config.extract.destination.get_secret_value(), destination):
        if url:
            redactor.add_url(url)
    return redactor


async def retry_alerts(
    config: AppConfig, destination: str | None = None, now: dt.datetime | None = None
) -> None:
    """Send again the extract's alerts a channel did not take, due at ``now`` (the wall
    clock by default): a cron-only user gets them at the next extract. Never raises."""
    from mogulsync.alerts.dispatch import AlertDispatcher
    from mogulsync.alerts.extract import EXTRACT_JOB
    from mogulsync.runs.store import RunStore

    if not config.alerts.channels:
        return
    try:
        dispatcher = AlertDispatcher(config.alerts, extract_redactor(config, destination))
        runs = RunStore(config.state_dir, dispatcher.redactor)
    except Exception as exc:  # the run goes on; its own alerts will say more
        logger.warning("extract alerts not retried: %s", type(exc).__name__)
        return
    try:
        await dispatcher.retry_due(runs, now or dispatcher.now(), EXTRACT_JOB)
    finally:
        runs.close()


async def alert_after(
    config: AppConfig,
    history: ExtractHistory,
    run: ExtractRun,
    watch: ExtractWatch,
    error: BaseException | None = None,
    destination: str | None = None,
) -> list[str]:
    """Once ``run``'s end is saved: send the alerts it calls for; a warning per delivery
    that failed, also added to the run's message (and saved). Never raises.

    ``destination``: where the run loaded when not the project's (``--destination``).
    """
    from mogulsync.alerts.dispatch import AlertDispatcher
    from mogulsync.alerts.extract import EXTRACT_JOB, ExtractOutcome, after_extract
    from mogulsync.runs.store import RunStore

    if not config.alerts.channels or run.status not in {"success", "failed"}:
        return []
    redactor = extract_redactor(config, destination)
    try:
        dispatcher = AlertDispatcher(config.alerts, redactor)
        try:
            previous = history.previous_finished(run.run_id)
        except Exception as exc:  # unreadable: a failure still alerts, a recovery cannot tell
            logger.warning("extract history unreadable, no recovery is told: %s", exc)
            previous = None
        outcome = ExtractOutcome(
            run_id=run.run_id,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_s=_duration(run, watch),
            records=_records(run, watch),
            stage=watch.stage_of(error) if run.status == "failed" and error else None,
            failed_streams=watch.failed_streams if run.status == "failed" else (),
            message=run.message,
        )
        runs = RunStore(config.state_dir, redactor)
        try:
            warnings = await after_extract(
                dispatcher, outcome, previous.status if previous else None, runs
            )
            # an extract run's deliveries go with it when the history drops it
            runs.keep_deliveries(EXTRACT_JOB, [kept.run_id for kept in history.latest()])
        finally:
            runs.close()
    except Exception as exc:  # a bug or an unreadable history must not change the run
        warnings = [redactor.text(f"alerts: {type(exc).__name__}: {exc}")]
    if warnings:
        lines = "\n".join(f"{WARNING_PREFIX}{text}" for text in warnings)
        run.message = f"{run.message}\n{lines}" if run.message else lines
        save_quietly(history, run)
    return warnings


def _records(run: ExtractRun, watch: ExtractWatch) -> dict[str, int]:
    """Records per stream: the report's on success, those read so far otherwise."""
    streams = (run.report or {}).get("streams")
    if isinstance(streams, dict):
        return {name: int(s.get("records", 0)) for name, s in streams.items()}
    return dict(watch.records)


def _duration(run: ExtractRun, watch: ExtractWatch) -> float:
    reported = (run.report or {}).get("duration_s")
    return float(reported) if isinstance(reported, int | float) else watch.elapsed_s()


def hooks_with(
    watch: ExtractWatch,
    on_records: Callable[[str, int], None] | None,
    on_stage: Callable[[Stage], None] | None,
) -> tuple[Callable[[str, int], None], Callable[[Stage], None]]:
    """``on_records`` and ``on_stage`` hooks telling both ``watch`` and the caller's."""

    def records(stream: str, count: int) -> None:
        watch.on_records(stream, count)
        if on_records is not None:
            on_records(stream, count)

    def stage(reached: Stage) -> None:
        watch.on_stage(reached)
        if on_stage is not None:
            on_stage(reached)

    return records, stage
