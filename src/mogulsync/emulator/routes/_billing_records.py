"""Writes of invoices, line items, transactions and the subscriptions they create.

This is the data contract the MRR engine reads (kinds and indexed columns as in
``store.py``):

- ``invoice`` rows hold the full API invoice object: ``uuid`` (``inv_...``),
  ``external_id``, ``customer_uuid``, ``data_source_uuid``, ``date``, ``due_date``,
  ``currency``, ``collection_method``, ``status`` (null until set), ``errors`` (``{}``),
  ``disabled``/``disabled_at``/``disabled_by`` and the embedded ``line_items`` and
  ``transactions`` lists (full objects). ``parent_uuid`` is the customer uuid. Line items
  and transactions carry the same three ``disabled*`` keys; a disabled invoice, line item
  or transaction must not count towards MRR.
- every embedded line item is also a ``line_item`` row and every embedded transaction a
  ``transaction`` row (``parent_uuid`` = invoice uuid; external ids unique per data
  source). The functions below keep the embedded lists and the rows identical on every
  write and delete.
- a ``subscription`` line item carries ``subscription_uuid`` (``sub_...``). The first line
  item for a (data source, customer, ``subscription_external_id``) creates a
  ``subscription`` row ``{uuid, external_id, subscription_set_external_id, plan_uuid,
  data_source_uuid, customer_uuid, cancellation_dates}`` (``parent_uuid`` = customer
  uuid); later line items reuse it. Its ``plan_uuid`` follows the line item with the
  latest ``service_period_start`` (so back-filled old invoices do not roll the plan back),
  and a line item's ``cancelled_at`` is added to ``cancellation_dates``.
- timestamps are stored in the import-object format ``2016-01-01T12:00:00.000Z``.

Deleting the last line item of a subscription deletes the subscription too, since
ChartMogul derives import subscriptions from invoices [U].
"""

from __future__ import annotations

from starlette.requests import Request

from mogulsync.emulator._http import error_code, error_not_found, new_uuid
from mogulsync.emulator.routes._billing_validation import LINE_ITEM_KEYS, CheckedInvoice
from mogulsync.emulator.store import JSONDict, Row, Store

INVOICE_KIND = "invoice"
LINE_ITEM_KIND = "line_item"
TRANSACTION_KIND = "transaction"
SUBSCRIPTION_KIND = "subscription"
#: the newer API's soft-delete flags, present on invoices, line items and transactions
DISABLED_DEFAULTS: JSONDict = {"disabled": False, "disabled_at": None, "disabled_by": None}


def require_customer(store: Store, uuid: str, param: str = "customer_uuid") -> Row:
    """The customer, or ChartMogul's 404 for an unknown one."""
    row = store.get("customer", uuid)
    if row is None:
        raise error_not_found("Customer", param)
    return row


def require_invoice(store: Store, uuid: str) -> Row:
    """The invoice, or ``404 {"error": "Invoice not found"}``."""
    row = store.get(INVOICE_KIND, uuid)
    if row is None:
        raise error_not_found("Invoice")
    return row


def require_addressed(store: Store, request: Request, kind: str, thing: str) -> Row:
    """The object named by the path ``uuid`` or by ``?data_source_uuid=&external_id=``."""
    uuid = request.path_params.get("uuid")
    if uuid is not None:
        row = store.get(kind, uuid)
    else:
        data_source_uuid = request.query_params.get("data_source_uuid")
        external_id = request.query_params.get("external_id")
        if not data_source_uuid or not external_id:
            raise error_code(
                400, 'Parameters "data_source_uuid" and "external_id" are required', "uuid"
            )
        row = store.find_one(kind, data_source_uuid=data_source_uuid, external_id=external_id)
    if row is None:
        raise error_not_found(thing)
    return row


def customer_data_source(customer: Row) -> str:
    """The data source a customer was imported into."""
    return str(customer.body["data_source_uuid"])


# ---------------------------------------------------------------------- creation
def store_invoice(store: Store, customer: Row, checked: CheckedInvoice) -> JSONDict:
    """Store a validated invoice with its line items and transactions; return it."""
    uuid = new_uuid("inv")
    data_source_uuid = customer_data_source(customer)
    invoice: JSONDict = {
        "uuid": uuid,
        "external_id": checked.value["external_id"],
        "customer_uuid": customer.uuid,
        "data_source_uuid": data_source_uuid,
        **{key: value for key, value in checked.value.items() if key != "external_id"},
        "status": None,
        "errors": {},
        **DISABLED_DEFAULTS,
        "line_items": [],
        "transactions": [],
    }
    store.insert(
        INVOICE_KIND,
        uuid,
        invoice,
        data_source_uuid=data_source_uuid,
        external_id=invoice["external_id"],
        parent_uuid=customer.uuid,
    )
    for item in checked.line_items:
        _insert_line_item(store, invoice, item)
    for transaction in checked.transactions:
        _insert_transaction(store, invoice, transaction)
    store.update(INVOICE_KIND, uuid, invoice)
    return invoice


def add_line_item(store: Store, invoice_row: Row, item: JSONDict) -> JSONDict:
    """Append a validated line item to a stored invoice; return the stored line item."""
    invoice = dict(invoice_row.body)
    invoice["line_items"] = list(invoice["line_items"])
    line = _insert_line_item(store, invoice, item)
    store.update(INVOICE_KIND, invoice_row.uuid, invoice)
    return line


def add_transaction(store: Store, invoice_row: Row, transaction: JSONDict) -> JSONDict:
    """Append a validated transaction to a stored invoice; return the stored transaction."""
    invoice = dict(invoice_row.body)
    invoice["transactions"] = list(invoice["transactions"])
    stored = _insert_transaction(store, invoice, transaction)
    store.update(INVOICE_KIND, invoice_row.uuid, invoice)
    return stored


def _insert_line_item(store: Store, invoice: JSONDict, item: JSONDict) -> JSONDict:
    uuid = new_uuid("li")
    line = {**{key: item.get(key) for key in LINE_ITEM_KEYS}, **DISABLED_DEFAULTS}
    line["uuid"] = uuid
    if line["type"] == "subscription":
        line["subscription_uuid"] = _attach_subscription(store, invoice, line)
    store.insert(
        LINE_ITEM_KIND,
        uuid,
        line,
        data_source_uuid=invoice["data_source_uuid"],
        external_id=line["external_id"],
        parent_uuid=invoice["uuid"],
    )
    invoice["line_items"].append(line)
    return line


def _insert_transaction(store: Store, invoice: JSONDict, transaction: JSONDict) -> JSONDict:
    uuid = new_uuid("tr")
    stored = {**transaction, **DISABLED_DEFAULTS, "uuid": uuid}
    store.insert(
        TRANSACTION_KIND,
        uuid,
        stored,
        data_source_uuid=invoice["data_source_uuid"],
        external_id=stored["external_id"],
        parent_uuid=invoice["uuid"],
    )
    invoice["transactions"].append(stored)
    return stored


def _attach_subscription(store: Store, invoice: JSONDict, line: JSONDict) -> str:
    """The uuid of the line item's subscription, creating or updating the subscription."""
    data_source_uuid = invoice["data_source_uuid"]
    customer_uuid = invoice["customer_uuid"]
    cancelled_at = line["cancelled_at"]
    found = store.find_one(
        SUBSCRIPTION_KIND,
        data_source_uuid=data_source_uuid,
        external_id=line["subscription_external_id"],
        parent_uuid=customer_uuid,
    )
    if found is None:
        uuid = new_uuid("sub")
        body: JSONDict = {
            "uuid": uuid,
            "external_id": line["subscription_external_id"],
            "subscription_set_external_id": line["subscription_set_external_id"],
            "plan_uuid": line["plan_uuid"],
            "data_source_uuid": data_source_uuid,
            "customer_uuid": customer_uuid,
            "cancellation_dates": [cancelled_at] if cancelled_at else [],
        }
        store.insert(
            SUBSCRIPTION_KIND,
            uuid,
            body,
            data_source_uuid=data_source_uuid,
            external_id=body["external_id"],
            parent_uuid=customer_uuid,
        )
        return uuid
    body = dict(found.body)
    if _latest_period_start(store, customer_uuid, found.uuid) <= line["service_period_start"]:
        body["plan_uuid"] = line["plan_uuid"]
    if line["subscription_set_external_id"]:
        body["subscription_set_external_id"] = line["subscription_set_external_id"]
    if cancelled_at and cancelled_at not in body["cancellation_dates"]:
        body["cancellation_dates"] = sorted([*body["cancellation_dates"], cancelled_at])
    store.update(SUBSCRIPTION_KIND, found.uuid, body)
    return found.uuid


def _latest_period_start(store: Store, customer_uuid: str, subscription_uuid: str) -> str:
    # Stored timestamps share one fixed-width UTC format, so text order is time order.
    starts = [
        item["service_period_start"]
        for row in store.find(INVOICE_KIND, parent_uuid=customer_uuid)
        for item in row.body["line_items"]
        if item["subscription_uuid"] == subscription_uuid
    ]
    return max(starts, default="")


# ---------------------------------------------------------------------- edits
def owning_invoice(store: Store, key: str, uuid: str) -> Row:
    """The invoice whose embedded ``key`` list (line_items/transactions) holds ``uuid``."""
    # Rows expose no parent column, so look for the uuid in the embedded lists; edits and
    # standalone deletes are rare, so a scan is cheap enough.
    for row in store.iter_kind(INVOICE_KIND):
        if any(entry["uuid"] == uuid for entry in row.body[key]):
            return row
    raise error_not_found("Invoice")


def replace_line_item(store: Store, line_item: Row, item: JSONDict) -> JSONDict:
    """Store a re-validated line item under its uuid; keep its invoice and subscription in step."""
    invoice_row = owning_invoice(store, "line_items", line_item.uuid)
    invoice = dict(invoice_row.body)
    old = line_item.body
    line = {key: item.get(key) for key in LINE_ITEM_KEYS}
    line.update({key: old.get(key, DISABLED_DEFAULTS[key]) for key in DISABLED_DEFAULTS})
    line["uuid"] = line_item.uuid
    if line["type"] == "subscription":
        line["subscription_uuid"] = _attach_subscription(store, invoice, line)
    store.update(LINE_ITEM_KIND, line_item.uuid, line, external_id=line["external_id"])
    invoice["line_items"] = [
        line if entry["uuid"] == line_item.uuid else entry for entry in invoice["line_items"]
    ]
    store.update(INVOICE_KIND, invoice_row.uuid, invoice)
    _prune_subscriptions(store, invoice["customer_uuid"], _subscription_uuids(old))
    return line


def replace_transaction(store: Store, transaction: Row, value: JSONDict) -> JSONDict:
    """Store a re-validated transaction under its uuid, inside its invoice too."""
    old = transaction.body
    stored = {**value, **{key: old.get(key, DISABLED_DEFAULTS[key]) for key in DISABLED_DEFAULTS}}
    stored["uuid"] = transaction.uuid
    _save_child(store, TRANSACTION_KIND, "transactions", stored)
    return stored


def set_disabled(store: Store, kind: str, row: Row, disabled: bool, stamp: str) -> JSONDict:
    """Flag an invoice, line item or transaction as disabled (or enabled again)."""
    body = {**row.body, "disabled": disabled, "disabled_at": stamp if disabled else None}
    if kind == INVOICE_KIND:
        store.update(INVOICE_KIND, row.uuid, body)
    else:
        _save_child(store, kind, "line_items" if kind == LINE_ITEM_KIND else "transactions", body)
    return body


def _save_child(store: Store, kind: str, key: str, body: JSONDict) -> None:
    store.update(kind, body["uuid"], body, external_id=body["external_id"])
    invoice_row = owning_invoice(store, key, body["uuid"])
    invoice = dict(invoice_row.body)
    invoice[key] = [body if entry["uuid"] == body["uuid"] else entry for entry in invoice[key]]
    store.update(INVOICE_KIND, invoice_row.uuid, invoice)


# ---------------------------------------------------------------------- deletion
def delete_invoice(store: Store, invoice_row: Row) -> None:
    """Delete an invoice with its line item and transaction rows."""
    invoice = invoice_row.body
    store.delete_where(LINE_ITEM_KIND, parent_uuid=invoice_row.uuid)
    store.delete_where(TRANSACTION_KIND, parent_uuid=invoice_row.uuid)
    store.delete(INVOICE_KIND, invoice_row.uuid)
    _prune_subscriptions(store, invoice["customer_uuid"], _subscription_uuids(invoice))


def delete_customer_invoices(
    store: Store, customer_uuid: str, data_source_uuid: str | None = None
) -> None:
    """Delete a customer's invoices (of one data source, if given) and the subscriptions
    left without line items."""
    for row in store.find(
        INVOICE_KIND, parent_uuid=customer_uuid, data_source_uuid=data_source_uuid
    ):
        delete_invoice(store, row)


def purge_customer_billing(store: Store, customer_uuid: str) -> None:
    """Delete a customer's invoices and every import subscription of the customer."""
    delete_customer_invoices(store, customer_uuid)
    store.delete_where(SUBSCRIPTION_KIND, parent_uuid=customer_uuid)


def delete_line_item(store: Store, line_item: Row) -> None:
    """Delete a line item row and its copy inside the invoice."""
    invoice_row = owning_invoice(store, "line_items", line_item.uuid)
    store.delete(LINE_ITEM_KIND, line_item.uuid)
    invoice = dict(invoice_row.body)
    invoice["line_items"] = [
        item for item in invoice["line_items"] if item["uuid"] != line_item.uuid
    ]
    store.update(INVOICE_KIND, invoice_row.uuid, invoice)
    _prune_subscriptions(store, invoice["customer_uuid"], _subscription_uuids(line_item.body))


def delete_transaction(store: Store, transaction: Row) -> None:
    """Delete a transaction row and its copy inside the invoice."""
    invoice_row = owning_invoice(store, "transactions", transaction.uuid)
    store.delete(TRANSACTION_KIND, transaction.uuid)
    invoice = dict(invoice_row.body)
    invoice["transactions"] = [
        entry for entry in invoice["transactions"] if entry["uuid"] != transaction.uuid
    ]
    store.update(INVOICE_KIND, invoice_row.uuid, invoice)


def _subscription_uuids(body: JSONDict) -> set[str]:
    items = body.get("line_items", [body])
    return {item["subscription_uuid"] for item in items if item.get("subscription_uuid")}


def _prune_subscriptions(store: Store, customer_uuid: str, candidates: set[str]) -> None:
    if not candidates:
        return
    in_use = {
        item["subscription_uuid"]
        for row in store.find(INVOICE_KIND, parent_uuid=customer_uuid)
        for item in row.body["line_items"]
    }
    for uuid in candidates - in_use:
        store.delete(SUBSCRIPTION_KIND, uuid)
