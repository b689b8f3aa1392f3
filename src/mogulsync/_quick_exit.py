"""End a one-shot CLI process without the interpreter's teardown.

At exit Python frees every object of every imported module, one by one. After an extract
(dlt, DuckDB, pydantic, httpx: ~1,300 modules) that is ~0.15 s of CPU, a seventh of an
empty run, spent on memory the operating system takes back anyway.

The console-script entry point *arms* a quick exit (``arm``): the process ends when it
returns. A command that has no use for the teardown then *asks* for it (``request``), and
the entry point ends the process (``exit_now``) after doing what Python's own exit does
first: wait for non-daemon threads (and ``concurrent.futures``' clean-up), run the
``atexit`` handlers (``logging`` flushes and closes its handlers there), flush stdout and
stderr. Nothing is armed for in-process callers (tests, ``CliRunner``, library use): a
command invoked there never ends the process.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

_state = {"armed": False, "requested": False}


def run_entry_point(entry: Callable[[], object], *, one_shot: bool = False) -> None:
    """Run a console-script's ``entry`` armed; end quickly if its command asked for it
    (``one_shot``: every command of this entry point asks, usage errors included)."""
    arm()
    if one_shot:
        request()
    try:
        entry()
    except SystemExit as exc:
        if requested():  # the command is done: skip the interpreter's teardown
            exit_now(exc.code)
        raise


def arm() -> None:
    """The process ends when the caller (the entry point) returns; forget older requests."""
    _state["armed"] = True
    _state["requested"] = False


def armed() -> bool:
    """True in a process that the console-script entry point will end."""
    return _state["armed"]


def request() -> None:
    """Ask for a quick exit (only effective once armed)."""
    _state["requested"] = True


def requested() -> bool:
    """True when armed and asked for."""
    return _state["armed"] and _state["requested"]


def exit_code(code: object) -> int:
    """The status ``sys.exit(code)`` gives the process (a message is printed, as Python does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def exit_now(code: object) -> NoReturn:
    """Python's exit without the teardown: threads joined, ``atexit`` run, streams flushed."""
    status = exit_code(code)
    # What the interpreter calls first at exit: joins non-daemon threads and runs the
    # callbacks registered for that moment (thread pools shut their workers down there).
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()  # noqa: SLF001 - the interpreter's own exit step, public in typeshed
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said there
            status = status or 120  # what Python returns when it cannot flush at exit
    os._exit(status)
