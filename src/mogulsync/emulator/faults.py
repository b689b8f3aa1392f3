"""Decides which fault, if any, a request gets."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from mogulsync.emulator.settings import Faults

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: faults that let a write run first, then take its answer away: only writes get them
AFTER_WRITE = frozenset({"lost_response", "error_after_write"})


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request: nothing, an error, a 429, a drop, a lost, replaced or
    malformed response."""

    kind: str | None = None
    status: int = 0
    extra_latency_s: float = 0.0


class FaultInjector:
    """Draws faults for requests from the current :class:`Faults` settings."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)
        self.injected: dict[str, int] = {}

    def configure(self, faults: Faults) -> None:
        """Replace the settings (and re-seed)."""
        self.faults = faults
        self._random = random.Random(faults.seed)

    def decide(self, method: str, path: str, query: str = "") -> FaultDecision:
        """The fault for this request, counted in ``injected``."""
        decision = self._scripted(method, path, query) or self._random_fault(method, path)
        if decision.kind:
            self.injected[decision.kind] = self.injected.get(decision.kind, 0) + 1
        return decision

    def _scripted(self, method: str, path: str, query: str) -> FaultDecision | None:
        for index, fault in enumerate(self.faults.script):
            if fault.method and fault.method.upper() != method:
                continue
            if fault.path_pattern and not re.search(fault.path_pattern, path):
                continue
            if fault.query_pattern and not re.search(fault.query_pattern, query):
                continue
            if fault.fault in AFTER_WRITE and method not in WRITE_METHODS:
                continue
            del self.faults.script[index]
            return FaultDecision(fault.fault, fault.status)
        return None

    def _random_fault(self, method: str, path: str) -> FaultDecision:
        faults = self.faults
        latency = faults.latency_ms / 1000
        if faults.latency_jitter_ms:
            latency += self._random.uniform(0, faults.latency_jitter_ms / 1000)
        if faults.methods and method not in {m.upper() for m in faults.methods}:
            return FaultDecision(extra_latency_s=latency)
        if faults.path_pattern and not re.search(faults.path_pattern, path):
            return FaultDecision(extra_latency_s=latency)
        draw = self._random.random()
        for kind, rate in (
            ("drop", faults.drop_rate),
            ("error", faults.error_rate),
            ("rate_limit", faults.rate_limit_rate),
        ):
            if draw < rate:
                status = self._random.choice(faults.error_statuses) if kind == "error" else 0
                return FaultDecision(kind, status, latency)
            draw -= rate
        if method in WRITE_METHODS and self._random.random() < faults.lost_response_rate:
            return FaultDecision("lost_response", 0, latency)
        # drawn only when set: seeded sequences of the other faults stay as they were
        if (
            faults.error_after_write_rate
            and method in WRITE_METHODS
            and self._random.random() < faults.error_after_write_rate
        ):
            status = self._random.choice(faults.after_write_statuses)
            return FaultDecision("error_after_write", status, latency)
        if faults.malformed_rate and self._random.random() < faults.malformed_rate:
            return FaultDecision("malformed", 0, latency)
        return FaultDecision(extra_latency_s=latency)
