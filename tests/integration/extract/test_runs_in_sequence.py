"""Sequences of extract runs where ChartMogul changes while a run reads (driven clock)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import httpx
from tests.integration.extract._seed import client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.runner import ExtractOptions, ExtractReport, run_extract


class _EditsAfterFirstPage(httpx.AsyncHTTPTransport):
    """Real HTTP to the emulator; once the first page of subscription events is in,
    edits an event of that page, lets a second pass, and edits one of the next page:
    ChartMogul changing while a run pages through its list."""

    def __init__(self, server: EmulatorServer, on_page: int, later: int) -> None:
        super().__init__()
        self._server = server
        self._edits = [(on_page, 111), (later, 222)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path.endswith("/subscription_events") and self._edits:
            await response.aread()
            edits, self._edits = self._edits, []
            auth = (self._server.api_key, "")
            async with httpx.AsyncClient(base_url=f"{self._server.base_url}/v1", auth=auth) as api:
                for event_id, amount in edits:
                    self._server.emulator.advance_clock(dt.timedelta(seconds=1))
                    body = {"subscription_event": {"id": event_id, "amount_in_cents": amount}}
                    answer = await api.patch("/subscription_events", json=body)
                    assert answer.status_code == 200, answer.text
        return response


def _run(
    server: EmulatorServer, root: Path, transport: httpx.AsyncBaseTransport | None = None
) -> ExtractReport:
    options = ExtractOptions(
        destination=f"duckdb:///{root}/cm.duckdb",
        streams=("subscription_events",),
        state_dir=root / "state",
    )
    settings = client_settings(server.base_url, server.api_key)
    return run_extract(settings, options, transport=transport)


def _amounts(root: Path) -> dict[int, int]:
    with duckdb.connect(f"{root}/cm.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT id, amount_in_cents FROM chartmogul.subscription_events"
        ).fetchall()
    return {int(row[0]): int(row[1]) for row in rows}


def test_an_event_edited_while_a_run_pages_is_loaded_by_the_next_run(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """An event of the first page is edited after that page was read, and one of a later
    page a second after: the run reads the later edit, so its newest ``updated_at`` is
    past the first edit's. The next run must still load the first edit (it was lost: the
    cursor had moved past it) and the table end as a fresh full refresh."""
    server.emulator.advance_clock(dt.timedelta(hours=1))  # driven from now on
    pages = []
    with httpx.Client(base_url=f"{server.base_url}/v1", auth=(server.api_key, "")) as api:
        for cursor in (None, "next"):
            params = {"per_page": 200, "cursor": pages[-1]["cursor"] if cursor else None}
            pages.append(api.get("/subscription_events", params=params).json())
    assert pages[0]["has_more"], "the events must span two pages"
    on_page = pages[0]["subscription_events"][0]["id"]
    later = pages[1]["subscription_events"][0]["id"]

    _run(server, tmp_path, _EditsAfterFirstPage(server, on_page, later))
    amounts = _amounts(tmp_path)
    assert amounts[later] == 222  # read after its edit
    assert amounts[on_page] != 111  # read before its edit

    second = _run(server, tmp_path)

    assert _amounts(tmp_path)[on_page] == 111
    assert second.streams[0].records == 1  # the event edited after it was read, only
    fresh = tmp_path / "fresh"
    _run(server, fresh)
    assert _amounts(tmp_path) == _amounts(fresh)
