"""``make serve`` (``python -m mogulsync.serve.demo`` from a pip install): ``mogulsync serve``
on the demo project, against a local emulator.

The emulator (ChartMogul's real limits), the sample warehouse and the example project
file (with its schedules) go into a fresh directory; one ``sync run --all`` gives the web
UI some history, a few warehouse edits give the Preview something to show, and then
``mogulsync serve`` runs in the foreground on http://127.0.0.1:8800 without tokens
(loopback only) with the events endpoints on the same port. Ctrl-C stops everything; so
does SIGTERM or SIGHUP sent to this wrapper alone (``kill PID``, a supervisor): the child
running then is asked to stop (SIGTERM) and waited for, then the emulator stops and the
directory is removed. Before, those signals killed the wrapper and left ``mogulsync serve``
running and the directory behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import duckdb

from mogulsync.chartmogul.shared_pacing import DEFAULT_FILE_ENV
from mogulsync.demo import EXAMPLE
from mogulsync.emulator.server import EmulatorServer
from mogulsync.sample_warehouse import build_sample_warehouse

PORT = "8800"
#: what `make serve` passes on: `make serve SERVE_PORT=8801` when 8800 is taken
PORT_VARIABLE = "SERVE_PORT"
#: the demo's Segment write key (a local emulator only; a real one comes from ${ENV})
DEMO_WRITE_KEY = "demo-write-key"
EVENTS = """
events:
  write_keys: ["${MOGULSYNC_DEMO_WRITE_KEY}"]
  data_source: Segment
"""


#: signals that stop the demo as Ctrl-C does when sent to the wrapper alone
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class StoppedError(Exception):
    """A stop signal reached the wrapper: nothing more is started."""


class Children:
    """Runs the demo's commands one at a time; a stop signal is passed on to the one
    running (as SIGTERM, which `sync run` and `serve` take as a clean stop), and a second
    one kills it."""

    def __init__(self) -> None:
        self.current: subprocess.Popen[bytes] | None = None
        self.stopped_by: int | None = None

    def stopping(self) -> bool:
        """Whether a stop signal came (a handler may set it between any two lines)."""
        return self.stopped_by is not None

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        """The signal handler."""
        again = self.stopping()
        self.stopped_by = signum
        if self.current is not None:
            if again:
                self.current.kill()
            else:
                self.current.terminate()

    def run(self, args: Sequence[str], **kwargs: Any) -> int:
        """Run ``args`` to its end; its exit code (StoppedError: a stop signal came)."""
        if self.stopping():
            raise StoppedError
        with subprocess.Popen(args, **kwargs) as child:  # noqa: S603 - our own commands
            self.current = child
            try:
                if self.stopping():  # it came while the child was starting
                    child.terminate()
                code = self._wait(child)
            finally:
                self.current = None
                if child.poll() is None:  # a second Ctrl-C: no more waiting
                    child.kill()
                    child.wait()
        if self.stopping():
            raise StoppedError
        return code

    @staticmethod
    def _wait(child: subprocess.Popen[bytes]) -> int:
        try:
            return child.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached the child too (same process group); SIGINT sent to the
            # wrapper alone did not: either way it stops cleanly and is waited for
            child.terminate()
            child.wait()
            raise


@contextlib.contextmanager
def stop_signals(children: Children) -> Iterator[None]:
    """SIGTERM and SIGHUP handled by ``children`` while the block runs (main thread only:
    Python takes signals there; the previous handlers come back after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, children.stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def prepare(workdir: Path) -> None:
    """The sample warehouse and the example project plus an events section."""
    build_sample_warehouse(workdir / "warehouse.duckdb")
    project = EXAMPLE.read_text(encoding="utf-8") + EVENTS
    (workdir / "mogulsync.yml").write_text(project, encoding="utf-8")


def edit_warehouse(workdir: Path) -> None:
    """Changes the next run (and the Preview) will show."""
    db = duckdb.connect(str(workdir / "warehouse.duckdb"))
    try:
        db.execute(
            "UPDATE accounts SET company_name = company_name || ' Ltd', seats = seats + 10"
            " WHERE id IN ('acct-001', 'acct-002', 'acct-003')"
        )
    finally:
        db.close()


def demo_port(argv: list[str]) -> str:
    """``--port N`` from the command line (``make serve SERVE_PORT=N``), else 8800."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mogulsync.serve.demo")
    parser.add_argument("--port", type=int, default=int(PORT), help="port to serve on")
    return str(parser.parse_args(argv).port)


def failed_hint(port: str) -> str:
    """What to do when the server stopped at once (most often: the port is taken)."""
    return (
        f"`make serve` could not serve on {port}; another port: make serve {PORT_VARIABLE}=8801"
        " (from a pip install: python -m mogulsync.serve.demo --port 8801)"
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``make serve`` and ``python -m mogulsync.serve.demo``."""
    port = demo_port(sys.argv[1:] if argv is None else argv)
    children = Children()
    with stop_signals(children):
        workdir = Path(tempfile.mkdtemp(prefix="mogulsync-serve-"))
        try:
            # Ctrl-C, SIGTERM, SIGHUP: the child stopped, then the emulator and the directory
            with contextlib.suppress(KeyboardInterrupt, StoppedError):
                _demo(port, workdir, children)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _demo(port: str, workdir: Path, children: Children) -> None:
    with EmulatorServer() as server:
        prepare(workdir)
        env = {
            **os.environ,
            "CHARTMOGUL_API_KEY": server.api_key,
            "CHARTMOGUL_BASE_URL": server.base_url,
            "MOGULSYNC_DEMO_WRITE_KEY": DEMO_WRITE_KEY,
            # the demo's processes pace from a clock of their own, removed with the folder:
            # its emulator account is nobody else's, and the machine-wide one is left as it was
            DEFAULT_FILE_ENV: str(workdir / "rate-limit.sqlite"),
        }
        cli = [sys.executable, "-m", "mogulsync"]
        children.run([*cli, "sync", "run", "--all"], cwd=workdir, env=env)
        edit_warehouse(workdir)
        print(  # noqa: T201 - the demo talks to its user
            f"\nEmulator at {server.base_url}; project in {workdir}\n"
            f"Open http://127.0.0.1:{port} (no sign-in on loopback without tokens);"
            f" Segment write key for /v1/*: {DEMO_WRITE_KEY}. Ctrl-C stops.\n",
            flush=True,
        )
        served = children.run([*cli, "serve", "--port", port], cwd=workdir, env=env)
        if served not in (0, -signal.SIGINT):
            print(failed_hint(port), file=sys.stderr)  # noqa: T201


if __name__ == "__main__":
    main()
