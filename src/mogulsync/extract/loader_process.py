"""``mogulsync extract run`` loads in a second process, started before anything is imported.

Most extract runs move little data, and then the run's time is start-up: importing dlt and
DuckDB and setting the pipeline up (~0.45 s of CPU) on top of our CLI, configuration and
client (~0.3 s), one after the other in one process (the imports hold the GIL). So the
command's entry point forks at once, before it imports anything else, when its arguments
say ``extract run`` (:func:`prefork`): the child imports dlt while the command parses its
options, reads the project file and fetches, on the machine's other core. Airbyte splits
its source and destination into processes for the same reason.

The command then hands the child the run (:meth:`LoaderProcess.load`): the options, then
every page as it is fetched, then how each stream ended. The child runs exactly what the
in-process run does (``loading.load_streams``) and answers with the load's outcome. The
pipes carry pickles between two processes of the same program and nothing else.

What stays with the command: the fetch, the lock, run history, alerts, output and exit
code. The child only loads, and only ever writes to the destination and dlt's working
directory, as the in-process run does. It ignores Ctrl-C (the command decides), dies with
the command (Linux's parent-death signal), and ends on its own when the command never
sends a run (a usage error, a busy lock); the command also kills and reaps it at exit, so
nothing outlives a run.

Only where it is safe and useful: Linux (``fork`` before any thread exists), more than
one CPU for the process, the CLI's entry point, ``MOGULSYNC_EXTRACT_LOADER`` not
``inline``. Everywhere else (``serve``,
Dagster, tests calling ``run_extract``, macOS) the run loads in its own process as before.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NoReturn

from mogulsync.errors import MogulsyncError

if TYPE_CHECKING:
    import concurrent.futures
    import queue
    import threading
    from collections.abc import Iterator, Mapping, Sequence
    from typing import BinaryIO

    from mogulsync.extract.loading import (
        ExplainFailure,
        FetchedStream,
        Loaded,
        LoadHooks,
        LoadJob,
        Page,
        PageFeed,
    )
    from mogulsync.extract.state import StreamState

#: ``inline`` (or ``0``/``off``/``false``) keeps the load in the command's own process
SWITCH_ENV: Final = "MOGULSYNC_EXTRACT_LOADER"
_OFF: Final = frozenset({"inline", "0", "off", "false", "no"})
_PR_SET_PDEATHSIG: Final = 1
#: modules the child imports while it waits for the run: dlt imports them during a run
#: anyway (the DuckDB job client, dlt's plugin manager and HTTP helpers)
_WARM_MODULES: Final = (
    "dlt.destinations.impl.duckdb.duck",
    "dlt.destinations.impl.duckdb.sql_client",
    "dlt.common.configuration.plugins",
    "dlt.sources.helpers.requests",
)

_preforked: list[LoaderProcess] = []


def prefork(argv: Sequence[str]) -> None:
    """Start the loader process if ``argv`` is an ``extract run`` that can use one.

    Called by the entry point first thing: the child must not inherit threads, and the
    sooner it starts importing dlt, the sooner it is ready.
    """
    if wanted(argv, os.environ.get(SWITCH_ENV, "")) and _spare_core():
        process = LoaderProcess.fork()
        if process is not None:
            _preforked.append(process)


def _spare_core() -> bool:
    """Whether this process may run on more than one CPU: on one, the two processes would
    take turns, and the pipe would only add work."""
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):  # no affinity to ask: the platform check decides
        return True


def take() -> LoaderProcess | None:
    """The loader process started for this command (once), or None: load in-process."""
    return _preforked.pop() if _preforked else None


def wanted(argv: Sequence[str], switch: str) -> bool:
    """Whether ``argv`` (without the program) is ``[options] extract [options] run ...``
    on a platform where forking first is safe, and the switch is not off."""
    if switch.strip().lower() in _OFF or not sys.platform.startswith("linux"):
        return False
    if "--help" in argv or "-h" in argv:
        return False
    import itertools

    words = [arg for arg in argv if not arg.startswith("-")]
    return ("extract", "run") in itertools.pairwise(words)


class LoaderProcess:
    """The command's side of the loader process."""

    def __init__(self, pid: int, to_child: int, from_child: int) -> None:
        self.pid = pid
        self._to_child = to_child
        self._from_child = from_child
        self._reaped = False

    @classmethod
    def fork(cls) -> LoaderProcess | None:
        """Fork the child now (it starts importing dlt); None if the system refuses."""
        down_read, down_write = os.pipe()
        up_read, up_write = os.pipe()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            for fd in (down_read, down_write, up_read, up_write):
                os.close(fd)
            return None
        if pid == 0:  # pragma: no cover - the child; measured through the CLI's tests
            os.close(down_write)
            os.close(up_read)
            _child_main(down_read, up_write, parent)
        os.close(down_read)
        os.close(up_write)
        process = cls(pid, down_write, up_read)
        atexit.register(process.discard)
        return process

    def load(
        self,
        job: LoadJob,
        feed: PageFeed,
        states: concurrent.futures.Future[Mapping[str, StreamState]],
        listed: Mapping[str, set[str]],
        hooks: LoadHooks,
        explain_failure: ExplainFailure,
        stop: threading.Event | None = None,
    ) -> Loaded:
        """``loading.load_streams`` in the child: the same arguments, the same outcome."""
        import queue

        writer = os.fdopen(self._to_child, "wb")
        reader = os.fdopen(self._from_child, "rb")
        self._to_child = self._from_child = -1  # the files own them now
        answers: queue.Queue[tuple[Any, ...]] = queue.Queue()
        _start_reader(reader, answers, states)
        try:
            wanted_states = not states.done()
            return self._drive(
                writer, answers, (job, wanted_states), feed, listed, hooks, explain_failure, stop
            )
        except _PipeClosedError as exc:  # the child stopped reading: it said why, or died
            raise _ended(answers, explain_failure) from exc
        except BaseException:
            # the command stops (Ctrl-C, a failing hook) or the child answered its error:
            # nothing waits for the child (closing the pipe it writes to would), which is
            # ended as the command's own load would be cut short
            self.discard()
            raise
        finally:
            for stream in (writer, reader):
                with contextlib.suppress(OSError):
                    stream.close()
            _release(states)  # the fetch must not wait for states that never come

    def _drive(
        self,
        writer: BinaryIO,
        answers: queue.Queue[tuple[Any, ...]],
        run: tuple[LoadJob, bool],
        feed: PageFeed,
        listed: Mapping[str, set[str]],
        hooks: LoadHooks,
        explain_failure: ExplainFailure,
        stop: threading.Event | None,
    ) -> Loaded:
        job, wanted_states = run
        # the environment as it is now: the command set dlt's settings after the fork, and
        # its log format and the run's id (``--log-format json``)
        from mogulsync import logs

        log_settings = (logs.json_mode(), logs.current_run())
        _send(writer, ("job", job, wanted_states, dict(os.environ), log_settings))
        cancelled = False
        for name, records in feed.pages():
            _settle(answers, hooks, explain_failure, wait=False)
            if stop is not None and stop.is_set():
                cancelled = True
                break
            if hooks.on_records is not None:
                hooks.on_records(name, len(records))
            _send(writer, ("page", name, list(records)))
        failed = feed.error is not None or any(not result.ok for result in feed.results)
        summary = [_Fetched.of(result) for result in feed.results]
        # a cancelled fetch may still be adding ids; nothing of that run is loaded anyway
        ids = {} if cancelled else {name: set(values) for name, values in listed.items()}
        _send(writer, ("end", summary, ids, failed, cancelled))
        # the stages, "fetched" included, come from the child in the in-process order (dlt
        # set up, every page taken, extracted, loaded): the alerts name the stage that failed
        while (loaded := _settle(answers, hooks, explain_failure, wait=True)) is None:
            pass  # unreachable: a blocking _settle returns the outcome or raises
        self.reap()
        # the child's clock: perf_counter is CLOCK_MONOTONIC, one clock for the machine
        return loaded

    def reap(self) -> None:
        """Wait for the child to end (it ends once it answered)."""
        if not self._reaped:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            # only once it was waited for: a Ctrl-C during the wait leaves it to ``discard``
            self._reaped = True

    def discard(self) -> None:
        """At exit: a child that still runs is killed (a run that never came, or was cut
        short like the command itself), then reaped; nothing outlives the command."""
        for fd in (self._to_child, self._from_child):
            if fd >= 0:
                os.close(fd)
        self._to_child = self._from_child = -1
        if self._reaped:
            return
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.reap()


@dataclass(frozen=True, slots=True)
class _Fetched:
    """How one stream's fetch ended, as the child needs it (picklable)."""

    name: str
    records: int
    duration_s: float
    state: StreamState | None
    ok: bool

    @classmethod
    def of(cls, result: FetchedStream) -> _Fetched:
        return cls(result.name, result.records, result.duration_s, result.state, result.ok)


class _PipeClosedError(Exception):
    """The other process no longer reads (it ended)."""


def _send(writer: BinaryIO, message: tuple[Any, ...]) -> None:
    import pickle

    try:
        pickle.dump(message, writer, protocol=pickle.HIGHEST_PROTOCOL)
        writer.flush()
    except OSError as exc:  # EPIPE: Python ignores SIGPIPE, the write fails instead
        raise _PipeClosedError(str(exc)) from exc


def _start_reader(
    reader: BinaryIO,
    answers: queue.Queue[tuple[Any, ...]],
    states: concurrent.futures.Future[Mapping[str, StreamState]],
) -> None:
    """Read the child's answers on a thread: the states must reach the fetch (whose
    incremental streams wait for them) while the command waits for pages."""
    import pickle

    from mogulsync import _threads
    from mogulsync.extract.state import StreamState

    def read() -> None:
        while True:
            try:
                answer = pickle.load(reader)  # noqa: S301 - our own child, over our own pipe
            except (EOFError, OSError, pickle.UnpicklingError, ValueError):
                # the child died without a word (killed, out of memory, a crash): the
                # incremental streams would wait for its states for ever
                _release(states)
                answers.put(("lost",))
                return
            kind = answer[0]
            if kind == "states" and not states.done():
                raw: dict[str, dict[str, Any]] = answer[1]
                read_states = {name: StreamState.from_dict(value) for name, value in raw.items()}
                states.set_result({n: s for n, s in read_states.items() if s is not None})
                continue
            if kind in ("error", "feed_failed"):
                _release(states)
            answers.put(answer)
            if kind in ("done", "error", "feed_failed"):
                return

    _threads.Thread(target=read, name="mogulsync-extract-loader", daemon=True).start()


def _release(states: concurrent.futures.Future[Mapping[str, StreamState]]) -> None:
    """Fail ``states`` unless they came (the reader thread and the command both may)."""
    import concurrent.futures

    if not states.done():
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            states.set_exception(_lost("before it read the extract's state"))


def _settle(
    answers: queue.Queue[tuple[Any, ...]],
    hooks: LoadHooks,
    explain_failure: ExplainFailure,
    *,
    wait: bool,
) -> Loaded | None:
    """Act on the child's answers so far (``wait``: until its last): progress is passed on,
    its outcome returned, its failure raised."""
    import queue

    while True:
        try:
            answer = answers.get(block=wait)
        except queue.Empty:
            return None
        kind = answer[0]
        if kind == "set_up":
            hooks.set_up()
        elif kind == "stage":
            hooks.stage(answer[1])
        elif kind == "done":
            loaded: Loaded = answer[1]
            return loaded
        elif kind == "feed_failed":
            raise explain_failure(answer[1]) or _lost("while the pages were read")
        elif kind == "error":
            raise _rebuilt(answer[1], answer[2], answer[3])
        else:
            raise _lost("during the run")


def _ended(answers: queue.Queue[tuple[Any, ...]], explain_failure: ExplainFailure) -> Exception:
    """Why the child stopped taking pages: its own answer if it gave one."""
    from mogulsync.extract.loading import LoadHooks

    try:
        _settle(answers, LoadHooks(), explain_failure, wait=True)
    except Exception as exc:
        return exc
    return _lost("during the run")


def _lost(when: str) -> MogulsyncError:
    from mogulsync.extract.options import ExtractError

    return ExtractError(
        f"the extract's loader process ended {when}; nothing past the last committed load"
        " was recorded",
        hint=f"Run again; if it happens again, run with {SWITCH_ENV}=inline to load in the"
        " command's own process and report the error it shows.",
    )


def _rebuilt(kind: str, message: str, hint: str) -> MogulsyncError:
    """The child's error as the in-process run raises it (the classes the load raises)."""
    from mogulsync.errors import ConfigError
    from mogulsync.extract import options

    classes: dict[str, type[MogulsyncError]] = {
        "ExtractError": options.ExtractError,
        "ExtractDestinationRefusedError": options.ExtractDestinationRefusedError,
        "ExtractCancelledError": options.ExtractCancelledError,
        "ConfigError": ConfigError,
    }
    return classes.get(kind, options.ExtractError)(message, hint=hint)


# --- the child ----------------------------------------------------------------------------


def _child_main(read_fd: int, write_fd: int, parent: int) -> NoReturn:  # pragma: no cover
    """The loader process: import dlt, wait for the run, load it, answer, end."""
    code = 0
    try:
        _detach(parent)
        import gc

        gc.disable()  # ~125,000 long-lived objects from the imports: nothing to collect
        warm_error = _warm()
        import pickle

        reader = os.fdopen(read_fd, "rb")
        writer = os.fdopen(write_fd, "wb")
        try:
            message = pickle.load(reader)  # noqa: S301 - our own parent, over our own pipe
        except (EOFError, OSError, pickle.UnpicklingError):
            os._exit(0)  # no run came: a usage error, a busy lock, a failed check
        _, job, wanted_states, environment, (json_logs, run_id) = message
        os.environ.clear()
        os.environ.update(environment)
        _log_as_the_command(json_logs=json_logs, run_id=run_id)
        if warm_error is not None:
            _answer_error(writer, warm_error)
        else:
            _load_job(job, wanted_states, reader, writer)
    except _PipeClosedError:  # the command is gone: nobody to answer
        code = 1
    except BaseException:  # the command reports a lost loader; this says why
        code = 1
        import traceback

        sys.stderr.write("mogulsync extract: the loader process failed:\n")
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _detach(parent: int) -> None:  # pragma: no cover - the child
    """Ignore Ctrl-C (the command decides what it stops), die with the command, and leave
    stdin and stdout to it (a shell capturing stdout must not wait for the child)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the command ended before the signal was set
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)


def _log_as_the_command(*, json_logs: bool, run_id: str | None) -> None:  # pragma: no cover
    """The command's log format and run id: it chose them after the fork, and the load
    logs too (a JSON line of the run, as in the command's own process)."""
    from mogulsync import logs

    if json_logs:
        logs.configure(logs.LogFormat.JSON)
        logs.set_run(run_id)


def _warm() -> BaseException | None:  # pragma: no cover - the child
    """Import what the load needs while the command reads its options and fetches."""
    import importlib

    from mogulsync.extract._dlt_setup import no_telemetry

    no_telemetry()
    try:
        import dlt  # noqa: F401
        import duckdb  # noqa: F401

        from mogulsync.extract import loading  # noqa: F401
    except BaseException as exc:
        return exc
    for name in _WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - only a head start: dlt imports what it needs
            continue
    return None


def _load_job(  # pragma: no cover - the child
    job: LoadJob, wanted_states: bool, reader: BinaryIO, writer: BinaryIO
) -> None:
    """Run ``job`` as the in-process run would, with pages from ``reader``."""
    import concurrent.futures
    import threading

    from mogulsync.extract.loading import load_error, load_streams

    stop = threading.Event()
    feed = _PipeFeed(reader, stop)
    states: concurrent.futures.Future[Mapping[str, StreamState]] = concurrent.futures.Future()
    if not wanted_states:
        states.set_result({})
    else:
        states.add_done_callback(lambda done: _answer_states(writer, done))

    def explain(cancelled: bool) -> MogulsyncError | None:
        if cancelled or feed.failed:
            return _FeedFailedError("the command's fetch failed", cancelled=cancelled)
        return None

    try:
        loaded = load_streams(job, feed, states, feed.listed, _child_hooks(writer), explain, stop)
    except _FeedFailedError as exc:
        _send(writer, ("feed_failed", exc.cancelled))
    except MogulsyncError as exc:
        _answer_error(writer, exc)
    except Exception as exc:  # dlt's own: one line, password masked
        _answer_error(writer, load_error("setting up", exc, job.options.destination))
    else:
        _send(writer, ("done", loaded))


def _child_hooks(writer: BinaryIO) -> LoadHooks:  # pragma: no cover - the child
    """The load's progress, told to the command."""
    import gc

    from mogulsync.extract.loading import LoadHooks

    def set_up() -> None:
        gc.freeze()  # what the imports and set-up made lives as long as the process
        gc.enable()
        _send(writer, ("set_up",))

    def stage(name: str) -> None:
        _send(writer, ("stage", name))

    return LoadHooks(on_stage=stage, on_set_up=set_up)


class _FeedFailedError(MogulsyncError):
    """The command said its fetch failed or was cancelled: it knows why."""

    def __init__(self, message: str, *, cancelled: bool) -> None:
        super().__init__(message)
        self.cancelled = cancelled


def _answer_states(writer: BinaryIO, done: concurrent.futures.Future[Any]) -> None:
    if done.exception() is None:
        states = done.result()
        _send(writer, ("states", {name: state.as_dict() for name, state in states.items()}))


def _answer_error(writer: BinaryIO, error: BaseException) -> None:
    message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    hint = getattr(error, "hint", "") or ""
    _send(writer, ("error", type(error).__name__, str(message), str(hint)))


class _PipeFeed:
    """The pages the command sends, as the load reads them from the fetch in-process."""

    def __init__(self, reader: BinaryIO, stop: threading.Event) -> None:
        self._reader = reader
        self._stop = stop
        self.results: Sequence[_Fetched] = ()
        self.error: BaseException | None = None
        self.failed = False
        #: filled when the pages end (the load reads it after the last page)
        self.listed: dict[str, set[str]] = {}

    def pages(self) -> Iterator[Page]:
        import pickle

        while True:
            try:
                message = pickle.load(self._reader)  # noqa: S301 - our own parent's pipe
            except (EOFError, OSError, pickle.UnpicklingError):
                self._stop.set()  # the command is gone: load nothing
                return
            if message[0] == "page":
                yield message[1], message[2]
                continue
            _, results, listed, failed, cancelled = message
            self.results = results
            self.listed.update(listed)
            self.failed = failed
            if failed:
                from mogulsync.extract.options import ExtractError

                self.error = ExtractError("the command's fetch failed")
            if cancelled:
                self._stop.set()
            return
