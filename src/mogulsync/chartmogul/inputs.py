"""What callers send: frozen pydantic models for request bodies.

Input models forbid unknown fields, so a typo fails here instead of being silently
ignored by ChartMogul. Only the fields a caller set are sent (``exclude_unset``), so an
update touches just those, and an explicit ``None`` is sent as ``null``.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Timestamp = dt.datetime | dt.date
CustomAttributeType = Literal["String", "Integer", "Decimal", "Timestamp", "Boolean"]
IntervalUnit = Literal["day", "month", "year"]
#: ChartMogul's limit on String custom attribute values.
MAX_STRING_ATTRIBUTE = 255


class ChartMogulInput(BaseModel):
    """Base of every request body model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def payload(self) -> dict[str, Any]:
        """The JSON body: only the fields that were set."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)


class CustomAttribute(ChartMogulInput):
    """A typed custom attribute, as ``POST .../attributes/custom`` takes it."""

    type: CustomAttributeType
    key: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    value: Any
    source: str | None = None

    @model_validator(mode="after")
    def _string_fits(self) -> Self:
        if (
            self.type == "String"
            and isinstance(self.value, str)
            and len(self.value) > MAX_STRING_ATTRIBUTE
        ):
            raise ValueError(f"String attributes hold at most {MAX_STRING_ATTRIBUTE} characters")
        return self

    @classmethod
    def infer(cls, key: str, value: Any, source: str | None = None) -> CustomAttribute:
        """The attribute with its type inferred from the Python value."""
        kind: CustomAttributeType
        if isinstance(value, bool):
            kind = "Boolean"
        elif isinstance(value, int):
            kind = "Integer"
        elif isinstance(value, float | decimal.Decimal):
            kind = "Decimal"
            value = float(value)
        elif isinstance(value, dt.date):
            kind = "Timestamp"
            value = value.isoformat()
        else:
            kind = "String"
            value = "" if value is None else str(value)
        if source is None:
            return cls(type=kind, key=key, value=value)
        return cls(type=kind, key=key, value=value, source=source)


class PrimaryContact(ChartMogulInput):
    """The primary contact created along with a customer."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    title: str | None = None
    phone: str | None = None
    linked_in: str | None = None
    twitter: str | None = None
    notes: str | None = None


class NewCustomerAttributes(ChartMogulInput):
    """Tags and typed custom attributes given at creation."""

    tags: list[str] | None = None
    custom: list[CustomAttribute] | None = None


class CustomerFields(ChartMogulInput):
    """A customer's own fields (a JSON import customer has exactly these)."""

    external_id: str = Field(min_length=1)
    name: str | None = None
    email: str | None = None
    company: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    zip: str | None = None
    lead_created_at: Timestamp | None = None
    free_trial_started_at: Timestamp | None = None
    attributes: NewCustomerAttributes | None = None
    owner: str | None = None
    primary_contact: PrimaryContact | None = None
    website_url: str | None = None


class NewCustomer(CustomerFields):
    """``POST /customers``; ``external_id`` is unique per data source."""

    data_source_uuid: str


class CustomerAttributesUpdate(ChartMogulInput):
    """Tags and untyped custom values changed by ``PATCH /customers/{uuid}``."""

    tags: list[str] | None = None
    custom: dict[str, Any] | None = None


class CustomerUpdate(ChartMogulInput):
    """``PATCH /customers/{uuid}``: only the fields set are changed."""

    name: str | None = None
    email: str | None = None
    company: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    zip: str | None = None
    lead_created_at: Timestamp | None = None
    free_trial_started_at: Timestamp | None = None
    attributes: CustomerAttributesUpdate | None = None
    owner: str | None = None
    primary_contact: PrimaryContact | None = None
    website_url: str | None = None
    status: str | None = None


class ContactCustomField(ChartMogulInput):
    """A contact's custom value."""

    key: str
    value: Any


class ContactUpdate(ChartMogulInput):
    """``PATCH /contacts/{uuid}``."""

    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    linked_in: str | None = None
    twitter: str | None = None
    notes: str | None = None
    position: int | None = None
    custom: list[ContactCustomField] | None = None


class NewContact(ContactUpdate):
    """``POST /contacts``."""

    customer_uuid: str
    data_source_uuid: str
    external_id: str | None = None


class PlanFields(ChartMogulInput):
    """A plan's own fields (a JSON import plan has exactly these)."""

    name: str = Field(min_length=1)
    interval_count: int = Field(gt=0)
    interval_unit: IntervalUnit
    external_id: str | None = None


class NewPlan(PlanFields):
    """``POST /plans``; without ``external_id`` ChartMogul makes one up."""

    data_source_uuid: str


class PlanUpdate(ChartMogulInput):
    """``PATCH /plans/{uuid}``."""

    name: str | None = None
    interval_count: int | None = Field(default=None, gt=0)
    interval_unit: IntervalUnit | None = None


class NewTransaction(ChartMogulInput):
    """A payment or refund, inline in an invoice or via ``POST .../transactions``."""

    type: Literal["payment", "refund"]
    date: Timestamp
    result: Literal["successful", "failed"]
    external_id: str | None = None
    amount_in_cents: int | None = None
    transaction_fees_in_cents: int | None = None
    transaction_fees_currency: str | None = None


#: Fields a ``subscription`` line item cannot do without (reference section 5.6).
_SUBSCRIPTION_LINE_FIELDS = (
    "subscription_external_id",
    "plan_uuid",
    "service_period_start",
    "service_period_end",
)


class NewLineItem(ChartMogulInput):
    """An invoice line: a ``subscription`` period or a ``one_time`` charge."""

    type: Literal["subscription", "one_time"]
    amount_in_cents: int
    external_id: str | None = None
    subscription_external_id: str | None = None
    subscription_set_external_id: str | None = None
    plan_uuid: str | None = None
    service_period_start: Timestamp | None = None
    service_period_end: Timestamp | None = None
    cancelled_at: Timestamp | None = None
    quantity: int | None = None
    prorated: bool | None = None
    proration_type: str | None = None
    discount_code: str | None = None
    discount_amount_in_cents: int | None = None
    discount_description: str | None = None
    tax_amount_in_cents: int | None = None
    transaction_fees_in_cents: int | None = None
    transaction_fees_currency: str | None = None
    account_code: str | None = None
    description: str | None = None
    event_order: int | None = None

    @model_validator(mode="after")
    def _subscription_lines_are_complete(self) -> Self:
        if self.type != "subscription":
            return self
        missing = [name for name in _SUBSCRIPTION_LINE_FIELDS if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a subscription line item needs {', '.join(missing)}")
        return self


class NewInvoice(ChartMogulInput):
    """One invoice of ``POST /import/customers/{uuid}/invoices``."""

    external_id: str = Field(min_length=1)
    date: Timestamp
    currency: str = Field(min_length=3, max_length=3)
    due_date: Timestamp | None = None
    customer_external_id: str | None = None
    data_source_uuid: str | None = None
    collection_method: str | None = None
    line_items: list[NewLineItem] = Field(default_factory=list)
    transactions: list[NewTransaction] = Field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """Line items and transactions are always sent, even when empty."""
        body = super().payload()
        body.setdefault("line_items", [])
        body.setdefault("transactions", [])
        return body


class SubscriptionEventFields(ChartMogulInput):
    """A subscription event's fields (a JSON import event has exactly these)."""

    external_id: str | None = None
    customer_external_id: str
    event_type: str
    event_date: Timestamp
    effective_date: Timestamp
    subscription_external_id: str | None = None
    subscription_set_external_id: str | None = None
    plan_external_id: str | None = None
    currency: str | None = None
    amount_in_cents: int | None = None
    quantity: int | None = None
    tax_amount_in_cents: int | None = None
    retracted_event_id: int | str | None = None
    event_order: int | None = None


class NewSubscriptionEvent(SubscriptionEventFields):
    """``POST /subscription_events``."""

    data_source_uuid: str


class SubscriptionEventUpdate(ChartMogulInput):
    """The fields ``PATCH /subscription_events`` changes."""

    event_type: str | None = None
    event_date: Timestamp | None = None
    effective_date: Timestamp | None = None
    subscription_external_id: str | None = None
    plan_external_id: str | None = None
    currency: str | None = None
    amount_in_cents: int | None = None
    quantity: int | None = None
    tax_amount_in_cents: int | None = None
    event_order: int | None = None


class CustomerRef(ChartMogulInput):
    """Names a customer by uuid, or by external id within a data source (merges)."""

    customer_uuid: str | None = None
    external_id: str | None = None
    data_source_uuid: str | None = None

    @model_validator(mode="after")
    def _one_way_to_name_it(self) -> Self:
        by_uuid = self.customer_uuid is not None
        by_external = self.external_id is not None and self.data_source_uuid is not None
        if by_uuid == by_external:
            raise ValueError("give customer_uuid, or external_id with data_source_uuid")
        return self
