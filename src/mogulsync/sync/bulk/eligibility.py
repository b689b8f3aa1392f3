"""Which rows the bulk JSON import may create, and which group (customer) each belongs to.

The bulk import only creates: it references parents by external id and reuses existing
customers and plans without updating them. So it takes new rows only — never updates,
deletes, contacts, email/uuid matching, rows naming a customer, plan or invoice by
ChartMogul uuid, or rows whose earlier attempt may already have landed (those are resolved
by lookup over REST).
"""

from __future__ import annotations

from mogulsync.config.sync import SyncConfig
from mogulsync.sync.batch import Classified
from mogulsync.sync.diff import Change

#: objects the bulk JSON import can create
BULK_OBJECTS = ("customer", "plan", "invoice", "transaction")


def uses_bulk(sync: SyncConfig) -> bool:
    """Whether rows of this sync may go through the bulk import at all."""
    if sync.bulk == "off" or sync.object not in BULK_OBJECTS:
        return False
    if sync.object == "customer":
        return sync.match == "external_id" and sync.mode != "update"
    return True


def bulk_group(sync: SyncConfig, item: Classified) -> str | None:
    """The group a row is imported with (its customer's external id), or None for REST.

    Invoices group by customer so one customer's records land in one import (as the API
    docs ask); standalone transactions group by their invoice.
    """
    if not uses_bulk(sync) or item.change is not Change.ADDED:
        return None
    if item.prior is not None and item.prior.may_exist:
        return None  # may have landed: only a REST lookup can tell
    payload = item.row.payload
    if sync.object in ("customer", "plan"):
        return str(payload["external_id"])
    if sync.object == "invoice":
        if "customer_external_id" not in payload or "customer_uuid" in payload:
            return None
        if any("plan_uuid" in line for line in payload.get("line_items", [])):
            return None  # the import names plans by external id only
        return str(payload["customer_external_id"])
    if "invoice_uuid" in payload:
        return None  # the import names invoices by external id only
    return str(payload["invoice_external_id"])


def row_ref(item: Classified) -> str | None:
    """The record's external id (kept in the snapshot as ``ref``)."""
    value = item.row.payload.get("external_id")
    return None if value is None else str(value)
