"""Threads the project starts carry the starting code's context (the run id of JSON logs)."""

from __future__ import annotations

import ast
import json
import logging
import threading
from pathlib import Path

import pytest
from tests.unit._source import parse

from mogulsync import _threads, logs

SRC = Path(__file__).resolve().parents[2] / "src" / "mogulsync"


def _log_from(thread_class: type[threading.Thread], message: str) -> None:
    thread = thread_class(target=logging.getLogger("mogulsync.test").warning, args=(message,))
    thread.start()
    thread.join()


def test_a_line_logged_on_a_project_thread_carries_the_run_id(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    with logs.bound_run("run-in-thread"):
        _log_from(_threads.Thread, "from our thread")
        _log_from(threading.Thread, "from a plain thread")  # what every thread did before
    lines = {
        line["message"]: line["run_id"]
        for line in map(json.loads, json_logs.readouterr().err.splitlines())
    }
    assert lines == {"from our thread": "run-in-thread", "from a plain thread": None}


def test_the_context_is_the_one_of_start_not_of_construction(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    thread = _threads.Thread(target=logging.getLogger("mogulsync.test").warning, args=("x",))
    with logs.bound_run("started-here"):
        thread.start()
    thread.join()
    (line,) = map(json.loads, json_logs.readouterr().err.splitlines())
    assert line["run_id"] == "started-here"


def test_a_process_wide_thread_carries_no_run_id(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    """The lease renewal serves every run of the process: not the one that started it."""
    thread = _threads.Thread(
        target=logging.getLogger("mogulsync.test").warning, args=("x",), process_wide=True
    )
    with logs.bound_run("first-run"):
        thread.start()
    thread.join()
    (line,) = map(json.loads, json_logs.readouterr().err.splitlines())
    assert line["run_id"] is None


def _plain_thread_calls(path: Path) -> list[int]:
    """Lines of ``path`` that build a ``threading.Thread`` or ``Timer`` directly."""
    found = []
    for node in ast.walk(parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"Thread", "Timer"}
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "threading"
        ):
            found.append(node.lineno)
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "threading"
            and {alias.name for alias in node.names} & {"Thread", "Timer"}
        ):
            found.append(node.lineno)
    return found


def test_every_thread_of_the_project_is_a_context_thread() -> None:
    """A new ``threading.Thread(...)`` in src would start without the run's id."""
    offenders = {
        str(path.relative_to(SRC)): lines
        for path in SRC.rglob("*.py")
        if path.name != "_threads.py" and (lines := _plain_thread_calls(path))
    }
    assert offenders == {}, "use mogulsync._threads.Thread"
