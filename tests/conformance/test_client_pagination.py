"""Listing more than 200 records through the client's cursor pages."""

from __future__ import annotations

from typing import Any

import chartmogul
from tests.conformance._support import create_customer, subscription_invoice

MAX_PER_PAGE = 200
CUSTOMER_COUNT = 230
INVOICE_COUNT = 250


def _all_pages(fetch: Any, key: str, **params: Any) -> list[list[Any]]:
    """Follow cursors until has_more is false; the entries of every page."""
    pages: list[list[Any]] = []
    result = fetch(**params).get()
    pages.append(list(getattr(result, key)))
    while result.has_more:
        assert result.cursor, "a page with has_more must carry a cursor"
        result = fetch(cursor=result.cursor, **params).get()
        pages.append(list(getattr(result, key)))
    return pages


def test_customers_over_two_hundred(cm: chartmogul.Config, ds: Any) -> None:
    """230 customers list as 200 + 30 with the default page size, every one exactly once."""
    created = [
        create_customer(cm, ds.uuid, f"bulk-{index:03d}", name=f"Customer {index}").uuid
        for index in range(CUSTOMER_COUNT)
    ]

    def fetch(**params: Any) -> Any:
        return chartmogul.Customer.all(cm, data_source_uuid=ds.uuid, **params)

    pages = _all_pages(fetch, "entries")
    assert [len(page) for page in pages] == [MAX_PER_PAGE, CUSTOMER_COUNT - MAX_PER_PAGE]
    listed = [c.uuid for page in pages for c in page]
    assert sorted(listed) == sorted(created)

    small = _all_pages(fetch, "entries", per_page=100)
    assert [len(page) for page in small] == [100, 100, 30]
    assert [c.uuid for page in small for c in page] == listed


def test_invoices_over_two_hundred(cm: chartmogul.Config, plan: Any, customer: Any) -> None:
    """250 invoices imported in one call page through both invoice listings."""
    invoices = [
        subscription_invoice(
            f"bulk-inv-{index:03d}",
            plan_uuid=plan.uuid,
            subscription_external_id=f"bulk-sub-{index:03d}",
            start="2024-01-01",
            end="2024-02-01",
        )
        for index in range(INVOICE_COUNT)
    ]
    imported = chartmogul.Invoice.create(cm, uuid=customer.uuid, data={"invoices": invoices}).get()
    assert len(imported.invoices) == INVOICE_COUNT
    expected = {inv.uuid for inv in imported.invoices}

    def per_customer(**params: Any) -> Any:
        return chartmogul.Invoice.all(cm, uuid=customer.uuid, **params)

    pages = _all_pages(per_customer, "invoices", per_page=120)
    assert [len(page) for page in pages] == [120, 120, 10]
    assert {inv.uuid for page in pages for inv in page} == expected

    def everywhere(**params: Any) -> Any:
        return chartmogul.Invoice.all(cm, customer_uuid=customer.uuid, **params)

    pages = _all_pages(everywhere, "invoices")
    assert [len(page) for page in pages] == [MAX_PER_PAGE, INVOICE_COUNT - MAX_PER_PAGE]
    listed = [inv.uuid for page in pages for inv in page]
    assert len(listed) == len(set(listed)) == INVOICE_COUNT
    assert set(listed) == expected
