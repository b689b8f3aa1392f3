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
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

from mogulsync.demo import EXAMPLE
from mogulsync.emulator.server import EmulatorServer
from mogulsync.sample_warehouse import build_sample_warehouse

PORT = "8800"
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


def main() -> None:
    """Entry point of ``make serve``."""
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
                f"Open http://127.0.0.1:{PORT} (no sign-in on loopback without tokens);"
                f" Segment write key for /v1/*: {DEMO_WRITE_KEY}. Ctrl-C stops.\n",
                flush=True,
            )
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the server stops too
                subprocess.run([*cli, "serve", "--port", PORT], cwd=workdir, env=env, check=False)  # noqa: S603
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
