"""A throw-away PostgreSQL cluster started from the machine's own binaries.

The test suite and the benchmarks use real PostgreSQL servers, not mocks. ``make`` installs
the binaries with apt when they are missing; this module runs ``initdb`` and ``pg_ctl`` in a
temporary directory on a free loopback port. PostgreSQL refuses to run as root, so under root
the server runs as the ``postgres`` system user (created by Debian's package).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from mogulsync.errors import FatalError

_START_TIMEOUT_S = 60
#: ports tried before giving up when each turns out to be taken at start-up
_PORT_ATTEMPTS = 5
#: what the server log says when another process took the port first
_PORT_TAKEN = "Address already in use"
_SERVICE_USER = "postgres"


def find_pg_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    raise FatalError(
        "PostgreSQL server binaries (initdb, pg_ctl) are not installed",
        hint="Run `make install` (it installs them with apt) or `apt-get install postgresql`.",
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """``with PostgresServer() as pg: engine = create_engine(pg.url)``."""

    def __init__(self, database: str = "postgres") -> None:
        self.bin = find_pg_bin()
        self.port = _free_port()
        self.database = database
        self._root = Path(tempfile.mkdtemp(prefix="mogulsync-pg-"))
        self.data_dir = self._root / "data"
        self._as_service_user = os.geteuid() == 0

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver), trust authentication on loopback."""
        return f"postgresql+psycopg://{_SERVICE_USER}@127.0.0.1:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """libpq connection string."""
        return f"postgresql://{_SERVICE_USER}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_service_user:
            command = ["runuser", "-u", _SERVICE_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise FatalError(f"{args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")

    def start(self) -> Self:
        """initdb + pg_ctl start; returns when the server accepts connections."""
        if self._as_service_user:
            entry = pwd.getpwnam(_SERVICE_USER)
            os.chown(self._root, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", _SERVICE_USER, "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        # pg_ctl takes a port number, not a socket: the free port probed here can be taken
        # by another process before the server binds it. Then start again on a new one.
        for _ in range(_PORT_ATTEMPTS - 1):
            try:
                self._pg_ctl_start()
            except FatalError:
                if not self._port_was_taken():
                    raise
                self.port = _free_port()
            else:
                return self
        self._pg_ctl_start()
        return self

    def _pg_ctl_start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self._root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=100"
        )
        self._log.unlink(missing_ok=True)  # a retry reads only its own attempt's log
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-o", options, "-w",
            "-t", str(_START_TIMEOUT_S), "-l", str(self._log), "start",
        )  # fmt: skip

    @property
    def _log(self) -> Path:
        return self._root / "server.log"

    def _port_was_taken(self) -> bool:
        try:
            return _PORT_TAKEN in self._log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return False

    def stop(self) -> None:
        """Stop the server and delete its files."""
        if self.data_dir.exists():
            # already gone is fine: the directory is cleaned up either way
            with contextlib.suppress(FatalError):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
