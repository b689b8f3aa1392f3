"""The metrics API: ``/v1/metrics/<metric>`` (unpaginated series plus a summary)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from mogulsync.chartmogul.models import MetricsEntry, MetricsResponse
from mogulsync.chartmogul.pagination import Page
from mogulsync.chartmogul.resources._base import Resource, parse_one

Metric = Literal[
    "all",
    "mrr",
    "arr",
    "arpa",
    "asp",
    "customer-count",
    "customer-churn-rate",
    "mrr-churn-rate",
    "ltv",
]
Interval = Literal["day", "week", "month", "quarter", "year"]
_ENDPOINT = "/metrics/{metric}"


class Metrics(Resource):
    """All nine metrics endpoints; each takes the same query."""

    async def get(
        self,
        metric: Metric,
        start_date: dt.date,
        end_date: dt.date,
        *,
        interval: Interval | None = None,
        geo: Sequence[str] = (),
        plans: Sequence[str] = (),
        filters: str | None = None,
    ) -> MetricsResponse:
        """One metric's series between two dates (inclusive)."""
        raw = await self._series(metric, start_date, end_date, interval, geo, plans, filters)
        return parse_one(MetricsResponse, _ENDPOINT, raw)

    async def entries(
        self,
        metric: Metric,
        start_date: dt.date,
        end_date: dt.date,
        *,
        interval: Interval | None = None,
    ) -> Page[MetricsEntry]:
        """:meth:`get`'s series as one page, whose ``raw_items`` are the entries as sent."""
        raw = await self._series(metric, start_date, end_date, interval)
        response = parse_one(MetricsResponse, _ENDPOINT, raw)  # the whole body is checked
        sent = raw.get("entries") if isinstance(raw.get("entries"), list) else []
        return Page(response.entries, None, False, None, tuple(sent))

    async def _series(
        self,
        metric: Metric,
        start_date: dt.date,
        end_date: dt.date,
        interval: Interval | None,
        geo: Sequence[str] = (),
        plans: Sequence[str] = (),
        filters: str | None = None,
    ) -> Any:
        params = {
            "start-date": start_date.isoformat(),
            "end-date": end_date.isoformat(),
            "interval": interval,
            "geo": ",".join(geo) or None,
            "plans": ",".join(plans) or None,
            "filters": filters,
        }
        return await self._requester.call("GET", _ENDPOINT, path={"metric": metric}, params=params)

    async def all(
        self, start_date: dt.date, end_date: dt.date, *, interval: Interval | None = None
    ) -> MetricsResponse:
        """Every metric per point (``/metrics/all``)."""
        return await self.get("all", start_date, end_date, interval=interval)

    async def mrr(
        self, start_date: dt.date, end_date: dt.date, *, interval: Interval | None = None
    ) -> MetricsResponse:
        """MRR and its movements."""
        return await self.get("mrr", start_date, end_date, interval=interval)

    async def arr(
        self, start_date: dt.date, end_date: dt.date, *, interval: Interval | None = None
    ) -> MetricsResponse:
        """ARR."""
        return await self.get("arr", start_date, end_date, interval=interval)

    async def arpa(
        self, start_date: dt.date, end_date: dt.date, *, interval: Interval | None = None
    ) -> MetricsResponse:
        """Average revenue per account."""
        return await self.get("arpa", start_date, end_date, interval=interval)

    async def asp(
        self, start_date: dt.date, end_date: dt.date, *, interval: Interval | None = None
    ) -> MetricsResponse:
        """Average sale price."""
        return await self.get("asp", start_date, end_date, interval=interval)

    async def customer_count(
        self, start_date: dt.date, end_date: dt.date, *, interval: Interval | None = None
    ) -> MetricsResponse:
        """Number of paying customers."""
        return await self.get("customer-count", start_date, end_date, interval=interval)

    async def customer_churn_rate(
        self, start_date: dt.date, end_date: dt.date, *, interval: Interval | None = None
    ) -> MetricsResponse:
        """Customer churn rate."""
        return await self.get("customer-churn-rate", start_date, end_date, interval=interval)

    async def mrr_churn_rate(
        self, start_date: dt.date, end_date: dt.date, *, interval: Interval | None = None
    ) -> MetricsResponse:
        """Net MRR churn rate."""
        return await self.get("mrr-churn-rate", start_date, end_date, interval=interval)

    async def ltv(
        self, start_date: dt.date, end_date: dt.date, *, interval: Interval | None = None
    ) -> MetricsResponse:
        """Customer lifetime value."""
        return await self.get("ltv", start_date, end_date, interval=interval)
