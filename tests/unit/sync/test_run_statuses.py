"""Run statuses: every one has an exit code; which parents make ``--all`` skip a child."""

from __future__ import annotations

import pytest

from mogulsync.config import AppConfig, parse_config
from mogulsync.runs import RunStatus
from mogulsync.sync import exit_codes
from mogulsync.sync.order import skip_reason


def test_every_status_has_an_exit_code() -> None:
    """A status added to RunStatus (e.g. by a control plane) must say how a CLI exits."""
    assert set(exit_codes.BY_STATUS) == set(RunStatus)


def _config() -> AppConfig:
    sync = {"model": "m", "object": "customer", "mapping": {"external_id": "id"}}
    return parse_config(
        {
            "chartmogul": {"api_key": "${KEY}"},
            "warehouses": {"main": "duckdb:///w.duckdb"},
            "models": {"m": {"warehouse": "main", "table": "t", "primary_key": "id"}},
            "syncs": {"parent": sync, "other": sync, "child": {**sync, "depends_on": ["parent"]}},
        },
        env={"KEY": "k"},
    )


@pytest.mark.parametrize(
    ("parent", "reason"),
    [
        (RunStatus.FAILED, "skipped: it depends on `parent`, which failed"),
        (RunStatus.SKIPPED, "skipped: it depends on `parent`, which was skipped"),
        (RunStatus.PARTIAL, None),  # completed: the child runs
        (RunStatus.SUCCESS, None),
    ],
)
def test_a_child_is_skipped_only_when_its_parent_did_not_complete(
    parent: RunStatus, reason: str | None
) -> None:
    config = _config()
    ended = {"parent": parent, "other": RunStatus.FAILED}
    assert skip_reason(config, "child", ended) == reason
    assert skip_reason(config, "other", ended) is None  # no depends_on: never skipped
    assert skip_reason(config, "nope", ended) is None  # unknown: the run reports it (exit 4)
