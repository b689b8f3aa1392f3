"""Applies the records of one bulk JSON import and reports on them.

Records reference their parents by external id (``customer_external_id``,
``invoice_external_id``, ``plan_external_id``); a parent may come from the same import or
already exist in the data source. Each record goes through the same code as its REST
endpoint: ``create_plan_record``, ``create_customer_record``, the invoice, line item and
transaction checks of ``_billing_validation`` with the writers of ``_billing_records``,
and ``create_subscription_event``. A customer or plan whose external id already exists in
the data source is reused (its fields are not updated) rather than reported as a
duplicate, so a later import may add invoices for customers imported earlier [U].

``status_details`` is keyed by ``plans`` and by each customer external id. A customer's
entry holds ``status`` plus one ``{status}`` per record type (``customers``, ``invoices``,
``line_items``, ``transactions``, ``subscription_events``). A type's status is
``imported`` when all its records imported, ``skipped`` when the import had none, and
``failed`` otherwise, with ``errors: [{external_id, field, message}]`` naming each failed
record. Records whose customer cannot be told (no parent reference, or a line item of an
unknown invoice) are reported under :data:`UNASSIGNED` [U]. A failed record never stops
records of other customers. An invoice is all-or-nothing, like the REST invoice import: a
failed invoice fails its line items and transactions, and a failed line item or transaction
fails its invoice (reported as ``line_items.<field>`` / ``transactions.<field>``) and its
siblings (``Invoice was not imported``) [U]. Every line item and transaction error also
carries ``invoice_external_id`` so a client can tell which invoice it belongs to even when
the child has no external id of its own. ``processed_count`` counts every record handled
and ``error_count`` the records that failed (a record with several bad fields counts once).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mogulsync.emulator._http import EmulatorHTTPError
from mogulsync.emulator.routes._billing_records import (
    INVOICE_KIND,
    add_line_item,
    add_transaction,
    store_invoice,
)
from mogulsync.emulator.routes._billing_validation import (
    BLANK,
    NOT_OBJECT,
    PLAN_MISSING,
    Checked,
    CheckedInvoice,
    ExternalIds,
    check_invoice_fields,
    check_line_item,
    check_transaction,
)
from mogulsync.emulator.routes._lookup import customer_by_external_id
from mogulsync.emulator.routes.customers import create_customer_record
from mogulsync.emulator.routes.plans import create_plan_record
from mogulsync.emulator.routes.subscription_events import create_subscription_event
from mogulsync.emulator.state import Emulator
from mogulsync.emulator.store import JSONDict, Row

PLANS_KEY = "plans"
UNASSIGNED = "unassigned"
SECTIONS = ("customers", "invoices", "line_items", "transactions", "subscription_events")
CHILD_SECTIONS = ("line_items", "transactions")
CUSTOMER_MISSING = "Customer not found in this data source"
INVOICE_MISSING = "Invoice not found in this data source"
PARENT_FAILED = "Invoice was not imported"

Problems = Iterable[tuple[str | None, str]]


@dataclass(slots=True)
class _Section:
    """The outcome of one record type within one status entry."""

    total: int = 0
    failed: int = 0
    errors: list[JSONDict] = field(default_factory=list)

    #: line items and transactions name their invoice in each error
    child: bool = False

    def fail(self, record: Any, problems: Problems) -> None:
        """Count ``record`` as failed, with one error per (field, message)."""
        self.failed += 1
        base: JSONDict = {"external_id": _text(record, "external_id")}
        if self.child:
            base["invoice_external_id"] = _text(record, "invoice_external_id")
        self.errors.extend(
            {**base, "field": name, "message": message} for name, message in problems
        )

    def report(self) -> JSONDict:
        if self.failed:
            return {"status": "failed", "errors": self.errors}
        return {"status": "imported" if self.total else "skipped"}


def _records(payload: JSONDict, key: str) -> list[Any]:
    value = payload.get(key)
    return value if isinstance(value, list) else []


def _text(record: Any, key: str) -> str | None:
    value = record.get(key) if isinstance(record, dict) else None
    return str(value) if value not in (None, "") else None


def http_error_fields(exc: EmulatorHTTPError) -> list[tuple[str | None, str]]:
    """(field, message) pairs from any of the API's error body shapes."""
    try:
        body = json.loads(bytes(exc.response.body))
    except ValueError:
        return [(None, f"HTTP {exc.response.status_code}")]
    if isinstance(body.get("errors"), dict):
        return [(str(name), str(message)) for name, message in body["errors"].items()]
    for key in ("message", "error"):
        if isinstance(body.get(key), str):
            return [(body.get("param"), body[key])]
    return [
        (name, str(message))
        for name, messages in body.items()
        if name != "error_details" and isinstance(messages, list)
        for message in messages
    ]


class BulkImport:
    """One import's records, grouped by the customer they belong to."""

    def __init__(self, emulator: Emulator, data_source_uuid: str, payload: JSONDict) -> None:
        self.emulator = emulator
        self.store = emulator.store
        self.data_source_uuid = data_source_uuid
        self.payload = payload
        self.ids = ExternalIds(self.store, data_source_uuid)
        self.status_details: JSONDict = {}
        self.processed_count = 0
        self.error_count = 0
        self._groups: dict[str, dict[str, list[Any]]] = {}
        self._invoice_owner: dict[str, str] = {}
        self._group_records()

    # ------------------------------------------------------------------ grouping
    def _group(self, key: str | None) -> dict[str, list[Any]]:
        return self._groups.setdefault(key or UNASSIGNED, {name: [] for name in SECTIONS})

    def _group_records(self) -> None:
        for record in _records(self.payload, "customers"):
            self._group(_text(record, "external_id"))["customers"].append(record)
        for record in _records(self.payload, "invoices"):
            owner = _text(record, "customer_external_id")
            invoice_id = _text(record, "external_id")
            if owner and invoice_id:
                self._invoice_owner.setdefault(invoice_id, owner)
            self._group(owner)["invoices"].append(record)
        for section in ("line_items", "transactions"):
            for record in _records(self.payload, section):
                self._group(self._owner_of(_text(record, "invoice_external_id")))[section].append(
                    record
                )
        for record in _records(self.payload, "subscription_events"):
            self._group(_text(record, "customer_external_id"))["subscription_events"].append(record)

    def _owner_of(self, invoice_id: str | None) -> str | None:
        """The customer external id an invoice (in this import or stored) belongs to."""
        if invoice_id is None:
            return None
        if invoice_id in self._invoice_owner:
            return self._invoice_owner[invoice_id]
        invoice = self._stored_invoice(invoice_id)
        customer = self.store.get("customer", invoice.body["customer_uuid"]) if invoice else None
        return str(customer.body["external_id"]) if customer else None

    def _stored_invoice(self, invoice_id: str) -> Row | None:
        return self.store.find_one(
            INVOICE_KIND, data_source_uuid=self.data_source_uuid, external_id=invoice_id
        )

    def customer_keys(self) -> Iterator[str]:
        """Customer external ids in the order they were first mentioned."""
        return iter(list(self._groups))

    # ------------------------------------------------------------------ reporting
    def _report(self, section: _Section) -> JSONDict:
        self.processed_count += section.total
        self.error_count += section.failed
        return section.report()

    # ------------------------------------------------------------------ plans
    def import_plans(self) -> None:
        """Create the import's plans (reusing ones that already exist)."""
        if PLANS_KEY not in self.payload:
            return
        records = _records(self.payload, PLANS_KEY)
        section = _Section(total=len(records))
        for record in records:
            if not isinstance(record, dict):
                section.fail(record, [(None, NOT_OBJECT)])
                continue
            external_id = _text(record, "external_id")
            if external_id and self._plan(external_id) is not None:
                continue
            try:
                create_plan_record(
                    self.emulator, {**record, "data_source_uuid": self.data_source_uuid}
                )
            except EmulatorHTTPError as exc:
                section.fail(record, http_error_fields(exc))
        self.status_details[PLANS_KEY] = self._report(section)

    def _plan(self, external_id: str) -> Row | None:
        return self.store.find_one(
            "plan", data_source_uuid=self.data_source_uuid, external_id=external_id
        )

    # ------------------------------------------------------------------ customers
    def import_customer(self, key: str) -> None:
        """Import every record of one customer and write its status entry."""
        group = self._groups[key]
        sections = {
            name: _Section(total=len(group[name]), child=name in CHILD_SECTIONS)
            for name in SECTIONS
        }
        customer = self._import_customer_records(group["customers"], sections["customers"])
        if customer is None and key != UNASSIGNED:
            customer = customer_by_external_id(self.emulator, self.data_source_uuid, key)
        self._import_invoices(customer, group, sections)
        self._import_events(group["subscription_events"], sections["subscription_events"])
        failed = any(section.failed for section in sections.values())
        entry: JSONDict = {"status": "failed" if failed else "imported"}
        entry.update({name: self._report(section) for name, section in sections.items()})
        self.status_details[key] = entry

    def _import_customer_records(self, records: list[Any], section: _Section) -> Row | None:
        customer: Row | None = None
        for record in records:
            if not isinstance(record, dict):
                section.fail(record, [(None, NOT_OBJECT)])
                continue
            external_id = _text(record, "external_id")
            existing = (
                customer_by_external_id(self.emulator, self.data_source_uuid, external_id)
                if external_id
                else None
            )
            if existing is not None:
                customer = existing
                continue
            try:
                customer = create_customer_record(
                    self.emulator, {**record, "data_source_uuid": self.data_source_uuid}
                )
            except EmulatorHTTPError as exc:
                section.fail(record, http_error_fields(exc))
        return customer

    def _import_events(self, records: list[Any], section: _Section) -> None:
        for record in records:
            if not isinstance(record, dict):
                section.fail(record, [(None, NOT_OBJECT)])
                continue
            try:
                create_subscription_event(
                    self.emulator, {**record, "data_source_uuid": self.data_source_uuid}
                )
            except EmulatorHTTPError as exc:
                section.fail(record, http_error_fields(exc))

    # ------------------------------------------------------------------ invoices
    def _import_invoices(
        self,
        customer: Row | None,
        group: dict[str, list[Any]],
        sections: dict[str, _Section],
    ) -> None:
        lines = self._by_invoice(group["line_items"])
        payments = self._by_invoice(group["transactions"])
        for record in group["invoices"]:
            invoice_id = _text(record, "external_id") or ""
            own_lines, own_payments = lines.pop(invoice_id, []), payments.pop(invoice_id, [])
            invoice = self._check_invoice(customer, record, sections["invoices"])
            if invoice is None or customer is None:
                for name, records in (("line_items", own_lines), ("transactions", own_payments)):
                    for item in records:
                        sections[name].fail(item, [("invoice_external_id", PARENT_FAILED)])
                continue
            line_values, line_problems = self._check_children(own_lines, self._check_line)
            payment_values, payment_problems = self._check_children(
                own_payments, self._check_payment
            )
            if line_problems or payment_problems:
                self._fail_invoice(
                    record,
                    sections,
                    {"line_items": (own_lines, line_problems)},
                    {"transactions": (own_payments, payment_problems)},
                )
                continue
            store_invoice(
                self.store, customer, CheckedInvoice(invoice, line_values, payment_values)
            )
        # What is left belongs to invoices stored by an earlier import, or to none at all.
        for invoice_id, records in lines.items():
            self._add_to_stored(invoice_id, records, "line_items", sections["line_items"])
        for invoice_id, records in payments.items():
            self._add_to_stored(invoice_id, records, "transactions", sections["transactions"])

    @staticmethod
    def _by_invoice(records: list[Any]) -> dict[str, list[Any]]:
        grouped: dict[str, list[Any]] = {}
        for record in records:
            grouped.setdefault(_text(record, "invoice_external_id") or "", []).append(record)
        return grouped

    def _check_invoice(
        self, customer: Row | None, record: Any, section: _Section
    ) -> JSONDict | None:
        if not isinstance(record, dict):
            section.fail(record, [(None, NOT_OBJECT)])
            return None
        problems: list[tuple[str | None, str]] = []
        if customer is None:
            message = CUSTOMER_MISSING if record.get("customer_external_id") else BLANK
            problems.append(("customer_external_id", message))
        checked = check_invoice_fields(self.ids, record)
        problems.extend(checked.errors.items())
        if problems:
            section.fail(record, problems)
            return None
        return checked.value

    def _check_all(
        self,
        records: list[Any],
        check: Callable[[JSONDict], Checked],
        section: _Section,
    ) -> list[JSONDict]:
        valid = []
        for record in records:
            if not isinstance(record, dict):
                section.fail(record, [(None, NOT_OBJECT)])
                continue
            checked = check(record)
            if checked.errors:
                section.fail(record, checked.errors.items())
            else:
                valid.append(checked.value)
        return valid

    @staticmethod
    def _check_children(
        records: list[Any], check: Callable[[JSONDict], Checked]
    ) -> tuple[list[JSONDict], dict[int, list[tuple[str | None, str]]]]:
        """Checked values of an invoice's children, and the problems of each bad one."""
        values: list[JSONDict] = []
        problems: dict[int, list[tuple[str | None, str]]] = {}
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                problems[index] = [(None, NOT_OBJECT)]
                continue
            checked = check(record)
            if checked.errors:
                problems[index] = list(checked.errors.items())
            else:
                values.append(checked.value)
        return values, problems

    @staticmethod
    def _fail_invoice(
        record: Any,
        sections: dict[str, _Section],
        *children: dict[str, tuple[list[Any], dict[int, list[tuple[str | None, str]]]]],
    ) -> None:
        """A bad child fails its whole invoice and every sibling (all-or-nothing)."""
        invoice_problems: list[tuple[str | None, str]] = []
        for child in children:
            for name, (records, problems) in child.items():
                for index, item in enumerate(records):
                    found = problems.get(index)
                    sections[name].fail(item, found or [("invoice_external_id", PARENT_FAILED)])
                    invoice_problems.extend(
                        (f"{name}.{field}" if field else name, message)
                        for field, message in found or []
                    )
        sections["invoices"].fail(record, invoice_problems)

    def _check_line(self, record: JSONDict) -> Checked:
        """A bulk line item names its plan by ``plan_external_id``."""
        payload = dict(record)
        plan_id = _text(record, "plan_external_id")
        plan = self._plan(plan_id) if plan_id else None
        if plan is not None:
            payload["plan_uuid"] = plan.uuid
        checked = check_line_item(self.ids, payload)
        if "plan_uuid" in checked.errors and "plan_uuid" not in record:
            del checked.errors["plan_uuid"]
            checked.errors["plan_external_id"] = PLAN_MISSING if plan_id else BLANK
        return checked

    def _check_payment(self, record: JSONDict) -> Checked:
        return check_transaction(self.ids, record)

    def _add_to_stored(
        self, invoice_id: str, records: list[Any], kind: str, section: _Section
    ) -> None:
        stored = self._stored_invoice(invoice_id) if invoice_id else None
        if stored is None:
            message = INVOICE_MISSING if invoice_id else BLANK
            for item in records:
                section.fail(item, [("invoice_external_id", message)])
            return
        check = self._check_line if kind == "line_items" else self._check_payment
        add = add_line_item if kind == "line_items" else add_transaction
        for value in self._check_all(records, check, section):
            add(self.store, stored, value)
            stored = self.store.get(INVOICE_KIND, stored.uuid) or stored
