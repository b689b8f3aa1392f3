"""Placeholder MRR engine interface; the real engine replaces this module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mogulsync.emulator.store import Store


@dataclass(frozen=True, slots=True)
class CustomerMrr:
    """What the customer object shows of its revenue."""

    mrr: int = 0
    arr: int = 0
    status: str | None = None  # "Active" / "Cancelled" / None (lead: keep stored status)
    customer_since: datetime | None = None
    currency: str = "USD"


class MrrEngine:
    """Derives MRR, activities and metrics from stored invoices and subscriptions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def customer(self, customer_uuid: str) -> CustomerMrr:
        """Current MRR figures of one customer."""
        del customer_uuid
        return CustomerMrr()
