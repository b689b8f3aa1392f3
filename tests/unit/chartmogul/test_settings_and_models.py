"""Settings validation, tolerant response models and exact request bodies."""

from __future__ import annotations

import datetime as dt
import decimal
import subprocess
import sys

import pytest
from pydantic import SecretStr, ValidationError

import mogulsync.chartmogul as chartmogul
from mogulsync.chartmogul import (
    Activity,
    ClientSettings,
    CustomAttribute,
    Customer,
    CustomerUpdate,
    MetricsResponse,
    NewInvoice,
    NewLineItem,
    ResponseFormatError,
    SubscriptionEvent,
)
from mogulsync.chartmogul.models import reader
from mogulsync.errors import FatalError, SkippableError


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.chartmogul.com",
        "https://api.chartmogul.com/",
        "https://api.chartmogul.com/v1",
        "https://api.chartmogul.com/v1/",
    ],
)
def test_base_url_with_or_without_v1(base_url: str) -> None:
    """The API root is <base>/v1 however the base URL was written."""
    settings = ClientSettings(api_key=SecretStr("k" * 8), base_url=base_url)
    assert settings.api_url == "https://api.chartmogul.com/v1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"api_key": SecretStr("  ")},
        {"base_url": "api.chartmogul.com"},
        {"rate_limit": 0},
        {"max_in_flight": 0},
        {"unknown_option": 1},
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, object]) -> None:
    """Blank keys, bad URLs, zero limits and unknown options fail validation."""
    with pytest.raises(ValidationError):
        ClientSettings.model_validate({"api_key": SecretStr("key-12345"), **overrides})


def test_settings_never_show_the_key() -> None:
    """repr and dumps of the settings mask the key."""
    settings = ClientSettings(api_key=SecretStr("super-secret-key"))
    assert "super-secret-key" not in repr(settings)
    assert "super-secret-key" not in settings.model_dump_json()


def test_unknown_fields_and_nulls_never_break_parsing() -> None:
    """New fields are kept; nulls in lists and maps read as empty."""
    customer = Customer.model_validate(
        {
            "uuid": "cus_1",
            "external_ids": None,
            "attributes": {"tags": None, "custom": None},
            "website_url": None,
            "brand_new_field": {"x": 1},
            "customer-since": "2016-01-01T12:00:00+00:00",
            "billing-system-type": "Custom",
        }
    )
    assert customer.external_ids == []
    assert customer.attributes is not None
    assert customer.attributes.tags == []
    assert (customer.model_extra or {})["brand_new_field"] == {"x": 1}
    assert customer.customer_since == dt.datetime(2016, 1, 1, 12, tzinfo=dt.UTC)
    assert customer.billing_system_type == "Custom"


def test_kebab_keys_accept_either_spelling() -> None:
    """Metrics-style fields read their wire name and the snake_case name."""
    wire = Activity.model_validate({"activity-mrr": 100, "customer-uuid": "cus_1"})
    snake = Activity.model_validate({"activity_mrr": 100, "customer_uuid": "cus_1"})
    assert (wire.activity_mrr, wire.customer_uuid) == (snake.activity_mrr, snake.customer_uuid)
    assert wire.model_dump(by_alias=True, exclude_none=True) == {
        "activity-mrr": 100,
        "customer-uuid": "cus_1",
    }


def test_metrics_entries_keep_every_metric() -> None:
    """Named metrics are typed; others (mrr-expansion, ...) stay readable by wire name."""
    response = MetricsResponse.model_validate(
        {
            "entries": [
                {"date": "2026-01-31", "mrr": 100, "mrr-expansion": 5, "percentage-change": 0.0}
            ],
            "summary": {"current": 100, "previous": 90, "percentage-change": 11.1},
        }
    )
    entry = response.entries[0]
    assert entry.date == dt.date(2026, 1, 31)
    assert (entry.value("mrr"), entry.value("mrr-expansion"), entry.value("nope")) == (100, 5, None)
    assert response.summary is not None
    assert response.summary.percentage_change == 11.1


def test_malformed_response_is_a_format_error() -> None:
    """A body that cannot be read at all raises ResponseFormatError naming the endpoint."""
    with pytest.raises(ResponseFormatError, match="/subscription_events"):
        reader(SubscriptionEvent, "/subscription_events")({"id": "not a number"})


def test_unreadable_date_fails_the_row_not_the_run() -> None:
    """A year written without four digits (what the emulator once sent) is a format error,
    and a format error is skippable: the row it answered fails, the run goes on."""
    with pytest.raises(ResponseFormatError, match="/customers") as info:
        reader(Customer, "/customers")(
            {"uuid": "cus_1", "external_id": "x", "lead_created_at": "1-01-01T00:00:00.000Z"}
        )
    assert isinstance(info.value, SkippableError)
    assert not isinstance(info.value, FatalError)


def test_update_sends_only_what_was_set() -> None:
    """An update body holds the fields set, including an explicit null."""
    assert CustomerUpdate(name="Acme", website_url=None).payload() == {
        "name": "Acme",
        "website_url": None,
    }


def test_invoice_body_always_has_line_items_and_transactions() -> None:
    """Invoices are sent with (possibly empty) line items and transactions."""
    body = NewInvoice(external_id="i", date=dt.date(2026, 1, 1), currency="USD").payload()
    assert body == {
        "external_id": "i",
        "date": "2026-01-01",
        "currency": "USD",
        "line_items": [],
        "transactions": [],
    }


def test_subscription_line_item_needs_its_fields() -> None:
    """A subscription line item without plan or period is refused before sending."""
    with pytest.raises(ValidationError, match="plan_uuid"):
        NewLineItem(type="subscription", amount_in_cents=1, subscription_external_id="s")


def test_input_typos_are_refused() -> None:
    """Unknown input fields fail instead of being silently ignored by ChartMogul."""
    with pytest.raises(ValidationError):
        CustomerUpdate.model_validate({"nmae": "Acme"})


@pytest.mark.parametrize(
    ("value", "kind", "sent"),
    [
        (True, "Boolean", True),
        (3, "Integer", 3),
        (2.5, "Decimal", 2.5),
        (decimal.Decimal("1.25"), "Decimal", 1.25),
        (dt.date(2026, 1, 2), "Timestamp", "2026-01-02"),
        ("gold", "String", "gold"),
        (None, "String", ""),
    ],
)
def test_custom_attribute_type_is_inferred(value: object, kind: str, sent: object) -> None:
    """Python values become ChartMogul's typed custom attributes."""
    assert CustomAttribute.infer("k", value).payload() == {"type": kind, "key": "k", "value": sent}


def test_custom_attribute_rules() -> None:
    """Keys are alphanumeric/underscore and strings hold at most 255 characters."""
    with pytest.raises(ValidationError):
        CustomAttribute(type="String", key="bad key", value="x")
    with pytest.raises(ValidationError, match="255"):
        CustomAttribute(type="String", key="k", value="x" * 256)
    assert CustomAttribute.infer("k", 1, source="warehouse").payload()["source"] == "warehouse"


def test_public_surface() -> None:
    """Everything in __all__ exists and the list is kept sorted."""
    assert all(hasattr(chartmogul, name) for name in chartmogul.__all__)
    assert sorted(chartmogul.__all__) == chartmogul.__all__


def test_client_never_imports_the_emulator() -> None:
    """Importing the client loads no emulator module (independent implementations)."""
    code = (
        "import sys, mogulsync.chartmogul; "
        "print([m for m in sys.modules if m.startswith('mogulsync.emulator')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
