"""Bulk path pieces without I/O: result attribution, batch packing, the spool."""

from __future__ import annotations

from typing import Any

import httpx

from mogulsync.chartmogul.models import JsonImport
from mogulsync.sync.batch import Classified
from mogulsync.sync.bulk.batches import ENVELOPE_BYTES, Batch, Group, Member, Packer
from mogulsync.sync.bulk.payloads import body_size, encoded_size, records_for
from mogulsync.sync.bulk.results import Verdict, judge
from mogulsync.sync.bulk.spool import Spool, discard_spools
from mogulsync.sync.diff import Change, Prior, RowStatus
from mogulsync.sync.mapping import CustomValue, MappedRow


def _invoice(key: str, customer: str) -> Classified:
    payload = {"external_id": key, "customer_external_id": customer, "date": "2025-01-01T00:00:00Z",
               "currency": "USD", "line_items": [{"type": "one_time", "amount_in_cents": 5}]}  # fmt: skip
    return Classified(MappedRow(key, payload, (), "d"), Change.ADDED, None)


def _batch(*items: Classified) -> Batch:
    batch = Batch()
    for item in items:
        member = Member(item, records_for("invoice", item.row))
        batch.add(Group(str(item.row.payload["customer_external_id"]), [member], 1))
    return batch


def _done(details: dict[str, Any]) -> JsonImport:
    return JsonImport(id="imp", status="completed", status_details=details)


IMPORTED = {"status": "imported"}


def test_rows_of_imported_entries_are_imported():
    """A customer entry that imported makes each of its invoices imported."""
    verdicts = judge("invoice", _batch(_invoice("i1", "c1")), _done({"c1": {"status": "imported",
                     "invoices": IMPORTED}}))  # fmt: skip
    assert verdicts["i1"].verdict is Verdict.IMPORTED


def test_a_child_error_is_pinned_on_its_invoice_and_spares_the_sibling():
    """An error naming ``invoice_external_id`` rejects that invoice only, with the field."""
    entry = {
        "status": "failed",
        "invoices": {"status": "failed", "errors": [
            {"external_id": "i1", "field": "line_items.plan_external_id", "message": "nope"}]},
        "line_items": {"status": "failed", "errors": [
            {"external_id": None, "invoice_external_id": "i1", "field": "plan_external_id",
             "message": "nope"}]},
    }  # fmt: skip
    batch = _batch(_invoice("i1", "c1"), _invoice("i2", "c1"))
    verdicts = judge("invoice", batch, _done({"c1": entry}))
    assert verdicts["i2"].verdict is Verdict.IMPORTED
    assert verdicts["i1"].verdict is Verdict.REJECTED
    # its only line item: the row's own field name, the invoice's copy of the error dropped
    assert [(p.field, p.message) for p in verdicts["i1"].problems] == [
        ("line_items[0].plan_external_id", "ChartMogul: nope")
    ]
    assert "Sync plans first" in verdicts["i1"].problems[0].action


def _lines(key: str, *lines: dict[str, Any]) -> Classified:
    item = _invoice(key, "c1")
    item.row.payload["line_items"] = list(lines)
    return item


def _line_error(child_id: str | None, field: str, message: str) -> dict[str, Any]:
    return {
        "status": "failed",
        "invoices": {"status": "failed", "errors": [
            {"external_id": "i1", "field": f"line_items.{field}", "message": message}]},
        "line_items": {"status": "failed", "errors": [
            {"external_id": child_id, "invoice_external_id": "i1", "field": field,
             "message": message},
            {"external_id": None, "invoice_external_id": "i1", "field": "invoice_external_id",
             "message": "Invoice was not imported"}]},
    }  # fmt: skip


ONE_TIME = {"type": "one_time", "amount_in_cents": 5}


def test_a_line_item_error_names_the_line_items_index_and_external_id():
    """Bulk errors say ``line_items.x`` and the child's external id: the row says which."""
    batch = _batch(_lines("i1", ONE_TIME, {**ONE_TIME, "external_id": "li-7"}, ONE_TIME))
    verdicts = judge("invoice", batch, _done({"c1": _line_error("li-7", "quantity", "bad")}))
    assert [(p.field, p.message) for p in verdicts["i1"].problems] == [
        ("line_items[1].quantity", "ChartMogul: bad (line item external_id 'li-7')")
    ]


def test_a_line_item_error_is_pinned_by_elimination():
    """No external id: the only line item without one that holds (or lacks) the field."""
    sub = {**ONE_TIME, "type": "subscription", "plan_external_id": "gold"}
    batch = _batch(_lines("i1", {**ONE_TIME, "external_id": "li-1"}, ONE_TIME, sub))
    verdicts = judge("invoice", batch, _done({"c1": _line_error(None, "plan_external_id", "x")}))
    assert [p.field for p in verdicts["i1"].problems] == ["line_items[2].plan_external_id"]
    blank = _done({"c1": _line_error(None, "description", "can't be blank")})
    verdicts = judge("invoice", _batch(_lines("i1", {**ONE_TIME, "description": "d"}, sub)), blank)
    assert [p.field for p in verdicts["i1"].problems] == ["line_items[1].description"]


def test_a_line_item_error_that_cannot_be_pinned_is_asked_over_rest():
    """Two line items could be the one refused: resent over REST rather than guessed."""
    batch = _batch(_lines("i1", ONE_TIME, ONE_TIME))
    verdicts = judge("invoice", batch, _done({"c1": _line_error(None, "quantity", "bad")}))
    assert verdicts["i1"].verdict is Verdict.RETRY


def test_failures_without_errors_send_the_entry_over_rest():
    """A failed entry that names nobody makes its rows RETRY; other entries are unaffected."""
    details = {"c1": {"status": "failed"}, "c2": {"status": "imported", "invoices": IMPORTED}}
    verdicts = judge("invoice", _batch(_invoice("i1", "c1"), _invoice("i2", "c2")), _done(details))
    assert (verdicts["i1"].verdict, verdicts["i2"].verdict) == (Verdict.RETRY, Verdict.IMPORTED)


def test_missing_entries_and_taken_ids_are_retried_not_failed():
    """No entry at all, or "already exists": resolved over REST, never a row error."""
    taken = {"status": "failed", "invoices": {"status": "failed", "errors": [
        {"external_id": "i1", "field": "external_id",
         "message": "The external ID for this invoice already exists in our system."}]}}  # fmt: skip
    verdicts = judge(
        "invoice", _batch(_invoice("i1", "c1"), _invoice("i2", "c2")), _done({"c1": taken})
    )
    assert (verdicts["i1"].verdict, verdicts["i2"].verdict) == (Verdict.RETRY, Verdict.RETRY)


def test_packer_closes_batches_on_size_and_group_count_and_never_splits_a_group():
    """Batches stay within bytes and groups; a group too big alone is flagged."""
    packer = Packer(max_bytes=ENVELOPE_BYTES + 100, max_groups=3)
    groups = [Group(f"g{i}", [], 40) for i in range(5)]
    closed = [packer.add(group) for group in groups]
    last = packer.finish()
    batches = [batch for batch in closed if batch is not None] + ([last] if last else [])
    assert [[g.key for g in b.groups] for b in batches] == [["g0", "g1"], ["g2", "g3"], ["g4"]]
    assert not packer.fits_alone(Group("huge", [], 101))
    first, second = batches[0].halves()
    assert ([g.key for g in first.groups], [g.key for g in second.groups]) == (["g0"], ["g1"])


def test_invoice_records_tie_children_to_their_invoice():
    """An invoice row becomes an invoice plus line items naming it by external id."""
    records = records_for("invoice", _invoice("i1", "c1").row)
    assert records["invoices"][0]["customer_external_id"] == "c1"
    assert records["line_items"] == [
        {"invoice_external_id": "i1", "type": "one_time", "amount_in_cents": 5}
    ]


def test_spool_returns_rows_grouped_by_key_in_insertion_order(tmp_path):
    """Rows come back grouped by key, exactly as spooled, and the file is removed."""
    spool = Spool(tmp_path, "customers")
    prior = Prior(None, RowStatus.FAILED, None, "x")
    custom = (CustomValue("plan", "String", "gold"),)
    rows = [("b", "k1"), ("a", "k2"), ("b", "k3")]
    for group, key in rows:
        spool.add(group, Classified(MappedRow(key, {"v": [1]}, custom, "d"), Change.ADDED, prior))
    grouped = [(group, [item.row.key for item in items]) for group, items in spool.groups()]
    assert grouped == [("a", ["k2"]), ("b", ["k1", "k3"])]
    [(_, [item])] = [g for g in spool.groups() if g[0] == "a"]
    assert (item.prior, item.row.custom, item.row.payload) == (prior, custom, {"v": [1]})
    assert len(spool) == len(rows)
    spool.close()
    assert not spool.path.exists()


def test_statuses_that_are_not_understood_are_not_trusted():
    """An unknown status, or ``skipped`` for records we sent, resends the rows over REST."""
    odd = {"status": "partially_imported", "invoices": {"status": "partially_imported"}}
    skipped = {"status": "imported", "invoices": {"status": "skipped"}}
    unsent = {"status": "imported", "invoices": IMPORTED, "customers": {"status": "skipped"}}
    silent = {"status": "failed", "invoices": {"status": "skipped"}}
    batch = _batch(*(_invoice(f"i{n}", f"c{n}") for n in range(4)))
    details = {"c0": odd, "c1": skipped, "c2": unsent, "c3": silent}
    verdicts = judge("invoice", batch, _done(details))
    assert [verdicts[f"i{n}"].verdict for n in range(4)] == [
        Verdict.RETRY,
        Verdict.RETRY,
        Verdict.IMPORTED,
        Verdict.RETRY,
    ]


def test_body_size_is_the_byte_length_the_client_sends_and_estimates_cover_it():
    """``body_size`` equals httpx's encoded body; records + envelope never under-count it."""
    row = MappedRow(
        "c1", {"external_id": "c1", "company": "Zürich Größe ☃", "city": "Łódź"}, (), "d"
    )
    batch = Batch()
    records = records_for("customer", row)
    batch.add(Group("c1", [Member(Classified(row, Change.ADDED, None), records)],
                    encoded_size(records)))  # fmt: skip
    request = batch.request("mogulsync-run-1")
    sent = httpx.Request("POST", "http://x/", json=request.payload()).content
    assert body_size(request) == len(sent)
    assert batch.size >= len(sent)


def test_stale_spools_of_one_sync_are_discarded_and_others_kept(tmp_path):
    """``discard_spools`` removes only the named sync's files, even for prefix-like names."""
    mine, other = Spool(tmp_path, "a"), Spool(tmp_path, "a-b")
    assert discard_spools(tmp_path, "a") == 1
    assert (mine.path.exists(), other.path.exists()) == (False, True)
    other.close()
    mine.close()
