"""The `dagster` extra's floor is what we use, and the docs show Dagster's current commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import dagster as dg
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).parents[2]
#: the first release whose top-level FreshnessPolicy has time_window (1.11: only under
#: dagster.preview.freshness; 1.10: the legacy policy), which mogulsync_assets passes on
FRESHNESS_TIME_WINDOW = Version("1.12")
#: what Dagster 1.13 marks superseded by `dg launch` / `dg dev`
SUPERSEDED = re.compile(r"dagster (asset materialize|dev)\b")


def _floor() -> Version:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (spec,) = [
        Requirement(line)
        for line in extras["project"]["optional-dependencies"]["dagster"]
        if Requirement(line).name == "dagster"
    ]
    (floor,) = [Version(s.version) for s in spec.specifier if s.operator == ">="]
    return floor


def test_the_floor_has_what_we_pass_through():
    assert _floor() >= FRESHNESS_TIME_WINDOW
    assert Version(dg.__version__) >= _floor()
    assert hasattr(dg.FreshnessPolicy, "time_window")


def test_the_docs_name_the_floor():
    assert f"Dagster {_floor().major}.{_floor().minor} or later" in (ROOT / "README.md").read_text(
        encoding="utf-8"
    )
    docs = (ROOT / "docs" / "dagster.md").read_text(encoding="utf-8")
    assert f"dagster {_floor().major}.{_floor().minor} or later" in docs


def test_superseded_commands_appear_only_as_such():
    """Every paragraph naming `dagster asset materialize` or `dagster dev` says they are
    superseded; the commands shown are dg's."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    pages += sorted((ROOT / "examples" / "dagster").glob("*.*"))
    shown = False
    for page in pages:
        for paragraph in page.read_text(encoding="utf-8").split("\n\n"):
            if SUPERSEDED.search(paragraph):
                assert "superseded" in paragraph, f"{page.name}: {paragraph}"
            shown |= "dg launch --assets" in paragraph
    assert shown
