"""A bulk row refused on a parent's external id is called deleted in ChartMogul only when
ChartMogul says it does not have that parent and the registry says we delivered it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mogulsync.sync.apply.resolve import TOMBSTONE, Resolver
from mogulsync.sync.bulk.deleted import restated
from mogulsync.sync.bulk.results import Problem
from mogulsync.sync.state import StateStore

SOURCE = "ds_1"
FIELD = "line_items[0].plan_external_id"
PAYLOAD = {"external_id": "i1", "line_items": [{"plan_external_id": "gold"}]}


@pytest.fixture
def state(tmp_path):
    store = StateStore(tmp_path)
    store.remember_uuids([("plan", SOURCE, "gold", "pl_1")])
    yield store
    store.close()


def _resolver(state: StateStore) -> Resolver:
    context = SimpleNamespace(state=state, data_source_uuid=SOURCE, owners={"plan": "plans"})
    return Resolver(context)  # type: ignore[arg-type]


def test_a_delivered_plan_chartmogul_does_not_have_is_reported_deleted(state):
    problem = Problem(FIELD, "Plan not found in this data source", "Sync plans first.")
    (said,) = restated(_resolver(state), PAYLOAD, [problem])
    assert "the plan with external_id 'gold' was deleted in ChartMogul" in said.message
    assert "mogulsync reconcile plans --adopt" in said.action
    assert state.known_uuid("plan", SOURCE, "gold") is None
    assert state.known_uuid("plan" + TOMBSTONE, SOURCE, "gold") == "pl_1"


def test_a_plan_refused_for_anything_else_keeps_its_uuid_and_the_message(state):
    """A refusal that is not "not found" (a malformed or otherwise refused value) says
    nothing about the plan being gone: the row keeps ChartMogul's words and the registry
    its uuid, with no tombstone."""
    problem = Problem(FIELD, "is invalid", "Fix the value in the warehouse.")
    assert restated(_resolver(state), PAYLOAD, [problem]) == [problem]
    assert state.known_uuid("plan", SOURCE, "gold") == "pl_1"
    assert state.known_uuid("plan" + TOMBSTONE, SOURCE, "gold") is None
