"""Plans and plan groups: ``/v1/plans`` and ``/v1/plan_groups``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mogulsync.chartmogul._requester import JSONDict
from mogulsync.chartmogul._retry import Replay
from mogulsync.chartmogul.models import Plan, PlanGroup
from mogulsync.chartmogul.pagination import MAX_PER_PAGE, Pager
from mogulsync.chartmogul.resources._base import Resource, expect_list, first_match, parse_one

if TYPE_CHECKING:
    from mogulsync.chartmogul.inputs import NewPlan, PlanUpdate


_COLLECTION = "/plans"
_ONE = "/plans/{uuid}"
_GROUPS = "/plan_groups"
_GROUP = "/plan_groups/{uuid}"
_GROUP_PLANS = "/plan_groups/{uuid}/plans"


class Plans(Resource):
    """Plan CRUD, listing and lookup by external id."""

    async def create(self, plan: NewPlan) -> Plan:
        """A new plan.

        With an external id, a lost answer is resolved by lookup. Without one ChartMogul
        makes an id up, so nothing identifies the plan and it is not re-sent after an
        unknown outcome.
        """
        external_id = plan.external_id
        raw = await self._requester.call(
            "POST",
            _COLLECTION,
            body=plan.payload(),
            replay=Replay.UNSAFE if external_id is None else Replay.LOOKUP,
            lookup=None
            if external_id is None
            else (lambda: self._lookup(external_id, plan.data_source_uuid)),
        )
        return parse_one(Plan, _COLLECTION, raw)

    def list(
        self,
        *,
        data_source_uuid: str | None = None,
        external_id: str | None = None,
        system: str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Pager[Plan]:
        """Every plan matching the filters, page by page."""
        params = {
            "data_source_uuid": data_source_uuid,
            "external_id": external_id,
            "system": system,
        }
        return self._pager(Plan, _COLLECTION, key="plans", params=params, per_page=per_page)

    async def get(self, uuid: str) -> Plan:
        """One plan."""
        raw = await self._requester.call("GET", _ONE, path={"uuid": uuid})
        return parse_one(Plan, _ONE, raw)

    async def update(self, uuid: str, changes: PlanUpdate) -> Plan:
        """Change name or interval; the updated plan."""
        raw = await self._requester.call("PATCH", _ONE, path={"uuid": uuid}, body=changes.payload())
        return parse_one(Plan, _ONE, raw)

    async def delete(self, uuid: str) -> None:
        """Delete a plan."""
        await self._requester.call("DELETE", _ONE, path={"uuid": uuid})

    async def find_by_external_id(
        self, external_id: str, data_source_uuid: str | None = None
    ) -> Plan | None:
        """The plan with this external id (in this data source), or None."""
        found = await self._lookup(external_id, data_source_uuid)
        return parse_one(Plan, _COLLECTION, found) if found else None

    async def _lookup(self, external_id: str, data_source_uuid: str | None) -> JSONDict | None:
        raw = await self._requester.call(
            "GET",
            _COLLECTION,
            params={"data_source_uuid": data_source_uuid, "external_id": external_id},
        )
        return first_match(
            expect_list(_COLLECTION, raw, "plans"),
            external_id=external_id,
            data_source_uuid=data_source_uuid,
        )


class PlanGroups(Resource):
    """Reading plan groups and their plans."""

    def list(self, *, per_page: int = MAX_PER_PAGE) -> Pager[PlanGroup]:
        """Every plan group."""
        return self._pager(PlanGroup, _GROUPS, key="plan_groups", per_page=per_page)

    async def get(self, uuid: str) -> PlanGroup:
        """One plan group."""
        raw = await self._requester.call("GET", _GROUP, path={"uuid": uuid})
        return parse_one(PlanGroup, _GROUP, raw)

    def plans(self, uuid: str, *, per_page: int = MAX_PER_PAGE) -> Pager[Plan]:
        """The plans of a group."""
        return self._pager(Plan, _GROUP_PLANS, key="plans", path={"uuid": uuid}, per_page=per_page)
