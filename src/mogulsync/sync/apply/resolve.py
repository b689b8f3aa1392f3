"""Find ChartMogul uuids of parents by external id: memory, then the state registry, then API.

Invoices need their customer's uuid and their plans' uuids, transactions their invoice's,
contacts their customer's. A run looks each up once (rows of the same parent wait on one
keyed lock) and remembers what it learnt in the state registry for later runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mogulsync.sync.apply._base import ApplyContext, RowRejectedError

#: what to do when a row names a customer that is not in ChartMogul yet
SYNC_CUSTOMERS_FIRST = (
    "Sync customers first (run the customer sync before this one), then re-run; the row is"
    " retried on every run."
)

#: what names a parent in a row (the field ends with it) → the registry's kind
PARENT_FIELDS = {
    "customer_external_id": "customer",
    "plan_external_id": "plan",
    "invoice_external_id": "invoice",
}
#: the registry kind of a tombstone: ``plan:deleted`` holds the uuid of a plan found deleted
#: in ChartMogul, so the message says so on every run until the record is seen again
TOMBSTONE = ":deleted"

Finder = Callable[[str], Awaitable[str | None]]


class Resolver:
    """uuid lookups with a per-run cache and the persistent registry."""

    def __init__(self, context: ApplyContext) -> None:
        self._context = context
        self._cache: dict[tuple[str, str], str] = {}
        #: (kind, external id) → the uuid ChartMogul no longer has (found stale, or a tombstone)
        self._gone: dict[tuple[str, str], str] = {}

    async def customer(self, external_id: str) -> str | None:
        """The uuid of the data source's customer with this external id."""

        async def find(ext: str) -> str | None:
            found = await self._context.client.customers.find_by_external_id(
                ext, self._context.data_source_uuid
            )
            return found.uuid if found else None

        return await self._resolve("customer", external_id, find)

    async def parent_customer(self, payload: Mapping[str, Any]) -> str:
        """The customer a contact or invoice row belongs to, by uuid or external id.

        Raises a row error saying to sync customers first when it does not exist.
        """
        if "customer_uuid" in payload:
            return str(payload["customer_uuid"])
        external_id = str(payload["customer_external_id"])
        uuid = await self.customer(external_id)
        if uuid is None:
            if self.was_deleted("customer", external_id):
                raise self.gone_error("customer", external_id, "customer_external_id")
            raise RowRejectedError(
                "customer_external_id",
                f"no customer with external_id {external_id!r} in this data source",
                SYNC_CUSTOMERS_FIRST,
            )
        return uuid

    async def plan(self, external_id: str) -> str | None:
        """The uuid of the data source's plan with this external id."""

        async def find(ext: str) -> str | None:
            found = await self._context.client.plans.find_by_external_id(
                ext, self._context.data_source_uuid
            )
            return found.uuid if found else None

        return await self._resolve("plan", external_id, find)

    async def invoice(self, external_id: str) -> str | None:
        """The uuid of the data source's invoice with this external id."""

        async def find(ext: str) -> str | None:
            found = await self._context.client.invoices.find_by_external_id(
                ext, data_source_uuid=self._context.data_source_uuid
            )
            return found.uuid if found else None

        return await self._resolve("invoice", external_id, find)

    def learn(self, kind: str, external_id: str, uuid: str) -> None:
        """Remember a uuid we created or found."""
        source = self._context.data_source_uuid
        self._cache[(kind, external_id)] = uuid
        self._context.state.remember_uuids([(kind, source, external_id, uuid)])

    def forget(self, kind: str, external_id: str, *, gone: str | None = None) -> None:
        """Drop a uuid that turned out stale (``gone``: the uuid ChartMogul no longer has,
        kept as a tombstone) or whose record our sync deleted (``gone`` None: no tombstone)."""
        state, source = self._context.state, self._context.data_source_uuid
        self._cache.pop((kind, external_id), None)
        if gone is not None:
            # the tombstone first: a crash between the two writes leaves the stale uuid,
            # found stale again next run, never the record forgotten without its tombstone
            self._gone[(kind, external_id)] = gone
            state.remember_uuids([(kind + TOMBSTONE, source, external_id, gone)])
        else:
            self._forget_tombstone(kind, external_id)
        state.forget_uuid(kind, source, external_id)

    def was_deleted(self, kind: str, external_id: str) -> bool:
        """Whether the record's remembered uuid was found gone from ChartMogul (this run or
        an earlier one, and not seen since)."""
        key = (kind, external_id)
        if key not in self._gone:
            source = self._context.data_source_uuid
            tombstone = self._context.state.known_uuid(kind + TOMBSTONE, source, external_id)
            if tombstone is None:
                return False
            self._gone[key] = tombstone
        return True

    def missing_delivered(self, kind: str, external_id: str, field: str) -> RowRejectedError | None:
        """The row error for a record ChartMogul reports missing by external id (the bulk
        import) when the registry says we delivered it: it was deleted in ChartMogul."""
        source = self._context.data_source_uuid
        known = self._context.state.known_uuid(kind, source, external_id)
        if known is not None:
            self.forget(kind, external_id, gone=known)
        if not self.was_deleted(kind, external_id):
            return None
        return self.gone_error(kind, external_id, field)

    def gone_error(self, kind: str, external_id: str, field: str) -> RowRejectedError:
        """The row error for a parent deleted in ChartMogul and not re-created since."""
        owner = self._context.owners.get(kind)
        name = owner or f"<{kind} sync>"
        return RowRejectedError(
            field,
            f"the {kind} with external_id {external_id!r} was deleted in ChartMogul (its uuid"
            f" {self._gone[(kind, external_id)]} no longer exists) and no {kind} has that"
            " external_id in this data source now",
            f"Re-create it: `mogulsync reconcile {name} --adopt` (it finds the {kind} missing),"
            f" then `mogulsync sync run {name}`; this row is retried on every run.",
        )

    async def _resolve(self, kind: str, external_id: str, find: Finder) -> str | None:
        key = (kind, external_id)
        if key in self._cache:
            return self._cache[key]
        async with self._context.locks(f"resolve:{kind}:{external_id}"):
            if key in self._cache:
                return self._cache[key]
            source = self._context.data_source_uuid
            known = self._context.state.known_uuid(kind, source, external_id)
            if known is None:
                known = await find(external_id)
                if known is None:
                    return None
                self._context.state.remember_uuids([(kind, source, external_id, known)])
                self._forget_tombstone(kind, external_id)  # seen again: no longer deleted
            self._cache[key] = known
            return known

    def _forget_tombstone(self, kind: str, external_id: str) -> None:
        self._gone.pop((kind, external_id), None)
        source = self._context.data_source_uuid
        self._context.state.forget_uuid(kind + TOMBSTONE, source, external_id)
