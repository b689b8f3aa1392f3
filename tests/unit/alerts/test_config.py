"""The alerts and sync_logs sections: defaults, shorthands and clear validation messages."""

from __future__ import annotations

import pytest

from mogulsync.config import ConfigValidationError, parse_config

ENV = {"KEY": "cm-key", "HOOK": "https://hooks.example.com/x", "PD": "routing-key"}


def _raw(**sections):
    return {
        "chartmogul": {"api_key": "${KEY}"},
        "warehouses": {"main": "duckdb:///:memory:"},
        "models": {"m": {"warehouse": "main", "table": "t", "primary_key": "id"}},
        "syncs": {"s": {"model": "m", "object": "customer"}},
        **sections,
    }


def _problems(**sections):
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(_raw(**sections), env=ENV)
    return caught.value.problems


def test_defaults_and_shorthands():
    """No alerts and no sync logs by default; `sync_logs: true` enables the default table."""
    config = parse_config(_raw(sync_logs=True), env=ENV)
    assert config.alerts.channels == {}
    assert (config.sync_logs.enabled, config.sync_logs.schema_, config.sync_logs.table) == (
        True,
        "mogulsync",
        "sync_log",
    )
    assert config.syncs["s"].sync_logs is True


def test_pagerduty_webhook_defaults_to_the_events_endpoint():
    """A PagerDuty channel needs only its routing key."""
    config = parse_config(
        _raw(alerts={"channels": {"pd": {"type": "webhook", "format": "pagerduty",
                                          "routing_key": "${PD}"}}}),
        env=ENV,
    )  # fmt: skip
    assert config.alerts.channels["pd"].endpoint == "https://events.pagerduty.com/v2/enqueue"


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        ({"channels": {"h": {"type": "webhook", "url": "https://x.io/token"}}},
         "alerts.channels.h.url: secrets must come from the environment"),
        ({"channels": {"pd": {"type": "webhook", "format": "pagerduty", "routing_key": "abcd"}}},
         "alerts.channels.pd.routing_key: secrets must come from the environment"),
        ({"channels": {"m": {"type": "email", "host": "h", "from": "a@b.c", "to": ["d@e.f"],
                             "username": "u", "password": "hunter22"}}},
         "alerts.channels.m.password: secrets must come from the environment"),
        ({"channels": {"pd": {"type": "webhook", "format": "pagerduty"}}},
         "routing_key` is required for format pagerduty"),
        ({"channels": {"h": {"type": "webhook", "url": "${HOOK}"}}, "rules": [{"channels": ["x"]}]},
         "rules.0.channels: no channel named `x` (known: h)"),
        ({"rules": [{"syncs": ["nope"]}]}, "alerts.rules.0.syncs: no sync named `nope`"),
        ({"rules": [{"failed_rows": {}}]}, "give `count`, `percent` or both"),
        ({"timeout_s": 600}, "alerts.timeout_s"),
        ({"channels": {"x": {"type": "teams", "url": "${HOOK}"}}}, "alerts.channels.x"),
    ],
)  # fmt: skip
def test_problems_name_their_yaml_path(alerts, expected):
    """Each mistake under alerts is reported with where it is and what to do."""
    problems = _problems(alerts=alerts)
    assert any(expected in problem for problem in problems), problems
