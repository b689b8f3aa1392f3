"""``make serve``: ``mogulsync serve`` on the demo project, against a local emulator.

The emulator (ChartMogul's real limits), the sample warehouse and the example project
file (with its schedules) go into a fresh directory; one ``sync run --all`` gives the web
UI some history, a few warehouse edits give the Preview something to show, and then
``mogulsync serve`` runs in the foreground on http://127.0.0.1:8800 without tokens
(loopback only) with the events endpoints on the same port. Ctrl-C stops everything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

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
    return f"`make serve` could not serve on {port}; another port: make serve {PORT_VARIABLE}=8801"


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``make serve``."""
    port = demo_port(sys.argv[1:] if argv is None else argv)
    workdir = Path(tempfile.mkdtemp(prefix="mogulsync-serve-"))
    try:
        with EmulatorServer() as server:
            prepare(workdir)
            env = {
                **os.environ,
                "CHARTMOGUL_API_KEY": server.api_key,
                "CHARTMOGUL_BASE_URL": server.base_url,
                "MOGULSYNC_DEMO_WRITE_KEY": DEMO_WRITE_KEY,
            }
            cli = [sys.executable, "-m", "mogulsync"]
            subprocess.run([*cli, "sync", "run", "--all"], cwd=workdir, env=env, check=False)  # noqa: S603
            edit_warehouse(workdir)
            print(  # noqa: T201 - the demo talks to its user
                f"\nEmulator at {server.base_url}; project in {workdir}\n"
                f"Open http://127.0.0.1:{port} (no sign-in on loopback without tokens);"
                f" Segment write key for /v1/*: {DEMO_WRITE_KEY}. Ctrl-C stops.\n",
                flush=True,
            )
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the server stops too
                served = subprocess.run([*cli, "serve", "--port", port], cwd=workdir, env=env)  # noqa: S603, PLW1510
                if served.returncode not in (0, -signal.SIGINT):
                    print(failed_hint(port), file=sys.stderr)  # noqa: T201
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
