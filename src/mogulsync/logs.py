"""``--log-format json`` (or ``MOGULSYNC_LOG_FORMAT=json``): one JSON object per line on
stderr, for log shippers, instead of text for people.

Every line has ``ts`` (UTC, ISO 8601), ``level``, ``event`` and ``run_id`` (null for lines
that belong to no run, e.g. a configuration error before a run starts). Python logging
records (retries, alerts) are written the same way while the mode is on, with the run id
of the run in progress.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import sys
from collections.abc import Callable

#: the environment variable that selects the log format (as ``--log-format`` does)
LOG_FORMAT_ENV = "MOGULSYNC_LOG_FORMAT"


class LogFormat(enum.StrEnum):
    """``text``: for people; ``json``: one object per line, for log shippers."""

    TEXT = "text"
    JSON = "json"


class _State:
    format: LogFormat = LogFormat.TEXT
    run_id: str | None = None
    clock: Callable[[], dt.datetime] = staticmethod(lambda: dt.datetime.now(dt.UTC))
    handler: logging.Handler | None = None


def configure(log_format: LogFormat) -> None:
    """Switch the mode for this invocation (the root ``--log-format`` option calls it)."""
    _State.format = log_format
    _State.run_id = None
    root = logging.getLogger()
    ours = logging.getLogger("mogulsync")
    if _State.handler is not None:
        root.removeHandler(_State.handler)
        ours.setLevel(logging.NOTSET)
        _State.handler = None
    if log_format is LogFormat.JSON:
        _State.handler = _JsonHandler()
        root.addHandler(_State.handler)
        # our own info records (e.g. a run's warnings) too; libraries stay at WARNING,
        # else httpx would add a line per request
        ours.setLevel(logging.INFO)


def json_mode() -> bool:
    """Whether lines must be JSON objects."""
    return _State.format is LogFormat.JSON


def set_run(run_id: str | None) -> None:
    """The run in progress (its id goes on logging records written meanwhile)."""
    _State.run_id = run_id


def emit(
    event: str,
    *,
    level: str = "info",
    run_id: str | None = None,
    **fields: object,
) -> None:
    """Write one JSON object line: ``ts``, ``level``, ``event``, ``run_id``, then ``fields``."""
    line = {
        "ts": _State.clock().isoformat().replace("+00:00", "Z"),
        "level": level,
        "event": event,
        "run_id": run_id if run_id is not None else _State.run_id,
        **fields,
    }
    sys.stderr.write(json.dumps(line, default=str) + "\n")  # looked up now: tests swap it
    sys.stderr.flush()


class _JsonHandler(logging.Handler):
    """Python logging records as JSON lines (stderr looked up per record: tests swap it)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            emit(
                "log",
                level=record.levelname.lower(),
                logger=record.name,
                message=record.getMessage(),
            )
        except Exception:
            self.handleError(record)
