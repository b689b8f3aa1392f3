"""Events alerts a channel did not take: kept, retried with back-off, superseded or dropped.

Pure, like :mod:`~mogulsync.alerts.events_rules`: the undelivered alerts live in a rule's
:class:`~mogulsync.alerts.events_rules.WatchState` (the queue file), so a restart goes on
retrying them. Each ``(channel, condition)`` holds at most two, so a channel that stays down
costs a bounded state and, by the back-off, a few attempts an hour:

- a new problem or reminder replaces what is waiting (it is the newer news of the condition);
- a new recovery replaces a waiting reminder, but waits *behind* a waiting opening (a
  problem, or a reminder standing in for one) the channel never received: the channel then
  hears the episode and its end, in that order, rather than a recovery out of nowhere;
- no attempt is made more than :data:`GIVE_UP_S` after the alert was found: it is then
  dropped (logged; the run history keeps every failed attempt).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: the first retry comes at the next look (the watch looks every 60 s)...
RETRY_FIRST_S = 60.0
#: ...then twice as long each time, up to this: a webhook down for a minute costs a minute,
#: one down for a day costs two attempts an hour, never one per look
RETRY_MAX_S = 1800.0
#: an alert this old is history, not news: it is dropped
GIVE_UP_S = 86_400.0
#: the kinds that open an episode for a channel that never heard of it
_OPENING = "problem"
_RECOVERED = "recovered"


@dataclass(slots=True)
class Undelivered:
    """One alert to one channel, still to be delivered."""

    channel: str
    #: the condition (``dead_letters``, ``backlog``) and the kind (problem, reminder, recovered)
    condition: str
    kind: str
    #: the message as stored (already redacted; see ``events_message.stored``)
    message: dict[str, Any]
    #: when the look that found it ran (forwarder clock, epoch seconds)
    found_at: float
    #: the channel has heard nothing of this episode yet: a recovery waits behind it
    opens: bool = False
    #: delivery attempts that failed so far, and when the next one is due
    failures: int = 0
    next_at: float = 0.0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Undelivered:
        """One kept earlier (KeyError, TypeError or ValueError when it is not one)."""
        message = raw["message"]
        if not isinstance(message, dict):
            raise TypeError("message")
        return cls(
            channel=str(raw["channel"]),
            condition=str(raw["condition"]),
            kind=str(raw["kind"]),
            message=message,
            found_at=float(raw["found_at"]),
            opens=bool(raw["opens"]),
            failures=int(raw["failures"]),
            next_at=float(raw["next_at"]),
        )

    def as_dict(self) -> dict[str, Any]:
        """As kept in the state's JSON."""
        return asdict(self)


@dataclass(slots=True)
class Outbox:
    """Every undelivered alert of one rule, in the order they were found."""

    items: list[Undelivered] = field(default_factory=list)

    def add(self, item: Undelivered) -> None:
        """Keep ``item``, newer than every alert waiting, by the rules in the module doc."""
        same = [old for old in self.items if _key(old) == _key(item)]
        others = [old for old in self.items if _key(old) != _key(item)]
        if item.kind == _RECOVERED:
            kept = [old for old in same if old.opens][:1]
            for old in kept:  # news for the channel: try its line now, not after the back-off
                old.next_at = min(old.next_at, item.next_at)
        else:
            # a reminder replacing an opening the channel never got stands in for it
            item.opens = item.opens or any(old.opens for old in same)
            kept = []
        self.items = [*others, *kept, item]

    def take_due(self, now: float) -> list[Undelivered]:
        """Remove and return what is due now: per ``(channel, condition)``, the whole
        waiting line when its first is due (the caller sends them in order)."""
        due_keys = {
            _key(item) for item in self.items if _first(self.items, item) and item.next_at <= now
        }
        due = [item for item in self.items if _key(item) in due_keys]
        self.items = [item for item in self.items if _key(item) not in due_keys]
        return due

    def put_back(self, items: list[Undelivered]) -> None:
        """Return ``items`` (older than anything kept meanwhile) to the front of their lines."""
        newer = self.items
        self.items = []
        for item in [*items, *newer]:
            self.add(item)


def failed(item: Undelivered, now: float) -> Undelivered | None:
    """``item`` after a failed attempt at ``now``, due again after the back-off; None when
    it is too old to send any more."""
    next_at = now + backoff_s(item.failures + 1)
    if next_at - item.found_at > GIVE_UP_S:
        return None
    item.failures += 1
    item.next_at = next_at
    return item


def backoff_s(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failed attempt: 1, 2, 4, ... 30 minutes."""
    return min(RETRY_MAX_S, RETRY_FIRST_S * 2.0 ** max(0, failures - 1))


def _key(item: Undelivered) -> tuple[str, str]:
    return item.channel, item.condition


def _first(items: list[Undelivered], item: Undelivered) -> bool:
    return next(old for old in items if _key(old) == _key(item)) is item
