"""Emulated subscription events: create, validation, list and pages, update, delete, disable."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from tests.integration.emulator._billing import (
    UNKNOWN_CUS,
    UNKNOWN_DS,
    Billing,
    created,
    make_billing,
)

EVENT_KEYS = [
    "id", "data_source_uuid", "customer_external_id", "subscription_set_external_id",
    "subscription_external_id", "plan_external_id", "event_date", "effective_date",
    "event_type", "external_id", "quantity", "currency", "amount_in_cents",
    "tax_amount_in_cents", "retracted_event_id", "event_order", "errors", "created_at",
    "updated_at", "disabled", "disabled_at", "disabled_by",
]  # fmt: skip
SECONDS_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NOT_FOUND = {"message": "Subscription event not found"}


@pytest.fixture
def billing(api: httpx.Client) -> Billing:
    """A data source with customer ``cus-1`` and plan ``gold``."""
    return make_billing(api)


def _event(billing: Billing, external_id: str | None = "evt-1", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "data_source_uuid": billing.ds,
        "customer_external_id": "cus-1",
        "event_type": "subscription_start",
        "event_date": "2024-01-01 00:00:00",
        "effective_date": "2024-01-01",
        "subscription_external_id": "sub-1",
        "plan_external_id": "gold",
        "currency": "USD",
        "amount_in_cents": 1000,
        "quantity": 1,
        **changes,
    }
    if external_id is not None:
        event["external_id"] = external_id
    return event


def _post(api: httpx.Client, event: dict[str, Any]) -> httpx.Response:
    return api.post("/subscription_events", json={"subscription_event": event})


def test_create_returns_the_flat_event(api: httpx.Client, billing: Billing) -> None:
    """An enveloped create answers 201 with the flat event and an integer id."""
    event = created(_post(api, _event(billing, tax_amount_in_cents=90, retracted_event_id=7)))
    assert list(event) == EVENT_KEYS
    assert isinstance(event["id"], int)
    assert (event["event_date"], event["effective_date"]) == (
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
    )
    assert (event["amount_in_cents"], event["tax_amount_in_cents"], event["quantity"]) == (
        1000,
        90,
        1,
    )
    assert (event["retracted_event_id"], event["errors"], event["disabled"]) == ("7", {}, False)
    assert SECONDS_STAMP.match(event["created_at"])
    flat = created(api.post("/subscription_events", json=_event(billing, "evt-flat")))
    assert flat["id"] > event["id"]


def test_unknown_customer_or_plan_is_kept_with_errors(api: httpx.Client, billing: Billing) -> None:
    """An event for an unknown customer or plan is stored with the problem in ``errors``."""
    event = created(
        _post(api, _event(billing, customer_external_id="nobody", plan_external_id="nothing"))
    )
    assert event["errors"] == {
        "customer_external_id": "Customer not found in this data source",
        "plan_external_id": "Plan not found in this data source",
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"event_type": "subscription_paused"}, {"event_type": "is not included in the list"}),
        (
            {"event_date": None, "effective_date": "later"},
            {"event_date": "can't be blank", "effective_date": "is not a valid ISO 8601 date/time"},
        ),
        (
            {"customer_external_id": "", "subscription_external_id": None},
            {
                "customer_external_id": "can't be blank",
                "subscription_external_id": "can't be blank",
            },
        ),
        (
            {"plan_external_id": None, "currency": None, "amount_in_cents": None},
            {
                "plan_external_id": "can't be blank",
                "currency": "can't be blank",
                "amount_in_cents": "can't be blank",
            },
        ),
        ({"event_type": "subscription_event_retracted"}, {"retracted_event_id": "can't be blank"}),
        (
            {"quantity": "two", "currency": "dollars"},
            {
                "quantity": "must be an integer",
                "currency": "must be a 3-letter ISO 4217 currency code",
            },
        ),
    ],
)
def test_validation(
    api: httpx.Client, billing: Billing, changes: dict[str, Any], expected: dict[str, str]
) -> None:
    """Invalid event types, missing required fields and bad values are a 422."""
    response = _post(api, _event(billing, **changes))
    assert (response.status_code, response.json()) == (422, {"errors": expected})


def test_cancellation_needs_no_price(api: httpx.Client, billing: Billing) -> None:
    """A cancellation event needs no plan, currency or amount."""
    event = created(
        _post(
            api,
            _event(
                billing,
                event_type="subscription_cancelled",
                plan_external_id=None,
                currency=None,
                amount_in_cents=None,
            ),
        )
    )
    assert (event["plan_external_id"], event["amount_in_cents"]) == (None, None)


def test_external_id_is_unique_per_data_source(api: httpx.Client, billing: Billing) -> None:
    """A reused external id is a 422; another data source may reuse it; unknown source is 404."""
    created(_post(api, _event(billing)))
    again = _post(api, _event(billing))
    assert (again.status_code, again.json()) == (
        422,
        {"errors": {"external_id": "has already been taken"}},
    )
    other = make_billing(api, "Other")
    assert created(_post(api, _event(other)))["data_source_uuid"] == other.ds
    missing = _post(api, {**_event(billing, "x"), "data_source_uuid": UNKNOWN_DS})
    assert (missing.status_code, missing.json()["error"]) == (404, "Data source not found")


def test_list_filters(api: httpx.Client, billing: Billing) -> None:
    """The list filters by customer, subscription, plan, type, dates and source."""
    start = created(_post(api, _event(billing, "evt-1")))
    cancel = created(
        _post(
            api,
            _event(
                billing,
                "evt-2",
                event_type="subscription_cancelled",
                event_date="2024-03-01",
                effective_date="2024-03-31",
                subscription_external_id="sub-2",
            ),
        )
    )
    other = make_billing(api, "Other")
    elsewhere = created(_post(api, _event(other, "evt-3")))

    def ids(**params: str) -> list[int]:
        response = api.get("/subscription_events", params=params)
        assert response.status_code == 200, response.text
        return [event["id"] for event in response.json()["subscription_events"]]

    # newest first, as the real list is
    assert ids() == [elsewhere["id"], cancel["id"], start["id"]]
    assert ids(data_source_uuid=billing.ds) == [cancel["id"], start["id"]]
    assert ids(customer_uuid=billing.customer) == [cancel["id"], start["id"]]
    assert ids(customer_uuid=UNKNOWN_CUS) == []
    assert ids(customer_external_id="cus-1", data_source_uuid=other.ds) == [elsewhere["id"]]
    assert ids(event_type="subscription_cancelled") == [cancel["id"]]
    assert ids(subscription_external_id="sub-2") == [cancel["id"]]
    assert ids(plan_external_id="gold", data_source_uuid=billing.ds) == [cancel["id"], start["id"]]
    assert ids(event_date="2024-03-01") == [cancel["id"]]
    assert ids(effective_date="2024-01-01T00:00:00Z") == [elsewhere["id"], start["id"]]
    assert ids(external_id="evt-3") == [elsewhere["id"]]
    bad = api.get("/subscription_events", params={"event_date": "someday"})
    assert bad.status_code == 400


def test_list_pages_with_meta(api: httpx.Client, billing: Billing) -> None:
    """Newest first; the legacy meta block is on the first page only, with a millisecond
    ``before_key`` (as recorded); cursor pages carry ``cursor`` and ``has_more`` alone."""
    events = [created(_post(api, _event(billing, f"evt-{n}")))["id"] for n in range(3)]
    newest_first = events[::-1]
    first = api.get("/subscription_events", params={"per_page": 2}).json()
    assert list(first) == ["subscription_events", "meta", "cursor", "has_more"]
    assert [e["id"] for e in first["subscription_events"]] == newest_first[:2]
    assert first["has_more"] is True
    assert first["meta"]["page"] == 1
    assert (first["meta"]["total_pages"], first["meta"]["next_key"]) == (2, newest_first[1])
    assert first["meta"]["prev_key"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["meta"]["before_key"])
    second = api.get(
        "/subscription_events", params={"per_page": 2, "cursor": first["cursor"]}
    ).json()
    assert list(second) == ["subscription_events", "cursor", "has_more"]
    assert [e["id"] for e in second["subscription_events"]] == newest_first[2:]
    assert second["has_more"] is False


def test_empty_strings_echo(api: httpx.Client, billing: Billing) -> None:
    """Optional fields sent as "" come back as "" (recorded), not null."""
    event = {
        "data_source_uuid": billing.ds,
        "customer_external_id": "cus-1",
        "subscription_set_external_id": "",
        "subscription_external_id": "sub-1",
        "plan_external_id": "",
        "event_date": "2022-05-18T09:48:34Z",
        "effective_date": "2021-12-30T00:01:00Z",
        "event_type": "subscription_cancelled",
        "external_id": "blank-fields",
        "quantity": "",
        "currency": "",
        "amount_in_cents": "",
        "tax_amount_in_cents": None,
    }
    body = created(_post(api, event))
    for name in ("subscription_set_external_id", "plan_external_id", "quantity", "currency"):
        assert body[name] == "", name
    assert (body["amount_in_cents"], body["tax_amount_in_cents"]) == ("", None)


def test_update_by_id_and_by_external_id(api: httpx.Client, billing: Billing) -> None:
    """PATCH finds the event by id or by external id and source, and keeps its identity."""
    event = created(_post(api, _event(billing)))
    by_id = api.patch(
        "/subscription_events",
        json={"subscription_event": {"id": event["id"], "amount_in_cents": 2000}},
    )
    assert by_id.status_code == 200
    assert (by_id.json()["id"], by_id.json()["amount_in_cents"]) == (event["id"], 2000)
    by_external = api.patch(
        "/subscription_events",
        json={
            "subscription_event": {
                "external_id": "evt-1",
                "data_source_uuid": billing.ds,
                "quantity": 3,
                "created_at": "2000-01-01T00:00:00Z",
            }
        },
    ).json()
    assert (by_external["quantity"], by_external["amount_in_cents"]) == (3, 2000)
    assert by_external["created_at"] == event["created_at"]

    invalid = api.patch(
        "/subscription_events", json={"subscription_event": {"id": event["id"], "currency": "x"}}
    )
    assert invalid.status_code == 422
    unknown = api.patch("/subscription_events", json={"subscription_event": {"id": 999999}})
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)
    unnamed = api.patch("/subscription_events", json={"subscription_event": {"quantity": 2}})
    assert unnamed.status_code == 400


def test_delete_by_body_query_and_external_id(api: httpx.Client, billing: Billing) -> None:
    """DELETE takes the id from a JSON body or the query string, or the external id."""
    first, second, third = (created(_post(api, _event(billing, f"evt-{n}"))) for n in range(3))
    by_body = api.request(
        "DELETE", "/subscription_events", json={"subscription_event": {"id": first["id"]}}
    )
    assert (by_body.status_code, by_body.content) == (204, b"")
    by_query = api.delete("/subscription_events", params={"subscription_event[id]": second["id"]})
    assert by_query.status_code == 204
    by_external = api.request(
        "DELETE",
        "/subscription_events",
        json={"subscription_event": {"external_id": "evt-2", "data_source_uuid": billing.ds}},
    )
    assert by_external.status_code == 204
    assert api.get("/subscription_events").json()["subscription_events"] == []
    again = api.delete("/subscription_events", params={"subscription_event[id]": third["id"]})
    assert (again.status_code, again.json()) == (404, NOT_FOUND)


def test_disable_and_enable(api: httpx.Client, billing: Billing) -> None:
    """The disabled_state endpoints toggle ``disabled`` by id or by external id."""
    event = created(_post(api, _event(billing)))
    disabled = api.patch(
        f"/subscription_events/{event['id']}/disabled_state", json={"disabled": True}
    )
    assert disabled.status_code == 200
    assert (disabled.json()["disabled"], disabled.json()["id"]) == (True, event["id"])
    assert SECONDS_STAMP.match(disabled.json()["disabled_at"])
    enabled = api.patch(
        "/subscription_events/disabled_state",
        json={"external_id": "evt-1", "data_source_uuid": billing.ds, "disabled": False},
    ).json()
    assert (enabled["disabled"], enabled["disabled_at"]) == (False, None)
    bad = api.patch(f"/subscription_events/{event['id']}/disabled_state", json={"disabled": 1})
    assert bad.status_code == 422
    missing = api.patch("/subscription_events/999999/disabled_state", json={"disabled": True})
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)
