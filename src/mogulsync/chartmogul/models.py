"""What ChartMogul returns, as frozen pydantic models that survive API changes.

Every model keeps unknown fields (``extra="allow"``, readable via ``model_extra``) and
every non-key field is optional, so a new field or a null never breaks parsing: the
official client broke on both. Metrics-style objects use kebab-case keys on the wire;
here they are snake_case attributes with the wire name as alias (both are accepted).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mogulsync.chartmogul.errors import ResponseFormatError

Number = int | float


class ChartMogulModel(BaseModel):
    """Base of every response model."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)
    #: fields a validator below reshapes on the way in (``""`` as None, key/value pairs as
    #: a map): a record that passes the API's entry on takes these from the model, so they
    #: have the type the stream's schema declares
    RESHAPED: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        """A null list or map (``"tags": null``) reads as empty instead of failing."""
        if not isinstance(data, Mapping):
            return data
        defaulted = _defaulted_keys(cls)
        if not any(data.get(key, ...) is None for key in defaulted):
            return data  # the common case: nothing to drop, no copy
        return {
            key: value for key, value in data.items() if value is not None or key not in defaulted
        }


M = TypeVar("M", bound=ChartMogulModel)


@functools.cache
def _defaulted_keys(model: type[ChartMogulModel]) -> frozenset[str]:
    """Wire names and attribute names of ``model``'s list and map fields (computed once)."""
    return frozenset(
        key
        for name, field in model.model_fields.items()
        if field.default_factory is not None
        for key in (name, field.alias)
        if key is not None
    )


def reader(model: type[M], endpoint: str) -> Callable[[Mapping[str, Any]], M]:
    """A parser for ``model`` that reports a malformed body as ResponseFormatError."""

    def parse(data: Mapping[str, Any]) -> M:
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as exc:
            raise ResponseFormatError(
                f"{endpoint} returned a {model.__name__} we cannot read: "
                f"{exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}",
                method="-",
                endpoint=endpoint,
            ) from exc

    return parse


class Account(ChartMogulModel):
    """``GET /account``."""

    id: str | None = None
    name: str | None = None
    currency: str | None = None
    time_zone: str | None = None
    week_start_on: str | None = None


class DataSource(ChartMogulModel):
    """A data source (``ds_...``)."""

    uuid: str
    name: str | None = None
    system: str | None = None
    created_at: dt.datetime | None = None
    status: str | None = None


class CustomerAddress(ChartMogulModel):
    """The expanded address of a customer."""

    address_zip: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None


class CustomerAttributes(ChartMogulModel):
    """Tags and custom, Stripe and Clearbit attributes."""

    tags: list[str] = Field(default_factory=list)
    custom: dict[str, Any] = Field(default_factory=dict)
    stripe: dict[str, Any] = Field(default_factory=dict)
    clearbit: dict[str, Any] = Field(default_factory=dict)


class Customer(ChartMogulModel):
    """A customer (``cus_...``), with its metrics-style fields."""

    uuid: str
    id: int | None = None
    external_id: str | None = None
    external_ids: list[str] = Field(default_factory=list)
    data_source_uuid: str | None = None
    data_source_uuids: list[str] = Field(default_factory=list)
    name: str | None = None
    email: str | None = None
    company: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    zip: str | None = None
    address: CustomerAddress | None = None
    lead_created_at: dt.datetime | None = None
    free_trial_started_at: dt.datetime | None = None
    status: str | None = None
    customer_since: dt.datetime | None = Field(default=None, alias="customer-since")
    attributes: CustomerAttributes | None = None
    mrr: Number | None = None
    arr: Number | None = None
    billing_system_url: str | None = Field(default=None, alias="billing-system-url")
    chartmogul_url: str | None = Field(default=None, alias="chartmogul-url")
    billing_system_type: str | None = Field(default=None, alias="billing-system-type")
    currency: str | None = None
    currency_sign: str | None = Field(default=None, alias="currency-sign")
    owner: str | None = None
    website_url: str | None = None


class Contact(ChartMogulModel):
    """A contact person of a customer (``con_...``)."""

    uuid: str
    customer_uuid: str | None = None
    customer_external_id: str | None = None
    data_source_uuid: str | None = None
    external_id: str | None = None
    position: int | None = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    linked_in: str | None = None
    twitter: str | None = None
    notes: str | None = None
    custom: dict[str, Any] = Field(default_factory=dict)
    RESHAPED: ClassVar[frozenset[str]] = frozenset({"custom"})

    @field_validator("custom", mode="before")
    @classmethod
    def _pairs_are_a_map(cls, value: Any) -> Any:
        """``[{"key": k, "value": v}, ...]`` (the request format, echoed in chartmogul-php's
        contact-update body) reads as ``{k: v}``, the map every recording shows."""
        if isinstance(value, list) and all(
            isinstance(pair, Mapping) and "key" in pair for pair in value
        ):
            return {str(pair["key"]): pair.get("value") for pair in value}
        return value


class Plan(ChartMogulModel):
    """A plan (``pl_...``)."""

    uuid: str
    data_source_uuid: str | None = None
    external_id: str | None = None
    name: str | None = None
    interval_count: int | None = None
    interval_unit: str | None = None


class PlanGroup(ChartMogulModel):
    """A plan group (``plg_...``)."""

    uuid: str
    name: str | None = None
    plans_count: int | None = None


class LineItem(ChartMogulModel):
    """One line of an invoice (``li_...``)."""

    uuid: str | None = None
    external_id: str | None = None
    type: str | None = None
    subscription_uuid: str | None = None
    subscription_external_id: str | None = None
    subscription_set_external_id: str | None = None
    plan_uuid: str | None = None
    prorated: bool | None = None
    proration_type: str | None = None
    service_period_start: dt.datetime | None = None
    service_period_end: dt.datetime | None = None
    amount_in_cents: int | None = None
    quantity: int | None = None
    discount_code: str | None = None
    discount_amount_in_cents: int | None = None
    discount_description: str | None = None
    tax_amount_in_cents: int | None = None
    transaction_fees_in_cents: int | None = None
    transaction_fees_currency: str | None = None
    account_code: str | None = None
    description: str | None = None
    event_order: int | None = None


class Transaction(ChartMogulModel):
    """A payment or refund (``tr_...``)."""

    uuid: str
    external_id: str | None = None
    type: str | None = None
    date: dt.datetime | None = None
    result: str | None = None
    amount_in_cents: int | None = None
    transaction_fees_in_cents: int | None = None
    transaction_fees_currency: str | None = None


class Invoice(ChartMogulModel):
    """An imported invoice (``inv_...``)."""

    uuid: str
    external_id: str | None = None
    customer_uuid: str | None = None
    data_source_uuid: str | None = None
    date: dt.datetime | None = None
    due_date: dt.datetime | None = None
    currency: str | None = None
    status: str | None = None
    collection_method: str | None = None
    errors: dict[str, Any] = Field(default_factory=dict)
    line_items: list[LineItem] = Field(default_factory=list)
    transactions: list[Transaction] = Field(default_factory=list)


class Subscription(ChartMogulModel):
    """A subscription in the metrics view (``GET /customers/{uuid}/subscriptions``).

    ``uuid`` may be absent: the 2018 chartmogul-go recording lists entries with only the
    integer ``id``.
    """

    uuid: str | None = None
    id: int | None = None
    external_id: str | None = None
    subscription_set_external_id: str | None = None
    plan: str | None = None
    quantity: int | None = None
    mrr: Number | None = None
    arr: Number | None = None
    status: str | None = None
    billing_cycle: str | None = Field(default=None, alias="billing-cycle")
    billing_cycle_count: int | None = Field(default=None, alias="billing-cycle-count")
    start_date: dt.datetime | None = Field(default=None, alias="start-date")
    end_date: dt.datetime | None = Field(default=None, alias="end-date")
    currency: str | None = None
    currency_sign: str | None = Field(default=None, alias="currency-sign")


class ImportedSubscription(ChartMogulModel):
    """A subscription in the import view (``sub_...``), as cancelled via the import API."""

    uuid: str
    external_id: str | None = None
    subscription_set_external_id: str | None = None
    plan_uuid: str | None = None
    data_source_uuid: str | None = None
    customer_uuid: str | None = None
    cancellation_dates: list[dt.datetime] = Field(default_factory=list)


class SubscriptionEvent(ChartMogulModel):
    """A subscription event of a Custom data source (integer ``id``).

    The API echoes ``""`` for a number field sent as ``""`` (recorded by chartmogul-ruby
    for ``quantity`` and ``amount_in_cents``): that reads as "no value", not an error.
    """

    id: int
    data_source_uuid: str | None = None
    customer_external_id: str | None = None
    subscription_external_id: str | None = None
    subscription_set_external_id: str | None = None
    plan_external_id: str | None = None
    event_type: str | None = None
    event_date: dt.datetime | None = None
    effective_date: dt.datetime | None = None
    external_id: str | None = None
    currency: str | None = None
    amount_in_cents: int | None = None
    quantity: int | None = None
    tax_amount_in_cents: int | None = None
    retracted_event_id: int | str | None = None
    event_order: int | None = None
    errors: dict[str, Any] = Field(default_factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    RESHAPED: ClassVar[frozenset[str]] = frozenset(
        {"amount_in_cents", "quantity", "tax_amount_in_cents", "event_order"}
    )

    @field_validator(*RESHAPED, mode="before")
    @classmethod
    def _blank_number_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class JsonImport(ChartMogulModel):
    """A bulk JSON import and its progress."""

    id: str
    data_source_uuid: str | None = None
    external_id: str | None = None
    status: str | None = None
    status_details: dict[str, Any] = Field(default_factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    error_count: int | None = None
    processed_count: int | None = None


class Activity(ChartMogulModel):
    """An MRR movement (``GET /activities`` or a customer's activities)."""

    uuid: str | None = None
    id: int | None = None
    date: dt.datetime | None = None
    type: str | None = None
    description: str | None = None
    activity_mrr: Number | None = Field(default=None, alias="activity-mrr")
    activity_mrr_movement: Number | None = Field(default=None, alias="activity-mrr-movement")
    activity_arr: Number | None = Field(default=None, alias="activity-arr")
    currency: str | None = None
    currency_sign: str | None = Field(default=None, alias="currency-sign")
    subscription_external_id: str | None = Field(default=None, alias="subscription-external-id")
    subscription_set_external_id: str | None = Field(
        default=None, alias="subscription-set-external-id"
    )
    plan_external_id: str | None = Field(default=None, alias="plan-external-id")
    customer_name: str | None = Field(default=None, alias="customer-name")
    customer_uuid: str | None = Field(default=None, alias="customer-uuid")
    customer_external_id: str | None = Field(default=None, alias="customer-external-id")
    billing_connector_uuid: str | None = Field(default=None, alias="billing-connector-uuid")


class MetricsEntry(ChartMogulModel):
    """One point of a metrics series; keys the model does not name stay in ``model_extra``."""

    date: dt.date
    mrr: Number | None = None
    arr: Number | None = None
    arpa: Number | None = None
    asp: Number | None = None
    customers: Number | None = None
    customer_churn_rate: Number | None = Field(default=None, alias="customer-churn-rate")
    mrr_churn_rate: Number | None = Field(default=None, alias="mrr-churn-rate")
    ltv: Number | None = None
    percentage_change: Number | None = Field(default=None, alias="percentage-change")

    def value(self, key: str) -> Any:
        """Any metric by its wire name, e.g. ``"mrr-new-business"``."""
        for name, field in type(self).model_fields.items():
            if key in {name, field.alias}:
                return getattr(self, name)
        return (self.model_extra or {}).get(key)


class MetricsSummary(ChartMogulModel):
    """``summary`` of a metrics response (``/metrics/all`` uses prefixed keys, kept extra)."""

    current: Number | None = None
    previous: Number | None = None
    percentage_change: Number | None = Field(default=None, alias="percentage-change")


class MetricsResponse(ChartMogulModel):
    """A metrics series and its summary."""

    entries: list[MetricsEntry] = Field(default_factory=list)
    summary: MetricsSummary | None = None
