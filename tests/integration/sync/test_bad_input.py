"""A fixture model with more than 30 kinds of bad values: each bad row gets a clear error
naming the field, and every good row lands."""

from __future__ import annotations

import json

import duckdb
import pytest
from tests.integration.sync._support import (
    all_pages,
    api,
    engine,
    errors_by_key,
    project,
)

pytestmark = pytest.mark.anyio
LONG = "x" * 256

# (primary key, ext, name, email, country, lead_created_at, website, owner, seats, score,
#  vip, renewal, segment, tags, city) -> the field the error must name (None: a good row)
CUSTOMERS = [
    (("g1", "g1", "Good One", "a@b.io", "US", "2024-01-01", "https://a.io", None, "3", "1.5",
      "true", "2025-01-01", "smb", "a,b", "Paris"), None),
    (("g2", "g2", "Zoë 日本 🚀", None, "gb", None, None, None, None, None, None, None, None,
      None, None), None),
    ((None, "n1", "Null key", None, None, None, None, None, None, None, None, None, None,
      None, None), "id"),
    (("  ", "n2", "Blank key", None, None, None, None, None, None, None, None, None, None,
      None, None), "id"),
    (("g1", "dup", "Duplicate key", None, None, None, None, None, None, None, None, None, None,
      None, None), "id"),
    (("b1", None, "No external id", None, None, None, None, None, None, None, None, None, None,
      None, None), "external_id"),
    (("b2", "b2", "Bad email", "not-an-email", None, None, None, None, None, None, None, None,
      None, None, None), "email"),
    (("b3", "b3", "Bad owner", None, None, None, None, "owner@", None, None, None, None, None,
      None, None), "owner"),
    (("b4", "b4", "Alpha-3 country", None, "USA", None, None, None, None, None, None, None, None,
      None, None), "country"),
    (("b5", "b5", "Unknown country", None, "XX", None, None, None, None, None, None, None, None,
      None, None), "country"),
    (("b6", "b6", "Words as date", None, None, "yesterday", None, None, None, None, None, None,
      None, None, None), "lead_created_at"),
    (("b7", "b7", "Impossible date", None, None, "2024-02-30", None, None, None, None, None,
      None, None, None, None), "lead_created_at"),
    (("b8", "b8", "Bad URL", None, None, None, "not a url", None, None, None, None, None, None,
      None, None), "website_url"),
    (("b9", "b9", LONG, None, None, None, None, None, None, None, None, None, None, None, None),
     "name"),
    (("b10", "b10", "Control char", None, None, None, None, None, None, None, None, None, None,
      None, "Pa\x00ris"), "city"),
    (("b11", "b11", "Bell char", None, None, None, None, None, None, None, None, None, None,
      None, "a\x07b"), "city"),
    (("b12", "b12", "String in Integer", None, None, None, None, None, "ten", None, None, None,
      None, None, None), "attributes.custom.seats"),
    (("b13", "b13", "Fraction in Integer", None, None, None, None, None, "3.5", None, None, None,
      None, None, None), "attributes.custom.seats"),
    (("b14", "b14", "NaN decimal", None, None, None, None, None, None, "NaN", None, None, None,
      None, None), "attributes.custom.score"),
    (("b15", "b15", "Text decimal", None, None, None, None, None, None, "lots", None, None,
      None, None, None), "attributes.custom.score"),
    (("b16", "b16", "Maybe boolean", None, None, None, None, None, None, None, "maybe", None,
      None, None, None), "attributes.custom.vip"),
    (("b17", "b17", "Bad timestamp attr", None, None, None, None, None, None, None, None,
      "soon", None, None, None), "attributes.custom.renewal"),
    (("b18", "b18", "Long string attr", None, None, None, None, None, None, None, None, None,
      LONG, None, None), "attributes.custom.segment"),
    (("b19", "b19", "Broken tags JSON", None, None, None, None, None, None, None, None, None,
      None, "[unclosed", None), "tags"),
]  # fmt: skip

_SUB = {"type": "subscription", "plan_external_id": "p1", "subscription_external_id": "s",
        "service_period_start": "2025-01-01", "service_period_end": "2025-02-01",
        "amount_in_cents": 100}  # fmt: skip


def _lines(**change):
    return json.dumps([{**_SUB, **change}])


# (id, customer, date, currency, lines json, payments json) -> field named by the error
INVOICES = [
    (("i-good", "g1", "2025-01-01", "usd", _lines(), None), None),
    (("i-good2", "g2", "2025-01-01", "EUR", _lines(subscription_external_id="s2"),
      json.dumps([{"type": "refund", "result": "failed", "date": "2025-01-02"}])), None),
    (("i1", "g1", "2025-01-01", "XYZ", _lines(), None), "currency"),
    (("i2", "g1", "2025-01-01", "dollars", _lines(), None), "currency"),
    (("i3", "g1", "2025-01-01", "USD", _lines(quantity=-2), None), "line_items[0].quantity"),
    (("i4", "g1", "2025-01-01", "USD", _lines(amount_in_cents=10.5), None),
     "line_items[0].amount_in_cents"),
    (("i5", "g1", "2025-01-01", "USD", _lines(amount_in_cents="abc"), None),
     "line_items[0].amount_in_cents"),
    (("i6", "g1", "2025-01-01", "USD", _lines(service_period_end="2024-12-01"), None),
     "line_items[0].service_period_end"),
    (("i7", "g1", "2025-01-01", "USD", _lines(plan_external_id=None), None),
     "line_items[0].plan_external_id"),
    (("i8", "g1", "2025-01-01", "USD", _lines(type="rental"), None), "line_items[0].type"),
    (("i9", "g1", "01/02/2025", "USD", _lines(), None), "date"),
    (("i10", "g1", "2025-01-01", "USD", "not json", None), "line_items"),
    (("i11", "g1", "2025-01-01", "USD", _lines(amount=5), None), "line_items[0].amount"),
    (("i12", "g1", "2025-01-01", "USD", _lines(tax_amount_in_cents=-1), None),
     "line_items[0].tax_amount_in_cents"),
    (("i13", "g1", "2025-01-01", "USD", _lines(),
      json.dumps([{"type": "payment", "result": "ok", "date": "2025-01-02"}])),
     "transactions[0].result"),
    (("i14", None, "2025-01-01", "USD", _lines(), None), "customer_external_id"),
    (("i15", "g1", "2025-01-01", "USD", _lines(),
      json.dumps([{"type": "payment", "result": "successful"}])), "transactions[0].date"),
    (("i16", "g1", "2025-01-01", None, _lines(), None), "currency"),
]  # fmt: skip


@pytest.fixture
def config(emulator_server, tmp_path):
    path = tmp_path / "bad.duckdb"
    db = duckdb.connect(str(path))
    db.execute(
        "create table accounts(id varchar, ext varchar, name varchar, email varchar,"
        " country varchar, lead_created_at varchar, website varchar, owner varchar,"
        " seats varchar, score varchar, vip varchar, renewal varchar, segment varchar,"
        " tags varchar, city varchar)"
    )
    db.executemany(f"insert into accounts values ({','.join('?' * 15)})", [r for r, _ in CUSTOMERS])
    db.execute("create table plans(id varchar, name varchar, interval_count integer,"
               " interval_unit varchar)")  # fmt: skip
    db.execute("insert into plans values ('p1','Plan',1,'month')")
    db.execute("create table invoices(id varchar, account varchar, date varchar,"
               " currency varchar, lines varchar, payments varchar)")  # fmt: skip
    db.executemany("insert into invoices values (?,?,?,?,?,?)", [r for r, _ in INVOICES])
    db.close()
    return project(
        emulator_server,
        tmp_path,
        f"duckdb:///{path}",
        {
            "accounts": {"table": "accounts", "primary_key": "id"},
            "plans": {"table": "plans", "primary_key": "id"},
            "invoices": {"table": "invoices", "primary_key": "id"},
        },
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "W",
                "mapping": {"external_id": "ext", "website_url": "website"},
                "custom_attribute_types": {
                    "seats": "Integer",
                    "score": "Decimal",
                    "vip": "Boolean",
                    "renewal": "Timestamp",
                },
            },
            "plans": {
                "model": "plans",
                "object": "plan",
                "data_source": "W",
                "mapping": {"external_id": "id"},
            },
            "invoices": {
                "model": "invoices",
                "object": "invoice",
                "mode": "insert",
                "data_source": "W",
                "mapping": {"external_id": "id", "customer_external_id": "account"},
                "line_items": {"column": "lines"},
                "transactions_column": "payments",
            },
        },
    )


async def test_every_bad_row_is_named_and_every_good_row_lands(emulator_server, tmp_path, config):
    """Each bad row fails with its field named; good rows (unicode included) land."""
    kinds = [field for _, field in CUSTOMERS + INVOICES if field is not None]
    assert len(kinds) >= 30
    customers = await engine(config).run("customers")
    await engine(config).run("plans")
    invoices = await engine(config).run("invoices")
    assert customers.status.value == invoices.status.value == "partial"
    for record, rows in ((customers, CUSTOMERS), (invoices, INVOICES)):
        errors = errors_by_key(tmp_path / "state", record)
        for number, (values, field) in enumerate(rows, start=1):
            if field is None:
                continue
            key = values[0] if values[0] and values[0].strip() else ""
            if not key:  # named by its row number in the model (inserted in this order)
                key = f"row {number} (primary key is null)"
            if values[1] == "dup":
                key = "g1"
            found = [f for f, _message, _action in errors.get(key, [])]
            assert field in found, (values[:3], field, errors.get(key))
            assert all(action for _f, _m, action in errors[key])
    with api(emulator_server) as client:
        landed = {c["external_id"]: c for c in all_pages(client, "/customers", "entries")}
        invoices_landed = {i["external_id"] for i in all_pages(client, "/invoices", "invoices")}
    assert set(landed) == {"g1", "g2"}
    assert landed["g2"]["name"] == "Zoë 日本 🚀"
    assert landed["g2"]["country"] == "GB"
    assert invoices_landed == {"i-good", "i-good2"}
    assert customers.rows.failed == len([1 for _, f in CUSTOMERS if f])
