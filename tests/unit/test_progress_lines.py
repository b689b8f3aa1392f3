"""Progress outside a terminal: a line every 10 s or 10 %, driven by a fake clock."""

from __future__ import annotations

from mogulsync.progress import ExtractLines, ProgressLines, Snapshot, bar_text, ticking


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_ten_percent_and_every_ten_seconds() -> None:
    clock, lines = Clock(), []
    progress = ProgressLines("customers", lambda text, _: lines.append(text), clock=clock)
    progress.update(Snapshot(read=1000, to_send=1000, done=50))  # 5 %, no time passed
    assert lines == []
    progress.update(Snapshot(read=1000, to_send=1000, done=100, failed=2, requests=40))
    assert len(lines) == 1  # 10 %
    clock.now += 9.9
    progress.update(Snapshot(read=1000, to_send=1000, done=150, failed=2, requests=99))
    assert len(lines) == 1  # neither 10 s nor 10 % more
    clock.now += 0.1
    progress.update(Snapshot(read=1000, to_send=1000, done=160, failed=3, requests=100))
    assert lines[-1] == (
        "customers: 160/1,000 sent (16%) · 1,000 read · 3 failed · 10.0 req/s · 10 s"
    )


def test_rate_is_bounded_however_often_rows_finish() -> None:
    """10,000 updates in one second of a 100-row run: at most one line per 10 %."""
    clock, lines = Clock(), []
    progress = ProgressLines("plans", lambda text, _: lines.append(text), clock=clock)
    for done in range(1, 101):
        for _ in range(100):
            clock.now += 0.0001
            progress.update(Snapshot(read=100, to_send=100, done=done, requests=done))
    assert len(lines) == 10


def test_reading_before_the_total_is_known() -> None:
    clock, lines = Clock(), []
    progress = ProgressLines("invoices", lambda text, _: lines.append(text), clock=clock)
    clock.now += 10
    progress.update(Snapshot(read=5000))
    assert lines == ["invoices: 0 sent · 5,000 read · 0 failed · 0.0 req/s · 10 s"]


def test_bar_shows_what_is_known() -> None:
    assert bar_text(Snapshot(read=300)) == "300 read"
    assert "None" not in bar_text(Snapshot())
    assert bar_text(Snapshot(read=300, to_send=200, done=20, failed=1)) == (
        "20/200 sent · 300 read · 1 failed"
    )


def test_fields_carry_the_same_figures() -> None:
    clock, seen = Clock(), []
    progress = ProgressLines("customers", lambda _, fields: seen.append(fields), clock=clock)
    clock.now += 20
    progress.update(Snapshot(read=10, to_send=10, done=10, failed=1, requests=40))
    assert seen == [
        {"sync": "customers", "read": 10, "to_send": 10, "done": 10, "failed": 1,
         "requests": 40, "req_per_s": 2.0, "elapsed_s": 20.0}
    ]  # fmt: skip


def test_extract_lines_every_ten_seconds_and_at_each_stage() -> None:
    """`extract run` outside a terminal: no total to count against, so time and stages."""
    clock, lines, fields = Clock(), [], []
    progress = ExtractLines(lambda text, f: (lines.append(text), fields.append(f)), clock=clock)
    for _ in range(500):  # 500 pages within 9.9 s: no line yet
        clock.now += 0.0198
        progress.on_records("customers", 200)
    assert lines == []
    clock.now += 0.1  # 10 s since the start
    progress.on_records("activities", 400)
    (line,) = lines
    assert line == (
        "extract: fetching · 100,400 records (activities 400, customers 100,000)"
        " · 10,040.0 records/s · 10 s"
    )
    assert fields[-1] == {
        "stage": "fetching",
        "records": 100_400,
        "streams": {"customers": 100_000, "activities": 400},
        "records_per_s": 10_040.0,
        "elapsed_s": 10.0,
    }
    clock.now += 1
    progress.on_stage("fetched")  # a stage always writes
    progress.on_stage("extracted")
    assert [f["stage"] for f in fields] == ["fetching", "fetched", "extracted"]
    progress.tick()  # the timer thread: nothing new within 10 s
    assert len(lines) == 3
    clock.now += 10  # dlt loads; no page arrives, the timer still writes
    progress.tick()
    assert len(lines) == 4
    assert lines[-1].startswith("extract: extracted · 100,400 records")


def test_ticking_calls_until_the_block_ends() -> None:
    """The timer thread calls ``tick`` while the block runs and is joined after it."""
    import threading

    called = threading.Event()
    with ticking(called.set, every_s=0.001):
        assert called.wait(timeout=60)
    called.clear()
    assert not called.is_set()
