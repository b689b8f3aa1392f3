"""Shared fixtures: an emulator on loopback, an in-process emulator, markers by directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mogulsync import logs
from mogulsync.chartmogul.limiter import forget_limiters
from mogulsync.chartmogul.shared_pacing import DEFAULT_FILE_ENV
from mogulsync.emulator.app import EmulatorApp, create_app
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits
from mogulsync.testing import PostgresServer
from mogulsync.testing.ports import refused_port

_MARKERS = {
    "unit": "unit",
    "integration": "integration",
    "e2e": "e2e",
    "conformance": "conformance",
}


#: the rate-pacing directory this test process made (removed when the session ends)
_PACE_DIR = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """A private rate-pacing file per test process (and its children).

    The client paces an account from a machine-wide file by default; tests of one worker must
    not book on the clock of another worker, or of another checkout's test run on the machine.
    """
    pace = Path(tempfile.mkdtemp(prefix="mogulsync-pace-"))
    config.stash[_PACE_DIR] = pace
    os.environ[DEFAULT_FILE_ENV] = str(pace / "p.sqlite")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the pacing directory: every run of the suite left one per process in /tmp."""
    pace = config.stash.get(_PACE_DIR, None)
    if pace is not None:
        shutil.rmtree(pace, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    """Every test starts with no account limiter registered in this process.

    Limiters are per process and keyed by base URL and key, and a later client can only
    make one stricter. An emulator port is reused by later tests with the same test key, so
    without this a test paced at 40 req/s would leave that pace to an unrelated later test
    (a 30 s test then took over 5 minutes in the suite).
    """
    yield
    forget_limiters()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the directory they live in (tests/<marker>/...)."""
    root = Path(__file__).parent
    for item in items:
        parts = Path(item.fspath).relative_to(root).parts
        if parts and parts[0] in _MARKERS:
            item.add_marker(getattr(pytest.mark, _MARKERS[parts[0]]))


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the only loop mogulsync uses)."""
    return "asyncio"


def unlimited_settings(**overrides: object) -> EmulatorSettings:
    """Emulator settings without rate or concurrency limits (functional tests)."""
    settings = EmulatorSettings(limits=Limits(rate_limit=0, max_connections=0))
    return settings.model_copy(update=overrides)


@pytest.fixture
def emulator_server() -> Iterator[EmulatorServer]:
    """A fresh emulator on a loopback port, without rate limits."""
    with EmulatorServer(unlimited_settings()) as server:
        yield server


@pytest.fixture
def api(emulator_server: EmulatorServer) -> Iterator[httpx.Client]:
    """Raw HTTP client for the emulator's /v1 API, authenticated."""
    with httpx.Client(
        base_url=f"{emulator_server.base_url}/v1",
        auth=(emulator_server.api_key, ""),
        timeout=10,
    ) as client:
        yield client


@pytest.fixture
def admin(emulator_server: EmulatorServer) -> Iterator[httpx.Client]:
    """Raw HTTP client for the emulator's admin API (/_emulator)."""
    with httpx.Client(base_url=f"{emulator_server.base_url}/_emulator", timeout=10) as client:
        yield client


@pytest.fixture
def emulator_app() -> EmulatorApp:
    """An in-process emulator app (no socket), without rate limits."""
    return create_app(unlimited_settings())


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections for the test's duration (nobody can
    listen on it meanwhile: this test holds it bound)."""
    with refused_port() as port:
        yield port


@pytest.fixture
def dead_url(dead_port: int) -> str:
    """An http:// loopback address that refuses connections for the test's duration.

    Not a well-known port such as 9 or 1: a machine may run a service there (inetd's
    discard, a test's own server), and then the "unreachable" call would be answered.
    """
    return f"http://127.0.0.1:{dead_port}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for this test session (one per xdist worker)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """JSON log mode for one test (its lines are read from ``capsys``'s stderr)."""
    capsys.readouterr()
    logs.configure(logs.LogFormat.JSON)
    try:
        yield capsys
    finally:
        logs.configure(logs.LogFormat.TEXT)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert path, key path)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
