"""Activity checkpoints: a state is offered once every earlier date window has ended."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mogulsync.extract.context import FetchContext
from mogulsync.extract.state import StreamState
from mogulsync.extract.streams import _WindowProgress


def _moment(day: int) -> dt.datetime:
    return dt.datetime(2024, 1, day, tzinfo=dt.UTC)


def _progress(seen: list[StreamState]) -> _WindowProgress:
    ctx: Any = FetchContext(
        client=None,  # type: ignore[arg-type]
        start_date=None,
        end_date=dt.date(2024, 2, 1),
        checkpoint=lambda _name, state: seen.append(state),
    )
    progress = _WindowProgress(ctx, 4)
    for index, day in enumerate((3, 10, 17, 24)):
        progress.newest[index].track(_moment(day), f"a{index}", {"uuid": f"a{index}"})
    return progress


def _ids(states: list[StreamState]) -> list[tuple[str, list[str]]]:
    """Each state's cursor and the ids of its ``id=digest`` tokens."""
    return [(s.cursor, [token.rpartition("=")[0] for token in s.seen]) for s in states]


def test_checkpoints_follow_the_finished_prefix_of_windows() -> None:
    """Windows ending 2, 0, 1, 3: states after window 0, then after 0-2; none at the end."""
    seen: list[StreamState] = []
    progress = _progress(seen)
    progress.finished(2)
    assert seen == []  # window 0 still running: nothing is safe yet
    progress.finished(0)
    progress.finished(1)
    progress.finished(3)  # the stream's own final state covers the last window
    assert _ids(seen) == [(_moment(3).isoformat(), ["a0"]), (_moment(17).isoformat(), ["a2"])]


def test_empty_windows_repeat_no_checkpoint() -> None:
    """A finished window without records does not offer the same state again."""
    seen: list[StreamState] = []
    progress = _progress(seen)
    progress.newest[1] = type(progress.newest[1])()  # window 1 read nothing
    progress.finished(0)
    progress.finished(1)
    assert _ids(seen) == [(_moment(3).isoformat(), ["a0"])]
