"""Customer subscriptions (metrics and import views) and subscription events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mogulsync.chartmogul._requester import JSONDict
from mogulsync.chartmogul._retry import Replay
from mogulsync.chartmogul.models import ImportedSubscription, Subscription, SubscriptionEvent
from mogulsync.chartmogul.pagination import MAX_PER_PAGE, Pager
from mogulsync.chartmogul.resources._base import Resource, expect_list, first_match, parse_one

if TYPE_CHECKING:
    from mogulsync.chartmogul.inputs import NewSubscriptionEvent, SubscriptionEventUpdate, Timestamp


_METRICS_VIEW = "/customers/{uuid}/subscriptions"
_IMPORT_VIEW = "/import/customers/{uuid}/subscriptions"
_IMPORTED_ONE = "/import/subscriptions/{uuid}"
_EVENTS = "/subscription_events"
_ENVELOPE = "subscription_event"


class Subscriptions(Resource):
    """A customer's subscriptions, and cancelling them."""

    def list(self, customer_uuid: str, *, per_page: int = MAX_PER_PAGE) -> Pager[Subscription]:
        """Subscriptions with MRR and status (the metrics view)."""
        return self._pager(
            Subscription,
            _METRICS_VIEW,
            key="entries",
            path={"uuid": customer_uuid},
            per_page=per_page,
        )

    def list_imported(
        self, customer_uuid: str, *, per_page: int = MAX_PER_PAGE
    ) -> Pager[ImportedSubscription]:
        """Subscriptions as the import API knows them (``sub_...`` uuids)."""
        return self._pager(
            ImportedSubscription,
            _IMPORT_VIEW,
            key="subscriptions",
            path={"uuid": customer_uuid},
            per_page=per_page,
        )

    async def cancel(self, subscription_uuid: str, cancelled_at: Timestamp) -> ImportedSubscription:
        """Cancel an imported subscription at ``cancelled_at``."""
        return await self._patch(subscription_uuid, {"cancelled_at": cancelled_at.isoformat()})

    async def set_cancellation_dates(
        self, subscription_uuid: str, dates: Sequence[Timestamp]
    ) -> ImportedSubscription:
        """Replace the cancellation dates (an empty list un-cancels)."""
        body = {"cancellation_dates": [moment.isoformat() for moment in dates]}
        return await self._patch(subscription_uuid, body)

    async def _patch(self, subscription_uuid: str, body: JSONDict) -> ImportedSubscription:
        raw = await self._requester.call(
            "PATCH", _IMPORTED_ONE, path={"uuid": subscription_uuid}, body=body
        )
        return parse_one(ImportedSubscription, _IMPORTED_ONE, raw)


class SubscriptionEvents(Resource):
    """Subscription events of Custom data sources."""

    async def create(self, event: NewSubscriptionEvent) -> SubscriptionEvent:
        """A new event; with an external id a lost answer is resolved by lookup."""
        external_id = event.external_id
        raw = await self._requester.call(
            "POST",
            _EVENTS,
            body={_ENVELOPE: event.payload()},
            replay=Replay.UNSAFE if external_id is None else Replay.LOOKUP,
            lookup=None
            if external_id is None
            else (lambda: self._lookup(external_id, event.data_source_uuid)),
        )
        return parse_one(SubscriptionEvent, _EVENTS, raw)

    def list(
        self,
        *,
        data_source_uuid: str | None = None,
        customer_uuid: str | None = None,
        customer_external_id: str | None = None,
        external_id: str | None = None,
        subscription_external_id: str | None = None,
        plan_external_id: str | None = None,
        event_type: str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Pager[SubscriptionEvent]:
        """Every event matching the filters, page by page."""
        params = {
            "data_source_uuid": data_source_uuid,
            "customer_uuid": customer_uuid,
            "customer_external_id": customer_external_id,
            "external_id": external_id,
            "subscription_external_id": subscription_external_id,
            "plan_external_id": plan_external_id,
            "event_type": event_type,
        }
        return self._pager(
            SubscriptionEvent, _EVENTS, key="subscription_events", params=params, per_page=per_page
        )

    async def update(
        self,
        changes: SubscriptionEventUpdate,
        *,
        event_id: int | None = None,
        external_id: str | None = None,
        data_source_uuid: str | None = None,
    ) -> SubscriptionEvent:
        """Change an event named by id, or by external id + data source."""
        body = _identify(event_id, external_id, data_source_uuid) | changes.payload()
        raw = await self._requester.call("PATCH", _EVENTS, body={_ENVELOPE: body})
        return parse_one(SubscriptionEvent, _EVENTS, raw)

    async def delete(
        self,
        *,
        event_id: int | None = None,
        external_id: str | None = None,
        data_source_uuid: str | None = None,
    ) -> None:
        """Delete an event named by id, or by external id + data source."""
        body = {_ENVELOPE: _identify(event_id, external_id, data_source_uuid)}
        await self._requester.call("DELETE", _EVENTS, body=body)

    async def _lookup(self, external_id: str, data_source_uuid: str) -> JSONDict | None:
        raw = await self._requester.call(
            "GET",
            _EVENTS,
            params={"external_id": external_id, "data_source_uuid": data_source_uuid},
        )
        return first_match(
            expect_list(_EVENTS, raw, "subscription_events"),
            external_id=external_id,
            data_source_uuid=data_source_uuid,
        )


def _identify(
    event_id: int | None, external_id: str | None, data_source_uuid: str | None
) -> dict[str, Any]:
    if event_id is not None:
        return {"id": event_id}
    if external_id is None or data_source_uuid is None:
        raise ValueError("name the event by event_id, or by external_id and data_source_uuid")
    return {"external_id": external_id, "data_source_uuid": data_source_uuid}
