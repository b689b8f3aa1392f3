"""Replay of recorded ChartMogul traffic against the emulator (issue 11 §5).

``cases.yaml`` holds request/response pairs written from the official clients' recordings
(see README.md). Each step is sent over HTTP to a fresh emulator; it matches when the status
is the recorded one, the response has exactly the recorded top-level keys (plus keys the
reference documents, listed per step as ``extra``), list items have the recorded keys, nested
objects named in ``shapes`` (e.g. ``invoices.0.line_items.0``) have the recorded keys, and the
values the case names are equal. The test prints how many pairs match and fails on any
mismatch, naming the step and what differed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mogulsync.emulator.server import EmulatorServer

CASES = yaml.safe_load((Path(__file__).parent / "cases.yaml").read_text())
PLACEHOLDER = re.compile(r"<(\w+)>")


@dataclass
class Outcome:
    """One replayed pair: where it is and what differed (empty when it matched)."""

    where: str
    problems: list[str]


def _fill(value: Any, saved: dict[str, Any]) -> Any:
    """``<name>`` placeholders replaced by saved values (a lone placeholder keeps its type)."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            return saved[whole.group(1)]
        return PLACEHOLDER.sub(lambda found: str(saved[found.group(1)]), value)
    if isinstance(value, list):
        return [_fill(item, saved) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, saved) for key, item in value.items()}
    return value


def _at(body: Any, path: str) -> Any:
    """``a.b.0.c`` inside a decoded JSON body."""
    for part in path.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def _key_problems(label: str, found: Any, expected: list[str], extra: list[str]) -> list[str]:
    if not isinstance(found, dict):
        return [f"{label}: not an object"]
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected) - set(extra))
    problems = [f"{label}: missing {missing}"] if missing else []
    if unexpected:
        problems.append(f"{label}: not recorded {unexpected}")
    return problems


def _check(step: dict[str, Any], answer: httpx.Response, saved: dict[str, Any]) -> list[str]:
    if answer.status_code != step["status"]:
        return [f"status {answer.status_code} != {step['status']}: {answer.text[:200]}"]
    if not {"keys", "shapes", "values"} & step.keys():
        return []
    body = answer.json() if answer.content else {}
    problems = []
    if "keys" in step:
        problems += _key_problems("keys", body, step["keys"], step.get("extra", []))
    if "items" in step:
        items = body.get(step["items"]) or []
        if not items:
            problems.append(f"{step['items']}: empty")
        else:
            item_extra = step.get("item_extra", step.get("extra", []))
            problems += _key_problems("item keys", items[0], step["item_keys"], item_extra)
    for path, expected in step.get("shapes", {}).items():
        found = _present(body, path, problems)
        if found is not _ABSENT:
            problems += _key_problems(path, found, expected, step.get("shape_extra", []))
    for path, expected in step.get("values", {}).items():
        found = _present(body, path, problems)
        expected = _fill(expected, saved)
        if found is not _ABSENT and found != expected:
            problems.append(f"{path}: {found!r} != {expected!r}")
    return problems


_ABSENT = object()


def _present(body: Any, path: str, problems: list[str]) -> Any:
    """The value at ``path``, or ``_ABSENT`` with the problem noted."""
    try:
        return _at(body, path)
    except (KeyError, IndexError, TypeError):
        problems.append(f"{path}: absent")
        return _ABSENT


def _replay(server: EmulatorServer, case: dict[str, Any]) -> Iterator[Outcome]:
    saved: dict[str, Any] = {}
    with httpx.Client(base_url=f"{server.base_url}/v1", timeout=30) as client:
        for number, step in enumerate(case["steps"], 1):
            method, _, path = step["do"].partition(" ")
            where = f"{case['name']} #{number} {method} {path}"
            key = step.get("key", server.api_key)
            body = _fill(step["body"], saved) if "body" in step else None
            answer = client.request(
                method,
                _fill(path, saved),
                auth=(key, ""),
                content=json.dumps(body) if body is not None else None,
                headers={"content-type": "application/json"} if body is not None else None,
            )
            problems = _check(step, answer, saved)
            if not problems and "save" in step:
                saved.update({name: _at(answer.json(), at) for name, at in step["save"].items()})
            yield Outcome(where, problems)
            if problems and "save" in step:
                return  # later steps need what this one should have given


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the replay, reset between cases."""
    from tests.conftest import unlimited_settings

    with EmulatorServer(unlimited_settings()) as running:
        yield running


def test_recorded_pairs_match(server: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    """Every recorded pair in cases.yaml matches (status, keys, values)."""
    outcomes: list[Outcome] = []
    for case in CASES:
        server.emulator.reset()
        outcomes.extend(_replay(server, case))
    total = sum(len(case["steps"]) for case in CASES)
    matched = sum(not outcome.problems for outcome in outcomes)
    with capsys.disabled():
        print(f"\nreplay: {matched} of {total} recorded pairs match")
    failures = [f"{o.where}: {'; '.join(o.problems)}" for o in outcomes if o.problems]
    assert not failures, "\n".join(failures)
    assert matched == total
