"""Import choices for mogulsync's own processes, made by its entry points only.

``import httpx`` also imports httpx's command-line client (``httpx._main``) whenever its
optional dependencies are installed, and mogulsync installs them (Rich, Pygments, click
via Typer): ~45 ms of CPU on every command that talks to ChartMogul, for a command line
these processes never run. Marked absent, it is skipped: httpx then defines a stand-in
``httpx.main`` that only says how to install the real one.
"""

from __future__ import annotations

import sys
from typing import Final

_HTTPX_CLI: Final = "httpx._main"


def skip_httpx_cli() -> None:
    """Before httpx is imported: leave its command-line client out of this process."""
    # None in sys.modules is how Python marks a module as not importable; an httpx
    # already imported (or a caller that imported the client itself) keeps it.
    sys.modules.setdefault(_HTTPX_CLI, None)  # type: ignore[arg-type]
