"""The diff classifies by raw-value digest and maps only rows it will act on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mogulsync.config import parse_config
from mogulsync.config.sync import SyncConfig
from mogulsync.config.warehouse import ModelConfig
from mogulsync.sync.batch import Prepared, classify_batch, map_unchanged, prepare
from mogulsync.sync.diff import Change
from mogulsync.sync.mapping import DIGEST_FORMAT, LINE_ITEMS_KEY, MappedRow, Mapper, RowProblem
from mogulsync.sync.state import RowResult, StateStore
from mogulsync.warehouse import Column, ModelSchema

SYNC = "s"


def _schema(*names: str) -> ModelSchema:
    return ModelSchema(tuple(Column(name, "VARCHAR", "String") for name in names))


class CountingMapper(Mapper):
    """The sync's mapper, counting the rows it maps."""

    built: list[str]

    def build(self, row: Mapping[str, Any], key: str, digest: str) -> MappedRow | list[RowProblem]:
        """Map like the sync's mapper and note the key."""
        self.built.append(key)
        return super().build(row, key, digest)


def _prepared() -> Prepared:
    sync = SyncConfig(model="m", object="customer", custom_attributes="none",
                      mapping={"external_id": "id", "name": "company", "email": "mail"})  # fmt: skip
    mapper = CountingMapper(SYNC, sync, _schema("id", "company", "mail", "note"), ["id"])
    mapper.built = []
    model = ModelConfig(warehouse="w", table="t", primary_key="id")
    return Prepared(SYNC, sync, model, mapper, None, "{}")


def _row(key: str | None, company: str = "Acme", mail: str | None = "a@b.io") -> dict[str, Any]:
    return {"id": key, "company": company, "mail": mail, "note": "not mapped"}


def _accept(state: StateStore, rows: list[MappedRow]) -> None:
    state.mark_inflight(SYNC, [(row.key, row.digest, None) for row in rows])
    state.record(SYNC, [RowResult(row.key, ok=True, uuid=f"u-{row.key}") for row in rows])


def _built(prepared: Prepared) -> list[str]:
    assert isinstance(prepared.mapper, CountingMapper)
    found, prepared.mapper.built = prepared.mapper.built, []
    return found


def test_unchanged_rows_are_counted_without_being_mapped(tmp_path):
    """A re-run maps only the changed row; unchanged ones keep key and raw row, unmapped."""
    prepared, state = _prepared(), StateStore(tmp_path)
    batch = [_row("1"), _row("2"), _row("3")]
    state.start_seen()
    first = classify_batch(prepared, state, batch, full=False)
    assert [item.change for item in first.rows] == [Change.ADDED] * 3
    assert _built(prepared) == ["1", "2", "3"]
    _accept(state, [item.row for item in first.rows])
    state.start_seen()
    edited = [_row("1"), _row("2", company="Beta"), {**_row("3"), "note": "edited"}]
    again = classify_batch(prepared, state, edited, full=False)
    assert _built(prepared) == ["2"]
    assert [(item.row.key, item.change) for item in again.rows] == [("2", Change.CHANGED)]
    assert [key for key, _raw in again.unchanged] == ["1", "3"]  # `note` is not in the payload
    assert again.unchanged[0][1] is edited[0]
    samples = map_unchanged(prepared, again.unchanged)
    assert [row.payload["name"] for row in samples] == ["Acme", "Acme"]
    state.close()


def test_full_runs_and_rows_not_yet_accepted_are_mapped_and_resent(tmp_path):
    """--full maps every row; a failed or in-flight row with the same digest is CHANGED."""
    prepared, state = _prepared(), StateStore(tmp_path)
    batch = [_row("1"), _row("2"), _row("3")]
    state.start_seen()
    rows = [item.row for item in classify_batch(prepared, state, batch, full=False).rows]
    _accept(state, rows)
    state.mark_inflight(SYNC, [(row.key, row.digest, None) for row in rows[1:]])  # a resend
    state.record(SYNC, [RowResult("2", ok=False)])  # "3" stays in flight
    _built(prepared)
    state.start_seen()
    again = classify_batch(prepared, state, batch, full=False)
    assert [(item.row.key, item.change) for item in again.rows] == [
        ("2", Change.CHANGED),
        ("3", Change.CHANGED),
    ]
    assert _built(prepared) == ["2", "3"]
    state.start_seen()
    full = classify_batch(prepared, state, batch, full=True)
    assert [item.change for item in full.rows] == [Change.CHANGED, Change.CHANGED, Change.CHANGED]
    assert full.unchanged == []
    state.close()


def test_row_errors_keep_the_order_of_the_model_rows(tmp_path):
    """Null keys, invalid values and duplicate keys are reported in row order, by row number."""
    prepared, state = _prepared(), StateStore(tmp_path)
    batch = [_row("1"), _row(None), _row("2", mail="not an email"), _row("1"), _row(" ")]
    state.start_seen()
    result = classify_batch(prepared, state, batch, full=False)
    assert result.invalid_rows == 4
    assert [(error.key, error.field) for error in result.invalid] == [
        ("row 2 (primary key is null)", "id"),
        ("2", "email"),
        ("1", "id"),
        ("row 5 (primary key is null)", "id"),
    ]
    assert result.invalid[2].message == (
        "duplicate primary key '1' (rows 1 and 4): row 1 was kept and synced, row 4 skipped"
    )
    assert result.invalid[0].message == (  # two or three other values help find the row
        "primary key id is null or blank"
        " (the row with company='Acme', mail='a@b.io', note='not mapped')"
    )
    assert [item.row.key for item in result.rows] == ["1"]
    state.close()


def test_row_numbers_count_across_batches(tmp_path):
    """A later batch's rows are numbered from ``first_row``; the kept row may be in an earlier
    batch (its number comes from the run's seen keys)."""
    prepared, state = _prepared(), StateStore(tmp_path)
    state.start_seen()
    classify_batch(prepared, state, [_row("1"), _row("2"), _row("3")], full=False)
    later = classify_batch(
        prepared, state, [_row("4"), _row(None), _row("2")], full=False, first_row=4
    )
    assert [error.key for error in later.invalid] == ["row 5 (primary key is null)", "2"]
    assert "(rows 2 and 6): row 2 was kept and synced, row 6 skipped" in later.invalid[1].message
    state.close()


def test_a_changed_row_that_became_invalid_is_a_row_error(tmp_path):
    """Changed rows are validated before any send; the snapshot keeps the accepted digest."""
    prepared, state = _prepared(), StateStore(tmp_path)
    state.start_seen()
    first = classify_batch(prepared, state, [_row("1")], full=False)
    _accept(state, [item.row for item in first.rows])
    state.start_seen()
    again = classify_batch(prepared, state, [_row("1", mail="nope")], full=False)
    assert (again.rows, again.unchanged, again.invalid_rows) == ([], [], 1)
    assert again.invalid[0].field == "email"
    assert state.priors(SYNC, ["1"])["1"].digest == first.rows[0].row.digest
    state.close()


def test_the_digest_covers_exactly_the_columns_the_payload_is_made_of():
    """Mapped, custom-attribute, JSON and attached line-item columns, sorted; nothing else."""
    customer = SyncConfig(model="m", object="customer", custom_attributes=["seats"],
                          mapping={"external_id": "id", "name": "company"})  # fmt: skip
    mapper = Mapper(SYNC, customer, _schema("id", "company", "seats", "other"), ["id"])
    assert mapper.digest_columns == ("company", "id", "seats")
    invoice = SyncConfig(model="m", object="invoice", mode="insert", transactions_column="txs",
                         line_items={"model": "lines", "join_key": "invoice_id"},
                         mapping={"external_id": "id", "customer_external_id": "acct",
                                  "date": "day", "currency": "cur"})  # fmt: skip
    mapper = Mapper(SYNC, invoice, _schema("id", "acct", "day", "cur", "txs", "other"), ["id"])
    assert mapper.digest_columns == (LINE_ITEMS_KEY, "acct", "cur", "day", "id", "txs")
    row = {"id": "i1", "acct": "a1", "day": "2025-01-01", "cur": "USD", "txs": None,
           LINE_ITEMS_KEY: []}  # fmt: skip
    with_line = {**row, LINE_ITEMS_KEY: [{"type": "one_time", "amount_in_cents": 5}]}
    assert mapper.row_digest(row) != mapper.row_digest(with_line)
    assert mapper.row_digest(row) == mapper.row_digest({**row, "other": "x"})
    without = {key: value for key, value in row.items() if key != LINE_ITEMS_KEY}
    assert mapper.row_digest(without) == mapper.row_digest({**row, LINE_ITEMS_KEY: None})


@pytest.mark.parametrize(("state", "versioned"), [("embedded", True), ("warehouse", False)])
def test_the_definition_names_the_digest_format_of_embedded_snapshots(tmp_path, state, versioned):
    """Embedded snapshots of an older digest format read as a definition change (one resend)."""
    config = parse_config(
        {
            "chartmogul": {"api_key": "${K}"},
            "warehouses": {"main": f"duckdb:///{tmp_path / 'w.duckdb'}"},
            "models": {"m": {"warehouse": "main", "table": "t", "primary_key": "id"}},
            "syncs": {SYNC: {"model": "m", "object": "customer", "state": state,
                             "mapping": {"external_id": "id"}}},
        },
        env={"K": "key"},
    )  # fmt: skip
    prepared = prepare(config, SYNC, None, _schema("id"))  # type: ignore[arg-type]
    assert (DIGEST_FORMAT in prepared.definition) is versioned
    store = StateStore(tmp_path)
    old = prepared.definition.replace(f', "digest": "{DIGEST_FORMAT}"', "")
    store.save_definition(SYNC, old)
    assert store.definition_changed(SYNC, prepared.definition) is versioned
    store.close()
