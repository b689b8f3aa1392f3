"""The emulator's driven clock: events' ``updated_at`` and what activities are visible."""

from __future__ import annotations

import datetime as dt

import httpx
from tests.integration.extract._model import Account

from mogulsync.emulator.server import EmulatorServer

MONDAY = dt.datetime(2024, 3, 4, 9, 30, tzinfo=dt.UTC)


def test_driven_clock_stamps_events_and_hides_later_activity(
    emulator_server: EmulatorServer, api: httpx.Client
) -> None:
    """Updates are stamped with the driven time, and an invoice dated after the driven day
    shows its activity only once the clock reaches that day."""
    account = Account(emulator_server, api, MONDAY)
    account.set_clock(MONDAY)
    source = account.add_source()
    customer = account.add_customer(source, tags=[], seats=1)
    account.event(customer, 500)
    later = MONDAY + dt.timedelta(days=3)
    account.set_clock(later)
    account.invoice(customer, 1000, 1)  # dated at the clock: Thursday
    account.set_clock(MONDAY)

    (event,) = api.get("/subscription_events").json()["subscription_events"]
    assert (event["created_at"], event["updated_at"]) == ("2024-03-04T09:30:00Z",) * 2
    assert api.get("/activities").json()["entries"] == []

    account.set_clock(later)
    (activity,) = api.get("/activities").json()["entries"]
    assert activity["date"] == "2024-03-07T09:30:00+00:00"
    emulator_server.emulator.drive_clock(None)  # real time again: 2024 is long past
    assert emulator_server.emulator.clock() > later
