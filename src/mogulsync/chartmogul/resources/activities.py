"""Activities (MRR movements): ``/v1/activities`` and a customer's activities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from mogulsync.chartmogul.models import Activity, reader
from mogulsync.chartmogul.pagination import MAX_PER_PAGE, PageMode, Pager
from mogulsync.chartmogul.resources._base import Resource

if TYPE_CHECKING:
    from mogulsync.chartmogul.inputs import Timestamp


_COLLECTION = "/activities"
_OF_CUSTOMER = "/customers/{uuid}/activities"

ActivityType = Literal["new_biz", "expansion", "contraction", "churn", "reactivation"]
ActivityOrder = Literal["date", "-date"]


class Activities(Resource):
    """Reading activities."""

    def list(
        self,
        *,
        start_date: Timestamp | None = None,
        end_date: Timestamp | None = None,
        activity_type: ActivityType | None = None,
        order: ActivityOrder | None = None,
        per_page: int = MAX_PER_PAGE,
        start_after_mode: bool = False,
    ) -> Pager[Activity]:
        """Every activity matching the filters.

        ``start_after_mode`` pages with the legacy ``start-after=<uuid>`` anchor instead
        of the cursor.
        """
        params = {
            "start-date": start_date.isoformat() if start_date else None,
            "end-date": end_date.isoformat() if end_date else None,
            "type": activity_type,
            "order": order,
        }
        return Pager(
            self._requester,
            _COLLECTION,
            key="entries",
            parse=reader(Activity, _COLLECTION),
            params=params,
            per_page=per_page,
            mode=PageMode.START_AFTER if start_after_mode else PageMode.CURSOR,
        )

    def for_customer(self, customer_uuid: str, *, per_page: int = MAX_PER_PAGE) -> Pager[Activity]:
        """One customer's activities."""
        return self._pager(
            Activity, _OF_CUSTOMER, key="entries", path={"uuid": customer_uuid}, per_page=per_page
        )
