"""stamina, with its retry reports sent through ``logging`` when a mogulsync command owns
the process.

stamina chooses where to report a retry the first time it retries: through structlog when
structlog can be imported (Dagster brings it in), else through ``logging``. structlog's
default logger prints to stdout, so a retry would put a text line into ``sync run --json``
results, between ``--log-format json`` lines, or into the Airbyte protocol stream. A
command owns its process (:func:`mogulsync.logs.own_process`), so its retries go to
``logging``, where they are quieted or written as JSON like every other line. Code that
uses mogulsync as a library (a Dagster deployment) keeps stamina's own choice.
"""

from __future__ import annotations

import stamina

from mogulsync import logs

if logs.owns_process():
    from stamina.instrumentation import LoggingOnRetryHook, set_on_retry_hooks

    set_on_retry_hooks([LoggingOnRetryHook])

__all__ = ["stamina"]
