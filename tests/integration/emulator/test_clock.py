"""The emulator's driven clock: events' ``updated_at``, what activities are visible, the
admin API and settings that drive it. Every object family's stamps: tests/conformance/
test_driven_clock.py."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from pydantic import ValidationError
from tests.integration.extract._model import Account

from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import LATEST_CLOCK, EmulatorSettings
from mogulsync.emulator.state import Emulator

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


def test_real_time_by_default(api: httpx.Client, admin: httpx.Client) -> None:
    """Nothing driven: the clock follows real time, and an object created now is stamped
    between the readings taken around its request (milliseconds kept by the API)."""
    assert admin.get("/clock").json()["driven"] is False
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    created = api.post("/data_sources", json={"name": "Now"}).json()["created_at"]
    after = dt.datetime.now(dt.UTC)
    assert before <= dt.datetime.fromisoformat(created) <= after


def test_admin_api_drives_the_clock(api: httpx.Client, admin: httpx.Client) -> None:
    """``PUT /_emulator/clock`` stops the clock (``now`` or ``advance_seconds``), the API's
    objects carry it, ``DELETE`` follows real time again; bad bodies are 422s naming why."""
    stopped = admin.put("/clock", json={"now": "2010-06-30T22:00:00-02:00"})
    assert stopped.json() == {"now": "2010-07-01T00:00:00+00:00", "driven": True}
    source = api.post("/data_sources", json={"name": "Then"}).json()
    assert source["created_at"] == "2010-07-01T00:00:00.000Z"
    moved = admin.put("/clock", json={"advance_seconds": 90.5}).json()
    assert moved == {"now": "2010-07-01T00:01:30.500000+00:00", "driven": True}
    assert admin.get("/clock").json() == moved

    for body, why in (
        ({"now": "2010-07-01T00:00:00"}, "timezone"),
        ({}, "exactly one"),
        ({"now": "2010-07-01T00:00:00Z", "advance_seconds": 1}, "exactly one"),
        ({"advance_seconds": -1}, "greater than or equal to 0"),
        ({"advance_seconds": 1e12}, "past 9999-12-23T23:59:59.999999+00:00"),
        ({"advance_seconds": "Infinity"}, "past the year 9999"),
        ({"now": "9999-12-24T00:00:00Z"}, "up to 9999-12-23T23:59:59.999999+00:00"),
        ({"now": "9999-12-31T23:59:59-05:00"}, "up to 9999-12-23"),  # not even in UTC
        ({"now": "0001-01-01T00:00:00+05:00"}, "from 0001-01-01T00:00:00+00:00"),
        ({"at": "2010-07-01T00:00:00Z"}, "Extra inputs"),
    ):
        refused = admin.put("/clock", json=body)
        assert refused.status_code == 422, body
        assert why in refused.text, (body, refused.text)
    assert admin.get("/clock").json() == moved  # refusals change nothing

    assert admin.delete("/clock").json()["driven"] is False
    assert dt.datetime.fromisoformat(admin.get("/clock").json()["now"]).year > 2010


def test_settings_start_the_clock_stopped_and_naive_moments_are_refused() -> None:
    """``EmulatorSettings(clock=...)`` starts the account stopped (the plugin's and the
    API's way in); a naive moment is refused with the fix in the message."""
    emulator = Emulator(EmulatorSettings(clock=MONDAY))
    try:
        assert (emulator.clock(), emulator.clock_driven) == (MONDAY, True)
        assert emulator.mrr.today() == MONDAY.date()  # the engine reads the same clock
        assert emulator.advance_clock(dt.timedelta(days=1)) == MONDAY + dt.timedelta(days=1)
        assert emulator.mrr.today() == dt.date(2024, 3, 5)
        with pytest.raises(ValueError, match=r"aware datetime.*tzinfo=datetime.UTC"):
            emulator.drive_clock(dt.datetime(2024, 3, 4, 9, 30))  # noqa: DTZ001 - on purpose
        assert emulator.clock() == MONDAY + dt.timedelta(days=1)
        emulator.reset()  # data goes, the clock stays where the test put it
        assert emulator.clock() == MONDAY + dt.timedelta(days=1)
    finally:
        emulator.store.close()
    with pytest.raises(ValidationError, match="timezone"):
        EmulatorSettings(clock=dt.datetime(2024, 3, 4))  # noqa: DTZ001 - on purpose
    with pytest.raises(ValidationError, match="up to 9999-12-23"):
        EmulatorSettings(clock=dt.datetime(9999, 12, 30, tzinfo=dt.UTC))


def test_the_latest_moment_the_clock_shows_serves_every_read(
    emulator_server: EmulatorServer, api: httpx.Client
) -> None:
    """At the latest moment allowed, an export's expiry (seven days on) and the revenue
    engine's look a day ahead still fit in year 9999 (later, both ended in a 500)."""
    emulator_server.emulator.drive_clock(LATEST_CLOCK)
    assert api.get("/activities").status_code == 200
    export = api.post("/activities_export", json={}).json()
    ready = api.get(f"/activities_export/{export['id']}").json()
    assert ready["expires_at"] == "9999-12-30T23:59:59+00:00"
    with pytest.raises(ValueError, match="up to 9999-12-23"):
        emulator_server.emulator.advance_clock(dt.timedelta(microseconds=1))
    assert emulator_server.emulator.clock() == LATEST_CLOCK
