"""The forwarder: per-entity order, coalescing windows, retries with backoff, dead letters."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest

from mogulsync.config.events import DeliveryConfig
from mogulsync.errors import RetriableError, SkippableError
from mogulsync.events.delivery import PlannedEvent, Verdict, classify
from mogulsync.events.forwarder import PRUNE_INTERVAL_S, Forwarder
from mogulsync.events.mappings import DEFAULT_MAPPINGS
from mogulsync.events.queue import EventQueue, GroupCommitWriter
from mogulsync.events.schema import normalize

T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A delivery that records what it was given and fails as told (per message id)."""

    def __init__(self, coalesces: bool = True) -> None:
        self.coalesces = coalesces
        self.calls: list[list[str]] = []
        self.failures: dict[str, list[Exception]] = {}
        self.taken = 0
        self.seen: list[PlannedEvent] = []

    async def deliver(self, entity: str, items: Sequence[PlannedEvent]) -> list[Verdict]:
        self.calls.append([item.event.message_id for item in items])
        self.seen.extend(items)
        verdicts = []
        for item in items:
            queued = self.failures.get(item.event.message_id)
            if queued:
                kind, reason = classify(queued.pop(0))
                verdicts.append(Verdict(item.event.seq, kind, reason))
            else:
                verdicts.append(Verdict(item.event.seq, "delivered"))
        return verdicts

    def take_counters(self) -> dict[str, int]:
        taken, self.taken = len(self.calls) - self.taken, len(self.calls)
        return {"calls": taken}

    async def aclose(self) -> None:
        return None


def identify(message_id: str, user: str, at: float = 0.0, **traits):
    received = T0 + dt.timedelta(seconds=at)
    return normalize(
        {
            "type": "identify",
            "userId": user,
            "messageId": message_id,
            "traits": {"email": f"{user}@x.io", **traits},
        },
        received_at=received,
    )


async def store(path: Path, events) -> EventQueue:
    writer = GroupCommitWriter(path)
    try:
        await writer.append(events)
    finally:
        writer.close()
    return EventQueue(path)


def forwarder(queue: EventQueue, delivery: Recorder, clock: Clock, **settings) -> Forwarder:
    config = DeliveryConfig(**{"coalesce_window_s": 1.0, "retry_initial_s": 10, **settings})
    return Forwarder(queue, delivery, DEFAULT_MAPPINGS, config, clock=clock)


@pytest.mark.anyio
async def test_burst_for_one_entity_waits_for_the_window_then_goes_as_one(tmp_path: Path) -> None:
    """Events of one contact inside the window are delivered together, after the window."""
    queue = await store(
        tmp_path / "q",
        [identify("a1", "u1", 0), identify("a2", "u1", 0.5), identify("b1", "u2", 0.2)],
    )
    clock, delivery = Clock(), Recorder()
    clock.now += 0.9
    fwd = forwarder(queue, delivery, clock)
    assert await fwd.run_once() > 0
    assert delivery.calls == []
    clock.now += 1.0
    assert await fwd.run_once() == 0
    assert sorted(delivery.calls) == [["a1", "a2"], ["b1"]]
    assert queue.counts()["delivered"] == 3
    assert queue.counters()["calls"] == 2  # one delivery per entity


@pytest.mark.anyio
async def test_a_retry_holds_later_events_of_the_same_entity(tmp_path: Path) -> None:
    """After a retriable failure the entity waits out the backoff; order is kept."""
    queue = await store(tmp_path / "q", [identify("a1", "u1"), identify("b1", "u2")])
    clock, delivery = Clock(), Recorder(coalesces=False)
    delivery.failures["a1"] = [RetriableError("503")]
    fwd = forwarder(queue, delivery, clock)
    await fwd.run_once()
    a1 = queue.get("a1")
    assert a1 is not None
    assert (a1.status, a1.attempts, a1.next_attempt_at) == ("pending", 1, clock.now + 10)
    await store(tmp_path / "q", [identify("a2", "u1", 1)])
    clock.now += 5
    await fwd.run_once()
    assert delivery.calls == [["a1"], ["b1"]]  # a2 waits behind a1
    clock.now += 6
    await fwd.run_once()
    assert delivery.calls[-1] == ["a1", "a2"]
    assert queue.counts()["delivered"] == 3


@pytest.mark.anyio
async def test_repeated_failures_end_in_the_dead_letter_store(tmp_path: Path) -> None:
    """max_attempts retriable failures make a dead letter with the last reason."""
    queue = await store(tmp_path / "q", [identify("a1", "u1")])
    clock, delivery = Clock(), Recorder()
    delivery.failures["a1"] = [RetriableError(f"try {n}") for n in range(3)]
    fwd = forwarder(queue, delivery, clock, max_attempts=3, coalesce_window_s=0)
    for _ in range(3):
        await fwd.run_once()
        clock.now += 1000
    dead = queue.get("a1")
    assert dead is not None
    assert dead.status == "dead"
    assert dead.attempts == 3
    assert "gave up after 3 attempts" in (dead.reason or "")
    assert "try 2" in (dead.reason or "")


@pytest.mark.anyio
async def test_refused_data_is_dead_lettered_at_once(tmp_path: Path) -> None:
    """A failure that cannot pass on retry (a 422) is not retried."""
    queue = await store(tmp_path / "q", [identify("a1", "u1")])
    clock, delivery = Clock(), Recorder()
    delivery.failures["a1"] = [SkippableError("Country is invalid")]
    await forwarder(queue, delivery, clock, coalesce_window_s=0).run_once()
    dead = queue.get("a1")
    assert dead is not None
    assert (dead.status, dead.attempts) == ("dead", 1)
    assert "Country is invalid" in (dead.reason or "")


@pytest.mark.anyio
async def test_rejected_and_unmapped_events_are_recorded_without_delivery(tmp_path: Path) -> None:
    """Invalid events are rejected with the destination's message; tracks are skipped."""
    nothing = normalize({"type": "identify", "userId": "u", "messageId": "n"}, received_at=T0)
    track = normalize(
        {"type": "track", "userId": "u", "event": "E", "messageId": "t"}, received_at=T0
    )
    queue = await store(tmp_path / "q", [nothing, track])
    clock, delivery = Clock(), Recorder()
    await forwarder(queue, delivery, clock).run_once()
    assert delivery.calls == []
    assert queue.counts()["rejected"] == 1
    assert queue.counts()["skipped"] == 1
    rejected = queue.get("n")
    assert rejected is not None
    assert "no information of interest" in (rejected.reason or "")


class InFlightProbe(Recorder):
    """Records whether each event was durably marked in flight when it was sent."""

    def __init__(self, queue: EventQueue) -> None:
        super().__init__(coalesces=False)
        self.queue = queue
        self.marked: dict[str, bool] = {}

    async def deliver(self, entity: str, items: Sequence[PlannedEvent]) -> list[Verdict]:
        for item in items:
            stored = self.queue.get(item.event.message_id)
            self.marked[item.event.message_id] = bool(stored and stored.inflight)
        return await super().deliver(entity, items)


@pytest.mark.anyio
async def test_events_are_marked_in_flight_while_sent_and_a_failed_send_stays_in_doubt(
    tmp_path: Path,
) -> None:
    """The marker is durable before sending; delivery clears it, a retriable failure keeps it."""
    queue = await store(tmp_path / "q", [identify("a1", "u1"), identify("b1", "u2")])
    clock = Clock()
    delivery = InFlightProbe(EventQueue(tmp_path / "q"))
    delivery.failures["b1"] = [RetriableError("timeout")]
    await forwarder(queue, delivery, clock, coalesce_window_s=0).run_once()
    assert delivery.marked == {"a1": True, "b1": True}
    a1, b1 = queue.get("a1"), queue.get("b1")
    assert a1 is not None
    assert b1 is not None
    assert (a1.status, a1.inflight) == ("delivered", False)
    assert (b1.status, b1.inflight) == ("pending", True)  # its retry must check first
    clock.now += 1000
    await forwarder(queue, delivery, clock, coalesce_window_s=0).run_once()
    retried = [item for item in delivery.seen if item.event.message_id == "b1"][-1]
    assert retried.event.inflight  # the delivery is told to check before writing


@pytest.mark.anyio
async def test_finished_events_past_the_retention_are_pruned_by_the_forwarder(
    tmp_path: Path,
) -> None:
    """With keep_s set, old delivered events are deleted; at most once per interval."""
    queue = await store(tmp_path / "q", [identify("a1", "u1")])
    clock, delivery = Clock(), Recorder()
    config = DeliveryConfig(coalesce_window_s=0)
    fwd = Forwarder(queue, delivery, DEFAULT_MAPPINGS, config, clock=clock, keep_s=60)
    await fwd.run_once()
    assert await fwd.prune_if_due() == 0  # delivered, but not old yet
    clock.now += 61
    assert await fwd.prune_if_due() == 0  # old now, but pruned a moment ago
    clock.now += PRUNE_INTERVAL_S
    assert await fwd.prune_if_due() == 1
    assert queue.get("a1") is None


class _OneBreaksOneWaits(Recorder):
    """u1's delivery raises a bug (not a verdict) while u2's is still in flight."""

    def __init__(self) -> None:
        super().__init__(coalesces=False)
        self.u2_started = asyncio.Event()
        self.u2_finished = False

    async def deliver(self, entity: str, items: Sequence[PlannedEvent]) -> list[Verdict]:
        if items[0].event.message_id == "a1":
            await self.u2_started.wait()
            raise RuntimeError("a bug in one entity's delivery")
        self.u2_started.set()
        for _ in range(20):  # a few hand-overs of the loop: u1 raises meanwhile
            await asyncio.sleep(0)
        self.u2_finished = True
        return await super().deliver(entity, items)


@pytest.mark.anyio
async def test_one_entitys_failure_lets_the_others_finish_before_the_round_ends(
    tmp_path: Path,
) -> None:
    """Before, the round raised at once and left the other deliveries running past the
    delivery's close (a request on a closed client: an unclosed socket)."""
    queue = await store(tmp_path / "q", [identify("a1", "u1"), identify("b1", "u2")])
    clock, delivery = Clock(), _OneBreaksOneWaits()
    clock.now += 10.0  # past the coalescing window
    fwd = forwarder(queue, delivery, clock)
    with pytest.raises(RuntimeError, match="a bug"):
        await fwd.run_once()
    assert delivery.u2_finished
    assert queue.counts()["delivered"] == 1  # u2's outcome was recorded, not dropped


class _BothBreak(Recorder):
    async def deliver(self, entity: str, items: Sequence[PlannedEvent]) -> list[Verdict]:
        raise RuntimeError(f"a bug delivering {entity}")


@pytest.mark.anyio
async def test_every_entitys_failure_is_seen_not_only_the_one_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = await store(tmp_path / "q", [identify("a1", "u1"), identify("b1", "u2")])
    clock = Clock()
    clock.now += 10.0
    fwd = forwarder(queue, _BothBreak(coalesces=False), clock)
    with (
        caplog.at_level("ERROR", logger="mogulsync.events.forwarder"),
        pytest.raises(RuntimeError, match="a bug delivering") as raised,
    ):
        await fwd.run_once()
    [logged] = [r for r in caplog.records if "another entity" in r.getMessage()]
    assert logged.exc_info is not None
    assert {str(raised.value), str(logged.exc_info[1])} == {
        "a bug delivering contact:u1",
        "a bug delivering contact:u2",
    }


DAY_S = 86_400.0


@pytest.mark.anyio
async def test_dead_letters_past_their_own_retention_are_pruned(tmp_path: Path) -> None:
    """keep_dead_s bounds the dead letters a forwarder left unattended collects: each
    waits from when it became one (again, after a replay); finished events keep their own
    retention and nothing else is touched."""
    refused = [identify(f"d{i}", f"u{i}", at=i * DAY_S) for i in range(3)]
    queue = await store(tmp_path / "q", [*refused, identify("ok", "v1")])
    clock, delivery = Clock(), Recorder()
    for event in refused:
        delivery.failures[event.message_id] = [SkippableError("Country is invalid")] * 2
    config = DeliveryConfig(coalesce_window_s=0)
    fwd = Forwarder(queue, delivery, DEFAULT_MAPPINGS, config, clock=clock, keep_dead_s=10 * DAY_S)
    clock.now += 2 * DAY_S  # all three have arrived: refused on day 2
    await fwd.run_once()
    assert queue.counts()["dead"] == 3
    # d2 is replayed on day 5 and refused again: it waits from then on
    clock.now = T0.timestamp() + 5 * DAY_S
    [d2] = [e.seq for e in queue.by_status("dead") if e.message_id == "d2"]
    assert queue.replay([d2], now=clock.now) == 1
    await fwd.run_once()
    clock.now = T0.timestamp() + 11.5 * DAY_S  # d0 and d1 dead for 9.5 days: kept
    assert await fwd.prune_if_due() == 0
    clock.now = T0.timestamp() + 12.5 * DAY_S  # now more than 10 days
    assert await fwd.prune_if_due() == 2
    assert [e.message_id for e in queue.by_status("dead")] == ["d2"]
    assert queue.get("ok") is not None  # delivered: no keep_s, kept
    clock.now = T0.timestamp() + 15.5 * DAY_S
    assert await fwd.prune_if_due() == 1
    assert queue.counts()["dead"] == 0
    assert queue.counters()["pruned_dead"] == 3


@pytest.mark.anyio
async def test_without_keep_dead_s_dead_letters_wait_for_a_human(tmp_path: Path) -> None:
    """The default: a dead letter stays however old, while finished events are pruned."""
    queue = await store(tmp_path / "q", [identify("d0", "u0"), identify("ok", "v1")])
    clock, delivery = Clock(), Recorder()
    delivery.failures["d0"] = [SkippableError("Country is invalid")]
    config = DeliveryConfig(coalesce_window_s=0)
    fwd = Forwarder(queue, delivery, DEFAULT_MAPPINGS, config, clock=clock, keep_s=DAY_S)
    await fwd.run_once()
    clock.now += 365 * DAY_S
    assert await fwd.prune_if_due() == 1
    assert [e.message_id for e in queue.by_status("dead")] == ["d0"]


@pytest.mark.anyio
async def test_a_dead_letter_waits_from_when_it_died_not_from_its_arrival(
    tmp_path: Path,
) -> None:
    """An event that arrived long before it was refused (queued while the forwarder was
    stopped, or by `events serve --no-forward`) is a new dead letter: it gets its whole
    keep_dead_s. Counted from its arrival it was deleted by the next prune, minutes after
    the alert announced it, before anyone could list it."""
    queue = await store(tmp_path / "q", [identify("late", "u0")])
    clock, delivery = Clock(), Recorder()
    delivery.failures["late"] = [SkippableError("Country is invalid")]
    config = DeliveryConfig(coalesce_window_s=0)
    fwd = Forwarder(queue, delivery, DEFAULT_MAPPINGS, config, clock=clock, keep_dead_s=DAY_S)
    clock.now += 3 * DAY_S  # the forwarder starts three days after the event arrived
    await fwd.run_once()
    assert queue.counts()["dead"] == 1
    clock.now += PRUNE_INTERVAL_S + 1  # the next prune, minutes later
    assert await fwd.prune_if_due() == 0
    assert [e.message_id for e in queue.by_status("dead")] == ["late"]
    clock.now += DAY_S  # dead for more than a day now: it goes
    assert await fwd.prune_if_due() == 1
    assert queue.counts()["dead"] == 0
