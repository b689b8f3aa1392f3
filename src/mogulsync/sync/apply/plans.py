"""Plans: insert and upsert by external id (invoices' line items need their uuids)."""

from __future__ import annotations

from mogulsync.chartmogul import AlreadyExistsError, NewPlan, NotFoundError, PlanUpdate
from mogulsync.sync.apply._base import (
    ApplyContext,
    RowRejectedError,
    build,
    found_absent,
    in_doubt,
    pick,
)
from mogulsync.sync.apply.resolve import Resolver
from mogulsync.sync.diff import Prior
from mogulsync.sync.mapping import MappedRow

FIELDS = ("name", "interval_count", "interval_unit")


class PlanApplier:
    """Applies plan rows."""

    def __init__(self, context: ApplyContext, resolver: Resolver) -> None:
        self._context = context
        self._client = context.client
        self._resolver = resolver

    async def apply(self, row: MappedRow, prior: Prior | None) -> str | None:
        """Create the plan, or update it in upsert mode; its uuid."""
        external_id = str(row.payload["external_id"])
        upsert = self._context.sync.mode == "upsert"
        async with self._context.locks(f"plan:{external_id}"):
            if not upsert and prior is not None and prior.digest is not None:
                return prior.uuid  # inserted before (maybe by bulk import); never updated
            if upsert:
                changes = build(PlanUpdate, pick(row.payload, FIELDS))
                uuid = prior.uuid if prior is not None else None
                if uuid and await self._update(uuid, changes):
                    # the uuid was known (earlier run, or the bulk path's listing)
                    self._resolver.learn("plan", external_id, uuid)
                    return uuid
                found = await self._client.plans.find_by_external_id(
                    external_id, self._context.data_source_uuid
                )
                if found is not None:
                    await self._client.plans.update(found.uuid, changes)
                    self._resolver.learn("plan", external_id, found.uuid)
                    return found.uuid
                found_absent()
            elif in_doubt(prior):
                # insert, in flight: look first, so a refusal of the create below is known
                # to be one of a row that is not in ChartMogul
                found = await self._client.plans.find_by_external_id(
                    external_id, self._context.data_source_uuid
                )
                if found is not None:  # our earlier attempt landed
                    self._resolver.learn("plan", external_id, found.uuid)
                    return found.uuid
                found_absent()
            values = {"data_source_uuid": self._context.data_source_uuid, **row.payload}
            try:
                plan = await self._client.plans.create(build(NewPlan, values))
            except AlreadyExistsError as exc:
                ours = upsert or (prior is not None and prior.may_exist)
                if ours and exc.existing_uuid:
                    self._resolver.learn("plan", external_id, exc.existing_uuid)
                    return exc.existing_uuid
                if exc.earlier_attempt_unknown and not exc.existing_uuid:
                    # the holder may be this call's own lost attempt, and it could not be
                    # looked up: kept in flight, never refused as "already exists"
                    raise
                raise RowRejectedError(
                    "external_id",
                    f"a plan with external_id {external_id!r} already exists in this data source",
                    "Use mode `upsert` to update existing plans.",
                ) from None
            self._resolver.learn("plan", external_id, plan.uuid)
            return plan.uuid

    async def _update(self, uuid: str, changes: PlanUpdate) -> bool:
        """Update a plan by uuid; False when ChartMogul no longer has it."""
        try:
            await self._client.plans.update(uuid, changes)
        except NotFoundError:
            return False
        return True

    async def delete(self, prior: Prior) -> None:
        """Delete the plan of a row that left the model (and forget its uuid)."""
        if prior.ref:  # invoices must not name the deleted plan by its remembered uuid
            self._resolver.forget("plan", prior.ref)
        uuid = prior.uuid
        if not uuid and prior.ref:  # bulk-imported: only the external id is known
            found = await self._client.plans.find_by_external_id(
                prior.ref, self._context.data_source_uuid
            )
            uuid = found.uuid if found else None
        if uuid:
            try:
                await self._client.plans.delete(uuid)
            except NotFoundError:
                return
