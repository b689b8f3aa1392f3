"""Finding CRM objects by uuid with the 404 bodies the API uses.

ChartMogul's import-style resources answer unknown ids with shape 3
(``{"error": "<Thing> not found"}``). For customers the real body is not recorded; we use
the same shape (``{"error": "Customer not found"}``) because it is the one other
customer-scoped import endpoints are seen to return.
"""

from __future__ import annotations

from typing import Any

from mogulsync.emulator._http import error_not_found
from mogulsync.emulator.state import Emulator
from mogulsync.emulator.store import Row

#: store meta key set once any customer merge happened; until then a customer's only
#: data source and external id are its indexed columns
MERGED_META_KEY = "customers_merged"


def require_row(emulator: Emulator, kind: str, thing: str, uuid: Any, param: str | None) -> Row:
    """The stored object, or a shape-3 404 naming ``thing``."""
    row = emulator.store.get(kind, uuid) if isinstance(uuid, str) and uuid else None
    if row is None:
        raise error_not_found(thing, param)
    return row


def require_customer(emulator: Emulator, uuid: Any, param: str | None = None) -> Row:
    """A customer by uuid, or 404 ``{"error": "Customer not found"}``."""
    return require_row(emulator, "customer", "Customer", uuid, param)


def require_contact(emulator: Emulator, uuid: Any, param: str | None = None) -> Row:
    """A contact by uuid, or 404 ``{"error": "Contact not found"}``."""
    return require_row(emulator, "contact", "Contact", uuid, param)


def require_plan(emulator: Emulator, uuid: Any, param: str | None = None) -> Row:
    """A plan by uuid, or 404 ``{"error": "Plan not found"}``."""
    return require_row(emulator, "plan", "Plan", uuid, param)


def customer_by_external_id(
    emulator: Emulator, data_source_uuid: str, external_id: str
) -> Row | None:
    """The customer with this external id in this data source (merged-in ids included)."""
    row = emulator.store.find_one(
        "customer", data_source_uuid=data_source_uuid, external_id=external_id
    )
    if row is not None:
        return row
    # merged-in ids are not indexed; a meta pointer written at merge time finds them
    # without scanning every customer (this runs on every create)
    target = emulator.store.get_meta(_merged_key(data_source_uuid, external_id))
    row = emulator.store.get("customer", target) if target else None
    if row is None:
        return None
    merged = {
        (item["data_source_uuid"], item["external_id"]) for item in row.body.get("merges", [])
    }
    return row if (data_source_uuid, external_id) in merged else None


def remember_merged_id(
    emulator: Emulator, data_source_uuid: str, external_id: str, customer_uuid: str | None
) -> None:
    """Point a merged-in external id at the customer now holding it (None forgets it)."""
    emulator.store.set_meta(_merged_key(data_source_uuid, external_id), customer_uuid or "")


def _merged_key(data_source_uuid: str, external_id: str) -> str:
    return f"merged_customer:{data_source_uuid}:{external_id}"
