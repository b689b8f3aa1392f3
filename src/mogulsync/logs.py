"""``--log-format json`` (or ``MOGULSYNC_LOG_FORMAT=json``): one JSON object per line on
stderr, for log shippers, instead of text for people.

Every line has ``ts`` (UTC, ISO 8601), ``level``, ``event`` and ``run_id`` (null for lines
that belong to no run, e.g. a configuration error before a run starts). Python logging
records (retries, alerts, uvicorn's server lines, ``warnings``) are written the same way
while the mode is on, with the run id of the run in progress.

A run binds its id with :func:`bound_run`, in a context variable: asyncio tasks,
``asyncio.to_thread`` workers and the project's own threads (``mogulsync._threads``: the
extract's fetch thread, the sync-log writer ...) started inside the block inherit it, so
the many runs of one ``mogulsync serve`` each label their own lines (retries included),
and lines of no run (the server's own) keep ``run_id: null``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import enum
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

#: the environment variable that selects the log format (as ``--log-format`` does)
LOG_FORMAT_ENV = "MOGULSYNC_LOG_FORMAT"
#: dlt's own logger writes its own lines; this makes them JSON objects too
_DLT_LOG_FORMAT_ENV = "RUNTIME__LOG_FORMAT"
#: root options that take a value (``requested`` skips the value when it peeks at argv)
_VALUE_OPTIONS = frozenset({"-c", "--config", "--log-format"})


class LogFormat(enum.StrEnum):
    """``text``: for people; ``json``: one object per line, for log shippers."""

    TEXT = "text"
    JSON = "json"


#: the run the current task (or worker thread) works for; see :func:`bound_run`
_RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mogulsync_run_id", default=None
)


class _State:
    format: LogFormat = LogFormat.TEXT
    run_id: str | None = None
    clock: Callable[[], dt.datetime] = staticmethod(lambda: dt.datetime.now(dt.UTC))
    handler: logging.Handler | None = None
    #: whether this module set dlt's log format (and so takes it back in text mode)
    set_dlt_format: bool = False
    #: a mogulsync command (not a library user) owns this process: see own_process
    owned: bool = False


def own_process() -> None:
    """Say that a mogulsync command runs this process (its entry points call this).

    Only then may mogulsync choose process-wide settings for the libraries it uses (where
    stamina reports retries: :mod:`mogulsync._retrying`).
    """
    _State.owned = True


def owns_process() -> bool:
    """Whether a mogulsync command runs this process (see :func:`own_process`)."""
    return _State.owned


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
        # a library's warnings.warn() would print a plain two-line text on stderr
        logging.captureWarnings(True)
        if _DLT_LOG_FORMAT_ENV not in os.environ:  # a user's own setting wins
            os.environ[_DLT_LOG_FORMAT_ENV] = "JSON"
            _State.set_dlt_format = True
    else:
        logging.captureWarnings(False)
        if _State.set_dlt_format:
            os.environ.pop(_DLT_LOG_FORMAT_ENV, None)
            _State.set_dlt_format = False


def requested(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this invocation asks for JSON, read before the command line is parsed, so a
    usage error (which the parser reports before any option takes effect) is JSON too."""
    wanted = environ.get(LOG_FORMAT_ENV, "")
    args = iter(argv)
    for arg in args:
        if arg.startswith("--log-format="):
            wanted = arg.partition("=")[2]
        elif arg in _VALUE_OPTIONS:
            value = next(args, "")
            if arg == "--log-format":
                wanted = value
        elif not arg.startswith("-"):
            break  # the sub-command: its options are its own
    return wanted.lower() == LogFormat.JSON.value


def json_mode() -> bool:
    """Whether lines must be JSON objects."""
    return _State.format is LogFormat.JSON


def set_run(run_id: str | None) -> None:
    """The run in progress of a one-run command (its id goes on lines written meanwhile
    outside any :func:`bound_run` block, e.g. by threads the run did not start)."""
    _State.run_id = run_id


@contextlib.contextmanager
def bound_run(run_id: str) -> Iterator[None]:
    """Lines written in this block, and by the tasks and ``to_thread`` workers it starts,
    carry ``run_id`` (other tasks' lines keep theirs)."""
    token = _RUN_ID.set(run_id)
    try:
        yield
    finally:
        _RUN_ID.reset(token)


def current_run() -> str | None:
    """The id of the run this line belongs to (None: no run)."""
    return _RUN_ID.get() or _State.run_id


def uvicorn_settings() -> dict[str, Any]:
    """``uvicorn.Config`` settings for this mode: none in text mode (uvicorn's own lines);
    in JSON mode its loggers lose their text handlers, so their records reach ours."""
    if not json_mode():
        return {}
    quiet: dict[str, Any] = {"handlers": [], "propagate": True}
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {"uvicorn": quiet, "uvicorn.error": quiet, "uvicorn.access": quiet},
    }
    return {"log_config": config}


def emit(
    event: str,
    *,
    level: str = "info",
    run_id: str | None = None,
    **fields: Any,
) -> None:
    """Write one JSON object line: ``ts``, ``level``, ``event``, ``run_id``, then ``fields``."""
    line = {
        "ts": _State.clock().isoformat().replace("+00:00", "Z"),
        "level": level,
        "event": event,
        "run_id": run_id if run_id is not None else current_run(),
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
            extra: dict[str, Any] = {}
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                extra["error_type"] = type(error).__name__
                extra["traceback"] = "".join(traceback.format_exception(error))
            emit(
                "log",
                level=record.levelname.lower(),
                logger=record.name,
                message=record.getMessage(),
                **extra,
            )
        except Exception:
            self.handleError(record)
