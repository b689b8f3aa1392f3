"""The guard on a subscription events listing's ``before_key`` (when it began, by
ChartMogul's clock) and the cap on the digests a state keeps: hand-made pages, no API."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from mogulsync.chartmogul.pagination import Page
from mogulsync.extract import incremental
from mogulsync.extract.incremental import CursorFilter
from mogulsync.extract.state import StreamState

#: the time of the run, on this machine (passed in: nothing reads today's date)
NOW = dt.datetime(2024, 3, 4, 9, 30, 5, tzinfo=dt.UTC)
CURSOR = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def _page(before_key: object = None, *, meta: bool = True) -> Page[object]:
    """A first page of subscription events as the client reads it."""
    block = {"next_key": None, "prev_key": None, "before_key": before_key, "page": 1}
    return Page(items=[], cursor=None, has_more=False, meta=block if meta else None)


def _event(ident: int, updated: dt.datetime) -> dict[str, object]:
    return {"id": ident, "updated_at": updated.isoformat(), "amount_in_cents": 100}


def _stored() -> CursorFilter:
    return CursorFilter(StreamState(CURSOR.isoformat(), ("1=abc",)), "updated_at", "id")


def test_a_plausible_before_key_is_when_the_listing_began(caplog) -> None:
    cursor = _stored()
    with caplog.at_level(logging.WARNING):
        began = cursor.listing_start(_page("2024-03-04T09:30:00.250Z").meta, NOW)
        assert began == dt.datetime(2024, 3, 4, 9, 30, 0, 250_000, tzinfo=dt.UTC)
        # ChartMogul's clock a little ahead of ours, or at the stored cursor's second
        ahead = NOW + dt.timedelta(hours=23)
        assert cursor.listing_start(_page(ahead.isoformat()).meta, NOW) == ahead
        at_cursor = "2024-03-01T12:00:00.900Z"
        assert cursor.listing_start(_page(at_cursor).meta, NOW) is not None
        # no before_key at all: the documented fall-back, nothing to warn about
        assert cursor.listing_start(_page(None).meta, NOW) is None
        assert cursor.listing_start(_page(meta=False).meta, NOW) is None
    assert caplog.records == []


@pytest.mark.parametrize(
    ("before_key", "why"),
    [
        ("yesterday", "is not a time"),
        (1709544600, "is not a time"),
        ("2024-02-29T23:59:59Z", "older than the stored cursor"),  # before the last run read
        ("2024-03-05T09:30:06Z", "later than this machine's time"),  # over a day ahead
    ],
)
def test_an_implausible_before_key_is_ignored_with_a_warning(caplog, before_key, why) -> None:
    cursor = _stored()
    with caplog.at_level(logging.WARNING, logger="mogulsync.extract.incremental"):
        assert cursor.listing_start(_page(before_key).meta, NOW) is None
    assert len(caplog.records) == 1
    assert why in caplog.records[0].getMessage()
    assert "ignored" in caplog.records[0].getMessage()


def test_a_stale_before_key_does_not_hold_the_cursor_back() -> None:
    """ChartMogul sending the same old before_key run after run: the first run takes it
    (nothing older is stored), and so does one whose cursor is that very moment (the cap
    bounds what such a state holds); once the cursor moved past it, it is ignored and the
    cursor is the newest event read instead of going back to it."""
    stale = _page("2024-03-02T00:00:00Z")
    newest = dt.datetime(2024, 3, 3, 8, 0, 0, tzinfo=dt.UTC)
    first = CursorFilter(None, "updated_at", "id")
    began = first.listing_start(stale.meta, NOW)
    assert began is not None
    first.listing_began(began)
    for ident in range(5):
        first.keep(_event(ident, newest - dt.timedelta(hours=ident)), since=began)
    state = first.next_state()
    assert state is not None
    assert state.cursor == "2024-03-02T00:00:00+00:00"  # as documented: where it began
    assert len(state.seen) == 5

    second = CursorFilter(state, "updated_at", "id")
    assert second.listing_start(stale.meta, NOW + dt.timedelta(hours=1)) == began  # not older
    # a third run, with the cursor since moved past the stale moment, ignores it
    third = CursorFilter(StreamState(newest.isoformat(), ("0=x",)), "updated_at", "id")
    assert third.listing_start(stale.meta, NOW + dt.timedelta(hours=2)) is None
    third.keep(_event(0, newest))
    after = third.next_state()
    assert after is not None
    assert after.cursor == newest.isoformat()
    assert [token.split("=")[0] for token in after.seen] == ["0"]


def test_too_many_changes_during_a_listing_keep_its_start_alone_and_lose_nothing(
    monkeypatch, caplog
) -> None:
    """Over the cap, the state keeps no digests: the next run loads again every event
    changed since the listing began (re-read, merged by id), and drops the older ones."""
    monkeypatch.setattr(incremental, "HELD_DURING", 3)
    began = dt.datetime(2024, 3, 4, 9, 0, 0, tzinfo=dt.UTC)
    first = CursorFilter(None, "updated_at", "id")
    first.listing_began(began)
    changed = [_event(ident, began + dt.timedelta(seconds=ident)) for ident in range(1, 5)]
    old = _event(9, began - dt.timedelta(days=1))
    for record in [old, *changed]:
        assert first.keep(record, since=began) == record
    with caplog.at_level(logging.WARNING, logger="mogulsync.extract.incremental"):
        state = first.next_state()
    assert state == StreamState(began.isoformat(), ())
    assert "4 records changed while the listing ran (over 3)" in caplog.text

    second = CursorFilter(state, "updated_at", "id")
    assert [second.keep(record) for record in changed] == changed  # none lost
    assert second.keep(old) is None  # before the listing began: loaded by the first run

    # at the cap, the digests are kept: the next run drops the unchanged events
    monkeypatch.setattr(incremental, "HELD_DURING", 4)
    again = CursorFilter(None, "updated_at", "id")
    again.listing_began(began)
    for record in changed:
        again.keep(record, since=began)
    kept = again.next_state()
    assert kept is not None
    assert len(kept.seen) == 4
    assert [CursorFilter(kept, "updated_at", "id").keep(r) for r in changed] == [None] * 4
