"""CursorFilter when records change while a listing runs (subscription events)."""

from __future__ import annotations

import datetime as dt

from mogulsync.extract.incremental import CursorFilter

BEGAN = dt.datetime(2024, 3, 4, 9, 30, 0, 250_000, tzinfo=dt.UTC)


def _event(ident: int, updated: dt.datetime, amount: int = 100) -> dict[str, object]:
    return {"id": ident, "updated_at": updated.isoformat(), "amount_in_cents": amount}


def test_the_next_state_starts_where_the_listing_began_when_records_changed_during_it() -> None:
    """Read before its edit at 09:30:01, event 1 shows an old time; event 2, edited at
    09:30:02, was read after: the state starts at the listing's second, holding event 2,
    so the next read keeps event 1's edit and drops event 2 unchanged."""
    first = CursorFilter(None, "updated_at", "id")
    first.listing_began(BEGAN)
    since = BEGAN
    old = BEGAN - dt.timedelta(days=3)
    assert first.keep(_event(1, old), since=since) is not None
    assert first.keep(_event(2, BEGAN + dt.timedelta(seconds=2), 300), since=since) is not None
    state = first.next_state()
    assert state is not None
    assert state.cursor == "2024-03-04T09:30:00+00:00"
    assert [token.split("=")[0] for token in state.seen] == ["2"]

    second = CursorFilter(state, "updated_at", "id")
    edited = _event(1, BEGAN + dt.timedelta(seconds=1), 200)
    assert second.keep(edited) == edited
    assert second.keep(_event(2, BEGAN + dt.timedelta(seconds=2), 300)) is None
    assert second.keep(_event(3, old)) is None  # before the listing began: old news


def test_nothing_changed_during_the_listing_keeps_the_newest_read() -> None:
    """Every record older than the listing: the state is the newest record's second."""
    cursor = CursorFilter(None, "updated_at", "id")
    cursor.listing_began(BEGAN)
    newest = BEGAN - dt.timedelta(minutes=5)
    cursor.keep(_event(1, newest - dt.timedelta(days=1)), since=BEGAN)
    cursor.keep(_event(2, newest), since=BEGAN)
    state = cursor.next_state()
    assert state is not None
    assert state.cursor == newest.isoformat()
    assert [token.split("=")[0] for token in state.seen] == ["2"]
