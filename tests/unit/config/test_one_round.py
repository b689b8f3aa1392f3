"""Every problem of a project file in one round, and a guess for each misspelt key."""

from __future__ import annotations

from typing import Any

import pytest

from mogulsync.config import ConfigValidationError, parse_config

ENV = {"K": "key-1234"}


def _problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(raw, env=ENV)
    return caught.value.problems


def test_schema_and_reference_problems_are_reported_together() -> None:
    """A bad mode and a sync naming an unknown model arrive in the same message."""
    problems = _problems(
        {
            "chartmogul": {"api_key": "${K}"},
            "warehouses": {"main": "duckdb:///w.duckdb"},
            "models": {"m": {"warehouse": "nowhere", "table": "t", "primary_key": "id"}},
            "syncs": {
                "a": {"model": "m", "object": "customer", "mode": "upsrt"},
                "b": {"model": "missing", "object": "customer", "depends_on": ["zz"]},
            },
            "alerts": {"rules": [{"syncs": ["nosuch"]}]},
        }
    )
    assert problems == [
        "syncs.a.mode: Input should be 'insert', 'update' or 'upsert'",
        "models.m.warehouse: no warehouse named `nowhere` (known: main)",
        "syncs.b.model: no model named `missing` (known: m)",
        "syncs.b.depends_on: no sync named `zz` (known: a, b)",
        "alerts.rules.0.syncs: no sync named `nosuch` (known: a, b)",
    ]


def test_a_tagged_channel_is_named_by_its_path_in_the_file() -> None:
    """The channel's ``type`` picks its model; pydantic's tag (``slack``) is not a key
    the user wrote, so it is not part of the place."""
    problems = _problems(
        {
            "chartmogul": {"api_key": "${K}"},
            "alerts": {"channels": {"ops": {"type": "slack", "timeout": 5}}},
        }
    )
    assert any(p.startswith("alerts.channels.ops.url: ") for p in problems), problems
    assert "alerts.channels.ops.timeout: unknown key" in problems
    assert not any(".slack." in p for p in problems), problems


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"chartmogul": {"api_key": "${K}", "ratelimit": 5}}, "chartmogul.ratelimit"),
        (
            {"chartmogul": {"api_key": "${K}"}, "sync": {}},
            "sync: unknown key; did you mean `syncs`?",
        ),
        (
            {
                "chartmogul": {"api_key": "${K}"},
                "alerts": {"channels": {"c": {"type": "slack", "urll": "${K}"}}},
            },
            "alerts.channels.c.urll: unknown key; did you mean `url`?",
        ),
        (
            {"chartmogul": {"api_key": "${K}"}, "warehouses": {"w": {"url": "x", "shema": "s"}}},
            "warehouses.w.shema: unknown key; did you mean `schema`?",
        ),
    ],
)
def test_unknown_keys_get_a_did_you_mean(raw: dict[str, Any], expected: str) -> None:
    """difflib's closest known key at that place is suggested."""
    text = "\n".join(_problems(raw))
    assert expected in text
    if expected == "chartmogul.ratelimit":
        assert "chartmogul.ratelimit: unknown key; did you mean `rate_limit`?" in text


def test_an_unknown_key_far_from_any_known_one_gets_no_guess() -> None:
    """No suggestion beats a wrong one."""
    problems = _problems({"chartmogul": {"api_key": "${K}", "zzzzzz": 1}})
    assert problems == ["chartmogul.zzzzzz: unknown key"]
