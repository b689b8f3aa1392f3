"""Emulated /v1/plans and /v1/plan_groups."""

from __future__ import annotations

import httpx
import pytest

DUPLICATE = "A plan with this identifier already exists in our system."
UNKNOWN_PLAN = "pl_00000000-0000-0000-0000-000000000000"


@pytest.fixture
def ds(api: httpx.Client) -> str:
    """A fresh data source uuid."""
    return api.post("/data_sources", json={"name": "Billing"}).json()["uuid"]


def make(api: httpx.Client, ds: str, **fields: object) -> dict:
    payload = {
        "data_source_uuid": ds,
        "name": "Gold",
        "interval_count": 1,
        "interval_unit": "month",
        **fields,
    }
    response = api.post("/plans", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_generates_external_id(api: httpx.Client, ds: str) -> None:
    """Without external_id the plan's uuid suffix becomes its external id, as recorded."""
    plan = make(api, ds)
    assert list(plan) == [
        "external_id",
        "name",
        "interval_count",
        "interval_unit",
        "data_source_uuid",
        "uuid",
    ]
    assert plan["uuid"] == f"pl_{plan['external_id']}"
    assert api.get(f"/plans/{plan['uuid']}").json() == plan


def test_external_id_is_unique_per_data_source(api: httpx.Client, ds: str) -> None:
    """A reused plan external id is the recorded 422; another data source may reuse it."""
    make(api, ds, external_id="gold")
    again = api.post(
        "/plans",
        json={
            "data_source_uuid": ds,
            "name": "Gold 2",
            "interval_count": 1,
            "interval_unit": "year",
            "external_id": "gold",
        },
    )
    assert (again.status_code, again.json()) == (422, {"errors": {"external_id": DUPLICATE}})
    other = api.post("/data_sources", json={"name": "Other"}).json()["uuid"]
    make(api, other, external_id="gold")


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"interval_count": 0}, "interval_count"),
        ({"interval_count": "1"}, "interval_count"),
        ({"interval_unit": "week"}, "interval_unit"),
        ({"name": ""}, "name"),
    ],
)
def test_create_validation(api: httpx.Client, ds: str, fields: dict, bad: str) -> None:
    """Intervals must be a positive count of day, month or year; a name is required."""
    payload = {
        "data_source_uuid": ds,
        "name": "Gold",
        "interval_count": 1,
        "interval_unit": "month",
        **fields,
    }
    response = api.post("/plans", json=payload)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [bad]


def test_create_needs_a_known_data_source(api: httpx.Client) -> None:
    """No data source is a 400; an unknown one the data-source 404."""
    missing = api.post("/plans", json={"name": "x", "interval_count": 1, "interval_unit": "day"})
    assert (missing.status_code, missing.json()["param"]) == (400, "data_source_uuid")
    unknown = api.post(
        "/plans",
        json={
            "data_source_uuid": "ds_00000000-0000-0000-0000-000000000000",
            "name": "x",
            "interval_count": 1,
            "interval_unit": "day",
        },
    )
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Data source not found")


def test_list_filters_and_pages(api: httpx.Client, ds: str) -> None:
    """Plans filter by source, external id and system and page past 200 rows."""
    other = api.post("/data_sources", json={"name": "Other"}).json()["uuid"]
    make(api, other, external_id="elsewhere")
    for index in range(201):
        make(api, ds, external_id=f"pl_{index:03d}")
    first = api.get("/plans", params={"data_source_uuid": ds}).json()
    assert (len(first["plans"]), first["has_more"]) == (200, True)
    assert (first["current_page"], first["total_pages"]) == (1, 2)
    second = api.get("/plans", params={"data_source_uuid": ds, "cursor": first["cursor"]}).json()
    assert [plan["external_id"] for plan in second["plans"]] == ["pl_200"]
    assert second["has_more"] is False
    assert "current_page" not in second
    by_page = api.get("/plans", params={"data_source_uuid": ds, "page": 2}).json()
    assert [plan["external_id"] for plan in by_page["plans"]] == ["pl_200"]
    assert by_page["current_page"] == 2
    only = api.get("/plans", params={"external_id": "elsewhere"}).json()["plans"]
    assert [plan["data_source_uuid"] for plan in only] == [other]
    assert api.get("/plans", params={"system": "Stripe"}).json()["plans"] == []
    assert len(api.get("/plans", params={"system": "Custom", "per_page": 5}).json()["plans"]) == 5


def test_update_is_202_and_delete_204(api: httpx.Client, ds: str) -> None:
    """PATCH answers 202 with the plan; DELETE 204; unknown plans the shape-3 404."""
    plan = make(api, ds)
    path = f"/plans/{plan['uuid']}"
    updated = api.patch(
        path, json={"name": "Platinum", "interval_count": 7, "interval_unit": "day"}
    )
    assert updated.status_code == 202
    assert (updated.json()["name"], updated.json()["interval_count"]) == ("Platinum", 7)
    assert api.get(path).json()["interval_unit"] == "day"
    assert api.patch(path, json={"interval_unit": "fortnight"}).status_code == 422
    assert api.delete(path).status_code == 204
    gone = api.get(path)
    assert (gone.status_code, gone.json()) == (404, {"error": "Plan not found"})


def test_plan_group_lifecycle(api: httpx.Client, ds: str) -> None:
    """Groups are created with 200, list plans, replace membership and delete with 204."""
    one, two = make(api, ds), make(api, ds, name="Silver")
    created = api.post("/plan_groups", json={"name": "New Plan Group", "plans": [one["uuid"]]})
    assert created.status_code == 200
    group = created.json()
    assert list(group) == ["name", "uuid", "plans_count"]
    assert group["uuid"].startswith("plg_")
    assert group["plans_count"] == 1
    path = f"/plan_groups/{group['uuid']}"
    patched = api.patch(path, json={"name": "Another name", "plans": [one["uuid"], two["uuid"]]})
    assert patched.json() == {"name": "Another name", "uuid": group["uuid"], "plans_count": 2}
    plans = api.get(f"{path}/plans").json()
    assert [plan["uuid"] for plan in plans["plans"]] == [one["uuid"], two["uuid"]]
    assert plans["has_more"] is False
    listed = api.get("/plan_groups").json()
    assert listed["plan_groups"] == [patched.json()]
    assert (listed["current_page"], listed["total_pages"]) == (1, 1)
    assert api.delete(path).status_code == 204
    assert api.get(path).json() == {"error": "Plan group not found"}


def test_plan_group_errors_are_rails_shaped(api: httpx.Client, ds: str) -> None:
    """An empty create is the recorded Rails 422; unknown plans are named in plan_ids."""
    empty = api.post("/plan_groups", json={})
    assert (empty.status_code, empty.json()) == (
        422,
        {
            "name": ["Name can't be blank"],
            "plan_ids": ["Plan ids can't be blank"],
            "error_details": [
                {"param": "name", "code": "blank", "message": "Name can't be blank"},
                {"param": "plan_ids", "code": "blank", "message": "Plan ids can't be blank"},
            ],
        },
    )
    unknown = api.post("/plan_groups", json={"name": "g", "plans": [UNKNOWN_PLAN]})
    assert unknown.status_code == 422
    assert UNKNOWN_PLAN in unknown.json()["plan_ids"][0]
    assert unknown.json()["error_details"][0]["param"] == "plan_ids"
