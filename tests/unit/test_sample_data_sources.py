"""The samples a new user runs one after another keep apart in ChartMogul.

The README's quick-start script, docs/client.md's script, `mogulsync init`'s starter (which
the README's project block shows) and src/mogulsync/examples/mogulsync.yml all write to one
account (the emulator's, or a trial's). Sharing a data source name, two of them would share its records: each would
update the other's, and a reconcile of one would report the other's as extra.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mogulsync.config.starter import starter_project

ROOT = Path(__file__).parents[2]
_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def _data_sources(project: dict[str, object]) -> set[str]:
    syncs = project.get("syncs") or {}
    assert isinstance(syncs, dict)
    return {sync["data_source"] for sync in syncs.values() if "data_source" in sync}


def _page(name: str) -> tuple[set[str], set[str]]:
    """(the page's scripts' data sources, its project blocks')."""
    text = (ROOT / name).read_text(encoding="utf-8")
    script: set[str] = set()
    blocks: set[str] = set()
    for kind, body in _BLOCK.findall(text):
        if kind == "python":
            script |= set(re.findall(r"data_sources\.(?:find_by_name|create)\(\"([^\"]+)\"", body))
        elif kind == "yaml":
            loaded = yaml.safe_load(body)
            if isinstance(loaded, dict) and "syncs" in loaded:
                blocks |= _data_sources(loaded)
    return script, blocks


def test_the_quick_start_the_starter_and_the_example_use_their_own_data_sources() -> None:
    script, block = _page("README.md")
    client_script, _ = _page("docs/client.md")
    starter = _data_sources(yaml.safe_load(starter_project().text))
    example = _data_sources(
        yaml.safe_load(
            (ROOT / "src" / "mogulsync" / "examples" / "mogulsync.yml").read_text(encoding="utf-8")
        )
    )
    assert script, "the README's quick start names no data source"
    assert block == starter  # the README's block shows what `mogulsync init` writes
    assert script.isdisjoint(starter | example), (script, starter, example)
    assert client_script.isdisjoint(starter | example), (client_script, starter, example)
    assert starter.isdisjoint(example), (starter, example)
