"""Every ``/v1`` route of the emulator, one module per API area."""

from __future__ import annotations

from starlette.routing import BaseRoute

from mogulsync.emulator.routes import (
    account,
    activities,
    attributes,
    billing_edits,
    contacts,
    crm_objects,
    customer_merges,
    customer_subscriptions,
    customers,
    data_sources,
    invoices,
    json_imports,
    metrics,
    plans,
    segment_webhook,
    subscription_events,
    subscriptions,
    transactions,
)

ALL_ROUTES: list[BaseRoute] = [
    *account.ROUTES,
    *data_sources.ROUTES,
    *customers.ROUTES,
    *contacts.ROUTES,
    *crm_objects.ROUTES,
    *plans.ROUTES,
    *attributes.ROUTES,
    *customer_merges.ROUTES,
    *segment_webhook.ROUTES,
    *activities.ROUTES,
    *metrics.ROUTES,
    *customer_subscriptions.ROUTES,
    *invoices.ROUTES,
    *billing_edits.ROUTES,
    *transactions.ROUTES,
    *subscriptions.ROUTES,
    *subscription_events.ROUTES,
    *json_imports.ROUTES,
]

__all__ = ["ALL_ROUTES"]
