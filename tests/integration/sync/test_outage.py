"""ChartMogul goes away mid-run: the run stops as failed, names the URL, and the re-run recovers.

The emulator serves a database file on a fixed port; a progress hook stops it once some rows
are done (an observed condition, not a sleep), and a new emulator on the same port and file
plays ChartMogul coming back. The outage window is short so the test never waits long; no
assertion depends on how long anything took.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from tests.conftest import unlimited_settings
from tests.integration.sync._support import FAST_RETRY, all_pages, api, make_warehouse, project

from mogulsync.chartmogul import ClientSettings, JsonImportPolling
from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings
from mogulsync.runs import RunRecord, RunStore
from mogulsync.sync import exit_codes
from mogulsync.sync.bulk import BulkSettings
from mogulsync.sync.engine import Progress, ProgressHook, SyncEngine
from mogulsync.testing.ports import reserved_port

pytestmark = pytest.mark.anyio

ROWS = 300
#: rows landed before the emulator is stopped
STOP_AFTER = 40
#: a short outage window: ChartMogul counts as down after this long without an answer
WINDOW_S = 0.5
FAST_POLLING = JsonImportPolling(initial_interval_s=0.02, max_interval_s=0.1, timeout_s=30)


class Emulator:
    """An emulator on a fixed port over a database file, which can be stopped and restarted."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        self.settings: EmulatorSettings = unlimited_settings(
            db_path=str(tmp_path / "emulator.sqlite"), json_import_step_s=0.01
        )
        self.port = port  # reserved by the fixture: still ours while the emulator is down
        self.server = EmulatorServer(self.settings, port=self.port).start()
        self.stopped = False
        #: /v1 requests the stopped emulator had answered
        self.answered = 0

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def api_key(self) -> str:
        return self.server.api_key

    def stop_when(self, done: int) -> ProgressHook:
        """A progress hook that stops the emulator once ``done`` rows are done.

        It stops it right there, holding the run until the port is closed, so no row can
        land after that point whatever the machine's speed (the emulator's own thread
        finishes the requests already in flight).
        """

        def hook(progress: Progress) -> None:
            if progress.done >= done and not self.stopped:
                self.stopped = True
                self.server.stop()

        return hook

    def restart(self) -> None:
        """ChartMogul is back: the same data on the same port."""
        assert self.stopped
        self.answered = self.server.emulator.stats.requests_total
        self.server = EmulatorServer(self.settings, port=self.port).start()
        self.stopped = False

    def close(self) -> None:
        if not self.stopped:
            self.server.stop()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with reserved_port() as port:
        server = Emulator(tmp_path, port)
        try:
            yield server
        finally:
            server.close()


def customers_project(emulator: Emulator | EmulatorServer, tmp_path: Path) -> AppConfig:
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table accounts as select 'acct-' || i as id, 'Company ' || i as name"
                f" from range({ROWS}) t(i)"
            )
        ],
    )
    return project(
        emulator,  # type: ignore[arg-type]  # only base_url and api_key are read
        tmp_path,
        url,
        {"accounts": {"table": "accounts", "primary_key": "id"}},
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "W",
                "mapping": {"external_id": "id", "company": "name"},
                "custom_attributes": "none",
            }
        },
    )


def outage_engine(config: AppConfig, **bulk: int) -> SyncEngine:
    settings = ClientSettings(
        api_key=SecretStr(config.chartmogul.api_key.get_secret_value()),
        base_url=config.chartmogul.base_url,
        rate_limit=10_000,
        max_in_flight=20,
        retry=FAST_RETRY,
        json_import_polling=FAST_POLLING,
    )
    return SyncEngine(
        config, settings=settings, bulk=BulkSettings(**bulk), outage_window_s=WINDOW_S
    )


def request_log(config: AppConfig, record: RunRecord) -> list[int | None]:
    store = RunStore(config.state_dir)
    try:
        return [entry.status for entry in store.requests(record.run_id)]
    finally:
        store.close()


def row_error_kinds(config: AppConfig, record: RunRecord) -> collections.Counter[str]:
    store = RunStore(config.state_dir)
    try:
        return collections.Counter(error.kind for error in store.errors(record.run_id))
    finally:
        store.close()


def assert_failed_as_unreachable(emulator: Emulator, config: AppConfig, record: RunRecord) -> None:
    assert record.status.value == "failed"
    assert exit_codes.BY_STATUS[record.status] == exit_codes.FAILED
    assert record.message is not None
    assert f"ChartMogul is unreachable at {emulator.base_url}" in record.message
    assert emulator.api_key not in record.message
    # the rows it did not finish are transient (retried next run), never "rejected"
    kinds = row_error_kinds(config, record)
    assert set(kinds) <= {"transient"}, kinds
    assert sum(kinds.values()) == record.rows.failed
    assert record.rows.succeeded < ROWS
    # refused connections are in the request log, but they are not API calls
    statuses = request_log(config, record)
    assert record.api_calls < len(statuses)
    # ... and every request the emulator answered is one
    assert emulator.answered <= record.api_calls


def assert_each_customer_once(emulator: Emulator) -> None:
    with api(emulator.server) as client:
        landed = [c["external_id"] for c in all_pages(client, "/customers", "entries")]
    assert [key for key, n in collections.Counter(landed).items() if n > 1] == []
    assert len(landed) == ROWS


async def test_rest_run_stops_as_failed_when_chartmogul_goes_away_and_the_rerun_recovers(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = customers_project(emulator, tmp_path)
    record = await outage_engine(config).run(
        "customers", bulk=False, progress=emulator.stop_when(STOP_AFTER)
    )
    emulator.restart()
    assert_failed_as_unreachable(emulator, config, record)
    again = await outage_engine(config).run("customers", bulk=False)
    assert (again.status.value, again.rows.failed) == ("success", 0)
    assert_each_customer_once(emulator)


async def test_bulk_run_stops_as_failed_when_chartmogul_goes_away_and_the_rerun_recovers(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = customers_project(emulator, tmp_path)
    # 20 customers per import, 4 imports at a time: the emulator stops between imports
    record = await outage_engine(config, max_groups=20).run(
        "customers", progress=emulator.stop_when(STOP_AFTER)
    )
    emulator.restart()
    assert_failed_as_unreachable(emulator, config, record)
    again = await outage_engine(config, max_groups=20).run("customers")
    assert (again.status.value, again.rows.failed) == ("success", 0)
    assert_each_customer_once(emulator)


async def test_chartmogul_down_from_the_start_fails_the_run_naming_the_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with reserved_port() as port:
        with EmulatorServer(unlimited_settings(), port=port) as server:
            config = customers_project(server, tmp_path)
        # the emulator is gone and its port stays held (bound, not listening): a port
        # merely freed could be taken by another test's server before the run dials it
        record = await outage_engine(config).run("customers", bulk=False)
    assert record.status.value == "failed"
    assert record.message is not None
    assert f"ChartMogul is unreachable at {server.base_url}" in record.message
    assert server.api_key not in record.message
    assert record.api_calls == 0  # not one request reached a server
    assert len(request_log(config, record)) > 0
    # said while still retrying, not only at the end
    warned = [r.getMessage() for r in caplog.records if r.name == "mogulsync.chartmogul.outage"]
    assert any("not answering" in text and server.base_url in text for text in warned)
