"""One applier per ChartMogul object: how a mapped row becomes API calls."""

from __future__ import annotations

from collections.abc import Callable

from mogulsync.sync.apply._base import Applier, ApplyContext, KeyedLocks, RowRejectedError
from mogulsync.sync.apply.contacts import ContactApplier
from mogulsync.sync.apply.customers import CustomerApplier
from mogulsync.sync.apply.invoices import InvoiceApplier, TransactionApplier
from mogulsync.sync.apply.plans import PlanApplier
from mogulsync.sync.apply.resolve import Resolver

_APPLIERS: dict[str, Callable[[ApplyContext, Resolver], Applier]] = {
    "customer": CustomerApplier,
    "contact": ContactApplier,
    "plan": PlanApplier,
    "invoice": InvoiceApplier,
    "transaction": TransactionApplier,
}


def applier_for(context: ApplyContext) -> Applier:
    """The applier for the sync's object."""
    kind = _APPLIERS[context.sync.object]
    applier: Applier = kind(context, Resolver(context))
    return applier


__all__ = [
    "Applier",
    "ApplyContext",
    "KeyedLocks",
    "Resolver",
    "RowRejectedError",
    "applier_for",
]
