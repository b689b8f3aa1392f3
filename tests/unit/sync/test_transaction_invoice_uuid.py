"""A standalone transaction names its invoice by external id or by ChartMogul uuid."""

from __future__ import annotations

from mogulsync.config.sync import SyncConfig
from mogulsync.reconcile.compare import actual, differences, expected
from mogulsync.sync.batch import Classified
from mogulsync.sync.bulk.eligibility import bulk_group
from mogulsync.sync.diff import Change
from mogulsync.sync.fields import INLINE_TRANSACTION, required_fields
from mogulsync.sync.mapping import MappedRow

SYNC = SyncConfig(model="payments", object="transaction", mode="insert")
BASE = {"external_id": "t1", "type": "payment", "result": "successful", "date": "2025-01-02"}


def _added(payload: dict[str, str]) -> Classified:
    return Classified(MappedRow("t1", payload, (), "d"), Change.ADDED, None)


def test_either_invoice_reference_satisfies_the_required_fields() -> None:
    """`invoice_external_id` or `invoice_uuid` is required, like an invoice's customer."""
    assert required_fields("transaction", "insert", "external_id")[0] == (
        "invoice_external_id",
        "invoice_uuid",
    )
    assert "invoice_uuid" not in INLINE_TRANSACTION  # inline ones live inside their invoice


def test_rows_naming_the_invoice_by_uuid_go_over_rest() -> None:
    """The bulk import names invoices by external id only: uuid rows are sent over REST."""
    by_uuid = _added({**BASE, "invoice_uuid": "inv_1"})
    by_external_id = _added({**BASE, "invoice_external_id": "i1"})
    assert bulk_group(SYNC, by_uuid) is None
    assert bulk_group(SYNC, by_external_id) == "i1"


def test_reconcile_sees_a_transaction_on_another_invoice() -> None:
    """The invoice uuid a row names is compared with the invoice holding the transaction."""
    want = expected("transaction", MappedRow("t1", {**BASE, "invoice_uuid": "inv_1"}, (), "d"))
    held = {**BASE, "invoice_external_id": "i2", "invoice_uuid": "inv_2"}
    assert differences(want, actual("transaction", held)) == {"invoice_uuid": ("inv_2", "inv_1")}
    same = {**held, "invoice_uuid": "inv_1"}
    assert differences(want, actual("transaction", same)) == {}
