"""Error answers as the official client surfaces them: APIError(raw body) from HTTPError."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import chartmogul
import pytest
from tests.conformance._support import (
    api_failure,
    assert_not_found,
    create_customer,
    subscription_invoice,
)
from tests.conformance.conftest import client_config

from mogulsync.emulator.server import EmulatorServer

UNKNOWN = "00000000-0000-0000-0000-000000000000"
CUSTOMER_TAKEN = "The external ID for this customer already exists in our system."
PLAN_TAKEN = "A plan with this identifier already exists in our system."
INVOICE_TAKEN = "The external ID for this invoice already exists in our system."
TRANSACTION_TAKEN = "has already been taken"


def _strings(body: Any) -> Iterator[str]:
    """Every string anywhere in a JSON body (keys and values)."""
    if isinstance(body, str):
        yield body
    elif isinstance(body, dict):
        for key, value in body.items():
            yield key
            yield from _strings(value)
    elif isinstance(body, list):
        for value in body:
            yield from _strings(value)


def test_bad_key_is_401_with_parsed_body(emulator_server: EmulatorServer) -> None:
    """A wrong API key raises APIError whose body is the documented 401 JSON."""
    wrong = client_config(emulator_server, api_key="not-a-key")
    failure = api_failure(chartmogul.Ping.ping(wrong))
    assert failure.status == 401
    assert failure.body == {"code": 401, "message": "No valid API key provided", "param": None}
    assert api_failure(chartmogul.Customer.all(wrong)).status == 401


def test_duplicate_customer_external_id(cm: chartmogul.Config, ds: Any, customer: Any) -> None:
    """Reusing a customer external_id in the same data source is 422 with the real message."""
    failure = api_failure(
        chartmogul.Customer.create(
            cm, data={"data_source_uuid": ds.uuid, "external_id": "cus-ext-1", "name": "Again"}
        )
    )
    assert failure.status == 422
    assert failure.body == {"errors": {"external_id": CUSTOMER_TAKEN}}
    # the same external_id in another data source is a different customer
    other = chartmogul.DataSource.create(cm, data={"name": "Second source"}).get()
    assert create_customer(cm, other.uuid, "cus-ext-1", name="Elsewhere").uuid != customer.uuid


def test_duplicate_plan_external_id(cm: chartmogul.Config, ds: Any, plan: Any) -> None:
    """Reusing a plan external_id is 422 with the real message."""
    failure = api_failure(
        chartmogul.Plan.create(
            cm,
            data={
                "data_source_uuid": ds.uuid,
                "external_id": plan.external_id,
                "name": "Copy",
                "interval_count": 1,
                "interval_unit": "month",
            },
        )
    )
    assert failure.status == 422
    assert failure.body == {"errors": {"external_id": PLAN_TAKEN}}


def test_duplicate_invoice_and_transaction_external_ids(
    cm: chartmogul.Config, plan: Any, customer: Any
) -> None:
    """Reimporting an invoice external_id is 422 naming it; a reused transaction id too."""
    invoice = subscription_invoice(
        "inv-dup",
        plan_uuid=plan.uuid,
        subscription_external_id="sub-dup",
        start="2024-01-01",
        end="2024-02-01",
    )
    created = chartmogul.Invoice.create(cm, uuid=customer.uuid, data={"invoices": [invoice]}).get()
    failure = api_failure(
        chartmogul.Invoice.create(cm, uuid=customer.uuid, data={"invoices": [invoice]})
    )
    assert failure.status == 422
    assert INVOICE_TAKEN in set(_strings(failure.body))
    assert len(chartmogul.Invoice.all(cm, uuid=customer.uuid).get().invoices) == 1

    repeat = api_failure(
        chartmogul.Transaction.create(
            cm,
            uuid=created.invoices[0].uuid,
            data={
                "type": "payment",
                "date": "2024-01-02 00:00:00",
                "result": "successful",
                "external_id": "inv-dup-tr",
            },
        )
    )
    assert repeat.status == 422
    assert TRANSACTION_TAKEN in set(_strings(repeat.body))


def test_unknown_uuids_are_404(cm: chartmogul.Config, customer: Any) -> None:
    """Unknown ids answer 404; import-API resources use ``{"error": "<Thing> not found"}``."""
    assert_not_found(
        api_failure(chartmogul.DataSource.retrieve(cm, uuid=f"ds_{UNKNOWN}")), "Data source"
    )
    assert_not_found(
        api_failure(chartmogul.DataSource.destroy(cm, uuid=f"ds_{UNKNOWN}")), "Data source"
    )
    assert_not_found(api_failure(chartmogul.Invoice.retrieve(cm, uuid=f"inv_{UNKNOWN}")), "Invoice")
    assert_not_found(api_failure(chartmogul.Invoice.destroy(cm, uuid=f"inv_{UNKNOWN}")), "Invoice")
    for promise in (
        chartmogul.Customer.retrieve(cm, uuid=f"cus_{UNKNOWN}"),
        chartmogul.Customer.modify(cm, uuid=f"cus_{UNKNOWN}", data={"name": "x"}),
        chartmogul.Customer.destroy(cm, uuid=f"cus_{UNKNOWN}"),
        chartmogul.Plan.retrieve(cm, uuid=f"pl_{UNKNOWN}"),
        chartmogul.Contact.retrieve(cm, uuid=f"con_{UNKNOWN}"),
        chartmogul.Attributes.retrieve(cm, uuid=f"cus_{UNKNOWN}"),
        chartmogul.Tags.add(cm, uuid=f"cus_{UNKNOWN}", data={"tags": ["x"]}),
        chartmogul.Transaction.create(
            cm,
            uuid=f"inv_{UNKNOWN}",
            data={"type": "payment", "date": "2024-01-01", "result": "successful"},
        ),
        chartmogul.CustomerSubscription.cancel(
            cm, uuid=f"sub_{UNKNOWN}", data={"cancelled_at": "2024-01-01"}
        ),
    ):
        failure = api_failure(promise)
        assert failure.status == 404, failure
        assert "not found" in " ".join(_strings(failure.body)).lower(), failure


def test_search_by_unknown_email_is_404(cm: chartmogul.Config, customer: Any) -> None:
    """Searching an email nobody has is a 404 in the code/message/param shape."""
    failure = api_failure(chartmogul.Customer.search(cm, email="nobody@example.com"))
    assert failure.status == 404
    assert failure.body == {
        "code": 404,
        "message": 'Can\'t find any customers with email: "nobody@example.com"',
        "param": "email",
    }


@pytest.mark.parametrize(
    ("attribute", "field"),
    [
        ({"type": "Colour", "key": "eyes", "value": "blue"}, "eyes"),
        ({"type": "Integer", "key": "seats", "value": "many"}, "seats"),
        ({"type": "Timestamp", "key": "renews_at", "value": "soon"}, "renews_at"),
        ({"type": "String", "key": "bad key!", "value": "x"}, "custom"),
    ],
)
def test_invalid_custom_attribute_is_422(
    cm: chartmogul.Config, customer: Any, attribute: dict[str, Any], field: str
) -> None:
    """An unknown type, a value that does not fit its type or a bad key is rejected."""
    failure = api_failure(
        chartmogul.CustomAttributes.add(cm, uuid=customer.uuid, data={"custom": [attribute]})
    )
    assert failure.status == 422
    assert isinstance(failure.body.get("errors"), dict), failure
    assert any(field in key for key in failure.body["errors"]), failure
    assert chartmogul.Attributes.retrieve(cm, uuid=customer.uuid).get().custom == {
        "channel": "Facebook"
    }


def test_custom_attribute_type_is_locked(cm: chartmogul.Config, ds: Any, customer: Any) -> None:
    """Once a key has a type, adding it with another type is refused (for any customer)."""
    chartmogul.CustomAttributes.add(
        cm, uuid=customer.uuid, data={"custom": [{"type": "Integer", "key": "age", "value": 8}]}
    ).get()
    other = create_customer(cm, ds.uuid, "cus-ext-9", name="Other")
    failure = api_failure(
        chartmogul.CustomAttributes.add(
            cm, uuid=other.uuid, data={"custom": [{"type": "String", "key": "age", "value": "8"}]}
        )
    )
    assert failure.status == 422
    assert any("age" in key for key in failure.body["errors"]), failure
    same_type = chartmogul.CustomAttributes.add(
        cm, uuid=other.uuid, data={"custom": [{"type": "Integer", "key": "age", "value": "9"}]}
    ).get()
    assert same_type.custom["age"] == 9


def test_missing_required_fields(cm: chartmogul.Config, ds: Any) -> None:
    """A data source without a name is 400 naming the parameter; a customer without ids fails."""
    failure = api_failure(chartmogul.DataSource.create(cm, data={}))
    assert failure.status == 400
    assert failure.body == {"code": 400, "message": 'Parameter "name" is missing', "param": "name"}
    nameless = api_failure(chartmogul.Customer.create(cm, data={"name": "No ids"}))
    assert nameless.status in {400, 422}
    assert "data_source_uuid" in " ".join(_strings(nameless.body))


def test_invoice_without_currency_is_rejected(
    cm: chartmogul.Config, plan: Any, customer: Any
) -> None:
    """An invoice missing a required field is refused, naming the field, and nothing is stored."""
    invoice = subscription_invoice(
        "no-currency",
        plan_uuid=plan.uuid,
        subscription_external_id="sub-x",
        start="2024-01-01",
        end="2024-02-01",
    )
    del invoice["currency"]
    failure = api_failure(
        chartmogul.Invoice.create(cm, uuid=customer.uuid, data={"invoices": [invoice]})
    )
    assert failure.status in {400, 422}
    assert any("currency" in text for text in _strings(failure.body)), failure
    assert chartmogul.Invoice.all(cm, uuid=customer.uuid).get().invoices == []
