"""Which command lines fork the extract's loader process (``loader_process.wanted``).

A command line that asks for ``extract run`` wherever the root options put it forks; help,
other commands and the switch set to ``inline`` do not (a false positive only costs a
child that imports dlt and is killed at exit; a false negative loads in-process).
"""

from __future__ import annotations

import sys

import pytest

from mogulsync.extract.loader_process import wanted

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the loader process is forked on Linux only"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["extract", "run"],
        ["extract", "run", "--streams", "plans", "--destination", "duckdb:///cm.duckdb"],
        ["-c", "extract.yml", "extract", "run"],
        ["--config", "prod.yml", "--log-format", "json", "extract", "run", "--json"],
        ["--log-format=json", "extract", "run", "-c", "mogulsync.yml"],
    ],
)
def test_an_extract_run_forks(argv: list[str]) -> None:
    assert wanted(argv, "")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["extract", "run", "--help"],
        ["extract", "run", "-h"],
        ["--help", "extract", "run"],
        ["extract", "status"],
        ["extract", "--help"],
        ["sync", "run", "--all"],
        ["serve"],
        ["run", "extract"],
    ],
)
def test_anything_else_does_not(argv: list[str]) -> None:
    assert not wanted(argv, "")


@pytest.mark.parametrize("switch", ["inline", "INLINE", " off ", "0", "false", "no"])
def test_the_switch_turns_it_off(switch: str) -> None:
    assert not wanted(["extract", "run"], switch)
