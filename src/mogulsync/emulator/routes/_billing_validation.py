"""Validation of invoice, line item and transaction payloads.

One implementation serves the REST endpoints (invoice import, line item and transaction
import) and the bulk JSON import, so both paths accept and reject exactly the same input.
Each ``check_*`` function returns the normalised object (every key of the API object, in
the API's order, with ``uuid`` and ``subscription_uuid`` left for the writer to fill) and
the errors found, keyed by field. Callers choose the key prefix: the invoice import
reports line item problems as ``line_items.<field>`` and transaction problems as
``transactions.<field>``, as ChartMogul's per-invoice errors do; the standalone endpoints
use bare field names.

Duplicate external ids (per data source, including ids claimed earlier in the same
request) produce the exact messages the API uses (reference section 3). Wording of the
other messages follows Rails conventions ("can't be blank") and is a guess [U].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mogulsync.emulator._http import iso_millis, parse_time
from mogulsync.emulator.store import JSONDict, Store

CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
LINE_ITEM_TYPES = ("subscription", "one_time")
TRANSACTION_TYPES = ("payment", "refund")
TRANSACTION_RESULTS = ("successful", "failed")
PRORATION_TYPES = ("differential", "full", "differential_mrr")
COLLECTION_METHODS = ("automatic", "manual")
DEFAULT_COLLECTION_METHOD = "automatic"
DEFAULT_QUANTITY = 1
MIN_QUANTITY = 1

INVOICE_TAKEN = "The external ID for this invoice already exists in our system."
LINE_ITEM_TAKEN = "The external ID for this line item already exists in our system."
TRANSACTION_TAKEN = "has already been taken"
BLANK = "can't be blank"
NOT_TEXT = "must be a string"
NOT_TIME = "is not a valid ISO 8601 date/time"
NOT_INTEGER = "must be an integer"
NOT_BOOLEAN = "must be true or false"
NOT_POSITIVE = "must be greater than 0"
NOT_LISTED = "is not included in the list"
NOT_CURRENCY = "must be a 3-letter ISO 4217 currency code"
NOT_OBJECT = "must be an object"
NOT_ARRAY = "must be an array"
PLAN_MISSING = "Plan not found in this data source"
PERIOD_ORDER = "must be after service_period_start"
DATA_SOURCE_MISMATCH = "does not match the customer's data source"

#: Keys of a stored line item, in the order the API shows them.
LINE_ITEM_KEYS = (
    "uuid",
    "external_id",
    "type",
    "subscription_uuid",
    "subscription_external_id",
    "subscription_set_external_id",
    "prorated",
    "proration_type",
    "service_period_start",
    "service_period_end",
    "plan_uuid",
    "amount_in_cents",
    "quantity",
    "discount_code",
    "discount_amount_in_cents",
    "tax_amount_in_cents",
    "transaction_fees_in_cents",
    "account_code",
    "transaction_fees_currency",
    "discount_description",
    "description",
    "event_order",
    "cancelled_at",
)


@dataclass(slots=True)
class Checked:
    """A normalised object and the problems found in it (empty when valid)."""

    value: JSONDict
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class CheckedInvoice:
    """An invoice with its checked line items and transactions."""

    value: JSONDict
    line_items: list[JSONDict]
    transactions: list[JSONDict]
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ExternalIds:
    """External ids in use in one data source, including ones claimed by this request.

    Claiming on check means two records of one request cannot share an external id even
    though neither is stored yet.
    """

    store: Store
    data_source_uuid: str
    claimed: dict[str, set[str]] = field(default_factory=dict)
    #: a stored object that may keep its own external id (updates)
    own_uuid: str | None = None

    def claim(self, kind: str, external_id: str) -> bool:
        """Reserve an external id; False when it is already taken."""
        claimed = self.claimed.setdefault(kind, set())
        if external_id in claimed:
            return False
        found = self.store.find_one(
            kind, data_source_uuid=self.data_source_uuid, external_id=external_id
        )
        if found is not None and found.uuid != self.own_uuid:
            return False
        claimed.add(external_id)
        return True


class FieldReader:
    """Reads typed fields from one payload and collects an error per bad field."""

    def __init__(self, payload: JSONDict, prefix: str = "") -> None:
        self.payload = payload
        self.prefix = prefix
        self.errors: dict[str, str] = {}

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(self.prefix + name, message)

    def _present(self, name: str, required: bool) -> Any:
        value = self.payload.get(name)
        if value is None or value == "":
            if required:
                self.fail(name, BLANK)
            return None
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._present(name, required)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # numeric ids are accepted and stored as text
        if not isinstance(value, str):
            self.fail(name, NOT_TEXT)
            return None
        return value

    def moment(self, name: str, *, required: bool = False) -> datetime | None:
        value = self._present(name, required)
        if value is None:
            return None
        parsed = parse_time(value)
        if parsed is None:
            self.fail(name, NOT_TIME)
        return parsed

    def integer(
        self, name: str, *, required: bool = False, default: int | None = None
    ) -> int | None:
        value = self._present(name, required)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, NOT_INTEGER)
            return None
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.payload.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(name, NOT_BOOLEAN)
            return default
        return value

    def choice(
        self,
        name: str,
        options: tuple[str, ...],
        *,
        required: bool = False,
        default: str | None = None,
    ) -> str | None:
        value = self._present(name, required)
        if value is None:
            return default
        if value not in options:
            self.fail(name, NOT_LISTED)
            return None
        return str(value)

    def currency(self, name: str, *, required: bool = False) -> str | None:
        value = self._present(name, required)
        if value is None:
            return None
        if not isinstance(value, str) or not CURRENCY_CODE.match(value.upper()):
            self.fail(name, NOT_CURRENCY)
            return None
        return value.upper()


def _millis(moment: datetime | None) -> str | None:
    return iso_millis(moment) if moment else None


def check_line_item(ids: ExternalIds, payload: Any, *, prefix: str = "") -> Checked:
    """Check one line item of type ``subscription`` or ``one_time``."""
    if not isinstance(payload, dict):
        return Checked({}, {prefix.rstrip(".") or "line_item": NOT_OBJECT})
    fields = FieldReader(payload, prefix)
    kind = fields.choice("type", LINE_ITEM_TYPES, required=True)
    external_id = fields.text("external_id")
    if external_id is not None and not ids.claim("line_item", external_id):
        fields.fail("external_id", LINE_ITEM_TAKEN)
    quantity = fields.integer("quantity", default=DEFAULT_QUANTITY)
    if quantity is not None and quantity < MIN_QUANTITY:
        fields.fail("quantity", NOT_POSITIVE)
    value: JSONDict = dict.fromkeys(LINE_ITEM_KEYS)
    value.update(
        external_id=external_id,
        type=kind,
        prorated=False,
        amount_in_cents=fields.integer("amount_in_cents", required=True),
        quantity=quantity,
        discount_code=fields.text("discount_code") or "",
        discount_amount_in_cents=fields.integer("discount_amount_in_cents", default=0),
        tax_amount_in_cents=fields.integer("tax_amount_in_cents", default=0),
        transaction_fees_in_cents=fields.integer("transaction_fees_in_cents", default=0),
        account_code=fields.text("account_code") or "",
        transaction_fees_currency=fields.currency("transaction_fees_currency"),
        discount_description=fields.text("discount_description"),
        description=fields.text("description"),
        event_order=fields.integer("event_order"),
    )
    if kind == "subscription":
        _check_subscription_part(ids, fields, value)
    return Checked(value, fields.errors)


def _check_subscription_part(ids: ExternalIds, fields: FieldReader, value: JSONDict) -> None:
    start = fields.moment("service_period_start", required=True)
    end = fields.moment("service_period_end", required=True)
    if start and end and end <= start:
        fields.fail("service_period_end", PERIOD_ORDER)
    plan = fields.text("plan_uuid", required=True)
    if plan is not None:
        row = ids.store.get("plan", plan)
        if row is None or row.body.get("data_source_uuid") != ids.data_source_uuid:
            fields.fail("plan_uuid", PLAN_MISSING)
    value.update(
        subscription_external_id=fields.text("subscription_external_id", required=True),
        subscription_set_external_id=fields.text("subscription_set_external_id"),
        prorated=fields.boolean("prorated", default=False),
        proration_type=fields.choice("proration_type", PRORATION_TYPES),
        service_period_start=_millis(start),
        service_period_end=_millis(end),
        plan_uuid=plan,
        cancelled_at=_millis(fields.moment("cancelled_at")),
    )


def check_transaction(ids: ExternalIds, payload: Any, *, prefix: str = "") -> Checked:
    """Check one payment or refund."""
    if not isinstance(payload, dict):
        return Checked({}, {prefix.rstrip(".") or "transaction": NOT_OBJECT})
    fields = FieldReader(payload, prefix)
    external_id = fields.text("external_id")
    if external_id is not None and not ids.claim("transaction", external_id):
        fields.fail("external_id", TRANSACTION_TAKEN)
    value: JSONDict = {
        "uuid": None,
        "external_id": external_id,
        "amount_in_cents": fields.integer("amount_in_cents"),
        "type": fields.choice("type", TRANSACTION_TYPES, required=True),
        "date": _millis(fields.moment("date", required=True)),
        "result": fields.choice("result", TRANSACTION_RESULTS, required=True),
        "transaction_fees_in_cents": fields.integer("transaction_fees_in_cents"),
        "transaction_fees_currency": fields.currency("transaction_fees_currency"),
    }
    return Checked(value, fields.errors)


def check_invoice_fields(ids: ExternalIds, payload: JSONDict) -> Checked:
    """Check an invoice's own fields (not its line items or transactions)."""
    fields = FieldReader(payload)
    external_id = fields.text("external_id", required=True)
    if external_id is not None and not ids.claim("invoice", external_id):
        fields.fail("external_id", INVOICE_TAKEN)
    data_source = payload.get("data_source_uuid")
    if data_source not in (None, ids.data_source_uuid):
        fields.fail("data_source_uuid", DATA_SOURCE_MISMATCH)
    value: JSONDict = {
        "external_id": external_id,
        "date": _millis(fields.moment("date", required=True)),
        "due_date": _millis(fields.moment("due_date")),
        "currency": fields.currency("currency", required=True),
        "collection_method": fields.choice(
            "collection_method", COLLECTION_METHODS, default=DEFAULT_COLLECTION_METHOD
        ),
    }
    return Checked(value, fields.errors)


def check_invoice(ids: ExternalIds, payload: Any) -> CheckedInvoice:
    """Check an invoice of an import request with its inline line items and transactions."""
    if not isinstance(payload, dict):
        return CheckedInvoice({"external_id": None}, [], [], {"invoice": NOT_OBJECT})
    invoice = check_invoice_fields(ids, payload)
    errors = dict(invoice.errors)
    line_items: list[JSONDict] = []
    transactions: list[JSONDict] = []
    for key, target in (("line_items", line_items), ("transactions", transactions)):
        entries = payload.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            errors.setdefault(key, NOT_ARRAY)
            continue
        for entry in entries:
            if key == "line_items":
                checked = check_line_item(ids, entry, prefix="line_items.")
            else:
                checked = check_transaction(ids, entry, prefix="transactions.")
            for name, message in checked.errors.items():
                errors.setdefault(name, message)
            target.append(checked.value)
    return CheckedInvoice(invoice.value, line_items, transactions, errors)
