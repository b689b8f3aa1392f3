"""Date windows for parallel activity reads, and the incremental cursor filter."""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import weakref

import pytest

from mogulsync.extract._partitions import date_windows, read_on_is_quicker
from mogulsync.extract.incremental import (
    HELD_RECORDS,
    CursorFilter,
    Newest,
    as_datetime,
    digest,
    same_day,
)
from mogulsync.extract.state import StreamState

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_windows_cover_every_day_without_gaps() -> None:
    """Each window ends on the day the next one starts, the last on the end date."""
    windows = date_windows(START, dt.date(2024, 1, 31), 4)
    assert len(windows) == 4
    assert windows[0].start == START
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start
    assert windows[-1].end == dt.date(2024, 1, 31)


def test_windows_keep_an_intraday_start() -> None:
    """An incremental cursor inside a day starts the first window exactly there."""
    moment = dt.datetime(2024, 3, 5, 10, 30, tzinfo=dt.UTC)
    assert date_windows(moment, dt.date(2024, 3, 9), 2)[0].start == moment


@pytest.mark.parametrize(("days", "parts", "expected"), [(1, 16, 1), (3, 16, 3), (100, 8, 8)])
def test_never_more_windows_than_days(days: int, parts: int, expected: int) -> None:
    """A short range gives one window per day at most."""
    end = START.date() + dt.timedelta(days=days - 1)
    assert len(date_windows(START, end, parts)) == expected


def test_no_window_when_the_start_is_after_the_end() -> None:
    """A cursor in the future reads nothing."""
    assert date_windows(START, dt.date(2023, 12, 31), 4) == []


def test_cursor_filter_drops_old_and_already_seen_records() -> None:
    """Records before the cursor, or at it and already read, are dropped; later ones kept."""
    state = StreamState("2024-01-02T00:00:00+00:00", ("a",))
    cursor = CursorFilter(state, "date", "uuid")
    kept = [
        cursor.keep({"uuid": uuid, "date": date})
        for uuid, date in [
            ("old", "2024-01-01T00:00:00+00:00"),
            ("a", "2024-01-02T00:00:00+00:00"),
            ("b", "2024-01-02T00:00:00+00:00"),
            ("c", "2024-01-03T00:00:00+00:00"),
            ("c", "2024-01-03T00:00:00+00:00"),
        ]
    ]
    assert [record["uuid"] for record in kept if record] == ["b", "c"]
    assert _ids(cursor.next_state()) == ("2024-01-03T00:00:00+00:00", ["c"])


def test_cursor_filter_collects_every_id_at_the_newest_moment() -> None:
    """Several records at the newest moment are all remembered for the next run."""
    cursor = CursorFilter(None, "date", "uuid")
    for uuid in ("x", "y"):
        cursor.keep({"uuid": uuid, "date": dt.datetime(2024, 5, 1, tzinfo=dt.UTC)})
    assert _ids(cursor.next_state()) == ("2024-05-01T00:00:00+00:00", ["x", "y"])


def _ids(state: StreamState | None) -> tuple[str, list[str]]:
    """A state's cursor and the ids in its ``id=digest`` tokens."""
    assert state is not None
    return state.cursor, [token.rpartition("=")[0] for token in state.seen]


def _read(cursor: CursorFilter, records: list[dict[str, object]]) -> list[object]:
    """The ids of ``records`` that ``cursor`` keeps."""
    return [kept["uuid"] for kept in map(cursor.keep, records) if kept is not None]


def test_activities_of_the_cursors_day_are_read_again_and_changes_kept() -> None:
    """ChartMogul rewrites a day's movements all day: the next run reads the cursor's day
    from midnight and keeps what changed there, drops what did not, and names what is gone.

    Found by tests/integration/extract/test_model_based.py: a subscription bought and
    cancelled the same day lost its new_biz activity in ChartMogul, but an incremental
    extract between the two kept it forever (and a second purchase the same day changed
    the amount of an activity the extract had already read).
    """
    day = "2024-03-04T09:30:00+00:00"
    first = CursorFilter(None, "date", "uuid", bucket=same_day)
    read = [
        {"uuid": "a", "date": day, "mrr": 100},
        {"uuid": "b", "date": day, "mrr": 50},
        {"uuid": "c", "date": "2024-03-04T10:00:00+00:00", "mrr": 10},
    ]
    assert _read(first, read) == ["a", "b", "c"]
    state = first.next_state()
    assert _ids(state) == ("2024-03-04T10:00:00+00:00", ["a", "b", "c"])

    second = CursorFilter(state, "date", "uuid", bucket=same_day)
    assert second.start == dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
    again = [
        {"uuid": "a", "date": day, "mrr": 150},  # changed the same day
        {"uuid": "c", "date": "2024-03-04T10:00:00+00:00", "mrr": 10},  # unchanged
        {"uuid": "d", "date": "2024-03-05T08:00:00+00:00", "mrr": 5},  # a new day
    ]
    assert _read(second, again) == ["a", "d"]
    assert second.vanished() == ["b"]
    assert _ids(second.next_state()) == ("2024-03-05T08:00:00+00:00", ["d"])

    unchanged = CursorFilter(state, "date", "uuid", bucket=same_day)
    assert _read(unchanged, read) == []
    assert unchanged.vanished() == []
    assert unchanged.next_state() == state


def test_an_event_edited_in_the_second_of_the_last_read_is_kept() -> None:
    """``updated_at`` has second resolution: an edit in the same second as the last read
    keeps it, and only the digest shows the change (found by the model-based test)."""
    moment = "2024-03-04T09:30:00Z"
    first = CursorFilter(None, "updated_at", "id")
    assert first.keep({"id": 1, "updated_at": moment, "amount_in_cents": 100}) is not None
    second = CursorFilter(first.next_state(), "updated_at", "id")
    assert second.keep({"id": 1, "updated_at": moment, "amount_in_cents": 200}) is not None
    third = CursorFilter(second.next_state(), "updated_at", "id")
    assert third.keep({"id": 1, "updated_at": moment, "amount_in_cents": 200}) is None


def test_cursor_filter_without_new_records_keeps_the_old_state() -> None:
    """Nothing new: the stored state stays as it was."""
    state = StreamState("2024-01-02T00:00:00+00:00", ("a",))
    assert CursorFilter(state, "date", "uuid").next_state() == state
    assert CursorFilter(None, "date", "uuid").next_state() is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T00:00:00Z", dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        ("2024-01-01T02:00:00+02:00", dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        (dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),  # noqa: DTZ001
        ("not a date", None),
        (None, None),
    ],
)
def test_as_datetime_reads_cursor_values(value: object, expected: dt.datetime | None) -> None:
    """ISO strings and datetimes become aware UTC; anything else is None."""
    assert as_datetime(value) == expected


@pytest.mark.parametrize(
    "raw", [None, "x", {"seen": []}, {"cursor": 1}, {"cursor": "a", "seen": 3}]
)
def test_unreadable_state_means_no_state(raw: object) -> None:
    """A damaged stored state is ignored rather than crashing the run."""
    assert StreamState.from_dict(raw) is None


def test_state_round_trips_through_json_form() -> None:
    """as_dict and from_dict are inverses."""
    state = StreamState("2024-01-01T00:00:00+00:00", ("a", "b"))
    assert StreamState.from_dict(state.as_dict()) == state


@pytest.mark.parametrize(
    ("covered_days", "latency_s", "pace_s", "expected"),
    [
        (200, 0.05, 0.025, True),  # 2 pages left: 0.1 s against 16 paced windows, 0.45 s
        (200, 0.30, 0.025, True),  # 0.6 s against 0.7 s
        (150, 0.30, 0.025, False),  # 3 pages left: 0.9 s against 0.7 s
        (550, 5.00, 0.025, True),  # the first page reached the end: nothing left to read
        (30, 0.0, 0.025, False),  # 18 pages left: more than the 16 windows
        (0, 0.0, 0.025, False),  # the first page holds one instant: no estimate
        (200, 0.01, 0.0005, False),  # an unpaced account: windows cost ~1 round trip
    ],
)
def test_reading_on_is_chosen_when_its_round_trips_cost_less_than_pacing_the_windows(
    covered_days: float, latency_s: float, pace_s: float, expected: bool
) -> None:
    day = 86_400.0
    choice = read_on_is_quicker(
        covered_s=covered_days * day,
        span_s=547 * day,
        latency_s=latency_s,
        pace_s=pace_s,
        windows=16,
    )
    assert choice is expected


class _Record(dict[str, object]):
    """A record that can be watched for being freed (a plain dict cannot)."""


def test_a_large_bucket_keeps_digests_not_records() -> None:
    """A day of many activities is held as digests once it outgrows HELD_RECORDS (held
    whole, a day of 100k activities took ~110 MB per activity window); the state is the
    same as when every record was held."""
    day = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
    count = HELD_RECORDS * 2 + 1
    records = [
        _Record(uuid=f"a{i}", date=day + dt.timedelta(seconds=i), mrr=i) for i in range(count)
    ]
    expected = sorted(f"a{i}={digest(record)}" for i, record in enumerate(records))
    newest = Newest(same_day)
    for record in records:
        newest.track(as_datetime(record["date"]), str(record["uuid"]), record)
    watched = [weakref.ref(record) for record in records]
    del records, record
    gc.collect()
    assert sum(ref() is not None for ref in watched) == 0
    state = newest.state()
    assert state is not None
    assert list(state.seen) == expected
