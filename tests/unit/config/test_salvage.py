"""What is left of a broken project file for `check` to go on with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mogulsync.config import ConfigValidationError, parse_config
from mogulsync.config.salvage import salvage

SECTIONS = ("chartmogul", "warehouses", "models", "syncs", "alerts")


def _broken() -> dict[str, Any]:
    return {
        "chartmogul": {"api_key": "${UNSET_KEY}", "ratelimit": 5},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {
            "good": {"warehouse": "main", "table": "t", "primary_key": "id"},
            "lost": {"warehouse": "nowhere", "table": "t", "primary_key": "id"},
        },
        "syncs": {
            "ok": {"model": "good", "object": "customer"},
            "typo": {"model": "good", "object": "customer", "mode": "upsrt"},
            "child": {"model": "lost", "object": "customer"},
            "after_typo": {"model": "good", "object": "contact", "depends_on": ["typo"]},
        },
        "events": {"port": "not-a-port"},
    }


def test_the_sound_syncs_survive_and_their_dependants_follow_what_went(tmp_path: Path) -> None:
    """Entries named by problems go, then those referring to them; the rest validates."""
    raw = _broken()
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(raw, env={}, sections=SECTIONS, base_dir=tmp_path)
    config = salvage(raw, caught.value.problems, {}, sections=SECTIONS, base_dir=tmp_path)
    assert config is not None
    assert list(config.syncs) == ["ok"]
    assert list(config.models) == ["good"]
    assert raw == _broken()  # the caller's mapping is untouched


def test_nothing_to_drop_gives_up(tmp_path: Path) -> None:
    """A problem that names no entry (the file is not a mapping) leaves nothing to salvage."""
    problems = ["the file must hold a mapping of sections"]
    assert salvage({}, problems, {}, sections=SECTIONS, base_dir=tmp_path) is None
