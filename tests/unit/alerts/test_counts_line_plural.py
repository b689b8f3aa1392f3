"""Run summaries read as sentences: one API call is singular."""

from __future__ import annotations

import dataclasses

import pytest

from mogulsync._redact import Redactor
from mogulsync.alerts import Trigger
from mogulsync.alerts.message import build_message
from mogulsync.messages import api_calls_phrase
from mogulsync.runs.models import RowCounts, RunRecord, RunStatus

_RUN = RunRecord(
    run_id="r1",
    sync="customers",
    status=RunStatus.FAILED,
    started_at="2025-01-01T00:00:00+00:00",
    rows=RowCounts(failed=1),
)


@pytest.mark.parametrize(
    ("count", "phrase"), [(0, "0 API calls"), (1, "1 API call"), (2, "2 API calls")]
)
def test_the_phrase_agrees_with_its_count(count: int, phrase: str) -> None:
    assert api_calls_phrase(count) == phrase


@pytest.mark.parametrize("sync", ["customers", "reconcile:customers"])
def test_an_alert_counts_one_api_call(sync: str) -> None:
    record = dataclasses.replace(_RUN, sync=sync, api_calls=1)
    line = build_message(Trigger.FAILED, record, [], Redactor([])).counts_line
    assert "; 1 API call in " in line, line
