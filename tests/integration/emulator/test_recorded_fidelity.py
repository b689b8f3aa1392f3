"""Gaps between the emulator and recorded ChartMogul traffic (issue 11 §5), one test each.

The recordings are the official clients' own (chartmogul-ruby VCR cassettes,
chartmogul-go integration fixtures, chartmogul-python tests); see
tests/conformance/replay/README.md for repositories, paths and commits.
"""

from __future__ import annotations

import httpx
import pytest
from tests.integration.emulator._billing import (
    Billing,
    created,
    import_one,
    make_billing,
    subscription_line,
)

ALL_FLAGS = {
    "with_processing_status": "true",
    "with_auto_churn_subscription_setting": "true",
    "with_invoice_handling_setting": "true",
}


@pytest.fixture
def billing(api: httpx.Client) -> Billing:
    """A data source with customer ``cus-1`` and plan ``gold``."""
    return make_billing(api)


def test_invoice_handling_setting_holds_strings(api: httpx.Client, billing: Billing) -> None:
    """``manual`` and ``automatic`` name the invoice status as a string, as recorded."""
    source = api.get(f"/data_sources/{billing.ds}", params=ALL_FLAGS).json()
    for mode in ("manual", "automatic"):
        setting = source["invoice_handling_setting"][mode]
        assert setting["create_subscription_when_invoice_is"] == "open"
        assert setting["update_subscription_when_invoice_is"] == "open"
        assert isinstance(setting["prevent_subscription_for_invoice_voided"], bool)
        assert not any(key.endswith(("_is_issued", "_is_paid")) for key in setting)


def test_emptying_a_data_source_keeps_it(api: httpx.Client, billing: Billing) -> None:
    """``DELETE /data_sources/{uuid}/all`` → 204: its records go, the source stays."""
    answer = api.delete(f"/data_sources/{billing.ds}/all")
    assert (answer.status_code, answer.content) == (204, b"")
    assert api.get(f"/data_sources/{billing.ds}").status_code == 200
    assert api.get("/customers", params={"data_source_uuid": billing.ds}).json()["entries"] == []
    assert api.get(f"/customers/{billing.customer}").status_code == 404
    assert api.get(f"/plans/{billing.plan}").status_code == 404
    unknown = api.delete("/data_sources/ds_00000000-0000-0000-0000-000000000000/all")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Data source not found")


def test_page_on_data_sources_is_deprecated(api: httpx.Client) -> None:
    """The Python client's own test: ``?page=1`` is a 400 naming the parameter."""
    answer = api.get("/data_sources", params={"page": 1})
    assert (answer.status_code, answer.json()) == (
        400,
        {"code": 400, "message": 'Parameter "page" is deprecated', "param": "page"},
    )


@pytest.mark.parametrize(
    ("country", "state", "kept"),
    [("DE", "NY", None), ("US", "NY", "NY"), ("DE", "US-NY", None), ("DE", "Bavaria", "Bavaria")],
)
def test_state_outside_its_country_is_dropped(
    api: httpx.Client, billing: Billing, country: str, state: str, kept: str | None
) -> None:
    """Recorded: ``country: DE, state: NY`` comes back with ``state: null``."""
    customer = created(
        api.post(
            "/customers",
            json={
                "data_source_uuid": billing.ds,
                "external_id": f"{country}-{state}",
                "country": country,
                "state": state,
            },
        )
    )
    assert customer["state"] == kept
    assert (customer["address"]["state"] is None) == (kept is None)


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("POST", "/ping")])
def test_unknown_paths_answer_json(api: httpx.Client, method: str, path: str) -> None:
    """Unknown paths (404) and methods (405) answer JSON in shape 1, not plain text."""
    answer = api.request(method, path)
    assert answer.status_code in {404, 405}
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert (set(body), body["code"]) == ({"code", "message", "param"}, answer.status_code)


def _answers_for_one_line(api: httpx.Client, line: dict[str, object]) -> list[dict[str, object]]:
    """Every answer that shows ``line``: create, read, edit, disable, and its invoice."""
    uuid = line["uuid"]
    return [
        line,
        api.get(f"/line_items/{uuid}").json(),
        api.patch(f"/line_items/{uuid}", json={"quantity": 3}).json(),
        api.patch(f"/line_items/{uuid}/disabled_state", json={"disabled": True}).json(),
    ]


def test_line_items_show_only_their_type_s_keys(api: httpx.Client, billing: Billing) -> None:
    """A subscription line never shows ``description``/``cancelled_at`` and a one-time line
    no subscription key, on every endpoint that answers with one (no recording shows them;
    chartmogul-go 2023 and chartmogul-ruby invoice cassettes)."""
    stored = import_one(api, billing)
    lines = f"/import/invoices/{stored['uuid']}/line_items"
    subscription = created(
        api.post(
            lines,
            json=subscription_line(
                "li-sub", billing.plan, description="ignored", cancelled_at="2024-01-20"
            ),
        )
    )
    one_time = created(
        api.post(lines, json={"type": "one_time", "amount_in_cents": 100, "external_id": "li-1"})
    )
    for answer in _answers_for_one_line(api, subscription):
        assert answer["type"] == "subscription"
        assert {"description", "cancelled_at"}.isdisjoint(answer), answer
    for answer in _answers_for_one_line(api, one_time):
        assert answer["type"] == "one_time"
        assert {"subscription_uuid", "plan_uuid", "cancelled_at"}.isdisjoint(answer), answer
    status = api.put(
        f"/data_sources/{billing.ds}/invoices/inv-1/status", json={"status": "void"}
    ).json()
    disabled = api.patch(f"/invoices/{stored['uuid']}/disabled_state", json={"disabled": True})
    for invoice in (status, disabled.json(), api.patch(f"/invoices/{stored['uuid']}", json={})):
        body = invoice if isinstance(invoice, dict) else invoice.json()
        kinds = {line["type"]: line for line in body["line_items"]}
        assert "description" not in kinds["subscription"]
        assert "subscription_uuid" not in kinds["one_time"]


def test_churn_when_zero_mrr_is_a_boolean(api: httpx.Client) -> None:
    """``?include=churn_when_zero_mrr`` answers a boolean, as the python and node clients'
    account tests show (``false`` / ``true``), not a word; the others stay strings."""
    include = "churn_recognition,churn_when_zero_mrr"
    account = api.get("/account", params={"include": include}).json()
    assert account["churn_when_zero_mrr"] is False
    assert isinstance(account["churn_recognition"], str)
