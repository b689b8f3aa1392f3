"""Incremental runs read only new activities and events, and resume from the warehouse."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from tests.integration.extract._runs import (
    FIRST,
    LATER,
    extract,
    import_more,
    records,
    schemas,
    table,
)

from mogulsync.emulator.server import EmulatorServer


def test_second_run_reads_only_new_activities(server: EmulatorServer, tmp_path: Path) -> None:
    """After new invoices, an incremental run reads just the new activities and events.

    Both merge through dlt's staging schema, which is dropped after every load (and made
    again by the next merge): the file holds the dataset only.
    """
    assert records(extract(server, tmp_path)) == {
        "activities": FIRST,
        "subscription_events": FIRST,
    }
    assert "chartmogul" in schemas(tmp_path)
    assert "chartmogul_staging" not in schemas(tmp_path)
    import_more(server, "c", LATER, dt.date(2025, 1, 1))

    second = records(extract(server, tmp_path))

    assert second == {"activities": LATER, "subscription_events": LATER}
    assert "chartmogul_staging" not in schemas(tmp_path)
    assert table(tmp_path, "activities", "uuid") == (FIRST + LATER, FIRST + LATER)
    assert table(tmp_path, "subscription_events", "id") == (FIRST + LATER, FIRST + LATER)
    assert records(extract(server, tmp_path)) == {"activities": 0, "subscription_events": 0}


def test_state_is_restored_from_the_destination(server: EmulatorServer, tmp_path: Path) -> None:
    """Without the local working directory the cursor comes back from the warehouse."""
    extract(server, tmp_path)
    shutil.rmtree(tmp_path / "state")
    import_more(server, "c", LATER, dt.date(2025, 1, 1))

    assert records(extract(server, tmp_path))["activities"] == LATER
    assert table(tmp_path, "activities", "uuid") == (FIRST + LATER, FIRST + LATER)
