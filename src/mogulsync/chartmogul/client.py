"""``ChartMogulClient``: the typed, rate-limited, retrying async ChartMogul client.

::

    settings = ClientSettings(api_key=SecretStr("..."))
    async with ChartMogulClient(settings) as client:
        source = await client.data_sources.create("Warehouse")
        async for customer in client.customers.list(data_source_uuid=source.uuid):
            ...

A client owns one ``httpx.AsyncClient`` and so belongs to the event loop it is used on;
the rate limiter behind it is shared by every client of the same account in the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

import httpx

from mogulsync.chartmogul._requester import Requester
from mogulsync.chartmogul.limiter import AccountLimiter, limiter_for
from mogulsync.chartmogul.models import Account, reader
from mogulsync.chartmogul.outage import OutageBreaker
from mogulsync.chartmogul.pagination import Page, whole_list
from mogulsync.chartmogul.request_log import RequestHook
from mogulsync.chartmogul.resources import (
    Activities,
    Contacts,
    CustomAttributes,
    Customers,
    DataSources,
    Invoices,
    JsonImports,
    Metrics,
    PlanGroups,
    Plans,
    SubscriptionEvents,
    Subscriptions,
    Tags,
    Transactions,
)
from mogulsync.chartmogul.resources._base import expect_object
from mogulsync.chartmogul.settings import ClientSettings

_PONG = "pong!"


class ChartMogulClient:
    """Every ChartMogul API area as a typed resource group.

    Args:
        settings: key, endpoint, limits, timeouts and retry policy.
        transport: an httpx transport, e.g. the emulator in-process for tests.
        request_hooks: callbacks receiving a :class:`RequestLogEntry` per attempt.
        limiter: an explicit limiter instead of the account's process-wide one.
        breaker: stops every call once ChartMogul has been unreachable for its window
            (:mod:`mogulsync.chartmogul.outage`); without one each call retries alone.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        request_hooks: Sequence[RequestHook] = (),
        limiter: AccountLimiter | None = None,
        breaker: OutageBreaker | None = None,
    ) -> None:
        self.settings = settings
        self.limiter = limiter or limiter_for(
            settings.api_url,
            settings.api_key.get_secret_value(),
            settings.rate_limit,
            settings.max_in_flight,
            settings.shared_limit,
        )
        requester = Requester(
            settings,
            limiter=self.limiter,
            transport=transport,
            hooks=request_hooks,
            breaker=breaker,
        )
        self._requester = requester
        self.data_sources = DataSources(requester)
        self.customers = Customers(requester)
        self.tags = Tags(requester, self.customers)
        self.custom_attributes = CustomAttributes(requester, self.customers)
        self.contacts = Contacts(requester)
        self.plans = Plans(requester)
        self.plan_groups = PlanGroups(requester)
        self.invoices = Invoices(requester)
        self.transactions = Transactions(requester)
        self.subscriptions = Subscriptions(requester)
        self.subscription_events = SubscriptionEvents(requester)
        self.json_imports = JsonImports(requester, settings.json_import_polling)
        self.activities = Activities(requester)
        self.metrics = Metrics(requester)

    def add_request_hook(self, hook: RequestHook) -> None:
        """Also call ``hook`` for every attempt from now on."""
        self._requester.hooks.append(hook)

    async def ping(self) -> bool:
        """Whether the key works (``GET /ping`` answers pong)."""
        raw = await self._requester.call("GET", "/ping")
        return isinstance(raw, dict) and raw.get("data") == _PONG

    async def account(self, include: Sequence[str] = ()) -> Account:
        """The account's name, currency and time zone (plus ``include`` settings)."""
        (account,) = (await self.account_page(include)).items
        return account

    async def account_page(self, include: Sequence[str] = ()) -> Page[Account]:
        """:meth:`account` as a one-entry page, whose ``raw_items`` hold the body as sent."""
        raw = await self._requester.call(
            "GET", "/account", params={"include": ",".join(include) or None}
        )
        return whole_list([expect_object("/account", raw)], reader(Account, "/account"))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._requester.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
