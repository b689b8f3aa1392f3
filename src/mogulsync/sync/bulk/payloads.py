"""Mapped rows as bulk-import records (``POST /data_sources/{uuid}/json_imports``).

Each row becomes the records of its object — an invoice also its line items and inline
transactions, tied to it by ``invoice_external_id`` — checked with the client's input
models, so a row the import would refuse for its shape is known before anything is sent
(the engine then sends it over REST, which names the exact field).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pydantic

from mogulsync.chartmogul import PlanFields
from mogulsync.chartmogul.bulk_inputs import (
    JsonImportInvoice,
    JsonImportLineItem,
    JsonImportTransaction,
    NewJsonImport,
)
from mogulsync.chartmogul.inputs import ChartMogulInput, CustomerFields
from mogulsync.sync.apply._base import RowRejectedError, pick
from mogulsync.sync.apply.customers import customer_fields
from mogulsync.sync.mapping import MappedRow

#: section of the import body → its records
Records = dict[str, list[dict[str, Any]]]

_PLAN_FIELDS = ("external_id", "name", "interval_count", "interval_unit")
_INVOICE_FIELDS = (
    "external_id",
    "customer_external_id",
    "date",
    "currency",
    "due_date",
    "collection_method",
)


class NotBulkableError(Exception):
    """The row cannot be written as bulk records; send it over REST instead."""


def records_for(object_type: str, row: MappedRow) -> Records:
    """The import records of one row (raises :class:`NotBulkableError`)."""
    try:
        if object_type == "customer":
            return {"customers": [_record(CustomerFields, customer_fields(row))]}
        if object_type == "plan":
            return {"plans": [_record(PlanFields, pick(row.payload, _PLAN_FIELDS))]}
        if object_type == "invoice":
            return _invoice(row.payload)
        if object_type == "transaction":
            return {"transactions": [_record(JsonImportTransaction, row.payload)]}
    except (pydantic.ValidationError, RowRejectedError) as exc:
        raise NotBulkableError(str(exc)) from exc
    raise NotBulkableError(f"{object_type}s are not imported in bulk")


def encoded_size(records: Records) -> int:
    """Bytes the records add to an import body (JSON as sent, plus a comma each)."""
    return sum(len(_json_bytes(record)) + 1 for items in records.values() for record in items)


def body_size(request: NewJsonImport) -> int:
    """Bytes of the import body exactly as the client sends it."""
    return len(_json_bytes(request.payload()))


def _json_bytes(value: Any) -> bytes:
    # the serialization httpx applies to ``json=`` bodies: compact, UTF-8, no NaN
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _invoice(payload: Mapping[str, Any]) -> Records:
    external_id = payload["external_id"]
    invoice = _record(JsonImportInvoice, pick(payload, _INVOICE_FIELDS))
    lines = [
        _record(JsonImportLineItem, {**item, "invoice_external_id": external_id})
        for item in payload.get("line_items", [])
    ]
    payments = [
        _record(JsonImportTransaction, {**item, "invoice_external_id": external_id})
        for item in payload.get("transactions", [])
    ]
    return {"invoices": [invoice], "line_items": lines, "transactions": payments}


def _record(model: type[ChartMogulInput], values: Mapping[str, Any]) -> dict[str, Any]:
    return model.model_validate(dict(values)).payload()
