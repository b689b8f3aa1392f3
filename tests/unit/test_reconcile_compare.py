"""Pure comparison rules of reconcile (no I/O): what counts as the same value."""

from __future__ import annotations

from mogulsync.reconcile.compare import actual, differences, expected
from mogulsync.reconcile.remote import Pairing
from mogulsync.sync.mapping import MappedRow


def _row(payload: dict[str, object]) -> MappedRow:
    return MappedRow("k", payload, (), "digest")


def test_a_contact_moved_to_another_customer_by_uuid_drifts() -> None:
    """A contact sync naming its customer by uuid compares it (ChartMogul shows it)."""
    want = expected("contact", _row({"customer_uuid": "cus_1", "email": "a@x.io"}))
    held = actual("contact", {"customer_uuid": "cus_2", "email": "A@x.io"})
    assert differences(want, held) == {"customer_uuid": ("cus_2", "cus_1")}
    assert differences(want, actual("contact", {"customer_uuid": "cus_1", "email": "a@x.io"})) == {}


def test_an_older_api_without_disabled_flags_reads_as_enabled() -> None:
    """A record whose answer has no ``disabled`` key is not reported as disabled."""
    row = _row({"date": "2025-01-01T00:00:00Z", "line_items": [{"amount_in_cents": 5}]})
    held = actual(
        "invoice", {"date": "2025-01-01T00:00:00.000Z", "line_items": [{"amount_in_cents": 5}]}
    )
    assert differences(expected("invoice", row), held) == {}


def test_contact_keys_name_their_customer_and_ignore_an_emails_case() -> None:
    """Contacts pair under their customer; emails without case, external ids exactly (a
    run's lookup takes ``K-1`` and ``k-1`` for two contacts)."""
    by_id = Pairing.of("contact", "external_id", ["customer_external_id", "external_id"])
    assert by_id.key({"customer_external_id": "a1", "external_id": "K-1"}) != by_id.key(
        {"customer_external_id": "a1", "external_id": "k-1"}
    )
    by_email = Pairing.of("contact", "email", ["customer_external_id", "email"])
    assert by_email.key({"customer_external_id": "a1", "email": "Ann@X.io"}) == by_email.key(
        {"customer_external_id": "a1", "email": "ann@x.io"}
    )
    assert by_email.key({"customer_external_id": "a1", "email": "ann@x.io"}) != by_email.key(
        {"customer_external_id": "a2", "email": "ann@x.io"}
    )
    by_uuid_parent = Pairing.of("contact", "external_id", ["customer_uuid", "external_id"])
    assert by_uuid_parent.parent == "customer_uuid"
    assert by_uuid_parent.key({"external_id": "P-1"}) is None  # no customer: cannot pair
    assert Pairing.of("contact", "uuid", ["uuid"]).account_wide
    assert Pairing.of("customer", "email", ["email"]).every
    assert not Pairing.of("customer", "external_id", ["external_id"]).account_wide


def test_a_merged_customers_other_external_ids_are_keys() -> None:
    """A merged customer is found by each of its external ids (external-id syncs only)."""
    record = {"external_id": "a0", "external_ids": ["a0", "a1"], "email": "x@y.io"}
    assert Pairing.of("customer", "external_id", []).merged_keys(record) == ["a1"]
    assert Pairing.of("customer", "email", []).merged_keys(record) == []
