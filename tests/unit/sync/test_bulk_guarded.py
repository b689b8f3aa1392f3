"""The bulk runner reports each row of a batch exactly once, even when a batch breaks midway."""

from __future__ import annotations

import collections
from collections.abc import Sequence

import pytest
from pydantic import SecretStr

from mogulsync.chartmogul import (
    ChartMogulClient,
    ChartMogulUnreachableError,
    ClientSettings,
    JsonImportPolling,
)
from mogulsync.emulator.app import EmulatorApp
from mogulsync.emulator.settings import DEFAULT_API_KEY
from mogulsync.emulator.transport import in_process_transport
from mogulsync.errors import MogulsyncError
from mogulsync.sync.batch import Classified
from mogulsync.sync.bulk import BulkRunner, BulkSettings, Spool
from mogulsync.sync.bulk.learn import Learnt
from mogulsync.sync.bulk.results import Problem
from mogulsync.sync.connect import resolve_data_source
from mogulsync.sync.diff import Change
from mogulsync.sync.mapping import MappedRow

pytestmark = pytest.mark.anyio
ROWS = 6
#: the host breaks while reporting this imported row (1-based)
BREAK_AT = 2


class BreakingHost:
    """Records every report per row; the ``BREAK_AT``-th imported row raises after it is noted."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or RuntimeError("progress display broke")
        self.reports: collections.Counter[str] = collections.Counter()
        self.kinds: dict[str, list[str]] = collections.defaultdict(list)
        self.fatal: MogulsyncError | None = None
        self._imported = 0

    @property
    def stopped(self) -> bool:
        return self.fatal is not None

    def stop(self, exc: MogulsyncError) -> None:
        self.fatal = self.fatal or exc

    def mark_inflight(self, items: Sequence[Classified]) -> None:
        pass

    def _note(self, item: Classified, kind: str) -> None:
        self.reports[item.row.key] += 1
        self.kinds[kind].append(item.row.key)

    def imported(self, item: Classified) -> None:
        self._note(item, "imported")
        self._imported += 1
        if self._imported == BREAK_AT:
            raise self.error

    def rejected(self, item: Classified, problems: Sequence[Problem]) -> None:
        self._note(item, "rejected")

    def unresolved(self, item: Classified, exc: BaseException) -> None:
        self._note(item, "unresolved")

    async def send_rest(self, items: Sequence[Classified], *, marked: bool) -> None:
        for item in items:
            self._note(item, "rest")

    def learned(self, kind: str, data_source: str, found: Sequence[Learnt]) -> None:
        pass

    def flush(self) -> None:
        pass


def _row(index: int) -> Classified:
    external_id = f"acct-{index}"
    payload = {"external_id": external_id, "company": f"Company {index}"}
    return Classified(MappedRow(external_id, payload, (), f"d{index}"), Change.ADDED, None)


async def _run_breaking(emulator_app: EmulatorApp, tmp_path, host: BreakingHost) -> BulkRunner:
    settings = ClientSettings(
        api_key=SecretStr(DEFAULT_API_KEY),
        base_url="http://emulator-guarded.test",
        rate_limit=10_000,
        json_import_polling=JsonImportPolling(initial_interval_s=0.01, max_interval_s=0.05),
    )
    spool = Spool(tmp_path, "customers")
    for index in range(ROWS):
        item = _row(index)
        spool.add(item.row.key, item)
    async with ChartMogulClient(settings, transport=in_process_transport(emulator_app)) as client:
        data_source = await resolve_data_source(client, "W", create=True)
        assert data_source is not None
        runner = BulkRunner(
            host,
            client,
            object_type="customer",
            data_source_uuid=data_source,
            run_id="r1",
            settings=BulkSettings(min_rows=1),
        )
        await runner.run(spool)
    spool.close()
    return runner


async def test_an_error_midway_through_a_batch_reports_each_row_once(
    emulator_app: EmulatorApp, tmp_path
):
    """Rows reported before the error are not reported again as unresolved; the rest are."""
    host = BreakingHost()
    runner = await _run_breaking(emulator_app, tmp_path, host)
    assert runner.imports == 1
    assert host.reports == {f"acct-{i}": 1 for i in range(ROWS)}
    assert host.kinds["imported"] == ["acct-0", "acct-1"]
    assert host.kinds["unresolved"] == [f"acct-{i}" for i in range(BREAK_AT, ROWS)]
    assert host.fatal is not None


async def test_a_fatal_error_midway_ends_the_run_with_its_own_message(
    emulator_app: EmulatorApp, tmp_path
):
    """ChartMogul found unreachable mid-batch: the run's message is that, not "bulk import"."""
    error = ChartMogulUnreachableError(
        "ChartMogul is unreachable at http://x", method="GET", endpoint="/x"
    )
    host = BreakingHost(error)
    await _run_breaking(emulator_app, tmp_path, host)
    assert host.fatal is error
    assert host.kinds["unresolved"] == [f"acct-{i}" for i in range(BREAK_AT, ROWS)]
