"""Run ``mogulsync`` through its console-script entry point, with markers for how it ended.

The child's ``__main__`` holds an object whose finalizer prints only when the interpreter's
teardown runs, and an ``atexit`` handler that prints when Python's exit steps run; the
entry point (``mogulsync._entry:main``) then runs the command as the installed script does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TEARDOWN = "teardown ran"
AT_EXIT = "atexit ran"
#: generous bound on one command (never asserted as speed)
TIMEOUT_S = 180


#: how the child starts the command: the console script, or a ``python -m`` module
MAIN = "from mogulsync._entry import main\nmain()"


def module_main(module: str) -> str:
    """The child runs ``python -m <module>`` (after the markers are in place)."""
    return f"import runpy\nrunpy.run_module({module!r}, run_name='__main__', alter_sys=True)"


def main_script(args: list[str], entry: str = MAIN) -> str:
    """The child's program: the markers, then ``mogulsync <args>`` through ``entry``."""
    return (
        textwrap.dedent(
            f"""
        import atexit, sys

        class Sentinel:
            def __del__(self):
                sys.stderr.write({TEARDOWN!r} + "\\n")

        keep = Sentinel()  # a global of __main__: finalized by the teardown only
        atexit.register(lambda: sys.stderr.write({AT_EXIT!r} + "\\n"))
        atexit.register(
            lambda: sys.stderr.write(f"httpx cli: {{sys.modules.get('httpx._main') is not None}}\\n")
        )
        sys.argv = ["mogulsync", *{args!r}]
        """
        )
        + entry
    )


def run_main(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, entry: str = MAIN
) -> subprocess.CompletedProcess[str]:
    """``mogulsync <args>`` in a fresh process, stdout and stderr piped."""
    return subprocess.run(
        [sys.executable, "-c", main_script(args, entry)],
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_S,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
