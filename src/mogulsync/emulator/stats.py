"""Request counters the admin API reports, so tests and benchmarks can count API calls."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

# Identifiers in paths are folded so counts group by endpoint, not by object.
_ID_SEGMENT = re.compile(
    r"^((cus|ds|con|pl|plg|inv|li|tr|sub|acc|note|sev)_[0-9a-zA-Z-]+|[0-9a-f-]{36}|\d+)$"
)


def endpoint_of(method: str, path: str) -> str:
    """``POST /v1/customers/{id}/contacts`` style endpoint name."""
    parts = ["{id}" if _ID_SEGMENT.match(part) else part for part in path.split("/")]
    return f"{method} {'/'.join(parts)}"


class Stats:
    """Counts of requests by endpoint and status, limits hit and peak concurrency."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start counting from zero (in-flight requests stay in flight)."""
        self.requests_total = 0
        self.by_endpoint: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.by_status: Counter[int] = Counter()
        self.rate_limited = 0
        self.concurrency_rejected = 0
        self.peak_concurrency = getattr(self, "in_flight", 0)
        self.in_flight = getattr(self, "in_flight", 0)
        self.writes = 0

    def started(self) -> None:
        """A /v1 request arrived."""
        self.in_flight += 1
        self.peak_concurrency = max(self.peak_concurrency, self.in_flight)

    def finished(self, method: str, path: str, status: int) -> None:
        """A /v1 request was answered (or dropped, status 0)."""
        self.in_flight -= 1
        self.requests_total += 1
        self.by_endpoint[endpoint_of(method, path)][status] += 1
        self.by_status[status] += 1
        if method != "GET" and 200 <= status < 300:
            self.writes += 1

    def snapshot(self, injected: dict[str, int]) -> dict[str, Any]:
        """JSON for ``GET /_emulator/stats``."""
        return {
            "requests_total": self.requests_total,
            "writes_succeeded": self.writes,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_endpoint": {
                name: {str(k): v for k, v in sorted(counts.items())}
                for name, counts in sorted(self.by_endpoint.items())
            },
            "rate_limited_429": self.rate_limited,
            "concurrency_rejected_503": self.concurrency_rejected,
            "peak_concurrency": self.peak_concurrency,
            "in_flight": self.in_flight,
            "faults_injected": dict(injected),
        }
