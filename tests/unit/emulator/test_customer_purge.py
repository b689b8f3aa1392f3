"""Deleting the CRM objects of many customers at once (a data source delete) goes through
SQLite in slices: one ``IN (...)`` over every customer exceeded the bound-parameter limit."""

from __future__ import annotations

import sqlite3

from mogulsync.emulator.routes._customer_purge import CRM_KINDS, delete_crm_objects
from mogulsync.emulator.store import Store


def _bind_limit() -> int:
    """This SQLite build's limit on bound parameters (32,766 by default; builds differ)."""
    with sqlite3.connect(":memory:") as db:
        return db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


def test_crm_objects_of_more_customers_than_sqlite_binds_are_deleted() -> None:
    """Every object of the named customers goes; another customer's stay."""
    many = _bind_limit() + 1
    store = Store()
    owners = frozenset(f"cus_{index}" for index in range(many))
    for kind in CRM_KINDS:
        store.insert(kind, f"{kind}-first", {}, parent_uuid="cus_0")
        store.insert(kind, f"{kind}-last", {}, parent_uuid=f"cus_{many - 1}")
        store.insert(kind, f"{kind}-kept", {}, parent_uuid="cus_other")

    delete_crm_objects(store, owners)

    for kind in CRM_KINDS:
        assert [row.uuid for row in store.find(kind)] == [f"{kind}-kept"]
