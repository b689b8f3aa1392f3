"""``mogulsync serve``: the scheduler, the HTTP API, the web UI and the events endpoints.

This package sits beside :mod:`mogulsync.cli` on the top floor: it calls the engines'
library API (``SyncEngine.run``, ``run_extract``, the events queue) exactly as the CLI
does, and no engine imports it.
"""

from __future__ import annotations
