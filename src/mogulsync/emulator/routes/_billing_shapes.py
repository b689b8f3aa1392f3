"""How stored billing records look on the wire.

The store keeps every key for every line item; the API shows only those of the line's
type. Recorded one-time items (chartmogul-ruby invoice cassettes, chartmogul-go 2023
fixtures) carry no subscription keys, and recorded subscription items carry neither
``description`` nor ``cancelled_at`` (``cancelled_at`` is only ever sent, never echoed:
it ends up in the subscription's ``cancellation_dates``).
"""

from __future__ import annotations

from mogulsync.emulator.store import JSONDict

#: keys a one-time line item never shows
SUBSCRIPTION_ONLY_KEYS = frozenset(
    {
        "subscription_uuid",
        "subscription_external_id",
        "subscription_set_external_id",
        "prorated",
        "proration_type",
        "service_period_start",
        "service_period_end",
        "plan_uuid",
        "cancelled_at",
    }
)
#: keys a subscription line item never shows
HIDDEN_ON_SUBSCRIPTION_LINES = frozenset({"description", "cancelled_at"})


def public_line_item(line: JSONDict) -> JSONDict:
    """A stored line item with only the keys its type shows."""
    hidden = (
        SUBSCRIPTION_ONLY_KEYS if line.get("type") == "one_time" else HIDDEN_ON_SUBSCRIPTION_LINES
    )
    return {key: value for key, value in line.items() if key not in hidden}


def public_invoice(body: JSONDict) -> JSONDict:
    """A stored invoice with each line item shown as its type shows it."""
    return {**body, "line_items": [public_line_item(line) for line in body.get("line_items", [])]}
