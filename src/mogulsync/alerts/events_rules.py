"""When the events forwarder alerts: new dead letters, a stuck backlog, and recovery.

Pure: :func:`step` reads one :class:`Snapshot` of the queue and the :class:`WatchState`
kept from earlier looks, updates the state and says what to announce. Each condition has
*episodes*: it opens with one alert, reminds at most every ``repeat`` while it lasts, and
closes with one recovery. The state is plain JSON so the forwarder can keep it in its
queue file: a restart continues the episode instead of announcing it again.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from mogulsync.alerts.events_retry import Outbox, Undelivered
from mogulsync.config.alerts_events import EventsAlertRule

Kind = Literal["problem", "reminder", "recovered"]


class Condition(enum.Enum):
    """What the forwarder is watched for."""

    DEAD_LETTERS = "dead_letters"
    BACKLOG = "backlog"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The queue as one look sees it (times are the forwarder clock's epoch seconds)."""

    now: float
    #: events ever dead-lettered (a running total that replays do not lower)
    dead_total: int
    #: dead letters in the queue now (waiting for a replay)
    dead_waiting: int = 0
    pending: int = 0
    #: when the oldest pending event arrived (None: nothing pending)
    oldest_pending_at: float | None = None
    #: why the oldest pending event's last attempt failed
    oldest_reason: str | None = None
    #: the most common reasons among dead letters, with their counts
    dead_reasons: tuple[tuple[str, int], ...] = ()

    @property
    def backlog_age_s(self) -> float | None:
        """How old the oldest pending event is (None: nothing pending)."""
        if self.oldest_pending_at is None:
            return None
        return max(0.0, self.now - self.oldest_pending_at)


@dataclass(slots=True)
class Episode:
    """One condition's current episode (closed: none)."""

    open: bool = False
    since: float = 0.0
    last_sent: float = 0.0


@dataclass(slots=True)
class WatchState:
    """What :func:`step` remembers between looks (and across restarts)."""

    #: ``[time, dead_total]`` whenever the total changed, plus the newest one before the
    #: window: the dead letters of the window are the total minus that one's
    samples: list[list[float]] = field(default_factory=list)
    episodes: dict[str, Episode] = field(default_factory=dict)
    #: alerts a channel did not take, retried on later looks (events_retry)
    outbox: Outbox = field(default_factory=Outbox)

    def to_json(self) -> str:
        """The state as compact JSON."""
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> WatchState:
        """The state kept earlier (a fresh one when none or unreadable)."""
        try:
            raw = json.loads(text) if text else {}
            return cls(
                samples=[[float(t), float(n)] for t, n in raw.get("samples", [])],
                episodes={
                    name: Episode(bool(e["open"]), float(e["since"]), float(e["last_sent"]))
                    for name, e in raw.get("episodes", {}).items()
                },
                outbox=Outbox(_undelivered(raw.get("outbox", {}).get("items", []))),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()

    def open_conditions(self) -> list[str]:
        """Conditions in an episode now."""
        return sorted(name for name, episode in self.episodes.items() if episode.open)


def _undelivered(raw: list[dict[str, object]]) -> list[Undelivered]:
    """The undelivered alerts kept earlier; one unreadable is dropped, not the episodes."""
    kept = []
    for item in raw:
        try:
            kept.append(Undelivered.from_dict(item))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return kept


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to announce about one condition."""

    condition: Condition
    kind: Kind
    #: new dead letters in the window, or the backlog's age in seconds
    amount: float
    #: when the episode began
    since: float
    #: another condition is still in an episode (a recovery then resolves no incident)
    others_open: bool = False


def new_dead_letters(state: WatchState, snap: Snapshot, window_s: float) -> int:
    """Events dead-lettered within the last ``window_s`` (by the samples' times)."""
    samples = [sample for sample in state.samples if sample[0] <= snap.now]  # clock went back
    if not samples or samples[-1][1] > snap.dead_total:  # first look, or a new queue file
        samples = [[snap.now, float(snap.dead_total)]]
    elif samples[-1][1] != snap.dead_total:
        samples.append([snap.now, float(snap.dead_total)])
    start = snap.now - window_s
    before = [index for index, sample in enumerate(samples) if sample[0] <= start]
    first = before[-1] if before else 0
    state.samples = samples[first:]
    return snap.dead_total - int(samples[first][1])


def step(rule: EventsAlertRule, state: WatchState, snap: Snapshot) -> list[Notice]:
    """Update ``state`` with ``snap``; what to announce now (nothing most of the time)."""
    dead = new_dead_letters(state, snap, rule.window_s)
    age = snap.backlog_age_s
    threshold = rule.backlog_age_s
    checks = (
        (Condition.DEAD_LETTERS, rule.dead_letters is not None and dead >= rule.dead_letters, dead),
        (Condition.BACKLOG, threshold is not None and age is not None and age >= threshold, age),
    )
    found: list[tuple[Condition, Kind, float, float]] = []
    for condition, active, amount in checks:
        episode = state.episodes.setdefault(condition.value, Episode())
        kind: Kind | None = None
        if active and not episode.open:
            episode.open, episode.since, episode.last_sent = True, snap.now, snap.now
            kind = "problem"
        elif active and snap.now - episode.last_sent >= rule.repeat_s:
            episode.last_sent = snap.now
            kind = "reminder"
        elif not active and episode.open:
            episode.open = False
            kind = "recovered"
        if kind is not None:
            found.append((condition, kind, float(amount or 0), episode.since))
    still = set(state.open_conditions())
    return [
        Notice(condition, kind, amount, since, bool(still - {condition.value}))
        for condition, kind, amount, since in found
    ]
