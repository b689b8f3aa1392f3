"""JSON schemas of the streams, as the Airbyte ``discover`` command announces them.

Records keep the API's own keys (kebab-case where the API uses it), so the schemas do
too; every schema allows further properties because ChartMogul adds fields over time.
Callers get a copy of their own (:func:`stream_schema`): the schemas share their leaf
dicts, so an edit to one would otherwise change many fields of every later catalog.
"""

from __future__ import annotations

import functools
import json
from typing import Any

Schema = dict[str, Any]

_DRAFT = "http://json-schema.org/draft-07/schema#"
_STR: Schema = {"type": ["null", "string"]}
_INT: Schema = {"type": ["null", "integer"]}
_NUM: Schema = {"type": ["null", "number"]}
_BOOL: Schema = {"type": ["null", "boolean"]}
_TIME: Schema = {"type": ["null", "string"], "format": "date-time"}
_DAY: Schema = {"type": ["null", "string"], "format": "date"}
_OBJ: Schema = {"type": ["null", "object"], "additionalProperties": True}
_STRINGS: Schema = {"type": ["null", "array"], "items": {"type": "string"}}


def _object(**properties: Schema) -> Schema:
    return {"type": ["null", "object"], "additionalProperties": True, "properties": properties}


def _array(items: Schema) -> Schema:
    return {"type": ["null", "array"], "items": items}


def _stream(**properties: Schema) -> Schema:
    return {
        "$schema": _DRAFT,
        "type": "object",
        "additionalProperties": True,
        "properties": properties,
    }


#: soft deletion of billing records (invoices, line items, transactions, subscription events)
_DISABLED = {"disabled": _BOOL, "disabled_at": _TIME, "disabled_by": _STR}
_MONEY_FIELDS = {
    "amount_in_cents": _INT,
    "discount_amount_in_cents": _INT,
    "tax_amount_in_cents": _INT,
    "transaction_fees_in_cents": _INT,
    "transaction_fees_currency": _STR,
}
# Money is integer cents and counts are integers, in the API and in the schemas of Airbyte's
# source-chartmogul: the same types keep a destination's columns when a connection switches.
# For the same reason the fields its 1.0.13 declares keep its declarations: timestamps
# without a ``format`` (a destination would turn a text column into a timestamp one),
# every nested property it lists, and ``customer_since`` (the API sends ``customer-since``;
# never in a record, as in theirs). tests/unit/extract/test_airbyte_compat.py holds us to it.
_CUSTOMER = _stream(
    id=_INT,
    uuid=_STR,
    external_id=_STR,
    external_ids=_STRINGS,
    data_source_uuid=_STR,
    data_source_uuids=_STRINGS,
    name=_STR,
    email=_STR,
    company=_STR,
    status=_STR,
    country=_STR,
    state=_STR,
    city=_STR,
    zip=_STR,
    address=_object(address_zip=_STR, city=_STR, state=_STR, country=_STR),
    lead_created_at=_STR,
    free_trial_started_at=_STR,
    **{"customer-since": _TIME},
    customer_since=_STR,
    attributes=_object(
        tags=_STRINGS,
        custom=_object(),
        stripe=_object(brandID=_STR, brandName=_STR, createdAt=_STR, platformName=_STR),
        clearbit=_object(),
    ),
    mrr=_INT,
    arr=_INT,
    currency=_STR,
    **{"currency-sign": _STR},
    **{"billing-system-url": _STR, "billing-system-type": _STR, "chartmogul-url": _STR},
    owner=_STR,
    website_url=_STR,
)
_ACTIVITY = _stream(
    uuid=_STR,
    date=_STR,
    type=_STR,
    description=_STR,
    currency=_STR,
    **{
        "activity-mrr": _INT,
        "activity-mrr-movement": _INT,
        "activity-arr": _INT,
        "subscription-external-id": _STR,
        "subscription-set-external-id": _STR,
        "plan-external-id": _STR,
        "customer-name": _STR,
        "customer-uuid": _STR,
        "customer-external-id": _STR,
        "billing-connector-uuid": _STR,
    },
)
_COUNT = _stream(date=_STR, customers=_INT, **{"percentage-change": _NUM})
#: the metrics of ``/metrics/all``; each entry also carries ``<metric>-percentage-change``
_METRICS = (
    "mrr",
    "arr",
    "arpa",
    "asp",
    "customers",
    "ltv",
    "customer-churn-rate",
    "mrr-churn-rate",
)
_LINE_ITEM = _object(
    uuid=_STR,
    external_id=_STR,
    type=_STR,
    subscription_uuid=_STR,
    subscription_external_id=_STR,
    subscription_set_external_id=_STR,
    plan_uuid=_STR,
    prorated=_BOOL,
    service_period_start=_TIME,
    service_period_end=_TIME,
    quantity=_INT,
    discount_code=_STR,
    discount_description=_STR,
    account_code=_STR,
    description=_STR,
    proration_type=_STR,
    event_order=_INT,
    # only in ``GET /invoices`` lists, null when unset; its set form is not recorded
    balance_transfer=_OBJ,
    **_MONEY_FIELDS,
    **_DISABLED,
)
_TRANSACTION = _object(
    uuid=_STR,
    external_id=_STR,
    type=_STR,
    date=_TIME,
    result=_STR,
    user_created=_BOOL,
    **_MONEY_FIELDS,
    **_DISABLED,
)

_SCHEMAS: dict[str, Schema] = {
    "account": _stream(id=_STR, name=_STR, currency=_STR, time_zone=_STR, week_start_on=_STR),
    "data_sources": _stream(uuid=_STR, name=_STR, system=_STR, created_at=_TIME, status=_STR),
    "customers": _CUSTOMER,
    "contacts": _stream(
        uuid=_STR,
        customer_uuid=_STR,
        customer_external_id=_STR,
        data_source_uuid=_STR,
        external_id=_STR,
        position=_INT,
        first_name=_STR,
        last_name=_STR,
        title=_STR,
        email=_STR,
        phone=_STR,
        linked_in=_STR,
        twitter=_STR,
        notes=_STR,
        custom=_OBJ,
    ),
    "plans": _stream(
        uuid=_STR,
        data_source_uuid=_STR,
        external_id=_STR,
        name=_STR,
        interval_count=_INT,
        interval_unit=_STR,
    ),
    "plan_groups": _stream(uuid=_STR, name=_STR, plans_count=_INT, plans=_STRINGS),
    "invoices": _stream(
        uuid=_STR,
        external_id=_STR,
        customer_uuid=_STR,
        data_source_uuid=_STR,
        date=_TIME,
        due_date=_TIME,
        currency=_STR,
        status=_STR,
        collection_method=_STR,
        errors=_OBJ,
        edit_history_summary=_OBJ,
        line_items=_array(_LINE_ITEM),
        transactions=_array(_TRANSACTION),
        **_DISABLED,
    ),
    "subscriptions": _stream(
        id=_INT,
        uuid=_STR,
        customer_uuid=_STR,
        external_id=_STR,
        subscription_set_external_id=_STR,
        plan=_STR,
        quantity=_INT,
        mrr=_NUM,
        arr=_NUM,
        status=_STR,
        currency=_STR,
        **{
            "billing-cycle": _STR,
            "billing-cycle-count": _INT,
            "start-date": _TIME,
            "end-date": _TIME,
            "currency-sign": _STR,
        },
    ),
    "subscription_events": _stream(
        id=_INT,
        data_source_uuid=_STR,
        customer_external_id=_STR,
        subscription_external_id=_STR,
        subscription_set_external_id=_STR,
        plan_external_id=_STR,
        event_type=_STR,
        event_date=_TIME,
        effective_date=_TIME,
        external_id=_STR,
        currency=_STR,
        amount_in_cents=_INT,
        quantity=_INT,
        tax_amount_in_cents=_INT,
        retracted_event_id=_STR,
        event_order=_INT,
        errors=_OBJ,
        created_at=_TIME,
        updated_at=_TIME,
        **_DISABLED,
    ),
    "activities": _ACTIVITY,
    "customer_count": _stream(
        interval=_STR, date=_DAY, customers=_INT, **{"percentage-change": _NUM}
    ),
    "metrics": _stream(
        interval=_STR,
        date=_DAY,
        **dict.fromkeys(_METRICS, _NUM),
        **{f"{metric}-percentage-change": _NUM for metric in _METRICS},
    ),
    "customer_daily_count": _COUNT,
    "customer_weekly_count": _COUNT,
    "customer_monthly_count": _COUNT,
    "customer_quarterly_count": _COUNT,
}

#: the streams with a schema
SCHEMA_NAMES = frozenset(_SCHEMAS)


def stream_schema(name: str) -> Schema:
    """Stream ``name``'s JSON schema, a copy the caller may edit (KeyError: no such stream).

    Decoding its JSON, built once, gives a tree of its own at half deepcopy's cost.
    """
    copied: Schema = json.loads(_schema_json(name))
    return copied


@functools.cache
def _schema_json(name: str) -> str:
    return json.dumps(_SCHEMAS[name])
