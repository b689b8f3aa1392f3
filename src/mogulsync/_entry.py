"""The ``mogulsync`` command's entry point: what must happen before the CLI is imported.

``extract run`` starts its loader process here, before this process imports anything
else or starts a thread (see ``extract/loader_process.py``).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point (``mogulsync``, ``python -m mogulsync``)."""
    from mogulsync.extract.loader_process import prefork

    prefork(sys.argv[1:])
    from mogulsync.cli import main as cli_main

    cli_main()
