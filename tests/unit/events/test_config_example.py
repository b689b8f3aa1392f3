"""The `events:` example in docs/events.md is a valid config, and retention settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mogulsync.config import parse_config
from mogulsync.config.loader import ConfigValidationError
from mogulsync.events import DEFAULT_MAPPINGS

DOCS = Path(__file__).parents[3] / "docs" / "events.md"
ENV = {
    "CHARTMOGUL_API_KEY": "k",
    "SEGMENT_WRITE_KEY": "w",
    "CHARTMOGUL_SEGMENT_WEBHOOK": "https://example.invalid/hook",
}


def documented_example() -> dict:
    block = re.search(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert block is not None
    return yaml.safe_load(block.group(1))


def test_the_documented_events_config_loads() -> None:
    """The configuration shown in docs/events.md parses and validates as written."""
    config = parse_config(documented_example(), env=ENV)
    events = config.events
    assert [key.get_secret_value() for key in events.write_keys] == ["w"]
    assert events.keep_days == 7
    assert events.mappings is not None
    assert events.mappings[-1].trigger.conditions == {"properties.plan": "pro"}


def test_the_documented_events_config_needs_only_the_variables_the_docs_export() -> None:
    """Copied as written, with only the two keys the page exports: `webhook_url` (api mode
    does not use it) used to ask for CHARTMOGUL_SEGMENT_WEBHOOK too (exit 4)."""
    only = {name: ENV[name] for name in ("CHARTMOGUL_API_KEY", "SEGMENT_WRITE_KEY")}
    assert parse_config(documented_example(), env=only).events.webhook_url is None


def test_the_documented_mappings_keep_the_default_ones() -> None:
    """A `mappings:` list replaces the defaults: the page's list used to hold only its
    `Signed Up` example, so a reader copying it had every identify and group skipped."""
    events = parse_config(documented_example(), env=ENV).events
    assert events.mappings is not None
    kept = {
        (m.trigger.type, m.trigger.event, m.action, tuple(m.fields.items()))
        for m in events.mappings
    }
    for default in DEFAULT_MAPPINGS:
        trigger = default.trigger
        assert (trigger.type, trigger.event, default.action, tuple(default.fields.items())) in kept


def test_keep_days_may_be_switched_off_but_not_zero() -> None:
    """keep_days: null keeps events forever; 0 is refused (it would end deduplication)."""
    raw = {"chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}"}, "events": {"keep_days": None}}
    assert parse_config(raw, env=ENV).events.keep_days is None
    raw["events"] = {"keep_days": 0}
    with pytest.raises(ConfigValidationError, match="keep_days"):
        parse_config(raw, env=ENV)
