"""ChartMogul's ``line_items.x`` errors named as the row names the field: ``line_items[i].x``."""

from __future__ import annotations

from mogulsync.sync.child_fields import child_section, pin

SUB = {"type": "subscription", "plan_external_id": "gold", "amount_in_cents": 5}
ONE = {"type": "one_time", "amount_in_cents": 5}


def test_the_rest_prefix_goes_and_the_only_child_is_named():
    """``invoices[i1].line_items.x`` of a one-line invoice is ``line_items[0].x``."""
    found = pin({"line_items": [ONE]}, "invoices[i1].line_items.quantity", "bad")
    assert (found.field, found.note, found.exact) == ("line_items[0].quantity", "", True)
    assert pin({}, "invoices[i1].external_id", "taken").field == "external_id"


def test_the_child_is_found_by_its_external_id_and_named_in_the_note():
    """An error carrying the child's external id names that child, index and id."""
    payload = {"transactions": [{"external_id": "t-1"}, {"external_id": "t-2"}]}
    found = pin(payload, "transactions.external_id", "taken", child_id="t-2")
    assert (found.field, found.note) == (
        "transactions[1].external_id",
        " (transaction external_id 't-2')",
    )


def test_a_plan_uuid_error_is_on_the_one_line_item_naming_a_plan():
    """``plan_uuid`` (filled in by the sync) blames the only line item with a plan."""
    found = pin({"line_items": [ONE, SUB, ONE]}, "line_items.plan_uuid", "Plan not found")
    assert found.field == "line_items[1].plan_uuid"


def test_an_error_several_children_could_have_caused_says_so():
    """No way to tell: ``[?]`` and the candidates, never a guess."""
    found = pin({"line_items": [ONE, SUB, SUB]}, "line_items.plan_uuid", "Plan not found")
    assert (found.field, found.exact) == ("line_items[?].plan_uuid", False)
    assert "one of line_items 1, 2" in found.note
    assert child_section("invoices[x].transactions.date") == "transactions"
    assert child_section("line_items") is None
