"""Resource groups of the ChartMogul client (one module per API area)."""

from __future__ import annotations

from mogulsync.chartmogul.resources.activities import Activities
from mogulsync.chartmogul.resources.attributes import CustomAttributes, Tags
from mogulsync.chartmogul.resources.contacts import Contacts
from mogulsync.chartmogul.resources.customers import Customers
from mogulsync.chartmogul.resources.data_sources import DataSources
from mogulsync.chartmogul.resources.invoices import Invoices, Transactions
from mogulsync.chartmogul.resources.json_imports import JsonImports
from mogulsync.chartmogul.resources.metrics import Metrics
from mogulsync.chartmogul.resources.plans import PlanGroups, Plans
from mogulsync.chartmogul.resources.subscriptions import SubscriptionEvents, Subscriptions

__all__ = [
    "Activities",
    "Contacts",
    "CustomAttributes",
    "Customers",
    "DataSources",
    "Invoices",
    "JsonImports",
    "Metrics",
    "PlanGroups",
    "Plans",
    "SubscriptionEvents",
    "Subscriptions",
    "Tags",
    "Transactions",
]
