"""`extract.start_date` and `--start-date`: a day, or an instant as Airbyte's connector takes it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from mogulsync.config import parse_config
from mogulsync.errors import ConfigError
from mogulsync.extract.cli import extract_options


def _start(value: str) -> Any:
    raw = yaml.safe_load(f'chartmogul: {{api_key: "${{K}}"}}\nextract: {{start_date: {value}}}')
    return parse_config(raw, env={"K": "key"}).extract.start_date


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("2024-03-01", dt.date(2024, 3, 1)),
        ('"2024-03-01"', dt.date(2024, 3, 1)),  # a string (e.g. from ${ENV}) too
        ("2017-01-25T06:30:00Z", dt.datetime(2017, 1, 25, 6, 30, tzinfo=dt.UTC)),
        ('"2017-01-25T06:30:00Z"', dt.datetime(2017, 1, 25, 6, 30, tzinfo=dt.UTC)),
    ],
)
def test_a_day_or_an_instant_is_accepted(written: str, read: Any) -> None:
    """Airbyte's `yyyy-mm-ddThh:mm:ssZ` can be pasted as it is."""
    value = _start(written)
    assert (value, type(value)) == (read, type(read))


@pytest.mark.parametrize("written", ["garbage", "2024-3-1", "20240301"])
def test_anything_else_is_one_problem_naming_both_forms(written: str) -> None:
    """One message with both spellings, not one per member of the type union."""
    with pytest.raises(ConfigError) as caught:
        _start(written)
    text = str(caught.value)
    assert "1 problem" in text
    assert "extract.start_date: must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ" in text


def test_the_command_line_takes_an_instant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--start-date 2017-01-25T06:30:00Z` reaches the extract as that instant."""
    project = tmp_path / "mogulsync.yml"
    project.write_text('chartmogul: {api_key: "${K}"}\n')
    monkeypatch.setenv("K", "key")
    _, options = extract_options(project, None, None, None, "2017-01-25T06:30:00Z", None)
    assert options.start_date == dt.datetime(2017, 1, 25, 6, 30, tzinfo=dt.UTC)
    _, options = extract_options(project, None, None, None, "2017-01-25", None)
    assert options.start_date == dt.date(2017, 1, 25)
    with pytest.raises(ConfigError, match="--start-date must be YYYY-MM-DD or"):
        extract_options(project, None, None, None, "25/01/2017", None)
