"""Plan groups and activities exports through the client."""

from __future__ import annotations

import time
from typing import Any

import chartmogul
import httpx
from tests.conformance._support import api_failure, bill_two_customers, create_plan

EXPORT_DEADLINE_S = 60.0
POLL_INTERVAL_S = 0.02


def test_plan_group_lifecycle(cm: chartmogul.Config, ds: Any, plan: Any) -> None:
    """Plan groups are created from plans, listed, show their plans, change and go."""
    yearly = create_plan(
        cm,
        ds.uuid,
        external_id="gold_yearly",
        name="Gold yearly",
        interval_count=1,
        interval_unit="year",
    )
    group = chartmogul.PlanGroup.create(
        cm, data={"name": "Gold family", "plans": [plan.uuid, yearly.uuid]}
    ).get()
    assert group.uuid.startswith("plg_")
    assert (group.name, group.plans_count) == ("Gold family", 2)

    listed = chartmogul.PlanGroup.all(cm).get()
    assert [g.uuid for g in listed.plan_groups] == [group.uuid]
    assert listed.has_more is False
    members = chartmogul.PlanGroup.all(cm, uuid=group.uuid).get()
    assert {p.uuid for p in members.plans} == {plan.uuid, yearly.uuid}
    assert {p.interval_unit for p in members.plans} == {"month", "year"}

    renamed = chartmogul.PlanGroup.modify(
        cm, uuid=group.uuid, data={"name": "Gold only", "plans": [plan.uuid]}
    ).get()
    assert (renamed.name, renamed.plans_count) == ("Gold only", 1)
    fetched = chartmogul.PlanGroup.retrieve(cm, uuid=group.uuid).get()
    assert (fetched.name, fetched.plans_count) == ("Gold only", 1)

    chartmogul.PlanGroup.destroy(cm, uuid=group.uuid).get()
    assert api_failure(chartmogul.PlanGroup.retrieve(cm, uuid=group.uuid)).status == 404
    assert chartmogul.PlanGroup.all(cm).get().plan_groups == []


def test_plan_group_validation(cm: chartmogul.Config) -> None:
    """A plan group without name and plans is 422 with Rails-style field errors."""
    failure = api_failure(chartmogul.PlanGroup.create(cm, data={}))
    assert failure.status == 422
    assert failure.body["name"] == ["Name can't be blank"]
    assert failure.body["plan_ids"] == ["Plan ids can't be blank"]


def test_activities_export(cm: chartmogul.Config) -> None:
    """An export starts pending, then succeeds with a file that lists the activities."""
    bill_two_customers(cm)
    created = chartmogul.ActivitiesExport.create(
        cm, data={"start-date": "2024-01-01", "end-date": "2024-12-31", "type": "new_biz"}
    ).get()
    assert created.id
    assert created.status == "pending"
    assert created.file_url is None
    assert created.params.kind == "activities"

    deadline = time.monotonic() + EXPORT_DEADLINE_S
    export = created
    while export.status != "succeeded" and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
        export = chartmogul.ActivitiesExport.retrieve(cm, id=created.id).get()
    assert export.status == "succeeded"
    assert export.file_url
    assert export.expires_at is not None
    assert export.expires_at > export.created_at
    download = httpx.get(export.file_url, timeout=10)
    assert download.status_code == 200
    assert "cus-a" in download.text
    assert "cus-b" in download.text
