"""Helpers of the model-based extract test: an account to change, and warehouse snapshots.

A snapshot is every table of a dataset as a multiset of rows, dlt's bookkeeping columns
left out and child rows tied to their parent's primary key instead of dlt's row ids, so a
table loaded incrementally can be compared with one loaded by a single full refresh.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.streams import STREAMS

#: a table's rows: each row is its (column, value) pairs without nulls, as sorted JSON
Rows = Counter[str]
Snapshot = dict[str, Rows]
#: dlt's own columns, which differ between loads by design
_DLT_COLUMNS = frozenset({"_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_root_id"})


@dataclass(frozen=True, slots=True)
class Warehouse:
    """One dataset in a DuckDB file or in PostgreSQL."""

    kind: str  # "duckdb" or "postgres"
    destination: str
    dataset: str
    #: psycopg's connection string (PostgreSQL only)
    dsn: str = ""

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of ``sql``."""
        if self.kind == "duckdb":
            location = self.destination.removeprefix("duckdb:///")
            with duckdb.connect(location, read_only=True) as con:
                cursor = con.execute(sql)
                names = [column[0] for column in cursor.description or []]
                return names, cursor.fetchall()
        with psycopg.connect(self.dsn) as con:
            pg_cursor = con.execute(sql)  # type: ignore[arg-type]  # built from our own names
            names = [column.name for column in pg_cursor.description or []]
            return names, pg_cursor.fetchall()

    def tables(self) -> list[str]:
        """The dataset's tables (dlt's own excluded)."""
        _, rows = self.query(
            "SELECT table_name FROM information_schema.tables"
            f" WHERE table_schema = '{self.dataset}'"
        )
        return sorted(str(row[0]) for row in rows if not str(row[0]).startswith("_dlt"))

    def exists(self) -> bool:
        """Whether the dataset holds any table yet."""
        if self.kind == "duckdb" and not Path(self.destination.removeprefix("duckdb:///")).exists():
            return False
        return bool(self.tables())

    def snapshot(self) -> Snapshot:
        """Every table's rows, comparable across loads (see the module's docstring)."""
        tables = self.tables()
        identity: dict[str, str] = {}  # _dlt_id -> the row's key, for its child rows
        found: Snapshot = {}
        # parents before children: a child table's name extends its parent's
        for table in sorted(tables, key=lambda name: name.count("__")):
            names, rows = self.query(f"SELECT * FROM {self.dataset}.{table}")
            keys = STREAMS[table].primary_key if table in STREAMS else ()
            counted: Rows = Counter()
            for row in rows:
                values = dict(zip(names, row, strict=True))
                own = {
                    name: _plain(value)
                    for name, value in values.items()
                    if name not in _DLT_COLUMNS and value is not None
                }
                if "_dlt_parent_id" in values:
                    own["_parent"] = identity.get(str(values["_dlt_parent_id"]), "?")
                    key = json.dumps([own["_parent"], own.get("_dlt_list_idx")])
                else:
                    key = json.dumps([table, *(own.get(name) for name in keys)])
                identity[str(values.get("_dlt_id"))] = key
                counted[json.dumps(own, sort_keys=True)] += 1
            if counted:
                found[table] = counted
        return found

    def loaded_rows(self, table: str, load_id: str) -> int:
        """Rows of ``table`` written by the load ``load_id``."""
        _, rows = self.query(
            f"SELECT count(*) FROM {self.dataset}.{table} WHERE _dlt_load_id = '{load_id}'"
        )
        return int(rows[0][0])


def _plain(value: object) -> object:
    """A value as JSON can hold it (timestamps and decimals by their text)."""
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)


def keys_of(snapshot: Snapshot, table: str, key: str) -> dict[str, str]:
    """Each row's ``key`` → the row, for one table of a snapshot."""
    found: dict[str, str] = {}
    for row in snapshot.get(table, Counter()):
        found[str(json.loads(row)[key])] = row
    return found


def differences(left: Snapshot, right: Snapshot) -> Iterator[str]:
    """What one snapshot holds and the other does not, table by table (readable)."""
    for table in sorted(set(left) | set(right)):
        extra = left.get(table, Counter()) - right.get(table, Counter())
        missing = right.get(table, Counter()) - left.get(table, Counter())
        for row in extra:
            yield f"{table}: only incremental: {row}"
        for row in missing:
            yield f"{table}: only full refresh: {row}"


@dataclass
class Account:
    """The emulated ChartMogul account the machine changes, with its driven clock."""

    server: EmulatorServer
    api: httpx.Client
    now: dt.datetime
    sources: list[str] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)  # data source -> plan uuid
    #: customer uuid -> its data source
    customers: dict[str, str] = field(default_factory=dict)
    #: customers with an invoice: their activities would be rewritten by a merge or delete
    paying: set[str] = field(default_factory=set)
    events: list[int] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    serial: int = 0

    def next_key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial:04d}"

    def stamp(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%SZ")

    def set_clock(self, moment: dt.datetime) -> None:
        self.now = moment
        self.server.emulator.drive_clock(moment)

    def post(self, path: str, body: object) -> Any:
        answer = self.api.post(path, json=body)
        assert answer.status_code < 300, (path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def patch(self, path: str, body: object) -> Any:
        answer = self.api.patch(path, json=body)
        assert answer.status_code < 300, (path, answer.status_code, answer.text)
        return answer.json()

    def delete(self, path: str, body: object = None) -> None:
        answer = self.api.request("DELETE", path, json=body)
        assert answer.status_code < 300, (path, answer.status_code, answer.text)

    def add_source(self) -> str:
        source = str(self.post("/data_sources", {"name": self.next_key("Billing")})["uuid"])
        plan = {
            "data_source_uuid": source,
            "name": "Pro",
            "interval_count": 1,
            "interval_unit": "month",
            "external_id": self.next_key("plan"),
        }
        self.plans[source] = str(self.post("/plans", plan)["uuid"])
        self.sources.append(source)
        return source

    def add_customer(self, source: str, *, tags: list[str], seats: int) -> str:
        key = self.next_key("cus")
        body = {
            "data_source_uuid": source,
            "external_id": key,
            "name": f"Customer {key}",
            "email": f"{key}@example.com",
            "attributes": {
                "tags": tags,
                "custom": [{"type": "Integer", "key": "seats", "value": seats}],
            },
        }
        uuid = str(self.post("/customers", body)["uuid"])
        self.customers[uuid] = source
        return uuid

    def invoice(self, customer: str, amount: int, months: int, subscription: str = "") -> str:
        """An invoice dated now for ``months`` months of a new subscription (or of the one
        whose external id is ``subscription``: a plan change); the subscription's id."""
        source = self.customers[customer]
        new = not subscription
        key = subscription or self.next_key("sub")
        end = self.now + dt.timedelta(days=30 * months)
        line = {
            "type": "subscription",
            "subscription_external_id": key,
            "plan_uuid": self.plans[source],
            "service_period_start": self.stamp(),
            "service_period_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "amount_in_cents": amount,
            "external_id": self.next_key(f"li-{key}"),
        }
        invoice = {
            "external_id": self.next_key(f"inv-{key}"),
            "date": self.stamp(),
            "currency": "USD",
            "line_items": [line],
            "transactions": [{"type": "payment", "result": "successful", "date": self.stamp()}],
        }
        self.post(f"/import/customers/{customer}/invoices", {"invoices": [invoice]})
        self.paying.add(customer)
        subscriptions = self.api.get(f"/import/customers/{customer}/subscriptions").json()
        for entry in subscriptions["subscriptions"]:
            if entry["external_id"] == key and new:
                self.subscriptions.append(str(entry["uuid"]))
        return key

    def event(self, customer: str, amount: int) -> None:
        """A subscription event dated now for ``customer``'s data source."""
        source = self.customers[customer]
        found = self.api.get(f"/customers/{customer}").json()
        body = {
            "subscription_event": {
                "data_source_uuid": source,
                "customer_external_id": found["external_id"],
                "subscription_external_id": self.next_key("evsub"),
                "plan_external_id": "none",
                "event_type": "subscription_start",
                "event_date": self.stamp(),
                "effective_date": self.stamp(),
                "external_id": self.next_key("ev"),
                "currency": "USD",
                "amount_in_cents": amount,
                "quantity": 1,
            }
        }
        self.events.append(int(self.post("/subscription_events", body)["id"]))

    def forget_deleted_events(self) -> None:
        """Drop from ``events`` those ChartMogul no longer lists (deleted with a customer)."""
        listed: set[int] = set()
        params: dict[str, object] = {"per_page": 200}
        while True:
            page = self.api.get("/subscription_events", params=params).json()
            listed.update(int(event["id"]) for event in page["subscription_events"])
            if not page["has_more"]:
                break
            params["cursor"] = page["cursor"]
        self.events = [event for event in self.events if event in listed]
